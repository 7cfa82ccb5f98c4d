"""LongMemEval's official files: import (validated, streamed; same-day time inversions warned, not
refused) and export (lossless round trip), the judge's template choice, its model against the official
one and its flow through `lbs run/score --judge`, task-averaged and abstention aggregates, retrieval
metrics (with a parity section: hand-written items scored by LongMemEval's own rules), and what a
system under test may see of an imported history."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbs_testutil import REPO, lbs, make_needle, one_line_error
from longbench_suite import io, schemas
from longbench_suite.aggregate import aggregate
from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition
from longbench_suite.scoring import score_predictions
from longbench_suite.tokens import load_tokenizer
from runners.episodes import public as _public
from tasks.longmemeval import FAMILY, Template

FMT = "%Y/%m/%d (%a) %H:%M"  # LongMemEval's dates: 2023/04/10 (Mon) 17:50
T0 = datetime(2023, 3, 1, 9, 0)
JUDGE = "llm_judge"


# --- hand-written items in the official layout ------------------------------------------------------


def day(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime(FMT)


def U(content: str, has_answer: bool | None = None, **more) -> dict:
    turn = {"role": "user", "content": content, **more}
    if has_answer is not None:
        turn["has_answer"] = has_answer
    return turn


def A(content: str, has_answer: bool | None = None, **more) -> dict:
    turn = {"role": "assistant", "content": content, **more}
    if has_answer is not None:
        turn["has_answer"] = has_answer
    return turn


def item(qid: str, qtype: str, question: str, answer, sessions: list[tuple[str, float, list[dict]]],
         evidence: list[str], asked: float = 2000, **extra) -> dict:
    """sessions: (session id, hours after T0, turns), in the order they go in the file."""
    return {
        "question_id": qid, "question_type": qtype, "question": question, "answer": answer, "question_date": day(asked),
        "haystack_session_ids": [s[0] for s in sessions], "haystack_dates": [day(s[1]) for s in sessions],
        "haystack_sessions": [s[2] for s in sessions], "answer_session_ids": evidence, **extra,
    }


def filler(sid: str, hours: float, topic: str) -> tuple[str, float, list[dict]]:
    return (sid, hours, [U(f"Can you help me with {topic}?"), A(f"Sure, here are some ideas about {topic}.")])


def official_items() -> list[dict]:
    """Seven questions, every type, S-style haystacks in time order."""
    return [
        item("e47becba", "single-session-user", "What degree did I graduate with?", "Business Administration", [
            filler("sharegpt_a1", 0, "a birthday poem"),
            ("answer_e47_1", 30, [U("I graduated with a degree in Business Administration last May.", True),
                                  A("Congratulations on your graduation!", False)]),
            filler("ultrachat_9", 60, "baking sourdough bread"),
        ], ["answer_e47_1"]),
        # an abstention item (by its id) whose type is knowledge-update
        item("0a995998_abs", "knowledge-update", "How many bikes does my sister own now?",
             "The user never said how many bikes their sister owns; they only mentioned their own two bikes.", [
                 ("answer_0a9_1", 10, [U("I just bought my second road bike!", True), A("Nice, enjoy the rides.")]),
                 filler("sharegpt_b2", 20, "tax forms"),
             ], ["answer_0a9_1"]),
        item("ku_kayak", "knowledge-update", "Where do I keep my kayak now?", "In the garage", [
            ("answer_ku_1", 5, [U("I keep my kayak on the balcony.", True), A("That saves space.", False)]),
            filler("ultrachat_3", 50, "houseplants"),
            ("answer_ku_2", 300, [U("I moved my kayak to the garage last week.", True), A("Good idea for winter.", False)]),
        ], ["answer_ku_1", "answer_ku_2"], asked=400),
        # an integer answer and an extra top-level field; a turn with a key beyond role/content/has_answer
        item("ms_wed", "multi-session", "How many weddings did I attend this year?", 3, [
            ("answer_ms_1", 100, [U("I was at my cousin's wedding on Saturday.", True), A("How lovely!")]),
            filler("sharegpt_c3", 150, "wedding speeches"),
            ("answer_ms_2", 200, [U("Back from two weddings in a row, exhausted.", True),
                                  A("Rest well!", False, feedback="thumbs-up")]),
        ], ["answer_ms_1", "answer_ms_2"], curator_note={"checked": True, "by": ["ann", "bo"]}),
        item("tr_tent", "temporal-reasoning", "How many days passed between buying the tent and the camping trip?",
             "18 days. 19 days (including the last day) is also acceptable.", [
                 ("answer_tr_1", 24, [U("Today I bought a new tent.", True), A("Great purchase.")]),
                 ("answer_tr_2", 24 + 18 * 24, [U("We are leaving for the camping trip today.", True), A("Have fun!")]),
             ], ["answer_tr_1", "answer_tr_2"]),
        item("pref_dinner", "single-session-preference", "Any ideas for dinner tonight?",
             "The user would prefer vegetarian recipes, since they mentioned they stopped eating meat.", [
                 ("answer_pref_1", 7, [U("I stopped eating meat a month ago.", True), A("Many tasty options exist.")]),
             ], ["answer_pref_1"]),
        item("ssa_rest", "single-session-assistant", "What was the third restaurant you recommended to me?", "Luigi's", [
            ("answer_ssa_1", 3, [U("Recommend three restaurants in Rome."),
                                 A("Da Enzo, Roscioli and Luigi's.", True)]),
            filler("ultrachat_x", 9, "train tickets"),
        ], ["answer_ssa_1"]),
    ]


EXPECTED_TEMPLATE = {
    "e47becba": "default", "0a995998_abs": "abstention", "ku_kayak": "knowledge-update", "ms_wed": "default",
    "tr_tent": "temporal-reasoning", "pref_dinner": "single-session-preference", "ssa_rest": "default",
}


def oracle_items() -> list[dict]:
    """Evidence sessions only, the newer before the older (the oracle file is not in time order)."""
    return [
        item("ku_oracle", "knowledge-update", "Where do I keep my kayak now?", "In the garage", [
            ("answer_new", 300, [U("I moved my kayak to the garage.", True), A("Good idea.", False)]),
            ("answer_old", 5, [U("I keep my kayak on the balcony.", True), A("That saves space.", False)]),
        ], ["answer_new", "answer_old"], asked=400),
        item("ssu_oracle", "single-session-user", "What degree did I graduate with?", "Business Administration", [
            ("answer_only", 30, [U("I graduated in Business Administration.", True)]),
        ], ["answer_only"]),
    ]


def write_json(path: Path, items) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(items, fh)
    return path


def write_jsonl(path: Path, items) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(it) + "\n")
    return path


def import_ok(src: Path, out: Path, *more: str) -> io.Dataset:
    res = lbs("import", "longmemeval", src, "-o", out, *more)
    assert res.returncode == 0, res.stderr
    return io.Dataset(out)


def error_line(res: subprocess.CompletedProcess) -> str:
    """Exit 2, no traceback, exactly one `error: ...` line (progress lines aside: see
    test_a_mid_file_error_is_the_only_stderr_line for the stricter one-line contract); returns it."""
    assert res.returncode == 2, f"rc={res.returncode} stderr={res.stderr!r}"
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


def rows_by_id(table: pa.Table, key: str) -> dict[str, dict]:
    return {r[key]: r for r in table.to_pylist()}


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> io.Dataset:
    """The seven official-layout items imported through the CLI (a module's shared dataset)."""
    root = tmp_path_factory.mktemp("lme")
    return import_ok(write_json(root / "longmemeval_s.json", official_items()), root / "ds")


# --- 1. import and export ---------------------------------------------------------------------------


def test_import_gives_one_episode_and_one_probe_per_question(imported):
    items = official_items()
    episodes, probes = rows_by_id(imported.episodes, "episode_id"), rows_by_id(imported.probes, "probe_id")
    assert imported.manifest["family"] == "longmemeval" and imported.manifest["variants"] == ["s"]
    assert imported.probes.column("probe_id").to_pylist() == [it["question_id"] for it in items]  # file order
    assert sorted(episodes) == sorted(probes) == sorted(it["question_id"] for it in items)
    for it in items:
        qid = it["question_id"]
        probe, episode, meta = probes[qid], episodes[qid], json.loads(probes[qid]["meta"])
        assert probe["episode_id"] == qid and probe["family"] == "longmemeval" and probe["variant"] == "s"
        assert probe["ability"] == it["question_type"]
        assert probe["bin"] == ("abstention" if qid.endswith("_abs") else "answerable")
        assert probe["metric"] == JUDGE and probe["length"] is None and probe["depth"] is None
        assert probe["gold"] == [str(it["answer"])]
        assert it["question"] in probe["question"] and it["question_date"] in probe["question"]
        assert meta["question_date"] == it["question_date"] and meta["question_type"] == it["question_type"]
        assert meta["answer_session_ids"] == it["answer_session_ids"]
        # the haystack as given: ids, dates, turns, has_answer (null when the turn had none)
        assert [s["session_id"] for s in episode["sessions"]] == it["haystack_session_ids"]
        assert [s["date"] for s in episode["sessions"]] == it["haystack_dates"]
        for stored, turns in zip(episode["sessions"], it["haystack_sessions"]):
            assert [(t["role"], t["content"], t["has_answer"]) for t in stored["turns"]] == [
                (t["role"], t["content"], t.get("has_answer")) for t in turns
            ]
        assert episode["n_tokens"] and episode["n_tokens"] > 0
    # abstention goes by the id, not the type: two knowledge-update items, one in each bin
    assert probes["0a995998_abs"]["ability"] == probes["ku_kayak"]["ability"] == "knowledge-update"
    assert probes["0a995998_abs"]["bin"] == "abstention" and probes["ku_kayak"]["bin"] == "answerable"
    marks = [t["has_answer"] for t in episodes["e47becba"]["sessions"][1]["turns"]]
    assert marks == [True, False] and episodes["e47becba"]["sessions"][0]["turns"][0]["has_answer"] is None


def test_export_round_trips_the_json_objects(imported, tmp_path):
    out = tmp_path / "out.json"
    res = lbs("export", "longmemeval", imported.path, "-o", out)
    assert res.returncode == 0, res.stderr
    back = json.loads(out.read_text())
    assert back == official_items()
    ms = next(it for it in back if it["question_id"] == "ms_wed")
    assert ms["answer"] == 3 and isinstance(ms["answer"], int)
    assert ms["curator_note"] == {"checked": True, "by": ["ann", "bo"]}
    assert ms["haystack_sessions"][2][1] == {"role": "assistant", "content": "Rest well!", "has_answer": False,
                                             "feedback": "thumbs-up"}
    assert "has_answer" not in back[0]["haystack_sessions"][0][0]  # absent stays absent
    again = lbs("export", "longmemeval", imported.path, "-o", out)  # never replaces a file
    assert "exists" in one_line_error(again)


def test_json_lines_input_gives_the_same_dataset(imported, tmp_path):
    ds = import_ok(write_jsonl(tmp_path / "longmemeval_s.jsonl", official_items()), tmp_path / "ds")
    assert ds.probes.equals(imported.probes) and ds.episodes.equals(imported.episodes)
    res = lbs("export", "longmemeval", ds.path, "-o", tmp_path / "back.json")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "back.json").read_text()) == official_items()


