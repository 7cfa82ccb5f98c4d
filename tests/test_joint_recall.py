"""The joint-recall family (HAX): the listing is the table, queries are answerable, values differ across
contexts at chance, determinism, lengths, baselines, a context-blind memory falls below the oracle,
first_word_match, the HAX token export, and the CLI."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import re
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from lbs_testutil import lbs, make_needle, one_line_error
from longbench_suite import metrics, registry
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.protocol import Answer, Condition, MemorySystem
from longbench_suite.task import parse_params
from longbench_suite.tokens import load_tokenizer
from runners.local import RunConfig, run
from tasks._hax_tokens import BOS, PAD, SPLITS, Layout, grid_pairs, token_sequences, write_grid
from tasks._hax_tokens import SEP as SEP_TOKEN
from tasks.joint_recall import FAMILY, SECOND_PASS, JointRecallParams

# HAX's ids at n_value = 16 and 16 x 16 (the default layout; unchanged since the first export).
VALUE_BASE, KEY_BASE, CONTEXT_BASE, HAX_LENGTH = 10, 26, 42, 1058

TOK = load_tokenizer("approx")
VARIANTS = ["words", "ids", "numbers"]
BLOCK = re.compile(r"^Context (\S+): (.+)\.$")
PAIR = re.compile(r"^(\S+) -> (\d+)$")
QUESTION = re.compile(r"^In context (\S+), what is the value of (\S+)\? Answer with the value only\.$")

# --- helpers -------------------------------------------------------------------------------------


def generate(*assignments: str, variants=None, seed: int = 0, tokenizer=TOK):
    return FAMILY.generate(variants, parse_params(JointRecallParams, list(assignments)), seed, tokenizer)


def parse_listing(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The episode text's "Context X: k -> v, ..." blocks, in order (every paragraph that starts with
    "Context " must be a well-formed block)."""
    blocks = []
    for para in text.split("\n\n"):
        if not para.startswith("Context "):
            continue
        m = BLOCK.match(para)
        assert m, para
        pairs = []
        for item in m.group(2).split(", "):
            pm = PAIR.match(item)
            assert pm, item
            pairs.append((pm.group(1), pm.group(2)))
        blocks.append((m.group(1), pairs))
    return blocks


def binomial_tol(p: float, n: int, z: float) -> float:
    return z * math.sqrt(p * (1 - p) / n)


# --- 1. the listing is the table; every query is answerable -------------------------------------


