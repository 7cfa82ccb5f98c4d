"""Leaderboards: run directories -> one table, one row per system x condition, and the diff of two (polars).

Every family of a leaderboard comes from one dataset (one content hash): a ranking compares systems on
the same items, so a row that failed more than MAX_ERROR_SHARE of a family's probes is not ranked. Scores
are normalised (`normalize`: by the probes' own chance level, or M4LE's reference) before the table is
made, so the table holds what the page shows; the raw rows of every run stay in the leaderboard's long
`aggregates.parquet`, from which `rebuild` re-renders a board without its runs.

`leaderboard.parquet` is WIDE: one row per system x condition, because that row is what a reader
compares and what `diff` matches, while the set of families and abilities is data, so it lives in the
column names (scores are fractions, not x100):

    system, condition, rank, families      rank by overall/mean: 1 = best, ties share a rank
    overall/mean|ci_low|ci_high|n|n_errors unweighted mean of the family headlines; null unless the row
                                           has every family of the leaderboard (then it has no rank)
    <family>/overall/mean|ci_low|ci_high|n|n_errors   the family's headline: the mean of each probe's
                                           own metric over answered probes (n); n_errors probes failed
    <family>/overall/near_baseline, overall/near_baseline   the row's CI overlaps a random or constant
                                           baseline's: the gap is noise (null for baselines and the oracle)
    <family>/rank                          null where more than MAX_ERROR_SHARE of its probes failed
    <family>/<ability>/mean|ci_low|ci_high|n|n_errors   families with two or more abilities, and task-averaged
    probes, errors, error_top              predictions, failed ones, the most common error text
    sort/a_share, sort/gold_a_share, sort/swap_pairs, sort/swap_consistency   SORT position bias (boards with SORT)
    <family>/turn N/mean|ci_low|ci_high|n|n_errors   families whose probes are turns of a conversation
                                           (shared_context, SCBench): the score of each turn, over lengths
    usage/prompt_tokens, usage/completion_tokens, usage/tokens_per_probe
    usage/cached_share                     prompt tokens a server's prefix cache served / prompt tokens
    latency/mean_s, latency/p50_s, latency/p95_s   answered probes that were not cache hits
    cost/ingest_s, cost/ingest_tokens, cost/memory_bytes, cost/memory_items   per episode, from run.json
                                           `costs` (longbench_suite/costs.py): mean over the row's episodes
    footprint/<key>                        FOOTPRINT_KEYS as the systems report them (per-episode maxima;
                                           a wrapper's reader counts when the wrapper has none); max over runs
    runs, run_ids, specs, datasets, suite_versions, started_at, finished_at, normalization
    judge, judge_official                  LLM-judged runs: the judge's model(s); judge_official False when
                                           one is not its family's official judge (LongMemEval: gpt-4o-2024-08-06)

A family whose probes use several metrics (M4LE: ROUGE-L recall, contains, id-set F1 ...) gets one
headline per group: the probe-weighted mean over the metrics, 95% CI by the normal approximation of a
stratified mean (ci_method normal-strata); its task-averaged score is the mean of those ability means.
Everything finer (length, depth, bin, variant, secondary metrics) is in the long table; `to_long`
turns the wide score columns back into rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from . import __version__, diagnostics, io, provenance, schemas
from .aggregate import TASK_AVERAGED
from .errors import UserError
from .metrics import Z95
from . import report
from .report import chance_normalize, load_aggregates, read_aggregates
from .report import normalize as ref_normalize

OVERALL = "overall"
STATS = ("mean", "ci_low", "ci_high", "n", "n_errors")
FOOTPRINT_KEYS = ("parameters", "active_parameters", "context_length", "kv_bytes_per_token", "state_bytes", "index_items", "index_bytes")
RANDOM = "random"  # the random baseline's label, and an alias of --normalize chance
CHANCE = "chance"
TABLE = "leaderboard.parquet"
LONG = "aggregates.parquet"
MANIFEST = "leaderboard.json"
_ID = ["system", "condition"]
_CELL = ["family", "variant", "ability", "length", "depth", "bin", "metric", "primary"]


@dataclass
class RunData:
    """One input run: where it is, what it recorded, and the leaderboard row it belongs to."""

    name: str  # the run directory's name (published; absolute paths are not)
    manifest: dict
    system: str  # the label in the table (load_aggregates adds " [dir]" when two runs share one)
    condition: str
    family: str
    predictions: pl.DataFrame  # prompt_tokens, completion_tokens, latency_s, cache_hit, error
    bias: diagnostics.SortBias | None = None  # SORT runs: the share of "A" answers and swapped-pair consistency


def load(runs: Sequence[Path]) -> tuple[pl.DataFrame, list[RunData]]:
    """The runs' aggregates (long, with a `run` column) and what each run adds to its row."""
    if not runs:
        raise UserError("give at least one run directory")
    own = []
    for path in map(Path, runs):
        if not path.is_dir():
            raise UserError(f"run directory not found: {path}")
        manifest = io.read_json(path / "run.json", "run manifest")
        c = manifest.get("counts") or {}
        # Every probe needs a row: a partial run whose failed probes have theirs is published, its
        # failures counted (MAX_ERROR_SHARE); one cut short (--limit, interrupted, aborted) is not.
        whole = manifest.get("status") in ("complete", "partial") and c.get("predictions") == c.get("probes")
        if not whole:
            raise UserError(f"run {path} is {manifest.get('status', 'unfinished')} ({c.get('predictions', '?')} of "
                            f"{c.get('probes', '?')} probes): finish it with lbs run --resume before publishing it")
        triples = read_aggregates(path / "aggregates.parquet").select("system", "condition", "family").unique().rows()
        if len(triples) != 1:
            raise UserError(f"run {path}: its aggregates hold {len(triples)} system/condition/family groups, not one")
        own.append((path, manifest, *triples[0]))
    agg = load_aggregates([p for p, *_ in own])
    out: list[RunData] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path, manifest, label, condition, family in own:
        name = path.resolve().name
        mine = agg.filter((pl.col("run") == name) & (pl.col("condition") == condition) & (pl.col("family") == family)
                          & pl.col("system").is_in([label, f"{label} [{name}]"]))
        system = mine.get_column("system").unique().to_list()[0]
        key = (system, condition, family)
        if key in seen:
            raise UserError(f"runs {seen[key]} and {path} both score {system} ({condition}) on {family}: "
                            "give one of them, or name their directories apart")
        seen[key] = str(path)
        preds = _predictions(path, answers=family == "sort")  # outputs only where the position bias needs them
        bias = diagnostics.sort_bias(preds, diagnostics.run_probes(path)) if family == "sort" else None
        out.append(RunData(name, manifest, system, condition, family, preds.drop("probe_id", "output", "choice_logprobs",
                                                                                  strict=False), bias))
    _check_datasets(out)
    return agg, out


