"""Plan -> `sagemaker.workflow.pipeline.Pipeline`.

Each node becomes SageMaker steps by its job kind: `processing` -> a ProcessingStep (a
FrameworkProcessor of the step's framework running its script from the step's sourcedir.tar.gz),
`training` -> a TrainingStep (the XGBoost or PyTorch framework estimator with our training script
as entry point), `register` -> two ModelSteps, one creating the SageMaker Model and one
registering it in the Model Registry. Inputs are wired through step properties only; outputs land
under the `ExecutionTempDir` pipeline parameter, per execution. Edges of the DAG that carry no data
become DependsOn.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from cursus.backends.sagemaker import preflight
from cursus.backends.sagemaker.code import CODE_DIR, CodeObject, launcher, source_bundle
from cursus.backends.sagemaker.errors import SageMakerConfigError
from cursus.backends.sagemaker.preflight import Target
from cursus.backends.sagemaker.sdk import load_sdk, offline_session, quiet_sdk
from cursus.backends.sagemaker.wheels import WheelUnavailable, framework_wheels
from cursus.errors import CursusError
from cursus.frameworks import FRAMEWORKS, FrameworkError, get_framework, model_frameworks
from cursus.plan import Plan, PlanStep, training_step_upstream

# Pipeline parameters every compiled pipeline declares, and what they do.
TEMP_DIR = "ExecutionTempDir"  # S3 prefix for step outputs: <prefix>/<execution id>/<node>/<output>
KMS_KEY = "KmsKeyId"  # KMS key for job outputs; "" uses the S3 default encryption
SUBNET = "VpcSubnet"  # with SECURITY_GROUP: run every job in this VPC subnet
SECURITY_GROUP = "SecurityGroupId"
APPROVAL = "ModelApprovalStatus"  # declared when the pipeline registers a model
STANDARD_PARAMETERS = (TEMP_DIR, KMS_KEY, SUBNET, SECURITY_GROUP, APPROVAL)

# Runtime values a step's contract asks for, as SageMaker execution variables.
RUNTIME_VARIABLES = {
    "run_id": "PIPELINE_EXECUTION_ID",
    "execution_id": "PIPELINE_EXECUTION_ID",
    "execution_arn": "PIPELINE_EXECUTION_ARN",
    "pipeline_name": "PIPELINE_NAME",
    "start_time": "START_DATETIME",
}

CACHE_EXPIRY = "P30D"
CONTENT_TYPES = ["text/csv", "application/json"]
RESPONSE_TYPES = ["application/json", "text/csv"]
# files inside an output folder that a register step points SageMaker at, by output kind
ARCHIVES = {"packaged_model": "model.tar.gz", "payload": "payload.tar.gz"}
MODEL_ARTIFACTS = "/opt/ml/model"
SERVING_ENV = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
}


@dataclass
class SageMakerPipeline:
    """A compiled pipeline: the SDK object, its definition, and the code to upload before it runs.

    `code` maps S3 URIs to bytes: each step's sourcedir.tar.gz and each processing step's
    runproc.sh, at content-addressed keys. `deploy` uploads them; compiling uploads nothing."""

    pipeline: Any
    plan: Plan
    target: Target
    code: dict[str, bytes]
    parameters: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    _definition: str | None = None

    @property
    def name(self) -> str:
        return self.target.pipeline_name

    def definition(self) -> str:
        """The definition JSON exactly as the SDK writes it (and CreatePipeline receives it)."""
        if self._definition is None:
            with quiet_sdk():
                self._definition = self.pipeline.definition()
        return self._definition

    def definition_dict(self) -> dict[str, Any]:
        return json.loads(self.definition())

    def to_json(self) -> str:
        """The definition, indented for people and diffs."""
        return json.dumps(self.definition_dict(), indent=2) + "\n"

    def code_objects(self) -> list[CodeObject]:
        return [CodeObject(uri, body) for uri, body in sorted(self.code.items())]


def build_pipeline(
    plan: Plan, role: str | None = None, parameters: dict[str, Any] | None = None
) -> SageMakerPipeline:
    """Check `plan` against SageMaker's rules, then build its Pipeline offline."""
    from cursus.backends.sagemaker.checks import raise_for_definition

    target = preflight.check_plan(plan, role)
    defaults = _parameter_defaults(plan, target, parameters or {})
    load_sdk()
    session, s3 = offline_session(target.region, target.bucket)
    builder = _Builder(plan, target, session, defaults)
    with quiet_sdk():
        pipeline = builder.build()
        definition = pipeline.definition()
    code = {obj.uri: obj.body for objects in builder.bundles.values() for obj in objects}
    code.update(s3.uploads)
    compiled = SageMakerPipeline(
        pipeline=pipeline,
        plan=plan,
        target=target,
        code=code,
        parameters=defaults,
        warnings=builder.warnings,
        _definition=definition,
    )
    raise_for_definition(compiled.definition_dict(), plan)
    # remembered without the Pipeline itself, which is the weak key
    _COMPILED[pipeline] = replace(compiled, pipeline=None)
    return compiled