def test_indented_array_gives_the_same_dataset(imported, tmp_path):
    from data_builders.longmemeval import import_file

    src = tmp_path / "longmemeval_s_cleaned.json"
    src.write_text(json.dumps(official_items(), indent=2))
    manifest = import_file(src, tmp_path / "ds", None, "default", load_tokenizer("approx"), 128, False)
    assert manifest["variants"] == ["s"]
    ds = io.Dataset(tmp_path / "ds")
    assert ds.probes.equals(imported.probes) and ds.episodes.equals(imported.episodes)


def test_oracle_file_may_be_out_of_time_order_s_may_not(tmp_path):
    items = oracle_items()
    ds = import_ok(write_json(tmp_path / "longmemeval_oracle.json", items), tmp_path / "oracle")
    assert ds.manifest["variants"] == ["oracle"] and set(ds.probes.column("variant").to_pylist()) == {"oracle"}
    # stored as given (file order), rendered oldest first
    row = rows_by_id(ds.episodes, "episode_id")["ku_oracle"]
    assert [s["session_id"] for s in row["sessions"]] == ["answer_new", "answer_old"]
    text = FAMILY.episode(row).text
    assert text.index("balcony") < text.index("garage")
    assert text.index(day(5)) < text.index(day(300))
    res = lbs("export", "longmemeval", ds.path, "-o", tmp_path / "oracle_back.json")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "oracle_back.json").read_text()) == items

    as_s = write_json(tmp_path / "longmemeval_s.json", items)
    line = one_line_error(lbs("import", "longmemeval", as_s, "-o", tmp_path / "refused"))
    assert "ku_oracle" in line and "time order" in line and "--variant oracle" in line
    assert not (tmp_path / "refused").exists()
    forced = import_ok(as_s, tmp_path / "forced", "--variant", "oracle")
    assert forced.manifest["variants"] == ["oracle"] and forced.probes.num_rows == 2


# --- 2. validation errors through the CLI ------------------------------------------------------------


def _two() -> list[dict]:
    """A valid pair; the cases below break the second (item 1, question_id 'ku_kayak')."""
    items = official_items()
    return [items[0], items[2]]


def _set(key, value):
    def f(items):
        items[1][key] = value
        return items
    return f


def _edit(fn):
    def f(items):
        fn(items[1])
        return items
    return f


def _drop_field(it):
    del it["answer_session_ids"]


def _bad_haystack_date(it):
    it["haystack_dates"][1] = "2023-03-03 11:00"


def _out_of_order(it):
    it["haystack_dates"][0], it["haystack_dates"][2] = it["haystack_dates"][2], it["haystack_dates"][0]


def _short_dates(it):
    it["haystack_dates"].pop()


def _bad_role(it):
    it["haystack_sessions"][2][1]["role"] = "system"


def _no_content(it):
    del it["haystack_sessions"][0][0]["content"]


def _dup(items):
    items[1]["question_id"] = items[0]["question_id"]
    return items


