"""M4LE conversions: packing into buckets, markers, the five abilities' gold, determinism, baselines,
a local jsonl source through a column mapping, the official import, and the offline default source."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import polars as pl
import pytest

from data_builders import m4le as conv
from lbs_testutil import REPO, lbs, one_line_error
from longbench_suite import io, metrics
from longbench_suite.generate import generate_dataset

TOPICS = ("sport", "money", "art", "science")
WORDS = "alpha beta gamma delta river stone cloud lamp maple cedar orbit pixel tundra quartz ember".split()
MAPPING = "text=body,label=topic,title=headline,summary=highlights,question=q,answer=a,target=de"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A short-task jsonl with columns named unlike our roles: 240 rows of 60-110 words."""
    import random

    r = random.Random(7)
    path = tmp_path_factory.mktemp("src") / "short.jsonl"
    with open(path, "w") as fh:
        for i in range(240):
            body = " ".join(r.choice(WORDS) for _ in range(r.randrange(60, 110))) + f" The winner was Zed{i}x."
            fh.write(json.dumps({
                "body": body, "topic": TOPICS[i % 4], "headline": f"Headline {i} on {TOPICS[i % 4]}",
                "highlights": f"Zed{i}x won the {TOPICS[i % 4]} prize with {r.choice(WORDS)}.",
                "q": f"Who won story {i}?", "a": [f"Zed{i}x"], "de": f"Zed{i}x gewann den Preis.",
            }) + "\n")
    return path


