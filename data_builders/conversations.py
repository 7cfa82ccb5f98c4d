"""Chat sessions that pad LongMemEval-style histories.

A history is many dated user-assistant sessions; a few evidence sessions hold facts the user states and the
rest is filler. Filler must read like real chats with a helpful assistant, yet the user in it never states a
personal fact (pets, family, home, job, purchases, events, health, ...): a filler fact could answer, or
contradict, a memory question. Users here only ask general questions ("How do I ...", "Explain ...").

Two sources: `filler_session` writes sessions from the templates and word banks below (deterministic in the
`random.Random` passed in); `chat_sessions_from_dataset` reads the user's own chat corpus with `datasets`.
Whoever uses a corpus must make sure it obeys the same rule: this module normalises it but cannot check it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

from longbench_suite.errors import UserError

from .sources import iter_rows, load_dataset_source

# --- word banks ---------------------------------------------------------------------------------
# Plain lists. A bank of dicts is a record: every field of the picked record is filled together, so a
# city's sights or a budget's numbers stay consistent within a session.

CITIES = [
    {"city": "Lisbon", "old_town": "Alfama", "landmark": "Belém Tower", "museum": "the Gulbenkian Museum",
     "day_trip": "Sintra", "local_food": "pastéis de nata", "viewpoint": "Miradouro da Senhora do Monte"},
    {"city": "Kyoto", "old_town": "Gion", "landmark": "Fushimi Inari Shrine", "museum": "the Kyoto National Museum",
     "day_trip": "Nara", "local_food": "yudofu and matcha sweets", "viewpoint": "the terrace of Kiyomizu-dera"},
    {"city": "Barcelona", "old_town": "the Gothic Quarter", "landmark": "the Sagrada Família",
     "museum": "the Picasso Museum", "day_trip": "Montserrat", "local_food": "tapas and pan con tomate",
     "viewpoint": "the Bunkers del Carmel"},
    {"city": "Edinburgh", "old_town": "the Old Town and Royal Mile", "landmark": "Edinburgh Castle",
     "museum": "the National Museum of Scotland", "day_trip": "the Forth bridges at South Queensferry",
     "local_food": "a full Scottish breakfast", "viewpoint": "Arthur's Seat"},
    {"city": "Prague", "old_town": "the Old Town Square", "landmark": "Prague Castle",
     "museum": "the National Gallery", "day_trip": "Kutná Hora", "local_food": "goulash and trdelník",
     "viewpoint": "Letná Park"},
    {"city": "Vienna", "old_town": "the Innere Stadt", "landmark": "Schönbrunn Palace",
     "museum": "the Kunsthistorisches Museum", "day_trip": "the Wachau Valley",
     "local_food": "Wiener schnitzel and Sachertorte", "viewpoint": "the Kahlenberg hill"},
    {"city": "Montreal", "old_town": "Old Montreal", "landmark": "Notre-Dame Basilica",
     "museum": "the Montreal Museum of Fine Arts", "day_trip": "the Eastern Townships",
     "local_food": "poutine and wood-fired bagels", "viewpoint": "the Mount Royal lookout"},
    {"city": "Mexico City", "old_town": "the Centro Histórico", "landmark": "the Zócalo and Metropolitan Cathedral",
     "museum": "the National Museum of Anthropology", "day_trip": "Teotihuacan", "local_food": "tacos al pastor",
     "viewpoint": "Chapultepec Castle"},
    {"city": "Seoul", "old_town": "Bukchon Hanok Village", "landmark": "Gyeongbokgung Palace",
     "museum": "the National Museum of Korea", "day_trip": "Suwon's Hwaseong Fortress",
     "local_food": "Korean barbecue and tteokbokki", "viewpoint": "N Seoul Tower"},
    {"city": "Copenhagen", "old_town": "Nyhavn and the old harbor", "landmark": "Tivoli Gardens",
     "museum": "the National Museum of Denmark", "day_trip": "Roskilde", "local_food": "smørrebrød",
     "viewpoint": "the Round Tower"},
    {"city": "Istanbul", "old_town": "Sultanahmet", "landmark": "the Hagia Sophia", "museum": "Topkapı Palace",
     "day_trip": "the Princes' Islands", "local_food": "simit and grilled kebabs", "viewpoint": "Galata Tower"},
    {"city": "Budapest", "old_town": "the Castle District", "landmark": "the Parliament building",
     "museum": "the Hungarian National Museum", "day_trip": "Szentendre", "local_food": "lángos and goulash",
     "viewpoint": "Gellért Hill"},
]

BOOK_GENRES = [
    {"book_genre": "science fiction",
     "book1": "*The Left Hand of Darkness* by Ursula K. Le Guin: a diplomat on an icy world rethinks gender and loyalty.",
     "book2": "*Project Hail Mary* by Andy Weir: a lone astronaut solves science puzzles to save Earth, with real warmth.",
     "book3": "*Dune* by Frank Herbert: a desert-planet epic about politics, ecology and prophecy.",
     "book4": "*The Dispossessed* by Ursula K. Le Guin: two neighbouring worlds with opposite political systems."},
    {"book_genre": "mystery",
     "book1": "*The Murder of Roger Ackroyd* by Agatha Christie: a village poisoning with a famously daring twist.",
     "book2": "*The Daughter of Time* by Josephine Tey: a bedridden detective investigates Richard III from his bed.",
     "book3": "*In the Woods* by Tana French: an atmospheric Dublin police procedural with a haunting past case.",
     "book4": "*The Thursday Murder Club* by Richard Osman: retirees solve a murder, funny and surprisingly moving."},
    {"book_genre": "historical fiction",
     "book1": "*Wolf Hall* by Hilary Mantel: Thomas Cromwell's rise at the court of Henry VIII.",
     "book2": "*All the Light We Cannot See* by Anthony Doerr: two young lives converging in occupied France.",
     "book3": "*The Name of the Rose* by Umberto Eco: a medieval monastery, a string of deaths and a monk-detective.",
     "book4": "*Pachinko* by Min Jin Lee: four generations of a Korean family in twentieth-century Japan."},
    {"book_genre": "fantasy",
     "book1": "*A Wizard of Earthsea* by Ursula K. Le Guin: a short, wise coming-of-age story about power and names.",
     "book2": "*The Hobbit* by J.R.R. Tolkien: the cosy, adventurous gateway to Middle-earth.",
     "book3": "*Piranesi* by Susanna Clarke: a strange, beautiful house of endless halls and tides.",
     "book4": "*The Name of the Wind* by Patrick Rothfuss: a gifted musician-magician tells his own legend."},
    {"book_genre": "popular science",
     "book1": "*The Selfish Gene* by Richard Dawkins: evolution explained from the gene's point of view.",
     "book2": "*Seven Brief Lessons on Physics* by Carlo Rovelli: relativity and quantum ideas in under 100 pages.",
     "book3": "*The Immortal Life of Henrietta Lacks* by Rebecca Skloot: science, ethics and one family's story.",
     "book4": "*Entangled Life* by Merlin Sheldrake: the hidden world of fungi, told with contagious wonder."},
    {"book_genre": "thriller",
     "book1": "*Rebecca* by Daphne du Maurier: a new bride haunted by her husband's first wife at Manderley.",
     "book2": "*The Day of the Jackal* by Frederick Forsyth: a meticulous cat-and-mouse assassination plot.",
     "book3": "*Gone Girl* by Gillian Flynn: a marriage told from two unreliable points of view.",
     "book4": "*The Talented Mr. Ripley* by Patricia Highsmith: a charming impostor on the Italian coast."},
]

FILM_GENRES = [
    {"film_genre": "science fiction",
     "film1": "*Arrival* (2016): a linguist learns an alien language, quiet and deeply emotional.",
     "film2": "*Blade Runner 2049* (2017): a gorgeous, slow-burning sequel about memory and identity.",
     "film3": "*Moon* (2009): a lone worker on a lunar base starts to doubt his own story.",
     "film4": "*Gattaca* (1997): a sleek drama about ambition in a genetically engineered society."},
    {"film_genre": "comedy",
     "film1": "*Some Like It Hot* (1959): two musicians on the run in disguise, still razor sharp.",
     "film2": "*The Grand Budapest Hotel* (2014): Wes Anderson's candy-coloured caper about a legendary concierge.",
     "film3": "*Groundhog Day* (1993): a weatherman relives the same day until he gets it right.",
     "film4": "*Paddington 2* (2017): relentlessly kind, clever and genuinely funny for every age."},
    {"film_genre": "thriller",
     "film1": "*Rear Window* (1954): Hitchcock's masterclass in suspense from a single apartment window.",
     "film2": "*Zodiac* (2007): an obsessive, meticulous hunt for a real-life serial killer.",
     "film3": "*Prisoners* (2013): a tense missing-persons story with moral gray areas.",
     "film4": "*The Third Man* (1949): postwar Vienna, a vanished friend and that zither score."},
    {"film_genre": "animated",
     "film1": "*Spirited Away* (2001): a girl works in a bathhouse for spirits, endlessly inventive.",
     "film2": "*Up* (2009): an old man's flying house adventure with a legendary opening sequence.",
     "film3": "*Spider-Man: Into the Spider-Verse* (2018): bold comic-book visuals and a big heart.",
     "film4": "*Wallace & Gromit: The Wrong Trousers* (1993): a half-hour claymation heist, perfect from start to end."},
    {"film_genre": "documentary",
     "film1": "*Free Solo* (2018): a climber attempts El Capitan without ropes, nerve-racking to watch.",
     "film2": "*Man on Wire* (2008): the story of a tightrope walk between the Twin Towers, told like a heist.",
     "film3": "*My Octopus Teacher* (2020): a year-long friendship with an octopus in a kelp forest.",
     "film4": "*Jiro Dreams of Sushi* (2011): a portrait of craft, discipline and a tiny Tokyo restaurant."},
    {"film_genre": "classic drama",
     "film1": "*12 Angry Men* (1957): one juror questions a case that everyone else thinks is closed.",
     "film2": "*Casablanca* (1942): love, duty and sharp dialogue in a wartime café.",
     "film3": "*Tokyo Story* (1953): a quiet, devastating film about parents and grown children.",
     "film4": "*It's a Wonderful Life* (1946): a small-town banker sees what life would be without him."},
]

LANGUAGES = [
    {"language": "Spanish", "hello": "hola", "thanks": "gracias"},
    {"language": "French", "hello": "bonjour", "thanks": "merci"},
    {"language": "Italian", "hello": "ciao", "thanks": "grazie"},
    {"language": "German", "hello": "hallo", "thanks": "danke"},
    {"language": "Portuguese", "hello": "olá", "thanks": "obrigado or obrigada"},
    {"language": "Japanese", "hello": "konnichiwa", "thanks": "arigatou"},
    {"language": "Korean", "hello": "annyeonghaseyo", "thanks": "gamsahamnida"},
    {"language": "Dutch", "hello": "hallo", "thanks": "dank je"},
]

GARDEN_PLANTS = [
    {"plant": "tomatoes", "sun": "at least 6 to 8 hours of direct sun", "spacing": "45 to 60 cm",
     "harvest": "when they are fully coloured and give slightly to a gentle squeeze"},
    {"plant": "basil", "sun": "6 or more hours of sun and warm nights", "spacing": "20 to 30 cm",
     "harvest": "by pinching the top pairs of leaves once the plant is about 15 cm tall"},
    {"plant": "zucchini", "sun": "full sun", "spacing": "about 90 cm",
     "harvest": "when the fruits are 15 to 20 cm long, before they turn woody"},
    {"plant": "strawberries", "sun": "6 to 10 hours of sun", "spacing": "30 to 45 cm",
     "harvest": "when the berries are red all the way to the stem"},
    {"plant": "peppers", "sun": "full sun and warm soil", "spacing": "40 to 50 cm",
     "harvest": "once they reach full size, green or left longer to ripen to red"},
    {"plant": "lettuce", "sun": "4 to 6 hours of sun, with afternoon shade in hot weather", "spacing": "20 to 30 cm",
     "harvest": "leaf by leaf from the outside, or the whole head before it bolts"},
]

HOUSEPLANTS = [
    {"houseplant": "a monstera", "light": "bright, indirect light", "water": "when the top 5 cm of soil is dry"},
    {"houseplant": "a snake plant", "light": "anything from low light to bright, indirect light",
     "water": "only when the soil is completely dry, often every 2 to 3 weeks"},
    {"houseplant": "a pothos", "light": "medium to bright, indirect light", "water": "when the top third of the soil is dry"},
    {"houseplant": "a fiddle-leaf fig", "light": "bright, consistent, indirect light near a window",
     "water": "when the top 5 cm of soil is dry, thoroughly and then let it drain"},
    {"houseplant": "a peace lily", "light": "low to medium indirect light", "water": "when the leaves just begin to droop"},
    {"houseplant": "a ZZ plant", "light": "low to bright, indirect light", "water": "only when the soil is fully dry"},
]

BUDGETS = [  # 50/30/20 splits of a monthly take-home pay
    {"income": "$2,600", "needs": "$1,300", "wants": "$780", "savings": "$520"},
    {"income": "$3,000", "needs": "$1,500", "wants": "$900", "savings": "$600"},
    {"income": "$4,200", "needs": "$2,100", "wants": "$1,260", "savings": "$840"},
    {"income": "$5,500", "needs": "$2,750", "wants": "$1,650", "savings": "$1,100"},
]

COMPOUNDING = [  # annual compounding: principal * (1 + rate) ** years
    {"principal": "$1,000", "rate": "5%", "years": "10", "grown": "$1,628.89", "simple": "$1,500"},
    {"principal": "$2,000", "rate": "6%", "years": "15", "grown": "$4,793.12", "simple": "$3,800"},
    {"principal": "$5,000", "rate": "7%", "years": "20", "grown": "$19,348.42", "simple": "$12,000"},
    {"principal": "$10,000", "rate": "4%", "years": "25", "grown": "$26,658.36", "simple": "$20,000"},
]

PERCENTAGES = [
    {"pct": "15", "base": "80", "part": "12", "old": "80", "new": "92", "change": "15"},
    {"pct": "20", "base": "45", "part": "9", "old": "45", "new": "54", "change": "20"},
    {"pct": "25", "base": "64", "part": "16", "old": "64", "new": "80", "change": "25"},
    {"pct": "40", "base": "35", "part": "14", "old": "35", "new": "49", "change": "40"},
]

JOB_ROLES = ["junior data analyst", "marketing coordinator", "customer support specialist", "junior web developer",
             "project coordinator", "graphic designer", "research assistant", "operations associate"]

NAMES = ["Ana", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Imani", "Jonas", "Keiko", "Luis",
         "Maya", "Noah", "Olga", "Priya", "Quentin", "Rosa", "Sam", "Tariq"]

SONG_KEYS = [
    {"key": "C major", "scale": "C D E F G A B", "chords": "C, F and G", "relative": "A minor"},
    {"key": "G major", "scale": "G A B C D E F#", "chords": "G, C and D", "relative": "E minor"},
    {"key": "D major", "scale": "D E F# G A B C#", "chords": "D, G and A", "relative": "B minor"},
    {"key": "F major", "scale": "F G A Bb C D E", "chords": "F, Bb and C", "relative": "D minor"},
    {"key": "A major", "scale": "A B C# D E F# G#", "chords": "A, D and E", "relative": "F# minor"},
]

# slot name -> bank; every field of a record bank is a slot
_BANKS: dict[str, list] = {"role": JOB_ROLES, "name": NAMES}
for _bank in (CITIES, BOOK_GENRES, FILM_GENRES, LANGUAGES, GARDEN_PLANTS, HOUSEPLANTS, BUDGETS, COMPOUNDING,
              PERCENTAGES, SONG_KEYS):
    for _field in _bank[0]:
        _BANKS[_field] = _bank


class _Slots(dict):
    """One session's slot values, drawn on first use so that follow-ups see the same city, genre, ..."""

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        pick = self.rng.choice(_BANKS[key])
        if isinstance(pick, dict):
            self.update(pick)
            return pick[key]
        self[key] = pick
        return pick


# --- templates ----------------------------------------------------------------------------------


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


def _turn(users, intros, items, steps=False, code="", follow=()) -> _Turn:
    return _Turn(tuple(users), tuple(intros), tuple(items), steps, code.strip("\n"), tuple(follow))


def _topic(asks, follow=(), offers=()) -> _Topic:
    return _Topic(tuple(asks), tuple(follow), tuple(offers))


