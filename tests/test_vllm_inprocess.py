"""The in-process vLLM adapter (adapters/vllm_inprocess.py) on a real engine: one engine start for the
whole module (a tiny random Llama, so answers are noise: the assertions are about plumbing), shared by
the module's system object and the one the runner builds from the same spec."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import subprocess
import sys
import time

import psutil
import pyarrow.parquet as pq
import pytest
from lbs_testutil import REPO
from tiny_models import make_tiny_llama

from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Probe
from longbench_suite.registry import make_system
from runners.model_specs import load_model_specs, vllm_command
from runners.vllm_server import gpu_present

if importlib.util.find_spec("vllm") is None:
    pytest.fail("vLLM is not installed: run bash scripts/install.sh cpu,dev", pytrace=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="module")
def spec(tiny):
    return f"vllm:{tiny},max_model_len=2048,logprobs=1,dtype=float32"  # fp32 on a GPU too


@pytest.fixture(scope="module")
def system(spec):
    system = make_system(spec)
    asyncio.run(system.check())  # the module's one engine start
    yield system
    asyncio.run(system.aclose())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """2 episodes x 4 probes: probes of one episode share a ~1000-token context."""
    out = tmp_path_factory.mktemp("data") / "jr"
    params = ["n_ctx=1", "n_key=4", "n_queries=4", "samples=2", "lengths=512"]
    generate_dataset("joint-recall", out, ["words"], params, seed=0, tokenizer="approx")
    return out


def probe(i: int, context: str = "The key cup opens the box number 7.", **kw) -> Probe:
    return Probe(f"p{i}", f"e{i % 2}", f"Question {i}: which number?", "The number is", context, 6, **kw)


def answers(system, probes):
    async def go():
        return await asyncio.gather(*(system.answer(p) for p in probes))

    return asyncio.run(go())


# --- a real run ------------------------------------------------------------------------------------


def test_a_run_batches_its_probes_and_reuses_each_episodes_context(system, spec, dataset, tmp_path):
    from runners.local import RunConfig, run_async

    engine = system.engine
    before = dict(engine.stats)
    manifest = asyncio.run(run_async(RunConfig(dataset=dataset, system=spec, out=tmp_path / "run", use_cache=False)))
    stats = {k: engine.stats[k] - before[k] for k in before}

    rows = pq.read_table(tmp_path / "run" / "predictions.parquet").to_pylist()
    assert len(rows) == 8 and manifest["counts"] == {"probes": 8, "predictions": 8, "errors": 0}
    for r in rows:
        assert r["error"] is None and r["output"], r
        assert r["prompt_tokens"] > 500 and 1 <= r["completion_tokens"] <= 8, r
    # The runner's system shared the module's engine (no second start) and kept all probes in flight.
    assert stats["requests"] == 8 and engine.users == 1
    assert manifest["concurrency"] == system.preferred_concurrency == 256
    assert stats["runs"] < 8, stats  # batched: fewer engine runs than probes
    # 3 of each episode's 4 probes find its context in the prefix cache (full 128-token blocks).
    prompt = {r["episode_id"]: r["prompt_tokens"] for r in rows}
    assert stats["cached_prompt_tokens"] >= 3 * sum(p - 128 for p in prompt.values()) * 0.9, (stats, prompt)

    described = manifest["system"]
    assert described["kind"] == "vllm"
    assert described["sampling"] == {"temperature": 0.0, "top_p": 1.0, "max_tokens": None, "seed": 0}
    assert "--enable-prefix-caching" in described["engine_args"]
    assert ("--enforce-eager" in described["engine_args"]) is not gpu_present()  # CPU: no torch.compile
    footprint = manifest["footprint"]
    assert footprint["kv_bytes_per_token"] == 2 * 2 * 2 * 64 * 4  # 2 x layers x KV heads x head dim x fp32
    assert footprint["context_length"] == 2048
    from transformers import AutoModelForCausalLM

    assert footprint["parameters"] == AutoModelForCausalLM.from_pretrained(system.model.typed).num_parameters()


def test_prefix_caching_is_on_in_the_engine(system):
    config = system.engine.llm.llm_engine.vllm_config.cache_config
    assert config.enable_prefix_caching is True


def test_same_answers_twice_at_temperature_zero(system):
    probes = [probe(i, context=f"Box {i} holds {i * 37 % 100} marbles. " * 20) for i in range(6)]
    first, second = answers(system, probes), answers(system, probes)
    assert [a.text for a in first] == [a.text for a in second]
    counts = [[(a.prompt_tokens, a.completion_tokens) for a in run] for run in (first, second)]
    assert counts[0] == counts[1]
    assert all(a.model == str(system.model.typed) and a.latency_s > 0 for a in first)


def test_choice_logprobs_match_an_independent_forward_pass(system, tiny):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = probe(0, choices=["A", "B"])
    (answer,) = answers(system, [p])
    assert set(answer.choice_logprobs) == {"A", "B"}

    tok = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    messages = [{"role": "user", "content": p.prompt_text()}, {"role": "assistant", "content": p.answer_prefix}]
    text = tok.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == answer.prompt_tokens  # the prompt vLLM rendered has as many tokens
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
    for label in ("A", "B"):
        same = [i for i in range(len(tok)) if tok.decode([i]).strip() == label]
        assert same, label
        assert math.isclose(answer.choice_logprobs[label], float(torch.logsumexp(logp[same], 0)), abs_tol=1e-3)


def test_cached_answers_come_back_without_the_engine(system, tmp_path):
    from longbench_suite.cache import ResponseCache

    p = probe(3)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        system.cache = cache
        try:
            runs = system.engine.stats["runs"]
            (fresh,) = answers(system, [p])
            (again,) = answers(system, [p])
            assert not fresh.cache_hit and again.cache_hit and again.text == fresh.text
            assert system.engine.stats["runs"] == runs + 1
            (other,) = answers(system, [probe(3, context="Something else entirely.")])
            assert not other.cache_hit  # the key holds the exact prompt
        finally:
            system.cache = None


def test_a_request_vllm_refuses_fails_alone(system):
    long = probe(1, context="word " * 3000)  # longer than max_model_len=2048
    ok = probe(2)

    async def go():
        return await asyncio.gather(system.answer(long), system.answer(ok), return_exceptions=True)

    failed, fine = asyncio.run(go())
    assert "vLLM refused the request" in str(failed)
    assert fine.text and fine.completion_tokens


def test_systems_with_other_sampling_share_the_engine(system, spec, tiny):
    """Completions mode and a batch bound: a second system on the same engine arguments starts nothing."""
    from transformers import AutoTokenizer

    from adapters.openai_compat import completion_prompt

    other = make_system(spec + ",mode=completions,max_batch=2,max_tokens=3")
    probes = [probe(i) for i in range(5)]
    try:
        asyncio.run(other.check())
        assert other.engine is system.engine and system.engine.users == 2
        runs = system.engine.stats["runs"]
        got = answers(other, probes)
        assert system.engine.stats["runs"] - runs == 3  # 5 probes, at most 2 per engine run
        tok = AutoTokenizer.from_pretrained(tiny)
        for p, a in zip(probes, got):
            assert a.prompt_tokens == len(tok(completion_prompt(p))["input_ids"]) and a.completion_tokens == 3
    finally:
        asyncio.run(other.aclose())
    assert system.engine.running and system.engine.users == 1  # the module's system still holds it


# --- arguments (no engine) -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(load_model_specs()))
def test_a_catalogue_entry_gets_the_servers_engine_arguments(name):
    """The same EngineArgs as `lbs serve NAME` (vLLM's server parser), prefix caching always on."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, resolve_default_chat_template_kwargs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    from adapters.vllm_inprocess import engine_argv, parse_engine_args, resolve_model

    model = resolve_model(name)
    argv = engine_argv(model, "/models/x", dtype=None, max_model_len=None, trust_remote_code=False)
    assert not {"--host", "--port", "--served-model-name"} & set(argv)
    ours, chat = parse_engine_args(argv, name)
    server_ns = make_arg_parser(FlexibleArgumentParser()).parse_args(vllm_command(model.entry, "/models/x", "h", 1)[3:])
    server = EngineArgs.from_cli_args(server_ns)
    differ = {f for f in vars(server) if getattr(server, f) != getattr(ours, f)}
    assert differ <= {"served_model_name", "enable_prefix_caching"}, differ
    assert ours.enable_prefix_caching is True
    # The server's default chat-template variables reach the chat template here too.
    assert chat["chat_template_kwargs"] == resolve_default_chat_template_kwargs(server_ns)
    if name == "qwen3-8b":
        assert chat["chat_template_kwargs"]["enable_thinking"] is False


def test_engine_arguments_of_a_folder_and_the_overrides(tiny):
    from adapters.vllm_inprocess import engine_argv, parse_engine_args, resolve_model

    argv = engine_argv(resolve_model(str(tiny)), str(tiny), dtype=None, max_model_len=None, trust_remote_code=False)
    args, _ = parse_engine_args(argv, "t")
    assert args.trust_remote_code is False and args.enable_prefix_caching is True
    if not gpu_present():
        assert args.dtype == "float32" and args.enforce_eager is True
    argv = engine_argv(resolve_model("embedded"), "/m", dtype="bfloat16", max_model_len=512, trust_remote_code=True)
    args, _ = parse_engine_args(argv, "t")
    assert (args.dtype, args.max_model_len, args.trust_remote_code, args.enforce_eager) == ("bfloat16", 512, True, True)


def test_describe_names_the_catalogue_entry_and_is_json(tiny):
    s = make_system("vllm:embedded,temperature=0.5,seed=3")
    d = json.loads(json.dumps(s.describe()))
    assert (d["model_name"], d["source"], d["mode"], d["prefill"]) == ("smollm2", "catalogue", "chat", "assistant")
    assert d["sampling"] == {"temperature": 0.5, "top_p": 1.0, "max_tokens": None, "seed": 3}
    assert d["engine"].startswith("vllm") and d["model_spec"]["hf_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert s.env["VLLM_CPU_KVCACHE_SPACE"] == "1" and s.env["HF_HUB_OFFLINE"] == "1"
    assert s.footprint()["parameters"] == 134515008  # the catalogue's count before the engine starts
    (tiny.parent / "base").mkdir(exist_ok=True)
    (tiny.parent / "base" / "config.json").write_text((tiny / "config.json").read_text())
    assert make_system(f"vllm:{tiny.parent / 'base'}").mode == "completions"  # no chat template


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vllm", "name the model"),
        ("vllm:/no/such/folder", "no such model folder"),
        ("vllm:ref:nope", "unknown catalogue model"),
        ("vllm:embedded,dtype=float7", "bad vLLM engine argument"),
        ("vllm:embedded,max_batch=0", "max_batch=0 out of range"),
        ("vllm:embedded,mode=chatty", "mode must be one of"),
        ("vllm:embedded,tensor_parallel=2", "unknown options tensor_parallel"),
    ],
)
def test_user_mistakes_are_one_line(text, message):
    with pytest.raises(UserError) as e:
        make_system(text)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_gpu_entry_is_refused_without_a_gpu():
    if gpu_present():
        assert make_system("vllm:qwen3-8b").describe()["model_name"] == "qwen3-8b"
        return
    with pytest.raises(UserError, match=r"model 'qwen3-8b' needs an NVIDIA GPU \(device=cuda\)"):
        make_system("vllm:qwen3-8b")


