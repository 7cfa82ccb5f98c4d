"""docs/architecture.md's worked example (docs/examples/lockers/) works as the page says: the family module
installed as a plugin through the `longbench_suite.tasks` entry point is listed, generated, run and
scored by the real CLI, and its own test passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import polars as pl

from lbs_testutil import REPO, lbs

EXAMPLE = REPO / "docs" / "examples" / "lockers"
PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "lbs-lockers"
version = "0.0.1"

[tool.setuptools]
py-modules = ["lockers_family"]

[project.entry-points."longbench_suite.tasks"]
lockers = "lockers_family:FAMILY"
'''


def test_the_worked_example_registers_and_runs_end_to_end(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(EXAMPLE / "lockers_family.py", src)
    (src / "pyproject.toml").write_text(PYPROJECT)
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--disable-pip-version-check", "-q", "--target", str(site), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(REPO), str(REPO / "tests")])}

    assert "lockers" in lbs("tasks", env=env).stdout
    assert lbs("generate", "lockers", "-o", tmp_path / "data", "-p", "samples=2", env=env).returncode == 0
    ran = lbs("run", tmp_path / "data", "-s", "oracle", "-o", tmp_path / "run", env=env)
    assert ran.returncode == 0, ran.stderr
    scores = pl.read_parquet(tmp_path / "run" / "scores.parquet")
    assert scores.height == 8 and scores["value"].mean() == 1.0  # 2 lengths x 2 samples x 2 questions

    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "test_lockers.py")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, **env})
    assert own.returncode == 0, own.stdout[-2000:]
    assert "1 passed" in own.stdout
