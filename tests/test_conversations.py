"""Filler chat sessions and chat corpora read with `datasets` (data_builders/conversations.py)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_builders.conversations import TOPICS, chat_sessions_from_dataset, filler_session
from longbench_suite.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def sessions(seed: int, n: int, topic: str | None = None) -> list[list[dict]]:
    rng = random.Random(seed)
    return [filler_session(rng, topic) for _ in range(n)]


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def many() -> list[list[dict]]:
    return sessions(2024, 2000)


@pytest.fixture(scope="module")
def per_topic() -> dict[str, list[list[dict]]]:
    """Enough sessions per topic that every request and follow-up template is used."""
    return {t: sessions(i, 200, t) for i, t in enumerate(TOPICS)}


# --- filler sessions: determinism ---------------------------------------------------------------


def test_same_seed_gives_the_same_sessions_and_other_seeds_differ():
    assert sessions(7, 50) == sessions(7, 50)
    assert sessions(7, 50) != sessions(8, 50)
    a, b = sessions(1, 200), sessions(2, 200)
    assert sum(x != y for x, y in zip(a, b)) > 190


def test_no_topic_means_one_drawn_from_the_rng():
    r1, r2 = random.Random(3), random.Random(3)
    for _ in range(100):
        assert filler_session(r1) == filler_session(r2, r2.choice(TOPICS))


def test_uses_only_the_rng_passed_in(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the module-level random generator was used")

    for name in ("random", "choice", "choices", "sample", "randint", "randrange", "shuffle", "uniform", "seed"):
        monkeypatch.setattr(random, name, boom)
    assert len(sessions(0, 300)) == 300


def test_same_sessions_under_different_hash_seeds():
    # hash() of strings and set order change with PYTHONHASHSEED; the sessions must not
    code = ("import json, random; from data_builders.conversations import filler_session as f; "
            "r = random.Random(11); print(json.dumps([f(r) for _ in range(300)]))")
    outs = [subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")]
    assert outs[0] == outs[1]
    assert json.loads(outs[0]) == sessions(11, 300)


def test_unknown_topic_is_a_user_error():
    with pytest.raises(UserError, match="unknown filler topic 'knitting'.*recipes"):
        filler_session(random.Random(0), "knitting")


# --- filler sessions: shape ---------------------------------------------------------------------


def test_turns_alternate_from_user_to_assistant(many):
    for s in many:
        assert 2 <= len(s) <= 10 and len(s) % 2 == 0
        assert [t["role"] for t in s] == ["user", "assistant"] * (len(s) // 2)
        for t in s:
            assert set(t) == {"role", "content"}
            assert isinstance(t["content"], str) and t["content"].strip() == t["content"] != ""


def test_turn_counts_are_mostly_four_to_six(many):
    counts = Counter(len(s) for s in many)
    assert set(counts) <= {2, 4, 6, 8, 10}
    assert (counts[4] + counts[6]) / len(many) >= 0.7
    assert counts[2] and counts[8]  # the tails occur too


def test_replies_are_60_to_300_words_and_requests_are_short(many, per_topic):
    for s in many + [s for group in per_topic.values() for s in group]:
        for t in s:
            n = words(t["content"])
            if t["role"] == "assistant":
                assert 60 <= n <= 300, t["content"]
            else:
                assert 2 <= n <= 40, t["content"]


def test_replies_look_like_assistant_answers(many):
    for s in many:
        for t in s[1::2]:
            paras = t["content"].split("\n\n")
            assert len(paras) >= 3  # intro, list (maybe code), closing offer
            assert not re.match(r"(\d+\.|-) ", paras[0])
            body = [line for p in paras[1:-1] for line in p.splitlines()]
            listed = [line for line in body if re.match(r"(\d+\.|-) ", line)]
            assert len(listed) >= 4, t["content"]
            numbers = [int(line.split(".")[0]) for line in listed if line[0].isdigit()]
            assert numbers in ([], list(range(1, len(numbers) + 1)))
            assert paras[-1].endswith(("?", ".")) and not re.match(r"(\d+\.|-) ", paras[-1])
        offers = [t["content"].split("\n\n")[-1] for t in s[1::2]]
        assert len(set(offers)) == len(offers)  # no closing offer repeated within a session


def test_every_slot_is_filled(per_topic):
    for group in per_topic.values():
        for s in group:
            for t in s:
                prose = re.sub(r"```.*?```", "", t["content"], flags=re.S)  # code keeps its braces
                assert "{" not in prose and "}" not in prose, t["content"]


def test_code_answers_have_a_fenced_snippet(per_topic):
    replies = [t["content"] for s in per_topic["python"] for t in s[1::2]]
    fenced = [r for r in replies if re.search(r"```python\n.+\n```", r, flags=re.S)]
    assert len(fenced) > len(replies) / 3
    for r in fenced:
        code = re.search(r"```python\n(.+?)\n```", r, flags=re.S).group(1)
        compile(code, "<snippet>", "exec")


def test_slots_stay_consistent_within_a_session(per_topic):
    cities = ["Lisbon", "Kyoto", "Barcelona", "Edinburgh", "Prague", "Vienna", "Montreal", "Mexico City", "Seoul",
              "Copenhagen", "Istanbul", "Budapest"]
    for s in per_topic["travel_itinerary"]:
        text = " ".join(t["content"] for t in s)
        assert sum(city in text for city in cities) == 1, text


# --- filler sessions: variety -------------------------------------------------------------------


def test_at_least_25_topics_in_2000_sessions():
    rng = random.Random(99)
    seen = Counter()
    for _ in range(2000):
        topic = rng.choice(TOPICS)
        filler_session(rng, topic)
        seen[topic] += 1
    assert len(TOPICS) >= 25 and len(seen) >= 25


def test_topics_read_differently_and_vary_inside(per_topic):
    strip = re.compile(r"^(Hi! |Hello! |Hey, quick question\. )")
    openers = {t: {strip.sub("", s[0]["content"]) for s in group} for t, group in per_topic.items()}
    for t, ops in openers.items():
        assert len(ops) >= 4, (t, ops)  # several requests and phrasings per topic
        others = set().union(*(o for u, o in openers.items() if u != t))
        assert not ops & others, t
    first_replies = {s[1]["content"] for group in per_topic.values() for s in group}
    assert len(first_replies) > 2000


def test_follow_ups_refer_to_the_previous_answer(many):
    follow_ups = [t["content"] for s in many for t in s[2::2]]
    assert len(follow_ups) > 1500
    referring = [f for f in follow_ups if re.search(r"\b(that|it|those|this|they)\b|^What about", f, re.I)]
    assert len(referring) / len(follow_ups) > 0.5


# --- filler sessions: the user never states personal facts ---------------------------------------

PERSONAL = re.compile(
    r"\b(?:my|mine|our|ours|myself|ourselves|we|we're|we've|we'd|us)\b"
    r"|\bI(?:'m|'ve|'d|'ll)"
    r"|\bI\s+(?:am|was|have|had|live|lived|moved|work|worked|bought|own|got|just|recently|usually|always|love|like"
    r"|hate|need|want|plan|will|started|adopted|paid|spent|go|went|drive|run|ran|play|use|take|took|visited)\b"
    r"|\b(?:dogs?|cats?|pupp(?:y|ies)|kittens?|pets?|wife|husband|sons?|daughters?|kids?|child|children|teens?"
    r"|teenagers?|mom|dad|mum|mother|father|brother|sister|parents?|boyfriend|girlfriend|fianc[eé]e?|partner|boss"
    r"|coworkers?|colleagues?|roommates?|commute|salary|apartment|landlord|doctor|diagnosed|allerg(?:y|ic)|car"
    r"|birthday|anniversary|wedding|employer|hometown)\b",
    re.IGNORECASE,
)
QUESTION_I = {"do", "should", "can", "could", "would", "might"}  # "How do I ...", "Can I ..." ask, never state


def states_personal_fact(text: str) -> bool:
    if PERSONAL.search(text):
        return True
    for m in re.finditer(r"\bI\b", text):
        before = re.findall(r"[A-Za-z']+", text[: m.start()])
        if not before or before[-1].lower() not in QUESTION_I:
            return True
    return False


@pytest.mark.parametrize("text", [
    "I have a dog named Rex.", "My wife loves Lisbon.", "I live in Denver.", "I bought a bike for $300.",
    "We moved in March.", "I'm a nurse, by the way.", "Suggest a gift for my sister.", "I work at a bakery.",
    "Our cat is sick.", "Ideas for a 40th birthday party?", "I usually commute by train.", "Since I retired, what now?",
])
def test_the_personal_fact_check_catches_statements(text):
    assert states_personal_fact(text)


@pytest.mark.parametrize("text", [
    "How do I remove duplicates from a list?", "Can I freeze it?", "Could you make that vegetarian?",
    "What about for a beginner?", "Suggest a three-day itinerary for Lisbon.", "Which of those plants are non-toxic?",
])
def test_the_personal_fact_check_allows_general_questions(text):
    assert not states_personal_fact(text)


def test_users_never_state_personal_facts(many, per_topic):
    for s in many + [s for group in per_topic.values() for s in group]:
        for t in s[0::2]:
            assert not states_personal_fact(t["content"]), t["content"]


def test_assistant_never_attributes_personal_facts_to_the_user(many):
    yours = re.compile(r"\byour (?:dog|cat|pet|wife|husband|son|daughter|kids|children|partner|boss|job|commute"
                       r"|car|apartment|house|home|salary|birthday|trip to|family)\b"
                       r"|\bsince you\b|\bas you (?:said|mentioned)\b", re.I)
    for s in many:
        for t in s[1::2]:
            assert not yours.search(t["content"]), t["content"]


def test_2000_sessions_are_fast():
    start = time.perf_counter()
    sessions(5, 2000)
    assert time.perf_counter() - start < 1.0


# --- the user's chat corpus through `datasets` ---------------------------------------------------


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


def test_openai_style_parquet_with_the_column_detected(tmp_path):
    path = tmp_path / "chats.parquet"
    pq.write_table(pa.table({
        "id": [1, 2, 3],
        "messages": [
            [{"role": "system", "content": "Be brief."}, u("How do magnets work?"), a("Moving charges..."),
             u("And compasses?"), a("A compass needle...")],
            [u("Only a question, never answered.")],  # fewer than 2 turns: skipped
            [u("Name a prime."), a("7.")],
        ],
    }), path)
    got = chat_sessions_from_dataset(str(path))
    assert iter(got) is got  # an iterator, not a list
    assert list(got) == [
        [u("How do magnets work?"), a("Moving charges..."), u("And compasses?"), a("A compass needle...")],
        [u("Name a prime."), a("7.")],
    ]


def test_sharegpt_style_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "share.jsonl", [
        {"conversations": [{"from": "system", "value": "You are helpful."}, {"from": "human", "value": "Hi there"},
                           {"from": "gpt", "value": "Hello!"}, {"from": "user", "value": "What is 2+2?"},
                           {"from": "chatgpt", "value": "4"}]},
        {"conversations": [{"from": "human", "value": "Capital of Peru?"}, {"from": "bard", "value": "Lima."},
                           {"from": "human", "value": "And Chile?"}, {"from": "bing", "value": "Santiago."}]},
    ])
    assert list(chat_sessions_from_dataset(str(path))) == [
        [u("Hi there"), a("Hello!"), u("What is 2+2?"), a("4")],
        [u("Capital of Peru?"), a("Lima."), u("And Chile?"), a("Santiago.")],
    ]


def test_explicit_column_wins_over_detection(tmp_path):
    path = tmp_path / "two.parquet"
    pq.write_table(pa.table({
        "messages": [[u("from messages"), a("reply one")]],
        "dialog": [[u("from dialog"), a("reply two")]],
    }), path)
    assert list(chat_sessions_from_dataset(str(path))) == [[u("from messages"), a("reply one")]]
    assert list(chat_sessions_from_dataset(str(path), column="dialog")) == [[u("from dialog"), a("reply two")]]


def test_a_file_mixing_openai_and_sharegpt_turns(tmp_path):
    # arrow unifies the two schemas, filling the other style's keys with None
    path = write_jsonl(tmp_path / "mixed.jsonl", [
        {"messages": [u("openai q"), a("openai r")]},
        {"messages": [{"from": "human", "value": "sharegpt q"}, {"from": "gpt", "value": "sharegpt r"}]},
    ])
    assert list(chat_sessions_from_dataset(str(path))) == [[u("openai q"), a("openai r")],
                                                           [u("sharegpt q"), a("sharegpt r")]]


@pytest.mark.parametrize("column", ["conversation", "dialog", "chat"])
def test_other_conversation_column_names_are_detected(tmp_path, column):
    path = write_jsonl(tmp_path / "c.jsonl", [{"title": "x", column: [u("q"), a("r")]}])
    assert list(chat_sessions_from_dataset(str(path))) == [[u("q"), a("r")]]


def test_system_empty_and_leading_assistant_turns_are_dropped_and_same_role_turns_merged(tmp_path):
    path = write_jsonl(tmp_path / "messy.jsonl", [
        {"messages": [a("Welcome! Ask me anything."), {"role": "system", "content": "rules"}, u("First part."),
                      u("  "), {"role": "system", "content": "more rules"}, u("Second part."), a("Answer A."),
                      a(""), a("Answer B."), u("Thanks.")]},
        {"messages": [a("Only the assistant speaks."), a("Still only it.")]},  # nothing left: skipped
        {"messages": [u("Hello"), {"role": "system", "content": "x"}, a("")]},  # one turn left: skipped
    ])
    # the unanswered last "Thanks." is dropped: sessions end with the assistant, as fillers do
    assert list(chat_sessions_from_dataset(str(path))) == [
        [u("First part.\n\nSecond part."), a("Answer A.\n\nAnswer B.")],
    ]


def test_tool_and_other_speakers_are_dropped(tmp_path):
    path = write_jsonl(tmp_path / "agent.jsonl", [
        {"messages": [u("Weather in Oslo?"), {"role": "tool", "content": "{\"temp\": 3}"}, a("It is 3 degrees."),
                      {"role": "narrator", "content": "x"}]},
    ])
    assert list(chat_sessions_from_dataset(str(path))) == [[u("Weather in Oslo?"), a("It is 3 degrees.")]]


def test_a_save_to_disk_directory_and_its_splits(tmp_path):
    import datasets

    rows = {"messages": [[u("q1"), a("r1")], [u("q2"), a("r2")]]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "one"))
    assert len(list(chat_sessions_from_dataset(str(tmp_path / "one")))) == 2
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows),
                          "test": datasets.Dataset.from_dict({"messages": [[u("t"), a("s")]]})}).save_to_disk(
        str(tmp_path / "dict"))
    assert list(chat_sessions_from_dataset(str(tmp_path / "dict"), split="test")) == [[u("t"), a("s")]]
    with pytest.raises(UserError, match="no split 'dev'; splits: train, test"):
        chat_sessions_from_dataset(str(tmp_path / "dict"), split="dev")


def test_rows_are_read_lazily_and_a_malformed_row_names_its_index(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"messages": [[u("q"), a("r")], [u("q2"), a("r2")], None]}), path)
    it = chat_sessions_from_dataset(str(path))
    assert next(it) == [u("q"), a("r")]  # the bad row has not been read yet
    with pytest.raises(UserError, match=r"row 2: the conversation is NoneType, not a list of turns"):
        list(it)


@pytest.mark.parametrize("rows, message", [
    ([{"messages": "just a string"}], r"row 0: the conversation is str"),
    ([{"messages": [{"speaker": "user", "text": "hi"}]}], r"row 0: a turn has no role/content or from/value"),
    ([{"messages": [["user", "hi"]]}], r"row 0: a turn is list"),
])
def test_turns_of_the_wrong_shape(tmp_path, rows, message):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(UserError, match=message):
        list(chat_sessions_from_dataset(str(path)))


def test_a_missing_file_is_a_user_error(tmp_path):
    for missing in (tmp_path / "nope.parquet", tmp_path / "nope"):
        with pytest.raises(UserError, match="dataset file not found"):
            chat_sessions_from_dataset(str(missing))


def test_a_missing_column_names_the_columns_present(tmp_path):
    path = write_jsonl(tmp_path / "plain.jsonl", [{"text": "hello", "label": 1}])
    with pytest.raises(UserError, match=r"no conversation column .*; columns: text, label$"):
        chat_sessions_from_dataset(str(path))
    with pytest.raises(UserError, match=r"no column 'messages'; columns: text, label$"):
        chat_sessions_from_dataset(str(path), column="messages")


def test_an_unknown_file_type_is_a_user_error(tmp_path):
    path = tmp_path / "chats.txt"
    path.write_text("hello")
    with pytest.raises(UserError, match="unknown dataset file type '.txt'"):
        chat_sessions_from_dataset(str(path))


def test_errors_are_one_line(tmp_path):
    path = write_jsonl(tmp_path / "plain.jsonl", [{"text": "hello"}])
    for call in (lambda: chat_sessions_from_dataset(str(tmp_path / "x.json")),
                 lambda: chat_sessions_from_dataset(str(path)),
                 lambda: list(chat_sessions_from_dataset(str(write_jsonl(tmp_path / "b.jsonl", [{"chat": "s"}]))))):
        with pytest.raises(UserError) as e:
            call()
        assert "\n" not in str(e.value)
