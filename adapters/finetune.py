"""Parametric memory: `finetune[OPTIONS]:hf:MODEL` remembers an episode by training on it (LoRA).

    finetune[steps=N][,rank=R][,alpha=A][,lr=X][,chunk_tokens=T][,batch=B][,seed=S]
            [,target=all-linear|attn]:hf:MODEL[,hf options]

e.g. `finetune:hf:HuggingFaceTB/SmolLM2-135M-Instruct`, `finetune[steps=64,lr=5e-4]:hf:./my-model,mode=completions`.

The knowledge-injection setting, and the in-memory condition of SORT (Pink et al. 2024, "Assessing
Episodic Memory in LLMs with Sequence Order Recall Tasks", arXiv:2410.08133): the model is fine-tuned
on the book, then asked about it without the book in the prompt. Here the weights are adapted with
LoRA (Hu et al. 2021, through peft) on the episode's text alone, one adapter per episode; where the
paper's training differs (which weights it trains, any other data mixed in to keep the model's
instruction following) this adapter does not follow it.

- ingest(episode): the text (`episode.text`, what an in-context prompt holds) is tokenized and cut
  into consecutive chunks of `chunk_tokens` tokens, each begun as the tokenizer begins a text (its
  BOS, if it adds one). A LoRA adapter of rank `rank` and scale `alpha/rank` (no dropout) is put on
  every linear layer but the output head (`target=all-linear`, peft's own choice) or on the linear
  layers of the attention blocks only (`target=attn`), then trained for `steps` AdamW steps (lr
  `lr`, no weight decay, constant rate) with the causal-LM loss, each step on `batch` chunks (fewer
  when the text has fewer) drawn in a seeded shuffled order, epoch after epoch. torch.manual_seed(seed)
  is set before the adapter is made and the same seed orders the chunks, so a run is repeatable (the
  global RNG is restored afterwards). Training runs on the hf system's torch worker thread, outside
  inference_mode. A second ingest without reset trains the same adapter further.
- answer(probe): the hf system answers from the adapted weights (its prompts, sampling, choice
  log-probs), with whatever the condition puts in the prompt: under in-memory, no context. Its
  response cache is never used (the answer depends on the adapter).
- reset(): the adapter is removed (peft unload, not merged): the model is the base model again,
  weight for weight.

Costs in footprint(): `parameters` (the base model's), `trainable_parameters` (the adapter's),
per episode (PerEpisode) `ingest_tokens` (tokens trained on: the non-padding tokens of every step's
batch, steps x tokens per step) and `memory_bytes` (the adapter's weights), and the training loss of
each episode's first and last step (`train_loss_first`, `train_loss_last`). Ingest time is the
runner's. Defaults are a CPU-sized budget: 32 steps of 4 x 512 tokens is 65,536 tokens trained, so a
longer text is not seen whole unless `steps` is raised to about tokens / (batch x chunk_tokens).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from longbench_suite.errors import UserError
from longbench_suite.protocol import Answer, Episode, MemorySystem, PerEpisode, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_choice, option_number

OPTIONS = ("steps", "rank", "alpha", "lr", "chunk_tokens", "batch", "seed", "target")
TARGETS = ("all-linear", "attn")
_ATTENTION_WORDS = ("attn", "attention")  # module-path parts that name an attention block


@dataclass(frozen=True)
class Hyper:
    """The training recipe, as describe() records it."""

    steps: int = 32
    rank: int = 8
    alpha: float = 16.0
    lr: float = 1e-3
    chunk_tokens: int = 512
    batch: int = 4
    seed: int = 0
    target: str = "all-linear"


@dataclass(frozen=True)
class Trained:
    """What one ingest did."""

    tokens: int
    adapter_bytes: int
    trainable: int
    first_loss: float | None
    last_loss: float | None


def parse_hyper(spec: SystemSpec, default_seed: int) -> Hyper:
    """The spec's options, checked (one-line UserErrors) before any model is loaded."""
    check_options(spec, OPTIONS)
    d = Hyper()
    return Hyper(
        steps=option_number(spec, "steps", d.steps, int, 1, 1_000_000),
        rank=option_number(spec, "rank", d.rank, int, 1, 4096),
        alpha=option_number(spec, "alpha", d.alpha, float, 1e-6, 1e6),
        lr=option_number(spec, "lr", d.lr, float, 1e-12, 1.0),
        chunk_tokens=option_number(spec, "chunk_tokens", d.chunk_tokens, int, 8, 1_000_000),
        batch=option_number(spec, "batch", d.batch, int, 1, 4096),
        seed=option_number(spec, "seed", default_seed, int),
        target=option_choice(spec, "target", TARGETS, d.target),
    )