_OFFERS = (
    "Let me know if you'd like more detail on any of these points.",
    "Want me to expand on any of the points above?",
    "If anything is unclear, just ask and I'll break it down further.",
    "Happy to adjust this if you have other constraints in mind.",
    "Would you like a shorter checklist version of this?",
)
_OPENER_PREFIXES = ["", "", "", "Hi! ", "Hello! ", "Hey, quick question. "]
_FOLLOW_PREFIXES = ["", "", "", "Thanks! ", "Great, thanks. ", "That helps. ", "Nice. ", "Got it. "]


# --- topics -------------------------------------------------------------------------------------
# Each topic: a few requests (each with its own follow-ups) and follow-ups that fit after any of them.

_TOPICS: dict[str, _Topic] = {}

_TOPICS["recipes"] = _topic(
    asks=[
        _turn(
            ["Can you give me a simple recipe for chicken curry?", "How do you make an easy chicken curry at home?",
             "What's a good weeknight chicken curry recipe?"],
            ["Here's an easy chicken curry that comes together in about 40 minutes and serves four.",
             "Sure! This is a simple, crowd-pleasing chicken curry for four people."],
            ["Dice 1 large onion, mince 3 garlic cloves and grate a thumb-sized piece of ginger.",
             "Heat 2 tablespoons of oil in a deep pan and cook the onion over medium heat for 8 to 10 minutes, "
             "until soft and golden.",
             "Add the garlic, ginger and 2 tablespoons of curry powder, and stir for one minute until fragrant.",
             "Add 600 g of bite-sized chicken thigh pieces and cook until no longer pink on the outside.",
             "Pour in a 400 g can of chopped tomatoes and a 400 ml can of coconut milk, then simmer for 20 minutes.",
             "Season with salt, a squeeze of lime and chopped coriander, and serve with rice or naan."],
            steps=True,
            follow=[
                _turn(["Could you make that vegetarian?", "Is there a vegetarian version of that curry?"],
                      ["Absolutely, the sauce works just as well without meat. Here's how to adapt it:"],
                      ["Swap the chicken for a 400 g can of drained chickpeas plus 300 g of cubed sweet potato.",
                       "Add the sweet potato with the tomatoes so it gets the full 20 minutes to soften.",
                       "Stir in the chickpeas for the last 10 minutes so they warm through without going mushy.",
                       "Fold in two big handfuls of spinach at the end for colour and extra greens.",
                       "Use vegetable stock instead of water if the sauce gets too thick."]),
                _turn(["How can the curry be made less spicy?", "What's the best way to tone down the heat?"],
                      ["Good question. Heat is easy to dial back without losing flavour:"],
                      ["Use a mild curry powder and skip any extra chili or cayenne.",
                       "Stir in an extra splash of coconut milk or a spoonful of plain yogurt at the end.",
                       "A teaspoon of sugar or honey balances heat surprisingly well.",
                       "Serve it with cooling sides such as cucumber raita and plain basmati rice."]),
            ]),
        _turn(
            ["How do you make a proper spaghetti carbonara?", "Can you walk me through classic carbonara?"],
            ["Classic carbonara needs only a handful of ingredients; the trick is temperature. For two servings:",
             "Here's the traditional Roman method, which uses no cream at all:"],
            ["Cook 200 g of spaghetti in well-salted boiling water until just al dente.",
             "Meanwhile, crisp 100 g of diced guanciale or pancetta in a dry pan over medium heat.",
             "Whisk 2 whole eggs and 2 yolks with 50 g of finely grated pecorino and plenty of black pepper.",
             "Take the pan off the heat, add the drained pasta and a splash of pasta water, and toss.",
             "Pour in the egg mixture and toss quickly, adding pasta water until the sauce turns glossy and creamy.",
             "Serve immediately with extra pecorino and pepper."],
            steps=True,
            follow=[
                _turn(["Why does carbonara sauce sometimes turn scrambled?", "How do you keep the eggs from scrambling?"],
                      ["Scrambling happens when the eggs get hotter than about 70°C. A few habits prevent it:"],
                      ["Always add the eggs off the heat; the pasta's own warmth is enough to thicken them.",
                       "Let the pan cool for 30 seconds after crisping the pork before the pasta goes in.",
                       "Keep a cup of pasta water nearby and add it a little at a time to loosen and cool the sauce.",
                       "Toss constantly so no part of the egg sits against hot metal for long."]),
            ]),
        _turn(
            ["What's a quick vegetable stir-fry recipe?", "Could you share an easy stir-fry for a busy weeknight?"],
            ["A good stir-fry takes about 20 minutes once everything is chopped. This one serves two:",
             "Here's a fast, flexible vegetable stir-fry:"],
            ["Mix the sauce first: 3 tablespoons soy sauce, 1 tablespoon rice vinegar, 1 teaspoon sugar, "
             "1 teaspoon cornstarch and 4 tablespoons water.",
             "Slice 1 red pepper, 1 carrot, a small head of broccoli and a handful of snap peas into even pieces.",
             "Heat a wok or large pan until very hot, add 1 tablespoon of oil and stir-fry the carrot and broccoli "
             "for 3 minutes.",
             "Add the pepper, snap peas, 2 sliced garlic cloves and some grated ginger for another 2 minutes.",
             "Pour in the sauce and toss until it thickens and coats the vegetables, about 1 minute.",
             "Serve over rice or noodles, topped with sesame seeds and sliced spring onion."],
            steps=True,
            follow=[
                _turn(["How do you keep the vegetables crunchy?", "Why do stir-fry vegetables go soggy sometimes?"],
                      ["Soggy vegetables usually mean the pan was crowded or not hot enough. To keep them crisp:"],
                      ["Preheat the pan for a couple of minutes so the vegetables sizzle the moment they land.",
                       "Cook in batches if the pan is small; crowding makes them steam instead of sear.",
                       "Dry washed vegetables thoroughly, since water drops the temperature fast.",
                       "Add the sauce only at the very end and serve straight away."]),
                _turn(["What protein could be added to that stir-fry?"],
                      ["Almost anything works, as long as it's cooked first and returned at the end:"],
                      ["Firm tofu, pressed and cubed, then fried until golden on all sides.",
                       "Thinly sliced chicken breast, tossed with a little cornstarch for a silky coating.",
                       "Peeled prawns, which need only 2 minutes until they turn pink.",
                       "Edamame or cashews for an easy plant-based boost with no extra pan."]),
            ]),
        _turn(
            ["What's a good recipe for lentil soup?", "How do you make a hearty lentil soup?"],
            ["Lentil soup is cheap, filling and very forgiving. This version serves four to six:"],
            ["Soften 1 diced onion, 2 carrots and 2 celery sticks in olive oil for about 8 minutes.",
             "Add 3 garlic cloves, 1 teaspoon of cumin and 1 teaspoon of smoked paprika and cook for a minute.",
             "Stir in 250 g of rinsed brown or green lentils, a 400 g can of tomatoes and 1.5 litres of stock.",
             "Simmer for 30 to 35 minutes until the lentils are tender.",
             "Blend about a third of the soup and stir it back in for a creamy texture.",
             "Finish with lemon juice, salt and pepper, and a drizzle of good olive oil."],
            steps=True,
            follow=[
                _turn(["Can lentil soup be frozen?", "Does that soup freeze well?"],
                      ["Yes, lentil soup is one of the best soups for freezing. A few tips:"],
                      ["Cool it completely, then freeze in portions in airtight containers or freezer bags.",
                       "Leave a couple of centimetres of space at the top because liquid expands as it freezes.",
                       "It keeps well for about 3 months; label the containers with the date.",
                       "Thaw overnight in the fridge and add a splash of water when reheating, as it thickens."]),
            ]),
        _turn(
            ["How do I make shakshuka?", "Can you explain how to cook shakshuka?"],
            ["Shakshuka is eggs gently poached in a spiced tomato and pepper sauce. For two to three people:"],
            ["Cook 1 sliced onion and 1 sliced red pepper in olive oil for 8 minutes until soft.",
             "Add 3 garlic cloves, 1 teaspoon each of cumin and paprika, and a pinch of chili flakes.",
             "Pour in a 400 g can of crushed tomatoes, season, and simmer for 10 minutes until slightly thick.",
             "Make 4 to 6 wells in the sauce and crack an egg into each one.",
             "Cover and cook on low for 6 to 8 minutes, until the whites are set but the yolks are runny.",
             "Top with crumbled feta and fresh parsley, and serve with crusty bread."],
            steps=True),
    ],
    follow=[
        _turn(["How long do leftovers keep in the fridge?", "How long would leftovers of that last?"],
              ["Most cooked dishes like this follow the same food-safety guidelines:"],
              ["Refrigerate leftovers within 2 hours of cooking, in shallow airtight containers.",
               "Eat them within 3 to 4 days for the best safety and flavour.",
               "Reheat until steaming hot all the way through, stirring halfway if using a microwave.",
               "If in doubt about the timing, freeze portions early instead of keeping them longer in the fridge."]),
        _turn(["What side dishes would go well with that?", "What could be served alongside it?"],
              ["A couple of simple sides round it out nicely:"],
              ["A crisp green salad with a sharp lemon or mustard vinaigrette to cut through richness.",
               "Roasted seasonal vegetables, which can share the oven if anything else is baking.",
               "Crusty bread or flatbread for mopping up sauce.",
               "Quick-pickled cucumbers or red onions for a bright, tangy contrast."]),
        _turn(["How would that scale up for eight people?", "Could the recipe be doubled for a crowd?"],
              ["Scaling up works well with a few adjustments:"],
              ["Double the main ingredients, but increase salt and strong spices by about 1.5 times, then taste.",
               "Use a wider pan or two pans, so the food browns instead of steaming.",
               "Expect simmering and reducing to take longer with a bigger volume of liquid.",
               "Cook any pasta or rice in batches or in a very large pot with plenty of water."]),
    ],
    offers=["Would you like a shopping list for this?", "Want a suggestion for a dessert to follow it?"],
)

_TOPICS["cooking_techniques"] = _topic(
    asks=[
        _turn(
            ["How do you get a good sear on a steak?", "What's the trick to searing meat properly?"],
            ["A great sear comes down to dry meat, a very hot pan and patience. Here's the method:"],
            ["Take the meat out of the fridge 30 minutes ahead and pat it completely dry with paper towels.",
             "Season generously with salt just before cooking, or up to a day ahead for a dry brine.",
             "Heat a heavy cast-iron or stainless pan over high heat until a drop of water skitters across it.",
             "Add a thin layer of high smoke point oil, lay the meat down away from you, and don't move it.",
             "Flip once a deep brown crust forms, usually after 2 to 4 minutes depending on thickness.",
             "Rest the meat for 5 minutes before slicing so the juices redistribute."],
            steps=True,
            follow=[
                _turn(["Which oil is best for that?", "What oil should be used for high-heat searing?"],
                      ["You want an oil with a high smoke point and a neutral taste:"],
                      ["Avocado oil, which handles very high heat and tastes mild.",
                       "Refined peanut or sunflower oil, both inexpensive and widely available.",
                       "Rapeseed or canola oil, a good everyday choice.",
                       "Save butter and extra virgin olive oil for basting at the end, when the heat is lower."]),
            ]),
        _turn(
            ["How do you cook fluffy rice on the stove?", "Why does rice come out sticky, and how is it fixed?"],
            ["Fluffy stovetop rice is all about rinsing and the right ratio. For long-grain white rice:"],
            ["Rinse 1 cup of rice in a sieve under cold water until it runs mostly clear, to remove surface starch.",
             "Combine the rice with 1.5 cups of water and a pinch of salt in a pot with a tight lid.",
             "Bring to a boil, then turn the heat to the lowest setting and cover.",
             "Cook for 15 minutes without lifting the lid.",
             "Take it off the heat and let it steam, still covered, for 10 more minutes.",
             "Fluff gently with a fork before serving."],
            steps=True,
            follow=[
                _turn(["What about brown rice?", "Does that method work for brown rice too?"],
                      ["Mostly, but brown rice needs more water and time because of its bran layer:"],
                      ["Use about 2 to 2.25 cups of water per cup of brown rice.",
                       "Simmer covered for 40 to 45 minutes instead of 15.",
                       "Rest it for 10 minutes off the heat, just like white rice.",
                       "Alternatively, boil it like pasta in lots of water for 30 minutes, then drain and steam."]),
            ]),
        _turn(
            ["What are the basic knife skills every cook should know?", "How do you dice an onion quickly?"],
            ["A few core techniques make prep faster and safer. The essentials:"],
            ["The claw grip: curl the fingertips of the guiding hand under so the knuckles guide the blade.",
             "The rocking cut: keep the knife tip on the board and rock the heel up and down for herbs and garlic.",
             "Dicing an onion: halve it through the root, make horizontal and vertical cuts, then slice across.",
             "Keeping the root end intact while dicing holds the onion together until the last cut.",
             "Using a sharp knife, which is safer because it needs less force and slips less.",
             "Putting a damp towel under the cutting board to stop it from sliding."]),
        _turn(
            ["How do you roast vegetables so they get crispy?", "What's the secret to well-roasted vegetables?"],
            ["Crispy roasted vegetables need high heat and space. Here's what works:"],
            ["Heat the oven to 220°C (425°F); lower temperatures tend to steam them.",
             "Cut the vegetables into even pieces so they cook at the same rate.",
             "Toss with enough oil to coat lightly, plus salt and pepper.",
             "Spread them in a single layer with gaps between pieces, using two trays if needed.",
             "Roast for 25 to 40 minutes, turning once halfway, until browned at the edges.",
             "Add delicate herbs, lemon zest or grated parmesan after roasting."],
            steps=True),
    ],
    follow=[
        _turn(["What about for a complete beginner?", "Any advice for someone just starting out with this?"],
              ["For a beginner, keep it simple and build confidence with repetition:"],
              ["Practise the technique on inexpensive ingredients first, so mistakes don't sting.",
               "Read the whole method before starting and prep everything in advance.",
               "Use a timer and an instant-read thermometer instead of guessing.",
               "Change one thing at a time between attempts, so it's clear what made the difference."]),
        _turn(["What are the most common mistakes with that?", "What usually goes wrong?"],
              ["The same handful of mistakes cause most disappointing results:"],
              ["Not preheating the pan or oven long enough.",
               "Crowding the pan, which traps steam and prevents browning.",
               "Under-seasoning, especially forgetting salt until the very end.",
               "Fiddling with the food constantly instead of letting it develop colour.",
               "Slicing or serving straight away instead of giving the food a moment to rest."]),
    ],
    offers=["Want a simple recipe that practises this technique?"],
)

_TOPICS["baking"] = _topic(
    asks=[
        _turn(
            ["How do you make banana bread?", "What's a reliable banana bread recipe?"],
            ["Here's a moist, reliable banana bread for one standard loaf tin:"],
            ["Heat the oven to 175°C (350°F) and line a 900 g loaf tin with baking paper.",
             "Mash 3 very ripe bananas, then stir in 75 g of melted butter.",
             "Mix in 150 g of sugar, 1 beaten egg and 1 teaspoon of vanilla.",
             "Sprinkle over 1 teaspoon of baking soda and a pinch of salt, then fold in 190 g of flour.",
             "Pour into the tin and bake for 55 to 65 minutes, until a skewer comes out clean.",
             "Cool in the tin for 10 minutes before turning it out onto a rack."],
            steps=True,
            follow=[
                _turn(["Could that be made with less sugar?", "Can the sugar in banana bread be reduced?"],
                      ["Yes, banana bread is very tolerant of less sugar, since the bananas add sweetness:"],
                      ["Cut the sugar to 100 g with almost no change in texture.",
                       "Use extra-ripe, heavily speckled bananas for the most natural sweetness.",
                       "Add cinnamon and a little extra vanilla, which make it taste sweeter than it is.",
                       "Stir in chopped dates or raisins if you'd like bursts of sweetness without more sugar."]),
            ]),
        _turn(
            ["How do you make a basic sourdough starter?", "Can you explain how to start a sourdough starter?"],
            ["A starter is just flour and water colonised by wild yeast and bacteria. Here's a simple schedule:"],
            ["Day 1: mix 50 g of wholemeal flour with 50 g of lukewarm water in a clean jar and cover loosely.",
             "Day 2: you may see a few bubbles; leave it alone in a warm spot.",
             "Days 3 to 7: each day, discard all but 50 g and feed it 50 g of flour and 50 g of water.",
             "Once it reliably doubles within 4 to 8 hours of a feed, it's ready to bake with.",
             "Store it in the fridge between bakes and feed it about once a week."],
            steps=True),
        _turn(
            ["Why do cookies spread too much in the oven?", "What makes cookies come out flat?"],
            ["Flat cookies usually come down to fat temperature or measuring. The usual culprits:"],
            ["Butter that was too soft or melted, which makes the dough spread before it sets.",
             "Measuring flour by scooping loosely, giving too little flour; weighing is more accurate.",
             "Too much sugar relative to flour, since sugar liquefies as it heats.",
             "Baking on a hot tray straight from a previous batch.",
             "Skipping a chill: 30 minutes in the fridge firms the dough and limits spread.",
             "An oven running cooler than the dial says; an oven thermometer will tell."]),
    ],
    follow=[
        _turn(["How should it be stored so it stays fresh?", "What's the best way to store it?"],
              ["Storage makes a big difference to how long bakes stay good:"],
              ["Let everything cool completely before wrapping, or condensation makes it soggy.",
               "Keep cakes and quick breads wrapped at room temperature for 2 to 3 days.",
               "Freeze slices individually wrapped for up to 3 months and toast or thaw as needed.",
               "Store crisp cookies and soft ones in separate tins so the crisp ones don't soften."]),
        _turn(["What about at high altitude?", "Does any of that change at high altitude?"],
              ["Yes, above about 900 metres baking behaves differently. Common adjustments:"],
              ["Reduce baking powder or soda by about a quarter, since gases expand more easily.",
               "Increase the oven temperature by 10 to 15°C so the structure sets sooner.",
               "Add an extra tablespoon or two of liquid, as moisture evaporates faster.",
               "Check for doneness a few minutes early."]),
    ],
    offers=["Want a variation with nuts or chocolate?"],
)

