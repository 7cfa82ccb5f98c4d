"""End to end against the real embedded model served by vLLM on loopback (session fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lbs_testutil import lbs, make_needle, processes_on_port

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def needle_small(tmp_path_factory):
    """A short grid in the embedded model's own tokens, sized for its 2,048-token window."""
    out = tmp_path_factory.mktemp("e2e") / "needle"
    params = ["lengths=512,1k", "depths=0,100", "samples=2", "max_new_tokens=24"]
    return make_needle(out, ["single_1", "multikey_1"], params, tokenizer="embedded")


def test_openai_adapter_run_produces_every_table(embedded_server, needle_small, tmp_path):
    spec = f"openai:{embedded_server.served_name},base_url={embedded_server.base_url}"
    run_dir = tmp_path / "run"
    res = lbs("run", needle_small, "--system", spec, "-o", run_dir, "--concurrency", "4", "--no-cache")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["errors"] == 0
    assert manifest["sampling"]["temperature"] == 0
    n = pl.read_parquet(needle_small / "probes.parquet").height
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert preds.height == n
    assert preds.get_column("output").str.len_chars().min() > 0
    assert preds.get_column("prompt_tokens").min() > 100  # the haystack really was in the prompt
    assert pl.read_parquet(run_dir / "scores.parquet").height >= n
    assert pl.read_parquet(run_dir / "aggregates.parquet").height > 0

    import datasets

    for table in ("predictions", "scores", "aggregates"):
        ds = datasets.load_dataset("parquet", data_files=str(run_dir / f"{table}.parquet"), split="train")
        assert ds.num_rows == pl.read_parquet(run_dir / f"{table}.parquet").height
    for table in ("episodes", "probes"):
        ds = datasets.load_dataset("parquet", data_files=str(needle_small / f"{table}.parquet"), split="train")
        assert ds.num_rows > 0

    report = lbs("report", run_dir)
    assert report.returncode == 0 and "needle" in report.stdout


def test_no_context_floor_is_near_zero(embedded_server, needle_small, tmp_path):
    spec = f"no-context:openai:{embedded_server.served_name},base_url={embedded_server.base_url}"
    res = lbs("run", needle_small, "--system", spec, "-o", tmp_path / "nc", "--no-cache")
    assert res.returncode == 0, res.stderr
    preds = pl.read_parquet(tmp_path / "nc" / "predictions.parquet")
    assert preds.get_column("prompt_tokens").max() < 100  # no haystack was sent
    scores = pl.read_parquet(tmp_path / "nc" / "scores.parquet").filter(pl.col("metric") == "string_match_all")
    # 7-digit numbers cannot be guessed: without the context the model scores (almost) nothing.
    assert scores.get_column("value").mean() <= 0.05


def test_run_without_system_uses_the_embedded_model(needle_small, tmp_path):
    """`lbs run` with no --system: the embedded adapter converts the model (cached), starts its own server,
    answers, and stops the server's whole process group (this is the test of the adapter's lifecycle)."""
    import re

    from longbench_suite.cache import cache_dir

    before = set((cache_dir() / "logs").glob("vllm-embedded-*.log"))  # the session's server logs there too
    res = lbs("run", needle_small, "-o", tmp_path / "run", "--limit", "2", "--no-cache")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["system"]["spec"] == "embedded" and manifest["system"]["hf_id"].endswith("SmolLM2-135M-Instruct")
    assert manifest["system"]["base_url"] is None  # stable across runs: no ephemeral port
    preds = pl.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert preds.height == 2 and preds.get_column("error").null_count() == 2
    assert preds.get_column("output").str.len_chars().min() > 0
    assert set(preds.get_column("system")) == {"embedded"}
    # The server it started logged its command (with its port) and is gone, every process of it.
    logs = set((cache_dir() / "logs").glob("vllm-embedded-*.log")) - before
    ports = {m.group(1) for p in logs for m in [re.search(r"--port (\d+)", p.read_text(errors="replace"))] if m}
    assert ports, logs
    assert not [pid for port in ports for pid in processes_on_port(port)], "the run's vLLM server survived it"


def test_lbs_serve_for_other_tools(embedded_server, needle_small, tmp_path):
    """`lbs serve embedded` (the session's server, tests/conftest.py) says how to reach it, and a run through
    the embedded adapter at its URL answers; its clean stop on Ctrl-C is checked when the session ends."""
    assert f"--system embedded,base_url={embedded_server.base_url}" in embedded_server.announced
    spec = f"embedded,base_url={embedded_server.base_url}"
    res = lbs("run", needle_small, "--system", spec, "-o", tmp_path / "run", "--limit", "2", "--no-cache")
    assert res.returncode == 0, res.stderr


