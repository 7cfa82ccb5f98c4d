"""Leaderboards: run directories -> one table, one row per system x condition, and the diff of two (polars).

Every family of a leaderboard comes from one dataset (one content hash): a ranking compares systems on
the same items. Scores are normalised (`normalize`) before the table is made, so the table holds what
the page shows; the raw rows of every run stay in the leaderboard's long `aggregates.parquet`.

`leaderboard.parquet` is WIDE: one row per system x condition, because that row is what a reader
compares and what `diff` matches, while the set of families and abilities is data, so it lives in the
column names (scores are fractions, not x100):

    system, condition, rank, families      rank by overall/mean: 1 = best, ties share a rank
    overall/mean|ci_low|ci_high|n          unweighted mean of the family headlines; null unless the row
                                           has every family of the leaderboard (then it has no rank)
    <family>/overall/mean|ci_low|ci_high|n the family's headline: the mean of each probe's own metric
    <family>/rank
    <family>/<ability>/mean|ci_low|ci_high|n   families with two or more abilities, and task-averaged
    probes, errors, usage/prompt_tokens, usage/completion_tokens, usage/tokens_per_probe
    latency/mean_s, latency/p50_s, latency/p95_s   answered probes that were not cache hits
    footprint/<key>                        FOOTPRINT_KEYS as the systems report them (per-episode maxima;
                                           a wrapper's reader counts when the wrapper has none); max over runs
    runs, run_ids, specs, datasets, suite_versions, started_at, finished_at, normalization

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

from . import __version__, io, provenance, schemas
from .aggregate import TASK_AVERAGED
from .errors import UserError
from .metrics import Z95
from .report import load_aggregates
from .report import normalize as ref_normalize

OVERALL = "overall"
STATS = ("mean", "ci_low", "ci_high", "n")
FOOTPRINT_KEYS = ("parameters", "active_parameters", "context_length", "kv_bytes_per_token", "state_bytes", "index_items", "index_bytes")
RANDOM = "random"  # the random baseline's label: the chance level of --normalize random
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


def load(runs: Sequence[Path]) -> tuple[pl.DataFrame, list[RunData]]:
    """The runs' aggregates (long, with a `run` column) and what each run adds to its row."""
    if not runs:
        raise UserError("give at least one run directory")
    own = []
    for path in map(Path, runs):
        if not path.is_dir():
            raise UserError(f"run directory not found: {path}")
        manifest = io.read_json(path / "run.json", "run manifest")
        if manifest.get("status") != "complete":
            c = manifest.get("counts") or {}
            raise UserError(f"run {path} is {manifest.get('status', 'unfinished')} ({c.get('predictions', '?')} of "
                            f"{c.get('probes', '?')} probes): finish it with lbs run --resume before publishing it")
        triples = (pl.from_arrow(io.read_parquet(path / "aggregates.parquet", schemas.AGGREGATES, "aggregates table"))
                   .select("system", "condition", "family").unique().rows())
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
        out.append(RunData(name, manifest, system, condition, family, _predictions(path)))
    _check_datasets(out)
    return agg, out


def _predictions(path: Path) -> pl.DataFrame:
    cols = ["prompt_tokens", "completion_tokens", "latency_s", "cache_hit", "error"]
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


def normalize(agg: pl.DataFrame, how: str) -> tuple[pl.DataFrame, str]:
    """`none`, `random` ((score - random) / (1 - random) per cell) or `ref:SYSTEM` (M4LE's: divided by
    SYSTEM's score at its shortest length, report.normalize). Returns the rows and a sentence saying so."""
    how = (how or "none").strip()
    if how == "none":
        return agg, "Scores are raw: the mean of each probe's own metric (x100), 95% CI in brackets."
    if how == RANDOM:
        return _random_normalize(agg), (
            "Scores are random-normalised: (score - random) / (1 - random) in every cell (family, variant, ability, "
            "length, depth, bin, metric), random being the random baseline's score there: 0 = chance, 100 = perfect, "
            "below 0 = worse than chance (x100, 95% CI in brackets).")
    if how.startswith("ref:") and how[4:].strip():
        ref = how[4:].strip()
        systems = sorted(agg.get_column("system").unique().to_list())
        if ref not in systems:
            raise UserError(f"--normalize {how}: no system {ref!r} among these runs ({', '.join(systems)})")
        return ref_normalize(agg, ref), (
            f"Scores are M4LE-normalised by {ref}: each divided by {ref}'s score in the same condition and cell at its "
            f"shortest length (100 = as good as {ref} there; x100, 95% CI in brackets). Per-ability scores pool "
            "lengths, so they have no reference and are left out.")
    raise UserError(f"--normalize must be none, random or ref:SYSTEM, not {how!r}")


