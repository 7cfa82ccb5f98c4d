"""End to end against the real embedded model served by vLLM on loopback (session fixture)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from lbs_testutil import lbs, make_needle

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def needle_small(tmp_path_factory):
    """A short grid in the embedded model's own tokens, sized for its 2,048-token window."""
    out = tmp_path_factory.mktemp("e2e") / "needle"
    params = ["lengths=512,1k", "depths=0,100", "samples=2", "max_new_tokens=24"]
    return make_needle(out, ["single_1", "multikey_1"], params, tokenizer="embedded")


def test_openai_adapter_run_produces_every_table(embedded_server, needle_small, tmp_path):
    spec = f"openai:{embedded_server.served_name},base_url={embedded_server.base_url}"
    run_dir = tmp_path / "run"
    res = lbs("run", needle_small, "--system", spec, "-o", run_dir, "--concurrency", "4", "--no-cache")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["errors"] == 0
    assert manifest["sampling"]["temperature"] == 0
    n = pl.read_parquet(needle_small / "probes.parquet").height
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert preds.height == n
    assert preds.get_column("output").str.len_chars().min() > 0
    assert preds.get_column("prompt_tokens").min() > 100  # the haystack really was in the prompt
    assert pl.read_parquet(run_dir / "scores.parquet").height >= n
    assert pl.read_parquet(run_dir / "aggregates.parquet").height > 0

    import datasets

    for table in ("predictions", "scores", "aggregates"):
        ds = datasets.load_dataset("parquet", data_files=str(run_dir / f"{table}.parquet"), split="train")
        assert ds.num_rows == pl.read_parquet(run_dir / f"{table}.parquet").height
    for table in ("episodes", "probes"):
        ds = datasets.load_dataset("parquet", data_files=str(needle_small / f"{table}.parquet"), split="train")
        assert ds.num_rows > 0

    report = lbs("report", run_dir)
    assert report.returncode == 0 and "needle" in report.stdout


def test_no_context_floor_is_near_zero(embedded_server, needle_small, tmp_path):
    spec = f"no-context:openai:{embedded_server.served_name},base_url={embedded_server.base_url}"
    res = lbs("run", needle_small, "--system", spec, "-o", tmp_path / "nc", "--no-cache")
    assert res.returncode == 0, res.stderr
    preds = pl.read_parquet(tmp_path / "nc" / "predictions.parquet")
    assert preds.get_column("prompt_tokens").max() < 100  # no haystack was sent
    scores = pl.read_parquet(tmp_path / "nc" / "scores.parquet").filter(pl.col("metric") == "string_match_all")
    # 7-digit numbers cannot be guessed: without the context the model scores (almost) nothing.
    assert scores.get_column("value").mean() <= 0.05
