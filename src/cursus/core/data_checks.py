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
from cursus.steps.configs import BasePipelineConfig
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
