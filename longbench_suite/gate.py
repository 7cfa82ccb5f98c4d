"""The CI regression gate: is a candidate run worse than a baseline on the same probes?

Sides. The baseline is a run directory or a baseline file; the candidate is a run directory.
  run directory   run.json (dataset hash, system), scores.parquet, predictions.parquet (errors); a
                  baseline run also needs its dataset's probes.parquet (group columns, primary metric),
                  found at run.json's dataset path or given as `dataset`.
  baseline file   written by `write_baseline` (`lbs gate --write-baseline`): one row per (probe, metric)
                  with the probe's group columns (BASELINE schema); dataset hash, system and run id in
                  the parquet metadata. Small and deterministic, so a project commits it.

Comparison. Paired on the probes both sides scored, on each probe's primary metric (or one named
metric), within groups of probes (task = family, variant, ability, length, depth, bin; default task).
Per group, one-sided (H1: the candidate is worse):
  0/1 scores     exact McNemar test: under H0 a discordant probe is a loss or a win with probability
                 1/2, so p = P(Binomial(wins + losses, 1/2) >= losses) (scipy.stats.binomtest).
  other scores   paired bootstrap of the mean difference (candidate - baseline): the differences are
                 centred (H0 imposed), scaled by sqrt(n/(n-1)) so the resampled variance is the
                 unbiased one, resampled `resamples` times with a seed per (seed, group), and
                 p = (1 + #{resampled mean <= observed mean}) / (resamples + 1).
A group regresses only when the observed drop (baseline mean - candidate mean) is larger than
`max_drop` AND its Holm-adjusted p-value is at most `alpha`.

Power. A test on few probes cannot see a drop, and "no significant drop" is then no evidence of "no
drop". Every group reports its minimum detectable drop (`min_detectable_drop`): the smallest drop
that could be significant at the level alpha / m (m tested groups: a p-value that low is rejected by
Holm whatever the other groups do).
  0/1 scores     exact: k = ceil(log2(m / alpha)) losses and no wins give p = 2^-k <= alpha / m, and no
                 outcome with fewer net losses (losses - wins) is significant, so the smallest
                 detectable drop is k / n; none when k > n (e.g. n = 4 at alpha 0.05: any result passes).
  other scores   approximate: z(1 - alpha/m) * s / sqrt(n), s the standard deviation of the observed
                 paired differences (the spread of the bootstrap's null mean); none when n < 2 or
                 alpha/m < 1/(resamples + 1) (the smallest p-value the bootstrap can give).
A group that did not regress is `inconclusive` when its minimum detectable drop is larger than
`max_drop` (or none): the gate could not have caught the drop it is asked to catch. The gate's outcome
is then "inconclusive" (exit 3; `allow_inconclusive` makes it exit 0), never "passed".

Multiple groups: Holm-Bonferroni over all tested groups. The gate fails when any group fails, so the
error that matters to a CI user is the family-wise one (the chance that the gate fails at all when
nothing changed); Holm bounds it by alpha under any dependence between groups, and is uniformly more
powerful than Bonferroni. With one group (the default: one task per dataset) it changes nothing. It
is applied to every tested group, not only to those past `max_drop`: selecting on the observed drop
first would make the correction too lenient.

Calibration (bench/gate_calibration.py, 1,000 probes, defaults): identical systems fail the gate in
3.9% (0/1 scores) and 0.2% (graded) of simulations, below alpha; a planted 5-point drop is caught in
91% when two runs of one system disagree on 25% of probes, 84% at 33%. At this size the test, not
max-drop, is the binding condition (at 25% disagreement only a drop of ~2.6 points is significant),
so only a larger alpha or more probes buys power.

Other failures, each reported with its own reason: the dataset differs (content hashes of the two
sides), baseline probes are missing from the candidate, the candidate's error rate (predictions with
an error) or invalid-answer rate (the `invalid` metric, where a family reports it, e.g. SORT) is above
its threshold (invalid answers: and above the baseline's rate, so identical weak runs pass).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__, io, schemas
from .errors import UserError

DEFAULT_MAX_DROP = 0.02
DEFAULT_ALPHA = 0.05
DEFAULT_MAX_ERROR_RATE = 0.05
DEFAULT_RESAMPLES = 10_000
INVALID_METRIC = "invalid"  # a rate where lower is better: checked, never gated as a score
# --group-by names -> probe columns ("task" is the suite's word for a family).
GROUP_COLUMNS = {"task": "family", "family": "family", "variant": "variant", "ability": "ability",
                 "length": "length", "depth": "depth", "bin": "bin"}
_INFO = ("family", "variant", "ability", "length", "depth", "bin")
_INFO_TYPES = {"family": pl.String, "variant": pl.String, "ability": pl.String, "length": pl.Int64, "depth": pl.Float64,
               "bin": pl.String}
_BOOTSTRAP_CHUNK = 4_000_000  # resampled values held at once (int32 indices + float64 values)

# A committed baseline: one row per (probe, metric) a run scored, with the probe's group columns.
BASELINE = pa.schema(
    [
        ("probe_id", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("judge", pa.string()),
        ("primary", pa.bool_()),  # the metric is the probe's primary metric
        *[schemas.PROBES.field(c) for c in _INFO],
    ]
)
BASELINE_META_KEY = b"lbs.gate.baseline"
BASELINE_FORMAT = 1


# --- sides ----------------------------------------------------------------------------------------


@dataclass
class Side:
    """Per-probe scores of one side (BASELINE columns; group columns null where unknown) and provenance."""

    source: str
    kind: str  # run | file
    scores: pl.DataFrame
    dataset_hash: str | None
    system: str | None
    run_id: str | None
    condition: str | None
    status: str | None = None
    n_predictions: int | None = None  # runs only
    n_errors: int | None = None
    family: str | None = None  # runs: the dataset's family (run.json)

    def families(self) -> set[str]:
        """The task families of this side's probes (a baseline file records them per score)."""
        if self.family:
            return {self.family}
        return set(self.scores.get_column("family").drop_nulls().unique().to_list())

    def info(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "system": self.system, "run_id": self.run_id,
                "condition": self.condition, "dataset_hash": self.dataset_hash, "status": self.status}


