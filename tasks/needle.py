"""Needle in a haystack: RULER's eight NIAH variants, sized by summed token counts.

Every needle is a sentence naming a key and a value; the system must memorise the context and
later give the value(s) of the asked key(s). Scored with RULER's string_match_all.

Length convention (RULER's): the whole prompt holds at most `length - max_new_tokens` tokens, so a
task of length L fits a model whose window is L tokens including the answer budget. The prompt is
counted as it is sent (`prompt_mode`): completions: context, "\n\n", question, "\n", answer prefix,
plus the special tokens the tokenizer adds (a BOS); chat: the same text inside the tokenizer's chat
template, with its system/role tokens (as RULER counts a model template when one is set), taking
the longer of the two prefills (answer prefix appended to the user turn, or opening the assistant
turn). Tokens are counted once per unit (each haystack sentence once per corpus, template pieces once
per call, question and needles once per sample) and added up; RULER instead re-tokenizes whole
candidate texts inside a binary search.

Deviations from RULER, all deliberate:
- the asked needle sits at a requested depth from a grid (the classic depth x length heatmap); the
  other needles draw RULER's random depths (40 evenly spaced percents). RULER draws every depth.
- depth is the fraction of haystack *tokens* before the needle (RULER: fraction of sentences).
- the haystack window is chosen among 8 consecutive start sentences to fill the budget best, so the
  prompt lands within a few tokens of the target instead of up to a sentence short.
- needle-made haystacks (multikey_2/3) join needles with newlines, one needle per line, and take
  a window of a per-call pool of filler needles counted once (RULER: fresh fillers per sample, all
  re-tokenized); the asked needle is fresh per sample and its key and value occur nowhere in the pool.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import polars as pl
import pyarrow as pa

from data_builders.haystack import Haystack, count_units, derive_seed, load_haystack, word_list
from longbench_suite import io, metrics, schemas
from longbench_suite.errors import UserError
from longbench_suite.task import PIECE_TOKENS, SizeEstimate, TaskFamily, param
from longbench_suite.tokens import TokenCounter, chat_renderer, load_tokenizer, special_tokens_added

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "needle.toml"
TEMPLATE_KEYS = ("context", "needle", "question", "answer_prefix")
DEFAULT_VALUE_KINDS = {"numbers": "numbers", "uuids": "UUIDs"}

# RULER's depths for the other needles: 40 evenly spaced percents in [0, 100], rounded as RULER does.
DEPTHS: list[int] = [int(d) for d in np.round(np.linspace(0, 100, num=40, endpoint=True))]

QUESTION_SEP = "\n\n"  # Probe.prompt_text() joins context and question with this
PREFIX_SEP = "\n"  # completion_prompt() (and chat prefill=user) put the answer prefix on its own line
PROMPT_MODES = ("completions", "chat")
NEEDLE_SEP = " "  # a needle inserted between prose sentences
NEEDLE_LINE_SEP = "\n"  # needles that make up a haystack, one per line
METRIC = "string_match_all"
_SENTINEL = "\x00HAYSTACK\x00"
# The smallest haystack worth generating: fewer tokens than this means the length is too small.
MIN_HAYSTACK_TOKENS = 16


# --- template -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    context: str
    needle: str
    question: str
    answer_prefix: str
    value_kinds: dict[str, str]
    source: str

    @classmethod
    def load(cls, spec: str) -> "Template":
        """`default` (the packaged file) or a path to a TOML file with the same keys."""
        path = DEFAULT_TEMPLATE if spec in ("", "default") else Path(spec).expanduser()
        data = io.read_toml(path, "needle template")
        missing = [k for k in TEMPLATE_KEYS if not isinstance(data.get(k), str)]
        if missing:
            raise UserError(f"needle template {path} lacks text key(s): {', '.join(missing)}")
        kinds = dict(DEFAULT_VALUE_KINDS)
        extra = data.get("value_kind", {})
        if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
            raise UserError(f"needle template {path}: [value_kind] must map numbers/uuids to names")
        kinds.update(extra)
        t = cls(data["context"], data["needle"], data["question"], data["answer_prefix"], kinds, str(path))
        t._check()
        return t

    def render(self, which: str, **fields: str) -> str:
        try:
            return getattr(self, which).format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            raise UserError(f"needle template {self.source}: bad placeholder in {which!r}: {e}") from None

    def _check(self) -> None:
        """Fail at load time, with one line, on templates that cannot make a valid task."""
        f = dict(value_kind="numbers", key="\x01K", value="\x01V", query="\x01Q", haystack=_SENTINEL)
        if self.render("context", **f).count(_SENTINEL) != 1:
            raise UserError(f"needle template {self.source}: context must contain {{haystack}} exactly once")
        needle = self.render("needle", **f)
        if "\x01K" not in needle or "\x01V" not in needle:
            raise UserError(f"needle template {self.source}: needle must contain {{key}} and {{value}}")
        if "\x01Q" not in self.render("question", **f):
            raise UserError(f"needle template {self.source}: question must contain {{query}}")
        self.render("answer_prefix", **f)

    def context_parts(self, value_kind: str) -> tuple[str, str]:
        """The context's text before and after the haystack."""
        before, after = self.render("context", value_kind=value_kind, haystack=_SENTINEL).split(_SENTINEL)
        return before, after


