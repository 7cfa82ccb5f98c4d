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


def test_run_without_system_uses_the_embedded_model(needle_small, tmp_path):
    """`lbs run` with no --system serves the embedded model itself, answers, and stops it."""
    res = lbs("run", needle_small, "-o", tmp_path / "run", "--limit", "2", "--no-cache")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["system"]["spec"] == "embedded" and manifest["system"]["hf_id"].endswith("SmolLM2-135M-Instruct")
    preds = pl.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert preds.height == 2 and preds.get_column("error").null_count() == 2
    assert set(preds.get_column("system")) == {"embedded"}


def test_lbs_serve_for_other_tools(needle_small, tmp_path):
    """`lbs serve embedded` prints its URL, answers other clients, and stops cleanly on Ctrl-C."""
    import re
    import signal
    import subprocess
    import sys

    from lbs_testutil import REPO

    proc = subprocess.Popen(
        [sys.executable, "-m", "longbench_suite.cli", "serve", "embedded"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the server is ready (or lbs exits)
        match = re.search(r"at (http://127\.0\.0\.1:\d+/v1)", line)
        assert match, line
        spec = f"embedded,base_url={match.group(1)}"
        res = lbs("run", needle_small, "--system", spec, "-o", tmp_path / "run", "--limit", "2", "--no-cache")
        assert res.returncode == 0, res.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
