"""Catalogue models served by vLLM: the embedded model (SmolLM2-135M-Instruct on this machine's CPU,
no network, no key) and the GPU reference memory models (`ref:NAME`, runners/models.toml).

    embedded[,base_url=URL][,mode=...][,temperature=0][,top_p=1][,max_tokens=N][,seed=0][,logprobs=0|1]
            [,prefill=assistant|user|none][,timeout=S][,retries=N]
    ref:NAME[,base_url=URL][, the same options]

A `ref:` model that needs a GPU fails fast on a machine without one (unless base_url= points at a
server elsewhere); the same code path serves the embedded model on CPU, so every GPU-specific
setting is data in the catalogue, not a branch here.

Without base_url the system converts the packaged GGUF once (runners/embedded_model.py), starts a
vLLM server from the `embedded` entry of runners/models.toml on check() (or the first answer) and
stops it on aclose(). With base_url it talks to an already running `lbs serve embedded`.
Either way the requests are OpenAISystem's, with assistant prefill by default (vLLM continues it).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from longbench_suite.errors import UserError
from longbench_suite.protocol import Answer, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec
from runners.embedded_model import ensure_tokenizer
from runners.model_specs import ModelSpec, model_spec
from runners.vllm_server import engine_version

from .openai_compat import SAMPLING_OPTIONS, OpenAISystem, check_options, sampling_kwargs, split_sampling

MODEL_NAME = "embedded"  # the models.toml entry


class ServedModelSystem(MemorySystem):
    """A models.toml model behind OpenAISystem; owns the server when it started one."""

    concurrent_episodes = True

    def __init__(self, spec: SystemSpec, ctx: SystemContext, model: ModelSpec, kind: str):
        check_options(spec, ("base_url", *SAMPLING_OPTIONS))
        self.name = kind
        self.kind = kind
        self.model = model
        self.ctx = ctx
        self.base_url = spec.option("base_url")
        self._kwargs = sampling_kwargs(spec, ctx, prefill_default="assistant" if model.chat else "none")
        if not model.chat and "mode" not in spec.options:
            self._kwargs["mode"] = "completions"
        self._server: Any = None
        self._inner: OpenAISystem | None = None
        self._start_lock = asyncio.Lock()
        if self.base_url:
            self._inner = self._make_inner(self.base_url)

    def _make_inner(self, base_url: str) -> OpenAISystem:
        # Cache by the whole model entry (source, flags, env) and the engine, not by URL: a local
        # server gets a new port every run, but any change to how the model is served is a new key.
        identity = {**dataclasses.asdict(self.model), "engine": engine_version()}
        return OpenAISystem(
            self.model.served_name, base_url, cache=self.ctx.cache, kind=self.kind, cache_identity=identity,
            api_key_env="LBS_EMBEDDED_API_KEY", key_required=False, **self._kwargs,
        )  # fmt: skip

    async def _ensure(self) -> OpenAISystem:
        async with self._start_lock:
            if self._inner is None:
                from runners.vllm_server import VLLMServer, resolve_model_path

                path = await asyncio.to_thread(resolve_model_path, self.model)  # ~25 s the first time
                log = self.ctx.work_dir / f"vllm-{self.model.name}.log" if self.ctx.work_dir else None
                server = VLLMServer(self.model, path, log_path=log)
                server.start()  # in the loop thread: PDEATHSIG follows the thread that forked
                self._server = server
                try:
                    await asyncio.to_thread(server.wait_ready)
                except BaseException:  # cancelled (Ctrl-C) or failed: never leave it running
                    await asyncio.to_thread(server.stop)
                    self._server = None
                    raise
                self._inner = self._make_inner(server.base_url)
            return self._inner

    async def check(self) -> None:
        inner = await self._ensure()
        try:
            await inner.check()
        except UserError as e:
            if self.base_url:
                raise UserError(f"{e} (start it with `lbs serve {self.model.name}`)") from None
            raise

    async def answer(self, probe: Probe) -> Answer:
        return await (await self._ensure()).answer(probe)

    def describe(self) -> dict[str, Any]:
        # Stable across runs (resume compares it): a server lbs starts has a new port each time.
        return {
            "kind": self.kind,
            "model": self.model.served_name,
            "base_url": self.base_url,  # None: lbs starts and stops the server itself
            **split_sampling(self._kwargs),
            "spec_name": self.model.name,
            "hf_id": self.model.hf_id,
            "served_by": "external server" if self.base_url else "started by lbs",
            "engine": engine_version(),
            "model_spec": self.model.describe(),
        }

    def footprint(self) -> dict[str, Any]:
        return self.model.footprint()

    async def aclose(self) -> None:
        try:
            if self._inner is not None:
                await self._inner.aclose()
        finally:
            if self._server is not None:
                server, self._server = self._server, None
                await asyncio.to_thread(server.stop)
                if not self.base_url:
                    self._inner = None


def make_embedded(spec: SystemSpec, ctx: SystemContext) -> ServedModelSystem:
    """`embedded`: SmolLM2-135M-Instruct served by vLLM on this machine (started and stopped with the run)."""
    if spec.model:
        raise UserError(f"system {spec}: embedded takes no model name (it is {model_spec(MODEL_NAME).hf_id})")
    return ServedModelSystem(spec, ctx, model_spec(MODEL_NAME), kind="embedded")


def make_reference(spec: SystemSpec, ctx: SystemContext) -> ServedModelSystem:
    """`ref:NAME`: a catalogue model (lbs systems) served by vLLM with the same lifecycle, or base_url=URL."""
    if not spec.model:
        raise UserError(f"system {spec}: name a catalogue model, e.g. ref:qwen2.5-1.5b (see `lbs systems`)")
    model = model_spec(spec.model)
    if model.device == "cuda" and not spec.option("base_url"):
        from runners.vllm_server import gpu_present

        if not gpu_present():  # fail before a run directory or a download exists
            raise UserError(
                f"ref:{model.name} needs {model.gpus} NVIDIA GPU(s) of ~{model.gpu_memory_gb or '?'} GB and none is "
                "present here; run it on a GPU machine, point base_url= at a server running "
                f"`lbs serve ref:{model.name}`, or use the embedded CPU model"
            )
    return ServedModelSystem(spec, ctx, model, kind="ref")


SYSTEMS = {"embedded": make_embedded, "ref": make_reference}
# `--tokenizer embedded`: lengths counted in the embedded model's own tokens (longbench_suite/tokens.py).
TOKENIZERS = {"embedded": ensure_tokenizer}