# --- parameters and variants --------------------------------------------------------------------


@dataclass
class NeedleParams:
    lengths: list[int] = param([4096], "prompt lengths in tokens, answer budget included (e.g. 4k,32k)", size=True)
    depths: list[float] = param([0, 25, 50, 75, 100], "depths (percent of the haystack before the asked needle)")
    samples: int = param(1, "samples per variant x length x depth")
    haystack: str = param("auto", "auto (per variant), noise, essay, or a .txt file / directory of your text")
    template: str = param("default", "default, or a TOML file with context/needle/question/answer_prefix")
    max_new_tokens: int = param(128, "answer budget in tokens (RULER: 128), part of each length")
    num_choices: int = param(10, "candidate pool size for the random baseline: gold values + decoys")
    prompt_mode: str = param(
        "completions", "what a length counts: completions (the prompt text + the tokenizer's special tokens) or "
        "chat (the tokenizer's chat template around it; needs a tokenizer with one)"
    )

    def validate(self) -> None:
        if self.max_new_tokens < 1:
            raise UserError("max_new_tokens must be at least 1")
        if self.samples < 1:
            raise UserError("samples must be at least 1")
        if self.num_choices < 1:
            raise UserError("num_choices must be at least 1")
        if self.prompt_mode not in PROMPT_MODES:
            raise UserError(f"prompt_mode must be one of {', '.join(PROMPT_MODES)}; got {self.prompt_mode!r}")
        if not self.lengths or len(set(self.lengths)) != len(self.lengths):
            raise UserError("lengths must be a non-empty list without repeats")
        small = [n for n in self.lengths if n - self.max_new_tokens < 64]
        if small:
            raise UserError(
                f"length {small[0]} is too small: it must exceed max_new_tokens ({self.max_new_tokens}) by at least 64 tokens"
            )
        if not self.depths or len(set(self.depths)) != len(self.depths):
            raise UserError("depths must be a non-empty list without repeats")
        bad = [d for d in self.depths if not 0 <= d <= 100]
        if bad:
            raise UserError(f"depth {bad[0]:g} is outside [0, 100] (depths are percents)")
        if self.haystack not in ("auto", "noise", "essay", "needles") and not Path(self.haystack).expanduser().exists():
            raise UserError(f"haystack must be auto, noise, essay, needles or an existing text path; got {self.haystack!r}")
        Template.load(self.template)


@dataclass(frozen=True)
class Spec:
    haystack: str  # noise | essay | needles
    key_kind: str  # words | uuids
    value_kind: str  # numbers | uuids
    n_keys: int  # keys inserted (for needle haystacks: the asked one; the rest are filler)
    n_values: int  # values per key
    n_asked: int  # keys asked
    ability: str


