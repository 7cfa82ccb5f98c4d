"""The local asyncio runner: dataset + system -> run directory.

One ingest per episode, then its probes; a bounded queue feeds a fixed number of workers, so a run
of a million probes never holds a million pending requests. Every finished probe is appended to the
journal at once, so a run killed at any moment resumes with nothing lost and nothing duplicated.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from longbench_suite import io, provenance, schemas
from longbench_suite.aggregate import aggregate
from longbench_suite.errors import UserError, one_line
from longbench_suite.protocol import Answer, Condition, Episode, MemorySystem, SystemContext
from longbench_suite.registry import make_system, task_family
from longbench_suite.scoring import score_predictions
from longbench_suite.spec import parse_spec

from .journal import Journal
from .progress import RunProgress

JOURNAL = "journal.jsonl"
DEFAULT_CONCURRENCY = 4


@dataclass
class RunConfig:
    dataset: Path
    system: str
    out: Path
    condition: Condition = Condition.IN_CONTEXT
    concurrency: int | None = None  # None: the system's preferred_concurrency, else DEFAULT_CONCURRENCY
    resume: bool = False
    overwrite: bool = False
    use_cache: bool = True
    limit: int | None = None  # first N probes only (smoke runs)
    seed: int = 0


def run(config: RunConfig) -> dict:
    """Run synchronously; returns run.json's contents."""
    return asyncio.run(run_async(config))


def _check_dir(config: RunConfig, dataset: io.Dataset, spec: str, condition: Condition) -> dict | None:
    """Check the run directory (writes nothing); return the previous manifest when resuming."""
    out = config.out
    io.prepare_output_dir(out, overwrite=config.overwrite or config.resume, marker="run.json")
    if not (out.is_dir() and any(out.iterdir())) or config.overwrite:
        return None
    previous = io.read_json(out / "run.json", "run manifest")
    if previous.get("dataset", {}).get("content_hash") != dataset.content_hash:
        raise UserError(f"cannot resume {out}: it was run on different data (dataset hash differs)")
    before = {
        "system": previous.get("system", {}).get("spec"),
        "condition": previous.get("condition"),
        "seed": previous.get("seed"),
    }
    now = {"system": spec, "condition": condition.value, "seed": config.seed}
    for what in before:
        if before[what] != now[what]:
            raise UserError(f"cannot resume {out}: it was run with {what} {before[what]!r}, not {now[what]!r}")
    if not isinstance(previous.get("run_id"), str):
        raise UserError(f"cannot resume {out}: its run.json has no run_id")
    return previous


async def run_async(config: RunConfig) -> dict:
    if config.concurrency is not None and config.concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    dataset = io.Dataset(config.dataset)
    family = task_family(dataset.manifest["family"])
    spec = str(parse_spec(config.system))
    out = Path(config.out)

    from .cache import ResponseCache

    cache = ResponseCache() if config.use_cache else None
    try:
        # Build the system before touching the run directory: a bad spec leaves nothing behind.
        system = make_system(spec, SystemContext(cache=cache, work_dir=None, seed=config.seed))
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    condition = system.condition_override or config.condition
    # An in-process engine batches what is in flight, so it asks for more than a remote endpoint.
    config = replace(config, concurrency=config.concurrency or getattr(system, "preferred_concurrency", None) or DEFAULT_CONCURRENCY)
    described = system.describe()
    try:
        previous = _check_dir(config, dataset, spec, condition)
        await system.check()  # before anything is removed: a bad key or a down endpoint destroys nothing
        if config.overwrite and out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        manifest = {
            "run_id": previous["run_id"] if previous else provenance.new_run_id(),
            "status": "running",
            "system": {"spec": spec, "label": system.name, **described},
            "condition": condition.value,
            "sampling": described.get("sampling", {}),
            "dataset": {
                "path": str(dataset.path.resolve()),
                "content_hash": dataset.content_hash,
                "family": dataset.manifest.get("family"),
                "variants": dataset.manifest.get("variants"),
                "tokenizer": dataset.manifest.get("tokenizer"),
            },
            "seed": config.seed,
            "concurrency": config.concurrency,
            "versions": provenance.versions(),
            "git": provenance.git_revision(),
            "started_at": previous.get("started_at") if previous else provenance.now(),
            "finished_at": None,
            "timings": dict(previous.get("timings", {})) if previous else {},
            "counts": {},
        }
        io.write_json(manifest, out / "run.json")
        t0 = time.monotonic()
        journal = Journal(out / JOURNAL)
        try:
            await _execute(system, family, dataset, condition, config, journal, manifest["run_id"], system.name)
        finally:
            journal.close()
        manifest["timings"]["execute_s"] = round(manifest["timings"].get("execute_s", 0) + time.monotonic() - t0, 3)
        manifest["footprint"] = _footprint(system)
    finally:
        await system.aclose()
        if cache is not None:
            cache.close()
    return finalize(out, dataset, manifest)


