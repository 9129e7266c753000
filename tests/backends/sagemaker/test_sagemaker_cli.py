"""`cursus compile --target sagemaker` as users run it: a fresh process, offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cursus.cli.main import cli
from cursus.plan import PLAN_FORMAT

CURSUS = Path(sys.executable).with_name("cursus")


def _offline_prefix() -> list[str]:
    """`unshare -rn` puts the process in a network namespace with no network at all, when this
    machine allows it; the run then proves compiling needs none."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


@pytest.mark.slow
def test_fresh_process_compile_writes_the_definition_offline(
    compiled: dict[str, Any], configs: dict[str, Path], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws of the person running the tests
    out = tmp_path / "pipeline.json"
    command = [
        *_offline_prefix(),
        str(CURSUS),
        "compile",
        "xgboost_e2e",
        "-c",
        str(configs["xgboost_e2e"]),
        "--target",
        "sagemaker",
        "-o",
        str(out),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"wrote {out}"
    assert json.loads(out.read_text()) == compiled["xgboost_e2e"].definition_dict()


def test_compile_to_stdout_prints_only_the_definition(
    compiled: dict[str, Any], configs: dict[str, Path]
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "compile",
            "xgboost_simple",
            "-c",
            str(configs["xgboost_simple"]),
            "--target",
            "sagemaker",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == compiled["xgboost_simple"].definition_dict()


def test_plan_target_is_unchanged(configs: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        cli, ["compile", "xgboost_simple", "-c", str(configs["xgboost_simple"])]
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["format"] == PLAN_FORMAT


@pytest.mark.parametrize("command", [["sagemaker", "--help"], ["sagemaker", "deploy", "--help"]])
def test_sagemaker_commands_are_registered(command: list[str]) -> None:
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_cli_does_not_import_the_sdk_for_help() -> None:
    code = (
        "import sys; from cursus.cli.main import cli; "
        "assert 'sagemaker' not in sys.modules, 'the CLI imported the SageMaker SDK'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
