"""The vLLM server of bench/perf.py's P2 and P3 (the embedded model, prefix caching on, a small KV cache),
its prefix-cache counters, and the two clients both parts compare: `lbs run` and a bare asyncio loop
of openai's AsyncOpenAI sending exactly the requests `lbs run` sends."""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path

from perf_common import OFFLINE, lbs_cmd, run_cmd


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
