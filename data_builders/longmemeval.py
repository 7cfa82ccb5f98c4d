"""The official LongMemEval files (longmemeval_s, _m, _oracle and the cleaned release) as datasets.

Each question becomes one episode (its haystack: session ids, dates and turns with has_answer, kept as
given) and one probe (question, answer, question date, answer_session_ids, type; any other field kept
in meta), so `export_items` gives back the same JSON objects. The file is streamed (ijson): the M
file is ~2.7 GB, and the dataset is written a few episodes at a time, so memory stays at a few
episodes whatever the file size.

Validation, one clear error naming the item: missing fields, a date not in "%Y/%m/%d (%a) %H:%M",
lists of different lengths, an answer session not in the haystack, an S/M haystack whose days are out
of order (the oracle file is not ordered; it is recognised by its name or --variant oracle), a
malformed turn, a duplicate question id, an unknown question type.

Times within a day are not an error: LongMemEval's generator sorts an S/M haystack by day, then draws
each session's time of day on its own, so a real file can hold a session timed before the one above
it on the same day. Such files import as given (the file's order is kept; the reader shows sessions by
time, as LongMemEval's does); the manifest counts the inversions and `lbs import` warns once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from longbench_suite import schemas
from longbench_suite.errors import UserError, one_line

FIELDS = (
    "question_id", "question_type", "question", "answer", "question_date",
    "haystack_session_ids", "haystack_dates", "haystack_sessions", "answer_session_ids",
)
VARIANTS = ("s", "m", "oracle")
BATCH = 8  # episodes held before they are written (an M episode is ~5 MB)


def guess_variant(path: Path) -> str | None:
    """longmemeval_s.json -> s, longmemeval_m_cleaned.json -> m, longmemeval_oracle.json -> oracle."""
    stem = path.name.lower()
    for variant in ("oracle", "m", "s"):
        if f"_{variant}." in stem or f"_{variant}_" in stem or stem.startswith(f"{variant}.") or stem == variant:
            return variant
    return None


def read_items(path: Path) -> Iterator[dict]:
    """The items of a JSON array file (streamed) or of a JSON-lines file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"LongMemEval file not found: {path}")
    import ijson

    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
        fh.seek(0)
        if not head:
            raise UserError(f"{path} is empty")
        index = -1
        try:
            if head[:1] == b"[":
                for index, item in enumerate(ijson.items(fh, "item", use_float=True)):
                    yield item
            else:
                for line in fh:
                    if line.strip():
                        item = json.loads(line)
                        index += 1
                        yield item
        except (ijson.JSONError, json.JSONDecodeError, UnicodeDecodeError) as e:
            where = f"after item {index}" if index >= 0 else "before the first item"
            why = e.args[0] if e.args else ""
            why = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(e)  # ijson's are bytes
            if isinstance(e, UnicodeDecodeError) or "utf8" in why.lower():
                why = "not UTF-8 text"
            raise UserError(f"{path} is not valid JSON {where} ({one_line(why)})") from None


def _fail(index: int, item: Any, message: str) -> None:
    qid = item.get("question_id") if isinstance(item, dict) else None
    raise UserError(f"item {index}" + (f" (question_id {qid!r})" if qid is not None else "") + f": {message}")


