"""Running one function over many items: serially, in worker processes, or on a Dask cluster.

:func:`execute` yields ``(item, result)`` as they complete, whatever the backend,
so callers (folder mode, the shared palette) are written once. A worker that dies
yields a :class:`WorkerDied` for its item instead of stopping the run. Workers
ignore Ctrl-C (the parent stops the pool) and exit when the parent is gone. On
Dask, where a task cannot be stopped once it runs, Ctrl-C stops the submitting
and the tasks in flight are waited for and yielded first; a local cluster's
workers leave Ctrl-C to the parent too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._backend import available_cores, preload_in_background, share_cores
from ._exceptions import BatchUsageError

__all__ = ["WorkerDied", "close_dask", "dask_client", "default_jobs", "execute"]


def default_jobs() -> int:
    """Cores this process may run on."""
    return available_cores()


#: From this many items per worker, each worker starts loading the compiled kernels as it starts
#: (in the background, while it decodes its first image): a worker then compresses enough images
#: for loading to pay, so it skips the numpy start of a new process (``_backend.load_pays``). A
#: folder of 2,000 thumbnails of 64 x 64 on two workers took 12.6-13.4 s without, against
#: 12.2-12.9 s when the first image loaded the kernels.
PRELOAD_ITEMS_PER_WORKER = 8


def _worker_init(parent_alive: Any, parent_end: Any, workers: int, preload: bool = False) -> None:
    """Set up a worker process: Ctrl-C is the parent's business, and the worker dies with the parent.

    ``parent_alive`` is the read end of a pipe whose write end only the parent
    holds (``parent_end`` is this process's copy of it, closed here). When the
    parent is gone, however it ended (``kill -9``, the OOM killer), the read
    gives EOF and the worker exits. Without this a killed run left its workers
    asleep forever, waiting on a queue they themselves hold open, and with them
    the forkserver (which stops only when no process holds its "alive" pipe)
    and the resource tracker (which stops when no process holds its pipe).
    """
    import signal
    import threading

    share_cores(workers)  # the workers share the cores: each one's kernels take its share of the threads
    if preload:
        preload_in_background()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    signal.signal(signal.SIGTERM, _terminated)
    parent_end.close()
    threading.Thread(
        target=_exit_when_closed, args=(parent_alive,), name="kmeans-compress parent watch", daemon=True
    ).start()


def _terminated(signum: int, frame: Any) -> None:
    """The parent stopped the pool (Ctrl-C): end now, but first release this process's named
    semaphores (numba's lock for starting its threads, taken on the first parallel kernel),
    which the resource tracker would otherwise report as leaked when the run ends."""
    from multiprocessing import util

    util._run_finalizers(0)  # type: ignore[attr-defined]  # priority >= 0: the semaphores' unlink
    os._exit(1)


def _exit_when_closed(conn: Any) -> None:
    try:
        while True:
            conn.recv_bytes()  # nothing is ever sent: this returns only at EOF, when the parent is gone
    except (EOFError, OSError):
        pass
    os._exit(1)  # as if killed with the parent: an output being written stays a temporary file


def execute(
    fn: Callable[..., Any], items: Sequence[Any], *args: Any, jobs: int = 1, client: Any = None
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(item, fn(item, *args))`` as they complete, with at most 2 x workers in flight."""
    if client is not None:
        yield from _execute_dask(client, fn, items, *args)
        return
    if jobs <= 1:
        for it in items:
            yield it, fn(it, *args)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # forkserver: no fork of a process that may hold threads; the server imports numpy once.
    ctx = mp.get_context("forkserver") if "forkserver" in mp.get_all_start_methods() else mp.get_context()
    todo = iter(items)
    limit = 2 * jobs
    # Only this process holds parent_end: its end (close or death) is EOF on parent_alive in every worker.
    parent_alive, parent_end = ctx.Pipe(duplex=False)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(parent_alive, parent_end, jobs, len(items) >= PRELOAD_ITEMS_PER_WORKER * jobs),
        )

    pool = new_pool()
    inflight: dict[Any, Any] = {}
    try:
        while True:
            while len(inflight) < limit:
                it = next(todo, _END)
                if it is _END:
                    break
                inflight[pool.submit(fn, it, *args)] = it
            if not inflight:
                break
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken = False
            for fut in sorted(done, key=lambda f: id(f)):
                it = inflight.pop(fut)
                try:
                    yield it, fut.result()
                except BrokenProcessPool:
                    broken = True
                    yield it, WorkerDied(it)
            if broken:  # a worker was killed (out of memory?): start a new pool, go on
                for it in list(inflight.values()):
                    yield it, WorkerDied(it)
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    except BaseException:  # Ctrl-C or the caller stopped: don't wait for the files in progress
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        parent_end.close()
        parent_alive.close()


def _execute_dask(client: Any, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> Iterator[tuple[Any, Any]]:
    """As :func:`execute`, on Dask. Ctrl-C stops the submitting, and the tasks already submitted
    (at most two per worker thread) are waited for and yielded before KeyboardInterrupt is raised:
    a task cannot be stopped once a worker runs it, and a file it writes must be in the report.
    A second Ctrl-C stops the waiting."""
    from distributed import as_completed

    threads = client.nthreads()
    n_workers = max(1, sum(threads.values()))
    fn = _SharingCores(fn, _threads_by_host(threads))
    todo = iter(items)
    futures = as_completed()
    owner: dict[str, Any] = {}

    def submit() -> bool:
        it = next(todo, _END)
        if it is _END:
            return False
        fut = client.submit(fn, it, *args, pure=False)
        owner[fut.key] = it
        futures.add(fut)
        return True

    with _interrupt_deferred() as interrupted:
        for _ in range(2 * n_workers):
            if not submit():
                break
        try:
            for fut in futures:
                it = owner.pop(fut.key)
                try:
                    res = fut.result()
                except Exception as exc:  # a lost worker, or code missing on it
                    res = WorkerDied(it, exc)
                fut.release()
                yield it, res
                if not interrupted:
                    submit()
        finally:
            for fut in list(futures.futures):
                fut.cancel()
        if interrupted:
            raise KeyboardInterrupt


class _Flag:
    def __init__(self) -> None:
        self.on = False

    def __bool__(self) -> bool:
        return self.on


@contextlib.contextmanager
def _interrupt_deferred() -> Iterator[_Flag]:
    """Meanwhile, a first Ctrl-C (SIGINT) sets the flag instead of raising KeyboardInterrupt, and a
    second one raises it. Only in the main thread, and only over Python's own handler."""
    flag = _Flag()
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.on:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        flag.on = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _threads_by_host(threads: dict[str, int]) -> dict[str, int]:
    """The tasks that run side by side on each host of a Dask cluster: its workers' threads, summed."""
    from urllib.parse import urlsplit

    by_host: dict[str, int] = {}
    for address, n in threads.items():
        host = urlsplit(address).hostname or address
        by_host[host] = by_host.get(host, 0) + n
    return by_host


class _SharingCores:
    """``fn`` run on a Dask worker with the kernels' threads set to that host's share of its cores
    (as folder mode's workers have theirs): tasks on one host run side by side."""

    def __init__(self, fn: Callable[..., Any], by_host: dict[str, int]) -> None:
        self.fn = fn
        self.by_host = by_host
        self.client_pid = os.getpid()

    def __call__(self, *args: Any) -> Any:
        if os.getpid() != self.client_pid:  # a worker of its own (in-process workers leave the client's setting)
            from urllib.parse import urlsplit

            from distributed import get_worker

            address = get_worker().address
            share_cores(self.by_host.get(urlsplit(address).hostname or address, 1))
        return self.fn(*args)


class _End:
    pass


_END = _End()


class WorkerDied:
    def __init__(self, item: Any, exc: BaseException | None = None) -> None:
        self.item = item
        self.message = f"the worker died ({exc})" if exc is not None else "the worker process died"


def dask_client(dask: Any, jobs: int) -> tuple[Any, bool]:
    """(client, whether we made it and must close it)."""
    if dask is None:
        return None, False
    if not isinstance(dask, str):
        return dask, False
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BatchUsageError("--dask needs dask.distributed: pip install 'kmeans-compress[dask]'") from None
    if dask == "local":
        with _sigint_blocked():
            cluster = LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # The scheduler's HTTP endpoints on a free port of this machine only: on 8787, the
                # port of any other cluster's dashboard, they warned on stderr that it was taken.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
            return Client(cluster), True
    try:
        return Client(dask, timeout="20s"), True
    except (OSError, TimeoutError) as exc:
        raise BatchUsageError(f"--dask {dask}: cannot reach the scheduler ({exc})") from None
    except (ValueError, TypeError) as exc:
        # distributed's parsing of the address: no port, an unknown scheme (ValueError); tls:// without
        # a security context, ucx:// without its package (TypeError)
        raise BatchUsageError(f"--dask {dask}: not a scheduler address ({exc})") from None


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread meanwhile, and so in the threads it starts and their processes.

    Ctrl-C is the parent's business, as for the folder pool's workers (:func:`_worker_init`):
    a local cluster's worker processes are started from the cluster's threads, which inherit this
    thread's signal mask, and keep it across the exec of a new interpreter (as multiprocessing's
    resource tracker does). A Ctrl-C sent to the process group (a terminal's) then reaches this
    process only: the workers no longer die mid-file with distributed's tracebacks, and the files
    they are writing are finished and reported (:func:`_execute_dask`). A Ctrl-C that arrives
    meanwhile is delivered when the mask is restored, to the main thread, which does not block it.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    from multiprocessing import resource_tracker

    # Started now, not by the cluster's first process: starting it unblocks SIGINT in the thread
    # that does (SIG_UNBLOCK after its own SIG_BLOCK, not the mask it found).
    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def close_dask(client: Any) -> None:
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