_TOPICS["science"] = _topic(
    asks=[
        _turn(
            ["Can you explain how photosynthesis works?", "Explain photosynthesis in simple terms, please."],
            ["Sure! Photosynthesis is how plants, algae and some bacteria turn light into chemical energy.",
             "Happy to. In short, plants make sugar from light, water and carbon dioxide."],
            ["Plants absorb light mainly with chlorophyll, the green pigment inside their chloroplasts.",
             "In the light-dependent reactions, that energy splits water molecules and releases oxygen.",
             "The captured energy is stored briefly in carrier molecules called ATP and NADPH.",
             "In the Calvin cycle, those carriers power the conversion of carbon dioxide into sugar.",
             "The overall equation: 6 CO2 + 6 H2O + light gives C6H12O6 + 6 O2.",
             "The sugar fuels the plant's growth, and the oxygen is what we breathe."],
            steps=True,
            follow=[
                _turn(["Could you explain that more simply?", "What would the one-paragraph, plain-language version be?"],
                      ["Sure, here it is in plain language:"],
                      ["Leaves work like tiny solar-powered kitchens.",
                       "They take in sunlight, water from the roots and carbon dioxide from the air.",
                       "They use the light energy to cook those into sugar, the plant's food.",
                       "Oxygen is left over, and the plant releases it into the air for us to breathe."],
                      steps=True),
                _turn(["What's the difference between that and cellular respiration?"],
                      ["They're close to mirror images of each other:"],
                      ["Photosynthesis stores energy in sugar; respiration releases it again.",
                       "Photosynthesis takes in carbon dioxide and gives off oxygen; respiration does the opposite.",
                       "Photosynthesis happens in chloroplasts; respiration mostly in mitochondria.",
                       "Plants do both, while animals only respire.",
                       "Together they form a cycle: the oxygen and sugar from one are the fuel for the other."]),
            ]),
        _turn(
            ["How do black holes form?", "Can you explain what a black hole actually is?"],
            ["A black hole is a region where gravity is so strong that nothing, not even light, can escape."],
            ["Most form when a massive star, at least 20 times the Sun's mass, runs out of nuclear fuel.",
             "Without the outward push of fusion, the core collapses under its own gravity.",
             "If the remaining core is massive enough, no known force can stop the collapse.",
             "The boundary from which nothing escapes is called the event horizon.",
             "Supermassive black holes, millions of solar masses, sit at the centres of most galaxies.",
             "We detect them by their effect on nearby stars and gas, and by gravitational waves from mergers."],
            follow=[
                _turn(["Could you explain that more simply?", "What would the one-paragraph, plain-language version be?"],
                      ["Sure, here it is in plain language:"],
                      ["Imagine squeezing a huge star into a tiny space.",
                       "Its gravity becomes so strong that anything too close falls in, even light.",
                       "Because no light comes out, it looks black.",
                       "We spot black holes by watching stars and gas swirl around something we cannot see.",
                       "In 2019 astronomers even took a picture of the glowing ring of gas around one."],
                      steps=True),
            ]),
        _turn(
            ["How do vaccines work?", "Explain how a vaccine trains the immune system."],
            ["Vaccines give the immune system a safe preview of a germ, so it can respond faster later."],
            ["A vaccine contains a harmless piece or version of a pathogen, or instructions to make one.",
             "The immune system recognises the foreign molecules, called antigens, and reacts.",
             "B cells produce antibodies that bind to the antigen, and T cells learn to attack infected cells.",
             "Some of these cells become long-lived memory cells.",
             "If the real pathogen appears later, memory cells recognise it and mount a quick, strong response.",
             "Boosters remind the immune system, topping up protection that fades over time."],
            follow=[
                _turn(["Could you explain that more simply?", "What would the one-paragraph, plain-language version be?"],
                      ["Sure, here it is in plain language:"],
                      ["A vaccine is like a wanted poster for a germ.",
                       "It shows the body what the germ looks like without making you really sick.",
                       "The immune system studies the poster and prepares its defences.",
                       "If the real germ shows up later, the body recognises it and fights it off quickly."],
                      steps=True),
            ],
            steps=True),
        _turn(
            ["What causes earthquakes?", "Can you explain plate tectonics?"],
            ["Earth's outer shell is broken into large plates that slowly move, and earthquakes come from that motion."],
            ["The lithosphere is split into about a dozen major plates floating on the hotter, softer mantle.",
             "Plates move a few centimetres a year, roughly as fast as fingernails grow.",
             "At boundaries they pull apart, collide or slide past each other.",
             "Friction locks the edges, so stress builds up over years or centuries.",
             "When the rock finally slips, the stored energy is released as seismic waves.",
             "The same processes build mountains, open oceans and feed volcanoes."],
            follow=[
                _turn(["Could you explain that more simply?", "What would the one-paragraph, plain-language version be?"],
                      ["Sure, here it is in plain language:"],
                      ["The ground under our feet is made of giant puzzle pieces called plates.",
                       "They move very slowly, and their edges get stuck on each other.",
                       "Pressure builds up, like bending a ruler further and further.",
                       "When the edges finally slip, the sudden jolt shakes the ground: that is an earthquake."],
                      steps=True),
            ]),
        _turn(
            ["Why is the sky blue?", "What makes the sky look blue during the day?"],
            ["It's due to something called Rayleigh scattering."],
            ["Sunlight contains all colours, each with a different wavelength.",
             "Air molecules scatter short wavelengths, like blue and violet, much more than long ones like red.",
             "That scattered blue light reaches our eyes from every direction of the sky.",
             "We see blue rather than violet because sunlight has less violet and our eyes are less sensitive to it.",
             "At sunset light travels through much more air, so most blue is scattered away, leaving reds and oranges."],
            follow=[
                _turn(["Could you explain that more simply?", "What would the one-paragraph, plain-language version be?"],
                      ["Sure, here it is in plain language:"],
                      ["Sunlight looks white but is really a mix of all the colours.",
                       "When it hits the air, blue light bounces around much more than the other colours.",
                       "That bounced blue light comes at us from all over the sky.",
                       "So wherever we look up, we see blue.",
                       "At sunset the light travels through more air, the blue gets bounced away, and the reds and oranges are left."],
                      steps=True),
            ]),
    ],
    follow=[
        _turn(["Is there a good experiment to demonstrate that?", "How could that be shown in a classroom?"],
              ["There are a few simple demonstrations that make the idea concrete:"],
              ["Use a model or diagram first, so students know what to look for.",
               "Pick a demo with safe household materials and a visible result within minutes.",
               "Have students predict the outcome before running it, then compare.",
               "Follow up with a short video of the real-world phenomenon at full scale."]),
        _turn(["What are some good books or resources to learn more?"],
              ["Here are some accessible places to go deeper:"],
              ["Khan Academy's free science courses, which build up from the basics.",
               "NASA's and national science museums' websites, with clear articles and images.",
               "CrashCourse videos on YouTube for quick, lively overviews.",
               "An introductory university textbook from a library for full detail.",
               "Podcasts from science museums and universities, good for learning on the go."]),
    ],
    offers=["Would a simple diagram description help?", "Want me to quiz you on this to check understanding?"],
)

_TOPICS["history"] = _topic(
    asks=[
        _turn(
            ["Why did the Western Roman Empire fall?", "Can you explain the main causes of the fall of Rome?"],
            ["Historians point to several overlapping causes rather than one. The main ones:"],
            ["Political instability: the third century alone saw over 20 emperors, many murdered.",
             "Economic strain from heavy taxes, debased currency and disrupted trade.",
             "Pressure from migrating groups such as the Goths, Vandals and Huns.",
             "Reliance on hired Germanic soldiers whose loyalty was not to Rome.",
             "The split into Eastern and Western halves, with wealth concentrated in the East.",
             "The traditional end date is 476 CE, when Odoacer deposed the last Western emperor."],
            follow=[
                _turn(["Can you give a short timeline of the key events?", "What would a brief timeline look like?"],
                      ["Here's a condensed timeline of the key moments:"],
                      ["235 to 284 CE: the Crisis of the Third Century, with rapid turnover of emperors and civil wars.",
                       "285: Diocletian divides the administration of the empire between East and West.",
                       "330: Constantine dedicates Constantinople as a new imperial capital in the East.",
                       "378: the Goths defeat a Roman army and kill Emperor Valens at Adrianople.",
                       "410: the Visigoths sack Rome, followed by the Vandals in 455.",
                       "476: Odoacer deposes Romulus Augustulus, the last Western emperor."],
                      steps=True),
            ]),
        _turn(
            ["What was the significance of the printing press?", "How did Gutenberg's printing press change Europe?"],
            ["Johannes Gutenberg's movable-type press, around 1440, was one of history's great turning points."],
            ["Books became far cheaper and faster to produce than hand-copied manuscripts.",
             "Literacy spread as more people could own and read printed material.",
             "Ideas travelled quickly, which helped fuel the Reformation and the Scientific Revolution.",
             "Printed texts standardised spelling and helped shape national languages.",
             "Scholars could share identical copies, making it easier to check and build on each other's work."],
            follow=[
                _turn(["Can you give a short timeline of the key events?", "What would a brief timeline look like?"],
                      ["Here's a condensed timeline of the key moments:"],
                      ["Around 1440: Gutenberg develops movable metal type and an oil-based ink in Mainz.",
                       "Around 1455: the Gutenberg Bible is completed, about 180 copies.",
                       "1460s and 1470s: printing spreads to Italy, France and beyond; Venice becomes a publishing hub.",
                       "1476: William Caxton sets up the first printing press in England.",
                       "1517: Martin Luther's Ninety-five Theses spread across Germany within weeks thanks to print."],
                      steps=True),
            ]),
        _turn(
            ["What caused the Industrial Revolution?", "Why did the Industrial Revolution start in Britain?"],
            ["The Industrial Revolution began in Britain in the mid-1700s thanks to a mix of factors:"],
            ["Abundant coal and iron ore, often located close together.",
             "Agricultural improvements that freed labour and fed a growing population.",
             "Capital from trade and a banking system willing to invest in new ventures.",
             "Inventions like the spinning jenny and James Watt's improved steam engine.",
             "A large colonial market for manufactured goods such as textiles.",
             "Canals and later railways that moved raw materials and goods cheaply."],
            follow=[
                _turn(["Can you give a short timeline of the key events?", "What would a brief timeline look like?"],
                      ["Here's a condensed timeline of the key moments:"],
                      ["1709: Abraham Darby smelts iron using coke instead of charcoal.",
                       "1764: James Hargreaves invents the spinning jenny.",
                       "1769: Richard Arkwright patents the water frame and James Watt his improved steam engine.",
                       "1771: Arkwright opens his water-powered cotton mill at Cromford.",
                       "1825: the Stockton and Darlington Railway opens.",
                       "1830: the Liverpool and Manchester Railway, the first intercity line, begins service."],
                      steps=True),
            ]),
        _turn(
            ["What was the Silk Road?", "Can you give an overview of the Silk Road?"],
            ["The Silk Road was a network of trade routes linking China with Central Asia, the Middle East and Europe."],
            ["It flourished from around the second century BCE, under the Han dynasty, until about the 1400s.",
             "Silk, spices, tea, paper and porcelain moved west; horses, glass and silver moved east.",
             "Few merchants travelled the whole route; goods passed through many hands.",
             "Religions and ideas travelled too, including Buddhism, Islam and new technologies.",
             "Cities such as Samarkand and Kashgar grew wealthy as trading hubs.",
             "Sea routes and the fragmentation of the Mongol Empire eventually reduced its importance."],
            follow=[
                _turn(["Can you give a short timeline of the key events?", "What would a brief timeline look like?"],
                      ["Here's a condensed timeline of the key moments:"],
                      ["138 to 126 BCE: the Han envoy Zhang Qian travels to Central Asia, opening official contacts.",
                       "First to third centuries CE: Buddhism spreads from India into China along the routes.",
                       "Seventh and eighth centuries: trade flourishes under the Tang dynasty.",
                       "Thirteenth century: the Mongol Empire makes overland travel safer across Eurasia.",
                       "1271 to 1295: Marco Polo's journey, later described in his famous book.",
                       "Fifteenth century: overland trade declines as sea routes grow in importance."],
                      steps=True),
            ]),
        _turn(
            ["What were the main causes of the First World War?", "Can you explain how World War One started?"],
            ["Historians often summarise the causes with the acronym MAIN, plus a spark:"],
            ["Militarism: an arms race, especially between Britain's and Germany's navies.",
             "Alliances: a web of treaties that turned a local conflict into a continental one.",
             "Imperialism: competition for colonies and influence that bred mistrust.",
             "Nationalism: especially in the Balkans, where Slavic nationalism unsettled Austria-Hungary.",
             "The spark: the assassination of Archduke Franz Ferdinand in Sarajevo in June 1914.",
             "Within weeks, mobilisations and declarations of war pulled in the great powers."],
            follow=[
                _turn(["Can you give a short timeline of the key events?", "What would a brief timeline look like?"],
                      ["Here's a condensed timeline of the key moments:"],
                      ["28 June 1914: Archduke Franz Ferdinand is assassinated in Sarajevo.",
                       "23 July: Austria-Hungary sends Serbia an ultimatum with harsh demands.",
                       "28 July: Austria-Hungary declares war on Serbia.",
                       "30 July: Russia orders general mobilisation in support of Serbia.",
                       "1 and 3 August: Germany declares war on Russia and then on France.",
                       "4 August: Germany invades Belgium, and Britain declares war on Germany."],
                      steps=True),
            ]),
    ],
    follow=[
        _turn(["Which historians or books are worth reading on this?", "Any good books on that period?"],
              ["A few accessible starting points:"],
              ["A general survey from a university press, which gives balanced context.",
               "A narrative history written for general readers, often the most gripping way in.",
               "Primary sources in translation, to hear voices from the time directly.",
               "A good documentary series to pair with the reading.",
               "Museum websites, which often have free essays and images of artefacts from the period."]),
        _turn(["How is this period viewed differently by historians today?"],
              ["Interpretations have shifted quite a bit over the past century:"],
              ["Older accounts often focused on great leaders; recent work looks more at ordinary people.",
               "Archaeology and economic data have challenged some dramatic traditional stories.",
               "Historians increasingly compare regions instead of centring only on Europe.",
               "Many now talk of gradual transformation rather than sudden collapse or revolution."]),
    ],
    offers=["Would you like a few discussion questions on this topic?"],
)

