"""`lbs gate` and `lbs aggregate` (Typer functions; cli.py registers them with app.command()).

    lbs aggregate RUN [--dataset DIR]
    lbs gate --baseline RUN|FILE --candidate RUN [--metric M] [--group-by task|variant|ability|length|depth|bin ...]
             [--max-drop 0.02] [--alpha 0.05] [--max-error-rate 0.05] [--max-invalid-rate R] [--json PATH]
             [--seed 0] [--resamples 10000] [--dataset DIR] [--allow-inconclusive]
    lbs gate --baseline RUN --write-baseline FILE      (then commit FILE; add --candidate to gate as well)

Exit codes: 0 passed, 1 a failed check (regression, dataset, missing probes, errors, invalid answers),
2 bad input (one line, raised as UserError), 3 inconclusive (nothing failed, but a group has too few
probes to have detected a drop of --max-drop; 0 with --allow-inconclusive). Output: a rich table when stdout is a terminal, else the
markdown summary on stdout; the markdown is also appended to $GITHUB_STEP_SUMMARY when it is set; a
one-line verdict goes to stderr; --json writes the whole result.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.console import Console

from .errors import UserError

if TYPE_CHECKING:
    from .gate import GateResult, GroupResult

# The gate's defaults as literals: importing longbench_suite.gate (numpy, polars, pyarrow) here would
# slow every `lbs` command by ~0.5 s. tests/test_gate.py checks they equal gate.DEFAULT_*.
DEFAULT_MAX_DROP = 0.02
DEFAULT_ALPHA = 0.05
DEFAULT_MAX_ERROR_RATE = 0.05
DEFAULT_RESAMPLES = 10_000


def _stdout() -> Console:
    # Bound at call time: sys.stdout may have been replaced (tests, redirection) since import.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 140)


def _stderr() -> Console:
    return Console(file=sys.stderr, width=None if sys.stderr.isatty() else 140)


def _verify_dataset(run_dir: Path, dataset: Optional[Path]) -> None:
    """The run's dataset, its content hash recomputed (tables and manifest), as run and score check it:
    an edited dataset (another family named, a probe changed) is refused, not aggregated under its name."""
    from . import io

    recorded = io.read_json(Path(run_dir) / "run.json", "run manifest").get("dataset") or {}
    io.Dataset(Path(dataset) if dataset is not None else Path(recorded.get("path") or "")).verify()


def aggregate(
    run_dir: Path = typer.Argument(..., help="Run directory (with scores.parquet and run.json)."),
    dataset: Optional[Path] = typer.Option(None, help="The run's dataset directory (default: the path in run.json)."),
) -> None:
    """Rebuild a run's aggregates.parquet from its scores and its dataset's probes (calls nothing)."""
    from . import io, schemas
    from .aggregate import aggregate as build
    from .gate import run_probes
    from .lock import run_lock

    with run_lock(run_dir):  # not beside a live run (its tables change under us)
        probes = run_probes(run_dir, dataset)
        _verify_dataset(run_dir, dataset)
        scores = io.read_parquet(run_dir / "scores.parquet", schemas.SCORES, "scores table")
        predictions = io.read_parquet(run_dir / "predictions.parquet", schemas.PREDICTIONS, "predictions table")
        table = build(scores, probes, predictions.select(["system", "condition", "probe_id", "error"]))  # failed probes: n_errors
        io.write_parquet(table, run_dir / "aggregates.parquet")
    _stderr().print(f"wrote {run_dir / 'aggregates.parquet'}: {table.num_rows} rows from {scores.num_rows} scores",
                    highlight=False, markup=False, soft_wrap=True)


def gate(
    baseline: Path = typer.Option(..., "--baseline", "-b", help="Baseline: a run directory or a baseline .parquet file (--write-baseline)."),
    candidate: Optional[Path] = typer.Option(None, "--candidate", "-c", help="Candidate run directory."),
    metric: Optional[str] = typer.Option(None, help="Metric to compare (default: each probe's primary metric)."),
    group_by: List[str] = typer.Option([], "--group-by", "-g", help="Test per task (default), variant, ability, length, depth or bin; repeat to cross them."),
    max_drop: float = typer.Option(DEFAULT_MAX_DROP, help="A group fails only if its mean drops by more than this (absolute, 0-1 scale) and the drop is significant at --alpha; a group too small to detect a drop this size is inconclusive (exit 3)."),
    alpha: float = typer.Option(DEFAULT_ALPHA, help="Level of the one-sided paired test (McNemar for 0/1 scores, else bootstrap), Holm-adjusted over groups."),
    max_error_rate: float = typer.Option(DEFAULT_MAX_ERROR_RATE, help="Fail if more of the candidate's predictions than this failed."),
    max_invalid_rate: Optional[float] = typer.Option(None, help="Fail if more candidate answers than this are invalid (default: --max-error-rate)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the whole result (decision per group, checks) as JSON."),
    seed: int = typer.Option(0, help="Seed of the paired bootstrap (scores that are not 0/1)."),
    resamples: int = typer.Option(DEFAULT_RESAMPLES, help="Bootstrap resamples."),
    dataset: Optional[Path] = typer.Option(None, help="Dataset of a baseline run directory (default: the path in its run.json)."),
    write_baseline: Optional[Path] = typer.Option(None, help="Write the --baseline run's per-probe scores to this .parquet file (to commit)."),
    allow_inconclusive: bool = typer.Option(False, "--allow-inconclusive", help="Exit 0 instead of 3 when the gate is inconclusive (too few probes to see a drop of --max-drop); the output still says so."),
) -> None:
    """Is a candidate run worse than a baseline? Paired on shared probes, per group (task by default).

    A group regresses when its mean drops by more than --max-drop and the drop is significant at
    --alpha (one-sided; exact McNemar for 0/1 scores, paired bootstrap otherwise; Holm over groups).
    Each group also reports its minimum detectable drop: the smallest drop its test could find
    significant with its n probes (0/1 scores: ceil(log2(groups/alpha)) net losses out of n).

    \b
    Outcomes and exit codes:
      0  passed        no check failed and every group could have detected a drop of --max-drop
      1  failed        a group regressed, other data, missing probes, or too many errors or invalid answers
      2  bad input     one error line
      3  inconclusive  nothing failed, but some group has too few probes to have detected a drop of
                       --max-drop (more probes, a larger --max-drop, or --allow-inconclusive for exit 0)
    """
    from . import gate as g

    settings = g.Settings(metric=metric, group_by=tuple(group_by) or ("task",), max_drop=max_drop, alpha=alpha,
                          max_error_rate=max_error_rate, max_invalid_rate=max_invalid_rate, seed=seed, resamples=resamples,
                          allow_inconclusive=allow_inconclusive)
    settings.check()  # before reading anything
    if candidate is None and write_baseline is None:
        raise UserError("give --candidate RUN to gate (or --write-baseline FILE to export --baseline)")
    if json_path is not None:
        from . import io

        io.check_dir_path(json_path.parent)
    base = g.load_side(baseline, dataset)
    if write_baseline is not None:
        table = g.write_baseline(base, write_baseline)
        _stderr().print(f"wrote baseline {write_baseline}: {table.num_rows} scores of "
                        f"{base.scores.get_column('probe_id').n_unique()} probes ({base.system}, {base.dataset_hash})",
                        highlight=False, markup=False, soft_wrap=True)
        if candidate is None:
            return
    result = g.gate(base, g.load_run(candidate, with_probes=False), settings)
    _emit(result, json_path)
    # SystemExit: the exit code reaches the shell however the app is run (standalone or through cli.main).
    if result.exit_code:
        raise SystemExit(result.exit_code)


def _emit(result: GateResult, json_path: Optional[Path]) -> None:
    from . import io

    markdown = to_markdown(result)
    if json_path is not None:
        io.write_json(result.to_dict(), json_path)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(markdown + "\n")
        except OSError as e:  # a summary page is a nicety: the decision (and exit code) stands
            _stderr().print(f"warning: cannot append to $GITHUB_STEP_SUMMARY ({summary}): {e.strerror}",
                            highlight=False, markup=False, soft_wrap=True)
    if sys.stdout.isatty():
        print_table(result, _stdout())
    else:
        sys.stdout.write(markdown + "\n")
    _stderr().print(verdict(result), highlight=False, markup=False, soft_wrap=True)


def verdict(result: GateResult) -> str:
    """The one-line decision (stderr): what a CI log shows."""
    if result.outcome == "failed":
        return "gate FAILED: " + ", ".join(c.name for c in result.failures)
    if result.outcome == "passed":
        return "gate passed"
    unseen = result.inconclusive_groups
    worst = max(unseen, key=lambda gr: float("inf") if gr.min_detectable_drop is None else gr.min_detectable_drop)
    reason = (f"{len(unseen)} of {len(result.groups)} groups could not have detected a drop of {result.settings.max_drop:g} "
              f"(e.g. {worst.label}: n={worst.n}, {worst.detectable})")
    if result.settings.allow_inconclusive:
        return f"gate inconclusive, allowed by --allow-inconclusive: {reason}"
    return f"gate INCONCLUSIVE: {reason}; add probes, raise --max-drop, or pass --allow-inconclusive"


# --- rendering ------------------------------------------------------------------------------------


def _p(value: float) -> str:
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _mdd(gr: GroupResult) -> str:
    return "none" if gr.min_detectable_drop is None else f"{gr.min_detectable_drop:.3f}"


_DECISION_MD = {"regression": "❌ regression", "inconclusive": "⚠️ inconclusive", "pass": "✅ pass"}
_DECISION_RICH = {"regression": "[bold red]regression[/bold red]", "inconclusive": "[yellow]inconclusive[/yellow]",
                  "pass": "[green]pass[/green]"}


def _test(gr: GroupResult) -> str:
    t = gr.test
    if t.method == "mcnemar-exact":
        return f"McNemar ({t.losses} lost, {t.wins} won)"
    return "paired bootstrap"


def _side(info: dict) -> str:
    return f"{info['system'] or '?'} ({info['kind']} `{info['source']}`)"


def _metric_name(result: GateResult) -> str:
    if result.settings.metric:
        return result.settings.metric
    used = sorted({m for gr in result.groups for m in gr.metrics})
    return f"primary ({', '.join(used)})" if used else "primary"


def to_markdown(result: GateResult) -> str:
    s = result.settings
    heading = {"passed": "✅ passed", "inconclusive": "⚠️ inconclusive",
               "failed": "❌ failed: " + ", ".join(c.name for c in result.failures)}[result.outcome]
    lines = [
        f"### lbs gate {heading}",
        "",
        (f"Candidate {_side(result.candidate)} vs baseline {_side(result.baseline)}; metric {_metric_name(result)}; "
         f"a group fails when it drops by more than {s.max_drop:g} with Holm-adjusted one-sided p <= {s.alpha:g}, and is "
         f"inconclusive when its smallest detectable drop (at alpha / groups) is above {s.max_drop:g}."),
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    mark = {True: "✅ pass", False: "❌ fail", None: "— n/a"}
    lines += [f"| {c.name} | {'⚠️ inconclusive' if c.inconclusive else mark[c.passed]} | {_cell(c.detail)} |"
              for c in result.checks]
    if result.groups:
        lines += ["", "| group | n | baseline | candidate | change | test | p | p (Holm) | detectable drop | decision |",
                  "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
        for gr in result.groups:
            lines.append(f"| {_cell(gr.label)} | {gr.n} | {gr.baseline_mean:.3f} | {gr.candidate_mean:.3f} | "
                         f"{gr.candidate_mean - gr.baseline_mean:+.3f} | {_test(gr)} | {_p(gr.test.p_value)} | {_p(gr.p_holm)} | "
                         f"{_mdd(gr)} | {_DECISION_MD[gr.decision]} |")
    lines += [f"\nNote: {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def print_table(result: GateResult, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    s = result.settings
    console.print(f"candidate {_side(result.candidate)} vs baseline {_side(result.baseline)}; metric {_metric_name(result)}; "
                  f"max drop {s.max_drop:g}, alpha {s.alpha:g} (Holm)", highlight=False, markup=False)
    checks = Table("check", "result", "detail", box=None, padding=(0, 2))
    style = {True: "[green]pass[/green]", False: "[bold red]FAIL[/bold red]", None: "n/a"}
    for c in result.checks:
        checks.add_row(c.name, "[yellow]inconclusive[/yellow]" if c.inconclusive else style[c.passed], Text(c.detail))
    console.print(checks)
    if result.groups:
        groups = Table("group", "n", "baseline", "candidate", "change", "test", "p", "p (Holm)", "detectable drop", "decision",
                       box=None, padding=(0, 2))
        for gr in result.groups:
            groups.add_row(Text(gr.label), str(gr.n), f"{gr.baseline_mean:.3f}", f"{gr.candidate_mean:.3f}",
                           f"{gr.candidate_mean - gr.baseline_mean:+.3f}", _test(gr), _p(gr.test.p_value), _p(gr.p_holm),
                           _mdd(gr), _DECISION_RICH[gr.decision])
        console.print(groups)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    colour = {"passed": "green", "inconclusive": "yellow", "failed": "bold red"}[result.outcome]
    console.print(Text(verdict(result), style=colour))
