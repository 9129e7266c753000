"""The framework table: one entry per training or model framework, read by every part that
needs to know one (compiler, SageMaker backend, image twins, catalog, registration).

An entry says which SageMaker images run the framework (their versions, each image's Python and
the packages pinned in it, which the image twins install), which SageMaker SDK classes run a
job on it (a processor, an estimator), and how a model of it is loaded to package, serve and
register it (the `model_loader` module of the step library). Adding a framework is adding one
entry here and its step units; a name not in the table is an error, never a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

from cursus.errors import CursusError

# a spec's framework "model": the step runs the model it reads (Payload runs the packaged
# model's inference code), so it takes the framework of the training step upstream of it
MODEL_FRAMEWORK = "model"


class FrameworkError(CursusError):
    """A framework or framework version the table does not have."""


@dataclass(frozen=True)
class Image:
    """One version of a framework's SageMaker images (training and inference share it)."""

    version: str  # framework_version, as the SageMaker SDK names it (1.7-1, 2.1)
    py_version: str  # py_version, as the SDK names it (py3, py310)
    python: str  # the image's Python, major.minor
    oldest_python: str  # the oldest Python the image's release branch has shipped
    # pins of what a step script or the serving toolkit imports in the image (the twin's venv)
    packages: tuple[str, ...] = ()
    source: str = ""  # where the pins were read
    unavailable: str = ""  # why its twin cannot be built on this machine, if it cannot


@dataclass(frozen=True)
class Framework:
    name: str
    image: str  # the framework name `sagemaker.image_uris.retrieve` takes
    repositories: tuple[str, ...]  # ECR repositories of its images
    images: tuple[Image, ...]  # the first is the default version
    processor: str  # module:Class of the SDK processor its processing jobs run with
    estimator: (
        str  # module:Class of the SDK estimator (training; FrameworkProcessor's estimator_cls)
    )
    # module of the step library (a `_*.py` beside the scripts) whose load(model_dir, meta,
    # preprocessing) returns the model; empty: models of this framework are not loaded
    model_loader: str = ""
    registry_name: str = ""  # the framework name of a SageMaker model package (upper case)
    # the framework whose images run this one (LightGBM runs on the XGBoost image): its twin is
    # that framework's, and its images are not listed twice
    runs_on: str = ""
    # packages its images lack, shipped as wheels in the code bundle of each of its jobs (the
    # jobs may have no network) and in the model itself (for the endpoint); pip requirement
    # strings pinned with ==, fetched for the image's Python by `cursus sagemaker wheels`
    wheels: tuple[str, ...] = ()

    @property
    def default(self) -> Image:
        return self.images[0]

    def image_version(self, version: str | None) -> Image:
        """The image of `version` (the default when None)."""
        if version is None:
            return self.default
        for image in self.images:
            if image.version == version:
                return image
        known = ", ".join(i.version for i in self.images)
        raise FrameworkError(
            f"framework {self.name} has no image version {version!r}; known: {known} "
            "(add the version to its entry in cursus.frameworks)"
        )


_XGBOOST_IMAGES = (
    Image(
        version="1.7-1",
        py_version="py3",
        python="3.9",
        oldest_python="3.8",
        packages=(
            "xgboost==1.7.4",
            "pandas==1.2.4",
            "scikit-learn==0.24.1",
            "scipy==1.8.0",
            "numpy==1.24.1",
            "matplotlib==3.4.1",
            "Pillow==9.1.1",
            "pyarrow==14.0.1",
            "boto3==1.17.52",
            "botocore==1.20.52",
            "python-dateutil==2.8.1",
            "PyYAML==5.4.1",
            "protobuf==3.20.1",
            "psutil==5.6.7",
            "retrying==1.3.3",
            "requests==2.29.0",
            "urllib3==1.26.5",
            "sagemaker-containers==2.8.6.post2",
            "sagemaker-inference==1.5.5",
            "Flask==1.1.1",
            "Werkzeug==0.15.6",
            "jinja2==2.11.3",
            "MarkupSafe==1.1.1",
            "itsdangerous==2.0.1",
            "gevent==23.9.1",
            "setuptools<70",
        ),
        source="aws/sagemaker-xgboost-container, branch 1.7-1",
    ),
)

FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework(
            name="sklearn",
            image="sklearn",
            repositories=("sagemaker-scikit-learn",),
            processor="sagemaker.processing:FrameworkProcessor",
            estimator="sagemaker.sklearn.estimator:SKLearn",
            registry_name="SKLEARN",
            images=(
                Image(
                    version="1.2-1",
                    py_version="py3",
                    python="3.9",
                    oldest_python="3.8",
                    packages=(
                        "pandas==1.1.3",
                        "scikit-learn==1.2.1",
                        "scipy==1.8.0",
                        "numpy==1.24.1",
                        "pyarrow==14.0.1",
                        "boto3==1.28.57",
                        "botocore>=1.31.57,<1.32.0",
                        "python-dateutil==2.8.1",
                        "six==1.15.0",
                        "psutil==5.7.2",
                        "protobuf==3.20.2",
                        "sagemaker-training==4.8.0",
                        "sagemaker-inference==1.2.0",
                        "setuptools<70",
                    ),
                    source="aws/sagemaker-scikit-learn-container, branch 1.2-1",
                ),
            ),
        ),
        Framework(
            name="xgboost",
            image="xgboost",
            repositories=("sagemaker-xgboost",),
            processor="sagemaker.xgboost.processing:XGBoostProcessor",
            estimator="sagemaker.xgboost:XGBoost",
            model_loader="_model_xgboost",
            registry_name="XGBOOST",
            images=_XGBOOST_IMAGES,
        ),
        # LightGBM runs on the XGBoost image: Python 3.9 with numpy, scipy, pandas, scikit-learn
        # and matplotlib (plots), and the serving toolkit the XGBoost models use; only the
        # lightgbm wheel is missing, so it travels with the code (docs/frameworks.md)
        Framework(
            name="lightgbm",
            image="xgboost",
            repositories=(),
            images=_XGBOOST_IMAGES,
            processor="sagemaker.xgboost.processing:XGBoostProcessor",
            estimator="sagemaker.xgboost:XGBoost",
            model_loader="_model_lightgbm",
            registry_name="XGBOOST",
            runs_on="xgboost",
            wheels=("lightgbm==4.6.0",),
        ),
        Framework(
            name="pytorch",
            image="pytorch",
            repositories=("pytorch-training", "pytorch-inference"),
            processor="sagemaker.pytorch.processing:PyTorchProcessor",
            estimator="sagemaker.pytorch:PyTorch",
            model_loader="_model_pytorch",
            registry_name="PYTORCH",
            images=(
                Image(
                    version="2.1",
                    py_version="py310",
                    python="3.10",
                    oldest_python="3.10",
                    packages=(
                        "torch==2.1.0",
                        "numpy==1.26.4",
                        "pandas==2.1.4",
                        "sagemaker-training",
                    ),
                    source="aws/deep-learning-containers, PyTorch 2.1 CPU training and inference",
                    unavailable=(
                        "torch 2.1 on PyPI is only the CUDA build (about 2.5 GB of nvidia wheels); "
                        "its CPU build lives on PyTorch's own index, which this machine cannot reach"
                    ),
                ),
            ),
        ),
    )
}


def get_framework(name: str, where: str = "") -> Framework:
    """The table's entry for `name`; an unknown name is an error naming `where` it was asked."""
    framework = FRAMEWORKS.get(name)
    if framework is None:
        at = f"{where}: " if where else ""
        raise FrameworkError(
            f"{at}unknown framework {name!r}; known: {', '.join(sorted(FRAMEWORKS))} (or "
            f"{MODEL_FRAMEWORK!r} for a step that runs the model it reads); a new framework is "
            "one entry in cursus.frameworks.FRAMEWORKS"
        )
    return framework


def model_frameworks() -> list[str]:
    """Frameworks whose models Cursus can load (and so package, serve and register)."""
    return sorted(name for name, f in FRAMEWORKS.items() if f.model_loader)
