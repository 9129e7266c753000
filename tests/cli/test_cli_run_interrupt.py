"""Ctrl-C during `cursus run` and `cursus catalog run`: a short message saying how to go on, exit code 130, the run
recorded as interrupted, and the same command runs the rest from the cache."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CURSUS = str(Path(sys.executable).with_name("cursus"))


def _finished_steps(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT name FROM steps WHERE status = 'succeeded'").fetchall()
    except sqlite3.Error:  # the runner is creating its tables
        return []
    return [name for (name,) in rows]


COMMANDS = {
    "run": (["config", "init", "xgboost_e2e"], ["run", "xgboost_e2e", "--quiet"]),
    "catalog run": (["catalog", "config", "xgboost_simple"], ["catalog", "run", "xgboost_simple"]),
}


@pytest.mark.parametrize("command_name", list(COMMANDS))
def test_ctrl_c_stops_the_run_and_the_same_command_resumes_it(
    tmp_path: Path, command_name: str
) -> None:
    init, run_args = COMMANDS[command_name]
    config = tmp_path / "config.json"
    subprocess.run([CURSUS, *init, "-o", str(config)], check=True, capture_output=True)
    ws = tmp_path / "ws"
    command = [CURSUS, *run_args, "-c", str(config), "--workspace", str(ws), "--no-tracking"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(
        command,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal: a test runner may have started us with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not _finished_steps(ws / "runs.db") and run.poll() is None:
        assert time.monotonic() < deadline, "no step finished in 120 s"
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err  # (0 would mean the rest of the run beat the signal)
    assert "interrupted: the run is recorded as interrupted" in err
    assert "Traceback" not in err
    with sqlite3.connect(ws / "runs.db") as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    finished = _finished_steps(ws / "runs.db")
    again = subprocess.run(command, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(ws / "runs.db") as con:
        (run_id,) = con.execute("SELECT run_id FROM runs WHERE status = 'succeeded'").fetchone()
        statuses = dict(
            con.execute("SELECT name, status FROM steps WHERE run_id = ?", (run_id,)).fetchall()
        )
    assert finished and all(statuses[name] == "cached" for name in finished)
