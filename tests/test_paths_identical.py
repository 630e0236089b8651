"""The numpy code and the compiled kernels give the same results to the last bit, whole runs.

Which of the two runs a call may depend on the process (the kernels load only once they pay,
:mod:`kmeans_compress._backend`), so they must agree exactly, not within a tolerance: labels,
centres, inertia and iterations of a fit, the palette and index map of an image. Near ties are
where they once drifted: the numpy search picked between two centres by the expanded distance,
the kernels by explicit differences; and the inertia was summed in different orders.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import make_blobs

from kmeans_compress import KMeans, _backend, _lloyd
from kmeans_compress._lloyd import center_shift, inertia_in_order, lloyd, tolerance
from kmeans_compress._nearest import exact_nearest_centers, nearest_two, squares_in_order
from kmeans_compress._quantize import quantize_image

pytestmark = pytest.mark.skipif(not _backend.HAVE_NUMBA, reason="numba not installed")


def _on(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "compiled":
        _backend._load()
        monkeypatch.setattr(_backend, "MIN_WORK", 0)
    else:
        monkeypatch.setattr(_backend, "MIN_WORK", 1 << 62)


def _both(fn, monkeypatch):
    out = {}
    for path in ("numpy", "compiled"):
        with monkeypatch.context() as m:
            _on(path, m)
            out[path] = fn()
    return out["numpy"], out["compiled"]


DATA = [
    ("blobs", 2, 8),
    ("normal", 2, 8),
    ("normal", 3, 64),  # the inertia once differed here (einsum's order over the features)
    ("blobs", 8, 64),
    ("normal", 8, 8),
    ("normal", 32, 8),
]


@pytest.mark.parametrize("kind,d,k", DATA)
def test_kmeans_fit_identical_on_both_paths(kind, d, k, monkeypatch):
    rng = np.random.default_rng(d * k)
    X = make_blobs(6000, d, centers=k, random_state=0)[0] if kind == "blobs" else rng.standard_normal((6000, d))

    def fit():
        km = KMeans(k, n_init=2, random_state=0).fit(X)
        return km.labels_, km.cluster_centers_, km.inertia_, km.n_iter_

    a, b = _both(fit, monkeypatch)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    assert a[2] == b[2] and a[3] == b[3]


@pytest.mark.parametrize("k", [2, 16, 64, 256])
@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_photo_quantized_identically_on_both_paths(photo, k, space, monkeypatch):
    def q():
        r = quantize_image(photo, k, space=space, random_state=1)
        return r.palette, r.indices

    a, b = _both(q, monkeypatch)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@given(
    st.integers(1, 6).flatmap(
        lambda d: st.tuples(
            st.just(d),
            st.lists(st.integers(-4, 4), min_size=d * 40, max_size=d * 40),
            st.lists(st.integers(-4, 4), min_size=d * 5, max_size=d * 5),
        )
    ),
    st.sampled_from([1.0, 0.1, 1e-3]),
)
def test_nearest_two_is_exact_with_near_ties(data, scale):
    """Points and centres on a coarse grid (scaled, so products round): many exact and near ties.
    The labels are those of explicit differences, ties to the lowest index."""
    d, xs, cs = data
    X = np.array(xs, dtype=np.float64).reshape(40, d) * scale + 1000.0 * scale
    C = np.array(cs, dtype=np.float64).reshape(5, d) * scale + 1000.0 * scale
    labels, d1, d2 = nearest_two(X, C)
    assert np.array_equal(labels, exact_nearest_centers(X, C))
    brute = ((X[:, None, :] - C[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(d1, brute[np.arange(40), labels], rtol=1e-9, atol=1e-6 * scale * scale)


def test_reseeding_identical_on_both_paths(monkeypatch):
    """A cluster that gives its only point to an empty one keeps its old centre on both paths
    (the kernel once re-seeded it too: other labels and iterations than numpy's and scikit-learn's)."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.uniform(0, 1, 200), rng.uniform(9, 10, 199), [20.0]])[:, None]

    def fit():
        km = KMeans(3, init=np.array([[-100.0], [1.0], [30.0]]), n_init=1).fit(X)
        return km.labels_, km.cluster_centers_, km.inertia_, km.n_iter_

    a, b = _both(fit, monkeypatch)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    assert np.bincount(a[0]).tolist() == [1, 199, 200]


