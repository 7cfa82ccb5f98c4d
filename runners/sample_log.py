"""The sample log of a run: each probe's prompt as the system got it (lm-eval's --log_samples).

Written when a run finalizes, beside the predictions: `prompts.parquet` (one row per answered probe:
the chat messages, or the completions prompt) and `contexts.parquet` (each distinct context once, by
its digest; the prompts leave it out). Prompts are rendered again from the dataset with the very calls
the runner made (the family's `probe()` for the run's condition, then the system's request format as
run.json records it: adapters/openai_compat.py's chat_messages / completion_prompt), so nothing has to
be journalled: a run killed at any moment gets the log whole when `--resume` finalizes it.

What a system does after that is its own: the chat template a server applies, and the prompts that
retrieval memory or Chain-of-Note build from the probe. For those (format `probe`) the log holds the
probe as the runner handed it over, rendered with prefill=user.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from longbench_suite import io, schemas
from longbench_suite.protocol import Condition, Probe, Turn
from longbench_suite.registry import task_family
from longbench_suite.turns import TurnMode, histories

from .episodes import episode_loader

PROMPTS = "prompts.parquet"
CONTEXTS = "contexts.parquet"
CONTEXT_BATCH_BYTES = 64 * 2**20  # contexts are written in row groups of about this much text
SEPARATOR = "\n\n"  # Probe.prompt_text(): the context, a blank line, the question


def prompt_format(system: dict[str, Any]) -> tuple[str, str]:
    """(format, prefill) of a run's requests, from run.json's `system`: `chat` or `completions` for the
    systems that say so (OpenAI-compatible, embedded, vllm:, hf:, and `no-context:` around them); `probe`
    for those that build their own prompt."""
    described = system
    if str(system.get("spec", "")).startswith("no-context:") and isinstance(system.get("inner"), dict):
        described = system["inner"]  # the wrapper hands the probe on unchanged
    mode, prefill = described.get("mode"), described.get("prefill")
    if mode in ("chat", "completions") and prefill in ("user", "assistant", "none"):
        return mode, prefill
    return "probe", "user"


def request_messages(probe: Probe, fmt: str, prefill: str) -> list[dict[str, str]]:
    """The messages the system sent for `probe` (before any chat template)."""
    from adapters.openai_compat import chat_messages, completion_prompt

    if fmt == "completions":
        return [{"role": "prompt", "content": completion_prompt(probe)}]
    return chat_messages(probe, prefill)[0]


def context_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def split_context(messages: list[dict[str, str]], context: str | None) -> tuple[str | None, list[dict[str, str]]]:
    """(the context's id, the messages without it) when the first message begins with the context and
    a blank line; otherwise (None, the messages whole)."""
    if not context or not messages or not messages[0]["content"].startswith(context + SEPARATOR):
        return None, messages
    first = {**messages[0], "content": messages[0]["content"][len(context) + len(SEPARATOR):]}
    return context_id(context), [first, *messages[1:]]


class _ContextWriter:
    """Distinct contexts, streamed to a parquet file in row groups of about CONTEXT_BATCH_BYTES."""

    def __init__(self, path: Path):
        self.writer = pq.ParquetWriter(path, schemas.CONTEXTS, compression="zstd")
        self.seen: set[str] = set()
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.pending_bytes = 0

    def add(self, cid: str, text: str) -> None:
        if cid in self.seen:
            return
        self.seen.add(cid)
        self.ids.append(cid)
        self.texts.append(text)
        self.pending_bytes += len(text)
        if self.pending_bytes >= CONTEXT_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.ids:
            self.writer.write_table(pa.table({"context_id": self.ids, "text": self.texts}, schema=schemas.CONTEXTS))
        self.ids, self.texts, self.pending_bytes = [], [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


def write_sample_log(out: Path, dataset: io.Dataset, manifest: dict, probe_ids: set[str],
                     outputs: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Write prompts.parquet and contexts.parquet for the run's answered probes; return what run.json
    records of them (counts and sizes on disk). A multi-turn run's prompts carry their earlier turns, with
    the reference answers, or with the run's own `outputs` (history "own")."""
    family = task_family(dataset.manifest["family"])
    condition = Condition(manifest["condition"])
    fmt, prefill = prompt_format(manifest.get("system") or {})
    load = episode_loader(dataset)
    turns = TurnMode(**(manifest.get("turns") or {}))
    rows = dataset.probes.to_pylist()
    earlier = histories(rows, outputs or {} if turns.own else None) if turns.multi_turn else {}
    by_episode: dict[str, list[dict]] = {}
    for row in rows:
        if row["probe_id"] in probe_ids:
            by_episode.setdefault(row["episode_id"], []).append(row)
    prompts = schemas.TableBuilder(schemas.PROMPTS)
    with io.atomic_path(out / CONTEXTS) as tmp:
        contexts = _ContextWriter(tmp)
        try:
            for eid, rows in by_episode.items():
                episode = family.episode(load(eid))
                for row in rows:
                    probe = family.probe(row, episode, condition)
                    if earlier.get(row["probe_id"]):
                        probe = replace(probe, history=tuple(Turn(h["question"], h["answer"]) for h in earlier[row["probe_id"]]))
                    cid, messages = split_context(request_messages(probe, fmt, prefill), probe.context)
                    if cid is not None:
                        contexts.add(cid, probe.context)
                    prompts.add(probe_id=row["probe_id"], episode_id=eid, format=fmt, context_id=cid, messages=messages)
        finally:
            contexts.close()
        n_contexts = len(contexts.seen)
    io.write_parquet(prompts.table(), out / PROMPTS)
    return {
        "format": fmt,
        "prefill": prefill if fmt != "completions" else None,
        "prompts": len(prompts.columns["probe_id"]),
        "contexts": n_contexts,
        "prompts_bytes": os.path.getsize(out / PROMPTS),
        "contexts_bytes": os.path.getsize(out / CONTEXTS),
    }
