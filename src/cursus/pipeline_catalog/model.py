"""What the catalog knows about a DAG shape and about a pipeline built from it.

Plain dataclasses: importing this module costs nothing, so the catalog's index and CLI stay fast.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cursus.errors import CursusError
from cursus.frameworks import model_frameworks

if TYPE_CHECKING:
    from cursus.api.dag import PipelineDAG
    from cursus.steps.spec import StepSpec

# a catalog pipeline trains with a framework of the table, or works with any ("generic")
FRAMEWORKS = (*model_frameworks(), "generic")
COMPLEXITIES = ("simple", "standard", "advanced", "comprehensive")
COMPILER_TYPES = ("standard", "mods")
TASKS = ("training", "evaluation", "calibration", "end_to_end", "deployment")

# what a step contributes to a pipeline, read off its spec: its job kind, else the first kind of
# data it produces here, so a step type added to the library needs no entry of its own
JOB_KIND_FEATURES = {"training": "training", "register": "registration"}
OUTPUT_KIND_FEATURES = (
    ("packaged_model", "packaging"),
    ("payload", "payload"),
    ("calibration_model", "calibration"),
    ("drift_report", "drift_check"),
    ("predictions", "evaluation"),
    ("processed_tabular", "preprocessing"),
    ("data_schema", "data_loading"),
)
STEP_FEATURE_ORDER = (
    "data_loading",
    "preprocessing",
    "training",
    "evaluation",
    "calibration",
    "packaging",
    "payload",
    "registration",
    "drift_check",
)
# features no single step gives: how the DAG is shaped or fed
SHAPE_FEATURES = ("holdout_data", "existing_model", "multiclass", "regression")
FEATURES = (*STEP_FEATURE_ORDER, *SHAPE_FEATURES)


class CatalogError(CursusError):
    """An unknown catalog id, a wrong compiler type, or an index that disagrees with the code."""


def step_feature(spec: StepSpec) -> str | None:
    """The feature a step of this spec gives a pipeline (None: none the catalog names)."""
    if spec.job_kind in JOB_KIND_FEATURES:
        return JOB_KIND_FEATURES[spec.job_kind]
    kinds = {o.kind for o in spec.outputs}
    return next((feature for kind, feature in OUTPUT_KIND_FEATURES if kind in kinds), None)


def step_features(dag: PipelineDAG) -> list[str]:
    """The features the DAG's step types give, in the order of FEATURES."""
    from cursus.steps.library import step_library

    library = step_library()
    found = {step_feature(library.get(library.split_node_name(node)[0]).spec) for node in dag.nodes}
    return [f for f in FEATURES if f in found]


@dataclass(frozen=True)
class DagMetadata:
    """One schema for every shared DAG's `get_dag_metadata()`."""

    id: str  # "xgboost.complete_e2e": the module under shared_dags
    description: str
    framework: str
    complexity: str
    features: tuple[str, ...]
    node_count: int
    edge_count: int
    bundled_name: str | None = None  # written to src/cursus/data/dags/<name>.json
    # "Node.input" -> what must be bound to it from outside the pipeline
    external_inputs: dict[str, str] = field(default_factory=dict)
    # what the sample config sets beyond the defaults: shared fields (problem_type) and, per node,
    # its own (a DataLoading's data_source), so the pipeline runs on bundled data that fits it
    sample_shared: dict[str, Any] = field(default_factory=dict)
    sample_nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _one_of("framework", self.framework, FRAMEWORKS, self.id)
        _one_of("complexity", self.complexity, COMPLEXITIES, self.id)
        for feature in self.features:
            _one_of("features", feature, FEATURES, self.id)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = list(self.features)
        return data


def describe_dag(
    module_name: str,
    dag: PipelineDAG,
    *,
    framework: str,
    complexity: str,
    features: tuple[str, ...],
    bundled_name: str | None = None,
    external_inputs: dict[str, str] | None = None,
    sample_shared: dict[str, Any] | None = None,
    sample_nodes: dict[str, dict[str, Any]] | None = None,
) -> DagMetadata:
    """The metadata of a shared DAG: counts come from the DAG itself, the rest as declared;
    the declared features must include every feature the DAG's steps give."""
    dag_id = module_name.rpartition("shared_dags.")[2]
    missing = [f for f in step_features(dag) if f not in features]
    if missing:
        raise CatalogError(
            f"shared DAG '{dag_id}': its steps give features {missing} that its metadata does "
            "not declare; add them to `features`"
        )
    unknown = sorted(set(sample_nodes or {}) - set(dag.nodes))
    if unknown:
        raise CatalogError(f"shared DAG '{dag_id}': sample_nodes names nodes not in it: {unknown}")
    return DagMetadata(
        id=dag_id,
        description=dag.description,
        framework=framework,
        complexity=complexity,
        features=tuple(features),
        node_count=len(dag),
        edge_count=len(dag.edges),
        bundled_name=bundled_name,
        external_inputs=dict(external_inputs or {}),
        sample_shared=dict(sample_shared or {}),
        sample_nodes={node: dict(values) for node, values in (sample_nodes or {}).items()},
    )


