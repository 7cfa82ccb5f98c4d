"""LongMemEval-style memory items: a simulated user, evidence sessions and a question with a computed answer.

LongMemEval (Wu et al., ICLR 2025) asks a chat assistant one question about a long history of dated
user-assistant sessions. Its six question types are reproduced here: single-session-user (a fact the
user said), single-session-assistant (something the assistant said), single-session-preference (a
recommendation that should use the user's stated preferences; the answer is a rubric), multi-session
(pieces spread over 2-4 sessions that must be counted, summed or compared), temporal-reasoning (dates,
order and durations, from the session dates) and knowledge-update (a value that changed; the latest one
counts), plus abstention variants that ask about something closely related that was never said.

`make_item` draws a scenario for the type, fills it from the word banks with values drawn from the
`random.Random` it is given (nothing else: no global random, no hash()), writes the evidence sessions as
ordinary chats in which the user mentions the fact in passing while asking for help (the turns that hold
it are marked `has_answer`), and computes the answer and the deterministic scorer's gold from the drawn
values, never by hand: a count is the number of pieces planted, a day count the difference of the
sessions' `days_before`. Placing the sessions among fillers on a dated timeline, rendering and scoring
happen elsewhere (tasks/longmemeval.py).

The words and prose are data: data_builders/content/lme_items.toml holds the shared word banks and
lme_items_<type>.toml each scenario's chat turns, questions and answers as format strings with named slots
(plus the banks only that scenario draws from). This module keeps the draws, the slot values and the
arithmetic, in the order that makes the output byte-identical to the version with the prose inline
(tests/test_content_stable.py).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Callable

from ._content import frozen, load

QUESTION_TYPES = ("single-session-user", "single-session-assistant", "single-session-preference",
                  "multi-session", "temporal-reasoning", "knowledge-update")
CHECKS = ("contains", "number", "days", "abstain", "rubric")
MIN_DAYS = 8  # the smallest max_days any type accepts (weekly questions need a day 7)


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str
    has_answer: bool = False  # True on the turn(s) that hold the evidence


@dataclass(frozen=True)
class Evidence:
    days_before: int  # whole days before the question date on which this session happens (>= 1)
    turns: tuple[Turn, ...]  # starts with user, alternates, ends with assistant, 2-8 turns


@dataclass(frozen=True)
class Item:
    question_type: str  # one of QUESTION_TYPES (abstention items keep their type)
    abstention: bool
    question: str  # as the user would ask it
    answer: str  # for an LLM judge: the answer, the rubric (preference) or the explanation (abstention)
    gold: tuple[str, ...]  # what the deterministic scorer accepts (see CHECKS)
    check: str  # one of CHECKS
    evidence: tuple[Evidence, ...]
    facts: dict  # the planted facts, JSON-serialisable; always has "scenario", and "asked_about" for abstention


@dataclass(frozen=True)
class Persona:
    """The simulated user. Scenarios use these consistently (name, city, job, age, one sibling)."""

    name: str
    first_name: str
    gender: str  # "female" | "male"
    age: int
    city: str
    occupation: str
    sibling_relation: str  # "sister" | "brother"
    sibling_name: str


# --- the content files ---------------------------------------------------------------------------

# word banks shared by every type, then one file per question type (its scenarios' prose and banks)
_FILES = ("lme_items.toml", "lme_items_ssu.toml", "lme_items_ssa.toml", "lme_items_ssp.toml", "lme_items_ms.toml",
          "lme_items_tr.toml", "lme_items_ku.toml")


@functools.cache
def _content() -> dict:
    merged: dict = {}
    for name in _FILES:
        data = load(name)
        clash = merged.keys() & data.keys()
        if clash:
            raise ValueError(f"{name} redefines {', '.join(sorted(clash))}")
        merged.update(data)
    return frozen(merged)


def _bank(path: str):
    """A word bank by its dotted path in the content files ("months", "ssa_recipe.recipe_closers")."""
    value = _content()
    for key in path.split("."):
        value = value[key]
    return value


def _rows(path: str, *fields: str) -> tuple[tuple, ...]:
    """A bank of records (an array of tables) as tuples of the named fields, in that order."""
    return tuple(tuple(row[f] for f in fields) for row in _bank(path))


def _text(scenario: str) -> dict:
    """The prose of one scenario: format strings with {named} slots, or tuples of alternatives."""
    return _content()[scenario]


def _fill(template: str | tuple[str, ...], **slots) -> str | tuple[str, ...]:
    """A template (or every alternative of a tuple, before one is drawn) with its slots filled."""
    if isinstance(template, str):
        return template.format(**slots)
    return tuple(t.format(**slots) for t in template)


# --- word banks ----------------------------------------------------------------------------------

FEMALE_NAMES = _bank("female_names")
MALE_NAMES = _bank("male_names")
LAST_NAMES = _bank("last_names")
HOME_CITIES = _bank("home_cities")
OCCUPATIONS = _bank("occupations")
TRAVEL_CITIES = _bank("travel_cities")
MONTHS = _bank("months")
WEEKDAYS = _bank("weekdays")
PET_NAMES = _bank("pet_names")
DOG_BREEDS = _bank("dog_breeds")
CAT_BREEDS = _bank("cat_breeds")
CAR_MODELS = _bank("car_models")
CAR_COLORS = _bank("car_colors")
MAJORS = _bank("majors")
UNIVERSITIES = _bank("universities")
CLASSES = _bank("classes")
VENUES = _bank("venues")
COMMUTE_MODES = _bank("commute_modes")
ALLERGENS = _bank("allergens")
NEIGHBORHOODS = _bank("neighborhoods")
COMPANIES = _bank("companies")
# invented novels: (title, author, blurb)
BOOKS = _rows("books", "title", "author", "blurb")
BANDS = _bank("bands")
INSTRUMENTS = _bank("instruments")
TRAILS = _bank("trails")
FISH = _bank("fish")
BIG_FISH = _bank("big_fish")
RESTAURANT_NAMES = _bank("restaurant_names")
CUISINES = _rows("cuisines", "cuisine", "dish")
VOLUNTEER_PLACES = _rows("volunteer_places", "place", "what")

_NUM_WORDS = _bank("num_words")
_ORDINALS = _bank("ordinals")


# --- helpers --------------------------------------------------------------------------------------

def _words(n: int) -> str:
    return _NUM_WORDS[n] if 0 <= n < len(_NUM_WORDS) else str(n)


def _a(noun: str) -> str:
    vowel = noun[:1].lower() in "aeiou" and not noun.startswith(("UX", "uni", "Euro", "one"))
    return ("an " if vowel else "a ") + noun


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _pron(rng: random.Random) -> dict:
    if rng.random() < 0.5:
        return {"he": "she", "him": "her", "his": "her", "He": "She"}
    return {"he": "he", "him": "him", "his": "his", "He": "He"}


def _user(text: str, ans: bool = False) -> Turn:
    return Turn("user", text, ans)


_GREETINGS = _bank("greetings")


def _open(rng: random.Random, text: str) -> str:
    """A session's first message, sometimes with a greeting, as people write them."""
    return f"{rng.choice(_GREETINGS)} {text}" if rng.random() < 0.35 else text


def _user_open(rng: random.Random, text: str, ans: bool = False) -> Turn:
    return _user(_open(rng, text), ans)


def _bot(text: str, ans: bool = False) -> Turn:
    return Turn("assistant", text, ans)


def _session(days: int, *turns: Turn) -> Evidence:
    return Evidence(days, tuple(turns))


