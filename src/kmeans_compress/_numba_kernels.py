"""numba kernels, compiled on first use and cached beside the module.

Imported only through :mod:`kmeans_compress._kernels`, and only for problems
large enough to repay loading numba.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _nearest_two_kernel(X, C, labels, d1, d2):  # pragma: no cover - compiled
    n, d = X.shape
    k = C.shape[0]
    for i in range(n):
        b1 = np.inf
        b2 = np.inf
        lab = 0
        for j in range(k):
            s = 0.0
            for f in range(d):
                t = X[i, f] - C[j, f]
                s += t * t
            if s < b1:
                b2 = b1
                b1 = s
                lab = j
            elif s < b2:
                b2 = s
        labels[i] = lab
        d1[i] = b1
        d2[i] = b2


@njit(cache=True, nogil=True)
def _assign_among_kernel(X, C, cand, labels, dist2):  # pragma: no cover - compiled
    n, d = X.shape
    m = cand.shape[1]
    for i in range(n):
        best = np.float32(np.inf)
        lab = cand[i, 0]
        for q in range(m):
            j = cand[i, q]
            s = np.float32(0.0)
            for f in range(d):
                t = C[j, f] - X[i, f]
                s += t * t
            if s < best:
                best = s
                lab = j
        labels[i] = lab
        dist2[i] = best


@njit(cache=True, nogil=True)
def _top_candidates_kernel(X, C, n_cand, out):  # pragma: no cover - compiled
    n, d = X.shape
    k = C.shape[0]
    bd = np.empty(n_cand, dtype=np.float64)
    bi = np.empty(n_cand, dtype=np.intp)
    for i in range(n):
        filled = 0
        for j in range(k):
            s = 0.0
            for f in range(d):
                t = X[i, f] - C[j, f]
                s += t * t
            if filled < n_cand:
                p = filled
                filled += 1
            elif s < bd[n_cand - 1]:
                p = n_cand - 1
            else:
                continue
            while p > 0 and bd[p - 1] > s:
                bd[p] = bd[p - 1]
                bi[p] = bi[p - 1]
                p -= 1
            bd[p] = s
            bi[p] = j
        for q in range(n_cand):
            out[i, q] = bi[q]
