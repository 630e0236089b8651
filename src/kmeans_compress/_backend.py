"""The compiled-or-numpy switch: loads the numba kernels (:mod:`._numba_kernels`) lazily.

Stage: serves the k-means workers (:mod:`._lloyd`) and the nearest-entry search
(:mod:`._nearest`). In: the arrays of one call; out: that call's result computed
by a compiled kernel, or ``None``, and the caller then runs its numpy code.

Importing numba and loading the cached machine code of a first kernel costs about
half a second in a new process, more than a whole small compression on numpy; once
loaded, the kernels are 5 to 20 times faster than numpy even on a 32 x 32 image's
histogram (see benchmarks/RESULTS.md, "Small images"). So a process starts on numpy and
loads the kernels once they pay (:func:`load_pays`): at its first call of at least
``FIRST_LOAD_WORK`` point x centre pairs, or ``FIRST_NUMPY_SECONDS`` after its first call
on numpy (a folder, a server, a notebook: loading then pays back at once). A one-shot
command on a small image never imports numba. Once loaded, the kernels are used from
``MIN_WORK`` (1,024) pairs; only trivial problems stay on numpy. Each kernel is loaded on
its first call, so a process pays for the kernels it uses. Below ``PARALLEL_MIN_POINTS``
points a kernel runs on one thread: a parallel region's start costs more than so little
work. Processes that share the cores (folder mode's workers) take their share of them
(:func:`share_cores`).

Each function takes ``compiled``: None decides by the call's size (the default),
True uses the kernels whatever the size (once loaded), False never uses them. Which
path runs may depend on what ran before in the process (whether the kernels are
loaded yet), so the two paths give the same results to the last bit: labels, centres,
inertia, iterations, palettes and index maps (tests/test_paths_identical.py). Without
numba (or if it fails to load) every path runs on numpy unchanged.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

#: Point x centre pairs from which the compiled kernels are used.
MIN_WORK = 1 << 10
#: Above this many features, k-means++ stays on numpy (BLAS matrix products). The compiled pass
#: skips the points a candidate cannot reach; with more than the colours' 3 or 4 coordinates that
#: pruning fails on all but well-separated clusters, and the dense products are faster and cost
#: the same whatever the data. One core, ms, compiled / numpy (same indices), load 4.5:
#: bench_kmeans data (n = 10,000) standard normal d = 6: K = 64 54 / 21, K = 256 208 / 78;
#: d = 8: K = 8 3.6 / 2.0, K = 64 62 / 21, K = 256 257 / 87; make_blobs d = 8: K = 64 26 / 22,
#: K = 256 61 / 84. Other data, n = 20,000, K = 16 / 128 / 256: classification (d = 7)
#: 23 / 165 / 274 against 10 / 79 / 179; uniform (d = 6) 23 / 224 / 395 against 11 / 79 / 176;
#: lognormal (d = 5) 13 / 109 / 213 against 11 / 72 / 168; overlapping blobs (d = 6, std 4)
#: 23 / 221 / 431 against 11 / 74 / 181; but anisotropic blobs (d = 8) 17 / 56 / 87 against
#: 12 / 80 / 186 and tight blobs (d = 5, std 0.5, 200 centres) 22 / 109 / 138 against
#: 8 / 69 / 166: the compiled pass wins only on well-separated clusters at K >= 128 (at most
#: 2.1x), the products lose nowhere by more than that and win by up to 3x.
PLUSPLUS_MAX_FEATURES = 4
#: With fewer than 3 features (general data: an image has 3 or 4 coordinates, whose path this
#: leaves alone), k-means++ for fewer than this many centres stays on numpy too: the compiled pass
#: prunes little there and a first fit skips loading its kernel. One core, ms, compiled / numpy,
#: K = 8: n = 10,000, d = 2: standard normal 2.9 / 1.6, make_blobs (16 centres, std 2) 3.0 / 1.9,
#: make_blobs (8) 5.5 / 1.8, uniform 2.8 / 1.6, moons 2.4 / 1.6; lognormal d = 1 1.5 / 1.4;
#: n = 200,000: 73 / 33, 101 / 35, 47 / 28, 58 / 23, 51 / 30; 55 / 46. From K = 16 the
#: compiled pass wins on some of these (d = 1 from K = 16, d = 2 at n = 10,000 from K = 64).
PLUSPLUS_MIN_CENTERS_FEW_FEATURES = 16

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
_module: Any = None  # the kernels module once loaded; False if loading failed
_failure: str | None = None  # why loading failed, until it has been reported


_preloading: threading.Thread | None = None

#: Called once, from a timer thread, when loading the kernels has taken ``NOTICE_AFTER``
#: seconds: numba is then compiling them, which happens once per install and takes far
#: longer than loading cached machine code. The command line sets it to print a note,
#: so that a first run does not look hung.
slow_load_notice: Callable[[], None] | None = None
NOTICE_AFTER = 3.0


def _load(quiet: bool = False, warm: bool = False) -> Any:
    """The kernels module (numba imported; each kernel loads on its first call), or None.

    ``warm`` also loads (or compiles) an image's kernels now (:func:`_numba_kernels.warm_up`):
    a background preload does that, ahead of a large image. Otherwise a kernel is
    loaded on its first call (:func:`_run`), so a process pays only for the kernels
    it uses: a first ``KMeans`` fit loads two, not six. Any failure leaves every path
    on numpy, with one warning (held back while ``quiet``, for the first caller that
    is not: a loading thread has no one to tell).
    """
    global _module, _failure
    if _module is None:
        timer = _notice_timer()
        try:
            module = _import_kernels()
            if warm:
                module.warm_up(products=False)
                _ready.update(_WARMED)
            _module = module
        except Exception as exc:  # a broken numba install or kernel: stay on numpy, and say so once
            _module = False
            _failure = f"compiled kernels unavailable, running on numpy (slower): {exc}"
        finally:
            if timer is not None:
                timer.cancel()
    if _failure is not None and not quiet:
        message, _failure = _failure, None
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    return _module or None


#: The kernels a preload (:func:`_numba_kernels.warm_up` without the products' pass) loads: an
#: image's. ``_settle_block_kernel`` (general data of many features) loads on its first call.
_WARMED = (
    "_sort_keys_kernel",
    "_split_init_kernel",
    "_kmeans_plusplus_kernel",
    "_lloyd_kernel",
    "_nearest_hinted_kernel",
    "_center_distances",
    "_hartigan_kernel",
    "_lookup_kernel",
    "_diffuse_kernel",
)
_ready: set[str] = set()  # the kernels that have run once in this process (loaded or compiled)
_noticed = False


def _notice_timer() -> threading.Timer | None:
    """A started timer that calls ``slow_load_notice`` (once per process) if loading takes long."""
    notice = slow_load_notice
    if notice is None or _noticed:
        return None

    def say() -> None:
        global _noticed
        if not _noticed:
            _noticed = True
            notice()

    timer = threading.Timer(NOTICE_AFTER, say)
    timer.daemon = True
    timer.start()
    return timer


class _Unavailable(Exception):
    """A kernel failed to load or compile on its first call: the caller runs its numpy code."""


def _run(k: Any, name: str, points: int, *args: Any) -> Any:
    """Call kernel ``name`` of module ``k`` on ``args``: on one thread below ``PARALLEL_MIN_POINTS`` points.

    A kernel's first call loads its cached machine code (or compiles it, the first
    time on a machine). If that fails, every path falls back to numpy with one
    warning, and :class:`_Unavailable` tells the caller to run its numpy code; the
    kernels only write into arrays their caller allocated for them, so nothing is
    left half done.
    """
    global _module, _failure
    fn = getattr(k, name)
    if name in _ready:
        return _threaded(fn, points, args)
    timer = _notice_timer()
    try:
        out = _threaded(fn, points, args)
    except Exception as exc:  # loading or compiling failed: numpy from now on
        _module = False
        _failure = f"compiled kernels unavailable, running on numpy (slower): {exc}"
        _load()  # says so, once
        raise _Unavailable(name) from exc
    finally:
        if timer is not None:
            timer.cancel()
    _ready.add(name)
    return out


#: Points below which a kernel runs on one thread. The parallel loops of the kernels run over
#: points (a Lloyd assignment, the k-means++ candidates' gains), one region per iteration or
#: per centre. Starting a region's threads costs a few microseconds on an idle machine, far less
#: than the work of 2,048 colours at any palette size, so from there both cores are used: on an
#: idle machine (load average 0.3-1.2, quiet), `quantize` against libimagequant, summed over
#: each photo set (best of 3 a photo), 65,536 -> 2,048 points: benchmark set K = 16 / 64 / 256
#: 0.39 / 0.58 / 0.55 -> 0.36 / 0.48 / 0.46; other photos 0.44 / 0.65 / 0.64 -> 0.42 / 0.57 /
#: 0.57; centre crops of astronaut (median of 7) 64 x 64 K = 16 / 64 / 256 0.85 / 1.40 / 2.28
#: -> 0.65 / 1.06 / 1.66; 128 x 128 1.00 / 1.27 / 0.84 -> 0.84 / 0.92 / 0.61; 256 x 256 0.58 /
#: 0.84 / 1.19 -> 0.48 / 0.62 / 0.86; 32 x 32 (at most 1,024 colours, on one thread either
#: way) 0.94 / 1.08 / 1.73 -> 0.86 / 1.06 / 1.71. 8,192 or 4,096 gained less at K = 64 and
#: 256; 1,024 and 512 no more than 2,048 (benchmarks/RESULTS.md, session 8).
#: On a busy machine a parallel region waits for a descheduled thread (a time slice, milliseconds):
#: a 64 x 64 image's Lloyd run once took 1.9 s on two threads and 8 ms on one at a load average
#: of 7. So above this size the kernels take only the cores no other process is busy on
#: (:func:`free_cores`), and processes or jobs that share the cores with each other (folder
#: mode's workers, Dask workers, the web page's compressions) each take their share of them
#: (:func:`thread_limit`), so the tool does not overload the machine itself. The threads never
#: change a result, only the time.
PARALLEL_MIN_POINTS = 1 << 11

#: The most threads a kernel may use in this process (None: every core numba has). Worker
#: processes that share the machine set it to their share of the cores (:func:`share_cores`).
max_threads: int | None = None


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def share_cores(workers: int) -> None:
    """This process is one of ``workers`` processes running kernels side by side on this
    machine's cores: its kernels take ``cores // workers`` threads (at least one)."""
    global max_threads
    max_threads = max(1, available_cores() // max(1, workers))


#: (time.monotonic(), time.process_time()) of this process, one a second at most, over the last
#: minute: how much of the load average is this process's own (:func:`free_cores`).
_own_use: list[tuple[float, float]] = []
_own_pid = os.getpid()  # the process those samples are of


def free_cores() -> int:
    """The cores this process may use that no other process is busy on: the cores minus the load
    average of the last minute, less this process's own share of it (its CPU time over the
    last minute), rounded, and no more than the tasks running now besides this thread
    (:func:`_running_others`); at least one. OpenMP's dynamic thread count (libgomp,
    ``OMP_DYNAMIC``) reads the load average alone; numba's threads have no such setting. On two
    cores, one other busy process leaves one: a parallel region started on both would wait at
    every barrier for its descheduled thread (at a load average of 2.5, a 64 x 64 crop at K = 16
    took 39 times libimagequant's time on two threads against 0.5 on one). The load average
    alone lags: for a minute after other processes end it still counts them (a first fit started
    just after another program's took one thread where both were free)."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average here
        return cores
    global _own_pid
    if _own_pid != os.getpid():  # a forked child: its CPU time starts again from zero
        _own_pid = os.getpid()
        _own_use.clear()
    now = time.monotonic()
    if not _own_use or now - _own_use[-1][0] >= 1.0:  # the process's CPU time costs microseconds: once a second
        _own_use.append((now, time.process_time()))
        while now - _own_use[0][0] > 60.0:
            del _own_use[0]
    (t0, c0), (t1, c1) = _own_use[0], _own_use[-1]
    own = max(0.0, (c1 - c0) / (t1 - t0)) if t1 - t0 >= 1.0 else 0.0
    busy = round(load - own)
    if busy > 0:  # and still busy now?
        busy = min(busy, _running_others())
    return max(1, min(cores, cores - busy))


_running_seen: tuple[float, int] | None = None  # (time.monotonic(), tasks) of the last reading


def _running_others() -> int:
    """How many threads of other processes are running or waiting for a core right now: the
    kernel's count of such tasks in ``/proc/loadavg`` less this process's own (its threads in
    state R: BLAS's threads spin for a while after a product), read at most every 0.1 s (44 us
    a reading). Where there are no such files, a large number (the load average alone decides)."""
    global _running_seen
    now = time.monotonic()
    if _running_seen is not None and now - _running_seen[0] < 0.1:
        return _running_seen[1]
    try:
        running = int(_read("/proc/loadavg").split()[3].split(b"/")[0])
        own = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                own += _read(f"/proc/self/task/{tid}/stat").rsplit(b")", 1)[1].split()[0] == b"R"
            except OSError:  # the thread has just ended
                pass
        others = max(0, running - max(own, 1))
    except (OSError, IndexError, ValueError):  # pragma: no cover - not Linux
        others = 1 << 30
    _running_seen = (now, others)
    return others


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1024)
    finally:
        os.close(fd)


_local = threading.local()  # ``cap``: this thread's limit (:func:`threads_at_most`)


#: Products of at most this many features, and (points x centres x features) above OpenBLAS's own
#: threshold for threading a product (65,536 x 4), run with BLAS on one thread (:func:`narrow_products`).
NARROW_MAX_FEATURES = 16
_BLAS_THREADS_FROM = 1 << 18


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside, as scikit-learn keeps it for its chunks of products.

    OpenBLAS threads a product from about 2^18 multiply-adds. On two cores with one other busy
    process its threads wait on each other: a numpy Lloyd fit of 1e6 points in 2-D took 0.6-1.8 s
    on two BLAS threads against 0.6-0.8 on one, ``nearest_centers`` of 30,000 points at K = 256
    64 ms against 7.5 (benchmarks/RESULTS.md, "Session 13"). With few features the product is a
    small part of the work, and one thread costs little on a quiet machine.

    Counted: threads of one process (Dask's, the web page's) that enter at once share one limit,
    which is lifted when the last leaves (threadpoolctl's own contexts, interleaved, would restore
    each other's settings and could leave BLAS on one thread for good).
    """
    global _blas_users, _blas_limit
    controller = _blas()
    if controller is None:
        yield
        return
    with _blas_lock:
        if _blas_users == 0:
            _blas_limit = controller.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limit is not None:
                _blas_limit.restore_original_limits()
                _blas_limit = None


def narrow_products(n: int, k: int, d: int) -> contextlib.AbstractContextManager[None]:
    """:func:`one_blas_thread` for products of ``n`` points by ``k`` centres in ``d`` features that
    OpenBLAS would thread and whose features are few (``NARROW_MAX_FEATURES``); otherwise nothing:
    many features make the product most of the work, where two threads pay on a quiet machine."""
    if d <= NARROW_MAX_FEATURES and n * k * d > _BLAS_THREADS_FROM:
        return one_blas_thread()
    return contextlib.nullcontext()


def _blas() -> Any:
    """threadpoolctl's controller of the BLAS loaded (numpy's), found once (it reads the process's
    libraries: about 6 ms with its import); None where threadpoolctl is missing."""
    global _blas_controller
    if _blas_controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - a dependency; an install without it keeps BLAS's setting
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()
    return _blas_controller or None


_blas_controller: Any = None  # False: threadpoolctl missing
_blas_lock = threading.Lock()
_blas_users = 0  # threads inside one_blas_thread()
_blas_limit: Any = None  # the limit in force while there are such threads


@contextlib.contextmanager
def threads_at_most(n: int) -> Iterator[None]:
    """Kernels called from this thread inside use at most ``n`` threads: for jobs that one process
    runs side by side in threads (the web page's compressions), each on its share of the cores."""
    before = getattr(_local, "cap", None)
    _local.cap = max(1, n)
    try:
        yield
    finally:
        _local.cap = before


def thread_limit() -> int:
    """The threads a parallel kernel (or the products' block pool) may use now: the
    :func:`free_cores`, at most this process's share (:func:`share_cores`) and this thread's cap
    (:func:`threads_at_most`)."""
    n = free_cores()
    for cap in (max_threads, getattr(_local, "cap", None)):
        if cap is not None:
            n = min(n, cap)
    return n


def _threads(points: int) -> int:
    """Threads for kernels over ``points`` points: 1 below ``PARALLEL_MIN_POINTS``, else :func:`thread_limit`."""
    return 1 if points < PARALLEL_MIN_POINTS else thread_limit()


def _threaded(fn: Callable[..., Any], points: int, args: tuple[Any, ...]) -> Any:
    with one_thread_below(points):
        return fn(*args)


@contextlib.contextmanager
def one_thread_below(points: int) -> Iterator[None]:
    """Run the kernels called inside on one thread when ``points`` is below ``PARALLEL_MIN_POINTS``
    (and the kernels are loaded), on the free cores otherwise (:func:`_threads`): a caller that runs many
    small kernels (the starts of a fit) sets the thread count once (it costs tens of
    microseconds) instead of at every call."""
    if not _module:
        yield
        return
    import numba

    before = numba.get_num_threads()
    want = min(_threads(points), numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # numba's config is untyped
    if before == want:
        yield
        return
    numba.set_num_threads(want)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _import_kernels() -> Any:
    """Import the kernels; numba compiles them on first use and caches the machine code.

    numba caches beside the module, or, where the installed package's folder is
    not writable, in the user's cache folder (``~/.cache/numba``). Where neither
    is writable (a read-only home in a container, say) numba refuses to define
    cached functions at all; the cache then goes to a per-user folder in the
    temporary directory instead of the kernels being lost.

    numba's array functions import SciPy's linear algebra, when it is installed,
    to see whether BLAS is there (half a second, half of numba's whole load); none of
    these kernels uses BLAS, so while numba loads them, a SciPy that this process
    has not imported yet is hidden (numba then uses its own loop for the inner
    products of ``np.cov`` and the like in this process; SciPy itself imports as usual).
    """
    hide = _HideScipy() if "scipy" not in sys.modules else None
    if hide is not None:
        sys.meta_path.insert(0, hide)
    try:
        return _import_kernels_module()
    finally:
        if hide is not None:
            sys.meta_path.remove(hide)


class _HideScipy(importlib.abc.MetaPathFinder):
    """Refuses SciPy to the thread that created it (the one loading the kernels) only:
    another thread of the process importing SciPy meanwhile gets it as usual."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] == "scipy" and threading.get_ident() == self.thread:
            raise ImportError("SciPy is not needed to load the kernels")


def _import_kernels_module() -> Any:
    try:
        from . import _numba_kernels
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        import numba

        user = getattr(os, "getuid", lambda: "user")()
        folder = os.path.join(tempfile.gettempdir(), f"kmeans-compress-numba-{user}")
        numba.config.CACHE_DIR = folder  # type: ignore[attr-defined]  # numba's config module is untyped
        from . import _numba_kernels
    import numba.np.arraymath  # noqa: F401  # the module that looks for SciPy: loaded now, while it is hidden

    return _numba_kernels


def _kernels_for(work: int, compiled: bool | None, load_work: int | None = None) -> Any:
    """The compiled kernels module, or None (not wanted, too little work, no numba, or not loaded
    yet and this call does not pay for loading them: :func:`load_pays`).

    ``compiled``: True uses them whatever the size, False never, None when ``work`` (point x
    centre pairs) is at least ``MIN_WORK``. ``load_work`` (optional): the work :func:`load_pays`
    weighs instead, for a kernel whose numpy twin is much slower per pair than the searches'.
    """
    if not would_use_kernels(work, compiled) or not load_pays(work if load_work is None else load_work):
        return None
    if _preloading is not None:
        _preloading.join()
    return _load()


def would_use_kernels(work: int, compiled: bool | None) -> bool:
    """Whether a call of ``work`` point x centre pairs runs on the kernels once they are loaded."""
    if not HAVE_NUMBA or compiled is False:
        return False
    return compiled is True or work >= MIN_WORK


#: Until a process has loaded the kernels, calls of less than this many point x centre pairs
#: run on numpy, for ``FIRST_NUMPY_SECONDS`` from the first of them (:func:`load_pays`).
FIRST_LOAD_WORK = 1 << 22
#: See ``FIRST_LOAD_WORK``. About what loading costs (numba's import, 0.25-0.4 s, and its typing
#: context, set up by the first kernel's call, 0.2-0.26 s), so that a process that turns out to
#: need the kernels spends at most twice what it would have spent loading them at once, and one
#: that does not (a single small image) never pays for them. At 0.3 s a 160 x 160 image at K =
#: 256 on the command line loaded them after its split start and Hartigan's moves on numpy
#: (0.35 s): 1.1 s in all, where the rest of its fit took 0.1 s on numpy.
FIRST_NUMPY_SECONDS = 0.6
_numpy_since: float | None = None  # when the first call that could have loaded the kernels ran on numpy


def load_pays(work: int) -> bool:
    """Whether the kernels are loaded, or loading them now for a call of ``work`` pays.

    Importing numba and loading a kernel's cached machine code costs about half a second
    (0.47 s of it numba's import, on the 2-core machine of benchmarks/RESULTS.md), more than a
    small problem takes on numpy: a 128 x 128 image at K = 16 took 41 ms on numpy, a first
    ``KMeans(8)`` fit of 200,000 points in 2-D 0.15 s against 0.42 s loading the kernels first.
    So a process starts on numpy and loads them at its first call of at least ``FIRST_LOAD_WORK``
    pairs, or once ``FIRST_NUMPY_SECONDS`` have passed since its first call on numpy (a long
    run, a folder of images: a numpy Lloyd run asks between iterations and hands over). The
    two paths give the same results to the last bit (tests/test_paths_identical.py), so which
    one ran changes the time only.
    """
    global _numpy_since
    if _module is not None or _preloading is not None or work >= FIRST_LOAD_WORK:
        return True
    now = time.monotonic()
    if _numpy_since is None:
        _numpy_since = now
    return now - _numpy_since >= FIRST_NUMPY_SECONDS


def preload_in_background() -> None:
    """Start loading numba and the kernels' cached machine code in a thread.

    For a caller that will most likely need the kernels (a large image) and has
    other work to do first (decoding, the colour histogram): the loading then
    overlaps with it. Which path a problem takes is unchanged
    (``MIN_WORK`` decides); this only moves the loading earlier.
    """
    global _preloading
    if not HAVE_NUMBA or _module is not None or _preloading is not None:
        return

    def warm() -> None:
        _load(quiet=True, warm=True)  # a failure is reported by the caller's first kernel call

    _preloading = threading.Thread(target=warm, name="kmeans-compress-numba", daemon=True)
    _preloading.start()
    atexit.register(_preloading.join)  # never leave the interpreter mid-import


#: Points per centre below which the compiled searches (a Lloyd run, the final mapping) compare a
#: point with every centre (``scan``) instead of walking out from its own centre through a table of
#: every centre's neighbours, sorted: that table costs K^2 log K to build (3.3 ms at K = 256 on one
#: core) and K^2 to keep each iteration, more than scanning where the points are few. Lloyd from
#: the split start and the hinted final search, both ways (same labels), crops of astronaut and
#: coffee, ms, load 4.6: 880 colours at K = 256 (3.4 a centre) 3.96 / 4.77 walking, 1.46 / 0.40
#: scanning; 2,141 at K = 256 (8.4) 9.05 / 3.29 against 3.08 / 0.92; 3,041 at K = 256 (11.9)
#: 6.02 / 3.15 against 4.14 / 1.09; 2,141 at K = 128 (16.7) 1.38 / 0.65 against 1.41 / 0.47;
#: 3,041 at K = 128 (23.8) 2.63 against 4.61 (walking wins); 8,158 at K = 256 (31.9) 15.2 against
#: 24.9.
SCAN_POINTS_PER_CENTER = 16
#: Up to this many centres the searches always scan: the walk saves little over a scan of so few,
#: and its table still costs. Lloyd from the split start, best of 9, load 3.4, ms, walking against
#: scanning: 880 colours K = 16 0.115 / 0.094; 3,041 K = 24 1.89 / 1.77; 40,611 K = 16 8.34 / 8.22
#: (3 photos, 32 to 256 px, K = 8, 16, 24: scanning never slower by more than 1 %).
SCAN_MAX_CENTERS = 24


def scan_centres(n: int, k: int) -> bool:
    """Whether the compiled searches over ``n`` points and ``k`` centres compare every point with every centre."""
    return k <= SCAN_MAX_CENTERS or n < SCAN_POINTS_PER_CENTER * k


def neighbour_table(C: np.ndarray, scan: bool, k: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The distances between centres ``C`` (K, d) and each centre's others nearest first, (K, K)
    each, for the compiled searches that walk out from a centre (placeholders when they ``scan``).

    The distances are a kernel's (``_center_distances``, summed over features in the kernels'
    order, so ``cc`` is what the kernels compute); numpy sorts them, several times faster than a
    compiled argsort. At K = 256, median of 200: the distances 0.16 ms against numpy's 1.1 ms (its
    (K, K) temporaries), the sort 0.38 ms against a compiled one's 3.3 ms; a 128 x 128 image's fit
    at K = 256 pays this twice (Lloyd's start and the final mapping). Ties may come in any order:
    the walk's result does not depend on it. ``k``: the kernels module (default: the loaded one).
    """
    if scan:
        return np.zeros((1, 1)), np.zeros((1, 1), dtype=np.intp)
    C = np.ascontiguousarray(C, dtype=np.float64)
    cc = np.empty((C.shape[0], C.shape[0]))
    _run(k or _load(), "_center_distances", 1, C, cc)
    return cc, np.argsort(cc, axis=1).astype(np.intp, copy=False)


def lloyd_compiled(
    X: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol: float,
    labels_hint: np.ndarray | None = None,
    compiled: bool | None = None,
    give_up: float = 0.0,
    parallel_from: int | None = None,
    hint_is_previous: bool = False,
) -> tuple[np.ndarray, float, np.ndarray, int, bool] | None:
    """A whole weighted Lloyd run (:func:`._lloyd.lloyd`) compiled, or ``None`` (small problem, or no numba).

    The last item is True when the run stopped early because the bounds pruned too little
    (``give_up`` > 0, see :func:`._numba_kernels._lloyd_kernel`): the centres and labels are then
    those of the last iteration done, for the caller to go on from. ``parallel_from`` (optional)
    replaces ``PARALLEL_MIN_POINTS`` as the number of points from which the run takes every thread.
    ``hint_is_previous``: ``labels_hint`` is the assignment of the iteration before (a numpy run
    handing over), against which the first iteration's labels are compared (strict convergence)."""
    work = X.shape[0] * centers.shape[0]
    k = _kernels_for(work, compiled)
    if k is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    C = np.array(centers, dtype=np.float64, order="C", copy=True)
    hinted = labels_hint is not None
    labels = np.array(labels_hint, dtype=np.intp, copy=True) if hinted else np.empty(X.shape[0], dtype=np.intp)
    scan = scan_centres(X.shape[0], C.shape[0])
    try:
        cc, order = neighbour_table(C, scan, k)
        args = (X, w, C, int(max_iter), float(tol), labels, hinted, scan, cc, order)
        n = X.shape[0]
        points = n
        if parallel_from is not None:  # the caller's own threshold, both ways
            points = max(n, PARALLEL_MIN_POINTS) if n >= parallel_from else min(n, PARALLEL_MIN_POINTS - 1)
        inertia, n_iter, handed_over, _ = _run(
            k, "_lloyd_kernel", points, *args, float(give_up), bool(hint_is_previous and hinted)
        )
    except _Unavailable:
        return None
    return labels, float(inertia), C, int(n_iter), bool(handed_over)


def inertia_compiled(
    X: np.ndarray, w: np.ndarray, centers: np.ndarray, labels: np.ndarray, compiled: bool | None = None
) -> float | None:
    """:func:`._lloyd.inertia_in_order` compiled (the same sums in the same order), or ``None``
    (small problem, or no numba). 10,000 x 128 points: 0.97 ms on one thread against about 3 ms on
    numpy, which has to move the features to the first axis to add them in order."""
    k = _kernels_for(X.shape[0] * centers.shape[0], compiled)
    if k is None:
        return None
    try:
        return float(
            _run(
                k,
                "_inertia_kernel",
                X.shape[0],
                np.ascontiguousarray(X, dtype=np.float64),
                np.ascontiguousarray(w, dtype=np.float64),
                np.ascontiguousarray(centers, dtype=np.float64),
                np.ascontiguousarray(labels, dtype=np.intp),
            )
        )
    except _Unavailable:
        return None


def update_centers_compiled(
    X: np.ndarray, w: np.ndarray, labels: np.ndarray, centers: np.ndarray, compiled: bool | None = None
) -> np.ndarray | None:
    """The centre update of :func:`._lloyd.update_centers` compiled (same sums in the same
    order, same re-seeding), or ``None`` (small problem, or no numba)."""
    k = _kernels_for(X.shape[0] * centers.shape[0], compiled)
    if k is None:
        return None
    new = np.empty_like(centers)
    try:  # a kernel that fails to load leaves the update on numpy, as every other kernel does
        _run(k, "_update_centers_kernel", X.shape[0], X, w, labels, centers, new)
    except _Unavailable:
        return None
    return new


def settle_block_compiled(work: int) -> Callable[..., None] | None:
    """The compiled pass that turns a block of matrix products into nearest centres
    (:func:`._numba_kernels._settle_block_kernel`, for :func:`._nearest.nearest_by_products`),
    or ``None`` (``work``, point x centre pairs of the whole search, below ``MIN_WORK``, or no numba).
    It holds no GIL: the blocks' threads run it side by side."""
    k = _kernels_for(work, None)
    if k is None:
        return None
    fn: Callable[..., None] = k._settle_block_kernel
    return fn


def kmeans_plusplus_compiled(
    X: np.ndarray, w: np.ndarray, n_clusters: int, u_first: float, U: np.ndarray, compiled: bool | None = None
) -> np.ndarray | None:
    """Greedy weighted k-means++ compiled, with its uniform draws given: the chosen rows'
    indices, or ``None`` (small problem, no numba, more than ``PLUSPLUS_MAX_FEATURES`` features,
    or fewer than 3 features and ``PLUSPLUS_MIN_CENTERS_FEW_FEATURES`` centres: where the numpy
    code's matrix products are faster than the compiled loops)."""
    if X.shape[1] > PLUSPLUS_MAX_FEATURES or (X.shape[1] < 3 and n_clusters < PLUSPLUS_MIN_CENTERS_FEW_FEATURES):
        return None
    work = X.shape[0] * n_clusters * max(1, U.shape[1])
    # Whether to load the kernels for it: weighed as one pass over the pairs, not one per trial
    # (numpy's trials are matrix products; a 64 x 64 image at K = 256 loaded numba for its 5.4
    # million "pairs", 0.75 s, where numpy takes 0.12 s for the whole image).
    k = _kernels_for(work, compiled, X.shape[0] * n_clusters)
    if k is None:
        return None
    indices = np.empty(n_clusters, dtype=np.intp)
    try:
        _run(
            k,
            "_kmeans_plusplus_kernel",
            X.shape[0],
            np.ascontiguousarray(X, dtype=np.float64),
            np.ascontiguousarray(w, dtype=np.float64),
            float(u_first),
            np.ascontiguousarray(U, dtype=np.float64),
            np.empty((n_clusters, X.shape[1]), dtype=np.float64),
            indices,
        )
    except _Unavailable:
        return None
    return indices


def variance_compiled(X: np.ndarray, w: np.ndarray, compiled: bool | None = None) -> float | None:
    """The mean weighted variance of the features of :func:`._lloyd.tolerance` compiled (the same
    sums in the same order), or ``None`` (small problem, or no numba)."""
    k = _kernels_for(X.shape[0] * X.shape[1], compiled)
    if k is None:
        return None
    try:
        return float(
            _run(
                k,
                "_variance_kernel",
                0,
                np.ascontiguousarray(X, dtype=np.float64),
                np.ascontiguousarray(w, dtype=np.float64),
            )
        )
    except _Unavailable:
        return None


def split_init_compiled(
    X: np.ndarray, w: np.ndarray, n_clusters: int, compiled: bool | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The split start (:func:`._lloyd.split_start`) compiled: the centres and every point's
    cluster, or ``None`` (small problem, or no numba)."""
    work = X.shape[0] * n_clusters
    k = _kernels_for(work, compiled)
    if k is None:
        return None
    centers = np.empty((n_clusters, X.shape[1]), dtype=np.float64)
    labels = np.empty(X.shape[0], dtype=np.intp)
    X = np.ascontiguousarray(X, dtype=np.float64)
    try:
        m = _run(k, "_split_init_kernel", X.shape[0], X, np.ascontiguousarray(w, dtype=np.float64), centers, labels)
    except _Unavailable:
        return None
    return centers[:m].copy(), labels


def hartigan_compiled(
    X: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    n_near: int,
    passes: int,
    compiled: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """:func:`._lloyd.hartigan_moves` compiled: (centres, labels, moves), or ``None`` (small problem, or no numba)."""
    k = _kernels_for(X.shape[0] * centers.shape[0], compiled)
    if k is None:
        return None
    C = np.array(centers, dtype=np.float64, order="C", copy=True)
    out = np.array(labels, dtype=np.intp, copy=True)
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    try:
        moves = _run(k, "_hartigan_kernel", 1, X, w, C, out, int(n_near), int(passes))
    except _Unavailable:
        return None
    return C, out, int(moves)


def nearest_hinted_compiled(
    X: np.ndarray, centers: np.ndarray, hint: np.ndarray, compiled: bool | None = None, scan: bool | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact nearest centre of every row (ties to the lowest index), searched outward
    from ``hint`` (a guess per row), and the distance to it (the square root of the squared
    distance summed over the features in order); or ``None`` (small problem, or no numba).
    ``scan``: compare every centre (a hint that is no guess), default :func:`scan_centres`."""
    work = X.shape[0] * centers.shape[0]
    k = _kernels_for(work, compiled)
    if k is None:
        return None
    labels = np.array(hint, dtype=np.intp, copy=True)
    if labels.size and (labels.min() < 0 or labels.max() >= centers.shape[0]):
        raise ValueError("hint holds an index outside the centres")
    d1 = np.empty(X.shape[0])
    X = np.ascontiguousarray(X, dtype=np.float64)
    C = np.ascontiguousarray(centers, dtype=np.float64)
    if scan is None:
        scan = scan_centres(X.shape[0], C.shape[0])
    try:
        _run(k, "_nearest_hinted_kernel", X.shape[0], X, C, labels, d1, scan, *neighbour_table(C, scan, k))
    except _Unavailable:
        return None
    return labels, d1


#: Keys up to which :func:`sort_keys_compiled` sorts through a buffer as large as the keys: 16 MB at
#: most. Larger images sort in place with numpy, so that a 24-megapixel image holds one key array
#: (96 MB), not two.
SORT_KEYS_MAX = 1 << 22


def sort_keys_compiled(keys: np.ndarray) -> bool:
    """Sort packed RGB keys (uint32, below 2^24, C-contiguous, writable) in place with the compiled
    radix sort and return True; or return False, having done nothing (numba missing or too few
    keys for it to pay: ``MIN_WORK``; more than ``SORT_KEYS_MAX`` keys; a key of 2^24 or more).
    ``np.sort`` gives the same array. 370,500 keys of a photo: 1.1 ms against numpy's 10.2-10.8."""
    if keys.dtype != np.uint32 or keys.ndim != 1 or keys.size > SORT_KEYS_MAX or not keys.flags.c_contiguous:
        return False
    k = _kernels_for(keys.size, None)
    if k is None:
        return False
    try:
        return bool(_run(k, "_sort_keys_kernel", 0, keys, np.empty_like(keys)))
    except _Unavailable:
        return False


def indexed_histogram_compiled(
    pixels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The histogram of (n, 3) uint8 pixels compiled: the distinct colours (uint8) sorted by packed
    key, those keys (int64), the colour of every pixel (intp) and the pixels of each colour (int64),
    as ``np.unique`` of the packed keys gives them; or ``None`` (fewer than ``MIN_WORK`` pixels, or
    no numba). 1,024 / 4,096 / 16,384 pixels: about 0.01 / 0.03 / 0.12 ms, against numpy's packing
    and ``np.unique`` 0.05 / 0.17 / 0.9 ms."""
    k = _kernels_for(pixels.shape[0], None)
    if k is None:
        return None
    n = pixels.shape[0]
    colors = np.empty((n, 3), dtype=np.uint8)
    keys = np.empty(n, dtype=np.int64)
    counts = np.empty(n, dtype=np.int64)
    index = np.empty(n, dtype=np.intp)
    try:
        m = int(_run(k, "_indexed_histogram_kernel", 0, np.ascontiguousarray(pixels), colors, keys, counts, index))
    except _Unavailable:
        return None
    return colors[:m].copy(), keys[:m].copy(), index, counts[:m].copy()


#: Pixels from which :func:`lookup_compiled` runs: its table of offsets costs about 20 us, as
#: much as numpy's binary searches of a 64 x 64 image (0.06 ms either way; 128 x 128: 0.13 against 0.88).
LOOKUP_MIN_PIXELS = 1 << 13


def lookup_compiled(keys: np.ndarray, pixel_keys: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """``values[np.searchsorted(keys, pixel_keys)]`` for the pixel keys (uint32) of a histogram's sorted
    ``keys`` (int64) and uint8 ``values``, compiled; or ``None`` (other types, fewer than
    ``LOOKUP_MIN_PIXELS`` pixels, or no numba)."""
    if (
        keys.dtype != np.int64
        or pixel_keys.dtype != np.uint32
        or values.dtype != np.uint8
        or pixel_keys.ndim != 1
        or pixel_keys.size < LOOKUP_MIN_PIXELS
    ):
        return None
    k = _kernels_for(pixel_keys.size, None)
    if k is None:
        return None
    out = np.empty(pixel_keys.size, dtype=np.uint8)
    try:
        _run(k, "_lookup_kernel", 0, np.ascontiguousarray(keys), np.ascontiguousarray(pixel_keys), values, out)
    except _Unavailable:
        return None
    return out


#: The error diffusion's numpy twin walks the image row by row in Python: about 9 us a pixel
#: (a 384 x 384 image took 1.3 s), so it loads the kernels as if each pixel were this many
#: pairs (:func:`load_pays`): from 32,768 pixels. The command line with ``--dither`` at K = 16,
#: new process: 128 x 128 0.55 s on numpy against 0.91 s loading; 256 x 256 1.22 s on numpy
#: against 0.90 s loading.
DIFFUSE_LOAD_WORK_PER_PIXEL = 128


def diffuse_compiled(
    work: np.ndarray,
    palette: np.ndarray,
    weight: np.ndarray,
    guess: np.ndarray,
    nbr: np.ndarray,
    nbr_d: np.ndarray,
    compiled: bool | None = None,
) -> np.ndarray | None:
    """Weighted serpentine error diffusion (:func:`._remap.diffuse`) compiled, or ``None``
    (small problem, or no numba)."""
    size = guess.size * palette.shape[0]
    k = _kernels_for(size, compiled, guess.size * DIFFUSE_LOAD_WORK_PER_PIXEL)
    if k is None:
        return None
    pal = np.ascontiguousarray(palette, dtype=np.float64)
    out = np.empty(guess.shape, dtype=np.intp)
    try:
        _run(
            k,
            "_diffuse_kernel",
            guess.size,
            np.ascontiguousarray(work, dtype=np.float64),
            pal,
            np.ascontiguousarray(weight, dtype=np.float64),
            pal.min(axis=0),
            pal.max(axis=0),
            np.ascontiguousarray(guess, dtype=np.intp),
            np.ascontiguousarray(nbr, dtype=np.intp),
            np.ascontiguousarray(nbr_d, dtype=np.float64),
            out,
        )
    except _Unavailable:
        return None
    return out
