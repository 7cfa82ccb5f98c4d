"""The local asyncio runner: dataset + system -> run directory.

One ingest per episode, then its probes (runners/episodes.py); a fixed number of episodes and probes
are in flight, so a run of a million probes never holds a million pending requests. Every finished
probe is appended to the journal at once, so a run killed at any moment resumes with nothing lost
and nothing duplicated. The system runs in this process (LocalBackend) or on Ray actors
(runners/ray_runner.py); the run directory, journal and tables are this module's either way.

A run holds its directory's lock (longbench_suite/lock.py) from before it looks at the directory until
run.json has its final status, so a second writer can neither join nor delete it. The status says how
the run ended, and `lbs run` exits with its code (EXIT_CODES) so that a CI script can tell:
complete (every probe answered, none failed), partial (some failed, or --limit left some out),
aborted (the circuit breaker stopped it: errors.RunAborted), interrupted (SIGINT or SIGTERM: the journal
is flushed, the status written, and the process exits 128 + the signal). All but complete resume.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

from longbench_suite import io, provenance, schemas
from longbench_suite.costs import merge_footprints, run_costs
from longbench_suite.errors import RunAborted, UserError, one_line
from longbench_suite.lock import clear, only_lock, run_lock
from longbench_suite.protocol import Condition, MemorySystem
from longbench_suite.registry import condition_warning, task_family
from longbench_suite.scoring import write_tables
from longbench_suite.spec import parse_spec, scrub
from longbench_suite.turns import TurnMode, resolve, turn_index

from .episodes import (
    EpisodeRunner,
    build_system,
    close_system,
    episode_loader,
    error_line,
    pending_by_episode,
    run_all,
    stamp,
)
from .journal import Journal
from .progress import RunProgress
from .sample_log import CONTEXTS, PROMPTS, write_sample_log
from .window import check_window

JOURNAL = "journal.jsonl"
DEFAULT_CONCURRENCY = 4

# How a run ended (run.json "status") -> `lbs run`'s exit code; "running" is only ever seen on disk
# (a run killed with SIGKILL). 2 is bad input (nothing ran), 1 a bug; 3 is `lbs gate`'s inconclusive.
EXIT_CODES = {
    "complete": 0,  # every probe of the dataset answered, none failed
    "partial": 4,  # some probes failed (0 when the only missing ones are those --limit left out)
    "aborted": 5,  # the circuit breaker stopped the run (run.json "reason"); --resume continues it
    "interrupted": 130,  # SIGINT (Ctrl-C); 143 for SIGTERM: 128 + the signal, as a shell reports it
}


def exit_code(manifest: dict) -> int:
    """The exit code of a run that ended with this run.json."""
    status = manifest.get("status")
    if status == "partial" and not manifest.get("counts", {}).get("errors"):
        return 0  # --limit N: the N probes asked for all answered
    if status == "interrupted":
        return 128 + int(manifest.get("signal") or signal.SIGINT)
    return EXIT_CODES.get(status, 1)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run; run.json says so (when the run had begun). A KeyboardInterrupt, so
    that whoever does not know it treats it as Ctrl-C; `lbs` exits with `exit_code` and prints `line`."""

    def __init__(self, signum: int, line: str):
        super().__init__(line)
        self.exit_code, self.line = 128 + signum, line


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
    log_samples: bool = True  # prompts.parquet + contexts.parquet (runners/sample_log.py)
    allow_overflow: bool = False  # send probes longer than the system's context window anyway
    max_consecutive_failures: int | None = None  # the circuit breaker (runners/episodes.py); None: default, 0: off
    mode: str | None = None  # multi-turn | multi-request (longbench_suite/turns.py); None: multi-turn where the data has turns
    history: str = "reference"  # multi-turn: the earlier turns carry the reference answers, or the system's own


def run(config: RunConfig) -> dict:
    """Run synchronously; returns run.json's contents."""
    return asyncio.run(run_async(config))


