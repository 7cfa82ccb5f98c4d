"""P1 of bench/perf.py, generation: needle items/s at 32k and 128k tokens, ours vs a RULER-style
reference (bench/ruler_reference.py; same tokenizer, same essay sentences, compared per item), and the
peak RSS of `lbs generate` making 1,000 items of 128k tokens (a child process)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from perf_common import GIB, REPO, Row, Sizes, lbs_cmd, num, rate, times


def generation_rates(tok, length: int, samples: int, ref_samples: int, variant: str = "single_2") -> dict:
    """Seconds for `samples` needle items of `length` tokens (ours, haystack counting included) and for
    `ref_samples` items of the RULER-style reference (its sentences prepared outside the clock)."""
    import ruler_reference

    from longbench_suite.task import parse_params
    from tasks.needle import FAMILY

    params = parse_params(FAMILY.Params, [f"lengths={length}", "depths=50", f"samples={samples}"])
    t0 = time.perf_counter()
    episodes, _ = FAMILY.generate([variant], params, 0, tok)
    ours = time.perf_counter() - t0
    sentences = ruler_reference.essay_sentences(tok, length)
    t0 = time.perf_counter()
    prompts = ruler_reference.generate(tok, sentences, length, ref_samples)
    ref = time.perf_counter() - t0
    assert all(prompts), "reference made an empty prompt"
    return {"ours_items": episodes.num_rows, "ours_s": ours, "ref_items": ref_samples, "ref_s": ref}


def peak_rss(cmd: list[str]) -> tuple[int, float]:
    """(peak RSS in bytes, wall seconds) of a command run as a child (wait4's rusage is the child's own)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {proc.returncode}: {stderr[-2000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - t0


def p1(sizes: Sizes, work: Path, tokenizer: str) -> list[Row]:
    from longbench_suite.task import parse_size
    from longbench_suite.tokens import load_tokenizer

    tok = load_tokenizer(tokenizer)
    rows = []
    for label, n, n_ref in sizes.gen:
        r = generation_rates(tok, parse_size(label), n, n_ref)
        ours, ref = rate(r["ours_items"], r["ours_s"]), rate(r["ref_items"], r["ref_s"])
        rows.append(Row("P1", f"needle items/s at {label} tokens (single_2, {tokenizer} tokenizer)", num(ours),
                        f"{num(ref)} RULER-style", times(ours / ref),
                        note=f"ours {r['ours_items']} items in {num(r['ours_s'], ' s')}, reference {n_ref} in {num(r['ref_s'], ' s')}"))
    n = sizes.rss_items
    depths = "0,25,50,75,100" if n % 5 == 0 else "50"
    per_depth = n // 5 if n % 5 == 0 else n
    cmd = lbs_cmd("generate", "needle", "-v", "single_2", "-p", "lengths=128k", "-p", f"depths={depths}", "-p", f"samples={per_depth}",
                  "--tokenizer", tokenizer, "-o", work / "rss-128k", "--overwrite")
    rss, wall = peak_rss(cmd)
    size_mb = sum(f.stat().st_size for f in (work / "rss-128k").iterdir()) / 2**20
    rows.append(Row("P1", f"peak RSS of `lbs generate`, {n:,} needle items of 128k tokens", num(rss / GIB, " GiB"),
                    goal="< 1 GiB", ratio="", note=f"{'met' if rss < GIB else 'NOT met'}; whole command {num(wall, ' s')} "
                    f"({num(n / wall)} items/s, writing {num(size_mb)} MB of parquet included)"
                    + ("" if n >= 1000 else f"; --quick: {n} items, not 1,000")))
    return rows
