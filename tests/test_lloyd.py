"""The fast image path: same objective as all pixels, exact mapping, full palettes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kmeans_compress import quantize
from kmeans_compress._fit import fit_palette
from kmeans_compress._histogram import color_histogram, pack_rgb, pack_rgb_u32
from kmeans_compress._lloyd import lloyd, plusplus_init, tolerance

sklearn_cluster = pytest.importorskip("sklearn.cluster")


def _photo(h=60, w=80, seed=0):
    """A smooth synthetic 'photo' with noise: many distinct colours, repeated ones too."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 3 % 256, yy * 4 % 256, (xx + yy) * 2 % 256], axis=-1).astype(np.float64)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("k", [2, 7, 16])
def test_weighted_histogram_lloyd_equals_sklearn_on_all_pixels(k, kernel_path):
    img = _photo()
    pixels = img.reshape(-1, 3).astype(np.float64)
    hist = color_histogram(pack_rgb(img.reshape(-1, 3)))
    assert hist.n_colors < pixels.shape[0]  # the histogram really is smaller
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    init = plusplus_init(X, w, k, np.random.default_rng(3))
    tol = 1e-4
    _, inertia, centers, _ = lloyd(X, w, init, 300, tolerance(X, w, tol))
    ref = sklearn_cluster.KMeans(k, init=init, n_init=1, algorithm="lloyd", tol=tol).fit(pixels)
    np.testing.assert_allclose(centers, ref.cluster_centers_, rtol=0, atol=1e-6)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-9)


def test_lloyd_matches_sklearn_on_general_data(kernel_path):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(5000, centers=6, n_features=4, random_state=0)
    w = np.ones(len(X))
    init = X[np.random.default_rng(0).choice(len(X), 9, replace=False)]
    labels, inertia, centers, n_iter = lloyd(X, w, init, 300, 0.0)
    ref = sklearn_cluster.KMeans(9, init=init, n_init=1, algorithm="lloyd", tol=0).fit(X)
    np.testing.assert_allclose(centers, ref.cluster_centers_, atol=1e-9)
    assert np.array_equal(labels, ref.labels_)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-12)


def test_fit_palette_coarse_stage_is_no_worse_than_sklearn(kernel_path):
    # Enough distinct colours to take the coarse-to-fine route.
    img = _photo(200, 220, seed=2)
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    assert hist.n_colors >= 20_000
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    centers, _ = fit_palette(X, w, 16, random_state=0)
    d = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2).min(axis=1)
    ours = float(np.dot(w, d))
    ref = sklearn_cluster.KMeans(16, n_init=1, random_state=0).fit(X, sample_weight=w)
    assert ours <= ref.inertia_ * 1.01


@pytest.mark.parametrize("k", [1, 5, 16, 64])
def test_every_pixel_maps_to_its_nearest_palette_entry(k):
    img = _photo(50, 70, seed=k)
    q = quantize(img, k, random_state=0)
    px = img.reshape(-1, 3).astype(np.int64)
    pal = q.palette.astype(np.int64)
    d = ((px[:, None, :] - pal[None]) ** 2).sum(axis=2)
    got = d[np.arange(px.shape[0]), q.indices.reshape(-1)]
    assert np.array_equal(got, d.min(axis=1))
    assert q.sse == float(d.min(axis=1).sum())


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)),
        elements=st.integers(0, 3).map(lambda v: v * 85),
    ),
    st.integers(1, 40),
)
def test_palette_size_is_min_of_k_and_distinct(img, k):
    q = quantize(img, k, random_state=0)
    distinct = np.unique(img.reshape(-1, 3), axis=0).shape[0]
    assert q.palette.shape[0] == min(k, distinct)
    assert np.unique(q.palette, axis=0).shape[0] == q.palette.shape[0]


def test_palette_full_on_many_colours():
    img = _photo(120, 200, seed=5)
    for k in (16, 256):
        q = quantize(img, k, random_state=1)
        assert q.palette.shape[0] == k


def test_deterministic():
    img = _photo(120, 200, seed=6)
    a = quantize(img, 32, random_state=4)
    b = quantize(img, 32, random_state=4)
    assert np.array_equal(a.palette, b.palette) and np.array_equal(a.indices, b.indices)


def test_histogram_sort_path_matches_numpy_unique():
    rng = np.random.default_rng(0)
    px = rng.integers(0, 6, (300_000, 3), dtype=np.uint8) * 51
    keys = pack_rgb_u32(px)
    assert np.array_equal(keys, pack_rgb(px))
    h = color_histogram(keys)
    ref_keys, ref_counts = np.unique(pack_rgb(px), return_counts=True)
    assert np.array_equal(h.keys, ref_keys) and np.array_equal(h.counts, ref_counts)
    labels = np.arange(h.n_colors, dtype=np.int32)
    got = h.lookup(keys, labels)
    assert np.array_equal(h.keys[got], keys)


def test_split_init_hand_computed():
    from kmeans_compress._lloyd import split_init

    # Two pairs on a line: the first cut separates the pairs (error 1 left of 202),
    # the next one splits the heavier-error pair.
    X = np.array([[0.0], [1.0], [10.0], [13.0]])
    w = np.ones(4)
    np.testing.assert_allclose(np.sort(split_init(X, w, 2)[:, 0]), [0.5, 11.5])
    np.testing.assert_allclose(np.sort(split_init(X, w, 3)[:, 0]), [0.5, 10.0, 13.0])
    # Weights pull the mean: 3 x [0] and 1 x [4] in one cluster.
    np.testing.assert_allclose(split_init(np.array([[0.0], [4.0]]), np.array([3.0, 1.0]), 1), [[1.0]])


@given(st.integers(0, 10_000), st.integers(1, 40))
@settings(max_examples=40)
def test_split_init_gives_k_distinct_centres_inside_the_data(seed, k):
    from kmeans_compress._lloyd import split_init

    rng = np.random.default_rng(seed)
    X = rng.integers(0, 6, size=(rng.integers(1, 120), 3)).astype(np.float64)
    w = rng.integers(1, 9, size=len(X)).astype(np.float64)
    c = split_init(X, w, k)
    n_distinct = len(np.unique(X, axis=0))
    assert len(c) == min(k, n_distinct)
    assert len(np.unique(c, axis=0)) == len(c)
    assert (c >= X.min(axis=0) - 1e-9).all() and (c <= X.max(axis=0) + 1e-9).all()


@pytest.mark.parametrize("shape", [(30, 40), (300, 200)])  # below and above the table look-up threshold
def test_lookup_pixels_equals_lookup_of_packed_keys(shape):
    rng = np.random.default_rng(5)
    img = rng.integers(0, 8, size=shape + (3,), dtype=np.uint8) * 31
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    values = rng.integers(0, 256, size=hist.n_colors).astype(np.uint8)
    want = hist.lookup(pack_rgb_u32(img.reshape(-1, 3)), values).reshape(shape)
    got = hist.lookup_pixels(img, values)
    assert got.shape == shape
    np.testing.assert_array_equal(got, want)
    # and independently: each pixel gets the value of its own colour
    j = np.searchsorted(hist.keys, pack_rgb(img.reshape(-1, 3)))
    np.testing.assert_array_equal(got.reshape(-1), values[j])
