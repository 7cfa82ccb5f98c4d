"""Malformed input across the CLI (issue 10): every case is refused with one `error:` line naming the
problem, exit code 2, no traceback, and nothing written or changed on disk.

Fixtures are built once (a needle and a LongMemEval dataset, oracle runs on them, broken copies and
broken import files); each case then runs the real CLI once. No model server: oracle, random and
specs that fail before any call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbs_testutil import lbs, make_needle, one_line_error

LEAK = "sk-BADINPUT-0123456789abcdef"


def _lme_item(**change) -> dict:
    """One valid LongMemEval item (S-style); `change` replaces fields, a value of None drops one."""
    item = {
        "question_id": "q1", "question_type": "single-session-user", "question": "What degree did I get?",
        "answer": "Business", "question_date": "2023/05/30 (Tue) 10:00",
        "haystack_session_ids": ["s1"], "haystack_dates": ["2023/05/20 (Sat) 09:00"],
        "haystack_sessions": [[{"role": "user", "content": "I got a degree in Business.", "has_answer": True}]],
        "answer_session_ids": ["s1"],
    }
    item.update(change)
    return {k: v for k, v in item.items() if v is not None}


def _write_csv(path: Path, header: str, *rows: str) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def _copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    cache = tmp_path_factory.mktemp("cache")  # outside root: a cache is not the output under test
    env = {"LBS_CACHE_DIR": str(cache)}
    good = make_needle(root / "needle", ["single_1"], ["lengths=512", "depths=50", "samples=2"])
    lme = root / "lme"
    assert lbs("generate", "longmemeval", "-o", lme, "-v", "oracle", "-p", "types=single-session-user",
               "-p", "samples=2", "-p", "abstention=0", env=env).returncode == 0
    run, lrun = root / "run", root / "lrun"
    for data, out in ((good, run), (lme, lrun)):
        res = lbs("run", data, "-s", "oracle", "-o", out, "--no-cache", env=env)
        assert res.returncode == 0, res.stderr

    a_file = root / "a_file.txt"
    a_file.write_text("x")
    notrun = root / "notes"
    notrun.mkdir()
    (notrun / "notes.txt").write_text("keep me")

    # broken copies of the needle dataset
    corrupt = _copy_dataset(good, root / "ds_corrupt")
    (corrupt / "episodes.parquet").write_bytes(os.urandom(3000))
    schema = _copy_dataset(good, root / "ds_schema")
    pq.write_table(pa.table({"colour": ["red"], "size": [3]}), schema / "probes.parquet")
    latin1 = _copy_dataset(good, root / "ds_latin1")  # the text column holds bytes that are not UTF-8
    episodes = pq.read_table(good / "episodes.parquet")
    text = pa.array([b"caf\xe9 \xff\xfe"] * episodes.num_rows, pa.binary())
    pq.write_table(episodes.set_column(episodes.schema.get_field_index("text"), "text", text), latin1 / "episodes.parquet")
    orphans = _copy_dataset(good, root / "ds_orphans")
    pq.write_table(episodes.slice(0, 1), orphans / "episodes.parquet")
    nomanifest = _copy_dataset(good, root / "ds_nomanifest")
    (nomanifest / "manifest.json").unlink()
    listjson = _copy_dataset(good, root / "ds_listjson")
    (listjson / "manifest.json").write_text("[1, 2, 3]\n")
    famedit = _copy_dataset(good, root / "ds_family")  # needle tables under another family (issue 21)
    fam_manifest = json.loads((famedit / "manifest.json").read_text())
    (famedit / "manifest.json").write_text(json.dumps({**fam_manifest, "family": "sort"}))
    # a run whose dataset was changed afterwards
    changed = _copy_dataset(good, root / "ds_changed")
    assert lbs("run", changed, "-s", "oracle", "-o", root / "run_changed", "--no-cache", env=env).returncode == 0
    probes = pq.read_table(changed / "probes.parquet")
    gold = pa.array([["0000000"]] * probes.num_rows, probes.schema.field("gold").type)
    pq.write_table(probes.set_column(probes.schema.get_field_index("gold"), "gold", gold), changed / "probes.parquet")

    # official-format files with faults
    imports = root / "imports"
    imports.mkdir()
    for name, items in {
        "no_question": [_lme_item(question=None)],
        "no_answer": [_lme_item(answer=None)],
        "no_haystack": [_lme_item(haystack_sessions=None)],
    }.items():
        (imports / f"{name}.json").write_text(json.dumps(items))
    (imports / "latin1.json").write_bytes(json.dumps([_lme_item()]).replace("Business.", "Caf\\u00e9").encode()
                                          .replace(b"\\u00e9", b"\xe9"))
    (imports / "m4le_latin1.jsonl").write_bytes(b'{"instruction": "Which?", "input": "caf\xe9", "answers": ["a"]}\n')
    (imports / "m4le_no_answers.jsonl").write_text(json.dumps({"instruction": "Which?", "input": "text"}) + "\n")
    (imports / "source_latin1.jsonl").write_bytes(b'{"text": "caf\xe9 ol\xe9", "label": "x"}\n{"text": "ok", "label": "y"}\n')
    words = " ".join(f"w{i}" for i in range(300))
    bsort = imports / "booksort"
    bsort.mkdir()
    _write_csv(bsort / "books.csv", "book_idx,book_title,book_text", f"0,A Book,{words}")
    _write_csv(bsort / "excerpts_250_20.csv", "book_idx,excerpt_idx,excerpt_text", f"0,0,{words}")
    _write_csv(bsort / "segments_250_20.csv", ",".join(
        ["book_idx", "excerpt_idx", "segment_1", "segment_2", "seg1_pos", "seg2_pos", "distance_bin", "present_seg1_first"]),
        "0,0,w1 w2,w100 w101,1,100,1,True")
    bsort_cols = shutil.copytree(bsort, imports / "booksort_cols")
    _write_csv(bsort_cols / "segments_250_20.csv", "book_idx,excerpt_idx,segment_1", "0,0,w1")
    bsort_latin1 = shutil.copytree(bsort, imports / "booksort_latin1")
    (bsort_latin1 / "books.csv").write_bytes(b"book_idx,book_title,book_text\n0,Caf\xe9,w1 w2\n")
    # an imported Book-SORT dataset whose manifest names a file outside the export directory
    sort_evil = root / "ds_sort_evil"
    res = lbs("import", "book-sort", bsort, "-o", sort_evil, env=env)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((sort_evil / "manifest.json").read_text())
    group = manifest["official"]["groups"][0]
    manifest["official"]["order"]["../escaped.csv"] = manifest["official"]["order"].pop(group["names"]["books"])
    group["names"]["books"] = "../escaped.csv"
    (sort_evil / "manifest.json").write_text(json.dumps(manifest))
    bad_toml = root / "bad.toml"
    bad_toml.write_text("[params\nlengths = ")

    # a directory nobody may write into: mode 500 stops a normal user; root needs the immutable flag
    locked = root / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o500)
    elif subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        locked = Path("/sys/fs/lbs-locked")  # no CAP_LINUX_IMMUTABLE: sysfs refuses new directories to root too
    yield SimpleNamespace(**locals())
    if locked.parent == root:
        subprocess.run(["chattr", "-i", str(locked)], capture_output=True)
        locked.chmod(0o700)


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every file (size, mtime) and every directory under root."""
    out = {}
    for p in root.rglob("*"):
        st = p.lstat()
        out[str(p.relative_to(root))] = ("dir",) if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


