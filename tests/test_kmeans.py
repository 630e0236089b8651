"""``kmeans.py``: the tutorial's functions against hand-computed values, brute force and
scikit-learn; the ``KMeans`` estimator against scikit-learn's estimator checks and
``sklearn.cluster.KMeans`` from the same start.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
import sklearn
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from kmeans_compress import (
    InvalidParameterError,
    KMeans,
    NotFittedError,
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


def test_compute_centroids_with_more_clusters_than_examples_makes_up_no_centroid():
    # Hand-computed: cluster 0's mean is (100.5, 100.5) and both examples lie 0.5 from it, so the
    # empty clusters 1 and 2 take examples 0 and 1 (ties to the lowest index), and cluster 3, with
    # no example left to move, takes example 0 again; cluster 0 keeps its mean. Before, cluster 3
    # was the origin, a point far from all the data.
    X = np.array([[100.0, 100.0], [101.0, 101.0]])
    C = compute_centroids(X, [0, 0], 4)
    np.testing.assert_array_equal(C, [[100.5, 100.5], [100.0, 100.0], [101.0, 101.0], [100.0, 100.0]])
    np.testing.assert_array_equal(compute_centroids(np.array([[3.0]]), [0], 3), [[3.0], [3.0], [3.0]])


def test_run_kmeans_with_more_centroids_than_examples_keeps_them_on_the_data():
    X = np.array([[100.0, 100.0], [101.0, 101.0]])
    init = np.array([[100.0, 100.0], [101.0, 101.0], [7.0, 7.0], [8.0, 8.0], [9.0, 9.0]])
    C, idx = run_kmeans(X, init)
    # Each example re-seeds one of the empty clusters 2-4 in turn (both sit on their centroid:
    # ties to the lowest index), the last taking example 0 again.
    np.testing.assert_array_equal(C, X[[0, 1, 0, 1, 0]])
    assert idx.tolist() == [0, 1]
    assert compute_distortion(X, C, idx) == 0.0


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


@pytest.mark.parametrize(
    ("idx", "message"),
    [
        # the value as given: a cast to intp first wrapped these to -9223372036854775808 and -1
        ([0, 1e20, 1], "idx holds values outside 0..1: min 0, max 1e+20."),
        (
            np.array([0, 2**64 - 1, 1], dtype=np.uint64),
            "idx holds values outside 0..1: min 0, max 18446744073709551615.",
        ),
        ([0, 10**30, 1], "idx holds values outside 0..1: min 0, max 1e+30."),
        ([-2.0, 0.0, 1.0], "idx holds values outside 0..1: min -2, max 1."),
        # not numbers: numpy's own TypeError about 'remainder' or 'NoneType' before
        (["a", "b", "c"], "idx must hold integer cluster indices, got dtype <U1."),
        ([0, None, 1], "idx must hold integer cluster indices, got None."),
        ([0, np.inf, 1], "idx must hold integer cluster indices."),
    ],
    ids=repr,
)
def test_compute_centroids_idx_messages_show_what_was_given(idx, message):
    X = np.zeros((3, 2))
    with pytest.raises(ValueError) as err:
        compute_centroids(X, idx, 2)
    assert str(err.value) == message


def test_compute_centroids_takes_numbers_in_any_container():
    X = np.array([[0.0], [2.0], [4.0]])
    expected = [[1.0], [4.0]]  # hand-computed means of {0, 2} and {4}
    for idx in ([0, 0, 1], [0.0, 0.0, 1.0], np.array([0, 0, 1], dtype=object), [False, False, True]):
        np.testing.assert_array_equal(compute_centroids(X, idx, 2), expected)


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


@pytest.mark.parametrize(
    ("seed", "exc"), [(-1, ValueError), (True, TypeError), (1.5, TypeError), ("0", TypeError)], ids=repr
)
def test_kmeans_init_centroids_names_random_state_in_its_errors(seed, exc):
    # -1 gave numpy's bare "expected non-negative integer"; True was taken as the seed 1.
    with pytest.raises(exc, match="^random_state must be "):
        kmeans_init_centroids(np.array([[0.0], [1.0], [2.0]]), 2, random_state=seed)


@pytest.mark.parametrize("seed", [True, False], ids=repr)
def test_a_bool_seed_is_the_int_it_stands_for_as_in_scikit_learn(seed):
    # scikit-learn takes True as the seed 1 (an int); KMeans and kmeans_plusplus raised TypeError for it
    X, _ = make_blobs(n_samples=200, centers=4, random_state=0)
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    theirs = SkKMeans(4, random_state=seed, n_init=1).fit(X)
    for km in (KMeans(4, random_state=seed, n_init=1), KMeans(4, random_state=seed, n_init=1, init="random")):
        ours, as_int = km.fit(X), KMeans(**dict(km.get_params(), random_state=int(seed))).fit(X)
        assert np.array_equal(ours.cluster_centers_, as_int.cluster_centers_)
        assert np.array_equal(ours.labels_, as_int.labels_)
    ours = KMeans(4, random_state=seed, n_init=1).fit(X)
    assert np.allclose(np.sort(ours.cluster_centers_, axis=0), np.sort(theirs.cluster_centers_, axis=0))
    assert ours.inertia_ == pytest.approx(theirs.inertia_)
    _, indices = kmeans_plusplus(X, 4, random_state=seed)
    assert np.array_equal(indices, kmeans_plusplus(X, 4, random_state=int(seed))[1])
    assert np.array_equal(indices, sk_kmeans_plusplus(X, 4, random_state=seed)[1])


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


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_found_wherever_they_are(bad):
    """The finite check (one sum, then value by value only when the sum is not finite): a NaN or
    an inf anywhere in a large array is refused; finite values whose sum overflows (1e308 twice)
    pass, with no warning."""
    import warnings

    from kmeans_compress._validation import check_array

    X = np.random.default_rng(0).standard_normal((3000, 7))
    for where in [(0, 0), (1234, 3), (2999, 6)]:
        Y = X.copy()
        Y[where] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            check_array(Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_array(np.array([[1e308, 1e308], [1e308, -1e308], [1e308, 1.0]])).shape == (3, 2)


@pytest.mark.parametrize(
    "call, name",
    [
        # right: [1] (0.1e160 away against 2e160); the squared distances overflowed and it said [0]
        (lambda: find_closest_centroids([[1e160, 0.0]], [[-1e160, 0.0], [0.9e160, 0.0]]), "X"),
        (lambda: find_closest_centroids([[1.0, 0.0]], [[-1e160, 0.0], [0.9e160, 0.0]]), "centroids"),
        (lambda: compute_centroids([[1e308], [1e308]], [0, 0], 1), "X"),  # was [[inf]]
        (lambda: compute_distortion([[1e200]], [[0.0]]), "X"),  # was inf
        (lambda: compute_distortion([[0.0]], [[-1e200]], [0]), "centroids"),
        (lambda: run_kmeans([[0.0], [1.0]], [[1e200]]), "initial_centroids"),
        (lambda: run_kmeans([[0.0], [-1e200]], [[0.0]]), "X"),
    ],
)
def test_tutorial_functions_refuse_values_whose_squared_distances_overflow(call, name):
    with pytest.raises(ValueError, match=rf"^{name} holds a value of magnitude .* where squared distances overflow"):
        call()


def test_tutorial_functions_are_exact_up_to_the_magnitude_limit():
    """Just below the limit (sqrt(float64 max / 8) = 4.7e153 for one feature, 3.4e153 for two),
    hand-computed results, scaled by a power of two (exact): labels, means, and a distortion whose
    sum over the examples overflows though the mean does not."""
    s = 2.0**510  # 3.35e153
    assert find_closest_centroids([[s / 2, 0.0]], [[-s / 2, 0.0], [0.45 * s, 0.0]]).tolist() == [1]
    np.testing.assert_array_equal(compute_centroids([[s], [s], [-s]], [0, 0, 1], 2), [[s], [-s]])
    # distances 0 and four times (2s)^2 = 2^1022: their sum, 2^1024, is beyond float64
    X = np.array([[s], [-s], [-s], [-s], [-s]])
    assert compute_distortion(X, [[s]], [0, 0, 0, 0, 0]) == pytest.approx(2.0**1022 / 5 * 4, rel=1e-15)
    assert compute_distortion(X, [[s]]) == pytest.approx(2.0**1022 / 5 * 4, rel=1e-15)  # nearest: the same
    C, idx = run_kmeans(X, [[s], [-s]])
    np.testing.assert_array_equal(C, [[s], [-s]])
    assert idx.tolist() == [0, 1, 1, 1, 1]


@given(st.integers(1, 6))
def test_k1_distortion_is_variance(n):
    X = np.arange(n * 2, dtype=float).reshape(n, 2) ** 1.5
    C, _ = run_kmeans(X, X[:1], max_iters=3)
    assert compute_distortion(X, C) == pytest.approx(((X - X.mean(0)) ** 2).sum(1).mean())


# --------------------------------------------------------------------- KMeans, the estimator
# scikit-learn marks the same check as an expected failure for its own KMeans: a
# random initialization draws differently from weights than from repeated rows.
# The equivalence itself is tested below from a fixed start, where it must hold.
_WEIGHT_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data": (
        "random init draws differ between weights and repeated rows; see test_integer_weights_equal_repeated_rows"
    )
}


@parametrize_with_checks(
    [
        KMeans(n_clusters=3, n_init=2, max_iter=5),
        KMeans(init="random", n_init=3),
        KMeans(n_clusters=3, algorithm="elkan", copy_x=False),
    ],
    expected_failed_checks=lambda est: _WEIGHT_XFAIL,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# The data-frame checks scikit-learn runs on its own estimators from its test_common.py (not
# yielded by parametrize_with_checks): feature_names_in_ and set_output, implemented without
# importing scikit-learn. polars is not in the test group: its checks are left to where it is.
_FRAME_CHECKS = [
    check_dataframe_column_names_consistency,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
    check_transformer_get_feature_names_out_pandas,
]


@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names:UserWarning")
@pytest.mark.parametrize("check", _FRAME_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "estimator", [KMeans(n_clusters=3, n_init=2, max_iter=5), KMeans(init="random", n_init=3)], ids=repr
)
def test_sklearn_data_frame_checks(estimator, check):
    check("KMeans", estimator)


def _frame():
    X, _ = make_blobs(n_samples=60, centers=3, n_features=3, random_state=0)
    return pd.DataFrame(X, columns=["a", "b", "c"], index=[f"r{i}" for i in range(60)])


def test_pipeline_set_output_pandas_same_frame_as_sklearn():
    # make_pipeline(...).set_output(transform="pandas") raised "Unable to configure output for
    # KMeans ... because `set_output` is not available".
    df = _frame()
    ours = make_pipeline(StandardScaler(), KMeans(3, random_state=0)).set_output(transform="pandas")
    theirs = make_pipeline(StandardScaler(), SkKMeans(3, random_state=0)).set_output(transform="pandas")
    pd.testing.assert_frame_equal(ours.fit_transform(df), theirs.fit_transform(df), atol=1e-9)
    pd.testing.assert_frame_equal(ours.transform(df.iloc[:5]), theirs.transform(df.iloc[:5]), atol=1e-9)
    np.testing.assert_array_equal(ours[-1].feature_names_in_, theirs[-1].feature_names_in_)  # x0.. from the scaler


def _outcome(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
            error = None
        except (ValueError, TypeError, ImportError) as exc:
            error = (type(exc), str(exc))
    return error, [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize(
    "fit_on, given",
    [
        ("frame", "array"),
        ("array", "frame"),
        ("frame", "reversed"),
        ("frame", "renamed"),
        ("frame", "fewer"),
        ("frame", "int-names"),
        ("frame", "mixed-names"),
    ],
)
@pytest.mark.parametrize("method", ["predict", "transform", "score"])
def test_feature_names_checked_as_sklearn_does(fit_on, given, method):
    df = _frame()
    frames = {
        "frame": df,
        "array": df.to_numpy(),
        "reversed": df[["c", "b", "a"]],
        "renamed": df.set_axis(["a", "x", "c"], axis=1),
        "fewer": df[["a", "b"]],
        "int-names": df.set_axis([0, 1, 2], axis=1),
        "mixed-names": df.set_axis(["a", 1, "c"], axis=1),
    }
    outcomes = []
    for cls in (KMeans, SkKMeans):
        est = cls(3, random_state=0).fit(frames[fit_on])
        assert hasattr(est, "feature_names_in_") == (fit_on == "frame")
        outcomes.append(_outcome(partial(getattr(est, method), frames[given])))
    assert outcomes[0] == outcomes[1]


def test_feature_names_in_set_and_reset_by_fit():
    df = _frame()
    km = KMeans(3, random_state=0).fit(df)
    assert km.feature_names_in_.dtype == object and km.feature_names_in_.tolist() == ["a", "b", "c"]
    assert _outcome(lambda: km.get_feature_names_out(["a", "b", "x"])) == _outcome(
        lambda: SkKMeans(3, random_state=0).fit(df).get_feature_names_out(["a", "b", "x"])
    )
    assert not hasattr(km.fit(df.to_numpy()), "feature_names_in_")
    assert not hasattr(km.fit(df.set_axis([0, 1, 2], axis=1)), "feature_names_in_")  # not all strings
    with pytest.raises(TypeError, match="Feature names are only supported if all input features have string names"):
        km.fit(df.set_axis(["a", 1, "c"], axis=1))


# "polars" while polars is not installed: the ImportError at transform time (where it is, the
# data-frame checks above cover it).
@pytest.mark.parametrize("transform", ["bogus"] + (["polars"] if importlib.util.find_spec("polars") is None else []))
def test_set_output_errors_as_sklearn(transform):
    X = _frame().to_numpy()
    ours = _outcome(lambda: KMeans(3, random_state=0).set_output(transform=transform).fit_transform(X))
    theirs = _outcome(lambda: SkKMeans(3, random_state=0).set_output(transform=transform).fit_transform(X))
    assert ours == theirs and ours[0] is not None


def test_set_output_default_and_none_keep_arrays():
    X = _frame()
    km = KMeans(3, random_state=0)
    assert km.set_output() is km and isinstance(km.fit_transform(X), np.ndarray)
    assert isinstance(km.set_output(transform="pandas").set_output().transform(X), pd.DataFrame)  # None: unchanged
    assert isinstance(km.set_output(transform="default").transform(X), np.ndarray)
    with sklearn.config_context(transform_output="pandas"):  # scikit-learn's global setting, as its estimators
        assert isinstance(KMeans(3, random_state=0).fit_transform(X), pd.DataFrame)
        assert isinstance(km.transform(X), np.ndarray)  # its own setting comes first


def _datasets():
    rng = np.random.default_rng(7)
    X1, _ = make_blobs(n_samples=500, centers=5, n_features=2, random_state=1)
    X2, _ = make_blobs(n_samples=800, centers=6, n_features=8, cluster_std=3.0, random_state=2)
    X3 = rng.uniform(size=(600, 3))  # no cluster structure: many iterations
    X4 = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))  # anisotropic
    return [("blobs2d", X1, 5), ("blobs8d", X2, 6), ("uniform3d", X3, 7), ("aniso5d", X4, 4)]


@pytest.mark.parametrize("name, X, k", _datasets(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_same_centres_and_labels_as_sklearn_lloyd(name, X, k, tol, kernel_path):
    init = X[np.random.default_rng(0).choice(len(X), k, replace=False)]
    ours = KMeans(n_clusters=k, init=init, n_init=1, max_iter=300, tol=tol).fit(X)
    ref = SkKMeans(n_clusters=k, init=init, n_init=1, max_iter=300, tol=tol, algorithm="lloyd").fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-7, atol=1e-9)
    assert np.array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(ours.predict(X[:50]), ref.predict(X[:50]))
    np.testing.assert_allclose(ours.transform(X[:50]), ref.transform(X[:50]), rtol=1e-7, atol=1e-9)
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-9)


def test_same_result_as_sklearn_with_sample_weight(kernel_path):
    X, _ = make_blobs(n_samples=400, centers=4, random_state=4)
    w = np.random.default_rng(1).uniform(0.1, 5.0, size=len(X))
    init = X[:4]
    ours = KMeans(4, init=init, tol=0).fit(X, sample_weight=w)
    ref = SkKMeans(4, init=init, n_init=1, tol=0, algorithm="lloyd").fit(X, sample_weight=w)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)


@given(
    hnp.arrays(np.float64, st.tuples(st.integers(4, 30), st.integers(1, 3)), elements=st.integers(-9, 9).map(float)),
    st.data(),
)
def test_integer_weights_equal_repeated_rows(X, data):
    reps = data.draw(hnp.arrays(np.int64, (X.shape[0],), elements=st.integers(1, 4)))
    k = data.draw(st.integers(1, 3))
    init = X[:k] + 0.25  # same start for both fits, off the data grid to avoid exact ties
    a = KMeans(k, init=init, tol=0).fit(X, sample_weight=reps)
    b = KMeans(k, init=init, tol=0).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-9)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-9, abs=1e-9)


def test_k1_gives_the_weighted_mean():
    X = np.random.default_rng(0).normal(size=(100, 4))
    w = np.random.default_rng(1).uniform(1, 2, size=100)
    km = KMeans(1).fit(X, sample_weight=w)
    np.testing.assert_allclose(km.cluster_centers_[0], np.average(X, axis=0, weights=w))


def test_restarts_keep_the_lowest_inertia():
    X, _ = make_blobs(n_samples=300, centers=6, cluster_std=1.5, random_state=0)
    singles = [KMeans(6, init="random", n_init=1, random_state=s).fit(X).inertia_ for s in range(8)]
    best = KMeans(6, init="random", n_init=8, random_state=0).fit(X).inertia_
    assert best <= np.median(singles) + 1e-9


def test_same_seed_same_result_and_pickle_roundtrip():
    X, _ = make_blobs(n_samples=300, centers=4, random_state=9)
    a = KMeans(4, random_state=3).fit(X)
    b = KMeans(4, random_state=3).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    c = pickle.loads(pickle.dumps(a))
    assert np.array_equal(c.predict(X), a.labels_)


def test_quality_close_to_sklearn_kmeans_plusplus():
    X, _ = make_blobs(n_samples=3000, centers=10, n_features=3, cluster_std=2.0, random_state=11)
    ours = np.mean([KMeans(10, random_state=s).fit(X).inertia_ for s in range(5)])
    ref = np.mean([SkKMeans(10, random_state=s, n_init=1).fit(X).inertia_ for s in range(5)])
    assert ours <= ref * 1.05


def test_errors():
    with pytest.raises(NotFittedError):
        KMeans().predict([[1.0]])
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        KMeans(3).fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match="init must be"):
        KMeans(2, init="bogus").fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match="does not match the number of clusters"):
        KMeans(2, init=[[0.0]]).fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match="expecting 2 features"):
        KMeans(1).fit([[0.0, 1.0]]).predict([[1.0, 2.0, 3.0]])


def test_kmeans_refuses_data_whose_distances_overflow():
    """Where squared distances overflow, scikit-learn's KMeans gives wrong labels and an infinite
    inertia (so did ours): a ValueError naming the limit instead, in every method that takes data."""
    big = [[1e160, 0.0], [-1e160, 0.0], [0.9e160, 0.0]]  # right labels: [1, 0, 1]
    pattern = r"^{} holds a value of magnitude .* where squared distances overflow"
    with pytest.raises(ValueError, match=pattern.format("X")):
        KMeans(2, n_init=1).fit(big)
    with pytest.raises(ValueError, match=pattern.format("X")):
        kmeans_plusplus(np.array(big), 2)
    with pytest.raises(ValueError, match=pattern.format("init")):
        KMeans(2, init=np.array(big[:2])).fit([[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=pattern.format("init")):
        KMeans(2, init=lambda X, k, random_state: np.array(big[:2])).fit([[0.0, 0.0], [1.0, 1.0]])
    km = KMeans(2, n_init=1, random_state=0).fit([[0.0, 0.0], [1.0, 1.0]])
    for method in (km.predict, km.transform, km.score):
        with pytest.raises(ValueError, match=pattern.format("X")):
            method(big)
    # The limit counts the total weight: the inertia sums the distances of every sample.
    X = np.array([[1e153, 0.0], [-1e153, 0.0]] * 100)
    KMeans(2, n_init=1).fit(X[:2])
    with pytest.raises(ValueError, match=r"x total weight 200\)\)"):
        KMeans(2, n_init=1).fit(X)


@pytest.mark.parametrize("path", ["numpy", "compiled"])
@pytest.mark.parametrize(("d", "n", "k", "weighted"), [(1, 50, 3, False), (2, 200, 4, True), (6, 300, 5, True)])
def test_kmeans_up_to_the_magnitude_limit_is_the_fit_of_the_data_scaled_down(monkeypatch, path, d, n, k, weighted):
    """Just below the limit, data scaled by a power of two (exact) fits as the unscaled data: the
    same labels, the inertia and distances scaled, on both paths, with no overflow warning (the
    test run makes a RuntimeWarning an error)."""
    from kmeans_compress import _backend
    from kmeans_compress._validation import magnitude_limit

    monkeypatch.setattr(_backend, "MIN_WORK", (1 << 62) if path == "numpy" else 0)
    rng = np.random.default_rng(d)
    small = rng.uniform(-1.0, 1.0, (n, d))
    small[:2] = [[1.0] * d, [-1.0] * d]  # opposite corners: the largest distance there is
    w = rng.uniform(0.5, 3.0, n) if weighted else None
    s = 2.0 ** np.floor(np.log2(magnitude_limit(d, n if w is None else w.sum())))
    for init in ("k-means++", "random"):
        ours = KMeans(k, init=init, n_init=2, random_state=0).fit(small * s, sample_weight=w)
        ref = KMeans(k, init=init, n_init=2, random_state=0).fit(small, sample_weight=w)
        assert np.array_equal(ours.labels_, ref.labels_)
        assert ours.inertia_ == pytest.approx(ref.inertia_ * s * s, rel=1e-12)
        np.testing.assert_allclose(ours.transform(-small * s), ref.transform(-small) * s, rtol=1e-9)
        assert ours.score(small * s) == pytest.approx(ref.score(small) * s * s, rel=1e-12)
    assert np.array_equal(
        kmeans_plusplus(small * s, k, sample_weight=w, random_state=0)[1],
        kmeans_plusplus(small, k, sample_weight=w, random_state=0)[1],
    )


# --------------------------------------------------------------------- a drop-in for scikit-learn's KMeans
# Each test below follows the scikit-learn test of the same feature
# (sklearn/cluster/tests/test_k_means.py), run on both estimators where it can be.


def test_same_parameters_as_sklearn():
    assert KMeans().get_params().keys() == SkKMeans().get_params().keys()
    assert KMeans().get_params() == {**SkKMeans().get_params()}
    assert repr(KMeans()) == "KMeans()"
    assert repr(KMeans(5, algorithm="elkan")) == "KMeans(algorithm='elkan', n_clusters=5)"


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_algorithm_accepted_and_same_result_as_sklearn(algorithm, kernel_path):
    X, _ = make_blobs(n_samples=600, centers=5, n_features=3, cluster_std=2.0, random_state=5)
    init = X[:5]
    ours = KMeans(5, init=init, tol=0, algorithm=algorithm).fit(X)
    ref = SkKMeans(5, init=init, n_init=1, tol=0, algorithm=algorithm).fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    assert np.array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)


@pytest.mark.parametrize("algorithm", ["auto", "full", "hamerly"])
def test_unknown_algorithm_refused_like_sklearn(algorithm):
    X = np.arange(10.0).reshape(5, 2)
    with pytest.raises(ValueError, match="algorithm"):
        SkKMeans(2, algorithm=algorithm).fit(X)
    with pytest.raises(ValueError, match="algorithm"):
        KMeans(2, algorithm=algorithm).fit(X)


def test_elkan_with_one_cluster_warns_like_sklearn():
    X = np.random.default_rng(0).normal(size=(50, 2))
    for Est in (SkKMeans, KMeans):
        with pytest.warns(RuntimeWarning, match="algorithm='elkan' doesn't make sense for a single cluster"):
            Est(n_clusters=1, algorithm="elkan").fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_copy_x_false_leaves_x_as_it_was(dtype):
    X = make_blobs(n_samples=300, centers=3, random_state=1)[0].astype(dtype)
    X0 = X.copy()
    a = KMeans(3, random_state=0, copy_x=False).fit(X)
    assert np.array_equal(X, X0)  # scikit-learn only promises "nearly equal" after de-centring
    b = KMeans(3, random_state=0, copy_x=True).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("tol", [1e-2, 0])
def test_verbose_prints_like_sklearn(algorithm, tol, capsys):
    X = np.random.RandomState(0).normal(size=(5000, 10))
    params = dict(algorithm=algorithm, n_clusters=8, random_state=42, init="random", n_init=1, tol=tol)
    quiet = KMeans(**params).fit(X)
    capsys.readouterr()
    loud = KMeans(verbose=1, **params).fit(X)
    out = capsys.readouterr().out
    assert re.search(r"Initialization complete", out)
    assert re.search(r"Iteration [0-9]+, inertia", out)
    if tol == 0:
        assert re.search(r"strict convergence", out)
    else:
        assert re.search(r"center shift .* within tolerance", out)
    assert np.array_equal(loud.labels_, quiet.labels_)
    np.testing.assert_allclose(loud.cluster_centers_, quiet.cluster_centers_, rtol=1e-12)
    assert out.count("Iteration ") == loud.n_iter_


def test_verbose_iterations_match_sklearn(capsys):
    X, _ = make_blobs(n_samples=400, centers=4, cluster_std=2.5, random_state=2)
    init = X[:4]
    SkKMeans(4, init=init, n_init=1, tol=0, verbose=1).fit(X)
    ref = capsys.readouterr().out
    KMeans(4, init=init, tol=0, verbose=1).fit(X)
    ours = capsys.readouterr().out
    inertia = re.compile(r"Iteration (\d+), inertia ([0-9.e+-]+?)\.?$", re.M)
    got = [(int(i), float(v)) for i, v in inertia.findall(ours)]
    want = [(int(i), float(v)) for i, v in inertia.findall(ref)]
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-9)
    assert re.findall(r"Converged at iteration \d+: strict convergence", ours) == re.findall(
        r"Converged at iteration \d+: strict convergence", ref
    )


def test_callable_init_same_result_as_sklearn():
    X, _ = make_blobs(n_samples=500, centers=4, random_state=3)
    calls = []

    def init(X_, k, random_state):
        calls.append(random_state)
        return X_[random_state.permutation(X_.shape[0])[:k]]

    ours = KMeans(4, init=init, n_init=1, random_state=np.random.RandomState(0), tol=0).fit(X)
    ref = SkKMeans(4, init=init, n_init=1, random_state=np.random.RandomState(0), tol=0).fit(X)
    # scikit-learn hands the callable its data minus the column means; picking rows commutes with that.
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-9, atol=1e-9)
    assert np.array_equal(ours.labels_, ref.labels_)
    assert all(isinstance(rs, np.random.RandomState) for rs in calls)


def test_callable_init_n_init_auto_is_ten_like_sklearn():
    X = np.random.default_rng(0).normal(size=(100, 10))
    calls = []

    def init(X_, k, random_state):
        calls.append(1)
        return random_state.uniform(size=(k, X_.shape[1]))

    KMeans(5, init=init, n_init="auto").fit(X)
    assert len(calls) == 10 == SkKMeans(5, init=init, n_init="auto").fit(X)._n_init


@pytest.mark.parametrize(
    "init, match",
    [
        (lambda X: X[:2], "does not match the number of clusters"),
        (lambda X: lambda X_, k, random_state: X_[:2], "does not match the number of clusters"),
        (lambda X: X[:8, :2], "does not match the number of features of the data"),
        (lambda X: lambda X_, k, random_state: X_[:8, :2], "does not match the number of features of the data"),
    ],
)
def test_wrong_shaped_init_same_error_as_sklearn(init, match):
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError) as ref:
        SkKMeans(8, n_init=1, init=init(X)).fit(X)
    with pytest.raises(ValueError, match=match) as ours:
        KMeans(8, n_init=1, init=init(X)).fit(X)
    assert str(ours.value) == str(ref.value)


def test_sparse_refused_with_sklearns_error():
    sparse = pytest.importorskip("scipy.sparse")
    from sklearn.utils import check_array as sk_check_array

    X = sparse.random(40, 5, density=0.3, format="csr", random_state=0)
    with pytest.raises(TypeError) as ref:
        sk_check_array(X, accept_sparse=False, input_name="X")
    for call in (lambda: KMeans(2).fit(X), lambda: kmeans_plusplus(X, 2)):
        with pytest.raises(TypeError) as ours:
            call()
        assert str(ours.value) == str(ref.value)
    fitted = KMeans(2, random_state=0).fit(X.toarray())
    for method in (fitted.predict, fitted.transform, fitted.score):
        with pytest.raises(TypeError, match="dense data is required"):
            method(X)


def test_float32_kept_like_sklearn():
    X64, _ = make_blobs(n_samples=1000, centers=4, n_features=3, random_state=0)
    X32 = X64.astype(np.float32)
    f64 = KMeans(4, n_init=1, random_state=0).fit(X64)
    f32 = KMeans(4, n_init=1, random_state=0).fit(X32)
    ref = SkKMeans(4, n_init=1, random_state=0).fit(X32)
    assert f32.cluster_centers_.dtype == ref.cluster_centers_.dtype == np.float32
    assert f32.transform(X32).dtype == ref.transform(X32).dtype == np.float32
    assert f32.fit_transform(X32).dtype == np.float32
    assert f64.cluster_centers_.dtype == f64.transform(X64).dtype == np.float64
    assert KMeans(4, random_state=0).fit(X64.astype(np.int64)).cluster_centers_.dtype == np.float64
    # as scikit-learn's test_float_precision: same labels, close figures
    assert np.array_equal(f32.labels_, f64.labels_)
    rtol = 1e-4
    np.testing.assert_allclose(f32.inertia_, f64.inertia_, rtol=rtol)
    np.testing.assert_allclose(f32.transform(X32), f64.transform(X64), atol=f64.transform(X64).max() * rtol)
    np.testing.assert_allclose(f32.cluster_centers_, f64.cluster_centers_, atol=np.abs(X64).max() * rtol)


def test_init_centres_not_mutated():
    X = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    init = X[:3].copy()
    km = KMeans(3, init=init).fit(X)
    assert not np.may_share_memory(km.cluster_centers_, init)
    assert np.array_equal(init, X[:3])


def test_feature_names_out_like_sklearn():
    X = np.random.default_rng(0).normal(size=(60, 4))
    ours = KMeans(5, random_state=0).fit(X)
    ref = SkKMeans(5, random_state=0).fit(X)
    assert ours.get_feature_names_out().tolist() == ref.get_feature_names_out().tolist()
    assert ours.get_feature_names_out().dtype == object
    assert ours.get_feature_names_out(["a", "b", "c", "d"]).tolist() == [f"kmeans{i}" for i in range(5)]
    with pytest.raises(ValueError):
        ours.get_feature_names_out(["a"])
    with pytest.raises(NotFittedError):
        KMeans().get_feature_names_out()


def test_fewer_distinct_clusters_warns_sklearns_convergence_warning():
    from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

    from kmeans_compress import ConvergenceWarning

    X = np.asarray([[0, 0], [0, 1], [1, 0], [1, 0]])  # last point duplicated
    msg = (
        r"Number of distinct clusters \(3\) found smaller than n_clusters \(4\). Possibly due to duplicate points in X."
    )
    for seed in range(3):
        with pytest.warns(SkConvergenceWarning, match=msg) as record:
            km = KMeans(n_clusters=4, random_state=seed).fit(X)
        assert set(km.labels_) == set(range(3))
        assert any(isinstance(r.message, ConvergenceWarning) for r in record)


def test_kmeans_plusplus_like_sklearn():
    import inspect

    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    assert list(inspect.signature(kmeans_plusplus).parameters) == list(inspect.signature(sk_kmeans_plusplus).parameters)
    X, _ = make_blobs(n_samples=200, centers=5, random_state=4)
    for dtype in (np.float64, np.float32):
        data = X.astype(dtype)
        centers, indices = kmeans_plusplus(data, 5, random_state=0)
        assert centers.dtype == dtype and indices.shape == (5,)
        assert ((indices >= 0) & (indices < len(X))).all()
        np.testing.assert_array_equal(data[indices], centers)
    norms = np.einsum("ij,ij->i", X, X)
    a = kmeans_plusplus(X, 5, x_squared_norms=norms, random_state=1)
    b = kmeans_plusplus(np.asfortranarray(X), 5, random_state=1)
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(
        ValueError, match=r"The length of x_squared_norms .* should be equal to the length of n_samples"
    ):
        kmeans_plusplus(X, 5, x_squared_norms=norms[:2])
    w = np.zeros(len(X))
    w[10:20] = 1.0
    _, idx = kmeans_plusplus(X, 3, sample_weight=w, random_state=0)
    assert set(idx) <= set(range(10, 20))


def test_kmeans_plusplus_indices_same_on_both_paths(kernel_path):
    X, _ = make_blobs(n_samples=3000, centers=8, n_features=3, random_state=6)
    centers, indices = kmeans_plusplus(X, 8, random_state=2)
    np.testing.assert_array_equal(X[indices], centers)
    assert len(set(indices.tolist())) == 8


@pytest.mark.parametrize("d", [2, 3, 8, 16])
def test_kmeans_plusplus_far_from_the_origin(d, kernel_path):
    """Distances do not depend on where the data sit: make_blobs moved by 1e9 draws the rows it
    draws in place (k-means++'s products are taken relative to a point of the data; on the raw
    data every distance rounded to the offset's scale and the fit's inertia was 7.7x scikit-learn's
    at d = 8), on the numpy code and on the kernels alike, and the fit matches scikit-learn's,
    which centres its data."""
    from sklearn.cluster import KMeans as SKKMeans

    X, _ = make_blobs(n_samples=4000, centers=12, n_features=d, random_state=0)
    _, near = kmeans_plusplus(X, 12, random_state=0)
    _, far = kmeans_plusplus(X + 1e9, 12, random_state=0)
    np.testing.assert_array_equal(far, near)
    ours = KMeans(12, n_init=1, random_state=0).fit(X + 1e9)
    theirs = SKKMeans(12, n_init=1, random_state=0).fit(X + 1e9)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-3)


@pytest.mark.parametrize("d", [1, 3, 20, 40])
def test_predict_exact_with_ties_on_both_paths(d, kernel_path):
    """``predict`` (the kernels' block search up to 32 features, products and differences above or
    before the kernels load) gives each point its nearest centre, ties to the lowest index, as a
    brute-force search on differences; ``score`` is minus the inertia of those labels."""
    rng = np.random.default_rng(d)
    X = rng.integers(0, 3, (2000, d)).astype(np.float64)  # a grid: many exact ties
    km = KMeans(6, n_init=1, random_state=0, max_iter=3).fit(X)
    km.cluster_centers_ = np.vstack([X[:5], X[4]])  # the last centre repeats the fifth
    diff = X[:, None, :] - km.cluster_centers_[None, :, :]
    d2 = np.einsum("ijk,ijk->ij", diff, diff)
    labels = km.predict(X)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, d2.argmin(axis=1))
    assert km.score(X) == pytest.approx(-d2.min(axis=1).sum(), rel=1e-12)


@pytest.mark.parametrize("d", [3, 8, 40])
def test_predict_score_transform_far_from_the_origin(d):
    """Around 1e9, ``predict`` still gives every point its nearest centre by explicit differences
    (``labels_`` on the training data), ``score`` the inertia and ``transform`` the distances:
    products on the raw data (scikit-learn's) rounded them to the offset's scale, and predict agreed
    with ``labels_`` on 11-16 % of the points."""
    X, _ = make_blobs(n_samples=3000, centers=12, n_features=d, random_state=0)
    X += 1e9
    km = KMeans(12, n_init=1, random_state=0).fit(X)
    C = km.cluster_centers_
    diff = X[:, None, :] - C[None, :, :]
    d2 = np.einsum("ijk,ijk->ij", diff, diff)
    np.testing.assert_array_equal(km.predict(X), d2.argmin(axis=1))
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    assert km.score(X) == pytest.approx(-d2.min(axis=1).sum(), rel=1e-9)
    assert km.score(X) == -km.inertia_  # the same sum in the same order
    np.testing.assert_allclose(km.transform(X), np.sqrt(d2), rtol=1e-6)


@pytest.mark.parametrize("d", [16, 48])
def test_many_features_same_result_as_sklearn_and_as_bounds(d, kernel_path):
    """From DENSE_MIN_FEATURES features the Lloyd loop assigns by matrix products; from the same
    start it gives scikit-learn's labels and centres, and the bounded numpy loop's (its centre
    update on numpy or compiled, to the last bit)."""
    from kmeans_compress._lloyd import DENSE_MIN_FEATURES, lloyd

    assert d >= DENSE_MIN_FEATURES
    X, _ = make_blobs(n_samples=3000, centers=6, n_features=d, cluster_std=4.0, random_state=d)
    init = X[:6]
    ours = KMeans(6, init=init, tol=0).fit(X)
    ref = SkKMeans(6, init=init, n_init=1, tol=0, algorithm="lloyd").fit(X)
    assert np.array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-9, atol=1e-9)
    assert ours.n_iter_ == ref.n_iter_
    w = np.ones(len(X))
    bounded = lloyd(X, w, init, 300, 0.0, compiled=False)
    assert np.array_equal(bounded[0], ours.labels_)
    assert np.array_equal(bounded[2], ours.cluster_centers_)  # same sums in the same order
    assert bounded[3] == ours.n_iter_


@pytest.mark.parametrize("d, k", [(2, 9), (8, 64), (40, 30)])
def test_same_seed_same_start_and_fit_as_sklearn(d, k):
    """An int seed (or a RandomState) draws scikit-learn's numbers in its order: ``kmeans_plusplus``
    picks the same rows as scikit-learn's (weighted too) and a fit gives its labels and iterations."""
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    rng = np.random.default_rng(d)
    X = np.vstack([rng.standard_normal((1500, d)), make_blobs(1500, n_features=d, centers=7, random_state=d)[0]])
    w = rng.integers(1, 5, len(X)).astype(float)
    for seed in (0, 7):
        assert np.array_equal(
            kmeans_plusplus(X, k, random_state=seed)[1], sk_kmeans_plusplus(X, k, random_state=seed)[1]
        )
        ours = kmeans_plusplus(X, k, sample_weight=w, random_state=np.random.RandomState(seed))[1]
        assert np.array_equal(ours, sk_kmeans_plusplus(X, k, sample_weight=w, random_state=seed)[1])
    ours = KMeans(k, n_init=1, random_state=3).fit(X)
    ref = SkKMeans(k, n_init=1, random_state=3).fit(X)
    assert np.array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)


