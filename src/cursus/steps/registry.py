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
    """The bundled step types, loaded once per process."""
    return build_step_types(load_specs())


def build_step_types(specs: dict[str, StepSpec]) -> dict[str, StepType]:
    """Pair each spec with its config class, checking what a spec alone cannot: that the class
    exists, has the fields the contract reads, and that compatible sources are known step types."""
    result: dict[str, StepType] = {}
    for name, spec in specs.items():
        cls = CONFIG_CLASSES.get(spec.config_class)
        if cls is None:
            raise SpecError(
                f"{spec.source_file}: field 'config_class': '{spec.config_class}' is not a known "
                f"config class; use one of: {', '.join(sorted(CONFIG_CLASSES))}"
            )
        _check_contract_fields(spec, cls)
        result[name] = StepType(spec, cls)
    for st in result.values():
        for inp in st.spec.inputs:
            unknown = sorted(set(inp.compatible_sources) - set(result))
            if unknown:
                raise SpecError(
                    f"{st.spec.source_file}: field 'inputs.{inp.name}.compatible_sources' names "
                    f"unknown step types {unknown}; use names from: {', '.join(sorted(result))}"
                )
    return result


def _check_contract_fields(spec: StepSpec, cls: type[BasePipelineConfig]) -> None:
    """Every `{config: field}` of the contract must be a field of the step's config class."""
    for section in ("env", "job_args"):
        for name, source in getattr(spec.contract, section).items():
            if source.config is not None and source.config not in cls.model_fields:
                raise SpecError(
                    f"{spec.source_file}: field 'contract.{section}.{name}' reads config field "
                    f"'{source.config}', which {cls.__name__} does not have; use one of its fields"
                )


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