def _run_manifest(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    manifest = io.read_json(run_dir / "run.json", "run manifest")
    dataset = manifest.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("content_hash"):
        raise UserError(f"{run_dir / 'run.json'} does not name its dataset's content hash")
    return manifest


def run_probes(run_dir: Path, dataset: Path | None = None) -> pa.Table:
    """The probes a run was made on: its dataset's probes.parquet (run.json's path, or `dataset`), checked
    to be the same data by the manifests' content hashes. Episodes are not read: only probes are needed."""
    run_dir = Path(run_dir)
    manifest = _run_manifest(run_dir)
    recorded = manifest["dataset"]
    path = Path(dataset) if dataset is not None else Path(recorded.get("path") or "")
    if not (path / "manifest.json").is_file():
        where = "--dataset" if dataset is not None else f"{run_dir / 'run.json'} names"
        raise UserError(f"dataset of {run_dir} not found: {where} {path} (give the dataset directory with --dataset)")
    found = io.read_json(path / "manifest.json", "dataset manifest").get("content_hash")
    if found != recorded["content_hash"]:
        raise UserError(f"dataset {path} is not the one {run_dir} was run on (content hash {found} != {recorded['content_hash']})")
    return io.read_parquet(path / "probes.parquet", schemas.PROBES, "probes table")


def _with_probe_info(scores: pa.Table, probes: pa.Table | None) -> pl.DataFrame:
    frame = pl.from_arrow(scores.select(["probe_id", "metric", "value", "judge"]))
    if probes is None:  # a candidate: pairing uses the baseline's group columns and primary metrics
        frame = frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias("primary"),
                                   *[pl.lit(None, dtype=t).alias(c) for c, t in _INFO_TYPES.items()])
    else:
        info = pl.from_arrow(probes.select(["probe_id", "metric", *_INFO])).rename({"metric": "probe_metric"})
        frame = frame.join(info, on="probe_id", how="inner").with_columns(
            (pl.col("metric") == pl.col("probe_metric")).alias("primary")).drop("probe_metric")
    return frame.select(BASELINE.names)


