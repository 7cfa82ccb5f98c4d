"""Leaderboard rendering: README.md (markdown), index.html (one self-contained page) and PNG plots.

Both tables come from the wide leaderboard table (the parquet's rows), through one list of columns
(`columns`). The page is leaderboards/templates/index.html with its @@NAME@@ placeholders filled in one
pass: text by html.escape, fragments built from escaped values, and the data as JSON in a
<script type="application/json"> block with <, > and & written as \\u003c, \\u003e, \\u0026, which the
page's script renders with textContent. Its Content-Security-Policy forbids anything from outside and
runs only the template's own script and style (by hash), so a name that slipped through could not run.
Plots: heatmap.heatmaps (each family's own rows x length: needle depth, SORT bin, LongMemEval's and
M4LE's abilities), score against context length per family, and SORT's accuracy by distance bin per
excerpt length.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from . import io, leaderboard
from .errors import UserError
from .leaderboard import OVERALL
from .heatmap import fmt_len, heatmaps, label as _label, save as _save
from .report import plot_values

TEMPLATE = Path(__file__).resolve().parent.parent / "leaderboards" / "templates" / "index.html"
PLOTS = "plots"


@dataclass(frozen=True)
class Column:
    key: str  # the table column ("<family>/<ability>" for a score group)
    label: str
    kind: str  # text, rank, score, int, compact (1.2M), seconds, percent (a share, shown x100 with %)
    family: str | None = None
    detail: bool = False  # shown when its family is chosen (abilities, the family's rank)
    scope: str = ""  # "all": shown only over all families (rank, overall)
    help: str = ""
    short: str = ""  # the label when its family is chosen (a family's score is then its "overall")


@dataclass(frozen=True)
class Plot:
    path: Path
    title: str
    family: str  # "" when it shows several


def columns(table: pl.DataFrame) -> list[Column]:
    """The displayed columns of a leaderboard table, in order."""
    out = [Column("rank", "Rank", "rank", scope="all", help="By overall score; ties share a rank"),
           Column("system", "System", "text"), Column("condition", "Condition", "text"),
           Column(OVERALL, "Overall", "score", scope="all", help="Mean of the family scores")]
    groups = [c.removesuffix("/mean") for c in table.columns if c.count("/") == 2 and c.endswith("/mean")]
    for group in groups:
        family, ability = group.split("/")
        if ability == OVERALL:
            out.append(Column(f"{family}/rank", f"{family} rank", "rank", family, detail=True))
            out.append(Column(group, family, "score", family, help=f"{family}: mean of each probe's own metric", short=OVERALL))
        else:
            out.append(Column(group, ability, "score", family, detail=True))
    out += [
        Column("probes", "Probes", "int"),
        Column("errors", "Errors", "int", help="Probes whose prediction failed: left out of the scores, not counted as 0"),
        Column("sort/a_share", "SORT A share", "percent", "sort",
               help="Share of valid SORT answers that pick A (always answering A scores chance)"),
        Column("sort/swap_consistency", "SORT A/B consistency", "percent", "sort",
               help="Of segment pairs asked in both orders, the share answered with the same segment both times"),
        Column("judge", "Judge", "text", help="LLM judge's model; \"not the official\": scores not comparable with the paper's"),
        Column("usage/tokens_per_probe", "Tokens/probe", "int", help="Prompt + completion tokens per probe"),
        Column("usage/cached_share", "Prefix-cache share", "percent",
               help="Prompt tokens the server's prefix cache served (vLLM's cached_tokens) / prompt tokens"),
        Column("latency/p50_s", "Latency p50 (s)", "seconds", help="Answered probes that were not cache hits"),
        Column("latency/p95_s", "Latency p95 (s)", "seconds"),
        Column("cost/ingest_s", "Ingest s/episode", "seconds", help="Seconds to reset and ingest one episode (timed by the runner)"),
        Column("cost/ingest_tokens", "Ingest tokens/episode", "compact",
               help="Tokens a memory read, wrote or trained on to remember one episode"),
        Column("cost/memory_bytes", "Memory bytes/episode", "compact", help="What the memory keeps per episode"),
        Column("cost/memory_items", "Memory items/episode", "compact", help="Facts, nodes, chunks... kept per episode"),
        Column("footprint/parameters", "Parameters", "compact"),
        Column("footprint/context_length", "Context", "int", help="Context length the system served (tokens)"),
        Column("footprint/kv_bytes_per_token", "KV bytes/token", "compact"),
        Column("footprint/state_bytes", "State bytes", "compact"),
        Column("footprint/index_items", "Index items", "compact", help="Largest per-episode retrieval index"),
        Column("footprint/index_bytes", "Index bytes", "compact"),
    ]
    # Footprint (and SORT bias) columns nobody reported would be a wall of dashes.
    return [c for c in out if not c.key.startswith(("footprint/", "cost/", "sort/a_share", "sort/swap", "judge", "usage/cached"))
            or (c.key in table.columns and table.get_column(c.key).null_count() < table.height)]


def cell(table_row: dict[str, Any], column: Column) -> Any:
    """A column's value in a row: [mean, ci_low, ci_high, n, n_errors, marks] for scores, marks being "!"
    (more failed probes than leaderboard.MAX_ERROR_SHARE) and "~" (within a baseline's CI); None when
    there is no score and nothing failed (a score whose every probe failed has a null mean)."""
    if column.kind == "score":
        mean = table_row.get(f"{column.key}/mean")
        n, errors = table_row.get(f"{column.key}/n"), table_row.get(f"{column.key}/n_errors") or 0
        if mean is None and not errors:
            return None
        marks = ("!" if leaderboard.error_share(n, errors) > leaderboard.MAX_ERROR_SHARE else "") + \
                ("~" if table_row.get(f"{column.key}/near_baseline") else "")
        return [mean, table_row.get(f"{column.key}/ci_low"), table_row.get(f"{column.key}/ci_high"), n, errors, marks]
    return table_row.get(column.key)


# --- markdown ---------------------------------------------------------------------------------------

def md(text: Any) -> str:
    """Data as inert markdown text: one line, HTML-escaped (GitHub renders inline HTML), markdown marks
    and table pipes backslash-escaped."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return re.sub(r"([\\`*_\[\]|~#!])", r"\\\1", text)


def fmt(column: Column, value: Any) -> str:
    if value is None:
        return "—"
    if column.kind == "score":
        mean, lo, hi, _, errors, marks = value
        text = "—" if mean is None else f"{mean * 100:.1f} [{lo * 100:.1f}, {hi * 100:.1f}]"
        return text + (f" ({errors} failed)" if errors else "") + (f" {marks}" if marks else "")
    if column.kind == "percent":
        return f"{value * 100:.0f}%"
    if column.kind in ("text", "rank"):
        return str(value)
    if column.kind == "seconds":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if column.kind == "compact":
        for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                return f"{value / size:.1f}{unit}"
        return str(value)
    return f"{round(value):,}"


def _md_table(cols: list[Column], rows: list[dict]) -> list[str]:
    head = "| " + " | ".join(md(c.label) for c in cols) + " |"
    rule = "| " + " | ".join("---" if c.kind == "text" else "---:" for c in cols) + " |"
    # Names are data (escaped); numbers are ours, left readable ("[12.5, 40.0]" is no link without "(...)").
    return [head, rule] + ["| " + " | ".join(md(fmt(c, cell(r, c))) if c.kind == "text" else fmt(c, cell(r, c))
                                             for c in cols) + " |" for r in rows]


def markdown(table: pl.DataFrame, manifest: dict, plots: Sequence[Plot], root: Path) -> str:
    """README.md: the main table (rank, overall, family scores, cost), one ability table per family that
    has abilities, the datasets and runs, and the plots."""
    cols = columns(table)
    rows = table.to_dicts()
    main = [c for c in cols if not c.detail]
    lines = [f"# {md(manifest['title'])}", "", md(manifest["normalization_note"]), "",
             *[f"- {md(note)}" for note in manifest.get("notes", [])], *([""] if manifest.get("notes") else []),
             f"Built {md(manifest['built_at'])} by longbench-suite {md(manifest['suite_version'])} from "
             f"{len(manifest['runs'])} runs; `index.html` is the sortable page, `leaderboard.parquet` the data "
             "(scores as fractions), `aggregates.parquet` every run's raw rows.", ""]
    if manifest.get("left_out_families"):
        lines += [f"Left out (no score after normalisation): {md(', '.join(manifest['left_out_families']))}.", ""]
    lines += ["## Scores (x100, 95% CI)", ""] + _md_table(main, rows) + [""]
    for family in manifest["families"]:
        detail = [c for c in cols if c.family == family and c.kind == "score"]
        if len(detail) < 2:
            continue
        mine = [r for r in rows if r.get(f"{family}/{OVERALL}/mean") is not None]
        mine.sort(key=lambda r: (r.get(f"{family}/rank") is None, r.get(f"{family}/rank") or 0))
        detail = [Column(c.key, c.short or c.label, c.kind, c.family) for c in detail]
        fam_cols = [Column(f"{family}/rank", "Rank", "rank"), cols[1], cols[2]] + detail
        lines += [f"## {md(family)} by ability (x100, 95% CI)", ""] + _md_table(fam_cols, mine) + [""]
    lines += ["## Datasets", "", "| Family | Dataset hash | Variants | Tokenizer | Runs |", "| --- | --- | --- | --- | ---: |"]
    for family, d in manifest["families"].items():
        lines.append(f"| {md(family)} | {md(d.get('dataset'))} | {md(', '.join(map(str, d.get('variants') or [])))} | "
                     f"{md(d.get('tokenizer') or '')} | {d.get('runs')} |")
    lines += ["", "## Runs", "", "| Run | System | Condition | Family | Spec |", "| --- | --- | --- | --- | --- |"]
    for r in manifest["runs"]:
        lines.append(f"| {md(r['run'])} | {md(r['system'])} | {md(r['condition'])} | {md(r['family'])} | {md(r.get('spec') or '')} |")
    if plots:
        lines += ["", "## Plots", ""]
        for p in plots:
            rel = p.path.relative_to(root).as_posix()
            lines += [f"![{md(p.title)}]({rel})", ""]
    return "\n".join(lines).rstrip() + "\n"


# --- html -------------------------------------------------------------------------------------------

def script_json(obj: Any) -> str:
    """JSON that cannot end or open markup inside a <script> block."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def load_template(path: Path | None = None) -> str:
    path = Path(path) if path else TEMPLATE
    if not path.is_file():
        raise UserError(f"page template not found: {path} (it ships in the source tree under leaderboards/templates)")
    text = path.read_text(encoding="utf-8")
    if len(_inline(text, "script")) != 1 or len(_inline(text, "style")) != 1:
        raise UserError(f"page template {path} must hold exactly one inline <script> and one <style>")
    return text


def _inline(page: str, tag: str) -> list[str]:
    """Bodies of the page's executable <script> (no type attribute) or <style> elements."""
    return re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)


def _csp(template: str) -> str:
    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"

    return (f"default-src 'none'; img-src data:; style-src {digest(_inline(template, 'style')[0])}; "
            f"script-src {digest(_inline(template, 'script')[0])}; base-uri 'none'; form-action 'none'")


def html_page(table: pl.DataFrame, manifest: dict, plots: Sequence[Plot], template: str) -> str:
    cols = columns(table)
    data = {
        "columns": [{"key": c.key, "label": c.label, "short": c.short or c.label, "kind": c.kind, "family": c.family,
                     "detail": c.detail, "scope": c.scope, "help": c.help} for c in cols],
        "rows": [[_finite(cell(r, c)) for c in cols] for r in table.to_dicts()],
        "families": list(manifest["families"]),
    }
    e = html.escape
    meta = (f"Built {e(manifest['built_at'])} by longbench-suite {e(manifest['suite_version'])} from "
            f"{len(manifest['runs'])} runs ({e(str(manifest['rows']))} rows).")
    values = {
        "CSP": e(_csp(template)), "TITLE": e(manifest["title"]), "NORMALIZATION": e(manifest["normalization_note"]),
        "META": meta, "SECTIONS": _sections(manifest, plots), "DATA": script_json(data),
        "NOTES": "".join(f'<li>{e(n)}</li>' for n in manifest.get("notes", [])),
    }

    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise UserError(f"page template has an unknown placeholder @@{m.group(1)}@@")
        return values[m.group(1)]

    return re.sub(r"@@([A-Z]+)@@", fill, template)  # one pass: values are never scanned again


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _sections(manifest: dict, plots: Sequence[Plot]) -> str:
    e = html.escape
    out = ["<h2>Datasets</h2>", '<div class="scroll"><table><thead><tr><th>Family</th><th>Dataset hash</th>'
           "<th>Variants</th><th>Tokenizer</th><th>Runs</th></tr></thead><tbody>"]
    for family, d in manifest["families"].items():
        out.append(f"<tr><td>{e(family)}</td><td><code>{e(str(d.get('dataset')))}</code></td>"
                   f"<td>{e(', '.join(map(str, d.get('variants') or [])))}</td><td>{e(str(d.get('tokenizer') or ''))}</td>"
                   f'<td class="num">{int(d.get("runs") or 0)}</td></tr>')
    out.append("</tbody></table></div>")
    out.append('<h2>Runs</h2><div class="scroll"><table><thead><tr><th>Run</th><th>System</th><th>Condition</th>'
               "<th>Family</th><th>Spec</th><th>Run id</th></tr></thead><tbody>")
    for r in manifest["runs"]:
        out.append("<tr>" + "".join(f"<td>{e(str(r.get(k) or ''))}</td>" for k in ("run", "system", "condition", "family"))
                   + f"<td><code>{e(str(r.get('spec') or ''))}</code></td><td>{e(str(r.get('run_id') or ''))}</td></tr>")
    out.append("</tbody></table></div>")
    if plots:
        out.append('<h2>Plots</h2><div class="plots">')
        for p in plots:
            png = base64.b64encode(p.path.read_bytes()).decode("ascii")
            out.append(f'<figure data-family="{e(p.family)}"><img alt="{e(p.title)}" src="data:image/png;base64,{png}">'
                       f"<figcaption>{e(p.title)}</figcaption></figure>")
        out.append("</div>")
    return "\n".join(out)


# --- plots ------------------------------------------------------------------------------------------

def make_plots(agg: pl.DataFrame, out: Path, y_label: str) -> list[Plot]:
    """All plots of a leaderboard into `out`, from its (normalised) long aggregates."""
    if agg.is_empty():
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    for family in sorted(agg.get_column("family").unique().to_list()):
        curves = leaderboard.by_length(agg.filter(pl.col("family") == family))
        if not curves.is_empty():
            plots.append(_length_plot(plt, curves, family, out, y_label))
    if "sort" in agg.get_column("family").to_list():
        bins = leaderboard.by_bin(agg, "sort")
        if not bins.is_empty():
            plots.append(_bin_plot(plt, bins, out, y_label))
    # One heatmap per system x condition x family, on the family's own rows (heatmap.FAMILY_AXES).
    plots += [Plot(h.path, h.caption, h.family) for h in heatmaps(agg, out, scale=y_label)]
    return plots


def _series(frame: pl.DataFrame):
    """(label, rows) per system x condition, in a stable order."""
    for (system, condition), part in frame.group_by(["system", "condition"], maintain_order=True):
        yield _label(f"{system} ({condition})"), part


def _colors(plt, n: int):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _length_plot(plt, curves: pl.DataFrame, family: str, out: Path, y_label: str) -> Plot:
    lengths = sorted(curves.get_column("length").unique().to_list())
    where = {n: i for i, n in enumerate(lengths)}  # evenly spaced: lengths are usually doublings
    series = list(_series(curves.sort(["system", "condition", "length"])))
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for (label, part), color in zip(series, _colors(plt, len(series))):
        x = [where[n] for n in part.get_column("length").to_list()]
        y = [v * 100 for v in part.get_column("mean").to_list()]
        lo = [v * 100 for v in part.get_column("ci_low").to_list()]
        hi = [v * 100 for v in part.get_column("ci_high").to_list()]
        ax.plot(x, y, marker="o", label=label, color=color)
        ax.fill_between(x, lo, hi, color=color, alpha=0.12, linewidth=0)
    ax.set_xticks(range(len(lengths)), [fmt_len(n) for n in lengths])
    ax.set_xlabel("context length")
    ax.set_ylabel(y_label)
    ax.set_title(_label(f"{family}: score by context length"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return Plot(_save(plt, fig, out, f"length-{family}"), f"{family}: score by context length (95% CI bands)", family)


def _bin_plot(plt, bins: pl.DataFrame, out: Path, y_label: str) -> Plot:
    lengths = sorted(n for n in bins.get_column("length").unique().to_list() if n is not None)
    panels = [None] + lengths  # all lengths pooled, then each excerpt length
    labels = sorted(bins.get_column("bin").unique().to_list(), key=lambda b: (len(b), b))
    where = {b: i for i, b in enumerate(labels)}
    series = list(_series(bins.sort(["system", "condition"])))
    colors = _colors(plt, len(series))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 + 2.6 * len(panels), 3.6), sharey=True, squeeze=False)
    for ax, length in zip(axes[0], panels):
        for (label, part), color in zip(series, colors):
            part = part.filter(pl.col("length").is_null() if length is None else pl.col("length") == length).sort("bin")
            if part.is_empty():
                continue
            x = [where[b] for b in part.get_column("bin").to_list()]
            y = [v * 100 for v in part.get_column("mean").to_list()]
            err = [[(m - lo) * 100 for m, lo in zip(part.get_column("mean"), part.get_column("ci_low"))],
                   [(hi - m) * 100 for m, hi in zip(part.get_column("mean"), part.get_column("ci_high"))]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=2, label=label, color=color, linewidth=1)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("distance bin (1 = nearest)")
        ax.set_title("all lengths" if length is None else f"excerpt {fmt_len(length)}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(y_label)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle("SORT: accuracy by distance bin", fontsize=10)
    return Plot(_save(plt, fig, out, "sort-bins"), "SORT: accuracy by distance bin, per excerpt length (95% CI)", "sort")


# --- the directory ----------------------------------------------------------------------------------

def y_label(normalization: str) -> str:
    if leaderboard.canonical(normalization) == leaderboard.CHANCE:
        return "score normalised by chance (x100; 0 = chance)"
    if normalization.startswith("ref:"):
        return f"score / {normalization[4:]} at its shortest (x100)"
    return "score (x100)"


def publish(runs: Sequence[Path], out: Path, normalization: str = "none", overwrite: bool = False,
            title: str | None = None, template: Path | None = None) -> dict:
    """Build a leaderboard directory atomically: leaderboard.parquet, aggregates.parquet, leaderboard.json,
    README.md, index.html and plots/. Returns the manifest."""
    page = load_template(template)  # bad inputs fail before anything is written
    io.prepare_output_dir(Path(out), overwrite, marker=leaderboard.TABLE)
    table, raw, normalized, manifest = leaderboard.build(runs, normalization, title or "longbench-suite leaderboard")
    _write(Path(out), overwrite, table, raw, normalized, manifest, page)
    return manifest


def rerender(board: Path, datasets: dict[str, Path], normalization: str, out: Path | None = None,
             overwrite: bool = False, template: Path | None = None) -> dict:
    """A published board re-rendered from what it stores with another normalisation (leaderboard.rebuild),
    into `out` (default: in place, which needs overwrite). Returns the new manifest."""
    page = load_template(template)
    out = Path(out or board)
    io.prepare_output_dir(out, overwrite, marker=leaderboard.TABLE)
    table, raw, normalized, manifest = leaderboard.rebuild(Path(board), datasets, normalization)
    _write(out, overwrite, table, raw, normalized, manifest, page)
    return manifest


def _write(out: Path, overwrite: bool, table: pl.DataFrame, raw: pl.DataFrame, normalized: pl.DataFrame,
           manifest: dict, page: str) -> None:
    normalization = manifest["normalization"]
    with io.staged_dir(Path(out), overwrite, marker=leaderboard.TABLE) as stage:
        io.write_parquet(table.to_arrow(), stage / leaderboard.TABLE)
        io.write_parquet(raw.to_arrow(), stage / leaderboard.LONG)
        plots = make_plots(plot_values(normalized), stage / PLOTS, y_label(normalization))  # failed cells: blank
        io.write_json(manifest, stage / leaderboard.MANIFEST)
        (stage / "README.md").write_text(markdown(table, manifest, plots, stage), encoding="utf-8")
        (stage / "index.html").write_text(html_page(table, manifest, plots, page), encoding="utf-8")
