"""Per-probe metrics (by name) and confidence intervals.

Metric values live in [0, 1]; reports may show them x100 as RULER does.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Sequence

import numpy as np

_CONTROL = re.compile(r"[\x00-\x1f]")


def ruler_postprocess(output: str) -> str:
    """RULER's prediction clean-up: control characters become newlines, then strip."""
    return _CONTROL.sub("\n", output or "").strip()


def string_match_all(output: str, gold: Sequence[str]) -> float:
    """RULER niah: fraction of gold strings found in the output (case-insensitive substring)."""
    pred = ruler_postprocess(output).lower()
    if not gold:
        return 0.0
    return sum(1.0 for g in gold if g.lower() in pred) / len(gold)


def string_match_part(output: str, gold: Sequence[str]) -> float:
    """RULER qa: 1 if any gold string is found in the output (case-insensitive substring)."""
    pred = ruler_postprocess(output).lower()
    return 1.0 if any(g.lower() in pred for g in gold) else 0.0


def exact_match(output: str, gold: Sequence[str]) -> float:
    pred = (output or "").strip().lower()
    return 1.0 if any(pred == g.strip().lower() for g in gold) else 0.0


_EDGE_PUNCT = ".,;:!?\"'()[]{}*`"


def first_word_match(output: str, gold: Sequence[str]) -> float:
    """1 when the answer's first word, stripped of punctuation, is a gold value (case-insensitive):
    for bare-value answers ("7", "7.", "**7**, because ...")."""
    words = ruler_postprocess(output).split()
    first = words[0].strip(_EDGE_PUNCT).lower() if words else ""
    return 1.0 if first and any(first == g.strip().lower() for g in gold) else 0.0


# --- multiple choice (SORT's A/B) ----------------------------------------------------------------

DEFAULT_LABELS = ("A", "B", "C", "D")
# After these words a lone capital "A" is still an answer ("A is first", "A or B"), not the article.
_NOT_ARTICLE = {"is", "was", "appeared", "appears", "came", "comes", "occurred", "occurs", "happened", "precedes",
                "preceded", "or", "and", "first", "before", "then", "over", "earlier", "later", "after", "last"}
_NEXT_WORD = re.compile(r"[ \t]+([a-z]+)")
_KEYWORD = re.compile(r"(?i:answer|fragment|segment|option|choice|passage|letter)\s*(?i:is|was|would be)?\s*[:\-]?\s*[(\[*\"'`]*\s*$")


def parse_choice(output: str, labels: Sequence[str] = DEFAULT_LABELS) -> str | None:
    """The label an answer names ("A"), or None when it names none or is ambiguous (invalid).
    Evidence, strongest first: the answer opens with a label ("B", "(A)", "**B**."); a label right
    after "answer", "fragment", "segment", "option" ...; else the one label that stands alone in it.
    "A quiet night" (the article) and "A or B" (a list) name nothing."""
    text = ruler_postprocess(output)
    if not text or not labels:
        return None
    alt = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    found = []  # (label, start, end) of labels that are not the article
    article_seen = False  # an "A" read as the article might still be an answer: never fall back past it
    for m in re.finditer(rf"(?<![\w])({alt})(?![\w])", text):
        nxt = _NEXT_WORD.match(text, m.end())
        if m.group(1) == "A" and nxt and nxt.group(1) not in _NOT_ARTICLE:
            article_seen = True
            continue
        found.append((m.group(1), m.start(), m.end()))
    listed = re.compile(rf"\s*(?:or|and|/|,)\s*[(\[*\"'`]*(?:{alt})(?![\w])")
    for label, a, b in found:
        if listed.match(text, b):
            continue
        if not re.search(r"\w", text[:a]) or _KEYWORD.search(text[:a]):
            return label
    distinct = {label for label, _, _ in found}
    if article_seen and distinct - {"A"}:  # "A beats B": rather invalid than the other letter
        return None
    return distinct.pop() if len(distinct) == 1 else None


def choice_accuracy(output: str, gold: Sequence[str], labels: Sequence[str] = DEFAULT_LABELS) -> float:
    """1 when the parsed choice is the gold label; an unparseable answer scores 0 (and is counted
    as invalid by the family's scorer, so it never hides among wrong answers)."""
    return 1.0 if parse_choice(output, labels) in set(gold) else 0.0


def choice_from_logprobs(logprobs: dict[str, float] | None, labels: Sequence[str]) -> str | None:
    """The label with the highest first-token log-probability (SORT's scoring); None when the system
    gave none of them. A label missing from the returned top log-probs counts as -inf."""
    if not logprobs:
        return None
    scored = [(logprobs[label], label) for label in labels if label in logprobs and logprobs[label] == logprobs[label]]
    if not scored:
        return None
    best = max(lp for lp, _ in scored)
    tied = [label for lp, label in scored if lp == best]
    return tied[0] if len(tied) == 1 else None  # an exact tie names nothing


METRICS: dict[str, Callable[[str, Sequence[str]], float]] = {
    "string_match_all": string_match_all,
    "string_match_part": string_match_part,
    "exact_match": exact_match,
    "choice_accuracy": choice_accuracy,
    "first_word_match": first_word_match,
}


def chance_of(metric: str, choices: Sequence[str], gold: Sequence[str]) -> float:
    """Expected score of a uniform random pick among `choices`: the random baseline's chance level."""
    if not choices:
        return 0.0
    fn = METRICS[metric]
    return float(sum(fn(c, gold) for c in choices) / len(choices))


Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


# Above this size the percentile bootstrap is replaced by the normal interval: with n > 10k the
# two agree to the third decimal, and resampling a million rows a thousand times is wasted work.
BOOTSTRAP_MAX_N = 10_000


def bootstrap(values: np.ndarray, resamples: int = 1000, seed: int = 0) -> tuple[float, float, str]:
    """95% percentile bootstrap of the mean (normal interval for very large n)."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan, "none")
    if n == 1:
        v = float(values[0])
        return (v, v, "bootstrap")
    if n > BOOTSTRAP_MAX_N:
        half = Z95 * float(np.std(values, ddof=1)) / math.sqrt(n)
        m = float(np.mean(values))
        return (m - half, m + half, "normal")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return (float(lo), float(hi), "bootstrap")


def interval(values: np.ndarray) -> tuple[float, float, str]:
    """Wilson for 0/1 scores, bootstrap otherwise."""
    if len(values) and np.all((values == 0) | (values == 1)):
        lo, hi = wilson(float(values.sum()), len(values))
        return (lo, hi, "wilson")
    return bootstrap(values)
