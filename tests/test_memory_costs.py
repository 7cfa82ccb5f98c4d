"""The memory contract helper catches a leaky memory (and retrieval memory keeps it), and every run records what it cost (run.json
`costs`, leaderboard cost/* columns): ingest timed by the runner, memory size from the system."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import polars as pl
import pytest

from longbench_suite.leaderboard_render import publish
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, PerEpisode, Probe
from memory_contract import SPY, assert_contract, contract_dataset, run_contract


class Hoarder(MemorySystem):
    """A memory that never forgets: every episode it ever saw is in every answer's context."""

    name = "hoarder"

    def __init__(self, reader: MemorySystem, forget: bool):
        self.reader, self.forget, self.kept, self.sizes = reader, forget, [], PerEpisode()
        self.fail, self.answered = False, 0

    async def reset(self) -> None:
        if self.forget:
            self.kept.clear()

    async def ingest(self, episode: Episode) -> None:
        await asyncio.sleep(INGEST_S)  # a memory that takes time to remember: the runner must see it
        self.kept.append(episode.text)
        self.sizes.add(len(episode.text.encode()))

    async def answer(self, probe: Probe) -> Answer:
        self.answered += 1
        if self.fail and self.answered % 2 == 0:
            raise RuntimeError("every second answer fails")
        return await self.reader.answer(replace(probe, context="\n".join(self.kept)))

    def footprint(self) -> dict:
        return {"memory_bytes": self.sizes.summary(), "memory_items": 1}


def hoarder(spec, ctx):
    from longbench_suite.registry import build_reader

    memory = Hoarder(build_reader(spec, ctx), forget=spec.option("forget", "0") == "1")
    memory.fail = spec.option("fail", "0") == "1"
    return memory


INGEST_S = 0.02
HOARDER = "python[test_memory_costs:hoarder{}]:" + SPY


def test_the_contract_catches_a_memory_that_does_not_forget(tmp_path):
    manifest, calls, data = run_contract(HOARDER.format(""), tmp_path)
    with pytest.raises(AssertionError, match="carried text of another episode"):
        assert_contract(manifest, calls, data)


def test_retrieval_memory_keeps_the_contract(tmp_path):
    manifest, calls, data = run_contract("retrieval[k=1]:" + SPY, tmp_path)
    assert_contract(manifest, calls, data)
    assert manifest["costs"]["memory_items"]["max"] >= 1  # its index, under the costs' name


def test_a_memory_that_forgets_passes_and_its_costs_are_recorded(tmp_path):
    manifest, calls, data = run_contract(HOARDER.format(",forget=1"), tmp_path)
    assert_contract(manifest, calls, data)
    costs = manifest["costs"]
    texts = pl.read_parquet(data / "episodes.parquet").get_column("text").to_list()
    assert costs["episodes"] == len(texts) == 3
    assert costs["ingest_s"]["total"] >= costs["ingest_s"]["max"] >= costs["ingest_s"]["mean"] >= INGEST_S
    sizes = [len(t.encode()) for t in texts]
    assert costs["memory_bytes"] == {"mean": round(sum(sizes) / 3, 2), "max": max(sizes)}
    assert costs["memory_items"] == {"mean": 1, "max": 1}
    preds = pl.read_parquet(tmp_path / "contract-run" / "predictions.parquet")
    assert "ingest_s" not in preds.columns  # a journal field: the predictions table keeps its schema
    tokens = (preds["prompt_tokens"] + preds["completion_tokens"]).mean()
    assert costs["answer_tokens"]["mean"] == pytest.approx(tokens, abs=0.01)


def test_failed_probes_cost_no_tokens_and_a_resumed_run_counts_each_episode_once(tmp_path):
    from runners.local import RunConfig, run

    data = contract_dataset(tmp_path / "data")  # 3 episodes, 2 probes each
    failing = run(RunConfig(dataset=data, system=HOARDER.format(",forget=1,fail=1"), out=tmp_path / "failing",
                            condition=Condition.IN_MEMORY, use_cache=False, concurrency=1))
    preds = pl.read_parquet(tmp_path / "failing" / "predictions.parquet")
    answered = preds.filter(pl.col("error").is_null())
    assert failing["counts"]["errors"] == 3 and answered.height == 3
    assert failing["costs"]["answer_tokens"]["mean"] == pytest.approx(
        (answered["prompt_tokens"] + answered["completion_tokens"]).mean(), abs=0.01)  # not diluted by failures

    spec, out = HOARDER.format(",forget=1"), tmp_path / "resumed"
    config = RunConfig(dataset=data, system=spec, out=out, condition=Condition.IN_MEMORY, use_cache=False, concurrency=1)
    first = run(replace(config, limit=3))  # episodes 0 and 1 (half of it)
    assert first["status"] == "partial" and first["costs"]["episodes"] == 2
    resumed = run(replace(config, resume=True))  # episode 1 again, then 2
    assert resumed["status"] == "complete" and resumed["costs"]["episodes"] == 3
    assert resumed["footprint"]["memory_bytes"]["episodes"] == 4  # every ingest of both executions
    sizes = [len(t.encode()) for t in pl.read_parquet(data / "episodes.parquet")["text"]]
    assert resumed["costs"]["memory_bytes"]["max"] == max(sizes)
    assert resumed["costs"]["memory_bytes"]["mean"] == pytest.approx((sizes[0] + 2 * sizes[1] + sizes[2]) / 4, abs=0.01)


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
