"""Joint recall as HAX's integer sequences: for training small sequence models (Mamba, hybrids) on the task.

The layout is HAX's (DeepGraphLearning/HAX, `scripts/create_dataset.py`, read at 73d3c18):
- special tokens BOS = 1, PAD = 3, SEP = 4; symbols start at 10 (HAX's bias): first the n_value
  values, then max_n_key keys, then max_n_ctx contexts. So value v is 10 + v, key k is
  10 + n_value + k and context c is 10 + n_value + max_n_key + c: the key and context bases move
  with n_value, and the context base with max_n_key (at the defaults, 16 each: 10, 26, 42).
- a sequence is BOS; pass 1: each context (random order), its id, then its (key, value) pairs (a
  fresh random key order per block); SEP; pass 2: the same table in new random orders; then PAD up
  to 2 * max_n_ctx * (2 * max_n_key + 1) + 2 (1058 at the defaults), the length of two full passes.
- `mask` is 1 at pass 2's key tokens: HAX's trainer predicts token i + 1 (the value of that key in
  that context) wherever mask[i] = 1, and scores each sequence by the fraction predicted right.
- columns `inputs` (int32 lists) and `mask` (int8 lists), every row padded to the same length, as
  HAX's collate reads them (it stacks both columns of a batch into tensors); extra columns (episode_id,
  n_ctx, n_key, length) ride along and are ignored by it.

Two sources. `token_sequences` turns a joint-recall dataset's episodes (the items an LLM is evaluated
on) into sequences, one per episode. `write_grid` makes HAX's own training data: every (n_ctx, n_key)
in min_n..max_n_ctx x min_n..max_n_key (HAX: 5..16 each), `train` sequences per pair in the train split
and `test` in each of validation and test (HAX: 10,000 and 100, so 1.44M / 14.4k / 14.4k), rows in
HAX's order (sample index outermost, then n_ctx, then n_key: HAX's trainer does not shuffle), and
no sequence twice: a draw equal to any earlier sequence, in any split, is drawn again (HAX compares
whole sequences; we compare 64-bit digests, where equal sequences always match and a false match
only costs a redraw). Draws are ours (numpy, seeded), so the sequences are not HAX's files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_builders.haystack import derive_seed
from longbench_suite.errors import UserError

BOS, PAD, SEP = 1, 3, 4
BIAS = 10  # HAX's first symbol id
MIN_N = 5  # HAX's grid starts at 5 contexts and 5 keys
SPLITS = ("train", "validation", "test")  # the split names HAX's trainer asks its DatasetDict for
FORMAT = "hax-1"  # recorded in layout.json; changes when the sequences for a seed change
CHUNK = 64  # sample indices drawn at once per (n_ctx, n_key): fixed, so the draws depend on the seed only
MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Layout:
    n_value: int = 16
    max_n_ctx: int = 16
    max_n_key: int = 16

    @property
    def key_base(self) -> int:
        return BIAS + self.n_value

    @property
    def context_base(self) -> int:
        return BIAS + self.n_value + self.max_n_key

    @property
    def padded_length(self) -> int:
        return 2 * self.max_n_ctx * (2 * self.max_n_key + 1) + 2

    def check(self) -> None:
        if self.n_value < 2 or self.max_n_ctx < 1 or self.max_n_key < 1:
            raise UserError("n_value must be at least 2, max_n_ctx and max_n_key at least 1")

    def fits(self, n_ctx: int, n_key: int, n_value: int, what: str) -> None:
        if n_value != self.n_value:
            raise UserError(f"{what} has {n_value} values; the layout has {self.n_value} (one layout per export)")
        if n_ctx > self.max_n_ctx:
            raise UserError(f"{what} has {n_ctx} contexts: the layout holds at most {self.max_n_ctx} (--max-n-ctx)")
        if n_key > self.max_n_key:
            raise UserError(f"{what} has {n_key} keys: the layout holds at most {self.max_n_key} (--max-n-key)")

    def describe(self) -> dict:
        """layout.json's description of the ids."""
        return {
            "bos": BOS, "pad": PAD, "sep": SEP, "n_value": self.n_value, "max_n_ctx": self.max_n_ctx,
            "max_n_key": self.max_n_key, "values": [BIAS, self.key_base - 1],
            "keys": [self.key_base, self.context_base - 1],
            "contexts": [self.context_base, self.context_base + self.max_n_ctx - 1],
            "padded_length": self.padded_length, "columns": {"inputs": "int32", "mask": "int8"},
            "vocab_size": self.context_base + self.max_n_ctx,  # the smallest that holds every id (HAX's configs: 100)
            "mask": "1 at the second pass's key tokens: predict the next token, the value of (context, key)",
            "format": FORMAT,
        }


