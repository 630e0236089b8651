"""The k-means workers (``_lloyd.py``): Lloyd's iterations, the split start and k-means++ seeding,
against scikit-learn's Lloyd from the same start and hand-computed splits. Lloyd on the weighted
colour histogram gives scikit-learn's centres on all pixels: the histogram changes nothing but
the speed. The ``kernel_path`` fixture (conftest.py) runs each on numpy and on the compiled kernels.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _images import synthetic_photo
from kmeans_compress._histogram import color_histogram, pack_rgb
from kmeans_compress._lloyd import lloyd, plusplus_init, tolerance

sklearn_cluster = pytest.importorskip("sklearn.cluster")


@pytest.mark.parametrize("k", [2, 7, 16])
def test_weighted_histogram_lloyd_equals_sklearn_on_all_pixels(k, kernel_path):
    img = synthetic_photo()
    pixels = img.reshape(-1, 3).astype(np.float64)
    hist = color_histogram(pack_rgb(img.reshape(-1, 3)))
    assert hist.n_colors < pixels.shape[0]  # the histogram really is smaller
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    init = plusplus_init(X, w, k, np.random.default_rng(3))
    tol = 1e-4
    _, inertia, centers, _ = lloyd(X, w, init, 300, tolerance(X, w, tol))
    ref = sklearn_cluster.KMeans(k, init=init, n_init=1, algorithm="lloyd", tol=tol).fit(pixels)
    np.testing.assert_allclose(centers, ref.cluster_centers_, rtol=0, atol=1e-6)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-9)


def test_lloyd_matches_sklearn_on_general_data(kernel_path):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(5000, centers=6, n_features=4, random_state=0)
    w = np.ones(len(X))
    init = X[np.random.default_rng(0).choice(len(X), 9, replace=False)]
    labels, inertia, centers, n_iter = lloyd(X, w, init, 300, 0.0)
    ref = sklearn_cluster.KMeans(9, init=init, n_init=1, algorithm="lloyd", tol=0).fit(X)
    np.testing.assert_allclose(centers, ref.cluster_centers_, atol=1e-9)
    assert np.array_equal(labels, ref.labels_)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-12)


def test_split_init_hand_computed():
    from kmeans_compress._lloyd import split_init

    # Two pairs on a line: the first cut separates the pairs (error 1 left of 202),
    # the next one splits the heavier-error pair.
    X = np.array([[0.0], [1.0], [10.0], [13.0]])
    w = np.ones(4)
    np.testing.assert_allclose(np.sort(split_init(X, w, 2)[:, 0]), [0.5, 11.5])
    np.testing.assert_allclose(np.sort(split_init(X, w, 3)[:, 0]), [0.5, 10.0, 13.0])
    # Weights pull the mean: 3 x [0] and 1 x [4] in one cluster.
    np.testing.assert_allclose(split_init(np.array([[0.0], [4.0]]), np.array([3.0, 1.0]), 1), [[1.0]])


@given(st.integers(0, 10_000), st.integers(1, 40))
@settings(max_examples=40)
def test_split_init_gives_k_distinct_centres_inside_the_data(seed, k):
    from kmeans_compress._lloyd import split_init

    rng = np.random.default_rng(seed)
    X = rng.integers(0, 6, size=(rng.integers(1, 120), 3)).astype(np.float64)
    w = rng.integers(1, 9, size=len(X)).astype(np.float64)
    c = split_init(X, w, k)
    n_distinct = len(np.unique(X, axis=0))
    assert len(c) == min(k, n_distinct)
    assert len(np.unique(c, axis=0)) == len(c)
    assert (c >= X.min(axis=0) - 1e-9).all() and (c <= X.max(axis=0) + 1e-9).all()


# --------------------------------------------------------------------- threads never change the result
def _brute_force_labels(X, C):
    d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)  # ties to the lowest index


def _tied_grid(n, d, seed, offset=0.0):
    """Integer points (many exact ties between centres) far from the origin (cancellation)."""
    rng = np.random.default_rng(seed)
    return rng.integers(-6, 7, size=(n, d)).astype(np.float64) + offset


def test_compiled_lloyd_and_plusplus_same_on_one_and_two_threads(monkeypatch):
    """Small problems run the compiled kernels on one thread, large ones on all: from the same
    start, the same labels (a brute-force search's, ties to the lowest index), centres and
    iterations either way, and the caller's thread setting is restored."""
    numba = pytest.importorskip("numba")
    from kmeans_compress import _backend
    from kmeans_compress._lloyd import plusplus_indices

    X = _tied_grid(6000, 2, 0, offset=50.0)
    w = np.ones(len(X))
    init = X[:40] + 0.5
    before = numba.get_num_threads()
    runs = []
    monkeypatch.setattr(_backend, "free_cores", _backend.available_cores)  # every thread, whatever the load
    for min_points in (1 << 62, 0):  # one thread, then every thread
        monkeypatch.setattr(_backend, "PARALLEL_MIN_POINTS", min_points)
        run = lloyd(X, w, init, 100, 0.0, compiled=True)
        idx = plusplus_indices(X, w, 40, np.random.default_rng(5), compiled=True)
        assert numba.get_num_threads() == before
        runs.append((run, idx))
    (a, ia), (b, ib) = runs
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2]) and a[1:2] == b[1:2] and a[3] == b[3]
    assert np.array_equal(ia, ib)
    assert np.array_equal(a[0], _brute_force_labels(X, a[2]))


