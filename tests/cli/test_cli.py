"""The `cursus` command: each foundation command on real files in a temp folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.cli.main import cli
from cursus.core.config_file import load_configs, save_configs
from cursus.core.planner import compile_plan
from cursus.plan import Plan
from cursus.steps.library import step_library

CURSUS = Path(sys.executable).with_name("cursus")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    code, out = run("config", "init", "xgboost_e2e", "-o", path, "--set", "author=ann")
    assert code == 0, out
    return path


def test_help_is_fast_in_a_fresh_process() -> None:
    """`cursus --help` imports nothing heavy: well under a second as a new process."""
    subprocess.run([str(CURSUS), "--help"], check=True, capture_output=True)  # warm the OS cache
    start = time.perf_counter()
    done = subprocess.run([str(CURSUS), "--help"], check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert "validate" in done.stdout
    assert elapsed < 1.0, f"cursus --help took {elapsed:.2f}s"


def test_help_lists_the_foundation_commands() -> None:
    code, out = run("--help")
    assert code == 0
    for command in ("compile", "config", "dag", "steps", "validate"):
        assert f"  {command} " in out
    code, out = run("dag", "--help")
    assert "explain" in out and "show" in out


# ---------------------------------------------------------------- config init


def test_config_init_writes_a_complete_valid_config(config: Path) -> None:
    dag = load_dag("xgboost_e2e")
    configs = load_configs(config, dag)
    assert sorted(configs) == sorted(dag.nodes)
    assert {c.author for c in configs.values()} == {"ann"}
    code, out = run("validate", "xgboost_e2e", "-c", config)
    assert (code, out) == (0, f"ok: 10 nodes, 11 edges, every input bound\n{SAMPLE_NOTE}\n")


# a config init writes reads the bundled sample: fine here, refused off this machine
SAMPLE_NOTE = (
    "note: this config runs on this machine only (sample data); `cursus validate --target "
    "sagemaker` lists what SageMaker and Airflow refuse"
)


def test_validate_for_sagemaker_names_what_only_runs_here(config: Path, tmp_path: Path) -> None:
    code, out = run("validate", "xgboost_e2e", "-c", config, "--target", "sagemaker")
    assert code == 2
    lines = out.splitlines()
    assert lines[0] == "error: 2 problem(s):"
    assert lines[1].startswith("  - node 'DataLoading_training': data_source is 'sklearn:")
    assert lines[1].endswith(
        "set data_source to the s3:// URI of your data (compiling for sagemaker)"
    )
    code, out = run(
        "validate", "xgboost_e2e", "-c", config, "--target", "airflow", "--allow-sample-data"
    )
    assert (code, out) == (0, "ok: 10 nodes, 11 edges, every input bound\n")


def test_config_init_parses_json_values_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    code, out = run(
        "config",
        "init",
        "xgboost_simple",
        "-o",
        path,
        "--set",
        "instance_count=2",
        "--set",
        'id_field="7"',
    )
    assert code == 0
    assert out == f"wrote {path}: 3 node configs\n"
    configs = load_configs(path)
    assert configs["XGBoostTraining"].instance_count == 2
    assert configs["XGBoostTraining"].id_field == "7"
    before = path.read_bytes()
    code, out = run("config", "init", "xgboost_simple", "-o", path)
    assert code == 2
    assert out == f"error: {path} exists; pass --force to overwrite it\n"
    assert path.read_bytes() == before
    code, _ = run(
        "config", "init", "xgboost_simple", "-o", path, "--force", "--set", "instance_count=3"
    )
    assert code == 0
    assert load_configs(path)["XGBoostTraining"].instance_count == 3


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("author", "--set 'author': write FIELD=VALUE"),
        ("lable_field=y", "did you mean 'label_field'?"),
        ("instance_count=0", "field 'instance_count': Input should be greater than or equal to 1"),
    ],
)
def test_config_init_refuses_bad_settings(tmp_path: Path, setting: str, message: str) -> None:
    code, out = run("config", "init", "xgboost_simple", "-o", tmp_path / "c.json", "--set", setting)
    assert code == 2
    assert message in out
    assert len(out.strip().splitlines()) == 1
    assert not (tmp_path / "c.json").exists()


def test_config_init_to_an_unwritable_place_is_a_short_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out = run("config", "init", "xgboost_simple", "-o", blocker / "config.json")
    assert code == 2
    assert out.startswith(f"error: {blocker / 'config.json'}: cannot write the config")
    assert len(out.splitlines()) == 1


# ---------------------------------------------------------------- validate and compile


def test_validate_prints_warnings_and_still_passes(config: Path) -> None:
    code, out = run("validate", "xgboost_simple", "-c", config)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"warning: {config}: configs for nodes not in the DAG are ignored: ")
    assert lines[-2:] == ["ok: 3 nodes, 2 edges, every input bound", SAMPLE_NOTE]


def test_validate_fails_with_every_problem(tmp_path: Path, config: Path) -> None:
    data = json.loads(config.read_text())
    data["configuration"]["specific"]["Package"]["retries"] = 99
    del data["metadata"]["config_types"]["Payload"]
    del data["configuration"]["specific"]["Payload"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code, out = run("validate", "xgboost_e2e", "-c", bad)
    assert code == 2
    lines = out.splitlines()
    assert lines[0] == "error: 2 problem(s):"
    assert "node 'Package', field 'retries'" in lines[1]
    assert "DAG node 'Payload' has no config" in lines[2]
    assert len(lines) == 3


def test_compile_to_a_plan_file(tmp_path: Path, config: Path) -> None:
    out_path = tmp_path / "build" / "plan.json"
    code, out = run("compile", "xgboost_e2e", "-c", config, "--target", "plan", "-o", out_path)
    assert code == 0
    assert out == f"wrote {out_path}\n"
    plan = Plan.load(out_path)
    assert [s.name for s in plan.steps] == load_dag("xgboost_e2e").topological_sort()
    assert (
        out_path.read_text()
        == compile_plan(load_dag("xgboost_e2e"), load_configs(config)).to_json()
    )
    code, printed = run("compile", "xgboost_e2e", "-c", config)
    assert code == 0
    assert printed == out_path.read_text()


def test_compile_a_dag_from_a_json_file(tmp_path: Path) -> None:
    dag_file = tmp_path / "pipeline.json"
    PipelineDAG(
        ["DataLoading", "TabularPreprocessing"], [("DataLoading", "TabularPreprocessing")]
    ).to_json(dag_file)
    config = tmp_path / "config.json"
    assert run("config", "init", dag_file, "-o", config)[0] == 0
    code, out = run("compile", dag_file, "-c", config)
    assert code == 0
    assert json.loads(out)["steps"][1]["inputs"]["data_input"]["from_step"] == "DataLoading"


# ---------------------------------------------------------------- dag


def test_dag_show_as_a_tree_mermaid_and_json(tmp_path: Path) -> None:
    code, out = run("dag", "show", "xgboost_simple")
    assert (code, out) == (
        0,
        "DataLoading_training\n└── TabularPreprocessing_training\n    └── XGBoostTraining\n",
    )
    code, out = run("dag", "show", "xgboost_simple", "--format", "mermaid")
    assert code == 0
    assert out.splitlines()[0] == "flowchart TD"
    assert "    TabularPreprocessing_training --> XGBoostTraining" in out.splitlines()
    code, out = run("dag", "show", "xgboost_e2e", "--format", "json")
    assert json.loads(out) == load_dag("xgboost_e2e").to_dict()


def test_dag_explain_shows_each_binding_with_its_evidence(config: Path) -> None:
    code, out = run("dag", "explain", "xgboost_e2e", "-c", config)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "DataLoading_training"
    assert (
        "  metadata_input <- DataLoading_training.metadata  score 0.80: kind 'data_schema' matches; DataLoading is a declared source; keywords ['metadata', 'schema', 'signature']"
        in lines
    )
    assert (
        "  data_input <- DataLoading_training.data  score 0.80: kind 'tabular_data' matches; DataLoading is a declared source; keywords ['data', 'dataset', 'input', 'raw']"
        in lines
    )
    assert (
        "  calibration_model <- ModelCalibration_calibration.calibration_output  score 0.80: kind 'calibration_model' matches; ModelCalibration is a declared source; keywords ['calibration', 'calibrator']"
        in lines
    )


def test_dag_explain_shows_unbound_optional_inputs_and_explicit_uris(tmp_path: Path) -> None:
    dag = PipelineDAG(["XGBoostTraining", "Package"], [("XGBoostTraining", "Package")])
    dag_file = tmp_path / "dag.json"
    dag.to_json(dag_file)
    config = tmp_path / "config.json"
    from cursus.core.config_file import default_configs

    configs = default_configs(dag)
    configs["XGBoostTraining"].input_bindings = {
        "input_path": "s3://b/train/",
        "preprocessing_artifacts": "/data/prep",
    }
    save_configs(configs, config)
    code, out = run("dag", "explain", dag_file, "-c", config)
    assert code == 0
    assert out.splitlines() == [
        "XGBoostTraining",
        "  input_path <- s3://b/train/  (explicit)",
        "  preprocessing_artifacts <- /data/prep  (explicit)",
        "Package",
        "  model_input <- XGBoostTraining.model_output  score 0.80: kind 'model_artifacts' matches; XGBoostTraining is a declared source; keywords ['artifacts', 'model']",
        "  calibration_model: not bound (optional)",
    ]


# ---------------------------------------------------------------- steps


def test_steps_list_shows_every_step_type() -> None:
    code, out = run("steps", "list")
    assert code == 0
    out_text = out
    lines = [line for line in out.splitlines() if not line.startswith(" ")]
    assert [line.split()[0] for line in lines] == sorted(step_library().units)
    assert all(line.split()[-1] == "bundled" for line in lines)
    code, out = run("steps", "list", "--json")
    rows = json.loads(out)
    assert {r["step_type"]: r["origin"] for r in rows} == {
        name: "bundled" for name in step_library().units
    }
    all_lines = out_text.splitlines()
    at = next(i for i, line in enumerate(all_lines) if line.startswith("Package "))
    assert all_lines[at].split() == ["Package", "processing", "sklearn", "bundled"]
    assert all_lines[at + 1].split() == [
        "in:",
        "model_input,",
        "calibration_model",
        "out:",
        "packaged_model",
    ]


def test_steps_show_prints_the_spec_and_config_fields() -> None:
    code, out = run("steps", "show", "XGBoostTraining")
    assert code == 0
    assert out.startswith("step_type: XGBoostTraining\n")
    assert "job_kind: training\n" in out
    assert "config_fields (XGBoostTrainingConfig):\n" in out
    assert '  pipeline_name = "cursus-pipeline"\n' in out
    assert "  instance_count = 1\n" in out
    code, out = run("steps", "show", "XGBoostTrainer")
    assert code == 2
    assert out.startswith("error: unknown step type 'XGBoostTrainer'; known: ")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 100_000])
@pytest.mark.parametrize(
    "command",
    [
        ["validate", "{deep_dag}", "-c", "{config}"],
        ["validate", "xgboost_e2e", "-c", "{deep_config}"],
        ["run", "{deep_dag}", "-c", "{config}", "--no-tracking"],
        ["run", "xgboost_e2e", "-c", "{deep_config}", "--no-tracking"],
        ["compile", "xgboost_e2e", "-c", "{deep_config}"],
        ["dag", "show", "{deep_dag}"],
        ["exec-doc", "validate", "{deep_doc}", "--dag", "xgboost_e2e", "--config", "{config}"],
    ],
)
def test_a_json_file_nested_absurdly_deep_is_one_line_exit_2(
    tmp_path: Path, config: Path, command: list[str], depth: int
) -> None:
    """100,000 levels used to end in a RecursionError traceback; 100 levels parse but no input
    needs them, and later code walking them could still recurse too deep."""
    files = {
        "deep_dag": '{"dag": {"nodes": ' + _nested(depth) + ', "edges": []}}',
        "deep_config": '{"configuration": {"shared": {"x": ' + _nested(depth) + "}}}",
        "deep_doc": '{"PIPELINE_STEP_CONFIGS": ' + _nested(depth) + "}",
    }
    paths = {"config": config}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(text)
    code, out = run(*[a.format(**paths) for a in command])
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nested" in lines[0], out


@pytest.mark.parametrize(
    ("table", "edit", "message"),
    [
        (None, {}, "does not exist; fix the path"),
        ("", {}, "is empty; it needs a header and rows"),
        ("x1,x2,y\n1,2,0\n3,4,1\n", {}, "has no column 'label' (label_field)"),
        ("x1,x2,label\n1,2,0\n3,4,1\n", {"id_field": "customer"}, "has no column 'customer'"),
    ],
)
def test_validate_says_when_a_local_data_source_cannot_start_a_run(
    tmp_path: Path, config: Path, table: str | None, edit: dict, message: str
) -> None:
    source = tmp_path / "table.csv"
    if table is not None:
        source.write_text(table)
    configs = load_configs(config)
    node = "DataLoading_training"
    configs[node] = type(configs[node]).model_validate(
        {**configs[node].model_dump(), "data_source": str(source), **edit}
    )
    save_configs(configs, config)
    code, out = run("validate", "xgboost_e2e", "-c", str(config))
    assert code == 2, out
    assert f"node '{node}': data_source {source} {message}" in out
