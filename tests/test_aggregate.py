"""Aggregation: grouping sets, marginal rows, and the interval method chosen by the kind of score."""

import numpy as np
import polars as pl
import pyarrow as pa

from longbench_suite import schemas
from longbench_suite.aggregate import aggregate


def _tables(values, lengths, depths, variants):
    n = len(values)
    ids = [f"p{i}" for i in range(n)]
    probes = pa.table(
        {
            "probe_id": ids, "episode_id": ids, "family": ["needle"] * n, "variant": variants,
            "ability": ["retrieval"] * n, "length": lengths, "depth": depths, "bin": [None] * n, "question": [""] * n,
            "answer_prefix": [""] * n, "gold": [["x"]] * n, "choices": [["x"]] * n,
            "metric": ["string_match_all"] * n, "chance": [0.1] * n, "max_new_tokens": [8] * n, "meta": ["{}"] * n,
        }
    )
    scores = pa.table(
        {"run_id": ["r"] * n, "system": ["s"] * n, "condition": ["in-context"] * n, "probe_id": ids,
         "metric": ["string_match_all"] * n, "value": values, "judge": [None] * n}
    )
    return schemas.conform(scores, schemas.SCORES, "s"), schemas.conform(probes, schemas.PROBES, "p")


def test_cells_and_marginals():
    rng = np.random.default_rng(0)
    n = 400
    values = rng.integers(0, 2, n).astype(float).tolist()
    lengths = rng.choice([1024, 2048], n).tolist()
    depths = rng.choice([0.0, 50.0, 100.0], n).tolist()
    variants = rng.choice(["single_1", "single_2"], n).tolist()
    agg = pl.from_arrow(aggregate(*_tables(values, lengths, depths, variants)))
    assert agg.columns == schemas.AGGREGATES.names
    cells = agg.filter(pl.col("variant").is_not_null() & pl.col("length").is_not_null() & pl.col("depth").is_not_null())
    assert cells.height == 2 * 2 * 3 and cells.get_column("n").sum() == n
    overall = agg.filter(
        pl.col("variant").is_null() & pl.col("length").is_null() & pl.col("depth").is_null() & pl.col("ability").is_null()
    ).row(0, named=True)
    assert overall["n"] == n and abs(overall["mean"] - np.mean(values)) < 1e-12
    assert overall["ci_method"] == "wilson" and overall["ci_low"] < overall["mean"] < overall["ci_high"]
    by_len = agg.filter(pl.col("variant").is_null() & pl.col("length").is_not_null() & pl.col("depth").is_null())
    frame = pl.DataFrame({"length": lengths, "value": values}).group_by("length").agg(pl.col("value").mean())
    for row in by_len.iter_rows(named=True):
        expected = frame.filter(pl.col("length") == row["length"]).get_column("value")[0]
        assert abs(row["mean"] - expected) < 1e-12


def test_fractional_scores_use_bootstrap():
    values = [0.25, 0.5, 0.75, 1.0] * 25
    agg = pl.from_arrow(aggregate(*_tables(values, [1024] * 100, [50.0] * 100, ["multivalue"] * 100)))
    row = agg.filter(pl.col("variant").is_null() & pl.col("length").is_null() & pl.col("ability").is_null()).row(0, named=True)
    assert row["ci_method"] == "bootstrap"
    assert row["ci_low"] < 0.625 < row["ci_high"] and row["ci_high"] - row["ci_low"] < 0.2


def test_empty_scores_give_an_empty_table():
    scores, probes = _tables([], [], [], [])
    assert aggregate(scores, probes).num_rows == 0
