"""Generation stage: family + parameters + seed -> dataset directory.

Before anything is generated, the family estimates the dataset's size from its parameters alone, and
sizes past a bound are refused (unless forced): `-p lengths=9999999999k` or `samples=1000000000` is one
line in milliseconds, not a machine's memory eaten by the OOM killer. Generation itself streams:
episodes and probes are written piece by piece, so memory holds one piece (and the family's sources),
whatever the number of items.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__, io
from .errors import UserError
from .registry import user_task_family
from .task import SizeEstimate, TaskFamily, parse_params
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


# The default bound on a dataset's text: 2^31 tokens (~8 GB of text, ~1 hour to generate at the
# measured ~0.5M tokens/s). RULER's full grid (13 tasks x 500 samples x 128k) is 0.8G tokens and
# LongMemEval-M 0.75G, so every published setting fits; a model would need days to read more.
DEFAULT_MAX_TOKENS = 2**31
# What a generator may hold in memory at once: 2^26 tokens is ~2.3 GB at the ~35 bytes a held token
# costs (needle, essay haystack: 16M tokens -> 0.68 GB RSS measured). Families that stream hold one
# piece (~2^24 tokens) plus their longest episode and its source; the others, their whole dataset.
MAX_HELD_TOKENS = 2**26


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**7 else f"{n:.2e}"


def check_size(family: TaskFamily, params: object, variants: list[str], max_tokens: int | None = None,
               force: bool = False) -> SizeEstimate:
    """Estimate the dataset's size and refuse (one line) past the bounds unless `force`."""
    bound = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    if bound < 1:
        raise UserError("--max-tokens must be at least 1")
    est = family.estimate(params, variants)
    if force:
        return est
    if est.tokens > bound:
        raise UserError(f"{family.name} with these parameters would make ~{_count(est.tokens)} tokens in "
                        f"{_count(est.items)} items, above the bound of {_count(bound)}: use smaller parameters, "
                        "raise --max-tokens, or pass --force")
    if est.held_tokens > MAX_HELD_TOKENS:
        raise UserError(f"{family.name} with these parameters would hold ~{_count(est.held_tokens)} tokens in memory "
                        f"at once (bound {_count(MAX_HELD_TOKENS)}, ~2 GB): use smaller parameters, or pass --force")
    return est


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
    max_tokens: int | None = None,
    force: bool = False,
) -> dict:
    """`inputs` replace a family's own texts: books for `lbs build book-sort`, short-task instances for
    `lbs build m4le`; the family's build() packs them and its sources_manifest() says what was read.
    Generated datasets are sized first (check_size): past `max_tokens` (default 2^31) refused unless `force`."""
    cfg = load_config(config)
    family = user_task_family(family_name)
    chosen = family.check_variants(variants or cfg.get("variants"))
    params = parse_params(family.Params, assignments or [], base=cfg.get("params"))
    seed = int(seed if seed is not None else cfg.get("seed", 0))
    tok_name = tokenizer or cfg.get("tokenizer") or "approx"
    if inputs is None:  # built datasets are sized by their inputs, already read
        check_size(family, params, chosen, max_tokens, force)
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
        for episodes, probes in pieces:
            writer.add_episodes(episodes)
            writer.add_probes(probes)
        manifest = writer.finish(None, manifest)
    manifest["generation_s"] = round(time.monotonic() - t0, 3)  # reported, not stored: timing is not content
    return manifest
