"""The semantic-retrieval generators of the shared_context family (tasks/_shared_context_semantic.py):
code_retrieval over the standard library's source and doc_qa over a generated gazetteer."""

from __future__ import annotations

import random
import re
import string
import sys

import pytest

from longbench_suite import metrics
from longbench_suite.errors import UserError
from longbench_suite.scbench_metrics import repoqa_score
from longbench_suite.tokens import load_tokenizer
from tasks import _shared_context_semantic as sem
from tasks.shared_context import Budget

COUNTER = load_tokenizer("approx")


def make(variant: str, tokens: int, seed: int = 0, turns: int = 5):
    return sem.GENERATORS[variant](random.Random(seed), Budget(tokens, COUNTER), turns)


def oracle(gold: list[str]) -> str:
    return ", ".join(gold)  # what adapters/baselines.py Oracle answers


@pytest.mark.parametrize("variant", ["code_retrieval", "doc_qa"])
def test_same_seed_same_bytes_and_another_seed_differs(variant):
    a, b, c = make(variant, 2000, seed=7), make(variant, 2000, seed=7), make(variant, 2000, seed=8)
    assert a == b
    assert a.context != c.context


@pytest.mark.parametrize("variant", ["code_retrieval", "doc_qa"])
@pytest.mark.parametrize("tokens", [2000, 16000])
def test_context_fills_the_budget_within_two_percent_below(variant, tokens):
    for seed in range(3):
        shared = make(variant, tokens, seed)
        assert 0.98 * tokens <= COUNTER.count(shared.context) <= tokens
        assert len(shared.queries) == 5


@pytest.mark.parametrize("tokens", [2000, 16000])
def test_code_targets_appear_once_complete_unique_and_described_without_their_name(tokens):
    for seed in range(3):
        shared = make("code_retrieval", tokens, seed)
        names = [q.meta["name"] for q in shared.queries]
        assert len(set(names)) == len(names)
        assert shared.queries[0].meta["candidates"] == [[q.gold[1], q.gold[0]] for q in shared.queries]
        for q in shared.queries:
            source, name = q.gold
            assert shared.context.count(source) == 1
            assert len(re.findall(rf"\bdef {re.escape(name)}\(", shared.context)) == 1  # defined once
            assert source.lstrip().startswith(("def ", "async def ")) and name in source.split("\n")[0]
            assert 5 <= len(source.split("\n")) <= 60
            assert name.lower() not in q.question.lower()
            assert q.meta["file"] in shared.meta["files"] and f"# file: {q.meta['file']}" in shared.context
            assert q.metric == "scbench_repoqa" and q.reference == f"```python\n{source}\n```"
            assert 128 <= q.max_new_tokens <= 1024 and q.max_new_tokens >= min(1024, COUNTER.count(source))


def test_code_scores_oracle_one_fenced_answer_one_and_random_at_one_over_candidates():
    shared = make("code_retrieval", 16000, seed=3)
    for q in shared.queries:
        assert metrics.METRICS[q.metric](oracle(q.gold), q.gold) == 1.0
        assert repoqa_score(q.reference, q.gold[1], q.meta["candidates"]) == 1.0
        other = next(c for c in q.meta["candidates"] if c[0] != q.gold[1])
        assert repoqa_score(f"```python\n{other[1]}\n```", q.gold[1], q.meta["candidates"]) == 0.0
        assert metrics.chance_of(q.metric, q.choices, q.gold) == pytest.approx(1 / len(q.choices))


def test_code_meta_records_the_python_and_the_code_it_read():
    shared = make("code_retrieval", 16000, seed=1)
    meta = shared.meta
    assert meta["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert len(meta["files"]) == len(meta["lines"]) >= 1
    for name, (first, last) in zip(meta["files"], meta["lines"]):
        lines = sem.read_source(str(sem.stdlib_root()), name).lines
        assert "\n".join(lines[first - 1:last]) in shared.context
    import hashlib

    code = shared.context[len(sem._content("code_retrieval")["instruction"]):]
    assert hashlib.sha256(code.encode()).hexdigest() == meta["sha256"]


@pytest.mark.skipif(not (3, 11) <= sys.version_info[:2] <= (3, 13), reason="the list is of 3.11-3.13's files")
def test_every_listed_file_exists_in_this_python():
    names = sem._content("code_retrieval")["files"]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert sem.stdlib_files(sem.stdlib_root()) == names


def test_a_python_without_its_source_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError) as e:
        sem.code_retrieval(random.Random(0), Budget(2000, COUNTER), 5, root=tmp_path)
    assert "standard library" in str(e.value) and "\n" not in str(e.value)