def _predictions(path: Path, answers: bool = False) -> pl.DataFrame:
    cols = ["prompt_tokens", "cached_tokens", "completion_tokens", "latency_s", "cache_hit", "error"]
    cols += ["probe_id", "output", "choice_logprobs"] if answers else []
    table = io.read_parquet(path / "predictions.parquet", schemas.PREDICTIONS, "predictions table")
    return pl.from_arrow(table.select(cols))


def _public_spec(run: RunData) -> str | None:
    """The run's system spec without a loopback base_url: a local server's port is noise on a board."""
    spec = (run.manifest.get("system") or {}).get("spec")
    return re.sub(r",base_url=https?://(127\.[\d.]+|localhost|\[::1\])(:\d+)?(/[^,\]]*)?", "", spec) if spec else spec


def _check_datasets(runs: list[RunData]) -> None:
    by_family: dict[str, dict[str, str]] = {}
    for r in runs:
        h = (r.manifest.get("dataset") or {}).get("content_hash")
        if not h:  # without it, "the same items" cannot be checked
            raise UserError(f"run {r.name} records no dataset content hash in its run.json")
        by_family.setdefault(r.family, {}).setdefault(h, r.name)
    for family, hashes in by_family.items():
        if len(hashes) > 1:
            a, b = list(hashes.items())[:2]
            raise UserError(f"{family} runs were made on different datasets ({a[1]}: {a[0][:19]}, {b[1]}: {b[0][:19]}): "
                            "a leaderboard compares systems on the same items; build one per dataset")


CHANCE_NOTE = (
    "Scores are normalised by chance: (score - chance) / (1 - chance) in every cell, chance being the mean chance "
    "level of the cell's probes (the expected score of a uniform guess among each probe's choices, from the probes' "
    "`chance` column): 0 = chance, 100 = perfect, below 0 = worse than chance. Metrics with no chance level (free "
    "text: chance 0) stay raw. The random baseline is a measured row like any other, so it scatters around 0 "
    "(x100, 95% CI in brackets).")


def canonical(how: str | None) -> str:
    """The normalisation's name as recorded: `random` is an alias of `chance`."""
    how = (how or "none").strip()
    return CHANCE if how == RANDOM else how


def normalize(agg: pl.DataFrame, how: str) -> tuple[pl.DataFrame, str]:
    """`none`, `chance` (alias `random`: (score - chance) / (1 - chance) per cell, chance from the probes,
    report.chance_normalize) or `ref:SYSTEM` (M4LE's: divided by SYSTEM's score at its shortest length,
    report.normalize). Returns the rows and a sentence saying so."""
    how = canonical(how)
    if how == "none":
        return agg, "Scores are raw (not normalised): the mean of each probe's own metric (x100), 95% CI in brackets."
    if how == CHANCE:
        return chance_normalize(agg), CHANCE_NOTE
    if how.startswith("ref:") and how[4:].strip():
        ref = how[4:].strip()
        systems = sorted(agg.get_column("system").unique().to_list())
        if ref not in systems:
            raise UserError(f"--normalize {how}: no system {ref!r} among these runs ({', '.join(systems)})")
        return ref_normalize(agg, ref), (
            f"Scores are M4LE-normalised by {ref}: each divided by {ref}'s score in the same condition and cell at its "
            f"shortest length (100 = as good as {ref} there; x100, 95% CI in brackets). Per-ability scores pool "
            "lengths, so they have no reference and are left out.")
    raise UserError(f"--normalize must be none, chance (alias random) or ref:SYSTEM, not {how!r}")


