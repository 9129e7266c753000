"""`cursus run` keeps each compiled Plan in the workspace and reuses it only while nothing that
compiling reads has changed: a stale plan would run old configs or old scripts with exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cursus.api.loading import load_dag
from cursus.core.config_file import default_configs, save_configs
from cursus.core.plan_cache import compiled_plan, plan_key
from cursus.core.planner import compile_plan

CURSUS = str(Path(sys.executable).with_name("cursus"))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    dag = load_dag("xgboost_simple")
    return save_configs(default_configs(dag), tmp_path / "config.json")


def test_an_unchanged_pipeline_reuses_its_plan_and_any_change_compiles_again(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag, ws = load_dag("xgboost_simple"), tmp_path / "ws"
    first = compiled_plan(dag, config, ws)
    assert first.to_json() == compile_plan(dag, config).to_json()
    (kept,) = (ws / "plans").glob("*.json")
    assert compiled_plan(dag, config, ws).to_json() == first.to_json()
    key = plan_key(dag, config)

    data = json.loads(config.read_text())
    data["configuration"]["specific"]["XGBoostTraining"]["hyperparameters"]["eta"] = 0.3
    config.write_text(json.dumps(data))
    assert plan_key(dag, config) != key
    changed = compiled_plan(dag, config, ws)
    assert changed.step("XGBoostTraining").config["hyperparameters"]["eta"] == 0.3
    assert len(list((ws / "plans").glob("*.json"))) == 2

    monkeypatch.setenv("CURSUS_MODEL_URI", "/elsewhere")
    assert plan_key(dag, config) not in (key, None)
    monkeypatch.delenv("CURSUS_MODEL_URI")
    other_dag = load_dag("xgboost_e2e")
    assert plan_key(other_dag, config) != plan_key(dag, config)

    kept.write_text("{not json")  # a damaged plan is compiled again, not used
    data["configuration"]["specific"]["XGBoostTraining"]["hyperparameters"]["eta"] = 0.1
    config.write_text(json.dumps(data))
    assert compiled_plan(dag, config, ws).to_json() == compile_plan(dag, config).to_json()


def test_an_edited_step_script_is_a_new_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user's step unit: editing its script changes the plan's script digest, so the step
    runs again instead of coming from the cache with the old code's output."""
    monkeypatch.chdir(tmp_path)
    steps = tmp_path / "steps"
    done = subprocess.run([CURSUS, "steps", "new", "ColumnFilter", "--dir", str(steps)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    dag_file = tmp_path / "dag.json"
    dag_file.write_text(json.dumps({"dag": {
        "nodes": ["DataLoading_training", "ColumnFilter_training"],
        "edges": [["DataLoading_training", "ColumnFilter_training"]]}}))  # fmt: skip
    cfg = tmp_path / "config.json"
    subprocess.run([CURSUS, "config", "init", str(dag_file), "-o", str(cfg)], check=True,
                   capture_output=True)  # fmt: skip
    run = [CURSUS, "run", str(dag_file), "-c", str(cfg), "--workspace", str(tmp_path / "ws"),
           "--no-tracking", "--json"]  # fmt: skip

    def statuses() -> dict[str, str]:
        done = subprocess.run(run, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return {n: s["status"] for n, s in json.loads(done.stdout)["steps"].items()}

    assert statuses()["ColumnFilter_training"] == "succeeded"
    assert statuses()["ColumnFilter_training"] == "cached"
    script = steps / "column_filter.py"
    script.write_text(script.read_text().replace('"rows": len(df)', '"rows": len(df) + 0'))
    assert statuses() == {"DataLoading_training": "cached", "ColumnFilter_training": "succeeded"}


def test_a_cached_rerun_imports_no_config_class(config: Path, tmp_path: Path) -> None:
    """What makes the fresh process fast: pydantic and the step library stay unimported."""
    ws = tmp_path / "ws"
    command = [CURSUS, "run", "xgboost_simple", "-c", str(config), "--workspace", str(ws),
               "--no-tracking", "--quiet"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    probe = (
        "import sys, runpy\n"
        f"sys.argv = {['cursus', *command[1:]]!r}\n"
        "try:\n    runpy.run_module('cursus', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'cursus.steps.configs'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
