"""P3 of bench/perf.py, prefix reuse: vLLM's prefix-cache hit rate (the server's /metrics counters) on
multi-probe episodes, `lbs run` (its episode grouping) vs the same requests in random order."""

from __future__ import annotations

import random
from pathlib import Path

from perf_common import Row, Sizes, num, times
from perf_server import bare_loop, lbs_run, request_bodies, reset_prefix_cache, scrape


def computed(result: dict) -> float:
    """Prompt tokens the server computed: queried, less those served from the prefix cache."""
    return result["queries"] - result["hits"]


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
