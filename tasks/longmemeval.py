"""LongMemEval: memory of a chat assistant over a long, dated history (Wu et al., ICLR 2025).

One episode per question: its history of dated user-assistant sessions. One probe: the question,
asked on the question date. Abilities are LongMemEval's six question types; abstention items (the
question id ends in `_abs`, whatever the type) are correct only when the response says the question
cannot be answered. `bin` is "abstention" or "answerable", so aggregates give abstention accuracy
beside the per-type and task-averaged accuracies.

Data: the official files (`lbs import longmemeval`, data_builders/longmemeval.py) or generated
histories (`lbs generate longmemeval`): a simulated user whose facts are planted in evidence sessions
(data_builders/lme_items.py) placed among filler chats (data_builders/conversations.py, or the user's
chat corpus) on a dated timeline, up to a token length or a session count. Variants: `oracle` (the
evidence sessions only, LongMemEval's oracle setting) and `haystack` (evidence among fillers, S/M-style).

Rendering follows LongMemEval's reader: sessions sorted by date, each headed by its index and date,
turns as JSON or as plain lines, then the current date, the question and an answer cue
(tasks/templates/longmemeval.toml). The history is rendered at run time from the stored sessions, so an
M-size import is stored once.

Scoring: official items are judged by an LLM (`lbs score RUN --judge SPEC`, longbench_suite/judge.py,
metric `llm_judge`, the headline); without a judge they carry only a deterministic proxy
(`lme_contains`). LongMemEval's metrics script accepts only verdicts of OFFICIAL_JUDGE_MODEL: the
judge's model is recorded, and a leaderboard row judged by another model says so. Generated items
have computed answers and a deterministic scorer (`lme_match`): contains an alias, a number (days:
+-1, as LongMemEval's judge tolerates), an abstention, or a preference keyword; a judge may be run
on them too.

Retrieval (systems that report retrieved ids): LongMemEval's recall_any, recall_all and ndcg_any at
k = 1, 3, 5, 10, 30, 50 (longbench_suite/metrics.py). As its evaluation does, abstention items and
items without a user turn marked has_answer are left out, and the targets are the user turns marked
has_answer in sessions marked as evidence (probe meta `evidence_turns`, `<session id>_<position>`);
a session is relevant only when it holds one. Session ids are scored at session level; turn ids
(`<session id>_<position>`, a retriever of rounds) at turn level and, mapped to sessions as
LongMemEval maps them, at session level.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

from data_builders.haystack import derive_seed
from longbench_suite import io, metrics, schemas
from longbench_suite.errors import UserError
from longbench_suite.protocol import Condition, Episode, Probe
from longbench_suite.task import PROBE_TOKENS, SizeEstimate, TaskFamily, param

NAME = "longmemeval"
QUESTION_TYPES = (  # LongMemEval's six; abstention items keep their type and end their id in `_abs`
    "single-session-user", "single-session-assistant", "single-session-preference",
    "multi-session", "temporal-reasoning", "knowledge-update",
)
TEMPLATES = Path(__file__).parent / "templates" / "longmemeval.toml"
JUDGE_TEMPLATES = Path(__file__).parent / "templates" / "longmemeval_judge.toml"
DATE_FORMAT = "%Y/%m/%d (%a) %H:%M"
MATCH = "lme_match"  # deterministic scorer of generated items (primary)
JUDGE = "llm_judge"  # LLM-judge label (primary of imported items)
PROXY = "lme_contains"  # deterministic stand-in for imported items until they are judged
ABSTENTION, ANSWERABLE = "abstention", "answerable"
# LongMemEval's metrics script asserts that every verdict came from this model (print_qa_metrics.py).
OFFICIAL_JUDGE_MODEL = "gpt-4o-2024-08-06"
_PUBLIC_TURN = re.compile(r"s[0-9a-f]{12}_\d+")  # a turn id built on a public session id


def parse_date(text: str) -> datetime:
    return datetime.strptime(text, DATE_FORMAT)


def format_date(when: datetime) -> str:
    return when.strftime(DATE_FORMAT)


def is_abstention(question_id: str) -> bool:
    """LongMemEval's rule: the id, not the type (a known pitfall of third-party harnesses)."""
    return question_id.endswith("_abs")


