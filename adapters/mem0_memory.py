"""mem0 as a memory under test: `mem0[OPTIONS]:READER` wraps the mem0ai library (Chhikara et al. 2025,
"Mem0: Building production-ready AI agents with scalable long-term memory"); an optional extra,
`pip install 'longbench-suite[mem0]'`.

    mem0[,llm_base_url=URL][,llm_model=M][,embed_base_url=URL][,embed_model=M][,api_key_env=VAR]
        [,embed_dims=N][,k=10][,threshold=0.1][,infer=1|0][,chunk_tokens=256][,timeout=300]:READER-SPEC

e.g. `mem0[embed_model=e5,embed_base_url=http://127.0.0.1:8001/v1]:embedded`,
`mem0[llm_model=gpt-4o-mini,embed_model=text-embedding-3-small,llm_base_url=https://api.openai.com/v1]:openai:gpt-4o-mini`.

The library does the remembering; this adapter only feeds it and reads it:
- one mem0 `user_id` per episode (a new one at each ingest). ingest() adds each session (its turns
  as chat messages with their roles; sessions in date order) with metadata {timestamp, session_id};
  a family without sessions is added in windows of about `chunk_tokens` tokens, each one user
  message, in order. With infer=1 (the default) mem0 asks its LLM to extract memories from each add
  (its own prompt, one call per add) and embeds them; infer=0 stores each message as it is (mem0's
  raw mode: no LLM at all).
- answer() searches the episode's memories with the question (its "Question:" line when it has one)
  for the top `k` (mem0's `threshold` on its score), shows them to the reader as the probe's context
  (adapters/templates/mem0_memory.toml) and returns the reader's answer; the reader never sees the
  episode. reset() deletes every ingested user's memories (mem0 delete_all(user_id=...)).

Endpoints. mem0 calls its LLM and its embedder itself over HTTP, OpenAI-compatible (mem0's `vllm`
LLM provider: a chat endpoint at a base URL, which unlike its `openai` provider no OPENROUTER_API_KEY
in the environment can redirect; its `openai` embedder with an explicit base URL). The LLM defaults
to the reader's own endpoint and model when the reader is `openai:`, `embedded` or `ref:` (known once
the reader is checked: a server the reader starts has its port then); otherwise llm_base_url and
llm_model are required (not with infer=0, which needs no LLM). The embedder needs embed_model; its
URL defaults to the LLM's (a vLLM server serves either chat or embeddings, so name a second one
there). Keys come only from the environment: api_key_env (default: the reader's variable when the
LLM is the reader's, else OPENAI_API_KEY; "EMPTY" for a loopback server without one). The dimension of
the vectors is asked of the embedder once (one call), unless embed_dims=N says it.

Offline. Nothing reaches the network but the endpoints named: mem0's telemetry (PostHog) and its
notices (a config fetched from GitHub) are turned off before the library is imported
(MEM0_TELEMETRY=False, and the flags are cleared if it was imported earlier); its anonymous-id file
goes to the suite's cache dir unless MEM0_DIR is set; the vector store is Qdrant in local mode and
the history SQLite, both under the run's work dir (or a temp dir), removed at aclose(). mem0 would
download spaCy's en_core_web_sm at the first add when spaCy is installed without it: refused here
with one line. (With fastembed installed, mem0's Qdrant store loads the Qdrant/bm25 model from the
Hugging Face hub: set HF_HUB_OFFLINE=1 to keep it offline; without fastembed mem0 scores by vectors
only, as here.)

Costs (footprint(), per episode): `memory_items` (memories mem0 holds for the episode after ingest),
`memory_bytes` (their UTF-8 text plus 4 bytes per vector dimension), `ingest_tokens` (prompt +
completion tokens of mem0's LLM calls and the embedding tokens at ingest, as the endpoints report
them in `usage`: the adapter gives mem0's LLM and embedder an OpenAI client of its own, same URL and
key, whose HTTP hook reads it). mem0's own calls bypass the suite's response cache.

Simplified against the paper, by the library: mem0ai 2.x (open source) extracts additively (one LLM
call per add that writes new memories, with hash de-duplication) where the paper's pipeline also
decides UPDATE / DELETE / NOOP against similar memories, and its graph variant (Mem0^g) is not used.
mem0's extraction prompt alone is about 8.5k tokens (33.6k characters): check() refuses infer=1 with
an LLM whose window (vLLM's max_model_len) cannot hold it, e.g. the embedded SmolLM2 server (2048).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from longbench_suite.errors import SystemFailure, UserError, one_line
from longbench_suite.io import read_toml
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, PerEpisode, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, check_url, option_number

from ._reader_memory import make_reader, with_recall
from ._retrieval_items import chunk_items

TEMPLATES = Path(__file__).parent / "templates" / "mem0_memory.toml"
OPTIONS = ("llm_base_url", "llm_model", "embed_base_url", "embed_model", "api_key_env", "embed_dims", "k",
           "threshold", "infer", "chunk_tokens", "timeout")
EXTRA = "pip install 'longbench-suite[mem0]'"
DEFAULT_K = 10
DEFAULT_THRESHOLD = 0.1  # mem0's own default for search()
DEFAULT_CHUNK_TOKENS = 256
DEFAULT_TIMEOUT_S = 300.0
LLM_MAX_TOKENS = 1000  # mem0's extraction answer (a JSON list of memories)
CHARS_PER_TOKEN = 4  # to estimate the extraction prompt's tokens (measured: 3.95 with SmolLM2's tokenizer)
MAX_ITEMS = 1_000_000  # get_all's top_k when counting an episode's memories
COLLECTION = "lbs"


@dataclass(frozen=True)
class Mem0Options:
    llm_base_url: str | None
    llm_model: str | None
    embed_base_url: str | None
    embed_model: str
    api_key_env: str | None
    embed_dims: int | None
    k: int
    threshold: float
    infer: bool
    chunk_tokens: int
    timeout: float


@dataclass(frozen=True)
class Endpoints:
    """Where mem0 sends its calls; keys are read from the environment when the memory is built."""

    llm_url: str | None  # None with infer=0 and no LLM named: mem0 gets an address it never calls
    llm_model: str | None
    embed_url: str
    embed_model: str
    api_key_env: str


@dataclass(frozen=True)
class Unit:
    """One mem0 add(): a session's messages, or one window of a text without sessions."""

    messages: list[dict]
    metadata: dict


