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
import importlib.util
import math
import os
import time
from pathlib import Path
from typing import Any

from longbench_suite.errors import SystemFailure, UserError
from longbench_suite.protocol import Answer, Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_number
from runners.vllm_server import engine_version

from ._vllm_batcher import MicroBatcher
from ._vllm_engine import (
    Engine, Request, acquire_engine, engine_argv, is_cpu, parse_engine_args, release_engine, resolve_model,
)
from ._vllm_logprobs import choice_logprobs
from .openai_compat import SAMPLING_KEYS, chat_messages, completion_prompt, sampling_kwargs

OPTIONS = ("mode", "prefill", "temperature", "top_p", "max_tokens", "seed", "logprobs", "max_model_len", "dtype",
           "trust_remote_code", "batch_wait_ms", "max_batch")  # fmt: skip
PREFERRED_CONCURRENCY = 256  # vLLM's default max_num_seqs: one batch can hold them all
INSTALL_HINT = "install vLLM: `pip install 'longbench-suite[gpu]'` on a GPU machine, or `bash scripts/install.sh cpu`"


def _require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise UserError(f"vllm: the vllm package is missing; {INSTALL_HINT}")


# --- the system -----------------------------------------------------------------------------------


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
        if is_cpu():
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
        self._batcher = MicroBatcher(self._run, self.batch_wait_s, self.max_batch)
        self._identity: dict[str, Any] | None = None
        self._facts: dict[str, Any] = {}

    # -- engine ----------------------------------------------------------------------------------
    def _bind_loop(self) -> None:
        """asyncio objects belong to one loop; a new loop (another asyncio.run) gets new ones."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._start_lock = loop, asyncio.Lock()
            self._batcher.bind(loop)

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
        from longbench_suite.cache import ResponseCache

        if self._identity is None:
            argv = [("<model>" if i and self.argv[i - 1] == "--model" else a) for i, a in enumerate(self.argv)]
            device = "cpu" if is_cpu() else "cuda"
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
        output = await self._batcher.submit(probe.episode_id, request)
        answer = self._answer(output, request, time.perf_counter() - t0)
        if key is not None:
            self.cache.put(key, {k: v for k, v in answer.__dict__.items() if k != "cache_hit"})
        return answer

    async def _run(self, requests: list[Request]) -> list[Any]:
        """One batch on the engine, in a worker thread (the micro-batcher's run)."""
        if self.engine is None:
            raise SystemFailure(f"{self.name}: the system is closed")
        return await asyncio.to_thread(self.engine.run, requests)

    def _answer(self, output: Any, request: Request, latency: float) -> Answer:
        completion = output.outputs[0]
        return Answer(
            text=completion.text,
            choice_logprobs=choice_logprobs(completion, request.choice_ids) if request.choices else None,
            prompt_tokens=len(output.prompt_token_ids or ()),
            cached_tokens=getattr(output, "num_cached_tokens", None),
            completion_tokens=len(completion.token_ids),
            latency_s=latency,
            model=self.model.label,
        )

    async def release(self, episode: Episode) -> None:
        self._batcher.forget(episode.episode_id)

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
        self._batcher.close(SystemFailure(f"{self.name}: the system was closed"))
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
