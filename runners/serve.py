"""`lbs serve NAME`: run a models.toml model as an OpenAI-compatible server until Ctrl-C or SIGTERM;
`lbs serve NAME --dry-run` prints the exact command (and its environment) without starting anything."""

from __future__ import annotations

import signal
import sys
import threading
import time

from longbench_suite.errors import UserError

from .model_specs import ModelSpec, model_spec, vllm_command
from .vllm_server import free_port, log_tail, start_model


def catalogue_name(name: str) -> str:
    """`ref:qwen3-8b` and `qwen3-8b` name the same catalogue entry."""
    return name.removeprefix("ref:")


def dry_run_command(spec: ModelSpec, host: str = "127.0.0.1", port: int | None = None) -> str:
    """The shell line `lbs serve` would run: environment, then the vLLM command, shell-quoted."""
    import shlex

    if spec.source_kind == "gguf-package":  # converted once into the user cache; not converted here
        from .embedded_model import model_dir

        path = str(model_dir(spec))
    elif spec.source_kind == "path":
        path = spec.source_ref
    else:
        path = spec.source_ref
    env = [f"{k}={shlex.quote(v)}" for k, v in spec.env.items()]
    return " ".join(env + [shlex.join(vllm_command(spec, path, host, port or 8000))])


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(name: str, host: str = "127.0.0.1", port: int | None = None, dry_run: bool = False) -> None:
    name = catalogue_name(name)
    spec = model_spec(name)  # unknown name -> UserError before anything starts
    if dry_run:
        print(dry_run_command(spec, host, port))
        return
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None  # SIGTERM stops cleanly too
    server = None
    try:
        print(f"lbs: starting {spec.hf_id} with vLLM (about a minute on CPU)...", file=sys.stderr, flush=True)
        server = start_model(name, host=host, port=port)
        url = server.base_url
        extra = ",prefill=assistant" if spec.chat else ",mode=completions"
        hint = f"--system openai:{spec.served_name},base_url={url}{extra}"
        if name == "embedded":
            hint += f" (or --system embedded,base_url={url})"
        print(
            f"serving {spec.hf_id} as {spec.served_name!r} at {url} (ready in {server.ready_after_s:.0f} s); "
            f"use {hint}; log {server.log_path}; Ctrl-C stops it",
            flush=True,
        )
        while (code := server.poll()) is None:
            time.sleep(1.0)
        raise UserError(f"the vLLM server exited with code {code}; last lines of {server.log_path}:\n{log_tail(server.log_path)}")
    except KeyboardInterrupt:
        print("lbs: stopping the server...", file=sys.stderr, flush=True)
    finally:
        if server is not None:
            server.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
