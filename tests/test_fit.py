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
def test_direct_fit_keeps_the_best_start_then_moves_points(k):
    """A small histogram's starts (the split start, then k-means++ draws): the start of lowest
    inertia after Lloyd's iterations (ties: the earlier start), computed here one by one from the
    same generator, which the fit leaves in the same state; then a pass of Hartigan's moves and,
    if a point moved, Lloyd's iterations again."""
    pytest.importorskip("numba")
    from kmeans_compress import _fit
    from kmeans_compress._lloyd import hartigan_moves, lloyd, plusplus_init, split_start, tolerance

    img = synthetic_photo(40, 44, seed=k)
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    assert k < X.shape[0] < 20_000  # fitted directly, no coarse grid
    moved_any = False
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
        ref_labels, _, ref_centers, _ = starts[best]
        moved_centers, moved_labels, moves = hartigan_moves(X, w, ref_centers, ref_labels, 1, compiled=True)
        if moves:
            moved_any = True
            again = lloyd(X, w, moved_centers, 300, tol, labels_hint=moved_labels, compiled=True)
            ref_labels, ref_centers = again[0], again[2]
        assert np.array_equal(centers, ref_centers) and np.array_equal(labels, ref_labels)
        assert after == rng.random()
    assert moved_any or k == 2


@pytest.mark.parametrize("k", [16, 64, 256])
def test_small_images_closer_than_sklearn_on_every_pixel(k):
    """Small images (fitted directly, one start and Hartigan's moves): the summed squared error over
    four 32 x 32 and 64 x 64 crops of the sample photo is below scikit-learn's ``KMeans`` (k-means++,
    ``random_state=0``) on all their pixels, each palette rounded to 0-255 and every pixel mapped to
    its nearest entry."""
    from kmeans_compress import load_image, quantize, sample_image_path

    full = load_image(sample_image_path()).pixels
    ours = ref = 0.0
    for y, x, n in ((0, 0, 32), (100, 200, 32), (60, 140, 64), (200, 300, 64)):
        img = np.ascontiguousarray(full[y : y + n, x : x + n])
        px = img.reshape(-1, 3).astype(np.float64)
        if len(np.unique(px, axis=0)) <= k:
            continue
        q = quantize(img, k)
        ours += float(((q.palette[q.indices].reshape(-1, 3).astype(np.float64) - px) ** 2).sum())
        sk = SkKMeans(k, random_state=0).fit(px)
        pal = np.clip(np.rint(sk.cluster_centers_), 0, 255)
        ref += float((((px[:, None, :] - pal[None]) ** 2).sum(axis=2)).min(axis=1).sum())
    assert ref > 0
    assert ours < ref
