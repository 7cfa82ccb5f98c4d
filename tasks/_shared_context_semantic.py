"""Semantic retrieval in the shared_context family (SCBench's repoqa and En.QA): code_retrieval and doc_qa.

code_retrieval stands for SCBench's repoqa (itself evalplus RepoQA): a body of real code is the context,
and each turn describes one function in words and asks the model to repeat it exactly in a fenced block,
scored by BLEU >= 0.8 against the context's candidate functions (metric scbench_repoqa). SCBench's repos
are GitHub projects; ours is the Python standard library's own source, which every Python installation
ships, so nothing is downloaded. Files come from a fixed list (tasks/templates/shared_context.toml) of
modules present in CPython 3.11 to 3.13, in an order drawn from the seed; whole files fill the budget and
an excerpt of a further file, starting at a top-level statement, tops it up (at small budgets the
excerpt is all there is, so it is drawn among those that hold functions to ask). A turn's target is a
top-level function or a method, 5 to 60 lines and at least 16 words long (shorter ones fail BLEU 0.8 on
the oracle's answer), with a docstring, whose name is defined only once in the context; its description
is the docstring's first sentence and its parameter names, never its name, and fits no other function.
The source is that of the running Python, so the data depends on its minor version (a patch release
that edits a chosen file changes it too): each episode's meta records the version, the files and a
sha256 of the code, and a dataset's content hash differs between Python versions.

doc_qa stands for SCBench's En.QA (several questions over one book): the document is a generated
gazetteer of an invented country, a paragraph per town, person or organisation, each fact stated in one
sentence only; each turn asks about a fact of a different paragraph and is scored by SCBench's qa rule
(metric scbench_contains: the answer, upper-cased, appears in the output). The random baseline's pool
is every value of the same type stated in the document. The word banks, sentences and questions are
data (the [doc_qa] tables); this code only draws and fills.

Both fill the budget from units counted once each with `count_batch` (a file, a line, a sentence); the
assembled context is then counted whole a few times at most, to correct for merges at the seams. Their
sources are finite: about 1.2M tokens of code and 280k tokens of gazetteer (approx tokenizer); a longer
context is a one-line error.
"""

from __future__ import annotations

import ast
import bisect
import functools
import hashlib
import itertools
import re
import string
import sys
import sysconfig
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any, Callable

from longbench_suite import io
from longbench_suite.errors import UserError
from longbench_suite.tokens import TokenCounter

from .shared_context import Budget, Query, Shared

CONTENT = Path(__file__).parent / "templates" / "shared_context.toml"

REPOQA_MAX_NEW_TOKENS = 1024  # SCBench's for repoqa; a short function gets max(128, twice its tokens)
QA_MAX_NEW_TOKENS = 40  # SCBench's for qa_eng
FUNCTION_LINES = (5, 60)  # a target function's length in lines, inclusive
SUMMARY_WORDS = (3, 40)  # a usable docstring sentence, in words
# A target's least whitespace-separated tokens: below ~12 the oracle's answer (the source, then ", NAME")
# falls under BLEU 0.8 against the source alone.
FUNCTION_WORDS = 16
EXCERPT_TRIES = 8  # files tried for the excerpt that ends the context, when it must hold the functions
CORRECTIONS = 4  # whole counts of the context allowed to correct the sum of unit counts


@functools.cache
def _content(table: str) -> dict[str, Any]:
    data = io.read_toml(CONTENT, "shared_context templates")
    if table not in data:
        raise UserError(f"{CONTENT} lacks the [{table}] table")
    return data[table]


# --- filling a budget from counted units ---------------------------------------------------------------


@dataclass
class Units:
    """Texts in order, each with the separator put before it and its own token count; the first `n` of
    them render as one text."""

    seps: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def add(self, sep: str, text: str, count: int) -> None:
        self.seps.append(sep)
        self.texts.append(text)
        self.counts.append(count)

    def render(self, n: int) -> str:
        return "".join(s + t for s, t in zip(self.seps[:n], self.texts[:n]))

    def offsets(self, n: int) -> list[int]:
        """Where each of the first n texts starts in render(n)."""
        out, at = [], 0
        for s, t in zip(self.seps[:n], self.texts[:n]):
            out.append(at + len(s))
            at += len(s) + len(t)
        return out