def test_products_path_same_on_any_number_of_threads(monkeypatch):
    """The matrix-product Lloyd loop (many features) and k-means++ on numpy share their blocks
    among threads: one, two or three threads give the same labels (a brute-force search's), centres,
    iterations and seeds."""
    import contextlib

    from kmeans_compress import _lloyd
    from kmeans_compress._lloyd import DENSE_MIN_FEATURES, BlockThreads, plusplus_indices

    X = _tied_grid(9000, 128, 1, offset=1e4)
    X[:, :DENSE_MIN_FEATURES] += 4.0 * (np.arange(len(X)) % 5)[:, None]  # some structure to find
    w = np.ones(len(X))
    init = X[:12] + 0.25
    runs = []
    for workers in (1, 2, 3):
        pool = (
            (lambda n, work: contextlib.nullcontext(None))
            if workers == 1
            else (lambda n, work, k=workers: BlockThreads(k - 1))  # k - 1 helpers and the caller
        )
        monkeypatch.setattr(_lloyd, "_block_pool", pool)
        runs.append((lloyd(X, w, init, 30, 0.0), plusplus_indices(X, w, 12, np.random.default_rng(2), compiled=False)))
    (a, ia) = runs[0]
    for b, ib in runs[1:]:
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2]) and a[3] == b[3]
        assert np.array_equal(ia, ib)
    assert np.array_equal(a[0], _brute_force_labels(X, a[2]))


def test_block_threads_map_in_order_with_the_caller_working_and_errors_raised():
    """BlockThreads.map: every task run once, results in the tasks' order, the calling thread among
    those that ran them, a task's exception raised to the caller."""
    import threading
    import time

    from kmeans_compress._lloyd import BlockThreads

    ran = []

    def task(i, j):
        ran.append(threading.get_ident())
        time.sleep(0.005)  # long enough that no one thread takes every task
        if i == 13:
            raise ValueError("task 13")
        return i * j

    with BlockThreads(2) as pool:
        got = pool.map(task, range(12), range(100, 112))
        assert got == [i * j for i, j in zip(range(12), range(100, 112))]
        assert len(ran) == 12 and threading.get_ident() in ran
        assert pool.map(task, [5], [2]) == [10]  # one task: the caller alone
        with pytest.raises(ValueError, match="task 13"):
            pool.map(task, range(20), range(20))


def test_compiled_centre_update_equals_numpy_with_empty_clusters():
    """The compiled centre update (used by the matrix-product loop on large data) adds the same
    terms in the same order and re-seeds empty clusters as the numpy update: the same bits."""
    pytest.importorskip("numba")
    from kmeans_compress._backend import update_centers_compiled
    from kmeans_compress._lloyd import update_centers

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 20)) + 100.0
    w = rng.integers(0, 3, 500).astype(np.float64)
    labels = rng.integers(0, 6, 500)
    centers = rng.normal(size=(9, 20))  # clusters 6, 7 and 8 are empty: re-seeded
    expected = update_centers(X, w, labels, None, centers)
    got = update_centers_compiled(X, w, labels, centers, compiled=True)
    assert got is not None and np.array_equal(got, expected)
    assert not np.array_equal(expected[6:], centers[6:])


