"""LongMemEval import memory: the streaming importer vs loading the file whole, in one run.

Writes a synthetic file in the official layout (items of `--sessions` sessions of ten ~150-word
turns) of about `--mb` megabytes, then measures in two fresh subprocesses each:
  - ours:      `import_file` (ijson stream, episodes written a few at a time)
  - reference: `json.load` of the whole file (what a naive importer starts with; it does no more work)
and prints each one's peak RSS, the ratio, and the import's wall time and MB/s.

    .venv/bin/python bench/import_longmemeval.py [--mb 200] [--sessions 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

WORDS = "the quick brown fox jumps over a lazy dog while memory sessions chat about recipes travel and budgets".split()

OURS = """
import resource, sys, time
from data_builders.longmemeval import import_file
from longbench_suite.tokens import load_tokenizer
t0 = time.monotonic()
m = import_file(sys.argv[1], sys.argv[2], None, "default", load_tokenizer("approx"), 128, False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic() - t0, m["counts"]["episodes"])
"""

REFERENCE = """
import json, resource, sys, time
t0 = time.monotonic()
with open(sys.argv[1]) as fh:
    items = json.load(fh)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic() - t0, len(items))
"""


def write_file(path: Path, megabytes: int, n_sessions: int) -> int:
    rng = random.Random(0)
    base = datetime(2023, 1, 1)
    target, size, i = megabytes * 1024 * 1024, 0, 0
    with open(path, "w") as fh:
        fh.write("[")
        while size < target:
            sessions = [[{"role": "user" if j % 2 == 0 else "assistant", "content": " ".join(rng.choices(WORDS, k=150))}
                         for j in range(10)] for _ in range(n_sessions)]
            sessions[0][0]["has_answer"] = True
            item = {
                "question_id": f"q{i}", "question_type": "multi-session", "question": "How many?", "answer": "3",
                "question_date": (base + timedelta(days=400)).strftime("%Y/%m/%d (%a) %H:%M"),
                "haystack_session_ids": [f"s{i}_{k}" for k in range(n_sessions)],
                "haystack_dates": [(base + timedelta(hours=5 * k)).strftime("%Y/%m/%d (%a) %H:%M") for k in range(n_sessions)],
                "haystack_sessions": sessions, "answer_session_ids": [f"s{i}_0"],
            }
            text = ("," if i else "") + json.dumps(item)
            fh.write(text)
            size, i = size + len(text), i + 1
        fh.write("]")
    return i


def measure(code: str, *args: str) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.split()
    return int(out[0]) / 1024, float(out[1]), int(out[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="size of the synthetic file")
    ap.add_argument("--sessions", type=int, default=50, help="sessions per item (S: ~50, M: ~500)")
    ap.add_argument("--keep", type=Path, help="keep the file and dataset here")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="lbs-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "longmemeval_s.json"
    t0 = time.monotonic()
    items = write_file(src, args.mb, args.sessions)
    mb = src.stat().st_size / 2**20
    print(f"file: {mb:.0f} MB, {items} items of {args.sessions} sessions (written in {time.monotonic() - t0:.1f} s)")
    ours_rss, ours_s, n = measure(OURS, str(src), str(work / "dataset"))
    ref_rss, ref_s, m = measure(REFERENCE, str(src))
    assert n == m == items
    print(f"streaming import: peak RSS {ours_rss:.0f} MB, {ours_s:.1f} s ({mb / ours_s:.1f} MB/s, approx token counts included)")
    print(f"json.load whole:  peak RSS {ref_rss:.0f} MB, {ref_s:.1f} s (parsing only)")
    print(f"peak memory ratio (ours / reference): {ours_rss / ref_rss:.2f}; ours / file size: {ours_rss / mb:.2f}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