def fill(units: Units, budget: int, counter: TokenCounter, floor: int = 1) -> int:
    """The most units (at least `floor`) whose rendered text holds at most `budget` tokens. Starts from
    the sum of unit counts, then corrects it by the whole text's count: the gap between the two (merges
    at the seams) is measured and the unit count moved by it, a few times at most."""
    sums = list(itertools.accumulate(units.counts))
    n = max(floor, bisect.bisect_right(sums, budget))
    for _ in range(CORRECTIONS):
        offset = counter.count(units.render(n)) - sums[n - 1]
        best = max(floor, bisect.bisect_right(sums, budget - offset))
        if best == n:
            break
        n = best
    while n > floor and counter.count(units.render(n)) > budget:  # rare: the seams did not add up
        n -= 1
    return n


# --- code_retrieval ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Def:
    """A function definition of a source file (0-based lines [start, end), the def line first)."""

    name: str
    start: int
    end: int
    method: bool
    candidate: bool  # top-level or a method, of the right length, with a usable docstring sentence
    summary: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    name: str  # path relative to the stdlib folder
    lines: tuple[str, ...]
    starts: tuple[int, ...]  # first lines of the top-level statements: where an excerpt may begin
    defs: tuple[Def, ...]  # every def, nested ones included (names must be unique in a context)


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


_SENTENCE = re.compile(r"(.+?[.!?])(?=\s|$)")


def docstring_summary(node: ast.AST) -> str:
    """The first sentence of a docstring's first paragraph, on one line ("" if none is usable)."""
    doc = ast.get_docstring(node)  # type: ignore[arg-type]
    if not doc:
        return ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    m = _SENTENCE.match(para)
    sentence = m.group(1) if m else para
    return sentence if SUMMARY_WORDS[0] <= len(sentence.split()) <= SUMMARY_WORDS[1] else ""


def parameter_names(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> tuple[str, ...]:
    a = node.args
    names = [p.arg for p in a.posonlyargs + a.args]
    if method and names and names[0] in ("self", "cls"):
        names = names[1:]
    if a.vararg:
        names.append("*" + a.vararg.arg)
    names += [p.arg for p in a.kwonlyargs]
    if a.kwarg:
        names.append("**" + a.kwarg.arg)
    return tuple(names)


@functools.cache
def read_source(root: str, name: str) -> Source | None:
    """One stdlib file, split into lines as `ast` numbers them, with its defs; None if it is missing."""
    path = Path(root) / name
    try:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        tree = ast.parse(text)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    lines = tuple(text.rstrip("\n").split("\n"))
    starts = tuple(sorted({0} | {min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])]) - 1
                                 for n in tree.body}))
    asked: dict[ast.AST, bool] = {}  # the defs a turn may ask for, and whether each is a method
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            asked[node] = False
        elif isinstance(node, ast.ClassDef):
            asked.update({m: True for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))})
    defs = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        method = asked.get(node, False)
        summary = docstring_summary(node) if node in asked else ""
        if node.name.lower() in summary.lower():  # a description must not name its function
            summary = ""
        start, end = node.lineno - 1, int(node.end_lineno or node.lineno)
        candidate = (bool(summary) and FUNCTION_LINES[0] <= end - start <= FUNCTION_LINES[1]
                     and len(" ".join(lines[start:end]).split()) >= FUNCTION_WORDS)
        defs.append(Def(node.name, start, end, method, candidate, summary, parameter_names(node, method)))
    defs.sort(key=lambda d: (d.start, d.name))
    return Source(name, lines, starts, tuple(defs))


def stdlib_files(root: Path) -> list[str]:
    """The listed files that this Python has, sorted; a one-line error if it has none of them."""
    found = [n for n in sorted(_content("code_retrieval")["files"]) if (root / n).is_file()]
    if not found:
        raise UserError(f"code_retrieval needs the Python standard library's source, and {root} has none of "
                        "it (some distributions strip it): install the full standard library of this Python")
    return found


@dataclass
class Piece:
    """A file, or the excerpt of it that ends the context: its lines [lo, hi)."""

    source: Source
    lo: int
    hi: int


@functools.cache
def describe(d: Def) -> str:
    t = _content("code_retrieval")
    params = t["params"].format(args=", ".join(d.params)) if d.params else t["no_params"]
    return t["description"].format(kind=t["kinds"]["method" if d.method else "function"], summary=d.summary,
                                   params=params)


def function_source(piece: Piece, d: Def) -> str:
    return "\n".join(piece.source.lines[d.start:d.end])


