"""KV-cache memory: an episode is prefilled once and its attention cache kept for that episode's probes.

    kv[policy=full|sinks|quant][,sink=4][,window=1020][,bits=4|8]:hf:MODEL[,hf options]

e.g. `kv:hf:./my-model`, `kv[policy=sinks,window=512]:hf:HuggingFaceTB/SmolLM2-135M-Instruct`,
`kv[policy=quant,bits=8]:hf:./my-model,dtype=bfloat16`. The inner system must be `hf:` (adapters/hf.py):
its model, tokenizer, worker thread, prompt rendering and generation are reused as they are.

Ingest prefills the part of the in-context prompt that comes before the question: the prompt a plain
`hf:` reader builds (openai_compat.chat_messages through the chat template, or completion_prompt) for
context = the episode's text, up to the longest token prefix that does not depend on the question (found
by tokenizing the rendered prompt for two different questions and keeping their common prefix). That
prefix is computed in one forward pass and its cache is kept, compressed by the policy.

A probe continues from a copy of the kept cache (copy.deepcopy: the kept one is never written to) and
computes the rest of its prompt, then generates with the reader's sampling (hf.py's _generate). In the
in-memory condition the probe arrives without context: the prompt is rebuilt as the in-context one, the
kept episode text first, then the probe's question as the condition rendered it (the same words for most
families; a family with a memory wording, e.g. LongMemEval's "answer from what you remember", keeps it).
The model reads the context only through the cache. The prompt's tokens are compared with the kept
prefix: where they differ at the boundary (a tokenizer merging across it), the cache loses its last
tokens and they are computed again. In-context the probe's own prompt is used and the cache serves
the prefix it shares with the kept context (for a family whose in-context prompt is not the episode
text, e.g. SORT's excerpt, that is little or nothing and the prompt is computed as a plain reader would).

Policies:
- full: keep every token. Greedy answers equal the stateless in-context answers of `hf:MODEL`
  (tests/test_kv_cache.py checks it token for token).
- sinks: StreamingLLM (Xiao et al. 2023, "Efficient Streaming Language Models with Attention Sinks"):
  keep the first `sink` tokens (attention sinks, default 4) and the last `window` tokens (default 1020:
  the paper's 4 + 1020 = 1024-token cache) of the prefix. Positions as in the paper: positions are
  those within the cache, not in the original text; the kept window's keys (RoPE applied at their
  original positions) are re-rotated to follow the sinks, and the probe's tokens continue from there.
  Simplification: the prefix is prefilled with full attention, then evicted (as SCBench applies
  StreamingLLM to a shared context's cache); the paper streams the text through the rolling cache, so
  there the window's states never attend to the evicted middle. Here they did, during the one prefill:
  the score is an upper bound of streaming, and the context must fit the model's window as in-context
  (streaming has no such bound). The probe's question and answer are appended without eviction.
  Needs rotate-half RoPE and full attention in every layer (checked when the system is made, on the
  model itself: one short forward pass at shifted positions).
- quant: transformers' QuantizedCache with the HQQ backend (`pip install 'longbench-suite[memory]'`),
  `bits` 4 (default) or 8, in groups of 64 values of one token's head vector (32 where 4-bit packing
  needs an even number of groups per token; axis 1, keys and values
  alike; KIVI, which transformers' QuantizedCache follows, groups keys per channel). The prefix is quantized after
  its prefill (the prefill itself attends in full precision); the probe's tokens stay in full
  precision until 128 of them accumulate, then the library quantizes everything again (its
  residual_length). quanto (optimum-quanto) also installs here, but its quantized tensors cannot be
  deep-copied, and it has no 8-bit mode.

Costs (footprint()): `memory_bytes` (bytes of the kept cache: tensors held, scales and zero points
included), `memory_items` (tokens the kept cache holds), `ingest_tokens` (tokens prefilled), per
episode (PerEpisode: mean, max, episodes); `prefill_saved_tokens` (per probe: prompt tokens not
computed because the cache stands for them, the evicted ones of policy=sinks included; mean and
probes). Answer.prompt_tokens is the tokens actually computed for the probe (its prompt less those),
not the prompt's length. No response
cache: the answer depends on the kept state. Options of the inner `hf:` are its own, except
max_input_tokens (its middle truncation cuts the context the cache is of; use policy=sinks), and a
model with ingest hooks is refused (it has its own memory).
"""

