"""Run a compiled SageMaker pipeline here, step by step, as SageMaker would: no Docker, no cloud.

The input is the definition JSON and the code objects that `build_pipeline` produced, the same
bytes `deploy` would upload. Each step's arguments are resolved the way the service resolves
them (parameters, execution variables, `Std:Join`, properties of the steps before it), and the
job runs in the twin of the image it names (see twins.py):

- a processing job gets its inputs at their `/opt/ml/processing/...` paths, runs the
  definition's ContainerEntrypoint and ContainerArguments (our runproc.sh, which unpacks the code
  bundle), and its output folders are uploaded to their S3 URIs;
- a training job gets SageMaker's config files (hyperparameters.json with the strings the
  definition holds, inputdataconfig.json, resourceconfig.json) and its channels under
  `/opt/ml/input/data`; the image's own toolkit starts the script; /opt/ml/model becomes
  `<S3OutputPath>/<job>/output/model.tar.gz` and /opt/ml/output/data `output.tar.gz`;
- a model step checks the model archive and loads it in the inference image's twin; a register
  step records the model package and serves the pipeline's sample payloads through the image's
  serving toolkit, comparing the answers with the responses the Payload step expects.

Every job runs in its own user, mount and network namespace (`unshare`): /opt/ml is the job's
sandbox folder bound over /opt/ml, and the job has no network at all, as in a VPC-only account,
so a pip install at job start fails here as it would there. S3 is a folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cursus.backends.sagemaker.build import SageMakerPipeline
from cursus.backends.sagemaker.twins import (
    TwinUnavailable,
    require_twin,
    twin_for_image,
)
from cursus.errors import CursusError

HARNESS = Path(__file__).parent / "twin_harness"
OPT_ML = "/opt/ml"
ACCOUNT = "123456789012"  # what an emulated ARN says in place of the caller's account
# bind the job's sandbox over /opt/ml (made if missing; on a machine where /opt is not writable,
# a tmpfs over /opt gives a mount point) and its hosts file over /etc/hosts (SageMaker names the
# job's instance algo-1, and the training toolkit waits until that name resolves), then become
# the job's entry point
_SANDBOX = (
    "set -e\n"
    "if [ ! -d /opt/ml ]; then mkdir -p /opt/ml 2>/dev/null || "
    "{ mount -t tmpfs tmpfs /opt && mkdir -p /opt/ml; }; fi\n"
    'mount --bind "$0" /opt/ml\n'
    'mount --bind "$0/../hosts" /etc/hosts\n'
    "cd /\n"
    'exec "$@"\n'
)


# the hosts file of a job: SageMaker names its one instance algo-1
_HOSTS = "127.0.0.1 localhost algo-1\n::1 localhost\n"


class EmulationError(CursusError):
    """The pipeline cannot be emulated here (not a job failure: those are step results)."""


# ---------------------------------------------------------------- results


@dataclass
class StepResult:
    name: str
    type: str
    status: str  # Succeeded, Failed, NotRun
    seconds: float = 0.0
    twin: str = ""
    log: str = ""
    reason: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Emulation:
    pipeline: str
    execution_id: str
    root: Path
    parameters: dict[str, Any]
    steps: list[StepResult] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(s.status == "Succeeded" for s in self.steps)

    @property
    def status(self) -> str:
        return "Succeeded" if self.succeeded else "Failed"

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "execution_id": self.execution_id,
            "status": self.status,
            "root": str(self.root),
            "parameters": self.parameters,
            "steps": [asdict(s) for s in self.steps],
        }


_PENDING = StepResult("", "", "Pending")


class JobFailed(Exception):
    """A step's job failed; the message is its FailureReason."""


# ---------------------------------------------------------------- S3 as a folder


