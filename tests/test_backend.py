"""The compiled-or-numpy switch (``_backend.py``): the compiled kernels make the same decisions as the
numpy code they stand in for (same labels and centres on integer data, where distances are exact);
small problems stay on numpy; a slow first load is announced once; a kernel that cannot compile
leaves numpy with one warning.

Compiling every kernel in a runtime-only install (no SciPy) and the kernel cache's fallback
folder are checked in fresh processes by test_runtime_install.py.
"""

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmeans_compress import _backend
from kmeans_compress._lloyd import lloyd, plusplus_init, split_init, split_start

pytestmark = pytest.mark.skipif(not _backend.HAVE_NUMBA, reason="numba not installed")


def _numpy(monkeypatch):
    monkeypatch.setattr(_backend, "MIN_WORK", 1 << 62)


def _compiled(monkeypatch):
    monkeypatch.setattr(_backend, "MIN_WORK", 0)


def _data(seed, n, d, duplicates=False, integer=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 20, size=d) + rng.integers(0, 3, size=(n, 1)) * 15
    if integer:
        X = np.rint(np.abs(X) * 3) % 256
    if duplicates:
        X[n // 2 :] = X[: n - n // 2]
    w = rng.integers(1, 50, size=n).astype(np.float64)
    return X, w


CASES = [
    # seed, n, d, k, duplicates, integer (colour-like grid points with many exact ties)
    (0, 400, 2, 1, False, False),
    (1, 500, 3, 7, False, False),
    (2, 600, 3, 40, True, True),
    (3, 300, 5, 12, False, False),
    (4, 800, 1, 9, True, False),
    (5, 2000, 3, 256, False, True),
]


def _scan(monkeypatch, scan):
    """Make the compiled searches scan every centre (True) or walk out through the sorted table (False)."""
    monkeypatch.setattr(_backend, "SCAN_POINTS_PER_CENTER", (1 << 62) if scan else 0)
    monkeypatch.setattr(_backend, "SCAN_MAX_CENTERS", (1 << 62) if scan else 0)


@pytest.mark.parametrize("seed, n, d, k, dup, integer", CASES)
@pytest.mark.parametrize("tol", [0.0, 1e-3])
@pytest.mark.parametrize("scan", [False, True])
def test_compiled_lloyd_equals_numpy_lloyd(monkeypatch, seed, n, d, k, dup, integer, tol, scan):
    X, w = _data(seed, n, d, dup, integer)
    start = X[np.random.default_rng(seed).choice(n, k, replace=False)]
    _scan(monkeypatch, scan)
    _numpy(monkeypatch)
    ref = lloyd(X, w, start, 300, tol)
    _compiled(monkeypatch)
    got = lloyd(X, w, start, 300, tol)
    np.testing.assert_array_equal(got[0], ref[0])
    assert got[1] == pytest.approx(ref[1], rel=1e-12)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-12, atol=1e-12)
    assert got[3] == ref[3]


def test_compiled_lloyd_reseeds_empty_clusters_like_numpy(monkeypatch):
    # Two starting centres far from every point: their clusters are empty at once.
    X, w = _data(7, 300, 2)
    start = np.vstack([X[:5], [[1e6, 1e6], [-1e6, 1e6]]])
    _numpy(monkeypatch)
    ref = lloyd(X, w, start, 300, 0.0)
    _compiled(monkeypatch)
    got = lloyd(X, w, start, 300, 0.0)
    assert np.isfinite(got[2]).all()
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-12)
    assert len(np.unique(got[0])) == 7


@given(st.integers(0, 10_000), st.integers(1, 30), st.booleans(), st.booleans())
def test_a_label_hint_never_changes_the_result(seed, k, scan_plain, scan_hinted):
    # Nor does scanning every centre instead of walking the sorted table, on either run.
    X, w = _data(seed, 250, 3, integer=True)
    rng = np.random.default_rng(seed)
    start = X[rng.choice(len(X), k, replace=False)] + rng.normal(0, 0.3, (k, 3))
    with pytest.MonkeyPatch.context() as mp:
        _scan(mp, scan_plain)
        plain = _backend.lloyd_compiled(X, w, start, 50, 0.0, compiled=True)
        _scan(mp, scan_hinted)
        hinted = _backend.lloyd_compiled(X, w, start, 50, 0.0, rng.integers(0, k, len(X)), compiled=True)
    np.testing.assert_array_equal(plain[0], hinted[0])
    np.testing.assert_array_equal(plain[2], hinted[2])
    assert plain[1] == hinted[1] and plain[3] == hinted[3]


