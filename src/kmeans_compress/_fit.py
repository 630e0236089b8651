"""Palette fitting: weighted k-means of a colour histogram, coarse to fine.

Stage: "weighted k-means" of the image path. In: the distinct colours of an
image (or their coordinates in another colour space) as float points ``X`` (M, d)
and their pixel counts ``w`` (M,); out: float centres (K, d) and the centre of
every point. Rounding the centres to a palette is the next stage (:mod:`._palette`).
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _backend
from ._backend import nearest_hinted_compiled
from ._lloyd import hartigan_moves, lloyd, plusplus_init, split_start, tolerance
from ._nearest import exact_nearest_centers
from ._validation import SeedLike, check_int, check_kmeans_options, check_random_state

__all__ = ["MAX_SPEED", "coarse_histogram", "fit_palette", "gray_palette", "nearest_labels", "speed_settings"]

# From this many distinct points, fit_palette first clusters a coarse histogram
# (points binned on a regular grid, each occupied cell standing for its points by
# their weighted mean), then refines on all points. The grid has about
# _COARSE_CELLS_PER_COLOR cells per palette entry, within _COARSE_CELLS: 2^15
# (32 bins a channel) to 2^17 (50 bins) cells.
_COARSE_MIN_POINTS = 20_000
_COARSE_CELLS_PER_COLOR = 512
_COARSE_CELLS = (1 << 15, 1 << 17)
# ... unless the points are at most _DIRECT_MAX_POINTS and the grid has fewer than
# _DIRECT_CELLS_PER_COLOR occupied cells per palette entry: a small photo (a few hundred pixels a
# side) at K = 64 or 256, whose colours fill few cells. The grid then stands poorly for the points,
# the fine stage ran to its cap (27 to 40 iterations at K = 256 on 17 crops) and fitting the
# histogram directly took less time: one core, best of 5, 15 crops of the 12 benchmark photos with
# 20,000 to 50,000 colours, time direct / coarse at K = 64 0.57-1.08 (median 0.71), at K = 256
# 0.29-1.15 (median 0.78), MSE 0.97-1.02x; at K = 16 (80 or more cells an entry) the grid won
# (0.75-1.66, median 1.19); above 50,000 colours direct was slower (medians 0.93 / 1.10 / 1.31 at
# K = 64 / 256 / 16). benchmarks/RESULTS.md, "Session 15".
_DIRECT_MAX_POINTS = 50_000
_DIRECT_CELLS_PER_COLOR = 64
# Starts tried (the split one, then k-means++ draws) when the points to start on
# times the palette size are at most _CHEAP_START_WORK: then a start costs little
# (the coarse grid up to K = 64, every histogram of a few thousand colours).
_CHEAP_STARTS = 5
_CHEAP_START_WORK = 1 << 20
# At most this many of those starts when the histogram is fitted directly (no coarse grid: a
# small image). There a start is most of the whole run's time, and Hartigan's moves from the
# start (``_HARTIGAN_PASSES``) gain more than further starts: over crops and thumbnails of 12
# photos (32 to 128 px), mean MSE / scikit-learn's at K = 256 with one start, Hartigan's moves
# and Lloyd's iterations 0.940-0.989, with two starts and Lloyd's iterations only 0.990-1.003,
# in less time (benchmarks/RESULTS.md, "Session 11"). A photo's coarse grid keeps its five
# cheap starts and no moves (see ``moves`` in :func:`fit_palette`).
_DIRECT_STARTS = 1
# Lloyd iterations on all points after the coarse stage, at most. The start is
# already close to convergence: the last iterations would gain little and cost as
# much again (the figures are in benchmarks/RESULTS.md).
_FINE_MAX_ITER = 40

#: pngquant's speed scale: 1 (slowest, best) to 11 (fastest, roughest).
MAX_SPEED = 11
# What each speed spends, speed 1 first: (cheap starts, Lloyd iterations on the
# coarse histogram, iterations on all points, passes of Hartigan's moves from each start of a
# histogram fitted directly).
# Speed 1 is the default and the settings above; every later speed tries fewer starts,
# moves points in fewer passes and stops Lloyd earlier. Speed 11 fits the coarse histogram only.
# Time and error against speed are in benchmarks/RESULTS.md.
# Speed 11 also bins on the smallest grid whatever the palette size.
_HARTIGAN_PASSES = 6
_SPEEDS = (
    (_CHEAP_STARTS, 300, _FINE_MAX_ITER, _HARTIGAN_PASSES),
    (4, 200, 30, 6),
    (3, 150, 20, 4),
    (3, 100, 14, 4),
    (2, 60, 10, 3),
    (2, 40, 7, 3),
    (1, 30, 5, 2),
    (1, 20, 3, 2),
    (1, 12, 2, 1),
    (1, 8, 1, 1),
    (1, 5, 0, 1),
)


def speed_settings(speed: int) -> tuple[int, int, int, int]:
    """(starts tried when cheap, coarse Lloyd iterations, fine iterations, passes of Hartigan's
    moves from each start of a histogram fitted directly) of ``speed`` (1 to 11).

    Examples
    --------
    >>> speed_settings(1)
    (5, 300, 40, 6)
    >>> speed_settings(11)
    (1, 5, 0, 1)
    """
    return _SPEEDS[check_int(speed, "speed", low=1, high=MAX_SPEED, hint="1 slow ... 11 fast") - 1]


def coarse_histogram(X: np.ndarray, w: np.ndarray, max_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin the points on a regular grid over their range.

    Returns the weighted mean and total weight of every occupied cell, and the
    cell of every point.
    """
    n, d = X.shape
    bins = max(2, int(max_cells ** (1.0 / d)))
    # Column by column: numpy reduces an (n, 3) array over its rows 20 times slower than a column
    # (4.3 ms against 0.2 ms at 152,000 colours); the same values.
    lo = np.array([X[:, j].min() for j in range(d)])
    step = (np.array([X[:, j].max() for j in range(d)]) - lo) / bins
    step[step <= 0] = 1.0
    key = np.zeros(n, dtype=np.intp)
    for j in range(d):
        idx = ((X[:, j] - lo[j]) / step[j]).astype(np.intp)
        np.minimum(idx, bins - 1, out=idx)
        key *= bins
        key += idx
    size = bins**d
    wc = np.bincount(key, weights=w, minlength=size)
    occupied = np.flatnonzero(wc > 0)
    Xc = np.empty((occupied.size, d), dtype=np.float64)
    for j in range(d):
        Xc[:, j] = np.bincount(key, weights=w * X[:, j], minlength=size)[occupied]
    wc = wc[occupied]
    Xc /= wc[:, None]
    cell_index = np.zeros(size, dtype=np.intp)
    cell_index[occupied] = np.arange(occupied.size)
    return Xc, wc, cell_index[key]