def _days(rng: random.Random, max_days: int, n: int) -> list[int]:
    """n distinct days in [1, max_days], earliest first (largest days_before first)."""
    return sorted(rng.sample(range(1, max_days + 1), n), reverse=True)


def _pick_other(rng: random.Random, bank, exclude) -> object:
    return rng.choice([x for x in bank if x not in exclude])


def _item(qt: str, scenario: str, abst: bool, question: str, evidence, facts: dict, *, answer: str = "",
          gold=(), check: str = "", abst_answer: str = "", asked_about: str = "") -> Item:
    facts = {"scenario": scenario, **facts}
    evidence = tuple(sorted(evidence, key=lambda e: -e.days_before))
    if abst:
        assert abst_answer.startswith("You did not mention") and asked_about
        facts["asked_about"] = asked_about
        return Item(qt, True, question, abst_answer, (abst_answer,), "abstain", evidence, facts)
    return Item(qt, False, question, answer, tuple(gold), check, evidence, facts)


# --- single-session-user --------------------------------------------------------------------------

SSU = "single-session-user"


def _ssu_pet(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssu_pet")
    kind = rng.choice(("dog", "cat"))
    other = "cat" if kind == "dog" else "dog"
    pet = rng.choice(PET_NAMES)
    breed = rng.choice(DOG_BREEDS if kind == "dog" else CAT_BREEDS)
    g = _pron(rng)
    he, him, his, He = g["he"], g["him"], g["his"], g["He"]
    if kind == "dog":
        first = rng.choice(_fill(txt["dog_first"], a_breed=_a(breed[0]), pet=pet, He=He, him=him, he=he))
        reply = _fill(txt["dog_reply"], pet=pet, he=he, his=his, him=him)
        follow = _fill(txt["dog_follow"], a_occupation=_a(p.occupation), he=he)
        follow_reply = _fill(txt["dog_follow_reply"], pet=pet)
    else:
        first = rng.choice(_fill(txt["cat_first"], a_breed=_a(breed[0]), pet=pet, he=he, him=him, breed=breed, his=his))
        reply = _fill(txt["cat_reply"], pet=pet, him=him, he=he, his=his)
        follow = txt["cat_follow"]
        follow_reply = _fill(txt["cat_follow_reply"], pet=pet, he=he)
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"kind": kind, "pet_name": pet, "breed": breed[0]}
    if rng.random() < 0.6:
        q, gold, facts["asked"] = _fill(txt["q_name"], kind=kind), (pet,), "name"
        answer = pet
    else:
        q, gold, facts["asked"] = _fill(txt["q_breed"], kind=kind), breed, "breed"
        answer = breed[0]
    if abst:
        q = rng.choice(_fill(txt["abst_q"], other=other))
    return _item(SSU, "ssu_pet", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], other=other, kind=kind, pet=pet, a_breed=_a(breed[0])),
                 asked_about=other)


def _ssu_car(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssu_car")
    model, color = rng.choice(CAR_MODELS), rng.choice(CAR_COLORS)
    miles = rng.choice((38, 45, 52, 61, 67, 74, 88, 93)) * 1000
    first = rng.choice(_fill(txt["first"], color=color, model=model, miles=miles))
    reply = txt["reply"]
    follow = _fill(txt["follow"], p=p)
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"model": model[0], "color": color[0], "miles": miles}
    if rng.random() < 0.5:
        q, gold, answer, facts["asked"] = txt["q_model"], model, _fill(txt["answer_model"], model=model), "model"
    else:
        q, gold, answer, facts["asked"] = txt["q_color"], color, _cap(color[0]), "color"
    if abst:
        q = rng.choice(txt["abst_q"])
    return _item(SSU, "ssu_car", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], color=color, model=model), asked_about="motorcycle")


def _ssu_degree(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssu_degree")
    major, uni = rng.choice(MAJORS), rng.choice(UNIVERSITIES)
    years = rng.randint(3, 12)
    first = _fill(txt["first"], a_occupation=_a(p.occupation), years_words=_words(years), uni=uni, major=major)
    reply = _fill(txt["reply"], years_words=_words(years))
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"major": major[0], "university": uni[0]}
    if rng.random() < 0.5:
        q = rng.choice(txt["q_major"])
        gold, answer, facts["asked"] = major, _cap(major[0]), "major"
    else:
        q, gold, answer, facts["asked"] = txt["q_university"], uni, _cap(uni[0]), "university"
    if abst:
        q = txt["abst_q"]
    return _item(SSU, "ssu_degree", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], uni=uni, major=major), asked_about="high school")


def _ssu_class(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssu_class")
    cls, venue, wd = rng.choice(CLASSES), rng.choice(VENUES), rng.choice(WEEKDAYS)
    other = _pick_other(rng, CLASSES, (cls,))
    first = rng.choice(_fill(txt["first"], cls=cls, venue=venue, wd=wd))
    reply = txt["reply"]
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"class": cls[0], "venue": venue[0], "weekday": wd}
    if rng.random() < 0.6:
        q, gold, answer, facts["asked"] = _fill(txt["q_venue"], cls=cls), venue, _cap(venue[0]), "venue"
    else:
        q = _fill(txt["q_weekday"], cls=cls)
        gold, answer, facts["asked"] = (wd, wd + "s"), wd, "weekday"
    if abst:
        q = rng.choice(_fill(txt["abst_q"], other=other))
    return _item(SSU, "ssu_class", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], other=other, cls=cls, venue=venue, wd=wd), asked_about=other[1])


def _ssu_commute(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssu_commute")
    minutes, mode = rng.choice(range(15, 80, 5)), rng.choice(COMMUTE_MODES)
    first = rng.choice(_fill(txt["first"], minutes=minutes, mode=mode))
    reply = _fill(txt["reply"], minutes=minutes)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"commute_minutes": minutes, "mode": mode}
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(txt["abst_q"])
    return _item(SSU, "ssu_commute", abst, q, ev, facts, answer=_fill(txt["answer"], minutes=minutes, mode=mode),
                 gold=(str(minutes),), check="number",
                 abst_answer=_fill(txt["abst_answer"], minutes=minutes, mode=mode), asked_about="gym")


def _ssu_wedding(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssu_wedding")
    rel, sib = p.sibling_relation, p.sibling_name
    other = "brother" if rel == "sister" else "sister"
    wcity = _pick_other(rng, TRAVEL_CITIES, (p.city,))
    first = rng.choice(_fill(txt["first"], rel=rel, sib=sib, wcity=wcity))
    reply = _fill(txt["reply"], wcity=wcity, sib=sib)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"relation": rel, "sibling_name": sib, "wedding_city": wcity}
    if rng.random() < 0.6:
        q, gold, answer, facts["asked"] = _fill(txt["q_city"], rel=rel), (wcity,), wcity, "city"
    else:
        q, gold, answer, facts["asked"] = _fill(txt["q_name"], rel=rel), (sib,), sib, "name"
    if abst:
        q = rng.choice(_fill(txt["abst_q"], other=other))
    return _item(SSU, "ssu_wedding", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], other=other, rel=rel, sib=sib, wcity=wcity), asked_about=other)


