"""Aggregation: scores -> n, mean and 95% CI per group (Wilson for 0/1 scores, bootstrap otherwise).

Grouping sets, each with system, condition, family and metric:
  (variant, length, depth)   the cells of a needle grid
  (variant, length, bin)     the cells of a SORT grid (excerpt length x distance bin)
  (variant, length), (variant)
  (length, depth), (length, bin), (length), ()   across variants: heatmaps, curves, headline
  (ability), (variant, ability)   per ability (LongMemEval types, M4LE abilities), overall and per variant
  (bin), (variant, bin)           per bin across lengths (LongMemEval: abstention vs answerable)
Plus, where a family has two or more abilities, ability = "task-averaged" (overall and per variant):
the unweighted mean of the per-ability means (LongMemEval's task-averaged accuracy), CI from the
per-ability variances.
A null grouping column in a row means "all values". A probe whose own value of a grouping column is
null (needle has no bin, SORT no depth) is left out of that grouping set, so it never poses as a marginal.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from . import metrics, schemas

GROUPING_SETS: list[tuple[str, ...]] = [
    ("variant", "length", "depth"),
    ("variant", "length", "bin"),
    ("variant", "length"),
    ("variant",),
    ("length", "depth"),
    ("length", "bin"),
    ("length",),
    (),
    ("ability",),
    ("bin",),
    ("variant", "ability"),  # per setting: LongMemEval's oracle vs S, M4LE's task types
    ("variant", "bin"),
]
TASK_AVERAGED = "task-averaged"
_BASE = ("system", "condition", "family", "metric", "primary")
_OPTIONAL = ("variant", "ability", "length", "depth", "bin")


def aggregate(scores: pa.Table, probes: pa.Table) -> pa.Table:
    cols = ["probe_id", "family", "variant", "ability", "length", "depth", "bin", "metric"]
    info = pl.from_arrow(probes.select(cols).cast(pa.schema([schemas.PROBES.field(c) for c in cols])))
    frame = (
        pl.from_arrow(scores.select(["system", "condition", "probe_id", "metric", "value"]))
        .join(info.rename({"metric": "probe_metric"}), on="probe_id", how="inner")
        .with_columns((pl.col("metric") == pl.col("probe_metric")).alias("primary"))
    )
    # Each probe's value is counted once per finest cell (all grouping columns), value by value; the
    # grouping sets then sum these counts. A group's sample is its distinct values and their counts
    # (0/1 scores: two of each), which is all n, the mean, the variance and the intervals need.
    cells = frame.group_by([*_BASE, *_OPTIONAL, "value"]).len("count")
    parts = []
    for gset in GROUPING_SETS:
        keys = list(_BASE) + list(gset)
        present = cells.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in gset])) if gset else cells
        if present.is_empty():
            continue
        grouped = (
            present.group_by([*keys, "value"]).agg(pl.col("count").sum())
            .group_by(keys).agg(pl.col("value").alias("distinct"), pl.col("count").alias("counts"))
        )
        missing = [c for c in _OPTIONAL if c not in gset]
        parts.append(grouped.with_columns([pl.lit(None, dtype=info.schema[c]).alias(c) for c in missing]))
    if not parts or frame.is_empty():
        return schemas.empty(schemas.AGGREGATES)
    out = pl.concat([p.select(*_BASE, *_OPTIONAL, "distinct", "counts") for p in parts])
    stats = [_sample_stats(np.asarray(d, dtype=float), np.asarray(c, dtype=np.int64))
             for d, c in zip(out.get_column("distinct").to_list(), out.get_column("counts").to_list())]
    out = out.drop("distinct", "counts").with_columns(
        pl.Series(name, [row[i] for row in stats], dtype=dtype)
        for i, (name, dtype) in enumerate([("n", pl.Int64), ("mean", pl.Float64), ("var", pl.Float64),
                                            ("ci_low", pl.Float64), ("ci_high", pl.Float64), ("ci_method", pl.String)])
    )
    out = pl.concat([out.drop("var"), _task_averaged(out)], how="diagonal_relaxed")
    out = out.sort(["system", "condition", "family", "metric", "variant", "ability", "length", "depth", "bin"], nulls_last=False)
    out = out.select(schemas.AGGREGATES.names)
    return schemas.conform(out.to_arrow(), schemas.AGGREGATES, "aggregates")


def _sample_stats(distinct: np.ndarray, counts: np.ndarray) -> tuple[int, float, float, float, float, str]:
    """n, mean, variance (ddof 1; 0 for one value) and 95% CI of a sample given as distinct values and counts."""
    n = int(counts.sum())
    mean = float(counts @ distinct) / n
    var = float(counts @ (distinct - mean) ** 2) / (n - 1) if n > 1 else 0.0
    return (n, mean, var, *metrics.interval_counts(distinct, counts))


def _task_averaged(out: pl.DataFrame) -> pl.DataFrame:
    """One row per (system, condition, family, metric) with >= 2 abilities: the mean of the ability
    means; 95% CI by the normal approximation of a mean of independent means (se^2 = sum var_i/n_i / k^2)."""
    others = [c for c in _OPTIONAL if c not in ("ability", "variant")]
    per_ability = out.filter(pl.col("ability").is_not_null() & pl.all_horizontal([pl.col(c).is_null() for c in others]))
    rows = []
    for keys, part in per_ability.group_by([*_BASE, "variant"], maintain_order=True):
        if part.height < 2:
            continue
        k = part.height
        means = part.get_column("mean").to_numpy()
        var = float((part.get_column("var") / part.get_column("n")).sum())
        half = metrics.Z95 * float(np.sqrt(var)) / k
        mean = float(means.mean())
        rows.append({**dict(zip([*_BASE, "variant"], keys)), "ability": TASK_AVERAGED, "n": int(part.get_column("n").sum()), "mean": mean,
                     "ci_low": max(0.0, mean - half), "ci_high": min(1.0, mean + half), "ci_method": "normal-strata"})
    return pl.DataFrame(rows, schema={**{c: out.schema[c] for c in (*_BASE, "variant")}, "ability": pl.String, "n": out.schema["n"],
                                      "mean": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "ci_method": pl.String})
