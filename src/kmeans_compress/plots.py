"""Matplotlib figures for the tutorial (the optional ``[plot]`` extra).

matplotlib is imported lazily, inside each function, so that the rest of the
package never needs it; without it every function raises an ``ImportError`` that
says how to install it. On a machine without a display the non-interactive Agg
backend is used.

Every function returns a ``matplotlib.figure.Figure`` (drawn through pyplot, so
that notebooks show it) and, given ``path``, also writes it as a PNG with
:func:`save_figure`: atomically, never over an existing file unless
``overwrite``, and byte-identical for the same input (no software version or
date in the file).
"""

from __future__ import annotations

import io as _io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "figure_to_png_bytes",
    "plot_comparison",
    "plot_pixels_rgb",
    "plot_progress_kmeans",
    "plot_rate_distortion",
    "plot_restarts",
    "save_figure",
]

INSTALL_HINT = "plotting needs matplotlib: pip install 'kmeans-compress[plot]'"

# Backends that open windows and so need a display.
_GUI_BACKENDS = {
    "gtk3agg",
    "gtk3cairo",
    "gtk4agg",
    "gtk4cairo",
    "macosx",
    "qt5agg",
    "qt5cairo",
    "qtagg",
    "qtcairo",
    "tkagg",
    "tkcairo",
    "wx",
    "wxagg",
    "wxcairo",
}


