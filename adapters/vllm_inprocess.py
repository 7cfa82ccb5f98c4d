"""vLLM in this process (`vllm.LLM`): a full-context system that batches every probe in flight.

    vllm:MODEL[,mode=chat|completions][,prefill=assistant|user|none][,temperature=0][,top_p=1]
              [,max_tokens=N][,seed=0][,logprobs=0|1][,max_model_len=N][,dtype=float32|bfloat16|...]
              [,trust_remote_code=0|1][,batch_wait_ms=5][,max_batch=256]

MODEL is, in this order: a model of the catalogue (runners/models.toml, e.g. `embedded` or
`qwen3-8b`; `ref:NAME` works too), a local HF folder (it must hold config.json), or a hub id.
A catalogue model gets exactly the engine the server gets: its `lbs serve` command
(runners.model_specs.vllm_command) minus program, host, port and served name is parsed by vLLM's own
server parser, so --enforce-eager, --hf-overrides, --mamba-cache-mode, --trust-remote-code and
--default-chat-template-kwargs mean the same in both paths, and the entry's `env` is set in
os.environ while the engine lives. A device=cuda entry is refused on a machine without a GPU. A folder
or hub id gets dtype float32 and --enforce-eager on CPU (dtype auto on a GPU); trust_remote_code stays
off unless the entry or trust_remote_code=1 asks. max_model_len= and dtype= override either;
--enable-prefix-caching is always on.

Batching: answer() queues its request and waits; one background task collects what is queued
(until nothing new arrived for batch_wait_ms, or max_batch requests) and hands the batch, ordered by
episode so probes sharing a context are adjacent and the prefix cache computes the context once, to
the engine in a worker thread: one engine run per batch, one run at a time. The runner keeps
`preferred_concurrency` probes in flight. Systems of one process that ask for the same engine
arguments share one engine (reference counted; the last aclose() shuts it down and its processes).

Prompts are those of adapters/openai_compat.py (chat_messages / completion_prompt): prefill=assistant
(the default for chat models) continues an assistant turn holding the answer prefix. Mode defaults to
chat, or completions for a catalogue entry with chat=false or a folder without a chat template.
Sampling is explicit (temperature, top_p, seed, max_tokens = the probe's budget unless set): the
model's generation_config is never consulted. With logprobs=1 a probe with choices gets
Answer.choice_logprobs: per choice, the log-sum-exp of the log-probs at the first generated position
of every vocabulary token whose text, stripped of whitespace, is the choice (openai_compat sums the
same tokens among the top 20; here vLLM's logprob_token_ids returns them at any rank); a choice that
is no single token is scored by its first token. Answers are cached (when the run has a cache) by
model identity (entry, folder files, or hub id and snapshot), engine version, engine arguments,
sampling and the exact messages or prompt. latency_s is the time from answer() to its result
(queueing and the shared engine run included).

Environment while the engine lives: the entry's `env`; on CPU VLLM_CPU_KVCACHE_SPACE defaults to 1
(GiB of KV cache); VLLM_LOGGING_LEVEL defaults to WARNING for the engine's processes (set either to
override). vLLM's engine core outlives a SIGKILLed parent, so once the
engine is up a small watchdog process kills it if this process dies without aclose().
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import gc
import importlib.util
import itertools
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench_suite.errors import SystemFailure, UserError, one_line
from longbench_suite.protocol import Answer, Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_number
from runners.vllm_server import engine_version

from ._choices import ChoiceTokens
from ._model_folder import files_digest, local_folder

from .openai_compat import SAMPLING_KEYS, chat_messages, completion_prompt, sampling_kwargs

OPTIONS = ("mode", "prefill", "temperature", "top_p", "max_tokens", "seed", "logprobs", "max_model_len", "dtype",
           "trust_remote_code", "batch_wait_ms", "max_batch")  # fmt: skip
PREFERRED_CONCURRENCY = 256  # vLLM's default max_num_seqs: one batch can hold them all
INSTALL_HINT = "install vLLM: `pip install 'longbench-suite[gpu]'` on a GPU machine, or `bash scripts/install.sh cpu`"
SERVER_ONLY = ("--host", "--port", "--served-model-name")  # flag + one value, dropped from the server command
ENGINE_STOP_S = 15.0  # after vLLM's own shutdown: how long its processes may take to exit
# vLLM's engine core outlives a SIGKILLed parent (measured): this watchdog, a child that outlives us
# too, notices the parent is gone (it is re-parented) and kills the engine's processes.
WATCHDOG = """
import os, signal, sys, time
parent = int(sys.argv[1])
while os.getppid() == parent:
    time.sleep(0.5)
