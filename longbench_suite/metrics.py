"""Per-probe metrics (by name) and confidence intervals.

Metric values live in [0, 1]; reports may show them x100 as RULER does.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Callable, Sequence

import numpy as np
import polars as pl

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


def string_match_columns(outputs: pl.Series, gold: pl.Series) -> tuple[pl.Series, pl.Series]:
    """string_match_all and string_match_part of many outputs at once (the same values, columnar):
    `outputs` strings, `gold` lists of strings, one pair per row."""
    pred = outputs.fill_null("").str.replace_all(_CONTROL.pattern, "\n").str.strip_chars().str.to_lowercase()
    rows = pl.DataFrame({"row": pl.int_range(len(outputs), eager=True)})
    pairs = rows.with_columns(pred=pred, gold=gold).explode("gold").drop_nulls("gold")
    found = pairs.group_by("row").agg(
        pl.len().alias("n"), pl.col("pred").str.contains(pl.col("gold").str.to_lowercase(), literal=True).sum().alias("hits"),
    )
    # Rows without gold strings (an empty or null list) have no pairs: no hits, and 0 as in string_match_all.
    found = rows.join(found, on="row", how="left", maintain_order="left").fill_null(0)
    n, hits = found.get_column("n"), found.get_column("hits").cast(pl.Float64)
    match_all = pl.Series("string_match_all", (hits / n).fill_nan(0.0), dtype=pl.Float64)
    return match_all, pl.Series("string_match_part", hits > 0, dtype=pl.Float64)


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


# --- free-text answers (LongMemEval's generated items, M4LE's "acc") --------------------------------

_NON_WORD = re.compile(r"[\W_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _words(text: str) -> str:
    return " " + _NON_WORD.sub(" ", (text or "").casefold()).strip() + " "


def contains_any(output: str, gold: Sequence[str]) -> float:
    """1 if any gold alias appears in the output as whole words (case and punctuation ignored; any
    script). CJK text has no spaces between words, so a CJK alias is matched as a plain substring."""
    out = _words(output)
    for g in gold:
        alias = _words(g)
        if not alias.strip():
            continue
        if alias in out or (_CJK.search(g) and alias.strip() in out):
            return 1.0
    return 0.0


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_NUMBER = re.compile(
    r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d+(?:\.\d+)?"
    r"|\b(?:" + "|".join(_TENS) + r")(?:[- ](?:" + "|".join(list(_UNITS)[1:10]) + r"))?\b"
    r"|\b(?:" + "|".join(_UNITS) + r")\b|\ba (?:dozen|hundred)\b",
    re.IGNORECASE,
)


def numbers_in(text: str) -> list[float]:
    """Every number in a text: digits (1,200 and 4.5 included) and number words up to ninety-nine."""
    found = []
    for m in _NUMBER.finditer(text or ""):
        token = m.group(0).lower()
        if token[0].isdigit():
            found.append(float(token.replace(",", "")))
        elif token in ("a dozen", "a hundred"):
            found.append(12.0 if token == "a dozen" else 100.0)
        else:
            parts = re.split(r"[- ]", token)
            found.append(float(_TENS.get(parts[0], _UNITS.get(parts[0], 0)) + (_UNITS[parts[1]] if len(parts) > 1 else 0)))
    return found


def number_match(output: str, gold: Sequence[str], tolerance: float = 0.0) -> float:
    """1 if a number in the output is within `tolerance` of the gold number (gold[0], digits)."""
    targets = [n for g in gold for n in numbers_in(g)][:1]
    return 1.0 if targets and any(abs(n - targets[0]) <= tolerance for n in numbers_in(output)) else 0.0


# What a response that declines to answer says: LongMemEval's abstention items are correct only when
# the response says the information is not there.
_ABSTAIN = re.compile(
    r"\b(?:(?:did|do|does|have|has|had)(?: not|n't|n’t) (?:mention|say|tell|share|specify|talk|discuss|provide|know)"
    r"|never (?:mentioned|said|told|shared|specified|talked|discussed)|not (?:been )?(?:mentioned|specified|stated|provided)"
    r"|no (?:information|mention|record|details?)|not enough (?:information|context|details?)"
    r"|(?:is|are|was|were) not (?:enough|sufficient)|(?:insufficient|incomplete) information"
    r"|(?:can ?not|can't|can’t|unable to|am not able to) (?:answer|determine|tell|find|know|say|recall)"
    r"|(?:do not|don't|don’t) (?:know|have (?:any |that |this )?(?:information|record|details?))"
    r"|unanswerable|not (?:possible|able) to (?:answer|determine))\b",
    re.IGNORECASE,
)


def abstains(output: str, gold: Sequence[str] = ()) -> float:
    """1 if the output declines: says the information was not given or cannot be determined."""
    return 1.0 if _ABSTAIN.search(output or "") else 0.0


# --- retrieval (LongMemEval's session-level recall and NDCG) ------------------------------------------

RETRIEVAL_K = (5, 10)


def recall_any(retrieved: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """1 if any relevant id is in the top k."""
    top = set(retrieved[:k])
    return float(any(r in top for r in relevant))


def recall_all(retrieved: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """1 if every relevant id is in the top k."""
    top = set(retrieved[:k])
    return float(all(r in top for r in relevant))


def _dcg(relevances: Sequence[float], k: int) -> float:
    # LongMemEval's dcg: the first rank undiscounted, rank i >= 2 divided by log2(i). (Ranks 1 and 2
    # weigh the same; the textbook form divides rank i by log2(i + 1). Kept as theirs to match numbers.)
    rel = np.asarray(relevances, dtype=float)[:k]
    if not rel.size:
        return 0.0
    return float(rel[0] + np.sum(rel[1:] / np.log2(np.arange(2, rel.size + 1))))


def ndcg_any(retrieved: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """NDCG@k with binary relevance; the ideal ranking puts every relevant id first."""
    wanted = set(relevant)
    ideal = _dcg([1.0] * len(wanted), k)
    return _dcg([1.0 if r in wanted else 0.0 for r in retrieved], k) / ideal if ideal else 0.0


def retrieval_scores(retrieved: Sequence[str], relevant: Sequence[str]) -> dict[str, float]:
    """recall_any@k, recall_all@k and ndcg_any@k for k in RETRIEVAL_K (duplicates keep their first rank)."""
    ranked = list(dict.fromkeys(retrieved))
    out = {}
    for k in RETRIEVAL_K:
        out[f"recall_any@{k}"] = recall_any(ranked, relevant, k)
        out[f"recall_all@{k}"] = recall_all(ranked, relevant, k)
        out[f"ndcg_any@{k}"] = ndcg_any(ranked, relevant, k)
    return out


# --- M4LE (summaries, translations, id lists and counts) -------------------------------------------

# CJK ideographs (with extension A and the compatibility block), kana and hangul syllables: text that
# rouge_score's default tokenizer would drop whole, since it keeps only [a-z0-9].
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")

# M4LE scores with Google's rouge_score. Whether its scorer stems could not be checked against the
# KwanWaiChung/M4LE source here, so the stemmer is on (Porter, as rouge_score's README shows it and
# most summarisation code uses it): "runs" and "running" both become "run". Affects English only.
ROUGE_USE_STEMMER = True


class _CjkCharTokenizer:
    """rouge_score's tokenizer, except that each CJK character is a token of its own (M4LE splits
    Chinese by character). Text without CJK is tokenised exactly as rouge_score's default does
    (lower-cased [a-z0-9] words, Porter-stemmed when longer than 3); punctuation is dropped."""

    def __init__(self, use_stemmer: bool):
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        from rouge_score import tokenize

        tokens: list[str] = []
        for i, piece in enumerate(_CJK.split(text or "")):
            if i % 2:  # the captured CJK characters sit at the odd positions
                tokens.append(piece)
            elif piece.strip():
                tokens.extend(tokenize.tokenize(piece, self._stemmer))
        return tokens


@functools.cache
def _rouge_l_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_CjkCharTokenizer(ROUGE_USE_STEMMER))


def rouge_l_recall(output: str, gold: Sequence[str]) -> float:
    """M4LE's summarisation score: ROUGE-L recall (LCS over the reference's length), the best over
    the gold references. An empty output scores 0."""
    pred = ruler_postprocess(output)
    refs = [g for g in gold if g and g.strip()]
    if not pred or not refs:
        return 0.0
    scorer = _rouge_l_scorer()
    return max(float(scorer.score(ref, pred)["rougeL"].recall) for ref in refs)


def bleu(output: str, gold: Sequence[str]) -> float:
    """M4LE's translation score: sacrebleu's sentence BLEU against all gold references, / 100.
    sacrebleu's defaults (exp smoothing, effective order, case-sensitive, tokenize "13a"), except
    tokenize "zh" when a reference holds CJK text (13a would leave a Chinese sentence one token)."""
    import sacrebleu

    refs = [g for g in gold if g and g.strip()]
    pred = ruler_postprocess(output)
    if not pred or not refs:
        return 0.0
    tokenize = "zh" if any(_CJK.search(r) for r in refs) else "13a"
    score = sacrebleu.sentence_bleu(pred, refs, tokenize=tokenize).score / 100
    return min(1.0, max(0.0, float(score)))


_HEX_ID = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{6}(?![0-9A-Za-z])")
_INTEGER = re.compile(r"(?<!\d)\d+(?!\d)")


def _named_ids(text: str, hex_ids: bool) -> set:
    if hex_ids:  # an all-letter lowercase token is an English word ("decade", "facade"), not an id
        return {m.group(0).upper() for m in _HEX_ID.finditer(text or "")
                if any(c.isdigit() for c in m.group(0)) or m.group(0).isupper()}
    return {int(m.group(0)) for m in _INTEGER.finditer(text or "")}


def id_set_f1(output: str, gold: Sequence[str]) -> float:
    """F1 between the set of ids an answer names and the gold ids (M4LE's multiple-span answers).
    Gold ids are M4LE's random 6-hex-digit ids ("3FA2C1": every standalone 6-hex-digit token of the
    output counts, case ignored unless it is all letters) or positions ("Article 3", "3": every integer of the output counts,
    compared as numbers). No gold ids: 1 when the output names no id of either kind, else 0."""
    golds = [g.strip() for g in gold if g and g.strip()]
    if not golds:
        return 0.0 if _named_ids(output, True) or _named_ids(output, False) else 1.0
    hex_ids = all(_HEX_ID.fullmatch(g) for g in golds)
    truth = set().union(*(_named_ids(g, hex_ids) for g in golds))
    named = _named_ids(output, hex_ids)
    if not truth:
        return 1.0 if not named else 0.0
    hits = len(named & truth)
    if not hits:
        return 0.0
    precision, recall = hits / len(named), hits / len(truth)
    return 2 * precision * recall / (precision + recall)


def count_match(output: str, gold: Sequence[str]) -> float:
    """1 when the FIRST number of the output (digits or number words) is the gold count (gold[0])."""
    found = numbers_in(output)
    target = numbers_in(gold[0]) if gold else []
    return 1.0 if found and target and found[0] == target[0] else 0.0


METRICS: dict[str, Callable[[str, Sequence[str]], float]] = {
    "string_match_all": string_match_all,
    "string_match_part": string_match_part,
    "exact_match": exact_match,
    "choice_accuracy": choice_accuracy,
    "first_word_match": first_word_match,
    "contains_any": contains_any,
    "rouge_l_recall": rouge_l_recall,
    "bleu": bleu,
    "id_set_f1": id_set_f1,
    "count_match": count_match,
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
# two agree to the third decimal.
BOOTSTRAP_MAX_N = 10_000


def bootstrap(values: np.ndarray, resamples: int = 1000, seed: int = 0) -> tuple[float, float, str]:
    """95% percentile bootstrap of the mean (normal interval for very large n)."""
    distinct, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    return bootstrap_counts(distinct, counts, resamples, seed)


def bootstrap_counts(distinct: np.ndarray, counts: np.ndarray, resamples: int = 1000, seed: int = 0) -> tuple[float, float, str]:
    """`bootstrap` of a sample given as its distinct values and their counts.

    Resampling n values with replacement draws each distinct value Multinomial(n, counts/n) times, so
    the resampled means are drawn from the counts: the same distribution as resampling indices, at
    resamples x distinct values instead of resamples x n (graded scores take few distinct values)."""
    distinct, counts = np.asarray(distinct, dtype=float), np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    if n == 0:
        return (math.nan, math.nan, "none")
    mean = float(counts @ distinct) / n
    if n == 1 or len(distinct) == 1:
        return (mean, mean, "bootstrap")
    if n > BOOTSTRAP_MAX_N:
        std = math.sqrt(float(counts @ (distinct - mean) ** 2) / (n - 1))
        half = Z95 * std / math.sqrt(n)
        return (mean - half, mean + half, "normal")
    rng = np.random.default_rng(seed)
    means = rng.multinomial(n, counts / n, size=resamples) @ distinct / n
    lo, hi = np.quantile(means, [0.025, 0.975])
    return (float(lo), float(hi), "bootstrap")


def interval(values: np.ndarray) -> tuple[float, float, str]:
    """Wilson for 0/1 scores, bootstrap otherwise."""
    distinct, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    return interval_counts(distinct, counts)


def interval_counts(distinct: np.ndarray, counts: np.ndarray) -> tuple[float, float, str]:
    """`interval` of a sample given as its distinct values and their counts."""
    distinct, counts = np.asarray(distinct, dtype=float), np.asarray(counts, dtype=np.int64)
    if len(distinct) and np.all((distinct == 0) | (distinct == 1)):
        lo, hi = wilson(float(counts @ distinct), int(counts.sum()))
        return (lo, hi, "wilson")
    return bootstrap_counts(distinct, counts)
