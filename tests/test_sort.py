"""The sort family (SORT / Book-SORT): the protocol checked from the outside, the baselines, scoring,
conditions, Gutenberg and dataset inputs, and the official CSV import/export round trip."""

from __future__ import annotations

import collections
import csv
import functools
import json
import random
import re
import textwrap
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_builders.book_sort import bin_edges, book_from_text, books_from_dataset, books_from_files
from data_builders.narrative import narrative
from lbs_testutil import lbs, one_line_error
from longbench_suite import io, metrics
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Condition
from longbench_suite.task import parse_params
from longbench_suite.tokens import load_tokenizer
from runners.local import RunConfig, run
from tasks.sort import SortFamily, SortParams, Template

FAMILY = SortFamily()
TOK = load_tokenizer("approx")
SMALL = ["lengths=250,1000", "books=2", "book_words=6000", "excerpts=50", "heldout=10"]
OFFICIAL_SEGMENT_COLUMNS = [
    "book_idx", "excerpt_idx", "segment_1", "segment_2", "seg1_pos", "seg2_pos", "distance_bin", "present_seg1_first",
]

# --- helpers -------------------------------------------------------------------------------------

_WORD = re.compile(r"\S+")
# SORT's sentence markers (text_utils.py): a word holding one of them ends its sentence.
_MARKERS = set(".?!;")
_ABBREVIATIONS = {"Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Prof.", "Jr.", "Sr."}


def generate(*assignments: str, variants=("ls20", "ls50"), seed: int = 0, tokenizer=TOK):
    return FAMILY.generate(list(variants), parse_params(SortParams, list(assignments)), seed, tokenizer)


def probe_rows(probes: pa.Table) -> list[tuple[dict, dict]]:
    return [(r, json.loads(r["meta"])) for r in probes.to_pylist()]


def episodes_by_id(episodes: pa.Table) -> dict[str, dict]:
    return {r["episode_id"]: r for r in episodes.to_pylist()}


@functools.lru_cache(maxsize=8)
def word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


@functools.lru_cache(maxsize=8)
def split_words(text: str) -> list[str]:
    return text.split()


def is_sentence_start(text: str, spans: list[tuple[int, int]], i: int, abbreviations=_ABBREVIATIONS) -> bool:
    """Word i starts a sentence by SORT's rule, judged from the text alone: it is the first word, or
    the word before it holds . ? ! or ; and is no abbreviation (after any opening quote or bracket).
    (SORT's rule, not a prose splitter's: a start may follow a semicolon or a question inside quotes.)"""
    if i == 0:
        return True
    prev = text[spans[i - 1][0] : spans[i - 1][1]]
    return bool(_MARKERS & set(prev)) and prev.lstrip("\"'\u201c\u2018([") not in abbreviations


def check_geometry(book_text: str, row: dict, meta: dict) -> None:
    """Excerpt and segments of one words-mode probe, checked against the book text itself."""
    words = split_words(book_text)
    spans = word_spans(book_text)
    le, ls = row["length"], int(row["variant"].removeprefix("ls"))
    s, e = meta["excerpt_words"]
    c0, c1 = meta["excerpt_span"]
    excerpt = book_text[c0:c1]
    assert e - s == le and len(excerpt.split()) == le
    assert excerpt.split() == words[s:e]
    assert (c0, c1) == (spans[s][0], spans[e - 1][1])
    assert is_sentence_start(book_text, spans, s), f"excerpt starts mid-sentence: {row['probe_id']}"
    a1, a2 = s + meta["seg1_pos"], s + meta["seg2_pos"]
    for a in (a1, a2):
        assert s <= a and a + ls <= e, f"segment outside the excerpt: {row['probe_id']}"
        assert is_sentence_start(book_text, spans, a), (
            f"segment starts mid-sentence: {row['probe_id']}: ...{' '.join(words[a - 3 : a + 3])}..."
        )
    assert a2 >= a1 + ls, f"segments overlap: {row['probe_id']}"
    assert meta["segment_1"] == " ".join(words[a1 : a1 + ls])
    assert meta["segment_2"] == " ".join(words[a2 : a2 + ls])


def shown(meta: dict) -> tuple[str, str]:
    """(segment shown as A, segment shown as B)."""
    if meta["present_seg1_first"]:
        return meta["segment_1"], meta["segment_2"]
    return meta["segment_2"], meta["segment_1"]


def run_dataset(data: Path, system: str, out: Path, **kw) -> dict:
    return run(RunConfig(dataset=Path(data), system=system, out=Path(out), use_cache=False, **kw))


def overall(run_dir: Path, metric: str = "choice_accuracy") -> dict:
    agg = pl.read_parquet(run_dir / "aggregates.parquet")
    return agg.filter(
        pl.col("variant").is_null() & pl.col("ability").is_null() & pl.col("length").is_null()
        & pl.col("depth").is_null() & pl.col("bin").is_null() & (pl.col("metric") == metric)
    ).row(0, named=True)


def scores(run_dir: Path, metric: str = "choice_accuracy") -> dict[str, float]:
    df = pl.read_parquet(run_dir / "scores.parquet").filter(pl.col("metric") == metric)
    return dict(zip(df.get_column("probe_id").to_list(), df.get_column("value").to_list()))


# --- a realistic fake Gutenberg file -----------------------------------------------------------

_NAMES = ["Mr. Smith", "Mrs. Hale", "Dr. Brown", "Miss Grey", "Captain Moore", "St. John", "Mr. Thornton"]
_PLACES = ["the station", "the old mill", "the vicarage", "the harbour", "the market square", "the orchard"]
_VERBS = ["walked to", "looked across", "returned from", "waited near", "spoke of", "hurried past"]
_TIMES = ["In the morning", "At noon", "Later that evening", "On the third day", "Before dawn", "After supper"]
_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"]


