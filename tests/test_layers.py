"""Imports run one way (issue 24): ground (the core of longbench_suite: tables, protocol, scoring,
reports) <- families (tasks, data_builders) <- systems (adapters, and the serving half of runners:
model catalogue, embedded model files, vLLM server) <- execution (the runners that drive systems)
<- the command line (cli, demo and the other command modules). A module imports only from its own
layer or below, at module level or inside a function alike; docs/architecture.md draws the picture.

The one door upward is the registry, which finds families and systems by name (the built-in packages
`tasks` and `adapters`, and plugins' entry points): that is what lets a new module register with no
core edit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("longbench_suite", "tasks", "data_builders", "adapters", "runners")
COMMAND_LINE = {"longbench_suite.cli", "longbench_suite.demo", "longbench_suite.gate_cli",
                "longbench_suite.leaderboard_cli", "longbench_suite.systems_table"}
SERVING = {"runners.model_specs", "runners.embedded_model", "runners.vllm_server", "runners.serve"}
LAYERS = ("ground", "families", "systems", "execution", "command line")
DISCOVERY = {("longbench_suite.registry", "tasks"), ("longbench_suite.registry", "adapters")}


def layer(module: str) -> int:
    top = module.split(".")[0]
    if module in COMMAND_LINE:
        return 4
    if top == "longbench_suite":
        return 0
    if top in ("tasks", "data_builders"):
        return 1
    if top == "adapters" or module in SERVING:
        return 2
    return 3  # the rest of runners


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """Modules of the repository's packages that `name` imports anywhere in its body."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES}


MODULES = modules()


def test_every_module_is_in_a_layer():
    assert len(MODULES) > 60 and {layer(m) for m in MODULES} == set(range(len(LAYERS)))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down(name):
    upward = sorted(f"{m} ({LAYERS[layer(m)]})" for m in imports(name, MODULES[name])
                    if layer(m) > layer(name) and (name, m) not in DISCOVERY)
    assert not upward, f"{name} ({LAYERS[layer(name)]}) imports from above: {', '.join(upward)}"