for pid in sys.argv[2:]:
    try:
        os.kill(int(pid), signal.SIGKILL)
    except OSError:
        pass
"""


def _require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise UserError(f"vllm: the vllm package is missing; {INSTALL_HINT}")


def _is_cpu() -> bool:
    from runners.vllm_server import gpu_present

    return not gpu_present()


# --- what to load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """MODEL resolved: a catalogue entry, a local folder or a hub id."""

    typed: str
    source: str  # catalogue | folder | hub
    entry: Any = None  # runners.model_specs.ModelSpec for a catalogue model

    @property
    def label(self) -> str:  # Answer.model: the name a server would report
        return self.entry.served_name if self.entry is not None else self.typed

    def planned_path(self) -> str:
        """Where the weights will be, without converting or downloading anything (validation)."""
        if self.source != "catalogue":
            return str(Path(self.typed).expanduser().resolve()) if self.source == "folder" else self.typed
        if self.entry.source_kind == "gguf-package":
            from runners.embedded_model import model_dir

            return str(model_dir(self.entry))
        return self.entry.source_ref

    def resolve_path(self) -> str:
        """The weights, converted once (a packaged GGUF) or checked (a catalogue folder)."""
        if self.source != "catalogue":
            return self.planned_path()
        from runners.vllm_server import resolve_model_path

        return resolve_model_path(self.entry)

    def default_chat(self) -> bool:
        if self.entry is not None:
            return bool(self.entry.chat)
        if self.source == "folder":  # a base model without a template cannot be asked in chat mode
            folder = Path(self.planned_path())
            config = folder / "tokenizer_config.json"
            has = (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file()
            if not has and config.is_file():
                has = bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
            return has
        return True

    def identity(self) -> dict[str, Any]:
        """What names these weights in cache keys: the entry, the folder's files, or the hub id."""
        if self.entry is not None:
            return {"catalogue": dataclasses.asdict(self.entry)}
        if self.source == "folder":
            folder = Path(self.planned_path())
            return {"folder": str(folder), "files": files_digest(folder)}
        return {"hub_id": self.typed, "snapshot": _hub_snapshot(self.typed)}