def _sentence(rng: random.Random) -> str:
    n, p, v, t = rng.choice(_NAMES), rng.choice(_PLACES), rng.choice(_VERBS), rng.choice(_TIMES)
    return rng.choice([
        f"{t}, {n} {v} {p} and thought for a long while about the letter.",
        f'"Do you know where {rng.choice(_NAMES)} has gone?" asked {n}.',
        f'"I cannot stay," said {n}. "The coach leaves at {rng.randrange(2, 12)} o\'clock."',
        f"{n} {v} {p}, where the rain had left the road deep in mud; nobody else was there!",
        f"Was it true that {n} had gone to {p} alone?",
        f"{rng.randrange(2, 40)} people {v} {p} that week, and {n} counted every one of them.",
    ])


def fake_gutenberg(title: str, chapters: int = 6, paragraphs: int = 8, seed: int = 0) -> str:
    rng = random.Random(seed)
    lines = [
        f"The Project Gutenberg eBook of {title}", "",
        "This ebook is for the use of anyone anywhere in the United States and",
        "most other parts of the world at no cost and with almost no restrictions", "",
        f"Title: {title}", "", "Author: Jane Example", "", "Release date: May 1, 2020 [eBook #99999]", "",
        "Language: English", "", f"*** START OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***", "", "",
        title.upper(), "", "by Jane Example", "", "", "CONTENTS", "",
    ]
    lines += [f" CHAPTER {r}." for r in _ROMAN[:chapters]] + ["", ""]
    for c in range(chapters):
        lines += [f"CHAPTER {_ROMAN[c]}.", "", "THE ARRIVAL" if c == 0 else "A LONG ROAD HOME", "", ""]
        for _ in range(paragraphs):
            lines += textwrap.wrap(" ".join(_sentence(rng) for _ in range(rng.randint(4, 9))), 70) + [""]
        lines.append("")
    lines += [
        "THE END", "", "", f"*** END OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***", "",
        "Updated editions will replace the previous one--the old editions will be renamed.", "",
        "START: FULL LICENSE", "", "THE FULL PROJECT GUTENBERG LICENSE",
        "PLEASE READ THIS BEFORE YOU DISTRIBUTE OR USE THIS WORK", "",
    ]
    return "\n".join(lines)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def narr_all():
    """Two generated books, L_E 250/1000 x L_S 20/50, 50 test + 10 held-out excerpts: 1920 pairs."""
    return generate(*SMALL, "split=all")


@pytest.fixture(scope="module")
def narr_ds(tmp_path_factory):
    """The test split of a one-book grid, on disk: 800 probes."""
    out = tmp_path_factory.mktemp("sort") / "ds"
    generate_dataset("sort", out, ["ls20", "ls50"], ["lengths=250,1000", "books=1", "book_words=6000",
                                                    "excerpts=50", "heldout=10"], seed=0, tokenizer="approx")
    return out


