"""Generation is sized before it starts and cleans up after itself (issue 21, item 2).

`-p lengths=9999999999k` once grew to 15 GB before the OOM killer took it, and `samples=1000000000` grew
without end: every family now estimates its dataset from the parameters and the CLI refuses past the
bounds in one line, at once, without allocating (checked under a 2 GiB address-space limit, so a
regression fails here instead of taking the machine down). An interrupted generation leaves no hidden
staging folder: a signal removes it on the way out, and a stage a killed process left behind is removed
by the next generation in the same folder (its name holds the host and pid; only dead pids go)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lbs_testutil import REPO, ctrl_c_default, lbs, one_line_error
from longbench_suite import io
from longbench_suite.generate import DEFAULT_MAX_TOKENS, generate_dataset
from longbench_suite.registry import task_family
from longbench_suite.task import parse_params

ADDRESS_SPACE = 2 * 2**30  # python + pyarrow + polars start in ~1 GiB of it; a real generation of these needs far more


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _cli(*args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "longbench_suite.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, preexec_fn=_limited)


# id -> (family, parameters, a substring of the refusal). The two numbers first; then each
# family's own way of asking for too much (its count and its size parameters).
REFUSED = {
    "needle-lengths-9999999999k": ("needle", ["lengths=9999999999k"], "tokens"),
    "needle-samples-1000000000": ("needle", ["samples=1000000000"], "4.00e+10 items"),
    "joint-recall-samples-1000000000": ("joint-recall", ["samples=1000000000"], "tokens"),
    "joint-recall-lengths-9999999999k": ("joint-recall", ["lengths=9999999999k"], "tokens"),
    "longmemeval-samples-1000000000": ("longmemeval", ["samples=1000000000", "abstention=0"], "tokens"),
    "longmemeval-sessions-100000000": ("longmemeval", ["sessions=100000000"], "tokens"),
    "sort-book-words-1000000000": ("sort", ["book_words=1000000000"], "tokens"),
    "sort-excerpts-1000000000": ("sort", ["excerpts=1000000000"], "in memory"),
    "m4le-samples-1000000000": ("m4le", ["samples=1000000000"], "tokens"),
    "m4le-articles-100000000": ("m4le", ["articles=100000000"], "in memory"),
    "needle-one-episode-beyond-memory": ("needle", ["lengths=64m", "depths=50"], "in memory"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_absurd_sizes_are_refused_at_once(tmp_path, case):
    family, params, expected = REFUSED[case]
    args = [a for p in params for a in ("-p", p)]
    start = time.monotonic()
    res = _cli("generate", family, "-o", tmp_path / "out", *args)
    elapsed = time.monotonic() - start
    line = one_line_error(res)
    assert expected in line and "--force" in line, line
    assert elapsed < 30, f"refusal took {elapsed:.1f}s"  # ~1 s: the interpreter's start, nothing generated
    assert list(tmp_path.iterdir()) == []  # no output, no stage


def test_the_bound_is_an_option_and_force_passes_it(tmp_path):
    small = ["needle", "-v", "single_1", "-p", "lengths=512", "-p", "depths=0,100"]  # 2 x 512 tokens
    line = one_line_error(lbs("generate", *small, "-o", tmp_path / "a", "--max-tokens", "1000"))
    assert "1,024 tokens" in line and "1,000" in line
    assert lbs("generate", *small, "-o", tmp_path / "a", "--max-tokens", "1024").returncode == 0
    res = lbs("generate", *small, "-o", tmp_path / "b", "--max-tokens", "1000", "--force")
    assert res.returncode == 0, res.stderr
    io.Dataset(tmp_path / "b").verify()
    assert "at least 1" in one_line_error(lbs("generate", *small, "-o", tmp_path / "c", "--max-tokens", "0"))


@pytest.mark.parametrize("family", ["needle", "joint-recall", "longmemeval", "sort", "m4le"])
def test_estimates_hold_what_a_small_generation_makes(tmp_path, family):
    """The estimate is an upper bound of the text made (within the word-to-token factor for word-counted
    families) and counts the probes; the defaults of every family pass the bounds."""
    params = {"needle": ["lengths=512", "depths=0,100", "samples=2"],
              "joint-recall": ["lengths=512", "n_ctx=1,2", "samples=2", "n_queries=2"],
              "longmemeval": ["types=single-session-user", "samples=2", "abstention=0", "lengths=2k"],
              "sort": ["lengths=250", "books=1", "book_words=3000", "excerpts=2", "heldout=0"],
              "m4le": ["buckets=1k", "samples=1", "articles=40", "unit=tokens"]}[family]
    fam = task_family(family)
    variants = fam.check_variants(["single_1"] if family == "needle" else ["classification"] if family == "m4le" else None)
    est = fam.estimate(parse_params(fam.Params, params), variants)
    manifest = generate_dataset(family, tmp_path / "d", variants, params)
    made = pq.read_table(tmp_path / "d" / "episodes.parquet", columns=["n_tokens"]).column("n_tokens").to_pylist()
    assert sum(n or 0 for n in made) <= est.tokens
    assert manifest["counts"]["probes"] <= est.items * 8  # joint-recall asks n_queries per episode
    default = fam.estimate(parse_params(fam.Params, []), fam.check_variants(None))
    assert default.tokens <= DEFAULT_MAX_TOKENS


@pytest.mark.parametrize("family", ["needle", "joint-recall"])
def test_probes_stream_in_pieces(tmp_path, monkeypatch, family):
    """Episodes and probes are written piece by piece (a billion items never sit in a list), and the
    streamed tables are the family's whole tables, with the same hash."""
    import tasks.joint_recall

    monkeypatch.setattr(io, "EPISODE_ROW_GROUP_BYTES", 20_000)  # a needle piece every ~2 episodes
    monkeypatch.setattr(tasks.joint_recall, "PIECE_TOKENS", 4096)  # a joint-recall piece every 2 episodes
    params = ["lengths=2k", "samples=3"] + (["depths=0,50,100"] if family == "needle" else ["n_ctx=1,2,4"])
    variants = ["single_1"] if family == "needle" else ["words"]
    fam = task_family(family)
    whole = fam.generate(variants, parse_params(fam.Params, params), 0, None)
    manifest = generate_dataset(family, tmp_path / "d", variants, params)
    assert pq.ParquetFile(tmp_path / "d" / "probes.parquet").metadata.num_row_groups > 2
    dataset = io.Dataset(tmp_path / "d")
    dataset.verify()
    assert dataset.episodes.equals(whole[0]) and dataset.probes.equals(whole[1])
    assert manifest["content_hash"] == io.table_hash(*whole, manifest)


