"""Read and write the one JSON file that holds every node's config.

Shape: {"configuration": {"shared": {...}, "specific": {"<node>": {...}}},
        "metadata": {"config_types": {"<node>": "<ConfigClass>"}}}
Fields equal across all nodes are written once under "shared"; a node's own values under
"specific" win over shared ones.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cursus.api.dag import PipelineDAG
from cursus.errors import ConfigError, CursusError, ValidationFailed
from cursus.steps.configs import CONFIG_CLASSES, BasePipelineConfig
from cursus.steps.registry import get_step_type, split_node_name

Configs = dict[str, BasePipelineConfig]


def read_config_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file; create one with `cursus config init DAG -o {path}`"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    _check_shape(data, path)
    return data


def _check_shape(data: Any, path: Path | str) -> None:
    expected = (
        '{"configuration": {"shared": {...}, "specific": {"<node>": {...}}}, '
        '"metadata": {"config_types": {"<node>": "<ConfigClass>"}}}'
    )
    ok = (
        isinstance(data, dict)
        and isinstance(data.get("configuration"), dict)
        and isinstance(data["configuration"].get("shared", {}), dict)
        and isinstance(data["configuration"].get("specific", {}), dict)
        and isinstance(data.get("metadata"), dict)
        and isinstance(data["metadata"].get("config_types"), dict)
    )
    if not ok:
        raise ConfigError(f"{path}: wrong shape; a config file looks like {expected}")
    for node, body in data["configuration"].get("specific", {}).items():
        if not isinstance(body, dict):
            raise ConfigError(
                f'{path}: "configuration.specific.{node}" must be an object of field values'
            )


def load_configs(path: str | Path, dag: PipelineDAG | None = None) -> Configs:
    """Build every node's config object; all problems are reported together."""
    data = read_config_json(path)
    configs, problems = _build_configs(data, str(path))
    if dag is not None:
        problems += check_configs_cover_dag(configs, dag, str(path))
    if problems:
        raise problems[0] if len(problems) == 1 else ValidationFailed(problems)
    return configs


def _build_configs(data: dict[str, Any], source: str) -> tuple[Configs, list[CursusError]]:
    shared: dict[str, Any] = data["configuration"].get("shared", {})
    specific: dict[str, dict[str, Any]] = data["configuration"].get("specific", {})
    types: dict[str, str] = data["metadata"]["config_types"]
    problems: list[CursusError] = []
    for node in specific:
        if node not in types:
            problems.append(
                ConfigError(
                    f'{source}: node \'{node}\' has values under "specific" but no entry in "metadata.config_types"'
                )
            )
    all_fields = {f for cls in CONFIG_CLASSES.values() for f in cls.model_fields}
    for name in shared:
        if name not in all_fields:
            problems.append(
                ConfigError(
                    f"{source}: shared field '{name}' is not a field of any config class{_hint(name, all_fields)}"
                )
            )
    configs: Configs = {}
    for node, class_name in types.items():
        try:
            configs[node] = _build_one(node, class_name, shared, specific.get(node, {}), source)
        except CursusError as exc:
            problems.append(exc)
    return configs, problems


def _build_one(
    node: str, class_name: str, shared: dict[str, Any], own: dict[str, Any], source: str
) -> BasePipelineConfig:
    cls = CONFIG_CLASSES.get(class_name)
    if cls is None:
        raise ConfigError(
            f"{source}: node '{node}' names config class '{class_name}', which does not exist{_hint(class_name, CONFIG_CLASSES)}"
        )
    fields = cls.model_fields
    unknown = [k for k in own if k not in fields]
    if unknown:
        name = unknown[0]
        raise ConfigError(
            f"{source}: node '{node}': unknown field '{name}' for {class_name}{_hint(name, fields)}"
        )
    values = {k: v for k, v in shared.items() if k in fields} | own
    _, node_job_type = _split_or_none(node)
    if values.get("job_type") is None and node_job_type:
        values["job_type"] = node_job_type
    try:
        config = cls.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        got = (
            f" (got {err['input']!r})"
            if "input" in err and not isinstance(err["input"], dict)
            else ""
        )
        raise ConfigError(f"{source}: node '{node}', field '{field}': {err['msg']}{got}") from None
    if node_job_type and config.job_type != node_job_type:
        raise ConfigError(
            f"{source}: node '{node}', field 'job_type' is '{config.job_type}' but the node name says "
            f"'{node_job_type}'; make them agree"
        )
    return config


def _split_or_none(node: str) -> tuple[str | None, str | None]:
    try:
        return split_node_name(node)
    except CursusError:
        return None, None


def check_configs_cover_dag(configs: Configs, dag: PipelineDAG, source: str) -> list[CursusError]:
    """Every DAG node needs a config of its step type's class."""
    problems: list[CursusError] = []
    for node in dag.nodes:
        try:
            step_type, _ = split_node_name(node)
        except CursusError as exc:
            problems.append(exc)
            continue
        expected = get_step_type(step_type).config_class
        config = configs.get(node)
        if config is None:
            problems.append(
                ConfigError(
                    f"{source}: DAG node '{node}' has no config; add it to \"metadata.config_types\" as "
                    f"'{expected.__name__}' (or run `cursus config init` to write one)"
                )
            )
        elif not isinstance(config, expected):
            problems.append(
                ConfigError(
                    f"{source}: node '{node}' is configured as {type(config).__name__} but step type "
                    f"{step_type} needs {expected.__name__}"
                )
            )
    return problems


def _hint(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


# ---------------------------------------------------------------- writing


def configs_to_dict(configs: Configs) -> dict[str, Any]:
    dumped = {node: cfg.model_dump(mode="json") for node, cfg in configs.items()}
    shared: dict[str, Any] = {}
    if len(dumped) > 1:
        first, *rest = dumped.values()
        shared = {k: v for k, v in first.items() if all(k in d and d[k] == v for d in rest)}
    specific = {node: {k: v for k, v in d.items() if k not in shared} for node, d in dumped.items()}
    return {
        "configuration": {"shared": shared, "specific": specific},
        "metadata": {"config_types": {node: type(cfg).__name__ for node, cfg in configs.items()}},
    }


def dump_configs(configs: Configs) -> str:
    return json.dumps(configs_to_dict(configs), indent=2, sort_keys=True) + "\n"


def save_configs(configs: Configs, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump_configs(configs))
    tmp.replace(path)
    return path


def default_configs(dag: PipelineDAG, **shared: Any) -> Configs:
    """A complete config for every node of `dag`, on defaults that run on the bundled sample data."""
    all_fields = {f for cls in CONFIG_CLASSES.values() for f in cls.model_fields}
    for name in shared:
        if name not in all_fields:
            raise ConfigError(
                f"'{name}' is not a field of any config class{_hint(name, all_fields)}"
            )
    configs: Configs = {}
    for node in dag.nodes:
        step_type, job_type = split_node_name(node)
        cls = get_step_type(step_type).config_class
        values = {k: v for k, v in shared.items() if k in cls.model_fields}
        try:
            configs[node] = cls(**{"job_type": job_type, **values})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                f"node '{node}', field '{field}': {err['msg']} (got {err.get('input')!r})"
            ) from None
    return configs
