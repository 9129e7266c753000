"""A user's script that calls run_pipeline() without an `if __name__ == "__main__":` guard must
not be re-run inside each step process (multiprocessing's default for fork-server children)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cursus.backends.local.records import RunRecords

SCRIPT = """
from cursus.api.loading import load_dag
from cursus.targets import run_pipeline
from cursus.core.config_file import default_configs, save_configs

configs = default_configs(load_dag("xgboost_simple"))
configs["XGBoostTraining"].hyperparameters.num_round = 5
save_configs(configs, {config!r})
result = run_pipeline("xgboost_simple", {config!r}, workspace={workspace!r}, registry_uri={registry!r}, tracking=False)
print("STATUS", result.status)
"""


def test_an_unguarded_script_runs_its_pipeline_once(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    script = tmp_path / "user_script.py"
    script.write_text(
        SCRIPT.format(
            config=str(tmp_path / "c.json"),
            workspace=str(workspace),
            registry=str(tmp_path / "reg"),
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("STATUS succeeded") == 1
    runs = RunRecords(workspace / "runs.db").list_runs()
    assert len(runs) == 1 and runs[0]["status"] == "succeeded"
