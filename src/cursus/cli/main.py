"""`cursus` command line. Heavy libraries are imported inside the commands that need them, so
`cursus --help` stays fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cursus.cli.output import ctrl_c_ends_the_run, write_or_print
from cursus.errors import CursusError, ValidationFailed


class CursusGroup(click.Group):
    """Turns a CursusError into a short message and exit code 2 instead of a traceback.

    `parts`: top-level command name -> the modules whose `register(cli)` add it. A part's module
    is imported when one of its commands is asked for (or listed, by --help), so `cursus run`
    imports none of the other parts' code."""

    def __init__(self, *args: Any, parts: dict[str, tuple[str, ...]] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.parts = dict(parts or {})
        self._loaded: set[str] = set()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.parts})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self.load_part(cmd_name)
        return self.commands.get(cmd_name)

    def load_part(self, cmd_name: str) -> None:
        """Import the modules that add command `cmd_name` (nothing for an unknown name)."""
        import importlib

        for module in self.parts.get(cmd_name, ()):
            if module not in self._loaded:
                self._loaded.add(module)
                importlib.import_module(module).register(self)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationFailed as exc:
            click.echo(f"error: {len(exc.problems)} problem(s):", err=True)
            for problem in exc.problems:
                click.echo(f"  - {one_line(str(problem))}", err=True)
            ctx.exit(exc.exit_code)
        except CursusError as exc:
            click.echo(f"error: {one_line(str(exc), keep_newlines=True)}", err=True)
            ctx.exit(exc.exit_code)


# C0 and C1 controls, and the Unicode line and paragraph separators: str.splitlines() and
# terminals break lines at \x85, \u2028 and \u2029 too
_CONTROL = (
    {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160))}
    | {0x2028: "\\u2028", 0x2029: "\\u2029"}
    | {13: "\\r", 9: "\\t", 10: "\\n"}
)


def one_line(text: str, keep_newlines: bool = False) -> str:
    """`text` with control characters written out (a name from a user's file may hold a carriage
    return, which would break the one-problem-per-line output)."""
    table = {k: v for k, v in _CONTROL.items() if not (keep_newlines and k == 10)}
    return text.translate(table)


# Each part of Cursus with commands of its own keeps them in its own module, which defines
# `register(cli)` and imports nothing heavy at module level; it is imported when one of its
# commands is used. tests/cli/test_cli_parts.py checks that this table names what each adds.
PARTS: dict[str, tuple[str, ...]] = {
    "models": ("cursus.cli.mlops",),
    "mlops": ("cursus.cli.mlops",),
    "data": ("cursus.cli.serving",),
    "monitor": ("cursus.cli.serving",),
    "serve": ("cursus.cli.serving",),
    "deploy": ("cursus.cli.serving",),
    "deployments": ("cursus.cli.serving",),
    "sagemaker": ("cursus.cli.sagemaker", "cursus.cli.emulate"),  # emulate adds to its group
    "catalog": ("cursus.cli.catalog",),
    "exec-doc": ("cursus.cli.mods",),
    "step": ("cursus.cli.steprun",),
    "migrate": ("cursus.cli.migrate",),
}