@dataclass(frozen=True)
class ModsMetadata:
    """What the MODS decorator records. The decorator reads it from the base config, so the
    sample config carries exactly this."""

    author: str
    version: str
    description: str
    template_name: str  # the class MODS registers, named from the config's pipeline_name

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class CatalogPipeline:
    """A catalog pipeline: a shared DAG, the compiler that builds it, and how to describe it.

    `shared_dag` is the shared DAG module itself, so a pipeline module references the one
    definition of its shape and never copies it.
    """

    id: str
    title: str
    task: str
    shared_dag: ModuleType
    compiler_type: str = "standard"
    description: str = ""  # the shared DAG's description when empty
    author: str = "cursus-catalog"
    version: str = "1.0.0"
    # a MODS pipeline names the standard pipeline it shares its DAG with
    variant_of: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.id):
            raise CatalogError(f"catalog id '{self.id}': use lowercase letters, digits and '_'")
        _one_of("task", self.task, TASKS, self.id)
        _one_of("compiler_type", self.compiler_type, COMPILER_TYPES, self.id)
        if not self.description:
            object.__setattr__(self, "description", self.shared_dag.create_dag().description)

    @property
    def shared_dag_id(self) -> str:
        return str(self.shared_dag.__name__).rpartition("shared_dags.")[2]

    @property
    def pipeline_name(self) -> str:
        """The sample config's pipeline_name: the standard pipeline's id, so both variants of a
        shape share their local cache and their SageMaker pipeline."""
        return (self.variant_of or self.id).replace("_", "-")

    def create_dag(self) -> PipelineDAG:
        dag: PipelineDAG = self.shared_dag.create_dag()
        return dag

    def dag_metadata(self) -> DagMetadata:
        metadata: DagMetadata = self.shared_dag.get_dag_metadata()
        return metadata

    def mods_metadata(self) -> ModsMetadata | None:
        if self.compiler_type != "mods":
            return None
        from cursus.mods.compiler import template_class_name

        return ModsMetadata(
            author=self.author,
            version=self.version,
            description=self.description,
            template_name=template_class_name(self.pipeline_name),
        )

    def compiler(self, config_path: str | Path, **kwargs: Any) -> Any:
        """PipelineDAGCompiler for a standard pipeline, MODSPipelineDAGCompiler for a MODS one."""
        if self.compiler_type == "mods":
            from cursus.mods.compiler import MODSPipelineDAGCompiler

            return MODSPipelineDAGCompiler(config_path, **kwargs)
        from cursus.core.compiler import PipelineDAGCompiler

        return PipelineDAGCompiler(config_path, **kwargs)

    def create_pipeline(
        self, config_path: str | Path, target: str = "sagemaker", **kwargs: Any
    ) -> Any:
        """The SageMaker pipeline ("sagemaker", built offline) or the Plan ("plan") of this
        pipeline with the configs in `config_path`."""
        if target not in ("plan", "sagemaker"):
            raise CatalogError(f"unknown compile target '{target}'; available: plan, sagemaker")
        return self.compiler(config_path, **kwargs).compile(self.create_dag(), target=target)

    def mods_variant(
        self, author: str | None = None, version: str | None = None, description: str | None = None
    ) -> CatalogPipeline:
        """The MODS pipeline of the same shared DAG, registered with this metadata."""
        return replace(
            self,
            id=f"{self.id}_mods",
            title=f"{self.title} (MODS)",
            compiler_type="mods",
            author=author or self.author,
            version=version or self.version,
            description=description or self.description,
            variant_of=self.id,
        )


def _one_of(name: str, value: str, allowed: tuple[str, ...], owner: str) -> None:
    if value not in allowed:
        raise CatalogError(f"{owner}: {name} '{value}' is not one of: {', '.join(allowed)}")
