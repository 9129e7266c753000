"""Step specs: the declarative description of a step type, loaded from YAML."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cursus.errors import SpecError, describe_validation_error

# a step unit's spec is `<name>.step.yaml`; its script and bundle files lie beside it
SPEC_SUFFIX = ".step.yaml"

JobKind = Literal["processing", "training", "create_model", "transform", "register"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _check_name(value: str) -> str:
    """Input and output names become folder names and keys: no '/', '.' or spaces."""
    if not _NAME.match(value):
        raise ValueError(
            "use up to 64 letters, digits and underscores, starting with a letter or underscore "
            "(no '/', '.' or spaces)"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]


class InputSpec(_Strict):
    name: Name
    kind: str
    required: bool = True
    # inputs of one step sharing a one_of name are alternatives: at least one must be bound
    # (Payload reads a packaged model or a trained one); each is declared required: false
    one_of: str = ""
    compatible_sources: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    # between producers that fit equally well, prefer one of the node's own job type ("same":
    # its data) or of the training job type ("training": what was fitted there)
    job_type_affinity: Literal["", "same", "training"] = ""
    description: str = ""

    @model_validator(mode="after")
    def _alternatives_are_optional(self) -> InputSpec:
        if self.one_of and self.required:
            raise ValueError(
                f"input '{self.name}' is in one_of group '{self.one_of}', so declare it "
                "required: false (the group as a whole is required)"
            )
        return self


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
    # what a container must pip-install beyond its framework image to run the script
    requirements: tuple[str, ...] = ()
    # files beside the script that its job needs besides the shared `_*.py` modules (Package
    # copies inference.py into the model it builds)
    bundle: tuple[str, ...] = ()

    @field_validator("bundle")
    @classmethod
    def _plain_file_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if "/" in name or name.startswith(".") or not name:
                raise ValueError(
                    f"bundle file {name!r} must be a plain file name beside the script "
                    "(no folders, not hidden)"
                )
        return names

    @field_validator("inputs", "outputs")
    @classmethod
    def _absolute_container_paths(cls, paths: dict[str, str]) -> dict[str, str]:
        for name, path in paths.items():
            if not path.startswith("/opt/ml/") or ".." in path.split("/"):
                raise ValueError(
                    f"container path of '{name}' must lie under /opt/ml/ (and not climb out with "
                    f"'..'), got {path!r}"
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
    folder: str = ""  # the unit's folder: its script and bundle files are here

    @model_validator(mode="after")
    def _contract_matches(self) -> StepSpec:
        for label, names in (
            ("inputs", [i.name for i in self.inputs]),
            ("outputs", [o.name for o in self.outputs]),
        ):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"field '{label}': {dup} declared twice; give each its own name")
            paths = getattr(self.contract, label)
            missing = [n for n in names if n not in paths]
            if missing:
                raise ValueError(
                    f"field 'contract.{label}': no container path for {missing}; add one for each "
                    f"of the step's {label}"
                )
            extra = sorted(set(paths) - set(names))
            if extra:
                raise ValueError(
                    f"field 'contract.{label}': {extra} not declared under '{label}'; remove them "
                    f"or declare them"
                )
        return self

    def input(self, name: str) -> InputSpec:
        return next(i for i in self.inputs if i.name == name)

    def output(self, name: str) -> OutputSpec:
        return next(o for o in self.outputs if o.name == name)

    @property
    def script_path(self) -> Path:
        return Path(self.folder) / self.contract.entry_point

    @property
    def bundle_paths(self) -> list[Path]:
        """Every file the step's job runs with: the script, the shared `_*.py` modules beside
        it, and the contract's extra bundle files, sorted by name after the script."""
        script = self.script_path
        folder = script.parent
        extra = [folder / name for name in self.contract.bundle]
        try:
            listed = folder.stat().st_mtime_ns  # changes when a file is added or removed
        except OSError:
            listed = -1
        return [script, *sorted({*_shared_modules(str(folder), listed), *extra})]


@cache
def _shared_modules(folder: str, listed_at: int) -> tuple[Path, ...]:
    """The `_*.py` modules of a unit folder, listed once per change of the folder."""
    return tuple(Path(folder).glob("_*.py"))


# libyaml's safe loader where PyYAML was built with it: the step library's ~30 specs parse in
# ~30 ms instead of ~330 ms, which every command that builds the library pays
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec_file(path: Path) -> StepSpec:
    """Parse and validate one spec file; a broken one is reported by file and field."""
    try:
        raw_text = path.read_bytes()
        data = yaml.load(raw_text, Loader=_SAFE_LOADER)  # a safe loader (libyaml or Python)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where else ""
        raise SpecError(
            f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}; fix the syntax there"
        ) from None
    if not isinstance(data, dict):
        raise SpecError(
            f"{path}: a spec is a YAML mapping with step_type, job_kind, inputs, outputs, contract"
        )
    try:
        spec = StepSpec.model_validate(
            {
                **data,
                "source_file": str(path),
                "digest": hashlib.sha256(raw_text).hexdigest(),
                "folder": str(path.parent),
            }
        )
    except ValidationError as exc:
        raise SpecError(f"{path}: {describe_validation_error(exc.errors()[0])}") from None
    if not spec.script_path.is_file():
        raise SpecError(
            f"{path}: contract.entry_point {spec.contract.entry_point!r} is not in {path.parent}; "
            "a step unit's script lies beside its spec"
        )
    missing = [p.name for p in spec.bundle_paths[1:] if not p.is_file()]
    if missing:
        raise SpecError(
            f"{path}: contract.bundle names {missing}, which are not in {path.parent}; "
            "add the files or remove them from the bundle"
        )
    return spec


def load_specs(directory: Path) -> dict[str, StepSpec]:
    """Every `*.step.yaml` of one folder; one step type declared twice is an error."""
    specs: dict[str, StepSpec] = {}
    for path in sorted(directory.glob(f"*{SPEC_SUFFIX}")):
        spec = load_spec_file(path)
        if spec.step_type in specs:
            raise SpecError(
                f"{path}: step_type '{spec.step_type}' is also declared in "
                f"{specs[spec.step_type].source_file}; keep one spec file per step type"
            )
        specs[spec.step_type] = spec
    return specs


def spec_summary(spec: StepSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"source_file", "digest", "folder"})
