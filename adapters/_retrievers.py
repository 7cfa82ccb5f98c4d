"""Retrievers of the retrieval adapter: index a list of keys, score every key against a query.

    bm25                    bm25s (English stopwords; PyStemmer's English stemmer when installed)
    dense, embedder=hf:P    transformers AutoModel from a path or hub id, mean pooling, L2-normalised, CPU
    dense, embedder=openai:MODEL[, embed_base_url=URL][, embed_api_key_env=VAR]
                            an OpenAI-compatible /embeddings endpoint (OpenAI, vLLM --task embed, TEI ...)

Scores cover every key (not a top-k), so the adapter can rank the whole history and report at least
ten sessions for recall@10 whatever k it reads. Libraries are imported when first used: importing the
adapter stays cheap, and a missing one is a one-line UserError naming what to install.
"""

from __future__ import annotations

import abc
import asyncio
import importlib.util
import threading
from typing import Any

import numpy as np

from longbench_suite.errors import SystemFailure, UserError, one_line

from .openai_compat import close_client, env_api_key, scrub_key

EMBED_BATCH = 16  # texts per forward pass (hf) or per request (openai)
MAX_EMBED_TOKENS = 8192  # longer keys are truncated by the embedder (its own limit when smaller)


def require(module: str, what: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"retrieval: {what} needs the {module} package; install it with `pip install {install}`")


class Retriever(abc.ABC):
    name: str

    async def check(self) -> None:
        """Fail before a run when the backend cannot work (e.g. an embedding model that does not load)."""

    @abc.abstractmethod
    async def build(self, keys: list[str]) -> Any: ...

    @abc.abstractmethod
    async def scores(self, index: Any, query: str) -> np.ndarray: ...

    @abc.abstractmethod
    def index_bytes(self, index: Any) -> int: ...

    def describe(self) -> dict[str, Any]:
        return {"retriever": self.name}

    async def aclose(self) -> None:
        pass


class BM25(Retriever):
    name = "bm25"

    def __init__(self) -> None:
        require("bm25s", "retriever=bm25", "bm25s")
        self.stemmer = _stemmer()

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False)

    def _build(self, keys: list[str]) -> Any:
        import bm25s

        index = bm25s.BM25()
        index.index(self._tokens(keys), show_progress=False)
        return index

    async def build(self, keys: list[str]) -> Any:
        return await asyncio.to_thread(self._build, keys)  # ~1 s for an M-size history: off the event loop

    async def scores(self, index: Any, query: str) -> np.ndarray:
        tokens = self._tokens([query])[0]
        if not tokens:  # only stopwords: every key scores the same
            return np.zeros(index.scores["num_docs"], dtype=np.float32)
        return np.asarray(index.get_scores(tokens), dtype=np.float32)

    def index_bytes(self, index: Any) -> int:
        arrays = sum(v.nbytes for v in index.scores.values() if isinstance(v, np.ndarray))
        return arrays + sum(len(w.encode()) + 8 for w in index.vocab_dict)  # vocabulary: word + id

    def describe(self) -> dict[str, Any]:
        return {"retriever": self.name, "stemmer": "PyStemmer english" if self.stemmer else None, "stopwords": "en"}


def _stemmer() -> Any:
    if importlib.util.find_spec("Stemmer") is None:
        return None
    import Stemmer

    return Stemmer.Stemmer("english")


class Dense(Retriever):
    name = "dense"

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    async def check(self) -> None:
        await self.embedder.check()

    async def build(self, keys: list[str]) -> np.ndarray:
        return await self.embedder.embed(keys)

    async def scores(self, index: np.ndarray, query: str) -> np.ndarray:
        if not len(index):
            return np.zeros(0, dtype=np.float32)
        return index @ (await self.embedder.embed([query]))[0]  # cosine: both sides are normalised

    def index_bytes(self, index: np.ndarray) -> int:
        return int(index.nbytes)

    def describe(self) -> dict[str, Any]:
        return {"retriever": self.name, **self.embedder.describe()}

    async def aclose(self) -> None:
        await self.embedder.aclose()


class Embedder(abc.ABC):
    async def check(self) -> None:
        pass

    @abc.abstractmethod
    async def embed(self, texts: list[str]) -> np.ndarray: ...

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]: ...

    async def aclose(self) -> None:
        pass


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


class HFEmbedder(Embedder):
    """A transformers encoder (or decoder) on CPU: mean of the last hidden states over real tokens."""

    def __init__(self, source: str):
        require("torch", "embedder=hf", "torch")
        require("transformers", "embedder=hf", "transformers")
        self.source = source
        self._lock = threading.Lock()  # one forward pass at a time; loading once
        self._tokenizer: Any = None
        self._model: Any = None
        self.max_length = MAX_EMBED_TOKENS
        self.dim: int | None = None

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModel, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(self.source)
                model = AutoModel.from_pretrained(self.source)
            except (OSError, ValueError) as e:
                raise UserError(f"retrieval: cannot load embedder hf:{self.source}: {one_line(e, 200)}") from None
            if tokenizer.pad_token is None:  # decoder tokenizers often have none; padding is masked anyway
                tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
            limits = [MAX_EMBED_TOKENS, getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
            self.max_length = min(int(v) for v in limits if isinstance(v, (int, float)) and v > 0)
            self.dim = int(model.config.hidden_size)
            self._tokenizer, self._model = tokenizer, model.eval()

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        self._load()
        out = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), EMBED_BATCH):
                batch = self._tokenizer(texts[start : start + EMBED_BATCH], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt")
                hidden = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().numpy())
        return _normalise(np.concatenate(out)) if out else np.zeros((0, self.dim or 0), dtype=np.float32)

    async def check(self) -> None:
        await asyncio.to_thread(self._load)

    async def embed(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._embed, texts)

    def describe(self) -> dict[str, Any]:
        return {"embedder": f"hf:{self.source}", "pooling": "mean", "normalised": True, "max_length": self.max_length}


class OpenAIEmbedder(Embedder):
    """An OpenAI-compatible /embeddings endpoint; the key comes from the environment only."""

    def __init__(self, model: str, base_url: str, api_key_env: str):
        require("openai", "embedder=openai", "openai")
        self.model, self.base_url, self.api_key_env = model, base_url.rstrip("/"), api_key_env
        try:
            self._key = env_api_key(api_key_env, self.base_url)
        except UserError as e:
            raise UserError(f"retrieval: {e}") from None
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # an httpx pool belongs to one loop
            from openai import AsyncOpenAI

            self._client, self._loop = AsyncOpenAI(api_key=self._key, base_url=self.base_url), loop
        return self._client


    async def embed(self, texts: list[str]) -> np.ndarray:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            try:
                resp = await self._get_client().embeddings.create(model=self.model, input=texts[start : start + EMBED_BATCH])
            except openai.OpenAIError as e:
                raise SystemFailure(scrub_key(f"embeddings from {self.base_url} failed: {one_line(e)}", self._key)) from None
            rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        return _normalise(np.asarray(rows, dtype=np.float32)) if rows else np.zeros((0, 0), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {"embedder": f"openai:{self.model}", "embed_base_url": self.base_url, "embed_api_key_env": self.api_key_env}

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await close_client(client)
