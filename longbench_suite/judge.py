"""LLM-judge stage: ask a judge system whether each response is correct (LongMemEval's answer check).

The judge is any system spec (openai:gpt-4o,..., embedded, a served model), asked at temperature 0
(every adapter sends it by default) with a short reply limit; the label is "yes" appearing in its
reply, as LongMemEval reads it. The family picks the template per probe (`judge_prompt`). Verdicts go
to judgments.parquet in the run directory with the judge's identity (spec, model as the endpoint
named it, template set version) and the template used, then the run is re-scored. A re-judge
replaces the previous verdicts; responses already judged by the same judge come from the response
cache. Failed predictions are not sent to the judge (they score 0). run.json's `judge` names the
judge's model beside the family's official one (`official_judge_model`: LongMemEval's metrics accept
only gpt-4o-2024-08-06 verdicts) and says whether they are the same; leaderboards mark a row judged
by another model.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from . import io, schemas
from .errors import UserError, one_line
from .protocol import Probe, SystemContext
from .registry import make_system, task_family
from .scoring import JUDGMENTS, response_sha, write_tables
from .spec import parse_spec, scrub

JUDGE_MAX_TOKENS = 10  # LongMemEval's judge replies yes or no


def judge_predictions(
    predictions: pa.Table, probes: pa.Table, family_name: str, judge_spec: str, templates_path: Path | None = None,
    concurrency: int = 4, use_cache: bool = True, on_progress: Callable[[int, int], None] | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Judge every successful prediction; returns (judgments, a summary for run.json)."""
    family = _judged_family(family_name)
    templates = family.load_judge_templates(templates_path)
    spec = str(parse_spec(judge_spec))
    rows = {r["probe_id"]: r for r in probes.to_pylist()}
    todo = [p for p in predictions.to_pylist() if not p["error"] and p["probe_id"] in rows]
    return asyncio.run(_judge(family, templates, spec, rows, todo, concurrency, use_cache, on_progress))


async def _judge(family, templates, spec, rows, todo, concurrency, use_cache, on_progress):
    from longbench_suite.cache import ResponseCache

    cache = ResponseCache() if use_cache else None
    judge = make_system(spec, SystemContext(cache=cache, seed=0))
    out = schemas.TableBuilder(schemas.JUDGMENTS)
    models: set[str] = set()
    errors = 0
    try:
        await judge.check()
        described = judge.describe()
        queue: asyncio.Queue = asyncio.Queue()
        for pred in todo:
            queue.put_nowait(pred)
        results: list[tuple[dict, str, str, str | None]] = []

        async def worker() -> None:
            while True:
                try:
                    pred = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                name, prompt = family.judge_prompt(rows[pred["probe_id"]], pred["output"] or "", templates)
                probe = Probe(probe_id=pred["probe_id"], episode_id=pred["episode_id"], question=prompt, answer_prefix="",
                              context=None, max_new_tokens=JUDGE_MAX_TOKENS)
                try:
                    answer = await judge.answer(probe)
                    if answer.model:
                        models.add(answer.model)
                    results.append((pred, name, answer.text, None))
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # one failed verdict never stops the others
                    results.append((pred, name, "", f"{type(e).__name__}: {one_line(e, 480)}"))
                if on_progress:
                    on_progress(len(results), len(todo))

        await asyncio.gather(*[worker() for _ in range(max(1, concurrency))])
    finally:
        await judge.aclose()
        if cache is not None:
            cache.close()
    identity = json.dumps({
        "spec": scrub(spec),  # recorded: key-shaped text masked (longbench_suite/spec.py)
        "model": described.get("model"),
        "version": ", ".join(sorted(models)) or described.get("hf_id") or described.get("model"),
        "templates": templates.version,
    }, sort_keys=True)
    order = {p["probe_id"]: i for i, p in enumerate(todo)}
    for pred, name, reply, error in sorted(results, key=lambda r: order[r[0]["probe_id"]]):
        errors += error is not None
        out.add(
            run_id=pred["run_id"], probe_id=pred["probe_id"], judge=identity, template=name,
            response_sha=response_sha(pred["output"]), reply=reply,
            label=None if error else "yes" in reply.lower(), error=error,
        )
    summary = {"identity": json.loads(identity), "judged": len(todo) - errors, "errors": errors,
               "max_tokens": JUDGE_MAX_TOKENS, "described": scrub(described),
               **official_judge(json.loads(identity), family.official_judge_model)}
    return out.table(), summary


def official_judge(identity: dict, official: str | None) -> dict[str, Any]:
    """The judge's model (as the endpoint named it, else as configured, else the spec) beside the
    family's official judge model; `official` is None when the family pins none."""
    model = identity.get("version") or identity.get("model") or identity.get("spec")
    return {"model": model, "official_model": official, "official": None if official is None else model == official}


def judge_note(judge: dict | None, family_name: str) -> tuple[str | None, bool | None]:
    """A run's judge as a leaderboard shows it, and whether it is the family's official judge (None:
    not judged, or the family pins no model). Reads run.json's `judge`; older runs lack the model keys."""
    if not judge:
        return None, None
    found = official_judge(judge.get("identity") or {}, None)["model"]
    model = judge.get("model") or found
    official = judge.get("official_model")
    if official is None:
        try:
            official = task_family(family_name).official_judge_model
        except UserError:  # a plugin family no longer installed
            official = None
    if official is None or model is None:
        return model, None
    return (model, True) if model == official else (f"{model} (not the official {official})", False)


def judge_run(run_dir: Path, dataset: io.Dataset, judge_spec: str, templates_path: Path | None = None,
              concurrency: int = 4, use_cache: bool = True, on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Judge a run's answers, write judgments.parquet, re-score, and record the judge in run.json."""
    if concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    run_dir = Path(run_dir)
    manifest = io.read_json(run_dir / "run.json", "run manifest")
    predictions = io.read_parquet(run_dir / "predictions.parquet", schemas.PREDICTIONS, "predictions table")
    judgments, summary = judge_predictions(predictions, dataset.probes, dataset.manifest["family"], judge_spec,
                                           templates_path, concurrency, use_cache, on_progress)
    io.write_parquet(judgments, run_dir / JUDGMENTS)
    write_tables(run_dir, predictions, dataset)
    manifest["judge"] = summary
    io.write_json(manifest, run_dir / "run.json")
    return summary


def check_judgeable(dataset_dir: Path, judge_spec: str) -> None:
    """Fail before a run when its answers cannot be judged (family without a judge, bad judge spec);
    reads only the dataset's manifest."""
    manifest = io.read_json(Path(dataset_dir) / "manifest.json", "dataset manifest")
    _judged_family(str(manifest.get("family")))
    parse_spec(judge_spec)


def _judged_family(name: str):
    family = task_family(name)
    if not hasattr(family, "judge_prompt"):
        raise UserError(f"the {name} family has no LLM-judge protocol; its scores are deterministic")
    return family
