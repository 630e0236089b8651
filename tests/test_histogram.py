"""Histogram (``_histogram.py``): RGB pixels in; distinct colours and their pixel counts out, and
the look-up from a pixel to its colour's row. Checked against ``numpy.unique`` and a per-pixel search.

That k-means on the weighted histogram is k-means on all pixels is checked in test_lloyd.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmeans_compress._histogram import color_histogram, merge_histograms, pack_rgb, pack_rgb_u32


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


# numpy's binary searches, the compiled look-up (from 8,192 pixels), the 2^24 table (from 32,768)
@pytest.mark.parametrize("shape", [(30, 40), (100, 120), (300, 200)])
@pytest.mark.parametrize("spread", [8, 256])  # few colours with ties of red and green, or any colour
def test_lookup_pixels_equals_lookup_of_packed_keys(shape, spread):
    rng = np.random.default_rng(5)
    img = (rng.integers(0, spread, size=shape + (3,)) * (248 // spread + 1)).astype(np.uint8)
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))
    values = rng.integers(0, 256, size=hist.n_colors).astype(np.uint8)
    want = hist.lookup(pack_rgb_u32(img.reshape(-1, 3)), values).reshape(shape)
    got = hist.lookup_pixels(img, values)
    assert got.shape == shape
    np.testing.assert_array_equal(got, want)
    # and independently: each pixel gets the value of its own colour
    j = np.searchsorted(hist.keys, pack_rgb(img.reshape(-1, 3)))
    np.testing.assert_array_equal(got.reshape(-1), values[j])


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
)
def test_merged_histograms_equal_the_histogram_of_all_pixels(data, cuts):
    px = np.array(data, dtype=np.uint8) * 60
    bounds = sorted({0, len(px), *[c for c in cuts if c < len(px)]})
    parts = [color_histogram(pack_rgb(px[a:b])) for a, b in zip(bounds, bounds[1:]) if b > a]
    merged = merge_histograms(parts[::-1])
    whole = color_histogram(pack_rgb(px))
    assert np.array_equal(merged.keys, whole.keys)
    assert np.array_equal(merged.counts, whole.counts)
    assert np.array_equal(merged.colors, whole.colors)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])
def test_pixel_histogram_in_place_and_in_chunks_matches_numpy_unique(monkeypatch, chunk):
    # pixel_histogram packs the keys and sorts them in place; the runs are found a chunk at a time
    from kmeans_compress import _histogram
    from kmeans_compress._histogram import pixel_histogram

    monkeypatch.setattr(_histogram, "_CHUNK_PIXELS", chunk)
    rng = np.random.default_rng(1)
    px = rng.integers(0, 4, (2_000, 3), dtype=np.uint8) * 85
    before = px.copy()
    h = pixel_histogram(px.reshape(40, 50, 3))
    ref_keys, ref_counts = np.unique(pack_rgb(px), return_counts=True)
    assert np.array_equal(h.keys, ref_keys) and np.array_equal(h.counts, ref_counts)
    assert np.array_equal(px, before)  # the pixels are not touched, only the packed keys
    keys = pack_rgb_u32(px)
    kept = keys.copy()
    assert np.array_equal(color_histogram(keys).counts, ref_counts)
    assert np.array_equal(keys, kept)  # without overwrite_keys the caller's keys stay as they were


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.integers(0, (1 << 24) - 1), min_size=0, max_size=3000),
    spread=st.sampled_from([1, 7, 4096, 1 << 12 + 1, 1 << 24]),
)
def test_compiled_radix_sort_of_keys_equals_numpy_sort(keys, spread):
    """The compiled radix sort of packed RGB keys (two digits of 12 bits) gives numpy's sorted
    array: any keys below 2^24, many repeated (a small spread) or few."""
    pytest.importorskip("numba")
    from kmeans_compress import _backend

    a = (np.array(keys, dtype=np.int64) % spread).astype(np.uint32)
    want = np.sort(a)
    got = a.copy()
    done = _backend.sort_keys_compiled(got)
    assert done == (a.size >= _backend.MIN_WORK)  # from MIN_WORK keys the kernel sorts them
    assert np.array_equal(got, want if done else a)


def test_compiled_radix_sort_refuses_what_it_cannot_sort(monkeypatch):
    """Nothing is touched, and numpy sorts instead: a key of 2^24 or more (found in the counting
    pass, before anything moves), more keys than SORT_KEYS_MAX (one key array held, not two),
    a strided or non-uint32 array. pixel_histogram gives numpy's histogram either way."""
    pytest.importorskip("numba")
    from kmeans_compress import _backend
    from kmeans_compress._histogram import pixel_histogram

    rng = np.random.default_rng(3)
    a = rng.integers(0, 1 << 24, 5000).astype(np.uint32)
    a[4321] = 1 << 24
    kept = a.copy()
    assert not _backend.sort_keys_compiled(a) and np.array_equal(a, kept)
    b = rng.integers(0, 1 << 24, 10_000).astype(np.uint32)
    assert not _backend.sort_keys_compiled(b[::2]) and not _backend.sort_keys_compiled(b.astype(np.int64))
    px = rng.integers(0, 5, (100, 60, 3), dtype=np.uint8) * 60
    ref_keys, ref_counts = np.unique(pack_rgb(px.reshape(-1, 3)), return_counts=True)
    for limit in (1 << 22, 1000):  # the radix sort, then numpy's in place
        monkeypatch.setattr(_backend, "SORT_KEYS_MAX", limit)
        h = pixel_histogram(px)
        assert np.array_equal(h.keys, ref_keys) and np.array_equal(h.counts, ref_counts)
    c = b.copy()
    assert not _backend.sort_keys_compiled(c) and np.array_equal(c, b)  # above the limit: untouched


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.integers(0, (1 << 24) - 1), min_size=1, max_size=3000),
    spread=st.sampled_from([1, 7, 255, 4096, 1 << 16 + 3, 1 << 24]),
)
def test_compiled_indexed_histogram_equals_numpy_unique(keys, spread):
    """The compiled histogram of a small image (three radix passes over the channels, moving pixel
    numbers) gives ``np.unique``'s distinct keys, inverse and counts, and the colours of those keys:
    pixels differing in any channel, many repeated or few."""
    pytest.importorskip("numba")
    from kmeans_compress import _backend
    from kmeans_compress._histogram import unpack_rgb

    _backend._load()
    a = np.array(keys, dtype=np.int64) % spread
    want_keys, want_index, want_counts = np.unique(a, return_inverse=True, return_counts=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_backend, "MIN_WORK", 0)
        got = _backend.indexed_histogram_compiled(unpack_rgb(a))
    assert got is not None
    colors, got_keys, got_index, got_counts = got
    assert got_keys.dtype == np.int64 and got_counts.dtype == np.int64 and got_index.dtype == np.intp
    assert np.array_equal(got_keys, want_keys) and np.array_equal(got_counts, want_counts)
    assert np.array_equal(got_index, want_index.reshape(-1))
    assert colors.dtype == np.uint8 and np.array_equal(colors, unpack_rgb(want_keys))


