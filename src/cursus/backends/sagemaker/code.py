"""The code a pipeline's jobs run, packed as content-addressed S3 objects.

Each processing or training step ships a `sourcedir.tar.gz` holding its script and the shared
`_*.py` modules beside it (scripts import `_tabular`); a processing step also ships its
`runproc.sh`, the launcher a FrameworkProcessor runs. Keys are
`<pipeline name>/code/<digest>/<file>`, where the digest covers file names and contents only: the
same code gives the same key on every machine and every compile, so a definition is byte-identical
until a script changes, and deploying twice uploads nothing new.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shlex
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SOURCE_ARCHIVE = "sourcedir.tar.gz"
LAUNCHER = "runproc.sh"
CODE_DIR = "/opt/ml/processing/input/code/"  # where a FrameworkProcessor mounts sourcedir.tar.gz
_ARCHIVE_MTIME = 946684800  # 2000-01-01, fixed so the same files give the same bytes


@dataclass(frozen=True)
class CodeObject:
    """One object to upload before the pipeline runs."""

    uri: str
    body: bytes

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[1]


@cache
def _read(path: Path, mtime_ns: int) -> bytes:
    return path.read_bytes()


def _file(path: Path) -> bytes:
    return _read(path, path.stat().st_mtime_ns)


REQUIREMENTS = "requirements.txt"


WHEELS = "wheels"


def bundle_files(
    folder: str | Path,
    files: Sequence[str],
    requirements: Sequence[str] = (),
    wheels: Sequence[Path] = (),
) -> dict[str, bytes]:
    """Archive name -> content: the files the Plan says the step's job runs with (its script,
    the shared modules beside it, the extra files its contract bundles, e.g. Package's
    inference.py), all from the step unit's folder, and the requirements.txt of what the
    container must install for it (training containers install it from the source dir
    themselves; the processing launcher does it), and under wheels/ the wheels of packages the
    image lacks (the framework table's `wheels`), which the step library imports offline."""
    folder = Path(folder)
    bundle = {name: _file(folder / name) for name in files}
    for wheel in wheels:
        bundle[f"{WHEELS}/{wheel.name}"] = _file(wheel)
    if requirements:
        bundle[REQUIREMENTS] = "".join(f"{r}\n" for r in requirements).encode()
    return bundle


def content_digest(files: dict[str, bytes]) -> str:
    lines = "".join(
        f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n" for name in sorted(files)
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz whose bytes depend only on the names and contents of `files`."""
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = _ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


def code_prefix(bucket: str, pipeline_name: str) -> str:
    return f"s3://{bucket}/{pipeline_name}/code/"


def source_bundle(
    bucket: str,
    pipeline_name: str,
    folder: str | Path,
    files: Sequence[str],
    requirements: Sequence[str] = (),
    wheels: Sequence[Path] = (),
) -> CodeObject:
    """The `sourcedir.tar.gz` of one step, at its content-addressed S3 URI."""
    bundled = bundle_files(folder, files, requirements, wheels)
    uri = f"{code_prefix(bucket, pipeline_name)}{content_digest(bundled)}/{SOURCE_ARCHIVE}"
    return CodeObject(uri, tar_gz(bundled))


def launcher(
    bucket: str,
    pipeline_name: str,
    entry_point: str,
    unpack: list[str],
    exports: dict[str, str] | None = None,
) -> CodeObject:
    """The `runproc.sh` of a processing step: unpack the code, unpack the archives of training
    jobs the step reads (SageMaker stores a model as one model.tar.gz; step scripts read a folder),
    set the environment values too long for the job's Environment (`exports`), then run the
    script with the job's arguments."""
    lines = [
        "#!/bin/bash",
        "# Cursus processing step launcher",
        "set -e",
        f"cd {CODE_DIR}",
        f"tar -xzf {SOURCE_ARCHIVE}",
        f"if [ -f {REQUIREMENTS} ]; then python -m pip install --quiet -r {REQUIREMENTS}; fi",
    ]
    lines += [
        f"export {name}={shlex.quote(value)}" for name, value in sorted((exports or {}).items())
    ]
    for folder in unpack:
        lines += [
            f'for archive in "{folder}"/*.tar.gz; do',
            f'  if [ -f "$archive" ]; then tar -xzf "$archive" -C "{folder}" && rm "$archive"; fi',
            "done",
        ]
    lines.append(f'exec python {entry_point} "$@"')
    body = ("\n".join(lines) + "\n").encode()
    digest = hashlib.sha256(body).hexdigest()
    return CodeObject(f"{code_prefix(bucket, pipeline_name)}{digest}/{LAUNCHER}", body)
