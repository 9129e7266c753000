"""`cursus models ...` and `cursus mlops ...`: the model registry and the project's services.

Nothing heavy is imported at module level: `cursus --help` must not import MLflow.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import click

WORKSPACE = click.option(
    "--workspace", type=click.Path(file_okay=False), help="workspace folder [./.cursus]"
)
PROJECT = click.option("--project", default="default", show_default=True, help="project name")
REGISTRY = click.option(
    "--registry-uri", help="registry to read [the workspace's MLflow store, else its folder]"
)
JSON = click.option("--json", "as_json", is_flag=True, help="print JSON")


def register(cli: click.Group) -> None:
    """Add this part's commands to `cli`."""
    cli.add_command(models)
    cli.add_command(mlops)
    add_design_aliases()


# ---------------------------------------------------------------------- models


@click.group()
def models() -> None:
    """Registered models: list, show, promote, register, export-bento."""


def _view(workspace: str | None, registry_uri: str | None) -> Any:
    from cursus.mlops.registry import open_registry_view
    from cursus.workspace import default_registry_uri

    return open_registry_view(registry_uri or default_registry_uri(workspace))


@models.command("list")
@WORKSPACE
@REGISTRY
@JSON
def models_list(workspace: str | None, registry_uri: str | None, as_json: bool) -> None:
    """Every registered model with its latest version and aliases."""
    view = _view(workspace, registry_uri)
    rows = []
    for name in view.model_names():
        versions = view.versions(name)
        if versions:
            latest = versions[-1]
            aliases = {a: v.version for v in versions for a in v.aliases}
            rows.append(
                {
                    "name": name,
                    "latest_version": latest.version,
                    "aliases": aliases,
                    "versions": len(versions),
                    "created": latest.created,
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no registered models in {view.uri}")
        return
    click.echo(f"{'NAME':32} {'LATEST':>6} {'VERSIONS':>8}  ALIASES")
    for row in rows:
        pointers = ", ".join(f"{a}={v}" for a, v in sorted(row["aliases"].items())) or "-"
        click.echo(f"{row['name']:32} {row['latest_version']:>6} {row['versions']:>8}  {pointers}")


@models.command("show")
@click.argument("name")
@click.option("--version", "version", type=int, help="version [the latest]")
@WORKSPACE
@REGISTRY
@JSON
def models_show(
    name: str, version: int | None, workspace: str | None, registry_uri: str | None, as_json: bool
) -> None:
    """One version of a model: aliases, metrics, lineage, where it is stored."""
    view = _view(workspace, registry_uri)
    found = view.get(name, version=version)
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2, sort_keys=True))
        return
    click.echo(f"{found.name} version {found.version}")
    click.echo(f"  aliases:  {', '.join(found.aliases) or '-'}")
    click.echo(f"  created:  {found.created or '-'}")
    click.echo(f"  source:   {found.source}")
    if found.description:
        click.echo(f"  about:    {found.description}")
    from cursus.mlops.registry import EVALUATION, measured_on, metric_groups

    for group, shown in metric_groups(found):
        label = "holdout" if group == EVALUATION else group
        click.echo(f"  {label + ':':12} {', '.join(f'{k}={v}' for k, v in shown)}")
        if group == EVALUATION and measured_on(found):
            click.echo(f"  {'measured on:':12} {measured_on(found)}")
    for key in ("pipeline_name", "pipeline_version", "run_id", "model_sha256", "registered_at"):
        if found.lineage.get(key):
            click.echo(f"  {key + ':':17} {found.lineage[key]}")


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--alias", default="production", show_default=True, help="alias to point at VERSION")
@WORKSPACE
@REGISTRY
def models_promote(
    name: str, version: int, alias: str, workspace: str | None, registry_uri: str | None
) -> None:
    """Point ALIAS (production by default) at VERSION of model NAME."""
    view = _view(workspace, registry_uri)
    before = view.aliases(name).get(alias)
    view.set_alias(name, alias, version)
    moved = f" (was {before})" if before is not None and before != version else ""
    click.echo(f"{name}@{alias} -> version {version}{moved}")


