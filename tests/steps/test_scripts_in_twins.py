"""The step scripts run on the SageMaker images' old libraries, in the images' twins.

A twin is a venv with an image's Python and pinned packages (scikit-learn 1.2-1: Python 3.9,
pandas 1.1.3, scikit-learn 1.2.1, no matplotlib, no fsspec; XGBoost 1.7-1: xgboost 1.7.4, pandas
1.2.4, scikit-learn 0.24.1, matplotlib 3.4.1, and its serving toolkits). The pipeline runs step by
step, each in the twin of the image SageMaker runs it on, every step reading what the previous
one wrote: DataLoading -> TabularPreprocessing (sklearn) -> XGBoostTraining -> XGBoostModelEval
(xgboost) -> ModelCalibration -> Package (sklearn) -> Payload (xgboost), then the package is served
through the XGBoost image's real toolkits. Results are compared with the local (modern) stack.
Skipped, with the reason, where a twin is missing; see _twins.py for where they are looked for.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _tabular import MATPLOTLIB_MISSING, PLOTS_SKIPPED, LoadedModel, read_table
from _twins import SCRIPTS_DIR, missing_reason, scripts_by_image, twin_python

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "_twin_runner.py"
SERVING = HERE / "_twin_serving.py"
RESULT_MARKER = "CURSUS_TWIN_RESULT "
SK, XGB = twin_python("sklearn"), twin_python("xgboost")
# categorical columns and missing values exercise the encoding and imputation on old pandas
SOURCE = "synthetic:classification?rows=600&features=8&categorical=2&missing=0.05"
LABEL = "label"
# what a migrated first-system config keeps (tabular_preprocessing's FEATURE_COLUMNS)
FEATURES = ["f0", "f2", "cat1"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SK is None, reason=missing_reason("sklearn")),
    pytest.mark.skipif(XGB is None, reason=missing_reason("xgboost")),
]


def twin_env(**extra: str) -> dict[str, str]:
    """This environment minus what would let the twin see the local venv's packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1", **extra}