# --- reader templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    name: str
    format: str
    instruction: str
    session: str
    question: str
    answer_prefix: str = ""
    session_separator: str = "\n\n"
    turn: str = "{role}: {content}"
    memory_instruction: str = ""
    note_instruction: str = ""
    note: str = "### Notes on session {index} ({date})\n{notes}"

    @classmethod
    def load(cls, spec: str) -> "Template":
        """A name in the packaged longmemeval.toml, or a path to a TOML file with one template's keys."""
        if spec.endswith(".toml") or "/" in spec:
            path = Path(spec).expanduser()
            data, name = io.read_toml(path, "LongMemEval template file"), path.name
        else:
            packaged = io.read_toml(TEMPLATES, "LongMemEval templates file")
            if spec not in packaged:
                raise UserError(f"unknown LongMemEval template {spec!r}; packaged: {', '.join(packaged)} (or a .toml file)")
            data, name = packaged[spec], spec
        return cls.from_dict({**data, "name": name})

    @classmethod
    def from_dict(cls, data: dict) -> "Template":
        known = {f.name for f in fields(cls)}
        name = data.get("name", "?")
        unknown = set(data) - known
        if unknown:
            raise UserError(f"LongMemEval template {name}: unknown keys {', '.join(sorted(unknown))}")
        for key in ("format", "instruction", "session", "question"):
            if not isinstance(data.get(key), str):
                raise UserError(f"LongMemEval template {name}: {key} must be a string")
        if data["format"] not in ("json", "text"):
            raise UserError(f"LongMemEval template {name}: format must be json or text")
        t = cls(**data)
        try:  # every placeholder resolves now, not in the middle of a run
            t.render_session(1, "2023/01/01 (Sun) 00:00", [{"role": "user", "content": "x"}])
            t.render_question("2023/01/01 (Sun) 00:00", "q", memory=True)
            t.note.format(index=1, date="d", notes="n")
            t.note_instruction.format(session="s", question="q")
        except (KeyError, IndexError, ValueError) as e:
            raise UserError(f"LongMemEval template {name}: bad placeholder {e}") from None
        return t

    def to_dict(self) -> dict:
        return asdict(self)

    def render_session(self, index: int, date: str, turns: Iterable[dict]) -> str:
        if self.format == "json":  # role and content only: has_answer must never reach a system
            content = json.dumps([{"role": t["role"], "content": t["content"]} for t in turns], ensure_ascii=False)
        else:
            content = "\n".join(self.turn.format(role=t["role"], content=t["content"]) for t in turns)
        return self.session.format(index=index, date=date, content=content)

    def render_history(self, sessions: list[dict]) -> str:
        return self.session_separator.join(
            self.render_session(i, s["date"], s["turns"]) for i, s in enumerate(sort_sessions(sessions), 1)
        )

    def render_context(self, sessions: list[dict]) -> str:
        return f"{self.instruction}\n\n{self.render_history(sessions)}"

    def render_question(self, question_date: str, question: str, memory: bool = False) -> str:
        text = self.question.format(question_date=question_date, question=question)
        return f"{self.memory_instruction}\n\n{text}" if memory and self.memory_instruction else text


def sort_sessions(sessions: list[dict]) -> list[dict]:
    """By date, stable (the oracle file is not in time order; S and M are)."""
    return sorted(sessions, key=lambda s: parse_date(s["date"]))


