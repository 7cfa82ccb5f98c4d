"""Fact extraction for the retrieval adapter's `granularity=fact` (LongMemEval's fact-augmented keys).

At ingest the reader LLM is asked once per session for the facts the session reveals (our wording of
LongMemEval's user-fact extraction prompt); each fact then joins the key of the round it came from,
so the index holds rounds whose keys are "round text + its facts" (LongMemEval's best setting:
value = round, key = value + fact). Deviation: LongMemEval extracts per round or per session and
attaches session facts to the whole session; we extract per session (one call, as the issue asks)
and attach each fact to the round sharing most words with it (ties: the earlier round), so a fact
sharpens one round instead of lifting every round of its session alike.
"""

from __future__ import annotations

import re

FACT_TOKENS = 160  # budget of one session's fact list
PROMPT = """Below is one chat session between a user and an assistant, dated {date}.

{session}

List the facts this session reveals about the user (personal details, events with their dates, \
possessions, plans, preferences) and any specific suggestion the assistant made. Write one short \
sentence per line, starting with "- ". Write nothing else. If there are none, write "none"."""

_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
_WORD = re.compile(r"\w{3,}")
_STOP = frozenset({
    "the", "and", "for", "with", "that", "this", "you", "your", "are", "was", "were", "have", "has", "had", "not",
    "but", "from", "they", "them", "their", "what", "when", "where", "which", "who", "will", "would", "can",
    "could", "about", "into", "there", "here", "then", "than", "just", "also", "user", "assistant", "some", "any",
    "all", "our", "out", "its",
})  # fmt: skip


def prompt(date: str, rendered_session: str) -> str:
    return PROMPT.format(date=date, session=rendered_session)


def parse(reply: str) -> list[str]:
    """One fact per non-empty line, bullets stripped; "none" (or nothing) -> []."""
    facts = []
    for line in (reply or "").splitlines():
        fact = _BULLET.sub("", line).strip()
        if fact and fact.lower().rstrip(".") not in ("none", "no facts", "nothing"):
            facts.append(fact)
    return facts


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def attach(facts: list[str], rounds: list[str]) -> list[list[str]]:
    """facts -> per round, the facts whose words overlap that round's most (the first round on ties)."""
    out: list[list[str]] = [[] for _ in rounds]
    if not rounds:
        return out
    vocab = [_words(r) for r in rounds]
    for fact in facts:
        words = _words(fact)
        best = max(range(len(rounds)), key=lambda i: (len(words & vocab[i]), -i))
        out[best].append(fact)
    return out