@pytest.mark.parametrize("two_pass", [False, True])
def test_listing_is_the_table_and_every_query_is_answerable(two_pass):
    episodes, probes = generate(
        "n_ctx=1,2,4", "n_key=3,8", "n_queries=3", "samples=3", "lengths=2k", f"two_pass={str(two_pass).lower()}",
        "n_value=16",
    )
    assert episodes.num_rows == 3 * 3 * 2 * 3 and probes.num_rows == 3 * episodes.num_rows
    parsed_tables = {}
    passes = 2 if two_pass else 1
    for ep in episodes.to_pylist():
        meta = json.loads(ep["meta"])
        n_ctx, n_key, n_value = meta["n_ctx"], meta["n_key"], meta["n_value"]
        contexts, keys, table, orders = meta["contexts"], meta["keys"], meta["table"], meta["orders"]
        assert meta["two_pass"] is two_pass and n_value == 16
        assert len(set(contexts)) == n_ctx and len(set(keys)) == n_key
        assert len(table) == n_ctx and all(len(row) == n_key for row in table)
        assert all(0 <= v < n_value for row in table for v in row)
        assert len(orders) == 2  # the second pass is always drawn (the token export needs it)
        for order in orders:
            assert sorted(c for c, _ in order) == list(range(n_ctx))
            assert all(sorted(ks) == list(range(n_key)) for _, ks in order)

        blocks = parse_listing(ep["text"])
        assert len(blocks) == passes * n_ctx, ep["episode_id"]
        listed: dict[tuple[str, str], str] = {}
        for p in range(passes):
            in_pass = blocks[p * n_ctx : (p + 1) * n_ctx]
            seen = collections.Counter((ctx, k) for ctx, pairs in in_pass for k, _ in pairs)
            # every (context, key) listed exactly once per pass
            assert set(seen) == {(c, k) for c in contexts for k in keys} and set(seen.values()) == {1}
            # the blocks follow the pass's recorded order
            assert [ctx for ctx, _ in in_pass] == [contexts[c] for c, _ in orders[p]]
            assert [[k for k, _ in pairs] for _, pairs in in_pass] == [[keys[k] for k in ks] for _, ks in orders[p]]
            for ctx, pairs in in_pass:
                for k, v in pairs:
                    assert listed.setdefault((ctx, k), v) == v  # one value per (context, key), both passes agree
        assert listed == {(contexts[c], keys[k]): str(table[c][k]) for c in range(n_ctx) for k in range(n_key)}
        parsed_tables[ep["episode_id"]] = listed

        if two_pass:
            assert ep["text"].count(SECOND_PASS) == 1
            header = ep["text"].index(SECOND_PASS)
            first_pass_2 = ep["text"].index(f"Context {blocks[n_ctx][0]}: ", header)
            assert ep["text"].rindex(f"Context {blocks[n_ctx - 1][0]}: ", 0, header) < header < first_pass_2
            if n_key == 8:  # identical orders have probability 1/(n_ctx! 8!^n_ctx): never, for a fixed seed
                assert orders[1] != orders[0]
                assert blocks[n_ctx:] != blocks[:n_ctx]
        else:
            assert SECOND_PASS not in ep["text"]

    by_episode = collections.defaultdict(list)
    for pr in probes.to_pylist():
        m = QUESTION.match(pr["question"])
        assert m, pr["question"]
        ctx, key = m.groups()
        listed = parsed_tables[pr["episode_id"]]
        assert pr["gold"] == [listed[(ctx, key)]]
        assert pr["answer_prefix"] == f"In context {ctx}, the value of {key} is"
        pmeta = json.loads(pr["meta"])
        by_episode[pr["episode_id"]].append((pmeta["context"], pmeta["key"]))
        n_ctx, n_key = pmeta["n_ctx"], pmeta["n_key"]
        assert pr["bin"] == f"ctx{n_ctx:02d}-key{n_key:02d}"
        assert pr["ability"] == ("associative-recall" if n_ctx == 1 else "joint-recall")
        assert pr["length"] == 2048 and pr["depth"] is None
        assert pr["choices"] == [str(v) for v in range(16)] and pr["chance"] == pytest.approx(1 / 16)
        assert pr["metric"] == "first_word_match"
    for eid, asked in by_episode.items():
        assert len(asked) == 3 and len(set(asked)) == 3, eid  # multi-query: distinct pairs
    # probe meta indices name the same context and key as the question
    metas = {r["episode_id"]: json.loads(r["meta"]) for r in episodes.to_pylist()}
    for pr in probes.to_pylist():
        pm, em = json.loads(pr["meta"]), metas[pr["episode_id"]]
        ctx, key = QUESTION.match(pr["question"]).groups()
        assert (em["contexts"][pm["context"]], em["keys"][pm["key"]]) == (ctx, key)
        assert pr["gold"] == [str(em["table"][pm["context"]][pm["key"]])]


# --- 2. the same key takes different values in different contexts, at the table's rate ------------


def test_same_key_differs_across_contexts_at_the_chance_rate():
    n_value = 4
    episodes, _ = generate("n_ctx=2", "n_key=16", "n_value=4", "n_queries=1", "samples=200", "lengths=1k",
                           variants=["ids"])
    equal = total = 0
    values = collections.Counter()
    tables = set()
    for ep in episodes.to_pylist():
        table = json.loads(ep["meta"])["table"]
        tables.add(json.dumps(table))
        for k in range(16):  # one (key, context pair) per key: independent draws
            equal += table[0][k] == table[1][k]
            total += 1
        values.update(v for row in table for v in row)
    assert total == 3200
    rate = equal / total
    assert abs(rate - 1 / n_value) <= binomial_tol(1 / n_value, total, 4.0), rate
    assert 0 < rate < 1  # keys do differ across contexts, and sometimes agree
    assert set(values) == set(range(n_value))
    n = sum(values.values())
    for v in range(n_value):  # values uniform over 0..n_value-1
        assert abs(values[v] / n - 1 / n_value) <= binomial_tol(1 / n_value, n, 4.0), values
    assert len(tables) == 200  # every episode draws its own table


# --- 3. determinism through the CLI --------------------------------------------------------------


def test_generation_is_deterministic_through_the_cli(tmp_path):
    args = ["generate", "joint-recall", "-p", "n_ctx=1,2", "-p", "n_key=4", "-p", "n_queries=2", "-p", "samples=2",
            "-p", "lengths=1k", "-p", "two_pass=true"]
    runs = {}
    for name, seed, hashseed in [("a", "5", "1"), ("b", "5", "2"), ("c", "6", "1")]:
        res = lbs(*args, "-o", tmp_path / name, "--seed", seed, env={"PYTHONHASHSEED": hashseed})
        assert res.returncode == 0, res.stderr
        runs[name] = tmp_path / name
    manifest = {n: json.loads((p / "manifest.json").read_text()) for n, p in runs.items()}
    for f in ("episodes.parquet", "probes.parquet", "manifest.json"):
        assert (runs["a"] / f).read_bytes() == (runs["b"] / f).read_bytes(), f
    assert manifest["a"]["content_hash"] == manifest["b"]["content_hash"]
    assert manifest["a"]["content_hash"] != manifest["c"]["content_hash"]
    assert (runs["a"] / "episodes.parquet").read_bytes() != (runs["c"] / "episodes.parquet").read_bytes()
    ta = pq.read_table(runs["a"] / "episodes.parquet").to_pylist()
    tc = pq.read_table(runs["c"] / "episodes.parquet").to_pylist()
    assert [r["episode_id"] for r in ta] == [r["episode_id"] for r in tc]
    assert all(x["text"] != y["text"] and x["meta"] != y["meta"] for x, y in zip(ta, tc))


