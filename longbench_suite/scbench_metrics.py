"""SCBench's scorers (SharedContextBench, Li et al. 2024), written from the rules of its official code.

Source: microsoft/MInference, scbench/compute_scores.py and scbench/repo_qa_utils.py, read at commit
fb56c917 (scoring last changed in 459df6b); docs/fidelity.md lists the rules and what differs.
Each task has its own rule, and several of them are less forgiving than their names suggest.
kv is a raw case-sensitive substring test. qa_eng is not F1. choice_eng takes any answer that starts
with a capital A-D as that letter. mf ignores the sign and truncates decimals. The scores follow those
rules exactly so that our numbers mean what SCBench's mean.

Every metric is `(output, gold) -> float` (METRICS in longbench_suite/metrics.py). `gold` is a list of
strings shaped as each scorer needs it:
  scbench_substring, scbench_passkey, scbench_math, scbench_rouge_lsum   [answer]
  scbench_recall, scbench_contains, scbench_char_f1                      the answers (a list)
  scbench_choice                                                         [option text, letter]
  scbench_repoqa                                                         [function source, function name]

Differences from the official code (also in docs/fidelity.md):
  - A gold answer is always a list. The official code iterates over the label, so a plain-string label
    for qa_chn, many_shot or vt is read one character at a time. We do not reproduce that quirk.
  - repoqa: the official code uses tree-sitter to take the first function definition of a fenced
    block. We do the same with Python's `ast` for Python. For other languages (and for blocks that
    `ast` cannot parse, where tree-sitter would still recover) we take the first block.
  - scbench_repoqa in METRICS has one candidate, the gold function. The official candidate pool is
    every function of the same repo, and the shared_context family scores with that pool
    (`repoqa_score`, from the probe's meta "candidates").
"""

from __future__ import annotations

import ast
import functools
import re
import string
from collections import Counter
from typing import Sequence


def _text(output: str | None) -> str:
    return output or ""


# --- string retrieval ------------------------------------------------------------------------------


def scbench_substring(output: str, gold: Sequence[str]) -> float:
    """kv and prefix_suffix (and the kv turns of repoqa_and_kv): 1 if the answer appears in the output
    as it is (case-sensitive, nothing stripped)."""
    return 1.0 if gold and str(gold[0]) in _text(output) else 0.0


def scbench_recall(output: str, gold: Sequence[str]) -> float:
    """vt: the fraction of gold items found in the output (case-insensitive substrings), to 2 decimals."""
    if not gold:
        return 0.0
    pred = _text(output).lower()
    return round(sum(1.0 for g in gold if str(g).lower() in pred) / len(gold), 2)


def scbench_contains(output: str, gold: Sequence[str]) -> float:
    """qa_eng and many_shot: 1 if any gold answer, upper-cased, is in the stripped, upper-cased output."""
    pred = _text(output).strip().upper()
    return 1.0 if any(str(g).upper() in pred for g in gold) else 0.0


# --- multiple choice (choice_eng) --------------------------------------------------------------------

_CHOICE_BLANKED = "\n\"'.,?!{}"  # these characters become spaces before the answer prefixes are looked for
_CHOICE_PREFIXES = ("answer is:", "answer:", "answer is", "option is")


def scbench_choice(output: str, gold: Sequence[str]) -> float:
    """choice_eng. `gold` is [option text, letter]. The rules are applied in order:
    - an output that starts with a capital A-D names that letter ("Answer: B" names A);
    - an output that equals the letter or the option text is right;
    - after one of the answer prefixes (skipping one character), the text must start with the letter
      or the option text;
    - otherwise the first word that is a substring of "ABCD" decides."""
    pred = _text(output).strip()
    if not pred:
        return 0.0
    if pred[0] in "ABCD":
        return float(pred[0] in gold)
    if pred in gold:
        return 1.0
    for c in _CHOICE_BLANKED:
        pred = pred.replace(c, " ")
    while "  " in pred:
        pred = pred.replace("  ", " ")
    for prefix in _CHOICE_PREFIXES:
        at = pred.find(prefix)
        if at == -1:
            continue
        start = at + len(prefix) + 1
        if len(pred) < start:  # the output ends with the prefix
            return 0.0
        return float(any(pred[start:].startswith(g) for g in gold))
    for word in pred.split():
        if word in "ABCD":  # a substring test, as the official code does: "BC" counts
            return float(word in gold)
    return 0.0


# --- Chinese QA (qa_chn): character F1 -------------------------------------------------------------

_ZH_PUNCT = set(string.punctuation + "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】"
                "〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.")


def _normalize_zh(text: str) -> str:
    """Lower-case, drop ASCII and CJK punctuation, drop all whitespace."""
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCT).split())


def _f1(pred: list[str], ref: list[str]) -> float:
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def scbench_char_f1(output: str, gold: Sequence[str]) -> float:
    """qa_chn: character-level F1 of the normalized output and answer; the best over the answers."""
    pred = list(_normalize_zh(_text(output)))
    return max((_f1(pred, list(_normalize_zh(str(g)))) for g in gold), default=0.0)


