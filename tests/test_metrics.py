"""Our metrics against RULER's reference formulas, chance levels, and confidence intervals."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from longbench_suite import metrics


# --- RULER's reference implementation, as RULER defines it (eval/synthetic/constants.py) --------


def ruler_postprocess_pred(predict_str: str) -> str:
    """RULER's prediction clean-up before scoring: control characters to newlines, then strip."""
    predict_str = predict_str.strip()
    np_pattern = re.compile(r"[\x00-\x1f]")
    predict_str = np_pattern.sub("\n", predict_str).strip()
    return predict_str


def ruler_string_match_all(preds, refs):
    score = sum([sum([1.0 if r.lower() in pred.lower() else 0.0 for r in ref]) / len(ref) for pred, ref in zip(preds, refs)]) / len(preds) * 100
    return round(score, 2)


def ruler_string_match_part(preds, refs):
    score = sum([max([1.0 if r.lower() in pred.lower() else 0.0 for r in ref]) for pred, ref in zip(preds, refs)]) / len(preds) * 100
    return round(score, 2)


# (model output, gold values): hand-written cases covering what niah/qa outputs look like.
CASES = [
    ("The special number is 1234567.", ["1234567"]),  # exact hit
    ("the value is 12345678", ["1234567"]),  # gold inside a longer number still counts (substring)
    ("1234 567", ["1234567"]),  # split digits: miss
    ("The answer: QUIET HARBOR", ["quiet harbor"]),  # case differences
    ("Quiet Harbor and Bold Arrow", ["quiet harbor", "bold arrow", "lazy otter"]),  # 2 of 3
    ("3311111, 2222222 and 4444444", ["3311111", "2222222", "4444444", "5555555"]),  # multi-value, 3 of 4
    ("", ["7654321"]),  # empty output
    ("   \n\t  ", ["7654321"]),  # whitespace only
    ("12\x0034567", ["1234567"]),  # a control character inside the value breaks it
    ("\x1b[1m7654321\x1b[0m", ["7654321"]),  # ANSI codes around the value: still found
    ("line one\nline two 9876543\r\n", ["9876543"]),  # newlines and carriage return
    ("ab2c4f1e-0d1e-4a3b-9c2d-1e2f3a4b5c6d", ["AB2C4F1E-0D1E-4A3B-9C2D-1E2F3A4B5C6D"]),  # uuid, case
    ("ab2c4f1e-0d1e-4a3b-9c2d", ["ab2c4f1e-0d1e-4a3b-9c2d-1e2f3a4b5c6d"]),  # truncated uuid: miss
    ("Ünïcode café 1111111", ["CAFÉ", "1111111"]),  # non-ASCII lower-casing
    ("none of them", ["a1", "b2"]),  # total miss, several golds
]


@pytest.mark.parametrize("output, gold", CASES)
def test_per_sample_parity_with_ruler(output, gold):
    pred = ruler_postprocess_pred(output)
    assert metrics.string_match_all(output, gold) * 100 == pytest.approx(ruler_string_match_all([pred], [gold]), abs=0.01)
    assert metrics.string_match_part(output, gold) * 100 == pytest.approx(ruler_string_match_part([pred], [gold]), abs=0.01)


def test_dataset_level_parity_with_ruler():
    preds = [ruler_postprocess_pred(o) for o, _ in CASES]
    refs = [g for _, g in CASES]
    ours_all = 100 * np.mean([metrics.string_match_all(o, g) for o, g in CASES])
    ours_part = 100 * np.mean([metrics.string_match_part(o, g) for o, g in CASES])
    assert ours_all == pytest.approx(ruler_string_match_all(preds, refs), abs=0.01)
    assert ours_part == pytest.approx(ruler_string_match_part(preds, refs), abs=0.01)
    # the cases exercise both outcomes and partial credit
    values = {metrics.string_match_all(o, g) for o, g in CASES}
    assert {0.0, 1.0} <= values and any(0 < v < 1 for v in values)


def test_postprocess_matches_ruler():
    for output, _ in CASES:
        assert metrics.ruler_postprocess(output) == ruler_postprocess_pred(output)


# --- chance levels ------------------------------------------------------------------------------


def test_chance_of_uniform_pick():
    choices = [f"{i}234567" for i in range(1, 10)] + ["9876543"]  # 7 digits: none inside another
    assert metrics.chance_of("string_match_all", choices, ["3234567"]) == pytest.approx(0.1)
    # four gold values among ten candidates: each gold pick scores 1/4 under string_match_all ...
    gold = choices[:4]
    assert metrics.chance_of("string_match_all", choices, gold) == pytest.approx(4 * 0.25 / 10)
    # ... and 1 under string_match_part
    assert metrics.chance_of("string_match_part", choices, gold) == pytest.approx(0.4)
    assert metrics.chance_of("string_match_all", [], ["x"]) == 0.0
    assert metrics.chance_of("exact_match", ["A", "B"], ["a"]) == pytest.approx(0.5)


