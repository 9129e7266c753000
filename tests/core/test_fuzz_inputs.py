"""Property: whatever a config file, a DAG file or an execution document holds, `cursus validate`,
`cursus compile`, `cursus exec-doc validate` and `cursus run` succeed or exit 2 with one error line
and its problems (a run may also fail a step, exit 1, naming it); never a traceback, never another
exit code.

hypothesis mutates a real config, a real DAG and a real execution document (values replaced by any
JSON, keys added or dropped, whole sections swapped) and also writes wholly random JSON and bytes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cursus.api.loading import load_dag
from cursus.cli.main import cli
from cursus.core.config_file import configs_to_dict, default_configs

DAG = load_dag("xgboost_simple")
GOOD_CONFIG = configs_to_dict(default_configs(DAG))
GOOD_DAG = json.loads(DAG.to_json())
NODES = [*DAG.nodes, "XGBoostTraining_x", "Nope", "", "DataLoading_calibration", "a" * 300]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["label_field", "data_source", "region", "random_seed", "hyperparameters", "job_type",
     "instance_type", "retries", "input_bindings", "pipeline_name", "problem_type", "colour",
     "feature_columns", "num_round", "label_name", "__model_type__"]
)  # fmt: skip


@st.composite
def mutated_config(draw: Any) -> Any:
    data = json.loads(json.dumps(GOOD_CONFIG))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["shared", "specific", "types", "top", "hp"]))
        if where != "top" and not _still_shaped(data):
            continue  # an earlier draw replaced the section this one would edit
        if where == "shared":
            data["configuration"]["shared"][draw(field_names)] = draw(json_values)
        elif where == "specific":
            node = draw(st.sampled_from(NODES))
            body = data["configuration"]["specific"].setdefault(node, {})
            if isinstance(body, dict):
                body[draw(field_names)] = draw(json_values)
        elif where == "types":
            data["metadata"]["config_types"][draw(st.sampled_from(NODES))] = draw(
                st.sampled_from(["XGBoostTrainingConfig", "NoSuchConfig"]) | json_values
            )
        elif where == "hp":
            hp = data["configuration"]["specific"]["XGBoostTraining"]["hyperparameters"]
            hp[draw(st.sampled_from(["num_round", "eta", "seed", "etaa"]))] = draw(json_values)
        else:
            section = draw(st.sampled_from(["configuration", "metadata"]))
            data[section] = draw(json_values)
    return data


def _still_shaped(data: dict[str, Any]) -> bool:
    try:
        configuration, specific = data["configuration"], data["configuration"]["specific"]
        return all(
            isinstance(part, dict)
            for part in (
                configuration["shared"],
                specific,
                data["metadata"]["config_types"],
                specific["XGBoostTraining"]["hyperparameters"],
            )
        )
    except (KeyError, TypeError):
        return False


@st.composite
def mutated_dag(draw: Any) -> Any:
    data = json.loads(json.dumps(GOOD_DAG))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        data["dag"]["nodes"] = draw(st.lists(st.sampled_from(NODES), max_size=6))
    elif choice == 1:
        data["dag"]["edges"] = draw(
            st.lists(st.lists(st.sampled_from(NODES), min_size=0, max_size=3), max_size=5)
        )
    elif choice == 2:
        data["dag"] = draw(json_values)
    return data


def validate(config: str, dag: str) -> tuple[int, str, BaseException | None]:
    with tempfile.TemporaryDirectory() as folder:
        config_path, dag_path = Path(folder) / "config.json", Path(folder) / "dag.json"
        config_path.write_text(config)
        dag_path.write_text(dag)
        result = CliRunner().invoke(cli, ["validate", str(dag_path), "-c", str(config_path)])
    return result.exit_code, result.output, result.exception


def assert_clean(code: int, output: str, exception: BaseException | None) -> None:
    event(f"exit {code}")
    assert "Traceback" not in output, output
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert code in (0, 2), (code, output)
    lines = output.splitlines()
    if code == 2:
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1, output
        after = lines[lines.index(errors[0]) + 1 :]
        assert all(line.startswith("  - ") for line in after), output
    else:
        assert any(line.startswith("ok: ") for line in lines), output


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _with_binding_named(name: str) -> dict[str, Any]:
    data = json.loads(json.dumps(GOOD_CONFIG))
    data["configuration"]["shared"]["input_bindings"] = {name: None}
    return data


@FUZZ
@given(config=mutated_config(), dag=mutated_dag())
# found by this test in CI: a field named "\x85" (NEL) split an error line, as \u2028 would
@example(config=_with_binding_named("\x85"), dag=GOOD_DAG)
@example(config=_with_binding_named("a\u2028b"), dag=GOOD_DAG)
def test_any_mutation_of_a_config_and_a_dag_is_validated_cleanly(config: Any, dag: Any) -> None:
    assert_clean(*validate(json.dumps(config), json.dumps(dag)))


@FUZZ
@given(config=json_values | st.text(max_size=40), dag=json_values | st.text(max_size=40))
def test_random_json_or_text_as_either_file_is_validated_cleanly(config: Any, dag: Any) -> None:
    as_text = [v if isinstance(v, str) else json.dumps(v) for v in (config, dag)]
    assert_clean(*validate(*as_text))


# ---------------------------------------------------------------------- compile, exec-doc, run


def invoke(args: list[str], files: dict[str, str]) -> tuple[int, str, BaseException | None]:
    """`cursus ARGS` with `files` (name -> text) written to a temporary folder; '@name' in ARGS
    becomes the path of that file (or of a new one in the folder)."""
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            (Path(folder) / name).write_text(text)
        argv = [str(Path(folder) / a[1:]) if a.startswith("@") else a for a in args]
        result = CliRunner().invoke(cli, argv)
    return result.exit_code, result.output, result.exception


def assert_refused_or_done(code: int, output: str, exception: BaseException | None) -> None:
    """Success, or exit 2 with one `error:` line (and its `  - ` problems): never a traceback."""
    event(f"exit {code}")
    assert "Traceback" not in output, output
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert code in (0, 2), (code, output)
    if code == 2:
        lines = output.splitlines()
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1, output
        assert all(line.startswith("  - ") for line in lines[lines.index(errors[0]) + 1 :])


SOME = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SOME
@given(config=mutated_config(), dag=mutated_dag())
def test_compile_to_a_plan_succeeds_or_refuses_cleanly(config: Any, dag: Any) -> None:
    files = {"config.json": json.dumps(config), "dag.json": json.dumps(dag)}
    code, output, exception = invoke(
        ["compile", "@dag.json", "-c", "@config.json", "-o", "@plan.json"], files
    )
    assert_refused_or_done(code, output, exception)


def _good_document() -> dict[str, Any]:
    from cursus.core.compiler import PipelineDAGCompiler
    from cursus.core.config_file import save_configs
    from cursus.mods.exec_doc import generate_execution_document

    with tempfile.TemporaryDirectory() as folder:
        path = save_configs(default_configs(DAG), Path(folder) / "config.json")
        return generate_execution_document(PipelineDAGCompiler(path).compile_to_plan(DAG))


GOOD_DOCUMENT = _good_document()
DOCUMENT_KEYS = ["STEP_CONFIG", "STEP_TYPE", "PIPELINE_STEP_CONFIGS", "PIPELINE_ADDITIONAL_PARAMS",
                 "label_field", "num_round", "instance_type", "XGBoostTraining", "Nope"]  # fmt: skip


@st.composite
def mutated_document(draw: Any) -> Any:
    """An execution document with values replaced, keys added and steps renamed, at any depth."""
    data = json.loads(json.dumps(GOOD_DOCUMENT))
    for _ in range(draw(st.integers(1, 4))):
        target, path = data, []
        while isinstance(target, dict) and target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target)))
            path.append(key)
            target = target[key]
        if not path:
            return draw(json_values) if draw(st.booleans()) else data
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            parent[path[-1]] = draw(json_values)
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(DOCUMENT_KEYS))] = draw(json_values)
    return data


@SOME
@given(document=mutated_document())
def test_an_execution_document_is_validated_cleanly(document: Any) -> None:
    files = {"doc.json": json.dumps(document), "config.json": json.dumps(GOOD_CONFIG),
             "dag.json": json.dumps(GOOD_DAG)}  # fmt: skip
    code, output, exception = invoke(
        ["exec-doc", "validate", "@doc.json", "--dag", "@dag.json", "-c", "@config.json"], files
    )
    assert_refused_or_done(code, output, exception)


RUN_WORKSPACE = tempfile.mkdtemp(prefix="cursus-fuzz-run-")  # shared: unchanged steps are cached


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=mutated_config(), dag=mutated_dag())
@example(config=GOOD_CONFIG, dag=GOOD_DAG)  # the mutations almost never leave a runnable pair
def test_run_succeeds_fails_a_step_or_refuses_cleanly(config: Any, dag: Any) -> None:
    """A run may also end with a failed step (exit 1), which it names; never a traceback."""
    files = {"config.json": json.dumps(config), "dag.json": json.dumps(dag)}
    code, output, exception = invoke(
        ["run", "@dag.json", "-c", "@config.json", "--workspace", RUN_WORKSPACE,
         "--no-tracking", "--quiet", "--workers", "1"],
        files,
    )  # fmt: skip
    if code == 1:
        event("exit 1")
        assert "Traceback" not in output, output
        assert exception is None or isinstance(exception, SystemExit), repr(exception)
        assert "failed" in output, output
        return
    assert_refused_or_done(code, output, exception)