def validate(item: Any, index: int, variant: str) -> int:
    """Raise on the first error; return how many sessions are timed before the one above them on the
    same day (S/M files; LongMemEval's generator makes such files)."""
    from tasks.longmemeval import QUESTION_TYPES, parse_date

    if not isinstance(item, dict):
        _fail(index, item, "is not a JSON object")
    missing = [f for f in FIELDS if f not in item]
    if missing:
        _fail(index, item, f"missing field(s) {', '.join(missing)}")
    if not isinstance(item["question_id"], str) or not item["question_id"]:
        _fail(index, item, "question_id must be a non-empty string")
    if item["question_type"] not in QUESTION_TYPES:
        _fail(index, item, f"unknown question_type {item['question_type']!r}; known: {', '.join(QUESTION_TYPES)}")
    if not isinstance(item["question"], str):
        _fail(index, item, "question must be a string")
    if not isinstance(item["answer"], (str, int, float)) or isinstance(item["answer"], bool):
        _fail(index, item, "answer must be a string or a number")
    for name in ("haystack_session_ids", "haystack_dates", "haystack_sessions", "answer_session_ids"):
        if not isinstance(item[name], list):
            _fail(index, item, f"{name} must be a list")
    ids, dates, sessions = item["haystack_session_ids"], item["haystack_dates"], item["haystack_sessions"]
    if not (len(ids) == len(dates) == len(sessions)):
        _fail(index, item, f"haystack_session_ids, haystack_dates and haystack_sessions differ in length ({len(ids)}, {len(dates)}, {len(sessions)})")
    parsed = []
    for what, text in [("question_date", item["question_date"])] + [(f"haystack_dates[{k}]", d) for k, d in enumerate(dates)]:
        try:
            parsed.append(parse_date(text))
        except (TypeError, ValueError):
            _fail(index, item, f"{what} {text!r} is not a date like '2023/04/10 (Mon) 17:50'")
    inversions = 0
    if variant != "oracle":  # parsed[0] is the question date; parsed[k] is session k - 1
        for k in range(2, len(parsed)):
            if parsed[k].date() < parsed[k - 1].date():
                _fail(index, item, f"haystack not in time order: session {k - 1} ({dates[k - 1]}) is on an earlier day than "
                                   f"session {k - 2} ({dates[k - 2]}); S/M haystacks are sorted by day (only times within a "
                                   "day may be out of order): pass --variant oracle if this is the oracle file")
            inversions += parsed[k] < parsed[k - 1]
    # Repeated session ids are not refused: nothing in LongMemEval's layout forbids a filler drawn twice.
    absent = [s for s in item["answer_session_ids"] if s not in set(ids)]
    if absent:
        _fail(index, item, f"answer session(s) not in the haystack: {', '.join(map(str, absent[:3]))}")
    for k, session in enumerate(sessions):
        if not isinstance(session, list):
            _fail(index, item, f"haystack_sessions[{k}] is not a list of turns")
        for j, turn in enumerate(session):
            if not (isinstance(turn, dict) and turn.get("role") in ("user", "assistant") and isinstance(turn.get("content"), str)):
                _fail(index, item, f"haystack_sessions[{k}][{j}] is not a turn {{role: user|assistant, content: string}}")
            if "has_answer" in turn and not isinstance(turn["has_answer"], bool):
                _fail(index, item, f"haystack_sessions[{k}][{j}].has_answer must be true or false")
    return inversions


def _sessions(item: dict) -> list[dict]:
    """Sessions in file order (the renderer sorts by date); has_answer kept as given (null = absent)."""
    return [
        {
            "session_id": str(sid),
            "date": date,
            "turns": [{"role": t["role"], "content": t["content"], "has_answer": t.get("has_answer")} for t in turns],
        }
        for sid, date, turns in zip(item["haystack_session_ids"], item["haystack_dates"], item["haystack_sessions"])
    ]


def _turn_extras(item: dict) -> dict:
    """Turn keys beyond role/content/has_answer, by "session/turn" position, so nothing is lost."""
    extras = {}
    for k, session in enumerate(item["haystack_sessions"]):
        for j, turn in enumerate(session):
            more = {key: v for key, v in turn.items() if key not in ("role", "content", "has_answer")}
            if more:
                extras[f"{k}/{j}"] = more
    return extras