# --- 4. lengths; bad input ------------------------------------------------------------------------


def test_prompt_plus_answer_budget_is_the_target_length_in_real_tokens():
    tok = load_tokenizer("embedded")
    for two_pass in ("false", "true"):
        episodes, probes = generate("n_ctx=1,2,4", "n_key=4,8", "n_queries=2", "samples=2", "lengths=1k,2k",
                                    f"two_pass={two_pass}", tokenizer=tok)
        text = {r["episode_id"]: r["text"] for r in episodes.to_pylist()}
        rows = probes.to_pylist()
        counts = tok.count_batch([text[r["episode_id"]] + "\n\n" + r["question"] + "\n" + r["answer_prefix"] for r in rows])
        assert {r["length"] for r in rows} == {1024, 2048}
        for r, n in zip(rows, counts):
            total = n + r["max_new_tokens"]
            assert abs(total - r["length"]) <= 0.03 * r["length"], (r["probe_id"], total)


CLI_BASE = ["-p", "samples=1", "-p", "lengths=1k"]


@pytest.mark.parametrize(
    "extra, match",
    [
        (["-p", "n_ctx=8", "-p", "n_key=8", "-p", "lengths=256"], "too small"),
        (["-p", "n_ctx=1,2", "-p", "n_key=2", "-p", "n_queries=3"], "n_queries"),
        (["-p", "n_value=1"], "n_value"),
        (["-p", "filler=bogus"], "filler"),
        (["-v", "bogus"], "variant"),
        (["-p", "n_ctx=0"], "n_ctx"),
    ],
    ids=["length-too-small", "queries-exceed-pairs", "one-value", "bad-filler", "unknown-variant", "no-context"],
)
def test_bad_generation_exits_2_with_one_line_and_writes_nothing(tmp_path, extra, match):
    out = tmp_path / "d"
    res = lbs("generate", "joint-recall", "-o", out, *CLI_BASE, *extra)
    assert match in one_line_error(res)
    assert not out.exists()


@pytest.mark.parametrize("variant, extra", [("ids", "n_ctx=101"), ("numbers", "n_ctx=91"), ("words", "n_key=329")])
def test_more_names_than_a_variant_has_is_a_user_error(tmp_path, variant, extra):
    out = tmp_path / "d"
    res = lbs("generate", "joint-recall", "-o", out, "-v", variant, "-p", extra, "-p", "n_queries=1",
              "-p", "samples=1", "-p", "lengths=64k")
    one_line_error(res)
    assert not out.exists()


# --- 5. baselines -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """800 probes: n_ctx 1/2/4/8 x 8 keys x 25 episodes x 8 queries, 8 values."""
    out = tmp_path_factory.mktemp("jr") / "grid"
    generate_dataset("joint-recall", out, ["ids"], ["n_ctx=1,2,4,8", "n_key=8", "n_value=8", "samples=25",
                                                    "lengths=1k"], seed=1)
    return out


def _primary(run_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "aggregates.parquet").filter(pl.col("metric") == "first_word_match")


def test_oracle_scores_exactly_one(grid, tmp_path):
    m = run(RunConfig(dataset=grid, system="oracle", out=tmp_path / "o", use_cache=False))
    assert m["status"] == "complete" and m["counts"]["errors"] == 0 and m["counts"]["predictions"] == 800
    scores = pl.read_parquet(tmp_path / "o" / "scores.parquet")
    assert scores.height == 800 and scores.get_column("value").min() == 1.0
    agg = _primary(tmp_path / "o")
    assert set(agg.get_column("bin").drop_nulls().to_list()) == {f"ctx{c:02d}-key08" for c in (1, 2, 4, 8)}
    assert set(agg.get_column("ability").drop_nulls().to_list()) == {"associative-recall", "joint-recall", "task-averaged"}
    assert agg.get_column("mean").min() == 1.0 and agg.get_column("mean").max() == 1.0