@click.group(cls=CursusGroup, parts=PARTS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cursus-ml-pipelines", prog_name="cursus")
@click.option(
    "--steps",
    "step_folders",
    multiple=True,
    type=click.Path(file_okay=False),
    help="a folder of step units (*.step.yaml) to use besides the bundled ones [$CURSUS_STEPS_PATH]",
)
def cli(step_folders: tuple[str, ...]) -> None:
    """Cursus: a DAG of ML step names plus one JSON config becomes a validated, runnable pipeline.

    DAG arguments take a .json file, a .py file defining create_dag(), or a bundled DAG name
    (xgboost_e2e, xgboost_simple, pytorch_e2e). Step types come from the bundled library,
    installed distributions (entry points `cursus.steps`), $CURSUS_STEPS_PATH, --steps DIR and
    the steps/ folder beside a DAG file.
    """
    if step_folders:
        from cursus.steps.library import use_step_folders

        use_step_folders(*step_folders)


def _load(dag_ref: str, config: str | None = None) -> tuple[Any, Any]:
    from cursus.api.loading import load_dag
    from cursus.core.config_file import load_configs

    dag = load_dag(dag_ref)
    return dag, (load_configs(config) if config else None)


CONFIG_OPTION = click.option(
    "-c", "--config", "config", required=True, type=click.Path(dir_okay=False), help="config JSON"
)


ALLOW_SAMPLE_OPTION = click.option(
    "--allow-sample-data",
    is_flag=True,
    help="sagemaker/airflow: a demo on the bundled sample data (and its label column 'label')",
)


@cli.command()
@click.argument("dag_ref", metavar="DAG")
@CONFIG_OPTION
@click.option(
    "--target",
    type=click.Choice(["local", "sagemaker", "airflow"]),
    default="local",
    show_default=True,
    help="where the pipeline will run: sagemaker and airflow refuse what only runs here",
)
@ALLOW_SAMPLE_OPTION
def validate(dag_ref: str, config: str, target: str, allow_sample_data: bool) -> None:
    """Check a DAG and config; report every problem at once."""
    from cursus.core.planner import validate_files

    dag, _ = _load(dag_ref)
    report = validate_files(dag, config, target, allow_sample_data)
    if report.ok and target == "sagemaker":  # what SageMaker's API would refuse, too
        from cursus.backends.sagemaker.preflight import check_plan
        from cursus.core.planner import compile_plan

        try:
            check_plan(compile_plan(dag, config))
        except ValidationFailed as exc:
            report.problems += exc.problems
        except CursusError as exc:
            report.problems.append(exc)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    report.raise_if_failed()
    click.echo(f"ok: {len(dag)} nodes, {len(dag.edges)} edges, every input bound")
    if report.local_only:
        kinds = sorted({entry["kind"].replace("_", " ") for entry in report.local_only})
        click.echo(
            f"note: this config runs on this machine only ({', '.join(kinds)}); "
            "`cursus validate --target sagemaker` lists what SageMaker and Airflow refuse",
            err=True,
        )


@cli.command()
@click.argument("dag_ref", metavar="DAG")
@CONFIG_OPTION
@click.option(
    "--target",
    type=click.Choice(["plan", "sagemaker", "airflow"]),
    default="plan",
    show_default=True,
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="write here instead of stdout"
)
@click.option(
    "--workspace", type=click.Path(file_okay=False), help="airflow: the workspace its tasks use"
)
@ALLOW_SAMPLE_OPTION
def compile(
    dag_ref: str,
    config: str,
    target: str,
    output: str | None,
    workspace: str | None,
    allow_sample_data: bool,
) -> None:
    """Compile a DAG and config to a Plan, a SageMaker pipeline definition, or an Airflow DAG file."""
    from cursus.core.planner import compile_plan
    from cursus.targets import build

    dag, _ = _load(dag_ref)
    if target == "airflow" and not output:
        raise CursusError("--target airflow writes a DAG file: give its path with -o dags/NAME.py")
    plan = compile_plan(dag, config)
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    if target == "airflow":
        dag_file, plan_file = build(
            plan, "airflow", allow_sample_data, output=output, workspace=workspace
        )
        click.echo(f"wrote {dag_file} and {plan_file}", err=True)
    elif target == "sagemaker":  # offline: no network, no credentials
        compiled = build(plan, "sagemaker", allow_sample_data)
        for warning in compiled.warnings:
            click.echo(f"warning: {warning}", err=True)
        write_or_print(compiled.to_json(), output)
    else:
        write_or_print(plan.to_json(), output)


# ---------------------------------------------------------------- dag


@cli.group()
def dag() -> None:
    """Look at a DAG."""


@dag.command("show")
@click.argument("dag_ref", metavar="DAG")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "mermaid", "json"]),
    default="tree",
    show_default=True,
)
def dag_show(dag_ref: str, fmt: str) -> None:
    """Draw a DAG."""
    from cursus.api.render import dag_mermaid, dag_tree

    graph, _ = _load(dag_ref)
    if fmt == "json":
        click.echo(graph.to_json(), nl=False)
    else:
        click.echo(dag_tree(graph) if fmt == "tree" else dag_mermaid(graph))