def test_hartigan_moves_identical_on_both_paths():
    """Hartigan's moves, numpy against the kernel, to the last bit: integer data full of ties,
    duplicates and zero weights, colours mostly of weight 1, and float data whose running sums round (the means are
    recomputed from sums changed move by move, on both paths in the same order)."""
    _backend._load()
    rng = np.random.default_rng(5)
    for trial in range(300):
        d = int(rng.choice([1, 2, 3, 4]))
        n = int(rng.integers(3, 120))
        k = int(rng.integers(2, min(n, 40) + 1))
        if trial % 3 == 2:  # a small image's histogram: most colours held by one pixel (the kernel's own branch)
            X = rng.integers(0, 256, (n, d)).astype(np.float64)
            w = np.where(rng.random(n) < 0.8, 1.0, rng.integers(2, 5, n).astype(np.float64))
        elif trial % 2:
            X = rng.integers(0, 5, (n, d)).astype(np.float64)
            w = rng.integers(0, 4, n).astype(np.float64)
        else:
            X = rng.standard_normal((n, d)) * 10.0
            w = rng.random(n) * 3.0
        labels = rng.integers(0, k, n)
        C0 = rng.standard_normal((k, d))
        passes = int(rng.integers(1, 5))
        a = _lloyd.hartigan_moves(X, w, C0, labels, passes, compiled=False)
        b = _lloyd.hartigan_moves(X, w, C0, labels, passes, compiled=True)
        assert a[2] == b[2] and np.array_equal(a[1], b[1]), trial
        assert a[0].tobytes() == b[0].tobytes(), trial


def test_split_start_identical_on_both_paths():
    """The split start, numpy against the kernel, to the last bit, on float coordinates (a colour
    space other than RGB) of every scale, rounded ones full of ties, and zero weights: the kernel
    adds every cluster's totals in the order of its first coordinate, and numpy once did not (416
    of these 600 differed; 16 more by the sign of a zero). A quarter ask for more clusters than 20,
    up to more than the points: the kernel picks the next cut from a heap (largest gain, ties to the
    lowest cluster), numpy by ``argmax`` over every plan."""
    _backend._load()
    rng = np.random.default_rng(3)
    for trial in range(600):
        d = int(rng.choice([1, 2, 3, 3, 3, 4]))
        n = int(rng.integers(2, 200))
        k = int(rng.integers(1, 20)) if trial % 4 else int(rng.integers(20, 2 * n + 21))  # many cuts: the kernel's heap
        X = rng.normal(size=(n, d)) * 10.0 ** rng.integers(-3, 4)
        if trial % 2:
            X = np.round(X)
        w = rng.random(n) * rng.integers(0, 2, n) + (trial % 3 == 0)
        if w.sum() == 0:
            w[0] = 1.0
        a = _lloyd.split_start(X, w, k, False)
        b = _lloyd.split_start(X, w, k, True)
        assert a[0].tobytes() == b[0].tobytes() and np.array_equal(a[1], b[1]), trial


@pytest.mark.parametrize("compiled", [False, True])
def test_split_start_cuts_the_lower_cluster_of_two_equal_gains(compiled):
    """Two copies of the same four points, 100 apart: the first cut separates them, and cutting
    either copy then removes exactly the same error (integers: 5 -> 1). The lower cluster (the
    first copy, cluster 0) is cut first, its right half becoming cluster 2: worked out by hand."""
    if compiled:
        _backend._load()
    X = np.array([[0.0], [1.0], [2.0], [3.0], [100.0], [101.0], [102.0], [103.0]])
    centers, labels = _lloyd.split_start(X, np.ones(8), 3, compiled)
    assert centers.ravel().tolist() == [0.5, 101.5, 2.5]
    assert labels.tolist() == [0, 0, 2, 2, 1, 1, 1, 1]


