"""The task-family interface and declarative parameters.

A family is one module in `tasks/` (or a plugin) exposing `FAMILY`, an instance of TaskFamily:
parameters as a dataclass, generate(params, seed) -> tables, render, score.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import re
import typing
from typing import Any, ClassVar, Iterator

import polars as pl
import pyarrow as pa

from . import metrics
from .errors import UserError
from .protocol import Condition, Episode, Probe

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")


def parse_size(text: str) -> int:
    """'4096' -> 4096, '4k' -> 4096, '1.5k' -> 1536, '1m' -> 1048576 (RULER's powers of two)."""
    m = _SIZE.match(str(text).strip())
    if not m:
        raise UserError(f"bad length {text!r}: use a positive integer or a size like 4k, 32k, 1m")
    value = float(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if value < 1 or value != int(value):
        raise UserError(f"bad length {text!r}: must be a positive whole number of tokens")
    return int(value)


def param(default: Any, help: str, *, size: bool = False) -> Any:
    """A family parameter: default, help text for `lbs tasks`, and whether values take k/m suffixes."""
    meta = {"help": help, "size": size}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _convert(name: str, typ: Any, size: bool, raw: str) -> Any:
    """Parse one `key=value` string into the field's type (lists are comma-separated)."""
    is_list = typing.get_origin(typ) is list
    item = typing.get_args(typ)[0] if is_list else typ

    def one(text: str) -> Any:
        text = text.strip()
        if size:
            return parse_size(text)
        if item is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return item(text)

    try:
        if is_list:
            values = [one(t) for t in raw.split(",") if t.strip()]
            if not values:
                raise ValueError(raw)
            return values
        return one(raw)
    except (ValueError, TypeError):
        raise UserError(f"bad value for parameter {name}: {raw!r}") from None


def parse_params(cls: type, assignments: list[str], base: dict[str, Any] | None = None) -> Any:
    """Build the params dataclass from a config's values, then `key=value` strings (which win)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    items = [(k, ",".join(map(str, v)) if isinstance(v, list) else str(v)) for k, v in (base or {}).items()]
    for a in assignments:
        if "=" not in a:
            raise UserError(f"bad parameter {a!r}: use key=value")
        k, v = a.split("=", 1)
        items.append((k.strip(), v))
    values: dict[str, Any] = {}
    for key, raw in items:
        if key not in fields:
            raise UserError(f"unknown parameter {key!r}; known: {', '.join(fields)}")
        values[key] = _convert(key, hints[key], fields[key].metadata.get("size", False), raw)
    params = cls(**values)
    check = getattr(params, "validate", None)
    if check:
        check()
    return params


def describe_params(cls: type) -> list[tuple[str, str, str]]:
    """(name, default, help) rows for `lbs tasks`."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        rows.append((f.name, shown, f.metadata.get("help", "")))
    return rows


# A word of English prose is about 4/3 tokens of a BPE tokenizer: families that count words (SORT, M4LE)
# estimate their size in tokens with it.
TOKENS_PER_WORD = 4 / 3
# A piece of episodes is flushed at ~64 MiB of text (io.EPISODE_ROW_GROUP_BYTES): ~2^24 tokens.
PIECE_TOKENS = 2**24
# A probe row (question, gold, choices, meta) held in memory costs about as much as 128 tokens of text.
PROBE_TOKENS = 128


@dataclasses.dataclass(frozen=True)
class SizeEstimate:
    """What a generation would make, from the parameters alone (nothing is generated or allocated):
    `tokens` of episode and probe text in all, `items` (probes), and `held_tokens`, the most text the
    generator holds in memory at once (the largest piece generate_batches yields, with its sources)."""

    tokens: int
    items: int
    held_tokens: int


def _size_field_values(params: Any) -> tuple[list[int], list[int]]:
    """(lengths, multipliers) of a params dataclass: the values of size fields (k/m suffixes), and the
    sizes of the other lists (depths, n_ctx, types...) and the `samples` count, which multiply items."""
    lengths: list[int] = []
    mult: list[int] = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if f.metadata.get("size"):
            lengths += list(value) if isinstance(value, list) else [value]
        elif isinstance(value, list):
            mult.append(max(1, len(value)))
        elif f.name == "samples" and isinstance(value, int):
            mult.append(max(1, value))
    return lengths, mult


class TaskFamily(abc.ABC):
    name: ClassVar[str]
    version: ClassVar[str]  # bump when generated data changes for the same seed
    description: ClassVar[str]
    variants: ClassVar[dict[str, str]]  # name -> one-line description
    Params: ClassVar[type]
    # Does generation count tokens (and so need a tokenizer)?
    uses_tokenizer: ClassVar[bool] = True
    # Are the probes' choices part of the question (A/B in SORT)? If not (needle: the random
    # baseline's candidate pool, which contains the answer), only privileged baselines see them.
    choices_visible: ClassVar[bool] = False

    @abc.abstractmethod
    def generate(self, variants: list[str], params: Any, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        """Return (episodes, probes) tables in the schemas of longbench_suite.schemas."""

    def generate_batches(self, variants: list[str], params: Any, seed: int, tokenizer: Any) -> Iterator[tuple[pa.Table, pa.Table]]:
        """`generate` in pieces of (episodes, probes), written as they come so a dataset larger than
        memory can be made; the pieces together equal `generate`'s tables. By default one piece."""
        yield self.generate(variants, params, seed, tokenizer)

    def estimate(self, params: Any, variants: list[str]) -> SizeEstimate:
        """The dataset's size before generating it, for the refusal of absurd sizes (lbs generate).
        The default reads the params: items = variants x samples x every list's length (lengths,
        depths...), each as long as its length (the size fields); `generate` holds it all at once.
        Families override it where they know better (and where they stream, with a smaller held size)."""
        lengths, mult = _size_field_values(params)
        per_length = max(1, len(variants)) * math.prod(mult)
        items = per_length * max(1, len(lengths))
        tokens = per_length * sum(lengths)
        return SizeEstimate(tokens=tokens, items=items, held_tokens=tokens + items * PROBE_TOKENS)

    def check_variants(self, variants: list[str] | None) -> list[str]:
        chosen = list(dict.fromkeys(variants or self.variants))  # a variant named twice is generated once
        unknown = [v for v in chosen if v not in self.variants]
        if unknown:
            raise UserError(f"unknown variant {unknown[0]!r} of {self.name}; known: {', '.join(self.variants)}")
        return chosen

    def episode(self, row: dict) -> Episode:
        """Rebuild the runtime episode from its table row; families may render sessions to text here."""
        return Episode(
            episode_id=row["episode_id"],
            family=row["family"],
            variant=row["variant"],
            text=row["text"] or "",
            sessions=row.get("sessions"),
            meta=json.loads(row["meta"] or "{}"),
        )

    def score(self, output: str, row: dict, choice_logprobs: dict[str, float] | None = None) -> dict[str, float]:
        """Metric name -> value in [0, 1] for one probe; the probe's primary metric comes first.
        `choice_logprobs` (choice -> log-probability of it as the first answer token) when the system gave them."""
        return {row["metric"]: metrics.METRICS[row["metric"]](output, row["gold"] or [])}

    def score_columns(self, frame: pl.DataFrame) -> dict[str, pl.Series] | None:
        """Optional fast path of `score` for many probes at once: metric name -> Float64 column, the
        primary first, with exactly `score`'s values (choice log-probs are never given here). `frame`
        holds the probes' columns plus `output` (a string, never null). None: score row by row."""
        return None

    def evidence_ids(self, row: dict) -> list[str] | None:
        """Ids (sessions, documents) a retriever should return for this probe, when the family knows
        them: predictions that report retrieved ids then get recall@k and NDCG@k."""
        return None

    def retrieval_scores(self, row: dict, retrieved: list[str]) -> dict[str, float] | None:
        """Retrieval metrics of one prediction's retrieved ids; None or {} when the probe has none.
        By default recall@k and NDCG@k against `evidence_ids`; a family with an official protocol
        (LongMemEval: which items count, turn-level ids) overrides it."""
        relevant = self.evidence_ids(row)
        return metrics.retrieval_scores(retrieved, relevant) if relevant else None

    # The judge model the official protocol pins (LongMemEval's metrics assert theirs); a run judged
    # by another model is marked. None: the family has no official judge.
    official_judge_model: ClassVar[str | None] = None

    def probe(self, row: dict, episode: Episode, condition: Condition) -> Probe:
        """Render one probe for a condition: only in-context puts the episode text in the prompt."""
        return Probe(
            probe_id=row["probe_id"],
            episode_id=row["episode_id"],
            question=row["question"],
            answer_prefix=row["answer_prefix"] or "",
            context=episode.text if condition is Condition.IN_CONTEXT else None,
            max_new_tokens=int(row["max_new_tokens"]),
            choices=row.get("choices"),
            gold=row.get("gold"),
            meta=json.loads(row["meta"] or "{}"),
        )
