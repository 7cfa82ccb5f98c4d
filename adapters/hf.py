"""In-process transformers models: research memory models that exist only as transformers code.

    hf:MODEL[,trust_remote_code=0|1][,dtype=float32|bfloat16|float16|auto][,device=auto|cpu|cuda]
            [,mode=chat|completions][,prefill=assistant|user|none][,temperature=0][,top_p=1]
            [,max_tokens=N][,seed=0][,max_input_tokens=N]

MODEL is a local folder (absolute or ./relative; it must exist, nothing is looked up on the hub for
it) or a hub id such as `HuggingFaceTB/SmolLM2-135M-Instruct` (downloaded by transformers when the
machine has a network). Loaded with AutoTokenizer / AutoModelForCausalLM when the system is made, so a
model that does not load fails before a run directory exists.

- trust_remote_code (default 0): a model whose config.json has `auto_map` or an architecture this
  transformers does not know needs its own Python code; without trust_remote_code=1 it is refused
  with a one-line error (never loaded silently, never run with a stock class instead).
- dtype: default float32 on CPU, the checkpoint's own dtype on CUDA; `auto` is always the checkpoint's.
  device: default auto (cuda when a GPU is visible, else cpu).
- mode: chat (default when the tokenizer has a chat template) or completions. Prompts are
  adapters/openai_compat.py's (chat_messages / completion_prompt), rendered with the tokenizer's chat
  template: the user message is probe.prompt_text() (context first, question last);
  prefill=assistant (default) opens an assistant turn holding the answer prefix and the model
  continues it (apply_chat_template(..., continue_final_message=True)); prefill=user appends the
  prefix to the user message; none drops it. Completions mode prompts `text + "\\n" + prefix`.
- Sampling is explicit: temperature=0 is greedy; otherwise sampling with top_p (no top-k) and the RNG
  seeded with `seed` before every probe (the same seed per request, as vLLM does). The checkpoint's
  generation_config.json is not consulted except for its end-of-sequence ids. Generation stops at EOS
  or after max_tokens (default: the probe's max_new_tokens).
- max_input_tokens=N: prompts longer than N tokens lose their middle (LongBench's truncation: the
  instruction at the start and the question at the end survive). Default: no limit.
- Choice log-probs: a probe with `choices` gets Answer.choice_logprobs from the logits at the first
  answer position (the forward pass over the prompt that generation makes anyway): for each choice,
  the log-sum-exp of the log-softmax of every vocabulary token whose text, stripped of whitespace,
  equals the choice ("A", " A"; openai_compat sums the same alternatives among the top 20). A choice
  that is no single token is scored by its first token (with and without a leading space).
- Responses are cached (when the run has a cache) by model files, dtype, device, sampling and the
  exact prompt; never for a model with ingest hooks (its answer depends on hidden state).

Ingest hooks — the contract for research memory models. If the loaded model object defines

    lbs_reset() -> None                       forget everything (called on reset(), before each episode)
    lbs_ingest(episode, tokenizer) -> None    remember an episode (longbench_suite.protocol.Episode:
                                              .episode_id, .text, .sessions; called once per episode)
    lbs_footprint() -> dict                   optional: merged into footprint() (e.g. state_bytes)

the system is stateful (concurrent_episodes = False): the runner resets, ingests, then asks that
episode's probes one at a time. Prompts then carry only what the condition puts there: under
`in-memory` no context, so the answer must come from what lbs_ingest stored. Generation goes through
the model's own `generate(input_ids=, attention_mask=, generation_config=)`, so a model may override
it to read its memory. lbs_ingest runs outside torch.inference_mode, so a model may train on the
episode (test-time memorisation). lbs_ingest and lbs_reset must both exist, or the model is refused. Without
hooks the system is a plain full-context LLM (stateless; episodes may overlap). Either way all torch
work runs on one worker thread, one call at a time (torch modules are not thread-safe).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from longbench_suite.errors import SystemFailure, UserError, one_line
from longbench_suite.protocol import Answer, Episode, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_choice, option_number

from ._choices import ChoiceTokens
from ._model_folder import files_digest, local_folder
from .openai_compat import (
    MODES,
    PREFILLS,
    SAMPLING_KEYS,
    chat_messages,
    completion_prompt,
)

OPTIONS = ("trust_remote_code", "dtype", "device", "mode", "prefill", "temperature", "top_p", "max_tokens", "seed",
           "max_input_tokens")  # fmt: skip
DTYPES = ("float32", "bfloat16", "float16", "auto")
DEVICES = ("auto", "cpu", "cuda")
HOOKS = ("lbs_ingest", "lbs_reset")


def _require_libraries() -> None:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"hf: needs {' and '.join(missing)}; install with `pip install 'longbench-suite[hf]'` (and torch)")


def _check_remote_code(source: str, trust: bool) -> None:
    """Refuse a model that needs its own code unless trust_remote_code=1 (reads config.json only)."""
    from transformers import PretrainedConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        config, _ = PretrainedConfig.get_config_dict(source)
    except (OSError, ValueError) as e:
        raise UserError(f"hf:{source}: cannot read its config: {one_line(e, 200)}") from None
    model_type = config.get("model_type")
    custom = "auto_map" in config or (model_type is not None and model_type not in CONFIG_MAPPING)
    if custom and not trust:
        why = "config.json has auto_map" if "auto_map" in config else f"unknown architecture {model_type!r}"
        raise UserError(f"hf:{source} needs its own Python code ({why}); pass trust_remote_code=1 if you trust it")


class HFSystem(MemorySystem):
    """A causal LM loaded in this process; a stateful memory when the model has the ingest hooks."""

    concurrent_episodes = True  # False once the model turns out to have ingest hooks

    def __init__(
        self,
        source: str,
        *,
        trust_remote_code: bool = False,
        dtype: str | None = None,
        device: str = "auto",
        mode: str | None = None,
        prefill: str = "assistant",
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        seed: int = 0,
        max_input_tokens: int | None = None,
        cache: Any = None,
    ):
        _require_libraries()
        import torch

        self.source = source
        self.local = local_folder(source, "hf")
        self.display = self.local.resolve().name if self.local else source
        self.name = f"hf:{self.display}"
        self.trust_remote_code = trust_remote_code
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise UserError(f"hf:{source}: device=cuda but torch sees no CUDA GPU here (use device=cpu)")
        self.device = device
        self.prefill = prefill
        self.temperature, self.top_p, self.max_tokens, self.seed = temperature, top_p, max_tokens, seed
        self.max_input_tokens = max_input_tokens
        self.cache = cache
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lbs-hf")
        self._choices: ChoiceTokens | None = None  # built on the first choice probe (a vocabulary scan)
        self._identity: dict[str, Any] | None = None

        load_dtype = dtype or ("float32" if device == "cpu" else "auto")
        self.tokenizer, self.model = self._load(load_dtype)
        self.dtype = str(self.model.dtype).removeprefix("torch.")
        self.has_hooks = self._find_hooks()
        self.concurrent_episodes = not self.has_hooks
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        if mode == "chat" and not has_template:
            raise UserError(f"hf:{source}: mode=chat but its tokenizer has no chat template; use mode=completions")
        self.mode = mode or ("chat" if has_template else "completions")
        self._eos, self._pad = self._special_ids()

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, dtype: str) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _check_remote_code(self.source, self.trust_remote_code)
        trust = self.trust_remote_code  # always a bool: None would make transformers ask on stdin
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.source, trust_remote_code=trust)
            model = AutoModelForCausalLM.from_pretrained(
                self.source, dtype=dtype, trust_remote_code=trust,
                device_map={"": self.device} if self.device == "cuda" else None,
            )  # fmt: skip
        except ValueError as e:
            if "trust_remote_code" in str(e):
                raise UserError(f"hf:{self.source} needs its own Python code; pass trust_remote_code=1 if you trust it") from None
            raise UserError(f"hf:{self.source}: cannot load: {one_line(e, 200)}") from None
        except (OSError, ImportError) as e:
            raise UserError(f"hf:{self.source}: cannot load: {one_line(e, 200)}") from None
        return tokenizer, model.eval()  # on the CPU unless device_map put it on the GPU

    def _find_hooks(self) -> bool:
        found = [h for h in HOOKS if callable(getattr(self.model, h, None))]
        if found and len(found) < len(HOOKS):
            missing = next(h for h in HOOKS if h not in found)
            raise UserError(f"hf:{self.source}: the model defines {found[0]} but not {missing} (a memory must be resettable)")
        return bool(found)

    def _special_ids(self) -> tuple[list[int], int | None]:
        """End-of-sequence ids (the checkpoint's generation config and tokenizer) and the pad id.
        The rest of the checkpoint's generation config is replaced: sampling is the spec's alone."""
        from transformers import GenerationConfig

        original = self.model.generation_config
        eos: list[int] = []
        for value in (original.eos_token_id, self.tokenizer.eos_token_id):
            for i in value if isinstance(value, list) else [value]:
                if i is not None and i not in eos:
                    eos.append(int(i))
        pad = original.pad_token_id if original.pad_token_id is not None else self.tokenizer.pad_token_id
        pad = pad if pad is not None else (eos[0] if eos else None)
        self.model.generation_config = GenerationConfig(
            eos_token_id=eos or None, pad_token_id=pad, bos_token_id=original.bos_token_id
        )
        return eos, pad

    # -- threads ---------------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Torch work on the one worker thread, in call order."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- protocol --------------------------------------------------------------------------------
    async def reset(self) -> None:
        if self.has_hooks:
            await self._run(self.model.lbs_reset)

    async def ingest(self, episode: Episode) -> None:
        if self.has_hooks:  # a plain LLM keeps nothing: the condition puts the text in its prompts
            await self._run(self.model.lbs_ingest, episode, self.tokenizer)

    def render(self, probe: Probe) -> str:
        """The exact prompt text: openai_compat's messages or completion prompt, rendered here.
        Jinja only (tokenize=False): the Rust tokenizer itself is used on the worker thread alone."""
        if self.mode == "completions":
            return completion_prompt(probe)
        messages, continued = chat_messages(probe, self.prefill)
        if continued:  # the assistant turn holding the answer prefix stays open
            return self.tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def sampling(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SAMPLING_KEYS}

    def _cache_key(self, prompt: str, probe: Probe) -> str:
        from longbench_suite.cache import ResponseCache

        if self._identity is None:
            self._identity = self._model_identity()
        return ResponseCache.key(
            adapter="hf", identity=self._identity, dtype=self.dtype, device=self.device, sampling=self.sampling(),
            max_new_tokens=self.max_tokens or probe.max_new_tokens, max_input_tokens=self.max_input_tokens,
            prompt=prompt, choices=probe.choices,
        )  # fmt: skip

    def _model_identity(self) -> dict[str, Any]:
        folder = self.local
        if folder is None:  # a hub id: its snapshot folder (named by commit) holds the files read
            from transformers.utils import cached_file

            folder = Path(cached_file(self.source, "config.json", local_files_only=True)).parent
        return {"model": self.source, "files": files_digest(folder), "class": type(self.model).__name__}

    async def answer(self, probe: Probe) -> Answer:
        prompt = self.render(probe)
        key = self._cache_key(prompt, probe) if self.cache is not None and not self.has_hooks else None
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return Answer(**{**hit, "cache_hit": True})
        answer = await self._run(self._generate, prompt, probe)
        if key is not None:
            self.cache.put(key, {k: v for k, v in answer.__dict__.items() if k != "cache_hit"})
        return answer

    def _encode(self, prompt: str) -> list[int]:
        # A chat template writes its own special tokens (BOS too); a raw prompt gets the tokenizer's.
        ids = self.tokenizer(prompt, add_special_tokens=self.mode == "completions")["input_ids"]
        n = self.max_input_tokens
        if n is not None and len(ids) > n:  # drop the middle: keep the instruction and the question
            ids = ids[: n // 2] + ids[len(ids) - (n - n // 2) :]
        return list(ids)

    def _generate(self, prompt: str | list[int], probe: Probe, past_key_values: Any = None) -> Answer:
        """Answer from a prompt (text, or token ids already encoded); `past_key_values`: a cache that
        holds the first tokens of those ids (adapters/kv_cache.py), generation computes the rest."""
        import torch
        from transformers import GenerationConfig

        t0 = time.perf_counter()
        ids = self._encode(prompt) if isinstance(prompt, str) else list(prompt)
        input_ids = torch.tensor([ids], device=self.model.device)
        sampled = self.temperature > 0
        config = GenerationConfig(
            max_new_tokens=self.max_tokens or probe.max_new_tokens,
            do_sample=sampled,
            num_beams=1,
            eos_token_id=self._eos or None,
            pad_token_id=self._pad,
            return_dict_in_generate=True,
            output_logits=bool(probe.choices),
            **({"temperature": self.temperature, "top_p": self.top_p, "top_k": 0} if sampled else {}),
        )
        cuda = [self.model.device.index or 0] if self.model.device.type == "cuda" else []
        try:
            with torch.inference_mode(), torch.random.fork_rng(devices=cuda):
                torch.manual_seed(self.seed)
                kept = {"past_key_values": past_key_values} if past_key_values is not None else {}
                out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                          generation_config=config, **kept)
                sequence = (out.sequences if hasattr(out, "sequences") else out)[0].tolist()
                first_logits = out.logits[0][0] if getattr(out, "logits", None) else None
                if probe.choices and first_logits is None:  # a custom generate() that returns no logits
                    first_logits = self.model(input_ids=input_ids).logits[0, -1]
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise SystemFailure(f"out of memory generating from a {len(ids)}-token prompt") from None
        new = sequence[len(ids) :] if sequence[: len(ids)] == ids else sequence
        while new and self._pad is not None and new[-1] == self._pad and self._pad not in self._eos:
            new.pop()  # padding after EOS (a batch of one has none, a custom generate() may)
        return Answer(
            text=self.tokenizer.decode(new, skip_special_tokens=True),
            choice_logprobs=self._choice_logprobs(first_logits, probe.choices) if probe.choices else None,
            prompt_tokens=len(ids),
            completion_tokens=len(new),
            latency_s=time.perf_counter() - t0,
            model=self.display,
        )

    def _choice_logprobs(self, logits: Any, choices: list[str]) -> dict[str, float]:
        import torch

        logp = torch.log_softmax(logits.float(), dim=-1)
        out: dict[str, float] = {}
        for label in choices:
            ids = [i for i in self._choice_ids(label) if i < logp.shape[-1]]
            if ids:
                value = float(torch.logsumexp(logp[ids], dim=0))
                if math.isfinite(value):
                    out[label] = value
        return out

    def _choice_ids(self, label: str) -> list[int]:
        if self._choices is None:
            self._choices = ChoiceTokens(self.tokenizer)
        return self._choices.ids(label)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "hf",
            "model": self.source,
            "model_name": self.display,
            "model_class": type(self.model).__name__ if self.model is not None else None,
            "dtype": self.dtype,
            "device": self.device,
            "mode": self.mode,
            "prefill": self.prefill,
            "sampling": self.sampling(),  # max_tokens None: each probe's budget
            "max_input_tokens": self.max_input_tokens,
            "trust_remote_code": self.trust_remote_code,
            "ingest_hooks": self.has_hooks,
        }

    def footprint(self) -> dict[str, Any]:
        if self.model is None:
            return {}
        config = self.model.config
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        out: dict[str, Any] = {"parameters": sum(p.numel() for p in self.model.parameters())}
        if getattr(config, "max_position_embeddings", None):
            out["context_length"] = int(config.max_position_embeddings)
        layers, heads = getattr(config, "num_hidden_layers", None), getattr(config, "num_attention_heads", None)
        if layers and heads:  # an attention model (a hybrid with fewer attention layers is overcounted)
            kv_heads = getattr(config, "num_key_value_heads", None) or heads
            head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
            out["kv_bytes_per_token"] = 2 * layers * kv_heads * head_dim * self.model.dtype.itemsize
        if callable(getattr(self.model, "lbs_footprint", None)):
            out.update(self.model.lbs_footprint() or {})
        return out

    async def aclose(self) -> None:
        if self.model is None:
            return
        self.model = None  # the executor's last job may still hold it: wait for it, then free memory
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        gc.collect()
        import torch

        if self.device == "cuda":
            torch.cuda.empty_cache()


def make_hf(spec: SystemSpec, ctx: SystemContext) -> HFSystem:
    """`hf:MODEL`: a transformers model in-process (folder or hub id), with ingest hooks for memory models."""
    check_options(spec, OPTIONS)
    if not spec.model:
        raise UserError(f"system {spec}: name the model, e.g. hf:./my-model or hf:HuggingFaceTB/SmolLM2-135M-Instruct")
    max_tokens, max_input = spec.option("max_tokens"), spec.option("max_input_tokens")
    return HFSystem(
        spec.model,
        trust_remote_code=bool(option_number(spec, "trust_remote_code", 0, int, 0, 1)),
        dtype=option_choice(spec, "dtype", DTYPES, "auto") if spec.option("dtype") else None,
        device=option_choice(spec, "device", DEVICES, "auto"),
        mode=option_choice(spec, "mode", MODES, "chat") if spec.option("mode") else None,
        prefill=option_choice(spec, "prefill", PREFILLS, "assistant"),
        temperature=option_number(spec, "temperature", 0.0, float, 0.0, 2.0),
        top_p=option_number(spec, "top_p", 1.0, float, 0.0, 1.0),
        max_tokens=None if max_tokens is None else option_number(spec, "max_tokens", 0, int, 1),
        seed=option_number(spec, "seed", ctx.seed, int),
        max_input_tokens=None if max_input is None else option_number(spec, "max_input_tokens", 0, int, 16),
        cache=ctx.cache,
    )


SYSTEMS = {"hf": make_hf}
