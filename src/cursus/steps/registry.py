"""The one place that ties a step type's spec, config class and script together."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cursus.errors import SpecError
from cursus.steps.configs import CONFIG_CLASSES, BasePipelineConfig
from cursus.steps.spec import StepSpec, load_specs


@dataclass(frozen=True)
class StepType:
    spec: StepSpec
    config_class: type[BasePipelineConfig]

    @property
    def name(self) -> str:
        return self.spec.step_type

    @property
    def script(self) -> Path:
        return self.spec.script_path


@cache
def step_types() -> dict[str, StepType]:
    result: dict[str, StepType] = {}
    for name, spec in load_specs().items():
        cls = CONFIG_CLASSES.get(spec.config_class)
        if cls is None:
            raise SpecError(
                f"{spec.source_file}: config_class '{spec.config_class}' is not a known config class"
            )
        result[name] = StepType(spec, cls)
    return result


def get_step_type(name: str) -> StepType:
    types = step_types()
    if name not in types:
        raise SpecError(f"unknown step type '{name}'; known: {', '.join(sorted(types))}")
    return types[name]


def split_node_name(node: str) -> tuple[str, str | None]:
    """'TabularPreprocessing_training' -> ('TabularPreprocessing', 'training').

    The longest known step type that the name starts with wins; an unknown type is an error that
    lists the known ones.
    """
    matches = [t for t in step_types() if node == t or node.startswith(t + "_")]
    if not matches:
        known = ", ".join(sorted(step_types()))
        raise SpecError(
            f"node '{node}' does not name a known step type; name nodes <StepType> or "
            f"<StepType>_<job_type> with StepType one of: {known}"
        )
    step_type = max(matches, key=len)
    job_type = node[len(step_type) + 1 :] or None
    return step_type, job_type
