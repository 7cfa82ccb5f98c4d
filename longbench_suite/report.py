"""Reports: a rich table of a run's aggregates and a depth (or bin) x length heatmap per system."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import io, schemas
from .aggregate import TASK_AVERAGED


def load_aggregates(runs: list[Path]) -> pl.DataFrame:
    """Aggregates of several runs. Runs that share a system label, condition and family (two temperatures of
    one model, say) are told apart by their directory name: "embedded [t0.7]"."""
    frames = []
    for run in runs:
        run = Path(run)
        io.read_json(run / "run.json", "run manifest")
        agg = pl.from_arrow(io.read_parquet(run / "aggregates.parquet", schemas.AGGREGATES, "aggregates table"))
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


def _primary(agg: pl.DataFrame) -> pl.DataFrame:
    """Keep the probes' own (headline) metric, e.g. string_match_all for needle."""
    return agg.filter(pl.col("primary"))


def print_table(agg: pl.DataFrame, console: Console) -> None:
    """One table per family (their lengths differ in kind: tokens, words). Rows: system x condition x
    variant; columns: lengths and the overall mean (x100, RULER style)."""
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
    table = Table(title=f"{escape(family or '')} scores (x100; overall with 95% CI)".strip())
    for col in ("system", "condition", "family", "variant") + (("metric",) if by_metric else ()):
        table.add_column(col)
    for length in lengths:
        table.add_column(_fmt_len(length), justify="right")
    table.add_column("overall", justify="right")
    table.add_column("n", justify="right")
    keys = ["system", "condition", "family", "variant", "metric"]
    for row in overall.sort(keys, nulls_last=True).iter_rows(named=True):
        same = pl.all_horizontal([pl.col(k).is_null() if row[k] is None else pl.col(k) == row[k] for k in keys])
        by_len = dict(cells.filter(same).select("length", "mean").iter_rows())
        table.add_row(  # names are data, not markup: "[a]" in a label must print as itself
            escape(row["system"]),
            escape(row["condition"]),
            escape(row["family"]),
            escape(row["variant"] or "(all)"),
            *((escape(row["metric"]),) if by_metric else ()),
            *[f"{by_len[l] * 100:.1f}" if l in by_len else "" for l in lengths],
            f"{row['mean'] * 100:.1f} [{row['ci_low'] * 100:.1f}, {row['ci_high'] * 100:.1f}]",
            str(row["n"]),
        )
    console.print(table)


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
        table.add_row(*shown, *[f"{means[c] * 100:.1f}" if c in means else "" for c in columns])
    console.print(table)


def _fmt_len(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


# The rows of a family's heatmap: needle depth, or a family's own bin (SORT's distance bin).
_ROW_AXES = (("depth", "needle depth", lambda d: f"{d:g}%"), ("bin", "bin (SORT: distance, 1 = nearest)", str))


def heatmaps(agg: pl.DataFrame, out_dir: Path) -> list[Path]:
    """One PNG per system x condition x family: mean score by depth or bin (rows) and length (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = _primary(agg).filter(pl.col("variant").is_null() & pl.col("ability").is_null() & pl.col("length").is_not_null())
    written = []
    for axis, axis_label, fmt in _ROW_AXES:
        other = next(a for a, _, _ in _ROW_AXES if a != axis)
        grid = agg.filter(pl.col(axis).is_not_null() & pl.col(other).is_null())
        for (system, condition, family), part in grid.group_by(["system", "condition", "family"], maintain_order=True):
            written.append(_heatmap(plt, part, axis, axis_label, fmt, f"{family}: {system} ({condition})", out_dir,
                                    f"heatmap-{family}-{system}-{condition}"))
    return written


def _heatmap(plt, part: pl.DataFrame, axis: str, axis_label: str, fmt, title: str, out_dir: Path, stem: str) -> Path:
    lengths = sorted(part.get_column("length").unique().to_list())
    rows = sorted(part.get_column(axis).unique().to_list())
    values = {(r[axis], r["length"]): r["mean"] for r in part.iter_rows(named=True)}
    matrix = [[values.get((d, l), float("nan")) for l in lengths] for d in rows]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(lengths), 1.0 + 0.45 * len(rows)))
    im = ax.imshow(matrix, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(lengths)), [_fmt_len(l) for l in lengths])
    ax.set_yticks(range(len(rows)), [fmt(d) for d in rows])
    ax.set_xlabel("context length")
    ax.set_ylabel(axis_label)
    ax.set_title(title, fontsize=9)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v == v:
                ax.text(j, i, f"{v * 100:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ("".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) + ".png")
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
