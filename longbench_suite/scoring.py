"""Scoring stage: predictions + probes (+ an LLM judge's verdicts) -> scores, using each family's scorer.

A prediction that failed (error set) scores 0 on every metric the family reports, the judge's
included, here: the gate pairs it as a loss. The aggregates (aggregate.py) leave such probes out of
the mean and count them in n_errors instead, so a failure never reads as a measured 0; reports and
leaderboards show the count beside every score. Error counts are also kept in run.json. A judge that
failed on a probe gives no judged score for it (that is the judge's failure, not the system's);
run.json counts those too.

Retrieval: when a prediction reports retrieved ids, the family's own `retrieval_scores` adds its
metrics (LongMemEval's recall_any/recall_all/ndcg_any at k = 1 ... 50, session and turn level, on the
items its evaluation counts); a family with only `evidence_ids` gets session-level ones over those.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from . import io, schemas
from .aggregate import aggregate
from .registry import task_family

JUDGMENTS = "judgments.parquet"

JUDGE_METRIC = "llm_judge"


def response_sha(output: str | None) -> str:
    return hashlib.sha256((output or "").encode()).hexdigest()


def score_predictions(predictions: pa.Table, probes: pa.Table, family_name: str, judgments: pa.Table | None = None) -> pa.Table:
    family = task_family(family_name)
    no_extras = all(predictions.column(c).null_count == predictions.num_rows for c in ("choice_logprobs", "retrieved_ids"))
    plain = judgments is None and no_extras
    scores = _score_columns(predictions, probes, family) if plain else None
    return scores if scores is not None else _score_rows(predictions, probes, family, judgments)


def _score_columns(predictions: pa.Table, probes: pa.Table, family) -> pa.Table | None:
    """The family's columnar scorer, when it has one: the same rows, in the same order, as _score_rows
    (predictions without log-probs, retrieved ids or judgments)."""
    preds = pl.from_arrow(predictions.select(["run_id", "system", "condition", "probe_id", "output", "error"]))
    frame = preds.join(
        pl.from_arrow(probes).drop([c for c in probes.column_names if c in preds.columns and c != "probe_id"]),
        on="probe_id", how="inner", maintain_order="left",
    )
    values = family.score_columns(frame.with_columns(pl.col("output").fill_null("")))
    if values is None:
        return None
    # Long format, prediction by prediction and the metrics in the family's order, as _score_rows.
    names, k = list(values), len(values)
    failed = frame.select(pl.col("error").is_not_null() & (pl.col("error") != "")).to_series().to_numpy()
    stacked = np.column_stack([column.cast(pl.Float64).to_numpy() for column in values.values()])
    stacked[failed] = 0.0  # as _score_rows: a failed prediction scores 0 on every metric
    keys = frame.select("run_id", "system", "condition", "probe_id")
    long = keys[np.repeat(np.arange(frame.height), k)].with_columns(
        pl.Series("metric", names, dtype=pl.String).gather(np.tile(np.arange(k), frame.height)),
        pl.Series("value", stacked.ravel(), dtype=pl.Float64),
        pl.lit(None, pl.String).alias("judge"),
    )
    return schemas.conform(long.to_arrow(), schemas.SCORES, "scores")


def _score_rows(predictions: pa.Table, probes: pa.Table, family, judgments: pa.Table | None) -> pa.Table:
    probe_rows = {r["probe_id"]: r for r in probes.to_pylist()}
    verdicts = {j["probe_id"]: j for j in judgments.to_pylist()} if judgments is not None else {}
    judge_of_errors = next((j["judge"] for j in verdicts.values()), None)
    out = schemas.TableBuilder(schemas.SCORES)
    for pred in predictions.to_pylist():
        row = probe_rows.get(pred["probe_id"])
        if row is None:
            continue
        judged: list[tuple[str, float, str | None]] = []
        if pred["error"]:  # every metric the family reports, so secondary means are not inflated
            values = dict.fromkeys(family.score("", row), 0.0)
            if judge_of_errors is not None:
                judged.append((JUDGE_METRIC, 0.0, judge_of_errors))
        else:
            logprobs = {c["choice"]: c["logprob"] for c in pred["choice_logprobs"] or []} or None
            values = family.score(pred["output"] or "", row, logprobs)
            verdict = verdicts.get(pred["probe_id"])
            if verdict and verdict["label"] is not None and verdict["response_sha"] == response_sha(pred["output"]):
                judged.append((JUDGE_METRIC, float(verdict["label"]), _judge_label(verdict)))
            if pred["retrieved_ids"] is not None:
                values.update(family.retrieval_scores(row, pred["retrieved_ids"]) or {})
        rows = [(m, float(v), None) for m, v in values.items()] + judged
        for metric, value, judge in rows:
            out.add(
                run_id=pred["run_id"], system=pred["system"], condition=pred["condition"],
                probe_id=pred["probe_id"], metric=metric, value=value, judge=judge,
            )
    return out.table()




def _judge_label(verdict: dict) -> str:
    """The scores' judge column: the judge's identity (spec, model, version, template set) and the template used."""
    return json.dumps({**json.loads(verdict["judge"]), "template": verdict["template"]}, sort_keys=True)


def read_judgments(run_dir: Path) -> pa.Table | None:
    """The judge's verdicts of a run (longbench_suite/judge.py writes them), or None when it was not judged."""
    path = Path(run_dir) / JUDGMENTS
    return io.read_parquet(path, schemas.JUDGMENTS, "judgments table") if path.is_file() else None


def write_tables(out: Path, predictions: pa.Table, dataset: io.Dataset) -> None:
    """A run's tables from its predictions: predictions, scores (with the judge's verdicts, when the run was
    judged) and aggregates (failed probes counted in n_errors)."""
    scores = score_predictions(predictions, dataset.probes, dataset.manifest["family"], read_judgments(out))
    io.write_parquet(predictions, out / "predictions.parquet")
    io.write_parquet(scores, out / "scores.parquet")
    io.write_parquet(aggregate(scores, dataset.probes, predictions), out / "aggregates.parquet")
