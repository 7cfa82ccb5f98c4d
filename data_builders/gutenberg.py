"""The running prose of a book: Project Gutenberg (or any plain-text) files cleaned as Book-SORT does.

Book-SORT (Pink et al., "Assessing Episodic Memory in LLMs with Sequence Order Recall Tasks") cuts its
excerpts from Project Gutenberg books after removing the Gutenberg header and footer (license
boilerplate), the front matter and the chapter headings, so an excerpt is only the book's prose.
`clean_book` does that cleaning, in this order:

1. normalise (UTF-8 BOM, \\r\\n); cut the header (through the START marker) and the footer (from the
   END marker on); a text without markers is taken whole;
2. split into paragraphs at blank lines; separator lines ("* * *", "------") and "[Illustration]"
   lines count as breaks; a bracketed note that runs over several paragraphs ("[Illustration:", a
   drawing in text characters, "]") is dropped whole; a heading line that opens a paragraph
   ("CHAPTER I" right above the first prose line) is split off into a paragraph of its own;
3. classify each paragraph: chapter heading, label (CONTENTS, PREFACE, COMMENTARY, ...), "THE END",
   back-matter label (FOOTNOTES, Transcriber's Notes, ...), other non-prose (an all-caps line, an
   [Illustration: ...] or "Produced by" note, a drawing or table ruled with | + - =, a chapter title
   under a heading), or prose;
4. front matter: drop everything before the first chapter heading that opens a chapter (some 40 words
   of prose follow it within a few paragraphs, so it is not an entry of a contents list; a chapter
   may open with short lines of dialogue); a long run of prose right above that heading with no
   heading of its own is an unnamed prologue and stays (The Trumpeter of Krakow's "The Broken Note",
   which Book-SORT's chapter table counts as a chapter). A book without chapter headings loses its
   leading paragraphs up to the first real prose paragraph instead;
5. back matter: drop everything from a final "THE END" / "FINIS" / "FOOTNOTES" / "Transcriber's
   Notes" (in the second half, no chapter after it); drop every non-prose paragraph elsewhere;
6. reflow each paragraph onto one line, strip _italic_ markers, join paragraphs with one blank line.

Everything is heuristic: Gutenberg files are hand-made and follow no single layout. The rules lean to
keeping prose (a short dialogue line stays) over dropping every last heading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["CleanText", "clean_book", "is_gutenberg"]


@dataclass(frozen=True)
class CleanText:
    """A cleaned book. `text`: paragraphs separated by exactly one blank line, each on one line.
    `removed_lines`: non-blank input lines dropped (header, footer, front/back matter, headings)."""

    title: str | None
    text: str
    removed_lines: int
    ebook_id: int | None = None  # the Gutenberg number from the header ("[eBook #72578]")


# --- Gutenberg markers ---------------------------------------------------------------------------

# The line ending the header: the modern "*** START OF THE PROJECT GUTENBERG EBOOK <TITLE> ***", the
# older "THIS ... EBOOK" / "ETEXT" forms (stars with or without spaces), and the 1990s small print's
# "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*".
_START_RE = re.compile(
    r"^[ \t]*(?:"
    r"\*+[ \t]*START[ \t]+OF[ \t]+(?:THE|THIS)[ \t]+PROJECT[ \t]+GUTENBERG[ \t]+E-?(?:BOOK|TEXT)\b"
    r"(?P<title>[^\n]*?)[ \t*]*"
    r"|\*+[ \t]*END[ \t*]*THE[ \t]+SMALL[ \t]+PRINT\b[^\n]*"
    r")$",
    re.IGNORECASE | re.MULTILINE,
)

# The line starting the footer: "*** END OF THE PROJECT GUTENBERG EBOOK ...", "End of the Project
# Gutenberg EBook of ...", "End of Project Gutenberg's ...", "End of this Project Gutenberg Etext".
_END_RE = re.compile(
    r"^[ \t]*\**[ \t]*END[ \t]+OF[ \t]+(?:THE[ \t]+|THIS[ \t]+)?PROJECT[ \t]+GUTENBERG",
    re.IGNORECASE | re.MULTILINE,
)

# The e-book's number in the header: "Release date: ... [eBook #72578]", "[EBook #1342]", "EText #84".
_EBOOK_ID_RE = re.compile(r"\be-?(?:book|text)\s*#\s*(\d+)", re.IGNORECASE)

# "Title: ..." in the header; long titles continue on indented lines.
_TITLE_RE = re.compile(r"^Title:[ \t]*(?P<title>[^\n]*(?:\n[ \t]+\S[^\n]*)*)", re.MULTILINE)

# Older headers name the book only in their first line: "The Project Gutenberg EBook of X, by Y" or
# "Project Gutenberg's X, by Y".
_OLD_TITLE_RE = re.compile(
    r"^[ \t*]*(?:The[ \t]+)?Project[ \t]+Gutenberg(?:'s|’s)?[ \t]+(?:E-?(?:Book|Text)[ \t]+of[ \t]+)?"
    r"(?P<title>[^\n]+?)(?:,[ \t]+by[ \t][^\n]*)?[ \t*]*$",
    re.IGNORECASE | re.MULTILINE,
)

# --- paragraph kinds -----------------------------------------------------------------------------

# A heading is one short line (Book-SORT's excerpts must not contain them, whatever their form).
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 12
# A chapter title under a heading is shorter still.
_MAX_TITLE_CHARS = 70
_MAX_TITLE_WORDS = 10

_ROMAN = r"(?=[IVXLCDM])M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_ORD_UNITS = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
_ORD_MORE = (
    "tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth"
    "|nineteenth|twentieth|thirtieth|fortieth|fiftieth|last|final"
)
_NUMBER_WORD = (
    rf"(?:the\s+)?(?:(?:{_TENS})(?:[-\s](?:{_UNITS}|{_ORD_UNITS}))?|{_TEENS}|{_UNITS}|{_ORD_UNITS}"
    rf"|{_ORD_MORE}|hundred)"
)
# Roman numerals only in capitals: lower-case they are words ("mix", "did", "civil").
_NUMBER = rf"(?:\d+|(?-i:{_ROMAN})|{_NUMBER_WORD})"

# "CHAPTER I.", "Chapter 3: The Storm", "BOOK ONE", "PART THE FIRST", "Letter 4", "PROLOGUE", with an
# optional title after; `rest` is checked separately so "Part of it ..." and "Book two was ..." stay.
_CHAPTER_RE = re.compile(
    r"^(?:(?:chapter|chap\.|book|part|section|sect\.|volume|vol\.|canto|stave|letter|episode)"
    rf"\s+(?:no\.\s*)?{_NUMBER}\b(?P<dot>\.)?|(?:prologue|epilogue)\b)(?P<rest>.*)$",
    re.IGNORECASE,
)
# A lone number as a heading: "IV.", "XII", "12."
_LONE_NUMBER_RE = re.compile(rf"^(?:{_ROMAN}|\d{{1,3}})\.?$")
# A numbered title: "IV. THE STORM", "3. The Return" (the rest must look like a title).
_NUMBERED_TITLE_RE = re.compile(rf"^(?:{_ROMAN}|\d{{1,3}})[.:]\s+(?P<rest>.+)$")
# Punctuation that separates a heading's number from its title: "CHAPTER I.—THE STORM".
_TITLE_SEPARATORS = ".:;-—–(["

# Separator lines: "* * *", "*****", "------", ". . . .", "=====": scene breaks, not text.
_SEPARATOR_RE = re.compile(r"^(?:[*\-_=~#.•·—–+|]\s*){3,}$")
# An illustration on its own line is a picture, not text.
_ILLUSTRATION_LINE_RE = re.compile(r"^\[(?:illustration|frontispiece)\b[^\]]*\]$", re.IGNORECASE)
# Bracketed editorial paragraphs: illustrations with captions, transcriber's notes, footnotes.
_BRACKET_NOTE_RE = re.compile(r"^\[(?:illustration|frontispiece|transcriber|footnote|sidenote)\b", re.IGNORECASE)
# A bracketed note left open on its line runs to its closing bracket at most this many lines on.
_MAX_NOTE_LINES = 120
# A drawing (a floor plan) or a ruled table: most of its lines carry rules and few letters.
_RULE_CHARS = frozenset("|+=_\\/‖-")
_MIN_LETTER_SHARE = 0.6
# Paragraphs by the e-text's producers, not the author.
_EDITION_NOTE_RE = re.compile(
    r"^(?:produced\s+by|e-?text\s+prepared\s+by|transcribed\s+(?:by|from)|transcriber['’]?s?\s+notes?\b)",
    re.IGNORECASE,
)
# Any mention of Project Gutenberg or its proofreaders inside the body is an edition note too.
_GUTENBERG_MENTION_RE = re.compile(
    r"project\s+gutenberg|gutenberg\.(?:org|net)|pgdp\.net|distributed\s+proofread", re.IGNORECASE
)
# Front-matter labels: a chapter heading followed by one of these is a contents entry, not a chapter.
_LABEL_RE = re.compile(
    r"^(?:(?:table\s+of\s+)?contents|list\s+of\s+(?:illustrations|plates|characters)|illustrations"
    r"|preface(?:\s+to\s+.*)?|introduction|introductory(?:\s+note)?|foreword|dedication"
    r"|acknowledge?ments?|note|author['’]s\s+(?:note|preface)|to\s+the\s+reader|synopsis|commentary"
    r"|dramatis\s+person(?:ae|æ))[.:]?$",
    re.IGNORECASE,
)
# The book's last words.
_END_MARK_RE = re.compile(r"^(?:the\s+end|finis)\b[\s.!]*$", re.IGNORECASE)
# Labels that open back matter when they come after the last chapter.
_BACK_LABEL_RE = re.compile(
    r"^(?:foot-?notes?|end-?notes|notes|appendix|index|glossary|advertisements?|transcriber['’]?s?\s+notes?)[.:]?$",
    re.IGNORECASE,
)

# Sentence-final punctuation, maybe followed by closing quotes, brackets or an italic marker.
_SENTENCE_END_RE = re.compile(r"[.!?][\"'”’)\]_]*$")
_OPEN_QUOTES = "\"'“‘«"
_CLOSE_QUOTES = "\"'”’»"
# Words a title leaves in lower case ("The Man in the Iron Mask").
_MINOR_WORDS = frozenset(
    "a an the of and or nor but in on at to for with by from into upon over under as is its".split()
)

# --- front and back matter ------------------------------------------------------------------------

# A real prose paragraph, where the book has no chapter headings (Book-SORT: about 40 words).
_MIN_PROSE_WORDS = 40
# A chapter heading opens a chapter when this many words of prose follow it within a few paragraphs
# (a chapter title, an epigraph, short lines of dialogue and a line ending in a colon may come first;
# Tom Swift's chapter I opens with a paragraph ending "asked:" and a one-line question).
_ANCHOR_MIN_WORDS = 40
_ANCHOR_LOOKAHEAD = 6
# Prose this long right above the first chapter, under no heading, is an unnamed prologue.
_PROLOGUE_MIN_WORDS = 1000
# A wrapped prose paragraph has at least one line this long (title pages and lists do not).
_WRAPPED_LINE_CHARS = 50
# Front matter longer than this share of the body means the "first heading" is not the book's start.
_FRONT_MAX_SHARE = 0.5
# Back matter is only looked for in the second half of the body.
_BACK_MIN_SHARE = 0.5

# --- reflow ---------------------------------------------------------------------------------------

_WHITESPACE_RE = re.compile(r"\s+")
# "_word_" / "_a few words_": Gutenberg's italics; the reader sees only the words.
_ITALIC_RE = re.compile(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])")

_Kind = Literal["chapter", "label", "end", "back", "drop", "prose"]


@dataclass
class _Para:
    lines: list[str]  # stripped, non-blank
    kind: _Kind


# --- public API -----------------------------------------------------------------------------------


def is_gutenberg(raw: str) -> bool:
    """True when the text has a Gutenberg START marker and an END marker after it."""
    text = _normalise(raw)
    start = _START_RE.search(text)
    return start is not None and _END_RE.search(text, start.end()) is not None


def clean_book(raw: str) -> CleanText:
    """The running prose of a book (see the module docstring for the rules)."""
    text = _normalise(raw)
    title, lo, hi = _gutenberg_span(text)
    number = _EBOOK_ID_RE.search(text[:lo]) if lo else None
    paras = _paragraphs(text[lo:hi].split("\n"))
    front = _front_matter_end(paras)
    back = front + _back_matter_start(paras[front:])
    kept = [p for p in paras[front:back] if p.kind == "prose"]
    total = sum(1 for line in text.split("\n") if line.strip())
    return CleanText(
        title=title,
        text="\n\n".join(_reflow(p.lines) for p in kept),
        removed_lines=total - sum(len(p.lines) for p in kept),
        ebook_id=int(number.group(1)) if number else None,
    )


# --- header, footer, title -------------------------------------------------------------------------


def _normalise(raw: str) -> str:
    return raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _gutenberg_span(text: str) -> tuple[str | None, int, int]:
    """(title, body start, body end). Without a START marker there is no header and no title."""
    first = _START_RE.search(text)
    end = _END_RE.search(text, first.end() if first else 0)
    hi = end.start() if end else len(text)
    if first is None:
        return None, 0, hi
    # The header ends at the last START-type marker before the footer: some files carry both a
    # modern START line and the old small print. Without a footer, an old small print at the very
    # end must not swallow the book: take the first marker then.
    last = first
    if end is not None:
        for m in _START_RE.finditer(text, first.end(), hi):
            last = m
    return _title(text[: first.start()], first), last.end(), hi


def _title(header: str, start: re.Match[str]) -> str | None:
    m = _TITLE_RE.search(header)
    candidates = [m["title"] if m else None]
    m = _OLD_TITLE_RE.search(header)
    candidates.append(m["title"] if m else None)
    candidates.append(start["title"])
    for cand in candidates:
        if cand is None:
            continue
        cand = _WHITESPACE_RE.sub(" ", cand).strip(" ,:;-*")
        if cand and not cand.isdigit():
            return cand
    return None


# --- paragraphs ------------------------------------------------------------------------------------


def _paragraphs(lines: list[str]) -> list[_Para]:
    blocks: list[list[str]] = []
    cur: list[str] = []
    skip_to = -1
    for i, raw in enumerate(lines):
        if i <= skip_to:
            continue
        line = raw.strip()
        note_end = _open_note_end(lines, i) if _BRACKET_NOTE_RE.match(line) else None
        if not line or _SEPARATOR_RE.match(line) or _ILLUSTRATION_LINE_RE.match(line) or note_end is not None:
            if cur:
                blocks.append(cur)
                cur = []
            skip_to = note_end if note_end is not None else skip_to
            continue
        cur.append(line)
    if cur:
        blocks.append(cur)
    paras = [_Para(b, _classify(b)) for block in blocks for b in _split_headings(block)]
    # A short title-like paragraph right under a chapter heading is the chapter's title.
    for prev, p in zip(paras, paras[1:]):
        if prev.kind == "chapter" and p.kind == "prose" and len(p.lines) <= 2 and all(map(_is_title_like, p.lines)):
            p.kind = "drop"
    return paras


def _open_note_end(lines: list[str], i: int) -> int | None:
    """Index of the line closing a bracketed note opened on line i and left open there (an
    illustration holding a drawing over blank lines); None when it closes on its own line or
    nowhere near (then it is an ordinary paragraph)."""
    depth = 0
    for j in range(i, min(len(lines), i + _MAX_NOTE_LINES)):
        depth += lines[j].count("[") - lines[j].count("]")
        if depth <= 0:
            return j if j > i else None
    return None


def _split_headings(lines: list[str]) -> list[list[str]]:
    """Heading lines opening a paragraph ("CHAPTER I" with no blank line under it), and up to two
    title lines under them, become paragraphs of their own; a contents list falls apart into
    one-line entries this way, which the front-matter rule then recognises as a list."""
    out: list[list[str]] = []
    titles_left = 0
    while len(lines) > 1:
        first = lines[0]
        if _is_chapter_line(first) or _LABEL_RE.match(first):
            titles_left = 2
        elif titles_left and _is_title_like(first):
            titles_left -= 1
        else:
            break
        out.append([first])
        lines = lines[1:]
    out.append(lines)
    return out


def _classify(lines: list[str]) -> _Kind:
    if len(lines) == 1:
        line = lines[0]
        if _is_chapter_line(line):
            return "chapter"
        if _END_MARK_RE.match(line):
            return "end"
        if _BACK_LABEL_RE.match(line):
            return "back"
        if _LABEL_RE.match(line):
            return "label"
        if _is_caps_line(line):
            return "drop"
    text = " ".join(lines)
    if _BRACKET_NOTE_RE.match(text) and text.endswith("]"):
        return "drop"
    if _is_drawing(lines):
        return "drop"
    if _EDITION_NOTE_RE.match(text) or _GUTENBERG_MENTION_RE.search(text):
        return "drop"
    return "prose"


def _is_drawing(lines: list[str]) -> bool:
    """A plan or ruled table in text characters: most lines carry rule characters, and letters are
    a minority of what is not a space."""
    ruled = sum(1 for line in lines if sum(c in _RULE_CHARS for c in line) >= 2)
    if 2 * ruled < len(lines):
        return False
    marks = [c for c in "".join(lines) if not c.isspace()]
    return sum(c.isalpha() for c in marks) < _MIN_LETTER_SHARE * len(marks)


def _is_short(line: str) -> bool:
    return len(line) < _MAX_HEADING_CHARS and len(line.split()) <= _MAX_HEADING_WORDS


def _is_chapter_line(line: str) -> bool:
    if not _is_short(line):
        return False
    m = _CHAPTER_RE.match(line)
    if m:
        rest = m["rest"].strip()
        # Bare heading, or a title after punctuation; without punctuation the rest must read as a
        # title ("CHAPTER I THE ARRIVAL"), else it is prose ("Book two was better ...").
        return not rest or bool(m["dot"]) or rest[0] in _TITLE_SEPARATORS or _is_title_like(rest)
    if _LONE_NUMBER_RE.match(line):
        return True
    m = _NUMBERED_TITLE_RE.match(line)
    return bool(m) and _is_title_like(m["rest"])


def _is_caps_line(line: str) -> bool:
    """An all-capitals short line: a heading, a title-page line, a label. Quoted shouting stays."""
    if not _is_short(line) or line[0] in _OPEN_QUOTES:
        return False
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _is_title_like(line: str) -> bool:
    """Short, not dialogue, not a sentence ending in ! ? or a quote, and in capitals or Title Case."""
    line = line.strip()
    words = line.split()
    if not line or len(line) >= _MAX_TITLE_CHARS or len(words) > _MAX_TITLE_WORDS:
        return False
    if line[0] in _OPEN_QUOTES or line[-1] in "!?,;" + _CLOSE_QUOTES:
        return False
    letters = [c for c in line if c.isalpha()]
    if not letters:
        return False
    if all(c.isupper() for c in letters):
        return True
    core = [w.strip("\"'“”‘’.,:;!?()[]_-—") for w in words]
    core = [w for w in core if w]
    if not core or not core[0][0].isupper():
        return False
    return all(w[0].isupper() or not w[0].isalpha() or w.lower() in _MINOR_WORDS for w in core)


def _is_prose(lines: list[str], min_words: int) -> bool:
    """Ends a sentence and is long: many words, or wrapped over lines as running text is."""
    text = " ".join(lines)
    if not _SENTENCE_END_RE.search(text):
        return False
    if len(text.split()) >= min_words:
        return True
    return len(lines) >= 2 and max(map(len, lines)) >= _WRAPPED_LINE_CHARS


def _chars(paras: list[_Para]) -> int:
    return sum(len(line) for p in paras for line in p.lines)


# --- front and back matter ------------------------------------------------------------------------


def _front_matter_end(paras: list[_Para]) -> int:
    """Index of the first paragraph of the book proper."""
    total = _chars(paras)
    for i, p in enumerate(paras):
        if p.kind == "chapter" and _opens_chapter(paras, i):
            # A first opening heading deep into the text (a lone "PART II" in a book otherwise
            # without headings) is no proof that all before it is front matter.
            if _chars(paras[:i]) <= _FRONT_MAX_SHARE * total:
                return _prologue_start(paras, i)
            break
    # No usable headings: skip title page, notes and lists up to the first real prose paragraph.
    for i, p in enumerate(paras):
        if p.kind != "prose":
            continue
        text = " ".join(p.lines)
        dialogue = text[0] in _OPEN_QUOTES and bool(_SENTENCE_END_RE.search(text))
        if dialogue or _is_prose(p.lines, _MIN_PROSE_WORDS):
            return i
    return 0  # nothing looks like prose: keep it all rather than guess


def _opens_chapter(paras: list[_Para], i: int) -> bool:
    """Prose follows heading i before any other heading or label: it is not a contents entry."""
    words = 0
    for p in paras[i + 1 : i + 1 + _ANCHOR_LOOKAHEAD]:
        if p.kind in ("chapter", "label", "end", "back"):
            return False
        if p.kind == "prose" and not _is_title_like(" ".join(p.lines)):
            words += len(" ".join(p.lines).split())
            if words >= _ANCHOR_MIN_WORDS:
                return True
    return False


def _prologue_start(paras: list[_Para], i: int) -> int:
    """Where the book starts given its first chapter heading at i: the start of the run of prose
    paragraphs right above it when that run is long (an unnamed prologue), else i."""
    start, words = i, 0
    while start > 0 and (paras[start - 1].kind == "prose" or paras[start - 1].lines[0].startswith("[")):
        start -= 1
        if paras[start].kind == "prose":
            words += len(" ".join(paras[start].lines).split())
    while start < i and paras[start].kind != "prose":
        start += 1
    return start if words >= _PROLOGUE_MIN_WORDS else i


def _back_matter_start(paras: list[_Para]) -> int:
    """Index (in paras) of the back matter: the first "THE END" / "FINIS" / "FOOTNOTES"-like label in
    the second half with no chapter heading after it; len(paras) if none."""
    last_chapter = max((i for i, p in enumerate(paras) if p.kind == "chapter"), default=-1)
    total, before = _chars(paras), 0
    for i, p in enumerate(paras):
        if p.kind in ("end", "back") and i > last_chapter and before >= _BACK_MIN_SHARE * total:
            return i
        before += _chars([p])
    return len(paras)


# --- reflow ----------------------------------------------------------------------------------------


def _reflow(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        # A dash or hyphen ending a line ("well-" / "known", "word--" / "next") joins without a space.
        joined = out.endswith(("--", "—")) or (out.endswith("-") and out[-2:-1].isalpha())
        out += line if joined else " " + line
    out = _ITALIC_RE.sub(r"\1", out)
    return _WHITESPACE_RE.sub(" ", out).strip()
