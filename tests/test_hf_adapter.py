"""The in-process transformers adapter (adapters/hf.py) on a tiny random Llama: plumbing, not quality.

The model's output is noise, so answers are checked for what the adapter controls: every probe
answered, token counts, determinism, the prompt convention shared with openai_compat, choice
log-probs against an independent forward pass, the response cache, and the ingest-hook contract
through a model folder with its own code (`modeling_memo.py`, loaded only with trust_remote_code=1).
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from lbs_testutil import make_needle
from tiny_models import make_tiny_llama

from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition, Probe, SystemContext
from longbench_suite.registry import make_system
from runners.local import RunConfig, run

pytest.importorskip("torch")
pytest.importorskip("transformers")

# A research "memory model": LlamaForCausalLM plus the ingest hooks. It memorises the first 7-digit
# number of an episode and recites it when asked (its logits are pushed towards those tokens, one per
# step), and logs every hook call and prompt to LOG so the test sees what the adapter sent it.
MODELING_MEMO = '''
import json
import re

from transformers import LlamaConfig, LlamaForCausalLM

LOG = {log!r}
with open(LOG, "a") as f:  # importing this file is running remote code: the test checks when it happens
    f.write(json.dumps({{"event": "imported"}}) + "\\n")


def _log(**event):
    with open(LOG, "a") as f:
        f.write(json.dumps(event) + "\\n")


class MemoConfig(LlamaConfig):
    model_type = "memo_llama"


class MemoForCausalLM(LlamaForCausalLM):
    config_class = MemoConfig

    def __init__(self, config):
        super().__init__(config)
        self.memory = []  # token ids of the remembered number
        self.step = 0

    def lbs_reset(self):
        self.memory = []
        _log(event="reset")

    def lbs_ingest(self, episode, tokenizer):
        found = re.search(r"\\b\\d{{7}}\\b", episode.text)
        self.memory = tokenizer(" " + found.group(0), add_special_tokens=False)["input_ids"] if found else []
        _log(event="ingest", episode_id=episode.episode_id, chars=len(episode.text), value=found and found.group(0))

    def lbs_footprint(self):
        return {{"state_bytes": 8 * len(self.memory)}}

    def forward(self, input_ids=None, **kwargs):
        out = super().forward(input_ids=input_ids, **kwargs)
        if input_ids.shape[1] > 1:  # the prompt (prefill): a new answer starts
            self.step = 0
            _log(event="prompt", ids=input_ids[0].tolist())
        if self.step < len(self.memory):
            out.logits[:, -1, self.memory[self.step]] += 100.0
        self.step += 1
        return out
'''


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("hf") / "tiny")


@pytest.fixture(scope="module")
def memo(tiny, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny weights in a folder that needs its own code (auto_map, unknown model_type); its log."""
    folder = tmp_path_factory.mktemp("memo") / "memo"
    shutil.copytree(tiny, folder)
    log = folder.parent / "memo-log.jsonl"
    (folder / "modeling_memo.py").write_text(MODELING_MEMO.format(log=str(log)))
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="memo_llama",
        architectures=["MemoForCausalLM"],
        auto_map={"AutoConfig": "modeling_memo.MemoConfig", "AutoModelForCausalLM": "modeling_memo.MemoForCausalLM"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    return folder, log


@pytest.fixture(scope="module")
def needle(tmp_path_factory) -> Path:
    """4 episodes of one probe each; each context holds exactly one 7-digit secret number."""
    out = tmp_path_factory.mktemp("data") / "needle"
    return make_needle(out, ["single_1", "single_2"], ["lengths=512", "depths=0,100", "max_new_tokens=8"])


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _run(data: Path, system: str, out: Path, condition: Condition = Condition.IN_CONTEXT) -> tuple[pl.DataFrame, dict]:
    manifest = run(RunConfig(dataset=data, system=system, out=out, condition=condition, use_cache=False))
    return pl.read_parquet(out / "predictions.parquet").sort("probe_id"), manifest


def _probe(**kw) -> Probe:
    base = {"probe_id": "p", "episode_id": "e", "question": "Which letter comes first, A or B?",
            "answer_prefix": "The answer is", "context": "The river is wet. The night is dark.", "max_new_tokens": 6}
    return Probe(**{**base, **kw})


def test_full_context_run_through_the_runner_is_deterministic(tiny, needle, tmp_path):
    a, manifest = _run(needle, f"hf:{tiny}", tmp_path / "a")
    b, _ = _run(needle, f"hf:{tiny}", tmp_path / "b")
    assert manifest["status"] == "complete" and manifest["counts"] == {"probes": 4, "predictions": 4, "errors": 0}
    assert a.get_column("error").null_count() == 4
    # The ~512-token context is in every prompt; answers stop at the probe's budget (8) or at EOS.
    assert a.get_column("prompt_tokens").min() > 300
    assert a.get_column("completion_tokens").is_between(1, 8).all()
    assert a.get_column("output").str.len_chars().min() > 0
    cols = ["probe_id", "output", "prompt_tokens", "completion_tokens"]
    assert a.select(cols).equals(b.select(cols))  # greedy: the same answers, run after run
    system = manifest["system"]
    assert system["kind"] == "hf" and system["model_name"] == "tiny" and system["ingest_hooks"] is False
    assert system["sampling"]["temperature"] == 0.0 and system["trust_remote_code"] is False
    assert system["dtype"] == "float32" and system["device"] == "cpu" and system["mode"] == "chat"
    # 2 layers x 2 KV heads x head_dim 64, K and V, float32.
    assert manifest["footprint"] == {"parameters": 459392, "context_length": 4096, "kv_bytes_per_token": 2 * 2 * 2 * 64 * 4}


def test_remote_code_is_refused_without_the_flag(memo):
    folder, log = memo
    before = len(_events(log))
    with pytest.raises(UserError) as err:
        make_system(f"hf:{folder}")
    message = str(err.value)
    assert "\n" not in message and "trust_remote_code=1" in message and "auto_map" in message
    assert len(_events(log)) == before  # modeling_memo.py was not even imported


def test_ingest_hooks_make_a_stateful_memory(memo, needle, tmp_path):
    folder, log = memo
    spec = f"hf:{folder},trust_remote_code=1"
    start = len(_events(log))
    preds, manifest = _run(needle, spec, tmp_path / "mem", Condition.IN_MEMORY)
    mid = len(_events(log))
    events = [e for e in _events(log)[start:mid] if e["event"] != "imported"]
    episodes = pl.read_parquet(needle / "episodes.parquet")

    # reset -> ingest -> the episode's one probe, episode after episode; each episode ingested once, whole.
    assert [e["event"] for e in events] == ["reset", "ingest", "prompt"] * 4
    ingested = [e for e in events if e["event"] == "ingest"]
    lengths = dict(zip(episodes.get_column("episode_id"), episodes.get_column("text").str.len_chars()))
    assert sorted(e["episode_id"] for e in ingested) == sorted(lengths)
    assert all(e["chars"] == lengths[e["episode_id"]] for e in ingested)
    # In-memory probes carry no context: the prompt is the question and the answer cue, nothing more.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)  # the tiny tokenizer's files came along
    for prompt in (e for e in events if e["event"] == "prompt"):
        text = tokenizer.decode(prompt["ids"])
        assert "secret numbers" in text and "The river is" not in text and len(prompt["ids"]) < 100
    assert preds.get_column("prompt_tokens").max() < 100
    # What lbs_ingest stored decides the answer: every number is recited, and the scorer sees it.
    by_episode = {e["episode_id"]: e["value"] for e in ingested}
    for row in preds.iter_rows(named=True):
        assert row["output"].strip().startswith(by_episode[row["episode_id"]]), row
    scores = pl.read_parquet(tmp_path / "mem" / "scores.parquet").filter(pl.col("metric") == "string_match_all")
    assert scores.get_column("value").to_list() == [1.0] * 4
    system = manifest["system"]
    assert system["ingest_hooks"] is True and system["trust_remote_code"] is True
    assert system["model_class"] == "MemoForCausalLM" and manifest["footprint"]["state_bytes"] > 0

    # Nothing ingested (no-context): the same model has nothing to recite and scores 0.
    floor, _ = _run(needle, spec, tmp_path / "floor", Condition.NO_CONTEXT)
    assert not any(v in out for v, out in zip(by_episode.values(), floor.get_column("output")))
    after = [e["event"] for e in _events(log)[mid:] if e["event"] != "imported"]
    assert after == ["reset", "prompt"] * 4


def test_choice_logprobs_match_an_independent_forward_pass(tiny):
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    system = make_system(f"hf:{tiny}")
    probe = _probe(choices=["A", "B"])
    answer = asyncio.run(system.answer(probe))
    assert set(answer.choice_logprobs) == {"A", "B"}
    assert all(math.isfinite(v) and v < 0 for v in answer.choice_logprobs.values())
    assert answer.completion_tokens >= 1 and answer.model == "tiny"

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = LlamaForCausalLM.from_pretrained(tiny, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": probe.prompt_text()}, {"role": "assistant", "content": probe.answer_prefix}]
    ids = tokenizer(tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True),
                    add_special_tokens=False)["input_ids"]  # fmt: skip
    assert answer.prompt_tokens == len(ids)
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, -1], dim=-1)
    for label in ("A", "B"):
        same = [i for i in range(len(tokenizer)) if tokenizer.decode([i]).strip() == label]  # "A", " A", ...
        assert same, label
        assert answer.choice_logprobs[label] == pytest.approx(float(torch.logsumexp(logp[same], 0)), abs=1e-4)
    assert asyncio.run(system.answer(_probe())).choice_logprobs is None  # no choices, no scores
    asyncio.run(system.aclose())