@pytest.mark.parametrize("seed, n, d, k, dup, integer", CASES)
def test_compiled_split_init_equals_numpy(monkeypatch, seed, n, d, k, dup, integer):
    X, w = _data(seed, n, d, dup, integer)
    _numpy(monkeypatch)
    ref, ref_labels = split_start(X, w, k)
    _compiled(monkeypatch)
    got, labels = split_start(X, w, k)
    assert got.shape == ref.shape
    assert got.tobytes() == ref.tobytes()  # the same sums in the same order: the same bits
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(split_init(X, w, k), got, rtol=0, atol=0)
    # Each centre is the weighted mean of the points labelled with it (an independent check of the labels).
    for j in range(got.shape[0]):
        members = labels == j
        assert members.any()
        np.testing.assert_allclose(got[j], np.average(X[members], axis=0, weights=w[members]), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("top", [255, 256, 300])
def test_compiled_split_init_sorts_byte_coordinates_by_counting_and_others_as_before(monkeypatch, top):
    # Integer coordinates in 0..255 (RGB colours) are ordered by counting, anything else by argsort:
    # the same stable order, so the same centres as the numpy code, on both sides of the boundary.
    rng = np.random.default_rng(top)
    X = rng.integers(0, top + 1, size=(900, 3)).astype(np.float64)
    X[:5] = [[0, 0, 0], [top, top, top], [255, 0, 255], [0, 255, 0], [top, 0, 0]]
    w = rng.integers(1, 9, size=900).astype(np.float64)
    for pts in (X, X + 0.5 * (np.arange(900) % 2 == 0)[:, None]):  # and half-integers: argsort
        _numpy(monkeypatch)
        ref = split_init(pts, w, 24)
        _compiled(monkeypatch)
        np.testing.assert_allclose(split_init(pts, w, 24), ref, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    "seed, n, d, k, dup, integer",
    # the compiled k-means++ runs up to PLUSPLUS_MAX_FEATURES (4) features, and below 3 features from
    # PLUSPLUS_MIN_CENTERS_FEW_FEATURES centres: the last two cases are at those edges
    [
        *CASES,
        (6, 700, _backend.PLUSPLUS_MAX_FEATURES, 20, False, False),
        (7, 900, 2, _backend.PLUSPLUS_MIN_CENTERS_FEW_FEATURES, True, False),
    ],
)
def test_compiled_kmeans_plusplus_equals_numpy(monkeypatch, seed, n, d, k, dup, integer):
    X, w = _data(seed, n, d, dup, integer)
    _numpy(monkeypatch)
    ref = plusplus_init(X, w, k, np.random.default_rng(seed))
    _compiled(monkeypatch)
    got = plusplus_init(X, w, k, np.random.default_rng(seed))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)


def test_small_problems_stay_on_numpy():
    X = np.zeros((100, 3))
    w = np.ones(100)
    C = np.ones((8, 3))
    assert 100 * 8 < _backend.MIN_WORK
    assert _backend.lloyd_compiled(X, w, C, 10, 0.0) is None  # 800 pairs: below MIN_WORK
    assert _backend.split_init_compiled(X, w, 8) is None


