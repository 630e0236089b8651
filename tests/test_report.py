"""Report (``_report.py``): a loaded image and its quantization in; the tutorial's bit counts, file
bytes, MSE and PSNR out. Checked against the tutorial's own figures, hand-computed values and the
decoded output file.
"""

from __future__ import annotations

import numpy as np
import pytest

from _images import decoded_image
from kmeans_compress import compress, mse, psnr, tutorial_bits


def test_tutorial_storage_arithmetic_128x128_k16():
    assert tutorial_bits(128 * 128, 16) == (393_216, 65_920)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    report = compress(img, n_colors=16).report
    assert (report.original_bits, report.compressed_bits) == (393_216, 65_920)
    assert report.tutorial_ratio == pytest.approx(393_216 / 65_920)


def test_report_mse_and_psnr_match_decoded_file(photo, tmp_path):
    result = compress(photo, n_colors=8)
    out = result.save(tmp_path / "o.png")
    decoded = np.asarray(decoded_image(out).convert("RGB"))
    expected = float(np.mean((photo.astype(float) - decoded.astype(float)) ** 2))
    assert result.report.mse == pytest.approx(expected, rel=1e-12)
    assert result.report.psnr == pytest.approx(10 * np.log10(255**2 / expected))
    assert mse(photo, decoded) == pytest.approx(expected)


def test_psnr_and_mse_hand_computed():
    assert psnr(0.0) == float("inf")
    assert psnr(255.0**2) == pytest.approx(0.0)
    a = np.array([[[0, 0, 0]]], np.uint8)
    b = np.array([[[3, 4, 0]]], np.uint8)
    assert mse(a, b) == pytest.approx(25 / 3)


@pytest.mark.parametrize(
    ("input_bytes", "output_bytes", "expected"), [(200, 100, "2.00x smaller"), (100, 141, "1.41x LARGER")]
)
def test_file_size_line_says_larger_when_the_output_grew(input_bytes, output_bytes, expected):
    # A small JPEG can give a larger PNG: the line must say so, not "0.71x smaller".
    from dataclasses import replace

    report = compress(np.zeros((4, 4, 3), np.uint8), n_colors=2).report
    text = replace(report, input_bytes=input_bytes, output_bytes=output_bytes).format()
    assert expected in text
    assert ("smaller" in text) == ("smaller" in expected)


@pytest.mark.parametrize(
    ("args", "exc", "message"),
    [
        ((100, 2.5), TypeError, "n_colors must be an integer >= 1, got 2.5 of type float."),
        ((True, 16), TypeError, "n_pixels must be an integer >= 0, got True of type bool."),
        ((100.5, 16), TypeError, "n_pixels must be an integer >= 0, got 100.5 of type float."),
        ((-1, 16), ValueError, "n_pixels must be an integer >= 0, got -1."),
        ((100, 0), ValueError, "n_colors must be an integer >= 1, got 0."),
    ],
)
def test_tutorial_bits_takes_integers_only(args, exc, message):
    # A fraction or a bool was counted as if it were a number of pixels or colours.
    with pytest.raises(exc) as err:
        tutorial_bits(*args)
    assert str(err.value) == message


def test_tutorial_bits_accepts_numpy_integers():
    # Hand-computed: 100 pixels x 24 bits; 16 x 24 bits of palette + 100 x 4 bits of index.
    assert tutorial_bits(np.int64(100), np.uint8(16)) == (2400, 784)
    assert tutorial_bits(0, 1) == (0, 24)