# --------------------------------------------------------------------- dtypes and errors, side by side


def test_labels_are_int32_like_sklearn():
    """``labels_``, ``predict`` and ``fit_predict`` give scikit-learn's int32 (code that stores or
    compares them by dtype, or concatenates them with scikit-learn's, sees no difference)."""
    X, _ = make_blobs(n_samples=300, centers=3, n_features=2, random_state=0)
    ours = KMeans(3, n_init=1, random_state=0).fit(X)
    ref = SkKMeans(3, n_init=1, random_state=0).fit(X)
    assert ours.labels_.dtype == ref.labels_.dtype == np.int32
    assert ours.predict(X).dtype == ref.predict(X).dtype == np.int32
    ours_fp = KMeans(3, n_init=1, random_state=0).fit_predict(X)
    ref_fp = SkKMeans(3, n_init=1, random_state=0).fit_predict(X)
    assert ours_fp.dtype == ref_fp.dtype == np.int32
    assert np.array_equal(ours.labels_, ref.labels_) and np.array_equal(ours_fp, ref_fp)


def test_float32_data_frame_kept_float32_like_sklearn():
    """A pandas frame whose columns are all float32 gives float32 centres and distances, as
    scikit-learn's check_array keeps it (the columns' common dtype decides: float32 with float16
    too, float64 with any int32 or float64 column); ``kmeans_plusplus`` likewise (scikit-learn's
    own fails on a frame, reading ``X.dtype``: compared with its ``check_array``'s rule)."""
    from sklearn.utils import check_array as sk_check_array

    X, _ = make_blobs(n_samples=300, centers=3, n_features=3, random_state=0)
    X32 = X.astype(np.float32)
    frames = {
        "float32": pd.DataFrame(X32, columns=["a", "b", "c"]),
        "float32, unnamed": pd.DataFrame(X32),
        "float32 and float16": pd.DataFrame({"a": X32[:, 0], "b": X32[:, 1].astype(np.float16)}),
        "float32 and int32": pd.DataFrame({"a": X32[:, 0], "b": np.arange(300, dtype=np.int32)}),
        "float32 and float64": pd.DataFrame({"a": X32[:, 0], "b": X[:, 1]}),
        "a column named dtype": pd.DataFrame({"dtype": X32[:, 0], "b": X32[:, 1]}),
    }
    for name, df in frames.items():
        ours = KMeans(3, n_init=1, random_state=0).fit(df)
        ref = SkKMeans(3, n_init=1, random_state=0).fit(df)
        assert ours.cluster_centers_.dtype == ref.cluster_centers_.dtype, name
        assert ours.transform(df).dtype == ref.transform(df).dtype, name
        assert KMeans(3, n_init=1).fit_transform(df).dtype == SkKMeans(3, n_init=1).fit_transform(df).dtype, name
        assert ours.cluster_centers_.dtype == sk_check_array(df, dtype=[np.float64, np.float32]).dtype, name
        assert kmeans_plusplus(df, 3)[0].dtype == ours.cluster_centers_.dtype, name
    assert KMeans(3, n_init=1).fit(frames["float32"]).cluster_centers_.dtype == np.float32


