"""Secrets stay in the environment (issue 10): with every credential variable set to a recognisable
value, a whole generate -> run (+ judge) -> score -> report -> leaderboard -> gate cycle against the
real embedded server writes that value into no file and no log; specs with inline keys are refused
without echoing them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbs_testutil import lbs, make_needle, one_line_error

LEAK = "sk-LEAKCHECK-1234567890abcdef"
CREDENTIALS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LBS_JUDGE_KEY")


def leaks(path: Path) -> bool:
    """Whether a file holds LEAK: its raw bytes, and for parquet (compressed pages) every value and the
    schema metadata as well."""
    if LEAK.encode() in path.read_bytes():
        return True
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        meta = b"".join(k + v for k, v in (table.schema.metadata or {}).items())
        return LEAK.encode() in meta or LEAK in json.dumps(table.to_pylist(), default=str)
    return False


@pytest.mark.server
def test_no_secret_in_any_output_or_log(embedded_server, tmp_path):
    env = {var: LEAK for var in CREDENTIALS} | {"LBS_CACHE_DIR": str(tmp_path / "cache")}  # the cache is scanned too
    logs: list[str] = []

    def cli(*args):
        res = lbs(*args, env=env)
        logs.append(res.stdout + res.stderr)
        assert res.returncode == 0, res.stderr
        return res

    model = f"openai:{embedded_server.served_name},base_url={embedded_server.base_url}"
    needle, lme = tmp_path / "needle", tmp_path / "lme"
    cli("generate", "needle", "-o", needle, "-v", "single_1", "-p", "lengths=512", "-p", "depths=50",
        "-p", "samples=2", "-p", "max_new_tokens=16", "--tokenizer", "embedded")
    cli("generate", "longmemeval", "-o", lme, "-v", "oracle", "-p", "types=single-session-user", "-p", "samples=2",
        "-p", "abstention=0", "-p", "max_new_tokens=16", "--tokenizer", "embedded")
    # OPENAI_API_KEY is the key of the system; LBS_JUDGE_KEY that of the judge (api_key_env names it)
    cli("run", needle, "-s", model, "-o", tmp_path / "runs" / "needle")
    cli("run", lme, "-s", model, "-o", tmp_path / "runs" / "lme", "--judge", f"{model},api_key_env=LBS_JUDGE_KEY")
    cli("score", tmp_path / "runs" / "needle")
    cli("report", tmp_path / "runs" / "needle", tmp_path / "runs" / "lme", "-o", tmp_path / "report")
    cli("leaderboard", "build", tmp_path / "runs" / "needle", tmp_path / "runs" / "lme", "-o", tmp_path / "board")
    gate = lbs("gate", "-b", tmp_path / "runs" / "needle", "-c", tmp_path / "runs" / "needle", "--json",
               tmp_path / "gate.json", "--write-baseline", tmp_path / "baseline.parquet", "--allow-inconclusive", env=env)
    logs.append(gate.stdout + gate.stderr)
    assert gate.returncode == 0, gate.stderr

    run = json.loads((tmp_path / "runs" / "lme" / "run.json").read_text())
    assert run["system"]["api_key_env"] == "OPENAI_API_KEY"  # the key was read from the variable, by name
    assert run["counts"]["errors"] == 0 and (tmp_path / "runs" / "lme" / "judgments.parquet").is_file()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".parquet", ".json", ".jsonl", ".md", ".html", ".png", ".sqlite"} <= kinds, kinds
    assert [str(p) for p in files if leaks(p)] == []
    assert not any(LEAK in log for log in logs)

    # the scan finds a key where one is: in a parquet column written as the suite writes (zstd pages, no
    # statistics), where the raw bytes do not show it
    control = tmp_path / "control.parquet"
    pq.write_table(pa.table({"x": [f"Bearer {LEAK} {i}" for i in range(200)]}), control, compression="zstd",
                   write_statistics=False)
    assert LEAK.encode() not in control.read_bytes() and leaks(control)


@pytest.fixture(scope="module")
def needle(tmp_path_factory):
    return make_needle(tmp_path_factory.mktemp("sec") / "needle", ["single_1"], ["lengths=512", "depths=50"])


SPECS = {
    "api_key": f"openai:m,api_key={LEAK}",
    "token": f"openai:m,token={LEAK}",
    "url-userinfo": f"openai:m,base_url=http://user:{LEAK}@127.0.0.1:9/v1",
    "url-query": f"openai:m,base_url=http://127.0.0.1:9/v1?key={LEAK}",
    "bare-key": f"openai:m,{LEAK}",  # a key pasted where an option belongs
    "wrapper-option": f"retrieval[k=2,apiKey={LEAK}]:oracle",
}


@pytest.mark.parametrize("case", [*(f"run-{k}" for k in SPECS), "judge-api_key", "judge-bare-key"])
def test_inline_secret_refused_and_not_echoed(needle, tmp_path, case):
    command, _, name = case.partition("-")
    if command == "run":
        res = lbs("run", needle, "-s", SPECS[name], "-o", tmp_path / "run")
    else:  # the judge spec is checked before the run directory is read
        res = lbs("score", tmp_path / "run", "--judge", SPECS[name])
    line = one_line_error(res)
    assert ("bad system spec" if name == "bare-key" else "refusing") in line
    assert LEAK not in res.stdout + res.stderr, line
    assert not (tmp_path / "run").exists()
