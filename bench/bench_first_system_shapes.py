"""The first system's largest tabular DAGs, as it ships them, run locally on a million synthetic rows.

Two shapes: the widest, `xgboost/complete_e2e_with_testing` (15 nodes: three loads, inference,
percentile calibration, metrics, a model card, package, payload, registration), and the one with
the most fitted preprocessing, `xgboost/training_with_feature_selection` (12 nodes: imputation,
risk tables and feature selection on both sides). Every loader reads the same
synthetic:classification table of ROWS rows (20 features, 2 categorical, 5% of cells missing):
the training loaders 70% of it, the others the other 30%. Default hyperparameters (XGBoost: 200
rounds at most, early stopping), one thread per step, a fresh workspace (nothing cached), no
tracking. Reported per shape: wall time of the run, the busiest steps, and peak memory (the
largest step process's own high-water RSS, and the runner's). Writes
bench/results/first_system_shapes.json.

    .venv/bin/python bench/bench_first_system_shapes.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "tests" / "pipeline_catalog" / "first_system_dags"
RESULTS = ROOT / "bench" / "results"
SHAPES = ("xgboost__complete_e2e_with_testing", "xgboost__training_with_feature_selection")


def run_shape(shape: str, rows: int, work: Path) -> dict:
    from cursus.api.loading import load_dag
    from cursus.core.config_file import default_configs
    from cursus.targets import run_pipeline

    dag = load_dag(DAGS / f"{shape}.json")
    source = (
        f"synthetic:classification?rows={rows}&features=20&categorical=2&missing=0.05"
        "&fraction=0.3&seed=7"
    )
    configs = default_configs(dag)
    for node, config in configs.items():
        values: dict = {}
        if "DataLoading" in node:
            training = node.endswith("_training")
            values["data_source"] = source + ("&part=rest" if training else "")
        if node.startswith("FeatureSelection"):
            values["n_features_to_select"] = 12
        if values:
            configs[node] = type(config).model_validate({**config.model_dump(), **values})
    started = time.perf_counter()
    result = run_pipeline(dag, configs, workspace=work / shape, tracking=False, lineage=False)
    wall = time.perf_counter() - started
    failed = {n: s.error for n, s in result.steps.items() if not s.ok}
    if failed:
        raise SystemExit(f"{shape} failed: {json.dumps(failed, indent=2)[:3000]}")
    steps = {
        name: {
            "seconds": round(step.seconds, 2),
            "peak_rss_mb": round(step.hardware.get("peak_rss_mb", 0.0), 1),
        }
        for name, step in result.steps.items()
    }
    busiest = sorted(steps.items(), key=lambda kv: -kv[1]["seconds"])[:5]
    return {
        "nodes": len(dag.nodes),
        "wall_seconds": round(wall, 1),
        "sum_of_step_seconds": round(sum(s["seconds"] for s in steps.values()), 1),
        "peak_step_rss_mb": max(s["peak_rss_mb"] for s in steps.values()),
        "busiest_steps": dict(busiest),
        "steps": steps,
        "headline": {
            k: round(v, 4)
            for name, step in result.steps.items()
            if "Eval" in name or "MetricsComputation" in name
            for k, v in step.metrics.items()
            if k in ("roc_auc", "accuracy", "n_samples")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    report: dict = {"rows": args.rows, "cpus": os.cpu_count(), "shapes": {}}
    with tempfile.TemporaryDirectory(prefix="cursus-bench-shapes-") as tmp:
        for shape in SHAPES:
            print(f"running {shape} on {args.rows:,} rows ...", flush=True)
            report["shapes"][shape] = found = run_shape(shape, args.rows, Path(tmp))
            print(
                f"  {found['nodes']} nodes: {found['wall_seconds']} s wall "
                f"({found['sum_of_step_seconds']} s of steps), peak step RSS "
                f"{found['peak_step_rss_mb']} MB; busiest: "
                + ", ".join(f"{n} {s['seconds']} s" for n, s in found["busiest_steps"].items()),
                flush=True,
            )
    report["runner_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "first_system_shapes.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "shapes"}))


if __name__ == "__main__":
    main()