def matplotlib_available() -> bool:
    """True when matplotlib can be imported (the ``[plot]`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    try:
        import matplotlib

        if not _has_display() and matplotlib.get_backend().lower() in _GUI_BACKENDS:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return plt


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name == "nt")


def figure_to_png_bytes(fig: Any, dpi: float = 100) -> bytes:
    """Render ``fig`` as PNG bytes, without the software-version metadata (deterministic)."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def save_figure(
    fig: Any, path: str | os.PathLike[str], *, overwrite: bool = False, dpi: float = 100, close: bool = False
) -> Path:
    """Write ``fig`` as a PNG file, atomically; never replaces a file unless ``overwrite``.

    ``close`` releases the figure afterwards (also when writing failed), as a
    program that draws many figures must.

    Raises
    ------
    ValueError
        ``path`` does not end in ``.png``.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    from ._encode import write_atomic

    try:
        if Path(path).suffix.lower() != ".png":
            raise ValueError(f"{path}: figures are written as PNG; the file name must end in .png")
        return write_atomic(path, figure_to_png_bytes(fig, dpi=dpi), overwrite=overwrite)
    finally:
        if close:
            _pyplot().close(fig)


def _finish(fig: Any, path: Any, overwrite: bool) -> Any:
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


# --------------------------------------------------------------------------- the K-means algorithm


def plot_progress_kmeans(
    X: np.ndarray,
    centroid_history: Sequence[np.ndarray],
    idx: np.ndarray,
    ax: Any = None,
    *,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Any:
    """Points coloured by cluster, with the path of every centroid over the iterations.

    Parameters
    ----------
    X : ndarray of shape (m, n)
        The points: the first two features are drawn, or, for one feature, the
        points on a line (y = 0).
    centroid_history : sequence of ndarray of shape (K, n)
        The centroids at the start and after every iteration.
    idx : ndarray of shape (m,)
        Final cluster of every point. Each cluster has its own colour up to 20
        clusters (matplotlib's tab10, then tab20); beyond, colours sampled along
        a continuous map (turbo), neighbouring indices in neighbouring hues.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    path : path, optional
        Also write the figure there as PNG (see :func:`save_figure`).
    overwrite : bool, default=False

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    >>> history = [X[[0, 1]], np.array([[0.0, 0.5], [5.0, 5.5]])]
    >>> fig = plot_progress_kmeans(X, history, np.array([0, 0, 1, 1]))
    >>> len(fig.axes)
    1
    """
    from ._validation import check_labels

    plt = _pyplot()
    X = np.asarray(X, dtype=float)
    one_feature = X.ndim == 2 and X.shape[1] == 1
    X = _two_columns(X)
    hist = _two_columns(np.stack([np.asarray(c, dtype=float) for c in centroid_history]))  # (T, K, 2)
    k = hist.shape[1]
    # As compute_centroids takes them: whole-number floats (run_kmeans's own idx may be), nothing
    # outside 0..K-1 (-1 would take the last cluster's colour), checked before a figure is made.
    labels = check_labels(idx, X.shape[0], k)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    else:
        fig = ax.figure
    ax.scatter(X[:, 0], X[:, 1], c=_cluster_colours(k)[labels], s=18, alpha=0.7)
    for j in range(k):
        ax.plot(hist[:, j, 0], hist[:, j, 1], "-", color="black", lw=1)
        ax.plot(hist[:-1, j, 0], hist[:-1, j, 1], "o", color="black", ms=4, mfc="white")
    ax.plot(hist[-1, :, 0], hist[-1, :, 1], "X", color="red", ms=12, mec="black", label="final centroids")
    if one_feature:
        ax.set_yticks([])  # the points lie on the line y = 0
    ax.set_title(f"K-means progress: {len(centroid_history) - 1} iterations")
    ax.legend(loc="best")
    return _finish(fig, path, overwrite)


def _two_columns(a: np.ndarray) -> np.ndarray:
    """The first two features of ``a`` (points on the last axis), with a column of zeros added to one
    feature: one-feature data is drawn on the line y = 0."""
    if a.shape[-1] >= 2:
        return a[..., :2]
    return np.concatenate([a, np.zeros_like(a)], axis=-1)


def _cluster_colours(k: int) -> np.ndarray:
    """``k`` distinct RGB colours, one per cluster: tab10's up to 10, tab20's up to 20 (its pairs of
    a dark and a light shade of ten hues), beyond that ``k`` samples evenly spread along turbo."""
    from matplotlib import colormaps

    if k <= 20:  # a listed map called with integers gives its colours themselves
        return np.asarray(colormaps["tab10" if k <= 10 else "tab20"](np.arange(k)))[:, :3]
    return np.asarray(colormaps["turbo"](np.linspace(0.0, 1.0, k)))[:, :3]


def _kmeans_with_history(X: np.ndarray, centroids: np.ndarray, max_iters: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The loop of :func:`run_kmeans`, keeping every step's centroids."""
    from .kmeans import compute_centroids, find_closest_centroids

    history = [centroids]
    idx = find_closest_centroids(X, centroids)
    for _ in range(max_iters):
        centroids = compute_centroids(X, idx, centroids.shape[0])
        history.append(centroids)
        new_idx = find_closest_centroids(X, centroids)
        if np.array_equal(new_idx, idx):
            break
        idx = new_idx
    return history, idx


def plot_restarts(
    X: np.ndarray,
    K: int,
    n_init: int = 6,
    max_iters: int = 10,
    random_state: int = 0,
    *,
    ncols: int = 3,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Any:
    """K-means from several random starts, side by side, each with its final distortion.

    Start ``i`` (numbered from 1 to ``n_init``, as in the panel titles) takes
    its initial centroids from
    ``kmeans_init_centroids(X, K, random_state=random_state + i - 1)`` and runs
    ``max_iters`` iterations, as :func:`kmeans_compress.run_kmeans`. The panel
    with the lowest distortion (the one to keep) is framed in red and marked
    "best".

    Parameters
    ----------
    X : ndarray of shape (m, n)
        As :func:`plot_progress_kmeans`: the first two features are drawn, one
        feature on a line.
    K : int
        Number of clusters.
    n_init : int, default=6
        Number of random starts.
    max_iters : int, default=10
    random_state : int, default=0
        Seed of the first start.
    ncols : int, default=3
        Panels per row.
    path, overwrite
        As :func:`plot_progress_kmeans`.

    Returns
    -------
    matplotlib.figure.Figure
        Its axes titles read ``"start i: J = ..."``, ``i`` from 1.
    """
    from ._validation import check_array, check_int
    from .kmeans import compute_distortion, kmeans_init_centroids

    n_init = check_int(n_init, "n_init", low=1)
    max_iters = check_int(max_iters, "max_iters", low=0)
    check_int(random_state, "random_state", hint="start i uses random_state + i - 1")
    X = check_array(X, "X")
    runs = []
    for i in range(n_init):
        init = kmeans_init_centroids(X, K, random_state=int(random_state) + i)
        history, idx = _kmeans_with_history(X, init, max_iters)
        runs.append((history, idx, compute_distortion(X, history[-1], idx)))
    best = int(np.argmin([r[2] for r in runs]))

    plt = _pyplot()
    ncols = max(1, min(ncols, n_init))
    nrows = math.ceil(n_init / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.6 * ncols, 3.3 * nrows + 0.5),
        squeeze=False,
        layout="constrained",
        sharex=True,
        sharey=True,
    )
    for i, (history, idx, distortion) in enumerate(runs):
        ax = axes.flat[i]
        plot_progress_kmeans(X, history, idx, ax=ax)
        ax.get_legend().remove()
        mark = "  (best)" if i == best else ""
        ax.set_title(
            f"start {i + 1}: J = {distortion:.3f}{mark}", fontsize=10, fontweight="bold" if i == best else "normal"
        )
        if i == best:
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(3)
    for ax in axes.flat[n_init:]:
        ax.set_visible(False)
    # Shared x axes label only the bottom row: a panel above a hidden one is the last of its column.
    for ax in axes.flat[max(0, n_init - ncols) : n_init]:
        ax.xaxis.set_tick_params(labelbottom=True)
    js = [r[2] for r in runs]
    fig.suptitle(f"K = {K}, {n_init} random starts: distortion J from {min(js):.3f} to {max(js):.3f}; keep the lowest")
    return _finish(fig, path, overwrite)


# --------------------------------------------------------------------------- images


def _png_bytes(result: Any) -> int:
    n = result.report.output_bytes
    return len(result.to_png_bytes()) if n is None else int(n)


# Transparency is shown over a checkerboard of these two grays, as image editors do.
_CHECKER_LIGHT = 255
_CHECKER_DARK = 204


def _as_rgba(a: Any, what: str) -> np.ndarray:
    """Colours as (..., 4) uint8 RGBA, from gray (no channel axis, or 1 channel), gray + alpha (2),
    RGB (3) or RGBA (4): an image when ``what`` is 'image' (2-D = gray), else a palette (1-D = gray)."""
    a = np.asarray(a)
    gray_ndim = 2 if what == "image" else 1
    if a.ndim == gray_ndim:
        a = a[..., None]
    if a.ndim != gray_ndim + 1 or a.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"{what} must be gray, gray + alpha, RGB or RGBA (last axis of 1 to 4 channels), got shape {a.shape}."
        )
    if a.dtype != np.uint8:
        if a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() > 255)):
            raise TypeError(f"{what} must hold integers 0-255 (uint8), got dtype {a.dtype}.")
        a = a.astype(np.uint8)
    n = a.shape[-1]
    if n <= 2:
        colour = np.repeat(a[..., :1], 3, axis=-1)
        alpha = a[..., 1:2] if n == 2 else np.full(a.shape[:-1] + (1,), 255, np.uint8)
    else:
        colour = a[..., :3]
        alpha = a[..., 3:4] if n == 4 else np.full(a.shape[:-1] + (1,), 255, np.uint8)
    return np.concatenate([colour, alpha], axis=-1)