SPECS: dict[str, Spec] = {
    "single_1": Spec("noise", "words", "numbers", 1, 1, 1, "retrieval"),
    "single_2": Spec("essay", "words", "numbers", 1, 1, 1, "retrieval"),
    "single_3": Spec("essay", "words", "uuids", 1, 1, 1, "retrieval"),
    "multikey_1": Spec("essay", "words", "numbers", 4, 1, 1, "retrieval"),
    "multikey_2": Spec("needles", "words", "numbers", 1, 1, 1, "retrieval"),
    "multikey_3": Spec("needles", "uuids", "uuids", 1, 1, 1, "retrieval"),
    "multivalue": Spec("essay", "words", "numbers", 1, 4, 1, "multi-value"),
    "multiquery": Spec("essay", "words", "numbers", 4, 1, 4, "multi-query"),
}

_DESCRIPTIONS = {
    "single_1": "noise haystack, word key, 7-digit number",
    "single_2": "essay haystack, word key, 7-digit number",
    "single_3": "essay haystack, word key, UUID value",
    "multikey_1": "essay haystack, 4 keys inserted (1 asked, 3 distractors)",
    "multikey_2": "haystack made of word-key/number needles, 1 asked",
    "multikey_3": "haystack made of UUID-key/UUID-value needles, 1 asked",
    "multivalue": "essay haystack, 1 key with 4 values, all asked",
    "multiquery": "essay haystack, 4 keys inserted, all 4 asked",
}


# --- random keys and values ---------------------------------------------------------------------


def _draw(rng: random.Random, kind: str, k: int, used: set[str], avoid: frozenset[str] = frozenset()) -> list[str]:
    """k new distinct keys or values of `kind`, none in `used` (updated with them) or in `avoid`.

    Drawn in bulk with rng.sample (distinct within a draw); a rare clash is dropped and redrawn."""
    if kind == "words":
        adjs, nouns = word_list("adjectives"), word_list("nouns")
        space = len(adjs) * len(nouns)
        if len(used) + len(avoid) + k > space // 2:
            raise UserError(f"too many word keys asked for ({k + len(used) + len(avoid)}): the word lists make {space}")
    out: list[str] = []
    while len(out) < k:
        need = k - len(out)
        n = need + need // 16 + 4
        if kind == "words":
            cands = [f"{adjs[i // len(nouns)]} {nouns[i % len(nouns)]}" for i in rng.sample(range(space), n)]
        elif kind == "numbers":  # 7 digits
            cands = [str(x) for x in rng.sample(range(1_000_000, 10_000_000), n)]
        elif kind == "uuids":
            cands = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(need)]
        else:
            raise ValueError(kind)
        for c in cands:
            if len(out) < k and c not in used and c not in avoid:
                used.add(c)
                out.append(c)
    return out


def _join_keys(keys: list[str]) -> str:
    """RULER's query phrase: 'a', 'a and b', 'a, b, c, and d'."""
    if len(keys) <= 2:
        return " and ".join(keys)
    return ", ".join(keys[:-1]) + ", and " + keys[-1]


def _fit(counts: np.ndarray, budget: int) -> np.ndarray:
    """Indices (ascending) of candidates whose token counts sum as close to `budget` as possible
    without exceeding it. With needles of 20-90 tokens a plain prefix (RULER) leaves up to a needle
    of slack, several percent of a 1k prompt. Two starts are grown by swaps: the longest prefix that
    fits, and one needle more made of the shortest candidates; the fuller result wins."""
    cum = np.cumsum(counts)
    n = int(np.searchsorted(cum, budget, side="right"))
    best = _grow(counts, budget, np.arange(n))
    shortest = np.argsort(counts, kind="stable")[: n + 1]
    # The second start costs many swaps; only a visible gap (long prompts close theirs) is worth it.
    gap = budget - int(counts[best].sum())
    if gap > 0.005 * budget and n + 1 <= len(counts) and int(counts[shortest].sum()) <= budget:
        more = _grow(counts, budget, shortest)
        if int(counts[more].sum()) > int(counts[best].sum()):
            best = more
    return np.sort(best)