def code_retrieval(rng: Random, budget: Budget, turns: int, root: Path | None = None) -> Shared:
    t = _content("code_retrieval")
    counter = budget.counter
    root = root or stdlib_root()
    names = stdlib_files(root)
    rng.shuffle(names)
    sources = (s for s in (read_source(str(root), n) for n in names) if s)  # read as needed
    units = Units()
    units.add("", t["instruction"], counter.count(t["instruction"]))
    pieces: list[Piece] = []
    spans: list[tuple[int, int, int] | None] = [None]  # each unit's (piece, lines lo, hi); None: no code
    used = units.counts[0]
    # Whole files while they fit; then the excerpt that ends the context, from the first of a few files
    # that can hold the functions still wanted (or the one that holds most).
    wanted = turns
    tried: list[tuple[Source, int, list[int], list[tuple[int, int, int]]]] = []
    for source in sources:
        header = t["header"].format(name=source.name)
        n_header, n_text = counter.count_batch([header, "\n".join(source.lines)])
        if not tried and used + n_header + n_text <= budget.tokens:
            units.add("\n\n", header, n_header)
            units.add("\n", "\n".join(source.lines), n_text)
            spans += [None, (len(pieces), 0, len(source.lines))]
            pieces.append(Piece(source, 0, len(source.lines)))
            used += n_header + n_text
            wanted -= askable(source.defs, 0, len(source.lines))
            continue
        counts = counter.count_batch(list(source.lines))
        tried.append((source, n_header, counts, windows(source, n_header, counts, budget.tokens - used)))
        if len(tried) == EXCERPT_TRIES or max(w[2] for w in tried[-1][3]) >= wanted:
            break
    if not tried:
        raise UserError(f"code_retrieval's files hold {used} tokens, fewer than the {budget.tokens} asked: "
                        "ask for a shorter length")
    if wanted == turns and max(max(w[2] for w in f[3]) for f in tried) == 0 and pieces:
        # Nothing to ask: the whole files have nothing askable and leave too little room for an excerpt
        # that has. Start again with the excerpt alone, from any of the files seen.
        seen = [p.source for p in pieces] + [f[0] for f in tried]
        del units.seps[1:], units.texts[1:], units.counts[1:], spans[1:], pieces[:]
        used = units.counts[0]
        tried = []
        for source in seen:
            n_header = counter.count(t["header"].format(name=source.name))
            counts = counter.count_batch(list(source.lines))
            tried.append((source, n_header, counts, windows(source, n_header, counts, budget.tokens - used)))
    best = [max(w[2] for w in f[3]) for f in tried]
    source, n_header, counts, excerpts = tried[best.index(max(best))]
    target = min(max(wanted, 0), max(best))
    lo, hi, _ = rng.choice([w for w in excerpts if w[2] >= target])
    units.add("\n\n", t["header"].format(name=source.name), n_header)
    spans.append(None)
    for i in range(lo, hi):
        units.add("\n", source.lines[i], counts[i])
        spans.append((len(pieces), i, i + 1))
    pieces.append(Piece(source, lo, hi))
    n = fill(units, budget.tokens, counter)
    while n > 1 and spans[n - 1] is None:  # never end on a file's header
        n -= 1
    kept: dict[int, Piece] = {}
    for span in spans[:n]:
        if span is not None:
            i, lo, hi = span
            piece = kept.setdefault(i, Piece(pieces[i].source, lo, hi))
            piece.hi = hi
    pieces = list(kept.values())
    context = units.render(n)
    queries = code_queries(rng, pieces, context, turns, counter)
    code = context[len(t["instruction"]):]
    meta = {"python": python_version(), "files": [p.source.name for p in pieces],
            "lines": [[p.lo + 1, p.hi] for p in pieces], "sha256": hashlib.sha256(code.encode()).hexdigest()}
    return Shared(context=context, queries=queries, meta=meta)


def windows(source: Source, n_header: int, counts: list[int], room: int) -> list[tuple[int, int, int]]:
    """The excerpts of a file (under its header) that fill `room` tokens, one per top-level statement it
    may start at, as (first line, end line, functions it could ask). Each is cut by the budget, not by
    the end of the file; only the one from the file's first line may be shorter."""
    room = max(0, room - n_header)
    sums = [0, *itertools.accumulate(counts)]
    out = []
    for lo in source.starts:
        hi = bisect.bisect_right(sums, sums[lo] + room) - 1
        if hi < len(counts) or lo == 0:
            out.append((lo, hi, askable(source.defs, lo, hi)))
    return out


