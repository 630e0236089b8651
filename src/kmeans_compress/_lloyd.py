"""K-means workers: initializations and the weighted Lloyd loop, arithmetic only.

Stage: the clustering inside "weighted k-means" (used by :mod:`._fit` on colour
histograms and by the public :mod:`.kmeans` on any data). In: validated float64
points ``X`` (n, d), weights ``w`` (n,) and centres; out: centres, labels, inertia.
Nothing here validates its input: the public functions do that once.

Each worker has a numpy body and, through :mod:`._backend`, a compiled twin in
:mod:`._numba_kernels` that makes the same decisions; ``compiled`` chooses
between them (None: by the size of the call).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import _backend
from ._backend import (
    hartigan_compiled,
    inertia_compiled,
    kmeans_plusplus_compiled,
    lloyd_compiled,
    split_init_compiled,
    update_centers_compiled,
    variance_compiled,
)
from ._nearest import (
    block_parts,
    dist_to_assigned,
    nearest_by_products,
    nearest_two,
    product_rows,
    squares_in_order,
)

__all__ = [
    "DENSE_MIN_FEATURES",
    "GENERAL_PARALLEL_MIN_POINTS",
    "GIVE_UP",
    "HYBRID_MIN_FEATURES",
    "THREADED_HYBRID_MIN_FEATURES",
    "HARTIGAN_CANDIDATES",
    "Bounds",
    "dist_to_assigned",
    "hartigan_moves",
    "half_min_separation",
    "lloyd",
    "near_centres",
    "plan_cut",
    "plusplus_indices",
    "plusplus_init",
    "random_init",
    "split_init",
    "split_start",
    "tolerance",
    "update_centers",
    "weighted_sums",
]


#: From this many features (and below ``DENSE_MIN_FEATURES``), a Lloyd run whose path is not
#: forced (``compiled=None``) starts with Hamerly's bounds on the compiled kernel and hands over
#: to matrix products after an iteration (from the fifth: the bounds' work falls over the first
#: ones) in which the bounds left more than ``GIVE_UP / d`` of the ``n K`` point-centre distances
#: to compute: a distance costs a compiled loop about ``d`` times what it costs in a product.
#: Both searches are exact: same result, only the time changes.
#: Measured on one core (same k-means++ start, load 2.5-5), time of bounds / hand-over / products
#: in ms. bench_kmeans data (n = 10,000): blobs d = 8, K = 64: 19 / 19 / 47; normal d = 8,
#: K = 256: 160 / 167 / 144; normal d = 12, K = 64: 161 / 104 / 91, K = 256: 450 / 263 / 198;
#: normal d = 6, K = 64: 79 / 101 / 94 (a loss). Other data (n = 20,000, K = 16 and 128):
#: hand-over within 1.0-1.14x of the faster of the two on a classification set (d = 7),
#: uniform (d = 6), lognormal (d = 9, K = 128) and anisotropic blobs (d = 10, K = 128); slower
#: on overlapping blobs (d = 10, std 4, K = 128: 235 against the bounds' 150, it hands over at
#: the fifth iteration with 26 % of the distances, 13 % on average over the run) and 1.2-1.6x
#: on the K = 16 fits under 60 ms, where products alone were fastest. Handing over from the
#: second iteration at 1.6 / d cost 1.68x on the lognormal set and 2x on anisotropic blobs.
#: Before the fifth iteration a run hands over when the bounds left more than 3 x ``GIVE_UP / d``
#: (``_numba_kernels._GIVE_UP_EARLY``): 4-10 % less CPU time on the six such fits measured there.
#: The image path (3 or 4 coordinates, or ``compiled`` forced) never hands over.
HYBRID_MIN_FEATURES = 5
GIVE_UP = 2.0
#: When the bounded kernel runs on every core (``threads_from``, the general ``KMeans``), the
#: hand-over starts at this many features instead: on two cores the bounds' search runs on both,
#: while the products of a small problem get no thread pool (``POOL_MIN_BLOCK_WORK``). Measured on
#: an idle machine (load 1.1-1.8, median of 3, taking turns; benchmarks/RESULTS.md, session 7):
#: two threads without hand-over took 0.54-0.94x the time of one thread with it on 28 of 30 fits
#: (bench_kmeans data at d = 5 and 8, n = 10,000 and 40,000, K = 8 / 64 / 256; make_classification
#: d = 7, lognormal d = 6, overlapping blobs d = 8, n = 20,000, K = 16 and 128), 1.06x on standard
#: normal n = 10,000, d = 8, K = 256 and 1.03x on blobs n = 40,000, d = 8, K = 8. At d = 12 the
#: hand-over still won (standard normal, K = 8: 0.89 against 0.97 of scikit-learn's time).
THREADED_HYBRID_MIN_FEATURES = 9
#: The general ``KMeans`` runs its bounded Lloyd kernel on every core from this many points (the
#: image path keeps ``_backend.PARALLEL_MIN_POINTS``), as scikit-learn runs its chunks of 256 points
#: on every core. On an idle machine two threads took 0.33-0.75x scikit-learn's time at n = 10,000,
#: d = 2, against 0.41-0.75x on one (bench_kmeans' grid, session 7). Below, one thread: not measured.
GENERAL_PARALLEL_MIN_POINTS = 8192


#: From this many features, a Lloyd run whose path is not forced (``compiled=None``) assigns
#: by matrix products on every iteration (:func:`lloyd_by_products`) instead of with bounds:
#: bounds prune little in many dimensions and the compiled per-point loops cannot use BLAS.
#: The image path (3 or 4 coordinates) never comes near it. Measured in benchmarks/RESULTS.md.
DENSE_MIN_FEATURES = 16


def weighted_sums(X: np.ndarray, labels: np.ndarray, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sum of weights and weighted sum of points."""
    wsum = np.bincount(labels, weights=w, minlength=k)
    sums = np.empty((k, X.shape[1]), dtype=np.float64)
    unit = bool((w == 1.0).all())  # then w x is x itself: no product to form (0.1 ms at 1e6 points)
    for j in range(X.shape[1]):
        sums[:, j] = np.bincount(labels, weights=X[:, j] if unit else w * X[:, j], minlength=k)
    return wsum, sums


