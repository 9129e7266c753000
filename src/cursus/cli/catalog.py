"""`cursus catalog`: list, show, configure, run, compile and recommend catalog pipelines, and
compare the catalog's MODS pipelines with the template registry.

Thin: every command calls a function of `cursus.pipeline_catalog`. Nothing heavy is imported at
module level, and `cursus catalog list` reads only the index.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cursus.cli.output import ctrl_c_ends_the_run, write_or_print
from cursus.errors import CursusError

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="print JSON for machines")
REGISTRY_OPTION = click.option(
    "--registry",
    "registry",
    type=click.Path(dir_okay=False),
    help="template registry [$CURSUS_TEMPLATE_REGISTRY, else <workspace>/templates.db]",
)


def register(cli: click.Group) -> None:
    cli.add_command(catalog)


def _console() -> Any:
    """A terminal's width; piped output gets room for whole rows (rich assumes 80 columns)."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    return console


def _table(*columns: str) -> Any:
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=i == 0)
    return table


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
def catalog() -> None:
    """Ready pipelines built from shared DAGs, standard and MODS."""


# ---------------------------------------------------------------- browse


@catalog.command("list")
@click.option("--compiler-type", help="standard or mods")
@click.option("--framework", help="xgboost, pytorch or generic")
@click.option("--task", "view", help="only pipelines doing this task: training, evaluation, ...")
@JSON_OPTION
def list_(
    compiler_type: str | None, framework: str | None, view: str | None, as_json: bool
) -> None:
    """List catalog pipelines (reads only the index)."""
    from cursus.pipeline_catalog.index import entries, task_view

    rows = entries(compiler_type, framework)
    if view is not None:
        wanted = set(task_view(view, compiler_type))
        rows = [e for e in rows if e["id"] in wanted]
    if as_json:
        _print_json(rows)
        return
    table = _table("id", "framework", "task", "complexity", "nodes", "compiler", "title")
    for e in rows:
        table.add_row(
            e["id"],
            e["framework"],
            e["task"],
            e["complexity"],
            str(e["node_count"]),
            e["compiler_type"],
            e["title"],
        )
    _console().print(table)


@catalog.command("show")
@click.argument("pipeline_id", metavar="ID")
@JSON_OPTION
def show(pipeline_id: str, as_json: bool) -> None:
    """Show a catalog pipeline and draw its DAG."""
    from cursus.api.render import dag_tree
    from cursus.pipeline_catalog.index import VIEWS, get_entry, load_index, task_view
    from cursus.pipeline_catalog.utils import load_shared_dag

    entry = get_entry(pipeline_id)
    dag = load_shared_dag(entry["shared_dag"])
    shared = load_index()["shared_dags"][entry["shared_dag"]]
    views = [v for v in VIEWS if pipeline_id in task_view(v)]
    if as_json:
        _print_json({**entry, "views": views, "dag": dag.to_dict()["dag"], "shared": shared})
        return
    click.echo(f"{entry['id']}: {entry['title']}")
    click.echo(f"  {entry['description']}")
    for key in ("framework", "task", "complexity", "compiler_type", "shared_dag", "module"):
        click.echo(f"  {key + ':':15} {entry[key]}")
    click.echo(f"  {'features:':15} {', '.join(entry['features'])}")
    click.echo(f"  {'task views:':15} {', '.join(views) or '-'}")
    click.echo(f"  {'size:':15} {entry['node_count']} nodes, {entry['edge_count']} edges")
    mods = entry.get("mods_metadata")
    if mods:
        click.echo(
            f"  {'mods template:':15} {mods['template_name']} {mods['version']} by {mods['author']}"
            f" (variant of {entry['variant_of']})"
        )
    for target, what in shared.get("external_inputs", {}).items():
        click.echo(f"  {'external input:':15} {target}: {what}")
    click.echo("")
    click.echo(dag_tree(dag))
    click.echo("")
    click.echo(f"sample config: cursus catalog config {pipeline_id} -o config.json")


