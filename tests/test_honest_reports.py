"""Honest numbers (issue 20): scores normalised by the probes' own chance level (not by a measured
random run), failed probes visible beside every score and never counted as measured zeros, baselines a
system does not beat beyond noise said so, SORT's position bias, and an LLM judge beside the
deterministic scorer. Real datasets, real runs of the baselines and of two small `python:` systems
(tests/honest_systems.py), tables made by the real CLI."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from lbs_testutil import REPO, lbs, make_needle, one_line_error
from longbench_suite import io, leaderboard
from longbench_suite.generate import generate_dataset
from longbench_suite.report import chance_normalize
from runners.local import RunConfig, run

PY = {"PYTHONPATH": str(REPO / "tests")}  # for the python:honest_systems:... specs in CLI subprocesses
MARGINAL = ("variant", "ability", "length", "depth", "bin")


def _headline(run_dir: Path, metric: str | None = None) -> dict:
    agg = pl.read_parquet(run_dir / "aggregates.parquet").filter(pl.all_horizontal([pl.col(c).is_null() for c in MARGINAL]))
    agg = agg.filter(pl.col("metric") == metric) if metric else agg.filter(pl.col("primary"))
    assert agg.height == 1
    return agg.row(0, named=True)


def _run(dataset: Path, spec: str, out: Path) -> Path:
    import sys

    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    run(RunConfig(dataset=dataset, system=spec, out=out, use_cache=False))
    return out


def _random_pick(seed: int, probe_id: str, choices: list[str]) -> str:
    """The random baseline's pick (adapters/baselines.py RandomGuess): depends only on (seed, probe id)."""
    digest = hashlib.sha256(f"{seed}\0{probe_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).choice(choices)


def _lucky_seed(probes: pl.DataFrame, at_least: float) -> int:
    """A seed whose random run scores at least `at_least` on these probes (the issue's 75% on 8 probes)."""
    for seed in range(500):
        hits = [_random_pick(seed, p, c) in g for p, c, g in probes.select("probe_id", "choices", "gold").iter_rows()]
        if sum(hits) / len(hits) >= at_least:
            return seed
    raise AssertionError("no lucky seed in 500")


@pytest.fixture(scope="module")
def sort8(tmp_path_factory) -> dict[str, Path]:
    """An 8-probe SORT set (2 excerpts x 4 bins) and runs of a lucky random (>= 75%), the oracle,
    constant A and B, and always-a (a 'real' system that answers A to everything)."""
    root = tmp_path_factory.mktemp("sort8")
    data = root / "sort"
    res = lbs("generate", "sort", "-o", data, "-v", "ls20", "-p", "lengths=250", "-p", "books=1", "-p", "book_words=3000",
              "-p", "excerpts=2", "-p", "heldout=0")
    assert res.returncode == 0, res.stderr
    probes = pl.read_parquet(data / "probes.parquet")
    assert probes.height == 8 and set(probes.get_column("chance")) == {0.5}
    seed = _lucky_seed(probes, 0.75)
    out = {"data": data}
    for name, spec in (("random", f"random,seed={seed}"), ("oracle", "oracle"), ("constA", "constant,text=A"),
                       ("constB", "constant,text=B"), ("always-a", "python:honest_systems:always_a")):
        out[name] = _run(data, spec, root / "runs" / name)
    assert _headline(out["random"])["mean"] >= 0.75  # the premise: random drew high
    return out


# --- 1. chance normalisation ------------------------------------------------------------------------

def test_lucky_random_board_has_no_below_chance_artefacts(sort8, tmp_path):
    board = tmp_path / "board"
    runs = [sort8[k] for k in ("random", "oracle", "constA", "constB", "always-a")]
    res = lbs("leaderboard", "build", *runs, "-o", board, "--normalize", "random")  # random: an alias of chance
    assert res.returncode == 0, res.stderr
    table = pl.read_parquet(board / "leaderboard.parquet")
    rows = {r["system"]: r for r in table.iter_rows(named=True)}
    assert set(table.get_column("normalization")) == {"chance"}
    assert json.loads((board / "leaderboard.json").read_text())["normalization"] == "chance"
    # Gold is A in exactly half the probes (counterbalanced): always answering A is chance, 0 after normalising.
    for system in ("constant:A", "constant:B", "always-a"):
        assert rows[system]["sort/overall/mean"] == pytest.approx(0.0, abs=1e-12), system
    assert rows["oracle"]["sort/overall/mean"] == 1.0
    # The lucky random run keeps its own observed score, (raw - 0.5) / 0.5, and does not move anyone else.
    raw = _headline(sort8["random"])
    assert rows["random"]["sort/overall/mean"] == pytest.approx((raw["mean"] - 0.5) / 0.5)
    # The CI is mapped by the same affine map (chance is exact, not measured).
    for name, system in (("oracle", "oracle"), ("constA", "constant:A")):
        own = _headline(sort8[name])
        assert rows[system]["sort/overall/ci_low"] == pytest.approx((own["ci_low"] - 0.5) / 0.5)
        assert rows[system]["sort/overall/ci_high"] == pytest.approx((own["ci_high"] - 0.5) / 0.5)
    # No system scores below chance here, so nothing on the board (table or plotted bins) is below 0 by
    # more than its CI allows: the old board showed -100 for every system and -250 in the bin plot.
    assert min(r["sort/overall/mean"] for r in rows.values()) >= 0
    normalized = chance_normalize(leaderboard.load(runs)[0])
    bins = leaderboard.by_bin(normalized, "sort")
    assert bins.height and bins.get_column("mean").min() >= -1.0  # -1: always wrong, the floor at chance 0.5
    for page in ("README.md", "index.html"):
        assert "normalised by chance" in (board / page).read_text()


def test_report_states_its_normalisation(sort8):
    runs = [sort8[k] for k in ("random", "oracle", "constA")]
    res = lbs("report", *runs, "--normalize", "chance", "-o", sort8["data"].parent / "report")
    assert res.returncode == 0, res.stderr
    assert "normalised by chance" in res.stdout
    line = next(l for l in res.stdout.splitlines() if "constant:A" in l and "(all)" in l)
    assert re.search(r"\b0\.0 \[-\d", line), line  # chance is 0, its CI spans it
    raw = lbs("report", *runs, "-o", sort8["data"].parent / "report")
    assert "Scores are raw" in raw.stdout
    assert "choice_accuracy" in raw.stdout  # the headline metric is named


def _tables(chance: list[float], values: list[float], failed: list[bool]):
    import pyarrow as pa

    from longbench_suite import schemas

    n = len(values)
    ids = [f"p{i}" for i in range(n)]
    probes = pa.table({
        "probe_id": ids, "episode_id": ids, "family": ["f"] * n, "variant": ["v"] * n, "ability": ["a"] * n,
        "length": [100] * n, "depth": [None] * n, "bin": [None] * n, "question": [""] * n, "answer_prefix": [""] * n,
        "gold": [["x"]] * n, "choices": [["x", "y"]] * n, "metric": ["exact_match"] * n, "chance": chance,
        "max_new_tokens": [8] * n, "meta": ["{}"] * n})
    scores = pa.table({"run_id": ["r"] * n, "system": ["s"] * n, "condition": ["in-context"] * n, "probe_id": ids,
                       "metric": ["exact_match"] * n, "value": values, "judge": [None] * n})
    preds = pa.table({"system": ["s"] * n, "condition": ["in-context"] * n, "probe_id": ids,
                      "error": ["HTTP 500" if f else None for f in failed]})
    return (schemas.conform(scores, schemas.SCORES, "s"), schemas.conform(probes, schemas.PROBES, "p"), preds)


def test_chance_normalisation_of_mixed_chance_and_free_text():
    """A group pooling probes of several chance levels is normalised by the mean chance of its answered
    probes (a uniform guess's expected score over the group); chance 0 (free text) is the identity."""
    from longbench_suite.aggregate import aggregate

    # chance 0.5, 0.5, 0.25, 0.25 (a failed probe of chance 0.25 on top: left out of n, mean and chance)
    agg = pl.from_arrow(aggregate(*_tables([0.5, 0.5, 0.25, 0.25, 0.25], [1, 0, 1, 1, 0], [False] * 4 + [True])))
    top = agg.filter(pl.all_horizontal([pl.col(c).is_null() for c in MARGINAL])).row(0, named=True)
    assert (top["n"], top["n_errors"]) == (4, 1)
    assert top["mean"] == pytest.approx(0.75) and top["chance"] == pytest.approx(0.375)
    norm = chance_normalize(agg.filter(pl.all_horizontal([pl.col(c).is_null() for c in MARGINAL]))).row(0, named=True)
    assert norm["mean"] == pytest.approx((0.75 - 0.375) / 0.625)
    assert norm["ci_low"] == pytest.approx((top["ci_low"] - 0.375) / 0.625)
    free = pl.from_arrow(aggregate(*_tables([0.0, 0.0], [1, 0], [False, False])))
    assert chance_normalize(free).get_column("mean").to_list() == free.get_column("mean").to_list()


# --- 2. errors --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("failing")
    data = make_needle(root / "needle", ["single_1"], ["lengths=256,512", "depths=0,100", "samples=1", "max_new_tokens=16"])
    out = {"data": data}
    for name, spec in (("all", "python:honest_systems:small_window"), ("half", "python:honest_systems:small_window,window=1500")):
        res = lbs("run", data, "-s", spec, "-o", root / name, "--no-cache", env=PY)
        assert res.returncode == 4, res.stderr  # partial: some probes failed (issue 21)
        out[name] = root / name
        out[f"{name}/stderr"] = res.stderr
    out["oracle"] = _run(data, "oracle", root / "oracle")
    out["random"] = _run(data, "random", root / "random")
    return out


def test_failed_probes_are_not_zeros(failing):
    every = _headline(failing["all"])
    assert every["n"] == 0 and every["n_errors"] == 4 and every["mean"] is None and every["ci_low"] is None
    half = _headline(failing["half"])
    preds = pl.read_parquet(failing["half"] / "predictions.parquet")
    answered = preds.filter(pl.col("error").is_null()).get_column("probe_id")
    scores = pl.read_parquet(failing["half"] / "scores.parquet").filter(
        pl.col("probe_id").is_in(answered.implode()) & (pl.col("metric") == "string_match_all"))
    assert 0 < answered.len() < preds.height
    assert half["n"] == answered.len() and half["n_errors"] == preds.height - answered.len()
    assert half["mean"] == pytest.approx(scores.get_column("value").mean())
    # Every cell counts its own: the long length failed, the short one answered.
    cells = pl.read_parquet(failing["half"] / "aggregates.parquet").filter(
        pl.col("primary") & pl.col("length").is_not_null() & pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "depth", "bin", "ability")]))
    by_len = {r["length"]: (r["n"], r["n_errors"]) for r in cells.iter_rows(named=True)}
    assert by_len[512] == (0, 2) and by_len[256] == (2, 0)
    # `lbs aggregate` rebuilds the same counts from the run's tables.
    before = pl.read_parquet(failing["half"] / "aggregates.parquet")
    assert lbs("aggregate", failing["half"]).returncode == 0
    assert pl.read_parquet(failing["half"] / "aggregates.parquet").equals(before)


