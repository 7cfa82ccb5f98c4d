"""A system whose process dies (os._exit) while answering one episode: Ray fault tests.

    python:ray_crashing:make,episode=EPISODE_ID[,marker=PATH]

With marker=PATH it dies once (the first time, creating PATH), else every time. Otherwise it is an
oracle, so a run that survives the crashes scores like one."""

from __future__ import annotations

import os
from pathlib import Path

from longbench_suite.protocol import Answer, MemorySystem, Probe


class Crashing(MemorySystem):
    name = "crashing"
    concurrent_episodes = True
    privileged = True

    def __init__(self, episode: str, marker: str | None):
        self.episode, self.marker = episode, marker

    async def answer(self, probe: Probe) -> Answer:
        if probe.episode_id == self.episode:
            if self.marker is None:
                os._exit(3)
            if not Path(self.marker).exists():
                Path(self.marker).touch()
                os._exit(3)
        return Answer(text=", ".join(probe.gold or []))

    def describe(self) -> dict:
        return {"name": self.name, "episode": self.episode}


def make(spec, ctx):
    return Crashing(spec.option("episode"), spec.option("marker"))
