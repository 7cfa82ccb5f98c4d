"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, SGLang, proxies) as a full-context system.

    openai:MODEL[,base_url=URL][,mode=chat|completions][,temperature=0][,top_p=1][,max_tokens=N]
                [,seed=0][,logprobs=0|1][,prefill=user|assistant|none][,api_key_env=VAR]
                [,timeout=S][,retries=N]

timeout=S bounds each attempt, from sending the request to the last byte of the answer (plus
TIMEOUT_PER_CHAR_S per prompt character: prefill takes longer on long prompts); a server that trickles
its answer a byte at a time is cut there too. The openai client retries a transient failure (429 after
its Retry-After, 5xx, a timeout, a dropped connection) up to retries=N times; the whole call, retries
and their waits included, has a deadline as a last resort. A probe that still fails, or gets a
malformed answer, is a SystemFailure whose one line names the deadline that applied, the attempts
made and the time spent: recorded in its row, and retried by `lbs run --resume`. Each failure has a
`kind` (timeout, HTTP 5xx, HTTP 429, connection failed, malformed response) that the runner's circuit
breaker counts (runners/episodes.py).

The key comes only from the environment (api_key_env, default OPENAI_API_KEY; "EMPTY" for a loopback
server without one) and never appears in describe() or an error. Sampling parameters are always
sent explicitly: vLLM fills omitted ones from the model's generation_config, which would make a run
depend on files the spec does not name.

