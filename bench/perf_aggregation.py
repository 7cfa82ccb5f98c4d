"""P4 of bench/perf.py, aggregation: 1,000,000 synthetic prediction rows -> scores -> aggregates ->
leaderboard, and the aggregation vs a naive per-row Python groupby computing the same groups."""

from __future__ import annotations

import time
from collections import defaultdict
from functools import partial
from pathlib import Path

from perf_common import Row, Sizes, num, times

VARIANTS = ("single_1", "single_2", "single_3", "multikey_1", "multikey_2", "multikey_3", "multivalue", "multiquery")
LENGTHS = (4096, 8192, 16384, 32768, 65536, 131072)
DEPTHS = (0.0, 25.0, 50.0, 75.0, 100.0)


def repeat(value, type_=None, *, n: int):
    """A column of n copies of one value (strings by default)."""
    import pyarrow as pa

    return pa.array([value] * n, type=type_ or pa.string())


def synthetic_probes(n: int, rng):
    """n needle probes over the full grid (8 variants x 6 lengths x 5 depths), schema PROBES, built columnar."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from longbench_suite import schemas
    from tasks.needle import SPECS

    idx = np.arange(n)
    cell = idx % (len(VARIANTS) * len(LENGTHS) * len(DEPTHS))
    v, li, di = cell // (len(LENGTHS) * len(DEPTHS)), (cell // len(DEPTHS)) % len(LENGTHS), cell % len(DEPTHS)
    variant = pa.array(VARIANTS).take(pa.array(v))
    length = pa.array(np.asarray(LENGTHS)[li])
    depth = pa.array(np.asarray(DEPTHS)[di])
    episode_id = pc.binary_join_element_wise("needle", variant, pc.cast(length, pa.string()),
                                             pc.cast(pc.cast(depth, pa.int64()), pa.string()), pa.array(idx.astype(str)), "/")
    n_gold = np.asarray([SPECS[name].n_values * SPECS[name].n_asked for name in VARIANTS])[v]
    offsets = np.concatenate([[0], np.cumsum(n_gold)]).astype(np.int32)
    values = pa.array(rng.integers(1_000_000, 10_000_000, size=int(offsets[-1])).astype(str))
    gold = pa.ListArray.from_arrays(pa.array(offsets), values)
    ability = pa.array([SPECS[name].ability for name in VARIANTS]).take(pa.array(v))
    const = partial(repeat, n=n)
    columns = {
        "probe_id": pc.binary_join_element_wise(episode_id, const("q"), "/"), "episode_id": episode_id, "family": const("needle"),
        "variant": variant, "ability": ability, "length": length, "depth": depth, "bin": const(None),
        "question": const("What is the special magic number for quiet harbor mentioned in the provided text?"),
        "answer_prefix": const("The special magic number for quiet harbor mentioned in the provided text is"),
        "gold": gold, "choices": const(None, pa.list_(pa.string())), "metric": const("string_match_all"),
        "chance": const(0.1, pa.float64()), "max_new_tokens": const(128, pa.int64()), "meta": const("{}"),
    }
    return pa.table(columns, schema=schemas.PROBES), np.asarray(li)


def synthetic_predictions(probes, length_index, system: str, skill: float, rng):
    """One system's answers: right, half right (the first gold only) or wrong, more often wrong at
    longer lengths; 0.2% failed requests."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from longbench_suite import schemas

    n = probes.num_rows
    u = rng.random(n)
    p_right = skill * (1 - 0.12 * length_index)
    right, half = u < p_right, (u >= p_right) & (u < p_right + 0.1)
    failed = rng.random(n) < 0.002
    gold = probes.column("gold").combine_chunks()
    wrong = pa.array(rng.integers(1_000_000, 10_000_000, size=n).astype(str))
    answer = pc.if_else(pa.array(right), pc.binary_join(gold, ", "), pc.if_else(pa.array(half), pc.list_element(gold, 0), wrong))
    output = pc.binary_join_element_wise("The special magic number is", answer, " ")
    output = pc.if_else(pa.array(failed), pa.scalar("", pa.string()), output)
    const = partial(repeat, n=n)
    columns = {
        "run_id": const(f"synthetic-{system}"), "system": const(system), "condition": const("in-context"),
        "episode_id": probes.column("episode_id"), "probe_id": probes.column("probe_id"), "output": output,
        "choice_logprobs": const(None, schemas.PREDICTIONS.field("choice_logprobs").type),
        "retrieved_ids": const(None, pa.list_(pa.string())), "prompt_tokens": probes.column("length"),
        "completion_tokens": pa.array(rng.integers(4, 20, size=n)), "latency_s": pa.array(rng.gamma(2.0, 0.5, size=n)),
        "cache_hit": const(False, pa.bool_()),
        "error": pc.if_else(pa.array(failed), pa.scalar("SystemFailure: HTTP 500 from the endpoint"), const(None)),
        "cached_tokens": const(None, pa.int64()),
    }
    return pa.table(columns, schema=schemas.PREDICTIONS)


