"""No code from data (issue 10): nothing in a dataset, a run directory, a leaderboard or a baseline is
unpickled, evaluated or imported, and models run their own code only when the user asks.

(a) a static scan of the package sources; (b) crafted inputs whose every loading path would leave a
marker file (a pickle that opens it, an Arrow extension type carrying that pickle, code in manifest
fields, a recorded `python:` spec naming a module that creates it on import) go through every stage
of the CLI; (c) vLLM's --trust-remote-code only when asked (hf: is covered in test_hf_adapter.py)."""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbs_testutil import REPO, lbs, make_needle

from longbench_suite import io

PACKAGES = ("longbench_suite", "tasks", "adapters", "runners", "data_builders")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "marshal", "shelve", "joblib"}


def unsafe_calls(source: str) -> list[str]:
    """Lines of `source` that could run code from data: pickle-like imports, eval/exec/compile,
    a non-literal __import__, torch.load without weights_only=True, yaml.load without a safe loader,
    read_pickle, and trust_remote_code=True / allow_pickle=True literals."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}: import {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        kw = {k.arg: k.value for k in node.keywords}
        if isinstance(func, ast.Name) and name in ("eval", "exec", "compile"):
            found.append(f"{where}: {name}()")
        if name == "__import__" and not (node.args and isinstance(node.args[0], ast.Constant)):
            found.append(f"{where}: __import__ of a computed name")
        if owner == "torch" and name == "load" and not (
                isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
            found.append(f"{where}: torch.load without weights_only=True")
        if owner == "yaml" and (name in ("unsafe_load", "full_load") or (
                name == "load" and "SafeLoader" not in ast.unparse(kw.get("Loader", ast.Constant(None))))):
            found.append(f"{where}: yaml.{name} without SafeLoader")
        if name in ("read_pickle", "loads") and owner in ("pd", "pandas", "pickle"):
            found.append(f"{where}: {owner}.{name}")
        for key in ("trust_remote_code", "allow_pickle"):
            if isinstance(kw.get(key), ast.Constant) and kw[key].value is True:
                found.append(f"{where}: {key}=True")
    return found


def test_sources_never_load_code_from_data():
    # the scanner finds each pattern it looks for
    bad = ("import pickle\nfrom dill import loads\neval(x)\nexec(y)\n__import__(name)\ntorch.load(f)\n"
           "yaml.load(s)\nyaml.load(s, Loader=yaml.SafeLoader)\npd.read_pickle(p)\n"
           "AutoModel.from_pretrained(m, trust_remote_code=True)\nnp.load(f, allow_pickle=True)\n"
           "torch.load(f, weights_only=True)\nmodel.eval()\n__import__('datasets')\n")
    assert len(unsafe_calls(bad)) == 10, unsafe_calls(bad)
    files = [p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]
    assert len(files) > 40
    found = {str(p.relative_to(REPO)): hits for p in files if (hits := unsafe_calls(p.read_text(encoding="utf-8")))}
    assert found == {}


# --- crafted inputs ---------------------------------------------------------------------------------


class _Touch:
    """Unpickling this opens (creates) a file: proof that something unpickled."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _trap_table(path: Path, payload: bytes) -> None:
    """Add to a parquet file a column of pickles typed as Arrow's pickled Python extension type (which
    pyarrow < 14 unpickled on read), and pandas metadata naming it."""
    table = pq.read_table(path)
    field = pa.field("payload", pa.binary(), metadata={b"ARROW:extension:name": b"arrow.py_extension_type",
                                                       b"ARROW:extension:metadata": payload})
    table = table.append_column(field, pa.array([payload] * table.num_rows, pa.binary()))
    pandas = {"index_columns": [], "columns": [{"name": "payload", "pandas_type": "object", "numpy_type": "object",
                                                "metadata": {"pickle": payload.hex()}}], "pandas_version": "0.0"}
    meta = {**(table.schema.metadata or {}), b"pandas": json.dumps(pandas).encode(), b"lbs.payload": payload.hex().encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def _trap_json(path: Path, code: str, **fields) -> None:
    data = json.loads(path.read_text())
    data.update({"code": code, "__reduce__": code, "py/object": "os.system", **fields})
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def trap(tmp_path_factory):
    root = tmp_path_factory.mktemp("trap")
    marker = root / "MARKER"
    payload = pickle.dumps(_Touch(marker))
    mods = root / "mods"
    mods.mkdir()
    (mods / "lbs_marker_mod.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\nFAMILY = None\n\ndef make(spec, ctx):\n    return None\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(mods), os.environ.get("PYTHONPATH")])),
           "LBS_CACHE_DIR": str(root / "cache")}
    # the traps work: unpickling the payload or importing the module makes the marker
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    subprocess.run([sys.executable, "-c", "import lbs_marker_mod"], env={**os.environ, **env}, check=True)
    assert marker.exists()
    marker.unlink()
    return root, marker, payload, env


def test_crafted_data_runs_no_code(trap):
    root, marker, payload, env = trap
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    data = make_needle(root / "data", ["single_1"], ["lengths=512", "depths=50", "samples=2"])
    for name in ("episodes.parquet", "probes.parquet"):
        _trap_table(data / name, payload)
    _trap_json(data / "manifest.json", code, python="python:lbs_marker_mod:FAMILY", template=code)

    def check(expected_rc: int, *args) -> None:
        res = lbs(*args, env=env, timeout=120)
        assert "Traceback" not in res.stderr and res.returncode == expected_rc, (args, res.stderr)
        assert not marker.exists(), f"lbs {' '.join(map(str, args))} ran code from its input"

    # The content hash covers the manifest's meaning: the crafted keys alone make the dataset refused...
    check(2, "run", data, "-s", "oracle", "-o", root / "refused", "--no-cache")
    # ...so stamp the hash again, as an attacker could, and every command must still run no code.
    manifest = json.loads((data / "manifest.json").read_text())
    ds = io.Dataset(data)
    manifest["content_hash"] = io.table_hash(ds.episodes, ds.probes, manifest)
    (data / "manifest.json").write_text(json.dumps(manifest))
    check(0, "run", data, "-s", "oracle", "-o", root / "run", "--no-cache")
    run = root / "run"
    for name in ("predictions.parquet", "scores.parquet", "aggregates.parquet"):
        _trap_table(run / name, payload)
    (run / "journal.jsonl").write_text((run / "journal.jsonl").read_text() + json.dumps({"code": code}) + "\n")
    _trap_json(run / "run.json", code, judge={"spec": "python:lbs_marker_mod:make"})
    manifest = json.loads((run / "run.json").read_text())
    manifest["system"].update(spec="python:lbs_marker_mod:make", label="python:lbs_marker_mod:make")
    (run / "run.json").write_text(json.dumps(manifest))

    check(0, "score", run)
    check(0, "aggregate", run)
    check(0, "report", run, "-o", root / "report")
    check(2, "run", data, "-s", "oracle", "-o", run, "--resume", "--no-cache")  # another system was recorded
    check(0, "gate", "-b", run, "-c", run, "--write-baseline", root / "base.parquet", "--allow-inconclusive")
    check(0, "leaderboard", "build", run, "-o", root / "board")
    check(0, "export", "lm-eval", data, "-o", root / "lm-eval")
    _trap_table(root / "base.parquet", payload)
    for name in ("leaderboard.parquet", "aggregates.parquet"):
        _trap_table(root / "board" / name, payload)
    _trap_json(root / "board" / "leaderboard.json", code)
    board2 = shutil.copytree(root / "board", root / "board2")
    check(0, "gate", "-b", root / "base.parquet", "-c", run, "--allow-inconclusive")
    check(2, "leaderboard", "diff", root / "board", board2)  # polars refuses the pickled extension metadata
    check(0, "leaderboard", "build", run, "-o", root / "board3")


# --- trust_remote_code ------------------------------------------------------------------------------


def test_vllm_runs_model_code_only_when_asked(tmp_path):
    from adapters.vllm_inprocess import engine_argv, resolve_model
    from runners.model_specs import load_model_specs, vllm_command

    folder = tmp_path / "memo"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "memo", "auto_map": {"AutoModelForCausalLM": "m.Memo"}}))
    model = resolve_model(str(folder))
    assert model.entry is None
    argv = {trust: engine_argv(model, str(folder), dtype=None, max_model_len=None, trust_remote_code=trust)
            for trust in (False, True)}
    assert "--trust-remote-code" not in argv[False] and "--trust-remote-code" in argv[True]
    # catalogue entries: only those whose models.toml entry asks for it (after a review of the repository)
    for name, spec in load_model_specs().items():
        asked = spec.extra_args.get("trust_remote_code") is True
        assert ("--trust-remote-code" in vllm_command(spec, "/m", "127.0.0.1", 1)) == asked, name
        entry_argv = engine_argv(resolve_model(name), "/m", dtype=None, max_model_len=None, trust_remote_code=False)
        assert ("--trust-remote-code" in entry_argv) == asked, name
    assert not load_model_specs()["embedded"].extra_args.get("trust_remote_code")