def chunk_ids(ids: list[int], prefix: list[int], chunk_tokens: int) -> list[list[int]]:
    """Consecutive windows of the text's ids, each `prefix` + up to chunk_tokens - len(prefix) ids;
    a window with nothing to predict (under two tokens) is left out."""
    body = max(1, chunk_tokens - len(prefix))
    chunks = [prefix + ids[i : i + body] for i in range(0, len(ids), body)]
    return [c for c in chunks if len(c) >= 2]


def batch_order(n_chunks: int, batch: int, steps: int, seed: int) -> Iterator[list[int]]:
    """`steps` batches of chunk indices: a seeded permutation per epoch, read `batch` at a time
    (a batch never holds one chunk twice; it is smaller when the text has fewer chunks)."""
    import torch

    size = min(batch, n_chunks)
    generator = torch.Generator().manual_seed(seed)
    pool: list[int] = []
    for _ in range(steps):
        picked: list[int] = []
        while len(picked) < size:
            if not pool:
                pool = torch.randperm(n_chunks, generator=generator).tolist()
            i = pool.pop(0)
            if i in picked:  # the next epoch began mid-batch: this chunk waits for a later batch
                pool.append(i)
            else:
                picked.append(i)
        yield picked


def collate(chunks: list[list[int]], pad: int, device: Any) -> dict[str, Any]:
    """Right-padded input ids, attention mask and labels (-100 on padding: no loss there)."""
    import torch

    width = max(len(c) for c in chunks)
    ids = torch.full((len(chunks), width), pad, dtype=torch.long)
    mask = torch.zeros((len(chunks), width), dtype=torch.long)
    for row, chunk in enumerate(chunks):
        ids[row, : len(chunk)] = torch.tensor(chunk, dtype=torch.long)
        mask[row, : len(chunk)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def attention_linears(model: Any) -> list[str]:
    """Full names of the linear layers inside attention blocks (q/k/v/o projections, GPT-2's c_attn)."""
    import torch

    linear_types: tuple[type, ...] = (torch.nn.Linear,)
    try:
        from transformers.pytorch_utils import Conv1D

        linear_types += (Conv1D,)
    except ImportError:
        pass
    found = []
    for name, module in model.named_modules():
        parents = name.split(".")[:-1]
        if isinstance(module, linear_types) and any(w in p.lower() for p in parents for w in _ATTENTION_WORDS):
            found.append(name)
    return found


class FineTuneMemory(MemorySystem):
    """LoRA fine-tuning on each episode's text over an in-process hf: model; answers from the adapted weights."""

    concurrent_episodes = False  # the weights are the memory: one episode at a time

    def __init__(self, inner: Any, hyper: Hyper):
        self.inner = inner  # adapters.hf.HFSystem, built without the run's response cache
        self.hyper = hyper
        self.name = f"finetune:{inner.name}"
        self.base_parameters = sum(p.numel() for p in inner.model.parameters())
        self.context_length = int(getattr(inner.model.config, "max_position_embeddings", 0) or 0)
        if self.context_length and hyper.chunk_tokens > self.context_length:
            raise UserError(f"finetune: chunk_tokens={hyper.chunk_tokens} exceeds {inner.name}'s context of "
                            f"{self.context_length} tokens")
        self.targets: str | list[str] = "all-linear" if hyper.target == "all-linear" else self._attention_targets()
        self._peft: Any = None  # the peft model while an adapter is on
        self.trainable: int | None = None
        self.tokens, self.bytes = PerEpisode(), PerEpisode()
        self.loss_first, self.loss_last = PerEpisode(), PerEpisode()

    def _attention_targets(self) -> list[str]:
        names = attention_linears(self.inner.model)
        if not names:
            raise UserError(f"finetune: target=attn found no linear layer inside an attention block of "
                            f"{self.inner.name}; use target=all-linear")
        return names

    # -- protocol --------------------------------------------------------------------------------
    async def check(self) -> None:
        await self.inner.check()

    async def reset(self) -> None:
        await self.inner._run(self._drop_adapter)

    async def ingest(self, episode: Episode) -> None:
        done: Trained = await self.inner._run(self._train, episode.text)
        self.trainable = done.trainable or self.trainable
        self.tokens.add(done.tokens)
        self.bytes.add(done.adapter_bytes)
        if done.first_loss is not None:
            self.loss_first.add(done.first_loss)
            self.loss_last.add(done.last_loss)

    async def release(self, episode: Episode) -> None:
        await self.inner.release(episode)

    async def answer(self, probe: Probe) -> Answer:
        return await self.inner.answer(probe)

    # -- on the worker thread --------------------------------------------------------------------
    def _drop_adapter(self) -> None:
        if self._peft is not None:
            self.inner.model = self._peft.unload()  # the LoRA layers give back their base layers, unmerged
            self._peft = None

    def _add_adapter(self) -> None:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=self.hyper.rank, lora_alpha=self.hyper.alpha, lora_dropout=0.0, bias="none",
                            target_modules=self.targets)  # fmt: skip
        self._peft = get_peft_model(self.inner.model, config)  # injected in place: inner.model runs through it

    def _chunks(self, text: str) -> list[list[int]]:
        tokenizer = self.inner.tokenizer
        ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        prefix = tokenizer("", add_special_tokens=True)["input_ids"]  # BOS where the tokenizer adds one
        return chunk_ids(list(ids), list(prefix), self.hyper.chunk_tokens)

    def _train(self, text: str) -> Trained:
        import torch

        chunks = self._chunks(text)
        if not chunks:  # nothing to learn: no adapter, the base model answers
            return Trained(0, self._adapter_bytes(), self.trainable or 0, None, None)
        model = self.inner.model
        cuda = [model.device.index or 0] if model.device.type == "cuda" else []
        losses: list[float] = []
        tokens = 0
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(self.hyper.seed)
            if self._peft is None:
                self._add_adapter()
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=self.hyper.lr, weight_decay=0.0)
            pad = self.inner._pad if self.inner._pad is not None else 0
            model.train()
            try:
                for picked in batch_order(len(chunks), self.hyper.batch, self.hyper.steps, self.hyper.seed):
                    batch = collate([chunks[i] for i in picked], pad, model.device)
                    loss = model(**batch).loss
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    losses.append(float(loss.detach()))
                    tokens += int(batch["attention_mask"].sum())
            finally:
                model.eval()
        trainable = sum(p.numel() for p in params)
        return Trained(tokens, self._adapter_bytes(), trainable, losses[0], losses[-1])

    def _adapter_bytes(self) -> int:
        if self._peft is None:
            return 0
        return sum(p.numel() * p.element_size() for p in self.inner.model.parameters() if p.requires_grad)

    # -- records ---------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        return {
            "name": self.name,
            "kind": "finetune",
            "method": "lora",
            **asdict(self.hyper),
            "target_modules": self._target_names(),
            "optimizer": "adamw",
            "weight_decay": 0.0,
            "lora_dropout": 0.0,
            "loss": "causal-lm",
            "inner": inner,
            "sampling": inner.get("sampling", {}),
        }

    def _target_names(self) -> str | list[str]:
        """"all-linear", or the distinct layer names adapted (q_proj, k_proj ...), not one per block."""
        return self.targets if isinstance(self.targets, str) else sorted({n.rsplit(".", 1)[-1] for n in self.targets})

    def footprint(self) -> dict[str, Any]:
        out = dict(self.inner.footprint())
        out["parameters"] = self.base_parameters  # the adapter's are counted apart
        if self.trainable:
            out["trainable_parameters"] = self.trainable
        costs = {"ingest_tokens": self.tokens, "memory_bytes": self.bytes,
                 "train_loss_first": self.loss_first, "train_loss_last": self.loss_last}  # fmt: skip
        out.update({k: v.summary() for k, v in costs.items() if v.summary() is not None})
        return out

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_finetune(spec: SystemSpec, ctx: SystemContext) -> FineTuneMemory:
    """`finetune[...]:hf:MODEL`: LoRA fine-tuning on each episode, answers from the adapted weights."""
    from longbench_suite.registry import make_system

    from .hf import HFSystem

    assert spec.inner is not None
    if spec.inner.kind != "hf":
        raise UserError(f"finetune trains an in-process model's weights: write finetune[...]:hf:MODEL, not "
                        f"finetune:{spec.inner}")
    hyper = parse_hyper(spec, ctx.seed)
    if importlib.util.find_spec("peft") is None:
        raise UserError("finetune: needs peft; install with `pip install 'longbench-suite[memory]'`")
    inner = make_system(spec.inner, replace(ctx, cache=None))  # answers depend on the adapter: never cached
    assert isinstance(inner, HFSystem)
    if inner.has_hooks:
        raise UserError(f"finetune: {inner.name} has its own ingest hooks (a memory already); fine-tune a plain model")
    return FineTuneMemory(inner, hyper)


SYSTEMS = {"finetune": make_finetune}