def test_sort_logprob_and_parse_scoring_agree_on_the_embedded_model(embedded_server, tmp_path):
    """SORT's paper scoring (argmax of first-token log P("A") vs log P("B")) and the text parse must
    name the same letter whenever the greedy answer starts with a letter; in-memory sends no excerpt."""
    from longbench_suite.generate import generate_dataset
    from longbench_suite.metrics import choice_from_logprobs, parse_choice

    data = tmp_path / "sort"
    params = ["lengths=250", "books=1", "book_words=3000", "excerpts=4", "heldout=0"]
    generate_dataset("sort", data, ["ls20"], params, seed=0, tokenizer="embedded")
    spec = f"embedded,base_url={embedded_server.base_url},logprobs=1"
    runs = {}
    for condition in ("in-context", "in-memory"):
        res = lbs("run", data, "-s", spec, "-o", tmp_path / condition, "--condition", condition, "--no-cache")
        assert res.returncode == 0, res.stderr
        runs[condition] = pl.read_parquet(tmp_path / condition / "predictions.parquet")
    preds = runs["in-context"]
    assert preds.height == 16 and preds.get_column("error").null_count() == 16
    agree = valid = 0
    for row in preds.iter_rows(named=True):
        logprobs = {c["choice"]: c["logprob"] for c in row["choice_logprobs"] or []}
        assert set(logprobs) == {"A", "B"}, row  # both letters are among the first token's top log-probs
        by_lp, parsed = choice_from_logprobs(logprobs, ["A", "B"]), parse_choice(row["output"], ["A", "B"])
        if parsed is not None and row["output"].strip()[:1] in ("A", "B"):
            valid += 1
            agree += by_lp == parsed
    assert valid >= 12 and agree == valid, (valid, agree)
    scores = pl.read_parquet(tmp_path / "in-context" / "scores.parquet").pivot("metric", index="probe_id", values="value")
    assert scores.filter(pl.col("invalid") == 0).height >= 12
    # in-memory: the book was ingested (a plain LLM keeps nothing) and the prompt holds no excerpt
    ic, im = preds.get_column("prompt_tokens").min(), runs["in-memory"].get_column("prompt_tokens").max()
    assert im < ic - 250, (im, ic)


def test_joint_recall_runs_on_the_embedded_model(embedded_server, tmp_path):
    """A small joint-recall grid in the embedded model's own tokens: the listing and filler fill the
    prompt to the target length, every probe gets a 0/1 score, and no-context sends no listing."""
    import re

    from longbench_suite.generate import generate_dataset

    data = tmp_path / "jr"
    params = ["n_ctx=1,4", "n_key=4", "n_queries=4", "samples=2", "lengths=1k"]
    generate_dataset("joint-recall", data, ["words"], params, seed=0, tokenizer="embedded")
    spec = f"embedded,base_url={embedded_server.base_url}"
    res = lbs("run", data, "-s", spec, "-o", tmp_path / "ic", "--no-cache")
    assert res.returncode == 0, res.stderr
    preds = pl.read_parquet(tmp_path / "ic" / "predictions.parquet")
    assert preds.height == 16 and preds.get_column("error").null_count() == 16
    # prompt + answer budget within 3% of the 1,024-token target (chat template tokens on top)
    assert preds.get_column("prompt_tokens").min() >= 0.97 * (1024 - 8)
    assert preds.get_column("output").str.len_chars().min() > 0
    # The 135M model mostly continues the prefix with prose ("not a specific value, ..."): its score is
    # whatever it is; the scorer must still give one 0/1 value per probe.
    scores = pl.read_parquet(tmp_path / "ic" / "scores.parquet").filter(pl.col("metric") == "first_word_match")
    assert scores.height == 16 and set(scores.get_column("value").to_list()) <= {0.0, 1.0}
    res = lbs("run", data, "-s", spec, "-o", tmp_path / "nc", "--condition", "no-context", "--no-cache")
    assert res.returncode == 0, res.stderr
    assert pl.read_parquet(tmp_path / "nc" / "predictions.parquet").get_column("prompt_tokens").max() < 120