def test_random_sits_at_one_over_n_value(grid, tmp_path):
    probes = pl.read_parquet(grid / "probes.parquet")
    assert probes.height == 800
    assert probes.get_column("chance").unique().to_list() == [1 / 8]
    run(RunConfig(dataset=grid, system="random", out=tmp_path / "r", use_cache=False))
    scores = pl.read_parquet(tmp_path / "r" / "scores.parquet").get_column("value")
    assert scores.len() == 800 and set(scores.unique().to_list()) <= {0.0, 1.0}
    mean = scores.mean()
    assert abs(mean - 1 / 8) <= binomial_tol(1 / 8, 800, 3.29), mean
    overall = _primary(tmp_path / "r").filter(
        pl.col("variant").is_null() & pl.col("length").is_null() & pl.col("bin").is_null() & pl.col("ability").is_null()
    )
    assert overall.height == 1 and overall.item(0, "mean") == pytest.approx(mean) and overall.item(0, "n") == 800


# --- 6. a context-blind associative memory ---------------------------------------------------------


def test_context_blind_memory_is_perfect_for_one_context_and_falls_with_more(tmp_path):
    n_value, samples = 8, 400
    data = tmp_path / "assoc"
    generate_dataset("joint-recall", data, ["words", "numbers"],
                     ["n_ctx=1,2,4,8", "n_key=8", f"n_value={n_value}", "n_queries=1", f"samples={samples}",
                      "lengths=1k"], seed=2)
    seen, ingested, resets = [], [], []

    class Associative(MemorySystem):
        """Remembers each key's value from the LAST block that lists it, whatever the context."""

        name = "associative"
        concurrent_episodes = False

        def __init__(self):
            self.memory: dict[str, str] = {}

        async def reset(self):
            resets.append(1)
            self.memory = {}

        async def ingest(self, episode):
            ingested.append(episode)
            for _, pairs in parse_listing(episode.text):
                for k, v in pairs:
                    self.memory[k] = v

        async def answer(self, probe):
            seen.append(probe)
            key = re.search(r"value of (\S+)\?", probe.question).group(1)
            return Answer(text=self.memory.get(key, ""))

    registry.system_factories()["associative"] = lambda spec, ctx: Associative()
    try:
        m = run(RunConfig(dataset=data, system="associative", out=tmp_path / "run", use_cache=False,
                          condition=Condition.IN_MEMORY))
    finally:
        registry.system_factories().pop("associative")
    n_per = 2 * samples
    assert m["condition"] == "in-memory" and m["counts"]["errors"] == 0 and m["counts"]["predictions"] == 4 * n_per
    assert len(seen) == 4 * n_per and len(ingested) == 4 * n_per and len(resets) >= 4 * n_per
    assert all(p.context is None and not p.meta and p.gold is None and p.choices is None for p in seen)
    assert all(e.text and not e.meta for e in ingested)

    # exactly what the system must score, from the generator's facts: right iff the last listed context
    # holds the same value for the key
    episodes = {r["episode_id"]: json.loads(r["meta"]) for r in pq.read_table(data / "episodes.parquet").to_pylist()}
    probes = pl.read_parquet(data / "probes.parquet").select("probe_id", "episode_id", "meta", "bin")
    scores = pl.read_parquet(tmp_path / "run" / "scores.parquet").select("probe_id", "value")
    joined = probes.join(scores, on="probe_id").to_dicts()
    assert len(joined) == 4 * n_per
    means = {}
    for n_ctx in (1, 2, 4, 8):
        rows = [r for r in joined if r["bin"] == f"ctx{n_ctx:02d}-key08"]
        assert len(rows) == n_per
        for r in rows:
            em, pm = episodes[r["episode_id"]], json.loads(r["meta"])
            last = em["orders"][0][-1][0]
            expected = float(em["table"][last][pm["key"]] == em["table"][pm["context"]][pm["key"]])
            assert r["value"] == expected, r["probe_id"]
        means[n_ctx] = sum(r["value"] for r in rows) / n_per
    assert means[1] == 1.0  # associative recall: the oracle's score
    for n_ctx in (2, 4, 8):
        expect = 1 / n_ctx + (1 - 1 / n_ctx) / n_value
        assert abs(means[n_ctx] - expect) <= binomial_tol(expect, n_per, 4.0), (n_ctx, means[n_ctx], expect)
        assert means[n_ctx] < 0.75  # measurably below the oracle
    assert means[1] > means[2] > means[4] > means[8], means

    # The packaged `last-value` adapter is the same memory: it must give every probe the same answer.
    run(RunConfig(dataset=data, system="last-value", out=tmp_path / "lv", use_cache=False, condition=Condition.IN_MEMORY))
    ours = pl.read_parquet(tmp_path / "run" / "predictions.parquet").select("probe_id", "output")
    packaged = pl.read_parquet(tmp_path / "lv" / "predictions.parquet").select("probe_id", "output")
    assert ours.sort("probe_id").equals(packaged.sort("probe_id"))


