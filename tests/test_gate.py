"""`lbs gate` and `lbs aggregate`: real runs of the baselines on small generated sets (no server).

The commands run through a tiny Typer app and a copy of cli.main's error handling (one `error:` line
and exit 2 for bad input); one test runs them through the real cli.main in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from lbs_testutil import REPO, make_needle
from longbench_suite import gate as g
from longbench_suite import gate_cli, io, schemas
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.scoring import write_tables
from runners.local import RunConfig, run

APP = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
APP.command()(gate_cli.gate)
APP.command()(gate_cli.aggregate)


def _main(argv: list[str]) -> int:
    """longbench_suite.cli.main's handling, on this app (returns the exit code instead of exiting)."""
    try:
        APP(args=argv, standalone_mode=False)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:
        return int(e.code or 0)
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:
        print(f"error: {' '.join(e.format_message().split())}", file=sys.stderr)
        return 2
    return 0


def lbs(*args, env: dict | None = None) -> tuple[int, str, str]:
    with CliRunner().isolation(env=env) as (out, err, _):
        code = _main([str(a) for a in args])
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


def one_line_error(res: tuple[int, str, str]) -> str:
    code, _, err = res
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, res
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


# --- runs -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gate")


@pytest.fixture(scope="module")
def data(work) -> Path:
    """36 probes: two 0/1 variants and multivalue (4 values: fractional scores when partly recalled)."""
    return make_needle(work / "needle", ["single_1", "single_2", "multivalue"], ["lengths=512", "depths=50", "samples=12"])


@pytest.fixture(scope="module")
def base(data, work) -> Path:
    run(RunConfig(dataset=data, system="oracle", out=work / "base", use_cache=False))
    return work / "base"


@pytest.fixture(scope="module")
def same(data, work) -> Path:
    run(RunConfig(dataset=data, system="oracle", out=work / "same", use_cache=False))
    return work / "same"


def derive(base: Path, data: Path, out: Path, edit, manifest_edit=None) -> Path:
    """A copy of `base` whose predictions `edit` changed (a polars frame with the probes' columns
    joined), re-scored as `lbs score` does."""
    shutil.copytree(base, out)
    probes = pl.read_parquet(data / "probes.parquet").select(["probe_id", "variant", "gold"])
    preds = pl.read_parquet(base / "predictions.parquet").join(probes, on="probe_id", how="left")
    preds = edit(preds).drop(["variant", "gold"])
    write_tables(out, schemas.conform(preds.to_arrow(), schemas.PREDICTIONS, "predictions"), io.Dataset(data))
    if manifest_edit is not None:
        manifest = json.loads((out / "run.json").read_text())
        manifest_edit(manifest)
        io.write_json(manifest, out / "run.json")
    return out


@pytest.fixture(scope="module")
def worse(base, data, work) -> Path:
    """single_2 forgotten (0/1 scores: McNemar), multivalue only one of four values (0.25: bootstrap)."""
    def edit(p: pl.DataFrame) -> pl.DataFrame:
        return p.with_columns(
            pl.when(pl.col("variant") == "single_2").then(pl.lit(""))
            .when(pl.col("variant") == "multivalue").then(pl.col("gold").list.first())
            .otherwise(pl.col("output")).alias("output"))
    return derive(base, data, work / "worse", edit)


# --- decisions ------------------------------------------------------------------------------------


def test_identical_runs_pass(base, same, tmp_path):
    # 12 probes a group, 3 groups: McNemar needs 6 net losses at alpha 0.05/3 (2^-6 <= 0.0167), so the
    # smallest drop it could see is 6/12; at the default --max-drop 0.02 that is "inconclusive", not "passed".
    code, out, err = lbs("gate", "--baseline", base, "--candidate", same, "--group-by", "variant", "--json", tmp_path / "r.json")
    assert code == 3, (out, err)
    assert out.startswith("### lbs gate ⚠️ inconclusive") and "gate INCONCLUSIVE" in err and "passed" not in err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["outcome"] == "inconclusive" and not result["passed"] and result["exit_code"] == 3 and result["failures"] == []
    assert all(gr["decision"] == "inconclusive" and gr["min_detectable_drop"] == 0.5 for gr in result["groups"])
    # A tolerance the test can resolve: passed.
    code, out, err = lbs("gate", "--baseline", base, "--candidate", same, "--group-by", "variant", "--max-drop", "0.5",
                         "--json", tmp_path / "r.json")
    assert code == 0, (out, err)
    assert out.startswith("### lbs gate ✅ passed") and "gate passed" in err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["passed"] and result["outcome"] == "passed" and result["exit_code"] == 0 and result["failures"] == []
    assert [gr["label"] for gr in result["groups"]] == ["variant=multivalue", "variant=single_1", "variant=single_2"]
    assert all(gr["decision"] == "pass" and gr["n"] == 12 and gr["difference"] == 0 for gr in result["groups"])


