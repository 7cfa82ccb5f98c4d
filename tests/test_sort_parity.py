"""SORT / Book-SORT parity with SORT's code (bridge-ai-neuro/SORT @ ba13631): bin edges, open bounds,
the sentence rule, the published CSV and Hugging Face parquet layouts, byte-identical round trips, and
files SORT's own evaluation loader reads. Expected values are derived by hand from the rules (each
derivation is in a comment); no official file is copied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_builders.book_sort import _pick_pair, bin_edges, bin_index, book_from_text, ends_sentence, find_sentence_starts
from lbs_testutil import lbs, one_line_error
from longbench_suite import io
from longbench_suite.generate import generate_dataset

# --- 1. bins ---------------------------------------------------------------------------------------

# SORT (run_booksort_creation.py): below L_E 5000 the edges are [L_S, L_E // 4, L_E // 3, L_E // 2,
# int(L_E // 1.25)], from 5000 on [L_S, 1000, L_E // 4, L_E // 2, int(L_E // 1.25)]. By hand:
#   250:   250/4 = 62.5 -> 62;  250/3 = 83.3 -> 83;  250/2 = 125;  250/1.25 = 200
#   1000:  250;  1000/3 = 333.3 -> 333;  500;  1000/1.25 = 800
#   2500:  625;  2500/3 = 833.3 -> 833;  1250;  2500/1.25 = 2000
#   10000: extended: 1000;  2500;  5000;  10000/1.25 = 8000
#   20000: extended: 1000;  5000;  10000;  20000/1.25 = 16000
HAND_EDGES = {250: [62, 83, 125, 200], 1000: [250, 333, 500, 800], 2500: [625, 833, 1250, 2000],
              10000: [1000, 2500, 5000, 8000], 20000: [1000, 5000, 10000, 16000]}


@pytest.mark.parametrize("excerpt_len", sorted(HAND_EDGES))
@pytest.mark.parametrize("segment_len", [20, 50])
def test_bin_edges_are_sorts_integer_edges(excerpt_len, segment_len):
    edges = bin_edges(excerpt_len, segment_len)
    assert edges == [segment_len] + HAND_EDGES[excerpt_len]
    assert all(type(e) is int for e in edges)
    # a bin is named by its right edge; its index counts from the nearest
    assert [bin_index(excerpt_len, segment_len, e) for e in HAND_EDGES[excerpt_len]] == [1, 2, 3, 4]
    assert bin_index(excerpt_len, segment_len, segment_len) is None


def test_extended_bins_switch_at_5000_and_top_edge_stays_inside_the_excerpt():
    # 4999 < 5000: standard bins, 4999 // 4 = 1249, // 3 = 1666, // 2 = 2499, 4999 / 1.25 = 3999.2 -> 3999
    assert bin_edges(4999, 20) == [20, 1249, 1666, 2499, 3999]
    assert bin_edges(5000, 20) == [20, 1000, 1250, 2500, 4000]
    for le in (250, 300, 1001, 2501, 7777, 10000, 20001):
        assert bin_edges(le, 20)[-1] == int(le // 1.25) < le  # the data card's L_E / 0.8 would exceed L_E


def _all_picks(rel: list[int], lo: int, hi: int, tries: int = 400) -> set[int]:
    rng = np.random.default_rng(0)
    arr = np.asarray(rel)
    out = set()
    for _ in range(tries):
        pick = _pick_pair(arr, lo, hi, rng)
        if pick is None:
            return set()
        i, j = pick
        assert i < j
        out.add(int(arr[j] - arr[i]))
    return out


def test_bins_are_open_at_both_edges():
    # L_E 250, L_S 20, bin 1 = (20, 62): starts at 0, 20, 62 give distances 20, 62 and 42; only 42 is
    # strictly inside (20 = L_S: adjacent segments; 62: on the upper edge, which SORT drops)
    assert _all_picks([0, 20, 62], 20, 62) == {42}
    # only edge distances: no pair at all
    assert _all_picks([0, 20, 40], 20, 40) == set()
    assert _all_picks([0, 62], 20, 62) == set()
    # d = L_S + 1 and d = hi - 1 are in
    assert _all_picks([0, 21, 82], 20, 62) == {21, 61}


def test_pair_draw_reaches_partners_before_and_after():
    # start 100 has partners at 30 (before, d 70) and 175 (after, d 75) in (62, 83): both are drawn
    assert _all_picks([30, 100, 175], 62, 83) >= {70, 75}


def test_generated_bin4_pairs_lie_in_sorts_range(tmp_path):
    data = tmp_path / "gen"
    generate_dataset("sort", data, ["ls20", "ls50"], ["lengths=250,1000", "books=1", "book_words=5000", "excerpts=30",
                                                     "heldout=0"], seed=3)
    rows = [json.loads(m) for m in io.Dataset(data).probes.column("meta").to_pylist()]
    far = [m for m in rows if m["bin_index"] == 4]
    assert len(far) == 2 * 2 * 30
    for m in far:
        le, ls = m["excerpt_len"], m["segment_len"]
        assert le // 2 < m["distance"] < int(le // 1.25) == m["distance_bin"]
        assert m["seg2_pos"] < le - ls  # SORT: a segment starts below L_E - L_S


# --- 2. sentence starts ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, starts", [
    # SORT: the word before holds . ? ! or ; (and is no abbreviation)
    ("He left. She stayed; they waited. Done", ["He", "She", "they", "Done"]),
    ("“Mr. Bates came,” said he. Then", ["“Mr.", "Then"]),  # “Mr. is a title after a quote
    ("See the plan (Fig. 2) of the house. It", ["See", "It"]),  # (Fig. inside a bracket
    ("Ask Dr. Watson and mrs. Hudson. Now", ["Ask", "Now"]),  # SORT's own three, any case
    ("Signed J. B. S. Haldane today. Yes", ["Signed", "Yes"]),  # capital initials
    ("Why? “Because!” he said. Go", ["Why?", "“Because!”", "he", "Go"]),  # a marker inside quotes ends it
])
def test_sentence_starts(text, starts):
    words = text.split()
    assert [words[i] for i in find_sentence_starts(words)] == starts


def test_abbreviation_words_themselves():
    assert not ends_sentence("“Mr.") and not ends_sentence("(Fig.") and not ends_sentence("Dr.")
    assert ends_sentence("no.") and ends_sentence("etc.") and ends_sentence("gone?”") and ends_sentence("so;")
    assert not ends_sentence("word,") and not ends_sentence("“Hello")


def test_book_sentence_starts_follow_the_rule_across_paragraphs():
    book = book_from_text("T", "One two. “Mr. Bates\n\nsaid so; then\n\nleft", "test", clean=False)
    words = book.text.split()
    assert [words[i] for i in book.sentence_starts] == ["One", "“Mr.", "then"]  # a paragraph break is no marker


# --- 3. the published CSV layout: import, byte-identical export -----------------------------------


BOOKS = [(72578, "Tom Swift And His Talking Pictures", 43742), (72600, "The Trumpeter Of Krakow", 58970)]


def _words(book: int, start: int, n: int) -> str:
    return " ".join(f"w{book}x{i}" for i in range(start, start + n))


def _sort_frames(le: int = 250, ls: int = 20, n: int = 102) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Frames shaped as SORT's script builds them: excerpts 0..n-1 per book, one pair per bin
    (right edges as names), segment_1 the earlier, 0/1 flags, float positions."""
    edges = bin_edges(le, ls)
    books = pd.DataFrame({"book_idx": [b for b, _, _ in BOOKS], "book_title": [t for _, t, _ in BOOKS],
                          "num_words": [w for _, _, w in BOOKS]})
    ex, seg = [], []
    for b, _, total in BOOKS:
        for x in range(n):
            start = (x * 97) % (total - le)
            text = _words(b, start, le)
            if x == 3:
                text = 'He said, "Wait, the coach, it\'s late."\n' + text  # commas, quotes, a newline
            ex.append({"book_idx": b, "excerpt_idx": x, "excerpt_pos": start / total, "excerpt_text": text})
        for k in range(4):
            lo, hi = edges[k], edges[k + 1]
            for x in range(n):
                p1 = x % 30
                p2 = p1 + (lo + hi) // 2
                seg.append({"book_idx": b, "excerpt_idx": x, "segment_idx": 0, "segment_1": _words(b, p1, ls),
                            "segment_2": _words(b, p2, ls), "seg1_pos": p1, "seg2_pos": p2, "distance_bin": hi,
                            "present_seg1_first": (x + k) % 2})
    return books, pd.DataFrame(ex), pd.DataFrame(seg)