def test_run_ends_with_the_headline_and_the_reason(failing):
    lines = failing["all/stderr"].splitlines()
    assert any(re.fullmatch(r"score: needle string_match_all no answer .* n=0 answered, 4 failed", l) for l in lines), lines
    warning = next(l for l in lines if l.startswith("warning:") and "probes failed" in l)
    assert "4 of 4 probes failed" in warning and "HTTP 400" in warning and "(4x)" in warning
    half = [l for l in failing["half/stderr"].splitlines() if l.startswith("score:")]
    assert len(half) == 1 and re.search(r"\d+\.\d \[\d+\.\d, \d+\.\d\] .* n=2 answered, 2 failed, chance 10\.0", half[0]), half


def test_report_shows_failed_probes(failing):
    res = lbs("report", failing["all"], failing["half"], failing["oracle"], "-o", failing["data"].parent / "rep")
    assert res.returncode == 0, res.stderr
    assert "failed" in res.stdout
    rows = [l for l in res.stdout.splitlines() if "small-window" in l and "(all)" in l]
    assert any("no answer" in l and re.search(r"│\s+0 │\s+4 ! │", l) for l in rows), rows
    assert any(re.search(r"│\s+2 │\s+2 ! │", l) for l in rows), rows
    warnings = [l for l in res.stdout.splitlines() if l.startswith("warning:") and "probes failed" in l]
    assert len(warnings) == 2 and all("HTTP 400" in w for w in warnings)


