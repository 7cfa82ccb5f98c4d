"""Registries by name: task families and system kinds.

Built-ins are discovered from the `tasks` and `adapters` packages (a module per family or adapter
file), third-party ones from entry points (`longbench_suite.tasks`, `longbench_suite.adapters`) or
named directly as `python:MODULE:ATTR` (a system factory, or a task family object or class), e.g.
`--system python:my_memory.lbs:make,dim=64` or `lbs generate python:my_tasks:FAMILY`. A spec is what
the user typed: nothing here imports code named by a dataset or a run directory.
Adding a family or an adapter is one new module; no core file changes.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from functools import cache
from typing import Callable

from .errors import UserError
from .protocol import MemorySystem, SystemContext
from .spec import SystemSpec, parse_spec
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
    import adapters

    factories: dict[str, SystemFactory] = {}
    for m in pkgutil.iter_modules(adapters.__path__):
        if m.name.startswith("_"):
            continue
        module = importlib.import_module(f"adapters.{m.name}")
        factories.update(getattr(module, "SYSTEMS", {}))
    for ep in _entry_points("longbench_suite.adapters"):
        factories.setdefault(ep.name, ep.load())
    return factories


def make_system(spec: str | SystemSpec, ctx: SystemContext | None = None) -> MemorySystem:
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    ctx = ctx or SystemContext()
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
        raise UserError(f"unknown system kind {spec.kind!r}; known: {', '.join(sorted(system_factories()))}")
    return factory(spec, ctx)
