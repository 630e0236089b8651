"""compress(): palette, index map, report arithmetic and the written PNG, checked on decoded pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from PIL import Image
from sklearn.cluster import KMeans as SkKMeans

from kmeans_compress import compress, load_image, mse, psnr, quantize, sample_image_path, tutorial_bits
from strategies import small_rgb_images


def _decode(path_or_bytes):
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as im:
        im.load()
        return im.copy()


def _png_bit_depth(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return data[24]


def test_tutorial_storage_arithmetic_128x128_k16():
    assert tutorial_bits(128 * 128, 16) == (393_216, 65_920)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    report = compress(img, n_colors=16).report
    assert (report.original_bits, report.compressed_bits) == (393_216, 65_920)
    assert report.tutorial_ratio == pytest.approx(393_216 / 65_920)


@pytest.mark.parametrize("k, depth", [(1, 1), (2, 1), (3, 2), (4, 2), (9, 4), (16, 4), (17, 8), (64, 8), (256, 8)])
def test_written_png_is_indexed_with_smallest_bit_depth(photo, tmp_path, k, depth):
    result = compress(photo, n_colors=k)
    out = result.save(tmp_path / "out.png")
    data = out.read_bytes()
    assert _png_bit_depth(data) == depth
    assert data[25] == 3  # colour type 3: indexed
    im = _decode(out)
    assert im.mode == "P"
    pal = np.frombuffer(im.palette.tobytes(), np.uint8).reshape(-1, 3)
    assert pal.shape[0] == result.palette.shape[0] == k
    # The file may order the entries for deflate (same pixels): the same entries, in any order.
    np.testing.assert_array_equal(np.unique(pal, axis=0), np.unique(result.palette, axis=0))
    np.testing.assert_array_equal(np.asarray(im.convert("RGB")), result.image)
    assert result.report.output_bytes == len(data)


def test_report_mse_and_psnr_match_decoded_file(photo, tmp_path):
    result = compress(photo, n_colors=8)
    out = result.save(tmp_path / "o.png")
    decoded = np.asarray(_decode(out).convert("RGB"))
    expected = float(np.mean((photo.astype(float) - decoded.astype(float)) ** 2))
    assert result.report.mse == pytest.approx(expected, rel=1e-12)
    assert result.report.psnr == pytest.approx(10 * np.log10(255**2 / expected))
    assert mse(photo, decoded) == pytest.approx(expected)


def test_every_pixel_maps_to_its_nearest_palette_entry(photo):
    result = compress(photo, n_colors=12)
    px = photo.reshape(-1, 3).astype(np.int64)
    pal = result.palette.astype(np.int64)
    d = ((px[:, None, :] - pal[None, :, :]) ** 2).sum(axis=2)
    chosen = d[np.arange(len(px)), result.labels.ravel()]
    assert np.array_equal(chosen, d.min(axis=1))


def test_quality_close_to_sklearn_on_all_pixels(photo):
    # The tutorial's method: scikit-learn KMeans on every pixel, random_state=0.
    px = photo.reshape(-1, 3).astype(np.float64)
    ref = SkKMeans(n_clusters=16, random_state=0, n_init=1).fit(px)
    ref_img = np.clip(np.rint(ref.cluster_centers_), 0, 255)[ref.labels_]
    ref_mse = float(np.mean((px - ref_img) ** 2))
    ours = compress(photo, n_colors=16).report.mse
    assert ours <= ref_mse * 1.10


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


def test_path_pil_and_array_inputs_agree(tmp_path):
    path = sample_image_path()
    with Image.open(path) as im:
        pil = im.copy()
    arr = load_image(path).pixels
    r1, r2, r3 = (compress(x, n_colors=8) for x in (path, pil, arr))
    np.testing.assert_array_equal(r1.image, r2.image)
    np.testing.assert_array_equal(r1.image, r3.image)
    assert r1.report.input_bytes == path.stat().st_size and r3.report.input_bytes is None


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
    assert _decode(target).mode == "P"


@pytest.mark.parametrize(
    "bad, exc",
    [(0, ValueError), (257, ValueError), (-3, ValueError), (2.5, TypeError), ("16", TypeError)],
)
def test_bad_n_colors(photo, bad, exc):
    with pytest.raises(exc, match="n_colors"):
        compress(photo, n_colors=bad)


def test_psnr_and_mse_hand_computed():
    assert psnr(0.0) == float("inf")
    assert psnr(255.0**2) == pytest.approx(0.0)
    a = np.array([[[0, 0, 0]]], np.uint8)
    b = np.array([[[3, 4, 0]]], np.uint8)
    assert mse(a, b) == pytest.approx(25 / 3)