def test_board_marks_and_does_not_rank_failing_rows(failing, tmp_path):
    board = tmp_path / "board"
    res = lbs("leaderboard", "build", failing["all"], failing["half"], failing["oracle"], failing["random"], "-o", board,
              "--normalize", "chance")
    assert res.returncode == 0, res.stderr
    table = pl.read_parquet(board / "leaderboard.parquet")
    rows = {r["system"]: r for r in table.iter_rows(named=True)}
    fail_all, fail_half = (rows[f"small-window [{n}]"] for n in ("all", "half"))
    assert fail_all["errors"] == 4 and fail_all["needle/overall/n_errors"] == 4 and fail_all["needle/overall/mean"] is None
    assert fail_half["needle/overall/n"] == 2 and fail_half["needle/overall/n_errors"] == 2
    assert fail_all["rank"] is None and fail_half["rank"] is None and fail_half["needle/rank"] is None
    assert rows["oracle"]["rank"] == 1 and rows["random"]["rank"] == 2
    assert "HTTP 400" in fail_all["error_top"]
    readme = (board / "README.md").read_text()
    assert "— (4 failed) !" in readme and "(2 failed) !" in readme
    assert "most common error" in readme and "HTTP 400" in readme
    assert "note:" in res.stderr and "4 of 4 probes failed" in res.stderr


