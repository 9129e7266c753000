"""The dashboard: a FastAPI app of server-rendered pages over one or more workspaces.

It reads the stores the CLI writes (see `stores.py`) and writes nothing: every route answers GET
(and HEAD) only, SQLite is opened read-only, and pages carry a Content-Security-Policy that allows
no script at all, so an escaped-but-odd name can never run.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cursus.dashboard import stores
from cursus.dashboard.svg import dag_svg, timeline_svg
from cursus.loopback import LoopbackHostOnly

HERE = Path(__file__).parent
PAGE_SIZE = 50
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# an artifact (e.g. an Evidently HTML report) is shown sandboxed: no script, no same-origin access
ARTIFACT_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"


class DashboardError(Exception):
    """The dashboard cannot start as asked."""


class SecurityHeaders:
    """Adds the page CSP and nosniff to every response (artifact responses set their own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    workspace: str | Path | Sequence[str | Path] | None = None, also_hosts: Sequence[str] = ()
) -> FastAPI:
    """The dashboard over `workspace` (one folder, or several for the cross-project overview;
    default: the runner's default workspace)."""
    from cursus.workspace import resolve_workspace

    if workspace is None or isinstance(workspace, str | Path):
        roots = [resolve_workspace(workspace)]
    else:
        roots = [resolve_workspace(w) for w in workspace] or [resolve_workspace(None)]
    spaces = [stores.Workspace(root) for root in roots]
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True
    )
    env.filters["secs"] = _secs
    env.filters["num"] = _num
    env.filters["when"] = _when

    app = FastAPI(title="Cursus dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(LoopbackHostOnly, also=also_hosts)

    def page(path: str, **kwargs: Any) -> Any:
        """A GET route that answers HEAD too, as docs/dashboard.md says every route does."""
        return app.api_route(path, methods=["GET", "HEAD"], **kwargs)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.workspaces = spaces

    def pick(ws: int) -> stores.Workspace:
        if not 0 <= ws < len(spaces):
            raise HTTPException(404, f"no workspace {ws}")
        return spaces[ws]

    def render(request: Request, template: str, ws: int = 0, **values: Any) -> HTMLResponse:
        def url(path: str, **params: Any) -> str:
            params = {"ws": ws, **params}
            params["ws"] = params["ws"] or None  # the first workspace is the default
            query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
            return path + ("?" + query if query else "")

        html = env.get_template(template).render(
            request=request,
            url=url,
            ws=ws,
            workspaces=spaces,
            workspace=spaces[ws] if 0 <= ws < len(spaces) else spaces[0],
            **values,
        )
        return HTMLResponse(html)

    @page("/", response_class=HTMLResponse)
    def overview(request: Request) -> HTMLResponse:
        rows = []
        for i, space in enumerate(spaces):
            counts = space.status_counts()
            models = space.models()
            deployments = _deployment_records(space)
            projects = space.projects()
            tracked: set[str] = set()
            project_rows = []
            for project in projects:
                ids = space.project_run_ids(project)
                tracked |= ids
                prefix = project.get("registry_prefix") or ""
                project_rows.append(
                    {
                        "name": project["name"],
                        "experiment": project.get("experiment", ""),
                        "runs": space.count_runs(ids=ids) if ids else 0,
                        "models": sum(1 for m in models if m["name"].startswith(prefix)),
                        "deployments": sum(
                            1 for d in deployments if d.get("project") == project["name"]
                        ),
                        "port": project.get("serving_port"),
                    }
                )
            rows.append(
                {
                    "index": i,
                    "space": space,
                    "counts": counts,
                    "total": sum(counts.values()),
                    "projects": project_rows,
                    "models": len(models),
                    "deployments": len(deployments),
                    "latest": space.list_runs(limit=10),
                }
            )
        return render(
            request,
            "overview.html",
            rows=rows,
            n_catalog=len(stores.catalog().get("pipelines", [])),
        )

    @page("/runs", response_class=HTMLResponse)
    def runs(
        request: Request,
        ws: int = 0,
        page: int = 1,
        project: str | None = None,
        pipeline: str | None = None,
    ) -> HTMLResponse:
        space = pick(ws)
        proj = space.project(project)
        if project and proj is None:
            raise HTTPException(404, f"no project {project!r} in {space.root}")
        ids = space.project_run_ids(proj) if proj else None
        total = space.count_runs(pipeline, ids)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(max(1, page), pages)
        return render(
            request,
            "runs.html",
            ws,
            runs=space.list_runs(PAGE_SIZE, (page - 1) * PAGE_SIZE, pipeline, ids),
            total=total,
            page=page,
            pages=pages,
            project=project or "",
            pipeline=pipeline or "",
            projects=space.projects(),
            pipelines=space.pipelines(),
        )

    @page("/runs/{run_id}", response_class=HTMLResponse)
    def run_detail(request: Request, run_id: str, ws: int = 0) -> HTMLResponse:
        space = pick(ws)
        run = _run_or_404(space, run_id)
        plan = space.plan(run)
        nodes, edges = _plan_dag(plan, run)
        status = {s["name"]: "cached" if s["cache_hit"] else s["status"] for s in run["steps"]}
        failed = [
            {**s, "log_tail": space.log_tail(s)} for s in run["steps"] if s["status"] == "failed"
        ]
        return render(
            request,
            "run.html",
            ws,
            run=run,
            dag=dag_svg(nodes, edges, status, title=f"DAG of run {run['run_id']}"),
            timeline=timeline_svg(run["steps"], run.get("started")),
            failed=failed,
            plots=space.plots(run),
            data_inputs=space.data_inputs(run["run_id"]),
        )

    @page("/runs/{run_id}/plots", response_class=HTMLResponse)
    def run_plots(request: Request, run_id: str, ws: int = 0) -> HTMLResponse:
        space = pick(ws)
        run = _run_or_404(space, run_id)
        return render(request, "plots.html", ws, run=run, plots=space.plots(run))

    @page("/runs/{run_id}/logs/{step}", response_class=HTMLResponse)
    def run_log(request: Request, run_id: str, step: str, ws: int = 0) -> HTMLResponse:
        space = pick(ws)
        run = _run_or_404(space, run_id)
        found = next((s for s in run["steps"] if s["name"] == step), None)
        if found is None:
            raise HTTPException(404, f"run {run_id} has no step {step!r}")
        return render(request, "log.html", ws, run=run, step=found, text=space.log_tail(found, 400))

    @page("/compare", response_class=HTMLResponse)
    def compare(
        request: Request, ws: int = 0, a: str | None = None, b: str | None = None
    ) -> HTMLResponse:
        space = pick(ws)
        if not a or not b:
            raise HTTPException(400, "compare needs two runs: /compare?a=RUN&b=RUN")
        run_a, run_b = _run_or_404(space, a), _run_or_404(space, b)
        plan_a, plan_b = space.plan(run_a), space.plan(run_b)
        diff, same = _config_diff(plan_a, plan_b)
        return render(
            request,
            "compare.html",
            ws,
            a=run_a,
            b=run_b,
            diff=diff,
            same=same,
            metrics=_metric_rows(run_a, run_b),
            timings=_timing_rows(run_a, run_b),
        )

    @page("/artifacts/{digest}/{relative:path}")
    def artifact(digest: str, relative: str, ws: int = 0) -> FileResponse:
        path = pick(ws).artifact_file(digest, relative)
        if path is None:
            raise HTTPException(404, "no such file in the artifact store")
        return FileResponse(path, headers={"content-security-policy": ARTIFACT_CSP})

    @page("/catalog", response_class=HTMLResponse)
    def catalog(request: Request) -> HTMLResponse:
        index = stores.catalog()
        return render(
            request,
            "catalog.html",
            pipelines=index.get("pipelines", []),
            shared=index.get("shared_dags", {}),
            templates=stores.templates(spaces[0].root),
        )

    @page("/catalog/{pipeline_id}", response_class=HTMLResponse)
    def catalog_pipeline(request: Request, pipeline_id: str) -> HTMLResponse:
        entry = next(
            (e for e in stores.catalog().get("pipelines", []) if e.get("id") == pipeline_id),
            None,
        )
        dag = stores.catalog_dag(pipeline_id) if entry else None
        if entry is None or dag is None:
            raise HTTPException(404, f"no catalog pipeline {pipeline_id!r}")
        return render(
            request,
            "pipeline.html",
            entry=entry,
            dag=dag_svg(*dag, title=f"DAG of {pipeline_id}"),
            nodes=dag[0],
            edges=dag[1],
        )

    @page("/models", response_class=HTMLResponse)
    def models(request: Request, ws: int = 0, project: str | None = None) -> HTMLResponse:
        space = pick(ws)
        proj = space.project(project)
        found = space.models()
        if proj is not None:
            prefix = proj.get("registry_prefix") or ""
            found = [m for m in found if m["name"].startswith(prefix)]
        known_runs = {
            r["run_id"]
            for m in found
            for v in m["versions"]
            if (r := space.get_run(str(v["lineage"].get("run_id", "")))) is not None
        }
        from cursus.mlops.registry import EVALUATION, ModelVersion, measured_on, metric_groups

        for m in found:
            for v in m["versions"]:
                shown = ModelVersion(
                    m["name"], v["version"], metrics=v["metrics"], lineage=v["lineage"]
                )
                v["groups"] = [
                    ("holdout" if group == EVALUATION else group, values)
                    for group, values in metric_groups(shown)
                ]
                v["measured_on"] = measured_on(shown)
        return render(
            request,
            "models.html",
            ws,
            models=found,
            known_runs=known_runs,
            project=project or "",
            projects=space.projects(),
        )

    @page("/deployments", response_class=HTMLResponse)
    def deployments(request: Request, ws: int = 0, project: str | None = None) -> HTMLResponse:
        space = pick(ws)
        found = space.deployments()
        if project:
            found = [d for d in found if d.get("project") == project]
        return render(
            request,
            "deployments.html",
            ws,
            deployments=found,
            project=project or "",
            projects=space.projects(),
        )

    @page("/drift", response_class=HTMLResponse)
    def drift(request: Request, ws: int = 0) -> HTMLResponse:
        return render(request, "drift.html", ws, reports=pick(ws).drift_reports())

    return app


# ---------------------------------------------------------------------- page data


def _run_or_404(space: stores.Workspace, run_id: str) -> dict[str, Any]:
    run = space.get_run(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r} in {space.root}")
    return run


def _deployment_records(space: stores.Workspace) -> list[dict[str, Any]]:
    """Deployment records without pinging them (the overview must stay fast)."""
    folder = space.root / "deployments"
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = stores._json_file(path, None)
        if isinstance(record, dict):
            found.append(record)
    return found


def _plan_dag(plan: dict[str, Any], run: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """The run's DAG from its plan; without a plan, its steps in a chain of no edges."""
    steps = plan.get("steps") or []
    nodes = [s["name"] for s in steps if isinstance(s, dict) and "name" in s]
    edges = [(str(a), str(b)) for a, b in (plan.get("dag") or {}).get("edges", [])]
    if not edges:
        edges = [(d, s["name"]) for s in steps for d in s.get("depends_on", [])]
    if not nodes:
        nodes = [s["name"] for s in run["steps"]]
    return nodes, edges


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _plan_settings(plan: dict[str, Any]) -> dict[str, Any]:
    settings = _flatten(plan.get("pipeline") or {}, "pipeline")
    settings.update(_flatten(plan.get("parameters") or {}, "parameters"))
    for step in plan.get("steps") or []:
        settings.update(_flatten(step.get("config") or {}, str(step.get("name"))))
    return settings


def _config_diff(
    plan_a: dict[str, Any], plan_b: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """Config fields that differ between two plans (step.field -> a, b), and how many agree."""
    a, b = _plan_settings(plan_a), _plan_settings(plan_b)
    rows, same = [], 0
    for key in sorted(set(a) | set(b)):
        if key in a and key in b and a[key] == b[key]:
            same += 1
            continue
        rows.append({"key": key, "a": a.get(key, "—"), "b": b.get(key, "—")})
    return rows, same


def _metric_rows(run_a: dict[str, Any], run_b: dict[str, Any]) -> list[dict[str, Any]]:
    def metrics(run: dict[str, Any]) -> dict[str, Any]:
        return {f"{s['name']}.{k}": v for s in run["steps"] for k, v in s["metrics"].items()}

    a, b = metrics(run_a), metrics(run_b)
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        numeric = all(isinstance(v, int | float) for v in (va, vb))
        rows.append(
            {
                "key": key,
                "a": va,
                "b": vb,
                "delta": vb - va if numeric else None,  # type: ignore[operator]
                "changed": va != vb,
            }
        )
    return rows


def _timing_rows(run_a: dict[str, Any], run_b: dict[str, Any]) -> list[dict[str, Any]]:
    by_a = {s["name"]: s for s in run_a["steps"]}
    by_b = {s["name"]: s for s in run_b["steps"]}
    names = list(by_a) + [n for n in by_b if n not in by_a]
    return [{"name": n, "a": by_a.get(n), "b": by_b.get(n)} for n in names]


# ---------------------------------------------------------------------- filters


def _secs(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value:.2f} s" if value < 120 else f"{value / 60:.1f} min"


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def _when(value: Any) -> str:
    if not value:
        return "—"
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(value)))


# ---------------------------------------------------------------------- serving


def check_host(host: str, allow_remote: bool = False) -> None:
    """Loopback only, unless the caller says otherwise: the dashboard has no authentication."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise DashboardError(
            f"--host {host} is not a loopback address; the dashboard has no login, so it "
            "listens on 127.0.0.1 unless you pass --allow-remote"
        )


def serve(
    workspaces: Sequence[str | Path] | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    allow_remote: bool = False,
) -> None:
    """Run the dashboard with uvicorn until interrupted."""
    import uvicorn

    check_host(host, allow_remote)
    uvicorn.run(
        create_app(list(workspaces or []) or None, also_hosts=[host]),
        host=host,
        port=port,
        log_level="warning",
    )
