"""The memory protocol's contract, checked the same way for every memory system (issue 22).

A memory is run by the real runner (runners.local.run) on a small dataset in the in-memory condition,
reading through `spy`: a reader that answers by echoing what it was asked (so whatever a memory stores
is text of the episodes it ingested) and records every call. The checks:

- reset forgets: every call made while an episode is current (its ingest and its probes) carries no
  text unique to another episode (no run of three words found only in another episode's text; each
  joint-recall episode has its own keys, values and filler prose);
- nothing privileged reaches the reader: its probes hold no gold, choices or meta (the runner strips
  them from what the memory gets; this checks the memory does not put any back);
- ingest once: the memory is ingested exactly once per episode (counted by a wrapper between the runner
  and the memory), and never hands the episode to its reader (the spy's ingest is never called).

Use: `spec = "summary:" + SPY`, then `calls = run_contract(spec, tmp_path)`; assert_contract(calls, ds).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec

SPY = "python:memory_contract:spy"  # the tests directory is on sys.path under pytest (rootdir conftest)
ECHO_CHARS = 4000  # the spy's answer: the tail of what it was asked, at most this many characters


@dataclass
class Call:
    kind: str  # "answer" or "ingest"
    probe: Probe | None
    text: str  # everything the reader saw in the call (context + question + prefix)


@dataclass
class Spy(MemorySystem):
    calls: list[Call] = field(default_factory=list)
    name: str = "spy"
    concurrent_episodes: bool = True  # a stateless reader

    async def ingest(self, episode: Episode) -> None:
        self.calls.append(Call("ingest", None, episode.text))

    async def answer(self, probe: Probe) -> Answer:
        text = "\n".join(x for x in (probe.context, probe.question, probe.answer_prefix) if x)
        self.calls.append(Call("answer", probe, text))
        return Answer(text=text[-ECHO_CHARS:], prompt_tokens=len(text.split()), completion_tokens=min(len(text.split()), 50))


SPIES: list[Spy] = []
INGESTS: Counter = Counter()  # episode_id -> ingest calls the memory under test received


class Counted(MemorySystem):
    """The memory under test as the runner sees it, its ingest calls counted per episode."""

    def __init__(self, inner: MemorySystem):
        self.inner, self.name = inner, inner.name
        self.concurrent_episodes, self.privileged = inner.concurrent_episodes, inner.privileged
        self.condition_override = inner.condition_override

    async def check(self) -> None:
        await self.inner.check()

    async def reset(self) -> None:
        await self.inner.reset()

    async def ingest(self, episode: Episode) -> None:
        INGESTS[episode.episode_id] += 1
        await self.inner.ingest(episode)

    async def release(self, episode: Episode) -> None:
        await self.inner.release(episode)

    async def answer(self, probe: Probe) -> Answer:
        return await self.inner.answer(probe)

    def describe(self) -> dict:
        return self.inner.describe()

    def footprint(self) -> dict:
        return self.inner.footprint()

    async def aclose(self) -> None:
        await self.inner.aclose()


def counted(spec: SystemSpec, ctx: SystemContext) -> Counted:
    from longbench_suite.registry import make_system

    return Counted(make_system(spec.inner, ctx))


def spy(spec: SystemSpec, ctx: SystemContext) -> Spy:
    made = Spy()
    SPIES.append(made)
    return made


def contract_dataset(out: Path, samples: int = 3) -> Path:
    """Joint recall at n_ctx=1, short: each episode its own keys and values, one probe per query."""
    generate_dataset("joint-recall", out, ["words"],
                     ["n_ctx=1", "n_key=4", "n_queries=2", f"samples={samples}", "lengths=256"], seed=7, tokenizer="approx")
    return out


def run_contract(spec: str, tmp_path: Path, samples: int = 3, concurrency: int = 1) -> tuple[dict, list[Call], Path]:
    """Run `spec` in-memory on the contract dataset; (run.json, the spy's calls in order, dataset dir)."""
    from runners.local import RunConfig, run

    data = contract_dataset(tmp_path / "contract-data", samples)
    SPIES.clear()
    INGESTS.clear()
    manifest = run(RunConfig(dataset=data, system=f"python[memory_contract:counted]:{spec}", out=tmp_path / "contract-run",
                             condition=Condition.IN_MEMORY, use_cache=False, concurrency=concurrency))
    assert len(SPIES) == 1, f"{spec} built {len(SPIES)} readers"
    return manifest, SPIES[0].calls, data


def _unique_words(data: Path) -> dict[str, set[str]]:
    """episode_id -> the word trigrams of its text that appear in no other episode's text and in no
    question (a question's template words are in every prompt)."""
    episodes = pq.read_table(data / "episodes.parquet").to_pylist()
    asked = set().union(*(_words(q) for q in pq.read_table(data / "probes.parquet").column("question").to_pylist()))
    words = {e["episode_id"]: _words(e["text"]) - asked for e in episodes}
    return {eid: ws - set().union(*(o for other, o in words.items() if other != eid)) for eid, ws in words.items()}


def _words(text: str) -> set[str]:
    """Word trigrams: a memory's own prompt words may happen to occur in one episode's prose, but a
    run of three of its words does not."""
    words = re.findall(r"[A-Za-z0-9]+", text.lower())
    return {" ".join(words[i:i + 3]) for i in range(len(words) - 2)}


def assert_contract(manifest: dict, calls: list[Call], data: Path) -> None:
    """The three checks of the module docstring, on a finished contract run."""
    assert manifest["status"] == "complete", manifest.get("counts")
    assert not [c for c in calls if c.kind == "ingest"], "the memory handed its reader the episode"
    unique = _unique_words(data)
    assert dict(INGESTS) == dict.fromkeys(unique, 1), f"ingests per episode: {dict(INGESTS)}"
    answered = [c for c in calls if c.kind == "answer"]
    assert answered, "the reader was never asked anything"
    for c in answered:
        assert c.probe.gold is None and c.probe.choices is None and not c.probe.meta, "the reader saw gold/choices/meta"
    # Calls are in order; an episode's calls are those with its id, or made at ingest (before its first probe).
    current = None
    for c in answered:
        eid = c.probe.episode_id if c.probe.episode_id in unique else None
        current = eid or current
        if current is None:
            continue
        seen = _words(c.text)
        leaked = {other: seen & words for other, words in unique.items() if other != current and seen & words}
        assert not leaked, f"a call for episode {current} carried text of another episode: {leaked}"
