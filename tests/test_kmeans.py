"""The tutorial's functions, against hand-computed values, brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

from kmeans_compress import (
    compute_centroids,
    compute_distortion,
    find_closest_centroids,
    kmeans_init_centroids,
    kmeans_plusplus,
    run_kmeans,
)
from strategies import points_and_centers, points_labels


# --------------------------------------------------------------------- find_closest_centroids
def test_find_closest_centroids_hand_computed():
    X = np.array([[1.0, 1.0], [5.0, 5.0], [9.0, 9.0], [3.0, 3.0], [3.1, 3.1]])
    C = np.array([[0.0, 0.0], [6.0, 6.0]])
    # distances^2 to (0,0) / (6,6): 2/50, 50/2, 162/18, 18/18 (tie), 19.22/16.82
    assert find_closest_centroids(X, C).tolist() == [0, 1, 1, 0, 1]


def test_find_closest_centroids_ties_go_to_lowest_index():
    X = np.array([[1.0, 0.0]])
    assert find_closest_centroids(X, np.array([[0.0, 0.0], [2.0, 0.0]])).tolist() == [0]
    assert find_closest_centroids(X, np.array([[2.0, 0.0], [0.0, 0.0]])).tolist() == [0]
    assert find_closest_centroids(X, np.array([[5.0, 5.0], [1.0, 1.0], [1.0, -1.0]])).tolist() == [1]


def test_find_closest_centroids_returns_int_array():
    idx = find_closest_centroids(np.zeros((3, 2)), np.zeros((2, 2)))
    assert idx.dtype.kind == "i" and idx.shape == (3,)


@given(points_and_centers())
def test_every_label_is_a_nearest_centre_lowest_index_on_ties(data):
    X, C = data
    idx = find_closest_centroids(X, C)
    d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)  # brute force, exact on integers
    best = d.min(axis=1)
    assert np.array_equal(d[np.arange(len(X)), idx], best)
    first_best = np.array([np.flatnonzero(row == b)[0] for row, b in zip(d, best)])
    assert np.array_equal(idx, first_best)


def test_find_closest_centroids_chunks_large_input_like_small():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300_000, 3))
    C = rng.normal(size=(20, 3))
    idx = find_closest_centroids(X, C)
    part = slice(123_456, 123_556)
    d = ((X[part, None, :] - C[None]) ** 2).sum(axis=2)
    assert np.array_equal(idx[part], d.argmin(axis=1))


# --------------------------------------------------------------------- compute_centroids
def test_compute_centroids_hand_computed():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 10.0], [0.0, 0.0], [2.0, 6.0]])
    idx = np.array([0, 0, 1, 2, 2])
    expected = np.array([[2.0, 3.0], [10.0, 10.0], [1.0, 3.0]])
    np.testing.assert_allclose(compute_centroids(X, idx, 3), expected)


def test_compute_centroids_empty_cluster_is_reseeded_not_nan():
    # Cluster 1 is empty. The example farthest from its own cluster mean is
    # (10, 0) (mean of cluster 0 is (10/3, 0); distances^2 100/9*4=44.4 vs 11.1),
    # so it becomes centroid 1 and leaves cluster 0.
    X = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0]])
    idx = np.array([0, 0, 0])
    C = compute_centroids(X, idx, 2)
    assert not np.isnan(C).any()
    np.testing.assert_allclose(C, [[0.0, 0.0], [10.0, 0.0]])


@given(points_labels())
def test_compute_centroids_are_means_of_nonempty_clusters(data):
    X, idx, K = data
    C = compute_centroids(X, idx, K)
    assert C.shape == (K, X.shape[1])
    assert np.isfinite(C).all()
    counts = np.bincount(idx, minlength=K)
    if (counts > 0).all():
        for k in range(K):
            np.testing.assert_allclose(C[k], X[idx == k].mean(axis=0), atol=1e-9)
    else:
        # Every centroid is either a mean of a subset of the examples or one example.
        for k in range(K):
            assert (C[k] >= X.min(axis=0) - 1e-9).all() and (C[k] <= X.max(axis=0) + 1e-9).all()


def test_compute_centroids_rejects_bad_idx():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="outside 0..1"):
        compute_centroids(X, np.array([0, 1, 2]), 2)
    with pytest.raises(ValueError, match="shape"):
        compute_centroids(X, np.array([0, 1]), 2)


# --------------------------------------------------------------------- run_kmeans
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_run_kmeans_matches_sklearn_lloyd_from_same_start(seed):
    X, _ = make_blobs(n_samples=300, centers=4, cluster_std=0.60, random_state=seed)
    init = X[np.random.default_rng(seed).choice(len(X), 4, replace=False)]
    centroids, idx = run_kmeans(X, init, max_iters=100)
    ref = SkKMeans(n_clusters=4, init=init, n_init=1, max_iter=100, tol=0, algorithm="lloyd").fit(X)
    np.testing.assert_allclose(centroids, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert np.array_equal(idx, ref.labels_)


def test_run_kmeans_k1_gives_the_mean():
    X = np.random.default_rng(0).normal(size=(50, 3))
    centroids, idx = run_kmeans(X, X[:1])
    np.testing.assert_allclose(centroids[0], X.mean(axis=0))
    assert (idx == 0).all()


@given(points_and_centers(max_k=4))
def test_distortion_never_rises_between_iterations(data):
    X, C = data
    prev = compute_distortion(X, C)
    for _ in range(6):
        C, idx = run_kmeans(X, C, max_iters=1)
        cur = compute_distortion(X, C, idx)
        assert cur <= prev + 1e-9
        prev = cur


def test_run_kmeans_returns_labels_for_final_centroids():
    X, _ = make_blobs(n_samples=200, centers=3, random_state=5)
    C, idx = run_kmeans(X, X[:3], max_iters=2)
    assert np.array_equal(idx, find_closest_centroids(X, C))


# --------------------------------------------------------------------- initialization
def test_kmeans_init_centroids_are_distinct_rows_of_X():
    X = np.array([[0.0, 0.0]] * 50 + [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    for seed in range(20):
        C = kmeans_init_centroids(X, 4, random_state=seed)
        assert len({tuple(r) for r in C}) == 4
        assert all(any((row == x).all() for x in X) for row in C)


def test_kmeans_init_centroids_is_reproducible_and_random():
    X = np.random.default_rng(0).normal(size=(100, 2))
    a = kmeans_init_centroids(X, 5, random_state=42)
    b = kmeans_init_centroids(X, 5, random_state=42)
    assert np.array_equal(a, b)
    draws = {kmeans_init_centroids(X, 5, random_state=s).tobytes() for s in range(10)}
    assert len(draws) > 1


def test_kmeans_init_centroids_picks_rows_uniformly():
    # Row 0 is repeated 3 times out of 4, so it should be the first pick ~75% of the time.
    X = np.array([[0.0], [0.0], [0.0], [1.0]])
    first = [kmeans_init_centroids(X, 1, random_state=s)[0, 0] for s in range(400)]
    share = first.count(0.0) / len(first)
    assert 0.65 < share < 0.85


def test_kmeans_plusplus_spreads_over_blobs():
    X, y = make_blobs(n_samples=400, centers=4, cluster_std=0.3, random_state=3)
    C, _ = kmeans_plusplus(X, 4, random_state=0)
    nearest_blob = [y[np.argmin(((X - c) ** 2).sum(axis=1))] for c in C]
    assert sorted(nearest_blob) == [0, 1, 2, 3]


# --------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: find_closest_centroids(np.zeros(5), np.zeros((2, 1))), ValueError, "2-D"),
        (lambda: find_closest_centroids(np.zeros((5, 2)), np.zeros((2, 3))), ValueError, "3 features"),
        (lambda: find_closest_centroids(np.zeros((0, 2)), np.zeros((2, 2))), ValueError, "0 sample"),
        (lambda: find_closest_centroids(np.array([[np.nan, 1.0]]), np.zeros((1, 2))), ValueError, "NaN or inf"),
        (lambda: find_closest_centroids(np.array([[np.inf, 1.0]]), np.zeros((1, 2))), ValueError, "NaN or inf"),
        (lambda: compute_centroids(np.zeros((3, 2)), np.zeros(3, int), 0), ValueError, "K must be"),
        (lambda: compute_centroids(np.zeros((3, 2)), np.zeros(3, int), 2.5), TypeError, "K must be an integer"),
        (lambda: kmeans_init_centroids(np.zeros((3, 2)), -1), ValueError, "K must be"),
        (lambda: kmeans_init_centroids(np.zeros((3, 2)), "3"), TypeError, "K must be an integer"),
        (lambda: kmeans_init_centroids(np.array([[1.0], [1.0], [2.0]]), 3), ValueError, "distinct points"),
        (lambda: run_kmeans(np.zeros((3, 2)), np.zeros((2, 1))), ValueError, "1 features"),
        (lambda: run_kmeans(np.zeros((3, 2)), np.zeros((1, 2)), max_iters=-1), ValueError, "max_iters"),
    ],
)
def test_validation_messages(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@given(st.integers(1, 6))
def test_k1_distortion_is_variance(n):
    X = np.arange(n * 2, dtype=float).reshape(n, 2) ** 1.5
    C, _ = run_kmeans(X, X[:1], max_iters=3)
    assert compute_distortion(X, C) == pytest.approx(((X - X.mean(0)) ** 2).sum(1).mean())