def _ssu_allergy(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssu_allergy")
    allergen = rng.choice(ALLERGENS)
    first = rng.choice(_fill(txt["first"], allergen=allergen, a_occupation=_a(p.occupation)))
    reply = _fill(txt["reply"], allergen=allergen)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(txt["abst_q"])
    return _item(SSU, "ssu_allergy", abst, q, ev, {"allergen": allergen[0]}, answer=_cap(allergen[0]),
                 gold=allergen, check="contains",
                 abst_answer=_fill(txt["abst_answer"], allergen=allergen),
                 asked_about="medication")


# --- single-session-assistant ---------------------------------------------------------------------

SSA = "single-session-assistant"

# (leftover ingredient, dish, aliases, oven temperature in F, minutes, how to make it with {temp} and {minutes})
_RECIPES = _rows("ssa_recipe.recipes", "ingredient", "dish", "aliases", "oven_f", "minutes", "how")


_RECIPE_CLOSERS = _bank("ssa_recipe.recipe_closers")
_RECIPE_FOLLOWS = _rows("ssa_recipe.recipe_follows", "user", "reply")


def _ssa_recipe(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssa_recipe")
    ingredient, dish, aliases, temp, minutes, how = rng.choice(_RECIPES)
    first = rng.choice(_fill(txt["first"], ingredient=ingredient, friend=rng.choice(FEMALE_NAMES + MALE_NAMES),
                             a_occupation=_a(p.occupation)))
    reply = _fill(txt["reply"], dish=dish, how=how.format(temp=temp, minutes=minutes),
                  closer=rng.choice(_RECIPE_CLOSERS))
    follow, follow_reply = rng.choice(_RECIPE_FOLLOWS)
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"ingredient": ingredient, "dish": dish, "oven_f": temp, "minutes": minutes}
    form = rng.choice(("dish", "dish", "temp", "minutes"))
    facts["asked"] = form
    if form == "dish":
        q = rng.choice(_fill(txt["q_dish"], ingredient=ingredient))
        gold, answer, check = (dish, *aliases), _cap(dish), "contains"
    elif form == "temp":
        q = _fill(txt["q_temp"], dish=dish)
        gold, answer, check = (str(temp),), f"{temp}°F", "number"
    else:
        q = _fill(txt["q_minutes"], dish=dish)
        gold, answer, check = (str(minutes),), _fill(txt["answer_minutes"], minutes=minutes), "number"
    if abst:
        q = rng.choice(_fill(txt["abst_q"], dish=dish))
    return _item(SSA, "ssa_recipe", abst, q, ev, facts, answer=answer, gold=gold, check=check,
                 abst_answer=_fill(txt["abst_answer"], dish=dish, temp=temp, minutes=minutes), asked_about="wine")


def _ssa_books(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssa_books")
    liked, *recs = rng.sample(BOOKS, 4)
    first = rng.choice(_fill(txt["first"], liked=liked))
    lines = "\n".join(_fill(txt["lines"], i_1=i + 1, t=t, a=a, b=b) for i, (t, a, b) in enumerate(recs))
    reply = _fill(txt["reply"], liked=liked, lines=lines)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"liked": liked[0], "recommended": [t for t, _, _ in recs]}
    if rng.random() < 0.6:
        k = rng.randrange(3)
        q = _fill(txt["q_title"], liked=liked, ordinal=_ORDINALS[k])
        title = recs[k][0]
        gold = (title,) + ((title[4:],) if title.startswith("The ") else ())
        answer, facts["asked"] = title, f"title #{k + 1}"
    else:
        k = rng.randrange(3)
        q = _fill(txt["q_author"], rec_title=recs[k][0])
        gold, answer, facts["asked"] = (recs[k][1], recs[k][1].split()[-1]), recs[k][1], "author"
    if abst:
        q = rng.choice(_fill(txt["abst_q"], liked=liked))
    titles = ", ".join(t for t, _, _ in recs[:2]) + f" and {recs[2][0]}"
    return _item(SSA, "ssa_books", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], titles=titles), asked_about="podcast")


# (activity, aliases, why)
_ACTIVITIES = _rows("ssa_itinerary.activities", "activity", "aliases", "why")


_EVENINGS = _bank("ssa_itinerary.evenings")


def _ssa_itinerary(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssa_itinerary")
    city = _pick_other(rng, TRAVEL_CITIES, (p.city,))
    month = rng.choice(MONTHS)
    acts = rng.sample(_ACTIVITIES, 3)
    first = rng.choice(_fill(txt["first"], city=city, month=month))
    evenings = rng.sample(_EVENINGS, 3)
    days_txt = "\n".join(_fill(txt["day_line"], i_1=i + 1, cap_a=_cap(a), why=why, ev=ev)
                         for i, ((a, _, why), ev) in enumerate(zip(acts, evenings)))
    reply = _fill(txt["reply"], city=city, days_txt=days_txt, month=month)
    follow = txt["follow"]
    follow_reply = _fill(txt["follow_reply"], city=city)
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"city": city, "days": [a for a, _, _ in acts]}
    k = rng.randrange(3)
    if rng.random() < 0.6:
        q = _fill(txt["q_activity"], city=city, ordinal=_ORDINALS[k])
        gold, answer, facts["asked"] = (acts[k][0], *acts[k][1]), _cap(acts[k][0]), f"day {k + 1}"
    else:
        q = _fill(txt["q_day"], city=city, activity=acts[k][0])
        gold = _fill(txt["gold_day"], k_1=k + 1, k_1_words=_words(k + 1), ordinal=_ORDINALS[k])
        answer, facts["asked"] = _fill(txt["answer_day"], k_1=k + 1), "which day"
    if abst:
        q = rng.choice(_fill(txt["abst_q"], city=city))
    names = ", ".join(a for a, _, _ in acts[:2]) + f" and {acts[2][0]}"
    return _item(SSA, "ssa_itinerary", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], city=city, names=names), asked_about="hotel")


# (exercise as written, keyword for abstention checks)
_EXERCISES = _rows("ssa_workout.exercises", "exercise", "keyword")


def _ssa_workout(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssa_workout")
    chosen = rng.sample(_EXERCISES, 5)
    plan, absent = chosen[:4], chosen[4]
    sets = [rng.choice((2, 3, 4)) for _ in plan]
    reps = [rng.choice((8, 10, 12, 15)) for _ in plan]
    first = rng.choice(_fill(txt["first"], p=p))
    lines = "\n".join(_fill(txt["lines"], cap_e=_cap(e), s=s, r=r) for (e, _), s, r in zip(plan, sets, reps))
    reply = _fill(txt["reply"], lines=lines)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"plan": [{"exercise": e, "sets": s, "reps": r} for (e, _), s, r in zip(plan, sets, reps)]}
    k = rng.randrange(4)
    if rng.random() < 0.5:
        q = _fill(txt["q_reps"], exercise=plan[k][0])
        gold, answer, facts["asked"] = (str(reps[k]),), _fill(txt["answer_reps"], reps=reps[k]), f"reps of {plan[k][0]}"
    else:
        q = _fill(txt["q_sets"], exercise=plan[k][0])
        gold, answer, facts["asked"] = (str(sets[k]),), _fill(txt["answer_sets"], sets=sets[k]), f"sets of {plan[k][0]}"
    if abst:
        q = rng.choice(_fill(txt["abst_q"], absent=absent))
    names = ", ".join(e for e, _ in plan[:3]) + f" and {plan[3][0]}"
    return _item(SSA, "ssa_workout", abst, q, ev, facts, answer=answer, gold=gold, check="number",
                 abst_answer=_fill(txt["abst_answer"], absent=absent, names=names), asked_about=absent[1])


_BUSINESS_NAMES = _bank("ssa_names.business_names")
_NAME_REASONS = _bank("ssa_names.name_reasons")