def headlines(agg: pl.DataFrame) -> pl.DataFrame:
    """Long: system, condition, family, ability ("overall" for the family), n, mean, ci_low, ci_high, ci_method;
    the probes' own metrics only, pooled over metrics where a family's probes use several."""
    marginal = pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "length", "depth", "bin")])
    rows = agg.filter(pl.col("primary") & marginal).with_columns(pl.col("ability").fill_null(OVERALL))
    keys = [*_ID, "family", "ability"]
    pooled = _pool(rows, keys, weighted=True)
    several = rows.group_by([*_ID, "family"]).agg(pl.col("metric").n_unique().alias("_metrics")).filter(pl.col("_metrics") > 1)
    if several.is_empty():
        return pooled
    # Several metrics: the aggregates' task-averaged rows are per metric; average the pooled abilities instead.
    mixed = pooled.join(several.drop("_metrics"), on=[*_ID, "family"], how="semi")
    abilities = mixed.filter(~pl.col("ability").is_in([OVERALL, TASK_AVERAGED]) & (pl.col("n") > 0))
    averaged = _pool(abilities, [*_ID, "family"], weighted=False).filter(pl.col("_k") > 1).with_columns(
        pl.lit(TASK_AVERAGED).alias("ability"))
    rest = pooled.join(mixed.filter(pl.col("ability") == TASK_AVERAGED), on=keys, how="anti")
    return pl.concat([rest, averaged.select(rest.columns)]).drop("_k")


def _pool(rows: pl.DataFrame, keys: list[str], weighted: bool) -> pl.DataFrame:
    """One row per group: itself when alone; else the mean (probe-weighted, or plain for task averages)
    with a normal CI from each part's CI half-width, kept within the parts' bounds. Parts with no
    answered probe (n 0, no mean) add only their n_errors; a group of only such parts has no mean."""
    se = (pl.col("ci_high") - pl.col("ci_low")) / (2 * Z95)
    scored = pl.col("n") > 0
    w = pl.col("n") / pl.col("n").sum() if weighted else 1 / scored.sum()
    g = rows.with_columns(pl.col("n_errors").fill_null(0)).group_by(keys, maintain_order=True).agg(
        pl.len().alias("_k"), pl.col("n").sum(), pl.col("n_errors").sum(),
        (w * pl.col("mean")).filter(scored).sum().alias("_mean"),
        ((w * se) ** 2).filter(scored).sum().sqrt().alias("_se"), pl.col("mean", "ci_low", "ci_high", "ci_method").first(),
        pl.col("ci_low").min().alias("_lo"), pl.col("ci_high").max().alias("_hi"), scored.sum().alias("_scored"),
    )
    alone = pl.col("_k") == 1
    empty = pl.col("_scored") == 0
    low = pl.max_horizontal(pl.col("_mean") - Z95 * pl.col("_se"), pl.col("_lo"))
    high = pl.min_horizontal(pl.col("_mean") + Z95 * pl.col("_se"), pl.col("_hi"))
    return g.with_columns(
        pl.when(alone).then(pl.col("mean")).when(empty).then(None).otherwise(pl.col("_mean")).alias("mean"),
        pl.when(alone).then(pl.col("ci_low")).when(empty).then(None).otherwise(low).alias("ci_low"),
        pl.when(alone).then(pl.col("ci_high")).when(empty).then(None).otherwise(high).alias("ci_high"),
        pl.when(alone).then(pl.col("ci_method")).otherwise(pl.lit("normal-strata")).alias("ci_method"),
    ).select(*keys, "_k", "n", "n_errors", "mean", "ci_low", "ci_high", "ci_method")


def by_length(agg: pl.DataFrame) -> pl.DataFrame:
    """Each row's family headline per context length (pooled over metrics): system, condition, family,
    length, n, mean, ci_low, ci_high; the curves of score against length."""
    rows = agg.filter(pl.col("primary") & pl.col("length").is_not_null()
                      & pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "ability", "depth", "bin")]))
    return (_pool(rows, [*_ID, "family", "length"], weighted=True).drop("_k", "ci_method")
            .filter(pl.col("mean").is_not_null()).sort([*_ID, "family", "length"]))  # a length whose probes all failed: no point


def by_bin(agg: pl.DataFrame, family: str) -> pl.DataFrame:
    """A family's headline per bin (SORT: distance bin), per length and over all lengths (length null)."""
    rows = agg.filter(pl.col("primary") & (pl.col("family") == family) & pl.col("bin").is_not_null()
                      & pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "ability", "depth")]))
    return (_pool(rows, [*_ID, "length", "bin"], weighted=True).drop("_k", "ci_method")
            .filter(pl.col("mean").is_not_null()).sort([*_ID, "length", "bin"], nulls_last=True))


def score_columns(heads: pl.DataFrame) -> list[tuple[str, str]]:
    """(family, ability) of every score group in the table, in order: each family's overall, then its
    abilities when it has two or more (one ability is its overall again), task-averaged last."""
    out = []
    for family in sorted(heads.get_column("family").unique().to_list()):
        names = set(heads.filter(pl.col("family") == family).get_column("ability").to_list())
        abilities = sorted(names - {OVERALL, TASK_AVERAGED})
        out.append((family, OVERALL))
        if len(abilities) >= 2:
            out += [(family, a) for a in abilities] + ([(family, TASK_AVERAGED)] if TASK_AVERAGED in names else [])
    return out


