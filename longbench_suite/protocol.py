"""The memory protocol: what every system under test implements.

    reset()                  forget everything
    ingest(episode)          remember an episode (keep its text, index it, train on it ...)
    answer(probe) -> Answer  answer one question about what was ingested

Tasks render text (the context and each question); systems decide where it goes.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Condition(str, enum.Enum):
    IN_CONTEXT = "in-context"  # the context is in the prompt of every probe
    IN_MEMORY = "in-memory"  # the episode is ingested; probes are asked without the context
    NO_CONTEXT = "no-context"  # nothing ingested, nothing in the prompt: the floor

    @classmethod
    def parse(cls, value: str) -> "Condition":
        try:
            return cls(value)
        except ValueError:
            from .errors import UserError

            raise UserError(f"unknown condition {value!r}; choose one of {', '.join(c.value for c in cls)}") from None


@dataclass(frozen=True)
class Episode:
    episode_id: str
    family: str
    variant: str
    text: str  # the context rendered by the task (what an in-context prompt contains)
    sessions: list[dict] | None = None  # dated chat sessions, when the family has them
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """An earlier turn of a conversation over one context (multi-turn, SCBench): the question as it
    was asked and the answer that follows it (the reference answer by default, or the system's own)."""

    question: str
    answer: str


@dataclass(frozen=True)
class Probe:
    probe_id: str
    episode_id: str
    question: str  # the question rendered by the task
    answer_prefix: str  # completion cue ("The special number for ... is")
    context: str | None  # the episode text when the condition puts it in the prompt, else None
    max_new_tokens: int
    choices: list[str] | None = None
    gold: list[str] | None = None  # visible only to privileged baselines (oracle)
    meta: dict[str, Any] = field(default_factory=dict)
    # Multi-turn mode: the earlier turns of this probe's conversation, in order (empty otherwise). A chat
    # system sends them as user/assistant messages after the context; a memory may remember them.
    history: tuple[Turn, ...] = ()

    def prompt_text(self) -> str:
        """The user-visible prompt as one text: context first (so server prefix caches hit), then the
        earlier turns (question, answer), question last."""
        parts = [self.context] if self.context else []
        parts += [f"{t.question}\n{t.answer}" for t in self.history]
        return "\n\n".join([*parts, self.question])


@dataclass
class Answer:
    text: str
    choice_logprobs: dict[str, float] | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None  # of the prompt tokens, those served from a prefix cache (vLLM's count)
    completion_tokens: int | None = None
    latency_s: float | None = None
    retrieved_ids: list[str] | None = None
    cache_hit: bool = False
    model: str | None = None  # the model (and version) that answered, as the endpoint named it


@dataclass
class SystemContext:
    """What the runner hands a system factory besides the spec."""

    cache: Any = None  # longbench_suite.cache.ResponseCache, or None when caching is off
    work_dir: Path | None = None  # where a system may keep logs (e.g. a served model's log)
    seed: int = 0


class MemorySystem(abc.ABC):
    """A system under test. Methods are async so a runner can drive many requests at once.

    `concurrent_episodes`: the system keeps no shared state between episodes (a full-context LLM),
    so the runner may have several episodes ingested at once and answer their probes concurrently.
    A stateful memory leaves it False: the runner then does reset -> ingest -> answer probes, one
    episode at a time.
    """

    name: str = "system"
    concurrent_episodes: bool = False
    # Privileged systems (oracle, random) may read gold answers and choices.
    privileged: bool = False
    # A wrapper that fixes the condition (no-context) sets it; the runner records it.
    condition_override: Condition | None = None

    async def check(self) -> None:
        """Fail fast before a run (e.g. endpoint unreachable -> UserError)."""

    async def reset(self) -> None:
        """Forget everything ingested so far."""

    async def ingest(self, episode: Episode) -> None:
        """Remember an episode (called once per episode, before its probes; not under no-context)."""

    async def release(self, episode: Episode) -> None:
        """The runner is done with this episode's probes (lets stateless systems drop its text)."""

    @abc.abstractmethod
    async def answer(self, probe: Probe) -> Answer: ...

    def describe(self) -> dict[str, Any]:
        """What run.json records about the system: model, endpoint, sampling. Never secrets."""
        return {"name": self.name}

    def footprint(self) -> dict[str, Any]:
        """What the system costs in memory, where it knows (recorded in run.json after the run).
        Keys by convention: `parameters` (count), `context_length` (tokens), `kv_bytes_per_token`
        (attention KV cache), `state_bytes` (recurrent/SSM state per sequence), `index_items` and
        `index_bytes` (retrieval memory, per episode: mean and max). The costs of a memory, per
        episode (PerEpisode.summary()): `memory_bytes` and `memory_items` (what it keeps after
        ingest: adapter weights, cache, summary text, facts, graph nodes), `ingest_tokens` (tokens it
        read, wrote or trained on to remember). The runner times ingest itself (run.json `costs`);
        answer tokens and latency are in the predictions table. Unknown -> leave the key out."""
        return {}

    async def aclose(self) -> None:
        """Release clients, servers, memory."""


class PerEpisode:
    """One cost figure of a memory, one value per ingested episode (bytes kept, items stored, tokens
    spent at ingest), as footprint() reports it: {"mean", "max", "episodes"}."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def add(self, value: float) -> None:
        self.values.append(float(value))

    def summary(self) -> dict[str, float] | None:
        if not self.values:
            return None
        mean = sum(self.values) / len(self.values)
        return {"mean": round(mean, 2), "max": max(self.values), "episodes": len(self.values)}
