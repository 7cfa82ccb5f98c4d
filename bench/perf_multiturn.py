"""SCBench's KV-cache lifecycle on the embedded model: one shared-context dataset asked in multi-turn and
in multi-request mode against one vLLM server with prefix caching on (issue 23, item 5).

    .venv/bin/python bench/perf_multiturn.py [--work DIR] [--markdown FILE]

SCBench (Li et al. 2024) asks several queries over one long context either as a conversation (each turn
carries the earlier turns) or as independent requests, and finds that what a model keeps of the context
decides its later turns. On a full-attention model served with a prefix cache the memory is the KV
cache itself, so the question here is what each mode costs turn by turn, and what the cache saves:

  1. `lbs run --mode M` of the same dataset, the prefix cache reset before each: accuracy by turn
     (aggregates.parquet), run.json costs.by_turn (answer seconds, prompt tokens, the share of them the
     cache served, from the usage each answer reports), and the server's prefix-cache counters around
     the run (prompt tokens computed = queried - hits).
  2. Time to first token by turn: each run's very requests (its sample log, the context put back in
     front of the first message) replayed one at a time in the run's order (an episode's turns one after
     another), streamed with usage, the prefix cache reset first. Replayed alone, no request shares the
     server with another, so TTFT is the prefill of what the cache did not hold.

Each mode is the other's reference: the same contexts, questions and answers budget, the same server.
The table is printed as markdown; every figure goes to perf_multiturn.json under the work dir.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from perf_common import OFFLINE, lbs_cmd, num, run_cmd
from perf_server import reset_prefix_cache, scrape, start_server

MODES = ("multi-request", "multi-turn")
SERVED = "smollm2"  # the embedded entry's served_name (runners/models.toml)


# --- the runs --------------------------------------------------------------------------------------------


def counters(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The prefix-cache counters' deltas, and the prompt tokens the server computed (not served by the cache)."""
    d = {k: after[k] - before[k] for k in after}
    queries, hits = d["prefix_cache_queries"], d["prefix_cache_hits"]
    return {"queries": queries, "hits": hits, "computed": queries - hits, "hit_rate": hits / queries if queries else None}


def accuracy_by_turn(aggregates: Path) -> dict[int, dict[str, Any]]:
    """turn -> the primary metric's row (mean, n, CI) for the dataset's variant, over all lengths."""
    import polars as pl

    rows = (pl.read_parquet(aggregates)
            .filter(pl.col("primary") & pl.col("variant").is_not_null() & pl.col("bin").str.starts_with("turn "))
            .sort(pl.col("length").is_not_null(), pl.col("ability").is_not_null())  # the marginal row first
            .unique(["variant", "bin"], keep="first", maintain_order=True))  # fmt: skip
    if rows["variant"].n_unique() != 1:
        raise ValueError(f"{aggregates}: expected one variant, got {rows['variant'].unique().to_list()}")
    return {int(r["bin"].split()[1]): {k: r[k] for k in ("mean", "n", "ci_low", "ci_high", "n_errors", "chance")}
            for r in rows.to_dicts()}  # fmt: skip


def lbs_run(server, data: Path, out: Path, mode: str, concurrency: int) -> dict[str, Any]:
    """`lbs run --mode MODE` against the server, the prefix cache reset first; what it reports by turn."""
    reset_prefix_cache(server)
    before = scrape(server)
    wall, _ = run_cmd(lbs_cmd("run", data, "-s", f"openai:{SERVED},base_url={server.base_url}", "-o", out, "--mode", mode,
                              "--overwrite", "--no-cache", "--concurrency", concurrency), env=OFFLINE)  # fmt: skip
    delta = counters(before, scrape(server))
    manifest = json.loads((out / "run.json").read_text())
    if manifest["status"] != "complete" or manifest["counts"]["errors"]:
        raise RuntimeError(f"lbs run {out}: {manifest['status']}, {manifest['counts']['errors']} errors")
    if (manifest.get("turns") or {}).get("mode") != mode:
        raise RuntimeError(f"lbs run {out}: run.json turns {manifest.get('turns')}, not mode {mode}")
    return {"wall_s": wall, "execute_s": manifest["timings"]["execute_s"], "counters": delta,
            "accuracy": accuracy_by_turn(out / "aggregates.parquet"),
            "by_turn": {r["turn"]: r for r in manifest["costs"]["by_turn"]}}  # fmt: skip