def askable(defs: tuple[Def, ...], lo: int, hi: int) -> int:
    """How many functions of lines [lo, hi) of one file a turn could ask (as code_queries chooses them)."""
    inside = [d for d in defs if lo <= d.start < hi]
    names = Counter(d.name for d in inside)
    described = Counter(describe(d) for d in inside if d.summary)
    return sum(1 for d in inside if d.candidate and d.end <= hi and names[d.name] == 1 and described[describe(d)] == 1)


def code_queries(rng: Random, pieces: list[Piece], context: str, turns: int, counter: TokenCounter) -> list[Query]:
    """Up to `turns` functions of the context, each defined once, complete, with a description of its own
    that does not name it; in an order drawn from `rng`."""
    t = _content("code_retrieval")
    inside = [(p, d) for p in pieces for d in p.source.defs if p.lo <= d.start < p.hi]
    names = Counter(d.name for _, d in inside)
    complete = [(p, d) for p, d in inside if d.candidate and d.end <= p.hi and names[d.name] == 1]
    described = {(p.source.name, d.start): describe(d) for p, d in inside if d.summary}
    repeats = Counter(described.values())  # a description that fits two functions asks for neither
    pool = [(p, d) for p, d in complete
            if repeats[described[(p.source.name, d.start)]] == 1
            and d.name.lower() not in described[(p.source.name, d.start)].lower()]
    rng.shuffle(pool)
    chosen: list[tuple[Piece, Def, str]] = []
    for p, d in pool:
        if len(chosen) == turns:
            break
        source = function_source(p, d)
        if context.count(source) == 1:
            chosen.append((p, d, source))
    if not chosen:
        return []
    candidates = [[d.name, source] for _, d, source in chosen]
    sizes = counter.count_batch([source for _, _, source in chosen])
    queries = []
    for (p, d, source), size in zip(chosen, sizes):
        kind = t["kinds"]["method" if d.method else "function"]
        queries.append(Query(
            question=t["question"].format(description=describe(d), kind=kind),
            gold=[source, d.name], metric="scbench_repoqa", reference=t["reference"].format(source=source),
            max_new_tokens=min(REPOQA_MAX_NEW_TOKENS, max(128, 2 * size)),
            choices=[c[1] for c in candidates],
            meta={"name": d.name, "file": p.source.name, "candidates": candidates},
        ))
    return queries


# --- doc_qa ----------------------------------------------------------------------------------------


class Names:
    """New names of one table, in an order drawn once: never one already used, nor one that is part of
    another (upper-cased, as the qa metric compares)."""

    def __init__(self, rng: Random, table: dict[str, Any]):
        combos = list(itertools.product(*table["parts"]))
        rng.shuffle(combos)
        self._next = iter(combos)
        self._join = table["join"]
        self._used: set[str] = set()
        self._parts: set[str] = set()  # every substring of every used name

    def draw(self) -> str | None:
        for combo in self._next:
            name = self._join.join(combo)
            up = name.upper()
            parts = {up[i:j] for i in range(len(up)) for j in range(i + 1, len(up) + 1)}
            if up in self._parts or not parts.isdisjoint(self._used):
                continue
            self._used.add(up)
            self._parts |= parts
            return name
        return None  # the table is used up


@dataclass
class Paragraph:
    kind: str
    name: str
    sentences: list[tuple[str, tuple[str, ...]]]  # text, the fields it states
    values: dict[str, str]


_FORMATTER = string.Formatter()


def fields_of(template: str) -> tuple[str, ...]:
    return tuple(f for _, f, _, _ in _FORMATTER.parse(template) if f and f != "name")


class Gazetteer:
    """Draws the document's paragraphs one at a time."""

    def __init__(self, rng: Random):
        self.rng = rng
        self.t = _content("doc_qa")
        self.kinds = self.t["kinds"]
        self.names: dict[str, Names] = {}
        self.subjects: dict[str, list[str]] = {}  # names table -> the subjects introduced so far
        self.exhausted = False

    def name(self, table: str) -> str | None:
        if table not in self.names:
            self.names[table] = Names(self.rng, self.t["names"][table])
        return self.names[table].draw()

    def value(self, kind: str) -> str | None:
        if kind.startswith("@"):
            return self.rng.choice(self.subjects[kind[1:]])
        if kind in self.t["ranges"]:
            lo, hi = self.t["ranges"][kind]
            return str(self.rng.randint(lo, hi))
        if kind in self.t["banks"]:
            return self.rng.choice(self.t["banks"][kind])
        return self.name(kind)

    def paragraph(self) -> Paragraph | None:
        kinds = list(self.kinds)
        kind = self.rng.choices(kinds, weights=[self.kinds[k]["weight"] for k in kinds])[0]
        fields = self.kinds[kind]["fields"].values()
        missing = [f[1:] for f in fields if f.startswith("@") and not self.subjects.get(f[1:])]
        if missing:  # refers to subjects not yet introduced: introduce one first
            kind = next(k for k in kinds if self.kinds[k]["subject"] == missing[0])
        spec = self.kinds[kind]
        subject = self.name(spec["subject"])
        values = {f: self.value(k) for f, k in spec["fields"].items()}
        if subject is None or None in values.values():
            self.exhausted = True
            return None
        self.subjects.setdefault(spec["subject"], []).append(subject)
        sentences = []
        for variants in spec["sentences"]:
            template = self.rng.choice(variants)
            sentences.append((template.format(name=subject, **values), fields_of(template)))
        return Paragraph(kind, subject, sentences, values)  # type: ignore[arg-type]


