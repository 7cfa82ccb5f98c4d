"""SCBench's released files: import them as the shared_context family, losslessly, and give them back.

SCBench (SharedContextBench, Li et al. 2024; code in microsoft/MInference scbench/, read at fb56c917)
releases one config per task on Hugging Face (microsoft/SCBench, split `test`). A record is one
shared context with several turns of questions over it:
  {"id": int, "context": str (list[int] for scbench_mf), "multi_turns": [{"input", "answer", ...}], ...}
Some fields belong to one task only. In each turn: `options` (choice_eng), `name` (repoqa: the target
function) and `task` (the two multi-task configs). At the top level: `lang` and `repo` (repoqa),
`task` (many_shot). In some vt copies the text is under `input` instead of `context`.
The importer reads each config as a file: JSON lines, a JSON list, or the HF dataset's parquet.
The config name comes from the file name (or from the folder's name, as HF lays out its parquet
files), or from --task.

What each record becomes (the tables of longbench_suite.schemas):
  episode  the config's instruction line (ours: tasks/templates/shared_context.toml [scbench]), a
           blank line, then the context. An int-list context is shown as its Python list, which is
           what SCBench's prompt shows.
  probes   one per turn, in order. variant = the config, ability = its SCBench category, bin = "turn N".
           The question is the turn's input, in the config's question template (choice options as
           "A. .."; mf prefixed with "What is <target>?", as SCBench's follow-up turns do).
           metric is the config's scorer, or the turn's own `task` in the two mixed configs.
           gold is shaped as that scorer needs it (longbench_suite/scbench_metrics.py).
           meta holds "turn", and "reference" = the answer as later turns see it (the answer text,
           or str() of a non-string answer, as SCBench formats it). repoqa turns also carry
           "candidates": every (name, function) asked about the same repo in the file, which is the
           pool SCBench's scorer builds from its prediction file.
Lossless: each episode's meta keeps the record's other fields and its key order. Each probe's meta
keeps its turn as it was (`source_turn`). `export` gives the records back exactly, with their types.
With --max-turns only the first N turns are kept (as SCBench's --max_turns), so only those come back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from longbench_suite import io, metrics, schemas
from longbench_suite.errors import UserError

FAMILY = "shared_context"
TURN_BIN = "turn {}"
LETTERS = "ABCD"


@dataclass(frozen=True)
class Config:
    category: str  # SCBench's category (readme), our `ability`
    metric: str | None  # the scorer; None: each turn's `task` chooses (the mixed configs)
    max_new_tokens: int | None  # SCBench's answer budget (eval_utils.py); None: per turn's task


# The 12 released configs (scripts/run_all_tasks.sh), their categories and answer budgets.
CONFIGS = {
    "scbench_kv": Config("string retrieval", "scbench_substring", 150),
    "scbench_prefix_suffix": Config("string retrieval", "scbench_substring", 150),
    "scbench_vt": Config("string retrieval", "scbench_recall", 30),
    "scbench_repoqa": Config("semantic retrieval", "scbench_repoqa", 1024),
    "scbench_qa_eng": Config("semantic retrieval", "scbench_contains", 40),
    "scbench_qa_chn": Config("semantic retrieval", "scbench_char_f1", 40),
    "scbench_choice_eng": Config("semantic retrieval", "scbench_choice", 40),
    "scbench_many_shot": Config("global information", "scbench_contains", 10),
    "scbench_mf": Config("global information", "scbench_math", 5),
    "scbench_summary": Config("global information", "scbench_rouge_lsum", 200),
    "scbench_summary_with_needles": Config("multi-task", None, None),
    "scbench_repoqa_and_kv": Config("multi-task", None, None),
}
# The turns' `task` in the mixed configs: (scorer, answer budget).
SUBTASKS = {
    "scbench_summary_with_needles": {"scbench_summary": ("scbench_rouge_lsum", 800),
                                     "scbench_passkey": ("scbench_passkey", 15)},
    "scbench_repoqa_and_kv": {"scbench_repoqa": ("scbench_repoqa", 1024), "scbench_kv": ("scbench_substring", 80)},
}
REPOQA_TASK = "scbench_repoqa"
# mf: "What is <target>?" where the target is the input's "The ... is" (lower-cased, without " is").
_MF_TARGET = re.compile(r"The .+ is")


# --- reading -----------------------------------------------------------------------------------------


def config_of(path: Path, task: str | None) -> str:
    """The config a file holds: --task, else its name ("scbench_kv.jsonl", "scbench_kv-part1.json") or its
    folder's (HF's "scbench_kv/test-00000-of-00001.parquet")."""
    if task is not None:
        if task not in CONFIGS:
            raise UserError(f"unknown SCBench config {task!r}; known: {', '.join(CONFIGS)}")
        return task
    for name in (path.name.split(".")[0], path.parent.name):
        found = [c for c in CONFIGS if name == c or re.match(re.escape(c) + r"[-_.]", name)]
        if found:
            return max(found, key=len)  # scbench_repoqa_and_kv, not scbench_repoqa
    raise UserError(f"{path}: cannot tell its SCBench config from its name; pass --task (one of {', '.join(CONFIGS)})")


def read_records(path: Path) -> list[tuple[str, dict]]:
    """(where, record) of every record of a file: JSON lines, a JSON list, or parquet."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"SCBench file not found: {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as e:
            raise UserError(f"{path} is not a readable parquet file ({str(e).splitlines()[0]})") from None
        found = [(f"row {n}", row) for n, row in enumerate(rows, 1)]
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{path} is not UTF-8 text ({e.reason})") from None
        if text.lstrip().startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as e:
                raise UserError(f"{path} is not JSON ({e.msg}, line {e.lineno})") from None
            found = [(f"record {n}", item) for n, item in enumerate(items, 1)]
        else:
            found = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        found.append((f"line {n}", json.loads(line)))
                    except json.JSONDecodeError as e:
                        raise UserError(f"{path} line {n} is not JSON ({e.msg})") from None
    if not found:
        raise UserError(f"{path} holds no records")
    for where, item in found:
        if not isinstance(item, dict):
            raise UserError(f"{path} {where} is not a JSON object")
    return found


def context_key(record: dict) -> str | None:
    """Where the shared context is: `context`, else `input` (some vt copies), as SCBench reads it."""
    for key in ("context", "input"):
        if record.get(key) is not None:
            return key
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_record(path: Path, where: str, record: dict, config: str) -> None:
    """One record in SCBench's layout, or a one-line UserError naming the file and the record."""
    at = f"{path} {where}"
    key = context_key(record)
    if key is None:
        raise UserError(f"{at}: no context (a `context` string, or a list of numbers for scbench_mf)")
    ctx = record[key]
    if isinstance(ctx, list):
        if not ctx or not all(_is_int(v) for v in ctx):
            raise UserError(f"{at}: a list context must be a non-empty list of integers")
    elif not isinstance(ctx, str):
        raise UserError(f"{at}: the context must be a string (or a list of integers), not {type(ctx).__name__}")
    turns = record.get("multi_turns")
    if not isinstance(turns, list) or not turns:
        raise UserError(f"{at}: `multi_turns` must be a non-empty list of turns")
    for t, turn in enumerate(turns, 1):
        _check_turn(f"{at} turn {t}", turn, record, config)


def _check_turn(at: str, turn: Any, record: dict, config: str) -> None:
    if not isinstance(turn, dict):
        raise UserError(f"{at} is not a JSON object")
    if not isinstance(turn.get("input"), str):
        raise UserError(f"{at}: no `input` string")
    answer = turn.get("answer")
    ok = isinstance(answer, str) or _is_int(answer) or isinstance(answer, float) or (
        isinstance(answer, list) and answer and all(isinstance(a, str) or _is_int(a) for a in answer))
    if not ok:
        raise UserError(f"{at}: no `answer` (a string, a number, or a non-empty list of them)")
    task = _turn_task(turn, config)
    if config in SUBTASKS and task not in SUBTASKS[config]:
        raise UserError(f"{at}: `task` must be one of {', '.join(SUBTASKS[config])}, not {turn.get('task')!r}")
    if config == "scbench_choice_eng":
        options = turn.get("options")
        if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS) or not all(isinstance(o, str) for o in options):
            raise UserError(f"{at}: `options` must be a list of 2 to {len(LETTERS)} strings")
        if answer not in options:
            raise UserError(f"{at}: the answer is not among its options")
    if task == REPOQA_TASK:
        if not isinstance(turn.get("name"), str) or not isinstance(answer, str):
            raise UserError(f"{at}: a repoqa turn needs the function's `name` and its source as the `answer`")
        if not isinstance(record.get("repo"), str):
            raise UserError(f"{at}: a repoqa record needs its `repo`")


