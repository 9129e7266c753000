"""ModelCalibration: fits each calibrator on a deliberately miscalibrated score, checks it helps and
that the JSON it writes reproduces, through `_tabular.apply_calibration`, what the step computed."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import model_calibration as step
import numpy as np
import pandas as pd
import pytest
from _fixtures import assert_matches_spec
from _tabular import StepInputError, apply_calibration


def miscalibrated(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Labels drawn with probability t, scored as t**3: right ranking, far too low probabilities."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(size=n)
    label = (rng.uniform(size=n) < truth).astype(int)
    return pd.DataFrame({"id": np.arange(n), "label": label, "prob": truth**3})


def run(tmp_path: Path, df: pd.DataFrame, **env: str) -> dict[str, float]:
    (tmp_path / "eval").mkdir(parents=True)
    df.to_parquet(tmp_path / "eval" / "predictions.parquet", index=False)
    outputs = {name: str(tmp_path / name) for name in step.CONTAINER_OUTPUTS}
    environ = {"LABEL_FIELD": "label", **env}
    return step.main(
        {"evaluation_data": str(tmp_path / "eval")}, outputs, environ, {"job_type": "calibration"}
    )


def outputs(tmp_path: Path) -> tuple[dict, dict, pd.DataFrame]:
    calibration = json.loads((tmp_path / "calibration_output" / "calibration.json").read_text())
    metrics = json.loads((tmp_path / "metrics_output" / "calibration_metrics.json").read_text())
    calibrated = pd.read_parquet(tmp_path / "calibrated_data" / "predictions.parquet")
    return calibration, metrics, calibrated


def test_constants_match_spec() -> None:
    assert_matches_spec(step, "model_calibration")


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "platt", "gam", "percentile"])
def test_calibration_lowers_error_and_its_json_reproduces_the_step(
    tmp_path: Path, method: str
) -> None:
    headline = run(tmp_path, miscalibrated(), CALIBRATION_METHOD=method, N_BINS="15")
    calibration, metrics, calibrated = outputs(tmp_path)

    # Platt scaling is the sigmoid calibrator under its other name
    assert calibration["method"] == ("sigmoid" if method == "platt" else method)
    assert metrics["method"] == method
    assert metrics["n_bins"] == 15
    assert headline["ece_before"] > 0.2
    assert headline["ece_after"] < headline["ece_before"] / 3
    assert headline["brier_after"] < headline["brier_before"]
    assert headline == {k: metrics[k] for k in headline}
    assert list(calibrated.columns) == ["id", "label", "prob", "calibrated_prob"]
    reapplied = apply_calibration(calibrated["prob"].to_numpy(), calibration)
    np.testing.assert_allclose(reapplied, calibrated["calibrated_prob"], rtol=0, atol=1e-12)
    assert (tmp_path / "metrics_output" / "reliability.png").read_bytes()[
        :8
    ] == b"\x89PNG\r\n\x1a\n"


def test_isotonic_is_monotone_and_matches_sklearn(tmp_path: Path) -> None:
    from sklearn.isotonic import IsotonicRegression

    df = miscalibrated()
    run(tmp_path, df, CALIBRATION_METHOD="isotonic")
    calibration, _, calibrated = outputs(tmp_path)

    assert np.all(np.diff(calibration["x"]) > 0)
    assert np.all(np.diff(calibration["y"]) >= 0)
    ordered = calibrated.sort_values("prob")["calibrated_prob"].to_numpy()
    assert np.all(np.diff(ordered) >= 0)
    iso = IsotonicRegression(out_of_bounds="clip").fit(df["prob"], df["label"])
    outside = np.array([-0.5, 0.0, 0.3, 1.0, 1.5])
    np.testing.assert_allclose(
        apply_calibration(outside, calibration), iso.predict(outside), atol=1e-12
    )


def test_sigmoid_recovers_a_true_platt_curve(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    score = rng.uniform(size=20000)
    label = (rng.uniform(size=score.size) < 1 / (1 + np.exp(-6 * score + 3))).astype(int)
    run(tmp_path, pd.DataFrame({"label": label, "prob": score}), CALIBRATION_METHOD="sigmoid")
    calibration, _, _ = outputs(tmp_path)

    assert calibration["a"] == pytest.approx(-6, abs=0.3)
    assert calibration["b"] == pytest.approx(3, abs=0.2)


def test_sigmoid_stays_finite_when_the_score_separates_the_classes(tmp_path: Path) -> None:
    df = pd.DataFrame({"label": [0] * 50 + [1] * 50, "prob": [0.1] * 50 + [0.9] * 50})
    run(tmp_path, df, CALIBRATION_METHOD="sigmoid")
    calibration, _, calibrated = outputs(tmp_path)

    assert np.isfinite([calibration["a"], calibration["b"]]).all()
    assert calibrated["calibrated_prob"].between(0.5, 1).sum() == 50


def test_percentile_grid_is_deduplicated_and_monotone(tmp_path: Path) -> None:
    df = miscalibrated().assign(prob=lambda d: d["prob"].round(2))  # many tied scores
    run(tmp_path, df, CALIBRATION_METHOD="percentile", SCORE_FIELD="prob")
    calibration, _, calibrated = outputs(tmp_path)

    quantiles, levels = np.array(calibration["score_quantiles"]), np.array(calibration["levels"])
    assert len(quantiles) <= 1001
    assert np.all(np.diff(quantiles) > 0)
    assert np.all(np.diff(levels) >= 0)
    assert levels[-1] == 1.0
    share_below = (df["prob"].to_numpy()[:, None] <= df["prob"].to_numpy()[None, :]).mean(axis=0)
    np.testing.assert_allclose(calibrated["calibrated_prob"], share_below, atol=1e-12)


@pytest.mark.parametrize(
    ("df", "env", "message"),
    [
        (miscalibrated(100), {"CALIBRATION_METHOD": "beta"}, "CALIBRATION_METHOD='beta'"),
        (miscalibrated(100), {"SCORE_FIELD": "score"}, "no column 'score'"),
        (miscalibrated(100).rename(columns={"label": "y"}), {}, "no column 'label'"),
        (miscalibrated(100).assign(label=1), {}, "single class"),
        (miscalibrated(100).assign(label=2), {}, "only 0 and 1"),
        (miscalibrated(100).assign(prob=np.nan), {}, "probabilities in [0, 1]"),
        (miscalibrated(100), {"N_BINS": "ten"}, "N_BINS"),
    ],
)
def test_unusable_input_is_named(
    tmp_path: Path, df: pd.DataFrame, env: dict[str, str], message: str
) -> None:
    with pytest.raises(StepInputError, match=re.escape(message)):
        run(tmp_path, df, **env)


def test_without_matplotlib_the_plot_is_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scikit-learn image this step runs on has no matplotlib; calibration must still work."""
    import _tabular

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    headline = run(tmp_path, miscalibrated(n=500))

    _, metrics, _ = outputs(tmp_path)
    assert metrics[_tabular.PLOTS_SKIPPED] == _tabular.MATPLOTLIB_MISSING
    packaged = json.loads(
        (tmp_path / "calibration_output" / "calibration_metrics.json").read_text()
    )
    assert packaged == metrics
    assert headline == {k: metrics[k] for k in headline}
    assert not (tmp_path / "metrics_output" / step.PLOT_FILE).exists()


