"""LongMemEval-style item generator: API, determinism, structure, gold vs. its own check, computed answers."""

from __future__ import annotations

import collections
import json
import os
import random
import re
import subprocess
import sys
import textwrap
import time
from functools import cache
from pathlib import Path

import pytest

from data_builders import lme_items as L
from data_builders.lme_items import CHECKS, QUESTION_TYPES, Evidence, Item, Persona, Turn, draw_persona, make_item

ROOT = Path(__file__).resolve().parents[1]
SSP = "single-session-preference"
COMBOS = [(t, False) for t in QUESTION_TYPES] + [(t, True) for t in QUESTION_TYPES if t != SSP]
MAX_DAYS = (8, 9, 15, 60, 120, 365)
N = 250  # items per combination


def _rng(*parts) -> random.Random:
    return random.Random("/".join(map(str, parts)))  # str seeds are hashed with sha512: stable across runs


def _make(qt: str, abst: bool, seed: int, max_days: int | None = None) -> Item:
    rng = _rng(qt, abst, seed)
    return make_item(qt, abst, draw_persona(rng), rng, max_days or MAX_DAYS[seed % len(MAX_DAYS)])


@cache
def items(qt: str, abst: bool) -> tuple[Item, ...]:
    return tuple(_make(qt, abst, seed) for seed in range(N))


def all_items():
    for qt, abst in COMBOS:
        for seed, it in enumerate(items(qt, abst)):
            yield seed, it


# --- a small reference implementation of the deterministic scorer's checks ---------------------------------

_NUM_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_ABSTAIN = re.compile(r"did not mention|didn't mention|never mentioned|not mentioned|can ?not answer|can't answer|"
                      r"no information|don't know|not enough information", re.I)


def norm(text: str) -> str:
    """Lower case, punctuation to spaces, padded so that `norm(a) in norm(b)` means whole words."""
    return " " + " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split()) + " "


def numbers(text: str) -> list[float]:
    out = []
    for m in re.finditer(r"\d+(?:,\d{3})*(?:\.\d+)?|[a-z]+", text.lower()):
        tok = m.group(0)
        if tok[0].isdigit():
            out.append(float(tok.replace(",", "")))
        elif tok in _NUM_WORDS:
            out.append(float(_NUM_WORDS[tok]))
    return out


def reference_check(check: str, response: str, gold) -> bool:
    if check in ("contains", "rubric"):
        return any(g.strip() and norm(g) in norm(response) for g in gold)
    if check == "number":
        return float(gold[0]) in numbers(response)
    if check == "days":
        return any(abs(x - float(gold[0])) <= 1 for x in numbers(response))
    if check == "abstain":
        return bool(_ABSTAIN.search(response))
    raise AssertionError(check)


def mentions(text: str, word: str) -> bool:
    """`word` (or its plural) as whole words in `text`, case and punctuation ignored."""
    return re.search(r"(?<= )" + re.escape(norm(word).strip()) + r"(?:s|es)? ", norm(text)) is not None


def answer_turns(it: Item) -> list[Turn]:
    return [t for e in it.evidence for t in e.turns if t.has_answer]


def evidence_text(it: Item) -> str:
    return "\n".join(t.content for e in it.evidence for t in e.turns)


def test_reference_checker_itself():
    assert reference_check("contains", "It was the Blue Door, I think.", ("Blue Door Studio", "Blue Door"))
    assert not reference_check("contains", "Bluer doors", ("Blue Door",))
    assert reference_check("number", "You spent $245 in total.", ("245",))
    assert reference_check("number", "Three of them.", ("3",))
    assert not reference_check("number", "About 30 minutes.", ("3",))
    assert reference_check("days", "That was 13 days ago.", ("14",)) and not reference_check("days", "12 days", ("14",))
    assert reference_check("abstain", "You did not mention a cat.", ("x",))
    assert not reference_check("abstain", "Your cat is called Biscuit.", ("x",))
    assert mentions("Two podcasts!", "podcast") and not mentions("a category", "cat") and mentions("push-ups", "push up")


# --- API ------------------------------------------------------------------------------------------------

