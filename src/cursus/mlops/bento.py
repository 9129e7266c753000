"""`cursus models export-bento`: a packaged model as a BentoML bento.

The unpacked model.tar.gz goes into BentoML's model store as one model (its files as they are,
the package's own code/inference.py included); the bento holds service.py (the file
`cursus.mlops.bento_service`), cursus_invoke.py (a copy of `cursus.mlops.invoke`, so the bento
runs where Cursus is not installed) and cursus_bento.json naming the model. `bentoml serve TAG`
then answers `POST /invocations` and `GET /ping` as `cursus serve` does, through the same
handler code, and `bentoml containerize TAG` makes an image of it.

The tag is derived from the archive's digest and the service's code: exporting the same package
again finds the same bento and builds nothing. BentoML keeps models and bentos in BENTOML_HOME
(~/bentoml by default).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cursus.mlops.project import MLOpsError, Project

# the packages the package's inference code imports, by the model's framework
FRAMEWORK_PACKAGES = {
    "xgboost": ["xgboost"],
    "lightgbm": ["lightgbm"],
    "sklearn": ["scikit-learn"],
    "pytorch": ["torch"],
}
BASE_PACKAGES = ["numpy", "pandas", "scikit-learn", "starlette"]
_TAG_CHARS = re.compile(r"[^a-z0-9_.-]+")


def bento_name(model_ref: str, project: Project) -> str:
    """A BentoML name for the model: lower case letters, digits, '-', '_' and '.'."""
    from cursus.mlops.registry import parse_model_ref

    if Path(model_ref).expanduser().exists():
        base = "model"
    else:
        base = parse_model_ref(model_ref)[0]
        if project.registry_prefix and base.startswith(project.registry_prefix):
            base = base[len(project.registry_prefix) :]
    name = _TAG_CHARS.sub("-", base.lower()).strip("-._")
    return (name or "model")[:63]


def _pins(framework: str) -> list[str]:
    """The packages the bento needs, at the versions installed here."""
    wanted = [*BASE_PACKAGES, *FRAMEWORK_PACKAGES.get(framework, [])]
    pins = []
    for package in dict.fromkeys(wanted):
        try:
            pins.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            # xgboost-cpu installs the `xgboost` module under another distribution name
            alias = {"xgboost": "xgboost-cpu"}.get(package)
            try:
                version = importlib.metadata.version(alias) if alias else None
            except importlib.metadata.PackageNotFoundError:
                version = None
            pins.append(f"{package}=={version}" if version else package)
    return pins


def _service_files() -> dict[str, bytes]:
    here = Path(__file__).parent
    return {
        "service.py": (here / "bento_service.py").read_bytes(),
        "cursus_invoke.py": (here / "invoke.py").read_bytes(),
    }


def export_bento(
    project: Project, model_ref: str, name: str | None = None, on_step: Any = None
) -> dict[str, Any]:
    """Store the packaged model in BentoML's model store and build its bento; returns the tags."""
    from cursus.mlops.serving import require_extra, resolve_model, sha256_file, unpack

    require_extra("bentoml", "BentoML")
    import bentoml
    from bentoml.exceptions import NotFound

    say = on_step or (lambda message: None)
    archive = resolve_model(project, model_ref)
    digest = sha256_file(archive)
    name = name or bento_name(model_ref, project)
    if _TAG_CHARS.search(name) or not name[:1].isalnum():
        raise MLOpsError(
            f"bento name {name!r} is not a BentoML name; use lower case letters, digits, "
            "'-', '_' and '.', starting with a letter or digit"
        )
    files = _service_files()
    code_digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()
    model_tag = f"{name}:{digest[:16]}"
    bento_tag = f"{name}:{hashlib.sha256((digest + code_digest).encode()).hexdigest()[:16]}"
    result = {
        "model_ref": model_ref,
        "archive": str(archive),
        "sha256": digest,
        "model_tag": model_tag,
        "bento_tag": bento_tag,
        "serve": f"bentoml serve {bento_tag} --host 127.0.0.1 --port 3000",
    }
    try:
        bento = bentoml.bentos.get(bento_tag)
        return {**result, "path": bento.path, "built": False}
    except NotFound:
        pass

    with tempfile.TemporaryDirectory(prefix="cursus-bento-") as tmp:
        model_dir = unpack(archive, Path(tmp) / "model")
        meta_path = model_dir / "model_meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        framework = str(meta.get("framework", ""))
        try:
            bentoml.models.get(model_tag)
        except NotFound:
            say(f"storing the model as {model_tag}")
            with bentoml.models.create(
                model_tag,
                labels={"cursus_framework": framework or "unknown"},
                metadata={"cursus_ref": model_ref, "sha256": digest, **_meta_summary(meta)},
            ) as stored:
                shutil.copytree(model_dir, stored.path, dirs_exist_ok=True)

        build = Path(tmp) / "build"
        build.mkdir()
        for file_name, body in files.items():
            (build / file_name).write_bytes(body)
        (build / "cursus_bento.json").write_text(
            json.dumps(
                {
                    "service": name,
                    "model": model_tag,
                    "ref": model_ref,
                    "sha256": digest,
                    "description": f"Cursus packaged model {model_ref} (sha256 {digest[:12]})",
                },
                indent=2,
            )
            + "\n"
        )
        say(f"building bento {bento_tag}")
        bento = bentoml.bentos.build(
            "service:CursusModel",
            version=bento_tag.split(":", 1)[1],
            include=["service.py", "cursus_invoke.py", "cursus_bento.json"],
            python={"packages": _pins(framework)},
            labels={"cursus_sha256": digest[:16]},
            build_ctx=str(build),
        )
    return {**result, "bento_tag": str(bento.tag), "path": bento.path, "built": True}


def _meta_summary(meta: dict[str, Any]) -> dict[str, Any]:
    keep = ("framework", "problem_type", "model_file")
    summary: dict[str, Any] = {k: meta[k] for k in keep if k in meta}
    if meta.get("features"):
        summary["n_features"] = len(meta["features"])
    return summary
