"""K-means: the tutorial's functions, initializations, the Lloyd loop and an estimator.

The tutorial's four functions keep their names and signatures
(:func:`find_closest_centroids`, :func:`compute_centroids`, :func:`run_kmeans`,
:func:`kmeans_init_centroids`) but are vectorized and memory-bounded. Everything
new follows scikit-learn's vocabulary: :class:`KMeans` takes ``n_clusters``,
``init``, ``n_init``, ``max_iter``, ``tol`` and ``random_state`` and exposes
``cluster_centers_``, ``labels_``, ``inertia_`` and ``n_iter_``.

Public functions validate their input once and then call private workers that do
only arithmetic (:func:`_lloyd`, :func:`_kmeans_plusplus`), which the image code
calls directly on colour histograms.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from typing import Any

import numpy as np

from ._exceptions import NotFittedError
from ._kernels import kmeans_plusplus_compiled, lloyd_compiled, split_init_compiled
from ._nearest import exact_nearest_centers, nearest_centers, nearest_two

__all__ = [
    "KMeans",
    "NotFittedError",
    "compute_centroids",
    "compute_distortion",
    "find_closest_centroids",
    "kmeans_init_centroids",
    "kmeans_plusplus",
    "run_kmeans",
]



# --------------------------------------------------------------------------- validation


def _is_sparse(X: Any) -> bool:
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _check_array(X: Any, name: str = "X", *, min_samples: int = 1) -> np.ndarray:
    """Return ``X`` as a finite, C-contiguous 2-D float64 array, or raise a clear error."""
    if _is_sparse(X):
        raise TypeError(
            f"Sparse input is not supported for {name}; pass a dense array "
            f"(for example {name}.toarray())."
        )
    arr = np.asarray(X)
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported for {name}; got dtype {arr.dtype}.")
    if arr.dtype.kind not in "biuf":
        arr = arr.astype(np.float64)  # raises TypeError/ValueError for non-numbers
    if arr.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array for {name} (n_samples, n_features), got a "
            f"{arr.ndim}-D array of shape {arr.shape}. Reshape your data, for example with "
            f"{name}.reshape(-1, 1) for a single feature or {name}.reshape(1, -1) "
            "for a single sample."
        )
    if arr.shape[0] < min_samples:
        raise ValueError(
            f"Found array with {arr.shape[0]} sample(s) (shape={arr.shape}) while a "
            f"minimum of {min_samples} is required for {name}."
        )
    if arr.shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"Input {name} contains NaN or inf; remove or impute those values.")
    return arr


def _check_n_clusters(K: Any, name: str = "K") -> int:
    if isinstance(K, (bool, np.bool_)) or not isinstance(K, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {K!r} of type {type(K).__name__}.")
    if K < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {K}.")
    return int(K)


def _check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    if isinstance(sample_weight, numbers.Number):
        w = np.full(n_samples, float(sample_weight))
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight must be a 1-D array of length n_samples={n_samples}, "
                f"got shape {w.shape}."
            )
    if not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or inf.")
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative.")
    if not (w > 0).any():
        raise ValueError("sample_weight must have at least one positive value; all weights are zero.")
    return np.ascontiguousarray(w)


def _check_random_state(random_state: Any) -> np.random.Generator:
    """Turn ``None``, an int, a ``Generator`` or a ``RandomState`` into a ``Generator``."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise TypeError(
        f"random_state must be None, an int, a numpy Generator or RandomState, got {random_state!r}."
    )


def _check_centers(centers: Any, n_features: int, name: str = "centroids") -> np.ndarray:
    c = _check_array(centers, name)
    if c.shape[1] != n_features:
        raise ValueError(
            f"{name} has {c.shape[1]} features (columns) but X has {n_features}; they must match."
        )
    return c


# --------------------------------------------------------------------------- private workers