def test_planted_regression_fails_and_names_the_groups(base, worse, tmp_path):
    code, out, err = lbs("gate", "-b", base, "-c", worse, "-g", "variant", "--json", tmp_path / "r.json")
    assert code == 1 and "FAILED: regression" in err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["failures"] == ["regression"]
    groups = {gr["label"]: gr for gr in result["groups"]}
    assert groups["variant=single_1"]["decision"] == "inconclusive"  # unchanged, but 12 probes could not show a 0.02 drop
    lost = groups["variant=single_2"]
    assert lost["decision"] == "regression" and lost["test"] == "mcnemar-exact" and (lost["losses"], lost["wins"]) == (12, 0)
    assert lost["p_value"] == pytest.approx(0.5 ** 12) and lost["p_holm"] == pytest.approx(2 * 0.5 ** 12)  # Holm: second smallest of 3, x2
    partial = groups["variant=multivalue"]
    assert partial["decision"] == "regression" and partial["test"] == "paired-bootstrap"
    assert partial["candidate_mean"] == pytest.approx(0.25) and partial["p_value"] == pytest.approx(1 / 10_001)
    # The markdown names the failing groups; so does the check's reason.
    rows = [line for line in out.splitlines() if line.endswith("❌ regression |")]
    assert len(rows) == 2 and any("variant=single_2" in r for r in rows) and any("variant=multivalue" in r for r in rows)
    assert "variant=multivalue; variant=single_2" in next(c["detail"] for c in result["checks"] if c["name"] == "regression")
    # Default grouping: one task; crossing two columns gives one group per (variant, length).
    code, out, _ = lbs("gate", "-b", base, "-c", worse)
    assert code == 1 and "| task=needle | 36 |" in out
    code, out, _ = lbs("gate", "-b", base, "-c", worse, "-g", "variant", "-g", "length")
    assert code == 1 and "| variant=single_2, length=512 | 12 |" in out
    # A drop below --max-drop never fails, however significant.
    code, _, _ = lbs("gate", "-b", base, "-c", worse, "-g", "variant", "--max-drop", "0.8", "--json", tmp_path / "m.json")
    decided = {gr["label"]: gr["decision"] for gr in json.loads((tmp_path / "m.json").read_text())["groups"]}
    assert code == 1 and decided == {"variant=multivalue": "pass", "variant=single_1": "pass", "variant=single_2": "regression"}


def test_rich_table_on_a_terminal(base, worse):
    result = g.gate(g.load_side(base), g.load_run(worse, with_probes=False), g.Settings(group_by=("variant",)))
    console = Console(record=True, width=200)
    gate_cli.print_table(result, console)
    text = console.export_text()
    assert "variant=single_2" in text and "regression" in text and "gate FAILED: regression" in text


