"""Serving: model specs, the vLLM lifecycle, the response cache and the OpenAI-compatible adapter.

Tests marked `server` talk to the real embedded model (one vLLM server per session, see conftest).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters.openai_compat import OpenAISystem, make_openai
from longbench_suite.errors import SystemFailure, UserError
from longbench_suite.protocol import Probe, SystemContext
from longbench_suite.registry import make_system
from longbench_suite.spec import parse_spec
from longbench_suite.cache import ResponseCache, cache_dir
from runners.model_specs import load_model_specs, model_spec, vllm_command
from runners.vllm_server import ServerStartError, VLLMServer, _group_alive, free_port, gpu_present


def probe(question: str, prefix: str = "", max_new_tokens: int = 12, choices: list[str] | None = None) -> Probe:
    return Probe("p1", "e1", question, prefix, None, max_new_tokens, choices=choices)


# -- model specs ------------------------------------------------------------------------------------


def test_embedded_spec_is_data():
    spec = model_spec("embedded")
    assert spec.hf_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert spec.source_kind == "gguf-package"
    assert (spec.served_name, spec.device, spec.gpus, spec.dtype) == ("smollm2", "cpu", 0, "float32")
    assert (spec.context_length, spec.max_model_len, spec.chat) == (8192, 2048, True)
    assert spec.env == {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    assert "embedded" in load_model_specs()


def test_unknown_model_lists_known():
    with pytest.raises(UserError, match="known: .*embedded"):
        model_spec("no-such-model")


def test_vllm_command_for_embedded():
    cmd = vllm_command(model_spec("embedded"), "/m", "127.0.0.1", 8123)
    assert cmd == [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", "/m",
        "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", "8123",
        "--dtype", "float32", "--enable-prompt-tokens-details", "--max-model-len", "2048", "--enforce-eager",
    ]  # fmt: skip


def test_gpu_entry_needs_no_code(tmp_path: Path):
    toml = tmp_path / "models.toml"
    toml.write_text(
        '[big]\nhf_id = "org/Big-70B"\nserved_name = "big"\ncontext_length = 131072\n'
        "tensor_parallel_size = 4\n"
        'extra_args = { gpu_memory_utilization = 0.9, enable_prefix_caching = true, trust_remote_code = false }\n'
    )
    spec = model_spec("big", toml)
    assert (spec.device, spec.gpus, spec.source_kind, spec.source_ref) == ("cuda", 4, "hf", "org/Big-70B")  # gpus = tp x pp
    cmd = vllm_command(spec, spec.source_ref, "0.0.0.0", 9000)
    assert cmd[cmd.index("--max-model-len") + 1] == "131072"
    assert cmd[cmd.index("--tensor-parallel-size") + 1] == "4"
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.9"
    assert "--enable-prefix-caching" in cmd and "--trust-remote-code" not in cmd


def test_model_catalogue_rejects_typos(tmp_path: Path):
    toml = tmp_path / "models.toml"
    toml.write_text('[m]\nhf_id = "a/b"\nserved_name = "b"\nmax_model_length = 4\n')
    with pytest.raises(UserError, match="unknown keys max_model_length"):
        model_spec("m", toml)


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_cuda_model_fails_fast_without_gpu(tmp_path: Path):
    spec = replace(model_spec("embedded"), name="gpu-model", device="cuda", gpus=1)
    server = VLLMServer(spec, "/nonexistent", log_path=tmp_path / "log")
    with pytest.raises(UserError, match="needs an NVIDIA GPU"):
        server.start()
    assert server.proc is None


def test_tokenizer_is_available():
    from runners.embedded_model import ensure_tokenizer

    assert (ensure_tokenizer() / "tokenizer.json").is_file()


def test_build_happens_once_across_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from runners import embedded_model

    monkeypatch.setenv("LBS_CACHE_DIR", str(tmp_path))
    calls = []

    def build(out: Path) -> None:
        calls.append(out)
        time.sleep(0.3)  # the second caller waits on the lock meanwhile
        (out / "done").write_text("x")

    target = cache_dir() / "models" / "thing"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(embedded_model._build_atomically(target, build, "test")))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results == [target, target]
    assert (target / "done").is_file()
    assert [p.name for p in target.parent.iterdir() if ".tmp-" in p.name] == []  # no half-built leftovers


# -- response cache ---------------------------------------------------------------------------------


def test_cache_roundtrip(tmp_path: Path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    k = ResponseCache.key(b=1, a=[1, 2])
    assert k == ResponseCache.key(a=[1, 2], b=1)  # canonical: order of parts does not matter
    assert cache.get(k) is None
    cache.put(k, {"text": "x"})
    assert cache.get(k) == {"text": "x"}
    cache.close()
    assert ResponseCache(tmp_path / "c.sqlite").get(k) == {"text": "x"}  # persisted


def test_cache_key_covers_what_changes_the_answer():
    base = dict(model="m", base_url="http://127.0.0.1:1/v1", temperature=0.0)
    p = probe("What is 2+2?", "Answer:")

    def key(question: str = "What is 2+2?", **kw) -> str:
        args = {**base, **kw}
        system = OpenAISystem(args.pop("model"), args.pop("base_url"), **args)
        return system.cache_key(*system.request(replace(p, question=question)), p)

    ref = key()
    assert ref == key()
    assert ref != key(model="other")
    assert ref != key(base_url="http://127.0.0.1:2/v1")
    assert ref != key(temperature=0.5)
    assert ref != key(top_p=0.9)
    assert ref != key(seed=1)
    assert ref != key(max_tokens=5)
    assert ref != key(prefill="assistant")
    assert ref != key(mode="completions")
    assert ref != key(question="What is 2+3?")


# -- adapter without a model ------------------------------------------------------------------------


def test_spec_options_and_secrets(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LBS_TEST_KEY", "sk-test-SECRET-123456")
    system = make_system(
        "openai:gpt-x,base_url=https://api.example.com/v1,temperature=0.2,max_tokens=7,seed=3,api_key_env=LBS_TEST_KEY"
    )
    d = system.describe()
    sampling = d["sampling"]
    assert (d["model"], sampling["temperature"], sampling["max_tokens"], sampling["seed"], d["mode"]) == ("gpt-x", 0.2, 7, 3, "chat")
    assert "SECRET" not in json.dumps(d)
    with pytest.raises(UserError, match="unknown options"):
        make_system("openai:m,base_url=http://127.0.0.1:1/v1,temprature=0")
    with pytest.raises(UserError, match="LBS_MISSING_KEY"):
        make_system("openai:m,base_url=https://api.example.com/v1,api_key_env=LBS_MISSING_KEY")
    with pytest.raises(UserError, match="name the model"):
        make_system("openai,base_url=http://127.0.0.1:1/v1")
    assert make_system("openai:m,base_url=http://127.0.0.1:1/v1,api_key_env=LBS_MISSING_KEY")  # loopback: no key needed


def test_request_bodies_always_carry_sampling():
    p = probe("Q?", "A:", max_new_tokens=9)
    s = OpenAISystem("m", "http://127.0.0.1:1/v1", prefill="assistant")
    endpoint, body = s.request(p)
    assert endpoint == "chat"
    assert {k: body[k] for k in ("temperature", "top_p", "max_tokens", "seed")} == {
        "temperature": 0.0, "top_p": 1.0, "max_tokens": 9, "seed": 0,
    }  # fmt: skip
    assert body["messages"][-1] == {"role": "assistant", "content": "A:"}
    assert body["extra_body"]["continue_final_message"] is True
    _, body = OpenAISystem("m", "http://127.0.0.1:1/v1", prefill="user").request(p)
    assert body["messages"] == [{"role": "user", "content": "Q?\nA:"}] and "extra_body" not in body
    endpoint, body = OpenAISystem("m", "http://127.0.0.1:1/v1", mode="completions").request(p)
    assert endpoint == "completions" and body["prompt"] == "Q?\nA:"


def test_check_on_closed_port_is_one_line_user_error():
    system = make_openai(parse_spec(f"openai:m,base_url=http://127.0.0.1:{free_port()}/v1"), SystemContext())
    with pytest.raises(UserError) as info:
        asyncio.run(system.check())
    msg = str(info.value)
    assert msg.startswith("cannot reach OpenAI-compatible endpoint at http://127.0.0.1:") and "\n" not in msg


# A loopback stand-in for the retry tests that need no model (fast, exact request counts); the same
# faults against the real vLLM server, through tests/fault_proxy.py, are in tests/test_faults.py.
CHAT_OK = {
    "id": "x", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}  # fmt: skip


class FakeServer:
    """Answers the first `fail` chat requests with `status` (and Retry-After: 1), then CHAT_OK."""

    def __init__(self, fail: int, status: int = 429, body: str = '{"error": {"message": "slow down"}}'):
        self.fail, self.status, self.body, self.requests = fail, status, body, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                outer.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                failing = len(outer.requests) <= outer.fail
                data = (outer.body if failing else json.dumps(CHAT_OK)).encode()
                self.send_response(outer.status if failing else 200)
                if failing:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_retry_honours_retry_after():
    fake = FakeServer(fail=1)
    try:
        system = make_openai(parse_spec(f"openai:m,base_url={fake.base_url},retries=2"), SystemContext())
        t0 = time.monotonic()
        answer = asyncio.run(system.answer(probe("hi")))
        assert answer.text == "ok" and answer.prompt_tokens == 3 and answer.completion_tokens == 1
        assert time.monotonic() - t0 >= 0.9 and len(fake.requests) == 2
        assert fake.requests[0]["temperature"] == 0.0 and fake.requests[0]["max_tokens"] == 12
    finally:
        fake.close()


def test_no_retries_fails_the_probe():
    fake = FakeServer(fail=1)
    try:
        system = make_openai(parse_spec(f"openai:m,base_url={fake.base_url},retries=0"), SystemContext())
        with pytest.raises(SystemFailure, match="HTTP 429"):
            asyncio.run(system.answer(probe("hi")))
        assert len(fake.requests) == 1
    finally:
        fake.close()


def test_key_never_in_errors(monkeypatch: pytest.MonkeyPatch):
    key = "sk-test-SECRET-abcdef123456"
    monkeypatch.setenv("LBS_TEST_KEY", key)
    fake = FakeServer(fail=1, status=401, body=json.dumps({"error": {"message": f"Incorrect API key provided: {key}"}}))
    try:
        system = make_openai(parse_spec(f"openai:m,base_url={fake.base_url},api_key_env=LBS_TEST_KEY"), SystemContext())
        with pytest.raises(SystemFailure) as info:
            asyncio.run(system.answer(probe("hi")))
        assert "HTTP 401" in str(info.value) and "SECRET" not in str(info.value)
    finally:
        fake.close()


# -- lifecycle without a ready server ---------------------------------------------------------------


def test_bogus_model_path_fails_fast_with_log_tail(tmp_path: Path):
    server = VLLMServer(model_spec("embedded"), tmp_path / "no-such-model", log_path=tmp_path / "vllm.log")
    t0 = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        with server:
            pass
    assert time.monotonic() - t0 < 120
    msg = str(info.value)
    assert "exited with code" in msg and "last lines" in msg and len(msg.splitlines()) > 3
    assert server.poll() is not None


def test_stop_during_startup_kills_the_group(tmp_path: Path):
    server = VLLMServer(model_spec("embedded"), tmp_path / "no-such-model", log_path=tmp_path / "vllm.log")
    server.start()
    time.sleep(3)  # inside vLLM's imports
    pgid = server.proc.pid
    server.stop()
    server.stop()  # idempotent
    assert server.poll() is not None and not _group_alive(pgid)


def test_server_dies_with_a_killed_parent(tmp_path: Path):
    """PR_SET_PDEATHSIG + the supervisor: a SIGKILLed lbs leaves no vLLM processes behind."""
    import os
    import signal
    import subprocess

    script = (
        "import sys, time\n"
        "from runners.model_specs import model_spec\n"
        "from runners.vllm_server import VLLMServer\n"
        f"s = VLLMServer(model_spec('embedded'), {str(tmp_path / 'none')!r}, log_path={str(tmp_path / 'log')!r})\n"
        "s.start(); print(s.proc.pid, flush=True); time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pgid = int(parent.stdout.readline())
    time.sleep(2)
    assert _group_alive(pgid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(pgid)


# -- the real embedded model ------------------------------------------------------------------------


def ask(srv, spec_tail: str, p: Probe, cache: ResponseCache | None = None):
    system = make_openai(parse_spec(f"openai:{srv.served_name},base_url={srv.base_url}{spec_tail}"), SystemContext(cache=cache))

    async def go():
        try:
            return await system.answer(p)
        finally:
            await system.aclose()

    return asyncio.run(go())


@pytest.mark.server
def test_check_real_server(embedded_server):
    ok = make_openai(parse_spec(f"openai:{embedded_server.served_name},base_url={embedded_server.base_url}"), SystemContext())
    asyncio.run(ok.check())
    wrong = make_openai(parse_spec(f"openai:nope,base_url={embedded_server.base_url}"), SystemContext())
    with pytest.raises(UserError, match="served: smollm2"):
        asyncio.run(wrong.check())


@pytest.mark.server
def test_chat_answer(embedded_server):
    a = ask(embedded_server, "", probe("What is the capital of Germany? Answer in one sentence."))
    assert "Berlin" in a.text
    assert a.prompt_tokens and a.prompt_tokens > 5 and a.completion_tokens and a.completion_tokens > 0
    assert a.latency_s and a.latency_s > 0 and a.cache_hit is False


@pytest.mark.server
def test_completions_answer(embedded_server):
    a = ask(embedded_server, ",mode=completions", probe("Germany is a country in Europe.", "Its capital city is"))
    assert a.text.strip() and a.prompt_tokens and a.completion_tokens


@pytest.mark.server
def test_assistant_prefill_is_continued(embedded_server):
    a = ask(embedded_server, ",prefill=assistant", probe("What is the capital of Germany?", "The capital of Germany is"))
    assert "Berlin" in a.text and not a.text.strip().startswith("The capital")  # only the continuation


@pytest.mark.server
def test_choice_logprobs(embedded_server):
    p = probe("Which one is a fruit? A) apple B) car. Reply with the letter only.", "Answer:", 2, choices=["A", "B"])
    for tail in (",logprobs=1,prefill=assistant", ",logprobs=1,mode=completions"):
        a = ask(embedded_server, tail, p)
        assert a.choice_logprobs and set(a.choice_logprobs) <= {"A", "B"}, tail
        assert all(math.isfinite(v) and v <= 0 for v in a.choice_logprobs.values())
    a = ask(embedded_server, ",logprobs=1,prefill=assistant", p)
    assert set(a.choice_logprobs) == {"A", "B"}


@pytest.mark.server
def test_response_cache(embedded_server, tmp_path: Path):
    cache = ResponseCache(tmp_path / "r.sqlite")
    p = probe("Name a colour.", "", 4)
    first = ask(embedded_server, "", p, cache)
    again = ask(embedded_server, "", p, cache)
    assert not first.cache_hit and again.cache_hit and again.text == first.text
    assert not ask(embedded_server, ",temperature=0.5", p, cache).cache_hit
    # Another model name is a miss: the request reaches the server (which serves no such model).
    system = make_openai(parse_spec(f"openai:other,base_url={embedded_server.base_url}"), SystemContext(cache=cache))
    with pytest.raises(SystemFailure, match="HTTP 404"):
        asyncio.run(system.answer(p))


@pytest.mark.server
def test_embedded_adapter_against_running_server(embedded_server):
    system = make_system(f"embedded,base_url={embedded_server.base_url},max_tokens=8")

    async def go():
        await system.check()
        try:
            return await system.answer(probe("What is 3 + 5?", "3 + 5 ="))
        finally:
            await system.aclose()

    a = asyncio.run(go())
    assert "8" in a.text
    d = system.describe()
    assert (d["kind"], d["spec_name"], d["hf_id"], d["prefill"]) == (
        "embedded", "embedded", "HuggingFaceTB/SmolLM2-135M-Instruct", "assistant",
    )  # fmt: skip
