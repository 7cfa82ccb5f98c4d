"""M4LE parity: each metric as KwanWaiChung/M4LE's evaluation.py computes it (read at 47c2af9), with
expected values derived by hand from its rules, including where our earlier scorer differed; imports
of hand-written files in M4LE's layout; the prompt order; Chinese lengths in characters; corpus BLEU
through `lbs run` and `lbs aggregate`.

The rules, from evaluation.py and the libraries it calls:
- the response is cut at each end token in turn (what precedes the first occurrence, stripped);
- ROUGE-L recall, English: the `rouge` package. Sentences are split on ".", words on spaces, case is
  kept, nothing is stemmed, punctuation stays in the word. Summary level: for each reference sentence
  the union of its LCS with every response sentence; words counted once (sets): recall = |union| / m,
  m = the number of distinct words of the reference;
- ROUGE-L recall, Chinese: `rouge-chinese` over jieba's words: one LCS of the two word lists / the
  reference's word count;
- acc: a reference, lower-cased, is a substring of the lower-cased response;
- exact_match: a reference equals the response (lower-cased, stripped);
- cls_f1: F1 of the set of items of the response's first sentence and the set of the first reference's items;
- BLEU: corpus BLEU per bucket, 4-grams, no smoothing, brevity penalty from the shortest reference.
"""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

from data_builders import m4le as conv
from lbs_testutil import lbs
from longbench_suite import io, metrics
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Condition
from tasks.m4le import FAMILY


def score(task: str, output: str, gold: list[str]) -> float:
    """The primary score of `output` under an official task's rule from the table."""
    rule = conv.scoring(conv.official_task(task))
    values = metrics.m4le_score(output, gold, rule["metric"], rule["lang"], rule["end_tokens"], rule["preprocess"])
    return values[rule["metric"]]


# --- ROUGE-L recall, English ---------------------------------------------------------------------

def test_rouge_english_is_case_sensitive_and_unstemmed():
    # reference words {the, dog, ran}: m = 3. Response "The dogs ran": "The" != "the", "dogs" != "dog",
    # LCS = [ran] -> 1/3. (Our earlier scorer lower-cased and stemmed: 3/3.)
    assert score("cnnnews", "The dogs ran", ["the dog ran"]) == pytest.approx(1 / 3)


def test_rouge_english_splits_sentences_on_periods():
    # reference "the cat sat on the mat": one sentence, distinct words {the, cat, sat, on, mat}: m = 5.
    # Response sentences "mat" and "the cat": LCS with the reference [mat] and [the, cat]; union
    # {mat, the, cat} = 3 -> 3/5 = 0.6. (One LCS over the whole response would give "the cat" = 2 of 6.)
    assert score("arxiv", "mat. the cat", ["the cat sat on the mat"]) == pytest.approx(0.6)


def test_rouge_english_keeps_punctuation_in_words():
    # "cat," is not "cat": LCS [the, sat] of m = 3 words -> 2/3
    assert score("pubmed", "the cat, sat", ["the cat sat"]) == pytest.approx(2 / 3)


def test_rouge_best_reference_and_the_whole_item_fails_on_an_empty_one():
    # max over references: "the cat" recalls all of "the cat" (1.0) and 1 of {a, cat, slept} (1/3)
    assert score("booksum", "the cat", ["a cat slept", "the cat"]) == pytest.approx(1.0)
    # a reference with no sentence (".") raises ValueError in the library; evaluation.py's try holds
    # every reference, so the item scores 0 even though another reference matched in full
    assert score("booksum", "the cat", ["the cat", "."]) == 0.0
    # an empty response (or one the end tokens empty) raises too: 0
    assert score("cnnnews", "", ["the cat"]) == 0.0
    assert score("cnnnews", "\nthe cat", ["the cat"]) == 0.0


def test_rouge_end_token_cut():
    # cnnnews ends at the first newline: "the dog ran" against {the, cat, sat}: LCS [the] -> 1/3.
    # Uncut, the whole text "the dog ran the cat sat" holds "the cat sat": 3/3.
    assert score("cnnnews", "the dog ran\nthe cat sat", ["the cat sat"]) == pytest.approx(1 / 3)
    assert metrics.rouge_l_recall("the dog ran\nthe cat sat", ["the cat sat"], "en") == pytest.approx(1.0)


