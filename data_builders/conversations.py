"""Chat sessions that pad LongMemEval-style histories.

A history is many dated user-assistant sessions; a few evidence sessions hold facts the user states and the
rest is filler. Filler must read like real chats with a helpful assistant, yet the user in it never states a
personal fact (pets, family, home, job, purchases, events, health, ...): a filler fact could answer, or
contradict, a memory question. Users here only ask general questions ("How do I ...", "Explain ...").

Two sources: `filler_session` writes sessions from the topics and word banks kept as data in
data_builders/content/ (conversations_topics.toml, conversations.toml: edit those to add a topic, fix a sentence
or translate; deterministic in the `random.Random` passed in); `chat_sessions_from_dataset` reads the user's
own chat corpus with `datasets`. Whoever uses a corpus must make sure it obeys the same rule: this module
normalises it but cannot check it.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Iterator

from longbench_suite.errors import UserError

from ._content import CONTENT, load
from .sources import iter_rows, load_dataset_source

# --- content ------------------------------------------------------------------------------------
# Word banks, shared phrases (content/conversations.toml) and topics (content/conversations_topics.toml).
# Sessions draw by position, so the files' order is part of the output: the same seed gives the same
# session only while lists keep their order and length.



@dataclass(frozen=True)
class _Turn:
    """A user request and the shape of the assistant's answer."""

    users: tuple[str, ...]  # phrasings of the request
    intros: tuple[str, ...]  # first line of the answer
    items: tuple[str, ...]  # numbered steps (all, in order) or bullets (a subset, in order)
    steps: bool
    code: str  # shown verbatim after the intro: not slot-filled, code has braces
    follow: tuple[_Turn, ...]  # follow-ups that only make sense after this request


@dataclass(frozen=True)
class _Topic:
    asks: tuple[_Turn, ...]
    follow: tuple[_Turn, ...]  # follow-ups that fit after any of the asks
    offers: tuple[str, ...]  # closing offers


@functools.cache
def _shared() -> dict:
    """conversations.toml: word banks, closing offers and the prefixes of user turns."""
    return load("conversations.toml")


@functools.cache
def _banks() -> dict[str, list]:
    """Slot name -> bank: a plain list is named after its slot; every field of a bank of records is a slot."""
    out: dict[str, list] = {}
    for name, bank in _shared()["banks"].items():
        for slot in bank[0] if isinstance(bank[0], dict) else (name,):
            if slot in out:
                raise ValueError(f"{CONTENT / 'conversations.toml'}: slot {slot!r} is in two banks")
            out[slot] = bank
    return out


def _checked(data: dict, keys: set[str], where: str) -> dict:
    """`data` if it has no key outside `keys`: a misspelt key (`stpes = true`) must not pass silently."""
    if unknown := sorted(data.keys() - keys):
        raise ValueError(f"{CONTENT / 'conversations_topics.toml'}: {where} has unknown keys {unknown}")
    return data


def _turn(data: dict) -> _Turn:
    data = _checked(data, {"users", "intros", "items", "steps", "code", "follow"}, f"turn {data.get('users')}")
    return _Turn(tuple(data["users"]), tuple(data["intros"]), tuple(data["items"]), data.get("steps", False),
                 data.get("code", "").strip("\n"), tuple(map(_turn, data.get("follow", ()))))


@functools.cache
def _topics() -> dict[str, _Topic]:
    """conversations_topics.toml: topic name -> its requests, follow-ups and closing offers, in file order."""
    topics = load("conversations_topics.toml")
    for name, topic in topics.items():
        _checked(topic, {"asks", "follow", "offers"}, f"topic {name!r}")
    return {name: _Topic(tuple(map(_turn, topic["asks"])), tuple(map(_turn, topic.get("follow", ()))),
                         tuple(topic.get("offers", ())))
            for name, topic in topics.items()}


TOPICS: tuple[str, ...] = tuple(_topics())


class _Slots(dict):
    """One session's slot values, drawn on first use so that follow-ups see the same city, genre, ..."""

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        pick = self.rng.choice(_banks()[key])
        if isinstance(pick, dict):
            self.update(pick)
            return pick[key]
        self[key] = pick
        return pick


# --- filler sessions ----------------------------------------------------------------------------

# User-assistant exchanges per session: mostly 2 or 3 (4 to 6 turns), sometimes 1, 4 or 5 (2 to 10 turns).
_EXCHANGES = [1, 2, 3, 4, 5]
_EXCHANGE_WEIGHTS = [10, 45, 30, 10, 5]
_MIN_REPLY_WORDS = 60


def filler_session(rng: random.Random, topic: str | None = None) -> list[dict]:
    """One self-contained chat in which the user asks a general question and follow-ups about it.

    `topic` is a name in TOPICS; None draws one with `rng.choice(TOPICS)`. All randomness comes from `rng`, so
    the same seed gives the same session. Turns are {"role": "user" | "assistant", "content": str}, alternating,
    from a user turn to an assistant turn.
    """
    if topic is None:
        topic = rng.choice(TOPICS)
    if topic not in _topics():
        raise UserError(f"unknown filler topic {topic!r}; topics: {', '.join(TOPICS)}")
    spec, shared = _topics()[topic], _shared()
    slots = _Slots(rng)
    ask = rng.choice(spec.asks)
    pool = ask.follow + spec.follow
    n_follow = min(rng.choices(_EXCHANGES, _EXCHANGE_WEIGHTS)[0] - 1, len(pool))
    picks = rng.sample(range(len(pool)), n_follow)
    picks.sort(key=lambda i: i >= len(ask.follow))  # follow-ups written for this request refer to its answer: first
    offers = [*spec.offers, *shared["offers"]]  # each closing offer at most once per session
    session = [_user(rng, ask, slots, shared["opener_prefixes"]), _answer(rng, ask, offers, slots)]
    for i in picks:
        session += [_user(rng, pool[i], slots, shared["follow_prefixes"]), _answer(rng, pool[i], offers, slots)]
    return session