@dataclass(frozen=True)
class JudgeTemplates:
    version: str
    templates: dict[str, str]  # question type (or "default", "abstention") -> template

    @classmethod
    def load(cls, path: Path | None = None) -> "JudgeTemplates":
        data = io.read_toml(Path(path) if path else JUDGE_TEMPLATES, "judge templates file")
        version = data.pop("version", Path(path).name if path else "?")
        templates = {}
        for key, value in data.items():
            text = value.get("template") if isinstance(value, dict) else None
            if not isinstance(text, str):
                raise UserError(f"judge templates: [{key}] needs a `template` string")
            try:
                text.format(question="q", answer="a", response="r")
            except (KeyError, IndexError, ValueError) as e:
                raise UserError(f"judge templates: [{key}] has a bad placeholder {e}") from None
            templates[key] = text
        missing = [k for k in ("default", "abstention") if k not in templates]
        if missing:
            raise UserError(f"judge templates: [{missing[0]}] is required (abstention items are judged by their own criterion)")
        unknown = sorted(set(templates) - {"default", "abstention", *QUESTION_TYPES})
        if unknown:
            raise UserError(f"judge templates: unknown section [{unknown[0]}]; use default, abstention or a question type "
                            f"({', '.join(QUESTION_TYPES)})")
        return cls(str(version), templates)

    def select(self, question_id: str, question_type: str) -> str:
        """abstention for `_abs` ids whatever the type; else the type's own template, else default."""
        if is_abstention(question_id):
            return "abstention"
        return question_type if question_type in self.templates else "default"


# --- the family ------------------------------------------------------------------------------------


@dataclass
class LongMemEvalParams:
    types: list[str] = param(list(QUESTION_TYPES), "question types to generate")
    samples: int = param(10, "items per question type (the same items at every length)")
    abstention: int = param(1, "how many of each type's items are abstention items (_abs; none for preference)")
    lengths: list[int] = param([8192], "haystack: prompt length in tokens, answer budget included", size=True)
    sessions: int = param(0, "haystack: this many sessions instead of a token length (0: fill to each length)")
    filler: str = param("generated", "filler chats: generated, or a chat corpus (file, save_to_disk dir, hub name) read with datasets")
    filler_column: str = param("", "the chat corpus's conversation column (default: auto-detect)")
    template: str = param("default", "reader template (tasks/templates/longmemeval.toml) or a .toml file")
    max_days: int = param(120, "evidence happens up to this many days before the question date")
    max_new_tokens: int = param(128, "answer budget")

    def validate(self) -> None:
        bad = [t for t in self.types if t not in QUESTION_TYPES]
        if bad:
            raise UserError(f"unknown question type {bad[0]!r}; known: {', '.join(QUESTION_TYPES)}")
        if self.samples < 1:
            raise UserError("samples must be at least 1")
        if not 0 <= self.abstention <= self.samples:
            raise UserError("abstention must be between 0 and samples")
        if self.sessions < 0 or self.max_new_tokens < 1 or self.max_days < 8:
            raise UserError("sessions must be >= 0, max_new_tokens >= 1 and max_days >= 8")
        Template.load(self.template)  # fail before generating


# Size estimates (tokens): an oracle episode (its evidence sessions), a filler session.
ORACLE_TOKENS, SESSION_TOKENS = 4096, 2048