@pytest.fixture(scope="module")
def built(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("m4le") / "ds"
    res = lbs("build", "m4le", "--source", source, "--columns", MAPPING, "-o", out,
              *[a for t in conv.TASK_TYPES for a in ("--task-type", t)], "-p", "buckets=1k,2k", "-p", "samples=4")
    assert res.returncode == 0, res.stderr
    return io.Dataset(out)


def _rows(ds):
    episodes = {r["episode_id"]: r for r in ds.episodes.to_pylist()}
    return [(episodes[p["episode_id"]], {**p, "meta": json.loads(p["meta"])}) for p in ds.probes.to_pylist()]


def test_every_supported_pair_and_bucket_is_built(built):
    got = pl.from_arrow(built.probes.select(["variant", "ability", "length"])).group_by(["variant", "ability", "length"]).len()
    expected = {(t, a, b) for t, abilities in conv.SUPPORTED.items() for a in abilities for b in (1000, 2000)}
    assert {tuple(r[:3]) for r in got.iter_rows()} == expected
    assert set(got.get_column("len")) == {4}


def test_lengths_lie_in_their_buckets(built):
    for episode, probe in _rows(built):
        total = len(episode["text"].split()) + len(probe["question"].split())
        lo = conv.bucket_floor(probe["length"])
        assert lo == {1000: 0, 2000: 1000}[probe["length"]]  # 1k words = 1,000 words, as M4LE counts
        assert lo < total <= probe["length"], (probe["probe_id"], total)
        assert total == probe["meta"]["total"]
        assert total > 0.75 * probe["length"]  # packed full, not one instance in a big bucket


def _blocks(text: str) -> dict[str, str]:
    """marker -> passage text, from the rendered context."""
    return dict(re.findall(r"\[([0-9A-F]{6})\]\n(.*?)(?=\n\n\[|\Z)", text, re.S))


def test_markers_unique_and_the_referenced_instance_occurs_once(built):
    for episode, probe in _rows(built):
        markers = probe["meta"]["markers"]
        assert len(set(markers)) == len(markers) and all(re.fullmatch(r"[0-9A-F]{6}", m) for m in markers)
        blocks = _blocks(episode["text"])
        assert list(blocks) == markers
        for t in probe["meta"]["target"]:
            assert episode["text"].count(f"[{markers[t]}]") == 1
        if probe["ability"] == "explicit-single":
            named = re.findall(r"\[([0-9A-F]{6})\]", probe["question"])
            assert named == [markers[probe["meta"]["target"][0]]]


def test_gold_is_exactly_what_the_packed_instances_imply(built, source):
    rows = [json.loads(line) for line in open(source)]
    by_body = {" ".join(r["body"].split()): r for r in rows}
    for episode, probe in _rows(built):
        blocks = _blocks(episode["text"])
        src = {m: by_body[text.strip()] for m, text in blocks.items()}
        task, ability, gold = probe["variant"], probe["ability"], probe["gold"]
        q = probe["question"]
        if task == "classification" and ability == "explicit-multiple":
            label = re.search(r'category is "(\w+)"', q).group(1)
            # M4LE's gold for a list: one answer, the markers separated by ", " (cls_f1 splits it)
            (joined,) = gold
            assert set(joined.split(", ")) == {m for m, r in src.items() if r["topic"] == label}
            assert 0 < len(joined.split(", ")) < len(src) or len({r["topic"] for r in src.values()}) > 1
        elif task == "classification" and ability == "semantic-multiple":
            label = re.search(r'about "(\w+)"', q).group(1)
            assert gold == [str(sum(r["topic"] == label for r in src.values()))]
        elif task == "classification" and ability == "semantic-single":
            title = re.search(r'headline would be "([^"]+)"', q).group(1)
            matches = [r for r in src.values() if r["headline"] == title]
            assert len(matches) == 1 and gold == [matches[0]["topic"]]
            assert title not in episode["text"]
        elif task == "qa" and ability == "semantic-single":
            matches = [r for r in src.values() if r["q"] in q]
            assert len(matches) == 1 and gold == matches[0]["a"]
            assert sum(gold[0] in text for text in blocks.values()) == 1
        elif task == "retrieval":
            summary = re.search(r'describe: "([^"]+)"', q).group(1)
            assert gold == [m for m, r in src.items() if r["highlights"] == summary]
        elif task == "summarization" and ability == "global":
            assert gold == [" ".join(src[m]["highlights"] for m in blocks)]
        elif ability == "explicit-single":
            (m,) = re.findall(r"\[([0-9A-F]{6})\]", q)
            want = {"classification": [src[m]["topic"]], "qa": src[m]["a"], "summarization": [src[m]["highlights"]],
                    "translation": [src[m]["de"]]}[task]
            assert gold == want


def test_same_seed_same_bytes_across_processes(source, tmp_path):
    script = ("import sys; from data_builders.m4le import parse_columns, read_source; "
              "from longbench_suite.generate import generate_dataset as g; "
              f"pool = read_source(sys.argv[2], parse_columns({MAPPING!r})); "
              "g('m4le', sys.argv[1], ['classification', 'qa'], ['buckets=1k', 'samples=3'], seed=3, inputs=pool)")
    for name, hashseed in (("a", "1"), ("b", "2")):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name), str(source)], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONHASHSEED": hashseed}, capture_output=True)
    for f in ("episodes.parquet", "probes.parquet", "manifest.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_position_markers(source, tmp_path):
    pool = conv.read_source(str(source), conv.parse_columns(MAPPING))
    generate_dataset("m4le", tmp_path / "p", ["retrieval", "classification"], ["buckets=1k", "samples=3", "marker=position"],
                     seed=0, inputs=pool)
    ds = io.Dataset(tmp_path / "p")
    for episode, probe in _rows(ds):
        n = len(probe["meta"]["markers"])
        assert probe["meta"]["markers"] == [f"Article {i}" for i in range(1, n + 1)]
        assert all(f"Article {i}:\n" in episode["text"] for i in range(1, n + 1))
        if probe["variant"] == "retrieval":
            assert metrics.contains_any(probe["gold"][0].split()[-1], probe["gold"]) == 1.0


def test_oracle_is_one_per_ability_and_random_and_no_context_are_low(built, tmp_path):
    res = lbs("run", built.path, "-s", "oracle", "-o", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    agg = pl.read_parquet(tmp_path / "o" / "aggregates.parquet").filter(pl.col("primary"))
    per = agg.filter(pl.col("ability").is_not_null() & pl.col("variant").is_null() & pl.col("length").is_null())
    assert set(per.get_column("ability")) == set(conv.ABILITIES) | {"task-averaged"}
    assert per.get_column("mean").to_list() == [1.0] * per.height
    res = lbs("run", built.path, "-s", "random", "-o", tmp_path / "r")
    assert res.returncode == 0, res.stderr
    # the primary rows only: a BLEU probe also has its corpus statistics as score rows
    scores = pl.read_parquet(tmp_path / "r" / "scores.parquet").join(
        pl.from_arrow(built.probes.select(["probe_id", "chance", "metric"])), on=["probe_id", "metric"])
    # random scores its recorded chance on average, and that is far below the oracle
    assert abs(scores.get_column("value").mean() - scores.get_column("chance").mean()) < 0.1
    assert scores.get_column("value").mean() < 0.4
    res = lbs("run", built.path, "-s", "constant,text=I cannot tell", "-o", tmp_path / "c")
    assert res.returncode == 0, res.stderr
    constant = pl.read_parquet(tmp_path / "c" / "scores.parquet").join(
        pl.from_arrow(built.probes.select(["probe_id", "metric"])), on=["probe_id", "metric"])
    assert constant.get_column("value").max() < 0.2


def test_bad_mappings_and_tasks_are_clear_errors(source, tmp_path):
    base = ["build", "m4le", "--source", source, "-o", tmp_path / "x"]
    assert "needs a label column" in one_line_error(lbs(*base, "--task-type", "classification", "--columns", "text=body"))
    assert "bad column mapping" in one_line_error(lbs(*base, "--task-type", "qa", "--columns", "txt=body"))
    assert "no text column" in one_line_error(lbs(*base, "--task-type", "qa", "--columns", "text=nope"))
    line = one_line_error(lbs(*base, "--task-type", "qa", "--columns", MAPPING, "--ability", "global"))
    assert "qa supports explicit-single, semantic-single" in line
    assert "unknown variant 'poetry'" in one_line_error(lbs(*base, "--task-type", "poetry", "--columns", MAPPING))
    line = one_line_error(lbs(*base, "--task-type", "qa", "--columns", MAPPING, "-p", "buckets=64k", "--limit", "20"))
    assert "cannot pack" in line
    assert not (tmp_path / "x").exists()


def test_official_import(tmp_path):
    items = [
        {"instruction": "Which news belong to class sports? Answer with the ids.", "input": "[A1B2C3] ... [D4E5F6] ...",
         "answers": ["A1B2C3", "D4E5F6"], "input_length": 1200, "total_length": 1230, "length_bucket": 2000},
        {"instruction": "Which news belong to class arts?", "input": "[0F0F0F] ...", "answers": ["0F0F0F"],
         "input_length": 900, "total_length": 920, "length_bucket": 1000},
    ]
    path = tmp_path / "mnds-news_explicit-multiple.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    res = lbs("import", "m4le", path, "-o", tmp_path / "ds")
    assert res.returncode == 0, res.stderr
    ds = io.Dataset(tmp_path / "ds")
    probes = ds.probes.to_pylist()
    assert [p["ability"] for p in probes] == ["explicit-multiple"] * 2
    assert [p["metric"] for p in probes] == ["cls_f1"] * 2 and [p["length"] for p in probes] == [2000, 1000]
    assert probes[0]["gold"] == ["A1B2C3", "D4E5F6"] and probes[0]["question"] == items[0]["instruction"]
    assert ds.episodes.column("text").to_pylist() == [i["input"] for i in items]
    assert json.loads(probes[0]["meta"])["total_length"] == 1230
    summ = tmp_path / "arxiv.jsonl"
    summ.write_text(json.dumps({"instruction": "Summarise.", "input": "x", "answers": ["a long abstract " * 10]}) + "\n")
    assert lbs("import", "m4le", summ, "-o", tmp_path / "s").returncode == 0
    assert io.Dataset(tmp_path / "s").probes.column("metric")[0].as_py() == "rouge_l_recall"
    # a file M4LE does not have: its metric must be given (no guessing)
    other = tmp_path / "my_task.jsonl"
    other.write_text(summ.read_text())
    assert "not one of M4LE's tasks" in one_line_error(lbs("import", "m4le", other, "-o", tmp_path / "m"))
    assert lbs("import", "m4le", other, "--metric", "rouge_l_recall", "-o", tmp_path / "m").returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": "q", "input": "x"}) + "\n")
    assert "missing field(s) answers" in one_line_error(lbs("import", "m4le", bad, "-o", tmp_path / "b"))


def test_bucket_floor_is_the_previous_m4le_bucket():
    assert [conv.bucket_floor(b) for b in (1000, 2000, 4000, 6000, 8000, 16000, 128000)] == [0, 1000, 2000, 4000, 6000, 8000, 64000]
    assert [conv.bucket_floor(b, "tokens") for b in (1024, 6144, 8192)] == [0, 4096, 6144]
    assert conv.bucket_floor(3000) == 1500 and conv.bucket_floor(512) == 0
    assert conv.bucket_size(1024, "words") == 1000 and conv.bucket_size(6144, "words") == 6000
    assert conv.bucket_size(1024, "tokens") == 1024 and conv.bucket_size(1500, "words") == 1500


def test_missing_values_class_labels_nested_columns_and_abstractive_qa(tmp_path):
    """Real sources: rows missing a needed value are left out; integer ClassLabels become their names;
    a dotted mapping reaches into a nested column; abstractive answers (not in the text) are asked."""
    import datasets

    words = " ".join(WORDS * 6)
    rows = {
        "body": [f"{words} item {i}." for i in range(120)],
        "topic": [i % 3 if i % 10 else None for i in range(120)],
        "pair": [{"de": f"{words} Stück {i}.", "en": f"piece {i}"} for i in range(120)],
        "q": [f"What is item {i} about?" for i in range(120)],
        "free": [f"a made-up summary number {i}" for i in range(120)],
    }
    features = datasets.Features({
        "body": datasets.Value("string"), "topic": datasets.ClassLabel(names=["World", "Sports", "Business"]),
        "pair": {"de": datasets.Value("string"), "en": datasets.Value("string")},
        "q": datasets.Value("string"), "free": datasets.Value("string"),
    })
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "src"))
    pool = conv.read_source(str(tmp_path / "src"), conv.parse_columns("text=body,label=topic,question=q,answer=free"))
    assert {x.label for x in pool} == {"World", "Sports", "Business", None}
    # no title column: semantic-single classification is skipped by default
    generate_dataset("m4le", tmp_path / "c", ["classification", "qa"], ["buckets=1k", "samples=3"], seed=0, inputs=pool)
    probes = io.Dataset(tmp_path / "c").probes.to_pylist()
    assert all(g in ("World", "Sports", "Business") or g.isdigit() or re.fullmatch(r"[0-9A-F]{6}(, [0-9A-F]{6})*", g)
               for p in probes if p["variant"] == "classification" for g in p["gold"])
    assert [p["gold"][0].startswith("a made-up summary") for p in probes if p["variant"] == "qa"] == [True] * 6
    assert {p["ability"] for p in probes if p["variant"] == "classification"} == {"explicit-single", "explicit-multiple", "semantic-multiple"}
    pool = conv.read_source(str(tmp_path / "src"), conv.parse_columns("text=pair.de,target=pair.en"))
    assert pool[3].text.endswith("Stück 3.") and pool[3].target == "piece 3"