def load_run(run_dir: Path, dataset: Path | None = None, with_probes: bool = True) -> Side:
    """A run directory as a side; `with_probes` reads its dataset's probes (a baseline needs them)."""
    run_dir = Path(run_dir)
    manifest = _run_manifest(run_dir)
    probes = run_probes(run_dir, dataset) if with_probes else None
    scores = io.read_parquet(run_dir / "scores.parquet", schemas.SCORES, "scores table")
    errors = _read_column(run_dir / "predictions.parquet", "error", "predictions table")
    system = manifest.get("system") if isinstance(manifest.get("system"), dict) else {}
    return Side(
        source=str(run_dir), kind="run", scores=_unique(_with_probe_info(scores, probes), run_dir),
        dataset_hash=manifest["dataset"]["content_hash"], system=system.get("spec"), run_id=manifest.get("run_id"),
        condition=manifest.get("condition"), status=manifest.get("status"),
        n_predictions=len(errors), n_errors=len(errors) - errors.null_count,
        family=manifest["dataset"].get("family") if isinstance(manifest["dataset"].get("family"), str) else None,
    )


def _read_column(path: Path, column: str, what: str) -> pa.ChunkedArray:
    """One column of a parquet file (the error column of predictions: outputs can be large)."""
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return pq.read_table(path, columns=[column]).column(column)
    except (pa.ArrowException, OSError, KeyError) as e:
        raise UserError(f"{what} {path} has no readable {column} column ({str(e).splitlines()[0]})") from None


def load_baseline_file(path: Path) -> Side:
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise UserError(f"baseline {path} is not a readable parquet file ({str(e).splitlines()[0]})") from None
    raw = (table.schema.metadata or {}).get(BASELINE_META_KEY)
    if raw is None:
        raise UserError(f"{path} is not a gate baseline (write one with: lbs gate --baseline RUN --write-baseline FILE)")
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta = {}
    version = meta.get("format") if isinstance(meta, dict) else None
    if version != BASELINE_FORMAT:
        raise UserError(f"baseline {path} has format {version}, this lbs reads format {BASELINE_FORMAT}")
    try:
        table = schemas.conform(table, BASELINE, str(path))
    except (ValueError, pa.ArrowException) as e:
        raise UserError(f"baseline {path} has the wrong schema: {e}") from None
    return Side(source=str(path), kind="file", scores=_unique(pl.from_arrow(table), path),
                dataset_hash=meta.get("dataset_hash"), system=meta.get("system"), run_id=meta.get("run_id"),
                condition=meta.get("condition"), status=meta.get("status"))


def load_side(path: Path, dataset: Path | None = None) -> Side:
    """A baseline: a run directory or a baseline file."""
    path = Path(path)
    if path.is_dir():
        return load_run(path, dataset)
    if path.is_file():
        return load_baseline_file(path)
    raise UserError(f"baseline not found: {path} (a run directory or a baseline .parquet file)")


def _unique(frame: pl.DataFrame, where: Path) -> pl.DataFrame:
    if frame.select(["probe_id", "metric"]).is_duplicated().any():
        raise UserError(f"{where} has more than one score for a (probe, metric)")
    return frame


