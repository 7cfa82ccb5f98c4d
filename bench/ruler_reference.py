"""A RULER-style needle generator, written for the benchmark (bench/perf.py, P1) as the reference.

RULER's niah generator sizes each sample's haystack by binary search over the number of haystack
sentences, tokenizing the whole candidate prompt at every step. This module does the same with the
suite's tokenizer and essay sentences, so the comparison measures only that sizing strategy: ours
counts every sentence once and sums (longbench_suite/tokens.py).
"""

from __future__ import annotations

from collections.abc import Sequence

NEEDLE = "The special magic number for quiet harbor is: 1234567."
QUESTION = "What is the special magic number for quiet harbor mentioned in the provided text?"
ANSWER_BUDGET = 128  # tokens kept free for the answer, as RULER's default


def ruler_style_sample(tok, sentences: Sequence[str], budget: int, needle: str = NEEDLE, question: str = QUESTION) -> str:
    """The longest prompt of `sentences[:k]` with the needle in the middle that fits `budget` tokens."""
    lo, hi = 1, len(sentences)
    best = ""
    while lo <= hi:  # RULER: binary search, whole-text re-tokenization at each step
        mid = (lo + hi) // 2
        text = " ".join(sentences[:mid])
        half = len(text) // 2
        prompt = f"{text[:half]} {needle} {text[half:]}\n\n{question}"
        if tok.count(prompt) <= budget:
            best, lo = prompt, mid + 1
        else:
            hi = mid - 1
    return best


def essay_sentences(tok, length: int) -> list[str]:
    """The suite's essay haystack sentences (the same text our generator draws from), twice `length` tokens."""
    from data_builders.haystack import essay_haystack

    return [u.strip() for u in essay_haystack(tok, seed=0, min_tokens=2 * length).units]


def generate(tok, sentences: Sequence[str], length: int, samples: int) -> list[str]:
    """`samples` prompts of at most `length` tokens, each from its own window of the sentences."""
    return [ruler_style_sample(tok, sentences[i * 7 :], length - ANSWER_BUDGET) for i in range(samples)]