class LongMemEvalFamily(TaskFamily):
    name = NAME
    version = "1"
    description = "LongMemEval: a chat assistant's memory of dated sessions (6 question types + abstention), LLM-judged"
    variants = {
        "oracle": "the evidence sessions only (LongMemEval's oracle setting)",
        "haystack": "evidence sessions among filler chats, up to a token length or a session count (S/M-style)",
    }
    Params = LongMemEvalParams
    official_judge_model = OFFICIAL_JUDGE_MODEL

    # --- generation ---

    def estimate(self, params: LongMemEvalParams, variants: list[str]) -> SizeEstimate:
        """An oracle episode holds a few evidence sessions; a haystack one each length (or `sessions`
        sessions of ~2k tokens, LongMemEval-S's average). All is held at once."""
        items = len(params.types) * params.samples
        tokens, n = 0, 0
        for variant in variants:
            sizes = [ORACLE_TOKENS] if variant == "oracle" else (
                [params.sessions * SESSION_TOKENS] if params.sessions else params.lengths)
            tokens += items * sum(sizes)
            n += items * len(sizes)
        return SizeEstimate(tokens=tokens, items=n, held_tokens=tokens + n * PROBE_TOKENS)

    def generate(self, variants: list[str], params: LongMemEvalParams, seed: int, tokenizer: Any) -> tuple[pa.Table, pa.Table]:
        from data_builders.lme_items import draw_persona, make_item

        template = Template.load(params.template)
        pool = _filler_pool(params)
        episodes, probes = schemas.TableBuilder(schemas.EPISODES), schemas.TableBuilder(schemas.PROBES)
        for qtype in params.types:
            for i in range(params.samples):
                abstention = i < params.abstention and qtype != "single-session-preference"
                rng = random.Random(derive_seed(seed, NAME, "item", qtype, i))
                item = make_item(qtype, abstention, draw_persona(rng), rng, params.max_days)
                asked = _question_time(rng)
                evidence = _evidence_sessions(item, asked, rng, seed, qtype, i)
                qid = f"{qtype}-{i:03d}" + ("_abs" if abstention else "")
                for variant in variants:
                    sizes = [None] if variant == "oracle" or params.sessions else params.lengths
                    for length in sizes:
                        sessions = evidence
                        if variant == "haystack":
                            fill_rng = random.Random(derive_seed(seed, NAME, "filler", qtype, i, length or params.sessions))
                            sessions = _haystack(evidence, item, asked, template, tokenizer, params, length, pool, fill_rng, seed, qid)
                        add_item(
                            episodes, probes, template, tokenizer, item_id=f"{variant}/{length or params.sessions or 'all'}/{qid}",
                            variant=variant, length=length, question_type=qtype, question=item.question,
                            question_date=format_date(asked), sessions=sessions, gold=list(item.gold),
                            answer=item.answer, metric=MATCH, max_new_tokens=params.max_new_tokens,
                            extra={"check": item.check, "facts": item.facts, "source": "generated"},
                        )
        return episodes.table(), probes.table()

    # --- running ---

    def episode(self, row: dict) -> Episode:
        """The history rendered with the dataset's template. Systems that ingest sessions must not see
        which hold the evidence: turns lose has_answer, and session ids are replaced by neutral ones (the
        official files name evidence sessions `answer_...`); `evidence_ids` maps the gold ids alike."""
        meta = json.loads(row["meta"] or "{}")
        template = Template.from_dict(meta["template"])
        sessions = [
            {**s, "session_id": public_session_id(row["episode_id"], s["session_id"]),
             "turns": [{"role": t["role"], "content": t["content"], "has_answer": None} for t in s["turns"]]}
            for s in sort_sessions(row["sessions"] or [])
        ]
        return Episode(
            episode_id=row["episode_id"], family=row["family"], variant=row["variant"],
            text=template.render_context(sessions), sessions=sessions, meta=meta,
        )

    def probe(self, row: dict, episode: Episode, condition: Condition) -> Probe:
        """In-context: the history, then the question; otherwise the question opened by the template's
        memory instruction (answer from what you remember)."""
        meta = json.loads(row["meta"] or "{}")
        in_context = condition is Condition.IN_CONTEXT
        question = row["question"]
        if not in_context:
            template = Template.from_dict(episode.meta["template"])
            question = template.render_question(meta["question_date"], meta["question"], memory=True)
        return Probe(
            probe_id=row["probe_id"], episode_id=row["episode_id"], question=question,
            answer_prefix=row["answer_prefix"] or "", context=episode.text if in_context else None,
            max_new_tokens=int(row["max_new_tokens"]), choices=None, gold=row.get("gold"), meta=meta,
        )

    # --- scoring ---

    def score(self, output: str, row: dict, choice_logprobs: dict[str, float] | None = None) -> dict[str, float]:
        meta = json.loads(row["meta"] or "{}")
        gold = row["gold"] or []
        if row["metric"] == MATCH:
            return {MATCH: check_answer(meta["check"], output, gold)}
        # Imported items until judged: the reference contained in the response (an abstention: a refusal).
        proxy = metrics.abstains(output) if is_abstention(row["probe_id"]) else metrics.contains_any(output, gold)
        return {PROXY: proxy}

    def load_judge_templates(self, path: Path | None = None) -> JudgeTemplates:
        return JudgeTemplates.load(path)

    def judge_prompt(self, row: dict, output: str, templates: JudgeTemplates) -> tuple[str, str]:
        """(template name, prompt) of LongMemEval's answer check for one response."""
        meta = json.loads(row["meta"] or "{}")
        name = templates.select(row["probe_id"], meta.get("question_type", row["ability"]))
        answer = meta.get("answer", (row["gold"] or [""])[0])
        return name, templates.templates[name].format(question=meta["question"], answer=answer, response=output)

    def evidence_ids(self, row: dict) -> list[str] | None:
        """Sessions a retriever should find (public ids; empty when no evidence session holds a marked
        user turn); None for the items LongMemEval's retrieval metrics leave out."""
        return self._targets(row)[0]

    def retrieval_scores(self, row: dict, retrieved: list[str]) -> dict[str, float] | None:
        """LongMemEval's retrieval metrics of one answer's retrieved ids (None: the item is left out).
        All turn ids: turn level, and session level through them; else session level (a turn id among
        session ids counts as its session)."""
        sessions, turns = self._targets(row)
        if sessions is None:
            return None
        if turns is not None and retrieved and all(_PUBLIC_TURN.fullmatch(i) for i in retrieved):
            return metrics.turn_retrieval_scores(retrieved, turns)
        ranked = [metrics.session_of_turn(i) if _PUBLIC_TURN.fullmatch(i) else i for i in retrieved]
        return metrics.retrieval_scores(ranked, sessions)

    def _targets(self, row: dict) -> tuple[list[str] | None, list[str] | None]:
        """(relevant sessions, relevant turns) as systems name them; (None, None) for an item left out.
        A dataset made before evidence_turns were recorded: its answer sessions, turns unknown (None)."""
        meta = json.loads(row["meta"] or "{}")
        if is_abstention(row["probe_id"]):
            return None, None
        if "evidence_turns" not in meta:
            ids = [public_session_id(row["episode_id"], sid) for sid in meta.get("answer_session_ids") or []]
            return ids or None, None
        if meta["evidence_turns"] is None:
            return None, None
        turns = [public_turn_id(row["episode_id"], t) for t in meta["evidence_turns"]]
        return list(dict.fromkeys(metrics.session_of_turn(t) for t in turns)), turns