_TOPICS["math"] = _topic(
    asks=[
        _turn(
            ["How do you calculate percentages? For example, what is {pct}% of {base}?",
             "Can you explain percentages using {pct}% of {base} as an example?"],
            ["Percent means per hundred, so {pct}% is {pct}/100. Here's how to work it out:"],
            ["Convert the percentage to a decimal: {pct}% becomes 0.{pct}.",
             "Multiply it by the number: 0.{pct} × {base} = {part}.",
             "So {pct}% of {base} is {part}.",
             "A handy check: 10% of any number is just that number divided by 10.",
             "For example, if {name} scores {part} points out of {base}, that's {pct}% of the total."],
            steps=True,
            follow=[
                _turn(["Could you give a few practice problems?", "Can I get a few practice questions on that?"],
                      ["Sure, here are some to try, with the answers at the end to check against:"],
                      ["What is 30% of 70?",
                       "What is 12.5% of 48?",
                       "{name} buys a jacket priced at 60 with a 15% discount. What is the sale price?",
                       "A population grows from 200 to 250. What is the percentage increase?",
                       "Answers: 21, 6, 51 and 25%."],
                      steps=True),
                _turn(["How do you calculate a percentage increase?", "What about percentage change?"],
                      ["Percentage change compares the difference to the starting value:"],
                      ["Subtract the old value from the new one: {new} - {old}.",
                       "Divide that difference by the old value.",
                       "Multiply by 100 to get a percentage: going from {old} to {new} is a {change}% increase.",
                       "If the result is negative, it's a percentage decrease.",
                       "Note that a 50% rise followed by a 50% fall does not return to the start, because the base changes."],
                      steps=True),
            ]),
        _turn(
            ["What is a derivative in calculus, intuitively?", "Can you explain derivatives without heavy notation?"],
            ["A derivative measures how fast something is changing at a single instant."],
            ["Think of a car's position over time; the derivative is its speed at each moment.",
             "Graphically, it's the slope of the tangent line touching the curve at one point.",
             "It comes from measuring the slope over smaller and smaller intervals, which is the limit idea.",
             "For f(x) = x², the derivative is 2x, so the slope at x = 3 is 6.",
             "Derivatives let you find maximums and minimums, because the slope there is zero."],
            follow=[
                _turn(["Could you give a few practice problems?", "Can I get a few practice questions on that?"],
                      ["Sure, here are some to try, with the answers at the end to check against:"],
                      ["Find the derivative of x³.",
                       "Find the derivative of 5x² + 4x.",
                       "What is the slope of f(x) = x² at x = -2?",
                       "Where does f(x) = x² - 6x have its minimum?",
                       "Answers: 3x², 10x + 4, -4, and at x = 3, where the derivative 2x - 6 is zero."],
                      steps=True),
            ]),
        _turn(
            ["How does probability work for rolling two dice?", "What's the chance of rolling a total of 7 with two dice?"],
            ["Two dice are a great way to see how probability works."],
            ["Each die has 6 faces, so there are 6 × 6 = 36 equally likely outcomes.",
             "A total of 7 can happen 6 ways: 1+6, 2+5, 3+4, 4+3, 5+2 and 6+1.",
             "So the probability of a 7 is 6 out of 36, or 1 in 6, about 16.7%.",
             "Totals of 2 and 12 are rarest, with only one way each: 1 in 36.",
             "This is why 7 is the most common total and why so many dice games revolve around it."],
            follow=[
                _turn(["Could you give a few practice problems?", "Can I get a few practice questions on that?"],
                      ["Sure, here are some to try, with the answers at the end to check against:"],
                      ["What is the probability of rolling a total of 8?",
                       "What is the probability of rolling doubles?",
                       "What is the probability of at least one six?",
                       "What is the probability of a total above 10?",
                       "Answers: 5/36, 6/36 or 1/6, 11/36, and 3/36 or 1/12."],
                      steps=True),
            ]),
        _turn(
            ["How do you solve a linear equation like 3x + 5 = 20?", "Explain how to solve simple equations for x."],
            ["The idea is to do the same thing to both sides until x is on its own:"],
            ["Start with 3x + 5 = 20.",
             "Subtract 5 from both sides: 3x = 15.",
             "Divide both sides by 3: x = 5.",
             "Check by substituting back: 3 × 5 + 5 = 20, which is correct.",
             "The same moves, undoing addition and then multiplication, work for any linear equation."],
            steps=True,
            follow=[
                _turn(["Could you give a few practice problems?", "Can I get a few practice questions on that?"],
                      ["Sure, here are some to try, with the answers at the end to check against:"],
                      ["Solve 2x + 7 = 19.",
                       "Solve 5x - 3 = 22.",
                       "Solve 4(x + 1) = 28.",
                       "Solve x/3 + 2 = 6.",
                       "Answers: x = 6, x = 5, x = 6 and x = 12."],
                      steps=True),
            ]),
    ],
    follow=[
        _turn(["What's a common mistake people make with this?"],
              ["The most frequent slip-ups are:"],
              ["Doing an operation to one side of an equation but not the other.",
               "Mixing up which number is the base, especially with percentages.",
               "Rounding too early and carrying the error through later steps.",
               "Skipping the final check, which catches most arithmetic errors.",
               "Forgetting units, which makes word-problem answers hard to interpret."]),
    ],
    offers=["Want a few more worked examples?"],
)

_TOPICS["email_writing"] = _topic(
    asks=[
        _turn(
            ["Can you help draft a polite email asking for a deadline extension?",
             "How should an email requesting a deadline extension be worded?"],
            ["Of course. A good extension request is short, specific and offers a new date. A template:"],
            ["Subject line: Request for a short extension on the report.",
             "Greeting: Hi [Name],",
             "Context: I'm writing about the report due on [date]. I want to make sure it meets the standard you expect.",
             "The ask: Would it be possible to submit it by [new date] instead?",
             "Reassurance: I'll send a progress update by [day], and the sections on [topic] are already complete.",
             "Close: Thank you for considering this. Best regards, [Your name]"],
            steps=True,
            follow=[
                _turn(["Could you make that sound more formal?", "Can that be a bit more formal?"],
                      ["Certainly. To raise the formality, adjust a few elements:"],
                      ["Open with 'Dear [Title] [Surname],' instead of 'Hi'.",
                       "Replace contractions: 'I am writing' rather than 'I'm writing'.",
                       "Phrase the request as 'I would be grateful if you could consider an extension until [date].'",
                       "Close with 'Yours sincerely' or 'Kind regards', followed by a full name and title."]),
            ]),
        _turn(
            ["How do you write a good follow-up email after a meeting?", "What should a meeting follow-up email include?"],
            ["A follow-up email keeps everyone aligned. Aim for something readable in under a minute:"],
            ["A clear subject, such as 'Follow-up: [topic] meeting on [date]'.",
             "A one-line thank-you for people's time.",
             "A short recap of the key decisions, as bullet points.",
             "Action items with an owner and a due date for each.",
             "Any open questions that still need an answer.",
             "The date of the next check-in, if there is one."]),
        _turn(
            ["How do you politely decline an invitation by email?", "What's a gracious way to say no to a request in an email?"],
            ["Declining gracefully is about being warm, brief and clear. Here's a structure:"],
            ["Thank them sincerely for thinking of you.",
             "Decline clearly in one sentence, without over-explaining.",
             "Offer a brief reason only if it helps, such as a prior commitment.",
             "Suggest an alternative if you genuinely want one: another date, or someone else who could help.",
             "End on a positive note, wishing the event or project well."]),
        _turn(
            ["Can you proofread this sentence: 'Their going to send the files tomorow, weather or not its ready.'",
             "What's wrong with this sentence: 'Their going to send the files tomorow, weather or not its ready.'"],
            ["Sure! There are four small errors. Corrected: 'They're going to send the files tomorrow, whether or not "
             "it's ready.' The fixes:"],
            ["'Their' should be 'They're', the contraction of 'they are'.",
             "'Tomorow' is spelled 'tomorrow', with two r's.",
             "'Weather' (rain and sun) should be 'whether', which introduces alternatives.",
             "'Its' should be 'it's', short for 'it is'; 'its' without an apostrophe is possessive.",
             "A memory trick: if you can expand it to 'it is' or 'they are', it needs the apostrophe."]),
    ],
    follow=[
        _turn(["Could you make it shorter?", "Can that be trimmed down?"],
              ["Sure, here's how to cut it down to the essentials:"],
              ["Keep one sentence of context and drop the background.",
               "State the request or main point in the first two lines.",
               "Merge the closing and the thank-you into a single line.",
               "Aim for five sentences or fewer, which most people read in full.",
               "Read it aloud once; anything that sounds like filler can usually go."]),
        _turn(["What subject line would work best?", "Any tips for the subject line?"],
              ["A good subject line tells the reader what the email is and what's needed:"],
              ["Lead with the action or topic, for example 'Request:' or 'Follow-up:'.",
               "Include a specific detail, such as a project name or date.",
               "Keep it under about 50 characters so it isn't cut off on phones.",
               "Avoid vague lines like 'Quick question' or 'Hi'."]),
    ],
    offers=["Want a more casual version as well?", "Would you like me to adapt the tone for a different reader?"],
)

_TOPICS["cover_letters"] = _topic(
    asks=[
        _turn(
            ["What should a cover letter for a {role} position include?",
             "How is a strong cover letter for a {role} role structured?"],
            ["A strong cover letter for a {role} role fits on one page and has four parts:"],
            ["Opening: name the role and a specific reason the organisation interests you.",
             "Evidence paragraph: two or three achievements relevant to a {role}, with numbers where possible.",
             "Fit paragraph: connect your skills to the needs listed in the job advert.",
             "Closing: restate enthusiasm, mention availability for an interview and thank the reader.",
             "Keep it between 250 and 400 words, and address a named person if one is listed."],
            steps=True,
            follow=[
                _turn(["Could you write a sample opening paragraph?", "What would a sample opening look like?"],
                      ["Here's a sample opening for a {role} application that you can adapt:"],
                      ["'I am excited to apply for the {role} position at [Organisation].'",
                       "'Your recent work on [project or value] stood out to me, and I would love to contribute to it.'",
                       "'In previous roles I [key achievement], which I believe would transfer well to your team.'",
                       "Swap the bracketed parts for specifics from the job advert; generic openings are easy to spot."]),
            ]),
        _turn(
            ["What are common cover letter mistakes?", "What makes recruiters skip a cover letter?"],
            ["Recruiters skim quickly, so a few mistakes can sink an otherwise good letter:"],
            ["Repeating the CV line by line instead of telling a short story.",
             "A generic 'To whom it may concern' letter sent to every employer.",
             "Focusing on what the applicant wants rather than what they offer.",
             "Going over one page.",
             "Typos, especially in the company's or hiring manager's name.",
             "Vague claims like 'hard-working' with no example to back them up."]),
        _turn(
            ["How do you explain a career change in a cover letter?", "What's a good way to address a career switch in a cover letter?"],
            ["A career change can be a strength if framed well. Try this approach:"],
            ["Address it early and confidently, in one or two sentences.",
             "Focus on transferable skills, such as communication, analysis or project management.",
             "Give one concrete example from the earlier field that maps onto the new role.",
             "Mention any courses, certifications or side projects in the new field.",
             "Explain the motivation briefly and positively, looking forward rather than back."]),
    ],
    follow=[
        _turn(["What about for an entry-level position?", "How does that change for a first job?"],
              ["For entry-level roles, lean on potential and relevant experience of any kind:"],
              ["Draw on coursework, volunteering, internships or part-time jobs.",
               "Highlight soft skills with a concrete example each.",
               "Show genuine knowledge of the organisation, which many applicants skip.",
               "Keep it shorter, around 250 words, and very focused.",
               "Mention willingness to learn with a concrete example, such as a skill picked up quickly."]),
        _turn(["How should it end?", "What's a strong closing line?"],
              ["A good closing is confident and polite without being pushy:"],
              ["Restate your interest in the specific role in one sentence.",
               "Say you would welcome the chance to discuss how you could contribute.",
               "Thank the reader for their time and consideration.",
               "Sign off with 'Kind regards' or 'Sincerely' and a full name.",
               "Avoid demanding phrases like \"I look forward to your call on Monday\"."]),
    ],
    offers=["Want a checklist to review a draft against?"],
)

_TOPICS["python"] = _topic(
    asks=[
        _turn(
            ["How do I remove duplicates from a list in Python while keeping the order?",
             "What's the cleanest way to dedupe a Python list but preserve order?"],
            ["Since Python 3.7 dictionaries keep insertion order, which gives a neat one-liner:"],
            ["`dict.fromkeys` keeps the first occurrence of each item and drops later repeats.",
             "It runs in linear time, much faster than checking `if x not in result` in a loop.",
             "The items must be hashable, so this works for numbers, strings and tuples.",
             "If order doesn't matter, `list(set(items))` is shorter but scrambles the order."],
            code='''
```python
def dedupe(items):
    return list(dict.fromkeys(items))

print(dedupe([3, 1, 3, 2, 1]))  # [3, 1, 2]
```''',
            follow=[
                _turn(["What if the items are dictionaries, which aren't hashable?"],
                      ["Then track a hashable key for each item instead:"],
                      ["Build a key for each dict, for example a tuple of its sorted items.",
                       "Keep a set of keys already seen and skip items whose key is in it.",
                       "If only one field defines uniqueness, like an id, use that field as the key.",
                       "This stays linear time and keeps the first occurrence."],
                      code='''
```python
def dedupe_dicts(rows, key=lambda r: tuple(sorted(r.items()))):
    seen, out = set(), []
    for row in rows:
        k = key(row)
        if k not in seen:
            seen.add(k)
            out.append(row)
    return out
```'''),
            ]),
        _turn(
            ["How do I read a CSV file in Python?", "What's the simplest way to load a CSV in Python?"],
            ["The built-in `csv` module handles this well. `DictReader` gives each row as a dictionary:"],
            ["`newline=''` is recommended by the docs so line endings inside quoted fields are handled correctly.",
             "`DictReader` uses the first row as the header, so columns are accessed by name.",
             "All values come back as strings; convert numbers with `int()` or `float()`.",
             "For large files, loop over the reader instead of building a list, to save memory."],
            code='''
```python
import csv

with open("data.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))

print(rows[0]["name"])
```''',
            follow=[
                _turn(["What about with pandas?", "How would that look using pandas instead?"],
                      ["With pandas it's a single call, and you get a DataFrame with types inferred:"],
                      ["`read_csv` guesses numeric types, so no manual conversion is needed.",
                       "`df.head()` shows the first five rows, handy for a quick look.",
                       "Pass `usecols=[...]` to load only some columns from a wide file.",
                       "For very large files, `chunksize=` lets you process it in pieces."],
                      code='''
```python
import pandas as pd

df = pd.read_csv("data.csv")
print(df.head())
```'''),
            ]),
        _turn(
            ["How do I count how often each word appears in a text with Python?",
             "What's a quick way to get word frequencies in Python?"],
            ["`collections.Counter` is built exactly for this:"],
            ["`lower()` makes 'The' and 'the' count as the same word.",
             "The regex `[a-z']+` splits on anything that isn't a letter or apostrophe, dropping punctuation.",
             "`most_common(n)` returns the n most frequent words with their counts.",
             "Counters can be added together, which is useful for combining counts from several files."],
            code='''
```python
import re
from collections import Counter

text = "the cat and the hat and the bat"
words = re.findall(r"[a-z']+", text.lower())
print(Counter(words).most_common(3))  # [('the', 3), ('and', 2), ('cat', 1)]
```'''),
        _turn(
            ["What's the difference between a list and a tuple in Python?", "When should a tuple be used instead of a list?"],
            ["They're both ordered sequences; the key difference is mutability. In short:"],
            ["Lists are mutable: you can append, remove and change items after creation.",
             "Tuples are immutable: once created, their contents can't change.",
             "Because they're immutable, tuples can be dictionary keys and set members; lists can't.",
             "Tuples signal fixed structure, like a coordinate `(x, y)`, while lists suit collections that grow.",
             "Tuples are slightly smaller and faster, though that rarely matters in practice."]),
    ],
    follow=[
        _turn(["Could you add type hints to that?", "How would that look with type hints?"],
              ["Sure. Type hints don't change behaviour, but they help editors and type checkers:"],
              ["Annotate parameters and return values, for example `def f(items: list[str]) -> list[str]:`.",
               "Use `Iterable` from `collections.abc` for inputs that only need to be looped over.",
               "Run `mypy` or `pyright` to catch mismatches before running the code.",
               "Keep the hints simple; readability is the main goal."]),
        _turn(["How would this be tested with pytest?", "What would a quick unit test look like?"],
              ["A small pytest test is quick to write:"],
              ["Put the function in a module and create a file named `test_something.py` next to it.",
               "Write functions starting with `test_` that call the function and `assert` on the result.",
               "Cover the normal case, an empty input and one tricky edge case.",
               "Run `pytest -q` from the project folder to see the results."]),
    ],
    offers=["Want me to explain any line of that in more detail?", "Should I show a version for older Python releases?"],
)

