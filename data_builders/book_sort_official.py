"""Book-SORT's published files: import them into episodes and probes losslessly, and write them back.

Layout (the SORT repository's data release): `books_*.csv`, `excerpts_*.csv`, `segments_*.csv`, the
suffix naming the setting (`_250_20` = L_E 250 words, L_S 20 words); a suffix-less `books.csv` may
serve every setting. Segment rows have book_idx, excerpt_idx, segment_1, segment_2, seg1_pos,
seg2_pos, distance_bin, present_seg1_first (segment_1 shown as A).

Import keeps every value as the string it was (each segments row in its probe's meta, each book and
excerpt row in its book's episode meta, file names and column orders in the manifest), so
`export_official(import_official(d))` writes the same rows and headers. Books become episodes (their
text is what `in-memory` ingests); an excerpt found verbatim in its book is stored as a span,
otherwise its text is kept in the episode meta. Without a book-text column an episode's text is
empty and in-memory runs have nothing to ingest (the manifest says so).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa

from longbench_suite import schemas
from longbench_suite.errors import UserError

OFFICIAL_PAIR_COLUMNS = (
    "book_idx", "excerpt_idx", "segment_1", "segment_2", "seg1_pos", "seg2_pos", "distance_bin", "present_seg1_first",
)
TITLE_COLUMNS = ("book_title", "title")
BOOK_TEXT_COLUMNS = ("book_text", "text")
EXCERPT_TEXT_COLUMNS = ("excerpt_text", "excerpt", "text")
# The paper evaluates excerpts 0-99 and keeps the later ones for choosing the prompt.
HELDOUT_FROM = 100
_SUFFIX = re.compile(r"^(books|excerpts|segments)(.*)\.csv$")

@dataclass
class OfficialFiles:
    """One group of Book-SORT files (segments + the books and excerpts files it refers to); every
    value is kept as the string it was, and each file's column order, so a round trip is exact."""

    suffix: str  # "_250_20"
    names: dict[str, str]  # kind -> file name ("books.csv" may be shared by every group)
    columns: dict[str, list[str]]
    rows: dict[str, list[dict[str, str]]]

    def lengths(self) -> tuple[int, int]:
        m = re.search(r"(\d+)_(\d+)$", self.suffix)
        if not m:
            raise UserError(f"cannot tell L_E and L_S from segments{self.suffix}.csv (expected e.g. segments_250_20.csv)")
        return int(m.group(1)), int(m.group(2))


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read {path}: {e}") from None


def read_official(directory: Path) -> list[OfficialFiles]:
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"Book-SORT directory not found: {directory}")
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.glob("*.csv")):
        m = _SUFFIX.match(path.name)
        if m:
            found.setdefault(m.group(2), {})[m.group(1)] = path
    groups = []
    for suffix, files in sorted(found.items()):
        if "segments" not in files:
            continue
        paths = {}
        for kind in ("books", "excerpts", "segments"):
            path = files.get(kind) or found.get("", {}).get(kind)  # books.csv without suffix serves every group
            if path is None:
                raise UserError(f"{directory}: segments{suffix}.csv has no matching {kind}{suffix}.csv or {kind}.csv")
            paths[kind] = path
        loaded = {kind: _read_csv(path) for kind, path in paths.items()}
        missing = [c for c in OFFICIAL_PAIR_COLUMNS if c not in loaded["segments"][0]]
        if missing:
            raise UserError(f"segments{suffix}.csv lacks the Book-SORT columns {', '.join(missing)}")
        groups.append(
            OfficialFiles(
                suffix=suffix, names={k: p.name for k, p in paths.items()},
                columns={k: v[0] for k, v in loaded.items()}, rows={k: v[1] for k, v in loaded.items()},
            )
        )
    if not groups:
        raise UserError(f"no segments_*.csv in {directory} (Book-SORT layout: books_*, excerpts_*, segments_*)")
    return groups


def write_official(groups: Iterable[OfficialFiles], directory: Path) -> list[Path]:
    """Write the groups' files; a file shared by several groups (books.csv) is written once."""
    directory = Path(directory)
    groups = list(groups)
    for name in [g.names[kind] for g in groups for kind in ("books", "excerpts", "segments")]:
        # names come from a dataset's manifest: a path in one must not write outside `directory`
        if not isinstance(name, str) or Path(name).name != name or "\\" in name or not _SUFFIX.match(name):
            raise UserError(f"refusing to write {name!r}: not a Book-SORT file name (books*.csv, excerpts*.csv, segments*.csv)")
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for g in groups:
        for kind in ("books", "excerpts", "segments"):
            name = g.names[kind]
            if name in written:
                continue
            with open(directory / name, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=g.columns[kind], lineterminator="\n")
                writer.writeheader()
                writer.writerows(g.rows[kind])
            written[name] = directory / name
    return list(written.values())


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


