"""Image twins: a venv per SageMaker framework image, with that image's Python and pinned packages.

A twin stands in for a container image without Docker: the same interpreter version and the
same versions of the packages a step script can import, installed from PyPI. The pins come from
the images' own release branches (aws/sagemaker-scikit-learn-container, requirements.txt and
docker/<version>/base/Dockerfile.cpu; aws/sagemaker-xgboost-container, likewise), so a script
that runs in its twin meets the pandas, scikit-learn and numpy that SageMaker runs it with, and
the serving toolkit of the image (sagemaker-containers for XGBoost) answers its requests.

What a twin is not: the operating system of the image (Ubuntu 20.04 and its C libraries), the
servers in front of the toolkit (nginx, gunicorn, multi-model-server), GPU drivers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cursus.errors import CursusError
from cursus.frameworks import FRAMEWORKS

TWINS_DIR_ENV = "CURSUS_TWINS_DIR"
READY_FILE = "cursus-twin.json"


class TwinUnavailable(CursusError):
    """A twin cannot be built or used on this machine; the message says why and what to do."""


class NoInterpreter(TwinUnavailable):
    """This machine has no Python of the image's version."""


@dataclass(frozen=True)
class Twin:
    framework: str  # cursus' framework name: sklearn, xgboost, pytorch
    version: str  # the image's framework version, as the SageMaker SDK names it
    python: str  # the image's Python, major.minor
    oldest_python: str  # the oldest Python the image's release branch has shipped
    packages: tuple[str, ...]
    source: str  # where the pins were read
    unavailable: str = ""  # why this twin cannot be built here, if it cannot

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.version}"

    @property
    def digest(self) -> str:
        """Changes whenever the interpreter or a pin changes, so a stale twin is rebuilt."""
        text = json.dumps([self.python, list(self.packages)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# Pins of the packages a step script or the serving toolkit imports, from the framework table;
# servers (nginx, gunicorn's workers, multi-model-server, Java) are left out: a twin runs
# scripts, not endpoints.
TWINS: dict[tuple[str, str], Twin] = {
    (framework.name, image.version): Twin(
        framework=framework.name,
        version=image.version,
        python=image.python,
        oldest_python=image.oldest_python,
        packages=image.packages,
        source=image.source,
        unavailable=image.unavailable,
    )
    for framework in FRAMEWORKS.values()
    if not framework.runs_on  # its twin is the one of the framework it runs on
    for image in framework.images
    if image.packages
}


def twin_of(framework: str, version: str | None = None) -> Twin:
    """The twin a job of `framework` runs in: that of its image (LightGBM's is XGBoost's)."""
    entry = FRAMEWORKS[framework]
    image = entry.image_version(version)
    return TWINS[(entry.runs_on or entry.name, image.version)]


# ECR repository of a framework image -> cursus' framework name
IMAGE_REPOSITORIES = {repo: f.name for f in FRAMEWORKS.values() for repo in f.repositories}
_IMAGE = re.compile(r"^[^/]+/(?P<repo>[^:@]+)[:](?P<tag>.+)$")


def twin_for_image(image_uri: str) -> Twin:
    """The twin of a SageMaker framework image URI, as the SDK's image_uris.retrieve writes it."""
    match = _IMAGE.match(image_uri)
    framework = IMAGE_REPOSITORIES.get(match["repo"]) if match else None
    if match is None or framework is None:
        raise TwinUnavailable(
            f"image {image_uri}: no twin for it; twins exist for "
            + ", ".join(sorted(f"{t.framework} {t.version}" for t in TWINS.values()))
        )
    version = match["tag"].split("-cpu")[0].split("-gpu")[0]
    twin = TWINS.get((framework, version))
    if twin is None:
        known = sorted(v for f, v in TWINS if f == framework)
        raise TwinUnavailable(
            f"image {image_uri}: no twin of {framework} {version}; twins exist for versions "
            f"{', '.join(known)}: set framework_version to one of them to emulate the pipeline"
        )
    return twin


def twins_root() -> Path:
    if os.environ.get(TWINS_DIR_ENV):
        return Path(os.environ[TWINS_DIR_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cursus" / "twins"


def twin_dir(twin: Twin, root: Path | None = None) -> Path:
    return (root or twins_root()) / f"{twin.name}-{twin.digest}"


def twin_python(twin: Twin, root: Path | None = None) -> Path | None:
    """The twin's interpreter when the twin is built and complete, else None."""
    folder = twin_dir(twin, root)
    python = folder / "bin" / "python"
    return python if (folder / READY_FILE).is_file() and python.exists() else None


def _compile_bytecode(folder: Path) -> None:
    """Byte-compile the twin's packages, as pip does when an image is built. Without it every
    job, which runs with PYTHONDONTWRITEBYTECODE as the emulator sets it, compiled pandas and
    scikit-learn from source again: 2-4 s more per step, twice the time of a whole emulation."""
    python = folder / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "compileall", "-q", "-j", "0", str(folder / "lib")],
        capture_output=True,
        text=True,
        check=False,
    )
    # compileall exits 1 for a file that does not compile (a package's Python 2 test data):
    # the rest is compiled all the same, and such a file is never imported
    if done.returncode not in (0, 1):
        raise TwinUnavailable(
            f"twin {folder.name}: byte-compiling its packages failed: {done.stderr.strip()[-500:]}"
        )
    record = json.loads((folder / READY_FILE).read_text())
    record["bytecode"] = True
    (folder / READY_FILE).write_text(json.dumps(record, indent=2) + "\n")


def _has_bytecode(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / READY_FILE).read_text()).get("bytecode"))
    except (OSError, ValueError, AttributeError):
        return False


