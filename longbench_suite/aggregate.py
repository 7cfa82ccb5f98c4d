"""Aggregation: scores -> n, mean and 95% CI per group (Wilson for 0/1 scores, bootstrap otherwise).

Grouping sets, each with system, condition, family and metric:
  (variant, length, depth)   the cells of a needle grid
  (variant, length, bin)     the cells of a SORT grid (excerpt length x distance bin)
  (variant, length), (variant)
  (length, depth), (length, bin), (length), ()   across variants: heatmaps, curves, headline
  (ability)                  per ability (LongMemEval types, M4LE abilities)
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
]
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
    out = out.drop("values").with_columns(
        pl.Series("ci_low", lows, dtype=pl.Float64),
        pl.Series("ci_high", highs, dtype=pl.Float64),
        pl.Series("ci_method", methods, dtype=pl.String),
    )
    out = out.sort(["system", "condition", "family", "metric", "variant", "ability", "length", "depth", "bin"], nulls_last=False)
    out = out.select(schemas.AGGREGATES.names)
    return schemas.conform(out.to_arrow(), schemas.AGGREGATES, "aggregates")