from __future__ import annotations

import copy
import gc
import time
from dataclasses import dataclass, replace
from typing import Any

from longbench_suite.errors import SystemFailure, UserError, one_line
from longbench_suite.protocol import Answer, Episode, MemorySystem, PerEpisode, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_choice, option_number

from .hf import HFSystem

POLICIES = ("full", "sinks", "quant")
OPTIONS = ("policy", "sink", "window", "bits")
BITS = ("4", "8")
DEFAULT_SINK, DEFAULT_WINDOW = 4, 1020  # StreamingLLM's 4 attention sinks + 1020 recent tokens
QUANT_BACKEND, QUANT_GROUP, QUANT_RESIDUAL = "hqq", 64, 128
_BOUNDARY_QUESTIONS = ("A", "B")  # two questions that differ from their first character on
_STATIC_ROPE = ("default", "linear", "llama3", "yarn")  # rotation frequencies that do not depend on length


@dataclass
class _Kept:
    """One episode's memory: its text, the prompt prefix the cache was made of, and the cache."""

    episode_id: str
    text: str
    prefix_ids: list[int]  # the in-context prompt's first tokens, prefilled at ingest
    cache: Any  # a transformers Cache
    cache_ids: list[int]  # the tokens the cache's entries stand for, in cache order (sinks: fewer)
    floor: int = 0  # entries that cannot be cut off the end: the sinks, once the middle is evicted


@dataclass(frozen=True)
class Policy:
    name: str
    sink: int = DEFAULT_SINK
    window: int = DEFAULT_WINDOW
    bits: int = 4

    def label(self) -> dict[str, Any]:
        if self.name == "sinks":
            return {"policy": "sinks", "sink": self.sink, "window": self.window}
        if self.name == "quant":
            return {"policy": "quant", "bits": self.bits, "backend": QUANT_BACKEND, "group_size": QUANT_GROUP,
                    "residual_length": QUANT_RESIDUAL}
        return {"policy": "full"}


