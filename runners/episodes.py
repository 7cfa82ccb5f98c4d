"""One episode of the memory protocol on one system: (reset) -> ingest -> answer its probes -> release.

Shared by the local runner and the Ray actors, so both backends ask the same questions in the same
way and produce the same rows. Records are yielded as probes finish; whoever consumes them (the
local runner, or the Ray driver) stamps them with the run id, label and condition and journals them.

A failing probe is recorded and the run goes on, but a system that fails every probe the same way
(a hung server, a dead endpoint) would hold a run for hours: the Breaker counts consecutive failures
of one kind and, at its limit, stops the run with RunAborted. Probes in flight then are cancelled and
not recorded, so `lbs run --resume` asks them again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from longbench_suite.errors import RunAborted, one_line
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, SystemContext, Turn
from longbench_suite.turns import TurnMode, conversation_order, histories, in_order


DEFAULT_MAX_FAILURES = 20  # or twice the concurrency, when larger: that many probes may fail at once


def failure_limit(max_failures: int | None, concurrency: int) -> int:
    """The breaker's limit: the user's (0: never trip), else the default for this concurrency."""
    return max(DEFAULT_MAX_FAILURES, 2 * concurrency) if max_failures is None else max_failures


def failure_kind(e: BaseException) -> str:
    """What makes two failures "the same": the kind an adapter gives (adapters/openai_compat.py:
    timeout, HTTP 5xx, connection failed...), else the exception's class."""
    kind = getattr(e, "kind", None)
    return kind if isinstance(kind, str) and kind else type(e).__name__


class Breaker:
    """Consecutive failures of one kind, in the order probes finish. A success, or a failure of
    another kind, starts the count again; at `limit` (0: never) the run is to stop."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kind: str | None = None
        self.count = 0
        self.last = ""

    def observe(self, kind: str | None, error: str | None = None) -> None:
        """One probe's outcome: kind None for an answer."""
        if kind != self.kind:
            self.kind, self.count = kind, 0
        if kind is not None:
            self.count += 1
            self.last = error or ""

    @property
    def tripped(self) -> bool:
        return self.limit > 0 and self.kind is not None and self.count >= self.limit

    def check(self) -> None:
        if self.tripped:
            raise RunAborted(f"{self.count} consecutive failures: {self.kind}: {self.last}")


class EpisodeRunner:
    """`turns`: in multi-turn mode (longbench_suite/turns.py) an episode's probes are answered one after
    another in turn order, each with the earlier turns its row carries (`history`, set by
    pending_by_episode); with history "own", the answers given here replace the reference answers."""

    def __init__(self, system: MemorySystem, family: Any, condition: Condition, concurrency: int,
                 max_failures: int | None = None, turns: TurnMode = TurnMode()):  # fmt: skip
        self.system, self.family, self.condition, self.turns = system, family, condition, turns
        # A stateful memory answers one probe at a time; a stateless one shares the bound across episodes.
        self._slots = asyncio.Semaphore(concurrency if system.concurrent_episodes else 1)
        # One breaker for every episode this runner holds: a dead server fails them all alike.
        self.breaker = Breaker(failure_limit(max_failures, concurrency))

    async def run(self, episode_row: dict, rows: list[dict]) -> AsyncIterator[dict]:
        """Yield one record per row of `rows` (this episode's pending probes), as each finishes.
        A failing probe, or a failing ingest, becomes an error record: the run goes on, until the
        breaker trips (RunAborted, raised after the record that tripped it is yielded)."""
        system = self.system
        episode = self.family.episode(episode_row)
        started = time.monotonic()
        try:
            if not system.concurrent_episodes:
                await system.reset()
            if self.condition is not Condition.NO_CONTEXT:  # meta holds generator facts (needle values)
                await system.ingest(episode if system.privileged else public(episode))
        except Exception as e:  # noqa: BLE001 - the episode's probes are recorded as failed
            error = "ingest failed: " + error_line(e)
            self.breaker.observe("ingest: " + failure_kind(e), error)  # one failure, however many probes
            for i, row in enumerate(rows):
                yield with_ingest(record(row, Answer(text=""), error), started, first=i == 0)
            self.breaker.check()
            return
        ingested = time.monotonic()
        if self.turns.multi_turn:
            async for i, rec in self._converse(rows, episode):
                yield with_ingest(rec, started, ingested, first=i == 0)
                self.breaker.check()
            await system.release(episode if system.privileged else public(episode))
            return
        tasks = [asyncio.ensure_future(self._answer(row, episode)) for row in rows]
        try:
            for i, finished in enumerate(asyncio.as_completed(tasks)):
                yield with_ingest(await finished, started, ingested, first=i == 0)
                self.breaker.check()  # after the record that tripped it is journalled
        finally:  # the consumer stopped early (cancelled, the breaker, or its actor is going away)
            for t in tasks:
                if t.done() and not t.cancelled():
                    t.exception()  # seen: a stopped run logs no "Task exception was never retrieved"
                t.cancel()
        await system.release(episode if system.privileged else public(episode))

    async def _converse(self, rows: list[dict], episode: Episode) -> AsyncIterator[tuple[int, dict]]:
        """The turns in order, each after the one before it has its answer."""
        own: dict[str, str] = {}
        for i, row in enumerate(in_order(rows)):
            if self.turns.own:  # the turns answered in this execution carry this execution's answers
                row = {**row, "history": [{**h, "answer": own.get(h["probe_id"], h["answer"])} for h in row.get("history") or []]}
            rec = await self._answer(row, episode)
            own[row["probe_id"]] = rec["output"]
            yield i, rec

    async def _answer(self, row: dict, episode: Episode) -> dict:
        async with self._slots:
            self.breaker.check()  # tripped while this probe waited for its slot: do not send it
            probe = self.family.probe(row, episode, self.condition)
            if row.get("history"):  # multi-turn: the earlier turns, which the system may see
                probe = replace(probe, history=tuple(Turn(h["question"], h["answer"]) for h in row["history"]))
            if not self.system.privileged:  # only baselines may see the answers (meta can name them too)
                probe = replace(probe, gold=None, choices=probe.choices if self.family.choices_visible else None, meta={})
            started = time.monotonic()
            error = None
            try:
                answer = await self.system.answer(probe)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - one probe failing never stops the run (only the breaker does)
                answer, error = Answer(text=""), error_line(e)
                self.breaker.observe(failure_kind(e), error)
            else:
                self.breaker.observe(None)
            if answer.latency_s is None:
                answer.latency_s = time.monotonic() - started
            return record(row, answer, error)