@pytest.fixture(scope="module")
def gutenberg(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gut")
    path = tmp / "pg99999.txt"
    path.write_text(fake_gutenberg("The Lantern Keeper"), encoding="utf-8")
    out = tmp / "ds"
    res = lbs("build", "book-sort", "--text", path, "-o", out, "-v", "ls20", "-p", "lengths=250,1000",
              "-p", "excerpts=10", "-p", "heldout=2", "--seed", "3")
    assert res.returncode == 0, res.stderr
    return path, out


# --- 1. sentence starts, no overlap --------------------------------------------------------------


def test_generated_segments_start_at_sentences_and_never_overlap(narr_all):
    episodes, probes = narr_all
    books = episodes_by_id(episodes)
    rows = probe_rows(probes)
    assert len(rows) == 1920
    for row, meta in rows:
        check_geometry(books[row["episode_id"]]["text"], row, meta)


def test_gutenberg_book_is_prose_only_and_segments_start_at_sentences(gutenberg):
    path, out = gutenberg
    ds = io.Dataset(out)
    (episode,) = ds.episodes.to_pylist()
    text, emeta = episode["text"], json.loads(episode["meta"])
    assert emeta["title"] == "The Lantern Keeper"
    assert ds.manifest["sources"][0]["title"] == "The Lantern Keeper"
    assert ds.manifest["sources"][0]["source"] == "file:pg99999.txt"
    for junk in ("Gutenberg", "GUTENBERG", "START OF", "END OF", "Title:", "Author:", "Release date", "CONTENTS",
                 "CHAPTER", "THE ARRIVAL", "A LONG ROAD HOME", "THE END", "LICENSE", "Jane Example", "ebook",
                 "THE LANTERN KEEPER"):
        assert junk not in text, junk
    raw = path.read_text(encoding="utf-8")
    # the prose runs from the first paragraph under CHAPTER I's title to the last one before THE END
    assert text.split()[:12] == raw.split("THE ARRIVAL", 1)[1].split()[:12]
    assert text.split()[-12:] == raw.split("\nTHE END\n", 1)[0].split()[-12:]
    assert len(text.split()) > 0.9 * len(raw.split("THE ARRIVAL", 1)[1].split("\nTHE END\n")[0].split())
    # the abbreviations stay inside their sentences, and dialogue is kept
    assert "Mr. Smith" in text and '"I cannot stay," said' in text
    rows = probe_rows(ds.probes)
    assert len(rows) == 2 * 4 * 10
    for row, meta in rows:
        check_geometry(text, row, meta)
        assert '"The Lantern Keeper"' in row["question"]


def test_export_of_a_gutenberg_book_names_it_by_its_ebook_number(gutenberg, tmp_path):
    _, data = gutenberg
    assert json.loads(io.Dataset(data).episodes.to_pylist()[0]["meta"])["gutenberg_id"] == 99999
    res = lbs("export", "book-sort", data, "-o", tmp_path / "csv")
    assert res.returncode == 0, res.stderr
    # split=test (the default) exports excerpts 0-9: N = 10 in SORT's file names
    cols, rows = _read_csv(tmp_path / "csv" / "books_250-s20-n10.csv")
    assert rows == [{"": "0", "book_idx": "99999", "book_title": "The Lantern Keeper",
                     "num_words": str(len(io.Dataset(data).episodes.to_pylist()[0]["text"].split()))}]
    assert (tmp_path / "csv" / "book_texts" / "99999.txt").is_file()


def test_titles_like_col_capt_rev_do_not_end_sentences():
    rng = random.Random(5)
    titled = ["Col. Hardy", "Capt. Moore", "Rev. Mr. Price", "Gen. Dunn", "Messrs. Hale and Brown", "Lieut. Grey"]
    paragraphs = []
    for _ in range(60):
        sentences = []
        for _ in range(5):
            who, place = rng.choice(titled), rng.choice(_PLACES)
            sentences.append(rng.choice([
                f"At noon {who} rode past {place} without a word to anyone.",
                f"Nobody at {place} had seen {who} since the spring.",
                f"The letter from {who} arrived at {place} late in the evening.",
            ]))
        paragraphs.append(" ".join(sentences))
    book = book_from_text("Officers", "\n\n".join(paragraphs), "test", clean=False)
    _, probes = FAMILY.build([book], ["ls20"], parse_params(SortParams, ["lengths=250", "excerpts=20", "heldout=0"]), 0, TOK)
    abbreviations = _ABBREVIATIONS | {"Col.", "Capt.", "Rev.", "Gen.", "Messrs.", "Lieut."}
    spans = word_spans(book.text)
    bad = []
    for row, meta in probe_rows(probes):
        s = meta["excerpt_words"][0]
        for a in (s, s + meta["seg1_pos"], s + meta["seg2_pos"]):
            if not is_sentence_start(book.text, spans, a, abbreviations):
                bad.append(" ".join(book.text[x:y] for x, y in spans[a - 2 : a + 3]))
    assert not bad, f"{len(bad)} starts mid-sentence, e.g. {bad[:3]}"


# --- 2. distance bins ----------------------------------------------------------------------------


def test_bin_edges_rule():
    # SORT's integer edges (hand-derived in test_sort_parity.py); the extended bins from 5,000 on
    assert bin_edges(250, 20) == [20, 62, 83, 125, 200]
    assert bin_edges(4999, 50) == [50, 1249, 1666, 2499, 3999]
    assert bin_edges(5000, 50) == [50, 1000, 1250, 2500, 4000]
    assert bin_edges(10000, 20) == [20, 1000, 2500, 5000, 8000]
    assert bin_edges(20000, 50) == [50, 1000, 5000, 10000, 16000]


def _check_bins(rows):
    for row, meta in rows:
        le, ls = row["length"], int(row["variant"][2:])
        edges = bin_edges(le, ls)
        assert meta["bin_edges"] == edges
        k = meta["bin_index"]
        assert row["bin"] == str(k) and 1 <= k <= 4 and meta["distance_bin"] == edges[k]
        # open bins: strictly between the edges (SORT drops a draw on the upper edge)
        assert edges[k - 1] < meta["distance"] < edges[k], (row["probe_id"], meta["distance"], edges)
        assert meta["distance"] == meta["seg2_pos"] - meta["seg1_pos"]


def test_every_pair_lands_in_its_declared_bin(narr_all):
    rows = probe_rows(narr_all[1])
    _check_bins(rows)
    assert {row["bin"] for row, _ in rows} == {"1", "2", "3", "4"}


def test_extended_lengths_use_the_1000_word_near_bin():
    episodes, probes = generate("lengths=10000", "books=1", "book_words=14000", "excerpts=3", "heldout=0",
                                variants=["ls20"])
    rows = probe_rows(probes)
    assert len(rows) == 12
    _check_bins(rows)
    for row, meta in rows:
        assert meta["bin_edges"] == [20, 1000, 2500, 5000, 8000]
    text = episodes.to_pylist()[0]["text"]
    for row, meta in rows:
        check_geometry(text, row, meta)


# --- 3. counts and splits ------------------------------------------------------------------------


def _groups(rows):
    groups = collections.defaultdict(list)
    for row, meta in rows:
        groups[(row["episode_id"], row["length"], row["variant"], row["bin"])].append((row, meta))
    return groups


def test_fixed_counts_per_bin_and_disjoint_splits(narr_all):
    test_eps, test_probes = generate(*SMALL)
    held_eps, held_probes = generate(*SMALL, "split=heldout")
    test, held, every = probe_rows(test_probes), probe_rows(held_probes), probe_rows(narr_all[1])
    tg, hg, ag = _groups(test), _groups(held), _groups(every)
    assert len(tg) == len(hg) == len(ag) == 2 * 2 * 2 * 4
    for key in ag:
        assert len(tg[key]) == 50 and len(hg[key]) == 10 and len(ag[key]) == 60, key
        t_idx = {m["excerpt_idx"] for _, m in tg[key]}
        h_idx = {m["excerpt_idx"] for _, m in hg[key]}
        assert t_idx == set(range(50)) and h_idx == set(range(50, 60))
        assert all(m["split"] == "test" for _, m in tg[key]) and all(m["split"] == "heldout" for _, m in hg[key])
    # split=all is exactly the union of the other two (the same draws)
    assert {r["probe_id"]: r for r, _ in every} == {r["probe_id"]: r for r, _ in test + held}
    # every excerpt of a (book, L_E, L_S) starts at its own sentence
    starts = collections.defaultdict(set)
    for row, meta in every:
        starts[(row["episode_id"], row["length"], row["variant"])].add((meta["excerpt_idx"], meta["excerpt_words"][0]))
    for key, pairs in starts.items():
        assert len(pairs) == 60 and len({s for _, s in pairs}) == 60, key
    # probe ids are unique
    assert len({r["probe_id"] for r, _ in every}) == len(every)


def test_probe_columns(narr_all):
    for row, meta in probe_rows(narr_all[1]):
        assert row["family"] == "sort" and row["choices"] == ["A", "B"] and row["chance"] == 0.5
        assert row["metric"] == "choice_accuracy" and row["length"] == meta["excerpt_len"]
        assert row["variant"] == f"ls{meta['segment_len']}"
        assert row["gold"] == (["A"] if meta["present_seg1_first"] else ["B"])  # default asks for the first
        a, b = shown(meta)
        assert f'A: "{a}"' in row["question"] and f'B: "{b}"' in row["question"]


# --- 4. counterbalance ---------------------------------------------------------------------------


def test_ab_counterbalance(narr_all):
    rows = probe_rows(narr_all[1])
    assert len(rows) >= 1000
    share = sum(m["present_seg1_first"] for _, m in rows) / len(rows)
    assert 0.45 <= share <= 0.55
    gold_a = sum(r["gold"] == ["A"] for r, _ in rows) / len(rows)
    assert 0.45 <= gold_a <= 0.55
    per_split = collections.defaultdict(list)
    for row, meta in rows:
        per_split[(row["episode_id"], row["length"], row["variant"], row["bin"], meta["split"])].append(meta)
    for key, metas in per_split.items():
        assert len(metas) % 2 == 0
        assert sum(m["present_seg1_first"] for m in metas) == len(metas) // 2, key


def test_counterbalance_with_odd_counts_differs_by_at_most_one():
    rows = probe_rows(generate("lengths=250", "books=1", "book_words=3000", "excerpts=7", "heldout=3",
                               "split=all", variants=["ls20"])[1])
    per = collections.defaultdict(list)
    for row, meta in rows:
        per[(row["bin"], meta["split"])].append(meta["present_seg1_first"])
    assert sorted(len(v) for v in per.values()) == [3] * 4 + [7] * 4
    for key, flags in per.items():
        assert abs(sum(flags) - (len(flags) - sum(flags))) == 1, key


# --- 5. determinism, tokens ----------------------------------------------------------------------


def test_generation_is_deterministic_through_the_cli(tmp_path):
    args = ["generate", "sort", "-p", "lengths=250", "-p", "books=1", "-p", "book_words=3000", "-p", "excerpts=5",
            "-p", "heldout=2", "--tokenizer", "approx"]
    a = lbs(*args, "--seed", "4", "-o", tmp_path / "a", env={"PYTHONHASHSEED": "1"})
    b = lbs(*args, "--seed", "4", "-o", tmp_path / "b", env={"PYTHONHASHSEED": "2"})
    c = lbs(*args, "--seed", "5", "-o", tmp_path / "c")
    assert a.returncode == b.returncode == c.returncode == 0, a.stderr + b.stderr + c.stderr
    for name in ("episodes.parquet", "probes.parquet", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    ma, mc = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("a", "c"))
    assert ma["content_hash"] == json.loads((tmp_path / "b" / "manifest.json").read_text())["content_hash"]
    assert ma["content_hash"] != mc["content_hash"]
    pa_, pc = (pl.read_parquet(tmp_path / d / "probes.parquet") for d in ("a", "c"))
    assert pa_.height == pc.height == 2 * 4 * 5
    assert pa_.get_column("question").to_list() != pc.get_column("question").to_list()


def test_lengths_in_tokens():
    episodes, probes = generate("lengths=250,1000", "books=1", "book_words=6000", "excerpts=10", "heldout=0",
                                "unit=tokens", variants=["ls20"])
    words = episodes.to_pylist()[0]["text"].split()
    counts = [TOK.count(" " + w) for w in words]
    rows = probe_rows(probes)
    assert len(rows) == 2 * 4 * 10
    closeness = []
    for row, meta in rows:
        assert meta["unit"] == "tokens"
        le = row["length"]
        s, e = meta["excerpt_words"]
        n = sum(counts[s:e])
        assert n <= le
        assert e == len(words) or n + counts[e] > le  # as long as fits
        closeness.append(n / le)
        a1, a2 = s + meta["seg1_pos"], s + meta["seg2_pos"]
        assert meta["distance"] == sum(counts[a1:a2])
        edges = bin_edges(le, 20)
        k = meta["bin_index"]
        assert edges[k - 1] < meta["distance"] < edges[k] == meta["distance_bin"]
        seg_words = meta["segment_1"].split()
        assert seg_words == words[a1 : a1 + len(seg_words)]
        assert sum(counts[a1 : a1 + len(seg_words)]) <= 20 < sum(counts[a1 : a1 + len(seg_words) + 1])
        assert a2 >= a1 + len(seg_words)  # no overlap in tokens either
    assert min(closeness) > 0.95
    # in tokens the excerpts hold fewer words than L_E
    assert all(m["excerpt_words"][1] - m["excerpt_words"][0] < r["length"] for r, m in rows)


def test_lengths_in_tokens_match_a_real_tokenizer():
    """With the embedded model's tokenizer, an excerpt of L_E tokens (paragraph breaks included)
    tokenizes to L_E within 2%: counts are summed per word, never re-tokenized in a loop."""
    from longbench_suite.tokens import load_tokenizer

    tok = load_tokenizer("embedded")
    episodes, probes = generate("lengths=250,1000", "books=1", "book_words=6000", "excerpts=10", "heldout=0",
                                "unit=tokens", variants=["ls20"], tokenizer=tok)
    text = episodes.to_pylist()[0]["text"]
    for row, meta in probe_rows(probes):
        c0, c1 = meta["excerpt_span"]
        assert abs(tok.count(text[c0:c1]) - row["length"]) <= 0.02 * row["length"], (row["length"], meta)


# --- 6. baselines --------------------------------------------------------------------------------


def test_oracle_and_constant_baselines(narr_ds, tmp_path):
    m = run_dataset(narr_ds, "oracle", tmp_path / "oracle")
    assert m["status"] == "complete" and m["counts"]["errors"] == 0
    agg = pl.read_parquet(tmp_path / "oracle" / "aggregates.parquet").filter(pl.col("metric") == "choice_accuracy")
    assert agg.height > 10 and agg.get_column("mean").min() == 1.0
    assert overall(tmp_path / "oracle")["n"] == 800
    for letter in ("A", "B"):
        run_dataset(narr_ds, f"constant,text={letter}", tmp_path / letter)
        assert overall(tmp_path / letter)["mean"] == 0.5
        assert overall(tmp_path / letter, "invalid")["mean"] == 0.0
        cells = pl.read_parquet(tmp_path / letter / "aggregates.parquet").filter(
            (pl.col("metric") == "choice_accuracy") & pl.col("bin").is_not_null())
        assert cells.height > 0 and set(cells.get_column("mean").to_list()) == {0.5}
    a, b = scores(tmp_path / "A"), scores(tmp_path / "B")
    assert all(a[p] + b[p] == 1.0 for p in a)


def test_random_sits_at_chance(narr_ds, tmp_path):
    # The guesses are a fixed function of (seed, probe id), so any one seed is one draw: on this set
    # seed 0 scores 0.4575, a 2.4 sigma draw. Chance is checked at 99.9% (3.29 sigma), not by picking a seed.
    res = lbs("run", narr_ds, "-s", "random", "-o", tmp_path / "random", "--no-cache", "--seed", "0")
    assert res.returncode == 0, res.stderr
    row = overall(tmp_path / "random")
    assert row["n"] == 800
    assert abs(row["mean"] - 0.5) <= 3.29 * (0.25 / row["n"]) ** 0.5
    assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["ci_high"] - row["ci_low"] < 0.1


def test_last_template_flips_gold_and_oracle_still_perfect(narr_ds, tmp_path):
    out = tmp_path / "last"
    generate_dataset("sort", out, ["ls20", "ls50"], ["lengths=250,1000", "books=1", "book_words=6000",
                                                    "excerpts=50", "heldout=10", "prompt=last"], seed=0)
    first = {r["probe_id"]: r for r in io.Dataset(narr_ds).probes.to_pylist()}
    last = {r["probe_id"]: r for r in io.Dataset(out).probes.to_pylist()}
    assert first.keys() == last.keys()
    flip = {"A": "B", "B": "A"}
    for pid, row in last.items():
        assert row["gold"] == [flip[first[pid]["gold"][0]]], pid
        assert "appeared later" in row["question"] and "appeared first" in first[pid]["question"]
        m1, m2 = json.loads(first[pid]["meta"]), json.loads(row["meta"])
        assert (m1["segment_1"], m1["present_seg1_first"]) == (m2["segment_1"], m2["present_seg1_first"])
    run_dataset(out, "oracle", tmp_path / "oracle")
    assert overall(tmp_path / "oracle")["mean"] == 1.0
    run_dataset(out, "constant,text=A", tmp_path / "const")
    assert overall(tmp_path / "const")["mean"] == 0.5


# --- 7. scoring ----------------------------------------------------------------------------------

ROW_A = {"choices": ["A", "B"], "gold": ["A"], "metric": "choice_accuracy"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A", "A"), (" B", "B"), ("(A)", "A"), ("**B**", "B"), ("Fragment A appeared first.", "A"),
        ("The answer is B.", "B"), ("A fragment of text", None), ("A or B", None), ("Both A and B", None),
        ("", None), ("A is first", "A"),
    ],
)
def test_parse_choice(text, expected):
    assert metrics.parse_choice(text, ["A", "B"]) == expected


