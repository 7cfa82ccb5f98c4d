"""What the memories that read through a reader share: `KIND[OPTIONS]:READER` wrappers (retrieval, con,
summary, facts, graph; mem0 uses the helpers only).

Such a memory keeps one state per ingested episode (an index, notes' sessions, a summary, a fact store,
a graph) and answers each probe by asking its reader (`self.inner`, the system READER-SPEC names) with
what the state supplies. ReaderMemory holds that state by episode id, forgets it on reset and release,
forwards check/reset/release/aclose to the reader, and gives the one-line UserError a probe without an
ingested episode gets (e.g. under no-context). Nothing here changes what a memory remembers or asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from functools import cache
from typing import Any, Generic, TypeVar

from longbench_suite.errors import UserError
from longbench_suite.protocol import Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec

State = TypeVar("State")
T = TypeVar("T")


class ReaderMemory(MemorySystem, Generic[State]):
    """A memory named `KIND:READER` with one State per ingested episode, kept in `_episodes`.

    Stateful by default (concurrent_episodes False); a subclass whose state is only ever read by
    episode id may follow its reader instead. `needs` ends the "nothing ingested" error."""

    concurrent_episodes = False
    needs = "the memory needs the episode"

    def __init__(self, inner: MemorySystem, kind: str):
        self.inner = inner
        self.kind = kind
        self.name = f"{kind}:{inner.name}"
        self._episodes: dict[str, State] = {}

    async def check(self) -> None:
        await self.inner.check()

    async def reset(self) -> None:
        self._episodes.clear()
        await self.inner.reset()

    async def release(self, episode: Episode) -> None:
        self._episodes.pop(episode.episode_id, None)
        await self.inner.release(episode)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def state(self, probe: Probe) -> State:
        """The state of the probe's episode; a one-line UserError when it was not ingested."""
        state = self._episodes.get(probe.episode_id)
        if state is None:
            raise UserError(f"{self.kind}: nothing ingested for this question ({self.needs})")
        return state

    def with_reader(self, out: dict[str, Any]) -> dict[str, Any]:
        """footprint(): `out` with the reader's footprint under "reader" (when it has one), None values left out."""
        reader = self.inner.footprint()
        if reader:
            out["reader"] = reader
        return {k: v for k, v in out.items() if v is not None}


def make_reader(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """The reader of a wrapper spec (KIND:READER-SPEC). Call it last in a factory: a bad option must
    be refused before a reader starts a server."""
    from longbench_suite.registry import make_system

    assert spec.inner is not None  # the spec parser gives every wrapper kind a reader
    return make_system(spec.inner, ctx)


def known_sum(values: Iterable[int | None]) -> int | None:
    """The sum of the known values (token counts of several reader calls); None when none is known."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def with_recall(probe: Probe, context: str) -> Probe:
    """The probe as a memory hands it to its reader: what it recalled as the context, and the question
    without the in-memory opening of a LongMemEval question ("answer from what you remember"), since the
    recalled text is in the prompt now (LongMemEval's reader is asked so). One wording for every memory."""
    opening = _memory_opening()
    question = probe.question
    if context and opening and question.startswith(opening):
        question = question.removeprefix(opening).lstrip()
    return replace(probe, context=context, question=question)


@cache
def _memory_opening() -> str:
    from tasks.longmemeval import Template

    return Template.load("default").memory_instruction or ""


async def gather_all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """asyncio.gather, but when one call fails the others are cancelled: a failed ingest must not leave
    reader calls running into the next episode (reading the old one's text, counting to the new one)."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for t in tasks:
            t.cancel()
