"""SCBench's scorers against values derived by hand from the rules of its official code.

The rules are in compute_scores.py and repo_qa_utils.py of microsoft/MInference scbench/ (see
longbench_suite/scbench_metrics.py). Every expected value below was worked out on paper from those
rules and was not produced by running the code.
"""

import math

import pytest

from longbench_suite import scbench_metrics as sc
from longbench_suite.metrics import METRICS, chance_of

NAMES = ["scbench_substring", "scbench_recall", "scbench_contains", "scbench_choice", "scbench_char_f1",
         "scbench_math", "scbench_passkey", "scbench_rouge_lsum", "scbench_repoqa"]


def test_registered():
    assert set(NAMES) <= set(METRICS)
    assert all(METRICS[n] is getattr(sc, n) for n in NAMES)


# --- kv / prefix_suffix: raw substring, case-sensitive ----------------------------------------------

@pytest.mark.parametrize("output, value", [
    ("The value is 3f2a-77B1.", 1.0),
    ("3f2a-77b1", 0.0),  # case matters
    ("3f2a- 77B1", 0.0),
    ("", 0.0),
])
def test_substring(output, value):
    assert sc.scbench_substring(output, ["3f2a-77B1"]) == value


# --- vt: recall of the items, case-insensitive, 2 decimals -------------------------------------------

def test_recall():
    assert sc.scbench_recall("vars: x1 and y2", ["X1", "Y2", "Z3"]) == 0.67  # 2/3 rounded
    assert sc.scbench_recall("X1 Y2 Z3", ["x1", "y2", "z3"]) == 1.0
    assert sc.scbench_recall("anything", []) == 0.0


# --- qa_eng / many_shot: any answer in the stripped, upper-cased output -----------------------------

def test_contains():
    assert sc.scbench_contains("  it was paris, in spring ", ["Paris"]) == 1.0
    assert sc.scbench_contains("Label: (b)", ["(B)"]) == 1.0
    assert sc.scbench_contains("Label: (A)", ["(B)"]) == 0.0
    assert sc.scbench_contains("London", ["Paris", "London"]) == 1.0  # any of several


# --- choice_eng: gold = [option text, letter] ------------------------------------------------------

GOLD_B = ["the red door", "B"]


@pytest.mark.parametrize("output, value", [
    ("Answer: B", 0.0),  # starts with capital A: read as letter A
    ("B. the red door", 1.0),
    ("  B", 1.0),
    ("C", 0.0),
    ("the red door", 1.0),  # equals the option text
    ("The answer is: B", 1.0),  # "answer is:" then one skipped character
    ("The answer is B, clearly", 1.0),  # "answer is" then " B..."
    ("The answer is the red door.", 1.0),  # the option text after the prefix
    ("The answer is C", 0.0),
    ("The option is", 0.0),  # the output ends with the prefix
    ("i would pick B here", 1.0),  # first word that is in "ABCD"
    ("i would pick BC here", 0.0),  # "BC" is a substring of "ABCD", and "BC" is not in the gold
    ("(B)", 0.0),  # "(B)" is not in "ABCD"
    ("", 0.0),
])
def test_choice(output, value):
    assert sc.scbench_choice(output, GOLD_B) == value


def test_choice_option_text_starting_with_a_capital_letter():
    # An official-code quirk: option text that starts with a capital A-D is read as that letter, so
    # the gold option text itself scores 0 when it is not option A.
    assert sc.scbench_choice("Bob left the house", ["Bob left the house", "A"]) == 0.0
    assert sc.scbench_choice("Bob left the house", ["Bob left the house", "B"]) == 1.0


# --- qa_chn: character F1 after normalization -------------------------------------------------------

def test_char_f1():
    # pred 北京是首都 (5 chars), answer 北京 (2): overlap 2, P = 2/5, R = 1, F1 = 4/7
    assert sc.scbench_char_f1("北京是首都", ["北京"]) == pytest.approx(4 / 7)
    assert sc.scbench_char_f1("北京。", ["北 京"]) == 1.0  # punctuation and spaces removed
    assert sc.scbench_char_f1("ABC", ["abc"]) == 1.0  # lower-cased
    assert sc.scbench_char_f1("上海", ["北京"]) == 0.0
    assert sc.scbench_char_f1("北京", ["上海", "北京市"]) == pytest.approx(0.8)  # best over answers: 2*(1*2/3)/(5/3)


# --- mf: first number, truncated for an int answer ---------------------------------------------------

@pytest.mark.parametrize("output, gold, value", [
    ("-12.7", "12", 1.0),  # no sign, decimals truncated
    ("3.9", "3", 1.0),
    ("The largest is 98, then 12", "12", 0.0),  # the first number decides
    ("12", "12.5", 0.0),  # a float answer compares as a float
    ("12.5", "12.5", 1.0),
    ("no number", "12", 0.0),
    ("-5", "-5", 0.0),  # the sign is never read, so a negative answer never matches
])
def test_math(output, gold, value):
    assert sc.scbench_math(output, [gold]) == value


# --- passkey: the first digit run, compared as a string ----------------------------------------------

@pytest.mark.parametrize("output, gold, value", [
    ("The pass key is 0071.", "0071", 1.0),
    ("007", "7", 0.0),  # leading zeros matter
    ("12.5", "12", 1.0),
    ("none", "12", 0.0),
])
def test_passkey(output, gold, value):
    assert sc.scbench_passkey(output, [gold]) == value


