"""Book-SORT's published files: import them into episodes and probes losslessly, and write them back.

Two layouts, as SORT's `run_booksort_creation.py` writes them (bridge-ai-neuro/SORT):
- CSV, what SORT's evaluation loader reads: per (L_E, L_S) `books_{L_E}-s{L_S}-n{N}.csv`,
  `excerpts_…` and `segments_…` (N excerpts per book, 110), each with pandas' leading unnamed index
  column. books: book_idx (the Gutenberg id), book_title (title-cased), num_words; excerpts: book_idx,
  excerpt_idx, excerpt_pos, excerpt_text; segments: book_idx, excerpt_idx, segment_idx, segment_1 (always
  the earlier segment), segment_2, seg1_pos, seg2_pos, distance_bin (the bin's right edge: 62, 83, 125,
  200 for L_E 250), present_seg1_first (0/1: segment_1 shown first). Our older names (`books.csv`
  shared, `excerpts_250_20.csv`) are read too.
- Parquet, the Hugging Face form (memari/booksort): `data/test_e{L_E}_s{L_S}.parquet` (excerpts 0-99)
  and `data/validation_e{L_E}_s{L_S}.parquet` (100-109), each row a segments row merged with its excerpt
  and book columns, plus segment_length and excerpt_length.

Import keeps every value as the string it was (each segments row in its probe's meta, each book and
excerpt row in its book's episode meta, file names, column orders and line endings in the manifest),
so `export_official(import_official(d))` writes the CSV files back byte for byte. A parquet import
is kept as the CSV rows SORT's script would have written from the same frames, so it exports as CSV.
Books become episodes (their text is what `in-memory` ingests); Book-SORT's books files hold no text,
so an import has none unless the directory has `book_texts/<book_idx>.txt` (our exports write them).
An excerpt found verbatim in its book is stored as a span, otherwise its text is kept in the meta.
The probes' `bin` is the bin's index, 1 (nearest) .. 4; the right edge stays in `distance_bin`.
Probes of excerpts 0-99 are SORT's test split, later ones its validation split (ours: heldout).
"""

from __future__ import annotations

import csv
import io as _io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

from longbench_suite import schemas
from longbench_suite.errors import UserError

from .book_sort import bin_index

OFFICIAL_PAIR_COLUMNS = (
    "book_idx", "excerpt_idx", "segment_1", "segment_2", "seg1_pos", "seg2_pos", "distance_bin", "present_seg1_first",
)
# The columns SORT's script writes, after pandas' unnamed index column "".
INDEX = ""
SORT_COLUMNS = {
    "books": [INDEX, "book_idx", "book_title", "num_words"],
    "excerpts": [INDEX, "book_idx", "excerpt_idx", "excerpt_pos", "excerpt_text"],
    "segments": [INDEX, "book_idx", "excerpt_idx", "segment_idx", "segment_1", "segment_2", "seg1_pos", "seg2_pos",
                 "distance_bin", "present_seg1_first"],
}
KINDS = ("books", "excerpts", "segments")
TITLE_COLUMNS = ("book_title", "title")
BOOK_TEXT_COLUMNS = ("book_text", "text")
EXCERPT_TEXT_COLUMNS = ("excerpt_text", "excerpt", "text")
TEXTS_DIR = "book_texts"
# SORT evaluates excerpts 0-99 and keeps the later ones (its validation split) for choosing the prompt.
HELDOUT_FROM = 100
_NAME = re.compile(r"^(books|excerpts|segments)(.*)\.csv$")
_SORT_SUFFIX = re.compile(r"^_(\d+)-s(\d+)-n(\d+)$")
_LEGACY_SUFFIX = re.compile(r"^_(\d+)_(\d+)$")
_PARQUET = re.compile(r"^(test|validation)_e(\d+)_s(\d+)\.parquet$")


