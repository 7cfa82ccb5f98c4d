"""The top-level packages must come from this project, not from another installed distribution."""

import importlib
import importlib.metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["longbench_suite", "tasks", "adapters", "runners", "data_builders"])
def test_package_is_ours(name):
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == REPO / name
    owners = set(importlib.metadata.packages_distributions().get(name, []))
    assert owners == {"longbench-suite"}, f"{name} is also provided by {owners}"


def test_console_script_declared():
    eps = importlib.metadata.entry_points(group="console_scripts")
    assert any(ep.name == "lbs" and ep.value == "longbench_suite.cli:main" for ep in eps)


def test_core_requirements_are_light():
    reqs = importlib.metadata.requires("longbench-suite") or []
    core = [r for r in reqs if "extra ==" not in r]
    for heavy in ("torch", "vllm", "transformers"):
        assert not any(r.lower().startswith(heavy) for r in core), f"{heavy} must be an extra"
