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
    parts = []
    for gset in GROUPING_SETS:
        keys = list(_BASE) + list(gset)
        present = frame.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in gset])) if gset else frame
        if present.is_empty():
            continue
        grouped = present.group_by(keys).agg(
            pl.len().alias("n"),
            pl.col("value").mean().alias("mean"),
            pl.col("value").alias("values"),
        )
        missing = [c for c in _OPTIONAL if c not in gset]
        grouped = grouped.with_columns([pl.lit(None, dtype=info.schema[c]).alias(c) for c in missing])
        parts.append(grouped)
    if not parts or frame.is_empty():
        return schemas.empty(schemas.AGGREGATES)
    out = pl.concat([p.select(list(_BASE) + list(_OPTIONAL) + ["n", "mean", "values"]) for p in parts])
    lows, highs, methods = [], [], []
    for values in out.get_column("values").to_list():
        lo, hi, method = metrics.interval(np.asarray(values, dtype=float))
        lows.append(lo)
        highs.append(hi)
        methods.append(method)
    out = out.with_columns(
        pl.Series("ci_low", lows, dtype=pl.Float64),
        pl.Series("ci_high", highs, dtype=pl.Float64),
        pl.Series("ci_method", methods, dtype=pl.String),
    )
    out = pl.concat([out.drop("values"), _task_averaged(out)], how="diagonal_relaxed")
    out = out.sort(["system", "condition", "family", "metric", "variant", "ability", "length", "depth", "bin"], nulls_last=False)
    out = out.select(schemas.AGGREGATES.names)
    return schemas.conform(out.to_arrow(), schemas.AGGREGATES, "aggregates")


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
        var = sum(float(np.var(np.asarray(v, dtype=float), ddof=1)) / len(v) if len(v) > 1 else 0.0
                  for v in part.get_column("values").to_list())
        half = metrics.Z95 * float(np.sqrt(var)) / k
        mean = float(means.mean())
        rows.append({**dict(zip([*_BASE, "variant"], keys)), "ability": TASK_AVERAGED, "n": int(part.get_column("n").sum()), "mean": mean,
                     "ci_low": max(0.0, mean - half), "ci_high": min(1.0, mean + half), "ci_method": "normal-strata"})
    return pl.DataFrame(rows, schema={**{c: out.schema[c] for c in (*_BASE, "variant")}, "ability": pl.String, "n": out.schema["n"],
                                      "mean": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "ci_method": pl.String})