def parse_options(spec: SystemSpec) -> Mem0Options:
    check_options(spec, OPTIONS)
    for name in ("llm_base_url", "embed_base_url"):
        url = spec.option(name)
        if url is not None:
            check_url(url, f"mem0's {name}")
            if not url.startswith(("http://", "https://")):
                raise UserError(f"system {spec}: {name} must be an http(s) URL")
    infer = bool(option_number(spec, "infer", 1, int, 0, 1))
    if spec.option("llm_base_url") and not spec.option("llm_model"):
        raise UserError(f"system {spec}: llm_base_url needs llm_model=M (the model mem0 asks to extract memories)")
    if not spec.option("embed_model"):
        raise UserError(f"system {spec}: mem0 needs an embedding model: embed_model=M (and embed_base_url=URL of an "
                        "OpenAI-compatible /embeddings endpoint)")
    dims = spec.option("embed_dims")
    return Mem0Options(
        llm_base_url=spec.option("llm_base_url"),
        llm_model=spec.option("llm_model"),
        embed_base_url=spec.option("embed_base_url"),
        embed_model=spec.option("embed_model") or "",
        api_key_env=spec.option("api_key_env"),
        embed_dims=option_number(spec, "embed_dims", 0, int, 1) if dims is not None else None,
        k=option_number(spec, "k", DEFAULT_K, int, 1, 1000),
        threshold=option_number(spec, "threshold", DEFAULT_THRESHOLD, float, 0.0, 1.0),
        infer=infer,
        chunk_tokens=option_number(spec, "chunk_tokens", DEFAULT_CHUNK_TOKENS, int, 16),
        timeout=option_number(spec, "timeout", DEFAULT_TIMEOUT_S, float, 1.0),
    )


