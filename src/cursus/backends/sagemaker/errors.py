"""What can go wrong between a Plan and a running SageMaker pipeline, as error types."""

from __future__ import annotations

from cursus.errors import ConfigError, CursusError


class SageMakerConfigError(ConfigError):
    """A value SageMaker would refuse (a missing role, an unknown instance type, a bad name),
    found at compile time. `node` and `field` say where it comes from."""

    def __init__(self, node: str, field: str, problem: str) -> None:
        self.node = node
        self.field = field
        super().__init__(f"{node}: field '{field}' {problem}")


class DefinitionError(CursusError):
    """A compiled definition breaks a rule SageMaker checks only when the pipeline is created or
    run (a reference to a missing step or output, a name over a limit, wiring the DAG lacks)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "the SageMaker definition is inconsistent: " + "; ".join(problems)
            if len(problems) < 4
            else f"the SageMaker definition has {len(problems)} problems: "
            + "; ".join(problems[:3])
            + "; ..."
        )


class SageMakerUnavailable(CursusError):
    """The SageMaker SDK is not installed."""


class AWSCallError(CursusError):
    """An AWS call made by deploy / start / executions failed (credentials, permissions, a
    missing bucket or pipeline)."""

    exit_code = 1
