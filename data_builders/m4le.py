"""M4LE conversions: many short-task instances packed into one long context, one question about them.

A source is any table of short-task rows (a `datasets` id or a local jsonl/json/parquet/csv/arrow
file, or the project's offline news corpus) read through a column mapping onto roles:
    text (required), label, title, summary, question, answer, target.
Task types and what they need:
    classification  text + label          summarization  text + summary
    qa              text + question + answer    retrieval  text + summary
    translation     text + target
Abilities (M4LE's five), as questions about the packed instances:
    explicit-single     one instance named by its marker ("[3FA2C1]" or "Article 4")
    semantic-single     one instance identified by its content (its title, its question, its summary)
    explicit-multiple   the markers of every instance that satisfies a stated condition (a label)
    semantic-multiple   how many instances have a described property (a label)
    global              a task over the whole context (summarise all articles)
Packing follows M4LE: instances are added in random order until the total (instruction, question and
context, in M4LE's units: English words and Chinese characters, or tokens of a named tokenizer) lies
in (previous bucket, bucket]; an instance that overshoots is skipped for another, and a draw that
cannot land in the bucket starts again.

How each item is scored (metric, end tokens, preprocessing, language) comes from M4LE's per-task
table, kept as data in m4le_tasks.toml: an imported file by its name, a converted item by the
official task its task type and ability follow there.

`import_official` reads M4LE's released jsonl items (instruction, input, answers, input_length,
total_length, length_bucket).
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from longbench_suite.errors import UserError

ROLES = ("text", "label", "title", "summary", "question", "answer", "target")
TASK_TYPES = ("classification", "qa", "summarization", "retrieval", "translation")
ABILITIES = ("explicit-single", "semantic-single", "explicit-multiple", "semantic-multiple", "global")
NEEDS = {  # roles a task type needs beyond text
    "classification": ("label",), "qa": ("question", "answer"), "summarization": ("summary",),
    "retrieval": ("summary",), "translation": ("target",),
}
# Which abilities a task type can be asked in (semantic-single classification/summarization needs titles).
SUPPORTED = {
    "classification": ("explicit-single", "semantic-single", "explicit-multiple", "semantic-multiple"),
    "qa": ("explicit-single", "semantic-single"),
    "summarization": ("explicit-single", "semantic-single", "global"),
    "retrieval": ("semantic-single",),
    "translation": ("explicit-single",),
}
MARKERS = ("id", "position")
BUCKET_KS = (1, 2, 4, 6, 8, 16, 32, 64, 128)  # M4LE's buckets: 1k 2k 4k 6k 8k 16k 32k 64k 128k


TASKS_FILE = Path(__file__).with_name("m4le_tasks.toml")
SCORING_KEYS = ("metric", "lang", "end_tokens", "preprocess")


@functools.cache
def task_table() -> tuple[dict[str, dict], dict[str, dict[str, str]]]:
    """M4LE's per-task table: (task name or alias -> entry with its canonical `name`, conversions)."""
    from longbench_suite import io, metrics

    data = io.read_toml(TASKS_FILE, "M4LE task table")
    tasks: dict[str, dict] = {}
    for name, entry in data["tasks"].items():
        if entry["metric"] not in metrics.METRICS or entry["ability"] not in ABILITIES or entry["lang"] not in ("en", "zh"):
            raise ValueError(f"{TASKS_FILE}: bad entry {name}")
        if any(not isinstance(t, str) or not t for t in entry["end_tokens"]):
            raise ValueError(f"{TASKS_FILE}: {name} has an empty end token")
        for key in (name, *entry.get("aliases", ())):
            tasks[key] = {**entry, "name": name}
    return tasks, data["conversions"]


def official_task(name: str) -> dict | None:
    """The table's entry of a task file name ('lcsts', 'clts', 'mnds-news_explicit-single_cls+ret'), or None."""
    return task_table()[0].get(name)


def scoring(entry: dict) -> dict:
    """What a probe records of its task's scoring rule (its meta's "scoring")."""
    return {"task": entry["name"], **{k: entry.get(k) for k in SCORING_KEYS}}


