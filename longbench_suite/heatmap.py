"""Heatmaps of a run's aggregates: one PNG per system x condition x family, context length across.

The rows are the family's own axis, read from the aggregates' grouping sets:
  needle        needle depth (% of the context)            the (length, depth) cells
  sort          distance bin (1 = nearest), by excerpt length L_E      (length, bin)
  joint-recall  contexts x keys bin                                    (length, bin)
  longmemeval   question type (the six abilities), not the abstention bin   (ability, length)
  m4le          ability                                                 (ability, length)
A family not listed gets depth when it has depth cells, else ability when it has two or more
abilities, else bin. A cell pools the probes' own (primary) metrics, weighted by n (M4LE's tasks
score by different metrics), and shows its score and its n (answered probes); the colour bar is on
the cells' scale (x100), widened where normalised scores leave 0-100.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import io


def fmt_len(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


@dataclass(frozen=True)
class RowAxis:
    column: str  # depth | bin | ability
    label: str  # the y axis
    tick: Callable[[object], str] = str
    x_label: str = "context length"


DEPTH = RowAxis("depth", "needle depth (% of context)", lambda d: f"{d:g}%")
BIN = RowAxis("bin", "bin")
ABILITY = RowAxis("ability", "ability")
FAMILY_AXES = {
    "needle": DEPTH,
    "sort": RowAxis("bin", "distance bin (1 = nearest)", x_label="excerpt length L_E"),
    "joint-recall": RowAxis("bin", "contexts x keys (bin)"),
    "longmemeval": RowAxis("ability", "question type"),
    "m4le": ABILITY,
}
_AXES = ("depth", "bin", "ability")
SCALE = "score (x100)"


@dataclass(frozen=True)
class Heatmap:
    path: Path
    caption: str  # for a leaderboard page
    family: str


def cells(agg: pl.DataFrame, axis: RowAxis) -> pl.DataFrame:
    """The (axis value x length) cells of the primary metrics, pooled over metrics: one row per
    system, condition, family, axis value and length with n (answered probes) and mean (None: none answered)."""
    others = [c for c in _AXES if c != axis.column]
    rows = agg.filter(pl.col("primary") & pl.col("variant").is_null() & pl.col("length").is_not_null()
                      & pl.col(axis.column).is_not_null() & pl.all_horizontal([pl.col(c).is_null() for c in others]))
    return pool(rows, ["system", "condition", "family", axis.column, "length"])


def pool(rows: pl.DataFrame, keys: list[str], *extra: pl.Expr) -> pl.DataFrame:
    """One row per `keys` of aggregate rows: n summed, the mean of the answered probes weighted by n
    (None when none was answered), and any `extra` aggregations."""
    answered = pl.col("n") > 0
    return (rows.group_by(keys, maintain_order=True)
            .agg(pl.col("n").sum(), *extra,
                 ((pl.col("mean") * pl.col("n")).filter(answered).sum() / pl.col("n").filter(answered).sum()).alias("mean"))
            .with_columns(pl.when(pl.col("n") > 0).then(pl.col("mean")).alias("mean")))


def row_axis(family: str, agg: pl.DataFrame) -> RowAxis | None:
    """The family's axis (FAMILY_AXES), else the first axis the aggregates have cells for."""
    if family in FAMILY_AXES:
        return FAMILY_AXES[family]
    for axis in (DEPTH, ABILITY, BIN):
        found = cells(agg, axis)
        if found.height and (axis is not ABILITY or found.get_column("ability").n_unique() >= 2):
            return axis
    return None


def heatmaps(agg: pl.DataFrame, out_dir: Path, scale: str = SCALE) -> list[Heatmap]:
    """Write every heatmap of `agg` (several runs' aggregates) into `out_dir`. `scale` names the values
    (x100) on the colour bar: normalised scores say how they are normalised."""
    if agg.is_empty():
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for family in sorted(agg.get_column("family").unique().to_list()):
        part = agg.filter(pl.col("family") == family)
        axis = row_axis(family, part)
        if axis is None:
            continue
        for (system, condition), grid in cells(part, axis).group_by(["system", "condition"], maintain_order=True):
            fig = figure(plt, grid, axis, f"{family}: {system} ({condition})", scale)
            path = save(plt, fig, Path(out_dir), f"heatmap-{family}-{system}-{condition}")
            written.append(Heatmap(path, f"{family}: {system} ({condition}), {axis.label} x {axis.x_label}", family))
    return written


def figure(plt, grid: pl.DataFrame, axis: RowAxis, title: str, scale: str = SCALE):
    """The figure of one system's cells: score (x100) and n in each cell, colour bar on the same scale."""
    import numpy as np

    lengths = sorted(grid.get_column("length").unique().to_list())
    rows = sorted(grid.get_column(axis.column).unique().to_list())
    found = {(r[axis.column], r["length"]): (None if r["mean"] is None or r["mean"] != r["mean"] else r["mean"], r["n"])
             for r in grid.iter_rows(named=True)}  # NaN (report.plot_values) is no score either
    values = np.array([[_x100(found.get((r, n), (None, 0))[0]) for n in lengths] for r in rows], dtype=float)
    ticks = [axis.tick(r) for r in rows]
    width = 2.6 + 0.075 * max(map(len, ticks)) + 0.95 * len(lengths)
    fig, ax = plt.subplots(figsize=(width, 1.6 + 0.5 * len(rows)))
    shown = values[~np.isnan(values)]
    low, high = min(0.0, *shown) if shown.size else 0.0, max(100.0, *shown) if shown.size else 100.0
    im = ax.imshow(np.ma.masked_invalid(values), vmin=low, vmax=high, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(lengths)), [fmt_len(n) for n in lengths])
    ax.set_yticks(range(len(rows)), ticks)
    ax.set_xlabel(axis.x_label)
    ax.set_ylabel(axis.label)
    ax.set_title(label("\n".join(textwrap.wrap(title, max(24, int(width * 9)), break_on_hyphens=False))), fontsize=9)
    for i, r in enumerate(rows):
        for j, n in enumerate(lengths):
            mean, count = found.get((r, n), (None, None))
            if count is None:
                continue
            colour = im.cmap(im.norm(values[i, j])) if mean is not None else (1, 1, 1, 1)
            dark = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] < 0.45
            ink = "white" if dark else "black"
            ax.text(j, i - 0.12, "—" if mean is None else f"{values[i, j]:.0f}", ha="center", va="center", fontsize=8.5,
                    color=ink)
            ax.text(j, i + 0.22, f"n={count}", ha="center", va="center", fontsize=6.5, color=ink)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(scale, fontsize=8)
    fig.tight_layout()
    return fig


def _x100(mean: float | None) -> float:
    return float("nan") if mean is None else mean * 100


def label(text: str) -> str:
    """Matplotlib reads $...$ as math: names are text."""
    return text.replace("$", r"\$")


def save(plt, fig, out_dir: Path, stem: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ("".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)[:150] + ".png")
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