# -- the library, imported offline --------------------------------------------------------------------
def import_mem0() -> Any:
    """mem0's Memory class, telemetry and notices off; one-line UserError when the extra is missing."""
    os.environ["MEM0_TELEMETRY"] = "False"  # read once, when mem0.memory.telemetry is imported
    if not os.environ.get("MEM0_DIR"):  # mem0 writes an anonymous id there at import (default ~/.mem0)
        from longbench_suite.cache import cache_dir

        os.environ["MEM0_DIR"] = str(cache_dir() / "mem0")
    try:
        from mem0 import Memory
        from mem0.memory import main as mem0_main
        from mem0.memory import telemetry
    except ImportError as e:
        raise UserError(f"mem0: the mem0ai library is missing or broken ({one_line(e, 160)}); install it with {EXTRA}") from None
    telemetry.MEM0_TELEMETRY = False  # imported earlier with telemetry on: turn it off all the same
    mem0_main.MEM0_TELEMETRY = False
    logging.getLogger("mem0").setLevel(logging.ERROR)  # "spaCy/fastembed not installed" on every run
    _refuse_model_downloads()
    return Memory


def _refuse_model_downloads() -> None:
    import importlib.util

    if importlib.util.find_spec("spacy") is None:
        return
    import spacy.util

    if not spacy.util.is_package("en_core_web_sm"):
        raise UserError("mem0: spaCy is installed without en_core_web_sm, which mem0 would download at the first add; "
                        "install the model (python -m spacy download en_core_web_sm) or uninstall spacy")


def reader_endpoint(reader: MemorySystem) -> tuple[str, str, str] | None:
    """(base URL, model, api_key_env) of an OpenAI-compatible reader (openai:, embedded, ref:), once it
    is checked (a server the reader starts has its URL then); None for any other reader."""
    from .embedded import ServedModelSystem
    from .openai_compat import OpenAISystem

    if isinstance(reader, ServedModelSystem):
        reader = reader._inner  # noqa: SLF001 - set by its check(); None before
    if isinstance(reader, OpenAISystem):
        return reader._url, reader.model, reader.api_key_env  # noqa: SLF001 - the client's URL, unmasked
    return None


def has_endpoint(reader: MemorySystem) -> bool:
    from .embedded import ServedModelSystem
    from .openai_compat import OpenAISystem

    return isinstance(reader, (ServedModelSystem, OpenAISystem))


def user_id(episode_id: str, ingest: int) -> str:
    """A new mem0 user per ingest: delete_all() leaves mem0's log of the user's last messages (fed to
    its next extraction), so a re-ingested episode must not meet its former self there."""
    return f"lbs-{ingest}-" + re.sub(r"\s+", "_", episode_id)  # mem0 refuses whitespace in ids


def units(episode: Episode, chunk_tokens: int) -> list[Unit]:
    """What ingest adds, in order: each session (date order), else windows of the text."""
    if episode.sessions:
        from tasks.longmemeval import sort_sessions

        return [
            Unit([{"role": t["role"], "content": t["content"]} for t in s["turns"]],
                 {"timestamp": str(s["date"]), "session_id": str(s["session_id"])})
            for s in sort_sessions(episode.sessions) if s["turns"]
        ]
    return [Unit([{"role": "user", "content": it.text or ""}], {"chunk": it.order}) for it in chunk_items(episode.text, chunk_tokens)]


