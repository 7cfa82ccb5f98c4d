"""Systems under test for tests/test_honest_reports.py, run as `python:honest_systems:NAME` specs (the
tests put this folder on PYTHONPATH). Neither is a baseline by name, so the reports treat them as real
systems: one answers "A" to everything (position bias), one has a small context window and fails
every probe whose prompt does not fit, as an endpoint answering HTTP 400 would."""

from __future__ import annotations

from longbench_suite.protocol import Answer, MemorySystem
from longbench_suite.spec import check_options, option_number

WINDOW_ERROR = "HTTP 400: this model's maximum context length is {window} characters; the prompt is longer"


class AlwaysA(MemorySystem):
    name = "always-a"
    concurrent_episodes = True  # stateless: nothing kept between calls

    async def answer(self, probe):
        return Answer(text="A")


class SmallWindow(MemorySystem):
    """Fails a probe whose context is longer than `window=N` characters (default 0: every probe with a
    context); answers "A" otherwise."""

    name = "small-window"
    concurrent_episodes = True

    def __init__(self, spec):
        check_options(spec, ("window",))
        self.window = option_number(spec, "window", 0, int)

    async def answer(self, probe):
        if len(probe.context or "") > self.window:
            raise RuntimeError(WINDOW_ERROR.format(window=self.window))
        return Answer(text="A")


def always_a(spec, ctx):
    return AlwaysA()


def small_window(spec, ctx):
    return SmallWindow(spec)
