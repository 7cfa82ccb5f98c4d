"""Book-SORT: texts -> books with sentence starts -> excerpts and segment pairs (Pink et al., SORT).

The protocol, as SORT's code (bridge-ai-neuro/SORT, `run_booksort_creation.py`, `text_utils.py`)
built the published Book-SORT:
- a book is its running prose (Gutenberg header, footer, front matter and chapter headings removed);
  words are split on whitespace;
- a word starts a sentence when the word before it holds one of SORT's sentence markers . ? ! ; (the
  book's first word starts one too); an abbreviation ending in a period (Mr., Mrs., Dr., Fig., ...,
  `sort_abbreviations.txt`, or a capital initial) does not end a sentence, also after an opening
  quote or bracket ("“Mr. Bates", "(Fig. 2)");
- an excerpt of L_E words starts at a sentence start: a word is drawn uniformly from the first
  (book - L_E) words and the excerpt walks back to the start of its sentence, so a start is as likely
  as the words of its sentence are many; segments of L_S words start at sentence starts inside the
  excerpt, at offsets below L_E - L_S;
- distance runs from the start of the earlier segment to the start of the later one; the four bins
  have integer edges [L_S, L_E // 4, L_E // 3, L_E // 2, 4 L_E // 5], and from L_E >= 5,000 on
  [L_S, 1000, L_E // 4, L_E // 2, 4 L_E // 5]; a bin holds the distances strictly between its edges
  (SORT drops a draw that lands on the upper edge, and its lowest edge L_S excludes adjacent and
  overlapping segments); a bin is named by its right edge (SORT's `distance_bin`);
- a pair of a bin: the first segment's start drawn uniformly among the starts that have a partner in
  the bin, then the partner uniformly among those, before or after it;
- every excerpt gives one pair per bin, so a fixed number of excerpts per text gives the same number of
  pairs in every bin; excerpts after the first `n_test` are held out for choosing the prompt;
- which segment is shown as A is counterbalanced: exactly half of each bin's pairs (per split) show
  the earlier segment first, in shuffled order, and the flag is recorded.
A book too short for an (L_E, L_S) setting is skipped for it, as the paper skipped short books for the
extended lengths; the skip is reported.

Deliberate differences from SORT's code: excerpts of one (book, L_E, L_S) start at distinct sentences
(SORT's independent draws may repeat one); an excerpt without a pair for some bin is redrawn (SORT
draws 50 spare excerpts and drops such ones); the A/B flag is exactly balanced per bin and split
(SORT's drops leave it near half); the abbreviation list is longer than SORT's Mr./Mrs./Dr., and is
matched after opening quotes and brackets.

Lengths may be counted in tokens instead of words: a word's count is the count of the word with the
whitespace before it (" word", or a paragraph break and the word) with the dataset's tokenizer,
counted once per book and summed with prefix sums (like the needle haystacks).

Book-SORT's published CSV files are read and written by data_builders/book_sort_official.py.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from longbench_suite.errors import UserError
from longbench_suite.tokens import TokenCounter

from .gutenberg import clean_book

# Excerpts at least this long use SORT's "extended" bin edges (a fixed 1,000-unit near bin); its code
# switches at 5,000 (the data card's table says "extended context" without a number).
EXTENDED_FROM = 5_000
N_BINS = 4
_WORD = re.compile(r"\S+")
_PARAGRAPH = re.compile(r"\n\s*\n")
# SORT's sentence markers: a word holding any of them ends its sentence.
SENTENCE_MARKERS = frozenset(".?!;")
# Opening quotes and brackets before an abbreviation ("“Mr.", "(Fig.").
_OPENERS = "\"'“‘«([{"
_INITIAL = re.compile(r"^[A-Z]\.$")
ABBREVIATIONS_FILE = Path(__file__).with_name("sort_abbreviations.txt")


# --- books --------------------------------------------------------------------------------------


@dataclass
class Book:
    """A book's normalised text (paragraphs joined by a blank line, sentences by one space), the char
    span of every word and the indices of the words that start a sentence."""

    title: str
    text: str
    source: str  # where it came from, without local paths: "narrative:0", "file:dracula.txt", "dataset:..."
    word_start: np.ndarray = field(repr=False)
    word_end: np.ndarray = field(repr=False)
    sentence_starts: np.ndarray = field(repr=False)
    gutenberg_id: int | None = None  # from a Gutenberg header: Book-SORT names books by it

    @property
    def n_words(self) -> int:
        return len(self.word_start)

    @property
    def key(self) -> str:
        """Content hash: a book's samples depend on its text, not on its place in the list."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def span_text(self, a: int, b: int) -> str:
        """Words [a, b) as they stand in the text (paragraph breaks kept)."""
        return self.text[self.word_start[a] : self.word_end[b - 1]]

    def words_text(self, a: int, b: int) -> str:
        """Words [a, b) joined by single spaces (how a segment is shown)."""
        return " ".join(self.span_text(a, b).split())

    def positions(self, unit: str, counter: TokenCounter | None) -> np.ndarray:
        """Cumulative length before each word (n_words + 1 entries), in words or tokens."""
        if unit == "words":
            return np.arange(self.n_words + 1, dtype=np.int64)
        if counter is None:
            raise UserError("lengths in tokens need a tokenizer (--tokenizer)")
        # Each word with the whitespace before it (" " or a paragraph break), as it stands in an excerpt.
        starts = self.word_start.tolist()
        ends = [starts[0] - 1] + self.word_end[:-1].tolist() if starts else []
        units = [" " + self.text[a:b] if i == 0 else self.text[e:b] for i, (a, b, e) in
                 enumerate(zip(starts, self.word_end.tolist(), ends))]
        counts = np.asarray(counter.count_batch(units), dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


@functools.lru_cache(maxsize=1)
def abbreviations() -> frozenset[str]:
    """The packaged abbreviations (lower case, with their period) that never end a sentence."""
    lines = ABBREVIATIONS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.lstrip().startswith("#"))


