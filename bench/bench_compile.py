"""How long compiling a DAG and config to a Plan takes, and how it grows with the DAG.

Runs in-process on the bundled 10-node xgboost_e2e and on synthetic DAGs of 100, 1,000 and 5,000
nodes built from the real step types: one shared calibration branch (DataLoading_calibration ->
TabularPreprocessing_calibration) that fans out to every model, and per model the chain
DataLoading -> TabularPreprocessing -> XGBoostTraining -> XGBoostModelEval -> ModelCalibration ->
Package -> Payload -> Registration, where the eval step fans in the model and the shared
calibration data. Prints a table (ms, and ms per node+edge so that growth shows) and writes
bench/results/compile.json.

    .venv/bin/python bench/bench_compile.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import default_configs, save_configs
from cursus.core.planner import compile_plan

RESULTS = Path(__file__).resolve().parent / "results" / "compile.json"
SIZES = ((100, 20), (1000, 5), (5000, 3))  # nodes, runs
CHAIN = (
    "DataLoading_training",
    "TabularPreprocessing_training",
    "XGBoostTraining",
    "XGBoostModelEval_calibration",
    "ModelCalibration_calibration",
    "Package",
    "Payload",
    "Registration",
)


def synthetic_dag(n_nodes: int) -> PipelineDAG:
    """A DAG of exactly `n_nodes` nodes: shared calibration data, per-model chains, then padding
    with stand-alone DataLoading nodes to reach the size."""
    nodes = ["DataLoading_calibration", "TabularPreprocessing_calibration"]
    edges = [("DataLoading_calibration", "TabularPreprocessing_calibration")]
    models = (n_nodes - len(nodes)) // len(CHAIN)
    for m in range(models):
        name = {step: f"{step.split('_')[0]}_m{m}" for step in CHAIN}
        nodes += name.values()
        edges += [(name[a], name[b]) for a, b in itertools.pairwise(CHAIN)]
        edges += [
            ("TabularPreprocessing_calibration", name["XGBoostModelEval_calibration"]),
            (name["XGBoostTraining"], name["Package"]),
            (name["Package"], name["Registration"]),
        ]
    nodes += [f"DataLoading_pad{i}" for i in range(n_nodes - len(nodes))]
    return PipelineDAG.from_dict(
        {"dag": {"description": f"synthetic {n_nodes}", "nodes": nodes, "edges": edges}}
    )


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm caches (specs, config classes) once, as any process that compiles twice would
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(name: str, dag: PipelineDAG, runs: int, workdir: Path) -> dict[str, object]:
    """Median ms of compile_plan in memory, and of what `cursus compile` does in-process: read the
    DAG and config files, validate, resolve, build the Plan and serialise it."""
    configs = default_configs(dag)
    dag_file, config_file = workdir / f"{name}.dag.json", workdir / f"{name}.config.json"
    dag.to_json(dag_file)
    save_configs(configs, config_file)

    def from_files() -> str:
        return PipelineDAGCompiler(config_file).compile_to_plan(load_dag(dag_file)).to_json()

    compile_ms = _median_ms(lambda: compile_plan(dag, configs), runs)
    files_ms = _median_ms(from_files, runs)
    size = len(dag) + len(dag.edges)
    return {
        "dag": name,
        "nodes": len(dag),
        "edges": len(dag.edges),
        "runs": runs,
        "compile_ms": round(compile_ms, 3),
        "compile_ms_per_node_plus_edge": round(compile_ms / size, 5),
        "from_files_ms": round(files_ms, 3),
        "from_files_ms_per_node_plus_edge": round(files_ms / size, 5),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run each, for a smoke test")
    args = parser.parse_args()
    cases = [("xgboost_e2e", load_dag("xgboost_e2e"), 50)]
    cases += [(f"synthetic_{n}", synthetic_dag(n), runs) for n, runs in SIZES]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            measure(name, dag, 1 if args.quick else runs, Path(tmp)) for name, dag, runs in cases
        ]
    header = (
        f"{'dag':15} {'nodes':>5} {'edges':>5} {'runs':>4} {'compile ms':>10} {'ms/(n+e)':>9} "
        f"{'from files ms':>13} {'ms/(n+e)':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['dag']:15} {r['nodes']:5} {r['edges']:5} {r['runs']:4} {r['compile_ms']:10.2f} "
            f"{r['compile_ms_per_node_plus_edge']:9.4f} {r['from_files_ms']:13.2f} "
            f"{r['from_files_ms_per_node_plus_edge']:9.4f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"python": platform.python_version(), "platform": platform.platform(), "results": rows},
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
