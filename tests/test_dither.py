"""Dithering: strength, the selective map, the colour space, and the compiled kernel against its numpy twin."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_compress import compress, quantize, quantize_image
from kmeans_compress._remap import check_dither, dither_indices, dither_map
from kmeans_compress._report import ssim


def _ramp(h: int = 40, w: int = 96) -> np.ndarray:
    x = np.linspace(0, 255, w)
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = np.rint(x)[None, :]
    img[..., 1] = np.rint(x * 0.5 + 60)[None, :]
    img[..., 2] = 90
    return img


@pytest.mark.parametrize("space", ["rgb", "lab", "oklab"])
@pytest.mark.parametrize("selective", [True, False])
def test_compiled_kernel_equals_numpy_loop(photo, space, selective):
    pytest.importorskip("numba")
    img = photo[:48, :64].copy()
    pal = quantize(img, 12).palette
    a = dither_indices(img, pal, 0.8, space=space, selective=selective, compiled=False)
    b = dither_indices(img, pal, 0.8, space=space, selective=selective, compiled=True)
    np.testing.assert_array_equal(a, b)


def test_strength_zero_is_the_nearest_mapping(photo):
    q = quantize(photo, 16)
    idx = dither_indices(photo, q.palette, 0.0, guess=q.indices)
    np.testing.assert_array_equal(q.palette[idx].reshape(photo.shape), q.rebuild())


def test_weight_zero_everywhere_is_the_nearest_mapping(photo):
    q = quantize(photo, 16)
    img = photo
    d = dither_indices(img, q.palette, 1.0, selective=False, compiled=False)
    assert (d != q.indices.reshape(-1)).any()  # full diffusion changes pixels ...
    idx0 = dither_indices(img, q.palette, 0.0)  # ... none at all gives the nearest entries
    pal = q.palette.astype(int)
    d2 = ((img.reshape(-1, 1, 3).astype(int) - pal[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(d2[np.arange(d2.shape[0]), idx0], d2.min(axis=1))


def test_map_is_zero_on_flat_areas_and_sharp_edges_and_positive_on_a_banded_ramp():
    flat = np.full((30, 30, 3), 100, np.uint8)
    flat[:, 15:] = 200  # a sharp edge between two flat areas
    pal = np.array([[100, 100, 100], [200, 200, 200], [150, 150, 150]], np.float64)
    guess = np.where(flat[..., 0] == 100, 0, 1)
    assert not dither_map(flat.astype(np.float64), guess, pal).any()
    ramp = _ramp()
    q = quantize(ramp, 6)
    m = dither_map(ramp.astype(np.float64), q.indices.astype(np.intp), q.palette.astype(np.float64))
    assert m.max() > 0.5 and (m == 0).any()


def test_dithering_a_ramp_reduces_banding_error_in_local_means():
    ramp = _ramp()
    plain = compress(ramp, 4)
    dith = compress(ramp, 4, dither=1.0)

    # averaged over 8-pixel columns, the dithered image follows the ramp more closely
    def col_mean_err(img):
        a = img.astype(float).reshape(ramp.shape[0], -1, 8, 3).mean(axis=2)
        b = ramp.astype(float).reshape(ramp.shape[0], -1, 8, 3).mean(axis=2)
        return np.abs(a - b).mean()

    assert col_mean_err(dith.image) < col_mean_err(plain.image)


def test_strength_and_bool_forms():
    assert check_dither(False) == 0.0 and check_dither(0) == 0.0
    assert check_dither(True) == check_dither(np.True_) > 0
    assert check_dither(0.25) == 0.25
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            check_dither(bad)
    with pytest.raises(TypeError):
        check_dither("strong")


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_deterministic_and_never_more_colours(photo, space):
    a = compress(photo, 16, dither=0.7, space=space)
    b = compress(photo, 16, dither=0.7, space=space)
    assert a.encode() == b.encode()
    assert a.palette.shape[0] <= 16


def test_true_is_the_default_strength(photo):
    from kmeans_compress._remap import DEFAULT_DITHER

    a = quantize_image(photo, 16, dither=True)
    b = quantize_image(photo, 16, dither=DEFAULT_DITHER)
    np.testing.assert_array_equal(a.indices, b.indices)


def test_gentle_dithering_keeps_ssim_near_the_undithered(photo):
    plain = compress(photo, 16)
    soft = compress(photo, 16, dither=0.3)
    full = compress(photo, 16, dither=1.0)
    assert ssim(photo, soft.image) >= ssim(photo, full.image) - 1e-9
    assert soft.report.mse <= full.report.mse * 1.05 + 1e-9
    del plain


@pytest.mark.parametrize("strength", [0.01, 0.5, 1.0])
def test_pixels_of_weight_zero_keep_the_plain_mapping_ties_and_all(kernel_path, strength):
    """A flat image has a dither map of zeros: at any strength each pixel keeps the undithered
    mapping's entry, also where two entries are equally near (100 is as far from 0 as from 200;
    the plain mapping breaks ties to the smaller colour, the search to the lower index)."""
    from kmeans_compress import compress_with_palette

    img = np.full((16, 16, 3), [100, 0, 0], np.uint8)
    palette = [[200, 0, 0], [0, 0, 0]]
    plain = compress_with_palette(img, palette, dither=0)
    dithered = compress_with_palette(img, palette, dither=strength)
    np.testing.assert_array_equal(dithered.palette[dithered.labels], plain.palette[plain.labels])
    assert (plain.palette[plain.labels] == [0, 0, 0]).all()  # the smaller colour of the tie
