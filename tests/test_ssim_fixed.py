"""SSIM against scikit-image's, in the report and JSON; fixed palettes (--map, --keep) in Python, CLI and folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from kmeans_compress import FileOptions, OptionNotAllowedError, compress, compress_file, quantize_image
from kmeans_compress._report import ssim
from kmeans_compress.cli import main

skimage_metrics = pytest.importorskip("skimage.metrics")


@pytest.mark.parametrize("shape", [(7, 7), (9, 13), (30, 41, 3), (64, 48, 4)])
def test_ssim_matches_scikit_image(shape):
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, shape), 0, 255).astype(np.uint8)
    kw = {"channel_axis": 2} if len(shape) == 3 else {}
    ref = skimage_metrics.structural_similarity(a, b, data_range=255, **kw)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)
    assert ssim(a, a) == pytest.approx(1.0)


def test_ssim_of_a_photo_matches_and_is_in_report(photo):
    assert compress(photo, 16).report.ssim is None  # measured only when asked: it costs a compression
    r = compress(photo, 16, with_ssim=True)
    ref = skimage_metrics.structural_similarity(photo, r.image, channel_axis=2, data_range=255)
    assert r.report.ssim == pytest.approx(ref, abs=1e-10)
    assert r.report.to_dict()["ssim"] == r.report.ssim
    assert "SSIM" in r.report.format()


def test_ssim_in_cli_json(tmp_path, capsys):
    from kmeans_compress import sample_image_path

    assert main([str(sample_image_path()), "-k", "8", "-o", str(tmp_path / "o.png"), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)[0]
    assert 0 < rec["ssim"] <= 1


def test_keep_colours_stay_even_unused(photo):
    fixed = [(255, 0, 0), (0, 255, 0)]
    r = compress(photo, 8, fixed_colors=["#ff0000", "#00ff00"])
    rows = {tuple(c) for c in r.palette.tolist()}
    assert set(fixed) <= rows and r.palette.shape[0] <= 8
    free = compress(photo, 8)
    assert r.report.mse >= free.report.mse - 1e-9  # two entries spent on colours the photo lacks
    q = quantize_image(photo, 8, fixed_colors="#FF0000,#00ff00", dither=0.5)
    assert set(fixed) <= {tuple(c) for c in q.palette.tolist()}


def test_keep_refuses_too_many(photo):
    """Too small a K for the kept colours is a usage error (the command line's exit 2), with
    transparency as without: the option does not fit this input."""
    with pytest.raises(OptionNotAllowedError, match="do not fit"):
        compress(photo, 2, fixed_colors="#000000,#ffffff,#ff0000")
    alpha = np.full(photo.shape[:2], 255, np.uint8)
    alpha[:4, :4] = 0
    alpha[4:8, :4] = 100
    with pytest.raises(OptionNotAllowedError, match="need a palette of at least 4"):
        quantize_image(photo, 3, alpha=alpha, fixed_colors="#000000,#ff0000")


@pytest.mark.parametrize("space", ["rgb", "lab"])
@pytest.mark.parametrize("k", [4, 12])
def test_keep_with_transparency(photo, space, k):
    """A logo's case: brand colours kept, a transparent background, soft edges."""
    alpha = np.full(photo.shape[:2], 255, np.uint8)
    alpha[:, :50] = 0
    alpha[:, 50:60] = np.linspace(20, 230, 10).astype(np.uint8)
    fixed = [(255, 0, 0), (0, 90, 200)]
    q = quantize_image(photo, k, alpha=alpha, fixed_colors="#ff0000,#005ac8", space=space)
    pal = q.palette
    assert pal.shape == (len({tuple(c) for c in pal.tolist()}), 4) and pal.shape[0] <= k
    assert {(*c, 255) for c in fixed} <= {tuple(c) for c in pal.tolist()}  # kept, opaque, even if unused
    got = pal[q.indices]
    assert np.all(got[alpha == 0][:, 3] == 0)  # invisible stays invisible
    assert np.all(got[alpha == 255][:, 3] == 255)  # opaque stays opaque
    semi = (alpha > 0) & (alpha < 255)
    assert np.all((got[semi][:, 3] > 0) & (got[semi][:, 3] < 255))
    if space == "rgb":  # opaque pixels: the nearest opaque entry, by brute force
        opaque = pal[pal[:, 3] == 255, :3].astype(np.int64)
        x = photo[alpha == 255].astype(np.int64)
        d2 = ((x[:, None, :] - opaque[None]) ** 2).sum(axis=2)
        chosen = ((x - got[alpha == 255][:, :3].astype(np.int64)) ** 2).sum(axis=1)
        assert np.array_equal(chosen, d2.min(axis=1))


def test_keep_with_no_opaque_pixel_still_holds_the_colours(photo):
    alpha = np.zeros(photo.shape[:2], np.uint8)
    alpha[::2] = 128
    q = quantize_image(photo, 6, alpha=alpha, fixed_colors="#123456")
    assert (0x12, 0x34, 0x56, 255) in {tuple(c) for c in q.palette.tolist()}
    assert not np.any(q.palette[q.indices][..., 3] == 255)


def _lab_error(img: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, float]:
    """Brute force in scikit-image's CIELAB: each pixel's nearest entry and the summed squared distance."""
    from skimage.color import rgb2lab

    x = rgb2lab(img.reshape(-1, 1, 3)).reshape(-1, 3)
    p = rgb2lab(palette.reshape(-1, 1, 3).astype(np.uint8)).reshape(-1, 3)
    d2 = ((x[:, None, :] - p[None, :, :]) ** 2).sum(axis=2)
    return d2, float(d2.min(axis=1).sum())


@pytest.mark.parametrize("space", ["lab", "oklab"])
@pytest.mark.parametrize("dither", [False, 0.5])
def test_keep_in_other_spaces(photo, space, dither):
    fixed = {(255, 0, 0), (0, 90, 200)}
    q = quantize_image(photo, 8, fixed_colors="#ff0000,#005ac8", space=space, dither=dither)
    assert fixed <= {tuple(c) for c in q.palette.tolist()} and q.palette.shape[0] <= 8
    assert len({tuple(c) for c in q.palette.tolist()}) == q.palette.shape[0]
    if space == "lab" and not dither:
        # Every pixel maps to its nearest entry measured in CIELAB (scikit-image's, not ours)...
        d2, err_lab = _lab_error(photo, q.palette)
        chosen = d2[np.arange(d2.shape[0]), q.indices.reshape(-1)]
        assert np.all(chosen <= d2.min(axis=1) + 1e-6)
        # ...and the palette fitted in Lab represents the photo better in Lab than the one fitted in RGB.
        rgb = quantize_image(photo, 8, fixed_colors="#ff0000,#005ac8")
        assert err_lab < _lab_error(photo, rgb.palette)[1]
        assert rgb.sse < q.sse  # and the other way round in RGB


def test_map_palette_python_cli_and_folder(photo, tmp_path):
    pal = np.array([[0, 0, 0], [255, 255, 255], [128, 64, 32], [30, 90, 160]], np.uint8)
    r = compress(photo, palette=pal)
    assert {tuple(c) for c in np.unique(r.image.reshape(-1, 3), axis=0).tolist()} <= {tuple(c) for c in pal.tolist()}
    pal_img = tmp_path / "pal.png"
    Image.fromarray(np.repeat(pal[None], 3, axis=0)).save(pal_img)
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    Image.fromarray(photo).save(src)
    out = tmp_path / "a.png"
    assert main([str(src), "--map", str(pal_img), "-o", str(out), "-q"]) == 0
    with Image.open(out) as im:
        file_pal = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(file_pal, np.unique(pal, axis=0))  # whole, in --map's (sorted) order
    outdir = tmp_path / "outdir"
    assert main([str(src.parent), "--map", str(pal_img), "-o", str(outdir), "-q"]) == 0
    with Image.open(outdir / "a.kmc.png") as im:
        np.testing.assert_array_equal(np.array(im.getpalette(), np.uint8).reshape(-1, 3), np.unique(pal, axis=0))
    o = compress_file(src, tmp_path / "b.png", FileOptions(n_colors=6, fixed_colors=((1, 2, 3),)))
    assert [1, 2, 3] in o.result.palette.tolist()


def test_cli_keep_and_dither_forms(photo, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(photo).save(src)
    for extra in (["--dither"], ["--dither", "0.4"], ["--dither=0.4"], ["--nofs"], ["--keep", "#102030"]):
        assert main([*extra, str(src), "-k", "8", "-o", str(tmp_path / "o.png"), "-q", "-f"]) == 0, extra
    assert main(["--dither", str(src), "-o", str(tmp_path / "o.png"), "-q", "-f"]) == 0
    assert main([str(src), "--dither", "1.5", "-o", str(tmp_path / "o.png"), "-q", "-f"]) == 2
    assert main([str(src), "--keep", "#12", "-o", str(tmp_path / "o.png"), "-q", "-f"]) == 2
    assert main([str(src), "--map", str(tmp_path / "none.png"), "-o", str(tmp_path / "o.png"), "-q", "-f"]) == 2


@pytest.mark.parametrize("band_pixels", [1, 37 * 13, 1 << 18])
def test_ssim_in_bands_of_rows_equals_scikit_image(monkeypatch, band_pixels):
    """SSIM is computed band by band (bounded memory at 24 Mpx); any band height gives skimage's figure."""
    from kmeans_compress import _report

    monkeypatch.setattr(_report, "_SSIM_BAND_PIXELS", band_pixels)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (61, 37, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    ref = skimage_metrics.structural_similarity(a, b, channel_axis=2, data_range=255)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("transparent", [False, True])
def test_keep_colours_are_in_the_written_file_even_unused(photo, tmp_path, transparent):
    """The lossless pass drops unused palette entries; fixed colours must survive it."""
    if transparent:
        rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
        rgba[:10, :10, 3] = 0
        Image.fromarray(rgba).save(tmp_path / "a.png")
    else:
        Image.fromarray(photo).save(tmp_path / "a.png")
    out = tmp_path / "o.png"
    assert main([str(tmp_path / "a.png"), "--keep", "#ff0000,#00ff00", "-k", "8", "-o", str(out), "-q"]) == 0
    with Image.open(out) as im:
        entries = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
        decoded = np.asarray(im.convert("RGBA"))
        tr = im.info.get("transparency")
    assert {(255, 0, 0), (0, 255, 0)} <= {tuple(c) for c in entries.tolist()}
    assert len(entries) <= 8
    pixels = {tuple(c) for c in decoded.reshape(-1, 4).tolist()}
    assert (255, 0, 0, 255) not in pixels and (0, 255, 0, 255) not in pixels  # unused by the photo
    if transparent:
        assert tr is not None and np.all(decoded[:10, :10, 3] == 0)
