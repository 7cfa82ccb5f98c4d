"""A model named on the command line as a folder or a hub id, for the in-process engines
(adapters/hf.py, adapters/vllm_inprocess.py): which one it is, and what names a folder's weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from longbench_suite.errors import UserError


def local_folder(source: str, kind: str) -> Path | None:
    """The model folder when `source` names one; None for a hub id (ORG/NAME or NAME). A path that
    looks local but does not exist is an error, never a hub lookup. `kind` prefixes messages (hf, vllm)."""
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"{kind}:{source}: no config.json in that folder (save the model with save_pretrained)")
        return path
    if source.startswith(("/", ".", "~")) or source.count("/") > 1 or "\\" in source:
        raise UserError(f"{kind}:{source}: no such model folder")
    return None


def files_digest(folder: Path) -> str:
    """Names, sizes and mtimes of a model folder's files (weights, config, tokenizer, code): a cache key
    part that changes when the weights do, without reading them."""
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()