# --- 7. first_word_match --------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["7", " 7.", "**7**, because", "7\nmore", "7", "(7)", '"7"', "\t7 is it"])
def test_first_word_match_accepts_a_bare_value(output):
    assert metrics.METRICS["first_word_match"] is metrics.first_word_match
    assert metrics.first_word_match(output, ["7"]) == 1.0


@pytest.mark.parametrize("output", ["17", "The value is 7", "", "   ", "7.5", "70", "seven"])
def test_first_word_match_rejects_anything_else(output):
    assert metrics.first_word_match(output, ["7"]) == 0.0


def test_first_word_match_with_no_gold_is_zero():
    assert metrics.first_word_match("7", []) == 0.0
    assert metrics.first_word_match("7", ["3", "7"]) == 1.0


# --- 8. the HAX token export -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("hax")
    data = base / "data"
    generate_dataset("joint-recall", data, ["ids"],
                     ["n_ctx=1,3,16", "n_key=2,5,16", "n_value=16", "n_queries=2", "samples=2", "lengths=4k",
                      "two_pass=true"], seed=4)
    out = base / "tokens"
    res = lbs("export", "joint-recall-tokens", data, "-o", out)
    assert res.returncode == 0, res.stderr
    return data, out


def test_token_export_follows_the_hax_layout(exported):
    data, out = exported
    assert sorted(p.name for p in out.iterdir()) == ["layout.json", "tokens.parquet"]
    layout = json.loads((out / "layout.json").read_text())
    manifest = json.loads((data / "manifest.json").read_text())
    episodes = {r["episode_id"]: json.loads(r["meta"]) for r in pq.read_table(data / "episodes.parquet").to_pylist()}
    assert layout == {**Layout().describe(), "dataset": manifest["content_hash"], "sequences": len(episodes)}
    assert (layout["bos"], layout["pad"], layout["sep"]) == (1, 3, 4) and layout["padded_length"] == 1058
    assert (layout["values"], layout["keys"], layout["contexts"]) == ([10, 25], [26, 41], [42, 57])

    tokens = pq.read_table(out / "tokens.parquet").to_pylist()
    assert sorted(t["episode_id"] for t in tokens) == sorted(episodes) and len(tokens) == 3 * 3 * 2
    full = 0
    for t in tokens:
        meta = episodes[t["episode_id"]]
        n_ctx, n_key = meta["n_ctx"], meta["n_key"]
        ids, mask, length = t["inputs"], t["mask"], t["length"]
        assert (t["n_ctx"], t["n_key"]) == (n_ctx, n_key)
        assert len(ids) == len(mask) == HAX_LENGTH == 1058
        block = n_ctx * (1 + 2 * n_key)
        assert length == 2 * block + 2
        assert ids[0] == BOS and ids.count(BOS) == 1
        assert ids.count(SEP_TOKEN) == 1 and ids.index(SEP_TOKEN) == 1 + block
        assert ids[length:] == [PAD] * (HAX_LENGTH - length) and PAD not in ids[:length]
        assert mask[length:] == [0] * (HAX_LENGTH - length)
        full += length == HAX_LENGTH
        if (n_ctx, n_key) == (16, 16):
            assert length == 1058

        # rebuild each pass's table and order from the tokens: context token, then key/value pairs
        tables, orders = [], []
        for start, end in ((1, 1 + block), (2 + block, length)):
            seg, i = ids[start:end], 0
            table, order = {}, []
            while i < len(seg):
                c = seg[i] - CONTEXT_BASE
                assert 0 <= c < n_ctx, seg[i]
                pairs = seg[i + 1 : i + 1 + 2 * n_key]
                ks = []
                for kt, vt in zip(pairs[::2], pairs[1::2]):
                    assert KEY_BASE <= kt < KEY_BASE + n_key and VALUE_BASE <= vt < VALUE_BASE + meta["n_value"]
                    table[(c, kt - KEY_BASE)] = vt - VALUE_BASE
                    ks.append(kt - KEY_BASE)
                order.append([c, ks])
                i += 1 + 2 * n_key
            tables.append(table)
            orders.append(order)
        expected = {(c, k): meta["table"][c][k] for c in range(n_ctx) for k in range(n_key)}
        assert tables[0] == tables[1] == expected
        assert orders == meta["orders"]

        # the mask marks exactly the pass-2 key tokens, and the next token is that key's value in its context
        marked = [i for i, m in enumerate(mask) if m]
        assert set(mask) <= {0, 1} and len(marked) == n_ctx * n_key
        stride = 1 + 2 * n_key  # in a block: context at offset 0, keys at odd offsets, values at even ones
        pass2_keys = [i for i in range(2 + block, length) if (i - 2 - block) % stride % 2 == 1]
        assert all(KEY_BASE <= ids[i] <= KEY_BASE + 15 for i in pass2_keys)
        assert marked == pass2_keys
        for i in marked:
            ctx_pos = 2 + block + (i - 2 - block) // (1 + 2 * n_key) * (1 + 2 * n_key)
            c, k = ids[ctx_pos] - CONTEXT_BASE, ids[i] - KEY_BASE
            assert ids[i + 1] == VALUE_BASE + meta["table"][c][k]
    assert full == 2  # the two 16 x 16 episodes fill the layout exactly

    # the probes' gold is the value the tokens give
    by_eid = {t["episode_id"]: t for t in tokens}
    for pr in pq.read_table(data / "probes.parquet").to_pylist():
        pm, t = json.loads(pr["meta"]), by_eid[pr["episode_id"]]
        ids, n_key = t["inputs"], t["n_key"]
        ctx_pos = [1 + j * (1 + 2 * n_key) for j in range(t["n_ctx"])]
        pos = next(p for p in ctx_pos if ids[p] == CONTEXT_BASE + pm["context"])
        kpos = next(p for p in range(pos + 1, pos + 1 + 2 * n_key, 2) if ids[p] == KEY_BASE + pm["key"])
        assert pr["gold"] == [str(ids[kpos + 1] - VALUE_BASE)]


