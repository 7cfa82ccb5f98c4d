"""M4LE's metrics as functions: the registry, bounds, the oracle's 1.0 under every task's rule, the
random baseline's chance, BLEU's statistics against sacrebleu, and the language rule.

Values derived by hand from M4LE's rules are in tests/test_m4le_fidelity.py.
"""

import numpy as np
import pytest
import sacrebleu

from data_builders import m4le as conv
from longbench_suite import metrics
from longbench_suite.metrics import METRICS, chance_of

M4LE_METRICS = ["rouge_l_recall", "bleu", "m4le_acc", "exact_match", "cls_f1"]


def test_registered():
    assert set(M4LE_METRICS) <= set(METRICS)
    assert not {"id_set_f1", "count_match"} & set(METRICS)  # replaced by M4LE's cls_f1 and exact_match


@pytest.mark.parametrize("name", M4LE_METRICS)
def test_in_unit_interval(name):
    for output in ["", "3FA2C1 Article 3 three", "the cat sat on the mat", "今天天气很好", ".", "\n"]:
        value = METRICS[name](output, ["the cat sat on the mat, 3FA2C1 3"])
        assert 0.0 <= value <= 1.0


# One answer per task, in the task's language and form; the oracle answers ", ".join(gold).
ORACLE_GOLD = {
    "rouge_l_recall": {"en": ["The committee approved the new budget on Tuesday."], "zh": ["委员会周二批准了新预算。"]},
    "bleu": {"en": ["The committee approved the new budget on Tuesday."], "zh": ["委员会周二批准了新预算。"]},
    "m4le_acc": {"en": ["Paris"], "zh": ["北京"]},
    "exact_match": {"en": ["A1B2C3"], "zh": ["A1B2C3"]},
    "cls_f1": {"en": ["A1B2C3, D4E5F6"], "zh": ["A1B2C3，D4E5F6"]},
}


@pytest.mark.parametrize("task", sorted({e["name"] for e in conv.task_table()[0].values()}))
def test_the_oracle_scores_one_under_every_task_rule(task):
    rule = conv.scoring(conv.official_task(task))
    lang = "zh" if rule["preprocess"] and rule["preprocess"].get("split") == "，" else rule["lang"]
    gold = ORACLE_GOLD[rule["metric"]][lang]
    if rule["preprocess"] and rule["preprocess"].get("answer_until"):
        gold = [gold[0] + rule["preprocess"]["answer_until"]]  # "2." as M4LE's counting answers end
    scored = metrics.m4le_score(", ".join(gold), gold, rule["metric"], rule["lang"], rule["end_tokens"], rule["preprocess"])
    assert next(iter(scored.values())) == pytest.approx(1.0), (task, scored)


def test_chance():
    # m4le_acc: one of four candidates contains the answer
    assert chance_of("m4le_acc", ["A1B2C3", "D4E5F6", "0F0F0F", "123456"], ["a1b2c3"]) == 0.25
    # cls_f1 of a single marker against two: P 1, R 1/2 -> 2/3 for each of the two right ones, 0 for the third
    assert chance_of("cls_f1", ["A1B2C3", "D4E5F6", "0F0F0F"], ["A1B2C3, D4E5F6"]) == pytest.approx(4 / 9)


def test_bleu_statistics_sum_to_sacrebleu_corpus_bleu():
    """Summed per-probe statistics give sacrebleu's corpus BLEU (no smoothing, one reference each,
    where the shortest and the closest reference length agree), also through the numpy form."""
    pairs = [("The cat is on the mat.", "The cat sat on the mat."), ("a quick brown fox", "the quick brown fox jumps"),
             ("He read the book because he was interested.", "He was interested in history because he read the book.")]
    stats = np.array([metrics.bleu_stats(h, [r], "en") for h, r in pairs], dtype=float)
    expected = sacrebleu.corpus_bleu([h for h, _ in pairs], [[r for _, r in pairs]], smooth_method="none").score / 100
    assert 0 < expected < 1
    assert metrics.corpus_bleu(stats.sum(axis=0)) == pytest.approx(expected, abs=1e-12)
    assert metrics.corpus_bleu_many(stats.sum(axis=0)[None])[0] == pytest.approx(expected, abs=1e-12)
    zh = [("今天天气很好", "今天天气不错"), ("我们明天去北京", "我们明天去上海")]
    stats = np.array([metrics.bleu_stats(h, [r], "zh") for h, r in zh], dtype=float)
    expected = sacrebleu.corpus_bleu([h for h, _ in zh], [[r for _, r in zh]], tokenize="zh", smooth_method="none").score / 100
    assert metrics.corpus_bleu(stats.sum(axis=0)) == pytest.approx(expected, abs=1e-12)


def test_bleu_edges():
    assert metrics.bleu("", ["The cat sat on the mat."], "en") == 0.0
    assert metrics.bleu("The cat", [], "en") == 0.0
    assert metrics.bleu("ok", ["ok"], "en") == 0.0  # no smoothing, no effective order: no 2-grams, BLEU 0
    assert metrics.corpus_bleu_many(np.zeros((1, 10)))[0] == 0.0


def test_corpus_interval():
    stats = np.array([metrics.bleu_stats(h, [r], "en") for h, r in [("a b c d e", "a b c d e"), ("a b c d", "a b x d"),
                                                                       ("p q r s", "p q r s t")]], dtype=float)
    lo, hi, method = metrics.corpus_interval(stats, metrics.corpus_bleu_many)
    value = metrics.corpus_bleu(stats.sum(axis=0))
    assert method == "bootstrap-corpus" and lo <= value <= hi and 0 <= lo < hi <= 1
    assert metrics.corpus_interval(stats[:1], metrics.corpus_bleu_many)[:2] == (1.0, 1.0)


def test_language_rule():
    # Chinese when it has at least as many Chinese characters as English words
    assert metrics.is_chinese("今天天气很好") and metrics.is_chinese("2023年GDP增长5%")  # 3 characters, 1 word
    assert not metrics.is_chinese("Li Wei (李伟) said the deal was done")  # 2 characters, 7 words
    assert not metrics.is_chinese("3FA2C1, 0B7D9E")  # markers: no Chinese character
    assert metrics.language_of(["A1B2C3"]) == "en" and metrics.language_of(["北京"]) == "zh"
    # M4LE's lengths: English in words, Chinese in characters (spaces and punctuation included)
    assert conv.m4le_length("the cat sat on the mat") == 6
    assert conv.m4le_length("今天 天气很好。") == 8
