"""Run progress (issue 20): an ETA, and cache hits counted apart from real answers.

A RunProgress is driven with a hand-set clock (it takes one, as it takes a console) so the rates and
ETAs are exact; the plain lines are what a CI log gets, the rich bar what a terminal gets."""

from __future__ import annotations

import io

from rich.console import Console

from runners.progress import RunProgress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _plain() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_cache_hits_do_not_inflate_the_rate_and_the_eta_uses_real_answers():
    console, out = _plain()
    clock = Clock()
    with RunProgress(total=100, done=0, label="sys", console=console, interval_s=0, clock=clock) as progress:
        for _ in range(50):  # a half-cached run: 50 hits at once ...
            progress.advance(error=False, cache_hit=True, tokens=1000)
        assert progress.answered == 0 and progress.eta_s() is None  # nothing says how fast real answers come
        for _ in range(10):  # ... then 10 real answers in 5 s: 2 answers/s, 40 probes left
            clock.now += 0.5
            progress.advance(error=False, cache_hit=False, tokens=30)
        assert progress.rate() == 2.0 and progress.eta_s() == 20.0
        progress.advance(error=True, cache_hit=False, tokens=0)  # a failure is no answer either
        assert (progress.answered, progress.cache_hits, progress.errors, progress.done) == (10, 50, 1, 61)
    lines = out.getvalue().splitlines()
    assert lines[0] == "sys: 0/100 probes done, starting"
    assert "sys: 60/100 probes, 2.00 answers/s  60 tok/s  cached 50  errors 0, ETA 20s" in lines  # 300 tokens / 5 s
    assert lines[-1] == "sys: 61/100 probes in 5s: 10 answered (2.00/s, 60 tok/s), 50 from cache, 1 errors"
    assert not any("probes/s" in line for line in lines)


def test_plain_lines_come_at_the_interval():
    console, out = _plain()
    clock = Clock()
    with RunProgress(total=10, done=4, label="resumed", console=console, interval_s=10, clock=clock) as progress:
        for _ in range(6):
            clock.now += 3
            progress.advance(error=False, cache_hit=False, tokens=0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "resumed: 4/10 probes done, starting"  # earlier executions' probes count as done
    assert lines[1].startswith("resumed: 8/10 probes, 0.33 answers/s") and lines[1].endswith("ETA 6s")  # t = 12 s
    assert lines[-1].startswith("resumed: 10/10 probes in 18s: 6 answered") and len(lines) == 3  # one line at t = 12 s


def test_terminal_bar_shows_the_eta_column():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    clock = Clock()
    with RunProgress(total=4, done=0, label="embedded", console=console, clock=clock) as progress:
        clock.now += 2
        progress.advance(error=False, cache_hit=False, tokens=10)
        clock.now += 2
        progress.advance(error=False, cache_hit=True, tokens=10)
    text = out.getvalue()
    assert "ETA 8s" in text  # 1 answer in 4 s (the cache hit does not count): 2 probes left at 0.25/s
    assert "embedded: 2/4 probes in 4s: 1 answered (0.25/s, 2 tok/s), 1 from cache, 0 errors" in text


def test_durations():
    assert [duration(s) for s in (None, 0, 45, 380, 3725)] == ["?", "0s", "45s", "6m20s", "1h02m"]