def _checkerboard(h: int, w: int, square: int) -> np.ndarray:
    """(h, w) uint8 of light and dark squares of ``square`` pixels, light at the top left."""
    y, x = np.mgrid[0:h, 0:w]
    return np.where(((y // square) + (x // square)) % 2 == 0, _CHECKER_LIGHT, _CHECKER_DARK).astype(np.uint8)


def _over_checkerboard(rgba: np.ndarray, square: int) -> np.ndarray:
    """(H, W, 4) uint8 RGBA composited over a checkerboard: (H, W, 3) uint8 RGB, rounded to nearest.

    Opaque pixels keep their colour exactly; fully transparent ones show the board.
    """
    bg = _checkerboard(rgba.shape[0], rgba.shape[1], square).astype(np.int64)[:, :, None]
    a = rgba[:, :, 3:4].astype(np.int64)
    out = (rgba[:, :, :3].astype(np.int64) * a + bg * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _image_square(h: int, w: int) -> int:
    """Checkerboard square size for an image: about 32 squares across its longer side."""
    return max(1, round(max(h, w) / 32))


def _swatch_grid(palette: np.ndarray, per_row: int = 32) -> np.ndarray:
    """The palette as an (rows, columns, 3) uint8 RGB grid of swatches, unused cells white.

    Gray (K,) or (K, 1), gray + alpha (K, 2), RGB (K, 3) and RGBA (K, 4) palettes are
    accepted. When some entry is not opaque every swatch is 8 x 8 pixels composited
    over a checkerboard of 4-pixel squares (a fully transparent entry shows the bare
    board); otherwise a swatch is one pixel of exactly the entry's colour.
    """
    rgba = _as_rgba(palette, "palette")
    k = rgba.shape[0]
    ncol = min(k, per_row)
    nrow = math.ceil(k / ncol)
    grid = np.full((nrow * ncol, 4), 255, dtype=np.uint8)
    grid[:k] = rgba
    grid = grid.reshape(nrow, ncol, 4)
    if bool((rgba[:, 3] == 255).all()):
        return np.ascontiguousarray(grid[:, :, :3])
    cell = 8
    big = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)
    return _over_checkerboard(big, cell // 2)


def plot_comparison(
    result: Any,
    *,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Any:
    """The original and the compressed image side by side, with the palette as swatches.

    The title gives K, the real PNG size in bytes, bits per pixel, the ratio to
    24-bit RGB ("N.Nx smaller", or "N.Nx larger" for a file above 24 bits per
    pixel) and the PSNR. The swatches are in the palette's order: most frequent
    first, or as given when the result keeps it (``compress_with_palette``, the
    command line's ``--map``). Images and palettes may be gray, gray + alpha, RGB
    or RGBA; transparency is drawn over a checkerboard (images and swatches).

    Parameters
    ----------
    result : CompressionResult
        From :func:`kmeans_compress.compress`. The size is ``report.output_bytes``
        when the result was saved, else that of ``result.to_png_bytes()``.
    path, overwrite
        As :func:`plot_progress_kmeans`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kmeans_compress import compress, sample_image_path
    >>> fig = plot_comparison(compress(sample_image_path(), n_colors=8))
    >>> fig.axes[0].get_title()
    'original: 32,584 distinct colours'
    """
    plt = _pyplot()
    rep = result.report
    h, w = result.labels.shape
    palette = np.asarray(result.palette, dtype=np.uint8)
    n_bytes = _png_bytes(result)
    bpp = 8.0 * n_bytes / (h * w)
    ratio = 24.0 / bpp
    quality = "lossless" if math.isinf(rep.psnr) else f"PSNR {rep.psnr:.1f} dB"
    grid = _swatch_grid(palette)

    panel_w = 5.0
    panel_h = panel_w * h / w
    swatch_h = 0.35 * grid.shape[0] + 0.35
    fig = plt.figure(figsize=(2 * panel_w + 0.4, panel_h + swatch_h + 1.0), layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[panel_h, swatch_h])
    ax0 = fig.add_subplot(gs[0, 0])
    ax1 = fig.add_subplot(gs[0, 1])
    ax2 = fig.add_subplot(gs[1, :])
    square = _image_square(h, w)
    ax0.imshow(_over_checkerboard(_as_rgba(result.original, "image"), square), interpolation="nearest")
    ax0.set_title(f"original: {rep.n_distinct_input:,} distinct colours")
    ax1.imshow(_over_checkerboard(_as_rgba(result.image, "image"), square), interpolation="nearest")
    ax1.set_title(f"compressed: {palette.shape[0]} colours")
    ax2.imshow(grid, interpolation="nearest", aspect="auto")
    order = "in the given order" if getattr(result, "keep_palette_order", False) else "most frequent first"
    ax2.set_title(f"palette, {order}", fontsize=9)
    for ax in (ax0, ax1, ax2):
        ax.set_xticks([])
        ax.set_yticks([])
    size = f"{ratio:.1f}x smaller" if ratio >= 1 else f"{1 / ratio:.1f}x larger"
    fig.suptitle(f"K = {rep.n_colors}: {n_bytes:,} bytes, {bpp:.2f} bits/pixel, {size} than 24-bit RGB, {quality}")
    return _finish(fig, path, overwrite)


def plot_pixels_rgb(
    result: Any,
    n_samples: int = 2000,
    random_state: Any = 0,
    ax: Any = None,
    *,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Any:
    """A sample of the pixels in RGB space, each drawn in the colour of its palette entry.

    The palette entries themselves are the large black-edged markers: every
    point sits in the cell of the entry it was mapped to. With transparency
    (an RGBA or gray + alpha original / palette), pixels and entries are placed
    and coloured by their RGB, and fully transparent ones (which have no colour)
    are left out; the sample is drawn from the visible pixels. A gray original
    or palette is drawn on the gray diagonal.

    Parameters
    ----------
    result : CompressionResult
    n_samples : int, default=2000
        Pixels drawn, chosen at random (all pixels if the image has fewer).
    random_state : None, int or numpy Generator, default=0
    ax : matplotlib 3-D Axes, optional
    path, overwrite
        As :func:`plot_progress_kmeans`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    if ax is None:
        fig = plt.figure(figsize=(6, 5.5), layout="constrained")
        ax = fig.add_subplot(projection="3d")
    else:
        fig = ax.figure
    ax.computed_zorder = False  # draw the palette markers over the pixels
    pixels = _as_rgba(result.original, "image").reshape(-1, 4)
    labels = np.asarray(result.labels).reshape(-1)
    palette = _as_rgba(result.palette, "palette")
    if labels.shape[0] != pixels.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} pixels, the original {pixels.shape[0]}.")
    visible = np.flatnonzero(pixels[:, 3] > 0)
    rng = np.random.default_rng(random_state)
    take = visible[np.sort(rng.choice(visible.size, size=min(int(n_samples), visible.size), replace=False))]
    pts = pixels[take, :3].astype(float)
    ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=palette[labels[take], :3] / 255.0, s=6, alpha=0.6, depthshade=False)
    shown = palette[palette[:, 3] > 0]
    ax.scatter(
        shown[:, 0],
        shown[:, 1],
        shown[:, 2],
        c=shown[:, :3] / 255.0,
        s=90,
        edgecolors="black",
        linewidths=1.2,
        depthshade=False,
    )
    ax.set_xlabel("R")
    ax.set_ylabel("G")
    ax.set_zlabel("B")
    for setlim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setlim(0, 255)
    ax.set_title(f"{take.size:,} pixels in RGB space, coloured by palette entry (K = {palette.shape[0]})", fontsize=10)
    return _finish(fig, path, overwrite)


def _elbow(ks: Sequence[int] | np.ndarray, values: Sequence[float] | np.ndarray) -> int:
    """Index of the elbow of a falling curve: farthest below the chord, on log2 K."""
    x = np.log2(np.asarray(ks, dtype=float))
    y = np.asarray(values, dtype=float)
    if x.size < 3 or x[-1] == x[0] or y[0] == y[-1]:
        return 0
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (y - y[-1]) / (y[0] - y[-1])
    below = (1.0 - xn) - yn  # the chord runs from (0, 1) to (1, 0)
    return int(np.argmax(below))


def plot_rate_distortion(
    image_or_results: Any,
    ks: Sequence[int] | None = None,
    random_state: Any = 0,
    *,
    scatter_k: int | None = 16,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Any:
    """File size and error against the palette size K, with the elbow marked.

    Left: the real optimized PNG size and the tutorial's estimate
    (``K x 24 + pixels x log2 K`` bits) against K. Middle: MSE (left scale) and
    PSNR (right scale) against K, with the elbow of the MSE curve marked (the K
    after which more colours buy little). Right, unless ``scatter_k`` is None:
    :func:`plot_pixels_rgb` for the K in the sweep closest to ``scatter_k``.

    Parameters
    ----------
    image_or_results : image or list of CompressionResult
        An image (path, PIL image or array), compressed here for every K in
        ``ks``, or the results of :func:`kmeans_compress.sweep`.
    ks : sequence of int, optional
        Palette sizes (default 2, 4, 8, ..., 256); only with an image.
    random_state : None, int or numpy Generator, default=0
    scatter_k : int or None, default=16
    path, overwrite
        As :func:`plot_progress_kmeans`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._sweep import DEFAULT_KS, sweep

    if isinstance(image_or_results, (list, tuple)) and image_or_results and hasattr(image_or_results[0], "report"):
        if ks is not None:
            raise ValueError("ks is only used with an image; the results already fix K.")
        results = sorted(image_or_results, key=lambda r: r.report.n_colors)
    else:
        results = sweep(image_or_results, DEFAULT_KS if ks is None else ks, random_state=random_state)
    plt = _pyplot()
    kk = np.array([r.report.n_colors for r in results])
    real = np.array([_png_bytes(r) for r in results]) / 1000.0
    estimate = np.array([r.report.compressed_bits / 8 for r in results]) / 1000.0
    mse = np.array([r.report.mse for r in results])
    psnr = np.array([r.report.psnr for r in results])
    raw = results[0].report.original_bits / 8 / 1000.0

    ncols = 2 if scatter_k is None else 3
    fig = plt.figure(figsize=(5.4 * ncols, 4.6), layout="constrained")
    ax0 = fig.add_subplot(1, ncols, 1)
    ax1 = fig.add_subplot(1, ncols, 2)
    ax0.plot(kk, real, "o-", color="tab:blue", label="indexed PNG (real bytes)")
    ax0.plot(kk, estimate, "s--", color="tab:gray", label="tutorial estimate")
    ax0.set_xscale("log", base=2)
    ax0.set_xticks(kk, [str(k) for k in kk])
    ax0.set_xlabel("K (palette size)")
    ax0.set_ylabel("size (kB)")
    ax0.set_ylim(bottom=0)
    ax0.set_title(f"file size (24-bit RGB: {raw:,.0f} kB)")
    ax0.legend(loc="upper left", fontsize=9)
    ax0.grid(alpha=0.3)

    ax1.plot(kk, mse, "o-", color="tab:red", label="MSE")
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(kk, [str(k) for k in kk])
    ax1.set_xlabel("K (palette size)")
    ax1.set_ylabel("MSE per channel (0-255)", color="tab:red")
    ax1.grid(alpha=0.3)
    finite = np.isfinite(psnr)
    ax1b = ax1.twinx()
    ax1b.plot(kk[finite], psnr[finite], "^-", color="tab:green", label="PSNR")
    ax1b.set_ylabel("PSNR (dB)", color="tab:green")
    e = _elbow(kk, mse)
    ax1.annotate(
        f"elbow: K = {kk[e]}",
        xy=(kk[e], mse[e]),
        xytext=(0.25, 0.88),
        textcoords="axes fraction",
        arrowprops={"arrowstyle": "->", "color": "black"},
    )
    ax1.set_title("error against K")

    if scatter_k is not None:
        pick = results[int(np.argmin(np.abs(np.log2(kk) - math.log2(max(scatter_k, 1)))))]
        ax2 = fig.add_subplot(1, ncols, 3, projection="3d")
        plot_pixels_rgb(pick, ax=ax2, random_state=random_state if isinstance(random_state, int) else 0)
    return _finish(fig, path, overwrite)