def _turn_task(turn: dict, config: str) -> str:
    return turn.get("task") if config in SUBTASKS else config


# --- building the tables -------------------------------------------------------------------------------


def templates() -> dict[str, Any]:
    """The [scbench] table of tasks/templates/shared_context.toml: instructions and question templates."""
    import tasks

    path = Path(tasks.__file__).parent / "templates" / "shared_context.toml"
    table = io.read_toml(path, "shared_context templates").get("scbench")
    if not isinstance(table, dict) or not isinstance(table.get("instruction"), dict):
        raise UserError(f"{path}: no [scbench] table with its instructions")
    return table


def reference_of(answer: Any) -> str:
    """The answer as SCBench's later turns show it: the text, or str() of a number or a list."""
    return answer if isinstance(answer, str) else str(answer)


def gold_of(metric: str, turn: dict) -> list[str]:
    answer = turn["answer"]
    if metric == "scbench_choice":
        return [answer, LETTERS[turn["options"].index(answer)]]
    if metric == "scbench_repoqa":
        return [answer, turn["name"]]
    return [str(a) for a in answer] if isinstance(answer, list) else [str(answer)]


def question_of(config: str, turn: dict, tpl: dict[str, Any]) -> str:
    """The turn's question in its config's template (`{input}`, `{options}`, `{target}`)."""
    questions = tpl.get("question", {})
    template = questions.get(config, questions.get("default", "{input}"))
    values = {"input": turn["input"]}
    if config == "scbench_choice_eng":
        option = tpl.get("option", "{letter}. {text}")
        values["options"] = "\n".join(option.format(letter=letter, text=text) for letter, text in zip(LETTERS, turn["options"]))
    if config == "scbench_mf":
        m = _MF_TARGET.search(turn["input"])
        if m is None:  # no "The ... is": the input alone
            template = questions.get("default", "{input}")
        else:
            values["target"] = m.group(0).lower()[:-3]
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as e:
        raise UserError(f"shared_context templates: the [scbench] question for {config} has a bad placeholder {e}") from None


