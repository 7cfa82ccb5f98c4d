"""The local runner: baselines bound the scores, the journal survives SIGKILL, resume loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from lbs_testutil import REPO, make_needle
from longbench_suite import io, schemas
from longbench_suite.protocol import Condition
from runners.journal import Journal
from runners.local import RunConfig, run


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """240 probes over every variant, small lengths: fast with the offline tokenizer."""
    out = tmp_path_factory.mktemp("data") / "needle"
    params = ["lengths=512,1k", "depths=0,50,100", "samples=5", "max_new_tokens=32"]
    return make_needle(out, [], params, seed=3)


def _run(data, system, out, **kw):
    return run(RunConfig(dataset=data, system=system, out=out, use_cache=False, **kw))


def _primary_mean(run_dir):
    agg = pl.read_parquet(run_dir / "aggregates.parquet")
    row = agg.filter(
        pl.col("variant").is_null() & pl.col("length").is_null() & pl.col("depth").is_null()
        & pl.col("ability").is_null() & (pl.col("metric") == "string_match_all")
    ).row(0, named=True)
    return row


def test_oracle_scores_one_everywhere(grid, tmp_path):
    manifest = _run(grid, "oracle", tmp_path / "oracle")
    assert manifest["status"] == "complete" and manifest["counts"]["errors"] == 0
    agg = pl.read_parquet(tmp_path / "oracle" / "aggregates.parquet").filter(pl.col("metric") == "string_match_all")
    assert agg.height > 10
    assert agg.get_column("mean").min() == 1.0
    assert manifest["condition"] == "in-context"


def test_random_sits_at_chance(grid, tmp_path):
    _run(grid, "random", tmp_path / "random")
    overall = _primary_mean(tmp_path / "random")
    chance = pl.read_parquet(grid / "probes.parquet").get_column("chance").mean()
    assert 0 < chance < 0.5
    # The chance level lies inside the random system's 95% interval (and the interval is not vacuous).
    assert overall["ci_low"] <= chance <= overall["ci_high"], (overall, chance)
    assert overall["ci_high"] - overall["ci_low"] < 0.2


def test_random_is_the_same_guess_every_run(grid, tmp_path):
    _run(grid, "random", tmp_path / "a")
    _run(grid, "random", tmp_path / "b", concurrency=1)
    a = pl.read_parquet(tmp_path / "a" / "predictions.parquet").select("probe_id", "output").sort("probe_id")
    b = pl.read_parquet(tmp_path / "b" / "predictions.parquet").select("probe_id", "output").sort("probe_id")
    assert a.equals(b)


def test_no_context_wrapper_records_condition(grid, tmp_path):
    manifest = _run(grid, "no-context:oracle", tmp_path / "nc", condition=Condition.IN_CONTEXT)
    assert manifest["condition"] == "no-context"
    preds = pl.read_parquet(tmp_path / "nc" / "predictions.parquet")
    assert set(preds.get_column("condition").to_list()) == {"no-context"}
    assert set(preds.get_column("system").to_list()) == {"no-context:oracle"}


def test_tables_follow_their_schemas(grid, tmp_path):
    _run(grid, "oracle", tmp_path / "r")
    for name, schema in [("predictions", schemas.PREDICTIONS), ("scores", schemas.SCORES), ("aggregates", schemas.AGGREGATES)]:
        table = io.read_parquet(tmp_path / "r" / f"{name}.parquet", schema, name)
        assert table.schema.equals(schema), name
    manifest = json.loads((tmp_path / "r" / "run.json").read_text())
    assert set(schemas.RUN_MANIFEST_KEYS) <= set(manifest)
    dataset_manifest = json.loads((grid / "manifest.json").read_text())
    assert set(schemas.DATASET_MANIFEST_KEYS) <= set(dataset_manifest)
    assert manifest["dataset"]["content_hash"] == dataset_manifest["content_hash"]


def test_journal_repairs_a_torn_line(tmp_path):
    j = Journal(tmp_path / "journal.jsonl")
    j.append({"probe_id": "a", "error": None, "output": "1"})
    j.append({"probe_id": "b", "error": "boom", "output": ""})
    j.append({"probe_id": "b", "error": None, "output": "2"})
    j.close()
    with open(tmp_path / "journal.jsonl", "a") as fh:
        fh.write('{"probe_id": "c", "outp')  # a write cut by SIGKILL
    records = Journal(tmp_path / "journal.jsonl").read()
    assert set(records) == {"a", "b"} and records["b"]["output"] == "2"
    assert (tmp_path / "journal.jsonl").read_text().endswith("\n")


def _cli_run(data, out, *extra):
    return [sys.executable, "-m", "longbench_suite.cli", "run", str(data), "--system", "oracle,delay=0.04",
            "-o", str(out), "--concurrency", "2", "--no-cache", *extra]


def test_sigkill_then_resume_loses_and_duplicates_nothing(grid, tmp_path):
    total = pl.read_parquet(grid / "probes.parquet").height
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli_run(grid, killed), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = killed / "journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= total // 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = journal.read_text().count("\n")
    assert 0 < lines < total, "the kill must land mid-run"
    assert json.loads((killed / "run.json").read_text())["status"] == "running"
    assert not (killed / "predictions.parquet").exists()

    resumed = subprocess.run(_cli_run(grid, killed, "--resume"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    # The resumed run answered only what was missing.
    assert journal.read_text().count("\n") == total

    fresh = tmp_path / "fresh"
    assert subprocess.run(_cli_run(grid, fresh), cwd=REPO, capture_output=True, timeout=300).returncode == 0
    a = pl.read_parquet(killed / "predictions.parquet")
    b = pl.read_parquet(fresh / "predictions.parquet")
    assert a.height == b.height == total
    assert a.get_column("probe_id").n_unique() == total
    key = ["probe_id", "episode_id", "output", "error"]
    assert a.select(key).sort("probe_id").equals(b.select(key).sort("probe_id"))
    assert json.loads((killed / "run.json").read_text())["status"] == "complete"


def test_resume_refuses_other_data_or_system(grid, tmp_path):
    from longbench_suite.errors import UserError

    _run(grid, "oracle", tmp_path / "r")
    with pytest.raises(UserError, match="system"):
        _run(grid, "random", tmp_path / "r", resume=True)
    with pytest.raises(UserError, match="not empty"):
        _run(grid, "oracle", tmp_path / "r")


def test_failed_probes_are_recorded_and_retried_on_resume(grid, tmp_path):
    """A system that fails on some probes: errors are rows, the run completes, resume retries only them."""
    import asyncio

    from longbench_suite.protocol import Answer, MemorySystem
    from longbench_suite import registry

    state = {"fail": True, "calls": 0}

    class Flaky(MemorySystem):
        name = "flaky"
        concurrent_episodes = True
        privileged = True

        async def answer(self, probe):
            state["calls"] += 1
            await asyncio.sleep(0)
            if state["fail"] and probe.probe_id.endswith(("0/q", "2/q", "4/q")):
                raise RuntimeError("server said no")
            return Answer(text=", ".join(probe.gold))

    registry.system_factories()["flaky"] = lambda spec, ctx: Flaky()
    try:
        m = _run(grid, "flaky", tmp_path / "f")
        n_err = m["counts"]["errors"]
        assert m["status"] == "partial" and n_err > 0  # issue 21: complete only without errors
        preds = pl.read_parquet(tmp_path / "f" / "predictions.parquet")
        assert preds.filter(pl.col("error").is_not_null()).height == n_err
        state.update(fail=False, calls=0)
        m2 = _run(grid, "flaky", tmp_path / "f", resume=True)
        assert state["calls"] == n_err and m2["counts"]["errors"] == 0
        assert _primary_mean(tmp_path / "f")["mean"] == 1.0
    finally:
        registry.system_factories().pop("flaky")


def test_systems_under_test_never_see_answers(grid, tmp_path):
    """Only privileged baselines get gold answers and the candidate pool (which holds the answer)."""
    from longbench_suite import registry
    from longbench_suite.protocol import Answer, MemorySystem

    seen, ingested = [], []

    class Spy(MemorySystem):
        name = "spy"
        concurrent_episodes = True

        async def ingest(self, episode):
            ingested.append(episode)

        async def answer(self, probe):
            seen.append(probe)
            return Answer(text="")

    registry.system_factories()["spy"] = lambda spec, ctx: Spy()
    try:
        _run(grid, "spy", tmp_path / "spy", limit=20)
    finally:
        registry.system_factories().pop("spy")
    assert len(seen) == 20
    assert all(p.gold is None and p.choices is None and p.context and not p.meta for p in seen)
    # the episode's meta names every needle's value: a system ingests the text only
    assert ingested and all(e.text and not e.meta for e in ingested)


def test_stateful_memory_sees_reset_ingest_answer_in_order(grid, tmp_path):
    """in-memory: a stateful system ingests each episode once, after a reset, and is asked without
    the context; the next episode starts only when the previous one's probes are answered."""
    from longbench_suite import registry
    from longbench_suite.protocol import Answer, MemorySystem

    events = []

    class Memory(MemorySystem):
        name = "memory"
        concurrent_episodes = False

        async def reset(self):
            events.append(("reset", None))

        async def ingest(self, episode):
            assert episode.text
            events.append(("ingest", episode.episode_id))

        async def answer(self, probe):
            assert probe.context is None
            events.append(("answer", probe.episode_id))
            return Answer(text="")

    registry.system_factories()["memory"] = lambda spec, ctx: Memory()
    try:
        m = _run(grid, "memory", tmp_path / "m", condition=Condition.IN_MEMORY, limit=12, concurrency=4)
    finally:
        registry.system_factories().pop("memory")
    assert m["condition"] == "in-memory"
    kinds = [k for k, _ in events]
    assert kinds == ["reset", "ingest", "answer"] * 12  # one probe per needle episode
    for i in range(0, len(events), 3):
        assert events[i + 1][1] == events[i + 2][1]
