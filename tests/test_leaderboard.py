"""Leaderboards: the table from real runs (oracle, random, constant baselines on needle and SORT), its
parquet and markdown, normalisations, diff, bad input, and the page in a real headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lbs_testutil import make_needle
from longbench_suite import leaderboard
from longbench_suite.errors import UserError
from longbench_suite.generate import generate_dataset
from longbench_suite.leaderboard_render import publish
from runners.local import RunConfig, run

XSS = "<script>window.pwned=1</script>"
BREAKOUT = "</script><img src=x onerror=window.pwned=2>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """needle and SORT runs of oracle, random and two hostile constants; one constant on SORT only."""
    root = tmp_path_factory.mktemp("lb")
    data = {
        "needle": make_needle(root / "d" / "needle", ["single_1"], ["lengths=256,512", "depths=0,100", "samples=2", "max_new_tokens=16"]),
        "sort": root / "d" / "sort",
    }
    generate_dataset("sort", data["sort"], ["ls20"], ["lengths=250,1000", "books=1", "book_words=3000", "excerpts=2", "heldout=0"],
                     seed=0, tokenizer="approx")
    plan = {"oracle": "oracle", "random": "random", "xss": f"constant,text={XSS}"}
    out = {}
    for family, ds in data.items():
        for name, spec in plan.items():
            out[f"{family}/{name}"] = _run(ds, spec, root / "runs" / family / name)
    out["sort/breakout"] = _run(data["sort"], f"constant,text={BREAKOUT}", root / "runs" / "sort" / "breakout")
    return out


def _run(dataset: Path, spec: str, out: Path) -> Path:
    run(RunConfig(dataset=dataset, system=spec, out=out, use_cache=False))
    return out


@pytest.fixture(scope="module")
def board(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("boards") / "main"
    publish(list(runs.values()), out)
    return out


def _agg(run_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "aggregates.parquet")


def _overall(run_dir: Path) -> dict:
    """The run's own headline row (all variants, lengths, depths, bins, abilities)."""
    agg = _agg(run_dir).filter(pl.col("primary") & pl.all_horizontal(
        [pl.col(c).is_null() for c in ("variant", "ability", "length", "depth", "bin")]))
    assert agg.height == 1
    return agg.row(0, named=True)


def test_table_round_trips_and_matches_the_runs(runs, board):
    table = pl.read_parquet(board / "leaderboard.parquet")
    built, *_ = leaderboard.build(list(runs.values()))
    assert_frame_equal(table, built)  # what was written is what was built, types included
    assert table.select("system", "condition").is_unique().all()
    assert sorted(table.get_column("system")) == sorted(["oracle", "random", f"constant:{XSS}", f"constant:{BREAKOUT}"])
    rows = {r["system"]: r for r in table.iter_rows(named=True)}
    for family in ("needle", "sort"):
        for name, label in (("oracle", "oracle"), ("random", "random"), ("xss", f"constant:{XSS}")):
            own = _overall(runs[f"{family}/{name}"])
            row = rows[label]
            assert row[f"{family}/overall/mean"] == pytest.approx(own["mean"])
            assert (row[f"{family}/overall/ci_low"], row[f"{family}/overall/ci_high"]) == pytest.approx((own["ci_low"], own["ci_high"]))
            assert row[f"{family}/overall/n"] == own["n"]
    assert rows["oracle"]["rank"] == 1 and rows["oracle"]["overall/mean"] == 1.0
    # Overall: the mean of the two family headlines; the SORT-only row has none, so no rank.
    r = rows["random"]
    assert r["overall/mean"] == pytest.approx((r["needle/overall/mean"] + r["sort/overall/mean"]) / 2)
    assert rows[f"constant:{BREAKOUT}"]["rank"] is None and rows[f"constant:{BREAKOUT}"]["families"] == 1
    assert rows[f"constant:{XSS}"]["sort/overall/mean"] == 0  # never a valid answer
    assert rows["oracle"]["probes"] == sum(pl.read_parquet(runs[f"{f}/oracle"] / "predictions.parquet").height for f in ("needle", "sort"))
    manifest = json.loads((board / "leaderboard.json").read_text())
    for family in ("needle", "sort"):
        dataset = json.loads((runs[f"{family}/oracle"] / "run.json").read_text())["dataset"]
        assert manifest["families"][family]["dataset"] == dataset["content_hash"]
        assert f"{family}={dataset['content_hash']}" in rows["oracle"]["datasets"]
    assert str(board.parent) not in (board / "leaderboard.json").read_text()  # no local paths in what is published
    long = leaderboard.to_long(table)
    assert long.filter((pl.col("system") == "oracle") & (pl.col("family") == "sort")).get_column("mean").to_list() == [1.0]


