"""The example family's own test (docs/architecture.md): deterministic, the oracle at 1.0, the random
baseline at the probes' chance."""

from __future__ import annotations

import json

import polars as pl

from longbench_suite.generate import generate_dataset
from runners.local import RunConfig, run


def _score(run_dir) -> float:
    scores = pl.read_parquet(run_dir / "scores.parquet")
    return scores.filter(pl.col("metric") == "contains_any")["value"].mean()


def test_lockers_end_to_end(tmp_path):
    params = ["lockers=8,64", "samples=20", "questions=4"]
    a = generate_dataset("lockers", tmp_path / "a", None, params, seed=3, tokenizer="approx")
    b = generate_dataset("lockers", tmp_path / "b", None, params, seed=3, tokenizer="approx")
    hashes = [json.loads((p / "manifest.json").read_text())["content_hash"] for p in (tmp_path / "a", tmp_path / "b")]
    assert hashes[0] == hashes[1], (a, b)  # same seed, same bytes

    for system in ("oracle", "random"):
        run(RunConfig(dataset=tmp_path / "a", system=system, out=tmp_path / system, use_cache=False))
    assert _score(tmp_path / "oracle") == 1.0
    chance = pl.read_parquet(tmp_path / "a" / "probes.parquet")["chance"].mean()
    assert abs(_score(tmp_path / "random") - chance) < 0.08  # 320 probes at 1/8: sd ~0.018
