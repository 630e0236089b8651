"""Quantization of one image array: histogram -> fit -> palette -> map, in one call.

Stage: the image path's driver, from decoded pixels to the index map (decoding
and encoding are elsewhere). In: an (H, W, 3) uint8 array, optionally an (H, W)
alpha; out: a :class:`Quantization` (palette, index map, squared error). Each
step is a call to its stage: :mod:`._histogram`, :mod:`._fit`, :mod:`._palette`,
:mod:`._remap`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._colorspace import SPACES, from_srgb, to_srgb
from ._exceptions import OptionNotAllowedError
from ._fit import fit_palette, gray_palette
from ._histogram import ColorHistogram, pack_rgb, pixel_histogram, rgba_histogram
from ._nearest import nearest_centers, nearest_palette
from ._palette import (
    alpha_groups_to_keep,
    fit_around,
    parse_colors,
    round_palette,
    smallest_palette,
    split_budget,
    to_uint8,
    used_by_frequency,
)
from ._remap import Quantization, check_dither, dither_indices, sse
from ._validation import SeedLike, check_choice, check_n_colors, check_rgb, check_seed

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["HistogramFit", "apply_fit", "fit_histogram", "quantize", "quantize_image"]


def quantize(
    image: ArrayLike,
    n_colors: int = 16,
    *,
    random_state: SeedLike = 0,
    n_init: int | str = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    speed: int = 1,
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
    n_init : int or 'auto', default=1
        Seeds to try; the lowest distortion wins ('auto': 1, as :class:`kmeans_compress.KMeans`'s
        for its k-means++ start).
    max_iter, tol
        Lloyd iteration limit (>= 1) and relative tolerance (>= 0), as scikit-learn's.
    speed : int, default=1
        1 (best) to 11 (fastest), pngquant's scale: fewer starts and iterations as it grows.

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
    img = check_rgb(image)
    n_colors = check_n_colors(n_colors)
    hist = pixel_histogram(img)  # the keys are dropped at once: 4 bytes a pixel
    fit = fit_histogram(
        hist, n_colors, random_state=random_state, n_init=n_init, max_iter=max_iter, tol=tol, speed=speed
    )
    return apply_fit(img, hist, fit)


@dataclass(frozen=True)
class HistogramFit:
    """A palette fitted to a colour histogram, before any pixel is mapped.

    Attributes
    ----------
    palette : (K, 3) uint8
        The entries in use, most frequent first.
    color_index : (M,) uint8
        The entry of every distinct colour of the histogram.
    sse : float
        Squared error summed over all pixels and channels (exact: integer colours).
    exact : bool
        The histogram had at most K colours: kept as they are.
    """

    palette: np.ndarray
    color_index: np.ndarray
    sse: float
    exact: bool


def fit_histogram(
    hist: ColorHistogram,
    n_colors: int,
    *,
    random_state: SeedLike = 0,
    n_init: int | str = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    speed: int = 1,
    coarse_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> HistogramFit:
    """Fit, round and map the distinct colours of ``hist``: :func:`quantize` without the pixels.

    The palette-size searches call this once per size on one histogram (with one
    ``coarse_cache``), and map the pixels only for the size they keep (:func:`apply_fit`).
    """
    check_seed(random_state)  # here, not only where a start is drawn: refused whatever the image
    exact = hist.n_colors <= n_colors
    hint = None
    colors = hist.colors
    if exact:
        pal = hist.colors
    else:
        if bool((colors[:, 0] == colors[:, 1]).all() and (colors[:, 1] == colors[:, 2]).all()):
            # A gray image: its best palette of grays exactly, by a dynamic program over the levels
            # (no starts, no seed: the same palette whatever random_state, n_init and speed).
            order = np.argsort(colors[:, 0], kind="stable")
            centers, run = gray_palette(colors[order, 0], hist.counts[order], n_colors)
            fit_labels = np.empty_like(run)
            fit_labels[order] = run
        else:
            centers, fit_labels = fit_palette(
                hist.colors,
                hist.counts,
                n_colors,
                random_state=random_state,
                n_init=n_init,
                max_iter=max_iter,
                tol=tol,
                speed=speed,
                coarse_cache=coarse_cache,
            )
        pal = round_palette(centers, hist.colors, hist.counts, n_colors)
        # Where each colour's centre landed in the rounded palette: a start for the search below.
        rounded = to_uint8(centers)
        hint = np.searchsorted(pack_rgb(pal), pack_rgb(rounded))[fit_labels]
    # Exact final mapping of every distinct colour to its nearest palette entry.
    labels, d2 = nearest_palette(hist.colors, pal, hint)
    # Keep only the entries in use, most frequent first (ties: by colour), then renumber.
    order, remap = used_by_frequency(labels, pal.shape[0], hist.counts)
    palette = np.ascontiguousarray(pal[order])
    color_index = remap[labels].astype(np.uint8)
    err = float(np.dot(hist.counts, d2))  # integer colours: exact squared errors
    return HistogramFit(palette=palette, color_index=color_index, sse=err, exact=exact)


def apply_fit(img: np.ndarray, hist: ColorHistogram, fit: HistogramFit) -> Quantization:
    """Map every pixel of ``img`` (whose histogram is ``hist``) through ``fit``."""
    if hist.pixel_index is not None and hist.pixel_index.size == img.shape[0] * img.shape[1]:
        indices = fit.color_index[hist.pixel_index].reshape(img.shape[:2])
    else:
        indices = hist.lookup_pixels(img, fit.color_index)
    return Quantization(palette=fit.palette, indices=indices, sse=fit.sse, n_distinct=hist.n_colors, exact=fit.exact)


def quantize_image(
    rgb: ArrayLike,
    n_colors: int = 16,
    *,
    alpha: np.ndarray | None = None,
    space: str = "rgb",
    dither: bool | float = False,
    fixed_colors: Any = None,
    random_state: SeedLike = 0,
    n_init: int | str = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    speed: int = 1,
) -> Quantization:
    """:func:`quantize` with transparency, a choice of colour space, dithering and fixed entries.

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
    dither : bool or float in [0, 1]
        Error diffusion with the K-means palette (opaque images), at this
        strength (True: 0.5, as ``--dither`` alone): serpentine, in ``space``, and
        selective: only near the false contours of smooth gradients, not in flat
        areas or along sharp edges (:func:`kmeans_compress._remap.dither_map`).
    fixed_colors : '#RRGGBB,...', or a sequence of such strings or of RGB triples, optional
        Entries the palette keeps whatever the image (used or not); the others are
        fitted around them, in ``space``. They are opaque entries: with transparency,
        the transparent and partly transparent pixels share the entries left, one
        each at least, so ``n_colors`` must hold the fixed colours and one entry per
        kind of transparency present (:func:`._palette.smallest_palette`; else
        OptionNotAllowedError).

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
    img = check_rgb(rgb)
    n_colors = check_n_colors(n_colors)
    check_choice(space, "space", SPACES)
    # Here, not only in the fits: an image of few colours, or one with transparency, another space or
    # fixed entries, may reach no fit that checks it; refused whatever the image.
    check_seed(random_state)
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != img.shape[:2] or alpha.dtype != np.uint8:
            raise ValueError(f"alpha must be a uint8 array of shape {img.shape[:2]}, got {alpha.dtype} {alpha.shape}.")
        if bool((alpha == 255).all()):
            alpha = None
    strength = check_dither(dither)
    if alpha is not None and strength > 0:
        raise OptionNotAllowedError("dithering is not supported for images with transparency; drop --dither")
    fit: dict[str, Any] = dict(random_state=random_state, n_init=n_init, max_iter=max_iter, tol=tol, speed=speed)
    fixed = None if fixed_colors is None else parse_colors(fixed_colors)
    if fixed is not None and fixed.shape[0]:
        smallest_palette(n_colors, fixed, alpha)
        if alpha is None:
            return _quantize_around(img, n_colors, fixed, strength, space, fit)
    else:
        fixed = None
    if alpha is None and space == "rgb":
        q = quantize(img, n_colors, **fit)
        if strength == 0 or q.exact:
            return q
        return _dithered(img, q.palette, strength, "rgb", q.indices, q.n_distinct, undithered_sse=q.sse)

    h, w = img.shape[:2]
    px = img.reshape(-1, 3)
    a = np.full(h * w, 255, np.uint8) if alpha is None else alpha.reshape(-1)
    colors, counts, inverse = rgba_histogram(px, a)
    n_distinct = colors.shape[0]
    ua = colors[:, 3]
    groups = [np.flatnonzero(ua == 0), np.flatnonzero((ua > 0) & (ua < 255)), np.flatnonzero(ua == 255)]
    exact = n_distinct <= n_colors and fixed is None
    fixed_rows: np.ndarray | None = None
    labels = np.empty(n_distinct, dtype=np.intp)
    if exact:
        pal = colors
        labels[:] = np.arange(n_distinct)
    else:
        ascale = 100.0 / 255.0 if space != "rgb" else 1.0

        def codec(gi: int) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
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
            if gi == 2 and fixed is not None:  # the fixed colours are opaque entries
                rgb = fit_around(colors[g, :3], counts[g], fixed, k, space=space, **fit)
                return np.hstack([rgb, np.full((rgb.shape[0], 1), 255, np.uint8)])
            if g.size <= k:
                return colors[g]
            to_space, to_rgba = codec(gi)
            X = to_space(colors[g])
            weights = counts[g].astype(np.float64)
            centers, _ = fit_palette(X, weights, k, **fit)
            return round_palette(centers, X, weights, k, to_entries=to_rgba, to_points=to_space)

        live = [gi for gi, g in enumerate(groups) if g.size]
        keep = live
        single: dict[int, np.ndarray] = {}
        sizes = [g.size for g in groups]
        n_free = n_colors
        if fixed is not None:
            # The opaque group always holds the fixed entries; the others share what is left.
            n_free -= fixed.shape[0]
            others = [gi for gi in live if gi != 2]  # one entry each at least: smallest_palette checked it
            keep = sorted({*others, 2})
            not_fixed = ~(colors[groups[2], None, :3] == fixed[None, :, :]).all(axis=2).any(axis=1)
            sizes[2] = int(not_fixed.sum()) if n_free > len(others) else 0  # 0: opaque pixels use the fixed ones
        elif n_colors < len(live):  # K = 1 or 2 with more alpha groups: not every group gets an entry
            single = {gi: group_palette(gi, 1) for gi in live}
            keep = alpha_groups_to_keep(n_colors, colors, counts, groups, single)
        sizes = [size if gi in keep else 0 for gi, size in enumerate(sizes)]
        budget = split_budget(n_free, sizes, [float(counts[g].sum()) for g in groups])
        parts: list[np.ndarray] = []
        for gi in keep:
            g = groups[gi]
            if gi == 2 and fixed is not None:
                gpal = group_palette(gi, budget[gi] + fixed.shape[0])
                rows = (gpal[:, None, :3] == fixed[None, :, :]).all(axis=2).any(axis=1)
                fixed_rows = np.flatnonzero(rows) + sum(p.shape[0] for p in parts)
            else:
                gpal = single[gi] if gi in single else group_palette(gi, budget[gi])
            to_space, _ = codec(gi)
            if g.size:
                sub, _ = nearest_centers(to_space(colors[g]), to_space(gpal))
                labels[g] = sub + sum(p.shape[0] for p in parts)
            parts.append(gpal)
        pal = np.vstack(parts)
        for gi in live:
            if gi not in keep:  # no entry of its own: the nearest kept entry in RGBA
                labels[groups[gi]] = nearest_palette(colors[groups[gi]], pal)[0]

    pix_labels = labels[inverse.reshape(-1)]
    if strength > 0 and not exact:
        return _dithered(img, pal[:, :3], strength, space, pix_labels.reshape(h, w), int(n_distinct))
    order, remap = used_by_frequency(pix_labels, pal.shape[0], keep=fixed_rows)
    palette = pal[order] if alpha is not None else np.ascontiguousarray(pal[order][:, :3])
    indices = remap[pix_labels].astype(np.uint8).reshape(h, w)
    orig = np.hstack([px, a[:, None]]) if alpha is not None else px
    if alpha is not None:
        orig = orig.copy()
        orig[a == 0] = 0
    err = sse(orig, palette, indices.reshape(-1))
    exact = exact or (fixed is not None and err == 0)
    return Quantization(
        palette=np.ascontiguousarray(palette), indices=indices, sse=err, n_distinct=int(n_distinct), exact=exact
    )


