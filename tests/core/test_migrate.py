"""`cursus migrate config` on the first system's public project configs (first_system_configs/,
copied with their source in SOURCE.md), and the refusals that keep off-machine pipelines from
silently running on this machine's defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.cli.main import cli
from cursus.core.config_file import load_configs
from cursus.core.migrate import migrate_config, migrate_config_file
from cursus.errors import ConfigError

HERE = Path(__file__).parent
FIXTURES = HERE / "first_system_configs"
FIRST_DAGS = HERE.parent / "pipeline_catalog" / "first_system_dags"
ATOZ = FIXTURES / "atoz_xgboost.config.json"
ATOZ_HP = FIXTURES / "atoz_xgboost.hyperparameters_NA.json"
SOURCES = {
    "CradleDataLoading_training": "s3://example-team-share-bucket/atoz/training/",
    "CradleDataLoading_calibration": "s3://example-team-share-bucket/atoz/calibration/",
}


def run(*args: Any) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def source_flags(sources: dict[str, str]) -> list[str]:
    return [item for node, uri in sources.items() for item in ("--data-source", f"{node}={uri}")]


def as_list(value: Any) -> list[str]:
    """The first system writes some field lists as JSON text."""
    return json.loads(value) if isinstance(value, str) else list(value)


def old_fields(path: Path) -> set[str]:
    data = json.loads(path.read_text())
    names = set(data["configuration"]["shared"])
    for body in data["configuration"]["specific"].values():
        names |= set(body)
    return names


@pytest.fixture(scope="module")
def atoz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("atoz") / "config.json"
    code, output = run(
        "migrate", "config", ATOZ, "--hyperparameters", ATOZ_HP, *source_flags(SOURCES), "-o", out
    )
    assert code == 0, output
    return out


def test_what_cannot_be_mapped_is_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    code, output = run("migrate", "config", ATOZ, "-o", out)
    assert code == 2 and not out.exists()
    refused = [line for line in output.splitlines() if line.startswith("refused: ")]
    assert len(refused) == 3
    assert "hyperparameter_file 's3://example-team-share-bucket/" in refused[0]
    assert "pass it with --hyperparameters FILE (XGBoostTraining)" in refused[0]
    loaders = ["CradleDataLoading_calibration", "CradleDataLoading_training"]
    for line, node in zip(refused[1:], loaders, strict=True):
        assert f"give the data that job writes with --data-source {node}=s3://..." in line
    assert output.splitlines()[-1] == (
        f"error: {ATOZ}: 3 value(s) cannot be migrated (refused: above); nothing was written"
    )


def test_every_field_of_the_old_file_is_accounted_for() -> None:
    result = migrate_config_file(ATOZ, None, ATOZ_HP, SOURCES)
    assert result.ok, result.refused
    lines = result.mapped + result.dropped
    for name in old_fields(ATOZ):
        assert any(line.split(" ")[0].rstrip(":") == name for line in lines), name
    # and every hyperparameter of its hyperparameter file
    for name in json.loads(ATOZ_HP.read_text()):
        assert any(name in line for line in lines), name


def test_the_migrated_config_carries_its_values_not_our_defaults(atoz: Path) -> None:
    configs = load_configs(atoz, load_dag(FIRST_DAGS / "xgboost__complete_e2e.json"))
    assert {c.region for c in configs.values()} == {"us-east-1"}  # was NA
    assert {c.label_field for c in configs.values()} == {"is_abuse"}  # was label_name
    assert {c.id_field for c in configs.values()} == {"order_id"}
    assert {c.pipeline_name for c in configs.values()} == {"lukexie-AtoZ-xgboost-NA"}
    assert {c.cache for c in configs.values()} == {False}  # enable_caching
    training = configs["XGBoostTraining"]
    assert (training.instance_type, training.volume_size_gb) == ("ml.m5.12xlarge", 800)
    hp = training.hyperparameters
    assert (hp.num_round, hp.eta, hp.max_depth, hp.early_stopping_rounds) == (300, 0.3, 6, 0)
    # the large instance where the old file asked for it, the small one elsewhere
    assert configs["TabularPreprocessing_training"].instance_type == "ml.m5.12xlarge"
    assert configs["TabularPreprocessing_calibration"].instance_type == "ml.m5.4xlarge"
    assert configs["TabularPreprocessing_training"].volume_size_gb == 500
    preprocessing = configs["TabularPreprocessing_training"]
    hyperparameters = json.loads(ATOZ_HP.read_text())
    assert preprocessing.categorical_columns == hyperparameters["cat_field_list"]
    assert preprocessing.feature_columns == (
        as_list(hyperparameters["tab_field_list"]) + hyperparameters["cat_field_list"]
    )
    calibration = configs["ModelCalibration_calibration"]
    assert (calibration.calibration_method, calibration.gam_knots) == ("gam", 10)
    assert (calibration.monotonic, calibration.score_field) == (True, "prob")
    assert (
        configs["CradleDataLoading_training"].data_source == SOURCES["CradleDataLoading_training"]
    )
    # the Cradle job spec is kept, without the first system's serialiser tags
    spec = configs["CradleDataLoading_training"].data_sources_spec
    assert spec is not None and "__model_type__" not in json.dumps(spec)
    assert spec["data_sources"][0]["data_source_name"] == "RAW_MDS_NA"


def test_the_migrated_config_validates_and_compiles_for_sagemaker(
    atoz: Path, tmp_path: Path
) -> None:
    dag = FIRST_DAGS / "xgboost__complete_e2e.json"
    code, output = run("validate", dag, "-c", atoz, "--target", "sagemaker")
    assert (code, output) == (0, "ok: 10 nodes, 11 edges, every input bound\n")
    out = tmp_path / "definition.json"
    code, output = run("compile", dag, "-c", atoz, "--target", "sagemaker", "-o", out)
    assert code == 0, output
    steps = {s["Name"]: s for s in json.loads(out.read_text())["Steps"]}
    training = steps["XGBoostTraining"]["Arguments"]
    assert training["ResourceConfig"]["InstanceType"] == "ml.m5.12xlarge"
    assert training["ResourceConfig"]["VolumeSizeInGB"] == 800
    assert training["Environment"]["LABEL_FIELD"] == "is_abuse"
    loading = steps["CradleDataLoading_training"]["Arguments"]
    assert loading["Environment"]["DATA_SOURCE"] == SOURCES["CradleDataLoading_training"]


def test_the_other_public_xgboost_project_migrates_and_compiles(tmp_path: Path) -> None:
    out = tmp_path / "ab.json"
    config = FIXTURES / "ab_lightgbm.config.json"
    hp = FIXTURES / "ab_lightgbm.hyperparameters.json"
    code, output = run(
        "migrate", "config", config, "--hyperparameters", hp, *source_flags(SOURCES), "-o", out
    )
    assert code == 0, output
    dag = FIRST_DAGS / "xgboost__complete_e2e.json"
    code, output = run("compile", dag, "-c", out, "--target", "sagemaker", "-o", tmp_path / "d")
    assert code == 0, output


def test_the_pretrained_pytorch_project_migrates_with_the_model_framework(tmp_path: Path) -> None:
    config = FIXTURES / "rnr_pytorch_bedrock.config_dummy.json"
    result = migrate_config_file(config)
    assert result.ok, result.refused
    out = tmp_path / "rnr.json"
    out.write_text(json.dumps(result.config))
    configs = load_configs(out)
    # no training node: the framework of the model it brings names the images
    assert configs["Registration"].model_framework == "pytorch"
    assert "framework -> model_framework = 'pytorch' (Registration)" in result.mapped
    assert configs["PyTorchModelEval_calibration"].framework_version == "2.1"  # was 2.1.0
    assert configs["ModelCalibration_calibration"].label_field == "llm_reversal_flag"
    assert configs["DummyTraining"].pretrained_model_path.startswith("s3://example-team-share")
    # its data is a path on the first system's notebook: fine to name, refused for SageMaker
    loading = configs["DummyDataLoading_calibration"]
    assert loading.data_source.startswith("/home/ec2-user/SageMaker/")


def test_steps_cursus_does_not_have_are_refused_by_node() -> None:
    result = migrate_config_file(FIXTURES / "rnr_pytorch_bedrock.config.json")
    assert not result.ok
    missing = [line for line in result.refused if "Cursus has no step type for it" in line]
    assert [line.split("'")[1] for line in missing] == [
        "BedrockBatchProcessing_calibration",
        "BedrockBatchProcessing_training",
        "BedrockPromptTemplateGeneration",
        "LabelRulesetExecution_calibration",
        "LabelRulesetExecution_training",
        "LabelRulesetGeneration",
    ]


def test_a_file_that_names_no_nodes_needs_the_dag(tmp_path: Path) -> None:
    config = FIXTURES / "munged_address_pytorch.config_NA.json"
    with pytest.raises(ConfigError, match=r"names no nodes .* pass the pipeline's DAG with --dag"):
        migrate_config_file(config)
    result = migrate_config_file(config, load_dag("pytorch_e2e"))
    assert result.ok, result.refused
    out = tmp_path / "munged.json"
    out.write_text(json.dumps(result.config))
    configs = load_configs(out, load_dag("pytorch_e2e"))
    assert {c.pipeline_name for c in configs.values()} == {
        "bjjin-MungedAddressDetection-pytorch-NA"
    }
    # its data loading nodes got no data_source: the sample, which SageMaker refuses
    code, output = run("validate", "pytorch_e2e", "-c", out, "--target", "sagemaker")
    assert code == 2
    assert "node 'DataLoading_training': data_source is 'sklearn:breast_cancer" in output
    assert "label_field is not set for 'DataLoading_training'" in output


def test_a_value_that_would_change_the_result_is_refused() -> None:
    data = json.loads(ATOZ.read_text())
    specific = data["configuration"]["specific"]
    specific["XGBoostModelEval_calibration"]["comparison_mode"] = True
    specific["Package"]["processing_framework_version"] = "0.23-1"
    specific["Payload"]["colour"] = "blue"
    hp = json.loads(ATOZ_HP.read_text()) | {"gamma": 0.5, "class_weights": [1.0, 3.0]}
    result = migrate_config(data, "old.json", None, hp, SOURCES)
    refused = "\n".join(result.refused)
    assert "comparison_mode = True compares against a previous model's scores" in refused
    assert "processing_framework_version '0.23-1'" in refused
    assert "field 'colour' = \"blue\" is not one the migration knows" in refused
    assert "hyperparameters.gamma = 0.5: Cursus's XGBoostTraining takes only" in refused
    assert "hyperparameters.class_weights = [1.0, 3.0]: Cursus does not weight classes" in refused
    assert len(result.refused) == 5


def test_nodes_that_disagree_on_the_label_are_refused() -> None:
    data = json.loads(ATOZ.read_text())
    data["configuration"]["specific"]["XGBoostModelEval_calibration"]["label_name"] = "is_fraud"
    result = migrate_config(data, "old.json", None, json.loads(ATOZ_HP.read_text()), SOURCES)
    assert any("the nodes name different labels (is_abuse, is_fraud)" in r for r in result.refused)


def test_the_migrated_pipeline_learns_only_the_features_the_old_one_did(
    atoz: Path, tmp_path: Path
) -> None:
    """A table with the old pipeline's 64 features plus columns it never trained on (dates, an
    abuse type that gives the label away): the migrated pipeline trains on the 64 alone."""
    import numpy as np
    import pandas as pd

    hyperparameters = json.loads(ATOZ_HP.read_text())
    categorical = hyperparameters["cat_field_list"]
    numeric = as_list(hyperparameters["tab_field_list"])
    rng = np.random.default_rng(0)
    rows = 400
    table = pd.DataFrame({name: rng.normal(size=rows) for name in numeric})
    for name in categorical:
        table[name] = rng.choice(["a", "b", "c"], size=rows)
    table["is_abuse"] = (table[numeric[0]] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    table["order_id"] = [f"o{i}" for i in range(rows)]
    table["abuse_type"] = np.where(table["is_abuse"] == 1, "abuse", "none")
    table["transactionDate"] = "2025-01-01"
    data = tmp_path / "table.csv"
    table.to_csv(data, index=False)
    config = json.loads(atoz.read_text())
    for node in SOURCES:
        config["configuration"]["specific"][node]["data_source"] = str(data)
    local = tmp_path / "local.json"
    local.write_text(json.dumps(config))
    dag = FIRST_DAGS / "xgboost__complete_e2e.json"
    code, output = run("run", dag, "-c", local, "--workspace", tmp_path / "ws", "--no-tracking")
    assert code == 0, output
    models = list((tmp_path / "ws").rglob("preprocessing.json"))
    artifacts = json.loads(models[0].read_text())
    assert sorted(artifacts["features"]) == sorted(numeric + categorical)


def test_a_first_system_region_code_is_an_error_at_validate(tmp_path: Path) -> None:
    data = json.loads(load_config_text(tmp_path))
    data["configuration"]["shared"]["region"] = "NA"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    code, output = run("validate", "xgboost_simple", "-c", path)
    assert code == 2
    assert (
        "shared field 'region': 'NA' is a region code of the first system, not an AWS region; "
        "use us-east-1 (`cursus migrate config` maps it)"
    ) in output


def load_config_text(tmp_path: Path) -> str:
    path = tmp_path / "init.json"
    code, output = run("config", "init", "xgboost_simple", "-o", path)
    assert code == 0, output
    return path.read_text()


def test_a_label_set_on_some_nodes_only_is_refused_off_this_machine(tmp_path: Path) -> None:
    """The first system's way: the label on the preprocessing node, none on the trainer."""
    dag = PipelineDAG(
        nodes=["DataLoading_training", "TabularPreprocessing_training", "XGBoostTraining"],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "XGBoostTraining"),
        ],
    )
    data = {
        "configuration": {
            "shared": {"data_source": "s3://bkt/data/", "bucket": "bkt"},
            "specific": {"TabularPreprocessing_training": {"label_field": "is_abuse"}},
        },
        "metadata": {
            "config_types": {
                "DataLoading_training": "DataLoadingConfig",
                "TabularPreprocessing_training": "TabularPreprocessingConfig",
                "XGBoostTraining": "XGBoostTrainingConfig",
            }
        },
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    dag_file = tmp_path / "dag.json"
    dag_file.write_text(dag.to_json())
    for target in ("sagemaker", "airflow"):
        code, output = run(
            "compile", dag_file, "-c", path, "--target", target, "-o", tmp_path / "x"
        )
        assert code == 2
        assert (
            "label_field is not set for 'DataLoading_training', 'XGBoostTraining', so the "
            "pipeline learns the column 'label'"
        ) in output
        assert f"(compiling for {target})" in output
    # on this machine it runs as written
    code, output = run("compile", dag_file, "-c", path)
    assert code == 0, output


def test_categorical_features_to_encode_join_the_categorical_columns() -> None:
    hp = json.loads(ATOZ_HP.read_text()) | {"categorical_features_to_encode": ["marketplace_id"]}
    result = migrate_config(json.loads(ATOZ.read_text()), "old.json", None, hp, SOURCES)
    assert result.ok, result.refused
    preprocessing = result.config["configuration"]["shared"]["categorical_columns"]
    assert preprocessing == [*hp["cat_field_list"], "marketplace_id"]
    assert not any("categorical_features_to_encode: empty" in line for line in result.dropped)