def build_table(agg: pl.DataFrame, runs: list[RunData], normalization: str = "none",
                meta: pl.DataFrame | None = None) -> pl.DataFrame:
    """The wide table (see the module doc) from normalised aggregates and the runs' records (or, for a
    re-rendered board, `meta`: the per-row columns of its stored table)."""
    heads = headlines(agg)
    groups = score_columns(heads)
    families = sorted({f for f, _ in groups})
    table = meta if meta is not None else _meta(runs, normalization)
    if not heads.is_empty():
        wanted = pl.DataFrame(groups, schema={"family": pl.String, "ability": pl.String}, orient="row")
        keyed = heads.join(wanted, on=["family", "ability"], how="semi").with_columns(pl.format("{}/{}", "family", "ability").alias("_col"))
        for stat in STATS:
            part = keyed.pivot(on="_col", index=_ID, values=stat, aggregate_function="first")
            table = table.join(part.rename({c: f"{c}/{stat}" for c in part.columns if c not in _ID}), on=_ID, how="left")
    for family, ability in groups:
        for stat in STATS:
            name = f"{family}/{ability}/{stat}"
            table = table.with_columns(pl.col(name).cast(_stat_type(stat)))
    turns = turn_columns(agg)
    if turns is not None:
        table = table.join(turns, on=_ID, how="left")
    table = _overall(table, families)
    ranked = [_rankable(f) for f in families]
    table = table.with_columns(
        [pl.when(ok).then(pl.col(f"{f}/{OVERALL}/mean")).rank("min", descending=True).cast(pl.Int64).alias(f"{f}/rank")
         for f, ok in zip(families, ranked)]
    ).sort(["rank", "system", "condition"], nulls_last=True)
    table = _near_baseline(table, [OVERALL] + [f"{f}/{OVERALL}" for f in families])
    order = ["system", "condition", "rank", "families", *[f"{OVERALL}/{s}" for s in STATS], f"{OVERALL}/near_baseline"]
    for family, ability in groups:
        order += [f"{family}/{ability}/{s}" for s in STATS]
        order += [f"{family}/{OVERALL}/near_baseline", f"{family}/rank"] if ability == OVERALL else []
    return table.select(order + [c for c in table.columns if c not in order])


# A row that failed more than this share of a family's probes is not ranked there (nor overall): its score
# covers fewer items than the others' (the gate's default error-rate limit).
MAX_ERROR_SHARE = report.MAX_ERROR_SHARE


def _stat_type(stat: str) -> pl.DataType:
    return pl.Int64 if stat in ("n", "n_errors") else pl.Float64


def error_share(n: Any, n_errors: Any) -> float:
    """Failed probes as a share of all probes of a score (0 when none is known)."""
    total = (n or 0) + (n_errors or 0)
    return (n_errors or 0) / total if total else 0.0


def _rankable(group: str) -> pl.Expr:
    """A score is ranked when it has a mean and its failed probes are within MAX_ERROR_SHARE."""
    errors, n = pl.col(f"{group}/{OVERALL}/n_errors").fill_null(0), pl.col(f"{group}/{OVERALL}/n").fill_null(0)
    return pl.col(f"{group}/{OVERALL}/mean").is_not_null() & (errors <= MAX_ERROR_SHARE * (n + errors))


def is_baseline(system: str) -> bool:
    """Baselines a real system must beat: random and constant answers (oracle is the ceiling, not a floor)."""
    label = re.sub(r" \[.*\]$", "", system)
    return label == RANDOM or label.startswith(("random,", "constant"))


def _near_baseline(table: pl.DataFrame, groups: list[str]) -> pl.DataFrame:
    """`<group>/near_baseline`: this row's 95% CI overlaps a baseline row's in that score, so the gap
    between them is noise at this size; null for baselines, the oracle (the ceiling, not a system under
    test) and rows without the score."""
    systems = table.get_column("system").to_list()
    base = [is_baseline(s) for s in systems]
    skip = [b or re.sub(r" \[.*\]$", "", s) == "oracle" for b, s in zip(base, systems)]
    for group in groups:
        lo, hi = table.get_column(f"{group}/ci_low").to_list(), table.get_column(f"{group}/ci_high").to_list()
        floors = [(lo[i], hi[i]) for i in range(table.height) if base[i] and lo[i] is not None]
        flags = [None if skip[i] or lo[i] is None or not floors else any(lo[i] <= b_hi and b_lo <= hi[i] for b_lo, b_hi in floors)
                 for i in range(table.height)]
        table = table.with_columns(pl.Series(f"{group}/near_baseline", flags, dtype=pl.Boolean))
    return table


def _overall(table: pl.DataFrame, families: list[str]) -> pl.DataFrame:
    """Mean of the family headlines, only for rows that have them all; normal CI from their half-widths."""
    if not families:
        return table.with_columns(pl.lit(None, pl.Float64).alias(f"{OVERALL}/{s}") for s in ("mean", "ci_low", "ci_high")).with_columns(
            pl.lit(None, pl.Int64).alias(f"{OVERALL}/n"), pl.lit(None, pl.Int64).alias(f"{OVERALL}/n_errors"),
            pl.lit(0, pl.Int64).alias("families"), pl.lit(None, pl.Int64).alias("rank"))
    means = [pl.col(f"{f}/{OVERALL}/mean") for f in families]
    if len(families) == 1:  # the overall of one family is that family's score, CI and all
        f = families[0]
        table = table.with_columns(pl.col(f"{f}/{OVERALL}/{s}").alias(f"{OVERALL}/{s}") for s in STATS).with_columns(
            means[0].is_not_null().cast(pl.Int64).alias("families"))
        return table.with_columns(pl.when(_rankable(f)).then(means[0]).rank("min", descending=True).cast(pl.Int64).alias("rank"))
    se2 = [((pl.col(f"{f}/{OVERALL}/ci_high") - pl.col(f"{f}/{OVERALL}/ci_low")) / (2 * Z95)) ** 2 for f in families]
    mean = pl.mean_horizontal(means)
    half = Z95 * pl.sum_horizontal(se2).sqrt() / len(families)
    complete = pl.all_horizontal([m.is_not_null() for m in means])
    lowest = pl.min_horizontal([pl.col(f"{f}/{OVERALL}/ci_low") for f in families])  # a mean stays within its parts
    highest = pl.max_horizontal([pl.col(f"{f}/{OVERALL}/ci_high") for f in families])
    table = table.with_columns(
        pl.sum_horizontal([m.is_not_null().cast(pl.Int64) for m in means]).alias("families"),
        pl.when(complete).then(mean).alias(f"{OVERALL}/mean"),
        pl.when(complete).then(pl.max_horizontal(mean - half, lowest)).alias(f"{OVERALL}/ci_low"),
        pl.when(complete).then(pl.min_horizontal(mean + half, highest)).alias(f"{OVERALL}/ci_high"),
        pl.when(complete).then(pl.sum_horizontal([pl.col(f"{f}/{OVERALL}/n") for f in families])).cast(pl.Int64).alias(f"{OVERALL}/n"),
        pl.when(complete).then(pl.sum_horizontal([pl.col(f"{f}/{OVERALL}/n_errors") for f in families])).cast(pl.Int64)
        .alias(f"{OVERALL}/n_errors"),
    )
    ranked = pl.all_horizontal([_rankable(f) for f in families])  # not ranked where any family failed too often
    return table.with_columns(pl.when(ranked).then(pl.col(f"{OVERALL}/mean")).rank("min", descending=True).cast(pl.Int64).alias("rank"))


