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
from blvprof.records import (
    Device,
    Executor,
    Failure,
    Kind,
    Metric,
    Profile,
    Request,
    Status,
    Times,
    Training,
    choose,
    run_row,
)
from blvprof.store import Heartbeat, Holder, Store, digest, now
from blvprof.study import Point, Study


@dataclass(frozen=True)
class Task:
    """One run of a study: what to build, what to measure, and how to train it (if at all)."""

    study: str
    key: str  # run_key's
    request: Request  # a reference's clip and layout are among its overrides, as in a grid point
    train: dict[str, Any] | None = None  # TrainSpec fields
    threads: int | None = None  # torch threads in the worker
    varied: tuple[str, ...] = ()  # training settings that differ between the study's recipes

    @property
    def kind(self) -> Kind:
        return Kind.TRAIN if self.train is not None else Kind.PROFILE

    @property
    def model(self) -> str:
        return self.request.model

    @property
    def overrides(self) -> dict[str, Any]:
        return self.request.overrides

    @property
    def label(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        if self.varied and self.train is not None:
            fields += "; " + ", ".join(f"{k}={self.train[k]}" for k in self.varied)
        return f"{self.model}({fields})"


@dataclass(frozen=True)
class Outcome:
    task: Task
    result: Profile | Failure
    times: Times

    @property
    def status(self) -> Status:
        return Status.OK if isinstance(self.result, Profile) else self.result.status

    @property
    def error(self) -> str | None:
        return None if isinstance(self.result, Profile) else self.result.error

    @property
    def duration_s(self) -> float:
        return self.times.duration_s


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

    device: Device  # cpu or cuda (never auto)
    gpu: str | None = None  # the GPU's name: runs on different GPUs never share a key
    cpu: str | None = None  # the CPU's model name: timed runs on other CPUs never share a key


def resolve_target(device: str, executor: str = "local", address: str | None = None) -> Target:
    """Resolve and check ``device`` on the driver, so a bad one is one error and no runs.

    Local runs and a local Ray run on this machine: 'auto' resolves here and CUDA runs are keyed
    by this machine's GPU. A remote Ray cluster (``address``) is out of the driver's sight: it
    needs an explicit cpu or cuda, and its runs are keyed without a GPU or CPU name (use one
    store per machine type there).
    """
    executor = choose(Executor, executor, "--executor")
    if executor == Executor.RAY and address is not None:
        if device not in (Device.CPU, Device.CUDA):
            raise UserError(f"--executor ray --address needs --device cpu or cuda, not "
                            f"{device!r}: this machine cannot see the cluster's devices")
        return Target(Device(device))
    import torch

    from blvprof.measure.env import machine
    from blvprof.profile import resolve_device

    resolved = resolve_device(device)
    if resolved == Device.CUDA:
        return Target(resolved, gpu=torch.cuda.get_device_name())
    return Target(resolved, cpu=machine()["cpu"])


def machine_of(request: Request, target: Target | None) -> dict[str, str]:
    """The machine a run's key names: the GPU of a CUDA run, the CPU model of a timed CPU run.

    A timing is a property of the machine; MAC counts and memory estimates are not, so an untimed
    CPU run keeps the key it always had and stores made elsewhere stay reusable for them.
    """
    if target is None:
        return {}
    if target.gpu:
        return {"gpu": target.gpu}
    if target.cpu and Metric.SPEED in request.metrics:
        return {"cpu": target.cpu}
    return {}


def run_key(request: Request, train: dict[str, Any] | None, target: Target | None) -> str:
    """The one key of a run a rerun can reuse (docs/records.md#keys): what is built (the model,
    its overrides, the digest of a reference's file), what is measured (``Request.key_row``),
    the training recipe (whose data spec names the synthetic benchmark's version), and the
    machine where the figures depend on it (:func:`machine_of`)."""
    kind = Kind.TRAIN if train is not None else Kind.PROFILE
    what = {"kind": kind, "model": request.model, "overrides": request.overrides,
            "request": request.key_row(), "train": train}
    if external.is_reference(request.model):  # an edited model file is a new run
        what["source"] = external.source_digest(request.model)
    if kind == Kind.PROFILE and request.estimates_memory:
        what["max_batch"] = "estimate_timeline"  # estimates from the fit alone are made again
    return digest({**what, **machine_of(request, target)})


def _task(study_name: str, request: Request, train: dict[str, Any] | None,
          target: Target | None = None) -> Task:
    if target is not None:
        request = dataclasses.replace(request, device=target.device)
    return Task(study_name, run_key(request, train, target), request, train)


def plan(study: Study, quick: bool = False, store_name: str | None = None,
         target: Target | None = None) -> list[Task]:
    """Every run of ``study``; ``quick`` times speed points at the study's reduced size.

    ``target`` (from :func:`resolve_target`) replaces the study's device in every run and its
    key; without it the study's device is planned as written.
    """
    name = store_name or study.name
    recipes = study.recipes or [None]
    varied = tuple(k for k, v in (study.train or {}).items() if isinstance(v, list))
    tasks = [dataclasses.replace(_task(name, study.measure.request(p), recipe, target),
                                 varied=varied)
             for p in study.points for recipe in recipes]
    if study.speed is not None:
        s = study.speed
        size = s.quick_size if quick else s.size
        for point in s.points:
            sized = Point(point.model, external.resized(point.overrides, size)
                          if external.is_reference(point.model)
                          else {**point.overrides, "image_size": size})
            timed = s.request(study.measure.request(sized), quick)
            tasks.append(_task(name, timed, None, target))
    return tasks


def plan_profiles(name: str, requests: list[Request], target: Target) -> list[Task]:
    """Profile runs of ad-hoc requests (``blvprof compare``), keyed as a study's runs are."""
    return [_task(name, request, None, target) for request in requests]


def execute(task: Task) -> Outcome:
    """Run one task and report how it went; never raises (runs inside a worker)."""
    import torch

    from blvprof.profile import measure, resolve_device

    if task.threads:
        torch.set_num_threads(task.threads)
    started, clock = now(), time.perf_counter()
    overrides = dict(task.overrides)
    result: Profile | Failure
    try:
        device = resolve_device(task.request.device)
        train_record = None
        if task.train is not None:
            from blvprof.train import TrainSpec, train_model
            from blvprof.train.trained_model import profiled_overrides

            spec = TrainSpec(**task.train)
            train_record = train_model(task.model, overrides, spec, device=device)
            if train_record.get("stopped"):  # interrupted: not a finished run, retry next time
                raise RuntimeError(f"training stopped: {train_record['stopped']}")
            overrides = profiled_overrides(task.model, overrides, train_record)
            train_record.pop("config", None)  # the row's config column holds it
        inputs: dict[str, Any] = {}
        if external.is_reference(task.model):  # the point's input keys are not arguments
            arguments, clip, layout = external.split_point(overrides)
            overrides, inputs = arguments, {"input_shape": clip, "layout": layout}
        result = measure(dataclasses.replace(task.request, overrides=overrides, device=device,
                                             **inputs))
        if train_record is not None:
            result = dataclasses.replace(result, train=Training.from_row(train_record))
    except Exception as failure:  # recorded, never raised: one bad run must not stop a sweep
        result = _failure(task, failure, overrides)
    return Outcome(task, result, Times(started, now(), time.perf_counter() - clock))


def _failure(task: Task, failure: BaseException | str,
             overrides: dict[str, Any] | None = None) -> Failure:
    """A run that did not finish: 'oom' for an allocation failure, else 'error' (one line)."""
    if isinstance(failure, str):
        status, text = Status.ERROR, failure
    else:
        status = Status.OOM if is_out_of_memory(failure) else Status.ERROR
        text = f"{type(failure).__name__}: {failure}".splitlines()[0][:500]
    overrides = task.overrides if overrides is None else overrides
    return Failure(status, text, _config(task.model, overrides), external.family_of(task.model))


def _config(model_name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    if external.is_reference(model_name):
        return external.point_config(model_name, overrides)
    try:
        return dataclasses.asdict(zoo.resolve_config(model_name, **overrides))
    except ValueError:
        return dict(overrides)


def record(store: Store, outcome: Outcome) -> None:
    task = outcome.task
    store.add(run_row(task.study, task.key, task.request, outcome.result, outcome.times,
                      task.train))


def unfinished(tasks: list[Task], store: Store) -> list[Task]:
    """The tasks without a finished row in the store."""
    finished = set().union(*(store.finished_keys(s) for s in {t.study for t in tasks}))
    return [t for t in tasks if t.key not in finished]


def run_tasks(tasks: list[Task], store: Store, executor: str = "local", workers: int = 1,
              address: str | None = None, cpus: float = 1.0, gpus: float = 0.0,
              on_done: Callable[[Outcome], None] | None = None) -> Summary:
    """Run the tasks not yet finished in the store; record each outcome as it arrives.

    Each run is claimed in the store just before it starts, so concurrent sweeps over one store
    split the runs between them; a run another live sweep holds is left to it (``held``).
    """
    executor = choose(Executor, executor, "executor")
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
    if executor == Executor.LOCAL:
        outcomes = _local_outcomes(todo, workers, claim)
    else:
        outcomes = run_ray(todo, address, cpus, gpus, claim)
    with Heartbeat(store.path, holder):
        try:
            for outcome in outcomes:
                record(store, outcome)
                store.release(holder, outcome.task.study, outcome.task.key)
                ok, failed = (ok + 1, failed) if outcome.status == Status.OK else (ok, failed + 1)
                if on_done is not None:
                    on_done(outcome)
        finally:
            outcomes.close()  # stops its workers now if we leave early (Ctrl-C, a store error)
            store.release(holder)  # an interrupted sweep's runs are free for the next one
    return Summary(len(tasks), len(tasks) - len(todo) + counts["finished"], ok, failed,
                   time.perf_counter() - start, held=counts["held"])


def is_timed(task: Task) -> bool:
    """A run whose wall-clock time is a result: it must not share the machine."""
    return Metric.SPEED in task.request.metrics


def runs_alone(task: Task) -> bool:
    """A run that must have its device to itself: a timing, or a memory search on a GPU (runs
    beside it would take memory it counts as free, and its max batch would come out too small)."""
    on_gpu = task.request.device != Device.CPU  # cuda, or auto where a GPU may be found
    return is_timed(task) or (on_gpu and Metric.MEMORY in task.request.metrics)


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
            died = "worker process died (killed by a signal, e.g. out of memory)"
            return Outcome(task, _failure(task, died), Times(stamp, stamp, 0.0))


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
    if not gpus and any(t.request.device == Device.CUDA for t in tasks):
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
                stamp = now()
                yield Outcome(task, _failure(task, failure), Times(stamp, stamp, 0.0))
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
        detail = f"{outcome.duration_s:.1f}s" if outcome.status == Status.OK else outcome.error
        print(f"[{count}/{total}] {outcome.status:5} {outcome.task.label} {detail}",
              file=sys.stderr, flush=True)

    return show
