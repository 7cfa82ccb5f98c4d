"""Shared context, the synthetic variants: string retrieval (kv, prefix_suffix, vt) and global
information (math_find, cwe, fwe, many_shot), generated from a seed (tasks/shared_context.py).

SCBench ships these as fixed files and no generation code; the designs follow their lineage
(InfiniteBench's Retr.KV and Math.Find, RULER's VT, CWE and FWE), made ours and sized by tokens.
Every context holds several items, and each turn asks about a different one, so a later turn needs
the context again and never only the answers of the turns before it:
  kv             a JSON object of uuid -> uuid pairs; a turn asks the value of one key (keys spread over
                 the object's depth). Scored as SCBench: the value as a case-sensitive substring.
  prefix_suffix  random strings, one per line; a turn asks the one string with a given 4-character
                 prefix and suffix. Each target has two decoys sharing its prefix and two sharing its
                 suffix, so neither end alone finds it.
  vt             RULER's variable tracking: one chain of assignments per turn (VAR A = 12345, VAR B =
                 VAR A, ... five names) on filler lines; a turn asks every variable holding one chain's
                 value. Recall of the names (SCBench). 40 answer tokens, not SCBench's 30: five names and
                 their separators take ~20 tokens of a byte-level BPE before any lead-in words.
  math_find      a list of distinct non-negative integers of odd length; a turn asks the largest,
                 smallest, median, or the 2nd-10th largest or smallest (InfiniteBench asks the first three).
                 Distinct values make every rank one number; non-negative ones suit SCBench's scorer,
                 which drops the sign.
  cwe            RULER's common words: one numbered list per turn, in which 10 words occur far more
                 often than any other; a turn asks one list's 10 most common words. RULER's word pool
                 is thousands of words and ours (data_builders/words) ~600, so at long lengths every
                 word repeats: the 10 common words fill ~30% of a list, c times each, and no other
                 word occurs more than c/2 times (RULER: 30 against 3, or 2 against 1 when short).
  fwe            RULER's frequent words: a coded text of made-up words with counts C/rank^2 (RULER's
                 Zipf alpha 2, the top rank being a run of dots to ignore, as RULER's); turn g asks the
                 three most frequent words after the 3g most frequent ones. Counts of the asked ranks
                 are raised where rounding made ties (short texts only), so each group is one set.
  many_shot      labelled examples "Input: a sentence about a thing / Label: a made-up word"; the
                 label is the kind of thing (mammal, tool, ...), five kinds per context under label
                 names drawn per context, so only the examples tell the mapping. A turn classifies a
                 sentence about a thing held out of the examples (the rule must be learnt, not looked up).

Sizing: units (JSON pairs, strings, lines, words) are counted once each with their separator, in
batches, and added up (never re-tokenizing candidate texts); the finished context is then counted
once, and rebuilt from the same rng state with a corrected target only if the sum missed (merges at
unit seams in some tokenizers). The context ends at most one unit below the budget (a unit that
does not fit is skipped for smaller ones where units differ in size); kv's unit, a pair of UUIDs, is
~50-70 tokens, 2.5-3.5% of a 2k budget.

`choices` (the random baseline's pool) and so the `chance` column: kv, prefix_suffix: every value or
string of the context (1/n). vt: every variable name of every chain, one name scoring 1/5 of its
chain. math_find: the values of all the ranks that can be asked (21 of the list's order statistics,
so chance 1/21; a pick from the whole list would be 1/n). cwe: the words of the asked list (a common
word scores 1/10). fwe: the coded words of the text (one of the three asked scores 1/3). many_shot:
the five labels (1/5).
"""

from __future__ import annotations

import itertools
import math
import random
import string
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from data_builders.haystack import word_list
from longbench_suite import io
from longbench_suite.errors import UserError
from longbench_suite.tokens import TokenCounter

from .shared_context import Budget, Generator, Query, Shared

TEMPLATES = Path(__file__).parent / "templates" / "shared_context.toml"
HEAD_SEP = "\n\n"  # between a context's instruction and its items
LINE = "\n"  # between the items' lines

