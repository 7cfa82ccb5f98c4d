"""Where curated data comes from: any `datasets` source, loaded one way for every builder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

from longbench_suite.errors import UserError

_FILE_KINDS = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json", ".csv": "csv"}


def load_dataset_source(source: str, split: str = "train"):
    """A `datasets.Dataset` from a local parquet/arrow/json(l)/csv file, a `save_to_disk` directory (its
    `split` when it holds several) or a hub dataset name (needs network the first time)."""
    import datasets

    if not sys.stderr.isatty():  # progress bars in a log or a pipe are noise around the one-line errors
        datasets.disable_progress_bars()
    path = Path(source).expanduser()
    looks_local = path.suffix.lower() in _FILE_KINDS or source.startswith((".", "/", "~"))
    if looks_local and not path.exists():
        raise UserError(f"dataset file not found: {source}")
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise UserError(f"dataset {source!r} has no split {split!r}; splits: {', '.join(ds)}")
                ds = ds[split]
        elif path.is_file():
            kind = _FILE_KINDS.get(path.suffix.lower())
            if kind is None:
                raise UserError(f"unknown dataset file type {path.suffix!r}: use parquet, arrow, json(l) or csv")
            ds = datasets.load_dataset(kind, data_files=str(path), split="train")
        else:
            ds = datasets.load_dataset(source, split=split)
    except UserError:
        raise
    except Exception as e:  # datasets raises many types for a missing or bad dataset
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot load dataset {source!r}: {why}") from None
    return ds


def iter_rows(ds: Any, source: str) -> Iterator[dict]:
    """The rows of a loaded source. A json or csv file's text is decoded as rows are read, so bytes that
    are not UTF-8 surface here: one clear error instead of a traceback."""
    try:
        yield from ds
    except UnicodeDecodeError as e:
        raise UserError(f"dataset {source!r} holds text that is not UTF-8 ({e.reason})") from None
