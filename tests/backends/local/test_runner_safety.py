"""What the runner must not do: pass config values through a shell, write outside its workspace for
a hand-edited Plan, loop on a malformed Plan, or use an artifact whose bytes no longer match."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from _runner_support import assert_store_verifies, statuses, write_config, write_dag

from cursus.backends.local import LocalRunner
from cursus.backends.local.store import tree_digest
from cursus.errors import PlanError
from cursus.plan import Plan
from cursus.targets import run_pipeline

NASTY = "; rm -rf x $(touch pwned) `touch pwned2` | touch pwned3 && echo 'q\"uote' > pwned4 #"


def test_config_values_with_shell_metacharacters_reach_the_step_verbatim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a shell would have run `touch pwned` here, the step's cwd
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "keep.txt").write_text("still here")
    data = tmp_path / f"data{NASTY}.csv"
    data.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n")
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training"], [])
    config = write_config(
        tmp_path / "c.json",
        dag,
        DataLoading_training={"data_source": str(data), "pipeline_description": f"desc{NASTY}"},
    )
    result = run_pipeline(dag, config, workspace=tmp_path / "ws", tracking=False)

    assert result.ok, result.steps["DataLoading_training"].error
    step = result.steps["DataLoading_training"]
    schema = json.loads((Path(step.outputs["metadata"]) / "schema.json").read_text())
    assert schema["source"] == str(data)  # DATA_SOURCE arrived byte for byte
    assert step.metrics["n_rows"] == 3
    assert (victim / "keep.txt").read_text() == "still here"
    canaries = [p for p in tmp_path.rglob("pwned*")]
    assert canaries == []
    plan = json.loads((tmp_path / "ws" / "runs" / result.run_id / "plan.json").read_text())
    assert plan["pipeline"]["pipeline_description"] == f"desc{NASTY}"


def _edited_plan(seed_run, tmp_path: Path, edit) -> Plan:
    """The seed's plan, written to a file, edited as JSON by hand, and loaded back."""
    data = seed_run.plan.to_dict()
    edit(data["steps"])
    path = tmp_path / "edited-plan.json"
    path.write_text(json.dumps(data))
    return Plan.load(path)


def _set_output(steps, name):
    steps[0]["outputs"] = {name: steps[0]["outputs"].pop("data"), **steps[0]["outputs"]}


def _set_step_name(steps, name):
    steps[0]["name"] = name


def _set_entry_point(steps, path):
    steps[0]["script"]["entry_point"] = path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: _set_output(s, "../../escaped"), "not a plain file name"),
        (lambda s: _set_output(s, ".."), "not a plain file name"),
        (lambda s: _set_output(s, "/tmp/cursus-escaped"), "not a plain file name"),
        (lambda s: _set_step_name(s, "../evil"), "not a plain file name"),
        (
            lambda s: _set_entry_point(s, "../../../../../tmp/evil.py"),
            "outside its step unit's folder",
        ),
        (lambda s: _set_entry_point(s, "/tmp/evil.py"), "outside its step unit's folder"),
    ],
    ids=[
        "dotdot-output",
        "bare-dotdot-output",
        "absolute-output",
        "dotdot-step",
        "dotdot-script",
        "absolute-script",
    ],
)
def test_a_hand_edited_plan_cannot_reach_outside_its_folders(seed_run, tmp_path, edit, message):
    plan = _edited_plan(seed_run, tmp_path, edit)
    ws = tmp_path / "ws"
    with pytest.raises(PlanError, match=message):
        LocalRunner(plan, workspace=ws)
    assert not (ws / "runs").exists()  # rejected before any run started
    assert not Path("/tmp/cursus-escaped").exists()


