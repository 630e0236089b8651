"""The hot path: the nearest centre for many points.

Every assignment step in the package goes through :func:`nearest_centers`, so
that there is one place to make fast and one place to test.

The squared distance is expanded as ``|x|^2 - 2 x.c + |c|^2`` so that the bulk of
the work is one matrix product per chunk of points (BLAS), and the memory in use
is bounded by ``chunk x K`` floats, never ``N x K x n_features``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_centers", "exact_nearest_centers"]

# Work on at most this many distance entries (points x centres) at once: 8 MiB
# of float64, which keeps the working set in cache-friendly territory.
_CHUNK_ENTRIES = 1 << 20


def _chunk_rows(n_centers: int, n_features: int = 1) -> int:
    return max(64, _CHUNK_ENTRIES // max(1, n_centers * n_features))


def nearest_centers(
    X: np.ndarray,
    centers: np.ndarray,
    *,
    return_distances: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Index of the nearest centre of every row of ``X``, and its squared distance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    centers : ndarray of shape (n_clusters, n_features), float64
    return_distances : bool
        Also return the squared distance of each point to its nearest centre.

    Returns
    -------
    labels : ndarray of shape (n_samples,), intp
    dist2 : ndarray of shape (n_samples,), float64, or None
        Squared Euclidean distances, clipped at zero (the expansion can round
        to a tiny negative number).
    """
    n = X.shape[0]
    k = centers.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dist2 = np.empty(n, dtype=np.float64) if return_distances else None
    if n == 0:
        return labels, dist2
    if k == 1:
        labels.fill(0)
        if dist2 is not None:
            diff = X - centers[0]
            np.einsum("ij,ij->i", diff, diff, out=dist2)
        return labels, dist2
    c_norm = np.einsum("ij,ij->i", centers, centers)
    step = _chunk_rows(k)
    buf = np.empty((min(step, n), k), dtype=np.float64)
    ct = np.ascontiguousarray(centers.T)
    for start in range(0, n, step):
        stop = min(start + step, n)
        xs = X[start:stop]
        d = buf[: stop - start]
        np.matmul(xs, ct, out=d)
        d *= -2.0
        d += c_norm
        lab = np.argmin(d, axis=1)
        labels[start:stop] = lab
        if dist2 is not None:
            best = np.take_along_axis(d, lab[:, None], axis=1)[:, 0]
            best += np.einsum("ij,ij->i", xs, xs)
            np.maximum(best, 0.0, out=best)
            dist2[start:stop] = best
    return labels, dist2


def exact_nearest_centers(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Nearest centre by explicitly computed differences; ties go to the lowest index.

    Slower than :func:`nearest_centers` but free of the cancellation in the
    expanded form, so exact ties (equidistant centres) are resolved exactly.
    Memory is bounded by chunking over the points.
    """
    n, f = X.shape
    k = centers.shape[0]
    labels = np.empty(n, dtype=np.intp)
    step = _chunk_rows(k, f)
    for start in range(0, n, step):
        xs = X[start : start + step]
        diff = xs[:, None, :] - centers[None, :, :]
        d = np.einsum("ijk,ijk->ij", diff, diff)
        labels[start : start + step] = np.argmin(d, axis=1)
    return labels
