"""Heatmaps (issue 20): each family's own rows, the colour bar on the cells' scale, n in every cell,
titles that fit. Real runs of the baselines on small generated sets; figures drawn with matplotlib's
Agg backend and checked through their objects (labels, ticks, texts, colour bar)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402

from longbench_suite import heatmap  # noqa: E402
from longbench_suite.generate import generate_dataset  # noqa: E402
from longbench_suite.leaderboard_render import make_plots  # noqa: E402
from longbench_suite.report import heatmaps, load_aggregates  # noqa: E402
from runners.local import RunConfig, run  # noqa: E402

LME_TYPES = ["knowledge-update", "multi-session", "single-session-assistant", "single-session-preference",
             "single-session-user", "temporal-reasoning"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("heat")
    sets = {
        "longmemeval": ("longmemeval", ["oracle", "haystack"], ["samples=2", "abstention=1", "lengths=1536,3k", "max_new_tokens=32"]),
        "needle": ("needle", ["single_1"], ["lengths=512,1k", "depths=0,50,100", "samples=2"]),
        "sort": ("sort", ["ls20"], ["lengths=250,1000", "books=1", "book_words=4000", "excerpts=4", "heldout=0"]),
    }
    out = {}
    for name, (family, variants, params) in sets.items():
        generate_dataset(family, root / "data" / name, variants, params, seed=0, tokenizer="approx")
        for system in ("oracle", "random"):
            run(RunConfig(dataset=root / "data" / name, system=system, out=root / name / system, use_cache=False))
            out[f"{name}/{system}"] = root / name / system
    out["root"] = root
    return out


def _figure(agg: pl.DataFrame, family: str, system: str, title: str = "t", scale: str = heatmap.SCALE):
    part = agg.filter(pl.col("family") == family)
    axis = heatmap.row_axis(family, part)
    grid = heatmap.cells(part, axis).filter(pl.col("system") == system)
    return heatmap.figure(plt, grid, axis, title, scale), axis


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_longmemeval_rows_are_the_six_question_types_with_n(runs):
    agg = load_aggregates([runs["longmemeval/oracle"], runs["longmemeval/random"]])
    fig, axis = _figure(agg, "longmemeval", "oracle")
    ax, bar = fig.axes
    assert ax.get_ylabel() == "question type" and ax.get_xlabel() == "context length"
    assert [t.get_text() for t in ax.get_yticklabels()] == LME_TYPES  # not answerable / abstention
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1536", "3k"]
    # n per cell: the probes of that type and length (abstention items included), counted from the data.
    probes = pl.read_parquet(runs["root"] / "data" / "longmemeval" / "probes.parquet")
    counts = probes.group_by("ability", "length").len()
    expected = {f"n={n}" for n in counts.get_column("len").to_list()}
    texts = _texts(ax)
    assert len(texts) == 2 * 6 * 2 and {t for t in texts if t.startswith("n=")} == expected
    assert sorted(t for t in texts if not t.startswith("n=")) == ["100"] * 12  # the oracle, x100
    # The colour bar runs on the labels' scale.
    assert bar.get_ylim() == (0.0, 100.0) and bar.get_ylabel() == "score (x100)"
    plt.close(fig)


def test_needle_rows_are_depths_and_sort_rows_are_distance_bins(runs):
    agg = load_aggregates([runs["needle/oracle"], runs["sort/random"]])
    fig, _ = _figure(agg, "needle", "oracle")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "needle depth (% of context)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0%", "50%", "100%"]
    assert _texts(ax).count("n=2") == 6
    plt.close(fig)
    fig, _ = _figure(agg, "sort", "random")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "distance bin (1 = nearest)" and ax.get_xlabel() == "excerpt length L_E"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2", "3", "4"]
    # Each label is the cell's mean x100, the same number the aggregates hold.
    cells = agg.filter(pl.col("family") == "sort", pl.col("primary"), pl.col("variant").is_null(), pl.col("bin") == "1",
                       pl.col("length") == 250)
    assert f"{cells.get_column('mean')[0] * 100:.0f}" == _texts(ax)[0]
    plt.close(fig)


def test_long_titles_wrap_inside_the_figure(runs):
    agg = load_aggregates([runs["needle/oracle"]])
    title = "needle: " + "a-very-long-system-label " * 6 + "(in-context)"
    fig, _ = _figure(agg, "needle", "oracle", title=title)
    fig.canvas.draw()
    shown = fig.axes[0].title
    assert "\n" in shown.get_text() and shown.get_text().replace("\n", " ") == " ".join(title.split())
    box, frame = shown.get_window_extent(), fig.bbox
    assert box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y1 <= frame.y1
    plt.close(fig)


def test_unanswered_cells_and_normalised_scales(runs):
    agg = load_aggregates([runs["needle/oracle"]])
    # A cell whose every probe failed: n 0, no mean (what aggregation writes); it says so, not "0".
    failed = agg.with_columns(pl.when((pl.col("depth") == 50) & (pl.col("length") == 512)).then(None)
                              .otherwise(pl.col("mean")).alias("mean"),
                              pl.when((pl.col("depth") == 50) & (pl.col("length") == 512)).then(0)
                              .otherwise(pl.col("n")).alias("n"))
    fig, _ = _figure(failed, "needle", "oracle")
    texts = _texts(fig.axes[0])
    assert "—" in texts and "n=0" in texts
    plt.close(fig)
    # Normalised scores above 1 (a reference's 1k score): the bar widens to hold them.
    fig, _ = _figure(agg.with_columns(pl.col("mean") * 1.5), "needle", "oracle", scale="score / ref (x100)")
    assert fig.axes[1].get_ylim() == (0.0, 150.0) and fig.axes[1].get_ylabel() == "score / ref (x100)"
    plt.close(fig)


def test_files_and_leaderboard_captions(runs, tmp_path):
    paths = heatmaps(load_aggregates([runs["longmemeval/oracle"], runs["needle/random"]]), tmp_path / "report")
    assert sorted(p.name for p in paths) == ["heatmap-longmemeval-oracle-in-context.png", "heatmap-needle-random-in-context.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    plots = make_plots(load_aggregates([runs["longmemeval/oracle"]]), tmp_path / "board", "score (x100)")
    captions = [p.title for p in plots if p.path.name.startswith("heatmap-")]
    assert captions == ["longmemeval: oracle (in-context), question type x context length"]