@pytest.mark.parametrize("text", ["A first, then B", "A before B", "A then B", "I choose A over B."])
def test_parse_choice_never_returns_the_other_letter(text):
    assert metrics.parse_choice(text, ["A", "B"]) in ("A", None)


def test_score_prefers_logprobs_then_parse():
    s = FAMILY.score("B", ROW_A, {"A": -0.1, "B": -2.0})
    assert s["choice_accuracy"] == 1.0 and s["parse_accuracy"] == 0.0 and s["invalid"] == 0.0
    s = FAMILY.score("A", ROW_A, {"A": -3.0, "B": -0.5})
    assert s["choice_accuracy"] == 0.0 and s["parse_accuracy"] == 1.0
    s = FAMILY.score("Fragment A appeared first.", ROW_A, None)
    assert s == {"choice_accuracy": 1.0, "parse_accuracy": 1.0, "invalid": 0.0}
    s = FAMILY.score("The answer is B.", ROW_A)
    assert s == {"choice_accuracy": 0.0, "parse_accuracy": 0.0, "invalid": 0.0}
    s = FAMILY.score("A quiet evening by the river", ROW_A, None)
    assert s == {"choice_accuracy": 0.0, "parse_accuracy": 0.0, "invalid": 1.0}
    # log-probs that name no label fall back to the text
    s = FAMILY.score("A", ROW_A, {"C": 0.0})
    assert s["choice_accuracy"] == 1.0 and s["invalid"] == 0.0
    assert list(FAMILY.score("A", ROW_A))[0] == "choice_accuracy"  # the primary metric first
    assert metrics.choice_from_logprobs({"A": -1.0, "B": -1.0}, ["A", "B"]) is None
    assert metrics.choice_accuracy("B", ["B"], ["A", "B"]) == 1.0 and metrics.choice_accuracy("", ["B"], ["A", "B"]) == 0.0