class KVCacheMemory(MemorySystem):
    concurrent_episodes = False  # one kept cache: reset -> ingest -> that episode's probes

    def __init__(self, reader: HFSystem, policy: Policy):
        self.reader = reader
        self.policy = policy
        self.name = f"kv[{policy.name}]:{reader.name}"
        self._kept: _Kept | None = None
        self._bytes, self._items, self._ingest_tokens = PerEpisode(), PerEpisode(), PerEpisode()
        self._saved: list[int] = []
        self._inv_freq = _check_policy(reader.model, policy)

    # -- protocol --------------------------------------------------------------------------------
    async def check(self) -> None:
        await self.reader.check()

    async def reset(self) -> None:
        self._drop()
        await self.reader.reset()

    async def ingest(self, episode: Episode) -> None:
        self._drop()
        self._kept = await self.reader._run(self._prefill, episode)

    async def release(self, episode: Episode) -> None:
        if self._kept is not None and self._kept.episode_id == episode.episode_id:
            self._drop()
        await self.reader.release(episode)

    async def answer(self, probe: Probe) -> Answer:
        kept = self._kept
        if kept is None or kept.episode_id != probe.episode_id:
            raise UserError("kv: nothing ingested for this question (the KV-cache memory answers from the "
                            "episode's prefilled cache; not under no-context)")
        t0 = time.perf_counter()
        answer = await self.reader._run(self._answer, kept, probe)
        return replace(answer, latency_s=time.perf_counter() - t0)

    # -- worker thread ---------------------------------------------------------------------------
    def _prefill(self, episode: Episode) -> _Kept:
        import torch

        ids = self._context_ids(episode)
        cache = self._new_cache()
        try:
            with torch.inference_mode():
                if ids:
                    self.reader.model(input_ids=torch.tensor([ids], device=self.reader.model.device),
                                      past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache_ids = self._compress(cache, ids)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise SystemFailure(f"out of memory prefilling a {len(ids)}-token context") from None
        self._bytes.add(cache_bytes(cache))
        self._items.add(len(cache_ids))
        self._ingest_tokens.add(len(ids))
        floor = self.policy.sink if len(cache_ids) < len(ids) else 0
        return _Kept(episode.episode_id, episode.text, ids, cache, cache_ids, floor)

    def _context_ids(self, episode: Episode) -> list[int]:
        """The in-context prompt's longest token prefix that no question changes."""
        renderings = [
            self.reader._encode(self.reader.render(Probe(
                probe_id=f"{episode.episode_id}#boundary{i}", episode_id=episode.episode_id, question=q,
                answer_prefix="", context=episode.text or None, max_new_tokens=1)))
            for i, q in enumerate(_BOUNDARY_QUESTIONS)
        ]  # fmt: skip
        return renderings[0][: common_prefix(*renderings)]

    def _new_cache(self) -> Any:
        from transformers import DynamicCache, QuantizedCache

        config = self.reader.model.config
        if self.policy.name != "quant":
            return DynamicCache(config=config)
        return QuantizedCache(QUANT_BACKEND, config, nbits=self.policy.bits, axis_key=1, axis_value=1,
                              q_group_size=_group_size(config, self.policy.bits), residual_length=QUANT_RESIDUAL)

    def _compress(self, cache: Any, ids: list[int]) -> list[int]:
        """Apply the policy to a freshly prefilled cache; the tokens its entries now stand for."""
        sink, window = self.policy.sink, self.policy.window
        if self.policy.name != "sinks" or len(ids) <= sink + window:
            return list(ids)
        evict_sinks(cache, sink, window, self._inv_freq)
        return ids[:sink] + ids[len(ids) - window :]

    def _answer(self, kept: _Kept, probe: Probe) -> Answer:
        import torch

        full = probe if probe.context is not None else replace(probe, context=kept.text or None)
        ids = self.reader._encode(self.reader.render(full))
        shared = min(common_prefix(ids, kept.prefix_ids), len(ids) - 1)  # at least one token is computed
        drop = len(kept.prefix_ids) - shared  # kept tokens the prompt does not share (a boundary, or another text)
        cache, prompt = None, ids
        if shared and drop <= len(kept.cache_ids) - kept.floor:  # else (sinks) the prompt leaves the text before the window
            with torch.inference_mode():
                cache = copy.deepcopy(kept.cache)
                if drop and not drop_last(cache, drop):
                    cache = None  # a sliding-window layer past its window cannot be cut
        if cache is None:
            shared = 0
        else:
            prompt = kept.cache_ids[: len(kept.cache_ids) - drop] + ids[shared:]
        answer = self.reader._generate(prompt, probe, cache)
        self._saved.append(shared)
        return replace(answer, prompt_tokens=len(ids) - shared)

    def _drop(self) -> None:
        if self._kept is not None:
            self._kept = None
            gc.collect()

    # -- reporting -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        reader = self.reader.describe()
        return {"name": self.name, "kind": "kv", **self.policy.label(), "model": reader.get("model"),
                "reader": reader, "sampling": reader.get("sampling", {})}

    def footprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.reader.footprint(), **self.policy.label()}
        for key, values in (("memory_bytes", self._bytes), ("memory_items", self._items),
                            ("ingest_tokens", self._ingest_tokens)):
            summary = values.summary()
            if summary is not None:
                out[key] = summary
        if self._saved:
            out["prefill_saved_tokens"] = {"mean": round(sum(self._saved) / len(self._saved), 2), "probes": len(self._saved)}
        return out

    async def aclose(self) -> None:
        self._kept = None
        await self.reader.aclose()


# -- cache surgery -----------------------------------------------------------------------------------
def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def rotate_keys(keys: Any, delta: int, inv_freq: Any) -> Any:
    """Keys that carry rotate-half RoPE at position p, moved to position p + delta."""
    import torch

    angle = delta * inv_freq.to(device=keys.device, dtype=torch.float64)
    cos = torch.cat([angle.cos(), angle.cos()]).float()
    sin = torch.cat([angle.sin(), angle.sin()]).float()
    k = keys.float()
    half = k.shape[-1] // 2
    rotated = torch.cat([-k[..., half:], k[..., :half]], dim=-1)
    return (k * cos + rotated * sin).to(keys.dtype)