def candidates_of(files: list[tuple[Path, str, list[tuple[str, dict]]]], max_turns: int | None) -> dict[tuple[str, str], list[list[str]]]:
    """(config, repo) -> every [name, function] asked about that repo in the config's turns, in order,
    each pair once. SCBench's repoqa scorer compares an answer with these candidates (it builds them
    from one config's prediction file)."""
    pool: dict[tuple[str, str], list[list[str]]] = {}
    for _, config, records in files:
        for _, record in records:
            for turn in record["multi_turns"][:max_turns]:
                if _turn_task(turn, config) == REPOQA_TASK:
                    pair = [turn["name"], turn["answer"]]
                    found = pool.setdefault((config, record["repo"]), [])
                    if pair not in found:
                        found.append(pair)
    return pool


def import_files(paths: list[Path], task: str | None, counter: Any, max_turns: int | None = None) -> tuple[pa.Table, pa.Table, dict]:
    """SCBench's files -> (episodes, probes, manifest extras). Every record is checked first, so a bad
    file fails before anything is built."""
    if max_turns is not None and max_turns < 1:
        raise UserError("--max-turns must be at least 1")
    files = []
    for path in map(Path, paths):
        config = config_of(path, task)
        records = read_records(path)
        for where, record in records:
            check_record(path, where, record, config)
        files.append((path, config, records))
    keys = [(c, p.stem) for p, c, _ in files]
    if len(set(keys)) < len(keys):
        twice = sorted({f"{c}/{s}" for c, s in keys if keys.count((c, s)) > 1})
        raise UserError(f"two files hold the same config under the same name ({', '.join(twice)}): their episodes would collide")
    tpl = templates()
    pool = candidates_of(files, max_turns)
    episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
    for path, config, records in files:
        instruction = tpl["instruction"].get(config)
        if not isinstance(instruction, str):
            raise UserError(f"shared_context templates: [scbench.instruction] has no line for {config}")
        for i, (_, record) in enumerate(records):
            # a config split over several files (HF's parquet shards): the file's name tells them apart
            eid = f"{config}/{path.stem}/{i:05d}" if _shared_config(files, config) else f"{config}/{i:05d}"
            _add_record(episodes, probes, eid, path, config, i, record, instruction, tpl, pool, counter, max_turns)
    extra = {"source": {"files": [p.name for p, _, _ in files], "configs": [c for _, c, _ in files]}}
    return episodes.table(), probes.table(), extra


