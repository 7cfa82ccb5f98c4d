"""Joint recall: a value depends on a key AND the context it was given in (the HAX paper).

Each episode draws a random table (context, key) -> value over n_ctx contexts, n_key keys and n_value
values, lists it block by block (each context in random order, followed by its key-value pairs in
random order; optionally a second pass in a new order, as the paper's sequences have), and asks
n_queries (context, key) pairs: multi-query joint recall. n_ctx = 1 is plain associative recall.
The paper proves SSMs cannot solve multi-query joint recall in sub-quadratic time: the sharpest probe
of a fixed-size memory state.

For LLMs the listing is text ("Context Amber: lantern -> 7, harbor -> 3.") padded with filler prose to
a target length in tokens (RULER's convention: the prompt holds `length - max_new_tokens` tokens);
the answer is the bare value, scored by `first_word_match`; the per-episode fraction correct (the
paper's metric) is the mean over an episode's queries, and every episode has the same number, so the
aggregate mean is the paper's average. Aggregates: `bin` = "ctxNN-keyNN", `length`, `ability`
(associative-recall when n_ctx = 1, else joint-recall).

The same items export as integer sequences in the HAX layout (tasks/_hax_tokens.py), for training
small sequence models on exactly what an LLM is evaluated on; HAX's own training grid exports too.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from data_builders.haystack import derive_seed, load_haystack, word_list
from longbench_suite import schemas
from longbench_suite.errors import UserError
from longbench_suite.task import PIECE_TOKENS, SizeEstimate, TaskFamily, param
from longbench_suite.tokens import load_tokenizer

METRIC = "first_word_match"
SEP = "\n\n"
INSTRUCTION = (
    "Below, keys are given values inside named contexts. The same key can have a different value in each "
    "context. Remember every value: afterwards you will be asked for the value of a key in a given context."
)
SECOND_PASS = "The same contexts once more, in another order:"


@dataclass
class JointRecallParams:
    n_ctx: list[int] = param([1, 2, 4, 8], "numbers of contexts (1 = associative recall)")
    n_key: list[int] = param([8], "numbers of keys per context")
    n_value: int = param(16, "number of distinct values (random guessing scores 1/n_value)")
    n_queries: int = param(8, "queries per episode (multi-query recall)")
    samples: int = param(10, "episodes per n_ctx x n_key x length")
    lengths: list[int] = param([2048], "prompt lengths in tokens, answer budget included; filler prose fills up", size=True)
    two_pass: bool = param(False, "list every context twice, the second time in a new order (the paper's sequences)")
    filler: str = param("essay", "filler prose: essay (seeded grammar) or noise")
    max_new_tokens: int = param(8, "answer budget in tokens, part of each length")

    def validate(self) -> None:
        if min(self.n_ctx) < 1 or min(self.n_key) < 1 or self.n_value < 2:
            raise UserError("n_ctx and n_key must be at least 1, n_value at least 2")
        if self.n_queries < 1 or self.samples < 1 or self.max_new_tokens < 1:
            raise UserError("n_queries, samples and max_new_tokens must be at least 1")
        if self.n_queries > min(self.n_ctx) * min(self.n_key):
            raise UserError(f"n_queries ({self.n_queries}) exceeds the smallest table ({min(self.n_ctx)} x {min(self.n_key)} pairs)")
        if self.filler not in ("essay", "noise"):
            raise UserError("filler must be essay or noise")


@cache
def _pool(variant: str, kind: str) -> tuple[str, ...]:
    """Every name a symbol vocabulary has for contexts or keys (built once, sampled per episode)."""
    if variant == "words":
        return tuple(w.capitalize() for w in word_list("adjectives")) if kind == "context" else word_list("nouns")
    if variant == "ids":
        return tuple(f"C{i:02d}" for i in range(100)) if kind == "context" else tuple(f"k{i:03d}" for i in range(1000))
    return tuple(map(str, range(10, 100))) if kind == "context" else tuple(map(str, range(100, 1000)))


def _check_pools(variants: list[str], params: "JointRecallParams") -> None:
    for variant in variants:
        for kind, n in (("context", max(params.n_ctx)), ("key", max(params.n_key))):
            if n > len(_pool(variant, kind)):
                raise UserError(f"variant {variant} has {len(_pool(variant, kind))} {kind} names; n_{'ctx' if kind == 'context' else 'key'}={n} is too many")


class JointRecallFamily(TaskFamily):
    name = "joint-recall"
    version = "1"
    description = "joint recall (HAX): the value of a key in a given context; n_ctx = 1 is associative recall"
    variants = {
        "words": "contexts are capitalised adjectives, keys nouns",
        "ids": "contexts C07, keys k042",
        "numbers": "contexts and keys are numbers (values too: the hardest to keep apart)",
    }
    Params = JointRecallParams

    def estimate(self, params: JointRecallParams, variants: list[str]) -> SizeEstimate:
        """Each episode is as long as its length; pieces stream (one ~2^24-token piece held, with the
        filler pool of 1.25x the longest length)."""
        per_length = len(variants) * len(params.n_ctx) * len(params.n_key) * params.samples
        return SizeEstimate(tokens=per_length * sum(params.lengths), items=per_length * len(params.lengths) * params.n_queries,
                            held_tokens=PIECE_TOKENS + 9 * max(params.lengths) // 4)

    def generate(self, variants: list[str], params: JointRecallParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        pieces = list(self.generate_batches(variants, params, seed, tokenizer))
        if len(pieces) == 1:
            return pieces[0]
        return (pa.concat_tables([e for e, _ in pieces]).combine_chunks(),
                pa.concat_tables([p for _, p in pieces]).combine_chunks())

    def generate_batches(self, variants: list[str], params: JointRecallParams, seed: int,
                         tokenizer: Any) -> Iterator[tuple[pa.Table, pa.Table]]:
        """Episodes in pieces of ~2^24 tokens: a billion samples never sit in memory at once."""
        chosen = self.check_variants(variants)
        params.validate()
        _check_pools(chosen, params)
        counter = tokenizer or load_tokenizer(None)
        hay = load_haystack(params.filler, counter, seed, int(1.25 * max(params.lengths)))
        (instr_tokens, second_tokens) = counter.count_batch([INSTRUCTION, SEP + SECOND_PASS])
        episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
        held = 0
        for variant in chosen:
            for n_ctx in params.n_ctx:
                for n_key in params.n_key:
                    for length in params.lengths:
                        for i in range(params.samples):
                            rng = random.Random(derive_seed("joint-recall", seed, variant, n_ctx, n_key, length, i))
                            eid = f"joint-recall/{variant}/c{n_ctx}k{n_key}/{length}/{i}"
                            self._episode(episodes, probes, eid, variant, n_ctx, n_key, length, params, rng, counter, hay,
                                          instr_tokens, second_tokens)
                            held += length
                            if held >= PIECE_TOKENS:
                                yield episodes.table(), probes.table()
                                episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
                                held = 0
        if held or not chosen:
            yield episodes.table(), probes.table()

    def _episode(self, episodes, probes, eid, variant, n_ctx, n_key, length, params, rng, counter, hay,
                 instr_tokens, second_tokens) -> None:
        contexts, keys = rng.sample(_pool(variant, "context"), n_ctx), rng.sample(_pool(variant, "key"), n_key)
        table = [[rng.randrange(params.n_value) for _ in range(n_key)] for _ in range(n_ctx)]

        def order() -> list[list]:
            return [[c, rng.sample(range(n_key), n_key)] for c in rng.sample(range(n_ctx), n_ctx)]

        orders = [order(), order()]  # the second pass is always drawn: the token export has two passes
        blocks = [
            f"Context {contexts[c]}: " + ", ".join(f"{keys[k]} -> {table[c][k]}" for k in ks) + "."
            for o in orders[: 2 if params.two_pass else 1] for c, ks in o
        ]
        asked = rng.sample(range(n_ctx * n_key), params.n_queries)
        questions = [
            (f"In context {contexts[q // n_key]}, what is the value of {keys[q % n_key]}? Answer with the value only.",
             f"In context {contexts[q // n_key]}, the value of {keys[q % n_key]} is")
            for q in asked
        ]
        q_tokens = counter.count_batch([SEP + q + "\n" + a for q, a in questions])
        block_tokens = counter.count_batch([SEP + b for b in blocks])
        fixed = instr_tokens + sum(block_tokens) + (second_tokens if params.two_pass else 0) + max(q_tokens)
        # Seams: each filler chunk opens with a paragraph break the unit counts do not include.
        budget = length - params.max_new_tokens - fixed - 2 * (len(blocks) + 1)
        if budget < 0:
            raise UserError(
                f"length {length} is too small for {n_ctx} contexts x {n_key} keys "
                f"(the listing alone needs about {fixed + params.max_new_tokens} tokens)"
            )
        window = hay.window(rng.randrange(len(hay)), budget)
        units = hay.take(window.start, window.start + window.n_units)
        # Filler goes before, between and after the blocks, in near-equal runs of whole sentences.
        cuts = np.linspace(0, len(units), len(blocks) + 2).round().astype(int)
        chunks = ["".join(units[a:b]).strip() for a, b in zip(cuts, cuts[1:])]
        pieces = [INSTRUCTION, chunks[0]]
        for j, block in enumerate(blocks):
            if params.two_pass and j == n_ctx:
                pieces.append(SECOND_PASS)
            pieces += [block, chunks[j + 1]]
        text = SEP.join(p for p in pieces if p)
        meta = {
            "n_ctx": n_ctx, "n_key": n_key, "n_value": params.n_value, "two_pass": params.two_pass,
            "contexts": contexts, "keys": keys, "table": table, "orders": orders, "filler_tokens": window.n_tokens,
        }
        # Counted once, whole: the budget above is a sum of parts; this is what the context really holds.
        episodes.add(episode_id=eid, family=self.name, variant=variant, length=length, n_tokens=counter.count(text), text=text,
                     sessions=None, meta=json.dumps(meta))
        choices = [str(v) for v in range(params.n_value)]
        for j, (q, (question, prefix)) in enumerate(zip(asked, questions)):
            c, k = divmod(q, n_key)
            probes.add(
                probe_id=f"{eid}/q{j}", episode_id=eid, family=self.name, variant=variant,
                ability="associative-recall" if n_ctx == 1 else "joint-recall", length=length, depth=None,
                bin=f"ctx{n_ctx:02d}-key{n_key:02d}", question=question, answer_prefix=prefix, gold=[str(table[c][k])],
                choices=choices, metric=METRIC, chance=1.0 / params.n_value, max_new_tokens=params.max_new_tokens,
                meta=json.dumps({"context": c, "key": k, "n_ctx": n_ctx, "n_key": n_key}),
            )


FAMILY = JointRecallFamily()