ITEM_ERRORS = [
    ("missing-field", _edit(_drop_field), ["ku_kayak", "answer_session_ids", "missing"]),
    ("bad-question-date", _set("question_date", "2023/04/10 17:50"), ["ku_kayak", "question_date", "2023/04/10 17:50"]),
    ("bad-haystack-date", _edit(_bad_haystack_date), ["ku_kayak", "haystack_dates[1]", "2023-03-03 11:00"]),
    ("answer-session-absent", _set("answer_session_ids", ["answer_ku_1", "answer_nowhere"]),
     ["ku_kayak", "answer_nowhere", "not in the haystack"]),
    ("s-out-of-time-order", _edit(_out_of_order), ["ku_kayak", "time order"]),
    ("lengths-differ", _edit(_short_dates), ["ku_kayak", "length", "3", "2"]),
    ("bad-role", _edit(_bad_role), ["ku_kayak", "haystack_sessions[2][1]", "role"]),
    ("turn-without-content", _edit(_no_content), ["ku_kayak", "haystack_sessions[0][0]", "content"]),
    ("bad-has-answer", _edit(lambda it: it["haystack_sessions"][0][0].update(has_answer="yes")),
     ["ku_kayak", "haystack_sessions[0][0]", "has_answer"]),
    ("duplicate-id", _dup, ["e47becba", "duplicate"]),
    ("unknown-type", _set("question_type", "multi-hop"), ["ku_kayak", "multi-hop", "question_type"]),
]


@pytest.mark.parametrize("name,mutate,needles", ITEM_ERRORS, ids=[c[0] for c in ITEM_ERRORS])
def test_item_errors_name_the_item_and_leave_nothing(tmp_path, name, mutate, needles):
    src = write_json(tmp_path / "longmemeval_s.json", mutate(copy.deepcopy(_two())))
    line = error_line(lbs("import", "longmemeval", src, "-o", tmp_path / "out"))
    assert "item 1" in line, line
    for needle in needles:
        assert needle in line, (needle, line)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["longmemeval_s.json"]  # no stage left behind


def test_a_mid_file_error_is_the_only_stderr_line(tmp_path):
    """The CLI's contract (cli.py: bad input -> one line on stderr, exit 2) holds for an error in the
    second item too: no progress line, and no "done" for an import that failed."""
    items = _two()
    items[1]["question_type"] = "multi-hop"
    res = lbs("import", "longmemeval", write_json(tmp_path / "longmemeval_s.json", items), "-o", tmp_path / "out")
    assert "done" not in res.stderr, res.stderr
    line = one_line_error(res)
    assert "ku_kayak" in line and "multi-hop" in line


def test_an_error_after_written_episodes_leaves_nothing(tmp_path):
    """Episodes are written in batches as they stream in; a bad item after a batch leaves no dataset."""
    items = [item(f"q{i:02d}", "multi-session", f"question {i}?", "yes", [("answer_" + str(i), 1, [U("fact", True)])],
                  ["answer_" + str(i)]) for i in range(20)]
    items[17]["haystack_dates"][0] = "yesterday"
    res = lbs("import", "longmemeval", write_json(tmp_path / "longmemeval_m.json", items), "-o", tmp_path / "out")
    line = error_line(res)
    assert "item 17" in line and "q17" in line and "yesterday" in line
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["longmemeval_m.json"]


def _truncated(path: Path) -> Path:
    text = json.dumps(_two())
    path.write_text(text[: text.index('{"question_id": "ku_kayak"') + 30])
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


FILE_ERRORS = [
    ("invalid-json", lambda d: _truncated(d / "longmemeval_s.json"), [], ["not valid JSON", "longmemeval_s.json", "item 0"]),
    ("empty-file", lambda d: _text(d / "longmemeval_s.json", ""), [], ["empty"]),
    ("blank-file", lambda d: _text(d / "longmemeval_s.json", "\n  \n"), [], ["empty"]),
    ("empty-array", lambda d: write_json(d / "longmemeval_s.json", []), [], ["no items"]),
    ("no-variant-in-name", lambda d: write_json(d / "questions.json", _two()), [], ["questions.json", "--variant"]),
    ("bad-variant", lambda d: write_json(d / "questions.json", _two()), ["--variant", "x"], ["--variant", "oracle"]),
    ("nonexistent", lambda d: d / "longmemeval_s.json", [], ["not found", "longmemeval_s.json"]),
]


@pytest.mark.parametrize("name,make,more,needles", FILE_ERRORS, ids=[c[0] for c in FILE_ERRORS])
def test_file_errors(tmp_path, name, make, more, needles):
    src = tmp_path / "in"
    src.mkdir()
    path = make(src)
    line = error_line(lbs("import", "longmemeval", path, "-o", tmp_path / "out", *more))
    for needle in needles:
        assert needle in line, (needle, line)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


def test_invalid_json_lines_error_names_the_line(tmp_path):
    items = _two()
    path = tmp_path / "longmemeval_s.jsonl"
    path.write_text(json.dumps(items[0]) + "\n" + json.dumps(items[1])[:40] + "\n")
    line = error_line(lbs("import", "longmemeval", path, "-o", tmp_path / "out"))
    assert "not valid JSON" in line and "longmemeval_s.jsonl" in line
    # the second line (item 1) is the broken one: the message must not say it was read ("after item 1"),
    # as the JSON-array message does right ("after item 0" when item 1 is broken)
    assert "after item 1" not in line, line
    assert "item 0" in line or "item 1" in line or "line 2" in line, line
    assert not (tmp_path / "out").exists()


# --- 3. streaming: memory does not grow with the file ------------------------------------------------

_WORDS = ("the user asked about travel plans recipes budgets and the assistant answered with a long list "
          "of careful suggestions for every day of the week").split()
_CONTENTS = [" ".join(_WORDS[(k + i) % len(_WORDS)] for i in range(150)) for k in range(23)]