def import_official(directory: Path, prompt: str = "default", split: str = "all", max_new_tokens: int = 8) -> tuple[pa.Table, pa.Table, dict]:
    """(episodes, probes, manifest entries) of a Book-SORT directory; `split` keeps test (excerpts
    0-99), heldout or all rows (only `all` is lossless)."""
    from tasks.sort import Template, add_probe

    template = Template.load(prompt)
    groups = read_official(directory)
    book_rows: dict[str, dict[str, str]] = {}
    for g in groups:
        for row in g.rows["books"]:
            book_rows.setdefault(row.get("book_idx", ""), row)
    book_cols = {c for g in groups for c in g.columns["books"]}
    if "book_idx" not in book_cols:
        raise UserError(f"{directory}: the books file has no book_idx column")
    title_col, text_col = _first(book_cols, TITLE_COLUMNS), _first(book_cols, BOOK_TEXT_COLUMNS)

    episodes: dict[str, dict] = {}  # book_idx -> {"text", "meta"}
    for idx, row in book_rows.items():
        title = (row.get(title_col) if title_col else None) or f"Book {idx}"
        before, after = template.context_parts(title)
        episodes[idx] = {
            "text": row.get(text_col, "") if text_col else "",
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
                distance_bin=_int(seg["distance_bin"], "distance_bin", where), segment_1=seg["segment_1"],
                segment_2=seg["segment_2"], earlier_first=present == (p1 <= p2), present_seg1_first=present,
                max_new_tokens=max_new_tokens, meta=meta, probe_id=f"{eid}{g.suffix}/r{n}",
            )
    table = schemas.TableBuilder(schemas.EPISODES)
    for idx, book in episodes.items():
        table.add(
            episode_id=f"sort-b{idx}", family="sort", variant="book", length=len(book["text"].split()), n_tokens=None,
            text=book["text"], sessions=None, meta=json.dumps(book["meta"]),
        )
    manifest = {
        "official": {
            "groups": [{"suffix": g.suffix, "names": g.names, "columns": g.columns} for g in groups],
            "order": order,
            "columns": {"title": title_col, "book_text": text_col},
            "split": split,
        },
        "in_memory": "whole books" if text_col else "nothing: the import has no book texts",
    }
    return table.table(), probes.table(), manifest



# --- export -------------------------------------------------------------------------------------


def export_official(episodes: pa.Table, probes: pa.Table, manifest: dict) -> list[OfficialFiles]:
    """The Book-SORT files of a sort dataset: the original rows of an import, or rows made from a
    built dataset (books.csv shared; excerpts_/segments_ per L_E, L_S; positions in words)."""
    books = [(r["text"], json.loads(r["meta"] or "{}")) for r in episodes.to_pylist()]
    metas = [json.loads(m or "{}") for m in probes.column("meta").to_pylist()]
    try:
        if "official" in manifest:
            return _export_imported(manifest["official"], books, metas)
        return _export_built(books, metas)
    except (KeyError, TypeError, IndexError, AttributeError) as e:  # a manifest or meta edited by hand
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
        )
        for g in official["groups"]
    ]


def _export_built(books: list[tuple[str, dict]], metas: list[dict]) -> list[OfficialFiles]:
    by_idx = {meta["book_idx"]: (text, meta) for text, meta in books}
    book_rows = [{"book_idx": str(m["book_idx"]), "book_title": m["title"], "book_text": t} for t, m in books]
    groups: dict[str, dict[str, list]] = {}
    seen: set[tuple] = set()
    for meta in metas:
        suffix = f"_{meta['excerpt_len']}_{meta['segment_len']}"
        g = groups.setdefault(suffix, {"excerpts": [], "segments": []})
        text = by_idx[meta["book_idx"]][0]
        if (suffix, meta["book_idx"], meta["excerpt_idx"]) not in seen:
            seen.add((suffix, meta["book_idx"], meta["excerpt_idx"]))
            c0, c1 = meta["excerpt_span"]
            g["excerpts"].append({"book_idx": str(meta["book_idx"]), "excerpt_idx": str(meta["excerpt_idx"]), "excerpt_text": text[c0:c1]})
        g["segments"].append({
            "book_idx": str(meta["book_idx"]), "excerpt_idx": str(meta["excerpt_idx"]),
            "segment_1": meta["segment_1"], "segment_2": meta["segment_2"], "seg1_pos": str(meta["seg1_pos"]),
            "seg2_pos": str(meta["seg2_pos"]), "distance_bin": str(meta["distance_bin"]),
            "present_seg1_first": str(meta["present_seg1_first"]),
        })
    columns = {"books": ["book_idx", "book_title", "book_text"], "excerpts": ["book_idx", "excerpt_idx", "excerpt_text"],
               "segments": list(OFFICIAL_PAIR_COLUMNS)}
    return [
        OfficialFiles(suffix=s, names={"books": "books.csv", "excerpts": f"excerpts{s}.csv", "segments": f"segments{s}.csv"},
                      columns=columns, rows={"books": book_rows, **g})
        for s, g in groups.items()
    ]