def naive_aggregate(scores, probes) -> dict:
    """The baseline: the aggregate's grouping sets by a per-row Python groupby (dicts of lists), then
    the same mean and interval per group. ({group key: (n, mean)}, seconds spent in the intervals)."""
    import numpy as np

    from longbench_suite.aggregate import GROUPING_SETS
    from longbench_suite.metrics import interval

    cols = ("variant", "ability", "length", "depth", "bin")
    info = {r["probe_id"]: r for r in probes.select(["probe_id", "family", "metric", *cols]).to_pylist()}
    groups: dict[tuple, list[float]] = defaultdict(list)
    for table in scores:
        for s in table.select(["system", "condition", "probe_id", "metric", "value"]).to_pylist():
            p = info.get(s["probe_id"])
            if p is None:
                continue
            base = (s["system"], s["condition"], p["family"], s["metric"], s["metric"] == p["metric"])
            for gset in GROUPING_SETS:
                key = tuple(p[c] for c in gset)
                if None not in key:
                    groups[(base, gset, key)].append(s["value"])
    out = {}
    t0 = time.perf_counter()
    for key, values in groups.items():
        arr = np.asarray(values, dtype=float)
        interval(arr)
        out[key] = (len(arr), float(arr.mean()))
    return out, time.perf_counter() - t0


def write_run(out: Path, predictions, scores, aggregates, system: str, dataset_hash: str) -> None:
    from longbench_suite import __version__, io, provenance

    out.mkdir(parents=True)
    io.write_parquet(predictions, out / "predictions.parquet")
    io.write_parquet(scores, out / "scores.parquet")
    io.write_parquet(aggregates, out / "aggregates.parquet")
    n = predictions.num_rows
    io.write_json({
        "run_id": f"synthetic-{system}", "status": "complete", "system": {"spec": system, "label": system},
        "condition": "in-context", "sampling": {}, "seed": 0, "versions": {"longbench-suite": __version__}, "git": None,
        "dataset": {"path": "synthetic", "content_hash": dataset_hash, "family": "needle", "variants": list(VARIANTS),
                    "tokenizer": "synthetic"},
        "started_at": provenance.now(), "finished_at": provenance.now(), "timings": {}, "footprint": {},
        "counts": {"probes": n, "predictions": n, "errors": n - predictions.column("error").null_count},
    }, out / "run.json")  # fmt: skip


