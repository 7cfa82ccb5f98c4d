"""The memory contract helper catches a leaky memory, and every run records what it cost (run.json
`costs`, leaderboard cost/* columns): ingest timed by the runner, memory size from the system."""

from __future__ import annotations

import asyncio
import json

import polars as pl
import pytest

from longbench_suite.leaderboard_render import publish
from longbench_suite.protocol import Answer, Episode, MemorySystem, PerEpisode, Probe
from memory_contract import SPY, assert_contract, run_contract


class Hoarder(MemorySystem):
    """A memory that never forgets: every episode it ever saw is in every answer's context."""

    name = "hoarder"

    def __init__(self, reader: MemorySystem, forget: bool):
        self.reader, self.forget, self.kept, self.sizes = reader, forget, [], PerEpisode()

    async def reset(self) -> None:
        if self.forget:
            self.kept.clear()

    async def ingest(self, episode: Episode) -> None:
        await asyncio.sleep(INGEST_S)  # a memory that takes time to remember: the runner must see it
        self.kept.append(episode.text)
        self.sizes.add(len(episode.text.encode()))

    async def answer(self, probe: Probe) -> Answer:
        from dataclasses import replace

        return await self.reader.answer(replace(probe, context="\n".join(self.kept)))

    def footprint(self) -> dict:
        return {"memory_bytes": self.sizes.summary(), "memory_items": 1}


def hoarder(spec, ctx):
    from longbench_suite.registry import build_reader

    return Hoarder(build_reader(spec, ctx), forget=spec.option("forget", "0") == "1")


INGEST_S = 0.02
HOARDER = "python[test_memory_costs:hoarder{}]:" + SPY


def test_the_contract_catches_a_memory_that_does_not_forget(tmp_path):
    manifest, calls, data = run_contract(HOARDER.format(""), tmp_path)
    with pytest.raises(AssertionError, match="carried text of another episode"):
        assert_contract(manifest, calls, data)


def test_a_memory_that_forgets_passes_and_its_costs_are_recorded(tmp_path):
    manifest, calls, data = run_contract(HOARDER.format(",forget=1"), tmp_path)
    assert_contract(manifest, calls, data)
    costs = manifest["costs"]
    texts = pl.read_parquet(data / "episodes.parquet").get_column("text").to_list()
    assert costs["episodes"] == len(texts) == 3
    assert costs["ingest_s"]["total"] >= costs["ingest_s"]["max"] >= costs["ingest_s"]["mean"] >= INGEST_S
    assert costs["ingest_s"]["total"] == pytest.approx(3 * costs["ingest_s"]["mean"], abs=0.01)
    sizes = [len(t.encode()) for t in texts]
    assert costs["memory_bytes"] == {"mean": round(sum(sizes) / 3, 2), "max": max(sizes)}
    assert costs["memory_items"] == {"mean": 1, "max": 1}
    preds = pl.read_parquet(tmp_path / "contract-run" / "predictions.parquet")
    assert "ingest_s" not in preds.columns  # a journal field: the predictions table keeps its schema
    tokens = (preds["prompt_tokens"] + preds["completion_tokens"]).mean()
    assert costs["answer_tokens"]["mean"] == pytest.approx(tokens, abs=0.01)
    assert json.loads((tmp_path / "contract-run" / "run.json").read_text())["costs"] == costs


def test_leaderboard_shows_costs_for_every_row(tmp_path):
    from runners.local import RunConfig, run

    manifest, _, data = run_contract(HOARDER.format(",forget=1"), tmp_path)
    run(RunConfig(dataset=data, system="oracle", out=tmp_path / "oracle", use_cache=False))
    board = tmp_path / "board"
    publish([tmp_path / "contract-run", tmp_path / "oracle"], board)
    table = pl.read_parquet(board / "leaderboard.parquet")
    assert table["cost/ingest_s"].null_count() == 0  # every row: timed by the runner
    memory = dict(zip(table["system"], table["cost/memory_bytes"]))
    assert memory == {"oracle": None, "hoarder": manifest["costs"]["memory_bytes"]["mean"]}
    assert "Memory bytes/episode" in (board / "README.md").read_text()