@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("data_dtype", [np.float64, np.float32, np.int64])
def test_transform_dtype_of_data_and_centres_like_sklearn(fit_dtype, data_dtype):
    """``transform`` is float32 only when both the data and the fitted centres are (scikit-learn's
    ``euclidean_distances``): centres fitted on float64 give float64 distances for float32 data.
    ``predict`` is int32 and ``score`` a Python float whatever the dtypes; scikit-learn's own
    ``predict`` and ``score`` fail with a Cython buffer error when the two dtypes differ, so
    they are compared where it runs, and ours must give the same labels either way."""
    X, _ = make_blobs(n_samples=200, centers=3, n_features=2, random_state=0)
    X = np.rint(X * 4)  # integer-valued: the int64 copy is the same data
    fitted = X.astype(fit_dtype)
    given = X.astype(data_dtype)
    ours = KMeans(3, n_init=1, random_state=0).fit(fitted)
    ref = SkKMeans(3, n_init=1, random_state=0).fit(fitted)
    assert ours.transform(given).dtype == ref.transform(given).dtype
    expected = ref.transform(given)
    np.testing.assert_allclose(ours.transform(given), expected, atol=expected.max() * 1e-5)
    assert ours.predict(given).dtype == np.int32
    assert np.array_equal(ours.predict(given), ours.predict(fitted))
    assert type(ours.score(given)) is float
    if fit_dtype == np.float32 and data_dtype == np.float32 or fit_dtype == np.float64 and data_dtype != np.float32:
        assert ours.predict(given).dtype == ref.predict(given).dtype
        assert type(ours.score(given)) is type(ref.score(given))
        assert ours.score(given) == pytest.approx(ref.score(given), rel=1e-5)


