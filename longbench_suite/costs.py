"""What a run cost, in one place of run.json (`costs`), so "accuracy per memory byte / per ingest second"
can be read beside the scores (leaderboard columns cost/*).

    ingest_s          per episode: mean, max and total seconds of reset + ingest, timed by the runner
                      (each episode once: a resumed run re-ingests the episodes it re-asks; the slower
                      of its ingests counts)
    ingest_tokens     per episode: tokens the memory read, wrote or trained on to remember (its footprint)
    memory_bytes      per episode: what the memory keeps after ingest (adapter weights, cache, summary,
    memory_items      facts, graph nodes and edges), as the system reports it (its footprint)
    answer_s          per answered probe that was not a cache hit: mean seconds
    answer_tokens     per answered probe (no error) that reports its tokens: mean prompt + completion
    by_turn           conversations (multi-turn data): per turn index, the answered probes, mean answer
                      seconds, mean prompt tokens, and the share of prompt tokens the server's prefix
                      cache served (`cached_share`, where the system reports cached_tokens): the
                      KV-cache lifecycle of a shared context, turn by turn (SCBench)

The memory figures come from the system's footprint; a resumed run, and the workers of a Ray run, each
report their own, merged here by merge_footprints (per-episode means weighted by episodes).
"""

from __future__ import annotations

from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

MEMORY_KEYS = ("ingest_tokens", "memory_bytes", "memory_items")


def run_costs(records: Iterable[dict], predictions: pa.Table, footprint: dict | None,
              turns: dict[str, int] | None = None) -> dict[str, Any]:  # fmt: skip
    """run.json `costs` from the journal's records (their ingest_s), the predictions and the footprint;
    `turns`: probe_id -> turn index, for data whose probes form conversations."""
    by_episode: dict[str, float] = {}
    for r in records:
        if isinstance(r.get("ingest_s"), (int, float)):
            by_episode[r["episode_id"]] = max(r["ingest_s"], by_episode.get(r["episode_id"], 0.0))
    ingest = list(by_episode.values())
    out: dict[str, Any] = {
        "episodes": len(ingest),
        "ingest_s": {"mean": round(sum(ingest) / len(ingest), 6), "max": round(max(ingest), 6),
                     "total": round(sum(ingest), 6)} if ingest else None,
    }
    for key in MEMORY_KEYS:
        out[key] = per_episode(memory_figure(footprint or {}, key))
    answered = predictions.filter(pc.and_(pc.is_null(predictions.column("error")),
                                          pc.invert(pc.fill_null(predictions.column("cache_hit"), False))))
    latency = pc.mean(answered.column("latency_s")).as_py() if answered.num_rows else None
    out["answer_s"] = {"mean": round(latency, 4)} if latency is not None else None
    counted = predictions.filter(pc.and_(pc.is_null(predictions.column("error")), pc.is_valid(predictions.column("prompt_tokens"))))
    tokens = pc.add(counted.column("prompt_tokens"), pc.fill_null(counted.column("completion_tokens"), 0))
    out["answer_tokens"] = {"mean": round(pc.mean(tokens).as_py(), 2)} if counted.num_rows else None
    if turns:
        out["by_turn"] = by_turn(predictions, turns)
    return out


def by_turn(predictions: pa.Table, turns: dict[str, int]) -> list[dict[str, Any]]:
    """Per turn index: answered probes, mean answer seconds (cache hits left out), mean prompt tokens,
    and cached_share = cached / prompt tokens over the probes that report both."""
    import polars as pl

    frame = pl.from_arrow(predictions.select(["probe_id", "latency_s", "prompt_tokens", "cached_tokens", "cache_hit", "error"]))
    frame = frame.filter(pl.col("error").is_null()).join(
        pl.DataFrame({"probe_id": list(turns), "turn": list(turns.values())}, schema={"probe_id": pl.String, "turn": pl.Int64}),
        on="probe_id", how="inner")
    both = pl.col("prompt_tokens").is_not_null() & pl.col("cached_tokens").is_not_null()
    rows = frame.group_by("turn").agg(
        pl.len().alias("probes"),
        pl.col("latency_s").filter(~pl.col("cache_hit").fill_null(False)).mean().round(4).alias("answer_s"),
        pl.col("prompt_tokens").mean().round(2).alias("prompt_tokens"),
        (pl.col("cached_tokens").filter(both).sum() / pl.col("prompt_tokens").filter(both).sum()).round(4).alias("cached_share"),
    ).sort("turn")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows.to_dicts()]


def merge_footprints(first: dict | None, second: dict | None) -> dict:
    """Two accounts of one system (an earlier execution of a resumed run and this one; two Ray workers):
    per-episode figures ({mean, max, episodes}) combine weighted by episodes, anything else is the second's."""
    out = dict(first or {})
    for key, value in (second or {}).items():
        old = out.get(key)
        if _per_episode(old) and _per_episode(value):
            n = old["episodes"] + value["episodes"]
            out[key] = {"mean": round((old["mean"] * old["episodes"] + value["mean"] * value["episodes"]) / n, 2),
                        "max": max(old["max"], value["max"]), "episodes": n} if n else value
        elif value is not None or key not in out:
            out[key] = value
    return out


def _per_episode(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), (int, float)) for k in ("mean", "max", "episodes"))


ALIASES = {"memory_items": "index_items", "memory_bytes": "index_bytes"}  # retrieval memory's names


def memory_figure(footprint: dict, key: str) -> Any:
    """A memory's cost figure from its footprint; retrieval memory reports its index as index_* and its
    fact extraction as totals (`ingest`: prompt + completion tokens over episodes_indexed)."""
    value = footprint.get(key, footprint.get(ALIASES.get(key, "")))
    ingest, episodes = footprint.get("ingest"), footprint.get("episodes_indexed")
    if value is None and key == "ingest_tokens" and isinstance(ingest, dict) and episodes:
        value = round((ingest.get("prompt_tokens", 0) + ingest.get("completion_tokens", 0)) / episodes, 2)
    return value


def per_episode(value: Any) -> dict[str, float] | None:
    """A footprint figure as {mean, max}: PerEpisode.summary() as it is, a plain number as both."""
    if isinstance(value, dict) and isinstance(value.get("mean"), (int, float)):
        return {"mean": value["mean"], "max": value.get("max", value["mean"])}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"mean": value, "max": value}
    return None