def ends_sentence(word: str) -> bool:
    """SORT's test: the word holds a sentence marker, and is no abbreviation (an opening quote or
    bracket before the abbreviation does not hide it)."""
    if SENTENCE_MARKERS.isdisjoint(word):
        return False
    core = word.lstrip(_OPENERS)
    return not (core.lower() in abbreviations() or _INITIAL.match(core))


def find_sentence_starts(words: Sequence[str]) -> np.ndarray:
    """Indices of the words that start a sentence: the first word, and every word after a word that
    ends a sentence."""
    if not words:
        return np.zeros(0, dtype=np.int64)
    after_ends = [i + 1 for i, w in enumerate(words[:-1]) if ends_sentence(w)]
    return np.asarray([0, *after_ends], dtype=np.int64)


def book_from_text(title: str | None, raw: str, source: str, clean: bool = True) -> Book:
    """A book from raw text; `clean` strips Gutenberg boilerplate, front matter and headings."""
    found_title, number = None, None
    if clean:
        cleaned = clean_book(raw)
        raw, found_title, number = cleaned.text, cleaned.title, cleaned.ebook_id
    paragraphs = [" ".join(p.split()) for p in _PARAGRAPH.split(raw)]
    text = "\n\n".join(p for p in paragraphs if p)
    matches = list(_WORD.finditer(text))
    spans = np.array([(m.start(), m.end()) for m in matches], dtype=np.int64).reshape(-1, 2)
    return Book(
        title=(title or found_title or "Untitled").strip(),
        text=text,
        source=source,
        word_start=spans[:, 0],
        word_end=spans[:, 1],
        sentence_starts=find_sentence_starts([m.group() for m in matches]),
        gutenberg_id=number,
    )


def books_from_files(paths: Sequence[Path]) -> list[Book]:
    books = []
    for path in paths:
        path = Path(path).expanduser()
        if not path.is_file():
            raise UserError(f"text file not found: {path}")
        try:
            raw = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as e:
            raise UserError(f"cannot read {path}: {e}") from None
        book = book_from_text(None, raw, f"file:{path.name}")
        if book.title == "Untitled":
            book.title = path.stem.replace("_", " ").replace("-", " ").strip() or "Untitled"
        if not book.n_words:
            raise UserError(f"{path} has no prose left after removing headers and headings")
        books.append(book)
    return books


