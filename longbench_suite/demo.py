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
  embedded model in context and with no context, oracle and random.
The model is served once and shared by all of its runs.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from .generate import generate_dataset
from .report import heatmaps, load_aggregates, print_table

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
    }
    for name, m in datasets.items():
        console.print(f"generated {m['counts']['probes']} {name} probes in {m['generation_s']:.1f}s -> {workdir / 'data' / name}")
    runs: list[Path] = []
    workdir.mkdir(parents=True, exist_ok=True)
    with serve_model("embedded", log_path=workdir / "vllm.log") as server:
        console.print(f"embedded model served by vLLM at {server.base_url}")
        endpoint = f"base_url={server.base_url}"
        plan = [  # (family, label, system spec, condition)
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
        ]
        for family, label, spec, condition in plan:
            out = workdir / "runs" / family / label
            cfg = RunConfig(dataset=workdir / "data" / family, system=spec, out=out, condition=condition,
                            concurrency=concurrency, overwrite=True)
            manifest = run(cfg)
            console.print(f"{family} {label}: {manifest['status']} in {manifest['timings']['execute_s']:.1f}s -> {out}")
            runs.append(out)
        judged = workdir / "runs" / "longmemeval" / "embedded"
        summary = judge_run(judged, io.Dataset(workdir / "data" / "longmemeval"), f"embedded,{endpoint}", concurrency=concurrency)
        console.print(f"longmemeval embedded: {summary['judged']} answers judged by the embedded model (metric llm_judge)")
    agg = load_aggregates(runs)
    print_table(agg, console)
    for path in heatmaps(agg, workdir / "report"):
        console.print(f"heatmap: {path}")
    console.print(f"demo finished in {time.monotonic() - t0:.0f}s")
