"""Calibration of `lbs gate`: false alarms between identical systems, power against a planted drop.

Each simulation draws a fresh set of probes, scores two systems on them and asks the gate's own
decision function (longbench_suite.gate.compare_groups: the exact McNemar test for 0/1 scores, the
paired bootstrap otherwise, Holm over groups, the max-drop rule) whether the candidate regressed.

Score models (every probe i has a true difficulty; two runs of one system differ only by their seed):
  binary      p_i ~ Beta(a, b); a run answers probe i right with probability p_i.
              (a, b) = (0.5, 0.5): most probes nearly always or nearly never solved, as in real
              benchmarks; two runs disagree on 25% of probes. (1, 1): uniform difficulty, 33%.
  continuous  q_i ~ Beta(a, b) clipped to [0.02, 0.98]; a run scores Beta(k q_i, k (1 - q_i)), k = 4
              (a noisy graded score such as ROUGE or a partial match).
A planted drop of d scales the candidate's probabilities by (1 - d / mean): its expected mean is
exactly d lower on every probe set.

    .venv/bin/python bench/gate_calibration.py [--sims 2000] [--probes 1000] [--drop 0.05]

Prints the false-alarm rate of identical systems (at the default max-drop, and at max-drop 0, where only
the test guards) and the power against the planted drop, each with its binomial standard error.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from longbench_suite import gate

CONCENTRATION = 4.0


def binary_pair(rng: np.random.Generator, n: int, drop: float = 0.0, a: float = 0.5, b: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    p = rng.beta(a, b, n)
    q = p * (1 - drop / p.mean())
    return (rng.random(n) < p).astype(float), (rng.random(n) < q).astype(float)


def continuous_pair(rng: np.random.Generator, n: int, drop: float = 0.0, a: float = 0.5, b: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    p = np.clip(rng.beta(a, b, n), 0.02, 0.98)
    q = p * (1 - drop / p.mean())
    return rng.beta(CONCENTRATION * p, CONCENTRATION * (1 - p)), rng.beta(CONCENTRATION * q, CONCENTRATION * (1 - q))


MODELS = {"binary": binary_pair, "continuous": continuous_pair}


def alarm_rate(model: str, sims: int, probes: int, drop: float = 0.0, max_drop: float = gate.DEFAULT_MAX_DROP,
               alpha: float = gate.DEFAULT_ALPHA, groups: int = 1, seed: int = 0, resamples: int = gate.DEFAULT_RESAMPLES,
               a: float = 0.5, b: float = 0.5) -> tuple[float, float]:
    """The fraction of simulations in which the gate fails, and its binomial standard error. With
    `groups` > 1 the probes are split into that many groups (Holm applies): the family-wise rate."""
    fails = 0
    for s in range(sims):
        rng = np.random.default_rng([seed, s])
        base, cand = MODELS[model](rng, probes, drop, a, b)
        parts = np.array_split(np.arange(probes), groups)
        tested = [gate.Group({"task": f"g{i}"}, base[ix], cand[ix]) for i, ix in enumerate(parts)]
        results = gate.compare_groups(tested, max_drop, alpha, seed=s, resamples=resamples)
        fails += any(r.regressed for r in results)
    rate = fails / sims
    return rate, float(np.sqrt(max(rate * (1 - rate), 1e-12) / sims))


def discordance(model: str, probes: int, a: float, b: float, seed: int = 0) -> float:
    """How often two runs of one system disagree on a probe (0/1), or the mean |difference| (graded)."""
    base, cand = MODELS[model](np.random.default_rng(seed), 200_000, 0.0, a, b)
    return float(np.mean(np.abs(base - cand)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=2000, help="Simulations per figure (continuous: a fifth, it bootstraps).")
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--drop", type=float, default=0.05, help="Planted drop for the power figure.")
    ap.add_argument("--alpha", type=float, default=gate.DEFAULT_ALPHA)
    ap.add_argument("--max-drop", type=float, default=gate.DEFAULT_MAX_DROP)
    ap.add_argument("--resamples", type=int, default=gate.DEFAULT_RESAMPLES)
    args = ap.parse_args()
    print(f"gate calibration: {args.probes} probes, alpha {args.alpha}, max-drop {args.max_drop}, planted drop {args.drop}")
    print(f"{'model':<12}{'difficulty':<13}{'disagree':>9}{'sims':>6}  {'false alarms':>14}  {'(max-drop 0)':>14}  "
          f"{'(4 groups)':>14}  {'power':>14}  {'s':>6}")
    for model, (a, b) in [("binary", (0.5, 0.5)), ("binary", (1.0, 1.0)), ("continuous", (0.5, 0.5))]:
        sims = args.sims if model == "binary" else max(100, args.sims // 5)
        t0 = time.perf_counter()
        kw = {"alpha": args.alpha, "resamples": args.resamples, "a": a, "b": b}
        fa = alarm_rate(model, sims, args.probes, 0.0, args.max_drop, **kw)
        fa0 = alarm_rate(model, sims, args.probes, 0.0, 0.0, **kw)
        fa4 = alarm_rate(model, sims, args.probes, 0.0, args.max_drop, groups=4, **kw)
        power = alarm_rate(model, sims, args.probes, args.drop, args.max_drop, **kw)
        cells = "  ".join(f"{r:>7.3f} ±{se:.3f}" for r, se in (fa, fa0, fa4, power))
        print(f"{model:<12}{f'Beta({a:g},{b:g})':<13}{discordance(model, args.probes, a, b):>9.3f}{sims:>6}  {cells}  "
              f"{time.perf_counter() - t0:>6.1f}")


if __name__ == "__main__":
    main()
