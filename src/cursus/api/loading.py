"""Find a DAG from what a user typed: a JSON file, a Python file, or a bundled DAG's name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from cursus.api.dag import PipelineDAG
from cursus.errors import DAGError

BUNDLED_DAGS = Path(__file__).resolve().parent.parent / "data" / "dags"


def bundled_dag_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DAGS.glob("*.json"))


def bundled_dag_path(name: str) -> Path:
    path = BUNDLED_DAGS / f"{name}.json"
    if not path.is_file():
        raise DAGError(f"no bundled DAG named '{name}'; bundled: {', '.join(bundled_dag_names())}")
    return path


def load_dag(ref: str | Path) -> PipelineDAG:
    """A `.json` file, a `.py` file defining `create_dag()` or `dag`, or a bundled DAG name.

    A DAG file's sibling folder `steps/`, when it holds step units, joins the step library's
    search path: a project keeps its own step types beside its DAG.
    """
    path = Path(ref)
    if path.suffix in (".json", ".py"):
        _use_steps_beside(path)
    if path.suffix == ".json":
        return PipelineDAG.from_json(path)
    if path.suffix == ".py":
        return _from_python(path)
    if path.exists():
        raise DAGError(f"{path}: a DAG file ends in .json or .py")
    if str(ref) in bundled_dag_names():
        return PipelineDAG.from_json(bundled_dag_path(str(ref)))
    raise DAGError(
        f"{ref}: no such DAG file and no bundled DAG of that name; bundled: {', '.join(bundled_dag_names())}"
    )


def _use_steps_beside(path: Path) -> None:
    from cursus.steps.library import is_unit_folder, use_step_folders

    folder = path.parent / "steps"
    if is_unit_folder(folder):
        use_step_folders(folder)


def _from_python(path: Path) -> PipelineDAG:
    if not path.is_file():
        raise DAGError(f"{path}: no such DAG file")
    name = f"_cursus_user_dag_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DAGError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file can raise anything; report it as a DAG problem
        raise DAGError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
    factory = getattr(module, "create_dag", None)
    try:
        dag = factory() if callable(factory) else getattr(module, "dag", None)
    except Exception as exc:  # as above: the user's code, reported as a DAG problem
        raise DAGError(f"{path}: create_dag() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(dag, PipelineDAG):
        raise DAGError(
            f"{path}: define `create_dag()` returning a PipelineDAG, or a module-level `dag`"
        )
    return dag