@catalog.command("recommend")
@click.option("--framework", help="xgboost, pytorch or generic")
@click.option(
    "--task", help="training, evaluation, calibration, end_to_end, deployment, registration"
)
@click.option("--feature", "features", multiple=True, help="a wanted feature (repeatable)")
@click.option("--compiler-type", help="standard or mods")
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@JSON_OPTION
def recommend(
    framework: str | None,
    task: str | None,
    features: tuple[str, ...],
    compiler_type: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Recommend catalog pipelines for a framework, task and features, with the reasons."""
    from cursus.pipeline_catalog.utils import recommend_pipelines

    found = recommend_pipelines(framework, task, features, compiler_type, limit)
    if as_json:
        _print_json([{"id": r.id, "score": r.score, "reasons": list(r.reasons)} for r in found])
        return
    if not found:
        click.echo("no catalog pipeline fits; `cursus catalog list` shows them all")
        return
    table = _table("id", "score", "why")
    for r in found:
        table.add_row(r.id, f"{r.score:g}", "; ".join(r.reasons) or "-")
    _console().print(table)


# ---------------------------------------------------------------- use


@catalog.command("config")
@click.argument("pipeline_id", metavar="ID")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--model-uri",
    help="for a pipeline with an external model input: the model folder (local path, or s3:// "
    "for SageMaker) [$CURSUS_MODEL_URI, else <workspace>/models/latest]",
)
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="a shared value")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def config(
    pipeline_id: str, output: str, model_uri: str | None, sets: tuple[str, ...], force: bool
) -> None:
    """Write a pipeline's sample config: it runs locally on the bundled data as it is."""
    from cursus.core.config_file import load_configs
    from cursus.pipeline_catalog.index import get_entry, load_index
    from cursus.pipeline_catalog.utils import write_sample_config

    entry = get_entry(pipeline_id)
    if Path(output).exists() and not force:
        raise CursusError(f"{output} exists; pass --force to overwrite it")
    path = write_sample_config(pipeline_id, output, model_uri, **_shared_values(sets))
    configs = load_configs(path)
    click.echo(f"wrote {output}: sample config of {pipeline_id}, {len(configs)} node configs")
    for target in load_index()["shared_dags"][entry["shared_dag"]].get("external_inputs", {}):
        node, _, name = target.partition(".")
        bound = str(configs[node].input_bindings.get(name))
        missing = "://" not in bound and not Path(bound).exists()
        note = "; put a trained model folder there first (see --export-model)" if missing else ""
        click.echo(f"  {target} is bound to {bound}{note}")


def _shared_values(sets: tuple[str, ...]) -> dict[str, Any]:
    from cursus.cli.main import _parse_set_value

    shared = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise CursusError(f"--set {item!r}: write FIELD=VALUE")
        shared[key] = _parse_set_value(key, value)
    return shared


@catalog.command("run")
@click.argument("pipeline_id", metavar="ID")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--workspace", type=click.Path(file_okay=False), help="[./.cursus]")
@click.option("--workers", type=click.IntRange(1, 256), help="steps run at once")
@click.option("--no-cache", is_flag=True, help="run every step even when cached")
@click.option("--registry-uri", help="model registry for Registration [the workspace's]")
@click.option(
    "--tracking-uri", help="MLflow tracking URI [MLFLOW_TRACKING_URI, else <workspace>/mlflow.db]"
)
@click.option("--no-tracking", is_flag=True, help="do not track this run in MLflow")
@click.option(
    "--export-model",
    type=click.Path(file_okay=False),
    help="copy the trained model folder here (for the deployment pipeline's model_input)",
)
@JSON_OPTION
def run(
    pipeline_id: str,
    config_path: str,
    workspace: str | None,
    workers: int | None,
    no_cache: bool,
    registry_uri: str | None,
    tracking_uri: str | None,
    no_tracking: bool,
    export_model: str | None,
    as_json: bool,
) -> None:
    """Run a catalog pipeline on this machine, as `cursus run` runs a DAG (tracked in MLflow,
    its data lineage recorded)."""
    from cursus.cli.progress import LiveProgress, print_summary
    from cursus.pipeline_catalog import utils
    from cursus.pipeline_catalog.index import get_pipeline

    console = _console()
    hooks = [LiveProgress(console)] if console.is_terminal and not as_json else []
    with ctrl_c_ends_the_run():
        result = utils.run_catalog_pipeline(
            pipeline_id,
            config_path,
            workspace=workspace,
            workers=workers,
            use_cache=not no_cache,
            hooks=hooks,
            tracking=not no_tracking,
            tracking_uri=tracking_uri,
            background_tracking=True,
            registry_uri=registry_uri,
        )
    exported = utils.export_model(result, export_model) if export_model and result.ok else None
    if as_json:
        _print_json({**result.to_dict(), "exported_model": str(exported) if exported else None})
    else:
        plan = get_pipeline(pipeline_id).create_pipeline(config_path, target="plan")
        print_summary(console, result, plan)
        if exported:
            click.echo(f"model exported to {exported}")
    if not result.ok:
        sys.exit(1)


@catalog.command("compile")
@click.argument("pipeline_id", metavar="ID")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--target", type=click.Choice(["plan", "sagemaker"]), default="plan", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write here, not stdout")
@click.option(
    "--allow-sample-data",
    is_flag=True,
    help="sagemaker: a demo on the bundled sample data (and its label column 'label')",
)
def compile_(
    pipeline_id: str, config_path: str, target: str, output: str | None, allow_sample_data: bool
) -> None:
    """Compile a catalog pipeline with its compiler (standard or MODS): a Plan, or a SageMaker
    pipeline definition built offline."""
    from cursus.pipeline_catalog.index import get_entry
    from cursus.pipeline_catalog.utils import create_pipeline_from_catalog

    entry = get_entry(pipeline_id)
    options = {"allow_sample_data": True} if allow_sample_data else {}
    built = create_pipeline_from_catalog(pipeline_id, config_path, target=target, **options)
    if target == "plan":
        warnings, text = built.warnings, built.to_json()
    else:
        from cursus.backends.sagemaker.build import compilation_of

        compiled = compilation_of(built)
        warnings, text = compiled.plan.warnings + compiled.warnings, compiled.to_json()
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    write_or_print(text, output)
    if target == "sagemaker" and entry["compiler_type"] == "mods":
        from cursus.mods.registry import default_registry_path

        click.echo(f"registered the MODS template in {default_registry_path()}", err=True)


