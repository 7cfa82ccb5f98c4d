"""Looking at samples: `lbs show` (the terminal) and `lbs view` (a self-contained HTML page).

Both read longbench_suite/samples.py's frame. The terminal prints every value as rich Text (never as
markup); the page is leaderboards/templates/samples.html filled the way the leaderboard page is
(leaderboard_render: html.escape for text, the data as a JSON block with <, > and & escaped, rendered
by the page's script with textContent, under a Content-Security-Policy that runs only its own script and
style), so a prompt holding `<script>` or quotes shows as text. Long contexts are cut to their head and
tail on the page (`--prompt-chars`), with the number of characters left out.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Sequence

import polars as pl
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from . import io, samples
from .errors import UserError
from .leaderboard_render import _csp, load_template, script_json

TEMPLATE = Path(__file__).resolve().parent.parent / "leaderboards" / "templates" / "samples.html"
PAGE = "index.html"


def _fmt_score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}".rstrip("0").rstrip(".") if value not in (0.0, 1.0) else str(int(value))


def _scores(row: dict) -> str:
    return "  ".join(f"{s['metric']} {_fmt_score(s['value'])}" for s in row.get("scores") or []) or "—"


def _judge(row: dict) -> str | None:
    if row.get("judge_label") is None and not row.get("judge_error"):
        return None
    if row.get("judge_error"):
        return f"failed: {row['judge_error']}"
    return ("yes" if row["judge_label"] else "no") + (f": {row['judge_reply']}" if row.get("judge_reply") else "")


def _where(row: dict) -> str:
    parts = [f"{k} {row[k]}" for k in ("family", "variant", "ability") if row.get(k)]
    if row.get("length") is not None:
        parts.append(f"length {row['length']:,}")
    if row.get("depth") is not None:
        parts.append(f"depth {row['depth']:g}")
    if row.get("bin"):
        parts.append(f"bin {row['bin']}")
    return " · ".join(parts)


def _prompt(row: dict, context: str | None, chars: int | None) -> Text | None:
    if row.get("messages") is None:
        return None
    text = samples.prompt_text(samples.full_messages(row["messages"], context))
    how = row.get("format") or ""
    if chars is not None and len(text) > chars:
        return Text.assemble((f"…({len(text) - chars:,} of {len(text):,} characters before; --full-prompt for all) ", "dim"),
                             text[-chars:], (f"  [{how}]", "dim"))
    return Text.assemble(text, (f"  [{how}]", "dim"))


def print_samples(frame: pl.DataFrame, run_dir: Path, console: Console, prompt_chars: int | None) -> None:
    """One panel per sample: ids and place, question, prompt (its tail unless prompt_chars is None),
    output, gold, scores, judge verdict, error."""
    contexts = samples.read_contexts(run_dir, set(frame.get_column("context_id").drop_nulls().to_list()))
    for i, row in enumerate(frame.iter_rows(named=True), 1):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")

        def line(label: str, value: Any, style: str = "") -> None:
            if value is not None:
                grid.add_row(label, value if isinstance(value, Text) else Text(str(value), style=style))

        line("probe", row["probe_id"])
        line("episode", row["episode_id"])
        line("where", _where(row) or None)
        line("system", f"{row['system']} ({row['condition']})")
        line("question", row.get("question"))
        line("prompt", _prompt(row, contexts.get(row.get("context_id")), prompt_chars))
        line("output", row["output"] if row["output"] is not None else "")
        line("gold", json.dumps(row["gold"], ensure_ascii=False) if row.get("gold") is not None else None)
        line("score", f"{_fmt_score(row.get('score'))} ({row.get('metric') or 'primary metric'});  {_scores(row)}")
        line("judge", _judge(row))
        line("error", row.get("error"), "red")
        ok = row.get("error") is None and row.get("score") is not None and row["score"] >= 1
        title = Text(f"{i}/{frame.height}  {row['probe_id']}")
        console.print(Panel(grid, title=title, title_align="left", border_style="green" if ok else "red"))


def show(run_dir: Path, console: Console, err: Console, *, only_failed: bool, probe: list[str], limit: int | None,
         prompt_chars: int | None) -> None:
    frame = samples.load_samples(run_dir)
    for note in (samples.dataset_note(run_dir), samples.log_note(run_dir)):
        if note:
            err.print(f"note: {note}", highlight=False, markup=False)
    total, n_failed = frame.height, frame.filter(samples.failed()).height
    chosen = samples.select(frame, only_failed=only_failed, probe=probe, limit=limit)
    print_samples(chosen, run_dir, console, prompt_chars)
    err.print(f"{chosen.height} shown of {total} samples ({n_failed} failed: an error, no score or a score below 1)",
              highlight=False)


# --- the page ---------------------------------------------------------------------------------------

def _cut(text: str, chars: int | None) -> str:
    """Head and tail of a long text, saying how much of the middle is left out."""
    if chars is None or len(text) <= chars:
        return text
    head = chars // 2
    return (text[:head] + f"\n\n[… {len(text) - chars:,} characters left out: lbs view --prompt-chars 0 shows all …]\n\n"
            + text[len(text) - (chars - head):])


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))) else value


def page_data(runs: Sequence[Path], limit: int | None, prompt_chars: int | None) -> tuple[dict, list[str]]:
    """The page's JSON: runs, contexts (each once, cut to prompt_chars) and samples; and notes."""
    data: dict[str, Any] = {"runs": [], "contexts": {}, "samples": []}
    notes = []
    for r, run_dir in enumerate(runs):
        frame = samples.load_samples(run_dir)
        if limit is not None:
            frame = frame.head(limit)
        notes += [f"{run_dir}: {n}" for n in (samples.dataset_note(run_dir), samples.log_note(run_dir)) if n]
        manifest = io.read_json(Path(run_dir) / "run.json", "run manifest")
        system = manifest.get("system") or {}
        data["runs"].append({"path": str(run_dir), "system": system.get("label") or "", "spec": system.get("spec") or "",
                             "condition": manifest.get("condition") or "", "run_id": manifest.get("run_id") or ""})
        ids = set(frame.get_column("context_id").drop_nulls().to_list())
        for cid, text in samples.read_contexts(run_dir, ids - set(data["contexts"])).items():
            data["contexts"][cid] = _cut(text, prompt_chars)
        for row in frame.iter_rows(named=True):
            data["samples"].append({
                "run": r, "probe": row["probe_id"], "episode": row["episode_id"], "family": row.get("family"),
                "variant": row.get("variant"), "ability": row.get("ability"), "length": row.get("length"),
                "depth": _finite(row.get("depth")), "bin": row.get("bin"), "question": row.get("question"),
                "gold": row.get("gold"), "metric": row.get("metric"), "score": _finite(row.get("score")),
                "scores": [[s["metric"], _finite(s["value"])] for s in row.get("scores") or []],
                "output": row["output"], "error": row.get("error"), "judge": _judge(row), "format": row.get("format"),
                "context": row.get("context_id"),
                "messages": None if row.get("messages") is None else [[m["role"], m["content"]] for m in row["messages"]],
                "tokens": [row.get("prompt_tokens"), row.get("completion_tokens")], "latency": _finite(row.get("latency_s")),
            })
    return data, notes


