"""Compiled kernels (numba), loaded lazily. Every caller keeps a numpy fallback.

Importing numba and loading its cached machine code costs about half a second,
more than a whole 16-colour compression of a photo. So the kernels are used, and
numba imported, only when a call has at least ``MIN_WORK`` point x centre pairs
(a 64-colour palette of a typical photo's ~100k colours, or the general
``KMeans`` on large data); smaller problems stay on numpy and start fast.
Without numba (or if it fails to load) every path runs on numpy unchanged.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

#: Point x centre pairs from which the compiled kernels are used.
MIN_WORK = 1 << 22

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
_module: Any = None


def _kernels(work: int, min_work: int | None) -> Any:
    """The compiled kernels module, or None (too little work, or no numba)."""
    global _module
    if not HAVE_NUMBA or work < (MIN_WORK if min_work is None else min_work):
        return None
    if _module is None:
        try:
            from . import _numba_kernels
        except Exception:  # pragma: no cover - a broken numba install: stay on numpy
            _module = False
        else:
            _module = _numba_kernels
    return _module or None


def nearest_two_compiled(X: np.ndarray, centers: np.ndarray, min_work: int | None = None):
    """Exact direct-difference nearest and second-nearest squared distances, or
    ``None`` (small problem, or no numba)."""
    k = _kernels(X.shape[0] * centers.shape[0], min_work)
    if k is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    C = np.ascontiguousarray(centers, dtype=np.float64)
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    d1 = np.empty(n, dtype=np.float64)
    d2 = np.empty(n, dtype=np.float64)
    k._nearest_two_kernel(X, C, labels, d1, d2)
    return labels, d1, d2


def assign_among_compiled(X: np.ndarray, centers: np.ndarray, cand: np.ndarray, min_work: int | None = None):
    """Nearest of each row's candidate centres in float32, or ``None`` (small problem, or no numba)."""
    k = _kernels(X.shape[0] * centers.shape[0], min_work)
    if k is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float32)
    C = np.ascontiguousarray(centers, dtype=np.float32)
    cand = np.ascontiguousarray(cand, dtype=np.intp)
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dist2 = np.empty(n, dtype=np.float64)
    k._assign_among_kernel(X, C, cand, labels, dist2)
    return labels, dist2


def top_candidates_compiled(X: np.ndarray, centers: np.ndarray, n_cand: int, min_work: int | None = None):
    """The ``n_cand`` nearest centres of every row (nearest first), or ``None`` (small problem, or no numba)."""
    k = _kernels(X.shape[0] * centers.shape[0], min_work)
    if k is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    C = np.ascontiguousarray(centers, dtype=np.float64)
    out = np.empty((X.shape[0], n_cand), dtype=np.intp)
    k._top_candidates_kernel(X, C, n_cand, out)
    return out