def _schema() -> pa.Schema:
    return pa.schema([
        ("episode_id", pa.string()),
        ("n_ctx", pa.int16()),
        ("n_key", pa.int16()),
        ("length", pa.int32()),
        ("inputs", pa.list_(pa.int32())),
        ("mask", pa.list_(pa.int8())),
    ])


def _table(eids: list[str], n_ctx: np.ndarray, n_key: np.ndarray, inputs: np.ndarray, mask: np.ndarray) -> pa.Table:
    """Rows of equal padded length, as list columns built from the flat arrays (no per-row Python)."""
    rows, width = inputs.shape
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
    length = 2 * n_ctx.astype(np.int32) * (2 * n_key.astype(np.int32) + 1) + 2
    return pa.Table.from_arrays([
        pa.array(eids, pa.string()),
        pa.array(n_ctx, pa.int16()),
        pa.array(n_key, pa.int16()),
        pa.array(length, pa.int32()),
        pa.ListArray.from_arrays(offsets, pa.array(inputs.reshape(-1), pa.int32())),
        pa.ListArray.from_arrays(offsets, pa.array(mask.reshape(-1), pa.int8())),
    ], schema=_schema())


def _mask(layout: Layout, n_ctx: int, n_key: int) -> np.ndarray:
    """The mask depends on the shape only: pass 2's key positions."""
    block = 1 + 2 * n_key
    start = 2 + n_ctx * block  # BOS, pass 1, SEP
    mask = np.zeros(layout.padded_length, np.int8)
    for j in range(n_ctx):
        mask[start + j * block + 1 : start + (j + 1) * block : 2] = 1
    return mask


def _sequences(layout: Layout, tables: np.ndarray, ctx_orders: list[np.ndarray], key_orders: list[np.ndarray]) -> np.ndarray:
    """Padded sequences for a batch: tables (B, n_ctx, n_key) of values; per pass, the context order
    (B, n_ctx) and each listed block's key order (B, n_ctx, n_key)."""
    b, n_ctx, n_key = tables.shape
    out = np.full((b, layout.padded_length), PAD, np.int32)
    out[:, 0] = BOS
    pos = 1
    for p, (co, ko) in enumerate(zip(ctx_orders, key_orders)):
        if p == 1:
            out[:, pos] = SEP
            pos += 1
        values = np.take_along_axis(np.take_along_axis(tables, co[:, :, None], axis=1), ko, axis=2)
        block = np.empty((b, n_ctx, 1 + 2 * n_key), np.int32)
        block[:, :, 0] = layout.context_base + co
        block[:, :, 1::2] = layout.key_base + ko
        block[:, :, 2::2] = BIAS + values
        out[:, pos : pos + block[0].size] = block.reshape(b, -1)
        pos += block[0].size
    return out


def token_sequences(episodes: pa.Table, layout: Layout = Layout()) -> pa.Table:
    """A joint-recall dataset's episodes as sequences (one per episode, in its table and its two orders)."""
    layout.check()
    rows = episodes.select(["episode_id", "meta"]).to_pylist()
    eids, n_ctxs, n_keys, inputs, masks = [], [], [], [], []
    for row in rows:
        meta = json.loads(row["meta"])
        n_ctx, n_key = meta["n_ctx"], meta["n_key"]
        layout.fits(n_ctx, n_key, meta["n_value"], f"episode {row['episode_id']}")
        orders = meta["orders"]
        co = [np.array([[c for c, _ in o]]) for o in orders]
        ko = [np.array([[ks for _, ks in o]]) for o in orders]
        inputs.append(_sequences(layout, np.array([meta["table"]]), co, ko)[0])
        masks.append(_mask(layout, n_ctx, n_key))
        eids.append(row["episode_id"])
        n_ctxs.append(n_ctx)
        n_keys.append(n_key)
    width = layout.padded_length
    return _table(eids, np.array(n_ctxs, np.int16), np.array(n_keys, np.int16),
                  np.array(inputs, np.int32).reshape(-1, width), np.array(masks, np.int8).reshape(-1, width))


