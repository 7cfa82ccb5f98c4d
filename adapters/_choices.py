"""Which vocabulary tokens stand for a choice ("A", " A", "A\n" ...): shared by the in-process engines
(adapters/hf.py, adapters/vllm_inprocess.py), whose choice log-prob is the log-sum-exp over them, the
rule openai_compat applies to the top-20 alternatives an endpoint returns."""

from __future__ import annotations

from typing import Any


class ChoiceTokens:
    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._vocab: dict[str, list[int]] | None = None  # stripped token text -> token ids (built once)

    def ids(self, label: str) -> list[int]:
        """Tokens whose text is the choice (up to whitespace); else the choice's first token."""
        if self._vocab is None:
            texts = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            self._vocab = {}
            for i, text in enumerate(texts):
                self._vocab.setdefault(text.strip(), []).append(i)
        ids = self._vocab.get(label.strip(), [])
        if not ids:
            firsts = (self.tokenizer.encode(v, add_special_tokens=False)[:1] for v in (label, " " + label))
            ids = sorted({t[0] for t in firsts if t})
        return ids