def baseline_table(side: Side) -> pa.Table:
    """The committed form of a side: rows sorted, provenance (no paths, no times) in the metadata,
    so exporting the same run twice gives the same bytes."""
    table = side.scores.sort(["probe_id", "metric"]).to_arrow()
    table = schemas.conform(table, BASELINE, "baseline")
    meta = {"format": BASELINE_FORMAT, "dataset_hash": side.dataset_hash, "system": side.system, "run_id": side.run_id,
            "condition": side.condition, "status": side.status, "suite_version": __version__,
            "probes": side.scores.get_column("probe_id").n_unique()}
    return table.replace_schema_metadata({BASELINE_META_KEY: json.dumps(meta, sort_keys=True).encode()})


def write_baseline(side: Side, path: Path) -> pa.Table:
    if side.kind != "run":
        raise UserError("--write-baseline needs a run directory as --baseline")
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--write-baseline {path} is a directory; give a file name such as baseline.parquet")
    io.check_dir_path(path.parent)
    table = baseline_table(side)
    io.write_parquet(table, path)
    return table


# --- statistics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedTest:
    method: str  # mcnemar-exact | paired-bootstrap
    p_value: float  # one-sided: small when the candidate is worse
    wins: int | None = None  # 0/1 only: candidate right, baseline wrong
    losses: int | None = None  # 0/1 only: baseline right, candidate wrong


def is_binary(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (values == 1)))


def mcnemar_exact(baseline: np.ndarray, candidate: np.ndarray) -> PairedTest:
    from scipy.stats import binomtest

    losses = int(np.sum((baseline == 1) & (candidate == 0)))
    wins = int(np.sum((baseline == 0) & (candidate == 1)))
    p = binomtest(losses, losses + wins, 0.5, alternative="greater").pvalue if losses + wins else 1.0
    return PairedTest("mcnemar-exact", float(p), wins, losses)


def bootstrap_drop(baseline: np.ndarray, candidate: np.ndarray, rng: np.random.Generator,
                   resamples: int = DEFAULT_RESAMPLES) -> PairedTest:
    diff = np.asarray(candidate, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    n = len(diff)
    if n < 2:  # one pair says nothing about the spread
        return PairedTest("paired-bootstrap", 1.0)
    observed = diff.mean()
    null = (diff - observed) * np.sqrt(n / (n - 1))
    below = 0
    per_chunk = max(1, _BOOTSTRAP_CHUNK // n)
    for start in range(0, resamples, per_chunk):  # vectorised in chunks: memory stays bounded at any n
        size = min(per_chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n), dtype=np.int32 if n < 2**31 else np.int64)
        below += int(np.count_nonzero(null[idx].mean(axis=1) <= observed + 1e-12))
    return PairedTest("paired-bootstrap", (1 + below) / (resamples + 1))


def paired_test(baseline: np.ndarray, candidate: np.ndarray, rng: np.random.Generator,
                resamples: int = DEFAULT_RESAMPLES) -> PairedTest:
    """Exact McNemar for 0/1 scores, the paired bootstrap otherwise (one-sided: candidate worse)."""
    baseline, candidate = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if is_binary(baseline) and is_binary(candidate):
        return mcnemar_exact(baseline, candidate)
    return bootstrap_drop(baseline, candidate, rng, resamples)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def mcnemar_min_losses(level: float) -> int:
    """The fewest discordant pairs that can make the one-sided exact McNemar test significant at
    `level`: k = ceil(log2(1 / level)), all of them losses (p = P(Binomial(k, 1/2) >= k) = 2^-k).
    With w wins the losses needed grow faster than w, so no outcome with losses - wins < k is
    significant either (tests/test_gate_power.py checks this exhaustively up to 300 pairs)."""
    return max(1, math.ceil(-math.log2(level) - 1e-9))


def min_detectable_drop(baseline: np.ndarray, candidate: np.ndarray, level: float,
                        resamples: int = DEFAULT_RESAMPLES) -> float | None:
    """The smallest drop (baseline mean - candidate mean) the group's test could find significant at
    `level`, for the test paired_test would use; None when no drop of any size could be.
      0/1 scores     mcnemar_min_losses(level) / n (exact: a drop is net losses / n)
      other scores   z(1 - level) * s / sqrt(n), s the sd of the paired differences (normal
                     approximation of the bootstrap's null mean, whose sd is s / sqrt(n))"""
    baseline, candidate = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    n = len(baseline)
    if is_binary(baseline) and is_binary(candidate):
        k = mcnemar_min_losses(level)
        return k / n if k <= n else None
    if n < 2 or level < 1 / (resamples + 1):
        return None
    from scipy.stats import norm

    spread = float(np.std(candidate - baseline, ddof=1))
    return float(norm.ppf(1 - level)) * spread / math.sqrt(n)


@dataclass
class GroupResult:
    key: dict[str, Any]
    label: str
    metrics: list[str]
    n: int
    baseline_mean: float
    candidate_mean: float
    test: PairedTest
    p_holm: float
    regressed: bool
    min_detectable_drop: float | None = None  # at alpha / (groups tested); None: no drop could be significant
    inconclusive: bool = False  # not regressed, and a drop of max_drop could not have been detected

    @property
    def drop(self) -> float:
        return self.baseline_mean - self.candidate_mean

    @property
    def decision(self) -> str:
        return "regression" if self.regressed else "inconclusive" if self.inconclusive else "pass"

    @property
    def detectable(self) -> str:
        """The minimum detectable drop in words (gate check detail, CLI verdict)."""
        if self.min_detectable_drop is None:
            return "no drop of any size could be significant"
        return f"smallest detectable drop {self.min_detectable_drop:.3g}"

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.key, "label": self.label, "metrics": self.metrics, "n": self.n,
                "baseline_mean": self.baseline_mean, "candidate_mean": self.candidate_mean,
                "difference": self.candidate_mean - self.baseline_mean, "test": self.test.method,
                "wins": self.test.wins, "losses": self.test.losses, "p_value": self.test.p_value,
                "p_holm": self.p_holm, "min_detectable_drop": self.min_detectable_drop,
                "regressed": self.regressed, "decision": self.decision}


