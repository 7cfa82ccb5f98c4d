"""Reports: a rich table of runs' aggregates (raw, or normalised by chance or by a reference system,
said above the table) with the answered and failed probes of every score, what the scores hide
(failed probes' most common error, SORT's position bias, an LLM judge beside the deterministic
scorer: `print_checks`), the end-of-run summary, and a depth (or bin) x length heatmap per system."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import io, schemas
from .aggregate import GROUPING_COLUMNS, TASK_AVERAGED
from .heatmap import fmt_len


def read_aggregates(path: Path) -> pl.DataFrame:
    """A run's aggregates.parquet; one written before n_errors and chance existed reads with them null
    (chance normalisation then asks for `lbs aggregate RUN`)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_file():
        try:
            names = pq.read_schema(path).names
        except Exception:  # noqa: BLE001 - read_parquet below says what is wrong with the file
            names = schemas.AGGREGATES.names
        if "n" in names and any(c not in names for c in schemas.AGGREGATES_ADDED):
            table = pq.read_table(path)
            for c in schemas.AGGREGATES_ADDED:
                if c not in table.column_names:
                    table = table.append_column(c, pa.nulls(table.num_rows, schemas.AGGREGATES.field(c).type))
            return pl.from_arrow(schemas.conform(table, schemas.AGGREGATES, str(path)))
    return pl.from_arrow(io.read_parquet(path, schemas.AGGREGATES, "aggregates table"))


def load_aggregates(runs: list[Path]) -> pl.DataFrame:
    """Aggregates of several runs. Runs that share a system label, condition and family (two temperatures of
    one model, say) are told apart by their directory name: "embedded [t0.7]"."""
    frames = []
    for run in runs:
        run = Path(run)
        io.read_json(run / "run.json", "run manifest")
        agg = read_aggregates(run / "aggregates.parquet")
        frames.append(agg.with_columns(pl.lit(run.resolve().name).alias("run")))
    if not frames:
        return pl.from_arrow(schemas.empty(schemas.AGGREGATES)).with_columns(pl.lit(None, pl.String).alias("run"))
    agg = pl.concat(frames)
    shared = pl.col("run").n_unique().over(["system", "condition", "family"]) > 1
    return agg.with_columns(
        pl.when(shared).then(pl.format("{} [{}]", pl.col("system"), pl.col("run"))).otherwise(pl.col("system")).alias("system")
    )


def normalize(agg: pl.DataFrame, reference: str) -> pl.DataFrame:
    """M4LE's normalised scores: each row divided by the reference system's score for the same condition,
    family, variant, ability, depth, bin and metric at the reference's shortest length (its "1k" score).
    Rows without a reference score are dropped (per-ability rows pool lengths, so they have none); CIs
    are scaled alike."""
    keys = ["condition", "family", "variant", "ability", "depth", "bin", "metric"]
    ref = agg.filter((pl.col("system") == reference) & pl.col("length").is_not_null())
    if ref.is_empty():
        from .errors import UserError

        raise UserError(f"--normalize-by {reference}: no run of that system with per-length scores among these runs")
    shortest = ref.group_by("family").agg(pl.col("length").min().alias("_shortest"))
    ref = (ref.join(shortest, on="family").filter(pl.col("length") == pl.col("_shortest"))
              .group_by(keys, maintain_order=True).agg(pl.col("mean").first().alias("_ref")))
    out = agg.join(ref, on=keys, how="inner", nulls_equal=True).filter(pl.col("_ref") > 0)
    return out.with_columns([(pl.col(c) / pl.col("_ref")).alias(c) for c in ("mean", "ci_low", "ci_high")]).drop("_ref")


