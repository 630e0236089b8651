"""Colour histogram: the distinct colours of an image and how many pixels hold each.

Clustering the distinct colours, each weighted by its pixel count, minimizes the
same objective as clustering every pixel, on far fewer rows. The histogram also
keeps the packed 24-bit key of every pixel so that the final mapping is a table
look-up per pixel instead of a distance computation.

Stage: "colour histogram", after decoding and before the fit (:mod:`._fit`).
In: uint8 pixels (or their packed keys); out: the distinct colours, their pixel
counts and the keys to look every pixel up again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ._backend import indexed_histogram_compiled, lookup_compiled, sort_keys_compiled

__all__ = [
    "ColorHistogram",
    "color_histogram",
    "merge_histograms",
    "pixel_histogram",
    "pack_rgb",
    "pack_rgb_u32",
    "rgba_histogram",
    "unpack_rgb",
]

_N_KEYS = 1 << 24
# Below this many pixels a binary search per pixel beats building a 2^24-entry table.
_SORT_MAX_PIXELS = 1 << 15
# Pixels handled at once where a whole-image temporary would cost memory.
_CHUNK_PIXELS = 1 << 22


@dataclass(frozen=True)
class ColorHistogram:
    """Distinct colours of a set of RGB pixels.

    Attributes
    ----------
    colors : ndarray of shape (M, 3), uint8
        The distinct colours, sorted by packed key (R, then G, then B).
    counts : ndarray of shape (M,), int64
        Pixels holding each colour; sums to the number of pixels.
    keys : ndarray of shape (M,), int64
        Packed 24-bit key ``R << 16 | G << 8 | B`` of each distinct colour.
    pixel_index : ndarray of shape (N,), intp, or None
        The colour (index into ``colors``) of every pixel the histogram was counted from, in their
        order: kept by :func:`pixel_histogram` for images of fewer than 32,768 pixels, whose
        mapping through a fit is then one indexed load a pixel (:func:`._quantize.apply_fit`),
        with no key packed or searched again. None otherwise.
    """

    colors: np.ndarray
    counts: np.ndarray
    keys: np.ndarray
    pixel_index: np.ndarray | None = None

    @property
    def n_colors(self) -> int:
        return int(self.keys.shape[0])

    def lookup(self, pixel_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values[j]`` for every pixel whose key is ``keys[j]`` (pixels must come from this histogram).

        A table of 2^24 entries maps every key to its value, so each pixel costs
        one indexed load; the pixels go through it in chunks so that no
        index array the size of the image is ever cast to 64 bits.
        """
        pixel_keys = np.asarray(pixel_keys)
        out = np.empty(pixel_keys.shape, dtype=values.dtype)
        flat_in = pixel_keys.reshape(-1)
        flat_out = out.reshape(-1)
        if flat_in.size < _SORT_MAX_PIXELS:
            flat_out[:] = values[np.searchsorted(self.keys, flat_in)]
            return out
        lut = np.zeros(_N_KEYS, dtype=values.dtype)
        lut[self.keys] = values
        for start in range(0, flat_in.size, _CHUNK_PIXELS):
            np.take(lut, flat_in[start : start + _CHUNK_PIXELS], out=flat_out[start : start + _CHUNK_PIXELS])
        return out

    def lookup_pixels(self, pixels: np.ndarray, values: np.ndarray) -> np.ndarray:
        """As :meth:`lookup`, from (..., 3) uint8 pixels, packing their keys a chunk at a
        time: no key array the size of the image is held while the result is built."""
        flat = np.asarray(pixels).reshape(-1, 3)
        out = np.empty(flat.shape[0], dtype=values.dtype)
        if flat.shape[0] < _SORT_MAX_PIXELS:
            pixel_keys = pack_rgb_u32(flat)
            found = lookup_compiled(self.keys, pixel_keys, values)
            out[:] = values[np.searchsorted(self.keys, pixel_keys)] if found is None else found
        else:
            lut = np.zeros(_N_KEYS, dtype=values.dtype)
            lut[self.keys] = values
            step = max(1, _CHUNK_PIXELS // 4)  # np.take widens the uint32 keys to intp: 8 MB a chunk
            for start in range(0, flat.shape[0], step):
                np.take(lut, pack_rgb_u32(flat[start : start + step]), out=out[start : start + step])
        return out.reshape(np.shape(pixels)[:-1])


def pack_rgb(pixels: np.ndarray) -> np.ndarray:
    """Pack (..., 3) uint8 RGB into int64 keys ``R << 16 | G << 8 | B``.

    Examples
    --------
    >>> import numpy as np
    >>> pack_rgb(np.array([[1, 2, 3]], dtype=np.uint8))
    array([66051])
    """
    p = np.asarray(pixels)
    if p.dtype != np.uint8 or p.shape[-1] != 3:
        raise ValueError(f"pixels must be uint8 with 3 channels in the last axis, got {p.dtype} {p.shape}.")
    keys = p[..., 0].astype(np.int64) << 16
    keys |= p[..., 1].astype(np.int64) << 8
    keys |= p[..., 2]
    return keys


def pack_rgb_u32(pixels: np.ndarray) -> np.ndarray:
    """As :func:`pack_rgb`, into uint32 keys, in chunks: 4 bytes a pixel and no larger temporaries.

    Examples
    --------
    >>> import numpy as np
    >>> pack_rgb_u32(np.array([[1, 2, 3]], dtype=np.uint8))
    array([66051], dtype=uint32)
    """
    p = np.asarray(pixels)
    if p.dtype != np.uint8 or p.shape[-1] != 3:
        raise ValueError(f"pixels must be uint8 with 3 channels in the last axis, got {p.dtype} {p.shape}.")
    flat = p.reshape(-1, 3)
    out = np.empty(flat.shape[0], dtype=np.uint32)
    step = max(1, _CHUNK_PIXELS // 4)  # two uint32 temporaries a chunk: 4 MB each
    for start in range(0, flat.shape[0], step):
        c = flat[start : start + step]
        o = out[start : start + step]
        np.left_shift(c[:, 0], 16, out=o, dtype=np.uint32)
        o |= c[:, 1].astype(np.uint32) << 8
        o |= c[:, 2]
    return out.reshape(p.shape[:-1])


def unpack_rgb(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: (M,) keys to (M, 3) uint8 colours."""
    keys = np.asarray(keys, dtype=np.int64)
    out = np.empty(keys.shape + (3,), dtype=np.uint8)
    out[..., 0] = keys >> 16
    out[..., 1] = (keys >> 8) & 0xFF
    out[..., 2] = keys & 0xFF
    return out


def pixel_histogram(pixels: np.ndarray) -> ColorHistogram:
    """Histogram of (..., 3) uint8 RGB pixels: their keys packed (4 bytes a pixel) and sorted in
    place, so that one key array the size of the image is held, not two (at 24 Mpx, 96 MB).

    Fewer than 32,768 pixels (``_SORT_MAX_PIXELS``: where the pixels would be looked up again by
    binary search) keep each pixel's colour as well (``pixel_index``), from one compiled pass
    (``_backend.indexed_histogram_compiled``) or ``np.unique``: a 32 x 32 image's histogram and
    index map took 41 + 22 us, now 18 + 5.

    Examples
    --------
    >>> import numpy as np
    >>> h = pixel_histogram(np.array([[9, 9, 9], [0, 0, 0], [9, 9, 9]], np.uint8))
    >>> h.counts.tolist(), h.pixel_index.tolist()
    ([1, 2], [1, 0, 1])
    """
    flat = np.asarray(pixels).reshape(-1, 3)
    if 0 < flat.shape[0] < _SORT_MAX_PIXELS:  # a small image keeps every pixel's colour: see ColorHistogram
        if flat.dtype != np.uint8:
            raise ValueError(f"pixels must be uint8 with 3 channels in the last axis, got {flat.dtype}.")
        done = indexed_histogram_compiled(flat)
        if done is None:
            uniq, index, counts = np.unique(pack_rgb_u32(flat), return_inverse=True, return_counts=True)
            uniq = uniq.astype(np.int64)
            done = (unpack_rgb(uniq), uniq, index.reshape(-1).astype(np.intp, copy=False), counts.astype(np.int64))
        colors, keys, index, counts = done
        return ColorHistogram(colors=colors, counts=counts, keys=keys, pixel_index=index)
    keys = pack_rgb_u32(flat)
    return color_histogram(keys, overwrite_keys=True)


def color_histogram(pixel_keys: np.ndarray, *, overwrite_keys: bool = False) -> ColorHistogram:
    """Histogram of packed pixel keys (see :func:`pack_rgb`); with ``overwrite_keys`` the keys
    (uint32 or narrower) are sorted in place instead of in a copy.

    Examples
    --------
    >>> import numpy as np
    >>> px = np.array([[0, 0, 0], [255, 0, 0], [0, 0, 0]], dtype=np.uint8)
    >>> h = color_histogram(pack_rgb(px))
    >>> h.colors.tolist(), h.counts.tolist()
    ([[0, 0, 0], [255, 0, 0]], [2, 1])
    """
    k = np.asarray(pixel_keys).reshape(-1)
    if k.dtype.kind not in "iu":
        raise TypeError(f"pixel_keys must be integers, got dtype {k.dtype}.")
    if k.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ColorHistogram(colors=unpack_rgb(empty), counts=empty, keys=empty)
    # A vectorized sort of 32-bit keys beats a dense 2^24-bin count at every size
    # seen in photographs, and its memory is one copy of the keys.
    if overwrite_keys and k.dtype == np.uint32 and k.flags.writeable:
        if not sort_keys_compiled(k):  # a radix sort, up to 4 Mpx (the same array)
            k.sort()
        s = k
    else:
        s = np.sort(k.astype(np.uint32, copy=False) if k.dtype.itemsize <= 4 else k)
    # where a run of equal keys starts, a chunk at a time: a whole-image mask is a byte a pixel
    parts = [np.zeros(1, dtype=np.intp)]
    for a in range(0, s.size - 1, _CHUNK_PIXELS):
        b = min(a + _CHUNK_PIXELS, s.size - 1)
        parts.append(np.flatnonzero(s[a + 1 : b + 1] != s[a:b]) + (a + 1))
    starts = np.concatenate(parts)
    keys = s[starts].astype(np.int64)
    counts = np.diff(np.append(starts, s.size)).astype(np.int64)
    del s
    return ColorHistogram(colors=unpack_rgb(keys), counts=counts, keys=keys)


def merge_histograms(histograms: Iterable[ColorHistogram]) -> ColorHistogram:
    """Sum several colour histograms into one (the counts of shared colours add up).

    Merging is associative and commutative and the result is sorted by key, so
    histograms of many images can be merged in any order or tree shape, in
    parallel, and give the same histogram.

    Examples
    --------
    >>> import numpy as np
    >>> a = color_histogram(pack_rgb(np.array([[0, 0, 0], [9, 9, 9]], dtype=np.uint8)))
    >>> b = color_histogram(pack_rgb(np.array([[9, 9, 9], [1, 2, 3]], dtype=np.uint8)))
    >>> m = merge_histograms([a, b])
    >>> m.colors.tolist(), m.counts.tolist()
    ([[0, 0, 0], [1, 2, 3], [9, 9, 9]], [1, 1, 2])
    """
    hs = list(histograms)
    if not hs:
        raise ValueError("merge_histograms needs at least one histogram.")
    if len(hs) == 1:
        return hs[0]
    keys = np.concatenate([np.asarray(h.keys, dtype=np.int64) for h in hs])
    counts = np.concatenate([np.asarray(h.counts, dtype=np.int64) for h in hs])
    uniq, inverse = np.unique(keys, return_inverse=True)
    # float64 sums are exact below 2**53 pixels
    summed = np.rint(np.bincount(inverse.ravel(), weights=counts, minlength=uniq.size)).astype(np.int64)
    return ColorHistogram(colors=unpack_rgb(uniq), counts=summed, keys=uniq.astype(np.int64))


def rgba_histogram(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct RGBA colours of pixels, with every fully transparent pixel as (0, 0, 0, 0).

    ``rgb`` is (N, 3) uint8 and ``alpha`` (N,) uint8. Returns the distinct
    colours (M, 4) uint8, sorted by packed key ``R << 24 | G << 16 | B << 8 | A``,
    how many pixels hold each (M,), and the index of every pixel's colour (N,).
    An invisible pixel's colour carries no information, so all of them are one colour.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.array([[9, 9, 9], [1, 2, 3], [9, 9, 9]], np.uint8)
    >>> colors, counts, inverse = rgba_histogram(rgb, np.array([255, 0, 255], np.uint8))
    >>> colors.tolist(), counts.tolist(), inverse.tolist()
    ([[0, 0, 0, 0], [9, 9, 9, 255]], [1, 2], [1, 0, 1])
    """
    px, a = rgb, alpha
    keys = (px[:, 0].astype(np.int64) << 24) | (px[:, 1].astype(np.int64) << 16) | (px[:, 2].astype(np.int64) << 8) | a
    keys[a == 0] = 0  # every invisible pixel is the same colour
    ukeys, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    colors = np.stack([(ukeys >> s) & 0xFF for s in (24, 16, 8, 0)], axis=1).astype(np.uint8)
    return colors, counts, inverse
