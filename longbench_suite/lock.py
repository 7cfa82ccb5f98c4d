"""One writer per run directory: an exclusive advisory lock held by run, --resume, score, aggregate, judge.

Two writers in one run directory lose data without a word: a second `lbs run` answers every probe
again into the same journal, `--overwrite` deletes a live run's answers under it, and run.json ends up
naming one system while the predictions are another's. So each command that writes a run directory
holds `flock(LOCK_EX)` on `.lbs.lock` inside it for its whole life. A second writer fails at once with
one line naming the holder (pid, host, command, recorded in the lock file) and exit 2, having changed
nothing.

The kernel drops a flock when its process dies, however it dies (kill -9 included), so a lock file left
behind by a dead process is no obstacle: the next writer simply takes it. The file is removed on
release; a writer that opened it just before (it then locks a file no longer in the directory) sees that
the path no longer names what it locked and tries again. Readers (report, gate, leaderboard, show) do not
lock. The lock is re-entrant within a process (`lbs run --judge` holds it across the run and the judging).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError, one_line

LOCK_NAME = ".lbs.lock"

_held: dict[Path, int] = {}  # run directory (resolved) -> depth, for re-entry within this process


def command_line() -> str:
    """This process's command as a user typed it (`lbs run ...`), with anything key-shaped hidden."""
    from .spec import redact

    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if name in ("cli.py", "__main__.py", "lbs"):  # `python -m longbench_suite.cli` or the console script
        name = "lbs"
    return one_line(redact(shlex.join([name, *sys.argv[1:]])), 200)


def only_lock(path: Path) -> bool:
    """True when `path` is missing or holds nothing but a lock file: an empty run directory."""
    path = Path(path)
    return not path.is_dir() or all(p.name == LOCK_NAME for p in path.iterdir())


def clear(path: Path) -> None:
    """Remove what a run directory holds except its lock (--overwrite): removing the lock file under the
    lock would let a third writer create a new one and lock it beside us."""
    import shutil

    for entry in Path(path).iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextlib.contextmanager
def run_lock(path: Path, create: bool = False, command: str | None = None) -> Iterator[None]:
    """Hold the run directory `path` exclusively. `create`: make the directory if it is missing (a new
    run); it is removed again on release if nothing but the lock was ever put in it. Without `create`, a
    missing directory is not locked (the command then reports it missing)."""
    path = Path(path)
    key = path.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    created: Path | None = None  # the outermost directory made here, removed again if left empty
    if not path.is_dir():
        created = _make(path) if create else None
        if created is None:  # missing, or a file in the way: the command reports it as it would unlocked
            yield
            return
    fd = _acquire(path, command or command_line())
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        _release(path, fd, created)


def _make(path: Path) -> Path | None:
    top = path
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    try:
        path.mkdir(parents=True)
    except OSError:  # under a file, unwritable...: left to the command's own check of the path
        return None
    return top


def _acquire(path: Path, command: str) -> int:
    lock = path / LOCK_NAME
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            from .io import DiskFull, is_disk_full

            raise DiskFull.of(e, lock) if is_disk_full(e) else e from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise UserError(f"run directory {path} is in use by {holder}; wait for it to finish or stop it") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed the file as we opened it: lock the one that is there now
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": time.time()}
    with contextlib.suppress(OSError):  # a full disk: held all the same, only not named to a second writer
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd


def _read_holder(fd: int) -> str:
    """'pid N (lbs run ...)', with the host when it is another machine (a shared file system)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"  # it has locked the file and not yet written its name
    host = info.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    command = f" ({info['command']})" if info.get("command") else ""
    return f"pid {info['pid']}{where}{command}"


def _release(path: Path, fd: int, created: Path | None) -> None:
    try:
        with contextlib.suppress(FileNotFoundError):
            (path / LOCK_NAME).unlink()  # still locked: a writer that opened it meanwhile retries
        if created is not None:  # a refused new run leaves nothing behind
            with contextlib.suppress(OSError):  # not empty (the run wrote something): it stays
                for d in [path, *path.parents]:
                    d.rmdir()
                    if d == created:
                        break
    finally:
        os.close(fd)
