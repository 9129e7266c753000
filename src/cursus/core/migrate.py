"""Migrate a config file of the first system that did this job (github.com/TianpeiLuke/cursus).

Its file has our shape ({"configuration": {"shared", "specific"}, "metadata": {"config_types"}}),
but its fields are its own: `label_name` where we say `label_field`, one instance field per job
kind, derived values written out (`aws_region`, `pipeline_s3_loc`, `effective_*`, script paths),
region codes (`NA`), hyperparameters in a file of their own. Every field is one of:

- mapped: carried over, renamed or converted (each mapping is listed);
- dropped: derived from other fields, replaced by Cursus's own step scripts, or metadata of the
  first system's services that changes nothing a step computes (each is listed with why);
- refused: a value that would change the result and that Cursus cannot express, or a field the
  migration does not know. Nothing is written while anything is refused.

`migrate_config` returns the new file's data with the three lists; `cursus migrate config` prints
them and writes the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.core.config_file import _build_configs
from cursus.errors import ConfigError, CursusError
from cursus.files import read_json_file
from cursus.frameworks import FRAMEWORKS, get_framework, model_frameworks
from cursus.steps.configs import FIRST_SYSTEM_REGIONS, BasePipelineConfig
from cursus.steps.library import step_library

# ------------------------------------------------------------------------ what each field is

# derived from other fields: Cursus derives them again
DERIVED = {
    "aws_region": "follows region",
    "pipeline_s3_loc": "Cursus puts outputs under bucket/pipeline_name",
    "effective_instance_type": "follows the instance fields",
    "effective_source_dir": "follows the source folder",
    "current_date": "a date stamp of when the file was written",
    "__model_type__": "the class is in metadata.config_types",
}
# the first system's own scripts and where they lived: Cursus runs its step scripts instead
SCRIPTS = (
    "script_path",
    "full_script_path",
    "processing_entry_point",
    "training_entry_point",
    "inference_entry_point",
    "processing_source_dir",
    "source_dir",
    "project_root_folder",
    "skip_hyperparameters_s3_uri",
)
# metadata of the first system's services, or mechanics of its scripts: no step result changes
NO_EFFECT = {
    "service_name": "MODS service metadata; Cursus names the pipeline by pipeline_name",
    "model_domain": "MIMS registry metadata; Cursus registers under model_name",
    "model_objective": "MIMS registry metadata; Cursus registers under model_name",
    "model_owner": "MIMS registry metadata",
    "inference_instance_type": "Cursus registers the model for any instance type",
    "use_secure_pypi": "Cursus's jobs install their packages from the image and the code bundle",
    "ca_repository_arn": "Cursus's jobs install their packages from the image and the code bundle",
    "expected_tps": "a MIMS load-test target; Cursus runs no load test",
    "max_latency_in_millisecond": "a MIMS load-test target; Cursus runs no load test",
    "max_acceptable_error_rate": "a MIMS load-test target; Cursus runs no load test",
    "load_test_instance_type_list": "a MIMS load-test target; Cursus runs no load test",
    "source_model_inference_content_types": "Cursus's model takes text/csv and application/json",
    "source_model_inference_response_types": "Cursus's model answers application/json",
    "source_model_inference_input_variable_list": "Cursus writes the model's input schema "
    "from the columns it trained on",
    "source_model_inference_output_variable_list": "Cursus's model answers its own score fields",
    "variable_schema": "Cursus writes the model's schema from the columns it trained on",
    "default_numeric_value": "Cursus's Payload samples real rows, so it needs no defaults",
    "default_text_value": "Cursus's Payload samples real rows, so it needs no defaults",
    "field_defaults": "Cursus's Payload samples real rows, so it needs no defaults",
    "max_file_size_mb": "how the first system's loader sharded files",
    "shard_size": "how the first system's loader sharded files",
    "write_data_shards": "how the first system's loader sharded files",
    "supported_formats": "Cursus reads csv, parquet and jsonl",
    "output_format": "Cursus's steps write parquet",
    "eval_metric_choices": "Cursus's evaluation reports all of them",
    "comparison_metrics": "used only in comparison mode, which is off",
    "comparison_plots": "used only in comparison mode, which is off",
    "statistical_tests": "used only in comparison mode, which is off",
    "score_field_prefix": "Cursus names class scores prob_<k>",
    "calibration_sample_points": "the first system's lookup-table size; Cursus's calibration is "
    "the fitted function itself",
    "error_threshold": "a reporting threshold; Cursus reports the calibration error before and "
    "after",
    "model_class": "the training step names the framework",
    "is_binary": "read into problem_type",
    "num_classes": "read into problem_type",
    "multiclass_categories": "read into problem_type",
}
# off (or empty) means no effect; on is refused
OFF_ONLY = {
    "comparison_mode": "compares against a previous model's scores",
    "previous_score_field": "compares against a previous model's scores",
    "use_precomputed_features": "reads features computed outside the pipeline",
    "use_precomputed_imputation": "reads imputation values computed outside the pipeline",
    "use_precomputed_risk_tables": "reads risk tables computed outside the pipeline",
}
SAME = (
    "author",
    "bucket",
    "role",
    "pipeline_name",
    "pipeline_description",
    "pipeline_version",
    "job_type",
    "max_runtime_seconds",
    "train_ratio",
    "test_val_ratio",
    "label_field",
    "id_field",
    "data_source",
    "pretrained_model_path",
    "categorical_columns",
    "data_sources_spec",
    "transform_spec",
    "output_spec",
    "cradle_job_spec",
    "py_version",
    "score_field",
    "random_seed",
)
RENAMED = {
    "label_name": "label_field",
    "id_name": "id_field",
    "enable_caching": "cache",
    "gam_splines": "gam_knots",
    "monotonic_constraint": "monotonic",
    "training_instance_type": "instance_type",
    "training_instance_count": "instance_count",
    "processing_instance_count": "instance_count",
    "training_volume_size": "volume_size_gb",
    "processing_volume_size": "volume_size_gb",
}
# read together into one instance_type
INSTANCE_FIELDS = (
    "processing_instance_type_large",
    "processing_instance_type_small",
    "use_large_processing_instance",
    "training_instance_type",
)
CALIBRATION_METHODS = {"gam": "gam", "isotonic": "isotonic", "platt": "platt", "sigmoid": "sigmoid"}
# the first system's binary score column and ours
SCORE_FIELDS = {"prob_class_1": "prob"}

# XGBoost hyperparameters of the first system's file
XGB_SAME = ("num_round", "max_depth", "eta", "subsample", "colsample_bytree", "min_child_weight")
# what XGBoost does when they are not given: equal, they are dropped; other values are refused,
# as Cursus's XGBoostTraining does not take them
XGB_DEFAULTS: dict[str, Any] = {
    "alpha_xgb": 0.0,
    "lambda_xgb": 1.0,
    "gamma": 0.0,
    "max_delta_step": 0.0,
    "scale_pos_weight": 1.0,
    "colsample_bylevel": 1.0,
    "colsample_bynode": 1.0,
    "booster": "gbtree",
    "tree_method": "auto",
    "base_score": None,
    "num_parallel_tree": None,
    "sketch_eps": None,
}
# fields of the first system's shared hyperparameter class that XGBoost training never reads
NOT_XGBOOST = (
    "batch_size",
    "lr",
    "max_epochs",
    "optimizer",
    "device",
    "header",
    "model_class",
    "metric_choices",
    "full_field_list",
)


@dataclass
class Migration:
    """The new config file's data, and what became of every old field."""

    config: dict[str, Any]
    mapped: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused


class _Log:
    """Lines that name every node they hold for, so a shared field is one line, not ten."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def add(self, node: str, line: str) -> None:
        nodes = self.lines.setdefault(line, [])
        if node not in nodes:
            nodes.append(node)

    def render(self, total: int) -> list[str]:
        out = []
        for line, nodes in self.lines.items():
            if nodes == ["(file)"]:
                out.append(line)
            elif len(nodes) == total and total > 1:
                out.append(f"{line} (every node)")
            else:
                out.append(f"{line} ({', '.join(nodes)})")
        return out


@dataclass
class _Context:
    mapped: _Log = field(default_factory=_Log)
    dropped: _Log = field(default_factory=_Log)
    refused: _Log = field(default_factory=_Log)


# ------------------------------------------------------------------------ the migration


def migrate_config_file(
    path: str | Path,
    dag: PipelineDAG | None = None,
    hyperparameters: str | Path | None = None,
    data_sources: dict[str, str] | None = None,
) -> Migration:
    """Migrate the first system's config file at `path` (see migrate_config)."""
    old = read_json_file(path, ConfigError, "config file")
    hp = None
    if hyperparameters is not None:
        hp = read_json_file(hyperparameters, ConfigError, "hyperparameter file")
        if not isinstance(hp, dict):
            raise ConfigError(f"{hyperparameters}: a hyperparameter file holds one JSON object")
    return migrate_config(old, str(path), dag, hp, data_sources, Path(path).parent)