def test_handed_over_runs_with_duplicates_ties_and_empty_clusters(monkeypatch):
    """Small runs full of duplicate points, zero weights, coinciding centres and empty clusters,
    handed over to the kernels after every iteration: each ends as the run on numpy alone (a
    handed-over run once missed a strict convergence after a re-seeding, and bounds kept a tied
    point on a higher index where a fresh search takes the lowest)."""
    _backend._load()
    rng = np.random.default_rng(123)
    for _ in range(150):
        d = int(rng.choice([1, 2, 3, 6]))
        n = int(rng.integers(3, 40))
        k = int(rng.integers(1, min(n, 10) + 1))
        X = rng.integers(0, 4, (n, d)).astype(np.float64)
        w = rng.integers(0, 3, n).astype(np.float64)
        w[0] = max(w[0], 1.0)
        C0 = X[rng.choice(n, k, replace=False)] + rng.integers(-1, 2, (k, d)) * 0.5
        tol = float(rng.choice([0.0, 0.05]))
        max_iter = int(rng.choice([2, 3, 300]))
        with monkeypatch.context() as m:
            m.setattr(_backend, "MIN_WORK", 1 << 62)
            ref = lloyd(X, w, C0, max_iter, tol)
        for after in range(1, ref[3] + 1):
            asked: list[int] = []

            def pays(work, asked=asked, after=after):
                return len(asked) > after or bool(asked.append(1))

            with monkeypatch.context() as m:
                m.setattr(_backend, "MIN_WORK", 0)
                m.setattr(_backend, "load_pays", pays)
                got = lloyd(X, w, C0, max_iter, tol, compiled=True if d <= 3 else None)
            assert np.array_equal(got[0], ref[0]) and np.array_equal(got[2], ref[2]), (X.tolist(), C0.tolist(), after)
            assert got[1] == ref[1] and got[3] == ref[3]


def test_a_centre_an_ulp_away_does_not_keep_a_point_on_numpy(monkeypatch):
    """Three centres equal to 0.1 within an ulp, re-seeded every iteration: the numpy bounds once
    took a tiny distance from the expansion as 0 (an upper bound below the true distance) and kept
    the points of 0.1 on the centre an ulp away when another reached 0.1 exactly; the kernels moved
    them. Both paths now compute that distance by explicit differences."""
    X = np.array([0, 0, 1, 0, 1, 2, 2, 2, 2, 2, 0, 0, 0, 3, 1, 3, 0, 1, 0, 1, 0, 1], dtype=np.float64)[:, None] * 0.1
    X[X == 0.1 * 3] = 0.30000000000000004
    w = np.array([0, 2, 1, 2, 2, 0, 2, 0, 0, 2, 1, 0, 2, 2, 2, 2, 0, 2, 0, 2, 0, 1], dtype=np.float64)
    C0 = np.array([[0.5], [0.2], [-0.4], [-0.5], [0.5], [0.5]])
    for max_iter in (7, 300):

        def run(max_iter=max_iter):
            return lloyd(X, w, C0, max_iter, 0.0, compiled=None if _backend.MIN_WORK else True)

        a, b = _both(run, monkeypatch)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2]) and a[1] == b[1] and a[3] == b[3]
        brute = ((X - a[2].T) ** 2).argmin(axis=1)
        if max_iter == 7:
            assert np.array_equal(a[0], brute)


def test_inertia_in_order_is_the_sequential_sum():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((70_000, 3)) * 1e3
    C = rng.standard_normal((9, 3))
    w = rng.uniform(0.1, 3.0, 70_000)
    labels = rng.integers(0, 9, 70_000)
    total = 0.0
    for i in range(0, 70_000, 7):  # the sequential sum, written out, on every 7th point
        t = X[i] - C[labels[i]]
        total += w[i] * ((t[0] * t[0] + t[1] * t[1]) + t[2] * t[2])
    sub = slice(0, 70_000, 7)
    assert inertia_in_order(X[sub], w[sub], C, labels[sub]) == total


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8, 33, 128])
def test_squares_in_order_adds_the_features_in_order(d):
    """On values of very different sizes, where any other order of the additions shows."""
    rng = np.random.default_rng(d)
    diff = rng.standard_normal((3, 40, d)) * 10.0 ** rng.uniform(-6, 6, (1, 1, d))
    total = diff[..., 0] * diff[..., 0]
    for f in range(1, d):
        total = total + diff[..., f] * diff[..., f]
    assert np.array_equal(squares_in_order(diff), total)
    assert np.array_equal(squares_in_order(diff[0]), total[0])
    assert np.array_equal(squares_in_order(diff[0, :1]), total[0, :1])  # one row: numpy would add it pairwise
    assert np.array_equal(squares_in_order(diff[0, 0]), total[0, 0])