def test_the_task_table_covers_m4le_s_files():
    """Every file M4LE's data/create_*_data.py writes (39 files: 36 tasks, three translation pairs) is
    in the table, with evaluation.py's metric; aliases are its other spellings."""
    files = ("arxiv bigpatent_global_cls bigpatent_global_sum booksum c3 cepsum clts cnewsum cnnnews drcd_explicit-single "
             "drcd_semantic-single duorc dureader hotpotqa lcsts marc mnds-news_explicit-single mnds-news_explicit-multiple "
             "mnds-news_semantic-multiple ncls news-commentary-en2zh news-commentary-zh2en news2016 newsqa nq-open "
             "online-shopping open-subtitles-en2zh open-subtitles-zh2en pubmed tedtalks-en2zh tedtalks-zh2en "
             "thucnews_explicit-single thucnews_explicit-multiple thucnews_semantic-multiple triviaqa wiki2019zh wikihow "
             "wikitext-103 wow").split()
    assert len(files) == 39 and all(conv.official_task(f) for f in files)
    assert {conv.official_task(f)["name"] for f in files} == set(conv.task_table()[0]) - {
        "clts", *(a for e in conv.task_table()[0].values() for a in e.get("aliases", ()))}
    assert conv.official_task("clts")["name"] == "clts+"
    assert conv.official_task("mnds-news_semantic-multiple_cls+cnt")["metric"] == "exact_match"
    # spot checks against evaluation.py's table (metric, lang, end tokens)
    assert {k: conv.official_task("cnewsum")[k] for k in ("metric", "lang", "end_tokens")} == {
        "metric": "rouge_l_recall", "lang": "zh", "end_tokens": ["\n", "新闻"]}
    assert conv.official_task("wow")["end_tokens"] == [",", "\n"]
    assert conv.official_task("bigpatent_global_cls")["end_tokens"] == [":"]
    assert conv.official_task("online-shopping")["preprocess"] == {"response_until": "。", "split": "，"}
    assert conv.official_task("tedtalks-en2zh")["metric"] == "bleu" and conv.official_task("tedtalks-en2zh")["lang"] == "zh"
    # every conversion points at a task of the table
    for by_language in conv.task_table()[1].values():
        assert all(conv.official_task(name) for name in by_language.values())