# --- 8. conditions -------------------------------------------------------------------------------


def test_conditions_render_the_excerpt_only_in_context(narr_all):
    episodes, probes = narr_all
    books = {eid: FAMILY.episode(r) for eid, r in episodes_by_id(episodes).items()}
    for row, meta in probe_rows(probes)[::37]:
        ep = books[row["episode_id"]]
        c0, c1 = meta["excerpt_span"]
        excerpt = ep.text[c0:c1]
        p = FAMILY.probe(row, ep, Condition.IN_CONTEXT)
        assert p.context is not None and excerpt in p.context and p.question == row["question"]
        assert ep.meta["title"] in p.context and p.context.endswith(excerpt)
        assert excerpt in p.prompt_text() and p.prompt_text().endswith(row["question"])
        for cond in (Condition.IN_MEMORY, Condition.NO_CONTEXT):
            q = FAMILY.probe(row, ep, cond)
            assert q.context is None and q.prompt_text() == row["question"]
            assert excerpt not in q.prompt_text()
            a, b = shown(meta)
            assert a in q.question and b in q.question


def test_recall_prompt_asks_its_memory_question_out_of_context():
    episodes, probes = generate("lengths=250", "books=1", "book_words=3000", "excerpts=4", "heldout=0",
                                "prompt=recall", variants=["ls20"])
    ep = FAMILY.episode(episodes.to_pylist()[0])
    template = Template.load("recall")
    for row, meta in probe_rows(probes):
        a, b = shown(meta)
        memory_q = template.render_question(ep.meta["title"], a, b, memory=True)
        assert memory_q != row["question"] and "From your memory" in memory_q
        assert FAMILY.probe(row, ep, Condition.IN_CONTEXT).question == row["question"]
        assert FAMILY.probe(row, ep, Condition.IN_MEMORY).question == memory_q
        assert FAMILY.probe(row, ep, Condition.NO_CONTEXT).question == memory_q


