"""Short news-like articles: M4LE's offline default source.

`news_articles(seed, n)` slot-fills wire-story templates (a lead, then details, a quote) from the
word banks and kinds of article in content/news_corpus.toml, deterministically from `seed`. Topics
are balanced round-robin. Titles and summaries are paraphrases of the story, never substrings of
its text, so semantic questions ("the article whose summary is ...") are not string matching. Each
article's main entity (a person or organisation) and its extractive answer occur in no other
article of the same call (names and numbers are drawn without replacement; the banks allow about
1,100 articles per call). This module keeps the draws, the filling and the checks; the words are data.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

from data_builders._content import frozen, load


@cache
def _content() -> dict[str, Any]:
    """content/news_corpus.toml, read once per process; the word lists in [banks] split on whitespace."""
    content = frozen(load("news_corpus.toml"))
    banks = content["banks"]
    for key in ("first_names", "last_names", "stem_a", "stem_b", "cities"):
        banks[key] = tuple(banks[key].split())
    return content


def _bank(name: str) -> tuple[str, ...]:
    return _content()["banks"][name]


TOPICS: tuple[str, ...] = _content()["topics"]


def _templates(kind: dict) -> str:
    """All the templates of a kind, to see which name slots it uses."""
    lists = (kind["lead"], kind["required"], kind["optional"], kind["quote"], kind["title"], kind["summary"])
    return " ".join([t for templates in lists for t in templates] + list(kind["questions"].values()))


class _Pools:
    """Names and numbers drawn without replacement, so each occurs in at most one article."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.people = [f"{f} {l}" for f in _bank("first_names") for l in _bank("last_names")]
        self.stems = [a + b for a in _bank("stem_a") for b in _bank("stem_b")]
        self.numbers = list(range(1000, 10000))
        for pool in (self.people, self.stems, self.numbers):
            rng.shuffle(pool)

    def take(self, pool: list):
        if not pool:
            raise ValueError("news corpus: name pool exhausted (n too large)")
        return pool.pop()


def _words(s: str) -> int:
    return len(s.split())


def _draft(rng: random.Random, pools: _Pools, kind: dict, idx: int) -> dict | None:
    """One article of `kind` (a [[kinds]] entry of the content file), or None if it breaks a rule of `_valid`."""
    topic = kind["topic"]
    used = _templates(kind)  # draw a unique name only for the slots this kind uses
    P, Q, R = (pools.take(pools.people) if "{%s" % k in used else "" for k in ("P", "Q", "R"))
    types = _content()["org_types"][topic]
    O, O2 = (f"{pools.take(pools.stems)} {rng.choice(types)}" if "{%s}" % k in used else "" for k in ("O", "O2"))
    c1, c2 = rng.sample(_bank("cities"), 2)
    a = rng.randint(2, 5)
    s = {
        "P": P, "Ps": P.split()[-1] if P else "", "Q": Q, "R": R,
        "O": O, "O2": O2,
        "C": c1, "C2": c2, "N1": f"{pools.take(pools.numbers):,}", "day": rng.choice(_bank("days")),
        "a": a, "b": rng.randint(1, a - 1), "x": rng.randint(6, 29), "m": rng.randint(52, 94),
        "pct": rng.randint(3, 38), "age": rng.randint(21, 36), "yr": rng.randint(2004, 2019),
        "amt": f"{rng.randint(12, 98) / 10:.1f}", "w": rng.randint(90, 160), "t": rng.randint(34, 44),
    }
    fill = lambda tpl: tpl.format(**s)  # noqa: E731
    optional = kind["optional"]
    extra = rng.sample(optional, rng.randint(2, len(optional)))
    body = [fill(d) for d in kind["required"]] + [fill(d) for d in optional if d in extra]
    body.insert(rng.randint(1, len(body)), fill(rng.choice(kind["quote"])))
    sentences = [fill(rng.choice(kind["lead"]))] + body + [fill(rng.choice(_content()["background"][topic]))]
    fillers = rng.sample(_bank("fillers"), len(_bank("fillers")))
    rest = [fill(d) for d in optional if d not in extra]
    while (short := 112 - _words(" ".join(sentences))) > 0 and len(sentences) < 8:
        sentences.append(rest.pop(0) if rest and short <= 10 else fillers.pop())
    text = " ".join(sentences)
    slot, q = rng.choice(tuple(kind["questions"].items()))
    art = {
        "id": f"news-{idx + 1:04d}", "kind": f"{topic}/{kind['name']}", "title": fill(rng.choice(kind["title"])),
        "label": topic, "text": text, "summary": fill(rng.choice(kind["summary"])), "question": fill(q),
        "answer": [s[slot]], "entity": s[kind["entity"]],
    }
    return art if _valid(art) else None


def _valid(art: dict) -> bool:
    text, ans, ent = art["text"], art["answer"][0], art["entity"]
    return (100 <= _words(text) <= 220 and 5 <= _words(art["title"]) <= 12 and 15 <= _words(art["summary"]) <= 45
            and art["title"] not in text and art["summary"] not in text and ent in art["summary"] and ent in text
            and text.count(ans) == 1 and ans not in art["question"])


def news_articles(seed: int, n: int) -> list[dict]:
    """`n` short news articles, deterministic from `seed`, topics round-robin over TOPICS."""
    rng = random.Random(seed)
    pools = _Pools(rng)
    by_topic = {t: [k for k in _content()["kinds"] if k["topic"] == t] for t in TOPICS}
    decks: dict[str, list] = {t: [] for t in TOPICS}

    def make(i: int, kind: dict | None = None) -> dict:
        topic = TOPICS[i % len(TOPICS)]
        if kind is None:
            if not decks[topic]:
                decks[topic] = rng.sample(by_topic[topic], len(by_topic[topic]))
            kind = decks[topic].pop()
        for _ in range(50):
            art = _draft(rng, pools, kind, i)
            if art is not None:
                art["_kind"] = kind
                return art
        raise RuntimeError(f"news corpus: could not draft a valid {topic}/{kind['name']} article")

    arts = [make(i) for i in range(n)]
    titles: dict[str, int] = {}
    for _ in range(20):  # cross-article checks; redraw offenders until clean
        big = "\n".join(a["text"] for a in arts)
        bad = []
        titles.clear()
        for i, art in enumerate(arts):
            keys = (art["entity"], art["answer"][0])
            if any(big.count(k) != art["text"].count(k) for k in keys) or art["title"] in titles:
                bad.append(i)
            titles.setdefault(art["title"], i)
        if not bad:
            break
        for i in bad:
            arts[i] = make(i, arts[i]["_kind"])
    else:
        raise RuntimeError("news corpus: could not make entities and answers unique")
    for art in arts:
        del art["_kind"]
    return arts
