"""Managed fact memory: `facts[k=N,extract=llm|sentences,...]:READER` wraps any reader.

    facts[k=10][,extract=llm|sentences][,candidates=5][,chunk_tokens=512]:READER-SPEC

e.g. `facts:embedded`, `facts[extract=sentences,k=5]:openai:gpt-4o-mini`.

Follows Mem0 (Chhikara et al. 2025, "Mem0: building production-ready AI agents with scalable long-term
memory"), the add/update/delete store that A-MEM and Think-in-Memory also keep. One store per episode,
built at ingest, session by session in date order (families without sessions: parts of about
`chunk_tokens` tokens of whole sentences, adapters/summary_memory.episode_units):

1. extraction: the facts of the session, each stamped with the session's date (parts of a text have
   none). `extract=llm` (default): the reader is asked once per session with the fact prompt of
   retrieval's granularity=fact (adapters/_facts.py), once per text part with `extract_text`
   (adapters/templates/facts_memory.toml). `extract=sentences`: no model at ingest, every sentence is
   a fact candidate (a chat turn's sentences are prefixed with its role) — cheap and deterministic.
2. update: each new fact is compared with the `candidates` stored facts most like it (BM25 over the
   store, adapters/_retrievers.py) and the memory decides ADD (store it), UPDATE n (it takes the place of
   stored fact n, with the new date), DELETE n (stored fact n is no longer true: removed, the new fact
   not stored) or NONE (already held). `extract=llm`: the reader decides, one call per fact (`decide`
   prompt, stored facts numbered 1..n as Mem0's code numbers them instead of their ids); a reply naming
   no operation, or a number that was not offered, counts as `unparsed` and the fact is added.
   `extract=sentences`: by rule, an exact duplicate (same words, any case) is NONE, a near duplicate
   (at most NEAR_DUPLICATE of the words changed, in order: "my car is red" -> "my car is blue") is
   UPDATE of the nearest candidate, else ADD; never DELETE. Without similar stored facts (BM25 score
   0), or when the fact's exact words are stored already, no call is made.

answer(): the top `k` facts by BM25 on the question ("Question:" line when it has one) are rendered
oldest first with their dates as the probe's context (`context` prompt), and the reader answers (the
run is in-memory: the probe arrives without context). For episodes with sessions, `retrieved_ids`
are the sessions of the facts ranked, best first (a fact's session: where it was last written).

Simplified against Mem0: similarity is BM25 where Mem0 embeds (its code also takes the top 5 per
fact); one decision call per fact where Mem0's code decides all facts of a message in one JSON reply;
our own prompt wording; an UPDATE stores the new fact's words where Mem0's model may write a merged
text; Mem0's conversation summary and recent-message window in the extraction prompt are left out
(each session is extracted alone); no graph variant (Mem0^g). As in Mem0's code, the facts of one
session are decided against the store as it was before that session (they are not compared with one
another, but for exact duplicates), and decisions are applied in order: a second change to a fact the
session already changed is an ADD (update) or dropped (delete), so no new fact is lost to a race.
A-MEM's note links and evolution and Think-in-Memory's post-thinking are not built. A baseline reader
(oracle, random) cannot write a memory: refused with extract=llm, allowed with extract=sentences.

Costs (footprint(), per episode): `memory_bytes` (UTF-8 bytes of the stored facts and their dates),
`memory_items` (facts stored), `ingest_tokens` (the reader's prompt + completion tokens at ingest; 0
for extract=sentences), `index_bytes` (the BM25 index the answers read), and the operations taken.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from longbench_suite.io import read_toml
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, PerEpisode, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_choice, option_number

from . import _facts
from ._reader_memory import ReaderMemory, gather_all, make_reader, with_recall
from ._retrievers import BM25
from .retrieval import REPORTED_IDS, query_text
from .summary_memory import Unit, answer_tokens, episode_units, ingest_probe, reply, require_reader, sentences

TEMPLATES = Path(__file__).parent / "templates" / "facts_memory.toml"
OPTIONS = ("k", "extract", "candidates", "chunk_tokens")
EXTRACTS = ("llm", "sentences")
DEFAULT_K = 10
DEFAULT_CANDIDATES = 5
DEFAULT_CHUNK_TOKENS = 512
NEAR_DUPLICATE = 0.25  # extract=sentences: at most this share of words changed (in order) is an update
DECIDE_TOKENS = 16  # budget of one decision ("UPDATE 3")
CONCURRENCY = 8  # extraction or decision calls in flight per episode
_WORD = re.compile(r"\w+")
_OP = re.compile(r"\b(ADD|UPDATE|DELETE|NONE)\b(?:\W{0,3}(?:id|number|fact)?\W{0,3}(\d+))?")
_OP_ANY_CASE = re.compile(_OP.pattern, re.IGNORECASE)


# -- the store ---------------------------------------------------------------------------------------
@dataclass
class Fact:
    text: str
    date: str | None  # of the session it was (last) written from
    session_id: str | None
    written: int  # order of writing: rendering is oldest first


@dataclass
class Store:
    facts: dict[int, Fact] = field(default_factory=dict)
    writes: int = 0
    _next: int = 0

    def add(self, text: str, unit: Unit) -> None:
        self.facts[self._next] = Fact(text, unit.date, unit.session_id, self._write())
        self._next += 1

    def update(self, fact_id: int, text: str, unit: Unit) -> None:
        self.facts[fact_id] = Fact(text, unit.date, unit.session_id, self._write())

    def _write(self) -> int:
        self.writes += 1
        return self.writes

    def normalised(self) -> set[str]:
        return {normalise(f.text) for f in self.facts.values()}

    def nbytes(self) -> int:
        return sum(len(f.text.encode()) + len((f.date or "").encode()) for f in self.facts.values())


@dataclass(frozen=True)
class Decision:
    op: str  # add, update, delete, none
    target: int | None = None  # the stored fact's id (update, delete)
    parsed: bool = True  # False: the reader's reply named no operation it was offered (the fact is added)


@dataclass
class _Episode:
    facts: list[Fact]  # in the index's order
    index: Any  # BM25 over the facts; None when the store is empty


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def parse_decision(text: str, offered: list[int]) -> Decision:
    """The first operation the reply names (upper case first, then any case); UPDATE and DELETE need
    one of the offered numbers (1-based). Anything else: ADD, unparsed."""
    m = _OP.search(text or "") or _OP_ANY_CASE.search(text or "")
    if not m:
        return Decision("add", parsed=False)
    op = m[1].lower()
    if op in ("add", "none"):
        return Decision(op)
    if m[2] is None or not 1 <= int(m[2]) <= len(offered):
        return Decision("add", parsed=False)
    return Decision(op, offered[int(m[2]) - 1])


def near_duplicate(new: str, old: str) -> float | None:
    """The share of words changed from `old` to `new` (in order), when 0 < share <= NEAR_DUPLICATE."""
    a, b = _WORD.findall(old.lower()), _WORD.findall(new.lower())
    if not a or not b:
        return None
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
    share = changed / max(len(a), len(b))
    return share if 0 < share <= NEAR_DUPLICATE else None


def sentence_facts(unit: Unit) -> list[str]:
    if unit.turns is None:
        return sentences(unit.text)
    return [f"{t['role']}: {s}" for t in unit.turns for s in sentences(t["content"])]


# -- the memory ----------------------------------------------------------------------------------------
class FactsMemory(ReaderMemory[_Episode]):
    condition_override = Condition.IN_MEMORY  # the probe comes without context; the memory supplies it
    needs = "the fact memory needs the episode"

    def __init__(self, inner: MemorySystem, *, k: int, extract: str, candidates: int, chunk_tokens: int):
        if extract == "llm":
            require_reader(inner, "facts")
        super().__init__(inner, "facts")
        self.k, self.extract, self.candidates, self.chunk_tokens = k, extract, candidates, chunk_tokens
        self.privileged = inner.privileged and extract == "sentences"  # no model writes: a baseline may read
        self.retriever = BM25()
        self.templates = read_toml(TEMPLATES, "fact memory prompts")
        self.memory_bytes, self.memory_items, self.ingest_tokens, self.index_bytes = (PerEpisode() for _ in range(4))
        self.operations: Counter[str] = Counter()
        self._limit: asyncio.Semaphore | None = None
        self._tokens = 0  # the current episode's ingest tokens

    # -- ingest -------------------------------------------------------------------------------------
    async def ingest(self, episode: Episode) -> None:
        self._limit, self._tokens = asyncio.Semaphore(CONCURRENCY), 0
        units = episode_units(episode, self.chunk_tokens)
        extracted = await gather_all([self._extract(episode, u) for u in units])
        store = Store()
        for unit, facts in zip(units, extracted):
            await self._merge(episode, store, unit, facts)
        facts = [store.facts[i] for i in sorted(store.facts)]
        index = await self._index([f.text for f in facts])
        self._episodes[episode.episode_id] = _Episode(facts, index)
        self.memory_bytes.add(store.nbytes())
        self.memory_items.add(len(facts))
        self.ingest_tokens.add(self._tokens)
        self.index_bytes.add(self.retriever.index_bytes(index) if index is not None else 0)

    async def _ask(self, probe: Probe) -> str:
        assert self._limit is not None
        async with self._limit:
            answer = await self.inner.answer(probe)
        self._tokens += answer_tokens(answer)
        return answer.text

    async def _extract(self, episode: Episode, unit: Unit) -> list[str]:
        if self.extract == "sentences":
            return sentence_facts(unit)
        if unit.turns is not None:
            question = _facts.prompt(unit.date or "unknown", unit.text)
        else:
            question = self.templates["extract_text"].format(index=unit.index, count=unit.count, text=unit.text)
        return _facts.parse(await self._ask(ingest_probe(episode, "facts", unit.index, question, _facts.FACT_TOKENS)))

    async def _merge(self, episode: Episode, store: Store, unit: Unit, facts: list[str]) -> None:
        """Decide every new fact of `unit` against the store as it was before it, then apply in order."""
        held = store.normalised()
        fresh: list[str] = []
        for fact in facts:
            key = normalise(fact)
            if not key or key in held:
                self.operations["none"] += 1
                continue
            held.add(key)
            fresh.append(fact)
        if not fresh:
            return
        before = dict(store.facts)
        ids = sorted(before)
        index = await self._index([before[i].text for i in ids])
        similar = [await self._similar(index, ids, fact) for fact in fresh]
        decisions = await gather_all([self._decide(episode, unit, n, fact, near, before)
                                           for n, (fact, near) in enumerate(zip(fresh, similar))])
        changed: set[int] = set()
        for fact, decision in zip(fresh, decisions):
            self._apply(store, unit, fact, decision, changed)

    async def _index(self, texts: list[str]) -> Any:
        """BM25 over `texts`; None when there is nothing to index (no texts, or only stopwords)."""
        if not texts:
            return None
        try:
            return await self.retriever.build(texts)
        except ValueError:  # bm25s: an empty vocabulary
            return None

    async def _similar(self, index: Any, ids: list[int], fact: str) -> list[int]:
        """The ids of up to `candidates` stored facts with a BM25 score above 0, best first."""
        if index is None:
            return []
        scores = await self.retriever.scores(index, fact)
        best = np.argsort(-scores, kind="stable")[: self.candidates]
        return [ids[i] for i in best if scores[i] > 0]

    async def _decide(self, episode: Episode, unit: Unit, n: int, fact: str, similar: list[int],
                      before: dict[int, Fact]) -> Decision:
        if not similar:
            return Decision("add")
        if self.extract == "sentences":
            shares = [(share, i) for i in similar if (share := near_duplicate(fact, before[i].text)) is not None]
            return Decision("update", min(shares)[1]) if shares else Decision("add")
        t = self.templates
        memories = "\n".join(t["memory"].format(number=j, when=self._when(before[i].date), text=before[i].text)
                             for j, i in enumerate(similar, 1))
        question = t["decide"].format(memories=memories, fact=fact, when=self._when(unit.date))
        probe = ingest_probe(episode, f"decide{unit.index}-", n, question, DECIDE_TOKENS)
        return parse_decision(await self._ask(probe), similar)

    def _when(self, date: str | None) -> str:
        return self.templates["learned"].format(date=date) if date else ""

    def _apply(self, store: Store, unit: Unit, fact: str, decision: Decision, changed: set[int]) -> None:
        if not decision.parsed:
            self.operations["unparsed"] += 1
        target = decision.target
        fresh_target = target in store.facts and target not in changed
        if decision.op == "update" and fresh_target:
            store.update(target, fact, unit)
            changed.add(target)
        elif decision.op == "delete" and fresh_target:
            del store.facts[target]
            changed.add(target)
        elif decision.op in ("none", "delete"):
            self.operations["none"] += 1
            return
        else:
            store.add(fact, unit)
            self.operations["add"] += 1
            return
        self.operations[decision.op] += 1

    # -- answer -------------------------------------------------------------------------------------
    async def answer(self, probe: Probe) -> Answer:
        state = self.state(probe)
        t0 = time.monotonic()
        ranked = await self._rank(state, probe.question)
        read = sorted(ranked[: self.k], key=lambda f: f.written)
        t = self.templates
        lines = "\n".join(t["fact"].format(when=self._when(f.date), text=f.text) for f in read) or "(none)"
        final = await self.inner.answer(with_recall(probe, t["context"].format(facts=lines)))
        sessions = list(dict.fromkeys(f.session_id for f in ranked if f.session_id))[:REPORTED_IDS]
        return reply(final, t0, sessions or None)

    async def _rank(self, state: _Episode, question: str) -> list[Fact]:
        if state.index is None:
            return list(state.facts)
        scores = await self.retriever.scores(state.index, query_text(question))
        return [state.facts[i] for i in np.argsort(-scores, kind="stable")]

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        rule = {"near_duplicate": NEAR_DUPLICATE} if self.extract == "sentences" else \
            {"fact_tokens": _facts.FACT_TOKENS, "decide_tokens": DECIDE_TOKENS}
        return {"name": self.name, "memory": "facts", "k": self.k, "extract": self.extract, "candidates": self.candidates,
                "chunk_tokens": self.chunk_tokens, **rule, **self.retriever.describe(), "reader": inner,
                "sampling": inner.get("sampling", {})}

    def footprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "memory_bytes": self.memory_bytes.summary(), "memory_items": self.memory_items.summary(),
            "ingest_tokens": self.ingest_tokens.summary(), "index_bytes": self.index_bytes.summary(),
            "operations": dict(sorted(self.operations.items())) or None,
        }
        return self.with_reader(out)


def _facts_memory(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`facts[k=10,extract=llm]:SPEC`: a Mem0-style store of facts with add/update/delete, read top-k."""
    check_options(spec, OPTIONS)
    k = option_number(spec, "k", DEFAULT_K, int, 1)
    extract = option_choice(spec, "extract", EXTRACTS, "llm")
    candidates = option_number(spec, "candidates", DEFAULT_CANDIDATES, int, 1)
    chunk_tokens = option_number(spec, "chunk_tokens", DEFAULT_CHUNK_TOKENS, int, 16)
    return FactsMemory(make_reader(spec, ctx), k=k, extract=extract, candidates=candidates, chunk_tokens=chunk_tokens)


SYSTEMS = {"facts": _facts_memory}
