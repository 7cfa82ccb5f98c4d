"""M4LE: short-task instances packed into long contexts, asked in five abilities (Kwan et al., ACL 2024).

Variants are task types (classification, qa, summarization, retrieval, translation); `ability` is
M4LE's (explicit-single, semantic-single, explicit-multiple, semantic-multiple, global); `length` is the
bucket (1k ... 128k, in M4LE's units: English words and Chinese characters, or tokens of --tokenizer
with -p unit=tokens). One episode per item: the packed context; one probe: the question. `lbs
generate m4le` packs the project's offline news corpus (data_builders/news_corpus.py); `lbs build
m4le` packs any source through a column mapping; `lbs import m4le` reads M4LE's released items. The
converter is data_builders/m4le.py; it does not care whose rows it packs.

Scoring is M4LE's evaluation.py, task by task (data_builders/m4le_tasks.toml): the response is
preprocessed and cut at the task's end tokens (e.g. the first newline), then scored by ROUGE-L recall
(the `rouge` package for English, `rouge-chinese` over jieba words for Chinese), "acc" (a reference
contained in the response, case ignored), exact match, cls_f1 (set F1 of comma-separated lists) or
BLEU. BLEU is a corpus metric: each probe keeps its statistics as score rows, and an aggregate row is
the corpus BLEU of its group (per length bucket, as M4LE reports it). A converted item is scored as
the official task its task type and ability follow (the table's [conversions]). M4LE reports scores
normalised by a reference model's shortest bucket; that is a report-time option, not stored.

Prompt order is M4LE's: the task description first, then the passages, then the question (an imported
item in context is exactly M4LE's `instruction + "\n" + input`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from data_builders import m4le as conv
from data_builders.haystack import derive_seed
from longbench_suite import metrics, schemas
from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition, Episode, Probe
from longbench_suite.task import PROBE_TOKENS, TOKENS_PER_WORD, SizeEstimate, TaskFamily, param

NAME = "m4le"
INSTRUCTION = ("Below are {n} passages, each marked by {how}. Read them carefully: a question about them "
               "follows.")
HOW = {"id": "a six-character id in square brackets", "position": "its position (Article 1, Article 2, ...)"}
# Answer budgets per (task, ability) unless -p max_new_tokens is set.
BUDGET = {"summarization": 128, "translation": 512, "qa": 32, "retrieval": 16, "classification": 16}
BUDGET_BY_ABILITY = {"explicit-multiple": 96, "semantic-multiple": 8, "global": 384}
QUESTION_SLACK = 60  # units kept for the question while packing (it depends on the drawn instances)


@dataclass
class M4LEParams:
    abilities: list[str] = param([], "abilities (default: every ability each task type supports)")
    buckets: list[int] = param([], "length buckets, e.g. 1k,2k,4k (1k = 1,000 words or 1,024 tokens); an item lies in (previous M4LE bucket, bucket]. Default: 1k 2k 4k 8k 16k 32k 64k 128k, those the source can fill", size=True)
    samples: int = param(5, "items per task type x ability x bucket")
    marker: str = param("id", "how instances are marked: id (random 6-hex-digit) or position (Article i)")
    unit: str = param("words", "unit of lengths: words (M4LE) or tokens of --tokenizer")
    articles: int = param(600, "lbs generate: size of the offline news corpus packed")
    target_language: str = param("English", "translation: the language asked for")
    max_new_tokens: int = param(0, "answer budget (0: by task, e.g. 16 for a label, 128 for a summary)")

    def validate(self) -> None:
        for a in self.abilities:
            if a not in conv.ABILITIES:
                raise UserError(f"unknown ability {a!r}; known: {', '.join(conv.ABILITIES)}")
        if self.marker not in conv.MARKERS or self.unit not in ("words", "tokens"):
            raise UserError("marker must be id or position; unit must be words or tokens")
        if self.samples < 1 or self.articles < 20 or self.max_new_tokens < 0:
            raise UserError("samples must be >= 1, articles >= 20, max_new_tokens >= 0")


class M4LEFamily(TaskFamily):
    name = NAME
    version = "2"
    description = "M4LE: many short-task instances packed into one context, asked in five abilities"
    variants = {t: f"{t} instances ({', '.join(conv.SUPPORTED[t])})" for t in conv.TASK_TYPES}
    Params = M4LEParams

    def estimate(self, params: M4LEParams, variants: list[str]) -> SizeEstimate:
        """Items of each task x ability x bucket (by default M4LE's buckets up to 128k, an upper bound:
        the corpus fills fewer), plus the news corpus (~700 words an article). All is held at once."""
        unit = TOKENS_PER_WORD if params.unit == "words" else 1
        k = 1000 if params.unit == "words" else 1024
        buckets = params.buckets or [b * k for b in DEFAULT_KS]
        per_bucket = sum(len([a for a in (params.abilities or conv.ABILITIES) if a in conv.SUPPORTED[t]])
                         for t in variants) * params.samples
        corpus = int(params.articles * 700 * TOKENS_PER_WORD)
        tokens = int(per_bucket * sum(buckets) * unit)
        items = per_bucket * len(buckets)
        return SizeEstimate(tokens=tokens, items=items, held_tokens=tokens + corpus + items * PROBE_TOKENS)

    def generate(self, variants: list[str], params: M4LEParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        from data_builders.news_corpus import news_articles

        rows = news_articles(seed, params.articles)
        pool = conv.instances_from_rows(rows, conv.parse_columns(None), "news")
        tasks = [t for t in variants if t != "translation"]  # the news corpus has no translations
        if not tasks:
            raise UserError("the offline news corpus has no translations: build translation items from a source "
                            "with `lbs build m4le --task-type translation --columns text=...,target=...`")
        return self.build(pool, tasks, params, seed, tokenizer)

    def sources_manifest(self, pool: list[conv.Instance]) -> dict:
        """The source by name, with how many instances it gave and a hash of their texts."""
        import hashlib

        digest = hashlib.sha256("\0".join(x.text for x in pool).encode()).hexdigest()
        return {"source": pool[0].key.rsplit("#", 1)[0] if pool else None, "instances": len(pool), "sha256": digest}

    def build(self, pool: list[conv.Instance], tasks: list[str], params: M4LEParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        """Pack `pool` for each task type x each of `params.abilities` it supports x bucket; an ability
        no chosen task type supports is an error."""
        wanted = params.abilities or list(conv.ABILITIES)
        unsupported = [a for a in params.abilities if not any(a in conv.SUPPORTED[t] for t in tasks)]
        if unsupported:
            raise UserError(f"no chosen task type can be asked as {unsupported[0]}: "
                            + "; ".join(f"{t} supports {', '.join(conv.SUPPORTED[t])}" for t in tasks))
        if params.unit == "tokens" and tokenizer is None:
            raise UserError("-p unit=tokens needs --tokenizer")
        count = tokenizer.count if params.unit == "tokens" else conv.m4le_length
        episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
        costs: dict[str, int] = {}
        for task in tasks:
            abilities = [a for a in wanted if a in conv.SUPPORTED[task]]
            usable = [x for x in pool if _has_roles(x, task)]  # rows missing a needed value are left out
            if not params.abilities:  # by default, skip what the source cannot ask (no titles: no semantic-single)
                abilities = [a for a in abilities if _askable(usable, task, a)] or abilities[:1]
            for ability in abilities:
                conv.check_task(usable, task, ability)
                for bucket in _buckets(params, usable, count, costs):
                    lo = conv.bucket_floor(bucket, params.unit)
                    for i in range(params.samples):
                        rng = random.Random(derive_seed(seed, NAME, task, ability, bucket, i))
                        item = _make_item(usable, task, ability, lo, bucket, params, count, rng, costs)
                        if item is None:
                            raise UserError(f"cannot pack {task} ({ability}) into ({lo}, {bucket}] {params.unit}: "
                                            "the source is too small or its instances too long for this bucket")
                        _add(episodes, probes, item, task, ability, bucket, i, params, tokenizer)
        return episodes.table(), probes.table()

    def probe(self, row: dict, episode: Episode, condition: Condition) -> Probe:
        """An imported item in context is M4LE's prompt, `instruction + "\n" + input`, as one text (the
        input holds the passages and ends with the question); otherwise, and for conversions, the default."""
        probe = super().probe(row, episode, condition)
        if condition is Condition.IN_CONTEXT and probe.meta.get("source") == "official":
            return replace(probe, context=None, question=f"{row['question']}\n{episode.text}")
        return probe

    def score(self, output: str, row: dict, choice_logprobs: dict[str, float] | None = None) -> dict[str, float]:
        """M4LE's score of the response under the probe's scoring rule (BLEU adds its statistics)."""
        rule = json.loads(row["meta"] or "{}").get("scoring") or {}
        if row["metric"] not in metrics.METRICS:
            raise UserError(f"unknown M4LE metric {row['metric']!r} (a dataset of an older version: generate it again)")
        return metrics.m4le_score(output, row["gold"] or [], row["metric"], rule.get("lang"),
                                  rule.get("end_tokens") or (), rule.get("preprocess"))


DEFAULT_KS = (1, 2, 4, 8, 16, 32, 64, 128)  # the default list (M4LE also has 6k)


def _buckets(params: M4LEParams, pool: list[conv.Instance], count, costs: dict[str, int]) -> list[int]:
    """The chosen buckets; by default M4LE's 1k-128k, up to what the source can fill (its instances'
    total length must pass the bucket's floor), so a small source gives the short buckets only."""
    if params.buckets:
        return sorted(conv.bucket_size(b, params.unit) for b in params.buckets)
    unit = 1000 if params.unit == "words" else 1024
    total = sum(conv.block_cost(x, params.marker, count, costs) for x in pool)
    fits = [k * unit for k in DEFAULT_KS if conv.bucket_floor(k * unit, params.unit) < 0.9 * total]
    if not fits:
        raise UserError(f"the source's {len(pool)} instances hold {total} {params.unit}: too few for a 1k bucket")
    return fits