def conversion_scoring(task: str, ability: str, gold: list[str]) -> dict:
    """The scoring rule of a converted item: the official task its task type and ability follow, by
    the language of its gold answer."""
    from longbench_suite.metrics import language_of

    by_language = task_table()[1][f"{task}/{ability}"]
    return scoring(official_task(by_language[language_of(gold)]))


def m4le_length(text: str) -> int:
    """A text's length as M4LE counts it: Chinese in characters (all of them, as len() does), English
    in whitespace-separated words."""
    from longbench_suite.metrics import is_chinese

    return len(text) if is_chinese(text) else len(text.split())


def bucket_size(size: int, unit: str) -> int:
    """A `-p buckets=1k` value (1024, RULER's token convention) in the unit's own thousands: M4LE counts
    words, and its 1k bucket is 1,000 words; in tokens 1k stays 1,024."""
    return size * 1000 // 1024 if unit == "words" and size % 1024 == 0 else size


def bucket_floor(bucket: int, unit: str = "words") -> int:
    """The previous M4LE bucket: an item of bucket b lies in (floor, b] (0 below 1k; b/2 off the list)."""
    canonical = [k * (1000 if unit == "words" else 1024) for k in BUCKET_KS]
    below = [b for b in canonical if b < bucket]
    return below[-1] if bucket in canonical and below else (0 if bucket <= canonical[0] else bucket // 2)


@dataclass(frozen=True)
class Instance:
    key: str  # the source row (for provenance)
    text: str
    label: str | None = None
    title: str | None = None
    summary: str | None = None
    question: str | None = None
    answers: tuple[str, ...] = ()
    target: str | None = None


# --- sources ---------------------------------------------------------------------------------------


def parse_columns(text: str | None) -> dict[str, str]:
    """'text=article,label=topic' -> {"text": "article", "label": "topic"} (roles default to their own names)."""
    mapping = {r: r for r in ROLES}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        role, sep, column = part.partition("=")
        if not sep or role.strip() not in ROLES or not column.strip():
            raise UserError(f"bad column mapping {part!r}: use ROLE=COLUMN with ROLE one of {', '.join(ROLES)}")
        mapping[role.strip()] = column.strip()
    return mapping


def instances_from_rows(rows: Iterable[dict], columns: dict[str, str], source: str) -> list[Instance]:
    """Rows -> instances through the mapping; a role whose column is absent stays empty."""
    out = []
    for i, row in enumerate(rows):
        def get(role: str) -> Any:  # "translation.de" reaches into a nested column
            value: Any = row
            for part in columns[role].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return value

        text = get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        answer = get("answer")
        if isinstance(answer, dict) and "text" in answer:  # SQuAD-style {"text": [...], "answer_start": [...]}
            answer = answer["text"]
        answers = tuple(str(a) for a in (answer if isinstance(answer, (list, tuple)) else [answer]) if a not in (None, ""))
        label = get("label")
        out.append(Instance(
            key=f"{source}#{i}", text=" ".join(text.split()), label=None if label is None else str(label),
            title=_clean(get("title")), summary=_clean(get("summary")), question=_clean(get("question")),
            answers=answers, target=_clean(get("target")),
        ))
    return out


def _clean(value: Any) -> str | None:
    return " ".join(str(value).split()) if value not in (None, "") else None


def read_source(source: str, columns: dict[str, str], split: str = "train", limit: int | None = None) -> list[Instance]:
    """A `datasets` source (id, file or save_to_disk dir) through the column mapping."""
    from itertools import islice

    from .sources import iter_rows, load_dataset_source

    ds = load_dataset_source(source, split)
    top = {role: column.split(".")[0] for role, column in columns.items()}
    if top["text"] not in ds.column_names:
        raise UserError(f"source {source!r} has no text column {columns['text']!r}; columns: {', '.join(ds.column_names)} "
                        "(map one with --columns text=COLUMN)")
    present = {c for c in top.values() if c in ds.column_names}
    ds = ds.select_columns(sorted(present))
    names = getattr(ds.features.get(top["label"]), "names", None)  # a ClassLabel: ints stand for these names
    if names:
        ds = ds.cast_column(top["label"], __import__("datasets").Value("string"))
        ds = ds.map(lambda row: {top["label"]: names[int(row[top["label"]])] if row[top["label"]] is not None else None})
    rows = islice(iter_rows(ds, source), limit) if limit else iter_rows(ds, source)
    found = instances_from_rows(rows, columns, Path(source).name or source)
    if not found:
        raise UserError(f"source {source!r} has no non-empty text in column {columns['text']!r}")
    return found


def check_task(instances: list[Instance], task: str, ability: str) -> None:
    if task not in TASK_TYPES:
        raise UserError(f"unknown task type {task!r}; known: {', '.join(TASK_TYPES)}")
    if ability not in ABILITIES:
        raise UserError(f"unknown ability {ability!r}; known: {', '.join(ABILITIES)}")
    if ability not in SUPPORTED[task]:
        raise UserError(f"{task} cannot be asked as {ability}; it supports {', '.join(SUPPORTED[task])}")
    needs = NEEDS[task] + (("title",) if ability == "semantic-single" and task in ("classification", "summarization") else ())
    for role in needs:
        have = sum(1 for x in instances if (x.answers if role == "answer" else getattr(x, role)))
        if have < 2:
            raise UserError(f"{task} ({ability}) needs a {role} column: map it with --columns {role}=COLUMN")
    if task == "classification" and ability.endswith("multiple") and len({x.label for x in instances}) < 2:
        raise UserError("multiple-span classification needs at least two labels in the source")


# --- packing ---------------------------------------------------------------------------------------


def make_markers(n: int, kind: str, rng: random.Random) -> list[str]:
    """M4LE's markers: distinct random 6-hex-digit uppercase ids, or positions "Article 1".."Article n"."""
    if kind == "position":
        return [f"Article {i}" for i in range(1, n + 1)]
    seen: set[str] = set()
    out = []
    while len(out) < n:
        marker = f"{rng.randrange(16 ** 6):06X}"
        if marker not in seen:
            seen.add(marker)
            out.append(marker)
    return out


def block(marker: str, kind: str, text: str) -> str:
    return f"[{marker}]\n{text}" if kind == "id" else f"{marker}:\n{text}"


def block_cost(inst: Instance, kind: str, count, costs: dict[str, int]) -> int:
    """An instance's length in the context (marker and separator included), counted once and cached."""
    cost = costs.get(inst.key)
    if cost is None:
        cost = costs[inst.key] = count(block("Article 10" if kind == "position" else "3FA2C1", kind, inst.text)) + 1
    return cost


def pack(
    pool: list[Instance], lo: int, hi: int, fixed: int, count, rng: random.Random, kind: str,
    costs: dict[str, int], ok=None, attempts: int = 20, misses: int = 8,
) -> tuple[list[Instance], int] | None:
    """Draw instances in random order and keep each that still fits under `hi` (after `misses` that do
    not fit in a row the context is full); accept when fixed + blocks lies in (lo, hi] and `ok(chosen)`
    holds, else draw again. `costs` caches each text's count (each is counted once). None: impossible."""
    order = list(range(len(pool)))
    for _ in range(attempts):
        rng.shuffle(order)
        chosen, total, missed = [], fixed, 0
        for i in order:
            inst = pool[i]
            cost = block_cost(inst, kind, count, costs)
            if total + cost > hi:
                missed += 1
                if missed >= misses:
                    break
                continue
            chosen.append(inst)
            total, missed = total + cost, 0
        if chosen and total > lo and (ok is None or ok(chosen)):
            return chosen, total
    return None


# --- M4LE's released items -------------------------------------------------------------------------

OFFICIAL_FIELDS = ("instruction", "input", "answers")


def task_ability(task: str) -> str | None:
    """'x_semantic-multiple' -> semantic-multiple; no ability suffix -> None (for tasks not in the table)."""
    suffix = task.rsplit("_", 1)[-1] if "_" in task else ""
    return suffix if suffix in ABILITIES else None


def official_scoring(task: str, metric: str | None, answers: list[list[str]]) -> tuple[str | None, dict]:
    """(ability, scoring rule) of an imported task: from M4LE's table by the task's name; a task not
    in the table needs --metric (scored with no end tokens, its language told from the answers)."""
    from longbench_suite import metrics

    entry = official_task(task)
    if metric is not None and metric not in metrics.METRICS:
        raise UserError(f"unknown metric {metric!r}; known: {', '.join(metrics.METRICS)}")
    if entry is None:
        if metric is None:
            raise UserError(f"{task!r} is not one of M4LE's tasks (e.g. lcsts, marc, mnds-news_explicit-multiple): "
                            "name the file as M4LE does, pass --task NAME, or give --metric")
        lang = metrics.language_of([a for item in answers for a in item])
        return task_ability(task), {"task": task, "metric": metric, "lang": lang, "end_tokens": [], "preprocess": None}
    rule = scoring(entry)
    if metric is not None and metric != entry["metric"]:  # a deliberate override keeps the task's end tokens
        rule["metric"] = metric
    return entry["ability"], rule


def _bucket(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    text = str(value or "").strip().lower()
    try:
        return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        return None


def read_official(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"M4LE file not found: {path}")
    items = []
    n = 0
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    items.append(_official_item(path, n, line))
    except UnicodeDecodeError as e:
        # the decoder reads ahead, so the bad byte lies somewhere after the last line read
        raise UserError(f"{path} is not UTF-8 text ({e.reason} after line {n})") from None
    if not items:
        raise UserError(f"{path} holds no items")
    return items


def _official_item(path: Path, n: int, line: str) -> dict:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{path} line {n} is not JSON ({e.msg})") from None
    if not isinstance(item, dict):
        raise UserError(f"{path} line {n} is not a JSON object")
    missing = [f for f in OFFICIAL_FIELDS if f not in item]
    if missing:
        raise UserError(f"{path} line {n}: missing field(s) {', '.join(missing)}")
    answers = item["answers"] if isinstance(item["answers"], list) else [item["answers"]]
    if not isinstance(item["input"], str) or not isinstance(item["instruction"], str) or not answers:
        raise UserError(f"{path} line {n}: instruction and input must be strings, answers a non-empty list")
    return {**item, "answers": [str(a) for a in answers], "_line": n}


def import_official(path: Path, task: str | None, metric: str | None, counter: Any, max_new_tokens: int):
    """M4LE's items -> (episodes, probes, manifest extras): the input is the episode, the instruction the
    question (rendered first, as M4LE's inference.py does: tasks/m4le.py), the answers the gold;
    ability, metric and scoring rule from M4LE's table by the task's name (the file name by default)."""
    from longbench_suite import schemas

    path = Path(path)
    items = read_official(path)
    task = task or path.stem
    ability, rule = official_scoring(task, metric, [i["answers"] for i in items])
    name = rule["task"]
    episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
    for k, item in enumerate(items):
        eid = f"{name}/{k:05d}"
        extra = {key: v for key, v in item.items() if key not in ("instruction", "input", "answers", "_line")}
        episodes.add(
            episode_id=eid, family="m4le", variant=name, length=_bucket(item.get("length_bucket")),
            n_tokens=counter.count(item["input"]) if counter is not None else None, text=item["input"], sessions=None,
            meta=json.dumps({"line": item["_line"]}),
        )
        probes.add(
            probe_id=eid, episode_id=eid, family="m4le", variant=name, ability=ability,
            length=_bucket(item.get("length_bucket")), depth=None, bin=None, question=item["instruction"],
            answer_prefix="", gold=item["answers"], choices=None, metric=rule["metric"], chance=0.0,
            max_new_tokens=max_new_tokens,
            meta=json.dumps({"task": name, "source": "official", "scoring": rule, **extra}, ensure_ascii=False),
        )
    source = {"file": path.name, "task": name}
    return episodes.table(), probes.table(), {"source": source, "metric": rule["metric"], "ability": ability, "scoring": rule}
