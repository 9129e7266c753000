"""The local runner: executes a Plan on this machine.

Each step runs in its own process (forked from a server that preloaded the heavy libraries);
independent branches run in parallel; outputs go to the content-addressed store; a step whose
inputs and definition are unchanged is taken from the cache; every run and step is recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cursus.backends.local.hooks import RunHooks
from cursus.backends.local.processes import pid_alive
from cursus.backends.local.records import RunRecords
from cursus.backends.local.store import ArtifactStore, tree_digest
from cursus.errors import PlanError, RunError
from cursus.names import run_id as checked_run_id
from cursus.plan import Plan, PlanStep
from cursus.workspace import default_registry_uri, resolve_workspace

# config fields that change how a step is run, not what it produces
NOT_IN_CACHE_KEY = {
    "retries",
    "retry_backoff_seconds",
    "cache",
    "max_runtime_seconds",
    "pipeline_description",
}
LOG_TAIL_LINES = 15
_forkserver_lock = threading.Lock()
# what multiprocessing reports when the fork server cannot tell a step's exit status
FORK_SERVER_LOST = 255


@dataclass
class StepResult:
    name: str
    status: str  # succeeded | failed | skipped | cached
    outputs: dict[str, str] = field(default_factory=dict)  # output name -> folder
    digests: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    attempts: int = 0
    error: str | None = None
    log_path: str | None = None
    cache_key: str | None = None
    hardware: dict[str, float] = field(default_factory=dict)  # measured in the step process
    # ms the runner spent on the step besides the step process's own imports and work:
    # cache_lookup (inputs, key, cache), dispatch (fork to the step running, and back),
    # commit (outputs into the store), record (run records and cache row)
    overhead: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "cached")

    @property
    def scheduler_ms(self) -> float:
        """The runner's own share: dispatch, cache lookup and recording (not the output commit,
        which grows with the outputs)."""
        return sum(v for k, v in self.overhead.items() if k != "commit")


@dataclass
class RunResult:
    run_id: str
    status: str
    workspace: str
    steps: dict[str, StepResult]
    seconds: float
    warnings: list[str] = field(default_factory=list)  # what hooks could not do (data lineage)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "steps": {k: asdict(v) for k, v in self.steps.items()}}


@dataclass
class _Lookup:
    """What the scheduler found for a step before it is computed (LocalRunner._look_up)."""

    started: float
    input_paths: dict[str, str] = field(default_factory=dict)
    key: str = ""
    result: StepResult | None = None  # cached, or failed: nothing to compute
    overhead: dict[str, float] = field(default_factory=dict)


class LocalRunner:
    def __init__(
        self,
        plan: Plan,
        workspace: str | Path | None = None,
        workers: int | None = None,
        use_cache: bool = True,
        hooks: Sequence[RunHooks] = (),
        registry_uri: str | None = None,
    ) -> None:
        self.plan = plan
        self.workspace = resolve_workspace(workspace)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.use_cache = use_cache
        self.hooks = list(hooks)
        self.store = ArtifactStore(self.workspace / "artifacts")
        self.records = RunRecords(self.workspace / "runs.db")
        self.registry_uri = registry_uri or default_registry_uri(self.workspace)
        self._check_plan()
        # step name -> (process, connection) started before the step is due (_prewarm)
        self._warm: dict[str, tuple[Any, Any]] = {}
        self._warm_lock = threading.Lock()
        self._may_prewarm = False
        # processes forked ahead of need, waiting for a step's request (_take_spare)
        self._spares: list[tuple[Any, Any]] = []
        self._spare_lock = threading.Lock()
        self._refilling: threading.Thread | None = None
        self._may_fork_spares = False
        self._spare_budget = 0  # steps of the run not yet dispatched: no spare beyond them

    # ------------------------------------------------------------------ run

    def run(self) -> RunResult:
        started = time.perf_counter()
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run_dir = self.workspace / "runs" / run_id
        (run_dir / "logs").mkdir(parents=True)
        plan_path = self.plan.save(run_dir / "plan.json")
        self.records.start_run(
            run_id,
            self.plan.pipeline,
            self.plan.digest,
            str(plan_path),
            [(s.name, s.step_type) for s in self.plan.steps],
        )
        self._call("before_pipeline_run", run_id, self.plan)
        results: dict[str, StepResult] = {}
        self._may_prewarm = True
        # CURSUS_SPARE_PROCESSES=0: every step forks when it starts (as before spares existed)
        self._may_fork_spares = os.environ.get("CURSUS_SPARE_PROCESSES", "1") != "0"
        self._spare_budget = len(self.plan.steps)
        try:
            self._schedule(run_id, run_dir, results)
        except BaseException as exc:
            self.records.finish_run(run_id, "interrupted", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._close_warm()
            self._close_spares()
        failed = [r for r in results.values() if r.status == "failed"]
        status = "failed" if failed else "succeeded"
        error = "; ".join(f"{r.name}: {r.error}" for r in failed) or None
        self.records.finish_run(run_id, status, error)
        ordered = {s.name: results[s.name] for s in self.plan.steps}
        result = RunResult(
            run_id, status, str(self.workspace), ordered, time.perf_counter() - started
        )
        self._call("after_pipeline_run", result)
        return result

    def run_one(self, run_id: str, name: str) -> StepResult:
        """Run one step of the plan inside run `run_id`, creating the run on first use.

        This is what an orchestrator (Airflow) calls once per task: upstream outputs come from the
        run's records, so tasks in separate processes share one run, the store and the cache.
        """
        checked_run_id(run_id)
        step = self.plan.step(name)
        run_dir = self.workspace / "runs" / run_id
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        plan_path = run_dir / "plan.json"
        if not plan_path.exists():
            self.plan.save(plan_path)
        steps = [(s.name, s.step_type) for s in self.plan.steps]
        digest = self.records.ensure_run(
            run_id, self.plan.pipeline, self.plan.digest, str(plan_path), steps
        )
        if digest != self.plan.digest:
            raise RunError(
                f"run {run_id} was started with another plan; recompile the DAG file or use a new run id"
            )
        recorded = {s["name"]: s for s in self.records.get_run(run_id)["steps"]}  # type: ignore[index]
        results: dict[str, StepResult] = {}
        for upstream in self._ancestors(name):
            row = recorded[upstream]
            if row["status"] not in ("succeeded", "cached"):
                raise RunError(
                    f"step '{name}' needs '{upstream}', which is {row['status']} in run {run_id}; run it first"
                )
            digests = row["outputs"]
            outputs = {k: str(self.store.path(d)) for k, d in digests.items()}
            results[upstream] = StepResult(
                upstream, row["status"], outputs=outputs, digests=digests
            )
        # hooks see one run made of many calls: tracking finds the run's parent by its id, and
        # closes it with the call that finishes the run; until then the run is "running"
        self._call("before_pipeline_run", run_id, self.plan)
        result = self._execute(run_id, run_dir, step, results)
        status = self.records.finish_run_if_done(run_id) or "running"
        self._call(
            "after_pipeline_run",
            RunResult(run_id, status, str(self.workspace), {name: result}, result.seconds),
        )
        return result

    def _schedule(self, run_id: str, run_dir: Path, results: dict[str, StepResult]) -> None:
        """Dispatch each step once its dependencies are done. The scheduler looks a step up in
        the cache itself (a few file checks and one query) and hands only the steps that must be
        computed to the thread pool: a fully cached run starts no thread."""
        steps = {s.name: s for s in self.plan.steps}
        pending = list(steps)
        running: dict[Future[StepResult], str] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="cursus-step") as pool:
            while pending or running:
                ready = [n for n in pending if all(d in results for d in steps[n].depends_on)]
                for name in ready:
                    pending.remove(name)
                    step = steps[name]
                    bad = [d for d in step.depends_on if not results[d].ok]
                    if bad:
                        results[name] = StepResult(
                            name, "skipped", error=f"upstream {', '.join(bad)} did not succeed"
                        )
                        self.records.update_step(
                            run_id, name, status="skipped", error=results[name].error
                        )
                        self._call("after_step_run", run_id, step, results[name])
                        continue
                    lookup = self._look_up(run_id, step, results)
                    if lookup.result is not None:  # from the cache, or failed on a broken input
                        results[name] = self._finish(run_id, run_dir, step, results, lookup)
                    else:
                        future = pool.submit(self._finish, run_id, run_dir, step, results, lookup)
                        running[future] = name
                if not running or any(
                    all(d in results for d in steps[n].depends_on) for n in pending
                ):
                    continue  # steps finished here made others ready: dispatch them first
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    results[name] = future.result()

    # ------------------------------------------------------------------ one step

    def _execute(
        self, run_id: str, run_dir: Path, step: PlanStep, results: dict[str, StepResult]
    ) -> StepResult:
        return self._finish(run_id, run_dir, step, results, self._look_up(run_id, step, results))

    def _look_up(self, run_id: str, step: PlanStep, results: dict[str, StepResult]) -> _Lookup:
        """The step's inputs, cache key and cached result (None: it must be computed); a broken
        input or store is this step's failure, not the run's crash."""
        lookup = _Lookup(started=time.time())
        clock = time.perf_counter()
        try:
            lookup.input_paths, input_digests = self._inputs(step, results)
            lookup.key = self._cache_key(step, input_digests)
            if self.use_cache and step.settings.cache:
                lookup.result = self._from_cache(step, lookup.key)
        except Exception as exc:
            lookup.result = StepResult(step.name, "failed", error=f"{type(exc).__name__}: {exc}")
        lookup.overhead["cache_lookup"] = _ms_since(clock)
        return lookup

    def _finish(
        self,
        run_id: str,
        run_dir: Path,
        step: PlanStep,
        results: dict[str, StepResult],
        lookup: _Lookup,
    ) -> StepResult:
        """Compute the step unless its lookup settled it, then record it and tell the hooks
        (a step waiting for a worker has not started: the hooks hear of it when it does)."""
        self._call("before_step_run", run_id, step)
        overhead, key, result = lookup.overhead, lookup.key, lookup.result
        started = lookup.started if result is not None else time.time()
        try:
            if result is None:  # it will run (or wait for a run of it): say so first
                clock = time.perf_counter()
                self.records.update_step(run_id, step.name, status="running", started=started)
                overhead["record"] = _ms_since(clock)
                if self.use_cache and step.settings.cache:
                    # another run of the same step and inputs may be in flight: wait for it, and
                    # take its result from the cache rather than computing it twice
                    with self._key_lock(key):
                        result = self._from_cache(step, key)
                        if result is None:
                            result = self._run_with_retries(
                                run_id, run_dir, step, lookup.input_paths, key, results
                            )
                else:
                    result = self._run_with_retries(
                        run_id, run_dir, step, lookup.input_paths, key, results
                    )
        except Exception as exc:  # a broken store is this step's failure, not the run's crash
            result = StepResult(step.name, "failed", error=f"{type(exc).__name__}: {exc}")
        clock = time.perf_counter()
        self.records.update_step(
            run_id,
            step.name,
            status=result.status,
            cache_key=result.cache_key,
            cache_hit=result.status == "cached",
            attempts=result.attempts,
            started=started,
            ended=time.time(),
            outputs=result.digests,
            metrics=result.metrics,
            error=result.error,
            log_path=result.log_path,
            hardware=result.hardware,
        )
        for part, ms in overhead.items():
            result.overhead[part] = result.overhead.get(part, 0.0) + ms
        result.overhead["record"] = result.overhead.get("record", 0.0) + _ms_since(clock)
        self._call("after_step_run" if result.ok else "on_step_error", run_id, step, result)
        return result

    def _inputs(
        self, step: PlanStep, results: dict[str, StepResult]
    ) -> tuple[dict[str, str], dict[str, str]]:
        paths: dict[str, str] = {}
        digests: dict[str, str] = {}
        for name, source in sorted(step.inputs.items()):
            if "from_step" in source:
                digest = results[source["from_step"]].digests[source["output"]]
                if not self.store.verify(digest):
                    raise RunError(
                        f"input '{name}' ({source['from_step']}.{source['output']}) is corrupt in the store"
                    )
                paths[name] = str(self.store.path(digest))
                digests[name] = digest
            else:
                paths[name], digests[name] = self._external(source["uri"])
        return paths, digests

    def _external(self, uri: str) -> tuple[str, str]:
        """A local path is used in place; a remote URI is copied into the workspace first."""
        if uri.startswith("file://"):
            uri = uri[len("file://") :]
        if "://" not in uri:
            path = Path(uri)
            if not path.exists():
                raise RunError(f"external input {uri} does not exist")
            return str(path), tree_digest(path)
        import fsspec

        staged = self.workspace / "external" / hashlib.sha256(uri.encode()).hexdigest()[:16]
        if staged.exists():
            shutil.rmtree(staged)
        fs, _, (remote,) = fsspec.get_fs_token_paths(uri)
        fs.get(remote, str(staged), recursive=True)
        return str(staged), tree_digest(staged)

    def _cache_key(self, step: PlanStep, input_digests: dict[str, str]) -> str:
        config = {k: v for k, v in step.config.items() if k not in NOT_IN_CACHE_KEY}
        runtime = {k: v for k, v in step.runtime_env.items() if v == "model_registry_uri"}
        material = {
            "step_type": step.step_type,
            "spec": step.spec_digest,
            "script": step.script["sha256"],
            "config": config,
            "env": step.env,
            "job_args": step.job_args,
            "inputs": input_digests,
            "registry": self.registry_uri if runtime else None,
            "files": _local_files_named_by(step.env),
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    @contextlib.contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        """Hold the lock of cache key `key` across processes (flock: the kernel releases it
        when a holder dies, so a killed run never leaves it taken)."""
        try:
            import fcntl
        except ImportError:  # no flock here: runs may compute a step twice, never wrongly
            yield
            return
        folder = self.workspace / "locks"
        folder.mkdir(exist_ok=True)
        with open(folder / f"{key}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _from_cache(self, step: PlanStep, key: str) -> StepResult | None:
        hit = self.records.cache_get(key)
        if hit is None:
            return None
        digests: dict[str, str] = hit["outputs"]
        if not all(self.store.is_digest(d) for d in digests.values()):
            self.records.cache_drop(key)  # not digests at all: a damaged row, a miss
            return None
        if set(digests) != set(step.outputs) or not all(
            self.store.verify(d) for d in digests.values()
        ):
            for digest in digests.values():
                if not self.store.verify(digest, full=True):
                    self.store.discard(digest)
            self.records.cache_drop(key)
            return None
        return StepResult(
            step.name,
            "cached",
            outputs={k: str(self.store.path(d)) for k, d in digests.items()},
            digests=digests,
            metrics=hit["metrics"],
            cache_key=key,
        )

    def _run_with_retries(
        self,
        run_id: str,
        run_dir: Path,
        step: PlanStep,
        input_paths: dict[str, str],
        key: str,
        results: dict[str, StepResult],
    ) -> StepResult:
        retries = step.settings.retries
        backoff = step.settings.retry_backoff_seconds
        log_path = run_dir / "logs" / f"{step.name}.log"
        result = StepResult(step.name, "failed")
        for attempt in range(1, retries + 2):
            if attempt > 1:
                time.sleep(backoff * 2 ** (attempt - 2))
            result = self._attempt(
                run_id, run_dir, step, input_paths, key, results, attempt, log_path
            )
            result.attempts = attempt
            if result.ok:
                break
        return result

    def _attempt(
        self,
        run_id: str,
        run_dir: Path,
        step: PlanStep,
        input_paths: dict[str, str],
        key: str,
        results: dict[str, StepResult],
        attempt: int,
        log_path: Path,
    ) -> StepResult:
        self._prewarm(run_id)
        work = run_dir / step.name / f"attempt-{attempt}"
        output_paths = {name: str(_inside(work / "outputs", name)) for name in step.outputs}
        for path in output_paths.values():
            Path(path).mkdir(parents=True)
        environ = {**step.env, **self._runtime_env(run_id, step, results)}
        request = {
            "step": step.name,
            "script": str(step.script_path),
            "input_paths": input_paths,
            "output_paths": output_paths,
            "environ_vars": environ,
            "job_args": step.job_args,
            "log_path": str(log_path),
            "result_path": str(work / "result.json"),
            "runner_pid": os.getpid(),
            # the fork server keeps the directory it started in; a step reads relative paths from
            # the runner's, which the cache key digested
            "cwd": _working_directory(),
        }
        with log_path.open("a") as log:
            log.write(f"[cursus] attempt {attempt} of {step.name} at {time.strftime('%H:%M:%S')}\n")
        started = time.perf_counter()
        exitcode = self._spawn(request, timeout=float(step.settings.max_runtime_seconds))
        seconds = time.perf_counter() - started
        outcome = _read_json(work / "result.json")
        # the step process says when it began and ended its own part (imports and main)
        own = outcome.get("own_seconds")
        dispatch = 1000 * (seconds - own) if isinstance(own, (int, float)) else None
        if exitcode != 0 or not outcome.get("ok"):
            reason = outcome.get("error") or _exit_reason(exitcode)
            tail = _tail(log_path)
            return StepResult(
                step.name,
                "failed",
                seconds=seconds,
                error=f"{reason}\n{tail}".rstrip(),
                log_path=str(log_path),
                hardware=outcome.get("hardware", {}),
            )
        clock = time.perf_counter()
        digests = {name: self.store.commit(Path(path)) for name, path in output_paths.items()}
        overhead = {"commit": _ms_since(clock)}
        if dispatch is not None:
            overhead["dispatch"] = max(0.0, dispatch)
        metrics = outcome.get("metrics", {})
        clock = time.perf_counter()
        if step.settings.cache:
            self.records.cache_put(key, step.step_type, digests, metrics)
        overhead["record"] = _ms_since(clock)
        return StepResult(
            step.name,
            "succeeded",
            outputs={k: str(self.store.path(d)) for k, d in digests.items()},
            digests=digests,
            metrics=metrics,
            seconds=seconds,
            log_path=str(log_path),
            cache_key=key,
            hardware=outcome.get("hardware", {}),
            overhead=overhead,
        )

    def _runtime_env(
        self, run_id: str, step: PlanStep, results: dict[str, StepResult]
    ) -> dict[str, str]:
        lineage = {
            f"{name}.{out}": digest
            for name in self._ancestors(step.name)
            for out, digest in results[name].digests.items()
        }
        values = {
            **self._known_before_inputs(run_id),
            "input_digests": json.dumps(lineage, sort_keys=True),
        }
        unknown = set(step.runtime_env.values()) - set(values)
        if unknown:
            raise PlanError(f"step '{step.name}' asks for unknown runtime values {sorted(unknown)}")
        return {env: values[source] for env, source in step.runtime_env.items()}

    def _known_before_inputs(self, run_id: str) -> dict[str, str]:
        """The runtime values a step's env may take that are known before its inputs exist."""
        return {"run_id": run_id, "model_registry_uri": self.registry_uri}

    def _ancestors(self, name: str) -> list[str]:
        deps = {s.name: s.depends_on for s in self.plan.steps}
        seen: list[str] = []
        stack = list(deps[name])
        while stack:
            cur = stack.pop()
            if cur not in seen:
                seen.append(cur)
                stack.extend(deps[cur])
        return sorted(seen)

    def _spawn(self, request: dict[str, Any], timeout: float) -> int | None:
        """Run the step in a process forked from the fork server; its exit code (-9 when killed
        at `timeout`).

        The fork server reports each step's exit status. Should the server itself die while a
        step runs (seen once in CI, under load), multiprocessing says 255 at once, though the step
        process, orphaned, runs on: the step is then awaited by its pid and judged by the result
        it wrote; a step that was lost with the server, leaving no result, is started once more
        (on a new server; that is no fault of the step's, so it uses none of its retries).
        A step whose process was started early (`_prewarm`) runs there instead.
        """
        import multiprocessing

        from cursus.backends.local import launch

        deadline = time.monotonic() + timeout
        warm = self._take_warm(request["step"])
        if warm is not None:  # started early, its libraries imported: it runs this request
            proc, conn = warm
            conn.send({**request, "warm": True})
            return self._exit_by(proc, request, timeout, deadline, conn)
        for launch_number in (1, 2):
            _context(self._frameworks())
            proc, done = self._take_spare(request) if launch_number == 1 else (None, None)
            if proc is None:
                # the step says "done" on this pipe once its result is written: the run goes on
                # without waiting the ~7 ms its exit and the fork server's report of it take
                done, done_writer = multiprocessing.get_context("forkserver").Pipe(duplex=False)
                proc = launch.StepProcess(
                    target=launch.run_step,
                    args=({**request, "done": done_writer},),
                    name=f"cursus-{request['step']}",
                )
                if launch_number == 2:
                    _await_lost_fork_server()
                try:
                    proc.start()
                finally:
                    done_writer.close()
            code = self._exit_by(proc, request, timeout, deadline, done)
            if code != FORK_SERVER_LOST:
                return code
            _log_line(request, f"the fork server was lost while the step ran (pid {proc.pid})")
            if not _await_orphan(proc.pid, deadline):
                return self._killed_at(request, timeout)
            if Path(request["result_path"]).exists():
                return 0 if _read_json(Path(request["result_path"])).get("ok") else 1
            if launch_number == 2:
                break
            _log_line(request, "the step left no result; starting it again on a new fork server")
            for folder in request["output_paths"].values():
                shutil.rmtree(folder, ignore_errors=True)
                Path(folder).mkdir(parents=True)
        return FORK_SERVER_LOST

    # ------------------------------------------------------------------ spare step processes

    def _take_spare(self, request: dict[str, Any]) -> tuple[Any, Any]:
        """A process forked from the fork server before this step was due, handed `request`:
        (process, its connection), or (None, None) when none is ready. Either way another is
        forked in the background for the next step, so no step waits for a fork (~6 ms) and
        the child's start (~4 ms)."""
        taken: tuple[Any, Any] = (None, None)
        with self._spare_lock:
            self._spare_budget -= 1
            while self._spares:
                proc, conn = self._spares.pop(0)
                try:
                    conn.send(request)
                    taken = (proc, conn)
                    break
                except OSError:  # it died meanwhile: the fork server with it, or a kill
                    conn.close()
                    proc.join(1)
        self._refill_spares()
        return taken

    def _refill_spares(self) -> None:
        with self._spare_lock:
            busy = self._refilling is not None and self._refilling.is_alive()
            if busy or not self._may_fork_spares:
                return
            self._refilling = threading.Thread(
                target=self._fork_spares, name="cursus-spares", daemon=True
            )
            self._refilling.start()

    def _fork_spares(self) -> None:
        """Fork spares until there is one per worker (no more than the steps still to come);
        a spare waits on its pipe and runs the request it gets, or exits when the runner closes
        the pipe (or dies)."""
        from cursus.backends.local import launch

        ctx = _context(self._frameworks())
        while True:
            with self._spare_lock:
                wanted = min(self.workers, self._spare_budget)
                if not self._may_fork_spares or len(self._spares) >= wanted:
                    return
            ours, theirs = ctx.Pipe()
            proc = launch.StepProcess(
                target=launch.warm_worker, args=(theirs, []), name="cursus-spare"
            )
            try:
                proc.start()
            except Exception:  # only a head start lost: steps fork the usual way
                ours.close()
                return
            finally:
                theirs.close()
            with self._spare_lock:
                if self._may_fork_spares:
                    self._spares.append((proc, ours))
                    continue
            ours.close()  # the run ended while it forked
            proc.join(5)
            return

    def _close_spares(self) -> None:
        """End the spares no step used: each reads end-of-input and exits."""
        with self._spare_lock:
            self._may_fork_spares = False
            refilling, self._refilling = self._refilling, None
        if refilling is not None:
            refilling.join(10)
        with self._spare_lock:
            left, self._spares = self._spares, []
        _end_waiting(left)

    # ------------------------------------------------------------------ warm step processes

    def _prewarm(self, run_id: str) -> None:
        """Once the run computes its first step, start the registration steps' processes: each
        imports MLflow (~1.7 s) and calls its script's `prewarm` (the registry's stores opened,
        ~0.2 s) while the steps before it run, instead of after them. A run served from the
        cache starts none."""
        import multiprocessing

        from cursus.backends.local import launch

        if not self._may_prewarm or not self.registry_uri.startswith(("sqlite:", "http")):
            return
        with self._warm_lock:
            if not self._may_prewarm:
                return
            self._may_prewarm = False
            ctx = multiprocessing.get_context("spawn")
            for step in self.plan.steps:
                if step.job_kind != "register":
                    continue
                ours, theirs = ctx.Pipe()
                known = self._known_before_inputs(run_id)
                environ = {
                    **step.env,
                    **{k: known[v] for k, v in step.runtime_env.items() if v in known},
                }
                warm = {"script": str(step.script_path), "environ_vars": environ}
                proc = launch.WarmStepProcess(
                    target=launch.warm_worker,
                    args=(theirs, launch.WARM_PRELOAD, warm),
                    name=f"cursus-warm-{step.name}",
                )
                try:
                    proc.start()
                except Exception:  # only a head start lost: the step starts the usual way
                    ours.close()
                    continue
                finally:
                    theirs.close()
                self._warm[step.name] = (proc, ours)

    def _take_warm(self, name: str) -> tuple[Any, Any] | None:
        with self._warm_lock:
            warm = self._warm.pop(name, None)
        if warm is not None and not warm[0].is_alive():
            warm[1].close()
            warm[0].join()
            return None
        return warm

    def _close_warm(self) -> None:
        """End the warm processes no step used (a step failed upstream, or came from cache)."""
        with self._warm_lock:
            left, self._warm = list(self._warm.values()), {}
            self._may_prewarm = False
        _end_waiting(left)

    def _exit_by(
        self,
        proc: Any,
        request: dict[str, Any],
        timeout: float,
        deadline: float,
        done: Any = None,
    ) -> int | None:
        """Wait for the step process until `deadline`, killing it there: its exit code, or -9.

        With `done` (the read end of the step's pipe), a step that reports its result written
        and ok counts as exit code 0 at once; all it has left is `os._exit(0)`, and a thread
        collects its real exit meanwhile."""
        from cursus.backends.local import launch

        if done is not None:
            from multiprocessing.connection import wait as wait_for  # not on a cached run's path

            try:
                ready = wait_for([done, proc.sentinel], max(0.0, deadline - time.monotonic()))
                if done in ready and done.recv_bytes() == launch.DONE:
                    threading.Thread(target=proc.join, name="cursus-reap", daemon=True).start()
                    return 0
            except (EOFError, OSError):  # it ended without saying so: its exit code tells
                pass
            finally:
                done.close()
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
            return self._killed_at(request, timeout)
        return proc.exitcode

    @staticmethod
    def _killed_at(request: dict[str, Any], timeout: float) -> int:
        _log_line(request, f"killed after max_runtime_seconds={timeout:g}")
        return -9

    def _frameworks(self) -> set[str]:
        return {s.framework for s in self.plan.steps}

    # ------------------------------------------------------------------ helpers

    def _check_plan(self) -> None:
        """A plan file can be edited by hand: reject names that would leave the run folder, and
        wiring the scheduler cannot finish (an unknown or later dependency would make it wait forever)."""
        outputs: dict[str, set[str]] = {}
        for step in self.plan.steps:
            for name in [step.name, *step.outputs]:
                _inside(self.workspace, name)
            if step.name in outputs:
                raise PlanError(f"step '{step.name}' appears twice in the plan")
            for dep in step.depends_on:
                if dep not in outputs:
                    raise PlanError(
                        f"step '{step.name}' depends on '{dep}', which is not a step before it in "
                        "the plan; recompile the plan with `cursus compile`"
                    )
            for name, source in step.inputs.items():
                producer = source.get("from_step")
                if producer is not None and (
                    producer not in step.depends_on or source.get("output") not in outputs[producer]
                ):
                    raise PlanError(
                        f"step '{step.name}': input '{name}' reads {producer}.{source.get('output')}, "
                        "which is not an output of a step it depends on"
                    )
            outputs[step.name] = set(step.outputs)
            _check_script(step)

    def _call(self, method: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, method)(*args)


