"""Mapping pixels to a palette: the index map, dithered or not, and its error.

Stage: "map every pixel", after the palette (:mod:`._palette`) and before the
encoder. In: (H, W, 3) uint8 pixels and a uint8 palette; out: the index of every
pixel into it (each distinct colour goes to its exact nearest entry, or
Floyd-Steinberg error diffusion chooses), gathered with the error in a
:class:`Quantization`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._histogram import color_histogram, pack_rgb_u32
from ._nearest import nearest_palette

__all__ = ["Quantization", "dither_indices", "map_to_palette", "sse"]


@dataclass(frozen=True)
class Quantization:
    """A palette and the index of every pixel into it.

    Attributes
    ----------
    palette : ndarray of shape (K, 3), uint8
        The colours actually used, most frequent first.
    indices : ndarray of shape (H, W), uint8
    sse : float
        Sum over pixels and channels of the squared error on 0-255.
    n_distinct : int
        Distinct colours in the input.
    exact : bool
        True when the input had at most ``n_colors`` distinct colours, so the
        palette holds them all and the image is reproduced exactly.
    """

    palette: np.ndarray
    indices: np.ndarray
    sse: float
    n_distinct: int
    exact: bool

    def rebuild(self) -> np.ndarray:
        """The quantized image, (H, W, 3) uint8."""
        return self.palette[self.indices]


def map_to_palette(rgb: np.ndarray, palette: np.ndarray) -> Quantization:
    """Every pixel to its nearest entry of ``palette`` (kept whole, in its order); ties to the smaller colour."""
    hist = color_histogram(pack_rgb_u32(rgb.reshape(-1, 3)))
    # Search the entries sorted by colour, as quantize() searches its palette,
    # so that ties fall the same way whatever the order of the palette.
    by_color = np.lexsort((palette[:, 2], palette[:, 1], palette[:, 0]))
    nearest, d2 = nearest_palette(hist.colors, palette[by_color])
    indices = hist.lookup_pixels(rgb, by_color[nearest].astype(np.uint8))
    sse = float(np.dot(hist.counts, d2))  # integer colours: exact squared errors
    return Quantization(palette=palette, indices=indices, sse=sse, n_distinct=hist.n_colors, exact=sse == 0)


def sse(orig: np.ndarray, palette: np.ndarray, idx: np.ndarray, chunk: int = 1 << 20) -> float:
    """Sum of squared differences between pixels and their palette colours (chunked, exact)."""
    total = 0
    pal = palette.astype(np.int64)
    for s in range(0, orig.shape[0], chunk):
        d = orig[s : s + chunk].astype(np.int64) - pal[idx[s : s + chunk]]
        total += int(np.einsum("ij,ij->", d, d))
    return float(total)


def dither_indices(img: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Floyd-Steinberg error diffusion onto ``palette`` (Pillow's C implementation); flat indices."""
    from PIL import Image

    k = palette.shape[0]
    padded = np.vstack([palette, np.repeat(palette[:1], 256 - k, axis=0)]).astype(np.uint8)
    pal_img = Image.new("P", (1, 1))
    pal_img.putpalette(padded.tobytes())
    src = Image.frombytes("RGB", (img.shape[1], img.shape[0]), np.ascontiguousarray(img).tobytes())
    out = src.quantize(palette=pal_img, dither=Image.Dither.FLOYDSTEINBERG)
    idx = np.asarray(out, dtype=np.intp).reshape(-1).copy()
    idx[idx >= k] = 0  # padding entries are copies of entry 0
    return idx