@dataclass(frozen=True)
class Group:
    """One group's paired scores."""

    key: dict[str, Any]
    baseline: np.ndarray
    candidate: np.ndarray
    metrics: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={'—' if v is None else v}" for k, v in self.key.items()) or "all"


def compare_groups(groups: Sequence[Group], max_drop: float = DEFAULT_MAX_DROP, alpha: float = DEFAULT_ALPHA,
                   seed: int = 0, resamples: int = DEFAULT_RESAMPLES) -> list[GroupResult]:
    """Test every group, adjust by Holm, decide: a group regresses when its observed drop exceeds
    `max_drop` and its adjusted p-value is at most `alpha`; it is inconclusive when it did not and
    its minimum detectable drop is above `max_drop`. The CLI and the calibration both call this."""
    tests = []
    for g in groups:
        # A generator per (seed, group): adding a group never changes another group's p-value.
        rng = np.random.default_rng([seed, zlib.crc32(g.label.encode())])
        tests.append(paired_test(g.baseline, g.candidate, rng, resamples))
    adjusted = holm([t.p_value for t in tests])
    level = alpha / max(1, len(groups))  # Holm's first step: significant whatever the other groups show
    out = []
    for g, t, p in zip(groups, tests, adjusted, strict=True):
        b, c = float(np.mean(g.baseline)), float(np.mean(g.candidate))
        regressed = bool(b - c > max_drop + 1e-12 and p <= alpha)
        mdd = min_detectable_drop(g.baseline, g.candidate, level, resamples)
        out.append(GroupResult(key=g.key, label=g.label, metrics=list(g.metrics), n=len(g.baseline), baseline_mean=b,
                               candidate_mean=c, test=t, p_holm=p, regressed=regressed, min_detectable_drop=mdd,
                               inconclusive=not regressed and (mdd is None or mdd > max_drop + 1e-12)))
    return out


