"""The lossless PNG pass (oxipng) and the palette order for deflate: same pixels, fewer bytes, chunks kept."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from kmeans_compress import FileOptions, compress, compress_file, compress_with_palette, encode_png, optimize_png
from kmeans_compress._encode import MAX_EFFORT
from kmeans_compress._files import read_stamp
from kmeans_compress._palette import deflate_order

pytest.importorskip("oxipng")


@pytest.fixture(params=["whole", "sampled", "small"])
def pass_path(request, monkeypatch):
    """The lossless pass three ways: oxipng's own search on the whole image (between SMALL_PIXELS
    and FAST_START_PIXELS; here forced from 0), the trials on a sample of rows then one deflate
    (from FAST_START_PIXELS; here forced on small images), and our own pass below SMALL_PIXELS
    (here forced on the 120 x 160 photo)."""
    from kmeans_compress import _encode

    if request.param == "whole":
        monkeypatch.setattr(_encode, "SMALL_PIXELS", 0)
    if request.param == "sampled":
        monkeypatch.setattr(_encode, "FAST_START_PIXELS", 1)
        monkeypatch.setattr(_encode, "_TRIAL_BAND", 4)  # several bands on a 120-row photo
    if request.param == "small":
        monkeypatch.setattr(_encode, "SMALL_PIXELS", 1 << 30)
    return request.param


def _chunks(data: bytes) -> dict[bytes, bytes]:
    out, pos = {}, 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        out.setdefault(ctype, data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return out


def _rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("k", [2, 4, 16, 64, 256])
def test_pass_keeps_pixels_and_indexed_never_larger(photo, k, pass_path):
    r = compress(photo, k)
    before = r.encode("PNG", effort=0)
    after = r.encode("PNG", effort=2)
    if pass_path in ("whole", "small"):
        assert len(after) <= len(before)
    assert after[25] == 3  # IHDR colour type: still indexed
    np.testing.assert_array_equal(_rgba(after), _rgba(before))
    np.testing.assert_array_equal(_rgba(after)[..., :3], r.image)
    with Image.open(io.BytesIO(after)) as im:
        assert len(im.getpalette()) // 3 <= k


def test_palette_order_alone_keeps_pixels(photo):
    r = compress(photo, 16)
    plain = encode_png(r.labels, r.palette)  # the entries as given
    ordered = r.encode("PNG", effort=0)  # reordered for deflate, no oxipng
    np.testing.assert_array_equal(_rgba(ordered), _rgba(plain))


def test_deflate_order_is_a_permutation_and_deterministic(photo):
    for k in (4, 16, 64):
        r = compress(photo, k)
        o = deflate_order([r.labels], r.palette)
        assert sorted(o.tolist()) == list(range(r.palette.shape[0]))
        np.testing.assert_array_equal(o, deflate_order([r.labels], r.palette))


@pytest.mark.parametrize("effort", [2, 3])
def test_transparency_kept(pass_path, effort):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(rgba[..., 3] > 128, 255, np.where(rgba[..., 3] > 60, 100, 0))
    r = compress(rgba, 12)
    data = r.encode("PNG", effort=effort)
    assert b"tRNS" in _chunks(data)
    a, b = _rgba(data), _rgba(r.encode("PNG", effort=0))
    vis = b[..., 3] > 0
    np.testing.assert_array_equal(a[..., 3], b[..., 3])
    np.testing.assert_array_equal(a[vis], b[vis])


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_icc_profile_kept(photo, pass_path):
    r = compress(photo, 16)
    r.icc_profile = _srgb_profile()
    data = r.encode("PNG", effort=2)
    assert b"iCCP" in _chunks(data)
    name, _, rest = _chunks(data)[b"iCCP"].partition(b"\0")
    assert zlib.decompress(rest[1:]) == r.icc_profile


def test_deterministic_run_to_run(photo, pass_path):
    r = compress(photo, 64)
    assert len({r.encode("PNG", effort=e) for e in (2, 2, 2)}) == 1


def test_resume_stamp_survives(tmp_path):
    from kmeans_compress import sample_image_path

    out = tmp_path / "o.png"
    o = compress_file(sample_image_path(), out, FileOptions(n_colors=8, resume=True))
    assert o.status == "done"
    stamp = read_stamp(out)
    assert stamp is not None and stamp["n_colors_used"] == 8
    assert compress_file(sample_image_path(), out, FileOptions(n_colors=8, resume=True)).status == "skipped"


def test_given_palette_kept_whole_and_in_order(photo, pass_path):
    pal = np.array([[255, 255, 255], [0, 0, 0], [200, 10, 10], [1, 2, 250], [7, 7, 7]], np.uint8)
    r = compress_with_palette(photo, pal)
    with Image.open(io.BytesIO(r.encode("PNG", effort=2))) as im:
        file_pal = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(file_pal[: len(pal)], pal)


def test_effort_checked_and_zero_is_identity(photo):
    png = encode_png(compress(photo, 8).labels, compress(photo, 8).palette)
    assert optimize_png(png, 0) == png
    for bad in (-1, MAX_EFFORT + 1, 1.5, True):
        with pytest.raises(ValueError, match="effort"):
            optimize_png(png, bad)


def test_deflate_order_in_bands_equals_whole_map_counts():
    """The neighbour counts are taken a band of rows at a time (bounded memory); a map of several
    bands gives the order of a whole-map count (reference written here)."""
    from kmeans_compress._palette import deflate_order

    rng = np.random.default_rng(7)
    h, w, k = 1601, 700, 12  # more than 2**20 pixels: three bands
    base = (np.add.outer(np.arange(h) // 9, np.arange(w) // 4) % k).astype(np.uint8)
    m = np.where(rng.random((h, w)) < 0.3, rng.integers(0, k, (h, w)), base).astype(np.uint8)
    a = m.astype(np.int64)
    score = np.zeros((k, k))
    for pair in (a[:, 1:] * k + a[:, :-1], a[1:, :] * k + a[:-1, :]):
        score += np.bincount(pair.ravel(), minlength=k * k).reshape(k, k)
    score += score.T
    order, placed = [0], np.zeros(k, bool)
    placed[0] = True
    for _ in range(1, k):
        j = int(np.argmax(np.where(placed, -np.inf, score[order[-1]])))
        order.append(j)
        placed[j] = True
    assert deflate_order([m], rng.integers(0, 256, (k, 3)).astype(np.uint8)).tolist() == order


@pytest.mark.parametrize("k", [4, 64])
def test_oxipng_ends_where_it_ends_from_either_start_file(photo, k):
    # From FAST_START_PIXELS the pass starts from a file Pillow writes fast (zlib level 1), not
    # Pillow's smallest (level 9, optimize): oxipng re-filters and re-deflates every byte, so its
    # result must not depend on which of the two it starts from (``force``: oxipng otherwise
    # returns its input when it cannot beat it, which Pillow's smallest file sometimes is).
    import oxipng

    from kmeans_compress._encode import _pillow_file

    r = compress(photo, k)
    given = ([r.labels], r.palette, None, (), "PNG", None, None)
    fast, smallest = _pillow_file(*given, fast=True), _pillow_file(*given, fast=False)
    assert fast != smallest
    for f in (oxipng.RowFilter.NoOp, oxipng.RowFilter.Entropy):
        opts = {"level": 2, "filter": [f], "palette_reduction": False, "force": True}
        assert oxipng.optimize_from_memory(fast, **opts) == oxipng.optimize_from_memory(smallest, **opts)


def test_sampled_pass_at_every_effort_keeps_pixels(photo, monkeypatch):
    from kmeans_compress import _encode

    monkeypatch.setattr(_encode, "FAST_START_PIXELS", 1)
    r = compress(photo, 16)
    before = _rgba(r.encode("PNG", effort=0))
    for effort in (1, 2, 3, MAX_EFFORT):
        data = r.encode("PNG", effort=effort)
        np.testing.assert_array_equal(_rgba(data), before)
        assert len(_chunks(data)[b"PLTE"]) == 3 * 16


def test_trial_rows_are_every_eighth_band_and_the_second_sample_the_rows_between():
    from kmeans_compress._encode import _TRIAL_BAND, _TRIAL_EVERY, _trial_rows

    h = 1000
    first, second = _trial_rows(h), _trial_rows(h, offset=_TRIAL_BAND * _TRIAL_EVERY // 2)
    assert first[:_TRIAL_BAND].tolist() == list(range(_TRIAL_BAND))
    assert first[_TRIAL_BAND] == _TRIAL_BAND * _TRIAL_EVERY
    assert not set(first) & set(second)
    assert abs(first.size - h / _TRIAL_EVERY) <= _TRIAL_BAND and abs(second.size - h / _TRIAL_EVERY) <= _TRIAL_BAND


def test_order_in_reads_the_permutation_back_from_a_file():
    from kmeans_compress._encode import _order_in

    rng = np.random.default_rng(3)
    pal = rng.integers(0, 256, (9, 4), dtype=np.uint8)
    pal[:, 3] = [0, 255, 255, 100, 255, 255, 255, 7, 255]
    perm = rng.permutation(9)
    im = Image.new("P", (3, 3))
    im.putpalette(pal[perm, :3].tobytes(), rawmode="RGB")
    buf = io.BytesIO()
    im.save(buf, format="PNG", transparency=pal[perm, 3].tobytes())
    assert _order_in(buf.getvalue(), pal).tolist() == perm.tolist()
    assert _order_in(buf.getvalue(), pal[:, :3]) is None  # the alphas differ
    other = pal.copy()
    other[4, 0] ^= 1
    assert _order_in(buf.getvalue(), other) is None
    twice = pal.copy()
    twice[5] = twice[6]
    assert _order_in(buf.getvalue(), twice) is None


def test_large_image_pass_keeps_pixels_and_is_not_larger(photo, monkeypatch, pass_path):
    # From LARGE_PIXELS the heap is trimmed before the pass: same pixels, still smaller.
    from kmeans_compress import _encode

    r = compress(photo, 64)
    monkeypatch.setattr(_encode, "LARGE_PIXELS", 1)
    before, after = r.encode("PNG", effort=0), r.encode("PNG", effort=2)
    assert len(after) < len(before)
    np.testing.assert_array_equal(_rgba(after), _rgba(before))


@pytest.mark.parametrize("seed", range(12))
def test_small_pass_pixels_chunks_and_size(seed):
    """Our pass below SMALL_PIXELS on random index maps (odd widths, one row or column, 1 to 256
    entries, RGBA palettes, smooth and noisy maps): Pillow decodes ``palette[indices]`` exactly
    (looked up by numpy), the file is never larger than Pillow's own (effort 0), the same bytes
    twice, and a palette kept in order (``keep_order``) is written in that order."""
    from kmeans_compress._encode import SMALL_PIXELS, encode_animation

    rng = np.random.default_rng(seed)
    for _ in range(8):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        if rng.random() < 0.2:
            h = 1 if rng.random() < 0.5 else h
            w = 1 if h > 1 else w
        assert h * w < SMALL_PIXELS
        k = int(rng.choice([1, 2, 3, 4, 5, 15, 16, 17, 64, 200, 256]))
        channels = 4 if rng.random() < 0.3 else 3
        palette = rng.integers(0, 256, (k, channels), dtype=np.uint8)
        if channels == 4:
            palette[rng.random(k) < 0.5, 3] = 255
        indices = rng.integers(0, k, (h, w)).astype(np.uint8)
        if rng.random() < 0.5:  # smooth: runs of equal indices, as in a quantized photo
            indices = np.sort(indices, axis=1)
        keep = bool(rng.random() < 0.3)
        data = encode_animation([indices], palette, (), "PNG", effort=2, keep_order=keep)
        plain = encode_animation([indices], palette, (), "PNG", effort=0, keep_order=keep)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[25] == 3
        assert len(data) <= len(plain)
        assert data == encode_animation([indices], palette, (), "PNG", effort=2, keep_order=keep)
        rgba = palette if channels == 4 else np.column_stack([palette, np.full(k, 255, np.uint8)])
        np.testing.assert_array_equal(_rgba(data), rgba[indices])
        if keep:
            with Image.open(io.BytesIO(data)) as im:
                file_pal = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
            np.testing.assert_array_equal(file_pal[:k], palette[:, :3])


def test_small_pass_smaller_than_pillow_on_a_ramp():
    """A map whose rows are a shifted ramp of 16 entries (each row the one above, three pixels
    later): the pass's trials (8 bits a pixel, the row filters) write fewer bytes than Pillow's
    smallest file, with the same pixels."""
    from kmeans_compress._encode import encode_animation

    palette = np.stack([np.arange(16) * 17, 255 - np.arange(16) * 17, np.arange(16) * 5], axis=1).astype(np.uint8)
    indices = ((np.arange(64)[None, :] + np.arange(64)[:, None] * 3) % 16).astype(np.uint8)
    data = encode_animation([indices], palette, (), "PNG", effort=2, keep_order=False)
    plain = encode_animation([indices], palette, (), "PNG", effort=0, keep_order=False)
    assert len(data) < len(plain)
    np.testing.assert_array_equal(_rgba(data)[..., :3], palette[indices])
