"""Plugin ergonomics (issue 20): a plugin builds its reader from its own spec, a memory run in context
is warned about (and the warning recorded), describe() lands in run.json, and `python:` is listed
where a user looks. The plugin is a throw-away module under tmp_path named by python:MODULE:ATTR."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import polars as pl
import pytest

from lbs_testutil import REPO, lbs, make_needle, one_line_error
from longbench_suite.spec import parse_spec

PLUGIN = '''
"""A memory that keeps the ingested text and lets a reader answer from it."""
from longbench_suite.protocol import MemorySystem, Probe
from longbench_suite.registry import build_reader


class ReadingMemory(MemorySystem):
    name = "reading-memory"  # concurrent_episodes stays False: a memory, one episode at a time

    def __init__(self, reader, dim):
        self.reader, self.dim, self.text = reader, dim, ""

    async def reset(self):
        self.text = ""

    async def ingest(self, episode):
        self.text = episode.text

    async def answer(self, probe):
        return await self.reader.answer(probe)

    def describe(self):
        return {"name": self.name, "dim": self.dim, "reader": self.reader.describe()}

    async def aclose(self):
        await self.reader.aclose()


def make(spec, ctx):
    return ReadingMemory(build_reader(spec, ctx, default="constant,text=7"), int(spec.option("dim", "64")))


def make_strict(spec, ctx):
    return ReadingMemory(build_reader(spec, ctx), 1)
'''


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("plugin")
    (root / "lbs_reading_plugin.py").write_text(textwrap.dedent(PLUGIN))
    data = make_needle(root / "data", ["single_1"], ["lengths=512", "depths=50", "samples=2"])
    return data, {"PYTHONPATH": os.pathsep.join([str(root), str(REPO)])}


def _manifest(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def test_reader_from_the_spec_and_describe_in_run_json(setup, tmp_path):
    data, env = setup
    spec = "python[lbs_reading_plugin:make,dim=8]:constant,text=42"
    res = lbs("run", data, "-s", spec, "-o", tmp_path / "run", "--condition", "in-memory", env=env)
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr  # in-memory: the memory is what is measured
    assert pl.read_parquet(tmp_path / "run" / "predictions.parquet").get_column("output").to_list() == ["42", "42"]
    system = _manifest(tmp_path / "run")["system"]
    assert system["spec"] == spec and system["label"] == "reading-memory"
    assert system["dim"] == 8 and system["reader"] == {"name": "constant:42", "text": "42", "delay": 0.0}
    assert _manifest(tmp_path / "run")["warnings"] == []
    # No reader named: the plugin's default.
    res = lbs("run", data, "-s", "python:lbs_reading_plugin:make", "-o", tmp_path / "default", "--condition", "in-memory",
              env=env)
    assert res.returncode == 0, res.stderr
    assert _manifest(tmp_path / "default")["system"]["reader"]["text"] == "7"


def test_a_memory_run_in_context_is_warned_and_recorded(setup, tmp_path):
    data, env = setup
    res = lbs("run", data, "-s", "python:lbs_reading_plugin:make", "-o", tmp_path / "run", env=env)
    assert res.returncode == 0, res.stderr
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "reading-memory keeps state" in warned[0] and "--condition in-memory" in warned[0]
    manifest = _manifest(tmp_path / "run")
    assert manifest["condition"] == "in-context" and manifest["warnings"] == [warned[0].removeprefix("warning: ")]
    # A stateless system in context is the normal case: no warning.
    res = lbs("run", data, "-s", "oracle", "-o", tmp_path / "oracle", env=env)
    assert res.returncode == 0 and "warning" not in res.stderr and _manifest(tmp_path / "oracle")["warnings"] == []


def test_reader_errors_are_one_line(setup, tmp_path):
    data, env = setup
    line = one_line_error(lbs("run", data, "-s", "python:lbs_reading_plugin:make_strict", "-o", tmp_path / "a", env=env))
    assert "needs a reader" in line and "python[lbs_reading_plugin:make_strict,...]:embedded" in line
    line = one_line_error(lbs("run", data, "-s", "oracle[x=1]:random", "-o", tmp_path / "b", env=env))
    assert "oracle reads through no other system" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("text", ["python[my_memory.lbs:make,dim=64]:openai:gpt-4o-mini,base_url=http://127.0.0.1:1/v1",
                                  "my-memory[dim=64]:embedded", "retrieval[k=5]:no-context:embedded", "no-context:oracle",
                                  "python:my_memory.lbs:make,dim=64"])
def test_specs_with_readers_round_trip(text):
    spec = parse_spec(text)
    assert str(spec) == text and parse_spec(str(spec)) == spec


def test_python_kind_is_listed():
    assert "python:MODULE:ATTR" in lbs("systems").stdout
    assert "python:MODULE:ATTR" in " ".join(lbs("run", "--help").stdout.split())
