"""The KV-cache memory (adapters/kv_cache.py) on a tiny random Llama: its output is noise, so answers are
compared with the stateless in-context reader (`hf:`) on the same prompts, token for token and by choice
log-probabilities, and the kept caches are measured.

The tiny model answers most prompts with the same tokens whatever the context (greedy, and even sampled:
its far context barely moves its distribution), so a matching text alone proves little. First-token
log-probs do depend on every context token: one word less moves them more than 10 times the tolerance
the comparisons allow, and the tests show it next to each comparison.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from lbs_testutil import make_needle
from tiny_models import make_tiny_llama

from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition, Episode, Probe
from longbench_suite.registry import make_system
from runners.local import RunConfig, run

pytest.importorskip("torch")
pytest.importorskip("transformers")

CHOICES = ["A", "B", "C"]
KV_BYTES_PER_TOKEN = 2 * 2 * 2 * 64 * 4  # K and V x 2 layers x 2 KV heads x head_dim 64 x float32


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("kv") / "tiny")


@pytest.fixture(scope="module")
def text() -> str:
    from data_builders.narrative import narrative

    return narrative(seed=3, n_words=400)[1]  # about 850 tokens of the tiny tokenizer


def _probe(context: str | None, question: str = "Which letter comes first, A or B?", **kw) -> Probe:
    return Probe(probe_id="p1", episode_id="e1", question=question, answer_prefix="The answer is",
                 context=context, max_new_tokens=kw.pop("max_new_tokens", 10), choices=kw.pop("choices", CHOICES), **kw)


async def _ask(system, text: str, probes: list[Probe], ingest: bool = True):
    await system.reset()
    if ingest:
        await system.ingest(Episode(episode_id="e1", family="t", variant="v", text=text))
    return [await system.answer(p) for p in probes]


def _run(data: Path, system: str, out: Path, condition: Condition) -> tuple[pl.DataFrame, dict]:
    manifest = run(RunConfig(dataset=data, system=system, out=out, condition=condition, use_cache=False))
    return pl.read_parquet(out / "predictions.parquet").sort("probe_id"), manifest


def _max_gap(a: dict[str, float], b: dict[str, float]) -> float:
    assert set(a) == set(b) == set(CHOICES)
    return max(abs(a[k] - b[k]) for k in CHOICES)


def test_full_policy_in_memory_equals_in_context_on_needle(tiny, tmp_path):
    """The issue's acceptance: needle single_1 end to end, kv full in-memory == hf in-context (greedy)."""
    data = make_needle(tmp_path / "needle", ["single_1"], ["lengths=512", "depths=0,50,100", "max_new_tokens=8"])
    kv, manifest = _run(data, f"kv:hf:{tiny}", tmp_path / "kv", Condition.IN_MEMORY)
    plain, _ = _run(data, f"hf:{tiny}", tmp_path / "plain", Condition.IN_CONTEXT)
    assert manifest["status"] == "complete" and manifest["counts"] == {"probes": 3, "predictions": 3, "errors": 0}
    assert manifest["condition"] == "in-memory" and manifest["system"]["policy"] == "full"
    assert kv.get_column("output").to_list() == plain.get_column("output").to_list()
    assert kv.get_column("completion_tokens").to_list() == plain.get_column("completion_tokens").to_list()
    # prompt_tokens: what the probe computed. The context came from the cache: only the question's part.
    saved = plain.get_column("prompt_tokens") - kv.get_column("prompt_tokens")
    assert kv.get_column("prompt_tokens").max() < 120 and saved.min() > 300
    fp = manifest["footprint"]
    assert fp["ingest_tokens"]["episodes"] == 3 and fp["memory_items"] == fp["ingest_tokens"]
    assert fp["memory_bytes"]["max"] == fp["ingest_tokens"]["max"] * KV_BYTES_PER_TOKEN  # float32, every token kept
    assert fp["prefill_saved_tokens"] == {"mean": round(float(saved.mean()), 2), "probes": 3}