_COMPILED: weakref.WeakKeyDictionary[Any, SageMakerPipeline] = weakref.WeakKeyDictionary()


def compilation_of(pipeline: Any) -> SageMakerPipeline:
    """The compilation (plan, code objects) of a Pipeline that `build_pipeline` returned, e.g.
    through PipelineDAGCompiler.compile(dag, target="sagemaker")."""
    if isinstance(pipeline, SageMakerPipeline):
        return pipeline
    try:
        return replace(_COMPILED[pipeline], pipeline=pipeline)
    except (KeyError, TypeError):
        raise CursusError(
            "this Pipeline was not compiled by Cursus; deploy a DAG and config instead "
            "(cursus sagemaker deploy DAG -c CONFIG)"
        ) from None


def _parameter_defaults(plan: Plan, target: Target, given: dict[str, Any]) -> dict[str, Any]:
    """Default values of the standard parameters, overridden by `given`, plus the Plan's own."""
    registers = any(s.job_kind == "register" for s in plan.steps)
    known = [p for p in STANDARD_PARAMETERS if p != APPROVAL or registers] + list(plan.parameters)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise SageMakerConfigError(
            "pipeline",
            f"parameters {unknown}",
            f"are not parameters of this pipeline; its parameters are {', '.join(known)}",
        )
    defaults: dict[str, Any] = {
        TEMP_DIR: f"s3://{target.bucket}/{target.pipeline_name}/executions",
        KMS_KEY: "",
        SUBNET: "",
        SECURITY_GROUP: "",
    }
    if registers:
        defaults[APPROVAL] = _approval_default(plan)
    defaults.update(plan.parameters)
    defaults.update(given)
    if not str(defaults[TEMP_DIR]).startswith("s3://"):
        raise SageMakerConfigError(
            "pipeline", f"parameter {TEMP_DIR}", f"is {defaults[TEMP_DIR]!r}; use an s3:// prefix"
        )
    if bool(defaults[SUBNET]) != bool(defaults[SECURITY_GROUP]):
        raise SageMakerConfigError(
            "pipeline",
            f"parameters {SUBNET}/{SECURITY_GROUP}",
            "must be given together: a job in a VPC needs a subnet and a security group",
        )
    return defaults


def _approval_default(plan: Plan) -> str:
    statuses = {
        s.config.get("approval_status") or "PendingManualApproval"
        for s in plan.steps
        if s.job_kind == "register"
    }
    return sorted(statuses)[0]


@dataclass(frozen=True)
class _Source:
    """Where an input comes from: a pipeline variable or URI, and whether it is a training job's
    archive that the step script needs unpacked."""

    value: Any
    archive: bool = False


