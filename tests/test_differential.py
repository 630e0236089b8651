"""The same images through every way of compressing them: the same pixels, and the same bytes where
the options match.

Ways: the single-file command line, folder mode at -j 1 and -j 2, ``--dask local``, and
``compress_with_palette`` with the palette :func:`compress` found. Folder outputs carry a stamp
(a ``tEXt`` chunk); without it they must be the single-file bytes.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _images import decoded_frames
from kmeans_compress import _files, compress, compress_with_palette, load_image, sample_image_path
from kmeans_compress.cli import main

IMAGES = ["photo.png", "alpha.png", "gray.png", "anim.gif"]
OPAQUE = ["photo.png", "gray.png", "anim.gif"]  # what a given (RGB) palette takes
FOLDER_WAYS = ["j1", "j2", "dask"]


def _make_inputs(root: Path) -> None:
    root.mkdir()
    photo = load_image(sample_image_path()).pixels[100:160, 180:260]  # a crop of the sample photograph
    Image.fromarray(photo).save(root / "photo.png")
    rng = np.random.default_rng(3)
    rgba = np.dstack([photo[:40, :50], np.full((40, 50), 255, np.uint8)])
    rgba[:10, :, 3] = 0  # a transparent band
    rgba[10:20, :, 3] = rng.integers(1, 255, (10, 50), dtype=np.uint8)  # and a partly transparent one
    Image.fromarray(rgba).save(root / "alpha.png")
    y, x = np.mgrid[0:48, 0:64]
    gray = np.clip(x * 3 + y * 2 + rng.normal(0, 6, (48, 64)), 0, 255).astype(np.uint8)
    Image.fromarray(gray).save(root / "gray.png")
    frames = [Image.fromarray(np.roll(photo[:40, :40], 7 * i, axis=1)).quantize(48) for i in range(3)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=[60, 90, 120], loop=0)


def _out_name(name: str) -> str:
    return Path(name).stem + ".kmc.png"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Inputs and the outputs of every way, each run once."""
    root = tmp_path_factory.mktemp("diff")
    src = root / "in"
    _make_inputs(src)
    single = root / "single"
    single.mkdir()
    for name in IMAGES:
        assert main([str(src / name), "-o", str(single / _out_name(name)), "-q"]) == 0
    outs = {"single": single}
    for way, extra in [("j1", ["-j", "1"]), ("j2", ["-j", "2"])]:
        outs[way] = root / way
        assert main([str(src), "-o", str(outs[way]), "-q"] + extra) == 0
    pytest.importorskip("distributed")
    outs["dask"] = root / "dask"
    assert main([str(src), "-o", str(outs["dask"]), "-q", "--dask", "local", "-j", "2"]) == 0
    return src, outs


def _frames(path: Path) -> list[np.ndarray]:
    """Every frame as displayed, RGBA."""
    return decoded_frames(path)[0]


def _without_stamp(png: bytes) -> bytes:
    """The PNG without its ``kmeans-compress`` text chunk."""
    out, pos = [png[:8]], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        end = pos + 12 + length
        ctype, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if not (ctype == b"tEXt" and data.split(b"\0", 1)[0] == _files.STAMP_KEY.encode()):
            out.append(png[pos:end])
        pos = end
    return b"".join(out)


def test_every_folder_way_writes_the_same_bytes(runs):
    _, outs = runs
    for name in IMAGES:
        ref = (outs["j1"] / _out_name(name)).read_bytes()
        assert _files.read_stamp(outs["j1"] / _out_name(name)) is not None
        for way in FOLDER_WAYS[1:]:
            assert (outs[way] / _out_name(name)).read_bytes() == ref, (name, way)
    for way in FOLDER_WAYS:
        assert sorted(p.name for p in outs[way].iterdir()) == sorted(_out_name(n) for n in IMAGES)


@pytest.mark.parametrize("name", IMAGES)
def test_folder_output_is_the_single_file_output_plus_its_stamp(runs, name):
    _, outs = runs
    single = (outs["single"] / _out_name(name)).read_bytes()
    assert _without_stamp(single) == single  # nothing to remove from a single-file output
    for way in FOLDER_WAYS:
        folder = (outs[way] / _out_name(name)).read_bytes()
        assert len(folder) > len(single)
        assert _without_stamp(folder) == single, (name, way)


@pytest.mark.parametrize("name", IMAGES)
def test_every_way_decodes_to_the_same_pixels(runs, name):
    src, outs = runs
    ref = _frames(outs["single"] / _out_name(name))
    assert len(ref) == len(_frames(src / name))  # every frame kept
    for way in FOLDER_WAYS:
        got = _frames(outs[way] / _out_name(name))
        assert len(got) == len(ref) and all(np.array_equal(a, b) for a, b in zip(got, ref)), (name, way)


@pytest.mark.parametrize("name", OPAQUE)
def test_compress_with_the_palette_compress_found_gives_the_same_image(runs, name):
    src, outs = runs
    fitted = compress(src / name)
    given = compress_with_palette(src / name, fitted.palette)
    assert np.array_equal(given.palette, fitted.palette)
    maps = [given.labels, *given.more_labels]
    assert len(maps) == len(_frames(src / name))
    for a, b in zip(maps, [fitted.labels, *fitted.more_labels]):
        assert np.array_equal(a, b)
    assert given.report.mse == pytest.approx(fitted.report.mse, rel=1e-12)
    # its file decodes to the single-file command's pixels; the bytes differ by design: a given
    # palette is written whole and in its order, a fitted one is reordered for deflate
    with Image.open(io.BytesIO(given.to_png_bytes())) as a, Image.open(outs["single"] / _out_name(name)) as b:
        assert np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))


@pytest.mark.parametrize("name", IMAGES)
def test_the_pixels_are_nearest_palette_colours_of_the_input(runs, name):
    """An independent check of the common result: each output pixel is a palette entry as near to its
    input pixel as any (opaque pixels), transparency kept where it was."""
    src, outs = runs
    out = outs["single"] / _out_name(name)
    with Image.open(out) as im:
        assert im.mode == "P"
        pal = np.array(im.getpalette(), np.int64).reshape(-1, 3)
        alpha = np.full(len(pal), 255)
        trns = im.info.get("transparency")
        if isinstance(trns, bytes):
            alpha[: len(trns)] = list(trns)
        elif trns is not None:
            alpha[trns] = 0
    opaque_entries = pal[alpha == 255]
    for inp, got in zip(_frames(src / name), _frames(out)):
        inp, got = inp.astype(np.int64), got.astype(np.int64)
        assert np.array_equal(got[..., 3] == 0, inp[..., 3] == 0)  # invisible stays invisible
        assert np.array_equal(got[..., 3] == 255, inp[..., 3] == 255)  # opaque stays opaque
        opaque = inp[..., 3] == 255
        px, gx = inp[opaque][:, :3], got[opaque][:, :3]
        d2 = ((px[:, None, :] - opaque_entries[None]) ** 2).sum(-1)
        assert np.array_equal(((px - gx) ** 2).sum(-1), d2.min(axis=1))
