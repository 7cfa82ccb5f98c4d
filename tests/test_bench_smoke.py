"""bench/perf.py runs end to end: its --quick P1 (generation) and P4 (aggregation) print the table of
ratios and write it as markdown. Timings are never asserted (speed goals live in the benchmark)."""

from __future__ import annotations

import re
import subprocess
import sys

from lbs_testutil import REPO

PERF = REPO / "bench" / "perf.py"


def perf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PERF), *args], check=False, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_perf_quick_prints_the_table_and_writes_markdown(tmp_path):
    md = tmp_path / "perf.md"
    res = perf("--only", "P1,P4", "--quick", "--markdown", str(md))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "longbench-suite benchmarks" in res.stdout and "ratio: ours relative to the reference" in res.stdout
    assert "python: 3." in res.stdout and "cpu: " in res.stdout  # the machine details

    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in md.read_text().splitlines() if line.startswith("| P")]
    by_part = {p: [r for r in rows if r[0] == p] for p in ("P1", "P4")}
    assert len(by_part["P1"]) == 3 and len(by_part["P4"]) == 5 and len(rows) == 8, rows
    assert not any(r[1] == "FAILED" for r in rows)
    speed = [r for r in by_part["P1"] if r[1].startswith("needle items/s")]
    assert [r[1].split(" tokens")[0] for r in speed] == ["needle items/s at 32k", "needle items/s at 128k"]
    for r in speed:  # ours, the reference and their ratio are numbers
        assert re.fullmatch(r"[\d,.]+", r[2]) and re.fullmatch(r"[\d,.]+ RULER-style", r[3]) and re.fullmatch(r"[\d,.]+x", r[4]), r
    rss = next(r for r in by_part["P1"] if r[1].startswith("peak RSS"))
    assert re.fullmatch(r"[\d.]+ GiB", rss[2]) and rss[5] == "< 1 GiB" and "--quick" in rss[6]
    aggregation = by_part["P4"][0]
    assert re.fullmatch(r"[\d.]+x", aggregation[4])
    assert "same groups, n and means" in aggregation[6]  # the naive baseline computed what aggregate() did
    assert "20,000 prediction rows" in aggregation[1]


def test_perf_refuses_an_unknown_part():
    res = perf("--only", "P1,P9")
    assert res.returncode == 2
    assert "error: --only takes some of P1, P2, P3, P4" in res.stderr
    assert "Traceback" not in res.stderr
