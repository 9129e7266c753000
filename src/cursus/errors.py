"""Error types. Every message names the file, node or field and says how to fix it; the CLI prints
it on one or two lines and exits 2."""

from __future__ import annotations


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