def _check_dir(config: RunConfig, dataset: io.Dataset, spec: str, condition: Condition, turns: TurnMode) -> dict | None:
    """Check the run directory (writes nothing); return the previous manifest when resuming."""
    out = config.out
    _prepare_dir(config)
    if only_lock(out) or config.overwrite:
        return None
    previous = io.read_json(out / "run.json", "run manifest")
    if previous.get("dataset", {}).get("content_hash") != dataset.content_hash:
        raise UserError(f"cannot resume {out}: it was run on different data (dataset hash differs)")
    before = {
        "system": scrub(previous.get("system", {}).get("spec")),  # a run.json from before scrubbing, too
        "condition": previous.get("condition"),
        "seed": previous.get("seed"),
        "turns": previous.get("turns", TurnMode().describe()),  # a run from before turns: multi-request
    }
    now = {"system": scrub(spec), "condition": condition.value, "seed": config.seed,  # recorded scrubbed
           "turns": turns.describe()}
    for what, was in before.items():
        if was != now[what]:
            raise UserError(f"cannot resume {out}: it was run with {what} {was!r}, not {now[what]!r}")
    if not isinstance(previous.get("run_id"), str):
        raise UserError(f"cannot resume {out}: its run.json has no run_id")
    return previous


def _prepare_dir(config: RunConfig) -> None:
    """io.prepare_output_dir, counting a directory that holds only its lock (ours, or one a killed run
    left) as empty."""
    if only_lock(config.out):
        io.check_dir_path(Path(config.out))
    else:
        io.prepare_output_dir(config.out, overwrite=config.overwrite or config.resume, marker="run.json")


def _refuse_earlier_run(config: RunConfig) -> None:
    """A directory that holds a run is continued with --resume (or replaced with --overwrite): say so,
    rather than the generic advice for a non-empty directory."""
    out = Path(config.out)
    if config.overwrite or config.resume or not (out / "run.json").is_file():
        return
    try:
        status = io.read_json(out / "run.json", "run manifest").get("status")
    except UserError:
        status = None
    if status == "complete":
        raise UserError(f"output directory is not empty: {out} holds a complete run (choose another directory, "
                        "or --overwrite to run it again)")
    raise UserError(f"output directory is not empty: {out} holds an unfinished run (status {status or 'unknown'}): "
                    "continue it with --resume, or --overwrite to start again")


@dataclass
class SystemInfo:
    """What the runner needs to know of a system before it runs (wherever the system lives)."""

    name: str
    describe: dict
    condition_override: Condition | None
    concurrent_episodes: bool
    preferred_concurrency: int | None

    @classmethod
    def of(cls, system: MemorySystem) -> SystemInfo:
        return cls(system.name, system.describe(), system.condition_override, system.concurrent_episodes,
                   getattr(system, "preferred_concurrency", None))  # fmt: skip


Sink = Callable[[dict], None]


class Backend(Protocol):
    """Where the system runs. The runner owns the dataset, the run directory and its journal; a
    backend builds the system, checks it, and answers the pending episodes, handing each probe's
    record to `sink` as it finishes."""

    def describe(self) -> dict: ...
    async def open(self, spec: str, config: RunConfig, family_name: str) -> SystemInfo: ...
    async def check(self) -> None: ...
    async def execute(self, pending: dict[str, list[dict]], load_episode: Callable[[str], dict], condition: Condition,
                      concurrency: int, sink: Sink, turns: TurnMode) -> None: ...  # fmt: skip
    async def footprint(self) -> dict: ...
    async def close(self) -> None: ...


class LocalBackend:
    """The system in this process: a bounded number of episodes in flight, one per lane."""

    def __init__(self) -> None:
        self.system: MemorySystem | None = None
        self.cache = None
        self.family_name = ""
        self.max_failures: int | None = None

    def describe(self) -> dict:
        return {"name": "local"}

    async def open(self, spec: str, config: RunConfig, family_name: str) -> SystemInfo:
        self.family_name = family_name
        self.max_failures = config.max_consecutive_failures
        self.system, self.cache = build_system(spec, config.use_cache, config.seed)
        return SystemInfo.of(self.system)

    async def check(self) -> None:
        await self.system.check()

    async def execute(self, pending, load_episode, condition, concurrency, sink, turns) -> None:
        runner = EpisodeRunner(self.system, task_family(self.family_name), condition, concurrency, self.max_failures, turns)
        episodes = iter(pending.items())  # shared by the lanes: each takes the next episode

        async def lane() -> None:
            for eid, rows in episodes:
                async for rec in runner.run(load_episode(eid), rows):
                    sink(rec)

        # A stateful memory answers one episode's probes before the next reset: one lane.
        lanes = concurrency if self.system.concurrent_episodes else 1
        await run_all([lane() for _ in range(min(lanes, len(pending)))])

    async def footprint(self) -> dict:
        return footprint_of(self.system)

    async def close(self) -> None:
        await close_system(self.system, self.cache)


