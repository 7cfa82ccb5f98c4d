"""System specs: how a user names a system on the command line.

    KIND[:MODEL][,key=value...]      e.g. oracle, random, embedded, openai:gpt-4o-mini,base_url=http://...
    WRAPPER:INNER-SPEC               e.g. no-context:embedded

Secrets never go in a spec (it is recorded in run.json): keys come from the environment, named by
`api_key_env=VAR`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import UserError

WRAPPERS = {"no-context"}
_SECRET_OPTION = re.compile(r"(^|_)(key|token|secret|password|passwd|auth)$", re.I)
_KIND = re.compile(r"^[a-z][a-z0-9_.-]*$")


@dataclass(frozen=True)
class SystemSpec:
    kind: str
    model: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    inner: "SystemSpec | None" = None

    def __str__(self) -> str:
        if self.inner is not None:
            return f"{self.kind}:{self.inner}"
        head = self.kind + (f":{self.model}" if self.model else "")
        return ",".join([head] + [f"{k}={v}" for k, v in self.options.items()])

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.options.get(name, default)


def parse_spec(text: str) -> SystemSpec:
    text = (text or "").strip()
    if not text:
        raise UserError("empty system spec")
    kind, sep, rest = text.partition(":")
    if "," in kind:  # "oracle,delay=0.1": options without a model
        kind, _, opts = text.partition(",")
        rest, sep = "," + opts, ":"
    kind = kind.strip().lower()
    if not _KIND.match(kind):
        raise UserError(f"bad system spec {text!r}: it must start with a system kind such as oracle, random, embedded, openai")
    if kind in WRAPPERS:
        if not rest:
            raise UserError(f"bad system spec {text!r}: {kind} wraps another system, e.g. {kind}:embedded")
        return SystemSpec(kind=kind, inner=parse_spec(rest))
    parts = rest.split(",") if sep else []
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
            raise UserError(f"bad system spec {text!r}: option {part!r} must be key=value")
        k, v = (s.strip() for s in part.split("=", 1))
        if _SECRET_OPTION.search(k) and not k.endswith("_env"):
            raise UserError(
                f"refusing secret option {k!r} in a system spec (it would be recorded); "
                f"set it in the environment and pass {k}_env=VARIABLE"
            )
        if re.search(r"://[^/@\s]+@", v):
            raise UserError(f"refusing credentials inside the URL of option {k!r}; use the environment")
        options[k] = v
    return SystemSpec(kind=kind, model=model, options=options)
