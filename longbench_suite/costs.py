"""What a run cost, in one place of run.json (`costs`), so "accuracy per memory byte / per ingest second"
can be read beside the scores (leaderboard columns cost/*).

    ingest_s          per episode: mean, max and total seconds of reset + ingest, timed by the runner
                      (each episode's latest ingest: a resumed run re-ingests the episodes it re-asks)
    ingest_tokens     per episode: tokens the memory read, wrote or trained on to remember (its footprint)
    memory_bytes      per episode: what the memory keeps after ingest (adapter weights, cache, summary,
    memory_items      facts, graph nodes and edges), as the system reports it (its footprint)
    answer_s          per answered probe that was not a cache hit: mean seconds
    answer_tokens     per probe: mean prompt + completion tokens
"""

from __future__ import annotations

from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

MEMORY_KEYS = ("ingest_tokens", "memory_bytes", "memory_items")


def run_costs(records: Iterable[dict], predictions: pa.Table, footprint: dict | None) -> dict[str, Any]:
    ingest = [r["ingest_s"] for r in records if isinstance(r.get("ingest_s"), (int, float))]
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
    tokens = pc.add(pc.fill_null(predictions.column("prompt_tokens"), 0), pc.fill_null(predictions.column("completion_tokens"), 0))
    reported = pc.sum(pc.is_valid(predictions.column("prompt_tokens"))).as_py() or 0
    out["answer_tokens"] = {"mean": round(pc.mean(tokens).as_py(), 2)} if reported else None
    return out


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