def _grow(counts: np.ndarray, budget: int, chosen: np.ndarray) -> np.ndarray:
    """Swap chosen candidates for longer unused ones, largest gain first, while the sum stays <= budget."""
    chosen = chosen.copy()
    spares = np.setdiff1d(np.arange(len(counts)), chosen)
    gap = budget - int(counts[chosen].sum())
    while gap > 0 and len(spares) and len(chosen):
        order = np.argsort(counts[spares], kind="stable")
        spare_counts = counts[spares][order]
        c = counts[chosen]
        pos = np.searchsorted(spare_counts, c + gap, side="right") - 1
        gain = np.where(pos >= 0, spare_counts[np.maximum(pos, 0)] - c, 0)
        i = int(np.argmax(gain))
        if gain[i] <= 0:
            break
        j = int(order[pos[i]])
        chosen[i], spares[j] = spares[j], chosen[i]
        gap -= int(gain[i])
    return chosen


def _nearest_boundary(cum: np.ndarray, fraction: float) -> int:
    """Index b of the prefix sum nearest to `fraction` of the total (a boundary between units)."""
    target = fraction * float(cum[-1])
    b = int(np.searchsorted(cum, target, side="right")) - 1
    if b + 1 < len(cum) and cum[b + 1] - target < target - cum[b]:
        b += 1
    return b


# --- haystack sources ---------------------------------------------------------------------------

# Filler needles for multikey_2/3: at least this many per pool, like the essay's minimum pool.
NEEDLE_POOL_MIN_UNITS = 4096
_POOL_CHUNK = 1024
# Needles after the window that the fit may swap in (see _fit).
FIT_SPARES = 1024


@dataclass(frozen=True)
class _Source:
    """A haystack and, for needle-made haystacks, the (key, value) of each unit."""

    hay: Haystack
    pairs: list[tuple[str, str]] = field(default_factory=list)
    keys: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()


def _needle_pool(spec: Spec, template: Template, counter: TokenCounter, seed: int, min_tokens: int) -> _Source:
    """The filler needles of a needle-made haystack, generated and counted once per call.

    RULER draws fresh filler needles for every sample and re-tokenizes them all; here each sample
    takes a window of this shared pool (as with the essay), and only the asked needle is fresh,
    with a key and value that occur nowhere in the pool."""
    rng = random.Random(derive_seed(seed, "needle-pool", spec.key_kind, spec.value_kind))
    kind_name = template.value_kinds[spec.value_kind]
    used_keys: set[str] = set()
    used_values: set[str] = set()
    pairs: list[tuple[str, str]] = []
    units: list[str] = []
    counts: list[int] = []
    stripped: list[int] = []
    while len(units) < NEEDLE_POOL_MIN_UNITS or sum(counts) < min_tokens:
        ks = _draw(rng, spec.key_kind, _POOL_CHUNK, used_keys)
        vs = _draw(rng, spec.value_kind, _POOL_CHUNK, used_values)
        batch = [NEEDLE_LINE_SEP + template.render("needle", value_kind=kind_name, key=k, value=v) for k, v in zip(ks, vs)]
        c, s = count_units(batch, counter)
        pairs += zip(ks, vs)
        units += batch
        counts += c
        stripped += s
    hay = Haystack("needles", units, counts, stripped)
    return _Source(hay, pairs, frozenset(used_keys), frozenset(used_values))


# --- generation ---------------------------------------------------------------------------------


def _frames(mode: str, counter: TokenCounter) -> list[tuple[int, bool]]:
    """The ways a probe may be sent, each as (tokens outside the text, answer prefix on its own line).

    completions: the prompt text with the tokenizer's special tokens. chat: the chat template's
    tokens (counted once, from renderings around placeholders) for prefill=user (prefix appended to
    the user turn) and prefill=assistant (prefix opening the assistant turn); prefill=none sends
    less than prefill=user."""
    if mode == "completions":
        return [(special_tokens_added(counter), True)]
    render = chat_renderer(counter)
    user, prefix = "\x02LBS-USER\x03", "\x02LBS-PREFIX\x03"
    as_user = render([{"role": "user", "content": user}], False)
    as_assistant = render([{"role": "user", "content": user}, {"role": "assistant", "content": prefix}], True)
    if as_user.count(user) != 1 or as_assistant.count(user) != 1 or as_assistant.count(prefix) != 1:
        raise UserError(f"the chat template of {counter.name!r} does not keep the message text as given")
    outside_user = as_user.split(user)
    outside_assistant = [piece for half in as_assistant.split(user) for piece in half.split(prefix)]
    counts = counter.count_batch([*outside_user, *outside_assistant])
    return [(sum(counts[:2]), True), (sum(counts[2:]), False)]


