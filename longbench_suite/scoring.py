"""Scoring stage: predictions + probes -> scores, using each family's scorer.

A prediction that failed (error set) scores 0 on the probe's primary metric: a system that cannot
answer has not remembered. Error counts are kept in run.json so a flaky endpoint is visible.
"""

from __future__ import annotations

import pyarrow as pa
import polars as pl

from . import schemas
from .registry import task_family


def score_predictions(predictions: pa.Table, probes: pa.Table, family_name: str) -> pa.Table:
    family = task_family(family_name)
    probe_rows = {r["probe_id"]: r for r in probes.to_pylist()}
    cols: dict[str, list] = {name: [] for name in schemas.SCORES.names}
    for pred in predictions.to_pylist():
        row = probe_rows.get(pred["probe_id"])
        if row is None:
            continue
        if pred["error"]:
            values = {row["metric"]: 0.0}
        else:
            values = family.score(pred["output"] or "", row)
        for metric, value in values.items():
            cols["run_id"].append(pred["run_id"])
            cols["system"].append(pred["system"])
            cols["condition"].append(pred["condition"])
            cols["probe_id"].append(pred["probe_id"])
            cols["metric"].append(metric)
            cols["value"].append(float(value))
            cols["judge"].append(None)
    return pa.Table.from_pydict(cols, schema=schemas.SCORES)


def primary_scores(scores: pa.Table, probes: pa.Table) -> pl.DataFrame:
    """Scores of each probe's primary metric, joined with the probe's grouping columns."""
    p = pl.from_arrow(probes.select(["probe_id", "metric"]))
    return pl.from_arrow(scores).join(p, on=["probe_id", "metric"], how="semi")