def _shared_config(files: list, config: str) -> bool:
    return sum(1 for _, c, _ in files if c == config) > 1


def _add_record(episodes: Any, probes: Any, eid: str, path: Path, config: str, index: int, record: dict,
                instruction: str, tpl: dict, pool: dict, counter: Any, max_turns: int | None) -> None:  # fmt: skip
    key = context_key(record)
    ctx = record[key]
    shown = ctx if isinstance(ctx, str) else str(ctx)  # a list as Python prints it, as SCBench's prompt has it
    if not isinstance(ctx, str) and json.loads(shown) != ctx:
        raise UserError(f"{path} record {index + 1}: its list context does not print as JSON")
    head = f"{instruction}\n\n"
    text = head + shown
    fields = {k: v for k, v in record.items() if k not in (key, "multi_turns")}
    meta = {"config": config, "file": path.name, "index": index, "keys": list(record), "context_key": key,
            "context_at": len(head), "context_list": not isinstance(ctx, str), "fields": fields}
    episodes.add(episode_id=eid, family=FAMILY, variant=config, length=None,
                 n_tokens=counter.count(text) if counter is not None else None, text=text, sessions=None,
                 meta=json.dumps(meta, ensure_ascii=False))
    spec = CONFIGS[config]
    for t, turn in enumerate(record["multi_turns"][:max_turns], 1):
        sub = _turn_task(turn, config)
        metric, budget = SUBTASKS[config][sub] if config in SUBTASKS else (spec.metric, spec.max_new_tokens)
        gold = gold_of(metric, turn)
        choices = list(LETTERS[:len(turn["options"])]) if metric == "scbench_choice" else None
        pmeta: dict[str, Any] = {"turn": t, "reference": reference_of(turn["answer"])}
        if config in SUBTASKS:
            pmeta["task"] = sub
        if sub == REPOQA_TASK:
            pmeta["lang"] = record.get("lang")
            pmeta["candidates"] = pool[(config, record["repo"])]
        pmeta["source_turn"] = turn
        # SCBench prefills "This paper" after the assistant header of summary turns after the first.
        prefix = tpl.get("summary_prefill", "") if config == "scbench_summary" and t > 1 else ""
        probes.add(
            probe_id=f"{eid}/t{t}", episode_id=eid, family=FAMILY, variant=config, ability=spec.category,
            length=None, depth=None, bin=TURN_BIN.format(t), question=question_of(config, turn, tpl),
            answer_prefix=prefix, gold=gold, choices=choices, metric=metric,
            chance=metrics.chance_of(metric, choices or [], gold), max_new_tokens=budget,
            meta=json.dumps(pmeta, ensure_ascii=False),
        )


# --- giving the records back ---------------------------------------------------------------------------


def export(dataset_dir: Path, config: str | None = None) -> list[dict]:
    """The records of an imported dataset exactly as they were read (key order and types included),
    in file order; `config`: only that config's."""
    ds = io.Dataset(dataset_dir)
    if ds.manifest.get("generator_version") != "import:scbench":
        raise UserError(f"{dataset_dir} is not an SCBench import (generator {ds.manifest.get('generator_version')!r})")
    turns: dict[str, list[tuple[int, Any]]] = {}
    for row in ds.probes.select(["episode_id", "meta"]).to_pylist():
        meta = json.loads(row["meta"])
        turns.setdefault(row["episode_id"], []).append((meta["turn"], meta["source_turn"]))
    out = []
    for row in ds.episodes.select(["episode_id", "text", "meta"]).to_pylist():
        meta = json.loads(row["meta"])
        if config is not None and meta["config"] != config:
            continue
        ctx = row["text"][meta["context_at"]:]
        parts = {**meta["fields"], meta["context_key"]: json.loads(ctx) if meta["context_list"] else ctx,
                 "multi_turns": [turn for _, turn in sorted(turns.get(row["episode_id"], []), key=lambda p: p[0])]}
        out.append({k: parts[k] for k in meta["keys"]})
    return out