def books_from_dataset(name: str, column: str, title_column: str | None = None, split: str = "train") -> list[Book]:
    """Books from a `datasets` text column: a local parquet/arrow/json(l)/csv file, a directory saved with
    `save_to_disk`, or a hub dataset name (needs network the first time)."""
    from .sources import iter_rows, load_dataset_source

    path = Path(name).expanduser()
    ds = load_dataset_source(name, split)
    for col in filter(None, (column, title_column)):
        if col not in ds.column_names:
            raise UserError(f"dataset {name!r} has no column {col!r}; columns: {', '.join(ds.column_names)}")
    label = path.name if path.exists() else name
    books = []
    for i, row in enumerate(iter_rows(ds, name)):
        title = str(row[title_column]) if title_column else f"{label} #{i}"
        book = book_from_text(title, str(row[column] or ""), f"dataset:{label}#{i}")
        if book.n_words:
            books.append(book)
    if not books:
        raise UserError(f"dataset {name!r} column {column!r} holds no text")
    return books


# --- the protocol -------------------------------------------------------------------------------


def bin_edges(excerpt_len: int, segment_len: int) -> list[int]:
    """SORT's integer edges: floor divisions of L_E (its top edge `L_E // 1.25` is 4 L_E // 5 exactly,
    as 1.25 = 5/4); the extended near bin of 1,000 from L_E >= 5,000 on."""
    top = 4 * excerpt_len // 5
    if excerpt_len >= EXTENDED_FROM:
        return [segment_len, 1000, excerpt_len // 4, excerpt_len // 2, top]
    return [segment_len, excerpt_len // 4, excerpt_len // 3, excerpt_len // 2, top]


def check_lengths(excerpt_len: int, segment_len: int) -> None:
    edges = bin_edges(excerpt_len, segment_len)
    # Bins are open intervals of whole distances: each needs a number strictly between its edges.
    if any(b - a < 2 for a, b in zip(edges, edges[1:])):
        raise UserError(
            f"excerpt length {excerpt_len} is too short for segments of {segment_len}: "
            f"the distance bins {edges} must each hold a distance strictly between their edges"
        )


def bin_index(excerpt_len: int, segment_len: int, right_edge: int) -> int | None:
    """1 (nearest) .. 4 of a bin named by its right edge under SORT's rule; None if it is none."""
    edges = bin_edges(excerpt_len, segment_len)[1:]
    return edges.index(right_edge) + 1 if right_edge in edges else None


@dataclass(frozen=True)
class Pair:
    """One probe's facts. Word indices are into the book; seg1 is the earlier segment."""

    excerpt_idx: int
    split: str  # "test" (evaluated) or "heldout" (for choosing the prompt)
    excerpt: tuple[int, int]  # words [start, end)
    seg1: tuple[int, int]
    seg2: tuple[int, int]
    distance: int  # start of seg1 to start of seg2, in the length unit
    bin_index: int  # 1 (nearest) .. 4
    distance_bin: int  # the bin's right edge, SORT's name for it
    edges: tuple[int, ...]
    present_seg1_first: bool  # the earlier segment is shown as A


def _pick_pair(rel: np.ndarray, lo: int, hi: int, rng: np.random.Generator) -> tuple[int, int] | None:
    """SORT's draw of a pair (i, j), i < j, of sorted offsets with lo < |rel[j] - rel[i]| < hi: one
    start uniformly among those with a partner, then the partner uniformly, before or after it."""
    after_lo = np.searchsorted(rel, rel + lo, side="right")
    after_hi = np.searchsorted(rel, rel + hi, side="left")
    before_lo = np.searchsorted(rel, rel - hi, side="right")
    before_hi = np.searchsorted(rel, rel - lo, side="left")
    n_after = np.maximum(after_hi - after_lo, 0)
    n_before = np.maximum(before_hi - before_lo, 0)
    have = np.flatnonzero(n_after + n_before)
    if not len(have):
        return None
    i = int(have[rng.integers(len(have))])
    k = int(rng.integers(n_after[i] + n_before[i]))
    j = int(after_lo[i]) + k if k < n_after[i] else int(before_lo[i]) + k - int(n_after[i])
    return (i, j) if i < j else (j, i)


def _excerpt_order(starts: np.ndarray, n_words: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Candidate excerpt starts in drawing order, without repeats. SORT draws a word among the first
    `limit` and walks back to its sentence's start, so a start weighs as many words as lead back to
    it; a weighted order without replacement (exponential keys over the weights) keeps that."""
    nxt = np.append(starts[1:], n_words)
    weights = np.minimum(nxt, limit) - starts
    keep = weights > 0
    starts, weights = starts[keep], weights[keep]
    keys = rng.exponential(size=len(starts)) / weights
    return starts[np.argsort(keys, kind="stable")]


def sample_pairs(
    book: Book, pos: np.ndarray, excerpt_len: int, segment_len: int, n_test: int, n_heldout: int, rng: np.random.Generator
) -> list[Pair] | str:
    """`n_test + n_heldout` excerpts at distinct sentence starts, one pair per distance bin each; or the
    reason the book cannot give them."""
    edges = bin_edges(excerpt_len, segment_len)
    starts = book.sentence_starts
    total = int(pos[-1])
    if total < excerpt_len:
        return f"too short ({total} < {excerpt_len})"
    # Words an excerpt may be drawn at: those with a full excerpt after them (SORT: the first n - L_E).
    limit = max(int(np.searchsorted(pos, total - excerpt_len, side="left")), 1)
    need = n_test + n_heldout
    accepted: list[tuple[int, int, list[tuple[int, int]]]] = []
    for s in _excerpt_order(starts, book.n_words, limit, rng):
        s = int(s)
        e = int(np.searchsorted(pos, pos[s] + excerpt_len, side="right")) - 1
        inside = starts[np.searchsorted(starts, s) : np.searchsorted(starts, e)]
        # SORT: a segment starts below L_E - L_S (so it ends before the excerpt's last word).
        inside = inside[pos[inside] - pos[s] < pos[e] - pos[s] - segment_len]
        rel = pos[inside] - pos[s]
        picks = [_pick_pair(rel, lo, hi, rng) for lo, hi in zip(edges, edges[1:])]
        if any(p is None for p in picks):
            continue  # this excerpt lacks a pair for some bin: draw another, as every excerpt fills all four
        accepted.append((s, e, [(int(inside[i]), int(inside[j])) for i, j in picks]))
        if len(accepted) == need:
            break
    if len(accepted) < need:
        return f"only {len(accepted)} of {need} excerpts have segment pairs in every distance bin"

    def seg(a: int) -> tuple[int, int]:
        b = int(np.searchsorted(pos, pos[a] + segment_len, side="right")) - 1
        return a, max(b, a + 1)

    # Counterbalance: exactly half of each (split, bin) shows the earlier segment first.
    flags: dict[tuple[str, int], list[bool]] = {}
    for split, n in (("test", n_test), ("heldout", n_heldout)):
        for k in range(N_BINS):
            half = [True] * (n // 2) + [False] * (n // 2) + ([bool(rng.integers(2))] if n % 2 else [])
            flags[(split, k)] = [bool(x) for x in rng.permutation(half)]
    pairs = []
    for idx, (s, e, picks) in enumerate(accepted):
        split = "test" if idx < n_test else "heldout"
        row = idx if split == "test" else idx - n_test
        for k, (a1, a2) in enumerate(picks):
            pairs.append(
                Pair(
                    excerpt_idx=idx, split=split, excerpt=(s, e), seg1=seg(a1), seg2=seg(a2),
                    distance=int(pos[a2] - pos[a1]), bin_index=k + 1, distance_bin=edges[k + 1], edges=tuple(edges),
                    present_seg1_first=flags[(split, k)][row],
                )
            )
    return pairs
