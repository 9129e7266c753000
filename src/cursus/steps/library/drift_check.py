"""DriftCheck: has the data moved away from what the model learned from?

Each column both tables share (but the label and the id) is compared with Evidently's data drift
preset, which picks a test per column type and size (Kolmogorov-Smirnov or Wasserstein for numbers,
chi-squared, Z-test or Jensen-Shannon for categories). The data counts as drifted when the share of
drifted columns reaches DRIFT_THRESHOLD (Evidently's own rule). drift.json holds the verdict and
every column's test, score and threshold; drift.html is Evidently's self-contained report.

`cursus monitor drift` calls `load_table` and `check_drift` of this file, so the command line and
the step decide alike.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from _tabular import TABLE_FILE, StepInputError, env_float, env_json, env_str, read_table, save_json

CONTAINER_INPUTS = {
    "reference_data": "/opt/ml/processing/input/reference",
    "current_data": "/opt/ml/processing/input/current",
}
CONTAINER_OUTPUTS = {"drift_report": "/opt/ml/processing/output/drift"}
ENV_VARS = ["DRIFT_THRESHOLD", "DRIFT_COLUMNS", "FAIL_ON_DRIFT", "LABEL_FIELD", "ID_FIELD"]

REPORT_JSON = "drift.json"
REPORT_HTML = "drift.html"
REFERENCE_SPLIT = "train"


class DataDriftError(RuntimeError):
    """The data drifted and the step was asked to fail when it does."""


# ---------------------------------------------------------------- reading the two tables


def load_table(path: str | Path, role: str = "data") -> pd.DataFrame:
    """A .csv/.parquet file, a folder holding data.parquet (tabular_data), or a processed_tabular
    folder: its `train/` split (what the model learned from) or its only split."""
    path = Path(path)
    if not path.exists():
        raise StepInputError(f"{role} {path} does not exist; give a .csv/.parquet file or a folder")
    if path.is_file():
        if path.suffix not in (".csv", ".parquet"):
            raise StepInputError(f"{role} {path}: read .csv or .parquet files, not {path.suffix!r}")
        return read_table(path)
    if not (path / TABLE_FILE).is_file():
        splits = sorted(p for p in path.iterdir() if p.is_dir() and (p / TABLE_FILE).is_file())
        if (path / REFERENCE_SPLIT / TABLE_FILE).is_file():
            return read_table(path / REFERENCE_SPLIT)
        if len(splits) == 1:
            return read_table(splits[0])
        if splits:
            raise StepInputError(
                f"{role} {path} holds several splits ({', '.join(p.name for p in splits)}) and no "
                f"'{REFERENCE_SPLIT}/'; point at one split folder"
            )
    return read_table(path)


def select_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str] | None,
    exclude: list[str | None],
) -> tuple[list[str], dict[str, list[str]]]:
    """The columns to compare, and what the two tables do not share (reported, not compared)."""
    ref_cols = [str(c) for c in reference.columns]
    cur_cols = [str(c) for c in current.columns]
    schema = {
        "only_in_reference": [c for c in ref_cols if c not in cur_cols],
        "only_in_current": [c for c in cur_cols if c not in ref_cols],
    }
    if columns:
        missing = {
            side: [c for c in columns if c not in cols]
            for side, cols in (("reference", ref_cols), ("current", cur_cols))
        }
        for side, names in missing.items():
            if names:
                raise StepInputError(
                    f"DRIFT_COLUMNS names {names}, which the {side} data lacks; its columns are "
                    f"{(ref_cols if side == 'reference' else cur_cols)[:20]}"
                )
        chosen = list(dict.fromkeys(columns))
    else:
        chosen = [c for c in ref_cols if c in cur_cols and c not in exclude]
    empty = [c for c in chosen if reference[c].isna().all() or current[c].isna().all()]
    schema["empty"] = empty
    chosen = [c for c in chosen if c not in empty]
    if not chosen:
        raise StepInputError(
            "no column to compare: the reference and current data share no non-empty column "
            f"besides the label and id (reference: {ref_cols[:10]}, current: {cur_cols[:10]})"
        )
    return chosen, schema


# ---------------------------------------------------------------- the check


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    output_dir: str | Path,
    threshold: float = 0.5,
    columns: list[str] | None = None,
    exclude: list[str | None] | None = None,
) -> dict[str, Any]:
    """Run Evidently's data drift preset, write drift.json and drift.html, return the summary."""
    with warnings.catch_warnings():  # Evidently's imports warn of their own dependencies' APIs
        warnings.filterwarnings("ignore", module=r"litestar(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from evidently import Report
        from evidently.presets import DataDriftPreset

    if not 0 < threshold <= 1:
        raise StepInputError(f"drift threshold {threshold} must be in (0, 1]")
    for role, df in (("reference", reference), ("current", current)):
        if df.empty:
            raise StepInputError(f"the {role} data has no rows")
    chosen, schema = select_columns(reference, current, columns, exclude or [])
    report = Report([DataDriftPreset(columns=chosen, drift_share=threshold)], include_tests=True)
    snapshot = report.run(current[chosen], reference[chosen])
    per_column = column_results(snapshot.dict())
    drifted = [c for c in chosen if per_column.get(c, {}).get("drifted")]
    share = len(drifted) / len(chosen)
    summary = {
        "drift_detected": share >= threshold,
        "drift_share": share,
        "threshold": threshold,
        "n_columns": len(chosen),
        "n_drifted": len(drifted),
        "drifted_columns": drifted,
        "columns": {c: per_column.get(c, {}) for c in chosen},
        "schema": schema,
        "n_rows": {"reference": len(reference), "current": len(current)},
        "evidently_version": _evidently_version(),
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_json(summary, output_dir / REPORT_JSON)
    snapshot.save_html(str(output_dir / REPORT_HTML))
    return summary


def column_results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column: the test Evidently chose, its score and threshold, and its verdict."""
    results: dict[str, dict[str, Any]] = {}
    for metric in report.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            results[config["column"]] = {
                "method": config.get("method"),
                "score": metric.get("value"),
                "method_threshold": config.get("threshold"),
                "drifted": False,
            }
    for test in report.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        column = params.get("column")
        if params.get("type", "").endswith(":ValueDrift") and column in results:
            results[column]["drifted"] = test.get("status") == "FAIL"
    return results


def _evidently_version() -> str:
    from importlib.metadata import version

    return version("evidently")


def _env_bool(environ: dict[str, str], name: str) -> bool:
    value = env_json(environ, name, False)
    if not isinstance(value, bool):
        raise StepInputError(f"environment variable {name}={value!r} must be true or false")
    return value


def _env_columns(environ: dict[str, str]) -> list[str] | None:
    value = env_json(environ, "DRIFT_COLUMNS")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise StepInputError(
            f'DRIFT_COLUMNS must be a JSON list of column names, e.g. ["age", "income"]; got {value!r}'
        )
    return value


# ---------------------------------------------------------------- step


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    threshold = env_float(environ_vars, "DRIFT_THRESHOLD", 0.5)
    exclude = [env_str(environ_vars, "LABEL_FIELD", "label"), env_str(environ_vars, "ID_FIELD")]
    summary = check_drift(
        load_table(input_paths["reference_data"], "reference_data"),
        load_table(input_paths["current_data"], "current_data"),
        output_paths["drift_report"],
        threshold=threshold,
        columns=_env_columns(environ_vars),
        exclude=exclude,
    )
    print(
        f"{summary['n_drifted']} of {summary['n_columns']} columns drifted "
        f"(share {summary['drift_share']:.3f}, threshold {threshold}): {summary['drifted_columns']}"
    )
    if summary["drift_detected"] and _env_bool(environ_vars, "FAIL_ON_DRIFT"):
        raise DataDriftError(
            f"data drift: {summary['n_drifted']} of {summary['n_columns']} columns drifted "
            f"(share {summary['drift_share']:.3f} >= threshold {threshold}): "
            f"{summary['drifted_columns'][:10]}; report in {output_paths['drift_report']}"
        )
    return {
        "drift_share": summary["drift_share"],
        "n_drifted": float(summary["n_drifted"]),
        "n_columns": float(summary["n_columns"]),
        "drift_detected": float(summary["drift_detected"]),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", "--job-type", dest="job_type", default=None)
    args = parser.parse_args()
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    environ = {name: os.environ[name] for name in ENV_VARS if name in os.environ}
    result = main(
        dict(CONTAINER_INPUTS), dict(CONTAINER_OUTPUTS), environ, {"job_type": args.job_type}
    )
    print(json.dumps(result, indent=2))