class _Builder:
    def __init__(self, plan: Plan, target: Target, session: Any, defaults: dict[str, Any]):
        self.plan = plan
        self.target = target
        self.session = session
        self.defaults = defaults
        self.vpc = bool(defaults[SUBNET])
        self.steps: dict[str, list[Any]] = {}  # node -> its SDK steps
        self.bundles: dict[str, list[CodeObject]] = {}  # node -> the code objects it runs
        self.warnings: list[str] = []
        self.parameters = self._declare_parameters()

    # ------------------------------------------------------------ pipeline

    def build(self) -> Any:
        from sagemaker.workflow.pipeline import Pipeline

        for step in self.plan.steps:
            build = {
                "processing": self._processing,
                "training": self._training,
                "register": self._register,
            }[step.job_kind]
            self.steps[step.name] = build(step)
        return Pipeline(
            name=self.target.pipeline_name,
            parameters=list(self.parameters.values()),
            steps=[s for node in self.plan.steps for s in self.steps[node.name]],
            sagemaker_session=self.session,
        )

    def _declare_parameters(self) -> dict[str, Any]:
        from sagemaker.workflow.parameters import (
            ParameterBoolean,
            ParameterFloat,
            ParameterInteger,
            ParameterString,
        )

        parameters: dict[str, Any] = {}
        for name, value in self.defaults.items():
            if isinstance(value, bool):
                param: Any = ParameterBoolean(name, default_value=value)
            elif isinstance(value, int):
                param = ParameterInteger(name, default_value=value)
            elif isinstance(value, float):
                param = ParameterFloat(name, default_value=value)
            else:
                param = ParameterString(name, default_value=str(value))
            parameters[name] = param
        return parameters

    # ------------------------------------------------------------ shared step settings

    def _common(self, step: PlanStep) -> dict[str, Any]:
        return {
            "role": self.target.role,
            "instance_type": step.settings.instance_type,
            "instance_count": step.settings.instance_count,
            "sagemaker_session": self.session,
        }

    def _step_options(self, step: PlanStep, job: bool = True) -> dict[str, Any]:
        """Caching, retries and ordering-only dependencies of a step, from its config."""
        from sagemaker.workflow.retry import (
            SageMakerJobExceptionTypeEnum,
            SageMakerJobStepRetryPolicy,
            StepExceptionTypeEnum,
            StepRetryPolicy,
        )
        from sagemaker.workflow.steps import CacheConfig

        options: dict[str, Any] = {}
        retries = step.settings.retries
        if retries:
            interval = max(1, round(step.settings.retry_backoff_seconds))
            policy: dict[str, Any] = {
                "max_attempts": retries,
                "interval_seconds": interval,
                "backoff_rate": 2.0,
            }
            policies: list[Any] = [
                StepRetryPolicy(
                    exception_types=[
                        StepExceptionTypeEnum.SERVICE_FAULT,
                        StepExceptionTypeEnum.THROTTLING,
                    ],
                    **policy,
                )
            ]
            if job:
                policies.append(
                    SageMakerJobStepRetryPolicy(
                        exception_types=list(SageMakerJobExceptionTypeEnum), **policy
                    )
                )
            options["retry_policies"] = policies
        if job and step.settings.cache:
            options["cache_config"] = CacheConfig(enable_caching=True, expire_after=CACHE_EXPIRY)
        fed_by = {b["from_step"] for b in step.inputs.values() if "from_step" in b}
        order_only = [d for d in step.depends_on if d not in fed_by]
        if order_only:
            options["depends_on"] = [s for d in order_only for s in self.steps[d]]
        return options

    def _network(self) -> dict[str, Any]:
        return {
            "subnets": [self.parameters[SUBNET]],
            "security_group_ids": [self.parameters[SECURITY_GROUP]],
        }

    def _output_prefix(self, node: str, *parts: str) -> Any:
        from sagemaker.workflow.execution_variables import ExecutionVariables
        from sagemaker.workflow.functions import Join

        return Join(
            on="/",
            values=[
                self.parameters[TEMP_DIR],
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                node,
                *parts,
            ],
        )

    def _framework(self, step: PlanStep) -> tuple[str, str]:
        """framework_version and py_version: the node's, else its framework's default image."""
        framework = get_framework(step.framework, f"node {step.name}")
        version = step.config.get("framework_version")
        try:
            image = framework.image_version(version)
        except FrameworkError:  # a version the table lacks may still be one the SDK has
            return str(version), step.config.get("py_version") or framework.default.py_version
        return image.version, step.config.get("py_version") or image.py_version

    def _wheels(self, step: PlanStep) -> list[Path]:
        """The wheels of what the step's image lacks (LightGBM on the XGBoost image)."""
        framework = get_framework(step.framework, f"node {step.name}")
        if not framework.wheels:
            return []
        try:
            python = framework.image_version(step.config.get("framework_version")).python
        except FrameworkError:
            python = framework.default.python
        try:
            return framework_wheels(framework.name, python)
        except WheelUnavailable as exc:
            raise SageMakerConfigError(step.name, "framework", str(exc)) from None

    # ------------------------------------------------------------ inputs

    def _source(self, step: PlanStep, input_name: str, binding: dict[str, Any]) -> _Source:
        """The S3 location an input reads, as a property of the step that writes it."""
        if "uri" in binding:
            # a model.tar.gz given by URI (a model trained elsewhere) is unpacked like a
            # training job's archive: step scripts read a folder
            return _Source(binding["uri"], archive=str(binding["uri"]).endswith(".tar.gz"))
        producer = self.plan.step(binding["from_step"])
        output = binding["output"]
        sdk_step = self.steps[producer.name][-1]
        if producer.job_kind == "processing":
            outputs = sdk_step.properties.ProcessingOutputConfig.Outputs
            return _Source(outputs[output].S3Output.S3Uri)
        if producer.job_kind == "training":
            if producer.outputs[output]["container_path"] == MODEL_ARTIFACTS:
                return _Source(sdk_step.properties.ModelArtifacts.S3ModelArtifacts, archive=True)
            from sagemaker.workflow.functions import Join

            props = sdk_step.properties
            data = Join(
                on="/",
                values=[
                    props.OutputDataConfig.S3OutputPath,
                    props.TrainingJobName,
                    "output",
                    "output.tar.gz",
                ],
            )
            return _Source(data, archive=True)
        raise SageMakerConfigError(
            step.name,
            f"inputs.{input_name}",
            f"reads {producer.name}.{output}, the output of a '{producer.job_kind}' step, which "
            "SageMaker does not store as data; bind it to a processing or training output",
        )

    def _input_of_kind(self, step: PlanStep, kind: str) -> str | None:
        """The input of `step` that reads a `kind` output (for a URI: whose name says `kind`)."""
        for name, binding in step.inputs.items():
            if "from_step" in binding:
                producer = self.plan.step(binding["from_step"])
                if producer.outputs[binding["output"]]["kind"] == kind:
                    return name
            elif kind in name:
                return name
        return None

    def _archive_in(self, step: PlanStep, input_name: str, kind: str) -> Any:
        """The archive a register step points SageMaker at, inside the folder an input reads."""
        from sagemaker.workflow.functions import Join

        binding = step.inputs[input_name]
        if "uri" in binding:
            uri = str(binding["uri"])
            return uri if uri.endswith(".tar.gz") else f"{uri.rstrip('/')}/{ARCHIVES[kind]}"
        return Join(on="/", values=[self._source(step, input_name, binding).value, ARCHIVES[kind]])

    # ------------------------------------------------------------ processing

    def _processing(self, step: PlanStep) -> list[Any]:
        from sagemaker.processing import ProcessingInput, ProcessingOutput
        from sagemaker.workflow.steps import ProcessingStep

        paths = preflight.contract_inputs(step)
        inputs, unpack = [], []
        for name, binding in step.inputs.items():
            source = self._source(step, name, binding)
            inputs.append(
                ProcessingInput(source=source.value, destination=paths[name], input_name=name)
            )
            if source.archive:
                unpack.append(paths[name])
        outputs = [
            ProcessingOutput(
                output_name=name,
                source=out["container_path"],
                destination=self._output_prefix(step.name, name),
            )
            for name, out in step.outputs.items()
        ]
        entry = step.script["entry_point"]
        bucket, pipeline_name = self.target.bucket, self.target.pipeline_name
        bundle = source_bundle(
            bucket,
            pipeline_name,
            step.script["folder"],
            step.script["files"],
            step.script.get("requirements", ()),
            self._wheels(step),
        )
        env = self._environment(step)
        # SageMaker takes 256 characters per Environment value; longer ones (a list of hundreds
        # of column names) are set by the launcher script instead
        long_values = {
            k: v
            for k, v in env.items()
            if isinstance(v, str) and len(v) > preflight.MAX_PROCESSING_ENV_VALUE
        }
        env = {k: v for k, v in env.items() if k not in long_values}
        runproc = launcher(bucket, pipeline_name, entry, unpack, long_values)
        self.bundles[step.name] = [bundle, runproc]
        # what FrameworkProcessor.run does with a local source_dir, with our own objects
        inputs.append(ProcessingInput(source=bundle.uri, destination=CODE_DIR, input_name="code"))
        arguments = [
            item
            for name, value in sorted(step.job_args.items())
            if value is not None
            for item in (f"--{name}", value if isinstance(value, str) else json.dumps(value))
        ]
        step_args = self._processor(step, env).run(
            code=runproc.uri, inputs=inputs, outputs=outputs, arguments=arguments or None
        )
        return [ProcessingStep(name=step.name, step_args=step_args, **self._step_options(step))]

    def _environment(self, step: PlanStep) -> dict[str, Any]:
        from sagemaker.workflow.execution_variables import ExecutionVariables

        env: dict[str, Any] = dict(step.env)
        for name, value in step.runtime_env.items():
            variable = RUNTIME_VARIABLES.get(value)
            if variable is None:
                self.warnings.append(
                    f"{step.name}: env {name} takes the runtime value '{value}', which SageMaker "
                    "has no equivalent of; it is left unset"
                )
                continue
            env[name] = getattr(ExecutionVariables, variable)
        return env

    def _processor(self, step: PlanStep, env: dict[str, Any]) -> Any:
        from sagemaker.network import NetworkConfig

        version, py_version = self._framework(step)
        kwargs = {
            **self._common(step),
            "framework_version": version,
            "py_version": py_version,
            "image_uri": self._image(step, "training"),
            "volume_size_in_gb": step.settings.volume_size_gb,
            "max_runtime_in_seconds": step.settings.max_runtime_seconds,
            "output_kms_key": self.parameters[KMS_KEY],
            "env": env or None,
        }
        if self.vpc:
            kwargs["network_config"] = NetworkConfig(**self._network())
        framework = FRAMEWORKS[step.framework]
        with _framework_errors(step):  # each framework's SDK module imported only when used
            processor = _sdk_class(framework.processor)
            if processor.__name__ == "FrameworkProcessor":
                kwargs["estimator_cls"] = _sdk_class(framework.estimator)
            return processor(**kwargs)

    # ------------------------------------------------------------ training

    def _training(self, step: PlanStep) -> list[Any]:
        from sagemaker.inputs import TrainingInput
        from sagemaker.workflow.steps import TrainingStep

        channels = {}
        for name, binding in step.inputs.items():
            source = self._source(step, name, binding)
            if source.archive and "from_step" in binding:
                raise SageMakerConfigError(
                    step.name,
                    f"inputs.{name}",
                    "reads the archive of another training job; a training channel receives it "
                    "packed. Put a processing step in between",
                )
            channels[name] = TrainingInput(s3_data=source.value)
        entry = step.script["entry_point"]
        bundle = source_bundle(
            self.target.bucket,
            self.target.pipeline_name,
            step.script["folder"],
            step.script["files"],
            step.script.get("requirements", ()),
            self._wheels(step),
        )
        self.bundles[step.name] = [bundle]
        estimator = self._estimator(step, entry, bundle.uri)
        step_args = estimator.fit(channels or None)
        return [TrainingStep(name=step.name, step_args=step_args, **self._step_options(step))]

    def _estimator(self, step: PlanStep, entry: str, source_dir: str) -> Any:
        version, py_version = self._framework(step)
        kwargs = {
            **self._common(step),
            "entry_point": entry,
            "source_dir": source_dir,
            "framework_version": version,
            "py_version": py_version,
            "image_uri": self._image(step, "training"),
            "volume_size": step.settings.volume_size_gb,
            "max_run": step.settings.max_runtime_seconds,
            "output_path": self._output_prefix(step.name),
            "output_kms_key": self.parameters[KMS_KEY],
            # a copy: the SDK adds its sagemaker_* entries to the dict it is given
            "hyperparameters": copy.deepcopy(step.job_args.get("hyperparameters")) or None,
            "environment": self._environment(step) or None,
            "debugger_hook_config": False,
            "disable_profiler": True,
        }
        if self.vpc:
            kwargs.update(self._network())
        with _framework_errors(step):
            return _sdk_class(FRAMEWORKS[step.framework].estimator)(**kwargs)

    # ------------------------------------------------------------ model + registry

    def _register(self, step: PlanStep) -> list[Any]:
        """A Model from the packaged model.tar.gz (its code/inference.py serves it), created as
        a SageMaker Model and registered as a new version of the model package group."""
        from sagemaker.model import Model
        from sagemaker.workflow.execution_variables import ExecutionVariables
        from sagemaker.workflow.model_step import ModelStep

        packaged = self._input_of_kind(step, "packaged_model")
        if packaged is None:
            raise SageMakerConfigError(
                step.name,
                "inputs",
                "binds no packaged model; a register step needs a model.tar.gz input",
            )
        trained = self._trained_by(step)
        instance_type = step.settings.instance_type
        image = self._image(trained, "inference", instance_type)
        model = Model(
            image_uri=image,
            model_data=self._archive_in(step, packaged, "packaged_model"),
            role=self.target.role,
            env={**SERVING_ENV, "SAGEMAKER_REGION": self.target.region},
            vpc_config=(
                {
                    "Subnets": [self.parameters[SUBNET]],
                    "SecurityGroupIds": [self.parameters[SECURITY_GROUP]],
                }
                if self.vpc
                else None
            ),
            sagemaker_session=self.session,
        )
        options = self._step_options(step, job=False)
        create = ModelStep(
            name=f"{step.name}-Model",
            step_args=model.create(instance_type=instance_type),
            **options,
        )
        payload = self._input_of_kind(step, "payload")
        version, _ = self._framework(trained)
        register_args = model.register(
            content_types=CONTENT_TYPES,
            response_types=RESPONSE_TYPES,
            inference_instances=[instance_type],
            transform_instances=[instance_type],
            model_package_group_name=step.env.get("MODEL_NAME") or self.target.pipeline_name,
            approval_status=self.parameters[APPROVAL],
            description=self.plan.pipeline.get("pipeline_description") or None,
            customer_metadata_properties={
                "cursus_pipeline": self.target.pipeline_name,
                "cursus_pipeline_version": str(self.plan.pipeline.get("pipeline_version", "")),
                "cursus_node": step.name,
                "cursus_run_id": ExecutionVariables.PIPELINE_EXECUTION_ID,
                "cursus_trained_by": trained.name,
            },
            sample_payload_url=self._archive_in(step, payload, "payload") if payload else None,
            domain="MACHINE_LEARNING",
            task="REGRESSION"
            if trained.config.get("problem_type") == "regression"
            else "CLASSIFICATION",
            framework=FRAMEWORKS[trained.framework].registry_name or trained.framework.upper(),
            framework_version=version,
        )
        register = ModelStep(name=step.name, step_args=register_args, **options)
        return [create, register]

    def _trained_by(self, step: PlanStep) -> PlanStep:
        """The training step upstream of a register step: its framework picks the serving image."""
        upstream = training_step_upstream(step, {s.name: s for s in self.plan.steps})
        if upstream is not None:
            return upstream
        framework = step.config.get("model_framework")
        if framework:  # a model trained elsewhere: the config says what serves it
            image = get_framework(framework, f"node {step.name}").image_version(
                step.config.get("model_framework_version")
            )
            config = {
                **step.config,
                "framework_version": image.version,
                "py_version": image.py_version,
            }
            return dataclasses.replace(step, framework=framework, config=config)
        raise SageMakerConfigError(
            step.name,
            "inputs",
            "has no training step upstream; registering a model needs the framework it was "
            "trained with to pick the serving image: add the training step, or set "
            f"model_framework ({' or '.join(model_frameworks())}) in this node's config",
        )

    def _image(self, step: PlanStep, scope: str, instance_type: str | None = None) -> str:
        """The container image of `step`'s framework: "training" (which processing jobs use
        too) or "inference"."""
        version, py_version = self._framework(step)
        instance_type = instance_type or step.settings.instance_type
        with _framework_errors(step):
            return image_uri(
                get_framework(step.framework, f"node {step.name}").image,
                self.target.region,
                version,
                py_version,
                instance_type,
                scope,
            )


