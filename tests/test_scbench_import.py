"""`lbs import scbench`: SCBench's released layout, imported as the shared_context family and given back.

The fixtures in tests/data/scbench/ are hand-made records in SCBench's layout, two per config, for kv,
choice_eng, mf (an int-list context, int answers and one [int] answer), repoqa_and_kv,
summary_with_needles (one record without an `id`) and qa_chn. The tests check five things: the tables
the import makes, a content hash that does not change, the oracle scoring 1.0 on every turn, exports
that give back exactly the records that were read (from JSON lines, a JSON list or parquet), and one
line with exit code 2 for each kind of bad file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_builders import scbench
from lbs_testutil import REPO, lbs, one_line_error
from longbench_suite import io

FIXTURES = REPO / "tests" / "data" / "scbench"
FILES = sorted(FIXTURES.glob("*.jsonl"))
CONFIGS = ["scbench_choice_eng", "scbench_kv", "scbench_mf", "scbench_qa_chn", "scbench_repoqa_and_kv",
           "scbench_summary_with_needles"]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def import_ok(out: Path, *args) -> io.Dataset:
    """`lbs import scbench` in this process (typer's runner: the CLI's own code, without a new interpreter)."""
    from typer.testing import CliRunner

    from longbench_suite.cli import app

    res = CliRunner().invoke(app, ["import", "scbench", *map(str, args), "-o", str(out)])
    assert res.exit_code == 0, res.output
    return io.Dataset(out)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> io.Dataset:
    return import_ok(tmp_path_factory.mktemp("scb") / "ds", *FILES)


def probe_rows(ds: io.Dataset) -> dict[str, dict]:
    return {r["probe_id"]: {**r, "meta": json.loads(r["meta"])} for r in ds.probes.to_pylist()}


def test_fixtures_cover_the_configs():
    assert [f.stem for f in FILES] == CONFIGS
    assert all(len(records(f)) == 2 for f in FILES)


def test_tables(imported):
    ds = imported
    assert ds.manifest["family"] == "shared_context" and ds.manifest["generator_version"] == "import:scbench"
    assert ds.manifest["variants"] == CONFIGS
    assert ds.manifest["counts"] == {"episodes": 12, "probes": sum(len(r["multi_turns"]) for f in FILES for r in records(f))}
    ep = {r["episode_id"]: r for r in ds.episodes.to_pylist()}
    # The context follows the config's instruction line; an int list shows as Python prints it.
    mf = ep["scbench_mf/00000"]
    assert mf["text"].endswith("\n\n[17, 4, 93, 58, 2, 71, 40, 12, 66, 5, 30]") and mf["text"].startswith("Below is a list")
    assert ep["scbench_kv/00001"]["n_tokens"] > 0
    p = probe_rows(ds)
    choice = p["scbench_choice_eng/00000/t2"]
    assert choice["gold"] == ["the Gull", "C"] and choice["choices"] == ["A", "B", "C", "D"] and choice["chance"] == 0.25
    assert "\nA. the Heron\nB. the Swift\nC. the Gull\nD. the Osprey\n" in choice["question"]
    assert choice["bin"] == "turn 2" and choice["meta"]["turn"] == 2 and choice["meta"]["reference"] == "the Gull"
    assert choice["ability"] == "semantic retrieval" and choice["max_new_tokens"] == 40
    # mf: "What is <target>?" before the input, an int answer as its digits, a [int] answer too.
    m1, m2 = p["scbench_mf/00000/t1"], p["scbench_mf/00001/t1"]
    assert m1["question"].startswith("What is the largest number of the list?\n\n") and m1["gold"] == ["93"]
    assert m2["gold"] == ["310"] and m2["meta"]["reference"] == "[310]" and m2["metric"] == "scbench_math"
    # The mixed configs: each turn's `task` chooses its scorer and its answer budget.
    mixed = [p[f"scbench_repoqa_and_kv/00000/t{t}"] for t in (1, 2, 3)]
    assert [r["metric"] for r in mixed] == ["scbench_repoqa", "scbench_substring", "scbench_repoqa"]
    assert [r["max_new_tokens"] for r in mixed] == [1024, 80, 1024]
    assert mixed[0]["gold"][1] == "parse_header" and mixed[0]["gold"][0].startswith("def parse_header(line):")
    # repoqa candidates: every function asked about the repo in the file, both records' turns.
    assert [c[0] for c in mixed[0]["meta"]["candidates"]] == ["parse_header", "join_path", "count_words"]
    assert mixed[0]["meta"]["lang"] == "python" and "candidates" not in mixed[1]["meta"]
    needles = [p[f"scbench_summary_with_needles/00001/t{t}"] for t in (1, 2)]
    assert [(r["metric"], r["max_new_tokens"], r["gold"]) for r in needles][0] == ("scbench_passkey", 15, ["00719"])
    assert needles[1]["metric"] == "scbench_rouge_lsum" and needles[1]["max_new_tokens"] == 800
    assert p["scbench_qa_chn/00000/t1"]["question"] == "问题：木匠叫什么名字？\n回答："
    assert p["scbench_kv/00000/t1"]["chance"] == 0.0 and p["scbench_kv/00000/t1"]["choices"] is None


def test_content_hash_is_stable(imported, tmp_path):
    again = import_ok(tmp_path / "again", *FILES)
    assert again.content_hash == imported.content_hash
    again.verify()
    # The files in another order make the same episodes in another order: a different dataset.
    other = import_ok(tmp_path / "reversed", *reversed(FILES))
    assert other.content_hash != imported.content_hash


def test_oracle_scores_one_on_every_turn(imported, tmp_path):
    res = lbs("run", imported.path, "-s", "oracle", "-o", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    agg = pl.read_parquet(tmp_path / "run" / "aggregates.parquet")
    cells = agg.filter(pl.col("variant").is_not_null() & pl.col("bin").is_not_null() & pl.col("length").is_null()
                       & pl.col("ability").is_null() & pl.col("depth").is_null())
    # every config and turn, and both scorers of each mixed config's turns
    assert cells.height == 18
    assert cells["mean"].to_list() == [1.0] * cells.height
    scores = pl.read_parquet(tmp_path / "run" / "scores.parquet")
    assert scores.height >= imported.probes.num_rows and scores["value"].min() == 1.0


def test_export_gives_back_the_records(imported):
    for f in FILES:
        back = scbench.export(imported.path, f.stem)
        assert back == records(f)
        assert [list(r) for r in back] == [list(r) for r in records(f)]  # key order too
    mf = scbench.export(imported.path, "scbench_mf")
    assert type(mf[0]["context"][0]) is int and type(mf[0]["multi_turns"][0]["answer"]) is int
    assert mf[1]["multi_turns"][0]["answer"] == [310]
    assert "id" not in scbench.export(imported.path, "scbench_summary_with_needles")[1]


def test_json_list_and_parquet_layouts_round_trip(tmp_path):
    src = tmp_path / "src"
    (src / "scbench_mf").mkdir(parents=True)
    items = records(FIXTURES / "scbench_repoqa_and_kv.jsonl")
    (src / "scbench_repoqa_and_kv.json").write_text(json.dumps(items, indent=2), encoding="utf-8")
    # HF's layout: a folder per config; pyarrow fills the fields a row lacks with nulls.
    shard = src / "scbench_mf" / "test-00000-of-00001.parquet"
    mf = records(FIXTURES / "scbench_mf.jsonl")
    mf[1]["multi_turns"][0]["answer"] = 310  # parquet holds one answer type per column
    pq.write_table(pa.Table.from_pylist(mf), shard)
    ds = import_ok(tmp_path / "ds", src / "scbench_repoqa_and_kv.json", shard)
    assert ds.manifest["variants"] == ["scbench_mf", "scbench_repoqa_and_kv"]
    assert scbench.export(ds.path, "scbench_repoqa_and_kv") == items
    assert scbench.export(ds.path, "scbench_mf") == pq.read_table(shard).to_pylist()


def test_max_turns_and_task(tmp_path):
    plain = tmp_path / "data.jsonl"
    shutil.copy(FIXTURES / "scbench_repoqa_and_kv.jsonl", plain)
    ds = import_ok(tmp_path / "ds", plain, "--task", "scbench_repoqa_and_kv", "--max-turns", "1")
    p = probe_rows(ds)
    assert sorted(p) == ["scbench_repoqa_and_kv/00000/t1", "scbench_repoqa_and_kv/00001/t1"]
    # The candidates come from the turns kept, as SCBench's scorer builds them from its predictions.
    assert [c[0] for c in p["scbench_repoqa_and_kv/00000/t1"]["meta"]["candidates"]] == ["parse_header", "count_words"]
    assert [len(r["multi_turns"]) for r in scbench.export(ds.path)] == [1, 1]


def test_summary_prefills_later_turns(tmp_path):
    src = tmp_path / "scbench_summary.jsonl"
    turns = [{"input": "Summarize the paper.", "answer": "It studies memory."},
             {"input": "Summarize it again, shorter.", "answer": "Memory."}]
    src.write_text(json.dumps({"id": 0, "context": "A paper.", "multi_turns": turns}) + "\n", encoding="utf-8")
    p = probe_rows(import_ok(tmp_path / "ds", src))
    assert [p[f"scbench_summary/00000/t{t}"]["answer_prefix"] for t in (1, 2)] == ["", "This paper"]


def _kv(**turn) -> dict:
    return {"id": 0, "context": "{}", "multi_turns": [{"input": "Key: k", "answer": "v", **turn}]}


BAD = {  # name -> (file name, text, what the error names)
    "not json": ("scbench_kv.jsonl", '{"id": 0, "context": "x", "multi_turns": [\n', "line 1 is not JSON"),
    "not an object": ("scbench_kv.jsonl", "[1, 2]\n", "record 1 is not a JSON object"),
    "no context": ("scbench_kv.jsonl", json.dumps({"multi_turns": [{"input": "q", "answer": "a"}]}), "line 1: no context"),
    "no turns": ("scbench_kv.jsonl", json.dumps({"context": "x"}), "line 1: `multi_turns`"),
    "empty turns": ("scbench_kv.jsonl", json.dumps({"context": "x", "multi_turns": []}), "line 1: `multi_turns`"),
    "turn without input": ("scbench_kv.jsonl", json.dumps({"context": "x", "multi_turns": [{"answer": "a"}]}), "line 1 turn 1: no `input`"),
    "turn without answer": ("scbench_kv.jsonl", "\n" + json.dumps({"context": "x", "multi_turns": [{"input": "q"}]}), "line 2 turn 1: no `answer`"),
    "choice answer not an option": ("scbench_choice_eng.jsonl",
                                    json.dumps({"context": "x", "multi_turns": [{"input": "q", "answer": "e", "options": ["a", "b", "c", "d"]}]}),
                                    "line 1 turn 1: the answer is not among its options"),
    "mixed turn without task": ("scbench_repoqa_and_kv.jsonl", json.dumps(_kv()), "line 1 turn 1: `task` must be one of"),
    "unknown config": ("my_data.jsonl", json.dumps(_kv()), "cannot tell its SCBench config"),
    "empty file": ("scbench_kv.jsonl", "\n", "holds no records"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_fail_in_one_line(case, tmp_path):
    from longbench_suite.errors import UserError
    from longbench_suite.tokens import load_tokenizer

    name, text, expected = BAD[case]
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as raised:
        scbench.import_files([FIXTURES / "scbench_kv.jsonl", src], None, load_tokenizer("approx"), None)
    line = str(raised.value)
    assert expected in line and str(src) in line and "\n" not in line, line


def test_a_bad_file_exits_2_and_writes_nothing(tmp_path):
    name, text, expected = BAD["turn without answer"]
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    line = one_line_error(lbs("import", "scbench", FIXTURES / "scbench_kv.jsonl", src, "-o", out))
    assert expected in line and str(src) in line, line
    assert not out.exists()


def test_unknown_task_is_refused(tmp_path):
    line = one_line_error(lbs("import", "scbench", FIXTURES / "scbench_kv.jsonl", "--task", "scbench_nope", "-o", tmp_path / "o"))
    assert "unknown SCBench config 'scbench_nope'" in line
    assert not (tmp_path / "o").exists()
