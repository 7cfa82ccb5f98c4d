"""mem0[...]:READER (adapters/mem0_memory.py): the mem0ai library as a memory under test.

Fast tests run everywhere: options and their one-line errors, the missing-library error naming the
extra, what ingest hands mem0 (sessions with roles and dates, windows of a text) and how memories
are shown to the reader. Where the `mem0` extra is installed, the real library runs offline: Qdrant
in local mode, mem0's raw mode (infer=0, no LLM), and an OpenAI-compatible /v1/embeddings endpoint
served on loopback by a small http.server over a real (random, 2-layer) Llama encoder from
tests/tiny_models.py, the embedder retrieval's plumbing test uses; an audit hook records every
socket connect and DNS lookup, and none may leave loopback. The memory contract
(tests/memory_contract.py) runs on it with the spy as reader. With the embedded vLLM server (marked
`server`), check() refuses mem0's own extraction (infer=1): its prompt (~8.5k tokens) does not fit the
served SmolLM2's 2048-token window; and the embedded reader answers from memories mem0 stored raw.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from longbench_suite.errors import UserError
from longbench_suite.protocol import Episode, Probe
from longbench_suite.registry import make_system

HAS_MEM0 = importlib.util.find_spec("mem0") is not None


def _require_mem0(test):
    """The dev extra installs mem0: without it these tests fail (a skip would hide untested work)."""
    def wrapper(*args, **kwargs):
        if not HAS_MEM0:
            pytest.fail("mem0 is not installed: run bash scripts/install.sh cpu,dev (the dev extra has mem0)")
        return test(*args, **kwargs)
    return functools.wraps(test)(wrapper)


needs_mem0 = _require_mem0
EMBED = "embed_model=tiny,embed_base_url={url}"


# -- fast: options, errors, what mem0 is given -----------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("embed_model=e,colour=red", "unknown options colour"),
        ("llm_base_url=http://127.0.0.1:1/v1", "llm_base_url needs llm_model=M"),
        ("llm_model=m", "mem0 needs an embedding model: embed_model=M"),
        ("embed_model=e,embed_base_url=ftp://x", r"embed_base_url must be an http\(s\) URL"),
        ("embed_model=e,k=0", "k=0 out of range"),
        ("embed_model=e,infer=2", "infer=2 out of range"),
        ("embed_model=e,threshold=x", "threshold='x' is not a number"),
        ("embed_model=e,embed_base_url=http://u:p@127.0.0.1/v1", "refusing credentials inside the URL"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UserError, match=message) as err:
        make_system(f"mem0[{options}]:oracle")
    assert "\n" not in str(err.value)


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mem0", None)  # as if the extra were not installed: import fails
    with pytest.raises(UserError, match=r"mem0ai library is missing .* install it with pip install 'longbench-suite\[mem0\]'"):
        make_system("mem0[embed_model=e,embed_base_url=http://127.0.0.1:1/v1,infer=0]:oracle")


def test_units_are_sessions_in_date_order_with_roles_and_dates_or_windows_of_text():
    from adapters.mem0_memory import units, user_id

    sessions = [
        {"session_id": "s2", "date": "2023/05/02 (Tue) 10:00", "turns": [{"role": "user", "content": "later", "has_answer": True}]},
        {"session_id": "s1", "date": "2023/05/01 (Mon) 09:00",
         "turns": [{"role": "user", "content": "I adopted a cat"}, {"role": "assistant", "content": "Congratulations!"}]},
        {"session_id": "s3", "date": "2023/05/03 (Wed) 09:00", "turns": []},  # nothing to add
    ]
    got = units(Episode("e 1", "longmemeval", "s", "", sessions=sessions), 256)
    assert [u.metadata for u in got] == [{"timestamp": "2023/05/01 (Mon) 09:00", "session_id": "s1"},
                                         {"timestamp": "2023/05/02 (Tue) 10:00", "session_id": "s2"}]
    assert got[0].messages == [{"role": "user", "content": "I adopted a cat"}, {"role": "assistant", "content": "Congratulations!"}]
    assert got[1].messages == [{"role": "user", "content": "later"}]  # only role and content reach mem0
    text = " ".join(f"w{i}" for i in range(100))
    windows = units(Episode("e", "needle", "v", text), 32)  # 24 words a window
    assert [len(u.messages[0]["content"].split()) for u in windows] == [24, 24, 24, 24, 4]
    assert all(u.messages[0]["role"] == "user" for u in windows) and windows[2].metadata == {"chunk": 2}
    assert " ".join(u.messages[0]["content"] for u in windows) == text
    assert user_id("e 1\tx", 3) == "lbs-3-e_1_x"  # mem0 refuses whitespace in ids


# -- the real library, offline -----------------------------------------------------------------------
class _Network:
    """Every socket connect and DNS lookup of this process while `watching` (audit hooks stay for life)."""

    def __init__(self) -> None:
        self.watching = False
        self.seen: list[tuple[str, object]] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if not self.watching:
            return
        if event == "socket.connect" and isinstance(args[1], tuple):
            self.seen.append(("connect", args[1][0]))
        elif event == "socket.getaddrinfo":
            self.seen.append(("lookup", args[0]))

    def off_loopback(self) -> list[tuple[str, object]]:
        return [(e, h) for e, h in self.seen if h not in ("127.0.0.1", "::1", "localhost")]


@pytest.fixture(scope="module")
def network() -> _Network:
    return _Network()


@pytest.fixture(scope="module")
def embed_url(tmp_path_factory):
    """POST /v1/embeddings on loopback: mean-pooled states of a real (random) 2-layer Llama, with usage."""
    from tiny_models import make_tiny_llama
    from transformers import AutoTokenizer

    from adapters._retrievers import HFEmbedder

    folder = make_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama")
    embedder, tokenizer = HFEmbedder(str(folder)), AutoTokenizer.from_pretrained(str(folder))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
            vectors = asyncio.run(embedder.embed(texts))
            tokens = sum(len(tokenizer(t)["input_ids"]) for t in texts)
            data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
            out = json.dumps({"object": "list", "model": body["model"], "data": data,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


@needs_mem0
def test_reader_without_endpoint_needs_an_llm_for_extraction():
    with pytest.raises(UserError, match=r"reader oracle has no OpenAI-compatible endpoint .* \(or infer=0"):
        make_system(f"mem0[{EMBED.format(url='http://127.0.0.1:1/v1')}]:oracle")


@needs_mem0
def test_contract_offline_with_raw_memories(tmp_path, embed_url, network):
    """reset forgets (delete_all per episode's user), no gold or choices, ingest once; every memory
    counted; nothing leaves loopback; the store is removed at the end."""
    from memory_contract import SPY, assert_contract, run_contract

    network.watching = True
    try:
        manifest, calls, data = run_contract(f"mem0[infer=0,threshold=0,k=3,{EMBED.format(url=embed_url)}]:{SPY}", tmp_path)
    finally:
        network.watching = False
    assert_contract(manifest, calls, data)
    assert network.seen and not network.off_loopback(), network.off_loopback()
    fp = manifest["footprint"]
    assert fp["memory_items"]["episodes"] == 3 and fp["memory_items"]["mean"] >= 1
    assert fp["memory_bytes"]["max"] > fp["memory_items"]["max"] * 4 * fp["vector_dims"] and fp["vector_dims"] == 128
    assert fp["ingest_tokens"]["mean"] > 0  # the embedder's usage, read by the adapter's hook
    answered = [c for c in calls if c.kind == "answer"]
    assert all(c.probe.context.startswith("Memories of the earlier material, best match first:") for c in answered)
    assert manifest["system"]["library"].startswith("mem0ai ") and manifest["system"]["infer"] is False


@needs_mem0
def test_sessions_are_stored_with_their_dates_and_reset_deletes_them(tmp_path, embed_url):
    from memory_contract import SPY, SPIES

    SPIES.clear()
    system = make_system(f"mem0[infer=0,threshold=0,k=5,{EMBED.format(url=embed_url)}]:{SPY}")
    sessions = [{"session_id": "s1", "date": "2023/05/01 (Mon) 09:00",
                 "turns": [{"role": "user", "content": "My cat is called Tom."}, {"role": "assistant", "content": "A fine name."}]}]
    probe = Probe("p", "e1", "Question: What is my cat called?", "", None, 8)

    async def scenario():
        try:
            await system.check()
            await system.ingest(Episode("e1", "longmemeval", "s", "", sessions=sessions))
            first = await system.answer(probe)
            store, memory = system._store, system._memory  # noqa: SLF001
            user = system._users["e1"]  # noqa: SLF001
            stored = memory.get_all(filters={"user_id": user})["results"]
            await system.reset()
            held = memory.get_all(filters={"user_id": user})["results"]
            with pytest.raises(UserError, match="nothing ingested"):
                await system.answer(probe)
            return first, store, stored, held
        finally:
            await system.aclose()

    first, store, stored, held = asyncio.run(scenario())
    assert sorted((m["memory"], m["role"], m["metadata"]["timestamp"], m["metadata"]["session_id"]) for m in stored) == [
        ("A fine name.", "assistant", "2023/05/01 (Mon) 09:00", "s1"), ("My cat is called Tom.", "user", "2023/05/01 (Mon) 09:00", "s1")]
    # The reader saw what mem0 found (the spy echoes its context): memories with their dates. Which of
    # the two rank above the threshold depends on the random embedder.
    assert first.text.startswith("Memories of the earlier material") and "[2023/05/01 (Mon) 09:00]" in first.text
    assert held == [] and not store.exists()
    assert system.footprint()["memory_items"] == {"mean": 2.0, "max": 2.0, "episodes": 1}


# -- with the embedded vLLM server ------------------------------------------------------------------
@needs_mem0
@pytest.mark.server
def test_embedded_model_cannot_hold_mem0s_extraction_prompt(embedded_server, embed_url):
    system = make_system(f"mem0[{EMBED.format(url=embed_url)}]:embedded,base_url={embedded_server.base_url}")
    try:
        with pytest.raises(UserError, match=r"has a window of 2048 tokens; mem0's extraction prompt alone is about 8\d\d\d tokens"):
            asyncio.run(system.check())
    finally:
        asyncio.run(system.aclose())


@needs_mem0
@pytest.mark.server
def test_embedded_reader_answers_from_raw_memories(tmp_path, embedded_server, embed_url):
    from runners.local import RunConfig, run

    from longbench_suite.protocol import Condition
    from memory_contract import contract_dataset

    data = contract_dataset(tmp_path / "data", samples=2)
    spec = f"mem0[infer=0,threshold=0,k=3,{EMBED.format(url=embed_url)}]:embedded,base_url={embedded_server.base_url}"
    manifest = run(RunConfig(dataset=data, system=spec, out=tmp_path / "run", condition=Condition.IN_MEMORY, use_cache=False))
    assert manifest["status"] == "complete" and manifest["counts"]["errors"] == 0
    assert manifest["footprint"]["memory_items"]["episodes"] == 2