# --------------------------------------------------------------------- colour fits: exact sums kept up to date
@pytest.mark.parametrize("offset", [0.0, 0.5])
@pytest.mark.parametrize("k", [30, 64])
def test_compiled_colour_lloyd_equals_numpy_and_brute_force(monkeypatch, offset, k):
    """A colour histogram's run (3 features, integer colours and counts): the compiled run tightens
    the lower bounds by the neighbours' moves and, the sums being integers (offset 0), changes
    them by the points that moved instead of summing all points; with offset 0.5 (not integers)
    it sums all points. Either way the numpy run's labels, centres to the last bit and iterations,
    on one thread and on two, and the labels a brute-force search's (ties to the lowest index)."""
    pytest.importorskip("numba")
    from kmeans_compress import _backend

    img = synthetic_photo(120, 160, seed=1)
    hist = color_histogram(pack_rgb(img.reshape(-1, 3)))
    X = hist.colors.astype(np.float64) + offset
    w = hist.counts.astype(np.float64)
    assert not _backend.scan_centres(len(X), k)  # the walk through the centres' table, with its levels
    init = X[np.random.default_rng(2).choice(len(X), k, replace=False)] + 0.25
    tol = tolerance(X, w, 1e-6)
    reference = lloyd(X, w, init, 200, tol, compiled=False)
    runs = []
    monkeypatch.setattr(_backend, "free_cores", _backend.available_cores)  # every thread, whatever the load
    for min_points in (1 << 62, 0):  # one thread, then every thread
        monkeypatch.setattr(_backend, "PARALLEL_MIN_POINTS", min_points)
        runs.append(lloyd(X, w, init, 200, tol, compiled=True))
    for run in runs:
        assert np.array_equal(run[0], reference[0])
        assert np.array_equal(run[2], reference[2])
        assert run[3] == reference[3] > 5
        assert run[1] == pytest.approx(reference[1], rel=1e-12)
    assert np.array_equal(runs[0][0], _brute_force_labels(X, runs[0][2]))


def test_compiled_colour_lloyd_reseeds_an_empty_cluster_as_numpy():
    """A start with a centre no colour is nearest to: the exact-sum run re-seeds it as the numpy
    run does (same labels, the same centres to the last bit), and goes on keeping its sums."""
    pytest.importorskip("numba")
    img = synthetic_photo(90, 120, seed=2)
    hist = color_histogram(pack_rgb(img.reshape(-1, 3)))
    X = hist.colors.astype(np.float64)
    w = hist.counts.astype(np.float64)
    init = X[np.random.default_rng(4).choice(len(X), 40, replace=False)] + 0.25
    init[7] = [1000.0, 1000.0, 1000.0]  # empty after the first assignment
    expected = lloyd(X, w, init, 100, 0.0, compiled=False)
    got = lloyd(X, w, init, 100, 0.0, compiled=True)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[2], expected[2]) and got[3] == expected[3]
    assert np.bincount(got[0], minlength=40).min() > 0  # the far centre was re-seeded and took points
    assert np.array_equal(got[0], _brute_force_labels(X, got[2]))


def test_integral_sums_hand_cases():
    """Sums in any order are exact only when every term is an integer and the totals stay below 2^52."""
    pytest.importorskip("numba")
    from kmeans_compress._numba_kernels import _integral_sums

    X = np.array([[0.0, 255.0, 3.0], [-4.0, 7.0, 9.0]])
    assert _integral_sums(X, np.array([1.0, 40.0]))
    assert not _integral_sums(X, np.array([1.0, 0.5]))  # a fractional weight
    assert not _integral_sums(X + 0.5, np.array([1.0, 40.0]))  # fractional coordinates
    assert _integral_sums(X, np.array([1.0, 2.0**47]))  # (4 + 7 + 9) x 2^47 < 2^52
    assert not _integral_sums(X, np.array([1.0, 2.0**48]))  # (4 + 7 + 9) x 2^48 > 2^52: rounding possible
    assert not _integral_sums(np.array([[np.nan, 1.0, 1.0]]), np.array([1.0]))
    assert not _integral_sums(np.array([[np.inf, 1.0, 1.0]]), np.array([1.0]))


