"""What only runs on this machine is recorded in the Plan and refused by SageMaker and Airflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from cursus.api.loading import load_dag
from cursus.core.config_file import default_configs
from cursus.core.planner import compile_plan
from cursus.errors import ConfigError, ValidationFailed
from cursus.plan import Plan
from cursus.targets import build


def plan_for(**shared: object) -> Plan:
    values = {"role": "arn:aws:iam::123456789012:role/R", "bucket": "bkt", **shared}
    return compile_plan(
        load_dag("xgboost_simple"), default_configs(load_dag("xgboost_simple"), **values)
    )


def test_sample_data_is_recorded_and_refused_off_this_machine(tmp_path: Path) -> None:
    plan = plan_for()
    assert [(e["kind"], e["targets"]) for e in plan.local_only] == [
        ("sample_data", ["sagemaker", "airflow"])
    ]
    for target, options in (("sagemaker", {}), ("airflow", {"output": tmp_path / "d.py"})):
        with pytest.raises(
            ConfigError, match=rf"data_source is 'sklearn:.*\(compiling for {target}\)"
        ):
            build(plan, target, **options)
    assert not (tmp_path / "d.py").exists()
    # a Plan file keeps the record: a saved plan is refused the same way
    again = Plan.load(plan.save(tmp_path / "plan.json"))
    assert again.local_only == plan.local_only
    # a demo says so; this machine's targets never refuse
    assert build(plan, "airflow", allow_sample_data=True, output=tmp_path / "d.py")
    assert build(plan, "plan") is plan


def test_a_local_path_is_refused_by_sagemaker_only(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    plan = plan_for(data_source=str(table), label_field="target")
    assert [(e["kind"], e["targets"]) for e in plan.local_only] == [("local_path", ["sagemaker"])]
    with pytest.raises(ConfigError, match="a path on this machine, which a SageMaker job cannot"):
        build(
            plan, "sagemaker", allow_sample_data=True
        )  # not a sample: the waiver does not cover it
    assert build(plan, "airflow", output=tmp_path / "d.py")  # Airflow's workers read local paths


def test_an_unset_label_with_real_data_is_refused_with_every_problem_at_once() -> None:
    configs = default_configs(load_dag("xgboost_simple"), data_source="/data/t.csv")
    for config in configs.values():
        object.__setattr__(
            config, "__pydantic_fields_set__", config.model_fields_set - {"label_field"}
        )
    plan = compile_plan(load_dag("xgboost_simple"), configs)
    with pytest.raises(ValidationFailed) as caught:
        build(plan, "sagemaker")
    messages = [str(p) for p in caught.value.problems]
    assert len(messages) == 2
    assert "a path on this machine" in messages[0]
    assert messages[1].startswith(
        "label_field is not set for 'DataLoading_training', 'TabularPreprocessing_training', "
        "'XGBoostTraining'"
    )


def test_airflow_refuses_a_region_sagemaker_does_not_run_in(tmp_path: Path) -> None:
    plan = plan_for(region="us-nowhere-1", data_source="s3://bkt/d/", label_field="y")
    with pytest.raises(
        ConfigError, match="region 'us-nowhere-1' is not a region SageMaker runs in"
    ):
        build(plan, "airflow", output=tmp_path / "d.py")
    assert build(plan, "plan") is plan  # this machine does not care