def p4(sizes: Sizes, work: Path) -> list[Row]:
    import numpy as np

    from longbench_suite import leaderboard
    from longbench_suite.aggregate import TASK_AVERAGED, aggregate
    from longbench_suite.leaderboard_render import publish
    from longbench_suite.registry import task_family
    from longbench_suite.scoring import _score_rows, score_predictions

    systems = {"model-a": 0.95, "model-b": 0.8, "model-c": 0.6, "model-d": 0.4}
    rng = np.random.default_rng(0)
    probes, length_index = synthetic_probes(sizes.p4_rows // len(systems), rng)
    predictions = {s: synthetic_predictions(probes, length_index, s, skill, rng) for s, skill in systems.items()}
    rows = sum(t.num_rows for t in predictions.values())

    t0 = time.perf_counter()
    scores = {s: score_predictions(p, probes, "needle") for s, p in predictions.items()}
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    aggregates = {s: aggregate(scores[s], probes) for s in systems}
    agg_s = time.perf_counter() - t0

    runs = []
    for s in systems:
        write_run(work / "p4-runs" / s, predictions[s], scores[s], aggregates[s], s, "sha256:synthetic-p4")
        runs.append(work / "p4-runs" / s)
    t0 = time.perf_counter()
    table, *_ = leaderboard.build(runs)
    board_s = time.perf_counter() - t0
    assert table.height == len(systems)
    t0 = time.perf_counter()
    publish(runs, work / "p4-board", overwrite=True)
    publish_s = time.perf_counter() - t0

    # The baselines last, so the memory they hold does not slow ours.
    family = task_family("needle")
    t0 = time.perf_counter()
    by_rows = {s: _score_rows(p, probes, family, None) for s, p in predictions.items()}
    rows_s = time.perf_counter() - t0
    same_scores = all(by_rows[s].equals(scores[s]) for s in systems)
    del by_rows
    t0 = time.perf_counter()
    naive, interval_s = naive_aggregate(list(scores.values()), probes)
    naive_s = time.perf_counter() - t0
    total = score_s + agg_s + board_s

    # The baseline must compute the same groups: same count, same n and means.
    ours = {}
    for table in aggregates.values():
        for r in table.to_pylist():
            if r["ability"] != TASK_AVERAGED:
                ours[(r["system"], r["condition"], r["family"], r["metric"], r["primary"],
                      tuple((c, r[c]) for c in ("variant", "length", "depth", "ability", "bin") if r[c] is not None))] = (r["n"], r["mean"])
    same = len(ours) == len(naive) and sorted(n for n, _ in ours.values()) == sorted(n for n, _ in naive.values())
    check = "same groups, n and means" if same and abs(sum(m for _, m in ours.values()) - sum(m for _, m in naive.values())) < 1e-6 \
        else "MISMATCH with the baseline"

    label = f"{rows:,} prediction rows" + ("" if rows >= 1_000_000 else " (--quick)")
    return [
        Row("P4", f"scores -> aggregates, {label} ({len(systems)} runs)", num(agg_s, " s"), f"{num(naive_s, ' s')} naive",
            times(naive_s / agg_s), note=f"naive: per-row Python groupby of the same grouping sets, then the same intervals; {check}; "
            f"of the naive's time, {num(interval_s, ' s')} goes to metrics.interval on each group's values"),
        Row("P4", f"predictions -> scores (score_predictions), {label}", num(score_s, " s"), f"{num(rows_s, ' s')} per row",
            times(rows_s / score_s), note=f"the family's columnar scorer vs calling its scorer row by row (the path for judged, "
            f"retrieval or log-prob predictions); {'the same scores' if same_scores else 'MISMATCH between the two'}"),
        Row("P4", "run directories -> leaderboard table (leaderboard.build)", num(board_s, " s"),
            note=f"{len(systems)} runs; reads their aggregates and {rows:,} prediction rows"),
        Row("P4", f"{label} -> scores -> aggregates -> leaderboard, total", num(total, " s"), goal="< 2 s",
            note=f"{'met' if total < 2 else 'NOT met'}; aggregates + leaderboard alone {num(agg_s + board_s, ' s')}"),
        Row("P4", "lbs leaderboard build (publish: parquet, README, html, plots)", num(publish_s, " s"),
            note="leaderboard.build included; the page and plots are the rest"),
    ]
