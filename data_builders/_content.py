"""The builders' content (word banks, templates, prose) lives in data_builders/content/*.toml, shipped as
package data; this reads it. Each builder caches what it derives from its files."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

CONTENT = Path(__file__).parent / "content"


def load(name: str) -> dict[str, Any]:
    """content/NAME, parsed (tomllib keeps the file's order: the order of every draw)."""
    return tomllib.loads((CONTENT / name).read_text(encoding="utf-8"))


def frozen(value: Any) -> Any:
    """TOML lists as tuples, all the way down (hashable, and safe to share between draws)."""
    if isinstance(value, dict):
        return {k: frozen(v) for k, v in value.items()}
    return tuple(frozen(v) for v in value) if isinstance(value, list) else value
