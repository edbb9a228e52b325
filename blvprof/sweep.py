"""Run a study: plan its runs, skip those already in the store, execute the rest, record each.

Runs execute in worker processes (``local``) or as Ray tasks (``ray``), never in the driver, so a
crash or an out-of-memory in one run is recorded and the sweep goes on. Only the driver writes
the store, one transaction per finished run: an interrupted sweep (even ``kill -9``) resumes
without losing or duplicating a finished run.
"""

import dataclasses
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import model as zoo
from blvprof import external
from blvprof.errors import UserError, is_out_of_memory
from blvprof.store import Heartbeat, Holder, Run, Store, digest, now
from blvprof.study import Point, Study

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Task:
    """One run of a study: what to build, what to measure, and how to train it (if at all)."""

    study: str
    key: str
    kind: str  # 'profile' or 'train'
    model: str
    overrides: dict[str, Any]
    request: dict[str, Any]  # ProfileRequest fields
    train: dict[str, Any] | None = None  # TrainSpec fields
    threads: int | None = None  # torch threads in the worker
    varied: tuple[str, ...] = ()  # training settings that differ between the study's recipes
    legacy_key: str | None = None  # a CPU run's key from before devices were resolved ('auto')

    @property
    def label(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        if self.varied and self.train is not None:
            fields += "; " + ", ".join(f"{k}={self.train[k]}" for k in self.varied)
        return f"{self.model}({fields})"


@dataclass(frozen=True)
class Outcome:
    task: Task
    status: str  # 'ok', 'oom' or 'error'
    config: dict[str, Any]
    result: dict[str, Any] | None
    env: dict[str, Any] | None
    error: str | None
    started_at: str
    finished_at: str
    duration_s: float


@dataclass(frozen=True)
class Summary:
    planned: int
    skipped: int  # already finished in the store
    ok: int
    failed: int
    seconds: float
    held: int = 0  # claimed by another live sweep over the same store: it runs them


@dataclass(frozen=True)
class Target:
    """Where a study's runs execute, decided on the driver before anything is planned."""

    device: str  # 'cpu' or 'cuda' (never 'auto')
    gpu: str | None = None  # the GPU's name: runs on different GPUs never share a key
    cpu: str | None = None  # the CPU's model name: timed runs on other CPUs never share a key


def resolve_target(device: str, executor: str = "local", address: str | None = None) -> Target:
    """Resolve and check ``device`` on the driver, so a bad one is one error and no runs.

    Local runs and a local Ray run on this machine: 'auto' resolves here and CUDA runs are keyed
    by this machine's GPU. A remote Ray cluster (``address``) is out of the driver's sight: it
    needs an explicit cpu or cuda, and its runs are keyed without a GPU or CPU name (use one
    store per machine type there).
    """
    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "ray" and address is not None:
        if device not in ("cpu", "cuda"):
            raise UserError(f"--executor ray --address needs --device cpu or cuda, not "
                            f"{device!r}: this machine cannot see the cluster's devices")
        return Target(device)
    import torch

    from blvprof.measure.env import machine
    from blvprof.profile import resolve_device

    resolved = resolve_device(device)
    if resolved == "cuda":
        return Target(resolved, gpu=torch.cuda.get_device_name())
    return Target(resolved, cpu=machine()["cpu"])


def machine_of(request: dict[str, Any], target: Target | None) -> dict[str, str]:
    """The machine a run's key names: the GPU of a CUDA run, the CPU model of a timed CPU run.

    A timing is a property of the machine; MAC counts and memory estimates are not, so an untimed
    CPU run keeps the key it always had and stores made elsewhere stay reusable for them.
    """
    if target is None:
        return {}
    if target.gpu:
        return {"gpu": target.gpu}
    if target.cpu and "speed" in request["metrics"]:
        return {"cpu": target.cpu}
    return {}


def _task(study_name: str, kind: str, point: Point, request: dict[str, Any],
          train: dict[str, Any] | None, target: Target | None = None) -> Task:
    what = {"kind": kind, "model": point.model, "overrides": point.overrides,
            "request": request, "train": train}
    if external.is_reference(point.model):  # an edited model file is a new run
        what["source"] = external.source_digest(point.model)
    machine = machine_of(request, target)
    key = digest({**what, **machine})
    legacy = None
    if request["device"] == "cpu" and not machine:  # a legacy row's CPU is unknown: not a timing
        legacy = digest({**what, "request": {**request, "device": "auto"}})
    return Task(study_name, key, kind, point.model, point.overrides, request, train,
                legacy_key=legacy)


def plan(study: Study, quick: bool = False, store_name: str | None = None,
         target: Target | None = None) -> list[Task]:
    """Every run of ``study``; ``quick`` times speed points at the study's reduced size.

    ``target`` (from :func:`resolve_target`) replaces the study's device in every run and its
    key; without it the study's device is planned as written.
    """
    name = store_name or study.name
    m = study.measure
    request = {"metrics": list(m.metrics), "batch": m.batch,
               "device": target.device if target else m.device,
               "budget_bytes": m.memory_budget, "precision": m.precision, "warmup": m.warmup,
               "steps": m.steps, "counter": m.counter}
    recipes = study.recipes or [None]
    varied = tuple(k for k, v in (study.train or {}).items() if isinstance(v, list))
    tasks = [dataclasses.replace(_task(name, study.kind, p, request, recipe, target),
                                 varied=varied)
             for p in study.points for recipe in recipes]
    if study.speed is not None:
        s = study.speed
        timed = {**request, "metrics": ["flops", "params", "speed"], "batch": s.batch,
                 "warmup": s.warmup, "steps": s.quick_steps if quick else s.steps,
                 "counter": "flop_counter"}
        size = s.quick_size if quick else s.size
        for point in s.points:
            sized = Point(point.model, external.resized(point.overrides, size)
                          if external.is_reference(point.model)
                          else {**point.overrides, "image_size": size})
            tasks.append(_task(name, "profile", sized, timed, None, target))
    return tasks


def plan_profiles(name: str, runs: list[tuple[Point, dict[str, Any]]],
                  target: Target) -> list[Task]:
    """Profile runs of ad-hoc points (``blvprof compare``), keyed as a study's runs are.

    Each request has :func:`blvprof.profile.settings_of`'s fields: a study's, plus the flags
    (channels_last, compiled, cudnn_benchmark, seed) a study leaves at their defaults.
    """
    return [_task(name, "profile", point, {**request, "device": target.device}, None, target)
            for point, request in runs]


def execute(task: Task) -> Outcome:
    """Run one task and report how it went; never raises (runs inside a worker)."""
    import torch

    from blvprof.measure.env import Flags
    from blvprof.profile import ProfileRequest, profile, resolve_device

    flag_names = [f.name for f in dataclasses.fields(Flags)]  # a study gives only precision
    if task.threads:
        torch.set_num_threads(task.threads)
    started, clock = now(), time.perf_counter()
    overrides = dict(task.overrides)
    result: dict[str, Any] | None = None
    env = config = None
    try:
        request_fields = dict(task.request)
        device = resolve_device(request_fields.pop("device"))
        flags = Flags(**{k: request_fields.pop(k) for k in flag_names if k in request_fields})
        train_record = None
        if task.train is not None:
            from blvprof.train import TrainSpec, train_model

            spec = TrainSpec(**task.train)
            train_record = train_model(task.model, overrides, spec, device=device)
            if train_record.get("stopped"):  # interrupted: not a finished run, retry next time
                raise RuntimeError(f"training stopped: {train_record['stopped']}")
            train_record.pop("config", None)  # the row's config column holds it
            overrides.update(image_size=spec.size, num_classes=train_record["num_classes"])
        inputs: dict[str, Any] = {}
        if external.is_reference(task.model):  # the point's input keys are not arguments
            arguments, clip, layout = external.split_point(overrides)
            overrides, inputs = arguments, {"input_shape": clip, "layout": layout}
        request = ProfileRequest(model=task.model, overrides=overrides, device=device,
                                 flags=flags, **inputs, **request_fields)
        record = profile(request)
        env = record.pop("env")
        config = record.pop("config")
        result = {**record, "train": train_record} if train_record is not None else record
        status, error = "ok", None
    except Exception as failure:  # recorded, never raised: one bad run must not stop a sweep
        status, error = _classify(failure)
    return Outcome(task, status, config or _config(task.model, overrides), result, env, error,
                   started, now(), time.perf_counter() - clock)


def _classify(failure: BaseException) -> tuple[str, str]:
    text = f"{type(failure).__name__}: {failure}".splitlines()[0][:500]
    return ("oom" if is_out_of_memory(failure) else "error"), text


def _config(model_name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    if external.is_reference(model_name):
        return external.point_config(model_name, overrides)
    try:
        return dataclasses.asdict(zoo.resolve_config(model_name, **overrides))
    except ValueError:
        return dict(overrides)


def record(store: Store, outcome: Outcome) -> None:
    task = outcome.task
    store.add(Run(
        study=task.study, key=task.key, kind=task.kind, model=task.model,
        family=external.family_of(task.model), config=outcome.config,
        settings={**task.request, "train": task.train}, result=outcome.result, env=outcome.env,
        status=outcome.status, error=outcome.error, started_at=outcome.started_at,
        finished_at=outcome.finished_at, duration_s=outcome.duration_s,
    ))


def unfinished(tasks: list[Task], store: Store) -> list[Task]:
    """The tasks without a finished row in the store."""
    studies = {t.study for t in tasks}
    finished = set().union(*(store.finished_keys(s) for s in studies))
    # rows stored before devices were resolved are keyed 'auto': reusable where they ran on CPU
    on_cpu = set().union(*(store.finished_keys(s, device="cpu") for s in studies))
    return [t for t in tasks if t.key not in finished and t.legacy_key not in on_cpu]


def run_tasks(tasks: list[Task], store: Store, executor: str = "local", workers: int = 1,
              address: str | None = None, cpus: float = 1.0, gpus: float = 0.0,
              on_done: Callable[[Outcome], None] | None = None) -> Summary:
    """Run the tasks not yet finished in the store; record each outcome as it arrives.

    Each run is claimed in the store just before it starts, so concurrent sweeps over one store
    split the runs between them; a run another live sweep holds is left to it (``held``).
    """
    if executor not in EXECUTORS:
        raise UserError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    start = time.perf_counter()
    todo = unfinished(tasks, store)
    holder = Holder.this_process()
    counts = {"finished": 0, "held": 0}

    def claim(task: Task) -> bool:
        answer = store.claim(task.study, task.key, holder)
        if answer != "claimed":
            counts[answer] += 1
        return answer == "claimed"

    ok = failed = 0
    if executor == "local":
        outcomes = _local_outcomes(todo, workers, claim)
    else:
        outcomes = run_ray(todo, address, cpus, gpus, claim)
    with Heartbeat(store.path, holder):
        try:
            for outcome in outcomes:
                record(store, outcome)
                store.release(holder, outcome.task.study, outcome.task.key)
                ok, failed = (ok + 1, failed) if outcome.status == "ok" else (ok, failed + 1)
                if on_done is not None:
                    on_done(outcome)
        finally:
            outcomes.close()  # stops its workers now if we leave early (Ctrl-C, a store error)
            store.release(holder)  # an interrupted sweep's runs are free for the next one
    return Summary(len(tasks), len(tasks) - len(todo) + counts["finished"], ok, failed,
                   time.perf_counter() - start, held=counts["held"])


def is_timed(task: Task) -> bool:
    """A run whose wall-clock time is a result: it must not share the machine."""
    return "speed" in task.request["metrics"]


def runs_alone(task: Task) -> bool:
    """A run that must have its device to itself: a timing, or a memory search on a GPU (runs
    beside it would take memory it counts as free, and its max batch would come out too small)."""
    on_gpu = task.request["device"] != "cpu"  # 'cuda', or 'auto' where a GPU may be found
    return is_timed(task) or (on_gpu and "memory" in task.request["metrics"])


def _always(_: Task) -> bool:
    return True


def _local_outcomes(tasks: list[Task], workers: int,
                    claim: Callable[[Task], bool] = _always) -> Iterator[Outcome]:
    """Untimed runs ``workers`` at a time; then timed runs one by one with every core."""
    cores = os.cpu_count() or 1
    untimed = [dataclasses.replace(t, threads=t.threads or max(1, cores // workers))
               for t in tasks if not runs_alone(t)]
    timed = [dataclasses.replace(t, threads=t.threads or cores) for t in tasks if runs_alone(t)]
    yield from run_local(untimed, workers, claim)
    yield from run_local(timed, 1, claim)


def run_local(tasks: list[Task], workers: int,
              claim: Callable[[Task], bool] = _always) -> Iterator[Outcome]:
    """Run tasks in ``workers`` spawned processes, at most ``workers`` at a time.

    Each task is ``claim``-ed just before it is submitted and skipped if the claim fails. If a
    worker dies (a segfault, the kernel's OOM killer), the runs it may have held are run again
    one by one in fresh processes, so the one that kills its process is recorded as failed.
    """
    pending = list(reversed(tasks))
    while pending:
        pool = _pool(workers)
        running: dict[Future[Outcome], Task] = {}
        try:
            while pending or running:
                while pending and len(running) < workers:
                    task = pending.pop()
                    if claim(task):
                        with _workers_ignore_ctrl_c():
                            running[pool.submit(execute, task)] = task
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()  # raises BrokenProcessPool if a worker died
                    running.pop(future)
                    yield outcome
        except BrokenProcessPool:
            suspects = list(running.values())
            pool.shutdown(cancel_futures=True)
            yield from (_run_alone(t) for t in suspects)
        except BaseException:  # Ctrl-C or the consumer gave up: stop the runs, don't wait them
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(cancel_futures=True)


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn: a forked child would inherit the parent's torch threads and locks
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_watch_driver, initargs=(os.getpid(),))


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes (the executor has no public way to), and any other
    worker this driver started: a worker being started when Ctrl-C came may not be registered
    in the pool yet, and the pool's shutdown would wait for it to finish its run."""
    workers = {*getattr(pool, "_processes", {}).values(), *multiprocessing.active_children()}
    for process in workers:
        process.kill()


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Ignore Ctrl-C while a task is submitted, so a worker started then inherits the ignoring.

    Ctrl-C in a terminal reaches the whole process group. A worker still importing torch when it
    comes would die of it before its initializer ignores SIGINT, and the driver would take that
    for a crashed run. A process that starts with SIGINT ignored keeps it ignored (Python installs
    its handler only when SIGINT is not ignored); the driver stops its workers itself. A Ctrl-C
    within the submit itself is lost: press it again. Signal handlers belong to the main thread;
    elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _watch_driver(driver: int, every: float = 0.5) -> None:
    """In a worker: exit as soon as the driver is gone (its parent changes), and leave Ctrl-C
    to the driver, which stops its workers itself. A worker blocked on a dead driver's queue
    would otherwise live on, holding its memory."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="blvprof-driver-watch", daemon=True).start()


def _run_alone(task: Task) -> Outcome:
    with _pool(1) as pool:
        try:
            with _workers_ignore_ctrl_c():
                future = pool.submit(execute, task)
            return future.result()
        except BrokenProcessPool:
            stamp = now()
            return Outcome(task, "error", _config(task.model, task.overrides), None, None,
                           "worker process died (killed by a signal, e.g. out of memory)",
                           stamp, stamp, 0.0)


RAY_CONNECT_TIMEOUT_S = 10.0


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Refuse a Ray address nothing answers at, in ``timeout`` seconds and one line.

    ``ray.init`` would retry an unreachable address for minutes, logging as it goes. 'auto'
    (a cluster started on this machine) is left to Ray.
    """
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address {address!r} is not HOST:PORT (or ray://HOST:PORT, auto)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UserError(f"cannot reach a Ray cluster at {address}: {reason}") from None


def run_ray(tasks: list[Task], address: str | None, cpus: float, gpus: float,
            claim: Callable[[Task], bool] = _always) -> Iterator[Outcome]:
    """Each task as a Ray task with its CPU/GPU needs; results come back to this driver."""
    try:
        import ray
    except ImportError:
        raise UserError('--executor ray needs Ray: pip install "blvprof[ray]"') from None
    if not ray.is_initialized():
        if address:
            check_ray_address(address)
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    if not gpus and any(t.request["device"] == "cuda" for t in tasks):
        gpus = 1.0  # Ray hides every GPU from a task that asks for none
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(execute)
    threads = max(1, int(cpus))
    refs = {remote.remote(dataclasses.replace(t, threads=threads)): t for t in tasks if claim(t)}
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(done[0])
            try:
                yield ray.get(done[0])
            except Exception as failure:  # the worker died or Ray refused the task
                status, error = _classify(failure)
                stamp = now()
                yield Outcome(task, status, _config(task.model, task.overrides), None, None,
                              error, stamp, stamp, 0.0)
    except BaseException:  # Ctrl-C or the consumer gave up: cancel what is still running
        for ref in refs:
            ray.cancel(ref, force=True)
        raise


def progress_printer(total: int) -> Callable[[Outcome], None]:
    """One line per finished run on stderr (for logs and non-terminal output)."""
    count = 0

    def show(outcome: Outcome) -> None:
        nonlocal count
        count += 1
        detail = f"{outcome.duration_s:.1f}s" if outcome.status == "ok" else outcome.error
        print(f"[{count}/{total}] {outcome.status:5} {outcome.task.label} {detail}",
              file=sys.stderr, flush=True)

    return show
