"""Step scripts are plain files (they run as `python script.py` in a container), so tests import
them the same way a container would: with the scripts folder on sys.path."""

import sys
from pathlib import Path

import pytest

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "src" / "cursus" / "steps" / "library"
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def trained_xgboost(tmp_path_factory: pytest.TempPathFactory):
    """A real model_artifacts folder (XGBoost on breast_cancer); read-only, shared by the tests."""
    from _fixtures import train_xgboost_model

    return train_xgboost_model(tmp_path_factory.mktemp("xgboost") / "model")
