"""Parametric memory (adapters/finetune.py) on a tiny random Llama: LoRA training on a tiny book.

The model is noise before training, so what is checked is what fine-tuning must do to it: the loss on
the book falls, a book sentence's log-prob rises and its greedy continuation comes back without the book
in the prompt; reset gives back the base model weight for weight; the same seed trains the same adapter;
an adapter trained on episode A is gone after reset (the model after reset + B equals a model that only
ever saw B); one-line errors; a real in-memory run records the costs in run.json.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from memory_contract import contract_dataset
from tiny_models import make_tiny_llama

from longbench_suite.cache import ResponseCache
from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition, Episode, Probe, SystemContext
from longbench_suite.registry import make_system

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

BOOK_A = ("The lighthouse keeper counted forty ships before the storm. Her brother mended the nets on the quay. "
          "At dawn the harbour bell rang seven times, and the fishermen stayed home. "
          "The old captain wrote every name in a green ledger.")
BOOK_B = ("A baker in the valley sold bread to the miners every morning. The river froze in the first week of winter. "
          "Children skated past the mill while the miller slept. In spring the bridge was painted red.")
SENTENCE_A = "The lighthouse keeper counted forty ships before the storm."
RECIPE = "steps=60,lr=1e-2,rank=8,alpha=16,chunk_tokens=32,batch=4"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("finetune") / "tiny")


def build(tiny, recipe: str = RECIPE, seed: int = 0, ctx: SystemContext | None = None):
    return make_system(f"finetune[{recipe},seed={seed}]:hf:{tiny},mode=completions", ctx)


def episode(eid: str, text: str) -> Episode:
    return Episode(episode_id=eid, family="book", variant="tiny", text=text)


def logprob(system, text: str) -> float:
    """Sum of log P(token | the tokens before it) over `text` (its first token unscored), no prompt
    around it: computed here with torch, independently of the adapter's code."""
    ids = system.inner.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = system.inner.model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    return float(torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None]).sum())


def mean_loss(system, text: str) -> float:
    """The causal-LM loss on the whole text (mean negative log-prob per predicted token)."""
    n = len(system.inner.tokenizer(text, add_special_tokens=False)["input_ids"])
    return -logprob(system, text) / (n - 1)


def complete(system, prompt: str, tokens: int = 8) -> str:
    return ask(system, prompt, tokens).text


def ask(system, prompt: str, tokens: int = 8):
    probe = Probe(probe_id="p", episode_id="a", question=prompt, answer_prefix="", context=None, max_new_tokens=tokens)
    return asyncio.run(system.answer(probe))


def base_weights(system) -> dict:
    return {k: v.clone() for k, v in system.inner.model.state_dict().items()}


def test_fine_tuning_on_the_book_lowers_its_loss_and_recalls_it_without_context(tiny):
    system = build(tiny)
    loss0, lp0 = mean_loss(system, BOOK_A), logprob(system, SENTENCE_A)
    before = complete(system, "The lighthouse keeper counted")
    asyncio.run(system.ingest(episode("a", BOOK_A)))
    loss1, lp1 = mean_loss(system, BOOK_A), logprob(system, SENTENCE_A)
    assert loss1 < loss0 - 1.0, (loss0, loss1)  # nats per token: the book is being learnt
    assert lp1 > lp0 + 20.0, (lp0, lp1)
    after = complete(system, "The lighthouse keeper counted")
    assert after.startswith(" forty ships"), after  # answered from the weights: no context in the prompt
    assert not before.startswith(" forty"), before
    foot = system.footprint()
    tokens_per_step = len(system.inner.tokenizer(BOOK_A, add_special_tokens=False)["input_ids"])
    assert 64 < tokens_per_step <= 4 * 32  # three or four chunks of <= 32 tokens: all in every batch of 4
    assert foot["ingest_tokens"] == {"mean": 60 * tokens_per_step, "max": 60 * tokens_per_step, "episodes": 1}
    # all-linear on 2 layers: q,k,v,o (128x128) and gate,up (128->256), down (256->128), rank 8: A + B each.
    per_layer = 4 * 8 * (128 + 128) + 2 * 8 * (128 + 256) + 8 * (256 + 128)
    assert foot["trainable_parameters"] == 2 * per_layer
    assert foot["memory_bytes"]["mean"] == 4 * 2 * per_layer  # float32 adapter weights
    assert foot["train_loss_last"]["mean"] < foot["train_loss_first"]["mean"]
    assert foot["parameters"] == sum(v.numel() for k, v in system.inner.model.named_parameters() if "lora_" not in k)
    asyncio.run(system.aclose())


def test_reset_gives_back_the_base_model_exactly(tiny):
    system = build(tiny)
    weights, lp0 = base_weights(system), logprob(system, SENTENCE_A)
    asyncio.run(system.ingest(episode("a", BOOK_A)))
    assert abs(logprob(system, SENTENCE_A) - lp0) > 1.0
    asyncio.run(system.reset())
    assert abs(logprob(system, SENTENCE_A) - lp0) <= 1e-6
    after = system.inner.model.state_dict()
    assert set(after) == set(weights)  # no LoRA weights left behind
    assert all(torch.equal(after[k], weights[k]) for k in weights)
    assert not any("lora" in name.lower() for name, _ in system.inner.model.named_modules())
    asyncio.run(system.aclose())