def write_big(path: Path, n_items: int, n_sessions: int = 50, n_turns: int = 10) -> int:
    """A file in the official layout written one item at a time; returns its size in bytes."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[")
        for i in range(n_items):
            ids = [f"s{i}_{j}" for j in range(n_sessions)]
            sessions = [
                [{"role": "user" if t % 2 == 0 else "assistant", "content": _CONTENTS[(i + j + t) % len(_CONTENTS)],
                  **({"has_answer": True} if j == 7 and t == 0 else {})} for t in range(n_turns)]
                for j in range(n_sessions)
            ]
            it = {"question_id": f"q{i:04d}" + ("_abs" if i % 10 == 0 else ""), "question_type": "multi-session",
                  "question": f"Question {i}?", "answer": f"answer {i}", "question_date": day(5 * n_sessions),
                  "haystack_session_ids": ids, "haystack_dates": [day(5 * j) for j in range(n_sessions)],
                  "haystack_sessions": sessions, "answer_session_ids": [ids[7]]}
            fh.write(("," if i else "") + json.dumps(it))
        fh.write("]")
    return path.stat().st_size


_PEAK = """
import resource, sys
from pathlib import Path
from data_builders.longmemeval import import_file
from longbench_suite.tokens import load_tokenizer
m = import_file(Path(sys.argv[1]), Path(sys.argv[2]), None, "default", load_tokenizer("approx"), 128, False)
print(m["counts"]["probes"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_import(src: Path, out: Path) -> tuple[int, int]:
    res = subprocess.run([sys.executable, "-c", _PEAK, str(src), str(out)], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    n, kib = res.stdout.split()
    return int(n), int(kib)


def test_streaming_import_memory_does_not_grow_with_the_file(tmp_path):
    small, big = tmp_path / "small_s.json", tmp_path / "big_s.json"
    small_size = write_big(small, 12)
    big_size = write_big(big, 480)
    try:
        assert 3e6 < small_size < 8e6 and big_size > 180e6
        n_small, rss_small = peak_import(small, tmp_path / "small_ds")
        n_big, rss_big = peak_import(big, tmp_path / "big_ds")
    finally:
        big.unlink()
    assert (n_small, n_big) == (12, 480)
    growth = (rss_big - rss_small) * 1024
    assert growth < 0.25 * big_size, f"peak RSS {rss_small} KiB -> {rss_big} KiB for a {big_size / 1e6:.0f} MB file"
    ds = io.Dataset(tmp_path / "big_ds")
    ds.verify()
    assert ds.episodes.num_rows == 480 and ds.probes.num_rows == 480
    ids = ds.probes.column("probe_id").to_pylist()
    assert ids == [f"q{i:04d}" + ("_abs" if i % 10 == 0 else "") for i in range(480)]
    assert ds.probes.column("bin").to_pylist().count("abstention") == 48
    last = ds.episodes.slice(479, 1).to_pylist()[0]
    assert len(last["sessions"]) == 50 and all(len(s["turns"]) == 10 for s in last["sessions"])
    assert last["sessions"][7]["turns"][0]["has_answer"] is True


# --- 4. judge templates ------------------------------------------------------------------------------


def test_judge_template_follows_type_and_abstention_id(imported):
    templates = FAMILY.load_judge_templates()
    items = {it["question_id"]: it for it in official_items()}
    for row in imported.probes.to_pylist():
        qid = row["probe_id"]
        response = f"my response to {qid}"
        name, prompt = FAMILY.judge_prompt(row, response, templates)
        assert name == EXPECTED_TEMPLATE[qid], qid
        assert items[qid]["question"] in prompt and str(items[qid]["answer"]) in prompt and response in prompt
        assert prompt == templates.templates[name].format(question=items[qid]["question"],
                                                          answer=str(items[qid]["answer"]), response=response)
    # LongMemEval's criteria per type (evaluate_qa.py): knowledge-update has only its own rule, not the
    # equivalence / intermediate-steps / subset rules of the other factual types
    ku, default = templates.templates["knowledge-update"], templates.templates["default"]
    assert "intermediate steps" in default and "only part of the information" in default
    assert "updated answer" in ku and not any(w in ku for w in ("equivalent", "intermediate", "part of the information"))
    assert "off-by-one" in templates.templates["temporal-reasoning"] and "rubric" in templates.templates["single-session-preference"]
    # abstention whatever the type: the same row relabelled keeps the abstention template
    abs_row = rows_by_id(imported.probes, "probe_id")["0a995998_abs"]
    for qtype in ("temporal-reasoning", "single-session-preference", "multi-session"):
        meta = {**json.loads(abs_row["meta"]), "question_type": qtype}
        assert FAMILY.judge_prompt({**abs_row, "ability": qtype, "meta": json.dumps(meta)}, "x", templates)[0] == "abstention"


def test_custom_judge_templates(tmp_path, imported):
    no_default = tmp_path / "no_default.toml"
    no_default.write_text('version = "v"\n[temporal-reasoning]\ntemplate = "Q {question} A {answer} R {response}"\n')
    with pytest.raises(UserError, match="default"):
        FAMILY.load_judge_templates(no_default)
    bad = tmp_path / "bad.toml"
    bad.write_text('[default]\ntemplate = "Q {question} A {answer} R {reply}"\n')
    with pytest.raises(UserError, match="placeholder"):
        FAMILY.load_judge_templates(bad)
    only_default = tmp_path / "only_default.toml"
    only_default.write_text('version = "mine-1"\n[default]\ntemplate = "Q {question} | A {answer} | R {response}"\n')
    with pytest.raises(UserError, match=r"\[abstention\] is required"):  # _abs items have their own criterion
        FAMILY.load_judge_templates(only_default)
    typo = tmp_path / "typo.toml"
    typo.write_text('[default]\ntemplate = "{question}{answer}{response}"\n[abstention]\ntemplate = "{question}{answer}{response}"\n'
                    '[temporal_reasoning]\ntemplate = "{question}{answer}{response}"\n')
    with pytest.raises(UserError, match=r"unknown section \[temporal_reasoning\]"):
        FAMILY.load_judge_templates(typo)
    two = tmp_path / "two.toml"
    two.write_text('version = "mine-1"\n[default]\ntemplate = "Q {question} | A {answer} | R {response}"\n'
                   '[abstention]\ntemplate = "ABS {question} | {answer} | {response}"\n')
    templates = FAMILY.load_judge_templates(two)
    assert templates.version == "mine-1"
    for row in imported.probes.to_pylist():  # a missing type falls back to default; _abs to abstention
        want = "abstention" if row["probe_id"].endswith("_abs") else "default"
        assert FAMILY.judge_prompt(row, "resp", templates)[0] == want


# --- 5. the judge flow through the CLI ---------------------------------------------------------------


def _scores(run: Path) -> pl.DataFrame:
    return pl.from_arrow(pq.read_table(run / "scores.parquet"))


def _judged(run: Path) -> dict[str, dict]:
    return {r["probe_id"]: r for r in _scores(run).filter(pl.col("metric") == JUDGE).iter_rows(named=True)}


def test_judge_flow_through_the_cli(imported, tmp_path):
    run = tmp_path / "run"
    env = {"LBS_CACHE_DIR": str(tmp_path / "cache")}
    ids = imported.probes.column("probe_id").to_pylist()
    res = lbs("run", imported.path, "-s", "oracle", "-o", run, "--judge", "constant,text=yes", env=env)
    assert res.returncode == 0, res.stderr
    judged = _judged(run)
    assert sorted(judged) == sorted(ids) and all(r["value"] == 1.0 for r in judged.values())
    for qid, r in judged.items():
        label = json.loads(r["judge"])
        assert label["spec"] == "constant,text=yes" and label["template"] == EXPECTED_TEMPLATE[qid]
    judgments = pq.read_table(run / "judgments.parquet").to_pylist()
    assert sorted(j["probe_id"] for j in judgments) == sorted(ids)
    assert all(j["reply"] == "yes" and j["label"] is True and j["error"] is None for j in judgments)
    assert {j["probe_id"]: j["template"] for j in judgments} == EXPECTED_TEMPLATE
    outputs = {p["probe_id"]: p["output"] for p in pq.read_table(run / "predictions.parquet").to_pylist()}
    assert all(j["response_sha"] == hashlib.sha256(outputs[j["probe_id"]].encode()).hexdigest() for j in judgments)
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["judge"]["identity"]["spec"] == "constant,text=yes" and manifest["judge"]["judged"] == len(ids)
    # the judge's model beside LongMemEval's (a constant names none: its spec stands for it)
    assert (manifest["judge"]["model"], manifest["judge"]["official_model"], manifest["judge"]["official"]) == \
        ("constant,text=yes", "gpt-4o-2024-08-06", False)
    from longbench_suite import leaderboard

    from longbench_suite.leaderboard_render import columns

    table = leaderboard.build([run])[0]
    board = table.row(0, named=True)
    assert board["judge"] == "constant,text=yes (not the official gpt-4o-2024-08-06)" and board["judge_official"] is False
    assert "judge" in [c.key for c in columns(table)]  # shown on the page and in the README table
    agg = pl.from_arrow(pq.read_table(run / "aggregates.parquet"))
    headline = agg.filter((pl.col("metric") == JUDGE) & (pl.col("ability") == "task-averaged") & pl.col("variant").is_null())
    assert headline.height == 1 and headline["mean"][0] == 1.0

    res = lbs("score", run, "--judge", "constant,text=no", env=env)
    assert res.returncode == 0, res.stderr
    judged = _judged(run)
    assert sorted(judged) == sorted(ids) and all(r["value"] == 0.0 for r in judged.values())
    assert all(json.loads(r["judge"])["spec"] == "constant,text=no" for r in judged.values())
    assert json.loads((run / "run.json").read_text())["judge"]["identity"]["spec"] == "constant,text=no"

    res = lbs("score", run, env=env)  # no judge: the verdicts on file are kept
    assert res.returncode == 0, res.stderr
    judged = _judged(run)
    assert sorted(judged) == sorted(ids) and all(r["value"] == 0.0 for r in judged.values())
    assert all(json.loads(r["judge"])["spec"] == "constant,text=no" for r in judged.values())

    # a verdict on an output that has since changed is stale: no judged score for that probe
    table = pq.read_table(run / "predictions.parquet")
    changed = [o if p != "tr_tent" else "a different answer" for p, o in
               zip(table.column("probe_id").to_pylist(), table.column("output").to_pylist())]
    table = table.set_column(table.schema.get_field_index("output"), "output", pa.array(changed, pa.string()))
    pq.write_table(table, run / "predictions.parquet")
    res = lbs("score", run, env=env)
    assert res.returncode == 0, res.stderr
    judged = _judged(run)
    assert sorted(judged) == sorted(set(ids) - {"tr_tent"})
    assert not _scores(run).filter(pl.col("probe_id") == "tr_tent").is_empty()  # its other metrics remain


def test_judge_model_against_the_official_one():
    """LongMemEval's metrics script accepts only gpt-4o-2024-08-06 verdicts: run.json says whether the
    judge was that model (as the endpoint named it), and a leaderboard row notes any other."""
    from longbench_suite.judge import judge_note, official_judge

    official = "gpt-4o-2024-08-06"
    named = {"spec": "openai:gpt-4o", "model": "gpt-4o", "version": official, "templates": "t"}
    assert official_judge(named, official) == {"model": official, "official_model": official, "official": True}
    mini = {**named, "spec": "openai:gpt-4o-mini", "model": "gpt-4o-mini", "version": "gpt-4o-mini-2024-07-18"}
    assert official_judge(mini, official)["official"] is False
    assert official_judge(mini, None)["official"] is None  # a family that pins no judge
    assert judge_note({"identity": named, **official_judge(named, official)}, "longmemeval") == (official, True)
    # an older run.json without the model keys: read from the identity, the official model from the family
    assert judge_note({"identity": mini}, "longmemeval") == ("gpt-4o-mini-2024-07-18 (not the official gpt-4o-2024-08-06)", False)
    assert judge_note(None, "longmemeval") == (None, None)


def test_failed_predictions_score_zero_on_the_judge(imported):
    probes = imported.probes
    gold = {r["probe_id"]: r["gold"][0] for r in probes.to_pylist()}

    def pred(pid, output, error=None):
        return {"run_id": "r", "system": "s", "condition": "in-context", "episode_id": pid, "probe_id": pid,
                "output": output, "choice_logprobs": None, "retrieved_ids": None, "prompt_tokens": None,
                "completion_tokens": None, "latency_s": None, "cache_hit": False, "error": error}

    predictions = pa.Table.from_pylist(
        [pred("e47becba", gold["e47becba"]), pred("ku_kayak", gold["ku_kayak"], error="TimeoutError: slow")],
        schema=schemas.PREDICTIONS)
    identity = json.dumps({"spec": "constant,text=yes", "model": None, "version": None, "templates": "t"})
    judgments = pa.Table.from_pylist([{
        "run_id": "r", "probe_id": "e47becba", "judge": identity, "template": "default",
        "response_sha": hashlib.sha256(gold["e47becba"].encode()).hexdigest(), "reply": "yes", "label": True, "error": None,
    }], schema=schemas.JUDGMENTS)
    scores = pl.from_arrow(score_predictions(predictions, probes, "longmemeval", judgments))
    judged = {r["probe_id"]: r for r in scores.filter(pl.col("metric") == JUDGE).iter_rows(named=True)}
    assert judged["e47becba"]["value"] == 1.0 and judged["ku_kayak"]["value"] == 0.0
    assert json.loads(judged["ku_kayak"]["judge"])["spec"] == "constant,text=yes"
    failed = scores.filter(pl.col("probe_id") == "ku_kayak")
    assert failed.height >= 2 and failed["value"].max() == 0.0  # the proxy too, though the output was right
    # a judge that failed on a probe gives no judged score for it (the judge's failure, not the system's)
    judgments = judgments.set_column(judgments.schema.get_field_index("label"), "label", pa.array([None], pa.bool_()))
    scores = pl.from_arrow(score_predictions(predictions, probes, "longmemeval", judgments))
    assert scores.filter((pl.col("metric") == JUDGE) & (pl.col("probe_id") == "e47becba")).is_empty()


def test_judge_refused_for_a_family_without_one(tmp_path):
    data = make_needle(tmp_path / "needle", ["single_1"], ["lengths=1k", "depths=50", "samples=2"])
    line = one_line_error(lbs("run", data, "-s", "oracle", "-o", tmp_path / "run", "--judge", "constant,text=yes"))
    assert "needle" in line and "judge" in line
    assert not (tmp_path / "run").exists()


# --- 6. aggregates: task-averaged and abstention rows ------------------------------------------------


def test_task_averaged_is_the_mean_of_type_means(tmp_path):
    def small(qid, qtype):
        return item(qid, qtype, f"question {qid}?", "yes", [("answer_" + qid, 1, [U("fact", True), A("ok")])],
                    ["answer_" + qid])

    items = [small("tr1", "temporal-reasoning"), small("tr2", "temporal-reasoning"), small("tr3", "temporal-reasoning"),
             small("ms1", "multi-session"), small("ku1", "knowledge-update"), small("ku2_abs", "knowledge-update")]
    values = {"tr1": 1.0, "tr2": 1.0, "tr3": 0.0, "ms1": 0.0, "ku1": 0.0, "ku2_abs": 1.0}
    ds = import_ok(write_json(tmp_path / "longmemeval_s.json", items), tmp_path / "ds")
    scores = pa.Table.from_pylist(
        [{"run_id": "r", "system": "sys", "condition": "in-context", "probe_id": p, "metric": JUDGE, "value": v,
          "judge": "{}"} for p, v in values.items()], schema=schemas.SCORES)
    agg = pl.from_arrow(aggregate(scores, ds.probes)).filter(pl.col("metric") == JUDGE)

    type_means = {"temporal-reasoning": 2 / 3, "multi-session": 0.0, "knowledge-update": 0.5}
    pooled = sum(values.values()) / len(values)
    task_avg = sum(type_means.values()) / 3
    assert abs(task_avg - pooled) > 0.05  # unbalanced types: the two means differ
    row = agg.filter((pl.col("ability") == "task-averaged") & pl.col("variant").is_null()).row(0, named=True)
    assert row["n"] == 6 and math.isclose(row["mean"], task_avg) and row["primary"] is True
    for qtype, mean in type_means.items():
        r = agg.filter((pl.col("ability") == qtype) & pl.col("bin").is_null() & pl.col("variant").is_null()).row(0, named=True)
        assert math.isclose(r["mean"], mean), qtype
    overall = agg.filter(pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "ability", "length", "depth", "bin")]))
    assert overall.height == 1 and math.isclose(overall["mean"][0], pooled)
    bins = agg.filter(pl.col("bin").is_not_null() & pl.col("variant").is_null())
    assert sorted(bins["bin"].to_list()) == ["abstention", "answerable"]  # one row each: (bin,) only
    per_variant = agg.filter(pl.col("bin").is_not_null() & pl.col("variant").is_not_null())
    assert sorted(per_variant["bin"].to_list()) == ["abstention", "answerable"]  # and (variant, bin): one variant here
    ab = bins.filter(pl.col("bin") == "abstention").row(0, named=True)
    assert ab["n"] == 1 and ab["mean"] == 1.0
    assert ab["variant"] is None and ab["length"] is None and ab["ability"] is None and ab["depth"] is None
    ans = bins.filter(pl.col("bin") == "answerable").row(0, named=True)
    assert ans["n"] == 5 and math.isclose(ans["mean"], 2 / 5)