def _write_sort_csvs(root: Path, le: int = 250, ls: int = 20, n: int = 102, **to_csv) -> dict[str, bytes]:
    """The CSV files as SORT's script writes them: pandas' to_csv with its default index column."""
    root.mkdir(parents=True, exist_ok=True)
    books, ex, seg = _sort_frames(le, ls, n)
    out = {}
    for kind, frame in (("segments", seg), ("excerpts", ex), ("books", books)):
        path = root / f"{kind}_{le}-s{ls}-n{n}.csv"
        frame.to_csv(path, **to_csv)
        out[path.name] = path.read_bytes()
    return out


def test_real_layout_imports_with_bins_splits_and_titles(tmp_path):
    _write_sort_csvs(tmp_path / "src")
    res = lbs("import", "book-sort", tmp_path / "src", "-o", tmp_path / "ds")
    assert res.returncode == 0, res.stderr
    ds = io.Dataset(tmp_path / "ds")
    assert ds.manifest["variants"] == ["ls20"] and ds.manifest["official"]["layout"] == "csv"
    probes = ds.probes.to_pylist()
    assert len(probes) == 2 * 4 * 102
    metas = [json.loads(p["meta"]) for p in probes]
    # bins: the right edge stays SORT's name, the index sorts as a number (1 nearest .. 4)
    assert {(p["bin"], m["distance_bin"]) for p, m in zip(probes, metas)} == {("1", 62), ("2", 83), ("3", 125), ("4", 200)}
    # SORT's split: excerpts 0-99 test, 100 on its validation (our heldout)
    assert {m["split"] for m in metas if m["excerpt_idx"] < 100} == {"test"}
    assert {m["split"] for m in metas if m["excerpt_idx"] >= 100} == {"heldout"}
    # 0/1 flags; segment_1 is the earlier, so gold follows the flag
    for p, m in zip(probes, metas):
        assert m["present_seg1_first"] == bool(int(m["official"]["present_seg1_first"]))
        assert p["gold"] == (["A"] if m["present_seg1_first"] else ["B"])
    titles = {json.loads(e["meta"])["title"] for e in ds.episodes.to_pylist()}
    assert titles == {t for _, t, _ in BOOKS}
    assert {e["episode_id"] for e in ds.episodes.to_pylist()} == {"sort-b72578", "sort-b72600"}
    res = lbs("import", "book-sort", tmp_path / "src", "-o", tmp_path / "test", "--split", "test")
    assert res.returncode == 0, res.stderr
    assert io.Dataset(tmp_path / "test").probes.num_rows == 2 * 4 * 100