@dataclass
class _Columns:
    episodes: schemas.TableBuilder = field(default_factory=lambda: schemas.TableBuilder(schemas.EPISODES))
    probes: schemas.TableBuilder = field(default_factory=lambda: schemas.TableBuilder(schemas.PROBES))
    text_chars: int = 0

    def tables(self) -> tuple[pa.Table, pa.Table]:
        return self.episodes.table(), self.probes.table()


@dataclass
class _Context:
    """What every sample of one generate() call shares."""

    counter: TokenCounter
    template: Template
    params: NeedleParams
    parts: dict[str, tuple[str, str, int, int]]  # value kind -> context before/after haystack, their counts
    frames: list[tuple[int, bool]]  # per way of sending: tokens around the text, answer prefix on its own line?


class NeedleFamily(TaskFamily):
    name = "needle"
    version = "2"  # 2: the prompt's newline before the answer prefix, special and chat-template tokens count
    description = "RULER needle-in-a-haystack: recall the value(s) of key(s) hidden in a long text"
    variants = _DESCRIPTIONS
    Params = NeedleParams

    def estimate(self, params: NeedleParams, variants: list[str]) -> SizeEstimate:
        """Each sample is as long as its length. Pieces stream: memory holds one (~2^24 tokens), the
        haystack pool (1.25x the longest length) and the episode being built."""
        per_length = len(variants) * len(params.depths) * params.samples
        return SizeEstimate(tokens=per_length * sum(params.lengths), items=per_length * len(params.lengths),
                            held_tokens=PIECE_TOKENS + 9 * max(params.lengths) // 4)

    def generate(self, variants: list[str], params: NeedleParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        pieces = list(self.generate_batches(variants, params, seed, tokenizer))
        return pa.concat_tables([e for e, _ in pieces]).combine_chunks(), pa.concat_tables([p for _, p in pieces]).combine_chunks()

    def generate_batches(
        self, variants: list[str], params: NeedleParams, seed: int, tokenizer: Any
    ) -> Iterator[tuple[pa.Table, pa.Table]]:
        chosen = self.check_variants(variants)
        params.validate()
        counter: TokenCounter = tokenizer or load_tokenizer(None)
        template = Template.load(params.template)
        most_gold = max(SPECS[v].n_values * SPECS[v].n_asked for v in chosen)
        if params.num_choices < most_gold:
            raise UserError(f"num_choices must be at least {most_gold} (the number of gold values asked)")
        if params.haystack == "needles" and any(SPECS[v].haystack != "needles" for v in chosen):
            raise UserError("haystack=needles applies only to multikey_2 and multikey_3 (which always use it)")

        parts = {}
        for kind in sorted({SPECS[v].value_kind for v in chosen}):
            before, after = template.context_parts(template.value_kinds[kind])
            cb, ca = counter.count_batch([before, after])
            parts[kind] = (before, after, cb, ca)
        ctx = _Context(counter, template, params, parts, _frames(params.prompt_mode, counter))

        # Each haystack source is built and counted once per call, then shared by all samples; pools
        # hold 1.25x the longest length so one sample's window never wraps onto itself.
        sources: dict[tuple, _Source] = {}
        min_tokens = int(1.25 * max(params.lengths))
        cols, yielded = _Columns(), False
        for variant in chosen:
            spec = SPECS[variant]
            name = self._source(spec, params)
            key = (name, spec.key_kind, spec.value_kind) if name == "needles" else (name,)
            if key not in sources:
                if name == "needles":
                    sources[key] = _needle_pool(spec, template, counter, seed, min_tokens)
                else:
                    sources[key] = _Source(load_haystack(name, counter, seed, min_tokens))
            for length in params.lengths:
                for depth in map(float, params.depths):
                    for i in range(params.samples):
                        rng = random.Random(derive_seed(seed, variant, length, f"{depth:g}", i))
                        eid = f"needle/{variant}/{length}/{depth:g}/{i}"
                        self._sample(ctx, cols, variant, spec, sources[key], rng, eid, length, depth)
                        if cols.text_chars >= io.EPISODE_ROW_GROUP_BYTES:  # a piece per parquet row group
                            yield cols.tables()
                            cols, yielded = _Columns(), True
        if cols.probes.columns["probe_id"] or not yielded:
            yield cols.tables()

    @staticmethod
    def _source(spec: Spec, params: NeedleParams) -> str:
        if spec.haystack == "needles" or params.haystack == "auto":
            return spec.haystack
        return params.haystack

    def _sample(
        self,
        ctx: _Context,
        cols: _Columns,
        variant: str,
        spec: Spec,
        src: _Source,
        rng: random.Random,
        eid: str,
        length: int,
        depth: float,
    ) -> None:
        t, counter, p, hay = ctx.template, ctx.counter, ctx.params, src.hay
        kind_name = t.value_kinds[spec.value_kind]
        used_keys: set[str] = set()
        used_values: set[str] = set()
        keys = _draw(rng, spec.key_kind, spec.n_keys, used_keys, src.keys)
        values = _draw(rng, spec.value_kind, spec.n_keys * spec.n_values, used_values, src.values)
        # needles[0] belongs to the first asked key: it goes at the requested depth.
        needles = [(keys[k], values[k * spec.n_values + j]) for k in range(spec.n_keys) for j in range(spec.n_values)]
        asked = keys[: spec.n_asked]
        gold = [v for k, v in needles if k in asked]
        query = _join_keys(asked)
        question = t.render("question", value_kind=kind_name, query=query)
        answer_prefix = t.render("answer_prefix", value_kind=kind_name, query=query)
        sep = NEEDLE_LINE_SEP if src.pairs else NEEDLE_SEP
        needle_texts = [sep + t.render("needle", value_kind=kind_name, key=k, value=v) for k, v in needles]

        # Count the per-sample pieces in one batch; the haystack's units were counted with the corpus:
        # the question, the asked needle without its separator (at depth 0 it opens the haystack), the
        # answer prefix on its own line (and alone, for a chat prefill), the needles.
        prefixes = [PREFIX_SEP + answer_prefix] + ([answer_prefix] if len(ctx.frames) > 1 else [])
        counts = counter.count_batch([QUESTION_SEP + question, needle_texts[0].lstrip(), *prefixes, *needle_texts])
        first_stripped, needle_counts = counts[1], counts[2 + len(prefixes) :]
        # All the prompt holds besides the context, in the longest way of sending: question, answer
        # prefix and the template's (or the tokenizer's special) tokens.
        frame_count = counts[0] + max(extra + counts[2 if own_line else 3] for extra, own_line in ctx.frames)
        before, after, before_count, after_count = ctx.parts[spec.value_kind]
        fixed = p.max_new_tokens + before_count + after_count + frame_count + sum(needle_counts)
        budget = length - fixed
        opens = depth > 0  # else the asked needle opens the text, and its stripped form counts
        if not opens:
            budget -= first_stripped - needle_counts[0]
        tries = 32 if src.pairs else 8
        win = hay.window(rng.randrange(len(hay)), budget, tries, opens) if budget >= MIN_HAYSTACK_TOKENS else None
        if win is None or win.n_units == 0:
            raise UserError(
                f"length {length} is too small for needle/{variant}: template, needles and answer budget "
                f"take {fixed} tokens; use at least {fixed + 4 * MIN_HAYSTACK_TOKENS}"
            )

        # The asked needle at the grid depth; the others at RULER's random depths (distinct).
        requested = [depth] + [float(d) for d in rng.sample(DEPTHS, len(needles) - 1)]
        if src.pairs:
            # Needle-made haystack: refine the window with the pool's counts (swap in a few of the
            # following needles).
            rel = np.arange(win.start, win.start + win.n_units + FIT_SPARES) % len(hay)
            rel = rel[_fit(hay.counts[rel], budget - (int(hay.strip_delta[rel[0]]) if opens else 0))]
            units = [hay.units[j] for j in rel]
            cum = np.concatenate([[0], np.cumsum(hay.counts[rel])])
        else:
            units = hay.take(win.start, win.start + win.n_units)
            # Token prefix sums of the window, from the pool's (vectorised; nothing is re-tokenized).
            idx = np.arange(win.start, win.start + win.n_units + 1)
            cum = (idx // len(hay)) * hay.total + hay.cum[idx % len(hay)] - hay.pos(win.start)

        while True:
            # Needles go between units, at the boundary nearest to their depth, in depth order.
            bounds = [_nearest_boundary(cum, d / 100) for d in requested]
            order = sorted(range(len(needles)), key=lambda m: (bounds[m], requested[m], m))
            if bounds[order[0]] == 0:
                first_text, first_count = needle_texts[order[0]], needle_counts[order[0]]
            else:
                first_text, first_count = units[0], int(cum[1])
            # The text's first unit loses its leading separator: count that stripped form once.
            delta = counter.count(first_text.lstrip()) - first_count
            # Rarely (a needle of depth > 0 landing first) stripping costs a token more than the
            # window allowed for; then drop the last unit so the budget still holds.
            if int(cum[-1]) + delta <= budget + (0 if opens else first_stripped - needle_counts[0]) or len(units) <= 1:
                break
            units, cum = units[:-1], cum[:-1]
        hay_total = int(cum[-1])

        pieces: list[str] = []
        placed = []
        inserted, prev = 0, 0
        for m in order:
            b = bounds[m]
            pieces += units[prev:b]
            offset = before_count + int(cum[b]) + inserted + (delta if pieces else 0)
            pieces.append(needle_texts[m])
            inserted += needle_counts[m]
            prev = b
            key, value = needles[m]
            placed.append(
                {
                    "key": key,
                    "value": value,
                    "asked": key in asked,
                    "depth": round(100.0 * int(cum[b]) / hay_total, 3),
                    "requested_depth": requested[m],
                    "token_offset": offset,
                }
            )
        pieces += units[prev:]
        pieces[0] = pieces[0].lstrip()
        text = before + "".join(pieces) + after
        n_tokens = before_count + hay_total + inserted + delta + after_count
        prompt_tokens = n_tokens + frame_count

        # Candidate pool: gold, then distractor values (other needles', or the filler needles' in
        # the window), then fresh values of the same kind.
        n_decoys = p.num_choices - len(gold)
        decoys = [v for k, v in needles if k not in asked][:n_decoys]
        if src.pairs and len(decoys) < n_decoys:
            picks = rng.sample(range(len(rel)), min(len(rel), n_decoys - len(decoys)))
            decoys += [src.pairs[rel[j]][1] for j in picks]
        decoys += _draw(rng, spec.value_kind, n_decoys - len(decoys), used_values, src.values)
        choices = gold + decoys
        rng.shuffle(choices)

        episode_meta = {
            "haystack": hay.name,
            "haystack_tokens": hay_total,
            "haystack_units": len(units),
            "start_unit": win.start % len(hay),
            "needles": placed,
        }
        probe_meta = {
            "prompt_tokens": prompt_tokens,
            "keys": asked,
            "depth_actual": placed[order.index(0)]["depth"],
            "tokenizer": counter.name,
        }

        cols.episodes.add(
            episode_id=eid, family=self.name, variant=variant, length=length, n_tokens=n_tokens,
            text=text, sessions=None, meta=json.dumps(episode_meta),
        )
        cols.text_chars += len(text)
        cols.probes.add(
            probe_id=eid + "/q", episode_id=eid, family=self.name, variant=variant, ability=spec.ability,
            length=length, depth=depth, bin=None, question=question, answer_prefix=answer_prefix, gold=gold,
            choices=choices, metric=METRIC, chance=metrics.chance_of(METRIC, choices, gold),
            max_new_tokens=p.max_new_tokens, meta=json.dumps(probe_meta),
        )

    def score(self, output: str, row: dict, choice_logprobs: dict[str, float] | None = None) -> dict[str, float]:
        """RULER niah: string_match_all (primary, first), and string_match_part."""
        gold = row.get("gold") or []
        return {
            "string_match_all": metrics.string_match_all(output, gold),
            "string_match_part": metrics.string_match_part(output, gold),
        }

    def score_columns(self, frame: pl.DataFrame) -> dict[str, pl.Series]:
        match_all, match_part = metrics.string_match_columns(frame.get_column("output"), frame.get_column("gold"))
        return {"string_match_all": match_all, "string_match_part": match_part}


FAMILY = NeedleFamily()
