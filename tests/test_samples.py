"""The sample log and `lbs show`: each probe's prompt kept with the run (each context once), rebuilt
whole on --resume after a run lost it, joined with outputs, gold, scores and errors; and the run
directory's advice when a run is started again into an unfinished one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from adapters.openai_compat import chat_messages
from lbs_testutil import lbs, make_needle, one_line_error
from longbench_suite import io
from longbench_suite.protocol import Condition
from longbench_suite.registry import task_family
from longbench_suite.samples import full_messages, load_samples, prompt_text
from runners.local import RunConfig, run
from runners.sample_log import prompt_format, split_context

HOSTILE = 'constant,text=<b>"quoted"</b>'


@pytest.fixture(scope="module")
def needle(tmp_path_factory) -> Path:
    """16 episodes of one probe each (two variants, two lengths, two depths, two samples)."""
    return make_needle(tmp_path_factory.mktemp("d") / "needle", ["single_2", "multikey_1"],
                       ["lengths=256,512", "depths=0,100", "max_new_tokens=16"])


@pytest.fixture(scope="module")
def oracle_run(needle, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("r") / "oracle"
    run(RunConfig(dataset=needle, system="oracle", out=out, use_cache=False))
    return out


def _expected_prompts(needle: Path, condition: Condition, prefill: str) -> dict[str, list[dict]]:
    """The messages each probe gets, made here with the family's probe() and chat_messages directly."""
    ds = io.Dataset(needle)
    family = task_family("needle")
    episodes = {r["episode_id"]: family.episode(r) for r in ds.episodes.to_pylist()}
    return {row["probe_id"]: chat_messages(family.probe(row, episodes[row["episode_id"]], condition), prefill)[0]
            for row in ds.probes.to_pylist()}


def test_log_holds_every_prompt_with_each_context_once(needle, oracle_run):
    manifest = json.loads((oracle_run / "run.json").read_text())
    prompts = pl.read_parquet(oracle_run / "prompts.parquet")
    contexts = pl.read_parquet(oracle_run / "contexts.parquet")
    ds = io.Dataset(needle)
    assert prompts.height == ds.probes.num_rows
    # A needle context is its episode's text: one row per episode, however many probes ask about it.
    assert contexts.height == ds.episodes.num_rows == prompts.get_column("context_id").n_unique()
    assert set(contexts.get_column("text")) == set(ds.episodes.column("text").to_pylist())
    # The context is stored once: no prompt row repeats it.
    assert all(len(m[0]["content"]) < 400 for m in prompts.get_column("messages").to_list())
    expected = _expected_prompts(needle, Condition.IN_CONTEXT, "user")  # the oracle builds no prompt: format probe
    texts = dict(zip(contexts.get_column("context_id"), contexts.get_column("text")))
    for row in prompts.iter_rows(named=True):
        assert row["format"] == "probe"
        assert full_messages(row["messages"], texts[row["context_id"]]) == expected[row["probe_id"]]
    sizes = manifest["samples"]
    assert sizes["prompts"] == prompts.height and sizes["contexts"] == contexts.height
    assert sizes["prompts_bytes"] == os.path.getsize(oracle_run / "prompts.parquet")
    assert sizes["contexts_bytes"] == os.path.getsize(oracle_run / "contexts.parquet")
    assert pq.ParquetFile(oracle_run / "contexts.parquet").metadata.row_group(0).column(1).compression == "ZSTD"


def test_formats_follow_the_systems_description():
    assert prompt_format({"spec": "openai:m", "mode": "chat", "prefill": "assistant"}) == ("chat", "assistant")
    assert prompt_format({"spec": "embedded", "mode": "completions", "prefill": "none"}) == ("completions", "none")
    inner = {"mode": "chat", "prefill": "user"}
    assert prompt_format({"spec": "no-context:openai:m", "inner": inner}) == ("chat", "user")
    # Chain-of-Note also wraps a reader, but builds its own prompts: recorded as the probe it was handed.
    assert prompt_format({"spec": "con:embedded", "inner": inner}) == ("probe", "user")
    assert split_context([{"role": "user", "content": "Q"}], "ctx") == (None, [{"role": "user", "content": "Q"}])


def test_resume_rebuilds_a_lost_log_whole(needle, tmp_path):
    out = tmp_path / "r"
    res = lbs("run", needle, "-s", "random", "-o", out, "--limit", "3", "--no-cache")
    assert res.returncode == 0, res.stderr
    assert pl.read_parquet(out / "prompts.parquet").height == 3
    # A run killed before it finalized (kill -9) has its journal and no log: the resumed run writes it whole.
    (out / "prompts.parquet").unlink()
    (out / "contexts.parquet").unlink()
    line = one_line_error(lbs("run", needle, "-s", "random", "-o", out, "--no-cache"))
    assert "--resume" in line and "unfinished run" in line
    res = lbs("run", needle, "-s", "random", "-o", out, "--no-cache", "--resume")
    assert res.returncode == 0, res.stderr
    prompts = pl.read_parquet(out / "prompts.parquet")
    assert sorted(prompts.get_column("probe_id")) == sorted(io.Dataset(needle).probes.column("probe_id").to_pylist())
    assert "holds a complete run" in one_line_error(lbs("run", needle, "-s", "random", "-o", out))