@dag.command("explain")
@click.argument("dag_ref", metavar="DAG")
@CONFIG_OPTION
def dag_explain(dag_ref: str, config: str) -> None:
    """Show how every input is bound, with its score and the evidence."""
    from cursus.core.config_file import load_configs
    from cursus.core.planner import validate

    graph, _ = _load(dag_ref)
    configs = load_configs(config, graph)
    report, bindings = validate(graph, configs, config)
    for node in graph.topological_sort():
        click.echo(node)
        for b in bindings.get(node, []):
            if b.uri:
                click.echo(f"  {b.input} <- {b.uri}  (explicit)")
            elif b.producer:
                click.echo(
                    f"  {b.input} <- {b.producer}.{b.output}  score {b.score:.2f}: {'; '.join(b.reasons)}"
                )
                for other in b.candidates[1:]:
                    click.echo(
                        f"      also considered {other.producer}.{other.output} score {other.score:.2f}"
                    )
            else:
                click.echo(f"  {b.input}: not bound (optional)")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    report.raise_if_failed()


# ---------------------------------------------------------------- steps


@cli.group()
def steps() -> None:
    """The step types Cursus knows."""


@steps.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the step types as JSON")
def steps_list(as_json: bool) -> None:
    """List step types and where each comes from."""
    from cursus.steps.library import step_library

    units = sorted(step_library().units.items())
    if as_json:
        rows = [
            {
                "step_type": name,
                "job_kind": unit.spec.job_kind,
                "framework": unit.spec.framework,
                "origin": unit.origin,
                "spec": unit.spec.source_file,
                "inputs": [i.name for i in unit.spec.inputs],
                "outputs": [o.name for o in unit.spec.outputs],
            }
            for name, unit in units
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for name, unit in units:
        ins = ", ".join(i.name for i in unit.spec.inputs) or "-"
        outs = ", ".join(o.name for o in unit.spec.outputs)
        click.echo(
            f"{name:22} {unit.spec.job_kind:11} {unit.spec.framework:8} {unit.origin}\n"
            f"{'':22} in: {ins}  out: {outs}"
        )


@steps.command("new")
@click.argument("step_type")
@click.option(
    "--kind", type=click.Choice(["processing", "training"]), default="processing", show_default=True
)
@click.option(
    "--framework",
    help="the framework table's name of the image it runs on [processing: sklearn, training: xgboost]",
)
@click.option(
    "--dir",
    "folder",
    default="steps",
    show_default=True,
    type=click.Path(file_okay=False),
    help="the folder of step units to write it into (steps/ beside a DAG file is found by itself)",
)
@click.option("--force", is_flag=True, help="overwrite the unit's files if they exist")
def steps_new(step_type: str, kind: str, framework: str | None, folder: str, force: bool) -> None:
    """Write a working step unit (spec, config class, script) and its test into a folder."""
    from cursus.steps.scaffold import new_step_unit

    for path in new_step_unit(step_type, kind, framework, folder, force=force):
        click.echo(f"wrote {path}")
    click.echo(
        f"next: pytest {folder}; `cursus --steps {folder} steps show {step_type}`; use it as a node "
        f"named {step_type} or {step_type}_<job_type> (see docs/step-scripts.md)"
    )


@steps.command("show")
@click.argument("step_type")
def steps_show(step_type: str) -> None:
    """Show a step type's spec and config fields."""
    import yaml

    from cursus.steps.library import get_step_unit
    from cursus.steps.spec import spec_summary

    st = get_step_unit(step_type)
    click.echo(yaml.safe_dump(spec_summary(st.spec), sort_keys=False), nl=False)
    click.echo(f"config_fields ({st.config_class.__name__}):")
    for name, info in st.config_class.model_fields.items():
        default = info.get_default(call_default_factory=True)
        default = default.model_dump() if hasattr(default, "model_dump") else default
        click.echo(f"  {name} = {json.dumps(default)}")


# ---------------------------------------------------------------- config


@cli.group()
def config() -> None:
    """Config files."""


@config.command("init")
@click.argument("dag_ref", metavar="DAG")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="FIELD=VALUE",
    help="a shared value, e.g. --set author=me",
)
@click.option("--force", is_flag=True, help="overwrite an existing file")
def config_init(dag_ref: str, output: str, sets: tuple[str, ...], force: bool) -> None:
    """Write a complete config, with defaults, for every node of a DAG."""
    from cursus.core.config_file import default_configs, save_configs

    if Path(output).exists() and not force:
        raise CursusError(f"{output} exists; pass --force to overwrite it")
    shared: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise CursusError(f"--set {item!r}: write FIELD=VALUE")
        shared[key] = _parse_set_value(key, value)
    graph, _ = _load(dag_ref)
    shared.setdefault("pipeline_name", _pipeline_name_from(dag_ref))
    configs = default_configs(graph, **shared)
    save_configs(configs, output)
    click.echo(f"wrote {output}: {len(configs)} node configs")


