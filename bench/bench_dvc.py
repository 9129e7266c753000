"""What versioning a file with DVC costs, next to just hashing it.

Generates a file of random bytes (100 MB by default) in a fresh DVC repository and times, per
repetition: plain sha256 of the file (the floor: read it once and hash it); `dvc_add` through the
Python API (DVC's md5 plus its copy into the cache); and the command a user types, `cursus data
add`, as a process (adds interpreter start-up and imports, shown alone by adding a 1-byte file). Each repetition uses a new repository,
workspace and file, so DVC's hash state never answers from an earlier run. Prints a table and
writes bench/results/dvc.json.

    .venv/bin/python bench/bench_dvc.py [--mb 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cursus.mlops.data import dvc_add, init_repo
from cursus.mlops.project import Project

RESULTS = Path(__file__).resolve().parent / "results" / "dvc.json"
CURSUS = str(Path(sys.executable).with_name("cursus"))
CHUNK = 1 << 20


def write_random(path: Path, megabytes: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(megabytes):
            handle.write(os.urandom(CHUNK))


def sha256_seconds(path: Path) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    digest.hexdigest()
    return time.perf_counter() - started


def cli_env(pycache: Path) -> dict[str, str]:
    """The CLI as an installed copy runs it: with compiled bytecode. (This machine sets
    PYTHONDONTWRITEBYTECODE and its venv holds no .pyc files, so every process would otherwise
    compile DVC's sources again: about 3 s more per command.)"""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_bytecode(root: Path, env: dict[str, str]) -> None:
    repo = root / "warm"
    repo.mkdir(parents=True)
    (repo / "small.txt").write_text("warm-up\n")
    command = [CURSUS, "data", "add", "small.txt", "--workspace", str(root / "warm-ws")]
    subprocess.run(command, cwd=repo, check=True, capture_output=True, env=env)


def one_repetition(root: Path, megabytes: int, env: dict[str, str]) -> dict[str, float]:
    """sha256, API add and CLI add of two fresh files of the same size in fresh repositories."""
    times = {}
    for way in ("api", "cli"):
        repo, workspace = root / way / "repo", root / way / "ws"
        repo.mkdir(parents=True)
        project = Project.load("bench", workspace)
        init_repo(project, repo)
        data = repo / "big.bin"
        write_random(data, megabytes)
        times.setdefault("sha256_s", sha256_seconds(data))
        started = time.perf_counter()
        if way == "api":
            dvc_add(project, data, root=repo)
        else:
            subprocess.run(
                [
                    CURSUS,
                    "data",
                    "add",
                    "big.bin",
                    "--project",
                    "bench",
                    "--workspace",
                    str(workspace),
                ],
                cwd=repo,
                check=True,
                capture_output=True,
                env=env,
            )
        times[f"{way}_add_s"] = time.perf_counter() - started
        assert (repo / "big.bin.dvc").is_file()
    # the command's fixed cost (start-up, imports, opening the repository): a 1-byte file
    (repo / "tiny.bin").write_bytes(b"x")
    started = time.perf_counter()
    command = [
        CURSUS,
        "data",
        "add",
        "tiny.bin",
        "--project",
        "bench",
        "--workspace",
        str(workspace),
    ]
    subprocess.run(command, cwd=repo, check=True, capture_output=True, env=env)
    times["cli_add_1_byte_s"] = time.perf_counter() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="file size in MB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory(prefix="cursus-bench-pyc-") as pyc:
        env = cli_env(Path(pyc))
        warm_bytecode(Path(pyc), env)
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="cursus-bench-dvc-") as tmp:
                runs.append(one_repetition(Path(tmp), args.mb, env))
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    result = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "file_mb": args.mb,
        "repeat": args.repeat,
        "median": {k: round(v, 4) for k, v in median.items()},
        "sha256_mb_per_s": round(args.mb / median["sha256_s"], 1),
        "ratio_api_add_to_sha256": round(median["api_add_s"] / median["sha256_s"], 2),
        "ratio_cli_add_to_sha256": round(median["cli_add_s"] / median["sha256_s"], 2),
        "runs": [{k: round(v, 4) for k, v in r.items()} for r in runs],
    }
    print(f"{args.mb} MB file, median of {args.repeat}:")
    print(
        f"  sha256                 {median['sha256_s']:7.3f} s  ({result['sha256_mb_per_s']} MB/s)"
    )
    print(
        f"  dvc_add (Python API)   {median['api_add_s']:7.3f} s  x{result['ratio_api_add_to_sha256']}"
    )
    print(
        f"  cursus data add (CLI)  {median['cli_add_s']:7.3f} s  x{result['ratio_cli_add_to_sha256']}"
    )
    print(f"  ... of a 1-byte file   {median['cli_add_1_byte_s']:7.3f} s  (start-up and imports)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