def test_after_is_measured_on_rows_the_calibrator_did_not_see(tmp_path: Path) -> None:
    """Isotonic fitted and measured on the same rows looks perfect; cross-fitted, it does not,
    and the metrics say which is which."""
    small = miscalibrated(n=300, seed=3)
    headline = run(tmp_path, small, CALIBRATION_METHOD="isotonic", N_BINS="10")
    _, metrics, _ = outputs(tmp_path)
    assert metrics["in_sample"] is False
    assert metrics["evaluation"] == "cross-fitted, 5 stratified folds"
    assert metrics["ece_after_in_sample"] < 1e-9  # isotonic on its own rows
    assert headline["ece_after"] > metrics["ece_after_in_sample"] + 0.01
    assert headline["ece_after"] < headline["ece_before"]


def test_too_few_rows_of_a_class_are_measured_in_sample_and_say_so(tmp_path: Path) -> None:
    few = miscalibrated(n=200, seed=1)
    positives = few.index[few["label"] == 1]
    run(tmp_path / "three", few.drop(index=positives[3:]))  # three positives: three folds
    assert outputs(tmp_path / "three")[1]["evaluation"] == "cross-fitted, 3 stratified folds"
    run(tmp_path, few.drop(index=positives[1:]))  # one positive row: nothing to fold
    _, metrics, _ = outputs(tmp_path)
    assert metrics["in_sample"] is True
    assert metrics["evaluation"].startswith("in sample")
    assert metrics["ece_after"] == metrics["ece_after_in_sample"]


def test_a_monotonic_gam_keeps_the_order_of_the_scores(tmp_path: Path) -> None:
    """Scores whose middle band is labelled less often than its neighbours: the free GAM follows
    the dip, the monotonic one (MONOTONIC=true, the first system's monotonic_constraint) does not,
    and both are applied from their JSON as the step computed them."""
    rng = np.random.default_rng(3)
    score = rng.uniform(0.02, 0.98, 6000)
    rate = np.where((score > 0.4) & (score < 0.6), 0.1, score)
    df = pd.DataFrame({"label": (rng.uniform(size=6000) < rate).astype(int), "prob": score})
    grid = np.linspace(0.03, 0.97, 300)
    curves = {}
    for monotonic in ("false", "true"):
        out = tmp_path / monotonic
        run(out, df, CALIBRATION_METHOD="gam", GAM_KNOTS="12", MONOTONIC=monotonic)
        calibration, _, calibrated = outputs(out)
        assert calibration["knots"] and len(calibration["knots"]) == 12
        assert calibration["monotonic"] is (monotonic == "true")
        assert np.allclose(apply_calibration(df["prob"].to_numpy(), calibration),
                           calibrated["calibrated_prob"])  # fmt: skip
        curves[monotonic] = apply_calibration(grid, calibration)
    assert np.diff(curves["false"]).min() < -1e-3  # the free fit dips
    assert np.diff(curves["true"]).min() >= -1e-12


@pytest.mark.parametrize(("env", "named"), [({"GAM_KNOTS": "0"}, "GAM_KNOTS=0"),
                                            ({"MONOTONIC": "yes"}, "MONOTONIC='yes'")])  # fmt: skip
def test_bad_gam_options_name_the_variable(tmp_path: Path, env: dict, named: str) -> None:
    with pytest.raises(StepInputError, match=re.escape(named)):
        run(tmp_path, miscalibrated(), CALIBRATION_METHOD="gam", **env)
