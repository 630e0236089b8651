"""Mapping pixels to a palette: the index map, dithered or not, and its error.

Stage: "map every pixel", after the palette (:mod:`._palette`) and before the
encoder. In: (H, W, 3) uint8 pixels and a uint8 palette; out: the index of every
pixel into it (each distinct colour goes to its exact nearest entry, or
selective serpentine error diffusion chooses: :func:`dither_indices`), gathered
with the error in a :class:`Quantization`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backend import diffuse_compiled
from ._colorspace import from_srgb
from ._histogram import pixel_histogram
from ._nearest import nearest_centers, nearest_palette

__all__ = [
    "DEFAULT_DITHER",
    "Quantization",
    "check_dither",
    "diffuse",
    "dither_indices",
    "dither_map",
    "map_to_palette",
    "sse",
]


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
    undithered_sse : float or None
        When ``indices`` are dithered: the squared error of the same palette without
        dithering (every pixel to its nearest entry), the palette's own error, by which
        pngquant judges its quality; None when not dithered (it is then ``sse``).
    """

    palette: np.ndarray
    indices: np.ndarray
    sse: float
    n_distinct: int
    exact: bool
    undithered_sse: float | None = None

    def rebuild(self) -> np.ndarray:
        """The quantized image, (H, W, 3) uint8."""
        return self.palette[self.indices]


def map_to_palette(rgb: np.ndarray, palette: np.ndarray) -> Quantization:
    """Every pixel to its nearest entry of ``palette`` (kept whole, in its order); ties to the smaller colour."""
    hist = pixel_histogram(rgb)
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


#: Strength of ``dither=True`` (``--dither`` alone), and the radius (pixels) around a false contour
#: within which error is diffused. Chosen on the benchmark photos against pngquant's default
#: (dithered) mode, SSIM / bytes relative to pngquant's, K = 16 and 64 (2026-11-25):
#: strength 0.5, radius 8: SSIM 0.860 / 0.938 (pngquant 0.780 / 0.913), bytes 0.68 / 0.75;
#: 0.6, radius 3: 0.858 / 0.936, 0.68 / 0.76; strength 1, radius 8: 0.783 / 0.889, 0.82 / 0.88
#: (below pngquant's SSIM at K = 64). Undithered: 0.877 / 0.944, 0.58 / 0.68.
DEFAULT_DITHER = 0.5
CONTOUR_RADIUS = 8


def check_dither(dither: Any) -> float:
    """``dither`` as a strength in [0, 1]: True is :data:`DEFAULT_DITHER`, False 0.

    Examples
    --------
    >>> check_dither(True), check_dither(False), check_dither(0.25)
    (0.5, 0.0, 0.25)
    """
    if isinstance(dither, (bool, np.bool_)):
        return DEFAULT_DITHER if dither else 0.0
    try:
        value = float(dither)
    except (TypeError, ValueError):
        raise TypeError(f"dither must be a bool or a strength from 0 to 1, got {dither!r}.") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"dither strength must be from 0 to 1, got {dither!r}.")
    return value


def _box_sum(a: np.ndarray, r: int) -> np.ndarray:
    """Sum of ``a`` over the (2r+1) x (2r+1) window around each pixel, truncated at the borders (exact)."""
    h, w = a.shape
    c = np.zeros((h + 1, w + 1), dtype=np.int64)
    np.cumsum(np.cumsum(a, axis=0, dtype=np.int64), axis=1, out=c[1:, 1:])
    y0 = np.clip(np.arange(h) - r, 0, h)
    y1 = np.clip(np.arange(h) + r + 1, 0, h)
    x0 = np.clip(np.arange(w) - r, 0, w)
    x1 = np.clip(np.arange(w) + r + 1, 0, w)
    return c[y1][:, x1] - c[y0][:, x1] - c[y1][:, x0] + c[y0][:, x0]


def dither_map(work: np.ndarray, guess: np.ndarray, palette: np.ndarray, radius: int = CONTOUR_RADIUS) -> np.ndarray:
    """Where error diffusion helps: (H, W) weights in [0, 1].

    Mapping every pixel to its nearest entry turns a smooth gradient into bands
    with a visible step between them (a false contour), leaves a flat area flat,
    and keeps a sharp edge sharp. Diffusing error helps only at the first: a
    pixel pair whose entries differ while the original changes by less than half
    the step between those entries marks a false contour; the weight is the
    density of such pixels within ``radius`` (1 along a contour line), and 0 where
    the original itself jumps by more than the step to the pixel's nearest other
    entry (an edge). Flat areas, with no contour, get 0: no grain.

    ``work`` (H, W, 3) and ``palette`` (K, 3) are in the distance space;
    ``guess`` (H, W) is each pixel's nearest entry.
    """
    h, w = guess.shape
    k = palette.shape[0]
    false_contour = np.zeros((h, w), dtype=bool)
    edge = np.zeros((h, w), dtype=np.float64)
    if k > 1:
        d2 = np.einsum("ijc,ijc->ij", palette[:, None] - palette[None], palette[:, None] - palette[None])
        np.fill_diagonal(d2, np.inf)
        spacing = np.sqrt(d2.min(axis=1))  # distance from each entry to its nearest other entry
    else:
        spacing = np.full(1, np.inf)
    for dy, dx in ((0, 1), (1, 0)):
        a = work[: h - dy, : w - dx]
        b = work[dy:, dx:]
        d_orig = np.sqrt(np.einsum("ijc,ijc->ij", a - b, a - b))
        la = guess[: h - dy, : w - dx]
        lb = guess[dy:, dx:]
        step = palette[la] - palette[lb]
        d_pal = np.sqrt(np.einsum("ijc,ijc->ij", step, step))
        band = (la != lb) & (d_orig < 0.5 * d_pal)
        false_contour[: h - dy, : w - dx] |= band
        false_contour[dy:, dx:] |= band
        np.maximum(edge[: h - dy, : w - dx], d_orig, out=edge[: h - dy, : w - dx])
        np.maximum(edge[dy:, dx:], d_orig, out=edge[dy:, dx:])
    side = 2 * radius + 1
    weight = np.minimum(_box_sum(false_contour, radius) * (1.0 / side), 1.0)
    weight[edge > spacing[guess]] = 0.0
    return weight


