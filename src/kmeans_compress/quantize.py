"""Image array -> (palette, index map) by weighted K-means on the colour histogram."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._nearest import nearest_centers
from .histogram import ColorHistogram, color_histogram, pack_rgb
from .kmeans import _check_random_state, _kmeans_plusplus, _lloyd, _tolerance

__all__ = ["Quantization", "quantize", "MAX_PALETTE"]

#: An indexed PNG or GIF holds at most this many palette entries.
MAX_PALETTE = 256


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


def check_n_colors(n_colors: Any, max_colors: int = MAX_PALETTE) -> int:
    """Validate a palette size: an integer in ``1 .. max_colors``."""
    if isinstance(n_colors, (bool, np.bool_)) or not isinstance(n_colors, numbers.Integral):
        raise TypeError(f"n_colors must be an integer from 1 to {max_colors}, got {n_colors!r}.")
    if not 1 <= n_colors <= max_colors:
        raise ValueError(
            f"n_colors must be from 1 to {max_colors} (an indexed PNG holds at most "
            f"{MAX_PALETTE} colours), got {n_colors}."
        )
    return int(n_colors)


def _check_rgb(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) RGB array, got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (0-255), got dtype {arr.dtype}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty (shape {arr.shape}).")
    return arr


def fit_palette(
    X: np.ndarray,
    w: np.ndarray,
    n_colors: int,
    *,
    random_state: Any = 0,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> np.ndarray:
    """Weighted K-means of points ``X`` (M, d) with weights ``w`` (M,): float centres (K, d).

    This is the one clustering entry point of the image path: colour histograms
    in RGB (d=3), RGBA (d=4) or any other colour space all come through here.
    Weighted k-means++ seeding, then Lloyd iterations to scikit-learn's relative
    tolerance; with ``n_init > 1`` the run with the lowest inertia is kept.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    rng = _check_random_state(random_state)
    tol_abs = _tolerance(X, w, tol)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(n_init):
        centers0 = _kmeans_plusplus(X, w, n_colors, rng)
        _, inertia, centers, _ = _lloyd(X, w, centers0, max_iter, tol_abs)
        if best is None or inertia < best[0]:
            best = (inertia, centers)
    assert best is not None
    return best[1]


def _round_palette(centers: np.ndarray, hist: ColorHistogram, n_colors: int) -> np.ndarray:
    """Round float centres to distinct uint8 colours, keeping ``n_colors`` of them.

    Two centres can round to the same colour; the gap is filled with the input
    colours worst represented by the palette so far, so the palette never holds
    fewer colours than asked while the image has enough distinct ones.
    """
    pal = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
    pal = np.unique(pal, axis=0)
    X = hist.colors.astype(np.float64)
    while pal.shape[0] < n_colors:
        _, d2 = nearest_centers(X, pal.astype(np.float64))
        err = d2 * hist.counts
        missing = n_colors - pal.shape[0]
        worst = np.argsort(-err, kind="stable")[:missing]
        worst = worst[err[worst] > 0]
        if worst.size == 0:
            break
        pal = np.unique(np.vstack([pal, hist.colors[worst]]), axis=0)
    return pal


def quantize(
    image: Any,
    n_colors: int = 16,
    *,
    random_state: Any = 0,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> Quantization:
    """Reduce an RGB image to ``n_colors`` colours by K-means.

    The distinct colours of the image are clustered, each weighted by its pixel
    count (the same objective as clustering every pixel), and every distinct
    colour is then mapped exactly to its nearest palette entry.

    Parameters
    ----------
    image : array-like of shape (H, W, 3), uint8
    n_colors : int, default=16
        Palette size, 1 to 256. An image with at most this many distinct colours
        keeps them all, exactly.
    random_state : None, int or numpy Generator, default=0
    n_init : int, default=1
        Seeds to try; the lowest distortion wins.
    max_iter, tol
        Lloyd iteration limit and relative tolerance (as scikit-learn's).

    Returns
    -------
    Quantization

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((2, 2, 3), dtype=np.uint8); img[0, 0] = 255
    >>> q = quantize(img, 2)
    >>> q.exact, q.palette.tolist(), q.indices.tolist()
    (True, [[0, 0, 0], [255, 255, 255]], [[1, 0], [0, 0]])
    """
    img = _check_rgb(image)
    n_colors = check_n_colors(n_colors)
    h, w = img.shape[:2]
    keys = pack_rgb(img.reshape(-1, 3))
    hist = color_histogram(keys)
    exact = hist.n_colors <= n_colors
    if exact:
        pal = hist.colors
    else:
        centers = fit_palette(hist.colors, hist.counts, n_colors, random_state=random_state, n_init=n_init, max_iter=max_iter, tol=tol)
        pal = _round_palette(centers, hist, n_colors)
    # Exact final mapping of every distinct colour to its nearest palette entry.
    labels, d2 = nearest_centers(hist.colors.astype(np.float64), pal.astype(np.float64))
    # Keep only the entries in use, most frequent first (ties: by colour), then renumber.
    use = np.bincount(labels, weights=hist.counts, minlength=pal.shape[0])
    used = np.flatnonzero(use > 0)
    order = used[np.lexsort((used, -use[used]))]
    remap = np.empty(pal.shape[0], dtype=np.intp)
    remap[order] = np.arange(order.size)
    palette = np.ascontiguousarray(pal[order])
    color_index = remap[labels].astype(np.uint8)
    indices = hist.lookup(keys, color_index).reshape(h, w)
    sse = float(np.dot(hist.counts, np.rint(d2)))  # integer colours: exact squared errors
    return Quantization(palette=palette, indices=indices, sse=sse, n_distinct=hist.n_colors, exact=exact)