def _hub_snapshot(repo: str) -> str | None:
    """The commit of the hub model's local snapshot (vLLM downloaded it), when there is one."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, "config.json")
    except Exception:  # noqa: BLE001 - no hub library or a malformed id: the id alone names it
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def resolve_model(typed: str) -> Model:
    from runners.model_specs import load_model_specs

    name = typed.removeprefix("ref:")
    catalogue = load_model_specs()
    if name in catalogue:
        return Model(typed, "catalogue", catalogue[name])
    if typed.startswith("ref:"):
        raise UserError(f"vllm:{typed}: unknown catalogue model; known: {', '.join(sorted(catalogue))}")
    return Model(typed, "folder" if local_folder(typed, "vllm") else "hub")


# --- engine arguments -----------------------------------------------------------------------------


def engine_argv(
    model: Model, path: str, *, dtype: str | None, max_model_len: int | None, trust_remote_code: bool
) -> list[str]:
    """The engine's command-line arguments: a catalogue entry's server command without program,
    host, port and served name; else a minimal command with CPU-safe defaults. Then the overrides."""
    if model.entry is not None:
        from runners.model_specs import vllm_command

        cmd = vllm_command(model.entry, path, "127.0.0.1", 0)
        cmd = cmd[cmd.index("--model") :]
        argv: list[str] = []
        i = 0
        while i < len(cmd):
            if cmd[i] in SERVER_ONLY:
                i += 2
                continue
            argv.append(cmd[i])
            i += 1
    else:
        cpu = _is_cpu()
        argv = ["--model", path, "--dtype", "float32" if cpu else "auto"] + (["--enforce-eager"] if cpu else [])
    if dtype:
        argv += ["--dtype", dtype]  # argparse: the last value wins
    if max_model_len:
        argv += ["--max-model-len", str(max_model_len)]
    if trust_remote_code and "--trust-remote-code" not in argv:
        argv.append("--trust-remote-code")
    if "--enable-prefix-caching" not in argv:
        argv.append("--enable-prefix-caching")  # probes of one episode share their context
    return argv


def parse_engine_args(argv: list[str], what: str) -> tuple[Any, dict[str, Any]]:
    """vLLM's own server parser -> (EngineArgs, the server's chat options that rendering needs)."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, resolve_default_chat_template_kwargs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm"))

    def refuse(message: str) -> None:  # argparse would print its usage and exit
        raise UserError(f"{what}: bad vLLM engine argument: {one_line(message, 240)}")

    parser.error = refuse  # type: ignore[method-assign]
    ns = parser.parse_args(argv)
    chat = {
        "chat_template": ns.chat_template,
        "chat_template_content_format": ns.chat_template_content_format,
        "chat_template_kwargs": resolve_default_chat_template_kwargs(ns) or None,
    }
    return EngineArgs.from_cli_args(ns), chat


# --- the engine -----------------------------------------------------------------------------------


@dataclass
class Request:
    """One probe as the engine takes it."""

    messages: list[dict[str, str]] | None  # chat mode
    continue_final: bool  # chat: continue the last (assistant) message instead of answering it
    prompt: str | None  # completions mode
    sampling: dict[str, Any]  # SamplingParams keywords
    choices: list[str] | None = None  # score these at the first generated position (logprobs=1)
    choice_ids: dict[str, list[int]] = field(default_factory=dict)  # choice -> its tokens (filled by run)


