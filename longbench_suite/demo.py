"""`lbs demo`: the main job on a fresh machine, end to end in a few minutes on 2 CPU cores.

Two small datasets sized for the embedded model's 2,048-token window, then one report:
- needle: the embedded model in context, the same model with no context (the floor), the oracle
  (the ceiling) and random (chance);
- SORT on a generated narrative (never seen in pre-training): the embedded model in its three
  conditions (in-context, in-memory, no-context) scored by first-token log-probabilities as the
  paper scores, plus oracle and random. A plain LLM keeps nothing between requests, so its in-memory
  score is its no-context score: the gap a memory system has to close;
- LongMemEval, generated: one item per question type and one abstention item each, as the evidence
  sessions only (oracle) and among filler chats up to 1.5k tokens (haystack); the embedded model in
  context and with no context, scored by the deterministic scorer and judged by the same model as
  LongMemEval's LLM judge (a 135M judge is weak: it shows the protocol, not a trustworthy verdict);
- M4LE on the offline news corpus: one item per task type x ability in a 1.5k-token bucket; the
  embedded model in context and with no context, oracle and random;
- shared context (SCBench): kv retrieval, variable tracking and math over one context, three turns each;
  the embedded model as a multi-turn conversation (the earlier turns with their reference answers, the
  server's prefix cache reused turn after turn) and as independent requests, oracle and random; scores
  by turn.
The model is served once and shared by all of its runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .aggregate import TASK_AVERAGED
from .generate import generate_dataset
from .heatmap import fmt_len, pool
from .report import heatmaps, load_aggregates, print_checks

# Lengths include RULER's answer budget; the window is 2,048 tokens, so 1.5k leaves room for the
# +-2% length tolerance and the 32-token answer budget (needle answers are one number).
DEMO_PARAMS = ["lengths=512,1k,1536", "depths=0,50,100", "samples=1", "max_new_tokens=32"]
DEMO_VARIANTS = ["single_1", "single_2", "multikey_1"]
# 250- and 1000-word excerpts (~530 and ~1,700 prompt tokens with this tokenizer), 4 excerpts x 4
# distance bins each, 20-word segments: 32 probes per condition.
SORT_PARAMS = ["lengths=250,1000", "books=1", "book_words=4000", "excerpts=4", "heldout=0"]
SORT_VARIANTS = ["ls20"]
LME_PARAMS = ["samples=2", "abstention=1", "lengths=1536", "max_new_tokens=32"]
LME_VARIANTS = ["oracle", "haystack"]
M4LE_PARAMS = ["buckets=1536", "samples=1", "unit=tokens", "articles=120", "max_new_tokens=48"]
M4LE_VARIANTS = ["classification", "qa", "retrieval", "summarization"]
SC_PARAMS = ["lengths=1536", "samples=2", "turns=3"]
SC_VARIANTS = ["kv", "vt", "math_find"]


def run_demo(workdir: Path, concurrency: int, console: Console) -> None:
    from runners.local import RunConfig, run
    from runners.vllm_server import serve_model

    from . import io
    from .judge import judge_run
    from .protocol import Condition

    workdir = Path(workdir)
    t0 = time.monotonic()
    # Regenerated every time (about a second): an earlier demo's data may have other parameters.
    datasets = {
        "needle": generate_dataset("needle", workdir / "data" / "needle", DEMO_VARIANTS, DEMO_PARAMS, seed=0, tokenizer="embedded", overwrite=True),
        "sort": generate_dataset("sort", workdir / "data" / "sort", SORT_VARIANTS, SORT_PARAMS, seed=0, tokenizer="embedded", overwrite=True),
        "longmemeval": generate_dataset("longmemeval", workdir / "data" / "longmemeval", LME_VARIANTS, LME_PARAMS, seed=0,
                                        tokenizer="embedded", overwrite=True),
        "m4le": generate_dataset("m4le", workdir / "data" / "m4le", M4LE_VARIANTS, M4LE_PARAMS, seed=0, tokenizer="embedded",
                                 overwrite=True),
        "shared_context": generate_dataset("shared_context", workdir / "data" / "shared_context", SC_VARIANTS, SC_PARAMS,
                                           seed=0, tokenizer="embedded", overwrite=True),
    }
    for name, m in datasets.items():
        console.print(f"generated {m['counts']['probes']} {name} probes in {m['generation_s']:.1f}s -> {workdir / 'data' / name}")
    runs: list[Path] = []
    workdir.mkdir(parents=True, exist_ok=True)
    with serve_model("embedded", log_path=workdir / "vllm.log") as server:
        console.print(f"embedded model served by vLLM at {server.base_url}")
        endpoint = f"base_url={server.base_url}"
        plan = [  # (family, label, system spec, condition[, turn mode])
            ("needle", "embedded", f"embedded,{endpoint}", Condition.IN_CONTEXT),
            ("needle", "no-context", f"no-context:embedded,{endpoint}", Condition.IN_CONTEXT),
            ("needle", "oracle", "oracle", Condition.IN_CONTEXT),
            ("needle", "random", "random", Condition.IN_CONTEXT),
            ("sort", "embedded-in-context", f"embedded,{endpoint},logprobs=1", Condition.IN_CONTEXT),
            ("sort", "embedded-in-memory", f"embedded,{endpoint},logprobs=1", Condition.IN_MEMORY),
            ("sort", "embedded-no-context", f"embedded,{endpoint},logprobs=1", Condition.NO_CONTEXT),
            ("sort", "oracle", "oracle", Condition.IN_CONTEXT),
            ("sort", "random", "random", Condition.IN_CONTEXT),
            ("longmemeval", "embedded", f"embedded,{endpoint}", Condition.IN_CONTEXT),
            ("longmemeval", "embedded-no-context", f"embedded,{endpoint}", Condition.NO_CONTEXT),
            ("longmemeval", "oracle", "oracle", Condition.IN_CONTEXT),
            ("m4le", "embedded", f"embedded,{endpoint}", Condition.IN_CONTEXT),
            ("m4le", "embedded-no-context", f"embedded,{endpoint}", Condition.NO_CONTEXT),
            ("m4le", "oracle", "oracle", Condition.IN_CONTEXT),
            ("m4le", "random", "random", Condition.IN_CONTEXT),
            ("shared_context", "embedded-multi-turn", f"embedded,{endpoint}", Condition.IN_CONTEXT, "multi-turn"),
            ("shared_context", "embedded-multi-request", f"embedded,{endpoint}", Condition.IN_CONTEXT, "multi-request"),
            ("shared_context", "oracle", "oracle", Condition.IN_CONTEXT),
            ("shared_context", "random", "random", Condition.IN_CONTEXT),
        ]
        for family, label, spec, condition, *mode in plan:
            out = workdir / "runs" / family / label
            cfg = RunConfig(dataset=workdir / "data" / family, system=spec, out=out, condition=condition,
                            concurrency=concurrency, overwrite=True, mode=mode[0] if mode else None)
            manifest = run(cfg)
            console.print(f"{family} {label}: {manifest['status']} in {manifest['timings']['execute_s']:.1f}s -> {out}")
            runs.append(out)
        judged = workdir / "runs" / "longmemeval" / "embedded"
        summary = judge_run(judged, io.Dataset(workdir / "data" / "longmemeval"), f"embedded,{endpoint}", concurrency=concurrency)
        console.print(f"longmemeval embedded: {summary['judged']} answers judged by the embedded model (metric llm_judge)")
    agg = load_aggregates(runs)
    print_summary(agg, console)  # compact: the full tables are `lbs report RUN...`
    print_checks(runs, agg, console)  # failed probes' reasons, SORT's position bias, llm_judge beside lme_match
    for path in heatmaps(agg, workdir / "report"):
        console.print(f"heatmap: {path}")
    console.print(f"demo finished in {time.monotonic() - t0:.0f}s")
    console.print(f"full tables with 95% CIs: lbs report {workdir / 'runs'}/*/* -o {workdir / 'report'}", highlight=False,
                  markup=False, soft_wrap=True)


# --- the demo's tables ------------------------------------------------------------------------------
# Compact on purpose (an 80-column terminal): per family, one row per run by length, then the runs
# side by side per (task, metric) and per ability. `lbs report` prints every cell with its CI, one
# row per system x condition x variant x metric, which for M4LE (a metric per task and ability) was 10
# rows per run. Scores pool the probes' own metrics, weighted by n; no cell wraps inside a word.

_AXES = ("variant", "ability", "length", "depth", "bin")


def print_summary(agg: pl.DataFrame, console: Console) -> None:
    agg = agg.filter(pl.col("primary"))
    for family in sorted(agg.get_column("family").unique().to_list()):
        part = agg.filter(pl.col("family") == family)
        tables = [_length_table(part, family), _side_by_side(part, family, "variant"), _side_by_side(part, family, "ability")]
        if family == "shared_context":  # SCBench reports by turn: does the memory hold up after the first?
            tables.append(_side_by_side(part, family, "bin"))
        for table in filter(None, tables):
            console.print(table)
            console.print()


def _marginal(agg: pl.DataFrame, *keep: str) -> pl.DataFrame:
    """Rows with exactly the columns `keep` set among the grouping columns."""
    return agg.filter(pl.all_horizontal([pl.col(c).is_not_null() if c in keep else pl.col(c).is_null() for c in _AXES]))


def _pool(rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """heatmap.pool, with the failed probes summed too."""
    failed = pl.col("n_errors").fill_null(0).sum() if "n_errors" in rows.columns else pl.lit(0, pl.Int64)
    return pool(rows, keys, failed.alias("failed"))


def _x100(mean: float | None) -> str:
    return "—" if mean is None else f"{mean * 100:.1f}"


def _length_table(part: pl.DataFrame, family: str) -> Table:
    runs = ["system", "condition"]
    by_length = _pool(_marginal(part, "length"), [*runs, "length"])
    overall = _pool(_marginal(part), runs).sort(runs)
    lengths = sorted(by_length.get_column("length").unique().to_list())
    table = Table(title=f"{family}: score x100 by length", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
                  show_edge=False)
    for name in (*runs, *map(fmt_len, lengths), "all", "n", "failed"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", justify="left" if name in runs else "right")
    cells = {(r["system"], r["condition"], r["length"]): r["mean"] for r in by_length.iter_rows(named=True)}
    for r in overall.iter_rows(named=True):
        table.add_row(Text(r["system"]), Text(r["condition"]),
                      *[_x100(cells.get((r["system"], r["condition"], n))) for n in lengths],
                      _x100(r["mean"]), str(r["n"]), str(r["failed"]))
    return table


def _side_by_side(part: pl.DataFrame, family: str, axis: str) -> Table | None:
    """Rows: the family's tasks (with their metric) or abilities; columns: the runs. None when the
    family has fewer than two."""
    runs = ["system", "condition"]
    several = part.get_column("metric").n_unique() > 1  # M4LE: each task scores by its own metrics
    keys = [axis, "metric"] if axis == "variant" and several else [axis]
    rows = _pool(_marginal(part, axis).filter(pl.col(axis) != TASK_AVERAGED), [*runs, *keys])
    names = rows.select(keys).unique().sort(keys).rows()
    if len({name[0] for name in names}) < 2:
        return None
    order = part.select(runs).unique(maintain_order=True).sort(runs).rows()
    systems = [s for s, _ in order]
    title = {"ability": "by ability", "bin": "by turn"}.get(axis) or ("by task and metric" if "metric" in keys else "by task")
    table = Table(title=f"{family}: score x100 {title}", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
                  show_edge=False)
    for key in keys:
        table.add_column({"variant": "task", "bin": "turn"}.get(key, key), no_wrap=True, overflow="ellipsis")
    for system, condition in order:  # short header lines: a wrapper apart, the condition when the system recurs
        head = system.replace(":", ":\n") + (f"\n{condition}" if systems.count(system) > 1 else "")
        table.add_column(Text(head, justify="right"), no_wrap=True, overflow="ellipsis", justify="right")
    found = {(r["system"], r["condition"], *[r[k] for k in keys]): r["mean"] for r in rows.iter_rows(named=True)}
    for name in names:
        table.add_row(*map(Text, name), *[_x100(found.get((s, c, *name))) for s, c in order])
    if axis == "ability":  # LongMemEval's task-averaged accuracy: the plain mean of the ability means
        means = [[found.get((s, c, n[0])) for n in names] for s, c in order]
        table.add_row(Text(TASK_AVERAGED), *[_x100(sum(m) / len(m)) if None not in m else "—" for m in means])
    return table
