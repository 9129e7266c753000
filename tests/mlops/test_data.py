"""Data versioning with DVC (a real repository and a local remote folder in tmp_path), and the
lineage hook that records which data each run used and warns when it changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

# The runner's fork server keeps the environment it started with: set before any run.
os.environ["OMP_NUM_THREADS"] = "1"

import pandas as pd
import pytest
from click.testing import CliRunner

from cursus.api.dag import PipelineDAG
from cursus.backends.local import LocalRunner
from cursus.cli.main import cli
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import default_configs, save_configs
from cursus.mlops.data import (
    DataChangedWarning,
    DataLineage,
    data_inputs,
    dvc_add,
    dvc_pull,
    dvc_push,
    dvc_status,
)
from cursus.mlops.project import MLOpsError, Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.load("default", tmp_path / "ws")


@pytest.fixture
def repo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, the current folder for the test (DVC works on the cwd)."""
    folder = tmp_path / "proj"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# ---------------------------------------------------------------- DVC


def test_add_push_then_pull_restores_the_bytes_after_cache_and_files_are_gone(
    project: Project, repo_dir: Path
) -> None:
    table = repo_dir / "table.bin"
    table.write_bytes(os.urandom(200_000))
    images = repo_dir / "images"
    images.mkdir()
    for i in range(3):
        (images / f"{i}.bin").write_bytes(os.urandom(1000 + i))
    originals = {p: p.read_bytes() for p in [table, *images.iterdir()]}

    added = dvc_add(project, "table.bin")
    assert added["md5"] == hashlib.md5(originals[table]).hexdigest()
    assert added["size"] == 200_000 and Path(added["dvc_file"]) == repo_dir / "table.bin.dvc"
    assert dvc_add(project, images)["nfiles"] == 3
    assert "no_scm = True" in (repo_dir / ".dvc" / "config").read_text()  # not a Git work tree
    assert (project.workspace / "dvc-site-cache").is_dir()  # not /var/tmp/dvc

    status = dvc_status(project)
    assert status["tracked"] == ["images", "table.bin"]
    assert status["not_in_remote"] == ["images", "table.bin"]
    assert status["url"] == str(project.dvc_remote)

    assert dvc_push(project)["pushed"] == 5  # 4 files + the folder's listing
    assert dvc_status(project)["not_in_remote"] == []

    shutil.rmtree(repo_dir / ".dvc" / "cache")
    table.unlink()
    shutil.rmtree(images)
    assert dvc_status(project)["not_in_cache"] == ["images", "table.bin"]

    pulled = dvc_pull(project)
    assert pulled["restored"] == ["images", "table.bin"]
    assert {p: p.read_bytes() for p in originals} == originals
    table.write_bytes(b"changed")
    assert dvc_status(project)["changed"] == ["table.bin"]


def test_inside_a_git_work_tree_the_repository_uses_git(project: Project, repo_dir: Path) -> None:
    subprocess.run(["git", "init", "-q", str(repo_dir)], check=True)
    (repo_dir / "data.csv").write_text("a,b\n1,2\n")
    dvc_add(project, "data.csv")
    assert "no_scm" not in (repo_dir / ".dvc" / "config").read_text()
    assert "/data.csv" in (repo_dir / ".gitignore").read_text().splitlines()


