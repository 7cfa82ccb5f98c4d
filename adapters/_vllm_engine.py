"""The engine of the in-process vLLM system (adapters/vllm_inprocess.py): what MODEL names, the
engine's arguments, and one vllm.LLM with the processes it starts, shared by the systems of a process
that ask for the same arguments.

MODEL is a catalogue entry (runners/models.toml), a local HF folder or a hub id. A catalogue entry's
engine arguments are its `lbs serve` command (runners.model_specs.vllm_command) minus program, host,
port and served name, parsed by vLLM's own server parser; a folder or hub id gets CPU-safe defaults.
--enable-prefix-caching is always on. The engine sets its `env` in os.environ while it lives, runs one
batch at a time (vLLM's LLM is not thread-safe), and counts what it did (runs, requests, prompt tokens,
prompt tokens from the prefix cache). Its processes are watched (adapters/_vllm_watchdog.py); choice
log-probs are asked for as adapters/_vllm_logprobs.py says.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench_suite.errors import SystemFailure, UserError, one_line

from ._choices import ChoiceTokens
from ._model_folder import files_digest, local_folder
from ._vllm_logprobs import logprob_params
from ._vllm_watchdog import end_processes, new_children, start_watchdog

SERVER_ONLY = ("--host", "--port", "--served-model-name")  # flag + one value, dropped from the server command
ENGINE_STOP_S = 15.0  # after vLLM's own shutdown: how long its processes may take to exit


def is_cpu() -> bool:
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
        cpu = is_cpu()
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
        """Remember the processes this start made; after a failed start, end them."""
        new = new_children(me, before)
        self.processes = [] if kill else new
        if kill:
            end_processes(new)

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
                        params.update(logprob_params(r.choice_ids))
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
            end_processes(self.processes, grace_s=ENGINE_STOP_S)
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

