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


def check_dir_path(path: Path) -> None:
    """A directory can be made at `path`: neither it nor a parent is an existing file."""
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"output path {path} is or lies under an existing file: {parent}")


def prepare_output_dir(path: Path, overwrite: bool = False, marker: str | None = None) -> None:
    """Check an output directory before anything is written.

    Refuses: a path that is (or lies under) an existing file; a non-empty directory unless
    `overwrite`; and with `overwrite`, any directory that is not one of ours (it must hold `marker`,
    e.g. manifest.json or run.json) or that contains the working directory: --overwrite replaces a
    dataset or a run, never a home directory or a project.
    """
    path = Path(path)
    check_dir_path(path)
    if not (path.is_dir() and any(path.iterdir())):
        return
    if not overwrite:
        raise UserError(f"output directory is not empty: {path} (use --overwrite)")
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise UserError(f"refusing to overwrite {path}: it contains the working directory")
    if marker is not None and not (path / marker).is_file():
        raise UserError(f"refusing to overwrite {path}: it has no {marker}, so it is not one of ours")


@contextlib.contextmanager
def staged_dir(final: Path, overwrite: bool = False, marker: str | None = None) -> Iterator[Path]:
    """Build a directory beside `final` and move it into place only when complete."""
    final = Path(final).resolve()
    prepare_output_dir(final, overwrite, marker)
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
    with staged_dir(out, overwrite, marker="manifest.json") as stage:
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
        """The manifest's hash (cheap); verify() recomputes it from the tables."""
        return self.manifest.get("content_hash") or table_hash(self.episodes, self.probes)

    def verify(self) -> None:
        if table_hash(self.episodes, self.probes) != self.manifest.get("content_hash"):
            raise UserError(f"dataset {self.path} was modified after generation (its content hash differs)")
