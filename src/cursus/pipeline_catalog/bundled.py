"""The bundled DAG files (src/cursus/data/dags/*.json) are written from the shared DAGs.

`load_dag("xgboost_e2e")` reads a file so it needs no Python import; this module keeps those files
a product of the shared DAG modules that declare a `bundled_name`. `check_bundled_dags` names every
file that drifted; `write_bundled_dags` (`cursus catalog bundled-dags --write`) regenerates them.
"""

from __future__ import annotations

from pathlib import Path

from cursus.pipeline_catalog._json import dumps
from cursus.pipeline_catalog.shared_dags import load_shared_dag_module, shared_dag_ids

BUNDLED_DAGS = Path(__file__).resolve().parent.parent / "data" / "dags"


def bundled_texts() -> dict[str, str]:
    """File name -> the text the shared DAGs say it should have."""
    texts = {}
    for dag_id in shared_dag_ids():
        module = load_shared_dag_module(dag_id)
        name = module.get_dag_metadata().bundled_name
        if name:
            texts[f"{name}.json"] = dumps(module.create_dag().to_dict())
    return texts


def check_bundled_dags(folder: Path = BUNDLED_DAGS) -> list[str]:
    """Every bundled DAG file that is missing, differs from its shared DAG, or has no shared DAG."""
    expected = bundled_texts()
    problems = []
    for name, text in expected.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing; run `cursus catalog bundled-dags --write`")
        elif path.read_text() != text:
            problems.append(
                f"{path}: differs from its shared DAG; edit the shared DAG module, then run "
                "`cursus catalog bundled-dags --write`"
            )
    for path in sorted(folder.glob("*.json")):
        if path.name not in expected:
            problems.append(
                f"{path}: no shared DAG declares bundled_name '{path.stem}'; add a shared DAG "
                "module for it or remove the file"
            )
    return problems


def write_bundled_dags(folder: Path = BUNDLED_DAGS) -> list[Path]:
    """Write the files whose text changed; returns what was written."""
    written = []
    for name, text in bundled_texts().items():
        path = folder / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