def test_full_policy_matches_in_context_logprobs_and_samples(tiny, text):
    kv, plain = make_system(f"kv:hf:{tiny},temperature=1"), make_system(f"hf:{tiny},temperature=1")
    questions = ["Which letter comes first, A or B?", " Starts with a space?", "\nStarts on a new line?"]
    remembered = asyncio.run(_ask(kv, text, [_probe(None, q) for q in questions]))
    stateless = [asyncio.run(plain.answer(_probe(text, q))) for q in questions]
    for m, s in zip(remembered, stateless):
        assert m.text == s.text and m.completion_tokens == s.completion_tokens  # sampled: every token matches
        assert _max_gap(m.choice_logprobs, s.choice_logprobs) < 1e-4
        assert m.prompt_tokens < 40 and s.prompt_tokens - m.prompt_tokens > 800
    # The comparison can fail: one word less of context moves the log-probs 10 times the tolerance.
    shorter = asyncio.run(plain.answer(_probe(text.rsplit(" ", 1)[0], questions[0])))
    assert _max_gap(shorter.choice_logprobs, stateless[0].choice_logprobs) > 1e-3
    # In-context (the probe brings its context): the cache serves the prefix, the answer is the same.
    in_context = asyncio.run(kv.answer(_probe(text, questions[0])))
    assert in_context.text == stateless[0].text and in_context.prompt_tokens == remembered[0].prompt_tokens


def test_a_prompt_that_leaves_the_kept_text_reuses_only_the_shared_prefix(tiny, text):
    """The cut path (a tokenizer boundary, or an in-context prompt with another text): the cache loses its
    last tokens and they are computed again; sinks cannot cut into the sinks and compute everything."""
    changed_end = text.rsplit(" ", 1)[0] + " Elsewhere."
    changed_start = "Late" + text[len("Early"):]
    plain = make_system(f"hf:{tiny}")
    expected = {t: asyncio.run(plain.answer(_probe(t))) for t in (text, changed_end, changed_start)}
    for spec in ("kv", "kv[policy=sinks,sink=4,window=60]", "kv[policy=quant,bits=8]"):
        kv = make_system(f"{spec}:hf:{tiny}")
        same = asyncio.run(_ask(kv, text, [_probe(None)]))[0]
        end, start = (asyncio.run(kv.answer(_probe(t))) for t in (changed_end, changed_start))
        assert same.prompt_tokens < end.prompt_tokens < same.prompt_tokens + 15  # the changed word (a few tokens)
        tolerance = {"kv": 1e-4, "kv[policy=quant,bits=8]": 0.1}.get(spec)
        if tolerance:  # sinks reads another (evicted) context: only the costs compare
            assert _max_gap(end.choice_logprobs, expected[changed_end].choice_logprobs) < tolerance
            assert _max_gap(start.choice_logprobs, expected[changed_start].choice_logprobs) < tolerance
        # A changed first word: only the chat template's opening is shared; sinks keep nothing of it to reuse.
        shared = expected[changed_start].prompt_tokens - start.prompt_tokens
        opening = len(kv.reader.tokenizer("<|user|>\n", add_special_tokens=False)["input_ids"])  # tiny_models.CHAT_TEMPLATE
        assert shared == (0 if "sinks" in spec else opening)
        # Its own answer again: the kept cache was not changed by the probes that cut their copies.
        again = asyncio.run(kv.answer(_probe(None)))
        assert again.prompt_tokens == same.prompt_tokens and _max_gap(again.choice_logprobs, same.choice_logprobs) < 1e-6


def test_sinks_keep_sink_plus_window_tokens(tiny, text):
    spec = f"kv[policy=sinks,sink=4,window=60]:hf:{tiny}"
    sinks, full = make_system(spec), make_system(f"kv:hf:{tiny}")
    s = asyncio.run(_ask(sinks, text, [_probe(None)]))[0]
    f = asyncio.run(_ask(full, text, [_probe(None)]))[0]
    fs, ff = sinks.footprint(), full.footprint()
    assert fs["memory_items"]["max"] == 64 and fs["ingest_tokens"] == ff["ingest_tokens"]
    assert fs["memory_bytes"]["max"] == 64 * KV_BYTES_PER_TOKEN < ff["memory_bytes"]["max"]
    assert fs["policy"] == "sinks" and fs["sink"] == 4 and fs["window"] == 60
    assert s.prompt_tokens == f.prompt_tokens and fs["prefill_saved_tokens"] == ff["prefill_saved_tokens"]
    assert _max_gap(s.choice_logprobs, f.choice_logprobs) > 1e-3  # the evicted middle is gone
    # A context within sink + window keeps every token: the same answer as the full cache.
    short = " ".join(text.split()[:20])
    a = asyncio.run(_ask(sinks, short, [_probe(None)]))[0]
    b = asyncio.run(_ask(full, short, [_probe(None)]))[0]
    assert _max_gap(a.choice_logprobs, b.choice_logprobs) < 1e-5 and a.text == b.text