# --- the replay ------------------------------------------------------------------------------------------


def replay_requests(run: Path, data: Path, model: str) -> list[dict[str, Any]]:
    """The run's requests in its order (episode by episode, each episode's turns in order): the sample
    log's messages with the context put back in front of the first message, and the run's sampling."""
    import polars as pl

    from longbench_suite.turns import conversation_order, turn_of
    from runners.sample_log import CONTEXTS, PROMPTS, SEPARATOR

    manifest = json.loads((run / "run.json").read_text())
    sampling = manifest["system"].get("sampling") or {}  # openai: what every request sent (max_tokens None: the probe's)
    contexts = dict(pl.read_parquet(run / CONTEXTS).select("context_id", "text").iter_rows())
    prompts = {r["probe_id"]: r for r in pl.read_parquet(run / PROMPTS).to_dicts()}
    probes = [r for r in pl.read_parquet(data / "probes.parquet").to_dicts() if r["probe_id"] in prompts]
    requests = []
    for probe in conversation_order(probes):
        logged = prompts[probe["probe_id"]]
        if logged["format"] not in ("chat", "probe"):
            raise ValueError(f"{run}: {logged['format']} prompts cannot be replayed as chat requests")
        messages = [dict(m) for m in logged["messages"]]
        if logged["context_id"] is not None:
            messages[0]["content"] = contexts[logged["context_id"]] + SEPARATOR + messages[0]["content"]
        body = {"model": model, "messages": messages, "temperature": sampling.get("temperature", 0.0),
                "top_p": sampling.get("top_p", 1.0), "seed": sampling.get("seed"),
                "max_tokens": sampling.get("max_tokens") or probe["max_new_tokens"]}  # fmt: skip
        if messages[-1]["role"] == "assistant":  # prefill=assistant: vLLM continues the answer prefix
            body["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        requests.append({"probe_id": probe["probe_id"], "episode_id": probe["episode_id"],
                         "turn": turn_of(probe["meta"]), "body": body})  # fmt: skip
    return requests


def stream_one(client, body: dict[str, Any]) -> dict[str, Any]:
    """One streamed request: seconds to the first content token and to the end, and its usage."""
    t0 = time.perf_counter()
    ttft = None
    usage = None
    for chunk in client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True}):
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - t0
        if chunk.usage is not None:
            usage = chunk.usage
    total = time.perf_counter() - t0
    details = getattr(usage, "prompt_tokens_details", None)
    return {"ttft_s": ttft if ttft is not None else total, "latency_s": total,
            "prompt_tokens": getattr(usage, "prompt_tokens", None), "completion_tokens": getattr(usage, "completion_tokens", None),
            "cached_tokens": getattr(details, "cached_tokens", None)}  # fmt: skip