_TOPICS["javascript"] = _topic(
    asks=[
        _turn(
            ["How do I fetch JSON from an API in JavaScript?", "Can you show how to use fetch with async/await?"],
            ["Here's the modern approach with `fetch` and `async/await`:"],
            ["`fetch` only rejects on network failure, so check `res.ok` for HTTP errors like 404.",
             "`res.json()` also returns a promise, hence the second `await`.",
             "Wrap calls in `try/catch` where you use them, to show a friendly error message.",
             "For POST requests, pass a second argument with `method`, `headers` and `body`."],
            code='''
```javascript
async function getJson(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}
```'''),
        _turn(
            ["What is debouncing in JavaScript and how is it implemented?", "How do you debounce a function in JS?"],
            ["Debouncing delays a function until events stop firing for a set time, which is ideal for search boxes:"],
            ["Each call clears the previous timer, so only the last call in a burst runs.",
             "`...args` passes through whatever arguments the event handler received.",
             "A typical delay for typing is 250 to 400 milliseconds.",
             "Throttling is the related idea of running at most once per interval, better for scroll events."],
            code='''
```javascript
function debounce(fn, delay = 300) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), delay);
  };
}
```'''),
        _turn(
            ["Can you explain map, filter and reduce in JavaScript?", "What's the difference between map, filter and reduce?"],
            ["These three array methods cover most data transformations:"],
            ["`map` transforms every element and returns a new array of the same length.",
             "`filter` keeps only the elements for which a test returns true.",
             "`reduce` combines all elements into one value, such as a sum or an object.",
             "They don't modify the original array, which makes code easier to reason about.",
             "Chained, they read like a pipeline: filter the data, map it, then reduce it."],
            code='''
```javascript
const prices = [12, 5, 30, 8];
const total = prices.filter(p => p > 6).map(p => p * 1.2).reduce((a, b) => a + b, 0);
```'''),
        _turn(
            ["What's the difference between let, const and var?", "When should const be used instead of let in JavaScript?"],
            ["Quick summary of the three:"],
            ["`var` is function-scoped and hoisted, which causes surprising bugs in loops and blocks.",
             "`let` is block-scoped and can be reassigned.",
             "`const` is block-scoped and can't be reassigned, though objects it points to can still change.",
             "A common convention: use `const` by default and `let` only when reassignment is needed.",
             "Avoid `var` in modern code."]),
    ],
    follow=[
        _turn(["How would that look in TypeScript?", "Could you convert that to TypeScript?"],
              ["In TypeScript the logic is identical; you mainly add types:"],
              ["Annotate parameters, for example `(url: string)`.",
               "Give return types, such as `Promise<unknown>` for fetched JSON you haven't validated.",
               "Use generics for reusable helpers, like `debounce<T extends unknown[]>`.",
               "Turn on `strict` in `tsconfig.json` to get the full benefit.",
               "Let TypeScript infer local variable types; annotate mainly the function boundaries."]),
        _turn(["Does that work in older browsers?", "What about browser compatibility?"],
              ["All current browsers support these features; only very old ones don't:"],
              ["Arrow functions, `let/const` and template literals need a browser from roughly 2017 or later.",
               "`fetch` and `async/await` are supported in all evergreen browsers.",
               "For legacy support, a bundler with Babel can transpile the code.",
               "Check caniuse.com for any specific feature.",
               "If a feature is missing, a small polyfill can usually fill the gap."]),
    ],
    offers=["Want a small example page that uses this?"],
)

_TOPICS["sql"] = _topic(
    asks=[
        _turn(
            ["How do I find duplicate rows in SQL?", "What query finds duplicate emails in a users table?"],
            ["Group by the columns that define a duplicate and keep groups with more than one row:"],
            ["`GROUP BY email` collects all rows with the same email.",
             "`HAVING COUNT(*) > 1` filters groups, unlike `WHERE`, which filters rows before grouping.",
             "To see the full duplicate rows, join this result back to the table on `email`.",
             "Consider normalising with `LOWER(email)` so different capitalisation counts as a duplicate."],
            code='''
```sql
SELECT email, COUNT(*) AS n
FROM users
GROUP BY email
HAVING COUNT(*) > 1;
```'''),
        _turn(
            ["Can you explain INNER JOIN vs LEFT JOIN?", "What's the difference between an inner join and a left join?"],
            ["Both combine rows from two tables; they differ in what happens to rows without a match:"],
            ["INNER JOIN returns only rows with a match in both tables.",
             "LEFT JOIN returns every row from the left table, with NULLs where the right table has no match.",
             "So customers LEFT JOIN orders lists all customers, including those with no orders.",
             "Adding `WHERE orders.id IS NULL` to a LEFT JOIN finds rows with no match at all.",
             "RIGHT JOIN is the mirror image, and most people just swap the table order instead."]),
        _turn(
            ["How do I get the top 3 rows per group in SQL?", "How can SQL return the three most recent orders per customer?"],
            ["Window functions make this clean. Number the rows within each group, then filter:"],
            ["`ROW_NUMBER()` restarts at 1 for each `PARTITION BY` group.",
             "`ORDER BY ... DESC` inside the window decides which rows count as the top.",
             "Use `RANK()` instead if ties should share a position.",
             "This works in PostgreSQL, MySQL 8+, SQL Server, SQLite 3.25+ and most others."],
            code='''
```sql
SELECT *
FROM (
  SELECT o.*, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_at DESC) AS rn
  FROM orders o
) t
WHERE rn <= 3;
```'''),
    ],
    follow=[
        _turn(["How can that query be made faster?", "Would an index help with that?"],
              ["Usually yes. The main levers for speed:"],
              ["Add an index on the columns used in `WHERE`, `JOIN` and `ORDER BY`.",
               "Use `EXPLAIN` or `EXPLAIN ANALYZE` to see whether the index is used.",
               "Select only the columns you need instead of `SELECT *`.",
               "Filter as early as possible, so fewer rows reach the grouping or window step."]),
        _turn(["Does that work the same in PostgreSQL and MySQL?"],
              ["Mostly, with a few dialect differences to watch for:"],
              ["Standard joins, grouping and window functions behave the same in recent versions.",
               "MySQL only gained window functions in version 8.0.",
               "String functions and date arithmetic differ in name and syntax.",
               "PostgreSQL is stricter about grouping, which catches some mistakes MySQL allows.",
               "Quoting differs too: PostgreSQL uses double quotes for identifiers, MySQL uses backticks."]),
    ],
    offers=["Want me to walk through it on a small sample table?"],
)

_TOPICS["spreadsheets"] = _topic(
    asks=[
        _turn(
            ["How does VLOOKUP work in Excel?", "Can you explain VLOOKUP with an example?"],
            ["VLOOKUP finds a value in the first column of a range and returns a value from another column in that row."],
            ["The syntax is =VLOOKUP(lookup_value, table_range, column_number, FALSE).",
             "For example, =VLOOKUP(A2, Products!A:C, 3, FALSE) finds A2 in the Products sheet and returns column C.",
             "Always use FALSE as the last argument for an exact match; TRUE does approximate matching.",
             "The lookup column must be the leftmost column of the range.",
             "Newer versions have XLOOKUP, which can look left and is easier to read."]),
        _turn(
            ["What's a pivot table and when is it useful?", "How do you make a pivot table?"],
            ["A pivot table summarises a large table by grouping and aggregating, with no formulas needed."],
            ["Click anywhere in the data and choose Insert > PivotTable.",
             "Drag a category field, like Region, to Rows.",
             "Drag a numeric field, like Sales, to Values; it will sum by default.",
             "Add a second field to Columns for a cross-tab, such as regions by month.",
             "Use Filters to focus on one product or year.",
             "Refresh the pivot when the source data changes."],
            steps=True),
        _turn(
            ["How do you use conditional formatting to highlight values?", "How can cells above a threshold be highlighted?"],
            ["Conditional formatting colours cells automatically based on rules:"],
            ["Select the range, then go to Home > Conditional Formatting > Highlight Cells Rules.",
             "Choose 'Greater Than', enter the threshold and pick a colour.",
             "For whole rows, use 'New Rule' with a formula like =$C2>100, where the dollar sign locks the column.",
             "Colour scales and data bars give a quick visual overview of a whole column.",
             "Manage Rules lets you edit or reorder the rules later."],
            steps=True),
    ],
    follow=[
        _turn(["Does that work in Google Sheets too?", "What about Google Sheets?"],
              ["Yes, with small differences:"],
              ["The formula syntax is the same for VLOOKUP, SUMIF and most common functions.",
               "Pivot tables are under Insert > Pivot table and open in a new sheet by default.",
               "Conditional formatting is under Format > Conditional formatting, with a sidebar for rules.",
               "Google Sheets also has QUERY, which lets you write SQL-like formulas."]),
        _turn(["How do you avoid the #N/A error?", "What causes errors like #N/A there?"],
              ["#N/A means the lookup value wasn't found. Common fixes:"],
              ["Check for extra spaces with TRIM, a very common cause.",
               "Make sure numbers aren't stored as text in one of the columns.",
               "Wrap the formula in IFERROR to show a blank or custom message instead.",
               "Confirm the range covers all rows, or use whole columns like A:C."]),
    ],
    offers=["Want a sample layout to practise on?"],
)

_TOPICS["travel_itinerary"] = _topic(
    asks=[
        _turn(
            ["Can you suggest a three-day itinerary for {city}?", "What would a good 3-day plan for {city} look like?",
             "Suggest how to spend three days in {city}."],
            ["{city} is great for a long weekend. Here's a balanced three-day plan:",
             "Here's a three-day {city} itinerary that mixes the highlights with some slower moments:"],
            ["Day 1 morning: explore {old_town} on foot, ideally early before the crowds.",
             "Day 1 afternoon: visit {landmark}, booking tickets online in advance if possible.",
             "Day 2 morning: spend a few hours at {museum}.",
             "Day 2 evening: head to {viewpoint} for sunset, then try {local_food} nearby.",
             "Day 3: take a day trip to {day_trip}, or keep it relaxed with markets and cafés.",
             "Throughout: buy a public transport day pass, which usually pays for itself quickly."],
            steps=True,
            follow=[
                _turn(["What about with only one day in {city}?", "Could that be condensed into a single day?"],
                      ["With one day, focus on the essentials and keep travel between them short:"],
                      ["Morning: {old_town}, which gives the best feel for the city in a few hours.",
                       "Midday: {landmark}, with a pre-booked time slot to skip queues.",
                       "Late afternoon: a quick lunch of {local_food} and a stroll.",
                       "Evening: {viewpoint} for the view, then dinner close by.",
                       "Skip {day_trip} and the big museums; they deserve more time than a single day allows."],
                      steps=True),
                _turn(["Is {day_trip} worth the day trip?", "How do people usually get to {day_trip} from {city}?"],
                      ["{day_trip} is a popular escape from {city}, and for good reason. Some practical notes:"],
                      ["Most visitors go by train or regional bus; check timetables the day before.",
                       "Leave early in the morning to beat tour groups.",
                       "Plan about six to eight hours including travel.",
                       "Wear comfortable shoes, as the best parts usually involve walking.",
                       "Book a guided tour only if you want context; it's easy to do independently."]),
            ]),
        _turn(
            ["What food should be tried in {city}?", "What are the must-try dishes in {city}?"],
            ["{city} has a lot to offer food-wise. Highlights to look for:"],
            ["{local_food}, the classic that almost every visitor tries.",
             "A local market, where small stalls are often better and cheaper than restaurants.",
             "A set lunch menu at a neighbourhood restaurant, usually the best value of the day.",
             "A bakery or café breakfast the way locals have it.",
             "Street food around {old_town}, ideally from stalls with a queue of locals.",
             "A food walking tour on the first day, which helps with ordering for the rest of the trip."]),
        _turn(
            ["When is the best time of year to visit {city}?", "What season is best for a trip to {city}?"],
            ["For most visitors the shoulder seasons are the sweet spot for {city}. A rough guide:"],
            ["Spring brings mild weather and fewer crowds than summer, good for walking around {old_town}.",
             "Summer has the longest days and most events, but also peak prices and queues at {landmark}.",
             "Autumn often has pleasant temperatures and lower hotel rates.",
             "Winter is quietest and cheapest; indoor sights like {museum} come into their own.",
             "Check local holidays before booking, as they can mean closures or sudden crowds."]),
    ],
    follow=[
        _turn(["Where's a good area to stay?", "Which neighbourhood is best as a base?"],
              ["Choosing the right base saves a lot of time. General guidance:"],
              ["Staying in or near {old_town} puts most sights within walking distance.",
               "A neighbourhood one or two metro stops out is often quieter and cheaper.",
               "Check the walking time to the nearest station, not just the map distance.",
               "Read recent reviews for noise, since central areas can be loud at night."]),
        _turn(["How can that be done on a tight budget?", "Any tips for doing that cheaply?"],
              ["{city} can be done affordably with a few habits:"],
              ["Look for free walking tours and museums' free-entry days.",
               "Eat the main meal at lunchtime, when set menus are cheaper.",
               "Use public transport passes instead of taxis.",
               "Stay in a guesthouse or hostel with a kitchen for breakfasts.",
               "Carry a refillable water bottle and picnic in parks on sunny days."]),
        _turn(["What's the best way to get around the city?", "Is public transport easy to use there?"],
              ["Getting around {city} is generally straightforward:"],
              ["The central sights are mostly walkable, so comfortable shoes are the best investment.",
               "Public transport covers longer hops; a day or multi-day pass is usually good value.",
               "Contactless bank cards work on many systems, avoiding ticket machines.",
               "Taxis and ride-hailing are handy late at night or with luggage.",
               "Renting a bike or e-scooter is a fun way to cover middle distances in good weather."]),
    ],
    offers=["Want restaurant-style suggestions for each day?", "Would a rainy-day backup plan help?"],
)

_TOPICS["travel_tips"] = _topic(
    asks=[
        _turn(
            ["What should go on a packing list for a week-long trip with just a carry-on?",
             "How do you pack light for a week with only a carry-on bag?"],
            ["A week in a carry-on is very doable with a mix-and-match approach:"],
            ["Choose a colour palette so every top works with every bottom.",
             "Pack 4 to 5 tops, 2 bottoms and 1 layer, planning to do a quick laundry midweek.",
             "Wear the bulkiest shoes and jacket on the plane.",
             "Roll clothes or use packing cubes to compress them.",
             "Keep liquids in travel-size bottles in a clear bag, within airline limits.",
             "Bring a universal adapter and a small power bank."]),
        _turn(
            ["How do you deal with jet lag?", "What are the best ways to reduce jet lag?"],
            ["Jet lag can't be avoided entirely, but it can be shortened a lot:"],
            ["Shift sleep by an hour a day for a few days before departure.",
             "Get daylight in the morning at the destination when flying east, and in the evening when flying west.",
             "Stay hydrated and go easy on alcohol and caffeine during the flight.",
             "Switch to local meal times straight away.",
             "If a nap is essential, keep it under 30 minutes and before mid-afternoon.",
             "Expect about a day of adjustment per time zone crossed, faster with good habits."]),
        _turn(
            ["What are some tips for finding cheap flights?", "How do people usually find the best flight deals?"],
            ["There's no single trick, but these habits consistently save money:"],
            ["Be flexible with dates; flexible-date search views often reveal much cheaper days.",
             "Set price alerts on a couple of fare comparison sites.",
             "Check nearby alternative airports at both ends.",
             "Compare the total cost once bags and seat fees are added for budget airlines.",
             "Book international flights roughly two to five months ahead.",
             "Search in a private window if prices seem to jump, though the effect is debated."]),
    ],
    follow=[
        _turn(["How does that change for a winter trip?", "What about travelling in winter?"],
              ["Winter travel mostly means planning for cold and delays:"],
              ["Pack thin layers, such as thermal base layers, rather than one bulky coat.",
               "Allow extra time for connections, since snow and ice can cause delays.",
               "Check opening hours, as some attractions shorten them off-season.",
               "Buy travel insurance that covers weather disruption.",
               "Keep a phone power bank handy, since batteries drain faster in the cold."]),
        _turn(["Any apps that help with this?", "Which tools are useful for that?"],
              ["A few kinds of apps make travel smoother:"],
              ["An offline maps app, with the city downloaded before arrival.",
               "The airline's own app for boarding passes and gate changes.",
               "A translation app with offline language packs and camera translation.",
               "A notes or itinerary app that keeps bookings in one place.",
               "A currency converter that works offline, useful in markets."]),
    ],
    offers=["Want this as a printable checklist?"],
)