def test_rerotated_keys_equal_keys_computed_at_the_new_positions(tiny):
    """StreamingLLM's cache positions: a key cached at position p and re-rotated by d equals the key the
    model computes at p + d (both layers: the second layer's inputs depend on relative positions only)."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from adapters.kv_cache import rotate_keys

    model = AutoModelForCausalLM.from_pretrained(tiny, dtype="float32").eval()
    ids = torch.arange(40, 90)[None]
    caches = []
    with torch.inference_mode():
        for offset in (0, 37):
            cache = DynamicCache(config=model.config)
            model(input_ids=ids, position_ids=torch.arange(50)[None] + offset, past_key_values=cache, use_cache=True)
            caches.append(cache)
        inv_freq = model.model.rotary_emb.inv_freq
        for at_0, at_37 in zip(caches[0].layers, caches[1].layers):
            assert not torch.allclose(at_0.keys, at_37.keys, atol=1e-2)
            assert torch.allclose(rotate_keys(at_0.keys, 37, inv_freq), at_37.keys, atol=1e-4)
            assert torch.allclose(rotate_keys(at_37.keys, -37, inv_freq), at_0.keys, atol=1e-4)
            assert torch.allclose(at_0.values, at_37.values, atol=1e-4)


def test_quant_policy_keeps_fewer_bytes(tiny, text):
    answers, footprints = {}, {}
    for name, spec in (("full", "kv"), ("8", "kv[policy=quant,bits=8]"), ("4", "kv[policy=quant]")):
        system = make_system(f"{spec}:hf:{tiny}")
        answers[name] = asyncio.run(_ask(system, text, [_probe(None)]))[0]
        footprints[name] = system.footprint()
    size = {k: fp["memory_bytes"]["max"] for k, fp in footprints.items()}
    assert size["4"] < size["8"] < size["full"] / 3  # 4 bytes a value -> 1 (+ scales), 0.5 (+ scales)
    assert footprints["4"]["memory_items"] == footprints["full"]["memory_items"]  # every token, quantized
    # Per token: 2 layers x K and V x 2 heads x 64 values, in one 64-value group per head vector with a
    # float32 scale and minimum each: 512 values and 8 groups -> 512 + 64 bytes at 8 bits, 256 + 64 at 4.
    tokens = footprints["full"]["memory_items"]["max"]
    assert (size["8"], size["4"]) == (576 * tokens, 320 * tokens)
    assert footprints["8"]["bits"] == 8 and footprints["4"]["backend"] == "rtn" and footprints["4"]["group_size"] == 64
    gap8, gap4 = (_max_gap(answers[k].choice_logprobs, answers["full"].choice_logprobs) for k in ("8", "4"))
    assert 0 < gap8 < gap4 < 0.5  # lossy, more so at 4 bits, still the same model reading the same context


def test_reset_forgets_and_each_probe_reads_its_own_episode(tiny, text):
    kv, plain = make_system(f"kv:hf:{tiny}"), make_system(f"hf:{tiny}")
    first, second = text[: len(text) // 2], text[len(text) // 2 :]
    a = asyncio.run(_ask(kv, first, [_probe(None)]))[0]
    b = asyncio.run(_ask(kv, second, [_probe(None)]))[0]  # reset, then the other episode
    a_in, b_in = (asyncio.run(plain.answer(_probe(t))) for t in (first, second))
    assert _max_gap(a.choice_logprobs, a_in.choice_logprobs) < 1e-4
    assert _max_gap(b.choice_logprobs, b_in.choice_logprobs) < 1e-4  # the second episode's cache alone
    assert _max_gap(a_in.choice_logprobs, b_in.choice_logprobs) > 1e-3  # (the two contexts tell apart)
    with pytest.raises(UserError) as err:
        asyncio.run(_ask(kv, text, [_probe(None)], ingest=False))  # reset, then a question: nothing kept
    assert "\n" not in str(err.value) and "nothing ingested" in str(err.value)
    assert kv._kept is None
    # Another episode ingested: the first one's probes have nothing to read either.
    asyncio.run(kv.ingest(Episode(episode_id="e2", family="t", variant="v", text=first)))
    with pytest.raises(UserError):
        asyncio.run(kv.answer(_probe(None)))
    assert kv.footprint()["ingest_tokens"]["episodes"] == 3  # once per episode ingested


@pytest.mark.parametrize("spec, words", [
    ("kv:oracle", "must be hf:MODEL"),
    ("kv[policy=lru]:hf:{tiny}", "policy must be one of"),
    ("kv[window=8]:hf:{tiny}", "window is an option of policy=sinks"),
    ("kv[policy=sinks,bits=8]:hf:{tiny}", "bits is an option of policy=quant"),
    ("kv[policy=quant,bits=3]:hf:{tiny}", "bits must be one of"),
    ("kv[policy=sinks,window=0]:hf:{tiny}", "out of range"),
    ("kv[size=8]:hf:{tiny}", "unknown options size"),
    ("kv:hf:{tiny},max_input_tokens=64", "max_input_tokens"),
])  # fmt: skip
def test_user_mistakes_are_one_line_errors(tiny, spec, words):
    with pytest.raises(UserError) as err:
        make_system(spec.format(tiny=tiny))
    assert "\n" not in str(err.value) and words in str(err.value)


def test_sinks_refuse_a_model_with_partial_rotary_embeddings(tiny, tmp_path):
    """GPT-NeoX with rotary_pct=0.25 rotates a quarter of each head: re-rotating whole heads would be wrong."""
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(vocab_size=1100, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=256, rotary_pct=0.25, max_position_embeddings=2048)
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path / "neox")
    AutoTokenizer.from_pretrained(tiny).save_pretrained(tmp_path / "neox")
    with pytest.raises(UserError, match="partial RoPE"):
        make_system(f"kv[policy=sinks,sink=4,window=60]:hf:{tmp_path / 'neox'}")


def test_quant_4bit_packs_caches_of_any_length_with_an_odd_number_of_kv_heads(tiny, tmp_path):
    """With 3 KV heads (SmolLM2) and 64-value groups, a cache of an odd number of tokens has an odd number
    of groups; the codes are packed flat, two a byte, so the groups stay 64 values and contexts one token
    apart both ingest and answer, each kept in exactly its bytes."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=1100, hidden_size=192, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=3, num_key_value_heads=3, head_dim=64, max_position_embeddings=4096)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "three")
    AutoTokenizer.from_pretrained(tiny).save_pretrained(tmp_path / "three")
    system = make_system(f"kv[policy=quant,bits=4]:hf:{tmp_path / 'three'},max_tokens=4")

    async def go() -> list[int]:
        kept = []
        for words in (40, 41, 42):
            episode = Episode(f"e{words}", "needle", "v", " ".join(["river"] * words))
            await system.reset()
            await system.ingest(episode)
            kept.append(len(system._kept.cache_ids))
            await system.answer(replace(_probe(None), episode_id=episode.episode_id))
        return kept

    kept = asyncio.run(go())
    assert len({n % 2 for n in kept}) == 2  # an odd and an even cache length among them
    assert {layer.q_group_size for layer in system._kept.cache.layers} == {64}
    # Per token: 2 layers x K and V x 3 heads x (32 bytes of codes + a float32 scale and minimum).
    assert system.footprint()["memory_bytes"]["max"] == max(kept) * 2 * 2 * 3 * (32 + 8)