def test_the_watchdog_ends_the_engine_processes_when_lbs_is_killed():
    """vLLM's engine core outlives a SIGKILLed parent; the watchdog ends it. A stand-in for lbs starts
    a sleeper (the engine core's role) and the watchdog, and is killed."""
    stand_in = (
        "import subprocess, sys, time\n"
        "from adapters._vllm_watchdog import start_watchdog\n"
        "core = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "start_watchdog([core.pid])\n"
        "print(core.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", stand_in], stdout=subprocess.PIPE, text=True, cwd=REPO)
    core = psutil.Process(int(parent.stdout.readline()))
    time.sleep(0.5)
    assert core.is_running() and core.status() != psutil.STATUS_ZOMBIE
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while core.is_running() and core.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not core.is_running() or core.status() == psutil.STATUS_ZOMBIE  # PID 1 may not reap it


# --- last: shutting down ---------------------------------------------------------------------------


def test_aclose_leaves_no_engine_process(system):
    processes = list(system.engine.processes)
    names = {p.name() for p in processes}
    assert any("EngineCore" in n for n in names), names
    watchdog = system.engine.watchdog
    assert watchdog.poll() is None
    asyncio.run(system.aclose())
    assert system.engine is None and watchdog.poll() is not None
    for p in processes:
        assert not p.is_running() or p.status() == psutil.STATUS_ZOMBIE, p
    # Other vLLM processes of this pytest session belong to served models (the embedded_server fixture's
    # `lbs serve` runs one under a runners.vllm_server supervisor): only the in-process engine's must be gone.
    me = psutil.Process()
    supervisors = [c for c in me.children(recursive=True) if "runners.vllm_server" in " ".join(c.cmdline())]
    served = {d.pid for s in supervisors for d in s.children(recursive=True)}
    left = [c for c in me.children(recursive=True) if c.name().startswith("VLLM") and c.pid not in served]
    assert not left, left
