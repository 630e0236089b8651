"""Nearest (``_nearest.py``): the nearest-centre searches agree with a brute-force search (exact on
uint8 colours, lowest index on ties; chunked for large palettes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kmeans_compress import _backend
from kmeans_compress._nearest import nearest_centers, nearest_palette, nearest_two, row_min
from strategies import float_points_and_centers, uint8_colors_and_palette


def _brute(X, C):
    d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return d


@settings(max_examples=150, deadline=None)
@given(float_points_and_centers())
def test_nearest_two_matches_brute_force(data):
    X, C = data
    d = _brute(X, C)
    labels, d1, d2 = nearest_two(X, C)
    scale = 1e-9 * (1 + (X**2).sum(axis=1).max() + (C**2).sum(axis=1).max())
    # The chosen centre is a nearest one (up to rounding of the expansion).
    assert np.all(d[np.arange(len(X)), labels] <= d.min(axis=1) + scale)
    assert np.allclose(d1, d.min(axis=1), atol=scale)
    if C.shape[0] > 1:
        second = np.sort(d, axis=1)[:, 1]
        assert np.allclose(d2, second, atol=scale)
    else:
        assert np.all(np.isinf(d2))


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.integers(1, 70)),
        elements=st.floats(allow_nan=False, width=64) | st.sampled_from([np.inf, -np.inf, 0.0, -0.0]),
    )
)
def test_row_min_equals_numpy_min(d):
    """The column-by-column minimum (narrow arrays) and numpy's row reduction (wide ones) give the
    same values, infinities (the searches' masked entries) included."""
    got = row_min(d)
    want = d.min(axis=1)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@settings(max_examples=150, deadline=None)
@given(uint8_colors_and_palette())
def test_nearest_palette_is_exact(data):
    colors, palette = data
    d = _brute(colors.astype(np.int64), palette.astype(np.int64))
    for min_work in (0, 1 << 62):  # the compiled search, then numpy's float32 products
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_backend, "MIN_WORK", min_work)
            labels, dist2 = nearest_palette(colors, palette)
        # Exact: the lowest-index nearest entry and the exact squared distance.
        assert np.array_equal(labels, np.argmin(d, axis=1))
        assert np.array_equal(dist2, d.min(axis=1))


def test_nearest_palette_large_palette_chunks(kernel_path):
    rng = np.random.default_rng(1)
    colors = rng.integers(0, 256, (20_000, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    labels, dist2 = nearest_palette(colors, palette)
    ref, _ = nearest_centers(colors.astype(np.float64), palette.astype(np.float64))
    d = _brute(colors[:2000].astype(np.int64), palette.astype(np.int64))
    assert np.array_equal(labels[:2000], np.argmin(d, axis=1))
    assert np.array_equal(dist2[:2000], d.min(axis=1))
    # Where float64 finds a strictly better centre, float32 must agree.
    assert np.mean(labels == ref) > 0.999


# --------------------------------------------------------------------- matrix products, many features
def _brute_force(X, C):
    d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)  # ties to the lowest index


@pytest.mark.parametrize("offset", [0.0, 1e6])
@pytest.mark.parametrize("n, d, k", [(3000, 16, 7), (5000, 40, 33), (300, 130, 256)])
def test_nearest_by_products_equals_brute_force(n, d, k, offset):
    from kmeans_compress._nearest import nearest_by_products

    rng = np.random.default_rng(n + d + k)
    X = rng.normal(size=(n, d)) + offset  # far from the origin: the expansion cancels digits
    C = X[rng.choice(n, k, replace=False)] + rng.normal(scale=1e-3, size=(k, d))
    labels = np.empty(n, dtype=np.intp)
    nearest_by_products(X, C, np.einsum("ij,ij->i", X, X), labels)
    assert np.array_equal(labels, _brute_force(X, C))


def test_nearest_by_products_ties_go_to_the_lowest_index():
    from kmeans_compress._nearest import nearest_by_products

    rng = np.random.default_rng(0)
    X = rng.integers(-3, 4, size=(4000, 20)).astype(float) + 1e5  # integer grid: many exact ties
    C = np.repeat(X[:6], 2, axis=0)  # every centre twice: the first copy must win
    labels = np.empty(len(X), dtype=np.intp)
    nearest_by_products(X, C, np.einsum("ij,ij->i", X, X), labels)
    assert np.array_equal(labels, _brute_force(X, C))
    assert (labels % 2 == 0).all()


@pytest.mark.parametrize("offset", [0.0, 1e6])
@pytest.mark.parametrize("n, d, k", [(3000, 16, 7), (2000, 8, 300), (300, 130, 256)])
def test_nearest_by_products_compiled_and_numpy_passes_agree(monkeypatch, n, d, k, offset):
    """The compiled pass over each block of products and the numpy one make the same decisions:
    both give a brute-force search's labels, also on an integer grid full of exact ties."""
    pytest.importorskip("numba")
    from kmeans_compress import _nearest
    from kmeans_compress._nearest import nearest_by_products

    rng = np.random.default_rng(n + d + k)
    for X in (rng.normal(size=(n, d)) + offset, rng.integers(-3, 4, size=(n, d)).astype(float) + offset):
        C = np.repeat(X[: (k + 1) // 2], 2, axis=0)[:k] + (0.0 if X[0, 0] % 1 == 0 else 1e-3)
        x_norm = np.einsum("ij,ij->i", X, X)
        compiled = np.empty(n, dtype=np.intp)
        nearest_by_products(X, C, x_norm, compiled)
        monkeypatch.setattr(_nearest, "settle_block_compiled", lambda work: None)
        numpy_labels = np.empty(n, dtype=np.intp)
        nearest_by_products(X, C, x_norm, numpy_labels)
        monkeypatch.undo()
        ref = _brute_force(X, C)
        assert np.array_equal(compiled, ref)
        assert np.array_equal(numpy_labels, ref)
