"""Checks of the data itself that `validate` can make before anything runs.

A TabularPreprocessing node with a problem_type set reads its label from a DataLoading node; when
that node's data_source is readable here (a local file, or a bundled sklearn: table) and small
enough to read in a moment, the label column is read and checked against the problem type, so a
7-class label in a pipeline set to binary fails at `cursus validate`, naming the node, the file and
the fix, instead of minutes into a run. Sources that are not readable here (s3://, synthetic:)
are left to the step, which makes the same check.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.errors import ConfigError, CursusError
from cursus.steps.configs import BasePipelineConfig, DataLoadingConfig
from cursus.steps.library import step_library

# a local file larger than this is left to the step: validate stays fast
MAX_CHECKED_BYTES = 50 * 1024 * 1024


def _step_type(node: str) -> str:
    return step_library().split_node_name(node)[0]


def _readable(source: str) -> bool:
    if source.startswith("sklearn:"):
        return True
    if "://" in source and not source.startswith("file://"):
        return False
    path = Path(source.removeprefix("file://").split("?", 1)[0])
    return path.is_file() and path.stat().st_size <= MAX_CHECKED_BYTES


def _labels(config: Any, label_field: str) -> Any:
    """The label column the DataLoading node would write (its subsampling applied)."""
    module = step_library().get("DataLoading").import_script()
    df = module.read_source(config.data_source, label_field, config.id_field, config.random_seed)
    if label_field not in df.columns:
        return None
    return df[label_field]


def label_problems(dag: PipelineDAG, configs: dict[str, BasePipelineConfig]) -> list[CursusError]:
    """A label read from a readable data_source that does not fit the problem_type set on the
    TabularPreprocessing node reading it."""
    problems: list[CursusError] = []
    for node in dag.nodes:
        config = configs.get(node)
        if config is None or config.problem_type is None:
            continue
        if _step_type(node) != "TabularPreprocessing":
            continue
        for producer in dag.get_dependencies(node):
            loader = configs.get(producer)
            source = getattr(loader, "data_source", None)
            if _step_type(producer) != "DataLoading" or not source or not _readable(source):
                continue
            try:
                labels = _labels(loader, config.label_field)
            except Exception:
                continue
            if labels is None:
                continue
            # the step library's own check, the one TabularPreprocessing makes (the DataLoading
            # script's import put the library folder on sys.path)
            tabular = importlib.import_module("_tabular")
            misfit = tabular.label_misfit(labels.dropna(), config.problem_type)
            if misfit:
                problems.append(
                    ConfigError(
                        f"node '{node}': the label column '{config.label_field}' of node "
                        f"'{producer}' ({source}) {misfit}"
                    )
                )
    return problems


def _local_path(source: str) -> Path | None:
    """The file a local data_source names (None for s3://, sklearn:, synthetic: and the like)."""
    location = source.split("?", 1)[0]
    if location.startswith("file://"):
        return Path(location.removeprefix("file://"))
    if "://" in location or (
        ":" in location and not Path(location).exists() and "/" not in location
    ):
        return None
    return Path(location)


def source_problems(dag: PipelineDAG, configs: dict[str, BasePipelineConfig]) -> list[CursusError]:
    """A data-loading node whose local file is missing, empty, or (when small enough to read in
    a moment) lacks the label or id column: the run could not start, so validate says so."""
    problems: list[CursusError] = []
    for node in dag.nodes:
        config = configs.get(node)
        source = getattr(config, "data_source", None)
        if config is None or not isinstance(source, str):
            continue
        path = _local_path(source)
        if path is None:
            continue
        where = f"node '{node}': data_source {source}"
        if not path.exists():
            problems.append(ConfigError(f"{where} does not exist; fix the path or create the file"))
            continue
        if not path.is_file():
            problems.append(ConfigError(f"{where} is not a file; point it at one table file"))
            continue
        if path.stat().st_size == 0:
            problems.append(ConfigError(f"{where} is empty; it needs a header and rows"))
            continue
        if not _readable(source):
            continue
        try:
            module = step_library().get("DataLoading").import_script()
            seed = getattr(
                config, "random_seed", DataLoadingConfig.model_fields["random_seed"].default
            )
            label, id_field = (
                getattr(config, "label_field", "label"),
                getattr(config, "id_field", None),
            )
            df = module.read_source(source, label, id_field, seed)
        except Exception as exc:  # the step reports the same error, with its traceback
            problems.append(ConfigError(f"{where} cannot be read: {exc}"))
            continue
        for field, column in (("label_field", config.label_field), ("id_field", config.id_field)):
            if column and column not in df.columns:
                shown = list(map(str, df.columns[:20]))
                problems.append(
                    ConfigError(
                        f"{where} has no column '{column}' ({field}); its columns are {shown}: "
                        f"set {field} to one of them"
                    )
                )
    return problems