@pytest.mark.parametrize("to_csv", [{}, {"lineterminator": "\r\n"}], ids=["lf", "crlf"])
def test_real_layout_round_trip_is_byte_identical(tmp_path, to_csv):
    original = _write_sort_csvs(tmp_path / "src", **to_csv)
    assert b'"He said, ""Wait, the coach, it\'s late.""\n' in original["excerpts_250-s20-n102.csv"]
    assert lbs("import", "book-sort", tmp_path / "src", "-o", tmp_path / "ds").returncode == 0
    res = lbs("export", "book-sort", tmp_path / "ds", "-o", tmp_path / "back")
    assert res.returncode == 0, res.stderr
    back = {p.name: p.read_bytes() for p in (tmp_path / "back").iterdir()}
    assert back == original


def test_hand_written_csv_round_trip(tmp_path):
    """Three tiny files typed out in the layout pandas writes: index column, float, quoting."""
    src = tmp_path / "src"
    src.mkdir()
    files = {
        "books_250-s20-n1.csv": ",book_idx,book_title,num_words\n0,69087,The Murder Of Roger Ackroyd,69607\n",
        "excerpts_250-s20-n1.csv": (",book_idx,excerpt_idx,excerpt_pos,excerpt_text\n"
                                    '0,69087,0,0.12345678901234568,"One, two; ""three"" four."\n'),
        "segments_250-s20-n1.csv": (",book_idx,excerpt_idx,segment_idx,segment_1,segment_2,seg1_pos,seg2_pos,"
                                    "distance_bin,present_seg1_first\n"
                                    '0,69087,0,0,"One, two;",four.,0,3,62,0\n'),
    }
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    assert lbs("import", "book-sort", src, "-o", tmp_path / "ds").returncode == 0
    (probe,) = io.Dataset(tmp_path / "ds").probes.to_pylist()
    assert probe["bin"] == "1" and probe["gold"] == ["B"]  # segment_1 (earlier) shown second
    assert lbs("export", "book-sort", tmp_path / "ds", "-o", tmp_path / "back").returncode == 0
    assert {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "back").iterdir()} == files


# --- 4. the Hugging Face parquet layout -------------------------------------------------------------


def _hf_parquet(root: Path, le: int = 250, ls: int = 20, n: int = 102) -> pd.DataFrame:
    """data/test_e{L_E}_s{L_S}.parquet and validation_…, built with pyarrow: segments merged with their
    excerpt and book columns, plus segment_length and excerpt_length (SORT's script's columns)."""
    books, ex, seg = _sort_frames(le, ls, n)
    merged = seg.merge(ex, on=["book_idx", "excerpt_idx"]).merge(books, on="book_idx")
    merged["segment_length"] = merged["segment_1"].str.split().str.len()
    merged["excerpt_length"] = merged["excerpt_text"].str.split().str.len()
    (root / "data").mkdir(parents=True)
    for name, part in (("test", merged[merged["excerpt_idx"] < 100]), ("validation", merged[merged["excerpt_idx"] >= 100])):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), root / "data" / f"{name}_e{le}_s{ls}.parquet")
    return merged


