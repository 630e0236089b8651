"""Palettes: from fitted float centres to the uint8 entries an indexed image stores.

Stage: "palette", between the fit (:mod:`._fit`) and the mapping (:mod:`._remap`).
In: float centres (K, d) and the points they were fitted to; out: (K, 3) or
(K, 4) uint8 palettes. Rounding and the gap-fill after it are written once
(:func:`round_palette`), for RGB, RGBA groups and every colour space; also the
order of the entries (:func:`used_by_frequency`), the share of a palette among
alpha groups (:func:`split_budget`, :func:`alpha_groups_to_keep`), a palette
given by the user (:func:`check_palette`) and a palette shared by several images
(:func:`palette_from_histogram`).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from ._fit import fit_palette
from ._histogram import ColorHistogram
from ._nearest import nearest_centers, nearest_palette
from ._validation import SeedLike, check_n_colors

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "alpha_groups_to_keep",
    "check_palette",
    "palette_from_histogram",
    "round_palette",
    "split_budget",
    "to_uint8",
    "used_by_frequency",
]


def check_palette(palette: ArrayLike) -> np.ndarray:
    """A palette as (K, 3) uint8, K from 1 to 256; ValueError otherwise."""
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or not 1 <= pal.shape[0] <= 256:
        raise ValueError(f"palette must have shape (K, 3) with K from 1 to 256, got {pal.shape}.")
    if pal.dtype.kind not in "iu" or pal.min() < 0 or pal.max() > 255:
        raise ValueError("palette must hold integer colours 0-255.")
    return np.ascontiguousarray(pal, dtype=np.uint8)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Float colours on 0-255 rounded to the nearest integer and clipped, as uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def round_palette(
    centers: np.ndarray,
    points: np.ndarray,
    weights: np.ndarray,
    n_colors: int,
    *,
    to_entries: Callable[[np.ndarray], np.ndarray] = to_uint8,
    to_points: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Round float centres to distinct uint8 entries, keeping ``n_colors`` of them.

    Two centres can round to the same entry; the gap is then filled with the
    points worst represented by the palette so far (largest weight x squared
    distance to their nearest entry, ties to the lowest index), so the palette
    never holds fewer entries than asked while the points have enough distinct
    ones. The result is sorted (``np.unique``).

    Parameters
    ----------
    centers : (K, d) float
        Fitted centres, in the space of ``points``.
    points : (M, d)
        The points the centres were fitted to, and ``weights`` (M,) their weights.
        Integer colours (uint8, ``to_points`` None) are compared to the entries
        exactly; points in another space are compared after ``to_points``.
    to_entries
        Points or centres -> uint8 entries (default :func:`to_uint8`: RGB on 0-255).
    to_points
        uint8 entries -> the space of ``points``; None when ``points`` are the
        integer colours themselves.
    """
    pal = np.unique(to_entries(centers), axis=0)
    while pal.shape[0] < n_colors:
        if to_points is None:
            _, d2 = nearest_palette(points, pal)
        else:
            _, dist = nearest_centers(points, to_points(pal))
            assert dist is not None
            d2 = dist
        err = d2 * weights
        worst = np.argsort(-err, kind="stable")[: n_colors - pal.shape[0]]
        worst = worst[err[worst] > 0]
        if worst.size == 0:
            break
        new = points[worst] if to_points is None else to_entries(points[worst])
        pal = np.unique(np.vstack([pal, new]), axis=0)
    return pal


def used_by_frequency(
    labels: np.ndarray, n_entries: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
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


def split_budget(n_colors: int, sizes: list[int], weights: list[float]) -> list[int]:
    """Share ``n_colors`` palette entries among groups of ``sizes`` distinct colours.

    Each non-empty group gets at least one entry and at most its number of
    distinct colours; the rest follows the groups' pixel counts. The budget never
    exceeds ``n_colors``: with fewer entries than non-empty groups, choose the
    groups first (:func:`alpha_groups_to_keep`) and pass the others as empty.

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


def alpha_groups_to_keep(
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


def palette_from_histogram(
    hist: ColorHistogram,
    n_colors: int = 16,
    random_state: SeedLike = 0,
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
        centers, _ = fit_palette(
            hist.colors, hist.counts, n_colors, random_state=random_state, n_init=n_init, max_iter=max_iter, tol=tol
        )
        pal = round_palette(centers, hist.colors, hist.counts, n_colors)
    labels, _ = nearest_centers(hist.colors.astype(np.float64), pal.astype(np.float64))
    order, _ = used_by_frequency(labels, pal.shape[0], hist.counts)
    return np.ascontiguousarray(pal[order], dtype=np.uint8)
