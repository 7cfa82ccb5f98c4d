"""Baseline systems that bound every score: oracle (ceiling), random (chance), no-context (floor),
constant (one fixed answer: the position-bias floor of multiple-choice tasks)."""

from __future__ import annotations

import asyncio
import hashlib
import random as _random
from typing import Any

from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_number


def _delay(spec: SystemSpec, allowed: tuple[str, ...] = ("delay",)) -> float:
    """`delay=S` makes a baseline take S seconds per answer: a slow system for resume/progress tests."""
    check_options(spec, allowed)
    return option_number(spec, "delay", 0.0, float, 0.0)


class Oracle(MemorySystem):
    """Answers the gold values (or the reference answer a probe states): every scorer must give it 1.0,
    or the scorer is wrong."""

    name = "oracle"
    concurrent_episodes = True
    privileged = True

    def __init__(self, spec: SystemSpec):
        self.delay = _delay(spec)

    async def answer(self, probe: Probe) -> Answer:
        if self.delay:
            await asyncio.sleep(self.delay)
        gold = probe.gold or []
        logprobs = {c: (0.0 if c in gold else -1e9) for c in probe.choices or []} or None
        # A probe whose family states its reference answer (a turn of a conversation: a function's
        # source in a code block) is answered with it; otherwise with the gold values.
        reference = (probe.meta or {}).get("reference")
        text = reference if isinstance(reference, str) else ", ".join(gold)
        return Answer(text=text, choice_logprobs=logprobs, latency_s=self.delay)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "delay": self.delay}


class RandomGuess(MemorySystem):
    """Picks one of the probe's candidate answers uniformly. The pick depends only on (seed, probe id),
    so it is the same guess for every run, and its expected score is the probe's `chance` column."""

    name = "random"
    concurrent_episodes = True
    privileged = True

    def __init__(self, spec: SystemSpec, seed: int):
        self.delay = _delay(spec, ("delay", "seed"))
        self.seed = option_number(spec, "seed", seed, int)

    async def answer(self, probe: Probe) -> Answer:
        if self.delay:
            await asyncio.sleep(self.delay)
        choices = probe.choices or []
        digest = hashlib.sha256(f"{self.seed}\0{probe.probe_id}".encode()).digest()
        rng = _random.Random(int.from_bytes(digest[:8], "big"))
        text = rng.choice(choices) if choices else ""
        logprobs = {c: (0.0 if c == text else -1e9) for c in choices} or None
        return Answer(text=text, choice_logprobs=logprobs, latency_s=self.delay)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "delay": self.delay}


class Constant(MemorySystem):
    """Gives the same answer to every probe (`constant,text=A`): a position-bias floor. On a
    counterbalanced A/B set it must score exactly 0.5, or the counterbalance is broken."""

    name = "constant"
    concurrent_episodes = True

    def __init__(self, spec: SystemSpec):
        self.delay = _delay(spec, ("delay", "text"))
        self.text = spec.option("text", "A") or ""
        self.name = f"constant:{self.text}"

    async def answer(self, probe: Probe) -> Answer:
        if self.delay:
            await asyncio.sleep(self.delay)
        return Answer(text=self.text, latency_s=self.delay)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "text": self.text, "delay": self.delay}


class NoContext(MemorySystem):
    """Wraps any system and withholds the episode: nothing ingested, no context in the prompt.
    The runner reads `condition_override` and records the run's condition as no-context."""

    condition_override = Condition.NO_CONTEXT

    def __init__(self, inner: MemorySystem, spec: SystemSpec):
        self.inner = inner
        self.name = f"no-context:{inner.name}"
        self.concurrent_episodes = inner.concurrent_episodes
        self.preferred_concurrency = getattr(inner, "preferred_concurrency", None)  # e.g. a batching engine
        self.privileged = inner.privileged

    async def check(self) -> None:
        await self.inner.check()

    async def reset(self) -> None:
        await self.inner.reset()

    async def ingest(self, episode: Episode) -> None:  # the point of the wrapper: remember nothing
        return None

    async def answer(self, probe: Probe) -> Answer:
        if probe.context is not None:
            raise AssertionError("runner passed context to a no-context system")
        return await self.inner.answer(probe)

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        return {"name": self.name, "inner": inner, "sampling": inner.get("sampling", {})}

    async def aclose(self) -> None:
        await self.inner.aclose()


def _make_oracle(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`oracle`: answers the gold values; every scorer must give it 1.0."""
    return Oracle(spec)


def _make_random(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`random`: a uniform pick among the probe's candidates (chance), the same for every run."""
    return RandomGuess(spec, ctx.seed)


def _make_constant(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`constant,text=A`: the same answer to every probe (the position-bias floor)."""
    return Constant(spec)


def _no_context(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`no-context:SPEC`: any system with nothing ingested and no context in the prompt (the floor)."""
    from longbench_suite.registry import make_system

    assert spec.inner is not None
    return NoContext(make_system(spec.inner, ctx), spec)


SYSTEMS = {
    "oracle": _make_oracle,
    "random": _make_random,
    "constant": _make_constant,
    "no-context": _no_context,
}