def _weighted_sums(X: np.ndarray, labels: np.ndarray, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sum of weights and weighted sum of points."""
    wsum = np.bincount(labels, weights=w, minlength=k)
    sums = np.empty((k, X.shape[1]), dtype=np.float64)
    for j in range(X.shape[1]):
        sums[:, j] = np.bincount(labels, weights=w * X[:, j], minlength=k)
    return wsum, sums


def _update_centers(
    X: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    dist2: np.ndarray | None,
    old_centers: np.ndarray,
) -> np.ndarray:
    """Weighted means of the clusters; an empty cluster is re-seeded.

    An empty cluster takes the point that is worst represented (largest squared
    distance to its centre, ties to the lowest index) among those not already
    taken; that point is moved out of its old cluster's mean, as in
    scikit-learn's Lloyd iteration. ``dist2`` (each point's squared distance to
    ``old_centers[labels]``) is computed here when it is None and needed.
    """
    k = old_centers.shape[0]
    wsum, sums = _weighted_sums(X, labels, w, k)
    empty = np.flatnonzero(wsum == 0)
    if empty.size:
        if dist2 is None:
            dist2 = _dist_to_assigned(X, old_centers, labels)
        candidates = np.flatnonzero(w > 0)
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


def _dist_to_assigned(X: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Squared distance of every point to ``centers[labels]``, by explicit differences, chunked."""
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    step = 1 << 18
    for start in range(0, n, step):
        diff = X[start : start + step] - centers[labels[start : start + step]]
        np.einsum("ij,ij->i", diff, diff, out=out[start : start + step])
    return out


def _half_min_separation(centers: np.ndarray) -> np.ndarray:
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


class _Bounds:
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
        delta = np.sqrt(np.einsum("ij,ij->i", diff, diff))
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
        s = _half_min_separation(centers)
        bound = np.maximum(s[self.labels], self.lower)
        cand = np.flatnonzero(self.upper > bound)
        if cand.size == 0:
            return
        Xc = self.X[cand]
        diff = Xc - centers[self.labels[cand]]
        u = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        self.upper[cand] = u
        keep = u > bound[cand]
        cand = cand[keep]
        if cand.size == 0:
            return
        lab, d1, d2 = nearest_two(Xc[keep], centers, self.x_norm[cand])
        self.labels[cand] = lab
        self.upper[cand] = np.sqrt(d1)
        self.lower[cand] = self._safe_lower(d2, centers)