def nearest_labels(X: np.ndarray, centers: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """Each point's nearest centre, ties to the lowest index: the compiled search where the kernels
    run, numpy's explicit differences otherwise (the same labels)."""
    done = nearest_hinted_compiled(X, centers, np.zeros(X.shape[0], dtype=np.intp), compiled)
    return exact_nearest_centers(X, centers) if done is None else done[0]


def fit_palette(
    X: np.ndarray,
    w: np.ndarray,
    n_colors: int,
    *,
    random_state: SeedLike = 0,
    n_init: int | str = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    speed: int = 1,
    coarse_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted K-means of points ``X`` (M, d) with weights ``w`` (M,): float centres
    (K, d) and the centre of every point (its nearest one, or nearly: after the
    last update it may have moved).

    This is the one clustering entry point of the image path: colour histograms
    in RGB (d=3), RGBA (d=4) or any other colour space all come through here.

    The start is the deterministic split initialization
    (:func:`._lloyd.split_start`); each further seed (``n_init`` > 1) is a
    weighted k-means++ draw, and the start of lowest distortion after Lloyd's
    iterations wins. On a histogram fitted directly (no coarse stage below), each start first
    goes through passes of Hartigan's single-point moves (:func:`._lloyd.hartigan_moves`, from
    the split's clusters or each point's nearest centre), which lower the error where Lloyd's
    iterations stop and cost a few distances a point; Lloyd's iterations run from there.

    Coarse to fine: with many points, the starts are computed and iterated to convergence
    on a coarse histogram (:func:`coarse_histogram`), and the winner is refined by at most
    ``_FINE_MAX_ITER`` Lloyd iterations on all points, which minimize exactly the all-pixel
    objective.

    ``speed`` (1 to 11, pngquant's scale) spends less as it grows: fewer starts,
    fewer iterations (:func:`speed_settings`); 1 is the best. ``coarse_cache``
    (a dict, filled here) keeps the coarse histograms of ``X`` by grid size, so
    that fits of several palette sizes to the same points bin them once.
    """
    # Every image path (compress, quantize, shared palettes, size searches) comes through here.
    n_init, max_iter, tol = check_kmeans_options(n_init, max_iter, tol)
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    # A seed makes its generator only when a k-means++ draw needs it (about 20 us, a tenth of a
    # 32 x 32 image's fit, which draws nothing); anything else (a bool too) is checked now.
    seed_later = random_state is None or (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, (bool, np.bool_))
        and int(random_state) >= 0
    )
    rng = None if seed_later else check_random_state(random_state)
    cheap_starts, coarse_iter, fine_iter, passes = speed_settings(speed)
    # One decision for the whole problem: when it is large enough for the
    # compiled kernels, its coarse stages use them too (however small they are);
    # otherwise (None) each stage decides by its own size.
    compiled = True if X.shape[0] * n_colors >= _backend.MIN_WORK else None
    tol_abs = tolerance(X, w, tol, compiled)
    points, weights, cell = X, w, None
    if X.shape[0] >= _COARSE_MIN_POINTS:
        cells = int(np.clip(_COARSE_CELLS_PER_COLOR * n_colors, *_COARSE_CELLS))
        if speed == MAX_SPEED:  # the roughest fit: the smallest grid, one binning for every palette size
            cells = _COARSE_CELLS[0]
        if coarse_cache is not None and cells in coarse_cache:
            Xc, wc, cell_of_point = coarse_cache[cells]
        else:
            Xc, wc, cell_of_point = coarse_histogram(X, w, cells)
            if coarse_cache is not None:
                coarse_cache[cells] = (Xc, wc, cell_of_point)
        # speed 11 fits the coarse grid only, whatever it stands for
        direct = (
            speed < MAX_SPEED and X.shape[0] <= _DIRECT_MAX_POINTS and Xc.shape[0] < _DIRECT_CELLS_PER_COLOR * n_colors
        )
        if not direct and n_colors < Xc.shape[0] <= X.shape[0] // 2:
            points, weights, cell = Xc, wc, cell_of_point
    n_starts = max(1, n_init)
    if points.shape[0] * n_colors <= _CHEAP_START_WORK:
        # A start costs little here, and one split start can end a few per cent
        # above a k-means++ draw, so always try a few draws as well and keep the best.
        n_starts = max(n_starts, cheap_starts if cell is not None else min(cheap_starts, _DIRECT_STARTS))
    if cell is None:
        # Many pixels to a colour (a graphic, a gray image): a start costs little against the
        # image's own pixel passes, and one start can land in a poor optimum (scikit-image's logo,
        # 2,139 colours in 250,000 pixels, K = 8: MSE 36.45 against scikit-learn's 33.5; with a
        # second start 33.54): one more start per pixel a colour x palette entry.
        per_pixel = 1 + int(weights.sum()) // max(1, points.shape[0] * n_colors)
        n_starts = max(n_starts, min(cheap_starts, per_pixel))
    iters = max_iter if speed == 1 else min(max_iter, coarse_iter)
    # Hartigan's moves on a histogram fitted directly only: on a photo's coarse grid they gained
    # little (12 photos: MSE 0.999x, time 0.91-0.98x on the kernels) and their numpy twin, a loop
    # in Python, cost more than that: the sample photo at K = 16 took 0.27 s on numpy against
    # 0.12 s, close enough to ``_backend.FIRST_NUMPY_SECONDS`` that a busy machine loaded (on a
    # new install: compiled) the kernels for it.
    moves = passes if cell is None else 0
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    with _backend.one_thread_below(points.shape[0]):  # the thread count set once for all the starts
        for seed in range(n_starts):
            hint = None
            if seed == 0:  # its clusters are a hint for the first assignment
                centers0, hint = split_start(points, weights, n_colors, compiled)
            else:
                if rng is None:
                    rng = check_random_state(random_state)
                centers0 = plusplus_init(points, weights, n_colors, rng, compiled=compiled)
            if moves:  # Hartigan's moves, then Lloyd's iterations from where they stop
                if hint is None:
                    hint = nearest_labels(points, centers0, compiled)
                centers0, hint, _ = hartigan_moves(points, weights, centers0, hint, moves, compiled)
            labels, inertia, centers, _ = lloyd(
                points, weights, centers0, iters, tol_abs, labels_hint=hint, compiled=compiled
            )
            if best is None or inertia < best[0]:  # the lowest distortion wins; ties go to the earlier start
                best = (inertia, centers, labels)
    assert best is not None
    _, centers, labels = best
    if cell is None:
        return centers, labels
    if fine_iter == 0:  # the coarse fit only: each point takes its cell's centre
        return centers, labels[cell]
    labels, _, centers, _ = lloyd(
        X, w, centers, min(max_iter, fine_iter), tol_abs, labels_hint=labels[cell], compiled=compiled
    )
    return centers, labels


def gray_palette(levels: np.ndarray, weights: np.ndarray, n_colors: int) -> tuple[np.ndarray, np.ndarray]:
    """The best palette of ``n_colors`` integer grays for weighted gray ``levels`` (ascending,
    distinct, fewer than 2^53 / 65,025 pixels in all), and each level's entry: exact, not a local
    optimum.

    In one dimension the clusters of an optimal palette are runs of consecutive levels, so a
    dynamic program over the runs finds it: the error of a run is that of its weighted mean rounded
    to an integer (a quadratic's best integer point), from prefix sums that are exact integers in
    float64; ``best[k][j]`` is the least error of the first ``j`` levels in ``k`` runs. A gray image
    took the 3-D fit's single start, 9-19 % above this (scikit-image's grass at K = 64: 0.872
    against 0.733). ``(L + 1)^2`` sums a palette entry, L <= 256 levels: a few ms at K = 64.
    Ties go to the earliest cut (``argmin``): the same palette every run.

    Examples
    --------
    >>> centers, labels = gray_palette(np.array([0.0, 10, 11, 200]), np.array([5.0, 1, 1, 3]), 2)
    >>> centers[:, 0].tolist(), labels.tolist()
    ([3.0, 200.0], [0, 0, 0, 1])
    """
    v = np.asarray(levels, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = v.size
    k = min(int(n_colors), n)
    zero = np.zeros(1)
    W = np.concatenate([zero, np.cumsum(w)])
    S = np.concatenate([zero, np.cumsum(w * v)])
    Q = np.concatenate([zero, np.cumsum(w * v * v)])
    # cost[i, j]: the run of levels i .. j - 1 at its best integer centre; inf where i >= j
    with np.errstate(divide="ignore", invalid="ignore"):
        dw = W[None, :] - W[:, None]
        ds = S[None, :] - S[:, None]
        centre = np.rint(ds / dw)
        cost = (Q[None, :] - Q[:, None]) - 2.0 * centre * ds + centre * centre * dw
    cost[dw <= 0] = np.inf
    best = cost[0].copy()  # one run: levels 0 .. j - 1
    cuts = np.zeros((k, n + 1), dtype=np.intp)
    for r in range(1, k):
        total = best[:, None] + cost
        cuts[r] = np.argmin(total, axis=0)
        best = total[cuts[r], np.arange(n + 1)]
    bounds = [n]
    for r in range(k - 1, 0, -1):
        bounds.append(int(cuts[r][bounds[-1]]))
    bounds.append(0)
    bounds.reverse()
    centers = np.empty((k, 3))
    labels = np.empty(n, dtype=np.intp)
    for r in range(k):
        a, b = bounds[r], bounds[r + 1]
        centers[r] = np.rint((S[b] - S[a]) / (W[b] - W[a]))
        labels[a:b] = r
    return centers, labels
