"""The synthetic shared-context generators (tasks/_shared_context_synthetic.py): same seed same bytes,
the context fills its token budget from below, every turn asks a different, well-defined item whose
gold the oracle's output and the reference both score 1.0 with, and the chance column is what a
uniform pick among the choices scores. Each task's answers are recomputed here from the context text."""

from __future__ import annotations

import ast
import json
import random
import re
from collections import Counter

import pytest

from longbench_suite import metrics
from longbench_suite.errors import UserError
from longbench_suite.tokens import load_tokenizer
from tasks import _shared_context_synthetic as syn
from tasks.shared_context import Budget, Shared

NAMES = list(syn.GENERATORS)


@pytest.fixture(scope="module")
def approx():
    return load_tokenizer("approx")


@pytest.fixture(scope="module")
def made(approx) -> dict[str, Shared]:
    return {name: syn.GENERATORS[name](random.Random(5), Budget(4096, approx), 5) for name in NAMES}


def _plain(shared: Shared) -> list:
    return [shared.context, shared.meta, [vars(q) for q in shared.queries]]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes(name, approx):
    gen = syn.GENERATORS[name]
    one, two = (json.dumps(_plain(gen(random.Random(11), Budget(3000, approx), 5))) for _ in range(2))
    assert one == two
    assert one != json.dumps(_plain(gen(random.Random(12), Budget(3000, approx), 5)))


@pytest.mark.parametrize("tokenizer", ["approx", "embedded"])
@pytest.mark.parametrize("tokens", [2048, 16384])
def test_the_context_fills_its_budget_from_below(tokenizer, tokens):
    counter = load_tokenizer(tokenizer)
    for name in NAMES:
        for seed in range(2):
            shared = syn.GENERATORS[name](random.Random(seed), Budget(tokens, counter), 5)
            n = counter.count(shared.context)
            slack = tokens // 50  # 2%
            if name == "kv":  # whole JSON pairs only: up to one pair short (~70 tokens of SmolLM2)
                slack = max(slack, max(counter.count_batch(re.findall(r'^  ".*$', shared.context, re.M))))
            assert tokens - slack <= n <= tokens, (name, seed, n)


@pytest.mark.parametrize("name", NAMES)
def test_turns_ask_different_items_that_oracle_and_reference_answer(name, made):
    shared = made[name]
    assert len(shared.queries) == 5
    assert len({q.question for q in shared.queries}) == 5
    assert len({tuple(q.gold) for q in shared.queries}) == 5
    for q in shared.queries:
        score = metrics.METRICS[q.metric]
        assert score(", ".join(q.gold), q.gold) == 1.0  # the oracle's output (adapters/baselines.py)
        assert score(q.reference, q.gold) == 1.0
        assert q.metric in metrics.METRICS and q.max_new_tokens > 0
        if name != "many_shot":  # many_shot's gold is a label of the examples, the rest are items of the context
            assert all(g in shared.context for g in q.gold)


@pytest.mark.parametrize("name", NAMES)
def test_chance_is_one_over_the_choices(name, made):
    """Exactly the gold items are choices, each scoring 1/len(gold): a uniform pick scores 1/len(choices),
    and that is what the chance column (the metric's mean over the choices) says."""
    for q in made[name].queries:
        assert len(set(q.choices)) == len(q.choices) > 1
        score = metrics.METRICS[q.metric]
        assert sorted(c for c in q.choices if score(c, q.gold) > 0) == sorted(q.gold)
        assert metrics.chance_of(q.metric, q.choices, q.gold) == pytest.approx(1 / len(q.choices))


def test_kv_values_are_those_of_the_asked_keys(made):
    shared = made["kv"]
    obj = json.loads(shared.context[shared.context.index("{"):])
    assert len(obj) == shared.meta["pairs"]
    depths = []
    for q in shared.queries:
        assert q.gold == [obj[q.meta["key"]]] and q.meta["key"] in q.question
        depths.append(q.meta["depth"])
    assert max(depths) - min(depths) >= 40  # keys spread over the object


def test_prefix_suffix_has_one_answer_and_decoys_for_each_end(made):
    shared = made["prefix_suffix"]
    strings = shared.context.split("\n\n", 1)[1].split("\n")
    assert len(strings) == len(set(strings)) == shared.meta["strings"]
    for q in shared.queries:
        p, s = q.meta["prefix"], q.meta["suffix"]
        assert [x for x in strings if x.startswith(p) and x.endswith(s)] == q.gold
        assert sum(x.startswith(p) for x in strings) > syn.DECOYS and sum(x.endswith(s) for x in strings) > syn.DECOYS


