"""bench/perf.py runs end to end: its --quick P1 (generation) and P4 (aggregation) print the table of
ratios and write it as markdown; bench/perf_multiturn.py's parts that need no server read a real run.
Timings are never asserted (speed goals live in the benchmark)."""

from __future__ import annotations

import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from lbs_testutil import REPO, lbs

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


def test_perf_multiturn_replays_a_runs_requests_in_its_order(tmp_path):
    """bench/perf_multiturn.py's pure parts on a real multi-turn run (the oracle, no server): the replayed
    requests are the run's own, context restored, an episode's turns in order; its tables read them."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import perf_multiturn as pm
    finally:
        sys.path.remove(str(REPO / "bench"))
    from longbench_suite.generate import generate_dataset

    data, run = tmp_path / "data", tmp_path / "run"
    generate_dataset("shared_context", data, ["kv"], ["lengths=1024", "samples=2", "turns=3"], seed=0, tokenizer="approx")
    res = lbs("run", data, "-s", "oracle", "-o", run, "--mode", "multi-turn")
    assert res.returncode == 0, res.stderr[-2000:]

    requests = pm.replay_requests(run, data, "smollm2")
    assert [(r["episode_id"][-1], r["turn"]) for r in requests] == [(e, t) for e in "01" for t in (1, 2, 3)]
    episodes = {r["episode_id"]: r["text"] for r in pq.read_table(data / "episodes.parquet").to_pylist()}
    for r in requests:
        messages = r["body"]["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * (r["turn"] - 1) + ["user"]
        assert messages[0]["content"].startswith(episodes[r["episode_id"]] + "\n\n")  # the context put back
        assert sum(episodes[r["episode_id"]] in m["content"] for m in messages) == 1
        assert r["body"]["max_tokens"] == 150 and r["body"]["temperature"] == 0.0

    accuracy = pm.accuracy_by_turn(run / "aggregates.parquet")
    assert sorted(accuracy) == [1, 2, 3] and all(a["mean"] == 1.0 and a["n"] == 2 for a in accuracy.values())
    # The replay's summary and the tables, on made-up timings: median per turn, ratio MR/MT.
    records = [{"turn": r["turn"], "ttft_s": 0.1 * r["turn"] + i, "latency_s": 1.0, "prompt_tokens": 100, "cached_tokens": None, "completion_tokens": 8}
               for i, r in enumerate(requests)]  # fmt: skip
    by_turn = pm.replay_by_turn(records)
    assert by_turn[2]["ttft_s_median"] == pytest.approx((1.2 + 4.2) / 2) and by_turn[2]["cached_tokens_median"] is None
    counters = pm.counters({"prefix_cache_queries": 10, "prefix_cache_hits": 2, "prompt_tokens": 10},
                           {"prefix_cache_queries": 110, "prefix_cache_hits": 62, "prompt_tokens": 110})  # fmt: skip
    assert counters == {"queries": 100, "hits": 60, "computed": 40, "hit_rate": 0.6}
    run_figures = {"accuracy": accuracy, "by_turn": {t: {"answer_s": 1.0, "prompt_tokens": 100.0, "cached_share": 0.5} for t in (1, 2, 3)},
                   "counters": counters, "execute_s": 3.0}  # fmt: skip
    fast = {"run": run_figures, "replay": {"by_turn": by_turn, "counters": counters, "requests": records}}
    slow = {"run": run_figures, "replay": {"by_turn": pm.replay_by_turn([{**r, "ttft_s": 2 * r["ttft_s"]} for r in records]),
                                           "counters": counters, "requests": records}}  # fmt: skip
    table = pm.side_by_side({"multi-request": slow, "multi-turn": fast})
    assert "| 2 | 1.00 | 1.00 | 100 | 100 | 50.0% | 50.0% | 5.40 | 2.70 | 2.00x |" in table, table
    assert "| multi-turn | 100 | 60 | 60.0% | 40 |" in table
    assert "1.00 [0.34, 1.00] n=2" in pm.mode_table("multi-turn", fast)