_INVALID_PARAMETERS = [
    {"n_clusters": 2.0},
    {"n_clusters": 0},
    {"n_clusters": None},
    {"n_init": "x"},
    {"n_init": 0},
    {"n_init": 2.0},
    {"max_iter": None},
    {"max_iter": 0},
    {"max_iter": 1.0},
    {"tol": -1},
    {"tol": "a"},
    {"tol": np.nan},
    {"verbose": -1},
    {"verbose": 1.5},
    {"verbose": None},
    {"copy_x": "yes"},
    {"copy_x": 1},
    {"algorithm": "x"},
    {"algorithm": None},
    {"random_state": "x"},
    {"random_state": -1},
    {"random_state": 2**32},
    {"random_state": 1.5},
    {"init": None},
    {"init": "bogus"},
    {"init": 5},
]


@pytest.mark.parametrize("params", _INVALID_PARAMETERS, ids=repr)
@pytest.mark.parametrize("init", ["k-means++", "callable"])
def test_invalid_parameter_error_like_sklearn(params, init):
    """Every invalid constructor parameter raises, at fit time, an error that is both a ValueError
    and a TypeError, as scikit-learn's InvalidParameterError (``except ValueError`` catches a
    wrong type too); with scikit-learn loaded it is also an instance of scikit-learn's class."""
    from sklearn.utils._param_validation import InvalidParameterError as SkInvalidParameterError

    X = np.random.default_rng(0).normal(size=(30, 2))
    ((name, _),) = params.items()
    start = (lambda X, k, random_state: X[:k]) if init == "callable" else init
    params = {"n_clusters": 2, "init": start, **params}
    with pytest.raises(SkInvalidParameterError):
        SkKMeans(**params).fit(X)
    with pytest.raises(InvalidParameterError) as ours:
        KMeans(**params).fit(X)
    assert isinstance(ours.value, ValueError) and isinstance(ours.value, TypeError)
    assert isinstance(ours.value, SkInvalidParameterError)
    assert str(ours.value).startswith(name)


