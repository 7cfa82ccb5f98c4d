"""Reading and writing the tables: atomic files, dataset directories, content hashes."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import tomllib
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import schemas
from .errors import UserError, one_line

# Fixed writer options: together with a fixed pyarrow version they make the files byte-identical.
_PARQUET_OPTS = dict(compression="zstd", use_dictionary=True, write_statistics=False, store_schema=True)


# A full disk (or a full quota) is the user's to fix, not a bug: one line naming the file and the room
# it needs, exit 2. pyarrow's write errors carry the errno too ("[Errno 28] Error writing bytes").
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def is_disk_full(e: BaseException) -> bool:
    return isinstance(e, DiskFull) or (isinstance(e, OSError) and e.errno in _DISK_FULL)


class DiskFull(UserError):
    """A write failed for want of space; `needed` estimates the bytes it needed (at least)."""

    def __init__(self, path: Path | str | None, needed: int = 0, quota: bool = False):
        self.path, self.needed, self.quota = path, needed, quota
        what = "disk quota exceeded" if quota else "no space left on device"
        mb = max(1, -(-needed // 10**6))  # rounded up: freeing that much is never too little for this write
        where = f"writing {path}" if path else "writing an output file"
        super().__init__(f"{what} {where}: at least {mb} MB free needed")

    @classmethod
    def of(cls, e: BaseException, path: Path | str | None, needed: int = 0) -> "DiskFull":
        """`e` (a disk-full OSError, or a DiskFull raised deeper) as a DiskFull naming `path`."""
        if isinstance(e, DiskFull):
            return cls(path, max(needed, e.needed), e.quota)
        return cls(path, needed, getattr(e, "errno", None) == errno.EDQUOT)


def _size(path: Path) -> int:
    """Bytes in a file or a tree (what a failed write had managed to write)."""
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return 0


@contextlib.contextmanager
def _refused(target: Path) -> Iterator[None]:
    """The file system refused to make `target`'s temp file or folder: one line naming the target."""
    try:
        yield
    except OSError as e:
        if is_disk_full(e):
            raise DiskFull.of(e, target) from None
        raise UserError(f"cannot write {target}: {e.strerror or e}") from None


@contextlib.contextmanager
def atomic_path(path: Path, size_hint: int = 0) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds. On a full
    disk the temp file goes and `path` keeps its previous content; the error names `path` and asks
    for at least `size_hint` bytes (or more than had been written)."""
    path = Path(path)
    with _refused(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        written = _size(Path(tmp))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_disk_full(e):
            raise DiskFull.of(e, path, max(size_hint, written + 1)) from None
        raise


def write_parquet(table: pa.Table, path: Path) -> None:
    # Arrow's in-memory size bounds the compressed file from above: the room to ask for.
    with atomic_path(path, size_hint=table.nbytes) as tmp:
        pq.write_table(table, tmp, **_PARQUET_OPTS)


def write_json(obj: Any, path: Path) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
    with atomic_path(path, size_hint=len(data)) as tmp:
        tmp.write_bytes(data)


def read_json(path: Path, what: str) -> dict:
    """A JSON object (every manifest is one), or one clear UserError naming `what`."""
    try:
        obj = json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{what} is a directory, not a file: {path}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{what} is not valid JSON: {path} (not UTF-8 text: {e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{what} is not valid JSON: {path} ({e})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{what} is not a JSON object: {path}")
    return obj


def read_toml(path: Path, what: str) -> dict:
    """A TOML file (configs, templates), or one clear UserError naming `what`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{what} is not valid TOML: {path} ({e})") from None


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
        if "invalid utf8" in str(e).lower():  # a binary column cast to string: say what is wrong with it
            raise UserError(f"{what} holds text that is not valid UTF-8: {path}") from None
        raise UserError(f"{what} has the wrong schema: {one_line(e)}") from None


# The content hash must not depend on how a table happens to be chunked (built whole, streamed in
# pieces, read back from parquet): Arrow IPC bytes do (validity buffers, child offsets); parquet's
# encoding of values does not. Nor on the library version: a parquet footer names its writer. So each
# table is cut into fixed-size row groups, each written as an uncompressed parquet file of its own,
# and only its data pages (between the leading magic and the footer) are hashed, after the schema.
# Episodes use small groups so a streaming writer buffers only a few (an M-size LongMemEval episode is
# ~5 MB); probes are small rows.
#
# Scheme 2 (issue 21) also hashes what the manifest says the tables are (family, variants, parameters,
# seed, generator version, tokenizer, counts, sources: every key but the hash itself and the writing
# release), after the tables: a manifest edited to name another family no longer verifies. Scheme-1
# datasets, whose hashes runs and leaderboards recorded, still verify by their tables alone; their
# family is checked against the tables' own `family` column instead (Dataset).
HASH_SCHEME = "lbs-parquet-pages-manifest-2"
TABLES_ONLY_SCHEME = "lbs-parquet-pages-1"
_NOT_MEANING = ("content_hash", "hash_scheme", "suite_version", "generation_s")
HASH_ROW_GROUP = {"episodes": 8, "probes": 1024}
_HASH_OPTS = dict(compression="none", use_dictionary=False, write_statistics=False, store_schema=False,
                  data_page_version="1.0")