def test_in_memory_system_ingests_the_whole_book(tmp_path):
    from longbench_suite import registry
    from longbench_suite.protocol import Answer, MemorySystem

    data = tmp_path / "ds"
    generate_dataset("sort", data, ["ls20"], ["lengths=250", "books=2", "book_words=3000", "excerpts=3",
                                             "heldout=0"], seed=1)
    events, ingested, seen = [], {}, []

    class SortSpy(MemorySystem):
        name = "sortspy"
        concurrent_episodes = False

        async def reset(self):
            events.append("reset")

        async def ingest(self, episode):
            events.append("ingest")
            ingested[episode.episode_id] = episode

        async def answer(self, probe):
            events.append("answer")
            seen.append(probe)
            return Answer(text="A")

    registry.system_factories()["sortspy"] = lambda spec, ctx: SortSpy()
    try:
        m = run_dataset(data, "sortspy", tmp_path / "run", condition=Condition.IN_MEMORY)
    finally:
        registry.system_factories().pop("sortspy")
    assert m["condition"] == "in-memory" and m["counts"]["errors"] == 0
    ds = io.Dataset(data)
    books = episodes_by_id(ds.episodes)
    rows = {r["probe_id"]: r for r in ds.probes.to_pylist()}
    assert ingested.keys() == books.keys() and len(books) == 2
    for eid, ep in ingested.items():
        assert ep.text == books[eid]["text"] and len(ep.text.split()) >= 3000
        assert ep.meta == {}
    assert events == (["reset", "ingest"] + ["answer"] * 12) * 2
    assert len(seen) == 24
    for p in seen:
        row = rows[p.probe_id]
        meta = json.loads(row["meta"])
        assert p.context is None and p.meta == {} and p.gold is None
        assert p.question == row["question"]
        c0, c1 = meta["excerpt_span"]
        assert books[p.episode_id]["text"][c0:c1] not in p.prompt_text()
        assert books[p.episode_id]["text"][c0:c1] in ingested[p.episode_id].text


# --- 9. official Book-SORT files -----------------------------------------------------------------


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames), rows


def _excerpt(text: str, start: int, n: int) -> str:
    spans = word_spans(text)
    return text[spans[start][0] : spans[start + n - 1][1]]


def _official_dir(root: Path) -> tuple[Path, dict]:
    """Book-SORT's layout: a shared books.csv and one excerpts/segments pair per (L_E, L_S).
    Returns the directory and the expected gold / excerpt text per (suffix, row number)."""
    root.mkdir()
    books = [narrative(71, 1500), narrative(72, 1500)]
    _write_csv(root / "books.csv", ["book_idx", "book_title", "book_text", "author"],
               [{"book_idx": str(i), "book_title": t, "book_text": x, "author": f"Anon {i}"} for i, (t, x) in enumerate(books)])
    texts = [x for _, x in books]
    words = [x.split() for x in texts]
    expected: dict[tuple[str, int], dict] = {}

    def group(suffix, le, ls, excerpts, segments):
        ex_rows, ex_text = [], {}
        for b, idx, start, verbatim in excerpts:
            text = _excerpt(texts[b], start, le) if verbatim else " ".join(words[b][start : start + le])
            assert (text in texts[b]) == verbatim
            ex_text[(b, idx)] = (text, start)
            ex_rows.append({"book_idx": str(b), "excerpt_idx": str(idx), "excerpt_text": text, "excerpt_start": str(start)})
        _write_csv(root / f"excerpts{suffix}.csv", ["book_idx", "excerpt_idx", "excerpt_text", "excerpt_start"], ex_rows)
        seg_rows = []
        for n, (b, idx, p1, p2, k, present, gold) in enumerate(segments):
            text, start = ex_text[(b, idx)]
            seg = lambda p: " ".join(words[b][start + p : start + p + ls])  # noqa: E731
            seg_rows.append({
                "book_idx": str(b), "excerpt_idx": str(idx), "segment_1": seg(p1), "segment_2": seg(p2),
                "seg1_pos": str(p1), "seg2_pos": str(p2), "distance_bin": str(k), "present_seg1_first": present,
                "note": f"row {n}, comma, \"quoted\"",
            })
            expected[(suffix, n)] = {"gold": gold, "excerpt": text, "idx": idx, "a": seg(p1) if present == "True" else seg(p2)}
        _write_csv(root / f"segments{suffix}.csv", OFFICIAL_SEGMENT_COLUMNS + ["note"], seg_rows)

    # excerpt 1 of book 0 spans a paragraph break joined by one space: not a verbatim substring
    para_word = len(texts[0][: texts[0].index("\n\n")].split())
    group("_250_20", 250, 20,
          [(0, 0, 0, True), (0, 1, max(para_word - 100, 0), False), (0, 100, 300, True), (1, 0, 40, True), (1, 101, 700, True)],
          [
              (0, 0, 5, 60, 1, "True", "A"),
              (0, 0, 5, 150, 3, "False", "B"),
              (0, 1, 100, 30, 2, "True", "B"),  # seg1_pos > seg2_pos: segment_1 is the later one
              (0, 1, 120, 10, 3, "False", "A"),
              (0, 100, 0, 200, 4, "True", "A"),
              (1, 0, 20, 90, 2, "False", "B"),
              (1, 101, 30, 220, 4, "True", "A"),
          ])
    group("_1000_50", 1000, 50,
          [(0, 0, 10, True), (1, 105, 100, True)],
          [(0, 0, 0, 400, 2, "False", "B"), (1, 105, 50, 700, 4, "True", "A"), (1, 105, 600, 100, 4, "True", "B")])
    return root, expected


