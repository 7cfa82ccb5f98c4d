"""Summary memory: `summary[max_tokens=N,chunk_tokens=T,tokenizer=NAME]:READER` wraps any reader.

    summary[max_tokens=512][,chunk_tokens=1024][,tokenizer=approx|embedded|PATH|hf:ORG/NAME]:READER-SPEC

e.g. `summary:embedded`, `summary[max_tokens=256]:openai:gpt-4o-mini`.

Follows the recursive summarisation of Wang et al. 2023 ("Recursively summarizing enables long-term
dialogue memory in large language models"): one memory per episode, rewritten by the reader after each
session (sessions in date order) from the old memory and the new session, memory_i = reader(memory_{i-1}
+ session_i); MemoryBank (Zhong et al. 2024) keeps summaries of the same kind. Families without sessions
(needle, SORT, joint recall, M4LE) are read in parts of about `chunk_tokens` tokens (whole sentences,
3/4 as many words as tokens, as retrieval's chunks), each a step of the same rewrite. The memory is
bounded: the reader is asked for at most `max_tokens` new tokens and the memory is cut to `max_tokens`
tokens of `tokenizer` (longbench_suite/tokens.py; approx by default: name the reader's tokenizer to
count as it does). answer(): the reader answers the probe with the memory as its context (the run is
in-memory: the probe arrives without context and the memory supplies it). Prompts are data:
adapters/templates/summary_memory.toml.

Simplified against the papers: Wang et al. generate each reply from the memory and the current
dialogue and judge long-term conversation; we answer benchmark probes from the memory alone, with our
own prompt wording. MemoryBank's other parts (raw turns retrieved by similarity, per-day event summaries
summarised again into a global one, a user portrait, the Ebbinghaus forgetting curve) are not built:
here the memory is one rolling text, rewritten whole in one reader call per step (retrieval[...] is
the retrieval part). The `max_tokens` cut keeps the head of an over-long rewrite.

Costs (footprint(), per episode): `memory_bytes` (UTF-8 bytes of the final summary), `ingest_tokens`
(the reader's prompt + completion tokens over the rewrites), and how often a rewrite had to be cut.
A summary is one item: `memory_items` is left out (it counts stored facts in facts[...]).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from longbench_suite.errors import UserError
from longbench_suite.io import read_toml
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, PerEpisode, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_number
from longbench_suite.tokens import TokenCounter, load_tokenizer

from ._reader_memory import ReaderMemory, make_reader, with_recall
from ._retrieval_items import WORDS_PER_TOKEN, turns_text
from ._time_filter import session_day

TEMPLATES = Path(__file__).parent / "templates" / "summary_memory.toml"
OPTIONS = ("max_tokens", "chunk_tokens", "tokenizer")
DEFAULT_MAX_TOKENS = 512
DEFAULT_CHUNK_TOKENS = 1024
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_PIECE = re.compile(r"\S+\s*")


# -- what a managed memory reads in one step (shared with adapters/facts_memory.py) --------------------
@dataclass(frozen=True)
class Unit:
    """One session (in date order) or one part of a text without sessions."""

    index: int  # 1-based position among the episode's units
    count: int  # units in the episode
    text: str  # the session's turns as "role: content" lines, or the part's text
    date: str | None = None  # the session's date (None for parts of a text)
    session_id: str | None = None
    turns: tuple[dict, ...] | None = None  # the session's turns, role and content only


def sentences(text: str) -> list[str]:
    """Sentences: split after . ! ? followed by a space, and at line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s and s.strip()]


def episode_units(episode: Episode, chunk_tokens: int) -> list[Unit]:
    """The sessions in date order (stable), or else the text in parts of whole sentences of about
    `chunk_tokens` tokens (a longer sentence is a part of its own)."""
    if episode.sessions:
        ordered = sorted(episode.sessions, key=_session_key)
        return [Unit(i, len(ordered), turns_text(s["turns"]), s.get("date"), s.get("session_id"),
                     tuple({"role": t["role"], "content": t["content"]} for t in s["turns"]))
                for i, s in enumerate(ordered, 1)]
    parts = _sentence_chunks(episode.text, max(1, round(chunk_tokens * WORDS_PER_TOKEN)))
    return [Unit(i, len(parts), part) for i, part in enumerate(parts, 1)]


def _session_key(session: dict) -> tuple[bool, date, str]:
    # LongMemEval's "2023/05/20 (Sat) 02:21" and ISO dates both sort as text within a day.
    day = session_day(str(session.get("date") or ""))
    return day is None, day or date.min, str(session.get("date") or "")


def _sentence_chunks(text: str, words: int) -> list[str]:
    chunks: list[list[str]] = []
    size = 0
    for sentence in sentences(text):
        n = len(sentence.split())
        if not chunks or size + n > words and size:
            chunks.append([])
            size = 0
        chunks[-1].append(sentence)
        size += n
    return [" ".join(c) for c in chunks]


