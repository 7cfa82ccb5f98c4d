"""Multi-turn conversations over one context (issue 23, longbench_suite/turns.py): the probes of an
episode that carry turns are answered in order, each with exactly the earlier turns of its own episode;
a stateful memory gets them through the same protocol; the mode is recorded; multi-request is the
protocol without history."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from lbs_testutil import REPO, lbs, make_needle, one_line_error
from longbench_suite import io, schemas
from longbench_suite.errors import UserError
from runners.local import RunConfig, run

sys.path.insert(0, str(REPO / "tests"))  # python:turn_spy:spy

EPISODES = {"shared_context/x/1/0": "The red key opens door 7. The blue key opens door 2. The green key opens door 9.",
            "shared_context/x/1/1": "Ann lives in Oslo. Bob lives in Lima. Cy lives in Rome."}
TURNS = {  # per episode: (question, gold, reference) by turn
    "shared_context/x/1/0": [("Which door does the red key open?", "7", "Door 7."),
                             ("Which door does the blue key open?", "2", "Door 2."),
                             ("Which door does the green key open?", "9", "Door 9.")],
    "shared_context/x/1/1": [("Where does Ann live?", "Oslo", "In Oslo."),
                             ("Where does Bob live?", "Lima", "In Lima."),
                             ("Where does Cy live?", "Rome", "In Rome.")],
}


def write_conversations(out: Path) -> Path:
    episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
    for eid, text in EPISODES.items():
        episodes.add(episode_id=eid, family="shared_context", variant="x", length=1, n_tokens=20, text=text,
                     sessions=None, meta="{}")
        # Stored out of turn order: the runner, not the file, decides the order of a conversation.
        for turn in (3, 1, 2):
            q, gold, ref = TURNS[eid][turn - 1]
            probes.add(probe_id=f"{eid}/t{turn}", episode_id=eid, family="shared_context", variant="x",
                       ability="recall", length=1, depth=None, bin=f"turn {turn}", question=q, answer_prefix="",
                       gold=[gold], choices=None, metric="contains_any", chance=0.0, max_new_tokens=8,
                       meta=json.dumps({"turn": turn, "reference": ref}))
    manifest = {"family": "shared_context", "variants": ["x"], "params": {}, "seed": 0,
                "generator_version": "test", "tokenizer": "approx"}
    io.write_dataset(out, episodes.table(), probes.table(), manifest)
    return out


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture()
def spy_log(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "spy.jsonl"
    monkeypatch.setenv("LBS_TURN_SPY", str(path))
    return path


def expected_history(eid: str, turn: int, own: bool = False) -> list[list[str]]:
    return [[q, f"own answer to {q}" if own else ref] for q, _, ref in TURNS[eid][: turn - 1]]


def test_a_stateful_memory_gets_each_episodes_turns_in_order_and_nothing_else(tmp_path, spy_log):
    data = write_conversations(tmp_path / "data")
    manifest = run(RunConfig(dataset=data, system="python:turn_spy:spy,stateful=1", out=tmp_path / "run",
                             condition=__import__("longbench_suite.protocol").protocol.Condition.IN_MEMORY))
    assert manifest["status"] == "complete"
    assert manifest["turns"] == {"mode": "multi-turn", "history": "reference"}
    seen = events(spy_log)
    # reset, ingest, then the three turns in order, one episode after the other
    assert [e["call"] for e in seen] == ["reset", "ingest", "answer", "answer", "answer"] * 2
    for start in (0, 5):
        eid = seen[start + 1]["episode"]
        answers = seen[start + 2 : start + 5]
        assert [a["question"] for a in answers] == [q for q, _, _ in TURNS[eid]]
        for turn, a in enumerate(answers, start=1):
            assert a["episode"] == eid and a["context"] is None  # in-memory: the context is not in the prompt
            assert a["history"] == expected_history(eid, turn)


def test_chat_prompts_hold_exactly_the_earlier_turns_of_their_episode(tmp_path, spy_log):
    data = write_conversations(tmp_path / "data")
    manifest = run(RunConfig(dataset=data, system="python:turn_spy:spy", out=tmp_path / "run", concurrency=4))
    assert manifest["status"] == "complete"
    order: dict[str, list[str]] = {}
    for e in events(spy_log):
        if e["call"] == "answer":
            order.setdefault(e["episode"], []).append(e["probe"])
            assert e["context"] == EPISODES[e["episode"]]
    assert order == {eid: [f"{eid}/t{t}" for t in (1, 2, 3)] for eid in EPISODES}  # each episode in turn order
    prompts = pl.read_parquet(tmp_path / "run" / "prompts.parquet")
    third = prompts.filter(pl.col("probe_id") == "shared_context/x/1/1/t3").row(0, named=True)
    messages = [(m["role"], m["content"]) for m in third["messages"]]
    # the context (kept once in contexts.parquet) opened the first user message; then the turns in order
    assert messages == [("user", "Where does Ann live?"), ("assistant", "In Oslo."),
                        ("user", "Where does Bob live?"), ("assistant", "In Lima."), ("user", "Where does Cy live?")]
    assert third["context_id"] is not None
    aggregates = pl.read_parquet(tmp_path / "run" / "aggregates.parquet")
    by_turn = aggregates.filter(pl.col("bin").is_not_null() & pl.col("variant").is_not_null() & pl.col("length").is_null())
    assert sorted(by_turn.get_column("bin").to_list()) == ["turn 1", "turn 2", "turn 3"]
    # run.json's costs by turn: each turn answered twice, the spy reports no tokens
    assert [(t["turn"], t["probes"], t["cached_share"]) for t in manifest["costs"]["by_turn"]] == [(1, 2, None), (2, 2, None), (3, 2, None)]


def test_own_history_carries_the_systems_answers_across_a_resume(tmp_path, spy_log):
    data = write_conversations(tmp_path / "data")
    out = tmp_path / "run"
    first = run(RunConfig(dataset=data, system="python:turn_spy:spy", out=out, history="own", limit=2))
    assert first["turns"] == {"mode": "multi-turn", "history": "own"}
    spy_log.unlink()
    # the third turn of the first episode is asked after a resume: its history holds the answers the
    # system gave in the first execution (from the journal), not the reference answers
    run(RunConfig(dataset=data, system="python:turn_spy:spy", out=out, history="own", resume=True))
    asked = {e["probe"]: e for e in events(spy_log) if e["call"] == "answer"}
    eid = "shared_context/x/1/0"
    assert set(asked) == {f"{eid}/t3", *(f"shared_context/x/1/1/t{t}" for t in (1, 2, 3))}
    assert asked[f"{eid}/t3"]["history"] == expected_history(eid, 3, own=True)
    assert asked["shared_context/x/1/1/t3"]["history"] == expected_history("shared_context/x/1/1", 3, own=True)
    prompts = pl.read_parquet(out / "prompts.parquet").filter(pl.col("probe_id") == f"{eid}/t3").row(0, named=True)
    assert [m["content"] for m in prompts["messages"] if m["role"] == "assistant"] == [
        f"own answer to {q}" for q, _, _ in TURNS[eid][:2]]
    # a resume in another mode would mix two protocols in one run
    with pytest.raises(UserError, match="turns"):
        run(RunConfig(dataset=data, system="python:turn_spy:spy", out=out, mode="multi-request", resume=True))


def test_multi_request_asks_each_probe_alone(tmp_path, spy_log):
    data = write_conversations(tmp_path / "data")
    manifest = run(RunConfig(dataset=data, system="python:turn_spy:spy", out=tmp_path / "run", mode="multi-request"))
    assert manifest["turns"] == {"mode": "multi-request"}
    # beside the default (multi-turn) run of the same system in a report, this one keeps its own label
    assert set(pl.read_parquet(tmp_path / "run" / "predictions.parquet").get_column("system")) == {"turn-spy@multi-request"}
    answers = [e for e in events(spy_log) if e["call"] == "answer"]
    assert len(answers) == 6 and all(a["history"] == [] for a in answers)


def test_bad_turn_options_exit_2(tmp_path):
    needle = make_needle(tmp_path / "needle", ["single_1"], ["lengths=512", "depths=50", "samples=1"])
    line = one_line_error(lbs("run", needle, "-s", "oracle", "-o", tmp_path / "r1", "--mode", "multi-turn"))
    assert "no conversations" in line and not (tmp_path / "r1" / "run.json").exists()
    data = write_conversations(tmp_path / "data")
    assert "needs multi-turn" in one_line_error(lbs("run", data, "-s", "oracle", "-o", tmp_path / "r2",
                                                    "--mode", "multi-request", "--history", "own"))
    assert "--mode must be" in one_line_error(lbs("run", data, "-s", "oracle", "-o", tmp_path / "r3", "--mode", "chat"))
