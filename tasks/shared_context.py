"""Shared context: one long context, several queries over it (SCBench, Li et al. 2024).

SCBench (SharedContextBench; code in microsoft/MInference, scbench/) measures memory across the life of
a shared context: the context is read once and then queried several times, either as a multi-turn
conversation (each turn sees the earlier turns with their reference answers) or as independent
requests over the same context. Its finding is that memories smaller than the context (SSMs, linear
attention, KV dropping) hold up in the first turn and fail in later ones, so scores are reported by
turn: each probe's `bin` is "turn N" (aggregates by variant x bin give the per-turn table), and its
meta says `turn`. How the turns are asked is the run's choice (`lbs run --mode`, longbench_suite/turns.py):
multi-turn by default, as SCBench's.

The data is ours, generated offline from a seed in SCBench's four categories (the `ability` column):
  string retrieval     kv (values of uuid keys in a JSON object), prefix_suffix (the string with a given
                       prefix and suffix), vt (RULER's variable tracking: every variable bound to a value)
  semantic retrieval   code_retrieval (reproduce the described function of a body of real Python source:
                       the standard library's own), doc_qa (questions over generated documents)
  global information   math_find (largest / smallest / median of a long list), cwe and fwe (RULER's common-
                       and frequent-word extraction), many_shot (in-context classification from many examples)
  multi-task           multi_task (code retrieval and kv over one context, alternating, as SCBench's
                       repoqa_and_kv)
Each variant's generator (tasks/_shared_context_*.py) makes one context of about the requested tokens
and up to `turns` queries about different parts of it; the scorers are SCBench's (metrics `scbench_*`,
longbench_suite/scbench_metrics.py), RULER's string_match_all for cwe and fwe. SCBench's released files
import as this family too (`lbs import scbench`, data_builders/scbench.py; variants named as its configs).

Length convention (RULER's, as the needle family): the last turn's whole prompt (context, the earlier
turns with their answers, the question) plus its answer budget fits `length` tokens of the dataset's
tokenizer, so a task of length L fits a window of L.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from data_builders.haystack import derive_seed
from longbench_suite import metrics, schemas
from longbench_suite.errors import UserError
from longbench_suite.task import PROBE_TOKENS, SizeEstimate, TaskFamily, param
from longbench_suite.tokens import TokenCounter


@dataclass
class Query:
    """One turn: what is asked, how it is scored, and what later turns see as its answer."""

    question: str  # the turn's text; a task's instruction for the turn goes here
    gold: list[str]  # what the metric compares the output with
    metric: str  # a name in longbench_suite.metrics.METRICS
    reference: str  # the reference answer later turns carry in their history
    max_new_tokens: int
    choices: list[str] | None = None  # the random baseline's pool; `chance` is computed from it
    meta: dict[str, Any] = field(default_factory=dict)  # facts for the oracle and for reading results


@dataclass
class Shared:
    """A shared context and its queries, in turn order."""

    context: str
    queries: list[Query]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    """What a generator fills: `tokens` of context, counted with `counter` (the dataset's tokenizer)."""

    tokens: int
    counter: TokenCounter


# A generator: (seeded rng, the context's budget, number of turns) -> the context and its queries.
Generator = Callable[[random.Random, Budget, int], Shared]

CATEGORIES = {
    "kv": "string retrieval",
    "prefix_suffix": "string retrieval",
    "vt": "string retrieval",
    "code_retrieval": "semantic retrieval",
    "doc_qa": "semantic retrieval",
    "math_find": "global information",
    "cwe": "global information",
    "fwe": "global information",
    "many_shot": "global information",
    "multi_task": "multi-task",
}

TURN_BIN = "turn {}"  # the probes' bin: aggregates by variant x bin are SCBench's per-turn table
REPOQA = "scbench_repoqa"
TEMPLATE_TOKENS = 16  # what a chat template adds around the turns, kept free of the length
MIN_CONTEXT_TOKENS = 64
FIT_ATTEMPTS = 8  # draws of one context before settling for the fullest that fits


def generators() -> dict[str, Generator]:
    """variant -> its generator (imported here: each module holds one category's generators)."""
    from . import _shared_context_semantic as semantic
    from . import _shared_context_synthetic as synthetic

    made = {**synthetic.GENERATORS, **semantic.GENERATORS}
    made["multi_task"] = lambda rng, budget, turns: alternate(
        [semantic.GENERATORS["code_retrieval"], synthetic.GENERATORS["kv"]], rng, budget, turns)
    return made


def alternate(parts: list[Generator], rng: random.Random, budget: Budget, turns: int) -> Shared:
    """Several tasks over one context: each fills an equal share of the budget; the contexts are joined
    and the turns alternate between the tasks (SCBench's repoqa_and_kv: code and a JSON object)."""
    share = Budget(tokens=budget.tokens // len(parts), counter=budget.counter)
    made = [part(rng, share, -(-turns // len(parts))) for part in parts]
    queries = [q for group in zip(*(m.queries for m in made)) for q in group][:turns]
    return Shared(context="\n\n".join(m.context for m in made), queries=queries,
                  meta={"tasks": [m.meta for m in made]})


@dataclass
class SharedContextParams:
    lengths: list[int] = param([4096], "prompt lengths in tokens (the last turn's prompt and answer)", size=True)
    samples: int = param(4, "contexts per variant and length")
    turns: int = param(5, "queries per context, asked in order (SCBench: up to 5)")

    def validate(self) -> None:
        if min(self.lengths) < 512:
            raise UserError("lengths must be at least 512 tokens")
        if self.samples < 1:
            raise UserError("samples must be at least 1")
        if not 1 <= self.turns <= 20:
            raise UserError("turns must be between 1 and 20")


class SharedContextFamily(TaskFamily):
    name = "shared_context"
    version = "1"
    description = "shared context (SCBench): one long context, several queries, multi-turn or multi-request"
    variants = {
        "kv": "string retrieval: the values of uuid keys in a JSON object",
        "prefix_suffix": "string retrieval: the string that has a given prefix and suffix",
        "vt": "string retrieval: every variable bound to a value through chains of assignments (RULER's VT)",
        "code_retrieval": "semantic retrieval: reproduce the described function of real Python source",
        "doc_qa": "semantic retrieval: questions over generated documents",
        "math_find": "global information: the largest, smallest or median number of a long list",
        "cwe": "global information: the most common words of a list (RULER's CWE)",
        "fwe": "global information: the most frequent words of a coded text (RULER's FWE)",
        "many_shot": "global information: classify an input from many labelled examples",
        "multi_task": "multi-task: code retrieval and kv retrieval over one context, turns alternating",
    }
    Params = SharedContextParams

    def estimate(self, params: SharedContextParams, variants: list[str]) -> SizeEstimate:
        """One context per variant x length x sample, each asked `turns` times; all held until written."""
        contexts = max(1, len(variants)) * params.samples
        tokens = contexts * sum(params.lengths)
        items = contexts * len(params.lengths) * params.turns
        return SizeEstimate(tokens=tokens, items=items, held_tokens=tokens + items * PROBE_TOKENS)

    def generate(self, variants: list[str], params: SharedContextParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        made = generators()
        episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
        for variant in variants:
            for length in params.lengths:
                for sample in range(params.samples):
                    rng = random.Random(derive_seed(seed, self.name, variant, length, sample))
                    shared = fit(made[variant], rng, length, params.turns, tokenizer)
                    self._add(episodes, probes, variant, length, sample, shared, tokenizer)
        return episodes.table(), probes.table()

    def score(self, output: str, row: dict, choice_logprobs: dict[str, float] | None = None) -> dict[str, float]:
        """SCBench's scorers by the probe's metric; code retrieval compares the answer with every candidate
        function of the context (meta `candidates`), as SCBench's repoqa does with those of a repository."""
        if row["metric"] != REPOQA:
            return super().score(output, row, choice_logprobs)
        from longbench_suite.scbench_metrics import repoqa_score

        source, name = row["gold"][0], row["gold"][1]
        meta = json.loads(row["meta"] or "{}")
        candidates = meta.get("candidates") or [[name, source]]
        return {REPOQA: repoqa_score(output, name, [(c[0], c[1]) for c in candidates], lang=meta.get("lang") or "python")}

    def _add(self, episodes: Any, probes: Any, variant: str, length: int, sample: int, shared: Shared,
             tokenizer: TokenCounter) -> None:  # fmt: skip
        eid = f"{self.name}/{variant}/{length}/{sample}"
        episodes.add(episode_id=eid, family=self.name, variant=variant, length=length,
                     n_tokens=tokenizer.count(shared.context), text=shared.context, sessions=None,
                     meta=json.dumps(shared.meta, sort_keys=True))
        for turn, q in enumerate(shared.queries, start=1):
            probes.add(
                probe_id=f"{eid}/t{turn}", episode_id=eid, family=self.name, variant=variant,
                ability=CATEGORIES[variant], length=length, depth=None, bin=TURN_BIN.format(turn),
                question=q.question, answer_prefix="", gold=q.gold, choices=q.choices, metric=q.metric,
                chance=metrics.chance_of(q.metric, q.choices or [], q.gold), max_new_tokens=q.max_new_tokens,
                meta=json.dumps({**q.meta, "turn": turn, "reference": q.reference}, sort_keys=True),
            )


def conversation_tokens(shared: Shared, counter: TokenCounter) -> int:
    """Tokens of the last turn's prompt and answer budget, beyond the context: every question, every
    earlier reference answer, the separators between them, and the last answer budget."""
    if not shared.queries:
        raise UserError("this context is too small to ask anything about: give a larger length")
    texts = [q.question for q in shared.queries] + [q.reference for q in shared.queries[:-1]]
    return sum(counter.count_batch(texts)) + 2 * len(texts) + shared.queries[-1].max_new_tokens


def fit(generator: Generator, rng: random.Random, length: int, turns: int, counter: TokenCounter) -> Shared:
    """Generate with the context's budget set so the whole conversation fits `length`: a first draw
    measures the conversation's own tokens, the next (from the same rng state) fills what is left. A new
    budget may draw other items to ask about (functions of other lengths, more turns), so each draw is
    measured whole and the budget corrected by what it missed, keeping the fullest draw that fits."""
    state = rng.getstate()
    guess = generator(rng, Budget(tokens=length // 2, counter=counter), turns)
    spare = length - conversation_tokens(guess, counter) - TEMPLATE_TOKENS
    best, best_total = None, 0
    for attempt in range(FIT_ATTEMPTS):
        if spare < MIN_CONTEXT_TOKENS:
            break
        rng.setstate(state)
        try:
            made = generator(rng, Budget(tokens=spare, counter=counter), turns)
        except UserError:  # a part of the context too small for even one item (multi_task's halves)
            made = Shared(context="", queries=[])
        if not made.queries:  # too small a context to hold anything to ask about: try a larger one
            spare += length // 16
            continue
        total = counter.count(made.context) + conversation_tokens(made, counter) + TEMPLATE_TOKENS
        if best_total < total <= length:
            best, best_total = made, total
        if length - length // 50 <= total <= length:
            break
        # over: take the excess off, and a margin that grows (another draw asks other items); under: add the gap
        spare += length - total - (attempt * length // 64 if total > length else 0)
    if best is None:
        raise UserError(f"length {length} is too small for {turns} turns of this task: its questions and answers "
                        "alone take most of it")
    return best


FAMILY = SharedContextFamily()