def _ssa_names(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssa_names")
    business = rng.choice(sorted(_BUSINESS_NAMES))
    names = rng.sample(_BUSINESS_NAMES[business], 4)
    reasons = rng.sample(_NAME_REASONS, 4)
    first = rng.choice(_fill(txt["first"], business=business, p=p, a_occupation=_a(p.occupation),
                             a_business=_a(business)))
    lines = "\n".join(f"{i + 1}. {n}: {r}." for i, (n, r) in enumerate(zip(names, reasons)))
    reply = _fill(txt["reply"], business=business, lines=lines)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    k = rng.randrange(4)
    q = _fill(txt["q"], ordinal=_ORDINALS[k], business=business)
    gold = (names[k],) + ((names[k][4:],) if names[k].startswith("The ") else ())
    if abst:
        q = rng.choice(_fill(txt["abst_q"], business=business))
    return _item(SSA, "ssa_names", abst, q, ev, {"business": business, "names": names, "asked": f"name #{k + 1}"},
                 answer=names[k], gold=gold, check="contains",
                 abst_answer=_fill(txt["abst_answer"], business=business, first_three=", ".join(names[:3]),
                                   names=names),
                 asked_about="slogan")


_GOALS = _bank("ssa_budget.goals")


def _ssa_budget(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssa_budget")
    goal = rng.choice(_GOALS)
    monthly = rng.choice(range(150, 925, 25))
    months = rng.randint(4, 18)
    have = rng.choice(range(200, 3100, 100))
    cost = have + monthly * months
    first = _fill(txt["first"], goal=goal, cost=cost, have=have, months=months)
    reply = _fill(txt["reply"], still_needed=cost - have, cost=cost, have=have, months=months, monthly=monthly)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    q = rng.choice(_fill(txt["q"], goal=goal))
    if abst:
        q = rng.choice(_fill(txt["abst_q"], goal=goal))
    return _item(SSA, "ssa_budget", abst, q, ev,
                 {"goal": goal, "cost": cost, "saved": have, "months": months, "monthly": monthly},
                 answer=_fill(txt["answer"], monthly=monthly), gold=(str(monthly),), check="number",
                 abst_answer=_fill(txt["abst_answer"], still_needed=cost - have, months=months, monthly=monthly),
                 asked_about="interest")


# language -> (destinations, ((meaning, phrase, *aliases), ...))
_PHRASES = _bank("ssa_phrases.phrases")


def _ssa_phrases(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssa_phrases")
    lang = rng.choice(sorted(_PHRASES))
    other = _pick_other(rng, sorted(_PHRASES), (lang,))
    places, phrases = _PHRASES[lang]
    place = rng.choice(places)
    taught = rng.sample(phrases, 3)
    first = rng.choice(_fill(txt["first"], place=place, lang=lang))
    lines = "\n".join(_fill(txt["lines"], ph=ph, m=m) for m, ph, *_ in taught)
    reply = _fill(txt["reply"], lang=lang, lines=lines)
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    meaning, phrase, *aliases = rng.choice(taught)
    q = _fill(txt["q"], lang=lang, meaning=meaning)
    if abst:
        q = _fill(txt["abst_q"], other=other, meaning=meaning)
    return _item(SSA, "ssa_phrases", abst, q, ev,
                 {"language": lang, "destination": place, "taught": {m: ph for m, ph, *_ in taught}, "asked": meaning},
                 answer=phrase, gold=(phrase, *aliases), check="contains",
                 abst_answer=_fill(txt["abst_answer"], other=other, lang=lang, place=place), asked_about=other)


# --- single-session-preference --------------------------------------------------------------------

SSP = "single-session-preference"


def _rubric(prefer: str, dislike: str) -> str:
    txt = _text("rubric")
    return _fill(txt["template"], prefer=prefer, dislike=dislike)


_DIETS = _bank("ssp_cooking.diets")
_PANTRIES = _bank("ssp_cooking.pantries")
_FLAVORS = _bank("ssp_cooking.flavors")


def _ssp_cooking(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssp_cooking")
    diet, cuisine, flavor = rng.choice(sorted(_DIETS)), rng.choice(sorted(_PANTRIES)), rng.choice(_FLAVORS)
    first = rng.choice(_fill(txt["first"], diet=diet, cuisine=cuisine, flavor=flavor))
    reply = _fill(txt["reply"], cuisine=cuisine, pantry=_PANTRIES[cuisine])
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    answer = _rubric(_fill(txt["prefer"], diet=diet, cuisine=cuisine, flavor=flavor),
                     _fill(txt["dislike"], avoid=_DIETS[diet]))
    return _item(SSP, "ssp_cooking", False, q, ev, {"diet": diet, "cuisine": cuisine, "flavor": flavor},
                 answer=answer, gold=(diet, cuisine, flavor), check="rubric")


_LANDSCAPES = _bank("ssp_travel.landscapes")
_OUTDOOR = _bank("ssp_travel.outdoor")
_LODGING = _bank("ssp_travel.lodging")


def _ssp_travel(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssp_travel")
    land, act, lodge = rng.choice(_LANDSCAPES), rng.choice(_OUTDOOR), rng.choice(_LODGING)
    first = rng.choice(_fill(txt["first"], land=land, act=act, lodge=lodge))
    reply = txt["reply"]
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    answer = _rubric(_fill(txt["prefer"], land=land, act=act, lodge=lodge),
                     txt["dislike"])
    return _item(SSP, "ssp_travel", False, q, ev, {"landscape": land[0], "activity": act[0], "lodging": lodge[0]},
                 answer=answer, gold=(*land, *act, *lodge), check="rubric")


_GENRES = _bank("ssp_reading.genres")
_BOOK_TRAITS = _bank("ssp_reading.book_traits")
_BOOK_DISLIKES = _bank("ssp_reading.book_dislikes")


def _ssp_reading(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssp_reading")
    genre, trait, dislike = rng.choice(_GENRES), rng.choice(_BOOK_TRAITS), rng.choice(_BOOK_DISLIKES)
    first = rng.choice(_fill(txt["first"], genre=genre, trait=trait, dislike=dislike))
    reply = txt["reply"]
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    answer = _rubric(_fill(txt["prefer"], genre=genre, trait=trait),
                     _fill(txt["dislike"], dislike=dislike))
    return _item(SSP, "ssp_reading", False, q, ev, {"genre": genre[0], "likes": trait[0], "dislikes": dislike},
                 answer=answer, gold=(*genre, *trait), check="rubric")


_INJURIES = _bank("ssp_fitness.injuries")
_LOW_IMPACT = _bank("ssp_fitness.low_impact")
_WORKOUT_TIME = _bank("ssp_fitness.workout_time")


def _ssp_fitness(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssp_fitness")
    injury, like, when = rng.choice(_INJURIES), rng.choice(_LOW_IMPACT), rng.choice(_WORKOUT_TIME)
    first = rng.choice(_fill(txt["first"], p=p, injury=injury, like=like, when=when))
    reply = txt["reply"]
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    answer = _rubric(_fill(txt["prefer"], like=like, injury=injury, when=when),
                     _fill(txt["dislike"], injury=injury))
    return _item(SSP, "ssp_fitness", False, q, ev, {"injury": injury[0], "likes": like[0], "time": when},
                 answer=answer, gold=(*like, "low-impact", injury[1]), check="rubric")


_CAMERA_BRANDS = _bank("ssp_photography.camera_brands")
_PHOTO_SUBJECTS = _bank("ssp_photography.photo_subjects")


def _ssp_photography(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssp_photography")
    brand = rng.choice(_CAMERA_BRANDS)
    subject, *keys, gear = rng.choice(_PHOTO_SUBJECTS)
    first = rng.choice(_fill(txt["first"], brand=brand, subject=subject, years_words=_words(rng.randint(2, 9)), p=p))
    reply = txt["reply"]
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    answer = _rubric(_fill(txt["prefer"], brand=brand, subject=subject, gear=gear),
                     _fill(txt["dislike"], subject=subject))
    return _item(SSP, "ssp_photography", False, q, ev, {"brand": brand, "subject": subject},
                 answer=answer, gold=(brand, subject, *keys), check="rubric")


_MUSIC_PAIRS = _rows("ssp_music.music_pairs", "instrument", "genre")


def _ssp_music(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssp_music")
    inst, genre = rng.choice(_MUSIC_PAIRS)
    first = rng.choice(_fill(txt["first"], inst=inst, genre=genre, p=p, years_words=_words(rng.randint(2, 9)),
                             a_occupation=_a(p.occupation)))
    reply = txt["reply"]
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    answer = _rubric(_fill(txt["prefer"], genre=genre, inst=inst),
                     _fill(txt["dislike"], genre=genre, inst=inst))
    return _item(SSP, "ssp_music", False, q, ev, {"instrument": inst, "genre": genre},
                 answer=answer, gold=(genre, inst), check="rubric")


_SOCIAL_LIKES = _bank("ssp_social.social_likes")
_SOCIAL_DISLIKES = _bank("ssp_social.social_dislikes")


def _ssp_social(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ssp_social")
    like, dislike = rng.choice(_SOCIAL_LIKES), rng.choice(_SOCIAL_DISLIKES)
    first = rng.choice(_fill(txt["first"], p=p, like=like, dislike=dislike))
    reply = txt["reply"]
    follow = txt["follow"]
    follow_reply = txt["follow_reply"]
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(txt["q"])
    answer = _rubric(_fill(txt["prefer"], like=like),
                     _fill(txt["dislike"], dislike=dislike))
    return _item(SSP, "ssp_social", False, q, ev, {"likes": like[0], "dislikes": dislike},
                 answer=answer, gold=(*like, "introvert", "introverted"), check="rubric")


# --- multi-session --------------------------------------------------------------------------------

MS = "multi-session"


def _pieces_days(rng: random.Random, max_days: int, lo: int = 2, hi: int = 4) -> list[int]:
    return _days(rng, max_days, rng.randint(lo, hi))


# instrument-agnostic practice chats: (user template with {inst}, assistant reply with {inst})
_PRACTICE_TOPICS = _rows("ms_instruments.practice_topics", "user", "reply")


def _ms_instruments(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ms_instruments")
    days = _pieces_days(rng, max_days)
    insts = rng.sample(INSTRUMENTS, len(days) + 1)
    played, skipped = insts[:-1], insts[-1]
    topics = rng.sample(_PRACTICE_TOPICS, len(days))
    where = rng.randrange(len(days))
    ev = []
    for i, (d, inst, (u, a)) in enumerate(zip(days, played, topics)):
        turns = [_user(u.format(inst=inst), True), _bot(a.format(inst=inst))]
        if i == where:
            turns += [_user(_fill(txt["turns_user"], skipped=skipped), True),
                      _bot(_fill(txt["turns_bot"], skipped=skipped))]
        ev.append(_session(d, *turns))
    n = len(played)
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(txt["abst_q"])
    names = ", ".join(_fill(txt["names"], x=x) for x in played[:-1]) + f" and the {played[-1]}"
    return _item(MS, "ms_instruments", abst, q, ev,
                 {"aggregate": "count", "pieces": played, "excluded": [skipped]},
                 answer=_fill(txt["answer"], n=n, names=names, skipped=skipped),
                 gold=(str(n),), check="number",
                 abst_answer=_fill(txt["abst_answer"], names=names), asked_about="concert")


_CONCERT_TOPICS = _rows("ms_tickets.concert_topics", "user", "reply")


def _ms_tickets(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ms_tickets")
    days = _pieces_days(rng, max_days)
    bands = rng.sample(BANDS, len(days) + 1)
    prices = [rng.choice(range(35, 185, 5)) for _ in days]
    topics = rng.sample(_CONCERT_TOPICS, len(days))
    skipped, skipped_price = bands[-1], rng.choice(range(40, 160, 5))
    where = rng.randrange(len(days))
    forms = rng.sample(range(4), len(days))
    ev = []
    for i, (d, band, price, (u, a), k) in enumerate(zip(days, bands, prices, topics, forms)):
        opener = _fill(txt["opener"], band=band, month=rng.choice(MONTHS), price=price, month2=rng.choice(MONTHS))[k]
        turns = [_user(f"{opener} {u}", True), _bot(a)]
        if i == where and rng.random() < 0.7:
            turns += [_user(_fill(txt["turns_user"], skipped=skipped, skipped_price=skipped_price), True),
                      _bot(txt["turns_bot"])]
        ev.append(_session(d, *turns))
    excluded = [skipped] if any(len(e.turns) > 2 for e in ev) else []
    total = sum(prices)
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(txt["abst_q"])
    parts = " + ".join(f"${x}" for x in prices)
    return _item(MS, "ms_tickets", abst, q, ev,
                 {"aggregate": "sum", "pieces": [{"band": b, "price": x} for b, x in zip(bands, prices)],
                  "excluded": excluded},
                 answer=f"${total} ({parts}).", gold=(str(total),), check="number",
                 abst_answer=_fill(txt["abst_answer"], parts=parts), asked_about="theater")


_BOOK_TOPICS = _rows("ms_books.book_topics", "user", "reply")


def _ms_books(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ms_books")
    days = _pieces_days(rng, max_days)
    books = rng.sample(BOOKS, len(days) + 1)
    finished, dropped = books[:-1], books[-1]
    topics = rng.sample(_BOOK_TOPICS, len(days))
    reactions = rng.sample(txt["reactions"], 4)
    where = rng.randrange(len(days))
    forms = rng.sample(range(4), len(days))
    ev = []
    for i, (d, (title, author, _), (u, a), k) in enumerate(zip(days, finished, topics, forms)):
        reaction = reactions[k]
        opener = _fill(txt["opener"], title=title, author=author, reaction=reaction)[k]
        turns = [_user(f"{opener} {u}", True), _bot(a)]
        if i == where:
            turns += [_user(_fill(txt["turns_user"], dropped=dropped), True),
                      _bot(txt["turns_bot"])]
        ev.append(_session(d, *turns))
    n = len(finished)
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(txt["abst_q"])
    titles = ", ".join(t for t, _, _ in finished[:-1]) + f" and {finished[-1][0]}"
    return _item(MS, "ms_books", abst, q, ev,
                 {"aggregate": "count", "pieces": [t for t, _, _ in finished], "excluded": [dropped[0]]},
                 answer=_fill(txt["answer"], n=n, titles=titles, dropped=dropped),
                 gold=(str(n),), check="number",
                 abst_answer=_fill(txt["abst_answer"], titles=titles), asked_about="audiobook")


def _ms_volunteer(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ms_volunteer")
    days = _pieces_days(rng, max_days)
    places = rng.sample(VOLUNTEER_PLACES, len(days) + 1)
    hours = [rng.choice((2, 3, 4, 5, 6)) for _ in days]
    skipped, skipped_hours = places[-1], rng.choice((2, 3, 4))
    asks = txt["asks"]
    replies = txt["replies"]
    order = rng.sample(range(len(asks)), len(days))
    where = rng.randrange(len(days))
    ev = []
    forms = rng.sample(range(4), len(days))
    for i, (d, (place, what), h, k, f) in enumerate(zip(days, places, hours, order, forms)):
        opener = _fill(txt["opener"], h_words=_words(h), place=place, what=what)[f]
        turns = [_user(f"{opener} {asks[k]}", True),
                 _bot(replies[k])]
        if i == where and rng.random() < 0.7:
            turns += [_user(_fill(txt["turns_user"], skipped_hours_words=_words(skipped_hours), skipped=skipped), True),
                      _bot(txt["turns_bot"])]
        ev.append(_session(d, *turns))
    excluded = [skipped[0]] if any(len(e.turns) > 2 for e in ev) else []
    total = sum(hours)
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(txt["abst_q"])
    parts = " + ".join(f"{h} ({pl})" for h, (pl, _) in zip(hours, places))
    return _item(MS, "ms_volunteer", abst, q, ev,
                 {"aggregate": "sum", "pieces": [{"place": pl, "hours": h} for (pl, _), h in zip(places, hours)],
                  "excluded": excluded},
                 answer=_fill(txt["answer"], total=total, parts=parts), gold=(str(total),), check="number",
                 abst_answer=_fill(txt["abst_answer"], parts=parts),
                 asked_about="tutoring")


_RESTAURANT_TOPICS = _rows("ms_restaurants.restaurant_topics", "user", "reply")


def _ms_restaurants(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ms_restaurants")
    days = _pieces_days(rng, max_days)
    names = rng.sample(RESTAURANT_NAMES, len(days) + 1)
    cuisines = rng.sample(CUISINES, len(days) + 2)
    used, skipped_cuisine, absent_cuisine = cuisines[:len(days)], cuisines[len(days)], cuisines[len(days) + 1]
    topics = rng.sample(_RESTAURANT_TOPICS, len(days))
    where = rng.randrange(len(days))
    ev = []
    forms = rng.sample(range(4), len(days))
    for i, (d, name, (cuisine, dish), (u, a), k) in enumerate(zip(days, names, used, topics, forms)):
        opener = _fill(txt["opener"], cuisine=cuisine, name=name, dish=dish, a_cuisine=_a(cuisine),
                       friend=rng.choice(FEMALE_NAMES + MALE_NAMES))[k]
        turns = [_user(f"{opener} {u.format(dish=dish)}", True), _bot(a.format(dish=dish))]
        if i == where:
            turns += [_user(_fill(txt["turns_user"], skipped_name=names[-1],
                                  a_skipped_cuisine=_a(skipped_cuisine[0])), True),
                      _bot(txt["turns_bot"])]
        ev.append(_session(d, *turns))
    n = len(used)
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(_fill(txt["abst_q"], absent_cuisine=absent_cuisine))
    tried = ", ".join(f"{nm} ({c})" for nm, (c, _) in zip(names, used))
    return _item(MS, "ms_restaurants", abst, q, ev,
                 {"aggregate": "count", "pieces": [{"name": nm, "cuisine": c} for nm, (c, _) in zip(names, used)],
                  "excluded": [names[-1]]},
                 answer=_fill(txt["answer"], n=n, tried=tried, skipped_name=names[-1]), gold=(str(n),),
                 check="number",
                 abst_answer=_fill(txt["abst_answer"], absent_cuisine=absent_cuisine, tried=tried),
                 asked_about=absent_cuisine[0])


_AQUARIUM_TOPICS = _rows("ms_aquarium.aquarium_topics", "user", "reply")


def _ms_aquarium(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ms_aquarium")
    days = _pieces_days(rng, max_days)
    fish = rng.sample(FISH, len(days))
    counts = [rng.randint(2, 8) for _ in days]
    big = rng.choice(BIG_FISH)
    topics = rng.sample(_AQUARIUM_TOPICS, len(days))
    where = rng.randrange(len(days))
    ev = []
    forms = rng.sample(range(4), len(days))
    for i, (d, f, n, (u, a), k) in enumerate(zip(days, fish, counts, topics, forms)):
        opener = _fill(txt["opener"], n_words=_words(n), f=f)[k]
        turns = [_user(f"{opener} {u}", True), _bot(a)]
        if i == where and rng.random() < 0.7:
            turns += [_user(_fill(txt["turns_user"], a_big=_a(big)), True),
                      _bot(txt["turns_bot"])]
        ev.append(_session(d, *turns))
    excluded = [big] if any(len(e.turns) > 2 for e in ev) else []
    total = sum(counts)
    q = rng.choice(txt["q"])
    if abst:
        q = rng.choice(txt["abst_q"])
    parts = ", ".join(f"{n} {f}" for n, f in zip(counts, fish))
    return _item(MS, "ms_aquarium", abst, q, ev,
                 {"aggregate": "sum", "pieces": [{"fish": f, "count": n} for f, n in zip(fish, counts)],
                  "excluded": excluded},
                 answer=_fill(txt["answer"], total=total, parts=parts), gold=(str(total),), check="number",
                 abst_answer=_fill(txt["abst_answer"], parts=parts),
                 asked_about="snail")


_HIKE_TOPICS = _rows("ms_hikes.hike_topics", "user", "reply")


def _ms_hikes(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ms_hikes")
    days = _pieces_days(rng, max_days)
    trails = rng.sample(TRAILS, len(days))
    miles = rng.sample(range(3, 15), len(days))
    topics = rng.sample(_HIKE_TOPICS, len(days))
    forms = rng.sample(range(4), len(days))
    openers = txt["openers"]
    ev = [_session(d, _user(openers[k].format(t=t[0], m=_words(m)) + " " + u, True), _bot(a))
          for d, t, m, (u, a), k in zip(days, trails, miles, topics, forms)]
    k = max(range(len(days)), key=lambda i: miles[i])
    facts = {"aggregate": "max", "pieces": [{"trail": t[0], "miles": m} for t, m in zip(trails, miles)]}
    if rng.random() < 0.6:
        q = rng.choice(txt["q_trail"])
        answer = _fill(txt["answer_trail"], longest_trail=trails[k][0], longest_miles=miles[k])
        gold, check = trails[k], "contains"
    else:
        q = txt["q_miles"]
        answer = _fill(txt["answer_miles"], longest_miles=miles[k], longest_trail=trails[k][0])
        gold, check = (str(miles[k]),), "number"
    if abst:
        q = rng.choice(txt["abst_q"])
    parts = ", ".join(_fill(txt["parts"], t=t, m=m) for t, m in zip(trails, miles))
    return _item(MS, "ms_hikes", abst, q, ev, facts, answer=answer, gold=gold, check=check,
                 abst_answer=_fill(txt["abst_answer"], parts=parts),
                 asked_about="bike")


# --- temporal-reasoning ---------------------------------------------------------------------------

TR = "temporal-reasoning"


@dataclass(frozen=True)
class _Event:
    key: str  # a word that appears in this event's session and in no other event's
    base: str  # "renew my passport"
    past: str  # "renewed my passport"
    ger: str  # "renewing my passport"
    whens: tuple[str, ...]
    users: tuple[str, ...]  # phrasings with {when} and the slots of _event_slots
    reply: str

    def aliases(self) -> tuple[str, ...]:
        forms = (self.ger, self.past, self.base)
        return tuple(dict.fromkeys((*forms, *(f.replace(" my ", " your ") for f in forms), self.key)))

    def you(self, form: str) -> str:
        return getattr(self, form).replace(" my ", " your ")


_VEGETABLES = _bank("vegetables")
_HALF_TIMES = _bank("half_times")
_FILLINGS = _bank("fillings")


def _event_slots(p: Persona, rng: random.Random) -> dict:
    friend = rng.choice([n for n in FEMALE_NAMES + MALE_NAMES if n not in (p.first_name, p.sibling_name)])
    return {"occupation": p.occupation, "band": rng.choice(BANDS), "home": p.city, "name": friend,
            "city": _pick_other(rng, TRAVEL_CITIES, (p.city,)), "month": rng.choice(MONTHS),
            "company": rng.choice(COMPANIES)[0], "car": rng.choice(CAR_MODELS)[0], "veg": rng.choice(_VEGETABLES),
            "color": rng.choice(CAR_COLORS)[0], "half_time": rng.choice(_HALF_TIMES), "fillings": rng.choice(_FILLINGS),
            "pet": rng.choice(PET_NAMES)}


_EVENTS = tuple(_Event(*row) for row in _rows("tr.events", "key", "base", "past", "ger", "whens", "users", "reply"))

_TR_FORMS = ("between", "first", "last", "days_ago", "weeks_ago", "weeks_between", "first_of_three")


def _event_session(e: _Event, day: int, p: Persona, rng: random.Random) -> Evidence:
    text = rng.choice(e.users).format(when=rng.choice(e.whens), **_event_slots(p, rng))
    return _session(day, _user(text, True), _bot(e.reply))


def _tr_scenario(form: str) -> Callable[[Persona, random.Random, bool, int], Item]:
    def scenario(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
        txt = _text("tr")
        n = 3 if form == "first_of_three" else 2
        chosen = rng.sample(_EVENTS, n + 1)
        present, absent = chosen[:n], chosen[n]
        if form == "weeks_ago":
            d0 = 7 * rng.randint(1, max_days // 7)
            days = [d0, rng.choice([d for d in range(1, max_days + 1) if d != d0])]
        elif form == "weeks_between":
            k = rng.randint(1, (max_days - 1) // 7)
            lo = rng.randint(1, max_days - 7 * k)
            days = [lo, lo + 7 * k]
            rng.shuffle(days)
        else:
            days = rng.sample(range(1, max_days + 1), n)
        ev = [_event_session(e, d, p, rng) for e, d in zip(present, days)]
        a, b = present[0], present[1]
        da, db = days[0], days[1]
        facts = {"form": form, "events": [{"event": e.ger, "keyword": e.key, "days_before": d}
                                          for e, d in zip(present, days)]}
        x = absent  # what an abstention question asks about instead
        if form in ("between", "weeks_between"):
            unit = "days" if form == "between" else "weeks"
            q = _fill(txt["q_between"], unit=unit, a=a, b=b)
            diff = abs(da - db)
            if form == "between":
                gold, check, answer = (str(diff),), "days", _fill(txt["answer_days_between"], diff=diff)
            else:
                answer = _fill(txt["answer_weeks_between"], diff_weeks=diff // 7, diff=diff)
                gold, check = (str(diff // 7),), "number"
            abst_q = _fill(txt["abst_q_between"], unit=unit, a=a, x=x)
        elif form in ("first", "last"):
            pair = [a, b] if rng.random() < 0.5 else [b, a]
            if form == "first":
                q = rng.choice(_fill(txt["q_first"], pair=pair))
                win = a if da > db else b
            else:
                q = rng.choice(_fill(txt["q_last"], pair=pair))
                win = a if da < db else b
            facts["choices"] = [e.ger for e in pair]
            gold, check = win.aliases(), "contains"
            lose = b if win is a else a
            dw, dl = (da, db) if win is a else (db, da)
            answer = _fill(txt["answer_first" if form == "first" else "answer_last"], cap_winner=_cap(win.you("ger")),
                           dw=dw, loser=lose.you("ger"), dl=dl)
            abst_q = (_fill(txt["abst_q_first"], a=a, x=x) if form == "first"
                      else _fill(txt["abst_q_last"], a=a, x=x))
        elif form == "first_of_three":
            order = rng.sample(range(3), 3)
            names = [present[i] for i in order]
            q = _fill(txt["q_first_of_three"], names=names)
            win = present[max(range(3), key=lambda i: days[i])]
            facts["choices"] = [e.ger for e in names]
            gold, check = win.aliases(), "contains"
            answer = _fill(txt["answer_first_of_three"], cap_winner=_cap(win.you('ger')), max_days=max(days))
            abst_q = _fill(txt["abst_q_first_of_three"], a=a, x=x, b=b)
        else:  # days_ago / weeks_ago: about the first present event; the other is a distractor
            if form == "days_ago":
                q = rng.choice(_fill(txt["q_days_ago"], a=a))
                gold, check, answer = (str(da),), "days", _fill(txt["answer_days_ago"], da=da)
                abst_q = _fill(txt["abst_q_days_ago"], x=x)
            else:
                q = _fill(txt["q_weeks_ago"], a=a)
                gold, check, answer = (str(da // 7),), "number", _fill(txt["answer_weeks_ago"], weeks=da // 7, da=da)
                abst_q = _fill(txt["abst_q_weeks_ago"], x=x)
        if abst:
            q = abst_q
        told = ", ".join(e.you("ger") for e in present[:-1]) + f" and {present[-1].you('ger')}"
        return _item(TR, f"tr_{form}", abst, q, ev, facts, answer=answer, gold=gold, check=check,
                     abst_answer=_fill(txt["abst_answer"], absent_event=x.you('ger'), told=told),
                     asked_about=x.key)

    scenario.__name__ = f"_tr_{form}"
    return scenario


# --- knowledge-update -----------------------------------------------------------------------------

KU = "knowledge-update"


def _ku_days(rng: random.Random, max_days: int) -> tuple[int, int]:
    old, new = _days(rng, max_days, 2)
    return old, new


def _distinct_numbers(rng: random.Random, draw: Callable[[], tuple[int, int]]) -> tuple[int, int]:
    while True:
        a, b = draw()
        if a != b and str(a) not in str(b) and str(b) not in str(a):
            return a, b


def _ku_item(scenario: str, abst: bool, q: str, abst_q: str, old_ev: Evidence, new_ev: Evidence, old, new,
             gold, check: str, answer: str, abst_answer: str, asked_about: str, **facts) -> Item:
    facts = {"old": old, "new": new, "old_days_before": old_ev.days_before, "new_days_before": new_ev.days_before,
             **facts}
    return _item(KU, scenario, abst, abst_q if abst else q, [old_ev, new_ev], facts, answer=answer, gold=gold,
                 check=check, abst_answer=abst_answer, asked_about=asked_about)


def _ku_5k(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ku_5k")
    old, new = _distinct_numbers(rng, lambda: (m := rng.randint(24, 36), m - rng.randint(1, 4)))
    d_old, d_new = _ku_days(rng, max_days)
    old_text = rng.choice(_fill(txt["old_ev_user"], old=old, p=p, friend=rng.choice(FEMALE_NAMES + MALE_NAMES)))
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot(txt["old_ev_bot"]))
    new_ev = _session(d_new, _user_open(rng, rng.choice(_fill(txt["new_ev_user"], new=new)), True),
                      _bot(txt["new_ev_bot"]))
    return _ku_item("ku_5k", abst, rng.choice(txt["q"]),
                    rng.choice(txt["abst_q"]),
                    old_ev, new_ev, old, new, (str(new),), "number",
                    _fill(txt["answer"], new=new, old=old),
                    _fill(txt["abst_answer"], new=new), "marathon")


def _ku_move(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ku_move")
    old, new = rng.sample(NEIGHBORHOODS, 2)
    d_old, d_new = _ku_days(rng, max_days)
    old_text = _fill(txt["old_text"], old=old, p=p)
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot(txt["old_ev_bot"]))
    new_text = _fill(txt["new_text"], new=new)
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot(txt["new_ev_bot"]))
    rel = p.sibling_relation
    return _ku_item("ku_move", abst, rng.choice(txt["q"]),
                    _fill(txt["abst_q"], rel=rel), old_ev, new_ev, old, new, (new,), "contains",
                    _fill(txt["answer"], new=new, old=old),
                    _fill(txt["abst_answer"], rel=rel, old=old, new=new),
                    rel)


def _ku_job(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ku_job")
    old, new = rng.sample(COMPANIES, 2)
    d_old, d_new = _ku_days(rng, max_days)
    occ = _a(p.occupation)
    old_text = _fill(txt["old_text"], occ=occ, old=old)
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot(txt["old_ev_bot"]))
    new_text = _fill(txt["new_text"], new=new, occ=occ)
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot(txt["new_ev_bot"]))
    return _ku_item("ku_job", abst, rng.choice(txt["q"]),
                    rng.choice(txt["abst_q"]),
                    old_ev, new_ev, old[0], new[0], new, "contains",
                    _fill(txt["answer"], new=new, old=old),
                    _fill(txt["abst_answer"], old=old, new=new), "partner")


def _ku_plants(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ku_plants")
    old, new = _distinct_numbers(rng, lambda: (m := rng.randint(4, 14), m + rng.randint(2, 6)))
    d_old, d_new = _ku_days(rng, max_days)
    old_ev = _session(d_old, _user_open(rng, rng.choice(_fill(txt["old_ev_user"], old_words=_words(old), p=p)), True),
                      _bot(txt["old_ev_bot"]))
    new_text = rng.choice(_fill(txt["new_ev_user"], new_words=_words(new),
                                friend=rng.choice(FEMALE_NAMES + MALE_NAMES)))
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot(txt["new_ev_bot"]))
    return _ku_item("ku_plants", abst, rng.choice(txt["q"]),
                    rng.choice(txt["abst_q"]),
                    old_ev, new_ev, old, new, (str(new),), "number", _fill(txt["answer"], new=new, old=old),
                    _fill(txt["abst_answer"], new=new, old=old),
                    "succulent")


def _ku_rent(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ku_rent")
    old, new = _distinct_numbers(rng, lambda: (r := rng.choice(range(600, 925, 25)),
                                               r + rng.choice(range(25, 200, 25))))
    d_old, d_new = _ku_days(rng, max_days)
    old_text = rng.choice(_fill(txt["old_ev_user"], old=old, p=p, friend=rng.choice(FEMALE_NAMES + MALE_NAMES),
                                a_occupation=_a(p.occupation)))
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot(txt["old_ev_bot"]))
    new_ev = _session(d_new, _user_open(rng, rng.choice(_fill(txt["new_ev_user"], new=new)), True),
                      _bot(txt["new_ev_bot"]))
    return _ku_item("ku_rent", abst, rng.choice(txt["q"]),
                    rng.choice(txt["abst_q"]),
                    old_ev, new_ev, old, new, (str(new),), "number", _fill(txt["answer"], new=new, old=old),
                    _fill(txt["abst_answer"], new=new),
                    "parking")


def _ku_pet_weight(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ku_pet_weight")
    pet, breed = rng.choice(PET_NAMES), rng.choice(DOG_BREEDS)[0]
    g = _pron(rng)
    old, new = _distinct_numbers(rng, lambda: (w := rng.randint(8, 30), w + rng.randint(3, 15)))
    d_old, d_new = _ku_days(rng, max_days)
    old_text = _fill(txt["old_text"], breed=breed, pet=pet, old=old, g=g)
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot(_fill(txt["old_ev_bot"], pet=pet, g=g)))
    new_text = _fill(txt["new_text"], pet=pet, g=g, new=new)
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot(_fill(txt["new_ev_bot"], pet=pet, g=g)))
    return _ku_item("ku_pet_weight", abst, rng.choice(_fill(txt["q"], pet=pet)),
                    rng.choice(txt["abst_q"]),
                    old_ev, new_ev, old, new, (str(new),), "number", _fill(txt["answer"], new=new, old=old),
                    _fill(txt["abst_answer"], pet=pet, new=new), "cat", pet_name=pet)


def _ku_reading(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    txt = _text("ku_reading")
    (old, old_author, _), (new, new_author, _) = rng.sample(BOOKS, 2)
    d_old, d_new = _ku_days(rng, max_days)
    old_text = _fill(txt["old_text"], old=old, old_author=old_author)
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot(txt["old_ev_bot"]))
    new_text = _fill(txt["new_text"], old=old, new=new, new_author=new_author)
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot(txt["new_ev_bot"]))
    gold = (new,) + ((new[4:],) if new.startswith("The ") else ())
    return _ku_item("ku_reading", abst, rng.choice(txt["q"]),
                    rng.choice(txt["abst_q"]),
                    old_ev, new_ev, old, new, gold, "contains",
                    _fill(txt["answer"], new=new, new_author=new_author, old=old),
                    _fill(txt["abst_answer"], new=new, new_author=new_author), "podcast")


# --- the public API -------------------------------------------------------------------------------

_SCENARIOS: dict[str, tuple[Callable[[Persona, random.Random, bool, int], Item], ...]] = {
    SSU: (_ssu_pet, _ssu_car, _ssu_degree, _ssu_class, _ssu_commute, _ssu_wedding, _ssu_allergy),
    SSA: (_ssa_recipe, _ssa_books, _ssa_itinerary, _ssa_workout, _ssa_names, _ssa_budget, _ssa_phrases),
    SSP: (_ssp_cooking, _ssp_travel, _ssp_reading, _ssp_fitness, _ssp_photography, _ssp_music, _ssp_social),
    MS: (_ms_instruments, _ms_tickets, _ms_books, _ms_volunteer, _ms_restaurants, _ms_aquarium, _ms_hikes),
    TR: tuple(_tr_scenario(f) for f in _TR_FORMS),
    KU: (_ku_5k, _ku_move, _ku_job, _ku_plants, _ku_rent, _ku_pet_weight, _ku_reading),
}


def scenario_names(question_type: str) -> tuple[str, ...]:
    """The scenario templates of a type (what facts["scenario"] can be)."""
    return tuple(f.__name__.lstrip("_") for f in _SCENARIOS[question_type])


def draw_persona(rng: random.Random) -> Persona:
    gender = rng.choice(("female", "male"))
    first = rng.choice(FEMALE_NAMES if gender == "female" else MALE_NAMES)
    relation = rng.choice(("sister", "brother"))
    sibling = rng.choice([n for n in (FEMALE_NAMES if relation == "sister" else MALE_NAMES) if n != first])
    return Persona(name=f"{first} {rng.choice(LAST_NAMES)}", first_name=first, gender=gender, age=rng.randint(24, 64),
                   city=rng.choice(HOME_CITIES), occupation=rng.choice(OCCUPATIONS), sibling_relation=relation,
                   sibling_name=sibling)


def make_item(question_type: str, abstention: bool, persona: Persona, rng: random.Random, max_days: int = 120) -> Item:
    """One item of `question_type`, its evidence within `max_days` days before the question date."""
    if question_type not in _SCENARIOS:
        raise ValueError(f"unknown question type {question_type!r}; known: {', '.join(QUESTION_TYPES)}")
    if abstention and question_type == SSP:
        raise ValueError("single-session-preference has no abstention items (as in LongMemEval)")
    if max_days < MIN_DAYS:
        raise ValueError(f"max_days must be at least {MIN_DAYS}, got {max_days}")
    scenario = rng.choice(_SCENARIOS[question_type])
    return scenario(persona, rng, bool(abstention), max_days)
