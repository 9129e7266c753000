"""The dashboard's pages, driven with FastAPI's TestClient over real workspaces."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from _dashboard_support import XSS, snapshot
from click.testing import CliRunner
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cursus.cli.main import cli
from cursus.dashboard import create_app
from cursus.dashboard.app import DashboardError, check_host
from cursus.dashboard.svg import dag_svg, layers


@pytest.fixture(scope="module")
def client(real_workspace: dict, seeded_workspace: dict) -> TestClient:
    return TestClient(
        create_app([real_workspace["root"], seeded_workspace["root"]]), base_url="http://127.0.0.1"
    )


def every_page(real: dict, seeded: dict) -> list[str]:
    first, second = real["first"], real["second"]
    return [
        "/",
        "/runs",
        "/runs?project=fraud",
        "/runs?project=empty",
        "/runs?pipeline=xgboost-e2e&page=2",
        f"/runs/{first}",
        f"/runs/{second}",
        f"/runs/{first}/plots",
        f"/runs/{first}/logs/XGBoostTraining",
        f"/compare?a={first}&b={second}",
        "/catalog",
        "/catalog/xgboost_complete_e2e",
        "/models",
        "/models?project=fraud",
        "/deployments",
        "/drift",
        "/runs?ws=1",
        f"/runs/{seeded['failed']}?ws=1",
        f"/runs/{seeded['failed']}/logs/Train?ws=1",
        f"/runs/{seeded['xss']}?ws=1",
        f"/compare?ws=1&a={seeded['failed']}&b={seeded['xss']}",
        "/models?ws=1",
        "/deployments?ws=1",
        "/drift?ws=1",
        "/static/style.css",
    ]


def test_every_page_answers(client: TestClient, real_workspace: dict, seeded_workspace: dict):
    for path in every_page(real_workspace, seeded_workspace):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        if path != "/static/style.css":
            assert "<script" not in response.text  # the pages carry no script at all
            assert "script-src" not in response.headers["content-security-policy"]


def test_browsing_writes_nothing(real_workspace: dict, seeded_workspace: dict):
    roots = [real_workspace["root"], seeded_workspace["root"]]
    before = [snapshot(r) for r in roots]
    client = TestClient(create_app(roots), base_url="http://127.0.0.1")
    for path in every_page(real_workspace, seeded_workspace):
        client.get(path)
        client.head(path)
    for digest_path in re.findall(
        r'src="(/artifacts/[^"]+)"', client.get(f"/runs/{real_workspace['first']}/plots").text
    ):
        client.get(html.unescape(digest_path))
    assert [snapshot(r) for r in roots] == before


def test_only_read_routes():
    app = create_app(Path("/nonexistent-workspace"))
    for route in app.routes:
        if isinstance(route, APIRoute):
            assert route.methods <= {"GET", "HEAD"}, (route.path, route.methods)
    client = TestClient(app, base_url="http://127.0.0.1")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/runs").status_code == 405


def test_overview_covers_workspaces_and_projects(client: TestClient, real_workspace: dict):
    page = client.get("/").text
    assert str(real_workspace["root"]) in page
    assert "fraud" in page and "empty" in page
    assert real_workspace["second"] in page
    assert "Workspace" in page and page.count("<section") >= 2


def test_runs_list_filters_by_project(client: TestClient, real_workspace: dict):
    tracked = client.get("/runs?project=fraud").text
    assert real_workspace["first"] in tracked and real_workspace["second"] in tracked
    untracked = client.get("/runs?project=empty").text
    assert real_workspace["first"] not in untracked and "no runs" in untracked
    assert client.get("/runs?project=nope").status_code == 404


def test_runs_are_paginated(tmp_path: Path):
    from cursus.backends.local.records import RunRecords

    records = RunRecords(tmp_path / "runs.db")
    for i in range(120):
        records.start_run(
            f"run-{i:04d}",
            {"pipeline_name": "p", "pipeline_version": "1"},
            "0" * 64,
            "",
            [("A", "DataLoading")],
        )
        records.finish_run(f"run-{i:04d}", "succeeded")
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    first = client.get("/runs").text
    assert "120 runs" in first and "page 1 of 3" in first
    assert first.count('name="a"') == 50
    last = client.get("/runs?page=3").text
    assert last.count('name="a"') == 20 and "run-0000" in last and "run-0119" not in last


def test_run_page_shows_dag_timeline_metrics_and_cache(client: TestClient, real_workspace: dict):
    page = client.get(f"/runs/{real_workspace['second']}").text
    assert '<svg class="dag"' in page and '<svg class="timeline"' in page
    assert page.count('class="node cached"') == 4  # data loading and preprocessing, twice
    assert "val_auc" in page and "roc_auc" in page
    assert (
        "cache hit"
        in client.get(f"/compare?a={real_workspace['first']}&b={real_workspace['second']}").text
    )


def test_failed_run_shows_the_failing_steps_log_tail(client: TestClient, seeded_workspace: dict):
    page = client.get(f"/runs/{seeded_workspace['failed']}?ws=1").text
    assert "Failures" in page and "ValueError: label column missing" in page
    assert "line 99" in page and "line 10\n" not in page  # a tail, not the whole log
    assert 'class="node failed"' in page


def test_log_outside_the_workspace_is_not_read(client: TestClient, seeded_workspace: dict):
    page = client.get(f"/runs/{seeded_workspace['xss']}?ws=1").text
    assert "root:" not in page  # log_path /etc/passwd is ignored


def test_plots_are_served_from_the_artifact_store(client: TestClient, real_workspace: dict):
    page = client.get(f"/runs/{real_workspace['first']}/plots").text
    sources = [html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', page)]
    names = {s.split("?")[0].rsplit("/", 1)[1] for s in sources}
    assert {"roc_curve.png", "pr_curve.png", "reliability.png"} <= names
    for src in sources:
        response = client.get(src)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")


def test_artifact_path_traversal_is_refused(client: TestClient, real_workspace: dict):
    page = client.get(f"/runs/{real_workspace['first']}/plots").text
    digest = re.search(r"/artifacts/([0-9a-f]{64})/", page).group(1)
    for path in (
        f"/artifacts/{digest}/%2e%2e/%2e%2e/%2e%2e/runs.db",
        f"/artifacts/{digest}/..%2f..%2f..%2fruns.db",
        f"/artifacts/{digest}/%2fetc%2fpasswd",
        "/artifacts/..%2f..%2f/runs.db",
        "/artifacts/abc/roc_curve.png",
        f"/artifacts/{digest}/",
        f"/artifacts/{digest}.manifest.json/x",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"SQLite" not in response.content and b"root:" not in response.content


def test_compare_diffs_configs_and_metrics(client: TestClient, real_workspace: dict):
    page = client.get(f"/compare?a={real_workspace['first']}&b={real_workspace['second']}").text
    row = re.search(r"XGBoostTraining\.hyperparameters\.max_depth</code></td>(.*?)</tr>", page)
    assert row and re.findall(r"<td[^>]*>(.*?)</td>", row.group(1)) == ["6", "3"]
    assert "XGBoostTraining.val_auc" in page and "fields differ" in page
    assert client.get("/compare?a=x").status_code == 400
    assert client.get("/compare?a=x&b=y").status_code == 404


def test_models_show_versions_aliases_and_lineage(client: TestClient, real_workspace: dict):
    page = client.get("/models").text
    assert "xgboost-e2e" in page and "@candidate" in page
    assert f'href="/runs/{real_workspace["first"]}"' in page
    assert f'href="/runs/{real_workspace["second"]}"' in page
    assert "empty." not in client.get("/models?project=empty").text
    assert "no registered models" in client.get("/models?project=empty").text


def test_models_show_what_each_version_scored_on_held_out_data(
    client: TestClient, real_workspace: dict
) -> None:
    """The holdout evaluation comes first, rounded for reading, with the data it measured."""
    import re

    page = client.get("/models").text
    assert page.count("measured on calibration split, 171 rows (0: 55, 1: 116)") == 2
    holdout = re.findall(r"holdout\.</span>roc_auc = ([0-9.]+)<", page)
    assert len(holdout) == 2 and all(len(v) <= 6 for v in holdout), holdout
    first_group = re.search(r'<div class="metric-group"><strong>(\w+)</strong>', page)
    assert first_group is not None and first_group.group(1) == "holdout"
    assert not re.search(r"= 0\.\d{8,}", page), "metrics are rounded for reading"


def test_catalog_draws_each_pipeline(client: TestClient):
    catalog = client.get("/catalog").text
    ids = re.findall(r'href="/catalog/([^"]+)"', catalog)
    assert "xgboost_complete_e2e" in ids
    for pipeline_id in ids:
        page = client.get(f"/catalog/{pipeline_id}").text
        assert '<svg class="dag"' in page, pipeline_id
    assert client.get("/catalog/nope").status_code == 404


def test_deployments_and_drift(client: TestClient):
    assert "stopped" in client.get("/deployments?ws=1").text
    drift = client.get("/drift?ws=1").text
    assert "detected" in drift and "1 of 2" in drift


def test_the_deployments_page_shows_every_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FastAPI, a Ray and a SageMaker deployment record; AWS answers from a closed loopback
    port, so the endpoint's health is unknown (the page still renders, in seconds)."""
    import time

    from cursus.mlops.project import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "ws" / "deployments"
    folder.mkdir(parents=True)
    common = {"project": "default", "model_ref": "m:1", "started": "2026-12-03T00:00:00+00:00"}
    records = {
        "api": {"engine": "fastapi", "pid": 2**22 + 9, "port": 9, "url": "http://127.0.0.1:9"},
        "replicated": {"engine": "ray", "replicas": 2, "pid": 2**22 + 8, "port": 8},
        "endpoint": {
            "engine": "sagemaker", "replicas": 3, "endpoint_name": "xgb-e2e-v1",
            "region": "us-east-1", "instance_type": "ml.m5.large",
        },
    }  # fmt: skip
    for name, record in records.items():
        (folder / f"{name}.json").write_text(json.dumps({"name": name, **common, **record}))
    client = TestClient(create_app([tmp_path / "ws"]), base_url="http://127.0.0.1")
    started = time.monotonic()
    page = client.get("/deployments").text
    assert time.monotonic() - started < 30
    rows = {row.split("</td>")[0].rsplit(">", 1)[-1]: row for row in page.split("<tr>")[2:]}
    assert set(rows) == {"api", "replicated", "endpoint"}
    assert "<td>ray</td><td>2</td>" in rows["replicated"] and "stopped" in rows["replicated"]
    assert "<td>sagemaker</td><td>3</td>" in rows["endpoint"]
    assert "xgb-e2e-v1" in rows["endpoint"] and "unknown" in rows["endpoint"]
    assert "<td>fastapi</td><td>1</td>" in rows["api"]


