"""Aggregation: scores -> n, mean and 95% CI per group (Wilson for 0/1 scores, bootstrap otherwise).

Grouping sets, each with system, condition, family and metric:
  (variant, length, depth)   the cells of a needle grid
  (variant, length, bin)     the cells of a SORT grid (excerpt length x distance bin)
  (variant, length), (variant)
  (length, depth), (length, bin), (length), ()   across variants: heatmaps, curves, headline
  (ability), (variant, ability)   per ability (LongMemEval types, M4LE abilities), overall and per variant
  (ability, length)               per ability and length: the ability x length heatmaps
  (bin), (variant, bin)           per bin across lengths (LongMemEval: abstention vs answerable)
Plus, where a family has two or more abilities, ability = "task-averaged" (overall and per variant):
the unweighted mean of the per-ability means (LongMemEval's task-averaged accuracy), CI from the
per-ability variances.
A null grouping column in a row means "all values". A probe whose own value of a grouping column is
null (needle has no bin, SORT no depth) is left out of that grouping set, so it never poses as a marginal.

Corpus metrics (M4LE's BLEU, metrics.CORPUS_METRICS): each probe's score rows include its sufficient
statistics ("bleu.sys_len" ...); these make no rows of their own. A group's mean for the metric is the
metric of the statistics summed over the group's answered probes (sacrebleu's corpus BLEU), not the
mean of the per-probe values; its CI is a percentile bootstrap over the probes (ci_method
"bootstrap-corpus"; none above metrics.BOOTSTRAP_MAX_N probes).

Failed predictions (an error instead of an answer) are not scores: scoring writes them as 0 (the gate
pairs them as losses), but here they are left out of n, the mean and the CI and counted in n_errors,
so a cell whose probes all failed has n 0 and no mean instead of a confident 0. Each primary row also
carries `chance`, the mean chance level of its answered probes, which chance normalisation needs.
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
    ("ability", "length"),  # the rows of an ability x length heatmap (LongMemEval's types, M4LE's abilities)
    ("variant", "bin"),
]
TASK_AVERAGED = "task-averaged"
_BASE = ("system", "condition", "family", "metric", "primary")
GROUPING_COLUMNS = ("variant", "ability", "length", "depth", "bin")


def aggregate(scores: pa.Table, probes: pa.Table, predictions: pa.Table | None = None) -> pa.Table:
    """Aggregates of `scores`; `predictions` (probe_id, error, and system/condition when present) say
    which probes failed: those are counted in n_errors and left out of n, the mean, the CI and chance.
    Without predictions every score counts (nothing is known to have failed)."""
    cols = ["probe_id", "family", "variant", "ability", "length", "depth", "bin", "metric", "chance"]
    info = pl.from_arrow(probes.select(cols).cast(pa.schema([schemas.PROBES.field(c) for c in cols])))
    frame = (
        pl.from_arrow(scores.select(["system", "condition", "probe_id", "metric", "value"]))
        .join(info.rename({"metric": "probe_metric"}), on="probe_id", how="inner")
        .with_columns((pl.col("metric") == pl.col("probe_metric")).alias("primary"))
    )
    frame = _mark_failed(frame, predictions)
    frame, corpus = _split_corpus_stats(frame)
    # Each probe's value is counted once per finest cell (all grouping columns), value by value; the
    # grouping sets then sum these counts. A group's sample is its distinct values and their counts
    # (0/1 scores: two of each), which is all n, the mean, the variance and the intervals need.
    cells = frame.group_by([*_BASE, *GROUPING_COLUMNS, "value", "failed"]).agg(pl.len().alias("count"), pl.col("chance").sum())
    parts = []
    for gset in GROUPING_SETS:
        keys = list(_BASE) + list(gset)
        present = cells.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in gset])) if gset else cells
        if present.is_empty():
            continue
        answered = ~pl.col("failed")
        tally = present.group_by(keys).agg(
            pl.col("count").filter(pl.col("failed")).sum().alias("n_errors"),
            (pl.col("chance").filter(answered).sum() / pl.col("count").filter(answered).sum()).alias("chance"),
        )
        grouped = (
            present.filter(answered).group_by([*keys, "value"]).agg(pl.col("count").sum())
            .group_by(keys).agg(pl.col("value").alias("distinct"), pl.col("count").alias("counts"))
        )
        grouped = tally.join(grouped, on=keys, how="left", nulls_equal=True)
        missing = [c for c in GROUPING_COLUMNS if c not in gset]
        parts.append(grouped.with_columns([pl.lit(None, dtype=info.schema[c]).alias(c) for c in missing]))
    if not parts or frame.is_empty():
        return schemas.empty(schemas.AGGREGATES)
    out = pl.concat([p.select(*_BASE, *GROUPING_COLUMNS, "distinct", "counts", "n_errors", "chance") for p in parts])
    stats = [_sample_stats(np.asarray(d or [], dtype=float), np.asarray(c or [], dtype=np.int64))
             for d, c in zip(out.get_column("distinct").to_list(), out.get_column("counts").to_list())]
    out = out.drop("distinct", "counts").with_columns(
        pl.Series(name, [row[i] for row in stats], dtype=dtype)
        for i, (name, dtype) in enumerate([("n", pl.Int64), ("mean", pl.Float64), ("var", pl.Float64),
                                            ("ci_low", pl.Float64), ("ci_high", pl.Float64), ("ci_method", pl.String)])
    )
    # Chance is the expected primary metric of a uniform guess: a secondary metric has none.
    out = out.with_columns(pl.when(pl.col("primary") & (pl.col("n") > 0)).then(pl.col("chance")).alias("chance"),
                           pl.col("n_errors").cast(pl.Int64))
    out = _corpus_values(out, corpus)
    out = pl.concat([out.drop("var"), _task_averaged(out)], how="diagonal_relaxed")
    out = out.sort(["system", "condition", "family", "metric", "variant", "ability", "length", "depth", "bin"], nulls_last=False)
    out = out.select(schemas.AGGREGATES.names)
    return schemas.conform(out.to_arrow(), schemas.AGGREGATES, "aggregates")


def _mark_failed(frame: pl.DataFrame, predictions: pa.Table | None) -> pl.DataFrame:
    """A `failed` column: the probe's prediction has an error (its scores are placeholders, not answers)."""
    if predictions is None or predictions.num_rows == 0:
        return frame.with_columns(pl.lit(False).alias("failed"))
    keys = [c for c in ("system", "condition", "probe_id") if c in predictions.column_names]
    preds = pl.from_arrow(predictions.select([*keys, "error"])).select(
        *keys, (pl.col("error").is_not_null() & (pl.col("error") != "")).alias("failed")).unique(keys, keep="last")
    return frame.join(preds, on=keys, how="left").with_columns(pl.col("failed").fill_null(False))