@models.command("register")
@click.argument("path", type=click.Path(exists=True))
@click.option("--name", required=True, help="model name (the project's prefix is added)")
@PROJECT
@WORKSPACE
@REGISTRY
@JSON
def models_register(
    path: str,
    name: str,
    project: str,
    workspace: str | None,
    registry_uri: str | None,
    as_json: bool,
) -> None:
    """Register a packaged model (model.tar.gz or a folder holding one) as a new version."""
    from cursus.mlops.project import Project
    from cursus.mlops.registry import register_packaged_model

    proj = Project.load(project, workspace)
    record = register_packaged_model(
        path,
        proj.model_name(name),
        registry_uri or proj.registry_uri,
        lineage={"project": proj.name},
        experiment=proj.experiment,
    )
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True, default=str))
        return
    click.echo(f"registered {record['name']} version {record['version']} (alias candidate)")


@models.command("export-bento")
@click.argument("model")
@click.option("--name", help="BentoML name [the model's name, lower case]")
@PROJECT
@WORKSPACE
@JSON
def models_export_bento(
    model: str, name: str | None, project: str, workspace: str | None, as_json: bool
) -> None:
    """Build a BentoML bento of MODEL (NAME, NAME:VERSION, NAME@ALIAS or a model.tar.gz).

    The bento serves the package's own inference code: `bentoml serve TAG` answers POST
    /invocations and GET /ping as `cursus serve` does. Bentos live in BENTOML_HOME [~/bentoml].
    """
    from cursus.mlops.bento import export_bento
    from cursus.mlops.project import Project

    say = None if as_json else (lambda message: click.echo(message, err=True))
    result = export_bento(Project.load(project, workspace), model, name=name, on_step=say)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        return
    state = "built" if result["built"] else "already built"
    click.echo(f"bento {result['bento_tag']} {state} (model {result['model_tag']})")
    click.echo(f"  serve it: {result['serve']}")


# ---------------------------------------------------------------------- mlops


@click.group()
def mlops() -> None:
    """The project's MLOps services: tracking store, MLflow server, registry, data, serving."""


@mlops.command("setup")
@PROJECT
@WORKSPACE
@JSON
def mlops_setup(project: str, workspace: str | None, as_json: bool) -> None:
    """Create the project (or show it when it exists): experiment, stores, remote, port."""
    from cursus.mlops.project import Project

    proj = Project.load(project, workspace)
    proj.dvc_remote.mkdir(parents=True, exist_ok=True)
    proj.artifacts_dir.mkdir(parents=True, exist_ok=True)
    if as_json:
        click.echo(json.dumps(proj.to_dict(), indent=2, sort_keys=True))
        return
    _describe_project(proj)


def _describe_project(proj: Any) -> None:
    click.echo(f"project {proj.name} ({proj.path})")
    click.echo(f"  experiment:    {proj.experiment}")
    click.echo(f"  tracking:      {proj.tracking_uri}")
    click.echo(f"  artifacts:     {proj.artifacts_dir}")
    click.echo(f"  registry:      {proj.registry_uri}  (models named {proj.model_name('<model>')})")
    click.echo(f"  dvc remote:    {proj.dvc_remote}")
    click.echo(f"  serving port:  {proj.serving_port}")


@mlops.command("status")
@PROJECT
@WORKSPACE
@JSON
def mlops_status(project: str, workspace: str | None, as_json: bool) -> None:
    """Each service of the project: up, down or not set up, and where."""
    from cursus.mlops.project import Project

    report = service_status(Project.load(project, workspace))
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True, default=str))
        return
    click.echo(f"project {report['project']} in {report['workspace']}")
    for service, info in report["services"].items():
        click.echo(f"  {service:13} {info['state']:12} {info.get('detail', '')}".rstrip())


