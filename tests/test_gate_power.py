"""The gate's power: "no drop" is told apart from "too few probes to tell" (issue 20).

Real runs of the oracle on small generated needle sets; a candidate is the baseline run with some
answers blanked and re-scored as `lbs score` does. The CLI is the real one (cli.main in a subprocess).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import binom

from lbs_testutil import lbs, make_needle
from longbench_suite import gate as g
from longbench_suite import io, schemas
from longbench_suite.scoring import write_tables
from runners.local import RunConfig, run


def blank(base: Path, data: Path, out: Path, count: int) -> Path:
    """A copy of run `base` whose first `count` probes (by id) were answered with nothing, re-scored."""
    shutil.copytree(base, out)
    preds = pl.read_parquet(base / "predictions.parquet").sort("probe_id")
    lost = preds.get_column("probe_id").head(count).implode()
    preds = preds.with_columns(pl.when(pl.col("probe_id").is_in(lost)).then(pl.lit("")).otherwise(pl.col("output")).alias("output"))
    write_tables(out, schemas.conform(preds.to_arrow(), schemas.PREDICTIONS, "predictions"), io.Dataset(data))
    return out


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> tuple[Path, Path]:
    """8 needle probes (0/1 scores) and the oracle's run on them."""
    root = tmp_path_factory.mktemp("eight")
    data = make_needle(root / "data", ["single_1"], ["lengths=512", "depths=0,100", "samples=4"])
    run(RunConfig(dataset=data, system="oracle", out=root / "base", use_cache=False))
    return data, root / "base"


def _gate(*args) -> tuple[int, str, str, dict]:
    out = Path(args[args.index("-c") + 1]).parent / "gate.json"
    res = lbs("gate", *args, "--json", out)
    return res.returncode, res.stdout, res.stderr, json.loads(out.read_text()) if out.is_file() else {}


def test_half_drop_on_eight_probes_is_inconclusive_not_passed(eight, tmp_path):
    """Issue 20's case: 4 of 8 lost (McNemar p = 1/16 > 0.05). It is no regression the test can
    show, and no evidence of "no drop" either: 5 net losses are the fewest that could be significant."""
    data, base = eight
    cand = blank(base, data, tmp_path / "half", 4)
    code, out, err, result = _gate("-b", base, "-c", cand)
    assert code == 3, (out, err)
    assert "passed" not in err and err.strip().startswith("gate INCONCLUSIVE")
    assert "n=8, smallest detectable drop 0.625" in err and "--allow-inconclusive" in err
    assert result["outcome"] == "inconclusive" and result["passed"] is False and result["exit_code"] == 3
    group = result["groups"][0]
    assert (group["losses"], group["wins"], group["n"]) == (4, 0, 8) and group["p_value"] == pytest.approx(1 / 16)
    assert group["decision"] == "inconclusive" and group["min_detectable_drop"] == pytest.approx(5 / 8)
    regression = next(c for c in result["checks"] if c["name"] == "regression")
    assert regression["inconclusive"] and regression["passed"] is None
    assert out.startswith("### lbs gate ⚠️ inconclusive") and "| 0.625 | ⚠️ inconclusive |" in out
    # Opting in turns the exit code to 0; the words still say what happened.
    code, _, err, result = _gate("-b", base, "-c", cand, "--allow-inconclusive")
    assert code == 0 and result["outcome"] == "inconclusive" and result["exit_code"] == 0
    assert err.strip().startswith("gate inconclusive, allowed by --allow-inconclusive")
    # A tolerance the 8 probes can resolve (a drop of 0.625 would be significant): the 0.5 drop passes.
    code, _, err, result = _gate("-b", base, "-c", cand, "--max-drop", "0.625")
    assert code == 0 and err.strip() == "gate passed" and result["outcome"] == "passed"


def test_big_drop_on_eight_probes_fails(eight, tmp_path):
    data, base = eight
    code, _, err, result = _gate("-b", base, "-c", blank(base, data, tmp_path / "all", 8), "--allow-inconclusive")
    assert code == 1 and err.strip() == "gate FAILED: regression"  # --allow-inconclusive never hides a failure
    group = result["groups"][0]
    assert group["decision"] == "regression" and group["p_value"] == pytest.approx(0.5 ** 8)


