"""LongMemEval generator: determinism, type balance, date logic, knowledge-update order, rendering,
baselines (oracle 1.0 on every type), lengths, filler corpora and Chain-of-Note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbs_testutil import REPO, lbs, one_line_error
from longbench_suite import io
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Condition
from tasks.longmemeval import DATE_FORMAT, FAMILY, QUESTION_TYPES, Template, check_answer


def _gen(out, params=(), variants=("oracle", "haystack"), seed=0, tokenizer="approx"):
    generate_dataset("longmemeval", out, list(variants), list(params), seed=seed, tokenizer=tokenizer)
    return io.Dataset(out)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """4 items per type (1 abstention each, none for preference), oracle + a 4k haystack."""
    return _gen(tmp_path_factory.mktemp("lme") / "ds", ["samples=4", "lengths=4k"])


def _probes(ds) -> list[dict]:
    return [{**r, "meta": json.loads(r["meta"])} for r in ds.probes.to_pylist()]


def _episodes(ds) -> dict[str, dict]:
    return {r["episode_id"]: r for r in ds.episodes.to_pylist()}


def test_same_seed_same_bytes_across_processes(tmp_path):
    script = (
        "import sys; from longbench_suite.generate import generate_dataset as g; "
        "g('longmemeval', sys.argv[1], ['oracle', 'haystack'], ['samples=2', 'lengths=2k'], seed=5)"
    )
    for name, hashseed in (("a", "1"), ("b", "2")):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONHASHSEED": hashseed})
    for f in ("episodes.parquet", "probes.parquet", "manifest.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    other = _gen(tmp_path / "c", ["samples=2", "lengths=2k"], seed=6)
    assert other.content_hash != io.Dataset(tmp_path / "a").content_hash


def test_type_balance_and_abstention_by_id(small):
    probes = _probes(small)
    oracle = [p for p in probes if p["variant"] == "oracle"]
    counts = pl.DataFrame({"t": [p["ability"] for p in oracle]}).group_by("t").len()
    assert dict(counts.iter_rows()) == dict.fromkeys(QUESTION_TYPES, 4)
    for p in probes:
        abstention = p["probe_id"].endswith("_abs")
        assert p["bin"] == ("abstention" if abstention else "answerable")
        assert p["meta"]["abstention"] == abstention
        assert (p["meta"]["check"] == "abstain") == abstention
    abs_types = {p["ability"] for p in oracle if p["probe_id"].endswith("_abs")}
    assert abs_types == set(QUESTION_TYPES) - {"single-session-preference"}  # LongMemEval has no abstention there


def test_sessions_in_time_order_before_the_question_and_evidence_marked(small):
    episodes = _episodes(small)
    for p in _probes(small):
        sessions = episodes[p["episode_id"]]["sessions"]
        dates = [datetime.strptime(s["date"], DATE_FORMAT) for s in sessions]
        asked = datetime.strptime(p["meta"]["question_date"], DATE_FORMAT)
        assert dates == sorted(dates) and dates[-1] < asked
        marked = [s["session_id"] for s in sessions if any(t["has_answer"] for t in s["turns"])]
        assert marked == p["meta"]["answer_session_ids"] and marked
        if p["variant"] == "oracle":
            assert len(sessions) == len(marked)
        ids = [s["session_id"] for s in sessions]
        assert len(set(ids)) == len(ids) and not any("answer" in i for i in ids)  # ids never name the evidence


def test_retrieval_targets_of_generated_items(small):
    """Generated items carry LongMemEval's retrieval targets: the marked user turns of their evidence
    sessions as turn ids; single-session-assistant items (evidence said by the assistant) have none
    and, like abstention items, are left out of the retrieval metrics."""
    episodes = _episodes(small)
    for p in _probes(small):
        sessions = {s["session_id"]: s for s in episodes[p["episode_id"]]["sessions"]}
        turns = p["meta"]["evidence_turns"]
        if p["ability"] == "single-session-assistant":
            assert turns is None and FAMILY.evidence_ids({**p, "meta": json.dumps(p["meta"])}) is None
            continue
        assert turns, p["probe_id"]
        for turn in turns:
            sid, position = turn.rsplit("_", 1)
            marked = sessions[sid]["turns"][int(position) - 1]
            assert sid in p["meta"]["answer_session_ids"] and marked["role"] == "user" and marked["has_answer"]
        evidence = FAMILY.evidence_ids({**p, "meta": json.dumps(p["meta"])})
        assert (evidence is None) == p["probe_id"].endswith("_abs")


def _event_days(p, episodes) -> list[int]:
    """Days before the question date of each planted event, read from the dated session whose evidence
    turn names the event (not from the generator's own numbers)."""
    asked = datetime.strptime(p["meta"]["question_date"], DATE_FORMAT).date()
    sessions = episodes[p["episode_id"]]["sessions"]
    days = []
    for event in p["meta"]["facts"]["events"]:
        dated = [s["date"] for s in sessions
                 if any(t["has_answer"] and event["keyword"].lower() in t["content"].lower() for t in s["turns"])]
        assert len(dated) == 1, (event, p["meta"]["question"])
        days.append((asked - datetime.strptime(dated[0], DATE_FORMAT).date()).days)
    return days


def test_temporal_answers_follow_from_the_session_dates(tmp_path):
    ds = _gen(tmp_path / "t", ["types=temporal-reasoning", "samples=80", "abstention=0"], variants=["oracle"])
    episodes = _episodes(ds)
    forms = set()
    for p in _probes(ds):
        facts, gold = p["meta"]["facts"], p["gold"]
        days = _event_days(p, episodes)
        form = facts["form"]
        forms.add(form)
        events = facts["events"]
        if form == "days_ago":  # relative to the question date
            assert int(gold[0]) == days[0]
        elif form == "weeks_ago":
            assert int(gold[0]) * 7 == days[0]
        elif form == "between":
            assert int(gold[0]) == abs(days[0] - days[1])
        elif form == "weeks_between":
            assert int(gold[0]) * 7 == abs(days[0] - days[1])
        elif form in ("first", "first_of_three", "last"):
            pick = (max if form != "last" else min)(range(len(days)), key=lambda k: days[k])
            assert check_answer("contains", events[pick]["event"], gold) == 1.0, (p["meta"]["question"], gold)
            others = [events[k]["event"] for k in range(len(days)) if k != pick]
            assert all(check_answer("contains", o, gold) == 0.0 for o in others)
        else:
            raise AssertionError(f"untested temporal form {form}")
    assert forms == {"days_ago", "weeks_ago", "between", "weeks_between", "first", "first_of_three", "last"}


def test_knowledge_update_latest_value_is_gold(tmp_path):
    ds = _gen(tmp_path / "k", ["types=knowledge-update", "samples=40", "abstention=0"], variants=["oracle"])
    episodes = _episodes(ds)
    for p in _probes(ds):
        sessions = episodes[p["episode_id"]]["sessions"]
        assert len(sessions) >= 2
        old = " ".join(t["content"] for t in sessions[0]["turns"] if t["has_answer"])
        new = " ".join(t["content"] for t in sessions[-1]["turns"] if t["has_answer"])
        # gold is stated in the later session, not in the earlier one
        assert check_answer(p["meta"]["check"], new, p["gold"]) == 1.0, (p["meta"]["question"], p["gold"], new)
        assert check_answer(p["meta"]["check"], old, p["gold"]) == 0.0, (p["meta"]["question"], p["gold"], old)


def test_haystack_fills_to_length_with_real_tokenizer(tmp_path):
    ds = _gen(tmp_path / "h", ["samples=2", "lengths=2k,8k", "abstention=0"], variants=["haystack"], tokenizer="embedded")
    from longbench_suite.tokens import load_tokenizer

    tok = load_tokenizer("embedded")
    rows = {r["episode_id"]: r for r in ds.episodes.to_pylist()}
    for p in ds.probes.to_pylist():
        ep = FAMILY.episode(rows[p["episode_id"]])
        total = tok.count(ep.text + "\n\n" + p["question"] + "\n" + p["answer_prefix"]) + p["max_new_tokens"]
        assert 0.80 * p["length"] <= total <= p["length"], (p["probe_id"], total)
        assert rows[p["episode_id"]]["n_tokens"] == tok.count(ep.text)
    sizes = pl.from_arrow(ds.episodes).group_by("length").agg(pl.col("sessions").list.len().mean())
    by_len = dict(sizes.iter_rows())
    assert by_len[8192] > 3 * by_len[2048]


def test_session_count_mode(tmp_path):
    ds = _gen(tmp_path / "n", ["samples=1", "sessions=25", "types=multi-session,knowledge-update"], variants=["haystack"])
    assert [len(s) for s in ds.episodes.column("sessions").to_pylist()] == [25, 25]
    assert ds.probes.column("length").null_count == 2
    res = lbs("generate", "longmemeval", "-o", tmp_path / "few", "-v", "haystack", "-p", "sessions=1", "-p", "types=multi-session")
    assert "fewer than" in one_line_error(res) and not (tmp_path / "few").exists()


def test_too_short_length_is_a_clear_error(tmp_path):
    res = lbs("generate", "longmemeval", "-o", tmp_path / "x", "-v", "haystack", "-p", "lengths=300")
    assert "too short" in one_line_error(res) and not (tmp_path / "x").exists()
    res = lbs("generate", "longmemeval", "-o", tmp_path / "y", "-p", "types=single-session-nothing")
    assert "unknown question type" in one_line_error(res)


def test_oracle_scores_one_on_every_type_and_constant_refusal_only_abstention(small, tmp_path):
    res = lbs("run", small.path, "-s", "oracle", "-o", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    agg = pl.read_parquet(tmp_path / "o" / "aggregates.parquet").filter(pl.col("primary"))
    per_type = agg.filter(pl.col("ability").is_not_null() & pl.col("variant").is_null() & pl.col("bin").is_null())
    assert set(per_type.get_column("ability")) == set(QUESTION_TYPES) | {"task-averaged"}
    assert per_type.get_column("mean").to_list() == [1.0] * per_type.height
    # a system that always declines is right exactly on the abstention items
    res = lbs("run", small.path, "-s", "constant,text=Sorry but you never mentioned that.", "-o", tmp_path / "c")
    assert res.returncode == 0, res.stderr
    scores = pl.read_parquet(tmp_path / "c" / "scores.parquet").join(
        pl.from_arrow(small.probes.select(["probe_id", "bin"])), on="probe_id")
    by_bin = dict(scores.group_by("bin").agg(pl.col("value").mean()).iter_rows())
    assert by_bin == {"abstention": 1.0, "answerable": 0.0}


def test_checks_reject_wrong_answers(small):
    """A gold alias must be needed: the oracle's answer to another item of the same type scores 0
    (unless it happens to be the same answer)."""
    probes = [p for p in _probes(small) if p["variant"] == "oracle" and not p["probe_id"].endswith("_abs")]
    wrong = 0
    for p in probes:
        for q in probes:
            if q["ability"] == p["ability"] and q is not p and set(q["gold"]) != set(p["gold"]):
                wrong += 1
                assert check_answer(p["meta"]["check"], ", ".join(q["gold"]), p["gold"]) == 0.0 or p["meta"]["check"] == "rubric"
    assert wrong > 20
    assert check_answer("days", "about 19 days", ["18"]) == 1.0  # LongMemEval's off-by-one tolerance
    assert check_answer("days", "20 days", ["18"]) == 0.0
    assert check_answer("number", "it took 19 weeks", ["18"]) == 0.0


def test_rendering_structure_and_no_evidence_marks(small):
    episodes = _episodes(small)
    p = next(p for p in _probes(small) if p["variant"] == "haystack")
    row = episodes[p["episode_id"]]
    ep = FAMILY.episode(row)
    t = Template.load("default")
    assert ep.text.startswith(t.instruction)
    assert "has_answer" not in ep.text
    assert all(t2["has_answer"] is None for s in ep.sessions for t2 in s["turns"])
    for i, s in enumerate(row["sessions"], 1):  # headed by index and date, in date order
        assert f"### Session {i}\nSession date: {s['date']}" in ep.text
        assert json.dumps([{"role": x["role"], "content": x["content"]} for x in s["turns"]], ensure_ascii=False) in ep.text
    probe_row = next(r for r in small.probes.to_pylist() if r["probe_id"] == p["probe_id"])
    ic = FAMILY.probe(probe_row, ep, Condition.IN_CONTEXT)
    assert ic.context == ep.text and ic.question == f"Current date: {p['meta']['question_date']}\nQuestion: {p['meta']['question']}"
    mem = FAMILY.probe(probe_row, ep, Condition.IN_MEMORY)
    assert mem.context is None and mem.question.startswith(t.memory_instruction) and mem.question.endswith(ic.question)


def test_plain_template_and_template_file(tmp_path):
    ds = _gen(tmp_path / "p", ["samples=1", "types=single-session-user", "abstention=0", "template=plain"], variants=["oracle"])
    ep = FAMILY.episode(ds.episodes.to_pylist()[0])
    assert "\nuser: " in ep.text and '"role"' not in ep.text
    custom = tmp_path / "mine.toml"
    custom.write_text('format = "text"\ninstruction = "HISTORY"\nsession = "[{index}] {date}\\n{content}"\n'
                      'question = "Now {question_date}. {question}"\nanswer_prefix = "A:"\n')
    ds = _gen(tmp_path / "q", ["samples=1", "types=single-session-user", "abstention=0", f"template={custom}"], variants=["oracle"])
    ep = FAMILY.episode(ds.episodes.to_pylist()[0])
    assert ep.text.startswith("HISTORY\n\n[1] 2023/") and ds.probes.column("question")[0].as_py().startswith("Now 2023/")
    bad = tmp_path / "bad.toml"
    bad.write_text('format = "json"\ninstruction = "x"\nsession = "{nope}"\nquestion = "{question}"\n')
    res = lbs("generate", "longmemeval", "-o", tmp_path / "z", "-p", f"template={bad}")
    assert "placeholder" in one_line_error(res)


def test_filler_from_a_chat_corpus(tmp_path):
    corpus = tmp_path / "chats.parquet"
    convs = [[{"role": "user", "content": f"corpus question {i} about tides"},
              {"role": "assistant", "content": f"corpus answer {i}: the moon pulls the sea. " * 20}] for i in range(30)]
    pq.write_table(pa.table({"messages": convs}), corpus)
    ds = _gen(tmp_path / "f", ["samples=1", "types=single-session-user", "abstention=0", "lengths=4k", f"filler={corpus}"],
              variants=["haystack"])
    sessions = ds.episodes.column("sessions")[0].as_py()
    fillers = [s for s in sessions if not any(t["has_answer"] for t in s["turns"])]
    assert len(fillers) >= 5 and all(s["turns"][0]["content"].startswith("corpus question") for s in fillers)
    res = lbs("generate", "longmemeval", "-o", tmp_path / "g", "-p", f"filler={tmp_path / 'missing.parquet'}")
    one_line_error(res)


def test_chain_of_note_reads_every_session_then_answers(small, tmp_path):
    """con:SPEC asks the inner system once per session, then once more with the notes. With a constant
    inner system the final answer is that constant, and the notes make the answer prompt."""
    import asyncio

    from adapters.chain_of_note import ChainOfNote
    from adapters.baselines import Constant
    from longbench_suite.spec import parse_spec

    calls = []

    class Recorder(Constant):
        async def answer(self, probe):
            calls.append(probe)
            return await super().answer(probe)

    rows = _episodes(small)
    probe_row = next(r for r in small.probes.to_pylist() if r["variant"] == "haystack")
    ep = FAMILY.episode(rows[probe_row["episode_id"]])
    system = ChainOfNote(Recorder(parse_spec("constant,text=The user's dog is named Pepper")))

    async def go():
        await system.ingest(ep)
        return await system.answer(FAMILY.probe(probe_row, ep, Condition.IN_CONTEXT))

    answer = asyncio.run(go())
    assert answer.text == "The user's dog is named Pepper"
    assert len(calls) == len(ep.sessions) + 1
    assert all(c.context is None and "Later the user asks" in c.question for c in calls[:-1])
    assert calls[-1].context.count("### Notes on session") == len(ep.sessions)
    assert "Session content" not in calls[-1].context  # the raw history is replaced by the notes
