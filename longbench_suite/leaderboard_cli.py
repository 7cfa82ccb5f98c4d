"""`lbs leaderboard build|diff`: publish runs as a leaderboard directory, and compare two of them.

    lbs leaderboard build RUN... -o leaderboards/NAME [--normalize none|chance|ref:SYSTEM] [--title T] [--overwrite]
    lbs leaderboard diff OLD NEW        (leaderboard directories or their leaderboard.parquet)

Registered in cli.py with `app.add_typer(leaderboard_cli.app, name="leaderboard")`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="Publish runs as a leaderboard (parquet, README.md, index.html, plots) and compare two.",
                  no_args_is_help=True)


def _consoles():
    from rich.console import Console

    # As cli.py: piped output (CI logs, files) gets a wide fixed width.
    return (Console(width=None if sys.stdout.isatty() else 140),
            Console(stderr=True, width=None if sys.stderr.isatty() else 140))


@app.command()
def build(
    runs: List[Path] = typer.Argument(..., help="Run directories (one dataset per family across them)."),
    output: Path = typer.Option(..., "--output", "-o", help="Leaderboard directory to create, e.g. leaderboards/NAME."),
    normalize: str = typer.Option("none", help="none; chance (alias random): (score - chance) / (1 - chance), chance being "
                                                "the probes' own chance level (no random run needed); "
                                                "ref:SYSTEM: divided by SYSTEM's score at its shortest length (M4LE)."),
    title: Optional[str] = typer.Option(None, help="Page and README title (default: longbench-suite leaderboard)."),
    template: Optional[Path] = typer.Option(None, help="Page template (default: leaderboards/templates/index.html)."),
    overwrite: bool = typer.Option(False, help="Replace an existing leaderboard directory."),
) -> None:
    """Build leaderboard.parquet (one row per system x condition), README.md, index.html and plots/, atomically."""
    from .leaderboard_render import publish

    _, err = _consoles()
    manifest = publish(runs, output, normalize, overwrite, title, template)
    if manifest["left_out_families"]:
        err.print(f"note: no score after --normalize {normalize} for: {', '.join(manifest['left_out_families'])}",
                  highlight=False, markup=False)
    err.print(f"wrote {output}: {manifest['rows']} rows from {len(manifest['runs'])} runs, families "
              f"{', '.join(manifest['families'])} (normalization {manifest['normalization']})", highlight=False, markup=False)
    for note in manifest.get("notes", []):  # failed probes, noise against baselines, position bias
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def rerender(
    board: Path = typer.Argument(..., help="A published leaderboard directory (its aggregates.parquet and leaderboard.json)."),
    dataset: List[str] = typer.Option([], "--dataset", "-d", help="FAMILY=PATH of each family's dataset (checked by content hash)."),
    normalize: str = typer.Option("chance", help="none, chance (alias random) or ref:SYSTEM."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write (default: in place, with --overwrite)."),
    overwrite: bool = typer.Option(False, help="Replace an existing leaderboard directory."),
) -> None:
    """Re-render a board from its stored aggregates with another normalisation, without its runs: chance
    levels come from its datasets (regenerate them with the same parameters and seed if needed)."""
    from .errors import UserError
    from .leaderboard_render import rerender as rerender_board

    _, err = _consoles()
    datasets = {}
    for item in dataset:
        family, sep, path = item.partition("=")
        if not sep or not family or not path:
            raise UserError(f"--dataset takes FAMILY=PATH, not {item!r}")
        datasets[family.strip()] = Path(path)
    manifest = rerender_board(board, datasets, normalize, output, overwrite)
    err.print(f"re-rendered {output or board}: {manifest['rows']} rows (normalization {manifest['normalization']})",
              highlight=False, markup=False)
    for note in manifest.get("notes", []):
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def diff(
    old: Path = typer.Argument(..., help="The earlier leaderboard directory (or its leaderboard.parquet)."),
    new: Path = typer.Argument(..., help="The later one."),
) -> None:
    """Rank and score changes between two leaderboards, per system x condition (exit 0 either way)."""
    from rich.markup import escape
    from rich.table import Table

    from . import leaderboard

    out, err = _consoles()
    (a, meta_a), (b, meta_b) = leaderboard.read(old), leaderboard.read(new)
    if meta_a.get("normalization") != meta_b.get("normalization"):
        err.print(f"note: the leaderboards are normalised differently ({meta_a.get('normalization')} vs "
                  f"{meta_b.get('normalization')}): score changes mix scales", highlight=False, markup=False)
    changes = leaderboard.diff(a, b)
    families = [c.removesuffix("/change") for c in changes.columns if c.endswith("/change") and c != "overall_change"]
    table = Table(title="Leaderboard changes (scores x100; rank change > 0: moved up)")
    for name in ("system", "condition", "rank", "change", "overall", "change"):
        table.add_column(name, justify="left" if name in ("system", "condition") else "right")
    for f in families:
        table.add_column(escape(f), justify="right", overflow="fold")
    for r in changes.iter_rows(named=True):
        table.add_row(
            escape(r["system"]), escape(r["condition"]),
            f"{_v(r['rank_old'])} -> {_v(r['rank_new'])}" if r["status"] == "same" else r["status"],
            _arrow(r["rank_change"], rank=True),
            f"{_pct(r['overall_old'])} -> {_pct(r['overall_new'])}",
            _arrow(r["overall_change"]),
            *[_family(r[f"{f}/old"], r[f"{f}/new"]) for f in families],
        )
    out.print(table)
    status = changes.get_column("status").to_list()
    moved = sum(1 for d in changes.get_column("rank_change").to_list() if d)
    out.print(f"rows that changed rank: {moved}; new: {status.count('new')}; gone: {status.count('gone')}", highlight=False)


def _v(x) -> str:
    return "—" if x is None else str(x)


def _pct(x) -> str:
    return "—" if x is None else f"{x * 100:.1f}"


def _arrow(delta, rank: bool = False) -> str:
    """Up is better for both: a rank change counts places gained, a score change points gained."""
    if delta is None:
        return ""
    text = f"{delta:+d}" if rank else f"{delta * 100:+.1f}"
    if (delta > 0) if rank else (delta > 5e-4):
        return f"[green]▲ {text}[/green]"
    if (delta < 0) if rank else (delta < -5e-4):
        return f"[red]▼ {text}[/red]"
    return "="


def _family(old, new) -> str:
    """A family's new score and its change, or old -> new when one side has none."""
    if old is None and new is None:
        return ""
    if old is None or new is None:
        return f"{_pct(old)} -> {_pct(new)}"
    return f"{_pct(new)} ({_arrow(new - old)})"
