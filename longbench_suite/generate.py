"""Generation stage: family + parameters + seed -> dataset directory."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from . import __version__, io
from .errors import UserError
from .registry import user_task_family
from .task import parse_params
from .tokens import load_tokenizer


def load_config(path: Path | None) -> dict[str, Any]:
    """A declarative task config: TOML with optional `variants`, `seed`, `tokenizer` and a [params] table."""
    if path is None:
        return {}
    cfg = io.read_toml(path, "config file")
    types = {"variants": list, "seed": int, "tokenizer": str, "params": dict}
    for key, value in cfg.items():
        if key not in types:
            raise UserError(f"config {path}: unknown key {key!r}; known: {', '.join(types)}")
        if not isinstance(value, types[key]) or isinstance(value, bool):
            raise UserError(f"config {path}: {key} must be a {types[key].__name__}")
    if not all(isinstance(v, str) for v in cfg.get("variants", [])):
        raise UserError(f"config {path}: variants must be a list of names")
    return cfg


def generate_dataset(
    family_name: str,
    out: Path,
    variants: list[str] | None = None,
    assignments: list[str] | None = None,
    seed: int | None = None,
    tokenizer: str | None = None,
    config: Path | None = None,
    overwrite: bool = False,
    inputs: list | None = None,
) -> dict:
    """`inputs` replace a family's own texts: books for `lbs build book-sort`, short-task instances for
    `lbs build m4le`; the family's build() packs them and its sources_manifest() says what was read."""
    cfg = load_config(config)
    family = user_task_family(family_name)
    chosen = family.check_variants(variants or cfg.get("variants"))
    params = parse_params(family.Params, assignments or [], base=cfg.get("params"))
    seed = int(seed if seed is not None else cfg.get("seed", 0))
    tok_name = tokenizer or cfg.get("tokenizer") or "approx"
    io.prepare_output_dir(Path(out), overwrite, marker="manifest.json")  # fail before the (possibly long) generation
    tok = load_tokenizer(tok_name) if family.uses_tokenizer else None
    manifest = {
        "family": family.name,
        "variants": chosen,
        "params": asdict(params),
        "seed": seed,
        "generator_version": family.version,
        "tokenizer": tok.name if tok else None,
        "suite_version": __version__,
    }
    if inputs is not None:  # what was read (never a local path)
        manifest["sources"] = family.sources_manifest(inputs)
    t0 = time.monotonic()
    # Pieces are written as they come: a family that generates in batches never holds the whole dataset.
    if inputs is None:
        pieces = family.generate_batches(chosen, params, seed, tok)
    else:
        pieces = [family.build(inputs, chosen, params, seed, tok)]
    with io.stream_dataset(Path(out), overwrite=overwrite) as writer:
        probes = []
        for episodes, probes_piece in pieces:
            writer.add_episodes(episodes)
            probes.append(probes_piece)
        manifest = writer.finish(pa.concat_tables(probes).combine_chunks(), manifest)
    manifest["generation_s"] = round(time.monotonic() - t0, 3)  # reported, not stored: timing is not content
    return manifest
