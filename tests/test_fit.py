"""Fit (``_fit.py``): points and weights in; float centres out (split start, k-means++ restarts,
coarse-to-fine Lloyd). Its quality is checked against scikit-learn's ``KMeans``, on the histogram
and on every pixel of a photo.

Lloyd's iterations themselves are in test_lloyd.py; both code paths are run by the ``kernel_path``
fixture (conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest
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


def test_quality_close_to_sklearn_on_all_pixels(photo):
    # The tutorial's method: scikit-learn KMeans on every pixel, random_state=0.
    px = photo.reshape(-1, 3).astype(np.float64)
    ref = SkKMeans(n_clusters=16, random_state=0, n_init=1).fit(px)
    ref_img = np.clip(np.rint(ref.cluster_centers_), 0, 255)[ref.labels_]
    ref_mse = float(np.mean((px - ref_img) ** 2))
    ours = compress(photo, n_colors=16).report.mse
    assert ours <= ref_mse * 1.10


@pytest.mark.parametrize("k", [2, 16, 64, 256])
def test_direct_fit_keeps_the_best_start(k):
    """A small histogram's starts (the split start, then k-means++ draws): the fit is the start of
    lowest inertia after Lloyd's iterations (ties: the earlier start), computed here one by one from
    the same generator, which the fit leaves in the same state."""
    pytest.importorskip("numba")
    from kmeans_compress import _fit
    from kmeans_compress._lloyd import lloyd, plusplus_init, split_start, tolerance

    img = synthetic_photo(40, 44, seed=k)
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    assert k < X.shape[0] < 20_000  # fitted directly, no coarse grid
    for n_init in (1, 3, 4):
        rng = np.random.default_rng(7)
        centers, labels = fit_palette(X, w, k, random_state=rng, n_init=n_init)
        after = rng.random()
        rng = np.random.default_rng(7)
        tol = tolerance(X, w, 1e-4)
        c0, hint = split_start(X, w, k, True)
        starts = [lloyd(X, w, c0, 300, tol, labels_hint=hint, compiled=True)]
        for _ in range(1, max(n_init, _fit._DIRECT_STARTS)):
            starts.append(lloyd(X, w, plusplus_init(X, w, k, rng, compiled=True), 300, tol, compiled=True))
        best = min(range(len(starts)), key=lambda i: (starts[i][1], i))
        assert np.array_equal(centers, starts[best][2]) and np.array_equal(labels, starts[best][0])
        assert after == rng.random()