def update_centers(
    X: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    dist2: np.ndarray | None,
    old_centers: np.ndarray,
    *,
    keep_when_exact: bool = True,
) -> np.ndarray:
    """Weighted means of the clusters; an empty cluster is re-seeded.

    An empty cluster takes the point that is worst represented (largest squared
    distance to its centre, ties to the lowest index) among those not already
    taken; that point is moved out of its old cluster's mean, as in
    scikit-learn's Lloyd iteration. ``dist2`` (each point's squared distance to
    ``old_centers[labels]``) is computed here when it is None and needed.

    When every point already sits on its centre (more clusters than distinct
    points) and ``keep_when_exact`` is true, nothing is re-seeded and an empty
    cluster keeps its old centre: re-seeding could only duplicate a centre, and
    scikit-learn's relocation makes the same exception (its issue 28055), so its
    run stops after one iteration there and so does ours. ``compute_centroids``
    passes False: it has no old centre to keep.
    """
    k = old_centers.shape[0]
    wsum, sums = weighted_sums(X, labels, w, k)
    empty = np.flatnonzero(wsum == 0)
    if empty.size:
        if dist2 is None:
            dist2 = dist_to_assigned(X, old_centers, labels)
        candidates = np.flatnonzero(w > 0)
        if keep_when_exact and not np.any(dist2[candidates] > 0):
            candidates = candidates[:0]
        order = candidates[np.argsort(-dist2[candidates], kind="stable")]
        for cluster, point in zip(empty, order[: empty.size]):
            old = labels[point]
            wsum[old] -= w[point]
            sums[old] -= w[point] * X[point]
            wsum[cluster] = w[point]
            sums[cluster] = w[point] * X[point]
    centers = old_centers.copy()
    nz = wsum > 0
    centers[nz] = sums[nz] / wsum[nz, None]
    return centers


