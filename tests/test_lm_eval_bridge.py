"""The lm-eval bridge: `export_lm_eval` (our tasks as lm-eval tasks, scored by our scorers) and the
`lm-eval:MODEL_TYPE` adapter (lm-eval's models as systems). Parity both ways: the same outputs score
the same in `lm_eval` and in `lbs`, and the adapter sends what `lm_eval` sends for an exported task."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lbs_testutil import lbs, make_needle

from adapters.lm_eval_tasks import MARKER, export_lm_eval, render_prompt
from longbench_suite import io, schemas
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Condition
from longbench_suite.registry import task_family
from longbench_suite.scoring import score_predictions

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
# Small datasets of every family (each generated in about a second, offline).
DATASETS = {
    "needle": ("needle", ["single_1", "multikey_1"], ["lengths=512,1k", "depths=0,100", "samples=1", "max_new_tokens=16"]),
    "sort": ("sort", ["ls20"], ["lengths=250", "books=1", "book_words=3000", "excerpts=2"]),
    "m4le": ("m4le", ["qa", "classification"], ["buckets=1k", "samples=1", "articles=60"]),
    "jr": ("joint-recall", ["words"], ["n_ctx=1", "samples=1", "lengths=512", "n_queries=2"]),
    "lme": ("longmemeval", ["oracle"], ["samples=1", "types=single-session-user,temporal-reasoning", "lengths=2048"]),
}


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    """lm-eval loads the docs with `datasets`: offline, with a cache of its own."""
    saved = {k: os.environ.get(k) for k in (*OFFLINE, "HF_DATASETS_CACHE")}
    os.environ.update(OFFLINE, HF_DATASETS_CACHE=str(tmp_path_factory.mktemp("hf-datasets")))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lm-eval-data")
    for name, (family, variants, params) in DATASETS.items():
        generate_dataset(family, root / name, variants, params, seed=0)
    return {name: root / name for name in DATASETS}


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    root = tmp_path_factory.mktemp("lm-eval-tasks")
    return {name: (root / name, export_lm_eval(path, root / name)) for name, path in data.items()}


def _utils(export_dir: Path):
    """The export's utils.py, loaded from its file as lm-eval loads it."""
    spec = importlib.util.spec_from_file_location(f"lbs_export_utils_{export_dir.name}", export_dir / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docs(export_dir: Path) -> dict[str, dict]:
    return {d["probe_id"]: d for f in sorted((export_dir / "data").glob("*.jsonl")) for d in map(json.loads, f.open())}


def _runner_prompts(dataset_dir: Path, condition: Condition = Condition.IN_CONTEXT) -> dict[str, str]:
    """What `lbs run -s openai:M` (prefill=user) sends as the user message, probe by probe."""
    from adapters.openai_compat import OpenAISystem

    ds = io.Dataset(dataset_dir)
    family = task_family(ds.manifest["family"])
    episodes = {r["episode_id"]: family.episode(r) for r in ds.episodes.to_pylist()}
    system = OpenAISystem("m", "http://127.0.0.1:9/v1")
    out = {}
    for row in ds.probes.to_pylist():
        _, body = system.request(family.probe(row, episodes[row["episode_id"]], condition))
        out[row["probe_id"]] = body["messages"][0]["content"]
    return out


# --- export, no server ----------------------------------------------------------------------------


def test_export_loads_in_lm_eval_with_the_runners_prompts(data, exported, tmp_path, monkeypatch):
    from lm_eval.tasks import TaskManager

    for name in ("needle", "sort", "m4le"):
        export_dir, summary = exported[name]
        moved = tmp_path / f"moved-{name}"  # the export works from anywhere, from any working directory
        shutil.copytree(export_dir, moved)
        monkeypatch.chdir(tmp_path)
        loaded = TaskManager(include_path=str(moved), include_defaults=False).load([summary["group"]])
        assert sorted(loaded["tasks"]) == sorted(summary["tasks"])
        assert loaded["group_map"][summary["group"]] == summary["length_groups"]
        prompts = _runner_prompts(data[name])
        rows = {r["probe_id"]: r for r in io.Dataset(data[name]).probes.to_pylist()}
        seen = set()
        for task in loaded["tasks"].values():
            kwargs = task.config.generation_kwargs
            for doc in task.test_docs():
                row = rows[doc["probe_id"]]
                assert task.doc_to_text(doc) == prompts[doc["probe_id"]]
                assert kwargs == {"until": [], "max_gen_toks": row["max_new_tokens"], "temperature": 0.0, "do_sample": False}
                seen.add(doc["probe_id"])
        assert seen == set(rows)  # every probe exported once
    # M4LE's budgets differ within a (variant, length): one task per budget under a cell group.
    m4le = loaded["group_map"]
    assert m4le["lbs_m4le_len1000"] == ["lbs_m4le_classification_1000", "lbs_m4le_qa_1000"]
    assert len(m4le["lbs_m4le_classification_1000"]) >= 2


def test_process_results_is_our_scorer_oracle_and_wrong(data, exported):
    """Oracle (gold) and wrong answers score in lm-eval's hook exactly as our scorer scores them."""
    import yaml

    wrong = {"needle": "0000000", "sort": None, "m4le": "zzz", "jr": "nothing", "lme": "Paris is in France."}
    for name, (export_dir, summary) in exported.items():
        utils = _utils(export_dir)
        family = task_family(io.Dataset(data[name]).manifest["family"])
        listed = {}
        for task in summary["tasks"]:
            text = (export_dir / f"{task}.yaml").read_text().replace("!function", "")
            listed[task] = {m["metric"] for m in yaml.safe_load(text)["metric_list"]}
        for path in (export_dir / "data").glob("*.jsonl"):
            for doc in map(json.loads, path.open()):
                row = json.loads(doc["row"])
                gold = row["gold"][0]
                bad = wrong[name] or ("B" if gold == "A" else "A")
                ours_gold, ours_bad = family.score(gold, row), family.score(bad, row)
                assert utils.process_results(doc, [gold]) == ours_gold
                assert utils.process_results(doc, [bad]) == ours_bad
                assert set(ours_gold) <= listed[path.stem]  # lm-eval needs every reported metric listed
                if name in ("needle", "sort", "jr"):  # exact-answer families: 1 and 0 on the primary
                    assert ours_gold[row["metric"]] == 1.0 and ours_bad[row["metric"]] == 0.0


def test_export_no_context_and_failures_leave_nothing(data, tmp_path, monkeypatch):
    out = tmp_path / "nc"
    summary = export_lm_eval(data["needle"], out, condition="no-context")
    assert summary["group"] == "lbs_needle_no_context"
    docs, prompts = _docs(out), _runner_prompts(data["needle"], Condition.NO_CONTEXT)
    assert docs.keys() == prompts.keys() and all(d["prompt"] == prompts[pid] for pid, d in docs.items())
    assert all("Among the secret numbers" not in d["prompt"] for d in docs.values())  # no haystack
    assert json.loads((out / MARKER).read_text())["condition"] == "no-context"

    with pytest.raises(UserError, match="not found"):
        export_lm_eval(tmp_path / "missing", tmp_path / "x1")
    (tmp_path / "not-a-dataset").mkdir()
    with pytest.raises(UserError, match="manifest"):
        export_lm_eval(tmp_path / "not-a-dataset", tmp_path / "x2")
    with pytest.raises(UserError, match="cannot ingest"):
        export_lm_eval(data["needle"], tmp_path / "x3", condition="in-memory")
    with pytest.raises(UserError, match="not empty"):
        export_lm_eval(data["needle"], out)  # an earlier export is replaced only with overwrite
    assert export_lm_eval(data["needle"], out, overwrite=True)["docs"] == len(docs)

    # A failure half-way (a fault we cannot cause through the data) leaves no directory behind.
    calls = []

    def failing(probe):
        calls.append(probe)
        if len(calls) > 2:
            raise RuntimeError("disk full")
        return render_prompt(probe)

    monkeypatch.setattr("adapters.lm_eval_tasks.render_prompt", failing)
    with pytest.raises(RuntimeError):
        export_lm_eval(data["needle"], tmp_path / "half")
    assert len(calls) == 3
    assert not (tmp_path / "half").exists() and not list(tmp_path.glob(".half*"))
    assert not any(p.name.startswith("x") for p in tmp_path.iterdir())


# --- the adapter, no server: a real lm-eval LM registered in lm-eval's registry --------------------

_SEEN: list[list[tuple]] = []


def _register_echo() -> None:
    """`lbs-test-echo`: answers each request with its own context (a model of lm-eval's registry)."""
    from lm_eval.api.model import LM
    from lm_eval.api.registry import get_model, register_model

    try:
        get_model("lbs-test-echo")
        return
    except (ValueError, KeyError):
        pass

    @register_model("lbs-test-echo")
    class EchoLM(LM):
        def __init__(self, auth_token: str | None = None, **kwargs):
            super().__init__()
            self.auth_token, self.kwargs = auth_token, kwargs

        def apply_chat_template(self, chat_history, add_generation_prompt=True):
            return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in chat_history) + "<assistant>" * add_generation_prompt

        def generate_until(self, requests, disable_tqdm=False):
            _SEEN.append([r.args for r in requests])
            return [r.args[0] for r in requests]

        def loglikelihood(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError


@pytest.mark.parametrize("chat", [0, 1])
def test_adapter_sends_what_lm_eval_sends_for_the_export(data, exported, tmp_path, chat):
    from runners.local import RunConfig, run

    _register_echo()
    _SEEN.clear()
    manifest = run(RunConfig(dataset=data["needle"], system=f"lm-eval:lbs-test-echo,chat={chat},foo=1",
                             out=tmp_path / "run", use_cache=False))
    assert manifest["status"] == "complete" and manifest["counts"]["errors"] == 0
    assert manifest["system"]["model_args"] == {"foo": "1"} and manifest["system"]["chat"] is bool(chat)
    docs = _docs(exported["needle"][0])
    preds = pq.read_table(tmp_path / "run" / "predictions.parquet").to_pylist()
    assert len(preds) == len(docs)
    for p in preds:
        text = docs[p["probe_id"]]["prompt"]
        assert p["output"] == (f"<user>{text}</user><assistant>" if chat else text)
    requests = [args for batch in _SEEN for args in batch]
    assert len(requests) == len(docs) and len(_SEEN) < len(docs)  # micro-batched
    assert {a[1]["max_gen_toks"] for a in requests} == {16}
    assert all(a[1] == {"until": [], "max_gen_toks": 16, "temperature": 0.0, "do_sample": False} for a in requests)


def test_adapter_spec_errors_and_secrets(monkeypatch):
    from longbench_suite.registry import make_system

    _register_echo()
    for spec, message in [
        ("lm-eval", "model type"),
        ("lm-eval:no-such-model", "no model type"),
        ("lm-eval:lbs-test-echo,chat=maybe", "chat must be one of"),
        ("lm-eval:lbs-test-echo,max_tokens=0", "out of range"),
        ("lm-eval:local-chat-completions,auth_token=abc", "refusing secret"),
    ]:
        with pytest.raises(UserError, match=message):
            make_system(spec)
    monkeypatch.setenv("LBS_TEST_LM_TOKEN", "s3cret-value")
    system = make_system("lm-eval:lbs-test-echo,auth_token_env=LBS_TEST_LM_TOKEN")
    import asyncio

    asyncio.run(system.check())
    assert system._lm.auth_token == "s3cret-value"  # passed to lm-eval's model from the environment
    assert "s3cret-value" not in json.dumps(system.describe())
    monkeypatch.delenv("LBS_TEST_LM_TOKEN")
    with pytest.raises(UserError, match="LBS_TEST_LM_TOKEN"):
        asyncio.run(make_system("lm-eval:lbs-test-echo,auth_token_env=LBS_TEST_LM_TOKEN").check())


# --- against the real embedded vLLM server --------------------------------------------------------


@pytest.fixture(scope="module")
def needle_served(tmp_path_factory):
    """8 short needle probes in the embedded model's tokens (the CPU server reads ~150 prompt tokens/s)."""
    out = tmp_path_factory.mktemp("lm-eval-served") / "needle"
    return make_needle(out, ["single_1", "multikey_1"], ["lengths=384,512", "depths=0,100", "samples=1", "max_new_tokens=12"],
                       tokenizer="embedded")


def _scores_of(outputs: dict[str, str], dataset_dir: Path) -> pa.Table:
    """Our scores table for these outputs (predictions -> score_predictions, as `lbs score`)."""
    ds = io.Dataset(dataset_dir)
    episode_of = dict(zip(ds.probes.column("probe_id").to_pylist(), ds.probes.column("episode_id").to_pylist()))
    rows = [{**dict.fromkeys(schemas.PREDICTIONS.names), "run_id": "r", "system": "s", "condition": "in-context",
             "episode_id": episode_of[pid], "probe_id": pid, "output": text, "cache_hit": False}
            for pid, text in outputs.items()]
    return score_predictions(pa.Table.from_pylist(rows, schema=schemas.PREDICTIONS), ds.probes, ds.manifest["family"])


@pytest.mark.server
def test_lm_eval_on_export_matches_our_scores_and_the_adapter_matches_lm_eval(embedded_server, needle_served, tmp_path):
    from longbench_suite.aggregate import aggregate

    export_dir = tmp_path / "exported"  # not "tasks": `python -m lm_eval` puts the working directory on sys.path
    summary = export_lm_eval(needle_served, export_dir, name="served")
    chat_url = f"{embedded_server.base_url}/chat/completions"
    out = tmp_path / "lm-eval-out"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "local-chat-completions",
           "--model_args", f"model={embedded_server.served_name},base_url={chat_url},num_concurrent=2",
           "--apply_chat_template", "--include_path", str(export_dir), "--tasks", summary["group"],
           "--log_samples", "--output_path", str(out)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]

    # lm_eval's per-sample outputs through our scorer: the same per-probe scores ...
    outputs: dict[str, str] = {}
    for path in out.rglob("samples_*.jsonl"):
        for sample in map(json.loads, path.open()):
            pid, text = sample["doc"]["probe_id"], sample["filtered_resps"][0]
            outputs[pid] = text
            ours = {m: v for m, v in ((r["metric"], r["value"]) for r in _scores_of({pid: text}, needle_served).to_pylist())}
            assert ours == {m: sample[m] for m in ours}
    assert len(outputs) == summary["docs"] == 8
    # ... and the same means per task, per length and over all (our aggregates' rows).
    scores = _scores_of(outputs, needle_served)
    agg = [r for r in aggregate(scores, io.Dataset(needle_served).probes).to_pylist() if r["depth"] is None and r["bin"] is None and r["ability"] is None]
    checked = 0
    for r in agg:
        if r["variant"] is not None and r["length"] is not None:
            key = f"served_{r['variant']}_{r['length']}"
        elif r["variant"] is None and r["length"] is not None:
            key = f"served_len{r['length']}"
        elif r["variant"] is None and r["length"] is None:
            key = "served"
        else:
            continue
        assert results[f"lbs_{key}"][f"{r['metric']},none"] == pytest.approx(r["mean"], abs=1e-12), (key, r["metric"])
        checked += 1
    assert checked == (4 + 2 + 1) * 2  # 4 tasks, 2 length groups, the group; 2 metrics each

    # The other way: `lbs run` with lm-eval's model; lm-eval's process_results on its outputs gives its scores.
    run_dir = tmp_path / "run"
    spec = f"lm-eval:local-chat-completions,model={embedded_server.served_name},base_url={chat_url},num_concurrent=2"
    res = lbs("run", needle_served, "--system", spec, "-o", run_dir, "--no-cache", env=OFFLINE)
    assert res.returncode == 0, res.stderr[-3000:]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"] == {"probes": 8, "predictions": 8, "errors": 0}
    utils, docs = _utils(export_dir), _docs(export_dir)
    preds = pq.read_table(run_dir / "predictions.parquet").to_pylist()
    assert all(p["output"] for p in preds)
    by_probe: dict[str, dict[str, float]] = {}
    for r in pq.read_table(run_dir / "scores.parquet").to_pylist():
        by_probe.setdefault(r["probe_id"], {})[r["metric"]] = r["value"]
    for p in preds:
        assert utils.process_results(docs[p["probe_id"]], [p["output"]]) == by_probe[p["probe_id"]]
    # Same requests, greedy: the outputs agree too (not asserted: a CPU engine's batching may change a
    # token); scores are compared above output by output, so parity does not depend on it.
    same = sum(p["output"] == outputs[p["probe_id"]] for p in preds)
    print(f"identical outputs, lm_eval and lbs run: {same}/{len(preds)}")
