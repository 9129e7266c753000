"""A step process started early loads its step's script once and calls its optional
`prewarm(environ_vars)`; what that prints or raises is dropped, and the step runs as usual."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cursus.backends.local import launch

SCRIPT = """
from pathlib import Path
LOADS = Path(__file__).with_name("loads.txt")
LOADS.write_text(LOADS.read_text() + "x" if LOADS.exists() else "x")

def prewarm(environ_vars):
    print("prewarm talks")
    Path(environ_vars["OUT"]).write_text("warmed")
    if environ_vars.get("FAIL"):
        raise RuntimeError("prewarm broke")

def main(input_paths, output_paths, environ_vars, job_args):
    return {"loads": len(LOADS.read_text())}
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "warm_demo.py"
    path.write_text(SCRIPT)
    yield path
    sys.modules.pop("cursus_step_warm_demo", None)


def _request(script: Path) -> dict[str, object]:
    return {"step": "Demo", "script": str(script), "input_paths": {}, "output_paths": {},
            "environ_vars": {}, "job_args": {}}  # fmt: skip


def test_prewarm_loads_the_script_once_and_calls_its_hook(
    script: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    launch._prewarm({"script": str(script), "environ_vars": {"OUT": str(tmp_path / "out")}})
    assert (tmp_path / "out").read_text() == "warmed"
    assert "prewarm talks" not in capfd.readouterr().out  # dropped, not on the runner's terminal
    assert launch.call_main(_request(script)) == {"loads": 1}  # the module loaded by prewarm


@pytest.mark.parametrize("broken", ["hook", "script"])
def test_a_broken_prewarm_is_only_a_head_start_lost(
    broken: str, script: Path, tmp_path: Path
) -> None:
    if broken == "script":
        script.write_text("raise ImportError('no such library')\n")
    environ = {"OUT": str(tmp_path / "out"), "FAIL": "1"}
    launch._prewarm({"script": str(script), "environ_vars": environ})  # raises nothing
    if broken == "script":  # not left half-loaded: the step reports the error itself
        assert "cursus_step_warm_demo" not in sys.modules
        with pytest.raises(ImportError, match="no such library"):
            launch.call_main(_request(script))
    else:
        assert launch.call_main(_request(script)) == {"loads": 1}