@pytest.mark.parametrize("param, option", [("n_key=17", "--max-n-key"), ("n_ctx=17", "--max-n-ctx")])
def test_token_export_refuses_what_the_layout_cannot_hold(tmp_path, param, option):
    """16 contexts and 16 keys by default (HAX's --max_n_context / --max_n_key); a larger layout holds more."""
    data = tmp_path / "data"
    base = {"n_ctx": "n_ctx=2", "n_key": "n_key=2"}
    base[param.split("=")[0]] = param
    generate_dataset("joint-recall", data, ["ids"], [*base.values(), "n_value=4", "n_queries=1", "samples=1", "lengths=8k"])
    out = tmp_path / "tokens"
    assert "at most 16" in one_line_error(lbs("export", "joint-recall-tokens", data, "-o", out))
    assert not out.exists()
    res = lbs("export", "joint-recall-tokens", data, "-o", out, option, "17")
    assert res.returncode == 0, res.stderr
    layout = json.loads((out / "layout.json").read_text())
    # 17 slots on the widened side, 16 on the other: the padding and (for keys) the context ids move.
    n_ctx, n_key = (17, 16) if option == "--max-n-ctx" else (16, 17)
    assert (layout["max_n_ctx"], layout["max_n_key"]) == (n_ctx, n_key)
    assert layout["padded_length"] == 2 * n_ctx * (2 * n_key + 1) + 2
    assert layout["contexts"] == [10 + 4 + n_key, 10 + 4 + n_key + n_ctx - 1]


def test_token_export_refuses_other_families(tmp_path):
    data = make_needle(tmp_path / "needle", ["single_1"], ["lengths=512", "depths=50"])
    out = tmp_path / "tokens"
    assert "not joint-recall" in one_line_error(lbs("export", "joint-recall-tokens", data, "-o", out))
    assert not out.exists()


def test_token_export_will_not_replace_a_directory(exported, tmp_path):
    data, _ = exported
    out = tmp_path / "busy"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    one_line_error(lbs("export", "joint-recall-tokens", data, "-o", out))
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def _episode_table(meta: dict):
    import pyarrow as pa

    return pa.table({"episode_id": ["e0"], "meta": [json.dumps(meta)]})


# A hand-written episode: 2 contexts x 2 keys, values out of 4; (context, key) -> value table and the
# two passes' orders (context, then its keys in listing order).
HAND = {"n_ctx": 2, "n_key": 2, "n_value": 4, "table": [[3, 0], [1, 2]],
        "orders": [[[1, [0, 1]], [0, [1, 0]]], [[0, [0, 1]], [1, [1, 0]]]]}


