"""Graph memory (HippoRAG, Gutiérrez et al. 2024): `graph[OPTIONS]:READER` wraps any reader.

    graph[extract=llm|rules][,k=5][,damping=0.5][,chunk_tokens=256]:READER-SPEC

e.g. `graph:embedded`, `graph[extract=rules,k=3]:openai:gpt-4o-mini`.

Ingest cuts the episode into passages (adapters/_retrieval_items.py: one per session when the episode
has sessions, else windows of about `chunk_tokens` tokens) and builds a networkx graph: a node per
passage, a node per entity, an edge from each passage to the entities extracted from it, and an edge
between two entities for each relation seen between them (weights count how often). Extraction:

    llm    the reader writes (subject, relation, object) triples for each passage (one call per passage,
           prompt in templates/graph_memory.toml); subjects and objects are the entities. A reply with no
           parseable triple gives none and is counted (`unparsed` in footprint()).
    rules  deterministic and free: capitalised phrases (minus function words, and minus a sentence's
           first word when the episode also writes it in lower case), numbers and quoted terms are the
           entities; two entities in one sentence (within RULE_WINDOW of each other) are related.

Answer: the question's entities (the same extractor on the question line: for llm one reader call per
question, HippoRAG's query NER; plus every known entity name found in the question, whole words,
case-insensitive) seed personalised PageRank (networkx.pagerank; weight of a seed = 1 / the number of
passages it occurs in, HippoRAG's node specificity; `damping` = networkx's alpha, HippoRAG's 0.5 by
default). Passages are ranked by their PageRank score (ties: their BM25 score, then document order);
the top `k` are shown to the reader as the probe's context in document order, sessions as the
retrieval adapter shows them (LongMemEval's default template, by date). When no seed matches a known
entity, or PageRank does not converge, passages are ranked by BM25 alone (adapters/_retrievers.py;
counted as `fallback`). Reported `retrieved_ids`: the ranking, session ids (chunk-N for families
without sessions), as retrieval.py reports sessions.

Simplifications against HippoRAG: one extraction call per passage (HippoRAG runs NER, then triple
extraction conditioned on it); no synonymy edges between similar entity names (HippoRAG links them by
embedding similarity: here names are merged only when equal after case folding); passages are nodes of
the graph PageRank runs on (as in HippoRAG 2) rather than scored afterwards from their entities' scores.

Costs (footprint(), per episode): `memory_items` = nodes + edges; `memory_bytes` = an estimate, the UTF-8
bytes of the graph's text (passage texts, entity names, relation labels; edges are counted as text only,
not as pointers; the BM25 fallback index is left out); `ingest_tokens` = the reader's prompt and
completion tokens at ingest (0 for rules). Answer tokens include the question's entity call (llm).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from longbench_suite.errors import UserError
from longbench_suite.io import read_toml
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, PerEpisode, Probe, SystemContext
from longbench_suite.spec import SystemSpec, check_options, option_choice, option_number

from ._reader_memory import ReaderMemory, gather_all, known_sum, make_reader, with_recall
from ._retrieval_items import Item, chunk_items, render, reported_ids, session_items
from ._retrievers import BM25
from .retrieval import REPORTED_IDS, query_text

OPTIONS = ("extract", "k", "damping", "chunk_tokens")
EXTRACTORS = ("llm", "rules")
DEFAULT_K = 5
TRIPLE_TOKENS = 256  # budget of one passage's triples
ENTITY_TOKENS = 48  # budget of one question's entity list
EXTRACT_CONCURRENCY = 8  # extraction calls in flight per episode
RULE_WINDOW = 8  # rules: an entity is related to the next RULE_WINDOW entities of its sentence
MAX_NAME_WORDS = 8  # longer "names" from a reply are not names
TEMPLATES = Path(__file__).parent / "templates" / "graph_memory.toml"

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_TOKEN = re.compile(r"\d(?:[\d,.:/-]*\d)?|[^\W\d_](?:[\w'’.-]*\w)?")
_QUOTED = re.compile(r"\"([^\"\n]{1,80})\"|“([^”\n]{1,80})”")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_JSON_TRIPLE = re.compile(r"\[\s*(\"[^\"\n]*\")\s*,\s*(\"[^\"\n]*\")\s*,\s*(\"[^\"\n]*\")\s*\]")
_NONE = {"none", "no facts", "nothing", "n/a", "[]", "no triples", "no names"}
_HEADER = ("subject", "relation", "object")


# -- templates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Templates:
    triples: str
    question_entities: str
    function_words: frozenset[str]
    connectors: frozenset[str]


@cache
def templates() -> Templates:
    data = read_toml(TEMPLATES, "graph memory templates")
    try:
        return Templates(data["llm"]["triples"], data["llm"]["question_entities"],
                         frozenset(w.lower() for w in data["rules"]["function_words"]),
                         frozenset(w.lower() for w in data["rules"]["connectors"]))
    except KeyError as e:
        raise UserError(f"graph memory templates: missing key {e} in {TEMPLATES}") from None


# -- names ----------------------------------------------------------------------------------------


def name_key(name: str) -> str:
    """The node an entity name maps to: case-folded, spaces collapsed, outer quotes and punctuation off."""
    return " ".join(name.split()).strip(" \"'“”‘’`.,;:!?()[]{}").casefold()


def lower_words(text: str) -> set[str]:
    """Words the text writes in lower case (a capitalised sentence opener among them is no name)."""
    return {t for t in _TOKEN.findall(text) if t[0].islower()}


# -- rules extraction -----------------------------------------------------------------------------


def rule_entities(sentence: str, lowercase: set[str], words: Templates) -> list[str]:
    """Names in one sentence, in order: quoted terms, numbers, runs of capitalised words (joined by
    connectors such as "of"), without function words at either end, and without the sentence's first
    word when `lowercase` holds it (a capitalised common word)."""
    found = [a or b for a, b in _QUOTED.findall(sentence)]
    tokens = list(_TOKEN.finditer(sentence))
    i = 0
    while i < len(tokens):
        text = tokens[i].group()
        if text[0].isdigit():
            found.append(text)
            i += 1
            continue
        if not text[0].isupper():
            i += 1
            continue
        run, j = [i], i
        while j + 1 < len(tokens) and _adjacent(sentence, tokens[j], tokens[j + 1]):
            nxt = tokens[j + 1].group()
            if nxt[0].isupper():
                run.append(j + 1)
                j += 1
            elif (nxt.lower() in words.connectors and j + 2 < len(tokens) and tokens[j + 2].group()[0].isupper()
                  and _adjacent(sentence, tokens[j + 1], tokens[j + 2])):
                run += [j + 1, j + 2]
                j += 2
            else:
                break
        found.extend(_trim_run([tokens[k].group() for k in run], run[0] == 0, lowercase, words))
        i = j + 1
    return [f for f in found if name_key(f)]


def _adjacent(text: str, a: re.Match, b: re.Match) -> bool:
    return text[a.end() : b.start()] in (" ", "\u00a0")


def _trim_run(run: list[str], opens_sentence: bool, lowercase: set[str], words: Templates) -> list[str]:
    if opens_sentence and run and run[0].lower() in lowercase:
        run = run[1:]
    while run and (run[0].lower() in words.function_words or run[0].lower() in words.connectors):
        run = run[1:]
    while run and (run[-1].lower() in words.function_words or run[-1].lower() in words.connectors):
        run = run[:-1]
    return [" ".join(run)] if run else []


def rule_graph_facts(text: str, lowercase: set[str]) -> tuple[list[str], list[tuple[str, str, str]]]:
    """rules: (the passage's entity names, co-occurrence relations (a, "", b) within each sentence)."""
    words = templates()
    names: list[str] = []
    pairs: list[tuple[str, str, str]] = []
    for sentence in _SENTENCE.split(text):
        found = list(dict.fromkeys(rule_entities(sentence, lowercase, words)))
        names += found
        pairs += [(a, "", b) for n, a in enumerate(found) for b in found[n + 1 : n + 1 + RULE_WINDOW]]
    return names, pairs


# -- llm extraction: parsing ----------------------------------------------------------------------


def parse_triples(reply: str) -> list[tuple[str, str, str]] | None:
    """Triples in a reader's reply, one per line: `s | r | o` (a markdown table row too), `(s, r, o)`,
    or JSON lists of three strings anywhere. [] for an explicit "none"; None when nothing parses."""
    text = (reply or "").strip()
    triples = [t for t in (_json_triple(m) for m in _JSON_TRIPLE.finditer(text)) if t]
    if not triples:
        triples = [t for t in map(_line_triple, text.splitlines()) if t]
    if triples:
        return triples
    bare = text.strip("`").strip().lower().rstrip(".")
    return [] if bare in _NONE else None


def _json_triple(m: re.Match) -> tuple[str, str, str] | None:
    try:
        return _clean_triple([json.loads(g) for g in m.groups()])
    except json.JSONDecodeError:
        return None


def _line_triple(line: str) -> tuple[str, str, str] | None:
    line = _BULLET.sub("", line).strip()
    if "|" in line:
        parts = [p for p in line.strip("|").split("|")]
    elif line.startswith("(") and line.endswith(")"):
        inner = line[1:-1]
        parts = inner.split(";") if inner.count(";") == 2 else inner.split(",")
    else:
        return None
    return _clean_triple(parts) if len(parts) == 3 else None


def _clean_triple(parts: list[str]) -> tuple[str, str, str] | None:
    s, r, o = (" ".join(str(p).split()).strip(" \"'`") for p in parts)
    if not (s and r and o) or set(p.strip("-: ") for p in (s, r, o)) == {""}:
        return None
    if (s.lower(), r.lower(), o.lower()) == _HEADER or max(len(s.split()), len(o.split())) > MAX_NAME_WORDS:
        return None
    return s, r, o


def parse_names(reply: str) -> list[str]:
    """Entity names in a reply: one per line (bullets and quotes off), or a JSON list of strings."""
    text = (reply or "").strip()
    try:
        data = json.loads(text)
        if isinstance(data, list):
            return [str(x) for x in data if isinstance(x, str) and name_key(x)]
    except json.JSONDecodeError:
        pass
    names = []
    for line in text.splitlines():
        name = _BULLET.sub("", line).strip(" \"'`")
        if name_key(name) and name.lower().rstrip(".") not in _NONE and len(name.split()) <= MAX_NAME_WORDS:
            names.append(name)
    return names


# -- the graph of one episode ---------------------------------------------------------------------


@dataclass
class EpisodeGraph:
    passages: list[Item]
    graph: Any  # networkx.Graph: ("p", index) passage nodes, ("e", key) entity nodes
    bm25: Any  # the fallback's index over the passages (None when there are none)
    names: dict[str, str] = field(default_factory=dict)  # entity key -> first name seen
    lowercase: set[str] = field(default_factory=set)  # the episode's lower-case words (rules)

    def add(self, index: int, names: list[str], relations: list[tuple[str, str, str]]) -> None:
        """Link passage `index` to its entities, and entities to each other."""
        for name in names:
            key = name_key(name)
            if not key:
                continue
            self.names.setdefault(key, name)
            _bump(self.graph, ("p", index), ("e", key))
        for s, relation, o in relations:
            a, b = name_key(s), name_key(o)
            if not a or not b or a == b:
                continue
            self.names.setdefault(a, s)
            self.names.setdefault(b, o)
            edge = _bump(self.graph, ("e", a), ("e", b))
            if relation:
                edge.setdefault("relations", set()).add(relation)

    def items(self) -> int:
        return self.graph.number_of_nodes() + self.graph.number_of_edges()

    def text_bytes(self) -> int:
        passages = sum(len((p.key or "").encode()) for p in self.passages)
        names = sum(len(n.encode()) for n in self.names.values())
        labels = sum(len(r.encode()) for _, _, d in self.graph.edges(data=True) for r in d.get("relations", ()))
        return passages + names + labels

    def known_in(self, question: str) -> set[str]:
        """Entity keys written in the question as whole words (case-insensitive)."""
        folded = question.casefold()
        return {k for k in self.names if k in folded and re.search(rf"(?<!\w){re.escape(k)}(?!\w)", folded)}

    def seeds(self, keys: set[str]) -> dict[Any, float]:
        """Personalisation of PageRank: each known key, weighted by 1 / the passages it occurs in."""
        out = {}
        for key in keys:
            node = ("e", key)
            if node in self.graph:
                passages = sum(1 for n in self.graph[node] if n[0] == "p")
                out[node] = 1.0 / max(1, passages)
        return out


def _bump(graph: Any, a: Any, b: Any) -> dict:
    if graph.has_edge(a, b):
        graph[a][b]["weight"] += 1
    else:
        graph.add_edge(a, b, weight=1)
    return graph[a][b]


def passages_of(episode: Episode, chunk_tokens: int) -> tuple[list[Item], list[str]]:
    """(passages, the text each is extracted from: a session's turn contents, or the chunk)."""
    if episode.sessions:
        items = session_items(episode.sessions)
        return items, ["\n".join(t["content"] for t in it.turns or ()) for it in items]
    items = chunk_items(episode.text, chunk_tokens)
    return items, [it.text or "" for it in items]


@dataclass
class _Counts:
    calls: int = 0
    unparsed: int = 0
    triples: int = 0
    answers: int = 0
    fallback: int = 0


# -- the memory -----------------------------------------------------------------------------------


class GraphMemory(ReaderMemory[EpisodeGraph]):
    condition_override = Condition.IN_MEMORY  # the probe comes without context; we supply what we retrieve
    needs = "graph memory needs the episode"

    def __init__(self, inner: MemorySystem, *, extract: str, k: int, damping: float, chunk_tokens: int):
        from tasks.longmemeval import Template

        if extract == "llm" and inner.privileged:
            raise UserError("graph: extract=llm needs a reader that reads (a model), not a baseline that knows "
                            "the gold; use extract=rules")
        super().__init__(inner, "graph")
        self.extract, self.k, self.damping, self.chunk_tokens = extract, k, damping, chunk_tokens
        self.preferred_concurrency = getattr(inner, "preferred_concurrency", None)
        self.privileged = inner.privileged
        self.template = Template.load("default")
        self.retriever = BM25()
        self._costs = {"memory_bytes": PerEpisode(), "memory_items": PerEpisode(), "ingest_tokens": PerEpisode()}
        self._counts = _Counts()

    async def ingest(self, episode: Episode) -> None:
        import networkx as nx

        passages, texts = passages_of(episode, self.chunk_tokens)
        index = await self.retriever.build([p.key for p in passages]) if passages else None
        state = EpisodeGraph(passages, nx.Graph(), index, lowercase=lower_words("\n".join(texts)))
        state.graph.add_nodes_from(("p", i) for i in range(len(passages)))
        tokens = 0
        if self.extract == "rules":
            for i, text in enumerate(texts):
                state.add(i, *rule_graph_facts(text, state.lowercase))
        else:
            for i, (triples, used) in enumerate(await self._llm_triples(episode, passages)):
                state.add(i, [n for s, _, o in triples for n in (s, o)], triples)
                tokens += used
        self._episodes[episode.episode_id] = state
        self._costs["memory_bytes"].add(state.text_bytes())
        self._costs["memory_items"].add(state.items())
        self._costs["ingest_tokens"].add(tokens)

    async def _llm_triples(self, episode: Episode, passages: list[Item]) -> list[tuple[list, int]]:
        """Per passage: (its triples, the reader tokens the call cost)."""
        limit = asyncio.Semaphore(EXTRACT_CONCURRENCY)
        prompt = templates().triples

        async def one(i: int, passage: Item) -> tuple[list, int]:
            async with limit:
                reply = await self.inner.answer(Probe(
                    probe_id=f"{episode.episode_id}#triples{i}", episode_id=episode.episode_id,
                    question=prompt.format(passage=passage.key), answer_prefix="", context=None,
                    max_new_tokens=TRIPLE_TOKENS))
            triples = parse_triples(reply.text)
            self._counts.calls += 1
            self._counts.unparsed += triples is None
            self._counts.triples += len(triples or [])
            return triples or [], (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)

        return await gather_all([one(i, p) for i, p in enumerate(passages)])

    async def answer(self, probe: Probe) -> Answer:
        state = self.state(probe)
        t0 = time.monotonic()
        query = query_text(probe.question)
        entities, asked = await self._question_entities(state, probe, query)
        ranked = await self._rank(state, query, entities)
        context = render([state.passages[i] for i in ranked[: self.k]], self.template)
        final = await self.inner.answer(with_recall(probe, context))
        used = [final, *asked]
        return Answer(
            text=final.text,
            choice_logprobs=final.choice_logprobs,
            prompt_tokens=known_sum(a.prompt_tokens for a in used),
            completion_tokens=known_sum(a.completion_tokens for a in used),
            latency_s=time.monotonic() - t0,
            retrieved_ids=reported_ids([state.passages[i] for i in ranked], REPORTED_IDS) if ranked else None,
            cache_hit=all(a.cache_hit for a in used),
            model=final.model,
        )

    async def _question_entities(self, state: EpisodeGraph, probe: Probe, query: str) -> tuple[set[str], list[Answer]]:
        """The question's entity keys (extracted, plus known names written in it), and the reader calls made."""
        keys = state.known_in(query)
        if self.extract == "rules":
            names, _ = rule_graph_facts(query, state.lowercase | lower_words(query))
            return keys | {name_key(n) for n in names}, []
        reply = await self.inner.answer(Probe(
            probe_id=f"{probe.probe_id}#entities", episode_id=probe.episode_id,
            question=templates().question_entities.format(question=query), answer_prefix="", context=None,
            max_new_tokens=ENTITY_TOKENS))
        return keys | {name_key(n) for n in parse_names(reply.text)}, [reply]

    async def _rank(self, state: EpisodeGraph, query: str, entities: set[str]) -> list[int]:
        """Passage indices, best first: by PageRank from the seeds (ties: BM25, then document order),
        or by BM25 alone when nothing seeds the walk."""
        if not state.passages:
            return []
        bm25 = np.asarray(await self.retriever.scores(state.bm25, query), dtype=np.float64)
        self._counts.answers += 1
        seeds = state.seeds(entities)
        ppr = await asyncio.to_thread(self._pagerank, state, seeds) if seeds else None
        if ppr is None:
            self._counts.fallback += 1
            return sorted(range(len(state.passages)), key=lambda i: (-bm25[i], i))
        return sorted(range(len(state.passages)), key=lambda i: (-ppr.get(("p", i), 0.0), -bm25[i], i))

    def _pagerank(self, state: EpisodeGraph, seeds: dict[Any, float]) -> dict[Any, float] | None:
        import networkx as nx

        try:
            return nx.pagerank(state.graph, alpha=self.damping, personalization=seeds, weight="weight")
        except nx.PowerIterationFailedConvergence:
            return None

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        return {
            "name": self.name, "memory": "graph (HippoRAG: personalised PageRank)", "extract": self.extract,
            "k": self.k, "damping": self.damping, "chunk_tokens": self.chunk_tokens, "seed_weight": "1/passages",
            "fallback": "bm25", "triple_tokens": TRIPLE_TOKENS, "entity_tokens": ENTITY_TOKENS,
            "reported_ids": REPORTED_IDS, "reader": inner, "sampling": inner.get("sampling", {}),
        }

    def footprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: cost.summary() for name, cost in self._costs.items()}  # None: left out
        c = self._counts
        out["graph"] = {"extract": self.extract, "answers": c.answers, "fallback": c.fallback}
        if self.extract == "llm":
            out["graph"].update(calls=c.calls, unparsed=c.unparsed, triples=c.triples)
        return self.with_reader(out)


def _graph(spec: SystemSpec, ctx: SystemContext) -> MemorySystem:
    """`graph[extract=rules,k=5]:SPEC`: a knowledge graph of each episode, read with any system."""
    check_options(spec, OPTIONS)
    if importlib.util.find_spec("networkx") is None:
        raise UserError("graph: the graph memory needs networkx; "
                        "install it with `pip install 'longbench-suite[memory]'`")
    extract = option_choice(spec, "extract", EXTRACTORS, "llm")
    k = option_number(spec, "k", DEFAULT_K, int, 1)
    damping = option_number(spec, "damping", 0.5, float, 0.01, 0.99)
    chunk_tokens = option_number(spec, "chunk_tokens", 256, int, 16)
    return GraphMemory(make_reader(spec, ctx), extract=extract, k=k, damping=damping, chunk_tokens=chunk_tokens)


SYSTEMS = {"graph": _graph}