# --- summary: rougeLsum F-measure ------------------------------------------------------------------

def test_rouge_lsum():
    # pred 3 tokens, ref 6, LCS 3: P = 1, R = 1/2, F = 2/3
    assert sc.scbench_rouge_lsum("the cat sat", ["the cat sat on the mat"]) == pytest.approx(2 / 3)
    # Lines are sentences: the reference's sentences "a b" and "c d" are each found whole in the one
    # predicted line "c d a b", so the union-LCS is 4 of 4 (plain ROUGE-L would be 2/4).
    assert sc.scbench_rouge_lsum("c d a b", ["a b\nc d"]) == pytest.approx(1.0)
    assert sc.scbench_rouge_lsum("The Cat!", ["the cat"]) == pytest.approx(1.0)  # lower-cased, punctuation gone
    assert sc.scbench_rouge_lsum("猫坐着", ["猫坐着"]) == 0.0  # non-ASCII text has no tokens
    # pred "x y z w", ref "x z": LCS 2, P = 1/2, R = 1, F = 2/3
    assert sc.scbench_rouge_lsum("x y z w", ["x z"]) == pytest.approx(2 / 3)


# --- repoqa: extraction, BLEU, best match -----------------------------------------------------------

REF = "def f ( a , b ) : return a"  # 10 whitespace tokens


def test_bleu_threshold_edge():
    # All n-grams of a prefix of the reference match, so BLEU is the brevity penalty exp(1 - 10/len).
    nine = " ".join(REF.split()[:9])
    eight = " ".join(REF.split()[:8])
    assert sc.function_similarity(nine, REF) == pytest.approx(math.exp(1 - 10 / 9))  # 0.895
    assert sc.function_similarity(eight, REF) == pytest.approx(math.exp(-0.25))  # 0.779
    assert sc.scbench_repoqa(nine, [REF, "f"]) == 1.0
    assert sc.scbench_repoqa(eight, [REF, "f"]) == 0.0
    assert sc.repoqa_score(eight, "f", [("f", REF)], threshold=0.7) == 1.0


def test_repoqa_best_match_must_be_the_named_function():
    g = "def g ( x ) : return x * 2"
    cands = [("f", REF), ("g", g)]
    assert sc.repoqa_score(g, "g", cands) == 1.0
    assert sc.repoqa_score(g, "f", cands) == 0.0  # g is the best match, not f
    assert sc.repoqa_best("zzz", cands) == (None, 0.0)  # no similarity: no best
    # A tie goes to the first candidate.
    assert sc.repoqa_best(REF, [("first", REF), ("second", REF)]) == ("first", pytest.approx(1.0))


def test_repoqa_extraction():
    out = ("Here it is:\n```python\nimport os\n\nclass K:\n    @staticmethod\n    def m(x):\n        return x\n\n"
           "def g():\n    pass\n```\nand more\n```\ndef h():\n    pass\n```")
    assert sc.repoqa_extract(out) == "def m(x):\n        return x"  # the first def, without its decorator
    assert sc.repoqa_extract(out, "go") == "import os\n\nclass K:\n    @staticmethod\n    def m(x):\n        return x\n\ndef g():\n    pass\n"
    broken = "```python\ndef broken(:\n```\n```\ndef ok():\n    return 1\n```"
    assert sc.repoqa_extract(broken) == "def ok():\n    return 1"  # the next block that has a function
    assert sc.repoqa_extract("```\nx = 1\n```") == "x = 1\n"  # no function: the first block
    assert sc.repoqa_extract("  just text  ") == "just text"  # no block: the stripped output
    # The fence's language tag is optional and the closing fence must start a line.
    assert sc.repoqa_extract("```\ndef a():  # ``` inline\n    pass\n```") == "def a():  # ``` inline\n    pass"


# --- all of them: bounds, the oracle, chance ---------------------------------------------------------

ORACLE = {  # gold, and an answer the oracle may give (its reference text or the joined gold)
    "scbench_substring": (["3f2a-77B1"], "3f2a-77B1"),
    "scbench_recall": (["X1", "Y2"], "X1, Y2"),
    "scbench_contains": (["(B)"], "(B)"),
    "scbench_choice": (["the red door", "B"], "the red door"),
    "scbench_char_f1": (["北京"], "北京"),
    "scbench_math": (["12"], "12"),
    "scbench_passkey": (["0071"], "0071"),
    "scbench_rouge_lsum": (["The paper studies memory."], "The paper studies memory."),
    "scbench_repoqa": ([REF, "f"], REF),
}


@pytest.mark.parametrize("name", NAMES)
def test_oracle_and_bounds(name):
    gold, answer = ORACLE[name]
    assert METRICS[name](answer, gold) == 1.0
    for output in ["", "A", "  x  ", "```\n```", "北京 12 0071", None]:
        assert 0.0 <= METRICS[name](output, gold) <= 1.0


def test_chance():
    assert chance_of("scbench_choice", ["A", "B", "C", "D"], ["the red door", "B"]) == 0.25
    assert chance_of("scbench_substring", ["v1", "v2", "v3", "v4"], ["v3"]) == 0.25
    assert chance_of("scbench_math", ["3", "12", "40"], ["12"]) == pytest.approx(1 / 3)
    assert chance_of("scbench_repoqa", [], [REF, "f"]) == 0.0
