"""Decode (``_decode.py``): a path, bytes, a PIL image or an array in; RGB pixels, alpha, frames
and the ICC profile out.

Every input mode written as a file (gray, palette, 1-bit, 16-bit, CMYK, EXIF turn, animations,
multi-page TIFF) is checked end to end, through the command line, in test_modes.py and
test_modes_property.py; bad files of every kind in test_bad_input.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kmeans_compress import compress, load_image, sample_image_path


def test_path_pil_and_array_inputs_agree(tmp_path):
    path = sample_image_path()
    with Image.open(path) as im:
        pil = im.copy()
    arr = load_image(path).pixels
    r1, r2, r3 = (compress(x, n_colors=8) for x in (path, pil, arr))
    np.testing.assert_array_equal(r1.image, r2.image)
    np.testing.assert_array_equal(r1.image, r3.image)
    assert r1.report.input_bytes == path.stat().st_size and r3.report.input_bytes is None


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=200))
def test_library_random_bytes_raise_only_unsupported_image_error(data):
    from kmeans_compress import UnsupportedImageError, compress

    try:
        result = compress(data, n_colors=4)
    except UnsupportedImageError as exc:
        assert "<bytes>" in str(exc) and "\n" not in str(exc)
    else:
        assert result.palette.shape[0] <= 4


def test_rgb_pixels_copied_in_bands_equal_the_whole_image(monkeypatch):
    # Large RGB images are copied out of Pillow a band of rows at a time (memory); same pixels.
    from kmeans_compress import _decode

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (37, 23, 3), dtype=np.uint8)
    im = Image.fromarray(a)
    for band in (1, 23 * 5, 10**9):
        monkeypatch.setattr(_decode, "_BAND_PIXELS", band)
        got = _decode._rgb_pixels(im)
        assert got.flags["C_CONTIGUOUS"] and got.flags["WRITEABLE"]
        assert np.array_equal(got, a)
