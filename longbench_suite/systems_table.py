"""`lbs systems`: the system kinds a --system spec can name, and the model catalogue behind
`embedded` and `ref:NAME` (runners/models.toml)."""

from __future__ import annotations

import importlib
import inspect

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _summary(factory: object) -> str:
    """First line of the factory's docstring, else of its module's (adapters document their spec there)."""
    doc = inspect.getdoc(factory) or ""
    if not doc.strip():
        module = importlib.import_module(getattr(factory, "__module__", "") or "builtins")
        doc = inspect.getdoc(module) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


# The row of `lbs systems` for factories named directly (README "Plugins" has the whole example).
PYTHON_KIND = ("your own factory, no packaging: ATTR(spec, ctx) -> MemorySystem, e.g. python:my_memory.lbs:make,dim=64; "
               "with a reader: python[my_memory.lbs:make,dim=64]:READER (README: Plugins)")


def _count(n: int | None) -> str:
    if not n:
        return ""
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def print_systems(console: Console, reference_only: bool = False) -> None:
    from runners.model_specs import load_model_specs

    from .registry import is_builtin_kind, system_factories
    from .spec import WRAPPERS

    if not reference_only:
        kinds = Table(title=escape("System kinds (--system KIND[:MODEL][,key=value...]; wrappers KIND[k=v,...]:INNER)"))
        kinds.add_column("kind", style="bold", no_wrap=True)
        kinds.add_column("what")
        for kind, factory in sorted(system_factories().items()):
            tag = " (wrapper)" if kind in WRAPPERS else "" if is_builtin_kind(kind) else " (plugin)"
            kinds.add_row(escape(kind + tag), escape(_summary(factory)))
        kinds.add_row(escape("python:MODULE:ATTR"), escape(PYTHON_KIND))
        console.print(kinds)
    models = Table(title=escape("Model catalogue (runners/models.toml): --system ref:NAME, lbs serve ref:NAME [--dry-run]"))
    for column in ("name", "hf id", "mechanism", "context", "served", "chat", "params", "GPUs"):
        models.add_column(column, no_wrap=column in ("name", "hf id"))
    for name, spec in load_model_specs().items():
        if reference_only and not spec.reference:
            continue
        gpus = f"{spec.gpus} x {spec.gpu_memory_gb} GB" if spec.gpus and spec.gpu_memory_gb else str(spec.gpus or "CPU")
        params = _count(spec.parameters) + (f" ({_count(spec.active_parameters)} active)" if spec.active_parameters else "")
        models.add_row(
            name, spec.hf_id, spec.mechanism, str(spec.context_length or ""), str(spec.serve_len or ""),
            "chat" if spec.chat else "base", params, gpus,
        )  # fmt: skip
    console.print(models)