_TOPICS["workouts"] = _topic(
    asks=[
        _turn(
            ["Can you suggest a beginner full-body workout plan for three days a week?",
             "What's a good three-day-a-week strength routine?"],
            ["Here's a simple full-body plan for three non-consecutive days, like Monday, Wednesday and Friday:"],
            ["Warm up for 5 to 10 minutes with brisk walking and dynamic stretches.",
             "Squats: 3 sets of 8 to 12 reps, with bodyweight or a goblet-held dumbbell.",
             "Push-ups: 3 sets of as many good reps as possible, elevating the hands on a bench if needed.",
             "Dumbbell or band rows: 3 sets of 10 to 12 reps.",
             "Glute bridges or Romanian deadlifts: 3 sets of 10 to 12 reps.",
             "Plank: 3 holds of 20 to 40 seconds, then cool down with gentle stretching."],
            steps=True,
            follow=[
                _turn(["How should the plan progress over time?", "When should the weights go up?"],
                      ["Progressive overload is the key to continued results. A simple rule:"],
                      ["When all sets reach the top of the rep range with good form, increase the load slightly.",
                       "For bodyweight moves, progress to harder versions, such as full push-ups or split squats.",
                       "Add a set per exercise after 4 to 6 weeks if recovery feels good.",
                       "Every 6 to 8 weeks, take a lighter week to let the body catch up."]),
            ]),
        _turn(
            ["What's a good 20-minute workout with no equipment?", "Can you suggest a quick bodyweight workout?"],
            ["Here's a 20-minute circuit that needs only a bit of floor space:"],
            ["Warm up for 3 minutes: marching in place, arm circles and hip circles.",
             "Do each exercise for 40 seconds with 20 seconds of rest: squats, push-ups, reverse lunges, "
             "mountain climbers, glute bridges and plank.",
             "That's one 6-minute round; complete 2 to 3 rounds.",
             "Rest 1 minute between rounds.",
             "Cool down with 2 minutes of easy stretching for the hips, hamstrings and chest."],
            steps=True),
        _turn(
            ["How do you do a proper squat?", "What's the correct form for a squat?"],
            ["Good squat form protects the knees and back. Key cues:"],
            ["Stand with feet about shoulder-width apart, toes turned slightly out.",
             "Brace the core as if about to be poked in the stomach.",
             "Push the hips back and bend the knees at the same time, keeping the chest up.",
             "Let the knees track in line with the toes rather than caving inward.",
             "Go as low as you can while keeping a neutral back, ideally thighs parallel to the floor.",
             "Drive up through the whole foot and squeeze the glutes at the top."]),
    ],
    follow=[
        _turn(["What about for a complete beginner?", "How would that look for someone brand new to exercise?"],
              ["For a complete beginner, start gentler and focus on consistency:"],
              ["Begin with 2 sets instead of 3, and stop each set with a couple of reps in reserve.",
               "Use easier variations: box squats, wall push-ups and shorter planks.",
               "Leave at least a day of rest between sessions.",
               "Track each workout so progress is visible, which helps motivation."]),
        _turn(["How long until results show?", "How soon does progress usually become noticeable?"],
              ["It varies, but a typical timeline looks like this:"],
              ["Weeks 1 to 3: movements feel smoother as coordination improves.",
               "Weeks 4 to 8: noticeable strength gains, like more reps or heavier weights.",
               "Weeks 8 to 12: visible changes for many people, especially with good sleep and protein.",
               "Consistency matters far more than any single perfect session."]),
    ],
    offers=["Want a printable log to track sessions?", "Would a stretching routine to pair with it help?"],
)

_TOPICS["running"] = _topic(
    asks=[
        _turn(
            ["How do you train for a first 5K?", "What's a good plan to go from no running to a 5K?"],
            ["A walk-run approach gets most people to a 5K in about eight weeks, running three times a week:"],
            ["Weeks 1 and 2: alternate 1 minute of jogging with 2 minutes of walking, for 20 minutes.",
             "Weeks 3 and 4: jog 3 minutes, walk 2 minutes, for 25 minutes.",
             "Weeks 5 and 6: jog 5 to 8 minutes, walk 1 to 2 minutes, repeated for 30 minutes.",
             "Week 7: jog 15 minutes, walk 2, jog 10 more.",
             "Week 8: try 30 minutes of continuous easy running, roughly 5 km for many people.",
             "Keep the pace conversational; if you can't talk, slow down."],
            steps=True),
        _turn(
            ["How can running pace be improved?", "What kind of training helps to run faster?"],
            ["Getting faster comes from mixing in a little speed work on a base of easy running:"],
            ["Keep about 80% of weekly running at an easy, conversational pace.",
             "Add one interval session, for example 6 × 400 m fast with 2 minutes of easy jogging between.",
             "Try a weekly tempo run: 15 to 20 minutes at a comfortably hard pace.",
             "Increase total weekly distance by no more than about 10% per week.",
             "Add strength work for legs and core twice a week.",
             "Prioritise sleep, as that's when the adaptations happen."]),
        _turn(
            ["How do you choose running shoes?", "What should be considered when buying running shoes?"],
            ["The best running shoe is mostly the one that feels comfortable. A few pointers:"],
            ["Try shoes on later in the day, when feet are slightly bigger.",
             "Leave about a thumb's width of space in front of the longest toe.",
             "Pick a type for the surface: road shoes for pavement, trail shoes with grip for paths.",
             "Cushioning is personal; jog a few steps in the shop if possible.",
             "Replace shoes roughly every 500 to 800 km, when the midsole feels flat."]),
    ],
    follow=[
        _turn(["How do you avoid shin splints?", "What helps prevent common running injuries?"],
              ["Most running injuries come from doing too much too soon. To reduce the risk:"],
              ["Build mileage gradually and include rest days.",
               "Run on softer surfaces, such as trails or tracks, some of the time.",
               "Strengthen calves, hips and core with simple exercises.",
               "Shorten the stride slightly so the feet land closer under the body.",
               "Take pain that gets worse during a run seriously and rest it rather than running through it."]),
        _turn(["What should be eaten before a run?", "Is it better to run before or after breakfast?"],
              ["For easy runs under an hour it's largely personal preference. General guidance:"],
              ["A light snack 30 to 60 minutes before, like a banana or toast, works for most people.",
               "Leave 2 to 3 hours after a large meal.",
               "For longer or harder sessions, have some carbohydrate beforehand.",
               "Drink some water beforehand, and afterwards eat something with protein and carbs."]),
    ],
    offers=["Want a printable week-by-week version?"],
)

_TOPICS["nutrition"] = _topic(
    asks=[
        _turn(
            ["How much protein does an adult typically need per day?", "What's the general guideline for daily protein intake?"],
            ["Guidelines vary by source, but here's the general picture:"],
            ["The common baseline is about 0.8 g of protein per kg of body weight per day.",
             "People doing regular strength training often aim for 1.2 to 2.0 g per kg.",
             "Spreading protein across meals, around 20 to 40 g each, is thought to help muscle repair.",
             "Good sources include eggs, dairy, fish, poultry, beans, lentils, tofu and nuts.",
             "A registered dietitian can give personalised advice for specific needs."]),
        _turn(
            ["What are some tips for meal prepping for the week?", "How do you get started with meal prep?"],
            ["Meal prep saves a lot of weekday time. A simple system:"],
            ["Pick two or three recipes that reheat well, like grain bowls, stews and traybakes.",
             "Shop with a list organised by store section.",
             "Cook grains and proteins in bulk, and chop vegetables in one session.",
             "Store meals in airtight containers and eat the fridge portions within 3 to 4 days.",
             "Freeze a few portions for later in the week.",
             "Keep sauces separate until eating so things don't go soggy."],
            steps=True),
        _turn(
            ["What's the difference between soluble and insoluble fibre?", "Can you explain dietary fibre?"],
            ["Fibre is the part of plant foods that we can't fully digest, and there are two main kinds:"],
            ["Soluble fibre dissolves in water to form a gel; it's found in oats, beans, apples and barley.",
             "It can help lower cholesterol and slow the absorption of sugar.",
             "Insoluble fibre doesn't dissolve; it's in whole grains, nuts and vegetable skins.",
             "It adds bulk and helps food move through the digestive system.",
             "Most guidelines suggest around 25 to 30 g of fibre a day from a variety of plants."]),
    ],
    follow=[
        _turn(["What are some easy high-protein vegetarian options?", "Could you suggest vegetarian sources instead?"],
              ["Plenty of vegetarian foods are protein-rich:"],
              ["Greek yogurt and cottage cheese, with around 10 g of protein per 100 g.",
               "Lentils, chickpeas and beans, which also bring fibre.",
               "Tofu, tempeh and edamame, which are complete proteins.",
               "Eggs, nuts, seeds and whole grains like quinoa to round things out.",
               "Combining beans with grains across the day gives a good balance of amino acids."]),
        _turn(["Could you suggest a simple day of meals based on that?"],
              ["Here's a sample day built on those ideas:"],
              ["Breakfast: overnight oats with yogurt, berries and a spoon of nut butter.",
               "Lunch: a grain bowl with chickpeas, roasted vegetables and tahini dressing.",
               "Snack: an apple with a handful of almonds.",
               "Dinner: salmon or tofu with brown rice and steamed greens.",
               "Drink water through the day, and adjust portions to appetite and activity."]),
    ],
    offers=["Want a shopping list to go with that?"],
)

_TOPICS["budgeting"] = _topic(
    asks=[
        _turn(
            ["Can you explain the 50/30/20 budgeting rule with an example of {income} a month?",
             "How does the 50/30/20 rule work for a take-home pay of {income} a month?"],
            ["The 50/30/20 rule splits take-home pay into three buckets. With {income} a month:"],
            ["50% for needs, such as housing, utilities, groceries and minimum debt payments: {needs}.",
             "30% for wants, such as eating out, hobbies and subscriptions: {wants}.",
             "20% for savings and extra debt repayment: {savings}.",
             "Track spending for a month first to see how reality compares to these targets.",
             "If needs take more than 50%, trim wants first rather than savings."],
            follow=[
                _turn(["What if needs take up more than half?", "What happens when housing alone costs more than half of take-home pay?"],
                      ["That's very common in expensive cities. The rule is a guide, not a law:"],
                      ["Adjust the split, for example 60/20/20, and keep savings as the protected bucket.",
                       "Look for the biggest levers first: housing, transport and insurance.",
                       "Review subscriptions and recurring charges, which add up quietly.",
                       "Revisit the split whenever income changes.",
                       "Even a 10% savings rate is a solid start if 20% is out of reach for now."]),
            ]),
        _turn(
            ["How big should an emergency fund be?", "What's the usual advice on building an emergency fund?"],
            ["An emergency fund covers surprises like a job loss or an urgent repair. Common guidance:"],
            ["Aim for three to six months of essential expenses, not total income.",
             "Start with a smaller first goal, like one month, so progress feels real.",
             "Keep it in a separate, easy-access savings account, not invested in stocks.",
             "Automate a transfer on payday so saving happens before spending.",
             "Refill it after using it, before returning to other goals."]),
        _turn(
            ["What's the difference between the debt avalanche and debt snowball methods?",
             "Which is better for paying off debt, avalanche or snowball?"],
            ["Both have you pay minimums on everything and put extra money toward one debt at a time:"],
            ["Avalanche targets the highest interest rate first, which saves the most money overall.",
             "Snowball targets the smallest balance first, giving quick wins that build motivation.",
             "Once a debt is paid off, roll its payment into the next one.",
             "Research on behaviour suggests snowball helps some people stick with it.",
             "Either beats paying only minimums; the best one is the one you'll follow."]),
    ],
    follow=[
        _turn(["Are there good apps for tracking this?", "What tools make budgeting easier?"],
              ["Popular approaches fall into a few categories:"],
              ["Zero-based budgeting apps that assign every unit of money a job.",
               "Bank apps with automatic spending categories, which need little setup.",
               "A simple spreadsheet with monthly tabs, which is free and flexible.",
               "Whichever you choose, a weekly 10-minute review matters more than the tool.",
               "Check what data an app collects and whether it connects directly to bank accounts."]),
        _turn(["What about with an irregular income?", "How does that work when income varies month to month?"],
              ["Irregular income needs a buffer-first approach:"],
              ["Base the budget on a conservative, low-month income figure.",
               "Build a buffer of one month's expenses and pay yourself a steady amount from it.",
               "In good months, top up the buffer and savings before increasing spending.",
               "Set aside taxes as a percentage of each payment if they aren't withheld."]),
    ],
    offers=["Want a simple spreadsheet layout for this?"],
)

_TOPICS["investing_basics"] = _topic(
    asks=[
        _turn(
            ["Can you explain compound interest with an example?",
             "How much would {principal} grow to at {rate} a year over {years} years?"],
            ["Compound interest means earning interest on previous interest, so growth speeds up over time."],
            ["The formula is final = principal × (1 + rate) ^ years, for annual compounding.",
             "With {principal} at {rate} a year for {years} years, the result is about {grown}.",
             "Simple interest on the same terms would give only {simple}.",
             "The gap widens every year, which is why starting early matters so much.",
             "The rule of 72 estimates doubling time: divide 72 by the rate in percent."]),
        _turn(
            ["What is an index fund?", "How do index funds work, and why are they popular?"],
            ["An index fund holds all or most of the securities in a market index, such as the S&P 500."],
            ["Instead of picking stocks, it mirrors the index, so returns track the overall market.",
             "Fees are usually very low because there's no team of stock pickers.",
             "Broad diversification reduces the impact of any single company doing badly.",
             "Over long periods, most actively managed funds fail to beat their index after fees.",
             "They are available as mutual funds or exchange-traded funds, called ETFs."]),
        _turn(
            ["What's the difference between stocks and bonds?", "Can you explain stocks versus bonds?"],
            ["Both are ways to invest, but they work very differently:"],
            ["A stock is a share of ownership in a company; its value rises and falls with the business.",
             "A bond is a loan to a government or company that pays interest and returns the principal at maturity.",
             "Stocks have historically higher long-term returns but bigger short-term swings.",
             "Bonds are usually steadier and provide income, but with lower expected growth.",
             "Many portfolios hold both, shifting toward bonds as the time horizon shortens."]),
    ],
    follow=[
        _turn(["What are the risks?", "What should beginners watch out for?"],
              ["Worth knowing before investing:"],
              ["Market value can fall, sometimes sharply, and take years to recover.",
               "Fees compound too, so small percentage differences matter over decades.",
               "Trying to time the market tends to hurt returns.",
               "This is general information, not personal financial advice; a licensed adviser can help with specifics.",
               "Money needed within a few years is generally kept out of volatile investments."]),
        _turn(["How does inflation affect that?", "What role does inflation play?"],
              ["Inflation reduces what money can buy, so real returns matter more than nominal ones:"],
              ["Real return is roughly the nominal return minus the inflation rate.",
               "Cash savings can lose purchasing power when inflation exceeds the interest rate.",
               "Stocks have historically outpaced inflation over long periods, though not every year.",
               "Some bonds are indexed to inflation, which protects their real value."]),
    ],
    offers=["Want a simple table showing the growth year by year?"],
)

_TOPICS["gardening"] = _topic(
    asks=[
        _turn(
            ["How do you grow {plant} successfully?", "What are the basics of growing {plant}?",
             "Any tips for growing {plant} in a small garden?"],
            ["{plant} are rewarding to grow with a bit of planning. The essentials:",
             "Here's what matters most for healthy {plant}:"],
            ["Light: give them {sun}.",
             "Soil: use well-drained soil enriched with compost before planting.",
             "Spacing: leave about {spacing} between plants for airflow, which reduces disease.",
             "Watering: water deeply at the base in the morning rather than little and often on the leaves.",
             "Feeding: a balanced organic fertiliser every few weeks during the growing season helps.",
             "Harvest {harvest}."],
            follow=[
                _turn(["Can {plant} be grown in containers?", "What about growing {plant} in pots on a balcony?"],
                      ["Yes, {plant} can do well in containers with a few adjustments:"],
                      ["Choose a large pot with drainage holes; bigger pots dry out less quickly.",
                       "Use a quality potting mix, not garden soil, which compacts in pots.",
                       "Water more often than in the ground, sometimes daily in hot weather.",
                       "Feed a little more regularly, since nutrients wash out of pots faster.",
                       "Place the pot where it gets {sun}."]),
                _turn(["What pests should be watched for?", "How do you deal with pests on {plant} naturally?"],
                      ["A few common pests show up on {plant}, and most can be handled without harsh chemicals:"],
                      ["Aphids: blast them off with a jet of water or use insecticidal soap.",
                       "Slugs and snails: use beer traps, copper tape or hand-pick them in the evening.",
                       "Caterpillars: check under leaves and remove them by hand.",
                       "Encourage ladybirds, lacewings and birds, which eat many pests for free.",
                       "Inspect plants every few days so problems are caught early."]),
            ]),
        _turn(
            ["How do you start a compost pile?", "What's the easiest way to begin composting?"],
            ["Composting turns kitchen and garden scraps into rich soil. To get started:"],
            ["Pick a bin or a shaded corner on bare soil, about 1 metre square.",
             "Mix 'greens' such as fruit and vegetable scraps, coffee grounds and grass clippings.",
             "Add roughly twice as many 'browns': dry leaves, cardboard and straw.",
             "Keep it as moist as a wrung-out sponge.",
             "Turn it every week or two to add air and speed things up.",
             "It's ready in 2 to 6 months, when it's dark, crumbly and smells earthy."],
            steps=True),
        _turn(
            ["Which vegetables are easiest for a first vegetable garden?", "What are good beginner vegetables to grow?"],
            ["Some crops are very forgiving and productive, which makes them ideal to start with:"],
            ["Radishes, ready in about four weeks from seed.",
             "Lettuce and salad leaves, which can be picked again and again.",
             "Courgettes, also called zucchini, famously productive.",
             "Bush beans, which need no support and crop heavily.",
             "Cherry tomatoes, more reliable than large varieties.",
             "Herbs like parsley, chives and mint, though mint is best kept in a pot as it spreads."]),
    ],
    follow=[
        _turn(["What should be planted together?", "Are there good companion plants for that?"],
              ["Companion planting is partly tradition, but a few pairings are well supported:"],
              ["Marigolds near vegetables can deter some pests and attract pollinators.",
               "Basil alongside tomatoes is a classic pairing that makes good use of space.",
               "Tall crops can shade lettuce during hot summer afternoons.",
               "Avoid crowding; good airflow matters more than any specific combination.",
               "Rotate crop families between beds each year to limit soil-borne disease."]),
        _turn(["What about in a cooler climate?", "How would that change in a colder region?"],
              ["In cooler climates the main challenge is a short season. Helpful adjustments:"],
              ["Start seeds indoors 6 to 8 weeks before the last frost.",
               "Choose early-maturing or cold-tolerant varieties.",
               "Use fleece, cloches or a cold frame to protect young plants.",
               "Plant against a sunny wall, which stores and releases heat.",
               "Raised beds warm up faster in spring than ground-level soil."]),
    ],
    offers=["Want a simple month-by-month planting calendar?"],
)

