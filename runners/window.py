"""Before a run: does every probe fit the system's context window?

A prompt longer than the window fails at the server (vLLM answers HTTP 400) or quietly degrades an
in-process model, and a run of such probes records every one of them as an error only after spending
the time. So the runner compares each probe's length with the window the system reports, before the
first request, and refuses with one line (`--allow-overflow` sends them anyway).

The window is footprint()'s `context_length`: the max_model_len an OpenAI-compatible vLLM server lists
in /v1/models, the catalogue entry the embedded model is served from, an in-process engine's config.
A probe's length is what the dataset counted: the prompt tokens a probe records (needle), else its
episode's n_tokens when the in-context prompt holds the episode's whole text (a family that puts only
a part of it in the prompt, SORT's excerpt, has no count to compare), plus the answer budget. A chat
template adds a few tokens more, so this is a lower bound: a refused probe cannot fit. Counts of the
`approx` tokenizer are a heuristic: they must exceed the window by APPROX_SLACK before a run is refused.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from longbench_suite import io
from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition
from longbench_suite.registry import task_family

APPROX_SLACK = 1.10


def _prompt_is_episode_text(dataset: io.Dataset) -> bool:
    """Does the family's in-context prompt hold its episode's whole text? Asked of the first probe:
    a family renders all its probes alike."""
    if dataset.probes.num_rows == 0:
        return False
    family = task_family(dataset.manifest["family"])
    row = dataset.probes.slice(0, 1).to_pylist()[0]
    index = dataset.episodes.column("episode_id").to_pylist().index(row["episode_id"])
    episode = family.episode(dataset.episodes.slice(index, 1).to_pylist()[0])
    probe = family.probe(row, episode, Condition.IN_CONTEXT)
    return bool(episode.text) and probe.context == episode.text


def probe_lengths(dataset: io.Dataset, answer_tokens: int | None, limit: int | None) -> pl.DataFrame:
    """probe_id, prompt (tokens counted by the dataset, null when unknown) and need (prompt + answer
    budget) of the probes a run asks."""
    probes = pl.from_arrow(dataset.probes.select(["probe_id", "episode_id", "max_new_tokens", "meta"]))
    if limit is not None:
        probes = probes.head(limit)
    episodes = pl.from_arrow(dataset.episodes.select(["episode_id", "n_tokens"]))
    recorded = pl.col("meta").str.json_path_match("$.prompt_tokens").cast(pl.Int64, strict=False)
    whole = pl.col("n_tokens") if _prompt_is_episode_text(dataset) else pl.lit(None, pl.Int64)
    budget = pl.lit(answer_tokens, pl.Int64) if answer_tokens else pl.col("max_new_tokens")
    return (probes.join(episodes, on="episode_id", how="left")
            .with_columns(prompt=pl.coalesce(recorded, whole), budget=budget)
            .with_columns(need=pl.col("prompt") + pl.col("budget")))


def check_window(dataset: io.Dataset, condition: Condition, system: dict[str, Any], footprint: dict[str, Any],
                 limit: int | None = None) -> None:
    """Raise a UserError naming the longest probe when probes cannot fit the system's window."""
    window = footprint.get("context_length")
    if condition is not Condition.IN_CONTEXT or not isinstance(window, int) or window <= 0:
        return
    if system.get("max_input_tokens"):  # the system cuts long prompts itself (hf: LongBench's middle truncation)
        return
    answer_tokens = (system.get("sampling") or {}).get("max_tokens")
    lengths = probe_lengths(dataset, answer_tokens if isinstance(answer_tokens, int) else None, limit)
    tokenizer = dataset.manifest.get("tokenizer") or "approx"
    slack = APPROX_SLACK if tokenizer == "approx" else 1.0
    over = lengths.filter(pl.col("need") > window * slack)
    if over.is_empty():
        return
    worst = over.sort(["need", "probe_id"], descending=[True, False]).row(0, named=True)
    raise UserError(
        f"probe {worst['probe_id']} needs {worst['need']:,} tokens ({worst['prompt']:,} in its prompt, counted by the "
        f"dataset's {tokenizer} tokenizer, + {worst['budget']:,} to answer) but the system's context window is "
        f"{window:,} tokens ({over.height:,} of {lengths.height:,} probes do not fit): generate shorter lengths, "
        "or pass --allow-overflow to send them anyway"
    )
