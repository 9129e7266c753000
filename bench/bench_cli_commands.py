"""How long the everyday read commands take, as fresh processes, in a workspace after one run.

The bundled xgboost_e2e pipeline is run once (tracked, its model registered in the workspace's
MLflow store); then each command is timed REPEATS times, alternating, with `python -c pass` as the
floor in the same loop. `models list` and `models show` read the MLflow SQLite file directly
(mlops.registry.SqliteRegistryView); the row "through MLflow" times the same listing through
MlflowClient, which is what both commands cost before. Writes bench/results/cli_commands.json.

    .venv/bin/python bench/bench_cli_commands.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _runner_common import table, wait_for_writers, write_results

CURSUS = str(Path(sys.executable).with_name("cursus"))
THROUGH_MLFLOW = """
import sys
from cursus.mlops.registry import MLflowRegistryView
view = MLflowRegistryView(sys.argv[1])
for name in view.model_names():
    print(name, len(view.versions(name)))
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cursus-bench-cli-") as tmp:
        root = Path(tmp)
        ws, config = root / "ws", root / "config.json"
        subprocess.run([CURSUS, "config", "init", "xgboost_e2e", "-o", str(config)],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run([CURSUS, "run", "xgboost_e2e", "-c", str(config), "--workspace", str(ws),
                        "--quiet"], check=True)  # fmt: skip
        wait_for_writers(root)
        uri = f"sqlite:///{ws / 'mlflow.db'}"
        where = ["--workspace", str(ws)]
        commands = {
            "floor: python -c pass": [sys.executable, "-c", "pass"],
            "cursus --help": [CURSUS, "--help"],
            "cursus runs list": [CURSUS, "runs", "list", *where],
            "cursus models list": [CURSUS, "models", "list", *where],
            "cursus models show xgboost-e2e": [CURSUS, "models", "show", "xgboost-e2e", *where],
            "models list through MLflow": [sys.executable, "-c", THROUGH_MLFLOW, uri],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(timed(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["floor: python -c pass"]
    print(
        table(
            [[name, m, m / floor] for name, m in medians.items()],
            ["command, fresh process", "median s", "x pass"],
        )
    )
    ratio = medians["models list through MLflow"] / medians["cursus models list"]
    print(f"\nmodels list: {ratio:.1f}x faster than through MLflow")
    write_results("cli_commands", {"repeats": args.repeats, "median_s": medians, "all_s": times})


if __name__ == "__main__":
    main()
