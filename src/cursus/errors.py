"""Error types. Every message names the file, node or field and says how to fix it; the CLI prints
it on one or two lines and exits 2."""

from __future__ import annotations

from typing import Any


class CursusError(Exception):
    """Base of every error Cursus raises on bad input."""

    exit_code = 2


class DAGError(CursusError):
    """The DAG is malformed: a cycle, an unknown node, a bad file."""


class SpecError(CursusError):
    """A step spec YAML is broken or a step type is unknown."""


class ConfigError(CursusError):
    """The config JSON is malformed, incomplete or has invalid values."""


class ResolutionError(CursusError):
    """An input cannot be bound to exactly one producer output."""


class PlanError(CursusError):
    """A Plan file cannot be read or does not match this version of Cursus."""


class RunError(CursusError):
    """A pipeline run could not start or finish."""

    exit_code = 1


class ValidationFailed(CursusError):
    """Several problems found at once; `problems` holds each as its own error."""

    def __init__(self, problems: list[CursusError]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) found:\n{lines}")


# pydantic's words for a few error types, reworded to say what to do
_REWORDED = {
    "missing": "is required; add it",
    "extra_forbidden": "is not a known field; remove it or correct its spelling",
}


def describe_validation_error(err: Any) -> str:
    """One item of pydantic's `ValidationError.errors()` as "field 'a.b[0]': problem (got x)".

    The spec's and configs' own validators write messages that say how to fix, and a validator of
    a whole model names its field itself (`field 'x': ...`), so those pass through unchanged.
    """
    field = ""
    for part in err.get("loc", ()):
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    kind = err.get("type", "")
    if kind in _REWORDED:
        return f"field '{field}' {_REWORDED[kind]}"
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    text = f"field '{field}': {msg}" if field else msg
    value = err.get("input")
    if field and (value is None or isinstance(value, str | int | float | bool)):
        text += f" (got {value!r})"
    return text