def _meta(runs: list[RunData], normalization: str) -> pl.DataFrame:
    """Per row: cost, latency, footprint and provenance, from its runs."""
    rows: dict[tuple[str, str], list[RunData]] = {}
    for r in runs:
        rows.setdefault((r.system, r.condition), []).append(r)
    records = []
    for (system, condition), mine in rows.items():
        preds = pl.concat([r.predictions for r in mine])
        probes = preds.height
        prompt, completion = (preds.get_column(c).sum() if preds.get_column(c).null_count() < probes else None
                              for c in ("prompt_tokens", "completion_tokens"))
        timed = preds.filter(pl.col("error").is_null() & ~pl.col("cache_hit").fill_null(False)).get_column("latency_s").drop_nulls()
        failed = diagnostics.errors(preds)
        record: dict[str, Any] = {
            "system": system, "condition": condition, "probes": probes,
            "errors": failed.errors, "error_top": failed.top,
            "usage/prompt_tokens": prompt, "usage/completion_tokens": completion,
            "usage/tokens_per_probe": ((prompt or 0) + (completion or 0)) / probes if probes and prompt is not None else None,
            "usage/cached_share": _cached_share(preds),
            "latency/mean_s": timed.mean() if len(timed) else None,
            "latency/p50_s": timed.median() if len(timed) else None,
            "latency/p95_s": timed.quantile(0.95, "linear") if len(timed) else None,
        }
        for key in FOOTPRINT_KEYS:
            values = [v for r in mine if (v := _footprint_value(r.manifest.get("footprint"), key)) is not None]
            record[f"footprint/{key}"] = max(values) if values else None
        record.update(_cost_record(mine))
        record.update(_provenance(mine), normalization=normalization)
        record.update(_bias_record(next((r.bias for r in mine if r.bias is not None), None)))
        records.append(record)
    schema = META_SCHEMA if any(r.family == "sort" for r in runs) else {k: v for k, v in META_SCHEMA.items() if k not in BIAS_SCHEMA}
    return pl.DataFrame([{k: rec[k] for k in schema} for rec in records], schema=schema)


COST_KEYS = ("ingest_s", "ingest_tokens", "memory_bytes", "memory_items")


def _cached_share(preds: pl.DataFrame) -> float | None:
    """Prompt tokens a server's prefix cache served / prompt tokens, over the answers that say both."""
    both = preds.filter(pl.col("error").is_null() & pl.col("prompt_tokens").is_not_null() & pl.col("cached_tokens").is_not_null())
    total = both.get_column("prompt_tokens").sum()
    return both.get_column("cached_tokens").sum() / total if both.height and total else None


def turn_columns(agg: pl.DataFrame) -> pl.DataFrame | None:
    """<family>/turn N/mean|ci_low|ci_high|n|n_errors, for families whose bins are turns of a conversation
    (shared_context): each row's score by turn, pooled over lengths and metrics."""
    rows = agg.filter(pl.col("primary") & pl.col("bin").str.starts_with("turn ")
                      & pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "ability", "depth", "length")]))
    if rows.is_empty():
        return None
    pooled = _pool(rows, [*_ID, "family", "bin"], weighted=True).with_columns(pl.format("{}/{}", "family", "bin").alias("_col"))
    out = None
    for stat in STATS:
        part = pooled.pivot(on="_col", index=_ID, values=stat, aggregate_function="first")
        part = part.rename({c: f"{c}/{stat}" for c in part.columns if c not in _ID})
        out = part if out is None else out.join(part, on=_ID, how="left")
    return out


def _cost_record(runs: list[RunData]) -> dict[str, float | None]:
    """cost/<key>: the per-episode mean of run.json `costs`, over the row's runs weighted by episodes."""
    out = {}
    for key in COST_KEYS:
        pairs = [(c[key]["mean"], c.get("episodes") or 1) for r in runs
                 if isinstance(c := r.manifest.get("costs"), dict) and isinstance(c.get(key), dict)]
        weight = sum(w for _, w in pairs)
        out[f"cost/{key}"] = sum(m * w for m, w in pairs) / weight if pairs else None
    return out


