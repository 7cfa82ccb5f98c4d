"""The demo's console tables (issue 20): they fit an 80-column terminal without breaking a word, and
M4LE gets one row per (task, metric) instead of one per system x variant x metric (40 rows for 10
probes). Real runs of the baselines on the demo's own M4LE and LongMemEval parameters."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from longbench_suite import demo
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Condition
from longbench_suite.report import load_aggregates
from runners.local import RunConfig, run

# The demo's four M4LE runs, with baselines in place of the served model (same names and conditions).
PLAN = [("oracle", Condition.IN_CONTEXT), ("oracle", Condition.NO_CONTEXT), ("no-context:random", Condition.IN_CONTEXT),
        ("random", Condition.IN_CONTEXT)]


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("demo")
    runs = []
    for family, variants, params in (("m4le", demo.M4LE_VARIANTS, demo.M4LE_PARAMS),
                                     ("longmemeval", demo.LME_VARIANTS, demo.LME_PARAMS)):
        generate_dataset(family, root / family, variants, params, seed=0, tokenizer="approx")
        for i, (spec, condition) in enumerate(PLAN):
            out = root / "runs" / family / str(i)
            run(RunConfig(dataset=root / family, system=spec, out=out, condition=condition, use_cache=False))
            runs.append(out)
    console = Console(width=80, record=True)
    demo.print_summary(load_aggregates(runs), console)
    return console.export_text(), root


def _table(text: str, title: str) -> list[str]:
    """The body rows of the table titled `title` (after its header rule, up to the blank line)."""
    lines = [line.rstrip() for line in text.splitlines()]
    start = lines.index(title)
    rule = next(i for i in range(start, len(lines)) if lines[i].startswith("─"))
    end = lines.index("", rule)
    return lines[rule + 1:end]


def test_m4le_has_one_row_per_task_and_metric(printed):
    text, root = printed
    probes = pl.read_parquet(root / "m4le" / "probes.parquet")
    pairs = probes.select("variant", "metric").unique().sort("variant", "metric").rows()
    rows = _table(text, "m4le: score x100 by task and metric")
    assert [tuple(r.split()[:2]) for r in rows] == pairs  # e.g. 5-6 rows, not 40
    assert len(_table(text, "m4le: score x100 by length")) == len(PLAN)  # one per run
    abilities = sorted(probes.get_column("ability").unique().to_list())
    assert [r.split()[0] for r in _table(text, "m4le: score x100 by ability")] == [*abilities, "task-averaged"]


def test_nothing_wraps_or_is_cut_at_80_columns(printed):
    text, root = printed
    assert max(map(len, text.splitlines())) <= 80
    assert "…" not in text
    words = set()
    for family in ("m4le", "longmemeval"):
        probes = pl.read_parquet(root / family / "probes.parquet")
        words |= set(probes.get_column("ability").to_list())
        if family == "m4le":  # LongMemEval has one metric: no metric column
            words |= set(probes.get_column("metric").to_list())
    tokens = set(text.split())
    assert words <= tokens, words - tokens  # every name whole, on one line
    # Runs are told apart in the headers: the condition appears where one system ran under two.
    header = _table(text, "m4le: score x100 by ability")
    lines = [line.rstrip() for line in text.splitlines()]
    head = lines[lines.index("m4le: score x100 by ability") + 1: lines.index("m4le: score x100 by ability") + 4]
    assert "in-context" in " ".join(head) and "no-context" in " ".join(head) and len(header) == 6


def test_longmemeval_abilities_and_task_average(printed):
    text, _ = printed
    rows = {r.split()[0]: r.split()[1:] for r in _table(text, "longmemeval: score x100 by ability")}
    assert len(rows) == 7 and rows["task-averaged"][1:3] == ["100.0", "100.0"]  # the oracle (runs sorted by system)
    assert "longmemeval: score x100 by task" in text  # oracle and haystack variants, one metric: no metric column
