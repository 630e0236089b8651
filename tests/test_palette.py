"""Palette (``_palette.py``): float centres in; distinct uint8 colours out. As many entries as asked
when the image has that many colours (the gap-fill), never more than its distinct colours, and with
transparency the alpha groups of least RGBA error (hand-computed). Checked on what
``quantize`` / ``compress`` return, against the input's own distinct colours.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from _images import synthetic_photo
from kmeans_compress import compress, quantize
from strategies import small_rgb_images


@given(small_rgb_images())
def test_palette_size_is_min_of_k_and_distinct_colours(img):
    distinct = np.unique(img.reshape(-1, 3), axis=0).shape[0]
    for k in (1, 3, 8):
        q = quantize(img, k)
        assert q.palette.shape[0] == min(k, distinct)
        assert q.exact == (distinct <= k)
        assert len(np.unique(q.palette, axis=0)) == q.palette.shape[0]
        if q.exact:
            np.testing.assert_array_equal(q.rebuild(), img)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)),
        elements=st.integers(0, 3).map(lambda v: v * 85),
    ),
    st.integers(1, 40),
)
def test_palette_size_is_min_of_k_and_distinct_for_k_up_to_40(img, k):
    q = quantize(img, k, random_state=0)
    distinct = np.unique(img.reshape(-1, 3), axis=0).shape[0]
    assert q.palette.shape[0] == min(k, distinct)
    assert np.unique(q.palette, axis=0).shape[0] == q.palette.shape[0]


def test_palette_full_on_many_colours():
    img = synthetic_photo(120, 200, seed=5)
    for k in (16, 256):
        q = quantize(img, k, random_state=1)
        assert q.palette.shape[0] == k


def _three_alpha_groups() -> tuple[np.ndarray, np.ndarray]:
    """10 transparent pixels, 3 of (200, 200, 200) at alpha 128, 20 of (200, 200, 200) opaque."""
    rgba = np.zeros((1, 33, 4), np.uint8)
    rgba[0, :10] = (30, 60, 90, 0)
    rgba[0, 10:13] = (200, 200, 200, 128)
    rgba[0, 13:] = (200, 200, 200, 255)
    return rgba, rgba[0, :, 3]


def test_k_below_alpha_groups_keeps_the_groups_of_lowest_rgba_error():
    rgba, _ = _three_alpha_groups()
    # Hand-computed squared RGBA errors (transparent pixels count as (0, 0, 0, 0)):
    # K = 1, keep transparent: 20 * (3 * 200^2 + 255^2) + 3 * (3 * 200^2 + 128^2) = 4,109,652
    #        keep partly:      20 * 127^2 + 10 * (3 * 200^2 + 128^2)             = 1,686,420  <- lowest
    #        keep opaque:      3 * 127^2 + 10 * (3 * 200^2 + 255^2)              = 1,898,637
    one = compress(rgba, n_colors=1)
    assert one.palette.tolist() == [[200, 200, 200, 128]]
    assert one.report.mse * 33 * 4 == pytest.approx(1_686_420)
    # K = 2: {opaque, transparent} costs 3 * 127^2 = 48,387 (the partly transparent pixels
    # go to the opaque entry), {opaque, partly} 10 * 136,384, {partly, transparent} 20 * 127^2.
    two = compress(rgba, n_colors=2)
    assert sorted(two.palette.tolist()) == [[0, 0, 0, 0], [200, 200, 200, 255]]
    rebuilt = two.image[0]
    assert (rebuilt[:10, 3] == 0).all()
    assert (rebuilt[10:] == (200, 200, 200, 255)).all()
    assert two.report.mse * 33 * 4 == pytest.approx(3 * 127**2)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 300).flatmap(
        lambda n: st.sampled_from([3, 4]).flatmap(
            lambda c: arrays(np.uint8, (n, c), elements=st.integers(0, 255) | st.sampled_from([0, 1, 254, 255]))
        )
    )
)
def test_unique_rows_is_numpys_unique_rows(entries):
    """The palette's distinct sorted rows (packed keys for RGB) are numpy's ``unique(axis=0)``."""
    from kmeans_compress._palette import _unique_rows

    got = _unique_rows(entries)
    assert got.dtype == np.uint8 and np.array_equal(got, np.unique(entries, axis=0))


@pytest.mark.parametrize("k", [8, 40])
def test_fit_around_is_lloyd_with_the_fixed_entries_pinned(kernel_path, k):
    """``fit_around``'s free entries are Lloyd's iterations to convergence from its start in which
    the fixed entries take their share of the colours but never move: computed here by brute force
    (every distance on differences, ties to the lowest index, sums in index order), from the same
    start, then rounded as ``fit_around`` rounds."""
    from kmeans_compress._fit import fit_palette
    from kmeans_compress._histogram import color_histogram, pack_rgb_u32
    from kmeans_compress._palette import fit_around, round_palette

    img = synthetic_photo(48, 52, seed=k)
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    colors, counts = hist.colors, hist.counts
    fixed = np.array([[255, 255, 255], [0, 0, 0], [200, 30, 40]], dtype=np.uint8)
    got = fit_around(colors, counts, fixed, k)

    X = colors.astype(np.float64)
    w = counts.astype(np.float64)
    f = fixed.astype(np.float64)
    d2 = ((X[:, None, :] - f[None]) ** 2).sum(axis=2).min(axis=1)
    far = d2 > 0
    free, _ = fit_palette(X[far], w[far] * d2[far], k - 3, random_state=0)
    labels = None
    for _ in range(300):
        centers = np.vstack([f, free])
        new_labels = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        weight = np.bincount(labels, weights=w, minlength=k)
        for j in range(3, k):
            if weight[j] > 0:
                free[j - 3] = [np.bincount(labels, weights=w * X[:, c], minlength=k)[j] / weight[j] for c in range(3)]
    want = round_palette(np.vstack([f, free]), colors, counts, k)
    np.testing.assert_array_equal(got, want)
    assert all((got == row).all(axis=1).any() for row in fixed)
