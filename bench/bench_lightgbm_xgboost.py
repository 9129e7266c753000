"""LightGBM against XGBoost training on the same million synthetic rows: wall time and peak memory.

DataLoading writes synthetic:classification?rows=N&features=20 and TabularPreprocessing splits it
(70/15/15) and fits its transforms, once. Then each training step's own main runs in a fresh
process of its own on those splits, with each framework's default hyperparameters (200 rounds at
most, early stopping after 20 without improvement, one thread), so the figures are the steps as a
pipeline runs them. Peak memory is the child process's own getrusage(RUSAGE_SELF).ru_maxrss.
Writes bench/results/lightgbm_xgboost.json.

    .venv/bin/python bench/bench_lightgbm_xgboost.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

LIBRARY = Path(__file__).resolve().parents[1] / "src" / "cursus" / "steps" / "library"
RESULTS = Path(__file__).resolve().parent / "results"

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {library!r})
import {module} as step
start = time.perf_counter()
metrics = step.main(
    {{"input_path": {data!r}, "preprocessing_artifacts": {artifacts!r}}},
    {{"model_output": {model!r}, "training_metrics": {metrics_dir!r}}},
    {{"LABEL_FIELD": "label"}},
    {{"hyperparameters": {{}}}},
)
print(json.dumps({{
    "seconds": time.perf_counter() - start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "metrics": {{k: v for k, v in metrics.items() if isinstance(v, (int, float))}},
}}))
"""


def prepare(rows: int, work: Path) -> Path:
    sys.path.insert(0, str(LIBRARY))
    import data_loading
    import tabular_preprocessing

    raw = work / "raw"
    data_loading.main(
        {},
        {"data": str(raw / "data"), "metadata": str(raw / "metadata")},
        {"DATA_SOURCE": f"synthetic:classification?rows={rows}&features=20", "RANDOM_SEED": "1"},
        {},
    )
    prep = work / "prep"
    tabular_preprocessing.main(
        {"data_input": str(raw / "data"), "metadata_input": str(raw / "metadata")},
        {"processed_data": str(prep / "data"), "preprocessing_artifacts": str(prep / "artifacts")},
        {"LABEL_FIELD": "label"},
        {"job_type": "training"},
    )
    return prep


def train(module: str, prep: Path, work: Path) -> dict:
    code = CHILD.format(
        library=str(LIBRARY),
        module=module,
        data=str(prep / "data"),
        artifacts=str(prep / "artifacts"),
        model=str(work / module / "model"),
        metrics_dir=str(work / module / "metrics"),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        prep = prepare(args.rows, work)
        prepared = time.perf_counter() - started
        results = {m: train(m, prep, work) for m in ("xgboost_training", "lightgbm_training")}
    xgb, lgb = results["xgboost_training"], results["lightgbm_training"]
    summary = {
        "rows": args.rows,
        "prepare_seconds": round(prepared, 1),
        "xgboost": xgb,
        "lightgbm": lgb,
        "lightgbm_over_xgboost_seconds": round(lgb["seconds"] / xgb["seconds"], 3),
        "lightgbm_over_xgboost_peak_rss": round(lgb["peak_rss_mb"] / xgb["peak_rss_mb"], 3),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lightgbm_xgboost.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{args.rows:,} rows (20 features), one thread, default hyperparameters")
    print(f"{'':10} {'train s':>9} {'peak MB':>9} {'trees':>6} {'val AUC':>8}")
    for name, r in (("xgboost", xgb), ("lightgbm", lgb)):
        m = r["metrics"]
        print(
            f"{name:10} {r['seconds']:9.1f} {r['peak_rss_mb']:9.0f} {m['n_trees']:6.0f} "
            f"{m['val_auc']:8.4f}"
        )
    print(
        f"LightGBM / XGBoost: time {summary['lightgbm_over_xgboost_seconds']}, "
        f"peak memory {summary['lightgbm_over_xgboost_peak_rss']}"
    )


if __name__ == "__main__":
    main()
