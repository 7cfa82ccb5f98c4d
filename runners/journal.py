"""The run journal: one JSON line per finished probe, appended and flushed as it happens.

A run killed at any moment (even SIGKILL) leaves at most one torn last line; every complete line is
a finished probe. The last line for a probe wins, so a probe that failed and was retried later is
recorded once, with its latest outcome.

The reader trusts no line: one that holds no record (a torn last line, NUL bytes left by a power loss,
bytes that are not UTF-8, JSON that is not a probe's record) is skipped and counted, one warning line
says how many, and the journal is rewritten without them (they are kept in journal.unreadable). Their
probes have no record, so `lbs run --resume` asks them again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

from longbench_suite import schemas

UNREADABLE = "journal.unreadable"  # beside the journal: the lines the reader skipped, for a post-mortem


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def read(self) -> dict[str, dict[str, Any]]:
        """probe_id -> latest record. Lines without a record are skipped, reported and set aside."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return records
        data = self.path.read_bytes()
        kept: list[bytes] = []
        skipped: list[tuple[int, bytes]] = []  # (line number, its bytes)
        for number, line in enumerate(data.split(b"\n"), 1):  # the last piece: b"" or a line without its end
            if not line.strip():
                continue
            rec = parse_record(line)
            if rec is None:
                skipped.append((number, line))
            else:
                kept.append(line)
                records[rec["probe_id"]] = rec
        if skipped:
            self._set_aside(kept, skipped)
            first = skipped[0][0]
            print(f"warning: journal: kept {len(kept)} records, skipped {len(skipped)} unreadable "
                  f"line{'s' if len(skipped) != 1 else ''} (first at line {first}); their probes count as not done "
                  f"(lines kept in {UNREADABLE})", file=sys.stderr, flush=True)  # fmt: skip
        elif data and not data.endswith(b"\n"):  # a whole record whose newline was lost: end it, so appends start clean
            with open(self.path, "ab") as fh:
                fh.write(b"\n")
        return records

    def _set_aside(self, kept: list[bytes], skipped: list[tuple[int, bytes]]) -> None:
        """Rewrite the journal with the good lines only (atomically), the others appended to UNREADABLE.
        Where that fails (no room), the journal stays as it was: the next read skips the same lines."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(self.path.with_name(UNREADABLE), "ab") as fh:
                fh.write(b"".join(line + b"\n" for _, line in skipped))
            with open(tmp, "wb") as fh:
                fh.write(b"".join(line + b"\n" for line in kept))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def append(self, record: dict[str, Any]) -> None:
        """One whole line straight to the OS (no buffer: after a SIGKILL the OS still has it). A write
        that fails part way (a full disk) is cut back off, so the journal never ends in a torn line."""
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as e:
                raise self._failed(e, len(line)) from None
        start = os.fstat(self._fd).st_size
        try:
            written = 0
            while written < len(line):  # a short write (the disk filling up) is followed by the error
                written += os.write(self._fd, line[written:])
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise self._failed(e, len(line)) from None

    def _failed(self, e: OSError, needed: int) -> Exception:
        from longbench_suite.io import DiskFull, is_disk_full

        return DiskFull.of(e, self.path, needed) if is_disk_full(e) else e

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            except OSError as e:  # delayed allocation: a file system may report a full disk only now
                raise self._failed(e, 0) from None
            finally:
                os.close(fd)


def parse_record(line: bytes) -> dict[str, Any] | None:
    """The record on a journal line, or None: it must be a JSON object naming its probe and outcome
    (probe_id, output, error), each column it has of the predictions table's type."""
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):  # ValueError: not JSON, or not UTF-8 (UnicodeDecodeError)
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("probe_id"), str) or not isinstance(rec.get("output"), str):
        return None
    if "error" not in rec or not all(_fits(rec.get(f.name), f.type) for f in schemas.PREDICTIONS):
        return None
    return rec


def _fits(value: Any, kind: pa.DataType) -> bool:
    """Whether pyarrow can hold `value` in a column of `kind` (None: a null)."""
    if value is None:
        return True
    if pa.types.is_string(kind):
        return isinstance(value, str)
    if pa.types.is_boolean(kind):
        return isinstance(value, bool)
    if pa.types.is_integer(kind):
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if pa.types.is_floating(kind):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if pa.types.is_list(kind):
        return isinstance(value, list) and all(_fits(v, kind.value_type) for v in value)
    if pa.types.is_struct(kind):
        return isinstance(value, dict) and all(_fits(value.get(f.name), f.type) for f in kind)
    return True