def html_page(data: dict, title: str, notes: list[str], template: str) -> str:
    e = html.escape
    n = len(data["samples"])
    values = {
        "CSP": e(_csp(template)), "TITLE": e(title),
        "META": e(f"{n:,} samples from {len(data['runs'])} run(s)."),
        "NOTES": "".join(f'<p class="note">{e(note)}</p>' for note in notes),
        "DATA": script_json(data),
    }

    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise UserError(f"page template has an unknown placeholder @@{m.group(1)}@@")
        return values[m.group(1)]

    return re.sub(r"@@([A-Z]+)@@", fill, template)  # one pass: values are never scanned again


def write_view(runs: Sequence[Path], out: Path, *, limit: int | None, prompt_chars: int | None, overwrite: bool,
               title: str | None = None) -> tuple[Path, int, list[str]]:
    """DIR/index.html for the runs; returns (its path, samples on it, notes)."""
    if not runs:
        raise UserError("name at least one run directory")
    template = load_template(TEMPLATE)  # bad inputs fail before anything is written
    io.prepare_output_dir(Path(out), overwrite, marker=PAGE)
    data, notes = page_data(runs, limit, prompt_chars)
    page = html_page(data, title or "Samples: " + ", ".join(Path(r).name for r in runs), notes, template)
    with io.staged_dir(Path(out), overwrite, marker=PAGE) as stage:
        (stage / PAGE).write_text(page, encoding="utf-8")
    return Path(out) / PAGE, len(data["samples"]), notes