def test_quant_refuses_a_model_with_sliding_window_layers(tiny, tmp_path):
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    config = MistralConfig(vocab_size=1100, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=2, head_dim=64, sliding_window=64)
    MistralForCausalLM(config).save_pretrained(tmp_path / "mistral")
    AutoTokenizer.from_pretrained(tiny).save_pretrained(tmp_path / "mistral")
    with pytest.raises(UserError) as err:
        make_system(f"kv[policy=quant]:hf:{tmp_path / 'mistral'}")
    assert "\n" not in str(err.value) and "needs full attention in every layer" in str(err.value)
    make_system(f"kv:hf:{tmp_path / 'mistral'}")  # the full policy keeps such a cache as it is


# -- the quantizer itself ---------------------------------------------------------------------------
def _scale_per_value(q):
    """Each value's step: its group's scale, laid out as the tensor."""
    return q.scale.float().repeat_interleave(q.group, dim=-1)[..., : q.shape[-1]].movedim(-1, q.dim)


@pytest.mark.parametrize("nbits", [4, 8])
@pytest.mark.parametrize("axis, group", [(1, 64), (0, 64), (1, 32)])
def test_rtn_round_trip_is_within_half_a_step(nbits, axis, group):
    import torch

    from adapters.kv_cache import rtn_dequantize, rtn_quantize

    torch.manual_seed(0)
    x = torch.randn(1, 3, 77, 64)  # 77 tokens: along tokens, the last group is shorter
    x[..., 5] *= 20  # an outlier channel
    q = rtn_quantize(x, nbits, group, axis)
    back = rtn_dequantize(q)
    assert back.shape == x.shape and back.dtype == x.dtype
    assert q.codes.dtype == torch.uint8 and q.codes.numel() == x.numel() * nbits // 8
    error, half = (back - x).abs(), _scale_per_value(q) / 2
    assert bool((error <= half * (1 + 1e-5) + 1e-7).all())
    assert float((error / half).max()) > 0.9  # values do fall between codes: the bound is met, not trivial
    # Groups are what the axis says: one scale per 64 values of a token's head vector, or of a channel.
    groups = x.numel() // group if axis == 1 else 3 * 64 * -(-77 // group)
    assert q.scale.numel() == q.low.numel() == groups
    if nbits == 8:  # a quarter of the 4-bit step
        assert float(error.mean()) < float((rtn_dequantize(rtn_quantize(x, 4, group, axis)) - x).abs().mean()) / 8


