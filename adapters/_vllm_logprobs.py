"""Choice log-probs on an in-process vLLM engine (adapters/vllm_inprocess.py, logprobs=1).

A choice's log-prob is the log-sum-exp of the log-probs, at the first generated position, of every
vocabulary token whose text, stripped of whitespace, is the choice (adapters/_choices.py finds them).
openai_compat sums the same tokens among an endpoint's top 20; here vLLM's logprob_token_ids returns
them at any rank (up to its MAX_LOGPROB_TOKEN_IDS tokens in all).
"""

from __future__ import annotations

import math
from typing import Any


def logprob_params(choice_ids: dict[str, list[int]]) -> dict[str, Any]:
    """SamplingParams keywords that return the log-probs of the choices' tokens at every position
    (none when no choice has a token)."""
    from vllm.sampling_params import MAX_LOGPROB_TOKEN_IDS

    ids = sorted({t for v in choice_ids.values() for t in v})[:MAX_LOGPROB_TOKEN_IDS]
    return {"logprobs": len(ids), "logprob_token_ids": ids} if ids else {}


def choice_logprobs(completion: Any, choice_ids: dict[str, list[int]]) -> dict[str, float]:
    """Per choice, the log-sum-exp of its tokens' log-probs at the first generated position of a
    vLLM CompletionOutput; a choice none of whose tokens came back is left out."""
    first = completion.logprobs[0] if completion.logprobs else {}
    out: dict[str, float] = {}
    for label, ids in choice_ids.items():
        found = [first[i].logprob for i in ids if i in first and math.isfinite(first[i].logprob)]
        if found:
            top = max(found)
            out[label] = top + math.log(sum(math.exp(lp - top) for lp in found))
    return out