def test_vt_chains_resolve_to_exactly_the_gold_names(made):
    shared = made["vt"]
    value: dict[str, str] = {}
    for line in shared.context.splitlines():
        if m := re.fullmatch(r"VAR (\w+) = (VAR )?(\w+)", line):
            assert m[1] not in value  # every variable is assigned once
            value[m[1]] = value[m[3]] if m[2] else m[3]  # a copy comes after its source
    for q in shared.queries:
        assert sorted(n for n, v in value.items() if v == q.meta["value"]) == sorted(q.gold)
        assert len(q.gold) == syn.VT_NAMES


def test_math_find_answers_the_asked_rank(made):
    shared = made["math_find"]
    t = syn._table("math_find")
    numbers = ast.literal_eval(shared.context[shared.context.index("["):])
    assert len(numbers) % 2 == 1 and len(set(numbers)) == len(numbers) and min(numbers) >= 0
    ordered = sorted(numbers)
    rank = {o + t["largest"]: -i for i, o in enumerate(t["ordinals"], 1)} | {
        o + t["smallest"]: i - 1 for i, o in enumerate(t["ordinals"], 1)} | {t["median"]: len(numbers) // 2}
    assert [q.meta["target"] for q in shared.queries] and all(q.meta["target"] in q.question for q in shared.queries)
    for q in shared.queries:
        assert q.gold == [str(ordered[rank[q.meta["target"]]])]


def test_cwe_lists_have_ten_clear_common_words(made):
    shared = made["cwe"]
    lists = re.split(r"\n\n(?=List )", shared.context.split("\n\n", 1)[1])
    assert len(lists) == len(shared.queries) == shared.meta["lists"]
    by_label = {}
    for block in lists:
        head, *lines = block.split("\n")
        label = re.fullmatch(r"List (\w+):", head)[1]
        assert [int(ln.split(". ")[0]) for ln in lines] == list(range(1, len(lines) + 1))
        by_label[label] = Counter(ln.split(". ", 1)[1] for ln in lines)
    for q in shared.queries:
        counts = by_label[q.meta["list"]]
        top = {w for w, _ in counts.most_common(syn.CWE_COMMON)}
        assert top == set(q.gold)
        assert min(counts[w] for w in top) > max(c for w, c in counts.items() if w not in top)


def test_fwe_groups_are_separated_by_counts(made):
    shared = made["fwe"]
    t = syn._table("fwe")
    counts = Counter(w for w in shared.context.split("\n\n", 1)[1].split(" ") if w != t["dots"])
    ranked = sorted(counts.values(), reverse=True)
    for q in shared.queries:
        first = q.meta["ranks"][0] - 1
        assert sorted((counts[w] for w in q.gold), reverse=True) == ranked[first: first + syn.FWE_GROUP]
        # no tie across the group's edges: the group is one set of words
        assert first == 0 or ranked[first - 1] > ranked[first]
        assert ranked[first + syn.FWE_GROUP - 1] > ranked[first + syn.FWE_GROUP]
        assert q.question == (t["question_after"].format(skip=first) if first else t["question_top"])


def test_many_shot_asks_things_the_examples_never_show(made):
    shared = made["many_shot"]
    t = syn._table("many_shot")
    examples = shared.context.split("\n\n")[1:]
    labels = shared.meta["labels"]
    assert len(labels) == len(set(labels.values())) == syn.MANY_SHOT_KINDS
    for ex in examples:
        text, label = re.fullmatch(r"Input: (.*)\nLabel: (\w+)", ex).groups()
        kind = [k for k, lab in labels.items() if lab == label][0]
        assert any(re.search(rf"\b{re.escape(noun)}\b", text) for noun in t["kinds"][kind])
    assert {ex.rsplit(" ", 1)[1] for ex in examples} == set(labels.values())
    for q in shared.queries:
        assert q.gold == [labels[q.meta["kind"]]] and q.meta["noun"] in q.question
        assert not re.search(rf"\b{re.escape(q.meta['noun'])}\b", shared.context)


def test_word_banks_are_unambiguous():
    labels = syn._table("many_shot")["labels"]
    assert not any(a != b and a.upper() in b.upper() for a in labels for b in labels)  # scbench_contains
    vocab = syn._cwe_vocabulary()
    assert len(vocab) > 500 and not any(a != b and a in b for a in vocab for b in vocab)  # string_match_all
    kinds = syn._table("many_shot")["kinds"]
    nouns = [n for ns in kinds.values() for n in ns]
    assert len(nouns) == len(set(nouns))


@pytest.mark.parametrize("name", NAMES)
def test_too_small_a_budget_is_one_line_or_fewer_turns(name, approx):
    try:
        shared = syn.GENERATORS[name](random.Random(0), Budget(40, approx), 5)
    except UserError as e:
        assert "\n" not in str(e) and "too small" in str(e)
    else:
        assert 1 <= len(shared.queries) <= 5 and approx.count(shared.context) <= 40