class Engine:
    """One vllm.LLM and the processes it started. vLLM's LLM is not thread-safe: every call holds
    the lock, so batches run one at a time."""

    def __init__(self, argv: list[str], env: dict[str, str], what: str):
        self.argv, self.env, self.what = argv, env, what
        self.users = 0
        self.llm: Any = None
        self.chat: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.processes: list[Any] = []  # psutil.Process of the engine core and its workers
        self.watchdog: subprocess.Popen | None = None
        self.facts: dict[str, Any] = {}  # read from the engine's config at start (footprint)
        # What the engine did: engine runs (batches), requests, prompt tokens, prompt tokens served
        # from the prefix cache.
        self.stats = {"runs": 0, "requests": 0, "prompt_tokens": 0, "cached_prompt_tokens": 0}
        self._saved_env: dict[str, str | None] = {}
        self._choices: ChoiceTokens | None = None  # built on the first choice probe (a vocabulary scan)

    @property
    def running(self) -> bool:
        return self.llm is not None

    def start(self) -> None:
        with self.lock, _START_LOCK:  # one start at a time: the new child processes are this engine's
            if self.llm is not None:
                return
            import psutil
            from vllm import LLM

            engine_args, self.chat = parse_engine_args(self.argv, self.what)
            for k, v in self.env.items():
                self._saved_env.setdefault(k, os.environ.get(k))
                os.environ[k] = v
            me = psutil.Process()
            before = {p.pid for p in me.children(recursive=True)}
            try:
                self.llm = LLM(**vars(engine_args), chat_template=self.chat.pop("chat_template"))
            except Exception as e:
                self._adopt_processes(me, before, kill=True)
                self._restore_env()
                raise UserError(f"{self.what}: vLLM could not start the engine: {one_line(e, 300)}") from None
            self._adopt_processes(me, before, kill=False)
            self.watchdog = start_watchdog([p.pid for p in self.processes])
            atexit.register(self.shutdown)  # an interpreter that forgot aclose() still ends them
            self.facts = self._read_facts()

    def _adopt_processes(self, me: Any, before: set[int], kill: bool) -> None:
        """Remember the processes this start made (multiprocessing's shared resource tracker is not
        the engine's: it serves the whole interpreter); after a failed start, end them."""
        import psutil

        new = []
        for p in me.children(recursive=True):
            try:
                if p.pid not in before and "multiprocessing.resource_tracker" not in " ".join(p.cmdline()):
                    new.append(p)
            except psutil.Error:
                continue
        self.processes = [] if kill else new
        if kill:
            _end(new)

    def _read_facts(self) -> dict[str, Any]:
        engine = self.llm.llm_engine
        mc, vc = engine.model_config, engine.vllm_config
        cfg = mc.hf_text_config
        facts: dict[str, Any] = {"context_length": int(mc.max_model_len)}
        heads = getattr(cfg, "num_attention_heads", None)
        if heads:
            try:  # vLLM knows which layers of a hybrid model attend
                layers = int(mc.get_num_layers_by_block_type(vc.parallel_config, "attention"))
            except Exception:  # noqa: BLE001 - an older vLLM: count every layer
                layers = int(getattr(cfg, "num_hidden_layers", 0) or 0)
            kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
            head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
            cache_dtype = str(vc.cache_config.cache_dtype)
            nbytes = 1 if cache_dtype.startswith("fp8") else mc.dtype.itemsize
            facts["kv_bytes_per_token"] = 2 * layers * kv_heads * head_dim * nbytes
        facts["prefix_caching"] = bool(vc.cache_config.enable_prefix_caching)
        return facts

    def choice_ids(self, label: str) -> list[int]:
        if self._choices is None:
            self._choices = ChoiceTokens(self.llm.get_tokenizer())
        return self._choices.ids(label)

    def run(self, requests: list[Request]) -> list[Any]:
        """One engine run for the batch: a RequestOutput, or the exception of a request vLLM refused
        (e.g. longer than max_model_len), per request, in order."""
        from vllm import SamplingParams
        from vllm.sampling_params import MAX_LOGPROB_TOKEN_IDS

        with self.lock:
            llm = self.llm
            if llm is None:
                raise SystemFailure(f"{self.what}: the engine is shut down")
            results: list[Any] = [None] * len(requests)
            added: list[int] = []
            for i, r in enumerate(requests):
                try:
                    params = dict(r.sampling)
                    if r.choices:
                        r.choice_ids = {c: self.choice_ids(c) for c in r.choices}
                        ids = sorted({t for v in r.choice_ids.values() for t in v})[:MAX_LOGPROB_TOKEN_IDS]
                        if ids:
                            params.update(logprobs=len(ids), logprob_token_ids=ids)
                    sp = SamplingParams(**params)
                    if r.messages is not None:
                        llm.enqueue_chat(
                            [r.messages], sp, use_tqdm=False, add_generation_prompt=not r.continue_final,
                            continue_final_message=r.continue_final, **self.chat,
                        )  # fmt: skip
                    else:
                        llm.enqueue([r.prompt], sp, use_tqdm=False)
                    added.append(i)
                except Exception as e:  # noqa: BLE001 - this probe fails alone, recorded by the runner
                    results[i] = SystemFailure(f"vLLM refused the request: {one_line(e, 300)}")
            if added:
                outputs = llm.wait_for_completion(use_tqdm=False)  # in the order added
                if len(outputs) != len(added):
                    raise SystemFailure(f"vLLM returned {len(outputs)} outputs for {len(added)} requests")
                for i, out in zip(added, outputs):
                    results[i] = out
                    self.stats["prompt_tokens"] += len(out.prompt_token_ids or ())
                    self.stats["cached_prompt_tokens"] += int(out.num_cached_tokens or 0)
            self.stats["runs"] += 1
            self.stats["requests"] += len(added)
            return results

    def shutdown(self) -> None:
        """Stop the engine core and its workers; wait for them, end what is left; free memory."""
        with self.lock:
            llm, self.llm = self.llm, None
            if llm is None:
                return
            try:
                stop = getattr(llm, "shutdown", None) or llm.llm_engine.engine_core.shutdown
                stop()
            except Exception:  # noqa: BLE001 - the processes are ended below either way
                pass
            del llm
            gc.collect()
            _end(self.processes, grace_s=ENGINE_STOP_S)
            self.processes = []
            if self.watchdog is not None:  # its pids are dead now and may be reused: stop it first
                self.watchdog.kill()
                self.watchdog.wait()
                self.watchdog = None
            atexit.unregister(self.shutdown)
            self._choices = None
            self._restore_env()

    def _restore_env(self) -> None:
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}