def replay(server, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """The requests one at a time, streamed, the prefix cache reset first."""
    from openai import OpenAI

    client = OpenAI(base_url=server.base_url, api_key="EMPTY", timeout=600, max_retries=0)
    reset_prefix_cache(server)
    before = scrape(server)
    records = [{k: r[k] for k in ("probe_id", "episode_id", "turn")} | stream_one(client, r["body"]) for r in requests]
    client.close()
    return {"counters": counters(before, scrape(server)), "by_turn": replay_by_turn(records), "requests": records}


def replay_by_turn(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per turn: requests, median TTFT and latency, median prompt, cached and completion tokens."""

    def median(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    out = {}
    for turn in sorted({r["turn"] for r in records}):
        rows = [r for r in records if r["turn"] == turn]
        out[turn] = {"requests": len(rows)} | {f"{k}_median": median([r[k] for r in rows])
                                               for k in ("ttft_s", "latency_s", "prompt_tokens", "cached_tokens", "completion_tokens")}  # fmt: skip
    return out


# --- the tables ------------------------------------------------------------------------------------------


def _cell(x: float | None, fmt: str = "") -> str:
    if x is None:
        return "n/a"
    return f"{x:{fmt}}" if fmt else num(x)


def _accuracy(a: dict[str, Any] | None) -> str:
    if not a or a["mean"] is None:
        return "n/a"
    return f"{a['mean']:.2f} [{a['ci_low']:.2f}, {a['ci_high']:.2f}] n={a['n']}"


def turns_of(result: dict[str, Any]) -> list[int]:
    return sorted({int(t) for part in ("accuracy", "by_turn") for t in result["run"][part]} | {int(t) for t in result["replay"]["by_turn"]})


def _get(table: dict, turn: int) -> dict:
    return table.get(turn) or table.get(str(turn)) or {}  # int keys in memory, str keys once through JSON


def mode_table(mode: str, result: dict[str, Any]) -> str:
    """One mode, one row per turn."""
    run, rep = result["run"], result["replay"]
    lines = [f"#### {mode}", "",
             "| turn | accuracy [95% CI] | answer s (lbs run) | prompt tokens | cached share (lbs run) "
             "| TTFT s (median, replay) | latency s (median, replay) | cached tokens (median, replay) | answer tokens (median, replay) |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for t in turns_of(result):
        c, r = _get(run["by_turn"], t), _get(rep["by_turn"], t)
        lines.append(f"| {t} | {_accuracy(_get(run['accuracy'], t))} | {_cell(c.get('answer_s'))} | {_cell(c.get('prompt_tokens'))} "
                     f"| {_cell(c.get('cached_share'), '.1%')} | {_cell(r.get('ttft_s_median'))} | {_cell(r.get('latency_s_median'))} "
                     f"| {_cell(r.get('cached_tokens_median'), ',.0f')} | {_cell(r.get('completion_tokens_median'), ',.0f')} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def side_by_side(results: dict[str, dict[str, Any]]) -> str:
    """Both modes per turn, multi-request (MR) as the reference of multi-turn (MT), then the counters."""
    mr, mt = results["multi-request"], results["multi-turn"]
    lines = ["| turn | accuracy MR | accuracy MT | prompt tokens MR | MT | cached share MR | MT | TTFT s MR | MT | TTFT MR/MT |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for t in sorted(set(turns_of(mr)) | set(turns_of(mt))):
        a = [_get(x["run"]["accuracy"], t).get("mean") for x in (mr, mt)]
        c = [_get(x["run"]["by_turn"], t) for x in (mr, mt)]
        f = [_get(x["replay"]["by_turn"], t).get("ttft_s_median") for x in (mr, mt)]
        ratio = f"{f[0] / f[1]:.2f}x" if None not in f and f[1] else "n/a"
        lines.append(f"| {t} | {_cell(a[0], '.2f')} | {_cell(a[1], '.2f')} | {_cell(c[0].get('prompt_tokens'))} "
                     f"| {_cell(c[1].get('prompt_tokens'))} | {_cell(c[0].get('cached_share'), '.1%')} "
                     f"| {_cell(c[1].get('cached_share'), '.1%')} | {_cell(f[0])} | {_cell(f[1])} | {ratio} |")  # fmt: skip
    lines += ["", "| mode | prefix-cache queries | hits | hit rate | prompt tokens computed | lbs run execute s "
                  "| replay: queries | hits | computed | TTFT s, all turns (median) |",
              "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode, x in results.items():
        k, rk = x["run"]["counters"], x["replay"]["counters"]
        ttft = statistics.median(r["ttft_s"] for r in x["replay"]["requests"]) if x["replay"]["requests"] else None
        lines.append(f"| {mode} | {k['queries']:,.0f} | {k['hits']:,.0f} | {_cell(k['hit_rate'], '.1%')} | {k['computed']:,.0f} "
                     f"| {num(x['run']['execute_s'])} | {rk['queries']:,.0f} | {rk['hits']:,.0f} | {rk['computed']:,.0f} "
                     f"| {_cell(ttft)} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def report(results: dict[str, dict[str, Any]], info: dict[str, str]) -> str:
    parts = ["### Shared context: multi-turn vs multi-request, by turn", "", side_by_side(results)]
    parts += [mode_table(mode, results[mode]) for mode in results]
    parts += ["\n".join(f"- {k}: {v}" for k, v in info.items()) + "\n"]
    return "\n".join(parts)


# --- the whole benchmark ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--variant", default="kv", help="The shared_context variant (default kv).")
    ap.add_argument("--length", type=int, default=1536, help="Prompt length of the last turn in tokens (default 1536; max_model_len is 2048).")
    ap.add_argument("--samples", type=int, default=4, help="Contexts (default 4).")
    ap.add_argument("--turns", type=int, default=5, help="Queries per context (default 5, SCBench's).")
    ap.add_argument("--concurrency", type=int, default=4, help="lbs run --concurrency (default 4).")
    ap.add_argument("--kv-blocks", type=int, default=128, help="The server's KV cache in blocks of 128 tokens (default 128: every context fits).")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lbs-perf-multiturn",
                    help="The dataset, runs, server log and perf_multiturn.json (default: TMPDIR/lbs-perf-multiturn, kept).")
    ap.add_argument("--markdown", type=Path, help="Also write the tables as markdown to this file.")
    args = ap.parse_args(argv)
    if min(args.length, args.samples, args.turns, args.concurrency, args.kv_blocks) < 1:
        ap.error("--length, --samples, --turns, --concurrency and --kv-blocks must be at least 1")
    from openai import OpenAI

    from longbench_suite.generate import generate_dataset
    from perf import machine

    info = machine()
    info["command"] = " ".join(["bench/perf_multiturn.py", *(argv if argv is not None else sys.argv[1:])])
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"shared_context-{args.variant}"
    params = [f"lengths={args.length}", f"samples={args.samples}", f"turns={args.turns}"]
    generate_dataset("shared_context", data, [args.variant], params, seed=0, tokenizer="embedded", overwrite=True)
    info["dataset"] = f"shared_context -v {args.variant} -p {' -p '.join(params)} --tokenizer embedded (seed 0)"
    info["server"] = f"embedded SmolLM2-135M-Instruct, vLLM, prefix caching on, KV cache {args.kv_blocks} blocks of 128 tokens"
    results: dict[str, dict[str, Any]] = {}
    load = f"{os.getloadavg()[0]:.1f}"
    t0 = time.perf_counter()
    with start_server(work, args.kv_blocks) as server:
        info["server start"] = f"{time.perf_counter() - t0:.0f} s"
        with OpenAI(base_url=server.base_url, api_key="EMPTY") as client:  # one untimed warm-up request
            stream_one(client, {"model": SERVED, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4, "temperature": 0.0})
        runs = {mode: lbs_run(server, data, work / f"run-{mode}", mode, args.concurrency) for mode in MODES}
        for mode in MODES:
            results[mode] = {"run": runs[mode], "replay": replay(server, replay_requests(work / f"run-{mode}", data, SERVED))}
    info["elapsed"] = f"{time.perf_counter() - t0:.0f} s with the server's start"
    info["load"] = f"1-min load average {load} before, {os.getloadavg()[0]:.1f} after (the benchmark's server and clients are load)"
    text = report(results, info)
    (work / "perf_multiturn.json").write_text(json.dumps({"info": info, "results": results}, indent=1, default=str))
    print(text)
    print(f"all figures: {work / 'perf_multiturn.json'}")
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