def _sdk_class(path: str) -> Any:
    """A SageMaker SDK class named `module:Class` in the framework table, imported on first use."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@cache
def image_uri(
    framework: str, region: str, version: str, py_version: str, instance_type: str, scope: str
) -> str:
    """`sagemaker.image_uris.retrieve`, remembered: each call re-reads botocore's endpoint data
    (~0.1 s), and a pipeline asks for the same few images many times."""
    from sagemaker import image_uris

    return image_uris.retrieve(
        framework,
        region,
        version=version,
        py_version=py_version,
        instance_type=instance_type,
        image_scope=scope,
    )


@contextmanager
def _framework_errors(step: PlanStep) -> Iterator[None]:
    """The SDK's ValueError for an image it does not have, as an error naming node and field."""
    try:
        yield
    except ValueError as exc:
        text = str(exc)
        if not text.startswith("Unsupported"):
            raise
        field = "region" if text.startswith("Unsupported region") else "framework_version"
        version = step.config.get("framework_version") or FRAMEWORKS[step.framework].default.version
        supported = text.partition("Supported ")[2].rstrip(".")
        raise SageMakerConfigError(
            step.name,
            field,
            f"({step.framework} {version}) has no SageMaker container: "
            + text.split(". You may need")[0]
            + (f"; supported {supported}" if supported else ""),
        ) from None
