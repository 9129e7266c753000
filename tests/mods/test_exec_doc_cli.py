"""`cursus exec-doc generate | validate` and `cursus run --exec-doc`."""

import json
from pathlib import Path

from click.testing import CliRunner

from cursus.cli.main import cli


def test_generate_then_validate(e2e_config: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    doc = tmp_path / "doc.json"
    done = runner.invoke(
        cli, ["exec-doc", "generate", "xgboost_e2e", "-c", str(e2e_config), "-o", str(doc)]
    )
    assert done.exit_code == 0, done.output
    assert "XGBoostTraining" in json.loads(doc.read_text())["PIPELINE_STEP_CONFIGS"]
    ok = runner.invoke(
        cli, ["exec-doc", "validate", str(doc), "--dag", "xgboost_e2e", "-c", str(e2e_config)]
    )
    assert ok.exit_code == 0 and "valid" in ok.output

    data = json.loads(doc.read_text())
    data["PIPELINE_STEP_CONFIGS"]["Package"]["STEP_CONFIG"]["colour"] = "blue"
    del data["PIPELINE_STEP_CONFIGS"]["Payload"]["STEP_TYPE"]
    doc.write_text(json.dumps(data))
    bad = runner.invoke(
        cli, ["exec-doc", "validate", str(doc), "--dag", "xgboost_e2e", "-c", str(e2e_config)]
    )
    assert bad.exit_code == 2
    assert "Payload" in bad.output and "Traceback" not in bad.output


def test_run_refuses_a_broken_document_before_running(e2e_config: Path, tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(
        '{"PIPELINE_STEP_CONFIGS": {"Package": {"STEP_CONFIG": {"retries": -1}, "STEP_TYPE": ["Package"]}}, "PIPELINE_ADDITIONAL_PARAMS": {}}'
    )
    done = CliRunner().invoke(
        cli,
        [
            "run",
            "xgboost_e2e",
            "-c",
            str(e2e_config),
            "--exec-doc",
            str(doc),
            "--workspace",
            str(tmp_path / "ws"),
            "--no-tracking",
        ],
    )
    assert done.exit_code == 2
    assert "Package', field 'retries'" in done.output
    assert not (tmp_path / "ws" / "runs").exists()
