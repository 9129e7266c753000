"""validate -> resolve -> Plan: the compiler proper, which ends at the Plan.

`compile_plan(dag, config)` is the one way to a Plan; `validate` finds every problem at once.
Backends start from the Plan and never reach back here (`cursus.core.compiler` is the facade
users hold; `cursus.targets` takes a Plan where it goes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.core.config_file import Configs, check_configs_cover_dag, read_configs
from cursus.core.portability import (
    OFF_MACHINE_TARGETS,
    local_only_values,
    refusals,
    region_refusals,
)
from cursus.core.resolver import Binding, node_specs, resolve
from cursus.errors import ConfigError, CursusError, SpecError, ValidationFailed
from cursus.frameworks import MODEL_FRAMEWORK, get_framework, model_frameworks
from cursus.plan import Plan, PlanStep, RunSettings, training_step_upstream
from cursus.steps.configs import BasePipelineConfig, config_field_value
from cursus.steps.spec import EnvSource, StepSpec

PIPELINE_FIELDS = (
    "author",
    "pipeline_name",
    "pipeline_version",
    "pipeline_description",
    "region",
    "role",
    "bucket",
)


@dataclass
class ValidationReport:
    problems: list[CursusError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # for a local target: the values SageMaker and Airflow would refuse (Plan.local_only)
    local_only: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self) -> None:
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise ValidationFailed(self.problems)


@cache
def _file_sha256(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def script_digest(spec: StepSpec, parts: list[Path]) -> str:
    """Digest of every file the step's job runs with (`spec.bundle_paths`: the script, the
    shared `_*.py` modules beside it and the contract's bundle files)."""
    for path in parts:
        if not path.is_file():
            raise SpecError(f"{spec.source_file}: script file {path} is missing")
    joined = "".join(f"{p.name}:{_file_sha256(p, p.stat().st_mtime_ns)}\n" for p in parts)
    return hashlib.sha256(joined.encode()).hexdigest()


def _pipeline_metadata(configs: Configs, source: str) -> tuple[dict[str, Any], list[CursusError]]:
    problems: list[CursusError] = []
    meta: dict[str, Any] = {}
    for name in PIPELINE_FIELDS:
        by_value: dict[str | None, list[str]] = {}  # every pipeline field is a str or None
        for node, cfg in configs.items():
            by_value.setdefault(getattr(cfg, name), []).append(node)
        if len(by_value) > 1:
            # name a few nodes per value: a message stays readable on a DAG of thousands of nodes
            seen = "; ".join(f"{json.dumps(v)} in {_few(nodes)}" for v, nodes in by_value.items())
            problems.append(
                ConfigError(
                    f"{source}: pipeline field '{name}' differs between nodes ({seen}); set it "
                    'once under "shared" and remove it from "specific"'
                )
            )
        meta[name] = getattr(next(iter(configs.values())), name) if configs else None
    return meta, problems


