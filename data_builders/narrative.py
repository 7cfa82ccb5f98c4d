"""Long, invented stories with a definite chronology, generated offline and deterministically.

The SORT task (which of two passages of a book came first?) needs long books that no model can
have read in pre-training, and that can be built without the network: with a real novel a model
might answer from memory instead of from the context. So we write our own. `narrative(seed,
n_words)` draws a cast with invented names, invented places and objects, and tells a chain of
episodes in strict chronological order. A day counter with seasons and years only moves forward
and drives time markers ("Three days later", "By the end of the winter", "On the morning after the
fire at the mill in Ashgrove"); characters travel, meet, buy, find, give and lose objects, arrive
and leave for good; later episodes refer back to earlier ones with exact day counts ("It had been
forty days since the flood at Millbrook"). A reader who remembers the story can tell which of two
passages came earlier; one who does not sees two plausible passages.

The text is plain prose: paragraphs of 3-8 sentences separated by blank lines, no headings, no
quotes, no digits (numbers are spelled out), no abbreviations with periods, and sentences of 6-30
words that start with a capital letter and end with . ! or ?, so `haystack.split_sentences` cuts
them exactly. Everything is drawn from `random.Random(derive_seed("narrative", seed))`, and the
story does not depend on `n_words`: a shorter text is a prefix of a longer one. `episodes(seed)`
yields the same story paragraph by paragraph, with the day each happens on and the characters it
introduces (for tests, and for builders that want the chronology itself).

The words are data: the word banks, sentence templates, event labels and time markers live in
content/narrative.toml (str.format templates with named slots; the file lists them). This module
keeps the world state, the draws and the rules that pick and fill a template.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Iterator

from data_builders._content import frozen, load
from data_builders.haystack import derive_seed

# --- the content ---------------------------------------------------------------------------------


@cache
def _content() -> dict[str, Any]:
    """content/narrative.toml, read once per process."""
    return frozen(load("narrative.toml"))


def _bank(name: str) -> tuple:
    return _content()["banks"][name]


def _sentences(key: str) -> tuple[str, ...]:
    return _content()["sentences"][key]


def _story_text(key: str) -> Any:
    return _content()["story"][key]


# --- numbers in words ------------------------------------------------------------------------------


def number_words(n: int) -> str:
    """0 <= n < 1000000 in words: 'forty-two', 'three hundred and six'."""
    ones, tens = _content()["numbers"]["ones"], _content()["numbers"]["tens"]
    if n < 20:
        return ones[n]
    if n < 100:
        return tens[n // 10 - 2] + ("-" + ones[n % 10] if n % 10 else "")
    if n < 1000:
        return ones[n // 100] + " hundred" + (" and " + number_words(n % 100) if n % 100 else "")
    return number_words(n // 1000) + " thousand" + (" " + number_words(n % 1000) if n % 1000 else "")


def ordinal_words(n: int) -> str:
    """1 -> 'first', 22 -> 'twenty-second', 40 -> 'fortieth'."""
    head, sep, last = number_words(n).rpartition("-" if n % 100 > 20 and n % 10 else " ")
    last = _content()["numbers"]["ordinals"].get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return head + sep + last


# --- the world -------------------------------------------------------------------------------------

DAYS_PER_SEASON = 91


def season_of(day: int) -> str:
    return _bank("seasons")[(day // DAYS_PER_SEASON) % 4]


def year_of(day: int) -> int:
    return day // (4 * DAYS_PER_SEASON) + 1


@dataclass(eq=False)
class _Place:
    name: str
    kind: str
    landmarks: tuple[str, ...]


@dataclass(eq=False)
class _Item:
    adj: str
    noun: str
    origin: str  # "from a pedlar in Ashgrove", for back references
    got_day: int  # when its present holder got it
    lost_at: _Place | None = None
    lost_by: "_Person | None" = None
    lost_day: int = 0

    @property
    def name(self) -> str:
        return f"the {self.adj} {self.noun}"


@dataclass(eq=False)
class _Person:
    first: str
    last: str
    job: tuple[str, str, str, str]
    trait: str
    she: bool
    home: _Place
    at: _Place
    items: list[_Item] = field(default_factory=list)
    introduced: bool = False
    weight: float = 1.0
    married: bool = False


@dataclass(frozen=True)
class _Event:
    label: str  # "the fire at the mill in Ashgrove"
    day: int


@dataclass(frozen=True)
class Episode:
    """One paragraph: the day it happens on (never decreasing), its sentences, and the characters
    whose names appear for the first time in it."""

    day: int
    sentences: tuple[str, ...]
    new_people: tuple[str, ...]


def _days(n: int) -> str:
    key = ("duration_none", "duration_one")[n] if n < 2 else "duration"
    return _content()["time"][key].format(n=number_words(n))


def _origin(how: str, **slots: str) -> str:
    """Where an item came from, for back references: 'from a pedlar in Ashgrove'."""
    return _story_text("origin_" + how).format(**slots)


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" or word.startswith("hon") else "a ") + word


class _Story:
    """The world state and the episode generator; every draw comes from one seeded Random.

    Episode handlers write sentences with `line()`, which also places the introduction of any
    character named for the first time right after the sentence that brought them in."""

    def __init__(self, seed: int):
        self.rng = rng = random.Random(derive_seed("narrative", seed))
        self.used: set[object] = set()  # names of people, places, the river, and (adj, noun) of items
        self.river = "the " + self._unique(lambda: self._compound("name_a", "river_b"))
        self.places = [self._place() for _ in range(rng.randint(7, 10))]
        self.day = rng.randint(0, 3 * DAYS_PER_SEASON - 1)
        self.cast: list[_Person] = []
        for k in range(rng.randint(5, 7)):
            self._person(self.places[0] if k < 3 else None, weight=4.0 if k < 2 else 1.5)
        backstory = rng.sample(_story_text("backstory"), 3)
        agos = sorted(rng.sample(range(30, 900), 3), reverse=True)
        label = _story_text("backstory_label")
        self.events = [_Event(label.format(what=what, place=where.name), self.day - ago)
                       for what, where, ago in zip(backstory, rng.sample(self.places, 3), agos)]
        self.lost: list[_Item] = []
        self.recent: list[str] = []
        self.focus = self.cast[0]  # the character the paragraph is about
        self.out: list[str] = []  # the sentences of the paragraph being written
        self.templates: set[str] = set()  # and the templates they came from
        self.when = self.when_short = ""  # its time marker, long and short
        self.new_people: list[str] = []
        self.pending: list[_Person] = []
        hero = self.cast[0]
        self.title = rng.choice(_bank("titles")).format(
            noun=rng.choice(_bank("title_nouns")), place=self.places[0].name, first=hero.first,
            river=self.river.title(), item=hero.items[0].name[4:].title(), job=hero.job[0].title())

    # -- makers
    def _compound(self, first: str, second: str) -> str:
        """An invented name: a draw from one bank of halves, then from another ('Ash' + 'grove')."""
        return self.pick(_bank(first)) + self.pick(_bank(second))

    def _unique(self, make):
        while (value := make()) in self.used:
            pass
        self.used.add(value)
        return value

    def _place(self) -> _Place:
        name = self._unique(lambda: self._compound("place_a", "place_b"))
        return _Place(name, self.pick(_bank("place_kinds")), tuple(self.rng.sample(_bank("landmarks"), 4)))

    def _item(self, origin: str, got_day: int) -> _Item:
        adj, noun = self._unique(lambda: (self.pick(_bank("item_adjectives")), self.pick(_bank("item_nouns"))))
        return _Item(adj, noun, origin, got_day)

    def _person(self, home: _Place | None = None, weight: float = 1.0) -> _Person:
        rng = self.rng
        first = self._unique(lambda: self._compound("name_a", "name_b"))
        she = rng.random() < (0.85 if first[-1] in "ae" else 0.2)
        home = home or rng.choice(self.places)
        taken = {q.job for q in self.cast}
        job = rng.choice([j for j in _bank("jobs") if j not in taken] or _bank("jobs"))
        last = self._compound("family_a", "family_b")
        p = _Person(first, last, job, rng.choice(_bank("traits")), she, home, home, weight=weight)
        got = self.day - rng.randint(20, 900)
        p.items.append(self._item(_origin("bought", trader=_a(rng.choice(_bank("traders"))), place=home.name), got))
        self.cast.append(p)
        return p

    # -- choosing
    def pick(self, seq):
        return self.rng.choice(seq)

    def someone(self, *, not_: tuple[_Person, ...] = (), at: _Place | None = None, new: bool = False) -> _Person | None:
        """A weighted choice from the cast; only a `new` choice may be someone not yet introduced."""
        people = [p for p in self.cast if p not in not_ and (at is None or p.at is at) and (new or p.introduced)]
        return self.rng.choices(people, [p.weight for p in people])[0] if people else None

    def other(self, *not_: _Person) -> _Person:
        """Someone else, introducing a new character when everyone known is taken."""
        q = self.someone(not_=not_) or self.someone(not_=not_, new=True)
        if q is None:
            return not_[0]
        self.introduce(q)
        return q

    def introduce(self, p: _Person, quietly: bool = False) -> None:
        """Mark p as named from now on; unless `quietly`, the next line() is followed by p's intro."""
        if not p.introduced:
            p.introduced = True
            self.new_people.append(p.first)
            if not quietly:
                self.pending.append(p)

    def earlier(self) -> _Event:
        # recent events come back more often, but old ones are remembered too
        return self.events[-1 - min(int(self.rng.expovariate(0.4)), len(self.events) - 1)]

    def since(self, e: _Event) -> str:
        d = self.day - e.day
        key = ("since_none", "since_one")[d] if d < 2 else "since"
        return _content()["time"][key].format(n=number_words(d), event=e.label)

    # -- sentences
    def say(self, template: str, p: _Person, q: _Person | None = None, **slots: str) -> str:
        s = template.format_map(_Slots(self, p, q, slots))
        return s[0].upper() + s[1:]

    def line(self, key: str, p: _Person, q: _Person | None = None, **slots: str) -> None:
        """Write a random template of `[sentences] key` (or `key` itself if it is a template), then any intros.

        A draw is redone if the sentence is not 6-30 words long, is already in the paragraph, or
        names the event that its time marker names; after three tries the marker is shortened."""
        for attempt in range(8):
            if attempt == 3 and "when" in slots:
                slots["when"] = self.when_short
            sl = _Slots(self, p, q, slots)
            template = key if " " in key else self.pick(_sentences(key))
            s = template.format_map(sl)
            s = s[0].upper() + s[1:]
            fresh = template not in self.templates and not any(e in self.when for e in sl.events)
            if fresh and 6 <= len(s.split()) <= 30:
                break
        self.templates.add(template)
        self.out.append(s)
        while self.pending:
            self.out.append(self.say(self.pick(_sentences("intro")), self.pending.pop(0)))

    def event(self, kind: str, p: _Person, q: _Person | None = None, **slots: str) -> None:
        """Record what just happened, under a label later paragraphs use to refer back to it."""
        self.events.append(_Event(_content()["labels"][kind].format_map(_Slots(self, p, q, slots)), self.day))

    # -- time
    def advance(self) -> str:
        """Move the day counter forward and return the time marker that opens the paragraph
        (`when_short` is a shorter one that says the same, for sentences that would be too long)."""
        rng, t = self.rng, _content()["time"]
        if not self.recent:
            self.when_short = t["first_short"]
            return self.say(self.pick(_sentences("first")), self.cast[0]).lower()
        delta = rng.choices((0, 1, rng.randint(2, 6), rng.randint(7, 13), rng.randint(14, 40)), (12, 30, 30, 14, 14))[0]
        old, self.day = self.day, self.day + delta
        last, day_in = self.events[-1], self.day % DAYS_PER_SEASON + 1
        ago = self.day - last.day
        sl = dict(season=season_of(self.day), old=season_of(old), year=ordinal_words(year_of(self.day)),
                  n=number_words(delta), weeks=number_words(delta // 7), ago=number_words(ago), last=last.label,
                  day=ordinal_words(day_in))
        sl["season_part"] = t["mid_season" if 30 < day_in < 60 else "into_season"].format(**sl)
        self.when_short = t[("short_same_day", "short_next_day")[delta] if delta < 2 else "short_days"].format(**sl)

        def marker(key: str) -> str:
            return self.pick(t[key]).format(**sl)

        if sl["old"] != sl["season"]:
            return marker("new_season")
        if delta == 0:
            return marker("same_day")
        if ago == 1 and rng.random() < 0.6:
            return marker("day_after")
        if 2 <= ago <= 30 and rng.random() < 0.3:
            return t["days_after"].format(**sl)
        if delta >= 7 and day_in > 75:
            return marker("season_end")
        if delta >= 7 and rng.random() < 0.4:
            return t["day_of_season"].format(**sl)
        if delta == 1:
            return marker("next_day")
        return marker("few_days" if delta < 7 else "week" if delta < 14 else "weeks")

    # -- episodes
    def episode(self) -> Episode:
        self.when = when = self.advance()
        self.out, self.new_people, self.templates = [], [], set()
        if not self.recent:  # the story opens with the two main characters meeting at home
            kind, p = "meet", self.cast[0]
        else:
            kinds = ["travel", "meet", "find", "lose", "work", "letter", "memory", "calamity", "season", "fair",
                     "newcomer", "wedding", "leave", "quarrel", "build", "illness"]
            weights = [14, 18, 9, 6, 10, 6, 6, 5, 3, 3, 3, 1, 2, 2, 2, 2]
            kind = self.rng.choices(kinds, [w / 4 if k in self.recent else w for k, w in zip(kinds, weights)])[0]
            p = self.someone(new=True)
        if kind != "newcomer":
            self.introduce(p)
        self.focus = p  # whom the detail sentences are about (a newcomer episode changes it)
        if getattr(self, "_" + kind)(when, p) is False:
            self._travel(when, p)
        p = self.focus
        self.recent = (self.recent + [kind])[-3:]
        target = min(8, max(3, len(self.out) + self.rng.choice((0, 0, 1, 1, 2, 3))))
        while len(self.out) < target and p in self.cast:  # details about the same character
            key = "colour_item" if p.items and self.rng.random() < 0.15 else "colour"
            self.line(key, p, self.other(p))
        return Episode(self.day, tuple(self.out[:8]), tuple(self.new_people))

    def _travel(self, when: str, p: _Person) -> None:
        src = p.at
        away = [q for q in self.places if q is not src]
        dst = p.home if src is not p.home and self.rng.random() < 0.4 else self.pick(away)
        days = self.rng.randint(1, 4)
        self.line("travel_start", p, dst=dst.name, when=when)
        self.line("travel_road", p, self.other(p), dst=dst.name, d=_days(days))
        self.day += days - 1
        p.at = dst
        host = self.someone(not_=(p,), at=dst, new=True)
        if host:
            self.introduce(host)
            self.line("travel_host", p, host, dst=dst.name, dlm=self.pick(dst.landmarks))
        else:
            self.line("travel_home" if dst is p.home else "travel_alone", p, dst=dst.name, kind=dst.kind,
                      dlm=self.pick(dst.landmarks))

    def _meet(self, when: str, p: _Person) -> None:
        q = self.someone(not_=(p,), at=p.at, new=True)
        came = q is None
        if came:
            q = self.someone(not_=(p,), new=True)
            came_from, q.at = q.at.name, p.at
        self.introduce(q)
        lm = self.pick(p.at.landmarks)
        self.line("meet_start", p, q, lm=lm, when=when)
        if came:
            self.line("meet_came", p, q, yfrom=came_from)
        slots = dict(past=self.earlier().label, goods=self.pick(_bank("goods")), town=self.pick(self.places).name,
                     debt=number_words(self.rng.randint(3, 90)), season=season_of(self.day),
                     topic=self.pick(_bank("topics")), place=p.at.name)  # drawn in this order
        topic = self.pick(_story_text("meet_topics")).format(**slots)
        self.line("meet_talk", p, q, topic=topic, lm=lm)
        self.line("meet_news", p, q)
        if q.items and self.rng.random() < 0.5:
            it = q.items.pop(self.rng.randrange(len(q.items)))
            p.items.append(it)
            it.origin, it.got_day = _origin("given", giver=q.first, lm=lm, place=p.at.name), self.day
            self.line("meet_give", p, q, item=it.name)

    def _find(self, when: str, p: _Person) -> None:
        lm = self.pick(p.at.landmarks)
        lost = [it for it in self.lost if it.lost_at is p.at and it.lost_by is not p]
        if not lost:
            it = self._item(_origin("bought", trader=_a(self.pick(_bank("traders"))), place=p.at.name), self.day)
            p.items.append(it)
            self.line("find_new", p, item=it.name, lm=lm, when=when)
            self.line("find_detail", p, self.other(p), noun=it.noun, adj=it.adj)
            return
        it, owner = lost[0], lost[0].lost_by
        self.lost.remove(it)
        self.line("find_lost", p, owner, item=it.name, lm=lm, when=when)
        self.line("find_known", p, owner, noun=it.noun, ago=number_words(self.day - it.lost_day))
        it.lost_at = it.lost_by = None
        if owner in self.cast and self.rng.random() < 0.5:
            it.origin, it.got_day = _origin("returned", finder=p.first, lm=lm), self.day
            owner.items.append(it)
            self.line("find_return", p, owner, item=it.name)
        else:
            it.origin, it.got_day = _origin("found", lm=lm, place=p.at.name), self.day
            p.items.append(it)
            self.line("find_keep", p, owner, noun=it.noun)

    def _lose(self, when: str, p: _Person) -> bool | None:
        if not p.items:
            return False
        it = p.items.pop(self.rng.randrange(len(p.items)))
        it.lost_at, it.lost_by, it.lost_day = p.at, p, self.day
        self.lost.append(it)
        lm = self.pick(p.at.landmarks)
        self.line("lose_start", p, item=it.name, lm=lm, when=when)
        self.line("lose_search", p, lm=lm, origin=it.origin, noun=it.noun, held=_days(self.day - it.got_day))
        self.line("lose_suspect", p, self.other(p), lm=lm, noun=it.noun)

    def _work(self, when: str, p: _Person) -> None:
        self.line("work_start", p, when=when)
        self.line("work_made", p)
        if self.rng.random() < 0.4:
            self.line("work_more", p)
        self.line("work_buyer", p, self.other(p))

    def _letter(self, when: str, p: _Person) -> bool | None:
        q = self.someone(not_=(p,))
        if q is None or q.at is p.at:
            return False
        for key in ("letter_start", "letter_body", "letter_end"):
            self.line(key, p, q, when=when)

    def _memory(self, when: str, p: _Person) -> None:
        self.line("memory_start", p, when=when)
        self.line("memory_since", p, self.other(p))

    def _story_event(self, kind: str, when: str, p: _Person, q: _Person | None = None, **slots: str) -> None:
        """A fixed three-sentence beat that becomes an event later paragraphs refer back to."""
        q = q or self.other(p)
        slots["lm"] = self.pick(p.at.landmarks)
        for template in _sentences(kind):
            self.line(template, p, q, when=when, **slots)
        self.event(kind, p, q, **slots)

    def _quarrel(self, when: str, p: _Person) -> None:
        self._story_event("quarrel", when, p)

    def _build(self, when: str, p: _Person) -> None:
        self._story_event("build", when, p, thing=self.pick(_bank("builds")))

    def _illness(self, when: str, p: _Person) -> None:
        self._story_event("illness", when, p)

    def _calamity(self, when: str, p: _Person) -> None:
        self._story_event(self.pick(_story_text("calamities")), when, p)

    def _season(self, when: str, p: _Person) -> None:
        self._story_event(season_of(self.day), when, p)

    def _fair(self, when: str, p: _Person) -> bool | None:
        if any(e.label.startswith(f"the {season_of(self.day)} fair") and self.day - e.day < 60 for e in self.events):
            return False
        self.line("fair_start", p, when=when)
        self.line("fair_do", p, self.other(p))
        self.event("fair", p)

    def _newcomer(self, when: str, p: _Person) -> None:
        if self.rng.random() < 0.3:
            self.places.append(self._place())
        p = self.focus = self._person(self.pick(self.places))
        self.introduce(p, quietly=True)  # the first sentence is the introduction
        far = self._unique(lambda: self._compound("place_a", "place_b"))
        self.line("newcomer_start", p, far=far, when=when)
        self.line("newcomer_detail", p, self.other(p))
        self.event("newcomer", p)

    def _wedding(self, when: str, p: _Person) -> bool | None:
        q = self.someone(not_=(p,), at=p.at)
        if p.married or q is None or q.married or p.she == q.she:
            return False
        p.married = q.married = True
        self._story_event("wedding", when, p, q)

    def _leave(self, when: str, p: _Person) -> bool | None:
        if p.weight > 1.5 or len(self.cast) < 6 or not p.items:
            return False
        self._story_event("leave", when, p)
        self.cast.remove(p)


def _pair(sl: "_Slots", key: str) -> str:
    animal, noise = sl.story.pick(_bank("animals"))
    sl["animal"], sl["noise"] = _a(animal), noise
    return sl[key]


def _draw(sl: "_Slots", bank: str) -> str:
    return sl.story.pick(_bank(bank))


def _pronoun(p: _Person, key: str) -> str:
    return _content()["pronouns"]["she" if p.she else "he"][key]


# How each slot is filled when the caller did not give it: a fresh draw for each sentence.
_FILL = dict(
    x=lambda sl: sl.p.first, x_full=lambda sl: f"{sl.p.first} {sl.p.last}",
    x_he=lambda sl: _pronoun(sl.p, "he"), x_his=lambda sl: _pronoun(sl.p, "his"),
    x_him=lambda sl: _pronoun(sl.p, "him"), woman=lambda sl: _pronoun(sl.p, "person"),
    y=lambda sl: sl.q.first, yat=lambda sl: sl.q.at.name, yhome=lambda sl: sl.q.home.name,
    yhe=lambda sl: _pronoun(sl.q, "he"), z=lambda sl: sl.story.other(sl.p, sl.q).first,
    place=lambda sl: sl.p.at.name, home=lambda sl: sl.p.home.name, lm=lambda sl: sl.story.pick(sl.p.at.landmarks),
    far=lambda sl: sl.story.pick([f for f in sl.story.places if f is not sl.p.at]).name,
    flm=lambda sl: _draw(sl, "landmarks"),
    past=lambda sl: sl.event().label, since=lambda sl: sl.story.since(sl.event()),
    n=lambda sl: number_words(sl.story.rng.randint(2, 40)), m=lambda sl: number_words(sl.story.rng.randint(2, 9)),
    season=lambda sl: season_of(sl.story.day),
    season2=lambda sl: _bank("seasons")[(sl.story.day // DAYS_PER_SEASON + 1) % 4],
    dayth=lambda sl: ordinal_words(sl.story.day % DAYS_PER_SEASON + 1),
    year=lambda sl: ordinal_words(year_of(sl.story.day)),
    weather=lambda sl: sl.story.pick(_content()["weather"][season_of(sl.story.day)]),
    nature=lambda sl: sl.story.pick(_content()["nature"][season_of(sl.story.day)]),
    river=lambda sl: sl.story.river, food=lambda sl: _draw(sl, "foods"), goods=lambda sl: _draw(sl, "goods"),
    box=lambda sl: _draw(sl, "containers"), a_box=lambda sl: _a(_draw(sl, "containers")),
    dir=lambda sl: _draw(sl, "directions"), route=lambda sl: _draw(sl, "routes"),
    sleep=lambda sl: _draw(sl, "sleeping_places"), hiding=lambda sl: _draw(sl, "hiding_places"),
    trader=lambda sl: _a(_draw(sl, "traders")), Trader=lambda sl: _a(_draw(sl, "traders")).capitalize(),
    source=lambda sl: _draw(sl, "water_sources"), feeling=lambda sl: _draw(sl, "feelings"),
    book=lambda sl: _draw(sl, "books").format_map(sl), chore=lambda sl: _draw(sl, "chores").format_map(sl),
    item=lambda sl: sl.p.items[-1].name if sl.p.items else _story_text("no_item"),
    origin=lambda sl: sl.p.items[-1].origin if sl.p.items else _story_text("no_item_origin"),
    held=lambda sl: _days(sl.story.day - sl.p.items[-1].got_day) if sl.p.items else _story_text("no_item_held"),
    job=lambda sl: sl.p.job[0], a_job=lambda sl: _a(sl.p.job[0]), shop=lambda sl: sl.p.job[1],
    products=lambda sl: sl.p.job[2], made=lambda sl: sl.p.job[3],
    trait=lambda sl: sl.p.trait, a_trait=lambda sl: _a(sl.p.trait),
    animal=lambda sl: _pair(sl, "animal"), noise=lambda sl: _pair(sl, "noise"),
)


class _Slots(dict):
    """format_map mapping for one sentence: the caller's slots, then `_FILL` draws, each made once."""

    def __init__(self, story: _Story, p: _Person, q: _Person | None, slots: dict[str, str]):
        super().__init__(slots)
        self.story, self.p, self.q = story, p, q or p
        self.events: list[str] = []  # labels of the earlier events this sentence names

    def event(self) -> _Event:
        e = self.story.earlier()
        self.events.append(e.label)
        return e

    def __missing__(self, key: str) -> str:
        self[key] = value = _FILL[key](self)
        return value


def episodes(seed: int) -> Iterator[Episode]:
    """The endless story for `seed`, one paragraph at a time, in chronological order."""
    story = _Story(seed)
    while True:
        yield story.episode()


def narrative(seed: int, n_words: int) -> tuple[str, str]:
    """(title, text): a story of at least n_words whitespace-separated words (and less than n_words + 200), deterministic in (seed, n_words); different seeds give different casts and stories."""
    story = _Story(seed)
    paragraphs: list[str] = []
    total = 0
    while total < n_words or not paragraphs:
        kept: list[str] = []
        for s in story.episode().sentences:
            if total >= n_words and len(kept) >= 3:  # the last paragraph stops early, but keeps 3 sentences
                break
            kept.append(s)
            total += len(s.split())
        paragraphs.append(" ".join(kept))
    return story.title, "\n\n".join(paragraphs)
