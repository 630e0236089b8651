"""The compiled-or-numpy switch: loads the numba kernels (:mod:`._numba_kernels`) lazily.

Stage: serves the k-means workers (:mod:`._lloyd`) and the nearest-entry search
(:mod:`._nearest`). In: the arrays of one call; out: that call's result computed
by a compiled kernel, or ``None``, and the caller then runs its numpy code.

Importing numba and loading its cached machine code costs more than a whole
small compression (see benchmarks/RESULTS.md). So the kernels are used, and numba
imported, only when a call has at least ``MIN_WORK`` point x centre pairs: a
16-colour palette of a photo with 16,384 distinct colours or more, larger
palettes of smaller ones, the general ``KMeans`` on large data. Smaller problems
(icons, screenshots, few colours) stay on numpy and start fast; a one-off small
photo pays the load, a folder of photos pays it once per worker.

Each function takes ``compiled``: None decides by the call's size (the default),
True uses the kernels whatever the size, False never uses them. The choice
depends on the problem only, never on what ran before in the process, so the
same input always takes the same path (and the tests check that both paths make
the same decisions). Without numba (or if it fails to load) every path runs on
numpy unchanged.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

#: Point x centre pairs from which the compiled kernels are used.
MIN_WORK = 1 << 18
#: Above this many features, k-means++ stays on numpy (BLAS matrix products).
PLUSPLUS_MAX_FEATURES = 8
#: Lloyd runs and k-means++ on fewer points than this run their compiled kernels on one
#: thread. Their parallel loops are short on small data (tens of microseconds per
#: iteration), and on a busy machine each one can wait milliseconds for a descheduled
#: thread: 10,000 points at K = 64 took 1.3 s on two threads against 68 ms on one
#: (benchmarks/RESULTS.md). The result does not depend on the number of threads.
PARALLEL_MIN_POINTS = 1 << 16

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


def _load(quiet: bool = False) -> Any:
    """The kernels module with every kernel loaded (or compiled, the first time), or None.

    All kernels are loaded at once (:func:`_numba_kernels.warm_up`): once numba
    has started, the rest cost little next to numba's own start, and a kernel that
    cannot be compiled here is found now, not in the middle of a run. Any failure
    leaves every path on numpy, with one warning (held back while ``quiet``, for
    the first caller that is not: a loading thread has no one to tell).
    """
    global _module, _failure
    if _module is None:
        notice = slow_load_notice
        timer = threading.Timer(NOTICE_AFTER, notice) if notice is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            module = _import_kernels()
            module.warm_up()
            _module = module
        except Exception as exc:  # a broken numba install or kernel: stay on numpy, and say so once
            _module = False
            _failure = f"compiled kernels unavailable, running on numpy (slower): {exc}"
        finally:
            if timer is not None:
                timer.cancel()
    if _failure is not None and not quiet:
        message, _failure = _failure, None
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return _module or None


def _import_kernels() -> Any:
    """Import the kernels; numba compiles them on first use and caches the machine code.

    numba caches beside the module, or, where the installed package's folder is
    not writable, in the user's cache folder (``~/.cache/numba``). Where neither
    is writable (a read-only home in a container, say) numba refuses to define
    cached functions at all; the cache then goes to a per-user folder in the
    temporary directory instead of the kernels being lost.
    """
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
    return _numba_kernels


def _kernels_for(work: int, compiled: bool | None) -> Any:
    """The compiled kernels module, or None (not wanted, too little work, or no numba).

    ``compiled``: True always uses them, False never, None when ``work`` (point x
    centre pairs) is at least ``MIN_WORK``.
    """
    if not HAVE_NUMBA or compiled is False:
        return None
    if compiled is None and work < MIN_WORK:
        return None
    if _preloading is not None:
        _preloading.join()
    return _load()


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
        _load(quiet=True)  # a failure is reported by the caller's first kernel call

    _preloading = threading.Thread(target=warm, name="kmeans-compress-numba", daemon=True)
    _preloading.start()
    atexit.register(_preloading.join)  # never leave the interpreter mid-import


@contextlib.contextmanager
def _threads_for(n_points: int) -> Any:
    """Run the compiled kernels called inside on one thread when ``n_points`` is below
    ``PARALLEL_MIN_POINTS`` (numba's setting is per calling thread, and restored)."""
    if n_points >= PARALLEL_MIN_POINTS:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def lloyd_compiled(
    X: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol: float,
    labels_hint: np.ndarray | None = None,
    compiled: bool | None = None,
) -> tuple[np.ndarray, float, np.ndarray, int] | None:
    """A whole weighted Lloyd run (:func:`._lloyd.lloyd`) compiled, or ``None`` (small problem, or no numba)."""
    k = _kernels_for(X.shape[0] * centers.shape[0], compiled)
    if k is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    C = np.array(centers, dtype=np.float64, order="C", copy=True)
    hinted = labels_hint is not None
    labels = np.array(labels_hint, dtype=np.intp, copy=True) if hinted else np.empty(X.shape[0], dtype=np.intp)
    with _threads_for(X.shape[0]):
        inertia, n_iter = k._lloyd_kernel(X, w, C, int(max_iter), float(tol), labels, hinted)
    return labels, float(inertia), C, int(n_iter)


def update_centers_compiled(
    X: np.ndarray, w: np.ndarray, labels: np.ndarray, centers: np.ndarray, compiled: bool | None = None
) -> np.ndarray | None:
    """The centre update of :func:`._lloyd.update_centers` compiled (same sums in the same
    order, same re-seeding), or ``None`` (small problem, or no numba)."""
    k = _kernels_for(X.shape[0] * centers.shape[0], compiled)
    if k is None:
        return None
    new = np.empty_like(centers)
    k._update_centers_kernel(X, w, labels, centers, new)
    return new


def kmeans_plusplus_compiled(
    X: np.ndarray, w: np.ndarray, n_clusters: int, u_first: float, U: np.ndarray, compiled: bool | None = None
) -> np.ndarray | None:
    """Greedy weighted k-means++ compiled, with its uniform draws given: the chosen rows'
    indices, or ``None`` (small problem, no numba, or more than ``PLUSPLUS_MAX_FEATURES``
    features, where the numpy code's matrix products are faster than the compiled loops)."""
    if X.shape[1] > PLUSPLUS_MAX_FEATURES:
        return None
    k = _kernels_for(X.shape[0] * n_clusters * max(1, U.shape[1]), compiled)
    if k is None:
        return None
    indices = np.empty(n_clusters, dtype=np.intp)
    with _threads_for(X.shape[0]):
        k._kmeans_plusplus_kernel(
            np.ascontiguousarray(X, dtype=np.float64),
            np.ascontiguousarray(w, dtype=np.float64),
            float(u_first),
            np.ascontiguousarray(U, dtype=np.float64),
            np.empty((n_clusters, X.shape[1]), dtype=np.float64),
            indices,
        )
    return indices


def split_init_compiled(
    X: np.ndarray, w: np.ndarray, n_clusters: int, compiled: bool | None = None
) -> np.ndarray | None:
    """The split initialization (:func:`._lloyd.split_init`) compiled, or ``None`` (small problem, or no numba)."""
    k = _kernels_for(X.shape[0] * n_clusters, compiled)
    if k is None:
        return None
    centers = np.empty((n_clusters, X.shape[1]), dtype=np.float64)
    m = k._split_init_kernel(
        np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(w, dtype=np.float64), centers
    )
    return centers[:m].copy()


def nearest_hinted_compiled(
    X: np.ndarray, centers: np.ndarray, hint: np.ndarray, compiled: bool | None = None
) -> np.ndarray | None:
    """Exact nearest centre of every row (ties to the lowest index), searched outward
    from ``hint`` (a guess per row), or ``None`` (small problem, or no numba)."""
    k = _kernels_for(X.shape[0] * centers.shape[0], compiled)
    if k is None:
        return None
    labels = np.array(hint, dtype=np.intp, copy=True)
    if labels.size and (labels.min() < 0 or labels.max() >= centers.shape[0]):
        raise ValueError("hint holds an index outside the centres")
    d1 = np.empty(X.shape[0])
    k._nearest_hinted_kernel(
        np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(centers, dtype=np.float64), labels, d1
    )
    return labels


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
    k = _kernels_for(guess.size * palette.shape[0], compiled)
    if k is None:
        return None
    pal = np.ascontiguousarray(palette, dtype=np.float64)
    out = np.empty(guess.shape, dtype=np.intp)
    k._diffuse_kernel(
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
    return out