def _check_script(step: PlanStep) -> None:
    """The files the plan says a step runs with are plain names inside its unit's folder, and
    are there. One lstat per file: a plain name that is not a symbolic link cannot leave the
    folder, so only a link is resolved (this runs for every step of every run, cached or not)."""
    folder = step.script_folder
    real_folder: Path | None = None
    for name in dict.fromkeys([step.script["entry_point"], *step.script.get("files", ())]):
        path = folder / name
        inside = "/" not in name and not name.startswith(".")
        try:
            mode = os.lstat(path).st_mode
        except (OSError, ValueError):  # missing, or a name with a NUL byte
            mode = 0
        if inside and stat.S_ISLNK(mode):
            real_folder = real_folder or folder.resolve()
            inside = path.resolve().is_relative_to(real_folder)
            try:
                mode = os.stat(path).st_mode  # what the link points to
            except OSError:  # a dangling link
                mode = 0
        if not inside:
            raise PlanError(
                f"step '{step.name}': script file {name!r} is outside its step unit's folder "
                f"{folder}; recompile the plan with `cursus compile`"
            )
        if not stat.S_ISREG(mode):
            raise PlanError(
                f"step '{step.name}': script file {path} is missing; the plan was compiled "
                "against step units that have moved: recompile it with `cursus compile`"
            )