def run_in_twin(python: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Any:
    """Run a harness file with a twin's python; return the JSON it printed after RESULT_MARKER."""
    done = subprocess.run(
        [python, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or twin_env(),
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        pytest.fail(
            f"{python} {argv[0]} printed no result (exit {done.returncode}):\n{done.stderr}"
        )
    return json.loads(lines[-1][len(RESULT_MARKER) :])


def step(script: str, work: Path, inputs: dict, outputs: dict, **rest: Any) -> dict[str, Any]:
    """A runner job: `inputs`/`outputs` map logical names to folders under `work`."""
    return {
        "scripts_dir": str(SCRIPTS_DIR),
        "script": script,
        "inputs": {name: str(work / folder) for name, folder in inputs.items()},
        "outputs": {name: str(work / folder) for name, folder in outputs.items()},
        "env": rest.get("env", {}),
        "job_args": rest.get("job_args", {}),
    }


# import fine on the scikit-learn image too, though they run elsewhere: Package's archive and
# Payload's handler must not need xgboost or torch until a model is loaded
LIGHT_IMPORTS = ("inference", "payload")


def imports(image: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    names = sorted({name[: -len(".py")] for name in scripts_by_image()[image]} | set(extra))
    return {"scripts_dir": str(SCRIPTS_DIR), "import": names}


@dataclass
class Chain:
    work: Path
    results: dict[str, dict[str, Any]]  # job label -> {"metrics"} or {"error", "trace"}

    def metrics(self, label: str) -> Any:
        result = self.results.get(label)
        if result is None:
            pytest.fail(f"{label} did not run: an earlier step failed ({self.failure()})")
        if "error" in result:
            pytest.fail(f"{label} failed in its twin: {result['error']}\n{result['trace']}")
        return result["metrics"]

    def failure(self) -> str:
        return next((f"{k}: {r['error']}" for k, r in self.results.items() if "error" in r), "")


def batches(work: Path) -> list[tuple[str | None, list[tuple[str, dict[str, Any]]]]]:
    """The pipeline as (twin python, [(label, job)]) batches: consecutive steps on one image
    share one process."""
    return [
        (
            SK,
            [
                ("import sklearn-image scripts", imports("sklearn", LIGHT_IMPORTS)),
                (
                    "data_loading breast_cancer",
                    step(
                        "data_loading",
                        work,
                        {},
                        {"data": "bc/data", "metadata": "bc/meta"},
                        env={"DATA_SOURCE": "sklearn:breast_cancer"},
                        job_args={"job_type": "training"},
                    ),
                ),
                (
                    "data_loading",
                    step(
                        "data_loading",
                        work,
                        {},
                        {"data": "raw/data", "metadata": "raw/meta"},
                        env={"DATA_SOURCE": SOURCE, "ID_FIELD": "row_id", "RANDOM_SEED": "3"},
                        job_args={"job_type": "training"},
                    ),
                ),
                (
                    "tabular_preprocessing",
                    step(
                        "tabular_preprocessing",
                        work,
                        {"data_input": "raw/data", "metadata_input": "raw/meta"},
                        {"processed_data": "processed", "preprocessing_artifacts": "prep"},
                        job_args={"job_type": "training"},
                    ),
                ),
                (
                    "tabular_preprocessing feature_columns",
                    step(
                        "tabular_preprocessing",
                        work,
                        {"data_input": "raw/data", "metadata_input": "raw/meta"},
                        {"processed_data": "processed_fc", "preprocessing_artifacts": "prep_fc"},
                        env={"FEATURE_COLUMNS": json.dumps(FEATURES)},
                        job_args={"job_type": "training"},
                    ),
                ),
            ],
        ),
        (
            XGB,
            [
                ("import xgboost-image scripts", imports("xgboost")),
                (
                    "xgboost_training",
                    step(
                        "xgboost_training",
                        work,
                        {"input_path": "processed", "preprocessing_artifacts": "prep"},
                        {"model_output": "model", "training_metrics": "train_metrics"},
                        job_args={"hyperparameters": {"num_round": 40, "eval_metric": "logloss"}},
                    ),
                ),
                (
                    "xgboost_model_eval",
                    step(
                        "model_eval",
                        work,
                        {"model_input": "model", "processed_data": "processed"},
                        {"eval_output": "eval", "metrics_output": "eval_metrics"},
                        job_args={"job_type": "testing"},
                    ),
                ),
            ],
        ),
        (
            SK,
            [
                (
                    "model_calibration",
                    step(
                        "model_calibration",
                        work,
                        {"evaluation_data": "eval"},
                        {
                            "calibration_output": "calibration",
                            "metrics_output": "calibration_metrics",
                            "calibrated_data": "calibrated",
                        },
                        env={"LABEL_FIELD": LABEL, "CALIBRATION_METHOD": "isotonic"},
                        job_args={"job_type": "calibration"},
                    ),
                ),
                (
                    "model_calibration monotonic gam",
                    step(
                        "model_calibration",
                        work,
                        {"evaluation_data": "eval"},
                        {
                            "calibration_output": "calibration_gam",
                            "metrics_output": "calibration_gam_metrics",
                            "calibrated_data": "calibrated_gam",
                        },
                        env={
                            "LABEL_FIELD": LABEL,
                            "CALIBRATION_METHOD": "gam",
                            "GAM_KNOTS": "10",
                            "MONOTONIC": "true",
                        },
                        job_args={"job_type": "calibration"},
                    ),
                ),
                (
                    "package",
                    step(
                        "package",
                        work,
                        {"model_input": "model", "calibration_model": "calibration"},
                        {"packaged_model": "package"},
                    ),
                ),
            ],
        ),
        (
            XGB,
            [
                (
                    "payload",
                    step(
                        "payload",
                        work,
                        {"packaged_model": "package"},
                        {"payload_sample": "payload"},
                        env={"N_SAMPLES": "6"},
                    ),
                )
            ],
        ),
    ]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    work = tmp_path_factory.mktemp("twin-chain")
    results: dict[str, dict[str, Any]] = {}
    for python, jobs in batches(work):
        assert python is not None
        answers = run_in_twin(python, [str(RUNNER), json.dumps([j for _, j in jobs])], work)
        results.update(
            zip([label for label, _ in jobs], answers, strict=False)
        )  # stops at a failure
        if any("error" in answer for answer in answers):
            break
    return Chain(work, results)


# ---------------------------------------------------------------- the pipeline


def test_every_script_imports_in_the_twin_of_its_image(chain: Chain) -> None:
    extra = {"sklearn": {f"{name}.py" for name in LIGHT_IMPORTS}, "xgboost": set()}
    for image in ("sklearn", "xgboost"):
        imported = chain.metrics(f"import {image}-image scripts")
        assert {Path(f).name for f in imported.values()} == scripts_by_image()[image] | extra[image]


def test_data_loading_and_preprocessing_on_the_sklearn_image(chain: Chain) -> None:
    assert chain.metrics("data_loading breast_cancer") == {"n_rows": 569.0, "n_columns": 31.0}
    assert chain.metrics("data_loading") == {"n_rows": 600.0, "n_columns": 10.0}
    split = chain.metrics("tabular_preprocessing")
    assert split["n_train"] + split["n_val"] + split["n_test"] == 600
    prep = json.loads((chain.work / "prep" / "preprocessing.json").read_text())
    assert sorted(prep["categories"]) == ["cat0", "cat1"]


def test_feature_columns_on_the_sklearn_image(chain: Chain) -> None:
    chain.metrics("tabular_preprocessing feature_columns")
    prep = json.loads((chain.work / "prep_fc" / "preprocessing.json").read_text())
    assert sorted(prep["features"]) == sorted(FEATURES)


def test_a_monotonic_gam_on_the_sklearn_image(chain: Chain) -> None:
    """scipy 1.8's L-BFGS-B fits it there; the curve it writes never goes down."""
    chain.metrics("model_calibration monotonic gam")
    calibration = json.loads((chain.work / "calibration_gam" / "calibration.json").read_text())
    assert calibration["monotonic"] is True and len(calibration["knots"]) <= 10
    slopes = np.cumsum(calibration["coefs"])  # each segment's slope in the score's logit
    assert slopes.min() >= -1e-9


def test_training_and_evaluation_on_the_xgboost_image(chain: Chain) -> None:
    trained = chain.metrics("xgboost_training")
    assert trained["val_auc"] > 0.7
    meta = json.loads((chain.work / "model" / "model_meta.json").read_text())
    assert meta["xgboost_version"] == "1.7.4"
    assert chain.metrics("xgboost_model_eval")["roc_auc"] > 0.7
    for plot in ("roc_curve.png", "pr_curve.png"):  # matplotlib 3.4.1 draws them
        assert (chain.work / "eval_metrics" / plot).stat().st_size > 0


def test_calibration_on_the_sklearn_image_skips_its_plot(chain: Chain) -> None:
    """The image has no matplotlib: the metrics say so and the step does not fail."""
    headline = chain.metrics("model_calibration")
    written = json.loads(
        (chain.work / "calibration_metrics" / "calibration_metrics.json").read_text()
    )
    # on its own rows the calibrator helps; measured out of sample, on a few hundred rows, it
    # may not, and the metrics say so
    assert written["ece_after_in_sample"] < headline["ece_before"]
    assert written["in_sample"] is False and headline["ece_after"] == written["ece_after"]
    if headline["ece_after"] > headline["ece_before"]:
        assert "does worse than the raw scores" in written["note"]
    assert written[PLOTS_SKIPPED] == MATPLOTLIB_MISSING
    assert not list((chain.work / "calibration_metrics").glob("*.png"))


def test_package_and_payload(chain: Chain) -> None:
    assert chain.metrics("package")["calibrated"] == 1.0
    with tarfile.open(chain.work / "package" / "model.tar.gz") as tar:
        assert {"code/inference.py", "code/_tabular.py", "model.json"} <= set(tar.getnames())
    assert chain.metrics("payload") == {"n_samples": 6.0}
    expected = json.loads((chain.work / "payload" / "expected_responses.json").read_text())
    assert [r["accept"] for r in expected["responses"]] == ["application/json", "text/csv"] * 2


def test_a_model_trained_in_the_twin_scores_alike_on_the_local_stack(chain: Chain) -> None:
    """xgboost 1.7.4's model JSON loads in today's xgboost, and pandas 1.2's preprocessing of the
    test split gives the features today's pandas gives: the probabilities agree."""
    chain.metrics("xgboost_model_eval")
    test = read_table(chain.work / "processed" / "test")
    scored_in_twin = pd.read_parquet(chain.work / "eval" / "predictions.parquet")
    local = LoadedModel(chain.work / "model").predict_proba(test)
    np.testing.assert_allclose(scored_in_twin["prob"].to_numpy(), local, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- serving


def requests(payload_dir: Path) -> list[dict[str, Any]]:
    csv_body = (payload_dir / "payload.csv").read_text()
    json_body = (payload_dir / "payload.json").read_text()
    return [
        {"body": csv_body, "content_type": "text/csv", "accept": "application/json"},
        {"body": csv_body, "content_type": "text/csv", "accept": "text/csv"},
        {"body": json_body, "content_type": "application/json", "accept": "application/json"},
        {"body": json_body, "content_type": "application/json", "accept": None},
        {"body": '{"instances": [', "content_type": "application/json", "accept": None},
        {"body": "1,2,3", "content_type": "text/csv", "accept": "application/json"},
        {"body": '{"instances": [{"f0": 1}]}', "content_type": "application/json", "accept": None},
        {"body": "1,2", "content_type": "text/plain", "accept": "application/json"},
        {"body": csv_body, "content_type": "text/csv", "accept": "application/xml"},
    ]


# status, response type and what the body must say, per request above
EXPECTED = [
    (200, "application/json", None),
    (200, "text/csv", None),
    (200, "application/json", None),
    (200, "application/json", None),
    (400, "", "not valid JSON"),
    (400, "", "row 0 has 3 values but the model takes 8 features"),
    (400, "", "instance 0 lacks features"),
    (415, "", "unsupported content type 'text/plain'"),
    (406, "", "unsupported accept type 'application/xml'"),
]


@pytest.fixture(scope="module")
def served(chain: Chain) -> dict[str, Any]:
    """Every request answered by the XGBoost twin's toolkits, with the local answers to compare."""
    chain.metrics("payload")
    model_dir = chain.work / "served"
    with tarfile.open(chain.work / "package" / "model.tar.gz") as tar:
        tar.extractall(model_dir, filter="data")
    sent = requests(chain.work / "payload")
    (chain.work / "requests.json").write_text(json.dumps(sent))
    answers = run_in_twin(
        str(XGB),
        [str(SERVING), str(model_dir), str(chain.work / "requests.json")],
        chain.work,
        twin_env(SAGEMAKER_PROGRAM="inference.py"),
    )
    return {**answers, "local": local_bodies(model_dir, sent[:4])}


def local_bodies(model_dir: Path, sent: list[dict[str, Any]]) -> list[str]:
    """The packaged handler's bodies for the good requests, computed on the local stack."""
    import payload

    handler = payload.load_handler(model_dir / "code")
    model = handler.model_fn(str(model_dir))
    bodies = []
    for request in sent:
        data = handler.input_fn(request["body"], request["content_type"])
        body, _ = handler.output_fn(handler.predict_fn(data, model), request["accept"])
        bodies.append(body)
    return bodies


def numbers(body: str) -> list[float]:
    """Every number a JSON or CSV predictions body holds, in order."""
    if body.startswith("{"):
        rows = json.loads(body)["predictions"]
        return [float(v) for row in rows for v in row.values()]
    return [float(cell) for line in body.splitlines() for cell in line.split(",")]


@pytest.mark.parametrize("toolkit", ["flask", "mms"])
def test_the_xgboost_images_toolkits_serve_the_package(
    served: dict[str, Any], toolkit: str
) -> None:
    """flask: sagemaker-containers' worker (the image's single-model server); mms:
    sagemaker-inference's Transformer (its multi-model server, and the PyTorch image's)."""
    answers = served[toolkit]
    assert len(answers) == len(EXPECTED)
    for i, (answer, (status, content_type, says)) in enumerate(zip(answers, EXPECTED, strict=True)):
        assert answer["status"] == status, (i, answer)
        if status == 200:
            assert answer["content_type"].startswith(content_type), (i, answer)
            local = numbers(served["local"][i])
            assert numbers(answer["body"]) == pytest.approx(local, rel=1e-6, abs=1e-7)
        else:
            assert says in answer["body"], (i, answer)
    flask_errors = [a for a in served["flask"] if a["status"] != 200]
    assert all(a["content_type"] == "application/json" for a in flask_errors)


def test_the_flask_worker_answers_500_when_input_fn_raises(served: dict[str, Any]) -> None:
    """Even the toolkit's own UnsupportedFormatError becomes a 500 when a user's input_fn raises
    it (the worker wraps handler exceptions), which is why inference.py hands bad requests to
    output_fn inside that worker instead of raising."""
    assert served["raising"]["status"] == 500


# ---------------------------------------------------------------- s3 without fsspec


def test_data_loading_reads_s3_with_boto3_on_the_sklearn_image(tmp_path: Path) -> None:
    """The image has no fsspec/s3fs and the job no internet to install them: boto3 reads s3://."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        table = pd.DataFrame({"amount": [3.5, 1.0, 7.25, 2.0], "fraud": [1, 0, 1, 0]})
        s3 = boto3.client(
            "s3",
            endpoint_url=aws["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="raw")
        s3.put_object(Bucket="raw", Key="tx.parquet", Body=table.to_parquet(index=False))
        job = step(
            "data_loading",
            tmp_path,
            {},
            {"data": "data", "metadata": "meta"},
            env={"DATA_SOURCE": "s3://raw/tx.parquet", "LABEL_FIELD": "fraud"},
        )
        (answer,) = run_in_twin(
            str(SK), [str(RUNNER), json.dumps([job])], tmp_path, twin_env(**aws)
        )
    finally:
        server.stop()
    assert answer.get("metrics") == {"n_rows": 4.0, "n_columns": 2.0}, answer
    pd.testing.assert_frame_equal(read_table(tmp_path / "data"), table)
