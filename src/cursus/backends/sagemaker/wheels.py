"""Wheels of the packages a framework's image lacks (the framework table's `wheels`), for the
image's Python and platform, kept in a local cache and shipped in the code bundles.

SageMaker jobs may run without internet, so a package the image does not have cannot be left to
a pip install at job start. Its wheel goes into the bundle instead (`wheels/<file>.whl`), and the
step library imports it from there (`_model_lightgbm.import_lightgbm`). The cache is
`$CURSUS_WHEELS_DIR`, else `~/.cache/cursus/wheels`; a wheel missing from it is fetched once with
`pip download` for the image's Python and Linux platform, and a machine that cannot reach PyPI
gets the command to run where it can.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from cursus.errors import CursusError
from cursus.frameworks import FRAMEWORKS

WHEELS_DIR_ENV = "CURSUS_WHEELS_DIR"
# the images are x86_64 Linux with glibc 2.31 (Ubuntu 20.04); the wheel tags pip may pick
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")


class WheelUnavailable(CursusError):
    """A wheel a bundle needs is not in the cache and cannot be fetched here."""


def wheels_root() -> Path:
    if os.environ.get(WHEELS_DIR_ENV):
        return Path(os.environ[WHEELS_DIR_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cursus" / "wheels"


def _folder(python: str, root: Path | None) -> Path:
    return (root or wheels_root()) / f"py{python.replace('.', '')}"


def download_command(requirement: str, python: str, folder: Path) -> list[str]:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return [*command, "--dest", str(folder), requirement]


def _cached(requirement: str, folder: Path) -> Path | None:
    match = _PIN.match(requirement)
    if match is None:
        raise WheelUnavailable(
            f"wheel requirement {requirement!r} is not pinned as name==version; pin it in "
            "cursus.frameworks so every bundle carries the same file"
        )
    stem = re.sub(r"[-_.]+", "_", match["name"]).lower()
    found = sorted(folder.glob(f"{stem}-{match['version']}-*.whl")) if folder.is_dir() else []
    return found[-1] if found else None


@cache
def wheel_for(requirement: str, python: str, root: Path | None = None) -> Path:
    """The cached wheel of `requirement` (name==version) for the image's `python`, fetched if
    missing."""
    folder = _folder(python, root)
    found = _cached(requirement, folder)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    command = download_command(requirement, python, folder)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = _cached(requirement, folder)
    if done.returncode != 0 or found is None:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        raise WheelUnavailable(
            f"the wheel of {requirement} for Python {python} (the image lacks it, so its jobs "
            f"get it in their code bundle) is not in {folder} and could not be fetched ({tail}); "
            f"on a machine that reaches PyPI run: {' '.join(command[2:])} and copy the file "
            f"into {folder} (or set {WHEELS_DIR_ENV})"
        )
    return found


def framework_wheels(framework: str, python: str, root: Path | None = None) -> list[Path]:
    """The wheels a job of `framework` ships for an image of `python` ([] for most)."""
    entry = FRAMEWORKS.get(framework)
    return [wheel_for(r, python, root) for r in (entry.wheels if entry else ())]


def fetch_all(root: Path | None = None) -> list[Path]:
    """Every framework's wheels for every image version it runs on (`make twins` calls this)."""
    return [
        wheel_for(requirement, image.python, root)
        for entry in FRAMEWORKS.values()
        for image in entry.images
        for requirement in entry.wheels
    ]
