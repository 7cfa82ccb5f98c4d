"""`lbs demo`: the main job on a fresh machine, end to end in a few minutes on 2 CPU cores.

A small needle grid sized for the embedded model's 2,048-token window, run on the embedded model
(in context), the same model with no context (the floor), the oracle (the ceiling) and random
(chance), then one report. The model is served once and shared by both of its runs.
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


def run_demo(workdir: Path, concurrency: int, console: Console) -> None:
    from runners.local import RunConfig, run
    from runners.vllm_server import serve_model

    workdir = Path(workdir)
    data = workdir / "data" / "needle"
    t0 = time.monotonic()
    # Regenerated every time (under a second): an earlier demo's data may have other parameters.
    m = generate_dataset("needle", data, DEMO_VARIANTS, DEMO_PARAMS, seed=0, tokenizer="embedded", overwrite=True)
    console.print(f"generated {m['counts']['probes']} needle probes in {m['generation_s']:.1f}s -> {data}")
    runs: list[Path] = []
    workdir.mkdir(parents=True, exist_ok=True)
    with serve_model("embedded", log_path=workdir / "vllm.log") as server:
        console.print(f"embedded model served by vLLM at {server.base_url}")
        endpoint = f"base_url={server.base_url}"
        systems = [("embedded", f"embedded,{endpoint}"), ("no-context", f"no-context:embedded,{endpoint}")]
        systems += [("oracle", "oracle"), ("random", "random")]
        for label, spec in systems:
            out = workdir / "runs" / label
            manifest = run(RunConfig(dataset=data, system=spec, out=out, concurrency=concurrency, overwrite=True))
            console.print(f"{label}: {manifest['status']} in {manifest['timings']['execute_s']:.1f}s -> {out}")
            runs.append(out)
    agg = load_aggregates(runs)
    print_table(agg, console)
    for path in heatmaps(agg, workdir / "report"):
        console.print(f"heatmap: {path}")
    console.print(f"demo finished in {time.monotonic() - t0:.0f}s")
