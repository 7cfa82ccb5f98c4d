"""Haystack corpora for needle tasks: sentences with token counts, counted once.

A `Haystack` is a pool of units (sentences), each stored WITH its leading separator (" " inside a
paragraph, "\\n\\n" at a paragraph start) exactly as it appears when the units are concatenated, and
counted once, in one batch, with the dataset's tokenizer. Windows of ~N tokens are then cut with
prefix sums and `searchsorted` (O(log n)), never by re-tokenizing candidate texts (RULER's cost).

Sources:
  noise   a few short, trivially true sentences repeated (RULER's noise haystack, our own wording)
  essay   essay-like prose generated offline and deterministically from a seed by a small grammar
  PATH    the user's text: a file, or a directory of *.txt files, split into sentences
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from longbench_suite.errors import UserError
from longbench_suite.tokens import TokenCounter

WORDS_DIR = Path(__file__).parent / "words"


@cache
def word_list(name: str) -> tuple[str, ...]:
    """A packaged word list (`adjectives` or `nouns`): one plain word per line."""
    path = WORDS_DIR / f"{name}.txt"
    words = tuple(w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip())
    if not words:
        raise UserError(f"empty word list: {path}")
    return words


def derive_seed(*parts: object) -> int:
    """A stable 64-bit seed from any parts (sha256, never Python's salted hash())."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Window:
    """`n_units` consecutive units from global index `start` (indices wrap around the pool)."""

    start: int
    n_units: int
    n_tokens: int


class Haystack:
    """Units (with leading separators) plus int64 prefix sums of their token counts.

    `strip_delta[i]` is count(unit without its separator) - count(unit): what unit i costs extra
    (a lost merge, usually 0 or 1) when it opens a text and its separator is dropped."""

    def __init__(self, name: str, units: Sequence[str], counts: Sequence[int], stripped_counts: Sequence[int] | None = None):
        if not units:
            raise UserError(f"haystack {name!r} has no sentences")
        self.name = name
        self.units = list(units)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.cum = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.total = int(self.cum[-1])
        if self.total <= 0:
            raise UserError(f"haystack {name!r} has no tokens")
        stripped = self.counts if stripped_counts is None else np.asarray(stripped_counts, dtype=np.int64)
        self.strip_delta = stripped - self.counts

    @classmethod
    def from_units(cls, name: str, units: Sequence[str], counter: TokenCounter) -> "Haystack":
        units = list(units)
        counts, stripped = count_units(units, counter)
        return cls(name, units, counts, stripped)

    def __len__(self) -> int:
        return len(self.units)

    def pos(self, j: int) -> int:
        """Tokens before global unit index j (j may exceed the pool: it wraps)."""
        q, r = divmod(j, len(self.units))
        return q * self.total + int(self.cum[r])

    def index_at(self, p: int) -> int:
        """The largest global index j with pos(j) <= p: the last unit boundary at or before token p."""
        q, r = divmod(p, self.total)
        return q * len(self.units) + int(np.searchsorted(self.cum, r, side="right")) - 1

    def window(self, start: int, budget: int, tries: int = 8, opens_text: bool = True) -> Window:
        """The longest run of whole units from `start` holding at most `budget` tokens.

        Tries `tries` consecutive starts and keeps the one that fills the budget best: the unfilled
        gap then is a few tokens instead of up to a sentence (RULER instead drops whole units and
        accepts the gap). `opens_text`: the first unit will lose its separator, so its
        strip_delta counts against the budget (n_tokens stays the plain sum of unit counts)."""
        best: tuple[int, Window] | None = None
        for s in range(start, start + max(1, tries)):
            extra = int(self.strip_delta[s % len(self.units)]) if opens_text else 0
            base = self.pos(s)
            end = max(s, self.index_at(base + budget - extra))
            w = Window(s, end - s, self.pos(end) - base)
            used = w.n_tokens + (extra if w.n_units else 0)
            if best is None or used > best[0]:
                best = (used, w)
        assert best is not None
        return best[1]

    def take(self, a: int, b: int) -> list[str]:
        """Units of global indices [a, b), wrapping around the pool as often as needed."""
        n, out = len(self.units), []
        while a < b:
            i = a % n
            j = min(n, i + (b - a))
            out.extend(self.units[i:j])
            a += j - i
        return out


# --- noise --------------------------------------------------------------------------------------

# RULER's noise haystack repeats five short true statements; these are ours.
NOISE_SENTENCES = (
    "The river is wet.",
    "The night is dark.",
    "The snow is white.",
    "On we walk.",
    "Up the hill and down again.",
)


# The pool repeats them so a window is a few list slices rather than a thousand wraps.
_NOISE_REPEAT = 64


def count_units(units: list[str], counter: TokenCounter) -> tuple[list[int], list[int]]:
    """Token counts of units as joined (with separator) and as the first unit of a text (without),
    in one batch."""
    counts = counter.count_batch(units + [u.lstrip() for u in units])
    return counts[: len(units)], counts[len(units) :]


def noise_haystack(counter: TokenCounter) -> Haystack:
    units = [" " + s for s in NOISE_SENTENCES]
    counts, stripped = count_units(units, counter)
    r = _NOISE_REPEAT
    return Haystack("noise", units * r, counts * r, stripped * r)


# --- essay --------------------------------------------------------------------------------------

# Each topic: a noun phrase for the activity, people (plural), things (plural), activities
# (gerund phrases), places. Sentences use plural subjects so verbs agree without morphology.
_TOPICS: tuple[dict[str, tuple[str, ...]], ...] = (
    dict(name=("starting a company", "building a startup"),
         people=("founders", "investors", "early employees", "first customers", "engineers"),
         things=("prototypes", "products", "markets", "deadlines", "pitch decks"),
         acts=("talking to users", "raising money", "hiring the first engineers", "launching early", "fixing bugs at night"),
         places=("in a cramped office", "at a crowded demo day", "in a borrowed garage")),
    dict(name=("writing essays", "learning to write"),
         people=("writers", "editors", "readers", "students"),
         things=("drafts", "sentences", "paragraphs", "ideas", "outlines"),
         acts=("rewriting a draft", "cutting long sentences", "reading good prose", "explaining an idea plainly"),
         places=("at the kitchen table", "in a hushed reading room", "on a lengthy train ride")),
    dict(name=("growing a garden", "keeping a vegetable patch"),
         people=("gardeners", "neighbors", "farmers", "beginners"),
         things=("seeds", "tomatoes", "weeds", "raised beds", "seasons"),
         acts=("pulling weeds", "watering seedlings", "planning the beds", "saving seeds"),
         places=("behind the house", "in a community plot", "under a gnarled apple tree")),
    dict(name=("writing software", "programming"),
         people=("programmers", "hackers", "managers", "users"),
         things=("programs", "bugs", "languages", "tools", "libraries"),
         acts=("reading other people's code", "writing tests", "simplifying a design", "choosing a language"),
         places=("late at night at home", "in a noisy open-plan office", "on a slow laptop")),
    dict(name=("cooking at home", "learning to cook"),
         people=("cooks", "chefs", "guests", "beginners"),
         things=("recipes", "knives", "sauces", "vegetables", "meals"),
         acts=("tasting as you go", "sharpening knives", "baking bread", "shopping for ingredients"),
         places=("in a cramped kitchen", "at a bustling market", "over an open fire")),
    dict(name=("doing research", "scientific work"),
         people=("scientists", "graduate students", "reviewers", "experimenters"),
         things=("experiments", "hypotheses", "measurements", "papers", "instruments"),
         acts=("repeating an experiment", "checking the data", "writing a paper", "asking simple questions"),
         places=("in a cold laboratory", "at a small conference", "out in the field")),
    dict(name=("living in a big city", "city life"),
         people=("city dwellers", "planners", "shopkeepers", "commuters"),
         things=("streets", "neighborhoods", "parks", "buses", "rents"),
         acts=("walking to work", "finding a good apartment", "meeting strangers", "exploring new districts"),
         places=("on a crowded bus", "in a corner cafe", "along the river")),
    dict(name=("learning an instrument", "making music"),
         people=("musicians", "teachers", "listeners", "composers"),
         things=("scales", "songs", "instruments", "rehearsals", "concerts"),
         acts=("practicing scales", "playing with others", "listening closely", "writing songs"),
         places=("in a cramped practice room", "on a small stage", "at a friend's house")),
    dict(name=("sailing small boats", "life at sea"),
         people=("sailors", "dock masters", "crews", "fishermen"),
         things=("sails", "knots", "tides", "charts", "winds"),
         acts=("reading the weather", "tying knots", "trimming the sails", "repairing the hull"),
         places=("out on open water", "in a sheltered harbor", "along a rocky coast")),
    dict(name=("teaching children", "running a classroom"),
         people=("teachers", "parents", "pupils", "principals"),
         things=("lessons", "questions", "exams", "textbooks", "classrooms"),
         acts=("explaining fractions", "grading homework", "listening to pupils", "planning lessons"),
         places=("in a crowded classroom", "after school", "in the school library")),
    dict(name=("painting landscapes", "learning to draw"),
         people=("painters", "collectors", "critics", "art students"),
         things=("colors", "brushes", "canvases", "sketches", "galleries"),
         acts=("mixing colors", "sketching outdoors", "looking at old masters", "finishing a canvas"),
         places=("in a bright studio", "on a windswept hillside", "in a hushed museum")),
    dict(name=("studying history", "reading about the past"),
         people=("historians", "archivists", "readers", "travelers"),
         things=("archives", "letters", "maps", "chronicles", "ruins"),
         acts=("reading old letters", "comparing sources", "visiting ruins", "dating documents"),
         places=("in a dusty archive", "at an old monastery", "in a provincial museum")),
    dict(name=("training for a marathon", "long distance running"),
         people=("runners", "coaches", "beginners", "athletes"),
         things=("shoes", "miles", "injuries", "races", "routes"),
         acts=("running in the rain", "stretching properly", "keeping a training log", "resting enough"),
         places=("on a forest trail", "around the park", "along the seafront")),
    dict(name=("learning mathematics", "solving problems"),
         people=("mathematicians", "students", "tutors", "amateurs"),
         things=("proofs", "problems", "definitions", "theorems", "examples"),
         acts=("working through examples", "checking a proof", "drawing diagrams", "asking why a theorem holds"),
         places=("at a blackboard", "in a quiet study", "on the back of an envelope")),
    dict(name=("building furniture", "working with wood"),
         people=("carpenters", "apprentices", "hobbyists", "clients"),
         things=("chairs", "joints", "tools", "boards", "tables"),
         acts=("sharpening chisels", "measuring twice", "gluing joints", "choosing timber"),
         places=("in a cold workshop", "in the garage", "at a timber yard")),
    dict(name=("traveling on a budget", "seeing the world"),
         people=("travelers", "guides", "locals", "hosts"),
         things=("trains", "maps", "hostels", "languages", "borders"),
         acts=("learning a few phrases", "taking night trains", "getting lost on purpose", "packing light"),
         places=("in a mountain village", "at a border crossing", "on an overnight ferry")),
    dict(name=("managing money", "saving for the future"),
         people=("savers", "economists", "bankers", "families"),
         things=("budgets", "savings", "prices", "debts", "investments"),
         acts=("keeping a budget", "paying off debts", "saving a little each month", "comparing prices"),
         places=("at the kitchen table", "in a bank branch", "in a small town")),
    dict(name=("reading widely", "keeping a library"),
         people=("readers", "librarians", "booksellers", "critics"),
         things=("books", "novels", "bookshelves", "reviews", "notebooks"),
         acts=("reading slowly", "rereading old favorites", "taking notes", "browsing the shelves"),
         places=("in a neighborhood library", "on a long flight", "in a second-hand bookshop")),
)

# Transitive verbs as (base, third person singular, past).
_VERBS = (
    ("notice", "notices", "noticed"), ("ignore", "ignores", "ignored"), ("study", "studies", "studied"),
    ("improve", "improves", "improved"), ("neglect", "neglects", "neglected"), ("explain", "explains", "explained"),
    ("measure", "measures", "measured"), ("compare", "compares", "compared"), ("share", "shares", "shared"),
    ("test", "tests", "tested"), ("question", "questions", "questioned"), ("simplify", "simplifies", "simplified"),
    ("overvalue", "overvalues", "overvalued"), ("underestimate", "underestimates", "underestimated"),
    ("protect", "protects", "protected"), ("collect", "collects", "collected"), ("change", "changes", "changed"),
    ("discuss", "discusses", "discussed"), ("plan", "plans", "planned"), ("review", "reviews", "reviewed"),
    ("trust", "trusts", "trusted"), ("misjudge", "misjudges", "misjudged"), ("revisit", "revisits", "revisited"),
    ("organize", "organizes", "organized"), ("admire", "admires", "admired"), ("worry about", "worries about", "worried about"),
    ("care about", "cares about", "cared about"), ("argue about", "argues about", "argued about"),
    ("rethink", "rethinks", "rethought"), ("avoid", "avoids", "avoided"), ("choose", "chooses", "chose"),
    ("build", "builds", "built"), ("find", "finds", "found"), ("keep", "keeps", "kept"), ("make", "makes", "made"),
    ("describe", "describes", "described"), ("imitate", "imitates", "imitated"), ("repair", "repairs", "repaired"),
)
_ABSTRACT = (
    "patience", "taste", "curiosity", "discipline", "attention", "judgment", "luck", "ambition", "habit",
    "confidence", "honesty", "practice", "timing", "focus", "momentum", "humility", "stubbornness", "care",
    "imagination", "memory", "energy", "trust", "routine", "courage", "restraint", "generosity",
)
_QUANT = ("most", "many", "the best", "young", "experienced", "careful", "ambitious", "ordinary", "good", "a lot of")
_CONNECT = (
    "However", "Of course", "In fact", "Even so", "Still", "On the other hand", "For that reason", "In practice",
    "Oddly enough", "As a result", "At first", "In the end", "Usually", "Sometimes", "Strangely", "Meanwhile",
    "Above all", "To be fair", "Put simply", "In my experience",
)
_HEDGE = ("I think", "I suspect", "It seems to me that", "My guess is that", "I have come to believe that", "Clearly,", "Perhaps")
_MANNER = (
    "without noticing", "on purpose", "with surprising care", "almost by accident", "far too quickly",
    "more slowly than they should", "with great enthusiasm", "out of habit", "in small steps", "all at once",
)
_WHEN = (
    "for years", "at first", "after a while", "in the long run", "every few months", "sooner or later",
    "over time", "once in a while", "in the early days", "near the end",
)
_EVAL = (
    "harder than it looks", "more common than people admit", "less mysterious than it seems",
    "easier to start than to finish", "more interesting than it sounds", "slower than anyone expects",
    "worth doing badly at first", "mostly a matter of practice", "rarely what beginners imagine",
)
_ADJ = ("strange", "surprising", "useful", "obvious", "subtle", "underrated", "dangerous", "hopeful", "quiet", "odd")
_FEEL = ("strange", "exciting", "awkward", "satisfying", "tiring", "wonderful", "frightening", "calm")
_RESULT = ("disappointing", "mixed", "hard to measure", "worse than expected", "surprisingly good", "better than nothing")
_DURATION = ("years", "a few months", "longer than anyone expects", "a decade", "a whole season", "most of a lifetime")
_LIFE = ("a student", "younger", "just starting out", "a child", "new to the city", "between jobs")

_OPENERS = (
    "Consider {topic} {Pl}.",
    "Think about what happens when {P} start {A}.",
    "Let me explain what I mean by looking at {P} {Pl}.",
    "{Topic} is a good example of {N} at work.",
    "Take {P} {A}, for instance.",
    "Something similar is true of {P} and their {T}.",
    "I learned a lot about {N} from {topic}.",
    "Here is another case: {P} who spend their days {A}.",
)
_FRAMES = (
    "{C}, {Q} {P} {V} {T} {M}.",
    "{H} {A} is {E}.",
    "The {J} thing about {A} is that it rewards {N} more than {N2}.",
    "{Qc} {P} who {V} {T} tend to {V2} {T2} as well.",
    "If you {V} {T} {M}, sooner or later you will {V2} {T2} too.",
    "Why do so many {P} {V} {T}?",
    "Part of the answer is {N}, and part of it is simply {N2}.",
    "When I was {L}, I {Vd} {T} {Pl}, and I still remember how {F} it felt.",
    "Nobody {Vs} {T} on purpose; it happens {W} while {P} are busy {A}.",
    "What matters in {topic} is not {N} but {N2}.",
    "{C}, {A} and {A2} have more in common than {P} usually admit.",
    "It takes {D} to {V} {T} well, and most {P} give up long before that.",
    "I used to think {topic} was about {N}, but now I think it is mostly about {N2}.",
    "{Pc} who ignore {T} usually regret it {W}.",
    "There is a kind of {N} that only comes from {A}.",
    "{C}, the {P} I admire most {V} {T} {M}.",
    "You can tell a lot about {P} from the way they {V} {T}.",
    "{Ac} looks easy from the outside, which is exactly why {P} underestimate it.",
    "Most advice about {topic} is wrong, or at least too general to help {P}.",
    "The problem is that {T} rarely behave the way {P} expect.",
    "{C}, it is worth asking what {P} actually want from {T}.",
    "A good rule is to {V} {T} before you {V2} {T2}.",
    "{H} the real work of {topic} happens {Pl}.",
    "{W2}, {N} turns into {N2}, and that is when {A} starts to feel natural.",
    "{C}, that is not a small thing for {P}.",
    "Few {P} say this out loud, but {A} is where most of the value comes from.",
    "{Pc} often {V} {T} {W} and then wonder why nothing changes.",
    "{C}, {A} is less about {N} than about {N2}.",
    "It is tempting to {V} {T} {M}, but the results are usually {R}.",
    "The {P} who are best at {A} tend to be the ones who enjoy it most.",
    "I have seen this happen to {Q} {P} more times than I can count.",
    "{Ac} teaches {N} in a way that no book about {topic} can.",
    "{C}, {P} and {P2} rarely agree about {T}.",
    "Ask {Q} {P} what they think about {A}, and you will hear a dozen different answers.",
    "{Ac} is one of those things that sounds {J} until you try it yourself.",
    "{Ac} is like {A_other}: the first attempts are clumsy, and the later ones look effortless.",
    "So the lesson is simple: {V} {T}, and do not {V2} {T2} {M}.",
    "None of this is {J}, but {P} forget it {W}.",
    "In the end, {topic} comes down to {N} and a little {N2}.",
    "{Pc} {Vd} {T} {Pl} long before anyone wrote about it.",
)


def _choose(sl: "_Slots", slot: str, options: Sequence[str], second: bool) -> str:
    """Draw a filler; a second slot of the same kind (A2 after A) avoids repeating the first."""
    if second and len(options) > 1:
        first = sl.last.get(slot)
        value = sl.rng.choice(options)
        while value == first:
            value = sl.rng.choice(options)
    else:
        value = sl.rng.choice(options)
        sl.last[slot] = value
    return value


def _pick(field: str, cap: bool = False, second: bool = False):
    def fill(sl: "_Slots") -> str:
        value = _choose(sl, field, sl.topic[field], second)
        return value.capitalize() if cap else value

    return fill


def _word(words: tuple, cap: bool = False, second: bool = False):
    def fill(sl: "_Slots") -> str:
        value = _choose(sl, str(id(words)), words, second)
        return value.capitalize() if cap else value

    return fill


def _verb(form: int, second: bool = False):
    def fill(sl: "_Slots") -> str:
        return _choose(sl, "verb", _VERBS, second)[form]

    return fill


# Slot name -> filler drawn from the paragraph's topic or the shared vocabulary.
_SLOT_FILLERS = {
    "topic": _pick("name"), "Topic": _pick("name", True),
    "P": _pick("people"), "P2": _pick("people", second=True), "Pc": _pick("people", True),
    "T": _pick("things"), "T2": _pick("things", second=True),
    "A": _pick("acts"), "A2": _pick("acts", second=True), "Ac": _pick("acts", True),
    "A_other": lambda sl: sl.rng.choice(sl.other["acts"]),
    "Pl": _pick("places"),
    "V": _verb(0), "V2": _verb(0, second=True), "Vs": _verb(1), "Vd": _verb(2),
    "N": _word(_ABSTRACT), "N2": _word(_ABSTRACT, second=True),
    "Q": _word(_QUANT), "Qc": _word(_QUANT, True),
    "C": _word(_CONNECT), "H": _word(_HEDGE), "M": _word(_MANNER),
    "W": _word(_WHEN), "W2": _word(_WHEN, True), "E": _word(_EVAL),
    "J": _word(_ADJ), "F": _word(_FEEL), "R": _word(_RESULT), "D": _word(_DURATION), "L": _word(_LIFE),
}


class _Slots(dict):
    """format_map mapping that draws a fresh random filler each time a slot is asked for."""

    def __init__(self, rng: random.Random, topic: dict, other: dict):
        super().__init__()
        self.rng, self.topic, self.other = rng, topic, other
        self.last: dict[str, object] = {}

    def __missing__(self, key: str) -> str:
        return _SLOT_FILLERS[key](self)


def essay_sentences(seed: int) -> Iterator[str]:
    """An endless, deterministic stream of essay units (sentences with their leading separator).

    Paragraphs of 4-9 sentences on one topic; a topic-introducing opener starts each paragraph,
    which is separated from the previous one by a blank line. No digits appear, so a needle's
    number can never occur in the haystack by accident."""
    rng = random.Random(derive_seed("essay", seed))
    first = True
    while True:
        topic, other = rng.sample(_TOPICS, 2)
        slots = _Slots(rng, topic, other)
        sentences = [rng.choice(_OPENERS).format_map(slots)]
        # Frames without replacement: no paragraph says the same kind of thing twice.
        sentences += [frame.format_map(slots) for frame in rng.sample(_FRAMES, rng.randint(3, 8))]
        for k, s in enumerate(sentences):
            s = s[0].upper() + s[1:]
            yield (" " if first or k else "\n\n") + s
            first = False


# The essay pool: at least this many sentences (about 200k tokens of English BPE), so every length
# up to RULER's 128k draws its windows from the same pool whatever other lengths are generated.
ESSAY_MIN_UNITS = 12288
_ESSAY_CHUNK = 2048


def essay_haystack(counter: TokenCounter, seed: int, min_tokens: int = 0) -> Haystack:
    """Essay prose from `seed`, at least ESSAY_MIN_UNITS sentences and `min_tokens` tokens."""
    stream = essay_sentences(seed)
    units: list[str] = []
    counts: list[int] = []
    stripped: list[int] = []
    while len(units) < ESSAY_MIN_UNITS or sum(counts) < min_tokens:
        chunk = [next(stream) for _ in range(_ESSAY_CHUNK)]
        c, s = count_units(chunk, counter)
        units += chunk
        counts += c
        stripped += s
    return Haystack("essay", units, counts, stripped)


# --- the user's text ----------------------------------------------------------------------------

# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket), then whitespace,
# then what can start a sentence; a split right after a common abbreviation is undone.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+(?=[A-Z0-9\"'\u201c\u2018(\[])")
# Titles, initials, roman numerals and the references of older and scientific books ("Fig. 3",
# "Prop. II", "Obs. 5"): a split after one of these is undone.
_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:Mr|Mrs|Ms|Messrs|Dr|Prof|Rev|Hon|Capt|Col|Gen|Lt|Lieut|Sergt|Maj|Gov|Esq|St|Sr|Jr|Mt|No|Nos|vs|etc|viz|cf|ibid|"
    r"e\.g|i\.e|Fig|Figs|Obs|Prop|Props|Sect|Ch|Chap|Vol|Vols|Art|Qu|Degr|Deg|deg|pp|[A-Z]|[IVXL]{2,5})\.$"
)
_PARAGRAPH = re.compile(r"\n\s*\n")
# Very long "sentences" (text without punctuation) are cut so windows stay finely sized.
_MAX_WORDS = 60