# --- 7. retrieval metrics ----------------------------------------------------------------------------


def lme_ndcg(ranked: list[str], relevant: set[str], k: int) -> float:
    """LongMemEval's NDCG: dcg = rel_1 + sum_{i>=2} rel_i / log2(i); the ideal ranks every relevant id first."""
    def dcg(rels):
        rels = rels[:k]
        return (rels[0] + sum(r / math.log2(i) for i, r in enumerate(rels[1:], start=2))) if rels else 0.0
    return dcg([1.0 if r in relevant else 0.0 for r in ranked]) / dcg([1.0] * len(relevant))


def test_retrieval_metrics(imported):
    from tasks.longmemeval import public_session_id

    # ms_wed's two evidence sessions, as systems see them (official ids would give `answer_` away)
    ev = [public_session_id("ms_wed", sid) for sid in ("answer_ms_1", "answer_ms_2")]

    def pred(n, pid, retrieved):
        return {"run_id": "r", "system": "s", "condition": "in-memory", "episode_id": pid, "probe_id": pid,
                "output": "three", "choice_logprobs": None, "retrieved_ids": retrieved, "prompt_tokens": None,
                "completion_tokens": None, "latency_s": None, "cache_hit": False, "error": None}

    cases = {
        "both-interleaved": ["x", ev[0], "y", ev[1]],
        "one-only": [ev[1]],
        "late": ["a", "b", "c", "d", "e", ev[0], ev[1]],
        "dup": [ev[0], ev[0], "z", ev[1]],
        "none": [],
    }
    got = {}
    for name, retrieved in cases.items():
        predictions = pa.Table.from_pylist([pred(0, "ms_wed", retrieved)], schema=schemas.PREDICTIONS)
        scores = score_predictions(predictions, imported.probes, "longmemeval")
        got[name] = {r["metric"]: r["value"] for r in scores.to_pylist()}
    g = got["both-interleaved"]
    assert (g["recall_any@5"], g["recall_all@5"], g["recall_any@10"], g["recall_all@10"]) == (1.0, 1.0, 1.0, 1.0)
    assert math.isclose(g["ndcg_any@5"], 0.75) and math.isclose(g["ndcg_any@10"], 0.75)  # (1 + 1/2) / (1 + 1)
    g = got["one-only"]
    assert (g["recall_any@5"], g["recall_all@5"]) == (1.0, 0.0) and math.isclose(g["ndcg_any@5"], 0.5)
    g = got["late"]
    assert (g["recall_any@5"], g["recall_all@5"], g["ndcg_any@5"]) == (0.0, 0.0, 0.0)
    assert (g["recall_any@10"], g["recall_all@10"]) == (1.0, 1.0)
    assert math.isclose(g["ndcg_any@10"], (1 / math.log2(6) + 1 / math.log2(7)) / 2)
    g = got["dup"]  # a repeated id keeps its first rank: [ev1, z, ev2]
    assert math.isclose(g["ndcg_any@5"], lme_ndcg([ev[0], "z", ev[1]], set(ev), 5))
    assert math.isclose(g["ndcg_any@5"], (1 + 1 / math.log2(3)) / 2)
    g = got["none"]
    assert (g["recall_any@5"], g["recall_all@10"], g["ndcg_any@10"]) == (0.0, 0.0, 0.0)
    for name, retrieved in cases.items():
        for k in (5, 10):
            assert math.isclose(got[name][f"ndcg_any@{k}"], lme_ndcg(list(dict.fromkeys(retrieved)), set(ev), k)), name

    # none for abstention items (they have answer sessions, but LongMemEval skips them) or without ids
    predictions = pa.Table.from_pylist(
        [pred(0, "0a995998_abs", ["answer_0a9_1"]), pred(0, "e47becba", None), pred(0, "tr_tent", ["answer_tr_1"])],
        schema=schemas.PREDICTIONS)
    metrics_of = {}
    for r in score_predictions(predictions, imported.probes, "longmemeval").to_pylist():
        metrics_of.setdefault(r["probe_id"], set()).add(r["metric"])
    assert not any(m.startswith(("recall", "ndcg")) for m in metrics_of["0a995998_abs"] | metrics_of["e47becba"])
    assert {"recall_any@5", "recall_all@5", "ndcg_any@5", "recall_any@10", "recall_all@10", "ndcg_any@10"} <= metrics_of["tr_tent"]