@pytest.mark.parametrize("path", ["numpy", "compiled"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (32, 32), (181, 181)])
def test_a_small_image_keeps_the_colour_of_every_pixel(path, shape, monkeypatch):
    """Below 32,768 pixels the histogram holds every pixel's colour (its index into ``colors``), on
    numpy and compiled alike; from there it holds none (the pixels are looked up again). Either way
    the histogram is ``np.unique``'s, and quantize's index map is each pixel's nearest entry."""
    from kmeans_compress import _backend
    from kmeans_compress._histogram import pixel_histogram
    from kmeans_compress._quantize import quantize

    if path == "compiled":
        pytest.importorskip("numba")
        _backend._load()
        monkeypatch.setattr(_backend, "MIN_WORK", 0)
    else:
        monkeypatch.setattr(_backend, "MIN_WORK", 1 << 62)
    rng = np.random.default_rng(shape[0])
    img = (rng.integers(0, 24, shape + (3,)) * 11).astype(np.uint8)
    h = pixel_histogram(img)
    ref_keys, ref_counts = np.unique(pack_rgb(img.reshape(-1, 3)), return_counts=True)
    assert np.array_equal(h.keys, ref_keys) and np.array_equal(h.counts, ref_counts)
    if img.shape[0] * img.shape[1] < 1 << 15:
        assert h.pixel_index is not None
        np.testing.assert_array_equal(h.colors[h.pixel_index], img.reshape(-1, 3))
    else:
        assert h.pixel_index is None
    q = quantize(img, 5)
    d2 = ((img.reshape(-1, 1, 3).astype(np.int64) - q.palette[None].astype(np.int64)) ** 2).sum(-1)
    assert np.array_equal(np.take_along_axis(d2, q.indices.reshape(-1, 1), 1)[:, 0], d2.min(1))
