"""`last-value`: an associative memory that ignores contexts (the joint-recall floor of a memory that
keys on the key alone).

It ingests an episode's text, remembers for every "key -> value" pair the value seen last, and answers
"... the value of KEY?" with it. On joint recall with n_ctx contexts and n_value values it is right
when the asked context came last in the listing or the values happen to agree: about
1/n_ctx + (1 - 1/n_ctx)/n_value, and exactly 1.0 when n_ctx = 1 (plain associative recall). Run it
with `--condition in-memory`: it reads what it ingested, never the prompt's context.
"""

from __future__ import annotations

import re
from typing import Any

from longbench_suite.protocol import Answer, Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options

_PAIR = re.compile(r"(\S+) -> ([^\s,.]+)")
_ASKED = re.compile(r"value of (\S+?)\?")


class LastValueMemory(MemorySystem):
    name = "last-value"
    concurrent_episodes = False  # one table at a time: reset, ingest, answer

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def reset(self) -> None:
        self.values = {}

    async def ingest(self, episode: Episode) -> None:
        for key, value in _PAIR.findall(episode.text):
            self.values[key] = value  # a later context overwrites: the context is forgotten

    async def answer(self, probe: Probe) -> Answer:
        m = _ASKED.search(probe.question)
        return Answer(text=self.values.get(m.group(1), "") if m else "")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


def _make(spec: SystemSpec, ctx: SystemContext) -> LastValueMemory:
    check_options(spec, ())
    return LastValueMemory()


SYSTEMS = {"last-value": _make}
