"""`lbs view`: the sample browser page in a real headless Chromium (the leaderboard test's browser):
it loads with nothing from outside, filters, finds a failed sample, and shows a prompt holding
`<script>` and quotes as text without running it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from lbs_testutil import lbs, make_needle, one_line_error
from test_leaderboard import browser  # noqa: F401 - the module's Chromium fixture
from runners.local import RunConfig, run

XSS = "<script>window.pwned=1</script>"
QUOTES = "He said \"don't\" & left </pre><img src=x onerror=window.pwned=2>."
OUTPUT = "</script><script>window.pwned=3</script>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """needle runs on a haystack whose sentences carry markup and quotes: the oracle (every sample
    passes) and a constant whose answer is markup (every sample fails)."""
    root = tmp_path_factory.mktemp("view")
    text = root / "hostile.txt"
    plain = "The lantern keeper walked along the quiet harbour wall every evening before supper. "
    text.write_text((plain * 3 + f"Someone wrote {XSS} on the wall. {QUOTES} ") * 40, encoding="utf-8")
    data = make_needle(root / "data", ["single_2"], ["lengths=256,512", "depths=0,100", "samples=2", "max_new_tokens=16",
                                                    f"haystack={text}"])
    out = {}
    for name, spec in (("oracle", "oracle"), ("bad", f"constant,text={OUTPUT}")):
        out[name] = root / "runs" / name
        run(RunConfig(dataset=data, system=spec, out=out[name], use_cache=False))
    return out


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "samples"
    res = lbs("view", runs["oracle"], runs["bad"], "-o", out, "--prompt-chars", "0")
    assert res.returncode == 0, res.stderr
    assert "(16 samples)" in res.stderr
    return out / "index.html"


def _open(browser, page: Path) -> None:  # noqa: F811
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"


def _rows(browser) -> list[list[str]]:  # noqa: F811
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#samples tbody tr')).map(function (tr) {"
        " return Array.from(tr.cells).map(function (td) { return td.textContent; }); });")


def test_page_is_escaped_and_self_contained(page):
    text = page.read_text(encoding="utf-8")
    for raw in (XSS, "<img src=x", OUTPUT):
        assert raw not in text
    assert text.count("<script") == 2  # the data block and the page's own script


def test_filters_find_a_failed_sample_and_show_its_prompt_as_text(browser, page, runs, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _open(browser, page)
    assert browser.find_element(By.ID, "count").text == "16 of 16 samples"
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    Select(browser.find_element(By.ID, "outcome")).select_by_value("failed")
    rows = _rows(browser)
    assert len(rows) == 8 and all(r[2] == "0" for r in rows)  # the constant's samples, each scored 0
    Select(browser.find_element(By.ID, "length")).select_by_value("512")
    rows = _rows(browser)
    assert len(rows) == 4 and browser.find_element(By.ID, "count").text == "4 of 16 samples"
    browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr")[1].click()
    probe = rows[1][0]
    prompt = browser.find_element(By.ID, "prompt").text
    assert XSS in prompt and QUOTES in prompt  # verbatim, as text
    assert browser.find_element(By.ID, "output").text == OUTPUT
    dataset = Path(json.loads((runs["bad"] / "run.json").read_text())["dataset"]["path"])
    gold = pl.read_parquet(dataset / "probes.parquet").filter(pl.col("probe_id") == probe).get_column("gold")[0].to_list()
    assert browser.find_element(By.ID, "gold").text == "\n".join(gold)
    assert browser.find_element(By.ID, "score").text.startswith("0 string_match_all")
    assert browser.find_element(By.ID, "judge").text.startswith("—")
    assert browser.execute_script("return typeof window.pwned") == "undefined"
    assert browser.execute_script("return document.scripts.length") == 2 and not browser.find_elements(By.TAG_NAME, "img")
    logs = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not logs, logs
    shot = Path(os.environ.get("LBS_SAMPLES_SCREENSHOT") or tmp_path / "samples-page.png")  # to look at it by hand
    assert browser.save_screenshot(str(shot))
    Select(browser.find_element(By.ID, "outcome")).select_by_value("passed")
    Select(browser.find_element(By.ID, "length")).select_by_value("")
    assert len(_rows(browser)) == 8 and all(r[2] == "1" for r in _rows(browser))


def test_bad_input(runs, tmp_path):
    assert "run manifest not found" in one_line_error(lbs("view", tmp_path / "missing", "-o", tmp_path / "p"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert "not empty" in one_line_error(lbs("view", runs["oracle"], "-o", tmp_path / "taken"))
    assert not (tmp_path / "p").exists()
    shutil.rmtree(tmp_path / "taken")