def doc_qa(rng: Random, budget: Budget, turns: int) -> Shared:
    t = _content("doc_qa")
    counter = budget.counter
    gazetteer = Gazetteer(rng)
    units = Units()
    units.add("", t["instruction"], counter.count(t["instruction"]))
    where: list[tuple[int, int]] = [(-1, -1)]  # (paragraph, sentence) of each unit
    paragraphs: list[Paragraph] = []
    total = units.counts[0]
    margin = budget.tokens + max(64, budget.tokens // 20)  # a little more than fits: fill() may take more
    while total <= margin:
        batch = [p for p in (gazetteer.paragraph() for _ in range(32)) if p]
        if not batch:
            break
        counts = iter(counter.count_batch([s for p in batch for s, _ in p.sentences]))
        for p in batch:
            for j, (text, _) in enumerate(p.sentences):
                units.add(" " if j else "\n\n", text, next(counts))
                where.append((len(paragraphs), j))
                total += units.counts[-1]
            paragraphs.append(p)
    if total <= budget.tokens and gazetteer.exhausted:
        raise UserError(f"doc_qa's word banks fill only {total} tokens, fewer than the {budget.tokens} asked: "
                        "ask for a shorter length")
    n = fill(units, budget.tokens, counter)
    context = units.render(n)
    offsets = units.offsets(n)
    stated: dict[int, dict[str, int]] = {}  # paragraph -> field -> unit stating it
    for u in range(1, n):
        i, j = where[u]
        for f in paragraphs[i].sentences[j][1]:
            stated.setdefault(i, {})[f] = u
    return Shared(context=context, queries=qa_queries(rng, paragraphs, stated, units, offsets, len(context), turns),
                  meta={"paragraphs": len(stated)})


def answer_type(kind: str, field_name: str) -> str:
    return _content("doc_qa")["kinds"][kind]["fields"][field_name].lstrip("@")


def qa_queries(rng: Random, paragraphs: list[Paragraph], stated: dict[int, dict[str, int]], units: Units,
               offsets: list[int], length: int, turns: int) -> list[Query]:  # fmt: skip
    """One fact from each of up to `turns` paragraphs drawn from `rng`; the choices are every value of the
    fact's type stated in the document."""
    t = _content("doc_qa")
    by_type: dict[str, list[str]] = {}
    for i, fields in stated.items():
        for f in fields:
            values = by_type.setdefault(answer_type(paragraphs[i].kind, f), [])
            if paragraphs[i].values[f] not in values:
                values.append(paragraphs[i].values[f])
    order = sorted(stated)
    rng.shuffle(order)
    queries = []
    for i in order:
        if len(queries) == turns:
            break
        p = paragraphs[i]
        fields = sorted(stated[i])
        rng.shuffle(fields)
        for f in fields:
            ask = t["kinds"][p.kind]["questions"][f].format(name=p.name)
            gold = p.values[f]
            if gold.upper() in ask.upper():
                continue
            unit = stated[i][f]
            queries.append(Query(
                question=t["question"].format(ask=ask), gold=[gold], metric="scbench_contains", reference=gold,
                max_new_tokens=QA_MAX_NEW_TOKENS, choices=list(by_type[answer_type(p.kind, f)]),
                meta={"depth": round(100 * offsets[unit] / length, 1), "fact": units.texts[unit],
                      "field": f, "kind": p.kind},
            ))
            break
    return queries


GENERATORS: dict[str, Callable[[Random, Budget, int], Shared]] = {
    "code_retrieval": code_retrieval,
    "doc_qa": doc_qa,
}
