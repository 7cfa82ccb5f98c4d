"""Plugins: a throw-away package installed with pip (entry points), and `python:MODULE:ATTR` specs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from lbs_testutil import REPO, lbs, make_needle, one_line_error

PLUGIN = '''
"""A throw-away plugin: a system that remembers the last number it read, and a task family."""
import re

from longbench_suite.protocol import Answer, MemorySystem
from tasks.needle import NeedleFamily


class LastNumberMemory(MemorySystem):
    """Keeps the numbers of the ingested episode; answers the one nearest the question's key."""

    name = "last-number"

    def __init__(self, spec):
        self.spec = spec
        self.text = ""
        self.ingested = 0

    async def reset(self):
        self.text = ""

    async def ingest(self, episode):
        self.text = episode.text
        self.ingested += 1

    async def answer(self, probe):
        key = re.findall(r"for ([\\w-]+)", probe.question)
        at = self.text.find(key[-1]) if key else -1
        numbers = re.findall(r"\\d{4,}", self.text[at:] if at >= 0 else "")
        return Answer(text=numbers[0] if numbers else "none")

    def footprint(self):
        return {"index_items": self.ingested}


def make(spec, ctx):
    return LastNumberMemory(spec)


class EchoNeedle(NeedleFamily):
    name = "plugin-needle"


FAMILY = EchoNeedle()
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "lbs-throwaway-plugin"
version = "0.0.1"

[project.entry-points."longbench_suite.adapters"]
last-number = "lbs_throwaway_plugin:make"

[project.entry-points."longbench_suite.tasks"]
plugin-needle = "lbs_throwaway_plugin:FAMILY"
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """pip-install the package into a private target dir (never into the venv itself)."""
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "src"
    (pkg / "lbs_throwaway_plugin").mkdir(parents=True)
    (pkg / "lbs_throwaway_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    site = root / "site"
    res = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "--target", str(site), str(pkg)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert list(site.glob("lbs_throwaway_plugin-0.0.1.dist-info/entry_points.txt"))
    return site


def _env(site: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}


def test_entry_point_plugin_is_discovered_and_runs(plugin_site, tmp_path):
    env = _env(plugin_site)
    listed = lbs("systems", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "last-number (plugin)" in listed.stdout and "python:MODULE:ATTR" in listed.stdout
    assert "plugin-needle" in lbs("tasks", env=env).stdout

    data = tmp_path / "data"
    gen = lbs("generate", "plugin-needle", "-o", data, "-v", "single_2", "-p", "lengths=512",
              "-p", "depths=0,100", "-p", "samples=2", env=env)  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    assert json.loads((data / "manifest.json").read_text())["family"] == "plugin-needle"

    run = lbs("run", data, "-s", "last-number", "-o", tmp_path / "run", "--condition", "in-memory", env=env)
    assert run.returncode == 0, run.stderr
    preds = pl.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert preds.height == 4 and preds["error"].null_count() == 4
    scores = pl.read_parquet(tmp_path / "run" / "scores.parquet").filter(pl.col("metric") == "string_match_all")
    # The plugin really read the ingested episode: it finds the needle's number after its key.
    assert scores["value"].mean() == 1.0
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["footprint"] == {"index_items": 4}

    # Without the package on the path, the names are unknown (nothing is baked into the suite).
    res = lbs("run", data, "-s", "last-number", "-o", tmp_path / "run2")
    assert "unknown task family 'plugin-needle'" in one_line_error(res)


def test_python_spec_names_a_factory_directly(plugin_site, tmp_path):
    data = make_needle(tmp_path / "data", ["single_2"], ["lengths=512", "depths=50", "samples=2"])
    env = _env(plugin_site)
    run = lbs("run", data, "-s", "python:lbs_throwaway_plugin:make", "-o", tmp_path / "run", "--condition", "in-memory", env=env)
    assert run.returncode == 0, run.stderr
    assert pl.read_parquet(tmp_path / "run" / "predictions.parquet").height == 2
    gen = lbs("generate", "python:lbs_throwaway_plugin:FAMILY", "-o", tmp_path / "d2", "-v", "single_1",
              "-p", "lengths=512", "-p", "depths=50", "-p", "samples=1", env=env)  # fmt: skip
    assert gen.returncode == 0, gen.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("python:no_such_module_xyz:make", "cannot import 'no_such_module_xyz'"),
        ("python:json:no_such_attr", "json has no 'no_such_attr'"),
        ("python:json", "write python:MODULE:ATTR"),
        ("python:json:__doc__", "is not callable"),
        ("python:operator:is_", "returned bool, not a MemorySystem"),
    ],
)
def test_bad_python_specs_are_one_line_errors(tmp_path, spec, message):
    data = make_needle(tmp_path / "data", ["single_1"], ["lengths=512", "depths=50", "samples=1"])
    line = one_line_error(lbs("run", data, "-s", spec, "-o", tmp_path / "run"))
    assert message in line
    assert not (tmp_path / "run").exists()
