"""SORT: sequence order recall, the suite's test of episodic memory (Pink et al., Book-SORT protocol).

Given two segments of a book, which came first? One dataset serves the three conditions:
- in-context: the excerpt the segments come from is in the prompt (the paper's in-context condition);
- in-memory: the system ingested the whole book (the episode) and is asked without the excerpt: the
  paper's long-term-memory condition, what memory systems are for;
- no-context: nothing ingested, nothing in the prompt: the floor (chance, unless the book was in
  pre-training; the generated narrative cannot have been).

An episode is a whole book; a probe is one segment pair of one excerpt. The in-context prompt is built
at run time from the book and the excerpt's character span, so excerpts are stored once (as spans).

Scoring as the paper scores: the first answer token's log-probabilities of "A" and "B" when the system
returns them (argmax), else a robust parse of the text; an answer naming neither is counted as invalid
(metric `invalid`), never silently as a wrong letter. Chance is 0.5.

Variants are the segment lengths: `ls20` and `ls50` (the paper's), or any `ls<N>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from data_builders.book_sort import Book, book_from_text, check_lengths, sample_pairs
from data_builders.haystack import derive_seed
from longbench_suite import io, metrics, schemas
from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition, Episode, Probe
from longbench_suite.task import PROBE_TOKENS, TOKENS_PER_WORD, SizeEstimate, TaskFamily, param

TEMPLATES = Path(__file__).parent / "templates" / "sort.toml"
LABELS = ["A", "B"]
METRIC = "choice_accuracy"
_VARIANT = re.compile(r"^ls([1-9]\d*)$")
UNITS = ("words", "tokens")
SPLITS = ("test", "heldout", "all")


# --- prompt templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    name: str
    ask: str  # "first" | "last"
    context: str
    question: str
    answer_prefix: str
    memory_question: str | None = None

    @classmethod
    def load(cls, spec: str) -> "Template":
        """A name in the packaged sort.toml, or a path to a TOML file with one template's keys."""
        if spec.endswith(".toml") or "/" in spec:
            path = Path(spec).expanduser()
            data = io.read_toml(path, "SORT prompt file")
            name = path.name
        else:
            packaged = io.read_toml(TEMPLATES, "SORT prompt file")
            if spec not in packaged:
                raise UserError(f"unknown SORT prompt {spec!r}; packaged: {', '.join(packaged)} (or a .toml file)")
            data, name = packaged[spec], spec
        for key in ("context", "question"):
            if not isinstance(data.get(key), str):
                raise UserError(f"SORT prompt {name}: {key} must be a string")
        if data.get("ask", "first") not in ("first", "last"):
            raise UserError(f"SORT prompt {name}: ask must be 'first' or 'last'")
        unknown = set(data) - {"ask", "context", "question", "memory_question", "answer_prefix"}
        if unknown:
            raise UserError(f"SORT prompt {name}: unknown keys {', '.join(sorted(unknown))}")
        t = cls(name, data.get("ask", "first"), data["context"], data["question"], data.get("answer_prefix", ""),
                data.get("memory_question"))
        t.context_parts("x")  # placeholders checked before anything is generated
        t.render_question("x", "a", "b")
        if t.memory_question:
            t.render_question("x", "a", "b", memory=True)
        return t

    def context_parts(self, title: str) -> tuple[str, str]:
        """The in-context text before and after the excerpt (the excerpt itself is never formatted)."""
        if self.context.count("{excerpt}") != 1:
            raise UserError(f"SORT prompt {self.name}: context must contain {{excerpt}} exactly once")
        before, after = self.context.split("{excerpt}")
        return self._format(before, title=title), self._format(after, title=title)

    def render_question(self, title: str, segment_a: str, segment_b: str, memory: bool = False) -> str:
        text = self.memory_question if memory and self.memory_question else self.question
        return self._format(text, title=title, segment_a=segment_a, segment_b=segment_b)

    def _format(self, text: str, **values: str) -> str:
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError) as e:
            raise UserError(f"SORT prompt {self.name}: bad placeholder {e} (known: {', '.join(values)})") from None

    def gold(self, earlier_shown_first: bool) -> str:
        """The letter of the asked segment, given whether the earlier segment is shown as A."""
        earlier = "A" if earlier_shown_first else "B"
        return earlier if self.ask == "first" else ("B" if earlier == "A" else "A")


# --- parameters ---------------------------------------------------------------------------------


