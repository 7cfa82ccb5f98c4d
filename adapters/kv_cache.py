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
- quant: KIVI (Liu et al. 2024, "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache"), as
  transformers' QuantizedCache lays it out: asymmetric round-to-nearest min-max quantization of each
  group of values (a group keeps its minimum and its step, scale = (max - min) / (2^bits - 1); a value
  keeps the nearest code, so it comes back within half a step). `bits` 4 (default; two codes a byte)
  or 8; scales and minimums in the cache's dtype. Groups of 64 values of one token's head vector (the
  head size where 64 does not divide it), keys and values alike (axis 1); KIVI groups keys per channel
  (one channel over consecutive tokens: axis 0 of the quantizer here, not used). KIVI's 2 bits are not
  offered. The prefix is quantized after its prefill (the prefill itself attends in full precision);
  the probe's tokens stay in full precision until 128 of them accumulate, then everything is quantized
  again (transformers' residual_length, KIVI's full-precision recent tokens). The quantizer is this
  module's own (rtn_quantize, in a transformers QuantizedLayer): transformers' backends are HQQ, whose
  import pulls torch's compiler into every process that loads a transformers model (seconds) and which
  also fits each group's scale and zero by half-quadratic optimisation (not done here: plain min-max),
  and quanto, whose quantized tensors cannot be deep-copied and which has no 8-bit mode.

Costs (footprint()): `memory_bytes` (bytes of the kept cache: tensors held, codes, scales and minimums
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
import functools
import gc
import time
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from longbench_suite.errors import SystemFailure, UserError
from longbench_suite.protocol import Answer, Episode, MemorySystem, PerEpisode, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_choice, option_number

from .hf import HFSystem

POLICIES = ("full", "sinks", "quant")
OPTIONS = ("policy", "sink", "window", "bits")
BITS = ("4", "8")
DEFAULT_SINK, DEFAULT_WINDOW = 4, 1020  # StreamingLLM's 4 attention sinks + 1020 recent tokens
QUANT_BACKEND, QUANT_GROUP, QUANT_RESIDUAL = "rtn", 64, 128  # round-to-nearest; KIVI's and transformers' 128
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
        from transformers import DynamicCache
        from transformers.cache_utils import Cache

        config = self.reader.model.config
        cache = DynamicCache(config=config)
        if self.policy.name != "quant":
            return cache
        layer = _rtn_layer_class()  # one per layer of the model (full attention: checked when the system is made)
        group = _group_size(config)
        return Cache(layers=[layer(self.policy.bits, 1, 1, group, QUANT_RESIDUAL) for _ in cache.layers])

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


# -- the quantizer ----------------------------------------------------------------------------------
# QuantizedLayer's axis_key/axis_value, numbered as transformers' QuantizedCache takes them -> the dim of
# (batch, heads, tokens, head size) that a group runs along: 1, a token's head vector; 0, one channel over tokens
_GROUPED_DIM = {1: -1, 0: -2}


class Quantized(NamedTuple):
    """A tensor quantized in groups: value ~ low + code * scale (a tuple, so cache_bytes counts its tensors)."""

    codes: Any  # uint8, flat; at 4 bits two codes a byte (low nibble first), the last byte half used when odd
    scale: Any  # (..., groups) in the tensor's dtype: the step between codes
    low: Any  # (..., groups): the group's minimum, code 0
    shape: tuple[int, ...]  # the tensor's shape with the grouped dim moved last
    dim: int  # the grouped dim
    group: int
    nbits: int


def rtn_quantize(tensor: Any, nbits: int, group: int, axis: int) -> Quantized:
    """Asymmetric round-to-nearest min-max quantization of each `group` consecutive values along `axis`
    (1: within a token's head vector; 0: along tokens, one channel). A last, shorter group (tokens not a
    multiple of `group`) is quantized over the values it has."""
    import torch

    if nbits not in (4, 8) or axis not in _GROUPED_DIM:
        raise ValueError(f"rtn_quantize: nbits must be 4 or 8 and axis 0 or 1, not {nbits} and {axis}")
    dim = _GROUPED_DIM[axis]
    top = 2**nbits - 1
    x = tensor.movedim(dim, -1).float()
    n, pad = x.shape[-1], -x.shape[-1] % group
    if pad:  # the last group filled with copies of its last value: its min and max stay its own
        x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], pad)], dim=-1)
    groups = x.unflatten(-1, (-1, group))
    lo, hi = groups.amin(dim=-1), groups.amax(dim=-1)
    low, scale = lo.to(tensor.dtype), ((hi - lo) / top).to(tensor.dtype)  # stored as the cache's dtype ...
    step = scale.float().where(scale > 0, 1.0)  # ... and codes fitted to the stored values; a constant group: all 0
    codes = ((groups - low.float()[..., None]) / step[..., None]).round_().clamp_(0, top)
    codes = codes.flatten(-2)[..., :n].to(torch.uint8).flatten()
    if nbits == 4:
        codes = torch.cat([codes, codes.new_zeros(codes.numel() % 2)])
        codes = codes[0::2] | (codes[1::2] << 4)
    return Quantized(codes, scale, low, (*x.shape[:-1], n), dim, group, nbits)


def rtn_dequantize(q: Quantized) -> Any:
    """The tensor `q` stands for, in the dtype it was quantized from."""
    import torch

    codes = q.codes
    if q.nbits == 4:
        codes = torch.stack([codes & 15, codes >> 4], dim=-1).flatten()
    n = q.shape[-1]
    codes = codes[: torch.Size(q.shape).numel()].reshape(q.shape).float()
    scale = q.scale.float().repeat_interleave(q.group, dim=-1)[..., :n]
    low = q.low.float().repeat_interleave(q.group, dim=-1)[..., :n]
    return (low + codes * scale).to(q.scale.dtype).movedim(-1, q.dim)


@functools.cache
def _rtn_layer_class() -> type:
    """transformers' QuantizedLayer (residual, requantization) with rtn_quantize; made on first use, as
    this module imports transformers only when a model is loaded."""
    from transformers.cache_utils import QuantizedLayer

    class RTNQuantizedLayer(QuantizedLayer):
        def _quantize(self, tensor: Any, axis: int) -> Quantized:
            return rtn_quantize(tensor, self.nbits, self.q_group_size, axis)

        def _dequantize(self, q_tensor: Quantized) -> Any:
            return rtn_dequantize(q_tensor)

    return RTNQuantizedLayer


# -- checks when the system is made -----------------------------------------------------------------
def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _group_size(config: Any) -> int:
    """Values quantized together, within one token's head vector: 64, or the head size when 64 does not
    divide it (a group never spans two heads). Any group count packs: the codes are packed flat."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    head_dim = _head_dim(text)
    return QUANT_GROUP if head_dim % QUANT_GROUP == 0 else head_dim


def _check_policy(model: Any, policy: Policy) -> Any:
    """Refuse a model the policy cannot work on (one-line UserError); for sinks, the RoPE frequencies."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    kinds = {type(layer) for layer in DynamicCache(config=model.config).layers}
    if policy.name != "full" and kinds != {DynamicLayer}:  # sliding windows, linear attention, ...
        names = ", ".join(sorted(k.__name__ for k in kinds)) or "no attention layers"
        raise UserError(f"kv[policy={policy.name}] needs full attention in every layer; {type(model).__name__} has {names}")
    return _rope_frequencies(model) if policy.name == "sinks" else None


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
