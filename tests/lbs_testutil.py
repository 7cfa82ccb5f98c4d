"""Helpers shared by the tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from longbench_suite.generate import generate_dataset

REPO = Path(__file__).resolve().parent.parent


def make_needle(out: Path, variants: list[str], params: list[str], seed: int = 0, tokenizer: str = "approx") -> Path:
    generate_dataset("needle", out, variants, params, seed=seed, tokenizer=tokenizer)
    return out


def lbs(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "longbench_suite.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})},
    )


def one_line_error(res: subprocess.CompletedProcess) -> str:
    """Assert the CLI refused with exit 2 and exactly one `error: ...` line; return that line."""
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert res.returncode == 2, f"rc={res.returncode} stderr={res.stderr!r}"
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def ctrl_c_default() -> None:
    """preexec_fn for a child the test will Ctrl-C: SIGINT back to its default. A shell that starts a job in
    the background without job control (`cmd &` in a script) makes it ignore SIGINT, and Python then keeps
    ignoring it: the test would see a process that does not stop, however well lbs handles Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def processes_on_port(port: int | str) -> list[str]:
    """Pids of live (not zombie) processes started with `--port PORT` (a vLLM server and its workers)."""
    wanted = [b"--port", str(port).encode()]
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().split(") ")[-1][:1]
        except OSError:
            continue
        if state != "Z" and any(cmdline[i:i + 2] == wanted for i in range(len(cmdline))):
            alive.append(proc.name)
    return alive