def inertia_in_order(
    X: np.ndarray, w: np.ndarray, centers: np.ndarray, labels: np.ndarray, compiled: bool | None = None
) -> float:
    """The weighted inertia of a Lloyd run as the compiled kernel sums it, to the last bit:
    ``w_i |x_i - c_(labels_i)|^2``, each distance summed feature by feature in order
    (:func:`._nearest.squares_in_order`), then summed over the points in index order with one
    rounding per addition (``cumsum``; ``np.dot``'s order depends on the BLAS and the arrays'
    alignment, einsum's differs in the last bit). In blocks of 2^16 coordinates, each block's running
    sum starting from those before it. The numpy run and the matrix products' use it, so a run has
    the same inertia whichever path ran it: the starts of a fit (and ``n_init``'s runs) are compared
    by it, and the path may differ between calls (the kernels load once they pay, :mod:`._backend`)."""
    done = inertia_compiled(X, w, centers, labels, compiled)
    if done is not None:
        return done
    total = 0.0
    n = X.shape[0]
    step = max(1, (1 << 16) // max(1, X.shape[1]))
    for start in range(0, n, step):
        t = dist_to_assigned(X[start : start + step], centers, labels[start : start + step])
        t *= w[start : start + step]
        t[0] += total
        total = float(np.cumsum(t)[-1])
    return total


def center_shift(new: np.ndarray, old: np.ndarray) -> float:
    """The total squared move of the centres, summed as the compiled kernel sums it (each centre's
    features in order, then the centres in order), so that the tolerance stops a run after the
    same iteration on every path (``np.sum`` adds pairwise: other last bits)."""
    return float(np.cumsum(squares_in_order(new - old))[-1])


def half_min_separation(centers: np.ndarray) -> np.ndarray:
    """Half the distance from each centre to its nearest other centre (Hamerly's ``s``)."""
    k = centers.shape[0]
    if k == 1:
        return np.full(1, np.inf)
    if k * k * centers.shape[1] <= (1 << 22):
        diff = centers[:, None, :] - centers[None, :, :]
        cc = np.einsum("ijk,ijk->ij", diff, diff)
    else:
        n2 = np.einsum("ij,ij->i", centers, centers)
        cc = np.maximum(n2[:, None] - 2.0 * (centers @ centers.T) + n2[None, :], 0.0)
        cc *= 1.0 - 1e-9  # stay a lower bound despite rounding in the expansion
    np.fill_diagonal(cc, np.inf)
    return 0.5 * np.sqrt(cc.min(axis=1))


class Bounds:
    """Exact nearest-centre assignment across Lloyd iterations with Hamerly's bounds.

    For every point: ``labels`` (its nearest centre), ``upper`` (an upper bound on
    the distance to it) and ``lower`` (a lower bound on the distance to every
    other centre). A point whose ``upper`` is below both ``lower`` and half the
    distance from its centre to the nearest other centre cannot have changed
    centre and is skipped; the others get their exact distance to their centre
    and, if that is still not conclusive, a full search (:func:`nearest_two`).
    Bounds computed through the expanded distance are widened by a margin for
    its rounding, so the result equals a full search.
    """

    def __init__(self, X: np.ndarray, centers: np.ndarray) -> None:
        self.X = X
        self.x_norm = np.einsum("ij,ij->i", X, X)
        self.scale = float(self.x_norm.max(initial=0.0))
        labels, d1, d2 = nearest_two(X, centers, self.x_norm)
        self.labels = labels
        self.upper = np.sqrt(d1)
        self.lower = self._safe_lower(d2, centers)

    def _safe_lower(self, d2: np.ndarray, centers: np.ndarray) -> np.ndarray:
        c_scale = float(np.einsum("ij,ij->i", centers, centers).max(initial=0.0))
        margin = 1e-12 * (self.scale + c_scale) * max(1, self.X.shape[1])
        return np.sqrt(np.maximum(d2 - margin, 0.0)) - 1e-9 * np.sqrt(self.scale + c_scale)

    def move(self, old: np.ndarray, new: np.ndarray) -> None:
        """Loosen the bounds after the centres moved from ``old`` to ``new``."""
        diff = new - old
        delta = np.sqrt(squares_in_order(diff))  # the kernels' sums: the same bounds to the last bit
        self.upper += delta[self.labels]
        if delta.size > 1:
            j1 = int(np.argmax(delta))
            m1 = delta[j1]
            m2 = np.max(np.delete(delta, j1))
            self.lower -= np.where(self.labels == j1, m2, m1)
        else:
            self.lower -= delta[0]

    def assign(self, centers: np.ndarray) -> None:
        """Make ``labels`` the exact nearest centres of ``centers``."""
        s = half_min_separation(centers)
        bound = np.maximum(s[self.labels], self.lower)
        cand = np.flatnonzero(self.upper >= bound)  # a tie is searched: the lowest index wins
        if cand.size == 0:
            return
        Xc = self.X.take(cand, axis=0)  # take: a quarter of the time of X[cand] for the rows of a 2-D array
        diff = Xc - centers.take(self.labels[cand], axis=0)
        u = np.sqrt(squares_in_order(diff))
        self.upper[cand] = u
        keep = u >= bound[cand]
        cand = cand[keep]
        if cand.size == 0:
            return
        lab, d1, d2 = nearest_two(Xc[keep], centers, self.x_norm[cand])
        self.labels[cand] = lab
        self.upper[cand] = np.sqrt(d1)
        self.lower[cand] = self._safe_lower(d2, centers)


def lloyd(
    X: np.ndarray,
    w: np.ndarray,
    centers_init: np.ndarray,
    max_iter: int = 300,
    tol: float = 0.0,
    labels_hint: np.ndarray | None = None,
    compiled: bool | None = None,
    verbose: bool = False,
    threads_from: int | None = None,
) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Weighted Lloyd iterations; arithmetic only, inputs already validated.

    The same iteration as scikit-learn's ``_kmeans_single_lloyd``: assign every
    point to its nearest centre, move each centre to the weighted mean of its
    points (re-seeding empty ones), and stop when the labels no longer change
    (strict convergence) or when the total squared shift of the centres is at
    most ``tol`` (an absolute tolerance). The assignment is exact but skips,
    with Hamerly's bounds, the points that provably kept their centre, so late
    iterations touch few points.

    ``labels_hint`` (optional) is a guess of every point's nearest centre;
    the compiled kernel starts its first search there. It never changes the result.
    ``compiled`` chooses the compiled kernel (True), the numpy code (False) or
    lets the problem size decide (None; see :mod:`._backend`). Both give the same result.
    ``verbose`` prints every iteration's inertia and the reason for stopping, in
    scikit-learn's words (``KMeans(verbose=1)``); it runs the numpy code, which can
    report between iterations, with the same result. ``threads_from`` (optional): from this many
    points the compiled run takes every core (and hands over to matrix products only from
    ``THREADED_HYBRID_MIN_FEATURES``); threads and hand-overs change the time, never the result.

    Returns
    -------
    labels, inertia, centers, n_iter
    """
    if compiled is None and not verbose and X.shape[1] >= DENSE_MIN_FEATURES:
        return lloyd_by_products(X, w, centers_init, max_iter, tol)
    threaded = threads_from is not None and X.shape[0] >= threads_from and _cores() >= 2
    hybrid = compiled is None and X.shape[1] >= (THREADED_HYBRID_MIN_FEATURES if threaded else HYBRID_MIN_FEATURES)

    def on_kernels(
        start: np.ndarray, hint: np.ndarray | None, done_iter: int
    ) -> tuple[np.ndarray, float, np.ndarray, int] | None:
        """The run from ``start`` (``done_iter`` iterations already done) on the compiled kernels, or None."""
        done = lloyd_compiled(
            X,
            w,
            start,
            max_iter - done_iter,
            tol,
            hint,
            compiled,
            GIVE_UP / X.shape[1] if hybrid else 0.0,
            threads_from if threaded else None,
            hint_is_previous=done_iter > 0,
        )
        if done is None:
            return None
        labels, inertia, centers, n_iter, handed_over = done
        n_iter += done_iter
        if handed_over:  # the bounds pruned little: matrix products from the next iteration on
            return lloyd_by_products(X, w, centers, max_iter, tol, n_iter, labels)
        return labels, inertia, centers, n_iter  # the kernel's sum is inertia_in_order's

    result = None if verbose else on_kernels(centers_init, labels_hint, 0)
    if result is not None:
        return result
    # On numpy. If only because the kernels are not loaded yet (they load once they pay), a long
    # run hands over to them, from the next iteration, when they do: the same run (the kernel
    # compares its first assignment with the last one here, for strict convergence).
    work = X.shape[0] * centers_init.shape[0]
    may_hand_over = not verbose and _backend.would_use_kernels(work, compiled)
    centers = np.array(centers_init, dtype=np.float64, copy=True)
    # BLAS on one thread for the searches' products, where OpenBLAS would thread them
    # (_backend.narrow_products): only the time changes.
    with _backend.narrow_products(X.shape[0], centers.shape[0], X.shape[1]):
        return _lloyd_numpy(X, w, centers, max_iter, tol, compiled, verbose, may_hand_over, work, on_kernels)


def _lloyd_numpy(
    X: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol: float,
    compiled: bool | None,
    verbose: bool,
    may_hand_over: bool,
    work: int,
    on_kernels: Any,
) -> tuple[np.ndarray, float, np.ndarray, int]:
    """:func:`lloyd`'s iterations on numpy, from ``centers`` (a copy of the start), handing over to
    the kernels (``on_kernels``) once they load."""
    bounds = Bounds(X, centers)
    labels_old = np.full(X.shape[0], -1, dtype=np.intp)
    n_iter = 0
    strict = False
    for n_iter in range(1, max_iter + 1):
        if n_iter > 1:
            if may_hand_over and _backend.load_pays(work):
                result = on_kernels(centers, labels_old, n_iter - 1)
                if result is not None:
                    return result
                may_hand_over = False
            bounds.assign(centers)
        labels = bounds.labels
        new_centers = update_centers(X, w, labels, None, centers)
        if verbose:
            print(f"Iteration {n_iter - 1}, inertia {float(np.dot(w, dist_to_assigned(X, centers, labels)))}.")
        if np.array_equal(labels, labels_old):
            strict = True
            bounds.move(centers, new_centers)
            centers = new_centers
            if verbose:
                print(f"Converged at iteration {n_iter - 1}: strict convergence.")
            break
        shift = center_shift(new_centers, centers)
        bounds.move(centers, new_centers)
        centers = new_centers
        if shift <= tol:
            if verbose:
                print(f"Converged at iteration {n_iter - 1}: center shift {shift} within tolerance {tol}.")
            break
        labels_old = labels.copy()
    if not strict:
        bounds.assign(centers)
    labels = bounds.labels
    return labels, inertia_in_order(X, w, centers, labels, compiled), centers, n_iter


def lloyd_by_products(
    X: np.ndarray,
    w: np.ndarray,
    centers_init: np.ndarray,
    max_iter: int = 300,
    tol: float = 0.0,
    done_iter: int = 0,
    labels_done: np.ndarray | None = None,
) -> tuple[np.ndarray, float, np.ndarray, int]:
    """:func:`lloyd` for points with many features: the same iterations and stopping rule,
    every assignment a full exact search by matrix products (:func:`._nearest.nearest_by_products`).

    ``done_iter`` iterations may have been done already (by the bounded kernel, which handed
    over): ``centers_init`` are then the centres the last of them computed and ``labels_done``
    the assignment it used, against which the next one is compared (strict convergence).

    The centre sums are one ``bincount`` over (cluster, feature) pairs, which adds the
    points of each cluster in index order as :func:`weighted_sums` does, so the
    centres are the same to the last bit.
    """
    n, f = X.shape
    k = centers_init.shape[0]
    parts = block_parts(-(-n // product_rows(f, k)))
    with _backend.one_blas_thread(), _block_pool(parts, n * k * f // parts) as pool:
        labels, centers, n_iter = _lloyd_by_products(X, w, centers_init, max_iter, tol, pool, done_iter, labels_done)
    # After the pool has ended: a parallel kernel's threads spin for a while after their region,
    # and the pool's threads then waited for a core to end on (2.3 ms of a 20 ms fit on 2 cores).
    return labels, inertia_in_order(X, w, centers, labels), centers, n_iter


#: A thread pool shares the blocks of a matrix-product search only when each block holds at least
#: this many multiply-adds (about a third of a millisecond on one core): below it, starting
#: threads and handing blocks over cost more than the second core gives, and on a busy machine
#: (load 7 on 2 cores) even 2,048 x 8 x 32 blocks ran 5-70 % slower on two threads than on one.
POOL_MIN_BLOCK_WORK = 1 << 20


def _block_pool(n_blocks: int, block_work: int) -> Any:
    """Threads for the blocks of a matrix-product search (handed over one by one, or in runs of
    consecutive blocks: ``block_work`` is the work of one hand-over), one per core counting the
    calling thread (:class:`BlockThreads`), as scikit-learn runs its chunks on every core with one
    BLAS thread each; or no pool (one core, one block, or blocks of less than
    ``POOL_MIN_BLOCK_WORK`` multiply-adds)."""
    workers = min(_cores(), n_blocks)
    if workers < 2 or block_work < POOL_MIN_BLOCK_WORK:
        return contextlib.nullcontext(None)
    return BlockThreads(workers - 1)


class BlockThreads:
    """``helpers`` threads that share a search's blocks with the calling thread.

    :meth:`map` is ``Executor.map`` in which the calling thread takes tasks too, from the same
    queue, instead of sleeping until the helpers are done: per step (a Lloyd iteration, a k-means++
    centre) one helper thread is woken, not every thread, and the caller's core stays busy. Woken
    threads cost most on a virtual machine, whose idle cores sleep: with a pool of two helpers and
    the caller waiting, a 10,000 x 32 search against 64 centres took 1.6-1.8 ms in a Lloyd run
    (1.0 ms in a tight loop), 1.3 ms with the caller working. Results come back in the tasks'
    order whatever thread ran them.
    """

    def __init__(self, helpers: int) -> None:
        self._helpers = helpers
        self._pool = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="kmeans-compress-blocks")

    def __enter__(self) -> BlockThreads:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def map(self, fn: Any, *iterables: Any) -> list[Any]:
        tasks = list(zip(*iterables))
        results: list[Any] = [None] * len(tasks)
        taken = itertools.count()  # its next() is one C call: atomic under the GIL

        def work() -> None:
            for i in iter(taken.__next__, None):
                if i >= len(tasks):
                    return
                results[i] = fn(*tasks[i])

        helping = [self._pool.submit(work) for _ in range(min(self._helpers, len(tasks) - 1))]
        try:
            work()
        finally:
            for future in helping:
                future.result()  # a helper's exception is raised here
        return results


def _cores() -> int:
    """The cores this thread may use (:func:`._backend.thread_limit`): those no other process is
    busy on, at most its share of them where jobs share the machine."""
    return _backend.thread_limit()


def _lloyd_by_products(
    X: np.ndarray,
    w: np.ndarray,
    centers_init: np.ndarray,
    max_iter: int,
    tol: float,
    pool: Any,
    done_iter: int = 0,
    labels_done: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    n, f = X.shape
    centers = np.array(centers_init, dtype=np.float64, copy=True)
    x_norm = np.einsum("ij,ij->i", X, X)
    wx: np.ndarray | None = None  # w x, for the numpy update
    cols = np.arange(f)
    labels = np.empty(n, dtype=np.intp)
    labels_old = np.full(n, -1, dtype=np.intp) if labels_done is None else labels_done.copy()
    n_iter = done_iter
    strict = False
    for it in range(done_iter + 1, max_iter + 1):
        n_iter = it
        nearest_by_products(X, centers, x_norm, labels, pool)
        new_centers = update_centers_compiled(X, w, labels, centers)
        if new_centers is None:
            wx = (w[:, None] * X).ravel() if wx is None else wx
            new_centers = _update_by_bincount(X, w, wx, labels, centers, cols)
        shift = center_shift(new_centers, centers)
        centers = new_centers
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if shift <= tol:
            break
        labels_old[:] = labels
    if not strict:
        nearest_by_products(X, centers, x_norm, labels, pool)
    return labels, centers, n_iter


def _update_by_bincount(
    X: np.ndarray, w: np.ndarray, wx: np.ndarray, labels: np.ndarray, centers: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    k, f = centers.shape
    wsum = np.bincount(labels, weights=w, minlength=k)
    if not wsum.all():  # an empty cluster: re-seeded by the general update
        return update_centers(X, w, labels, None, centers)
    sums = np.bincount((labels[:, None] * f + cols).ravel(), weights=wx, minlength=k * f).reshape(k, f)
    return sums / wsum[:, None]


#: Hartigan's moves (:func:`hartigan_moves`): a point may move to one of this many centres, the
#: nearest to its own. Over crops and thumbnails of 12 photos (32 to 128 px, K = 16 to 256), one pass
#: after Lloyd's iterations and Lloyd's again, mean MSE / scikit-learn's: 4 candidates 0.942-0.994,
#: 8 0.938-0.994, 16 0.938-0.994, every centre 0.939-0.985 (far dearer): benchmarks/RESULTS.md, "Session 11".
HARTIGAN_CANDIDATES = 8
# A point leaves its cluster only if the cluster keeps more than this share of its weight: with
# weights that are not integers, a last point could otherwise leave a residue of rounding behind.
_KEEP = 1e-9


def near_centres(C: np.ndarray, n: int) -> np.ndarray:
    """Each centre's ``n`` nearest other centres (K, n), nearest first: by squared distance summed over
    the features in order (the kernels' sums), ties to the lowest index. ``n`` must be below K."""
    k = C.shape[0]
    d2 = np.zeros((k, k))
    with np.errstate(over="ignore"):  # distances past float64's range are infinite, as in the kernel
        for f in range(C.shape[1]):
            t = C[:, None, f] - C[None, :, f]
            d2 += t * t
    # every centre but the row's own, in index order (not an infinite diagonal: distances that
    # overflow to infinity would tie with it)
    others = np.arange(k - 1)[None, :] + (np.arange(k - 1)[None, :] >= np.arange(k)[:, None])
    order = np.argsort(np.take_along_axis(d2, others, axis=1), axis=1, kind="stable")[:, :n]
    return np.take_along_axis(others, order, axis=1)


def hartigan_moves(
    X: np.ndarray,
    w: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    passes: int,
    compiled: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Hartigan's single-point moves: (centres, labels, moves made).

    Moving a point of weight ``v`` from cluster A (weight ``W_A``, mean ``a``) to B changes the
    summed squared error by ``v W_B / (W_B + v) |x - b|^2 - v W_A / (W_A - v) |x - a|^2``: the
    move of both means counted. Lloyd's assignment leaves out the two factors, so it stops where
    such moves still pay, most often when the clusters hold few points (a small image at K = 256:
    9 % less error at 32 x 32, benchmarks/RESULTS.md). Each move lowers the error.

    A pass visits the points in order. A point whose cluster holds more than its weight (by more
    than ``_KEEP`` of the cluster's weight: rounding) goes to
    the candidate that lowers the error most (ties: the first candidate), if any; both means move at
    once. Its candidates are the ``HARTIGAN_CANDIDATES`` centres nearest to its own, in a table
    built once from the starting means (:func:`near_centres`), not every centre: a pass costs ``n``
    times that many distances. (A table built again for every pass gave the same error to 0.1 %,
    at up to twice the time: K = 256 takes 65,536 distances a table.) Passes stop after
    ``passes`` or one with no move. ``centers`` gives the centre of a cluster
    ``labels`` leaves empty; the others are the means of their points. The compiled twin
    (``_numba_kernels._hartigan_kernel``) does the same operations in the same order: same bits.
    """
    k = centers.shape[0]
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    labels = np.array(labels, dtype=np.intp, copy=True)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError("labels hold an index outside the centres")
    n_near = min(HARTIGAN_CANDIDATES, k - 1)
    if n_near >= 1 and passes >= 1:
        done = hartigan_compiled(X, w, centers, labels, n_near, passes, compiled)
        if done is not None:
            return done
    wsum, sums = weighted_sums(X, labels, w, k)
    C = np.array(centers, dtype=np.float64, copy=True)
    nz = wsum > 0
    C[nz] = sums[nz] / wsum[nz, None]
    if n_near < 1 or passes < 1:
        return C, labels, 0
    xs, ws, lab = X.tolist(), w.tolist(), labels.tolist()
    W, S, Cl = wsum.tolist(), sums.tolist(), C.tolist()

    def dist2(x: list[float], c: list[float]) -> float:
        s = 0.0
        for xf, cf in zip(x, c):
            t = xf - cf
            s += t * t
        return s

    def dist2_colour(x: list[float], c: list[float]) -> float:  # d = 3 written out: the same sum
        t0 = x[0] - c[0]
        t1 = x[1] - c[1]
        t2 = x[2] - c[2]
        return t0 * t0 + t1 * t1 + t2 * t2

    if X.shape[1] == 3:
        dist2 = dist2_colour

    def unit(j: int) -> tuple[float, float]:
        """Cluster j's factors for a point of weight 1 (to join, to leave), as the kernel keeps them."""
        return W[j] / (W[j] + 1.0), (W[j] / (W[j] - 1.0) if W[j] != 1.0 else math.inf)

    factors = [unit(j) for j in range(k)]
    near = near_centres(C, n_near).tolist()
    moves = 0
    for _ in range(passes):
        made = 0
        for i, x in enumerate(xs):
            v, a = ws[i], lab[i]
            if not (v > 0 and W[a] - v > _KEEP * W[a]):
                continue
            b = -1
            if v == 1.0:  # the factors from the table: 1 * W / (W + 1) is W / (W + 1) to the bit
                best = factors[a][1] * dist2(x, Cl[a])
                for j in near[a]:
                    cost = factors[j][0] * dist2(x, Cl[j])
                    if cost < best:
                        best, b = cost, j
            else:
                best = v * W[a] / (W[a] - v) * dist2(x, Cl[a])
                for j in near[a]:
                    cost = v * W[j] / (W[j] + v) * dist2(x, Cl[j])
                    if cost < best:
                        best, b = cost, j
            if b < 0:
                continue
            W[a] -= v
            W[b] += v
            factors[a] = unit(a)
            factors[b] = unit(b)
            for f, xf in enumerate(x):
                vx = v * xf
                S[a][f] -= vx
                S[b][f] += vx
                Cl[a][f] = S[a][f] / W[a]
                Cl[b][f] = S[b][f] / W[b]
            lab[i] = b
            made += 1
        moves += made
        if made == 0:
            break
    return np.array(Cl, dtype=np.float64).reshape(C.shape), np.array(lab, dtype=np.intp), moves


def plusplus_init(
    X: np.ndarray,
    w: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator | np.random.RandomState,
    n_local_trials: int | None = None,
    compiled: bool | None = None,
) -> np.ndarray:
    """Greedy weighted k-means++ seeding (Arthur & Vassilvitskii, 2007): the chosen rows of ``X``.

    The first centre is drawn with probability proportional to the weight; each
    next one is the best (lowest potential) of ``n_local_trials`` candidates drawn
    with probability proportional to ``weight x squared distance`` to the nearest
    centre chosen so far. :func:`plusplus_indices` gives the rows' indices.
    """
    return X[plusplus_indices(X, w, n_clusters, rng, n_local_trials, compiled)]


def plusplus_indices(
    X: np.ndarray,
    w: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator | np.random.RandomState,
    n_local_trials: int | None = None,
    compiled: bool | None = None,
) -> np.ndarray:
    """Indices (intp, in the order chosen) of the rows :func:`plusplus_init` takes as centres."""
    n, f = X.shape
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    u_first = rng.random()
    draws = rng.random((n_clusters - 1, n_local_trials))
    done = kmeans_plusplus_compiled(X, w, n_clusters, u_first, draws, compiled)
    if done is not None:
        return done
    # Blocks of points: at most 2^17 candidate distances and 2^19 coordinates (4 MiB) each.
    step = max(256, min((1 << 17) // n_local_trials, (1 << 19) // f))
    with _backend.one_blas_thread(), _block_pool(-(-n // step), step * n_local_trials * f) as pool:
        return _plusplus_by_products(X, w, n_clusters, u_first, draws, step, pool)


def _plusplus_by_products(
    X: np.ndarray, w: np.ndarray, n_clusters: int, u_first: float, draws: np.ndarray, step: int, pool: Any
) -> np.ndarray:
    n = X.shape[0]
    n_local_trials = draws.shape[1]
    indices = np.empty(n_clusters, dtype=np.intp)
    cum_w = np.cumsum(w)
    first = int(np.searchsorted(cum_w, u_first * cum_w[-1], side="right"))
    first = min(first, n - 1)
    indices[0] = first
    # The products |x|^2 - 2 x.c + |c|^2 below lose the distances to cancellation where the data sit
    # far from the origin (make_blobs + 1e9: every distance rounded to the offset's scale, and an
    # inertia 7.7x scikit-learn's, whose KMeans centres its data). So they are taken on the data
    # less the first centre: a point in the cloud, whose distances to the others are these
    # differences already, and which keeps integral data (colours) integral, its products exact.
    Xs = np.subtract(X, X[first])
    closest = np.einsum("ij,ij->i", Xs, Xs)
    x_norm = closest.copy()
    X = Xs
    starts = range(0, n, step)
    nonzero = np.flatnonzero(w > 0)
    trial_d = np.empty((n_local_trials, n))
    for c in range(1, n_clusters):
        pot = closest * w
        cum = np.cumsum(pot)
        total = cum[-1]
        if total <= 0:
            # Every point already coincides with a centre: take weighted points by the draws.
            cand = nonzero[np.minimum((draws[c - 1] * nonzero.size).astype(np.intp), nonzero.size - 1)]
        else:
            cand = np.searchsorted(cum, draws[c - 1] * total, side="right")
            np.clip(cand, 0, n - 1, out=cand)
        cx = X[cand]
        c_norm = np.einsum("ij,ij->i", cx, cx)[:, None]

        def block(
            start: int, cx: np.ndarray = cx, c_norm: np.ndarray = c_norm, closest: np.ndarray = closest
        ) -> np.ndarray:
            d = trial_d[:, start : start + step]
            np.matmul(cx, X[start : start + step].T, out=d)
            d *= -2.0
            d += x_norm[start : start + step]
            d += c_norm
            np.maximum(d, 0.0, out=d)
            np.minimum(d, closest[start : start + step], out=d)
            return d @ w[start : start + step]

        # The blocks' potentials are added in block order whatever the threads: same sums.
        parts = map(block, starts) if pool is None else pool.map(block, starts)
        pot = np.zeros(len(cand))
        for part in parts:
            pot += part
        best = int(np.argmin(pot))
        indices[c] = cand[best]
        closest = trial_d[best].copy()
    return indices


def split_init(X: np.ndarray, w: np.ndarray, n_clusters: int, compiled: bool | None = None) -> np.ndarray:
    """Deterministic start by greedy splitting (variance partitioning).

    Start from one cluster holding every point. Every cluster knows its best
    cut: the plane perpendicular to a coordinate axis, between two distinct
    coordinates, that leaves the least weighted squared error in the two halves
    (every axis and every position is tried). The cluster whose cut removes the
    most error is cut, until there are ``n_clusters``; the centres are the
    weighted means of the clusters. This is the variance-based partitioning
    that Celebi (2011) found among the best starts for colour quantization by
    k-means, with the error-reduction order of Wu's quantizer: it lands near a
    good optimum, so Lloyd's iterations are few. Fewer centres are returned when
    the points have fewer than ``n_clusters`` distinct positions.
    """
    return split_start(X, w, n_clusters, compiled)[0]


def split_start(
    X: np.ndarray, w: np.ndarray, n_clusters: int, compiled: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`split_init`'s centres and the cluster of every point (its index into them): a
    label hint for the first assignment of Lloyd's iterations from this start, which then
    walks out from there instead of comparing every centre (the same labels)."""
    n_clusters = int(n_clusters)
    done = split_init_compiled(X, w, n_clusters, compiled)
    if done is not None:
        return done
    q = w * squares_in_order(X)  # every sum here in the kernel's order (``_split_init_kernel``): same bits
    segments = [np.arange(X.shape[0])]  # each cluster's points in index order
    plans = [plan_cut(X, w, q, segments[0])]
    while len(segments) < n_clusters:
        gains = [p[0] for p in plans]
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        _, left, right = plans[j]
        segments[j], plans[j] = left, plan_cut(X, w, q, left)
        segments.append(right)
        plans.append(plan_cut(X, w, q, right))
    centers = np.empty((len(segments), X.shape[1]))
    labels = np.empty(X.shape[0], dtype=np.intp)
    for j, seg in enumerate(segments):
        o = seg[np.argsort(X[seg, 0], kind="stable")]  # summed in the order of the first coordinate
        centers[j] = (np.cumsum(w[o, None] * X[o], axis=0)[-1] + 0.0) / (np.cumsum(w[o])[-1] + 0.0)
        labels[seg] = j
    return centers, labels


def plan_cut(X: np.ndarray, w: np.ndarray, q: np.ndarray, seg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The best axis-aligned cut of the cluster ``seg`` (point indices, ascending):
    (error it removes, first half, second half), or a gain of -1 if it cannot be cut."""
    none = (-1.0, seg, seg)
    if seg.size < 2:
        return none
    best = none
    tw = tq = err = 0.0
    ts = np.zeros(X.shape[1])
    for ax in range(X.shape[1]):
        o = seg[np.argsort(X[seg, ax], kind="stable")]
        # running sums, with a zero as +0.0 as the kernel's sums from 0.0 leave it (not -0.0)
        cw = np.cumsum(w[o]) + 0.0
        cs = np.cumsum(w[o, None] * X[o], axis=0) + 0.0
        cq = np.cumsum(q[o]) + 0.0
        if ax == 0:  # the cluster's totals, added in the order of its first coordinate (as the kernel)
            tw, ts, tq = cw[-1], cs[-1], cq[-1]
            err = tq - squares_in_order(ts) / tw
        cuts = np.flatnonzero((X[o[1:], ax] > X[o[:-1], ax]) & (cw[:-1] > 0) & (tw - cw[:-1] > 0))
        if cuts.size == 0:
            continue
        w1, s1, q1 = cw[cuts], cs[cuts], cq[cuts]
        e = (q1 - squares_in_order(s1) / w1) + ((tq - q1) - squares_in_order(ts - s1) / (tw - w1))
        p = int(np.argmin(e))
        if err - e[p] > best[0]:
            best = (float(err - e[p]), np.sort(o[: cuts[p] + 1]), np.sort(o[cuts[p] + 1 :]))
    return best


def random_init(
    X: np.ndarray, w: np.ndarray, n_clusters: int, rng: np.random.Generator | np.random.RandomState
) -> np.ndarray:
    """``n_clusters`` rows drawn without replacement, with probability proportional to weight."""
    p = w / w.sum()
    nonzero = int((p > 0).sum())
    idx = rng.choice(X.shape[0], size=n_clusters, replace=nonzero < n_clusters, p=p)
    return X[idx].copy()


def tolerance(X: np.ndarray, w: np.ndarray, tol: float, compiled: bool | None = None) -> float:
    """Absolute tolerance: ``tol`` times the mean (weighted) variance of the features.

    Every sum runs in index order, as the compiled twin (``_numba_kernels._variance_kernel``) adds
    them: the same bits either way. The kernel takes 1 to 4 us where numpy took 27 / 67 us (880 /
    3,041 colours, a 32 x 32 / 64 x 64 image's histogram). No BLAS product: its threads would spin
    on and take the cores from the kernels that follow (10,000 x 128 points: 8.4 ms with its
    threads under load, 0.16 ms on one), and its sums may depend on the thread count.
    """
    if tol == 0:
        return 0.0
    done = variance_compiled(X, w, compiled)
    if done is not None:
        return done * tol
    wn = w / np.cumsum(w)[-1]
    mean = _weighted_column_sums(wn, X)
    dev = X - mean
    dev *= dev
    return float(np.cumsum(_weighted_column_sums(wn, dev))[-1] / X.shape[1]) * tol


def _weighted_column_sums(wn: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``sum_i wn[i] A[i, j]`` for every column j, the rows added in index order. With two columns
    or more, ``einsum`` runs its inner loop along the rows' columns and adds row after row (as
    numpy's reductions do along an axis that is not the fastest in memory; its pairwise summation
    is only for the fastest one): 16 ms for 1,000,000 x 2, where a cumsum down the columns took 49.
    One column is a 1-D sum, which numpy adds pairwise: a cumsum then (tests/test_paths_identical.py
    holds both to the kernel's order)."""
    if A.shape[1] == 1:
        return np.cumsum(wn * A[:, 0])[-1:]
    return np.einsum("i,ij->j", wn, A)
