"""Matplotlib figures for the tutorial (the optional ``[plot]`` extra).

matplotlib is imported lazily, inside each function, so that the rest of the
package never needs it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["plot_progress_kmeans"]


def _pyplot() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg",) and not _has_display():
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib: pip install 'kmeans-compress[plot]'"
        ) from None
    return plt


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name == "nt")


def plot_progress_kmeans(
    X: np.ndarray,
    centroid_history: Sequence[np.ndarray],
    idx: np.ndarray,
    ax: Any = None,
) -> Any:
    """Points coloured by cluster, with the path of every centroid over the iterations.

    Parameters
    ----------
    X : ndarray of shape (m, 2)
        The points (the first two features are drawn).
    centroid_history : sequence of ndarray of shape (K, n)
        The centroids at the start and after every iteration.
    idx : ndarray of shape (m,)
        Final cluster of every point.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 5))
    else:
        fig = ax.figure
    X = np.asarray(X)
    hist = np.stack([np.asarray(c) for c in centroid_history])  # (T, K, n)
    ax.scatter(X[:, 0], X[:, 1], c=idx, cmap="tab10", s=18, alpha=0.7, vmin=0, vmax=max(9, hist.shape[1] - 1))
    for k in range(hist.shape[1]):
        ax.plot(hist[:, k, 0], hist[:, k, 1], "-", color="black", lw=1)
        ax.plot(hist[:-1, k, 0], hist[:-1, k, 1], "o", color="black", ms=4, mfc="white")
    ax.plot(hist[-1, :, 0], hist[-1, :, 1], "X", color="red", ms=12, mec="black", label="final centroids")
    ax.set_title(f"K-means progress: {len(centroid_history) - 1} iterations")
    ax.legend(loc="best")
    return fig