# id -> (arguments from the fixtures, a substring the error line must contain)
CASES = {
    # task parameters
    "generate-unknown-family": (lambda w: ["generate", "nosuch", "-o", w.root / "out"], "unknown task family 'nosuch'"),
    "generate-unknown-variant": (lambda w: ["generate", "needle", "-v", "single_9", "-o", w.root / "out"], "single_9"),
    "generate-length-12q": (lambda w: ["generate", "needle", "-p", "lengths=12q", "-o", w.root / "out"], "12q"),
    "generate-negative-samples": (lambda w: ["generate", "needle", "-p", "samples=-3", "-o", w.root / "out"], "samples"),
    "generate-depth-150": (lambda w: ["generate", "needle", "-p", "depths=150", "-o", w.root / "out"], "150"),
    "generate-unknown-param": (lambda w: ["generate", "needle", "-p", "colour=red", "-o", w.root / "out"], "colour"),
    "generate-lengths-9999999999k": (lambda w: ["generate", "needle", "-p", "lengths=9999999999k", "-o", w.root / "out"],
                                     "--max-tokens"),
    "generate-samples-1000000000": (lambda w: ["generate", "needle", "-p", "samples=1000000000", "-o", w.root / "out"],
                                    "4.00e+10 items"),
    "generate-max-tokens-0": (lambda w: ["generate", "needle", "--max-tokens", "0", "-o", w.root / "out"], "--max-tokens"),
    "generate-config-not-toml": (lambda w: ["generate", "needle", "--config", w.bad_toml, "-o", w.root / "out"], "not valid TOML"),
    # dataset files
    "dataset-corrupt-parquet": (lambda w: ["run", w.corrupt, "-s", "oracle", "-o", w.root / "out"], "not a readable parquet file"),
    "dataset-wrong-schema": (lambda w: ["run", w.schema, "-s", "oracle", "-o", w.root / "out"], "wrong schema"),
    "dataset-text-not-utf8": (lambda w: ["run", w.latin1, "-s", "oracle", "-o", w.root / "out"], "UTF-8"),
    "dataset-probes-without-episodes": (lambda w: ["run", w.orphans, "-s", "oracle", "-o", w.root / "out"], "missing from"),
    "dataset-missing-manifest": (lambda w: ["run", w.nomanifest, "-s", "oracle", "-o", w.root / "out"], "manifest not found"),
    "dataset-manifest-not-object": (lambda w: ["run", w.listjson, "-s", "oracle", "-o", w.root / "out"], "not a JSON object"),
    "score-dataset-changed": (lambda w: ["score", w.root / "run_changed"], "modified after generation"),
    "aggregate-dataset-changed": (lambda w: ["aggregate", w.root / "run_changed"], "modified after generation"),
    "export-lm-eval-dataset-changed": (lambda w: ["export", "lm-eval", w.changed, "-o", w.root / "out"],
                                       "modified after generation"),
    "dataset-family-edited": (lambda w: ["run", w.famedit, "-s", "oracle", "-o", w.root / "out"], "names family 'sort'"),
    "export-lm-eval-family-edited": (lambda w: ["export", "lm-eval", w.famedit, "-o", w.root / "out"], "names family 'sort'"),
    # official-format imports
    "longmemeval-no-question": (lambda w: ["import", "longmemeval", w.imports / "no_question.json", "--variant", "s",
                                           "-o", w.root / "out"], "missing field(s) question"),
    "longmemeval-no-answer": (lambda w: ["import", "longmemeval", w.imports / "no_answer.json", "--variant", "s",
                                         "-o", w.root / "out"], "missing field(s) answer"),
    "longmemeval-no-haystack": (lambda w: ["import", "longmemeval", w.imports / "no_haystack.json", "--variant", "s",
                                           "-o", w.root / "out"], "missing field(s) haystack_sessions"),
    "longmemeval-not-utf8": (lambda w: ["import", "longmemeval", w.imports / "latin1.json", "--variant", "s",
                                        "-o", w.root / "out"], "UTF-8"),
    "m4le-import-not-utf8": (lambda w: ["import", "m4le", w.imports / "m4le_latin1.jsonl", "-o", w.root / "out"], "UTF-8"),
    "m4le-import-no-answers": (lambda w: ["import", "m4le", w.imports / "m4le_no_answers.jsonl", "-o", w.root / "out"],
                               "missing field(s) answers"),
    "m4le-build-source-not-utf8": (lambda w: ["build", "m4le", "--source", w.imports / "source_latin1.jsonl", "--task-type",
                                              "classification", "-o", w.root / "out"], "UTF-8"),
    "book-sort-import-missing-columns": (lambda w: ["import", "book-sort", w.bsort_cols, "-o", w.root / "out"],
                                         "lacks the Book-SORT columns"),
    "book-sort-import-not-utf8": (lambda w: ["import", "book-sort", w.bsort_latin1, "-o", w.root / "out"], "books.csv"),
    # system specs
    "system-unknown": (lambda w: ["run", w.good, "-s", "nosuch", "-o", w.root / "out"], "unknown system kind 'nosuch'"),
    "system-openai-without-model": (lambda w: ["run", w.good, "-s", "openai,base_url=http://127.0.0.1:9/v1", "-o", w.root / "out"],
                                    "name the model"),
    "system-bad-option-value": (lambda w: ["run", w.good, "-s", "random,seed=abc", "-o", w.root / "out"], "seed='abc'"),
    "system-inline-api-key": (lambda w: ["run", w.good, "-s", f"openai:m,api_key={LEAK}", "-o", w.root / "out"],
                              "refusing secret option 'api_key'"),
    "system-python-malformed": (lambda w: ["run", w.good, "-s", "python:just_a_module", "-o", w.root / "out"], "python:MODULE:ATTR"),
    # issue 21, item 8: a spec in a message is scrubbed; a key where a variable's name belongs is refused
    "system-unknown-option-holding-a-key": (lambda w: ["run", w.good, "-s", f"openai:m,base_url=http://127.0.0.1:9/v1,"
                                                       f"default_headers=Authorization:{LEAK}", "-o", w.root / "out"],
                                            "unknown options default_headers"),
    "system-api_key_env-is-a-key": (lambda w: ["run", w.good, "-s", f"openai:m,base_url=http://127.0.0.1:9/v1,api_key_env={LEAK}",
                                               "-o", w.root / "out"], "refusing option 'api_key_env'"),
    "system-key-in-url-path": (lambda w: ["run", w.good, "-s", f"openai:m,base_url=http://127.0.0.1:9/{LEAK}/v1", "-o", w.root / "out"],
                               "cannot reach OpenAI-compatible endpoint at http://127.0.0.1:9/***/v1"),
    "judge-api_key_env-is-a-key": (lambda w: ["score", w.lrun, "--judge", f"openai:m,api_key_env={LEAK}"], "refusing option 'api_key_env'"),
    "system-python-missing-module": (lambda w: ["run", w.good, "-s", "python:no_such_module_lbs:make", "-o", w.root / "out"],
                                     "cannot import 'no_such_module_lbs'"),
    # judge specs
    "judge-unknown-system": (lambda w: ["score", w.lrun, "--judge", "nosuch"], "unknown system kind 'nosuch'"),
    "judge-on-unjudged-family": (lambda w: ["run", w.good, "-s", "oracle", "--judge", "oracle", "-o", w.root / "out"],
                                 "no LLM-judge protocol"),
    # gate baselines
    "gate-baseline-missing": (lambda w: ["gate", "-b", w.root / "nope", "-c", w.run], "baseline not found"),
    "gate-baseline-not-a-run": (lambda w: ["gate", "-b", w.notrun, "-c", w.run], "run manifest not found"),
    "gate-wrong-family": (lambda w: ["gate", "-b", w.lrun, "-c", w.run], "family"),
    "gate-json-under-a-file": (lambda w: ["gate", "-b", w.run, "-c", w.run, "--json", w.a_file / "gate.json"], "existing file"),
    # output paths
    "run-output-is-a-file": (lambda w: ["run", w.good, "-s", "oracle", "-o", w.a_file], "existing file"),
    "run-resume-and-overwrite": (lambda w: ["run", w.good, "-s", "oracle", "-o", w.run, "--resume", "--overwrite"],
                                 "--resume (continue the run) or --overwrite (replace it), not both"),
    "run-over-a-complete-run": (lambda w: ["run", w.good, "-s", "random", "-o", w.run], "holds a complete run"),
    "run-output-unwritable": (lambda w: ["run", w.good, "-s", "oracle", "-o", w.locked / "run"], "locked"),
    "leaderboard-output-unwritable": (lambda w: ["leaderboard", "build", w.run, "-o", w.locked / "lb"], "locked"),
    "gate-baseline-file-unwritable": (lambda w: ["gate", "-b", w.run, "--write-baseline", w.locked / "b.parquet"], "locked"),
    "report-output-is-a-file": (lambda w: ["report", w.run, "-o", w.a_file], "existing file"),
    "export-book-sort-path-traversal": (lambda w: ["export", "book-sort", w.sort_evil, "-o", w.root / "out"], "../escaped.csv"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(w, case):
    args, expected = CASES[case]
    before = _snapshot(w.root)
    res = lbs(*args(w), timeout=120, env=w.env)
    line = one_line_error(res)
    assert expected in line, line
    assert LEAK not in res.stderr + res.stdout
    assert _snapshot(w.root) == before, "files were written, changed or removed"
    assert not (w.root.parent / "escaped.csv").exists()


def test_names_from_data_stay_inside_the_output(w, tmp_path):
    """System and family names become file names (heatmaps, plots): a `../` or `/` in them is flattened,
    so a crafted run writes only inside the report and leaderboard directories."""
    run = shutil.copytree(w.run, tmp_path / "crafted")
    agg = pq.read_table(run / "aggregates.parquet")
    for col in ("system", "family"):
        agg = agg.set_column(agg.schema.get_field_index(col), col, pa.array([f"../../escaped/{col}"] * agg.num_rows))
    pq.write_table(agg, run / "aggregates.parquet")
    manifest = json.loads((run / "run.json").read_text())
    manifest["system"].update(label="../../escaped/system", spec="../../escaped/system")
    (run / "run.json").write_text(json.dumps(manifest))
    before = _snapshot(tmp_path)
    assert lbs("report", run, "-o", tmp_path / "rep", env=w.env).returncode == 0
    res = lbs("leaderboard", "build", run, "-o", tmp_path / "lb", env=w.env)
    assert res.returncode == 0, res.stderr
    new = set(_snapshot(tmp_path)) - set(before)
    assert new and all(p.split("/")[0] in ("rep", "lb") for p in new), new
    assert any(p.endswith(".png") for p in new if p.startswith("rep/")) and any("/plots/" in p for p in new if p.startswith("lb/"))
    assert not list(tmp_path.parent.glob("escaped*"))