@dataclass
class OfficialFiles:
    """One group of Book-SORT files (segments + the books and excerpts files it refers to); every
    value is kept as the string it was, and each file's column order and line ending, so a round trip
    is exact."""

    suffix: str  # "_250-s20-n110" (SORT) or "_250_20" (older)
    names: dict[str, str]  # kind -> file name ("books.csv" may be shared by every group)
    columns: dict[str, list[str]]
    rows: dict[str, list[dict[str, str]]]
    endings: dict[str, str] = field(default_factory=dict)  # kind -> "\n" or "\r\n"

    def lengths(self) -> tuple[int, int]:
        m = _SORT_SUFFIX.match(self.suffix) or _LEGACY_SUFFIX.match(self.suffix)
        if not m:
            raise UserError(f"cannot tell L_E and L_S from segments{self.suffix}.csv "
                            "(expected e.g. segments_250-s20-n110.csv)")
        return int(m.group(1)), int(m.group(2))


# --- CSV text exactly as pandas writes it --------------------------------------------------------


def csv_text(columns: list[str], rows: Iterable[dict[str, str]], ending: str = "\n") -> str:
    """pandas' `to_csv`: the csv module's minimal quoting with '"' doubled, one line ending."""
    out = _io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator=ending, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]], str, bool]:
    """(columns, rows, line ending, whether writing them back gives the same bytes)."""
    try:
        text = path.read_bytes().decode("utf-8")
        reader = csv.DictReader(_io.StringIO(text, newline=""))
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    first = text.split("\n", 1)[0]
    ending = "\r\n" if first.endswith("\r") else "\n"
    if any(None in r for r in rows):
        raise UserError(f"{path}: a row has more fields than the header")
    return columns, rows, ending, csv_text(columns, rows, ending) == text


def read_official(directory: Path) -> tuple[list[OfficialFiles], str, dict[str, bool]]:
    """The groups of a Book-SORT directory (CSV files, or the parquet files under data/), the layout
    read ("csv" or "parquet") and, per CSV file, whether it is written back byte for byte."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"Book-SORT directory not found: {directory}")
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.glob("*.csv")):
        m = _NAME.match(path.name)
        if m:
            found.setdefault(m.group(2), {})[m.group(1)] = path
    if not any("segments" in files for files in found.values()):
        parquet = sorted(p for p in (directory / "data", directory) if p.is_dir() for p in p.glob("*.parquet")
                         if _PARQUET.match(p.name))
        if parquet:
            return _groups_from_parquet(parquet), "parquet", {}
        raise UserError(f"no segments_*.csv or data/test_e*_s*.parquet in {directory} "
                        "(Book-SORT layouts: books_/excerpts_/segments_{L_E}-s{L_S}-n{N}.csv, or the Hugging Face parquet)")
    groups, exact = [], {}
    for suffix, files in sorted(found.items()):
        if "segments" not in files:
            continue
        paths = {}
        for kind in KINDS:
            path = files.get(kind) or found.get("", {}).get(kind)  # books.csv without suffix serves every group
            if path is None:
                raise UserError(f"{directory}: segments{suffix}.csv has no matching {kind}{suffix}.csv or {kind}.csv")
            paths[kind] = path
        loaded = {kind: _read_csv(path) for kind, path in paths.items()}
        if not loaded["segments"][1] and not loaded["segments"][0]:
            raise UserError(f"{paths['segments'].name} is empty")
        missing = [c for c in OFFICIAL_PAIR_COLUMNS if c not in loaded["segments"][0]]
        if missing:
            raise UserError(f"segments{suffix}.csv lacks the Book-SORT columns {', '.join(missing)}")
        exact.update({paths[k].name: loaded[k][3] for k in KINDS})
        groups.append(
            OfficialFiles(
                suffix=suffix, names={k: p.name for k, p in paths.items()},
                columns={k: v[0] for k, v in loaded.items()}, rows={k: v[1] for k, v in loaded.items()},
                endings={k: v[2] for k, v in loaded.items()},
            )
        )
    return groups, "csv", exact


def write_official(groups: Iterable[OfficialFiles], directory: Path, texts: dict[str, str] | None = None) -> list[Path]:
    """Write the groups' files; a file shared by several groups (books.csv) is written once. `texts`
    (book_idx -> text) go to book_texts/<book_idx>.txt, which SORT's loader never reads."""
    directory = Path(directory)
    groups = list(groups)
    for name in [g.names[kind] for g in groups for kind in KINDS]:
        # names come from a dataset's manifest: a path in one must not write outside `directory`
        if not isinstance(name, str) or Path(name).name != name or "\\" in name or not _NAME.match(name):
            raise UserError(f"refusing to write {name!r}: not a Book-SORT file name (books*.csv, excerpts*.csv, segments*.csv)")
    for idx in texts or {}:
        if not re.fullmatch(r"[\w.-]+", idx) or idx.startswith("."):
            raise UserError(f"refusing to write a book text for book_idx {idx!r}: not a plain name")
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for g in groups:
        for kind in KINDS:
            name = g.names[kind]
            if name in written:
                continue
            text = csv_text(g.columns[kind], g.rows[kind], g.endings.get(kind, "\n"))
            (directory / name).write_bytes(text.encode("utf-8"))
            written[name] = directory / name
    if texts:
        (directory / TEXTS_DIR).mkdir(exist_ok=True)
        for idx, text in texts.items():
            path = directory / TEXTS_DIR / f"{idx}.txt"
            path.write_text(text, encoding="utf-8")
            written[f"{TEXTS_DIR}/{idx}.txt"] = path
    return list(written.values())