# Answer budgets (SCBench's, eval_utils.py:41-58, except where the docstring says).
KV_TOKENS = PREFIX_SUFFIX_TOKENS = 150  # SCBench's (a chatty model restates the key first)
VT_TOKENS = 40
MATH_TOKENS = 8
CWE_TOKENS = 120  # RULER's
FWE_TOKENS = 50  # RULER's
MANY_SHOT_TOKENS = 10

AFFIX = 4  # characters of a prefix_suffix target's asked prefix and suffix
DECOYS = 2  # per target: strings sharing its prefix, and as many sharing its suffix
VT_NAMES = 5  # variables per chain (RULER's 4 hops)
CWE_COMMON = 10  # common words per list (RULER's)
CWE_MIN_LINES = 40  # the smallest list worth asking about
FWE_ALPHA = 2.0  # RULER's Zipf exponent
FWE_GROUP = 3  # words asked per turn (RULER asks the top three)
FWE_WORD = 5  # letters of a coded word
MANY_SHOT_KINDS = 5  # label set size


# --- content and sizing -------------------------------------------------------------------------


@cache
def _templates() -> dict[str, Any]:
    return io.read_toml(TEMPLATES, "shared-context templates")


def _table(name: str) -> dict[str, Any]:
    data = _templates()
    if name not in data:
        raise UserError(f"{TEMPLATES} has no [{name}] table")
    return data[name]


def _sized(build: Callable[[int], tuple[Shared, int]], rng: random.Random, budget: Budget) -> Shared:
    """`build(target)` -> (shared, its estimated tokens). The whole context is counted once; if the
    estimate missed so that it is over the budget (or well under), the same draw (the rng state is
    reset) is rebuilt with a corrected target."""
    state, target, goal = rng.getstate(), budget.tokens, budget.tokens
    best: tuple[int, Shared, Any] | None = None
    for _ in range(4):
        rng.setstate(state)
        try:
            made, estimate = build(target)
        except UserError:
            if best is None:
                raise
            break  # a smaller target than one that fitted: keep that one
        n = budget.counter.count(made.context)
        ratio = estimate / max(n, 1)  # estimated tokens per real token
        if n <= goal and (best is None or n > best[0]):
            best = (n, made, rng.getstate())
        # Done when what is missing is the unit granularity (target - estimate), give or take 0.5%.
        if n <= goal and goal - n <= (target - estimate) / ratio + goal // 200:
            break
        if n > goal:  # below this estimate: at least one unit fewer
            target = estimate - math.ceil((n - goal) * ratio) - 1
        else:
            target = max(target + 1, int(estimate + (goal - n) * ratio))
    if best is None:
        raise UserError(f"cannot fit a context in {budget.tokens} tokens: the length is too small")
    rng.setstate(best[2])
    return best[1]


def _fill(draw: Callable[[], str], counter: TokenCounter, room: int, tail: str = LINE) -> tuple[list[str], int]:
    """Units from `draw()` until `room` tokens are used, each counted with `tail` (its separator) in
    batches sized to what is left. A unit that does not fit is skipped and the rest of its batch
    tried (the units are drawn alike, so skipping biases nothing); the gap is under one unit."""
    units: list[str] = []
    used, seen_tokens, seen_units = 0, 0, 0
    known: dict[str, int] = {}  # units that repeat (filler lines) are counted once
    while room - used > 0:
        # A first small batch measures the units; then a batch for what is left, and 5% more.
        size = int((room - used) * seen_units / max(seen_tokens, 1) * 1.05) + 8 if seen_units else 16
        batch = [draw() for _ in range(min(size, 65536))]
        new = list(dict.fromkeys(u for u in batch if u not in known))
        known.update(zip(new, counter.count_batch([u + tail for u in new])))
        full = False
        for u in batch:
            c = known[u]
            seen_tokens, seen_units = seen_tokens + c, seen_units + 1
            if used + c <= room:
                units.append(u)
                used += c
            else:
                full = True
        if full:
            break
    return units, used


def _count(counter: TokenCounter, *texts: str) -> int:
    return sum(counter.count_batch(list(texts)))


