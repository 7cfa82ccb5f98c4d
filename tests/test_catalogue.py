"""The model catalogue (runners/models.toml): schema, coverage of memory mechanisms, and the exact vLLM
command of every entry, parsed by vLLM's own server argument parser."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from lbs_testutil import lbs, make_needle, one_line_error
from longbench_suite.errors import UserError
from runners.model_specs import MECHANISMS, load_model_specs
from runners.serve import dry_run_command
from runners.vllm_server import gpu_present

SPECS = load_model_specs()
REFERENCE = {name: s for name, s in SPECS.items() if s.reference}


@pytest.fixture(scope="module")
def vllm_parser():
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


def test_catalogue_spans_the_mechanisms_the_field_compares():
    assert len(REFERENCE) >= 12
    mechanisms = {s.mechanism for s in REFERENCE.values()}
    assert {"full-attention", "hybrid-ssm", "state-space", "linear-attention"} <= mechanisms
    assert mechanisms <= set(MECHANISMS)
    assert SPECS["embedded"].device == "cpu" and not SPECS["embedded"].reference
    for name, s in REFERENCE.items():
        assert s.device == "cuda" and s.gpus >= 1 and s.gpu_memory_gb, name
        assert s.context_length and s.serve_len and s.parameters and s.notes, name
        assert (s.tensor_parallel_size or 1) <= s.gpus, name
        assert s.dtype in ("bfloat16", "float16", "float32", "auto"), name
        assert "/" in s.hf_id and s.served_name == name, name
        if s.mechanism == "state-space":
            assert s.kv_bytes_per_token in (0, None), name
        # Serving past the model's own window (length extrapolation) is refused by vLLM without this.
        assert (s.serve_len > s.context_length) == (s.env.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN") == "1"), name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_command_is_accepted_by_vllms_parser(vllm_parser, name):
    spec = SPECS[name]
    line = dry_run_command(spec, port=8123)
    words = shlex.split(line)
    assert dict(w.split("=", 1) for w in words[: len(spec.env)]) == spec.env  # KEY=VALUE words first
    start = words.index("vllm.entrypoints.openai.api_server") + 1
    args = vllm_parser.parse_args(words[start:])  # an unknown flag or a bad value exits here
    assert args.served_model_name == [spec.served_name]
    assert args.port == 8123 and args.dtype == spec.dtype
    assert args.max_model_len == spec.serve_len
    assert args.tensor_parallel_size == (spec.tensor_parallel_size or 1)
    assert bool(args.trust_remote_code) == bool(spec.extra_args.get("trust_remote_code"))
    if "hf_overrides" in spec.extra_args:
        assert args.hf_overrides == spec.extra_args["hf_overrides"]
        rope = args.hf_overrides["rope_parameters"]
        assert rope["rope_type"] == "yarn"
        assert rope["factor"] * rope["original_max_position_embeddings"] >= spec.serve_len
    if spec.mechanism in ("hybrid-ssm", "hybrid-conv", "state-space", "linear-attention"):
        assert args.mamba_cache_mode == "align" and args.enable_prefix_caching
    if spec.source_kind == "hf":
        assert args.model == spec.hf_id


def test_dry_run_on_the_command_line():
    res = lbs("serve", "ref:qwen2.5-1.5b", "--dry-run", "--port", "9000")
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip()
    assert "--model Qwen/Qwen2.5-1.5B-Instruct" in line and "--port 9000" in line
    assert json.loads(shlex.split(line)[shlex.split(line).index("--hf-overrides") + 1])["rope_parameters"]["factor"] == 4.0
    assert "unknown model 'nope'" in one_line_error(lbs("serve", "ref:nope", "--dry-run"))


def test_lbs_systems_lists_kinds_and_every_entry():
    res = lbs("systems")
    assert res.returncode == 0, res.stderr
    for name in SPECS:
        assert name in res.stdout
    for kind in ("embedded", "ref", "openai", "oracle", "no-context", "con"):
        assert kind in res.stdout
    names = lbs("systems", "--reference", "--names").stdout.split()
    assert names == list(REFERENCE)


def test_a_gpu_entry_fails_fast_without_a_gpu(tmp_path):
    if gpu_present():  # a GPU machine builds the system (the server starts only on check())
        from longbench_suite.registry import make_system

        assert make_system("ref:qwen3-8b").describe()["hf_id"] == "Qwen/Qwen3-8B"
        return
    data = make_needle(tmp_path / "data", ["single_1"], ["lengths=512", "depths=50", "samples=1"])
    line = one_line_error(lbs("run", data, "-s", "ref:qwen3-8b", "-o", tmp_path / "run"))
    assert "needs 1 NVIDIA GPU" in line and "qwen3-8b" in line
    assert not (tmp_path / "run").exists()
    assert "name a catalogue model" in one_line_error(lbs("run", data, "-s", "ref", "-o", tmp_path / "run"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"hf_id": "a/b", "served_name": "x", "mechanism": "magic"}, "mechanism must be one of"),
        ({"hf_id": "a/b", "served_name": "x", "gpus": 1, "tensor_parallel_size": 2}, "gpus must cover"),
        ({"hf_id": "a/b", "served_name": "x", "reference": "yes"}, "reference must be true or false"),
        ({"hf_id": "a/b", "served_name": "x", "parameters": -1}, "parameters must be a non-negative integer"),
        ({"hf_id": "a/b", "served_name": "x", "max_len": 5}, "unknown keys max_len"),
        ({"served_name": "x"}, "hf_id (a non-empty string) is required"),
    ],
)
def test_catalogue_schema_errors_name_the_entry(tmp_path, entry, message):
    import tomllib

    path = tmp_path / "models.toml"
    lines = ["[bad]"] + [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())  # the file itself is valid TOML
    with pytest.raises(UserError, match=re.escape(message)) as info:
        load_model_specs(path)
    assert "[bad]" in str(info.value)
