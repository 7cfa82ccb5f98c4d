"""Managed external memories (issue 22 item 3): `summary[...]:READER` (adapters/summary_memory.py) and
`facts[...]:READER` (adapters/facts_memory.py), with real components and deterministic readers.

Readers: the contract's spy (tests/memory_contract.py: echoes what it was asked, records every call)
and `Scripted` below, which plays the model's part by fixed rules (extraction: the session's user turns
as facts; decisions: UPDATE a fact worded the same but for its end, DELETE one a "no longer" fact
names, an unreadable reply for one fact, else ADD), so the store's bookkeeping is checked exactly.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from memory_contract import SPY, assert_contract, contract_dataset, run_contract

from adapters.facts_memory import FactsMemory, near_duplicate, parse_decision
from adapters.summary_memory import SummaryMemory, cut_to_tokens, episode_units
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Answer, Episode, MemorySystem, Probe
from longbench_suite.registry import make_system, task_family
from longbench_suite.tokens import load_tokenizer


# -- helpers ---------------------------------------------------------------------------------------------
_ASKED = re.compile(r"value of (\S+?)\?")


def _episodes_and_probes(data: Path) -> tuple[dict[str, Episode], list[Probe], list[dict]]:
    """The dataset's episodes and its probes as a memory may see them (no gold, choices or meta)."""
    family = task_family("joint-recall")
    episodes = {r["episode_id"]: family.episode(r) for r in pq.read_table(data / "episodes.parquet").to_pylist()}
    rows = pq.read_table(data / "probes.parquet").to_pylist()
    probes = [Probe(r["probe_id"], r["episode_id"], r["question"], r["answer_prefix"] or "", None, int(r["max_new_tokens"]))
              for r in rows]
    return episodes, probes, rows


def _session(sid: str, date: str, *user: str) -> dict:
    turns = [t for u in user for t in ({"role": "user", "content": u}, {"role": "assistant", "content": "Noted."})]
    return {"session_id": sid, "date": date, "turns": turns}


class Scripted(MemorySystem):
    """A deterministic stand-in for the model's judgement (see the module docstring)."""

    name = "scripted"
    GARBLED = "Miso"  # a new fact holding this word gets a reply that names no operation

    def __init__(self) -> None:
        self.asked: list[Probe] = []

    async def answer(self, probe: Probe) -> Answer:
        self.asked.append(probe)
        q = probe.question
        if probe.context is not None:
            return Answer(text=probe.context, prompt_tokens=10, completion_tokens=1)
        if q.startswith("You keep a running memory"):  # summary: remember how many rewrites came before
            return Answer(text=f"rewrite {sum(p.question.startswith('You keep') for p in self.asked)} after "
                               + re.search(r"dated (\S+)", q)[1], prompt_tokens=20, completion_tokens=5)
        if q.startswith("You manage a memory of facts"):
            return Answer(text=self._decide(q), prompt_tokens=30, completion_tokens=2)
        users = re.findall(r"^user: (.*)$", q, re.MULTILINE)  # extraction: the user turns are the facts
        return Answer(text="\n".join(f"- {u}" for u in users) or "none", prompt_tokens=40, completion_tokens=8)

    def _decide(self, question: str) -> str:
        fact = re.search(r"^New fact(?: \[learned [^]]*\])?: (.*)$", question, re.MULTILINE)[1]
        stored = dict(re.findall(r"^\[(\d+)\](?: \[learned [^]]*\])? (.*)$", question, re.MULTILINE))
        if self.GARBLED in fact:
            return "Hmm, hard to say."
        if "no longer" in fact:
            topic = fact.split("no longer ", 1)[1].split()[0]  # "plays"
            hit = [n for n, text in stored.items() if topic in text]
            return f"DELETE {hit[0]}" if hit else "ADD"
        same_start = [n for n, text in stored.items() if text.split()[:5] == fact.split()[:5]]
        return f"UPDATE {same_start[0]}" if same_start else "ADD"


def make_scripted(spec, ctx) -> Scripted:
    return Scripted()


# -- the protocol's contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [
    "summary[max_tokens=1024,chunk_tokens=128]:" + SPY,
    "facts:" + SPY,
    "facts[extract=sentences,k=40]:" + SPY,
])
def test_contract(spec, tmp_path):
    manifest, calls, data = run_contract(spec, tmp_path)
    assert_contract(manifest, calls, data)
    assert manifest["condition"] == "in-memory"
    cost = manifest["footprint"]
    assert cost["memory_bytes"]["episodes"] == 3 and cost["memory_bytes"]["max"] > 0
    assert "sentences" in spec or cost["ingest_tokens"]["mean"] > 0  # the reader wrote the memory
    if spec.startswith("facts"):
        assert cost["memory_items"]["max"] > 0
    ingest_calls = [c for c in calls if "#" in c.probe.probe_id]
    assert ingest_calls if "sentences" not in spec else not ingest_calls