# --- ROUGE-L recall, Chinese (jieba words) --------------------------------------------------------

def test_rouge_chinese_over_jieba_words():
    jieba = metrics._jieba()
    # jieba's segmentation of these texts (the facts the values rest on)
    assert list(jieba.cut("我爱北京天安门")) == ["我", "爱", "北京", "天安门"]
    assert list(jieba.cut("我爱天安门")) == ["我", "爱", "天安门"]
    assert list(jieba.cut("北京")) == ["北京"] and list(jieba.cut("北")) == ["北"]
    # reference words [我, 爱, 北京, 天安门] (4); response [我, 爱, 天安门]: LCS 3 -> 3/4
    # (per character it would be 5 of 7)
    assert score("lcsts", "我爱天安门", ["我爱北京天安门"]) == pytest.approx(0.75)
    # the word 北京 is not the word 北: LCS 0 -> 0.0 (per character 1.0, our earlier scorer)
    assert score("lcsts", "北京", ["北"]) == 0.0


def test_rouge_chinese_end_tokens_and_quotes():
    # cnewsum also ends at "新闻": "我爱北京天安门新闻..." is cut to 我爱北京天安门 -> 4/4
    assert score("cnewsum", "我爱北京天安门新闻联播", ["我爱北京天安门"]) == pytest.approx(1.0)
    # news2016 keeps what the response put in double quotes: 北京 against 北京 -> 1.0
    assert score("news2016", '标题是"北京" 其他', ["北京"]) == pytest.approx(1.0)
    # only the quoted part counts: "天安门" against 北京 -> 0 (the whole response holds 北京: 1.0)
    assert score("news2016", '"天安门" 在北京', ["北京"]) == 0.0
    assert metrics.rouge_l_recall('"天安门" 在北京', ["北京"], "zh") == pytest.approx(1.0)


# --- acc, exact_match, cls_f1 --------------------------------------------------------------------

def test_acc_is_a_lowercased_substring_after_the_cut():
    # triviaqa ends at "\n" and ".": "It is Paris" does not contain "london" -> 0 (uncut it would)
    assert score("triviaqa", "It is Paris. Not London", ["london"]) == 0.0
    # a plain substring, case ignored: "Parisian" contains "paris" (a whole-word match would not)
    assert score("nq-open", "PARISIAN food", ["Paris"]) == 1.0
    # wow ends at "," as well: the first id only
    assert score("wow", "A1B2C3, D4E5F6", ["D4E5F6"]) == 0.0
    assert score("wow", "A1B2C3, D4E5F6", ["A1B2C3"]) == 1.0


def test_exact_match_counts_and_ids():
    # mnds-news_semantic-multiple: the answer "2." becomes "2"; the response is cut at "." -> "2"
    assert score("mnds-news_semantic-multiple", "2. There are two.", ["2."]) == 1.0
    # "There are 2" is not "2" (a first-number rule would accept it)
    assert score("mnds-news_semantic-multiple", "There are 2.", ["2."]) == 0.0
    assert score("wikitext-103", "A1B2C3.", ["a1b2c3"]) == 1.0  # case ignored
    assert score("wiki2019zh", "答案是A1B2C3。", ["A1B2C3"]) == 0.0


def test_cls_f1_first_sentence_comma_lists():
    # mnds-news_explicit-multiple: first sentence "A1B2C3, 0F0F0F" -> {A1B2C3, 0F0F0F}; gold
    # {A1B2C3, D4E5F6}: one hit, P 1/2, R 1/2 -> F1 1/2 (D4E5F6 after the period does not count)
    assert score("mnds-news_explicit-multiple", "A1B2C3, 0F0F0F. D4E5F6 too", ["A1B2C3, D4E5F6"]) == pytest.approx(0.5)
    # marc cuts the gold at "." too: {A1B2C3, D4E5F6}; response {D4E5F6}: P 1, R 1/2 -> 2/3
    assert score("marc", "D4E5F6", ["A1B2C3, D4E5F6."]) == pytest.approx(2 / 3)