def migrate_config(
    old: Any,
    source: str = "<config>",
    dag: PipelineDAG | None = None,
    hyperparameters: dict[str, Any] | None = None,
    data_sources: dict[str, str] | None = None,
    folder: Path | None = None,
) -> Migration:
    """Our config file's data for the first system's `old`, and what became of each field.

    `dag` gives the nodes when the file names none (and checks those it names); `hyperparameters`
    is the content of the training node's `hyperparameter_file` (read from beside the file when
    it is a local path there); `data_sources` maps a data loading node to the data it reads (a
    Cradle job's output, which Cursus cannot produce)."""
    shared, specific, types = _old_parts(old, source)
    ctx = _Context()
    library = step_library()
    nodes = list(dag.nodes) if dag is not None else list(types)
    if not nodes:
        raise ConfigError(
            f"{source}: the file names no nodes (no metadata.config_types); pass the pipeline's "
            "DAG with --dag so every node gets the shared values"
        )
    for node in [n for n in types if dag is not None and n not in dag]:
        ctx.refused.add(node, f"node '{node}' is in the config but not in the DAG; remove it")
    data_sources = dict(data_sources or {})
    for node in sorted(set(data_sources) - set(nodes)):
        ctx.refused.add("(file)", f"--data-source names node '{node}', which is not a node")
    trainers = [n for n in nodes if _step_type(n) in _TRAINING_TYPES]
    new_nodes: dict[str, dict[str, Any]] = {}
    classes: dict[str, str] = {}
    for node in nodes:
        try:
            step_type, _ = library.split_node_name(node)
        except CursusError:
            old_class = types.get(node, "?")
            ctx.refused.add(
                node,
                f"node '{node}' ({old_class}): Cursus has no step type for it; remove the node "
                "from the DAG, or write the step (`cursus steps new`)",
            )
            continue
        unit = library.get(step_type)
        cls = unit.config_class
        if "__model_type__" in specific.get(node, {}):
            ctx.dropped.add(node, f"__model_type__: {DERIVED['__model_type__']}")
        values = {**shared, **_unwrap(specific.get(node, {}))}
        new = _migrate_node(node, cls, unit.spec.framework, values, ctx, bool(trainers))
        if node in data_sources:
            ctx.mapped.add(node, f"data_source = {data_sources[node]!r} (from --data-source)")
            new["data_source"] = data_sources[node]
        wants_hp = {"hyperparameter_file", "hyperparameters"} & set(values) or hyperparameters
        if wants_hp and "hyperparameters" in cls.model_fields:
            _hyperparameter_file(node, values, hyperparameters, folder, new, ctx)
        new_nodes[node] = new
        classes[node] = cls.__name__
    _spread_hyperparameter_fields(new_nodes, classes, ctx)
    _check_labels(new_nodes, ctx)
    _cradle_sources(new_nodes, classes, ctx)
    total = len(nodes)
    config = _as_file(new_nodes, classes)
    if not ctx.refused.lines:
        _, problems = _build_configs(config, "the migrated config")
        for problem in problems:
            ctx.refused.add("(file)", str(problem))
    return Migration(
        config=config,
        mapped=ctx.mapped.render(total),
        dropped=ctx.dropped.render(total),
        refused=ctx.refused.render(total),
    )


