"""M4LE's metrics: ROUGE-L recall, BLEU, id-set F1 and count match.

Expected values are derived by hand (LCS lengths, set sizes) and checked against the reference
libraries (rouge_score, sacrebleu) called directly.
"""

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from longbench_suite.metrics import (
    METRICS,
    ROUGE_USE_STEMMER,
    bleu,
    chance_of,
    count_match,
    id_set_f1,
    rouge_l_recall,
)

# --- ROUGE-L recall -----------------------------------------------------------------------------

# (prediction, reference, LCS length, reference length in tokens); tokens are rouge_score's:
# lower-cased [a-z0-9] words, punctuation dropped.
ENGLISH = [
    # ref: the cat sat on the mat (6); LCS "the cat on mat" = 4
    ("the cat lay on a mat", "the cat sat on the mat", 4, 6),
    # ref: a quick brown fox jumps (5); LCS "brown fox" (or "quick fox") = 2
    ("the brown dog quick fox", "a quick brown fox jumps", 2, 5),
    # ref: alice met bob then carol (5); prediction bob met alice is reversed: LCS = 1
    ("BOB met alice", "Alice met Bob, then Carol.", 1, 5),
    # ref: red apple (2); both in order in a longer prediction: LCS = 2 (recall ignores the extra words)
    ("I ate a red and shiny apple today", "red apple", 2, 2),
]


@pytest.mark.parametrize("pred,ref,lcs,ref_len", ENGLISH)
def test_rouge_l_recall_by_hand(pred, ref, lcs, ref_len):
    assert rouge_l_recall(pred, [ref]) == pytest.approx(lcs / ref_len)


@pytest.mark.parametrize("pred,ref,lcs,ref_len", ENGLISH)
def test_rouge_l_recall_matches_rouge_score(pred, ref, lcs, ref_len):
    direct = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=ROUGE_USE_STEMMER).score(ref, pred)["rougeL"].recall
    assert rouge_l_recall(pred, [ref]) == pytest.approx(direct)


def test_rouge_l_recall_is_max_over_references():
    pred = "the cat lay on a mat"
    # 4/6 against the first reference, 0 against the second (no shared token)
    assert rouge_l_recall(pred, ["a quick brown fox jumps", "the cat sat on the mat"]) == pytest.approx(4 / 6)
    assert rouge_l_recall(pred, ["the cat sat on the mat", "cat lay on mat"]) == pytest.approx(1.0)  # 4/4


def test_rouge_l_recall_stems():
    # Porter stemming (ROUGE_USE_STEMMER): "runs" and "running" both become "run" -> LCS 3 of 3.
    assert ROUGE_USE_STEMMER is True
    assert rouge_l_recall("the dog running", ["the dog runs"]) == 1.0
    plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score("the dog runs", "the dog running")
    assert plain["rougeL"].recall == pytest.approx(2 / 3)  # without stemming only "the dog" matches


def _chars(text):
    return [c for c in text if "\u4e00" <= c <= "\u9fff"]


class _CharTokenizer:
    def tokenize(self, text):
        return _chars(text)


CHINESE = [
    # ref 今 天 天 气 不 错 (6); LCS 今天天气 = 4; the full stop is no token
    ("今天天气很好。", "今天天气不错", 4, 6),
    # ref 我 喜 欢 吃 苹 果 (6); prediction 苹 果 我 也 喜 欢: LCS 我喜欢 = 3
    ("苹果我也喜欢", "我喜欢吃苹果", 3, 6),
]


@pytest.mark.parametrize("pred,ref,lcs,ref_len", CHINESE)
def test_rouge_l_recall_chinese_by_character(pred, ref, lcs, ref_len):
    assert rouge_l_recall(pred, [ref]) == pytest.approx(lcs / ref_len)
    direct = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_CharTokenizer()).score(ref, pred)["rougeL"].recall
    assert rouge_l_recall(pred, [ref]) == pytest.approx(direct)
    # rouge_score's own tokenizer keeps [a-z0-9] only: Chinese would score 0
    assert rouge_scorer.RougeScorer(["rougeL"]).score(ref, pred)["rougeL"].recall == 0


def test_rouge_l_recall_mixed_script():
    # ref tokens gpt 模 型 很 强 (5); prediction gpt 模 型: LCS 3
    assert rouge_l_recall("GPT 模型", ["GPT模型很强"]) == pytest.approx(3 / 5)


def test_rouge_l_recall_empty():
    assert rouge_l_recall("", ["the cat"]) == 0.0
    assert rouge_l_recall("   ", ["the cat"]) == 0.0
    assert rouge_l_recall(None, ["the cat"]) == 0.0
    assert rouge_l_recall("the cat", []) == 0.0


# --- BLEU ---------------------------------------------------------------------------------------

BLEU_CASES = [
    ("The cat is on the mat.", ["The cat sat on the mat."]),
    ("the quick brown fox", ["a quick brown fox jumps", "the quick fox"]),
    ("He read the book because he was interested in world history.",
     ["He was interested in world history because he read the book."]),
]


@pytest.mark.parametrize("pred,refs", BLEU_CASES)
def test_bleu_matches_sacrebleu(pred, refs):
    expected = sacrebleu.sentence_bleu(pred, refs).score / 100
    assert 0 < expected < 1
    assert bleu(pred, refs) == pytest.approx(expected)


