"""Twin builds: what a built twin holds besides its pins."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cursus.backends.sagemaker.twins import READY_FILE, Twin, build_twin, twin_dir

TWIN = Twin("sklearn", "0.0-test", "3.11", "3.11", ("nothing==0",), "a test")


def _ready_twin_without_bytecode(root: Path) -> Path:
    """A twin folder as an earlier Cursus left it: built and ready, its packages never compiled."""
    folder = twin_dir(TWIN, root)
    (folder / "bin").mkdir(parents=True)
    os.symlink(sys.executable, folder / "bin" / "python")
    package = folder / "lib" / "python3.11" / "site-packages" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "broken.py").write_text("print 'python 2 test data'\n")
    (folder / READY_FILE).write_text(json.dumps({"twin": TWIN.name}))
    return package


def test_a_twin_built_without_bytecode_is_compiled_once_when_built_again(tmp_path: Path) -> None:
    package = _ready_twin_without_bytecode(tmp_path)
    python = build_twin(TWIN, tmp_path)
    assert python == twin_dir(TWIN, tmp_path) / "bin" / "python"
    compiled = sorted(p.name.split(".")[0] for p in (package / "__pycache__").glob("*.pyc"))
    assert compiled == ["__init__"]  # the file that does not compile is left, not fatal
    record = json.loads((twin_dir(TWIN, tmp_path) / READY_FILE).read_text())
    assert record == {"twin": TWIN.name, "bytecode": True}
    # built again: nothing left to do, the compiled files stay as they are
    stamp = (package / "__pycache__").stat().st_mtime_ns
    assert build_twin(TWIN, tmp_path) == python
    assert (package / "__pycache__").stat().st_mtime_ns == stamp
