"""Compiled kernels agree with brute force references (skipped without numba)."""

import numpy as np
import pytest

from kmeans_compress import _kernels

pytestmark = pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")


def _dists(X, C):
    return ((X[:, None, :].astype(np.float64) - C[None, :, :]) ** 2).sum(axis=2)


def test_nearest_two_matches_brute_force():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 255, (3000, 3))
    C = rng.uniform(0, 255, (37, 3))
    labels, d1, d2 = _kernels.nearest_two_compiled(X, C, min_work=0)
    D = _dists(X, C)
    np.testing.assert_array_equal(labels, D.argmin(axis=1))
    s = np.sort(D, axis=1)
    np.testing.assert_allclose(d1, s[:, 0], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(d2, s[:, 1], rtol=1e-12, atol=1e-9)


def test_top_candidates_are_the_nearest_set():
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 255, (500, 3))
    C = rng.uniform(0, 255, (64, 3))
    out = _kernels.top_candidates_compiled(X, C, 12, min_work=0)
    D = _dists(X, C)
    ref = np.argsort(D, axis=1, kind="stable")[:, :12]
    for got, want in zip(out, ref):
        assert set(got.tolist()) == set(want.tolist())


def test_assign_among_picks_nearest_candidate():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 255, (800, 3)).astype(np.float32)
    C = rng.uniform(0, 255, (50, 3))
    cand = np.stack([rng.choice(50, 6, replace=False) for _ in range(800)])
    labels, dist2 = _kernels.assign_among_compiled(X, C, cand, min_work=0)
    D = _dists(X, C)
    sub = np.take_along_axis(D, cand, axis=1)
    want = cand[np.arange(800), sub.argmin(axis=1)]
    np.testing.assert_array_equal(labels, want)
    np.testing.assert_allclose(dist2, sub.min(axis=1), rtol=1e-5)


def test_small_problems_stay_on_numpy():
    X = np.zeros((100, 3))
    C = np.ones((16, 3))
    assert _kernels.nearest_two_compiled(X, C) is None  # 1,600 pairs: below MIN_WORK