def diffuse(
    work: np.ndarray, palette: np.ndarray, weight: np.ndarray, guess: np.ndarray, compiled: bool | None = None
) -> np.ndarray:
    """Serpentine Floyd-Steinberg error diffusion in the space of ``work``, ``weight`` per pixel; (H, W) entries.

    Rows go left to right and right to left in turn (no drift in one direction);
    a pixel takes in ``weight`` times the error spread to it (7/16 ahead, 3/16,
    5/16 and 1/16 on the next row) and passes on ``weight`` times its own, after
    clipping to the palette's bounding box (error beyond it could never be paid
    back). A pixel of weight 0 takes ``guess`` (the plain mapping's entry, whatever the error
    around it: so weight 0 everywhere is the plain mapping, ties and all); the others go to their
    exact nearest entry (ties to the lowest index). The numba kernel and this numpy loop make the
    same decisions (the tests compare them); the loop is for small images and machines without numba.
    """
    pal = np.ascontiguousarray(palette, dtype=np.float64)
    k = pal.shape[0]
    dist = np.sqrt(np.einsum("ijc,ijc->ij", pal[:, None] - pal[None], pal[:, None] - pal[None]))
    nbr = np.argsort(dist, axis=1, kind="stable")
    nbr_d = np.take_along_axis(dist, nbr, axis=1)
    out = diffuse_compiled(work, pal, weight, guess, nbr, nbr_d, compiled=compiled)
    if out is not None:
        return out
    h, w = guess.shape
    lo, hi = pal.min(axis=0), pal.max(axis=0)
    p0, p1, p2 = pal[:, 0], pal[:, 1], pal[:, 2]
    err = np.zeros((2, w + 2, 3))
    out = np.empty((h, w), dtype=np.intp)
    for y in range(h):
        cur, nxt = y & 1, 1 - (y & 1)
        err[nxt] = 0.0
        step = 1 if cur == 0 else -1
        xs = range(w) if step == 1 else range(w - 1, -1, -1)
        for x in xs:
            wt = float(weight[y, x])
            if wt == 0.0:  # takes nothing in, passes nothing on
                out[y, x] = guess[y, x]
                continue
            c = np.minimum(np.maximum(work[y, x] + wt * err[cur, x + 1], lo), hi)
            d0, d1, d2 = c[0] - p0, c[1] - p1, c[2] - p2
            best = int(np.argmin(d0 * d0 + d1 * d1 + d2 * d2)) if k > 1 else 0
            out[y, x] = best
            e = wt * (c - pal[best])
            err[cur, x + 1 + step] += e * 0.4375
            err[nxt, x + 1 - step] += e * 0.1875
            err[nxt, x + 1] += e * 0.3125
            err[nxt, x + 1 + step] += e * 0.0625
    return out


def dither_indices(
    img: np.ndarray,
    palette: np.ndarray,
    strength: float = DEFAULT_DITHER,
    *,
    space: str = "rgb",
    guess: np.ndarray | None = None,
    selective: bool = True,
    compiled: bool | None = None,
) -> np.ndarray:
    """Dithered mapping of an (H, W, 3) image onto an RGB ``palette``: flat entries, (H * W,).

    Error diffusion (:func:`diffuse`) in the colour ``space`` where distances are
    measured ('rgb', 'lab', 'oklab'), at ``strength`` (0 to 1) times the
    selective map (:func:`dither_map`; ``selective=False``: everywhere, plain
    Floyd-Steinberg at strength 1). ``guess`` is each pixel's nearest entry in
    that space (computed when not given). Deterministic: no random draws.
    """
    h, w = img.shape[:2]
    hist = pixel_histogram(img)
    if space == "rgb":
        colors_s = hist.colors.astype(np.float64)
        pal_s = palette[:, :3].astype(np.float64)
    else:
        colors_s = from_srgb(hist.colors.astype(np.float64), space)
        pal_s = from_srgb(palette[:, :3].astype(np.float64), space)
    if guess is None:
        if space == "rgb":
            by_color = np.lexsort((palette[:, 2], palette[:, 1], palette[:, 0]))
            near, _ = nearest_palette(hist.colors, palette[by_color, :3])
            near = by_color[near]
        else:
            near, _ = nearest_centers(colors_s, pal_s)
        guess = hist.lookup_pixels(img, near.astype(np.uint8)).astype(np.intp)
    guess = np.asarray(guess, dtype=np.intp).reshape(h, w)
    # Each pixel's colour in the distance space, through the distinct colours (converted once each).
    work = colors_s[hist.lookup_pixels(img, np.arange(hist.n_colors, dtype=np.uint32)).reshape(-1)].reshape(h, w, 3)
    if strength <= 0.0:
        return guess.reshape(-1)
    weight = dither_map(work, guess, pal_s) if selective else np.ones((h, w))
    if strength < 1.0:
        weight = weight * strength
    return diffuse(work, pal_s, weight, guess, compiled=compiled).reshape(-1)
