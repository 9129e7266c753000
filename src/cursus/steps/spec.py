"""Step specs: the declarative description of a step type, loaded from YAML."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cursus.errors import SpecError

SPECS_DIR = Path(__file__).parent / "specs"
SCRIPTS_DIR = Path(__file__).parent / "scripts"

JobKind = Literal["processing", "training", "create_model", "transform", "register"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]


class InputSpec(_Strict):
    name: Name
    kind: str
    required: bool = True
    compatible_sources: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    description: str = ""


class OutputSpec(_Strict):
    name: Name
    kind: str
    aliases: tuple[str, ...] = ()
    description: str = ""


class EnvSource(_Strict):
    """Where an environment variable's value comes from: a config field or the runtime."""

    config: str | None = None
    runtime: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvSource:
        if (self.config is None) == (self.runtime is None):
            raise ValueError("give exactly one of 'config' or 'runtime'")
        return self


class ScriptContract(_Strict):
    entry_point: str
    inputs: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    env: dict[str, EnvSource] = Field(default_factory=dict)
    job_args: dict[str, EnvSource] = Field(default_factory=dict)

    @field_validator("inputs", "outputs")
    @classmethod
    def _absolute_container_paths(cls, paths: dict[str, str]) -> dict[str, str]:
        for name, path in paths.items():
            if not path.startswith("/opt/ml/"):
                raise ValueError(
                    f"container path of '{name}' must lie under /opt/ml/, got {path!r}"
                )
        return paths


class StepSpec(_Strict):
    step_type: str
    description: str = ""
    job_kind: JobKind
    framework: str
    config_class: str
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    contract: ScriptContract
    source_file: str = ""
    digest: str = ""

    @model_validator(mode="after")
    def _contract_matches(self) -> StepSpec:
        names = [i.name for i in self.inputs]
        outs = [o.name for o in self.outputs]
        for label, seq in (("input", names), ("output", outs)):
            dup = {n for n in seq if seq.count(n) > 1}
            if dup:
                raise ValueError(f"duplicate {label} names {sorted(dup)}")
        if set(names) != set(self.contract.inputs):
            raise ValueError(
                f"contract.inputs {sorted(self.contract.inputs)} must list exactly the inputs {sorted(names)}"
            )
        if set(outs) != set(self.contract.outputs):
            raise ValueError(
                f"contract.outputs {sorted(self.contract.outputs)} must list exactly the outputs {sorted(outs)}"
            )
        return self

    def input(self, name: str) -> InputSpec:
        return next(i for i in self.inputs if i.name == name)

    def output(self, name: str) -> OutputSpec:
        return next(o for o in self.outputs if o.name == name)

    @property
    def script_path(self) -> Path:
        return SCRIPTS_DIR / self.contract.entry_point


def load_spec_file(path: Path) -> StepSpec:
    """Parse and validate one spec file; a broken one is reported by file and field."""
    try:
        raw_text = path.read_bytes()
        data = yaml.safe_load(raw_text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where else ""
        raise SpecError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise SpecError(
            f"{path}: a spec is a YAML mapping with step_type, job_kind, inputs, outputs, contract"
        )
    try:
        spec = StepSpec.model_validate(
            {**data, "source_file": str(path), "digest": hashlib.sha256(raw_text).hexdigest()}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SpecError(f"{path}: field '{field}': {first['msg']}") from None
    if not spec.script_path.is_file() and path.parent == SPECS_DIR:
        raise SpecError(
            f"{path}: contract.entry_point {spec.contract.entry_point!r} is not in {SCRIPTS_DIR}"
        )
    return spec


def load_specs(directory: Path = SPECS_DIR) -> dict[str, StepSpec]:
    specs: dict[str, StepSpec] = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = load_spec_file(path)
        if spec.step_type in specs:
            raise SpecError(
                f"{path}: step_type '{spec.step_type}' is also declared in {specs[spec.step_type].source_file}"
            )
        specs[spec.step_type] = spec
    return specs


def spec_summary(spec: StepSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"source_file", "digest"})
