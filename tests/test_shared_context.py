"""The shared_context family (SCBench's categories, generated): every variant's oracle scores 1.0 on every
turn, the random baseline sits at the probes' chance, the data is deterministic, and each turn is about a
different item of the one context."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

from longbench_suite.generate import generate_dataset
from runners.local import RunConfig, run
from tasks.shared_context import FAMILY

VARIANTS = list(FAMILY.variants)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("sc") / "data"
    generate_dataset("shared_context", out, VARIANTS, ["lengths=1024", "samples=6", "turns=3"], seed=3)
    return out


def primary(run_dir, *keep):
    agg = pl.read_parquet(run_dir / "aggregates.parquet").filter(pl.col("primary"))
    axes = ("variant", "ability", "length", "depth", "bin")
    return agg.filter(pl.all_horizontal([pl.col(c).is_not_null() if c in keep else pl.col(c).is_null() for c in axes]))


def test_the_oracle_scores_one_on_every_task_and_turn(dataset, tmp_path):
    run(RunConfig(dataset=dataset, system="oracle", out=tmp_path / "oracle"))
    cells = primary(tmp_path / "oracle", "variant", "bin")
    assert set(cells.get_column("variant")) == set(VARIANTS)
    assert set(cells.get_column("bin")) == {"turn 1", "turn 2", "turn 3"}
    assert cells.get_column("mean").min() == 1.0, cells.filter(pl.col("mean") < 1).select("variant", "bin", "metric", "mean")


def test_random_sits_at_the_probes_chance(dataset, tmp_path):
    run(RunConfig(dataset=dataset, system="random", out=tmp_path / "random"))
    scores = pl.read_parquet(tmp_path / "random" / "scores.parquet")
    probes = pl.read_parquet(dataset / "probes.parquet").select("probe_id", "metric", "chance")
    joined = scores.join(probes, on=["probe_id", "metric"])  # primary metrics only
    n = joined.height
    mean, chance = joined.get_column("value").mean(), joined.get_column("chance").mean()
    spread = math.sqrt(max(joined.get_column("value").var(), 1e-4) / n)
    assert abs(mean - chance) < 4 * spread, (mean, chance, spread)
    assert 0 < chance < 0.5  # no task is a coin flip


def test_generation_is_deterministic_and_turns_ask_different_items(dataset, tmp_path):
    twice = [generate_dataset("shared_context", tmp_path / f"again{i}", VARIANTS, ["lengths=768", "samples=1", "turns=2"],
                              seed=5)["content_hash"] for i in range(2)]
    assert twice[0] == twice[1]
    probes = pl.read_parquet(dataset / "probes.parquet")
    episodes = pl.read_parquet(dataset / "episodes.parquet")
    for eid, group in probes.group_by("episode_id"):
        assert group.get_column("question").n_unique() == group.height, eid  # each turn asks its own question
        turns = sorted(json.loads(m)["turn"] for m in group.get_column("meta"))
        assert turns == list(range(1, group.height + 1))
    # RULER's convention: the context leaves room for the whole conversation within the length
    assert episodes.get_column("n_tokens").max() < 1024


def test_bad_parameters_are_one_line(tmp_path):
    from longbench_suite.errors import UserError

    with pytest.raises(UserError, match="turns"):
        generate_dataset("shared_context", tmp_path / "x", ["kv"], ["turns=0"], seed=0)
    with pytest.raises(UserError, match="too small|at least"):
        generate_dataset("shared_context", tmp_path / "y", ["code_retrieval"], ["lengths=512", "turns=20"], seed=0)


def test_the_board_has_a_column_per_turn(dataset, tmp_path):
    from longbench_suite import leaderboard, leaderboard_render

    runs = []
    for system in ("oracle", "random"):
        run(RunConfig(dataset=dataset, system=system, out=tmp_path / system))
        runs.append(tmp_path / system)
    agg, data = leaderboard.load(runs)
    table = leaderboard.build_table(agg, data)
    rows = {r["system"]: r for r in table.iter_rows(named=True)}
    bins = pl.read_parquet(dataset / "probes.parquet").get_column("bin").value_counts()
    for turn in (1, 2, 3):
        assert rows["oracle"][f"shared_context/turn {turn}/mean"] == 1.0
        asked = bins.filter(pl.col("bin") == f"turn {turn}").get_column("count").item()  # one per context that has it
        assert rows["random"][f"shared_context/turn {turn}/n"] == asked
    assert rows["oracle"]["usage/cached_share"] is None  # baselines report no prompt tokens
    shown = [c.key for c in leaderboard_render.columns(table)]
    assert "shared_context/turn 2" in shown and "usage/cached_share" not in shown


def test_random_sits_at_chance_in_every_task(dataset, tmp_path):
    run(RunConfig(dataset=dataset, system="random", out=tmp_path / "random"))
    scores = pl.read_parquet(tmp_path / "random" / "scores.parquet")
    probes = pl.read_parquet(dataset / "probes.parquet").select("probe_id", "variant", "metric", "chance")
    for (variant,), part in scores.join(probes, on=["probe_id", "metric"]).group_by("variant"):
        mean, chance, n = part.get_column("value").mean(), part.get_column("chance").mean(), part.height
        assert abs(mean - chance) <= 4 * math.sqrt(max(chance * (1 - chance), 0.01) / n), (variant, mean, chance, n)