def test_api_and_errors():
    assert QUESTION_TYPES == ("single-session-user", "single-session-assistant", "single-session-preference",
                              "multi-session", "temporal-reasoning", "knowledge-update")
    assert CHECKS == ("contains", "number", "days", "abstain", "rubric")
    p = draw_persona(random.Random(0))
    assert isinstance(p, Persona) and p.first_name in p.name and p.sibling_name != p.first_name
    with pytest.raises(ValueError):
        make_item("multi-hop", False, p, random.Random(0))
    with pytest.raises(ValueError):
        make_item(SSP, True, p, random.Random(0))
    for qt in QUESTION_TYPES:
        with pytest.raises(ValueError):
            make_item(qt, False, p, random.Random(0), max_days=7)
        assert isinstance(make_item(qt, False, p, random.Random(0), max_days=8), Item)


def test_deterministic_across_all_types():
    for qt, abst in COMBOS:
        for seed in range(40):
            assert _make(qt, abst, seed) == _make(qt, abst, seed)
        assert len({_make(qt, abst, seed).question + evidence_text(_make(qt, abst, seed)) for seed in range(40)}) >= 35
    assert draw_persona(random.Random(5)) == draw_persona(random.Random(5))


def test_uses_only_the_rng_it_is_given(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("module-level random used")

    for name in ("random", "choice", "choices", "randint", "randrange", "sample", "shuffle", "uniform", "seed"):
        monkeypatch.setattr(random, name, boom)
    for qt, abst in COMBOS:
        for seed in range(10):
            _make(qt, abst, seed)


def test_independent_of_hash_seed():
    code = textwrap.dedent("""
        import json, random
        from data_builders.lme_items import QUESTION_TYPES, draw_persona, make_item
        out = []
        for qt in QUESTION_TYPES:
            for s in range(30):
                r = random.Random(s)
                it = make_item(qt, s % 2 == 1 and qt != "single-session-preference", draw_persona(r), r)
                sessions = [[e.days_before, [t.content for t in e.turns]] for e in it.evidence]
                out.append([it.question, it.answer, it.gold, it.facts, sessions])
        print(json.dumps(out, sort_keys=True))
    """)
    outs = []
    for hs in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        outs.append(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                   check=True).stdout)
    assert outs[0] == outs[1] and len(outs[0]) > 1000


def test_fast():
    t0 = time.perf_counter()
    for seed in range(3000):
        qt = QUESTION_TYPES[seed % 6]
        _make(qt, seed % 3 == 0 and qt != SSP, 10_000 + seed)
    assert time.perf_counter() - t0 < 3.0


# --- structure ------------------------------------------------------------------------------------------

