"""Nearest-centre searches: the hot path of k-means and of the final mapping.

Stage: used by the k-means workers (:mod:`._lloyd`), the public k-means
(:mod:`.kmeans`), the palette (:mod:`._palette`) and the mapping (:mod:`._quantize`,
:mod:`._remap`). In: points and centres; out: the index of each point's nearest
centre (ties to the lowest index) and, for most functions, squared distances.

Four searches, each for one need:

- :func:`nearest_centers`: float points, expanded distances; ``KMeans.predict``
  and ``score``, the shared-palette and colour-space mappings, the gap-fill of a
  palette in another colour space.
- :func:`nearest_two`: also the distance to the second-nearest centre, for the
  bounds of the numpy Lloyd loop (:class:`._lloyd.Bounds`). The compiled Lloyd
  kernel does its own search (:mod:`._numba_kernels`).
- :func:`nearest_by_products`: matrix products (BLAS) for many features, with the
  near ties settled by explicit differences: the Lloyd loop of :func:`._lloyd.lloyd`
  when points have many features.
- :func:`exact_nearest_centers`: explicit differences, exact ties; the
  tutorial's functions (``find_closest_centroids``, ``run_kmeans``).
- :func:`nearest_palette`: integer colours against a uint8 palette, exact in
  float32; the final mapping of every distinct colour (optionally through the
  compiled search started at a hint), the gap-fill of an RGB palette, the
  choice of alpha groups.

The squared distance is expanded as ``|x|^2 - 2 x.c + |c|^2`` so that the bulk of
the work is one matrix product per chunk of points (BLAS), and the memory in use
is bounded by ``chunk x K`` floats, never ``N x K x n_features``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor

import numpy as np

from ._backend import narrow_products, nearest_hinted_compiled, settle_block_compiled, thread_limit

__all__ = [
    "block_parts",
    "dist_to_assigned",
    "exact_nearest_centers",
    "nearest_by_products",
    "nearest_centers",
    "nearest_palette",
    "nearest_two",
    "exact_labels",
    "product_rows",
    "row_min",
]

# Work on at most this many distance entries (points x centres) at once (8 MiB
# of float64), so that the working set stays small whatever the number of points.
_CHUNK_ENTRIES = 1 << 20


def _chunk_rows(n_centers: int, n_features: int = 1) -> int:
    return max(64, _CHUNK_ENTRIES // max(1, n_centers * n_features))


#: Up to this many columns, :func:`row_min` takes the minimum column by column. numpy reduces each
#: row of a narrow matrix on its own: 1M entries, ms, ``min(axis=1)`` / column by column:
#: K = 2 18.1 / 1.2, K = 8 5.8 / 0.8, K = 16 2.9 / 1.1, K = 32 1.8 / 1.2, K = 64 0.95 / 1.16.
_ROW_MIN_COLUMNS = 32


def row_min(d: np.ndarray) -> np.ndarray:
    """``d.min(axis=1)`` of a 2-D array (at least one column): the same values (a minimum
    does not round), several times faster on narrow arrays (``_ROW_MIN_COLUMNS``).

    Examples
    --------
    >>> row_min(np.array([[3.0, 1.0, 2.0], [0.5, 4.0, 9.0]]))
    array([1. , 0.5])
    """
    if d.shape[1] > _ROW_MIN_COLUMNS or d.shape[1] < 2:
        return d.min(axis=1)
    out = np.minimum(d[:, 0], d[:, 1])
    for j in range(2, d.shape[1]):
        np.minimum(out, d[:, j], out=out)
    return out


def _partial_distances(X: np.ndarray, centers: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
    """Chunks ``(start, stop, d)`` with ``d = |c|^2 - 2 x.c`` for rows ``start:stop`` (add ``|x|^2`` for
    squared distances). ``d`` is a reused buffer: consume it before the next chunk."""
    n, k = X.shape[0], centers.shape[0]
    c_norm = np.einsum("ij,ij->i", centers, centers)
    step = _chunk_rows(k)
    buf = np.empty((min(step, n), k), dtype=np.float64)
    ct = -2.0 * centers.T  # scaled before the product, the same bits (a power of 2): one pass less
    for start in range(0, n, step):
        stop = min(start + step, n)
        d = buf[: stop - start]
        np.matmul(X[start:stop], ct, out=d)
        d += c_norm
        yield start, stop, d


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
    with narrow_products(n, k, X.shape[1]):
        for start, stop, d in _partial_distances(X, centers):
            xs = X[start:stop]
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
    Memory is bounded by chunking over the points. The squares are summed feature
    by feature, in order, as the compiled kernels sum them (``_numba_kernels._dist2``):
    einsum's order differs in the last bit, which decides near ties differently.
    """
    n, f = X.shape
    k = centers.shape[0]
    labels = np.empty(n, dtype=np.intp)
    step = _chunk_rows(k, f)
    for start in range(0, n, step):
        xs = X[start : start + step]
        d = squares_in_order(xs[:, None, :] - centers[None, :, :])
        labels[start : start + step] = np.argmin(d, axis=1)
    return labels


