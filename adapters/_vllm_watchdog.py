"""The processes an in-process vLLM engine starts (adapters/vllm_inprocess.py): which ones are its,
ending them, and a watchdog that ends them when this process dies without shutting the engine down.

vLLM's engine core outlives a SIGKILLed parent (measured): the watchdog, a child that outlives us
too, notices the parent is gone (it is re-parented) and kills the engine's processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

WATCHDOG = """
import os, signal, sys, time
parent = int(sys.argv[1])
while os.getppid() == parent:
    time.sleep(0.5)
for pid in sys.argv[2:]:
    try:
        os.kill(int(pid), signal.SIGKILL)
    except OSError:
        pass
"""


def start_watchdog(pids: list[int]) -> subprocess.Popen:
    """A small process that SIGKILLs `pids` once this process is gone (even after a SIGKILL)."""
    cmd = [sys.executable, "-I", "-S", "-c", WATCHDOG, str(os.getpid()), *map(str, pids)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def new_children(me: Any, before: set[int]) -> list[Any]:
    """The descendants of `me` (a psutil.Process) whose pids are not in `before`: what an engine start
    made. multiprocessing's shared resource tracker is not the engine's: it serves the whole interpreter."""
    import psutil

    new = []
    for p in me.children(recursive=True):
        try:
            if p.pid not in before and "multiprocessing.resource_tracker" not in " ".join(p.cmdline()):
                new.append(p)
        except psutil.Error:
            continue
    return new


def end_processes(processes: list[Any], grace_s: float = 0.0) -> None:
    """Wait for the given processes (children of this one: waiting reaps them), then kill the rest."""
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=grace_s) if grace_s else ([], processes)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
