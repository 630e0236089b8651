"""Hartigan's single-point moves after Lloyd's iterations (``_lloyd.hartigan_moves``).

The references are independent of the code: a configuration worked out by hand, the summed
squared error recomputed from scratch for every possible move, and a brute-force order of the
centres. Both paths (numpy and the compiled kernel) run through the ``kernel_path`` fixture, and
test_paths_identical.py checks that they agree to the last bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kmeans_compress import _backend
from kmeans_compress._lloyd import hartigan_moves, lloyd, near_centres, weighted_sums


def _sse(X, w, labels, k):
    wsum, sums = weighted_sums(X, labels, w, k)
    C = np.zeros((k, X.shape[1]))
    nz = wsum > 0
    C[nz] = sums[nz] / wsum[nz, None]
    return float(np.sum(w * ((X - C[labels]) ** 2).sum(axis=1)))


def test_hand_computed_move_lloyd_cannot_make(kernel_path):
    # Clusters {0, 2} (mean 1) and {3.9}: 2 is nearer 1 than 3.9, so Lloyd's iterations stay,
    # with a squared error of 1 + 1 = 2. Moving 2 to the other cluster costs
    # 1 * 1 / (1 + 1) * 1.9^2 = 1.805 and saves 1 * 2 / (2 - 1) * 1^2 = 2: the error becomes
    # 0 + 2 * 0.95^2 = 1.805, means 0 and 2.95.
    X = np.array([[0.0], [2.0], [3.9]])
    w = np.ones(3)
    C = np.array([[1.0], [3.9]])
    labels, _, centers, _ = lloyd(X, w, C, 50, 0.0, compiled=kernel_path == "compiled")
    assert labels.tolist() == [0, 0, 1] and centers.ravel().tolist() == [1.0, 3.9]
    centers, labels, moves = hartigan_moves(X, w, C, np.array([0, 0, 1]), 3, compiled=kernel_path == "compiled")
    assert moves == 1
    assert labels.tolist() == [0, 1, 1]
    assert centers.ravel() == pytest.approx([0.0, 2.95], abs=1e-15)
    assert _sse(X, w, labels, 2) == pytest.approx(1.805, abs=1e-12)


def test_weights_count_as_repeated_points(kernel_path):
    # The same move with the first cluster's points weighted 3 each: 3 * 6 / 3 * 1 = 6 saved,
    # 3 * 1 / 4 * 1.9^2 = 2.7075 spent, so 2 moves; the second mean is (3 * 2 + 3.9) / 4. A point
    # alone in its cluster never leaves it (the cluster would empty).
    X = np.array([[0.0], [2.0], [3.9]])
    w = np.array([3.0, 3.0, 1.0])
    compiled = kernel_path == "compiled"
    centers, labels, moves = hartigan_moves(X, w, np.array([[1.0], [3.9]]), np.array([0, 0, 1]), 1, compiled)
    assert moves == 1 and labels.tolist() == [0, 1, 1]
    assert centers.ravel() == pytest.approx([0.0, (6.0 + 3.9) / 4])
    lone = hartigan_moves(X[:2], np.ones(2), np.array([[0.0], [2.0]]), np.array([0, 1]), 2, compiled)
    assert lone[2] == 0 and lone[1].tolist() == [0, 1]


small_coords = st.integers(-6, 6).map(float)


@st.composite
def clustered(draw):
    d = draw(st.integers(1, 3))
    n = draw(st.integers(2, 40))
    k = draw(st.integers(2, min(n, 8)))
    X = draw(hnp.arrays(np.float64, (n, d), elements=small_coords))
    w = draw(hnp.arrays(np.float64, (n,), elements=st.integers(0, 4).map(float)))
    labels = draw(hnp.arrays(np.intp, (n,), elements=st.integers(0, k - 1)))
    passes = draw(st.integers(1, 4))
    return X, w, labels, k, passes


@settings(max_examples=150, deadline=None)
@given(clustered())
def test_every_move_lowers_the_error_and_a_still_pass_leaves_no_gain(case):
    """Integer coordinates and weights: every error below is exact up to the means' rounding.
    After the moves the error is at most the starting one; when the passes ended on a pass with
    no move, no candidate move lowers the error, each checked by moving the point and summing
    the error again from scratch."""
    X, w, labels, k, passes = case
    for compiled in (False, True):
        if compiled and not _backend.HAVE_NUMBA:
            continue
        start = np.zeros((k, X.shape[1]))
        centers, out, moves = hartigan_moves(X, w, start, labels, passes, compiled=compiled)
        before, after = _sse(X, w, labels, k), _sse(X, w, out, k)
        assert after <= before + 1e-9 * max(1.0, before)
        assert (moves == 0) == np.array_equal(out, labels)
        wsum, _ = weighted_sums(X, out, w, k)
        for j in np.flatnonzero(wsum > 0):
            assert np.allclose(centers[j], np.average(X[out == j], axis=0, weights=w[out == j]))
        again = hartigan_moves(X, w, centers, out, 1, compiled=compiled)
        if again[2]:
            continue  # the passes ran out before a still one
        near = near_centres(centers, min(8, k - 1))
        for i in range(X.shape[0]):
            a = out[i]
            if not (w[i] > 0 and wsum[a] > w[i]):
                continue
            for j in near[a]:
                moved = out.copy()
                moved[i] = j
                assert _sse(X, w, moved, k) >= after - 1e-9 * max(1.0, after)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(2, 30), st.integers(1, 4)), elements=small_coords),
    st.integers(1, 29),
)
def test_near_centres_by_distance_then_index(C, n):
    k = C.shape[0]
    n = min(n, k - 1)
    near = near_centres(C, n)
    for a in range(k):
        ref = sorted((float(((C[a] - C[j]) ** 2).sum()), j) for j in range(k) if j != a)[:n]
        assert near[a].tolist() == [j for _, j in ref]
    if _backend.HAVE_NUMBA:
        k_mod = _backend._load()
        out = np.empty((k, n), dtype=np.intp)
        k_mod._near_centres_into(np.ascontiguousarray(C), out)
        assert np.array_equal(out, near)


def test_no_candidates_no_moves():
    X = np.array([[0.0], [1.0]])
    centers, labels, moves = hartigan_moves(X, np.ones(2), np.array([[0.5]]), np.array([0, 0]), 3)
    assert moves == 0 and labels.tolist() == [0, 0] and centers.ravel().tolist() == [0.5]


def test_overflowing_distances_and_rounding_residues(kernel_path):
    """Edge cases, on both paths: centres so far apart that their squared distances overflow (a
    centre is never its own candidate), and weights that are not integers, whose rounding must not
    let a cluster's last point leave a residue behind (its centre stays that point's)."""
    compiled = kernel_path == "compiled"
    X = np.array([[-1.0], [1.0], [1e160], [-1e160]])
    centers, labels, moves = hartigan_moves(X, np.ones(4), X[[0, 2, 3]], np.array([0, 0, 1, 2]), 3, compiled)
    assert moves == 0 and labels.tolist() == [0, 0, 1, 2]
    with np.errstate(over="ignore"):
        assert near_centres(np.array([[1e200], [-1e200], [3e200]]), 2).tolist() == [[1, 2], [0, 2], [0, 1]]
    X = np.array([[-1.5], [1.8]])
    centers, labels, moves = hartigan_moves(
        X, np.array([0.3, 0.1]), np.full((4, 1), 99.0), np.array([3, 3]), 3, compiled
    )
    assert labels.tolist() == [0, 3] and centers[3, 0] == pytest.approx(1.8)


def test_labels_outside_the_centres_are_refused():
    with pytest.raises(ValueError, match="outside the centres"):
        hartigan_moves(np.zeros((2, 1)), np.ones(2), np.zeros((2, 1)), np.array([0, 2]), 1)