_TRAINING_TYPES = ("XGBoostTraining", "LightGBMTraining", "PyTorchTraining")


def _step_type(node: str) -> str | None:
    try:
        return step_library().split_node_name(node)[0]
    except CursusError:
        return None


def _old_parts(old: Any, source: str) -> tuple[dict, dict, dict[str, str]]:
    ok = isinstance(old, dict) and isinstance(old.get("configuration"), dict)
    configuration = old.get("configuration", {}) if ok else {}
    shared, specific = configuration.get("shared", {}), configuration.get("specific", {})
    if not ok or not isinstance(shared, dict) or not isinstance(specific, dict):
        raise ConfigError(
            f'{source}: not a config of the first system: it has {{"configuration": '
            '{"shared": {...}, "specific": {...}}, "metadata": {...}}'
        )
    types = (old.get("metadata") or {}).get("config_types") or {}
    return _unwrap(shared), specific, dict(types)


def _unwrap(value: Any) -> Any:
    """The first system's serialiser wraps lists as {"__type_info__": "list", "value": [...]}
    and tags objects with "__model_type__": plain JSON without them."""
    if isinstance(value, dict):
        if "__type_info__" in value and "value" in value:
            return _unwrap(value["value"])
        return {k: _unwrap(v) for k, v in value.items() if k != "__model_type__"}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _migrate_node(
    node: str,
    cls: type[BasePipelineConfig],
    framework: str,
    values: dict[str, Any],
    ctx: _Context,
    has_trainer: bool,
) -> dict[str, Any]:
    fields = cls.model_fields
    new: dict[str, Any] = {}

    def put(name: str, value: Any, line: str) -> None:
        if name in fields:
            new[name] = value
            ctx.mapped.add(node, line)
        else:
            ctx.dropped.add(node, f"{line.split(' ')[0]}: {cls.__name__} has no such setting")

    handlers: dict[str, Callable[[Any], None]] = {
        "region": lambda v: _region(v, put),
        "framework_version": lambda v: _framework_version(node, cls, framework, v, put, ctx),
        "processing_framework_version": lambda v: _processing_image(node, v, ctx),
        "xgboost_framework_version": lambda v: ctx.dropped.add(
            node,
            f"xgboost_framework_version {v!r}: Cursus evaluates on the training image "
            "(framework_version), so the model loads",
        ),
        "calibration_method": lambda v: _calibration_method(node, v, put, ctx),
        "score_field": lambda v: put(
            "score_field",
            SCORE_FIELDS.get(v, v),
            f"score_field {v!r} -> {SCORE_FIELDS.get(v, v)!r}",
        ),
        "framework": lambda v: _framework(node, v, has_trainer, put, ctx),
        "hyperparameter_file": lambda v: None,  # read with the node's hyperparameters
        "hyperparameters": lambda v: None,
    }
    instance = _instance_type(values)
    if instance is not None:
        put("instance_type", instance[0], instance[1])
    for key, value in values.items():
        if key in handlers:
            handlers[key](value)
        elif key in DERIVED:
            ctx.dropped.add(node, f"{key}: {DERIVED[key]}")
        elif key in SCRIPTS:
            ctx.dropped.add(node, f"{key}: Cursus runs its own step scripts")
        elif key in NO_EFFECT:
            ctx.dropped.add(node, f"{key}: {NO_EFFECT[key]}")
        elif key in OFF_ONLY:
            if value:
                ctx.refused.add(
                    node,
                    f"{key} = {value!r} {OFF_ONLY[key]}, which Cursus does not do; turn it off",
                )
            else:
                ctx.dropped.add(node, f"{key}: off")
        elif key in INSTANCE_FIELDS:
            if instance is None or not instance[1].startswith(key + " "):
                ctx.dropped.add(node, f"{key}: read into instance_type")
        elif key in RENAMED:
            put(RENAMED[key], value, f"{key} -> {RENAMED[key]} = {_short(value)}")
        elif key in SAME:
            put(key, value, f"{key} = {_short(value)}")
        else:
            ctx.refused.add(
                node,
                f"field '{key}' = {_short(value)} is not one the migration knows; set what it "
                "means in the new config by hand, or remove it from the old one",
            )
    problem_type = _problem_type(values)
    if problem_type is not None:
        put("problem_type", problem_type, f"problem_type = {problem_type!r} (from the class count)")
    return new


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _region(value: Any, put: Any) -> None:
    region = FIRST_SYSTEM_REGIONS.get(str(value).upper(), value)
    put("region", region, f"region {value!r} -> {region!r}")


