"""Shared fixtures. `embedded_server`: the real embedded model served by vLLM, started once per session
(about a minute on CPU) and stopped at the end; tests that use it are marked `server`."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class ServedModel:
    base_url: str
    served_name: str
    announced: str  # the line `lbs serve` printed when the server was ready


@pytest.fixture(scope="session")
def embedded_server():
    """`lbs serve embedded`, as a user starts it for other tools: its first line says where it serves;
    Ctrl-C at the end must stop it cleanly (exit 0) with every process of the server gone. (This is the
    test of `lbs serve` too: tests/test_end_to_end.py checks its line and a run against it.)"""
    if importlib.util.find_spec("vllm") is None:
        pytest.fail("vLLM is not installed: run bash scripts/install.sh cpu,dev")
    import re
    import signal
    import subprocess
    import sys

    from lbs_testutil import REPO, ctrl_c_default, processes_on_port
    from runners.embedded_model import ensure_model
    from runners.model_specs import model_spec

    ensure_model()  # cached after the first conversion
    proc = subprocess.Popen([sys.executable, "-m", "longbench_suite.cli", "serve", "embedded"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=ctrl_c_default)
    try:
        line = proc.stdout.readline()  # blocks until the server is ready (or lbs exits)
        match = re.search(r"at (http://127\.0\.0\.1:(\d+)/v1)", line)
        if not match:
            pytest.fail(f"lbs serve embedded did not say where it serves: {line!r}")
        yield ServedModel(match.group(1), model_spec("embedded").served_name, line)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, "lbs serve did not stop cleanly on Ctrl-C"
        assert not processes_on_port(match.group(2)), "vLLM processes survived lbs serve's Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()