async def run_async(config: RunConfig, backend: Backend | None = None) -> dict:
    if config.concurrency is not None and config.concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    if config.resume and config.overwrite:
        raise UserError("give --resume (continue the run) or --overwrite (replace it), not both")
    backend = backend or LocalBackend()
    dataset = io.Dataset(config.dataset)
    dataset.verify()  # an edited dataset would be recorded under its old hash
    family_name = dataset.manifest["family"]
    task_family(family_name)  # an unknown family fails before any system is built
    spec = str(parse_spec(config.system))
    turns = resolve(config.mode, config.history, dataset.probes)
    out = Path(config.out)
    # The lock first: the directory is looked at, and cleared by --overwrite, only by its one writer.
    with run_lock(out, create=True), _StopSignals() as stop:
        try:
            return await _run_locked(config, backend, dataset, family_name, spec, turns, stop)
        except asyncio.CancelledError:
            if stop.signum is None:  # cancelled by whoever awaits us, not by a signal
                raise
            raise _interrupted(out, dataset, stop) from None


async def _run_locked(config: RunConfig, backend: Backend, dataset: io.Dataset, family_name: str, spec: str,
                      turns: TurnMode, stop: _StopSignals) -> dict:  # fmt: skip
    out = Path(config.out)
    _refuse_earlier_run(config)
    _prepare_dir(config)  # fail fast; writes nothing
    aborted = None
    try:
        # Build the system before touching the run directory: a bad spec leaves nothing behind.
        info = await backend.open(spec, config, family_name)
        stop.claim()
        condition = info.condition_override or config.condition
        # An in-process engine batches what is in flight, so it asks for more than a remote endpoint.
        config = replace(config, concurrency=config.concurrency or info.preferred_concurrency or DEFAULT_CONCURRENCY)
        previous = _check_dir(config, dataset, spec, condition, turns)
        await backend.check()  # before anything is removed: a bad key or a down endpoint destroys nothing
        if not config.allow_overflow:  # a prompt longer than the window would fail every such probe
            check_window(dataset, condition, info.describe, await backend.footprint(), config.limit)
        if config.overwrite and out.exists():
            clear(out)  # all but the lock we hold
        out.mkdir(parents=True, exist_ok=True)
        warning = condition_warning(info.name, not info.concurrent_episodes, condition)
        if warning:  # recorded too: a memory scored in context is easy to mistake for its memory's score
            Console(stderr=True).print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        manifest = {
            "run_id": previous["run_id"] if previous else provenance.new_run_id(),
            "status": "running",
            "system": scrub({"spec": spec, "label": info.name + turns.label_suffix(dataset.probes), **info.describe}),  # no key-shaped text kept
            "condition": condition.value,
            "turns": turns.describe(),
            "warnings": [warning] if warning else [],
            "sampling": info.describe.get("sampling", {}),
            "dataset": {
                "path": str(dataset.path.resolve()),
                "content_hash": dataset.content_hash,
                "family": dataset.manifest.get("family"),
                "variants": dataset.manifest.get("variants"),
                "tokenizer": dataset.manifest.get("tokenizer"),
            },
            "seed": config.seed,
            "concurrency": config.concurrency,
            "log_samples": config.log_samples,
            "backend": backend.describe(),
            "versions": provenance.versions(),
            "git": provenance.git_revision(),
            "started_at": previous.get("started_at") if previous else provenance.now(),
            "finished_at": None,
            "timings": dict(previous.get("timings", {})) if previous else {},
            "counts": {},
        }
        io.write_json(manifest, out / "run.json")
        _reserve_room(out)  # so that a disk the journal fills still takes run.json's last word
        stop.manifest = manifest  # from here a signal leaves status "interrupted", not "running"
        t0 = time.monotonic()
        journal = Journal(out / JOURNAL)
        try:
            await _execute(backend, dataset, condition, turns, config, journal, manifest["run_id"], manifest["system"]["label"])
        except RunAborted as e:  # the circuit breaker: what is journaled stays, --resume continues
            aborted = one_line(e) or "aborted"
        except io.DiskFull as e:
            _mark_disk_full(out, manifest, e)
            raise
        finally:
            journal.close()
            manifest["timings"]["execute_s"] = round(manifest["timings"].get("execute_s", 0) + time.monotonic() - t0, 3)
        # A resumed run's system saw only the episodes it re-asked: its account adds to the earlier one's.
        manifest["footprint"] = merge_footprints(previous.get("footprint") if previous else None, await backend.footprint())
        manifest["backend"] = backend.describe()  # after the run: what happened (e.g. workers replaced)
    finally:
        await backend.close()
    try:
        return finalize(out, dataset, manifest, aborted)
    except io.DiskFull as e:  # the tables did not fit: the journal holds every answer, --resume writes them
        _mark_disk_full(out, manifest, e)
        raise