def test_init_none_message_names_the_accepted_values():
    X = np.random.default_rng(0).normal(size=(30, 2))
    message = "init must be 'k-means++', 'random', a callable or an array of centres, got None."
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        KMeans(2, init=None).fit(X)


def test_data_dependent_errors_stay_plain_value_errors_like_sklearn():
    """Too few samples, or initial centres of the wrong shape, are errors of the data, not of a
    parameter: a plain ValueError in both."""
    from sklearn.utils._param_validation import InvalidParameterError as SkInvalidParameterError

    X = np.random.default_rng(0).normal(size=(30, 2))
    for params in ({"n_clusters": 31}, {"n_clusters": 2, "init": X[:3]}):
        for Est in (SkKMeans, KMeans):
            with pytest.raises(ValueError) as err:
                Est(**params).fit(X)
            assert not isinstance(err.value, (SkInvalidParameterError, InvalidParameterError, TypeError))


@pytest.mark.parametrize(
    "idx",
    [
        [0, 1, -1],  # indexed the last centroid
        [0, 1.9, 1],  # truncated to 1
        1.9,  # one number for every example
        [0, 1, 3],  # a bare IndexError
        [0, 1],  # too short
        [0, np.nan, 1],
    ],
    ids=repr,
)
def test_compute_distortion_checks_idx_as_compute_centroids(idx):
    """``compute_distortion`` refuses the ``idx`` ``compute_centroids`` refuses, with the same
    check and message, instead of reading another centroid; for a valid ``idx`` it is
    scikit-learn's ``inertia_`` over the number of examples."""
    X = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    centroids = np.array([[0.0, 0.5], [1.0, 1.0], [5.0, 4.0]])
    with pytest.raises(ValueError) as expected:
        compute_centroids(X, idx, 3)
    with pytest.raises(ValueError) as ours:
        compute_distortion(X, centroids, idx)
    assert str(ours.value) == str(expected.value)
    ref = SkKMeans(3, init=centroids, n_init=1, max_iter=1).fit(X)
    assert compute_distortion(X, ref.cluster_centers_, ref.labels_) == pytest.approx(ref.inertia_ / len(X))


