"""System specs: how a user names a system on the command line.

    KIND[:MODEL][,key=value...]      e.g. oracle, random, embedded, openai:gpt-4o-mini,base_url=http://...
    WRAPPER[key=value,...]:INNER     e.g. no-context:embedded, retrieval[k=5,granularity=round]:embedded
    PLUGIN[key=value,...]:READER     a plugin kind (entry point) reading through any system, e.g.
                                     my-memory[dim=64]:openai:gpt-4o-mini,base_url=http://...
    python[MODULE:ATTR,key=value,...]:READER   the same for a factory named directly

Secrets never go in a spec (it is recorded in run.json): keys come from the environment, named by
`api_key_env=VAR`. A spec holding the value of such a variable is refused; anything shaped like a key
is masked wherever a spec is shown (an f-string, `format(spec)`) or recorded (`scrub`), while
`str(spec)` stays the exact text that builds the system.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError

# Kinds that wrap another system: no-context (the floor), con (Chain-of-Note reading,
# adapters/chain_of_note.py), retrieval (index -> retrieve -> read, adapters/retrieval.py).
# Kinds that read through (or are built on) another system: KIND:INNER or KIND[options]:INNER.
WRAPPERS = {"no-context", "con", "retrieval", "finetune", "kv", "summary", "facts", "graph", "mem0"}
_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "auth", "authorization", "credential", "credentials"}
_KIND = re.compile(r"^[a-z][a-z0-9_.-]*$")


# What API keys and tokens look like (OpenAI/Anthropic sk-, Hugging Face hf_, GitHub, GitLab, Slack):
# a key pasted into a spec where an option was expected is not echoed into a terminal or a CI log.
_KEY_SHAPED = re.compile(r"\b(?:sk|pk|rk|hf|ghp|gho|ghs|github_pat|glpat|xox[abpr])[-_][A-Za-z0-9_\-]{12,}"
                         r"|\bBearer\s+[^\s,\]]+", re.I)
KEY_VARIABLE = "OPENAI_API_KEY"  # the key every OpenAI-compatible system reads unless api_key_env names another
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIN_KEY = 8  # shorter "keys" (EMPTY, a loopback server's dummy) are no secret, and too common to search for


def redact(text: str) -> str:
    """`text` with anything shaped like an API key (or equal to $OPENAI_API_KEY) replaced by ***."""
    key = os.environ.get(KEY_VARIABLE, "")
    if len(key) >= _MIN_KEY:
        text = text.replace(key, "***")
    return _KEY_SHAPED.sub("***", text)


def scrub(obj: Any) -> Any:
    """A record (run.json's system, a spec string) with every string redacted, at any depth."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v) for v in obj]
    return obj


def is_secret_name(name: str) -> bool:
    """api_key, apiKey, auth-token ... (but not max_tokens): a name made of a secret word."""
    parts = re.split(r"[_\-.]|(?<=[a-z])(?=[A-Z])", name)
    return any(p.lower() in _SECRET_WORDS for p in parts) or name.lower() in _SECRET_WORDS


def check_url(value: str, what: str) -> None:
    """Refuse credentials in a URL (user:pass@host, ?api_key=...): specs and endpoints are recorded."""
    if re.search(r"://[^/@\s]+@", value):
        raise UserError(f"refusing credentials inside the URL of {what}; use the environment")
    query = value.split("?", 1)[1] if "://" in value and "?" in value else ""
    for pair in filter(None, re.split(r"[&;]", query)):
        if is_secret_name(pair.split("=", 1)[0]):
            raise UserError(f"refusing a secret in the query string of the URL of {what}; use the environment")


@dataclass(frozen=True)
class SystemSpec:
    kind: str
    model: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    inner: "SystemSpec | None" = None

    def __str__(self) -> str:
        if self.inner is not None:
            opts = ",".join(([self.model] if self.model else []) + [f"{k}={v}" for k, v in self.options.items()])
            return f"{self.kind}[{opts}]:{self.inner!s}" if opts or self.kind not in WRAPPERS else f"{self.kind}:{self.inner!s}"
        head = self.kind + (f":{self.model}" if self.model else "")
        return ",".join([head] + [f"{k}={v}" for k, v in self.options.items()])

    def __format__(self, format_spec: str) -> str:
        """A spec in a message ("system {spec}: ...") shows its key-shaped values masked."""
        return format(redact(str(self)), format_spec)

    def env_names(self) -> set[str]:
        """The environment variables this spec (and the systems it wraps) take keys from."""
        names = {v for k, v in self.options.items() if k.endswith("_env")}
        return names | (self.inner.env_names() if self.inner is not None else set())

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.options.get(name, default)


def parse_spec(text: str) -> SystemSpec:
    spec = _parse(text)
    _refuse_env_keys(text, spec)
    return spec


def _refuse_env_keys(text: str, spec: SystemSpec) -> None:
    """A key copied from the environment into the spec, anywhere (an option, a URL, a header), would
    be recorded and shown: refuse it, naming the variable, never the value."""
    for name in sorted({KEY_VARIABLE} | spec.env_names()):
        key = os.environ.get(name, "")
        if len(key) >= _MIN_KEY and key in text:
            raise UserError(f"refusing a system spec that holds the value of ${name}: keys are read from the "
                            "environment only, never written in a spec")


def _parse(text: str) -> SystemSpec:
    text = (text or "").strip()
    if not text:
        raise UserError("empty system spec")
    bracket = re.match(r"^([a-z][a-z0-9_.-]*)\[([^\]]*)\]:(.*)$", text, re.S)
    if bracket:  # a wrapper with options: retrieval[k=5]:embedded; a plugin with its reader: python[m:make]:embedded
        kind = bracket.group(1).lower()
        parts = bracket.group(2).split(",")
        # python's first part is the factory (MODULE:ATTR); a built-in kind that reads through no other
        # system is refused by the registry, which knows the kinds.
        model, options = _model_and_options(parts if kind == "python" else [""] + parts, text)
        return SystemSpec(kind=kind, model=model, options=options, inner=_parse(bracket.group(3)))
    kind, sep, rest = text.partition(":")
    if "," in kind:  # "oracle,delay=0.1": options without a model
        kind, _, opts = text.partition(",")
        rest, sep = "," + opts, ":"
    kind = kind.strip().lower()
    if not _KIND.match(kind):
        raise UserError(f"bad system spec {redact(text)!r}: it must start with a system kind such as oracle, random, embedded, openai")
    if kind in WRAPPERS:
        if not rest:
            raise UserError(f"bad system spec {redact(text)!r}: {kind} wraps another system, e.g. {kind}:embedded")
        return SystemSpec(kind=kind, inner=_parse(rest))
    model, options = _model_and_options(rest.split(",") if sep else [], text)
    return SystemSpec(kind=kind, model=model, options=options)


def _model_and_options(parts: list[str], text: str) -> tuple[str | None, dict[str, str]]:
    """MODEL,key=value,... -> (model, options); a bare word is allowed only first (the model)."""
    model = None
    options: dict[str, str] = {}
    for i, part in enumerate(parts):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            if i == 0:
                model = part
                continue
            raise UserError(f"bad system spec {redact(text)!r}: option {redact(part)!r} must be key=value")
        k, v = (s.strip() for s in part.split("=", 1))
        if is_secret_name(k) and not k.endswith("_env"):
            raise UserError(
                f"refusing secret option {k!r} in a system spec (it would be recorded); "
                f"set it in the environment and pass {k}_env=VARIABLE"
            )
        if k.endswith("_env") and (not _ENV_NAME.match(v) or redact(v) != v):
            raise UserError(f"refusing option {k!r}: its value must name an environment variable that holds the "
                            f"key (it looks like a key itself); pass {k}=VARIABLE")
        check_url(v, f"option {k!r}")
        options[k] = v
    return model, options


def option_number(spec: SystemSpec, name: str, default: float, kind: type = float, lo: float | None = None, hi: float | None = None):
    """A numeric option of a spec, checked for type and range (one-line UserError otherwise)."""
    raw = spec.option(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise UserError(f"system {spec}: {name}={redact(raw)!r} is not a{'n integer' if kind is int else ' number'}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise UserError(f"system {spec}: {name}={raw} out of range [{lo}, {hi}]")
    return value


def option_choice(spec: SystemSpec, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = spec.option(name, default) or default
    if value not in allowed:
        raise UserError(f"system {spec}: {name} must be one of {', '.join(allowed)}, not {redact(value)!r}")
    return value


def check_options(spec: SystemSpec, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(spec.options) - set(allowed))
    if unknown:
        raise UserError(f"system {spec}: unknown options {redact(', '.join(unknown))}; allowed: {', '.join(allowed)}")