BIAS_SCHEMA: dict[str, pl.DataType] = {
    "sort/a_share": pl.Float64,  # share of valid SORT answers that are "A"
    "sort/gold_a_share": pl.Float64,  # share of SORT probes whose gold is "A" (what always answering A scores)
    "sort/swap_pairs": pl.Int64,  # segment pairs asked in both orders
    "sort/swap_consistency": pl.Float64,  # share of those answered with the same segment both times
}


def _bias_record(bias: diagnostics.SortBias | None) -> dict[str, Any]:
    if bias is None:
        return dict.fromkeys(BIAS_SCHEMA)
    return {"sort/a_share": bias.a_share, "sort/gold_a_share": bias.gold_a_share, "sort/swap_pairs": bias.pairs,
            "sort/swap_consistency": bias.consistent}


META_SCHEMA: dict[str, pl.DataType] = {
    "system": pl.String, "condition": pl.String, "probes": pl.Int64, "errors": pl.Int64, "error_top": pl.String,
    "usage/prompt_tokens": pl.Int64, "usage/completion_tokens": pl.Int64, "usage/tokens_per_probe": pl.Float64,
    "usage/cached_share": pl.Float64,
    "latency/mean_s": pl.Float64, "latency/p50_s": pl.Float64, "latency/p95_s": pl.Float64,
    **{f"footprint/{k}": pl.Int64 for k in FOOTPRINT_KEYS},
    **{f"cost/{k}": pl.Float64 for k in COST_KEYS},
    "runs": pl.List(pl.String), "run_ids": pl.List(pl.String), "specs": pl.List(pl.String), "datasets": pl.List(pl.String),
    "suite_versions": pl.List(pl.String), "started_at": pl.String, "finished_at": pl.String, "normalization": pl.String,
    "judge": pl.String, "judge_official": pl.Boolean,  # LLM-judged runs: the judge's model; False: not the official one
    **BIAS_SCHEMA,
}


def _footprint_value(footprint: Any, key: str) -> int | None:
    """A footprint number: plain, or the max of {mean, max}; a wrapper's reader's when the wrapper has none."""
    if not isinstance(footprint, dict):
        return None
    value = footprint.get(key)
    if value is None and isinstance(footprint.get("reader"), dict):
        value = footprint["reader"].get(key)
    if isinstance(value, dict):
        value = value.get("max")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(round(value))


def _provenance(runs: list[RunData]) -> dict[str, Any]:
    def each(get) -> list[str]:
        return sorted({str(v) for r in runs if (v := get(r)) is not None})

    started, finished = each(lambda r: r.manifest.get("started_at")), each(lambda r: r.manifest.get("finished_at"))
    return {
        "runs": sorted(r.name for r in runs),
        "run_ids": each(lambda r: r.manifest.get("run_id")),
        "specs": each(lambda r: _public_spec(r)),
        "datasets": each(lambda r: f"{r.family}={(r.manifest.get('dataset') or {}).get('content_hash')}"),
        "suite_versions": each(lambda r: (r.manifest.get("versions") or {}).get("longbench-suite")),
        "started_at": started[0] if started else None,
        "finished_at": finished[-1] if finished else None,
        **_judges(runs),
    }


def _judges(runs: list[RunData]) -> dict[str, Any]:
    """The row's judge models (judge.judge_note), and False when any run's judge is not its family's official one."""
    from .judge import judge_note

    notes = [judge_note(r.manifest.get("judge"), r.family) for r in runs]
    flags = [ok for _, ok in notes if ok is not None]
    return {"judge": "; ".join(sorted({n for n, _ in notes if n})) or None, "judge_official": all(flags) if flags else None}


# A system that picks "A" at least this often is answering the position, not the question.
BIASED_A_SHARE = 0.9
ERRORS_NOTE = ("n counts answered probes: a probe whose prediction failed (an error instead of an answer) is left out "
               "of its score and counted under Errors; \"!\" marks a score with more than {share:.0%} failed probes, "
               "which is not ranked (it covers fewer items than the others).")
NOISE_NOTE = ("\"~\" marks a score whose 95% CI overlaps a baseline's (random or constant answers) in the same column: "
              "the gap between them is noise at this size.")
BIAS_NOTE = ("SORT A share: the share of valid SORT answers that pick \"A\" (gold is A in {gold} of the probes, so always "
             "answering A scores chance); A/B consistency: of segment pairs asked in both orders, the share answered with "
             "the same segment both times.")


def notes(table: pl.DataFrame) -> list[str]:
    """Sentences the page states under the table: failed probes (and the most common reason), baselines a
    real system does not beat beyond noise, and position bias on SORT."""
    out: list[str] = []
    groups = [OVERALL] + [c.removesuffix("/near_baseline") for c in table.columns
                          if c.endswith(f"/{OVERALL}/near_baseline") and c != f"{OVERALL}/near_baseline"]
    rows = table.to_dicts()
    failing = [r for r in rows if r.get("errors")]
    if failing:
        out.append(ERRORS_NOTE.format(share=MAX_ERROR_SHARE))
        for r in failing:
            out.append(f"{r['system']} ({r['condition']}): {r['errors']} of {r['probes']} probes failed; most common error: "
                       f"{r.get('error_top')}")
    noisy = []
    for group in groups:
        name = "overall" if group == OVERALL else group.split("/")[0]
        scored = [r for r in rows if r.get(f"{group}/mean") is not None]
        for b in (r for r in scored if is_baseline(r["system"])):
            for r in scored:
                if r.get(f"{group}/near_baseline") and b[f"{group}/mean"] >= r[f"{group}/mean"] \
                        and b[f"{group}/ci_low"] <= r[f"{group}/ci_high"] and r[f"{group}/ci_low"] <= b[f"{group}/ci_high"]:
                    noisy.append(f"{name}: baseline {b['system']} ({b['condition']}) scores at least as high as "
                                 f"{r['system']} ({r['condition']}), within their 95% CIs: noise, not a ranking.")
    if any(r.get(f"{g}/near_baseline") for r in rows for g in groups):
        out.append(NOISE_NOTE)
    out += noisy
    if "sort/a_share" in table.columns and table.get_column("sort/a_share").drop_nulls().len():
        golds = table.get_column("sort/gold_a_share").drop_nulls().unique().to_list()
        out.append(BIAS_NOTE.format(gold=f"{golds[0]:.0%}" if len(golds) == 1 else "a share"))
        for r in rows:
            if r.get("sort/a_share") is not None and r["sort/a_share"] >= BIASED_A_SHARE and not is_baseline(r["system"]):
                out.append(f"sort: {r['system']} ({r['condition']}) answers \"A\" to {r['sort/a_share']:.0%} of SORT probes: "
                           "its SORT score measures position bias, not order memory.")
    return out


