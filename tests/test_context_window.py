"""Probes longer than the system's context window are refused before the run, with one line that
names the probe's token count and the window (exit 2); --allow-overflow sends them anyway.

Windows from two real sources: a transformers model's config (the tiny random Llama of
tests/tiny_models.py, max_position_embeddings 4096), and an OpenAI-compatible server's /v1/models
listing max_model_len as vLLM does; that server is a small aiohttp app on loopback (the real vLLM
server is the `server`-marked tests' and the README tour's), answering any chat request with "42"."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web

from lbs_testutil import lbs, make_needle, one_line_error
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Condition
from runners.local import RunConfig, run
from tiny_models import make_tiny_llama


class ModelsServer:
    """GET /v1/models lists one model with max_model_len; POST /v1/chat/completions answers "42"."""

    def __init__(self, max_model_len: int | None):
        self.max_model_len = max_model_len
        self.chats = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def models(self, request: web.Request) -> web.Response:
        model = {"id": "m", "object": "model", "created": 0, "owned_by": "test"}
        if self.max_model_len is not None:
            model["max_model_len"] = self.max_model_len
        return web.json_response({"object": "list", "data": [model]})

    async def chat(self, request: web.Request) -> web.Response:
        self.chats += 1
        return web.json_response({
            "id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "42"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    @property
    def spec(self) -> str:
        return f"openai:m,base_url=http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def server():
    srv = ModelsServer(max_model_len=1024)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def needle(tmp_path_factory) -> Path:
    """Prompts of about 512 and 2048 tokens (RULER's convention: length minus the 32-token answer budget)."""
    return make_needle(tmp_path_factory.mktemp("d") / "needle", ["single_2"],
                       ["lengths=512,2k", "depths=50", "samples=2", "max_new_tokens=32"], tokenizer="embedded")


def _numbers(line: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", line)]


def test_server_window_refuses_before_any_request(server, needle, tmp_path):
    out = tmp_path / "r"
    line = one_line_error(lbs("run", needle, "-s", server.spec, "-o", out))
    assert "context window is 1,024 tokens" in line and "--allow-overflow" in line
    assert "2 of 4 probes do not fit" in line and "/2048/" in line  # the 2k probes, named by the longest
    need, prompt, budget = _numbers(line.split("needs ", 1)[1])[:3]
    assert budget == 32 and need == prompt + budget and 1024 < need <= 2048
    assert server.chats == 0 and not out.exists()  # nothing asked, nothing written


def test_fitting_probes_and_allow_overflow_run(server, needle, tmp_path):
    run(RunConfig(dataset=needle, system=server.spec, out=tmp_path / "a", limit=2, use_cache=False))  # the 512 probes fit
    manifest = run(RunConfig(dataset=needle, system=server.spec, out=tmp_path / "b", allow_overflow=True, use_cache=False))
    assert server.chats == 2 + 4 and manifest["counts"]["errors"] == 0
    # A window listed for the model is recorded with the run.
    assert '"context_length": 1024' in (tmp_path / "b" / "run.json").read_text()


def test_no_window_no_check_and_excerpt_prompts_are_not_checked(tmp_path):
    srv = ModelsServer(max_model_len=None)  # an endpoint that does not say (OpenAI's API)
    try:
        data = make_needle(tmp_path / "n", ["single_2"], ["lengths=2k", "depths=50", "samples=1"])
        assert run(RunConfig(dataset=data, system=srv.spec, out=tmp_path / "a", use_cache=False))["status"] == "complete"
    finally:
        srv.close()
    # SORT's in-context prompt holds an excerpt, not the whole book its episode counts: nothing to compare.
    srv = ModelsServer(max_model_len=512)
    try:
        sort = tmp_path / "sort"
        generate_dataset("sort", sort, ["ls20"], ["lengths=250", "books=1", "book_words=3000", "excerpts=1", "heldout=0"],
                         seed=0, tokenizer="approx")
        assert run(RunConfig(dataset=sort, system=srv.spec, out=tmp_path / "b", use_cache=False))["status"] == "complete"
    finally:
        srv.close()


def test_in_process_model_window(tmp_path_factory, tmp_path):
    tiny = make_tiny_llama(tmp_path_factory.mktemp("hf") / "tiny")  # max_position_embeddings 4096
    data = make_needle(tmp_path / "n", ["single_2"], ["lengths=8k", "depths=50", "samples=1", "max_new_tokens=8"])
    with pytest.raises(UserError, match=r"needs 8,192 tokens .* approx tokenizer.* context window is 4,096 tokens"):
        run(RunConfig(dataset=data, system=f"hf:{tiny}", out=tmp_path / "r", use_cache=False))
    assert not (tmp_path / "r").exists()
    # No context in the prompt (the no-context floor): nothing to refuse.
    manifest = run(RunConfig(dataset=data, system=f"hf:{tiny}", out=tmp_path / "m", condition=Condition.NO_CONTEXT,
                             use_cache=False))
    assert manifest["status"] == "complete" and manifest["footprint"]["context_length"] == 4096
    # Its sample log holds the chat messages it sent: the question, then the assistant turn it continued.
    probe = pl.read_parquet(data / "probes.parquet").row(0, named=True)
    logged = pl.read_parquet(tmp_path / "m" / "prompts.parquet").row(0, named=True)
    assert logged["format"] == "chat" and logged["context_id"] is None
    assert logged["messages"] == [{"role": "user", "content": probe["question"]},
                                  {"role": "assistant", "content": probe["answer_prefix"]}]
