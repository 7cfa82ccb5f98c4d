"""Book-SORT: texts -> books with sentence starts -> excerpts and segment pairs (Pink et al., SORT).

The protocol, as the paper built Book-SORT:
- a book is its running prose (Gutenberg header, footer, front matter and chapter headings removed);
  words are split on whitespace;
- an excerpt of L_E words starts at a sentence start; segments of L_S words start at sentence starts
  inside the excerpt;
- the distance between two segments runs from the start of the first to the start of the second and
  falls in one of four bins with edges [L_S, L_E/4, L_E/3, L_E/2, L_E/0.8], or for the extended lengths
  (L_E >= 10,000) [L_S, 1000, L_E/4, L_E/2, L_E/0.8]. The lowest edge L_S means segments never overlap;
- every excerpt gives one pair per bin, so a fixed number of excerpts per text gives the same number of
  pairs in every bin; excerpts after the first `n_test` are held out for choosing the prompt;
- which segment is shown as A is counterbalanced: exactly half of each bin's pairs (per split) show
  the earlier segment first, in shuffled order, and the flag is recorded.
A book too short for an (L_E, L_S) setting is skipped for it, as the paper skipped short books for the
extended lengths; the skip is reported.

Lengths may be counted in tokens instead of words: a word's count is the count of the word with the
whitespace before it (" word", or a paragraph break and the word) with the dataset's tokenizer,
counted once per book and summed with prefix sums (like the needle haystacks).

Book-SORT's published CSV files are read and written by data_builders/book_sort_official.py.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from longbench_suite.errors import UserError
from longbench_suite.tokens import TokenCounter

from .gutenberg import clean_book
from .haystack import split_sentences

# Excerpts at least this long use the paper's "extended" bin edges (a fixed 1,000-unit near bin).
EXTENDED_FROM = 10_000
N_BINS = 4
_WORD = re.compile(r"\S+")


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


def book_from_text(title: str | None, raw: str, source: str, clean: bool = True) -> Book:
    """A book from raw text; `clean` strips Gutenberg boilerplate, front matter and headings."""
    found_title = None
    if clean:
        cleaned = clean_book(raw)
        raw, found_title = cleaned.text, cleaned.title
    paragraphs = split_sentences(raw, max_words=None)  # whole sentences: their starts are the protocol's
    text = "\n\n".join(" ".join(p) for p in paragraphs)
    spans = np.array([(m.start(), m.end()) for m in _WORD.finditer(text)], dtype=np.int64).reshape(-1, 2)
    starts, k = [], 0
    for para in paragraphs:
        for sentence in para:
            starts.append(k)
            k += len(sentence.split())
    assert k == len(spans), "sentence word counts disagree with the text"
    return Book(
        title=(title or found_title or "Untitled").strip(),
        text=text,
        source=source,
        word_start=spans[:, 0],
        word_end=spans[:, 1],
        sentence_starts=np.asarray(starts, dtype=np.int64),
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


def bin_edges(excerpt_len: int, segment_len: int) -> list[float]:
    if excerpt_len >= EXTENDED_FROM:
        return [segment_len, 1000, excerpt_len / 4, excerpt_len / 2, excerpt_len / 0.8]
    return [segment_len, excerpt_len / 4, excerpt_len / 3, excerpt_len / 2, excerpt_len / 0.8]


def check_lengths(excerpt_len: int, segment_len: int) -> None:
    edges = bin_edges(excerpt_len, segment_len)
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise UserError(
            f"excerpt length {excerpt_len} is too short for segments of {segment_len}: "
            f"the distance bins {[round(e, 1) for e in edges]} must increase"
        )


@dataclass(frozen=True)
class Pair:
    """One probe's facts. Word indices are into the book; seg1 is the earlier segment."""

    excerpt_idx: int
    split: str  # "test" (evaluated) or "heldout" (for choosing the prompt)
    excerpt: tuple[int, int]  # words [start, end)
    seg1: tuple[int, int]
    seg2: tuple[int, int]
    distance: int  # start of seg1 to start of seg2, in the length unit
    distance_bin: int  # 1 (nearest) .. 4
    edges: tuple[float, ...]
    present_seg1_first: bool  # the earlier segment is shown as A


def _pick_pair(rel: np.ndarray, lo: float, hi: float, rng: np.random.Generator) -> tuple[int, int] | None:
    """A uniform pair (i < j) of sorted offsets with rel[j] - rel[i] in [lo, hi), or None."""
    j_lo = np.maximum(np.searchsorted(rel, rel + lo, side="left"), np.arange(len(rel)) + 1)
    j_hi = np.searchsorted(rel, rel + hi, side="left")
    counts = np.maximum(j_hi - j_lo, 0)
    total = int(counts.sum())
    if total == 0:
        return None
    r = int(rng.integers(total))
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, r, side="right"))
    before = int(cum[i - 1]) if i else 0
    return i, int(j_lo[i]) + (r - before)


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
    candidates = starts[pos[starts] + excerpt_len <= total]
    need = n_test + n_heldout
    accepted: list[tuple[int, int, list[tuple[int, int]]]] = []
    for s in rng.permutation(candidates):
        s = int(s)
        e = int(np.searchsorted(pos, pos[s] + excerpt_len, side="right")) - 1
        inside = starts[np.searchsorted(starts, s) : np.searchsorted(starts, e)]
        inside = inside[pos[inside] + segment_len <= pos[e]]  # the whole segment lies in the excerpt
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
                    distance=int(pos[a2] - pos[a1]), distance_bin=k + 1, edges=tuple(edges),
                    present_seg1_first=flags[(split, k)][row],
                )
            )
    return pairs
