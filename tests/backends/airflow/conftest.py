"""Airflow lives in its own environments (.venv-airflow for 2.x, .venv-airflow3, made by `make test`): Airflow's pins and
Cursus' dependencies need not agree, and the DAG file only needs Airflow plus a path to Cursus."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# one environment per supported Airflow major version, each made by `make test`
AIRFLOW_PYTHONS = {
    "airflow2": Path(
        os.environ.get("CURSUS_AIRFLOW2_PYTHON", REPO / ".venv-airflow" / "bin" / "python")
    ),
    "airflow3": Path(
        os.environ.get("CURSUS_AIRFLOW3_PYTHON", REPO / ".venv-airflow3" / "bin" / "python")
    ),
}


@pytest.fixture(scope="session", params=sorted(AIRFLOW_PYTHONS))
def airflow_python(request: pytest.FixtureRequest) -> Path:
    python = AIRFLOW_PYTHONS[request.param]
    if not python.is_file():
        pytest.fail(f"no Airflow environment at {python}: `make test` creates it")
    return python


@pytest.fixture(scope="session")
def airflow_home(
    tmp_path_factory: pytest.TempPathFactory, airflow_python: Path
) -> Iterator[dict[str, str]]:
    """An Airflow home on SQLite with its database migrated; the environment to run Airflow with."""
    home = tmp_path_factory.mktemp(f"home-{airflow_python.parent.parent.name}")
    dags = home / "dags"
    dags.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "OMP_NUM_THREADS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("CURSUS_WORKSPACE", None)
    airflow = str(airflow_python.parent / "airflow")
    done = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    yield env
