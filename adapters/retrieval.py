"""Retrieval memory (LongMemEval's index -> retrieve -> read): `retrieval[OPTIONS]:READER` wraps any system.

    retrieval[k=N][,granularity=session|round|fact|chunk][,retriever=bm25|dense]
             [,embedder=hf:PATH_OR_ID|openai:MODEL][,embed_base_url=URL][,embed_api_key_env=VAR]
             [,time_filter=0|1][,chunk_tokens=256]:READER-SPEC

e.g. `retrieval:embedded`, `retrieval[k=10,granularity=round]:openai:gpt-4o-mini`,
`retrieval[embedder=hf:BAAI/bge-small-en-v1.5]:embedded`, `retrieval[k=3]:oracle`.

Ingest indexes the episode (adapters/_retrieval_items.py): one item per session, per round (a user turn
and the assistant turns after it), per round with fact-expanded keys (`fact`: the reader extracts each
session's facts at ingest, one call per session through its own cache; adapters/_facts.py), or per
window of about `chunk_tokens` tokens for families without sessions (`chunk`). The default is session
when the episode has sessions, else chunk. The retriever (adapters/_retrievers.py) is BM25 (bm25s) by
default, or dense with an embedder (naming one implies retriever=dense).

Answer: the question (its "Question:" line when it has one) is the query; the top `k` items (default
5 sessions, 10 rounds, 10 fact-keyed rounds, 5 chunks) are rendered into the reader's prompt as the
probe's context, sessions and rounds as LongMemEval's reader shows a history (sorted by date, with the
template's instruction), chunks in document order. The run's condition is in-memory: the probe arrives
without context and the adapter supplies what it retrieved. `time_filter=1` reads only items dated in
the range the question's time expressions name (adapters/_time_filter.py; a deterministic parser
where LongMemEval used an LLM) and ranks them first in the reported ids (the others follow), falling
back to no filter when none matches or nothing is left.

Reported `retrieved_ids`: the ranking (time-filtered items first), so recall@k is scored even when
fewer items are read: session ids, cut at REPORTED_IDS; for round and fact items LongMemEval's turn
ids (`<session id>_<position>`), every round ranked before the first round of a session beyond the
top REPORTED_IDS sessions, so turn-level metrics and the session-level ones through the turns are
scored as LongMemEval scores a turn retriever (_retrieval_items.reported_ids). None for chunks of a
history that has sessions: chunk-N is no session id, and a recall of 0 would be wrong. Tokens are
the reader's for the question; fact extraction is an ingest cost, reported in footprint(). The reader
never ingests the episode: it sees only what was retrieved. Sessions are rendered with the default
LongMemEval template (systems do not see a dataset's own template, as for con:SPEC).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from longbench_suite.errors import UserError
from longbench_suite.protocol import (
    Answer,
    Condition,
    Episode,
    MemorySystem,
    Probe,
    SystemContext,
)
from longbench_suite.spec import (
    SystemSpec,
    check_options,
    check_url,
    option_choice,
    option_number,
)

from . import _facts
from ._reader_memory import ReaderMemory, gather_all, make_reader, with_recall
from ._retrieval_items import (
    Item,
    chunk_items,
    render,
    reported_ids,
    round_items,
    session_items,
    split_rounds,
    turns_text,
)
from ._retrievers import BM25, Dense, HFEmbedder, OpenAIEmbedder, Retriever
from ._time_filter import DateRange, parse_range, question_date, session_day

GRANULARITIES = ("session", "round", "fact", "chunk")
DEFAULT_K = {"session": 5, "round": 10, "fact": 10, "chunk": 5}
REPORTED_IDS = 50  # ranked sessions per answer (rounds: of this many sessions): LongMemEval's k goes to 50
FACT_CONCURRENCY = 8  # extraction calls in flight per episode
OPTIONS = ("k", "granularity", "retriever", "embedder", "embed_base_url", "embed_api_key_env", "time_filter", "chunk_tokens")
_QUESTION_LINE = re.compile(r"^\s*question\s*:\s*(.+)", re.IGNORECASE | re.MULTILINE | re.DOTALL)


@dataclass
class _Indexed:
    granularity: str
    items: list[Item]
    index: Any  # the retriever's index; None when the episode had nothing to index
    report_ids: bool = True  # False: chunks of a history with sessions (chunk-N is no session id)


@dataclass
class _Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    facts: int = 0


class RetrievalMemory(ReaderMemory[_Indexed]):
    condition_override = Condition.IN_MEMORY  # the probe comes without context; we supply what we retrieve
    needs = "retrieval memory needs the episode"

    def __init__(self, inner: MemorySystem, retriever: Retriever, *, granularity: str | None, k: int | None,
                 time_filter: bool, chunk_tokens: int):
        from tasks.longmemeval import Template

        if granularity == "fact" and inner.privileged:  # extraction asks the reader an open question
            raise UserError("retrieval: granularity=fact needs a reader that reads (a model), not a baseline that knows the gold")
        super().__init__(inner, "retrieval")
        self.retriever = retriever
        self.granularity = granularity  # None: session when the episode has sessions, else chunk
        self.k = k  # None: DEFAULT_K of the granularity
        self.time_filter = time_filter
        self.chunk_tokens = chunk_tokens
        self.concurrent_episodes = inner.concurrent_episodes  # our state is keyed by episode id
        self.preferred_concurrency = getattr(inner, "preferred_concurrency", None)  # e.g. a batching engine
        self.privileged = inner.privileged  # an oracle reader still needs its gold (meaningless, allowed)
        self.template = Template.load("default")
        self._sizes: list[tuple[int, int]] = []  # (items, bytes) of every episode indexed
        self._granularities: set[str] = set()
        self._usage = _Usage()

    # -- protocol --------------------------------------------------------------------------------
    async def check(self) -> None:
        await self.retriever.check()
        await super().check()

    async def ingest(self, episode: Episode) -> None:
        granularity = self.granularity or ("session" if episode.sessions else "chunk")
        if granularity != "chunk" and not episode.sessions:
            raise UserError(f"retrieval: granularity={granularity} needs dated sessions; this episode has none "
                            "(use granularity=chunk)")
        if granularity == "session":
            items = session_items(episode.sessions or [])
        elif granularity == "round":
            items = round_items(episode.sessions or [])
        elif granularity == "fact":
            items = round_items(episode.sessions or [], await self._facts(episode))
        else:
            items = chunk_items(episode.text, self.chunk_tokens)
        index = await self.retriever.build([it.key for it in items]) if items else None
        # Chunks of a history that has sessions cannot be scored against its evidence sessions: report no
        # ids rather than a recall of 0.
        self._episodes[episode.episode_id] = _Indexed(granularity, items, index, not (granularity == "chunk" and episode.sessions))
        stored = sum(len(it.key.encode()) + len((it.text or turns_text(it.turns or ())).encode()) for it in items)
        self._sizes.append((len(items), stored + (self.retriever.index_bytes(index) if index is not None else 0)))
        self._granularities.add(granularity)

    async def _facts(self, episode: Episode) -> list[list[list[str]]]:
        """Per session, per round: the facts the reader extracted from the session (one call each)."""
        limit = asyncio.Semaphore(FACT_CONCURRENCY)

        async def extract(i: int, session: dict) -> list[list[str]]:
            question = _facts.prompt(session["date"], turns_text(session["turns"]))
            async with limit:
                reply = await self.inner.answer(Probe(
                    probe_id=f"{episode.episode_id}#facts{i}", episode_id=episode.episode_id, question=question,
                    answer_prefix="", context=None, max_new_tokens=_facts.FACT_TOKENS))
            facts = _facts.parse(reply.text)
            self._usage.calls += 1
            self._usage.prompt_tokens += reply.prompt_tokens or 0
            self._usage.completion_tokens += reply.completion_tokens or 0
            self._usage.facts += len(facts)
            return _facts.attach(facts, [turns_text(r) for r in split_rounds(session["turns"])])

        return await gather_all([extract(i, s) for i, s in enumerate(episode.sessions or [])])

    async def answer(self, probe: Probe) -> Answer:
        state = self.state(probe)
        t0 = time.monotonic()
        ranked, in_window = await self._rank(state, probe)
        read = ranked[: min(in_window or len(ranked), self.k or DEFAULT_K[state.granularity])]
        context = render(read, self.template)
        final = await self.inner.answer(with_recall(probe, context))
        return Answer(
            text=final.text,
            choice_logprobs=final.choice_logprobs,
            prompt_tokens=final.prompt_tokens,
            completion_tokens=final.completion_tokens,
            latency_s=time.monotonic() - t0,
            retrieved_ids=reported_ids(ranked, REPORTED_IDS) if state.report_ids else None,
            cache_hit=final.cache_hit,
            model=final.model,
        )

    async def _rank(self, state: _Indexed, probe: Probe) -> tuple[list[Item], int]:
        """Every item, best first (ties: document order), and how many lead the list because they lie
        in the question's time window (time_filter=1; 0 when off, no window, or none inside: no filter)."""
        if not state.items:
            return [], 0
        scores = await self.retriever.scores(state.index, query_text(probe.question))
        ranked = [state.items[i] for i in np.argsort(-scores, kind="stable")]
        window = self._window(probe) if self.time_filter else None
        if window is None:
            return ranked, 0
        inside = [it for it in ranked if it.day is not None and it.day in window]
        return inside + [it for it in ranked if not (it.day is not None and it.day in window)], len(inside)

    def _window(self, probe: Probe) -> DateRange | None:
        today = question_date(probe.question) or session_day(str((probe.meta or {}).get("question_date", "")))
        return parse_range(query_text(probe.question), today) if today else None

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        retriever = self.retriever.describe()
        return {
            "name": self.name,
            **retriever,
            "embedder": retriever.get("embedder"),
            "granularity": self.granularity or "auto",  # auto: session when episodes have sessions, else chunk
            "k": self.k or "auto",
            "k_defaults": DEFAULT_K,
            "time_filter": self.time_filter,
            "chunk_tokens": self.chunk_tokens,
            "fact_tokens": _facts.FACT_TOKENS,
            "reported_ids": REPORTED_IDS,
            "reader": inner,
            "sampling": inner.get("sampling", {}),
        }

    def footprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "retriever": self.retriever.name,
            "granularity": sorted(self._granularities) if len(self._granularities) > 1
            else next(iter(self._granularities), self.granularity or "auto"),
            "k": self.k or {g: DEFAULT_K[g] for g in sorted(self._granularities)} or "auto",
            "episodes_indexed": len(self._sizes),
        }
        if self._sizes:
            items, sizes = zip(*self._sizes)
            out["index_items"] = {"mean": round(sum(items) / len(items), 2), "max": max(items)}
            out["index_bytes"] = {"mean": round(sum(sizes) / len(sizes)), "max": max(sizes)}
        if self._usage.calls:  # fact extraction: what ingest cost the reader
            out["ingest"] = {"calls": self._usage.calls, "prompt_tokens": self._usage.prompt_tokens,
                             "completion_tokens": self._usage.completion_tokens, "facts": self._usage.facts}
        return self.with_reader(out)

    async def aclose(self) -> None:
        try:
            await self.retriever.aclose()
        finally:
            await super().aclose()