def test_metadata_routing_like_sklearn():
    """With metadata routing on, ``set_fit_request`` / ``set_score_request`` route
    ``sample_weight`` through ``cross_validate`` (which clones the estimator) as for
    scikit-learn's KMeans: same requests, same scores, same errors when nothing is requested
    or routing is off."""
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.model_selection import cross_validate

    X, _ = make_blobs(n_samples=300, centers=4, n_features=2, random_state=0)
    w = np.random.default_rng(0).integers(1, 5, len(X)).astype(float)
    results = {}
    with sklearn.config_context(enable_metadata_routing=True):
        for Est in (SkKMeans, KMeans):
            assert (
                str(Est(3).get_metadata_routing())
                == "{'fit': {'sample_weight': None}, 'score': {'sample_weight': None}}"
            )
            est = Est(3, n_init=1, random_state=0).set_fit_request(sample_weight=True)
            assert est.set_score_request(sample_weight=False) is est
            assert str(est.get_metadata_routing()) == (
                "{'fit': {'sample_weight': True}, 'score': {'sample_weight': False}}"
            )
            results[Est] = cross_validate(est, X, params={"sample_weight": w}, cv=3)["test_score"]
            unweighted = cross_validate(Est(3, n_init=1, random_state=0), X, cv=3)["test_score"]
            assert not np.allclose(unweighted, results[Est])  # the weights did reach fit
            with pytest.raises(UnsetMetadataPassedError):
                cross_validate(Est(3, n_init=1), X, params={"sample_weight": w}, cv=3)
            with pytest.raises(TypeError):  # scikit-learn: "Unexpected args"; ours: Python's own
                Est(3).set_fit_request(weights=True)
    np.testing.assert_allclose(results[KMeans], results[SkKMeans], rtol=1e-9)
    for Est in (SkKMeans, KMeans):
        with pytest.raises(RuntimeError, match="only available when metadata routing is enabled"):
            Est(3).set_fit_request(sample_weight=True)
