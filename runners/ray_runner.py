"""The Ray backend: `lbs run ... --backend ray`. Episodes are sharded over Ray actors.

Each actor (EpisodeWorker) builds its own system from the spec (an in-process vLLM engine on its GPU,
or a client of a served model) and runs whole episodes with the same code as the local runner
(runners/episodes.py), streaming each probe's record back as it finishes. The driver keeps everything
else: the dataset, the run directory, the journal, the progress display (runners/local.py). So a
run killed at any moment resumes exactly as a local one, and a deterministic system gives the same
predictions on either backend.

An actor that dies (killed, out of memory, a node lost) is replaced, and the probes of its
unfinished episodes that had not come back are queued again; after MAX_ATTEMPTS deaths during the
same episode, that episode's remaining probes are recorded as failed with the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from longbench_suite.costs import merge_footprints
from longbench_suite.errors import RunAborted, UserError, one_line
from longbench_suite.protocol import Answer, Condition
from longbench_suite.registry import task_family
from longbench_suite.turns import TurnMode

from .episodes import EpisodeRunner, build_system, close_system, error_line, record, run_all
from .local import RunConfig, SystemInfo, footprint_of, run_async

MAX_ATTEMPTS = 3  # runs of one episode that may end with its actor's death
CLOSE_TIMEOUT_S = 60  # an actor's aclose() (an engine shutting down) before it is killed anyway
_RESOURCE_NAME = re.compile(r"[A-Za-z_][\w.:/-]*")


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: $RAY_ADDRESS, else a new local cluster on this machine
    workers: int | None = None  # None: as many as the free resources hold
    resources: dict[str, float] = field(default_factory=lambda: {"CPU": 1.0})  # per actor

    @classmethod
    def parse(cls, address: str | None, workers: int | None, resources: str | None) -> RayOptions:
        if workers is not None and workers < 1:
            raise UserError("--workers must be at least 1")
        return cls(address or None, workers, parse_resources(resources) if resources else {"CPU": 1.0})


def parse_resources(text: str) -> dict[str, float]:
    """'GPU=1,CPU=4' (or the JSON object {"GPU": 1, "CPU": 4}) -> {"GPU": 1.0, "CPU": 4.0}. Names other
    than CPU, GPU and memory (bytes) are the cluster's custom resources (ray start --resources)."""
    try:
        pairs = json.loads(text).items() if text.lstrip().startswith("{") else (p.split("=", 1) for p in text.split(","))
        out = {name.strip(): float(value) for name, value in pairs}
    except (ValueError, TypeError, AttributeError):
        raise UserError(f"--resources-per-worker {text!r}: expected NAME=AMOUNT pairs, e.g. GPU=1,CPU=4") from None
    for name, amount in out.items():
        if not _RESOURCE_NAME.fullmatch(name) or not math.isfinite(amount) or amount < 0:
            raise UserError(f"--resources-per-worker: bad resource {name}={amount:g}")
    if not any(out.values()):
        raise UserError("--resources-per-worker must reserve something, e.g. CPU=1")
    return out


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'longbench-suite[ray]'") from None
    return ray


class EpisodeWorker:
    """A Ray actor holding one system. Methods are async: one actor runs several episodes at once
    when the system allows it (concurrent_episodes), all on its event loop."""

    def __init__(self, spec: str, family_name: str, use_cache: bool, seed: int):
        self._error: tuple[bool, str] | None = None
        self._runners: dict[tuple[Condition, int, TurnMode], EpisodeRunner] = {}
        self.cache = self.system = None
        try:
            self.family = task_family(family_name)
            self.system, self.cache = build_system(spec, use_cache, seed)
        except UserError as e:  # a bad spec is the user's: the driver prints it as one line
            self._error = (True, str(e))
        except Exception as e:  # noqa: BLE001 - reported by info(), with its type
            self._error = (False, error_line(e))

    def info(self) -> tuple[bool, Any]:
        """(ok, SystemInfo) or (False, (is_user_error, message))."""
        return (False, self._error) if self._error else (True, SystemInfo.of(self.system))

    async def check(self) -> str | None:
        """None, or the one-line problem (a down endpoint, a missing key on this node)."""
        try:
            await self.system.check()
        except UserError as e:
            return str(e)
        return None

    async def run_episode(self, episode_row: dict, rows: list[dict], condition: Condition, concurrency: int,
                          max_failures: int | None = None, turns: TurnMode = TurnMode()):  # fmt: skip
        # One runner per (condition, concurrency): its semaphore bounds the probes in flight on this
        # actor across all the episodes it holds, as the local runner's does for the process; its
        # circuit breaker counts this actor's failures.
        runner = self._runners.get((condition, concurrency, turns))
        if runner is None:
            runner = self._runners[(condition, concurrency, turns)] = EpisodeRunner(
                self.system, self.family, condition, concurrency, max_failures, turns)
        async for rec in runner.run(episode_row, rows):
            yield rec

    def footprint(self) -> dict:
        return footprint_of(self.system)

    async def close(self) -> None:
        await close_system(self.system, self.cache)