def query_text(question: str) -> str:
    """The retrieval query: the question itself (after "Question:" when the rendering has it), without
    instructions or the current-date line, whose words would match every session alike."""
    m = _QUESTION_LINE.search(question)
    return m[1].strip() if m else question.strip()


def make_retriever(spec: SystemSpec) -> Retriever:
    embedder = spec.option("embedder")
    kind = option_choice(spec, "retriever", ("bm25", "dense"), "dense" if embedder else "bm25")
    if kind == "bm25":
        if embedder or spec.option("embed_base_url") or spec.option("embed_api_key_env"):
            raise UserError(f"system {spec}: embedder options need retriever=dense")
        return BM25()
    if not embedder:
        raise UserError(f"system {spec}: retriever=dense needs embedder=hf:PATH_OR_ID or embedder=openai:MODEL")
    backend, _, name = embedder.partition(":")
    if backend not in ("hf", "openai") or not name:
        raise UserError(f"system {spec}: embedder must be hf:PATH_OR_ID or openai:MODEL, not {embedder!r}")
    if backend == "hf":
        if spec.option("embed_base_url") or spec.option("embed_api_key_env"):
            raise UserError(f"system {spec}: embed_base_url and embed_api_key_env are for embedder=openai:MODEL")
        return Dense(HFEmbedder(name))
    from .openai_compat import DEFAULT_BASE_URL

    base_url = spec.option("embed_base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    check_url(base_url, "the embedding endpoint")
    if not base_url.startswith(("http://", "https://")):
        raise UserError(f"system {spec}: embed_base_url must be an http(s) URL")
    return Dense(OpenAIEmbedder(name, base_url, spec.option("embed_api_key_env") or "OPENAI_API_KEY"))


def _retrieval(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`retrieval[k=5,granularity=round]:SPEC`: index each episode, retrieve the top k, read them with any system."""
    check_options(spec, OPTIONS)
    granularity = spec.option("granularity")
    if granularity is not None:
        granularity = option_choice(spec, "granularity", GRANULARITIES, "session")
    k = option_number(spec, "k", 0, int, 1) if spec.option("k") is not None else None
    time_filter = bool(option_number(spec, "time_filter", 0, int, 0, 1))
    chunk_tokens = option_number(spec, "chunk_tokens", 256, int, 16)
    retriever = make_retriever(spec)  # before the reader: a bad option must not start a server
    return RetrievalMemory(make_reader(spec, ctx), retriever, granularity=granularity, k=k,
                           time_filter=time_filter, chunk_tokens=chunk_tokens)


SYSTEMS = {"retrieval": _retrieval}