def _askable(pool: list[conv.Instance], task: str, ability: str) -> bool:
    try:
        conv.check_task(pool, task, ability)
    except UserError:
        return False
    return True


def _has_roles(x: conv.Instance, task: str) -> bool:
    return all(x.answers if role == "answer" else getattr(x, role) for role in conv.NEEDS[task])


def _ref(marker: str, kind: str) -> str:
    return f"[{marker}]" if kind == "id" else marker


def _make_item(pool, task, ability, lo, hi, params, count, rng, costs) -> dict | None:
    """Pack, then ask; a draw whose question cannot be asked (no unique title, no label present twice)
    or whose exact total falls outside the bucket is drawn again."""
    kind = params.marker
    for _ in range(20):
        ok = _condition(task, ability)
        # The instances alone must pass `lo`, and leave room for a question of up to QUESTION_SLACK units.
        fixed = count(INSTRUCTION.format(n=99, how=HOW[kind]))
        packed = conv.pack(pool, lo, hi - QUESTION_SLACK, fixed, count, rng, kind, costs, ok=ok)
        if packed is None:
            return None
        chosen = packed[0]
        markers = conv.make_markers(len(chosen), kind, rng)
        asked = _question(task, ability, chosen, markers, kind, rng, params)
        if asked is None:
            continue
        pieces = [INSTRUCTION.format(n=len(chosen), how=HOW[kind])] + [conv.block(m, kind, x.text) for m, x in zip(markers, chosen)]
        context = "\n\n".join(pieces)
        # Tokens: of the whole text. M4LE's units: piece by piece, as M4LE adds up an English
        # instruction (words) and Chinese passages (characters); for English text the same as the whole.
        whole = params.unit == "tokens"
        total = (count(context) if whole else sum(map(count, pieces))) + count(asked["question"])
        if lo < total <= hi:
            return {**asked, "context": context, "total": total, "instances": chosen, "markers": markers}
    return None