def test_kernels_take_a_workers_share_of_the_cores(monkeypatch):
    """Below PARALLEL_MIN_POINTS a kernel runs on one thread; above it on every thread, or on
    the share of the cores set by share_cores (processes running side by side); the caller's
    thread count is restored either way."""
    numba = pytest.importorskip("numba")
    assert _backend._load() is not None
    monkeypatch.setattr(_backend, "free_cores", _backend.available_cores)  # an idle machine
    before = numba.get_num_threads()
    seen = []
    for workers in (None, 1, before, 4 * before):
        if workers is None:
            monkeypatch.setattr(_backend, "max_threads", None)
        else:
            _backend.share_cores(workers)
        for points in (_backend.PARALLEL_MIN_POINTS - 1, _backend.PARALLEL_MIN_POINTS):
            with _backend.one_thread_below(points):
                seen.append((workers, points, numba.get_num_threads()))
            assert numba.get_num_threads() == before
    monkeypatch.setattr(_backend, "max_threads", None)
    cores = _backend.available_cores()
    small, big = _backend.PARALLEL_MIN_POINTS - 1, _backend.PARALLEL_MIN_POINTS
    expected = [
        (None, small, 1),
        (None, big, before),
        (1, small, 1),
        (1, big, min(before, cores)),
        (before, small, 1),
        (before, big, min(before, max(1, cores // before))),
        (4 * before, small, 1),
        (4 * before, big, 1),
    ]
    assert seen == expected
    # Another process busy on all but one core: one thread whatever the size.
    monkeypatch.setattr(_backend, "free_cores", lambda: 1)
    with _backend.one_thread_below(big):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("load", [0.0, 0.4, 1.0, 1.6, 1e9])
def test_free_cores_are_the_cores_less_the_load_of_other_processes(monkeypatch, load):
    monkeypatch.setattr(_backend.os, "getloadavg", lambda: (load, 0.0, 0.0))
    monkeypatch.setattr(_backend, "_running_others", lambda: 1 << 30)  # every other process still running
    monkeypatch.setattr(_backend, "_own_use", [])  # no history: none of the load is this process's
    cores = _backend.available_cores()
    assert _backend.free_cores() == max(1, min(cores, cores - round(load)))
    # Samples of another process (a forked child inherits its parent's): forgotten.
    monkeypatch.setattr(_backend, "_own_use", [(_backend.time.monotonic() - 50.0, -1e9)])
    monkeypatch.setattr(_backend, "_own_pid", -1)
    assert _backend.free_cores() == max(1, min(cores, cores - round(load)))
    assert _backend._own_pid == _backend.os.getpid() and len(_backend._own_use) == 1
    # A process that kept one core busy for the last minute: that part of the load is its own.
    monkeypatch.setattr(_backend, "_own_use", [(_backend.time.monotonic() - 50.0, _backend.time.process_time() - 50.0)])
    assert _backend.free_cores() == max(1, min(cores, cores - round(load - 1.0)))


@pytest.mark.parametrize("running", [0, 1, 3])
def test_free_cores_count_only_the_load_still_running(monkeypatch, running):
    """The load average of the last minute counts processes that have ended: only as many other
    tasks as are running now take cores away (none running: every core, whatever the average)."""
    cores = _backend.available_cores()
    monkeypatch.setattr(_backend, "_own_use", [])
    monkeypatch.setattr(_backend, "_running_others", lambda: running)
    monkeypatch.setattr(_backend.os, "getloadavg", lambda: (2.0, 0.0, 0.0))
    assert _backend.free_cores() == max(1, cores - min(2, running))
    monkeypatch.setattr(_backend.os, "getloadavg", lambda: (0.2, 0.0, 0.0))  # quiet on average: every core
    assert _backend.free_cores() == cores


def test_running_others_reads_the_kernels_count(monkeypatch):
    """On Linux, the running tasks besides the calling thread, from /proc/loadavg's fourth field."""
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("no /proc/loadavg on this system")
    monkeypatch.setattr(_backend, "_running_seen", None)
    with open("/proc/loadavg") as f:
        total = int(f.read().split()[3].split("/")[1])
    others = _backend._running_others()
    assert 0 <= others < total  # this thread is running and not counted
    monkeypatch.setattr(_backend, "_running_seen", (_backend.time.monotonic(), 12345))
    assert _backend._running_others() == 12345  # read again only after 0.1 s


@pytest.mark.parametrize(("states", "others"), [("RS", 3), ("RR", 2), ("RRR", 1), ("SS", 3)])
def test_running_others_leaves_out_this_processs_own_threads(monkeypatch, states, others):
    """4 tasks running on the machine: those of this process in state R (the calling thread, BLAS
    threads spinning after a product) are not others; the calling thread counts as one at least."""
    files = {"/proc/loadavg": b"1.50 1.20 1.00 4/300 4242\n"}
    for tid, state in enumerate(states, start=100):
        files[f"/proc/self/task/{tid}/stat"] = f"{tid} (python (x)) {state} 1 2 3".encode()
    monkeypatch.setattr(_backend, "_read", files.__getitem__)
    monkeypatch.setattr(_backend.os, "listdir", lambda path: [str(t) for t in range(100, 100 + len(states))])
    monkeypatch.setattr(_backend, "_running_seen", None)
    assert _backend._running_others() == others


def test_a_threads_cap_holds_in_its_own_thread_only(monkeypatch):
    import threading

    monkeypatch.setattr(_backend, "free_cores", lambda: 8)
    monkeypatch.setattr(_backend, "max_threads", None)
    assert _backend.thread_limit() == 8
    with _backend.threads_at_most(3):
        assert _backend.thread_limit() == 3
        other: list[int] = []
        t = threading.Thread(target=lambda: other.append(_backend.thread_limit()))
        t.start()
        t.join()
        assert other == [8]
        with _backend.threads_at_most(0):
            assert _backend.thread_limit() == 1
        assert _backend.thread_limit() == 3
    assert _backend.thread_limit() == 8
    monkeypatch.setattr(_backend, "max_threads", 2)  # a worker's share caps it too
    assert _backend.thread_limit() == 2


def test_folder_workers_take_their_share_of_the_cores():
    """Each of -j N worker processes runs its kernels on cores // N threads (at least one), so
    that N workers never start more threads than the machine has cores."""
    from kmeans_compress._parallel import execute

    big = _backend.PARALLEL_MIN_POINTS
    got = [threads for _, threads in execute(_backend._threads, [big, big, big], jobs=2)]
    share = max(1, _backend.available_cores() // 2)
    assert len(got) == 3 and all(t is not None and 1 <= t <= share for t in got)  # 1 if the machine is busy
    assert _backend.max_threads is None  # this process keeps every core


@pytest.mark.parametrize("side,dither,preloads", [(64, True, False), (256, True, True), (256, False, False)])
def test_a_dithered_image_preloads_the_kernels_where_its_diffusion_would_load_them(
    unloaded, tmp_path, side, dither, preloads
):
    from PIL import Image

    from kmeans_compress import _compress

    path = tmp_path / "in.png"
    Image.new("RGB", (side, side)).save(path)
    unloaded.setattr(_backend, "FIRST_LOAD_WORK", 1 << 22)  # the default, whatever the fixture set
    started = []
    unloaded.setattr(_backend, "preload_in_background", lambda: started.append(True))
    _compress._preload_kernels_for(str(path), 16, dither)
    assert bool(started) == preloads
    assert (side * side * _backend.DIFFUSE_LOAD_WORK_PER_PIXEL >= _backend.FIRST_LOAD_WORK) == (side == 256)


def test_folder_workers_load_the_kernels_at_once_only_for_many_files():
    """With many files a worker preloads the kernels as it starts (loading pays); with a few, it
    starts on numpy as any new process (``load_pays`` is False for its first small call)."""
    from kmeans_compress._parallel import PRELOAD_ITEMS_PER_WORKER, execute

    many = [1] * (2 * PRELOAD_ITEMS_PER_WORKER)
    assert all(pays for _, pays in execute(_backend.load_pays, many, jobs=2))
    assert not all(pays for _, pays in execute(_backend.load_pays, [1, 1], jobs=2))


def test_background_preload_changes_nothing_but_timing(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(128, 60, (300, 300, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "in.png"
    Image.fromarray(img).save(path)
    code = (
        "import sys, hashlib\n"
        "from kmeans_compress import _compress, _backend\n"
        "if sys.argv[2] == 'off': _compress._PRELOAD_MIN_WORK = 1 << 62\n"
        "r = _compress.compress(sys.argv[1], 256)\n"
        "print(_backend._preloading is not None, hashlib.sha256(r.to_png_bytes()).hexdigest())\n"
    )
    out = {}
    for mode in ("on", "off"):
        res = subprocess.run([sys.executable, "-c", code, str(path), mode], capture_output=True, text=True, check=True)
        assert res.stderr == ""
        out[mode] = res.stdout.split()
    assert out["on"][0] == "True" and out["off"][0] == "False"
    assert out["on"][1] == out["off"][1]


@given(st.integers(0, 10_000), st.integers(1, 256), st.booleans())
def test_hinted_palette_search_equals_the_full_search(seed, k, scan):
    # Integer colours on a coarse lattice: many exact ties, which must go to the lowest index;
    # walking out from the hint or scanning every entry.
    from kmeans_compress._nearest import nearest_palette

    rng = np.random.default_rng(seed)
    colors = (rng.integers(0, 9, size=(600, 3)) * 32).clip(0, 255).astype(np.uint8)
    palette = np.unique((rng.integers(0, 9, size=(k, 3)) * 32).clip(0, 255).astype(np.uint8), axis=0)
    hint = rng.integers(0, len(palette), size=len(colors))
    ref_labels, ref_d2 = nearest_palette(colors, palette)
    with pytest.MonkeyPatch.context() as mp:
        _scan(mp, scan)
        labels, dist = _backend.nearest_hinted_compiled(colors, palette, hint, compiled=True)
    np.testing.assert_array_equal(labels, ref_labels)
    brute = ((colors[:, None, :].astype(np.int64) - palette[None].astype(np.int64)) ** 2).sum(axis=2)
    np.testing.assert_array_equal(ref_labels, brute.argmin(axis=1))
    np.testing.assert_array_equal(ref_d2, brute.min(axis=1))  # exact integers, through the search's roots
    np.testing.assert_array_equal(dist, np.sqrt(brute.min(axis=1)))


@given(st.integers(0, 10_000), st.integers(2, 256))
def test_a_scan_settles_only_colours_whose_guess_is_strictly_nearest(seed, k):
    """Scanning, a guess settles a colour nearer it than half its distance to any other entry.
    Guesses that are right (many settle), right up to a tie with a lower index (must not settle),
    or the second nearest (must not): every label is brute force's, ties to the lowest index."""
    from kmeans_compress._nearest import nearest_palette

    rng = np.random.default_rng(seed)
    colors = (rng.integers(0, 9, size=(500, 3)) * 32).clip(0, 255).astype(np.uint8)
    palette = np.unique((rng.integers(0, 9, size=(k, 3)) * 32).clip(0, 255).astype(np.uint8), axis=0)
    brute = ((colors[:, None, :].astype(np.int64) - palette[None].astype(np.int64)) ** 2).sum(axis=2)
    want = brute.argmin(axis=1)
    last_tied = np.array([np.flatnonzero(row == row.min())[-1] for row in brute])
    second = np.argsort(brute, axis=1, kind="stable")[:, min(1, len(palette) - 1)]
    with pytest.MonkeyPatch.context() as mp:
        _scan(mp, True)
        for hint in (want, last_tied, second):
            labels, _ = _backend.nearest_hinted_compiled(colors, palette, hint, compiled=True)
            np.testing.assert_array_equal(labels, want)
    np.testing.assert_array_equal(nearest_palette(colors, palette, want)[0], want)


def test_settling_leaves_ties_below_the_normal_range_to_the_search():
    # Squared distances that underflow to zero: the guess (centre 1) is "nearer than half the
    # separation" only through rounding; the full search ties them and takes centre 0.
    C = np.array([[0.0], [3e-162]])
    X = np.array([[1.5e-162]])
    assert _backend.nearest_hinted_compiled(X, C, np.array([1]), compiled=True)[0].tolist() == [0]


@pytest.fixture
def unloaded(monkeypatch):
    """The kernels as in a new process: not loaded yet (restored afterwards)."""
    monkeypatch.setattr(_backend, "_module", None)
    monkeypatch.setattr(_backend, "_failure", None)
    monkeypatch.setattr(_backend, "_preloading", None)
    monkeypatch.setattr(_backend, "slow_load_notice", None)
    monkeypatch.setattr(_backend, "_noticed", False)
    monkeypatch.setattr(_backend, "_numpy_since", None)
    monkeypatch.setattr(_backend, "FIRST_LOAD_WORK", 0)  # these tests are about loading: it pays at once
    return monkeypatch


def test_a_new_process_starts_on_numpy_and_loads_the_kernels_once_they_pay(unloaded):
    unloaded.setattr(_backend, "FIRST_LOAD_WORK", 1 << 20)
    unloaded.setattr(_backend, "FIRST_NUMPY_SECONDS", 3600.0)
    assert not _backend.load_pays(5000) and _backend._numpy_since is not None
    assert not _backend.load_pays((1 << 20) - 1)
    assert _backend._kernels_for(5000, True) is None  # numpy, even where the kernels are asked for
    assert _backend._kernels_for(5000, None, (1 << 20) - 1) is None  # weighed as a larger call: still numpy
    assert _backend._module is None
    assert _backend.load_pays(1 << 20)  # a large call loads them
    unloaded.setattr(_backend, "FIRST_NUMPY_SECONDS", 0.0)
    assert _backend.load_pays(5000)  # as does any call once the numpy time is up
    assert _backend._kernels_for(5000, None) is not None and _backend._module not in (None, False)
    assert _backend.load_pays(1)  # loaded: always
    assert _backend._kernels_for(5000, False) is None


_FIRST_CALLS = """
import hashlib, sys, numpy as np
from kmeans_compress import KMeans, _backend, compress, load_image, sample_image_path
_backend.FIRST_NUMPY_SECONDS = 3600.0  # a slow or busy machine must not reach the time rule
if sys.argv[1] == "loaded":
    _backend._load()
img = load_image(sample_image_path()).pixels[:96, :128]
png = compress(img, 16, random_state=0).to_png_bytes()
X = np.random.default_rng(0).normal(size=(20000, 2))
km = KMeans(8, n_init=2, random_state=0).fit(X)
h = hashlib.sha256(png + km.cluster_centers_.tobytes() + km.labels_.tobytes() + repr(km.inertia_).encode())
print(h.hexdigest(), km.n_iter_, "numba" in sys.modules)
"""


def test_first_small_calls_of_a_process_skip_loading_numba_with_the_same_results():
    # A small image and a small fit in a new interpreter: numba is never imported (half a
    # second saved), and the PNG bytes and the fit are those of a process with the kernels loaded.
    import subprocess
    import sys

    runs = {
        mode: subprocess.run(
            [sys.executable, "-c", _FIRST_CALLS, mode], capture_output=True, text=True, check=True
        ).stdout.split()
        for mode in ("new", "loaded")
    }
    assert runs["new"][2] == "False" and runs["loaded"][2] == "True"
    assert runs["new"][:2] == runs["loaded"][:2]


@pytest.mark.parametrize("quiet", [False, True])
def test_cli_says_once_that_it_compiles_when_loading_is_slow(unloaded, tmp_path, capsys, quiet):
    import time

    from kmeans_compress import cli, sample_image_path

    real_import = _backend._import_kernels

    def slow_import():  # as numba compiling on a new install
        time.sleep(0.6)
        return real_import()

    unloaded.setattr(_backend, "_import_kernels", slow_import)
    unloaded.setattr(_backend, "NOTICE_AFTER", 0.1)
    unloaded.setattr(_backend, "MIN_WORK", 0)
    argv = [str(sample_image_path()), "-k", "16", "-o", str(tmp_path / "out.png")] + (["-q"] if quiet else [])
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("note: compiling the fast kernels") == (0 if quiet else 1), err
    assert _backend._module not in (None, False)


def test_cli_says_nothing_when_loading_is_quick(unloaded, tmp_path, capsys):
    from kmeans_compress import cli, sample_image_path

    unloaded.setattr(_backend, "NOTICE_AFTER", 30.0)
    unloaded.setattr(_backend, "MIN_WORK", 0)
    assert cli.main([str(sample_image_path()), "-k", "16", "-o", str(tmp_path / "out.png")]) == 0
    assert "note: compiling" not in capsys.readouterr().err


def test_a_kernel_that_cannot_compile_leaves_numpy_with_one_warning(unloaded):
    # (The SciPy crash of a fresh install would have been a slower run, not a traceback.)
    import types

    import numpy as np

    from kmeans_compress import KMeans

    def broken(*args, **kwargs):
        raise ImportError("scipy 0.16+ is required for linear algebra")

    broken_module = types.SimpleNamespace(warm_up=broken, _kmeans_plusplus_kernel=broken, _lloyd_kernel=broken)
    unloaded.setattr(_backend, "_import_kernels", lambda: broken_module)
    unloaded.setattr(_backend, "_ready", set())
    unloaded.setattr(_backend, "MIN_WORK", 0)
    assert _backend._load(quiet=True, warm=True) is None  # a loading thread: nobody to tell yet
    X = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.warns(RuntimeWarning, match="running on numpy.*scipy 0.16"):
        km = KMeans(3, random_state=0, n_init=1).fit(X)
    d2 = ((X[:, None] - km.cluster_centers_[None]) ** 2).sum(-1)
    assert np.array_equal(km.labels_, d2.argmin(1))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeans(3, random_state=0, n_init=1).fit(X)  # said once only


def test_a_kernel_that_fails_on_its_first_call_leaves_numpy_with_one_warning(unloaded):
    # Each kernel loads on its first call: a failure there (not at import) is caught the same way.
    import types
    import warnings

    import numpy as np

    from kmeans_compress import KMeans

    def broken(*args):
        raise RuntimeError("cannot compile this kernel here")

    # 3 features: the tolerance's variance, then k-means++, are the first kernels called
    kernels = types.SimpleNamespace(_variance_kernel=broken, _kmeans_plusplus_kernel=broken)
    unloaded.setattr(_backend, "_import_kernels", lambda: kernels)
    unloaded.setattr(_backend, "_ready", set())
    unloaded.setattr(_backend, "MIN_WORK", 0)
    X = np.random.default_rng(1).normal(size=(300, 3))
    with pytest.warns(RuntimeWarning, match="running on numpy.*cannot compile"):
        km = KMeans(4, random_state=0, n_init=1).fit(X)
    d2 = ((X[:, None] - km.cluster_centers_[None]) ** 2).sum(-1)
    assert np.array_equal(km.labels_, d2.argmin(1))
    assert _backend._module is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeans(4, random_state=0, n_init=1).fit(X)  # said once only


def test_scipy_is_hidden_from_the_loading_thread_only():
    # numba's array module imports SciPy to look for BLAS, which the kernels never use: the
    # thread loading them is refused SciPy, any other thread of the process gets it.
    import threading

    hide = _backend._HideScipy()
    with pytest.raises(ImportError, match="not needed"):
        hide.find_spec("scipy.linalg.cython_blas")
    assert hide.find_spec("numpy") is None
    seen = []
    other = threading.Thread(target=lambda: seen.append(hide.find_spec("scipy")))
    other.start()
    other.join()
    assert seen == [None]


def test_scipy_imports_as_usual_after_the_kernels_loaded(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("scipy")
    code = (
        "import numpy as np, sys\n"
        "from kmeans_compress import _backend\n"
        "_backend._load()\n"
        "X = np.arange(30.0).reshape(10, 3)\n"
        "assert _backend.lloyd_compiled(X, np.ones(10), X[:2].copy(), 5, 0.0, compiled=True) is not None\n"
        "assert 'scipy' not in sys.modules\n"
        "import scipy.linalg\n"
        "print(scipy.linalg.norm(np.ones(4)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "2.0"


def test_one_blas_thread_is_shared_by_threads_and_lifted_by_the_last(monkeypatch):
    """Threads that enter ``one_blas_thread`` interleaved (A in, B in, A out, B out) keep BLAS on one
    thread until the last leaves, and then BLAS has its own setting back. (threadpoolctl's own
    contexts, interleaved so, restore each other's settings: B ran on BLAS's threads, and BLAS could
    stay on one thread for good.) The BLAS here is a stand-in that records its setting: OpenBLAS
    itself ignored settings made from other threads after the main thread had made one."""
    import threading

    class Blas:
        threads = 4

        def limit(self, limits, user_api):
            assert user_api == "blas"
            before, self.threads = self.threads, limits
            blas = self

            class Limit:
                def restore_original_limits(self):
                    blas.threads = before

            return Limit()

    blas = Blas()
    monkeypatch.setattr(_backend, "_blas_controller", blas)
    steps = [threading.Event() for _ in range(4)]
    seen: dict[str, int] = {}

    def a() -> None:
        with _backend.one_blas_thread():
            seen["A inside"] = blas.threads
            steps[0].set()
            steps[1].wait(10)
        steps[2].set()

    def b() -> None:
        steps[0].wait(10)
        with _backend.one_blas_thread():
            steps[1].set()
            steps[2].wait(10)
            seen["B alone inside"] = blas.threads
        steps[3].set()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert all(e.is_set() for e in steps)
    assert seen == {"A inside": 1, "B alone inside": 1}
    assert blas.threads == 4
    assert _backend._blas_users == 0