_TOPICS["houseplants"] = _topic(
    asks=[
        _turn(
            ["How do you take care of {houseplant}?", "What does {houseplant} need to thrive indoors?"],
            ["{houseplant} is a rewarding plant to keep. Care basics:"],
            ["Light: it does best in {light}.",
             "Water: water {water}, and empty any water left in the saucer.",
             "Humidity: average household humidity is usually fine; avoid placing it next to a radiator.",
             "Feeding: use a diluted houseplant fertiliser monthly in spring and summer only.",
             "Repotting: move it to a pot one size larger every year or two, when roots circle the pot.",
             "Cleaning: wipe dusty leaves with a damp cloth so they can absorb light."],
            follow=[
                _turn(["Why would its leaves turn yellow?", "What do yellow leaves usually mean?"],
                      ["Yellow leaves are a signal rather than a disease. The usual causes:"],
                      ["Overwatering is the most common; check whether the soil stays soggy.",
                       "Underwatering shows as crispy yellow or brown edges with dry soil.",
                       "Low light causes slow growth and pale lower leaves.",
                       "Old leaves naturally yellow and drop occasionally, which is normal.",
                       "Remember its ideal: {light}, watered {water}."]),
                _turn(["How can it be propagated?", "Is it possible to grow a new plant from a cutting?"],
                      ["Many houseplants propagate easily from cuttings. The general method:"],
                      ["Cut a healthy stem just below a node, the bump where a leaf or root grows.",
                       "Remove the lowest leaves so the node sits in water or soil.",
                       "Root it in a glass of water or moist potting mix in bright, indirect light.",
                       "Change the water weekly; roots usually appear in 2 to 6 weeks.",
                       "Pot it up once roots are a few centimetres long."]),
            ]),
        _turn(
            ["Which houseplants are good for low light?", "What plants tolerate a dim room?"],
            ["Several tough plants handle low light well:"],
            ["Snake plant, which tolerates low light and infrequent watering.",
             "ZZ plant, almost indestructible with glossy leaves.",
             "Pothos, a trailing plant that grows in lower light, just more slowly.",
             "Peace lily, which even flowers in moderate shade.",
             "Cast iron plant, named for its toughness.",
             "Remember that low light means less water too, since growth slows."]),
        _turn(
            ["How do you get rid of fungus gnats in houseplants?", "What's the fix for little flies around potted plants?"],
            ["Fungus gnats breed in damp soil, so the fix is mostly about drying it out:"],
            ["Let the top few centimetres of soil dry completely between waterings.",
             "Use yellow sticky traps to catch the adults.",
             "Water from the bottom for a while, so the surface stays dry.",
             "Cover the soil with a thin layer of sand or fine grit.",
             "For heavy infestations, a soil drench with BTI, a natural bacterium, kills the larvae."]),
    ],
    follow=[
        _turn(["Which of those plants are non-toxic?", "Are any of those plants toxic if chewed?"],
              ["Toxicity varies a lot between species. Generally speaking:"],
              ["Spider plants, calatheas and Boston ferns are widely listed as non-toxic.",
               "Pothos, peace lilies, monsteras and ZZ plants can irritate if chewed.",
               "Check the ASPCA's plant database, which lists toxicity by species.",
               "Hanging planters keep plants out of reach as a simple precaution.",
               "Wash hands after pruning plants with irritating sap, such as many aroids."]),
        _turn(["How often should they be repotted?", "When is it time for a bigger pot?"],
              ["Most houseplants need repotting every one to two years. Signs it's time:"],
              ["Roots growing out of the drainage holes or circling the surface.",
               "Water running straight through without soaking in.",
               "Growth slowing in spring and summer despite good care.",
               "Go up only one pot size, 2 to 5 cm wider, to avoid soggy soil.",
               "Spring is the best time, as the plant is about to start growing actively."]),
    ],
    offers=["Want a simple watering schedule to follow?"],
)

_TOPICS["language_learning"] = _topic(
    asks=[
        _turn(
            ["What's the best way to start learning {language}?", "How should a beginner approach learning {language}?",
             "Any tips for learning {language} from scratch?"],
            ["Starting {language} is exciting. A structure that works for many learners:",
             "Here's a practical way to build a {language} habit from day one:"],
            ["Learn the sound system first, so pronunciation doesn't fossilise into bad habits.",
             "Start with the 500 most frequent words; they cover a large share of everyday speech.",
             "Use a spaced-repetition flashcard app for 15 minutes a day.",
             "Learn phrases, not just words: '{hello}' and '{thanks}' are a good start.",
             "Listen to beginner podcasts or slow news daily, even passively.",
             "Find a conversation partner or tutor within the first month, even if it feels too early."],
            follow=[
                _turn(["How long does it take to get conversational?", "How many hours until basic conversations?"],
                      ["It depends on the language and the learner, but rough estimates help set expectations:"],
                      ["With daily practice, simple conversations are often possible in 3 to 6 months.",
                       "Comfortable conversation typically takes 1 to 2 years of steady study.",
                       "Languages distant from the ones already known, like Japanese for English speakers, take longer.",
                       "Speaking practice speeds things up more than any other single activity."]),
                _turn(["Is grammar worth studying early on?", "When should {language} grammar come in?"],
                      ["Some grammar early helps, as long as it doesn't crowd out listening and speaking:"],
                      ["Learn the most common verb forms and word order in the first weeks.",
                       "Study a grammar point, then look for it in real {language} sentences.",
                       "Use a short reference grammar rather than memorising every exception.",
                       "Revisit grammar once you have more input; it makes much more sense then."]),
            ]),
        _turn(
            ["How do you memorise vocabulary in {language} effectively?", "What's the best method for remembering new {language} words?"],
            ["Vocabulary sticks best when reviewed at the right moment and used in context:"],
            ["Use spaced repetition, which shows cards just before you'd forget them.",
             "Learn words in example sentences rather than as isolated pairs.",
             "Make mnemonic images linking the sound of the {language} word to its meaning.",
             "Say words out loud while reviewing, to connect them with pronunciation.",
             "Read graded readers so words come back naturally in context.",
             "Keep daily sessions short and consistent rather than cramming."]),
        _turn(
            ["How can {language} listening comprehension be improved?", "Native {language} speakers sound so fast. How do learners keep up?"],
            ["Fast native speech is the classic intermediate hurdle. These help:"],
            ["Listen to the same short clip several times: first for gist, then for detail.",
             "Use transcripts, reading along before trying without them.",
             "Shadowing: repeat a sentence immediately after the speaker, copying the rhythm.",
             "Turn on {language} subtitles rather than English ones for shows.",
             "Slow audio to 0.75× at first, then build back to normal speed."]),
    ],
    follow=[
        _turn(["Which apps or resources would you recommend?", "What are good resources for that?"],
              ["A balanced toolkit usually includes a few kinds of resources:"],
              ["A spaced-repetition flashcard app for vocabulary.",
               "A structured course or textbook for grammar progression.",
               "Podcasts and YouTube channels made for learners at each level.",
               "A tutoring or language-exchange platform for speaking practice.",
               "Graded readers, which are books written with a limited vocabulary for each level."]),
        _turn(["What about for a complete beginner with only ten minutes a day?"],
              ["Ten minutes a day adds up to about 60 hours a year. Make them count:"],
              ["Spend 5 minutes on flashcards and 5 on listening.",
               "Tie the session to an existing habit, like morning coffee.",
               "Keep a streak calendar, since consistency beats intensity.",
               "Once a week, use a longer session to review and speak out loud.",
               "Switch phone and app menus to the target language for free daily exposure."]),
    ],
    offers=["Want a sample weekly study schedule?", "Would a list of first phrases to learn help?"],
)

_TOPICS["book_recommendations"] = _topic(
    asks=[
        _turn(
            ["Can you recommend some good {book_genre} books?", "What are some must-read {book_genre} novels?",
             "Suggest a few {book_genre} books worth reading."],
            ["Happy to! Here are some widely loved {book_genre} picks with a range of styles:",
             "Great genre. A few standouts:"],
            ["{book1}", "{book2}", "{book3}", "{book4}"],
            follow=[
                _turn(["Which one would be best to start with?", "Which of those is the easiest way in?"],
                      ["It depends on taste, but a good way to choose:"],
                      ["For something quick and gripping: {book2}",
                       "For a classic that shaped the genre: {book1}",
                       "For something more immersive and long: {book3}",
                       "Reading the first chapter of two of them usually makes the choice obvious."]),
            ]),
        _turn(
            ["What are some short novels that can be read in a weekend?", "Suggest some short but memorable books."],
            ["Short books can pack a huge punch. Some favourites under about 200 pages:"],
            ["*Of Mice and Men* by John Steinbeck: a tender, devastating story of friendship.",
             "*The Old Man and the Sea* by Ernest Hemingway: a spare, gripping tale of endurance.",
             "*Convenience Store Woman* by Sayaka Murata: funny and strange, about fitting in.",
             "*Breakfast at Tiffany's* by Truman Capote: stylish and bittersweet.",
             "*Animal Farm* by George Orwell: a sharp political fable.",
             "*Small Things Like These* by Claire Keegan: a quiet, moving Irish novella."]),
    ],
    follow=[
        _turn(["Are any of those available as audiobooks?", "Would those work well as audiobooks?"],
              ["Most well-known titles are available in audio. Some tips:"],
              ["Check the narrator's sample; a good narrator makes a big difference.",
               "Libraries often lend audiobooks free through their apps.",
               "Dense books with many characters can be easier in print.",
               "Try playback at 1.1× to 1.25× once used to a narrator's voice.",
               "Alternating between audio and print is a good way to keep momentum with a long book."]),
        _turn(["Something similar but more light-hearted?", "Any lighter options in the same vein?"],
              ["Sure, some lighter reads with a similar feel:"],
              ["Look for cosy or comic entries in the genre, which keep the hooks without the heaviness.",
               "Short story collections let you dip in and out.",
               "Recent prize shortlists often include a warm, funny pick.",
               "Ask a librarian for 'read-alikes'; they're great at this.",
               "Humorous novels by the same authors are often a good bet too."]),
    ],
    offers=["Want a few more picks in a related genre?", "Should I suggest a reading order?"],
)

_TOPICS["film_recommendations"] = _topic(
    asks=[
        _turn(
            ["Can you recommend some great {film_genre} films?", "What are some must-watch {film_genre} movies?",
             "Suggest a few {film_genre} films for a movie night."],
            ["Here are some {film_genre} favourites from different eras:", "Great choice of genre! Some standouts:"],
            ["{film1}", "{film2}", "{film3}", "{film4}"],
            follow=[
                _turn(["Which would be best for a group with mixed tastes?", "Which is the safest crowd-pleaser?"],
                      ["For mixed company, pick something accessible with a clear hook:"],
                      ["{film2}",
                       "{film1}",
                       "Films under two hours tend to work better for groups.",
                       "Reading the one-line premise aloud and voting is a simple way to decide."]),
            ]),
        _turn(
            ["What are some classic films everyone should see once?", "Which classic movies are worth watching?"],
            ["A few classics hold up remarkably well today:"],
            ["*Casablanca* (1942): romance and sacrifice in wartime Morocco.",
             "*Rear Window* (1954): Hitchcock at his most playful and suspenseful.",
             "*Seven Samurai* (1954): the template for countless action films.",
             "*The Godfather* (1972): a family saga about power and loyalty.",
             "*Singin' in the Rain* (1952): pure joy, with some of the best musical numbers ever filmed.",
             "*Spirited Away* (2001): a modern classic of animation."]),
    ],
    follow=[
        _turn(["Where could those be streamed?", "How can those be found on streaming services?"],
              ["Availability changes often and depends on the country, but these help:"],
              ["A streaming search site such as JustWatch shows where each title is available.",
               "Public libraries often offer free film streaming with a library card.",
               "Older classics are frequently available to rent digitally for a small fee.",
               "Repertory cinemas sometimes screen classics on the big screen.",
               "Physical media is worth considering for films that come and go from services."]),
        _turn(["What about something more recent?", "Any newer films in the same spirit?"],
              ["For more recent picks, these approaches work well:"],
              ["Look at festival winners from the last few years, such as Cannes or Sundance.",
               "Check directors' recent work if a particular style appealed.",
               "Critics' year-end lists are a reliable source of hidden gems.",
               "Streaming services' 'because you watched' lists are hit and miss but worth a look.",
               "Film podcasts and review sites often pair a classic with a modern film in the same spirit."]),
    ],
    offers=["Want a themed double-feature suggestion?"],
)

_TOPICS["home_repair"] = _topic(
    asks=[
        _turn(
            ["How do you fix a leaky faucet?", "What's the process for repairing a dripping tap?"],
            ["Most drips come from a worn washer or cartridge, which is a cheap fix. Here's the process:"],
            ["Turn off the water supply under the sink and open the tap to drain it.",
             "Plug the drain so small parts can't fall in.",
             "Remove the handle, usually held by a screw under a decorative cap.",
             "Unscrew the valve or cartridge with an adjustable wrench.",
             "Replace the worn washer, O-ring or cartridge, taking the old part to the shop to match it.",
             "Reassemble, turn the water back on slowly and check for leaks."],
            steps=True),
        _turn(
            ["How do you patch a small hole in drywall?", "What's the best way to repair a hole in a plaster wall?"],
            ["Small holes are an easy weekend fix. For holes up to about 10 cm:"],
            ["Trim loose paper and debris around the hole with a utility knife.",
             "Cover larger holes with a self-adhesive mesh patch; tiny nail holes need only filler.",
             "Apply a thin coat of joint compound or filler with a putty knife, feathering the edges.",
             "Let it dry fully, then apply a second thin coat if needed.",
             "Sand it smooth with fine-grit sandpaper once dry.",
             "Prime the patch before painting, so the finish matches."],
            steps=True),
        _turn(
            ["How do you stop a door from squeaking?", "What's the fix for a squeaky door hinge?"],
            ["A squeaky hinge just needs lubrication, and it takes five minutes:"],
            ["Close the door and tap the hinge pin up with a nail and hammer.",
             "Wipe the pin clean with a cloth, removing rust or grime.",
             "Coat it with a little petroleum jelly, white lithium grease or silicone spray.",
             "Tap the pin back in and swing the door a few times to spread the lubricant.",
             "Repeat for each hinge, one at a time so the door stays hung."],
            steps=True),
        _turn(
            ["How do you unclog a drain without harsh chemicals?", "What's a safe way to clear a slow drain?"],
            ["Most clogs can be cleared mechanically, which is safer for pipes than chemical cleaners:"],
            ["Pour a kettle of hot, not boiling, water down the drain to loosen grease.",
             "Use a plunger with a good seal, covering any overflow hole with a damp cloth.",
             "Try a plastic drain snake to pull out hair from bathroom sinks and showers.",
             "Remove and clean the U-shaped trap under the sink, with a bucket underneath.",
             "Baking soda and vinegar can help with mild buildup.",
             "Call a plumber if several drains are slow at once, which suggests a deeper blockage."]),
    ],
    follow=[
        _turn(["What tools are needed for that?", "What should be in a basic toolkit for jobs like this?"],
              ["A small toolkit covers most household fixes:"],
              ["An adjustable wrench and a set of screwdrivers, both flat and Phillips.",
               "A claw hammer, a utility knife and a tape measure.",
               "A putty knife, fine sandpaper and a small tub of filler.",
               "A torch and a pair of safety glasses.",
               "A cordless drill, the most useful upgrade once the basics are covered."]),
        _turn(["When is it better to call a professional?", "At what point should a professional be called?"],
              ["DIY is great for small jobs, but some situations call for a pro:"],
              ["Anything involving gas lines or the main electrical panel.",
               "Leaks inside walls or ceilings, which can hide mould and structural damage.",
               "Jobs that need permits under local building codes.",
               "Any time a fix fails twice, as the real cause may be elsewhere."]),
    ],
    offers=["Want a list of the parts to pick up at the hardware store?"],
)