def _condition(task: str, ability: str):
    """What a finished draw must have for the question to be askable."""
    if task == "classification" and ability.endswith("multiple"):
        # some label present at least once but not everywhere
        return lambda chosen: len({x.label for x in chosen}) >= 2
    return None


def _unique(values: list[str | None]) -> list[int]:
    """Indices whose value is set and occurs once in the list."""
    return [i for i, v in enumerate(values) if v and values.count(v) == 1]


def _question(task, ability, chosen, markers, kind, rng, params) -> dict | None:
    labels = sorted({x.label for x in chosen if x.label})
    label_list = ", ".join(labels)
    n = len(chosen)
    if task == "classification":
        all_labels = labels
        if ability == "explicit-single":
            t = rng.randrange(n)
            return _ask(f"What is the category of the passage {_ref(markers[t], kind)}? Answer with one of: {label_list}.",
                        [chosen[t].label], all_labels, target=[t])
        if ability == "semantic-single":
            ok = _unique([x.title for x in chosen])
            if not ok:
                return None
            t = rng.choice(ok)
            return _ask(f'What is the category of the passage whose headline would be "{chosen[t].title}"? '
                        f"Answer with one of: {label_list}.", [chosen[t].label], all_labels, target=[t])
        label = rng.choice(labels)
        hits = [i for i, x in enumerate(chosen) if x.label == label]
        if ability == "explicit-multiple":  # M4LE's gold: the markers in one comma-separated answer
            return _ask(f'List the markers of all the passages whose category is "{label}" (the categories are: '
                        f"{label_list}). Answer with the markers only, separated by commas.",
                        [", ".join(markers[i] for i in hits)], markers, target=hits)
        if ability == "semantic-multiple":
            return _ask(f'How many of the passages are about "{label}" (the categories are: {label_list})? '
                        "Answer with a number.", [str(len(hits))], [str(k) for k in range(n + 1)], target=hits)
    if task == "qa":
        # An extractive answer (found in its passage) must occur in no other packed passage, or the
        # question would not identify one passage; abstractive answers (not in the text) are asked as they are.
        ok = [i for i in range(n) if chosen[i].question and chosen[i].answers
              and (chosen[i].answers[0] not in chosen[i].text or sum(chosen[i].answers[0] in x.text for x in chosen) == 1)]
        if not ok:
            return None
        t = rng.choice(ok)
        if ability == "explicit-single":
            return _ask(f"Answer the question about the passage {_ref(markers[t], kind)}: {chosen[t].question}",
                        list(chosen[t].answers), None, target=[t])
        return _ask(f"One of the passages answers this question: {chosen[t].question} Answer it briefly.",
                    list(chosen[t].answers), None, target=[t])
    if task == "summarization":
        summaries = [x.summary for x in chosen]
        if ability == "global":
            # one paragraph: M4LE's summaries end at the first newline
            return _ask("Summarise all the passages above in order, in one paragraph of one or two sentences each.",
                        [" ".join(s for s in summaries if s)], None, target=list(range(n)))
        ok = _unique([x.title for x in chosen]) if ability == "semantic-single" else [i for i in range(n) if summaries[i]]
        if not ok:
            return None
        t = rng.choice(ok)
        ask = (f"Summarise the passage {_ref(markers[t], kind)} in one or two sentences." if ability == "explicit-single"
               else f'Summarise, in one or two sentences, the passage whose headline would be "{chosen[t].title}".')
        return _ask(ask, [summaries[t]], [s for s in summaries if s], target=[t])
    if task == "retrieval":
        ok = _unique([x.summary for x in chosen])
        if not ok:
            return None
        t = rng.choice(ok)
        gold = [markers[t]] + ([markers[t].split()[-1]] if kind == "position" else [])
        return _ask(f'Which passage does this summary describe: "{chosen[t].summary}"? Answer with its marker.',
                    gold, markers, target=[t])
    if task == "translation":
        ok = [i for i in range(n) if chosen[i].target]
        if not ok:
            return None
        t = rng.choice(ok)
        return _ask(f"Translate the passage {_ref(markers[t], kind)} into {params.target_language}.",
                    [chosen[t].target], None, target=[t])
    raise AssertionError((task, ability))