Answer prefix ("The special number is"): prefill=assistant puts it in an assistant message that the
model continues (vLLM's continue_final_message; the text returned is the continuation only);
prefill=user appends it to the user message; completions mode appends it to the prompt.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from longbench_suite.errors import SystemFailure, UserError, one_line
from longbench_suite.protocol import Answer, MemorySystem, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, check_url, redact
from longbench_suite.spec import option_choice as _choice
from longbench_suite.spec import option_number as _num

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MODES = ("chat", "completions")
PREFILLS = ("user", "assistant", "none")
TOP_LOGPROBS = 20  # vLLM's default --max-logprobs; OpenAI's maximum
TIMEOUT_PER_CHAR_S = 0.002  # prefill time grows with the prompt: ~1000 s extra for a 128k-token prompt
MAX_RETRIES = 10
# The openai client sleeps for a server's Retry-After up to this long, and does not retry when asked to
# wait longer (openai._constants.MAX_RETRY_AFTER_DELAY); its own back-off is shorter (at most 8 s).
RETRY_WAIT_MAX_S = 120.0
ATTEMPT_SLACK_S = 5.0  # the whole-call deadline lets each attempt's own deadline fire first (clearer message)
CHECK_TIMEOUT_S = 15.0

# Options shared by every adapter that talks to an OpenAI-compatible server (see adapters/embedded.py).
SAMPLING_OPTIONS = ("mode", "temperature", "top_p", "max_tokens", "seed", "logprobs", "prefill", "timeout", "retries")
OPENAI_OPTIONS = ("base_url", "api_key_env", *SAMPLING_OPTIONS)


def sampling_kwargs(spec: SystemSpec, ctx: SystemContext, prefill_default: str = "user") -> dict[str, Any]:
    """The keyword arguments of OpenAISystem that a spec's options set."""
    max_tokens = spec.option("max_tokens")
    return dict(
        mode=_choice(spec, "mode", MODES, "chat"),
        temperature=_num(spec, "temperature", 0.0, float, 0.0, 2.0),
        top_p=_num(spec, "top_p", 1.0, float, 0.0, 1.0),
        max_tokens=None if max_tokens is None else _num(spec, "max_tokens", 0, int, 1),
        seed=_num(spec, "seed", ctx.seed, int),
        logprobs=bool(_num(spec, "logprobs", 0, int, 0, 1)),
        prefill=_choice(spec, "prefill", PREFILLS, prefill_default),
        timeout=_num(spec, "timeout", 60.0, float, 1.0),
        retries=_num(spec, "retries", 3, int, 0, MAX_RETRIES),
    )


SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed")


def split_sampling(kwargs: dict[str, Any]) -> dict[str, Any]:
    """describe() form of adapter kwargs: sampling parameters grouped under "sampling" (run.json reads it)."""
    out = {k: v for k, v in kwargs.items() if k not in SAMPLING_KEYS}
    out["sampling"] = {k: kwargs[k] for k in SAMPLING_KEYS if k in kwargs}
    return out


def completion_prompt(probe: Probe) -> str:
    """Completions mode: the prompt text, then the answer prefix on its own line."""
    prompt, prefix = probe.prompt_text(), probe.answer_prefix or ""
    return f"{prompt}\n{prefix}" if prefix else prompt


def chat_messages(probe: Probe, prefill: str) -> tuple[list[dict[str, str]], bool]:
    """Chat mode: the messages, and whether the last one (an assistant turn holding the answer
    prefix, prefill=assistant) is to be continued rather than answered. In-process engines
    (adapters/vllm_inprocess.py) render the same messages, so both paths ask the same question."""
    prefix = probe.answer_prefix or ""
    # Multi-turn: the context opens the first user message, each earlier turn is a user message and
    # the answer that followed it, and the question is the last user message.
    messages: list[dict[str, str]] = []
    context = probe.context
    for turn in probe.history:
        first = f"{context}\n\n{turn.question}" if context else turn.question
        messages += [{"role": "user", "content": first}, {"role": "assistant", "content": turn.answer}]
        context = None
    prompt = f"{context}\n\n{probe.question}" if context else probe.question
    messages.append({"role": "user", "content": prompt})
    if prefix and prefill == "user":
        messages[-1]["content"] = f"{prompt}\n{prefix}"
    elif prefix and prefill == "assistant":
        messages.append({"role": "assistant", "content": prefix})
        return messages, True
    return messages, False


def env_api_key(api_key_env: str, base_url: str, required: bool | None = None) -> str:
    """An endpoint's key, from the environment only; "EMPTY" where none is needed (by default: a
    loopback server, which accepts anything)."""
    key = os.environ.get(api_key_env)
    if key:
        return key
    if required if required is not None else not is_loopback(base_url):
        raise UserError(f"set the API key for {redact(base_url)} in the environment variable {api_key_env}")
    return "EMPTY"


def scrub_key(text: str, key: str) -> str:
    """An error message without the key, nor anything shaped like a key or a bearer token."""
    if key and key != "EMPTY":
        text = text.replace(key, "***")
    return redact(re.sub(r"\b(sk-[A-Za-z0-9_*\-]{4,}|Bearer\s+\S+)", "***", text))


async def close_client(client: Any) -> None:
    try:
        await client.close()
    except RuntimeError:  # its event loop is gone already
        pass


def _max_model_len(model: Any) -> int | None:
    """vLLM (and SGLang) list each model's context length as max_model_len, an extra field of /models."""
    value = (getattr(model, "model_extra", None) or {}).get("max_model_len")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def is_loopback(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass
class _Attempts:
    """What the attempts of one call did, told by the http client's hooks (for the error line)."""

    count: int = 0
    started: float = 0.0  # time.monotonic() when the current attempt was sent
    incomplete: bool = False  # the current attempt's answer began but did not finish in time


# Set by _call around one request; the hooks run in the same task, so they see the call's own record.
_ATTEMPTS: contextvars.ContextVar[_Attempts | None] = contextvars.ContextVar("lbs_openai_attempts", default=None)


async def _attempt_sent(request: Any) -> None:
    attempts = _ATTEMPTS.get()
    if attempts is not None:
        attempts.count += 1
        attempts.started = time.monotonic()
        attempts.incomplete = False


async def _read_within_attempt(response: Any) -> None:
    """Read the body before the client does, within what is left of the attempt's deadline: httpx's
    read timeout restarts at every byte, so a trickling server would otherwise hold the attempt for
    as long as it likes. A late body is a timeout, which the openai client retries like any other."""
    import httpx

    attempts = _ATTEMPTS.get()
    limit = (response.request.extensions.get("timeout") or {}).get("read")
    if attempts is None or limit is None:
        return
    try:
        async with asyncio.timeout(max(attempts.started + limit - time.monotonic(), 0.0)):
            await response.aread()
    except TimeoutError:
        attempts.incomplete = True
        await response.aclose()
        raise httpx.ReadTimeout(f"the answer did not complete within {limit:.1f} s", request=response.request) from None


def failure(kind: str, message: str) -> SystemFailure:
    """A SystemFailure with its kind (what the circuit breaker counts as the same failure)."""
    e = SystemFailure(message)
    e.kind = kind  # type: ignore[attr-defined]
    return e


def status_kind(status: int) -> str:
    """500, 502, 503 and 504 are one kind (the server is failing); a 4xx is its own kind."""
    return "HTTP 5xx" if status >= 500 else f"HTTP {status}"


class OpenAISystem(MemorySystem):
    """Stateless full-context system: the context travels in every prompt, so episodes may overlap."""

    concurrent_episodes = True

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        mode: str = "chat",
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        seed: int = 0,
        logprobs: bool = False,
        prefill: str = "user",
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        retries: int = 3,
        cache: Any = None,
        kind: str = "openai",
        cache_identity: dict[str, Any] | None = None,
        key_required: bool | None = None,
    ):
        if mode not in MODES or prefill not in PREFILLS:
            raise UserError(f"bad mode {mode!r} or prefill {prefill!r}")
        self.name = f"{kind}:{model}" if kind == "openai" else kind  # the label in result tables
        self.kind = kind
        self.model = model
        self._url = base_url.rstrip("/")  # the client's; messages and describe() show base_url, key-shaped text masked
        self.base_url = redact(self._url)
        self.mode = mode
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.seed = seed
        self.logprobs = logprobs
        self.prefill = prefill
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.retries = min(max(retries, 0), MAX_RETRIES)
        self.cache = cache
        # What identifies the endpoint in cache keys: the URL, unless the caller knows better (a
        # locally served model is on a new port each run but is the same model and engine).
        self.cache_identity = cache_identity or {"base_url": self._url}
        self._key = env_api_key(api_key_env, self._url, key_required)
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self.context_window: int | None = None  # learnt by check() from GET /models, when listed

    # -- client ----------------------------------------------------------------------------------
    def _get_client(self):
        """One AsyncOpenAI per event loop: an httpx pool is bound to the loop that opened it."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            from openai import AsyncOpenAI

            from openai import DefaultAsyncHttpxClient

            # The hooks count attempts and bound each one's body (see _read_within_attempt).
            http = DefaultAsyncHttpxClient(event_hooks={"request": [_attempt_sent], "response": [_read_within_attempt]})
            self._client = AsyncOpenAI(
                api_key=self._key, base_url=self._url, max_retries=self.retries, timeout=self.timeout, http_client=http
            )
            self._client_loop = loop
        return self._client

    def _scrub(self, text: str) -> str:
        return scrub_key(text, self._key)

    # -- protocol --------------------------------------------------------------------------------
    async def check(self) -> None:
        import openai

        # Retried as the probes are: one transient fault (429, 503, a dropped connection) must not
        # abort a run before it starts.
        client = self._get_client().with_options(timeout=CHECK_TIMEOUT_S)
        try:
            models = [m async for m in client.models.list()]
            served = [m.id for m in models]
        except openai.APITimeoutError:
            raise UserError(f"no answer from {self.base_url} to GET /models within {CHECK_TIMEOUT_S:.0f} s") from None
        except openai.APIConnectionError as e:
            raise UserError(
                f"cannot reach OpenAI-compatible endpoint at {self.base_url}: {self._scrub(one_line(e.__cause__ or e))}"
            ) from None
        except openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise UserError(
                    f"endpoint {self.base_url} refused the key in ${self.api_key_env} (HTTP {e.status_code})"
                ) from None
            if e.status_code == 404:  # some proxies do not list models: the first request will tell
                return
            raise UserError(
                f"endpoint {self.base_url} answered HTTP {e.status_code} to GET /models: {self._scrub(one_line(e.message))}"
            ) from None
        except (openai.APIResponseValidationError, ValueError, AttributeError, TypeError) as e:  # not a model list
            raise UserError(f"endpoint {self.base_url} answered GET /models with malformed JSON: {self._scrub(one_line(e))}") from None
        if served and self.model not in served:
            shown = ", ".join(served[:20]) + (f" (+{len(served) - 20} more)" if len(served) > 20 else "")
            raise UserError(f"model {self.model!r} is not served at {self.base_url}; served: {shown}")
        self.context_window = next((_max_model_len(m) for m in models if m.id == self.model), None)

    def footprint(self) -> dict[str, Any]:
        """The served context length, where the endpoint lists it (vLLM's max_model_len)."""
        return {"context_length": self.context_window} if self.context_window else {}

    def request(self, probe: Probe) -> tuple[str, dict[str, Any]]:
        """The endpoint ('chat' | 'completions') and the exact request body for a probe."""
        want_logprobs = self.logprobs and bool(probe.choices)
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens or probe.max_new_tokens,
            "seed": self.seed,
        }
        if self.mode == "completions":
            body["prompt"] = completion_prompt(probe)
            if want_logprobs:
                body["logprobs"] = TOP_LOGPROBS
            return "completions", body
        messages, continued = chat_messages(probe, self.prefill)
        if continued:
            # vLLM: render the last assistant turn open and continue it (not an OpenAI API feature).
            body["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        body["messages"] = messages
        if want_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = TOP_LOGPROBS
        return "chat", body

    def cache_key(self, endpoint: str, body: dict[str, Any], probe: Probe) -> str:
        from longbench_suite.cache import ResponseCache

        return ResponseCache.key(
            adapter=self.kind,
            endpoint=endpoint,
            identity=self.cache_identity,
            body=body,  # model, sampling parameters, exact messages or prompt, extra_body
            choices=probe.choices if "logprobs" in body else None,  # choice_logprobs depend on them
        )

    async def answer(self, probe: Probe) -> Answer:
        endpoint, body = self.request(probe)
        key = self.cache_key(endpoint, body, probe) if self.cache is not None else None
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return Answer(**{**hit, "cache_hit": True})
        answer = await self._call(endpoint, body, probe)
        if key is not None:
            self.cache.put(key, {k: v for k, v in answer.__dict__.items() if k != "cache_hit"})
        return answer

    async def _call(self, endpoint: str, body: dict[str, Any], probe: Probe) -> Answer:
        import openai

        client = self._get_client()
        chars = len(body.get("prompt") or "") + sum(len(m["content"]) for m in body.get("messages", []))
        timeout = self.timeout + TIMEOUT_PER_CHAR_S * chars  # each attempt's deadline (see _read_within_attempt)
        # A last resort: each attempt has its deadline, and the client's waits between them are bounded.
        deadline = (self.retries + 1) * (timeout + ATTEMPT_SLACK_S) + self.retries * RETRY_WAIT_MAX_S
        api = client.chat.completions if endpoint == "chat" else client.completions
        attempts = _Attempts()
        token = _ATTEMPTS.set(attempts)
        t0 = time.perf_counter()

        def spent() -> str:
            n = attempts.count
            return f"{n} attempt{'s' if n != 1 else ''}, {time.perf_counter() - t0:.1f} s spent"

        try:
            async with asyncio.timeout(deadline):
                resp = await api.create(**body, timeout=timeout)
        except openai.APIStatusError as e:
            raise failure(status_kind(e.status_code), self._scrub(
                f"HTTP {e.status_code} from {self.base_url}: {one_line(e.message)} ({spent()})")) from None  # fmt: skip
        except openai.APITimeoutError:
            what = "complete answer" if attempts.incomplete else "answer"
            raise failure("timeout", f"no {what} from {self.base_url} within {timeout:.1f} s per attempt "
                                     f"({self._allowance(timeout, chars)}); {spent()}") from None  # fmt: skip
        except TimeoutError:
            raise failure("timeout", f"no complete answer from {self.base_url} within the call's deadline of "
                                     f"{deadline:.1f} s (retries={self.retries}, {timeout:.1f} s per attempt); {spent()}") from None  # fmt: skip
        except openai.APIConnectionError as e:
            raise failure("connection failed", self._scrub(
                f"connection to {self.base_url} failed: {one_line(e.__cause__ or e)} ({spent()})")) from None  # fmt: skip
        except (openai.APIResponseValidationError, ValueError) as e:  # ValueError: the body is not JSON
            raise failure("malformed response", self._scrub(f"malformed response from {self.base_url}: {one_line(e)}")) from None
        finally:
            _ATTEMPTS.reset(token)
        latency = time.perf_counter() - t0
        try:  # the client does not validate a response's shape; a 200 may carry anything
            return self._parse(resp, endpoint, body, probe, latency)
        except (AttributeError, TypeError, IndexError, KeyError) as e:
            raise failure("malformed response", self._scrub(
                f"malformed response from {self.base_url}: {type(e).__name__}: {one_line(e)}")) from None  # fmt: skip

    def _allowance(self, timeout: float, chars: int) -> str:
        """How an attempt's deadline was reached: the spec's timeout, and what the prompt added."""
        return f"timeout={self.timeout:g} + {timeout - self.timeout:.1f} s for a {chars:,}-character prompt"

    def _parse(self, resp: Any, endpoint: str, body: dict[str, Any], probe: Probe, latency: float) -> Answer:
        if isinstance(resp, str):  # a body that was not declared JSON comes back as text
            raise failure("malformed response", self._scrub(f"response from {self.base_url} is not JSON: {one_line(resp, 120)!r}"))
        if not resp.choices:
            raise failure("malformed response", f"empty response from {self.base_url}")
        choice = resp.choices[0]
        text = (choice.message.content if endpoint == "chat" else choice.text) or ""
        if not isinstance(text, str):
            raise failure("malformed response", f"malformed response from {self.base_url}: the answer text is a {type(text).__name__}")
        usage = resp.usage
        return Answer(
            text=text,
            choice_logprobs=self._choice_logprobs(endpoint, choice, probe.choices) if "logprobs" in body else None,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            # vLLM (with --enable-prompt-tokens-details) and OpenAI say how much of the prompt their prefix cache held
            cached_tokens=getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            latency_s=latency,
            model=getattr(resp, "model", None),
        )

    @staticmethod
    def _choice_logprobs(endpoint: str, choice: Any, choices: list[str] | None) -> dict[str, float] | None:
        """Log-probability of each choice as the first generated token: the alternatives whose text,
        stripped of whitespace, equals the choice ("A", " A") are summed (log-sum-exp)."""
        if not choices or choice.logprobs is None:
            return None
        if endpoint == "chat":
            content = choice.logprobs.content or []
            alternatives = [(t.token, t.logprob) for t in content[0].top_logprobs] if content else []
        else:
            tops = choice.logprobs.top_logprobs or []
            alternatives = list(tops[0].items()) if tops and tops[0] else []
        out: dict[str, float] = {}
        for label in choices:
            found = [lp for tok, lp in alternatives if tok.strip() == label.strip() and lp is not None and math.isfinite(lp)]
            if found:
                top = max(found)
                out[label] = top + math.log(sum(math.exp(lp - top) for lp in found))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "base_url": self.base_url,
            "mode": self.mode,
            "sampling": {k: getattr(self, k) for k in SAMPLING_KEYS},  # max_tokens None: each probe's budget
            "logprobs": self.logprobs,
            "prefill": self.prefill,
            "api_key_env": self.api_key_env,  # the variable's name, never its value
            "timeout": self.timeout,
            "retries": self.retries,
        }

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await close_client(client)


def make_openai(spec: SystemSpec, ctx: SystemContext) -> OpenAISystem:
    check_options(spec, OPENAI_OPTIONS)
    if not spec.model:
        raise UserError(f"system {spec}: name the model, e.g. openai:gpt-4o-mini or openai:smollm2,base_url=http://127.0.0.1:8000/v1")
    base_url = spec.option("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    check_url(base_url, "the endpoint")  # OPENAI_BASE_URL is recorded in run.json too
    if urlparse(base_url).scheme not in ("http", "https"):
        raise UserError(f"system {spec}: base_url must be an http(s) URL, e.g. http://127.0.0.1:8000/v1")
    return OpenAISystem(
        spec.model,
        base_url,
        api_key_env=spec.option("api_key_env", "OPENAI_API_KEY") or "OPENAI_API_KEY",
        cache=ctx.cache,
        **sampling_kwargs(spec, ctx),
    )


SYSTEMS = {"openai": make_openai}