def _parse_set_value(field: str, value: str) -> Any:
    """Text fields take the text as written; others (numbers, lists, booleans) read it as JSON."""
    from cursus.steps.library import step_library

    for cls in step_library().config_classes().values():
        info = cls.model_fields.get(field)
        if info is not None and info.annotation in (str, str | None):
            try:  # a quoted JSON string ("7") is that string
                decoded = json.loads(value)
            except json.JSONDecodeError:
                return value
            return decoded if isinstance(decoded, str) else value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _plan_with_execution_document(graph: Any, config: str, document: str) -> Any:
    from cursus.core.config_file import load_configs
    from cursus.core.planner import compile_plan
    from cursus.mods.exec_doc import apply_execution_document, load_execution_document

    configs = apply_execution_document(
        load_configs(config, graph), load_execution_document(document), document
    )
    return compile_plan(graph, configs)


def _pipeline_name_from(dag_ref: str) -> str:
    """'dags/my_pipeline.json' -> 'my-pipeline': a name SageMaker and the registry accept."""
    import re

    name = re.sub(r"[^A-Za-z0-9]+", "-", Path(dag_ref).stem)[:82].strip("-")
    return name or "cursus-pipeline"


# ---------------------------------------------------------------- run


def _fork_server_for(graph: Any) -> Any:
    """What starts the step processes' fork server while a plan compiles (a first run): its
    library imports overlap the compiling. PyTorch's preload is chosen by the DAG's node names
    here (the plan's frameworks are not known yet); a miss costs that step its torch import."""

    def start() -> None:
        from cursus.backends.local.runner import start_fork_server

        start_fork_server(["pytorch"] if any("pytorch" in n.lower() for n in graph.nodes) else [])

    return start


