"""Image array -> (palette, index map) by weighted K-means on the colour histogram."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _kernels
from ._nearest import nearest_centers, nearest_palette
from ._histogram import ColorHistogram, color_histogram, pack_rgb, pack_rgb_u32
from .kmeans import _check_random_state, _kmeans_plusplus, _lloyd, _split_init, _tolerance

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


def used_by_frequency(labels: np.ndarray, n_entries: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Palette entries in use, most used first (ties: lowest index), and the renumbering.

    Returns ``order`` (old index of each kept entry) and ``remap`` (new index of
    every old entry; entries not in use map to 0).
    """
    use = np.bincount(labels, weights=weights, minlength=n_entries)
    used = np.flatnonzero(use > 0)
    order = used[np.lexsort((used, -use[used]))]
    remap = np.zeros(n_entries, dtype=np.intp)
    remap[order] = np.arange(order.size)
    return order, remap


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


# Above this many distinct points, fit_palette first clusters a coarse histogram
# (points binned on a regular grid, each occupied cell standing for its points by
# their weighted mean), then refines on all points. The grid has about 512 cells
# per palette entry, from 2^15 (32 bins a channel) to 2^17 (50 bins) cells.
_COARSE_MIN_POINTS = 20_000
# Starts tried (the split one, then k-means++ draws) when the points to start on
# times the palette size are at most _CHEAP_START_WORK (the coarse grid up to
# K = 64 for a photo, every histogram of a few thousand colours).
_CHEAP_STARTS = 5
_CHEAP_START_WORK = 1 << 20
_COARSE_CELLS_PER_COLOR = 512
_COARSE_CELLS = (1 << 15, 1 << 17)
# Lloyd iterations on all points after the coarse stage, at most. The start is
# already close: on the public set, 20 iterations reach within 0.5 % of the
# converged distortion at K = 256, and the rest would cost as much again.
_FINE_MAX_ITER = 40


