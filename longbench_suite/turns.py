"""Conversations over one context: how the probes of an episode that form turns are asked.

A family marks such probes with a `turn` (1, 2, ...) in their meta and the answer later turns see as
`reference` (tasks/shared_context.py, and SCBench's files imported as that family). A run asks them in
one of SCBench's two modes, recorded in run.json `turns`:

  multi-turn     each probe carries the earlier turns of its episode (question, then answer) in order,
                 and an episode's turns are answered one after another. The answers the earlier turns
                 carry are the reference answers (SCBench's default, "golden" history) or, with
                 history "own", the system's own answers to them.
  multi-request  each probe is asked alone over the shared context (today's protocol; SCBench's
                 "same context, different query"). Probes without turns are always asked so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .errors import UserError

MULTI_TURN, MULTI_REQUEST = "multi-turn", "multi-request"
MODES = (MULTI_TURN, MULTI_REQUEST)
REFERENCE, OWN = "reference", "own"
HISTORIES = (REFERENCE, OWN)


@dataclass(frozen=True)
class TurnMode:
    mode: str = MULTI_REQUEST
    history: str = REFERENCE

    @property
    def multi_turn(self) -> bool:
        return self.mode == MULTI_TURN

    @property
    def own(self) -> bool:
        return self.multi_turn and self.history == OWN

    def label_suffix(self, probes: pa.Table) -> str:
        """What the tables' `system` label adds to the system's name when conversations are asked other than
        SCBench's default way (multi-turn, reference history), so that two runs of one system side by side
        in a report stay apart: "@multi-request", "@own-history"; "" otherwise."""
        if self.own:
            return "@own-history"
        return "@multi-request" if not self.multi_turn and has_turns(probes) else ""

    def describe(self) -> dict[str, str]:
        """run.json `turns`."""
        return {"mode": self.mode, "history": self.history} if self.multi_turn else {"mode": self.mode}


def has_turns(probes: pa.Table) -> bool:
    """Does any probe of the dataset belong to a conversation (a `turn` in its meta)?"""
    meta = probes.column("meta")
    return bool(pc.any(pc.match_substring(meta.fill_null(""), '"turn"')).as_py() or False) and any(
        turn_of(m) is not None for m in meta.to_pylist())


def resolve(mode: str | None, history: str | None, probes: pa.Table) -> TurnMode:
    """The run's mode: the one asked for, else multi-turn where the data has conversations."""
    history = history or REFERENCE
    if history not in HISTORIES:
        raise UserError(f"--history must be one of {', '.join(HISTORIES)}, not {history!r}")
    if mode is not None and mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    turns = has_turns(probes)
    if mode == MULTI_TURN and not turns:
        raise UserError("--mode multi-turn: this dataset's probes form no conversations (no turns); its probes are "
                        "asked one by one")
    chosen = mode or (MULTI_TURN if turns else MULTI_REQUEST)
    if history == OWN and chosen != MULTI_TURN:
        raise UserError("--history own needs multi-turn mode")
    return TurnMode(chosen, history)


def parse_meta(meta: str | None) -> dict[str, Any]:
    try:
        value = json.loads(meta or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def turn_of(meta: str | None) -> int | None:
    turn = parse_meta(meta).get("turn")
    return turn if isinstance(turn, int) and not isinstance(turn, bool) else None


def turn_index(probes: pa.Table) -> dict[str, int]:
    """probe_id -> turn, for the probes that have one (empty for data without conversations)."""
    if not has_turns(probes):
        return {}
    ids, metas = probes.column("probe_id").to_pylist(), probes.column("meta").to_pylist()
    return {pid: t for pid, t in zip(ids, map(turn_of, metas)) if t is not None}


def asked(row: dict) -> str:
    """A turn's question as the history repeats it: the question, then its answer prefix if any."""
    prefix = row.get("answer_prefix") or ""
    return f"{row['question']}\n{prefix}" if prefix else row["question"]


def reference(row: dict) -> str:
    """The answer an earlier turn carries by default: its `reference`, else its gold answers."""
    value = parse_meta(row.get("meta")).get("reference")
    return value if isinstance(value, str) else ", ".join(row.get("gold") or [])


def in_order(rows: list[dict]) -> list[dict]:
    """One episode's probes in turn order (probes without a turn after them, in their order)."""
    return sorted(rows, key=lambda r: (turn_of(r.get("meta")) is None, turn_of(r.get("meta")) or 0))


def conversation_order(rows: list[dict]) -> list[dict]:
    """The probes episode by episode (in the order episodes first appear), each episode's in turn order."""
    by_episode: dict[str, list[dict]] = {}
    for row in rows:
        by_episode.setdefault(row["episode_id"], []).append(row)
    return [row for group in by_episode.values() for row in in_order(group)]


def histories(rows: list[dict], own: dict[str, str] | None = None) -> dict[str, list[dict]]:
    """probe_id -> the earlier turns of its episode ({"probe_id", "question", "answer"}, in order), for
    every probe of `rows` (all the probes of the dataset, or of some episodes). `own`: the system's
    answers by probe id, which replace the reference answers of the turns they answer."""
    by_episode: dict[str, list[dict]] = {}
    for row in rows:
        if turn_of(row.get("meta")) is not None:
            by_episode.setdefault(row["episode_id"], []).append(row)
    out: dict[str, list[dict]] = {}
    for conversation in by_episode.values():
        earlier: list[dict] = []
        for row in in_order(conversation):
            out[row["probe_id"]] = list(earlier)
            answer = own.get(row["probe_id"], "") if own is not None else reference(row)
            earlier.append({"probe_id": row["probe_id"], "question": asked(row), "answer": answer})
    return out