@pytest.mark.parametrize("d", [1, 3, 8, 37, 128])
def test_inertia_identical_on_both_paths(d, monkeypatch):
    rng = np.random.default_rng(d)
    X = rng.standard_normal((5000, d)) * 10.0 ** rng.uniform(-3, 3, d)
    C = rng.standard_normal((7, d))
    w = rng.uniform(0.5, 2.0, 5000)
    labels = rng.integers(0, 7, 5000)

    def inertia():
        return inertia_in_order(X, w, C, labels)

    a, b = _both(inertia, monkeypatch)
    assert a == b and _backend.inertia_compiled(X, w, C, labels) == b


@pytest.mark.parametrize("d", [1, 2, 3, 8, 128])
def test_center_shift_is_the_kernels_sequential_sum(d):
    """The tolerance test must stop a run after the same iteration on every path: the shift is
    summed feature by feature, then centre by centre, as the kernel sums it (``np.sum`` adds
    pairwise and differs in the last bit on most of these)."""
    rng = np.random.default_rng(d)
    for _ in range(20):
        old = rng.standard_normal((64, d)) * rng.uniform(0.1, 100)
        new = old + rng.standard_normal((64, d)) * 1e-3
        total = 0.0
        for j in range(64):
            dj = 0.0
            for f in range(d):
                t = new[j, f] - old[j, f]
                dj += t * t
            total += dj
        assert center_shift(new, old) == total


def test_lloyd_handed_to_the_kernels_mid_run_is_the_same_run(monkeypatch):
    """A numpy run (the kernels not loaded yet) that hands over to them after any iteration
    (:func:`kmeans_compress._backend.load_pays` says yes from then on) ends as the whole run does:
    same labels, centres, inertia and iterations."""
    _backend._load()
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3000, 2))
    w = np.ones(3000)
    C0 = X[:16].copy()
    tol = tolerance(X, w, 1e-4)
    ref = lloyd(X, w, C0, 300, tol, compiled=False)
    assert ref[3] > 5
    for after in range(1, ref[3] + 2):
        asked = []

        def pays(work, after=after, asked=asked):
            asked.append(work)
            return len(asked) > after  # the first call (the run's start) and then each iteration

        ran = []

        def kernels(*args, ran=ran, **kwargs):
            out = _backend.lloyd_compiled(*args, **kwargs)
            ran.append(out is not None)
            return out

        monkeypatch.setattr(_backend, "load_pays", pays)
        monkeypatch.setattr(_lloyd, "lloyd_compiled", kernels)
        got = lloyd(X, w, C0, 300, tol)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[2], ref[2])
        assert got[1] == ref[1] and got[3] == ref[3]
        # Numpy first, then the kernels from iteration ``after + 1`` (if the run got that far).
        assert ran == ([False, True] if after < ref[3] else [False])


@given(
    n=st.integers(1, 400),
    d=st.integers(1, 9),
    offset=st.sampled_from([0.0, 1e-3, 1e4, -1e8]),
    seed=st.integers(0, 2**32 - 1),
)
def test_tolerance_identical_on_both_paths(n, d, offset, seed):
    """The tolerance's mean weighted variance: the kernel adds in index order as numpy's cumsums
    do, to the bit; and it is the variance, computed independently, to rounding."""
    _backend._load()
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-3, 5, (n, 1)) + offset
    w = rng.random(n) * 10.0 ** rng.uniform(-2, 2, n)
    a = tolerance(X, w, 1e-4, compiled=False)
    b = tolerance(X, w, 1e-4, compiled=True)
    assert a == b
    var = np.average((X - np.average(X, axis=0, weights=w)) ** 2, axis=0, weights=w).mean()
    assert a == pytest.approx(var * 1e-4, rel=1e-6, abs=1e-10 * float(np.mean(X * X)) * 1e-4)