def evict_sinks(cache: Any, sink: int, window: int, inv_freq: Any) -> None:
    """Keep each layer's first `sink` and last `window` entries; the window's keys are re-rotated so
    that cache positions are contiguous (StreamingLLM)."""
    import torch

    for layer in cache.layers:
        n = layer.keys.shape[-2]
        delta = sink - (n - window)
        recent = rotate_keys(layer.keys[..., n - window :, :], delta, inv_freq)
        layer.keys = torch.cat([layer.keys[..., :sink, :], recent], dim=-2)
        layer.values = torch.cat([layer.values[..., :sink, :], layer.values[..., n - window :, :]], dim=-2)


def drop_last(cache: Any, n: int) -> bool:
    """Remove the last `n` entries of every layer (of a copy); False where a layer cannot (a sliding
    window already full). A quantized layer is dequantized, cut and quantized again."""
    import torch
    from transformers.cache_utils import QuantizedLayer

    for layer in cache.layers:
        if isinstance(layer, QuantizedLayer):
            keys = torch.cat([layer._dequantize(layer._quantized_keys), layer.keys], dim=-2)[..., :-n, :]
            values = torch.cat([layer._dequantize(layer._quantized_values), layer.values], dim=-2)[..., :-n, :]
            layer._quantized_keys = layer._quantize(keys.contiguous(), axis=layer.axis_key)
            layer._quantized_values = layer._quantize(values.contiguous(), axis=layer.axis_value)
            layer.keys, layer.values = keys[..., :0, :].clone(), values[..., :0, :].clone()
            layer.cumulative_length -= n
            continue
        try:
            layer.crop(-n)
        except RuntimeError:
            return False
    return True