_TOPICS["cleaning"] = _topic(
    asks=[
        _turn(
            ["How do you get a red wine stain out of fabric?", "What's the best way to remove a wine stain?"],
            ["Act fast if you can, but even older wine stains often come out. Try this order:"],
            ["Blot, don't rub, with a clean cloth to lift as much wine as possible.",
             "Rinse from the back of the fabric with cold water, never hot, which sets the stain.",
             "Apply a paste of dish soap and hydrogen peroxide on white fabrics, or a stain remover on colours.",
             "Let it sit for 15 to 30 minutes, then rinse again.",
             "Wash as usual and air-dry; check the stain is gone before using a dryer.",
             "Test any product on a hidden spot first."],
            steps=True),
        _turn(
            ["How do you clean an oven without harsh chemicals?", "What's a natural way to clean a greasy oven?"],
            ["Baking soda does most of the work here, given time:"],
            ["Remove the racks and soak them in hot, soapy water in a bathtub or sink.",
             "Mix half a cup of baking soda with a few tablespoons of water into a spreadable paste.",
             "Spread it over the inside of the cold oven, avoiding the heating elements.",
             "Leave it overnight, or at least 12 hours.",
             "Wipe out the paste with a damp cloth, using a plastic scraper for stubborn spots.",
             "Spray with white vinegar to remove the last residue, then wipe clean."],
            steps=True),
        _turn(
            ["What's a good weekly cleaning routine?", "How can cleaning be split into a simple weekly schedule?"],
            ["Splitting tasks across the week keeps each day to 15 or 20 minutes. An example:"],
            ["Monday: kitchen surfaces, sink and a quick fridge check.",
             "Tuesday: bathrooms, including toilet, sink and mirror.",
             "Wednesday: dusting, working from top to bottom.",
             "Thursday: vacuuming and mopping floors.",
             "Friday: laundry and changing bed linen.",
             "Weekend: one rotating deeper task, like windows or the oven."],
            steps=True),
    ],
    follow=[
        _turn(["Which of those products are safe to mix?", "Is it safe to combine cleaning products?"],
              ["Some combinations are dangerous, so it's worth knowing the rules:"],
              ["Never mix bleach with ammonia; it releases toxic chloramine gas.",
               "Never mix bleach with vinegar or other acids, which releases chlorine gas.",
               "Don't combine hydrogen peroxide and vinegar in one container.",
               "Use one product at a time, rinse in between, and keep the room ventilated."]),
        _turn(["How can that be done faster?", "Any shortcuts to speed that up?"],
              ["A few habits cut cleaning time considerably:"],
              ["Keep a caddy with all the basic supplies so nothing needs fetching.",
               "Spray surfaces first and let products sit while you do something else.",
               "Work top to bottom so dust falls onto areas not yet cleaned.",
               "Set a timer; a deadline keeps the pace up.",
               "Tidy as you go during the week so cleaning days are about cleaning, not clearing."]),
    ],
    offers=["Want a printable version of the routine?"],
)

_TOPICS["productivity"] = _topic(
    asks=[
        _turn(
            ["Can you explain the Pomodoro technique?", "How does the Pomodoro method work?"],
            ["The Pomodoro technique breaks work into focused intervals with short breaks. The basic cycle:"],
            ["Choose a single task to work on.",
             "Set a timer for 25 minutes and work only on that task.",
             "When the timer rings, take a 5-minute break away from the screen.",
             "After four pomodoros, take a longer break of 15 to 30 minutes.",
             "If a distraction comes up, note it on paper and return to the task.",
             "Adjust the lengths, for example 50/10, once you know what suits the work."],
            steps=True),
        _turn(
            ["What's the Eisenhower matrix?", "How do you prioritise tasks with the Eisenhower matrix?"],
            ["The Eisenhower matrix sorts tasks by urgency and importance into four boxes:"],
            ["Urgent and important: do these first, such as real deadlines and crises.",
             "Important but not urgent: schedule these, such as planning, learning and exercise.",
             "Urgent but not important: delegate these where possible, such as many interruptions.",
             "Neither: drop these, such as mindless scrolling.",
             "Most long-term progress lives in the second box, so protect time for it."]),
        _turn(
            ["How do you stop procrastinating?", "What are practical ways to beat procrastination?"],
            ["Procrastination is usually about avoiding an unpleasant feeling, not laziness. Tactics that help:"],
            ["Shrink the first step until it's almost silly, like 'open the document and write one sentence'.",
             "Use a two-minute rule: if something takes less than two minutes, do it now.",
             "Remove friction: close other tabs and put the phone in another room.",
             "Set a specific time and place for the task rather than 'later'.",
             "Pair boring tasks with something pleasant, like a favourite playlist.",
             "Track streaks, since visible progress is motivating."]),
        _turn(
            ["How do you run a productive meeting?", "What makes meetings efficient?"],
            ["Good meetings are short, purposeful and end with clear next steps:"],
            ["Share an agenda beforehand with the goal of the meeting in one sentence.",
             "Invite only the people who need to decide or contribute.",
             "Start on time and assign someone to keep time and notes.",
             "End with action items, each with an owner and a deadline.",
             "Send a short summary within a day.",
             "Cancel recurring meetings that no longer have a clear purpose."]),
    ],
    follow=[
        _turn(["What apps help with this?", "Are there tools that support that?"],
              ["Plenty, though the method matters more than the app:"],
              ["A simple timer app or browser extension for focused intervals.",
               "A task manager with priorities and due dates.",
               "A calendar for time-blocking important work.",
               "Website blockers for the most distracting sites during focus time.",
               "A plain notebook, which is distraction-free and surprisingly effective."]),
        _turn(["How can that habit be made to stick?", "How do you stay consistent with it?"],
              ["Habits stick when they're easy, obvious and rewarding:"],
              ["Attach it to an existing routine, such as starting right after the morning coffee.",
               "Start smaller than feels necessary, then build up.",
               "Track it visibly, like a checkmark on a calendar.",
               "Plan for missed days: never miss twice in a row.",
               "Review what worked at the end of each week and adjust the plan."]),
    ],
    offers=["Want a simple daily planning template?"],
)

_TOPICS["music_theory"] = _topic(
    asks=[
        _turn(
            ["Can you explain how major scales are built?", "What notes are in the {key} scale?"],
            ["Every major scale follows the same pattern of whole and half steps:"],
            ["The pattern is whole, whole, half, whole, whole, whole, half.",
             "A whole step skips one key on a piano; a half step moves to the very next key.",
             "Applying the pattern from the root of {key} gives: {scale}.",
             "The half steps fall between the 3rd and 4th notes and the 7th and 8th.",
             "Every major key has a relative minor with the same notes; for {key} it's {relative}."],
            follow=[
                _turn(["Which chords go with that key?", "What are the main chords in {key}?"],
                      ["Building a triad on each note of the scale gives the key's chords:"],
                      ["Chords I, IV and V are major; in {key} that's {chords}.",
                       "Chords ii, iii and vi are minor, and vi is the relative minor, {relative}.",
                       "Chord vii is diminished and used less often in pop music.",
                       "Many songs use just I, V, vi and IV in some order."]),
            ]),
        _turn(
            ["What is the circle of fifths?", "How is the circle of fifths used?"],
            ["The circle of fifths arranges the 12 keys so neighbours are a fifth apart:"],
            ["Going clockwise from C, each key is a fifth higher and adds one sharp: G, D, A and so on.",
             "Going anticlockwise adds one flat per step: F, Bb, Eb and so on.",
             "Neighbouring keys share all but one note, so modulating between them sounds smooth.",
             "It shows relative minors, usually on the inner ring.",
             "It helps find the chords in a key: the neighbours of a key give its IV and V chords."]),
        _turn(
            ["What's the difference between major and minor chords?", "Why do minor chords sound sad?"],
            ["The difference comes down to one note, the third:"],
            ["A major chord is a root, a major third (4 half steps up) and a perfect fifth (7 half steps up).",
             "A minor chord lowers the third by one half step, to 3 half steps above the root.",
             "C major is C, E and G; C minor is C, Eb and G.",
             "The 'sad' quality is partly cultural, shaped by the music we grow up with.",
             "Play the two back to back on a piano or guitar to hear the difference clearly."]),
    ],
    follow=[
        _turn(["How can that be practised on guitar?", "How does that apply on the guitar?"],
              ["On guitar, shapes make these ideas very hands-on:"],
              ["Learn the major scale as one movable shape that works in every key.",
               "Play the open chords of the key in order, saying each chord's number.",
               "Use a metronome at a slow tempo, increasing only when it feels clean.",
               "Try a simple I-IV-V progression and strum along with a backing track."]),
        _turn(["What about on piano?", "How would that be practised on a keyboard?"],
              ["The piano shows theory very visually:"],
              ["Play the scale hands separately, with standard fingering, slowly.",
               "Build triads on each scale degree with the right hand.",
               "Play the chord progression in the left hand while the right plays the scale.",
               "Practise in a new key each week, following the circle of fifths.",
               "Listen for the chords in simple songs and try to play them by ear."]),
    ],
    offers=["Want a few exercises to practise this?"],
)

_TOPICS["photography"] = _topic(
    asks=[
        _turn(
            ["Can you explain the exposure triangle?", "How do aperture, shutter speed and ISO work together?"],
            ["The exposure triangle is the balance of three settings that control brightness:"],
            ["Aperture (f-number) controls how much light the lens lets in; lower numbers mean more light "
             "and a blurrier background.",
             "Shutter speed controls how long the sensor is exposed; fast speeds freeze motion, slow ones blur it.",
             "ISO controls the sensor's sensitivity; higher ISO brightens the image but adds noise.",
             "Changing one setting usually means adjusting another to keep the same exposure.",
             "A good starting point in daylight: f/8, 1/250 s and ISO 100."]),
        _turn(
            ["What are some basic composition tips for photography?", "How can photos be composed better?"],
            ["Composition makes a bigger difference than gear. Some reliable techniques:"],
            ["Rule of thirds: place the subject along the lines or intersections of a 3 × 3 grid.",
             "Leading lines: use roads, fences or rivers to guide the eye into the frame.",
             "Fill the frame: get closer to remove distractions.",
             "Check the edges of the frame for stray objects before pressing the shutter.",
             "Change the viewpoint: shoot from low or high instead of eye level.",
             "Use negative space to make a simple subject stand out."]),
        _turn(
            ["How do you take better photos at night?", "What are tips for low-light photography?"],
            ["Night photography is all about getting enough light without blur:"],
            ["Use a tripod, or rest the camera on a wall, for long exposures.",
             "Open the aperture wide, around f/1.8 to f/4.",
             "Raise ISO gradually and check the noise level on the screen.",
             "Use a 2-second timer or remote to avoid shake when pressing the button.",
             "Shoot in RAW for more flexibility when editing shadows.",
             "The blue hour just after sunset gives rich colour with some light left in the sky."]),
    ],
    follow=[
        _turn(["Does that apply to phone cameras too?", "How about with a smartphone?"],
              ["Mostly yes. Phones automate a lot, but the principles still apply:"],
              ["Tap to focus and slide to adjust exposure before taking the shot.",
               "Night modes stack several exposures; hold still until they finish.",
               "Clean the lens, a surprisingly common cause of hazy photos.",
               "Use the grid overlay in the camera settings for composition.",
               "Avoid digital zoom; move closer or crop afterwards instead."]),
        _turn(["What free editing software would you suggest?", "How should beginners edit photos?"],
              ["Basic editing can improve almost any photo. Good free options and a simple workflow:"],
              ["Darktable or RawTherapee on desktop, or Snapseed on phones.",
               "Straighten and crop first.",
               "Adjust exposure and white balance, then contrast.",
               "Go easy on saturation and sharpening; subtle edits age better.",
               "Compare the edit with the original before exporting, to avoid overdoing it."]),
    ],
    offers=["Want a small weekly photo challenge to practise?"],
)

_TOPICS["public_speaking"] = _topic(
    asks=[
        _turn(
            ["How do you get over nervousness when speaking in public?", "What are tips for calming nerves before a presentation?"],
            ["Nerves are normal, even for experienced speakers. Ways to manage them:"],
            ["Rehearse out loud several times, ideally standing up as you would on the day.",
             "Memorise the first two sentences, since the opening is when nerves peak.",
             "Try slow breathing: in for 4 counts, out for 6, for a minute before starting.",
             "Reframe the adrenaline as excitement rather than fear.",
             "Focus on the message and the audience's needs rather than on yourself.",
             "Find a few friendly faces and speak to them."]),
        _turn(
            ["How should a 10-minute presentation be structured?", "What's a good structure for a short talk?"],
            ["Ten minutes is enough for one clear message. A simple structure:"],
            ["Hook, about 1 minute: a question, a striking fact or a short story.",
             "Main message, in one sentence, stated early.",
             "Three supporting points, about 2 minutes each, with an example for each.",
             "A short recap of the three points.",
             "Close with a call to action or memorable final line.",
             "Leave a minute or two for questions if the format allows."],
            steps=True),
        _turn(
            ["How do you make slides that aren't boring?", "What makes presentation slides effective?"],
            ["Good slides support the speaker rather than replace them:"],
            ["One idea per slide, with a headline that states the point.",
             "Minimal text, ideally under 20 words per slide.",
             "Large, high-quality images instead of bullet lists where possible.",
             "Simple charts with the key number highlighted.",
             "Consistent fonts and colours, with plenty of empty space.",
             "Detailed notes in the speaker view, not on the slides."]),
    ],
    follow=[
        _turn(["How do you handle tough questions from the audience?", "What if someone asks something unexpected?"],
              ["Tough questions are easier with a simple routine:"],
              ["Pause, listen fully and repeat or paraphrase the question.",
               "Answer briefly and honestly, without getting defensive.",
               "If you don't know, say so and offer to follow up.",
               "Bring the answer back to the main message where it fits.",
               "Thank the person for the question, which keeps the tone friendly."]),
        _turn(["How should that be rehearsed?", "What's the best way to practise beforehand?"],
              ["Effective rehearsal goes beyond reading the notes silently:"],
              ["Run through it aloud at least three times, timing each run.",
               "Record a run on a phone and watch it back once.",
               "Practise transitions between sections, where speakers often stumble.",
               "Do a final run-through in front of a friendly listener for feedback.",
               "Visit the room beforehand, if possible, to test the screen and clicker."]),
    ],
    offers=["Want an outline template for the talk?"],
)

TOPICS: tuple[str, ...] = tuple(_TOPICS)

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
    if topic not in _TOPICS:
        raise UserError(f"unknown filler topic {topic!r}; topics: {', '.join(TOPICS)}")
    spec = _TOPICS[topic]
    slots = _Slots(rng)
    ask = rng.choice(spec.asks)
    pool = ask.follow + spec.follow
    n_follow = min(rng.choices(_EXCHANGES, _EXCHANGE_WEIGHTS)[0] - 1, len(pool))
    picks = rng.sample(range(len(pool)), n_follow)
    picks.sort(key=lambda i: i >= len(ask.follow))  # follow-ups written for this request refer to its answer: first
    offers = list(spec.offers + _OFFERS)  # each closing offer at most once per session
    session = [_user(rng, ask, slots, _OPENER_PREFIXES), _answer(rng, ask, offers, slots)]
    for i in picks:
        session += [_user(rng, pool[i], slots, _FOLLOW_PREFIXES), _answer(rng, pool[i], offers, slots)]
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