def test_a_budget_larger_than_the_source_is_a_one_line_error(tmp_path):
    for name in ("bisect.py", "heapq.py"):  # a Python whose stdlib has only two of the files
        (tmp_path / name).write_text((sem.stdlib_root() / name).read_text(encoding="utf-8"), encoding="utf-8")
    shared = sem.code_retrieval(random.Random(0), Budget(2000, COUNTER), 5, root=tmp_path)
    assert set(shared.meta["files"]) <= {"bisect.py", "heapq.py"} and shared.queries
    with pytest.raises(UserError, match="fewer than the 50000 asked"):
        sem.code_retrieval(random.Random(0), Budget(50_000, COUNTER), 5, root=tmp_path)


def test_small_budgets_still_ask_something():
    for seed in range(5):
        assert make("code_retrieval", 256, seed).queries


@pytest.mark.parametrize("tokens", [2000, 16000])
def test_doc_facts_are_stated_once_and_the_answers_retrievable(tokens):
    for seed in range(3):
        shared = make("doc_qa", tokens, seed)
        facts = [q.meta["fact"] for q in shared.queries]
        assert len(set(facts)) == len(facts) and len({q.question for q in shared.queries}) == len(facts)
        for q in shared.queries:
            (gold,) = q.gold
            assert shared.context.count(q.meta["fact"]) == 1
            assert gold in q.meta["fact"] and gold.upper() not in q.question.upper()
            at = shared.context.index(q.meta["fact"])
            assert q.meta["depth"] == round(100 * at / len(shared.context), 1)
            assert metrics.METRICS[q.metric](oracle(q.gold), q.gold) == 1.0
            assert q.metric == "scbench_contains" and q.max_new_tokens == 40 and q.reference == gold
            # the pool: distinct values of the fact's type, all stated, none part of another
            assert gold in q.choices and len(set(q.choices)) == len(q.choices)
            assert all(c in shared.context for c in q.choices)
            assert metrics.chance_of(q.metric, q.choices, q.gold) == pytest.approx(1 / len(q.choices))


def test_doc_names_are_new_and_never_part_of_one_another():
    content = sem._content("doc_qa")
    for table in content["names"].values():
        names = sem.Names(random.Random(0), table)
        drawn = [names.draw() for _ in range(300)]
        up = [d.upper() for d in drawn]
        assert len(set(up)) == 300
        assert not [(a, b) for a in up for b in up if a != b and a in b]


def test_doc_content_states_each_field_in_one_sentence_and_asks_it():
    content = sem._content("doc_qa")
    types = set(content["ranges"]) | set(content["banks"]) | set(content["names"])
    for kind, spec in content["kinds"].items():
        fields = set(spec["fields"])
        assert set(spec["questions"]) == fields, kind
        assert {t.lstrip("@") for t in spec["fields"].values()} <= types, kind
        stated: list[str] = []
        for variants in spec["sentences"]:
            said = {sem.fields_of(v) and frozenset(sem.fields_of(v)) for v in variants}
            assert len(said) == 1, (kind, variants)  # every variant states the same fields
            stated += sorted(said.pop() or ())
        assert sorted(stated) == sorted(fields), kind  # each field in exactly one sentence
        for question in spec["questions"].values():
            assert [f for _, f, _, _ in string.Formatter().parse(question) if f] == ["name"]
    for bank, values in content["banks"].items():
        up = [v.upper() for v in values]
        assert len(set(up)) == len(up) and not [(a, b) for a in up for b in up if a != b and a in b], bank


def test_doc_qa_beyond_its_word_banks_is_a_one_line_error():
    with pytest.raises(UserError, match="word banks"):
        make("doc_qa", 2_000_000)
