"""LongMemEval-style memory items: a simulated user, evidence sessions and a question with a computed answer.

LongMemEval (Wu et al., ICLR 2025) asks a chat assistant one question about a long history of dated
user-assistant sessions. Its six question types are reproduced here: single-session-user (a fact the
user said), single-session-assistant (something the assistant said), single-session-preference (a
recommendation that should use the user's stated preferences; the answer is a rubric), multi-session
(pieces spread over 2-4 sessions that must be counted, summed or compared), temporal-reasoning (dates,
order and durations, from the session dates) and knowledge-update (a value that changed; the latest one
counts), plus abstention variants that ask about something closely related that was never said.

`make_item` draws a scenario for the type, fills it from the word banks below with values drawn from the
`random.Random` it is given (nothing else: no global random, no hash()), writes the evidence sessions as
ordinary chats in which the user mentions the fact in passing while asking for help (the turns that hold
it are marked `has_answer`), and computes the answer and the deterministic scorer's gold from the drawn
values, never by hand: a count is the number of pieces planted, a day count the difference of the
sessions' `days_before`. Placing the sessions among fillers on a dated timeline, rendering and scoring
happen elsewhere (tasks/longmemeval.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

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


# --- word banks ----------------------------------------------------------------------------------

FEMALE_NAMES = ("Emma", "Olivia", "Maya", "Priya", "Sofia", "Hannah", "Chloe", "Aisha", "Grace", "Nora", "Leah",
                "Zoe", "Isabel", "Mei", "Ana", "Claire", "Fatima", "Julia", "Tessa", "Naomi", "Rosa", "Ingrid",
                "Keiko", "Lauren", "Danielle", "Amara", "Bethany", "Carmen", "Elena", "Yasmin")
MALE_NAMES = ("Liam", "Noah", "Ethan", "Arjun", "Mateo", "Daniel", "Samuel", "Omar", "Lucas", "Owen", "Henry",
              "Jonah", "Kenji", "Diego", "Marcus", "Felix", "Tomas", "Ravi", "Caleb", "Isaac", "Hugo", "Andre",
              "Malik", "Ben", "Patrick", "Wei", "Nathan", "Elijah", "Victor", "Rafael")
LAST_NAMES = ("Carter", "Nguyen", "Patel", "Garcia", "Kowalski", "Okafor", "Lindqvist", "Moreau", "Tanaka",
              "Reyes", "Schmidt", "Brennan", "Haddad", "Silva", "O'Connor", "Fischer", "Khan", "Rossi", "Murphy",
              "Alvarez", "Novak", "Chen", "Adeyemi", "Larsen", "Dubois", "Park", "Mendes", "Whitaker", "Cohen",
              "Sato")
HOME_CITIES = ("Denver", "Portland", "Austin", "Chicago", "Seattle", "Boston", "Toronto", "Melbourne", "Dublin",
               "Manchester", "Atlanta", "San Diego", "Minneapolis", "Philadelphia", "Pittsburgh", "Nashville",
               "Phoenix", "Sacramento", "Baltimore", "Raleigh", "Columbus", "Madison", "Ottawa", "Brisbane",
               "Leeds", "Calgary")
OCCUPATIONS = ("nurse", "software engineer", "science teacher", "accountant", "graphic designer", "pharmacist",
               "project manager", "physical therapist", "line cook", "electrician", "marketing coordinator",
               "data analyst", "librarian", "architect", "veterinary technician", "paralegal", "social worker",
               "civil engineer", "UX researcher", "payroll specialist")
TRAVEL_CITIES = ("Lisbon", "Kyoto", "Barcelona", "Prague", "Vienna", "Copenhagen", "Mexico City", "Buenos Aires",
                 "Seoul", "Marrakesh", "Istanbul", "Reykjavik", "Budapest", "Amsterdam", "Edinburgh", "Hanoi",
                 "Cape Town", "Montreal", "Florence", "Athens", "Savannah", "New Orleans", "Santa Fe", "Quebec City")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PET_NAMES = ("Biscuit", "Maple", "Pepper", "Juniper", "Waffles", "Mochi", "Luna", "Olive", "Ziggy", "Pickles",
             "Clementine", "Bruno", "Hazel", "Otis", "Nacho", "Pretzel", "Tofu", "Rosie", "Bramble", "Sprocket",
             "Poppy", "Kiwi", "Dumpling", "Rocket", "Marble", "Toffee")
DOG_BREEDS = (("beagle",), ("golden retriever", "golden"), ("border collie",), ("dachshund",), ("corgi",),
              ("labrador retriever", "labrador", "lab"), ("boxer",), ("shiba inu", "shiba"), ("cocker spaniel",),
              ("greyhound",), ("bernese mountain dog", "bernese"), ("whippet",))
CAT_BREEDS = (("Maine Coon",), ("Siamese",), ("ragdoll",), ("Bengal",), ("British Shorthair",), ("Russian Blue",),
              ("Abyssinian",), ("Scottish Fold",), ("Sphynx",))
CAR_MODELS = (("Honda Civic", "Civic"), ("Toyota RAV4", "RAV4"), ("Subaru Outback", "Outback"),
              ("Mazda CX-5", "CX-5"), ("Hyundai Elantra", "Elantra"), ("Kia Soul",), ("Volkswagen Golf", "VW Golf"),
              ("Toyota Prius", "Prius"), ("Subaru Forester", "Forester"), ("Ford Fiesta", "Fiesta"),
              ("Nissan Leaf",), ("Honda Fit",))
CAR_COLORS = (("silver",), ("dark blue", "blue"), ("red",), ("white",), ("forest green", "green"),
              ("charcoal gray", "gray", "charcoal"), ("black",), ("burgundy",))
MAJORS = (("biology",), ("economics",), ("art history",), ("mechanical engineering",), ("psychology",),
          ("English literature",), ("chemistry",), ("political science",), ("philosophy",),
          ("environmental science",), ("linguistics",), ("statistics",))
UNIVERSITIES = (("the University of Michigan", "University of Michigan"), ("Boston University",),
                ("UC Davis",), ("Ohio State", "Ohio State University"), ("McGill", "McGill University"),
                ("Rutgers", "Rutgers University"), ("Arizona State", "Arizona State University"), ("Penn State",),
                ("the University of Georgia", "University of Georgia"), ("Northeastern", "Northeastern University"),
                ("the University of Leeds", "University of Leeds"), ("Purdue", "Purdue University"))
CLASSES = (("pottery", "pottery"), ("salsa dancing", "salsa"), ("watercolor painting", "watercolor"),
           ("rock climbing", "climbing"), ("improv comedy", "improv"), ("woodworking", "woodworking"),
           ("aerial yoga", "yoga"), ("Japanese cooking", "cooking"), ("jewelry making", "jewelry"),
           ("figure drawing", "drawing"))
VENUES = (("the Riverside Community Center", "Riverside Community Center", "Riverside"),
          ("Blue Door Studio", "Blue Door"), ("the Eastside Arts Collective", "Eastside Arts Collective", "Eastside"),
          ("Maple Street Studio", "Maple Street"), ("the Foundry", "Foundry"), ("Harbor Arts Center", "Harbor Arts"),
          ("Lantern House",), ("the Greenwood Rec Center", "Greenwood Rec Center", "Greenwood"),
          ("Copperline Studio", "Copperline"), ("the Kestrel Workshop", "Kestrel Workshop", "Kestrel"))
COMMUTE_MODES = ("the train", "the bus", "the ferry", "the light rail", "the subway", "the streetcar")
ALLERGENS = (("peanuts", "peanut"), ("shellfish",), ("sesame",), ("tree nuts", "tree nut"), ("eggs", "egg"),
             ("soy",), ("kiwi",), ("mustard",), ("celery",))
NEIGHBORHOODS = ("Maple Heights", "Riverside", "Cedar Park", "Lakeview", "Westgate", "Hillcrest", "Brookside",
                 "Elm Grove", "Harbor Point", "Fairview", "Sunnyside", "Ashbury", "Kingsmoor", "Willowdale")
COMPANIES = (("Northwind Logistics", "Northwind"), ("Brightline Health", "Brightline"),
             ("Cobalt Analytics", "Cobalt"), ("Harborview Medical", "Harborview"), ("Greenleaf Foods", "Greenleaf"),
             ("Bluebird Media", "Bluebird"), ("Keystone Engineering", "Keystone"),
             ("Lakeshore Insurance", "Lakeshore"), ("Redwood Software", "Redwood"), ("Tidewater Energy", "Tidewater"),
             ("Orchard Lane Design", "Orchard Lane"), ("Vantage Robotics", "Vantage"))
# invented novels: (title, author, blurb)
BOOKS = (("The Salt Road", "Mara Ellison", "a quiet mystery about a missing ferry captain on a tidal island"),
         ("Glass Orchard", "Tobias Wren", "a family saga told across three generations of apple growers"),
         ("The Cartographer's Daughter", "Ines Halloway", "an adventure about a girl finishing her father's last map"),
         ("Low Tide at Kettering", "Daniel Okonkwo", "a tense legal thriller set in a fading seaside town"),
         ("Paper Lanterns", "Keiko Marsh", "linked stories about the regulars of a tiny noodle shop"),
         ("The Long Quiet", "Ruth Callander", "a survival story aboard a failing polar research station"),
         ("Wolves of Ember Hill", "Ashton Pike", "a fantasy about a reluctant heir and a pact with the forest"),
         ("Second Harvest", "Leila Moradi", "a warm novel about a widow who opens a farm-to-table diner"),
         ("The Clockmaker's Ledger", "Felix Brandt", "a historical mystery in nineteenth-century Vienna"),
         ("Northern Static", "Jonah Avery", "the story of a radio operator at a remote Arctic outpost"),
         ("A Map of Small Fires", "Priya Natarajan", "a coming-of-age novel set during one long, dry summer"),
         ("The Quiet Hours", "Eleanor Voss", "a psychological thriller about a night-shift switchboard operator"),
         ("Under the Linden", "Marta Kowal", "a love story set in a rebuilt city after the war"),
         ("Foxglove and Iron", "Ada Merriweather", "a gaslamp fantasy about an apothecary's apprentice"),
         ("The Ninth Lighthouse", "Colm Farrelly", "a puzzle-box mystery about a lighthouse keeper's diaries"),
         ("Drift Season", "Sana Qureshi", "a literary novel about two sisters running a failing surf shop"))
BANDS = ("Velvet Harbor", "The Lantern Choir", "Northbound Static", "Marigold Riot", "Quiet Oceans", "Saint Juniper",
         "The Hollow Pines", "Paper Satellites", "Wildflower Union", "The Midnight Ferns", "Golden Static",
         "Cassidy Rowe", "The Amber Lines", "Lowland Echo")
INSTRUMENTS = ("ukulele", "acoustic guitar", "piano", "violin", "cello", "drums", "saxophone", "flute", "trumpet",
               "banjo", "mandolin", "clarinet", "bass guitar", "harmonica")
TRAILS = (("Eagle Ridge Trail", "Eagle Ridge"), ("Cedar Falls Loop", "Cedar Falls"), ("Blue Lake Trail", "Blue Lake"),
          ("Hawk Point Loop", "Hawk Point"), ("Miller Canyon Trail", "Miller Canyon"),
          ("Fox Hollow Trail", "Fox Hollow"), ("Granite Peak Trail", "Granite Peak"),
          ("Willow Creek Loop", "Willow Creek"), ("Bear Meadow Trail", "Bear Meadow"),
          ("Saddleback Ridge Trail", "Saddleback Ridge"))
FISH = ("neon tetras", "guppies", "corydoras catfish", "platies", "zebra danios", "harlequin rasboras",
        "cherry barbs", "honey gouramis", "otocinclus")
BIG_FISH = ("pufferfish", "angelfish", "oscar", "bala shark", "jack dempsey")
RESTAURANT_NAMES = ("Saffron House", "Blue Lantern", "Little Fig", "Ember and Rye", "The Copper Pot",
                    "Juniper Table", "Red Door Kitchen", "Olive and Salt", "Two Rivers", "Bright Spoon",
                    "Golden Thread", "Mango Tree", "Stone Bowl", "Corner Hearth")
CUISINES = (("Ethiopian", "doro wat"), ("Peruvian", "lomo saltado"), ("Vietnamese", "bun cha"),
            ("Korean", "bibimbap"), ("Lebanese", "shawarma plate"), ("Georgian", "khachapuri"),
            ("Sichuan", "mapo tofu"), ("Oaxacan", "mole negro"), ("Thai", "khao soi"), ("Greek", "moussaka"),
            ("Malaysian", "nasi lemak"), ("Turkish", "iskender kebab"))
VOLUNTEER_PLACES = (("food bank", "sorting donations and packing boxes"),
                    ("animal shelter", "walking the older animals and cleaning kennels"),
                    ("community garden", "weeding beds and building a new compost bin"),
                    ("park cleanup", "picking up litter along the river path"),
                    ("soup kitchen", "serving lunch and washing up"),
                    ("habitat build", "framing walls for a new house"),
                    ("senior center", "running a board-game afternoon"))

_NUM_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
              "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty")
_ORDINALS = ("first", "second", "third", "fourth")


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


_GREETINGS = ("Hi!", "Hey there.", "Quick question.", "Morning!", "Hope you can help.", "Hi again.",
              "Okay, random one.", "Hello!", "Hey, got a minute?", "Evening!")


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
    kind = rng.choice(("dog", "cat"))
    other = "cat" if kind == "dog" else "dog"
    pet = rng.choice(PET_NAMES)
    breed = rng.choice(DOG_BREEDS if kind == "dog" else CAT_BREEDS)
    g = _pron(rng)
    he, him, his, He = g["he"], g["him"], g["his"], g["He"]
    if kind == "dog":
        first = rng.choice((
            f"I just adopted {_a(breed[0])} named {pet} last week, so any tips for crate training would help. "
            f"{He} cries for the first hour every night.",
            f"We brought home {_a(breed[0])} puppy on Saturday and named {him} {pet}. I'd love some advice on "
            f"crate training, because right now {he} treats the crate like a punishment.",
        ))
        reply = (f"Congratulations on bringing {pet} home! Crate training goes much faster when the crate feels like a "
                 f"den rather than a jail. Start by leaving the door open and tossing a few treats or a favourite chew "
                 f"inside so {he} wanders in on {his} own. Feed meals in the crate, and close the door for just a "
                 f"minute or two at first while you stay in the room. At night, put the crate next to your bed so "
                 f"{he} can hear and smell you; an old T-shirt inside helps too. Take {him} out right before bed and "
                 f"once in the middle of the night for the first few weeks. Never use the crate as punishment, and "
                 f"try not to open the door while {he} is crying, or {he} will learn that crying works.")
        follow = (f"That helps. I work as {_a(p.occupation)}, so some days I'm out for a long time. How long can {he} "
                  f"stay in the crate?")
        follow_reply = (f"A common rule of thumb is that a puppy can hold it for about one hour per month of age, up to "
                        f"four or five hours for a young dog, so a full workday is too long on its own. On longer days, a "
                        f"dog walker or a neighbour who stops by at midday makes a big difference. You can also set up a "
                        f"small pen with the crate open inside it, so {pet} has room to stretch, a water bowl and a pee "
                        f"pad in the far corner.")
    else:
        first = rng.choice((
            f"I adopted {_a(breed[0])} named {pet} two weeks ago, and {he} keeps scratching the arm of my sofa. "
            f"How do I get {him} to use a scratching post instead?",
            f"My new {breed[0]}, {pet}, has decided the sofa is {his} personal scratching board. Any tricks to "
            f"redirect {him} before the whole thing is shredded?",
        ))
        reply = (f"Scratching is normal, healthy behaviour, so the goal is to redirect it rather than stop it. Put a "
                 f"sturdy, tall post right next to the spot {pet} likes on the sofa; cats prefer posts that don't "
                 f"wobble and are tall enough for a full stretch, and sisal rope is a favourite texture. Make the sofa "
                 f"less appealing for a while with double-sided tape or a throw. Rub a little catnip or silvervine on "
                 f"the post and reward {him} with a treat the moment {he} uses it. Trimming {his} claws every couple "
                 f"of weeks also reduces the damage while {he} learns.")
        follow = "Should I get a second post for the bedroom too?"
        follow_reply = (f"Yes, it usually helps to have one scratching spot in every room where {pet} spends a lot of "
                        f"time, especially near where {he} sleeps, because cats like to stretch and scratch right after "
                        f"waking up. It doesn't have to be another tall post: a flat cardboard scratcher on the floor is "
                        f"cheap, and some cats actually prefer scratching horizontally.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"kind": kind, "pet_name": pet, "breed": breed[0]}
    if rng.random() < 0.6:
        q, gold, facts["asked"] = f"What is the name of my {kind}?", (pet,), "name"
        answer = pet
    else:
        q, gold, facts["asked"] = f"What breed is my {kind}?", breed, "breed"
        answer = breed[0]
    if abst:
        q = rng.choice((f"What is the name of my {other}?", f"What breed is my {other}?"))
    return _item(SSU, "ssu_pet", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=f"You did not mention a {other}; you only talked about your {kind}, {pet}, "
                             f"{_a(breed[0])}.", asked_about=other)


def _ssu_car(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    model, color = rng.choice(CAR_MODELS), rng.choice(CAR_COLORS)
    miles = rng.choice((38, 45, 52, 61, 67, 74, 88, 93)) * 1000
    first = rng.choice((
        f"I just bought a used {color[0]} {model[0]} with about {miles:,} miles on it. Can you help me put together "
        f"a simple maintenance schedule so I don't neglect anything?",
        f"So I finally did it: I bought a {color[0]} {model[0]}, secondhand, around {miles:,} miles. I know nothing "
        f"about car maintenance. What should I be doing and when?",
    ))
    reply = ("Nice purchase! For a used car at that mileage, a simple schedule looks like this: change the oil and "
             "filter every 5,000 to 7,500 miles (the owner's manual gives the exact interval and oil type); rotate the "
             "tires every other oil change; replace the engine air filter roughly every 15,000 miles and the cabin "
             "filter once a year; check tire pressure monthly; and flush the brake fluid every two to three years. "
             "Since you don't know the full history, it's worth paying for a baseline inspection now, so you start "
             "with a clean slate and know which fluids and parts were done recently.")
    follow = f"Good idea. Should I go to the dealership or an independent shop here in {p.city}?"
    follow_reply = ("For routine work like oil changes, brakes and tires, a well-reviewed independent shop is usually "
                    "cheaper and just as good, and you often get to talk to the mechanic who actually works on the car. "
                    "Use the dealership for recalls and anything still under warranty. Ask friends and neighbours who "
                    "they trust, check recent local reviews, and start with a small job like an oil change to see how "
                    "they treat you before you need a big repair.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"model": model[0], "color": color[0], "miles": miles}
    if rng.random() < 0.5:
        q, gold, answer, facts["asked"] = "What car did I buy recently?", model, f"A used {model[0]}", "model"
    else:
        q, gold, answer, facts["asked"] = "What color is the car I bought?", color, _cap(color[0]), "color"
    if abst:
        q = rng.choice(("What color is my motorcycle?", "What model is my motorcycle?"))
    return _item(SSU, "ssu_car", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=f"You did not mention a motorcycle; you only talked about the used {color[0]} "
                             f"{model[0]} you bought.", asked_about="motorcycle")


def _ssu_degree(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    major, uni = rng.choice(MAJORS), rng.choice(UNIVERSITIES)
    years = rng.randint(3, 12)
    first = (f"I'm updating my resume. I've been working as {_a(p.occupation)} for about {_words(years)} years, but "
             f"I graduated from {uni[0]} with a degree in {major[0]}, and I'd like that background to count for more. "
             f"How should I structure the education section?")
    reply = (f"With {_words(years)} years of experience, your work history should lead, and education can sit below "
             f"it. Still, you can make the degree work harder: list the degree, school and graduation year on one line, "
             f"then add one or two bullets that connect it to the roles you want now, such as a research project, a "
             f"thesis topic or coursework in analysis or writing. In your summary at the top, mention the combination "
             f"explicitly; an unusual mix of degree and job is a real selling point when you frame it as a strength "
             f"rather than a detour.")
    follow = "Should I include my GPA?"
    follow_reply = ("Only if it's strong and recent. After several years in the workforce, recruiters care far more "
                    "about what you have done on the job, so the GPA usually takes space you could use for an "
                    "achievement. Honours, awards or a relevant thesis are better signals. If an application form asks "
                    "for it directly, just answer honestly there instead of putting it on the resume.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"major": major[0], "university": uni[0]}
    if rng.random() < 0.5:
        q = rng.choice(("What did I major in?", "What subject is my degree in?"))
        gold, answer, facts["asked"] = major, _cap(major[0]), "major"
    else:
        q, gold, answer, facts["asked"] = "Which university did I graduate from?", uni, _cap(uni[0]), "university"
    if abst:
        q = "What was the name of my high school?"
    return _item(SSU, "ssu_degree", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=f"You did not mention your high school; you only said you graduated from {uni[0]} with a "
                             f"degree in {major[0]}.", asked_about="high school")


def _ssu_class(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    cls, venue, wd = rng.choice(CLASSES), rng.choice(VENUES), rng.choice(WEEKDAYS)
    other = _pick_other(rng, CLASSES, (cls,))
    first = rng.choice((
        f"I started taking {cls[0]} classes at {venue[0]} on {wd} evenings, and I love it, but I'm so wired "
        f"afterwards that I barely sleep. Any tips for winding down after an evening class?",
        f"Every {wd} night I have my {cls[0]} class at {venue[0]}, and afterwards my brain just won't switch off. "
        f"How can I wind down faster so I'm not exhausted at work the next morning?",
    ))
    reply = ("That buzz is really common after anything social and absorbing in the evening. A few things help: give "
             "yourself a fixed wind-down routine when you get home, such as a shower, dim lights and the same calm "
             "activity each time, so your body learns the cue. Avoid screens for the first half hour, or at least "
             "switch on night mode. Have a light snack if you're hungry, but skip caffeine after mid-afternoon on class "
             "days. If your thoughts keep racing, write down the three things you enjoyed or want to try next week; "
             "getting them on paper makes it easier to let go.")
    follow = "Would a short walk after class help, or would that wake me up even more?"
    follow_reply = ("A short, easy walk usually helps rather than hurts, as long as it's gentle. Ten or fifteen "
                    "minutes at a relaxed pace lets your heart rate settle and gives you a transition between the "
                    "class and home. Keep it low-key: no podcasts that get you thinking, just a calm route. If you "
                    "notice it energises you instead, try slow breathing at home instead.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"class": cls[0], "venue": venue[0], "weekday": wd}
    if rng.random() < 0.6:
        q, gold, answer, facts["asked"] = f"Where do I take my {cls[0]} classes?", venue, _cap(venue[0]), "venue"
    else:
        q = f"Which day of the week is my {cls[0]} class?"
        gold, answer, facts["asked"] = (wd, wd + "s"), wd, "weekday"
    if abst:
        q = rng.choice((f"Where do I take my {other[0]} classes?", f"Which day of the week is my {other[0]} class?"))
    return _item(SSU, "ssu_class", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=f"You did not mention {other[0]} classes; you only talked about your {cls[0]} class at "
                             f"{venue[0]} on {wd}s.", asked_about=other[1])


def _ssu_commute(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    minutes, mode = rng.choice(range(15, 80, 5)), rng.choice(COMMUTE_MODES)
    first = rng.choice((
        f"Can you recommend some podcasts for my commute? It's about {minutes} minutes each way on {mode}, so "
        f"episodes around that length would be perfect. I like history and science.",
        f"I spend about {minutes} minutes each way on {mode} getting to work and I'm tired of scrolling my phone. "
        f"What kind of podcasts or audio would make that time feel useful? History and science are my thing.",
    ))
    reply = (f"A ride of about {minutes} minutes is a great slot for audio. For history, look for narrative shows that "
             f"tell one self-contained story per episode, such as The Rest Is History or Revisionist History, so you "
             f"can finish an episode on the way in and start a new one on the way home. For science, Radiolab, Science "
             f"Vs and Ologies are entertaining without needing your full attention. If an episode runs long, most "
             f"podcast apps let you bump the speed up a little, and a queue saves you from choosing on a crowded "
             f"platform.")
    follow = "Do you think listening at faster speed actually works, or do I lose too much?"
    follow_reply = ("For conversational shows, most people adapt to somewhere around 1.2 to 1.5 times speed within a "
                    "week and keep nearly everything. Dense or heavily produced episodes lose more, because pauses and "
                    "music carry meaning there. A good approach is to raise the speed gradually and drop back for "
                    "anything you really want to remember.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"commute_minutes": minutes, "mode": mode}
    q = rng.choice(("How many minutes is my commute to work each way?", "How long does my commute to work take?"))
    if abst:
        q = rng.choice(("How long is my drive to the gym?", "How many minutes does it take me to get to the gym?"))
    return _item(SSU, "ssu_commute", abst, q, ev, facts, answer=f"About {minutes} minutes each way, on {mode}.",
                 gold=(str(minutes),), check="number",
                 abst_answer=f"You did not mention a gym; you only said your commute to work is about {minutes} "
                             f"minutes each way on {mode}.", asked_about="gym")


def _ssu_wedding(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    rel, sib = p.sibling_relation, p.sibling_name
    other = "brother" if rel == "sister" else "sister"
    wcity = _pick_other(rng, TRAVEL_CITIES, (p.city,))
    first = rng.choice((
        f"My {rel} {sib} is getting married in {wcity} next month, and I'm stuck on a gift. Everything affordable on "
        f"the registry is gone. Any ideas for something more personal, maybe around $150?",
        f"I need a wedding gift idea. My {rel} {sib} is getting married in {wcity} soon and I want something "
        f"personal rather than another kitchen gadget. Budget is about $150.",
    ))
    reply = (f"How lovely! A few personal ideas in that range: a custom illustration of the wedding venue or of "
             f"{wcity}'s skyline, framed; a recipe book of family recipes that you collect from relatives, with a "
             f"short note from each person; an experience for the two of them, like a cooking class or a hot-air "
             f"balloon ride, for after the honeymoon; or a set of good wine glasses engraved with their initials and "
             f"the date. Whatever you choose, a handwritten letter about your memories with {sib} will probably be "
             f"the part they keep longest.")
    follow = "I love the recipe book idea. How do I collect recipes without spoiling the surprise?"
    follow_reply = ("Ask relatives privately by email or message and give them a clear deadline about three weeks "
                    "before the wedding. A simple form with fields for the recipe, the story behind it and an optional "
                    "photo keeps everything consistent. Tell everyone it's a secret, and use an online photo-book "
                    "service or a local print shop to bind it; most need a week or two to print.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    facts = {"relation": rel, "sibling_name": sib, "wedding_city": wcity}
    if rng.random() < 0.6:
        q, gold, answer, facts["asked"] = f"Where is my {rel}'s wedding taking place?", (wcity,), wcity, "city"
    else:
        q, gold, answer, facts["asked"] = f"What is my {rel}'s name?", (sib,), sib, "name"
    if abst:
        q = rng.choice((f"What is my {other}'s name?", f"Where is my {other}'s wedding taking place?"))
    return _item(SSU, "ssu_wedding", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=f"You did not mention a {other}; you only talked about your {rel} {sib}, who is getting "
                             f"married in {wcity}.", asked_about=other)


def _ssu_allergy(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    allergen = rng.choice(ALLERGENS)
    first = rng.choice((
        f"I'm trying to get into meal prepping for the work week. One complication: I'm allergic to {allergen[0]}, "
        f"so I have to read every label. Can you suggest a simple Sunday prep plan for lunches?",
        f"Can you help me plan a week of packed lunches? I work long days as {_a(p.occupation)} and I'm allergic to "
        f"{allergen[0]}, which rules out a lot of ready-made stuff.",
    ))
    reply = (f"Absolutely. Cooking from basic ingredients is the easiest way to stay clear of {allergen[0]}, since it "
             f"often hides in sauces, dressings and spice blends. A simple Sunday plan: roast two trays of vegetables "
             f"(peppers, courgette, sweet potato, red onion); cook a big pot of quinoa or rice; bake a tray of chicken "
             f"thighs and drain a couple of cans of chickpeas; and whisk a plain lemon and olive oil dressing. Each "
             f"morning, combine a grain, a protein and vegetables in a container, and keep the dressing separate so "
             f"nothing gets soggy. Rotating herbs and spices stops the week from feeling repetitive.")
    follow = "How long will the prepped lunches keep in the fridge?"
    follow_reply = ("Cooked grains, roasted vegetables and chicken keep well for about four days in airtight "
                    "containers, so prep for Monday to Thursday and either freeze Friday's portion or do a quick "
                    "mid-week top-up. Cool everything quickly before it goes in the fridge, and if anything smells or "
                    "looks off, throw it out.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("What food am I allergic to?", "Which food allergy do I have?"))
    if abst:
        q = rng.choice(("What medication do I take for my allergy?", "Which medication do I carry for my allergy?"))
    return _item(SSU, "ssu_allergy", abst, q, ev, {"allergen": allergen[0]}, answer=_cap(allergen[0]),
                 gold=allergen, check="contains",
                 abst_answer=f"You did not mention any medication; you only said you're allergic to {allergen[0]}.",
                 asked_about="medication")


# --- single-session-assistant ---------------------------------------------------------------------

SSA = "single-session-assistant"

# (leftover ingredient, dish, aliases, oven temperature in F, minutes, how to make it with {temp} and {minutes})
_RECIPES = (
    ("sweet potatoes", "sweet potato and black bean enchiladas", ("enchiladas",), 375, 25,
     "Dice and sauté the sweet potatoes with onion, garlic and cumin until tender, then mash in a can of black "
     "beans. Roll the filling in tortillas, lay them seam-side down in a baking dish, pour over red enchilada sauce, "
     "scatter cheese on top and bake at {temp}°F for {minutes} minutes, until bubbling."),
    ("chicken thighs", "lemon-herb sheet-pan chicken", ("sheet-pan chicken", "sheet pan chicken"), 425, 35,
     "Toss the chicken thighs with olive oil, lemon zest, garlic, thyme and oregano. Spread them on a sheet pan "
     "with halved baby potatoes and red onion wedges, squeeze over the lemon and roast at {temp}°F for {minutes} "
     "minutes, until the skin is crisp and golden."),
    ("zucchini", "zucchini and ricotta galette", ("galette",), 400, 40,
     "Roll out a sheet of pie dough, spread it with ricotta mixed with lemon zest and parmesan, then fan thin "
     "zucchini rounds on top, leaving a border. Fold the edges over, brush them with beaten egg and bake at {temp}°F "
     "for {minutes} minutes, until the crust is deep golden."),
    ("cauliflower", "whole roasted cauliflower with tahini sauce", ("whole roasted cauliflower",), 450, 45,
     "Rub the whole head with olive oil, smoked paprika and salt, set it in a skillet and roast at {temp}°F for "
     "{minutes} minutes, until a knife slides in easily. Drizzle with tahini thinned with lemon juice and finish "
     "with parsley and toasted pine nuts."),
    ("salmon fillets", "miso-glazed salmon", ("miso-glazed salmon", "miso salmon"), 400, 12,
     "Whisk white miso with honey, rice vinegar and grated ginger, brush it over the fillets and let them sit for "
     "ten minutes. Bake at {temp}°F for {minutes} minutes, then serve over rice with sliced spring onions and "
     "quick-pickled cucumber."),
    ("ripe bananas", "banana oat muffins", ("banana oat muffins", "banana muffins"), 350, 22,
     "Mash the bananas with melted butter, brown sugar and an egg, then fold in rolled oats, flour, baking soda and "
     "a pinch of cinnamon. Divide the batter between lined muffin cups and bake at {temp}°F for {minutes} minutes, "
     "until a toothpick comes out clean."),
    ("eggplant", "baked eggplant parmesan", ("eggplant parmesan", "eggplant parm"), 375, 40,
     "Slice the eggplant, salt it for a few minutes, then dip the slices in egg and breadcrumbs. Layer them in a "
     "dish with marinara, mozzarella and parmesan, and bake at {temp}°F for {minutes} minutes, until the cheese is "
     "browned at the edges."),
    ("spinach", "spinach and feta pie", ("spinach and feta pie", "spanakopita"), 375, 45,
     "Wilt the spinach with spring onions and dill, squeeze out the water and mix it with crumbled feta and two "
     "eggs. Layer buttered sheets of filo in a dish, add the filling, cover with more filo and bake at {temp}°F for "
     "{minutes} minutes, until crisp."),
)


_RECIPE_CLOSERS = ("It's forgiving, uses pantry staples, and leftovers reheat well for lunch the next day.",
                   "Serve it with a simple green salad dressed with lemon, and you have a full meal.",
                   "It scales up easily, so make a double batch if you want lunches for the week.",
                   "A handful of fresh herbs right before serving makes it look and taste restaurant-level.")
_RECIPE_FOLLOWS = (
    ("Sounds great. Can I prep any of it the night before?",
     "Yes. You can do most of the chopping and mixing a day ahead and keep everything covered in the fridge, then "
     "assemble and bake when you get home. If you do, give it a few extra minutes in the oven, since it will be "
     "going in cold, and check that it's hot all the way through before serving."),
    ("Perfect. How long will leftovers keep?",
     "Cooked leftovers keep for three to four days in an airtight container in the fridge. Let them cool for no more "
     "than a couple of hours before refrigerating, and reheat until piping hot. Most baked dishes also freeze well "
     "for a couple of months; thaw them overnight in the fridge rather than on the counter."),
    ("Nice. What could I serve on the side?",
     "Something fresh and crunchy balances a warm baked dish nicely: a crisp salad with a sharp vinaigrette, quick-"
     "pickled red onions, or steamed green beans with a squeeze of lemon. If you want something more filling, crusty "
     "bread or a simple pot of rice works with almost anything and soaks up the juices."),
)


def _ssa_recipe(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    ingredient, dish, aliases, temp, minutes, how = rng.choice(_RECIPES)
    first = rng.choice((
        f"I have a bunch of leftover {ingredient} that I need to use up this week. Any dinner idea? I have a decent "
        f"pantry and about an hour.",
        f"What can I make tonight with some leftover {ingredient}? Nothing too fussy, I'm tired after work.",
        f"My friend {rng.choice(FEMALE_NAMES + MALE_NAMES)} is coming over for dinner and all I really have is some "
        f"leftover {ingredient}. Can you suggest something that looks like I tried?",
        f"Long shift today (I work as {_a(p.occupation)}) and there's leftover {ingredient} in the fridge. What's an "
        f"easy dinner I can mostly leave in the oven?",
    ))
    reply = f"How about {dish}? {how.format(temp=temp, minutes=minutes)} {rng.choice(_RECIPE_CLOSERS)}"
    follow, follow_reply = rng.choice(_RECIPE_FOLLOWS)
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"ingredient": ingredient, "dish": dish, "oven_f": temp, "minutes": minutes}
    form = rng.choice(("dish", "dish", "temp", "minutes"))
    facts["asked"] = form
    if form == "dish":
        q = rng.choice((f"What dish did you suggest I make with my leftover {ingredient}?",
                        f"I asked you what to cook with some leftover {ingredient}. What did you suggest?"))
        gold, answer, check = (dish, *aliases), _cap(dish), "contains"
    elif form == "temp":
        q = f"What oven temperature did you tell me to use for the {dish}?"
        gold, answer, check = (str(temp),), f"{temp}°F", "number"
    else:
        q = f"How many minutes did you say the {dish} should bake?"
        gold, answer, check = (str(minutes),), f"{minutes} minutes", "number"
    if abst:
        q = rng.choice((f"What wine did you suggest pairing with the {dish}?",
                        f"Which wine did you recommend to go with the {dish} you suggested?"))
    return _item(SSA, "ssa_recipe", abst, q, ev, facts, answer=answer, gold=gold, check=check,
                 abst_answer=f"You did not mention wine, and I didn't suggest a pairing; I suggested {dish}, baked at "
                             f"{temp}°F for {minutes} minutes.", asked_about="wine")


def _ssa_books(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    liked, *recs = rng.sample(BOOKS, 4)
    first = rng.choice((
        f"I just finished {liked[0]} by {liked[1]} and loved it, especially the atmosphere. Can you recommend three "
        f"novels with a similar feel?",
        f"I need my next read. {liked[0]} by {liked[1]} was the best book I've read this year. What else would I "
        f"like? Three suggestions would be perfect.",
    ))
    lines = "\n".join(f"{i + 1}. {t} by {a}: {b}." for i, (t, a, b) in enumerate(recs))
    reply = (f"If you enjoyed {liked[0]}, here are three you might like:\n\n{lines}\n\nEach has the same strong sense "
             f"of place and a slow build that pays off, so I'd start with whichever premise grabs you most.")
    follow = "Are any of them part of a series, or can I read them on their own?"
    follow_reply = ("All three work as standalone novels, so you can read them in any order. If one of them hooks "
                    "you, it's worth looking up the author's other work, since writers with a strong atmosphere tend "
                    "to keep it across books. A library app is a cheap way to sample the first chapters of each "
                    "before you commit.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"liked": liked[0], "recommended": [t for t, _, _ in recs]}
    if rng.random() < 0.6:
        k = rng.randrange(3)
        q = f"When I asked for novels similar to {liked[0]}, what was the {_ORDINALS[k]} book you recommended?"
        title = recs[k][0]
        gold = (title,) + ((title[4:],) if title.startswith("The ") else ())
        answer, facts["asked"] = title, f"title #{k + 1}"
    else:
        k = rng.randrange(3)
        q = f"Who wrote {recs[k][0]}, one of the books you recommended to me?"
        gold, answer, facts["asked"] = (recs[k][1], recs[k][1].split()[-1]), recs[k][1], "author"
    if abst:
        q = rng.choice((f"What podcast did you recommend when I asked for books like {liked[0]}?",
                        "Which podcast did you suggest along with the novels you recommended?"))
    titles = ", ".join(t for t, _, _ in recs[:2]) + f" and {recs[2][0]}"
    return _item(SSA, "ssa_books", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=f"You did not mention a podcast, and I didn't recommend one; I recommended three novels: "
                             f"{titles}.", asked_about="podcast")


# (activity, aliases, why)
_ACTIVITIES = (
    ("a walking tour of the old town", ("walking tour", "old town"), "to get your bearings and see the main sights on foot"),
    ("the botanical garden", ("botanical garden", "botanical gardens"), "for a slower afternoon among the glasshouses"),
    ("a cooking class", ("cooking class",), "where you make and eat a regional lunch with a local chef"),
    ("the modern art museum", ("modern art museum", "art museum"),
     "which deserves a few hours, especially the top-floor galleries"),
    ("a day trip to the coast", ("day trip to the coast", "coast"), "by regional train, with a seafood lunch by the water"),
    ("a food market crawl", ("food market", "market crawl"),
     "tasting your way through the stalls instead of a sit-down lunch"),
    ("a sunset boat cruise", ("boat cruise", "sunset cruise", "cruise"), "along the river or harbor"),
    ("a guided bike tour", ("bike tour",), "which covers a lot of ground without wearing you out"),
    ("the castle on the hill", ("castle",), "for the views over the whole city"),
    ("a jazz club", ("jazz club", "jazz"), "to finish the day with live music"),
    ("the city history museum", ("history museum",), "which gives great context for everything else you'll see"),
    ("a thermal spa", ("thermal spa", "spa"), "to rest your legs after all the walking"),
)


_EVENINGS = ("Keep the evening free for a long dinner nearby.", "In the evening, find a neighbourhood restaurant.",
             "Have an early, quiet dinner and a slow stroll afterwards.", "End with a drink somewhere with a view.",
             "Ask locals for a dinner spot off the main streets.")


def _ssa_itinerary(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    city = _pick_other(rng, TRAVEL_CITIES, (p.city,))
    month = rng.choice(MONTHS)
    acts = rng.sample(_ACTIVITIES, 3)
    first = rng.choice((
        f"I'm planning a three-day trip to {city} in {month}, my first time there. Could you sketch a simple itinerary? "
        f"I like food and walking, and I don't want to rush.",
        f"Going to {city} for a long weekend in {month}! Can you suggest a plan for three days? Relaxed pace, please.",
    ))
    evenings = rng.sample(_EVENINGS, 3)
    days_txt = "\n".join(f"Day {i + 1}: {_cap(a)}, {why}. {ev}"
                         for i, ((a, _, why), ev) in enumerate(zip(acts, evenings)))
    reply = (f"Here's a relaxed plan for {city}:\n\n{days_txt}\n\nIn {month} it's worth booking anything with a "
             f"fixed start time a few days ahead, and leaving mornings unplanned so you can wander, find a café and "
             f"get a feel for the neighbourhoods.")
    follow = "What's the best way to get around?"
    follow_reply = (f"Most visitors get around {city} on foot plus public transport. A multi-day transit pass is "
                    f"usually cheaper than single tickets if you ride more than twice a day, and it saves queuing. "
                    f"Download the local transit app before you arrive, keep a little cash for small purchases, and use "
                    f"licensed taxis or ride-hailing late at night.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"city": city, "days": [a for a, _, _ in acts]}
    k = rng.randrange(3)
    if rng.random() < 0.6:
        q = f"In the {city} itinerary you put together for me, what did you suggest for the {_ORDINALS[k]} day?"
        gold, answer, facts["asked"] = (acts[k][0], *acts[k][1]), _cap(acts[k][0]), f"day {k + 1}"
    else:
        q = f"On which day of my {city} trip did you suggest {acts[k][0]}?"
        gold = (f"day {k + 1}", f"day {_words(k + 1)}", f"{_ORDINALS[k]} day")
        answer, facts["asked"] = f"Day {k + 1}", "which day"
    if abst:
        q = rng.choice((f"Which hotel did you recommend for my trip to {city}?",
                        f"What hotel did you suggest I stay at in {city}?"))
    names = ", ".join(a for a, _, _ in acts[:2]) + f" and {acts[2][0]}"
    return _item(SSA, "ssa_itinerary", abst, q, ev, facts, answer=answer, gold=gold, check="contains",
                 abst_answer=f"You did not mention a hotel, and I didn't recommend one; the {city} itinerary I "
                             f"suggested covered {names}.", asked_about="hotel")


# (exercise as written, keyword for abstention checks)
_EXERCISES = (("goblet squats", "squat"), ("push-ups", "push up"), ("dumbbell rows", "dumbbell row"),
              ("walking lunges", "lunge"), ("glute bridges", "glute bridge"), ("overhead presses", "overhead press"),
              ("Romanian deadlifts", "deadlift"), ("step-ups", "step up"), ("bicep curls", "curl"),
              ("tricep dips", "dip"))


def _ssa_workout(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    chosen = rng.sample(_EXERCISES, 5)
    plan, absent = chosen[:4], chosen[4]
    sets = [rng.choice((2, 3, 4)) for _ in plan]
    reps = [rng.choice((8, 10, 12, 15)) for _ in plan]
    first = rng.choice((
        f"I'm {p.age} and want to start strength training at home with a pair of dumbbells. Can you give me a simple "
        f"beginner routine?",
        f"I've never lifted weights, but I just bought adjustable dumbbells. What routine should a beginner my age "
        f"({p.age}) start with?",
    ))
    lines = "\n".join(f"- {_cap(e)}: {s} sets of {r} reps" for (e, _), s, r in zip(plan, sets, reps))
    reply = (f"Here's a simple full-body routine for Mondays, Wednesdays and Fridays:\n\n{lines}\n\nRest about a "
             f"minute between sets. Pick a weight where the last couple of reps feel hard but your form stays clean, "
             f"and add a little weight or a couple of reps each week. Warm up with a few minutes of brisk walking or "
             f"marching in place first.")
    follow = "What should I do on the days in between?"
    follow_reply = ("Light movement is ideal on the off days: a brisk walk, an easy swim or some mobility work for "
                    "your hips and shoulders. That keeps you loose without getting in the way of recovery. Prioritise "
                    "sleep and eat enough protein, spread across your meals, because that's when the actual "
                    "strength gains happen.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    facts = {"plan": [{"exercise": e, "sets": s, "reps": r} for (e, _), s, r in zip(plan, sets, reps)]}
    k = rng.randrange(4)
    if rng.random() < 0.5:
        q = f"How many reps of {plan[k][0]} did you tell me to do per set?"
        gold, answer, facts["asked"] = (str(reps[k]),), f"{reps[k]} reps per set", f"reps of {plan[k][0]}"
    else:
        q = f"How many sets of {plan[k][0]} were in the routine you gave me?"
        gold, answer, facts["asked"] = (str(sets[k]),), f"{sets[k]} sets", f"sets of {plan[k][0]}"
    if abst:
        q = rng.choice((f"How many sets of {absent[0]} did you put in my routine?",
                        f"How many reps of {absent[0]} did you tell me to do?"))
    names = ", ".join(e for e, _ in plan[:3]) + f" and {plan[3][0]}"
    return _item(SSA, "ssa_workout", abst, q, ev, facts, answer=answer, gold=gold, check="number",
                 abst_answer=f"You did not mention {absent[0]}, and they weren't in the routine I gave you; it had "
                             f"{names}.", asked_about=absent[1])


_BUSINESS_NAMES = {
    "bakery": ("Crumb and Co.", "The Rolling Pin", "Golden Hour Bakehouse", "Flour Child", "Proof Positive",
               "Sweet Loaf", "Knead to Know"),
    "bookshop": ("The Reading Nook", "Chapter and Verse", "Second Story Books", "Paper Moon Books",
                 "The Bookish Owl", "Well Read", "Margin Notes"),
    "coffee cart": ("Daily Grind", "Bean There", "Roaming Roast", "The Perk Wagon", "Brew on Wheels",
                    "Common Cup", "Steam Engine Coffee"),
    "plant shop": ("Leaf It to Me", "The Green Room", "Root and Stem", "Potted", "Sprout House", "Fernweh",
                   "Wild Window"),
    "taco truck": ("Taco 'Bout It", "Rolling Tortilla", "Salsa Wheels", "El Camino Kitchen", "Masa Mobile",
                   "Tortilla Flats", "Late Night Lime"),
    "yarn store": ("Purl Jam", "Knit Happens", "The Woolly Fox", "Loop and Needle", "Spun Gold", "Cast On Corner",
                   "Skein Street"),
}
_NAME_REASONS = ("it's short, friendly and easy to remember", "it has a playful pun without being too cute",
                 "it sounds warm and works well on a sign", "it hints at what you sell at a glance",
                 "it would look great as a simple logo")


def _ssa_names(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    business = rng.choice(sorted(_BUSINESS_NAMES))
    names = rng.sample(_BUSINESS_NAMES[business], 4)
    reasons = rng.sample(_NAME_REASONS, 4)
    first = rng.choice((
        f"I'm finally opening my own {business} here in {p.city} this fall! Can you brainstorm a few name ideas? I "
        f"want something warm and a little playful.",
        f"After years as {_a(p.occupation)}, I'm quitting to open {_a(business)}. I'm terrible with names. Could you "
        f"suggest a few?",
    ))
    lines = "\n".join(f"{i + 1}. {n}: {r}." for i, (n, r) in enumerate(zip(names, reasons)))
    reply = (f"Congratulations, that's a big step! Here are four ideas for your {business}:\n\n{lines}\n\nBefore you "
             f"fall in love with one, check that the domain and social handles are free and that no local business is "
             f"already using it.")
    follow = "How do I test which name people like best?"
    follow_reply = ("Show the shortlist to people who match your future customers rather than only friends, and ask "
                    "which one they would remember tomorrow, not just which they like. A quick poll on a local "
                    "community group works, and so does mocking up each name on a simple sign and seeing which one "
                    "makes people smile. Say each one out loud, too: it should be easy to spell after hearing it once.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    k = rng.randrange(4)
    q = f"What was the {_ORDINALS[k]} name you suggested for my {business}?"
    gold = (names[k],) + ((names[k][4:],) if names[k].startswith("The ") else ())
    if abst:
        q = rng.choice((f"What slogan did you come up with for my {business}?",
                        f"Which slogan did you suggest to go with the {business} names?"))
    return _item(SSA, "ssa_names", abst, q, ev, {"business": business, "names": names, "asked": f"name #{k + 1}"},
                 answer=names[k], gold=gold, check="contains",
                 abst_answer=f"You did not mention a slogan, and I didn't write one; I only suggested names for your "
                             f"{business}: {', '.join(names[:3])} and {names[3]}.", asked_about="slogan")


_GOALS = ("a used car", "a trip to Japan", "a new laptop", "an engagement ring", "a home gym setup",
          "a kitchen renovation", "a new road bike", "an emergency fund", "a trip to see family abroad",
          "a wedding", "a sabbatical", "a new sofa")


def _ssa_budget(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    goal = rng.choice(_GOALS)
    monthly = rng.choice(range(150, 925, 25))
    months = rng.randint(4, 18)
    have = rng.choice(range(200, 3100, 100))
    cost = have + monthly * months
    first = (f"I want to save up for {goal}. It'll cost about ${cost}, I already have ${have} set aside, and I'd "
             f"like to get there in {months} months. How much do I need to put away each month?")
    reply = (f"You need ${cost - have} more (${cost} minus the ${have} you already have). Spread over {months} months, "
             f"that's ${monthly} a month. To make it stick, set up an automatic transfer on payday so the money moves "
             f"before you can spend it, and keep it in a separate savings account with a name that reminds you of "
             f"the goal. If you get a bonus or a tax refund, put part of it toward the goal to build in a cushion.")
    follow = "What if I can only manage less in some months?"
    follow_reply = ("That's fine; the plan only has to work on average. In a tight month, save what you can and "
                    "top up when things are easier, or simply extend the timeline a little. What matters most is "
                    "keeping the automatic transfer going, even at a smaller amount, so the habit survives the "
                    "expensive months.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    q = rng.choice((f"How much did you say I need to save each month for {goal}?",
                    f"What monthly savings amount did you work out for {goal}?"))
    if abst:
        q = rng.choice(("What interest rate did you assume for my savings?",
                        f"Which interest rate did you use when you worked out my savings plan for {goal}?"))
    return _item(SSA, "ssa_budget", abst, q, ev,
                 {"goal": goal, "cost": cost, "saved": have, "months": months, "monthly": monthly},
                 answer=f"${monthly} a month", gold=(str(monthly),), check="number",
                 abst_answer=f"You did not mention an interest rate, and I didn't assume one; I divided the "
                             f"${cost - have} you still needed by {months} months to get ${monthly} a month.",
                 asked_about="interest")


# language -> (destinations, ((meaning, phrase, *aliases), ...))
_PHRASES = {
    "Spanish": (("Madrid", "Seville", "Mexico City", "Valencia"), (
        ("the check, please", "la cuenta, por favor", "la cuenta"),
        ("where is the bathroom?", "¿dónde está el baño?", "donde esta el bano"),
        ("a table for two, please", "una mesa para dos, por favor", "una mesa para dos"),
        ("how much does it cost?", "¿cuánto cuesta?", "cuanto cuesta"))),
    "Italian": (("Rome", "Florence", "Bologna", "Naples"), (
        ("the check, please", "il conto, per favore", "il conto"),
        ("a table for two, please", "un tavolo per due, per favore", "un tavolo per due"),
        ("how much does it cost?", "quanto costa?", "quanto costa"),
        ("where is the train station?", "dov'è la stazione?", "dove la stazione", "dov e la stazione"))),
    "French": (("Paris", "Lyon", "Montreal", "Bordeaux"), (
        ("the check, please", "l'addition, s'il vous plaît", "l'addition", "s'il vous plait"),
        ("how much does it cost?", "combien ça coûte ?", "combien ca coute"),
        ("do you speak English?", "parlez-vous anglais ?", "parlez vous anglais"),
        ("where is the metro?", "où est le métro ?", "ou est le metro"))),
    "German": (("Berlin", "Munich", "Vienna", "Hamburg"), (
        ("the check, please", "die Rechnung, bitte", "die Rechnung"),
        ("how much does it cost?", "wie viel kostet das?", "wie viel kostet das", "wieviel kostet das"),
        ("where is the train station?", "wo ist der Bahnhof?", "wo ist der Bahnhof"),
        ("I would like a coffee, please", "ich hätte gern einen Kaffee, bitte", "ich hatte gern einen Kaffee"))),
    "Portuguese": (("Lisbon", "Porto", "Rio de Janeiro", "Faro"), (
        ("the check, please", "a conta, por favor", "a conta"),
        ("thank you very much", "muito obrigado", "muito obrigada"),
        ("where is the train station?", "onde fica a estação?", "onde fica a estacao"),
        ("how much is it?", "quanto é?", "quanto e"))),
}


def _ssa_phrases(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    lang = rng.choice(sorted(_PHRASES))
    other = _pick_other(rng, sorted(_PHRASES), (lang,))
    places, phrases = _PHRASES[lang]
    place = rng.choice(places)
    taught = rng.sample(phrases, 3)
    first = rng.choice((
        f"I'm heading to {place} next month and trying to learn a bit of {lang}. Could you teach me a few phrases "
        f"for restaurants and getting around?",
        f"Trip to {place} coming up! I only know hello and goodbye in {lang}. What are a few phrases I should "
        f"learn before I go?",
    ))
    lines = "\n".join(f"- \"{ph}\" means \"{m}\"" for m, ph, *_ in taught)
    reply = (f"Great idea; people really appreciate the effort. Here are three useful {lang} phrases:\n\n{lines}\n\n"
             f"Say them slowly and with a smile. Even if your pronunciation isn't perfect, most people will happily "
             f"help, and many will switch to English once they see you tried. Writing them on a card in your wallet "
             f"helps them stick.")
    follow = "How can I practise pronunciation before the trip?"
    follow_reply = ("Listen and repeat is the fastest route: play a native speaker saying each phrase, pause, and "
                    "copy the rhythm as well as the sounds. Recording yourself and comparing helps a lot, even if it "
                    "feels awkward. Ten minutes a day for a few weeks is better than one long session, and shadowing "
                    "short clips from shows or videos trains your ear too.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(first), _bot(reply, True), _user(follow), _bot(follow_reply))]
    meaning, phrase, *aliases = rng.choice(taught)
    q = f"What was the {lang} phrase you taught me for \"{meaning}\"?"
    if abst:
        q = f"What was the {other} phrase you taught me for \"{meaning}\"?"
    return _item(SSA, "ssa_phrases", abst, q, ev,
                 {"language": lang, "destination": place, "taught": {m: ph for m, ph, *_ in taught}, "asked": meaning},
                 answer=phrase, gold=(phrase, *aliases), check="contains",
                 abst_answer=f"You did not mention {other}, and I didn't teach you any {other} phrases; I taught you "
                             f"{lang} phrases for your trip to {place}.", asked_about=other)


# --- single-session-preference --------------------------------------------------------------------

SSP = "single-session-preference"


def _rubric(prefer: str, dislike: str) -> str:
    return f"The user would prefer suggestions that {prefer}; they might not like {dislike}."


_DIETS = {"vegetarian": "meat or fish", "pescatarian": "meat (fish and seafood are fine)",
          "vegan": "meat, fish, dairy or eggs", "gluten-free": "wheat pasta, bread or other sources of gluten"}
_PANTRIES = {
    "Thai": "coconut milk, jasmine rice, rice noodles, palm sugar, limes, lemongrass, fresh chilies and a jar of "
            "red or green curry paste (check labels, since many contain shrimp)",
    "Mexican": "dried chiles like ancho and chipotle, canned black beans, corn tortillas, cumin, Mexican oregano, "
               "limes and a good jarred salsa",
    "Indian": "cumin seeds, mustard seeds, garam masala, turmeric, red lentils, chickpeas, basmati rice and fresh "
              "ginger and garlic",
    "Korean": "gochujang, gochugaru, toasted sesame oil, rice vinegar, short-grain rice and a jar of kimchi "
              "(vegan versions exist)",
    "Ethiopian": "berbere and mitmita spice blends, red lentils, split peas, onions in bulk and teff flour if you "
                 "want to try injera",
    "Lebanese": "tahini, sumac, za'atar, bulgur, chickpeas, pomegranate molasses, lemons and lots of parsley",
}
_FLAVORS = ("spicy", "smoky", "tangy", "garlicky")


def _ssp_cooking(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    diet, cuisine, flavor = rng.choice(sorted(_DIETS)), rng.choice(sorted(_PANTRIES)), rng.choice(_FLAVORS)
    first = rng.choice((
        f"I'm trying to cook at home more instead of ordering takeout. I've been {diet} for a few years and I'm "
        f"obsessed with {cuisine} food, the more {flavor} the better. What pantry staples should I stock up on?",
        f"Help me stock my kitchen! I'm {diet}, I love {flavor} flavours, and {cuisine} is my favourite cuisine by "
        f"far. What should I always have in the cupboard?",
    ))
    reply = (f"Great plan. For {cuisine} cooking, the staples that do the most work are {_PANTRIES[cuisine]}. Add "
             f"the basics every kitchen needs: a neutral oil, good salt, onions, garlic, canned tomatoes and a couple "
             f"of acids like lemon and vinegar. Buy whole spices in small amounts from a shop with high turnover, "
             f"since they lose their punch after a few months. With those on hand, most weeknight dinners only need "
             f"one or two fresh ingredients.")
    follow = "Should I buy a wok, or is a big frying pan enough?"
    follow_reply = ("A large, heavy frying pan or sauté pan will handle almost everything at first. A carbon-steel "
                    "wok is cheap and great for high-heat stir-fries if you cook them often, but it needs seasoning "
                    "and a strong burner to shine. Start with what you have, and buy a wok once you notice yourself "
                    "wishing for one.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("I want to cook something new for dinner this weekend. Any suggestions?",
                    "Can you suggest a recipe I could make when friends come over on Saturday?",
                    "I'm bored of my usual meals. What should I cook this week?"))
    answer = _rubric(f"are {diet} recipes, ideally {cuisine} or {cuisine}-inspired dishes with bold, {flavor} "
                     f"flavours that make use of the pantry staples they stocked",
                     f"dishes that include {_DIETS[diet]}, or bland, mild recipes from unrelated cuisines")
    return _item(SSP, "ssp_cooking", False, q, ev, {"diet": diet, "cuisine": cuisine, "flavor": flavor},
                 answer=answer, gold=(diet, cuisine, flavor), check="rubric")


_LANDSCAPES = (("mountains", "mountain"), ("coastline", "coast", "coastal"), ("desert",), ("forests", "forest"),
               ("lakes", "lake"))
_OUTDOOR = (("hiking", "hikes"), ("kayaking", "kayak"), ("birdwatching",), ("trail running",), ("stargazing",))
_LODGING = (("cabins", "cabin"), ("small guesthouses", "guesthouse", "guesthouses"),
            ("tents at quiet campsites", "campsite", "campsites", "camping"),
            ("farm stays", "farm stay"))


def _ssp_travel(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    land, act, lodge = rng.choice(_LANDSCAPES), rng.choice(_OUTDOOR), rng.choice(_LODGING)
    first = rng.choice((
        f"I'm making a packing checklist I can reuse for trips. For context, I always go for quiet trips to the "
        f"{land[0]}: {act[0]} all day and staying in {lodge[0]}. Crowded cities and resorts drain me. What should be "
        f"on the list?",
        f"Can you help me with a reusable packing list? My ideal trip is somewhere remote with {land[0]}, lots of "
        f"{act[0]}, nights in {lodge[0]}, and no crowds at all.",
    ))
    reply = ("Here's a checklist you can reuse: layers (a base layer, a warm mid-layer and a waterproof shell), broken-in "
             "footwear and spare socks, a small first-aid kit, sunscreen and insect repellent, a headlamp with spare "
             "batteries, a refillable water bottle and a filter if you'll be far from taps, snacks that survive a "
             "squashed bag, a power bank, offline maps, a paper copy of your bookings and emergency contacts, and a "
             "dry bag for electronics. Keep it as a note on your phone and tick items off as you pack.")
    follow = "Any tips for packing light?"
    follow_reply = ("Choose a colour palette so every top works with every bottom, and plan to wear your bulkiest "
                    "items while travelling. Merino layers can be worn several times without smelling, which cuts the "
                    "number of shirts you need. Decant toiletries into small bottles, and do a test pack a few days "
                    "before: anything you hesitate over probably stays home.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("I have a week off next month. Any ideas for where I should go?",
                    "Can you suggest a destination for my next vacation?",
                    "Where should I go for a long weekend away this autumn?"))
    answer = _rubric(f"are quiet, uncrowded destinations with {land[0]} where they can spend the days {act[0]}, "
                     f"ideally staying in {lodge[0]}",
                     "busy city breaks, resorts, nightlife-focused trips or crowded tourist hotspots")
    return _item(SSP, "ssp_travel", False, q, ev, {"landscape": land[0], "activity": act[0], "lodging": lodge[0]},
                 answer=answer, gold=(*land, *act, *lodge), check="rubric")


_GENRES = (("mysteries", "mystery"), ("science fiction", "sci-fi"), ("historical fiction", "historical"),
           ("fantasy",), ("thrillers", "thriller"), ("literary fiction", "literary"))
_BOOK_TRAITS = (("short chapters",), ("unreliable narrators", "unreliable narrator"),
                ("found-family stories", "found family"), ("twisty plots", "twisty", "twists"),
                ("morally grey characters", "morally grey", "morally gray"), ("small-town settings", "small town"))
_BOOK_DISLIKES = ("romance-heavy plots", "graphic violence", "cliffhanger endings", "lots of info-dumping")


def _ssp_reading(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    genre, trait, dislike = rng.choice(_GENRES), rng.choice(_BOOK_TRAITS), rng.choice(_BOOK_DISLIKES)
    first = rng.choice((
        f"I want a better way to keep track of what I read. For context, I read mostly {genre[0]}, especially ones "
        f"with {trait[0]}, and I give up on anything with {dislike}. What system would you suggest?",
        f"Can you suggest a good way to log my reading? I go through a lot of {genre[0]} (I'm a sucker for "
        f"{trait[0]}) and I'd like to notice patterns, like why I always abandon books with {dislike}.",
    ))
    reply = ("A few options, depending on how much effort you want: a dedicated reading app lets you log books, rate "
             "them and see yearly stats with almost no effort; a simple spreadsheet with columns for title, author, "
             "date finished, rating and a short note gives you full control and makes patterns easy to spot with a "
             "filter; and a paper reading journal is the most enjoyable if you like writing a few lines about each "
             "book. Whichever you choose, add a column for books you didn't finish and why, because that's where the "
             "most useful patterns hide.")
    follow = "I think I'll try the spreadsheet. Any columns I'm missing?"
    follow_reply = ("Useful extras are format (print, e-book or audio), where the recommendation came from, page "
                    "count, and a 'would reread' yes or no. A mood or tags column is handy too, since it lets you "
                    "filter later for what you feel like reading. Keep it to what you'll actually fill in, or you'll "
                    "stop updating it after a month.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("Can you recommend a book for my next flight?", "What should I read next?",
                    "I need a good book for a rainy weekend. Any recommendations?"))
    answer = _rubric(f"are {genre[0]} with {trait[0]}, the kind of books they say they read most",
                     f"books with {dislike}, or genres they don't usually read")
    return _item(SSP, "ssp_reading", False, q, ev, {"genre": genre[0], "likes": trait[0], "dislikes": dislike},
                 answer=answer, gold=(*genre, *trait), check="rubric")


_INJURIES = (("bad knees", "knees"), ("a lower back injury", "lower back"), ("a weak ankle", "ankle"),
             ("a shoulder injury", "shoulder"))
_LOW_IMPACT = (("swimming", "swim"), ("cycling", "cycle"), ("rowing", "rowing machine"), ("yoga",), ("pilates",))
_WORKOUT_TIME = ("early mornings before work", "my lunch break", "late evenings")


def _ssp_fitness(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    injury, like, when = rng.choice(_INJURIES), rng.choice(_LOW_IMPACT), rng.choice(_WORKOUT_TIME)
    first = rng.choice((
        f"I'm shopping for a fitness watch. I'm {p.age}, I have {injury[0]}, so I stick to low-impact stuff, "
        f"mostly {like[0]}, and I train during {when}. What features actually matter?",
        f"Which features should I look for in a fitness tracker? Some context: I do {like[0]} because of "
        f"{injury[0]}, anything low-impact really, and I usually work out during {when}.",
    ))
    reply = ("The features that matter most: accurate heart-rate tracking, ideally with support for a chest strap if "
             "you ever want more precision; activity profiles for the sports you actually do, so the stats mean "
             "something; good battery life, since charging every night gets old; water resistance rated for "
             "swimming even if you don't swim, because it also covers sweat and rain; and sleep and recovery "
             "tracking, which helps you judge when to push and when to rest. GPS, music storage and payments are nice "
             "but add cost.")
    follow = "Is it worth paying extra for a subscription service with the watch?"
    follow_reply = ("For most people, no. The basic stats, history and workout logging are usually free, and "
                    "subscriptions mainly add guided plans and deeper analysis. Try the free version for a couple of "
                    "months; if you find yourself wanting structured plans, a month of the subscription is a cheap way "
                    "to see whether it helps.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("Can you put together a workout plan for me for this month?",
                    "What kind of exercise routine would you suggest for me?",
                    "I want to get fitter this year. Where should I start?"))
    answer = _rubric(f"build on low-impact exercise they enjoy, especially {like[0]}, that is gentle on their "
                     f"{injury[1]} and fits into {when}",
                     f"running, jumping or other high-impact workouts that could aggravate their {injury[1]}")
    return _item(SSP, "ssp_fitness", False, q, ev, {"injury": injury[0], "likes": like[0], "time": when},
                 answer=answer, gold=(*like, "low-impact", injury[1]), check="rubric")


_CAMERA_BRANDS = ("Sony", "Fujifilm", "Canon", "Nikon", "Olympus", "Panasonic")
_PHOTO_SUBJECTS = (("birds and wildlife", "birds", "wildlife", "telephoto lens, a beanbag support and a camouflage cover"),
                   ("street scenes", "street photography", "street", "compact prime lens and a discreet wrist strap"),
                   ("landscapes", "landscape", "landscape photography", "sturdy tripod, ND and polarising filters"),
                   ("portraits", "portrait", "portrait photography", "fast prime lens and a reflector"),
                   ("the night sky", "astrophotography", "night sky", "wide fast lens, a star tracker and a remote shutter"))


def _ssp_photography(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    brand = rng.choice(_CAMERA_BRANDS)
    subject, *keys, gear = rng.choice(_PHOTO_SUBJECTS)
    first = rng.choice((
        f"I shoot with a {brand} mirrorless camera and mostly photograph {subject}, so I end up with huge RAW files. "
        f"What's a good backup setup?",
        f"My {brand} mirrorless is filling up memory cards fast; I photograph {subject} almost every weekend. How "
        f"should I back everything up?",
        f"Photography question: I've shot {subject} with my {brand} mirrorless for {_words(rng.randint(2, 9))} years "
        f"and my laptop in {p.city} is full of RAW files. What's a sensible backup routine?",
    ))
    reply = ("Follow the 3-2-1 rule: three copies of every photo, on two different kinds of storage, with one copy "
             "off-site. In practice that means your working drive, an external drive you back up to automatically "
             "after every import, and a cloud backup service or a second drive kept at a friend's place. Import with "
             "a consistent folder structure by date, and don't format a card until the files exist in at least two "
             "places. Check once in a while that a backup actually restores.")
    follow = "Should I keep the RAW files forever, or delete the rejects?"
    follow_reply = ("Cull ruthlessly but not instantly. Do a first pass after each shoot to delete obvious misses "
                    "like blurry or badly exposed frames, then a second pass a few weeks later, when you're less "
                    "attached. Keep RAW files for anything you rated or edited. Storage is cheap, but sorting through "
                    "thousands of near-duplicates later is not.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("Can you suggest some accessories for my photography hobby?",
                    "I have some birthday money to spend on camera gear. What would you recommend?",
                    "What photography gear should I add to my kit next?"))
    answer = _rubric(f"are accessories compatible with their {brand} mirrorless camera and suited to photographing "
                     f"{subject}, such as a {gear}",
                     f"generic gear unrelated to {subject}, or lenses and accessories made for other camera systems")
    return _item(SSP, "ssp_photography", False, q, ev, {"brand": brand, "subject": subject},
                 answer=answer, gold=(brand, subject, *keys), check="rubric")


_MUSIC_PAIRS = (("saxophone", "jazz"), ("banjo", "bluegrass"), ("electric guitar", "blues"), ("piano", "classical"),
                ("bass guitar", "funk"), ("fiddle", "Irish folk"), ("drums", "funk"), ("piano", "jazz"),
                ("acoustic guitar", "indie folk"), ("cello", "classical"), ("ukulele", "Hawaiian"),
                ("trumpet", "jazz"))


def _ssp_music(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    inst, genre = rng.choice(_MUSIC_PAIRS)
    first = rng.choice((
        f"I've played the {inst} for a couple of years, mostly {genre}, and lately I can't make myself practise. "
        f"How do I get my motivation back?",
        f"How do you stay motivated to practise an instrument? I play {genre} on the {inst} and I've been skipping "
        f"practice for weeks.",
        f"I'm {p.age} and picked up the {inst} {_words(rng.randint(2, 9))} years ago, mainly to play {genre}. Work as "
        f"{_a(p.occupation)} leaves me drained and I've stopped practising. Any advice?",
        f"My {inst} has been sitting in its case for a month. I love {genre} and used to play every day. How do I "
        f"get back into a routine?",
    ))
    reply = ("That slump is really common once the early fast progress slows down. A few things help: make practice "
             "tiny and daily instead of long and occasional, even ten minutes; set a concrete short-term goal, like "
             "learning one specific piece by the end of the month; record yourself every couple of weeks so you can "
             "hear your progress; and mix in pure fun, playing along with recordings you love. Playing with other "
             "people, even one friend, is the strongest motivator of all.")
    follow = "I like the idea of a monthly goal. How do I pick one that isn't too hard?"
    follow_reply = ("Pick something just beyond your comfort zone: a piece where you can already play most of it "
                    "slowly but a few passages are tough. Break it into small sections and track which ones you can "
                    "play cleanly at full tempo. If after a week nothing is clicking, swap it for something a little "
                    "easier; the point is momentum, not suffering.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("Can you recommend some music for me to listen to this week?",
                    "What albums should I check out next?",
                    "Any suggestions for pieces I could learn next?"))
    answer = _rubric(f"are {genre} recordings or pieces, ideally ones featuring the {inst} that they can learn from "
                     f"or play along with",
                     f"chart pop or styles far from {genre}, or music with no {inst} part to learn from")
    return _item(SSP, "ssp_music", False, q, ev, {"instrument": inst, "genre": genre},
                 answer=answer, gold=(genre, inst), check="rubric")


_SOCIAL_LIKES = (("board games", "board game"), ("cooperative games", "co-op", "cooperative"),
                 ("trivia nights", "trivia"), ("cooking together", "cook together"), ("movie nights", "movie night"),
                 ("jigsaw puzzles", "puzzles", "jigsaw"))
_SOCIAL_DISLIKES = ("loud bars", "crowded clubs", "big parties", "karaoke")


def _ssp_social(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    like, dislike = rng.choice(_SOCIAL_LIKES), rng.choice(_SOCIAL_DISLIKES)
    first = rng.choice((
        f"I'm hosting my first get-together in my new place in {p.city}. I'm pretty introverted: small groups and "
        f"{like[0]} are my idea of a great night, while {dislike} wear me out. What snacks work for a low-key evening?",
        f"What are good easy snacks for a few friends coming over? Nothing fancy. I'm an introvert, I'd take "
        f"{like[0]} with four people over {dislike} any day.",
    ))
    reply = ("For a relaxed evening, go for snacks people can graze on without plates or cutlery: a big bowl of "
             "popcorn with a couple of seasonings to sprinkle on, a board with cheese, crackers, grapes and olives, a "
             "tray of roasted chickpeas or spiced nuts, and something sweet like brownies you bake in the afternoon. "
             "Put out a pitcher of something non-alcoholic alongside any drinks, and keep everything within reach of "
             "where people will sit, so you're not running back and forth to the kitchen.")
    follow = "How much should I make for five or six people?"
    follow_reply = ("For an evening of snacking, plan on roughly a big handful of each savoury thing per person per "
                    "hour, and one or two sweet items each. A standard cheese board for six needs about a pound of "
                    "cheese in total. It's better to have a little left over; popcorn and nuts keep, and leftovers "
                    "make a good lunch the next day.")
    day = _days(rng, max_days, 1)[0]
    ev = [_session(day, _user(_open(rng, first), True), _bot(reply), _user(follow), _bot(follow_reply))]
    q = rng.choice(("Any ideas for what I could do with friends this Friday night?",
                    "Can you suggest something fun to do this weekend?",
                    "What should I plan for my birthday get-together?"))
    answer = _rubric(f"are low-key activities with a small group, such as {like[0]}, that suit someone introverted",
                     f"{dislike} or other loud, crowded outings")
    return _item(SSP, "ssp_social", False, q, ev, {"likes": like[0], "dislikes": dislike},
                 answer=answer, gold=(*like, "introvert", "introverted"), check="rubric")


# --- multi-session --------------------------------------------------------------------------------

MS = "multi-session"


def _pieces_days(rng: random.Random, max_days: int, lo: int = 2, hi: int = 4) -> list[int]:
    return _days(rng, max_days, rng.randint(lo, hi))


# instrument-agnostic practice chats: (user template with {inst}, assistant reply with {inst})
_PRACTICE_TOPICS = (
    ("I've been playing the {inst} again after years off. How should I structure a half-hour practice session?",
     "Welcome back to the {inst}! A good half-hour split: five minutes of warm-up and technique, ten minutes on the "
     "hardest passage of whatever you're learning, played slowly, ten minutes on repertoire you enjoy, and a last "
     "few minutes just playing freely. Slow, focused repetition on small sections beats running whole pieces over "
     "and over, and a short daily session beats a long weekly one."),
    ("I'm learning the {inst} and I want to get better at sight-reading. Any tips?",
     "Sight-reading on the {inst} improves fastest with lots of easy material: pick pieces well below your playing "
     "level and read a new one every day without stopping to fix mistakes. Look over the key, time signature and "
     "any tricky rhythms before you start, keep your eyes moving a little ahead of where you're playing, and use a "
     "metronome at a slow tempo so you keep going. Quantity matters more than perfection here."),
    ("I want to record myself playing the {inst} so I can hear my mistakes. What's a cheap setup?",
     "You can start with just your phone: put it a little distance from the {inst}, use a voice-memo or recording app "
     "with automatic gain turned off if possible, and record in a room with soft furnishings to cut echo. If you "
     "want a step up, a small USB microphone or a basic audio interface with one condenser mic is affordable and "
     "makes a big difference. Listen back the next day; you'll hear things you can't while playing."),
    ("I've hit a plateau with the {inst}. I play most days but I don't feel like I'm getting better.",
     "Plateaus on the {inst} usually mean the practice has become comfortable. Try changing one thing: learn a piece "
     "in a style you've never played, slow everything down to half speed to expose sloppy spots, or work with a "
     "teacher for even a single lesson to get fresh eyes on your technique. Setting a specific, measurable goal for "
     "the next month also helps you notice progress that otherwise feels invisible."),
    ("I'm playing the {inst} at an open mic next week and I'm nervous. How do I handle stage fright?",
     "Nerves before an open mic are completely normal, and a bit of adrenaline can even help. Practise the exact set "
     "several times as if it were the real thing, including walking up and starting, and play it for a friend or "
     "two first. On the night, breathe slowly before you start, pick an opening piece you could play half asleep "
     "on the {inst}, and remember the audience is rooting for you."),
)


def _ms_instruments(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    days = _pieces_days(rng, max_days)
    insts = rng.sample(INSTRUMENTS, len(days) + 1)
    played, skipped = insts[:-1], insts[-1]
    topics = rng.sample(_PRACTICE_TOPICS, len(days))
    where = rng.randrange(len(days))
    ev = []
    for i, (d, inst, (u, a)) in enumerate(zip(days, played, topics)):
        turns = [_user(u.format(inst=inst), True), _bot(a.format(inst=inst))]
        if i == where:
            turns += [_user(f"By the way, I also thought about picking up the {skipped} this year, but I decided not "
                            f"to: I don't have time for another instrument right now.", True),
                      _bot(f"That sounds like a sensible call. Spreading your practice time too thin is one of the "
                           f"most common reasons people stall, and the {skipped} will still be there later. Focusing "
                           f"on what you already play means you'll notice real progress, which is what keeps the "
                           f"motivation going.")]
        ev.append(_session(d, *turns))
    n = len(played)
    q = rng.choice(("How many different musical instruments have I been playing?",
                    "How many instruments have I been practising lately?"))
    if abst:
        q = rng.choice(("How many concerts have I performed in?", "How many concerts have I played this year?"))
    names = ", ".join(f"the {x}" for x in played[:-1]) + f" and the {played[-1]}"
    return _item(MS, "ms_instruments", abst, q, ev,
                 {"aggregate": "count", "pieces": played, "excluded": [skipped]},
                 answer=f"{n}: {names}. (You considered the {skipped} but decided not to take it up.)",
                 gold=(str(n),), check="number",
                 abst_answer=f"You did not mention performing in any concerts; you only talked about practising "
                             f"{names}.", asked_about="concert")


_CONCERT_TOPICS = (
    ("It's a standing-room show. Any tips for surviving a few hours on my feet?",
     "Wear your most supportive, broken-in shoes rather than the cutest ones, and consider cushioned insoles. Eat a "
     "proper meal beforehand, drink water throughout, and shift your weight and stretch your calves between songs. "
     "Find a spot near a wall or a rail if you can, and bring earplugs: musician's earplugs cut the volume without "
     "muffling the sound, so you'll still hear everything clearly."),
    ("The venue is across town. Should I drive or take transit?",
     "Transit is usually the better bet for a big show: parking near venues is expensive and the exit queue after "
     "the encore can take ages. Check the last departure time before you go, and have a backup plan like a ride "
     "share if the show runs late. If you do drive, park a few blocks away in the direction you're heading home, "
     "and you'll be out much faster."),
    ("What should I bring? I've heard some venues are strict about bags.",
     "Check the venue's website for its bag policy; many only allow small clear bags or clutches. Bring the "
     "essentials: your phone with the ticket downloaded in case the signal is bad, ID, a card, earplugs, and a small "
     "power bank if it fits. Leave anything you'd hate to lose at home, and take a photo of where you parked or "
     "which exit you used."),
    ("I'm going with a friend who's never heard them. Which songs should I send her first?",
     "Start with the songs they're most likely to open or close with, usually the big singles, since those are the "
     "moments she'll enjoy most if she knows them. Add a couple of songs from the newest album, because tours lean "
     "heavily on recent material. A short playlist of eight to ten tracks is plenty; any more and it starts to feel "
     "like homework."),
)


def _ms_tickets(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    days = _pieces_days(rng, max_days)
    bands = rng.sample(BANDS, len(days) + 1)
    prices = [rng.choice(range(35, 185, 5)) for _ in days]
    topics = rng.sample(_CONCERT_TOPICS, len(days))
    skipped, skipped_price = bands[-1], rng.choice(range(40, 160, 5))
    where = rng.randrange(len(days))
    forms = rng.sample(range(4), len(days))
    ev = []
    for i, (d, band, price, (u, a), k) in enumerate(zip(days, bands, prices, topics, forms)):
        opener = (f"I just bought a ticket to see {band} in {rng.choice(MONTHS)} for ${price}.",
                  f"I finally grabbed a ticket to see {band} live, ${price} after fees.",
                  f"I treated myself to a ticket for {band} today: ${price}.",
                  f"Got my ticket to see {band} in {rng.choice(MONTHS)}, ${price} all in.")[k]
        turns = [_user(f"{opener} {u}", True), _bot(a)]
        if i == where and rng.random() < 0.7:
            turns += [_user(f"I almost bought a ticket for {skipped} too, ${skipped_price}, but it sold out before I "
                            f"could check out, so I'm not going to that one.", True),
                      _bot("That's frustrating, but it happens a lot with popular shows. If you still want to go, "
                           "keep an eye on the official resale page closer to the date, since returned tickets often "
                           "reappear at face value. Avoid unofficial resellers: fake and duplicated tickets are "
                           "common, and there's usually no refund if you're turned away at the door.")]
        ev.append(_session(d, *turns))
    excluded = [skipped] if any(len(e.turns) > 2 for e in ev) else []
    total = sum(prices)
    q = rng.choice(("How much have I spent on concert tickets in total?",
                    "What's the total I've spent on concert tickets so far?"))
    if abst:
        q = rng.choice(("How much have I spent on theater tickets in total?",
                        "What's the total I've spent on theater tickets so far?"))
    parts = " + ".join(f"${x}" for x in prices)
    return _item(MS, "ms_tickets", abst, q, ev,
                 {"aggregate": "sum", "pieces": [{"band": b, "price": x} for b, x in zip(bands, prices)],
                  "excluded": excluded},
                 answer=f"${total} ({parts}).", gold=(str(total),), check="number",
                 abst_answer=f"You did not mention any theater tickets; you only talked about concert tickets "
                             f"({parts}).", asked_about="theater")


_BOOK_TOPICS = (
    ("Can you suggest some discussion questions for my book club?",
     "Here are a few that usually get a good conversation going: Which character changed the most, and did the "
     "change feel earned? What did the setting add to the story, and could it have happened anywhere else? Was there "
     "a moment where your sympathy shifted? How did the ending land for you, and would you change it? And if you "
     "could ask the author one question, what would it be? Open-ended questions work best; avoid ones with a yes or "
     "no answer."),
    ("I want to remember more of what I read. How should I take notes?",
     "Keep it light so you actually do it: jot a line or two at the end of each reading session about what happened "
     "and what struck you, and mark passages you love with a sticky tab. When you finish, write a short paragraph "
     "in your own words about what the book was about and what you'll remember. Revisiting those notes a month "
     "later is what really makes things stick."),
    ("What should I read next, something lighter or something similar?",
     "After finishing something you enjoyed, a palate cleanser often helps: a shorter, lighter book or a different "
     "genre keeps reading feeling fresh and avoids the comparison trap, where everything similar feels like a "
     "weaker copy. If you're still thinking about the characters, though, that's a sign to stay in the same mood "
     "for one more book. Trust whichever pull is stronger."),
    ("I read it in three days and now I have a book hangover. Is that a thing?",
     "It's definitely a thing! Finishing a book that absorbed you can leave you restless and unable to start "
     "anything else. Give yourself a day or two, revisit favourite passages, or read reviews and interviews to "
     "stay in that world a little longer. When you're ready, a short story collection or a book in a totally "
     "different genre is an easy way back in."),
)


def _ms_books(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    days = _pieces_days(rng, max_days)
    books = rng.sample(BOOKS, len(days) + 1)
    finished, dropped = books[:-1], books[-1]
    topics = rng.sample(_BOOK_TOPICS, len(days))
    reactions = rng.sample((
                 "the ending floored me", "it was slow at first but worth it", "I couldn't put it down",
                 "it wasn't perfect but I liked it", "it made me cry on the bus"), 4)
    where = rng.randrange(len(days))
    forms = rng.sample(range(4), len(days))
    ev = []
    for i, (d, (title, author, _), (u, a), k) in enumerate(zip(days, finished, topics, forms)):
        reaction = reactions[k]
        opener = (f"I just finished {title} by {author}, and {reaction}.",
                  f"I finished reading {title} by {author} last night; {reaction}.",
                  f"Done with {title} by {author}! Honestly, {reaction}.",
                  f"I just turned the last page of {title} by {author}, and {reaction}.")[k]
        turns = [_user(f"{opener} {u}", True), _bot(a)]
        if i == where:
            turns += [_user(f"I also started {dropped[0]} last month, but I gave up after a few chapters, so I'm not "
                            f"counting that one as read.", True),
                      _bot("That's completely fine. Life is too short for books that aren't working for you, and "
                           "putting one down often frees you up to read more overall. Sometimes it's just the wrong "
                           "moment for a book; you might enjoy it if you come back to it in a year or two.")]
        ev.append(_session(d, *turns))
    n = len(finished)
    q = rng.choice(("How many books have I finished reading recently?", "How many books have I told you I finished?"))
    if abst:
        q = rng.choice(("How many audiobooks have I listened to recently?", "How many audiobooks have I finished?"))
    titles = ", ".join(t for t, _, _ in finished[:-1]) + f" and {finished[-1][0]}"
    return _item(MS, "ms_books", abst, q, ev,
                 {"aggregate": "count", "pieces": [t for t, _, _ in finished], "excluded": [dropped[0]]},
                 answer=f"{n}: {titles}. ({dropped[0]} was abandoned, so it doesn't count.)",
                 gold=(str(n),), check="number",
                 abst_answer=f"You did not mention any audiobooks; you only talked about the books you read: "
                             f"{titles}.", asked_about="audiobook")


def _ms_volunteer(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    days = _pieces_days(rng, max_days)
    places = rng.sample(VOLUNTEER_PLACES, len(days) + 1)
    hours = [rng.choice((2, 3, 4, 5, 6)) for _ in days]
    skipped, skipped_hours = places[-1], rng.choice((2, 3, 4))
    asks = ("How can I get more friends involved without being pushy?",
            "Is it normal to feel this tired after volunteering? How do I pace myself?",
            "Do you think this kind of volunteering is worth putting on my resume?",
            "What's a nice way to thank the organisers?")
    replies = (
        "Invite people to something specific rather than asking in general: a single shift on a set date, with you "
        "there, is much easier to say yes to. Share a photo or a short story from your day afterwards, since that "
        "makes it feel real. Keep it light, accept a no gracefully, and ask again another time; many people just "
        "need a concrete first step.",
        "Yes, very normal, especially with physical work and lots of new people. Pace yourself by choosing a "
        "regular, sustainable commitment rather than saying yes to everything, eat and drink properly during long "
        "shifts, and block out a quiet evening afterwards. Burning out helps nobody, and consistency matters more "
        "to organisations than occasional heroics.",
        "Often, yes. Put it in a volunteer section with the organisation, your role and a line on what you did, "
        "especially if it shows skills like organising, leading a team or working with the public. If you do it "
        "regularly, mention that, since consistency says something about you. For roles related to the work, it "
        "can even go next to your paid experience.",
        "A short handwritten card goes a long way, especially if it mentions something specific you enjoyed or "
        "learned. If you want to do more, bring a box of pastries to your next shift, or write a positive public "
        "review of the organisation, which helps them recruit other volunteers and apply for funding.",
    )
    order = rng.sample(range(len(asks)), len(days))
    where = rng.randrange(len(days))
    ev = []
    forms = rng.sample(range(4), len(days))
    for i, (d, (place, what), h, k, f) in enumerate(zip(days, places, hours, order, forms)):
        opener = (f"I spent {_words(h)} hours volunteering at the {place} today, {what}.",
                  f"I just got back from {_words(h)} hours of volunteering at the {place}, {what}.",
                  f"I did a {_words(h)}-hour volunteer shift at the {place} this morning, {what}.",
                  f"I volunteered at the {place} for {_words(h)} hours today, {what}.")[f]
        turns = [_user(f"{opener} {asks[k]}", True),
                 _bot(replies[k])]
        if i == where and rng.random() < 0.7:
            turns += [_user(f"I had also signed up for a {_words(skipped_hours)}-hour shift at the {skipped[0]}, but it "
                            f"got cancelled because of the weather, so I didn't go.", True),
                      _bot("That's a shame, but cancellations for weather are usually the right call for everyone's "
                           "safety. Most organisers post makeup dates fairly quickly, so it's worth checking their "
                           "page or newsletter in a week or so. In the meantime, enjoy the free afternoon; rest is "
                           "part of being able to keep showing up.")]
        ev.append(_session(d, *turns))
    excluded = [skipped[0]] if any(len(e.turns) > 2 for e in ev) else []
    total = sum(hours)
    q = rng.choice(("How many hours have I spent volunteering in total?",
                    "Across all my volunteering, how many hours have I put in?"))
    if abst:
        q = rng.choice(("How many hours have I spent tutoring?", "How many tutoring sessions have I done?"))
    parts = " + ".join(f"{h} ({pl})" for h, (pl, _) in zip(hours, places))
    return _item(MS, "ms_volunteer", abst, q, ev,
                 {"aggregate": "sum", "pieces": [{"place": pl, "hours": h} for (pl, _), h in zip(places, hours)],
                  "excluded": excluded},
                 answer=f"{total} hours: {parts}.", gold=(str(total),), check="number",
                 abst_answer=f"You did not mention tutoring; you only talked about volunteering: {parts} hours.",
                 asked_about="tutoring")


_RESTAURANT_TOPICS = (
    ("Can you help me recreate the {dish} at home?",
     "Happy to help. Restaurant versions of {dish} usually taste deeper than home attempts because of two things: "
     "time and fat. Cook the base low and slow instead of rushing it, toast any spices before adding liquid, and "
     "season in layers, tasting at each stage. Look for a recipe from a cook who grew up with the dish rather than "
     "a quick adaptation, and expect the first attempt to be a draft."),
    ("I want to write a short review for them. Can you help me structure it?",
     "Sure. A helpful review covers four things: the atmosphere and service in a sentence or two, the specific "
     "dishes you ordered and what stood out (the {dish} sounds like the highlight), value for money, and who you'd "
     "recommend it to, such as a date night, families or a quick lunch. Specific details are far more useful to "
     "other diners than general praise."),
    ("What drinks would go well with the {dish}?",
     "For rich, savoury dishes like {dish}, something with a bit of acidity or fizz cuts through nicely: a crisp "
     "lager, a dry cider, or sparkling water with lots of lime. If the dish is spicy, avoid anything very "
     "high in alcohol, since it makes the heat feel stronger. A lightly sweet iced tea is also a classic match."),
    ("How do I find more small places like that? They're so easy to miss.",
     "A few reliable tricks: follow local food writers and small neighbourhood accounts rather than big review "
     "sites, ask the staff at places you love where they eat on their day off, and walk around areas with lots of "
     "independent shops at lunchtime. Busy at odd hours with a short, focused menu is usually a great sign."),
)


def _ms_restaurants(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    days = _pieces_days(rng, max_days)
    names = rng.sample(RESTAURANT_NAMES, len(days) + 1)
    cuisines = rng.sample(CUISINES, len(days) + 2)
    used, skipped_cuisine, absent_cuisine = cuisines[:len(days)], cuisines[len(days)], cuisines[len(days) + 1]
    topics = rng.sample(_RESTAURANT_TOPICS, len(days))
    where = rng.randrange(len(days))
    ev = []
    forms = rng.sample(range(4), len(days))
    for i, (d, name, (cuisine, dish), (u, a), k) in enumerate(zip(days, names, used, topics, forms)):
        opener = (f"We tried a new {cuisine} place called {name} last night and the {dish} was amazing.",
                  f"I had dinner at {name}, {_a(cuisine)} restaurant I'd never been to, and the {dish} was incredible.",
                  f"I went to {name} for the first time this weekend, {_a(cuisine)} spot, and I can't stop thinking "
                  f"about the {dish}.",
                  f"My friend {rng.choice(FEMALE_NAMES + MALE_NAMES)} took me to {name}, a new {cuisine} place, and "
                  f"the {dish} blew me away.")[k]
        turns = [_user(f"{opener} {u.format(dish=dish)}", True), _bot(a.format(dish=dish))]
        if i == where:
            turns += [_user(f"We also meant to try {names[-1]}, {_a(skipped_cuisine[0])} spot near us, but it was closed "
                            f"when we got there, so we just went home.", True),
                      _bot("That's annoying, especially when you've built up an appetite for it. Smaller places "
                           "often close on short notice or keep unusual hours, so it's worth checking their social "
                           "media or calling ahead next time. At least it gives you something to look forward to for "
                           "another evening.")]
        ev.append(_session(d, *turns))
    n = len(used)
    q = rng.choice(("How many new restaurants have I tried recently?", "How many new restaurants have I been to?"))
    if abst:
        q = rng.choice((f"How many {absent_cuisine[0]} restaurants have I tried?",
                        f"What was the name of the {absent_cuisine[0]} restaurant I tried?"))
    tried = ", ".join(f"{nm} ({c})" for nm, (c, _) in zip(names, used))
    return _item(MS, "ms_restaurants", abst, q, ev,
                 {"aggregate": "count", "pieces": [{"name": nm, "cuisine": c} for nm, (c, _) in zip(names, used)],
                  "excluded": [names[-1]]},
                 answer=f"{n}: {tried}. ({names[-1]} was closed, so it doesn't count.)", gold=(str(n),),
                 check="number",
                 abst_answer=f"You did not mention any {absent_cuisine[0]} restaurant; the new places you tried were "
                             f"{tried}.", asked_about=absent_cuisine[0])


_AQUARIUM_TOPICS = (
    ("How long should I wait before feeding them?",
     "Give them a few hours to settle first; new fish are often too stressed to eat right away, and uneaten food "
     "just fouls the water. Tomorrow, offer a small pinch they can finish in a couple of minutes, once or twice a "
     "day. Keep the lights dimmed for the rest of today, and watch for anyone hiding constantly or breathing fast at "
     "the surface."),
    ("Should I test the water more often now that there are more fish?",
     "Yes, for the next couple of weeks it's a good idea. Adding fish increases the waste load, and the bacteria "
     "that process it need time to catch up. Test ammonia, nitrite and nitrate every two or three days; if ammonia "
     "or nitrite show up at all, do a partial water change and feed a little less until the readings settle back "
     "to zero."),
    ("Do they need live plants, or are fake ones fine?",
     "Fake plants are fine for the fish, but live plants have real benefits: they absorb nitrate, compete with "
     "algae for nutrients and give shy fish more cover. Easy, low-light options like java fern, anubias and java "
     "moss don't need special substrate or fertiliser. Attach the first two to driftwood or rocks rather than "
     "burying their rhizomes."),
    ("I'm getting a bit of brown algae on the glass. Is that a problem?",
     "Brown algae, usually diatoms, is very common in younger tanks and mostly harmless. It tends to fade on its own "
     "as the tank matures. Wipe it off the glass with an algae pad during water changes, keep the lights to about "
     "eight hours a day, and avoid overfeeding. If it persists for months, check your tap water for silicates."),
)


def _ms_aquarium(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    days = _pieces_days(rng, max_days)
    fish = rng.sample(FISH, len(days))
    counts = [rng.randint(2, 8) for _ in days]
    big = rng.choice(BIG_FISH)
    topics = rng.sample(_AQUARIUM_TOPICS, len(days))
    where = rng.randrange(len(days))
    ev = []
    forms = rng.sample(range(4), len(days))
    for i, (d, f, n, (u, a), k) in enumerate(zip(days, fish, counts, topics, forms)):
        opener = (f"I added {_words(n)} {f} to my tank this afternoon.",
                  f"I picked up {_words(n)} {f} from the fish store today and they're in the tank now.",
                  f"Today I brought home {_words(n)} {f} for my aquarium.",
                  f"I just finished acclimating {_words(n)} {f} and released them into my tank.")[k]
        turns = [_user(f"{opener} {u}", True), _bot(a)]
        if i == where and rng.random() < 0.7:
            turns += [_user(f"I almost bought {_a(big)} too, but the store clerk said it would eat the smaller fish, "
                            f"so I left it at the store.", True),
                      _bot("Good call; the clerk did you a favour. Predatory or territorial fish will often eat or "
                           "harass anything that fits in their mouth, and many grow much larger than they look in the "
                           "store. Researching adult size and temperament before buying is the single best habit in "
                           "fishkeeping.")]
        ev.append(_session(d, *turns))
    excluded = [big] if any(len(e.turns) > 2 for e in ev) else []
    total = sum(counts)
    q = rng.choice(("How many fish have I added to my aquarium in total?",
                    "Counting everything I've told you about, how many fish have I put in my tank?"))
    if abst:
        q = rng.choice(("How many snails have I added to my aquarium?", "How many snails are in my tank?"))
    parts = ", ".join(f"{n} {f}" for n, f in zip(counts, fish))
    return _item(MS, "ms_aquarium", abst, q, ev,
                 {"aggregate": "sum", "pieces": [{"fish": f, "count": n} for f, n in zip(fish, counts)],
                  "excluded": excluded},
                 answer=f"{total} fish: {parts}.", gold=(str(total),), check="number",
                 abst_answer=f"You did not mention any snails; you only talked about adding fish ({parts}).",
                 asked_about="snail")


_HIKE_TOPICS = (
    ("My calves are killing me. Any stretching tips?",
     "Gentle calf stretches help: stand facing a wall, step one foot back with the heel down and lean forward until "
     "you feel the stretch, holding for thirty seconds on each side. Do a bent-knee version too, which targets the "
     "deeper muscle. A short easy walk tomorrow, plenty of water and a warm shower will ease the soreness faster "
     "than resting completely."),
    ("I got a blister on my heel. How do I avoid that next time?",
     "Heel blisters usually come from friction when the heel lifts inside the boot. Try a heel-lock lacing "
     "technique to hold your foot in place, wear moisture-wicking socks rather than cotton, and put tape or a "
     "blister patch on hot spots as soon as you feel them, not after. Breaking in new boots on short walks first "
     "helps a lot."),
    ("What should I keep in my daypack for hikes like that?",
     "The essentials: more water than you think you need, salty snacks, a warm layer and a rain shell, sun "
     "protection, a headlamp, a basic first-aid kit with blister care, a map or downloaded offline route, and a "
     "fully charged phone. A lightweight emergency blanket takes almost no space. Tell someone your route and "
     "expected return time."),
    ("What's a good meal after a long hike?",
     "Aim for carbohydrates to refill your energy stores plus some protein for muscle repair, within an hour or two "
     "if you can. A big bowl of pasta with chicken or beans, a burrito, or eggs on toast with a smoothie all work "
     "well. Don't forget fluids and a bit of salt, especially on warm days when you've been sweating a lot."),
)


def _ms_hikes(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    days = _pieces_days(rng, max_days)
    trails = rng.sample(TRAILS, len(days))
    miles = rng.sample(range(3, 15), len(days))
    topics = rng.sample(_HIKE_TOPICS, len(days))
    forms = rng.sample(range(4), len(days))
    openers = ("I hiked the {t} today, {m} miles with a pretty steep climb.",
               "I just finished the {t}: {m} miles round trip.",
               "I did the {t} this morning, {m} miles in total.", "Today's hike was the {t}, {m} miles.")
    ev = [_session(d, _user(openers[k].format(t=t[0], m=_words(m)) + " " + u, True), _bot(a))
          for d, t, m, (u, a), k in zip(days, trails, miles, topics, forms)]
    k = max(range(len(days)), key=lambda i: miles[i])
    facts = {"aggregate": "max", "pieces": [{"trail": t[0], "miles": m} for t, m in zip(trails, miles)]}
    if rng.random() < 0.6:
        q = rng.choice(("Which of the hikes I've told you about was the longest?", "What was my longest hike recently?"))
        gold, answer, check = trails[k], f"The {trails[k][0]} ({miles[k]} miles).", "contains"
    else:
        q = "How many miles was my longest recent hike?"
        gold, answer, check = (str(miles[k]),), f"{miles[k]} miles (the {trails[k][0]}).", "number"
    if abst:
        q = rng.choice(("Which of my bike rides was the longest?", "How many miles was my longest bike ride?"))
    parts = ", ".join(f"the {t[0]} ({m} miles)" for t, m in zip(trails, miles))
    return _item(MS, "ms_hikes", abst, q, ev, facts, answer=answer, gold=gold, check=check,
                 abst_answer=f"You did not mention any bike rides; you only talked about hikes: {parts}.",
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


_VEGETABLES = ("tomatoes, peppers and a row of lettuce", "zucchini, green beans and some herbs",
               "kale, carrots and cherry tomatoes", "cucumbers, peas and basil", "spinach, radishes and chard")
_HALF_TIMES = ("just under two hours", "two hours and ten minutes", "about two and a half hours",
               "one hour and fifty-five minutes")
_FILLINGS = ("a small filling", "two small fillings", "an old filling replaced")


def _event_slots(p: Persona, rng: random.Random) -> dict:
    friend = rng.choice([n for n in FEMALE_NAMES + MALE_NAMES if n not in (p.first_name, p.sibling_name)])
    return {"occupation": p.occupation, "band": rng.choice(BANDS), "home": p.city, "name": friend,
            "city": _pick_other(rng, TRAVEL_CITIES, (p.city,)), "month": rng.choice(MONTHS),
            "company": rng.choice(COMPANIES)[0], "car": rng.choice(CAR_MODELS)[0], "veg": rng.choice(_VEGETABLES),
            "color": rng.choice(CAR_COLORS)[0], "half_time": rng.choice(_HALF_TIMES), "fillings": rng.choice(_FILLINGS),
            "pet": rng.choice(PET_NAMES)}


_EVENTS = (
    _Event("passport", "renew my passport", "renewed my passport", "renewing my passport",
           ("this morning", "today", "earlier today"),
           ("I finally renewed my passport {when}; it had been expired for ages. What other documents should I "
            "double-check before an international trip?",
            "I renewed my passport {when}, just in time for a trip to {city} in {month}. What else should I sort out "
            "before going abroad?",
            "Small victory: I renewed my passport {when} after putting it off for a year. I'm hoping to visit {city} "
            "soon. Any paperwork I'm forgetting?"),
           "Good timing! Beyond the passport, check whether your destination needs a visa or an electronic travel "
           "authorisation, and apply early since processing can take weeks. Make sure your travel insurance covers "
           "medical care abroad, bring an international driving permit if you plan to rent a car, and carry proof of "
           "any required vaccinations. Keep digital copies of everything in a secure cloud folder and a paper copy "
           "separate from the originals."),
    _Event("haircut", "get a haircut", "got a haircut", "getting a haircut", ("this morning", "today"),
           ("I got a haircut {when}, much shorter than usual, and now I have no idea how to style it. Any product "
            "recommendations for short, slightly wavy hair?",
            "I got a haircut {when} and my stylist went way shorter than I asked. How do I style short wavy hair so it "
            "doesn't look flat?",
            "I got a haircut {when} before {name}'s party this weekend, and it's a lot shorter than I'm used to. What "
            "products work for short, wavy hair?"),
           "Short wavy hair is great to work with. Try a light styling cream or a sea salt spray on damp hair, "
           "scrunch it gently and let it air-dry or use a diffuser on low heat, which keeps the wave without frizz. "
           "For more hold and texture, rub a pea-sized amount of matte paste between your palms and work it through "
           "dry hair with your fingers. Less product is usually more with shorter styles."),
    _Event("bike", "buy a new road bike", "bought a new road bike", "buying a new road bike",
           ("today", "this morning"),
           ("I bought a new road bike {when}! What adjustments should I make so it fits me properly?",
            "I bought a new road bike {when}, a {color} one I've been eyeing for months. How do I set it up so it fits "
            "me?",
            "I bought a new road bike {when} so I can ride with my friend {name} on weekends. What should I adjust first "
            "so it fits?"),
           "Congratulations! Start with saddle height: with your heel on the pedal at the bottom of the stroke, your "
           "leg should be almost straight. Then set the saddle level and adjust it forward or back so your knee sits "
           "roughly over the pedal axle when the cranks are horizontal. Check that you can reach the handlebars with "
           "a slight bend in your elbows and a relaxed neck. If anything aches after a few rides, a professional fit "
           "is worth the money."),
    _Event("dentist", "go to the dentist", "went to the dentist", "going to the dentist", ("this morning", "today"),
           ("I went to the dentist {when} and had two small fillings done. My jaw is still numb. How long until I can "
            "eat normally?",
            "I went to the dentist {when} and had {fillings}. Half my face is numb. When can I eat?",
            "I went to the dentist {when} and had {fillings}, and my mouth still feels like cardboard. How long does the "
            "numbness last?"),
           "The numbness from a local anaesthetic usually wears off within two to four hours. Until then, avoid "
           "chewing and hot drinks, since it's easy to bite your cheek or burn yourself without noticing. Once the "
           "feeling is back, you can eat normally; modern fillings are hard almost immediately. Some sensitivity to "
           "cold for a week or two is common, but call the practice if it gets worse."),
    _Event("half marathon", "run my first half marathon", "ran my first half marathon",
           "running my first half marathon", ("this morning", "today"),
           ("I ran my first half marathon {when}! My legs are toast. What should I do for recovery over the next few "
            "days?",
            "I ran my first half marathon {when} and finished in {half_time}. I'm thrilled, but everything hurts. How "
            "should I recover?",
            "I ran my first half marathon here in {home} {when}! What should recovery look like this week?"),
           "Congratulations, that's a big milestone! Today, focus on fluids, a proper meal with carbs and protein, "
           "and gentle walking to loosen up rather than lying still all evening. Expect soreness to peak "
           "in a day or two. Take at least three or four days off running, then start with short, very easy runs. "
           "Sleep is the best recovery tool you have, so prioritise it this week."),
    _Event("sourdough", "bake my first loaf of sourdough", "baked my first loaf of sourdough",
           "baking my first loaf of sourdough", ("this morning", "today", "earlier today"),
           ("I baked my first loaf of sourdough {when}. It tastes great, but the crumb is really dense. What might I "
            "be doing wrong?",
            "I baked my first loaf of sourdough {when} with a starter {name} gave me. The crust is lovely, but the "
            "inside is dense and gummy. Any idea why?"),
           "A dense crumb usually means the dough was underproofed or the starter wasn't at its peak. Use the starter "
           "when it has roughly doubled and passes the float test, and let the bulk fermentation go until the dough "
           "has grown by about half, looks domed and jiggles when you shake the bowl. A warmer spot speeds things up. "
           "Building more strength with a few sets of stretch-and-folds also helps the loaf hold its rise."),
    _Event("vegetable garden", "plant a vegetable garden", "planted a vegetable garden", "planting a vegetable garden",
           ("this morning", "today"),
           ("I planted a vegetable garden {when}: tomatoes, peppers and a row of lettuce. How often should I water?",
            "I planted a vegetable garden {when}: {veg}. How often should I water?",
            "I planted a vegetable garden in the backyard {when}, with {veg}. What's the right watering routine?"),
           "For the first week or two, keep the soil consistently moist while the roots establish, which usually "
           "means a light watering every day or every other day, depending on the weather. After that, water deeply "
           "but less often, about once or twice a week, aiming for the soil around the roots rather than the leaves. "
           "Morning is the best time. A layer of mulch keeps moisture in and weeds down."),
    _Event("interview", "have a job interview", "had a job interview", "having a job interview",
           ("this morning", "today"),
           ("I had a job interview {when} for a senior {occupation} role, and I think it went well. Should I send a "
            "thank-you note, and what should it say?",
            "I had a job interview at {company} {when}, and I think it went well. Should I send a thank-you note?"),
           "Yes, send one within a day. Keep it short: thank them for their time, mention one specific thing from the "
           "conversation that excited you about the role, and briefly reinforce why you'd be a strong fit, perhaps "
           "with a point you wish you'd made more clearly. Email is perfectly fine. Send a separate note to each "
           "person you spoke with, with a line tailored to your conversation with them."),
    _Event("oil change", "get an oil change", "got an oil change", "getting an oil change", ("this morning", "today"),
           ("I took my car in for an oil change {when}, and the mechanic said my brake pads are getting thin. How "
            "urgent is that?",
            "I got an oil change on my {car} {when}, and the shop says the brake pads are getting low. Should I worry?"),
           "It depends on how thin: ask what thickness they measured. As a rough guide, pads are usually replaced at "
           "around three millimetres, and below that it becomes urgent. Warning signs are a squealing or grinding "
           "noise, a longer stopping distance or a pulsing pedal. If there are no symptoms, you probably have some "
           "time, but book it within the next few weeks rather than waiting for the grinding."),
    _Event("concert", "go to a concert", "went to a concert", "going to a concert", ("today", "earlier today"),
           ("I went to a {band} concert {when} and my ears are still ringing. Is that something to worry about?",
            "I went to a concert {when}: {band} were incredible, but my ears are ringing. Should I be worried?",
            "I went to a concert in {home} {when} with {name} and my ears are still buzzing. Is that normal?"),
           "Ringing after a loud show is very common and usually fades within a day or two; it's a sign your ears "
           "were overworked. Give them a quiet day and avoid headphones for a while. If the ringing lasts more than "
           "a couple of days, or you notice muffled hearing, see a doctor or audiologist. For future shows, "
           "musician's earplugs lower the volume evenly, so the music still sounds good."),
    _Event("sofa", "get my new sofa delivered", "got my new sofa delivered", "getting my new sofa delivered",
           ("this morning", "today"),
           ("My new sofa was delivered {when}, and it's a light linen fabric. How do I protect it from stains?",
            "I got my new sofa delivered {when}! It's light linen, which seemed like a great idea until I remembered I "
            "eat dinner on it. How do I keep it clean?"),
           "Linen looks lovely but does stain easily. A fabric protector spray, tested first on a hidden spot, adds a "
           "useful barrier. Blot spills immediately with a clean white cloth instead of rubbing, and check the care "
           "label code to see whether water-based cleaners are safe. Washable throws on the seats people use most "
           "save a lot of worry, and vacuuming weekly stops dirt from grinding into the weave."),
    _Event("blood", "donate blood", "donated blood", "donating blood", ("this morning", "today"),
           ("I donated blood for the first time {when}. I feel a bit lightheaded. What should I eat and drink for the "
            "rest of the day?",
            "I donated blood {when} at a drive at work and I'm a bit woozy. What should I eat and drink today?"),
           "Feeling a little lightheaded is normal. Drink plenty of fluids over the next day, since your body is "
           "replacing the lost volume, and have a proper meal with iron-rich foods like beans, lentils, leafy greens "
           "or red meat, plus something with vitamin C to help absorption. Avoid alcohol and strenuous exercise "
           "today, and sit or lie down straight away if you feel faint. Thank you for donating!"),
    _Event("gym", "sign up for a gym membership", "signed up for a gym membership", "signing up for a gym membership",
           ("today", "this morning"),
           ("I signed up for a gym membership {when}. I've never really lifted before. How should I structure my "
            "first few weeks?",
            "I finally signed up for a gym membership {when}, at a place near my office. I've never lifted. How should I "
            "structure the first few weeks?",
            "I signed up for a gym membership {when} with my friend {name}. Neither of us has lifted before. Where do "
            "we start?"),
           "Start with two or three full-body sessions a week, with a rest day between them. Pick five or six basic "
           "movements, like a squat, a push, a pull, a hinge and a core exercise, and do two or three sets of each "
           "with a weight that feels moderate. Focus on form over load for the first month; many places offer a free "
           "induction session, which is worth booking. Write down what you lift so you can add a little each week."),
    _Event("new job", "start my new job", "started my new job", "starting my new job", ("today", "this morning"),
           ("I started my new job {when}, and it was a whirlwind of names and logins. Any tips for making a good "
            "impression in the first month?",
            "I started my new job at {company} {when}. So many names and systems! How do I make a good impression in the "
            "first month?"),
           "Congratulations! In the first month, focus on listening and learning: keep a notebook of names, "
           "acronyms and who owns what, ask lots of questions early while it's expected, and schedule short "
           "one-to-ones with the people you'll work with most. Find one small, useful thing you can deliver quickly. "
           "Be reliable with the basics, like being on time and following through, because that builds trust faster "
           "than anything flashy."),
    _Event("kitten", "adopt a kitten", "adopted a kitten", "adopting a kitten", ("this morning", "today"),
           ("We adopted a kitten {when}! She's hiding under the bed. How do I help her settle in?",
            "I adopted a kitten {when} and named her {pet}. She's been hiding under the bed ever since. How do I help her "
            "settle in?"),
           "Hiding is completely normal at first. Set her up in one quiet room with food, water, a litter tray and "
           "a hiding spot like a covered bed or a box, and let her come out on her own terms. Sit in the room and "
           "talk softly, offer treats, and play with a wand toy once she's curious. Most kittens gain confidence "
           "within a few days, and then you can gradually open up the rest of the home."),
)

_TR_FORMS = ("between", "first", "last", "days_ago", "weeks_ago", "weeks_between", "first_of_three")


def _event_session(e: _Event, day: int, p: Persona, rng: random.Random) -> Evidence:
    text = rng.choice(e.users).format(when=rng.choice(e.whens), **_event_slots(p, rng))
    return _session(day, _user(text, True), _bot(e.reply))


def _tr_scenario(form: str) -> Callable[[Persona, random.Random, bool, int], Item]:
    def scenario(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
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
            q = f"How many {unit} passed between {a.ger} and {b.ger}?"
            diff = abs(da - db)
            if form == "between":
                gold, check, answer = (str(diff),), "days", f"{diff} days"
            else:
                gold, check, answer = (str(diff // 7),), "number", f"{diff // 7} weeks ({diff} days)"
            abst_q = f"How many {unit} passed between {a.ger} and {x.ger}?"
        elif form in ("first", "last"):
            pair = [a, b] if rng.random() < 0.5 else [b, a]
            if form == "first":
                q = rng.choice((f"Which did I do first, {pair[0].base} or {pair[1].base}?",
                                f"Which happened first: {pair[0].ger} or {pair[1].ger}?"))
                win = a if da > db else b
            else:
                q = rng.choice((f"Which did I do more recently, {pair[0].base} or {pair[1].base}?",
                                f"Which happened more recently: {pair[0].ger} or {pair[1].ger}?"))
                win = a if da < db else b
            facts["choices"] = [e.ger for e in pair]
            gold, check = win.aliases(), "contains"
            lose = b if win is a else a
            dw, dl = (da, db) if win is a else (db, da)
            answer = (f"{_cap(win.you('ger'))} ({dw} days before the question date) came "
                      f"{'before' if form == 'first' else 'after'} {lose.you('ger')} ({dl} days before).")
            abst_q = (f"Which did I do first, {a.base} or {x.base}?" if form == "first"
                      else f"Which did I do more recently, {a.base} or {x.base}?")
        elif form == "first_of_three":
            order = rng.sample(range(3), 3)
            names = [present[i] for i in order]
            q = f"Which of these did I do first: {names[0].base}, {names[1].base}, or {names[2].base}?"
            win = present[max(range(3), key=lambda i: days[i])]
            facts["choices"] = [e.ger for e in names]
            gold, check = win.aliases(), "contains"
            answer = f"{_cap(win.you('ger'))}, {max(days)} days before the question date."
            abst_q = f"Which of these did I do first: {a.base}, {x.base}, or {b.base}?"
        else:  # days_ago / weeks_ago: about the first present event; the other is a distractor
            if form == "days_ago":
                q = rng.choice((f"How many days ago did I {a.base}?", f"How many days has it been since I {a.past}?"))
                gold, check, answer = (str(da),), "days", f"{da} days ago"
                abst_q = f"How many days ago did I {x.base}?"
            else:
                q = f"How many weeks ago did I {a.base}?"
                gold, check, answer = (str(da // 7),), "number", f"{da // 7} weeks ago ({da} days)"
                abst_q = f"How many weeks ago did I {x.base}?"
        if abst:
            q = abst_q
        told = ", ".join(e.you("ger") for e in present[:-1]) + f" and {present[-1].you('ger')}"
        return _item(TR, f"tr_{form}", abst, q, ev, facts, answer=answer, gold=gold, check=check,
                     abst_answer=f"You did not mention {x.you('ger')}; you only told me about {told}.",
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
    old, new = _distinct_numbers(rng, lambda: (m := rng.randint(24, 36), m - rng.randint(1, 4)))
    d_old, d_new = _ku_days(rng, max_days)
    old_ev = _session(d_old, _user_open(rng, rng.choice((
        f"I ran a 5K this morning in {old} minutes, which is my best time so far. How can I get faster without "
        f"getting injured?",
        f"Did a parkrun in {p.city} this morning: {old} minutes, my fastest 5K yet. What training would help me improve?",
        f"My 5K best is {old} minutes as of this morning's run with {rng.choice(FEMALE_NAMES + MALE_NAMES)}. How do "
        f"I get quicker without hurting myself?")), True),
                      _bot("Nice work! The safest way to get faster is to keep most of your running easy and "
                           "conversational, and add one quality session a week, such as short intervals at a hard "
                           "effort with walking recoveries. Increase your weekly distance gradually, by no more than "
                           "about ten percent a week, and add two short strength sessions for your hips, glutes and "
                           "calves. Sleep and a rest day or two each week matter as much as the hard workouts."))
    new_ev = _session(d_new, _user_open(rng, rng.choice((
        f"Big news: I set a new 5K personal best today, {new} minutes! Now I'm wondering whether to train for a 10K "
        f"next.",
        f"New 5K PR this morning: {new} minutes! All that interval work paid off. Should I try a 10K next?")), True),
                      _bot("Congratulations, that's a great improvement! A 10K is a natural next step. Build your "
                           "longest run gradually until you're comfortable covering the full distance at an easy pace, "
                           "keep one faster session a week, and practise running the first half a little slower than "
                           "feels necessary. Most people need eight to ten weeks of steady training, and the speed "
                           "you've built will carry over well."))
    return _ku_item("ku_5k", abst, rng.choice(("What is my personal best time for a 5K?", "What's my fastest 5K time?")),
                    rng.choice(("What is my personal best time for a marathon?", "How fast did I run my last marathon?")),
                    old_ev, new_ev, old, new, (str(new),), "number",
                    f"{new} minutes (it improved from {old} minutes).",
                    f"You did not mention a marathon; you only talked about your 5K times, most recently a personal "
                    f"best of {new} minutes.", "marathon")


def _ku_move(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    old, new = rng.sample(NEIGHBORHOODS, 2)
    d_old, d_new = _ku_days(rng, max_days)
    old_text = (f"I live in {old}, here in {p.city}, and I work from home a lot, so I barely know anyone nearby. "
                f"What's a good way to meet people in my neighborhood?")
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot("A few approaches work well: become a regular somewhere, like a café, the library or a "
                           "weekly market, because repeated small encounters turn into conversations. Join something "
                           "with a recurring schedule, such as a running club, a community garden or a volunteer "
                           "group. Local online groups are useful for finding events. And don't underestimate saying "
                           "hello to neighbours; small talk is how most neighbourhood friendships start."))
    new_text = (f"We finally finished moving! I'm now living in {new}, across town from my old place. What should "
                f"I update my address with first?")
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot("Congratulations on the move! Start with the most important: your bank and credit cards, "
                           "your employer's payroll records, your driving licence and vehicle registration, and the "
                           "tax office. Then update insurance, your doctor and dentist, utilities and subscriptions. "
                           "Setting up mail forwarding with the post office for a few months catches anything you "
                           "forget. Online shops keep old addresses saved, so check those before your next order."))
    rel = p.sibling_relation
    return _ku_item("ku_move", abst, rng.choice(("Which neighborhood do I live in?", "What part of town do I live in?")),
                    f"Which neighborhood does my {rel} live in?", old_ev, new_ev, old, new, (new,), "contains",
                    f"{new} (you moved there from {old}).",
                    f"You did not mention where your {rel} lives; you only told me that you moved from {old} to {new}.",
                    rel)


def _ku_job(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    old, new = rng.sample(COMPANIES, 2)
    d_old, d_new = _ku_days(rng, max_days)
    occ = _a(p.occupation)
    old_text = (f"I work as {occ} at {old[0]}, and we're starting a four-day-week pilot. How should I restructure "
                f"my schedule so nothing slips?")
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot("A compressed week rewards planning. Block your most demanding work into the mornings when "
                           "you're freshest, batch meetings into one or two afternoons, and keep a short list of the "
                           "three things that must happen each day. Agree with your team on response-time "
                           "expectations for the day off, and review at the end of each week what slipped and why. "
                           "After a month, you'll know which habits actually help."))
    new_text = (f"Update: I accepted an offer and started at {new[0]} this week, still as {occ}. What should I "
                f"focus on in my first ninety days?")
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot("Congratulations on the new role! In the first month, learn: meet everyone you'll work "
                           "with, understand how decisions are made and what success looks like for your manager. In "
                           "the second, contribute: take on a well-scoped piece of work and deliver it reliably. In the "
                           "third, start to lead: suggest one improvement based on what you've observed. Keep notes "
                           "throughout; they're invaluable at your first review."))
    return _ku_item("ku_job", abst, rng.choice(("What company do I work for?", "Where do I work?")),
                    rng.choice(("What company does my partner work for?", "Where does my partner work?")),
                    old_ev, new_ev, old[0], new[0], new, "contains",
                    f"{new[0]} (you previously worked at {old[0]}).",
                    f"You did not mention a partner or where they work; you only told me that you moved from "
                    f"{old[0]} to {new[0]}.", "partner")


def _ku_plants(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    old, new = _distinct_numbers(rng, lambda: (m := rng.randint(4, 14), m + rng.randint(2, 6)))
    d_old, d_new = _ku_days(rng, max_days)
    old_ev = _session(d_old, _user_open(rng, rng.choice((
        f"I have {_words(old)} houseplants crammed onto my windowsills, and a few of them have yellowing leaves. "
        f"What could be causing that?",
        f"Some of my houseplants have yellow leaves, and I have {_words(old)} of them in a small apartment in "
        f"{p.city}, so I'm worried. What's usually behind that?")), True),
                      _bot("Yellow leaves are most often a watering problem, usually too much. Check the soil an inch "
                           "or two down: if it's still damp, wait before watering again, and make sure every pot has "
                           "a drainage hole. Other common causes are too little light, which is likely if they're "
                           "crowded, a sudden draught from a window, or simply old leaves dying off naturally at the "
                           "bottom of the plant. Remove yellow leaves so the plant can focus on new growth."))
    new_ev = _session(d_new, _user_open(rng, rng.choice((
        f"I went a little overboard at the plant sale this weekend, and I'm now up to {_words(new)} houseplants. How "
        f"do I keep track of their different watering schedules?",
        f"My friend {rng.choice(FEMALE_NAMES + MALE_NAMES)} gave me some cuttings and I bought a few more, so I now "
        f"have {_words(new)} houseplants. How do I keep track of watering?")), True),
                      _bot("A small system saves a lot of guesswork. Group plants with similar needs together, then "
                           "check each group on a set day rather than watering everything on a schedule; the finger "
                           "test beats the calendar. A simple plant-care app can remind you, or you can stick a small "
                           "label on each pot with how dry the soil should get before watering. Writing down the date "
                           "you repot or fertilise helps too."))
    return _ku_item("ku_plants", abst, rng.choice(("How many houseplants do I have?", "How many houseplants do I own now?")),
                    rng.choice(("How many succulents do I have?", "How many succulents do I own?")),
                    old_ev, new_ev, old, new, (str(new),), "number", f"{new} (up from {old}).",
                    f"You did not mention any succulents; you only said you have {new} houseplants (up from {old}).",
                    "succulent")


def _ku_rent(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    old, new = _distinct_numbers(rng, lambda: (r := rng.choice(range(600, 925, 25)), r + rng.choice(range(25, 200, 25))))
    d_old, d_new = _ku_days(rng, max_days)
    old_ev = _session(d_old, _user_open(rng, rng.choice((
        f"My share of the rent is ${old} a month, and I'm trying to build a budget that actually works. Can you walk "
        f"me through a simple method?",
        f"I share a flat in {p.city} with {rng.choice(FEMALE_NAMES + MALE_NAMES)} and my share of the rent is ${old} "
        f"a month. What's a simple budgeting method for someone on {_a(p.occupation)}'s salary?")), True),
                      _bot("A simple starting point is the 50/30/20 split: about half of your take-home pay for needs "
                           "like rent, utilities, groceries and transport, around thirty percent for wants, and twenty "
                           "percent for savings and paying down debt. Track your spending for a month first to see "
                           "where you really are, then adjust. Automate savings on payday, and review the numbers once "
                           "a month rather than daily."))
    new_ev = _session(d_new, _user_open(rng, rng.choice((
        f"Ugh, our landlord raised the rent, so my share is now ${new} a month. Is there anything I can do, or do I "
        f"just have to adjust my budget?",
        f"The lease renewal came through and my share of the rent went up to ${new} a month. Can I push back on "
        f"that?")), True),
                      _bot("It's worth asking before you simply accept it. Check your lease and local rules on how "
                           "much notice and how large an increase are allowed. If you've been a reliable tenant, "
                           "politely asking for a smaller increase, or offering a longer lease in exchange, sometimes "
                           "works. Either way, update your budget now: look for the categories in your wants where a "
                           "small cut would cover the difference."))
    return _ku_item("ku_rent", abst, rng.choice(("How much is my share of the rent each month?",
                                                 "What do I pay in rent each month?")),
                    rng.choice(("How much do I pay for parking each month?", "What does my parking spot cost me?")),
                    old_ev, new_ev, old, new, (str(new),), "number", f"${new} a month (it used to be ${old}).",
                    f"You did not mention parking; you only talked about your share of the rent, now ${new} a month.",
                    "parking")


def _ku_pet_weight(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    pet, breed = rng.choice(PET_NAMES), rng.choice(DOG_BREEDS)[0]
    g = _pron(rng)
    old, new = _distinct_numbers(rng, lambda: (w := rng.randint(8, 30), w + rng.randint(3, 15)))
    d_old, d_new = _ku_days(rng, max_days)
    old_text = (f"My {breed} puppy {pet} weighs {old} pounds at the moment. How much should I be feeding "
                f"{g['him']}?")
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot(f"The feeding guide on the bag is a reasonable starting point, since it's based on weight "
                           f"and age, but treat it as a range rather than a rule. Split the daily amount into three "
                           f"meals for a young puppy. The best check is body condition: you should be able to feel "
                           f"{pet}'s ribs easily without seeing them, with a visible waist from above. Adjust the "
                           f"amount a little every couple of weeks as {g['he']} grows."))
    new_text = (f"We had {pet}'s checkup today and {g['he']}'s up to {new} pounds! The vet says {g['he']}'s right "
                f"on track. When should I switch to adult food?")
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot(f"Great news that {pet} is growing well. Most dogs switch to adult food when they reach "
                           f"about eighty to ninety percent of their adult size, which is around a year for many "
                           f"breeds, later for large ones. When you switch, mix the new food in gradually over a week "
                           f"to avoid an upset stomach, and ask your vet at the next checkup which timing suits "
                           f"{g['him']} best."))
    return _ku_item("ku_pet_weight", abst, rng.choice((f"How much does my dog {pet} weigh?", f"What does {pet} weigh now?")),
                    rng.choice(("How much does my cat weigh?", "What does my cat weigh now?")),
                    old_ev, new_ev, old, new, (str(new),), "number", f"{new} pounds (up from {old}).",
                    f"You did not mention a cat; you only talked about your dog {pet}, who most recently weighed {new} "
                    f"pounds.", "cat", pet_name=pet)


def _ku_reading(p: Persona, rng: random.Random, abst: bool, max_days: int) -> Item:
    (old, old_author, _), (new, new_author, _) = rng.sample(BOOKS, 2)
    d_old, d_new = _ku_days(rng, max_days)
    old_text = (f"I'm reading {old} by {old_author} right now and I keep losing track of the characters. Any tips?")
    old_ev = _session(d_old, _user_open(rng, old_text, True),
                      _bot("That happens to everyone with a big cast. Keep a bookmark-sized card with each "
                           "character's name and a few words about who they are, adding people as they appear. Many "
                           "novels include a character list or family tree at the front, so check there too. Reading "
                           "in longer sittings helps, and a quick recap of the previous chapter before you start each "
                           "session keeps everyone straight."))
    new_text = (f"I finally finished {old} and started {new} by {new_author} last night. It's already gripping. "
                f"How can I make time to read more consistently?")
    new_ev = _session(d_new, _user_open(rng, new_text, True),
                      _bot("Tie reading to something you already do every day: ten pages with your morning coffee, "
                           "on your commute, or in bed instead of scrolling. Keep the book wherever you spend idle "
                           "minutes, and set a small daily target you can hit even on busy days. A gripping book "
                           "makes it easy, so use the momentum to build the habit now."))
    gold = (new,) + ((new[4:],) if new.startswith("The ") else ())
    return _ku_item("ku_reading", abst, rng.choice(("What book am I currently reading?", "Which book am I reading right now?")),
                    rng.choice(("What podcast am I currently listening to?", "Which podcast am I listening to right now?")),
                    old_ev, new_ev, old, new, gold, "contains", f"{new} by {new_author} (you finished {old}).",
                    f"You did not mention a podcast; you only talked about your reading, most recently {new} by "
                    f"{new_author}.", "podcast")


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