def test_plots_are_written(board):
    names = {p.name for p in (board / "plots").glob("*.png")}
    assert {"length-needle.png", "length-sort.png", "sort-bins.png", "heatmap-needle-oracle-in-context.png"} <= names
    for name in names:
        assert (board / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (board / "README.md").read_text()
    assert "](plots/sort-bins.png)" in readme


def _md_tables(text: str) -> list[list[list[str]]]:
    """Markdown tables as rows of unescaped cells (a cell may hold an escaped pipe)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [html.unescape(re.sub(r"\\(.)", r"\1", c.strip())) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_markdown_table_matches_the_parquet(board):
    table = pl.read_parquet(board / "leaderboard.parquet")
    readme = (board / "README.md").read_text()
    head, rule, *body = _md_tables(readme)[0]
    assert head[:4] == ["Rank", "System", "Condition", "Overall"] and "needle" in head and "sort" in head
    assert len(body) == table.height
    for cells, row in zip(body, table.iter_rows(named=True)):  # same rows, same order
        got = dict(zip(head, cells))
        assert got["System"] == row["system"] and got["Condition"] == row["condition"]
        assert got["Rank"] == ("—" if row["rank"] is None else str(row["rank"]))
        for col, key in (("Overall", "overall"), ("needle", "needle/overall"), ("sort", "sort/overall")):
            if row[f"{key}/mean"] is None:
                assert got[col] == "—"
                continue
            m = re.fullmatch(r"(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\]( \(\d+ failed\))?( !?~?)?", got[col])
            assert m, got[col]
            shown = [float(x) for x in m.groups()[:3]]
            assert shown == pytest.approx([row[f"{key}/{s}"] * 100 for s in ("mean", "ci_low", "ci_high")], abs=0.051)
        assert int(got["Probes"]) == row["probes"]
    # Hostile names are inert text in the markdown source: no raw tag survives.
    assert "<script>" not in readme and "<img" not in readme
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in readme


def test_normalisations(runs, tmp_path):
    inputs = [runs[k] for k in ("needle/oracle", "needle/random", "needle/xss", "sort/oracle", "sort/random", "sort/xss")]
    raw, *_ = leaderboard.build(inputs, "none")
    by_random = tmp_path / "random"
    publish(inputs, by_random, "random")  # issue 20: `random` is an alias of chance, the probes' own chance level
    table = pl.read_parquet(by_random / "leaderboard.parquet")
    rows = {r["system"]: r for r in table.iter_rows(named=True)}
    raw_rows = {r["system"]: r for r in raw.iter_rows(named=True)}
    for family in ("needle", "sort"):  # the random run keeps its own observed score, normalised like any row
        chance = pl.read_parquet(runs[f"{family}/random"] / "aggregates.parquet").filter(
            pl.col("primary") & pl.all_horizontal([pl.col(c).is_null() for c in ("variant", "ability", "length", "depth", "bin")])
        ).get_column("chance")[0]
        expected = (raw_rows["random"][f"{family}/overall/mean"] - chance) / (1 - chance)
        assert rows["random"][f"{family}/overall/mean"] == pytest.approx(expected)
    assert rows["oracle"]["needle/overall/mean"] == 1 and rows["oracle"]["overall/mean"] == 1
    assert set(table.get_column("normalization")) == {"chance"}
    # Below chance is below zero: the constant never gives a valid SORT answer, so it is always wrong: -1.
    assert rows[f"constant:{XSS}"]["sort/overall/mean"] == pytest.approx(-1.0)
    for page in ("README.md", "index.html"):
        assert "normalised by chance" in (by_random / page).read_text()
    # M4LE's: divided by the oracle's score at its shortest length (1.0), so the headlines stay as they were.
    by_ref, *_ = leaderboard.build(inputs, "ref:oracle")
    assert_frame_equal(by_ref.select("system", "needle/overall/mean"), raw.select("system", "needle/overall/mean"))
    assert set(by_ref.get_column("normalization")) == {"ref:oracle"}


def test_diff_shows_rank_changes(runs, board, tmp_path):
    from typer.testing import CliRunner

    from longbench_suite.leaderboard_cli import app

    without_oracle = [p for k, p in runs.items() if not k.endswith("/oracle")]
    publish(without_oracle, tmp_path / "new")
    old, new = pl.read_parquet(board / "leaderboard.parquet"), pl.read_parquet(tmp_path / "new" / "leaderboard.parquet")
    changes = leaderboard.diff(old, new)
    rows = {r["system"]: r for r in changes.iter_rows(named=True)}
    assert rows["oracle"]["status"] == "gone" and rows["oracle"]["rank_new"] is None
    for system in ("random", f"constant:{XSS}"):  # both move up one place when the oracle leaves
        r = rows[system]
        assert r["status"] == "same" and r["rank_change"] == 1 and r["rank_old"] - 1 == r["rank_new"]
    res = CliRunner().invoke(app, ["diff", str(board), str(tmp_path / "new")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "gone" in res.output and "▲ +1" in res.output
    assert re.search(r"random\s.*\s3 -> 2\s|random\s.*\s2 -> 1\s", res.output), res.output


def test_bad_input(runs, board, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    cases = [
        ([tmp_path / "missing"], "none", "run directory not found"),
        ([runs["needle/oracle"]], "sometimes", "--normalize must be"),
        ([runs["needle/oracle"]], "ref:nobody", "no system 'nobody'"),
        ([runs["needle/oracle"], runs["needle/oracle"]], "none", "both score oracle"),
        ([], "none", "at least one run"),
    ]
    for inputs, normalization, message in cases:
        with pytest.raises(UserError, match=re.escape(message)):
            publish(inputs, tmp_path / "out", normalization)
    # Another dataset of a family already in the board: systems would be ranked on different items.
    other = make_needle(tmp_path / "other-data", ["single_1"], ["lengths=256", "depths=0", "samples=1", "max_new_tokens=16"], seed=3)
    other_run = _run(other, "oracle", tmp_path / "other-run" / "oracle2")
    with pytest.raises(UserError, match="different datasets"):
        publish([runs["needle/random"], other_run], tmp_path / "out")
    # A run cut short is not published: interrupted, aborted, or partial with probes missing (--limit).
    # (A partial run whose failed probes have their rows is: its failures are counted and marked.)
    partial = tmp_path / "partial"
    shutil.copytree(runs["needle/random"], partial)
    manifest = json.loads((partial / "run.json").read_text())
    short = {**manifest["counts"], "predictions": manifest["counts"]["probes"] - 1}
    for status, counts in (("interrupted", manifest["counts"]), ("aborted", short), ("partial", short)):
        (partial / "run.json").write_text(json.dumps({**manifest, "status": status, "counts": counts}))
        with pytest.raises(UserError, match=f"is {status} .*lbs run --resume"):
            publish([partial], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["other-data", "other-run", "partial"])  # no stage left
    # An existing leaderboard is replaced only with overwrite, and then whole.
    stamp = (board / "leaderboard.json").read_text()
    with pytest.raises(UserError, match="--overwrite"):
        publish([runs["needle/oracle"]], board)
    assert (board / "leaderboard.json").read_text() == stamp
    copy = tmp_path / "copy"
    shutil.copytree(board, copy)
    publish([runs["needle/oracle"]], copy, overwrite=True)
    assert pl.read_parquet(copy / "leaderboard.parquet").height == 1
    assert not (copy / "plots" / "sort-bins.png").exists()


def test_cli_build_and_errors(runs, tmp_path, capsys):
    from longbench_suite import cli, leaderboard_cli

    if not any(g.name == "leaderboard" for g in cli.app.registered_groups):  # until cli.py registers it
        cli.app.add_typer(leaderboard_cli.app, name="leaderboard")

    def lbs(*args) -> int:
        try:
            cli.main([str(a) for a in args])
        except SystemExit as e:
            return int(e.code or 0)
        return 0

    assert lbs("leaderboard", "build", runs["needle/oracle"], runs["needle/random"], "-o", tmp_path / "b", "--normalize", "random") == 0
    assert "wrote" in capsys.readouterr().err
    assert (tmp_path / "b" / "index.html").is_file()
    assert lbs("leaderboard", "build", tmp_path / "nope", "-o", tmp_path / "c") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: run directory not found")
    assert not (tmp_path / "c").exists()


# --- the page, in a real browser --------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"the leaderboard page test needs Debian's chromium and chromium-driver ({', '.join(missing)} missing): "
                    "run bash scripts/install_chromium.sh")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the leaderboard page test needs selenium: pip install -e '.[dev]'")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def _open(browser, board: Path) -> None:
    browser.get((board / "index.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"


def _grid(browser) -> tuple[list[str], list[list[str]]]:
    """Visible header keys and rows (each cell's first text: the score without its CI)."""
    return browser.execute_script("""
        var keys = Array.from(document.querySelectorAll('#board thead th')).map(function (th) { return th.dataset.key; });
        var rows = Array.from(document.querySelectorAll('#board tbody tr')).map(function (tr) {
            return Array.from(tr.cells).map(function (td) { return td.firstChild ? td.firstChild.textContent : ''; });
        });
        return [keys, rows];""")


def _column(browser, key: str) -> list[str]:
    keys, rows = _grid(browser)
    return [r[keys.index(key)] for r in rows]


def _numbers(cells: list[str]) -> list[float]:
    return [float(c.split()[0]) for c in cells if c != "—"]  # "12.5 ~": a score and its marks


def test_page_renders_and_sorts(browser, board):
    from selenium.webdriver.common.by import By

    table = pl.read_parquet(board / "leaderboard.parquet")
    _open(browser, board)
    keys, rows = _grid(browser)
    assert keys[:4] == ["rank", "system", "condition", "overall"]
    assert "needle/overall" in keys and "sort/overall" in keys
    assert [r[1] for r in rows] == table.get_column("system").to_list()  # rank order, as the parquet
    assert browser.find_element(By.ID, "count").text == f"{table.height} of {table.height} rows"

    def click(key: str) -> None:
        browser.find_element(By.CSS_SELECTOR, f'th[data-key="{key}"] button').click()

    click("needle/overall")  # best first
    needle = _numbers(_column(browser, "needle/overall"))
    assert needle == sorted(needle, reverse=True) and needle[0] == 100.0 and len(set(needle)) > 1
    assert browser.find_element(By.CSS_SELECTOR, 'th[data-key="needle/overall"]').get_attribute("aria-sort") == "descending"
    click("needle/overall")  # reversed; the row without a needle score stays last
    cells = _column(browser, "needle/overall")
    assert _numbers(cells) == sorted(needle) and cells[-1] == "—"
    click("rank")
    assert _column(browser, "system") == table.get_column("system").to_list()
    # No resource came from anywhere: plots are data: URIs, everything else is inline.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.querySelectorAll('img').length") == len(list((board / "plots").glob("*.png")))


def test_page_filters_by_family(browser, board):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    table = pl.read_parquet(board / "leaderboard.parquet")
    _open(browser, board)
    Select(browser.find_element(By.ID, "family")).select_by_value("needle")
    keys, rows = _grid(browser)
    assert "needle/overall" in keys and "needle/rank" in keys
    assert not [k for k in keys if k.startswith("sort/")] and "overall" not in keys
    with_needle = table.filter(pl.col("needle/overall/mean").is_not_null())
    assert sorted(_column(browser, "system")) == sorted(with_needle.get_column("system").to_list())
    assert len(rows) == with_needle.height < table.height  # the SORT-only row is gone
    assert browser.find_element(By.CSS_SELECTOR, 'th[data-key="needle/overall"]').text.startswith("overall")
    hidden = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure')).filter(function (f) { return f.hidden; })"
        ".map(function (f) { return f.dataset.family; })")
    assert hidden and set(hidden) == {"sort"}
    Select(browser.find_element(By.ID, "family")).select_by_value("")
    assert len(_grid(browser)[1]) == table.height


def test_page_shows_hostile_names_as_text(browser, board):
    page = (board / "index.html").read_text()
    assert "window.pwned=1</script>" not in page and "<img src=x" not in page
    _open(browser, board)
    assert browser.execute_script("return typeof window.pwned") == "undefined"
    systems = _column(browser, "system")
    assert f"constant:{XSS}" in systems and f"constant:{BREAKOUT}" in systems  # visible, verbatim
    # The markup never became elements: only the data block and the page's script, only plot images.
    assert browser.execute_script("return document.scripts.length") == 2
    assert browser.execute_script(
        "return Array.from(document.images).every(function (i) { return i.src.indexOf('data:image/png;base64,') === 0; })")
    logs = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not logs, logs  # no script blocked by the page's policy, no errors
