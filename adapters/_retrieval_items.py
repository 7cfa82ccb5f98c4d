"""What the retrieval adapter indexes: an episode cut into items (sessions, rounds or text chunks),
each with a key (the text the retriever scores), a value (what the reader is shown) and the id that
is reported for recall, and how items are rendered.

    session  one item per session; key = its user and assistant turns; id = the session id
    round    one item per user turn and the assistant turns that follow it (a "turn pair"); id = the
             turn id LongMemEval gives that user turn: `<session id>_<position>`, the position
             1-based among all the session's turns (a leading assistant-only round: its first turn's)
    fact     rounds whose keys also hold the facts extracted from their session (adapters/_facts.py)
    chunk    for episodes without sessions (needle, SORT, M4LE): the text in windows of about
             `chunk_tokens` tokens (3/4 as many words, the usual English-BPE ratio), in order; id `chunk-N`
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ._time_filter import session_day

WORDS_PER_TOKEN = 0.75


@dataclass(frozen=True)
class Item:
    source_id: str  # reported in retrieved_ids: the session id, a round's turn id, or chunk-N
    key: str  # what the retriever scores
    order: int  # position in the episode (reading order of chunks, tie-break of dates)
    date: str | None = None  # the session's date, as the episode gives it
    turns: tuple[dict, ...] | None = None  # value of a session or round item
    text: str | None = None  # value of a chunk item
    session_id: str | None = None  # the session a round belongs to (None: the item is a session or a chunk)

    @property
    def day(self) -> date | None:
        return session_day(self.date) if self.date else None


def turns_text(turns) -> str:
    # Role and content only: nothing else of a turn (e.g. has_answer marks) may reach the index.
    return "\n".join(f"{t['role']}: {t['content']}" for t in turns)


def split_rounds(turns: list[dict]) -> list[list[dict]]:
    """A round opens at each user turn and holds the assistant turns after it (leading assistant
    turns make a round of their own)."""
    rounds: list[list[dict]] = []
    for turn in turns:
        if turn["role"] == "user" or not rounds:
            rounds.append([])
        rounds[-1].append({"role": turn["role"], "content": turn["content"]})
    return rounds


def session_items(sessions: list[dict]) -> list[Item]:
    return [
        Item(s["session_id"], turns_text(s["turns"]), i, s["date"], tuple(_clean(s["turns"])))
        for i, s in enumerate(sessions)
    ]


def round_items(sessions: list[dict], facts: list[list[list[str]]] | None = None) -> list[Item]:
    """`facts[i][j]`: facts attached to round j of session i; they extend that round's key."""
    items = []
    for i, s in enumerate(sessions):
        position = 1  # of the round's first turn in the session
        for j, turns in enumerate(split_rounds(s["turns"])):
            extra = facts[i][j] if facts else []
            key = "\n".join([turns_text(turns), *extra])
            sid = s["session_id"]
            items.append(Item(f"{sid}_{position}", key, len(items), s["date"], tuple(turns), session_id=sid))
            position += len(turns)
    return items


def reported_ids(ranked: list[Item], sessions: int) -> list[str]:
    """The ids an answer reports, best first, each once: the top `sessions` sessions or chunks; for
    rounds, every round ranked before the first round of a session beyond the top `sessions`, so that
    scoring can map the turns to sessions and find LongMemEval's session-level top k (k <= sessions)."""
    out: dict[str, None] = {}
    seen: set[str] = set()
    for it in ranked:
        group = it.session_id or it.source_id
        if group not in seen and len(seen) == sessions:
            break
        seen.add(group)
        out.setdefault(it.source_id)
    return list(out)


def chunk_items(text: str, chunk_tokens: int) -> list[Item]:
    words = re.findall(r"\S+\s*", text or "")
    size = max(1, round(chunk_tokens * WORDS_PER_TOKEN))
    items = []
    for n, start in enumerate(range(0, len(words), size)):
        chunk = "".join(words[start : start + size]).strip()
        items.append(Item(f"chunk-{n}", chunk, n, text=chunk))
    return items


def render(items: list[Item], template) -> str | None:
    """The reader's context: chunks in document order; sessions and rounds as LongMemEval's reader
    shows a history (the template's instruction, then the items sorted by date, numbered)."""
    if not items:
        return None
    ordered = sorted(items, key=lambda it: it.order)
    if ordered[0].text is not None:
        return "\n\n".join(it.text or "" for it in ordered)
    # render_context sorts by date (stably): same-day rounds keep their order in the session.
    return template.render_context([{"date": it.date, "turns": list(it.turns or ())} for it in ordered])


def _clean(turns) -> list[dict]:
    return [{"role": t["role"], "content": t["content"]} for t in turns]