# --- the gate -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    metric: str | None = None  # None: each probe's primary metric
    group_by: tuple[str, ...] = ("task",)
    max_drop: float = DEFAULT_MAX_DROP
    alpha: float = DEFAULT_ALPHA
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_invalid_rate: float | None = None  # None: max_error_rate
    seed: int = 0
    resamples: int = DEFAULT_RESAMPLES
    allow_inconclusive: bool = False  # exit 0 instead of 3 when a group could not have seen a max_drop drop

    def check(self) -> None:
        unknown = [g for g in self.group_by if g not in GROUP_COLUMNS]
        if unknown:
            raise UserError(f"--group-by {unknown[0]!r} is not one of {', '.join(GROUP_COLUMNS)}")
        if not 0 <= self.max_drop < 1:
            raise UserError(f"--max-drop must be in [0, 1) (an absolute drop on the 0-1 scale), not {self.max_drop}")
        if not 0 < self.alpha < 1:
            raise UserError(f"--alpha must be in (0, 1), not {self.alpha}")
        for name, rate in (("--max-error-rate", self.max_error_rate), ("--max-invalid-rate", self.max_invalid_rate)):
            if rate is not None and not 0 <= rate <= 1:
                raise UserError(f"{name} must be in [0, 1], not {rate}")
        if self.seed < 0:
            raise UserError(f"--seed must be at least 0, not {self.seed}")
        if self.resamples < 100:
            raise UserError(f"--resamples must be at least 100, not {self.resamples}")
        if self.metric == INVALID_METRIC:
            raise UserError("the invalid metric is a rate checked by --max-invalid-rate, not a score to gate on")

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(GROUP_COLUMNS[g] for g in self.group_by))


@dataclass
class Check:
    name: str  # dataset | missing | errors | invalid | regression
    passed: bool | None  # None: not applicable, or not decided (inconclusive)
    detail: str
    value: float | None = None
    threshold: float | None = None
    inconclusive: bool = False  # regression: no group regressed, but some could not have been seen to


# Exit codes of `lbs gate` (2, bad input, is cli.main's for every command).
EXIT_CODES = {"passed": 0, "failed": 1, "inconclusive": 3}


@dataclass
class GateResult:
    baseline: dict[str, Any]
    candidate: dict[str, Any]
    settings: Settings
    groups: list[GroupResult]
    checks: list[Check]
    notes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """failed (a check failed), inconclusive (none failed, but a group could not have detected a
        drop of max_drop), or passed."""
        if self.failures:
            return "failed"
        return "inconclusive" if any(c.inconclusive for c in self.checks) else "passed"

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.passed is False]

    @property
    def inconclusive_groups(self) -> list[GroupResult]:
        return [g for g in self.groups if g.inconclusive]

    @property
    def exit_code(self) -> int:
        if self.outcome == "inconclusive" and self.settings.allow_inconclusive:
            return EXIT_CODES["passed"]
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict[str, Any]:
        settings = asdict(self.settings)
        settings["group_by"] = list(self.settings.group_by)
        settings["max_invalid_rate"] = _invalid_threshold(self.settings)
        settings["correction"] = "holm"
        return {"outcome": self.outcome, "passed": self.passed, "exit_code": self.exit_code,
                "failures": [c.name for c in self.failures],
                "baseline": self.baseline, "candidate": self.candidate, "settings": settings,
                "checks": [asdict(c) for c in self.checks], "groups": [g.to_dict() for g in self.groups],
                "notes": self.notes}


def _invalid_threshold(settings: Settings) -> float:
    return settings.max_error_rate if settings.max_invalid_rate is None else settings.max_invalid_rate


