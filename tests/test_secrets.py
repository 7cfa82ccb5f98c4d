"""Secrets stay in the environment (issue 10): with every credential variable set to a recognisable
value, a whole generate -> run (+ judge) -> score -> report -> leaderboard -> gate cycle against the
real embedded server writes that value into no file and no log; specs with inline keys are refused
without echoing them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


# Issue 21, item 8: specs in messages and records. A tiny loopback OpenAI-compatible endpoint answers at
# any path (a key-shaped path or query must reach run.json for the scrubbing to be tested); the rest
# are refused before any call.
class _Endpoint(BaseHTTPRequestHandler):
    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - the handler's API
        self._send({"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "t"}]})

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "0"}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


ENV_KEY = "envsecret-42-abcdefgh"  # not key-shaped: only its equality with the environment gives it away
KEY_ENV = {"OPENAI_API_KEY": ENV_KEY, "MY_KEY": ENV_KEY, "LBS_JUDGE_KEY": ENV_KEY}

# id -> (the spec, with {url} the endpoint; what the one error line says, or None: the run completes)
ISSUE21 = {
    "unknown-option-header": ("openai:m,base_url={url}/v1,default_headers=Authorization:" + LEAK, "unknown options default_headers"),
    "url-query-key": ("openai:m,base_url={url}/v1?route=" + LEAK, None),
    "url-path-key": ("openai:m,base_url={url}/" + LEAK + "/v1", None),
    "api_key_env-is-a-key": ("openai:m,base_url={url}/v1,api_key_env=" + LEAK, "refusing option 'api_key_env'"),
    "env-key-as-option": ("openai:m,base_url={url}/v1,default_headers=" + ENV_KEY, "holds the value of $OPENAI_API_KEY"),
    "env-key-in-url": ("openai:m,base_url={url}/v1?q=" + ENV_KEY, "holds the value of $OPENAI_API_KEY"),
    "env-key-of-named-variable": ("no-context:openai:m,base_url={url}/" + ENV_KEY + "/v1,api_key_env=MY_KEY",
                                  "holds the value of $MY_KEY"),
    "env-key-in-wrapper": ("retrieval[k=2,note=" + ENV_KEY + "]:oracle", "holds the value of $OPENAI_API_KEY"),
}


def _files_leak(root: Path, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for path in (p for p in root.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace")
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text += json.dumps(table.to_pylist(), default=str) + str(table.schema.metadata)
        found += [f"{path.name}: {s}" for s in secrets if s in text]
    return found


# the refusals a judge spec meets too (checked as it is parsed, before the run directory is read)
JUDGE_CASES = [case for case, (_, refusal) in ISSUE21.items() if refusal and "unknown options" not in refusal]


@pytest.mark.parametrize("command,case", [*(("run", c) for c in ISSUE21), *(("judge", c) for c in JUDGE_CASES)])
def test_specs_are_scrubbed_or_refused(needle, endpoint, tmp_path, case, command):
    spec, refusal = ISSUE21[case]
    spec = spec.format(url=endpoint)
    out = tmp_path / "run"
    if command == "run":
        res = lbs("run", needle, "-s", spec, "-o", out, "--no-cache", env=KEY_ENV)
    else:
        res = lbs("score", out, "--judge", spec, env=KEY_ENV)
    assert LEAK not in res.stdout + res.stderr and ENV_KEY not in res.stdout + res.stderr, res.stderr
    if refusal is not None:
        assert refusal in one_line_error(res)
        assert not out.exists()
        return
    assert res.returncode == 0, res.stderr
    recorded = json.loads((out / "run.json").read_text())["system"]
    assert "***" in recorded["spec"] and "***" in recorded["base_url"], recorded  # masked, and still there
    assert _files_leak(out, (LEAK, ENV_KEY)) == []
    # the masked spec is the recorded one: --resume with the same spec matches it
    again = lbs("run", needle, "-s", spec, "-o", out, "--no-cache", "--resume", env=KEY_ENV)
    assert again.returncode == 0 and LEAK not in again.stderr, again.stderr