def test_prompts_follow_openai_compat_conventions(tiny):
    """The same probe becomes the same text here as in an OpenAI-compatible request to vLLM."""
    from transformers import AutoTokenizer

    from adapters.openai_compat import OpenAISystem

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    for prefill in ("assistant", "user", "none"):
        _, body = OpenAISystem("m", "http://127.0.0.1:9/v1", prefill=prefill).request(_probe())
        extra = body.get("extra_body", {"add_generation_prompt": True})
        expected = tokenizer.apply_chat_template(body["messages"], tokenize=False, **extra)
        assert make_system(f"hf:{tiny},prefill={prefill}").render(_probe()) == expected
    _, body = OpenAISystem("m", "http://127.0.0.1:9/v1", mode="completions").request(_probe())
    assert make_system(f"hf:{tiny},mode=completions").render(_probe()) == body["prompt"]


def test_sampling_seed_cache_and_truncation(tiny, memo, tmp_path):
    from longbench_suite.cache import ResponseCache

    probe = _probe(max_new_tokens=12)
    sampled = make_system(f"hf:{tiny},temperature=1,seed=3")
    first, again = asyncio.run(sampled.answer(probe)), asyncio.run(sampled.answer(probe))
    other = asyncio.run(make_system(f"hf:{tiny},temperature=1,seed=4").answer(probe))
    assert first.text == again.text and first.text != other.text  # seeded per request

    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        ctx = SystemContext(cache=cache)
        system = make_system(f"hf:{tiny}", ctx)
        miss, hit = asyncio.run(system.answer(probe)), asyncio.run(system.answer(probe))
        assert (miss.cache_hit, hit.cache_hit) == (False, True) and hit.text == miss.text
        assert not asyncio.run(make_system(f"hf:{tiny},max_tokens=3", ctx).answer(probe)).cache_hit
        assert len(cache) == 2
        stateful = make_system(f"hf:{memo[0]},trust_remote_code=1", ctx)  # hidden state: never cached
        assert [asyncio.run(stateful.answer(probe)).cache_hit for _ in range(2)] == [False, False]
        assert len(cache) == 2

    short = asyncio.run(make_system(f"hf:{tiny},max_input_tokens=20").answer(probe))
    assert short.prompt_tokens == 20