# ---------------------------------------------------------------- maintain


@catalog.command("index")
@click.option("--write", is_flag=True, help="regenerate index.json from the pipeline modules")
def index(write: bool) -> None:
    """Check the catalog index against its schema and the code (exit 2 if they disagree)."""
    from cursus.errors import ValidationFailed
    from cursus.pipeline_catalog.index import INDEX_PATH, check_index, write_index

    if write:
        write_index()
        click.echo(f"wrote {INDEX_PATH}")
    problems = check_index()
    if problems:
        raise ValidationFailed([CursusError(p) for p in problems])
    click.echo(f"ok: {INDEX_PATH} agrees with the code and its schema")


@catalog.command("bundled-dags")
@click.option("--write", is_flag=True, help="regenerate the files from the shared DAGs")
def bundled_dags(write: bool) -> None:
    """Check the bundled DAG files (src/cursus/data/dags) against the shared DAGs."""
    from cursus.errors import ValidationFailed
    from cursus.pipeline_catalog.bundled import BUNDLED_DAGS, check_bundled_dags, write_bundled_dags

    if write:
        for path in write_bundled_dags():
            click.echo(f"wrote {path}")
    problems = check_bundled_dags()
    if problems:
        raise ValidationFailed([CursusError(p) for p in problems])
    click.echo(f"ok: the DAG files in {BUNDLED_DAGS} are the shared DAGs")


# ---------------------------------------------------------------- mods


