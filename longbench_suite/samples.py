"""A run's samples, one row per probe: what was asked, what came back, how it scored.

The join a person would otherwise make by hand, of the dataset's probes (question, gold, family,
variant, length), the run's predictions (output, error), scores (every metric; `score` is the probe's
own, primary metric), the judge's verdicts (judgments.parquet) and the sample log (prompts.parquet and
contexts.parquet, written by runners/sample_log.py). `lbs show` prints it, `lbs view` makes a page of it,
and it is the library call for a notebook:

    from longbench_suite.samples import load_samples
    frame = load_samples("runs/smol", contexts=True)   # polars; frame.to_pandas() for pandas
"""

from __future__ import annotations

from pathlib import Path
import polars as pl

from . import io, schemas
from .errors import UserError
from .scoring import read_judgments

PROMPTS = "prompts.parquet"
CONTEXTS = "contexts.parquet"
SEPARATOR = "\n\n"  # between a context and the rest of the first message (Probe.prompt_text)
PROBE_COLUMNS = ["probe_id", "family", "variant", "ability", "length", "depth", "bin", "question", "answer_prefix",
                 "gold", "metric", "chance"]


def _dataset_probes(run_dir: Path, manifest: dict) -> tuple[pl.DataFrame | None, str | None]:
    """The run's dataset probes, or (None, why not): a run copied away from its dataset still shows."""
    recorded = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    path = Path(recorded.get("path") or "")
    if not recorded.get("path") or not (path / "probes.parquet").is_file():
        return None, f"its dataset is not at {recorded.get('path')!r}: no questions or gold answers"
    dataset_manifest = io.read_json(path / "manifest.json", "dataset manifest")
    if recorded.get("content_hash") and dataset_manifest.get("content_hash") != recorded["content_hash"]:
        return None, f"the dataset at {path} changed since the run: no questions or gold answers"
    probes = io.read_parquet(path / "probes.parquet", schemas.PROBES, "probes table")
    return pl.from_arrow(probes.select(PROBE_COLUMNS)).with_row_index("_order"), None


def _judgments(run_dir: Path) -> pl.DataFrame | None:
    judgments = read_judgments(run_dir)
    if judgments is None:
        return None
    table = pl.from_arrow(judgments)
    return table.select("probe_id", judge_label="label", judge_reply="reply", judge_error="error").unique("probe_id", keep="last")


def load_samples(run_dir: Path | str, contexts: bool = False) -> pl.DataFrame:
    """One row per probe the run answered. Columns: run, run_id, system, condition, the probe's columns
    (probe_id, episode_id, family, variant, ability, length, depth, bin, question, answer_prefix, gold,
    metric, chance), output, error, prompt_tokens, completion_tokens, latency_s, cache_hit, score (the
    primary metric; null when unscored), scores (every metric as {metric, value}), judge_label,
    judge_reply, judge_error (null when not judged), format, context_id and messages (the prompt, the
    context left out of the first message) when the run logged samples; with contexts=True also
    `context` (its text) and `prompt` (the whole prompt as one string: each message as [role] content)."""
    run_dir = Path(run_dir)
    manifest = io.read_json(run_dir / "run.json", "run manifest")
    predictions = pl.from_arrow(io.read_parquet(run_dir / "predictions.parquet", schemas.PREDICTIONS, "predictions table"))
    scores = pl.from_arrow(io.read_parquet(run_dir / "scores.parquet", schemas.SCORES, "scores table"))
    probes, _why = _dataset_probes(run_dir, manifest)
    frame = predictions.with_columns(run=pl.lit(str(run_dir)))
    if probes is not None:
        frame = frame.join(probes, on="probe_id", how="left")
    else:
        frame = frame.with_columns(*(pl.lit(None).alias(c) for c in PROBE_COLUMNS if c != "probe_id"))
    every = scores.group_by("probe_id", maintain_order=True).agg(scores=pl.struct("metric", "value"))
    frame = frame.join(every, on="probe_id", how="left")
    primary = scores.select("probe_id", "metric", score="value")
    frame = frame.join(primary, on=["probe_id", "metric"], how="left")
    judged = _judgments(run_dir)
    if judged is not None:
        frame = frame.join(judged, on="probe_id", how="left")
    else:
        frame = frame.with_columns(judge_label=pl.lit(None, pl.Boolean), judge_reply=pl.lit(None, pl.String),
                                   judge_error=pl.lit(None, pl.String))
    if (run_dir / PROMPTS).is_file():
        prompts = pl.from_arrow(io.read_parquet(run_dir / PROMPTS, schemas.PROMPTS, "prompts table"))
        frame = frame.join(prompts.drop("episode_id"), on="probe_id", how="left")
    else:
        frame = frame.with_columns(format=pl.lit(None, pl.String), context_id=pl.lit(None, pl.String),
                                   messages=pl.lit(None, pl.List(pl.Struct({"role": pl.String, "content": pl.String}))))
    if contexts:
        frame = with_contexts(run_dir, frame)
    if "_order" in frame.columns:  # the dataset's order, not the order answers arrived in
        frame = frame.sort("_order").drop("_order")
    first = ["run", "run_id", "system", "condition", "probe_id", "episode_id"]
    return frame.select(first + [c for c in frame.columns if c not in first])