def chance_normalize(agg: pl.DataFrame) -> pl.DataFrame:
    """(score - chance) / (1 - chance) on every row that has a chance level: the row's own, the mean
    `chance` of the probes it pools, so 0 is a uniform guess's expected score and 1 is perfect. The
    map is affine and chance is known exactly (not measured), so the CI maps the same way. Chance 0
    (free-text metrics) leaves the row as it is; secondary metrics have no chance level and stay raw;
    a row whose every guess scores (chance 1) has nothing to normalise and gets no score."""
    needs = pl.col("primary") & (pl.col("n") > 0) & pl.col("chance").is_null()
    if agg.filter(needs).height:
        from .errors import UserError

        runs = sorted(agg.filter(needs).get_column("run").unique().to_list()) if "run" in agg.columns else []
        raise UserError("normalising by chance needs the chance levels that newer aggregates carry: rebuild them with "
                        f"lbs aggregate RUN ({', '.join(runs) or 'these runs'})")
    c = pl.col("chance")
    known = c.is_not_null()
    return agg.with_columns(
        [pl.when(known & (c < 1)).then((pl.col(k) - c) / (1 - c)).when(known).then(None).otherwise(pl.col(k)).alias(k)
         for k in ("mean", "ci_low", "ci_high")]
    )


def plot_values(agg: pl.DataFrame) -> pl.DataFrame:
    """Aggregates for plotting: a cell whose probes all failed has no mean; NaN draws it as a blank, not 0."""
    return agg.with_columns(pl.col(c).fill_null(float("nan")) for c in ("mean", "ci_low", "ci_high"))


def _primary(agg: pl.DataFrame) -> pl.DataFrame:
    """Keep the probes' own (headline) metric, e.g. string_match_all for needle."""
    return agg.filter(pl.col("primary"))


def print_table(agg: pl.DataFrame, console: Console, note: str | None = None) -> None:
    """One table per family (their lengths differ in kind: tokens, words). Rows: system x condition x
    variant; columns: lengths and the overall mean (x100, RULER style), n answered and failed probes.
    `note` says how the scores are normalised (printed first: raw when none is given)."""
    console.print(note or RAW_NOTE, highlight=False, markup=False, soft_wrap=True)
    agg = _primary(agg)
    for family in sorted(agg.get_column("family").unique().to_list()) or [None]:
        part = agg if family is None else agg.filter(pl.col("family") == family)
        _family_table(part, family, console)
        _ability_table(part, family, console)


def _family_table(agg: pl.DataFrame, family: str | None, console: Console) -> None:
    """Rows: system x condition x variant (x metric, when a family's probes use several: M4LE)."""
    marginal = pl.col("depth").is_null() & pl.col("bin").is_null() & pl.col("ability").is_null()
    cells = agg.filter(pl.col("length").is_not_null() & marginal)
    overall = agg.filter(pl.col("length").is_null() & marginal)
    lengths = sorted(cells.get_column("length").unique().to_list())
    by_metric = agg.get_column("metric").n_unique() > 1
    metric = "" if by_metric or agg.is_empty() else f"{agg.get_column('metric')[0]}, "  # which metric is the headline
    table = Table(title=f"{escape(family or '')} scores ({escape(metric)}x100; overall with 95% CI)".strip())
    for col in ("system", "condition", "family", "variant") + (("metric",) if by_metric else ()):
        table.add_column(col)
    for length in lengths:
        table.add_column(fmt_len(length), justify="right")
    table.add_column("overall", justify="right")
    table.add_column("n", justify="right")
    table.add_column("failed", justify="right")
    keys = ["system", "condition", "family", "variant", "metric"]
    for row in overall.sort(keys, nulls_last=True).iter_rows(named=True):
        same = pl.all_horizontal([pl.col(k).is_null() if row[k] is None else pl.col(k) == row[k] for k in keys])
        by_len = dict(cells.filter(same).select("length", "mean").iter_rows())
        share = _failed_share(row)
        table.add_row(  # names are data, not markup: "[a]" in a label must print as itself
            escape(row["system"]),
            escape(row["condition"]),
            escape(row["family"]),
            escape(row["variant"] or "(all)"),
            *((escape(row["metric"]),) if by_metric else ()),
            *[_pct(by_len[l]) if l in by_len else "" for l in lengths],
            _score_ci(row, "no answer"),
            str(row["n"]),
            (f"{row['n_errors']}" + (" !" if share > MAX_ERROR_SHARE else "")) if row["n_errors"] is not None else "?",
        )
    console.print(table)
    if any(_failed_share(r) > MAX_ERROR_SHARE for r in overall.iter_rows(named=True)):
        console.print(f"! more than {MAX_ERROR_SHARE:.0%} of the probes failed: the score covers the answered ones only",
                      highlight=False, markup=False)


