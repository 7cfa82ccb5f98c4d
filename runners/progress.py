"""Run progress: a rich bar on a terminal, plain periodic lines otherwise (CI logs, pipes).

Cache hits are counted apart: they come back in microseconds, so a rate over all finished probes
("1892 probes/s" on a half-cached run) says nothing about how long the rest will take. The rate and
tokens/s are over real answers only (not cached, not failed), and the ETA is the probes left at that
rate (an upper bound when some of them will be cache hits too).
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def duration(seconds: float | None) -> str:
    """1h02m, 6m20s, 45s; "?" when unknown."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class RunProgress:
    """Counts finished probes of a run: real answers, cache hits and errors apart."""

    def __init__(self, total: int, done: int, label: str, console: Console | None = None, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.label = total, done, label
        self.answered = self.errors = self.cache_hits = self.tokens = 0  # this execution (done includes earlier ones)
        self._clock = clock
        self.started = clock()
        self._last_line = self.started
        self._interval = interval_s
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}", style="bold", markup=False),  # a spec is text, not markup
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}", markup=False),
                TimeElapsedColumn(),
                TextColumn("ETA {task.fields[eta]}", markup=False),
                console=self.console,
                transient=False,
            )
            self._task = self._progress.add_task(label, total=total, completed=done, stats="", eta="?")

    def __enter__(self) -> "RunProgress":
        if self._progress:
            self._progress.start()
        else:
            self._line(f"{self.done}/{self.total} probes done, starting")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.update(self._task, stats=self.stats(), eta=duration(self.eta_s()))
            self._progress.stop()
        self._line(self.summary())

    def _line(self, text: str) -> None:
        self.console.print(f"{self.label}: {text}", highlight=False, markup=False, emoji=False, soft_wrap=True)

    def elapsed_s(self) -> float:
        return max(self._clock() - self.started, 1e-9)

    def rate(self) -> float:
        """Real answers per second (cache hits and failures left out)."""
        return self.answered / self.elapsed_s()

    def eta_s(self) -> float | None:
        left = self.total - self.done
        if left <= 0:
            return 0.0
        return left / self.rate() if self.answered else None

    def stats(self) -> str:
        elapsed = self.elapsed_s()
        return (f"{self.rate():.2f} answers/s  {self.tokens / elapsed:.0f} tok/s  cached {self.cache_hits}  "
                f"errors {self.errors}")

    def summary(self) -> str:
        """The last line: what this execution did, and how fast the real answers came."""
        return (f"{self.done}/{self.total} probes in {duration(self.elapsed_s())}: {self.answered} answered "
                f"({self.rate():.2f}/s, {self.tokens / self.elapsed_s():.0f} tok/s), {self.cache_hits} from cache, "
                f"{self.errors} errors")

    def advance(self, *, error: bool, cache_hit: bool, tokens: int) -> None:
        self.done += 1
        if error:
            self.errors += 1
        elif cache_hit:
            self.cache_hits += 1
        else:
            self.answered += 1
            self.tokens += tokens  # a cache hit's tokens were paid for by an earlier run
        now = self._clock()
        if self._progress:
            self._progress.update(self._task, completed=self.done, stats=self.stats(), eta=duration(self.eta_s()))
        elif now - self._last_line >= self._interval:
            self._last_line = now
            self._line(f"{self.done}/{self.total} probes, {self.stats()}, ETA {duration(self.eta_s())}")


@contextlib.contextmanager
def count_progress(label: str, console: Console, interval_s: float = 10.0) -> Iterator[Callable[..., None]]:
    """Progress of a count (items imported, answers judged): yields `update(done, total=None)`."""
    state = {"done": 0, "total": None, "last": time.monotonic()}
    progress = Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, transient=False) if console.is_terminal else None
    task = progress.add_task(label, total=None) if progress else None

    def update(done: int, total: int | None = None) -> None:
        state["done"], state["total"] = done, total
        if progress:
            progress.update(task, completed=done, total=total)
        elif time.monotonic() - state["last"] >= interval_s:
            state["last"] = time.monotonic()
            console.print(f"{label}: {done}" + (f"/{total}" if total else ""), highlight=False, markup=False, emoji=False)

    if progress:
        progress.start()
    try:
        yield update
    finally:
        if progress:
            progress.stop()
    if not progress and state["done"]:  # only on success: a failure's error line stays the only line
        console.print(f"{label}: {state['done']}" + (f"/{state['total']}" if state["total"] else "") + " done", highlight=False, markup=False, emoji=False)