def public_session_id(episode_id: str, session_id: str) -> str:
    """The id a system sees (and reports in retrieved_ids) for a stored session."""
    return "s" + hashlib.sha256(f"{episode_id}/{session_id}".encode()).hexdigest()[:12]


def turn_id(session_id: str, position: int) -> str:
    """LongMemEval's turn id: the session id, `_`, the turn's 1-based position among all its turns."""
    return f"{session_id}_{position}"


def public_turn_id(episode_id: str, stored_turn_id: str) -> str:
    """A stored turn id (`<stored session id>_<position>`) as a system sees it."""
    session, position = stored_turn_id.rsplit("_", 1)
    return turn_id(public_session_id(episode_id, session), int(position))


def evidence_turns(sessions: list[dict], answer_session_ids: list[str]) -> list[str] | None:
    """LongMemEval's retrieval targets (run_retrieval.py): the user turns marked has_answer in the
    sessions marked as evidence (the official files put `answer` in their ids and list them in
    answer_session_ids; generated sessions are listed only), as turn ids. None when no user turn of
    the history is marked: LongMemEval leaves such items (e.g. evidence said by the assistant) out."""
    marked = set(answer_session_ids)
    if not any(t["role"] == "user" and t.get("has_answer") for s in sessions for t in s["turns"]):
        return None
    return [
        turn_id(s["session_id"], j) for s in sessions if "answer" in s["session_id"] or s["session_id"] in marked
        for j, t in enumerate(s["turns"], 1) if t["role"] == "user" and t.get("has_answer")
    ]