# --- numbers: mf (Math.Find) and passkey -------------------------------------------------------------

_FIRST_NUMBER = re.compile(r"\d+\.\d+|\d+")
_INT = re.compile(r"[+-]?\d+")


def scbench_math(output: str, gold: Sequence[str]) -> float:
    """mf: the first number in the output (digits, optionally with a decimal part; no sign) against the
    answer. An integer answer is compared with the number truncated to an int ("-12.7" matches 12);
    any other answer is compared as a float."""
    if not gold:
        return 0.0
    m = _FIRST_NUMBER.search(_text(output))
    if m is None:
        return 0.0
    label = str(gold[0]).strip()
    if _INT.fullmatch(label):
        return float(int(float(m.group(0))) == int(label))
    return float(float(m.group(0)) == float(label))


def scbench_passkey(output: str, gold: Sequence[str]) -> float:
    """The passkey turns of summary_with_needles: the first run of digits in the output must equal
    the answer as a string (leading zeros matter)."""
    if not gold:
        return 0.0
    m = re.search(r"[0-9]+", _text(output))
    return float((m.group(0) if m else "") == str(gold[0]))


# --- summary: rougeLsum ----------------------------------------------------------------------------


@functools.cache
def _rouge_lsum():
    from rouge_score import rouge_scorer

    # As HF evaluate's "rouge" calls it: no stemmer, the default tokenizer.
    return rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=False)


def scbench_rouge_lsum(output: str, gold: Sequence[str]) -> float:
    """summary: the rougeLsum F-measure of rouge_score. Lines are sentences. Tokens are lower-cased
    runs of [a-z0-9], so text in other scripts counts for nothing."""
    if not gold:
        return 0.0
    return float(_rouge_lsum().score(str(gold[0]), _text(output))["rougeLsum"].fmeasure)


# --- repoqa: BLEU against the candidate functions ----------------------------------------------------

_FENCED = re.compile(r"^```(?:\w+)?\s*\n(.*?)(?=^```)```", re.DOTALL | re.MULTILINE)
REPOQA_THRESHOLD = 0.8


def _first_python_function(block: str) -> str | None:
    """The source of the first function definition in a block (the earliest `def` in the text, methods
    and nested functions included), or None when the block does not parse or has none."""
    try:
        tree = ast.parse(block)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # tree-sitter would parse some of these
        return None
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not defs:
        return None
    first = min(defs, key=lambda n: (n.lineno, n.col_offset))
    return ast.get_source_segment(block, first)


def repoqa_extract(output: str, lang: str | None = "python") -> str:
    """The code that repoqa scores. This is the whole stripped output when it has no fenced block.
    Otherwise it is the first function definition found in the blocks, in order (Python only), or
    failing that the first block."""
    text = _text(output).strip()
    blocks = _FENCED.findall(text)
    if not blocks:
        return text
    if lang in (None, "python"):
        for block in blocks:
            found = _first_python_function(block)
            if found is not None:
                return found
    return blocks[0]


def function_similarity(candidate: str, reference: str) -> float:
    """NLTK sentence BLEU (4-gram, uniform weights, smoothing method 4) over whitespace tokens."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    cand = re.split(r"\s+", candidate.strip())
    ref = re.split(r"\s+", reference.strip())
    return float(sentence_bleu([ref], cand, smoothing_function=SmoothingFunction().method4))


def repoqa_best(output: str, candidates: Sequence[tuple[str, str]], lang: str | None = "python") -> tuple[str | None, float]:
    """The candidate (name, source) whose source is most similar to the extracted output, and that
    similarity. A later candidate wins only when strictly more similar, and none wins at 0."""
    code = repoqa_extract(output, lang)
    best, best_score = None, 0.0
    for name, source in candidates:
        score = function_similarity(code, source)
        if score > best_score:
            best, best_score = name, score
    return best, best_score


def repoqa_score(output: str, name: str, candidates: Sequence[tuple[str, str]], threshold: float = REPOQA_THRESHOLD,
                 lang: str | None = "python") -> float:  # fmt: skip
    """repoqa: 1 if the most similar candidate is the function `name` and its BLEU is >= threshold."""
    best, score = repoqa_best(output, candidates, lang)
    return float(best == name and score >= threshold)


def scbench_repoqa(output: str, gold: Sequence[str]) -> float:
    """repoqa with `gold` = [function source, function name] as the only candidate. With one candidate
    this is whether the extracted code reaches BLEU 0.8 against it."""
    if len(gold) < 2:
        return 0.0
    source, name = str(gold[0]), str(gold[1])
    return repoqa_score(output, name, [(name, source)])


SCBENCH_METRICS = {
    "scbench_substring": scbench_substring,
    "scbench_recall": scbench_recall,
    "scbench_contains": scbench_contains,
    "scbench_choice": scbench_choice,
    "scbench_char_f1": scbench_char_f1,
    "scbench_math": scbench_math,
    "scbench_passkey": scbench_passkey,
    "scbench_rouge_lsum": scbench_rouge_lsum,
    "scbench_repoqa": scbench_repoqa,
}