def public(episode: Episode) -> Episode:
    """What a system under test may see of an episode: no meta (generator facts, e.g. needle values)
    and no has_answer marks on session turns (they point at the evidence)."""
    sessions = episode.sessions
    if sessions:
        sessions = [{**s, "turns": [{**t, "has_answer": None} for t in s["turns"]]} for s in sessions]
    return replace(episode, meta={}, sessions=sessions)


def error_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {one_line(e, 480)}"


def record(row: dict, answer: Answer, error: str | None) -> dict:
    """A probe's journal record, less the run's stamp (run_id, system, condition: see `stamp`)."""
    return {
        "episode_id": row["episode_id"],
        "probe_id": row["probe_id"],
        "output": answer.text,
        "choice_logprobs": [{"choice": c, "logprob": lp} for c, lp in (answer.choice_logprobs or {}).items()] or None,
        "retrieved_ids": answer.retrieved_ids,
        "prompt_tokens": answer.prompt_tokens,
        "cached_tokens": answer.cached_tokens,
        "completion_tokens": answer.completion_tokens,
        "latency_s": answer.latency_s,
        "cache_hit": bool(answer.cache_hit),
        "error": error,
    }


def with_ingest(rec: dict, started: float, ended: float | None = None, first: bool = True) -> dict:
    """The episode's first record carries how long its reset + ingest took (`ingest_s`, a journal
    field that the predictions table leaves out; run.json `costs` sums it, runners/local.py)."""
    if first:
        rec["ingest_s"] = round((ended or time.monotonic()) - started, 6)
    return rec


def stamp(run_id: str, label: str, condition: Condition, rec: dict) -> dict:
    """The journal line: the run's identity first, as in the predictions table."""
    return {"run_id": run_id, "system": label, "condition": condition.value, **rec}


def episode_loader(dataset: Any):
    """episode_id -> its row, read one at a time: at 128k tokens a whole dataset's texts as Python
    strings would be the run's largest memory cost."""
    index = {eid: i for i, eid in enumerate(dataset.episodes.column("episode_id").to_pylist())}
    return lambda eid: dataset.episodes.slice(index[eid], 1).to_pylist()[0]


def pending_by_episode(dataset: Any, done: dict[str, str], limit: int | None,
                       turns: TurnMode = TurnMode()) -> tuple[int, dict[str, list[dict]]]:  # fmt: skip
    """(probes in the run, {episode_id: its probes not yet done}) in dataset order. `done`: the answered
    probes' outputs. In multi-turn mode each pending row carries its `history`: the earlier turns of its
    episode, answered or not, with their reference answers (history "own": the outputs of those done)."""
    probes = dataset.probes.to_pylist()
    if turns.multi_turn:  # --limit N: the first N turns of the conversations, not N probes in file order
        probes = conversation_order(probes)
    if limit is not None:
        probes = probes[:limit]
    earlier = histories(probes, done if turns.own else None) if turns.multi_turn else {}
    by_episode: dict[str, list[dict]] = {}
    for row in probes:
        if row["probe_id"] not in done:
            if row["probe_id"] in earlier:
                row["history"] = earlier[row["probe_id"]]
            by_episode.setdefault(row["episode_id"], []).append(row)
    return len(probes), by_episode


def build_system(spec: str, use_cache: bool, seed: int) -> tuple[MemorySystem, Any]:
    """The system of a run, and the response cache it answers from (None with --no-cache)."""
    from longbench_suite.registry import make_system

    from longbench_suite.cache import ResponseCache

    cache = ResponseCache() if use_cache else None  # SQLite in WAL mode: processes may share the file
    try:
        return make_system(spec, SystemContext(cache=cache, work_dir=None, seed=seed)), cache
    except BaseException:
        if cache is not None:
            cache.close()
        raise


async def close_system(system: MemorySystem | None, cache: Any) -> None:
    try:
        if system is not None:
            await system.aclose()
    finally:
        if cache is not None:
            cache.close()


async def run_all(coroutines: list) -> None:
    """Run them as tasks: the first failure propagates at once and stops the rest."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
