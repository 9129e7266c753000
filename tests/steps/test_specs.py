"""Step specs (YAML) and the bundled step library that pairs each with its config class and script.

The broken-spec corpus lives in tests/core/bad_inputs/specs/ and is checked by
tests/core/test_bad_inputs.py; these tests cover the bundled specs and the loader's contract.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from cursus.errors import SpecError
from cursus.steps import configs
from cursus.steps.library import (
    BUNDLED_LIBRARY,
    UnitSource,
    build_library,
    get_step_unit,
    split_node_name,
    step_library,
)
from cursus.steps.spec import StepSpec, load_spec_file, load_specs, spec_summary

SPECS_DIR = BUNDLED_LIBRARY


def step_types() -> dict[str, object]:
    return dict(step_library().units)


# the step types the bundled pipelines use; others may be added beside them
STEP_TYPES = [
    "DataLoading",
    "ModelCalibration",
    "Package",
    "Payload",
    "PyTorchModelEval",
    "PyTorchTraining",
    "Registration",
    "TabularPreprocessing",
    "XGBoostModelEval",
    "XGBoostTraining",
]


def test_every_bundled_spec_loads_and_is_registered() -> None:
    specs = load_specs(BUNDLED_LIBRARY)
    assert set(STEP_TYPES) <= set(specs)
    assert sorted(step_types()) == sorted(specs)


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_bundled_spec_is_consistent(step_type: str) -> None:
    st = get_step_unit(step_type)
    spec = st.spec
    assert st.name == step_type
    module, _, name = spec.config_class.partition(":")
    assert module == "cursus.steps.configs"
    assert st.config_class is getattr(configs, name)
    assert st.origin == "bundled"
    assert st.script.is_file()
    assert set(spec.contract.inputs) == {i.name for i in spec.inputs}
    assert set(spec.contract.outputs) == {o.name for o in spec.outputs}
    assert all(
        p.startswith("/opt/ml/")
        for p in [*spec.contract.inputs.values(), *spec.contract.outputs.values()]
    )
    for source in [*spec.contract.env.values(), *spec.contract.job_args.values()]:
        assert source.runtime is not None or source.config in st.config_class.model_fields
    for inp in spec.inputs:
        assert set(inp.compatible_sources) <= set(step_types())
    path = Path(spec.source_file)
    assert path.parent == SPECS_DIR
    assert spec.digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_spec_lookup_by_name() -> None:
    spec = get_step_unit("TabularPreprocessing").spec
    assert spec.input("metadata_input").kind == "data_schema"
    assert spec.input("metadata_input").required is False
    assert spec.output("processed_data").aliases == ("processed", "cleaned_data")
    assert spec.job_kind == "processing"


def test_specs_are_frozen() -> None:
    spec = get_step_unit("Package").spec
    with pytest.raises(ValueError):
        spec.job_kind = "training"  # type: ignore[misc]


def test_summary_leaves_out_where_the_spec_came_from() -> None:
    summary = spec_summary(get_step_unit("Payload").spec)
    assert "source_file" not in summary
    assert "digest" not in summary
    assert summary["step_type"] == "Payload"
    assert summary["inputs"][0]["name"] == "packaged_model"


def test_a_spec_outside_the_bundle_loads_from_its_own_file(tmp_path: Path) -> None:
    data = yaml.safe_load((SPECS_DIR / "payload.step.yaml").read_text())
    data["description"] = "a copy"
    path = tmp_path / "payload_copy.step.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="a step unit's script lies beside its spec"):
        load_spec_file(path)
    shutil.copy(SPECS_DIR / "payload.py", tmp_path)
    with pytest.raises(SpecError, match=r"contract.bundle names \['inference.py'\]"):
        load_spec_file(path)
    shutil.copy(SPECS_DIR / "inference.py", tmp_path)
    spec = load_spec_file(path)
    assert isinstance(spec, StepSpec)
    assert spec.source_file == str(path)
    assert spec.script_path == tmp_path / "payload.py"
    assert spec.description == "a copy"


def test_a_broken_spec_is_reported_by_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load((SPECS_DIR / "xgboost_training.step.yaml").read_text())
    data["inputs"][1]["kind"] = 5
    path = tmp_path / "xgboost_training.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert str(info.value).startswith(
        f"{path}: field 'inputs[1].kind': Input should be a valid string"
    )


def test_a_spec_must_point_at_an_existing_script(tmp_path: Path) -> None:
    specs_dir = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, specs_dir)
    text = (
        (specs_dir / "payload.step.yaml")
        .read_text()
        .replace("entry_point: payload.py", "entry_point: gone.py")
    )
    (specs_dir / "payload.step.yaml").write_text(text)
    with pytest.raises(
        SpecError, match=r"payload\.step\.yaml: contract\.entry_point 'gone\.py' is not in"
    ):
        load_specs(specs_dir)


def test_library_checks_run_on_any_folder_of_units(tmp_path: Path) -> None:
    """build_library is what step_library() runs on the bundled folder."""
    library = build_library([UnitSource(BUNDLED_LIBRARY, "bundled")])
    assert sorted(library.units) == sorted(step_types())
    only_payload = tmp_path / "only_payload"
    only_payload.mkdir()
    for name in ("payload.step.yaml", "payload.py", "inference.py", "_tabular.py"):
        if (BUNDLED_LIBRARY / name).exists():
            shutil.copy(BUNDLED_LIBRARY / name, only_payload / name)
    with pytest.raises(
        SpecError, match=r"compatible_sources' names unknown step types \['Package'\]"
    ):
        build_library([UnitSource(only_payload, "test")])


# ---------------------------------------------------------------- node names


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ("XGBoostTraining", ("XGBoostTraining", None)),
        ("TabularPreprocessing_training", ("TabularPreprocessing", "training")),
        ("XGBoostModelEval_calibration", ("XGBoostModelEval", "calibration")),
        ("DataLoading_training_2024", ("DataLoading", "training_2024")),
        ("Package_", ("Package", None)),
    ],
)
def test_node_names_split_into_step_type_and_job_type(
    node: str, expected: tuple[str, str | None]
) -> None:
    assert split_node_name(node) == expected


@pytest.mark.parametrize("node", ["XGBoostTrainer", "xgboosttraining", "Training", "PackageExtra"])
def test_a_node_that_names_no_step_type_is_an_error_listing_them(node: str) -> None:
    with pytest.raises(SpecError) as info:
        split_node_name(node)
    assert f"node '{node}' does not name a known step type" in str(info.value)
    assert ", ".join(sorted(step_types())) in str(info.value)


def test_an_unknown_step_type_lists_the_known_ones() -> None:
    with pytest.raises(
        SpecError,
        match="unknown step type 'CatBoostTraining'; known: CradleDataLoading, CurrencyConversion, DataLoading, ",
    ):
        get_step_unit("CatBoostTraining")


# what a job may pip-install at start, per step type: jobs in secure accounts have no internet,
# so only what no image has is listed (docs/step-scripts.md, "What a script may use per image")
NEEDS_INSTALLING = {
    "DriftCheck": ("pandas>=2.1,<3", "evidently==0.7.23"),  # in no image; a later issue
    "PyTorchTraining": ("pyarrow>=14",),  # the PyTorch image has no pyarrow
    "PyTorchModelEval": ("pyarrow>=14",),
    "PyTorchModelInference": ("pyarrow>=14",),
}


def test_jobs_install_only_what_their_image_lacks() -> None:
    """pyarrow 14.0.1 and boto3 are in the scikit-learn and XGBoost images, matplotlib 3.4.1 in
    the XGBoost one; fsspec/s3fs and a newer matplotlib are not needed (the scripts fall back)."""
    installs = {
        name: spec.contract.requirements for name, spec in load_specs(BUNDLED_LIBRARY).items()
    }
    assert {name: r for name, r in installs.items() if r} == NEEDS_INSTALLING
