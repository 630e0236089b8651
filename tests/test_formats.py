"""Output formats, --skip-if-larger, quality and size targets, colour spaces and dithering."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kmeans_compress import (
    OptionNotAllowedError,
    TargetNotMetError,
    compress,
    compress_to_psnr,
    compress_to_quality,
    compress_to_size,
    mse_to_quality,
    psnr,
    quality_to_mse,
)
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
    assert main([str(src), "-o", str(tmp_path / "b.gif"), "-k", "8"]) == 2  # not for .gif: use another -o
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


def test_psnr_picks_the_smallest_palette_reaching_max(src, tmp_path, capsys):
    out = tmp_path / "q.png"
    assert main([str(src), "-o", str(out), "--psnr", "20-33", "--json"]) == 0
    import json

    rec = json.loads(capsys.readouterr().out)[0]
    k = rec["n_colors"]
    assert rec["psnr"] >= 33
    assert compress(_gradient(), k - 1).report.psnr < 33  # one colour fewer misses the target


def test_psnr_unreachable_minimum_exits_99(src, tmp_path, capsys):
    out = tmp_path / "q.png"
    assert main([str(src), "-o", str(out), "--psnr", "90-99", "-k", "8"]) == 99
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "below the minimum 90" in err[0]
    with pytest.raises(TargetNotMetError):
        compress_to_psnr(_gradient(), 90, 99, max_colors=8)


def test_quality_is_pngquants_scale(src, tmp_path, capsys):
    # pngquant's curve (hand-computed from its documented formula: 80 -> 6.0896, 65 -> 11.3338), in plain RGB MSE
    assert abs(quality_to_mse(80) - 6.0896 * 1.3) < 1e-3 and abs(quality_to_mse(65) - 11.3338 * 1.3) < 1e-3
    assert mse_to_quality(quality_to_mse(80)) == 80 and mse_to_quality(quality_to_mse(80) * 1.01) == 79
    out = tmp_path / "q.png"
    assert main([str(src), "-o", str(out), "--quality", "10-40", "--json"]) == 0
    import json

    rec = json.loads(capsys.readouterr().out)[0]
    k = rec["n_colors"]
    assert k < 256 and rec["mse"] <= quality_to_mse(40) and rec["quality"] >= 40
    assert compress(_gradient(), k - 1).report.mse > quality_to_mse(40)  # one colour fewer misses the target
    assert rec["sizes_tried"] and k in rec["sizes_tried"]


def test_quality_unreachable_minimum_exits_99_and_old_psnr_values_are_refused(src, tmp_path, capsys):
    out = tmp_path / "q.png"
    assert main([str(src), "-o", str(out), "--quality", "99-100", "-k", "4"]) == 99
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "below the minimum 99" in err[0]
    assert main([str(src), "-o", str(out), "--quality", "30.5-40"]) == 2  # PSNR in dB: now --psnr
    assert "--psnr" in capsys.readouterr().err
    with pytest.raises(TargetNotMetError):
        compress_to_quality(_gradient(), 99, 100, max_colors=4)


def test_readme_quality_example_is_what_the_command_says(tmp_path, capsys):
    """README's example of a MIN pngquant meets and we do not: the figures it quotes are the run's."""
    from pathlib import Path

    from kmeans_compress import sample_image_path

    assert main([str(sample_image_path()), "--quality", "90-95", "-o", str(tmp_path / "q.png")]) == 99
    err = capsys.readouterr().err
    assert "256 colours give quality 85 (MSE 5.46), below the minimum 90" in err
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert (
        "`--quality 90-95` on the embedded sample photo: our 256 colours give MSE 5.46, which this scale calls Q = 85"
        in readme
    )


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


KEEP = "#ff00ff,#00ff00"  # colours the sample photo lacks: two entries spent for nothing
KEPT = {(255, 0, 255), (0, 255, 0)}


def _written(path) -> tuple[set[tuple[int, int, int]], np.ndarray]:
    """The PLTE entries of an indexed PNG and its decoded RGB pixels."""
    with Image.open(path) as im:
        assert im.mode == "P"
        pal = np.asarray(im.getpalette(), np.uint8).reshape(-1, 3)  # PLTE, as long as it is
        return {tuple(c) for c in pal.tolist()}, np.asarray(im.convert("RGBA"))[:, :, :3]


@pytest.mark.parametrize("option, value", [("--quality", "20-40"), ("--psnr", "20-33"), ("--max-bytes", "6500")])
def test_size_targets_keep_the_kept_colours_and_judge_the_size_with_them(photo, tmp_path, capsys, option, value):
    """--keep with a search (opaque RGB, no dithering: the histogram's path): every fit of the search
    holds the kept colours, the file written holds them, and it meets the target by its own pixels."""
    import json

    src = tmp_path / "p.png"
    Image.fromarray(photo).save(src)
    out = tmp_path / "k.png"
    assert main([str(src), "-o", str(out), option, value, "--keep", KEEP, "--json"]) == 0
    k = json.loads(capsys.readouterr().out)[0]["n_colors"]
    entries, got = _written(out)
    assert KEPT <= entries and len(entries) == k
    err = float(np.mean((got.astype(np.float64) - photo) ** 2))
    if option == "--quality":
        r = compress_to_quality(photo, 20, 40, fixed_colors=KEEP)
        assert mse_to_quality(err) >= 40
        assert compress(photo, k - 1, fixed_colors=KEEP).report.quality < 40  # one fewer, kept colours and all
    elif option == "--psnr":
        r = compress_to_psnr(photo, 20, 33, fixed_colors=KEEP)
        assert psnr(err) >= 33
        assert compress(photo, k - 1, fixed_colors=KEEP).report.psnr < 33
    else:
        r = compress_to_size(photo, 6500, fixed_colors=KEEP)
        assert out.stat().st_size <= 6500 and r.report.output_bytes <= 6500
    assert KEPT <= {tuple(c) for c in r.palette.tolist()}
    assert r.report.n_colors == k
    np.testing.assert_array_equal(r.image, got)


THREE = "#ff00ff,#00ff00,#123456"


def _with_alpha(photo: np.ndarray) -> np.ndarray:
    """``photo`` as RGBA with a fully and a partly transparent corner: 3 kept colours need 5 entries."""
    alpha = np.full(photo.shape[:2], 255, np.uint8)
    alpha[:30, :40] = 0
    alpha[30:60, :40] = 128
    return np.dstack([photo, alpha])


@pytest.mark.parametrize("extra", [{"space": "lab"}, {"dither": True}, {}])
def test_searches_with_keep_try_no_palette_smaller_than_the_kept_colours(photo, extra):
    """Sizes below the kept colours (and, with transparency, one entry per kind of it) are not
    tried: the searches start at the smallest palette the options allow."""
    r = compress_to_psnr(photo, 0, 8, fixed_colors=THREE, **extra)
    assert r.report.n_colors == 3 and r.report.psnr >= 8 and min(r.report.sizes_tried) >= 3
    rgba = _with_alpha(photo)
    r = compress_to_psnr(rgba, 0, 15, fixed_colors=THREE, **{k: v for k, v in extra.items() if k != "dither"})
    assert r.report.psnr >= 15 and min(r.report.sizes_tried) >= 5
    assert compress(rgba, r.report.n_colors - 1, fixed_colors=THREE).report.psnr < 15
    r = compress_to_quality(rgba, 0, 5, fixed_colors=THREE)
    assert r.report.quality >= 5 and min(r.report.sizes_tried) >= 5
    with pytest.raises(TargetNotMetError, match="even 5 colours give"):
        compress_to_size(rgba, 300, fixed_colors=THREE)
    with pytest.raises(OptionNotAllowedError, match="need a palette of at least 5"):
        compress_to_psnr(rgba, 0, 15, max_colors=4, fixed_colors=THREE)


def test_cli_searches_with_keep_and_transparency(photo, tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(_with_alpha(photo), "RGBA").save(src)
    out = tmp_path / "o.png"
    keep = ["--keep", THREE, "-q"]
    assert main([str(src), "-o", str(out), "--psnr", "15", *keep]) == 0
    entries, _ = _written(out)
    assert KEPT | {(0x12, 0x34, 0x56)} <= entries and len(entries) >= 6  # 5 reach 10.8 dB only
    capsys.readouterr()
    assert main([str(src), "-o", str(tmp_path / "t.png"), "--max-bytes", "300", *keep]) == 99  # no size fits
    assert main([str(src), "-o", str(tmp_path / "k.png"), "--psnr", "15", "-k", "4", *keep]) == 2  # K below 5
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "even 5 colours give" in err[0] and "need a palette of at least 5" in err[1]
    assert not (tmp_path / "t.png").exists() and not (tmp_path / "k.png").exists()


def _plain_gradient() -> np.ndarray:
    """80 x 64, no noise: its file sizes against K dip (K = 13 to 17: 339, 370, 367, 361, 392 bytes)."""
    y, x = np.mgrid[0:64, 0:80]
    return np.dstack([x * 255 // 79, y * 255 // 63, (x + y) * 255 // 142]).astype(np.uint8)


@pytest.mark.parametrize("limit, k_max, expected", [(365, 20, 16), (530, 32, 28)])
def test_max_bytes_finds_a_larger_palette_past_a_size_that_does_not_fit(limit, k_max, expected):
    # The bisection over 1-256 stopped at 13 colours (14 and 15 too large) and at 26 (27 too large),
    # while 16 and 28 fit: the file does not always grow with K. Expected: the largest K that fits,
    # each size near it checked by encoding it on its own (beyond k_max the sizes are far above
    # the limit: 421 bytes at 20 colours, 594 at 32).
    img = _plain_gradient()
    sizes = {k: len(compress(img, k).to_png_bytes()) for k in range(expected, k_max + 1)}
    assert sizes[expected] <= limit and all(sizes[k] > limit for k in range(expected + 1, k_max + 1))
    r = compress_to_size(img, limit)
    assert r.report.n_colors == expected and r.report.output_bytes == sizes[expected]


def test_space_option_on_cli(src, tmp_path):
    for space in ("lab", "oklab"):
        out = tmp_path / f"{space}.png"
        assert main([str(src), "-o", str(out), "--space", space, "-k", "8", "-q"]) == 0
        assert len(Image.open(out).convert("RGB").getcolors()) <= 8
    assert main([str(src), "--space", "hsv"]) == 2


def test_dither_and_nofs_flags(src, tmp_path):
    assert main([str(src), "-o", str(tmp_path / "d.png"), "--dither", "-k", "4", "-q"]) == 0
    assert main([str(src), "-o", str(tmp_path / "n.png"), "--nofs", "-k", "4", "-q"]) == 0
    assert main([str(src), "--dither", "--nofs"]) == 2


def test_size_scan_climbs_window_by_window_and_stops_after_its_most_fits():
    """``_scan_up`` on a hand-made answer: sizes up to 30 fit but for a dip at 13-15. From 12 it
    tries 16 (fits), then 20, 24, 28, then 32, 31, 30 (30 fits) and 34-31 (none): 30; with a cap of
    3 calls it stops at 24, having tried 16, 20 and 24."""
    from kmeans_compress._search import _scan_up

    calls: list[int] = []

    def good(j: int) -> bool:
        calls.append(j)
        return j <= 30 and j not in (13, 14, 15)

    assert _scan_up(12, good, 256, 4, 100) == 30
    assert calls == [16, 20, 24, 28, 32, 31, 30, 34, 33, 32, 31]
    calls.clear()
    assert _scan_up(12, good, 256, 4, 3) == 24
    assert calls == [16, 20, 24]