def test_cls_f1_full_width_comma():
    # thucnews_explicit-multiple: the first sentence ends at "。" and splits on the full-width "，"
    assert score("thucnews_explicit-multiple", "A1B2C3，D4E5F6。其他", ["A1B2C3，D4E5F6"]) == 1.0
    # half-width commas are not separators there: one item "A1B2C3, D4E5F6" -> no hit -> 0
    assert score("thucnews_explicit-multiple", "A1B2C3, D4E5F6。", ["A1B2C3，D4E5F6"]) == 0.0
    assert score("online-shopping", "D4E5F6", ["A1B2C3，D4E5F6"]) == pytest.approx(2 / 3)


# --- BLEU ------------------------------------------------------------------------------------------

def _corpus(task: str, pairs: list[tuple[str, list[str]]]) -> float:
    rule = conv.scoring(conv.official_task(task))
    totals = [0.0] * len(metrics.BLEU_STATS)
    for output, gold in pairs:
        values = metrics.m4le_score(output, gold, "bleu", rule["lang"], rule["end_tokens"], rule["preprocess"])
        totals = [t + values[f"bleu.{s}"] for t, s in zip(totals, metrics.BLEU_STATS)]
    return metrics.corpus_bleu(totals)


def test_corpus_bleu_is_not_the_mean_of_sentence_bleu():
    pairs = [("the cat sat on the mat", ["the cat sat on the mat"]), ("a b c d", ["a b x d"])]
    # pair 1: every n-gram matches (6, 5, 4, 3 of 6, 5, 4, 3); pair 2: 1-grams a, b, d (3 of 4), 2-gram
    # "a b" (1 of 3), no 3- or 4-gram (0 of 2, 0 of 1): its own BLEU is 0. Lengths equal: no penalty.
    # Corpus: (9/10 * 6/8 * 4/6 * 3/4) ** (1/4) = 0.7622; the mean of the two sentences' BLEU is 0.5.
    expected = (9 / 10 * 6 / 8 * 4 / 6 * 3 / 4) ** 0.25
    assert _corpus("news-commentary-zh2en", pairs) == pytest.approx(expected, abs=1e-12)
    sentence = [metrics.bleu(o, g, "en") for o, g in pairs]
    assert sentence == [pytest.approx(1.0), 0.0]


def test_corpus_bleu_brevity_penalty_and_shortest_reference():
    # lengths 6 + 2 = 8 against 6 + 3 = 9, every n-gram matched (8, 6, 4, 3): BLEU = exp(1 - 9/8)
    pairs = [("the cat sat on the mat", ["the cat sat on the mat"]), ("the cat", ["the cat sat"])]
    assert _corpus("tedtalks-zh2en", pairs) == pytest.approx(math.exp(1 - 9 / 8), abs=1e-12)
    # two references of 6 and 2 tokens: M4LE takes the shortest (2 < 5 tokens: no penalty) -> 1.0,
    # where sacrebleu's closest reference (6) would give exp(1 - 6/5)
    assert _corpus("open-subtitles-zh2en", [("the cat sat on the", ["the cat sat on the mat", "the cat"])]) == pytest.approx(1.0)