def test_rtn_keeps_the_cache_dtype():
    import torch

    from adapters.kv_cache import rtn_dequantize, rtn_quantize

    torch.manual_seed(1)
    x = torch.randn(1, 2, 9, 64, dtype=torch.bfloat16)
    q = rtn_quantize(x, 8, 64, 1)
    back = rtn_dequantize(q)
    assert q.scale.dtype == q.low.dtype == back.dtype == torch.bfloat16
    assert bool(((back.float() - x.float()).abs() <= _scale_per_value(q)).all())  # bfloat16 rounding: within a step


def test_rtn_packs_an_odd_number_of_codes():
    """Odd head size and group: 3 groups of 7 values, 21 codes -> 11 bytes, the last half used."""
    import torch

    from adapters.kv_cache import rtn_dequantize, rtn_quantize

    x = torch.arange(21, dtype=torch.float32).reshape(1, 1, 3, 7) * 0.37
    q = rtn_quantize(x, 4, 7, 1)
    assert q.codes.numel() == 11 and int(q.codes[-1]) >> 4 == 0
    assert q.scale.numel() == 3
    assert bool(((rtn_dequantize(q) - x).abs() <= _scale_per_value(q) / 2 + 1e-6).all())
    # Along tokens: 5 tokens in groups of 2 -> 3 groups per channel, the last of one value, kept exactly.
    y = torch.randn(1, 1, 5, 3)
    q = rtn_quantize(y, 4, 2, 0)
    assert q.scale.shape == (1, 1, 3, 3) and q.codes.numel() == 8  # 15 codes
    assert bool((q.scale[..., 2] == 0).all()) and torch.equal(rtn_dequantize(q)[..., 4, :], y[..., 4, :])


def test_rtn_exact_values_of_a_hand_made_tensor():
    import torch

    from adapters.kv_cache import rtn_dequantize, rtn_quantize

    # Two groups of 4 along a token's values: [0, 1.4, 2.6, 15] (min 0, step 15/15 = 1), then a constant.
    x = torch.tensor([0.0, 1.4, 2.6, 15.0, -1.0, -1.0, -1.0, -1.0]).reshape(1, 1, 1, 8)
    q = rtn_quantize(x, 4, 4, 1)
    assert q.scale.flatten().tolist() == [1.0, 0.0] and q.low.flatten().tolist() == [0.0, -1.0]
    assert q.codes.tolist() == [0 | 1 << 4, 3 | 15 << 4, 0, 0]  # codes 0 1 3 15 0 0 0 0, low nibble first
    assert rtn_dequantize(q).flatten().tolist() == [0.0, 1.0, 3.0, 15.0, -1.0, -1.0, -1.0, -1.0]
    # 8 bits: [-2, -1.3, 0.55] -> min -2, step 2.55 / 255 = 0.01, codes 0 70 255.
    q = rtn_quantize(torch.tensor([-2.0, -1.3, 0.55]).reshape(1, 1, 1, 3), 8, 3, 1)
    assert q.codes.tolist() == [0, 70, 255] and rtn_dequantize(q).flatten().tolist() == pytest.approx([-2.0, -1.3, 0.55])
    # Along tokens (per channel): channel 0 over two tokens is [0, 15], channel 1 is [10, 10].
    q = rtn_quantize(torch.tensor([[0.0, 10.0], [15.0, 10.0]]).reshape(1, 1, 2, 2), 4, 2, 0)
    assert q.scale.flatten().tolist() == [1.0, 0.0] and q.low.flatten().tolist() == [0.0, 10.0]
    assert q.codes.tolist() == [0 | 15 << 4, 0]
