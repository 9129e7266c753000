"""The resolver binds an input to an output only on evidence, never guesses, and always decides the
same way. The bindings of every bundled pipeline are pinned here: a change to scoring that re-wires
anything fails loudly."""

from __future__ import annotations

import random

import pytest

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.core.config_file import default_configs
from cursus.core.resolver import Binding, resolve, score_candidate
from cursus.errors import ResolutionError
from cursus.steps.spec import InputSpec, OutputSpec


def bindings_of(
    dag: PipelineDAG, **config_values
) -> dict[tuple[str, str], tuple[str, str] | str | None]:
    """{(node, input): (producer, output) | uri | None}, failing the test on any problem."""
    result, problems, _ = resolve(dag, default_configs(dag, **config_values))
    assert problems == []
    return {(b.node, b.input): _target(b) for bs in result.values() for b in bs}


def _target(b: Binding) -> tuple[str, str] | str | None:
    if b.uri is not None:
        return b.uri
    return (b.producer, b.output) if b.producer else None


XGBOOST_E2E = {
    ("TabularPreprocessing_training", "data_input"): ("DataLoading_training", "data"),
    ("TabularPreprocessing_training", "metadata_input"): ("DataLoading_training", "metadata"),
    ("XGBoostTraining", "input_path"): ("TabularPreprocessing_training", "processed_data"),
    ("XGBoostTraining", "preprocessing_artifacts"): (
        "TabularPreprocessing_training",
        "preprocessing_artifacts",
    ),
    ("TabularPreprocessing_calibration", "data_input"): ("DataLoading_calibration", "data"),
    ("TabularPreprocessing_calibration", "metadata_input"): ("DataLoading_calibration", "metadata"),
    ("XGBoostModelEval_calibration", "model_input"): ("XGBoostTraining", "model_output"),
    ("XGBoostModelEval_calibration", "processed_data"): (
        "TabularPreprocessing_calibration",
        "processed_data",
    ),
    ("ModelCalibration_calibration", "evaluation_data"): (
        "XGBoostModelEval_calibration",
        "eval_output",
    ),
    ("Package", "model_input"): ("XGBoostTraining", "model_output"),
    ("Package", "calibration_model"): ("ModelCalibration_calibration", "calibration_output"),
    ("Payload", "packaged_model"): ("Package", "packaged_model"),
    ("Payload", "model_input"): None,  # the alternative a package makes unneeded
    ("Registration", "packaged_model"): ("Package", "packaged_model"),
    ("Registration", "payload_sample"): ("Payload", "payload_sample"),
}

PYTORCH_E2E = {
    ("TabularPreprocessing_training", "data_input"): ("DataLoading_training", "data"),
    ("TabularPreprocessing_training", "metadata_input"): ("DataLoading_training", "metadata"),
    ("PyTorchTraining", "input_path"): ("TabularPreprocessing_training", "processed_data"),
    ("PyTorchTraining", "preprocessing_artifacts"): (
        "TabularPreprocessing_training",
        "preprocessing_artifacts",
    ),
    ("TabularPreprocessing_calibration", "data_input"): ("DataLoading_calibration", "data"),
    ("TabularPreprocessing_calibration", "metadata_input"): ("DataLoading_calibration", "metadata"),
    ("PyTorchModelEval_calibration", "model_input"): ("PyTorchTraining", "model_output"),
    ("PyTorchModelEval_calibration", "processed_data"): (
        "TabularPreprocessing_calibration",
        "processed_data",
    ),
    ("ModelCalibration_calibration", "evaluation_data"): (
        "PyTorchModelEval_calibration",
        "eval_output",
    ),
    ("Package", "model_input"): ("PyTorchTraining", "model_output"),
    ("Package", "calibration_model"): ("ModelCalibration_calibration", "calibration_output"),
    ("Payload", "packaged_model"): ("Package", "packaged_model"),
    ("Payload", "model_input"): None,  # the alternative a package makes unneeded
    ("Registration", "packaged_model"): ("Package", "packaged_model"),
    ("Registration", "payload_sample"): ("Payload", "payload_sample"),
}

XGBOOST_SIMPLE = {
    key: value
    for key, value in XGBOOST_E2E.items()
    if key[0] in ("TabularPreprocessing_training", "XGBoostTraining")
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("xgboost_e2e", XGBOOST_E2E),
        ("pytorch_e2e", PYTORCH_E2E),
        ("xgboost_simple", XGBOOST_SIMPLE),
    ],
)
def test_bundled_pipelines_bind_exactly_as_pinned(name: str, expected: dict) -> None:
    assert bindings_of(load_dag(name)) == expected