def _quantize_around(
    img: np.ndarray, n_colors: int, fixed: np.ndarray, strength: float, space: str, fit: dict[str, Any]
) -> Quantization:
    """:func:`quantize_image` with ``fixed`` entries kept (opaque): fit around them in ``space``, map, dither."""
    h, w = img.shape[:2]
    hist = pixel_histogram(img)
    union = np.unique(np.vstack([hist.colors, fixed]), axis=0)
    exact = union.shape[0] <= n_colors
    pal = union if exact else fit_around(hist.colors, hist.counts, fixed, n_colors, space=space, **fit)
    keep = np.flatnonzero((pal[:, None, :] == fixed[None, :, :]).all(axis=2).any(axis=1))
    if space == "rgb" or exact:
        labels, _ = nearest_palette(hist.colors, pal)  # pal is sorted by colour: ties to the smaller colour
    else:
        labels, _ = nearest_centers(
            from_srgb(hist.colors.astype(np.float64), space), from_srgb(pal.astype(np.float64), space)
        )
    pix_labels = hist.lookup_pixels(img, labels.astype(np.uint8)).astype(np.intp).reshape(h, w)
    if strength > 0 and not exact:
        return _dithered(img, pal, strength, space, pix_labels, hist.n_colors, keep=keep)
    return _renumbered(img, pal, pix_labels.reshape(-1), hist.n_colors, exact, keep)