def test_a_script_file_that_links_outside_its_folder_is_refused(seed_run, tmp_path):
    """A plain name can still leave the folder through a symbolic link: the runner resolves
    links (and only links) among a step's script files."""
    unit = seed_run.plan.steps[0].script_folder
    copy = tmp_path / "unit"
    copy.mkdir()
    for entry in unit.iterdir():
        if entry.is_file():
            (copy / entry.name).write_bytes(entry.read_bytes())
    outside = tmp_path / "elsewhere.py"
    outside.write_text("print('not the step')\n")
    entry_point = seed_run.plan.steps[0].script["entry_point"]
    (copy / "inside_link.py").symlink_to(copy / entry_point)
    (copy / "outside_link.py").symlink_to(outside)

    def use(name):
        def edit(steps):
            steps[0]["script"]["folder"] = str(copy)
            steps[0]["script"]["entry_point"] = name

        return edit

    LocalRunner(_edited_plan(seed_run, tmp_path, use("inside_link.py")), workspace=tmp_path / "a")
    with pytest.raises(PlanError, match="outside its step unit's folder"):
        LocalRunner(
            _edited_plan(seed_run, tmp_path, use("outside_link.py")), workspace=tmp_path / "b"
        )
    (copy / entry_point).unlink()  # a link to a file that is gone: missing, not a crash
    with pytest.raises(PlanError, match="is missing"):
        LocalRunner(
            _edited_plan(seed_run, tmp_path, use("inside_link.py")), workspace=tmp_path / "c"
        )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s[1].update(depends_on=["Ghost"]), "Ghost"),
        (lambda s: s[0].update(depends_on=[s[2]["name"]]), "before"),
        (lambda s: s[3].update(name=s[0]["name"]), "twice"),
        (
            lambda s: s[1]["inputs"]["data_input"].update(output="no_such_output"),
            "no_such_output",
        ),
    ],
    ids=["unknown-dependency", "cycle", "duplicate-name", "unknown-output"],
)
def test_a_hand_edited_plan_with_broken_wiring_is_rejected_not_hung(
    seed_run, tmp_path, edit, message
):
    plan = _edited_plan(seed_run, tmp_path, edit)
    with pytest.raises(PlanError, match=message):
        LocalRunner(plan, workspace=tmp_path / "ws")


def _flip_bytes(path: Path, keep_mtime: bool = False) -> None:
    before = path.stat()
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    if keep_mtime:  # as `cp -p`, rsync or a restore from backup would leave it
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["touched", "mtime-restored"])
def test_a_corrupt_artifact_is_recomputed_not_used(seed_run, tmp_path, keep_mtime):
    ws = seed_run.copy_workspace(tmp_path / "ws")
    digest = seed_run.result.steps["XGBoostTraining"].digests["model_output"]
    model_file = ws / "artifacts" / "objects" / digest / "model.json"
    good = model_file.read_bytes()
    _flip_bytes(model_file, keep_mtime)
    assert tree_digest(model_file.parent) != digest

    result = LocalRunner(seed_run.plan, workspace=ws, registry_uri=seed_run.registry).run()
    assert result.ok
    st = statuses(result)
    assert st["XGBoostTraining"] == "succeeded"  # recomputed, not taken from the cache
    # training is deterministic, so the recomputed model has the old digest and nothing below re-runs
    assert result.steps["XGBoostTraining"].digests["model_output"] == digest
    assert {n for n, s in st.items() if s == "succeeded"} == {"XGBoostTraining"}
    assert model_file.read_bytes() == good
    assert_store_verifies(ws)


def test_a_missing_file_in_an_artifact_is_recomputed(seed_run, tmp_path):
    ws = seed_run.copy_workspace(tmp_path / "ws")
    digest = seed_run.result.steps["DataLoading_calibration"].digests["metadata"]
    folder = ws / "artifacts" / "objects" / digest
    folder.chmod(0o755)
    (folder / "schema.json").unlink()

    result = LocalRunner(seed_run.plan, workspace=ws, registry_uri=seed_run.registry).run()
    assert result.ok, {name: step.error for name, step in result.steps.items() if step.error}
    assert statuses(result)["DataLoading_calibration"] == "succeeded"
    assert (folder / "schema.json").is_file()
    assert_store_verifies(ws)