# --- HAX's grid ---------------------------------------------------------------------------------


def _draw(layout: Layout, n_ctx: int, n_key: int, count: int, rng: np.random.Generator) -> np.ndarray:
    tables = rng.integers(0, layout.n_value, (count, n_ctx, n_key))
    ctx_orders = [rng.permuted(np.tile(np.arange(n_ctx), (count, 1)), axis=1) for _ in range(2)]
    key_orders = [rng.permuted(np.tile(np.arange(n_key), (count, n_ctx, 1)), axis=2) for _ in range(2)]
    return _sequences(layout, tables, ctx_orders, key_orders)


class _Seen:
    """Digests of every sequence written so far, across splits."""

    def __init__(self, width: int):
        # Random odd 64-bit weights: a digest is a weighted sum mod 2**64, one vector op per batch.
        self.weights = np.random.default_rng(0x4A58).integers(0, 2**63, width, dtype=np.uint64) * 2 + 1
        self.digests: set[int] = set()

    def digest(self, seqs: np.ndarray) -> list[int]:
        return (seqs.astype(np.uint64) * self.weights).sum(axis=1, dtype=np.uint64).tolist()

    def add(self, d: int) -> bool:
        if d in self.digests:
            return False
        self.digests.add(d)
        return True


def grid_pairs(layout: Layout, min_n: int = MIN_N) -> list[tuple[int, int]]:
    return [(c, k) for c in range(min_n, layout.max_n_ctx + 1) for k in range(min_n, layout.max_n_key + 1)]


def write_grid(out: Path, layout: Layout, train: int, test: int, seed: int, min_n: int = MIN_N) -> dict[str, int]:
    """HAX's three splits as `train.parquet`, `validation.parquet`, `test.parquet` in `out` (an
    existing, empty directory); returns the rows per split."""
    layout.check()
    if not 1 <= min_n <= min(layout.max_n_ctx, layout.max_n_key):
        raise UserError(f"min_n must be between 1 and max_n_ctx, max_n_key; got {min_n}")
    if train < 1 or test < 0:
        raise UserError("train must be at least 1 and test at least 0 sequences per (n_ctx, n_key)")
    pairs = grid_pairs(layout, min_n)
    masks = np.stack([_mask(layout, c, k) for c, k in pairs])
    seen = _Seen(layout.padded_length)
    counts = {}
    for split, size in zip(SPLITS, (train, test, test)):
        rngs = [np.random.default_rng(derive_seed("hax", seed, split, c, k)) for c, k in pairs]
        redraw = np.random.default_rng(derive_seed("hax", seed, split, "redraw"))
        with pq.ParquetWriter(out / f"{split}.parquet", _schema(), compression="zstd") as writer:
            for first in range(0, size, CHUNK):
                n = min(CHUNK, size - first)
                # (n, pairs, width): sample index outermost, then n_ctx, then n_key, as HAX writes rows.
                seqs = np.stack([_draw(layout, c, k, n, r) for (c, k), r in zip(pairs, rngs)], axis=1)
                seqs = seqs.reshape(n * len(pairs), -1)
                for row, d in enumerate(seen.digest(seqs)):
                    if not seen.add(d):
                        seqs[row] = _fresh(layout, *pairs[row % len(pairs)], redraw, seen)
                eids = [f"hax/{split}/{first * len(pairs) + i}" for i in range(len(seqs))]
                shape = np.array(pairs * n, np.int16)
                writer.write_table(_table(eids, shape[:, 0], shape[:, 1], seqs, np.tile(masks, (n, 1))))
        counts[split] = size * len(pairs)
    return counts


def _fresh(layout: Layout, n_ctx: int, n_key: int, rng: np.random.Generator, seen: _Seen) -> np.ndarray:
    """A sequence of this shape not written before (HAX's redraw on a duplicate)."""
    for _ in range(MAX_REDRAWS):
        seq = _draw(layout, n_ctx, n_key, 1, rng)
        if seen.add(seen.digest(seq)[0]):
            return seq[0]
    raise UserError(
        f"cannot draw another distinct sequence of {n_ctx} contexts x {n_key} keys with {layout.n_value} values: "
        "ask for fewer sequences per (n_ctx, n_key)"
    )
