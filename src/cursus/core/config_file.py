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
from cursus.errors import ConfigError, CursusError, ValidationFailed, describe_validation_error
from cursus.files import read_json_file
from cursus.steps.configs import BasePipelineConfig, oversized_value
from cursus.steps.library import get_step_unit, split_node_name, step_library

Configs = dict[str, BasePipelineConfig]


def read_config_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    data = read_json_file(
        path, ConfigError, "config file", f"create one with `cursus config init DAG -o {path}`"
    )
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
    for node, class_name in data["metadata"]["config_types"].items():
        if not isinstance(class_name, str):
            raise ConfigError(
                f'{path}: "metadata.config_types.{node}" is {class_name!r}; it must name a config '
                'class, e.g. "XGBoostTrainingConfig"'
            )


def load_configs(path: str | Path, dag: PipelineDAG | None = None) -> Configs:
    """Build every node's config object; all problems are reported together."""
    configs, problems, broken = read_configs(path)
    if dag is not None:
        problems += check_configs_cover_dag(configs, dag, str(path), skip=broken)
    if problems:
        raise problems[0] if len(problems) == 1 else ValidationFailed(problems)
    return configs


def read_configs(path: str | Path) -> tuple[Configs, list[CursusError], set[str]]:
    """The configs that build, the problems of the file, and the nodes whose config failed.

    For a validator that goes on to check the DAG with what did build; a file of the wrong shape
    is still an error raised at once.
    """
    data = read_config_json(path)
    configs, problems = _build_configs(data, str(path))
    return configs, problems, set(data["metadata"]["config_types"]) - set(configs)


def _build_configs(data: dict[str, Any], source: str) -> tuple[Configs, list[CursusError]]:
    shared: dict[str, Any] = data["configuration"].get("shared", {})
    specific: dict[str, dict[str, Any]] = data["configuration"].get("specific", {})
    types: dict[str, str] = data["metadata"]["config_types"]
    problems: list[CursusError] = []
    for node in specific:
        if node not in types:
            step_type, _ = _split_or_none(node)
            example = get_step_unit(step_type).config_class.__name__ if step_type else "<Class>"
            problems.append(
                ConfigError(
                    f"{source}: node '{node}' has values under \"specific\" but no entry in "
                    f'"metadata.config_types"; add "{node}": "{example}" there'
                )
            )
    all_fields = step_library().config_fields()
    for name in shared:
        if name not in all_fields:
            problems.append(
                ConfigError(
                    f"{source}: shared field '{name}' is not a field of any config class"
                    f"{_hint(name, all_fields) or '; remove it'}"
                )
            )
    configs: Configs = {}
    # an unknown field several nodes carry (a file another tool wrote may repeat its own metadata
    # in every node) is one line naming the nodes, not one line per node
    unknown: dict[str, list[tuple[str, str, str, str | None]]] = {}
    value_problems: list[CursusError] = []
    reported: set[str] = set()
    for node, class_name in types.items():
        config, node_unknown, node_problems = _build_one(
            node, class_name, shared, specific.get(node, {}), source
        )
        step_type, _ = _split_or_none(node)
        for name, hint in node_unknown:
            unknown.setdefault(name, []).append((node, hint, class_name, step_type))
        for problem in node_problems:
            if str(problem) not in reported:  # a bad shared value fails every node the same way
                reported.add(str(problem))
                value_problems.append(problem)
        if config is not None:
            configs[node] = config
    for name, found_in in unknown.items():
        problems.append(_unknown_field_problem(source, name, found_in))
    problems += value_problems
    first_system = _first_system_fields(set(unknown) | (set(shared) - all_fields))
    if first_system:
        problems.append(
            ConfigError(
                f"{source}: {len(first_system)} of these fields are the first system's "
                f"({', '.join(first_system[:4])}{', ...' if len(first_system) > 4 else ''}); "
                f"`cursus migrate config {source} -o NEW.json` maps them"
            )
        )
    return configs, problems


def _first_system_fields(names: set[str]) -> list[str]:
    """The names among `names` that the migration of first-system configs knows."""
    from cursus.core import migrate

    known = {*migrate.DERIVED, *migrate.SCRIPTS, *migrate.NO_EFFECT, *migrate.OFF_ONLY}
    known |= {*migrate.RENAMED, *migrate.INSTANCE_FIELDS, "hyperparameter_file"}
    return sorted(names & known)


def _build_one(
    node: str, class_name: str, shared: dict[str, Any], own: dict[str, Any], source: str
) -> tuple[BasePipelineConfig | None, list[tuple[str, str]], list[CursusError]]:
    """The node's config (None when anything is wrong), its unknown fields as (field, hint), and
    every other problem of its values: all of them, not only the first."""
    step_type, node_job_type = _split_or_none(node)
    cls = step_library().config_classes().get(class_name)
    if cls is None:
        fix = (
            f"; step type {step_type} uses '{get_step_unit(step_type).config_class.__name__}'"
            if step_type
            else _hint(class_name, step_library().config_classes())
            or f"; use one of: {', '.join(step_library().config_classes())}"
        )
        problem = ConfigError(
            f"{source}: node '{node}' names config class '{class_name}', which does not exist{fix}"
        )
        return None, [], [problem]
    fields = cls.model_fields
    unknown = [(k, _hint(k, fields)) for k in own if k not in fields]
    # the known values are still checked, so one run shows the bad values beside the unknown fields
    values = {k: v for k, v in shared.items() if k in fields}
    values |= {k: v for k, v in own.items() if k in fields}
    if values.get("job_type") is None and node_job_type:
        values["job_type"] = node_job_type
    problems: list[CursusError] = []
    for name in list(values):
        oversized = oversized_value(name, values[name])
        if oversized:  # said once, as "shared" when it came from there; not validated further
            where = "shared" if name in shared and name not in own else f"node '{node}',"
            problems.append(ConfigError(f"{source}: {where} {oversized}"))
            del values[name]
    try:
        config = cls.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors()
        for err in errors:
            field = err["loc"][0] if err["loc"] else None
            where = "shared" if field in shared and field not in own else f"node '{node}',"
            problems.append(ConfigError(f"{source}: {where} {describe_validation_error(err)}"))
        job_type = values.get("job_type")
        if isinstance(job_type, str) and not any(e["loc"][:1] == ("job_type",) for e in errors):
            mismatch = _job_type_mismatch(node, job_type, node_job_type, source)
            if mismatch:
                problems.append(mismatch)
        return None, unknown, problems
    mismatch = _job_type_mismatch(node, config.job_type, node_job_type, source)
    if mismatch:
        problems.append(mismatch)
    return (None if unknown or problems else config), unknown, problems