class ContentHasher:
    """sha256 over tables in sequence (see HASH_SCHEME); a table may arrive in pieces."""

    def __init__(self):
        self._sha = hashlib.sha256()
        self._pending: pa.Table | None = None
        self._group = 0

    def begin(self, schema: pa.Schema, row_group: int) -> None:
        self.end()
        self._sha.update(",".join(schema.names).encode())  # column names (pages hold values only)
        self._pending, self._group = schema.empty_table(), row_group

    def feed(self, table: pa.Table) -> None:
        """Add rows; whole row groups are hashed at once, the rest waits for more rows."""
        assert self._pending is not None
        self._pending = pa.concat_tables([self._pending, table])
        whole = self._pending.num_rows - self._pending.num_rows % self._group
        for start in range(0, whole, self._group):
            self._hash_group(self._pending.slice(start, self._group))
        self._pending = self._pending.slice(whole)

    def _hash_group(self, rows: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        # One chunk: the writer starts a page at each chunk, so pages (and the hash) would otherwise
        # follow how the rows arrived (pieces of a stream, row groups of a file) instead of the rows.
        pq.write_table(rows.combine_chunks(), sink, **_HASH_OPTS)
        data = sink.getvalue().to_pybytes()
        footer = int.from_bytes(data[-8:-4], "little")
        self._sha.update(data[4 : len(data) - 8 - footer])  # the pages only: no magic, no footer

    def end(self) -> None:
        if self._pending is not None and self._pending.num_rows:
            self._hash_group(self._pending)
        self._pending = None

    def hexdigest(self, manifest: dict | None = None) -> str:
        """The hash of the tables fed; with `manifest`, of its meaning too (scheme 2)."""
        self.end()
        if manifest is not None:
            self._sha.update(b"\0manifest\0" + manifest_meaning(manifest))
        return "sha256:" + self._sha.hexdigest()


def manifest_meaning(manifest: dict) -> bytes:
    """The manifest's keys that say what the data is, as canonical JSON of the manifest as written to
    and read back from manifest.json (so the writer and a reader hash the same bytes)."""
    written = json.loads(json.dumps(manifest, sort_keys=True, default=str))
    meaning = {k: v for k, v in written.items() if k not in _NOT_MEANING}
    return json.dumps(meaning, sort_keys=True, separators=(",", ":")).encode()


def table_hash(episodes: pa.Table, probes: pa.Table, manifest: dict | None = None) -> str:
    """The content hash of a dataset's two tables (see HASH_ROW_GROUP), and of its manifest's meaning
    when `manifest` is given (scheme 2; without it, scheme 1)."""
    hasher = ContentHasher()
    for table, name in ((episodes, "episodes"), (probes, "probes")):
        hasher.begin(table.schema, HASH_ROW_GROUP[name])
        hasher.feed(table)
    return hasher.hexdigest(manifest)


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


# A stage is named after the process that builds it, `.NAME.lbs-stage-HOST-PID-XXXXXXXX`, so a later
# start can tell a stage of a live build from one a kill -9 (or a crash) left behind.
_STAGE = re.compile(r"^\.(?P<name>.+)\.lbs-stage-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]+$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_stages(parent: Path) -> list[Path]:
    """Remove the stages in `parent` left by dead processes of this host; a live build's stage and
    another host's (a shared file system: its pids mean nothing here) are kept. Returns those removed."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _STAGE.match(entry.name)
        if not m or m["host"] != socket.gethostname() or _alive(int(m["pid"])) or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM / SIGHUP while a stage exists: unwind like Ctrl-C, so the stage is removed on the way out."""
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception for the block (main thread only, and only where no
    one installed a handler of their own: a runner's handler wins)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, _terminate)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def staged_dir(final: Path, overwrite: bool = False, marker: str | None = None) -> Iterator[Path]:
    """Build a directory beside `final` and move it into place only when complete. Interrupted
    (Ctrl-C, SIGTERM, SIGHUP, an error) the stage is removed; killed outright, the next staged_dir
    in the same folder removes it."""
    final = Path(final).resolve()
    prepare_output_dir(final, overwrite, marker)
    with _refused(final):
        final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stages(final.parent)
    with _signals_unwind():
        with _refused(final):
            prefix = f".{final.name}.lbs-stage-{socket.gethostname()}-{os.getpid()}-"
            stage = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
        try:
            yield stage
            if final.exists():
                shutil.rmtree(final)
            os.replace(stage, final)
        except BaseException as e:
            written = _size(stage) if is_disk_full(e) else 0
            shutil.rmtree(stage, ignore_errors=True)
            if is_disk_full(e):  # name the directory the user asked for, not the hidden stage
                raise DiskFull.of(e, final, written + 1) from None
            raise


def write_dataset(out: Path, episodes: pa.Table, probes: pa.Table, manifest: dict, overwrite: bool = False) -> dict:
    """Write a dataset directory atomically; returns the manifest with counts and content hash."""
    with stream_dataset(out, overwrite) as writer:
        writer.add_episodes(episodes)
        return writer.finish(probes, manifest)


EPISODE_ROW_GROUP_BYTES = 64 * 2**20


class _StreamingDataset:
    """Episodes and probes are written as they come (neither table is ever held whole); episodes are
    hashed as they come, probes at the end, read back in batches (the hash covers episodes first)."""

    def __init__(self, stage: Path):
        self.stage = stage
        self.hasher = ContentHasher()
        self.hasher.begin(schemas.EPISODES, HASH_ROW_GROUP["episodes"])
        self.writer = pq.ParquetWriter(stage / "episodes.parquet", schemas.EPISODES, **_PARQUET_OPTS)
        self.probe_writer = pq.ParquetWriter(stage / "probes.parquet", schemas.PROBES, **_PARQUET_OPTS)
        self.n_episodes = self.n_probes = 0
        self.manifest: dict | None = None

    def close(self) -> None:
        self.writer.close()
        self.probe_writer.close()

    def add_probes(self, probes: pa.Table) -> None:
        probes = schemas.conform(probes, schemas.PROBES, "probes")
        if probes.num_rows:
            self.probe_writer.write_table(probes)
            self.n_probes += probes.num_rows

    def add_episodes(self, episodes: pa.Table) -> None:
        episodes = schemas.conform(episodes, schemas.EPISODES, "episodes")
        # The writer buffers a whole row group: 1,000 episodes of 128k tokens in one group cost 1.3 GiB
        # more RSS (bench/perf.py P1). Groups of ~64 MB of text; the size follows the content alone.
        text_bytes = pc.sum(pc.binary_length(episodes.column("text"))).as_py() or 0
        rows = max(1, EPISODE_ROW_GROUP_BYTES * episodes.num_rows // max(text_bytes, 1))
        self.writer.write_table(episodes, row_group_size=rows)
        self.hasher.feed(episodes)
        self.n_episodes += episodes.num_rows

    def finish(self, probes: pa.Table | None, manifest: dict) -> dict:
        """`probes`: the last (or only) probes, after any add_probes()."""
        if probes is not None:
            self.add_probes(probes)
        self.close()
        self.hasher.begin(schemas.PROBES, HASH_ROW_GROUP["probes"])
        for batch in pq.ParquetFile(self.stage / "probes.parquet").iter_batches(batch_size=HASH_ROW_GROUP["probes"] * 16):
            self.hasher.feed(schemas.conform(pa.Table.from_batches([batch]), schemas.PROBES, "probes"))
        self.manifest = dict(manifest)
        self.manifest["counts"] = {"episodes": self.n_episodes, "probes": self.n_probes}
        self.manifest["content_hash"] = self.hasher.hexdigest(self.manifest)
        self.manifest["hash_scheme"] = HASH_SCHEME
        write_json(self.manifest, self.stage / "manifest.json")
        return self.manifest


@contextlib.contextmanager
def stream_dataset(out: Path, overwrite: bool = False) -> Iterator[_StreamingDataset]:
    """Write a dataset directory piece by piece, in a stage moved into place only once finish() ran:
    an import larger than memory, interrupted or failing, leaves nothing behind."""
    with staged_dir(out, overwrite, marker="manifest.json") as stage:
        writer = _StreamingDataset(stage)
        try:
            yield writer
        finally:
            if writer.manifest is None:
                writer.close()
        if writer.manifest is None:
            raise RuntimeError("stream_dataset: finish() was not called")


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
        self._check_family()

    def _check_family(self) -> None:
        """The tables hold the manifest's family's items: a family never reads another's tables (its
        meta keys differ: a KeyError deep in rendering or scoring), whatever the hash scheme."""
        named = self.manifest["family"]
        found = set()
        for table in (self.episodes, self.probes):
            found |= set(pc.unique(table.column("family")).to_pylist())
        other = sorted(str(f) for f in found - {named, None})
        if other:
            raise UserError(f"dataset {self.path}: its manifest names family {named!r} but its tables hold "
                            f"{', '.join(map(repr, other))} items (was manifest.json edited?)")

    @property
    def content_hash(self) -> str:
        """The manifest's hash (cheap); verify() recomputes it from the tables."""
        return self.manifest.get("content_hash") or table_hash(self.episodes, self.probes)

    def verify(self) -> None:
        """Recompute the content hash: scheme 2 over the tables and the manifest's meaning, scheme 1
        (older datasets, still valid) over the tables, the family checked on loading."""
        scheme = self.manifest.get("hash_scheme")
        if scheme not in (HASH_SCHEME, TABLES_ONLY_SCHEME):
            raise UserError(f"dataset {self.path} was written by an older lbs (content hash scheme "
                            f"{scheme or 'none'}, now {HASH_SCHEME}): generate or import it again")
        meaning = self.manifest if scheme == HASH_SCHEME else None
        if table_hash(self.episodes, self.probes, meaning) != self.manifest.get("content_hash"):
            what = "its tables or its manifest's family, variants, parameters or versions" if meaning else "its tables"
            raise UserError(f"dataset {self.path} was modified after generation ({what} no longer match its content hash)")