def test_items_are_well_formed():
    for seed, it in all_items():
        max_days = MAX_DAYS[seed % len(MAX_DAYS)]
        where = f"{it.question_type} abst={it.abstention} seed={seed} {it.facts.get('scenario')}"
        assert it.question_type in QUESTION_TYPES and it.check in CHECKS, where
        assert it.gold and all(isinstance(g, str) and g.strip() for g in it.gold), where
        assert it.question.strip() and it.question.rstrip().endswith("?"), where
        assert json.loads(json.dumps(it.facts)) == it.facts and it.facts["scenario"] in L.scenario_names(it.question_type)
        assert 1 <= len(it.evidence) <= 4, where
        days = [e.days_before for e in it.evidence]
        assert len(set(days)) == len(days) and all(1 <= d <= max_days for d in days), where
        assert days == sorted(days, reverse=True), where  # chronological order
        for e in it.evidence:
            assert isinstance(e, Evidence) and 2 <= len(e.turns) <= 8 and len(e.turns) % 2 == 0, where
            assert [t.role for t in e.turns] == ["user", "assistant"] * (len(e.turns) // 2), where
            assert any(t.has_answer for t in e.turns), where
            for t in e.turns:
                assert t.content.strip() and "{" not in t.content and "}" not in t.content, where
                if t.role == "assistant":
                    assert 40 <= len(t.content.split()) <= 200, (where, t.content)
        # who holds the evidence
        roles = {t.role for t in answer_turns(it)}
        assert roles == ({"assistant"} if it.question_type == "single-session-assistant" else {"user"}), where
        if it.abstention:
            assert it.check == "abstain" and it.gold == (it.answer,), where
            assert it.answer.startswith("You did not mention"), where
        else:
            assert it.check != "abstain", where
            assert (it.check == "rubric") == (it.question_type == SSP), where


def test_days_in_range_at_the_edges():
    for qt, abst in COMBOS:
        for seed in range(60):
            for max_days in (8, 1000):
                it = _make(qt, abst, seed, max_days)
                assert all(1 <= e.days_before <= max_days for e in it.evidence)


def test_gold_satisfies_its_own_check_and_the_answer_does_too():
    for seed, it in all_items():
        oracle = ", ".join(it.gold)
        assert reference_check(it.check, oracle, it.gold), (it.question, it.gold)
        if it.check != "rubric":  # the judge's answer text states the answer too
            assert reference_check(it.check, it.answer, it.gold), (it.question, it.answer, it.gold)
        if it.check in ("number", "days"):
            assert re.fullmatch(r"\d+", it.gold[0]), it.gold
        if not it.abstention:  # a real answer does not read as an abstention
            assert not reference_check("abstain", it.answer, it.gold), it.answer


def test_gold_agrees_with_the_project_scorer():
    metrics = pytest.importorskip("longbench_suite.metrics")
    if not all(hasattr(metrics, f) for f in ("contains_any", "number_match", "abstains")):
        pytest.skip("project scorer not available")
    score = {"contains": metrics.contains_any, "rubric": metrics.contains_any, "number": metrics.number_match,
             "days": lambda o, g: metrics.number_match(o, g, tolerance=1), "abstain": metrics.abstains}
    for seed, it in all_items():
        assert score[it.check](", ".join(it.gold), list(it.gold)) == 1.0, (it.question, it.gold)


def test_contains_gold_is_stated_in_the_evidence():
    for seed, it in all_items():
        if it.check == "contains":
            held = " ".join(t.content for t in answer_turns(it))
            assert any(norm(g) in norm(held) for g in it.gold), (it.question, it.gold)


def test_questions_do_not_give_the_answer_away():
    for seed, it in all_items():
        if it.abstention or "choices" in it.facts:  # "which first, X or Y?" must name both
            continue
        q = norm(it.question)
        assert not any(norm(g) in q for g in it.gold), (it.question, it.gold)
        if it.check in ("number", "days"):
            assert float(it.gold[0]) not in numbers(it.question), (it.question, it.gold)


def test_abstention_asks_about_something_never_said():
    for seed, it in all_items():
        if not it.abstention:
            continue
        asked = it.facts["asked_about"]
        assert mentions(it.question, asked), (it.question, asked)
        assert not mentions(evidence_text(it), asked), (asked, it.facts["scenario"], evidence_text(it))
        assert answer_turns(it), it.question  # the related facts are still there


def test_abstention_keeps_the_related_evidence():
    # the same seed with and without abstention: the asked-about thing differs, the sessions are built alike
    for qt, abst in COMBOS:
        if abst:
            scen = collections.Counter(it.facts["scenario"] for it in items(qt, True))
            assert len(scen) == len(L.scenario_names(qt)), scen


# --- computed answers -----------------------------------------------------------------------------------

def _session_of(it: Item, day: int) -> Evidence:
    (e,) = [e for e in it.evidence if e.days_before == day]
    return e


def test_temporal_answers_follow_from_the_session_days():
    seen = collections.Counter()
    for seed, it in enumerate(items("temporal-reasoning", False)):
        form, events = it.facts["form"], it.facts["events"]
        seen[form] += 1
        assert len(events) == len(it.evidence)
        for ev in events:  # each event happens "today" in the session on its day
            s = _session_of(it, ev["days_before"])
            held = " ".join(t.content for t in s.turns if t.has_answer)
            assert mentions(held, ev["keyword"])
            assert re.search(r"\b(today|this morning|earlier today|tonight|this evening)\b", held)
            others = [o for o in events if o is not ev]
            assert not any(mentions(evidence_text(it), o["keyword"]) and mentions(
                " ".join(t.content for t in s.turns), o["keyword"]) for o in others)
        d = [ev["days_before"] for ev in events]
        if form == "between":
            assert it.check == "days" and int(it.gold[0]) == abs(d[0] - d[1])
        elif form == "weeks_between":
            assert abs(d[0] - d[1]) % 7 == 0 and it.check == "number" and int(it.gold[0]) == abs(d[0] - d[1]) // 7 >= 1
        elif form == "days_ago":
            assert it.check == "days" and int(it.gold[0]) == d[0]
        elif form == "weeks_ago":
            assert d[0] % 7 == 0 and it.check == "number" and int(it.gold[0]) == d[0] // 7 >= 1
        else:
            pick = max if form in ("first", "first_of_three") else min
            win = pick(events, key=lambda ev: ev["days_before"])
            assert it.check == "contains" and mentions(" ".join(it.gold), win["keyword"])
            assert win["keyword"] in it.gold
            for ev in events:
                if ev is not win:
                    assert not any(norm(g) in norm(ev["event"]) for g in it.gold), (it.gold, ev)
    assert set(seen) == set(L._TR_FORMS)


def test_knowledge_update_old_before_new_and_values_differ():
    for seed, it in all_items():
        if it.question_type != "knowledge-update":
            continue
        f = it.facts
        assert f["old_days_before"] > f["new_days_before"]
        old, new = _session_of(it, f["old_days_before"]), _session_of(it, f["new_days_before"])
        assert f["old"] != f["new"]
        o, n = str(f["old"]), str(f["new"])
        assert norm(o) not in norm(n) and norm(n) not in norm(o) and o not in n and n not in o
        for value, s in ((f["old"], old), (f["new"], new)):
            held = " ".join(t.content for t in s.turns if t.has_answer)
            assert (float(value) in numbers(held)) if isinstance(value, int) else (norm(value) in norm(held))
        if not it.abstention:
            assert (it.gold[0] == n) if it.check == "number" else (it.gold[0] == f["new"])
            assert not any(norm(g) in norm(o) for g in it.gold)


def test_multi_session_aggregates():
    kinds = collections.Counter()
    for seed, it in enumerate(items("multi-session", False)):
        f = it.facts
        kinds[f["aggregate"]] += 1
        pieces = f["pieces"]
        assert 2 <= len(pieces) <= 4 and len(it.evidence) == len(pieces)
        assert len({json.dumps(x, sort_keys=True) for x in pieces}) == len(pieces)  # distinct pieces
        if f["aggregate"] == "count":
            assert it.gold == (str(len(pieces)),)
        elif f["aggregate"] == "sum":
            values = [next(v for v in x.values() if isinstance(v, int)) for x in pieces]
            assert it.gold == (str(sum(values)),)
            for x, v in zip(pieces, values):  # each amount is stated in one session
                assert any(v in numbers(" ".join(t.content for t in e.turns if t.has_answer)) for e in it.evidence)
        else:
            best = max(pieces, key=lambda x: x["miles"])
            assert [x["miles"] for x in pieces].count(best["miles"]) == 1
            assert it.gold[0] in (best["trail"], str(best["miles"]))
        for x in f.get("excluded", []):  # the thing that must not be counted is said, and said to be excluded
            assert mentions(evidence_text(it), x)
            assert x not in json.dumps(pieces)
    assert set(kinds) == {"count", "sum", "max"}
    assert sum(1 for it in items("multi-session", False) if it.facts.get("excluded")) > N // 3


def test_preference_rubrics():
    for it in items(SSP, False):
        held = " ".join(t.content for t in answer_turns(it))
        assert it.check == "rubric" and it.answer.startswith("The user would prefer") and "might not like" in it.answer
        assert any(norm(g) in norm(held) for g in it.gold), (it.gold, held)
        assert not any(norm(g) in norm(it.question) for g in it.gold), it.question


def test_single_session_items_have_one_session():
    for qt in ("single-session-user", "single-session-assistant", SSP):
        for abst in (False, True) if qt != SSP else (False,):
            assert all(len(it.evidence) == 1 for it in items(qt, abst))


def test_persona_used_consistently():
    for seed in range(200):
        rng = _rng("persona", seed)
        p = draw_persona(rng)
        for _ in range(6):
            it = make_item("single-session-user", False, p, rng)
            if it.facts["scenario"] == "ssu_wedding":
                assert it.facts["sibling_name"] == p.sibling_name and it.facts["relation"] == p.sibling_relation
                assert it.facts["wedding_city"] != p.city
                assert p.sibling_name in evidence_text(it)


# --- variety --------------------------------------------------------------------------------------------

def test_scenario_variety():
    for qt, abst in COMBOS:
        draws = [_make(qt, abst, 50_000 + s) for s in range(300)]
        scenarios = collections.Counter(it.facts["scenario"] for it in draws)
        assert len(scenarios) >= 6, (qt, abst, scenarios)
        assert max(scenarios.values()) < 120, scenarios  # no scenario dominates
        templates = {re.sub(r"\d+", "#", it.question) for it in draws}
        assert len(templates) >= 6 and len({it.question for it in draws}) >= 12, (qt, abst)
        openers = {it.evidence[0].turns[0].content for it in draws}
        assert len(openers) >= 150, (qt, abst, len(openers))
        assert len({evidence_text(it) for it in draws}) >= 270, (qt, abst)
