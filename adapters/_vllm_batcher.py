"""The micro-batcher of the in-process vLLM system (adapters/vllm_inprocess.py): concurrent probes
become one engine run.

submit() queues a request and waits for its result; one background task collects what is queued
(until nothing new arrived for `wait_s`, or `max_batch` requests), sorts it by episode (first seen
first) so probes sharing a context are adjacent and the prefix cache computes the context once, and
awaits `run` on the batch: one run at a time. A batch whose run raises fails every probe in it; a
probe the engine refused alone fails alone (`run` returns its exception in its place).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from longbench_suite.errors import SystemFailure, one_line

# A batch's run: one result, or the exception of that request, per request, in order.
RunBatch = Callable[[list[Any]], Awaitable[list[Any]]]


@dataclass
class Pending:
    order: tuple[int, int]  # (episode rank, arrival): the batch is sorted by it
    request: Any
    future: asyncio.Future


class MicroBatcher:
    """Collects concurrent requests into batches for `run`, one batch at a time."""

    def __init__(self, run: RunBatch, wait_s: float, max_batch: int):
        self.run, self.wait_s, self.max_batch = run, wait_s, max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[Pending] = []
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._episodes: dict[str, int] = {}  # episode id -> its rank in batches (first seen first)
        self._ranks = itertools.count()  # never reused: a forgotten episode's rank must not collide
        self._arrivals = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """asyncio objects belong to one loop: a new loop (another asyncio.run) gets new ones."""
        self._loop, self._arrived = loop, asyncio.Event()
        self._pending, self._task = [], None

    async def submit(self, episode_id: str, request: Any) -> Any:
        """Queue the request (after bind() on this loop) and wait for its result."""
        future = asyncio.get_running_loop().create_future()
        rank = self._episodes.get(episode_id)
        if rank is None:
            rank = self._episodes[episode_id] = next(self._ranks)
        self._arrivals += 1
        self._pending.append(Pending((rank, self._arrivals), request, future))
        assert self._arrived is not None
        self._arrived.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop_batches())
        return await future

    def forget(self, episode_id: str) -> None:
        """The episode is over: its rank is not needed any more."""
        self._episodes.pop(episode_id, None)

    def close(self, error: Exception) -> None:
        """Stop collecting; what is still queued fails with `error` (on this loop: another loop's
        objects are gone with it)."""
        if self._loop is asyncio.get_running_loop():
            if self._task is not None:
                self._task.cancel()
            for p in self._pending:  # nobody will run them now
                if not p.future.done():
                    p.future.set_exception(error)
        self._task, self._pending = None, []

    async def _loop_batches(self) -> None:
        arrived = self._arrived
        assert arrived is not None
        while True:
            await arrived.wait()
            while len(self._pending) < self.max_batch:  # collect until the queue goes quiet
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), self.wait_s)
                except TimeoutError:
                    break
            self._pending.sort(key=lambda p: p.order)  # one episode's probes side by side
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if not self._pending:
                arrived.clear()
            batch = [p for p in batch if not p.future.done()]  # their callers were cancelled
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[Pending]) -> None:
        try:
            results = await self.run([p.request for p in batch])
        except Exception as e:  # noqa: BLE001 - every probe of the batch fails, the run goes on
            error = e if isinstance(e, SystemFailure) else SystemFailure(f"vLLM failed: {one_line(e, 300)}")
            results = [error] * len(batch)
        for p, result in zip(batch, results):
            if p.future.done():
                continue
            if isinstance(result, BaseException):
                p.future.set_exception(result)
            else:
                p.future.set_result(result)
