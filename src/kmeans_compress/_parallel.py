"""Running one function over many items: serially, in worker processes, or on a Dask cluster.

:func:`execute` yields ``(item, result)`` as they complete, whatever the backend,
so callers (folder mode, the shared palette) are written once. A worker that dies
yields a :class:`WorkerDied` for its item instead of stopping the run. Workers
ignore Ctrl-C (the parent stops the pool) and exit when the parent is gone.
"""

from __future__ import annotations

import os
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
            submit()
    finally:
        for fut in list(futures.futures):
            fut.cancel()


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
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), True
    try:
        return Client(dask, timeout="20s"), True
    except (OSError, TimeoutError) as exc:
        raise BatchUsageError(f"--dask {dask}: cannot reach the scheduler ({exc})") from None
    except ValueError as exc:  # distributed's parsing of the address: no port, an unknown scheme, ...
        raise BatchUsageError(f"--dask {dask}: not a scheduler address ({exc})") from None


def close_dask(client: Any) -> None:
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