def _user(rng: random.Random, turn: _Turn, slots: _Slots, prefixes: list[str]) -> dict:
    return {"role": "user", "content": rng.choice(prefixes) + rng.choice(turn.users).format_map(slots)}


def _answer(rng: random.Random, turn: _Turn, offers: list[str], slots: _Slots) -> dict:
    """An intro line, optional code, numbered steps or bullets, and a closing offer (taken from `offers`)."""
    items = [item.format_map(slots) for item in turn.items]
    shown = items
    if not turn.steps and len(items) > 4:  # bullets are independent: show some of them, in order
        shown = [items[i] for i in sorted(rng.sample(range(len(items)), rng.randint(4, len(items))))]
    parts = [rng.choice(turn.intros).format_map(slots), turn.code, "", offers.pop(rng.randrange(len(offers)))]
    for body in (shown, items):  # fall back to every item when a subset is too short to be a real answer
        parts[2] = "\n".join(f"{n}. {x}" if turn.steps else f"- {x}" for n, x in enumerate(body, 1))
        text = "\n\n".join(p for p in parts if p)
        if len(text.split()) >= _MIN_REPLY_WORDS:
            break
    return {"role": "assistant", "content": text}


# --- the user's own chat corpus -----------------------------------------------------------------

# Columns that may hold a conversation, in the order they are looked for.
CONVERSATION_COLUMNS = ("messages", "conversations", "conversation", "dialog", "chat")
# Speakers of OpenAI-style ("role") and ShareGPT-style ("from") turns; None: the turn is dropped.
_SPEAKERS = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "chatgpt": "assistant",
             "bard": "assistant", "bing": "assistant", "system": None}


def chat_sessions_from_dataset(source: str, column: str | None = None, split: str = "train") -> Iterator[list[dict]]:
    """Conversations from a `datasets` source, as [{"role": "user" | "assistant", "content": str}, ...].

    `source` is a local parquet/arrow/json(l)/csv file, a `save_to_disk` directory or a hub dataset name (needs
    network the first time); `split` applies to the last two. `column` holds the conversations; None takes the
    first of CONVERSATION_COLUMNS present. Turns are {"role", "content"} or ShareGPT's {"from", "value"}.
    System turns, empty turns and leading assistant turns are dropped, consecutive turns of one speaker merged,
    and conversations left with fewer than 2 turns skipped. Loading errors raise UserError here; a malformed
    row raises UserError when iteration reaches it (rows are read one at a time).
    """
    ds = load_dataset_source(source, split)
    names = ds.column_names
    if column is None:
        column = next((c for c in CONVERSATION_COLUMNS if c in names), None)
        if column is None:
            raise UserError(f"dataset {source!r} has no conversation column (looked for "
                            f"{', '.join(CONVERSATION_COLUMNS)}); columns: {', '.join(names)}")
    elif column not in names:
        raise UserError(f"dataset {source!r} has no column {column!r}; columns: {', '.join(names)}")
    return _sessions(ds.select_columns([column]), column, source)


def _sessions(ds, column: str, source: str) -> Iterator[list[dict]]:
    for i, row in enumerate(iter_rows(ds, source)):
        session = _normalise(row[column], i, source)
        if len(session) >= 2:
            yield session


def _normalise(turns: object, row: int, source: str) -> list[dict]:
    def bad(why: str) -> UserError:
        return UserError(f"dataset {source!r} row {row}: {why}")

    if not isinstance(turns, list):
        raise bad(f"the conversation is {type(turns).__name__}, not a list of turns")
    out: list[dict] = []
    for turn in turns:
        if not isinstance(turn, dict):
            raise bad(f"a turn is {type(turn).__name__}, not a dict with role/content or from/value")
        # A file may mix both styles: arrow then fills the other style's keys with None.
        speaker = turn.get("role") if turn.get("role") is not None else turn.get("from")
        text = turn.get("content") if turn.get("content") is not None else turn.get("value")
        if speaker is None or not ({"content", "value"} & turn.keys()):
            raise bad(f"a turn has no role/content or from/value: keys {', '.join(map(str, turn))}")
        if not isinstance(text, (str, type(None))):
            raise bad(f"a turn's content is {type(text).__name__}, not text")
        # tool / function / ipython turns (agent corpora) are not chat: dropped like system turns
        role, text = _SPEAKERS.get(str(speaker).lower()), (text or "").strip()
        if role is None or not text or (not out and role == "assistant"):
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"] += "\n\n" + text
        else:
            out.append({"role": role, "content": text})
    if out and out[-1]["role"] == "user":  # an unanswered last question: sessions end with the assistant
        out.pop()
    return out