class LocalS3:
    """s3://bucket/key is `<root>/bucket/key`. Reads follow S3Prefix semantics: every object
    whose key starts with the prefix, laid out by the rest of its key."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, uri: str) -> Path:
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise JobFailed(f"{uri!r} is not an s3:// URI")
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not bucket or ".." in key.split("/"):
            raise JobFailed(f"{uri!r} is not a valid S3 URI")
        return self.root / bucket / key

    def put(self, uri: str, body: bytes) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)

    def exists(self, uri: str) -> bool:
        return self.path(uri).is_file()

    def objects(self, uri: str) -> list[tuple[Path, str]]:
        """(file, path relative to the prefix) of every object under `uri`."""
        base = self.path(uri)
        if base.is_file():
            return [(base, base.name)]
        if not base.is_dir():
            return []
        return [(p, str(p.relative_to(base))) for p in sorted(base.rglob("*")) if p.is_file()]

    def download(self, uri: str, dest: Path) -> int:
        found = self.objects(uri)
        if not found:
            raise JobFailed(f"ClientError: No S3 objects found under S3 URL {uri!r}")
        for source, relative in found:
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return len(found)

    def upload_folder(self, folder: Path, uri: str) -> int:
        files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
        for p in files:
            self.put(f"{uri.rstrip('/')}/{p.relative_to(folder)}", p.read_bytes())
        return len(files)


# ---------------------------------------------------------------- expressions


_PROPERTY_TOKEN = re.compile(r"\.?([A-Za-z0-9_]+)|\['([^']*)'\]|\[(\d+)\]")


class Resolver:
    """Evaluates the definition's expressions the way the service does at run time."""

    def __init__(self, parameters: dict[str, Any], execution: dict[str, str]):
        self.parameters = parameters
        self.execution = execution
        self.properties: dict[str, dict[str, Any]] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return str(join["On"]).join(_text(self(v)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            raise JobFailed("Std:JsonGet (property files) is not emulated yet")
        return {k: self(v) for k, v in value.items()}

    def _get(self, reference: str) -> Any:
        scope, _, rest = reference.partition(".")
        if scope == "Parameters":
            if rest not in self.parameters:
                raise JobFailed(f"{reference}: the pipeline declares no parameter {rest!r}")
            return self.parameters[rest]
        if scope == "Execution":
            if rest not in self.execution:
                raise JobFailed(f"{reference}: unknown execution variable")
            return self.execution[rest]
        if scope == "Steps":
            step, _, path = rest.partition(".")
            if step not in self.properties:
                raise JobFailed(f"{reference}: step {step!r} has not run before this one")
            return _walk(self.properties[step], path, reference)
        raise JobFailed(f"{reference}: unknown reference")


def _walk(data: Any, path: str, reference: str) -> Any:
    for match in _PROPERTY_TOKEN.finditer(path):
        key = match[1] or match[2] or match[3]
        try:
            data = data[int(key)] if match[3] else data[key]
        except (KeyError, IndexError, TypeError):
            raise JobFailed(f"{reference}: the step has no property {key!r}") from None
    return data


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- the emulator


def _references(value: Any) -> set[str]:
    """Names of the steps whose properties `value` reads."""
    if isinstance(value, dict):
        if set(value) == {"Get"} and str(value["Get"]).startswith("Steps."):
            return {value["Get"].split(".")[1]}
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _needs(steps: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Step name -> the steps of the definition it reads properties of or depends on."""
    names = {s["Name"] for s in steps}
    return {
        s["Name"]: (_references(s.get("Arguments", {})) | set(s.get("DependsOn", []))) & names
        for s in steps
    }


def execution_order(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The definition's steps, each after every step it reads from or depends on."""
    steps = {s["Name"]: s for s in definition["Steps"]}
    needs = _needs(definition["Steps"])
    order: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(order) < len(steps):
        ready = [n for n in steps if n not in done and needs[n] <= done]
        if not ready:
            raise EmulationError("the definition's steps depend on each other in a cycle")
        for name in ready:
            order.append(steps[name])
            done.add(name)
    return order


def _job_folder(job: Path) -> Path:
    """A fresh folder for one job: home, tmp, its hosts file, and the sandbox that becomes its
    /opt/ml (returned)."""
    shutil.rmtree(job, ignore_errors=True)
    for folder in ("home", "tmp", "opt_ml"):
        (job / folder).mkdir(parents=True)
    (job / "hosts").write_text(_HOSTS)
    return job / "opt_ml"


def _container_environment(
    python: Path, job: Path, extra: dict[str, Any], region: str
) -> dict[str, str]:
    """A container's environment: the twin's interpreter first on PATH, no pip index, and the
    variables the job definition sets."""
    env = {
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(job / "home"),
        "TMPDIR": str(job / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # the job has no network; say so to pip at once instead of after its retries
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
    }
    for name in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update({k: _text(v) for k, v in extra.items()})
    return env


def _sandboxed(
    argv: list[str], sandbox: Path, env: dict[str, str], log_path: Path, timeout: float | None
) -> None:
    """Run `argv` with `sandbox` as /opt/ml and no network; a non-zero exit fails the job."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = ["unshare", "--user", "--map-root-user", "--mount", "--net", "--"]
    command += ["/bin/bash", "-c", _SANDBOX, str(sandbox), *argv]
    with log_path.open("w") as log:
        try:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        except OSError as exc:
            raise EmulationError(
                f"cannot start a sandbox ({exc}); emulation needs util-linux's unshare"
            ) from None
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise JobFailed(
                f"the job ran past its MaxRuntimeInSeconds ({timeout:.0f} s) and was stopped"
            ) from None
    if code != 0:
        raise JobFailed(_failure(sandbox, log_path, code))


def _failure(sandbox: Path, log_path: Path, code: int) -> str:
    failure = sandbox / "output" / "failure"
    if failure.is_file() and failure.read_text().strip():
        return failure.read_text().strip()[-2000:]
    text = log_path.read_text(errors="replace")
    if "unshare:" in text and "Operation not permitted" in text:
        raise EmulationError(
            "this machine does not allow user namespaces (unshare --user failed), which the "
            "emulator needs to give each job its own /opt/ml and no network"
        )
    tail = "\n".join(text.strip().splitlines()[-12:])
    return f"AlgorithmError: the job exited with code {code}; its log ends:\n{tail}"


class _Emulator:
    def __init__(
        self,
        compiled: SageMakerPipeline,
        workdir: Path,
        parameters: dict[str, Any],
        twins_root: Path | None,
        on_step: Callable[[StepResult], None] | None,
    ):
        self.compiled = compiled
        self.definition = compiled.definition_dict()
        execution_id = secrets.token_hex(6)  # the form of SageMaker's: 12 lowercase characters
        self.execution_id = execution_id
        self.root = workdir / execution_id  # this execution's jobs, logs and records
        self.s3 = LocalS3(workdir / "s3")  # shared by executions, as a bucket is
        self.twins_root = twins_root
        self.on_step = on_step
        self.region = compiled.target.region
        defaults = self._parameter_defaults()
        unknown = sorted(set(parameters) - set(defaults))
        if unknown:
            raise EmulationError(
                f"parameters {unknown} are not parameters of this pipeline; its parameters are "
                + ", ".join(sorted(defaults))
            )
        self.resolve = Resolver({**defaults, **parameters}, self._execution(execution_id))
        self.packages: dict[str, int] = {}

    def _parameter_defaults(self) -> dict[str, Any]:
        return {p["Name"]: p.get("DefaultValue") for p in self.definition.get("Parameters", [])}

    def _execution(self, execution_id: str) -> dict[str, str]:
        name = self.compiled.name
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:pipeline/{name.lower()}"
        return {
            "PipelineExecutionId": execution_id,
            "PipelineExecutionArn": f"{arn}/execution/{execution_id}",
            "PipelineName": name,
            "PipelineArn": arn,
            "StartDateTime": now,
            "CurrentDateTime": now,
        }

    def run(self, workers: int) -> Emulation:
        for obj in self.compiled.code_objects():  # what `deploy` uploads
            self.s3.put(obj.uri, obj.body)
        result = Emulation(
            pipeline=self.compiled.name,
            execution_id=self.execution_id,
            root=self.root,
            parameters=self.resolve.parameters,
        )
        order = execution_order(self.definition)
        outcomes = self._schedule(order, max(1, workers))
        result.steps = [outcomes[s["Name"]] for s in order]
        (self.root / "emulation.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        return result

    def _schedule(self, order: list[dict[str, Any]], workers: int) -> dict[str, StepResult]:
        """Start each step once the steps it needs have succeeded, up to `workers` at a time, as
        an execution does; after a failure no new step starts and the rest are NotRun."""
        needs = _needs(order)
        outcomes: dict[str, StepResult] = {}
        running: dict[Future[StepResult], str] = {}
        failed = False
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while True:
                if not failed:
                    for step in order:
                        name = step["Name"]
                        started = name in outcomes or name in running.values()
                        ready = all(
                            outcomes.get(n, _PENDING).status == "Succeeded" for n in needs[name]
                        )
                        if not started and ready and len(running) < workers:
                            running[pool.submit(self._step, step)] = name
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcome = future.result()
                    outcomes[running.pop(future)] = outcome
                    failed = failed or outcome.status != "Succeeded"
                    if self.on_step:
                        self.on_step(outcome)
        for step in order:
            outcomes.setdefault(step["Name"], StepResult(step["Name"], step["Type"], "NotRun"))
        return outcomes

    def _step(self, step: dict[str, Any]) -> StepResult:
        name, kind = step["Name"], step["Type"]
        outcome = StepResult(name, kind, "Failed", log=str(self.root / "logs" / f"{name}.log"))
        run = {
            "Processing": self._processing,
            "Training": self._training,
            "Model": self._model,
            "RegisterModel": self._register,
        }.get(kind)
        started = time.monotonic()
        try:
            if run is None:
                raise JobFailed(f"steps of type {kind} are not emulated yet")
            arguments = self.resolve(step.get("Arguments", {}))
            properties = run(name, arguments, outcome)
        except (JobFailed, TwinUnavailable) as exc:
            outcome.reason = str(exc)
        else:
            self.resolve.properties[name] = properties
            outcome.properties = properties
            outcome.status = "Succeeded"
        outcome.seconds = round(time.monotonic() - started, 3)
        return outcome

    # ------------------------------------------------------------ sandbox

    def _twin(self, image: str, outcome: StepResult) -> Path:
        """The interpreter of `image`'s twin, named in the step's result."""
        twin = twin_for_image(image)
        outcome.twin = twin.name
        return require_twin(twin, self.twins_root)

    def _job_dirs(self, name: str) -> tuple[Path, Path]:
        job = self.root / "jobs" / name
        return job, _job_folder(job)

    def _environment(self, python: Path, job: Path, extra: dict[str, Any]) -> dict[str, str]:
        return _container_environment(python, job, extra, self.region)

    def _run(
        self,
        name: str,
        argv: list[str],
        sandbox: Path,
        env: dict[str, str],
        timeout: float | None,
    ) -> None:
        _sandboxed(argv, sandbox, env, self.root / "logs" / f"{name}.log", timeout)

    @staticmethod
    def _inside(sandbox: Path, container_path: str) -> Path:
        path = container_path.rstrip("/")
        if not (path == OPT_ML or path.startswith(OPT_ML + "/")) or ".." in path.split("/"):
            raise JobFailed(f"{container_path!r} is not a path under {OPT_ML}")
        return sandbox / path[len(OPT_ML) :].lstrip("/")

    @staticmethod
    def _timeout(arguments: dict[str, Any]) -> float | None:
        seconds = arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        return float(seconds) if seconds else None

    # ------------------------------------------------------------ processing

    def _processing(
        self, name: str, arguments: dict[str, Any], outcome: StepResult
    ) -> dict[str, Any]:
        app = arguments["AppSpecification"]
        python = self._twin(app["ImageUri"], outcome)
        job, sandbox = self._job_dirs(name)
        for item in arguments.get("ProcessingInputs", []):
            source = item["S3Input"]
            self.s3.download(source["S3Uri"], self._inside(sandbox, source["LocalPath"]))
        outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for item in outputs:
            self._inside(sandbox, item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
        config = sandbox / "config"
        config.mkdir(exist_ok=True)
        (config / "processingjobconfig.json").write_text(json.dumps(arguments, indent=2))
        (config / "resourceconfig.json").write_text(json.dumps(self._resources(arguments)))
        argv = list(app.get("ContainerEntrypoint", [])) + list(app.get("ContainerArguments", []))
        if not argv:
            raise JobFailed(
                "AppSpecification has no ContainerEntrypoint: the image would run its own"
            )
        env = self._environment(python, job, arguments.get("Environment", {}))
        self._run(name, argv, sandbox, env, self._timeout(arguments))
        written = {}
        for item in outputs:
            target = item["S3Output"]
            folder = self._inside(sandbox, target["LocalPath"])
            self.s3.upload_folder(folder, target["S3Uri"])
            written[item["OutputName"]] = {
                "OutputName": item["OutputName"],
                "S3Output": {"S3Uri": target["S3Uri"], "LocalPath": target["LocalPath"]},
            }
        job_name = f"pipelines-{self.execution_id}-{name}"[:63]
        return {
            "ProcessingJobName": job_name,
            "ProcessingJobArn": f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:processing-job/"
            + job_name.lower(),
            "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": {"Outputs": written},
            "Environment": arguments.get("Environment", {}),
        }

    @staticmethod
    def _resources(arguments: dict[str, Any]) -> dict[str, Any]:
        cluster = arguments.get("ProcessingResources", {}).get("ClusterConfig", {})
        resources = arguments.get("ResourceConfig", cluster)
        instance = resources.get("InstanceType", "ml.m5.xlarge")
        return {
            "current_host": "algo-1",
            "current_instance_type": instance,
            "current_group_name": "homogeneousCluster",
            "hosts": ["algo-1"],
            "instance_groups": [
                {
                    "instance_group_name": "homogeneousCluster",
                    "instance_type": instance,
                    "hosts": ["algo-1"],
                }
            ],
            "network_interface_name": "eth0",
        }

    # ------------------------------------------------------------ training

    def _training(
        self, name: str, arguments: dict[str, Any], outcome: StepResult
    ) -> dict[str, Any]:
        algorithm = arguments["AlgorithmSpecification"]
        python = self._twin(algorithm["TrainingImage"], outcome)
        hyperparameters = arguments.get("HyperParameters", {})
        try:
            source = json.loads(hyperparameters["sagemaker_submit_directory"])
        except (KeyError, ValueError):
            raise JobFailed(
                "the job names no sagemaker_submit_directory: only script-mode training "
                "(a framework estimator with an entry point) is emulated"
            ) from None
        job, sandbox = self._job_dirs(name)
        config = sandbox / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        channels = {}
        for channel in arguments.get("InputDataConfig", []):
            data = channel["DataSource"]["S3DataSource"]
            folder = sandbox / "input" / "data" / channel["ChannelName"]
            self.s3.download(data["S3Uri"], folder)
            channels[channel["ChannelName"]] = {
                "TrainingInputMode": algorithm.get("TrainingInputMode", "File"),
                "S3DistributionType": data.get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            }
        (config / "inputdataconfig.json").write_text(json.dumps(channels))
        (config / "resourceconfig.json").write_text(json.dumps(self._resources(arguments)))
        for folder in ("model", "output/data", "code"):
            (sandbox / folder).mkdir(parents=True, exist_ok=True)
        archive = job / "sourcedir.tar.gz"
        if not self.s3.exists(source):
            raise JobFailed(f"ClientError: the source directory {source} does not exist")
        shutil.copyfile(self.s3.path(source), archive)
        job_name = f"pipelines-{self.execution_id}-{name}"[:63]
        env = self._environment(
            python,
            job,
            {
                **_TRAINING_IMAGE_ENV,
                "TRAINING_JOB_NAME": job_name,
                "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:training-job/"
                + job_name.lower(),
                **arguments.get("Environment", {}),
            },
        )
        argv = [str(python), str(HARNESS / "train.py"), str(archive)]
        self._run(name, argv, sandbox, env, self._timeout(arguments))
        prefix = f"{arguments['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output"
        self.s3.put(f"{prefix}/model.tar.gz", _tar_gz(sandbox / "model"))
        self.s3.put(f"{prefix}/output.tar.gz", _tar_gz(sandbox / "output" / "data"))
        return {
            "TrainingJobName": job_name,
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": f"{prefix}/model.tar.gz"},
            "OutputDataConfig": arguments["OutputDataConfig"],
            "HyperParameters": hyperparameters,
        }

    # ------------------------------------------------------------ models

    def _model(self, name: str, arguments: dict[str, Any], outcome: StepResult) -> dict[str, Any]:
        container = arguments["PrimaryContainer"]
        self._serve(name, container, [], outcome)
        model_name = f"pipelines-{self.execution_id}-{name}"[:63]
        return {
            "ModelName": model_name,
            "ModelArn": f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:model/{model_name.lower()}",
        }

    def _register(
        self, name: str, arguments: dict[str, Any], outcome: StepResult
    ) -> dict[str, Any]:
        containers = arguments["InferenceSpecification"]["Containers"]
        requests = self._sample_requests(arguments.get("SamplePayloadUrl"))
        served = self._serve(name, containers[0], requests, outcome)
        _compare(requests, served)
        group = arguments["ModelPackageGroupName"]
        version = self.packages[group] = self.packages.get(group, 0) + 1
        arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:model-package/{group.lower()}/{version}"
        record = {
            "ModelPackageArn": arn,
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelApprovalStatus": arguments.get("ModelApprovalStatus"),
            "ModelDataUrl": containers[0]["ModelDataUrl"],
            "Image": containers[0]["Image"],
            "SampleRequestsServed": len(requests),
        }
        folder = self.root / "model-packages" / group
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{version}.json").write_text(json.dumps({**arguments, **record}, indent=2))
        return record

    def _sample_requests(self, url: str | None) -> list[dict[str, Any]]:
        """The Payload step's requests with the responses it recorded, from payload.tar.gz."""
        if not url:
            return []
        if not self.s3.exists(url):
            raise JobFailed(f"SamplePayloadUrl {url} does not exist")
        with tarfile.open(self.s3.path(url), "r:gz") as tar:
            files = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
            payloads = {n: f.read().decode() for n, f in files.items() if f is not None}
        expected = json.loads(payloads.get("expected_responses.json", '{"responses": []}'))
        recorded_from = expected.get("model", "packaged")
        return [
            {
                **r,
                "body": payloads[r["request_file"]],
                "expected": r["body"],
                "recorded_from": recorded_from,
            }
            for r in expected["responses"]
            if r["request_file"] in payloads
        ]

    def _serve(
        self,
        name: str,
        container: dict[str, Any],
        requests: list[dict[str, Any]],
        outcome: StepResult,
    ) -> list[dict[str, Any]]:
        """Load the model in the twin of its inference image and answer `requests` through the
        image's serving toolkit."""
        twin = twin_for_image(container["Image"])
        outcome.twin = twin.name
        model_url = container["ModelDataUrl"]
        if not self.s3.exists(model_url):
            raise JobFailed(f"ModelDataUrl {model_url} does not exist")
        job, _ = self._job_dirs(name)
        return _serve_job(
            self.s3.path(model_url),
            container,
            requests,
            job,
            self.twins_root,
            self._environment,
            self.root / "logs" / f"{name}.log",
        )


def _serve_job(
    archive: Path,
    container: dict[str, Any],
    requests: list[dict[str, Any]],
    job: Path,
    twins_root: Path | None,
    environment: Callable[[Path, Path, dict[str, Any]], dict[str, str]],
    log: Path,
) -> list[dict[str, Any]]:
    python = require_twin(twin_for_image(container["Image"]), twins_root)
    local = job / "model.tar.gz"
    shutil.copyfile(archive, local)
    (job / "requests.json").write_text(json.dumps(requests))
    env = environment(python, job, container.get("Environment", {}))
    argv = [str(python), str(HARNESS / "serve.py"), str(local)]
    argv += [str(job / "requests.json"), str(job / "responses.json")]
    _sandboxed(argv, job / "opt_ml", env, log, timeout=600)
    answers = json.loads((job / "responses.json").read_text())
    if answers["ping"] != 200:
        raise JobFailed(f"the model container answers /ping with {answers['ping']}")
    return list(answers["responses"])


def serve_in_twin(
    archive: str | Path,
    image: str,
    requests: list[dict[str, Any]],
    workdir: str | Path,
    environment: dict[str, str] | None = None,
    twins_root: Path | None = None,
) -> list[dict[str, Any]]:
    """Answer `requests` ({body, content_type, accept}) with the model.tar.gz `archive` as an
    endpoint of `image` would: unpacked into /opt/ml/model in the image's twin, served through the
    image's toolkit. Returns each answer's status, content type and body."""
    from cursus.backends.sagemaker.build import SERVING_ENV

    job = Path(workdir)
    _job_folder(job)
    container = {"Image": image, "Environment": {**SERVING_ENV, **(environment or {})}}
    return _serve_job(
        Path(archive),
        container,
        requests,
        job,
        twins_root,
        lambda python, job_dir, extra: _container_environment(python, job_dir, extra, "us-east-1"),
        job / "serve.log",
    )


def _compare(requests: list[dict[str, Any]], served: list[dict[str, Any]]) -> None:
    """Each sample request must be answered 200, in the type asked for, with the body Payload
    recorded from the same code."""
    for request, answer in zip(requests, served, strict=True):
        what = f"{request['request_file']} ({request['content_type']} -> {request['accept']})"
        if answer["status"] != 200:
            raise JobFailed(
                f"the endpoint answers {what} with {answer['status']}: {answer['body']}"
            )
        if not answer["content_type"].startswith(request["accept"]):
            raise JobFailed(
                f"the endpoint answers {what} as {answer['content_type'] or 'no content type'}"
            )
        if request.get("recorded_from") == "trained":
            _compare_model_scores(what, answer["body"], str(request["expected"]), request["accept"])
        elif answer["body"].strip() != str(request["expected"]).strip():
            raise JobFailed(
                f"the endpoint's answer to {what} differs from what Payload recorded:\n"
                f"  served:   {answer['body'][:300]}\n  expected: {str(request['expected'])[:300]}"
            )


# what a model answers before it is packaged; a package may add calibrated values to them
_MODEL_SCORES = re.compile(r"^(prob(_\d+)?|prediction)$")


def _compare_model_scores(what: str, served: str, expected: str, accept: str) -> None:
    """Payload recorded the trained model's answers (the first system feeds it the training
    step): the package must give the same scores, and may add calibrated ones (and the label
    they decide). JSON bodies are compared on the model's own score fields; a CSV body must have
    the same rows."""
    if not accept.startswith("application/json"):
        if len(served.strip().splitlines()) != len(expected.strip().splitlines()):
            raise JobFailed(f"the endpoint's answer to {what} has another number of rows")
        return
    rows = json.loads(served)["predictions"]
    wanted = json.loads(expected)["predictions"]
    scores = [{k: v for k, v in r.items() if _MODEL_SCORES.match(k)} for r in rows]
    recorded = [{k: v for k, v in r.items() if _MODEL_SCORES.match(k)} for r in wanted]
    if scores != recorded:
        raise JobFailed(
            f"the endpoint's scores for {what} differ from the trained model's, which Payload "
            f"recorded:\n  served:   {json.dumps(scores)[:300]}\n  expected: {json.dumps(recorded)[:300]}"
        )


# what the framework images set in their Dockerfiles for the training toolkit
_TRAINING_IMAGE_ENV = {
    "SM_INPUT": "/opt/ml/input",
    "SM_INPUT_TRAINING_CONFIG_FILE": "/opt/ml/input/config/hyperparameters.json",
    "SM_INPUT_DATA_CONFIG_FILE": "/opt/ml/input/config/inputdataconfig.json",
    "SM_CHECKPOINT_CONFIG_FILE": "/opt/ml/input/config/checkpointconfig.json",
    "SM_MODEL_DIR": "/opt/ml/model",
}


def _tar_gz(folder: Path) -> bytes:
    """A folder's files as SageMaker packs /opt/ml/model: relative names, no top folder."""
    import io

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(folder)))
    return raw.getvalue()


def emulate(
    compiled: SageMakerPipeline,
    workdir: str | Path,
    parameters: dict[str, Any] | None = None,
    twins_root: Path | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    workers: int = 2,
) -> Emulation:
    """Run `compiled` step by step in image twins under `workdir`; see the module docstring.

    A step that fails stops the pipeline (later steps are NotRun), as an execution does; the
    result holds each step's status, time, twin, log and failure reason. Independent steps run
    `workers` at a time."""
    emulator = _Emulator(compiled, Path(workdir), dict(parameters or {}), twins_root, on_step)
    emulator.root.mkdir(parents=True, exist_ok=True)
    return emulator.run(workers)
