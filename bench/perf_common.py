"""What the benchmarks of bench/perf.py share: a row of the table, the sizes --quick shrinks, number
formatting, and running a command (`lbs` among them) as a child process."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
GIB = 2**30


@dataclass
class Row:
    part: str
    measure: str
    ours: str
    reference: str = ""
    ratio: str = ""
    goal: str = ""
    note: str = ""


@dataclass(frozen=True)
class Sizes:
    """Everything --quick shrinks."""

    gen: tuple[tuple[str, int, int], ...]  # (length, our items, reference items)
    rss_items: int
    p2_params: tuple[str, ...]
    p2_variants: tuple[str, ...]
    reps: int
    p3_params: tuple[str, ...]
    p4_rows: int

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                gen=(("32k", 20, 1), ("128k", 5, 1)), rss_items=5,
                p2_params=("lengths=384", "depths=0,100", "samples=2", "max_new_tokens=8"), p2_variants=("single_2",), reps=1,
                p3_params=("lengths=512", "n_ctx=2", "n_key=4", "n_queries=4", "samples=3"), p4_rows=20_000,
            )  # fmt: skip
        return cls(
            gen=(("32k", 1000, 10), ("128k", 100, 3)), rss_items=1000,
            p2_params=("lengths=1024", "depths=0,33,67,100", "samples=2", "max_new_tokens=16"),
            p2_variants=("single_2", "multikey_1"), reps=3,
            p3_params=("lengths=1024", "n_ctx=2", "n_key=8", "n_queries=4", "samples=12"), p4_rows=1_000_000,
        )  # fmt: skip


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def num(x: float, unit: str = "") -> str:
    """A number with about three significant digits."""
    if math.isnan(x):
        return "n/a"
    digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2 if abs(x) >= 1 else 3
    return f"{x:,.{digits}f}{unit}"


def times(x: float) -> str:
    return f"{num(x)}x"


def run_cmd(cmd: list[str], *, cwd: Path = REPO, env: dict | None = None, timeout: float = 1800) -> tuple[float, str]:
    """Run a command to completion; (wall seconds, stdout). A failure raises with the stderr tail."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, check=False, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} ... exited {res.returncode}: {res.stderr[-2000:]}")
    return wall, res.stdout


def lbs_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "longbench_suite.cli", *map(str, args)]