class _StopSignals:
    """SIGINT and SIGTERM cancel the run's task instead of killing the process, so that on the way out
    the journal is flushed, the system shut down and run.json marked "interrupted". The first signal
    removes these handlers: a second one acts as it would without them (SIGTERM kills)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.manifest: dict | None = None  # run.json once written
        self._installed: dict[int, object] = {}  # signal -> the handler before ours, put back after

    def __enter__(self) -> _StopSignals:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        for sig in self.SIGNALS:
            before = signal.getsignal(sig)
            try:
                self._loop.add_signal_handler(sig, self._stop, sig, self._task)
                self._installed[sig] = before
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread: signals act as usual
                pass
        return self

    def claim(self) -> None:
        """Take the signals back from a backend that set its own (ray.init's SIGTERM handler exits at once)."""
        for sig in self._installed:
            self._loop.add_signal_handler(sig, self._stop, sig, self._task)

    def _stop(self, sig: int, task: asyncio.Task) -> None:
        self.signum = sig
        self._remove()
        task.cancel()

    def _remove(self) -> None:
        for sig, before in self._installed.items():
            self._loop.remove_signal_handler(sig)
            if before is not None:  # asyncio.run's own Ctrl-C handler, or a host program's
                signal.signal(sig, before)
        self._installed = {}

    def __exit__(self, *exc: object) -> None:
        self._remove()


def _interrupted(out: Path, dataset: io.Dataset, stop: _StopSignals) -> Interrupted:
    """Mark run.json "interrupted" (if the run had begun) and say so in one line. The tables are left to
    --resume: a SIGTERM comes with a grace period, and the journal already holds every answer."""
    name = signal.Signals(stop.signum).name
    manifest = stop.manifest
    if manifest is None:
        return Interrupted(stop.signum, f"interrupted by {name} before the run began")
    known = set(dataset.probes.column("probe_id").to_pylist())
    rows = [r for pid, r in Journal(out / JOURNAL).read().items() if pid in known]
    manifest.update(status="interrupted", signal=int(stop.signum), reason=f"stopped by {name}",
                    finished_at=provenance.now(), counts=_counts(rows, known))
    io.write_json(manifest, out / "run.json")
    (out / ROOM).unlink(missing_ok=True)
    return Interrupted(stop.signum, status_line(out, manifest))


def _counts(rows: list[dict], known: set[str]) -> dict:
    return {"probes": len(known), "predictions": len(rows), "errors": sum(1 for r in rows if r["error"])}


def status_line(out: Path, manifest: dict) -> str:
    """`lbs run`'s last word: how the run ended, its counts, why it stopped, what to do next."""
    status, c = manifest.get("status"), manifest.get("counts") or {}
    line = f"{status}: {out} ({c.get('predictions', 0)}/{c.get('probes', 0)} probes, {c.get('errors', 0)} errors)"
    if manifest.get("reason"):
        line += f": {manifest['reason']}"
    if status in ("aborted", "interrupted"):
        line += "; continue it with --resume"
    elif status == "partial" and c.get("errors"):
        line += "; --resume retries the failed probes"
    return line


async def _execute(backend: Backend, dataset: io.Dataset, condition: Condition, turns: TurnMode, config: RunConfig,
                   journal: Journal, run_id: str, label: str) -> None:  # fmt: skip
    """`label` is the system's name in the tables (e.g. "embedded"); run.json keeps the full spec.
    Each probe is journaled once per execution, whichever worker's answer arrives first (a backend
    that retries an episode elsewhere may finish a probe twice)."""
    done = {pid: rec["output"] or "" for pid, rec in journal.read().items() if not rec.get("error")}
    total, pending = pending_by_episode(dataset, done, config.limit, turns)
    recorded: set[str] = set()
    where = backend.describe()
    shown = label if where["name"] == "local" else f"{label} on {where['name']} x{where.get('workers', '?')}"
    with RunProgress(total=total, done=total - sum(map(len, pending.values())), label=shown) as progress:

        def sink(rec: dict) -> None:
            if rec["probe_id"] in recorded:
                return
            recorded.add(rec["probe_id"])
            journal.append(stamp(run_id, label, condition, rec))
            progress.advance(
                error=rec["error"] is not None,
                cache_hit=rec["cache_hit"],
                tokens=(rec["prompt_tokens"] or 0) + (rec["completion_tokens"] or 0),
            )

        await backend.execute(pending, episode_loader(dataset), condition, config.concurrency, sink, turns)


# Room set aside beside run.json while a run runs: when the disk fills, run.json is rewritten (a temp
# copy, then a rename) in the room given back, instead of being left "running".
ROOM = ".run.json.room"
ROOM_BYTES = 64 * 1024


def _reserve_room(out: Path) -> None:
    try:
        with open(out / ROOM, "wb") as fh:
            fh.write(b"\0" * ROOM_BYTES)  # written, not a sparse file: the blocks are really taken
    except OSError as e:
        (out / ROOM).unlink(missing_ok=True)
        if io.is_disk_full(e):
            raise io.DiskFull.of(e, out, ROOM_BYTES) from None
        raise


def _mark_disk_full(out: Path, manifest: dict, e: io.DiskFull) -> None:
    """The disk filled during the run (the journal ends in its last whole line): run.json says
    interrupted, in the room set aside for it; without room it stays "running", which --resume sets right."""
    (out / ROOM).unlink(missing_ok=True)
    try:
        io.write_json({**manifest, "status": "interrupted", "reason": str(e), "finished_at": provenance.now()},
                      out / "run.json")
    except UserError:
        pass


def footprint_of(system: MemorySystem) -> dict:
    """The system's own account of its size; a failing report must not lose a finished run."""
    try:
        return dict(system.footprint() or {})
    except Exception as e:  # noqa: BLE001 - recorded, not raised
        return {"error": error_line(e)}


def finalize(out: Path, dataset: io.Dataset, manifest: dict, aborted: str | None = None) -> dict:
    """Journal -> predictions, scores, aggregates; the status: complete when every probe has a row and
    none failed, partial when some failed or are missing (--limit), aborted with the breaker's reason."""
    t0 = time.monotonic()
    records = Journal(out / JOURNAL).read()
    known = set(dataset.probes.column("probe_id").to_pylist())
    rows = [r for pid, r in records.items() if pid in known]
    predictions = pa.Table.from_pylist(rows, schema=schemas.PREDICTIONS)  # leaves the journal-only ingest_s out
    write_tables(out, predictions, dataset)
    manifest["samples"] = _sample_log(out, dataset, manifest, {r["probe_id"]: r["output"] or "" for r in rows if not r["error"]},
                                      {r["probe_id"] for r in rows})
    manifest["counts"] = _counts(rows, known)
    manifest["usage"] = {  # what the run cost in tokens (cache hits included: they were paid once)
        name: pc.sum(predictions.column(name)).as_py() or 0 for name in ("prompt_tokens", "completion_tokens")
    }
    manifest["costs"] = run_costs(rows, predictions, manifest.get("footprint"), turn_index(dataset.probes))
    complete = len(rows) == len(known) and not manifest["counts"]["errors"]
    manifest["status"] = "aborted" if aborted else "complete" if complete else "partial"
    if aborted:
        manifest["reason"] = aborted
    manifest["finished_at"] = provenance.now()
    manifest["timings"]["finalize_s"] = round(time.monotonic() - t0, 3)
    io.write_json(manifest, out / "run.json")
    (out / ROOM).unlink(missing_ok=True)
    return manifest


def _sample_log(out: Path, dataset: io.Dataset, manifest: dict, outputs: dict[str, str], probe_ids: set[str]) -> dict:
    """Each answered probe's prompt (rebuilt from the dataset: a killed run loses none on --resume);
    `outputs` are the answers, which a multi-turn run's own history repeats."""
    if manifest.get("log_samples", True):
        return write_sample_log(out, dataset, manifest, probe_ids, outputs)
    for name in (PROMPTS, CONTEXTS):  # an earlier execution's log would no longer match the predictions
        (out / name).unlink(missing_ok=True)
    return {"logged": False}
