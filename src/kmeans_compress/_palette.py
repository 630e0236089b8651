"""Palettes: checking a given one, and clustering a (merged) colour histogram into one."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._histogram import ColorHistogram
from ._nearest import nearest_centers
from .quantize import _round_palette, check_n_colors, fit_palette, used_by_frequency

__all__ = ["check_palette", "palette_from_histogram"]


def check_palette(palette: Any) -> np.ndarray:
    """A palette as (K, 3) uint8, K from 1 to 256; ValueError otherwise."""
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or not 1 <= pal.shape[0] <= 256:
        raise ValueError(f"palette must have shape (K, 3) with K from 1 to 256, got {pal.shape}.")
    if pal.dtype.kind not in "iu" or pal.min() < 0 or pal.max() > 255:
        raise ValueError("palette must hold integer colours 0-255.")
    return np.ascontiguousarray(pal, dtype=np.uint8)


def palette_from_histogram(
    hist: ColorHistogram,
    n_colors: int = 16,
    random_state: Any = 0,
    *,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> np.ndarray:
    """Cluster a (merged) colour histogram into a palette: (K, 3) uint8, most used first."""
    n_colors = check_n_colors(n_colors)
    if hist.n_colors == 0:
        raise ValueError("the histogram is empty: no image could be read.")
    if hist.n_colors <= n_colors:
        pal = hist.colors
    else:
        centers = fit_palette(hist.colors, hist.counts, n_colors, random_state=random_state,
                              n_init=n_init, max_iter=max_iter, tol=tol)
        pal = _round_palette(centers, hist, n_colors)
    labels, _ = nearest_centers(hist.colors.astype(np.float64), pal.astype(np.float64))
    order, _ = used_by_frequency(labels, pal.shape[0], hist.counts)
    return np.ascontiguousarray(pal[order], dtype=np.uint8)
