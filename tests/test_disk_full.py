"""A full disk (issue 21, item 4), on a real one: a 2 MB tmpfs filled up with a ballast file.

generate, run, score, report and leaderboard into a full disk each give one `error:` line naming the
path and the room needed, exit 2, and no traceback; what was there before is intact (tables and
directories are replaced by rename only once whole) and no temp file or stage is left behind. A run
whose journal fills the disk part way leaves a journal of whole lines; once space is freed, the same
command (for a run: --resume) completes.

Mounting a tmpfs needs root (CAP_SYS_ADMIN): elsewhere these tests are skipped, saying why.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from lbs_testutil import lbs, make_needle
from longbench_suite.io import DiskFull, is_disk_full

DISK_MB = 2  # the size the attack used


@pytest.fixture
def disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a {DISK_MB} MB tmpfs here (needs root): {res.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Take all the free space of `disk` but `leave` bytes, with a ballast file."""
    free(disk)
    room = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - leave
    with open(disk / "ballast", "wb") as fh:
        try:
            while room > 0:
                room -= fh.write(b"\0" * min(room, 1 << 16))
                fh.flush()
        except OSError:
            pass  # full a little early: so much the better
    assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize <= max(leave, 0) + 4096


def free(disk: Path) -> None:
    (disk / "ballast").unlink(missing_ok=True)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (but the ballast), with its bytes: hidden temp files and stages included."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "ballast"}


def error_line(res: subprocess.CompletedProcess) -> str:
    """Exit 2, no traceback, one `error:` line and it is the last (a run prints its progress before)."""
    assert res.returncode == 2, f"rc={res.returncode} stderr={res.stderr!r}"
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr
    return errors[0]


@pytest.fixture(scope="module")
def needle(tmp_path_factory):
    # 60 probes: a run's journal is ~45 KB, so it fills a disk left with ~30 KB about half way
    return make_needle(tmp_path_factory.mktemp("full") / "needle", ["single_1"],
                       ["lengths=512", "depths=0,50,100", "samples=20"])


def _run_elsewhere(needle: Path, out: Path) -> Path:
    res = lbs("run", needle, "-s", "oracle", "-o", out, "--no-cache")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def finished_run(needle):
    """A complete run on a disk with room: what report and leaderboard read."""
    return _run_elsewhere(needle, needle.parent / "run")


# id -> (set up what is there before, with room; the command that then meets a full disk; the path
# the error line must name)
CASES = {
    "generate": (
        lambda w: lbs("generate", "needle", "-o", w.disk / "ds", "-v", "single_1", "-p", "lengths=512", "-p", "samples=2"),
        lambda w: ["generate", "needle", "-o", w.disk / "ds", "-v", "single_1", "-p", "lengths=512", "-p", "samples=3",
                   "--overwrite"],
        lambda w: w.disk / "ds",
    ),
    "score": (
        lambda w: _run_elsewhere(w.needle, w.disk / "run"),
        lambda w: ["score", w.disk / "run"],
        lambda w: w.disk / "run",
    ),
    "report": (
        lambda w: lbs("report", w.run, "-o", w.disk / "rep"),
        lambda w: ["report", w.run, "-o", w.disk / "rep"],
        lambda w: w.disk / "rep",
    ),
    "leaderboard": (
        lambda w: lbs("leaderboard", "build", w.run, "-o", w.disk / "lb"),
        lambda w: ["leaderboard", "build", w.run, "-o", w.disk / "lb", "--overwrite"],
        lambda w: w.disk / "lb",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_full_disk_is_one_line_and_leaves_the_previous_state(case, disk, needle, finished_run):
    setup, command, named = CASES[case]
    w = SimpleNamespace(disk=disk, needle=needle, run=finished_run)
    done = setup(w)
    assert not isinstance(done, subprocess.CompletedProcess) or done.returncode == 0, done.stderr
    before = snapshot(disk)
    assert before, "the setup wrote nothing to replace"

    fill(disk)
    line = error_line(lbs(*command(w)))
    assert "no space left on device" in line and str(named(w)) in line and "MB free needed" in line, line
    assert snapshot(disk) == before, "a full disk changed, removed or left files"  # no temp file, no stage

    free(disk)  # and the same command completes
    res = lbs(*command(w))
    assert res.returncode == 0, res.stderr


def test_run_whose_journal_fills_the_disk_resumes_to_complete(disk, needle):
    out = disk / "run"
    fill(disk, leave=96 * 1024)  # run.json, the 64 KB the run sets aside for its last word, ~30 lines of journal
    line = error_line(lbs("run", needle, "-s", "oracle", "-o", out, "--no-cache"))
    assert "no space left on device" in line and str(out / "journal.jsonl") in line, line

    journal = (out / "journal.jsonl").read_bytes()
    assert journal.endswith(b"\n"), "a torn last line"
    first = [json.loads(line)["probe_id"] for line in journal.splitlines()]
    assert 0 < len(first) < 60 and len(set(first)) == len(first)  # it stopped part way, each probe once
    stopped = json.loads((out / "run.json").read_text())  # rewritten in the room the run set aside for it
    assert stopped["status"] == "interrupted" and stopped["reason"] == line.removeprefix("error: "), stopped
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]

    free(disk)
    res = lbs("run", needle, "-s", "oracle", "-o", out, "--no-cache", "--resume")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"] == {"probes": 60, "predictions": 60, "errors": 0}
    ids = [json.loads(line)["probe_id"] for line in (out / "journal.jsonl").read_bytes().splitlines()]
    assert len(ids) == 60 and ids[: len(first)] == first  # the first part kept, nothing answered twice
    assert pq.read_table(out / "predictions.parquet").num_rows == 60
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) in ([], [".lbs.lock"])  # no room file left



@pytest.mark.parametrize("code,needed,line", [
    (errno.ENOSPC, 0, "no space left on device writing /data/x.parquet: at least 1 MB free needed"),
    (errno.EDQUOT, 3_500_000, "disk quota exceeded writing /data/x.parquet: at least 4 MB free needed"),
])
def test_the_line_names_the_path_and_the_room(code, needed, line):
    """What a full quota says (no tmpfs here has quotas): the same line, rounded up to whole MB."""
    error = OSError(code, os.strerror(code))
    assert is_disk_full(error) and not is_disk_full(OSError(errno.EACCES, "denied"))
    assert str(DiskFull.of(error, Path("/data/x.parquet"), needed)) == line