# --- the Hugging Face parquet form ---------------------------------------------------------------


def _pandas_str(value: Any) -> str:
    """A parquet cell as pandas' to_csv writes it (ints bare, floats by repr, None empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _groups_from_parquet(paths: list[Path]) -> list[OfficialFiles]:
    """The CSV rows SORT's script wrote alongside these parquet files: the merged rows split back into
    books, excerpts and segments (the CSV names carry N, the excerpts per book)."""
    import pyarrow.parquet as pq

    by_setting: dict[tuple[int, int], list[dict]] = {}
    for path in paths:
        m = _PARQUET.match(path.name)
        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, pa.ArrowException) as e:
            raise UserError(f"cannot read {path}: {e}") from None
        if rows:
            missing = [c for c in (*OFFICIAL_PAIR_COLUMNS, "excerpt_text") if c not in rows[0]]
            if missing:
                raise UserError(f"{path.name} lacks the Book-SORT columns {', '.join(missing)}")
        by_setting.setdefault((int(m.group(2)), int(m.group(3))), []).extend(rows)
    groups = []
    for (le, ls), rows in sorted(by_setting.items()):
        if not rows:
            continue
        # SORT's segments order: book (as first met), bin, excerpt (the split into files cut it)
        first_seen = {b: i for i, b in reversed(list(enumerate(str(r["book_idx"]) for r in rows)))}
        rows.sort(key=lambda r: (first_seen[str(r["book_idx"])], int(r["distance_bin"]), int(r["excerpt_idx"])))
        present = set(rows[0])
        cols = {k: [c for c in SORT_COLUMNS[k] if c == INDEX or c in present] for k in KINDS}
        books: dict[str, dict] = {}
        excerpts: dict[tuple[str, str], dict] = {}
        segments = []
        for r in rows:
            s = {k: _pandas_str(v) for k, v in r.items()}
            books.setdefault(s["book_idx"], {c: s[c] for c in cols["books"][1:]})
            excerpts.setdefault((s["book_idx"], s["excerpt_idx"]), {c: s[c] for c in cols["excerpts"][1:]})
            segments.append({c: s[c] for c in cols["segments"][1:]})
        ordered = sorted(excerpts, key=lambda k: (list(books).index(k[0]), int(k[1])))
        n = max(int(k[1]) for k in excerpts) + 1
        suffix = f"_{le}-s{ls}-n{n}"
        indexed = lambda rs: [{INDEX: str(i), **r} for i, r in enumerate(rs)]  # noqa: E731
        groups.append(OfficialFiles(
            suffix=suffix, names={k: f"{k}{suffix}.csv" for k in KINDS}, columns=cols,
            rows={"books": indexed(books.values()), "excerpts": indexed(excerpts[k] for k in ordered),
                  "segments": indexed(segments)},
            endings={k: "\n" for k in KINDS},
        ))
    if not groups:
        raise UserError(f"the Book-SORT parquet files {', '.join(p.name for p in paths)} hold no rows")
    return groups


# --- import -------------------------------------------------------------------------------------


def _first(columns: Iterable[str], candidates: tuple[str, ...]) -> str | None:
    cols = list(columns)
    return next((c for c in candidates if c in cols), None)


def _int(value: str, what: str, where: str) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise UserError(f"{where}: {what} is not a number: {value!r}") from None


def _bool(value: str, where: str) -> bool:
    v = str(value).strip().lower()
    if v in ("true", "1", "1.0", "yes"):
        return True
    if v in ("false", "0", "0.0", "no"):
        return False
    raise UserError(f"{where}: present_seg1_first is not a boolean: {value!r}")


def _bin_indexes(g: OfficialFiles, excerpt_len: int, segment_len: int) -> dict[str, int]:
    """distance_bin value -> 1 (nearest) .. 4: its place among SORT's edges for (L_E, L_S); an older
    file's 1-4 stays; any other value takes its rank among the group's values."""
    values = sorted({r["distance_bin"] for r in g.rows["segments"]}, key=lambda v: _int(v, "distance_bin", g.names["segments"]))
    out = {}
    for rank, v in enumerate(values, 1):
        edge = _int(v, "distance_bin", g.names["segments"])
        out[v] = bin_index(excerpt_len, segment_len, edge) or (edge if 1 <= edge <= 4 else rank)
    return out


def _book_texts(directory: Path) -> dict[str, str]:
    folder = Path(directory) / TEXTS_DIR
    if not folder.is_dir():
        return {}
    try:
        return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))}
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the book texts in {folder}: {e}") from None


def import_official(directory: Path, prompt: str = "default", split: str = "all", max_new_tokens: int = 8) -> tuple[pa.Table, pa.Table, dict]:
    """(episodes, probes, manifest entries) of a Book-SORT directory; `split` keeps test (excerpts
    0-99), heldout (SORT's validation, 100 on) or all rows (only `all` is lossless)."""
    from tasks.sort import Template, add_probe

    template = Template.load(prompt)
    groups, layout, exact = read_official(directory)
    book_rows: dict[str, dict[str, str]] = {}
    for g in groups:
        for row in g.rows["books"]:
            book_rows.setdefault(row.get("book_idx", ""), row)
    book_cols = {c for g in groups for c in g.columns["books"]}
    if "book_idx" not in book_cols:
        raise UserError(f"{directory}: the books file has no book_idx column")
    title_col, text_col = _first(book_cols, TITLE_COLUMNS), _first(book_cols, BOOK_TEXT_COLUMNS)
    side_texts = {} if text_col else _book_texts(directory)

    episodes: dict[str, dict] = {}  # book_idx -> {"text", "meta"}
    for idx, row in book_rows.items():
        title = (row.get(title_col) if title_col else None) or f"Book {idx}"
        before, after = template.context_parts(title)
        episodes[idx] = {
            "text": row.get(text_col, "") if text_col else side_texts.get(idx, ""),
            "meta": {
                "title": title, "book_idx": idx, "source": "book-sort", "unit": "words",
                "context_before": before, "context_after": after,
                "official_book": {k: v for k, v in row.items() if k != text_col}, "excerpts": {},
            },
        }

    probes = schemas.TableBuilder(schemas.PROBES)
    # file name -> its rows' keys in order (book_idx for books files, excerpt keys for excerpts files)
    order: dict[str, list[str]] = {g.names["books"]: [r.get("book_idx", "") for r in g.rows["books"]] for g in groups}
    indexes: dict[str, dict[tuple[str, str], str]] = {}  # excerpts file -> (book_idx, excerpt_idx) -> key
    for g in groups:
        excerpt_len, segment_len = g.lengths()
        bins = _bin_indexes(g, excerpt_len, segment_len)
        ex_name = g.names["excerpts"]
        ex_col = _first(g.columns["excerpts"], EXCERPT_TEXT_COLUMNS)
        if ex_col is None or not {"book_idx", "excerpt_idx"} <= set(g.columns["excerpts"]):
            raise UserError(f"{ex_name}: needs book_idx, excerpt_idx and an excerpt text column")
        if ex_name not in order:  # a shared excerpts file is imported once
            order[ex_name], indexes[ex_name] = [], {}
            for i, row in enumerate(g.rows["excerpts"]):
                book = episodes.get(row["book_idx"])
                if book is None:
                    raise UserError(f"{ex_name} row {i + 2}: excerpt of unknown book_idx {row['book_idx']!r}")
                text = row[ex_col]
                start = book["text"].find(text) if text and book["text"] else -1
                entry: dict = {"row": {k: v for k, v in row.items() if k != ex_col}, "column": ex_col}
                if start >= 0:
                    entry["span"] = [start, start + len(text)]
                else:
                    entry["text"] = text
                key = f"{ex_name}#{i}"
                book["meta"]["excerpts"][key] = entry
                order[ex_name].append(key)
                indexes[ex_name][(row["book_idx"], row["excerpt_idx"])] = key
        index = indexes[ex_name]

        for n, seg in enumerate(g.rows["segments"]):
            where = f"{g.names['segments']} row {n + 2}"
            key = index.get((seg["book_idx"], seg["excerpt_idx"]))
            if key is None:
                raise UserError(f"{where}: no excerpt {seg['excerpt_idx']!r} of book {seg['book_idx']!r}")
            excerpt_idx = _int(seg["excerpt_idx"], "excerpt_idx", where)
            in_split = "test" if excerpt_idx < HELDOUT_FROM else "heldout"
            if split != "all" and in_split != split:
                continue
            p1, p2 = _int(seg["seg1_pos"], "seg1_pos", where), _int(seg["seg2_pos"], "seg2_pos", where)
            present = _bool(seg["present_seg1_first"], where)
            book = episodes[seg["book_idx"]]
            entry = book["meta"]["excerpts"][key]
            meta = {"official": seg, "suffix": g.suffix, "split": in_split, "book_idx": seg["book_idx"],
                    "unit": "words", "excerpt_key": key, "seg1_pos": p1, "seg2_pos": p2, "distance": abs(p2 - p1)}
            if "span" in entry:
                meta["excerpt_span"] = entry["span"]
            eid = f"sort-b{seg['book_idx']}"
            add_probe(
                probes, template, eid=eid, title=book["meta"]["title"], variant=f"ls{segment_len}",
                excerpt_len=excerpt_len, segment_len=segment_len, excerpt_idx=excerpt_idx,
                distance_bin=_int(seg["distance_bin"], "distance_bin", where), bin_index=bins[seg["distance_bin"]],
                segment_1=seg["segment_1"], segment_2=seg["segment_2"], earlier_first=present == (p1 <= p2),
                present_seg1_first=present, max_new_tokens=max_new_tokens, meta=meta, probe_id=f"{eid}{g.suffix}/r{n}",
            )
    table = schemas.TableBuilder(schemas.EPISODES)
    for idx, book in episodes.items():
        table.add(
            episode_id=f"sort-b{idx}", family="sort", variant="book", length=len(book["text"].split()), n_tokens=None,
            text=book["text"], sessions=None, meta=json.dumps(book["meta"]),
        )
    has_texts = bool(text_col) or any(b["text"] for b in episodes.values())
    manifest = {
        "official": {
            "layout": layout,
            "groups": [{"suffix": g.suffix, "names": g.names, "columns": g.columns, "endings": g.endings} for g in groups],
            "order": order,
            "columns": {"title": title_col, "book_text": text_col},
            "split": split,
            "byte_identical": exact,
        },
        "in_memory": "whole books" if has_texts else "nothing: the import has no book texts",
    }
    return table.table(), probes.table(), manifest


# --- export -------------------------------------------------------------------------------------


def export_official(episodes: pa.Table, probes: pa.Table, manifest: dict) -> tuple[list[OfficialFiles], dict[str, str]]:
    """The Book-SORT files of a sort dataset and the book texts to write beside them: the original
    rows of an import, or SORT's three files per (L_E, L_S) made from a built dataset."""
    books = [(r["text"], json.loads(r["meta"] or "{}")) for r in episodes.to_pylist()]
    metas = [json.loads(m or "{}") for m in probes.column("meta").to_pylist()]
    try:
        if "official" in manifest:
            groups = _export_imported(manifest["official"], books, metas)
            texts = {} if manifest["official"]["columns"]["book_text"] else {m["book_idx"]: t for t, m in books if t}
            return groups, texts
        return _export_built(books, metas)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:  # a manifest or meta edited by hand
        raise UserError(f"the dataset's Book-SORT provenance is malformed ({type(e).__name__}: {e}); import or build it again") from None


def _excerpt(text: str, entry: dict) -> str:
    return text[entry["span"][0] : entry["span"][1]] if "span" in entry else entry["text"]


def _export_imported(official: dict, books: list[tuple[str, dict]], metas: list[dict]) -> list[OfficialFiles]:
    text_col = official["columns"]["book_text"]
    book_rows, excerpt_rows = {}, {}
    for text, meta in books:
        book_rows[meta["book_idx"]] = {**meta["official_book"], **({text_col: text} if text_col else {})}
        for key, entry in meta["excerpts"].items():
            excerpt_rows[key] = {**entry["row"], entry["column"]: _excerpt(text, entry)}
    segments: dict[str, list[dict[str, str]]] = {}
    for meta in metas:
        segments.setdefault(meta["suffix"], []).append(meta["official"])
    order = official["order"]
    return [
        OfficialFiles(
            suffix=g["suffix"], names=g["names"], columns=g["columns"],
            rows={
                "books": [book_rows[k] for k in order[g["names"]["books"]]],
                "excerpts": [excerpt_rows[k] for k in order[g["names"]["excerpts"]]],
                "segments": segments.get(g["suffix"], []),
            },
            endings=g.get("endings", {}),
        )
        for g in official["groups"]
    ]


def _export_built(books: list[tuple[str, dict]], metas: list[dict]) -> tuple[list[OfficialFiles], dict[str, str]]:
    """SORT's layout from generated probes: book_idx is the Gutenberg id when the book has one (else
    our index), excerpt_pos the excerpt's first word over the book's words, rows in SORT's order
    (segments: book, bin, excerpt), flags 0/1, distance_bin the right edge."""
    by_idx = {meta["book_idx"]: (text, meta) for text, meta in books}
    ids = {i: str(m.get("gutenberg_id") or i) for i, (_, m) in by_idx.items()}
    if len(set(ids.values())) < len(ids):  # two books with one Gutenberg id: keep our indexes
        ids = {i: str(i) for i in by_idx}
    settings: dict[tuple[int, int], list[dict]] = {}
    for meta in metas:
        settings.setdefault((meta["excerpt_len"], meta["segment_len"]), []).append(meta)
    groups = []
    for (le, ls), group in sorted(settings.items()):
        n = max(m["excerpt_idx"] for m in group) + 1
        suffix = f"_{le}-s{ls}-n{n}"
        book_order = sorted({m["book_idx"] for m in group})
        book_rows, excerpt_rows, seen = [], [], set()
        for b in book_order:
            text, bmeta = by_idx[b]
            book_rows.append({"book_idx": ids[b], "book_title": bmeta["title"], "num_words": str(len(text.split()))})
        for m in sorted(group, key=lambda m: (book_order.index(m["book_idx"]), m["excerpt_idx"])):
            if (m["book_idx"], m["excerpt_idx"]) in seen:
                continue
            seen.add((m["book_idx"], m["excerpt_idx"]))
            text, bmeta = by_idx[m["book_idx"]]
            c0, c1 = m["excerpt_span"]
            excerpt_rows.append({"book_idx": ids[m["book_idx"]], "excerpt_idx": str(m["excerpt_idx"]),
                                 "excerpt_pos": repr(m["excerpt_words"][0] / max(len(text.split()), 1)),
                                 "excerpt_text": text[c0:c1]})
        segment_rows = [
            {"book_idx": ids[m["book_idx"]], "excerpt_idx": str(m["excerpt_idx"]), "segment_idx": "0",
             "segment_1": m["segment_1"], "segment_2": m["segment_2"], "seg1_pos": str(m["seg1_pos"]),
             "seg2_pos": str(m["seg2_pos"]), "distance_bin": str(m["distance_bin"]),
             "present_seg1_first": str(int(m["present_seg1_first"]))}
            for m in sorted(group, key=lambda m: (book_order.index(m["book_idx"]), m["distance_bin"], m["excerpt_idx"]))
        ]
        indexed = lambda rs: [{INDEX: str(i), **r} for i, r in enumerate(rs)]  # noqa: E731
        groups.append(OfficialFiles(
            suffix=suffix, names={k: f"{k}{suffix}.csv" for k in KINDS}, columns={k: list(v) for k, v in SORT_COLUMNS.items()},
            rows={"books": indexed(book_rows), "excerpts": indexed(excerpt_rows), "segments": indexed(segment_rows)},
            endings={k: "\n" for k in KINDS},
        ))
    return groups, {ids[i]: text for i, (text, _) in by_idx.items()}
