"""Needle generation speed at one length: longbench-suite's generator vs the RULER-style reference.

A thin wrapper over bench/perf.py's P1 measurement (the reference lives in bench/ruler_reference.py);
`bench/perf.py --only P1` runs it at 32k and 128k with the peak-RSS check.

    .venv/bin/python bench/generate_needle.py [--tokenizer embedded] [--length 32k] [--samples 1000]
"""

from __future__ import annotations

import argparse
import os
import platform

from perf_generation import generation_rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default="embedded")
    ap.add_argument("--length", default="32k")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--ref-samples", type=int, default=10)
    ap.add_argument("--variant", default="single_2")
    args = ap.parse_args()
    from longbench_suite.task import parse_size
    from longbench_suite.tokens import load_tokenizer

    tok = load_tokenizer(args.tokenizer)
    r = generation_rates(tok, parse_size(args.length), args.samples, args.ref_samples, args.variant)
    ours, ref = r["ours_items"] / r["ours_s"], r["ref_items"] / r["ref_s"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"tokenizer {tok.name}, variant {args.variant}, length {parse_size(args.length)} tokens")
    print(f"{'generator':<28}{'samples':>8}{'seconds':>10}{'samples/s':>12}")
    print(f"{'longbench-suite':<28}{r['ours_items']:>8}{r['ours_s']:>10.2f}{ours:>12.1f}")
    print(f"{'RULER-style reference':<28}{r['ref_items']:>8}{r['ref_s']:>10.2f}{ref:>12.2f}")
    print(f"ratio (ours / reference, samples/s): {ours / ref:.0f}x")


if __name__ == "__main__":
    main()