RAW_NOTE = "Scores are raw (not normalised): the mean of each probe's own metric (x100), 95% CI in brackets."
# A score with more failed probes than this share is marked "!" (and not ranked on a leaderboard): the
# gate's default error-rate limit.
MAX_ERROR_SHARE = 0.05


def _pct(mean: float | None) -> str:
    return "—" if mean is None else f"{mean * 100:.1f}"


def _failed_share(row: dict) -> float:
    failed, n = row.get("n_errors") or 0, row.get("n") or 0
    return failed / (failed + n) if failed + n else 0.0


def _ability_table(agg: pl.DataFrame, family: str | None, console: Console) -> None:
    """Families with several abilities (LongMemEval's question types, M4LE's five): one column per
    ability, the task-averaged mean, and the bins across lengths (LongMemEval: abstention vs answerable).
    Rows: system x condition x variant, and (all) variants (x metric, when the family's probes use several)."""
    others = ("length", "depth", "bin")
    by_ability = agg.filter(pl.col("ability").is_not_null() & pl.all_horizontal([pl.col(c).is_null() for c in others]))
    abilities = sorted(a for a in by_ability.get_column("ability").unique().to_list() if a != TASK_AVERAGED)
    if len(abilities) < 2:
        return
    by_bin = agg.filter(pl.col("bin").is_not_null() & pl.all_horizontal([pl.col(c).is_null() for c in ("length", "depth", "ability")]))
    bins = sorted(by_bin.get_column("bin").unique().to_list())
    by_metric = agg.get_column("metric").n_unique() > 1
    columns = abilities + [TASK_AVERAGED] + [f"bin {b}" for b in bins]
    keys = ["system", "condition", "variant"] + (["metric"] if by_metric else [])
    table = Table(title=f"{escape(family or '')} by ability (x100)".strip())
    for col in (*keys, *columns):  # long ability names wrap instead of being cut
        if col in keys:
            table.add_column(escape(col), no_wrap=True)
        else:
            table.add_column(escape(col), justify="right", overflow="fold")
    for key in by_ability.select(keys).unique().sort(keys, nulls_last=True).iter_rows():
        mine = pl.all_horizontal([pl.col(k).is_null() if v is None else pl.col(k) == v for k, v in zip(keys, key)])
        means = {r["ability"]: r["mean"] for r in by_ability.filter(mine).iter_rows(named=True)}
        means.update({f"bin {r['bin']}": r["mean"] for r in by_bin.filter(mine).iter_rows(named=True)})
        if TASK_AVERAGED in means and len(means) - len(bins) <= 2:
            del means[TASK_AVERAGED]  # one ability under this metric: its average is itself
        shown = [escape(v) if v is not None else "(all)" for v in key]
        table.add_row(*shown, *[_pct(means[c]) if c in means else "" for c in columns])
    console.print(table)


# The aggregate rows over everything (every grouping column null).
_OVERALL = pl.all_horizontal([pl.col(c).is_null() for c in GROUPING_COLUMNS])


def _score_ci(row: dict, missing: str) -> str:
    """A row's mean and 95% CI, x100; `missing` when no probe was answered."""
    if row["mean"] is None:
        return missing
    return f"{row['mean'] * 100:.1f} [{row['ci_low'] * 100:.1f}, {row['ci_high'] * 100:.1f}]"


def print_checks(runs: list[Path], agg: pl.DataFrame, console: Console) -> None:
    """What the scores alone hide: a warning per run with failed probes (and the most common error), SORT's
    position bias, and an LLM judge's scores beside the deterministic ones with their agreement."""
    from . import diagnostics

    bias_rows, judge_rows = [], []
    for run in map(Path, runs):
        preds = diagnostics.read_predictions(run)
        mine = agg.filter(pl.col("run") == run.resolve().name) if "run" in agg.columns else agg
        label = " / ".join(sorted(set(mine.get_column("system").to_list()))) or run.name
        condition = " / ".join(sorted(set(mine.get_column("condition").to_list())))
        failed = diagnostics.errors(preds)
        if failed.errors:
            console.print(f"warning: {label} ({condition}): {failed.errors} of {failed.probes} probes failed and are left out "
                          f"of its scores; most common error ({failed.top_count}x): {failed.top}",
                          highlight=False, markup=False, soft_wrap=True)
        family = diagnostics.run_family(run)
        if family == "sort":
            bias_rows.append((label, condition, diagnostics.run_sort_bias(run, preds)))
        agreement = diagnostics.run_judge_agreement(run)
        if agreement is not None:
            judge_rows.append((label, condition, agreement, mine))
    if bias_rows:
        _bias_table(bias_rows, console)
    if judge_rows:
        _judge_table(judge_rows, console)


