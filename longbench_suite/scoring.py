"""Scoring stage: predictions + probes -> scores, using each family's scorer.

A prediction that failed (error set) scores 0 on the probe's primary metric: a system that cannot
answer has not remembered. Error counts are kept in run.json so a flaky endpoint is visible.
"""

from __future__ import annotations

import pyarrow as pa

from . import schemas
from .registry import task_family


def score_predictions(predictions: pa.Table, probes: pa.Table, family_name: str) -> pa.Table:
    family = task_family(family_name)
    probe_rows = {r["probe_id"]: r for r in probes.to_pylist()}
    out = schemas.TableBuilder(schemas.SCORES)
    for pred in predictions.to_pylist():
        row = probe_rows.get(pred["probe_id"])
        if row is None:
            continue
        if pred["error"]:  # every metric the family reports, so secondary means are not inflated
            values = dict.fromkeys(family.score("", row), 0.0)
        else:
            logprobs = {c["choice"]: c["logprob"] for c in pred["choice_logprobs"] or []} or None
            values = family.score(pred["output"] or "", row, logprobs)
        for metric, value in values.items():
            out.add(
                run_id=pred["run_id"], system=pred["system"], condition=pred["condition"],
                probe_id=pred["probe_id"], metric=metric, value=float(value), judge=None,
            )
    return out.table()