# -- facts: joint recall at n_ctx = 1 ------------------------------------------------------------------------
def test_facts_joint_recall_sentences(tmp_path):
    """extract=sentences on associative recall: the store holds each asked key's pair and the top-k
    context the reader gets holds it (with its gold value) for nearly every probe."""
    data = tmp_path / "jr"
    generate_dataset("joint-recall", data, ["words"], ["n_ctx=1", "n_key=8", "n_queries=4", "samples=12", "lengths=1024"],
                     seed=3, tokenizer="approx")
    episodes, probes, rows = _episodes_and_probes(data)
    system = make_system("facts[extract=sentences,k=5]:" + SPY)
    spy = system.inner
    stored = read = 0

    async def go() -> None:
        nonlocal stored, read
        for eid, episode in episodes.items():
            await system.reset()
            await system.ingest(episode)
            facts = [f.text for f in system._episodes[eid].facts]
            for probe, row in zip(probes, rows):
                if probe.episode_id != eid:
                    continue
                pair = f"{_ASKED.search(probe.question)[1]} -> {row['gold'][0]}"
                stored += any(pair in f for f in facts)
                await system.answer(probe)
                read += pair in spy.calls[-1].probe.context

    asyncio.run(go())
    assert stored == len(probes) == 48
    # Measured: 48/48 (each key's pair is in its context's one listing sentence, which BM25 ranks first).
    assert read / len(probes) >= 0.95, f"the top-5 facts held the gold pair for {read}/{len(probes)} probes"
    assert not spy.calls[-1].probe.gold and spy.calls[-1].probe.context.startswith("Facts you remember")


# -- facts: ADD / UPDATE / DELETE / NONE on a hand-made history -------------------------------------------------
HISTORY = Episode("hand/0", "hand", "made", "", sessions=[
    # out of date order on purpose: the memory reads sessions oldest first
    _session("s2", "2023/06/10 (Sat) 10:00", "The user's car is a blue Mazda."),
    _session("s1", "2023/05/01 (Mon) 09:00", "The user's car is a red Mazda.", "The user lives in Lisbon.",
             "The user plays chess on Sundays."),
    _session("s3", "2023/07/01 (Sat) 18:30", "The user no longer plays chess on Sundays.", "The user lives in Lisbon.",
             "The user adopted a cat named Miso."),
])


def _ask(system: MemorySystem, question: str) -> tuple[Probe, Answer]:
    """(what the reader was asked, the memory's answer)."""
    answer = asyncio.run(system.answer(Probe("hand/0/q", "hand/0", question, "", None, 16)))
    return system.inner.asked[-1], answer


def test_facts_llm_add_update_delete():
    system = make_system("facts[k=10]:python:test_managed_memory:make_scripted")
    assert isinstance(system, FactsMemory)
    asyncio.run(system.ingest(HISTORY))
    facts = {f.text: f.date for f in system._episodes["hand/0"].facts}
    assert facts == {
        "The user's car is a blue Mazda.": "2023/06/10 (Sat) 10:00",  # UPDATE took the red one's place
        "The user lives in Lisbon.": "2023/05/01 (Mon) 09:00",  # NONE: the exact repeat changed nothing
        "The user adopted a cat named Miso.": "2023/07/01 (Sat) 18:30",  # unreadable decision -> ADD
    }  # DELETE removed the chess fact, and the "no longer" fact is not stored
    assert dict(system.operations) == {"add": 3 + 1, "update": 1, "delete": 1, "none": 1, "unparsed": 1}
    car, answer = _ask(system, "What car does the user drive?")
    assert answer.retrieved_ids[0] == "s2"  # the sessions of the facts ranked: the blue car was written from s2
    assert "blue Mazda" in car.context and "red" not in car.context and "chess" not in car.context
    assert "- [learned 2023/06/10 (Sat) 10:00] The user's car is a blue Mazda." in car.context
    assert car.gold is None and car.context.startswith("Facts you remember")
    cost = system.footprint()
    assert cost["memory_items"]["max"] == 3 and cost["ingest_tokens"]["max"] == 3 * 48 + 3 * 32
    decisions = [p for p in system.inner.asked if "#decide" in p.probe_id]
    assert len(decisions) == 3  # blue car, no-longer chess, Miso: none for session 1 (empty store) or the repeat


def test_facts_sentences_update_by_near_duplicate():
    system = make_system("facts[extract=sentences]:python:test_managed_memory:make_scripted")
    asyncio.run(system.ingest(HISTORY))
    facts = [f.text for f in system._episodes["hand/0"].facts]
    assert "user: The user's car is a blue Mazda." in facts and not any("red Mazda" in f for f in facts)
    assert sum("Lisbon" in f for f in facts) == 1  # the repeat is NONE
    assert any("no longer plays chess" in f for f in facts)  # no model, no DELETE: both chess facts stay
    assert not [p for p in system.inner.asked if "#" in p.probe_id]  # nothing asked at ingest
    assert system.footprint()["ingest_tokens"]["max"] == 0
    car, _ = _ask(system, "Which car does the user drive?")
    assert "blue Mazda" in car.context and "red Mazda" not in car.context


