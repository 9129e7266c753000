"""Catalog utilities: find a pipeline, build it with the right compiler, run it, recommend one.

Everything here reads the index first; a pipeline module (and the compiler) is imported only
when a pipeline is built, so listing and recommending stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cursus.pipeline_catalog.index import VIEWS, entries, get_entry, get_pipeline, load_index
from cursus.pipeline_catalog.model import COMPLEXITIES, FEATURES, FRAMEWORKS, TASKS, CatalogError
from cursus.pipeline_catalog.shared_dags import load_shared_dag_module

if TYPE_CHECKING:
    from cursus.api.dag import PipelineDAG
    from cursus.backends.local.runner import RunResult

__all__ = [
    "Recommendation",
    "create_pipeline_from_catalog",
    "export_model",
    "get_mods_pipelines",
    "get_standard_pipelines",
    "list_pipelines_by_compiler_type",
    "load_shared_dag",
    "recommend_pipelines",
    "run_catalog_pipeline",
    "write_sample_config",
]


def create_pipeline_from_catalog(
    pipeline_id: str, config_path: str | Path, target: str = "sagemaker", **kwargs: Any
) -> Any:
    """Build catalog pipeline `pipeline_id` with the configs in `config_path`.

    The entry's compiler_type picks the compiler: PipelineDAGCompiler ("standard") or
    MODSPipelineDAGCompiler ("mods", which also registers the template). target "sagemaker"
    returns a `sagemaker.workflow.pipeline.Pipeline` built offline; "plan" returns the Plan.
    kwargs go to the compiler: sagemaker_session (or session), role, pipeline_parameters.
    """
    if "session" in kwargs:
        kwargs["sagemaker_session"] = kwargs.pop("session")
    return get_pipeline(pipeline_id).create_pipeline(config_path, target=target, **kwargs)


def list_pipelines_by_compiler_type(compiler_type: str = "standard") -> list[dict[str, Any]]:
    """The index entries of one compiler type ("standard" or "mods")."""
    return [dict(e) for e in entries(compiler_type)]


def get_mods_pipelines() -> list[dict[str, Any]]:
    return list_pipelines_by_compiler_type("mods")


def get_standard_pipelines() -> list[dict[str, Any]]:
    return list_pipelines_by_compiler_type("standard")


def load_shared_dag(dag_id: str) -> PipelineDAG:
    """The DAG of a shared DAG ('xgboost.complete_e2e') or of a catalog pipeline
    ('xgboost_complete_e2e_mods'): a pipeline id names its shared DAG."""
    if "." not in dag_id:
        dag_id = get_entry(dag_id)["shared_dag"]
    dag: PipelineDAG = load_shared_dag_module(dag_id).create_dag()
    return dag


def write_sample_config(
    pipeline_id: str, path: str | Path, model_uri: str | None = None, **overrides: Any
) -> Path:
    """Write the sample config of `pipeline_id`: it runs locally on the bundled data as it is."""
    from cursus.pipeline_catalog import samples

    return samples.write_sample_config(get_pipeline(pipeline_id), path, model_uri, **overrides)


# ---------------------------------------------------------------- running


def run_catalog_pipeline(
    pipeline_id: str, config_path: str | Path, workspace: str | Path | None = None, **kwargs: Any
) -> RunResult:
    """Run catalog pipeline `pipeline_id` here with the local runner (kwargs: workers, use_cache,
    hooks, tracking, registry_uri, as `cursus.targets.run_pipeline` takes them)."""
    from cursus.targets import run_pipeline

    dag = get_pipeline(pipeline_id).create_dag()
    return run_pipeline(dag, config_path, workspace=workspace, **kwargs)


def export_model(result: RunResult, destination: str | Path) -> Path:
    """Copy the model a run trained (its training step's model_artifacts output) to
    `destination`, where a deployment pipeline's config can bind it."""
    import shutil

    from cursus.steps.library import get_step_unit, split_node_name

    models = []
    for node, step in result.steps.items():
        spec = get_step_unit(split_node_name(node)[0]).spec
        models += [
            step.outputs[o.name]
            for o in spec.outputs
            if o.kind == "model_artifacts" and o.name in step.outputs
        ]
    if len(models) != 1:
        raise CatalogError(
            f"run {result.run_id} trained {len(models)} models; export needs a run of a pipeline "
            "with one training step that succeeded"
        )
    destination = Path(destination).resolve()
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(models[0], destination)
    return destination


# ---------------------------------------------------------------- recommending


@dataclass(frozen=True)
class Recommendation:
    id: str
    score: float
    reasons: tuple[str, ...]
    entry: dict[str, Any] = field(repr=False, compare=False)


def recommend_pipelines(
    framework: str | None = None,
    task: str | None = None,
    features: tuple[str, ...] | list[str] = (),
    compiler_type: str | None = None,
    limit: int = 5,
) -> list[Recommendation]:
    """Catalog pipelines ranked for a framework, a task and wanted features, each with why.

    Score: framework +3 (a generic pipeline +1, another framework is left out); task +3 when it
    is the pipeline's task, +1 when the pipeline does it on the way (a task view); +1 per wanted
    feature it has, -1 per wanted feature it lacks. Ties go to the simpler pipeline.
    """
    _check_choice("framework", framework, FRAMEWORKS)
    _check_choice("task", task, tuple(dict.fromkeys((*TASKS, *VIEWS))))
    for feature in features:
        _check_choice("feature", feature, FEATURES)
    views = load_index()["views"]
    ranked = []
    for entry in entries(compiler_type):
        score = 0.0
        reasons: list[str] = []
        if framework is not None:
            if entry["framework"] == framework:
                score, reasons = score + 3, [*reasons, f"framework {framework}"]
            elif entry["framework"] == "generic":
                score, reasons = score + 1, [*reasons, f"works with any framework, {framework} too"]
            else:
                continue
        if task is not None:
            in_view = entry["id"] in [i for kind in views.get(task, {}).values() for i in kind]
            if entry["task"] == task:
                score, reasons = score + 3, [*reasons, f"task {task}"]
            elif in_view:
                score, reasons = score + 1, [*reasons, f"does {task} as part of {entry['task']}"]
            else:
                continue
        have = [f for f in features if f in entry["features"]]
        lack = [f for f in features if f not in entry["features"]]
        score += len(have) - len(lack)
        if have:
            reasons.append(f"has {', '.join(have)}")
        if lack:
            reasons.append(f"lacks {', '.join(lack)}")
        ranked.append(Recommendation(entry["id"], score, tuple(reasons), dict(entry)))
    ranked.sort(key=lambda r: (-r.score, COMPLEXITIES.index(r.entry["complexity"]), r.id))
    return ranked[:limit]


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise CatalogError(f"unknown {name} '{value}'; use one of: {', '.join(allowed)}")
