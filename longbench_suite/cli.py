"""The `lbs` command line (Typer). Bad input -> one line on stderr and exit code 2, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__, gate_cli, leaderboard_cli
from .errors import UserError

app = typer.Typer(
    name="lbs",
    help="longbench-suite: benchmarks of long-term memory for LLMs and memory-augmented systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Piped output (CI logs, files) gets a wide fixed width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


@app.command()
def tasks(family: Optional[str] = typer.Argument(None, help="Show one family in detail.")) -> None:
    """List task families, their variants and parameters with defaults."""
    from .registry import task_family_names, user_task_family
    from .task import describe_params

    names = [family] if family else task_family_names()
    for name in names:
        fam = user_task_family(name)
        console.print(f"[bold]{fam.name}[/bold] (generator v{fam.version}): {fam.description}")
        variants = Table("variant", "description", box=None, padding=(0, 2))
        for v, desc in fam.variants.items():
            variants.add_row(v, desc)
        console.print(variants)
        params = Table("parameter", "default", "meaning", box=None, padding=(0, 2))
        for row in describe_params(fam.Params):
            params.add_row(*row)
        console.print(params)
        console.print()


@app.command()
def generate(
    family: str = typer.Argument(..., help="Task family, e.g. needle (see `lbs tasks`)."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset directory to create."),
    variant: List[str] = typer.Option([], "--variant", "-v", help="Variant(s) to generate; default: all."),
    param: List[str] = typer.Option([], "--param", "-p", help="Family parameter key=value, e.g. -p lengths=4k,8k."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default 0): same seed and version, same bytes."),
    tokenizer: Optional[str] = typer.Option(
        None, help="Tokenizer that counts lengths: approx (default, offline), embedded, a tokenizer.json path, hf:ORG/NAME."
    ),
    config: Optional[Path] = typer.Option(None, help="TOML task config (variants, seed, tokenizer, [params])."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset directory."),
    max_tokens: Optional[int] = typer.Option(
        None, help="Refuse datasets estimated above this many tokens of text (default 2147483648 = 2^31)."
    ),
    force: bool = typer.Option(False, "--force", help="Generate even above --max-tokens or the in-memory bound."),
) -> None:
    """Generate a dataset (episodes.parquet, probes.parquet, manifest.json). Its size is estimated
    from the parameters first; past --max-tokens (or ~2 GB held in memory) it is refused unless --force."""
    from .generate import generate_dataset

    manifest = generate_dataset(family, output, variant, param, seed, tokenizer, config, overwrite,
                                max_tokens=max_tokens, force=force)
    _report_dataset(output, manifest)


build_app = typer.Typer(help="Build curated datasets from texts and short-task datasets.", no_args_is_help=True)
import_app = typer.Typer(help="Import published benchmark files as datasets.", no_args_is_help=True)
export_app = typer.Typer(help="Write datasets in a benchmark's published file layout.", no_args_is_help=True)
app.add_typer(build_app, name="build")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(leaderboard_cli.app, name="leaderboard")


@build_app.command("book-sort")
def build_book_sort(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset directory to create."),
    text: List[Path] = typer.Option([], "--text", help="A plain-text book (Gutenberg boilerplate, front matter and headings are stripped); repeat for several."),
    dataset: Optional[str] = typer.Option(None, help="Books from a `datasets` text column: a parquet/arrow/json(l)/csv file, a save_to_disk dir, or a hub name."),
    column: str = typer.Option("text", help="The dataset's text column."),
    title_column: Optional[str] = typer.Option(None, help="The dataset's title column (default: NAME #row)."),
    dataset_split: str = typer.Option("train", help="Split of a hub dataset."),
    variant: List[str] = typer.Option([], "--variant", "-v", help="Segment lengths as variants: ls20, ls50 (default), any lsN."),
    param: List[str] = typer.Option([], "--param", "-p", help="sort parameter key=value, e.g. -p lengths=250,1000 -p excerpts=100 (see `lbs tasks sort`)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default 0)."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer for n_tokens and for -p unit=tokens (default approx)."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset directory."),
) -> None:
    """Book-SORT from your texts: excerpts, segment pairs in four distance bins, counterbalanced A/B."""
    from data_builders.book_sort import books_from_dataset, books_from_files

    from .generate import generate_dataset

    if not text and not dataset:
        raise UserError("give at least one --text FILE or a --dataset")
    from . import io

    io.prepare_output_dir(output, overwrite, marker="manifest.json")  # before reading any book
    books = books_from_files(text) + (books_from_dataset(dataset, column, title_column, dataset_split) if dataset else [])
    manifest = generate_dataset("sort", output, variant, param, seed, tokenizer, None, overwrite, inputs=books)
    _report_dataset(output, manifest)


@build_app.command("m4le")
def build_m4le(
    source: str = typer.Option(..., help="Short-task rows: a `datasets` id, a local jsonl/json/parquet/csv/arrow file or a save_to_disk dir."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset directory to create."),
    task_type: List[str] = typer.Option(..., "--task-type", help="classification, qa, summarization, retrieval or translation; repeat for several."),
    ability: List[str] = typer.Option([], "--ability", help="explicit-single, semantic-single, explicit-multiple, semantic-multiple, global (default: all each task supports)."),
    columns: Optional[str] = typer.Option(None, help="Role mapping ROLE=COLUMN,...: roles text, label, title, summary, question, answer, target (default: same names)."),
    split: str = typer.Option("train", help="Split of a hub dataset or save_to_disk dict."),
    limit: Optional[int] = typer.Option(None, help="Read at most this many rows of the source."),
    param: List[str] = typer.Option([], "--param", "-p", help="m4le parameter key=value, e.g. -p buckets=1k,2k,4k -p samples=20 -p marker=position (see `lbs tasks m4le`)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default 0)."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer for -p unit=tokens and n_tokens (default approx)."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset directory."),
) -> None:
    """M4LE conversion of any short-task dataset: pack its instances into contexts of each length bucket
    and ask about one, several or all of them."""
    from data_builders.m4le import parse_columns, read_source

    from . import io
    from .generate import generate_dataset

    if limit is not None and limit < 2:
        raise UserError("--limit must be at least 2")
    mapping = parse_columns(columns)
    io.prepare_output_dir(output, overwrite, marker="manifest.json")  # before reading the source
    pool = read_source(source, mapping, split, limit)
    params = list(param) + ([f"abilities={','.join(ability)}"] if ability else [])
    manifest = generate_dataset("m4le", output, task_type, params, seed, tokenizer, None, overwrite, inputs=pool)
    _report_dataset(output, manifest)


@import_app.command("m4le")
def import_m4le(
    source: Path = typer.Argument(..., help="An M4LE task file (jsonl: instruction, input, answers, input_length, total_length, length_bucket)."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset directory to create."),
    task: Optional[str] = typer.Option(None, help="M4LE task name (default: the file name, e.g. lcsts, mnds-news_semantic-multiple): its ability, metric, end tokens and language come from M4LE's table (data_builders/m4le_tasks.toml)."),
    metric: Optional[str] = typer.Option(None, help="Metric override (default: the task's in M4LE's table: rouge_l_recall, m4le_acc, exact_match, cls_f1 or bleu); required for a task not in the table."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer that counts each input's n_tokens (default approx)."),
    max_new_tokens: int = typer.Option(256, help="Answer budget per item."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset directory."),
) -> None:
    """Import M4LE's released items: the input is the episode, the instruction the question (asked first, as M4LE does)."""
    from data_builders.m4le import import_official

    from . import io
    from .tokens import load_tokenizer

    if max_new_tokens < 1:
        raise UserError("--max-new-tokens must be at least 1")
    io.prepare_output_dir(output, overwrite, marker="manifest.json")
    counter = load_tokenizer(tokenizer)
    episodes, probes, extra = import_official(source, task, metric, counter, max_new_tokens)
    manifest = {
        "family": "m4le", "variants": sorted(set(probes.column("variant").to_pylist())),
        "params": {"metric": extra["metric"], "max_new_tokens": max_new_tokens}, "seed": None,
        "generator_version": "import:m4le", "tokenizer": counter.name, "suite_version": __version__, **extra,
    }
    manifest = io.write_dataset(output, episodes, probes, manifest, overwrite=overwrite)
    _report_dataset(output, manifest)


