"""Token counting with a named tokenizer.

Names (recorded in every dataset manifest):
  approx                 offline fallback, no files needed: a documented heuristic (below), ~English BPE
  embedded               the embedded model's tokenizer (SmolLM2, extracted from the packaged GGUF)
  PATH                   a tokenizer.json file, or a directory containing one (any HF tokenizer)
  hf:ORG/NAME            a tokenizer from the Hugging Face hub (needs network the first time)
  tiktoken:ENCODING      an OpenAI encoding, when tiktoken and its files are available

Generators count each reusable unit (a haystack sentence, a needle) once and add the counts, rather
than re-tokenizing whole candidate texts (RULER's cost). With byte-level BPE the sum of the parts,
each with its leading space, equals the count of the joined text up to a handful of merges at the seams.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Protocol, Sequence

from .errors import UserError, one_line


class TokenCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...

    def count_batch(self, texts: Sequence[str]) -> list[int]: ...


# approx: digits in groups of up to three, letters in words (one token per started 6 letters),
# every other non-space character alone. It over-counts rare words and under-counts code, but it is
# stable, fast and has no files: use a real tokenizer when lengths must match a model.
_APPROX = re.compile(r"\d{1,3}|[^\W\d_]+|[^\w\s]|_")


class ApproxTokenizer:
    name = "approx"

    def count(self, text: str) -> int:
        return sum(1 + (len(p) - 1) // 6 if p[0].isalpha() else 1 for p in _APPROX.findall(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [self.count(t) for t in texts]


class HFTokenizer:
    """Any `tokenizers` tokenizer (tokenizer.json)."""

    def __init__(self, tokenizer, name: str, source: str | None = None):
        self._tok = tokenizer
        self._tok.no_truncation()
        self._tok.no_padding()
        self.name = name
        self.source = source  # the folder or hub id it came from: where its chat template lives

    @classmethod
    def from_file(cls, path: Path, name: str | None = None) -> "HFTokenizer":
        from tokenizers import Tokenizer

        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise UserError(f"tokenizer file not found: {path}")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise UserError(f"cannot read tokenizer {path}: {e}") from None
        return cls(tok, name or str(path), source=str(path.parent))

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def special_tokens_added(self) -> int:
        """Tokens the tokenizer adds to a plain prompt (a BOS, for many models), as servers encode one."""
        return self._tok.num_special_tokens_to_add(False)


class TiktokenTokenizer:
    def __init__(self, encoding: str):
        try:
            import tiktoken

            self._enc = tiktoken.get_encoding(encoding)
        except Exception as e:
            raise UserError(f"tiktoken encoding {encoding!r} unavailable: {e}") from None
        self.name = f"tiktoken:{encoding}"

    def count(self, text: str) -> int:
        return len(self._enc.encode_ordinary(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in self._enc.encode_ordinary_batch(list(texts))]


def load_tokenizer(name: str | None) -> TokenCounter:
    name = (name or "approx").strip()
    if name == "approx":
        return ApproxTokenizer()
    if re.fullmatch(r"[a-z][a-z0-9_-]*", name):  # a tokenizer a system kind ships by name (embedded)
        from .registry import named_tokenizers

        files = named_tokenizers().get(name)
        if files is not None:
            return HFTokenizer.from_file(files(), name=name)
    if name.startswith("tiktoken:"):
        return TiktokenTokenizer(name.split(":", 1)[1])
    if name.startswith("hf:"):
        from tokenizers import Tokenizer

        repo = name[3:]
        try:
            return HFTokenizer(Tokenizer.from_pretrained(repo), name=name, source=repo)
        except Exception as e:
            raise UserError(f"cannot load tokenizer {repo!r} from the hub: {str(e).splitlines()[0]}") from None
    path = Path(name).expanduser()
    if path.exists():
        return HFTokenizer.from_file(path)
    raise UserError(f"unknown tokenizer {name!r}: use approx, embedded, a tokenizer.json path, hf:ORG/NAME or tiktoken:ENC")


def special_tokens_added(counter: TokenCounter) -> int:
    """Special tokens a plain (completions) prompt gets on encoding; 0 where the counter cannot tell."""
    added = getattr(counter, "special_tokens_added", None)
    return int(added()) if added else 0


def chat_renderer(counter: TokenCounter) -> Callable[[list[dict[str, str]], bool], str]:
    """The chat template of `counter`'s tokenizer, rendered by transformers' apply_chat_template (what
    vLLM and the hf adapter send): render(messages, continue_final) -> prompt text. A generation prompt
    is added unless the last message (an assistant prefill) is continued."""
    source = getattr(counter, "source", None)
    if source is None:
        raise UserError(f"tokenizer {counter.name!r} has no chat template: use embedded, a tokenizer folder or hf:ORG/NAME")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UserError("counting a chat template needs transformers: pip install 'longbench-suite[hf]'") from None
    try:
        tok = AutoTokenizer.from_pretrained(source)
    except Exception as e:  # transformers raises many kinds for a folder it cannot read
        raise UserError(f"cannot load the chat template of tokenizer {counter.name!r}: {one_line(e) or type(e).__name__}") from None
    if not getattr(tok, "chat_template", None):
        raise UserError(f"tokenizer {counter.name!r} has no chat template (no chat_template in {source})")

    def render(messages: list[dict[str, str]], continue_final: bool) -> str:
        try:
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=not continue_final,
                                           continue_final_message=continue_final)
        except Exception as e:  # a template may refuse a role sequence (jinja's raise_exception)
            raise UserError(f"the chat template of tokenizer {counter.name!r} cannot render "
                            f"{'/'.join(m['role'] for m in messages)}: {one_line(e) or type(e).__name__}") from None

    return render