@dataclass
class SortParams:
    lengths: list[int] = param([250, 1000, 2500, 10000, 20000], "excerpt lengths L_E, in `unit`s")
    excerpts: int = param(100, "evaluated excerpts per book and (L_E, L_S): one pair per distance bin each")
    heldout: int = param(10, "further excerpts per book and (L_E, L_S), held out for choosing the prompt")
    split: str = param("test", "which excerpts become probes: test, heldout or all")
    unit: str = param("words", "unit of L_E, L_S and distances: words (the paper) or tokens of --tokenizer")
    prompt: str = param("default", "prompt template: default, last, terse, recall, or a .toml file")
    books: int = param(2, "narrative books to generate (lbs generate; lbs build book-sort reads texts)")
    book_words: int = param(30000, "words per generated narrative book")
    max_new_tokens: int = param(8, "answer budget (log-prob scoring reads the first token only)")

    def validate(self) -> None:
        if self.split not in SPLITS:
            raise UserError(f"split must be one of {', '.join(SPLITS)}")
        if self.unit not in UNITS:
            raise UserError(f"unit must be one of {', '.join(UNITS)}")
        if self.excerpts < 1 or self.heldout < 0 or self.books < 1 or self.max_new_tokens < 1:
            raise UserError("excerpts, books and max_new_tokens must be at least 1, heldout at least 0")
        if min(self.lengths) < 1:
            raise UserError("excerpt lengths must be positive")
        Template.load(self.prompt)


def segment_length(variant: str) -> int:
    return int(_VARIANT.match(variant).group(1))  # type: ignore[union-attr]


# --- the family ---------------------------------------------------------------------------------


