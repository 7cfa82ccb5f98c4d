"""Chain-of-Note reading (LongMemEval's best reader setting): `con:SPEC` wraps any system.

First pass: for every session of the ingested history, the inner system is asked to write notes on
what in that session helps answer the question. Second pass: the inner system answers the question
from the notes (sessions whose notes say "nothing relevant" are left out) instead of the raw
history. Prompts are the `note_instruction` and `note` keys of the default LongMemEval template
(tasks/templates/longmemeval.toml); sessions are rendered with that template too (a wrapper spec
carries no options; the dataset's own template lives in episode meta, which systems do not see).

The cost is one call per session per question, as in LongMemEval: with an M history (~500 sessions)
that is 500 calls a question. NOTE_CONCURRENCY bounds how many run at once per question.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from longbench_suite.errors import UserError
from longbench_suite.protocol import Answer, Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec

from ._reader_memory import ReaderMemory, gather_all, known_sum, make_reader

NOTE_TOKENS = 256  # budget of one session's notes
NOTE_CONCURRENCY = 8
_NOTHING = "nothing relevant"


class ChainOfNote(ReaderMemory[list[dict]]):
    needs = "Chain-of-Note needs the history; not under no-context"

    def __init__(self, inner: MemorySystem):
        from tasks.longmemeval import Template

        super().__init__(inner, "con")  # per episode: its sessions in date order
        self.concurrent_episodes = inner.concurrent_episodes  # the sessions are read by episode id
        self.preferred_concurrency = getattr(inner, "preferred_concurrency", None)  # e.g. a batching engine
        self.template = Template.load("default")

    async def ingest(self, episode: Episode) -> None:
        if not episode.sessions:
            raise UserError("con: Chain-of-Note reads dated sessions; this dataset's episodes have none (use it on longmemeval)")
        from tasks.longmemeval import sort_sessions

        self._episodes[episode.episode_id] = sort_sessions(episode.sessions)
        await self.inner.ingest(episode)

    async def answer(self, probe: Probe) -> Answer:
        sessions = self.state(probe)
        t0 = time.monotonic()
        limit = asyncio.Semaphore(NOTE_CONCURRENCY)

        async def notes_on(index: int, session: dict) -> Answer:
            prompt = self.template.note_instruction.format(
                session=self.template.render_session(index, session["date"], session["turns"]), question=probe.question)
            async with limit:
                return await self.inner.answer(Probe(
                    probe_id=f"{probe.probe_id}#note{index}", episode_id=probe.episode_id, question=prompt,
                    answer_prefix="", context=None, max_new_tokens=NOTE_TOKENS))

        notes = await gather_all([notes_on(i, s) for i, s in enumerate(sessions, 1)])
        blocks = [
            self.template.note.format(index=i, date=s["date"], notes=n.text.strip())
            for i, (s, n) in enumerate(zip(sessions, notes), 1)
            if n.text.strip() and not n.text.strip().lower().startswith(_NOTHING)
        ]
        context = f"{self.template.instruction}\n\n" + ("\n\n".join(blocks) or "(no relevant notes)")
        final = await self.inner.answer(replace(probe, context=context))
        used = [final, *notes]
        return Answer(
            text=final.text,
            prompt_tokens=known_sum(a.prompt_tokens for a in used),
            completion_tokens=known_sum(a.completion_tokens for a in used),
            latency_s=time.monotonic() - t0,
            cache_hit=all(a.cache_hit for a in used),
            model=final.model,
        )

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        return {"name": self.name, "reader": "chain-of-note", "note_tokens": NOTE_TOKENS, "inner": inner,
                "sampling": inner.get("sampling", {})}


def _con(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    return ChainOfNote(make_reader(spec, ctx))


SYSTEMS = {"con": _con}