def _renumbered(
    img: np.ndarray,
    pal: np.ndarray,
    pix_labels: np.ndarray,
    n_distinct: int,
    exact: bool,
    keep: np.ndarray,
    undithered_sse: float | None = None,
) -> Quantization:
    """Entries in use by frequency, then the unused entries of ``keep``; the index map and its error."""
    h, w = img.shape[:2]
    order, remap = used_by_frequency(pix_labels, pal.shape[0], keep=keep)
    palette = np.ascontiguousarray(pal[order])
    indices = remap[pix_labels].astype(np.uint8).reshape(h, w)
    err = sse(img.reshape(-1, 3), palette, indices.reshape(-1))
    return Quantization(
        palette=palette,
        indices=indices,
        sse=err,
        n_distinct=n_distinct,
        exact=exact and err == 0,
        undithered_sse=undithered_sse,
    )


def _dithered(
    img: np.ndarray,
    pal: np.ndarray,
    strength: float,
    space: str,
    guess: np.ndarray,
    n_distinct: int,
    keep: np.ndarray | None = None,
    undithered_sse: float | None = None,
) -> Quantization:
    """The dithered index map of ``img`` onto ``pal``, entries renumbered by use, and its error.

    ``guess`` is the map without dithering (each pixel's nearest entry of ``pal`` in ``space``);
    its error (``undithered_sse``, measured here unless given) is the palette's own, kept on the result.
    """
    h, w = img.shape[:2]
    if undithered_sse is None:
        undithered_sse = sse(img.reshape(-1, 3), pal, guess.reshape(-1))
    pix_labels = dither_indices(img, pal, strength, space=space, guess=guess)
    if keep is not None:
        return _renumbered(img, pal, pix_labels, n_distinct, False, keep, undithered_sse)
    order, remap = used_by_frequency(pix_labels, pal.shape[0])
    palette = np.ascontiguousarray(pal[order])
    indices = remap[pix_labels].astype(np.uint8).reshape(h, w)
    err = sse(img.reshape(-1, 3), palette, indices.reshape(-1))
    return Quantization(
        palette=palette, indices=indices, sse=err, n_distinct=n_distinct, exact=False, undithered_sse=undithered_sse
    )