def _few(names: list[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _env(spec: StepSpec, config: BasePipelineConfig) -> tuple[dict[str, str], dict[str, str]]:
    env: dict[str, str] = {}
    runtime: dict[str, str] = {}
    for name, source in spec.contract.env.items():
        if source.runtime is not None:
            runtime[name] = source.runtime
            continue
        value = _config_value(source, config)
        if value is not None:
            env[name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return env, runtime


def _config_value(source: EnvSource, config: BasePipelineConfig) -> Any:
    assert source.config is not None
    return config_field_value(config, source.config)


def _plan_step(
    node: str,
    spec: StepSpec,
    config: BasePipelineConfig,
    bindings: list[Binding],
    dag: PipelineDAG,
    script_sha256: str,
    script_files: list[str],
) -> PlanStep:
    inputs: dict[str, dict[str, Any]] = {}
    for b in bindings:
        if b.uri is not None:
            inputs[b.input] = {"uri": b.uri}
        elif b.producer is not None:
            inputs[b.input] = {
                "from_step": b.producer,
                "output": b.output,
                "score": b.score,
                "reasons": list(b.reasons),
            }
    env, runtime_env = _env(spec, config)
    return PlanStep(
        name=node,
        step_type=spec.step_type,
        job_type=config.job_type,
        job_kind=spec.job_kind,
        framework=spec.framework,
        depends_on=dag.get_dependencies(node),
        config={"class": type(config).__name__, **config.model_dump(mode="json")},
        inputs=inputs,
        outputs={
            o.name: {"kind": o.kind, "container_path": spec.contract.outputs[o.name]}
            for o in spec.outputs
        },
        script={
            "folder": spec.folder,
            "entry_point": spec.contract.entry_point,
            "files": list(script_files),
            "sha256": script_sha256,
            "requirements": list(spec.contract.requirements),
            "bundle": list(spec.contract.bundle),
        },
        spec_digest=spec.digest,
        env=env,
        runtime_env=runtime_env,
        job_args={
            k: _config_value(v, config) for k, v in spec.contract.job_args.items() if v.config
        },
        input_paths=dict(spec.contract.inputs),
        settings=RunSettings(**{f.name: getattr(config, f.name) for f in fields(RunSettings)}),
        secrets=_secrets(spec, config),
    )


def _secrets(spec: StepSpec, config: BasePipelineConfig) -> list[str]:
    """The node's secret config fields (marked, or named so) and the env variables they feed."""
    from cursus.redaction import is_secret_name
    from cursus.steps.configs import secret_fields

    marked = set(secret_fields(type(config)))
    names = {f for f in type(config).model_fields if f in marked or is_secret_name(f)}
    env = {
        var
        for var, source in spec.contract.env.items()
        if (source.config in names) or is_secret_name(var)
    }
    return sorted(names | env)


def _model_framework(step: PlanStep, earlier: dict[str, PlanStep], config: Any) -> str:
    """The framework of the training step upstream of `step`, else the node's model_framework."""
    trained_by = training_step_upstream(step, earlier)
    if trained_by is not None:
        return trained_by.framework
    framework = getattr(config, "model_framework", None)
    if framework:
        return get_framework(str(framework), f"node '{step.name}': field 'model_framework'").name
    raise ConfigError(
        f"node '{step.name}' runs the model it reads, so it needs the model's framework: no "
        "training step is upstream of it and its config sets no model_framework; add the "
        f"training step, or set model_framework ({' or '.join(model_frameworks())}) in this "
        "node's config"
    )


def validate(
    dag: PipelineDAG,
    configs: Configs,
    source: str = "<config>",
    broken: set[str] | frozenset[str] = frozenset(),
    check_data: bool = False,
) -> tuple[ValidationReport, dict[str, list[Binding]]]:
    """Find every problem at once: node names, configs, pipeline metadata, bindings, and with
    `check_data` the labels of readable data sources against their problem_type.

    `broken` names nodes whose config failed to load (reported by the caller); the rest of the
    pipeline is still checked, and inputs are resolved for every node that has a config.
    """
    report = ValidationReport()
    report.problems += check_configs_cover_dag(configs, dag, source, skip=broken)
    in_dag = {n: c for n, c in configs.items() if n in dag}
    extra = sorted(set(configs) - set(dag.nodes))
    if extra:
        report.warnings.append(
            f"{source}: configs for nodes not in the DAG are ignored: {', '.join(extra)}"
        )
    _, meta_problems = _pipeline_metadata(in_dag, source)
    report.problems += meta_problems
    if node_specs(dag)[1]:  # a node names no step type: reported above, nothing to resolve
        return report, {}
    bindings, problems, warnings = resolve(dag, in_dag)
    report.problems += problems
    report.warnings += warnings
    if check_data:
        from cursus.core.data_checks import label_problems, source_problems

        report.problems += source_problems(dag, in_dag)

        report.problems += label_problems(dag, in_dag)
    return report, bindings


def _compile(dag: PipelineDAG, configs: Configs, source: str) -> Plan:
    report, bindings = validate(dag, configs, source)
    report.raise_if_failed()
    specs, _ = node_specs(dag)
    meta, _ = _pipeline_metadata({n: configs[n] for n in dag.nodes}, source)
    # one digest per script per compile, not per node: scripts do not change mid-compile
    by_type = {spec.step_type: spec for spec in specs.values()}
    bundles = {step_type: spec.bundle_paths for step_type, spec in by_type.items()}
    digests = {t: script_digest(by_type[t], paths) for t, paths in bundles.items()}
    files = {t: [p.name for p in paths] for t, paths in bundles.items()}
    steps: list[PlanStep] = []
    for n in dag.topological_sort():
        step_type = specs[n].step_type
        step = _plan_step(
            n, specs[n], configs[n], bindings[n], dag, digests[step_type], files[step_type]
        )
        if step.framework == MODEL_FRAMEWORK:
            step.framework = _model_framework(step, {s.name: s for s in steps}, configs[n])
        steps.append(step)
    return Plan(
        pipeline=meta,
        dag=dag.to_dict()["dag"],
        steps=steps,
        warnings=report.warnings,
        local_only=local_only_values(dag, configs),
    )


def compile_plan(dag: PipelineDAG | str | Path, config: str | Path | Configs) -> Plan:
    """The one way to a Plan. `dag`: a PipelineDAG, a DAG file or a bundled DAG's name;
    `config`: a config file (every problem in it is reported with every problem of the
    pipeline, at once) or configs already loaded (node -> config object)."""
    from cursus.api.loading import load_dag

    graph = dag if isinstance(dag, PipelineDAG) else load_dag(dag)
    if isinstance(config, dict):
        return _compile(graph, config, "<config>")
    configs, config_problems, broken = read_configs(config)
    if config_problems:
        report, _ = validate(graph, configs, str(config), broken)
        report.problems[:0] = config_problems
        report.raise_if_failed()
    return _compile(graph, configs, str(config))


def validate_files(
    dag: PipelineDAG,
    config_path: str | Path,
    target: str = "local",
    allow_sample_data: bool = False,
) -> ValidationReport:
    """Every problem of a config file and of the DAG with it, at once. For a `target` off this
    machine (sagemaker, airflow) the values only this machine can run are problems too; for a
    local one they are listed in `local_only`, so a user learns before compiling what will be
    refused."""
    try:
        configs, config_problems, broken = read_configs(config_path)
    except CursusError as exc:  # unreadable or wrongly shaped: nothing more to check
        return ValidationReport(problems=[exc])
    report, _ = validate(dag, configs, str(config_path), broken, check_data=True)
    report.problems[:0] = config_problems
    in_dag = {n: c for n, c in configs.items() if n in dag}
    local_only = local_only_values(dag, in_dag)
    if target in OFF_MACHINE_TARGETS:
        report.problems += refusals(local_only, target, allow_sample_data)
        regions = sorted({c.region for c in in_dag.values()})
        report.problems += [p for r in regions for p in region_refusals(r, target)]
    else:
        report.local_only = local_only
    return report