def test_no_log_samples_writes_none_and_show_says_so(needle, tmp_path):
    out = tmp_path / "r"
    res = lbs("run", needle, "-s", "oracle", "-o", out, "--no-log-samples", "--limit", "2")
    assert res.returncode == 0, res.stderr
    assert not (out / "prompts.parquet").exists() and not (out / "contexts.parquet").exists()
    assert json.loads((out / "run.json").read_text())["samples"] == {"logged": False}
    res = lbs("show", out)
    assert res.returncode == 0, res.stderr
    assert "--no-log-samples" in res.stderr and "oracle" in res.stdout


def test_load_samples_joins_everything(needle, tmp_path):
    out = tmp_path / "r"
    run(RunConfig(dataset=needle, system=HOSTILE, out=out, use_cache=False))
    frame = load_samples(out, contexts=True)
    probes = pl.read_parquet(needle / "probes.parquet")
    assert frame.height == probes.height
    row = frame.filter(pl.col("probe_id") == probes.get_column("probe_id")[0]).row(0, named=True)
    assert row["output"] == '<b>"quoted"</b>' and row["score"] == 0.0 and row["error"] is None
    assert row["question"] == probes.get_column("question")[0] and row["gold"] == probes.get_column("gold")[0].to_list()
    assert {s["metric"] for s in row["scores"]} == {"string_match_all", "string_match_part"}
    assert row["prompt"] == prompt_text(full_messages(row["messages"], row["context"]))
    assert row["prompt"].startswith("[user] " + row["context"]) and row["question"] in row["prompt"]
    assert row["judge_label"] is None


def test_show_prints_failed_samples_with_what_a_person_needs(needle, oracle_run, tmp_path):
    out = tmp_path / "r"
    run(RunConfig(dataset=needle, system=HOSTILE, out=out, use_cache=False))
    probes = pl.read_parquet(needle / "probes.parquet")
    first = probes.row(0, named=True)
    res = lbs("show", out, "--failed", "--limit", "2", "--prompt-chars", "80")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("╭") == 2 and f"2 shown of {probes.height} samples ({probes.height} failed" in res.stderr
    for text in (first["probe_id"], first["question"], first["gold"][0], '<b>"quoted"</b>', "string_match_all 0",
                 f"length {first['length']:,}", "needle", "single_2"):
        assert text in res.stdout, text
    res = lbs("show", out, "--probe", first["probe_id"], "--full-prompt")
    episode = pl.read_parquet(needle / "episodes.parquet").filter(pl.col("episode_id") == first["episode_id"])
    tail = " ".join(episode.get_column("text")[0].split()[-5:])
    assert res.returncode == 0 and res.stdout.count("╭") == 1 and "characters before" not in res.stdout
    assert tail in " ".join(res.stdout.replace("│", " ").split())
    # The oracle passes every probe: --failed shows none.
    res = lbs("show", oracle_run, "--failed")
    assert res.returncode == 0 and "╭" not in res.stdout and "0 shown" in res.stderr
    assert "not in the run" in one_line_error(lbs("show", out, "--probe", "nope"))
    assert "run manifest not found" in one_line_error(lbs("show", tmp_path / "nothing"))


def test_show_gives_the_judge_verdict(tmp_path):
    data = tmp_path / "lme"
    res = lbs("generate", "longmemeval", "-o", data, "-v", "oracle", "-p", "samples=1", "-p", "abstention=0",
              "-p", "lengths=1536", "-p", "max_new_tokens=32")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "r"
    res = lbs("run", data, "-s", "constant,text=nothing", "-o", out, "--judge", "constant,text=yes")
    assert res.returncode == 0, res.stderr
    frame = load_samples(out, contexts=True)
    assert frame.get_column("judge_label").to_list() == [True] * frame.height
    # Generated items have their own metric (lme_match: the wrong answer scores 0); the verdict is a score too.
    assert frame.get_column("score").to_list() == [0.0] * frame.height
    assert all({"metric": "llm_judge", "value": 1.0} in s for s in frame.get_column("scores").to_list())
    first = frame.row(0, named=True)
    assert "Session" in first["context"] and first["question"] in first["prompt"]  # the dated history, once
    res = lbs("show", out, "--limit", "1")
    assert res.returncode == 0, res.stderr
    assert "judge     yes: yes" in res.stdout and first["probe_id"] in res.stdout