def cache_bytes(cache: Any) -> int:
    """Bytes of the tensors a cache holds (quantized data, scales and zero points included), each
    storage counted once."""
    import torch

    seen: set[tuple[int, int]] = set()

    def walk(obj: Any, depth: int = 0) -> int:
        if isinstance(obj, torch.Tensor):
            key = (obj.untyped_storage().data_ptr(), obj.untyped_storage().nbytes())
            if key in seen or obj.numel() == 0:
                return 0
            seen.add(key)
            return obj.untyped_storage().nbytes()
        if depth > 3:
            return 0
        if isinstance(obj, dict):
            return sum(walk(v, depth + 1) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return sum(walk(v, depth + 1) for v in obj)
        return 0

    return sum(walk(vars(layer)) for layer in cache.layers)


# -- checks when the system is made -----------------------------------------------------------------
def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _group_size(config: Any, bits: int) -> int:
    """HQQ's group (values quantized together): 64, or the head size when 64 does not divide it. At 4 bits
    HQQ packs two groups in a byte, so a layer's groups per token (KV heads x head size / group) must be
    even, or a cache of an odd number of tokens cannot be packed (SmolLM2: 3 KV heads): halve it then."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    head_dim = _head_dim(text)
    group = QUANT_GROUP if head_dim % QUANT_GROUP == 0 else head_dim
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    if bits == 4 and (heads * head_dim // group) % 2 and group % 2 == 0:
        group //= 2
    return group


def _check_policy(model: Any, policy: Policy) -> Any:
    """Refuse a model the policy cannot work on (one-line UserError); for sinks, the RoPE frequencies."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    kinds = {type(layer) for layer in DynamicCache(config=model.config).layers}
    if kinds and kinds != {DynamicLayer}:
        if policy.name == "sinks":  # quant: QuantizedCache refuses these itself (below)
            names = ", ".join(sorted(k.__name__ for k in kinds))
            raise UserError(f"kv[policy=sinks] needs full attention in every layer; {type(model).__name__} has {names}")
    if policy.name == "quant":
        return _check_quant(model, policy)
    return _rope_frequencies(model) if policy.name == "sinks" else None


def _check_quant(model: Any, policy: Policy) -> None:
    import importlib.util

    from transformers import QuantizedCache

    if importlib.util.find_spec("hqq") is None:
        raise UserError("kv[policy=quant] quantizes the cache with HQQ (transformers' QuantizedCache); "
                        "install it with pip install 'longbench-suite[memory]'")
    try:
        QuantizedCache(QUANT_BACKEND, model.config, nbits=policy.bits, axis_key=1, axis_value=1,
                       q_group_size=_group_size(model.config, policy.bits), residual_length=QUANT_RESIDUAL)
    except (ValueError, ImportError, TypeError) as e:
        raise UserError(f"kv[policy=quant] cannot quantize the cache of {type(model).__name__}: {one_line(e, 200)}") from None


def _rope_frequencies(model: Any) -> Any:
    """The model's RoPE inverse frequencies, after checking on the model that re-rotating a cached key
    equals computing it at the shifted position (layer 0: keys there depend on position only by RoPE)."""
    import torch
    from transformers import DynamicCache

    rotary = [m for m in model.modules() if type(m).__name__.endswith("RotaryEmbedding") and hasattr(m, "inv_freq")]
    name = type(model).__name__
    if len(rotary) != 1:
        raise UserError(f"kv[policy=sinks] re-rotates cached keys with the model's one rotary embedding; {name} has {len(rotary)}")
    rope_type = getattr(rotary[0], "rope_type", "default")
    if rope_type not in _STATIC_ROPE:
        raise UserError(f"kv[policy=sinks] cannot re-rotate keys under {rope_type!r} RoPE (its frequencies depend on length)")
    inv_freq = rotary[0].inv_freq.detach().clone()
    ids = torch.arange(3, 11, device=model.device)[None]  # any 8 tokens
    shift = 5
    keys = []
    with torch.inference_mode():
        for offset in (0, shift):
            cache = DynamicCache(config=model.config)
            position_ids = torch.arange(ids.shape[1], device=model.device)[None] + offset
            model(input_ids=ids, position_ids=position_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            keys.append(cache.layers[0].keys)
        if 2 * inv_freq.numel() != keys[0].shape[-1]:  # partial rotary (GPT-NeoX rotary_pct, Phi): not re-rotated here
            raise UserError(f"kv[policy=sinks]: {name} rotates only part of each head (partial RoPE); "
                            "this policy re-rotates whole heads")
        moved = rotate_keys(keys[0], shift, inv_freq)
        tolerance = 1e-3 if keys[0].dtype == torch.float32 else 5e-2
        scale = float(keys[1].abs().max()) or 1.0
        if moved.shape != keys[1].shape or float((moved - keys[1]).abs().max()) > tolerance * scale:
            raise UserError(f"kv[policy=sinks]: {name}'s positional encoding is not the rotate-half RoPE this policy re-rotates")
    return inv_freq


def make_kv(spec: SystemSpec, ctx: SystemContext) -> KVCacheMemory:
    """`kv[policy=full|sinks|quant,...]:hf:MODEL`: each episode prefilled once, its cache kept for its probes."""
    from longbench_suite.registry import make_system

    assert spec.inner is not None
    check_options(spec, OPTIONS)
    policy = _policy(spec)
    if spec.inner.kind != "hf":
        raise UserError(f"system {spec}: kv keeps a transformers model's attention cache; its inner system must be "
                        f"hf:MODEL, not {spec.inner.kind}")
    if spec.inner.option("max_input_tokens") is not None:
        raise UserError(f"system {spec}: kv keeps the whole context's cache; max_input_tokens would cut it "
                        "(bound the cache with policy=sinks instead)")
    reader = make_system(spec.inner, ctx)
    assert isinstance(reader, HFSystem)
    if reader.has_hooks:
        raise UserError(f"system {spec}: the model has its own memory (lbs_ingest); kv needs a plain model")
    return KVCacheMemory(reader, policy)


def _policy(spec: SystemSpec) -> Policy:
    name = option_choice(spec, "policy", POLICIES, "full")
    for option, owner in (("sink", "sinks"), ("window", "sinks"), ("bits", "quant")):
        if spec.option(option) is not None and name != owner:
            raise UserError(f"system {spec}: {option} is an option of policy={owner}")
    return Policy(
        name=name,
        sink=option_number(spec, "sink", DEFAULT_SINK, int, 0),
        window=option_number(spec, "window", DEFAULT_WINDOW, int, 1),
        bits=int(option_choice(spec, "bits", BITS, "4")),
    )


SYSTEMS = {"kv": make_kv}