async def _execute(
    system: MemorySystem,
    family,
    dataset: io.Dataset,
    condition: Condition,
    config: RunConfig,
    journal: Journal,
    run_id: str,
    label: str,
) -> None:
    """`label` is the system's name in the tables (e.g. "embedded"); run.json keeps the full spec."""
    done = {pid for pid, rec in journal.read().items() if not rec.get("error")}
    probes = dataset.probes.to_pylist()
    if config.limit is not None:
        probes = probes[: config.limit]
    by_episode: dict[str, list[dict]] = {}
    for row in probes:
        if row["probe_id"] not in done:
            by_episode.setdefault(row["episode_id"], []).append(row)
    # Episodes become Python objects one at a time, as they are ingested: at 128k tokens a whole
    # dataset's texts as Python strings would be the run's largest memory cost.
    episode_index = {eid: i for i, eid in enumerate(dataset.episodes.column("episode_id").to_pylist())}

    concurrent = system.concurrent_episodes
    workers = config.concurrency if concurrent else 1
    queue: asyncio.Queue = asyncio.Queue(maxsize=2 * workers)
    remaining: dict[str, int] = {}
    finished: dict[str, asyncio.Event] = {}
    episodes: dict[str, Episode] = {}

    with RunProgress(total=len(probes), done=len(probes) - sum(map(len, by_episode.values())), label=label) as progress:

        async def worker() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    return
                row = item
                episode = episodes[row["episode_id"]]
                probe = family.probe(row, episode, condition)
                if not system.privileged:  # only baselines may see the answers (meta can name them too)
                    probe = replace(probe, gold=None, choices=probe.choices if family.choices_visible else None, meta={})
                started = time.monotonic()
                error = None
                try:
                    answer = await system.answer(probe)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # one probe failing never stops the run; it is recorded
                    answer, error = Answer(text=""), _one_line(e)
                if answer.latency_s is None:
                    answer.latency_s = time.monotonic() - started
                journal.append(_record(run_id, label, condition, row, answer, error))
                progress.advance(
                    error=error is not None,
                    cache_hit=answer.cache_hit,
                    tokens=(answer.prompt_tokens or 0) + (answer.completion_tokens or 0),
                )
                eid = row["episode_id"]
                remaining[eid] -= 1
                if remaining[eid] == 0:
                    released = episodes.pop(eid)
                    await system.release(released if system.privileged else _public(released))
                    finished.pop(eid).set()

        async def produce() -> None:
            for eid, rows in by_episode.items():
                episode = family.episode(dataset.episodes.slice(episode_index[eid], 1).to_pylist()[0])
                episodes[eid], remaining[eid], finished[eid] = episode, len(rows), asyncio.Event()
                event = finished[eid]
                try:
                    if not concurrent:
                        await system.reset()
                    if condition is not Condition.NO_CONTEXT:  # meta holds generator facts (needle values)
                        await system.ingest(episode if system.privileged else _public(episode))
                except Exception as e:  # the episode's probes are recorded as failed, the run goes on
                    error = "ingest failed: " + _one_line(e)
                    for row in rows:
                        journal.append(_record(run_id, label, condition, row, Answer(text=""), error))
                        progress.advance(error=True, cache_hit=False, tokens=0)
                    del episodes[eid], remaining[eid], finished[eid]
                    continue
                for row in rows:
                    await queue.put(row)
                if not concurrent:  # a stateful memory answers one episode's probes before the next reset
                    await event.wait()
            for _ in range(workers):
                await queue.put(None)

        # gather propagates the first failure at once; the finally clause stops the rest.
        tasks = [asyncio.create_task(produce())] + [asyncio.create_task(worker()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()


def _public(episode: Episode) -> Episode:
    """What a system under test may see of an episode: no meta (generator facts, e.g. needle values)
    and no has_answer marks on session turns (they point at the evidence)."""
    sessions = episode.sessions
    if sessions:
        sessions = [{**s, "turns": [{**t, "has_answer": None} for t in s["turns"]]} for s in sessions]
    return replace(episode, meta={}, sessions=sessions)


def _footprint(system: MemorySystem) -> dict:
    """The system's own account of its size; a failing report must not lose a finished run."""
    try:
        return dict(system.footprint() or {})
    except Exception as e:  # noqa: BLE001 - recorded, not raised
        return {"error": _one_line(e)}


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {one_line(e, 480)}"


def _record(run_id: str, label: str, condition: Condition, row: dict, answer: Answer, error: str | None) -> dict:
    return {
        "run_id": run_id,
        "system": label,
        "condition": condition.value,
        "episode_id": row["episode_id"],
        "probe_id": row["probe_id"],
        "output": answer.text,
        "choice_logprobs": [{"choice": c, "logprob": lp} for c, lp in (answer.choice_logprobs or {}).items()] or None,
        "retrieved_ids": answer.retrieved_ids,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "latency_s": answer.latency_s,
        "cache_hit": bool(answer.cache_hit),
        "error": error,
    }


def finalize(out: Path, dataset: io.Dataset, manifest: dict) -> dict:
    """Journal -> predictions, scores, aggregates; mark the run complete when every probe has a row."""
    t0 = time.monotonic()
    records = Journal(out / JOURNAL).read()
    known = set(dataset.probes.column("probe_id").to_pylist())
    rows = [r for pid, r in records.items() if pid in known]
    predictions = pa.Table.from_pylist(rows, schema=schemas.PREDICTIONS)
    write_tables(out, predictions, dataset)
    n_errors = sum(1 for r in rows if r["error"])
    manifest["counts"] = {"probes": len(known), "predictions": len(rows), "errors": n_errors}
    manifest["usage"] = {  # what the run cost in tokens (cache hits included: they were paid once)
        name: pc.sum(predictions.column(name)).as_py() or 0 for name in ("prompt_tokens", "completion_tokens")
    }
    complete = len(rows) == len(known)
    manifest["status"] = "complete" if complete else "partial"
    manifest["finished_at"] = provenance.now()
    manifest["timings"]["finalize_s"] = round(time.monotonic() - t0, 3)
    io.write_json(manifest, out / "run.json")
    return manifest


def write_tables(out: Path, predictions: pa.Table, dataset: io.Dataset) -> None:
    """Scores (with the judge's verdicts in judgments.parquet, when the run was judged) and aggregates."""
    from longbench_suite.judge import read_judgments

    scores = score_predictions(predictions, dataset.probes, dataset.manifest["family"], read_judgments(out))
    io.write_parquet(predictions, out / "predictions.parquet")
    io.write_parquet(scores, out / "scores.parquet")
    io.write_parquet(aggregate(scores, dataset.probes), out / "aggregates.parquet")