def _lloyd(
    X: np.ndarray,
    w: np.ndarray,
    centers_init: np.ndarray,
    max_iter: int = 300,
    tol: float = 0.0,
    labels_hint: np.ndarray | None = None,
    min_work: int | None = None,
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
    ``min_work`` overrides the problem size from which the compiled kernel runs
    (see :mod:`kmeans_compress._kernels`).

    Returns
    -------
    labels, inertia, centers, n_iter
    """
    compiled = lloyd_compiled(X, w, centers_init, max_iter, tol, labels_hint, min_work)
    if compiled is not None:
        return compiled
    centers = np.array(centers_init, dtype=np.float64, copy=True)
    bounds = _Bounds(X, centers)
    labels_old = np.full(X.shape[0], -1, dtype=np.intp)
    n_iter = 0
    strict = False
    for n_iter in range(1, max_iter + 1):
        if n_iter > 1:
            bounds.assign(centers)
        labels = bounds.labels
        new_centers = _update_centers(X, w, labels, None, centers)
        if np.array_equal(labels, labels_old):
            strict = True
            bounds.move(centers, new_centers)
            centers = new_centers
            break
        shift = float(np.sum((new_centers - centers) ** 2))
        bounds.move(centers, new_centers)
        centers = new_centers
        if shift <= tol:
            break
        labels_old = labels.copy()
    if not strict:
        bounds.assign(centers)
    labels = bounds.labels
    inertia = float(np.dot(w, _dist_to_assigned(X, centers, labels)))
    return labels, inertia, centers, n_iter


def _kmeans_plusplus(
    X: np.ndarray,
    w: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator,
    n_local_trials: int | None = None,
    min_work: int | None = None,
) -> np.ndarray:
    """Greedy weighted k-means++ seeding (Arthur & Vassilvitskii, 2007).

    The first centre is drawn with probability proportional to the weight; each
    next one is the best (lowest potential) of ``n_local_trials`` candidates drawn
    with probability proportional to ``weight x squared distance`` to the nearest
    centre chosen so far.
    """
    n, f = X.shape
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    u_first = rng.random()
    draws = rng.random((n_clusters - 1, n_local_trials))
    compiled = kmeans_plusplus_compiled(X, w, n_clusters, u_first, draws, min_work)
    if compiled is not None:
        return compiled
    centers = np.empty((n_clusters, f), dtype=np.float64)
    cum_w = np.cumsum(w)
    first = int(np.searchsorted(cum_w, u_first * cum_w[-1], side="right"))
    first = min(first, n - 1)
    centers[0] = X[first]
    diff = X - centers[0]
    closest = np.einsum("ij,ij->i", diff, diff)
    x_norm = np.einsum("ij,ij->i", X, X)
    nonzero = np.flatnonzero(w > 0)
    trial_d = np.empty((n_local_trials, n))
    step = max(256, (1 << 17) // n_local_trials)
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
        pot = np.zeros(len(cand))
        for start in range(0, n, step):  # chunks small enough to stay in cache
            d = trial_d[:, start : start + step]
            np.matmul(cx, X[start : start + step].T, out=d)
            d *= -2.0
            d += x_norm[start : start + step]
            d += c_norm
            np.maximum(d, 0.0, out=d)
            np.minimum(d, closest[start : start + step], out=d)
            pot += d @ w[start : start + step]
        best = int(np.argmin(pot))
        centers[c] = cx[best]
        closest = trial_d[best].copy()
    return centers


def _split_init(X: np.ndarray, w: np.ndarray, n_clusters: int, min_work: int | None = None) -> np.ndarray:
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
    n_clusters = int(n_clusters)
    compiled = split_init_compiled(X, w, n_clusters, min_work)
    if compiled is not None:
        return compiled
    q = w * np.einsum("ij,ij->i", X, X)
    segments = [np.arange(X.shape[0])]  # each cluster's points in index order
    plans = [_plan_cut(X, w, q, segments[0])]
    while len(segments) < n_clusters:
        gains = [p[0] for p in plans]
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        _, left, right = plans[j]
        segments[j], plans[j] = left, _plan_cut(X, w, q, left)
        segments.append(right)
        plans.append(_plan_cut(X, w, q, right))
    centers = np.empty((len(segments), X.shape[1]))
    for j, seg in enumerate(segments):
        centers[j] = np.cumsum(w[seg, None] * X[seg], axis=0)[-1] / np.cumsum(w[seg])[-1]
    return centers


def _plan_cut(X: np.ndarray, w: np.ndarray, q: np.ndarray, seg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The best axis-aligned cut of the cluster ``seg`` (point indices, ascending):
    (error it removes, first half, second half), or a gain of -1 if it cannot be cut."""
    none = (-1.0, seg, seg)
    if seg.size < 2:
        return none
    best = none
    err = None
    for ax in range(X.shape[1]):
        o = seg[np.argsort(X[seg, ax], kind="stable")]
        cw = np.cumsum(w[o])
        cs = np.cumsum(w[o, None] * X[o], axis=0)
        cq = np.cumsum(q[o])
        if err is None:
            err = cq[-1] - cs[-1] @ cs[-1] / cw[-1]
        cuts = np.flatnonzero((X[o[1:], ax] > X[o[:-1], ax]) & (cw[:-1] > 0) & (cw[-1] - cw[:-1] > 0))
        if cuts.size == 0:
            continue
        w1, s1, q1 = cw[cuts], cs[cuts], cq[cuts]
        e = (q1 - np.einsum("ij,ij->i", s1, s1) / w1) + (
            (cq[-1] - q1) - np.einsum("ij,ij->i", cs[-1] - s1, cs[-1] - s1) / (cw[-1] - w1))
        p = int(np.argmin(e))
        if err - e[p] > best[0]:
            best = (float(err - e[p]), np.sort(o[: cuts[p] + 1]), np.sort(o[cuts[p] + 1 :]))
    return best


def _random_init(X: np.ndarray, w: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """``n_clusters`` rows drawn without replacement, with probability proportional to weight."""
    p = w / w.sum()
    nonzero = int((p > 0).sum())
    idx = rng.choice(X.shape[0], size=n_clusters, replace=nonzero < n_clusters, p=p)
    return X[idx].copy()


def _tolerance(X: np.ndarray, w: np.ndarray, tol: float) -> float:
    """Absolute tolerance: ``tol`` times the mean (weighted) variance of the features."""
    if tol == 0:
        return 0.0
    wn = w / w.sum()
    mean = wn @ X
    dev = X - mean
    dev *= dev
    return float(np.mean(wn @ dev) * tol)


# --------------------------------------------------------------------------- the tutorial's functions


def find_closest_centroids(X: Any, centroids: Any) -> np.ndarray:
    """Index of the closest centroid for every example.

    Parameters
    ----------
    X : array-like of shape (m, n)
        The examples, one per row.
    centroids : array-like of shape (K, n)
        The centroids.

    Returns
    -------
    idx : ndarray of shape (m,), int
        ``idx[i]`` is the index of the centroid nearest to ``X[i]`` in Euclidean
        distance; ties go to the lowest index.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [10.0, 10.0], [1.0, 1.0]])
    >>> find_closest_centroids(X, np.array([[0.0, 0.0], [9.0, 9.0]]))
    array([0, 1, 0])
    """
    X = _check_array(X, "X")
    centroids = _check_centers(centroids, X.shape[1])
    return exact_nearest_centers(X, centroids).astype(int, copy=False)


def compute_centroids(X: Any, idx: Any, K: int) -> np.ndarray:
    """New centroids: the mean of the examples assigned to each one.

    Parameters
    ----------
    X : array-like of shape (m, n)
    idx : array-like of shape (m,), int
        Cluster index of every example, in ``0 .. K-1``.
    K : int
        Number of centroids.

    Returns
    -------
    centroids : ndarray of shape (K, n)

    Notes
    -----
    A cluster that has no example would have an undefined (NaN) mean. Instead it
    is re-seeded with the example that lies farthest from the mean of its own
    cluster (the worst-represented example; ties to the lowest index), which is
    moved out of that cluster, as scikit-learn does. If there are fewer distinct
    examples than clusters some centroids will coincide, but none is ever NaN.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 10.0]])
    >>> compute_centroids(X, np.array([0, 0, 1]), 2)
    array([[ 2.,  3.],
           [10., 10.]])
    """
    X = _check_array(X, "X")
    K = _check_n_clusters(K)
    idx_arr = np.asarray(idx)
    if idx_arr.shape != (X.shape[0],):
        raise ValueError(f"idx must have shape ({X.shape[0]},) to match X, got {idx_arr.shape}.")
    if idx_arr.size and (idx_arr.dtype.kind not in "iu" and not np.all(np.mod(idx_arr, 1) == 0)):
        raise ValueError("idx must hold integer cluster indices.")
    idx_arr = idx_arr.astype(np.intp)
    if idx_arr.size and (idx_arr.min() < 0 or idx_arr.max() >= K):
        raise ValueError(f"idx holds values outside 0..{K - 1}: min {idx_arr.min()}, max {idx_arr.max()}.")
    w = np.ones(X.shape[0])
    wsum, sums = _weighted_sums(X, idx_arr, w, K)
    means = np.zeros((K, X.shape[1]))
    nz = wsum > 0
    means[nz] = sums[nz] / wsum[nz, None]
    diff = X - means[idx_arr]
    dist2 = np.einsum("ij,ij->i", diff, diff)
    return _update_centers(X, w, idx_arr, dist2, means)


def kmeans_init_centroids(X: Any, K: int, random_state: Any = None) -> np.ndarray:
    """``K`` distinct examples of ``X``, chosen at random, as initial centroids.

    The rows are visited in a random order and the first ``K`` distinct ones are
    kept, so every row is equally likely to be picked, as in the tutorial's
    "shuffle and take the first K".

    Parameters
    ----------
    X : array-like of shape (m, n)
    K : int
        Number of centroids, at most the number of distinct rows of ``X``.
    random_state : None, int or numpy Generator
        Seed for reproducible draws.

    Returns
    -------
    centroids : ndarray of shape (K, n)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [9.0, 1.0]])
    >>> c = kmeans_init_centroids(X, 3, random_state=0)
    >>> sorted(map(tuple, c.tolist()))
    [(0.0, 0.0), (5.0, 5.0), (9.0, 1.0)]
    """
    X = _check_array(X, "X")
    K = _check_n_clusters(K)
    rng = _check_random_state(random_state)
    perm = rng.permutation(X.shape[0])
    _, first = np.unique(X[perm], axis=0, return_index=True)
    if K > first.size:
        raise ValueError(
            f"K={K} is larger than the number of distinct points in X ({first.size}); "
            "choose K <= the number of distinct points."
        )
    return X[perm[np.sort(first)[:K]]].copy()


def compute_distortion(X: Any, centroids: Any, idx: Any | None = None) -> float:
    """Mean squared distance of the examples to their assigned centroid (the tutorial's cost J).

    Examples
    --------
    >>> import numpy as np
    >>> compute_distortion(np.array([[0.0], [2.0]]), np.array([[1.0]]))
    1.0
    """
    X = _check_array(X, "X")
    centroids = _check_centers(centroids, X.shape[1])
    if idx is None:
        idx = exact_nearest_centers(X, centroids)
    diff = X - centroids[np.asarray(idx, dtype=np.intp)]
    return float(np.einsum("ij,ij->", diff, diff) / X.shape[0])


def run_kmeans(
    X: Any,
    initial_centroids: Any,
    max_iters: int = 10,
    plot_progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run K-means from the given centroids for at most ``max_iters`` iterations.

    Each iteration assigns every example to its closest centroid
    (:func:`find_closest_centroids`) and moves every centroid to the mean of its
    examples (:func:`compute_centroids`). It stops early when the assignment no
    longer changes.

    Parameters
    ----------
    X : array-like of shape (m, n)
    initial_centroids : array-like of shape (K, n)
    max_iters : int, default=10
    plot_progress : bool, default=False
        Draw the examples coloured by cluster and the path of every centroid
        (needs matplotlib, the ``[plot]`` extra).

    Returns
    -------
    centroids : ndarray of shape (K, n)
        The final centroids.
    idx : ndarray of shape (m,)
        The index of the centroid closest to each example, for the final centroids.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0], [10.0, 11.0]])
    >>> centroids, idx = run_kmeans(X, X[[0, 2]])
    >>> centroids, idx
    (array([[ 0. ,  0.5],
           [10. , 10.5]]), array([0, 0, 1, 1]))
    """
    X = _check_array(X, "X")
    centroids = _check_centers(initial_centroids, X.shape[1], "initial_centroids")
    if isinstance(max_iters, bool) or not isinstance(max_iters, numbers.Integral) or max_iters < 0:
        raise ValueError(f"max_iters must be a non-negative integer, got {max_iters!r}.")
    K = centroids.shape[0]
    history = [centroids.copy()]
    idx = exact_nearest_centers(X, centroids)
    for _ in range(max_iters):
        centroids = compute_centroids(X, idx, K)
        history.append(centroids.copy())
        new_idx = exact_nearest_centers(X, centroids)
        if np.array_equal(new_idx, idx):
            break
        idx = new_idx
    if plot_progress:
        from .plots import plot_progress_kmeans

        plot_progress_kmeans(X, history, idx)
    return centroids, idx.astype(int, copy=False)


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Initial centres by greedy, weighted k-means++.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    >>> c = kmeans_plusplus(X, 2, random_state=0)
    >>> sorted(round(v) for v in c[:, 0])
    [0, 10]
    """
    X = _check_array(X, "X")
    n_clusters = _check_n_clusters(n_clusters, "n_clusters")
    w = _check_sample_weight(sample_weight, X.shape[0])
    if n_clusters > X.shape[0]:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    return _kmeans_plusplus(X, w, n_clusters, _check_random_state(random_state), n_local_trials)