def _sort_loader(directory: Path, le: int, ls: int, n: int, books: list[int]) -> pd.DataFrame:
    """What SORT's evaluation.py load_csv_dataset does with these files: read each with index_col=0,
    merge segments with excerpts on (book_idx, excerpt_idx), then with books on book_idx, keep books."""
    suffix = f"{le}-s{ls}-n{n}.csv"
    read = lambda kind: pd.read_csv(directory / f"{kind}_{suffix}", index_col=0)  # noqa: E731
    merged = pd.merge(read("segments"), read("excerpts"), on=["book_idx", "excerpt_idx"])
    merged = pd.merge(merged, read("books"), on="book_idx")
    return pd.concat([merged[merged["book_idx"] == b] for b in books], axis=0)


def test_hf_parquet_imports_and_exports_for_sorts_loader(tmp_path):
    merged = _hf_parquet(tmp_path / "hf")
    res = lbs("import", "book-sort", tmp_path / "hf", "-o", tmp_path / "ds")
    assert res.returncode == 0, res.stderr
    ds = io.Dataset(tmp_path / "ds")
    assert ds.manifest["official"]["layout"] == "parquet"
    probes = ds.probes.to_pylist()
    assert len(probes) == len(merged) == 2 * 4 * 102
    assert sorted({p["bin"] for p in probes}) == ["1", "2", "3", "4"]
    assert sum(json.loads(p["meta"])["split"] == "heldout" for p in probes) == 2 * 4 * 2
    res = lbs("export", "book-sort", tmp_path / "ds", "-o", tmp_path / "csv")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        "books_250-s20-n102.csv", "excerpts_250-s20-n102.csv", "segments_250-s20-n102.csv"]
    loaded = _sort_loader(tmp_path / "csv", 250, 20, 102, [b for b, _, _ in BOOKS])
    cols = [c for c in merged.columns if c not in ("segment_length", "excerpt_length")]
    key = ["book_idx", "distance_bin", "excerpt_idx"]
    got = loaded[cols].sort_values(key).reset_index(drop=True)
    want = merged[cols].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # and the exported CSVs are exactly what SORT's script writes from those frames
    books, ex, seg = _sort_frames()
    for kind, frame in (("books", books), ("excerpts", ex), ("segments", seg)):
        path = tmp_path / "csv" / f"{kind}_250-s20-n102.csv"
        assert path.read_text(encoding="utf-8") == frame.to_csv(), kind


def test_generated_export_is_read_by_sorts_loader(tmp_path):
    data = tmp_path / "gen"
    generate_dataset("sort", data, ["ls20"], ["lengths=250", "books=2", "book_words=3000", "excerpts=5", "heldout=1",
                                             "split=all"], seed=1)
    assert lbs("export", "book-sort", data, "-o", tmp_path / "csv").returncode == 0
    loaded = _sort_loader(tmp_path / "csv", 250, 20, 6, [0, 1])
    assert len(loaded) == 2 * 4 * 6
    assert set(loaded["present_seg1_first"]) == {0, 1} and set(loaded["distance_bin"]) == {62, 83, 125, 200}
    assert (loaded["seg1_pos"] < loaded["seg2_pos"]).all()
    for row in loaded.itertuples():
        assert row.segment_1 in " ".join(row.excerpt_text.split()) and len(row.segment_1.split()) == 20
        assert row.seg2_pos - row.seg1_pos < row.distance_bin


def test_bad_layouts_are_one_line_errors(tmp_path):
    (tmp_path / "odd").mkdir()
    for kind in ("books", "excerpts", "segments"):
        (tmp_path / "odd" / f"{kind}_x.csv").write_text(",book_idx,excerpt_idx,segment_1,segment_2,seg1_pos,seg2_pos,"
                                                        "distance_bin,present_seg1_first,excerpt_text\n", encoding="utf-8")
    line = one_line_error(lbs("import", "book-sort", tmp_path / "odd", "-o", tmp_path / "o1"))
    assert "cannot tell L_E and L_S" in line
    (tmp_path / "pq" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"book_idx": [1], "excerpt_idx": [0]}), tmp_path / "pq" / "data" / "test_e250_s20.parquet")
    line = one_line_error(lbs("import", "book-sort", tmp_path / "pq", "-o", tmp_path / "o2"))
    assert "lacks the Book-SORT columns" in line and "segment_1" in line
