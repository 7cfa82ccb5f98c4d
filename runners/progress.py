"""Run progress: a rich bar on a terminal, plain periodic lines otherwise (CI logs, pipes)."""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RunProgress:
    def __init__(self, total: int, done: int, label: str, console: Console | None = None, interval_s: float = 10.0):
        self.total, self.done, self.label = total, done, label
        self.errors = self.cache_hits = self.tokens = 0
        self.started = time.monotonic()
        self._start_done = done
        self._last_line = 0.0
        self._interval = interval_s
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}", style="bold", markup=False),  # a spec is text, not markup
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._task = self._progress.add_task(label, total=total, completed=done, stats="")

    def __enter__(self) -> "RunProgress":
        if self._progress:
            self._progress.start()
        else:
            self.console.print(f"{self.label}: {self.done}/{self.total} probes done, starting", highlight=False, markup=False, emoji=False)
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.update(self._task, stats=self.stats())
            self._progress.stop()
        else:
            self.console.print(f"{self.label}: {self.done}/{self.total} probes, {self.stats()}", highlight=False, markup=False, emoji=False)

    def stats(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        return f"{rate:.2f} probes/s  {self.tokens / elapsed:.0f} tok/s  errors {self.errors}  cache hits {self.cache_hits}"

    def advance(self, *, error: bool, cache_hit: bool, tokens: int) -> None:
        self.done += 1
        self.errors += int(error)
        self.cache_hits += int(cache_hit)
        self.tokens += tokens
        now = time.monotonic()
        if self._progress:
            self._progress.update(self._task, completed=self.done, stats=self.stats())
        elif now - self._last_line >= self._interval:
            self._last_line = now
            self.console.print(f"{self.label}: {self.done}/{self.total} probes, {self.stats()}", highlight=False, markup=False, emoji=False)


@contextlib.contextmanager
def count_progress(label: str, console: Console, interval_s: float = 10.0) -> Iterator[Callable[..., None]]:
    """Progress of a count (items imported, answers judged): yields `update(done, total=None)`."""
    state = {"done": 0, "total": None, "last": time.monotonic()}
    progress = Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=False) if console.is_terminal else None
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
