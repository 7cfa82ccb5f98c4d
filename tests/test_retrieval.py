"""Retrieval memory (adapters/retrieval.py): index -> retrieve -> read, scored by the real runner.

Readers used here: the oracle (retrieval is what is measured), `Echo` below (a reader that answers
with the context it was given, so scorers and assertions see exactly what was read), a tiny random
Llama as a dense embedder (plumbing only) and, in the server test, the embedded SmolLM2-135M.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import re
from datetime import date

import polars as pl
import pyarrow.parquet as pq
import pytest
from lbs_testutil import lbs, make_needle, one_line_error

from adapters._time_filter import parse_range, question_date
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, Probe
from longbench_suite.registry import make_system, task_family
from runners.local import RunConfig, run


class Echo(MemorySystem):
    """Answers with the context it was shown (and records every probe it got). Fact-extraction
    prompts (no context) get the line `FACT` when they hold `WHEN`, else "none"."""

    name = "echo"
    concurrent_episodes = True
    WHEN = ""
    FACT = "- The user keeps a pet axolotl called Quixotica."

    def __init__(self) -> None:
        self.seen: list[Probe] = []

    async def answer(self, probe: Probe) -> Answer:
        self.seen.append(probe)
        if probe.context is None:
            return Answer(text=self.FACT if self.WHEN and self.WHEN in probe.question else "none",
                          prompt_tokens=len(probe.question.split()), completion_tokens=3)
        return Answer(text=probe.context, prompt_tokens=len(probe.prompt_text().split()), completion_tokens=1)


def make_echo(spec, ctx) -> Echo:
    return Echo()


def _retrieval(options: str) -> tuple[MemorySystem, Echo]:
    """A retrieval system reading with Echo, and its Echo."""
    system = make_system(f"retrieval[{options}]:python:test_retrieval:make_echo")
    return system, system.inner


def _run(dataset, spec: str, out, limit: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    manifest = run(RunConfig(dataset=dataset, system=spec, out=out, use_cache=False, limit=limit))
    return pl.read_parquet(out / "predictions.parquet"), pl.read_parquet(out / "scores.parquet"), manifest


def _mean(scores: pl.DataFrame, metric: str) -> float:
    return scores.filter(pl.col("metric") == metric).get_column("value").mean()


@pytest.fixture(scope="module")
def lme(tmp_path_factory):
    """18 generated LongMemEval items, ~35 sessions each (13 answerable ones carry evidence ids)."""
    out = tmp_path_factory.mktemp("lme") / "data"
    generate_dataset("longmemeval", out, ["haystack"], ["lengths=16k", "samples=3"], seed=0, tokenizer="approx")
    return out


@pytest.fixture(scope="module")
def lme_episodes(lme) -> dict[str, Episode]:
    family = task_family("longmemeval")
    return {row["episode_id"]: family.episode(row) for row in pq.read_table(lme / "episodes.parquet").to_pylist()}


def _random_recall_any(lme, episodes: dict[str, Episode], k: int) -> float:
    """Expected recall_any@k of a uniformly random ranking: 1 - C(n - m, k) / C(n, k), per item."""
    family = task_family("longmemeval")
    values = []
    for row in pq.read_table(lme / "probes.parquet").to_pylist():
        relevant = family.evidence_ids(row)
        if relevant:
            n = len(episodes[row["episode_id"]].sessions)
            values.append(1 - math.comb(n - len(relevant), k) / math.comb(n, k))
    return sum(values) / len(values)


@pytest.mark.parametrize("granularity", ["session", "round"])
def test_bm25_recall_beats_random_ranking(lme, lme_episodes, tmp_path, granularity):
    preds, scores, manifest = _run(lme, f"retrieval[granularity={granularity}]:oracle", tmp_path / "run")
    assert manifest["condition"] == "in-memory" and manifest["counts"]["errors"] == 0
    chance = _random_recall_any(lme, lme_episodes, 5)
    recall5 = _mean(scores, "recall_any@5")
    # LongMemEval's retrieval metrics leave out abstention items (5) and items with no user turn marked
    # has_answer (the 2 answerable single-session-assistant ones: their evidence is the assistant's)
    assert scores.filter(pl.col("metric") == "recall_any@5").height == 11
    assert recall5 >= 0.6 and recall5 >= chance + 0.35, (recall5, chance)
    assert _mean(scores, "recall_any@10") >= recall5 and _mean(scores, "ndcg_any@10") > 0.5
    for row in preds.iter_rows(named=True):  # real ids of that episode, unique: sessions, or rounds' turn ids
        ids, seen = row["retrieved_ids"], {s["session_id"] for s in lme_episodes[row["episode_id"]].sessions}
        sessions = list(dict.fromkeys(i.rsplit("_", 1)[0] for i in ids)) if granularity == "round" else ids
        assert len(ids) == len(set(ids)) and len(sessions) == min(len(seen), 50) and set(sessions) <= seen
    fp = manifest["footprint"]
    assert fp["retriever"] == "bm25" and fp["granularity"] == granularity and fp["episodes_indexed"] == 18
    assert fp["k"] == {granularity: 5 if granularity == "session" else 10}
    assert fp["index_items"]["max"] >= fp["index_items"]["mean"] >= (30 if granularity == "session" else 60)
    assert fp["index_bytes"]["mean"] > 16_000 * 3  # at least the stored text of a 16k-token history
    system = manifest["system"]
    assert system["reader"]["name"] == "oracle" and system["granularity"] == granularity and system["time_filter"] is False


def test_the_reader_sees_the_top_k_sessions_in_date_order(lme, lme_episodes):
    """k=3: the context holds the three best-ranked sessions, oldest first, in the LongMemEval format,
    and the question comes without the in-memory opening (the history is in the prompt now)."""
    family = task_family("longmemeval")
    rows = pq.read_table(lme / "probes.parquet").to_pylist()[:4]
    system, echo = _retrieval("k=3")

    async def go():
        out = []
        for row in rows:
            episode = lme_episodes[row["episode_id"]]
            await system.ingest(episode)
            out.append((episode, await system.answer(family.probe(row, episode, Condition.IN_MEMORY))))
            await system.release(episode)
        return out

    for (episode, answer), probe in zip(asyncio.run(go()), echo.seen):
        assert probe.question.startswith("Current date:") and "what you remember" not in probe.question
        by_id = {s["session_id"]: s for s in episode.sessions}
        top = [by_id[i] for i in answer.retrieved_ids[:3]]
        dates = re.findall(r"Session date: (.+)", answer.text)
        assert dates == sorted((s["date"] for s in top), key=lambda d: (d[:10], d[-5:]))  # oldest first
        assert answer.text.startswith("Below are earlier chat sessions") and answer.text.count("### Session") == 3
        for s in top:
            assert json.dumps(s["turns"][0]["content"], ensure_ascii=False)[1:-1] in answer.text
        assert answer.prompt_tokens == len(probe.prompt_text().split())  # the reader's own usage
    assert not system._episodes  # released


def test_chunks_find_the_needle(tmp_path):
    """Needle episodes have no sessions: chunks by default; the reader is shown the needle (the real
    needle scorer, applied to what Echo was shown) for nearly every probe."""
    data = make_needle(tmp_path / "needle", ["single_2", "multikey_1"], ["lengths=4k", "depths=0,50,100", "samples=2"])
    preds, scores, manifest = _run(data, "retrieval[chunk_tokens=128,k=2]:python:test_retrieval:make_echo", tmp_path / "run")
    assert manifest["footprint"]["granularity"] == "chunk" and manifest["condition"] == "in-memory"
    assert preds.height == 12 and preds.get_column("error").null_count() == 12
    assert all(ids and all(re.fullmatch(r"chunk-\d+", i) for i in ids) for ids in preds.get_column("retrieved_ids").to_list())
    shown = scores.filter(pl.col("metric") == "string_match_all").get_column("value")
    assert shown.mean() >= 0.9, shown.to_list()
    # 2 chunks of ~128 tokens were read, not the 4k-token haystack
    assert preds.get_column("prompt_tokens").max() < 400


def test_fact_keys_come_from_the_reader_at_ingest(lme_episodes):
    """granularity=fact: one extraction call per session; a fact only the reader wrote (it is in no
    turn) makes its session the top hit, and the calls are counted as ingest cost."""
    episode = next(iter(lme_episodes.values()))
    target = episode.sessions[7]
    system, echo = _retrieval("granularity=fact")
    echo.WHEN = f"dated {target['date']}"
    probe = Probe(probe_id="p", episode_id=episode.episode_id, answer_prefix="", context=None, max_new_tokens=8,
                  question="Current date: 2023/12/31 (Sun) 10:00\nQuestion: What is my axolotl called?")

    async def go():
        await system.ingest(episode)
        return await system.answer(probe)

    answer = asyncio.run(go())
    assert answer.retrieved_ids[0] == f"{target['session_id']}_1"  # the turn id of the session's first round
    extraction = [p for p in echo.seen if p.context is None]
    assert len(extraction) == len(episode.sessions)
    assert all(target["turns"][0]["content"] in p.question for p in extraction if echo.WHEN in p.question)
    ingest = system.footprint()["ingest"]
    assert ingest["calls"] == len(episode.sessions) and ingest["facts"] == 1
    assert ingest["completion_tokens"] == 3 * len(episode.sessions)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did I buy yesterday?", (date(2023, 5, 19), date(2023, 5, 19))),
        ("Where did I go 3 days ago?", (date(2023, 5, 16), date(2023, 5, 18))),
        ("What did I cook two weeks ago?", (date(2023, 5, 3), date(2023, 5, 9))),
        ("What did I read a month ago?", (date(2023, 4, 5), date(2023, 5, 5))),
        ("What did we discuss last week?", (date(2023, 5, 6), date(2023, 5, 19))),
        ("What did I do last Saturday?", (date(2023, 5, 13), date(2023, 5, 13))),  # asked on a Saturday
        ("Which trips did I plan in the past 10 days?", (date(2023, 5, 10), date(2023, 5, 20))),
        ("Which concerts did I see in March?", (date(2023, 3, 1), date(2023, 3, 31))),
        ("What did I do in August?", (date(2022, 8, 1), date(2022, 8, 31))),  # the latest August: last year
        ("What happened on April 2nd?", (date(2023, 4, 1), date(2023, 4, 3))),
        ("What did I book last month?", (date(2023, 3, 29), date(2023, 5, 3))),
        ("What did I eat yesterday and 3 days ago?", (date(2023, 5, 16), date(2023, 5, 19))),  # the union
    ],
)
def test_time_expressions(question, expected):
    today = date(2023, 5, 20)  # a Saturday
    found = parse_range(question, today)
    assert found is not None and (found.start, found.end) == expected, found


@pytest.mark.parametrize("question", ["How many days ago did I buy a bike?", "What may I have said recently?",
                                      "Which happened first, the haircut or the sofa?", "What did I say about marketing?"])
def test_no_time_expression_means_no_filter(question):
    assert parse_range(question, date(2023, 5, 20)) is None


def test_question_date_is_read_from_the_rendered_question():
    assert question_date("Answer ...\n\nCurrent date: 2023/07/23 (Sun) 16:58\nQuestion: x") == date(2023, 7, 23)
    assert question_date("Question: no date here") is None


def test_time_filter_reads_only_sessions_in_range():
    """Three sessions on the same topic; "last Saturday" keeps the Saturday one; a range that holds no
    session leaves the ranking unfiltered."""
    def session(sid, day, what):
        return {"session_id": sid, "date": f"2023/05/{day:02d} (Mon) 10:00",
                "turns": [{"role": "user", "content": f"I went hiking {what}."}, {"role": "assistant", "content": "Nice!"}]}

    sessions = [session("a", 1, "at the lake"), session("b", 13, "in the hills"), session("c", 17, "by the sea")]
    episode = Episode("e", "longmemeval", "haystack", "", sessions=sessions)
    system, _ = _retrieval("time_filter=1,k=5")

    def ask(question):
        probe = Probe("p", "e", f"Current date: 2023/05/20 (Sat) 12:00\nQuestion: {question}", "", None, 8)
        return asyncio.run(system.answer(probe))

    asyncio.run(system.ingest(episode))
    filtered = ask("Where did I go hiking last Saturday?")
    assert filtered.retrieved_ids[0] == "b" and sorted(filtered.retrieved_ids) == ["a", "b", "c"]
    assert "in the hills" in filtered.text and "at the lake" not in filtered.text and filtered.text.count("### Session") == 1
    unfiltered = ask("Where did I go hiking in February?")  # nothing in February: no filter
    assert unfiltered.text.count("### Session") == 3


def test_dense_retrieval_with_a_tiny_llama_embedder(lme, lme_episodes, tmp_path):
    """Plumbing of embedder=hf: a random 2-layer Llama embeds keys on CPU; ids are real, the index is the
    embedding matrix (128 floats per session) plus the texts."""
    from tiny_models import make_tiny_llama

    model = make_tiny_llama(tmp_path / "tiny")
    preds, scores, manifest = _run(lme, f"retrieval[embedder=hf:{model},k=2]:oracle", tmp_path / "run", limit=4)
    assert manifest["counts"] == {"probes": 18, "predictions": 4, "errors": 0} and manifest["system"]["retriever"] == "dense"
    assert manifest["system"]["embedder"] == f"hf:{model}" and manifest["system"]["pooling"] == "mean"
    for row in preds.iter_rows(named=True):
        assert set(row["retrieved_ids"]) == {s["session_id"] for s in lme_episodes[row["episode_id"]].sessions}
    fp = manifest["footprint"]
    assert fp["retriever"] == "dense" and fp["index_bytes"]["max"] > fp["index_items"]["max"] * 128 * 4
    assert scores.filter(pl.col("metric") == "recall_any@10").height == 2  # two of the four are abstention items


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("k=0", "k=0 out of range"),
        ("k=two", "is not an integer"),
        ("granularity=bogus", "granularity must be one of session, round, fact, chunk"),
        ("retriever=dense", "retriever=dense needs embedder="),
        ("retriever=bm25,embedder=hf:x", "embedder options need retriever=dense"),
        ("embedder=word2vec:x", "embedder must be hf:PATH_OR_ID or openai:MODEL"),
        ("embedder=hf:x,embed_base_url=http://127.0.0.1:1/v1", "are for embedder=openai"),
        ("time_filter=2", "out of range"),
        ("chunk_tokens=4", "out of range"),
        ("depth=3", "unknown options depth"),
    ],
)
def test_bad_options_are_user_errors(options, message):
    with pytest.raises(UserError, match=re.escape(message)):
        make_system(f"retrieval[{options}]:oracle")


def test_missing_backends_are_one_line_errors(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("bm25s", "torch") else real(name, *a))
    with pytest.raises(UserError, match=r"retriever=bm25 needs the bm25s package; install it with `pip install bm25s`"):
        make_system("retrieval:oracle")
    with pytest.raises(UserError, match=r"embedder=hf needs the torch package"):
        make_system("retrieval[embedder=hf:x]:oracle")
    monkeypatch.undo()
    monkeypatch.delenv("LBS_TEST_NO_KEY", raising=False)
    with pytest.raises(UserError, match="set the API key for https://api.example.com/v1 in the environment variable LBS_TEST_NO_KEY"):
        make_system("retrieval[embedder=openai:e,embed_base_url=https://api.example.com/v1,embed_api_key_env=LBS_TEST_NO_KEY]:oracle")
    system = make_system(f"retrieval[embedder=hf:{tmp_path / 'missing'}]:oracle")
    with pytest.raises(UserError, match="cannot load embedder hf:"):
        asyncio.run(system.check())


def test_cli_refuses_a_bad_option_in_one_line(lme, tmp_path):
    line = one_line_error(lbs("run", lme, "-s", "retrieval[granularity=page]:oracle", "-o", tmp_path / "run"))
    assert "granularity must be one of" in line and not (tmp_path / "run").exists()


def test_session_granularity_needs_sessions(tmp_path):
    system = make_system("retrieval[granularity=round]:oracle")
    with pytest.raises(UserError, match="needs dated sessions"):
        asyncio.run(system.ingest(Episode("e", "needle", "single_1", "some text")))


@pytest.mark.server
def test_retrieval_lifts_the_embedded_model_above_its_no_context_floor(embedded_server, tmp_path):
    """18 LongMemEval items of the three types a 135M reader can answer from one session (facts the user
    said or the assistant suggested, knowledge updates), ~20 sessions each in the model's own tokens.
    Reading the best BM25 session (k=1: the prompt stays well inside the 2,048-token window) answers
    ~8/18 (measured: 0.44; k=2: 0.33, round k=3: 0.39); without the history it answers none."""
    data = tmp_path / "lme"
    params = ["lengths=8k", "samples=6", "abstention=0", "max_new_tokens=48",
              "types=single-session-user,single-session-assistant,knowledge-update"]
    generate_dataset("longmemeval", data, ["haystack"], params, seed=0, tokenizer="embedded")
    reader = f"embedded,base_url={embedded_server.base_url}"
    means, preds = {}, {}
    for name, spec in {"retrieval": f"retrieval[k=1]:{reader}", "floor": f"no-context:{reader}"}.items():
        res = lbs("run", data, "-s", spec, "-o", tmp_path / name, "--no-cache")
        assert res.returncode == 0, res.stderr
        preds[name] = pl.read_parquet(tmp_path / name / "predictions.parquet")
        assert preds[name].height == 18 and preds[name].get_column("error").null_count() == 18
        scores = pl.read_parquet(tmp_path / name / "scores.parquet")
        means[name] = {m: _mean(scores, m) for m in scores.get_column("metric").unique()}
        condition = json.loads((tmp_path / name / "run.json").read_text())["condition"]
        assert condition == ("in-memory" if name == "retrieval" else "no-context")
    # one retrieved session was read, and it fits the window with the answer budget
    assert 150 < preds["retrieval"].get_column("prompt_tokens").min() and preds["retrieval"].get_column("prompt_tokens").max() <= 2048 - 48
    assert preds["floor"].get_column("prompt_tokens").max() < 120
    assert means["retrieval"]["recall_any@5"] >= 0.8 and "recall_any@10" in means["retrieval"]  # recall is scored
    assert "recall_any@5" not in means["floor"]
    assert means["floor"]["lme_match"] <= 1 / 18, means  # at most one lucky guess
    assert means["retrieval"]["lme_match"] >= max(0.25, means["floor"]["lme_match"] + 0.2), means
