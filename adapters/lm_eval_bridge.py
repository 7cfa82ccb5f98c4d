"""Any model of lm-evaluation-harness's registry as a system under test.

    lm-eval:MODEL_TYPE[,key=value...][,chat=auto|1|0][,temperature=0][,max_tokens=N][,seed=S]

e.g. `lm-eval:local-chat-completions,model=smollm2,base_url=http://127.0.0.1:8000/v1/chat/completions,num_concurrent=4`
or `lm-eval:hf,pretrained=HuggingFaceTB/SmolLM2-135M-Instruct,device=cpu,chat=1`.

Every option but ours goes to lm-eval's `model_args`, as `lm_eval --model MODEL_TYPE --model_args ...`
passes them (`get_model(MODEL_TYPE).create_from_arg_string(ARGS, {"batch_size": 1})`). Keys stay in the environment, read
by lm-eval itself (OPENAI_API_KEY, ...), or named as `auth_token_env=VAR` (the model argument
auth_token from $VAR): a spec never holds a secret. Our options:
  chat         apply the model's chat template, as lm_eval's --apply_chat_template (auto: for model
               types named *chat*, which need it)
  temperature  sampling temperature (default 0: greedy)
  max_tokens   answer budget (default: each probe's own)
  seed         sent with the generation arguments (API models put it in the request body)

A probe is rendered with `render_prompt` of adapters/lm_eval_tasks.py, the function whose output the
lm-eval export stores as each doc's text, with the same generation arguments as the exported tasks
(until=[], max_gen_toks, temperature, do_sample): this system and `lm_eval` on an export send the
model the same requests, so the same outputs score the same both ways.

Requests are micro-batched: the answer() calls pending together go to one `generate_until` call (run
in a thread: it is synchronous), which lm-eval's API models send `num_concurrent` at a time; if that
call fails, every probe of the batch records the error. Choice probes are generated and parsed, as in
the export (no log-likelihood scoring). The model remembers nothing: episodes are in-context only.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from longbench_suite.errors import SystemFailure, UserError, one_line
from longbench_suite.protocol import Answer, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec, is_secret_name
from longbench_suite.spec import option_choice as _choice
from longbench_suite.spec import option_number as _num

OUR_OPTIONS = ("chat", "temperature", "max_tokens", "seed")
INSTALL = "install lm-eval with its API extras: pip install 'longbench-suite[lmeval]' (or 'lm-eval[api]')"


def _secret_env(option: str) -> bool:
    return option.endswith("_env") and is_secret_name(option.removesuffix("_env"))


def _model_class(model_type: str) -> type:
    try:
        from lm_eval.api.registry import get_model
    except ImportError:
        raise UserError(f"the lm-eval adapter needs lm-eval: {INSTALL}") from None
    try:
        return get_model(model_type)
    except (ValueError, KeyError):
        raise UserError(f"lm-eval has no model type {model_type!r} (see `lm_eval ls`; e.g. local-chat-completions, local-completions, hf)") from None


class LmEvalSystem(MemorySystem):
    """Stateless: the context travels in every prompt, so episodes may overlap."""

    concurrent_episodes = True
    preferred_concurrency = 16  # the most probes one generate_until call carries

    def __init__(self, spec: SystemSpec, ctx: SystemContext):
        if not spec.model:
            raise UserError(f"system {spec}: name lm-eval's model type, e.g. lm-eval:local-chat-completions,model=M,base_url=URL")
        self.model_type = spec.model
        self.name = f"lm-eval:{spec.model}"
        self._class = _model_class(spec.model)
        self.model_args = {k: v for k, v in spec.options.items() if k not in OUR_OPTIONS and not _secret_env(k)}
        # `auth_token_env=VAR`: the model argument auth_token, read from $VAR when the model is built.
        self.secret_env = {k.removesuffix("_env"): v for k, v in spec.options.items() if _secret_env(k)}
        chat = _choice(spec, "chat", ("auto", "1", "0"), "auto")
        self.chat = "chat" in spec.model if chat == "auto" else chat == "1"
        self.temperature = _num(spec, "temperature", 0.0, float, 0.0, 2.0)
        self.max_tokens = None if spec.option("max_tokens") is None else _num(spec, "max_tokens", 0, int, 1)
        self.seed = None if spec.option("seed") is None else _num(spec, "seed", 0, int)
        self.cache = ctx.cache
        self._lm: Any = None
        self._build_lock = asyncio.Lock()
        self._pending: list[tuple[Any, dict, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    # -- the lm-eval model ------------------------------------------------------------------------
    def _build(self) -> Any:
        # The string `lm_eval --model_args` would get (some model types parse it themselves).
        args = [f"{k}={v}" for k, v in self.model_args.items()]
        for name, var in self.secret_env.items():
            value = os.environ.get(var)
            if not value or "," in value:
                raise UserError(f"system {self.name}: set the environment variable {var} (for {name}; no commas)")
            args.append(f"{name}={value}")
        try:
            # batch_size=1 is what `lm_eval` passes by default.
            return self._class.create_from_arg_string(",".join(args), {"batch_size": 1})
        except ModuleNotFoundError as e:
            raise UserError(f"lm-eval model {self.model_type} needs {e.name}: {INSTALL}") from None
        except TypeError as e:  # an unknown model_args key
            raise UserError(f"lm-eval model {self.model_type} refused its arguments: {one_line(self._scrub(e))}") from None
        except (OSError, ValueError) as e:  # e.g. a tokenizer or weights that cannot be found
            raise UserError(f"lm-eval model {self.model_type} could not be built: {one_line(self._scrub(e))}") from None

    def _scrub(self, error: BaseException) -> str:
        """An error message without the values of the secrets passed to the model."""
        text = str(error)
        for var in self.secret_env.values():
            if os.environ.get(var):
                text = text.replace(os.environ[var], "***")
        return text

    async def _ensure(self) -> Any:
        async with self._build_lock:
            if self._lm is None:
                self._lm = await asyncio.to_thread(self._build)
            return self._lm

    async def check(self) -> None:
        await self._ensure()

    def context(self, probe: Probe) -> Any:
        """What lm-eval's evaluator would pass generate_until for the exported doc of this probe."""
        from adapters.lm_eval_tasks import render_prompt

        text = render_prompt(probe)
        if not self.chat:
            return text
        return self._lm.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)

    def gen_kwargs(self, probe: Probe) -> dict[str, Any]:
        """The exported task's generation_kwargs (adapters/lm_eval_tasks.py), with our overrides."""
        kwargs: dict[str, Any] = {
            "until": [],
            "max_gen_toks": self.max_tokens or probe.max_new_tokens,
            "temperature": self.temperature,
            "do_sample": self.temperature > 0,
        }
        if self.seed is not None:
            kwargs["seed"] = self.seed
        return kwargs

    # -- protocol ---------------------------------------------------------------------------------
    async def answer(self, probe: Probe) -> Answer:
        await self._ensure()
        context, kwargs = self.context(probe), self.gen_kwargs(probe)
        key = None
        if self.cache is not None:
            from longbench_suite.cache import ResponseCache

            key = ResponseCache.key(adapter="lm-eval", model_type=self.model_type, model_args=self.model_args,
                                    chat=self.chat, context=str(getattr(context, "prompt", context)), gen_kwargs=kwargs)
            hit = self.cache.get(key)
            if hit is not None:
                return Answer(**{**hit, "cache_hit": True})
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((context, kwargs, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        text, latency = await future
        answer = Answer(text=text, latency_s=latency, model=self.model_args.get("model") or self.model_args.get("pretrained") or self.model_type,
                        prompt_tokens=self._count(context), completion_tokens=self._count(text))
        if key is not None:
            self.cache.put(key, {k: v for k, v in answer.__dict__.items() if k != "cache_hit"})
        return answer

    async def _flush(self) -> None:
        """Send what is pending as one generate_until call, until nothing is pending."""
        from lm_eval.api.instance import Instance

        while self._pending:
            await asyncio.sleep(0)  # let answer() calls started together join this batch
            batch, self._pending = self._pending[: self.preferred_concurrency], self._pending[self.preferred_concurrency:]
            requests = [Instance(request_type="generate_until", doc={}, arguments=(c, k), idx=0) for c, k, _ in batch]
            t0 = time.perf_counter()
            try:
                outputs = await asyncio.to_thread(self._lm.generate_until, requests, True)
                if len(outputs) != len(batch):
                    raise SystemFailure(f"lm-eval returned {len(outputs)} generations for {len(batch)} requests")
            except Exception as e:  # noqa: BLE001 - every probe of the batch records it
                error = e if isinstance(e, SystemFailure) else SystemFailure(f"lm-eval {self.model_type}: {type(e).__name__}: {one_line(self._scrub(e))}")
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            latency = time.perf_counter() - t0
            for (*_, future), text in zip(batch, outputs):
                if not future.done():
                    future.set_result((text or "", latency))

    def _count(self, text: Any) -> int | None:
        """Tokens by the model's own tokenizer, where lm-eval has one (API models may not)."""
        if not isinstance(text, str) or getattr(self._lm, "tokenizer", None) is None:
            return None  # a chat request (JSON messages) or no tokenizer
        try:
            ids = self._lm.tok_encode(text)
        except Exception:  # noqa: BLE001 - a count is optional
            return None
        return len(ids) if isinstance(ids, (list, tuple)) else None  # chat models "encode" to the string itself

    def describe(self) -> dict[str, Any]:
        import importlib.metadata

        try:
            version = importlib.metadata.version("lm-eval")
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {
            "kind": "lm-eval",
            "model_type": self.model_type,
            "model_args": self.model_args,  # spec.py refused secret-looking keys already
            "secrets_from_env": self.secret_env,  # argument -> variable name, never the value
            "chat": self.chat,
            "sampling": {"temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed},
            "lm_eval_version": version,
        }

    async def aclose(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        self._lm = None


def make_lm_eval(spec: SystemSpec, ctx: SystemContext) -> LmEvalSystem:
    return LmEvalSystem(spec, ctx)


SYSTEMS = {"lm-eval": make_lm_eval}