@cli.command()
@click.argument("dag_ref", metavar="DAG")
@CONFIG_OPTION
@click.option(
    "--workspace",
    type=click.Path(file_okay=False),
    help="artifact store and run records [./.cursus]",
)
@click.option("--workers", type=click.IntRange(1, 256), help="steps run at once [number of cores]")
@click.option(
    "--no-cache", is_flag=True, help="run every step even when its cached outputs are valid"
)
@click.option("--quiet", is_flag=True, help="print only errors")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option(
    "--exec-doc",
    "exec_doc",
    type=click.Path(dir_okay=False),
    help="execution document whose step values override the config",
)
@click.option(
    "--tracking-uri", help="MLflow tracking URI [MLFLOW_TRACKING_URI, else <workspace>/mlflow.db]"
)
@click.option("--no-tracking", is_flag=True, help="do not track this run in MLflow")
@click.option(
    "--registry-uri",
    help="model registry for Registration: MLflow URI, folder or file:// [<workspace>/mlflow.db]",
)
def run(
    dag_ref: str,
    config: str,
    workspace: str | None,
    workers: int | None,
    no_cache: bool,
    quiet: bool,
    as_json: bool,
    tracking_uri: str | None,
    no_tracking: bool,
    registry_uri: str | None,
    exec_doc: str | None,
) -> None:
    """Run a pipeline on this machine, tracked in MLflow."""
    from cursus.api.loading import load_dag
    from cursus.targets import run_plan

    graph = load_dag(dag_ref)
    if exec_doc:
        plan = _plan_with_execution_document(graph, config, exec_doc)
    else:  # an unchanged DAG, config and step library: the plan compiled last time
        from cursus.core.plan_cache import compiled_plan

        plan = compiled_plan(graph, config, workspace, before_compiling=_fork_server_for(graph))
    console: Any = None
    hooks = []
    if not quiet:  # rich draws the progress and the summary (--quiet prints errors only)
        from rich.console import Console

        from cursus.cli.progress import LiveProgress

        console = Console(stderr=as_json, soft_wrap=True)
        if not as_json and console.is_terminal:
            hooks.append(LiveProgress(console))
    with ctrl_c_ends_the_run():
        result = run_plan(
            plan,
            workspace=workspace,
            workers=workers,
            use_cache=not no_cache,
            hooks=hooks,
            tracking=not no_tracking,
            tracking_uri=tracking_uri,
            background_tracking=True,  # written by a process that outlives this one
            registry_uri=registry_uri,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    elif not quiet:
        from cursus.cli.progress import print_summary

        print_summary(console, result, plan)
    else:
        for name, step in result.steps.items():
            if step.status == "failed":
                click.echo(f"error: {name} failed: {step.error}", err=True)
    for warning in result.warnings:  # after the summary
        click.echo(f"warning: {warning}", err=True)
    if not result.ok:
        sys.exit(1)


@cli.group()
def runs() -> None:
    """Recorded runs."""


def _records(workspace: str | None) -> Any:
    from cursus.backends.local.records import RunRecords
    from cursus.workspace import resolve_workspace

    root = resolve_workspace(workspace)
    if not (root / "runs.db").is_file():
        raise CursusError(f"no runs recorded in {root}; run a pipeline first or pass --workspace")
    return RunRecords(root / "runs.db")


WORKSPACE_OPTION = click.option("--workspace", type=click.Path(file_okay=False), help="[./.cursus]")


@runs.command("list")
@WORKSPACE_OPTION
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs_list(workspace: str | None, limit: int, as_json: bool) -> None:
    """List recent runs."""
    import time

    rows = _records(workspace).list_runs(limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        took = f"{r['ended'] - r['started']:.1f}s" if r["ended"] else "-"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"]))
        click.echo(
            f"{r['run_id']}  {r['status']:11} {when}  {took:>8}  {r['pipeline_name']} {r['pipeline_version']}"
        )


@runs.command("show")
@click.argument("run_id")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True)
def runs_show(run_id: str, workspace: str | None, as_json: bool) -> None:
    """Show one run's steps, timings, cache hits, metrics and errors."""
    run = _records(workspace).get_run(run_id)
    if run is None:
        raise CursusError(f"no single run matches '{run_id}'; see `cursus runs list`")
    if as_json:
        click.echo(json.dumps(run, indent=2))
        return
    click.echo(f"{run['run_id']} {run['status']} {run['pipeline_name']} {run['pipeline_version']}")
    for s in run["steps"]:
        took = f"{s['ended'] - s['started']:.2f}s" if s["ended"] and s["started"] else "-"
        cache = " (cached)" if s["cache_hit"] else ""
        click.echo(f"  {s['name']:34} {s['status']:9} {took:>8}{cache}")
        if s["metrics"]:
            click.echo("      " + ", ".join(f"{k}={v:.4g}" for k, v in s["metrics"].items()))
        if s["error"]:
            click.echo("      " + s["error"].splitlines()[0])


def main() -> None:
    cli(prog_name="cursus")


if __name__ == "__main__":
    main()
