"""Remap (``_remap.py``): pixels and a palette in; index map and squared error out, and
Floyd-Steinberg dithering. Every pixel is checked against a brute-force nearest search over the
palette; dithering against local averages of the input.
"""

from __future__ import annotations

import numpy as np
import pytest

from _images import synthetic_photo
from kmeans_compress import compress, quantize


@pytest.mark.parametrize("k", [1, 5, 16, 64])
def test_every_pixel_maps_to_its_nearest_palette_entry(k):
    img = synthetic_photo(50, 70, seed=k)
    q = quantize(img, k, random_state=0)
    px = img.reshape(-1, 3).astype(np.int64)
    pal = q.palette.astype(np.int64)
    d = ((px[:, None, :] - pal[None]) ** 2).sum(axis=2)
    got = d[np.arange(px.shape[0]), q.indices.reshape(-1)]
    assert np.array_equal(got, d.min(axis=1))
    assert q.sse == float(d.min(axis=1).sum())


def test_every_pixel_of_the_sample_photo_maps_to_its_nearest_palette_entry(photo):
    result = compress(photo, n_colors=12)
    px = photo.reshape(-1, 3).astype(np.int64)
    pal = result.palette.astype(np.int64)
    d = ((px[:, None, :] - pal[None, :, :]) ** 2).sum(axis=2)
    chosen = d[np.arange(len(px)), result.labels.ravel()]
    assert np.array_equal(chosen, d.min(axis=1))


def _blur(img: np.ndarray, r: int = 3) -> np.ndarray:
    f = img.astype(float)
    k = np.ones(2 * r + 1) / (2 * r + 1)
    f = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, f)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, f)


def test_dither_uses_the_kmeans_palette_and_keeps_local_averages():
    y, x = np.mgrid[0:64, 0:96]
    smooth = np.stack([x * 255 / 95, x * 255 / 95, y * 255 / 63], axis=2).astype(np.uint8)
    plain = compress(smooth, 4)
    # Full strength: the selective map diffuses near the bands of this ramp only (within
    # CONTOUR_RADIUS of them), so local averages improve less than with plain Floyd-Steinberg.
    dithered = compress(smooth, 4, dither=1.0)
    assert {tuple(c) for c in dithered.palette} <= {tuple(c) for c in plain.palette}
    err_plain = np.mean((_blur(plain.image) - _blur(smooth)) ** 2)
    err_dith = np.mean((_blur(dithered.image) - _blur(smooth)) ** 2)
    assert err_dith < err_plain * 0.75
    assert dithered.report.mse == pytest.approx(np.mean((dithered.image.astype(float) - smooth) ** 2))