def test_hax_ids_move_with_n_value_and_max_n_key():
    """HAX's create_dataset.py (73d3c18, l.28-39) writes value v as v + 10, key k as n_value + k + 10,
    context c as max_n_key + n_value + c + 10, and pads to (2 max_n_context)(2 max_n_key + 1) + 2.
    With n_value = 4, max_n_key = 5, max_n_ctx = 3: values 10..13, keys 14..18, contexts 19..21, 68
    tokens. Written out by hand for HAND: BOS; pass 1: context 1 (20), key 0 (14) -> table[1][0] = 1
    (11), key 1 (15) -> 2 (12), context 0 (19), key 1 (15) -> 0 (10), key 0 (14) -> 3 (13); SEP; pass 2:
    context 0 (19), key 0 (14) -> 3 (13), key 1 (15) -> 0 (10), context 1 (20), key 1 (15) -> 2 (12),
    key 0 (14) -> 1 (11); PAD (3) up to 68. At the default layout the same table is 10 + v, 26 + k,
    42 + c, padded to 1058: today's ids."""
    (row,) = token_sequences(_episode_table(HAND), Layout(n_value=4, max_n_ctx=3, max_n_key=5)).to_pylist()
    listed = [1, 20, 14, 11, 15, 12, 19, 15, 10, 14, 13, 4, 19, 14, 13, 15, 10, 20, 15, 12, 14, 11]
    assert row["inputs"] == listed + [3] * (68 - 22)
    assert [i for i, m in enumerate(row["mask"]) if m] == [13, 15, 18, 20]  # pass 2's keys
    assert (row["n_ctx"], row["n_key"], row["length"]) == (2, 2, 22) and len(row["mask"]) == 68
    (row,) = token_sequences(_episode_table({**HAND, "n_value": 16})).to_pylist()
    default = [1, 43, 26, 11, 27, 12, 42, 27, 10, 26, 13, 4, 42, 26, 13, 27, 10, 43, 27, 12, 26, 11]
    assert row["inputs"] == default + [3] * (1058 - 22)
    layout = Layout(n_value=4, max_n_ctx=3, max_n_key=5).describe()
    assert (layout["values"], layout["keys"], layout["contexts"], layout["padded_length"]) == ([10, 13], [14, 18], [19, 21], 68)
    with pytest.raises(UserError, match="4 values"):
        token_sequences(_episode_table(HAND), Layout())  # one n_value per export


def _hax_collate(rows: list[dict]) -> dict:
    """What HAX's trainer does with a batch (re-implemented, not copied): take the `inputs` and `mask`
    of every row, stack each into a tensor; then shift: inputs[:, :-1] are read, inputs[:, 1:] are the
    labels, mask[:, :-1] (as bool) selects the predicted positions; accuracy per sequence is the share
    of selected labels predicted, averaged over the batch."""
    import torch

    batch = {name: torch.tensor([row[name] for row in rows]) for name in ("inputs", "mask")}
    return {"inputs": batch["inputs"][:, :-1], "labels": batch["inputs"][:, 1:], "mask": batch["mask"][:, :-1].bool()}


def _predict_from_first_pass(inputs, context_ids: set[int], blind: bool):
    """A reader of each sequence: after SEP, at a key, it predicts the value listed for (context, key) in
    pass 1 (blind: the value last listed for the key, whatever the context)."""
    import torch

    preds = torch.zeros_like(inputs)
    for b, seq in enumerate(inputs.tolist()):
        sep, seen, i = seq.index(SEP_TOKEN), {}, 1
        while i < sep:  # pass 1: a context id, then (key, value) pairs
            context, i = seq[i], i + 1
            while i < sep and seq[i] not in context_ids:
                seen[(None if blind else context, seq[i])] = seq[i + 1]
                i += 2
        context = None
        for i in range(sep + 1, len(seq)):
            if seq[i] in context_ids:
                context = seq[i]
            elif (None if blind else context, seq[i]) in seen:
                preds[b, i] = seen[(None if blind else context, seq[i])]
    return preds


