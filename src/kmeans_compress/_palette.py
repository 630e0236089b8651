"""Palettes: from fitted float centres to the uint8 entries an indexed image stores.

Stage: "palette", between the fit (:mod:`._fit`) and the mapping (:mod:`._remap`).
In: float centres (K, d) and the points they were fitted to; out: (K, 3) or
(K, 4) uint8 palettes. Rounding and the gap-fill after it are written once
(:func:`round_palette`), for RGB, RGBA groups and every colour space; also the
order of the entries (:func:`used_by_frequency`), the share of a palette among
alpha groups (:func:`split_budget`, :func:`alpha_groups_to_keep`), the fewest entries fixed
colours allow (:func:`smallest_palette`) and a palette
shared by several images (:func:`palette_from_histogram`). A palette given by the
user is checked by :func:`._validation.check_palette`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any

import numpy as np

from ._colorspace import from_srgb, to_srgb
from ._exceptions import OptionNotAllowedError
from ._fit import fit_palette
from ._histogram import ColorHistogram, pack_rgb, unpack_rgb
from ._lloyd import lloyd
from ._nearest import nearest_centers, nearest_palette
from ._validation import SeedLike, check_n_colors, check_seed

__all__ = [
    "alpha_groups_to_keep",
    "deflate_order",
    "fit_around",
    "parse_colors",
    "palette_from_histogram",
    "round_palette",
    "smallest_palette",
    "split_budget",
    "to_uint8",
    "used_by_frequency",
]


def parse_colors(colors: Any) -> np.ndarray:
    """Colours as (F, 3) uint8: '#RRGGBB,...' text, a sequence of '#RRGGBB' / 'RRGGBB' strings, or of triples.

    Examples
    --------
    >>> parse_colors("#ff0000, 00ff80").tolist()
    [[255, 0, 0], [0, 255, 128]]
    """
    if isinstance(colors, str):
        colors = [c for c in colors.split(",") if c.strip()]
    items = list(colors)
    if items and all(isinstance(c, str) for c in items):
        out = []
        for c in items:
            h = c.strip().lstrip("#")
            if len(h) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in h):
                raise ValueError(f"colour {c.strip()!r}: expected #RRGGBB (six hexadecimal digits).")
            out.append([int(h[i : i + 2], 16) for i in (0, 2, 4)])
        items = out
    pal = np.asarray(items).reshape(-1, 3) if len(items) else np.zeros((0, 3), np.uint8)
    if pal.dtype.kind not in "iu" or (pal.size and (pal.min() < 0 or pal.max() > 255)):
        raise ValueError("colours must be integers 0-255 or '#RRGGBB' strings.")
    _, first = np.unique(pal, axis=0, return_index=True)
    return np.ascontiguousarray(pal[np.sort(first)], dtype=np.uint8)  # duplicates dropped, order kept


def smallest_palette(n_colors: int, fixed_colors: Any, alpha: np.ndarray | None) -> int:
    """The fewest entries a palette may have with these fixed colours (``--keep``) and this alpha.

    Without fixed colours 1 (with K below the kinds of pixels present, some kinds share the others'
    entries). With them, the fixed colours (opaque entries) and one entry for each other kind of
    pixel present: fully transparent, partly transparent. The one rule of
    :func:`._quantize.quantize_image`, :func:`palette_from_histogram` and the palette-size
    searches (which try no smaller size).

    Raises
    ------
    OptionNotAllowedError
        ``n_colors`` is below that: the options do not fit this image (a usage error, exit 2).

    Examples
    --------
    >>> a = np.array([[0, 255], [128, 255]], np.uint8)
    >>> smallest_palette(16, None, a), smallest_palette(16, "#ff0000,#00ff00", None), smallest_palette(16, "#ff0000", a)
    (1, 2, 3)
    """
    fixed = np.zeros((0, 3), np.uint8) if fixed_colors is None else parse_colors(fixed_colors)
    n_fixed = fixed.shape[0]
    if n_fixed == 0:
        return 1
    kinds = 0 if alpha is None else int(bool((alpha == 0).any())) + int(bool(((alpha > 0) & (alpha < 255)).any()))
    need = n_fixed + kinds
    if n_colors < need:
        colours = f"{n_fixed} fixed colour{'s' if n_fixed > 1 else ''}"
        if kinds == 0:
            raise OptionNotAllowedError(
                f"{colours} {'do' if n_fixed > 1 else 'does'} not fit in a palette of {n_colors}"
            )
        raise OptionNotAllowedError(
            f"{colours} and the image's transparent or partly transparent pixels need a palette of at least {need}"
        )
    return need


def fit_around(
    colors: np.ndarray,
    counts: np.ndarray,
    fixed: np.ndarray,
    n_colors: int,
    *,
    random_state: SeedLike = 0,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    speed: int = 1,
    space: str = "rgb",
) -> np.ndarray:
    """A palette of ``n_colors`` distinct uint8 RGB entries holding every ``fixed`` colour, the rest fitted around them.

    The free entries start from a K-means fit of the colours the fixed ones
    represent worst, then follow Lloyd's iterations in which the fixed entries
    take their share of the colours but never move; all in ``space`` (see
    :func:`kmeans_compress.quantize_image`). Rounded and gap-filled as
    :func:`round_palette`; the fixed entries are the given integers, exactly.
    """
    fixed = np.asarray(fixed, dtype=np.uint8).reshape(-1, 3)
    fixed = fixed[np.sort(np.unique(fixed, axis=0, return_index=True)[1])]  # each once, in order
    n_free = n_colors - fixed.shape[0]
    if n_free <= 0 or colors.shape[0] == 0:
        return np.unique(fixed, axis=0)
    in_rgb = space == "rgb"
    X = from_srgb(colors.astype(np.float64), space)
    w = counts.astype(np.float64)
    f = from_srgb(fixed.astype(np.float64), space)
    if in_rgb:
        _, d2 = nearest_palette(colors, fixed)  # exact integers: a colour equal to a fixed one is at 0
    else:
        _, dist = nearest_centers(X, f)
        assert dist is not None
        d2 = np.where((colors[:, None, :] == fixed[None, :, :]).all(axis=2).any(axis=1), 0.0, dist)
    far = d2 > 0
    if int(far.sum()) <= n_free:
        free = X[far]
    else:
        free, _ = fit_palette(
            X[far],
            w[far] * d2[far],
            n_free,
            random_state=random_state,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            speed=speed,
        )
        # Lloyd's iterations to convergence with the fixed entries pinned, run as every other fit
        # runs them (Hamerly's bounds, the compiled kernels): each fixed entry is also a point of its
        # own, of 2^30 times all the colours' weight, so its cluster's mean stays on it (within
        # 255 / 2^30) and the free entries take the rest. The numpy loop of full searches this
        # replaces reached the same palettes (12 fits: 3 photos' 256 x 256 crops, K = 16 to 256, two
        # kept) in 1.5-6x the time: 1.8-2.3 s a fit, and a --quality search with --keep fits 8.
        anchors = np.full(f.shape[0], float(w.sum()) * 2.0**30)
        _, _, centers, _ = lloyd(np.vstack([X, f]), np.concatenate([w, anchors]), np.vstack([f, free]), max_iter, 0.0)
        free = centers[f.shape[0] :]
    if in_rgb:
        return round_palette(np.vstack([f, free]), colors, counts, n_colors)

    def to_entries(x: np.ndarray) -> np.ndarray:
        return to_uint8(to_srgb(x, space))

    def to_points(entries: np.ndarray) -> np.ndarray:
        return from_srgb(entries.astype(np.float64), space)

    # The fixed entries go in as the integers given, not as their round trip through the space.
    pal = np.unique(np.vstack([fixed, to_entries(free)]), axis=0)
    gaps = n_colors - pal.shape[0]
    if gaps > 0:
        extra = round_palette(to_points(pal), X, w, n_colors, to_entries=to_entries, to_points=to_points)
        pal = np.unique(np.vstack([pal, extra]), axis=0)
    return pal


def _unique_rows(entries: np.ndarray) -> np.ndarray:
    """``np.unique(entries, axis=0)``: the distinct rows, sorted. uint8 RGB rows go through their
    packed keys (``R << 16 | G << 8 | B`` sorts as the rows do), 3 to 5 times faster than numpy's
    rows: 10 against 31 us for 16 entries, 25 against 121 us for 256 (a small image's fit pays it
    at every call)."""
    if entries.dtype == np.uint8 and entries.ndim == 2 and entries.shape[1] == 3:
        return unpack_rgb(np.unique(pack_rgb(entries)))
    return np.unique(entries, axis=0)


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
    pal = _unique_rows(to_entries(centers))
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
        pal = _unique_rows(np.vstack([pal, new]))
    return pal


def used_by_frequency(
    labels: np.ndarray, n_entries: int, weights: np.ndarray | None = None, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Palette entries in use, most used first (ties: lowest index), and the renumbering.

    Returns ``order`` (old index of each kept entry) and ``remap`` (new index of
    every old entry; entries not in use map to 0). Entries of ``keep`` (fixed
    colours) stay even when unused: after the used ones, in index order.
    """
    use = np.bincount(labels, weights=weights, minlength=n_entries)
    used = np.flatnonzero(use > 0)
    order = used[np.lexsort((used, -use[used]))]
    if keep is not None:
        order = np.concatenate([order, np.setdiff1d(keep, order)]).astype(np.intp)
    remap = np.zeros(n_entries, dtype=np.intp)
    remap[order] = np.arange(order.size)
    return order, remap