def _budget(task: str, ability: str, gold: list[str]) -> int:
    """The answer budget by task and ability, grown with the answer a long context needs: a list of many
    markers (~8 tokens each with its comma), or the summaries of many passages (~1.5 tokens a word, to
    4,096: beyond that the ROUGE-L recall a global summary can reach is bounded by the budget)."""
    base = BUDGET_BY_ABILITY.get(ability) or BUDGET[task]
    if ability == "explicit-multiple":
        return max(base, 8 * len(gold[0].split(",")) + 16)
    if ability == "global":
        return min(4096, max(base, int(1.5 * sum(conv.m4le_length(g) for g in gold))))
    return base


def _ask(question: str, gold: list[str], choices: list[str] | None, target: list[int]) -> dict:
    return {"question": question, "gold": gold, "choices": choices, "target": target}


def _add(episodes, probes, item, task, ability, bucket, i, params, tokenizer) -> None:
    eid = f"{task}/{ability}/{bucket}/{i:03d}"
    gold, choices = item["gold"], item["choices"]
    rule = conv.conversion_scoring(task, ability, gold)
    metric = rule["metric"]
    budget = params.max_new_tokens or _budget(task, ability, gold)
    instances, markers = item["instances"], item["markers"]
    meta = {
        "task": task, "ability": ability, "marker": params.marker, "unit": params.unit, "total": item["total"],
        "markers": markers, "sources": [x.key for x in instances], "target": item["target"], "scoring": rule,
    }
    episodes.add(
        episode_id=eid, family=NAME, variant=task, length=bucket,
        n_tokens=tokenizer.count(item["context"]) if tokenizer is not None else None,
        text=item["context"], sessions=None, meta=json.dumps({"instances": len(instances)}),
    )
    probes.add(
        probe_id=eid, episode_id=eid, family=NAME, variant=task, ability=ability, length=bucket, depth=None,
        bin=None, question=item["question"], answer_prefix="Answer:", gold=gold, choices=choices, metric=metric,
        chance=_chance(rule, choices, gold), max_new_tokens=budget, meta=json.dumps(meta, ensure_ascii=False),
    )


def _chance(rule: dict, choices: list[str] | None, gold: list[str]) -> float:
    """The expected score of a uniform pick among `choices` (the random baseline's answers), under the item's rule."""
    if not choices:
        return 0.0
    metric = rule["metric"]
    return sum(metrics.m4le_score(c, gold, metric, rule["lang"], rule["end_tokens"], rule["preprocess"])[metric]
               for c in choices) / len(choices)


FAMILY = M4LEFamily()