def test_the_same_seed_trains_the_same_adapter_and_another_seed_another(tiny):
    system, other = build(tiny, seed=0), build(tiny, seed=1)
    asyncio.run(system.ingest(episode("a", BOOK_A)))
    first = logprob(system, SENTENCE_A)
    asyncio.run(system.reset())
    torch.rand(7)  # the global RNG moved on meanwhile: the seed, not the RNG's state, makes the adapter
    asyncio.run(system.ingest(episode("a", BOOK_A)))
    assert abs(logprob(system, SENTENCE_A) - first) <= 1e-6
    asyncio.run(other.ingest(episode("a", BOOK_A)))
    assert abs(logprob(other, SENTENCE_A) - first) > 1e-3
    for s in (system, other):
        asyncio.run(s.aclose())


def test_after_reset_the_first_episode_is_gone(tiny, tmp_path):
    """reset -> ingest B leaves exactly the model a fresh B-only adaptation gives (A's adapter is gone);
    the run's response cache is not used (it would answer B's question with A's answer)."""
    cache = ResponseCache(tmp_path / "cache.sqlite")
    system, fresh = build(tiny, ctx=SystemContext(cache=cache)), build(tiny)
    asyncio.run(system.ingest(episode("a", BOOK_A)))
    with_a = logprob(system, SENTENCE_A)
    assert complete(system, "The lighthouse keeper counted").startswith(" forty ships")
    asyncio.run(system.reset())
    asyncio.run(system.ingest(episode("b", BOOK_B)))
    asyncio.run(fresh.ingest(episode("b", BOOK_B)))
    only_b = logprob(fresh, SENTENCE_A)
    assert abs(logprob(system, SENTENCE_A) - only_b) <= 1e-6
    assert with_a > only_b + 20.0  # A's sentence was learnt, and is no longer
    again = ask(system, "The lighthouse keeper counted")
    assert not again.cache_hit and not again.text.startswith(" forty ships")
    assert cache._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0
    for s in (system, fresh):
        asyncio.run(s.aclose())


def test_a_second_ingest_without_reset_trains_the_same_adapter_further(tiny):
    system = build(tiny, "steps=5,lr=1e-3,chunk_tokens=32,batch=4")  # far from learnt: more steps help
    base = logprob(system, SENTENCE_A)
    asyncio.run(system.ingest(episode("a", BOOK_A)))
    once = logprob(system, SENTENCE_A)
    asyncio.run(system.ingest(episode("a2", BOOK_A)))
    assert logprob(system, SENTENCE_A) - once > 0.5 * (once - base) > 0, (base, once)
    assert system.footprint()["ingest_tokens"]["episodes"] == 2
    asyncio.run(system.aclose())


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("finetune:oracle", "finetune[...]:hf:MODEL"),
        ("finetune[steps=2]:embedded", "finetune[...]:hf:MODEL"),
        ("finetune[steps=0]:hf:{tiny}", "steps=0 out of range"),
        ("finetune[rank=eight]:hf:{tiny}", "rank='eight' is not an integer"),
        ("finetune[lr=0]:hf:{tiny}", "lr=0 out of range"),
        ("finetune[target=mlp]:hf:{tiny}", "target must be one of all-linear, attn"),
        ("finetune[epochs=2]:hf:{tiny}", "unknown options epochs"),
        ("finetune[chunk_tokens=5000]:hf:{tiny}", "exceeds hf:tiny's context of 4096 tokens"),
    ],
)
def test_bad_specs_are_refused_in_one_line(tiny, spec, words):
    with pytest.raises(UserError) as e:
        make_system(spec.format(tiny=tiny))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_attention_target_trains_only_attention_projections(tiny):
    system = build(tiny, "steps=2,chunk_tokens=32,target=attn")
    asyncio.run(system.ingest(episode("a", BOOK_A)))
    model = system.inner.model
    trained = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert system.footprint()["trainable_parameters"] == 2 * 4 * 8 * (128 + 128)
    assert system.describe()["target"] == "attn"
    assert system.describe()["target_modules"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    asyncio.run(system.aclose())


def test_an_in_memory_run_completes_and_records_the_costs(tiny, tmp_path):
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from runners.local import RunConfig, run

    data = contract_dataset(tmp_path / "data", samples=2)
    spec = f"finetune[steps=3,chunk_tokens=64,batch=2,lr=1e-3]:hf:{tiny},mode=completions,max_tokens=4"
    manifest = run(RunConfig(dataset=data, system=spec, out=tmp_path / "run", condition=Condition.IN_MEMORY,
                             use_cache=False))
    assert manifest["status"] == "complete"
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    foot = saved["footprint"]
    assert foot["ingest_tokens"]["episodes"] == 2 and foot["ingest_tokens"]["max"] <= 3 * 2 * 64
    assert foot["memory_bytes"]["mean"] > 0 and foot["trainable_parameters"] > 0
    costs = saved["costs"]  # the runner's reading of the footprint, beside its own ingest timing
    assert costs["ingest_tokens"] == {"mean": foot["ingest_tokens"]["mean"], "max": foot["ingest_tokens"]["max"]}
    assert costs["memory_bytes"]["mean"] == foot["memory_bytes"]["mean"] and costs["ingest_s"]["max"] > 0
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    texts = pq.read_table(data / "episodes.parquet").column("text").to_pylist()
    shortest = min(len(tokenizer(t)["input_ids"]) for t in texts)
    prompts = pq.read_table(tmp_path / "run" / "predictions.parquet").column("prompt_tokens").to_pylist()
    assert len(prompts) == 4 and max(prompts) < shortest  # in-memory: no episode text in any prompt
    described = saved["system"]
    expected = {"kind": "finetune", "steps": 3, "rank": 8, "alpha": 16.0, "lr": 1e-3, "chunk_tokens": 64, "batch": 2,
                "seed": 0, "target": "all-linear"}
    assert {k: described[k] for k in expected} == expected
    assert described["inner"]["kind"] == "hf"
