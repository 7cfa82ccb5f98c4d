"""A system for tests/test_multi_turn.py, run as `python:turn_spy:spy` (the test puts this folder on
PYTHONPATH): it writes every call it gets — reset, ingest, and each probe's question with the earlier
turns it carried — as a JSON line to $LBS_TURN_SPY, and answers "own answer to <probe question>".
`stateful=1` makes it a memory (one episode at a time); otherwise a stateless full-context system."""

from __future__ import annotations

import json
import os

from longbench_suite.protocol import Answer, MemorySystem
from longbench_suite.spec import check_options, option_number


class TurnSpy(MemorySystem):
    name = "turn-spy"

    def __init__(self, stateful: bool):
        self.concurrent_episodes = not stateful
        self.path = os.environ["LBS_TURN_SPY"]

    def _log(self, **event) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")

    async def reset(self) -> None:
        self._log(call="reset")

    async def ingest(self, episode) -> None:
        self._log(call="ingest", episode=episode.episode_id, text=episode.text)

    async def answer(self, probe):
        self._log(call="answer", episode=probe.episode_id, probe=probe.probe_id, question=probe.question,
                  context=probe.context, history=[[t.question, t.answer] for t in probe.history])
        return Answer(text=f"own answer to {probe.question}")


def spy(spec, ctx):
    check_options(spec, ("stateful",))
    return TurnSpy(bool(option_number(spec, "stateful", 0, int, 0, 1)))
