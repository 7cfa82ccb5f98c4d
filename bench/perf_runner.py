"""P2 of bench/perf.py, the runner: probes/s of `lbs run` vs a bare asyncio loop of openai's
AsyncOpenAI sending the same requests at the same concurrency, and vs `lm_eval --model
local-chat-completions` at the same num_concurrent, all against one real embedded vLLM server;
repeated A,B,C, B,C,A, C,A,B with the prefix cache reset before each, median ratio reported."""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from perf_common import OFFLINE, Row, Sizes, num, rate, run_cmd, times
from perf_server import bare_loop, lbs_run, request_bodies, reset_prefix_cache


def walls(results: list[dict]) -> str:
    return "/".join(num(r["wall_s"]) for r in results)


def lm_eval_run(export: Path, group: str, server, concurrency: int, out: Path, cache: Path) -> dict:
    args = f"model={server.served_name},base_url={server.base_url}/chat/completions,num_concurrent={concurrency}"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "local-chat-completions", "--model_args", args,
           "--apply_chat_template", "--include_path", str(export), "--tasks", group, "--output_path", str(out)]
    # Not from the repository root: `python -m lm_eval` puts the working directory on sys.path.
    wall, _ = run_cmd(cmd, cwd=out.parent, env={**OFFLINE, "HF_DATASETS_CACHE": str(cache)})
    results = json.loads(max(out.rglob("results_*.json")).read_text())
    return {"wall_s": wall, "eval_s": float(results.get("total_evaluation_time_seconds") or "nan")}


def p2(sizes: Sizes, work: Path, server, concurrency: int) -> list[Row]:
    from adapters.lm_eval_tasks import export_lm_eval
    from longbench_suite.generate import generate_dataset

    data = work / "p2-needle"
    generate_dataset("needle", data, list(sizes.p2_variants), list(sizes.p2_params), seed=0, tokenizer="embedded", overwrite=True)
    # prefill=user: the prompt lm-eval's export sends (context, question, answer cue in one user turn).
    spec = f"embedded,base_url={server.base_url},prefill=user"
    bodies = request_bodies(data, spec)
    export = work / "p2-lm-eval" / "exported"  # not "tasks": lm_eval runs with its cwd on sys.path
    summary = export_lm_eval(data, export, name="perf", overwrite=True)

    bare_loop(bodies[:concurrency], server, concurrency, work / "p2-warmup.json")  # the engine's first requests are slow
    results: dict[str, list[dict]] = defaultdict(list)
    clients = ["lbs", "bare", "lm_eval"]
    for rep in range(sizes.reps):
        for client in clients[rep % 3:] + clients[:rep % 3]:  # rotate the order: drift falls on each alike
            reset_prefix_cache(server)  # the same prompts come again: no client may reuse another's
            if client == "lbs":
                r = lbs_run(data, spec, work / f"p2-run-{rep}", concurrency)
            elif client == "bare":
                r = bare_loop(bodies, server, concurrency, work / "p2-requests.json")
            else:
                r = lm_eval_run(export, summary["group"], server, concurrency, work / "p2-lm-eval" / f"out-{rep}",
                                work / "p2-lm-eval" / "hf-cache")
            results[client].append(r)
    n = len(bodies)
    lbs, bare, lme = results["lbs"], results["bare"], results["lm_eval"]

    def med(rs, key):
        return statistics.median(rate(n, r[key]) for r in rs)

    def ratios(a, b, key_a, key_b):
        """The median ratio, and each rep's (their spread shows the machine's noise)."""
        each = [rate(n, x[key_a]) / rate(n, y[key_b]) for x, y in zip(a, b)]
        return statistics.median(each), "/".join(f"{r:.2f}" for r in each)

    tokens = bare[0]["prompt_tokens"] / n
    setup = f"{n} needle probes of ~{tokens:.0f} prompt tokens, concurrency {concurrency}, median of {sizes.reps} rep(s)"
    request, request_each = ratios(lbs, bare, "loop_s", "loop_s")
    command, command_each = ratios(lbs, bare, "wall_s", "wall_s")
    versus, versus_each = ratios(lbs, lme, "wall_s", "wall_s")
    return [
        Row("P2", "probes/s while requests run: lbs run (run.json execute_s) vs bare AsyncOpenAI loop",
            num(med(lbs, "loop_s")), f"{num(med(bare, 'loop_s'))} bare", times(request), "≥ 0.95",
            f"{'met' if request >= 0.95 else 'NOT met'}; {setup}; ratio per rep {request_each}"),
        Row("P2", "probes/s, whole command: lbs run vs the bare loop as a script",
            num(med(lbs, "wall_s")), f"{num(med(bare, 'wall_s'))} bare", times(command), "",
            f"start-up, dataset, scoring and tables included; ratio per rep {command_each}; wall s lbs {walls(lbs)}, bare {walls(bare)}"),
        Row("P2", "probes/s, whole command: lbs run vs lm_eval local-chat-completions",
            num(med(lbs, "wall_s")), f"{num(med(lme, 'wall_s'))} lm_eval", times(versus), "",
            f"same prompts (lbs export lm-eval), num_concurrent {concurrency}; ratio per rep {versus_each}; wall s lm_eval "
            f"{walls(lme)}, its own timer {'/'.join(num(r['eval_s']) for r in lme)}"),
    ]