# --- 3. noise against baselines ---------------------------------------------------------------------

def test_board_says_a_gap_to_a_baseline_is_noise(sort8, tmp_path):
    board = tmp_path / "board"
    runs = [sort8[k] for k in ("random", "oracle", "always-a")]
    assert lbs("leaderboard", "build", *runs, "-o", board, "--normalize", "chance").returncode == 0
    rows = {r["system"]: r for r in pl.read_parquet(board / "leaderboard.parquet").iter_rows(named=True)}
    # The lucky random outranks always-a, but their CIs overlap: said so, in the table and in a note.
    assert rows["random"]["rank"] < rows["always-a"]["rank"]
    assert rows["always-a"]["sort/overall/near_baseline"] is True
    assert rows["random"]["sort/overall/near_baseline"] is None and rows["oracle"]["sort/overall/near_baseline"] is None
    readme = (board / "README.md").read_text()
    line = next(l for l in readme.splitlines() if l.startswith("| ") and "always-a" in l)
    assert " ~ |" in line
    assert "sort: baseline random (in-context) scores at least as high as always-a (in-context), within their 95% CIs" in readme
    html = (board / "index.html").read_text()
    assert "noise, not a ranking" in html


# --- 4. SORT position bias --------------------------------------------------------------------------

def _swapped_dataset(src: Path, out: Path) -> Path:
    """The SORT set with every pair asked in both orders: each probe plus its A/B-swapped twin."""
    from longbench_suite import schemas
    from tasks.sort import Template, add_probe

    ds = io.Dataset(src)
    builder = schemas.TableBuilder(schemas.PROBES)
    template = Template.load("default")
    for row in ds.probes.to_pylist():
        builder.add(**row)
        meta = json.loads(row["meta"])
        flipped = not meta["present_seg1_first"]
        keep = {k: v for k, v in meta.items() if k not in ("excerpt_len", "segment_len", "excerpt_idx", "distance_bin",
                                                          "present_seg1_first", "segment_1", "segment_2", "ask", "prompt", "memory_question")}
        add_probe(builder, template, eid=row["episode_id"], title=meta.get("title", ""), variant=row["variant"],
                  excerpt_len=meta["excerpt_len"], segment_len=meta["segment_len"], excerpt_idx=meta["excerpt_idx"],
                  distance_bin=meta["distance_bin"], segment_1=meta["segment_1"], segment_2=meta["segment_2"],
                  earlier_first=flipped, present_seg1_first=flipped, max_new_tokens=row["max_new_tokens"], meta=keep,
                  probe_id=row["probe_id"] + "/swapped")
    manifest = {k: v for k, v in ds.manifest.items() if k not in ("counts", "content_hash")}
    io.write_dataset(out, ds.episodes, builder.table(), manifest)
    return out