def test_longmemeval_embedded_model_as_system_and_judge(embedded_server, tmp_path):
    """A tiny LongMemEval run where the embedded model answers and then judges: every answer gets a
    verdict from a real LLM, recorded with its template; the deterministic scorer runs beside it; under
    no-context nothing is in the prompt and an answerable item is (almost) never right."""
    from longbench_suite.generate import generate_dataset

    data = tmp_path / "lme"
    params = ["types=single-session-user,temporal-reasoning,knowledge-update", "samples=2", "abstention=1"]
    generate_dataset("longmemeval", data, ["oracle"], params, seed=0, tokenizer="embedded")
    spec = f"embedded,base_url={embedded_server.base_url}"
    run_dir = tmp_path / "ic"
    res = lbs("run", data, "-s", spec, "-o", run_dir, "--no-cache", "--judge", spec)
    assert res.returncode == 0, res.stderr
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert preds.height == 6 and preds.get_column("error").null_count() == 6
    assert preds.get_column("prompt_tokens").min() > 150  # the history was in the prompt
    judgments = pl.read_parquet(run_dir / "judgments.parquet")
    assert judgments.height == 6 and judgments.get_column("error").null_count() == 6
    assert judgments.get_column("reply").str.len_chars().min() > 0
    expected = {pid: ("abstention" if pid.endswith("_abs") else pid.split("/")[-1].rsplit("-", 1)[0])
                for pid in preds.get_column("probe_id")}
    for row in judgments.iter_rows(named=True):
        want = expected[row["probe_id"]]
        assert row["template"] == (want if want in ("abstention", "temporal-reasoning", "knowledge-update") else "default")
        assert row["label"] == ("yes" in row["reply"].lower())
    scores = pl.read_parquet(run_dir / "scores.parquet")
    judged = scores.filter(pl.col("metric") == "llm_judge")
    assert judged.height == 6 and all(json.loads(j)["spec"] == spec for j in judged.get_column("judge"))
    assert scores.filter(pl.col("metric") == "lme_match").height == 6
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["judge"]["judged"] == 6 and manifest["judge"]["identity"]["templates"] == "lbs-lme-judge-2"

    res = lbs("run", data, "-s", spec, "-o", tmp_path / "nc", "--condition", "no-context", "--no-cache")
    assert res.returncode == 0, res.stderr
    nc = pl.read_parquet(tmp_path / "nc" / "predictions.parquet")
    assert nc.get_column("prompt_tokens").max() < 120
    nc_scores = pl.read_parquet(tmp_path / "nc" / "scores.parquet").filter(
        (pl.col("metric") == "lme_match") & ~pl.col("probe_id").str.ends_with("_abs"))
    assert nc_scores.get_column("value").sum() <= 1  # without the history, at most a lucky guess


def test_m4le_runs_on_the_embedded_model(embedded_server, tmp_path):
    """A small M4LE set in the embedded model's tokens (one item per task x ability, 1.5k bucket): every
    probe is answered within the window and scored by its ability's metric."""
    from longbench_suite.generate import generate_dataset

    data = tmp_path / "m4le"
    params = ["buckets=1536", "samples=1", "unit=tokens", "articles=120", "max_new_tokens=48"]
    generate_dataset("m4le", data, ["classification", "qa", "retrieval", "summarization"], params, seed=0, tokenizer="embedded")
    spec = f"embedded,base_url={embedded_server.base_url}"
    res = lbs("run", data, "-s", spec, "-o", tmp_path / "r", "--no-cache")
    assert res.returncode == 0, res.stderr
    preds = pl.read_parquet(tmp_path / "r" / "predictions.parquet")
    probes = pl.read_parquet(data / "probes.parquet")
    assert preds.height == probes.height == 10 and preds.get_column("error").null_count() == 10
    assert preds.get_column("prompt_tokens").min() > 1024 and preds.get_column("prompt_tokens").max() <= 1536 + 64
    scores = pl.read_parquet(tmp_path / "r" / "scores.parquet").join(probes.select("probe_id", "metric"), on=["probe_id", "metric"])
    assert scores.height == 10 and scores.get_column("value").is_between(0, 1).all()


def test_shared_context_multi_turn_reuses_the_servers_prefix_cache(embedded_server, tmp_path):
    """SCBench's two modes on the real server: a multi-turn run carries the earlier turns and its later turns
    are served mostly from vLLM's prefix cache (usage cached_tokens); a multi-request run of the same data
    asks each turn alone, with shorter prompts."""
    from longbench_suite.generate import generate_dataset

    data = tmp_path / "sc"
    generate_dataset("shared_context", data, ["kv"], ["lengths=1024", "samples=1", "turns=3"], seed=0, tokenizer="embedded")
    spec = f"openai:{embedded_server.served_name},base_url={embedded_server.base_url}"
    prompt_tokens = {}
    for mode in ("multi-turn", "multi-request"):
        res = lbs("run", data, "--system", spec, "-o", tmp_path / mode, "--mode", mode, "--no-cache")
        assert res.returncode == 0, res.stderr
        manifest = json.loads((tmp_path / mode / "run.json").read_text())
        assert manifest["status"] == "complete" and manifest["turns"]["mode"] == mode
        by_turn = {t["turn"]: t for t in manifest["costs"]["by_turn"]}
        assert sorted(by_turn) == [1, 2, 3]
        prompt_tokens[mode] = by_turn[3]["prompt_tokens"]
        if mode == "multi-turn":  # turn 1 read the context; turns 2 and 3 found it (and more) in the cache
            assert by_turn[2]["cached_share"] > 0.5 and by_turn[3]["cached_share"] > 0.5, by_turn
    assert prompt_tokens["multi-turn"] > prompt_tokens["multi-request"]  # the history is in the prompt
    # The floor: without the context no uuid value can be named (the history holds other keys' values).
    res = lbs("run", data, "--system", f"no-context:{spec}", "-o", tmp_path / "floor", "--no-cache")
    assert res.returncode == 0, res.stderr
    floor = pl.read_parquet(tmp_path / "floor" / "scores.parquet").filter(pl.col("metric") == "scbench_substring")
    assert floor.height == 3 and floor.get_column("value").sum() == 0