def split_sentences(text: str, max_words: int | None = _MAX_WORDS) -> list[list[str]]:
    """Paragraphs of sentences: blank lines separate paragraphs; whitespace is normalised.
    Sentences longer than `max_words` are cut (None keeps them whole: SORT needs true sentence starts)."""
    paragraphs = []
    for para in _PARAGRAPH.split(text):
        para = " ".join(para.split())
        if not para:
            continue
        merged: list[str] = []
        for s in _SENTENCE_END.split(para):
            if merged and _ABBREVIATION.search(merged[-1]):
                merged[-1] += " " + s
            else:
                merged.append(s)
        sentences = []
        for s in merged:
            words = s.split()
            step = max_words or len(words)
            sentences += [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        if sentences:
            paragraphs.append(sentences)
    return paragraphs


def text_files(path: Path) -> list[Path]:
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise UserError(f"no .txt files in haystack directory {path}")
        return files
    raise UserError(f"haystack text not found: {path}")


def text_haystack(counter: TokenCounter, paths: Sequence[Path] | Path) -> Haystack:
    """The user's text files (in sorted order) as a pool of sentences."""
    files = text_files(paths) if isinstance(paths, (str, Path)) else [f for p in paths for f in text_files(p)]
    units: list[str] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise UserError(f"cannot read haystack text {f}: {e}") from None
        for para in split_sentences(text):
            units += [(" " if (k or not units) else "\n\n") + s for k, s in enumerate(para)]
    if not units:
        raise UserError(f"haystack text has no sentences: {', '.join(map(str, files))}")
    # Named by file or directory name only: episode meta should not carry the user's local paths.
    name = Path(paths).name if isinstance(paths, (str, Path)) else ",".join(Path(p).name for p in paths)
    return Haystack.from_units(f"text:{name}", units, counter)


def load_haystack(source: str, counter: TokenCounter, seed: int, min_tokens: int = 0) -> Haystack:
    """`noise`, `essay` or a path to the user's text."""
    if source == "noise":
        return noise_haystack(counter)
    if source == "essay":
        return essay_haystack(counter, seed, min_tokens)
    return text_haystack(counter, Path(source))
