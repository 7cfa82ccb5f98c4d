"""Reading and writing the tables: atomic files, dataset directories, content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from . import schemas
from .errors import UserError

# Fixed writer options: together with a fixed pyarrow version they make the files byte-identical.
_PARQUET_OPTS = dict(compression="zstd", use_dictionary=True, write_statistics=False, store_schema=True)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_parquet(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **_PARQUET_OPTS)


def write_json(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{what} is not valid JSON: {path} ({e})") from None


def read_parquet(path: Path, schema: pa.Schema, what: str) -> pa.Table:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise UserError(f"{what} is not a readable parquet file: {path} ({str(e).splitlines()[0]})") from None
    try:
        return schemas.conform(table, schema, str(path))
    except (ValueError, pa.ArrowException) as e:
        raise UserError(f"{what} has the wrong schema: {e}") from None


def table_hash(*tables: pa.Table) -> str:
    """sha256 of the tables' Arrow IPC bytes: a hash of content, not of parquet encoding."""
    h = hashlib.sha256()
    for table in tables:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table.combine_chunks())
        h.update(sink.getvalue())
    return "sha256:" + h.hexdigest()


def prepare_output_dir(path: Path, overwrite: bool = False) -> None:
    """Refuse to write into an existing non-empty directory or over a file unless asked."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"output path is an existing file: {path}")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise UserError(f"output directory is not empty: {path} (use --overwrite)")


@contextlib.contextmanager
def staged_dir(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory beside `final` and move it into place only when complete."""
    final = Path(final)
    prepare_output_dir(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield stage
        if final.exists():
            shutil.rmtree(final)
        os.replace(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def write_dataset(out: Path, episodes: pa.Table, probes: pa.Table, manifest: dict, overwrite: bool = False) -> dict:
    """Write a dataset directory atomically; returns the manifest with counts and content hash."""
    episodes = schemas.conform(episodes, schemas.EPISODES, "episodes")
    probes = schemas.conform(probes, schemas.PROBES, "probes")
    manifest = dict(manifest)
    manifest["counts"] = {"episodes": episodes.num_rows, "probes": probes.num_rows}
    manifest["content_hash"] = table_hash(episodes, probes)
    with staged_dir(out, overwrite) as stage:
        write_parquet(episodes, stage / "episodes.parquet")
        write_parquet(probes, stage / "probes.parquet")
        write_json(manifest, stage / "manifest.json")
    return manifest


class Dataset:
    """A dataset directory, loaded: the two tables and the manifest."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise UserError(f"dataset directory not found: {self.path}")
        self.manifest = read_json(self.path / "manifest.json", "dataset manifest")
        self.episodes = read_parquet(self.path / "episodes.parquet", schemas.EPISODES, "episodes table")
        self.probes = read_parquet(self.path / "probes.parquet", schemas.PROBES, "probes table")
        missing = set(self.probes.column("episode_id").to_pylist()) - set(self.episodes.column("episode_id").to_pylist())
        if missing:
            raise UserError(f"probes refer to {len(missing)} episode(s) missing from {self.path}")
        if "family" not in self.manifest:
            raise UserError(f"dataset manifest has no family: {self.path / 'manifest.json'}")

    @property
    def content_hash(self) -> str:
        return self.manifest.get("content_hash") or table_hash(self.episodes, self.probes)