def _random_normalize(agg: pl.DataFrame) -> pl.DataFrame:
    is_random = pl.col("system").str.replace(r" \[.*\]$", "") == RANDOM
    chance = agg.filter(is_random).group_by(_CELL).agg(pl.col("mean").mean().alias("_chance"))
    if chance.is_empty():
        raise UserError("--normalize random needs a run of the random baseline (lbs run --system random) among the runs")
    out = agg.join(chance, on=_CELL, how="inner", nulls_equal=True).filter(pl.col("_chance") < 1)
    scale = [((pl.col(c) - pl.col("_chance")) / (1 - pl.col("_chance"))).alias(c) for c in ("mean", "ci_low", "ci_high")]
    return out.with_columns(scale).drop("_chance")


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
    abilities = mixed.filter(~pl.col("ability").is_in([OVERALL, TASK_AVERAGED]))
    averaged = _pool(abilities, [*_ID, "family"], weighted=False).filter(pl.col("_k") > 1).with_columns(
        pl.lit(TASK_AVERAGED).alias("ability"))
    rest = pooled.join(mixed.filter(pl.col("ability") == TASK_AVERAGED), on=keys, how="anti")
    return pl.concat([rest, averaged.select(rest.columns)]).drop("_k")


def _pool(rows: pl.DataFrame, keys: list[str], weighted: bool) -> pl.DataFrame:
    """One row per group: itself when alone; else the mean (probe-weighted, or plain for task averages)
    with a normal CI from each part's CI half-width, kept within the parts' bounds."""
    se = (pl.col("ci_high") - pl.col("ci_low")) / (2 * Z95)
    w = pl.col("n") / pl.col("n").sum() if weighted else 1 / pl.len()
    g = rows.group_by(keys, maintain_order=True).agg(
        pl.len().alias("_k"), pl.col("n").sum(), (w * pl.col("mean")).sum().alias("_mean"),
        ((w * se) ** 2).sum().sqrt().alias("_se"), pl.col("mean", "ci_low", "ci_high", "ci_method").first(),
        pl.col("ci_low").min().alias("_lo"), pl.col("ci_high").max().alias("_hi"),
    )
    alone = pl.col("_k") == 1
    low = pl.max_horizontal(pl.col("_mean") - Z95 * pl.col("_se"), pl.col("_lo"))
    high = pl.min_horizontal(pl.col("_mean") + Z95 * pl.col("_se"), pl.col("_hi"))
    return g.with_columns(
        pl.when(alone).then(pl.col("mean")).otherwise(pl.col("_mean")).alias("mean"),
        pl.when(alone).then(pl.col("ci_low")).otherwise(low).alias("ci_low"),
        pl.when(alone).then(pl.col("ci_high")).otherwise(high).alias("ci_high"),
        pl.when(alone).then(pl.col("ci_method")).otherwise(pl.lit("normal-strata")).alias("ci_method"),
    ).select(*keys, "_k", "n", "mean", "ci_low", "ci_high", "ci_method")


def by_length(agg: pl.DataFrame) -> pl.DataFrame:
    """Each row's family headline per context length (pooled over metrics): system, condition, family,
    length, n, mean, ci_low, ci_high; the curves of score against length."""
    rows = agg.filter(pl.col("primary") & pl.col("length").is_not_null()
                      & pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "ability", "depth", "bin")]))
    return _pool(rows, [*_ID, "family", "length"], weighted=True).drop("_k", "ci_method").sort([*_ID, "family", "length"])


def by_bin(agg: pl.DataFrame, family: str) -> pl.DataFrame:
    """A family's headline per bin (SORT: distance bin), per length and over all lengths (length null)."""
    rows = agg.filter(pl.col("primary") & (pl.col("family") == family) & pl.col("bin").is_not_null()
                      & pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "ability", "depth")]))
    return _pool(rows, [*_ID, "length", "bin"], weighted=True).drop("_k", "ci_method").sort([*_ID, "length", "bin"], nulls_last=True)


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


def build_table(agg: pl.DataFrame, runs: list[RunData], normalization: str = "none") -> pl.DataFrame:
    """The wide table (see the module doc) from normalised aggregates and the runs' records."""
    heads = headlines(agg)
    groups = score_columns(heads)
    families = sorted({f for f, _ in groups})
    table = _meta(runs, normalization)
    if not heads.is_empty():
        wanted = pl.DataFrame(groups, schema={"family": pl.String, "ability": pl.String}, orient="row")
        keyed = heads.join(wanted, on=["family", "ability"], how="semi").with_columns(pl.format("{}/{}", "family", "ability").alias("_col"))
        for stat in STATS:
            part = keyed.pivot(on="_col", index=_ID, values=stat, aggregate_function="first")
            table = table.join(part.rename({c: f"{c}/{stat}" for c in part.columns if c not in _ID}), on=_ID, how="left")
    for family, ability in groups:
        for stat in STATS:
            name = f"{family}/{ability}/{stat}"
            table = table.with_columns(pl.col(name).cast(pl.Int64 if stat == "n" else pl.Float64))
    table = _overall(table, families)
    table = table.with_columns(
        [pl.col(f"{f}/{OVERALL}/mean").rank("min", descending=True).cast(pl.Int64).alias(f"{f}/rank") for f in families]
    ).sort(["rank", "system", "condition"], nulls_last=True)
    order = ["system", "condition", "rank", "families", *[f"{OVERALL}/{s}" for s in STATS]]
    for family, ability in groups:
        order += [f"{family}/{ability}/{s}" for s in STATS] + ([f"{family}/rank"] if ability == OVERALL else [])
    return table.select(order + [c for c in table.columns if c not in order])