def _select_baseline(side: Side, metric: str | None) -> pl.DataFrame:
    if metric is None:
        chosen = side.scores.filter(pl.col("primary"))
        if chosen.is_empty():
            raise UserError(f"baseline {side.source} has no scores of its probes' primary metric (an LLM judge's "
                            f"verdict not made yet? judge it with lbs score RUN --judge SPEC, or choose --metric)")
        return chosen
    chosen = side.scores.filter(pl.col("metric") == metric)
    if chosen.is_empty():
        have = sorted(set(side.scores.get_column("metric").to_list()) - {INVALID_METRIC})
        raise UserError(f"baseline {side.source} has no scores of metric {metric!r} (it has: {', '.join(have) or 'none'})")
    return chosen


def pair(baseline: Side, candidate: Side, settings: Settings) -> tuple[pl.DataFrame, list[str], int]:
    """Paired scores on the baseline's probes: (pairs with columns probe_id, metric, group columns, b, c,
    b_judge, c_judge; baseline probe ids without a candidate score; candidate probes the baseline lacks)."""
    base = _select_baseline(baseline, settings.metric)
    cand = candidate.scores.select(["probe_id", "metric", pl.col("value").alias("c"), pl.col("judge").alias("c_judge")])
    keyed = base.select(["probe_id", "metric", *settings.columns, pl.col("value").alias("b"), pl.col("judge").alias("b_judge")])
    pairs = keyed.join(cand, on=["probe_id", "metric"], how="inner").sort("probe_id")
    missing = keyed.join(cand, on=["probe_id", "metric"], how="anti").get_column("probe_id").unique().sort().to_list()
    base_ids = baseline.scores.get_column("probe_id").unique()
    extra = candidate.scores.filter(~pl.col("probe_id").is_in(base_ids.implode())).get_column("probe_id").n_unique()
    return pairs, missing, extra


def groups_of(pairs: pl.DataFrame, columns: Sequence[str]) -> list[Group]:
    """The paired scores split by the group columns (a null value is a group of its own)."""
    if pairs.is_empty():
        return []
    parts = pairs.partition_by(list(columns), as_dict=True, maintain_order=True) if columns else {(): pairs}
    out = []
    for values, part in parts.items():
        key = dict(zip(_names(columns), values, strict=True))
        out.append(Group(key, part.get_column("b").to_numpy(), part.get_column("c").to_numpy(),
                         tuple(sorted(set(part.get_column("metric").to_list())))))
    return sorted(out, key=lambda g: [(v is not None, v) for v in g.key.values()])


def _names(columns: Sequence[str]) -> list[str]:
    return ["task" if c == "family" else c for c in columns]


def gate(baseline: Side, candidate: Side, settings: Settings) -> GateResult:
    """Compare `candidate` with `baseline`; every check and every group decision in one result."""
    settings.check()
    if candidate.kind != "run":
        raise UserError("--candidate must be a run directory")
    base_families, cand_families = baseline.families(), candidate.families()
    if base_families and cand_families and not base_families & cand_families:  # nothing comparable: a mix-up, not a regression
        raise UserError(f"baseline {baseline.source} is a run of task family {', '.join(sorted(base_families))}, "
                        f"candidate {candidate.source} of {', '.join(sorted(cand_families))}: nothing to compare")
    pairs, missing, extra = pair(baseline, candidate, settings)
    results = compare_groups(groups_of(pairs, settings.columns), settings.max_drop, settings.alpha, settings.seed,
                             settings.resamples)
    n_base = pairs.height + len(missing)
    checks = [
        _dataset_check(baseline, candidate),
        Check("missing", not missing, f"{len(missing)} of {n_base} baseline probes have no candidate score"
              + (f" (e.g. {', '.join(missing[:3])})" if missing else ""), float(len(missing)), 0.0),
        _errors_check(candidate, settings.max_error_rate),
        _invalid_check(candidate, baseline, _invalid_threshold(settings)),
        _regression_check(results, settings),
    ]
    notes = []
    if baseline.condition and candidate.condition and baseline.condition != candidate.condition:
        notes.append(f"conditions differ: baseline {baseline.condition}, candidate {candidate.condition}")
    if baseline.n_errors:
        notes.append(f"{baseline.n_errors} baseline predictions failed (scored 0): the candidate is compared with those zeros")
    if extra:
        notes.append(f"{extra} candidate probes are not in the baseline (not compared)")
    judged = pairs.filter(pl.col("b_judge").is_not_null() | pl.col("c_judge").is_not_null())
    differ = judged.filter(pl.col("b_judge").ne_missing(pl.col("c_judge"))).height
    if differ:
        notes.append(f"{differ} of {judged.height} judged probes were judged by different judges on the two sides")
    return GateResult(baseline.info(), candidate.info(), settings, results, checks, notes)