def squares_in_order(diff: np.ndarray) -> np.ndarray:
    """``(diff ** 2).sum(axis=-1)`` with the features added one by one, in order: the compiled
    kernels' sums (``_numba_kernels._dist2``) to the last bit. The squares with the features moved
    to the first axis of a contiguous array, which numpy reduces row after row (it adds pairwise
    only along the contiguous axis; a running ``cumsum`` along it took twice as long); checked
    against written-out sums in tests/test_paths_identical.py."""
    sq = diff * diff
    if sq.size == sq.shape[-1]:  # one row: numpy would reduce it as one contiguous run, pairwise
        return np.cumsum(sq, axis=-1)[..., -1]
    return np.add.reduce(np.ascontiguousarray(np.moveaxis(sq, -1, 0)), axis=0)


def dist_to_assigned(X: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Squared distance of every point to ``centers[labels]``, by explicit differences summed in the
    kernels' order (:func:`squares_in_order`: an empty cluster takes the farthest point
    on both paths), in blocks of at most 2^16 coordinates: temporaries of 512 KB that stay in a
    core's cache (one block of 10,000 x 128 took 3.4 ms, most of a fit's last step, against 0.5 ms
    in blocks)."""
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    step = max(1, (1 << 16) // max(1, X.shape[1]))
    for start in range(0, n, step):
        rows = centers.take(labels[start : start + step], axis=0)  # take: faster than fancy indexing for rows
        out[start : start + step] = squares_in_order(X[start : start + step] - rows)
    return out


def nearest_two(
    X: np.ndarray,
    centers: np.ndarray,
    x_norm: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest centre of every row of ``X``, its squared distance (by explicit differences), and
    the squared distance to the second-nearest centre by the expansion (``inf`` when there is one
    centre).

    Used by the bounded Lloyd iteration (:func:`._lloyd.lloyd`),
    which keeps the two distances as upper and lower bounds. Memory is bounded
    by ``chunk x K`` floats.
    """
    n = X.shape[0]
    if x_norm is None:
        x_norm = np.einsum("ij,ij->i", X, X)
    if centers.shape[0] == 1:
        d2 = np.full(n, np.inf)
        return np.zeros(n, dtype=np.intp), squares_in_order(X - centers[0]), d2
    labels, d1, d2 = _nearest_by_expansion(X, centers, x_norm)
    d1 += x_norm
    d2 += x_norm
    np.maximum(d1, 0.0, out=d1)
    np.maximum(d2, 0.0, out=d2)
    # The distance to the nearest by explicit differences, as the kernels compute it: the expanded
    # form can round a tiny distance to 0, and an upper bound below the true distance let the
    # bounded iteration keep a point on a centre another one had overtaken (d2 stays a lower bound:
    # its user widens it by the expansion's error).
    d1[:] = dist_to_assigned(X, centers, labels)
    return labels, d1, d2