class RayBackend:
    """runners/local.py's Backend, with the system on Ray actors."""

    def __init__(self, options: RayOptions):
        self.options = options
        self.actors: list[Any] = []
        self.generations: list[int] = []  # per slot: how many times its actor was replaced
        self.replaced = 0
        self.info: SystemInfo | None = None
        self._args: tuple = ()
        self._started_ray = False
        self.max_failures: int | None = None

    def describe(self) -> dict:
        return {
            "name": "ray",
            "address": self.options.address or os.environ.get("RAY_ADDRESS") or "local",
            "workers": len(self.actors),
            "resources_per_worker": self.options.resources,
            "replaced_workers": self.replaced,
        }

    async def open(self, spec: str, config: RunConfig, family_name: str) -> SystemInfo:
        ray = _ray()
        self._connect(ray)
        n = self._fit(ray)
        self._args = (spec, family_name, config.use_cache, config.seed)
        self.max_failures = config.max_consecutive_failures
        self.actors = [self._new_actor(ray) for _ in range(n)]
        self.generations = [0] * n
        infos = await asyncio.gather(*(self._ready(a) for a in self.actors))
        self.info = infos[0]
        return self.info

    def _connect(self, ray) -> None:
        address = self.options.address or os.environ.get("RAY_ADDRESS")
        # Ray's own INFO lines (and a new local cluster's) would drown the run's progress display.
        logging.getLogger("ray").setLevel(logging.WARNING)
        # ... and so would its notice that a new local cluster uses token authentication (it does).
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                     configure_logging=False, ignore_reinit_error=True)  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UserError(f"cannot connect to the Ray cluster at {address or 'a new local cluster'}: {one_line(e)}") from None
        self._started_ray = True

    def _fit(self, ray) -> int:
        """Actors to start: --workers, checked against what the cluster has free (more would wait
        for resources forever), else as many as fit."""
        free = ray.available_resources()
        fits = {name: math.floor(free.get(name, 0.0) / amount + 1e-9) for name, amount in self.options.resources.items() if amount}
        fit = min(fits.values())
        if fit < 1:
            short = min(fits, key=fits.get)
            raise UserError(f"the Ray cluster has {free.get(short, 0):g} {short} free; each worker asks for "
                            f"{self.options.resources[short]:g} (--resources-per-worker)")  # fmt: skip
        if self.options.workers and self.options.workers > fit:
            raise UserError(f"--workers {self.options.workers}: the Ray cluster's free resources hold {fit} workers of {self.options.resources}")
        return self.options.workers or fit

    def _new_actor(self, ray):
        res = dict(self.options.resources)
        opts: dict[str, Any] = {"num_cpus": res.pop("CPU", 0), "num_gpus": res.pop("GPU", 0), "max_restarts": 0}
        if "memory" in res:
            opts["memory"] = res.pop("memory")
        if res:
            opts["resources"] = res
        return ray.remote(EpisodeWorker).options(**opts).remote(*self._args)

    @staticmethod
    async def _ready(actor) -> SystemInfo:
        ok, info = await actor.info.remote()
        if not ok:
            user, message = info
            raise UserError(message) if user else RuntimeError(f"building the system on a Ray worker failed: {message}")
        return info

    async def check(self) -> None:
        problems = await asyncio.gather(*(a.check.remote() for a in self.actors))
        for problem in problems:
            if problem:
                raise UserError(problem)

    async def _replace(self, slot: int, generation: int) -> None:
        """A new actor in `slot`, unless another lane of the slot replaced the dead one already."""
        if self.generations[slot] != generation:
            return
        ray = _ray()
        self.generations[slot] += 1
        self.replaced += 1
        with contextlib.suppress(Exception):  # it is dead already
            ray.kill(self.actors[slot], no_restart=True)
        self.actors[slot] = self._new_actor(ray)
        await self._ready(self.actors[slot])

    async def execute(self, pending, load_episode, condition, concurrency, sink, turns) -> None:
        from ray.exceptions import ObjectLostError, RayActorError, WorkerCrashedError

        lost = (RayActorError, WorkerCrashedError, ObjectLostError)
        queue = deque((eid, 1) for eid in pending)
        remaining = {eid: {row["probe_id"]: row for row in rows} for eid, rows in pending.items()}

        async def lane(slot: int) -> None:
            # A lane takes the next episode; an episode whose actor died goes back to the queue, and
            # the lane that saw it die takes it up again if no other lane has.
            while queue:
                eid, attempt = queue.popleft()
                generation, actor = self.generations[slot], self.actors[slot]
                try:
                    rows = list(remaining[eid].values())
                    async for ref in actor.run_episode.remote(load_episode(eid), rows, condition, concurrency,
                                                              self.max_failures, turns):  # fmt: skip
                        rec = await ref
                        remaining[eid].pop(rec["probe_id"], None)
                        sink(rec)
                except RunAborted as e:  # an actor's breaker: Ray wraps it with the actor's traceback
                    raise RunAborted(str(getattr(e, "cause", None) or e)) from None
                except lost as e:
                    await self._replace(slot, generation)
                    if not remaining[eid]:
                        continue
                    if attempt < MAX_ATTEMPTS:
                        queue.append((eid, attempt + 1))
                        continue
                    error = f"worker died during this episode {attempt} times; last: {type(e).__name__}: {one_line(e, 200)}"
                    for row in remaining.pop(eid).values():
                        sink(record(row, Answer(text=""), error))

        per_actor = concurrency if self.info.concurrent_episodes else 1
        await run_all([lane(slot) for slot in range(len(self.actors)) for _ in range(per_actor)])

    async def footprint(self) -> dict:
        merged: dict = {}
        for footprint in await asyncio.gather(*[a.footprint.remote() for a in self.actors]):
            merged = merge_footprints(merged, footprint)  # each worker remembered its own episodes
        return merged

    async def close(self) -> None:
        if not self._started_ray:
            return
        ray = _ray()
        with contextlib.suppress(Exception):  # a timeout, a dead actor: they are killed below anyway
            closing = [a.close.remote() for a in self.actors]
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), CLOSE_TIMEOUT_S)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        ray.shutdown()


def run(config: RunConfig, options: RayOptions) -> dict:
    """Run synchronously on Ray; returns run.json's contents."""
    return asyncio.run(run_async(config, RayBackend(options)))