def _sample_stats(distinct: np.ndarray, counts: np.ndarray) -> tuple:
    """n, mean, variance (ddof 1; 0 for one value) and 95% CI of a sample given as distinct values and
    counts; an empty sample (every probe failed) has n 0 and no statistics."""
    n = int(counts.sum())
    if n == 0:
        return (0, None, None, None, None, None)
    mean = float(counts @ distinct) / n
    var = float(counts @ (distinct - mean) ** 2) / (n - 1) if n > 1 else 0.0
    return (n, mean, var, *metrics.interval_counts(distinct, counts))


def _task_averaged(out: pl.DataFrame) -> pl.DataFrame:
    """One row per (system, condition, family, metric) with >= 2 answered abilities: the mean of the
    ability means; 95% CI by the normal approximation of a mean of independent means (se^2 = sum
    var_i/n_i / k^2); chance the mean of the abilities' chances (a uniform guess's task-averaged score);
    n_errors the failed probes of every ability."""
    others = [c for c in GROUPING_COLUMNS if c not in ("ability", "variant")]
    per_ability = out.filter(pl.col("ability").is_not_null() & pl.all_horizontal([pl.col(c).is_null() for c in others]))
    rows = []
    for keys, every in per_ability.group_by([*_BASE, "variant"], maintain_order=True):
        part = every.filter(pl.col("n") > 0)
        if part.height < 2:
            continue
        k = part.height
        means = part.get_column("mean").to_numpy()
        var = float((part.get_column("var") / part.get_column("n")).sum())
        half = metrics.Z95 * float(np.sqrt(var)) / k
        mean = float(means.mean())
        chance = part.get_column("chance").mean() if part.get_column("chance").null_count() == 0 else None
        rows.append({**dict(zip([*_BASE, "variant"], keys)), "ability": TASK_AVERAGED, "n": int(part.get_column("n").sum()), "mean": mean,
                     "ci_low": max(0.0, mean - half), "ci_high": min(1.0, mean + half), "ci_method": "normal-strata",
                     "n_errors": int(every.get_column("n_errors").sum()), "chance": chance})
    return pl.DataFrame(rows, schema={**{c: out.schema[c] for c in (*_BASE, "variant")}, "ability": pl.String, "n": out.schema["n"],
                                      "mean": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "ci_method": pl.String,
                                      "n_errors": pl.Int64, "chance": pl.Float64})


def _split_corpus_stats(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the scores that make rows, the answered probes' corpus statistics)."""
    names = [name for stats, _, _ in metrics.CORPUS_METRICS.values() for name in stats]
    is_stat = pl.col("metric").is_in(names)
    return frame.filter(~is_stat), frame.filter(is_stat & ~pl.col("failed"))


def _corpus_values(out: pl.DataFrame, corpus: pl.DataFrame) -> pl.DataFrame:
    """Replace the mean and CI of corpus-metric rows by the metric of the group's summed statistics."""
    if corpus.is_empty():
        return out
    index = {name: (metric, i) for metric, (stats, _, _) in metrics.CORPUS_METRICS.items() for i, name in enumerate(stats)}
    per_probe: dict[tuple, tuple[dict, np.ndarray]] = {}
    for r in corpus.select("system", "condition", "family", "probe_id", "metric", "probe_metric", "value", *GROUPING_COLUMNS).iter_rows(named=True):
        metric, i = index[r["metric"]]
        key = (r["system"], r["condition"], r["family"], metric, r["probe_metric"] == metric, r["probe_id"])
        entry = per_probe.setdefault(key, ({c: r[c] for c in GROUPING_COLUMNS}, np.zeros(len(metrics.CORPUS_METRICS[metric][0]))))
        entry[1][i] = r["value"]
    groups: dict[tuple, list[np.ndarray]] = {}
    for key, (values, stats) in per_probe.items():
        for gset in GROUPING_SETS:
            if all(values[c] is not None for c in gset):
                cell = key[:5] + tuple(values[c] if c in gset else None for c in GROUPING_COLUMNS)
                groups.setdefault(cell, []).append(stats)
    rows = out.to_dicts()
    for row in rows:
        found = groups.get(tuple(row[c] for c in (*_BASE, *GROUPING_COLUMNS)))
        if found is not None and row["metric"] in metrics.CORPUS_METRICS and row["n"]:
            _, value_of, many = metrics.CORPUS_METRICS[row["metric"]]
            matrix = np.vstack(found)
            row["mean"] = value_of(matrix.sum(axis=0))
            row["ci_low"], row["ci_high"], row["ci_method"] = metrics.corpus_interval(matrix, many)
    return pl.DataFrame(rows, schema=out.schema)