def _instance_type(values: dict[str, Any]) -> tuple[str, str] | None:
    """The one instance type of a node: the training type, or the large or small processing one."""
    if "training_instance_type" in values:
        value = values["training_instance_type"]
        return value, f"training_instance_type -> instance_type = {value!r}"
    large = values.get("use_large_processing_instance")
    name = "processing_instance_type_large" if large else "processing_instance_type_small"
    if name in values:
        how = "use_large_processing_instance is " + ("true" if large else "false")
        return values[name], f"{name} -> instance_type = {values[name]!r} ({how})"
    return None


def _framework_version(
    node: str, cls: type, framework: str, value: Any, put: Any, ctx: _Context
) -> None:
    """`framework`: the node's step framework, whose images the version must name."""
    if "framework_version" not in getattr(cls, "model_fields", {}):
        ctx.dropped.add(node, f"framework_version {value!r}: this step runs on its own image")
        return
    known = [image.version for image in get_framework(framework).images]
    version = str(value)
    # the first system writes PyTorch's version in full (2.1.0); SageMaker's images say 2.1
    for candidate in known:
        if version == candidate or version.startswith(candidate + "."):
            put("framework_version", candidate, f"framework_version {value!r} -> {candidate!r}")
            return
    ctx.refused.add(
        node,
        f"framework_version {value!r}: Cursus has images for {', '.join(known)} of this "
        "framework; pick one",
    )


def _processing_image(node: str, value: Any, ctx: _Context) -> None:
    sklearn = FRAMEWORKS["sklearn"].default.version
    if str(value) == sklearn:
        ctx.dropped.add(
            node,
            f"processing_framework_version {value!r}: Cursus's processing steps run on "
            f"scikit-learn {sklearn} too",
        )
    else:
        ctx.refused.add(
            node,
            f"processing_framework_version {value!r}: Cursus's processing steps run on the "
            f"scikit-learn {sklearn} image; remove the field to accept it",
        )


def _calibration_method(node: str, value: Any, put: Any, ctx: _Context) -> None:
    method = CALIBRATION_METHODS.get(str(value).lower())
    if method is None:
        ctx.refused.add(
            node,
            f"calibration_method {value!r}: Cursus calibrates with "
            f"{', '.join(CALIBRATION_METHODS)} or percentile",
        )
        return
    put("calibration_method", method, f"calibration_method {value!r} -> {method!r}")


def _framework(node: str, value: Any, has_trainer: bool, put: Any, ctx: _Context) -> None:
    if has_trainer:
        ctx.dropped.add(node, f"framework {value!r}: the training step upstream names it")
    elif value in model_frameworks():
        put("model_framework", value, f"framework -> model_framework = {value!r}")
    else:
        ctx.refused.add(
            node, f"framework {value!r}: Cursus loads {', '.join(model_frameworks())} models"
        )