def test_grid_export_runs_through_hax_collate(tmp_path):
    """The default export without a dataset is HAX's grid: n_ctx, n_key from 5 (here up to 6 and 7),
    train/validation/test files with `inputs` (int32) and `mask` (int8), rows in HAX's order (sample
    index, then n_ctx, then n_key). Loaded as HAX loads its data (a DatasetDict by split) and read the
    way its collate and trainer read a batch: the labels at the mask are the values, a reader that
    remembers (context, key) scores 1, one that forgets the context scores less."""
    import datasets
    import torch

    out = tmp_path / "grid"
    res = lbs("export", "joint-recall-tokens", "-o", out, "--max-n-ctx", "6", "--max-n-key", "7", "--n-value", "8",
              "--train", "3", "--test", "2", "--seed", "5")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["layout.json", "test.parquet", "train.parquet", "validation.parquet"]
    layout = json.loads((out / "layout.json").read_text())
    # n_value = 8, max_n_key = 7, max_n_ctx = 6: values 10..17, keys 18..24, contexts 25..30, 2*6*15+2 = 182
    assert (layout["values"], layout["keys"], layout["contexts"], layout["padded_length"]) == ([10, 17], [18, 24], [25, 30], 182)
    pairs = [(c, k) for c in (5, 6) for k in (5, 6, 7)]
    assert layout["splits"] == {"train": 3 * 6, "validation": 2 * 6, "test": 2 * 6}
    schema = pq.read_schema(out / "train.parquet")
    assert str(schema.field("inputs").type) == "list<element: int32>" and str(schema.field("mask").type) == "list<element: int8>"

    dd = datasets.load_dataset("parquet", data_dir=str(out), cache_dir=str(tmp_path / "hf"))
    assert sorted(dd) == sorted(SPLITS) and dd["validation"].num_rows == 12
    every = set()
    for split in SPLITS:
        rows = dd[split].to_list()
        assert [(r["n_ctx"], r["n_key"]) for r in rows] == pairs * (len(rows) // 6)
        every |= {tuple(r["inputs"]) for r in rows}
        batch = _hax_collate(rows)
        assert batch["inputs"].shape == (len(rows), 181) and batch["inputs"].dtype == torch.int64
        mask = batch["mask"]
        assert mask.sum(1).tolist() == [r["n_ctx"] * r["n_key"] for r in rows]
        assert ((batch["inputs"][mask] >= 18) & (batch["inputs"][mask] <= 24)).all()  # keys are read
        assert ((batch["labels"][mask] >= 10) & (batch["labels"][mask] <= 17)).all()  # values are predicted
        contexts = set(range(25, 31))
        for blind, ok in ((False, lambda a: a == 1.0), (True, lambda a: a < 0.9)):
            preds = _predict_from_first_pass(batch["inputs"], contexts, blind)
            acc = (((preds == batch["labels"]) & mask).float().sum(-1) / mask.float().sum(-1)).mean().item()
            assert ok(acc), (split, blind, acc)
    assert len(every) == 18 + 12 + 12  # no sequence twice, within or across splits


def test_grid_draws_every_sequence_at_most_once_across_splits(tmp_path):
    """HAX redraws a sequence equal to any earlier one, in any split (train, then validation, then
    test). With 1 context, 1 key and 4 values only 4 sequences exist: asking for 2 + 1 + 1 must give
    all four, each once (independent draws would repeat one 91% of the time); a fifth is impossible."""
    for seed in range(5):
        out = tmp_path / f"s{seed}"
        out.mkdir()
        counts = write_grid(out, Layout(n_value=4, max_n_ctx=1, max_n_key=1), train=2, test=1, seed=seed, min_n=1)
        assert counts == {"train": 2, "validation": 1, "test": 1}
        seqs = [tuple(x) for split in SPLITS for x in pq.read_table(out / f"{split}.parquet").column("inputs").to_pylist()]
        # BOS, context 0 (10+4+1 = 15), key 0 (14), value v (10+v), SEP, the same block again; 2*1*3+2 = 8 tokens
        assert sorted(seqs) == [(1, 15, 14, 10 + v, 4, 15, 14, 10 + v) for v in range(4)]
    res = lbs("export", "joint-recall-tokens", "-o", tmp_path / "full", "--min-n", "1", "--max-n-ctx", "1",
              "--max-n-key", "1", "--n-value", "4", "--train", "3", "--test", "1")
    assert "distinct" in one_line_error(res)
    assert not (tmp_path / "full").exists()


def test_grid_is_deterministic_and_hax_sized_by_default(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    small = Layout(n_value=16, max_n_ctx=6, max_n_key=6)
    write_grid(a, small, 4, 1, seed=1)
    write_grid(b, small, 4, 1, seed=1)
    write_grid(c, small, 4, 1, seed=2)
    for split in SPLITS:
        assert pq.read_table(a / f"{split}.parquet").equals(pq.read_table(b / f"{split}.parquet"))
        assert not pq.read_table(a / f"{split}.parquet").equals(pq.read_table(c / f"{split}.parquet"))
    # The CLI's defaults are HAX's: 16 x 16 layout, 16 values, n_ctx and n_key from 5, 10,000 / 100 / 100 per pair.
    import inspect

    from longbench_suite import cli

    params = inspect.signature(cli.export_joint_recall_tokens).parameters
    defaults = {name: p.default.default for name, p in params.items() if name not in ("data", "output")}
    assert defaults == {"max_n_ctx": 16, "max_n_key": 16, "n_value": None, "train": 10_000, "test": 100, "min_n": 5, "seed": 0}
    assert Layout() == Layout(16, 16, 16) and len(grid_pairs(Layout())) == 144


# --- 9. lbs tasks ---------------------------------------------------------------------------------


def test_lbs_tasks_lists_variants_and_parameters():
    res = lbs("tasks", "joint-recall")
    assert res.returncode == 0, res.stderr
    assert "joint-recall" in res.stdout
    for v in VARIANTS:
        assert re.search(rf"^\s*{v}\s", res.stdout, re.M), v
    assert list(FAMILY.variants) == VARIANTS
    for f in dataclasses.fields(JointRecallParams):
        assert re.search(rf"^\s*{f.name}\s", res.stdout, re.M), f.name
    assert re.search(r"^\s*n_ctx\s+1,2,4,8\s", res.stdout, re.M)
    assert re.search(r"^\s*n_value\s+16\s", res.stdout, re.M)
