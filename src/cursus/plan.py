"""The Plan: the compiler's backend-neutral output, a JSON document a person can read and diff."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cursus.errors import PlanError
from cursus.files import read_json_file

# 3: config values every step shares are written once, under "shared_config" (a 5 MB
# description was written once per step); format 2 plans (each step's config whole) still load
PLAN_FORMAT = 3
READABLE_FORMATS = (2, 3)


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
    # config fields (and the env variables they feed) whose values are secret (cursus.redaction)
    secrets: list[str] = field(default_factory=list)

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


def shared_config(steps: list[PlanStep]) -> dict[str, Any]:
    """The config values every step has, equal in all of them (none for fewer than two steps)."""
    if len(steps) < 2:
        return {}
    first, rest = steps[0].config, [s.config for s in steps[1:]]
    return {k: v for k, v in first.items() if all(k in c and c[k] == v for c in rest)}


def expand_plan_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A plan file's JSON with the shared config put back into each step (what format 2 held):
    for readers of the raw JSON."""
    try:
        shared = _shared_of(data)
    except (KeyError, TypeError, AttributeError):
        return data
    if not shared or not isinstance(data.get("steps"), list):
        return data
    steps = [
        {**s, "config": {**shared, **(s.get("config") or {})}} if isinstance(s, dict) else s
        for s in data["steps"]
    ]
    return {**data, "steps": steps}


def _shared_of(data: dict[str, Any]) -> dict[str, Any]:
    """The config values a format 3 plan wrote once: its shared_config and the pipeline
    fields it names."""
    pipeline = data.get("pipeline") or {}
    named = {k: pipeline[k] for k in data.get("shared_from_pipeline") or []}
    return {**named, **(data.get("shared_config") or {})}


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

        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        shared = shared_config(self.steps)
        # what the pipeline section holds already is named, not written again
        from_pipeline = sorted(
            k for k, v in shared.items() if k in self.pipeline and self.pipeline[k] == v
        )
        data["shared_config"] = {k: v for k, v in shared.items() if k not in from_pipeline}
        data["shared_from_pipeline"] = from_pipeline
        data["steps"] = [
            {
                **vars(step),
                "config": {k: v for k, v in step.config.items() if k not in shared},
                "settings": vars(step.settings),
            }
            for step in self.steps
        ]
        options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        return orjson.dumps(data, option=options).decode() + "\n"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if any(s.secrets for s in self.steps):  # the steps run from it: only its owner reads it
            path.touch(mode=0o600, exist_ok=True)
            path.chmod(0o600)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<plan>") -> Plan:
        if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
            raise PlanError(
                f"{source}: not a Cursus plan of format {PLAN_FORMAT}; recompile it with `cursus compile`"
            )
        try:
            shared = _shared_of(data)
            steps = [
                PlanStep(
                    **{
                        **s,
                        "config": {**shared, **s["config"]},
                        "settings": RunSettings(**s.get("settings", {})),
                    }
                )
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