def start_watchdog(pids: list[int]) -> subprocess.Popen:
    """A small process that SIGKILLs `pids` once this process is gone (even after a SIGKILL)."""
    cmd = [sys.executable, "-I", "-S", "-c", WATCHDOG, str(os.getpid()), *map(str, pids)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _end(processes: list[Any], grace_s: float = 0.0) -> None:
    """Wait for the given processes (children of this one: waiting reaps them), then kill the rest."""
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=grace_s) if grace_s else ([], processes)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


_ENGINES: dict[tuple, Engine] = {}
_ENGINES_LOCK = threading.Lock()
_START_LOCK = threading.Lock()


def acquire_engine(argv: list[str], env: dict[str, str], what: str) -> Engine:
    """The process's engine for these arguments (made, not started, when new)."""
    key = (tuple(argv), tuple(sorted(env.items())))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = Engine(argv, env, what)
        engine.users += 1
        return engine


def release_engine(engine: Engine) -> None:
    """One user fewer; the last one shuts the engine down."""
    with _ENGINES_LOCK:
        engine.users -= 1
        last = engine.users <= 0
        if last:
            for key, e in list(_ENGINES.items()):
                if e is engine:
                    del _ENGINES[key]
    if last:
        engine.shutdown()


# --- the system -----------------------------------------------------------------------------------


@dataclass
class _Pending:
    order: tuple[int, int]  # (episode rank, arrival): the batch is sorted by it
    request: Request
    future: asyncio.Future


