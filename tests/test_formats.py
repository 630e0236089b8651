"""Output formats, --skip-if-larger, quality and size targets, colour spaces and dithering."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kmeans_compress import TargetNotMetError, compress, compress_to_quality, compress_to_size
from kmeans_compress._colorspace import from_srgb
from kmeans_compress.cli import main


def _gradient(h: int = 40, w: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / (w - 1), y * 255 / (h - 1), (x + y) * 255 / (w + h - 2)], axis=2)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(_gradient()).save(path)
    return path


def test_gif_output(src, tmp_path):
    out = tmp_path / "o.gif"
    assert main([str(src), "-o", str(out), "-k", "8", "-q"]) == 0
    with Image.open(out) as im:
        assert im.format == "GIF" and im.mode == "P"
        got = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(got, compress(_gradient(), 8).image)


def test_gif_output_with_transparency(tmp_path):
    rgba = np.dstack([_gradient(), np.full((40, 60), 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    src = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(src)
    out = tmp_path / "a.gif"
    assert main([str(src), "-o", str(out), "-k", "8", "-q"]) == 0
    a = np.asarray(Image.open(out).convert("RGBA"))[:, :, 3]
    assert (a[:10, :10] == 0).all() and (a[10:, :] == 255).all()
    rgba[:, 20:30, 3] = 100  # partly transparent: GIF cannot hold it
    Image.fromarray(rgba, "RGBA").save(src)
    assert main([str(src), "-o", str(tmp_path / "b.gif"), "-k", "8"]) == 1
    assert not (tmp_path / "b.gif").exists()


def test_webp_output_is_lossless(src, tmp_path):
    out = tmp_path / "o.webp"
    assert main([str(src), "-o", str(out), "-k", "8", "-q"]) == 0
    with Image.open(out) as im:
        assert im.format == "WEBP"
        got = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(got, compress(_gradient(), 8).image)


def test_ext_picks_the_format(src, tmp_path):
    assert main([str(src), "--ext", ".small.gif", "-q"]) == 0
    with Image.open(tmp_path / "in.small.gif") as im:
        assert im.format == "GIF"


def test_skip_if_larger_writes_nothing_and_exits_98(tmp_path, capsys):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    src = tmp_path / "tiny.jpg"
    Image.fromarray(noise).save(src, quality=5)
    out = tmp_path / "tiny.png"
    assert main([str(src), "-o", str(out), "--skip-if-larger"]) == 98
    assert not out.exists()
    assert "not smaller" in capsys.readouterr().err
    assert main([str(src), "-o", str(out), "-q"]) == 0  # without the flag it is written


def test_quality_picks_the_smallest_palette_reaching_max(src, tmp_path, capsys):
    out = tmp_path / "q.png"
    assert main([str(src), "-o", str(out), "--quality", "20-33", "--json"]) == 0
    import json

    rec = json.loads(capsys.readouterr().out)[0]
    k = rec["n_colors"]
    assert rec["psnr"] >= 33
    assert compress(_gradient(), k - 1).report.psnr < 33  # one colour fewer misses the target


def test_quality_unreachable_minimum_exits_99(src, tmp_path, capsys):
    out = tmp_path / "q.png"
    assert main([str(src), "-o", str(out), "--quality", "90-99", "-k", "8"]) == 99
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "below the minimum 90" in err[0]
    with pytest.raises(TargetNotMetError):
        compress_to_quality(_gradient(), 90, 99, max_colors=8)


def test_max_bytes_picks_the_largest_palette_that_fits(src, tmp_path):
    big = len(compress(_gradient(), 64).to_png_bytes())
    limit = big // 2
    out = tmp_path / "s.png"
    assert main([str(src), "-o", str(out), "--max-bytes", str(limit), "-q"]) == 0
    assert out.stat().st_size <= limit
    r = compress_to_size(_gradient(), limit)
    k = r.report.n_colors
    assert len(compress(_gradient(), k + 1).to_png_bytes()) > limit
    assert main([str(src), "-o", str(tmp_path / "t.png"), "--max-bytes", "10"]) == 99


def _mean_delta_e(a: np.ndarray, b: np.ndarray, space: str) -> float:
    la = from_srgb(a.reshape(-1, 3), space)
    lb = from_srgb(b.reshape(-1, 3), space)
    return float(np.sqrt(((la - lb) ** 2).sum(axis=1)).mean())


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_clustering_in_a_space_lowers_the_error_measured_in_it(photo, space):
    rgb = compress(photo, 8, space="rgb").image
    other = compress(photo, 8, space=space).image
    assert _mean_delta_e(photo, other, space) < _mean_delta_e(photo, rgb, space)


def test_space_option_on_cli(src, tmp_path):
    for space in ("lab", "oklab"):
        out = tmp_path / f"{space}.png"
        assert main([str(src), "-o", str(out), "--space", space, "-k", "8", "-q"]) == 0
        assert len(Image.open(out).convert("RGB").getcolors()) <= 8
    assert main([str(src), "--space", "hsv"]) == 2


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


def test_dither_and_nofs_flags(src, tmp_path):
    assert main([str(src), "-o", str(tmp_path / "d.png"), "--dither", "-k", "4", "-q"]) == 0
    assert main([str(src), "-o", str(tmp_path / "n.png"), "--nofs", "-k", "4", "-q"]) == 0
    assert main([str(src), "--dither", "--nofs"]) == 2