@pytest.mark.parametrize("name", ["xgboost_e2e", "pytorch_e2e"])
def test_preprocessing_reads_data_and_metadata_never_crossed(name: str) -> None:
    """The first system wired preprocessing's secondary input to data loading's metadata output
    on kind alone. Here data goes to data and metadata to metadata, for every job type."""
    bound = bindings_of(load_dag(name))
    for job in ("training", "calibration"):
        assert bound[(f"TabularPreprocessing_{job}", "data_input")] == (
            f"DataLoading_{job}",
            "data",
        )
        assert bound[(f"TabularPreprocessing_{job}", "metadata_input")] == (
            f"DataLoading_{job}",
            "metadata",
        )


def test_every_binding_explains_itself() -> None:
    dag = load_dag("xgboost_e2e")
    result, _, warnings = resolve(dag, default_configs(dag))
    assert warnings == []
    metadata = next(
        b for b in result["TabularPreprocessing_training"] if b.input == "metadata_input"
    )
    assert metadata.score == 0.8
    assert metadata.reasons == (
        "kind 'data_schema' matches",
        "DataLoading is a declared source",
        "keywords ['metadata', 'schema', 'signature']",
    )
    assert [c.output for c in metadata.candidates] == ["metadata"]


# ---------------------------------------------------------------- evidence


def test_kind_alone_never_binds() -> None:
    inp = InputSpec(name="model_input", kind="model_artifacts")
    out = OutputSpec(name="weights", kind="model_artifacts")
    assert score_candidate(inp, "Trainer", "SomeTraining", out) is None


def test_evidence_without_matching_kind_never_binds() -> None:
    inp = InputSpec(
        name="model_input",
        kind="model_artifacts",
        compatible_sources=("XGBoostTraining",),
        keywords=("model",),
    )
    out = OutputSpec(name="model_input", kind="processed_tabular", aliases=("model",))
    assert score_candidate(inp, "XGBoostTraining", "XGBoostTraining", out) is None


@pytest.mark.parametrize(
    ("inp", "out", "score", "evidence"),
    [
        (
            InputSpec(name="x", kind="k", compatible_sources=("Producer",)),
            OutputSpec(name="y", kind="k"),
            0.7,
            "Producer is a declared source",
        ),
        (
            InputSpec(name="x", kind="k"),
            OutputSpec(name="y", kind="k", aliases=("x",)),
            0.6,
            "name 'x' matches",
        ),
        (
            InputSpec(name="x", kind="k", keywords=("model", "data")),
            OutputSpec(name="model_data", kind="k"),
            0.5,
            "keywords ['data', 'model']",
        ),
        (
            InputSpec(name="x", kind="k", keywords=("model",)),
            OutputSpec(name="model_data", kind="k"),
            0.45,
            "keywords ['model']",
        ),
    ],
)
def test_each_kind_of_evidence_adds_to_the_score(
    inp: InputSpec, out: OutputSpec, score: float, evidence: str
) -> None:
    candidate = score_candidate(inp, "p", "Producer", out)
    assert candidate is not None
    assert candidate.score == score
    assert candidate.reasons == ("kind 'k' matches", evidence)


def test_a_producer_that_offers_only_the_right_kind_leaves_the_input_unbound() -> None:
    """Package gets model artifacts only from a training step; a predecessor whose outputs merely
    share no evidence is not a candidate, and the required input is an error."""
    dag = PipelineDAG(["DataLoading", "Package"], [("DataLoading", "Package")])
    _, problems, _ = resolve(dag, default_configs(dag))
    assert [str(p) for p in problems] == [
        "node 'Package': required input 'model_input' (kind 'model_artifacts', from XGBoostTraining, "
        "LightGBMTraining, PyTorchTraining, DummyTraining) has no matching output among its predecessors [DataLoading.data (kind "
        "'tabular_data'); DataLoading.metadata (kind 'data_schema')]; add an edge from a producing "
        'step or bind it in the config: "input_bindings": {"model_input": "s3://..."}'
    ]


def test_an_optional_input_without_a_producer_stays_unbound() -> None:
    dag = PipelineDAG(
        ["DataLoading", "TabularPreprocessing", "XGBoostTraining", "Package"],
        [
            ("DataLoading", "TabularPreprocessing"),
            ("TabularPreprocessing", "XGBoostTraining"),
            ("XGBoostTraining", "Package"),
        ],
    )
    bound = bindings_of(dag)
    assert bound[("Package", "model_input")] == ("XGBoostTraining", "model_output")
    assert bound[("Package", "calibration_model")] is None


# ---------------------------------------------------------------- ties and explicit bindings


def two_preprocessors() -> PipelineDAG:
    return PipelineDAG(
        [
            "DataLoading_a",
            "TabularPreprocessing_a",
            "DataLoading_b",
            "TabularPreprocessing_b",
            "XGBoostTraining",
        ],
        [
            ("DataLoading_a", "TabularPreprocessing_a"),
            ("DataLoading_b", "TabularPreprocessing_b"),
            ("TabularPreprocessing_a", "XGBoostTraining"),
            ("TabularPreprocessing_b", "XGBoostTraining"),
        ],
    )


