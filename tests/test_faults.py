"""Fault injection: the real CLI against the real embedded vLLM server behind a fault-injecting proxy
(tests/fault_proxy.py). Every probe ends answered or with its error recorded, retries are bounded,
no wait is unbounded, and --resume retries only the failed probes."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import polars as pl
import pytest

from fault_proxy import FAULTS, FaultProxy
from lbs_testutil import lbs, make_needle, one_line_error

pytestmark = pytest.mark.server

TIMEOUT_S = 8  # per attempt, plus the adapter's allowance for the prompt (~2 s for these prompts)
RETRY_AFTER_S = 1
RUN_LIMIT_S = 240  # the wall-time bound of one faulty run: a hang anywhere fails the test here
MIXED_SEED = 4  # draws depend on it and on each request's body (not on arrival order): all kinds occur

# What each fault becomes in the predictions' error column (adapters/openai_compat.py's messages).
ERROR_OF = {
    "429": "HTTP 429 from",
    "500": "HTTP 500 from",
    "503": "HTTP 503 from",
    "hang": "no answer from",  # the per-attempt timeout
    "drop": "connection to",
    "malformed": "malformed response from",
    "truncated": "malformed response from",
    "slow": "no complete answer from",  # the whole-call deadline: every read was quick
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, embedded_server):
    """Short needle probes (the embedded model answers one in about a second): 30 and 10 of them."""
    import openai

    root = tmp_path_factory.mktemp("faults")
    params = ["lengths=256", "samples=10", "max_new_tokens=8"]
    sets = {
        30: make_needle(root / "n30", ["single_1"], [*params, "depths=0,50,100"]),
        10: make_needle(root / "n10", ["single_1"], [*params, "depths=50"], seed=1),
    }
    # Warm the server up, so that its first slow answers do not count against the tests' timeouts.
    client = openai.OpenAI(api_key="EMPTY", base_url=embedded_server.base_url, timeout=120)
    client.chat.completions.create(model=embedded_server.served_name, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    client.close()
    return sets


@pytest.fixture
def proxy(embedded_server):
    with FaultProxy(embedded_server.base_url, retry_after_s=RETRY_AFTER_S) as p:
        yield p


def lbs_run(server, proxy: FaultProxy, data, out, retries: int, *extra: str) -> tuple[dict, pl.DataFrame]:
    spec = f"openai:{server.served_name},base_url={proxy.base_url},timeout={TIMEOUT_S},retries={retries}"
    res = lbs("run", data, "--system", spec, "-o", out, "--no-cache", *extra, timeout=RUN_LIMIT_S)
    assert "Traceback" not in res.stderr
    manifest = json.loads((out / "run.json").read_text())
    preds = pl.read_parquet(out / "predictions.parquet")
    # Every probe of the run has one row; --limit N runs only N of them (a partial run). Complete, exit 0,
    # only without errors; failed probes: partial, exit 4 (issue 21).
    n = int(extra[extra.index("--limit") + 1]) if "--limit" in extra else manifest["counts"]["probes"]
    errors = manifest["counts"]["errors"]
    assert res.returncode == (4 if errors else 0), res.stderr
    assert manifest["status"] == ("complete" if n == manifest["counts"]["probes"] and not errors else "partial")
    assert preds.get_column("probe_id").n_unique() == preds.height == n
    assert manifest["counts"]["errors"] == preds.get_column("error").is_not_null().sum()
    return manifest, preds


def errors_of(preds: pl.DataFrame) -> list[str]:
    errors = preds.get_column("error").drop_nulls().to_list()
    # A fault is a failure of the system, recorded one line long: never a raw JSONDecodeError and such.
    for e in errors:
        assert e.startswith("SystemFailure: ") and "\n" not in e, e
    return errors


def kind_of(error: str) -> str:
    return next(kind for kind, text in ERROR_OF.items() if text in error)


def test_each_fault_becomes_a_recorded_error_and_resume_retries_only_those(embedded_server, datasets, proxy, tmp_path):
    # Without retries every fault is final: the first len(FAULTS) requests meet one fault each.
    proxy.configure(schedule=list(FAULTS))
    _, preds = lbs_run(embedded_server, proxy, datasets[10], tmp_path / "run", 0)
    assert preds.height == 10
    assert proxy.injected == Counter(FAULTS)
    errors = errors_of(preds)
    assert Counter(map(kind_of, errors)) == Counter(kind_of(ERROR_OF[f]) for f in FAULTS)
    assert len(errors) == len(FAULTS)
    assert all(n == 1 for n in proxy.attempts_per_request().values())  # retries=0: one attempt each
    answered = preds.filter(pl.col("error").is_null())
    assert answered.height == 10 - len(FAULTS) and answered.get_column("output").str.len_chars().min() > 0
    # The client gave up on the hang while the proxy still held it: a recorded error, not a hang.
    assert [a.ended for a in proxy.attempts if a.fault == "hang"] == [None]

    proxy.configure(schedule=None)  # the server has recovered
    manifest, preds = lbs_run(embedded_server, proxy, datasets[10], tmp_path / "run", 0, "--resume")
    assert len(proxy.posts()) == len(errors)  # only the failed probes were asked again
    assert manifest["counts"]["errors"] == 0 and preds.height == 10


def test_retry_after_is_honoured(embedded_server, datasets, proxy, tmp_path):
    proxy.configure(rates={"429": 1.0}, max_faults_per_request=1)  # each request: one 429, then through
    _, preds = lbs_run(embedded_server, proxy, datasets[10], tmp_path / "run", 1, "--limit", "4")
    assert errors_of(preds) == []
    by_request = defaultdict(list)
    for a in proxy.posts():
        by_request[a.key].append(a)
    assert len(by_request) == 4
    for first, retry in by_request.values():
        assert (first.fault, retry.fault) == ("429", None)
        # The client's own back-off would come after at most 0.5 s.
        assert retry.started - first.ended >= RETRY_AFTER_S


def test_retries_are_bounded_when_every_attempt_fails(embedded_server, datasets, proxy, tmp_path):
    proxy.configure(rates={"503": 1.0})
    _, preds = lbs_run(embedded_server, proxy, datasets[10], tmp_path / "run", 2, "--limit", "4")
    assert {kind_of(e) for e in errors_of(preds)} == {"503"} and preds.height == 4
    assert list(proxy.attempts_per_request().values()) == [3] * 4  # retries=2: three attempts, no more


def test_run_with_20_percent_mixed_faults_completes_and_resumes(embedded_server, datasets, proxy, tmp_path):
    kinds = [f for f in FAULTS if f != "slow"]  # a trickle costs the whole-call deadline: too slow here
    retries = 2
    proxy.configure(rates={k: 0.2 / len(kinds) for k in kinds}, seed=MIXED_SEED)
    _, preds = lbs_run(embedded_server, proxy, datasets[30], tmp_path / "run", retries)
    assert preds.height == 30
    errors = errors_of(preds)
    assert set(proxy.injected) == set(kinds), f"seed {MIXED_SEED} no longer draws every kind: {proxy.injected}"
    attempts = proxy.attempts_per_request()
    assert len(attempts) == 30 and max(attempts.values()) <= retries + 1
    # A probe failed exactly when its last attempt met a fault: none was lost or retried beyond the bound.
    last = {a.key: a for a in proxy.posts()}
    assert Counter(map(kind_of, errors)) == Counter(kind_of(ERROR_OF[a.fault]) for a in last.values() if a.fault)
    assert errors and preds.filter(pl.col("error").is_null()).get_column("output").str.len_chars().min() > 0

    proxy.configure(rates={})
    manifest, preds = lbs_run(embedded_server, proxy, datasets[30], tmp_path / "run", retries, "--resume")
    assert len(proxy.posts()) == len(errors)
    assert manifest["counts"]["errors"] == 0 and preds.height == 30


def test_check_retries_a_transient_fault_and_refuses_a_malformed_model_list(embedded_server, datasets, proxy, tmp_path):
    # The first request is the runner's check (GET /models): a dropped connection there is retried.
    proxy.configure(fault_get=True, schedule=["drop"])
    _, preds = lbs_run(embedded_server, proxy, datasets[10], tmp_path / "run", 1, "--limit", "2")
    assert errors_of(preds) == [] and proxy.injected == {"drop": 1}
    assert [a.fault for a in proxy.attempts if a.path.endswith("/models")] == ["drop", None]

    # Garbage where the model list should be is a bad endpoint: one line, exit 2, nothing written.
    proxy.configure(schedule=["malformed"])
    spec = f"openai:{embedded_server.served_name},base_url={proxy.base_url},retries=1"
    res = lbs("run", datasets[10], "--system", spec, "-o", tmp_path / "bad", "--no-cache", timeout=RUN_LIMIT_S)
    assert "GET /models with malformed JSON" in one_line_error(res)
    assert not (tmp_path / "bad").exists() and proxy.posts() == []