@catalog.group()
def mods() -> None:
    """The catalog's MODS pipelines and the template registry (read only)."""


@mods.command("list")
@JSON_OPTION
def mods_list(as_json: bool) -> None:
    """List the catalog's MODS pipelines with the metadata they register."""
    from cursus.pipeline_catalog.utils import get_mods_pipelines

    rows = get_mods_pipelines()
    if as_json:
        _print_json(rows)
        return
    table = _table("id", "template", "version", "author", "framework", "shared DAG")
    for e in rows:
        meta = e["mods_metadata"]
        table.add_row(
            e["id"],
            meta["template_name"],
            meta["version"],
            meta["author"],
            e["framework"],
            e["shared_dag"],
        )
    _console().print(table)


@mods.command("registry-status")
@REGISTRY_OPTION
@JSON_OPTION
def mods_registry_status(registry: str | None, as_json: bool) -> None:
    """Where the template registry is and what it holds."""
    from cursus.pipeline_catalog.registry_views import get_mods_registry_status

    status = get_mods_registry_status(registry)
    if as_json:
        _print_json(status)
        return
    click.echo(status["message"])
    click.echo(f"  {'registry:':11} {status['registry_path']}")
    click.echo(f"  {'decorator:':11} {status['decorator']}")
    if status["template_count"]:
        click.echo(f"  {'authors:':11} {', '.join(status['authors'])}")
        click.echo(f"  {'frameworks:':11} {', '.join(status['frameworks'])}")


@mods.command("list-registry")
@click.option("--group-by", type=click.Choice(["author", "framework"]))
@REGISTRY_OPTION
@JSON_OPTION
def mods_list_registry(group_by: str | None, registry: str | None, as_json: bool) -> None:
    """List the templates in the registry, optionally grouped by author or framework."""
    from cursus.pipeline_catalog import registry_views as views

    if group_by == "author":
        groups = views.group_templates_by_author(registry)
    elif group_by == "framework":
        groups = views.group_templates_by_framework(registry)
    else:
        groups = {"": views.get_mods_registered_templates(registry)}
    if as_json:
        _print_json(groups if group_by else groups[""])
        return
    if not any(groups.values()):
        click.echo(views.get_mods_registry_status(registry)["message"])
        return
    import time

    table = _table(
        *(["group"] if group_by else []), "template", "version", "author", "framework", "registered"
    )
    for group, templates in groups.items():
        for t in templates:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t["registered_at"]))
            cells = [t["name"], t["version"], t["author"], t["framework"] or "-", when]
            table.add_row(*([group] if group_by else []), *cells)
    _console().print(table)


@mods.command("check-registry")
@click.argument("pipeline_ids", metavar="[ID]...", nargs=-1)
@click.option(
    "--require-all", is_flag=True, help="also fail when a MODS pipeline is not registered"
)
@REGISTRY_OPTION
@JSON_OPTION
def mods_check_registry(
    pipeline_ids: tuple[str, ...], require_all: bool, registry: str | None, as_json: bool
) -> None:
    """Compare the catalog's MODS pipelines with the registry: registered, not registered,
    version or DAG mismatches. Exits 1 on a mismatch (with --require-all, also on a gap)."""
    from cursus.pipeline_catalog.registry_views import check_registry

    report = check_registry(registry, pipeline_ids)
    if as_json:
        _print_json(report)
    else:
        if not report["exists"]:
            click.echo(
                f"no template registry at {report['registry_path']} yet: nothing is registered"
            )
        table = _table("id", "template", "catalog version", "registry versions", "state")
        for r in report["entries"]:
            table.add_row(
                r["id"],
                r["template_name"],
                r["catalog_version"],
                ", ".join(r["registry_versions"]) or "-",
                r["state"],
            )
        _console().print(table)
        click.echo(
            f"{len(report['registered'])} registered, {len(report['not_registered'])} not registered, "
            f"{len(report['mismatched'])} mismatched"
        )
    if not report["consistent"] or (require_all and not report["complete"]):
        sys.exit(1)