def test_a_tie_is_an_error_asking_for_an_explicit_binding() -> None:
    dag = two_preprocessors()
    _, problems, _ = resolve(dag, default_configs(dag))
    assert all(isinstance(p, ResolutionError) for p in problems)
    assert [str(p) for p in problems] == [
        "node 'XGBoostTraining', input 'input_path': TabularPreprocessing_a.processed_data, "
        "TabularPreprocessing_b.processed_data fit equally well (score 0.8); choose one in the config: "
        '"input_bindings": {"input_path": "TabularPreprocessing_a.processed_data"}',
        "node 'XGBoostTraining', input 'preprocessing_artifacts': TabularPreprocessing_a.preprocessing_artifacts, "
        "TabularPreprocessing_b.preprocessing_artifacts fit equally well (score 1.0); choose one in the config: "
        '"input_bindings": {"preprocessing_artifacts": "TabularPreprocessing_a.preprocessing_artifacts"}',
    ]


def test_explicit_bindings_settle_a_tie_and_may_name_a_uri() -> None:
    dag = two_preprocessors()
    configs = default_configs(dag)
    configs["XGBoostTraining"].input_bindings = {
        "input_path": "TabularPreprocessing_b.processed_data",
        "preprocessing_artifacts": "s3://bucket/preprocessing/",
    }
    result, problems, warnings = resolve(dag, configs)
    assert problems == []
    assert warnings == [
        "edge TabularPreprocessing_a -> XGBoostTraining carries no data: no input of XGBoostTraining "
        "binds to an output of TabularPreprocessing_a"
    ]
    explicit = {b.input: b for b in result["XGBoostTraining"]}
    assert _target(explicit["input_path"]) == ("TabularPreprocessing_b", "processed_data")
    assert explicit["input_path"].reasons == ("explicit in input_bindings",)
    assert _target(explicit["preprocessing_artifacts"]) == "s3://bucket/preprocessing/"


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({"input_path": "DataLoading_a.data"}, "'DataLoading_a' is not a direct predecessor"),
        ({"input_path": "TabularPreprocessing_a.nope"}, "has no output 'nope'"),
        (
            {"input_path": "TabularPreprocessing_a.preprocessing_artifacts"},
            "joins kind 'preprocessing_artifacts'",
        ),
        ({"inputs": "TabularPreprocessing_a.processed_data"}, "names unknown input 'inputs'"),
    ],
)
def test_bad_explicit_bindings_are_errors(binding: dict, message: str) -> None:
    dag = two_preprocessors()
    configs = default_configs(dag)
    configs["XGBoostTraining"].input_bindings = {"preprocessing_artifacts": "s3://b/p/", **binding}
    _, problems, _ = resolve(dag, configs)
    assert len(problems) >= 1
    assert message in str(problems[0])
    assert str(problems[0]).startswith("node 'XGBoostTraining'")


# ---------------------------------------------------------------- determinism


def test_the_same_pipeline_written_in_any_order_binds_the_same() -> None:
    dag = load_dag("xgboost_e2e")
    expected = bindings_of(dag)
    for seed in range(10):
        rnd = random.Random(seed)
        nodes, edges = dag.nodes, dag.edges
        rnd.shuffle(nodes)
        rnd.shuffle(edges)
        assert bindings_of(PipelineDAG(nodes, edges)) == expected


def test_resolving_twice_gives_equal_results() -> None:
    dag = load_dag("pytorch_e2e")
    configs = default_configs(dag)
    assert resolve(dag, configs) == resolve(dag, configs)


def test_payload_reads_a_trained_model_as_the_first_systems_dags_feed_it() -> None:
    """Training -> Payload (their shape) binds model_input; Package -> Payload binds the
    package; with neither, the one_of group is one error naming both alternatives."""
    trained = PipelineDAG(
        ["DataLoading", "TabularPreprocessing", "LightGBMTraining", "Payload"],
        [
            ("DataLoading", "TabularPreprocessing"),
            ("TabularPreprocessing", "LightGBMTraining"),
            ("LightGBMTraining", "Payload"),
        ],
    )
    bound = bindings_of(trained)
    assert bound[("Payload", "model_input")] == ("LightGBMTraining", "model_output")
    assert bound[("Payload", "packaged_model")] is None

    alone = PipelineDAG(["DataLoading", "Payload"], [("DataLoading", "Payload")])
    _, problems, _ = resolve(alone, default_configs(alone))
    assert [str(p) for p in problems] == [
        "node 'Payload' needs one of its inputs 'packaged_model' (packaged_model, e.g. from "
        "Package); 'model_input' (model_artifacts, e.g. from XGBoostTraining, LightGBMTraining, "
        "PyTorchTraining, DummyTraining) bound, but none is (its predecessors: DataLoading); add "
        "an edge from a step that produces one, or bind one in the config's input_bindings"
    ]