class _Usage:
    """Tokens the endpoints report in `usage`, read by an httpx response hook in mem0's worker thread."""

    def __init__(self) -> None:
        self.tokens = 0
        self.calls = 0

    def hook(self, response: Any) -> None:
        if response.status_code != 200 or not response.request.url.path.endswith(("/chat/completions", "/embeddings")):
            return
        response.read()
        try:
            usage = response.json().get("usage") or {}
        except (ValueError, AttributeError):
            return
        total = usage.get("total_tokens") or (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
        self.tokens += int(total)
        self.calls += 1


class Mem0Memory(MemorySystem):
    condition_override = Condition.IN_MEMORY  # the probe comes without context; mem0's memories are it

    def __init__(self, inner: MemorySystem, options: Mem0Options, memory_class: Any, work_dir: Path | None):
        if options.infer and not options.llm_base_url and not has_endpoint(inner):
            raise UserError(f"mem0: reader {inner.name} has no OpenAI-compatible endpoint for mem0's extraction; "
                            "name one with llm_base_url=URL,llm_model=M (or infer=0: store messages as they are)")
        if not options.infer and not options.llm_base_url and not options.embed_base_url and not has_endpoint(inner):
            raise UserError(f"mem0: name the embedding endpoint with embed_base_url=URL (reader {inner.name} has none)")
        self.inner = inner
        self.options = options
        self.name = f"mem0:{inner.name}"
        self.preferred_concurrency = getattr(inner, "preferred_concurrency", None)
        self.templates = read_toml(TEMPLATES, "mem0 memory templates")
        self._memory_class = memory_class
        self._work_dir = work_dir
        self._store: Path | None = None
        self._memory: Any = None
        self._endpoints: Endpoints | None = None
        self._keys: list[str] = []
        self._clients: list[Any] = []
        self._dims = options.embed_dims
        self._build_lock = asyncio.Lock()
        self._lock = threading.Lock()  # one mem0 call at a time: local Qdrant and SQLite are not shared
        self._users: dict[str, str] = {}  # episode id -> its mem0 user id (since the last reset)
        self._ingests = 0
        self._usage = _Usage()
        self._items, self._bytes, self._tokens = PerEpisode(), PerEpisode(), PerEpisode()
        self._counting = False  # the usage hook is installed

    # -- building mem0 ----------------------------------------------------------------------------
    def _resolve(self) -> Endpoints:
        o = self.options
        from_reader = reader_endpoint(self.inner) if not o.llm_base_url else None
        if o.infer and not o.llm_base_url and from_reader is None:
            raise UserError(f"mem0: reader {self.inner.name} has no endpoint yet (check it first) or none at all; "
                            "name one with llm_base_url=URL,llm_model=M")
        llm_url, llm_model = (o.llm_base_url, o.llm_model) if o.llm_base_url else (from_reader[:2] if from_reader else (None, None))
        embed_url = o.embed_base_url or llm_url
        if embed_url is None:
            raise UserError("mem0: name the embedding endpoint with embed_base_url=URL")
        key_env = o.api_key_env or (from_reader[2] if from_reader else "OPENAI_API_KEY")
        return Endpoints(llm_url, llm_model, embed_url.rstrip("/"), o.embed_model, key_env)

    async def _ensure(self) -> Any:
        async with self._build_lock:
            if self._memory is None:
                from .openai_compat import env_api_key

                o = self.options
                wants_reader = not o.llm_base_url and (o.infer or not o.embed_base_url)
                if wants_reader and has_endpoint(self.inner) and reader_endpoint(self.inner) is None:
                    await self.inner.check()  # starts a reader's server: its URL is the LLM's
                ends = self._resolve()
                embed_key = env_api_key(ends.api_key_env, ends.embed_url)
                llm_key = env_api_key(ends.api_key_env, ends.llm_url) if ends.llm_url else "EMPTY"
                self._keys = [k for k in (embed_key, llm_key) if k != "EMPTY"]
                if self._dims is None:
                    self._dims = await asyncio.to_thread(self._probe_dims, ends, embed_key)
                self._store = Path(tempfile.mkdtemp(prefix="mem0-", dir=self._work_dir))
                config = self._config(ends, llm_key, embed_key)
                self._memory = await asyncio.to_thread(self._memory_class.from_config, config)
                self._counting = self._count_usage(self._memory)
                self._endpoints = ends
            return self._memory

    def _config(self, ends: Endpoints, llm_key: str, embed_key: str) -> dict:
        assert self._store is not None
        return {
            "vector_store": {"provider": "qdrant", "config": {
                "collection_name": COLLECTION, "embedding_model_dims": self._dims, "path": str(self._store / "qdrant")}},
            "llm": {"provider": "vllm", "config": {
                # infer=0 never calls the LLM; mem0 still builds one, given a loopback address nobody serves.
                "model": ends.llm_model or "none", "vllm_base_url": ends.llm_url or "http://127.0.0.1:9/v1",
                "api_key": llm_key, "temperature": 0.0, "max_tokens": LLM_MAX_TOKENS}},
            # embedding_dims left out: mem0 would send `dimensions`, which a model without
            # Matryoshka training refuses; the store is sized from the probe instead.
            "embedder": {"provider": "openai", "config": {
                "model": ends.embed_model, "openai_base_url": ends.embed_url, "api_key": embed_key}},
            "history_db_path": str(self._store / "history.db"),
        }

    def _probe_dims(self, ends: Endpoints, key: str) -> int:
        import openai

        try:
            with openai.OpenAI(api_key=key, base_url=ends.embed_url, timeout=self.options.timeout, max_retries=2) as client:
                vector = client.embeddings.create(model=ends.embed_model, input=["dimension probe"]).data[0].embedding
        except openai.OpenAIError as e:
            raise UserError(self._scrub(f"mem0: the embedding endpoint {ends.embed_url} (model {ends.embed_model}) "
                                        f"failed: {one_line(e.__cause__ or e, 200)}")) from None
        return len(vector)

    def _count_usage(self, memory: Any) -> bool:
        """Give mem0's LLM and embedder OpenAI clients of ours (same URL, key) whose hook counts `usage`."""
        import httpx
        import openai

        holders = [getattr(memory, "llm", None), getattr(memory, "embedding_model", None)]
        if not all(isinstance(getattr(h, "client", None), openai.OpenAI) for h in holders):
            return False  # another mem0 layout: leave its clients, report no ingest tokens
        for holder in holders:
            old = holder.client
            http = httpx.Client(timeout=self.options.timeout, event_hooks={"response": [self._usage.hook]})
            holder.client = openai.OpenAI(api_key=old.api_key, base_url=old.base_url, timeout=self.options.timeout,
                                          max_retries=2, http_client=http)
            old.close()
            self._clients.append(holder.client)
        return True

    async def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        def locked() -> Any:
            with self._lock:
                return fn()

        try:
            return await asyncio.to_thread(locked)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - mem0's errors (LLMError, ValueError, openai, qdrant) as one line
            failure = SystemFailure(self._scrub(f"mem0 {what} failed: {type(e).__name__}: {one_line(e, 300)}"))
            failure.kind = f"mem0 {what}: {type(e).__name__}"  # type: ignore[attr-defined]
            raise failure from None

    def _scrub(self, text: str) -> str:
        from .openai_compat import scrub_key

        for key in self._keys:
            text = scrub_key(text, key)
        return scrub_key(text, "")

    # -- protocol ---------------------------------------------------------------------------------
    async def check(self) -> None:
        await self.inner.check()
        await self._ensure()
        if self.options.infer:
            await asyncio.to_thread(self._check_llm_window)

    def _check_llm_window(self) -> None:
        """infer=1: the LLM must serve the model and hold mem0's extraction prompt (when it says its window)."""
        import openai

        from mem0.configs import prompts

        from .openai_compat import _max_model_len

        ends = self._endpoints
        assert ends is not None and ends.llm_url is not None
        client = self._memory.llm.client
        try:
            models = list(client.with_options(timeout=15.0).models.list())
        except openai.OpenAIError as e:
            raise UserError(self._scrub(f"mem0: cannot list the models of the LLM endpoint {ends.llm_url}: "
                                        f"{one_line(e.__cause__ or e, 200)}")) from None
        served = {m.id: m for m in models}
        if served and ends.llm_model not in served:
            raise UserError(f"mem0: model {ends.llm_model!r} is not served at {ends.llm_url}; served: {', '.join(list(served)[:20])}")
        window = _max_model_len(served[ends.llm_model]) if ends.llm_model in served else None
        prompt = getattr(prompts, "ADDITIVE_EXTRACTION_PROMPT", "")
        needed = math.ceil(len(prompt) / CHARS_PER_TOKEN) + LLM_MAX_TOKENS
        if window is not None and window < needed:
            raise UserError(f"mem0: model {ends.llm_model!r} at {ends.llm_url} has a window of {window} tokens; mem0's "
                            f"extraction prompt alone is about {math.ceil(len(prompt) / CHARS_PER_TOKEN)} tokens (it needs "
                            f"{needed} with the answer): use a model with a longer window, or infer=0")

    async def reset(self) -> None:
        if self._memory is not None:
            memory = self._memory
            for user in sorted(self._users.values()):
                await self._call("delete_all", lambda u=user: memory.delete_all(user_id=u))
        self._users.clear()
        await self.inner.reset()

    async def ingest(self, episode: Episode) -> None:
        memory = await self._ensure()
        self._ingests += 1
        user = self._users[episode.episode_id] = user_id(episode.episode_id, self._ingests)
        before = self._usage.tokens
        for unit in units(episode, self.options.chunk_tokens):
            await self._call("add", lambda u=unit: memory.add(u.messages, user_id=user, metadata=u.metadata, infer=self.options.infer))
        held = (await self._call("get_all", lambda: memory.get_all(filters={"user_id": user}, top_k=MAX_ITEMS)))["results"]
        self._items.add(len(held))
        self._bytes.add(sum(len(str(m.get("memory", "")).encode()) for m in held) + len(held) * 4 * (self._dims or 0))
        if self._counting:
            self._tokens.add(self._usage.tokens - before)

    async def release(self, episode: Episode) -> None:
        await self.inner.release(episode)

    async def answer(self, probe: Probe) -> Answer:
        from .retrieval import query_text

        user = self._users.get(probe.episode_id)
        if self._memory is None or user is None:
            raise UserError("mem0: nothing ingested for this question (mem0 memory needs the episode)")
        memory = self._memory
        t0 = time.monotonic()
        query = query_text(probe.question)
        found = await self._call("search", lambda: memory.search(
            query, filters={"user_id": user}, top_k=self.options.k, threshold=self.options.threshold))
        final = await self.inner.answer(with_recall(probe, self.render(found.get("results") or [])))
        return Answer(text=final.text, choice_logprobs=final.choice_logprobs, prompt_tokens=final.prompt_tokens,
                      completion_tokens=final.completion_tokens, latency_s=time.monotonic() - t0,
                      cache_hit=final.cache_hit, model=final.model)

    def render(self, found: list[dict]) -> str:
        t = self.templates
        lines = []
        for m in found:
            stamp = (m.get("metadata") or {}).get("timestamp")
            when = t["dated"].format(timestamp=stamp) if stamp else ""
            lines.append(t["memory"].format(text=str(m.get("memory", "")).strip(), when=when))
        return t["context"].format(memories="\n".join(lines) or t["empty"])

    def describe(self) -> dict[str, Any]:
        import importlib.metadata

        o, inner = self.options, self.inner.describe()  # stable across runs: a started server's port is not here
        return {
            "name": self.name,
            "library": f"mem0ai {importlib.metadata.version('mem0ai')}",
            "llm": {"base_url": o.llm_base_url or "the reader's", "model": o.llm_model or "the reader's"} if o.infer else None,
            "embedder": {"base_url": o.embed_base_url or "the LLM's", "model": o.embed_model, "dims": o.embed_dims or "probed"},
            "api_key_env": o.api_key_env or ("the reader's" if not o.llm_base_url else "OPENAI_API_KEY"),
            "vector_store": "qdrant (local)",
            "k": o.k, "threshold": o.threshold, "infer": o.infer, "chunk_tokens": o.chunk_tokens,
            "extraction_max_tokens": LLM_MAX_TOKENS if o.infer else None,
            "reader": inner,
            "sampling": inner.get("sampling", {}),
        }

    def footprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {"vector_dims": self._dims, "episodes_ingested": len(self._items.values)}
        for key, values in (("memory_items", self._items), ("memory_bytes", self._bytes), ("ingest_tokens", self._tokens)):
            summary = values.summary()
            if summary is not None:
                out[key] = summary
        if self._counting:
            out["endpoint_calls"] = self._usage.calls
        reader = self.inner.footprint()
        if reader:
            out["reader"] = reader
        return out

    async def aclose(self) -> None:
        try:
            if self._memory is not None:
                memory, self._memory = self._memory, None
                await asyncio.to_thread(memory.close)
            for client in self._clients:
                client.close()
            self._clients.clear()
        finally:
            if self._store is not None:
                shutil.rmtree(self._store, ignore_errors=True)
                self._store = None
            await self.inner.aclose()


def _mem0(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`mem0[embed_model=M,...]:READER`: the mem0ai library as the memory, any system as the reader."""
    options = parse_options(spec)
    memory_class = import_mem0()  # before the reader: a missing library must not start a server
    work_dir = ctx.work_dir if ctx.work_dir and Path(ctx.work_dir).is_dir() else None
    return Mem0Memory(make_reader(spec, ctx), options, memory_class, work_dir)


SYSTEMS = {"mem0": _mem0}