def _damage_pages(db: Path) -> None:
    """Overwrite the middle pages of a real SQLite file (its header stays a database's)."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536  # the page size, from the header
    assert len(data) > page, "a database of one page has nothing to damage"
    for offset in range(page, len(data), page):  # every b-tree page header but the first's
        data[offset : offset + 12] = b"\x0d\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff\xff"
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["not a database", "damaged pages"])
def test_a_runs_db_that_is_not_sound_is_one_line_saying_how_to_recover(tmp_path, damage):
    from click.testing import CliRunner

    from cursus.cli.main import cli

    ws = tmp_path / "ws"
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training"], [])
    config = write_config(tmp_path / "c.json", dag)
    runner = CliRunner()
    for _ in range(3):  # a few runs, so the file has pages past its first
        ok = runner.invoke(
            cli,
            [
                "run",
                str(dag),
                "-c",
                str(config),
                "--workspace",
                str(ws),
                "--no-tracking",
                "--no-cache",
                "--quiet",
            ],
        )
        assert ok.exit_code == 0, ok.output
    db = ws / "runs.db"
    with sqlite3.connect(db) as con:  # fold the WAL in, so the damage is to what is read
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if damage == "not a database":
        db.write_bytes(b"hello, not sqlite" * 300)
    else:
        _damage_pages(db)
    for args in (["runs", "list"], ["run", str(dag), "-c", str(config), "--no-tracking"]):
        out = runner.invoke(cli, [*args, "--workspace", str(ws)])
        assert out.exit_code == 2, out.output
        assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
        (line,) = [ln for ln in out.output.splitlines() if ln.strip()]
        assert line.startswith(f"error: {db} is not a sound run database")
        assert "mv runs.db runs.db.damaged" in line


@pytest.mark.parametrize("bad", ["../../escaped", "a/b", "..", "-x", "x" * 202, "a..b"])
def test_a_run_id_that_would_name_another_folder_is_refused(seed_run, tmp_path, bad):
    from cursus.names import NameError_

    plan = _edited_plan(seed_run, tmp_path, lambda s: None)
    ws = tmp_path / "ws"
    with pytest.raises(NameError_, match=r"run id .* is not a plain name"):
        LocalRunner(plan, workspace=ws).run_one(bad, plan.steps[0].name)
    assert not (ws / "runs").exists() and not (tmp_path / "escaped").exists()


def test_orchestrator_run_ids_and_project_names_pass_the_one_name_check():
    from cursus.mlops.project import MLOpsError, check_project_name
    from cursus.names import run_id

    assert run_id("manual__2026-12-02T10:00:00+00:00") == "manual__2026-12-02T10:00:00+00:00"
    check_project_name("lora-finetuning-mlx")
    with pytest.raises(MLOpsError, match=r"project name '\.\./x' is not a plain name"):
        check_project_name("../x")
    with pytest.raises(MLOpsError, match=r"no '\.'"):
        check_project_name("a.b")  # the '.' separates a project's prefix from a model name


def test_two_steps_replacing_one_damaged_artifact_at_once_both_succeed(tmp_path):
    """Two steps of one run often make the same artifact (the schema of two splits of one table).
    When its stored copy is damaged, both recompute it and both commit it, at the same moment:
    the replacement must not trip the other commit (it did: FileNotFoundError, a failed step)."""
    import threading

    from cursus.backends.local.store import ArtifactStore

    store = ArtifactStore(tmp_path / "artifacts")
    files = {f"part-{i}.json": f'{{"column": {i}}}' * 200 for i in range(30)}

    def output(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for file_name, text in files.items():
            (folder / file_name).write_text(text)
        return folder

    digest = store.commit(output("first"))
    failures: list[BaseException] = []
    for attempt in range(40):
        stored = store.path(digest)
        stored.chmod(0o755)
        (stored / "part-0.json").unlink()  # damaged: both steps find out and replace it
        folders = [output(f"a{attempt}"), output(f"b{attempt}")]
        start = threading.Barrier(2)

        def commit(folder: Path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                assert store.commit(folder) == digest
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=commit, args=(f,)) for f in folders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, f"attempt {attempt}: {failures[0]!r}"
        assert store.verify(digest, full=True)
