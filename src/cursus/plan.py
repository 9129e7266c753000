"""The Plan: the compiler's backend-neutral output, a JSON document a person can read and diff."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cursus.errors import PlanError
from cursus.files import read_json_file

PLAN_FORMAT = 2


def dag_digest(dag: dict[str, Any]) -> str:
    """The one digest of a DAG (`Plan.dag`, or `PipelineDAG.to_dict()["dag"]`): sha256 of the
    DAG file `PipelineDAG.to_json()` writes for it, so the template registry, MLflow tags and
    the catalog agree on it."""
    body = {
        "description": dag.get("description", ""),
        "nodes": list(dag.get("nodes", [])),
        "edges": [list(edge) for edge in dag.get("edges", [])],
    }
    return hashlib.sha256((json.dumps({"dag": body}, indent=2) + "\n").encode()).hexdigest()


@dataclass
class RunSettings:
    """How a step is run, with every default applied once, by the compiler."""

    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 86400
    retries: int = 0  # extra attempts after a failure
    retry_backoff_seconds: float = 1.0
    cache: bool = True


@dataclass
class PlanStep:
    name: str
    step_type: str
    job_type: str | None
    job_kind: str
    framework: str
    depends_on: list[str]
    config: dict[str, Any]
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    # folder (the step unit's), entry_point, files (what the job runs with, the entry point
    # first: every one in `folder`), sha256 (of those files), requirements, bundle
    script: dict[str, Any]
    spec_digest: str
    env: dict[str, str] = field(default_factory=dict)
    runtime_env: dict[str, str] = field(default_factory=dict)
    job_args: dict[str, Any] = field(default_factory=dict)
    input_paths: dict[str, str] = field(default_factory=dict)  # input name -> container path
    settings: RunSettings = field(default_factory=RunSettings)

    @property
    def script_folder(self) -> Path:
        return Path(self.script["folder"])

    @property
    def script_path(self) -> Path:
        return self.script_folder / self.script["entry_point"]


def produces_model(step: PlanStep) -> bool:
    """A training step, or a step that brings a model in as if it trained it (DummyTraining:
    a processing step with a model_artifacts output)."""
    return step.job_kind == "training" or any(
        out.get("kind") == "model_artifacts" for out in step.outputs.values()
    )


def training_step_upstream(step: PlanStep, steps: dict[str, PlanStep]) -> PlanStep | None:
    """The nearest step producing a model (`produces_model`) that `step` reads from, directly or
    through other steps of `steps` (name -> step); None when there is none upstream."""
    queue = [b["from_step"] for b in step.inputs.values() if "from_step" in b]
    seen: set[str] = set()
    while queue:
        node = queue.pop(0)
        if node in seen or node not in steps:
            continue
        seen.add(node)
        upstream = steps[node]
        if produces_model(upstream):
            return upstream
        queue += [b["from_step"] for b in upstream.inputs.values() if "from_step" in b]
    return None


@dataclass
class Plan:
    pipeline: dict[str, Any]
    dag: dict[str, Any]
    steps: list[PlanStep]
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # values right only on this machine (sample data, the default label, local paths), each
    # {kind, targets, message}: the targets that refuse them (cursus.core.portability)
    local_only: list[dict[str, Any]] = field(default_factory=list)
    format: int = PLAN_FORMAT

    def step(self, name: str) -> PlanStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise PlanError(
            f"the plan has no step '{name}'; its steps are: {', '.join(s.name for s in self.steps)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Indented, keys sorted: the same DAG and config give the same text. The data of
        to_dict() without asdict's deep copy (the encoder only reads the step dicts), written by
        orjson (the standard library's indenting encoder is pure Python: most of a big compile)."""
        import orjson

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["steps"] = [{**vars(step), "settings": vars(step.settings)} for step in self.steps]
        options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        return orjson.dumps(data, option=options).decode() + "\n"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<plan>") -> Plan:
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise PlanError(
                f"{source}: not a Cursus plan of format {PLAN_FORMAT}; recompile it with `cursus compile`"
            )
        try:
            steps = [
                PlanStep(**{**s, "settings": RunSettings(**s.get("settings", {}))})
                for s in data["steps"]
            ]
            return cls(
                pipeline=data["pipeline"],
                dag=data["dag"],
                steps=steps,
                parameters=data.get("parameters", {}),
                warnings=data.get("warnings", []),
                local_only=data.get("local_only", []),
            )
        except (KeyError, TypeError) as exc:
            raise PlanError(
                f"{source}: malformed plan ({exc}); recompile it with `cursus compile`"
            ) from None

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        data = read_json_file(path, PlanError, "plan file")
        return cls.from_dict(data, str(path))

    def summary(self) -> str:
        lines = [
            f"{self.pipeline['pipeline_name']} {self.pipeline['pipeline_version']}: {len(self.steps)} steps"
        ]
        for s in self.steps:
            feeds = ", ".join(
                f"{k}<-{v['from_step']}.{v['output']}" if "from_step" in v else f"{k}<-{v['uri']}"
                for k, v in s.inputs.items()
            )
            lines.append(f"  {s.name} [{s.job_kind}]" + (f"  {feeds}" if feeds else ""))
        return "\n".join(lines)