def check_answer(check: str, output: str, gold: list[str]) -> float:
    """The deterministic scorer of generated items (see data_builders/lme_items.py for the checks)."""
    if check == "contains" or check == "rubric":  # rubric: any of the preference's keywords
        return metrics.contains_any(output, gold)
    if check == "number":
        return metrics.number_match(output, gold)
    if check == "days":  # LongMemEval's judge accepts off-by-one day counts
        return metrics.number_match(output, gold, tolerance=1)
    if check == "abstain":
        return metrics.abstains(output)
    raise ValueError(f"unknown check {check!r}")


def add_item(
    episodes: schemas.TableBuilder, probes: schemas.TableBuilder, template: Template, counter: Any, *,
    item_id: str, variant: str, length: int | None, question_type: str, question: str, question_date: str,
    sessions: list[dict], gold: list[str], answer: str, metric: str, max_new_tokens: int, extra: dict,
    answer_session_ids: list[str] | None = None,
) -> None:
    """One episode (the history) and its probe (the question), from generated or imported data.
    `item_id` ends in `_abs` for abstention items; it is the probe id (LongMemEval's question_id)."""
    if answer_session_ids is None:
        answer_session_ids = [s["session_id"] for s in sessions if any(t.get("has_answer") for t in s["turns"])]
    n_tokens = counter.count(template.render_context(sessions)) if counter is not None else None
    episodes.add(
        episode_id=item_id, family=NAME, variant=variant, length=length, n_tokens=n_tokens, text="",
        sessions=sessions, meta=json.dumps({"template": template.to_dict(), "question_date": question_date}),
    )
    meta = {
        "question_type": question_type, "question": question, "question_date": question_date, "answer": answer,
        "answer_session_ids": answer_session_ids, "abstention": is_abstention(item_id),
        "evidence_turns": evidence_turns(sessions, answer_session_ids), **extra,
    }
    probes.add(
        probe_id=item_id, episode_id=item_id, family=NAME, variant=variant, ability=question_type, length=length,
        depth=None, bin=ABSTENTION if is_abstention(item_id) else ANSWERABLE,
        question=template.render_question(question_date, question), answer_prefix=template.answer_prefix,
        gold=gold, choices=None, metric=metric, chance=0.0, max_new_tokens=max_new_tokens, meta=json.dumps(meta),
    )


# --- the timeline ----------------------------------------------------------------------------------

_FIRST_DAY = datetime(2023, 1, 1)


def _question_time(rng: random.Random) -> datetime:
    """A question date in 2023 (LongMemEval's histories are dated 2023), between 09:00 and 23:00."""
    return _FIRST_DAY + timedelta(days=rng.randrange(365), minutes=rng.randrange(9 * 60, 23 * 60))


def _session_id(*parts: object) -> str:
    """Neutral ids: nothing in an id tells evidence from filler (the official `answer_` prefix does)."""
    return "s" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:12]


def _at(day: datetime, rng: random.Random) -> datetime:
    return datetime(day.year, day.month, day.day) + timedelta(minutes=rng.randrange(8 * 60, 22 * 60))