def test_position_bias_and_swapped_consistency(sort8, tmp_path):
    data = _swapped_dataset(sort8["data"], tmp_path / "swapped")
    probes = pl.read_parquet(data / "probes.parquet")
    assert probes.height == 16
    runs = {name: _run(data, spec, tmp_path / "runs" / name)
            for name, spec in (("oracle", "oracle"), ("always-a", "python:honest_systems:always_a"), ("random", "random"))}
    board = tmp_path / "board"
    res = lbs("leaderboard", "build", *runs.values(), "-o", board, "--normalize", "chance")
    assert res.returncode == 0, res.stderr
    rows = {r["system"]: r for r in pl.read_parquet(board / "leaderboard.parquet").iter_rows(named=True)}
    assert rows["always-a"]["sort/a_share"] == 1.0 and rows["always-a"]["sort/swap_consistency"] == 0.0
    assert rows["oracle"]["sort/a_share"] == 0.5 and rows["oracle"]["sort/swap_consistency"] == 1.0
    assert rows["oracle"]["sort/swap_pairs"] == 8 and rows["oracle"]["sort/gold_a_share"] == 0.5
    readme = (board / "README.md").read_text()
    assert "SORT A share" in readme and "SORT A/B consistency" in readme
    assert 'always-a (in-context) answers "A" to 100% of SORT probes' in readme
    rep = lbs("report", *runs.values(), "-o", tmp_path / "rep")
    assert rep.returncode == 0, rep.stderr
    bias = [l for l in rep.stdout.splitlines() if "always-a" in l and "%" in l]
    assert bias and re.search(r"100%\s+│\s+50%\s+│\s+16 / 16\s+│\s+0%\s+│\s+8", bias[0]), bias


def test_position_bias_without_swapped_pairs(sort8, tmp_path):
    board = tmp_path / "board"
    assert lbs("leaderboard", "build", sort8["constA"], sort8["constB"], sort8["oracle"], "-o", board).returncode == 0
    rows = {r["system"]: r for r in pl.read_parquet(board / "leaderboard.parquet").iter_rows(named=True)}
    assert rows["constant:A"]["sort/a_share"] == 1.0 and rows["constant:B"]["sort/a_share"] == 0.0
    assert rows["oracle"]["sort/swap_pairs"] == 0 and rows["oracle"]["sort/swap_consistency"] is None
    assert "SORT A/B consistency" not in (board / "README.md").read_text()  # nothing to show: no column


# --- 5. the judge beside the deterministic scorer ---------------------------------------------------

