"""Lockers: the worked example of docs/architecture.md, a whole task family in one module.

The context lists what each of N lockers holds ("Locker 417 holds a chess set."); each probe asks what
one locker holds. Recall gets harder as N grows, so `lockers` is the family's length axis. Scoring is
the suite's `contains_any`: the gold item's words appear in the answer. The random baseline picks one
of the ITEMS, so its expected score (the probes' `chance`) is 1 / len(ITEMS).

A real family keeps its word banks in a data file beside it (content is data); eight items fit here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from longbench_suite import schemas
from longbench_suite.errors import UserError
from longbench_suite.task import TaskFamily, param

ITEMS = ("a red umbrella", "a chess set", "a violin case", "a bag of oranges",
         "a pair of skis", "a brass lamp", "a stack of letters", "a toolbox")


@dataclass
class LockersParams:
    lockers: list[int] = param([8, 32], "lockers listed per episode (the length axis)")
    samples: int = param(4, "episodes per number of lockers")
    questions: int = param(2, "probes per episode, each about another locker")

    def validate(self) -> None:
        if min(self.lockers) < 1 or max(self.lockers) > 900:
            raise UserError("lockers must be between 1 and 900")
        if self.samples < 1 or self.questions < 1:
            raise UserError("samples and questions must be at least 1")


class LockersFamily(TaskFamily):
    name = "lockers"
    version = "1"
    description = "lockers (example): what one of N lockers holds"
    variants = {"plain": "one line per locker, in random order"}
    Params = LockersParams

    def generate(self, variants: list[str], params: LockersParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        rng = random.Random(seed)  # every draw from one seeded stream: same seed, same bytes
        episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
        for variant in variants:
            for n in params.lockers:
                for sample in range(params.samples):
                    numbers = rng.sample(range(100, 1000), n)
                    held = [rng.choice(ITEMS) for _ in numbers]
                    text = "\n".join(f"Locker {k} holds {item}." for k, item in zip(numbers, held))
                    eid = f"lockers/{variant}/{n}/{sample}"
                    episodes.add(episode_id=eid, family=self.name, variant=variant, length=n,
                                 n_tokens=tokenizer.count(text), text=text, sessions=None, meta="{}")
                    for q, i in enumerate(rng.sample(range(n), min(params.questions, n))):
                        probes.add(
                            probe_id=f"{eid}/q{q}", episode_id=eid, family=self.name, variant=variant,
                            ability="recall", length=n, depth=100.0 * i / max(1, n - 1), bin=None,
                            question=f"What does locker {numbers[i]} hold?", answer_prefix=f"Locker {numbers[i]} holds",
                            gold=[held[i]], choices=list(ITEMS), metric="contains_any", chance=1 / len(ITEMS),
                            max_new_tokens=12, meta=json.dumps({"locker": numbers[i]}),
                        )
        return episodes.table(), probes.table()


FAMILY = LockersFamily()