@import_app.command("scbench")
def import_scbench(
    sources: List[Path] = typer.Argument(..., help="SCBench config files (JSON lines, a JSON list, or the HF dataset's parquet), one config each."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset directory to create."),
    task: Optional[str] = typer.Option(None, help="The config the files hold, e.g. scbench_kv (default: from each file's name or folder)."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer that counts each context's n_tokens (default approx)."),
    max_turns: Optional[int] = typer.Option(None, help="Keep each record's first N turns (SCBench's --max_turns; default all)."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset directory."),
) -> None:
    """Import SCBench's released configs losslessly as the shared_context family: a record's context is
    the episode, each turn a probe (bin "turn N"), scored by SCBench's scorers."""
    from data_builders.scbench import import_files

    from . import io
    from .tokens import load_tokenizer

    if max_turns is not None and max_turns < 1:
        raise UserError("--max-turns must be at least 1")
    io.prepare_output_dir(output, overwrite, marker="manifest.json")
    counter = load_tokenizer(tokenizer)
    episodes, probes, extra = import_files(sources, task, counter, max_turns)
    manifest = {
        "family": "shared_context", "variants": sorted(set(probes.column("variant").to_pylist())),
        "params": {"task": task, "max_turns": max_turns}, "seed": None, "generator_version": "import:scbench",
        "tokenizer": counter.name, "suite_version": __version__, **extra,
    }
    manifest = io.write_dataset(output, episodes, probes, manifest, overwrite=overwrite)
    _report_dataset(output, manifest)


@import_app.command("book-sort")
def import_book_sort(
    source: Path = typer.Argument(..., help="Book-SORT directory: books_/excerpts_/segments_{L_E}-s{L_S}-n{N}.csv, or the Hugging Face data/test_e{L_E}_s{L_S}.parquet files."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset directory to create."),
    prompt: str = typer.Option("default", help="Prompt template (see tasks/templates/sort.toml) or a .toml file."),
    split: str = typer.Option("all", help="all (lossless), test (excerpts 0-99) or heldout (SORT's validation, 100 on)."),
    max_new_tokens: int = typer.Option(8, help="Answer budget per probe."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset directory."),
) -> None:
    """Import the published Book-SORT files losslessly: books become episodes, segment pairs probes."""
    from data_builders.book_sort_official import import_official

    from . import io

    split = {"validation": "heldout"}.get(split, split)  # SORT's name for the held-out excerpts
    if split not in ("all", "test", "heldout"):
        raise UserError("--split must be all, test or heldout (validation)")
    if max_new_tokens < 1:
        raise UserError("--max-new-tokens must be at least 1")
    io.prepare_output_dir(output, overwrite, marker="manifest.json")
    episodes, probes, extra = import_official(source, prompt, split, max_new_tokens)
    manifest = {
        "family": "sort",
        "variants": sorted(set(probes.column("variant").to_pylist())),
        "params": {"prompt": prompt, "split": split, "max_new_tokens": max_new_tokens, "unit": "words"},
        "seed": None,
        "generator_version": "import:book-sort",
        "tokenizer": None,
        "suite_version": __version__,
        **extra,
    }
    manifest = io.write_dataset(output, episodes, probes, manifest, overwrite=overwrite)
    _report_dataset(output, manifest)
    if extra["in_memory"].startswith("nothing"):
        err.print("note: the books file has no text column, so in-memory runs have no book to ingest", highlight=False)
    inexact = [name for name, same in extra["official"]["byte_identical"].items() if not same]
    if inexact:
        err.print(f"note: {', '.join(inexact)} will export with the same rows but not byte for byte "
                  "(not written as pandas writes CSV)", highlight=False)


@import_app.command("longmemeval")
def import_longmemeval(
    source: Path = typer.Argument(..., help="An official LongMemEval file: longmemeval_s / _m / _oracle (.json array or .jsonl), cleaned or not."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset directory to create."),
    variant: Optional[str] = typer.Option(None, help="s, m or oracle (default: from the file name). Only oracle haystacks may have their days out of order."),
    template: str = typer.Option("default", help="Reader template (tasks/templates/longmemeval.toml: default, plain) or a .toml file."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer that counts each history's n_tokens (default approx)."),
    max_new_tokens: int = typer.Option(128, help="Answer budget per question."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset directory."),
) -> None:
    """Import LongMemEval losslessly (streamed: the M file's 2.7 GB never sit in memory): one episode per
    question (its dated haystack), one probe (the question on its date), judged by `lbs score --judge`."""
    from data_builders.longmemeval import VARIANTS, import_file, inversion_warning

    from . import io
    from runners.progress import count_progress
    from .tokens import load_tokenizer

    if variant is not None and variant not in VARIANTS:
        raise UserError(f"--variant must be one of {', '.join(VARIANTS)}")
    if max_new_tokens < 1:
        raise UserError("--max-new-tokens must be at least 1")
    io.prepare_output_dir(output, overwrite, marker="manifest.json")
    counter = load_tokenizer(tokenizer)
    with count_progress("importing", err) as progress:
        manifest = import_file(source, output, variant, template, counter, max_new_tokens, overwrite, progress)
    _report_dataset(output, manifest)
    if warning := inversion_warning(manifest):
        err.print(warning, highlight=False, markup=False, soft_wrap=True)


@export_app.command("longmemeval")
def export_longmemeval(
    data: Path = typer.Argument(..., help="A longmemeval dataset directory (imported or generated)."),
    output: Path = typer.Option(..., "--output", "-o", help="New .json file (a JSON array in LongMemEval's layout)."),
) -> None:
    """Write a longmemeval dataset as LongMemEval's JSON (an import round-trips to the same objects)."""
    import json

    from data_builders.longmemeval import export_items

    from . import io

    ds = io.Dataset(data)
    if ds.manifest.get("family") != "longmemeval":
        raise UserError(f"{data} is a {ds.manifest.get('family')} dataset, not longmemeval")
    if output.exists():
        raise UserError(f"{output} exists; choose a new file")
    io.check_dir_path(output.parent)
    n = 0
    with io.atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write("[")
        for n, item in enumerate(export_items(ds.episodes, ds.probes), 1):
            fh.write(("" if n == 1 else ",\n") + json.dumps(item, ensure_ascii=False))
        fh.write("]\n")
    err.print(f"wrote {n} items to {output}", highlight=False)


@export_app.command("lm-eval")
def export_lm_eval(
    data: Path = typer.Argument(..., help="A dataset directory (any family)."),
    output: Path = typer.Option(..., "--output", "-o", help="New directory for task YAMLs, data/*.jsonl and utils.py."),
    condition: str = typer.Option("in-context", help="in-context or no-context."),
    name: Optional[str] = typer.Option(None, help="Task name stem (default: the dataset directory's name)."),
    overwrite: bool = typer.Option(False, help="Replace an earlier export in OUTPUT."),
) -> None:
    """Write a dataset as lm-evaluation-harness tasks (lbs_NAME, lbs_NAME_len<L>, lbs_NAME_<variant>_<L>), scored by the suite's scorers."""
    from adapters.lm_eval_tasks import export_lm_eval as export

    summary = export(data, output, condition=condition, name=name, overwrite=overwrite)
    print(f"wrote {len(summary['tasks'])} tasks ({summary['docs']} docs) to {output}; run:\n  {summary['command']}", file=sys.stderr)


@export_app.command("book-sort")
def export_book_sort(
    data: Path = typer.Argument(..., help="A sort dataset directory (generated, built or imported)."),
    output: Path = typer.Option(..., "--output", "-o", help="New directory for books_/excerpts_/segments_{L_E}-s{L_S}-n{N}.csv (and book_texts/)."),
) -> None:
    """Write a sort dataset in Book-SORT's CSV layout, as SORT's evaluation loader reads it (an
    imported CSV directory comes back byte for byte)."""
    from data_builders.book_sort_official import export_official, write_official

    from . import io

    ds = io.Dataset(data)
    if ds.manifest.get("family") != "sort":
        raise UserError(f"{data} is a {ds.manifest.get('family')} dataset, not sort")
    groups, texts = export_official(ds.episodes, ds.probes, ds.manifest)
    with io.staged_dir(output) as stage:  # a new or empty directory: nothing of the user's is replaced
        written = write_official(groups, stage, texts)
    err.print(f"wrote {len(written)} files to {output}", highlight=False)


@export_app.command("joint-recall-tokens")
def export_joint_recall_tokens(
    data: Optional[Path] = typer.Argument(None, help="A joint-recall dataset directory; without one, HAX's training grid."),
    output: Path = typer.Option(..., "--output", "-o", help="New directory for the parquet file(s) and layout.json."),
    max_n_ctx: int = typer.Option(16, help="Contexts the layout holds (HAX's --max_n_context): sets the padding."),
    max_n_key: int = typer.Option(16, help="Keys the layout holds (HAX's --max_n_key): sets the context ids and padding."),
    n_value: Optional[int] = typer.Option(None, help="Grid only: distinct values (default 16; a dataset brings its own)."),
    train: int = typer.Option(10_000, help="Grid only: train sequences per (n_ctx, n_key) (HAX: 10,000)."),
    test: int = typer.Option(100, help="Grid only: validation and test sequences each per (n_ctx, n_key) (HAX: 100)."),
    min_n: int = typer.Option(5, help="Grid only: the smallest n_ctx and n_key (HAX: 5)."),
    seed: int = typer.Option(0, help="Grid only: random seed."),
) -> None:
    """Joint recall as integer sequences in HAX's layout (BOS=1, PAD=3, SEP=4, values from 10, then keys,
    then contexts; columns `inputs` and `mask`, as HAX's collate reads them). From a dataset: its
    episodes, in tokens.parquet. Without one: HAX's grid (n_ctx, n_key in 5..16; 10,000 train, 100
    validation and 100 test sequences per pair, none repeated across splits) in train/validation/test.parquet."""
    from tasks._hax_tokens import Layout, token_sequences, write_grid

    from . import io

    if data is None:
        layout = Layout(n_value if n_value is not None else 16, max_n_ctx, max_n_key)
        with io.staged_dir(output) as stage:  # a new or empty directory: nothing of the user's is replaced
            counts = write_grid(stage, layout, train, test, seed, min_n)
            io.write_json({**layout.describe(), "seed": seed, "splits": counts,
                           "grid": {"n_ctx": [min_n, max_n_ctx], "n_key": [min_n, max_n_key]}}, stage / "layout.json")
        err.print(f"wrote {sum(counts.values())} sequences ({', '.join(f'{k} {v}' for k, v in counts.items())}) to {output}",
                  highlight=False)
        return
    ds = io.Dataset(data)
    if ds.manifest.get("family") != "joint-recall":
        raise UserError(f"{data} is a {ds.manifest.get('family')} dataset, not joint-recall")
    if n_value is not None:
        raise UserError("--n-value is for the grid: a dataset's episodes bring their own n_value")
    layout = Layout(int(ds.manifest.get("params", {}).get("n_value", 16)), max_n_ctx, max_n_key)
    tokens = token_sequences(ds.episodes, layout)
    with io.staged_dir(output) as stage:  # a new or empty directory: nothing of the user's is replaced
        io.write_parquet(tokens, stage / "tokens.parquet")
        io.write_json({**layout.describe(), "dataset": ds.manifest["content_hash"], "sequences": tokens.num_rows},
                      stage / "layout.json")
    err.print(f"wrote {tokens.num_rows} sequences to {output / 'tokens.parquet'}", highlight=False)


def _report_dataset(output: Path, manifest: dict) -> None:
    counts = manifest["counts"]
    err.print(
        f"wrote {output}: {counts['episodes']} episodes, {counts['probes']} probes"
        + (f" in {manifest['generation_s']:.2f}s" if "generation_s" in manifest else "")
        + f" ({manifest['content_hash'][:19]})",
        highlight=False,
    )
    if manifest["family"] == "sort":  # books too short for a setting are skipped, as the paper did: say so
        import json

        import pyarrow.parquet as pq

        for meta in pq.read_table(output / "episodes.parquet", columns=["meta"]).column("meta").to_pylist():
            meta = json.loads(meta or "{}")
            for s in meta.get("skipped", []):
                err.print(
                    f"note: {meta['title']!r} skipped for L_E={s['excerpt_len']}, L_S={s['segment_len']}: {s['reason']}",
                    highlight=False, markup=False,
                )


@app.command()
def run(
    data: Path = typer.Argument(..., help="Dataset directory."),
    system: str = typer.Option(
        "embedded", "--system", "-s", help="System spec: embedded, oracle, random, no-context:SPEC, openai:MODEL,base_url=URL, your own python:MODULE:ATTR ... (lbs systems lists them)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Run directory."),
    condition: str = typer.Option("in-context", help="in-context, in-memory or no-context."),
    concurrency: Optional[int] = typer.Option(None, help="Probes in flight at once (default 4; in-process engines ask for more)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run; failed probes are retried."),
    overwrite: bool = typer.Option(False, help="Replace an existing run directory."),
    cache: bool = typer.Option(True, help="Use the response cache (keyed by system, model, endpoint, sampling, messages)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N probes (smoke test)."),
    seed: int = typer.Option(0, help="Seed for systems that draw (random baseline, sampling)."),
    judge: Optional[str] = typer.Option(None, help="Then judge the answers with this system (LongMemEval), as `lbs score --judge` does."),
    backend: str = typer.Option("local", help="local: asyncio in this process; ray: episodes sharded over Ray actors, one system each (pip install 'longbench-suite[ray]')."),
    address: Optional[str] = typer.Option(None, help="Ray: the cluster to join (auto, or HOST:PORT); default $RAY_ADDRESS, else a local cluster on this machine."),
    workers: Optional[int] = typer.Option(None, help="Ray: actors (default: as many as the cluster holds with --resources-per-worker)."),
    resources_per_worker: Optional[str] = typer.Option(None, help="Ray: what each actor reserves, e.g. GPU=1,CPU=4 (default CPU=1); --concurrency is per actor."),
    log_samples: bool = typer.Option(True, help="Keep each probe's prompt in prompts.parquet + contexts.parquet (each context once) for lbs show / lbs view."),
    allow_overflow: bool = typer.Option(False, "--allow-overflow", help="Send probes longer than the system's context window anyway (they fail one by one)."),
    max_consecutive_failures: Optional[int] = typer.Option(None, "--max-consecutive-failures", help="Stop the run (status aborted; --resume continues it) after N failed probes in a row of one kind: timeouts, HTTP 5xx, refused connections... Default 20, or twice --concurrency when larger; 0: never."),
    mode: Optional[str] = typer.Option(None, "--mode", help="Probes that form a conversation over one context (shared_context, SCBench): multi-turn (each turn carries the earlier ones, answered in order; the default for such data) or multi-request (each asked alone over the shared context)."),
    history: str = typer.Option("reference", "--history", help="Multi-turn: the answers the earlier turns carry: reference (SCBench's default) or own (the system's own answers)."),
) -> None:
    """Run a system on a dataset: predictions, scores and aggregates in the run directory.

    The run holds the directory's lock: a second writer (run, --overwrite, --resume, score, aggregate)
    is refused with exit 2 while it lasts. A status line says how the run ended (run.json "status"):

    \b
    Exit codes:
      0    complete     every probe answered, none failed (or, with --limit, the N asked for)
      2    bad input    one error line; nothing ran (also: the directory is in use)
      4    partial      some probes failed; --resume retries them
      5    aborted      stopped by --max-consecutive-failures (the reason is on the status line)
      130  interrupted  by SIGINT (Ctrl-C); 143 by SIGTERM: the journal is kept, the status written
    A partial, aborted or interrupted run continues with --resume.
    """
    from runners.local import RunConfig

    from .protocol import Condition

    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1")
    if resume and overwrite:
        raise UserError("give --resume (continue the run) or --overwrite (replace it), not both")
    if max_consecutive_failures is not None and max_consecutive_failures < 0:
        raise UserError("--max-consecutive-failures must be 0 (never stop) or more")
    if backend not in ("local", "ray"):
        raise UserError(f"--backend must be local or ray, not {backend!r}")
    if backend == "local" and (address, workers, resources_per_worker) != (None, None, None):
        raise UserError("--address, --workers and --resources-per-worker need --backend ray")
    cfg = RunConfig(
        dataset=data, system=system, out=output, condition=Condition.parse(condition), concurrency=concurrency,
        resume=resume, overwrite=overwrite, use_cache=cache, limit=limit, seed=seed, log_samples=log_samples,
        allow_overflow=allow_overflow, max_consecutive_failures=max_consecutive_failures, mode=mode, history=history,
    )
    if judge is not None:
        from .judge import check_judgeable

        check_judgeable(data, judge)  # a family without a judge protocol fails before the run
    from runners.local import Interrupted, exit_code, status_line

    from .lock import run_lock

    with run_lock(output, create=True):  # held across the run and its judging
        try:
            if backend == "ray":
                from runners.ray_runner import RayOptions
                from runners.ray_runner import run as run_ray

                manifest = run_ray(cfg, RayOptions.parse(address, workers, resources_per_worker))
            else:
                from runners.local import run as run_local

                manifest = run_local(cfg)
        except Interrupted as e:  # SIGINT/SIGTERM: run.json says "interrupted"; exit 128 + the signal
            err.print(e.line, highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        err.print(status_line(output, manifest), highlight=False, markup=False, soft_wrap=True)
        if manifest["status"] != "aborted":  # an aborted run's answers are judged when it is finished
            _after_run(output, data, judge, concurrency, cache)
    if exit_code(manifest):
        raise typer.Exit(exit_code(manifest))


def _after_run(output: Path, data: Path, judge: Optional[str], concurrency: Optional[int], cache: bool) -> None:
    """Judge the answers (--judge) or say that they need a judge, then print what the run measured."""
    from . import io

    dataset = io.Dataset(data)  # the run just read it: no need to hash it again
    if judge is not None:
        _judge_run(output, dataset, judge, None, concurrency or 4, cache)
    else:
        _note_unjudged(output, dataset.probes)
    from .report import run_summary

    for line in run_summary(output):  # the headline, n, CI and failed probes: what the run measured
        err.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
def score(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    judge: Optional[str] = typer.Option(None, help="Judge every answer again with this system spec (e.g. openai:gpt-4o, embedded); LongMemEval's protocol."),
    judge_templates: Optional[Path] = typer.Option(None, help="Judge templates TOML (default: the family's packaged ones)."),
    concurrency: int = typer.Option(4, help="Judge requests in flight at once."),
    cache: bool = typer.Option(True, help="Use the response cache for judge requests."),
) -> None:
    """Re-score a run from its predictions (no calls to the system) and rebuild its aggregates;
    with --judge, first judge every answer (verdicts in judgments.parquet, replacing earlier ones)."""
    from .scoring import write_tables

    from . import io, schemas
    from .spec import parse_spec

    from .lock import run_lock

    if judge is not None:
        parse_spec(judge)  # a malformed judge spec fails before the run's dataset is read and hashed
    with run_lock(run_dir):  # not beside a live run, nor another score or judge
        dataset = _run_dataset(run_dir)
        if judge is not None:
            _judge_run(run_dir, dataset, judge, judge_templates, concurrency, cache)
            return
        predictions = io.read_parquet(run_dir / "predictions.parquet", schemas.PREDICTIONS, "predictions table")
        write_tables(run_dir, predictions, dataset)
    err.print(f"re-scored {run_dir}", highlight=False)
    _note_unjudged(run_dir, dataset.probes)


def _run_dataset(run_dir: Path):
    """The dataset a run was made on, checked unchanged."""
    from . import io

    manifest = io.read_json(run_dir / "run.json", "run manifest")
    recorded = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    if not recorded.get("path") or not recorded.get("content_hash"):
        raise UserError(f"{run_dir / 'run.json'} does not name its dataset (path and content_hash)")
    dataset = io.Dataset(Path(recorded["path"]))
    dataset.verify()
    if dataset.content_hash != recorded["content_hash"]:
        raise UserError(f"dataset at {dataset.path} changed since the run (hash differs)")
    return dataset


def _judge_run(run_dir: Path, dataset, judge: str, templates: Optional[Path], concurrency: int, cache: bool) -> None:
    from runners.progress import count_progress

    from .judge import judge_run

    with count_progress("judging", err) as progress:
        summary = judge_run(run_dir, dataset, judge, templates, concurrency, cache, progress)
    err.print(f"judged {run_dir} with {judge}: {summary['judged']} verdicts, {summary['errors']} judge errors", highlight=False)


def _note_unjudged(run_dir: Path, probe_table) -> None:
    """Probes whose headline is a judge's verdict: say when some or all have none yet."""
    import polars as pl

    from . import io, schemas
    from .scoring import JUDGE_METRIC

    probes = pl.from_arrow(probe_table.select(["probe_id", "metric"]))
    judged_probes = probes.filter(pl.col("metric") == JUDGE_METRIC).get_column("probe_id")
    if judged_probes.is_empty():
        return
    predictions = pl.from_arrow(io.read_parquet(run_dir / "predictions.parquet", schemas.PREDICTIONS, "predictions table"))
    answered = predictions.filter(pl.col("probe_id").is_in(judged_probes)).height
    scores = pl.from_arrow(io.read_parquet(run_dir / "scores.parquet", schemas.SCORES, "scores table"))
    have = scores.filter(pl.col("metric") == JUDGE_METRIC).height
    if have == 0:
        err.print(f"note: these answers need an LLM judge for their headline score: lbs score {run_dir} --judge SPEC", highlight=False)
    elif have < answered:
        err.print(f"note: only {have} of {answered} answers have a judge's verdict (judge errors, or answers changed since "
                  f"judging): the headline covers those; judge again with lbs score {run_dir} --judge SPEC", highlight=False)


@app.command()
def report(
    runs: List[Path] = typer.Argument(..., help="Run directories."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where heatmaps go (default: the run dir, or ./report)."),
    normalize_by: Optional[str] = typer.Option(None, help="Divide every score by this system's score at its shortest length (M4LE's normalisation; same as --normalize ref:SYSTEM)."),
    normalize: str = typer.Option("none", help="none; chance (alias random): (score - chance) / (1 - chance), chance from the probes; ref:SYSTEM (M4LE)."),
) -> None:
    """Print a table of scores per family (with failed probes), SORT's position bias and judged scores,
    and write a depth (or bin) x length heatmap per system."""
    from . import io
    from .leaderboard import normalize as normalize_scores
    from .report import heatmaps, load_aggregates, plot_values, print_checks, print_table

    agg = load_aggregates(runs)
    if normalize_by and normalize.strip() != "none":
        raise UserError("give --normalize or --normalize-by, not both")
    agg, note = normalize_scores(agg, f"ref:{normalize_by}" if normalize_by else normalize)
    out = output or (runs[0] if len(runs) == 1 else Path("report"))
    io.check_dir_path(Path(out))  # a bad output path fails before anything is printed
    print_table(agg, console, note)
    print_checks(runs, agg, console)
    for path in heatmaps(plot_values(agg), out):  # a cell whose probes all failed is blank, not a red 0
        console.print(f"heatmap: {path}", highlight=False)


@app.command()
def show(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    failed: bool = typer.Option(False, "--failed", help="Only failed samples: an error, no score, or a primary score below 1."),
    probe: List[str] = typer.Option([], "--probe", help="Only this probe id; repeat for several."),
    limit: Optional[int] = typer.Option(10, help="Show at most N samples (0: all)."),
    prompt_chars: int = typer.Option(600, help="Characters of the prompt's tail to show."),
    full_prompt: bool = typer.Option(False, "--full-prompt", help="Show whole prompts."),
) -> None:
    """Print a run's samples: ids, family/variant/length, question, prompt tail, output, gold, scores, judge verdict, error."""
    from .samples_page import show as show_samples

    if limit is not None and limit < 0 or prompt_chars < 0:
        raise UserError("--limit and --prompt-chars must be at least 0")
    show_samples(run_dir, console, err, only_failed=failed, probe=probe, limit=limit or None,
                 prompt_chars=None if full_prompt else prompt_chars)


@app.command()
def view(
    runs: List[Path] = typer.Argument(..., help="Run directories."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory for the page (index.html)."),
    limit: Optional[int] = typer.Option(None, help="At most N samples per run."),
    prompt_chars: int = typer.Option(20000, help="Cut each context to its head and tail, this many characters in all (0: whole)."),
    title: Optional[str] = typer.Option(None, help="Page title."),
    overwrite: bool = typer.Option(False, help="Replace an earlier page in OUTPUT."),
) -> None:
    """Write a self-contained HTML sample browser (no network): filter by run, family, variant, length, score and
    error; prompt, output, gold, scores and judge verdict side by side."""
    from .samples_page import write_view

    if limit is not None and limit < 1 or prompt_chars < 0:
        raise UserError("--limit must be at least 1 and --prompt-chars at least 0")
    page, n, notes = write_view(runs, output, limit=limit, prompt_chars=prompt_chars or None, overwrite=overwrite, title=title)
    for note in notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    err.print(f"wrote {page} ({n} samples); open it in a browser", highlight=False)


@app.command()
def serve(
    name: str = typer.Argument("embedded", help="Catalogue model to serve: embedded or ref:NAME (see `lbs systems`)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: Optional[int] = typer.Option(None, help="Port (default: a free one)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact vLLM command and exit."),
) -> None:
    """Serve a catalogue model with vLLM (OpenAI-compatible) until Ctrl-C."""
    from runners.serve import serve as serve_model

    serve_model(name, host, port, dry_run)


@app.command()
def systems(
    reference: bool = typer.Option(False, "--reference", help="Only the reference memory models."),
    names: bool = typer.Option(False, "--names", help="Only catalogue names, one per line (for scripts)."),
) -> None:
    """System kinds (for --system; plugins and python:MODULE:ATTR included) and the model catalogue (embedded, ref:NAME)."""
    from .systems_table import print_systems

    if names:
        from runners.model_specs import load_model_specs

        for name, spec in load_model_specs().items():
            if spec.reference or not reference:
                print(name)
        return
    print_systems(console, reference_only=reference)


@app.command()
def demo(
    workdir: Path = typer.Option(Path("lbs-demo"), help="Where the demo writes its dataset, runs and heatmaps."),
    concurrency: int = typer.Option(4, help="Probes in flight at once."),
) -> None:
    """The main job: small needle, SORT, LongMemEval, M4LE and shared-context sets run on the embedded model and the baselines, then a report."""
    from .demo import run_demo

    run_demo(workdir, concurrency, console)


@app.command()
def version() -> None:
    """Print the suite's version."""
    console.print(__version__)


app.command()(gate_cli.aggregate)  # after score and report, in the order of the stages
app.command()(gate_cli.gate)


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) raised in a command comes back as a return value
            sys.exit(code)
    except UserError as e:
        err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except OSError as e:  # a file the user named is unreadable or unwritable (permissions, read-only, full disk)
        from .io import DiskFull, is_disk_full

        if is_disk_full(e):  # a write outside lbs's own writers (which name the file and the room needed)
            err.print(f"error: {DiskFull.of(e, e.filename)}", highlight=False, markup=False, soft_wrap=True)
            sys.exit(2)
        if e.filename is None:
            raise
        err.print(f"error: {e.strerror or e}: {e.filename}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted; a run continues with --resume", highlight=False)
        sys.exit(130)
    except typer.TyperException as e:  # usage errors: unknown option, missing argument, bad type
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `lbs`: the help is the answer
            console.print(message, highlight=False, markup=False)
            sys.exit(0)
        err.print(f"error: {' '.join(message.split())}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
