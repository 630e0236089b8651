"""Stage 5, encode: a palette and index maps -> an indexed PNG, a GIF or a lossless WebP, written atomically.

Files are written only by :func:`write_atomic` (a temporary file in the same
folder, then a rename), never in place. The PNG bit depth (1, 2, 4 or 8) follows
from the palette size (a small image's lossless pass may write 8 bits where that deflates
better); an RGBA palette goes into a tRNS chunk.

PNG output can be made smaller without changing a pixel: the palette entries
reordered so that neighbours in the image get near indices
(:func:`._palette.deflate_order`), then a lossless pass of oxipng
(:func:`optimize_png`: better row filters and deflate; the ``pyoxipng`` package)
whose strength is the ``effort``; below ``SMALL_PIXELS`` at effort 1 and 2 a pass of our own
(:func:`_small_pass`: a few row-filter, bit-depth and palette-order trials on libdeflate).
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ._exceptions import OptionNotAllowedError, OutputExistsError

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: temporary files are told apart by age (remove_stale_temp)
    _fcntl = None  # type: ignore[assignment]
from ._palette import deflate_order
from ._validation import check_index_maps, check_palette

__all__ = [
    "DEFAULT_EFFORT",
    "MAX_EFFORT",
    "OUTPUT_FORMATS",
    "add_text_chunk",
    "encode_animation",
    "encode_image",
    "encode_png",
    "is_temp_of",
    "names_a_folder",
    "optimize_png",
    "output_format",
    "rgb_profile",
    "write_atomic",
]

#: Output formats by file suffix.
OUTPUT_FORMATS = {".png": "PNG", ".gif": "GIF", ".webp": "WEBP"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Effort of the lossless PNG pass: 0 none (Pillow's encoder alone), 1-6 oxipng's presets of the same
#: number, MAX_EFFORT oxipng's preset 2 with zopfli's deflate (15 iterations; tens of seconds a photo).
#: Below SMALL_PIXELS, effort 1 and 2 run a pass of our own instead (:func:`_small_pass`).
#: The default, 2, from bytes against wall time on the benchmark photos (benchmarks/RESULTS.md,
#: "Effort: bytes against the time of the lossless pass"): preset 2 takes ~0.1 s a megapixel for
#: 5-20 % fewer bytes; preset 3 costs 3-4 times as long for under 1 % more. From 1 Mpx the
#: trials run on a sample of the rows (:func:`_searched_png`).
DEFAULT_EFFORT = 2
MAX_EFFORT = 7


def output_format(path: str | os.PathLike[str]) -> str:
    """Pillow format name for an output path, from its suffix (.png, .gif, .webp).

    Examples
    --------
    >>> output_format("a/b.GIF")
    'GIF'
    """
    suffix = Path(path).suffix.lower()
    try:
        return OUTPUT_FORMATS[suffix]
    except KeyError:
        raise ValueError(
            f"{path}: unknown output type {suffix or '(no suffix)'!r}; use one of {', '.join(OUTPUT_FORMATS)}"
        ) from None


def _indexed_image(indices: np.ndarray, palette: np.ndarray) -> tuple[Image.Image, bytes | None]:
    """A P-mode image and its tRNS alpha (None: all opaque) of a map and palette already checked
    by :func:`encode_animation`."""
    idx = np.ascontiguousarray(indices, dtype=np.uint8)
    img = Image.frombytes("P", (idx.shape[1], idx.shape[0]), idx.tobytes())
    img.putpalette(np.ascontiguousarray(palette[:, :3]).tobytes(), rawmode="RGB")
    alpha = None
    if palette.shape[1] == 4 and not bool((palette[:, 3] == 255).all()):
        alpha = palette[:, 3].tobytes()
    return img, alpha


def encode_png(
    indices: np.ndarray,
    palette: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    effort: int = 0,
    keep_order: bool = True,
) -> bytes:
    """Encode an index map and its palette as an optimized indexed PNG.

    The bit depth (1, 2, 4 or 8) follows from the palette size: Pillow writes
    the smallest depth that holds ``len(palette)`` entries. An RGBA palette is
    written with a tRNS chunk (the alpha of every entry). ``effort`` (0 to
    ``MAX_EFFORT``) is that of :func:`optimize_png`; without ``keep_order`` the
    entries may be reordered (same pixels) for a smaller file.

    Raises
    ------
    ValueError
        ``palette`` is not 1 to 256 rows of 3 or 4 integers 0-255, or ``indices``
        is not a 2-D integer map whose every value is an entry of ``palette``.
    """
    return encode_animation(
        [indices], palette, (), "PNG", icc_profile=icc_profile, effort=effort, keep_order=keep_order
    )


def optimize_png(
    data: bytes, effort: int = DEFAULT_EFFORT, *, keep_palette: bool = False, pixels: int | None = None
) -> bytes:
    """A lossless oxipng pass over an indexed PNG: the same pixels, never more bytes.

    The image stays indexed (no change to grey or RGB), keeps its tRNS and
    ICC chunks and every other chunk, and is the same bytes run to run (oxipng
    keeps the smallest of its trials, whatever its threads did first).
    ``keep_palette`` forbids oxipng to drop or reorder entries (a given palette
    is kept whole, in its order). Effort 0, or no ``pyoxipng`` installed, returns
    ``data`` unchanged.

    From ``LARGE_PIXELS`` pixels (``pixels``, the image's width x height) the heap's free pages go
    back to the system first. The encoder sends images from ``FAST_START_PIXELS`` at effort 2 and
    more to :func:`_searched_png` instead (the same trials on a sample of the rows).

    Examples
    --------
    >>> import numpy as np
    >>> png = encode_png(np.zeros((64, 64), np.uint8), np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    >>> len(optimize_png(png)) <= len(png)
    True
    """
    effort = _check_effort(effort)
    if effort == 0:
        return data
    try:
        import oxipng
    except ImportError:  # an optional speed-up of the file size: the file is right without it
        return data
    opts: dict[str, Any] = {
        "level": min(effort, 6),
        "color_type_reduction": False,
        "grayscale_reduction": False,
        "palette_reduction": not keep_palette,
        "optimize_alpha": False,
        "strip": oxipng.StripChunks.none(),
    }
    if pixels is not None and pixels >= LARGE_PIXELS:
        _release_free_heap()
    if effort >= MAX_EFFORT:
        opts.update(level=2, deflate=oxipng.Deflaters.zopfli(15))
    out = oxipng.optimize_from_memory(data, **opts)
    return out if len(out) < len(data) else data


#: From this many pixels (8 Mpx) the pass first returns the heap's free pages (:func:`_release_free_heap`).
LARGE_PIXELS = 1 << 23
#: From this many pixels (1 Mpx) effort 2 and more choose the row filter and the palette order by
#: trials on a sample of the rows (:func:`_searched_png`), and the pass starts from a fast Pillow
#: file (zlib level 1) rather than Pillow's smallest (level 9; 0.4-0.7 s at 4 Mpx). Below, oxipng's
#: own search on the whole image costs little, and the pass starts from Pillow's smallest file,
#: which makes "never larger than without the pass" hold whatever oxipng finds.
FAST_START_PIXELS = 1 << 20


def _release_free_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``) before oxipng's
    pass allocates its own: the stages before leave tens of megabytes freed but still resident
    (58 MB at 24 Mpx, measured: arrays below glibc's mmap threshold come from the heap). No-op
    where there is no glibc."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def _chunks(png: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each chunk of ``png``: its data is ``png[start:end]``."""
    pos = 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        yield png[pos + 4 : pos + 8], pos + 8, pos + 8 + length
        pos += 12 + length


def _check_effort(effort: Any) -> int:
    if isinstance(effort, bool) or not isinstance(effort, (int, np.integer)) or not 0 <= effort <= MAX_EFFORT:
        raise ValueError(f"effort must be an integer from 0 to {MAX_EFFORT}, got {effort!r}.")
    return int(effort)


def encode_image(
    indices: np.ndarray,
    palette: np.ndarray,
    fmt: str = "PNG",
    *,
    icc_profile: bytes | None = None,
) -> bytes:
    """Encode as ``fmt``: 'PNG' (indexed), 'GIF' (indexed) or 'WEBP' (lossless).

    GIF holds on/off transparency only: a palette with partly transparent
    entries is refused for GIF. ``palette`` and ``indices`` are checked as by
    :func:`encode_png` (ValueError).
    """
    return encode_animation([indices], palette, (), fmt, icc_profile=icc_profile)


#: Lossless WebP at its slowest, smallest setting; the same for one frame and for an animation.
WEBP_OPTIONS: dict[str, Any] = {"lossless": True, "quality": 100, "method": 6, "exact": True}


def _renumbered(indices: np.ndarray, renumber: np.ndarray) -> np.ndarray:
    """``renumber[indices]`` as uint8, a band of rows at a time: the look-up's intp index copy
    of a whole 24-Mpx map would be about 190 MB."""
    out = np.empty(indices.shape, dtype=np.uint8)
    rows = max(1, _BAND_PIXELS // max(1, indices.shape[-1]))
    for r0 in range(0, indices.shape[0], rows):
        out[r0 : r0 + rows] = renumber[indices[r0 : r0 + rows]]
    return out


#: Pixels of one band where a whole index map would be copied to a wider type.
_BAND_PIXELS = 1 << 20


#: An ICC profile's header (ICC.1, section 7.2): 128 bytes, the profile's size at offset 0, its
#: data colour space at offset 16 and the signature 'acsp' at offset 36; then the tag count (4 bytes).
_ICC_HEADER = 128
_ICC_MIN_SIZE = _ICC_HEADER + 4


def rgb_profile(icc_profile: bytes | None) -> bytes | None:
    """``icc_profile`` if it is a well-formed ICC profile of RGB data, else None.

    The outputs hold RGB colours (a palette of RGB entries, or RGB(A) WebP pixels), and the PNG
    specification allows an indexed PNG only an RGB profile: libpng drops a gray one ("iCCP: 'GRAY':
    Gray color space not permitted on RGB PNG") and an unreadable one ("iCCP: too short"), and a
    viewer that applied either would show other colours. So a gray input's profile, or bytes that
    are no profile (a size that is not their length, no 'acsp' signature), are left out.
    """
    if not icc_profile or len(icc_profile) < _ICC_MIN_SIZE:
        return None
    (size,) = struct.unpack(">I", icc_profile[:4])
    if size != len(icc_profile) or icc_profile[36:40] != b"acsp" or icc_profile[16:20] != b"RGB ":
        return None
    return icc_profile


def encode_animation(
    frames: list[np.ndarray],
    palette: np.ndarray,
    durations: list[int] | tuple[int, ...],
    fmt: str = "PNG",
    *,
    loop: int | None = 0,
    icc_profile: bytes | None = None,
    effort: int = 0,
    keep_order: bool = True,
) -> bytes:
    """Encode index maps sharing one palette as a PNG, GIF or lossless WebP; several frames make an animation.

    ``durations`` (milliseconds per frame) and ``loop`` (0: forever; ``None``: play once, as a
    GIF without a loop count does) are used only for more than one frame. ``icc_profile`` is
    written into a PNG or WebP when it is a well-formed RGB profile (:func:`rgb_profile`), else
    left out; a GIF holds none. For PNG: without ``keep_order`` the palette entries are reordered
    for deflate (:func:`._palette.deflate_order`; the same pixels), and a single image then gets
    the lossless pass of ``effort``: :func:`optimize_png`, or from ``FAST_START_PIXELS``
    :func:`_searched_png` (the same trials on a sample of the rows), or below ``SMALL_PIXELS`` at
    effort 1 and 2 :func:`_small_pass`.
    """
    fmt = fmt.upper()
    if fmt not in OUTPUT_FORMATS.values():
        raise ValueError(f"unknown output format {fmt!r}; use PNG, GIF or WEBP")
    effort = _check_effort(effort)
    # Checked, not cast: a cast to uint8 would wrap or truncate bad values into other colours.
    palette = check_palette(palette, alpha=True)
    frames = check_index_maps(frames, palette.shape[0])
    icc_profile = rgb_profile(icc_profile)
    # Every entry given is written: entries no pixel uses (fixed colours, --keep) stay in the file.
    whole = keep_order or fmt != "PNG" or not _all_used(frames, palette.shape[0])
    renumber = None
    if fmt == "PNG" and not keep_order:
        order = deflate_order(frames, palette)
        renumber = np.empty(order.size, dtype=np.uint8)
        renumber[order] = np.arange(order.size, dtype=np.uint8)
        palette = palette[order]
    args = (frames, palette, renumber, durations, fmt, loop, icc_profile)
    pixels = int(np.asarray(frames[0]).size)
    if fmt == "PNG" and len(frames) == 1 and effort >= 2 and pixels >= FAST_START_PIXELS and _have_oxipng():
        return _searched_png(frames[0], palette, renumber, icc_profile, effort, reorder=not whole)
    data = _pillow_file(*args, fast=False)
    if fmt == "PNG" and len(frames) == 1 and 0 < effort <= 2 and pixels < SMALL_PIXELS:
        return _small_pass(data, frames[0], renumber, reorder=not whole)
    if fmt == "PNG" and len(frames) == 1 and effort > 0:  # oxipng would keep an animation's first frame only
        data = optimize_png(data, effort, keep_palette=whole, pixels=pixels)
    return data


def _searched_png(
    indices: np.ndarray,
    palette: np.ndarray,
    renumber: np.ndarray | None,
    icc_profile: bytes | None,
    effort: int,
    *,
    reorder: bool,
) -> bytes:
    """A large image's PNG at effort 2 or more: the row filter and the palette order chosen by
    trials on a sample of the rows, then one deflate of the whole image.

    oxipng's own search (preset 2) deflates the whole image once per trial: its palette sorts
    with the row filters None and Bigrams, then Sub and Entropy on the winner, at libdeflate
    level 7, then the best at level 11. Here the same trials (each filter of preset 2 with
    oxipng's sorts and the order given; ``reorder`` False keeps the entries where they are)
    run at the same level on one band of ``_TRIAL_BAND`` rows in ``_TRIAL_EVERY``, and only the
    winner deflates the whole image (effort 3 to 6: with the filter trials of that preset, on
    the chosen order). Measured in benchmarks/RESULTS.md ("The lossless pass: trials on a
    sample"). If the pass does not beat the fast file it starts from, Pillow's smallest file
    with the order given is written.
    """
    import oxipng

    idx = np.asarray(indices)
    base: dict[str, Any] = {
        "color_type_reduction": False,
        "grayscale_reduction": False,
        "optimize_alpha": False,
        "strip": oxipng.StripChunks.none(),
    }
    trial = _pillow_file([idx[_trial_rows(idx.shape[0])]], palette, renumber, (), "PNG", None, icc_profile, fast=True)
    evaluate = {"level": 2, "deflate": oxipng.Deflaters.libdeflater(7), **base}
    trials = []
    for name in _TRIAL_FILTERS:
        f = getattr(oxipng.RowFilter, name)
        out = oxipng.optimize_from_memory(trial, palette_reduction=reorder, filter=[f], **evaluate)
        trials.append([len(out), f, out])
    trials.sort(key=lambda t: t[0])  # stable: of equal sizes the first filter tried
    if trials[1][0] <= trials[0][0] * (1 + _NEAR_TIE):
        # A near tie on one sample can go either way on the whole image (0.06 % apart on the
        # sample, 2.9 % on the whole, measured): the two also try the rows between the bands, each
        # with the palette order it found, and the sum decides.
        other = idx[_trial_rows(idx.shape[0], offset=_TRIAL_BAND * _TRIAL_EVERY // 2)]
        for t in trials[:2]:
            order = _reordered(palette, renumber, _order_in(t[2], palette) if reorder else None)
            second = _pillow_file([other], *order, (), "PNG", None, icc_profile, fast=True)
            t[0] += len(oxipng.optimize_from_memory(second, palette_reduction=False, filter=[t[1]], **evaluate))
        trials[:2] = sorted(trials[:2], key=lambda t: t[0])
    _, chosen, won = trials[0]
    given = ([idx], palette, renumber, (), "PNG", None, icc_profile)
    return _final_pass(oxipng, idx, given, _order_in(won, palette) if reorder else None, chosen, effort, base)


def _final_pass(
    oxipng: Any,
    idx: np.ndarray,
    given: tuple[Any, ...],
    perm: np.ndarray | None,
    chosen: Any,
    effort: int,
    base: dict[str, Any],
) -> bytes:
    """The whole image's pass of :func:`_searched_png` with file entry ``j`` = given entry ``perm[j]``
    (None: the order given) and row filter ``chosen``; never larger than Pillow's fast file (zlib
    level 1), and Pillow's smallest (level 9, effort 0's file) when oxipng does not beat that one.
    Pillow's smallest is not made otherwise (0.4-0.7 s at 4 Mpx), so it can be a little smaller than
    the result where the sampled trials chose badly: a review found 68,952 against 69,461 bytes on
    1024 x 1024 pixel art of 8-fold repeated rows (a synthetic 1-Mpx image at K = 256: 273,850 against
    273,164)."""
    _, palette, renumber, *rest = given
    args = ([idx], *_reordered(palette, renumber, perm), *rest)
    opts: dict[str, Any] = {"level": min(effort, 6), "palette_reduction": False, "force": effort == 2, **base}
    if effort == 2:
        opts["filter"] = [chosen]
    if effort >= MAX_EFFORT:
        opts.update(level=2, filter=[chosen], deflate=oxipng.Deflaters.zopfli(15))
    start = _pillow_file(*args, fast=True)
    if idx.size >= LARGE_PIXELS:
        _release_free_heap()
    out: bytes | None = None
    if effort == 2:  # oxipng filters (its data stored, not deflated); libdeflate 11, its level 2's, on the cores
        out = _with_image_data(oxipng.optimize_from_memory(start, **opts, deflate=oxipng.Deflaters.libdeflater(0)))
    if out is None:
        out = oxipng.optimize_from_memory(start, **opts)
    return out if len(out) < len(start) else _pillow_file(*given, fast=False)


#: Below this many pixels (128 x 128) effort 1 and 2 run :func:`_small_pass` instead of oxipng:
#: oxipng's preset 2 costs a 64 x 64 image 5-8 ms of CPU whatever it holds (its trials: palette
#: sorts x row filters x bit depths, each deflating the whole image), more than the fit.
#: Measured (benchmarks/RESULTS.md, "Issue 15: small images and thumbnails, third pass"): on 100 of
#: the 2,000 thumbnails of ``bench_batch.py --thumbs``, the whole PNG encode 3.3 / 2.4 / 4.6 ms
#: against 7.6 / 8.1 / 8.4 ms with oxipng at K = 16 / 64 / 256, and 1.8 / 1.3 / 0.6 % fewer bytes;
#: on crops of five photos outside the benchmark set (32, 64, 127 px) 0.6-4.5 % fewer bytes.
SMALL_PIXELS = 1 << 14
#: libdeflate's level for the trials of :func:`_small_pass` (the winner is deflated at level 12).
_SMALL_TRIAL_LEVEL = 6


def _small_pass(png: bytes, frame: np.ndarray, renumber: np.ndarray | None, *, reorder: bool) -> bytes:
    """The lossless pass of a small image (below ``SMALL_PIXELS``), in place of oxipng's: Pillow's
    smallest file ``png`` of the index map ``frame`` (through ``renumber``), its image data written
    again from the smallest of several trials, each deflated by libdeflate at
    ``_SMALL_TRIAL_LEVEL``: the palette in the file's order and (``reorder``: the entries may
    move) sorted by luma, the bit depth the palette needs and 8 bits a pixel, and the row filters
    of :func:`_row_trials`. The winner is deflated at level 12. Chunks and pixels stay; never more
    bytes than ``png``; a function of the inputs only. Without the ``deflate`` package, ``png``."""
    try:
        import deflate
    except ImportError:  # the file is right without the pass
        return png
    chunks = {ctype: png[start:end] for ctype, start, end in _chunks(png) if ctype in (b"PLTE", b"tRNS")}
    plte = np.frombuffer(chunks[b"PLTE"], dtype=np.uint8).reshape(-1, 3)
    indices = np.asarray(frame, dtype=np.uint8) if renumber is None else _renumbered(frame, renumber)
    depth = next(d for d in (1, 2, 4, 8) if plte.shape[0] <= 1 << d)
    perms = [np.arange(plte.shape[0])]
    if reorder:
        luma = np.argsort(plte.astype(np.int64) @ np.array([299, 587, 114]), kind="stable")
        if not np.array_equal(luma, perms[0]):
            perms.append(luma)
    best: tuple[int, int, int, bytes] | None = None
    for n, perm in enumerate(perms):
        inverse = np.empty(perm.size, dtype=np.uint8)
        inverse[perm] = np.arange(perm.size, dtype=np.uint8)
        mapped = indices if n == 0 else inverse[indices]
        for bits in sorted({depth, 8}):
            for trial in _row_trials(_packed(mapped, bits)):
                size = len(deflate.zlib_compress(trial, _SMALL_TRIAL_LEVEL))
                if best is None or size < best[0]:  # the first of equal sizes
                    best = (size, n, bits, trial)
    assert best is not None
    _, n, bits, trial = best
    data = bytes(deflate.zlib_compress(trial, 12))
    before, idat, after = _split_idat(png)
    if len(data) >= len(idat):
        return png
    out = bytearray(before[:8])
    for ctype, start, end in _chunks(before):
        body = before[start:end]
        if ctype == b"IHDR":
            body = body[:8] + bytes([bits]) + body[9:]
        elif ctype == b"PLTE" and n:
            body = plte[perms[n]].tobytes()
        elif ctype == b"tRNS" and n:
            alpha = np.full(plte.shape[0], 255, dtype=np.uint8)
            given = np.frombuffer(body, dtype=np.uint8)[: plte.shape[0]]
            alpha[: given.size] = given
            alpha = alpha[perms[n]]
            kept = np.flatnonzero(alpha < 255)
            if kept.size == 0:
                continue
            body = alpha[: int(kept[-1]) + 1].tobytes()
        out += _chunk(ctype, body)
    return bytes(out) + _chunk(b"IDAT", data) + after


def _packed(indices: np.ndarray, bits: int) -> np.ndarray:
    """PNG scanlines (height x bytes, uint8) of an index map at ``bits`` bits a pixel (1, 2, 4 or
    8): the leftmost pixel in the high bits, the last byte of a row padded with zeros."""
    per = 8 // bits
    if per == 1:
        return indices
    h, w = indices.shape
    cells = np.zeros((h, -(-w // per) * per), dtype=np.uint8)
    cells[:, :w] = indices
    shifts = (8 - bits * np.arange(1, per + 1)).astype(np.uint8)
    return np.bitwise_or.reduce(cells.reshape(h, -1, per) << shifts, axis=2).astype(np.uint8)


def _filtered(rows: np.ndarray) -> np.ndarray:
    """The five PNG row filters (None, Sub, Up, Average, Paeth; one byte a pixel's step) of the
    scanlines ``rows`` (height x bytes, uint8): shape (5, height, bytes), uint8."""
    x = rows.astype(np.int16)
    a = np.zeros_like(x)
    a[:, 1:] = x[:, :-1]
    b = np.zeros_like(x)
    b[1:] = x[:-1]
    c = np.zeros_like(x)
    c[1:, 1:] = x[:-1, :-1]
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    return (np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]) & 255).astype(np.uint8)


#: |b| of each byte b read as a signed byte (libpng's filter heuristic).
_ABS_SIGNED = np.abs(np.arange(256, dtype=np.int16) - 256 * (np.arange(256) > 127)).astype(np.int16)


def _row_trials(rows: np.ndarray) -> list[bytes]:
    """A PNG's filtered image data (a filter byte before each row) for each trial: every row with
    the filter None, Up, or Paeth, then each row's filter chosen by the smallest sum of absolute
    signed bytes (libpng's heuristic) and by the least entropy of its bytes. Sub, Average and a
    choice by fewest distinct byte pairs, tried too, won on 16 of 312 small images (thumbnails
    and crops of other photos, K = 4 to 256; each costs a deflate a trial): left out."""
    h, w = rows.shape
    f = _filtered(rows)
    signed = _ABS_SIGNED[f].sum(axis=2, dtype=np.int64)
    # A row's entropy is log2(w) - sum(c log2 c) / w over its byte counts c: least entropy, most sum.
    keys = (np.arange(5 * h, dtype=np.intp)[:, None] * 256 + f.reshape(5 * h, w)).ravel()
    counts = np.bincount(keys, minlength=5 * h * 256)
    c_log_c = np.arange(w + 1, dtype=np.float64)
    c_log_c[1:] *= np.log2(c_log_c[1:])
    order = c_log_c[counts].reshape(5, h, 256).sum(axis=2)
    choices = [np.full(h, i) for i in (0, 2, 4)] + [signed.argmin(axis=0), order.argmax(axis=0)]
    out = []
    for choice in choices:
        data = np.empty((h, w + 1), dtype=np.uint8)
        data[:, 0] = choice
        data[:, 1:] = f[choice, np.arange(h)]
        out.append(data.tobytes())
    return out


def _chunk(ctype: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    body = ctype + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _with_image_data(png: bytes) -> bytes | None:
    """``png`` with its image data (the IDAT chunks) deflated again by :func:`._deflate.zlib_stream`
    at libdeflate level 11 (what oxipng's level 2 deflates with); None where that is not available."""
    from ._deflate import zlib_stream  # ctypes and a thread pool: loaded by large images only

    before, idat, after = _split_idat(png)
    data = zlib_stream(zlib.decompress(idat), 11)
    del idat
    if data is None:
        return None
    return before + _chunk(b"IDAT", data) + after


def _split_idat(png: bytes) -> tuple[bytes, bytes | memoryview, bytes]:
    """(the bytes before the first IDAT chunk, the IDAT chunks' data joined, the bytes after the
    last); one IDAT chunk's data is a view into ``png``, not a copy (24 MB at 24 Mpx)."""
    first, last, parts = -1, -1, []
    view = memoryview(png)
    for ctype, start, end in _chunks(png):
        if ctype == b"IDAT":
            first = start - 8 if first < 0 else first
            last = end + 4
            parts.append(view[start:end])
    return png[:first], parts[0] if len(parts) == 1 else b"".join(parts), png[last:]


#: The row filters each tried with the palette orders (oxipng's preset 2), and the sample of
#: rows the trials of a large image use: bands of ``_TRIAL_BAND`` rows, one in ``_TRIAL_EVERY``.
_TRIAL_FILTERS = ("NoOp", "Sub", "Entropy", "Bigrams")
_TRIAL_BAND = 16
_TRIAL_EVERY = 8
_NEAR_TIE = 0.01


def _trial_rows(height: int, offset: int = 0) -> np.ndarray:
    """The rows of a trial sample: a band of ``_TRIAL_BAND`` rows in every ``_TRIAL_EVERY``, from row ``offset``."""
    return np.flatnonzero(((np.arange(height) - offset) // _TRIAL_BAND) % _TRIAL_EVERY == 0)


def _reordered(
    palette: np.ndarray, renumber: np.ndarray | None, perm: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``palette`` and ``renumber`` with file entry ``j`` = entry ``perm[j]`` (None: unchanged)."""
    if perm is None or np.array_equal(perm, np.arange(perm.size)):
        return palette, renumber
    inverse = np.empty(perm.size, dtype=np.uint8)
    inverse[perm] = np.arange(perm.size, dtype=np.uint8)
    return palette[perm], inverse if renumber is None else inverse[renumber]


def _order_in(png: bytes, palette: np.ndarray) -> np.ndarray | None:
    """Where each entry of ``png``'s PLTE (with its tRNS alpha) is in ``palette``: a permutation,
    or None when the file's entries are not those of ``palette`` in some order."""
    chunks: dict[bytes, bytes] = {}
    for ctype, start, end in _chunks(png):
        chunks.setdefault(ctype, png[start:end])
    plte = np.frombuffer(chunks.get(b"PLTE", b""), dtype=np.uint8)
    if plte.size != 3 * palette.shape[0]:
        return None
    alpha = np.full(palette.shape[0], 255, dtype=np.uint8)
    trns = np.frombuffer(chunks.get(b"tRNS", b""), dtype=np.uint8)[: palette.shape[0]]
    alpha[: trns.size] = trns
    ours = palette if palette.shape[1] == 4 else np.column_stack([palette, np.full(palette.shape[0], 255, np.uint8)])
    theirs = np.column_stack([plte.reshape(-1, 3), alpha])
    key = lambda p: p.astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.uint32)  # noqa: E731
    k_ours, k_theirs = key(ours), key(theirs)
    if np.unique(k_ours).size != k_ours.size:
        return None
    where = np.argsort(k_ours)
    pos_in = np.searchsorted(k_ours[where], k_theirs)
    perm = where[np.minimum(pos_in, where.size - 1)]
    if not np.array_equal(k_ours[perm], k_theirs):
        return None
    return perm


def _pillow_file(
    frames: list[np.ndarray],
    palette: np.ndarray,
    renumber: np.ndarray | None,
    durations: list[int] | tuple[int, ...],
    fmt: str,
    loop: int | None,
    icc_profile: bytes | None,
    *,
    fast: bool,
) -> bytes:
    """Pillow's file of the frames (renumbered through ``renumber`` when given); ``fast``: a PNG
    at zlib level 1 for oxipng to start from, instead of Pillow's smallest (level 9, optimize)."""
    if renumber is not None:
        frames = [_renumbered(np.asarray(f), renumber) for f in frames]
    params: dict[str, Any] = {}
    if fmt == "WEBP":
        mode = "RGBA" if palette.shape[1] == 4 else "RGB"
        ims = [Image.fromarray(np.ascontiguousarray(palette[np.asarray(f, dtype=np.intp)]), mode) for f in frames]
        params.update(WEBP_OPTIONS)
        if icc_profile:
            params["icc_profile"] = icc_profile
    else:
        if fmt == "GIF" and palette.shape[1] == 4:
            clear = np.flatnonzero(palette[:, 3] == 0)
            if clear.size > 1:  # a GIF has one transparent index: every clear entry's pixels take the first
                lut = np.arange(palette.shape[0], dtype=np.uint8)
                lut[clear] = clear[0]
                frames = [lut[np.asarray(f, dtype=np.uint8)] for f in frames]
        pairs = [_indexed_image(f, palette) for f in frames]
        ims = [im for im, _ in pairs]
        alpha = pairs[0][1]
        if fmt == "GIF":
            if alpha is not None:
                a = palette[:, 3]
                if ((a > 0) & (a < 255)).any():
                    raise OptionNotAllowedError(
                        "GIF cannot hold partly transparent colours; write .png or .webp instead"
                    )
                params["transparency"] = int(np.flatnonzero(a == 0)[0])
            if len(frames) > 1:
                params["disposal"] = 2  # each frame replaces the last: frames are whole images
            else:
                params["optimize"] = False
        else:
            if fast:
                params.update(optimize=False, compress_level=1)
            else:
                params["optimize"] = True
            if alpha is not None:
                params["transparency"] = alpha
            if icc_profile:
                params["icc_profile"] = icc_profile
            if len(frames) > 1:
                params["default_image"] = False
    if len(frames) > 1:
        params.update(save_all=True, append_images=ims[1:], duration=list(durations))
        if loop is not None:
            params["loop"] = loop
        elif fmt != "GIF":  # play once: a GIF without its loop block plays once, APNG and WebP say 1
            params["loop"] = 1
    buf = _io.BytesIO()
    ims[0].save(buf, format=fmt, **params)
    return buf.getvalue()


def _have_oxipng() -> bool:
    try:
        import oxipng  # noqa: F401
    except ImportError:
        return False
    return True


def _all_used(frames: list[np.ndarray], n_entries: int) -> bool:
    """Whether every one of ``n_entries`` palette entries is used by some pixel of ``frames``."""
    used = np.zeros(256, dtype=bool)
    for f in frames:
        flat = np.asarray(f, dtype=np.uint8).reshape(-1)
        for start in range(0, flat.size, _BAND_PIXELS):  # bincount copies its input as intp: in bands
            used |= np.bincount(flat[start : start + _BAND_PIXELS], minlength=256) > 0
            if used[:n_entries].all():
                return True
    return bool(used[:n_entries].all())


def add_text_chunk(png: bytes, key: str, text: str) -> bytes:
    """Insert a ``tEXt`` chunk right after the PNG's IHDR chunk."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not PNG data")
    (ihdr_len,) = struct.unpack(">I", png[8:12])
    end = 8 + 12 + ihdr_len
    return png[:end] + _chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1")) + png[end:]


def names_a_folder(dst: str | os.PathLike[str]) -> bool:
    """Whether ``dst`` is spelled as a folder: it ends in a path separator, ``.`` or ``..``, which
    ``pathlib.Path`` would drop or keep as a folder's name (``out/`` becomes ``out``).

    Examples
    --------
    >>> [names_a_folder(p) for p in ("out/", "out/.", "..", "out.png", "a/out.png")]
    [True, True, True, False, False]
    """
    return os.path.basename(os.fspath(dst)) in ("", ".", "..")  # "" after a final separator


def write_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    The file appears whole or not at all, also when the process is interrupted
    (the temporary file is removed). Without ``overwrite`` an existing file is
    never replaced, even one created by someone else in the meantime (the
    temporary file is hard-linked into place, which fails if the name exists).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        The folder of ``path`` does not exist.
    IsADirectoryError
        ``path`` is a folder, or is spelled as one (:func:`names_a_folder`: ``out/`` is not written
        as the file ``out``).
    """
    if names_a_folder(path) and not os.path.isdir(path):
        raise IsADirectoryError(f"{os.fspath(path)}: names a folder, not an output file")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: output folder does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a directory")
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")
    try:
        fd, tmp = _create_temp(folder, target.name)
    except OSError as exc:
        raise _cannot_write(target, exc) from exc
    # Open (and so locked: _create_temp) until its name is gone, so that no other process takes it
    # for a killed run's leftover (remove_stale_temp); without locks (Windows) closed before the
    # rename, which an open file would stop there.
    fh = os.fdopen(fd, "wb")
    try:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        if _fcntl is None:
            fh.close()
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise OutputExistsError(f"{target}: already exists (use --force to overwrite)") from None
            except OSError:
                # File systems without hard links: fall back to a checked rename.
                if os.path.lexists(target):
                    raise OutputExistsError(f"{target}: already exists (use --force to overwrite)") from None
                os.replace(tmp, target)
    except OutputExistsError:
        raise
    except OSError as exc:
        raise _cannot_write(target, exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):  # renamed into place, or (no locks) taken for a leftover
            os.unlink(tmp)
        fh.close()
    return target


def writable_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether this process may create files in ``folder``, as :func:`write_atomic` does: for the
    checks a front end makes before any work (the write itself is checked again)."""
    return os.access(folder, os.W_OK | os.X_OK)


def _cannot_write(target: Path, exc: OSError) -> OSError:
    """``exc``, raised on the temporary file, as the same kind of error (and ``errno``) naming the
    file the caller asked for: the temporary file's name means nothing to a user."""
    new = type(exc)(f"cannot write {target} ({exc.strerror or exc})")
    new.errno = exc.errno
    return new


#: Random bytes in a temporary file's name (:func:`_create_temp`), written as twice as many hex digits.
_TEMP_RANDOM_BYTES = 6


def is_temp_of(entry: str, name: str) -> bool:
    """Whether ``entry`` is a name :func:`_create_temp` gives a temporary file for ``name`` (in the same folder).

    Compared as text, not as a glob pattern: ``a[1].png`` or ``*.png`` are file names too, and
    ``.x.png.*.tmp`` would also match the temporary file of ``x.png.kmc.png``.

    Examples
    --------
    >>> is_temp_of(".a[1].png.0123456789ab.tmp", "a[1].png"), is_temp_of(".a1.png.0123456789ab.tmp", "a[1].png")
    (True, False)
    >>> is_temp_of(".x.png.kmc.png.0123456789ab.tmp", "x.png")
    False
    """
    head, tail = f".{_temp_stem(name)}.", ".tmp"
    digits = entry[len(head) : len(entry) - len(tail)]
    return (
        entry.startswith(head)
        and entry.endswith(tail)
        and len(digits) == 2 * _TEMP_RANDOM_BYTES
        and all(c in "0123456789abcdef" for c in digits)
    )


#: The longest file name, in bytes, of the usual file systems (NAME_MAX of ext4, XFS, Btrfs, APFS, ...).
_NAME_MAX = 255
#: What a temporary file's name adds to its output's: ".", and "." + the random digits + ".tmp".
_TEMP_EXTRA = 2 + 2 * _TEMP_RANDOM_BYTES + len(".tmp")


def _temp_stem(name: str) -> str:
    """What stands for the output ``name`` in its temporary file's name: ``name``, or when that would
    make the temporary name longer than :data:`_NAME_MAX` bytes (an output named near the limit), a
    prefix of it, ``~`` and a hash of the whole name (so it is still this output's own: :func:`is_temp_of`).

    Examples
    --------
    >>> _temp_stem("a.png"), len(_temp_stem("L" * 250 + ".png").encode())
    ('a.png', 237)
    """
    raw = os.fsencode(name)
    if len(raw) + _TEMP_EXTRA <= _NAME_MAX:
        return name
    import hashlib  # here, not at import: it loads OpenSSL, which plain compress() never needs

    digest = hashlib.sha256(raw).hexdigest()[:16]
    prefix = name
    while len(os.fsencode(prefix)) + 1 + len(digest) + _TEMP_EXTRA > _NAME_MAX:
        prefix = prefix[:-1]  # by characters: never half of a multi-byte one
    return f"{prefix}~{digest}"


def _create_temp(folder: Path, name: str) -> tuple[int, str]:
    """Create and open ``folder/.name.XXXXXXXX.tmp`` exclusively (``name`` shortened when it is near the
    file system's limit: :func:`_temp_stem`), with mode 0o666 less the umask,
    and lock it (``flock``, where there is one) for as long as it is open.

    Unlike :func:`tempfile.mkstemp` (mode 0o600), the file gets the permissions any
    new file of the user gets, without reading the umask: ``os.umask`` can only be
    read by setting it, which would race with other threads (Dask workers, say).
    The lock tells :func:`remove_stale_temp` of another process that it is being written.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{_temp_stem(name)}.{os.urandom(_TEMP_RANDOM_BYTES).hex()}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        if _lock(fd, wait=True) and not _names(tmp, fd):
            os.close(fd)  # removed as a leftover in the moment before it was locked: another name
            continue
        return fd, tmp
    raise FileExistsError(f"{folder}: no free temporary file name")  # pragma: no cover


#: Age (by its modification time) from which a temporary file is a killed run's leftover where files
#: cannot be locked: one is written whole right after it is created and renamed into place at once, so
#: a live one is seconds old; this is far past that, and past the clock skew of machines sharing NFS.
STALE_TEMP_SECONDS = 15 * 60


def remove_stale_temp(path: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    """Remove :func:`write_atomic`'s temporary file at ``path`` for ``target`` if it is a killed run's
    leftover; whether it did.

    Another process running the same command (two runs into one folder, Dask workers) may be writing
    it, about to rename it into place: a leftover is one no process holds locked (:func:`_create_temp`).
    Where files cannot be locked: one already linked into place (the same file as ``target``), or
    older than :data:`STALE_TEMP_SECONDS`.
    """
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        locked = _lock(fd, wait=False)
        if locked is None:
            return False  # being written
        if not locked:
            st = os.fstat(fd)
            linked = os.path.exists(target) and os.path.samefile(target, path)
            if not linked and time.time() - st.st_mtime <= STALE_TEMP_SECONDS:
                return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _lock(fd: int, wait: bool) -> bool | None:
    """Lock the open file ``fd`` (``flock``, exclusive): True; None if another holds it (only when not
    ``wait``); False where files cannot be locked (no ``fcntl``, or a file system refusing)."""
    if _fcntl is None:
        return False
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | (0 if wait else _fcntl.LOCK_NB))
    except BlockingIOError:
        return None
    except OSError:
        return False
    return True


def _names(path: str, fd: int) -> bool:
    """Whether ``path`` is still the name of the open file ``fd``."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except OSError:
        return False