def test_offline_news_corpus_conversion(tmp_path):
    """`lbs generate m4le` packs the project's news corpus: every task type it has (not translation) in
    every ability, semantic questions name headlines and summaries that are not in the context."""
    ds = _gen_news(tmp_path)
    got = {(p["variant"], p["ability"]) for p in ds.probes.to_pylist()}
    assert got == {(t, a) for t in ("classification", "qa", "summarization", "retrieval") for a in conv.SUPPORTED[t]}
    for episode, probe in _rows(ds):
        if probe["ability"] == "semantic-single" and probe["variant"] in ("classification", "summarization"):
            title = re.search(r'headline would be "([^"]+)"', probe["question"]).group(1)
            assert title not in episode["text"]
        if probe["variant"] == "retrieval":
            summary = re.search(r'describe: "([^"]+)"', probe["question"]).group(1)
            assert summary not in episode["text"]
    res = lbs("run", ds.path, "-s", "oracle", "-o", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    assert pl.read_parquet(tmp_path / "o" / "scores.parquet").get_column("value").min() == 1.0
    assert "translation" in one_line_error(lbs("generate", "m4le", "-v", "translation", "-o", tmp_path / "t"))


def _gen_news(tmp_path):
    generate_dataset("m4le", tmp_path / "news", None, ["buckets=1k,2k", "samples=2", "articles=200"], seed=1)
    return io.Dataset(tmp_path / "news")


def test_default_buckets_are_m4le_s_up_to_what_the_source_fills(source, tmp_path):
    pool = conv.read_source(str(source), conv.parse_columns(MAPPING))
    words = sum(len(x.text.split()) for x in pool)  # ~20k words: the 32k bucket's floor (16k) is reachable, 64k's not
    generate_dataset("m4le", tmp_path / "d", ["retrieval"], ["samples=1"], seed=0, inputs=pool)
    lengths = sorted(io.Dataset(tmp_path / "d").probes.column("length").to_pylist())
    expected = [k * 1000 for k in (1, 2, 4, 8, 16, 32, 64, 128) if conv.bucket_floor(k * 1000) < 0.9 * words]
    assert lengths == expected and expected[-1] == 32000