# --------------------------------------------------------------------- bounds handing over to products
@pytest.mark.parametrize("give_up", [1e-9, 2.0, 1e9])
@pytest.mark.parametrize("kind", ["normal", "grid"])
def test_bounds_handing_over_to_products_changes_nothing(monkeypatch, give_up, kind):
    """From HYBRID_MIN_FEATURES features a Lloyd run starts with the bounds and may hand over to
    matrix products mid-run (as early as allowed: 1e-9; by the rule: 2.0; never: 1e9): the labels, centres and
    iterations are those of the bounds alone, the labels a brute-force search's (ties to the
    lowest index), and on one or two threads the same."""
    pytest.importorskip("numba")
    from kmeans_compress import _backend, _lloyd

    if kind == "normal":
        X = np.random.default_rng(4).standard_normal((4000, 8))
    else:
        X = _tied_grid(4000, 6, 3, offset=1e4)
    assert X.shape[1] >= _lloyd.HYBRID_MIN_FEATURES
    w = np.random.default_rng(5).integers(1, 4, len(X)).astype(np.float64)
    init = X[:30] + 0.25
    tol = tolerance(X, w, 1e-6)
    bounds_only = lloyd(X, w, init, 60, tol, compiled=True)
    monkeypatch.setattr(_lloyd, "GIVE_UP", give_up * X.shape[1])
    runs = []
    monkeypatch.setattr(_backend, "free_cores", _backend.available_cores)  # every thread, whatever the load
    for min_points in (1 << 62, 0):  # one thread, then every thread
        monkeypatch.setattr(_backend, "PARALLEL_MIN_POINTS", min_points)
        runs.append(lloyd(X, w, init, 60, tol))
    # The general KMeans's runs (threads_from): every core, and the hand-over from
    # THREADED_HYBRID_MIN_FEATURES (never here), then from HYBRID_MIN_FEATURES on every core.
    runs.append(lloyd(X, w, init, 60, tol, threads_from=0))
    monkeypatch.setattr(_lloyd, "THREADED_HYBRID_MIN_FEATURES", _lloyd.HYBRID_MIN_FEATURES)
    runs.append(lloyd(X, w, init, 60, tol, threads_from=0))
    for run in runs:
        assert np.array_equal(run[0], bounds_only[0])
        assert np.array_equal(run[2], bounds_only[2])  # the same centre update, to the last bit
        assert run[3] == bounds_only[3]
        assert run[1] == pytest.approx(bounds_only[1], rel=1e-12)
    assert np.array_equal(runs[0][0], _brute_force_labels(X, runs[0][2]))


def test_handing_over_happens_on_unstructured_data_only():
    """The rule hands over on standard-normal data (the bounds prune little) and keeps the bounds
    on well-separated clusters: seen through the kernel's flag."""
    pytest.importorskip("numba")
    from sklearn.datasets import make_blobs

    from kmeans_compress._backend import lloyd_compiled
    from kmeans_compress._lloyd import GIVE_UP

    d = 8
    normal = np.random.default_rng(0).standard_normal((10000, d))
    blobs = make_blobs(10000, centers=16, n_features=d, cluster_std=2.0, random_state=0)[0]
    flags = {}
    for name, X in (("normal", normal), ("blobs", blobs)):
        w = np.ones(len(X))
        init = plusplus_init(X, w, 64, np.random.RandomState(0))
        flags[name] = lloyd_compiled(X, w, init, 100, tolerance(X, w, 1e-4), give_up=GIVE_UP / d)[4]
    assert flags == {"normal": True, "blobs": False}