def test_report_shows_the_judge_beside_lme_match(tmp_path):
    data = tmp_path / "lme"
    res = lbs("generate", "longmemeval", "-o", data, "-v", "oracle", "-p", "samples=1", "-p", "abstention=0",
              "-p", "lengths=1536", "-p", "max_new_tokens=32")
    assert res.returncode == 0, res.stderr
    # A judge that says yes to everything: it agrees with lme_match on the oracle, never on a wrong answer.
    for name, spec in (("oracle", "oracle"), ("wrong", "constant,text=nothing")):
        res = lbs("run", data, "-s", spec, "-o", tmp_path / name, "--judge", "constant,text=yes")
        assert res.returncode == 0, res.stderr
        assert any(l.startswith("score: longmemeval llm_judge 100.0") for l in res.stderr.splitlines()), res.stderr
    rep = lbs("report", tmp_path / "oracle", tmp_path / "wrong", "-o", tmp_path / "rep")
    assert rep.returncode == 0, rep.stderr
    out = rep.stdout
    assert "longmemeval scores (lme_match, x100" in out
    judged = [l for l in out.splitlines() if "llm_judge" in l or "lme_match" in l and "%" in l]
    oracle_match = next(l for l in judged if "oracle" in l and "lme_match" in l)
    wrong_match = next(l for l in judged if "constant:nothing" in l and "lme_match" in l)
    assert re.search(r"100% of 6", oracle_match) and re.search(r"\b0% of 6", wrong_match)
    assert any("constant:nothing" in l and "llm_judge" in l and "100.0" in l for l in judged)


# --- older tables -----------------------------------------------------------------------------------

def test_old_aggregates_read_and_ask_to_be_rebuilt(sort8, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(sort8["oracle"], old)
    table = pq.read_table(old / "aggregates.parquet")
    pq.write_table(table.drop_columns(["n_errors", "chance"]), old / "aggregates.parquet")
    assert lbs("report", old, "-o", tmp_path / "rep").returncode == 0  # raw scores need nothing new
    line = one_line_error(lbs("report", old, "--normalize", "chance", "-o", tmp_path / "rep"))
    assert "lbs aggregate" in line
    assert lbs("aggregate", old).returncode == 0
    assert lbs("report", old, "--normalize", "chance", "-o", tmp_path / "rep").returncode == 0


# --- a published board re-rendered from what it stores ----------------------------------------------

def test_rerender_a_stored_board_with_chance(sort8, tmp_path):
    """A board built raw, whose aggregates predate chance levels (the columns dropped, as in the boards
    published before issue 20), re-rendered from its files and its dataset: the same scores as a board
    built by chance from the runs, without the runs."""
    runs = [sort8[k] for k in ("random", "oracle", "constA")]
    old, direct = tmp_path / "old", tmp_path / "direct"
    assert lbs("leaderboard", "build", *runs, "-o", old).returncode == 0
    assert lbs("leaderboard", "build", *runs, "-o", direct, "--normalize", "chance").returncode == 0
    long = pq.read_table(old / "aggregates.parquet")
    pq.write_table(long.drop_columns(["n_errors", "chance"]), old / "aggregates.parquet")
    res = lbs("leaderboard", "rerender", old, "-d", f"sort={sort8['data']}", "-o", tmp_path / "new")
    assert res.returncode == 0, res.stderr
    new, want = (pl.read_parquet(d / "leaderboard.parquet").sort("system") for d in (tmp_path / "new", direct))
    cols = ["system", "rank", *[f"sort/overall/{s}" for s in ("mean", "ci_low", "ci_high", "n", "n_errors")]]
    assert new.select(cols).equals(want.select(cols))
    assert set(new.get_column("normalization")) == {"chance"}
    assert "no system was run again" in (tmp_path / "new" / "README.md").read_text()
    # Another dataset is refused: chance levels must be those of the board's own items.
    other = tmp_path / "other"
    generate_dataset("sort", other, ["ls20"], ["lengths=250", "books=1", "book_words=3000", "excerpts=2", "heldout=0"], seed=5)
    line = one_line_error(lbs("leaderboard", "rerender", old, "-d", f"sort={other}", "-o", tmp_path / "bad"))
    assert "is not the sort dataset" in line