class SortFamily(TaskFamily):
    name = "sort"
    version = "2"  # 2: SORT's integer, open bins (switch at 5,000), its sentence and draw rules
    description = "SORT / Book-SORT: which of two segments of a book came first (episodic memory)"
    variants = {"ls20": "segments of 20 words (or tokens)", "ls50": "segments of 50 words (or tokens)"}
    Params = SortParams
    uses_tokenizer = True
    choices_visible = True  # A and B are part of the question

    def check_variants(self, variants: list[str] | None) -> list[str]:
        chosen = list(dict.fromkeys(variants or self.variants))
        bad = [v for v in chosen if not _VARIANT.match(v)]
        if bad:
            raise UserError(f"unknown variant {bad[0]!r} of sort: use ls<N> for segments of N words, e.g. ls20, ls50")
        return chosen

    def estimate(self, params: SortParams, variants: list[str]) -> SizeEstimate:
        """The books are the episodes (probes point into them); all is held at once."""
        per_setting = params.excerpts + params.heldout if params.split == "all" else (
            params.excerpts if params.split == "test" else params.heldout)
        items = params.books * len(variants) * len(params.lengths) * per_setting
        tokens = int(params.books * params.book_words * TOKENS_PER_WORD)
        return SizeEstimate(tokens=tokens, items=items, held_tokens=tokens + items * PROBE_TOKENS)

    def generate(self, variants: list[str], params: SortParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        """Books from the packaged narrative generator: offline, and never seen in pre-training."""
        from data_builders.narrative import narrative

        books = []
        for i in range(params.books):
            title, text = narrative(derive_seed("sort-narrative", seed, i) % 2**31, params.book_words)
            books.append(book_from_text(title, text, f"narrative:{seed}/{i}", clean=False))
        return self.build(books, variants, params, seed, tokenizer)

    def sources_manifest(self, books: list[Book]) -> list[dict]:
        """Each book by name and content hash."""
        return [{"source": b.source, "title": b.title, "sha256": b.key, "words": b.n_words} for b in books]

    def build(self, books: list[Book], variants: list[str], params: SortParams, seed: int, counter: Any) -> tuple[pa.Table, pa.Table]:
        """The Book-SORT protocol over `books` (see data_builders/book_sort.py)."""
        template = Template.load(params.prompt)
        for variant in variants:
            for length in params.lengths:
                check_lengths(length, segment_length(variant))
        episodes = schemas.TableBuilder(schemas.EPISODES)
        probes = schemas.TableBuilder(schemas.PROBES)
        produced = 0
        for book_idx, book in enumerate(books):
            pos = book.positions(params.unit, counter)
            skipped = []
            eid = f"sort-b{book_idx}"
            for variant in variants:
                seg_len = segment_length(variant)
                for length in params.lengths:
                    rng = np.random.default_rng(derive_seed("book-sort", seed, book.key, length, seg_len, params.unit))
                    pairs = sample_pairs(book, pos, length, seg_len, params.excerpts, params.heldout, rng)
                    if isinstance(pairs, str):
                        skipped.append({"excerpt_len": length, "segment_len": seg_len, "reason": pairs})
                        continue
                    for pair in pairs:
                        if params.split != "all" and pair.split != params.split:
                            continue
                        s, e = pair.excerpt
                        meta = {
                            "book_idx": book_idx, "excerpt_idx": pair.excerpt_idx, "split": pair.split,
                            "unit": params.unit, "excerpt_span": [int(book.word_start[s]), int(book.word_end[e - 1])],
                            "excerpt_words": [s, e], "seg1_pos": pair.seg1[0] - s, "seg2_pos": pair.seg2[0] - s,
                            "distance": pair.distance, "bin_edges": list(pair.edges),
                        }
                        add_probe(
                            probes, template, eid=eid, title=book.title, variant=variant, excerpt_len=length,
                            segment_len=seg_len, excerpt_idx=pair.excerpt_idx, distance_bin=pair.distance_bin,
                            bin_index=pair.bin_index,
                            segment_1=book.words_text(*pair.seg1), segment_2=book.words_text(*pair.seg2),
                            earlier_first=pair.present_seg1_first, present_seg1_first=pair.present_seg1_first,
                            max_new_tokens=params.max_new_tokens, meta=meta,
                        )
                        produced += 1
            before, after = template.context_parts(book.title)
            meta = {
                "title": book.title, "book_idx": book_idx, "source": book.source, "n_words": book.n_words,
                "unit": params.unit, "context_before": before, "context_after": after, "skipped": skipped,
                **({"gutenberg_id": book.gutenberg_id} if book.gutenberg_id else {}),
            }
            episodes.add(
                episode_id=eid, family=self.name, variant="book", length=int(pos[-1]),
                n_tokens=counter.count(book.text) if counter is not None else None,
                text=book.text, sessions=None, meta=json.dumps(meta),
            )
        if not produced:
            raise UserError("no book is long enough for any requested (excerpt, segment) length: give longer texts or shorter lengths")
        return episodes.table(), probes.table()

    def probe(self, row: dict, episode: Episode, condition: Condition) -> Probe:
        """In-context: the excerpt (a span of the book) with the template's instruction; otherwise
        only the question (the template's memory_question when it has one)."""
        meta = json.loads(row["meta"] or "{}")
        context, question = None, row["question"]
        if condition is Condition.IN_CONTEXT:
            context = episode.meta["context_before"] + excerpt_text(meta, episode) + episode.meta["context_after"]
        elif meta.get("memory_question"):
            question = meta["memory_question"]
        return Probe(
            probe_id=row["probe_id"], episode_id=row["episode_id"], question=question,
            answer_prefix=row["answer_prefix"] or "", context=context, max_new_tokens=int(row["max_new_tokens"]),
            choices=row.get("choices"), gold=row.get("gold"), meta={},
        )

    def score(self, output: str, row: dict, choice_logprobs: dict[str, float] | None = None) -> dict[str, float]:
        """choice_accuracy (primary): the log-prob argmax of the first token when given, else the parsed
        letter; parse_accuracy: the parsed letter only; invalid: neither named a letter."""
        labels, gold = row.get("choices") or LABELS, set(row.get("gold") or [])
        parsed = metrics.parse_choice(output, labels)
        picked = metrics.choice_from_logprobs(choice_logprobs, labels)
        if picked is None:
            picked = parsed
        return {
            METRIC: float(picked in gold),
            "parse_accuracy": float(parsed in gold),
            "invalid": float(picked is None),
        }


def add_probe(
    probes: schemas.TableBuilder, template: Template, *, eid: str, title: str, variant: str, excerpt_len: int,
    segment_len: int, excerpt_idx: int, distance_bin: int, segment_1: str, segment_2: str, earlier_first: bool,
    present_seg1_first: bool, max_new_tokens: int, meta: dict, probe_id: str | None = None,
    bin_index: int | None = None,
) -> None:
    """One probe row: segment_1 is shown as A when `present_seg1_first`; `earlier_first` says whether
    the segment shown as A is the earlier one (built data: seg1 is always the earlier).

    `distance_bin` is SORT's name of the bin, its right edge (62 for L_E 250); the `bin` column holds
    `bin_index`, 1 (nearest) .. 4: the right edges differ per L_E, so only the index lines bins up
    across lengths (heatmaps, the bin marginal), and a one-digit string sorts as its number."""
    a, b = (segment_1, segment_2) if present_seg1_first else (segment_2, segment_1)
    bin_index = bin_index or meta.get("bin_index")
    meta = {
        **meta, "excerpt_len": excerpt_len, "segment_len": segment_len, "excerpt_idx": excerpt_idx,
        "distance_bin": distance_bin, "bin_index": bin_index, "present_seg1_first": present_seg1_first, "segment_1": segment_1,
        "segment_2": segment_2, "ask": template.ask, "prompt": template.name,
    }
    if template.memory_question:
        meta["memory_question"] = template.render_question(title, a, b, memory=True)
    probes.add(
        probe_id=probe_id or f"{eid}/{variant}/le{excerpt_len}/x{excerpt_idx}/d{distance_bin}", episode_id=eid, family="sort",
        variant=variant, ability="order-recall", length=excerpt_len, depth=None, bin=str(bin_index or distance_bin),
        question=template.render_question(title, a, b), answer_prefix=template.answer_prefix,
        gold=[template.gold(earlier_first)], choices=LABELS, metric=METRIC, chance=0.5,
        max_new_tokens=max_new_tokens, meta=json.dumps(meta),
    )


def excerpt_text(meta: dict, episode: Episode) -> str:
    """The excerpt: a span of the book, or (imported data whose book text lacks it) the stored text."""
    if "excerpt_span" in meta:
        c0, c1 = meta["excerpt_span"]
        return episode.text[c0:c1]
    return episode.meta["excerpts"][meta["excerpt_key"]]["text"]


FAMILY = SortFamily()