def exact_labels(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Nearest centre of every row of ``X``, ties to the lowest index, as :func:`nearest_two` (and
    the kernels) find it, without its distances: ``KMeans.predict`` before the kernels load, and
    above the features where their search pays."""
    if centers.shape[0] == 1:
        return np.zeros(X.shape[0], dtype=np.intp)
    return _nearest_by_expansion(X, centers, np.einsum("ij,ij->i", X, X))[0]


def _nearest_by_expansion(
    X: np.ndarray, centers: np.ndarray, x_norm: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of :func:`nearest_two` (two or more centres), with the nearest and second-nearest
    expanded distances less ``|x|^2`` (for the caller to add). The expansion decides where the two
    differ by more than its rounding; explicit differences decide the others."""
    n = X.shape[0]
    k = centers.shape[0]
    labels = np.empty(n, dtype=np.intp)
    d1 = np.empty(n, dtype=np.float64)
    d2 = np.empty(n, dtype=np.float64)
    if n == 0:
        return labels, d1, d2
    margin_c = 1e-13 * float(np.einsum("ij,ij->i", centers, centers).max(initial=0.0))
    near_rows = []
    with narrow_products(n, k, X.shape[1]):
        for start, stop, d in _partial_distances(X, centers):
            lab = np.argmin(d, axis=1)
            rows = np.arange(stop - start)
            labels[start:stop] = lab
            d1[start:stop] = d[rows, lab]
            d[rows, lab] = np.inf
            d2[start:stop] = row_min(d)
            # Another centre within the expansion's rounding (the margin of nearest_by_products):
            # explicit differences decide, as every other search does (the same labels).
            near = np.flatnonzero(d2[start:stop] - d1[start:stop] <= 1e-13 * x_norm[start:stop] + margin_c)
            if near.size:
                near_rows.append(start + near)
    if near_rows:
        near = np.concatenate(near_rows)
        exact = exact_nearest_centers(X[near], centers)
        moved = near[exact != labels[near]]
        if moved.size:  # the other of the two: d2 (kept as a lower bound) becomes the old best
            d2[moved] = d1[moved]
            labels[moved] = exact[exact != labels[near]]
    return labels, d1, d2


#: Up to this many uint8 channels, a squared distance is below 2^26 (1,024 x 255^2), and
#: :func:`nearest_palette` recovers it exactly from the search's distance.
_EXACT_ROOT_MAX_FEATURES = 1024


def nearest_palette(
    colors: np.ndarray, palette: np.ndarray, hint: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest palette entry of integer colours (e.g. uint8 RGB); ties to the lowest index.

    Where the compiled kernels run, their exact search does it: ``hint`` (optional) guesses
    each colour's entry; with many points per entry the search walks out from there and visits
    only the entries near it, and with few it skips the colours nearer their guess than half its
    distance to any other entry. It never changes the result.

    Otherwise numpy's products: both inputs hold integers in 0..255, so every term of
    ``-2 x.c + |c|^2`` is an integer below 2^24 and float32 arithmetic is exact:
    the result equals a brute-force search, at half the memory traffic of float64.

    Returns
    -------
    labels : ndarray of shape (M,), intp
    dist2 : ndarray of shape (M,), int64
        Exact squared distances.
    """
    colors = np.asarray(colors)
    palette = np.asarray(palette)
    n, f = colors.shape
    k = palette.shape[0]
    # The compiled search wherever the kernels run, even where numpy's float32 product would be
    # as fast: after a parallel kernel, its OpenMP threads spin for a while, and OpenBLAS's threads
    # then fight them for the cores (a 64 x 64 image at K = 256: 2.5 ms against 0.5). A search that
    # scans still skips the colours the hint settles (32 x 32 at K = 256: 145 us against 289).
    if k:
        if hint is None:
            hint = np.zeros(n, dtype=np.intp)
        done = nearest_hinted_compiled(colors, palette, hint)
        if done is not None:
            labels, d1 = done
            if colors.dtype == np.uint8 and palette.dtype == np.uint8 and f <= _EXACT_ROOT_MAX_FEATURES:
                # The search's distance is the root of an exact integer below 2^26 here: squared
                # again and rounded, it is that integer (the relative error, a few units in the
                # 53rd bit, is far below half a unit). 6 us against 14 for 880 colours.
                return labels, np.rint(d1 * d1).astype(np.int64)
            diff = colors.astype(np.int64) - palette.astype(np.int64)[labels]
            return labels, np.einsum("ij,ij->i", diff, diff)
    if f * 255 * 255 >= (1 << 24):  # too many channels for exact float32
        labels, d2f = nearest_centers(colors.astype(np.float64), palette.astype(np.float64))
        assert d2f is not None  # asked for (return_distances defaults to True)
        return labels, np.rint(d2f).astype(np.int64)
    X = colors.astype(np.float32)
    C = palette.astype(np.float32)
    ct = np.ascontiguousarray((-2.0 * C).T)
    c_norm = np.einsum("ij,ij->i", C, C)
    labels = np.empty(n, dtype=np.intp)
    best = np.empty(n, dtype=np.float32)
    step = max(64, (_CHUNK_ENTRIES * 2) // max(1, k))
    buf = np.empty((min(step, n), k), dtype=np.float32)
    with narrow_products(n, k, f):
        for start in range(0, n, step):
            stop = min(start + step, n)
            d = buf[: stop - start]
            np.matmul(X[start:stop], ct, out=d)
            d += c_norm
            lab = np.argmin(d, axis=1)
            labels[start:stop] = lab
            best[start:stop] = d[np.arange(stop - start), lab]
    x = colors.astype(np.int64)
    dist2 = np.einsum("ij,ij->i", x, x) + best.astype(np.int64)
    return labels, dist2


def product_rows(n_features: int, n_centers: int) -> int:
    """Rows per matrix product in :func:`nearest_by_products`: the block of points (rows x
    features) and its products (rows x centres) each at most 512 KiB, so that both stay in a core's
    cache between the product and the pass that reads it; 128 to 2,048 rows. One core, 10,000
    standard-normal points, a search (product and pass): d = 128, K = 8 took 1.2 ms in blocks of
    512 rows against 2.9 ms in blocks of 2,048; d = 128, K = 256: 19.6 ms (256 rows) against 32 ms
    (2,048); at d = 8 and 32 with K = 8 or 64, 1,024 to 2,048 rows were best (load average 4)."""
    return max(128, min(2048, (1 << 16) // max(n_features, n_centers, 1)))


def block_parts(n_blocks: int) -> int:
    """How many runs of consecutive blocks :func:`nearest_by_products` hands to a pool: two per
    core it may use (:func:`._backend.thread_limit`, as the pool; a busy core's share can move to
    the other), at most one per block. Few hand-overs per search: each costs tens of
    microseconds, as much as a small block's work."""
    return max(1, min(n_blocks, 2 * thread_limit()))


def nearest_by_products(
    X: np.ndarray, centers: np.ndarray, x_norm: np.ndarray, labels: np.ndarray, pool: Executor | None = None
) -> None:
    """Exact nearest centre of every row of ``X`` into ``labels``, by chunked matrix products.

    The bulk is ``|c|^2 - 2 x.c`` per block of rows (one BLAS product). That
    expansion loses digits to cancellation when a point is far from the origin
    compared with its distances to the centres, so any point whose best two
    candidates are within the expansion's rounding error of each other (bounded by
    ``1e-13 (|x|^2 + max |c|^2)``, far above float64's error on these sums) is
    decided again on explicitly computed differences: the labels equal a brute-force
    search on differences, ties to the lowest index (:func:`exact_nearest_centers`).
    ``x_norm`` holds ``|x|^2`` for every row. ``pool`` (optional) runs the blocks on its
    threads (numpy releases the GIL in the products): every block's labels are its own,
    so they do not depend on the number of threads.
    """
    n, k = X.shape[0], centers.shape[0]
    if k == 1:
        labels.fill(0)
        return
    c_norm = np.einsum("ij,ij->i", centers, centers)
    margin_c = 1e-13 * float(c_norm.max(initial=0.0))
    ct = np.ascontiguousarray(-2.0 * centers.T)
    rows = product_rows(X.shape[1], k)
    settle = settle_block_compiled(n * k)
    if settle is not None:  # one compiled pass over each block of products

        def part(first: int, last: int) -> None:
            buf = np.empty((min(rows, n), k))  # one buffer per run of blocks
            for start in range(first, last, rows):
                stop = min(start + rows, n)
                d = buf[: stop - start]
                np.matmul(X[start:stop], ct, out=d)
                settle(d, X, start, centers, c_norm, x_norm, margin_c, labels)

    else:

        def part(first: int, last: int) -> None:
            for start in range(first, last, rows):
                _settle_block(X, centers, x_norm, labels, ct, c_norm, margin_c, start, min(start + rows, n))

    n_blocks = -(-n // rows)
    if pool is None or n_blocks < 2:
        part(0, n)
        return
    parts = block_parts(n_blocks)
    bounds = [rows * (n_blocks * p // parts) for p in range(parts)] + [n]
    for _ in pool.map(part, bounds[:-1], bounds[1:]):
        pass


def _settle_block(
    X: np.ndarray,
    centers: np.ndarray,
    x_norm: np.ndarray,
    labels: np.ndarray,
    ct: np.ndarray,
    c_norm: np.ndarray,
    margin_c: float,
    start: int,
    stop: int,
) -> None:
    """:func:`nearest_by_products` on numpy, for rows ``start:stop``: the twin of the
    compiled :func:`._numba_kernels._settle_block_kernel` (same decisions)."""
    d = X[start:stop] @ ct
    d += c_norm
    lab = np.argmin(d, axis=1)
    rows = np.arange(stop - start)
    best = d[rows, lab]
    best += 1e-13 * x_norm[start:stop] + margin_c
    d[rows, lab] = np.inf  # the second best: is another centre within the rounding error?
    near = np.flatnonzero(row_min(d) <= best)
    if near.size:
        lab[near] = exact_nearest_centers(X[start + near], centers)
    labels[start:stop] = lab
