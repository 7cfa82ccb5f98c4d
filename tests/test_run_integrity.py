"""Run integrity (issue 21, items 1 and 7), through the real CLI.

Item 1: one writer per run directory. A real `lbs run` is held after its first answer (the `gated`
system below waits for a file, so no timing decides the test on a busy machine) while each second
writer (the same command, --overwrite with another system, --resume, score, score --judge, aggregate)
is refused with one line naming the holder, exit 2; the first run then completes with its own answers
only: one run id, one system, one journal line per probe. A lock left by a killed run is no obstacle.

Item 7: the status and exit code say how a run ended. The issue's numbers are the cases: 22 of 30
probes failed, 12 of 12 failed (both partial, exit 4), the breaker's stop (aborted, exit 5), SIGTERM and
SIGINT (interrupted, exit 143 and 130, and --resume completes the run). The failing system is
`scripted` below, named as python:test_run_integrity:scripted in the CLI subprocesses.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from lbs_testutil import REPO, lbs, make_needle, one_line_error
from longbench_suite.lock import LOCK_NAME
from longbench_suite.protocol import Answer, MemorySystem
from longbench_suite.spec import check_options, option_number

PY = {"PYTHONPATH": str(REPO / "tests")}  # for python:test_run_integrity:scripted
SCRIPTED = "python:test_run_integrity:scripted"
HEALED = "LBS_TEST_SCRIPTED_HEALED"  # set: the scripted system answers everything (same spec: --resume)
EXIT = {"complete": 0, "partial": 4, "aborted": 5, "SIGINT": 130, "SIGTERM": 143}  # README "Runs"


class Scripted(MemorySystem):
    """Answers `ok` of every `of` calls (spread evenly, so failures never run long enough to trip the
    breaker by accident) and fails the others with one RuntimeError. Run with --concurrency 1: the calls
    then come in a fixed order."""

    name = "scripted"
    privileged = True  # it answers with the gold
    concurrent_episodes = True

    def __init__(self, spec):
        check_options(spec, ("ok", "of"))
        self.ok, self.of = option_number(spec, "ok", 0, int), option_number(spec, "of", 1, int)
        self.calls = 0

    async def answer(self, probe):
        i, self.calls = self.calls, self.calls + 1
        if not os.environ.get(HEALED) and (i * self.ok) // self.of == ((i + 1) * self.ok) // self.of:
            raise RuntimeError("scripted failure")
        return Answer(text=", ".join(probe.gold))


def scripted(spec, ctx):
    return Scripted(spec)


class Gated(MemorySystem):
    """The oracle, except that after its first answer it waits until the file named by $LBS_TEST_GATE
    exists: a run that stays live exactly as long as a test needs."""

    name = "gated"
    privileged = True
    concurrent_episodes = True

    def __init__(self) -> None:
        self.calls = 0

    async def answer(self, probe):
        self.calls += 1
        while self.calls > 1 and not os.path.exists(os.environ["LBS_TEST_GATE"]):
            await asyncio.sleep(0.05)
        return Answer(text=", ".join(probe.gold))


def gated(spec, ctx):
    return Gated()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("integrity")
    params = ["lengths=256", "max_new_tokens=8"]
    return {
        30: make_needle(root / "n30", ["single_1"], [*params, "depths=0,50,100", "samples=10"]),
        12: make_needle(root / "n12", ["single_1"], [*params, "depths=0,50,100", "samples=4"], seed=1),
    }


def manifest(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]


def start_run(data: Path, out: Path, spec: str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "longbench_suite.cli", "run", str(data), "-s", spec, "-o", str(out),
                             "--no-cache", *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def wait_for_answers(out: Path, n: int, proc: subprocess.Popen, limit_s: float = 60) -> None:
    """Until the run has journaled n answers (it is past its start, its lock and its run.json)."""
    deadline = time.monotonic() + limit_s
    path = out / "journal.jsonl"
    while not (path.exists() and path.read_text().count("\n") >= n):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)


def status_line(stderr: str, status: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith(f"{status}: ")]
    assert len(lines) == 1, stderr
    return lines[0]


# --- item 1: one writer per run directory ----------------------------------------------------------

GATED = "python:test_run_integrity:gated"


def second_writers(w: dict) -> dict[str, list]:
    return {
        "same-command": ["run", w["data"], "-s", GATED, "-o", w["out"], "--no-cache", "--concurrency", "1"],
        "overwrite": ["run", w["data"], "-s", "random", "-o", w["out"], "--no-cache", "--overwrite"],
        "resume": ["run", w["data"], "-s", GATED, "-o", w["out"], "--no-cache", "--resume"],
        "score": ["score", w["out"]],
        "score-judge": ["score", w["out"], "--judge", "oracle"],
        "aggregate": ["aggregate", w["out"]],
    }


def test_a_live_run_has_one_writer(data, tmp_path):
    out, gate = tmp_path / "run", tmp_path / "gate"
    env = {**PY, "LBS_TEST_GATE": str(gate)}
    first = start_run(data[30], out, GATED, "--concurrency", "1", env=env)
    wait_for_answers(out, 1, first)
    cases = second_writers({"data": data[30], "out": out})
    procs = {name: subprocess.Popen([sys.executable, "-m", "longbench_suite.cli", *map(str, args)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
             for name, args in cases.items()}  # all at once: the first run waits for the gate
    results = {name: (p.communicate(timeout=120), p.returncode) for name, p in procs.items()}
    holder = f"error: run directory {out} is in use by pid {first.pid} (lbs run {data[30]} -s {GATED} -o {out}"
    for name, ((stdout, stderr), code) in results.items():
        line = one_line_error(subprocess.CompletedProcess([], code, stdout, stderr))
        assert line.startswith(holder), (name, line)
    assert first.poll() is None and len(journal(out)) == 1  # untouched: still live, still one answer
    gate.touch()
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    # The first run is whole and its own: no probe ran twice, no other system's answer, one run id.
    m = manifest(out)
    assert m["status"] == "complete" and m["system"]["spec"] == GATED
    lines = journal(out)
    assert len(lines) == len({r["probe_id"] for r in lines}) == 30
    preds = pl.read_parquet(out / "predictions.parquet")
    assert preds.height == 30 and set(preds["run_id"]) == {m["run_id"]} and set(preds["system"]) == {"gated"}
    assert preds["error"].null_count() == 30
    assert not (out / LOCK_NAME).exists()  # released


def test_a_lock_left_by_a_dead_process_is_no_obstacle(data, tmp_path):
    """kill -9 leaves the lock file; the kernel has dropped the lock, so the next writer takes it."""
    out = tmp_path / "run"
    first = start_run(data[12], out, "oracle,delay=0.3", "--concurrency", "1")
    wait_for_answers(out, 2, first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert (out / LOCK_NAME).exists() and manifest(out)["status"] == "running"
    res = lbs("run", data[12], "-s", "oracle,delay=0.3", "-o", out, "--no-cache", "--resume", "--concurrency", "4")
    assert res.returncode == 0, res.stderr
    assert manifest(out)["status"] == "complete" and not (out / LOCK_NAME).exists()
    # A new run whose start was killed leaves a directory holding only the lock: it counts as empty.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / LOCK_NAME).write_text('{"pid": 999999, "host": "elsewhere", "command": "lbs run ..."}\n')
    res = lbs("run", data[12], "-s", "oracle", "-o", fresh, "--no-cache")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in fresh.iterdir() if p.name.startswith(".")) == []


# What the lock file says of its holder -> how the refusal names it.
HOLDERS = {
    "this-host": ({"pid": 4242, "host": None, "command": "lbs run d -o r"}, "in use by pid 4242 (lbs run d -o r);"),
    "other-host": ({"pid": 4242, "host": "node-7", "command": "lbs score r"}, "in use by pid 4242 on node-7 (lbs score r);"),
    "not-yet-written": (None, "in use by another process;"),  # locked, its name not yet written
}


@pytest.mark.parametrize("case", list(HOLDERS))
def test_the_refusal_names_the_holder(tmp_path, case):
    import socket

    from longbench_suite.errors import UserError
    from longbench_suite.lock import run_lock

    info, expected = HOLDERS[case]
    run = tmp_path / "run"
    run.mkdir()
    lock = run / LOCK_NAME
    lock.write_text("" if info is None else json.dumps({**info, "host": info["host"] or socket.gethostname()}))
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
                               "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()", str(lock)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        before = lock.read_text()
        with pytest.raises(UserError, match=re.escape(f"run directory {run} is {expected}")):
            with run_lock(run):
                pass
        assert lock.read_text() == before and sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # untouched
    finally:
        holder.communicate("")
    with run_lock(run), run_lock(run):  # free now; and re-entrant within a process (lbs run --judge)
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


# --- item 7: status and exit code ------------------------------------------------------------------

# id -> (dataset, spec, extra arguments, status, errors, exit code): the numbers
STATUS_CASES = {
    "22-of-30-failed": (30, f"{SCRIPTED},ok=8,of=30", [], "partial", 22, EXIT["partial"]),
    "12-of-12-failed": (12, f"{SCRIPTED},ok=0", [], "partial", 12, EXIT["partial"]),
    "all-answered": (30, "oracle", [], "complete", 0, EXIT["complete"]),
    "limit-answered": (30, "oracle", ["--limit", "5"], "partial", 0, EXIT["complete"]),  # the 5 asked for
    "breaker-stops": (30, f"{SCRIPTED},ok=0", ["--max-consecutive-failures", "5"], "aborted", 5, EXIT["aborted"]),
}


@pytest.mark.parametrize("case", list(STATUS_CASES))
def test_status_and_exit_code(data, tmp_path, case):
    n, spec, extra, status, errors, code = STATUS_CASES[case]
    out = tmp_path / "run"
    res = lbs("run", data[n], "-s", spec, "-o", out, "--no-cache", "--concurrency", "1", *extra, env=PY)
    assert res.returncode == code, res.stderr
    assert "Traceback" not in res.stderr
    m = manifest(out)
    assert m["status"] == status and m["counts"]["errors"] == errors, m["counts"]
    line = status_line(res.stderr, status)
    assert f"{m['counts']['predictions']}/{n} probes, {errors} errors" in line
    if status == "aborted":
        assert "5 consecutive failures" in m["reason"] and m["reason"] in line and "--resume" in line
    if status == "complete" or not errors:
        return
    # Every unfinished status resumes; a system that now answers completes the run with exit 0.
    res = lbs("run", data[n], "-s", spec, "-o", out, "--no-cache", "--resume", env={**PY, HEALED: "1"})
    assert res.returncode == 0, res.stderr
    m2 = manifest(out)
    assert m2["status"] == "complete" and m2["counts"] == {"probes": n, "predictions": n, "errors": 0}
    assert m2["run_id"] == m["run_id"] and "reason" not in m2


SIGNAL_CASES = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


@pytest.mark.parametrize("name", list(SIGNAL_CASES))
def test_a_signal_marks_the_run_interrupted_and_resume_completes_it(data, tmp_path, name):
    out = tmp_path / "run"
    proc = start_run(data[30], out, "oracle,delay=0.3", "--concurrency", "1")
    wait_for_answers(out, 3, proc)
    proc.send_signal(SIGNAL_CASES[name])
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT[name], stderr
    assert "Traceback" not in stderr
    m = manifest(out)
    assert m["status"] == "interrupted" and m["signal"] == SIGNAL_CASES[name] and m["reason"] == f"stopped by {name}"
    answered = len(journal(out))
    assert 3 <= answered < 30 and m["counts"]["predictions"] == answered
    line = status_line(stderr, "interrupted")
    assert f"({answered}/30 probes, 0 errors): stopped by {name}; continue it with --resume" in line
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # the lock released, no litter
    # Without --resume the directory is refused (it holds an unfinished run); with it, the run completes.
    assert "status interrupted" in one_line_error(lbs("run", data[30], "-s", "oracle,delay=0.3", "-o", out))
    res = lbs("run", data[30], "-s", "oracle,delay=0.3", "-o", out, "--no-cache", "--resume", "--concurrency", "8")
    assert res.returncode == 0, res.stderr
    m2 = manifest(out)
    assert m2["status"] == "complete" and m2["counts"]["predictions"] == 30 and "signal" not in m2
    ids = [r["probe_id"] for r in journal(out)]
    assert len(ids) == len(set(ids)) == 30  # nothing answered twice
