"""One image (``_compress.py``): ``compress``, ``compress_with_palette`` and ``CompressionResult``:
exact output when the image has few colours, identical bytes for the same seed, a smaller file
than the sample PNG, ``save`` never over a file, a given palette mapped pixel by pixel.

The stages it chains have their own modules (test_decode.py ... test_report.py); the quality and
size searches run through the command line in test_formats.py; a given palette on animations and
ICC profiles in test_batch.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.cluster import KMeans as SkKMeans

from _images import decoded_image
from kmeans_compress import (
    KMeans,
    UnsupportedImageError,
    compress,
    compress_with_palette,
    quantize,
    sample_image_path,
)


def test_fewer_distinct_colours_than_k_are_kept_exactly(tmp_path):
    img = np.zeros((10, 10, 3), np.uint8)
    img[:5] = (200, 10, 10)
    img[:, :3] = (0, 0, 255)
    result = compress(img, n_colors=16)
    assert result.palette.shape[0] == 3
    assert result.report.mse == 0 and result.report.psnr == float("inf")
    np.testing.assert_array_equal(result.image, img)
    assert "all kept, exactly" in result.report.format()
    assert result.report.to_dict()["psnr"] is None


def test_same_input_and_seed_give_identical_bytes(tmp_path):
    a = compress(sample_image_path(), n_colors=16, random_state=3).to_png_bytes()
    b = compress(sample_image_path(), n_colors=16, random_state=3).to_png_bytes()
    assert a == b


def test_sample_compresses_to_a_smaller_file(tmp_path):
    result = compress(sample_image_path(), n_colors=16)
    out = result.save(tmp_path / "s.png")
    assert out.stat().st_size < sample_image_path().stat().st_size
    assert result.report.file_ratio > 1
    assert result.report.bits_per_pixel == pytest.approx(8 * out.stat().st_size / (451 * 300))


def test_save_never_overwrites_without_permission(photo, tmp_path):
    target = tmp_path / "exists.png"
    target.write_bytes(b"keep me")
    result = compress(photo, n_colors=4)
    with pytest.raises(FileExistsError):
        result.save(target)
    assert target.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.png"]  # no temp file left
    result.save(target, overwrite=True)
    assert decoded_image(target).mode == "P"


@pytest.mark.parametrize(
    "bad, exc",
    [(0, ValueError), (257, ValueError), (-3, ValueError), (2.5, TypeError), ("16", TypeError)],
)
def test_bad_n_colors(photo, bad, exc):
    with pytest.raises(exc, match="n_colors"):
        compress(photo, n_colors=bad)


_BAD_KMEANS_OPTIONS = [
    ({"n_init": 0}, ValueError, "n_init must be an integer >= 1 (or 'auto'), got 0."),
    ({"n_init": -2}, ValueError, "n_init must be an integer >= 1 (or 'auto'), got -2."),
    ({"n_init": 2.0}, TypeError, "n_init must be an integer >= 1 (or 'auto'), got 2.0 of type float."),
    ({"n_init": "many"}, TypeError, "n_init must be an integer >= 1 (or 'auto'), got 'many' of type str."),
    ({"max_iter": 0}, ValueError, "max_iter must be an integer >= 1, got 0."),
    ({"max_iter": 1.5}, TypeError, "max_iter must be an integer >= 1, got 1.5 of type float."),
    ({"tol": -1}, ValueError, "tol must be a number >= 0, got -1."),
    ({"tol": float("nan")}, ValueError, "tol must be a number >= 0, got nan."),
    ({"tol": "small"}, ValueError, "tol must be a number >= 0, got 'small'."),
]


@pytest.mark.parametrize("options, exc, message", _BAD_KMEANS_OPTIONS, ids=lambda v: repr(v)[:30])
@pytest.mark.parametrize("function", [compress, quantize], ids=["compress", "quantize"])
def test_bad_kmeans_options_are_refused_as_kmeans_refuses_them(function, options, exc, message):
    # n_init=0, max_iter=0, tol=-1 and tol=nan were accepted silently, n_init='auto' raised
    # "'>' not supported between 'str' and 'int'": KMeans's checks and words, before any work.
    img = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    with pytest.raises(exc) as ours:
        function(img, 4, **options)
    with pytest.raises(exc) as estimator:
        KMeans(2, **options).fit(img.reshape(-1, 3).astype(float))
    assert str(ours.value) == str(estimator.value) == message


def test_n_init_auto_is_kmeans_auto_for_its_k_means_plus_plus_start(photo):
    # scikit-learn's 'auto' is one start with k-means++ (compress's own start is of that kind)
    assert SkKMeans(2, n_init="auto").fit(photo.reshape(-1, 3)[:50].astype(float))._n_init == 1
    auto = compress(photo, 8, n_init="auto")
    assert auto.to_png_bytes() == compress(photo, 8, n_init=1).to_png_bytes()
    assert np.array_equal(quantize(photo, 8, n_init="auto").indices, auto.labels)


@pytest.mark.parametrize("size", [(0, 0), (0, 5), (7, 0)])
def test_an_empty_pil_image_is_refused_as_an_empty_array(size):
    # a 0x0 PIL image raised ZeroDivisionError in the report; an empty array was already refused
    with pytest.raises(UnsupportedImageError, match=rf"the image is empty \(size {size[0]}x{size[1]}\)"):
        compress(Image.new("RGB", size), 4)
    with pytest.raises(UnsupportedImageError, match="empty"):
        compress_with_palette(Image.new("RGB", size), [[0, 0, 0]])


def test_compress_with_palette_maps_each_pixel_to_a_nearest_entry():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    pal = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    res = compress_with_palette(img, pal)
    d2 = ((img[:, :, None, :].astype(int) - pal[None, None].astype(int)) ** 2).sum(-1)
    chosen = np.take_along_axis(d2, res.labels[:, :, None].astype(int), axis=2)[:, :, 0]
    assert np.array_equal(chosen, d2.min(axis=2))
    assert res.report.mse == pytest.approx(d2.min(axis=2).sum() / img.size)
    assert np.array_equal(res.palette, pal)


def test_a_given_palette_refuses_transparency_instead_of_dropping_it():
    import numpy as np
    import pytest

    from kmeans_compress import OptionNotAllowedError, compress_with_palette

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    with pytest.raises(OptionNotAllowedError, match="transparency"):  # a usage error: the image is fine
        compress_with_palette(rgba, [[0, 0, 0], [255, 255, 255]])
    opaque = compress_with_palette(rgba[..., :3], [[0, 0, 0], [255, 255, 255]])
    assert opaque.palette.shape == (2, 3)


def test_a_loaded_image_keeps_its_histogram_and_gives_the_same_bytes_as_a_fresh_load():
    """Compressing one LoadedImage at several sizes (the web page's slider, the searches) reuses its
    colour histogram and coarse grids, and every result equals that of a fresh load."""
    from kmeans_compress import load_image

    path = sample_image_path()
    loaded = load_image(path)
    assert not loaded.derived
    for k in (16, 5, 64, 16):
        again = compress(loaded, k).to_png_bytes()
        assert "rgb_histogram" in loaded.derived
        assert again == compress(load_image(path), k).to_png_bytes()
    hist = loaded.derived["rgb_histogram"]
    compress(loaded, 8)
    assert loaded.derived["rgb_histogram"] is hist  # not rebuilt


def test_a_result_encodes_each_file_once():
    """A size search measures the file it keeps; writing it reuses those bytes (the lossless pass is slow)."""
    r = compress(sample_image_path(), 8)
    png = r.to_png_bytes()
    assert r.to_png_bytes() is png  # the same object: not encoded again
    assert r.encode("PNG", effort=0) is not png  # other settings, another file


def _nearest_entry_mse(img: np.ndarray, palette: np.ndarray) -> float:
    """Per-channel MSE of every pixel mapped to its nearest palette entry (brute force, exact integers)."""
    px = img.reshape(-1, 3).astype(np.int64)
    pal = palette.astype(np.int64)
    d2 = (px**2).sum(1)[:, None] - 2 * px @ pal.T + (pal**2).sum(1)[None, :]
    return float(d2.min(axis=1).sum()) / px.size


@pytest.mark.parametrize("options", [{}, {"fixed_colors": "#ff0000"}, {"space": "lab"}])
def test_a_dithered_result_reports_its_palettes_own_error(photo, options):
    """pngquant judges a palette by its error without dithering (--quality, --skip-if-larger): a dithered
    result carries it, the error of the same palette undithered."""
    plain = compress(photo, 8, **options)
    dithered = compress(photo, 8, dither=1.0, **options)
    assert plain.report.undithered_mse is None and plain.report.palette_quality == plain.report.quality
    assert dithered.report.mse > plain.report.mse  # the dithered pixels' error is another figure
    assert dithered.report.undithered_mse == pytest.approx(plain.report.mse, rel=1e-12)
    assert dithered.report.palette_quality == plain.report.quality
    if options.get("space", "rgb") == "rgb":  # nearest in RGB: an independent reference
        assert dithered.report.undithered_mse == pytest.approx(_nearest_entry_mse(photo, plain.palette), rel=1e-12)


def test_a_dithered_given_palette_reports_its_own_error(photo):
    pal = np.array([[0, 0, 0], [255, 255, 255], [200, 120, 60], [90, 110, 140]], np.uint8)
    r = compress_with_palette(photo, pal, dither=1.0)
    assert r.report.undithered_mse == pytest.approx(_nearest_entry_mse(photo, pal), rel=1e-12)
    assert r.report.mse > r.report.undithered_mse


def test_a_dithered_quality_search_reaches_the_quality_by_its_palette(photo):
    """--quality judges the palette without dithering (README): the report says it reached it."""
    from kmeans_compress import compress_to_quality

    plain = compress_to_quality(photo, 0, 80)
    dithered = compress_to_quality(photo, 0, 80, dither=1.0)
    assert dithered.report.n_colors == plain.report.n_colors
    assert dithered.report.palette_quality == plain.report.quality >= 80
    assert dithered.report.quality < dithered.report.palette_quality