def test_bleu_chinese_uses_zh_tokenizer():
    pred, refs = "今天天气很好", ["今天天气不错"]
    expected = sacrebleu.sentence_bleu(pred, refs, tokenize="zh").score / 100
    assert expected > 0
    assert bleu(pred, refs) == pytest.approx(expected)
    # 13a would keep each sentence one token: no match at all
    assert sacrebleu.sentence_bleu(pred, refs).score == 0


def test_bleu_bounds():
    assert bleu("The cat sat on the mat.", ["The cat sat on the mat."]) == 1.0
    assert bleu("ok", ["ok"]) == 1.0  # effective order: a one-token sentence can be perfect
    assert bleu("alpha beta gamma", ["delta epsilon zeta"]) == 0.0
    assert bleu("", ["The cat sat on the mat."]) == 0.0
    assert bleu("The cat", []) == 0.0


# --- id-set F1 ----------------------------------------------------------------------------------

HEX = ["3FA2C1", "0B7D9E"]


@pytest.mark.parametrize("output,expected", [
    ("3FA2C1, 0B7D9E", 1.0),
    ("0B7D9E and 3FA2C1", 1.0),                 # order is no matter
    ("3FA2C1, 0B7D9E, 111AAA", 0.8),            # extra id: P 2/3, R 1 -> 2*(2/3)/(5/3) = 0.8
    ("3FA2C1", 2 / 3),                          # missing id: P 1, R 1/2 -> 2/3
    ("3fa2c1 and 0b7d9e", 1.0),                 # lower case
    ("[3FA2C1], (0B7D9E).", 1.0),               # inside punctuation
    ("3FA2C1 3FA2C1 3FA2C1", 2 / 3),            # repeats count once
    ("X3FA2C1 and 0B7D9E7", 0.0),               # not standalone 6-digit tokens: nothing named
    ("111AAA", 0.0),                            # wrong only
    ("I cannot tell.", 0.0),                    # names nothing
])
def test_id_set_f1_hex(output, expected):
    assert id_set_f1(output, HEX) == pytest.approx(expected)


@pytest.mark.parametrize("output,gold,expected", [
    ("Articles 2 and 5", ["Article 2", "Article 5", "Article 7"], 0.8),  # P 1, R 2/3 -> 0.8
    ("Article 7, Article 2, Article 5", ["Article 2", "Article 5", "Article 7"], 1.0),
    ("2, 5", ["2", "5"], 1.0),
    ("Article 02", ["Article 2"], 1.0),                                   # compared as numbers
    ("Articles 2, 3 and 12", ["Article 2", "Article 12"], 0.8),          # P 2/3, R 1
    ("Article 1", ["Article 2"], 0.0),
])
def test_id_set_f1_positions(output, gold, expected):
    assert id_set_f1(output, gold) == pytest.approx(expected)


def test_id_set_f1_empty_gold():
    assert id_set_f1("None of them.", []) == 1.0
    assert id_set_f1("", []) == 1.0
    assert id_set_f1("3FA2C1", []) == 0.0
    assert id_set_f1("Article 3", []) == 0.0


# --- count match --------------------------------------------------------------------------------

@pytest.mark.parametrize("output,expected", [
    ("There are 3 articles", 1.0),
    ("three", 1.0),
    ("Three.", 1.0),
    ("3 or 4", 1.0),        # the first number decides
    ("4, not 3", 0.0),
    ("I cannot count them.", 0.0),
    ("", 0.0),
])
def test_count_match(output, expected):
    assert count_match(output, ["3"]) == expected


def test_count_match_two_digits():
    assert count_match("twelve", ["12"]) == 1.0
    assert count_match("12 articles", ["12"]) == 1.0
    assert count_match("1", ["12"]) == 0.0
    assert count_match("12", []) == 0.0


# --- shared properties --------------------------------------------------------------------------

NEW = ["rouge_l_recall", "bleu", "id_set_f1", "count_match"]


def test_registered():
    for name in NEW:
        assert name in METRICS
    assert METRICS["rouge_l_recall"] is rouge_l_recall
    assert METRICS["bleu"] is bleu
    assert METRICS["id_set_f1"] is id_set_f1
    assert METRICS["count_match"] is count_match


@pytest.mark.parametrize("name,gold", [
    ("rouge_l_recall", ["The committee approved the new budget on Tuesday."]),
    ("rouge_l_recall", ["委员会周二批准了新预算。"]),
    ("bleu", ["The committee approved the new budget on Tuesday."]),
    ("bleu", ["委员会周二批准了新预算。"]),
    ("id_set_f1", ["3FA2C1"]),
    ("id_set_f1", ["3FA2C1", "0B7D9E", "A1B2C3"]),
    ("id_set_f1", ["Article 2", "Article 5", "Article 7"]),
    ("count_match", ["7"]),
])
def test_oracle_scores_one(name, gold):
    assert METRICS[name](", ".join(gold), gold) == 1.0


def test_chance_of_new_metrics():
    assert chance_of("id_set_f1", ["3FA2C1", "0B7D9E"], ["3FA2C1"]) == 0.5
    assert chance_of("count_match", ["1", "2", "3", "4"], ["3"]) == 0.25
    assert chance_of("bleu", ["the cat", "a dog"], ["the cat"]) == 0.5
    assert chance_of("rouge_l_recall", ["the cat", "a dog"], ["the cat"]) == 0.5


@pytest.mark.parametrize("name", NEW)
def test_in_unit_interval(name):
    for output in ["", "3FA2C1 Article 3 three", "the cat sat on the mat", "今天天气很好"]:
        value = METRICS[name](output, ["the cat sat on the mat 3FA2C1 3"])
        assert 0.0 <= value <= 1.0