def manifest(runs: list[RunData], table: pl.DataFrame, normalization: str, note: str, title: str, dropped: list[str]) -> dict:
    """leaderboard.json: what the page states about the whole board (no local paths: it is published)."""
    families: dict[str, dict] = {}
    for r in runs:
        d = r.manifest.get("dataset") or {}
        fam = families.setdefault(r.family, {"dataset": d.get("content_hash"), "variants": d.get("variants"),
                                            "tokenizer": d.get("tokenizer"), "runs": 0})
        fam["runs"] += 1
    return {
        "title": title, "built_at": provenance.now(), "suite_version": __version__, "normalization": normalization,
        "normalization_note": note, "notes": notes(table), "families": dict(sorted(families.items())), "left_out_families": dropped,
        "rows": table.height,
        "runs": [{"run": r.name, "run_id": r.manifest.get("run_id"), "system": r.system, "condition": r.condition,
                  "family": r.family, "spec": _public_spec(r)} for r in runs],
    }


def build(runs: Sequence[Path], normalization: str = "none",
          title: str = "longbench-suite leaderboard") -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    """(wide table, raw long aggregates, normalised long aggregates, manifest) of these runs."""
    normalization = canonical(normalization)
    agg, data = load(runs)
    normalized, note = normalize(agg, normalization)
    dropped = sorted(set(agg.get_column("family").unique().to_list()) - set(normalized.get_column("family").unique().to_list()))
    table = build_table(normalized, data, normalization)
    return table, agg, normalized, manifest(data, table, normalization, note, title, dropped)


def rebuild(board: Path, datasets: dict[str, Path], normalization: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    """A published board again from what it stores (its raw long aggregates, its table's per-row columns,
    its manifest) and its datasets (checked by content hash), with another normalisation: no run is
    read and no system is called. Chance levels come from the datasets' probes; aggregates written
    before failed probes were counted get n_errors 0 where the board recorded no error at all. What
    needs the runs' predictions (SORT's position bias) is left empty."""
    board = Path(board)
    old, meta = read(board)
    normalization = canonical(normalization)
    agg = read_aggregates_frame(board / LONG)
    families = meta.get("families") or {}
    missing = sorted(set(families) - set(datasets))
    if missing:
        raise UserError(f"give the dataset of every family of {board}: missing {', '.join(missing)} (--dataset FAMILY=PATH)")
    if agg.get_column("n_errors").null_count() and old.get_column("errors").fill_null(0).sum():
        raise UserError(f"{board} records failed probes but its aggregates do not say which cells they were in: "
                        "rebuild it from its runs (lbs leaderboard build)")
    agg = agg.with_columns(pl.col("n_errors").fill_null(0))
    for family, path in sorted(datasets.items()):
        ds = io.Dataset(Path(path))
        want = (families.get(family) or {}).get("dataset")
        if family not in families:
            raise UserError(f"{board} has no family {family!r} (it has {', '.join(families)})")
        if ds.content_hash != want:
            raise UserError(f"{path} is not the {family} dataset of {board} (content hash {ds.content_hash[:19]}, "
                            f"the board's {str(want)[:19]})")
        agg = _fill_chance(agg, family, ds.probes)
    normalized, note = normalize(agg, normalization)
    note += (f" Re-rendered {provenance.now()} from the stored aggregates of the board built {meta.get('built_at')} "
             "(no system was run again).")
    keep = [c for c in old.columns if c in META_SCHEMA]
    rows = old.select(keep).with_columns(pl.lit(normalization).alias("normalization"))
    rows = rows.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in META_SCHEMA.items() if c not in rows.columns)
    if not any(f == "sort" for f in families):
        rows = rows.drop(list(BIAS_SCHEMA))
    table = build_table(normalized, [], normalization, meta=rows.select([c for c in META_SCHEMA if c in rows.columns]))
    manifest = {**meta, "built_at": provenance.now(), "suite_version": __version__, "normalization": normalization,
                "normalization_note": note, "notes": notes(table), "rows": table.height}
    if any(f == "sort" for f in families):
        manifest["notes"].append("SORT position bias needs the runs' predictions, which this board does not store: "
                                 "rebuild it from its runs to show it.")
    return table, agg, normalized, manifest


