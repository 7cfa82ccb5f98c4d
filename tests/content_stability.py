"""What the content generators write, as hashes: moving prose and word banks from Python into data files
must not change one byte of any dataset (issue 24). tests/test_content_stable.py compares against
tests/data/content_hashes.json; after a deliberate content change (with a generator version bump), refresh it:

    .venv/bin/python tests/content_stability.py --update
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
from pathlib import Path

EXPECTED = Path(__file__).parent / "data" / "content_hashes.json"
# Default dataset of every family, plus longer/larger ones that draw on more of the banks.
DATASETS: dict[str, tuple[str, list[str]]] = {
    "joint-recall": ("joint-recall", []),
    "longmemeval": ("longmemeval", []),
    "longmemeval-32k": ("longmemeval", ["samples=4", "lengths=32k"]),
    "m4le": ("m4le", []),
    "needle": ("needle", []),
    "sort": ("sort", []),
    "shared_context": ("shared_context", ["samples=2"]),
}
# Variants whose data is not ours alone: code_retrieval (and multi_task, which holds it) read the running
# Python's standard library, so their hash belongs to a Python version (tests/test_shared_context*.py).
LEFT_OUT = {"shared_context": {"code_retrieval", "multi_task"}}


def _sha(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def builder_hashes() -> dict[str, str]:
    """The builders' own outputs, over many seeds (every topic, question type and scenario drawn)."""
    from data_builders.conversations import TOPICS, filler_session
    from data_builders.lme_items import QUESTION_TYPES, draw_persona, make_item, scenario_names
    from data_builders.narrative import narrative
    from data_builders.news_corpus import news_articles

    out = {"narrative": _sha([narrative(seed, 6000) for seed in range(4)]),
           "news": _sha(news_articles(3, 400)),
           "filler": _sha([filler_session(random.Random(i), topic) for topic in TOPICS for i in range(12)])}
    items = []
    for qtype in QUESTION_TYPES:
        for i in range(6 * max(1, len(scenario_names(qtype)))):
            rng = random.Random(f"{qtype}/{i}")
            item = make_item(qtype, i % 5 == 4 and qtype != "single-session-preference", draw_persona(rng), rng)
            items.append(repr(item))
    out["lme_items"] = _sha(items)
    return out


def dataset_hashes() -> dict[str, str]:
    from longbench_suite.generate import generate_dataset
    from longbench_suite.registry import task_family

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (family, params) in DATASETS.items():
            path = Path(tmp) / label
            variants = [v for v in task_family(family).variants if v not in LEFT_OUT.get(family, ())]
            generate_dataset(family, path, variants, params, seed=0, tokenizer="approx")
            out[label] = json.loads((path / "manifest.json").read_text())["content_hash"]
    return out


def current() -> dict[str, str]:
    return {**{f"dataset/{k}": v for k, v in dataset_hashes().items()},
            **{f"builder/{k}": v for k, v in builder_hashes().items()}}


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/content_stability.py --update")
    EXPECTED.write_text(json.dumps(current(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED}")
