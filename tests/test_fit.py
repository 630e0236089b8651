"""Fit (``_fit.py``): points and weights in; float centres out (split start, k-means++ restarts,
coarse-to-fine Lloyd). Its quality is checked against scikit-learn's ``KMeans``, on the histogram
and on every pixel of a photo.

Lloyd's iterations themselves are in test_lloyd.py; both code paths are run by the ``kernel_path``
fixture (conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans as SkKMeans

from _images import synthetic_photo
from kmeans_compress import compress
from kmeans_compress._fit import fit_palette
from kmeans_compress._histogram import color_histogram, pack_rgb_u32


def test_fit_palette_coarse_stage_is_no_worse_than_sklearn(kernel_path):
    # Enough distinct colours to take the coarse-to-fine route.
    img = synthetic_photo(200, 220, seed=2)
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    assert hist.n_colors >= 20_000
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    centers, _ = fit_palette(X, w, 16, random_state=0)
    d = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2).min(axis=1)
    ours = float(np.dot(w, d))
    ref = SkKMeans(16, n_init=1, random_state=0).fit(X, sample_weight=w)
    assert ours <= ref.inertia_ * 1.01


def test_few_cells_per_entry_fit_the_histogram_directly(kernel_path, monkeypatch):
    """From 20,000 colours a fit goes through a coarse grid, unless there are at most
    ``_DIRECT_MAX_POINTS`` colours filling fewer than ``_DIRECT_CELLS_PER_COLOR`` of its cells per
    palette entry: then the histogram is fitted as a small one is (no grid at all); with many cells
    per entry, the coarse route stays. Each result equals the one of the route forced."""
    from kmeans_compress import _fit, load_image, sample_image_path

    img = load_image(sample_image_path()).pixels  # a photo: 32,584 colours in few cells
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    assert 20_000 <= X.shape[0] <= _fit._DIRECT_MAX_POINTS
    for k in (16, 256):
        cells = int(np.clip(_fit._COARSE_CELLS_PER_COLOR * k, *_fit._COARSE_CELLS))
        occupied = _fit.coarse_histogram(X, w, cells)[0].shape[0]
        direct = occupied < _fit._DIRECT_CELLS_PER_COLOR * k
        got = fit_palette(X, w, k, random_state=0)
        with monkeypatch.context() as m:
            if direct:
                m.setattr(_fit, "_COARSE_MIN_POINTS", X.shape[0] + 1)  # no grid
            else:
                m.setattr(_fit, "_DIRECT_MAX_POINTS", 0)  # the grid whatever it holds
            forced = fit_palette(X, w, k, random_state=0)
            m.setattr(_fit, "_COARSE_MIN_POINTS", X.shape[0] + 1)
            m.setattr(_fit, "_DIRECT_MAX_POINTS", 0)
        np.testing.assert_array_equal(got[0], forced[0])
        np.testing.assert_array_equal(got[1], forced[1])
        assert direct == (k == 256), (k, occupied)  # this image: few cells an entry at K = 256 only
        # and at speed 11 the grid is kept whatever it holds
        with monkeypatch.context() as m:
            m.setattr(_fit, "_DIRECT_MAX_POINTS", 0)
            fast = fit_palette(X, w, k, random_state=0, speed=_fit.MAX_SPEED)
        np.testing.assert_array_equal(fit_palette(X, w, k, random_state=0, speed=_fit.MAX_SPEED)[0], fast[0])


def test_quality_close_to_sklearn_on_all_pixels(photo):
    # The tutorial's method: scikit-learn KMeans on every pixel, random_state=0.
    px = photo.reshape(-1, 3).astype(np.float64)
    ref = SkKMeans(n_clusters=16, random_state=0, n_init=1).fit(px)
    ref_img = np.clip(np.rint(ref.cluster_centers_), 0, 255)[ref.labels_]
    ref_mse = float(np.mean((px - ref_img) ** 2))
    ours = compress(photo, n_colors=16).report.mse
    assert ours <= ref_mse * 1.10


@pytest.mark.parametrize("k", [2, 16, 64, 256])
def test_direct_fit_is_each_start_moved_then_iterated_and_the_best_kept(k):
    """A small histogram's starts (the split start, then k-means++ draws), each through Hartigan's
    moves (from the split's clusters, or every point's nearest centre found here by brute force)
    and then Lloyd's iterations: the fit is the start of lowest inertia (ties: the earlier start),
    computed here one by one from the same generator, which the fit leaves in the same state."""
    pytest.importorskip("numba")
    from kmeans_compress import _fit
    from kmeans_compress._lloyd import hartigan_moves, lloyd, plusplus_init, split_start, tolerance

    img = synthetic_photo(40, 44, seed=k)
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    assert k < X.shape[0] < 20_000  # fitted directly, no coarse grid
    passes = _fit.speed_settings(1)[3]
    assert passes > 0
    for n_init in (1, 3, 4):
        rng = np.random.default_rng(7)
        centers, labels = fit_palette(X, w, k, random_state=rng, n_init=n_init)
        after = rng.random()
        rng = np.random.default_rng(7)
        tol = tolerance(X, w, 1e-4)
        starts = []
        for i in range(max(n_init, _fit._DIRECT_STARTS)):
            if i == 0:
                c0, hint = split_start(X, w, k, True)
            else:
                c0 = plusplus_init(X, w, k, rng, compiled=True)
                hint = (((X[:, None, :] - c0[None]) ** 2).sum(axis=2)).argmin(axis=1)
            c1, l1, _ = hartigan_moves(X, w, c0, hint, passes, compiled=True)
            starts.append(lloyd(X, w, c1, 300, tol, labels_hint=l1, compiled=True))
        best = min(range(len(starts)), key=lambda i: (starts[i][1], i))
        assert np.array_equal(centers, starts[best][2]) and np.array_equal(labels, starts[best][0])
        assert after == rng.random()


@pytest.mark.parametrize("k", [16, 64, 256])
def test_small_images_closer_than_sklearn_on_every_pixel(k):
    """Small images (fitted directly: one start, Hartigan's moves, Lloyd's iterations): over 16
    crops of the sample photo at places drawn at random (eight of 32 x 32, eight of 64 x 64), the
    mean of our squared error over scikit-learn's is below 1. scikit-learn: ``KMeans``
    (k-means++, ``random_state=0``) on all the crop's pixels; each palette rounded to 0-255 and
    every pixel mapped to its nearest entry. Single crops may go either way."""
    from kmeans_compress import load_image, quantize, sample_image_path

    full = load_image(sample_image_path()).pixels
    rng = np.random.default_rng(0)
    ratios = []
    for n in (32, 64):
        for _ in range(8):
            y, x = int(rng.integers(0, full.shape[0] - n)), int(rng.integers(0, full.shape[1] - n))
            img = np.ascontiguousarray(full[y : y + n, x : x + n])
            px = img.reshape(-1, 3).astype(np.float64)
            if len(np.unique(px, axis=0)) <= k:
                continue
            q = quantize(img, k)
            ours = float(((q.palette[q.indices].reshape(-1, 3).astype(np.float64) - px) ** 2).sum())
            sk = SkKMeans(k, random_state=0).fit(px)
            pal = np.clip(np.rint(sk.cluster_centers_), 0, 255)
            ratios.append(ours / float((((px[:, None, :] - pal[None]) ** 2).sum(axis=2)).min(axis=1).sum()))
    assert len(ratios) >= 12
    assert np.mean(ratios) < 1.0


def _brute_gray_cost(levels, weights, k):
    """Least error of k runs of consecutive levels, each at its best integer centre, trying
    every set of cuts (an optimal 1-D palette's clusters are such runs)."""
    from itertools import combinations

    n = len(levels)
    best = np.inf
    for cuts in combinations(range(1, n), k - 1):
        bounds = (0, *cuts, n)
        total = 0
        for a, b in zip(bounds[:-1], bounds[1:]):
            v, w = levels[a:b], weights[a:b]
            mean = (v * w).sum() / w.sum()
            c = min((int(np.floor(mean)), int(np.ceil(mean))), key=lambda c: ((v - c) ** 2 * w).sum())
            total += int(((v - c) ** 2 * w).sum())
        best = min(best, total)
    return best


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 255), min_size=2, max_size=11, unique=True),
    st.lists(st.integers(1, 50), min_size=11, max_size=11),
    st.integers(1, 5),
)
def test_gray_palette_is_the_exact_optimum(levels, weights, k):
    from kmeans_compress._fit import gray_palette

    v = np.array(sorted(levels), dtype=np.int64)
    w = np.array(weights[: v.size], dtype=np.int64)
    k = min(k, v.size)
    centers, labels = gray_palette(v.astype(float), w.astype(float), k)
    assert centers.shape == (k, 3) and (centers[:, 0] == centers[:, 1]).all() and (centers[:, 1] == centers[:, 2]).all()
    assert np.array_equal(labels, np.sort(labels)) and set(labels.tolist()) == set(range(k))  # runs, none empty
    got = int((w * (v - centers[labels, 0].astype(np.int64)) ** 2).sum())
    assert got == _brute_gray_cost(v, w, k)