def test_chance_equals_mean_score_of_random_picks():
    rng = np.random.default_rng(0)
    choices = [str(1_000_000 + i) for i in range(10)]
    gold = choices[2:5]
    picks = rng.integers(0, len(choices), size=20_000)
    empirical = np.mean([metrics.string_match_all(choices[i], gold) for i in picks])
    assert empirical == pytest.approx(metrics.chance_of("string_match_all", choices, gold), abs=0.01)


# --- intervals ----------------------------------------------------------------------------------


def test_wilson_bounds_and_known_values():
    lo, hi = metrics.wilson(0, 10)
    assert lo == pytest.approx(0.0) and 0.25 < hi < 0.35
    lo, hi = metrics.wilson(10, 10)
    assert hi == pytest.approx(1.0) and 0.65 < lo < 0.75
    lo, hi = metrics.wilson(50, 100)  # textbook: about (0.404, 0.596)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert all(math.isnan(x) for x in metrics.wilson(0, 0))


def test_wilson_covers_a_known_proportion():
    rng = np.random.default_rng(1)
    p, n, trials = 0.3, 100, 4000
    successes = rng.binomial(n, p, size=trials)
    covered = sum(lo <= p <= hi for lo, hi in (metrics.wilson(int(k), n) for k in successes))
    assert 0.93 <= covered / trials <= 0.97


def test_bootstrap_covers_a_known_mean():
    rng = np.random.default_rng(2)
    mean, trials, covered = 0.6, 300, 0
    for t in range(trials):
        values = np.clip(rng.normal(mean, 0.2, size=120), 0, 1.2)  # continuous scores
        lo, hi, method = metrics.bootstrap(values, seed=t)
        assert method == "bootstrap" and lo <= values.mean() <= hi
        covered += lo <= mean <= hi  # clipping at mean +- 3 sd is symmetric: the true mean stays 0.6
    assert 0.90 <= covered / trials <= 0.99


def test_interval_picks_method():
    assert metrics.interval(np.array([0.0, 1.0, 1.0, 0.0]))[2] == "wilson"
    assert metrics.interval(np.array([0.25, 0.5, 1.0]))[2] == "bootstrap"
    big = np.random.default_rng(3).random(metrics.BOOTSTRAP_MAX_N + 1)
    lo, hi, method = metrics.bootstrap(big)
    assert method == "normal" and lo < big.mean() < hi
    assert metrics.bootstrap(np.array([0.7]))[:2] == (0.7, 0.7)
    assert metrics.bootstrap(np.array([]))[2] == "none"


def test_bootstrap_from_counts_matches_resampling_indices():
    """The multinomial draw over distinct values is the index bootstrap's distribution: its interval
    matches resampling indices (a different random stream) within Monte Carlo error."""
    rng = np.random.default_rng(5)
    values = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], p=[0.3, 0.1, 0.2, 0.1, 0.3], size=400)
    means = values[rng.integers(0, len(values), size=(20_000, len(values)))].mean(axis=1)
    expected = np.quantile(means, [0.025, 0.975])
    distinct, counts = np.unique(values, return_counts=True)
    lo, hi, method = metrics.bootstrap_counts(distinct, counts, resamples=20_000)
    assert method == "bootstrap" and (lo, hi) == pytest.approx(tuple(expected), abs=0.004)
    assert metrics.bootstrap(values) == metrics.bootstrap_counts(distinct, counts)
    assert metrics.interval_counts(np.array([0.0, 1.0]), np.array([30, 10])) == (*metrics.wilson(10, 40), "wilson")


def test_string_match_columns_equal_the_per_row_metrics():
    import polars as pl

    outputs = ["The numbers are 123 and 456.", "  \x00 123\x1f", "", "ΣΑΣ 77", "İstanbul 12", "x", "abc", "nothing"]
    gold = [["123", "456"], ["123", "456", "789"], ["123"], ["σας"], ["i̇stanbul"], [], ["ABC", ""], None]
    match_all, match_part = metrics.string_match_columns(pl.Series(outputs), pl.Series(gold, dtype=pl.List(pl.String)))
    assert match_all.to_list() == [metrics.string_match_all(o, g or []) for o, g in zip(outputs, gold)]
    assert match_part.to_list() == [metrics.string_match_part(o, g or []) for o, g in zip(outputs, gold)]
    assert match_all.to_list()[:3] == [1.0, 1 / 3, 0.0]