# --- 7b. retrieval parity with LongMemEval's evaluation (run_retrieval.py, eval_utils.py) ------------
#
# Hand-written items in the official layout. The rules, read from LongMemEval's code:
# - an item counts only when it is not `_abs` and some user turn of its haystack has has_answer true;
# - a session is relevant when its id marks it as evidence AND it holds a user turn with has_answer
#   true (an `answer_` session without one is renamed `noans` there, i.e. irrelevant);
# - turn ids are `<session id>_<position>`, the position 1-based among ALL turns of the session, and only
#   user turns are ranked; the relevant turns are the marked user turns of evidence sessions;
# - recall_any@k: a relevant id in the top k; recall_all@k: every relevant id in it;
#   ndcg_any@k: dcg = rel_1 + sum_{i>=2} rel_i / log2(i), over the ideal dcg of the relevant ids;
# - session level from a turn ranking: a marked turn stands for its session, every other turn of an
#   evidence session for a second document (`noans_...`), other turns for their session; k grows until
#   the top holds k distinct documents (or passes the end), then recall is over the sessions of the
#   marked turns in that top and ndcg over the turns (ideal: the marked turns).


def parity_items() -> list[dict]:
    """Day 1 = 2023/03/01 (hours 0-14 after T0), day 2 = hour 24, day 3 = hours 47-51. Same-day inversions:
    f1 (day 1, 10:00) before p_1 (day 1, 09:00); f2 (day 3, 12:00) before p_3 (day 3, 08:00); in ret_none,
    its filler (day 1, 11:00) before its evidence (day 1, 10:00): 3 inverted sessions in 2 items."""
    return [
        item("ret_partial", "multi-session", "What are my cats called?", "Miso and Tofu", [
            filler("sharegpt_f1", 1, "a birthday poem"),
            ("answer_p_1", 0, [U("I adopted a cat named Miso.", True), A("Congratulations!"),
                               U("She is grey and very shy.", False), A("Give her time.")]),
            ("answer_p_2", 24, [U("Any tips for a first-time pet owner?", False), A("Be patient.")]),  # marked, no has_answer
            ("ultrachat_f2", 51, [U("How do I fix a flat tyre?"), A("Use a patch kit."),
                                  U("And a slow puncture?"), A("Check the valve.")]),
            ("answer_p_3", 47, [A("Hello! How can I help today?"), U("I adopted a second cat, Tofu.", True),
                                A("Two cats, lovely!")]),
        ], ["answer_p_1", "answer_p_2", "answer_p_3"]),
        item("ret_none", "single-session-assistant", "Which museum did you suggest?", "The Louvre", [
            filler("sharegpt_g1", 2, "packing lists"),
            ("answer_n_1", 1, [U("Suggest a museum in Paris.", False), A("The Louvre.", True)]),
        ], ["answer_n_1"]),
        item("ret_gone_abs", "single-session-user", "What is my dog called?",
             "The user never mentioned a dog; they mentioned a cat.", [
                 ("answer_a_1", 5, [U("My cat sleeps all day.", True), A("Cats do.")]),
                 filler("ultrachat_h1", 30, "soup recipes"),
             ], ["answer_a_1"]),
        # a marked user turn only in a session its id does not mark: counted, with nothing relevant
        item("ret_unmarked", "single-session-user", "Where did I travel?", "Lisbon", [
            ("sharegpt_u1", 5, [U("I just got back from Lisbon.", True), A("Welcome back!")]),
        ], []),
    ]


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> tuple[io.Dataset, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("parity")
    src = write_json(root / "longmemeval_s.json", parity_items())
    res = lbs("import", "longmemeval", src, "-o", root / "ds")
    assert res.returncode == 0, res.stderr
    return io.Dataset(root / "ds"), res


def test_same_day_time_inversions_import_with_one_warning(parity, tmp_path):
    ds, res = parity
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "3 session(s) in 2 item(s)" in warnings[0], res.stderr
    assert ds.manifest["source"]["same_day_time_inversions"] == {"sessions": 3, "items": 2}
    row = rows_by_id(ds.episodes, "episode_id")["ret_partial"]
    items = {it["question_id"]: it for it in parity_items()}
    assert [s["session_id"] for s in row["sessions"]] == items["ret_partial"]["haystack_session_ids"]  # as given
    text = FAMILY.episode(row).text  # shown by time, as LongMemEval's reader sorts them
    assert text.index("Miso") < text.index("birthday poem") and text.index("Tofu") < text.index("flat tyre")
    out = tmp_path / "back.json"
    assert lbs("export", "longmemeval", ds.path, "-o", out).returncode == 0
    assert json.loads(out.read_text()) == parity_items()
    clean = import_ok(write_json(tmp_path / "longmemeval_s.json", official_items()), tmp_path / "clean")
    assert clean.manifest["source"]["same_day_time_inversions"] == {"sessions": 0, "items": 0}
    # a session on an earlier DAY than the one above it is still refused (S/M haystacks are sorted by day)
    later = copy.deepcopy(parity_items()[:1])
    later[0]["haystack_dates"][2] = day(-24)
    line = one_line_error(lbs("import", "longmemeval", write_json(tmp_path / "bad_s.json", later), "-o", tmp_path / "bad",
                              "--variant", "s"))
    assert "ret_partial" in line and "earlier day" in line and not (tmp_path / "bad").exists()


def _pub(qid: str, sid: str, turn: int | None = None) -> str:
    from tasks.longmemeval import public_session_id

    return public_session_id(qid, sid) + ("" if turn is None else f"_{turn}")


def _retrieval_of(ds: io.Dataset, qid: str, retrieved: list[str]) -> dict[str, float]:
    row = {"run_id": "r", "system": "s", "condition": "in-memory", "episode_id": qid, "probe_id": qid, "output": "x",
           "choice_logprobs": None, "retrieved_ids": retrieved, "prompt_tokens": None, "completion_tokens": None,
           "latency_s": None, "cache_hit": False, "error": None}
    scores = score_predictions(pa.Table.from_pylist([row], schema=schemas.PREDICTIONS), ds.probes, "longmemeval")
    return {r["metric"]: r["value"] for r in scores.to_pylist() if "recall" in r["metric"] or "ndcg" in r["metric"]}


def _expect(got: dict[str, float], prefix: str, table: dict[int, tuple[float, float, float]]) -> None:
    """`table`: k -> (recall_any, recall_all, ndcg_any) expected at k."""
    for k, (any_, all_, ndcg) in table.items():
        assert got[f"{prefix}recall_any@{k}"] == any_, (prefix, k)
        assert got[f"{prefix}recall_all@{k}"] == all_, (prefix, k)
        assert math.isclose(got[f"{prefix}ndcg_any@{k}"], ndcg, abs_tol=1e-12), (prefix, k, got[f"{prefix}ndcg_any@{k}"], ndcg)


def test_which_items_and_sessions_count_for_retrieval(parity):
    ds, _ = parity
    probes = rows_by_id(ds.probes, "probe_id")
    # relevant: p_1 and p_3 (they hold marked user turns); p_2 is listed in answer_session_ids but holds none
    assert FAMILY.evidence_ids(probes["ret_partial"]) == [_pub("ret_partial", "answer_p_1"), _pub("ret_partial", "answer_p_3")]
    assert json.loads(probes["ret_partial"]["meta"])["evidence_turns"] == ["answer_p_1_1", "answer_p_3_2"]
    # left out: evidence said by the assistant only (no user turn marked), and an abstention item
    for qid in ("ret_none", "ret_gone_abs"):
        assert FAMILY.evidence_ids(probes[qid]) is None
        assert _retrieval_of(ds, qid, [_pub(qid, "answer_n_1"), _pub(qid, "answer_a_1")]) == {}
    # counted, but nothing relevant: recall_all is all() of nothing (1), the others 0, at every k
    got = _retrieval_of(ds, "ret_unmarked", [_pub("ret_unmarked", "sharegpt_u1")])
    _expect(got, "", {k: (0.0, 1.0, 0.0) for k in (1, 3, 5, 10, 30, 50)})


def test_session_ranking_metrics_match_the_official_rules(parity):
    ds, _ = parity
    q = "ret_partial"
    ranking = [_pub(q, s) for s in ("ultrachat_f2", "answer_p_2", "answer_p_3", "sharegpt_f1", "answer_p_1")]
    got = _retrieval_of(ds, q, ranking)
    # relevant {p_1 (rank 5), p_3 (rank 3)}; ideal dcg = 1 + 1/log2(2) = 2 from k = 2 on.
    # k=1: nothing; k=3: p_3 -> dcg 1/log2(3); k>=5: both -> dcg 1/log2(3) + 1/log2(5).
    both = (1 / math.log2(3) + 1 / math.log2(5)) / 2
    _expect(got, "", {1: (0.0, 0.0, 0.0), 3: (1.0, 0.0, 1 / math.log2(3) / 2), 5: (1.0, 1.0, both),
                      10: (1.0, 1.0, both), 30: (1.0, 1.0, both), 50: (1.0, 1.0, both)})
    assert not any(m.startswith("turn_") for m in got)  # session ids: no turn-level metrics


def test_turn_ranking_metrics_match_the_official_rules(parity):
    ds, _ = parity
    q = "ret_partial"
    # The 7 user turns (positions count assistant turns too): f1_1, p_1_1, p_1_3, p_2_1, f2_1, f2_3, p_3_2.
    ranking = [_pub(q, "answer_p_1", 3), _pub(q, "ultrachat_f2", 1), _pub(q, "ultrachat_f2", 3), _pub(q, "answer_p_3", 2),
               _pub(q, "answer_p_2", 1), _pub(q, "answer_p_1", 1), _pub(q, "sharegpt_f1", 1)]
    got = _retrieval_of(ds, q, ranking)
    # Turn level: relevant turns p_1_1 (rank 6) and p_3_2 (rank 4); ideal dcg 2.
    tail = (1 / math.log2(4) + 1 / math.log2(6)) / 2
    _expect(got, "turn_", {1: (0.0, 0.0, 0.0), 3: (0.0, 0.0, 0.0), 5: (1.0, 0.0, 1 / math.log2(4) / 2),
                           10: (1.0, 1.0, tail), 30: (1.0, 1.0, tail), 50: (1.0, 1.0, tail)})
    # Session level. Documents by rank: p_1 (other turn), f2, f2, p_3, p_2 (no marked turn), p_1, f1.
    # k=1: top 1 = [p_1_3], an unmarked turn of p_1: no session (a plain turn -> session map would say 1).
    # k=3: 3 distinct documents first at rank 4 -> top 4 holds p_3_2: any 1, all 0; ndcg over turns at 4.
    # k=5: 5 distinct documents first at rank 6 -> top 6 holds p_1_1 too: all 1; ndcg at 6.
    # k=10, 30, 50: the whole ranking (k passes its end): as k=5.
    _expect(got, "", {1: (0.0, 0.0, 0.0), 3: (1.0, 0.0, 1 / math.log2(4) / 2), 5: (1.0, 1.0, tail),
                      10: (1.0, 1.0, tail), 30: (1.0, 1.0, tail), 50: (1.0, 1.0, tail)})


def test_round_retrieval_reports_the_official_turn_ids(parity):
    """The retrieval adapter's round items carry LongMemEval's turn ids, so its rankings score as above."""
    from adapters._retrieval_items import reported_ids, round_items, session_items

    ds, _ = parity
    row = rows_by_id(ds.episodes, "episode_id")["ret_partial"]
    sessions = FAMILY.episode(row).sessions
    items = round_items(sessions)
    want = {_pub("ret_partial", sid, n) for sid, n in [("sharegpt_f1", 1), ("answer_p_1", 1), ("answer_p_1", 3),
                                                      ("answer_p_2", 1), ("ultrachat_f2", 1), ("ultrachat_f2", 3),
                                                      ("answer_p_3", 1), ("answer_p_3", 2)]}
    assert {it.source_id for it in items} == want  # answer_p_3_1: its leading assistant-only round
    # reported: every round ranked before the first round of a session beyond the top 2 sessions
    # (sessions reach the adapter by time: p_1, f1, p_2, p_3, f2; this ranking puts p_3 first)
    ranked = sorted(items, key=lambda it: (it.session_id != _pub("ret_partial", "answer_p_3"), it.order))
    assert reported_ids(ranked, 2) == [_pub("ret_partial", "answer_p_3", 1), _pub("ret_partial", "answer_p_3", 2),
                                       _pub("ret_partial", "answer_p_1", 1), _pub("ret_partial", "answer_p_1", 3)]
    assert reported_ids(session_items(sessions), 3) == [s["session_id"] for s in sessions[:3]]


# --- 8. what systems see -----------------------------------------------------------------------------


def test_systems_never_see_evidence_marks(imported):
    items = {it["question_id"]: it for it in official_items()}
    probes = rows_by_id(imported.probes, "probe_id")
    for row in imported.episodes.to_pylist():
        episode = FAMILY.episode(row)
        it = items[row["episode_id"]]
        for turns in it["haystack_sessions"]:
            for t in turns:
                assert json.dumps(t["content"])[1:-1] in episode.text
        assert "has_answer" not in episode.text and "thumbs-up" not in episode.text
        public = _public(episode)
        assert public.meta == {}
        assert all(t["has_answer"] is None for s in public.sessions for t in s["turns"])
        assert sum(len(s["turns"]) for s in public.sessions) == sum(map(len, it["haystack_sessions"]))
        template = Template.from_dict(episode.meta["template"])
        probe_row = probes[row["episode_id"]]
        in_context = FAMILY.probe(probe_row, episode, Condition.IN_CONTEXT)
        assert in_context.context == episode.text and in_context.question == probe_row["question"]
        for condition in (Condition.IN_MEMORY, Condition.NO_CONTEXT):
            p = FAMILY.probe(probe_row, episode, condition)
            assert p.context is None
            assert template.memory_instruction and p.question.startswith(template.memory_instruction)
            assert it["question"] in p.question and it["question_date"] in p.question
            assert "has_answer" not in p.question


def test_systems_see_neutral_session_ids(imported):
    """Official ids name evidence sessions `answer_...`: systems get a hash instead, and the retrieval
    gold is mapped the same way, so a retriever is scored on what it found, not on the id's prefix."""
    from tasks.longmemeval import FAMILY, public_session_id

    rows = {r["episode_id"]: r for r in imported.episodes.to_pylist()}
    for probe in imported.probes.to_pylist():
        row = rows[probe["episode_id"]]
        seen = [s["session_id"] for s in FAMILY.episode(row).sessions]
        assert not any("answer" in sid for sid in seen)
        assert sorted(seen) == sorted(public_session_id(row["episode_id"], s["session_id"]) for s in row["sessions"])
        evidence = FAMILY.evidence_ids(probe)
        if evidence:
            assert set(evidence) <= set(seen)
