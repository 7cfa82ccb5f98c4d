"""Graph memory (`graph[...]:READER`, adapters/graph_memory.py): the memory contract with both
extractors, a two-hop question that personalised PageRank answers and BM25 does not, joint recall at
n_ctx = 1 with the rules extractor (the gold pair reaches the reader's context), the llm extractor's
parsing (an unparseable reply gives no triples and is counted), and bad options as one-line errors."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from adapters._retrieval_items import chunk_items, session_items
from adapters._retrievers import BM25
from adapters.graph_memory import parse_names, parse_triples, rule_graph_facts
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Condition, Episode, Probe
from longbench_suite.registry import make_system
from memory_contract import SPIES, SPY, assert_contract, run_contract
from runners.local import RunConfig, run

# --- the contract -----------------------------------------------------------------------------------


def _chunks_per_episode(data: Path) -> int:
    return sum(len(chunk_items(t, 256)) for t in pq.read_table(data / "episodes.parquet").column("text").to_pylist())


def test_contract_llm_extraction(tmp_path):
    manifest, calls, data = run_contract("graph[extract=llm]:" + SPY, tmp_path)
    assert_contract(manifest, calls, data)
    fp = manifest["footprint"]
    passages = _chunks_per_episode(data)
    probes = pq.read_table(data / "probes.parquet").num_rows
    # One extraction call per passage at ingest, one entity call and one answer per probe.
    assert fp["graph"]["calls"] == passages
    assert len([c for c in calls if "#triples" in c.probe.probe_id]) == passages
    assert len([c for c in calls if c.probe.probe_id.endswith("#entities")]) == probes
    assert fp["ingest_tokens"]["episodes"] == 3 and fp["ingest_tokens"]["mean"] > 0
    assert fp["memory_items"]["mean"] >= passages / 3 and fp["memory_bytes"]["mean"] > 0


def test_contract_rules_extraction(tmp_path):
    manifest, calls, data = run_contract("graph[extract=rules]:" + SPY, tmp_path)
    assert_contract(manifest, calls, data)
    fp = manifest["footprint"]
    probe_ids = set(pq.read_table(data / "probes.parquet").column("probe_id").to_pylist())
    assert {c.probe.probe_id for c in calls} == probe_ids and len(calls) == len(probe_ids)  # no reader call at ingest
    assert fp["ingest_tokens"] == {"mean": 0.0, "max": 0.0, "episodes": 3}
    texts = pq.read_table(data / "episodes.parquet").column("text").to_pylist()
    assert fp["memory_bytes"]["max"] >= min(len(t.encode()) for t in texts)  # the passages are kept
    assert fp["memory_items"]["mean"] > _chunks_per_episode(data) / 3  # passages plus entities and edges
    assert fp["graph"]["fallback"] == 0  # every question names its context, a known entity


# --- two hops: PageRank from "Alice" reaches the passage that never names her --------------------

PASSAGES = {
    "s1": "Bob works at Globex.",
    "s2": "Alice works at Acme.",
    "s3": "The city of London is large and old.",
    "s4": "Acme is in Paris.",
    "s5": "Globex is in Berlin, a city Bob likes.",
    "s6": "Carol works at Initech in the city of Rome.",
}
QUESTION = "In which city does Alice work?"


def _episode() -> Episode:
    sessions = [{"session_id": sid, "date": f"2024/01/0{i} (Mon) 10:00", "turns": [{"role": "user", "content": text}]}
                for i, (sid, text) in enumerate(PASSAGES.items(), 1)]
    return Episode("hop", "hand-made", "two-hop", "\n".join(PASSAGES.values()), sessions=sessions)


def _probe(question: str, pid: str = "hop/q") -> Probe:
    return Probe(probe_id=pid, episode_id="hop", question=question, answer_prefix="", context=None, max_new_tokens=8)


def _bm25_top(question: str, n: int) -> list[str]:
    async def scores():
        retriever = BM25()
        items = session_items(_episode().sessions)
        return items, await retriever.scores(await retriever.build([it.key for it in items]), question)

    items, s = asyncio.run(scores())
    return [items[i].source_id for i in np.argsort(-s, kind="stable")[:n]]


def test_two_hop_pagerank_finds_what_bm25_misses():
    SPIES.clear()
    memory = make_system("graph[extract=rules,k=2]:" + SPY)

    async def go():
        await memory.ingest(_episode())
        return await memory.answer(_probe(QUESTION)), await memory.answer(_probe("Which city is large?", "hop/q2"))

    hop, fallback = asyncio.run(go())
    assert set(hop.retrieved_ids[:2]) == {"s2", "s4"}, hop.retrieved_ids
    seen = SPIES[0].calls[0].probe.context
    assert seen.index("Alice works at Acme") < seen.index("Acme is in Paris") and "Globex" not in seen  # by date
    assert "s4" not in _bm25_top(QUESTION, 2)  # the question alone shares no word with "Acme is in Paris"
    # No entity in the question: BM25 over the passages, counted as a fallback.
    assert fallback.retrieved_ids[:2] == _bm25_top("Which city is large?", 2)
    assert memory.footprint()["graph"] == {"extract": "rules", "answers": 2, "fallback": 1}


# --- joint recall at n_ctx = 1: the asked pair reaches the reader --------------------------------


def test_joint_recall_gold_pair_in_context(tmp_path):
    data = tmp_path / "data"
    generate_dataset("joint-recall", data, ["words"],
                     ["n_ctx=1", "n_key=8", "n_queries=4", "samples=20", "lengths=4096"], seed=3, tokenizer="approx")
    SPIES.clear()
    manifest = run(RunConfig(dataset=data, system="graph[extract=rules,k=2]:" + SPY, out=tmp_path / "run",
                             condition=Condition.IN_MEMORY, use_cache=False))
    assert manifest["status"] == "complete"
    probes = {p["probe_id"]: p for p in pq.read_table(data / "probes.parquet").to_pylist()}
    hits = []
    for call in SPIES[0].calls:
        p = probes[call.probe.probe_id]
        key = re.search(r"value of (\S+)\?", p["question"])[1]
        hits.append(bool(re.search(rf"\b{key} -> {p['gold'][0]}\b", call.probe.context or "")))
    assert len(hits) == len(probes) == 80
    passages = _chunks_per_episode(data) / 20
    # Measured: 78/80 (the misses: a listing cut between two chunks, or a context named "Even", a
    # function word). Two passages of about 16 drawn at random would hold it for about 1/8.
    print(f"gold pair in context: {sum(hits)}/{len(hits)}; passages per episode {passages:.1f}")
    assert sum(hits) / len(hits) >= 0.9 and 2 / passages < 0.2


# --- the llm extractor's parsing ---------------------------------------------------------------


def test_parse_triples_formats_and_failures():
    reply = ("Here are the triples:\n- Alice | works at | Acme\n2. (Acme, located in, Paris)\n"
             "| subject | relation | object |\n|---|---|---|\n| Bob | likes | \"Berlin\" |\nnot a triple")
    assert parse_triples(reply) == [
        ("Alice", "works at", "Acme"), ("Acme", "located in", "Paris"), ("Bob", "likes", "Berlin")]
    assert parse_triples('```json\n[["Alice", "works at", "Acme"], ["x", "y"]]\n```') == [("Alice", "works at", "Acme")]
    assert parse_triples("None.") == []  # nothing to extract is no failure
    assert parse_triples("Alice works at Acme.") is None and parse_triples("") is None
    assert parse_names("- Alice\n2. Acme Corp\nnone") == ["Alice", "Acme Corp"]
    assert parse_names('["Paris"]') == ["Paris"]


def test_unparseable_replies_give_no_triples_and_are_counted():
    memory = make_system("graph[extract=llm]:constant,text=I cannot help with that.")

    async def go():
        await memory.ingest(_episode())
        return await memory.answer(_probe(QUESTION))

    answer = asyncio.run(go())
    fp = memory.footprint()
    assert fp["graph"]["calls"] == fp["graph"]["unparsed"] == len(PASSAGES) and fp["graph"]["triples"] == 0
    assert fp["memory_items"]["mean"] == len(PASSAGES)  # passage nodes only
    # "Alice" is written in the question, but no entity is known: BM25 ranks.
    assert fp["graph"]["fallback"] == 1 and answer.retrieved_ids[:2] == _bm25_top(QUESTION, 2)


def test_rules_extractor_names():
    sentence = 'When I met Bob, the Bank of America in New York had "Project X" on 2023-05-01.'
    names, pairs = rule_graph_facts(sentence, set())
    assert names == ["Project X", "Bob", "Bank of America", "New York", "2023-05-01"]
    assert ("Bob", "", "New York") in pairs
    # A capitalised sentence opener the text also writes in lower case is no name.
    assert rule_graph_facts("Context Amber: lantern -> 7.", {"context"})[0] == ["Amber", "7"]


@pytest.mark.parametrize("spec, message", [
    ("graph[extract=ner]:oracle", "extract must be one of llm, rules"),
    ("graph[damping=1.5]:oracle", "damping=1.5 out of range"),
    ("graph[depth=2]:oracle", "unknown options depth"),
    ("graph:oracle", "extract=llm needs a reader that reads"),
])
def test_bad_options_are_one_line_errors(spec, message):
    with pytest.raises(UserError, match=message) as err:
        make_system(spec)
    assert "\n" not in str(err.value)
