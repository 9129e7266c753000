"""The corpus of broken inputs under bad_inputs/: each is refused with its own error type, a message
that names the file, node or field and says how to fix it, and, on the command line, one or two
lines without a traceback and exit code 2."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cursus.api.loading import load_dag
from cursus.cli.main import cli
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import default_configs, save_configs
from cursus.errors import (
    ConfigError,
    CursusError,
    DAGError,
    ResolutionError,
    SpecError,
    ValidationFailed,
)
from cursus.steps import library
from cursus.steps.library import BUNDLED_LIBRARY as SPECS_DIR
from cursus.steps.library import UnitSource, build_library, split_node_name

BAD = Path(__file__).parent / "bad_inputs"


@dataclass(frozen=True)
class Case:
    file: str  # under bad_inputs/
    error: type[CursusError]
    names: tuple[str, ...]  # the file, node, field or value the message must name
    fix: str  # words of the fix the message must suggest
    dag: str = "xgboost_simple"  # for a config: the DAG it is validated against

    @property
    def path(self) -> Path:
        return BAD / self.file

    def __str__(self) -> str:
        return self.file


# one line per case, so the corpus reads as a table
# fmt: off
DAG_CASES = [
    Case("dags/cycle.json", DAGError, ("cycle.json", "XGBoostTraining -> XGBoostModelEval_calibration -> TabularPreprocessing_training -> XGBoostTraining"), "remove one of its edges"),
    Case("dags/self_loop.json", DAGError, ("self_loop.json", "XGBoostTraining -> XGBoostTraining"), "remove the edge"),
    Case("dags/edge_to_unknown_node.json", DAGError, ("edge_to_unknown_node.json", "'XGBoostModelEval_calibration'"), "add the node"),
    Case("dags/duplicate_node.json", DAGError, ("duplicate_node.json", "'TabularPreprocessing_training'"), "remove the duplicate"),
    Case("dags/duplicate_edge.json", DAGError, ("duplicate_edge.json", "DataLoading_training -> TabularPreprocessing_training"), "remove the duplicate"),
    Case("dags/empty.json", DAGError, ("empty.json", "dag.nodes"), "list at least one step"),
    Case("dags/not_json.json", DAGError, ("not_json.json", "line 1"), "fix the syntax"),
    Case("dags/binary.json", DAGError, ("binary.json",), "UTF-8 JSON"),
    Case("dags/wrong_top_level.json", DAGError, ("wrong_top_level.json",), '{"dag": {"nodes"'),
    Case("dags/top_level_list.json", DAGError, ("top_level_list.json",), '{"dag": {"nodes"'),
    Case("dags/nodes_not_list.json", DAGError, ("nodes_not_list.json", "dag.nodes"), "must be a list"),
    Case("dags/edges_not_list.json", DAGError, ("edges_not_list.json", "dag.edges"), "must be a list of [from, to] pairs"),
    Case("dags/edge_not_pair.json", DAGError, ("edge_not_pair.json", "dag.edges[0]"), "each edge is a [from, to] pair"),
    Case("dags/edge_end_not_string.json", DAGError, ("edge_end_not_string.json", "['DataLoading_training']"), '["FromNode", "ToNode"]'),
    Case("dags/node_not_string.json", DAGError, ("node_not_string.json", "7"), "name nodes like"),
    Case("dags/empty_node_name.json", DAGError, ("empty_node_name.json", "''"), "name nodes like"),
    Case("dags/no_dag.py", DAGError, ("no_dag.py",), "define `create_dag()`"),
    Case("dags/create_dag_raises.py", DAGError, ("create_dag_raises.py", "'TabularPreprocessing_training'"), "add the node first"),
    Case("dags/unknown_step_type.json", SpecError, ("'XGBoostTrainer'"), "name nodes <StepType> or <StepType>_<job_type>"),
    # the DAG is well formed, but its steps cannot be wired: checked with the config named here
    Case("configs/unbindable_input.json", ResolutionError, ("'XGBoostTraining'", "'input_path'", "DataLoading_training.data"), "add an edge from a producing step", dag="dags/training_after_loading.json"),
    Case("configs/ambiguous_binding.json", ResolutionError, ("'XGBoostTraining'", "'input_path'", "TabularPreprocessing_calibration.processed_data, TabularPreprocessing_training.processed_data"), '"input_bindings": {"input_path": ', dag="dags/two_preprocessors.json"),
]

CONFIG_CASES = [
    Case("configs/not_json.json", ConfigError, ("not_json.json", "line 2"), "fix the syntax"),
    Case("configs/binary.json", ConfigError, ("binary.json",), "UTF-8 JSON"),
    Case("configs/wrong_shape.json", ConfigError, ("wrong_shape.json"), '{"configuration": {"shared"'),
    Case("configs/node_missing.json", ConfigError, ("node_missing.json", "'XGBoostTraining'"), "add it to \"metadata.config_types\" as 'XGBoostTrainingConfig'"),
    Case("configs/node_name_typo.json", ConfigError, ("node_name_typo.json", "'XGBoostTraining'", "'XGBoostTrainig'"), "is 'XGBoostTrainig' in the config meant to be 'XGBoostTraining'?"),
    Case("configs/unknown_class.json", ConfigError, ("unknown_class.json", "'XGBoostTraining'", "'XGBoostTrainConfig'"), "'XGBoostTrainingConfig'"),
    Case("configs/wrong_class_for_node.json", ConfigError, ("wrong_class_for_node.json", "'XGBoostTraining'", "PyTorchTrainingConfig"), 'change it in "metadata.config_types"'),
    Case("configs/class_name_not_string.json", ConfigError, ("class_name_not_string.json", "metadata.config_types.XGBoostTraining"), "it must name a config class"),
    Case("configs/wrong_field_type.json", ConfigError, ("wrong_field_type.json", "'XGBoostTraining'", "'instance_count'", "'two'"), "should be a valid integer"),
    Case("configs/out_of_range.json", ConfigError, ("out_of_range.json", "'TabularPreprocessing_training'", "'train_ratio'", "1.5"), "should be less than 1"),
    Case("configs/bad_literal.json", ConfigError, ("bad_literal.json", "'XGBoostTraining'", "'hyperparameters.eval_metric'", "'ndcg'"), "should be 'auc', 'logloss', 'aucpr', 'error', 'mlogloss', 'merror', 'rmse' or 'mae'"),
    Case("configs/unknown_field.json", ConfigError, ("unknown_field.json", "'XGBoostTraining'", "'learning_rate'"), "remove it (`cursus steps show XGBoostTraining` lists the fields)"),
    Case("configs/unknown_shared_field.json", ConfigError, ("unknown_shared_field.json", "'lable_field'"), "did you mean 'label_field'?"),
    Case("configs/unknown_nested_field.json", ConfigError, ("unknown_nested_field.json", "'XGBoostTraining'", "'hyperparameters.etaa'"), "remove it or correct its spelling"),
    Case("configs/specific_not_object.json", ConfigError, ("specific_not_object.json", "configuration.specific.XGBoostTraining"), "must be an object of field values"),
    Case("configs/specific_without_type.json", ConfigError, ("specific_without_type.json", "'XGBoostModelEval_calibration'"), 'add "XGBoostModelEval_calibration": "XGBoostModelEvalConfig" there'),
    Case("configs/bad_semver.json", ConfigError, ("bad_semver.json", "shared field 'pipeline_version'", "'1.0'"), "use a semantic version such as 1.0.0"),
    Case("configs/bad_pipeline_name.json", ConfigError, ("bad_pipeline_name.json", "shared field 'pipeline_name'", "'my pipeline!'"), "use 1-82 letters, digits and hyphens"),
    Case("configs/pipeline_field_differs.json", ConfigError, ("pipeline_field_differs.json", "'region'", '"eu-west-1" in XGBoostTraining'), 'set it once under "shared"'),
    Case("configs/job_type_mismatch.json", ConfigError, ("job_type_mismatch.json", "'DataLoading_training'", "'job_type'", "'calibration'"), "make them agree"),
    Case("configs/binding_not_predecessor.json", ResolutionError, ("'XGBoostTraining'", "input_bindings['input_path']", "'DataLoading_training'"), "add the edge or fix the name"),
    Case("configs/binding_kind_mismatch.json", ResolutionError, ("'XGBoostTraining'", "input_bindings['input_path']", "'preprocessing_artifacts'"), "bind an output of kind 'processed_tabular' (TabularPreprocessing_training.processed_data)"),
    Case("configs/binding_unknown_input.json", ResolutionError, ("'XGBoostTraining'", "'training_data'"), "use one of its inputs: input_path, preprocessing_artifacts"),
    Case("configs/binding_unknown_output.json", ResolutionError, ("'XGBoostTraining'", "'processed'"), "write 'TabularPreprocessing_training.<output>' with one of: processed_data"),
]

SPEC_CASES = [
    Case("specs/missing_field.step.yaml", SpecError, ("missing_field.step.yaml", "'framework'"), "is required; add it"),
    Case("specs/bad_job_kind.step.yaml", SpecError, ("bad_job_kind.step.yaml", "'job_kind'", "'batch'"), "should be 'processing', 'training'"),
    Case("specs/contract_missing_input.step.yaml", SpecError, ("contract_missing_input.step.yaml", "'contract.inputs'", "calibration_model"), "add one for each"),
    Case("specs/contract_extra_output.step.yaml", SpecError, ("contract_extra_output.step.yaml", "'contract.outputs'", "'report'"), "remove them or declare them"),
    Case("specs/invalid_yaml.step.yaml", SpecError, ("invalid_yaml.step.yaml", "line "), "fix the syntax"),
    Case("specs/not_a_mapping.step.yaml", SpecError, ("not_a_mapping.step.yaml"), "a spec is a YAML mapping with step_type"),
    Case("specs/empty.step.yaml", SpecError, ("empty.step.yaml",), "a spec is a YAML mapping with step_type"),
    Case("specs/duplicate_input_names.step.yaml", SpecError, ("duplicate_input_names.step.yaml", "'inputs'", "'model_input'"), "give each its own name"),
    Case("specs/duplicate_output_names.step.yaml", SpecError, ("duplicate_output_names.step.yaml", "'outputs'", "'packaged_model'"), "give each its own name"),
    Case("specs/output_name_slash.step.yaml", SpecError, ("output_name_slash.step.yaml", "'outputs[0].name'", "'model/packaged'"), "use up to 64 letters, digits and underscores"),
    Case("specs/output_name_dotdot.step.yaml", SpecError, ("output_name_dotdot.step.yaml", "'outputs[0].name'", "'..'"), "use up to 64 letters, digits and underscores"),
    Case("specs/container_path_outside.step.yaml", SpecError, ("container_path_outside.step.yaml", "'contract.outputs'", "'/tmp/packaged_model'"), "must lie under /opt/ml/"),
    Case("specs/container_path_climbs.step.yaml", SpecError, ("container_path_climbs.step.yaml", "'contract.outputs'", "'/opt/ml/processing/../../../etc'"), "not climb out with '..'"),
    Case("specs/unknown_field.step.yaml", SpecError, ("unknown_field.step.yaml", "'timeout_seconds'"), "remove it or correct its spelling"),
    Case("specs/input_missing_kind.step.yaml", SpecError, ("input_missing_kind.step.yaml", "'inputs[0].kind'"), "is required; add it"),
    Case("specs/required_not_bool.step.yaml", SpecError, ("required_not_bool.step.yaml", "'inputs[1].required'", "'sometimes'"), "should be a valid boolean"),
    Case("specs/env_two_sources.step.yaml", SpecError, ("env_two_sources.step.yaml", "'contract.env.MODEL_NAME'"), "give exactly one of 'config' or 'runtime'"),
    Case("specs/duplicate_step_type.step.yaml", SpecError, ("duplicate_step_type.step.yaml", "'XGBoostTraining'", "xgboost_training.step.yaml"), "keep one spec file per step type"),
    Case("specs/unknown_config_class.step.yaml", SpecError, ("unknown_config_class.step.yaml", "'config_class'", "'PackagingConfig'"), "derived from cursus.steps.configs.BasePipelineConfig; define it there"),
    Case("specs/contract_reads_unknown_config_field.step.yaml", SpecError, ("contract_reads_unknown_config_field.step.yaml", "'contract.env.COMPRESSION'", "'compression_level'"), "use one of its fields"),
    Case("specs/unknown_compatible_source.step.yaml", SpecError, ("unknown_compatible_source.step.yaml", "'inputs.model_input.compatible_sources'", "'CatBoostTraining'"), "use names from:"),
]
# fmt: on


def test_the_corpus_is_complete() -> None:
    """Every file under bad_inputs/ has a case, and there are at least 30 of them."""
    listed = {c.file for c in DAG_CASES + CONFIG_CASES + SPEC_CASES}
    on_disk = {
        str(p.relative_to(BAD)) for p in BAD.rglob("*") if p.is_file() and p.name != "README.md"
    }
    helpers = {"dags/training_after_loading.json", "dags/two_preprocessors.json"}
    assert on_disk - helpers == listed
    assert len(listed) >= 30


# ---------------------------------------------------------------- how each input is checked


def _config_for(dag_ref: str, directory: Path) -> Path:
    """A valid config for the nodes of `dag_ref` that name a known step type."""
    try:
        dag = load_dag(BAD / dag_ref if dag_ref.startswith("dags/") else dag_ref)
    except DAGError:  # a DAG that cannot load: its config is never read, any valid one does
        dag = load_dag("xgboost_simple")
    for node in dag.nodes:
        try:
            split_node_name(node)
        except SpecError:
            dag = type(dag)([n for n in dag.nodes if n != node])
    return save_configs(default_configs(dag), directory / "config.json")


def _dag_and_config(case: Case, tmp_path: Path) -> tuple[str, str]:
    if case.file.startswith("dags/"):
        return str(case.path), str(_config_for(case.file, tmp_path))
    dag = str(BAD / case.dag) if case.dag.startswith("dags/") else case.dag
    return dag, str(case.path)


def _check_pipeline(dag_ref: str, config: str) -> None:
    """What `cursus validate` does."""
    dag = load_dag(dag_ref)
    PipelineDAGCompiler(config).validate_dag_compatibility(dag).raise_if_failed()


def _spec_dir(case: Case, tmp_path: Path) -> Path:
    """The bundled specs with the broken one in place of package.yaml (or beside it, for the
    case that redeclares another step type)."""
    spec_dir = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, spec_dir)
    if case.file != "specs/duplicate_step_type.yaml":
        (spec_dir / "package.step.yaml").unlink()
    shutil.copy(case.path, spec_dir)
    return spec_dir


def _assert_message(case: Case, exc: CursusError) -> None:
    problems = exc.problems if isinstance(exc, ValidationFailed) else [exc]
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert type(problem) is case.error, problem
    for name in case.names:
        assert name in str(problem)
    assert case.fix in str(problem)


def _assert_cli(result) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert 1 <= len(lines) <= 2, lines
    errors = [line for line in lines if not line.startswith("warning: ")]
    assert len(errors) == 1  # and a warning, at most: a config for a node the DAG lacks
    assert errors[0].startswith("error: ")


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("case", DAG_CASES + CONFIG_CASES, ids=str)
def test_bad_pipeline_input(case: Case, tmp_path: Path) -> None:
    dag, config = _dag_and_config(case, tmp_path)
    with pytest.raises(CursusError) as info:
        _check_pipeline(dag, config)
    _assert_message(case, info.value)


@pytest.mark.parametrize("case", DAG_CASES + CONFIG_CASES, ids=str)
def test_bad_pipeline_input_on_the_command_line(case: Case, tmp_path: Path) -> None:
    dag, config = _dag_and_config(case, tmp_path)
    _assert_cli(CliRunner().invoke(cli, ["validate", dag, "-c", config]))


@pytest.mark.parametrize("case", SPEC_CASES, ids=str)
def test_bad_spec(case: Case, tmp_path: Path) -> None:
    with pytest.raises(CursusError) as info:
        build_library([UnitSource(_spec_dir(case, tmp_path), "test")])
    _assert_message(case, info.value)


@pytest.mark.parametrize("case", SPEC_CASES, ids=str)
def test_bad_spec_on_the_command_line(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_dir = _spec_dir(case, tmp_path)
    monkeypatch.setattr(library, "BUNDLED_LIBRARY", spec_dir)
    monkeypatch.setattr(library, "_cache", {})
    _assert_cli(CliRunner().invoke(cli, ["steps", "list"]))


def test_several_problems_are_reported_together_one_line_each(tmp_path: Path) -> None:
    """A bad value in one node's config and the DAG's unbindable inputs come out in one run."""
    dag = BAD / "dags/training_after_loading.json"
    config = tmp_path / "config.json"
    config.write_text(
        (BAD / "configs/unbindable_input.json")
        .read_text()
        .replace('"specific": {', '"specific": {"DataLoading_training": {"random_seed": "x"}, ')
    )
    with pytest.raises(ValidationFailed) as info:
        _check_pipeline(str(dag), str(config))
    problems = info.value.problems
    assert [type(p) for p in problems] == [ConfigError, ResolutionError]
    assert "'DataLoading_training', field 'random_seed'" in str(problems[0])
    assert "'XGBoostTraining': required input 'input_path'" in str(problems[1])

    result = CliRunner().invoke(cli, ["validate", str(dag), "-c", str(config)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.splitlines() == [
        "error: 2 problem(s):",
        f"  - {problems[0]}",
        f"  - {problems[1]}",
    ]