def test_every_user_string_is_escaped(client: TestClient, seeded_workspace: dict):
    escaped = html.escape(XSS, quote=False)
    for path in every_page({"first": "x", "second": "y"}, seeded_workspace):
        if "ws=1" not in path:
            continue
        text = client.get(path).text
        assert XSS not in text, path
    page = client.get(f"/runs/{seeded_workspace['xss']}?ws=1").text
    assert escaped in page
    assert escaped in client.get("/runs?ws=1").text


def test_unknown_workspace_and_run_are_404(client: TestClient):
    assert client.get("/runs?ws=7").status_code == 404
    assert client.get("/runs/nope").status_code == 404


def test_layers_and_svg_escape():
    assert layers(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("a", "c")]) == [
        ["a", "d"],
        ["b"],
        ["c"],
    ]
    assert layers(["x", "y"], [("x", "y"), ("y", "x")])  # a cycle does not hang
    svg = str(dag_svg([XSS], []))
    assert XSS not in svg and "&lt;script&gt;" in svg


def test_remote_hosts_need_allow_remote():
    check_host("127.0.0.1")
    check_host("::1")
    check_host("localhost")
    with pytest.raises(DashboardError, match="--allow-remote"):
        check_host("0.0.0.0")
    check_host("0.0.0.0", allow_remote=True)
    result = CliRunner().invoke(cli, ["mlops", "dashboard", "--host", "192.168.1.5"])
    assert result.exit_code == 2 and "--allow-remote" in result.output


