"""Mapping pixels to a palette: (palette, index map) and its error."""

from __future__ import annotations

import numpy as np

from ._histogram import color_histogram, pack_rgb_u32
from ._nearest import nearest_palette
from .quantize import Quantization

__all__ = ["map_to_palette"]


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