def require_twin(twin: Twin, root: Path | None = None) -> Path:
    """The twin's interpreter, or an error that says how to get it."""
    if twin.unavailable:
        raise TwinUnavailable(f"twin {twin.name}: cannot be built here: {twin.unavailable}")
    python = twin_python(twin, root)
    if python is None:
        raise TwinUnavailable(
            f"twin {twin.name} is not built; build it with `cursus sagemaker twins build "
            f"{twin.name}` (about 30 s and 500 MB from PyPI)"
        )
    return python


def find_interpreter(version: str) -> Path:
    """A Python `version` (major.minor) interpreter: $CURSUS_PYTHON_3_9-style override, pyenv's
    installed versions, then `python3.9` on PATH, each checked by running it."""
    candidates: list[str] = []
    override = os.environ.get(f"CURSUS_PYTHON_{version.replace('.', '_')}")
    if override:
        candidates.append(override)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += [
        str(p / "bin" / f"python{version}")
        for p in sorted((pyenv_root / "versions").glob(f"{version}.*"), reverse=True)
    ]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if _reports_version(candidate, version):
            return Path(candidate)
    raise NoInterpreter(
        f"no Python {version} interpreter on this machine; install one (`pyenv install "
        f"{version}`, or Debian's python{version}) or point CURSUS_PYTHON_"
        f"{version.replace('.', '_')} at it"
    )


def _reports_version(python: str, version: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def build_twin(twin: Twin, root: Path | None = None) -> Path:
    """Create (or reuse) the twin's venv and install its pins; returns its interpreter.

    uv installs in seconds when present; plain venv + pip otherwise. A half-built twin (no ready
    file) is removed and built again."""
    if twin.unavailable:
        raise TwinUnavailable(f"twin {twin.name}: cannot be built here: {twin.unavailable}")
    ready = twin_python(twin, root)
    if ready is not None:
        if not _has_bytecode(ready.parent.parent):  # built before twins were byte-compiled
            _compile_bytecode(ready.parent.parent)
        return ready
    interpreter = find_interpreter(twin.python)
    folder = twin_dir(twin, root)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    uv, pins = _uv(), list(twin.packages)
    if uv:
        commands = [
            [uv, "venv", "--quiet", "--seed", "--python", str(interpreter), str(folder)],
            [uv, "pip", "install", "--quiet", "--python", str(folder / "bin" / "python"), *pins],
        ]
    else:
        commands = [
            [str(interpreter), "-m", "venv", str(folder)],
            [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", *pins],
        ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise TwinUnavailable(
                f"twin {twin.name}: installing its packages failed:\n  " + "\n  ".join(tail)
            )
    record = {"twin": twin.name, "python": twin.python, "packages": list(twin.packages)}
    (folder / READY_FILE).write_text(json.dumps(record, indent=2) + "\n")
    _compile_bytecode(folder)
    return folder / "bin" / "python"
