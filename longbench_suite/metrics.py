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

from .scbench_metrics import SCBENCH_METRICS

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


# --- retrieval (LongMemEval's recall_any, recall_all and ndcg_any, session and turn level) -----------

RETRIEVAL_K = (1, 3, 5, 10, 30, 50)  # the cut-offs LongMemEval's retrieval evaluation reports
TURN_PREFIX = "turn_"  # turn-level metrics: turn_recall_any@k ...; session-level ones have no prefix


def recall_any(retrieved: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """1 if any relevant id is in the top k."""
    top = set(retrieved[:k])
    return float(any(r in top for r in relevant))


def recall_all(retrieved: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """1 if every relevant id is in the top k (1 when there is none: LongMemEval's all() of nothing)."""
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
    """NDCG@k with binary relevance; the ideal ranking puts every relevant id first (0 when none is)."""
    wanted = set(relevant)
    ideal = _dcg([1.0] * len(wanted), k)
    return _dcg([1.0 if r in wanted else 0.0 for r in retrieved], k) / ideal if ideal else 0.0


def retrieval_scores(retrieved: Sequence[str], relevant: Sequence[str]) -> dict[str, float]:
    """recall_any@k, recall_all@k and ndcg_any@k for k in RETRIEVAL_K over a ranking of sessions
    (duplicates keep their first rank). `relevant` may be empty: recall_all is then 1, the others 0."""
    ranked = list(dict.fromkeys(retrieved))
    out = {}
    for k in RETRIEVAL_K:
        out[f"recall_any@{k}"] = recall_any(ranked, relevant, k)
        out[f"recall_all@{k}"] = recall_all(ranked, relevant, k)
        out[f"ndcg_any@{k}"] = ndcg_any(ranked, relevant, k)
    return out


def session_of_turn(turn_id: str) -> str:
    """A turn id is `<session id>_<position>`: LongMemEval strips the last `_` part to get the session."""
    return turn_id.rsplit("_", 1)[0]


def turn_retrieval_scores(retrieved: Sequence[str], relevant: Sequence[str]) -> dict[str, float]:
    """Metrics of a ranking of turns, as LongMemEval scores turn-level retrieval: turn_recall_any@k,
    turn_recall_all@k, turn_ndcg_any@k over the relevant turns, and the session-level recall_any@k,
    recall_all@k, ndcg_any@k of the same ranking.

    Session level, LongMemEval's way: a turn stands for its session when it is relevant; every other
    turn of a session that holds relevant turns stands for a second, irrelevant document (their
    `noans` ids), and a turn of any other session for its session. k is widened until the top holds
    k distinct documents (or the ranking ends); a session is recalled when one of its relevant turns
    is in that top, and NDCG is taken over the turns with the relevant turns as the ideal."""
    ranked = list(dict.fromkeys(retrieved))
    wanted = set(relevant)
    sessions = {session_of_turn(t) for t in wanted}
    docs = [session_of_turn(t) if t in wanted or session_of_turn(t) not in sessions else (session_of_turn(t), "other")
            for t in ranked]
    out = {}
    for k in RETRIEVAL_K:
        out[f"{TURN_PREFIX}recall_any@{k}"] = recall_any(ranked, list(wanted), k)
        out[f"{TURN_PREFIX}recall_all@{k}"] = recall_all(ranked, list(wanted), k)
        out[f"{TURN_PREFIX}ndcg_any@{k}"] = ndcg_any(ranked, list(wanted), k)
        wide = _widened_k(docs, k)
        found = {session_of_turn(t) for t in ranked[:wide] if t in wanted}
        out[f"recall_any@{k}"] = float(bool(found))
        out[f"recall_all@{k}"] = float(found == sessions)
        out[f"ndcg_any@{k}"] = ndcg_any(ranked, list(wanted), wide)
    return out


def _widened_k(docs: Sequence[object], k: int) -> int:
    """The smallest k' >= k whose top k' holds k distinct documents; one past the end when none does."""
    seen: set = set()
    for i, doc in enumerate(docs):
        seen.add(doc)
        if i + 1 >= k and len(seen) >= k:
            return i + 1
    return max(k, len(docs) + 1)


# --- M4LE (KwanWaiChung/M4LE evaluation.py and utils/bleu.py, read at 47c2af9) ----------------------
# A response is scored as M4LE's evaluation.py scores it: the task's preprocessing, then its end
# tokens (each in turn keeps what precedes its first occurrence), then the metric. The per-task
# settings live in data_builders/m4le_tasks.toml; `m4le_score` takes them as arguments.

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def is_chinese(text: str | None) -> bool:
    """M4LE's two languages told apart: a text is Chinese when it has at least as many Chinese
    characters as English words (M4LE counts Chinese in characters and English in words)."""
    han = len(_HAN.findall(text or ""))
    return han > 0 and han >= len(_LATIN_WORD.findall(text or ""))


def language_of(gold: Sequence[str]) -> str:
    """"zh" when the references are Chinese, else "en": the scoring language of a task not in the table."""
    return "zh" if is_chinese(" ".join(str(g) for g in gold)) else "en"


def m4le_cut(output: str | None, end_tokens: Sequence[str]) -> str:
    """M4LE's response cut: for each end token in turn, keep what precedes its first occurrence
    (stripped); the result is stripped even with no end tokens."""
    text = output or ""
    for token in end_tokens:
        text = text.split(token)[0].strip()
    return text.strip()


@functools.cache
def _rouge(lang: str):
    # M4LE: the `rouge` package (1.0.x) for English, `rouge-chinese` over jieba words for Chinese.
    if lang == "zh":
        from rouge_chinese import Rouge
    else:
        from rouge import Rouge
    return Rouge()


@functools.cache
def _jieba():
    import logging
    import warnings

    with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources (and falls back without it)
        warnings.simplefilter("ignore", DeprecationWarning)
        import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary load would print to stderr
    jieba.initialize()
    return jieba


def _deep_enough(depth: int) -> None:
    """The `rouge` package rebuilds each LCS by recursion, one level per word (evaluation.py raises
    the recursion limit for it). Python >= 3.11 keeps such recursion off the C stack, so raising the
    limit is safe; it is only ever raised."""
    import sys

    if sys.getrecursionlimit() < depth + 1000:
        sys.setrecursionlimit(depth + 1000)


def rouge_l_recall(output: str, gold: Sequence[str], lang: str | None = None) -> float:
    """M4LE's summarisation score: the ROUGE-L recall of the `rouge` package (English: sentences split
    on ".", words on spaces, case kept, no stemming) or of `rouge-chinese` over jieba's words
    (Chinese), the best over the non-empty references. Any ValueError of the library (an empty
    response or reference) scores the whole item 0, as evaluation.py catches it."""
    lang = lang or language_of(gold)
    pred = output or ""
    try:
        if lang == "zh":
            cut = _jieba().cut
            hyp = " ".join(cut(pred))
            return float(max(_rouge("zh").get_scores(hyps=hyp, refs=" ".join(cut(ref)))[0]["rouge-l"]["r"]
                             for ref in gold if ref))
        scorer = _rouge("en")
        scores = []
        for ref in gold:
            if ref:
                _deep_enough(len(pred) + len(ref))
                scores.append(scorer.get_scores(hyps=pred, refs=ref)[0]["rouge-l"]["r"])
        return float(max(scores))
    except ValueError:
        return 0.0


def m4le_acc(output: str, gold: Sequence[str]) -> float:
    """M4LE's "acc": 1 when any reference, lower-cased, is a substring of the lower-cased response."""
    pred = (output or "").lower()
    return float(any(str(g).lower() in pred for g in gold))


def _set_f1(predicted: Sequence[str], answers: Sequence[str]) -> float:
    hits = len(set(answers) & set(predicted))
    if not answers or not predicted or not hits:
        return 0.0
    precision, recall = hits / len(set(predicted)), hits / len(set(answers))
    return 2 * precision * recall / (precision + recall)


# The plain `cls_f1` (no task given): MNDS-news explicit-multiple's rule, the first sentence of the
# response ("." ends it) split on commas, against the first reference split on commas.
CLS_F1_DEFAULT = {"response_until": ".", "split": ","}


def cls_f1(output: str, gold: Sequence[str], preprocess: dict | None = None) -> float:
    """M4LE's "cls_f1": the response's first sentence (up to `response_until`) split on `split`, each
    item stripped, against the first reference (up to `answer_until`, if set) split the same way: F1
    of the two sets. Chinese tasks end the sentence at "。" and split on the full-width "，"."""
    pre = preprocess if preprocess and preprocess.get("split") else CLS_F1_DEFAULT
    if not gold:
        return 0.0
    response, answer = output or "", str(gold[0])
    if pre.get("response_until"):
        response = response.split(pre["response_until"])[0].strip()
    if pre.get("answer_until"):
        answer = answer.split(pre["answer_until"])[0]
    sep = pre["split"]
    return _set_f1([x.strip() for x in response.split(sep)], [x.strip() for x in answer.split(sep)])


# --- BLEU: M4LE's corpus BLEU per length bucket (utils/bleu.py: no smoothing, the shortest reference
# length, 13a tokens for English and sacrebleu's "zh" tokens for Chinese). A probe stores its
# sufficient statistics as score rows ("bleu.sys_len" ...); `lbs aggregate` sums them over a group.
BLEU_ORDER = 4
BLEU_STATS = ("sys_len", "ref_len", *(f"correct_{n}" for n in range(1, BLEU_ORDER + 1)),
              *(f"total_{n}" for n in range(1, BLEU_ORDER + 1)))


@functools.cache
def _bleu_tokenizer(lang: str):
    if lang == "zh":
        from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

        return TokenizerZh()
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


def _ngrams(tokens: list[str]):
    from collections import Counter

    return Counter(tuple(tokens[i:i + n]) for n in range(1, BLEU_ORDER + 1) for i in range(len(tokens) - n + 1))


def bleu_stats(output: str, gold: Sequence[str], lang: str | None = None) -> list[int]:
    """One (response, references) pair's BLEU statistics in BLEU_STATS order: response and shortest
    reference length in tokens, then the clipped n-gram matches and the response's n-gram counts."""
    from collections import Counter

    tokenize = _bleu_tokenizer(lang or language_of(gold))
    hyp = tokenize(output or "").split()
    refs = [tokenize(str(g)).split() for g in gold]
    merged: Counter = Counter()
    for ref in refs:
        merged |= _ngrams(ref)  # an n-gram may be matched as often as the reference that has it most
    correct = [0] * BLEU_ORDER
    for gram, count in (_ngrams(hyp) & merged).items():
        correct[len(gram) - 1] += count
    total = [max(len(hyp) - n + 1, 0) for n in range(1, BLEU_ORDER + 1)]
    return [len(hyp), min((len(r) for r in refs), default=0), *correct, *total]


def corpus_bleu(stats: Sequence[float]) -> float:
    """BLEU in [0, 1] of summed statistics (BLEU_STATS order), without smoothing. A corpus with no
    response or no reference tokens scores 0 (M4LE's code divides by zero there)."""
    return float(min(1.0, corpus_bleu_many(np.asarray([stats], dtype=float))[0]))


def corpus_bleu_many(stats: np.ndarray) -> np.ndarray:
    """`corpus_bleu` of each row of summed statistics at once (the bootstrap's resamples): M4LE's
    utils/bleu.py formula (geometric mean of the n-gram precisions, 0 when one is 0, times the
    brevity penalty against the shortest references)."""
    stats = np.asarray(stats, dtype=float)
    sys_len, ref_len = stats[:, 0], stats[:, 1]
    correct, total = stats[:, 2:2 + BLEU_ORDER], stats[:, 2 + BLEU_ORDER:]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(total > 0, correct / np.where(total > 0, total, 1), 0.0)
        geo = np.where(precision.min(axis=1) > 0, np.exp(np.log(np.where(precision > 0, precision, 1)).mean(axis=1)), 0.0)
        bp = np.where(sys_len < ref_len, np.exp(1 - ref_len / np.where(sys_len > 0, sys_len, 1)), 1.0)
    return np.where((sys_len > 0) & (ref_len > 0), geo * bp, 0.0)


def bleu(output: str, gold: Sequence[str], lang: str | None = None) -> float:
    """One pair's BLEU as M4LE computes a corpus's (a corpus of one): for browsing. The aggregate of a
    group is the corpus BLEU of its summed statistics, not the mean of these."""
    return corpus_bleu(bleu_stats(output, gold, lang))


# Corpus metrics: name -> (the score rows holding each probe's statistics, statistics -> value).
CORPUS_METRICS: dict[str, tuple[tuple[str, ...], Callable[[Sequence[float]], float], Callable[[np.ndarray], np.ndarray]]] = {
    "bleu": (tuple(f"bleu.{s}" for s in BLEU_STATS), corpus_bleu, corpus_bleu_many),
}


def corpus_interval(stats: np.ndarray, many: Callable[[np.ndarray], np.ndarray], resamples: int = 1000,
                    seed: int = 0) -> tuple[float | None, float | None, str]:
    """95% percentile bootstrap of a corpus metric over probes (rows of `stats`): each resample draws
    the probes with replacement and sums their statistics. None above BOOTSTRAP_MAX_N probes."""
    n = len(stats)
    if n > BOOTSTRAP_MAX_N:
        return (None, None, "none")
    if n == 1:
        value = float(many(stats)[0])
        return (value, value, "bootstrap-corpus")
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=resamples)
    lo, hi = np.quantile(many(weights @ stats), [0.025, 0.975])
    return (float(lo), float(hi), "bootstrap-corpus")


def m4le_score(output: str | None, gold: Sequence[str], metric: str, lang: str | None = None,
               end_tokens: Sequence[str] = (), preprocess: dict | None = None) -> dict[str, float]:
    """One response scored as M4LE's evaluation.py does for a task with these settings: `preprocess`
    (quoted: the text inside the first pair of double quotes; answer_until: the first reference cut
    at that mark; split: cls_f1's lists), then the end tokens, then the metric (the primary value
    first; BLEU adds its statistics)."""
    pre = preprocess or {}
    response, answers = output or "", [str(g) for g in gold]
    if pre.get("quoted") and '"' in response:  # news2016: what the model put in quotes
        response = response.split('"')[1].strip()
    if metric == "cls_f1":
        return {metric: cls_f1(response, answers, pre)}
    if pre.get("answer_until") and answers:  # the counting tasks: "2." -> "2"
        answers = [answers[0].split(pre["answer_until"])[0]]
    response = m4le_cut(response, end_tokens)
    if metric == "m4le_acc":
        return {metric: m4le_acc(response, answers)}
    if metric == "rouge_l_recall":
        return {metric: rouge_l_recall(response, answers, lang)}
    if metric == "bleu":
        stats = bleu_stats(response, answers, lang)
        return {"bleu": corpus_bleu(stats), **{f"bleu.{s}": float(v) for s, v in zip(BLEU_STATS, stats)}}
    return {metric: METRICS[metric](response, answers)}


def _plain(metric: str) -> Callable[[str, Sequence[str]], float]:
    """A metric as M4LE scores a task with no end tokens and no preprocessing (the METRICS entry)."""
    return lambda output, gold: m4le_score(output, gold, metric)[metric]


METRICS: dict[str, Callable[[str, Sequence[str]], float]] = {
    "string_match_all": string_match_all,
    "string_match_part": string_match_part,
    "exact_match": exact_match,
    "choice_accuracy": choice_accuracy,
    "first_word_match": first_word_match,
    "contains_any": contains_any,
    "rouge_l_recall": _plain("rouge_l_recall"),
    "bleu": _plain("bleu"),
    "m4le_acc": _plain("m4le_acc"),
    "cls_f1": _plain("cls_f1"),
    **SCBENCH_METRICS,  # SCBench's scorers (longbench_suite/scbench_metrics.py)
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