def _overall(table: pl.DataFrame, families: list[str]) -> pl.DataFrame:
    """Mean of the family headlines, only for rows that have them all; normal CI from their half-widths."""
    if not families:
        return table.with_columns(pl.lit(None, pl.Float64).alias(f"{OVERALL}/{s}") for s in ("mean", "ci_low", "ci_high")).with_columns(
            pl.lit(None, pl.Int64).alias(f"{OVERALL}/n"), pl.lit(0, pl.Int64).alias("families"), pl.lit(None, pl.Int64).alias("rank"))
    means = [pl.col(f"{f}/{OVERALL}/mean") for f in families]
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
    )
    return table.with_columns(pl.col(f"{OVERALL}/mean").rank("min", descending=True).cast(pl.Int64).alias("rank"))


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
        record: dict[str, Any] = {
            "system": system, "condition": condition, "probes": probes,
            "errors": preds.get_column("error").is_not_null().sum(),
            "usage/prompt_tokens": prompt, "usage/completion_tokens": completion,
            "usage/tokens_per_probe": ((prompt or 0) + (completion or 0)) / probes if probes and prompt is not None else None,
            "latency/mean_s": timed.mean() if len(timed) else None,
            "latency/p50_s": timed.median() if len(timed) else None,
            "latency/p95_s": timed.quantile(0.95, "linear") if len(timed) else None,
        }
        for key in FOOTPRINT_KEYS:
            values = [v for r in mine if (v := _footprint_value(r.manifest.get("footprint"), key)) is not None]
            record[f"footprint/{key}"] = max(values) if values else None
        record.update(_provenance(mine), normalization=normalization)
        records.append(record)
    return pl.DataFrame(records, schema=META_SCHEMA)


META_SCHEMA: dict[str, pl.DataType] = {
    "system": pl.String, "condition": pl.String, "probes": pl.Int64, "errors": pl.Int64,
    "usage/prompt_tokens": pl.Int64, "usage/completion_tokens": pl.Int64, "usage/tokens_per_probe": pl.Float64,
    "latency/mean_s": pl.Float64, "latency/p50_s": pl.Float64, "latency/p95_s": pl.Float64,
    **{f"footprint/{k}": pl.Int64 for k in FOOTPRINT_KEYS},
    "runs": pl.List(pl.String), "run_ids": pl.List(pl.String), "specs": pl.List(pl.String), "datasets": pl.List(pl.String),
    "suite_versions": pl.List(pl.String), "started_at": pl.String, "finished_at": pl.String, "normalization": pl.String,
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
    }


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
        "normalization_note": note, "families": dict(sorted(families.items())), "left_out_families": dropped,
        "rows": table.height,
        "runs": [{"run": r.name, "run_id": r.manifest.get("run_id"), "system": r.system, "condition": r.condition,
                  "family": r.family, "spec": _public_spec(r)} for r in runs],
    }


def build(runs: Sequence[Path], normalization: str = "none",
          title: str = "longbench-suite leaderboard") -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    """(wide table, raw long aggregates, normalised long aggregates, manifest) of these runs."""
    agg, data = load(runs)
    normalized, note = normalize(agg, normalization)
    dropped = sorted(set(agg.get_column("family").unique().to_list()) - set(normalized.get_column("family").unique().to_list()))
    table = build_table(normalized, data, normalization)
    return table, agg, normalized, manifest(data, table, normalization, note, title, dropped)


def to_long(table: pl.DataFrame) -> pl.DataFrame:
    """The wide score columns as rows: system, condition, family, ability, mean, ci_low, ci_high, n."""
    groups = sorted({c.rsplit("/", 1)[0] for c in table.columns if c.count("/") == 2 and c.rsplit("/", 1)[1] in STATS})
    parts = [table.select(*_ID, *[pl.col(f"{g}/{s}").cast(pl.Float64 if s != "n" else pl.Int64).alias(s) for s in STATS])
             .with_columns(pl.lit(g.split("/")[0]).alias("family"), pl.lit(g.split("/")[1]).alias("ability")) for g in groups]
    if not parts:
        return pl.DataFrame(schema={"system": pl.String, "condition": pl.String, "family": pl.String, "ability": pl.String,
                                    "mean": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n": pl.Int64})
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