def _stages(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".lbs-stage-" in p.name]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_generation_leaves_no_stage(tmp_path, sig):
    """A real `lbs generate` (~7 s of work) is signalled once its stage exists: it exits 128+signal
    (SIGINT: 130) and neither the stage nor the output remains."""
    proc = subprocess.Popen([sys.executable, "-m", "longbench_suite.cli", "generate", "needle", "-o", tmp_path / "d",
                             "-v", "single_2", "-p", "lengths=4m", "-p", "depths=0,25,50,75,100"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_default)
    deadline = time.monotonic() + 60
    while not _stages(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stages(tmp_path), "no stage appeared"
    time.sleep(0.3)  # inside the generation
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_generation_removes_stages_of_dead_processes(tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f".old.lbs-stage-{host}-{_dead_pid()}-abcd1234"
    live = tmp_path / f".other.lbs-stage-{host}-{os.getpid()}-efgh5678"  # this process: alive
    remote = tmp_path / f".old.lbs-stage-elsewhere.example-{_dead_pid()}-ijkl9012"  # another host's pid
    legacy = tmp_path / ".old.k2j3h4g5"  # a stage of an older lbs: no pid to check, kept
    for stage in (dead, live, remote, legacy):
        stage.mkdir()
        (stage / "episodes.parquet").write_bytes(b"half")
    res = lbs("generate", "needle", "-v", "single_1", "-p", "lengths=512", "-p", "depths=50", "-o", tmp_path / "new")
    assert res.returncode == 0, res.stderr
    assert not dead.exists()
    assert live.exists() and remote.exists() and legacy.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, remote.name, legacy.name, "new"])
