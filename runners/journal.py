"""The run journal: one JSON line per finished probe, appended and flushed as it happens.

A run killed at any moment (even SIGKILL) leaves at most one torn last line, which is cut off on
resume; every complete line is a finished probe. The last line for a probe wins, so a probe that
failed and was retried later is recorded once, with its latest outcome.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def read(self) -> dict[str, dict[str, Any]]:
        """probe_id -> latest record; repairs a torn final line left by a crash."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return records
        data = self.path.read_bytes()
        good_end = data.rfind(b"\n") + 1
        if good_end < len(data):  # a torn line from a crash: drop it so appends start clean
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
        for line in data[:good_end].splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # cannot happen for lines we wrote whole; never trust a line we cannot parse
            records[rec["probe_id"]] = rec
        return records

    def append(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")
        # One write of one whole line, then flush: after a SIGKILL the OS still has it.
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