# --------------------------------------------------------------------------- estimator


class KMeans:
    """K-means clustering, compatible with scikit-learn's estimator API.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    init : {'k-means++', 'random'} or ndarray of shape (n_clusters, n_features), default='k-means++'
        'k-means++': greedy weighted k-means++; 'random': rows drawn at random
        (weighted by ``sample_weight``); an array: these initial centres.
    n_init : 'auto' or int, default='auto'
        Number of runs from different seeds; the one with the lowest inertia is
        kept. 'auto' means 1 for 'k-means++' or an array, 10 for 'random'.
    max_iter : int, default=300
        Maximum number of Lloyd iterations per run.
    tol : float, default=1e-4
        Relative tolerance: a run stops when the total squared movement of the
        centres is at most ``tol`` times the mean variance of the features.
    random_state : None, int, numpy Generator or RandomState, default=None
        Seed for the initialization; resolved inside ``fit``.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Sum of (weighted) squared distances of the samples to their closest centre.
    n_iter_ : int
        Lloyd iterations of the kept run.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0], [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    >>> bool(km.predict([[0.0, 0.0]])[0] == km.predict([[1.0, 1.0]])[0])
    True
    """

    _estimator_type = "clusterer"

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: Any = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # -- scikit-learn's parameter protocol, without depending on scikit-learn
    _param_names = ("n_clusters", "init", "n_init", "max_iter", "tol", "random_state")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> KMeans:
        """Set parameters, as scikit-learn's ``set_params``; returns ``self``."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(
                    f"Invalid parameter {name!r} for KMeans; valid parameters are {list(self._param_names)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = KMeans()
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if not (isinstance(v, str) and v == getattr(defaults, k))
            and not (v is None and getattr(defaults, k) is None)
            and not (isinstance(v, (int, float)) and not isinstance(v, bool) and v == getattr(defaults, k))
        ]
        return f"KMeans({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:  # called only by scikit-learn
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64"]),
            input_tags=InputTags(),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    # -- fitting
    def _validate_params(self, X: np.ndarray) -> tuple[int, int, int]:
        n_clusters = _check_n_clusters(self.n_clusters, "n_clusters")
        if X.shape[0] < n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}.")
        if isinstance(self.tol, bool) or not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}.")
        init = self.init
        is_array = not isinstance(init, str)
        if not is_array and init not in ("k-means++", "random"):
            raise ValueError(f"init must be 'k-means++', 'random' or an array of centres, got {init!r}.")
        if self.n_init == "auto":
            n_init = 10 if (not is_array and init == "random") else 1
        elif isinstance(self.n_init, bool) or not isinstance(self.n_init, numbers.Integral) or self.n_init < 1:
            raise ValueError(f"n_init must be 'auto' or an integer >= 1, got {self.n_init!r}.")
        else:
            n_init = int(self.n_init)
        if is_array and n_init != 1:
            warnings.warn(
                f"Explicit initial centres given: running a single initialization instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            n_init = 1
        return n_clusters, n_init, int(self.max_iter)

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the clustering.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of every sample; an integer weight acts like repeating the row.

        Returns
        -------
        self
        """
        X = _check_array(X, "X")
        n_clusters, n_init, max_iter = self._validate_params(X)
        w = _check_sample_weight(sample_weight, X.shape[0])
        rng = _check_random_state(self.random_state)
        tol = _tolerance(X, w, float(self.tol))
        init = self.init
        if not isinstance(init, str):
            init = _check_centers(init, X.shape[1], "init")
            if init.shape[0] != n_clusters:
                raise ValueError(
                    f"init has {init.shape[0]} centres but n_clusters={n_clusters}; they must match."
                )
        best = None
        for _ in range(n_init):
            if isinstance(init, np.ndarray):
                centers0 = init
            elif init == "k-means++":
                centers0 = _kmeans_plusplus(X, w, n_clusters, rng)
            else:
                centers0 = _random_init(X, w, n_clusters, rng)
            run = _lloyd(X, w, centers0, max_iter, tol)
            if best is None or run[1] < best[1]:
                best = run
        labels, inertia, centers, n_iter = best  # type: ignore[misc]
        n_distinct = int(np.count_nonzero(np.bincount(labels, minlength=n_clusters)))
        if n_distinct < n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({n_distinct}) found smaller than "
                f"n_clusters ({n_clusters}); X may hold fewer distinct points than n_clusters.",
                RuntimeWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.n_features_in_ = X.shape[1]
        return self

    def _check_fitted_X(self, X: Any) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            raise _not_fitted_error(
                "This KMeans instance is not fitted yet; call 'fit' with appropriate arguments first."
            )
        X = _check_array(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but KMeans is expecting {self.n_features_in_} features as input."
            )
        return X

    def predict(self, X: Any) -> np.ndarray:
        """Index of the closest centre for each sample."""
        X = self._check_fitted_X(X)
        return nearest_centers(X, self.cluster_centers_, return_distances=False)[0]

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Euclidean distance of every sample to every centre, shape (n_samples, n_clusters)."""
        X = self._check_fitted_X(X)
        c = self.cluster_centers_
        d = np.einsum("ij,ij->i", X, X)[:, None] - 2.0 * (X @ c.T) + np.einsum("ij,ij->i", c, c)[None, :]
        return np.sqrt(np.maximum(d, 0.0))

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return the distances to the centres."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of ``X`` on the fitted centres: higher is better."""
        X = self._check_fitted_X(X)
        w = _check_sample_weight(sample_weight, X.shape[0])
        _, dist2 = nearest_centers(X, self.cluster_centers_)
        return -float(np.dot(w, dist2))


def _not_fitted_error(message: str) -> Exception:
    """Our NotFittedError; also an instance of scikit-learn's when that is installed."""
    sk_exceptions = sys.modules.get("sklearn.exceptions")
    if sk_exceptions is None:  # nobody can be catching scikit-learn's class
        return NotFittedError(message)
    SkNotFitted = sk_exceptions.NotFittedError

    class _Both(NotFittedError, SkNotFitted):
        pass

    _Both.__name__ = "NotFittedError"
    return _Both(message)
