import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cursus.api.loading import load_dag
from cursus.core.config_file import default_configs, save_configs

STAND_IN = Path(__file__).parent / "stand_in"


@pytest.fixture
def stand_in_mods() -> Iterator[None]:
    """Make the stand-in `mods` importable for one test, then forget it."""
    sys.path.insert(0, str(STAND_IN))
    try:
        yield
    finally:
        sys.path.remove(str(STAND_IN))
        for name in [m for m in sys.modules if m == "mods" or m.startswith("mods.")]:
            del sys.modules[name]


@pytest.fixture
def registry_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "templates.db"
    monkeypatch.setenv("CURSUS_TEMPLATE_REGISTRY", str(path))
    return path


@pytest.fixture
def e2e_config(tmp_path: Path) -> Path:
    dag = load_dag("xgboost_e2e")
    configs = default_configs(
        dag,
        author="ml-team",
        pipeline_name="xgb-e2e",
        pipeline_version="1.2.0",
        pipeline_description="XGBoost end to end",
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        bucket="cursus-test-bucket",
    )
    return save_configs(configs, tmp_path / "config.json")
