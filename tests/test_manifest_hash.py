"""The content hash covers what the manifest says the tables are (issue 21, item 5).

Changing `family` in manifest.json from needle to m4le used to pass verification (needle data filed under
m4le) and to sort or longmemeval to crash with a KeyError. Now: the tables' own family column must match
the manifest's family (any hash scheme), and the scheme-2 hash covers the manifest's family, variants,
parameters and generator version besides the tables, so each edit is one `error:` line and exit 2, from
every command that reads a dataset (run, score, aggregate, export lm-eval). Scheme-1 datasets (the hashes
earlier runs and the published leaderboards recorded) still verify by their tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbs_testutil import lbs, make_needle, one_line_error
from longbench_suite import io

FAMILIES = ["m4le", "sort", "longmemeval", "joint-recall"]


def _edit_manifest(data: Path, change: Callable[[dict], None]) -> None:
    path = data / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def _set_family_column(data: Path, family: str) -> None:
    """A consistent forgery: the tables' family column rewritten too (their hash changes with it)."""
    for name in ("episodes.parquet", "probes.parquet"):
        table = pq.read_table(data / name)
        column = pa.array([family] * table.num_rows, pa.string())
        pq.write_table(table.set_column(table.schema.get_field_index("family"), "family", column), data / name)


def _to_scheme_1(data: Path) -> None:
    """What an earlier lbs wrote: the tables' hash alone under scheme 1."""
    dataset = io.Dataset(data)
    tables = io.table_hash(dataset.episodes, dataset.probes)
    _edit_manifest(data, lambda m: m.update(hash_scheme=io.TABLES_ONLY_SCHEME, content_hash=tables))


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifest_hash")
    good = make_needle(root / "needle", ["single_1"], ["lengths=512", "depths=50", "samples=2"])
    # a run whose dataset is edited afterwards: score, aggregate and export then meet the edit
    edited = shutil.copytree(good, root / "edited")
    res = lbs("run", edited, "-s", "oracle", "-o", root / "run", "--no-cache")
    assert res.returncode == 0, res.stderr
    _edit_manifest(edited, lambda m: m["params"].update(samples=3))
    old = shutil.copytree(good, root / "old")
    _to_scheme_1(old)
    return SimpleNamespace(root=root, good=good, edited=edited, old=old)


def _family(name: str) -> Callable[[Path], None]:
    return lambda d: _edit_manifest(d, lambda m: m.update(family=name))


def _forged(name: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        _edit_manifest(d, lambda m: m.update(family=name))
        _set_family_column(d, name)
    return edit


# id -> (how the copy of the needle dataset is edited, a substring of the one error line of `lbs run`)
EDITS = {
    **{f"family-{f}": (_family(f), f"names family '{f}' but its tables hold 'needle'") for f in FAMILIES},
    **{f"family-{f}-tables-too": (_forged(f), "modified after generation") for f in FAMILIES},
    "variants": (lambda d: _edit_manifest(d, lambda m: m.update(variants=["single_2"])), "modified after generation"),
    "params": (lambda d: _edit_manifest(d, lambda m: m["params"].update(samples=3)), "modified after generation"),
    "generator_version": (lambda d: _edit_manifest(d, lambda m: m.update(generator_version="1")), "modified after generation"),
    "scheme-1-family": (lambda d: (_to_scheme_1(d), _family("sort")(d)), "names family 'sort'"),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_an_edited_manifest_is_refused_by_run(w, tmp_path, case):
    edit, expected = EDITS[case]
    data = shutil.copytree(w.good, tmp_path / "data")
    edit(data)
    res = lbs("run", data, "-s", "oracle", "-o", tmp_path / "run", "--no-cache")
    assert expected in one_line_error(res)
    assert not (tmp_path / "run").exists()


# Every command that reads the dataset of a run verifies it, as run does.
COMMANDS = {
    "score": lambda w, out: ["score", w.root / "run"],
    "aggregate": lambda w, out: ["aggregate", w.root / "run"],
    "export-lm-eval": lambda w, out: ["export", "lm-eval", w.edited, "-o", out],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_reader_verifies_the_dataset(w, tmp_path, command):
    before = (w.root / "run" / "aggregates.parquet").read_bytes()
    res = lbs(*COMMANDS[command](w, tmp_path / "out"))
    assert "modified after generation" in one_line_error(res)
    assert not (tmp_path / "out").exists()
    assert (w.root / "run" / "aggregates.parquet").read_bytes() == before


def test_a_scheme_1_dataset_still_verifies_and_runs(w, tmp_path):
    """Datasets written before scheme 2 keep their recorded hash (runs, leaderboards) and still run."""
    io.Dataset(w.old).verify()
    res = lbs("run", w.old, "-s", "oracle", "-o", tmp_path / "run", "--no-cache")
    assert res.returncode == 0, res.stderr
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())["dataset"]["content_hash"]
    assert recorded == json.loads((w.old / "manifest.json").read_text())["content_hash"]
    assert recorded != json.loads((w.good / "manifest.json").read_text())["content_hash"]  # scheme 2 differs
