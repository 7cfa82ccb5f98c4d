"""Needle generation speed: longbench-suite's generator vs a RULER-style reference, in one run.

The reference sizes each sample's haystack as RULER's generator does: a binary search over the
number of haystack sentences, re-tokenizing the whole candidate prompt at every step. Ours counts
every sentence once and sums. Both use the same tokenizer and the same essay sentences.

    .venv/bin/python bench/generate_needle.py [--tokenizer embedded] [--length 32k] [--samples 1000]

Prints seconds, samples/s and the ratio (ours / reference). The reference runs on fewer samples
(--ref-samples) and is compared per sample.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

from data_builders.haystack import essay_haystack
from longbench_suite.task import parse_params, parse_size
from longbench_suite.tokens import load_tokenizer
from tasks.needle import FAMILY


def ruler_style_sample(tok, sentences: list[str], budget: int, needle: str, question: str) -> str:
    lo, hi = 1, len(sentences)
    best = ""
    while lo <= hi:  # RULER: binary search, whole-text re-tokenization at each step
        mid = (lo + hi) // 2
        text = " ".join(sentences[:mid])
        half = len(text) // 2
        prompt = f"{text[:half]} {needle} {text[half:]}\n\n{question}"
        if tok.count(prompt) <= budget:
            best, lo = prompt, mid + 1
        else:
            hi = mid - 1
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default="embedded")
    ap.add_argument("--length", default="32k")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--ref-samples", type=int, default=10)
    ap.add_argument("--variant", default="single_2")
    args = ap.parse_args()
    tok = load_tokenizer(args.tokenizer)
    length = parse_size(args.length)

    params = parse_params(FAMILY.Params, [f"lengths={length}", "depths=50", f"samples={args.samples}"])
    t0 = time.perf_counter()
    episodes, _ = FAMILY.generate([args.variant], params, 0, tok)
    ours = time.perf_counter() - t0

    hay = essay_haystack(tok, seed=0, min_tokens=2 * length)
    sentences = [u.strip() for u in hay.units]
    needle = "The special magic number for quiet harbor is: 1234567."
    question = "What is the special magic number for quiet harbor mentioned in the provided text?"
    t0 = time.perf_counter()
    for i in range(args.ref_samples):
        ruler_style_sample(tok, sentences[i * 7 :], length - 128, needle, question)
    ref = time.perf_counter() - t0

    ours_rate = args.samples / ours
    ref_rate = args.ref_samples / ref
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print(f"tokenizer {tok.name}, variant {args.variant}, length {length} tokens")
    print(f"{'generator':<28}{'samples':>8}{'seconds':>10}{'samples/s':>12}")
    print(f"{'longbench-suite':<28}{args.samples:>8}{ours:>10.2f}{ours_rate:>12.1f}")
    print(f"{'RULER-style reference':<28}{args.ref_samples:>8}{ref:>10.2f}{ref_rate:>12.2f}")
    print(f"ratio (ours / reference, samples/s): {ours_rate / ref_rate:.0f}x   peak RSS {rss_mib:.0f} MiB ({episodes.num_rows} episodes)")


if __name__ == "__main__":
    main()