def _coarse_histogram(X: np.ndarray, w: np.ndarray, max_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin the points on a regular grid over their range.

    Returns the weighted mean and total weight of every occupied cell, and the
    cell of every point.
    """
    n, d = X.shape
    bins = max(2, int(max_cells ** (1.0 / d)))
    lo = X.min(axis=0)
    step = (X.max(axis=0) - lo) / bins
    step[step <= 0] = 1.0
    key = np.zeros(n, dtype=np.intp)
    for j in range(d):
        idx = ((X[:, j] - lo[j]) / step[j]).astype(np.intp)
        np.minimum(idx, bins - 1, out=idx)
        key *= bins
        key += idx
    size = bins**d
    wc = np.bincount(key, weights=w, minlength=size)
    occupied = np.flatnonzero(wc > 0)
    Xc = np.empty((occupied.size, d), dtype=np.float64)
    for j in range(d):
        Xc[:, j] = np.bincount(key, weights=w * X[:, j], minlength=size)[occupied]
    wc = wc[occupied]
    Xc /= wc[:, None]
    cell_index = np.zeros(size, dtype=np.intp)
    cell_index[occupied] = np.arange(occupied.size)
    return Xc, wc, cell_index[key]


def fit_palette(X: np.ndarray, w: np.ndarray, n_colors: int, **options: Any) -> np.ndarray:
    """Weighted K-means of points ``X`` (M, d) with weights ``w`` (M,): float centres (K, d).

    ``options`` (``random_state``, ``n_init``, ``max_iter``, ``tol``) and the
    method: see :func:`_fit_palette`, which also returns the points' labels.
    """
    return _fit_palette(X, w, n_colors, **options)[0]


def _fit_palette(
    X: np.ndarray,
    w: np.ndarray,
    n_colors: int,
    *,
    random_state: Any = 0,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted K-means of points ``X`` (M, d) with weights ``w`` (M,): float centres
    (K, d) and the centre of every point (its nearest one, or nearly: after the
    last update it may have moved).

    This is the one clustering entry point of the image path: colour histograms
    in RGB (d=3), RGBA (d=4) or any other colour space all come through here.

    The start is the deterministic split initialization
    (:func:`kmeans._split_init`); each further seed (``n_init`` > 1) is a
    weighted k-means++ draw, and the start of lowest distortion after Lloyd's
    iterations wins. Coarse to fine: with many points, the starts are computed
    and iterated to convergence on a coarse histogram (the points binned on a
    regular grid, each cell standing for its points by their weighted mean), and
    the winner is refined by at most ``_FINE_MAX_ITER`` Lloyd iterations on all
    points, which minimize exactly the all-pixel objective.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    rng = _check_random_state(random_state)
    tol_abs = _tolerance(X, w, tol)
    # One decision for the whole problem: when it is large enough for the
    # compiled kernels, its coarse stages use them too (however small they are).
    work = 0 if X.shape[0] * n_colors >= _kernels.MIN_WORK else None
    points, weights, cell = X, w, None
    if X.shape[0] >= _COARSE_MIN_POINTS:
        cells = int(np.clip(_COARSE_CELLS_PER_COLOR * n_colors, *_COARSE_CELLS))
        Xc, wc, cell_of_point = _coarse_histogram(X, w, cells)
        if n_colors < Xc.shape[0] <= X.shape[0] // 2:
            points, weights, cell = Xc, wc, cell_of_point
    n_starts = max(1, n_init)
    if points.shape[0] * n_colors <= _CHEAP_START_WORK:
        # A start costs little here, and one split start can end a few per cent
        # above a k-means++ draw (the sample photo at K=16: 1.6 %; a logo at K=64:
        # 5 %), so always try a few draws as well and keep the best.
        n_starts = max(n_starts, _CHEAP_STARTS)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for seed in range(n_starts):
        if seed == 0:
            centers0 = _split_init(points, weights, n_colors, work)
        else:
            centers0 = _kmeans_plusplus(points, weights, n_colors, rng, min_work=work)
        labels, inertia, centers, _ = _lloyd(points, weights, centers0, max_iter, tol_abs, min_work=work)
        if best is None or inertia < best[0]:
            best = (inertia, centers, labels)
    assert best is not None
    _, centers, labels = best
    if cell is None:
        return centers, labels
    labels, _, centers, _ = _lloyd(X, w, centers, min(max_iter, _FINE_MAX_ITER), tol_abs,
                                   labels_hint=labels[cell], min_work=work)
    return centers, labels


def _round_palette(centers: np.ndarray, hist: ColorHistogram, n_colors: int) -> np.ndarray:
    """Round float centres to distinct uint8 colours, keeping ``n_colors`` of them.

    Two centres can round to the same colour; the gap is filled with the input
    colours worst represented by the palette so far, so the palette never holds
    fewer colours than asked while the image has enough distinct ones.
    """
    pal = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
    pal = np.unique(pal, axis=0)
    while pal.shape[0] < n_colors:
        _, d2 = nearest_palette(hist.colors, pal)
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
    hist = color_histogram(pack_rgb_u32(img.reshape(-1, 3)))  # the keys are dropped at once: 4 bytes a pixel
    exact = hist.n_colors <= n_colors
    if exact:
        pal = hist.colors
    else:
        centers, fit_labels = _fit_palette(hist.colors, hist.counts, n_colors, random_state=random_state,
                                           n_init=n_init, max_iter=max_iter, tol=tol)
        pal = _round_palette(centers, hist, n_colors)
        # Where each colour's centre landed in the rounded palette: a start for the search below.
        rounded = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        hint = np.searchsorted(pack_rgb(pal), pack_rgb(rounded))[fit_labels]
    # Exact final mapping of every distinct colour to its nearest palette entry.
    labels, d2 = nearest_palette(hist.colors, pal, None if exact else hint)
    # Keep only the entries in use, most frequent first (ties: by colour), then renumber.
    order, remap = used_by_frequency(labels, pal.shape[0], hist.counts)
    palette = np.ascontiguousarray(pal[order])
    color_index = remap[labels].astype(np.uint8)
    indices = hist.lookup_pixels(img, color_index)
    sse = float(np.dot(hist.counts, d2))  # integer colours: exact squared errors
    return Quantization(palette=palette, indices=indices, sse=sse, n_distinct=hist.n_colors, exact=exact)


# --------------------------------------------------------------------------- alpha, colour spaces, dithering


def _split_budget(n_colors: int, sizes: list[int], weights: list[float]) -> list[int]:
    """Share ``n_colors`` palette entries among groups of ``sizes`` distinct colours.

    Each non-empty group gets at least one entry and at most its number of
    distinct colours; the rest follows the groups' pixel counts. The budget never
    exceeds ``n_colors``: with fewer entries than non-empty groups, choose the
    groups first (:func:`_alpha_groups_to_keep`) and pass the others as empty.

    Raises
    ------
    ValueError
        ``n_colors`` is smaller than the number of non-empty groups.
    """
    budget = [0] * len(sizes)
    live = [i for i, s in enumerate(sizes) if s > 0]
    if n_colors < len(live):
        raise ValueError(
            f"{n_colors} palette entries cannot give each of {len(live)} non-empty groups one; "
            "choose the groups to keep first."
        )
    for i in live:
        budget[i] = 1
    left = n_colors - len(live)
    while left > 0:
        open_ = [i for i in live if budget[i] < sizes[i]]
        if not open_:
            break
        total = sum(weights[i] for i in open_)
        share = {i: left * weights[i] / total for i in open_}
        given = 0
        for i in open_:
            extra = min(int(share[i]), sizes[i] - budget[i])
            budget[i] += extra
            given += extra
        if given == 0:  # hand out one by one, largest share first
            i = max(open_, key=lambda j: (share[j], -j))
            budget[i] += 1
            given = 1
        left -= given
    return budget


def _alpha_groups_to_keep(
    n_colors: int,
    colors: np.ndarray,
    counts: np.ndarray,
    groups: list[np.ndarray],
    single: dict[int, np.ndarray],
) -> list[int]:
    """Which alpha groups get a palette entry when there are fewer entries than groups.

    ``groups`` holds the distinct RGBA ``colors`` (fully transparent ones as
    (0, 0, 0, 0)) of each alpha group (transparent, partly transparent, opaque)
    and ``single[g]`` the one-entry palette (1, 4) of every non-empty group.
    Every choice of ``n_colors`` groups is tried, each kept group with its single
    entry: its pixels map to that entry and the pixels of the other groups to the
    nearest kept entry in RGBA (0-255, all four channels). The choice with the
    lowest total squared error wins; ties go to the groups with more pixels, then
    to opaque over partly transparent over transparent.
    """
    from itertools import combinations

    live = [gi for gi, g in enumerate(groups) if g.size]
    live.sort(key=lambda gi: (-int(counts[groups[gi]].sum()), -gi))
    rgba = colors.astype(np.int64)
    best: tuple[int, list[int]] | None = None
    for kept in combinations(live, n_colors):
        pal = np.vstack([single[gi] for gi in kept])
        err = 0
        for gi in live:
            g = groups[gi]
            if gi in kept:
                diff = rgba[g] - single[gi].astype(np.int64)
                d2 = np.einsum("ij,ij->i", diff, diff)
            else:
                _, d2 = nearest_palette(colors[g], pal)
            err += int(np.dot(counts[g].astype(np.int64), d2))
        if best is None or err < best[0]:
            best = (err, sorted(kept))
    assert best is not None
    return best[1]


def _group_palette(
    X: np.ndarray,
    w: np.ndarray,
    k: int,
    to_rgba: Any,
    to_space: Any,
    **fit: Any,
) -> np.ndarray:
    """Cluster one group's distinct colours ``X`` (in its space) into ``k`` distinct uint8 entries."""
    centers = fit_palette(X, w, k, **fit)
    pal = np.unique(to_rgba(centers), axis=0)
    while pal.shape[0] < k:  # rounding merged two entries: add the worst-represented colours
        _, d2 = nearest_centers(X, to_space(pal))
        err = d2 * w
        worst = np.argsort(-err, kind="stable")[: k - pal.shape[0]]
        worst = worst[err[worst] > 0]
        if worst.size == 0:
            break
        pal = np.unique(np.vstack([pal, to_rgba(X[worst])]), axis=0)
    return pal


def quantize_image(
    rgb: Any,
    n_colors: int = 16,
    *,
    alpha: np.ndarray | None = None,
    space: str = "rgb",
    dither: bool = False,
    random_state: Any = 0,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> Quantization:
    """:func:`quantize` with transparency, a choice of colour space and dithering.

    Parameters
    ----------
    rgb : (H, W, 3) uint8
    n_colors : int
    alpha : (H, W) uint8, optional
        Opacity. Fully transparent pixels share one palette entry (0, 0, 0, 0);
        opaque pixels only map to opaque entries and partly transparent ones to
        partly transparent entries, so what was opaque stays opaque and what was
        invisible stays invisible. The palette is then (K, 4) RGBA.
        The palette never has more than ``n_colors`` entries: when ``n_colors``
        is smaller than the number of these three groups present (K = 1 or 2),
        the ``n_colors`` groups whose single entries give the lowest squared
        RGBA error keep one entry each (ties: the groups with more pixels, then
        opaque over partly transparent over transparent), and the pixels of the
        other groups map to the nearest of those entries in RGBA (0-255).
    space : {'rgb', 'lab', 'oklab'}
        Where distances are measured, for clustering and for the final mapping.
        The palette is converted back to sRGB and rounded once.
    dither : bool
        Floyd-Steinberg error diffusion with the K-means palette (opaque images).

    Returns
    -------
    Quantization
        ``sse`` is summed over the channels present (RGB, or RGBA with the colour
        of fully transparent pixels ignored).

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.zeros((2, 2, 3), np.uint8); a = np.array([[0, 255], [255, 128]], np.uint8)
    >>> q = quantize_image(rgb, 4, alpha=a)
    >>> sorted(q.palette[:, 3].tolist())
    [0, 128, 255]
    """
    from .colorspace import SPACES, from_srgb, to_srgb

    img = _check_rgb(rgb)
    n_colors = check_n_colors(n_colors)
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}.")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != img.shape[:2] or alpha.dtype != np.uint8:
            raise ValueError(f"alpha must be a uint8 array of shape {img.shape[:2]}, got {alpha.dtype} {alpha.shape}.")
        if bool((alpha == 255).all()):
            alpha = None
    if alpha is not None and dither:
        raise ValueError("dithering is not supported for images with transparency; drop --dither")
    fit = dict(random_state=random_state, n_init=n_init, max_iter=max_iter, tol=tol)
    if alpha is None and space == "rgb" and not dither:
        return quantize(img, n_colors, **fit)

    h, w = img.shape[:2]
    px = img.reshape(-1, 3)
    a = np.full(h * w, 255, np.uint8) if alpha is None else alpha.reshape(-1)
    keys = (px[:, 0].astype(np.int64) << 24) | (px[:, 1].astype(np.int64) << 16) | (px[:, 2].astype(np.int64) << 8) | a
    keys[a == 0] = 0  # every invisible pixel is the same colour
    ukeys, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    colors = np.stack([(ukeys >> s) & 0xFF for s in (24, 16, 8, 0)], axis=1).astype(np.uint8)
    ua = colors[:, 3]
    groups = [np.flatnonzero(ua == 0), np.flatnonzero((ua > 0) & (ua < 255)), np.flatnonzero(ua == 255)]
    exact = ukeys.size <= n_colors
    labels = np.empty(ukeys.size, dtype=np.intp)
    if exact:
        pal = colors
        labels[:] = np.arange(ukeys.size)
    else:
        ascale = 100.0 / 255.0 if space != "rgb" else 1.0

        def codec(gi: int) -> tuple[Any, Any]:
            """Group ``gi``'s conversions: uint8 RGBA -> clustering space, and back."""
            semi = gi == 1

            def to_space(c: np.ndarray) -> np.ndarray:
                c = np.asarray(c, dtype=np.float64)
                s = from_srgb(c[:, :3], space)
                return np.hstack([s, c[:, 3:4] * ascale]) if semi else s

            def to_rgba(x: np.ndarray) -> np.ndarray:
                rgbf = np.clip(np.rint(to_srgb(x[:, :3], space)), 0, 255)
                if semi:
                    af = np.clip(np.rint(x[:, 3] / ascale), 1, 254)
                else:
                    af = np.full(x.shape[0], 255.0 if gi == 2 else 0.0)
                return np.hstack([rgbf, af[:, None]]).astype(np.uint8)

            return to_space, to_rgba

        def group_palette(gi: int, k: int) -> np.ndarray:
            g = groups[gi]
            if gi == 0:
                return np.zeros((1, 4), np.uint8)
            if g.size <= k:
                return colors[g]
            to_space, to_rgba = codec(gi)
            return _group_palette(to_space(colors[g]), counts[g].astype(np.float64), k, to_rgba, to_space, **fit)

        live = [gi for gi, g in enumerate(groups) if g.size]
        keep = live
        single: dict[int, np.ndarray] = {}
        if n_colors < len(live):  # K = 1 or 2 with more alpha groups: not every group gets an entry
            single = {gi: group_palette(gi, 1) for gi in live}
            keep = _alpha_groups_to_keep(n_colors, colors, counts, groups, single)
        sizes = [g.size if gi in keep else 0 for gi, g in enumerate(groups)]
        budget = _split_budget(n_colors, sizes, [float(counts[g].sum()) for g in groups])
        parts = []
        for gi in keep:
            g = groups[gi]
            gpal = single[gi] if gi in single else group_palette(gi, budget[gi])
            to_space, _ = codec(gi)
            sub, _ = nearest_centers(to_space(colors[g]), to_space(gpal))
            labels[g] = sub + sum(p.shape[0] for p in parts)
            parts.append(gpal)
        pal = np.vstack(parts)
        for gi in live:
            if gi not in keep:  # no entry of its own: the nearest kept entry in RGBA
                labels[groups[gi]] = nearest_palette(colors[groups[gi]], pal)[0]

    if dither:
        pix_labels = _dither_indices(img, pal[:, :3])
    else:
        pix_labels = labels[inverse.reshape(-1)]
    order, remap = used_by_frequency(pix_labels, pal.shape[0])
    palette = pal[order] if alpha is not None else np.ascontiguousarray(pal[order][:, :3])
    indices = remap[pix_labels].astype(np.uint8).reshape(h, w)
    orig = np.hstack([px, a[:, None]]) if alpha is not None else px
    if alpha is not None:
        orig = orig.copy()
        orig[a == 0] = 0
    sse = _sse(orig, palette, indices.reshape(-1))
    return Quantization(palette=np.ascontiguousarray(palette), indices=indices, sse=sse,
                        n_distinct=int(ukeys.size), exact=exact)


def _sse(orig: np.ndarray, palette: np.ndarray, idx: np.ndarray, chunk: int = 1 << 20) -> float:
    """Sum of squared differences between pixels and their palette colours (chunked, exact)."""
    total = 0
    pal = palette.astype(np.int64)
    for s in range(0, orig.shape[0], chunk):
        d = orig[s : s + chunk].astype(np.int64) - pal[idx[s : s + chunk]]
        total += int(np.einsum("ij,ij->", d, d))
    return float(total)


def _dither_indices(img: np.ndarray, palette: np.ndarray) -> np.ndarray:
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
