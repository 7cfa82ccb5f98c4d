"""What a headline score hides, read from a run directory: failed probes, SORT's position bias, and
how far an LLM judge agrees with the deterministic scorer.

- errors: how many predictions failed, and the most common error text (the reason a user needs
  before any score: a context window exceeded, an endpoint refusing);
- SORT position bias: the share of valid answers that pick "A" (a system that always answers "A"
  scores exactly the share of probes whose gold is A, like `constant,text=A`), and, where the data
  holds both presentation orders of one segment pair, the share of such pairs answered consistently
  (the same segment picked whichever is shown first);
- judge agreement: on probes that have both a judge verdict (llm_judge) and the probe's own
  deterministic metric (LongMemEval's lme_match), the share where the two agree (both 1 or both 0).
The picks use the family's own rule (first-token log-probabilities when the system gave them, else
the parsed letter), so the bias is that of the answers that were scored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import io, metrics, schemas
from .scoring import JUDGE_METRIC

SORT_LABELS = ("A", "B")


@dataclass(frozen=True)
class ErrorSummary:
    probes: int  # predictions in the run
    errors: int  # predictions that failed
    top: str | None  # the most common error text
    top_count: int

    @property
    def share(self) -> float:
        return self.errors / self.probes if self.probes else 0.0


def errors(predictions: pl.DataFrame) -> ErrorSummary:
    """Failed predictions and their most common error text (`predictions` needs an `error` column)."""
    texts = [e for e in predictions.get_column("error").to_list() if e]
    top, count = Counter(texts).most_common(1)[0] if texts else (None, 0)
    return ErrorSummary(predictions.height, len(texts), top, count)


@dataclass(frozen=True)
class SortBias:
    answered: int  # predictions without an error
    valid: int  # answered with a letter
    a_share: float | None  # share of valid answers that are "A"
    gold_a_share: float | None  # share of answered probes whose gold is "A": the score of always answering A
    pairs: int  # segment pairs asked in both orders (both answered)
    consistent: float | None  # share of those pairs where the same segment was picked both times


def _pick(output: str | None, logprobs: list | None) -> str | None:
    lp = {c["choice"]: c["logprob"] for c in logprobs or []} or None
    picked = metrics.choice_from_logprobs(lp, list(SORT_LABELS))
    return picked if picked is not None else metrics.parse_choice(output or "", list(SORT_LABELS))


def sort_bias(predictions: pl.DataFrame, probes: pl.DataFrame | None) -> SortBias:
    """Position bias of one SORT run. `predictions`: probe_id, output, choice_logprobs, error; `probes`
    (probe_id, gold, meta) for the gold share and the swapped pairs (None: not known)."""
    ok = predictions.filter(pl.col("error").is_null() | (pl.col("error") == ""))
    picks = {pid: _pick(out, lp) for pid, out, lp in ok.select("probe_id", "output", "choice_logprobs").iter_rows()}
    valid = [p for p in picks.values() if p is not None]
    a_share = sum(p == "A" for p in valid) / len(valid) if valid else None
    if probes is None:
        return SortBias(len(picks), len(valid), a_share, None, 0, None)
    mine = probes.filter(pl.col("probe_id").is_in(list(picks)))
    golds = [g[0] if g else None for g in mine.get_column("gold").to_list()]
    gold_a = sum(g == "A" for g in golds) / len(golds) if golds else None
    # A pair: one excerpt's two segments; each order's pick named by the segment it points at.
    chosen: dict[tuple, dict[bool, str | None]] = {}
    for pid, episode, raw in mine.select("probe_id", "episode_id", "meta").iter_rows():
        meta = json.loads(raw or "{}")
        if "segment_1" not in meta or "present_seg1_first" not in meta:
            continue
        first = bool(meta["present_seg1_first"])
        shown = (meta["segment_1"], meta["segment_2"]) if first else (meta["segment_2"], meta["segment_1"])
        pick = picks[pid]
        key = (episode, meta.get("excerpt_len"), meta.get("excerpt_idx"), meta["segment_1"], meta["segment_2"])
        chosen.setdefault(key, {})[first] = None if pick is None else shown[SORT_LABELS.index(pick)]
    both = [orders for orders in chosen.values() if len(orders) == 2]
    same = sum(1 for o in both if o[True] is not None and o[True] == o[False])
    return SortBias(len(picks), len(valid), a_share, gold_a, len(both), same / len(both) if both else None)


@dataclass(frozen=True)
class JudgeAgreement:
    metric: str  # the deterministic metric compared with the judge
    n: int  # probes with both scores
    agree: float | None  # share where both are 1 or both are 0


# Where the judge is the probes' own metric (imported LongMemEval items), its deterministic stand-in.
JUDGE_PROXIES = ("lme_contains",)


def judge_agreement(scores: pl.DataFrame, probes: pl.DataFrame, predictions: pl.DataFrame | None = None) -> JudgeAgreement | None:
    """Agreement of llm_judge with each probe's own metric (or, where that is the judge, its deterministic
    proxy), on answered probes that have both; None when the run has no verdicts or nothing to compare."""
    judged = scores.filter(pl.col("metric") == JUDGE_METRIC).select("probe_id", pl.col("value").alias("verdict"))
    if judged.is_empty():
        return None
    own = scores.join(probes.select("probe_id", pl.col("metric").alias("own")), on="probe_id").filter(
        (pl.col("metric") == pl.col("own")) & (pl.col("own") != JUDGE_METRIC))
    if own.is_empty():
        own = scores.filter(pl.col("metric").is_in(JUDGE_PROXIES)).with_columns(pl.col("metric").alias("own"))
    if own.is_empty():
        return None
    both = own.join(judged, on="probe_id")
    if predictions is not None:  # a failed prediction's placeholder scores agree trivially
        failed = predictions.filter(pl.col("error").is_not_null() & (pl.col("error") != "")).get_column("probe_id")
        both = both.filter(~pl.col("probe_id").is_in(failed.implode()))
    metric = own.get_column("own").mode().sort()[0]
    if both.is_empty():
        return JudgeAgreement(metric, 0, None)
    agree = both.select(((pl.col("value") >= 0.5) == (pl.col("verdict") >= 0.5)).mean()).item()
    return JudgeAgreement(metric, both.height, float(agree))


# --- from a run directory ---------------------------------------------------------------------------

def read_predictions(run: Path) -> pl.DataFrame:
    return pl.from_arrow(io.read_parquet(Path(run) / "predictions.parquet", schemas.PREDICTIONS, "predictions table"))


def run_probes(run: Path) -> pl.DataFrame | None:
    """The probes of the run's dataset (run.json's path), or None when that dataset is not here."""
    manifest = io.read_json(Path(run) / "run.json", "run manifest")
    path = (manifest.get("dataset") or {}).get("path") if isinstance(manifest.get("dataset"), dict) else None
    if not path or not (Path(path) / "probes.parquet").is_file():
        return None
    return pl.from_arrow(io.read_parquet(Path(path) / "probes.parquet", schemas.PROBES, "probes table"))


def run_family(run: Path) -> str | None:
    manifest = io.read_json(Path(run) / "run.json", "run manifest")
    dataset = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    family = dataset.get("family")
    if isinstance(family, str):
        return family
    agg = pl.read_parquet(Path(run) / "aggregates.parquet", columns=["family"]) if (Path(run) / "aggregates.parquet").is_file() else None
    names = agg.get_column("family").unique().to_list() if agg is not None else []
    return names[0] if len(names) == 1 else None


def run_sort_bias(run: Path, predictions: pl.DataFrame | None = None) -> SortBias:
    preds = predictions if predictions is not None else read_predictions(run)
    return sort_bias(preds, run_probes(run))


def run_judge_agreement(run: Path) -> JudgeAgreement | None:
    path = Path(run) / "scores.parquet"
    probes = run_probes(run)
    if probes is None or not path.is_file():
        return None
    scores = pl.from_arrow(io.read_parquet(path, schemas.SCORES, "scores table"))
    return judge_agreement(scores, probes, read_predictions(run))