_file_digests: dict[tuple[str, int, int], str] = {}


def _local_files_named_by(env: dict[str, str]) -> dict[str, str]:
    """Digests of local files or folders an env value names (DATA_SOURCE=/data/x.csv), so a step
    reading a file that changed is run again instead of served stale from the cache."""
    found: dict[str, str] = {}
    for name, value in env.items():
        location = value.split("?", 1)[0]
        location = location.removeprefix("file://")
        # a path: it has a folder, or a file name's extension (DATA_SOURCE=table.csv); relative
        # ones are read from the runner's working directory, as the step reads them
        if "://" in location or not ("/" in location or Path(location).suffix):
            continue
        path = Path(location)
        try:
            info = path.stat()
        except OSError:
            continue
        memo = (str(path.resolve()), info.st_size, info.st_mtime_ns)
        if path.is_dir() or memo not in _file_digests:
            digest = tree_digest(path)
            if path.is_dir():
                found[name] = digest
                continue
            _file_digests[memo] = digest
        found[name] = _file_digests[memo]
    return found


def _ms_since(clock: float) -> float:
    return 1000 * (time.perf_counter() - clock)


def _inside(base: Path, name: str) -> Path:
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or Path(name).is_absolute()
    ):
        raise PlanError(
            f"name {name!r} is not a plain file name; names may not contain '/', '..' or be absolute"
        )
    return base / name