def test_official_import_export_round_trip(tmp_path):
    src, expected = _official_dir(tmp_path / "official")
    data, back = tmp_path / "ds", tmp_path / "back"
    res = lbs("import", "book-sort", src, "-o", data)
    assert res.returncode == 0, res.stderr
    ds = io.Dataset(data)
    assert ds.manifest["family"] == "sort" and ds.manifest["variants"] == ["ls20", "ls50"]
    episodes = {eid: FAMILY.episode(r) for eid, r in episodes_by_id(ds.episodes).items()}
    assert {e.meta["title"] for e in episodes.values()} == {narrative(71, 1500)[0], narrative(72, 1500)[0]}
    rows = probe_rows(ds.probes)
    assert len(rows) == len(expected) == 10
    for row, meta in rows:
        suffix, n = meta["suffix"], int(row["probe_id"].rsplit("/r", 1)[1])
        exp = expected[(suffix, n)]
        assert row["gold"] == [exp["gold"]], (suffix, n)
        assert row["variant"] == {"_250_20": "ls20", "_1000_50": "ls50"}[suffix]
        assert row["length"] == {"_250_20": 250, "_1000_50": 1000}[suffix]
        assert f'A: "{exp["a"]}"' in row["question"]
        assert meta["split"] == ("test" if exp["idx"] < 100 else "heldout")
        p = FAMILY.probe(row, episodes[row["episode_id"]], Condition.IN_CONTEXT)
        assert exp["excerpt"] in p.context
        assert FAMILY.probe(row, episodes[row["episode_id"]], Condition.IN_MEMORY).context is None
    # the episodes hold the whole books (what in-memory ingests)
    assert episodes["sort-b0"].text == narrative(71, 1500)[1]

    res = lbs("export", "book-sort", data, "-o", back)
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in src.iterdir())
    assert sorted(p.name for p in back.iterdir()) == names == [
        "books.csv", "excerpts_1000_50.csv", "excerpts_250_20.csv", "segments_1000_50.csv", "segments_250_20.csv"]
    for name in names:
        assert _read_csv(back / name) == _read_csv(src / name), name


def test_official_import_split_and_bad_files(tmp_path):
    src, expected = _official_dir(tmp_path / "official")
    res = lbs("import", "book-sort", src, "-o", tmp_path / "test", "--split", "test")
    assert res.returncode == 0, res.stderr
    rows = probe_rows(io.Dataset(tmp_path / "test").probes)
    assert len(rows) == sum(1 for e in expected.values() if e["idx"] < 100) == 6
    assert all(m["excerpt_idx"] < 100 and m["split"] == "test" for _, m in rows)

    bad = tmp_path / "bad"
    bad.mkdir()
    for p in src.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    cols, seg_rows = _read_csv(bad / "segments_250_20.csv")
    cols.remove("present_seg1_first")
    _write_csv(bad / "segments_250_20.csv", cols, [{k: r[k] for k in cols} for r in seg_rows])
    line = one_line_error(lbs("import", "book-sort", bad, "-o", tmp_path / "out"))
    assert "present_seg1_first" in line
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_export_of_a_generated_dataset_reimports_to_the_same_probes(tmp_path):
    data = tmp_path / "gen"
    generate_dataset("sort", data, ["ls20"], ["lengths=250", "books=1", "book_words=3000", "excerpts=6",
                                             "heldout=0"], seed=2)
    res = lbs("export", "book-sort", data, "-o", tmp_path / "off")
    assert res.returncode == 0, res.stderr
    # SORT's names and columns (with pandas' unnamed index column); the book text beside them
    assert sorted(p.name for p in (tmp_path / "off").iterdir()) == [
        "book_texts", "books_250-s20-n6.csv", "excerpts_250-s20-n6.csv", "segments_250-s20-n6.csv"]
    assert [p.name for p in (tmp_path / "off" / "book_texts").iterdir()] == ["0.txt"]
    assert _read_csv(tmp_path / "off" / "books_250-s20-n6.csv")[0] == ["", "book_idx", "book_title", "num_words"]
    ex_cols, ex_rows = _read_csv(tmp_path / "off" / "excerpts_250-s20-n6.csv")
    seg_cols, seg_rows = _read_csv(tmp_path / "off" / "segments_250-s20-n6.csv")
    assert ex_cols == ["", "book_idx", "excerpt_idx", "excerpt_pos", "excerpt_text"] and len(ex_rows) == 6
    assert seg_cols == ["", "book_idx", "excerpt_idx", "segment_idx", "segment_1", "segment_2", "seg1_pos", "seg2_pos",
                        "distance_bin", "present_seg1_first"] and len(seg_rows) == 24
    assert all(len(r["excerpt_text"].split()) == 250 for r in ex_rows)
    assert {r["distance_bin"] for r in seg_rows} == {"62", "83", "125", "200"}
    assert {r["present_seg1_first"] for r in seg_rows} == {"0", "1"}

    res = lbs("import", "book-sort", tmp_path / "off", "-o", tmp_path / "again")
    assert res.returncode == 0, res.stderr
    orig, again = io.Dataset(data), io.Dataset(tmp_path / "again")
    ep_o = FAMILY.episode(orig.episodes.to_pylist()[0])
    ep_a = FAMILY.episode(again.episodes.to_pylist()[0])
    assert ep_o.text == ep_a.text and ep_o.meta["title"] == ep_a.meta["title"]

    def keyed(ds, ep):
        out = {}
        for row, meta in probe_rows(ds.probes):
            ctx = FAMILY.probe(row, ep, Condition.IN_CONTEXT).context
            out[(row["variant"], row["length"], meta["excerpt_idx"], meta["distance_bin"])] = (row["question"], row["gold"], ctx)
        return out

    a, b = keyed(orig, ep_o), keyed(again, ep_a)
    assert len(a) == 24 and a == b