def _fill_chance(agg: pl.DataFrame, family: str, probes) -> pl.DataFrame:
    """Chance of the stored primary rows of `family`: the mean chance of each cell's probes, computed
    by aggregating the probes' own chance as if it were a score (same grouping sets, same cells)."""
    import pyarrow as pa

    from .aggregate import aggregate

    fake = pa.table({"run_id": pa.nulls(probes.num_rows, pa.string()), "system": ["_"] * probes.num_rows,
                     "condition": ["_"] * probes.num_rows, "probe_id": probes.column("probe_id"),
                     "metric": probes.column("metric"), "value": probes.column("chance"),
                     "judge": pa.nulls(probes.num_rows, pa.string())})
    keys = ["family", "variant", "ability", "length", "depth", "bin", "metric"]
    cells = pl.from_arrow(aggregate(schemas.conform(fake, schemas.SCORES, "chance"), probes)).filter(pl.col("primary"))
    cells = cells.select(*keys, pl.col("mean").alias("_chance"))
    mine = pl.col("family") == family
    filled = agg.filter(mine).join(cells, on=keys, how="left", nulls_equal=True).with_columns(
        pl.when(pl.col("primary")).then(pl.coalesce("chance", "_chance")).alias("chance")).drop("_chance")
    return pl.concat([agg.filter(~mine), filled.select(agg.columns)])


def read_aggregates_frame(path: Path) -> pl.DataFrame:
    """A board's long aggregates (AGGREGATES + `run`), older ones without n_errors and chance included."""
    frame = pl.read_parquet(path) if Path(path).is_file() else None
    if frame is None:
        raise UserError(f"leaderboard aggregates not found: {path}")
    for c in schemas.AGGREGATES_ADDED:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.from_arrow(schemas.empty(schemas.AGGREGATES)).schema[c]).alias(c))
    extra = [c for c in frame.columns if c not in schemas.AGGREGATES.names]
    return frame.select(*schemas.AGGREGATES.names, *extra)


def to_long(table: pl.DataFrame) -> pl.DataFrame:
    """The wide score columns as rows: system, condition, family, ability, mean, ci_low, ci_high, n."""
    groups = sorted({c.rsplit("/", 1)[0] for c in table.columns if c.count("/") == 2 and c.rsplit("/", 1)[1] in STATS})
    parts = [table.select(*_ID, *[pl.col(f"{g}/{s}").cast(_stat_type(s)).alias(s) for s in STATS])
             .with_columns(pl.lit(g.split("/")[0]).alias("family"), pl.lit(g.split("/")[1]).alias("ability")) for g in groups]
    if not parts:
        return pl.DataFrame(schema={"system": pl.String, "condition": pl.String, "family": pl.String, "ability": pl.String,
                                    "mean": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n": pl.Int64, "n_errors": pl.Int64})
    return pl.concat(parts).select(*_ID, "family", "ability", *STATS).filter(pl.col("mean").is_not_null())


def read(path: Path) -> tuple[pl.DataFrame, dict]:
    """A leaderboard directory (or its leaderboard.parquet): the table and its manifest."""
    path = Path(path)
    directory = path.parent if path.suffix == ".parquet" else path
    file = path if path.suffix == ".parquet" else path / TABLE
    if not file.is_file():
        raise UserError(f"leaderboard not found: {file}")
    try:
        table = pl.read_parquet(file)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise UserError(f"{file} is not a readable parquet file ({str(e).splitlines()[0]})") from None
    missing = [c for c in (*_ID, "rank", f"{OVERALL}/mean") if c not in table.columns]
    if missing:
        raise UserError(f"{file} is not a leaderboard table: missing columns {', '.join(missing)}")
    meta = io.read_json(directory / MANIFEST, "leaderboard manifest") if (directory / MANIFEST).is_file() else {}
    return table, meta


def diff(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Rows matched by system x condition: status (same, new, gone), ranks and overall scores old/new and
    their changes (rank_change > 0: moved up), and each family's headline old/new/change."""
    def side(t: pl.DataFrame, tag: str) -> pl.DataFrame:
        fams = [c.split("/")[0] for c in t.columns if c.endswith(f"/{OVERALL}/mean")]
        return t.select(*_ID, pl.col("rank").alias(f"rank_{tag}"), pl.col(f"{OVERALL}/mean").alias(f"overall_{tag}"),
                        *[pl.col(f"{f}/{OVERALL}/mean").alias(f"{f}/{tag}") for f in fams], pl.lit(True).alias(f"_{tag}"))

    a, b = side(old, "old"), side(new, "new")
    out = a.join(b, on=_ID, how="full", coalesce=True)
    families = sorted({c.rsplit("/", 1)[0] for c in out.columns if c.endswith(("/old", "/new"))})
    for f in families:
        for tag in ("old", "new"):
            if f"{f}/{tag}" not in out.columns:
                out = out.with_columns(pl.lit(None, pl.Float64).alias(f"{f}/{tag}"))
    out = out.with_columns(
        pl.when(pl.col("_old").is_null()).then(pl.lit("new")).when(pl.col("_new").is_null()).then(pl.lit("gone"))
        .otherwise(pl.lit("same")).alias("status"),
        (pl.col("rank_old") - pl.col("rank_new")).alias("rank_change"),
        (pl.col("overall_new") - pl.col("overall_old")).alias("overall_change"),
        *[(pl.col(f"{f}/new") - pl.col(f"{f}/old")).alias(f"{f}/change") for f in families],
    )
    cols = [*_ID, "status", "rank_old", "rank_new", "rank_change", "overall_old", "overall_new", "overall_change"]
    cols += [f"{f}/{t}" for f in families for t in ("old", "new", "change")]
    return out.select(cols).sort(["rank_new", "rank_old", "system", "condition"], nulls_last=True)