def _unknown_field_problem(
    source: str, name: str, found_in: list[tuple[str, str, str, str | None]]
) -> ConfigError:
    """One line for an unknown field, naming every node that has it under "specific".

    `found_in` holds (node, hint, class name, step type) for each node."""
    if len(found_in) == 1:
        node, hint, class_name, step_type = found_in[0]
        fix = hint or (
            f"; remove it (`cursus steps show {step_type}` lists the fields)"
            if step_type
            else "; remove it"
        )
        return ConfigError(f"{source}: node '{node}': unknown field '{name}' for {class_name}{fix}")
    nodes = ", ".join(f"'{node}'" for node, _, _, _ in found_in)
    hints = {hint for _, hint, _, _ in found_in}
    if hints == {""}:
        fix = "; remove it from each of them"
    elif len(hints) == 1:
        fix = hints.pop()
    else:  # a close match differs by class: name it for each node that has one
        close = ", ".join(
            f"in '{node}' '{_close(name, step_library().config_classes()[class_name].model_fields)}'"
            for node, hint, class_name, _ in found_in
            if hint
        )
        fix = f"; did you mean: {close}? (otherwise remove it)"
    return ConfigError(f"{source}: unknown field '{name}' in {len(found_in)} nodes ({nodes}){fix}")


def _job_type_mismatch(
    node: str, job_type: str | None, node_job_type: str | None, source: str
) -> ConfigError | None:
    if node_job_type and job_type not in (None, node_job_type):
        return ConfigError(
            f"{source}: node '{node}', field 'job_type' is '{job_type}' but the node name says "
            f"'{node_job_type}'; make them agree (or leave job_type unset)"
        )
    return None


def _split_or_none(node: str) -> tuple[str | None, str | None]:
    try:
        return split_node_name(node)
    except CursusError:
        return None, None


def check_configs_cover_dag(
    configs: Configs, dag: PipelineDAG, source: str, skip: set[str] | frozenset[str] = frozenset()
) -> list[CursusError]:
    """Every DAG node needs a config of its step type's class whose job_type fits the node name.

    Nodes in `skip` have a config that failed to build and was reported already.
    """
    problems: list[CursusError] = []
    library = step_library()
    for node in dag.nodes:
        if node in skip:
            continue
        try:
            step_type, job_type = library.split_node_name(node)
        except CursusError as exc:
            problems.append(exc)
            continue
        expected = library.get(step_type).config_class
        config = configs.get(node)
        if config is None:
            strays = [n for n in configs if n not in dag]
            close = difflib.get_close_matches(node, strays, n=1)
            fix = (
                f"is '{close[0]}' in the config meant to be '{node}'?"
                if close
                else f"add it to \"metadata.config_types\" as '{expected.__name__}' (or run "
                "`cursus config init` to write one)"
            )
            problems.append(ConfigError(f"{source}: DAG node '{node}' has no config; {fix}"))
        elif not isinstance(config, expected):
            problems.append(
                ConfigError(
                    f"{source}: node '{node}' is configured as {type(config).__name__} but step type "
                    f'{step_type} needs {expected.__name__}; change it in "metadata.config_types"'
                )
            )
        elif mismatch := _job_type_mismatch(node, config.job_type, job_type, source):
            problems.append(mismatch)
    return problems


def _close(name: str, choices: Any) -> str | None:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return close[0] if close else None


def _hint(name: str, choices: Any) -> str:
    close = _close(name, choices)
    return f"; did you mean '{close}'?" if close else ""


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
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(dump_configs(configs))
        tmp.replace(path)  # all or nothing: a reader never sees half a file
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write the config ({exc.strerror}); choose a writable path"
        ) from None
    return path


def default_configs(dag: PipelineDAG, **shared: Any) -> Configs:
    """A complete config for every node of `dag`, on defaults that run on the bundled sample data."""
    all_fields = step_library().config_fields()
    for name in shared:
        if name not in all_fields:
            raise ConfigError(
                f"'{name}' is not a field of any config class"
                f"{_hint(name, all_fields) or '; remove it'}"
            )
    configs: Configs = {}
    library = step_library()
    for node in dag.nodes:
        step_type, job_type = library.split_node_name(node)
        cls = library.get(step_type).config_class
        values = {k: v for k, v in shared.items() if k in cls.model_fields}
        # written out, these configs name the sample's label: as loaded back, they name it here
        values.setdefault("label_field", cls.model_fields["label_field"].default)
        try:
            configs[node] = cls(**{"job_type": job_type, **values})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = "shared value" if err["loc"] and err["loc"][0] in shared else f"node '{node}',"
            raise ConfigError(f"{where} {describe_validation_error(err)}") from None
    return configs
