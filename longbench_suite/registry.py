"""Registries by name: task families and system kinds.

Built-ins are discovered from the `tasks` and `adapters` packages (a module per family or adapter
file), third-party ones from entry points (`longbench_suite.tasks`, `longbench_suite.adapters`) or
named directly as `python:MODULE:ATTR` (a system factory, or a task family object or class), e.g.
`--system python:my_memory.lbs:make,dim=64` or `lbs generate python:my_tasks:FAMILY`. A spec is what
the user typed: nothing here imports code named by a dataset or a run directory.
Adding a family or an adapter is one new module; no core file changes.

For plugins: `make_system(spec, ctx)` builds any system from a spec, and `build_reader(spec, ctx)` the
system a plugin reads through, named after its own spec as `my-memory[dim=64]:READER` or
`python[my_memory.lbs:make,dim=64]:READER` (READER: any spec, e.g. openai:gpt-4o-mini,base_url=...).
A memory (a system that keeps state across calls: `concurrent_episodes = False`) run in the
in-context condition gets `condition_warning`: its prompts carry the context, so its memory is not
what the score measures.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from functools import cache
from pathlib import Path
from typing import Callable

from .errors import UserError
from .protocol import Condition, MemorySystem, SystemContext
from .spec import WRAPPERS, SystemSpec, parse_spec
from .task import TaskFamily

SystemFactory = Callable[[SystemSpec, SystemContext], MemorySystem]


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=group))


@cache
def _task_modules() -> dict[str, str]:
    import tasks

    names = {
        m.name.replace("_", "-"): f"tasks.{m.name}"
        for m in pkgutil.iter_modules(tasks.__path__)
        if not m.name.startswith("_")
    }
    for ep in _entry_points("longbench_suite.tasks"):
        names.setdefault(ep.name, ep.value)
    return names


def task_family_names() -> list[str]:
    names = []
    for name in sorted(_task_modules()):
        try:
            task_family(name)
            names.append(name)
        except UserError:
            continue
    return names


def _python_target(text: str, what: str) -> object:
    """`MODULE:ATTR` -> the attribute, with one-line errors (the user typed it)."""
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"bad {what} {text!r}: write python:MODULE:ATTR, e.g. python:my_package.lbs:make")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"cannot import {module_name!r} for {what} python:{text}: {e}") from None
    target = getattr(module, attr, None)
    if target is None:
        raise UserError(f"{module_name} has no {attr!r} ({what} python:{text})")
    return target


def user_task_family(name: str) -> TaskFamily:
    """A family the user named on the command line: a registered name or `python:MODULE:ATTR`.
    Names read from data (a dataset's manifest) go through task_family(), which imports nothing
    that is not registered; a dataset made by a python: family is run once the family is registered
    by entry point (the manifest records family.name)."""
    if not name.startswith("python:"):
        return task_family(name)
    family = _python_target(name.removeprefix("python:"), "task family")
    family = family() if isinstance(family, type) else family
    if not isinstance(family, TaskFamily):
        raise UserError(f"{name} is not a TaskFamily")
    return family


@cache
def task_family(name: str) -> TaskFamily:
    target = _task_modules().get(name) or _task_modules().get(name.replace("_", "-"))
    if target is None:
        raise UserError(f"unknown task family {name!r}; known: {', '.join(sorted(_task_modules()))}")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    family = getattr(module, attr or "FAMILY", None)
    if family is None:
        raise UserError(f"{target} defines no task family")
    return family() if isinstance(family, type) else family


@cache
def system_factories() -> dict[str, SystemFactory]:
    factories: dict[str, SystemFactory] = {}
    for module in _adapter_modules():
        factories.update(getattr(module, "SYSTEMS", {}))
    for ep in _entry_points("longbench_suite.adapters"):
        factories.setdefault(ep.name, ep.load())
    return factories


@cache
def named_tokenizers() -> dict[str, Callable[[], Path]]:
    """Tokenizers that the built-in system kinds ship by name (`--tokenizer embedded`): an adapters
    module's TOKENIZERS = {name: a function returning the folder of its tokenizer.json}. A plugin's
    model is named by the path of its tokenizer.json or hf:ORG/NAME instead."""
    found: dict[str, Callable[[], Path]] = {}
    for module in _adapter_modules():
        found.update(getattr(module, "TOKENIZERS", {}))
    return found


@cache
def _adapter_modules() -> list:
    """The built-in adapters modules (not the private `_` helpers), imported once."""
    import adapters

    return [importlib.import_module(f"adapters.{m.name}") for m in pkgutil.iter_modules(adapters.__path__)
            if not m.name.startswith("_")]


def make_system(spec: str | SystemSpec, ctx: SystemContext | None = None) -> MemorySystem:
    """The system a spec names (text as on the command line, or parsed), built as `lbs run` builds it.
    `ctx` carries the run's response cache and seed: a plugin passes its own on to what it builds."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    ctx = ctx or SystemContext()
    if spec.inner is not None and spec.kind not in WRAPPERS and is_builtin_kind(spec.kind):
        raise UserError(f"bad system spec {spec}: {spec.kind} reads through no other system "
                        f"(wrappers: {', '.join(sorted(WRAPPERS))}, and plugins)")
    if spec.kind == "python":
        factory = _python_target(spec.model or "", "system")
        if not callable(factory):
            raise UserError(f"python:{spec.model} is not callable (a system factory takes (spec, ctx))")
        system = factory(spec, ctx)
        if not isinstance(system, MemorySystem):
            raise UserError(f"python:{spec.model} returned {type(system).__name__}, not a MemorySystem")
        return system
    factory = system_factories().get(spec.kind)
    if factory is None:
        raise UserError(f"unknown system kind {spec.kind!r}; known: {', '.join(sorted(system_factories()))}, "
                        "python:MODULE:ATTR")
    return factory(spec, ctx)


def build_reader(spec: SystemSpec, ctx: SystemContext | None = None, default: str | None = None) -> MemorySystem:
    """The system a plugin reads through (an LLM that writes the answer from what the plugin recalls):
    the reader named in its spec, `KIND[options]:READER`, else `default` (e.g. "embedded"). In a factory:

        def make(spec, ctx):
            return MyMemory(reader=build_reader(spec, ctx, default="embedded"), dim=int(spec.option("dim", "64")))

    `lbs run -s 'my-memory[dim=64]:openai:gpt-4o-mini,base_url=URL'` then reads with that model; the reader
    shares the run's response cache and seed. Close it in the plugin's aclose()."""
    if spec.inner is None and default is None:
        raise UserError(f"system {spec} needs a reader: write {spec.kind}[options]:READER, e.g. "
                        f"{spec.kind}[{spec.model + ',' if spec.model else ''}...]:embedded")
    return make_system(spec.inner if spec.inner is not None else default, ctx)


def is_builtin_kind(kind: str) -> bool:
    """A kind of the suite's own adapters package (plugins come from entry points or python:)."""
    factory = system_factories().get(kind)
    return factory is not None and (getattr(factory, "__module__", "") or "").startswith("adapters.")


def condition_warning(name: str, stateful: bool, condition: Condition) -> str | None:
    """A memory (stateful: it keeps what it ingested across calls) run in context answers prompts that
    carry the whole context: the score is the reader's, not the memory's. One line, or None."""
    if stateful and condition is Condition.IN_CONTEXT:
        return (f"{name} keeps state between calls (a memory: concurrent_episodes = False) but runs in-context, "
                "so every prompt also carries the whole context and the score does not measure its memory; "
                "use --condition in-memory to test the memory alone")
    return None
