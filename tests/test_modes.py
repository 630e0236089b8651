"""Every input mode: files built with Pillow in a temporary folder, outputs checked decoded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from _images import decoded_frames
from kmeans_compress import compress, load_image
from kmeans_compress.cli import main


def _gradient(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / (w - 1), y * 255 / (h - 1), (x + y) * 255 / (w + h - 2)], axis=2)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def _run(src: Path, *opts: str) -> Image.Image:
    out = src.with_name(src.stem + ".out.png")
    assert main([str(src), "-o", str(out), "-q", *opts]) == 0
    im = Image.open(out)
    im.load()
    return im


def _alpha_of(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGBA"))[:, :, 3]


def test_rgb_jpeg(tmp_path):
    src = tmp_path / "rgb.jpg"
    Image.fromarray(_gradient()).save(src, quality=90)
    im = _run(src, "-k", "8")
    assert im.mode == "P" and im.size == (64, 48)
    assert len(im.convert("RGB").getcolors()) <= 8
    assert "transparency" not in im.info


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_kept_transparent_stays_transparent_opaque_stays_opaque(tmp_path, mode):
    rgb = _gradient()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :16] = 0  # invisible
    alpha[:, 16:32] = np.linspace(1, 254, 16, dtype=np.uint8)[None, :]  # partly transparent
    rgba = np.dstack([rgb, alpha])
    src = tmp_path / f"{mode}.png"
    Image.fromarray(rgba, "RGBA").convert(mode).save(src)
    im = _run(src, "-k", "12")
    assert im.mode == "P" and "transparency" in im.info
    assert len(im.convert("RGBA").getcolors()) <= 12
    out_alpha = _alpha_of(im)
    assert (out_alpha[alpha == 0] == 0).all()
    assert (out_alpha[alpha == 255] == 255).all()
    assert ((out_alpha[(alpha > 0) & (alpha < 255)] > 0) & (out_alpha[(alpha > 0) & (alpha < 255)] < 255)).all()
    # the invisible pixels share a single palette entry
    idx = np.asarray(im)
    assert np.unique(idx[alpha == 0]).size == 1
    if mode == "LA":
        rgb_out = np.asarray(im.convert("RGB"))
        assert (rgb_out[..., 0] == rgb_out[..., 1]).all() and (rgb_out[..., 1] == rgb_out[..., 2]).all()


def test_premultiplied_gray_alpha_is_unpremultiplied(tmp_path):
    # La (gray premultiplied by alpha): Pillow converts it to LA only, un-premultiplying.
    la = bytes([0, 0, 50, 100, 100, 255, 20, 40, 255, 255, 0, 255])  # (gray, alpha) of 3 x 2 pixels
    straight = np.asarray(Image.frombytes("La", (3, 2), la).convert("LA"))
    expected = np.dstack([straight[..., :1].repeat(3, axis=2), straight[..., 1:]])
    seen = expected[..., 3] > 0  # a fully transparent pixel's colour is not kept
    result = compress(Image.frombytes("La", (3, 2), la), n_colors=256)
    np.testing.assert_array_equal(result.image[seen], expected[seen])
    # a TIFF of associated alpha (ExtraSamples 1) reads as La: Pillow writes LA (2, unassociated)
    src = tmp_path / "premultiplied.tif"
    Image.frombytes("LA", (3, 2), la).save(src)
    entry = struct.pack("<HHIHH", 338, 3, 1, 2, 0)
    src.write_bytes(src.read_bytes().replace(entry, struct.pack("<HHIHH", 338, 3, 1, 1, 0)))
    with Image.open(src) as im:
        assert im.mode == "La"
    got = np.asarray(_run(src, "-k", "256").convert("RGBA"))
    np.testing.assert_array_equal(got[seen], expected[seen])
    assert (got[~seen][..., 3] == 0).all()


def test_library_result_for_rgba_is_rgba():
    rgba = np.dstack([_gradient(), np.full((48, 64), 255, np.uint8)])
    rgba[:5, :5, 3] = 0
    result = compress(rgba, n_colors=6)
    assert result.palette.shape == (6, 4) and result.image.shape == (48, 64, 4)
    assert (result.image[:5, :5, 3] == 0).all() and (result.image[5:, :, 3] == 255).all()


def test_grayscale_stays_grayscale(tmp_path):
    gray = _gradient()[:, :, 0]
    src = tmp_path / "gray.png"
    Image.fromarray(gray, "L").save(src)
    im = _run(src, "-k", "4")
    pal = np.asarray(im.convert("RGB"))
    assert (pal[..., 0] == pal[..., 1]).all() and (pal[..., 1] == pal[..., 2]).all()
    assert len(im.convert("L").getcolors()) <= 4


def test_a_converted_palette_image_keeps_no_colour_key():
    """``.convert("RGB")`` of a palette image with a transparent entry leaves the key in ``info``:
    that is no transparency (opaque pixels of the key colour stay opaque) and dithering works."""
    import io

    from kmeans_compress import compress

    p = Image.fromarray(np.array([[0, 1, 2, 1]] * 4, np.uint8), "P")
    p.putpalette([0, 0, 0, 0, 0, 0, 255, 0, 0] + [0] * 759)  # entries 0 and 1 both black; 0 transparent
    buf = io.BytesIO()
    p.save(buf, "PNG", transparency=0)
    rgb = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    assert rgb.info.get("transparency") == (0, 0, 0)
    assert load_image(rgb).alpha is None
    assert compress(rgb, 2, dither=True).palette.shape == (2, 3)


@pytest.mark.parametrize(
    ("mode", "key"),
    [("RGB", (255, 0, 0)), ("L", 200), ("1", 255), ("I;16", 1000)],
)
def test_colour_key_transparency_is_kept(tmp_path, mode, key):
    """A tRNS colour key (RGB, gray, 1-bit, 16-bit gray) makes its pixels transparent, as the
    transparency of RGBA, LA and P inputs; the others stay opaque, a gray input stays gray."""
    h, w = 12, 16
    if mode == "RGB":
        pixels = _gradient(h, w)
        pixels[:6] = key
        keyed = np.zeros((h, w), bool)
        keyed[:6] = True
    elif mode == "1":
        keyed = (np.arange(w)[None, :] < 5).repeat(h, axis=0)
        pixels = keyed  # True is the key, 255 in Pillow's mode 1
    else:
        dtype = np.uint16 if mode == "I;16" else np.uint8
        pixels = np.arange(h * w, dtype=dtype).reshape(h, w) * (300 if mode == "I;16" else 1)
        pixels[3:7, 2:9] = key
        keyed = pixels == key
    src = tmp_path / f"key_{mode.replace(';', '')}.png"
    Image.fromarray(pixels).save(src, transparency=key)
    with Image.open(src) as im:
        assert im.mode == mode and im.info["transparency"] == key
    loaded = load_image(src)
    assert loaded.grayscale == (mode != "RGB")
    np.testing.assert_array_equal(loaded.alpha, np.where(keyed, 0, 255))
    out = _run(src, "-k", "8")
    np.testing.assert_array_equal(_alpha_of(out), np.where(keyed, 0, 255))
    if mode != "RGB":
        rgb_out = np.asarray(out.convert("RGB"))
        assert (rgb_out[..., 0] == rgb_out[..., 1]).all() and (rgb_out[..., 1] == rgb_out[..., 2]).all()


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_input(tmp_path, transparent):
    base = Image.fromarray(_gradient()).quantize(32)
    src = tmp_path / "pal.png"
    if transparent:
        base.info["transparency"] = 0
        base.save(src, transparency=0)
        mask = np.asarray(base) == 0
    else:
        base.save(src)
    im = _run(src, "-k", "8")
    assert im.mode == "P" and len(im.convert("RGBA").getcolors()) <= 8
    if transparent:
        a = _alpha_of(im)
        assert (a[mask] == 0).all() and (a[~mask] == 255).all()


def test_one_bit_input_is_kept_exactly(tmp_path):
    bits = _gradient()[:, :, 0] > 128
    src = tmp_path / "bits.png"
    Image.fromarray(bits).convert("1").save(src)
    out = tmp_path / "bits.out.png"
    assert main([str(src), "-o", str(out), "-q"]) == 0
    assert out.read_bytes()[24] == 1  # 1-bit PNG: two colours
    decoded = np.asarray(Image.open(out).convert("L"))
    np.testing.assert_array_equal(decoded, np.where(bits, 255, 0))


def test_sixteen_bit_gray_is_scaled_to_eight_bits(tmp_path):
    v = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    src = tmp_path / "g16.png"
    Image.fromarray(v).save(src)  # mode I;16
    loaded = load_image(src)
    assert loaded.grayscale
    np.testing.assert_array_equal(loaded.pixels[..., 0], np.rint(v / 257).astype(np.uint8))
    im = _run(src, "-k", "256")
    np.testing.assert_array_equal(np.asarray(im.convert("L")), np.rint(v / 257).astype(np.uint8))


def _png16_rgb(path: Path, rgb16: np.ndarray, key: tuple[int, int, int] | None = None) -> None:
    """A 16-bit RGB (3 channels) or RGBA (4) PNG written by hand (Pillow does not write them),
    with a tRNS colour key when ``key`` is given; every row with the filter Sub (1), so that the
    low bytes are decoded right only when the decoder unfilters by the 16-bit pixel size."""
    h, w, channels = rgb16.shape
    samples = rgb16.astype(np.uint16).view(np.uint8).reshape(h, w * channels, 2)[:, :, ::-1].reshape(h, -1)
    sub = samples.astype(np.int16)
    sub[:, 2 * channels :] -= samples[:, : -2 * channels]  # each byte minus the same byte one pixel left
    raw = b"".join(b"\x01" + (sub[y] % 256).astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[channels], 0, 0, 0)
    trns = chunk(b"tRNS", struct.pack(">3H", *key)) if key is not None else b""
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + trns + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def test_sixteen_bit_rgb_png(tmp_path):
    rgb8 = _gradient()
    rgb16 = rgb8.astype(np.uint16) * 257
    src = tmp_path / "rgb16.png"
    _png16_rgb(src, rgb16)
    np.testing.assert_array_equal(load_image(src).pixels, rgb8)
    im = _run(src, "-k", "16")
    assert im.size == (64, 48) and len(im.convert("RGB").getcolors()) <= 16


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_rgb_png_is_rounded_not_truncated(tmp_path, channels):
    """Every 16-bit sample becomes round(v / 257), as 16-bit gray, not its high byte."""
    first = np.array([200, 65280, 32896, 65280], np.uint16)[:channels]  # -> 1, 254, 128, 254
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, (9, 7, channels), dtype=np.uint16)
    rgb16[0, 0] = first
    if channels == 4:
        rgb16[1:, :, 3] = 65535  # mostly opaque: the alpha channel is not the test of the colours
    src = tmp_path / f"rgb{channels}x16.png"
    _png16_rgb(src, rgb16)
    loaded = load_image(src)
    expected = np.rint(rgb16 / 257).astype(np.uint8)
    np.testing.assert_array_equal(loaded.pixels[0, 0], [1, 254, 128])
    np.testing.assert_array_equal(loaded.pixels, expected[:, :, :3])
    if channels == 4:
        assert loaded.alpha is not None and loaded.alpha[0, 0] == 254
        np.testing.assert_array_equal(loaded.alpha, expected[:, :, 3])
    else:
        assert loaded.alpha is None
    out = np.asarray(_run(src, "-k", "256").convert("RGBA"))  # 63 colours: kept exactly
    np.testing.assert_array_equal(out[:, :, :channels], expected)


def test_sixteen_bit_rgb_colour_key_is_compared_in_sixteen_bits(tmp_path):
    """The key of a 16-bit RGB PNG names a 16-bit colour: a pixel that differs from it only in the
    low bytes is not transparent."""
    rgb16 = np.full((4, 5, 3), 1000, np.uint16)
    rgb16[0, :2] = (200, 65280, 32896)  # the key
    rgb16[1, :3] = (201, 65280, 32896)  # the key's high bytes, another colour
    src = tmp_path / "key16.png"
    _png16_rgb(src, rgb16, key=(200, 65280, 32896))
    expected = np.full((4, 5), 255)
    expected[0, :2] = 0
    np.testing.assert_array_equal(load_image(src).alpha, expected)
    np.testing.assert_array_equal(_alpha_of(_run(src, "-k", "4")), expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # 0-1 with a little overshoot: times 255, clipped (read as 0-255 it was black)
        ([0.0, 0.4, 1.0, 1.001], [0, 102, 255, 255]),
        ([-0.01, 0.2, 1.5], [0, 51, 255]),
        # 0-1: times 255 (as before)
        ([0.0, 0.25, 1.0], [0, 64, 255]),
        # 0-255: as it is (as before)
        ([0.0, 2.0, 100.4, 255.0], [0, 2, 100, 255]),
        # neither: stretched from the smallest to the largest value
        ([-1.0, -0.5, 1.0], [0, 64, 255]),
        ([0.0, 1023.0, 4095.0], [0, 64, 255]),
        ([-300.0, -250.0, -100.0], [0, 64, 255]),
    ],
)
def test_float_tiff_range_rule(tmp_path, values, expected):
    f = np.resize(np.array(values, np.float32), (4, 6))
    src = tmp_path / "float.tif"
    Image.fromarray(f, "F").save(src)
    loaded = load_image(src)
    assert loaded.grayscale
    np.testing.assert_array_equal(loaded.pixels[..., 0], np.resize(np.array(expected, np.uint8), (4, 6)))


def test_float_tiff_just_above_one_is_not_black(tmp_path):
    f = np.linspace(0, 1.001, 64, dtype=np.float32).reshape(8, 8)
    src = tmp_path / "ramp.tif"
    Image.fromarray(f, "F").save(src)
    grays = np.asarray(_run(src, "-k", "4").convert("L"))
    assert grays.min() < 64 and grays.max() > 192  # the ramp, from dark to light
    assert np.unique(grays).size == 4


def test_cmyk_jpeg_converted_to_rgb(tmp_path):
    rgb = _gradient()
    src = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(src, quality=95)
    with Image.open(src) as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    out = _run(src, "-k", "64")
    got = np.asarray(out.convert("RGB"))
    # exactly what compressing Pillow's own CMYK -> RGB conversion gives
    np.testing.assert_array_equal(got, compress(expected, n_colors=64).image)


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :] = (0, 0, 255)
    img[:5, :5] = (255, 0, 0)  # red marker at the stored top-left
    src = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90 degrees clockwise
    Image.fromarray(img).save(src, exif=exif.tobytes(), quality=95)
    im = _run(src, "-k", "2")
    assert im.size == (20, 40)  # width and height swapped
    rgb = np.asarray(im.convert("RGB")).astype(int)
    assert rgb[1, 18, 0] > 200 and rgb[1, 18, 2] < 80  # marker now at top-right
    assert rgb[38, 1, 2] > 200


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_exif_turn_of_an_uncompressed_tiff_read_from_a_path(tmp_path, mode, orientation):
    # Pillow memory-maps an uncompressed TIFF opened by name, with the turned size: its rows came
    # out scrambled. Read as a stream (stdin, bytes) it was right; a path must give the same.
    a = (np.arange(32 * 48) % 251).reshape(32, 48).astype(np.uint8)
    rgb = Image.fromarray(np.dstack([a, 255 - a, a // 2]))
    im = Image.fromarray(a) if mode == "L" else rgb.quantize(200) if mode == "P" else rgb.convert(mode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / f"{mode}_o{orientation}.tif"
    im.save(src, exif=exif)
    with open(src, "rb") as f, Image.open(f) as stream:
        expected = np.asarray(ImageOps.exif_transpose(stream).convert("RGB"))
    assert expected.shape == (48, 32, 3)
    np.testing.assert_array_equal(load_image(src).pixels, expected)
    np.testing.assert_array_equal(load_image(src.read_bytes()).pixels, expected)
    # at most 251 colours: K = 256 keeps them exactly
    np.testing.assert_array_equal(np.asarray(_run(src, "-k", "256").convert("RGB")), expected)


def test_icc_profile_kept_and_stripped(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "icc.png"
    Image.fromarray(_gradient()).save(src, icc_profile=icc)
    assert _run(src, "-k", "8").info.get("icc_profile") == icc
    out = tmp_path / "stripped.png"
    assert main([str(src), "-o", str(out), "-q", "--strip"]) == 0
    assert "icc_profile" not in Image.open(out).info


def _icc_header(space: bytes, size: int = 132) -> bytes:
    """The smallest ICC profile by its header (ICC.1, 7.2): the size at offset 0, the data colour
    space at 16, 'acsp' at 36, then a tag count of 0."""
    h = bytearray(size)
    h[0:4] = struct.pack(">I", size)
    h[16:20] = space
    h[36:40] = b"acsp"
    return bytes(h)


@pytest.mark.parametrize(
    "mode, icc",
    [
        ("L", _icc_header(b"GRAY")),  # libpng: "iCCP: 'GRAY': Gray color space not permitted on RGB PNG"
        ("RGB", b"garbage" * 10),  # libpng: "iCCP: too short"
        ("RGB", _icc_header(b"RGB ", size=200)[:132]),  # the size field is not the length
        ("RGB", _icc_header(b"CMYK")),
    ],
    ids=["gray", "garbage", "wrong-size", "cmyk"],
)
@pytest.mark.parametrize("ext", ["png", "webp"])
def test_a_profile_the_output_cannot_hold_is_dropped(tmp_path, mode, icc, ext):
    # Indexed PNG (and our RGB WebP) may carry an RGB profile only: others were copied as they were.
    src = tmp_path / "in.png"
    Image.fromarray(_gradient()).convert(mode).save(src, icc_profile=icc)
    assert Image.open(src).info["icc_profile"] == icc
    out = tmp_path / f"out.{ext}"
    assert main([str(src), "-o", str(out), "-q", "-k", "4"]) == 0
    assert "icc_profile" not in Image.open(out).info


@pytest.mark.parametrize("ext", ["png", "webp"])
def test_a_minimal_rgb_profile_is_kept(tmp_path, ext):
    icc = _icc_header(b"RGB ")
    src = tmp_path / "in.png"
    Image.fromarray(_gradient()).save(src, icc_profile=icc)
    out = tmp_path / f"out.{ext}"
    assert main([str(src), "-o", str(out), "-q", "-k", "4"]) == 0
    assert Image.open(out).info["icc_profile"] == icc


def _animated_gif(path: Path, n: int = 3) -> list[np.ndarray]:
    frames = [np.roll(_gradient(seed=i), 10 * i, axis=1) for i in range(n)]
    ims = [Image.fromarray(f).quantize(64) for f in frames]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=[100, 200, 300][:n], loop=0)
    return frames


@pytest.mark.parametrize("ext", ["png", "gif", "webp"])
def test_animation_keeps_every_frame_with_one_palette_and_durations(tmp_path, capsys, ext):
    src = tmp_path / "anim.gif"
    _animated_gif(src)
    source_frames, _ = decoded_frames(src)
    out = tmp_path / f"anim.out.{ext}"
    assert main([str(src), "-o", str(out), "-k", "16"]) == 0
    assert "warning" not in capsys.readouterr().err
    frames, durations = decoded_frames(out)
    assert len(frames) == 3 and durations == [100, 200, 300]
    colours = {tuple(px) for f in frames for px in f.reshape(-1, 4)}
    assert len(colours) <= 16  # one shared palette of at most K colours
    result = compress(src, n_colors=16)
    assert len(result.more_labels) == 2 and result.report.n_frames == 3
    for got, labels in zip(frames, [result.labels, *result.more_labels]):
        np.testing.assert_array_equal(got[:, :, :3], result.palette[labels][:, :, :3])
    # the shared palette is fitted to all frames: error is measured over all of them
    stacked = np.concatenate([f[:, :, :3] for f in source_frames]).astype(float)
    rebuilt = np.concatenate([result.palette[m] for m in [result.labels, *result.more_labels]]).astype(float)
    assert result.report.mse == pytest.approx(np.mean((stacked - rebuilt) ** 2))


def _three_frames(path: Path, **loop: int) -> None:
    ims = [Image.fromarray(np.full((8, 8, 3), c, np.uint8)) for c in (0, 100, 200)]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=100, **loop)


@pytest.mark.parametrize(("ext", "written"), [("gif", None), ("png", 1), ("webp", 1)])
def test_animation_without_a_loop_count_plays_once(tmp_path, ext, written):
    """A GIF without the NETSCAPE loop block plays once: so does the output (a GIF without the
    block, an APNG of num_plays 1, a WebP of loop count 1), not forever."""
    src = tmp_path / "once.gif"
    _three_frames(src)
    with Image.open(src) as im:
        assert "loop" not in im.info
    out = tmp_path / f"once.out.{ext}"
    assert main([str(src), "-o", str(out), "-q"]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 3 and im.info.get("loop") == written
    if ext == "gif":
        assert b"NETSCAPE2.0" not in out.read_bytes()


@pytest.mark.parametrize("ext", ["gif", "png", "webp"])
@pytest.mark.parametrize("loop", [0, 3])
def test_animation_loop_count_is_kept(tmp_path, ext, loop):
    src = tmp_path / "looped.gif"
    _three_frames(src, loop=loop)
    out = tmp_path / f"looped.out.{ext}"
    assert main([str(src), "-o", str(out), "-q"]) == 0
    with Image.open(out) as im:
        assert im.info.get("loop") == loop


def test_chosen_frame_of_an_animation(tmp_path, capsys):
    src = tmp_path / "anim.gif"
    _animated_gif(src)
    with Image.open(src) as im:
        im.seek(1)
        second = np.asarray(im.convert("RGB"))
    out1 = tmp_path / "f1.png"
    assert main([str(src), "-o", str(out1), "--frame", "1", "-k", "256", "-q"]) == 0
    got = np.asarray(Image.open(out1).convert("RGB"))
    np.testing.assert_array_equal(got, second)  # <= 256 colours: kept exactly
    assert main([str(src), "-o", str(tmp_path / "f9.png"), "--frame", "9"]) == 4
    assert "frame 9 does not exist" in capsys.readouterr().err


def test_apng_default_image_outside_the_animation_is_not_a_frame(tmp_path, capsys):
    # An APNG's default image (IDAT before any fcTL) is the still picture of viewers without APNG,
    # not a frame of the animation: Pillow counts it as frame 0.
    ims = [Image.fromarray(np.full((8, 8, 3), c, np.uint8)) for c in (50, 100, 150, 200)]
    src = tmp_path / "fallback.png"
    ims[0].save(src, save_all=True, append_images=ims[1:], default_image=True, duration=[70, 80, 90], loop=0)
    with Image.open(src) as im:
        assert im.n_frames == 4 and im.info.get("default_image")
    out = tmp_path / "fallback.out.png"
    assert main([str(src), "-o", str(out), "-q"]) == 0
    frames, durations = decoded_frames(out, "RGB")
    assert [int(f[0, 0, 0]) for f in frames] == [100, 150, 200] and durations == [70, 80, 90]
    assert compress(src).report.n_frames == 3
    for n, grey in enumerate((100, 150, 200)):  # --frame counts the animation's frames
        one = tmp_path / f"f{n}.png"
        assert main([str(src), "-o", str(one), "--frame", str(n), "-q"]) == 0
        assert np.asarray(Image.open(one).convert("RGB"))[0, 0].tolist() == [grey] * 3
    assert main([str(src), "-o", str(tmp_path / "f3.png"), "--frame", "3"]) == 4
    assert "has 3 frame(s); frame 3 does not exist" in capsys.readouterr().err


def test_multi_page_tiff(tmp_path, capsys):
    pages = [Image.fromarray(_gradient(seed=i)) for i in range(2)]
    src = tmp_path / "pages.tif"
    pages[0].save(src, save_all=True, append_images=pages[1:])
    assert main([str(src), "-o", str(tmp_path / "p.png"), "-k", "8"]) == 0
    assert "2 frames" in capsys.readouterr().err


# --------------------------------------------------------------------------- K smaller than the alpha groups


def _png_palette_entries(path: Path) -> int:
    """Entries in the PLTE chunk of a PNG file, read from its bytes."""
    data = path.read_bytes()
    at = data.index(b"PLTE")
    return struct.unpack(">I", data[at - 4 : at])[0] // 3


def _visible_colours(rgba: np.ndarray) -> set[tuple[int, ...]]:
    """Distinct RGBA colours, every fully transparent pixel counted as (0, 0, 0, 0)."""
    px = rgba.reshape(-1, 4).copy()
    px[px[:, 3] == 0] = 0
    return set(map(tuple, np.unique(px, axis=0).tolist()))


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_groups_never_get_more_entries_than_k(tmp_path, mode, k):
    rgb = _gradient(12, 16)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :4] = 0
    alpha[:, 4:8] = 128
    src = tmp_path / f"{mode}.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").convert(mode).save(src)
    im = _run(src, "-k", str(k))
    assert _png_palette_entries(src.with_name(src.stem + ".out.png")) <= k
    assert len(_visible_colours(np.asarray(im.convert("RGBA")))) <= k
    assert compress(src, n_colors=k).palette.shape[0] <= k


@pytest.mark.parametrize("k", [1, 2, 3])
def test_gif_with_on_off_transparency_holds_at_most_k_colours(tmp_path, k):
    rgb = _gradient(12, 16)
    alpha = np.where(np.arange(16)[None, :] < 5, 0, 255).astype(np.uint8).repeat(12, axis=0)
    src = tmp_path / "onoff.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(src)
    out = tmp_path / "onoff.gif"
    assert main([str(src), "-o", str(out), "-q", "-k", str(k)]) == 0
    with Image.open(out) as im:
        assert im.format == "GIF"
        decoded = np.asarray(im.convert("RGBA"))
    assert len(_visible_colours(decoded)) <= k
    if k >= 2:  # one entry for each group: on and off transparency kept
        assert (decoded[alpha == 0, 3] == 0).all() and (decoded[alpha == 255, 3] == 255).all()
    # what the GIF shows is what the library computed
    expected = compress(src, n_colors=k).image
    expected[expected[..., 3] == 0] = 0
    decoded = decoded.copy()
    decoded[decoded[..., 3] == 0] = 0
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("bits", [2, 4])
def test_colour_key_of_a_low_bit_gray_png(tmp_path, bits):
    """A 2- or 4-bit gray PNG with a tRNS key: Pillow scales the samples to 0-255 but gives the key
    as the raw sample, so the key matched no pixel and the image stayed opaque."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    w, h = 8, 8
    samples = (np.arange(w * h).reshape(h, w) % (2**bits)).astype(np.uint8)
    rows = b""
    for r in samples:
        row_bits = "".join(format(int(v), f"0{bits}b") for v in r)
        rows += b"\x00" + int(row_bits, 2).to_bytes(len(row_bits) // 8, "big")
    key = 2**bits - 2  # a level in the middle of the range
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0))
        + chunk(b"tRNS", struct.pack(">H", key))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    src = tmp_path / f"gray{bits}.png"
    src.write_bytes(png)
    loaded = load_image(src)
    np.testing.assert_array_equal(loaded.alpha, np.where(samples == key, 0, 255))
    assert loaded.grayscale