# --- 10. bad input -------------------------------------------------------------------------------


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    no_excerpt = inputs / "bad_prompt.toml"
    no_excerpt.write_text('context = "Read the book {title}."\nquestion = "Which first? A: {segment_a} B: {segment_b}"\n')
    book = inputs / "book.txt"
    book.write_text(fake_gutenberg("Short Book", chapters=2, paragraphs=3))
    out = tmp_path / "out"
    gen = ["generate", "sort", "-o", out, "-p", "books=1", "-p", "book_words=3000"]
    cases = {
        "unknown variant": gen + ["-v", "foo"],
        "L_E too short for L_S": gen + ["-p", "lengths=100", "-v", "ls50"],
        "bad split": gen + ["-p", "split=bogus"],
        "prompt file without {excerpt}": gen + ["-p", f"prompt={no_excerpt}"],
        "missing text file": ["build", "book-sort", "--text", inputs / "missing.txt", "-o", out],
        "neither text nor dataset": ["build", "book-sort", "-o", out],
        "build with bad variant": ["build", "book-sort", "--text", book, "-o", out, "-v", "foo"],
    }
    for name, args in cases.items():
        line = one_line_error(lbs(*args))
        if name == "prompt file without {excerpt}":
            assert "{excerpt}" in line
        if name == "L_E too short for L_S":
            assert "100" in line
        assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"], f"{name} left output behind"


# --- 11. datasets ---------------------------------------------------------------------------------


def _books_parquet(path: Path) -> list[tuple[str, str]]:
    books = [narrative(81, 1500), narrative(82, 1500)]
    table = pa.table({"text": [x for _, x in books] + [""], "title": ["First Book", "Second Book", "Empty"],
                      "other": [1, 2, 3]})
    pq.write_table(table, path)
    return books


def test_books_from_a_local_parquet_dataset(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    path = tmp_path / "books.parquet"
    raw = _books_parquet(path)
    books = books_from_dataset(str(path), "text", "title")
    assert [b.title for b in books] == ["First Book", "Second Book"]  # the empty row is dropped
    assert [b.source for b in books] == ["dataset:books.parquet#0", "dataset:books.parquet#1"]
    for book, (_, text) in zip(books, raw):
        assert book.text.split() == text.split()
        assert book.n_words == len(text.split())
    untitled = books_from_dataset(str(path), "text")
    assert [b.title for b in untitled] == ["books.parquet #0", "books.parquet #1"]
    from longbench_suite.errors import UserError

    with pytest.raises(UserError, match="no column"):
        books_from_dataset(str(path), "body")


def test_build_book_sort_from_a_parquet_dataset(tmp_path):
    path = tmp_path / "books.parquet"
    raw = _books_parquet(path)
    env = {"HF_DATASETS_CACHE": str(tmp_path / "hf-cache"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "ds"
    res = lbs("build", "book-sort", "--dataset", path, "--column", "text", "--title-column", "title", "-o", out,
              "-v", "ls20", "-p", "lengths=250", "-p", "excerpts=4", "-p", "heldout=0", env=env)
    assert res.returncode == 0, res.stderr
    ds = io.Dataset(out)
    assert [s["title"] for s in ds.manifest["sources"]] == ["First Book", "Second Book"]
    eps = episodes_by_id(ds.episodes)
    assert [json.loads(e["meta"])["title"] for e in eps.values()] == ["First Book", "Second Book"]
    assert [e["text"].split() for e in eps.values()] == [x.split() for _, x in raw]
    rows = probe_rows(ds.probes)
    assert len(rows) == 2 * 4 * 4
    for row, meta in rows:
        title = json.loads(eps[row["episode_id"]]["meta"])["title"]
        assert f'"{title}"' in row["question"]
        check_geometry(eps[row["episode_id"]]["text"], row, meta)
    line = one_line_error(lbs("build", "book-sort", "--dataset", path, "--column", "body", "-o", tmp_path / "out2", env=env))
    assert "body" in line and not (tmp_path / "out2").exists()


def test_books_from_files_takes_title_from_header_or_file_name(tmp_path):
    a = tmp_path / "pg1.txt"
    a.write_text(fake_gutenberg("A Tale Of Two Lanterns", chapters=2, paragraphs=3, seed=1))
    b = tmp_path / "my_plain-story.txt"
    b.write_text(narrative(9, 800)[1])
    ba, bb = books_from_files([a, b])
    assert ba.title == "A Tale Of Two Lanterns" and ba.source == "file:pg1.txt"
    assert bb.title == "my plain story" and bb.source == "file:my_plain-story.txt"
    assert bb.text.split() == narrative(9, 800)[1].split()