def _bias_table(rows: list, console: Console) -> None:
    table = Table(title="SORT position bias (A share: valid answers that pick A; A/B consistency: pairs asked in both orders)")
    for col in ("system", "condition", "A share", "gold is A", "valid / answered", "A/B consistency", "pairs"):
        table.add_column(col, justify="left" if col in ("system", "condition") else "right")
    share = lambda x: "—" if x is None else f"{x * 100:.0f}%"  # noqa: E731
    for label, condition, b in rows:
        table.add_row(escape(label), escape(condition), share(b.a_share), share(b.gold_a_share), f"{b.valid} / {b.answered}",
                      share(b.consistent), str(b.pairs))
    console.print(table)
    console.print("A system that always answers A scores the 'gold is A' share, which is chance: compare with constant,text=A.",
                  highlight=False, markup=False)


def _judge_table(rows: list, console: Console) -> None:
    """Per judged run: the deterministic metric and llm_judge (overall, x100 with CI) and their agreement."""
    from .scoring import JUDGE_METRIC

    table = Table(title="Judged runs: the LLM judge's verdict (llm_judge) beside the deterministic scorer")
    for col in ("system", "condition", "metric", "score", "n", "agreement"):
        table.add_column(col, justify="left" if col in ("system", "condition", "metric") else "right")
    for label, condition, agreement, mine in rows:
        for metric in (agreement.metric, JUDGE_METRIC):
            row = mine.filter(_OVERALL & (pl.col("metric") == metric))
            r = row.row(0, named=True) if row.height else None
            score = "—" if r is None else _score_ci(r, "—")
            agree = "" if metric == JUDGE_METRIC else (
                "—" if agreement.agree is None else f"{agreement.agree * 100:.0f}% of {agreement.n}")
            table.add_row(escape(label), escape(condition), metric, score, str(r["n"]) if r else "", agree)
    console.print(table)
    console.print("agreement: share of answered probes where the judge's verdict and the deterministic score agree "
                  "(both right or both wrong).", highlight=False, markup=False)


def run_summary(run: Path) -> list[str]:
    """The end of `lbs run`: the headline (each primary metric over everything: score, CI, n answered,
    failed) and, when probes failed, the most common error."""
    from . import diagnostics

    agg = read_aggregates(Path(run) / "aggregates.parquet")
    from .scoring import JUDGE_METRIC

    headline = pl.col("primary") | (pl.col("metric") == JUDGE_METRIC)  # a judge's verdict beside the deterministic score
    marginal = headline & _OVERALL
    lines = []
    for r in agg.filter(marginal).sort("metric").iter_rows(named=True):
        score = _score_ci(r, "no answer")
        chance = f", chance {r['chance'] * 100:.1f}" if r["chance"] else ""
        lines.append(f"score: {r['family']} {r['metric']} {score} (x100, 95% CI) n={r['n']} answered, "
                     f"{r['n_errors'] or 0} failed{chance}")
    failed = diagnostics.errors(diagnostics.read_predictions(run))
    if failed.errors:
        lines.append(f"warning: {failed.errors} of {failed.probes} probes failed (left out of the score); "
                     f"most common error ({failed.top_count}x): {failed.top}")
    return lines


def heatmaps(agg: pl.DataFrame, out_dir: Path, scale: str | None = None) -> list[Path]:
    """One PNG per system x condition x family (longbench_suite/heatmap.py: the family's own rows by
    length); `scale` labels the colour bar (default "score (x100)"; say so when scores are normalised)."""
    from .heatmap import SCALE
    from .heatmap import heatmaps as draw

    return [h.path for h in draw(agg, out_dir, scale or SCALE)]
