"""The offline news corpus (M4LE's default source): determinism, shape, paraphrased titles and
summaries, extractive answers, and cross-article uniqueness of entities and answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from data_builders.news_corpus import TOPICS, news_articles
from lbs_testutil import REPO

KEYS = {"id", "kind", "title", "label", "text", "summary", "question", "answer", "entity"}


@pytest.fixture(scope="module")
def big():
    return news_articles(11, 600)


def _words(s: str) -> int:
    return len(s.split())


def test_topics():
    assert TOPICS == ("business", "sports", "science", "health", "politics", "technology", "culture", "weather")


def test_deterministic_and_seed_sensitive():
    assert news_articles(3, 50) == news_articles(3, 50)
    a, b = news_articles(3, 50), news_articles(4, 50)
    assert [x["text"] for x in a] != [x["text"] for x in b]
    assert sum(x["text"] == y["text"] for x, y in zip(a, b)) == 0


def test_same_output_across_hash_seeds():
    code = ("import json; from data_builders.news_corpus import news_articles; "
            "print(json.dumps(news_articles(5, 120), sort_keys=True))")
    outs = []
    for hs in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
        outs.append(proc.stdout)
    assert outs[0] == outs[1] and json.loads(outs[0])


def test_fields_and_lengths(big):
    for i, art in enumerate(big):
        assert set(art) == KEYS
        assert art["id"] == f"news-{i + 1:04d}"
        assert art["label"] in TOPICS and art["kind"].startswith(art["label"] + "/")
        assert 100 <= _words(art["text"]) <= 220, art["text"]
        assert 5 <= _words(art["title"]) <= 12, art["title"]
        assert 15 <= _words(art["summary"]) <= 45, art["summary"]
        assert art["question"].endswith("?")
        assert isinstance(art["answer"], list) and art["answer"] and all(isinstance(a, str) and a for a in art["answer"])
        assert "!" not in art["text"] and "{" not in art["text"] and "}" not in art["text"]


def test_topic_balance():
    arts = news_articles(2, 400)
    assert [a["label"] for a in arts[:8]] == list(TOPICS)
    assert set(Counter(a["label"] for a in arts).values()) == {50}
    counts = Counter(a["label"] for a in news_articles(2, 13)).values()
    assert max(counts) - min(counts) <= 1


def test_titles_paraphrase_and_unique(big):
    titles = [a["title"] for a in big]
    assert len(set(titles)) == len(titles)
    for art in big:
        assert art["title"] not in art["text"]
        assert art["title"].lower() not in art["text"].lower()


def test_summary_paraphrase_with_entity(big):
    for art in big:
        assert art["summary"] not in art["text"]
        assert art["entity"] in art["summary"] and art["entity"] in art["text"]


def test_answer_extractive(big):
    for art in big:
        ans = art["answer"][0]
        assert art["text"].count(ans) == 1, (ans, art["text"])
        assert ans not in art["question"]


def test_cross_article_uniqueness(big):
    joined = "\n".join(a["text"] for a in big)
    for art in big:
        for key in (art["entity"], art["answer"][0]):
            # occurrences in the whole corpus are exactly those in the article's own text
            assert joined.count(key) == art["text"].count(key), (art["id"], key)
    assert len({a["entity"] for a in big}) == len(big)
    assert len({a["answer"][0] for a in big}) == len(big)


def test_cross_article_uniqueness_pairwise():
    arts = news_articles(23, 120)
    for i, a in enumerate(arts):
        for j, b in enumerate(arts):
            if i != j:
                assert a["entity"] not in b["text"] and a["answer"][0] not in b["text"]


def test_kinds_per_topic():
    kinds = defaultdict(set)
    for art in news_articles(8, 400):
        kinds[art["label"]].add(art["kind"])
    assert set(kinds) == set(TOPICS)
    assert all(len(k) >= 4 for k in kinds.values()), kinds


def test_several_seeds_full_size_and_fast():
    import time

    t = time.perf_counter()
    arts = news_articles(99, 600)
    assert time.perf_counter() - t < 1.5
    assert len(arts) == 600
    for seed in (0, 1, 2):
        assert len(news_articles(seed, 600)) == 600


def test_rows_feed_the_m4le_converter():
    from data_builders.m4le import instances_from_rows

    cols = {r: r for r in ("text", "label", "title", "summary", "question", "answer", "target")}
    inst = instances_from_rows(news_articles(4, 16), cols, "news")
    assert len(inst) == 16
    assert inst[0].answers and inst[0].label in TOPICS and inst[0].title and inst[0].summary and inst[0].question