def test_corpus_bleu_chinese_characters():
    # sacrebleu's zh tokens: one per character. 今天天气很好 vs 今天天气不错: 1-grams 4/6, 2-grams 3/5,
    # 3-grams 2/4, 4-grams 1/3 -> (4/6 * 3/5 * 2/4 * 1/3) ** (1/4) = 0.5081
    expected = (4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert _corpus("news-commentary-en2zh", [("今天天气很好", ["今天天气不错"])]) == pytest.approx(expected, abs=1e-12)


# --- import: the table, not guesses ----------------------------------------------------------------

def _write(path, items):
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    return path


def _import(tmp_path, name, items):
    out = tmp_path / name
    res = lbs("import", "m4le", _write(tmp_path / f"{name}.jsonl", items), "-o", out)
    assert res.returncode == 0, res.stderr
    return io.Dataset(out)


MARC = {"instruction": "Return the ids of all the positive reviews, separated by commas.",
        "input": "Review A1B2C3: Great.\nReview D4E5F6: 很好。\nReview 0F0F0F: Broken.\nAnswer:",
        "answers": ["A1B2C3, D4E5F6."], "input_length": 980, "total_length": 982, "length_bucket": 1000}
LCSTS = {"instruction": "请为指定的新闻写摘要。", "input": "新闻A1B2C3：我爱北京天安门，天安门上太阳升。\n答案：",
         "answers": ["我爱北京天安门"], "input_length": 1900, "total_length": 1907, "length_bucket": 2000}
CNN = {"instruction": "Summarize the article with id A1B2C3.", "input": "Article A1B2C3: The dog ran.\nAnswer:",
       "answers": ["the dog ran"], "input_length": 900, "total_length": 903, "length_bucket": 1000}


@pytest.mark.parametrize("name,item,ability,metric,scoring", [
    ("marc", MARC, "explicit-multiple", "cls_f1",
     {"task": "marc", "metric": "cls_f1", "lang": "en", "end_tokens": [],
      "preprocess": {"response_until": ".", "answer_until": ".", "split": ","}}),
    ("lcsts", LCSTS, "explicit-single", "rouge_l_recall",
     {"task": "lcsts", "metric": "rouge_l_recall", "lang": "zh", "end_tokens": ["\n"], "preprocess": None}),
    ("cnnnews", CNN, "explicit-single", "rouge_l_recall",
     {"task": "cnnnews", "metric": "rouge_l_recall", "lang": "en", "end_tokens": ["\n"], "preprocess": None}),
])
def test_import_files_without_an_ability_suffix(tmp_path, name, item, ability, metric, scoring):
    """marc, lcsts and cnnnews name no ability: the table gives it (README: marc explicit multiple,
    lcsts and cnnnews explicit single), with evaluation.py's metric, language and end tokens."""
    ds = _import(tmp_path, name, [item])
    (probe,) = ds.probes.to_pylist()
    assert (probe["ability"], probe["metric"], probe["variant"]) == (ability, metric, name)
    assert json.loads(probe["meta"])["scoring"] == scoring


def test_import_alias_and_counting_answer(tmp_path):
    item = {**CNN, "answers": ["2."], "instruction": "How many articles are about sport?"}
    ds = _import(tmp_path, "mnds-news_semantic-multiple_cls+cnt", [item])  # evaluation.py's spelling
    (probe,) = ds.probes.to_pylist()
    assert (probe["variant"], probe["ability"], probe["metric"]) == ("mnds-news_semantic-multiple", "semantic-multiple", "exact_match")
    ds = _import(tmp_path, "clts", [{**LCSTS}])  # the created file's name for clts+
    assert ds.probes.column("variant").to_pylist() == ["clts+"]


def test_imported_items_render_instruction_first(tmp_path):
    """In context the prompt is M4LE's inference.py prompt: instruction, a newline, the input."""
    ds = _import(tmp_path, "cnnnews", [CNN])
    row, episode_row = ds.probes.to_pylist()[0], ds.episodes.to_pylist()[0]
    episode = FAMILY.episode(episode_row)
    probe = FAMILY.probe(row, episode, Condition.IN_CONTEXT)
    assert probe.prompt_text() == CNN["instruction"] + "\n" + CNN["input"]
    # with no context the instruction alone is asked
    assert FAMILY.probe(row, episode, Condition.NO_CONTEXT).prompt_text() == CNN["instruction"]


def test_imported_items_score_by_their_rule(tmp_path):
    """`lbs run` with a constant answer: marc's first sentence {D4E5F6} against {A1B2C3, D4E5F6}: 2/3;
    cnnnews cut at the newline ("the dog ran" of "the dog ran\\nmore"): LCS 3 of 3 -> 1.0."""
    for name, item, text, expected in [("marc", MARC, "D4E5F6. And more", 2 / 3), ("cnnnews", CNN, "the dog ran\nmore", 1.0)]:
        ds = _import(tmp_path, name, [item])
        res = lbs("run", ds.path, "-s", f"constant,text={text}", "-o", tmp_path / f"run_{name}")
        assert res.returncode == 0, res.stderr
        scores = pl.read_parquet(tmp_path / f"run_{name}" / "scores.parquet")
        assert scores.get_column("value").to_list() == [pytest.approx(expected)]


# --- corpus BLEU through run -> aggregate ---------------------------------------------------------

def test_aggregate_bleu_is_corpus_bleu_per_bucket(tmp_path):
    """Two zh2en items in one 1k bucket, one constant answer "the cat sat on the mat". Item 1 matches
    its reference in full (6, 5, 4, 3 of 6, 5, 4, 3). Item 2 against "the cat sat on a mat": 1-grams
    5 of 6 ("the" clipped to one), 2-grams 3 of 5, 3-grams 2 of 4, 4-grams 1 of 3. Corpus: (11/12 *
    8/10 * 6/8 * 4/6) ** (1/4) = 0.77816; the mean of the per-probe BLEU values is (1 + (5/6 * 3/5 *
    2/4 * 1/3) ** (1/4)) / 2 = 0.76864. The aggregate row must be the corpus value, from the
    scores table alone (`lbs aggregate` rebuilds it)."""
    base = {"instruction": "Translate the passage.", "input": "段落：猫坐在垫子上。\nAnswer:", "input_length": 900,
            "total_length": 906, "length_bucket": 1000}
    ds = _import(tmp_path, "news-commentary-zh2en", [{**base, "answers": ["the cat sat on the mat"]},
                                                      {**base, "answers": ["the cat sat on a mat"]}])
    run = tmp_path / "run"
    res = lbs("run", ds.path, "-s", "constant,text=the cat sat on the mat", "-o", run)
    assert res.returncode == 0, res.stderr
    corpus = (11 / 12 * 8 / 10 * 6 / 8 * 4 / 6) ** 0.25
    per_probe = [1.0, (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25]
    scores = pl.read_parquet(run / "scores.parquet")
    assert sorted(scores.filter(pl.col("metric") == "bleu").get_column("value").to_list()) == pytest.approx(sorted(per_probe))
    assert scores.filter(pl.col("metric") == "bleu.ref_len").get_column("value").to_list() == [6.0, 6.0]
    for _ in range(2):  # as the run wrote it, then rebuilt from the tables
        agg = pl.read_parquet(run / "aggregates.parquet")
        assert not agg.filter(pl.col("metric").str.starts_with("bleu.")).height  # statistics make no rows
        cell = agg.filter((pl.col("metric") == "bleu") & (pl.col("length") == 1000) & pl.col("variant").is_not_null()
                          & pl.col("ability").is_null() & pl.col("depth").is_null() & pl.col("bin").is_null())
        assert cell.height == 1 and cell["n"][0] == 2
        assert cell["mean"][0] == pytest.approx(corpus, abs=1e-9)
        assert abs(cell["mean"][0] - sum(per_probe) / 2) > 0.009
        assert cell["ci_method"][0] == "bootstrap-corpus" and cell["ci_low"][0] <= cell["mean"][0] <= cell["ci_high"][0]
        res = lbs("aggregate", run)
        assert res.returncode == 0, res.stderr


# --- Chinese lengths in characters ----------------------------------------------------------------

def test_chinese_source_packs_characters_into_its_bucket(tmp_path):
    """A Chinese source: each passage is 120 characters with no spaces (one whitespace "word"). M4LE
    counts Chinese in characters, so a 1k bucket holds at most 1,000 units, about 7 passages, where a
    whitespace count would have packed hundreds (tens of thousands of characters)."""
    path = tmp_path / "zh.jsonl"
    topics = ["体育", "财经", "科技"]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(60):
            text = ("今天天气很好我们一起去公园散步然后回家吃饭" * 6)[:118] + f"{i:02d}"
            fh.write(json.dumps({"text": text, "label": topics[i % 3]}, ensure_ascii=False) + "\n")
    pool = conv.read_source(str(path), conv.parse_columns(None))
    generate_dataset("m4le", tmp_path / "d", ["classification"], ["buckets=1k", "samples=2", "abilities=explicit-single"],
                     seed=0, inputs=pool)
    ds = io.Dataset(tmp_path / "d")
    for episode, probe in zip(ds.episodes.to_pylist(), ds.probes.to_pylist()):
        meta = json.loads(probe["meta"])
        passages = len(meta["markers"])
        chars = sum(len(block) for block in episode["text"].split("\n\n")[1:])
        assert 4 <= passages <= 8 and chars < 1000, (passages, chars)
        assert 0 < meta["total"] <= 1000
        # the gold is a Chinese label: scored as thucnews_explicit-single (exact match)
        assert meta["scoring"]["task"] == "thucnews_explicit-single" and probe["metric"] == "exact_match"