def cut_to_tokens(text: str, limit: int, counter: TokenCounter) -> str:
    """The longest prefix of whole words of `text` that counts at most `limit` tokens."""
    text = text.strip()
    if counter.count(text) <= limit:
        return text
    pieces = _PIECE.findall(text)
    good, bad = 0, len(pieces)  # a prefix of `good` pieces fits; one of `bad` does not
    while bad - good > 1:
        mid = (good + bad) // 2
        if counter.count("".join(pieces[:mid]).rstrip()) <= limit:
            good = mid
        else:
            bad = mid
    return "".join(pieces[:good]).rstrip()


def ingest_probe(episode: Episode, name: str, index: int, question: str, max_new_tokens: int) -> Probe:
    """An internal reader call made while remembering `episode` (no context, no gold)."""
    return Probe(probe_id=f"{episode.episode_id}#{name}{index}", episode_id=episode.episode_id, question=question,
                 answer_prefix="", context=None, max_new_tokens=max_new_tokens)


def answer_tokens(answer: Answer) -> int:
    return (answer.prompt_tokens or 0) + (answer.completion_tokens or 0)


def require_reader(inner: MemorySystem, kind: str) -> None:
    if inner.privileged:  # an oracle knows gold, not how to summarise or extract
        raise UserError(f"{kind}: the reader writes the memory, so it must be a model, not the baseline {inner.name}")


def reply(answer: Answer, t0: float, retrieved_ids: list[str] | None = None) -> Answer:
    """The reader's final answer as the wrapper's: its tokens, the whole latency."""
    return replace(answer, latency_s=time.monotonic() - t0, retrieved_ids=retrieved_ids)


# -- the summary memory ------------------------------------------------------------------------------
class SummaryMemory(ReaderMemory[str]):
    condition_override = Condition.IN_MEMORY  # the probe comes without context; the memory supplies it
    needs = "the summary memory needs the episode"

    def __init__(self, inner: MemorySystem, counter: TokenCounter, *, max_tokens: int, chunk_tokens: int):
        require_reader(inner, "summary")
        super().__init__(inner, "summary")  # per episode: its summary
        self.counter = counter
        self.max_tokens = max_tokens
        self.chunk_tokens = chunk_tokens
        self.templates = read_toml(TEMPLATES, "summary memory prompts")
        self.memory_bytes, self.ingest_tokens = PerEpisode(), PerEpisode()
        self._rewrites = 0
        self._cut = 0

    async def ingest(self, episode: Episode) -> None:
        memory, tokens = "", 0
        for unit in episode_units(episode, self.chunk_tokens):
            answer = await self.inner.answer(ingest_probe(episode, "summary", unit.index, self._prompt(memory, unit), self.max_tokens))
            tokens += answer_tokens(answer)
            memory = self._bounded(answer.text)
        self._episodes[episode.episode_id] = memory
        self.memory_bytes.add(len(memory.encode()))
        self.ingest_tokens.add(tokens)

    def _prompt(self, memory: str, unit: Unit) -> str:
        t = self.templates
        source = t["session"].format(date=unit.date or "unknown") if unit.turns is not None \
            else t["chunk"].format(index=unit.index, count=unit.count)
        return t["update"].format(memory=memory or t["empty"], source=source, text=unit.text,
                                  words=max(1, round(self.max_tokens * WORDS_PER_TOKEN)))

    def _bounded(self, text: str) -> str:
        self._rewrites += 1
        cut = cut_to_tokens(text, self.max_tokens, self.counter)
        self._cut += cut != text.strip()
        return cut

    async def answer(self, probe: Probe) -> Answer:
        memory = self.state(probe)
        t0 = time.monotonic()
        context = self.templates["context"].format(memory=memory or self.templates["empty"])
        return reply(await self.inner.answer(with_recall(probe, context)), t0)

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        return {"name": self.name, "memory": "summary", "max_tokens": self.max_tokens, "chunk_tokens": self.chunk_tokens,
                "tokenizer": self.counter.name, "reader": inner, "sampling": inner.get("sampling", {})}

    def footprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {"memory_bytes": self.memory_bytes.summary(), "ingest_tokens": self.ingest_tokens.summary(),
                               "rewrites": self._rewrites, "rewrites_cut": self._cut}
        return self.with_reader(out)


def _summary(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`summary[max_tokens=512,chunk_tokens=1024]:SPEC`: a rolling summary, rewritten by the reader per session."""
    check_options(spec, OPTIONS)
    max_tokens = option_number(spec, "max_tokens", DEFAULT_MAX_TOKENS, int, 16)
    chunk_tokens = option_number(spec, "chunk_tokens", DEFAULT_CHUNK_TOKENS, int, 16)
    counter = load_tokenizer(spec.option("tokenizer", "approx"))  # before the reader: a bad name starts nothing
    return SummaryMemory(make_reader(spec, ctx), counter, max_tokens=max_tokens, chunk_tokens=chunk_tokens)


SYSTEMS = {"summary": _summary}
