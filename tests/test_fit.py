"""Fit (``_fit.py``): points and weights in; float centres out (split start, k-means++ restarts,
coarse-to-fine Lloyd). Its quality is checked against scikit-learn's ``KMeans``, on the histogram
and on every pixel of a photo.

Lloyd's iterations themselves are in test_lloyd.py; both code paths are run by the ``kernel_path``
fixture (conftest.py).
"""

from __future__ import annotations

import numpy as np
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
