"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Small integer-valued coordinates keep distances exact in float64 while still
# producing ties, duplicates and empty clusters.
coords = st.integers(min_value=-20, max_value=20).map(float)


@st.composite
def points_and_centers(draw, max_points: int = 40, max_features: int = 4, max_k: int = 6):
    """(X, centers): X of shape (m, n) and K centres of the same width."""
    n = draw(st.integers(1, max_features))
    m = draw(st.integers(1, max_points))
    k = draw(st.integers(1, max_k))
    X = draw(hnp.arrays(np.float64, (m, n), elements=coords))
    C = draw(hnp.arrays(np.float64, (k, n), elements=coords))
    return X, C


@st.composite
def points_labels(draw, max_points: int = 40, max_features: int = 3, max_k: int = 5):
    """(X, idx, K) with every idx in 0..K-1 (some clusters may be empty)."""
    n = draw(st.integers(1, max_features))
    m = draw(st.integers(1, max_points))
    k = draw(st.integers(1, max_k))
    X = draw(hnp.arrays(np.float64, (m, n), elements=coords))
    idx = draw(hnp.arrays(np.int64, (m,), elements=st.integers(0, k - 1)))
    return X, idx, k


@st.composite
def small_rgb_images(draw, max_side: int = 12, max_colors: int = 40):
    """An (H, W, 3) uint8 image drawn from a small random set of colours."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_colors))
    colors = draw(hnp.arrays(np.uint8, (n, 3)))
    picks = draw(hnp.arrays(np.intp, (h, w), elements=st.integers(0, n - 1)))
    return colors[picks]


@st.composite
def float_points_and_centers(draw, max_points: int = 60, max_centers: int = 12, max_features: int = 5):
    """(X, centers) float64 arrays with small integer-ish or arbitrary finite values, ties included."""
    f = draw(st.integers(1, max_features))
    n = draw(st.integers(1, max_points))
    k = draw(st.integers(1, max_centers))
    elems = st.one_of(
        st.integers(-20, 20).map(float),
        st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32).map(float),
    )
    X = draw(hnp.arrays(np.float64, (n, f), elements=elems))
    C = draw(hnp.arrays(np.float64, (k, f), elements=elems))
    return X, C


@st.composite
def uint8_colors_and_palette(draw, max_colors: int = 80, max_palette: int = 20):
    """(colors (M, 3), palette (K, 3)) uint8 arrays; duplicates and ties allowed."""
    m = draw(st.integers(1, max_colors))
    k = draw(st.integers(1, max_palette))
    colors = draw(hnp.arrays(np.uint8, (m, 3)))
    palette = draw(hnp.arrays(np.uint8, (k, 3)))
    return colors, palette