def test_markdown_is_appended_to_the_github_step_summary(base, worse, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    code, out, _ = lbs("gate", "-b", base, "-c", worse, "-g", "variant", env={"GITHUB_STEP_SUMMARY": str(summary)})
    text = summary.read_text()
    assert code == 1 and text.startswith("# earlier step\n### lbs gate ❌ failed: regression")
    assert text.endswith(out)  # the same markdown as on stdout
    assert "| variant=single_2 | 12 | 1.000 | 0.000 | -1.000 |" in text


def test_dataset_hash_mismatch_fails_with_its_own_reason(base, data, work, tmp_path):
    other = derive(base, data, tmp_path / "other", lambda p: p,
                   lambda m: m["dataset"].update(content_hash="sha256:" + "0" * 64))
    code, _, err = lbs("gate", "-b", base, "-c", other, "--json", tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert code == 1 and result["failures"] == ["dataset"] and "FAILED: dataset" in err
    assert "different data" in next(c["detail"] for c in result["checks"] if c["name"] == "dataset")


def test_missing_probes_fail_with_their_own_reason(base, data, tmp_path):
    dropped = pl.read_parquet(base / "predictions.parquet").get_column("probe_id").sort().to_list()[:3]
    partial = derive(base, data, tmp_path / "partial", lambda p: p.filter(~pl.col("probe_id").is_in(dropped)))
    code, _, _ = lbs("gate", "-b", base, "-c", partial, "--json", tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    missing = next(c for c in result["checks"] if c["name"] == "missing")
    assert code == 1 and result["failures"] == ["missing"]
    assert missing["value"] == 3 and missing["detail"].startswith("3 of 36") and dropped[0] in missing["detail"]
    assert result["groups"][0]["n"] == 33  # the rest is still compared
    # The other way round nothing is missing: the candidate's extra probes are noted, not compared.
    code, out, _ = lbs("gate", "-b", partial, "-c", base, "--allow-inconclusive")  # 33 probes: min. detectable drop 5/33
    assert code == 0 and "Note: 3 candidate probes are not in the baseline (not compared)" in out


def test_error_rate_fails_with_its_own_reason(base, data, tmp_path):
    failed = pl.read_parquet(base / "predictions.parquet").get_column("probe_id").sort().to_list()[:3]
    flaky = derive(base, data, tmp_path / "flaky", lambda p: p.with_columns(
        pl.when(pl.col("probe_id").is_in(failed)).then(pl.lit("APIConnectionError: refused")).otherwise(pl.col("error")).alias("error")))
    code, _, _ = lbs("gate", "-b", base, "-c", flaky, "--json", tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    errors = next(c for c in result["checks"] if c["name"] == "errors")
    # 3 of 36 failed (8.3% > 5%); three zeros among 36 are no significant drop (McNemar p = 1/8).
    assert code == 1 and result["failures"] == ["errors"] and errors["value"] == pytest.approx(3 / 36)
    assert result["groups"][0]["p_value"] == pytest.approx(1 / 8)
    assert lbs("gate", "-b", base, "-c", flaky, "--max-error-rate", "0.1", "--max-drop", "0.15")[0] == 0  # 5/36 detectable


@pytest.fixture(scope="module")
def sort_data(work) -> Path:
    """80 SORT probes (A/B, counterbalanced; the family reports `invalid`)."""
    out = work / "sort"
    generate_dataset("sort", out, ["ls20"], ["lengths=250", "excerpts=10"], seed=0, tokenizer="approx")
    return out


def test_invalid_answers_fail_and_an_equal_system_passes(sort_data, work, tmp_path):
    for name, spec in (("a", "constant,text=A"), ("b", "constant,text=B"), ("unsure", "constant,text=unsure")):
        run(RunConfig(dataset=sort_data, system=spec, out=tmp_path / name, use_cache=False))
    # Always-A and always-B both score 0.5, disagreeing on every probe: McNemar finds no drop.
    # (20 probes per bin, 4 bins: 7 net losses are needed at alpha 0.05/4, a drop of 0.35.)
    code, out, _ = lbs("gate", "-b", tmp_path / "a", "-c", tmp_path / "b", "-g", "bin", "--max-drop", "0.35",
                       "--json", tmp_path / "ab.json")
    result = json.loads((tmp_path / "ab.json").read_text())
    assert code == 0, out
    assert len(result["groups"]) == 4 and sum(gr["wins"] + gr["losses"] for gr in result["groups"]) == 80
    assert next(c for c in result["checks"] if c["name"] == "invalid")["value"] == 0
    # An answer naming no letter is invalid: its own failure, besides the drop to 0.
    code, _, _ = lbs("gate", "-b", tmp_path / "a", "-c", tmp_path / "unsure", "--json", tmp_path / "u.json")
    result = json.loads((tmp_path / "u.json").read_text())
    assert code == 1 and result["failures"] == ["invalid", "regression"]
    code, _, _ = lbs("gate", "-b", tmp_path / "a", "-c", tmp_path / "unsure", "--max-invalid-rate", "1", "--max-drop", "0.6")
    assert code == 0
    # A system whose answers were as often invalid before is not a regression: identical runs pass.
    code, out, _ = lbs("gate", "-b", tmp_path / "unsure", "-c", tmp_path / "unsure", "--max-drop", "0.0625")  # 5/80
    assert code == 0, out


def test_committed_baseline_file_round_trips(base, same, worse, tmp_path):
    file = tmp_path / "ci" / "baseline.parquet"
    code, _, err = lbs("gate", "-b", base, "--write-baseline", file)
    assert code == 0 and f"wrote baseline {file}" in err
    meta = json.loads(pq.read_schema(file).metadata[g.BASELINE_META_KEY])
    manifest = json.loads((base / "run.json").read_text())
    assert meta["dataset_hash"] == manifest["dataset"]["content_hash"] and meta["system"] == "oracle"
    table = pl.read_parquet(file)
    assert table.columns == g.BASELINE.names and table.filter(pl.col("primary")).height == 36
    assert set(table.get_column("metric")) == {"string_match_all", "string_match_part"}
    # Exported again: the same bytes (a committed file changes only when the scores do).
    lbs("gate", "-b", base, "--write-baseline", tmp_path / "again.parquet")
    assert (tmp_path / "again.parquet").read_bytes() == file.read_bytes()
    # Gating against the file decides exactly as gating against the run.
    assert lbs("gate", "-b", file, "-c", same, "--allow-inconclusive")[0] == 0
    decisions = {}
    for name, baseline in (("file", file), ("run", base)):
        code, _, _ = lbs("gate", "-b", baseline, "-c", worse, "-g", "variant", "--json", tmp_path / f"{name}.json")
        assert code == 1
        decisions[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert decisions["file"]["groups"] == decisions["run"]["groups"]
    assert decisions["file"]["baseline"]["kind"] == "file" and decisions["file"]["baseline"]["system"] == "oracle"
    # A secondary metric by name.
    code, out, _ = lbs("gate", "-b", file, "-c", worse, "--metric", "string_match_part", "-g", "variant")
    assert code == 1 and "| variant=multivalue | 12 | 1.000 | 1.000 | +0.000 |" in out


def test_bad_input_exits_2_with_one_line(base, same, tmp_path):
    pair = ("-b", base, "-c", same)
    cases = {
        "--max-drop": [*pair, "--max-drop", "1.5"],
        "--alpha": [*pair, "--alpha", "0"],
        "--group-by 'colour'": [*pair, "-g", "colour"],
        "no scores of metric 'rouge'": [*pair, "--metric", "rouge"],
        "invalid metric is a rate": [*pair, "--metric", "invalid"],
        "--resamples": [*pair, "--resamples", "10"],
        "--seed": [*pair, "--seed", "-1"],
        "baseline not found": ["-b", tmp_path / "nope", "-c", same],
        "run directory not found": ["-b", base, "-c", tmp_path / "nope"],
        "give --candidate": ["-b", base],
        "not a gate baseline": ["-b", base / "scores.parquet", "-c", same],
        "not a readable parquet": ["-b", base / "run.json", "-c", same],
        "No such option": [*pair, "--bogus"],
        "needs a run directory": ["-b", tmp_path / "b.parquet", "--write-baseline", tmp_path / "x.parquet"],
        "is a directory": ["-b", base, "--write-baseline", tmp_path],
    }
    assert lbs("gate", "-b", base, "--write-baseline", tmp_path / "b.parquet")[0] == 0
    for expected, args in cases.items():
        line = one_line_error(lbs("gate", *args))
        assert expected in line, (expected, line)
    assert not (tmp_path / "x.parquet").exists()


def test_aggregate_rebuilds_the_aggregates(base, data, sort_data, tmp_path):
    moved = tmp_path / "run"
    shutil.copytree(base, moved)
    (moved / "aggregates.parquet").unlink()
    code, _, err = lbs("aggregate", moved)
    assert code == 0 and "aggregates.parquet" in err
    assert pq.read_table(moved / "aggregates.parquet").equals(pq.read_table(base / "aggregates.parquet"))
    # The dataset moved: run.json's path fails with a hint, --dataset finds it, another dataset is refused.
    manifest = json.loads((moved / "run.json").read_text())
    manifest["dataset"]["path"] = str(tmp_path / "gone")
    io.write_json(manifest, moved / "run.json")
    assert "--dataset" in one_line_error(lbs("aggregate", moved))
    assert lbs("aggregate", moved, "--dataset", data)[0] == 0
    assert "is not the one" in one_line_error(lbs("aggregate", moved, "--dataset", sort_data))
    # The gate reads a moved baseline's probes the same way.
    assert "--dataset" in one_line_error(lbs("gate", "-b", moved, "-c", base))
    assert lbs("gate", "-b", moved, "-c", base, "--dataset", data, "--allow-inconclusive")[0] == 0


def test_real_cli_main_passes_the_exit_code_on(base, worse):
    """cli.main runs Typer with standalone_mode=False: a regression must still exit 1 there. (Registers
    the command unless cli.py already does.)"""
    code = ("import sys; from longbench_suite import cli, gate_cli\n"
            "if gate_cli.gate not in [c.callback for c in cli.app.registered_commands]: cli.app.command()(gate_cli.gate)\n"
            "cli.main(sys.argv[1:])")
    res = subprocess.run([sys.executable, "-c", code, "gate", "-b", str(base), "-c", str(worse)],
                         capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert res.returncode == 1, res.stderr
    assert "| task=needle | 36 | 1.000 |" in res.stdout and res.stderr.strip() == "gate FAILED: regression"


# --- statistics -----------------------------------------------------------------------------------


def test_cli_defaults_are_the_gate_defaults():
    for name in ("DEFAULT_MAX_DROP", "DEFAULT_ALPHA", "DEFAULT_MAX_ERROR_RATE", "DEFAULT_RESAMPLES"):
        assert getattr(gate_cli, name) == getattr(g, name), name
    settings = g.Settings()
    assert (settings.max_drop, settings.alpha, settings.max_error_rate) == (g.DEFAULT_MAX_DROP, g.DEFAULT_ALPHA, g.DEFAULT_MAX_ERROR_RATE)
    # ... so that registering the commands in cli.py keeps `lbs` quick to start.
    probe = "import sys, longbench_suite.gate_cli; print(sorted({'numpy', 'polars', 'pyarrow'} & set(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res


def test_tests_and_correction_on_known_values():
    rng = np.random.default_rng(0)
    t = g.mcnemar_exact(np.ones(5), np.zeros(5))
    assert (t.losses, t.wins) == (5, 0) and t.p_value == pytest.approx(1 / 32)
    assert g.mcnemar_exact(np.array([1.0, 0.0]), np.array([0.0, 1.0])).p_value == pytest.approx(0.75)
    assert g.mcnemar_exact(np.ones(4), np.ones(4)).p_value == 1.0
    assert g.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    half = np.full(50, 0.5)
    assert g.bootstrap_drop(half, half - 0.1, rng, 999).p_value == pytest.approx(1 / 1000)  # a drop on every probe
    assert g.bootstrap_drop(half, half + 0.1, rng, 999).p_value == 1.0
    noisy = rng.random(300)
    one = g.compare_groups([g.Group({"task": "x"}, noisy, noisy * 0.9)], seed=7)[0]
    again = g.compare_groups([g.Group({"task": "x"}, noisy, noisy * 0.9)], seed=7)[0]
    assert one.test.p_value == again.test.p_value and one.test.method == "paired-bootstrap"


def _side(kind: str, values: list[float], judge: str, condition: str) -> g.Side:
    n = len(values)
    scores = pl.DataFrame({"probe_id": [f"p{i}" for i in range(n)], "metric": ["llm_judge"] * n, "value": values,
                           "judge": [judge] * n, "primary": [True] * n, "family": ["longmemeval"] * n, "variant": ["s"] * n,
                           "ability": ["temporal"] * n, "length": [1000] * n, "depth": [None] * n, "bin": [None] * n},
                          schema_overrides={"depth": pl.Float64, "bin": pl.String})
    return g.Side("mem", kind, scores, "sha256:x", "sys", "r", condition, n_predictions=n, n_errors=0)


def test_notes_say_when_judges_or_conditions_differ():
    result = g.gate(_side("file", [1.0] * 20, "judge-a", "in-context"), _side("run", [1.0] * 20, "judge-b", "in-memory"),
                    g.Settings(group_by=("ability",)))
    assert not result.failures and [gr.label for gr in result.groups] == ["ability=temporal"]
    assert "conditions differ: baseline in-context, candidate in-memory" in result.notes
    assert "20 of 20 judged probes were judged by different judges on the two sides" in result.notes


def _calibration():
    spec = importlib.util.spec_from_file_location("gate_calibration", REPO / "bench" / "gate_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_false_alarms_and_power():
    """The gate's own decision function on simulated runs (bench/gate_calibration.py has the models;
    the 0/1 model draws per-probe difficulty from Beta(0.5, 0.5), runs disagreeing on ~25% of probes;
    with uniform difficulty (~33%) power at 1,000 probes is ~0.84, reported by the bench script).
    The simulations are seeded, so the figures are fixed and asserted against the bounds themselves."""
    cal = _calibration()

    alpha = g.DEFAULT_ALPHA
    # Identical systems, 0/1 scores, 1,000 probes: the exact McNemar test, at the defaults.
    fa, _ = cal.alarm_rate("binary", 1500, 1000)
    assert fa <= alpha, fa  # seeded simulations: the figure is fixed, the bound needs no slack
    # Graded scores: the paired bootstrap alone (max-drop 0) holds alpha on 200 probes; the default
    # max-drop only removes alarms (bench: 0.005 at 1,000 probes), so this bounds the default too.
    fa, _ = cal.alarm_rate("continuous", 600, 200, max_drop=0.0, resamples=2000)
    assert fa <= alpha, fa
    # A planted 5-point drop on 1,000 probes is caught at the default max-drop.
    power, _ = cal.alarm_rate("binary", 500, 1000, drop=0.05)
    assert power >= 0.9, power
    power, _ = cal.alarm_rate("continuous", 100, 1000, drop=0.05, resamples=2000)
    assert power >= 0.9, power
