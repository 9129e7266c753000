"""How the first `cursus run` of the e2e pipeline compares with importing its libraries.

Issue 18's targets, as ratios in one run on this machine:

- a first `cursus run xgboost_e2e` in a fresh workspace, tracked (the default) and with
  `--no-tracking`, against `python -c "import pandas, sklearn, xgboost, pyarrow"` (target: the
  run <= 1.5x the import; tracked within 5% of untracked);
- a fully cached re-run as a fresh process (target <= 0.15 s).

Each measurement is a fresh process; the import and the runs alternate, REPEATS times, median
wall; each waits for the tracking writer of the run before it to finish. The machine's empty
MLflow store (~/.cache/cursus, or $CURSUS_STORE_CACHE) is built first, as any run after a
machine's first does. Writes bench/results/first_run.json.

    .venv/bin/python bench/bench_first_run.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _runner_common import wait_for_writers

CURSUS = str(Path(sys.executable).with_name("cursus"))
RESULTS = Path(__file__).resolve().parent / "results" / "first_run.json"
HEAVY = "import pandas, sklearn, xgboost, pyarrow"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    import importlib.metadata

    from cursus.mlops.tracking import build_template, store_template

    template = store_template(importlib.metadata.version("mlflow"))
    if not template.is_file():
        build_template(str(template))
    with tempfile.TemporaryDirectory(prefix="bench-first-run-") as tmp:
        root = Path(tmp)
        config = root / "config.json"
        subprocess.run([CURSUS, "config", "init", "xgboost_e2e", "-o", str(config)], check=True,
                       capture_output=True)  # fmt: skip
        times: dict[str, list[float]] = {"import": [], "tracked": [], "untracked": [], "cached": []}
        for i in range(args.repeats):
            times["import"].append(timed([sys.executable, "-c", HEAVY], root))
            for kind, extra in (("tracked", []), ("untracked", ["--no-tracking"])):
                ws = root / f"ws-{kind}-{i}"
                run = [CURSUS, "run", "xgboost_e2e", "-c", str(config), "--workspace", str(ws),
                       "--quiet", *extra]  # fmt: skip
                times[kind].append(timed(run, root))
                wait_for_writers(ws)
                if kind == "untracked":
                    times["cached"].append(timed(run, root))
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [
        ("import pandas, sklearn, xgboost, pyarrow", med["import"], 1.0),
        ("first cursus run, tracked", med["tracked"], med["tracked"] / med["import"]),
        ("first cursus run, --no-tracking", med["untracked"], med["untracked"] / med["import"]),
        ("cached re-run (fresh process)", med["cached"], med["cached"] / med["import"]),
    ]
    print(f"{'e2e pipeline, fresh processes':42} {'median s':>9} {'x import':>9}")
    for name, seconds, ratio in rows:
        print(f"{name:42} {seconds:9.2f} {ratio:9.2f}")
    tracking_cost = med["tracked"] / med["untracked"] - 1
    print(f"\nfirst run / import: {med['untracked'] / med['import']:.2f}x (target <= 1.5x)")
    print(f"tracking costs {tracking_cost:+.1%} on a first run (target within 5%)")
    print(f"cached re-run: {med['cached']:.3f} s (target <= 0.15 s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "median_s": med,
                "all_s": times,
                "repeats": args.repeats,
                "load_average": os.getloadavg(),
                "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