_contexts: dict[str, Any] = {}


def _context(frameworks: Iterable[str]) -> Any:
    """The fork-server context, started once per process with the libraries steps need preloaded."""
    import multiprocessing

    from cursus.backends.local import launch

    with _forkserver_lock:
        if "forkserver" not in _contexts:
            modules = list(launch.PRELOAD)
            if "pytorch" in set(frameworks):
                modules += launch.TORCH_PRELOAD
            os.environ.setdefault("MPLBACKEND", "Agg")
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(
                [*modules, "cursus.backends.local.launch", "cursus.backends.local._gc_freeze"]
            )
            _contexts["forkserver"] = ctx
        return _contexts["forkserver"]


def _end_waiting(processes: list[tuple[Any, Any]]) -> None:
    """End step processes that wait for a request no step sent (warm or spare): each reads
    end-of-input on its closed pipe and exits, or is killed after 5 s."""
    for _proc, conn in processes:
        conn.close()
    for proc, _ in processes:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()


def start_fork_server(frameworks: Iterable[str] = ()) -> None:
    """Start the fork server now, so that it imports the steps' libraries (~1.4 s) while this
    process does other work (compiling a plan) instead of when the first step starts. Its
    preload is fixed when it starts: `frameworks` says which optional ones it includes."""
    from multiprocessing import forkserver

    from cursus.backends.local import launch

    _context(frameworks)
    launch.start_without_main(forkserver.ensure_running)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the step process was killed by signal {-exitcode}"
    if exitcode == FORK_SERVER_LOST:
        return (
            "the fork server was lost while the step ran and the step left no result, twice; "
            "run again (`cursus run` resumes from the steps that finished)"
        )
    return f"the step process exited with code {exitcode}"


def _working_directory() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # removed under us: relative paths cannot be read anyway
        return None


def _log_line(request: dict[str, Any], text: str) -> None:
    with open(request["log_path"], "a") as log:
        log.write(f"[cursus] {text}\n")


def _await_lost_fork_server(seconds: float = 10.0) -> None:
    """Until the lost fork server has exited: multiprocessing starts a new one only once it finds
    the old one gone, and would otherwise try to reach the dying one."""
    from multiprocessing import forkserver

    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    deadline = time.monotonic() + seconds
    while pid and pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _await_orphan(pid: int | None, deadline: float) -> bool:
    """Wait for a step process that is no longer our fork server's child; False (after killing
    it) when it outlives `deadline`."""
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
                os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
            return False
        time.sleep(0.02)
    return True


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