@mlops.command("start")
@WORKSPACE
@click.option("--port", type=click.IntRange(1, 65535), help="port [a free one]")
@click.option("--timeout", default=90.0, show_default=True, help="seconds to wait for /health")
def mlops_start(workspace: str | None, port: int | None, timeout: float) -> None:
    """Start the MLflow server (UI and API) on 127.0.0.1 over the workspace's store."""
    from cursus.mlops.server import start_server

    state = start_server(workspace, port=port, timeout=timeout)
    verb = "started" if state.get("started") else "already running"
    click.echo(f"MLflow server {verb} at {state['url']} (pid {state['pid']}, log {state['log']})")


@mlops.command("stop")
@WORKSPACE
def mlops_stop(workspace: str | None) -> None:
    """Stop the workspace's MLflow server."""
    from cursus.mlops.server import stop_server

    click.echo(
        "MLflow server stopped" if stop_server(workspace) else "no MLflow server was running"
    )


@mlops.command("dashboard")
@click.option(
    "--workspace",
    "workspaces",
    multiple=True,
    type=click.Path(file_okay=False),
    help="workspace folder [./.cursus]; repeat for a view across workspaces",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--allow-remote", is_flag=True, help="allow a non-loopback --host (no login!)")
def mlops_dashboard(workspaces: tuple[str, ...], port: int, host: str, allow_remote: bool) -> None:
    """Serve the read-only web dashboard: runs, plots, models, deployments, drift, catalog."""
    from cursus.dashboard.app import DashboardError, check_host, serve

    try:
        check_host(host, allow_remote)
    except DashboardError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Cursus dashboard at http://{host}:{port}/ (Ctrl-C stops it)")
    serve(list(workspaces), host=host, port=port, allow_remote=allow_remote)


@mlops.command("register")
@click.argument("project")
@WORKSPACE
@JSON
def mlops_register(project: str, workspace: str | None, as_json: bool) -> None:
    """Register PROJECT: its experiment, stores, DVC remote and serving port (shown again when
    it exists). A packaged model is registered with `cursus models register`."""
    from cursus.mlops.project import Project, check_project_name, project_file
    from cursus.workspace import resolve_workspace

    if Path(project).suffix in (".gz", ".tar", ".tgz") or Path(project).exists():
        raise click.UsageError(
            f"{project} is a file: `cursus mlops register` registers a project; a packaged "
            f"model is registered with `cursus models register {project} --name NAME`"
        )
    check_project_name(project)
    existed = project_file(resolve_workspace(workspace), project).is_file()
    proj = Project.load(project, workspace)
    proj.dvc_remote.mkdir(parents=True, exist_ok=True)
    proj.artifacts_dir.mkdir(parents=True, exist_ok=True)
    if as_json:
        click.echo(json.dumps({**proj.to_dict(), "created": not existed}, indent=2, sort_keys=True))
        return
    click.echo(f"project {proj.name} {'was already registered' if existed else 'registered'}")
    _describe_project(proj)


# ---------------------------------------------------------------------- the design's verbs
#
# The MLOps design names these `cursus mlops` verbs; each is the command it stands for.


def add_design_aliases() -> None:
    from cursus.cli import serving

    for name, command in (
        ("dvc-add", serving.data_add),
        ("dvc-push", serving.data_push),
        ("dvc-pull", serving.data_pull),
        ("list-deployments", serving.deployments_list),
    ):
        mlops.add_command(command, name)


@mlops.command("deploy")
@click.argument("model")
@click.argument("version", required=False)
@click.option("--port", type=click.IntRange(1, 65535), help="[the project's serving port if free]")
@click.option("--name", help="deployment name [the model's name]")
@PROJECT
@WORKSPACE
@JSON
@click.pass_context
def mlops_deploy(ctx: click.Context, model: str, version: str | None, **options: Any) -> None:
    """Serve VERSION of registered MODEL on 127.0.0.1 (`cursus deploy MODEL:VERSION`); VERSION
    is a number (3, v3, v3.0) or an alias [the latest version]."""
    from cursus.cli import serving
    from cursus.mlops.serving import versioned_ref

    ctx.invoke(
        serving.deploy,
        model=versioned_ref(model, version),
        project_name=options.pop("project"),
        **options,
    )


# ---------------------------------------------------------------------- status


def service_status(project: Any) -> dict[str, Any]:
    """What `cursus mlops status` reports, without importing MLflow or DVC."""
    from cursus.mlops.server import server_status

    services: dict[str, dict[str, Any]] = {}
    db = project.workspace / "mlflow.db"
    if project.tracking_uri.startswith("sqlite:///"):
        db = Path(project.tracking_uri[len("sqlite:///") :])
        counts = _mlflow_counts(db)
        services["tracking"] = (
            {
                "state": "ready",
                "detail": f"{project.tracking_uri} ({counts['runs']} runs)",
                **counts,
            }
            if counts
            else {"state": "empty", "detail": f"{project.tracking_uri} (created at the first run)"}
        )
    else:
        services["tracking"] = {"state": "remote", "detail": project.tracking_uri}
    server = server_status(project.workspace)
    services["server"] = (
        {"state": "up" if server["healthy"] else "unhealthy", "detail": server["url"], **server}
        if server["running"]
        else {"state": "down", "detail": "start it with `cursus mlops start`"}
    )
    registry_uri = project.registry_uri
    if registry_uri.startswith("sqlite:///"):
        counts = _mlflow_counts(Path(registry_uri[len("sqlite:///") :])) or {}
        n = counts.get("models", 0)
        services["registry"] = {
            "state": "ready" if n else "empty",
            "models": n,
            "detail": f"{registry_uri} ({n} models)",
        }
    else:
        root = Path(registry_uri)
        n = len([p for p in root.iterdir() if p.is_dir()]) if root.is_dir() else 0
        services["registry"] = {
            "state": "ready" if n else "empty",
            "models": n,
            "detail": f"{root} ({n} models)",
        }
    services["data"] = _data_status(project)
    services["serving"] = _serving_status(project)
    return {"project": project.name, "workspace": str(project.workspace), "services": services}


def _mlflow_counts(db: Path) -> dict[str, int] | None:
    """Counts read from MLflow's tables directly (opening MLflow's store costs seconds)."""
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            one = lambda sql: int(con.execute(sql).fetchone()[0])  # noqa: E731
            return {
                "experiments": one(
                    "SELECT count(*) FROM experiments WHERE lifecycle_stage='active'"
                ),
                "runs": one("SELECT count(*) FROM runs WHERE lifecycle_stage='active'"),
                "models": one("SELECT count(*) FROM registered_models"),
            }
    except sqlite3.Error:
        return None


def _data_status(project: Any) -> dict[str, Any]:
    from cursus.mlops.data import find_repo_root

    remote = project.dvc_remote
    remote_state = "exists" if remote.is_dir() else "not created"
    root = find_repo_root()
    if root is None or not (root / ".dvc").is_dir():
        return {
            "state": "no repo",
            "remote": str(remote),
            "detail": f"no DVC repository here (remote {remote}: {remote_state})",
        }
    return {
        "state": "ready",
        "repo": str(root),
        "remote": str(remote),
        "detail": f"repo {root}, remote {remote} ({remote_state})",
    }


def _serving_status(project: Any) -> dict[str, Any]:
    from cursus.mlops.serving import list_deployments

    deployments = list_deployments(project)
    healthy = [d for d in deployments if d.get("health") == "healthy"]
    detail = (
        ", ".join(f"{d.get('name')}:{d.get('port')} ({d.get('health')})" for d in deployments)
        or f"none (port {project.serving_port} reserved)"
    )
    return {
        "state": f"{len(healthy)} up" if deployments else "none",
        "detail": detail,
        "deployments": deployments,
    }