@pytest.mark.parametrize("kind", ["normal", "blobs"])
def test_walk_turns_into_a_scan_on_unstructured_data_only(monkeypatch, kind):
    """A compiled run that walks out from each point's own centre through the centres' table
    scans every centre instead from the iteration after one whose walks went far: on standard-normal
    data, not on well-separated clusters (seen through the kernel's last value). Either way the
    numpy run's labels, centres to the last bit and iterations, on one thread and on two, and the
    labels a brute-force search's (ties to the lowest index)."""
    pytest.importorskip("numba")
    from sklearn.datasets import make_blobs

    from kmeans_compress import _backend

    n, d, k = 6000, 8, 64
    if kind == "normal":
        X = np.random.default_rng(6).standard_normal((n, d))
    else:
        X = make_blobs(n, centers=16, n_features=d, cluster_std=1.0, random_state=6)[0]
    w = np.random.default_rng(7).integers(1, 4, n).astype(np.float64)
    init = plusplus_init(X, w, k, np.random.default_rng(8))
    tol = tolerance(X, w, 1e-6)
    assert not _backend.scan_centres(n, k)  # the run starts walking
    reference = lloyd(X, w, init, 100, tol, compiled=False)
    module = _backend._load()
    monkeypatch.setattr(_backend, "free_cores", _backend.available_cores)  # every thread, whatever the load
    for min_points in (1 << 62, 0):  # one thread, then every thread
        monkeypatch.setattr(_backend, "PARALLEL_MIN_POINTS", min_points)
        C = init.copy()
        labels = np.empty(n, dtype=np.intp)
        cc, order = _backend.neighbour_table(C, False)
        args = (X, w, C, 100, tol, labels, False, False, cc, order, 0.0)
        inertia, n_iter, handed_over, scanned = _backend._run(module, "_lloyd_kernel", n, *args)
        assert scanned == (kind == "normal") and not handed_over
        assert np.array_equal(labels, reference[0])
        assert np.array_equal(C, reference[2])
        assert n_iter == reference[3] > 3
        assert inertia == pytest.approx(reference[1], rel=1e-12)
    assert np.array_equal(labels, _brute_force_labels(X, C))


@pytest.mark.parametrize("d", [1, 3, 8, 70])
@pytest.mark.parametrize("k", [1, 2, 7, 32, 33, 100])
def test_full_search_equals_brute_force_with_ties(d, k):
    """The compiled full search (blocks of points, the centres transposed, every distance summed over
    the features in order): each point's nearest centre is a brute-force search's (ties to the
    lowest index, with centres repeated and points on a grid), and its nearest and second-nearest
    distances those of a sort. 700 points: chunks of 256 and a partial one; at d = 70 blocks of 56."""
    numba = pytest.importorskip("numba")
    from kmeans_compress import _backend

    rng = np.random.default_rng(k * 10 + d)
    X = rng.integers(0, 4, (700, d)).astype(np.float64)
    C = X[rng.integers(0, len(X), k)] + rng.integers(0, 2, (k, d)) * 0.5
    if k > 3:
        C[-2:] = C[1]  # the same centre three times
    labels = np.empty(len(X), dtype=np.intp)
    upper = np.empty(len(X))
    lower = np.empty(len(X))
    cc, order = _backend.neighbour_table(C, True)
    kernels = _backend._load()
    scratch = kernels._search_scratch(numba.config.NUMBA_NUM_THREADS, d)  # room for every thread numba may start
    kernels._first_assign(X, C, labels, upper, lower, False, cc, order, True, scratch)
    d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    assert np.array_equal(labels, _brute_force_labels(X, C))
    two = np.sort(d2, axis=1)
    np.testing.assert_allclose(upper, np.sqrt(two[:, 0]), rtol=1e-15, atol=0)
    np.testing.assert_allclose(lower, np.sqrt(two[:, 1]) if k > 1 else np.inf, rtol=1e-15, atol=0)


@pytest.mark.parametrize("n, expect_one", [(1 << 16, True), (1000, False)])
def test_numpy_lloyd_keeps_blas_on_one_thread_for_many_points(monkeypatch, n, expect_one):
    """Where OpenBLAS would thread the searches' products (``_backend.narrow_products``), the numpy
    Lloyd run keeps BLAS on one thread (its threads waited on each other on a busy machine); below,
    BLAS keeps its setting, and after the run it has its setting back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from kmeans_compress import _lloyd

    if not [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]:
        pytest.skip("no BLAS library found by threadpoolctl")
    seen: list[int] = []
    search = _lloyd.nearest_two

    def spy(*args, **kwargs):
        seen.extend(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
        return search(*args, **kwargs)

    monkeypatch.setattr(_lloyd, "nearest_two", spy)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 2))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        labels, _, centers, _ = lloyd(X, np.ones(n), X[:8].copy(), max_iter=3, compiled=False)
        after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert seen
    assert all(t == 1 for t in seen) is expect_one
    assert all(t == 2 for t in after)
    # and the labels are still every point's nearest final centre
    assert np.array_equal(labels, np.argmin(((X[:, None, :] - centers[None]) ** 2).sum(-1), axis=1))