def test_errors_say_what_is_wrong(project: Project, repo_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(MLOpsError, match="no DVC repository at or above"):
        dvc_push(project)
    with pytest.raises(MLOpsError, match="no DVC repository"):
        dvc_status(project)
    with pytest.raises(MLOpsError, match=r"missing\.csv does not exist"):
        dvc_add(project, "missing.csv")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("x\n")
    with pytest.raises(MLOpsError, match="outside the DVC repository"):
        dvc_add(project, outside)
    with pytest.raises(MLOpsError, match="remote 'nowhere' is not configured"):
        dvc_push(project, remote="nowhere")


def test_data_commands(project: Project, repo_dir: Path) -> None:
    (repo_dir / "d.csv").write_text("a\n1\n")
    ws = ["--workspace", str(project.workspace)]
    runner = CliRunner()
    added = runner.invoke(cli, ["data", "add", "d.csv", *ws])
    assert added.exit_code == 0, added.output
    assert "tracked" in added.output and "d.csv.dvc" in added.output
    pushed = runner.invoke(cli, ["data", "push", *ws])
    assert pushed.exit_code == 0 and "pushed 1 file(s)" in pushed.output
    status = runner.invoke(cli, ["data", "status", "--json", *ws])
    assert json.loads(status.output)["not_in_remote"] == []
    missing = runner.invoke(cli, ["data", "add", "nope.csv", *ws])
    assert missing.exit_code == 2 and "nope.csv does not exist" in missing.output


# ---------------------------------------------------------------- lineage


def _write_breast_cancer_csv(path: Path, rows: int) -> Path:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.iloc[:rows].to_csv(path, index=False)
    return path


def _plan(tmp_path: Path, nodes: list[str], edges: list[tuple[str, str]], **edits: dict) -> object:
    dag = PipelineDAG(nodes=nodes, edges=edges)
    configs = default_configs(dag, pipeline_name="lineage-test", label_field="target")
    for node, fields in edits.items():
        for name, value in fields.items():
            setattr(configs[node], name, value)
    path = save_configs(configs, tmp_path / "config.json")
    return PipelineDAGCompiler(path).compile_to_plan(dag)


def test_a_run_records_its_data_and_the_next_warns_when_the_file_changed(tmp_path: Path) -> None:
    source = _write_breast_cancer_csv(tmp_path / "patients.csv", rows=300)
    plan = _plan(
        tmp_path, ["DataLoading_training"], [], DataLoading_training={"data_source": str(source)}
    )
    workspace = tmp_path / "ws"

    def run() -> tuple[DataLineage, object]:
        lineage = DataLineage()
        result = LocalRunner(plan, workspace=workspace, workers=1, hooks=[lineage]).run()
        assert result.ok, {n: s.error for n, s in result.steps.items()}
        return lineage, result

    first, result = run()
    assert first.warnings == []
    (used,) = data_inputs(workspace, result.run_id)
    assert used["node"] == "DataLoading_training" and used["input"] == "DATA_SOURCE"
    assert used["source"] == str(source) and used["digest_of"] == "source"
    assert used["digest"] == hashlib.sha256(source.read_bytes()).hexdigest()

    same, _ = run()
    assert same.warnings == []

    _write_breast_cancer_csv(source, rows=250)
    with pytest.warns(DataChangedWarning, match="DataLoading_training: data source"):
        changed, result = run()
    (message,) = changed.warnings
    assert (
        str(source) in message
        and f"-> {hashlib.sha256(source.read_bytes()).hexdigest()[:12]}" in message
    )
    # the file's bytes are part of the step's cache key: the changed data is read, not reused
    assert result.steps["DataLoading_training"].status == "succeeded"
    assert result.steps["DataLoading_training"].metrics["n_rows"] == 250
    assert "rerun with --no-cache" not in message
    assert data_inputs(workspace)[0]["run_id"] == result.run_id


def test_inputs_bound_to_a_local_uri_are_recorded_and_compared(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    frame = pd.read_csv(_write_breast_cancer_csv(tmp_path / "bc.csv", rows=200))
    frame.to_parquet(folder / "data.parquet", index=False)
    plan = _plan(
        tmp_path,
        ["TabularPreprocessing_training"],
        [],
        TabularPreprocessing_training={"input_bindings": {"data_input": str(folder)}},
    )
    workspace = tmp_path / "ws"
    lineage = DataLineage(warn=False)
    assert LocalRunner(plan, workspace=workspace, hooks=[lineage]).run().ok
    (used,) = data_inputs(workspace)
    assert (used["input"], used["source"]) == ("data_input", str(folder))

    frame.iloc[:150].to_parquet(folder / "data.parquet", index=False)
    assert LocalRunner(plan, workspace=workspace, hooks=[lineage]).run().ok
    (message,) = lineage.warnings
    assert message.startswith(f"TabularPreprocessing_training: input 'data_input' {folder} changed")


def test_cursus_run_prints_the_lineage_warning(tmp_path: Path) -> None:
    source = _write_breast_cancer_csv(tmp_path / "d.csv", rows=120)
    dag = tmp_path / "dag.json"
    dag.write_text(json.dumps({"dag": {"nodes": ["DataLoading_training"], "edges": []}}))
    configs = default_configs(
        PipelineDAG(nodes=["DataLoading_training"]),
        pipeline_name="cli-lineage",
        label_field="target",
    )
    configs["DataLoading_training"].data_source = str(source)
    config = save_configs(configs, tmp_path / "c.json")
    args = ["run", str(dag), "-c", str(config), "--workspace", str(tmp_path / "ws")]
    args += ["--quiet", "--no-tracking"]
    runner = CliRunner()
    assert runner.invoke(cli, args).exit_code == 0
    _write_breast_cancer_csv(source, rows=100)
    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert f"warning: DataLoading_training: data source {source} changed since run" in second.output