def _problem_type(values: dict[str, Any]) -> str | None:
    classes = values.get("num_classes")
    categories = values.get("multiclass_categories")
    if isinstance(categories, list) and categories:
        classes = len(categories)
    if values.get("is_binary") is True or classes == 2:
        return "binary"
    if isinstance(classes, int) and classes > 2:
        return "multiclass"
    return None


# ------------------------------------------------------------------------ hyperparameters


def _hyperparameter_file(
    node: str,
    values: dict[str, Any],
    given: dict[str, Any] | None,
    folder: Path | None,
    new: dict[str, Any],
    ctx: _Context,
) -> None:
    where = values.get("hyperparameter_file")
    hp, read_from = given, "--hyperparameters"
    if hp is None and where and "://" not in str(where) and folder is not None:
        path = folder / str(where)
        if path.is_file():
            hp, read_from = read_json_file(path, ConfigError, "hyperparameter file"), str(path)
    if hp is None:
        inline = values.get("hyperparameters")
        hp, read_from = (_unwrap(inline), "the file") if isinstance(inline, dict) else (None, "")
    if hp is not None and where:
        ctx.mapped.add(node, f"hyperparameter_file -> hyperparameters (read from {read_from})")
    if hp is None:
        ctx.refused.add(
            node,
            f"hyperparameter_file {where!r} is not readable here; copy it next to the config "
            "(aws s3 cp) and pass it with --hyperparameters FILE",
        )
        return
    step_type = _step_type(node)
    if step_type != "XGBoostTraining":
        ctx.refused.add(
            node,
            f"the first system's {step_type} hyperparameters are not mapped yet; set this "
            f"node's hyperparameters by hand (`cursus steps show {step_type}` lists them)",
        )
        return
    new["hyperparameters"], extra = _xgboost_hyperparameters(node, hp, ctx)
    new["_data_fields"] = extra  # spread over the nodes that read them


def _xgboost_hyperparameters(
    node: str, hp: dict[str, Any], ctx: _Context
) -> tuple[dict[str, Any], dict[str, Any]]:
    ours: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in hp.items():
        if key in XGB_SAME:
            ours[key] = value
            ctx.mapped.add(node, f"hyperparameters.{key} = {_short(value)}")
        elif key == "early_stopping_rounds":
            ours[key] = 0 if value is None else value
            note = " (null: never stop early)" if value is None else ""
            ctx.mapped.add(node, f"hyperparameters.{key} = {ours[key]}{note}")
        elif key == "seed":
            if value is not None:
                ours[key] = value
                ctx.mapped.add(node, f"hyperparameters.seed = {value}")
            else:
                ctx.dropped.add(node, "hyperparameters.seed: null, XGBoost's default seed 0")
        elif key in XGB_DEFAULTS:
            if value == XGB_DEFAULTS[key] or (value is None and XGB_DEFAULTS[key] is None):
                ctx.dropped.add(
                    node, f"hyperparameters.{key}: {_short(value)} is XGBoost's default"
                )
            else:
                ctx.refused.add(
                    node,
                    f"hyperparameters.{key} = {_short(value)}: Cursus's XGBoostTraining takes "
                    f"only {', '.join(XGB_SAME)}, early_stopping_rounds and seed",
                )
        elif key == "class_weights":
            if isinstance(value, list) and len(set(value)) <= 1:
                ctx.dropped.add(node, "hyperparameters.class_weights: all equal, no weighting")
            else:
                ctx.refused.add(
                    node, f"hyperparameters.class_weights = {value}: Cursus does not weight classes"
                )
        elif key in ("label_name", "id_name"):
            data[RENAMED[key]] = value
        elif key in ("cat_field_list", "tab_field_list"):
            data[key] = json.loads(value) if isinstance(value, str) else value
        elif key in ("is_binary", "num_classes", "multiclass_categories"):
            data[key] = value
        elif key == "categorical_features_to_encode":
            if value:  # spread with cat_field_list, where the mapping is printed
                data["cat_field_list_extra"] = value
            else:
                ctx.dropped.add(node, "hyperparameters.categorical_features_to_encode: empty")
        elif key in NOT_XGBOOST:
            ctx.dropped.add(node, f"hyperparameters.{key}: not used by XGBoost training")
        else:
            ctx.refused.add(
                node,
                f"hyperparameters.{key} = {_short(value)} is not one the migration knows; set "
                "what it means by hand, or remove it",
            )
    return ours, data