def _spread(rng: random.Random, n: int, k: int) -> list[int]:
    """k distinct indices of range(n), one in each of k equal segments (spread over the depth), in a
    random order."""
    k = min(k, n)
    picks = [rng.randrange(n * j // k, n * (j + 1) // k) for j in range(k)]
    rng.shuffle(picks)
    return picks


def _depth(i: int, n: int) -> int:
    """Percent of the items before item i."""
    return round(100 * i / max(1, n - 1))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --- string retrieval ---------------------------------------------------------------------------


def kv(rng: random.Random, budget: Budget, turns: int) -> Shared:
    t, counter = _table("kv"), budget.counter

    def build(target: int) -> tuple[Shared, int]:
        head = t["instruction"] + HEAD_SEP + "{"
        fixed = _count(counter, head + LINE, "}")

        def pair() -> str:
            return f'  "{_uuid(rng)}": "{_uuid(rng)}",'

        lines, used = _fill(pair, counter, target - fixed)
        if not lines:
            raise UserError(f"length too small for kv: no pair fits in {budget.tokens} tokens")
        lines[-1] = lines[-1][:-1]  # no comma after the last pair
        pairs = [(ln.split('"')[1], ln.split('"')[3]) for ln in lines]
        values = [v for _, v in pairs]
        queries = [
            Query(question=t["question"].format(key=pairs[i][0]), gold=[pairs[i][1]], metric="scbench_substring",
                  reference=pairs[i][1], max_new_tokens=KV_TOKENS, choices=values,
                  meta={"key": pairs[i][0], "depth": _depth(i, len(pairs))})
            for i in _spread(rng, len(pairs), turns)
        ]
        context = LINE.join([head, *lines, "}"])
        return Shared(context, queries, meta={"pairs": len(pairs)}), fixed + used

    return _sized(build, rng, budget)


_ALNUM = string.ascii_letters + string.digits


def _random_string(rng: random.Random, n: int | None = None) -> str:
    return "".join(rng.choices(_ALNUM, k=n or rng.randint(20, 40)))


def prefix_suffix(rng: random.Random, budget: Budget, turns: int) -> Shared:
    t, counter = _table("prefix_suffix"), budget.counter

    def build(target: int) -> tuple[Shared, int]:
        head = t["instruction"] + HEAD_SEP
        fixed = _count(counter, head)
        seen: set[str] = set()  # membership only: every string of the context differs
        ends: list[tuple[str, str]] = []  # the targets' (prefix, suffix)

        def clashes(s: str) -> bool:
            return s in seen or any(s.startswith(p) and s.endswith(q) for p, q in ends)

        def fresh(make: Callable[[], str]) -> str:
            s = make()
            while clashes(s):
                s = make()
            seen.add(s)
            return s

        targets: list[str] = []
        decoys: list[str] = []
        for _ in range(turns):
            s = fresh(lambda: _random_string(rng))
            while any(o.startswith(s[:AFFIX]) and o.endswith(s[-AFFIX:]) for o in targets):
                s = fresh(lambda: _random_string(rng))
            targets.append(s)
            ends.append((s[:AFFIX], s[-AFFIX:]))
        for p, q in ends:  # each clash test covers every target's ends, this one's included
            for _ in range(DECOYS):
                decoys.append(fresh(lambda: p + _random_string(rng)))
                decoys.append(fresh(lambda: _random_string(rng) + q))
        cost = counter.count_batch([s + LINE for s in targets + decoys])
        # Keep at most half the room for targets and decoys: drop targets (and their decoys) beyond it.
        k = len(targets)
        while k > 1 and fixed + sum(cost[:k]) + sum(cost[turns: turns + 2 * DECOYS * k]) > target // 2:
            k -= 1
        targets, ends, decoys = targets[:k], ends[:k], decoys[: 2 * DECOYS * k]
        special = fixed + sum(cost[:k]) + sum(cost[turns: turns + 2 * DECOYS * k])
        if special > target:
            raise UserError(f"length too small for prefix_suffix: one target and its decoys exceed {budget.tokens} tokens")
        fillers, used = _fill(lambda: fresh(lambda: _random_string(rng)), counter, target - special)
        pool = fillers + decoys
        rng.shuffle(pool)
        n = len(pool) + k
        slots = _spread(rng, n, k)  # slot of target j; the turns ask targets in order j = 0..k-1
        at = dict(zip(slots, range(k)))
        rest = iter(pool)
        strings = [targets[at[i]] if i in at else next(rest) for i in range(n)]
        assert all(sum(s.startswith(p) and s.endswith(q) for s in strings) == 1 for p, q in ends)
        queries = [
            Query(question=t["question"].format(prefix=p, suffix=q), gold=[s], metric="scbench_substring", reference=s,
                  max_new_tokens=PREFIX_SUFFIX_TOKENS, choices=strings,
                  meta={"prefix": p, "suffix": q, "depth": _depth(slot, n)})
            for s, (p, q), slot in zip(targets, ends, slots)
        ]
        return Shared(head + LINE.join(strings), queries, meta={"strings": n}), special + used

    return _sized(build, rng, budget)


def vt(rng: random.Random, budget: Budget, turns: int) -> Shared:
    t, counter = _table("vt"), budget.counter

    def build(target: int) -> tuple[Shared, int]:
        head = t["instruction"] + HEAD_SEP
        fixed = _count(counter, head)
        names: set[str] = set()
        values: set[int] = set()

        def name() -> str:
            n = "".join(rng.choices(string.ascii_uppercase, k=5))
            while n in names:
                n = "".join(rng.choices(string.ascii_uppercase, k=5))
            names.add(n)
            return n

        chains: list[tuple[str, list[str]]] = []
        for _ in range(turns):
            value = rng.randrange(10_000, 100_000)
            while value in values:
                value = rng.randrange(10_000, 100_000)
            values.add(value)
            chains.append((str(value), [name() for _ in range(VT_NAMES)]))
        statements = [
            [t["assign_value"].format(name=ns[0], value=v)]
            + [t["assign_copy"].format(name=b, source=a) for a, b in itertools.pairwise(ns)]
            for v, ns in chains
        ]
        cost = [sum(counter.count_batch([s + LINE for s in chain])) for chain in statements]
        k = len(chains)
        while k > 1 and fixed + sum(cost[:k]) > target // 2:
            k -= 1
        chains, statements = chains[:k], statements[:k]
        special = fixed + sum(cost[:k])
        if special > target:
            raise UserError(f"length too small for vt: one chain of assignments exceeds {budget.tokens} tokens")
        cycle = itertools.cycle(t["filler"])
        filler, used = _fill(lambda: next(cycle), counter, target - special)
        # Statements on random lines, each chain in its order, the chains interleaved at random.
        n = len(filler) + k * VT_NAMES
        slots = sorted(rng.sample(range(n), k * VT_NAMES))
        order = [c for c in range(k) for _ in range(VT_NAMES)]
        rng.shuffle(order)
        placed: dict[int, str] = {}
        depths: list[list[int]] = [[] for _ in range(k)]
        nexts = [iter(chain) for chain in statements]
        for slot, c in zip(slots, order):
            placed[slot] = next(nexts[c])
            depths[c].append(_depth(slot, n))
        rest = iter(filler)
        lines = [placed[i] if i in placed else next(rest) for i in range(n)]
        all_names = [nm for _, ns in chains for nm in ns]
        queries = [
            Query(question=t["question"].format(value=v), gold=list(ns), metric="scbench_recall", reference=", ".join(ns),
                  max_new_tokens=VT_TOKENS, choices=all_names, meta={"value": v, "depths": depths[c]})
            for c, (v, ns) in enumerate(chains)
        ]
        turn_order = list(range(k))
        rng.shuffle(turn_order)
        return Shared(head + LINE.join(lines), [queries[c] for c in turn_order], meta={"chains": k}), special + used

    return _sized(build, rng, budget)


# --- global information -------------------------------------------------------------------------


def _math_targets(t: dict[str, Any], n: int) -> list[tuple[str, int]]:
    """(phrase, index in the sorted list) of every askable rank: median first, then largest/smallest by
    rank, only ranks that stay distinct in a list of n (n odd)."""
    out = [(t["median"], n // 2)]
    for r, ordinal in enumerate(t["ordinals"], start=1):
        if r > n // 2:
            break
        out += [(ordinal + t["largest"], n - r), (ordinal + t["smallest"], r - 1)]
    return out


def math_find(rng: random.Random, budget: Budget, turns: int) -> Shared:
    t, counter = _table("math_find"), budget.counter

    def build(target: int) -> tuple[Shared, int]:
        head = t["instruction"] + HEAD_SEP
        fixed = _count(counter, head, "[]")
        seen: set[int] = set()

        def number() -> str:  # counted as it follows a comma; the first follows "[" (about as many tokens)
            v = rng.randrange(1_000_000)
            while v in seen:
                v = rng.randrange(1_000_000)
            seen.add(v)
            return f", {v}"

        units, used = _fill(number, counter, target - fixed, tail="")
        if len(units) % 2 == 0 and units:  # odd length: the median is one of the numbers
            used -= counter.count(units.pop())
        if not units:
            raise UserError(f"length too small for math_find: no number fits in {budget.tokens} tokens")
        items = [u[2:] for u in units]
        ordered = sorted(int(x) for x in items)
        targets = _math_targets(t, len(items))
        core, others = targets[:3], targets[3:]  # InfiniteBench's median, largest and smallest first
        picked = rng.sample(core, min(turns, len(core))) + rng.sample(others, max(0, min(turns, len(targets)) - len(core)))
        rng.shuffle(picked)
        choices = [str(ordered[i]) for _, i in targets]
        queries = [
            Query(question=t["question"].format(target=phrase), gold=[str(ordered[i])], metric="scbench_math",
                  reference=str(ordered[i]), max_new_tokens=MATH_TOKENS, choices=choices, meta={"target": phrase})
            for phrase, i in picked
        ]
        context = head + "[" + ", ".join(items) + "]"
        return Shared(context, queries, meta={"numbers": len(items)}), fixed + used

    return _sized(build, rng, budget)


@cache
def _cwe_vocabulary() -> tuple[str, ...]:
    """The packaged nouns and adjectives, less any word inside another (RULER's metric is a substring
    test: "art" would score on "party")."""
    words = list(dict.fromkeys(word_list("nouns") + word_list("adjectives")))
    return tuple(w for w in words if not any(w != o and w in o for o in words))


def _number_costs(counter: TokenCounter, upto: int, costs: list[int]) -> None:
    """Extend costs so that costs[i] = tokens of the line number "i." for every i <= upto (costs[0] = 0)."""
    if not costs:
        costs.append(0)
    if len(costs) <= upto:
        costs.extend(counter.count_batch([f"{i}." for i in range(len(costs), upto + 1)]))


def _cwe_list(rng: random.Random, common: list[str], pool: list[str], room: int, word_cost: dict[str, int],
              numbers: list[int], counter: TokenCounter) -> tuple[list[str], int, int, int]:  # fmt: skip
    """One list's words (in order) within `room` tokens: every common word c times, then uncommon
    words one occurrence at a time (round-robin, so their counts differ by at most one) until the room
    is used. Returns (words, tokens, c, the most occurrences of an uncommon word)."""
    word = sum(word_cost[w] for w in pool) / len(pool)
    lines = max(1, int(room / (word + 2)))
    _number_costs(counter, 2 * lines + 64, numbers)
    lines = max(1, int(room / (word + sum(numbers[1: lines + 1]) / lines)))  # with the numbers' real cost
    c = max(2, round(0.03 * lines))  # the common words: about 30% of the list
    words = [w for w in common for _ in range(c)]
    used = sum(numbers[1: len(words) + 1]) + c * sum(word_cost[w] for w in common)
    order = pool[:]
    rng.shuffle(order)
    most = 0
    for rnd in range(1, c // 2 + 1):  # an uncommon word stays at most half as frequent as a common one
        for w in order:
            if len(words) + 1 >= len(numbers):
                _number_costs(counter, 2 * len(numbers), numbers)
            extra = numbers[len(words) + 1] + word_cost[w]
            if used + extra > room:
                break
            words.append(w)
            used += extra
            most = rnd
        else:
            continue
        break
    rng.shuffle(words)
    return words, used, c, most


def cwe(rng: random.Random, budget: Budget, turns: int) -> Shared:
    t, counter = _table("cwe"), budget.counter
    vocab = list(_cwe_vocabulary())
    word_cost = dict(zip(vocab, counter.count_batch([f" {w}{LINE}" for w in vocab])))
    numbers: list[int] = []

    def build(target: int) -> tuple[Shared, int]:
        head = t["instruction"] + HEAD_SEP
        fixed = _count(counter, head)
        words = vocab[:]
        rng.shuffle(words)
        avg_line = sum(word_cost.values()) / len(word_cost) + 2
        k = min(turns, len(t["labels"]), len(words) // (2 * CWE_COMMON))
        while k > 1 and (target - fixed) / k < CWE_MIN_LINES * avg_line:
            k -= 1
        labels = t["labels"][:k]
        commons = [words[i * CWE_COMMON: (i + 1) * CWE_COMMON] for i in range(k)]
        pool = words[k * CWE_COMMON:]  # every list's uncommon words come from here
        sections, queries, used = [], [], fixed
        for j, (label, common) in enumerate(zip(labels, commons)):
            heading = t["heading"].format(label=label)
            h = _count(counter, (LINE if j else "") + heading + LINE)  # after the first, a blank line before it
            room = (target - used) // (k - j) - h  # what an earlier list left over goes to the later ones
            listed, n_tokens, c, most = _cwe_list(rng, common, pool, room, word_cost, numbers, counter)
            if n_tokens > room:  # the common words alone do not fit
                raise UserError(f"length too small for cwe: a list of {room} tokens cannot hold {CWE_COMMON} common words")
            used += h + n_tokens
            sections.append(heading + LINE + LINE.join(f"{i}. {w}" for i, w in enumerate(listed, start=1)))
            present = list(dict.fromkeys(listed))
            queries.append(Query(
                question=t["question"].format(k=CWE_COMMON, label=label), gold=list(common), metric="string_match_all",
                reference=", ".join(common), max_new_tokens=CWE_TOKENS, choices=present,
                meta={"list": label, "common_count": c, "max_other_count": most, "words": len(present)}))
        rng.shuffle(queries)
        return Shared(head + (LINE + LINE).join(sections), queries, meta={"lists": k}), used

    return _sized(build, rng, budget)


def _zipf_counts(scale: int, ranks: int, strict: int) -> list[int]:
    """Occurrences of ranks 1..ranks: scale/rank^2, rounded down, then raised where needed so that the
    first `strict` ranks strictly decrease (ties of the rounded counts would make an asked group of
    words two sets; this changes the small counts of short texts only) and the last of them occurs."""
    counts = [int(scale / r**FWE_ALPHA) for r in range(1, ranks + 1)]
    counts[strict - 1] = max(counts[strict - 1], 1)
    for r in range(strict - 2, -1, -1):
        counts[r] = max(counts[r], counts[r + 1] + 1)
    return counts


def fwe(rng: random.Random, budget: Budget, turns: int) -> Shared:
    t, counter = _table("fwe"), budget.counter

    def build(target: int) -> tuple[Shared, int]:
        head = t["instruction"] + HEAD_SEP
        fixed = _count(counter, head)
        room = target - fixed
        # Rank 1 is the dots; ranks 2.. are coded words. A rank keeps scale/r^2 >= 1 occurrences while
        # r <= sqrt(scale), and the scale is at most the room (a dot run costs a token or more).
        ranks = max(math.isqrt(max(1, room)) + 1, 1 + FWE_GROUP * turns + 1)
        seen: set[str] = set()
        coded: list[str] = []
        while len(coded) < ranks - 1:
            w = "".join(rng.choices(string.ascii_lowercase, k=FWE_WORD))
            if w not in seen:
                seen.add(w)
                coded.append(w)
        vocab = [t["dots"], *coded]
        cost = counter.count_batch([" " + w for w in vocab])

        def tokens(scale: int, groups: int) -> int:
            return sum(n * c for n, c in zip(_zipf_counts(scale, ranks, 1 + FWE_GROUP * groups + 1), cost))

        # Groups of three coded words (ranks 2-4, 5-7, ...): as many as asked, or as the room holds.
        groups = turns
        while groups > 0 and tokens(1, groups) > room:
            groups -= 1
        if groups == 0:
            raise UserError(f"length too small for fwe: {budget.tokens} tokens")
        lo, hi = 1, max(1, room)  # the largest scale whose text fits (tokens grow with the scale)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if tokens(mid, groups) <= room else (lo, mid - 1)
        counts = [n for n in _zipf_counts(lo, ranks, 1 + FWE_GROUP * groups + 1) if n > 0]
        words = vocab[: len(counts)]
        text = [w for w, n in zip(words, counts) for _ in range(n)]
        rng.shuffle(text)
        asked = list(range(groups))  # the most frequent ranks, in a random order
        rng.shuffle(asked)
        queries = []
        for g in asked:
            ranks_asked = range(1 + g * FWE_GROUP, 1 + (g + 1) * FWE_GROUP)  # counts[0] is the dots
            gold = [words[r] for r in ranks_asked]
            question = t["question_top"] if g == 0 else t["question_after"].format(skip=g * FWE_GROUP)
            queries.append(Query(
                question=question, gold=gold, metric="string_match_all", reference=", ".join(gold),
                max_new_tokens=FWE_TOKENS, choices=words[1:],
                meta={"ranks": list(ranks_asked), "counts": [counts[r] for r in ranks_asked]}))
        context = head + " ".join(text)
        return Shared(context, queries, meta={"coded_words": len(words) - 1, "dots": counts[0]}), fixed + tokens(lo, groups)

    return _sized(build, rng, budget)


def many_shot(rng: random.Random, budget: Budget, turns: int) -> Shared:
    t, counter = _table("many_shot"), budget.counter
    sep = LINE + LINE  # a blank line between examples

    def sentence(noun: str) -> str:
        return rng.choice(t["sentences"]).format(adjective=rng.choice(t["adjectives"]), noun=noun,
                                                 place=rng.choice(t["places"]))

    def build(target: int) -> tuple[Shared, int]:
        head = t["instruction"] + HEAD_SEP
        fixed = _count(counter, head)
        kinds = rng.sample(list(t["kinds"]), MANY_SHOT_KINDS)
        labels = dict(zip(kinds, rng.sample(t["labels"], MANY_SHOT_KINDS)))
        held_per_kind = -(-turns // MANY_SHOT_KINDS)
        shown: dict[str, list[str]] = {}
        held: dict[str, list[str]] = {}
        for kind in kinds:
            nouns = list(t["kinds"][kind])
            rng.shuffle(nouns)
            cut = min(held_per_kind, len(nouns) - 4)  # keep at least four nouns of a kind to learn from
            held[kind], shown[kind] = nouns[:cut], nouns[cut:]
        bag: list[str] = []

        def example() -> str:  # kinds come in shuffled rounds: balanced, and every kind early on
            if not bag:
                bag.extend(rng.sample(kinds, len(kinds)))
            kind = bag.pop()
            return t["example"].format(input=sentence(rng.choice(shown[kind])), label=labels[kind])

        examples, used = _fill(example, counter, target - fixed, tail=sep)
        if len({e.rsplit(" ", 1)[-1] for e in examples}) < MANY_SHOT_KINDS:
            raise UserError(f"length too small for many_shot: {budget.tokens} tokens cannot show every label")
        asked = [(kind, held[kind][r]) for r in range(held_per_kind)
                 for kind in rng.sample(kinds, len(kinds)) if r < len(held[kind])]
        queries = [
            Query(question=t["question"].format(input=sentence(noun)), gold=[labels[kind]], metric="scbench_contains",
                  reference=labels[kind], max_new_tokens=MANY_SHOT_TOKENS, choices=list(labels.values()),
                  meta={"kind": kind, "noun": noun})
            for kind, noun in asked[:turns]
        ]
        return Shared(head + sep.join(examples), queries, meta={"labels": labels, "examples": len(examples)}), fixed + used

    return _sized(build, rng, budget)


GENERATORS: dict[str, Generator] = {
    "kv": kv,
    "prefix_suffix": prefix_suffix,
    "vt": vt,
    "math_find": math_find,
    "cwe": cwe,
    "fwe": fwe,
    "many_shot": many_shot,
}