class VLLMSystem(MemorySystem):
    """Stateless full-context system on an in-process vLLM engine; batches concurrent probes."""

    concurrent_episodes = True
    preferred_concurrency = PREFERRED_CONCURRENCY

    def __init__(self, spec: SystemSpec, ctx: SystemContext):
        check_options(spec, OPTIONS)
        if not spec.model:
            raise UserError(f"system {spec}: name the model, e.g. vllm:embedded, vllm:./my-model or vllm:ORG/NAME")
        _require_vllm()
        self.model = resolve_model(spec.model)
        if self.model.entry is not None:
            from runners.vllm_server import check_device

            check_device(self.model.entry)  # before a run directory or a conversion exists
        self.name = f"vllm:{spec.model}"
        kwargs = sampling_kwargs(spec, ctx, prefill_default="assistant" if self.model.default_chat() else "none")
        if "mode" not in spec.options and not self.model.default_chat():
            kwargs["mode"] = "completions"
        self.mode, self.prefill, self.logprobs = kwargs["mode"], kwargs["prefill"], kwargs["logprobs"]
        self.sampling = {k: kwargs[k] for k in SAMPLING_KEYS}  # max_tokens None: each probe's budget
        self.batch_wait_s = option_number(spec, "batch_wait_ms", 5.0, float, 0.0, 10_000.0) / 1000
        self.max_batch = option_number(spec, "max_batch", PREFERRED_CONCURRENCY, int, 1)
        self._overrides = dict(
            dtype=spec.option("dtype"),
            max_model_len=option_number(spec, "max_model_len", 0, int, 16) or None,
            trust_remote_code=bool(option_number(spec, "trust_remote_code", 0, int, 0, 1)),
        )
        # Set while the engine lives (its processes inherit it): the entry's, then defaults.
        self.env = dict(self.model.entry.env) if self.model.entry is not None else {}
        if _is_cpu():
            self.env.setdefault("VLLM_CPU_KVCACHE_SPACE", os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"))
        # A run shows its progress, not the engine core's INFO log.
        self.env.setdefault("VLLM_LOGGING_LEVEL", os.environ.get("VLLM_LOGGING_LEVEL", "WARNING"))
        # Validate the arguments now (a typo fails before a run directory exists); the weights'
        # path is final only once a packaged model is converted, at start.
        self.argv = engine_argv(self.model, self.model.planned_path(), **self._overrides)
        parse_engine_args(self.argv, self.name)
        self.cache = ctx.cache
        self.engine: Engine | None = None
        self._start_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Pending] = []
        self._arrived: asyncio.Event | None = None
        self._batcher: asyncio.Task | None = None
        self._episodes: dict[str, int] = {}  # episode id -> its rank in batches (first seen first)
        self._ranks = itertools.count()  # never reused: a released episode's rank must not collide
        self._arrivals = 0
        self._identity: dict[str, Any] | None = None
        self._facts: dict[str, Any] = {}

    # -- engine ----------------------------------------------------------------------------------
    def _bind_loop(self) -> None:
        """asyncio objects belong to one loop; a new loop (another asyncio.run) gets new ones."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._start_lock, self._arrived = loop, asyncio.Lock(), asyncio.Event()
            self._pending, self._batcher = [], None

    async def _ensure(self) -> Engine:
        self._bind_loop()
        assert self._start_lock is not None
        async with self._start_lock:
            if self.engine is None:
                path = await asyncio.to_thread(self.model.resolve_path)  # converts a packaged GGUF once
                self.argv = engine_argv(self.model, path, **self._overrides)
                self.engine = acquire_engine(self.argv, self.env, self.name)
            if not self.engine.running:
                await asyncio.to_thread(self.engine.start)  # ~20-50 s on CPU: the loop stays free
            self._facts = self.engine.facts
        return self.engine

    async def check(self) -> None:
        await self._ensure()

    # -- requests --------------------------------------------------------------------------------
    def request(self, probe: Probe) -> Request:
        sampling: dict[str, Any] = {
            "temperature": self.sampling["temperature"],
            "top_p": self.sampling["top_p"],
            "seed": self.sampling["seed"],
            "max_tokens": self.sampling["max_tokens"] or probe.max_new_tokens,
        }
        choices = list(probe.choices) if self.logprobs and probe.choices else None
        if self.mode == "completions":
            return Request(None, False, completion_prompt(probe), sampling, choices)
        messages, continued = chat_messages(probe, self.prefill)
        return Request(messages, continued, None, sampling, choices)

    def _cache_key(self, request: Request) -> str:
        from runners.cache import ResponseCache

        if self._identity is None:
            argv = [("<model>" if i and self.argv[i - 1] == "--model" else a) for i, a in enumerate(self.argv)]
            device = "cpu" if _is_cpu() else "cuda"
            # (A catalogue entry's env is part of its identity; the defaults do not change answers.)
            self._identity = {**self.model.identity(), "engine": engine_version(), "device": device, "argv": argv}
        return ResponseCache.key(
            adapter="vllm", identity=self._identity, mode=self.mode, messages=request.messages,
            continue_final=request.continue_final, prompt=request.prompt, sampling=request.sampling,
            choices=request.choices,
        )  # fmt: skip

    async def answer(self, probe: Probe) -> Answer:
        t0 = time.perf_counter()
        request = self.request(probe)
        key = self._cache_key(request) if self.cache is not None else None
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return Answer(**{**hit, "cache_hit": True})
        await self._ensure()
        future = asyncio.get_running_loop().create_future()
        rank = self._episodes.get(probe.episode_id)
        if rank is None:
            rank = self._episodes[probe.episode_id] = next(self._ranks)
        self._arrivals += 1
        self._pending.append(_Pending((rank, self._arrivals), request, future))
        assert self._arrived is not None
        self._arrived.set()
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._batch_loop())
        output = await future
        answer = self._answer(output, request, time.perf_counter() - t0)
        if key is not None:
            self.cache.put(key, {k: v for k, v in answer.__dict__.items() if k != "cache_hit"})
        return answer

    async def _batch_loop(self) -> None:
        arrived = self._arrived
        assert arrived is not None
        while True:
            await arrived.wait()
            while len(self._pending) < self.max_batch:  # collect until the queue goes quiet
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), self.batch_wait_s)
                except TimeoutError:
                    break
            self._pending.sort(key=lambda p: p.order)  # one episode's probes side by side
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if not self._pending:
                arrived.clear()
            batch = [p for p in batch if not p.future.done()]  # their callers were cancelled
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        try:
            if self.engine is None:
                raise SystemFailure(f"{self.name}: the system is closed")
            results = await asyncio.to_thread(self.engine.run, [p.request for p in batch])
        except Exception as e:  # noqa: BLE001 - every probe of the batch fails, the run goes on
            error = e if isinstance(e, SystemFailure) else SystemFailure(f"vLLM failed: {one_line(e, 300)}")
            results = [error] * len(batch)
        for p, result in zip(batch, results):
            if p.future.done():
                continue
            if isinstance(result, BaseException):
                p.future.set_exception(result)
            else:
                p.future.set_result(result)

    def _answer(self, output: Any, request: Request, latency: float) -> Answer:
        completion = output.outputs[0]
        return Answer(
            text=completion.text,
            choice_logprobs=self._choice_logprobs(completion, request) if request.choices else None,
            prompt_tokens=len(output.prompt_token_ids or ()),
            completion_tokens=len(completion.token_ids),
            latency_s=latency,
            model=self.model.label,
        )

    @staticmethod
    def _choice_logprobs(completion: Any, request: Request) -> dict[str, float]:
        first = completion.logprobs[0] if completion.logprobs else {}
        out: dict[str, float] = {}
        for label, ids in request.choice_ids.items():
            found = [first[i].logprob for i in ids if i in first and math.isfinite(first[i].logprob)]
            if found:
                top = max(found)
                out[label] = top + math.log(sum(math.exp(lp - top) for lp in found))
        return out

    async def release(self, episode: Episode) -> None:
        self._episodes.pop(episode.episode_id, None)

    # -- reports ---------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "vllm",
            "model": self.model.typed,
            "model_name": self.model.label,
            "source": self.model.source,
            "engine": engine_version(),
            "mode": self.mode,
            "prefill": self.prefill,
            "logprobs": self.logprobs,
            "sampling": dict(self.sampling),
            "engine_args": list(self.argv),
            "batch_wait_ms": self.batch_wait_s * 1000,
            "max_batch": self.max_batch,
        }
        if self.model.entry is not None:
            out["model_spec"] = self.model.entry.describe()
        return out

    def footprint(self) -> dict[str, Any]:
        out: dict[str, Any] = self.model.entry.footprint() if self.model.entry is not None else {}
        if "parameters" not in out and self.model.source == "folder":
            count = _safetensors_parameters(Path(self.model.planned_path()))
            if count:
                out["parameters"] = count
        facts = self._facts  # read from the engine's config when it started
        out.update({k: facts[k] for k in ("context_length", "kv_bytes_per_token") if k in facts})
        return out

    async def aclose(self) -> None:
        if self._loop is asyncio.get_running_loop():  # (another loop's objects are gone with it)
            if self._batcher is not None:
                self._batcher.cancel()
            for p in self._pending:  # nobody will run them now
                if not p.future.done():
                    p.future.set_exception(SystemFailure(f"{self.name}: the system was closed"))
        self._batcher, self._pending = None, []
        engine, self.engine = self.engine, None
        if engine is not None:
            await asyncio.to_thread(release_engine, engine)


def _safetensors_parameters(folder: Path) -> int | None:
    """Parameter count from the safetensors headers (no tensor is read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files or importlib.util.find_spec("safetensors") is None:
        return None
    from safetensors import safe_open

    total = 0
    for f in files:
        with safe_open(str(f), framework="numpy") as fh:
            for name in fh.keys():
                total += math.prod(fh.get_slice(name).get_shape())
    return total


def make_vllm(spec: SystemSpec, ctx: SystemContext) -> VLLMSystem:
    """`vllm:MODEL`: a catalogue model, folder or hub id on an in-process vLLM engine (batched)."""
    return VLLMSystem(spec, ctx)


SYSTEMS = {"vllm": make_vllm}