def _spread_hyperparameter_fields(
    nodes: dict[str, dict[str, Any]], classes: dict[str, str], ctx: _Context
) -> None:
    """The first system kept the label, id and feature lists in the hyperparameter file; Cursus
    keeps them on the nodes that read them."""
    for node, values in list(nodes.items()):
        data = values.pop("_data_fields", None)
        if not data:
            continue
        for name in ("label_field", "id_field"):
            if name in data:
                for other_values in nodes.values():
                    other_values.setdefault(name, data[name])
                ctx.mapped.add("(file)", f"{name} = {data[name]!r} (from {node}'s hyperparameters)")
        problem_type = _problem_type(data)
        if problem_type:
            for other_values in nodes.values():
                other_values.setdefault("problem_type", problem_type)
        categorical = list(data.get("cat_field_list", [])) + list(
            data.get("cat_field_list_extra", [])
        )
        features = list(data.get("tab_field_list", [])) + categorical
        lists = (
            ("categorical_columns", categorical, "cat_field_list"),
            ("feature_columns", features, "tab_field_list + cat_field_list"),
        )
        for other, other_values in nodes.items():
            if classes[other] != "TabularPreprocessingConfig":
                continue
            for name, columns, source in lists:
                if columns:
                    other_values.setdefault(name, columns)
                    ctx.mapped.add(
                        other,
                        f"{name} = {len(columns)} columns ({source} of {node}'s hyperparameters)",
                    )


def _check_labels(nodes: dict[str, dict[str, Any]], ctx: _Context) -> None:
    labels = {v["label_field"] for v in nodes.values() if "label_field" in v}
    if len(labels) > 1:
        ctx.refused.add(
            "(file)",
            f"the nodes name different labels ({', '.join(sorted(labels))}); a pipeline learns "
            "one: make them agree in the old file",
        )
    elif labels:
        label = labels.pop()
        for values in nodes.values():
            values.setdefault("label_field", label)


def _cradle_sources(
    nodes: dict[str, dict[str, Any]], classes: dict[str, str], ctx: _Context
) -> None:
    for node, values in nodes.items():
        if classes[node] == "CradleDataLoadingConfig" and not values.get("data_source"):
            ctx.refused.add(
                node,
                f"node '{node}' loads data with a Cradle job, an internal service Cursus cannot "
                f"call; give the data that job writes with --data-source {node}=s3://...",
            )


def _as_file(nodes: dict[str, dict[str, Any]], classes: dict[str, str]) -> dict[str, Any]:
    """Our file: a value goes under "shared" when every node whose class has the field holds it
    (shared values reach only the classes that have the field)."""
    library_classes = step_library().config_classes()
    candidates = {k for values in nodes.values() for k in values}
    shared: dict[str, Any] = {}
    for name in sorted(candidates):
        holders = [n for n in nodes if name in library_classes[classes[n]].model_fields]
        present = [nodes[n].get(name, _MISSING) for n in holders]
        if len(holders) > 1 and all(v is not _MISSING and v == present[0] for v in present):
            shared[name] = present[0]
    specific = {
        node: {k: v for k, v in values.items() if k not in shared} for node, values in nodes.items()
    }
    return {
        "configuration": {"shared": shared, "specific": specific},
        "metadata": {"config_types": dict(classes)},
    }


_MISSING = object()
