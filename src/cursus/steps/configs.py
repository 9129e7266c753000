"""Config classes: one per step type, all sharing the pipeline metadata of the base config.

A node's config is an instance of its step type's class; `cursus.core.config_file` reads and
writes the one JSON file that holds the configs of every node.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cursus.frameworks import model_frameworks

_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,80}[A-Za-z0-9])?$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# numpy and the frameworks take seeds from 0 to 2**32 - 1
MAX_SEED = 2**32 - 1
SEED = Field(default=42, ge=0, le=MAX_SEED, description="seed of every random draw: 0 to 2**32-1")
# the first system's region codes and the AWS regions its pipelines ran in
FIRST_SYSTEM_REGIONS = {"NA": "us-east-1", "EU": "eu-west-1", "FE": "us-west-2"}
# the longest text a config value (or any string inside one) may hold: a SageMaker pipeline
# definition is at most 1 MiB in all, and each value is copied into the plan and the records
MAX_VALUE_CHARS = 65536


class BasePipelineConfig(BaseModel):
    """Fields every step has: pipeline metadata, where it runs, how it is retried and cached."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    author: str = "cursus-user"
    pipeline_name: str = "cursus-pipeline"
    pipeline_version: str = "1.0.0"
    pipeline_description: str = ""
    region: str = "us-east-1"
    role: str | None = Field(default=None, description="IAM role ARN SageMaker runs the steps as")
    bucket: str | None = Field(default=None, description="S3 bucket for pipeline artifacts")
    label_field: str = Field(default="label", min_length=1, max_length=1024)
    id_field: str | None = Field(default=None, min_length=1, max_length=1024)
    problem_type: Literal["binary", "multiclass", "regression"] | None = Field(
        default=None,
        description="what the label is: two classes, several, or a number to predict; unset, "
        "the label decides (two values: binary; text or up to 20 whole numbers: multiclass; "
        "other numbers: regression)",
    )
    job_type: str | None = Field(
        default=None, description="taken from the node name suffix when unset"
    )
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = Field(default=1, ge=1, le=100)
    volume_size_gb: int = Field(default=30, ge=1, le=16384)
    max_runtime_seconds: int = Field(default=86400, ge=60, le=432000)
    retries: int = Field(default=0, ge=0, le=10, description="extra attempts after a failure")
    retry_backoff_seconds: float = Field(default=1.0, ge=0, le=3600)
    cache: bool = Field(
        default=True, description="reuse outputs when nothing the step depends on changed"
    )
    schedule: str | None = Field(
        default=None,
        description="when an orchestrator (Airflow) starts the pipeline: a cron expression or @daily",
    )
    input_bindings: dict[str, str] = Field(
        default_factory=dict,
        description="explicit input bindings: input name -> 'Node.output' or an external URI",
    )

    @model_validator(mode="before")
    @classmethod
    def _bounded_values(cls, data: Any) -> Any:
        """No value holds more text than MAX_VALUE_CHARS, however deep in a list or dict."""
        if isinstance(data, dict):
            for name, value in data.items():
                problem = oversized_value(name, value)
                if problem:
                    raise ValueError(problem)
        return data

    @field_validator("pipeline_name")
    @classmethod
    def _pipeline_name(cls, value: str) -> str:
        if not _PIPELINE_NAME.match(value):
            raise ValueError(
                "use 1-82 letters, digits and hyphens, starting and ending with a letter or digit"
            )
        return value

    @field_validator("pipeline_version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not _SEMVER.match(value):
            raise ValueError("use a semantic version such as 1.0.0")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value.upper() in FIRST_SYSTEM_REGIONS:
            raise ValueError(
                f"{value!r} is a region code of the first system, not an AWS region; use "
                f"{FIRST_SYSTEM_REGIONS[value.upper()]} (`cursus migrate config` maps it)"
            )
        if not _AWS_REGION.match(value):
            raise ValueError("use an AWS region such as us-east-1")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not re.match(r"^(ml\.[a-z0-9]+\.[a-z0-9]+|local)$", value):
            raise ValueError("use a SageMaker instance type such as ml.m5.xlarge")
        return value


def secret_field(default: Any = None, **kwargs: Any) -> Any:
    """A config field whose value is a secret: redacted wherever Cursus writes or shows a
    config (`cursus.redaction`)."""
    extra = {**(kwargs.pop("json_schema_extra", None) or {}), "secret": True}
    return Field(default, json_schema_extra=extra, **kwargs)


def secret_fields(cls: type[BaseModel]) -> list[str]:
    """The fields of config class `cls` marked with `secret_field`."""
    return sorted(
        name
        for name, info in cls.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("secret")
    )


def oversized_value(name: str, value: Any) -> str | None:
    """What is wrong with field `name` when its value holds a text past MAX_VALUE_CHARS."""
    size = longest_text(value)
    if size <= MAX_VALUE_CHARS:
        return None
    return (
        f"field '{name}' holds a text of {size:,} characters; a value is bounded at "
        f"{MAX_VALUE_CHARS:,} (a SageMaker pipeline definition is at most 1 MiB): put long "
        "content in a file and give its path"
    )


def longest_text(value: Any) -> int:
    """The length of the longest string in `value` (keys included), walked without recursion."""
    longest, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            longest = max(longest, len(item))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return longest


# The bundled sample: 70% of breast_cancer trains, the other 30% evaluates and calibrates.
SAMPLE_TRAINING_SOURCE = "sklearn:breast_cancer?fraction=0.3&seed=7&part=rest"
SAMPLE_HOLDOUT_SOURCE = "sklearn:breast_cancer?fraction=0.3&seed=7"


class DataLoadingConfig(BasePipelineConfig):
    data_source: str | None = Field(
        default=None,  # filled from job_type below, so a validated config always has one
        description="path or s3:// URI (csv, parquet, jsonl), sklearn:<dataset>, or "
        "synthetic:classification?rows=N; ?fraction=F&seed=S[&part=rest] takes a disjoint part",
    )
    random_seed: int = SEED

    @model_validator(mode="after")
    def _sample_source(self) -> DataLoadingConfig:
        """Unset, the source is the bundled sample, split so no holdout row was trained on."""
        if self.data_source is None:
            training = self.job_type in (None, "training")
            object.__setattr__(
                self, "data_source", SAMPLE_TRAINING_SOURCE if training else SAMPLE_HOLDOUT_SOURCE
            )
        return self


class DummyDataLoadingConfig(DataLoadingConfig):
    """The first system's user-provided data: DataLoading under its node name."""


# the Cradle job spec fields a first-system CradleDataLoading config carries
CRADLE_SPEC_FIELDS = ("data_sources_spec", "transform_spec", "output_spec", "cradle_job_spec")


class CradleDataLoadingConfig(DataLoadingConfig):
    """The first system's Cradle data load. Cradle is an internal service Cursus cannot call:
    the node reads what a Cradle job wrote, at `data_source`. The job spec fields are kept (so a
    migrated config still reads), but they cannot stand in for data_source."""

    data_sources_spec: dict[str, Any] | None = None
    transform_spec: dict[str, Any] | None = None
    output_spec: dict[str, Any] | None = None
    cradle_job_spec: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _data_source_not_the_job_spec(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("data_source") is None:
            given = [f for f in CRADLE_SPEC_FIELDS if values.get(f)]
            if given:
                raise ValueError(
                    f"this CradleDataLoading config carries a Cradle job spec ({', '.join(given)}) "
                    "but no data_source; Cradle is an internal service Cursus cannot call, so set "
                    "data_source to a local path or s3:// URI of the data the Cradle job writes "
                    "(its output_spec's output path)"
                )
        return values


class TabularPreprocessingConfig(BasePipelineConfig):
    train_ratio: float = Field(default=0.7, gt=0, lt=1)
    test_val_ratio: float = Field(default=0.5, gt=0, lt=1)
    categorical_columns: list[str] | None = Field(
        default=None, description="columns to encode as categories; detected from dtypes when unset"
    )
    feature_columns: list[str] | None = Field(
        default=None,
        min_length=1,
        description="the columns the model learns from (the label and id always go on); unset, "
        "every column but the label and id",
    )
    random_seed: int = SEED


class StratifiedSamplingConfig(BasePipelineConfig):
    strata_field: str | None = Field(
        default=None, description="the column whose values are the strata; the label when unset"
    )
    sampling_strategy: Literal["balanced", "proportional"] = "balanced"
    target_sample_size: int = Field(default=1000, ge=1, description="rows to keep in all")
    min_samples_per_stratum: int = Field(default=1, ge=0)
    random_seed: int = SEED


_IMPUTE_STRATEGY = Literal["mean", "median", "mode", "constant"]


class MissingValueImputationConfig(BasePipelineConfig):
    """Fill missing values with statistics fitted on the training split (per column, by type)."""

    numerical_strategy: Literal["mean", "median", "mode", "constant"] = "median"
    categorical_strategy: Literal["mode", "constant"] = "mode"
    numerical_constant: float = 0.0
    categorical_constant: str = "missing"
    column_strategies: dict[str, _IMPUTE_STRATEGY] = Field(
        default_factory=dict, description="column -> strategy, overriding the type's default"
    )
    fill_values: dict[str, float | str] = Field(
        default_factory=dict, description="column -> the value a 'constant' strategy fills in"
    )
    exclude_columns: list[str] = Field(
        default_factory=list, description="columns left as they are (the label and id always are)"
    )


class RiskTableMappingConfig(BasePipelineConfig):
    """Replace each category by the label's smoothed mean among the training rows that have it."""

    categorical_columns: list[str] | None = Field(
        default=None,
        description="columns to map; unset, the columns preprocessing encoded as categories",
    )
    smooth_factor: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="weight of the overall rate in each category's risk (a share of the rows)",
    )
    count_threshold: int = Field(
        default=5, ge=0, description="a category seen fewer times gets the overall rate"
    )
    max_unique: int = Field(
        default=100, ge=1, description="a column with more categories than this is refused"
    )


SelectionMethod = Literal[
    "variance", "correlation", "mutual_info", "f_test", "random_forest", "lasso"
]
DEFAULT_SELECTION_METHODS: tuple[SelectionMethod, ...] = (
    "variance",
    "correlation",
    "mutual_info",
    "random_forest",
)


class FeatureSelectionConfig(BasePipelineConfig):
    """Keep the features several selection methods agree on, fitted on the training split."""

    selection_methods: list[SelectionMethod] = Field(
        default_factory=lambda: list(DEFAULT_SELECTION_METHODS),
        min_length=1,
        description="statistical (variance, correlation, mutual_info, f_test) and model-based "
        "(random_forest, lasso) methods; each votes for its top features",
    )
    n_features_to_select: int = Field(default=10, ge=1)
    combination_strategy: Literal["voting", "rank", "union", "intersection"] = Field(
        default="voting",
        description="voting: most methods' top-N; rank: best mean rank; union / intersection "
        "of every method's top-N",
    )
    variance_threshold: float = Field(default=0.0, ge=0)
    correlation_threshold: float = Field(
        default=0.95, gt=0, le=1, description="of two features correlated above this, one goes"
    )
    random_seed: int = SEED


class TemporalSplitPreprocessingConfig(BasePipelineConfig):
    """Split by time and by entity: rows on or after split_date are the out-of-time test split;
    the earlier rows split into train and val by entity, so no entity is in both. Fits the same
    preprocessing as TabularPreprocessing on the train split."""

    train_ratio: float = Field(
        default=0.8, gt=0, lt=1, description="share of the in-time entities that train"
    )
    categorical_columns: list[str] | None = Field(
        default=None, description="columns to encode as categories; detected from dtypes when unset"
    )
    random_seed: int = SEED
    date_field: str = Field(default="date", description="the column holding each row's date")
    group_id_field: str | None = Field(
        default=None, description="the entity column (e.g. customer id); unset, rows split alone"
    )
    split_date: str | None = Field(
        default=None,
        description="ISO date: rows from it on are the out-of-time holdout; unset, the latest "
        "oot_fraction of dates",
    )
    oot_fraction: float = Field(default=0.2, gt=0, lt=1)

    @field_validator("split_date")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        import datetime

        if value is not None:
            try:
                datetime.date.fromisoformat(value[:10])
            except ValueError:
                raise ValueError("use an ISO date such as 2024-07-01") from None
        return value


class CurrencyConversionConfig(BasePipelineConfig):
    """Convert money columns into one currency with a fixed rate table, in the pipeline and in
    the packaged model alike."""

    currency_field: str = Field(
        default="currency", description="the column holding each row's currency code"
    )
    amount_fields: list[str] = Field(
        default_factory=list, description="the money columns to convert"
    )
    target_currency: str = "USD"
    exchange_rates: dict[str, float] = Field(
        default_factory=dict,
        description="currency code -> units of target_currency per unit of it",
    )
    default_currency: str | None = Field(
        default=None,
        description="the currency of a row whose code is missing; unset, such rows are an error",
    )

    @field_validator("exchange_rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(code for code, rate in value.items() if not rate > 0)
        if bad:
            raise ValueError(f"rates must be positive numbers; fix {bad}")
        return value


class XGBoostHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_round: int = Field(default=200, ge=1, le=100000)
    max_depth: int = Field(default=6, ge=1, le=64)
    eta: float = Field(default=0.1, gt=0, le=1)
    subsample: float = Field(default=1.0, gt=0, le=1)
    colsample_bytree: float = Field(default=1.0, gt=0, le=1)
    min_child_weight: float = Field(default=1.0, ge=0)
    early_stopping_rounds: int = Field(
        default=20, ge=0, description="rounds without improvement before stopping; 0: never stop"
    )
    # unset: log loss (binary; it keeps improving after AUC saturates, so early stopping on it
    # keeps enough trees), multiclass log loss, or RMSE (regression)
    eval_metric: (
        Literal["auc", "logloss", "aucpr", "error", "mlogloss", "merror", "rmse", "mae"] | None
    ) = None
    # unset: the problem type's (binary:logistic, multi:softprob, reg:squarederror)
    objective: (
        Literal[
            "binary:logistic",
            "multi:softprob",
            "reg:squarederror",
            "reg:absoluteerror",
            "reg:pseudohubererror",
        ]
        | None
    ) = None
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    nthread: int = Field(default=1, ge=1)


class XGBoostTrainingConfig(BasePipelineConfig):
    framework_version: str = "1.7-1"
    py_version: str = "py3"
    hyperparameters: XGBoostHyperparameters = Field(default_factory=XGBoostHyperparameters)


class PyTorchHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden_dims: list[int] = Field(default_factory=lambda: [64, 32])
    dropout: float = Field(default=0.1, ge=0, lt=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    batch_size: int = Field(default=256, ge=1)
    epochs: int = Field(default=50, ge=1)
    early_stopping_patience: int = Field(default=5, ge=1)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


class PyTorchTrainingConfig(BasePipelineConfig):
    framework_version: str = "2.1"
    py_version: str = "py310"
    hyperparameters: PyTorchHyperparameters = Field(default_factory=PyTorchHyperparameters)


class LightGBMHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_boost_round: int = Field(default=200, ge=1, le=100000)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2, le=131072)
    max_depth: int = Field(default=-1, ge=-1, description="-1: no limit")
    min_data_in_leaf: int = Field(default=20, ge=1)
    feature_fraction: float = Field(default=1.0, gt=0, le=1)
    bagging_fraction: float = Field(default=1.0, gt=0, le=1)
    bagging_freq: int = Field(default=0, ge=0)
    lambda_l1: float = Field(default=0.0, ge=0)
    lambda_l2: float = Field(default=0.0, ge=0)
    early_stopping_rounds: int = Field(default=20, ge=1)
    # unset: the problem type's (binary, multiclass, regression)
    objective: Literal["binary", "multiclass", "regression", "regression_l1", "huber"] | None = None
    # unset: binary_logloss, multi_logloss or l2 by problem type
    metric: (
        Literal[
            "binary_logloss",
            "auc",
            "binary_error",
            "multi_logloss",
            "multi_error",
            "l2",
            "l1",
            "rmse",
            "huber",
        ]
        | None
    ) = None
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    num_threads: int = Field(default=1, ge=1)


class LightGBMTrainingConfig(BasePipelineConfig):
    # the XGBoost image's version: LightGBM runs on that image (cursus.frameworks)
    framework_version: str = "1.7-1"
    py_version: str = "py3"
    hyperparameters: LightGBMHyperparameters = Field(default_factory=LightGBMHyperparameters)


class XGBoostModelEvalConfig(BasePipelineConfig):
    framework_version: str = "1.7-1"


class LightGBMModelEvalConfig(BasePipelineConfig):
    framework_version: str = "1.7-1"


class XGBoostModelInferenceConfig(BasePipelineConfig):
    framework_version: str = "1.7-1"


class LightGBMModelInferenceConfig(BasePipelineConfig):
    framework_version: str = "1.7-1"


class PyTorchModelEvalConfig(BasePipelineConfig):
    framework_version: str = "2.1"
    py_version: str = "py310"


class PyTorchModelInferenceConfig(BasePipelineConfig):
    framework_version: str = "2.1"
    py_version: str = "py310"


class ModelCalibrationConfig(BasePipelineConfig):
    # sigmoid is Platt scaling (also accepted as platt); gam: a logistic fit on a linear spline
    calibration_method: Literal["isotonic", "sigmoid", "platt", "gam", "percentile"] = "isotonic"
    score_field: str = "prob"
    n_bins: int = Field(default=10, ge=2, le=1000)
    gam_knots: int = Field(
        default=8, ge=1, le=100, description="gam: interior knots of the spline of the score"
    )
    monotonic: bool = Field(
        default=False, description="gam: keep the calibrated scores in the order of the raw ones"
    )


class ModelMetricsComputationConfig(BasePipelineConfig):
    score_field: str = Field(
        default="prob",
        description="the binary score column to measure (calibrated_prob after calibration)",
    )


class ModelWikiGeneratorConfig(BasePipelineConfig):
    model_name: str | None = Field(
        default=None, description="the name on the model card; the pipeline name when unset"
    )
    model_description: str = Field(default="", description="what the model is for, in a sentence")


class PercentileModelCalibrationConfig(ModelCalibrationConfig):
    calibration_method: Literal["percentile"] = "percentile"


class PackageConfig(BasePipelineConfig):
    pass


class _ModelFrameworkConfig(BasePipelineConfig):
    """A step that runs or serves a model: on SageMaker it needs the image of the model's
    framework, which the training step upstream names, or these fields for a model trained
    elsewhere."""

    model_framework: str | None = Field(
        default=None,
        description="framework of a model trained outside this pipeline (picks SageMaker's "
        "image), a name of the framework table; unset, the training step upstream decides",
    )
    model_framework_version: str | None = Field(
        default=None, description="with model_framework: its container version (1.7-1, 2.1, ...)"
    )

    @field_validator("model_framework")
    @classmethod
    def _known_framework(cls, value: str | None) -> str | None:
        if value is not None and value not in model_frameworks():
            raise ValueError(
                f"use a framework whose models Cursus loads: {', '.join(model_frameworks())}"
            )
        return value


class DummyTrainingConfig(_ModelFrameworkConfig):
    """A pretrained model brought in as if trained here; its framework (model_framework) says
    which image runs the steps that load it."""

    pretrained_model_path: str | None = Field(
        default=None,
        description="the pretrained model: a local path or s3:// URI of a model folder or "
        "model.tar.gz written by a Cursus training step or Package",
    )

    @model_validator(mode="after")
    def _bind_pretrained_model(self) -> DummyTrainingConfig:
        """pretrained_model_path is the model_artifacts_input binding (unless one is given)."""
        if self.pretrained_model_path and "model_artifacts_input" not in self.input_bindings:
            bindings = {**self.input_bindings, "model_artifacts_input": self.pretrained_model_path}
            object.__setattr__(self, "input_bindings", bindings)
        return self


class PayloadConfig(_ModelFrameworkConfig):
    n_samples: int = Field(default=5, ge=1, le=10000)
    random_seed: int = SEED


class RegistrationConfig(_ModelFrameworkConfig):
    model_name: str | None = Field(
        default=None, description="registry name; the pipeline name when unset"
    )
    approval_status: Literal["Approved", "PendingManualApproval", "Rejected"] = (
        "PendingManualApproval"
    )


class DriftCheckConfig(BasePipelineConfig):
    drift_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="share of drifted columns at which the data counts as drifted",
    )
    columns: list[str] | None = Field(
        default=None,
        description="columns to compare; unset, every column both sides share but the label and id",
    )
    fail_on_drift: bool = Field(
        default=False, description="fail the step (and so the run) when the data drifted"
    )


def config_field_value(config: BasePipelineConfig, field: str) -> Any:
    """The value a spec's contract asks for; `model_name` falls back to the pipeline name."""
    value = getattr(config, field)
    if field == "model_name" and value is None:
        return config.pipeline_name
    if isinstance(value, BaseModel):
        # an unset hyperparameter is left to the script's default, not sent as null
        return value.model_dump(mode="json", exclude_none=True)
    return value