def import_file(path: Path, out: Path, variant: str | None, template_name: str, counter: Any, max_new_tokens: int,
                overwrite: bool, progress=None) -> dict:
    """Stream the file into a dataset directory; returns the manifest. Nothing is left behind on error."""
    from longbench_suite import __version__, io
    from tasks.longmemeval import JUDGE, NAME, Template, add_item

    path = Path(path)
    variant = variant or guess_variant(path)
    if variant is None:
        raise UserError(f"cannot tell from its name whether {path.name} is the s, m or oracle file: pass --variant s|m|oracle")
    template = Template.load(template_name)
    seen: set[str] = set()
    inverted = {"sessions": 0, "items": 0}  # same-day time inversions (S/M)
    probes = schemas.TableBuilder(schemas.PROBES)
    with io.stream_dataset(out, overwrite) as writer:
        episodes = schemas.TableBuilder(schemas.EPISODES)
        for index, item in enumerate(read_items(path)):
            inversions = validate(item, index, variant)
            inverted["sessions"] += inversions
            inverted["items"] += inversions > 0
            qid = item["question_id"]
            if qid in seen:
                _fail(index, item, "duplicate question_id")
            seen.add(qid)
            answer = item["answer"]
            extra: dict = {"source": "official"}
            if not isinstance(answer, str):
                extra["answer_json"] = answer  # numbers in the file stay numbers on export
            more = {k: v for k, v in item.items() if k not in FIELDS}
            if more:
                extra["extra_fields"] = more
            turn_extras = _turn_extras(item)
            if turn_extras:
                extra["turn_extras"] = turn_extras
            add_item(
                episodes, probes, template, counter, item_id=qid, variant=variant, length=None,
                question_type=item["question_type"], question=item["question"], question_date=item["question_date"],
                sessions=_sessions(item), gold=[str(answer)], answer=str(answer), metric=JUDGE,
                max_new_tokens=max_new_tokens, extra=extra, answer_session_ids=[str(s) for s in item["answer_session_ids"]],
            )
            if len(episodes.columns["episode_id"]) >= BATCH:
                writer.add_episodes(episodes.table())
                episodes = schemas.TableBuilder(schemas.EPISODES)
            if progress:
                progress(index + 1)
        if not seen:
            raise UserError(f"{path} holds no items")
        writer.add_episodes(episodes.table())
        manifest = {
            "family": NAME,
            "variants": [variant],
            "params": {"template": template_name, "max_new_tokens": max_new_tokens},
            "seed": None,
            "generator_version": "import:longmemeval",
            "tokenizer": counter.name if counter is not None else None,
            "suite_version": __version__,
            "source": {"file": path.name, "variant": variant},
        }
        if variant != "oracle":
            manifest["source"]["same_day_time_inversions"] = inverted
        return writer.finish(probes.table(), manifest)


def inversion_warning(manifest: dict) -> str | None:
    """The one warning line `lbs import` prints when an S/M file has same-day time inversions."""
    inverted = (manifest.get("source") or {}).get("same_day_time_inversions") or {}
    if not inverted.get("sessions"):
        return None
    return (f"warning: {inverted['sessions']} session(s) in {inverted['items']} item(s) are timed before the session "
            "above them on the same day (LongMemEval's generator times same-day sessions independently): kept in "
            "the file's order; the reader shows them by time, as LongMemEval's does")


def export_items(episodes: pa.Table, probes: pa.Table) -> Iterator[dict]:
    """Dataset rows back to LongMemEval's JSON objects, in probe order (an import round-trips)."""
    index = {eid: i for i, eid in enumerate(episodes.column("episode_id").to_pylist())}
    for row in probes.to_pylist():
        meta = json.loads(row["meta"] or "{}")
        episode = episodes.slice(index[row["episode_id"]], 1).to_pylist()[0]
        turn_extras = meta.get("turn_extras", {})
        sessions = []
        for k, s in enumerate(episode["sessions"] or []):
            turns = []
            for j, t in enumerate(s["turns"]):
                turn = {"role": t["role"], "content": t["content"]}
                if t["has_answer"] is not None:
                    turn["has_answer"] = t["has_answer"]
                turns.append({**turn, **turn_extras.get(f"{k}/{j}", {})})
            sessions.append(turns)
        item = {
            "question_id": row["probe_id"],
            "question_type": meta["question_type"],
            "question": meta["question"],
            "answer": meta.get("answer_json", meta.get("answer", (row["gold"] or [""])[0])),
            "question_date": meta["question_date"],
            "haystack_session_ids": [s["session_id"] for s in episode["sessions"] or []],
            "haystack_dates": [s["date"] for s in episode["sessions"] or []],
            "haystack_sessions": sessions,
            "answer_session_ids": meta.get("answer_session_ids", []),
        }
        yield {**item, **meta.get("extra_fields", {})}