def test_no_drop_on_many_probes_passes(tmp_path):
    """300 probes, one group: 5 net losses (p = 1/32) suffice, so a drop of 5/300 < 0.02 is detectable."""
    data = make_needle(tmp_path / "data", ["single_1"], ["lengths=512", "depths=0,50,100", "samples=100"])
    run(RunConfig(dataset=data, system="oracle", out=tmp_path / "base", use_cache=False))
    run(RunConfig(dataset=data, system="oracle", out=tmp_path / "same", use_cache=False))
    code, _, err, result = _gate("-b", tmp_path / "base", "-c", tmp_path / "same")
    assert code == 0 and err.strip() == "gate passed"
    assert result["groups"][0]["min_detectable_drop"] == pytest.approx(5 / 300)
    # Split in three groups, each of 100 probes: alpha/3 needs 6 net losses, 0.06 > 0.02: inconclusive.
    code, _, _, result = _gate("-b", tmp_path / "base", "-c", tmp_path / "same", "-g", "depth")
    assert code == 3 and [gr["min_detectable_drop"] for gr in result["groups"]] == pytest.approx([0.06] * 3)


@pytest.mark.parametrize("level", [0.2, 0.1, 0.05, 0.05 / 3, 0.0125, 0.01, 0.001])
def test_fewest_net_losses_is_exact(level):
    """Exhaustively, for every number of discordant pairs up to 300: the smallest losses - wins of any
    significant outcome equals mcnemar_min_losses (all-losses is the best case)."""
    k = g.mcnemar_min_losses(level)
    assert 0.5 ** k <= level < 0.5 ** (k - 1)
    best = math.inf
    for pairs in range(1, 301):
        losses = np.arange(pairs + 1)
        significant = binom.sf(losses - 1, pairs, 0.5) <= level  # p = P(Binomial(pairs, 1/2) >= losses)
        if significant.any():
            best = min(best, 2 * int(losses[significant][0]) - pairs)
    assert best == k


def test_min_detectable_drop_values():
    ones, zeros = np.ones(8), np.zeros(8)
    assert g.min_detectable_drop(ones, ones, 0.05) == pytest.approx(5 / 8)
    assert g.min_detectable_drop(np.ones(4), np.ones(4), 0.05) is None  # 4 probes: even 4 of 4 lost is p = 1/16
    assert g.min_detectable_drop(ones, zeros, 0.05) == pytest.approx(5 / 8)  # a property of n, not of the outcome
    # Graded: z(0.95) * sd / sqrt(n). Differences -0.1 and +0.1 alternating: sd = 0.1 * sqrt(n / (n - 1)).
    base = np.full(100, 0.5)
    cand = base + np.tile([-0.1, 0.1], 50)
    expected = 1.6448536 * 0.1 * math.sqrt(100 / 99) / 10
    assert g.min_detectable_drop(base, cand, 0.05) == pytest.approx(expected, rel=1e-6)
    assert g.min_detectable_drop(base[:1], cand[:1], 0.05) is None
    assert g.min_detectable_drop(base, cand, 0.00005, resamples=10_000) is None  # below the bootstrap's 1/(B+1)


def test_decisions_and_outcomes():
    """compare_groups marks groups; GateResult turns them into an outcome and an exit code."""
    half = g.Group({"task": "small"}, np.ones(8), np.r_[np.ones(4), np.zeros(4)])
    steady = g.Group({"task": "big"}, np.ones(400), np.ones(400))
    small, big = g.compare_groups([half, steady])
    assert small.decision == "inconclusive" and small.min_detectable_drop == pytest.approx(6 / 8)  # alpha/2: 6 losses
    assert big.decision == "pass" and big.min_detectable_drop == pytest.approx(6 / 400)
    lost = g.compare_groups([g.Group({"task": "small"}, np.ones(8), np.zeros(8)), steady])[0]
    assert lost.decision == "regression" and not lost.inconclusive