def _evidence_sessions(item: Any, asked: datetime, rng: random.Random, *id_parts: object) -> list[dict]:
    """Each evidence session on its day (days_before the question date), at a daytime hour."""
    out = []
    for k, ev in enumerate(item.evidence):
        when = _at(asked - timedelta(days=ev.days_before), rng)
        out.append({"session_id": _session_id(*id_parts, "evidence", k), "date": format_date(when), "turns": _turns(ev)})
    return out


def _turns(ev: Any) -> list[dict]:
    return [{"role": t.role, "content": t.content, "has_answer": bool(t.has_answer)} for t in ev.turns]


def _haystack(
    evidence: list[dict], item: Any, asked: datetime, template: Template, counter: Any, params: LongMemEvalParams,
    length: int | None, pool: list[list[dict]] | None, rng: random.Random, seed: int, qid: str,
) -> list[dict]:
    """Evidence among filler chats dated across the history's span, sorted by date. Sizes: a session
    count, or a token budget = length - instruction - question - answer budget, each session counted once."""
    from data_builders.conversations import filler_session

    span = max(params.max_days, max((e.days_before for e in item.evidence), default=1)) + 1
    first = asked - timedelta(days=span)

    def draw() -> list[dict]:
        turns = pool[rng.randrange(len(pool))] if pool else filler_session(rng)
        return [{"role": t["role"], "content": t["content"], "has_answer": None} for t in turns]

    def dated(turns: list[dict], k: int) -> dict:  # any minute of the span before the question
        when = first + timedelta(minutes=rng.randrange(int((asked - first).total_seconds() // 60) - 60))
        return {"session_id": _session_id(seed, qid, "filler", k), "date": format_date(when), "turns": turns}

    fillers: list[dict] = []
    if params.sessions:
        if params.sessions < len(evidence):
            raise UserError(f"sessions={params.sessions} is fewer than the {len(evidence)} evidence sessions of {qid}")
        fillers = [dated(draw(), k) for k in range(params.sessions - len(evidence))]
    else:
        count = counter.count if counter is not None else (lambda text: len(text.split()))
        fixed = count(template.instruction) + count(template.render_question(format_date(asked), item.question))
        # slack: the seams between parts and a session's final index (counted as its draw order here)
        budget = length - params.max_new_tokens - fixed - count(template.answer_prefix) - 16
        used = sum(count(template.render_session(k + 1, s["date"], s["turns"])) + 2 for k, s in enumerate(evidence))
        if used > budget:
            raise UserError(f"length {length} is too short for the evidence of {qid} ({used} tokens): use a longer length")
        misses = 0
        while misses < 8:  # a session that does not fit is skipped; a few misses in a row end the history
            turns = draw()
            index = len(evidence) + len(fillers) + 1
            cost = count(template.render_session(index, "2023/01/01 (Sun) 00:00", turns)) + 2
            if used + cost > budget:
                misses += 1
                continue
            misses = 0
            fillers.append(dated(turns, len(fillers)))
            used += cost
        # The parts were counted one by one; count the whole history once and drop the last fillers if
        # the seams pushed it over (a few tokens in 100k).
        limit = length - params.max_new_tokens - count(template.render_question(format_date(asked), item.question)) \
            - count(template.answer_prefix) - 4
        while fillers and count(template.render_context(sort_sessions(evidence + fillers))) > limit:
            fillers.pop()
    return sort_sessions(evidence + fillers)


def _filler_pool(params: LongMemEvalParams) -> list[list[dict]] | None:
    """The user's chat corpus, read once (the first FILLER_POOL_MAX conversations); None: generated."""
    if params.filler == "generated":
        return None
    from itertools import islice

    from data_builders.conversations import chat_sessions_from_dataset

    pool = list(islice(chat_sessions_from_dataset(params.filler, params.filler_column or None), FILLER_POOL_MAX))
    if not pool:
        raise UserError(f"the chat corpus {params.filler} has no conversation of two turns or more")
    return pool


FILLER_POOL_MAX = 50_000

FAMILY = LongMemEvalFamily()