@pytest.mark.parametrize(
    ("spec", "needle_text"),
    [
        ("hf", "name the model"),
        ("hf:{tiny},dtype=int8", "dtype must be one of"),
        ("hf:{tiny},device=tpu", "device must be one of"),
        ("hf:{tiny},temperature=hot", "not a number"),
        ("hf:{tiny},trust_remote_code=yes", "not an integer"),
        ("hf:{tiny},beams=4", "unknown options beams"),
        ("hf:{missing}", "no such model folder"),
        ("hf:{tmp}", "no config.json"),
    ],
)
def test_user_mistakes_are_one_line_errors(spec, needle_text, tiny, tmp_path):
    with pytest.raises(UserError, match=needle_text) as err:
        make_system(spec.format(tiny=tiny, missing=tmp_path / "nope", tmp=tmp_path))
    assert "\n" not in str(err.value)


def test_a_memory_without_reset_is_refused(tiny, tmp_path):
    """lbs_ingest alone would carry one episode's memory into the next: refused at load. (And a
    known architecture with an auto_map still needs the flag.)"""
    folder = tmp_path / "halfmemo"
    shutil.copytree(tiny, folder)
    (folder / "modeling_half.py").write_text(
        "from transformers import LlamaForCausalLM\n\n\n"
        "class HalfMemo(LlamaForCausalLM):\n"
        "    def lbs_ingest(self, episode, tokenizer):\n"
        "        pass\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_half.HalfMemo"}
    (folder / "config.json").write_text(json.dumps(config))
    # model_type is llama: transformers alone would quietly load the stock class and skip the code.
    with pytest.raises(UserError, match="config.json has auto_map"):
        make_system(f"hf:{folder}")
    with pytest.raises(UserError, match="defines lbs_ingest but not lbs_reset"):
        make_system(f"hf:{folder},trust_remote_code=1")


def test_missing_libraries_name_what_to_install(tiny, monkeypatch):
    """torch is installed here; hide it from the adapter's check (the one fault faked in this file)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(UserError, match=r"needs torch; install with `pip install 'longbench-suite\[hf\]'`"):
        make_system(f"hf:{tiny}")
