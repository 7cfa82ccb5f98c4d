"""The Ray backend (`lbs run --backend ray`) on a local Ray cluster of this machine's CPUs: the same
predictions as the local runner, actors killed mid-run, a driver killed mid-run and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
import pytest
from lbs_testutil import REPO, lbs, one_line_error

pytest.importorskip("ray", reason="the ray extra is part of the dev install")  # scripts/install.sh cpu,dev

TESTS = Path(__file__).resolve().parent
SLOW_ORACLE = "oracle,delay=0.2"  # 96 probes take ~5 s on two actors: time to kill something mid-run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """12 episodes of 8 probes: each episode's probes stay on one actor."""
    out = tmp_path_factory.mktemp("ray") / "jr"
    res = lbs("generate", "joint-recall", "-o", out, "-v", "words", "-p", "n_ctx=1,2", "-p", "samples=6",
              "-p", "lengths=1024", "--tokenizer", "approx")  # fmt: skip
    assert res.returncode == 0, res.stderr
    return out


def predictions(run: Path) -> pl.DataFrame:
    """The predictions as a set of rows, less what differs between two runs of the same system."""
    return pl.read_parquet(run / "predictions.parquet").drop("run_id", "latency_s").sort("probe_id")


def manifest(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def journal_ids(run: Path) -> list[str]:
    return [json.loads(line)["probe_id"] for line in (run / "journal.jsonl").read_text().splitlines()]


def run_both(data: Path, tmp_path: Path, system: str, *ray_args: str, env: dict | None = None) -> tuple[Path, Path]:
    local, ray = tmp_path / "local", tmp_path / "ray"
    for out, extra in ((local, ()), (ray, ("--backend", "ray", *ray_args))):
        res = lbs("run", data, "-s", system, "-o", out, "--no-cache", *extra, env=env)
        assert res.returncode == 0, res.stderr
    return local, ray


def ray_run(data: Path, out: Path, system: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "longbench_suite.cli", "run", data, "-s", system, "-o", out, "--no-cache",
         "--backend", "ray", "--workers", "2", "--concurrency", "2", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_lines(run: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    journal = run / "journal.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if journal.exists() and len(journal.read_text().splitlines()) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} journal lines after {timeout} s")


def workers_of(proc: subprocess.Popen) -> list[psutil.Process]:
    """The run's actor processes (Ray names them ray::EpisodeWorker...)."""
    found = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if child.cmdline() and child.cmdline()[0].startswith("ray::EpisodeWorker"):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.parametrize("system", ["oracle", "random"])
def test_same_predictions_as_the_local_runner(data, tmp_path, system):
    local, ray = run_both(data, tmp_path, system, "--workers", "2")
    assert predictions(ray).equals(predictions(local))
    m = manifest(ray)
    assert m["status"] == "complete" and m["counts"]["errors"] == 0
    assert m["backend"] == {"name": "ray", "address": "local", "workers": 2, "resources_per_worker": {"CPU": 1.0},
                            "replaced_workers": 0}  # fmt: skip
    assert manifest(local)["backend"] == {"name": "local"}
    means = pl.read_parquet(ray / "aggregates.parquet")["mean"]
    if system == "oracle":  # a scorer that does not give the oracle 1.0 is wrong
        assert means.min() == 1.0
    else:  # chance is 1/n_value = 1/16
        assert means.max() < 0.5


@pytest.mark.server
def test_client_of_the_embedded_server(embedded_server, tmp_path):
    data = tmp_path / "niah"
    res = lbs("generate", "needle", "-o", data, "-v", "single_1", "-p", "lengths=1k", "-p", "depths=0,100",
              "-p", "samples=3", "--tokenizer", "embedded")  # fmt: skip
    assert res.returncode == 0, res.stderr
    spec = f"openai:{embedded_server.served_name},base_url={embedded_server.base_url}"
    out = tmp_path / "ray"
    res = lbs("run", data, "-s", spec, "-o", out, "--no-cache", "--backend", "ray", "--workers", "2", "--concurrency", "2")
    assert res.returncode == 0, res.stderr
    m = manifest(out)
    assert m["status"] == "complete" and m["counts"] == {"probes": 6, "predictions": 6, "errors": 0}
    rows = pl.read_parquet(out / "predictions.parquet")
    assert rows["prompt_tokens"].min() > 500  # the real model read the haystack
    assert rows["output"].str.len_chars().min() > 0


def test_killed_actor_is_replaced_with_no_loss_and_no_duplicates(data, tmp_path):
    out = tmp_path / "ray"
    proc = ray_run(data, out, SLOW_ORACLE)
    wait_for_lines(out, 24, proc)
    victims = workers_of(proc)
    assert len(victims) == 2
    victims[0].send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    m = manifest(out)
    assert m["status"] == "complete" and m["counts"]["errors"] == 0
    assert m["backend"]["replaced_workers"] >= 1
    ids = journal_ids(out)
    assert len(ids) == len(set(ids)) == 96  # each probe journaled once
    local = tmp_path / "local"
    assert lbs("run", data, "-s", SLOW_ORACLE, "-o", local, "--no-cache", "--concurrency", "8").returncode == 0
    assert predictions(out).equals(predictions(local))


def test_an_episode_that_kills_its_worker_is_retried_then_recorded_as_failed(data, tmp_path):
    episodes = pl.read_parquet(data / "probes.parquet")["episode_id"].unique(maintain_order=True).to_list()
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    # Dies once: the episode is re-run on a new actor, and nothing shows. (Locally the run itself would
    # die: compare with the oracle's predictions, which the system gives when it does not crash.)
    once, oracle = tmp_path / "once", tmp_path / "oracle"
    res = lbs("run", data, "-s", f"python:ray_crashing:make,episode={episodes[3]},marker={tmp_path / 'died'}",
              "-o", once, "--no-cache", "--backend", "ray", "--workers", "2", "--concurrency", "1", env=env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert manifest(once)["backend"]["replaced_workers"] == 1 and manifest(once)["counts"]["errors"] == 0
    assert lbs("run", data, "-s", "oracle", "-o", oracle, "--no-cache").returncode == 0
    answers = ["probe_id", "output", "error"]  # the crashing system gives no choice logprobs
    assert predictions(once).select(answers).equals(predictions(oracle).select(answers))

    # Dies every time: bounded retries, then the episode's probes carry the error; the rest is answered.
    out = tmp_path / "always"
    res = lbs("run", data, "-s", f"python:ray_crashing:make,episode={episodes[5]}", "-o", out, "--no-cache",
              "--backend", "ray", "--workers", "2", "--concurrency", "1", env=env)  # fmt: skip
    assert res.returncode == 4, res.stderr  # partial: some probes failed (issue 21)
    m = manifest(out)
    assert m["status"] == "partial" and m["backend"]["replaced_workers"] == 3
    rows = pl.read_parquet(out / "predictions.parquet")
    failed = rows.filter(pl.col("error").is_not_null())
    assert set(failed["episode_id"]) == {episodes[5]} and failed.height == 8
    assert failed["error"].str.starts_with("worker died during this episode 3 times").all()
    scores = pl.read_parquet(out / "scores.parquet")
    assert scores.filter(~pl.col("probe_id").is_in(failed["probe_id"].implode()))["value"].min() == 1.0


def test_driver_killed_mid_run_resumes_to_the_local_result(data, tmp_path):
    out = tmp_path / "ray"
    proc = ray_run(data, out, SLOW_ORACLE)
    wait_for_lines(out, 24, proc)
    ray_processes = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    # The local cluster the driver started goes with it (its agents later: below), actors included.
    core = [p for p in ray_processes if "Agent" not in p.name()]
    _, alive = psutil.wait_procs(core, timeout=60)
    assert not alive, [p.name() for p in alive]
    before = journal_ids(out)
    assert 24 <= len(before) < 96 and manifest(out)["status"] == "running"

    res = lbs("run", data, "-s", SLOW_ORACLE, "-o", out, "--no-cache", "--resume", "--backend", "ray",
              "--workers", "2", "--concurrency", "2")  # fmt: skip
    assert res.returncode == 0, res.stderr
    m = manifest(out)
    assert m["status"] == "complete" and m["counts"] == {"probes": 96, "predictions": 96, "errors": 0}
    ids = journal_ids(out)
    assert ids[: len(before)] == before and len(ids) == len(set(ids)) == 96  # only the missing probes ran
    local = tmp_path / "local"
    assert lbs("run", data, "-s", SLOW_ORACLE, "-o", local, "--no-cache", "--concurrency", "8").returncode == 0
    assert predictions(out).equals(predictions(local))
    # Ray's dashboard and runtime-env agents see their raylet gone and exit, after a GCS timeout.
    _, alive = psutil.wait_procs(ray_processes, timeout=240)
    assert not alive, [p.name() for p in alive]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2"], "need --backend ray"),
        (["--backend", "spark"], "--backend must be local or ray"),
        (["--backend", "ray", "--workers", "0"], "--workers must be at least 1"),
        (["--backend", "ray", "--resources-per-worker", "GPU"], "expected NAME=AMOUNT pairs"),
        (["--backend", "ray", "--resources-per-worker", "CPU=-1"], "bad resource CPU=-1"),
        (["--backend", "ray", "--resources-per-worker", "GPU=1"], "0 GPU free"),
        (["--backend", "ray", "--workers", "64"], "free resources hold"),
        (["--backend", "ray", "-s", "openai:x,base_url=http://127.0.0.1:9/v1"], "cannot reach"),
    ],
    ids=["ray-flag-without-ray", "unknown-backend", "zero-workers", "bad-resources", "negative-resource",
         "no-gpu", "too-many-workers", "endpoint-down-on-the-workers"],
)
def test_bad_ray_options_are_one_line_errors(data, tmp_path, args, message):
    out = tmp_path / "run"
    system = [] if "-s" in args else ["-s", "oracle"]
    line = one_line_error(lbs("run", data, *system, "-o", out, *args))
    assert message in line
    assert not out.exists()
