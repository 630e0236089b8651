"""K-means, public and thin: the tutorial's functions, and (from :mod:`._estimator`) k-means++ and the KMeans estimator.

The tutorial's four functions keep their names and signatures
(:func:`find_closest_centroids`, :func:`compute_centroids`, :func:`run_kmeans`,
:func:`kmeans_init_centroids`) but are vectorized and memory-bounded. Everything
new follows scikit-learn's vocabulary: :class:`KMeans` takes ``n_clusters``,
``init``, ``n_init``, ``max_iter``, ``tol`` and ``random_state`` and exposes
``cluster_centers_``, ``labels_``, ``inertia_`` and ``n_iter_``.

Stage: the public face of "weighted k-means". In: any array-like data and
options; out: centres, labels, distortion. Public functions validate their input
once (:mod:`._validation`) and then call the workers in :mod:`._lloyd`, which do
only arithmetic; the image path calls those workers directly on colour
histograms (:mod:`._fit`).

Data or centroids with a value beyond ``sqrt(float64 max / (8 n))`` for ``n``
features (about 3e153 for two) are refused with a ValueError: there a squared
distance overflows to inf, and labels, means and costs would come out wrong.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._estimator import KMeans, kmeans_plusplus
from ._exceptions import ConvergenceWarning, InvalidParameterError, NotFittedError
from ._lloyd import update_centers, weighted_sums
from ._nearest import exact_nearest_centers
from ._validation import (
    SeedLike,
    check_array,
    check_centers,
    check_int,
    check_labels,
    check_magnitude,
    check_random_state,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "ConvergenceWarning",
    "InvalidParameterError",
    "KMeans",
    "NotFittedError",
    "compute_centroids",
    "compute_distortion",
    "find_closest_centroids",
    "kmeans_init_centroids",
    "kmeans_plusplus",
    "run_kmeans",
]


# --------------------------------------------------------------------------- the tutorial's functions


def find_closest_centroids(X: ArrayLike, centroids: ArrayLike) -> np.ndarray:
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
    X = check_magnitude(check_array(X, "X"), "X")
    centroids = check_magnitude(check_centers(centroids, X.shape[1]), "centroids")
    return exact_nearest_centers(X, centroids).astype(int, copy=False)


def compute_centroids(X: ArrayLike, idx: ArrayLike, K: int) -> np.ndarray:
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
    With more clusters than examples (``K > m``), each example re-seeds one empty
    cluster and the empty clusters left over take the examples again, in the same
    order: every centroid is an example or a mean of examples, never a made-up
    value such as the origin.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 10.0]])
    >>> compute_centroids(X, np.array([0, 0, 1]), 2)
    array([[ 2.,  3.],
           [10., 10.]])
    """
    X = check_magnitude(check_array(X, "X"), "X")
    K = check_int(K, "K", low=1)
    idx_arr = check_labels(idx, X.shape[0], K)
    w = np.ones(X.shape[0])
    wsum, sums = weighted_sums(X, idx_arr, w, K)
    means = np.empty((K, X.shape[1]))
    nz = wsum > 0
    means[nz] = sums[nz] / wsum[nz, None]
    diff = X - means[idx_arr]
    dist2 = np.einsum("ij,ij->i", diff, diff)
    # update_centers re-seeds the j-th empty cluster with the j-th worst-represented example (this
    # order) while examples last, and leaves any further one at its placeholder: make that the
    # example it would take were the examples drawn again (K > m only; otherwise overwritten).
    empty = np.flatnonzero(~nz)
    order = np.argsort(-dist2, kind="stable")
    means[empty] = X[order[np.arange(empty.size) % order.size]]
    return update_centers(X, w, idx_arr, dist2, means, keep_when_exact=False)


def kmeans_init_centroids(X: ArrayLike, K: int, random_state: SeedLike = None) -> np.ndarray:
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
    X = check_array(X, "X")
    K = check_int(K, "K", low=1)
    rng = check_random_state(random_state)
    perm = rng.permutation(X.shape[0])
    _, first = np.unique(X[perm], axis=0, return_index=True)
    if K > first.size:
        raise ValueError(
            f"K={K} is larger than the number of distinct points in X ({first.size}); "
            "choose K <= the number of distinct points."
        )
    return X[perm[np.sort(first)[:K]]].copy()


def compute_distortion(X: ArrayLike, centroids: ArrayLike, idx: ArrayLike | None = None) -> float:
    """Mean squared distance of the examples to their assigned centroid (the tutorial's cost J).

    Parameters
    ----------
    X : array-like of shape (m, n)
    centroids : array-like of shape (K, n)
    idx : array-like of shape (m,), int, default=None
        Centroid index of every example, in ``0 .. K-1``, checked as :func:`compute_centroids`
        checks it (a ValueError otherwise); None: the closest centroid of each.

    Examples
    --------
    >>> import numpy as np
    >>> compute_distortion(np.array([[0.0], [2.0]]), np.array([[1.0]]))
    1.0
    """
    X = check_magnitude(check_array(X, "X"), "X")
    centroids = check_magnitude(check_centers(centroids, X.shape[1]), "centroids")
    if idx is None:
        idx_arr = exact_nearest_centers(X, centroids)
    else:
        idx_arr = check_labels(idx, X.shape[0], centroids.shape[0])
    diff = X - centroids[idx_arr]
    with np.errstate(over="ignore"):
        total = float(np.einsum("ij,ij->", diff, diff))
    if math.isinf(total):  # each distance is finite (check_magnitude), their sum not: add the shares
        return float(np.sum(np.einsum("ij,ij->i", diff, diff) / X.shape[0]))
    return total / X.shape[0]


def run_kmeans(
    X: ArrayLike,
    initial_centroids: ArrayLike,
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
    X = check_magnitude(check_array(X, "X"), "X")
    centroids = check_magnitude(check_centers(initial_centroids, X.shape[1], "initial_centroids"), "initial_centroids")
    check_int(max_iters, "max_iters", low=0)
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