def deflate_order(maps: list[np.ndarray], palette: np.ndarray) -> np.ndarray:
    """An order of the palette entries that deflates better: ``order[i]`` is the old index of new entry ``i``.

    PNG's filters predict a byte from its neighbours and deflate finds repeats,
    so entries that sit side by side in the image should have near indices. Two
    greedy chains, chosen by bit depth from measurements on the benchmark photos
    (benchmarks/RESULTS.md):

    - up to 16 entries (1, 2 and 4 bits: several pixels a byte): a chain through
      the co-occurrence counts, starting at the most used entry (index 0 of a
      palette ordered by use) and going on to the entry most often next to the
      last one (horizontally or vertically adjacent pixels);
    - more entries (8 bits): a chain through colour distance, from the darkest
      entry to the nearest one not yet placed.

    Ties go to the lowest index, so the order is a function of the inputs only.

    Examples
    --------
    >>> import numpy as np
    >>> pal = np.array([[0, 0, 0], [255, 255, 255], [10, 10, 10]], np.uint8)
    >>> deflate_order([np.array([[0, 2, 1, 1]])], pal).tolist()
    [0, 2, 1]
    """
    k = palette.shape[0]
    if k <= 2:
        return np.arange(k)
    if k <= 16:
        score = np.zeros((k, k), dtype=np.float64)
        for m in maps:
            m = np.asarray(m)
            rows = max(2, (1 << 20) // max(1, m.shape[1]))
            # bands of rows overlapping by one, so each vertical pair is counted once: memory
            # stays a band's worth of int64 keys whatever the image
            for r0 in range(0, max(1, m.shape[0] - 1), rows - 1):
                a = m[r0 : r0 + rows].astype(np.int64)
                if r0 == 0 or a.shape[0] > 1:
                    horizontal = a[:, 1:] * k + a[:, :-1] if r0 == 0 else a[1:, 1:] * k + a[1:, :-1]
                    score += np.bincount(horizontal.ravel(), minlength=k * k).reshape(k, k)
                    vertical = a[1:, :] * k + a[:-1, :]
                    score += np.bincount(vertical.ravel(), minlength=k * k).reshape(k, k)
        score += score.T
        start = 0
    else:
        p = palette[:, :3].astype(np.float64)
        score = -np.einsum("ijc,ijc->ij", p[:, None] - p[None], p[:, None] - p[None])
        start = int(np.argmin(p @ np.array([299.0, 587.0, 114.0])))
    placed = np.zeros(k, dtype=bool)
    order = np.empty(k, dtype=np.intp)
    order[0] = start
    placed[start] = True
    for i in range(1, k):
        row = np.where(placed, -np.inf, score[order[i - 1]])
        order[i] = int(np.argmax(row))  # first maximum: ties to the lowest index
        placed[order[i]] = True
    return order


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
    fixed_colors: Any = None,
) -> np.ndarray:
    """Cluster a (merged) colour histogram into a palette: (K, 3) uint8, most used first.

    ``fixed_colors`` (``--keep``, as :func:`parse_colors` reads them) are entries the palette holds
    whatever the colours, the others fitted around them by :func:`fit_around`, as for one image;
    a fixed entry no colour is nearest to comes after the used ones.
    """
    n_colors = check_n_colors(n_colors)
    check_seed(random_state)  # refused whatever the colours: few of them need no fit
    if hist.n_colors == 0:
        raise ValueError("the histogram is empty: no image could be read.")
    fixed = None if fixed_colors is None else parse_colors(fixed_colors)
    keep = None
    if fixed is not None and fixed.shape[0]:
        smallest_palette(n_colors, fixed, None)
        union = np.unique(np.vstack([hist.colors, fixed]), axis=0)
        if union.shape[0] <= n_colors:
            pal = union
        else:
            pal = fit_around(
                hist.colors,
                hist.counts,
                fixed,
                n_colors,
                random_state=random_state,
                n_init=n_init,
                max_iter=max_iter,
                tol=tol,
            )
        keep = np.flatnonzero((pal[:, None, :] == fixed[None, :, :]).all(axis=2).any(axis=1))
    elif hist.n_colors <= n_colors:
        pal = hist.colors
    else:
        centers, _ = fit_palette(
            hist.colors, hist.counts, n_colors, random_state=random_state, n_init=n_init, max_iter=max_iter, tol=tol
        )
        pal = round_palette(centers, hist.colors, hist.counts, n_colors)
    labels, _ = nearest_centers(hist.colors.astype(np.float64), pal.astype(np.float64))
    order, _ = used_by_frequency(labels, pal.shape[0], hist.counts, keep=keep)
    return np.ascontiguousarray(pal[order], dtype=np.uint8)