def test_sqlite_is_read_without_creating_files(tmp_path: Path):
    import sqlite3

    from cursus.dashboard.stores import connect_ro

    db_path = tmp_path / "runs.db"
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.close()  # the last connection checkpoints and removes -wal and -shm
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db"]
    with connect_ro(db_path) as db:
        assert [tuple(r) for r in db.execute("SELECT x FROM t")] == [(1,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db"]
    writer = sqlite3.connect(db_path, isolation_level=None)  # a writer at work: share its WAL
    writer.execute("INSERT INTO t VALUES (2)")
    with connect_ro(db_path) as db:
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 2
        try:
            db.execute("INSERT INTO t VALUES (3)")
            raise AssertionError("a read-only connection wrote")
        except sqlite3.OperationalError as exc:
            assert "readonly" in str(exc)
    writer.close()


def test_the_dashboard_answers_loopback_names_and_its_own_host_only(tmp_path) -> None:
    local = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    assert local.get("/", headers={"host": "localhost:8765"}).status_code == 200
    refused = local.get("/", headers={"host": "rebind.evil.example:8765"})
    assert refused.status_code == 421 and "not a loopback name" in refused.text
    # started with --host 0.0.0.0 --allow-remote on a machine called box.lan: that name too
    remote = TestClient(create_app(tmp_path, also_hosts=["box.lan"]), base_url="http://box.lan")
    assert remote.get("/").status_code == 200
    assert remote.get("/", headers={"host": "evil.example"}).status_code == 421


@pytest.mark.parametrize("path", ["/", "/runs", "/models", "/deployments", "/catalog", "/drift"])
def test_every_page_answers_head_as_the_docs_say(tmp_path, path) -> None:
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    got = client.get(path)
    head = client.head(path)
    assert got.status_code == 200 and head.status_code == 200, (path, head.status_code)
    assert head.headers["content-type"] == got.headers["content-type"]
