"""The CLI as a user meets it: help, listings, and bad input -> one line, exit 2, nothing written."""

from __future__ import annotations

import socket

import pytest

from lbs_testutil import lbs, make_needle


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_needle(tmp_path_factory.mktemp("d") / "needle", ["single_1"], ["lengths=512", "depths=50", "samples=2"])


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_help_and_tasks():
    out = lbs("--help")
    assert out.returncode == 0 and "generate" in out.stdout and "demo" in out.stdout
    listing = lbs("tasks")
    assert listing.returncode == 0
    for word in ("needle", "single_1", "multikey_3", "multiquery", "lengths", "depths"):
        assert word in listing.stdout


def test_generate_run_report_round_trip(tmp_path, small):
    data = tmp_path / "d"
    g = lbs("generate", "needle", "-o", data, "-v", "single_2", "-p", "lengths=1k", "-p", "depths=0,100", "--seed", "7")
    assert g.returncode == 0, g.stderr
    r = lbs("run", data, "--system", "oracle", "-o", tmp_path / "run", "--no-cache")
    assert r.returncode == 0, r.stderr
    rep = lbs("report", tmp_path / "run")
    assert rep.returncode == 0, rep.stderr
    assert "100.0" in rep.stdout
    assert list((tmp_path / "run").glob("heatmap-*.png"))


def _bad_cases(tmp, small):
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    for name in ("episodes.parquet", "probes.parquet", "manifest.json"):
        (corrupt / name).write_bytes((small / name).read_bytes())
    (corrupt / "probes.parquet").write_bytes(b"PAR1 this is not parquet")
    a_file = tmp / "a_file"
    a_file.write_text("x")
    port = _closed_port()
    out = tmp / "out"
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    bad_config = tmp / "bad.toml"
    bad_config.write_text('seed = "abc"\n')
    return {
        "overwrite a directory that is not a dataset": ["generate", "needle", "-o", foreign, "--overwrite"],
        "overwrite a directory that is not a run": ["run", small, "--system", "oracle", "-o", foreign, "--overwrite"],
        "output under a file": ["run", small, "--system", "oracle", "-o", a_file / "sub"],
        "config value of the wrong type": ["generate", "needle", "--config", bad_config, "-o", out],
        "unknown baseline option": ["run", small, "--system", "random,sed=5", "-o", out],
        "unknown family": ["generate", "nosuch", "-o", out],
        "unknown variant": ["generate", "needle", "-v", "single_9", "-o", out],
        "unknown parameter": ["generate", "needle", "-p", "colour=red", "-o", out],
        "bad length": ["generate", "needle", "-p", "lengths=abc", "-o", out],
        "zero length": ["generate", "needle", "-p", "lengths=0", "-o", out],
        "depth out of range": ["generate", "needle", "-p", "depths=150", "-o", out],
        "param without =": ["generate", "needle", "-p", "lengths", "-o", out],
        "missing config": ["generate", "needle", "--config", tmp / "nope.toml", "-o", out],
        "unknown tokenizer": ["generate", "needle", "--tokenizer", "nosuch-tok", "-o", out],
        "missing dataset": ["run", tmp / "missing", "--system", "oracle", "-o", out],
        "corrupt parquet": ["run", corrupt, "--system", "oracle", "-o", out],
        "unreachable endpoint": ["run", small, "--system", f"openai:m,base_url=http://127.0.0.1:{port}/v1", "-o", out],
        "empty system spec": ["run", small, "--system", "", "-o", out],
        "unknown system": ["run", small, "--system", "nosuch", "-o", out],
        "secret in spec": ["run", small, "--system", "openai:m,api_key=sk-secret", "-o", out],
        "bad condition": ["run", small, "--system", "oracle", "--condition", "sideways", "-o", out],
        "bad concurrency": ["run", small, "--system", "oracle", "--concurrency", "0", "-o", out],
        "output is a file": ["run", small, "--system", "oracle", "-o", a_file],
        "unknown option": ["run", small, "--bogus", "-o", out],
        "missing report run": ["report", tmp / "norun"],
    }


def test_bad_input_exits_2_with_one_line(tmp_path, small):
    cases = _bad_cases(tmp_path, small)
    for name, args in cases.items():
        res = lbs(*args, timeout=120)
        assert res.returncode == 2, f"{name}: rc={res.returncode} stderr={res.stderr!r}"
        lines = [l for l in res.stderr.strip().splitlines() if l.strip()]
        assert len(lines) == 1, f"{name}: {res.stderr!r}"
        assert lines[0].startswith("error: "), f"{name}: {lines[0]!r}"
        assert "Traceback" not in res.stderr
        assert not (tmp_path / "out").exists(), f"{name} left partial output"
    assert (tmp_path / "a_file").read_text() == "x"
    assert [p.name for p in (tmp_path / "foreign").iterdir()] == ["notes.txt"]


def test_failed_check_destroys_nothing_on_overwrite(tmp_path, small):
    """--overwrite replaces a run only once the new system answered its check."""
    assert lbs("run", small, "--system", "oracle", "-o", tmp_path / "run", "--no-cache").returncode == 0
    before = (tmp_path / "run" / "predictions.parquet").read_bytes()
    res = lbs("run", small, "--system", f"openai:m,base_url=http://127.0.0.1:{_closed_port()}/v1",
              "-o", tmp_path / "run", "--overwrite")
    assert res.returncode == 2
    assert (tmp_path / "run" / "predictions.parquet").read_bytes() == before


def test_report_tells_apart_runs_of_the_same_system(tmp_path, small):
    for name in ("a", "b"):
        assert lbs("run", small, "--system", "random", "-o", tmp_path / name, "--seed", name == "a" and "1" or "2").returncode == 0
    rep = lbs("report", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "rep")
    assert rep.returncode == 0, rep.stderr
    assert "random [a]" in rep.stdout and "random [b]" in rep.stdout
    assert len(list((tmp_path / "rep").glob("heatmap-*.png"))) == 2


def test_generation_is_byte_identical_across_processes(tmp_path):
    """Same seed and version -> the same bytes, whatever the interpreter's hash seed."""
    args = ["generate", "needle", "-p", "lengths=1k", "-p", "samples=2", "--seed", "11"]
    a = lbs(*args, "-o", tmp_path / "a", env={"PYTHONHASHSEED": "1"})
    b = lbs(*args, "-o", tmp_path / "b", env={"PYTHONHASHSEED": "2"})
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    for name in ("episodes.parquet", "probes.parquet", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    c = lbs("generate", "needle", "-p", "lengths=1k", "-p", "samples=2", "--seed", "12", "-o", tmp_path / "c")
    assert (tmp_path / "c" / "probes.parquet").read_bytes() != (tmp_path / "a" / "probes.parquet").read_bytes()