def read_contexts(run_dir: Path, ids: set[str]) -> dict[str, str]:
    """context_id -> text for the ids asked (only those are kept in memory)."""
    path = Path(run_dir) / CONTEXTS
    if not ids or not path.is_file():
        return {}
    table = io.read_parquet(path, schemas.CONTEXTS, "contexts table")
    found = pl.from_arrow(table).filter(pl.col("context_id").is_in(list(ids)))
    return dict(zip(found.get_column("context_id").to_list(), found.get_column("text").to_list()))


def full_messages(messages: list[dict] | None, context: str | None) -> list[dict[str, str]]:
    """The messages as sent: the context (and its blank line) put back at the start of the first."""
    out = [dict(m) for m in messages or []]
    if context is not None and out:
        out[0]["content"] = context + SEPARATOR + (out[0]["content"] or "")
    return out


def prompt_text(messages: list[dict[str, str]]) -> str:
    """The prompt as one string: [role] content per message (a completions prompt is its text alone)."""
    if len(messages) == 1 and messages[0]["role"] == "prompt":
        return messages[0]["content"]
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)


def with_contexts(run_dir: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """`context` and `prompt` columns (whole prompts: for a few rows, not a 128k-token run's every probe)."""
    texts = read_contexts(run_dir, set(frame.get_column("context_id").drop_nulls().to_list()))
    ctx = [texts.get(cid) if cid else None for cid in frame.get_column("context_id").to_list()]
    prompts = [prompt_text(full_messages(m, c)) if m is not None else None
               for m, c in zip(frame.get_column("messages").to_list(), ctx)]
    return frame.with_columns(context=pl.Series(ctx, dtype=pl.String), prompt=pl.Series(prompts, dtype=pl.String))


def failed() -> pl.Expr:
    """A failed sample: an error, no score, or a primary score below 1."""
    return pl.col("error").is_not_null() | pl.col("score").is_null() | (pl.col("score") < 1)


def select(frame: pl.DataFrame, *, only_failed: bool = False, probe: list[str] | None = None,
           family: str | None = None, variant: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """The samples `lbs show` and `lbs view` were asked for, in the run's order."""
    if probe:
        unknown = [p for p in probe if p not in set(frame.get_column("probe_id").to_list())]
        if unknown:
            raise UserError(f"probe {unknown[0]!r} is not in the run (see `lbs show RUN` for its probe ids)")
        frame = frame.filter(pl.col("probe_id").is_in(probe))
    if only_failed:
        frame = frame.filter(failed())
    if family:
        frame = frame.filter(pl.col("family") == family)
    if variant:
        frame = frame.filter(pl.col("variant") == variant)
    return frame.head(limit) if limit is not None else frame


def log_note(run_dir: Path) -> str | None:
    """Why a run's samples have no prompts, or None when they have."""
    run_dir = Path(run_dir)
    if (run_dir / PROMPTS).is_file():
        return None
    manifest = io.read_json(run_dir / "run.json", "run manifest")
    if (manifest.get("samples") or {}).get("logged") is False:
        return "the run was made with --no-log-samples: no prompts"
    return "the run has no sample log (made before prompts were logged, or not finished): no prompts"


def dataset_note(run_dir: Path) -> str | None:
    manifest = io.read_json(Path(run_dir) / "run.json", "run manifest")
    return _dataset_probes(Path(run_dir), manifest)[1]