def _dataset_check(baseline: Side, candidate: Side) -> Check:
    if not baseline.dataset_hash or not candidate.dataset_hash:
        return Check("dataset", None, "a side does not record its dataset's content hash")
    same = baseline.dataset_hash == candidate.dataset_hash
    detail = (f"same data ({baseline.dataset_hash[:19]})" if same else
              f"different data: baseline {baseline.dataset_hash[:19]}, candidate {candidate.dataset_hash[:19]}")
    return Check("dataset", same, detail)


def _errors_check(candidate: Side, threshold: float) -> Check:
    if not candidate.n_predictions:
        return Check("errors", None, "the candidate has no predictions")
    rate = (candidate.n_errors or 0) / candidate.n_predictions
    return Check("errors", rate <= threshold + 1e-12,
                 f"{candidate.n_errors} of {candidate.n_predictions} candidate predictions failed ({rate:.1%}, max {threshold:.1%})",
                 rate, threshold)


def _invalid_check(candidate: Side, baseline: Side, threshold: float) -> Check:
    """Fails when the candidate's invalid-answer rate is above the threshold and above the baseline's:
    a weak system whose answers were as often invalid before is not a regression (identical runs pass)."""
    values = candidate.scores.filter(pl.col("metric") == INVALID_METRIC).get_column("value")
    if values.is_empty():
        return Check("invalid", None, "the family reports no invalid answers")
    rate = float(values.mean())
    base = baseline.scores.filter(pl.col("metric") == INVALID_METRIC).get_column("value")
    base_rate = float(base.mean()) if not base.is_empty() else None
    ok = rate <= threshold + 1e-12 or (base_rate is not None and rate <= base_rate + 1e-12)
    versus = f", baseline {base_rate:.1%}" if base_rate is not None else ""
    return Check("invalid", ok, f"{int(values.sum())} of {len(values)} candidate answers invalid "
                 f"({rate:.1%}, max {threshold:.1%}{versus})", rate, threshold)


def _regression_check(results: list[GroupResult], settings: Settings) -> Check:
    if not results:
        return Check("regression", None, "no probe scored on both sides")
    failed = [g.label for g in results if g.regressed]
    if failed:
        return Check("regression", False, f"{len(failed)} of {len(results)} groups dropped by more than {settings.max_drop:g} "
                     f"at alpha {settings.alpha:g} (Holm): {'; '.join(failed)}", float(len(failed)), 0.0)
    unseen = [g for g in results if g.inconclusive]
    if unseen:
        return Check("regression", None, f"inconclusive: {len(unseen)} of {len(results)} groups could not have detected a "
                     f"drop of {settings.max_drop:g} at alpha {settings.alpha:g} (Holm): "
                     + "; ".join(f"{g.label} (n={g.n}, {g.detectable})" for g in unseen),
                     float(len(unseen)), 0.0, inconclusive=True)
    return Check("regression", True, f"no group of {len(results)} dropped by more than {settings.max_drop:g} "
                 f"at alpha {settings.alpha:g} (Holm)", 0.0, 0.0)