def test_decision_parsing_and_near_duplicates():
    offered = [7, 3]
    assert parse_decision("UPDATE 2", offered) == parse_decision("Decision: update fact [2].", offered)
    assert parse_decision("UPDATE 2", offered).target == 3 and parse_decision("DELETE #1", offered).op == "delete"
    assert parse_decision("NONE.", offered).op == "none" and parse_decision("I'd say ADD it", offered).op == "add"
    for bad in ("DELETE 9", "UPDATE", "no idea", ""):
        assert parse_decision(bad, offered).op == "add" and not parse_decision(bad, offered).parsed
    assert near_duplicate("my car is blue", "my car is red") == 0.25
    assert near_duplicate("my car is red", "my car is red") is None  # exact: not an update
    assert near_duplicate("Context Bold: lantern -> 2.", "Context Amber: lantern -> 7.") is None


# -- summary: rolling and bounded --------------------------------------------------------------------------------
def test_summary_bounded_by_max_tokens(tmp_path):
    """The spy echoes ~4000 characters per rewrite: the memory is cut to max_tokens every time."""
    data = contract_dataset(tmp_path / "data", samples=3)
    episodes, probes, _ = _episodes_and_probes(data)
    system = make_system("summary[max_tokens=40,chunk_tokens=64]:" + SPY)
    counter = load_tokenizer("approx")

    async def go() -> list[int]:
        sizes = []
        for eid, episode in episodes.items():
            await system.reset()
            await system.ingest(episode)
            sizes.append(counter.count(system._episodes[eid]))
            await system.answer(next(p for p in probes if p.episode_id == eid))
            assert system._episodes[eid] in system.inner.calls[-1].probe.context
        return sizes

    sizes = asyncio.run(go())
    assert max(sizes) <= 40 and min(sizes) >= 30  # bounded, and not emptied
    asks = [c.probe for c in system.inner.calls if "#summary" in c.probe.probe_id]
    assert len(asks) >= 2 * len(episodes) and {p.max_new_tokens for p in asks} == {40}
    cost = system.footprint()
    assert cost["rewrites_cut"] == cost["rewrites"] == len(asks) and cost["memory_bytes"]["episodes"] == 3
    assert cut_to_tokens("one two three four", 2, counter) == "one two"


def test_summary_rolls_over_sessions_in_date_order():
    system = make_system("summary[max_tokens=64]:python:test_managed_memory:make_scripted")
    assert isinstance(system, SummaryMemory)
    asyncio.run(system.ingest(HISTORY))
    asked = [p.question for p in system.inner.asked]
    assert [re.search(r"dated (\S+)", q)[1] for q in asked] == ["2023/05/01", "2023/06/10", "2023/07/01"]
    assert "(nothing yet)" in asked[0] and "rewrite 1 after 2023/05/01" in asked[1] and "rewrite 2 after" in asked[2]
    assert system._episodes["hand/0"] == "rewrite 3 after 2023/07/01"
    assert [u.session_id for u in episode_units(HISTORY, 64)] == ["s1", "s2", "s3"]


def test_bad_specs_are_one_line_errors():
    for spec, words in [("summary:oracle", "must be a model"), ("facts:oracle", "must be a model"),
                        ("facts[extract=regex]:" + SPY, "extract must be one of"),
                        ("summary[budget=3]:" + SPY, "unknown options budget"),
                        ("summary[max_tokens=4]:" + SPY, "out of range")]:
        with pytest.raises(UserError, match=words):
            make_system(spec)
    assert make_system("facts[extract=sentences]:oracle").privileged  # no model writes: a baseline may read


class FailsSecondCall(MemorySystem):
    """A reader whose second call fails at once while the others take a while."""

    name = "fails-second"
    concurrent_episodes = True

    def __init__(self):
        self.started = self.finished = 0

    async def answer(self, probe: Probe) -> Answer:
        self.started += 1
        if self.started == 2:
            raise RuntimeError("the reader is down")
        await asyncio.sleep(0.2)
        self.finished += 1
        return Answer(text="NONE")


def make_failing(spec, ctx) -> FailsSecondCall:
    return FailsSecondCall()


@pytest.mark.parametrize("spec", ["facts:python:test_managed_memory:make_failing",
                                  "graph:python:test_managed_memory:make_failing"])
def test_a_failed_ingest_call_leaves_no_reader_call_running(spec):
    """The runner records the failure and goes on to the next episode: calls still running would read the
    old episode while the new one is current."""
    system = make_system(spec)
    episode = Episode("e/0", "joint-recall", "words", "\n\n".join(f"Passage {i} tells of Alice{i} in Paris." * 40 for i in range(6)))

    async def go() -> None:
        with pytest.raises(RuntimeError, match="the reader is down"):
            await system.ingest(episode)
        await asyncio.sleep(0.4)

    asyncio.run(go())
    assert system.inner.started >= 2 and system.inner.finished == 0
