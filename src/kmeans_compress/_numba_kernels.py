"""numba kernels, compiled on first use and cached beside the module.

Stage: the compiled twins of the k-means workers, of the hinted nearest-entry
search and of the error diffusion of :mod:`kmeans_compress._remap`. In/out: as
the numpy functions they replace (see :mod:`._backend`).

Imported only through :mod:`kmeans_compress._backend`, and only for problems
large enough to repay loading numba. Each kernel does what a numpy function of
:mod:`kmeans_compress._lloyd` or :mod:`kmeans_compress._nearest` does (same
decisions, same order of summation wherever it matters), so the two paths agree;
the tests compare them.

Threads: the per-point loops of an assignment run in parallel (``prange``);
every point's result is its own, so the output does not depend on the number
of threads. Sums over points (centre updates, potentials) stay serial, except
where every term is an integer (colour histograms): such sums are exact in any
order, and a Lloyd run then keeps them up to date by the moves its threads record.
"""

import numba
import numpy as np
from numba import njit, prange

# ----------------------------------------------------------------------------- whole Lloyd runs


@njit(cache=True, nogil=True, inline="always")
def _dist2(X, i, C, j):  # pragma: no cover - compiled
    """Squared distance between ``X[i]`` and ``C[j]``, summed over features in order
    (written out for colours, d = 3: same sum, no loop)."""
    if X.shape[1] == 3:
        t0 = X[i, 0] - C[j, 0]
        t1 = X[i, 1] - C[j, 1]
        t2 = X[i, 2] - C[j, 2]
        return t0 * t0 + t1 * t1 + t2 * t2
    s = 0.0
    for f in range(X.shape[1]):
        t = X[i, f] - C[j, f]
        s += t * t
    return s


# A Lloyd run that walks out from each point's own centre (:func:`_sorted_search`) scans every
# centre instead (:func:`_block_search`, same labels) from the iteration after one that computed
# more than this share of a full search's ``n K`` distances: a vector scan costs about a third of
# a walk's visit per distance. Shares seen (bench_kmeans data, n = 10,000, scikit-learn's start,
# per iteration): standard normal d = 8, K = 64 0.82 down to 0.2, K = 256 0.47 to 0.2; d = 5,
# K = 32 0.46 to 0.13; make_blobs (16 centres) and colours under 0.13. Fits, ms, walking / scanning
# / this rule: normal d = 8, K = 32 44.5 / 23.7 / 30.8, K = 64 79.9 / 39.1 / 40.8, K = 256
# 123 / 67 / 72; blobs d = 8, K = 64 17.0 / 23.4 / 12.9, K = 256 34.8 / 44.9 / 33.8 (load about 1).
_SCAN_SHARE = 0.35


# Full searches are made for blocks of points at once (:func:`_block_search`): the points' features
# are gathered into the rows of a (d, B) block and each centre's distances are summed for the B
# points together, feature by feature, in vector registers. Each point's distance is still its
# features' sum in order (:func:`_dist2`'s), and the tests compare the labels with a brute-force
# search's. One core, 10,000 standard-normal points, ns a point, one at a time / blocks of 64:
# d = 2, K = 8 31 / 6.5; d = 8, K = 8 56 / 12; d = 8, K = 64 158-250 / 69; d = 32, K = 8 147 / 42.
_BLOCK_FLOATS = 4096  # a block's features, d x B, at most: 32 KiB, the first-level cache
# Points a parallel loop gives a thread at a time; its points that need a full search wait for
# the end of the chunk, to be searched in blocks.
_CHUNK = 256


@njit(cache=True, nogil=True)
def _search_scratch(threads, d):  # pragma: no cover - compiled
    """Each thread's room for :func:`_block_search`: the points waiting (``_CHUNK``), their
    features (d, B), and B distances, nearest and second nearest distances, and labels. Separate
    arrays, not rows of one: the compiler then keeps the selection's loop in vector registers
    (d = 8, K = 64: 80 against 142 ns a point)."""
    b = max(8, min(64, _BLOCK_FLOATS // max(d, 1) // 8 * 8))
    return (
        np.empty((threads, _CHUNK), dtype=np.intp),
        np.empty((threads, d, b)),
        np.empty((threads, b)),
        np.empty((threads, b)),
        np.empty((threads, b)),
        np.empty((threads, b), dtype=np.intp),
    )


@njit(cache=True, nogil=True)
def _block_search(X, pts, start, m, Ct, xb, acc, b1, b2, lab):  # pragma: no cover - compiled
    """A full search of the ``m`` points ``pts[start:start + m]`` (``m`` at most the block's B), its
    centres transposed in ``Ct`` (d, K): ``lab[p]``, ``b1[p]`` and ``b2[p]`` receive point ``p``'s
    nearest centre (ties: the lowest index), its squared distance and the second smallest; ``xb``
    (d, B) and ``acc`` (B) are scratch."""
    d = Ct.shape[0]
    for p in range(m):
        i = pts[start + p]
        for q in range(d):
            xb[q, p] = X[i, q]
    for p in range(m):
        b1[p] = np.inf
        b2[p] = np.inf
        lab[p] = 0
    for j in range(Ct.shape[1]):
        c0 = Ct[0, j]
        x0 = xb[0]
        for p in range(m):
            t = x0[p] - c0
            acc[p] = t * t
        for q in range(1, d):
            cq = Ct[q, j]
            xq = xb[q]
            for p in range(m):
                t = xq[p] - cq
                acc[p] += t * t
        for p in range(m):  # branch-free, so that it runs in vector registers too
            v = acc[p]
            o1 = b1[p]
            b2[p] = min(b2[p], max(v, o1))
            b1[p] = min(v, o1)
            lab[p] = j if v < o1 else lab[p]


@njit(cache=True, nogil=True)
def _transpose_into(C, Ct):  # pragma: no cover - compiled
    """``Ct[:] = C.T`` (the centres as :func:`_block_search` reads them)."""
    for j in range(C.shape[0]):
        for q in range(C.shape[1]):
            Ct[q, j] = C[j, q]


@njit(cache=True, nogil=True)
def _center_row(C, j, cc):  # pragma: no cover - compiled
    """Row ``j`` of the distances between centres: ``cc[j, q] = |C[j] - C[q]|``, summed over features in order."""
    for q in range(C.shape[0]):
        cc[j, q] = np.sqrt(_dist2(C, j, C, q))


@njit(cache=True, nogil=True)
def _center_distances(C, cc):  # pragma: no cover - compiled
    """Every distance between centres into ``cc`` (K, K), on this thread (:func:`_center_row`)."""
    for j in range(C.shape[0]):
        _center_row(C, j, cc)


@njit(cache=True, nogil=True, parallel=True)
def _center_neighbours(C, cc, order, s):  # pragma: no cover - compiled
    """Distances between centres ``cc``, each centre's others nearest first (``order``)
    and half the distance to the nearest other (Hamerly's ``s``).

    ``order`` comes in holding an earlier order (the previous iteration's, or the
    starting centres' from ``_backend.neighbour_table``), which is nearly sorted
    already because centres move little: insertion sort repairs it in about one pass.
    """
    k = C.shape[0]
    for j in prange(k):
        _center_row(C, j, cc)
    for j in prange(k):
        row = order[j]
        key = cc[j]
        for q in range(1, k):
            v = row[q]
            kv = key[v]
            p = q
            while p > 0 and key[row[p - 1]] > kv:
                row[p] = row[p - 1]
                p -= 1
            row[p] = v
        s[j] = 0.5 * key[row[1]] if k > 1 else np.inf


# The walk's stopping test compares square roots: a hair of slack so that a centre
# exactly as far as the best one (a tie, common among integer colours) is still
# visited and the lowest index wins, as in a full search.
_REACH_SLACK = 1.0 + 1e-9

# Up to this many features (colours: 3), an assignment computes every point's distance to its own
# centre instead of first testing a loosened upper bound, and tightens the lower bounds by the moves
# of each centre's neighbours (:func:`_near_moves`). In a colour fit's late iterations 15-25 % of the
# points failed the upper bound's test, in no predictable order: the mispredicted branch cost more
# than the distance (3 multiply-adds). On general data, Lloyd from k-means++ on 100,000 points, one
# core, CPU time against the kernel before, median of 5, same labels (load 1.7-2.1): d = 2,
# make_blobs and standard normal, K = 8, 64, 256: 0.86-0.88x but one 1.12x, in sum 0.93x; d = 3:
# 0.77-0.98x, in sum 0.86x; d = 4: 0.85-1.31x, in sum 1.07x, so 4 features (RGBA) stay as they were,
# and so does every problem of 5 features and more, whose runs may hand over to matrix products
# by the distances counted (``_lloyd.HYBRID_MIN_FEATURES``).
_COLOUR_MAX_FEATURES = 3
# Levels of :func:`_near_moves`: the largest move among each centre's nearest 2, 4, 8 and 16 others.
# Fine stage of the photo path on one core, against 2 and 6 levels (2, 4, ... and 2, 4, ..., 64):
# 2 levels 1.11x the time, 6 levels 1.07x (motorcycle left/right and china at K = 256, motorcycle
# and astronaut at K = 64, median of 7, load 1.8-2.7); starting at 1 or 3 neighbours: 1.04x, 1.02x.
_NEAR_LEVELS = 4


@njit(cache=True, nogil=True, inline="always")
def _sorted_search(X, i, C, a, u2, cc, order):  # pragma: no cover - compiled
    """Nearest and second-nearest centre of point ``i`` whose squared distance to centre ``a`` is ``u2``.

    The others are visited nearest to ``a`` first; a centre ``j`` is at least
    ``cc[a, j] - u`` from the point, so the walk stops once that exceeds the
    second-best distance found. Returns (label, nearest, second) as distances, and how many
    centres were visited; ties go to the lowest index, as in a full search (which the searches
    that ``scan`` make instead: :func:`_block_search`; ``_backend.scan_centres`` decides).
    """
    visits = 1
    lab = a
    u = np.sqrt(u2)
    b1 = u2
    b2 = np.inf
    reach = np.inf  # u + second-best distance: centres farther than this from ``a`` cannot matter
    for q in range(C.shape[0]):
        j = order[a, q]
        if j == a:
            continue
        if cc[a, j] > reach * _REACH_SLACK:
            break
        visits += 1
        d = _dist2(X, i, C, j)
        if d < b1 or (d == b1 and j < lab):
            b2 = b1
            b1 = d
            lab = j
        elif d < b2:
            b2 = d
        else:
            continue
        reach = u + np.sqrt(b2)
    return lab, np.sqrt(b1), np.sqrt(b2), visits


@njit(cache=True, nogil=True)
def _near_moves(cc, order, delta, Mq, Rq):  # pragma: no cover - compiled
    """For every centre ``a`` and level ``l``: the largest move (``delta``) among its ``q = 2^(l+1)``
    nearest others into ``Mq[a, l]``, and the distance to its next nearest into ``Rq[a, l]`` (inf
    when there are no more), from the table ``cc``, ``order`` of the centres as they are now.

    A point of centre ``a`` at most ``u`` from it, and at least ``l`` from every other centre
    before they moved, is now at least ``l - Mq[a, l]`` from those ``q`` centres, and at least
    ``Rq[a, l] - u`` from the rest (triangle inequality): the smaller of the two is a lower bound
    for all of them, often far above Hamerly's ``l - max(delta)``, since the largest of K moves
    is seldom a neighbour's.
    """
    k = cc.shape[0]
    levels = Mq.shape[1]
    if levels == 0:
        return
    for a in range(k):
        m = 0.0
        lev = 0
        q_l = 2
        cnt = 0
        for q in range(k):
            j = order[a, q]
            if j == a:
                continue
            if cnt == q_l:
                Mq[a, lev] = m
                Rq[a, lev] = cc[a, j]
                lev += 1
                q_l *= 2
                if lev == levels:
                    break
            cnt += 1
            if delta[j] > m:
                m = delta[j]
        while lev < levels:
            Mq[a, lev] = m
            Rq[a, lev] = np.inf
            lev += 1


@njit(cache=True, nogil=True, inline="always")
def _moved(X, w, i, a, lab, dsum, dw):  # pragma: no cover - compiled
    """Record in this thread's rows of ``dw`` and ``dsum`` (unless empty) that point ``i`` moved from
    cluster ``a`` to ``lab`` (:func:`_apply_moves`)."""
    if dw.shape[0]:
        tid = numba.get_thread_id()
        dw[tid, a] -= w[i]
        dw[tid, lab] += w[i]
        for f in range(X.shape[1]):
            v = w[i] * X[i, f]
            dsum[tid, a, f] -= v
            dsum[tid, lab, f] += v


@njit(cache=True, nogil=True)
def _search_waiting(  # pragma: no cover - compiled
    X, w, pts, waiting, Ct, scratch, tid, labels, upper, lower, dsum, dw
):
    """Full searches of the ``waiting`` points ``pts[:waiting]``, a block at a time
    (:func:`_block_search`, in thread ``tid``'s room of ``scratch``): each point's label (a move
    recorded by :func:`_moved`), its distance (``upper``) and the second smallest (``lower``).
    Returns how many labels changed."""
    _, blocks, accs, firsts, seconds, labs = scratch
    b1 = firsts[tid]
    b2 = seconds[tid]
    found = labs[tid]
    changed = 0
    for start in range(0, waiting, blocks.shape[2]):
        m = min(blocks.shape[2], waiting - start)
        _block_search(X, pts, start, m, Ct, blocks[tid], accs[tid], b1, b2, found)
        for p in range(m):
            i = pts[start + p]
            a = labels[i]
            if found[p] != a:
                changed += 1
                labels[i] = found[p]
                _moved(X, w, i, a, found[p], dsum, dw)
            upper[i] = np.sqrt(b1[p])
            lower[i] = np.sqrt(b2[p])
    return changed


@njit(cache=True, nogil=True, parallel=True)
def _hamerly_assign(  # pragma: no cover - compiled
    X, w, C, labels, upper, lower, cc, order, s, delta, j1, m2, scan, Mq, Rq, dsum, dw, Ct, scratch
):
    """Exact nearest centres with Hamerly's bounds; returns how many labels changed and how
    many distances to centres were computed (the work: ``n K`` for a full search).

    First the bounds are loosened by how far the centres moved (``delta``; the
    largest move is ``delta[j1]``, the next largest ``m2``), the lower bound no further than
    the moves of the centre's neighbours allow (``Mq``, ``Rq`` from :func:`_near_moves`; no
    columns: Hamerly's alone). With at most ``_COLOUR_MAX_FEATURES`` features the distance to
    the own centre is computed for every point (``upper`` is then not used). A point whose
    bounds are not conclusive is searched among the centres near its own
    (:func:`_sorted_search`), not all of them, or with ``scan`` among all (``Ct``: the centres
    transposed), in blocks of such points at the end of each chunk of ``_CHUNK`` points
    (:func:`_block_search`; ``scratch``: :func:`_search_scratch`'s). Points are independent, so the
    chunks are shared among threads; the result does not depend on their number.
    ``dw`` (threads, K) and ``dsum`` (threads, K, d), unless empty, receive each thread's
    changes to the clusters' weights and weighted sums (:func:`_apply_moves`).
    """
    changed = 0
    searched = 0
    m1 = delta[j1]
    exact = X.shape[1] <= _COLOUR_MAX_FEATURES
    n = X.shape[0]
    pending = scratch[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        tid = numba.get_thread_id()
        pts = pending[tid]
        waiting = 0
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            a = labels[i]
            u2 = 0.0
            if exact:
                u2 = _dist2(X, i, C, a)
                u = np.sqrt(u2)
            else:
                u = upper[i] + delta[a]
            low = lower[i]
            lb = low - (m2 if a == j1 else m1)
            for lev in range(Mq.shape[1]):
                t = min(low - Mq[a, lev], Rq[a, lev] - u)
                if t > lb:
                    lb = t
            lower[i] = lb
            m = max(s[a], lb)
            # Strictly nearer than any other centre can be, or searched: a point as near another
            # centre (a tie, duplicate centres) takes the lowest index, as a fresh search gives (a
            # run handed over to the kernels starts with one).
            if not exact:
                upper[i] = u
                if u < m:
                    continue
                u2 = _dist2(X, i, C, a)
                u = np.sqrt(u2)
                upper[i] = u
            searched += 1
            if u >= m:
                if scan:
                    pts[waiting] = i
                    waiting += 1
                    continue
                lab, b1, b2, visits = _sorted_search(X, i, C, a, u2, cc, order)
                searched += visits
                if lab != a:
                    changed += 1
                    labels[i] = lab
                    _moved(X, w, i, a, lab, dsum, dw)
                upper[i] = b1
                lower[i] = b2
        searched += waiting * C.shape[0]
        changed += _search_waiting(X, w, pts, waiting, Ct, scratch, tid, labels, upper, lower, dsum, dw)
    return changed, searched


# A guessed centre settles a point (:func:`_first_assign`) when 4 d^2 times this is below the squared
# distance from that centre to its nearest other: the margin dwarfs the sums' rounding. The lower bound
# it leaves is shrunk by as much, so that rounding never makes it exceed the true one.
_SETTLE_MARGIN = 1.0 + 1e-9
_LOWER_SHRINK = 1.0 - 1e-9
# ... and only where that squared distance is far above the subnormal range, where squares of
# coordinates round to zero and a computed tie could hide behind the margin.
_SETTLE_MIN = 1e-280


@njit(cache=True, nogil=True)
def _row_distances(C, Ct, a, row):  # pragma: no cover - compiled
    """``row[j]``: the squared distance between centres ``a`` and ``j``, summed over the features in
    order (as :func:`_dist2`), feature by feature over the transposed centres ``Ct``: a loop that
    vectorizes (K = 256: 0.15 ms for every row computed pair by pair, 0.03 ms this way)."""
    row[:] = 0.0
    for f in range(Ct.shape[0]):
        c = C[a, f]
        for j in range(Ct.shape[1]):
            t = c - Ct[f, j]
            row[j] += t * t


@njit(cache=True, nogil=True, inline="always")
def _row_min(row):  # pragma: no cover - compiled
    """The smallest of ``row`` (none NaN), in four running minima: a chain of comparisons that do not
    wait for each other (K = 256: 11 us for the 256 rows against 35 for ``row.min()``)."""
    k = row.size
    m0 = np.inf
    m1 = np.inf
    m2 = np.inf
    m3 = np.inf
    j = 0
    while j + 4 <= k:
        v0 = row[j]
        v1 = row[j + 1]
        v2 = row[j + 2]
        v3 = row[j + 3]
        m0 = v0 if v0 < m0 else m0
        m1 = v1 if v1 < m1 else m1
        m2 = v2 if v2 < m2 else m2
        m3 = v3 if v3 < m3 else m3
        j += 4
    while j < k:
        v0 = row[j]
        m0 = v0 if v0 < m0 else m0
        j += 1
    m0 = m1 if m1 < m0 else m0
    m2 = m3 if m3 < m2 else m2
    return m2 if m2 < m0 else m0


@njit(cache=True, nogil=True)
def _nearest_other_into(C, Ct, out):  # pragma: no cover - compiled
    """``out[a]``: the squared distance from centre ``a`` to its nearest other (:func:`_row_distances`)."""
    row = np.empty(C.shape[0])
    for a in range(C.shape[0]):
        _row_distances(C, Ct, a, row)
        row[a] = np.inf
        out[a] = _row_min(row)


@njit(cache=True, nogil=True, parallel=True)
def _first_assign(X, C, labels, upper, lower, hinted, cc, order, scan, scratch):  # pragma: no cover - compiled
    """Exact nearest centre of every point, its distance (``upper``) and the second-nearest's or a
    lower bound of it (``lower``). With ``hinted``, ``labels`` holds a guess (a centre near each
    point) and the search walks out from it (:func:`_sorted_search`) instead of visiting every
    centre (:func:`_block_search`, in blocks at the end of each chunk of points, in ``scratch``
    as :func:`_hamerly_assign`'s); with ``scan`` as well, a
    point the guess settles (nearer it than half its distance to any other centre) is not searched:
    a 32 x 32 image's final mapping at K = 256 took 145 us against 289 (65 % of the colours settled;
    81 % at K = 16: 24 us against 44)."""
    Ct = np.empty((C.shape[1], C.shape[0]))
    _transpose_into(C, Ct)
    settle = hinted and scan and C.shape[0] > 1
    sep2 = np.empty(C.shape[0] if settle else 0)
    if settle:
        _nearest_other_into(C, Ct, sep2)
    n = X.shape[0]
    pending = scratch[0]
    none = np.empty(0)  # no weights, and no moves to record
    no_sums = np.empty((0, 0, 0))
    no_moves = np.empty((0, 0))
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        tid = numba.get_thread_id()
        pts = pending[tid]
        waiting = 0
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            a = labels[i] if hinted else 0
            d = _dist2(X, i, C, a) if hinted else 0.0
            if hinted and not scan:
                lab, b1, b2, _ = _sorted_search(X, i, C, a, d, cc, order)
                labels[i] = lab
                upper[i] = b1
                lower[i] = b2
            elif settle and 4.0 * d * _SETTLE_MARGIN < sep2[a] and sep2[a] > _SETTLE_MIN:
                # Scanning, a guess still settles a point nearer its centre than half the distance
                # from that centre to any other: every other is then strictly farther (the margin
                # covers rounding, so no tie is decided here), and at least that distance less
                # ``d`` away.
                upper[i] = np.sqrt(d)
                lower[i] = (np.sqrt(sep2[a]) - upper[i]) * _LOWER_SHRINK
            else:
                pts[waiting] = i
                waiting += 1
        _search_waiting(X, none, pts, waiting, Ct, scratch, tid, labels, upper, lower, no_sums, no_moves)


@njit(cache=True, nogil=True)
def _variance_kernel(X, w):  # pragma: no cover - compiled
    """``_lloyd.tolerance``'s mean weighted variance of the features: every sum in index order, as
    its numpy twin's ``np.cumsum`` adds them (each product rounded before it is added)."""
    n, d = X.shape
    total = 0.0
    for i in range(n):
        total += w[i]
    mean = np.zeros(d)
    for i in range(n):
        wn = w[i] / total
        for f in range(d):
            mean[f] += wn * X[i, f]
    var = np.zeros(d)
    for i in range(n):
        wn = w[i] / total
        for f in range(d):
            t = X[i, f] - mean[f]
            var[f] += t * t * wn
    s = 0.0
    for f in range(d):
        s += var[f]
    return s / d


@njit(cache=True, nogil=True)
def _inertia_kernel(X, w, C, labels):  # pragma: no cover - compiled
    """``_lloyd.inertia_in_order`` compiled: each point's distance summed over the features in
    order, the weighted distances summed in index order. On one thread: a parallel region at the
    end of a fit leaves its threads spinning into the caller's next work (the matrix products'
    pool and BLAS then ran 10-15 % slower on 2 cores)."""
    total = 0.0
    for i in range(X.shape[0]):
        total += w[i] * _dist2(X, i, C, labels[i])
    return total


@njit(cache=True, nogil=True)
def _update_centers_kernel(X, w, labels, C, new):  # pragma: no cover - compiled
    """Weighted means into ``new``; empty clusters re-seeded as ``_lloyd.update_centers`` does."""
    n, d = X.shape
    k = C.shape[0]
    wsum = np.zeros(k)
    sums = np.zeros((k, d))
    for i in range(n):
        j = labels[i]
        wsum[j] += w[i]
        for f in range(d):
            sums[j, f] += w[i] * X[i, f]
    n_empty = 0
    empty = np.empty(k, dtype=np.intp)  # the clusters empty before any re-seeding, as numpy's
    for j in range(k):
        if wsum[j] == 0:
            empty[n_empty] = j
            n_empty += 1
    if n_empty:
        cand = np.flatnonzero(w > 0)
        neg = np.empty(cand.size)
        for q in range(cand.size):
            neg[q] = -_dist2(X, cand[q], C, labels[cand[q]])
        if cand.size and neg.min() == 0.0:  # every point on its centre: keep the old centres
            cand = cand[:0]
            neg = neg[:0]
        order = cand[np.argsort(neg, kind="mergesort")]
        # A cluster emptied by giving its only point to an empty one keeps its old centre (the
        # numpy update and scikit-learn re-seed only the clusters empty beforehand).
        for q in range(min(n_empty, order.size)):
            j = empty[q]
            p = order[q]
            old = labels[p]
            wsum[old] -= w[p]
            for f in range(d):
                sums[old, f] -= w[p] * X[p, f]
            wsum[j] = w[p]
            for f in range(d):
                sums[j, f] = w[p] * X[p, f]
    for j in range(k):
        for f in range(d):
            new[j, f] = sums[j, f] / wsum[j] if wsum[j] > 0 else C[j, f]


# The first iteration a Lloyd run may hand over to matrix products: the bounds' work falls over
# the first iterations as the centres settle (on make_blobs with overlapping clusters, d = 10,
# K = 128, from 38 % of the distances at the second iteration to 13 % on average).
_GIVE_UP_FROM = 5
# Before that iteration, a run hands over only if its bounds left more than this many times the
# ``give_up`` share of the distances to compute: they prune almost nothing there, and in every
# such case measured the run handed over at ``_GIVE_UP_FROM`` anyway, after as many wasted
# iterations (share of the n K distances at iterations 2 / 5, n = 10,000 or 20,000, k-means++ start:
# standard normal d = 8, K = 16 1.04 / 0.64, K = 64 0.82 / 0.52, give-up share 0.25; d = 12, K = 16
# to 256 0.91-1.06 / 0.69-0.76, share 0.17; classification d = 7, K = 16 0.85 / 0.44, share 0.29;
# lognormal d = 9, K = 16 0.97 / 0.59; overlapping blobs d = 10, K = 16 0.96 / 0.52, share 0.2;
# make_blobs, anisotropic blobs, uniform and the larger K of these: below the threshold).
# Handing over at the second iteration there, CPU time of the whole fit on one core, median of 5
# processes alternating with the rule before (load 2.5-4.5): normal d = 8, K = 8 0.92x, K = 64
# 0.95x; d = 12, K = 16 0.96x, K = 64 0.92x; lognormal d = 9, K = 16 0.90x; overlapping blobs
# K = 16 0.94x; the same iterations and inertia. Fits that do not hand over early: 0.96-1.03x.
_GIVE_UP_EARLY = 3.0


@njit(cache=True, nogil=True)
def _neighbours_or_separation(C, cc, order, s, scan):  # pragma: no cover - compiled
    """:func:`_center_neighbours`, or with ``scan`` only Hamerly's ``s`` (half the distance
    from each centre to its nearest other), without the table of every centre's neighbours."""
    if not scan:
        _center_neighbours(C, cc, order, s)
        return
    Ct = np.empty((C.shape[1], C.shape[0]))
    _transpose_into(C, Ct)
    _nearest_other_into(C, Ct, s)  # K = 256: 45 us against 98 centre by centre
    for j in range(C.shape[0]):
        s[j] = 0.5 * np.sqrt(s[j])


@njit(cache=True, nogil=True)
def _integral_sums(X, w):  # pragma: no cover - compiled
    """Whether every weight and coordinate is an integer, and the sum of every ``|w x|``, and of every
    ``|w|``, is below 2^52: then every partial weighted sum of the points is an integer held exactly in
    float64, so the sums come out the same in any order (a colour histogram: counts and 0-255 colours)."""
    tot = 0.0
    tot_w = 0.0
    for i in range(X.shape[0]):
        wi = w[i]
        if wi != np.floor(wi):
            return False
        tot_w += abs(wi)
        for f in range(X.shape[1]):
            v = X[i, f]
            if v != np.floor(v):
                return False
            tot += abs(wi * v)
    return tot < 2.0**52 and tot_w < 2.0**52


@njit(cache=True, nogil=True)
def _apply_moves(X, w, labels, sums, wsum, dsum, dw, first):  # pragma: no cover - compiled
    """The clusters' weights ``wsum`` and weighted sums ``sums`` brought up to date: from scratch with
    ``first``, otherwise by adding the changes the assignment's threads recorded (``dw``, ``dsum``,
    zeroed here). Only for integral sums (:func:`_integral_sums`), which are exact either way."""
    d = X.shape[1]
    if first:
        sums[:] = 0.0
        wsum[:] = 0.0
        for i in range(X.shape[0]):
            j = labels[i]
            wsum[j] += w[i]
            for f in range(d):
                sums[j, f] += w[i] * X[i, f]
    for t in range(dw.shape[0]):
        for j in range(wsum.shape[0]):
            wsum[j] += dw[t, j]
            dw[t, j] = 0.0
            for f in range(d):
                sums[j, f] += dsum[t, j, f]
                dsum[t, j, f] = 0.0


def _lloyd_kernel(X, w, C, max_iter, tol, labels, hinted, scan, cc, order, give_up, compare=False):
    """:func:`_lloyd_run`, with room for the records of the points that changed cluster of as many
    threads as its parallel loops will run on (this thread's setting: every thread's number,
    ``numba.get_thread_id()``, is below it)."""
    return _lloyd_run(
        X, w, C, max_iter, tol, labels, hinted, scan, cc, order, give_up, numba.get_num_threads(), compare
    )


@njit(cache=True, nogil=True)
def _lloyd_run(  # pragma: no cover - compiled
    X, w, C, max_iter, tol, labels, hinted, scan, cc, order, give_up, threads, compare
):
    """``_lloyd.lloyd`` compiled: the same iterations, labels and stopping rule.

    ``C`` (the start) is overwritten with the final centres and ``labels`` with
    the final assignment; with ``hinted``, ``labels`` comes in holding a guess of
    every point's nearest centre, which only speeds up the first assignment; with ``compare``
    as well, the hint is the assignment of the iteration before (a numpy run handed over here),
    and the first iteration stops on unchanged labels as that run would have.
    With ``scan``, a point whose bounds are not conclusive is compared with every
    centre instead of walking out from its own (:func:`_sorted_search`): no
    centre-to-centre order is kept, which is cheaper where the points are few for
    the centres (``_backend.scan_centres``). Same labels either way. Otherwise
    ``cc`` and ``order`` (K, K) come in holding the starting centres' table
    (``_backend.neighbour_table``: numpy sorts it several times faster than a
    compiled argsort), and are kept up to date here, until an iteration computes more than
    ``_SCAN_SHARE`` of a full search's distances (unstructured data): the run scans from the
    next iteration on.
    Returns ``(inertia, n_iter, handed_over, scanned)``: ``scanned`` tells whether it ended scanning.

    The centre update: when every sum is integral (:func:`_integral_sums`: a colour histogram), the
    clusters' sums are computed once and then changed by the points that moved (``threads``
    records of them), instead of summing all points every iteration: the same sums exactly.

    ``give_up`` > 0: after an iteration (from the ``_GIVE_UP_FROM``-th; before it, ``_GIVE_UP_EARLY`` times as
    many) in which the bounds left more than ``give_up n K`` distances to compute (``n K``: a full search),
    the run stops there, unconverged, and returns
    ``handed_over`` True, ``C`` holding the centres that iteration computed and ``labels`` the
    assignment it used: the caller goes on with matrix products (:func:`._lloyd.lloyd`).
    """
    n = X.shape[0]
    k = C.shape[0]
    upper = np.empty(n)
    lower = np.empty(n)
    new = np.empty_like(C)
    delta = np.empty(k)
    s = np.empty(k)
    levels = _NEAR_LEVELS if X.shape[1] <= _COLOUR_MAX_FEATURES and not scan else 0
    Mq = np.zeros((k, levels))
    Rq = np.zeros((k, levels))
    Ct = np.empty((X.shape[1], k))  # the centres transposed, and each thread's room, for full searches
    scratch = _search_scratch(threads, X.shape[1])
    prev = labels.copy() if compare else labels[:0]
    _first_assign(X, C, labels, upper, lower, hinted, cc, order, scan, scratch)
    integral = _integral_sums(X, w)
    dsum = np.zeros((threads if integral else 0, k, X.shape[1]))
    dw = np.zeros((dsum.shape[0], k))
    sums = np.zeros((k, X.shape[1]))
    wsum = np.zeros(k)
    strict = False
    n_iter = 0
    j1 = 0
    m2 = 0.0
    searched = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        changed = 1
        if it == 1 and compare:  # the hint is the assignment of the iteration before (a run handed over)
            changed = 0
            for i in range(n):
                if labels[i] != prev[i]:
                    changed += 1
        if it > 1:
            _neighbours_or_separation(C, cc, order, s, scan)
            if levels:
                _near_moves(cc, order, delta, Mq, Rq)
            _transpose_into(C, Ct)
            changed, searched = _hamerly_assign(
                X, w, C, labels, upper, lower, cc, order, s, delta, j1, m2, scan, Mq, Rq, dsum, dw, Ct, scratch
            )
            if not scan and searched > _SCAN_SHARE * n * k:  # the walks went far: scan from now on
                scan = True
                levels = 0
                Mq = np.zeros((k, 0))
                Rq = np.zeros((k, 0))
        if integral:
            _apply_moves(X, w, labels, sums, wsum, dsum, dw, it == 1)
        if integral and wsum.min() > 0:
            for j in range(k):
                for f in range(X.shape[1]):
                    new[j, f] = sums[j, f] / wsum[j]
        else:  # with an empty cluster, as every iteration where the sums are not integral
            _update_centers_kernel(X, w, labels, C, new)
        shift = 0.0
        j1 = 0
        for j in range(k):
            dj = _dist2(new, j, C, j)
            shift += dj
            delta[j] = np.sqrt(dj)
            if delta[j] > delta[j1]:
                j1 = j
        m2 = 0.0
        for j in range(k):
            if j != j1 and delta[j] > m2:
                m2 = delta[j]
        C[:] = new
        if changed == 0:
            strict = True
            break
        if shift <= tol:
            break
        if give_up > 0 and it < max_iter:
            share = give_up if it >= _GIVE_UP_FROM else _GIVE_UP_EARLY * give_up
            if searched > share * n * k:
                return 0.0, n_iter, True, scan
    if not strict:
        _neighbours_or_separation(C, cc, order, s, scan)
        if levels:
            _near_moves(cc, order, delta, Mq, Rq)
        _transpose_into(C, Ct)
        _hamerly_assign(X, w, C, labels, upper, lower, cc, order, s, delta, j1, m2, scan, Mq, Rq, dsum, dw, Ct, scratch)
    inertia = 0.0
    for i in range(n):
        inertia += w[i] * _dist2(X, i, C, labels[i])
    return inertia, n_iter, False, scan


@njit(cache=True, nogil=True, fastmath={"nnan", "ninf", "nsz"})
def _settle_block_kernel(D, X, start, C, c_norm, x_norm, margin_c, labels):  # pragma: no cover - compiled
    """The nearest centre of rows ``start .. start + len(D)`` of ``X`` into ``labels``, from the
    block of products ``D = X[rows] @ (-2 C.T)`` (:func:`._nearest.nearest_by_products`).

    Per row: the smallest ``v = D + |c|^2``; if no other centre's ``v`` is within the expansion's
    rounding of it (``1e-13 |x|^2 + margin_c``), the first centre holding it, else the nearest
    centre on explicit differences (ties to the lowest index): the numpy code's decisions, in
    two passes that vectorize (a minimum, a count) instead of its six. The flags let the minimum
    vectorize (no NaN or infinity reaches here); the sums are not reordered.
    """
    m, k = D.shape
    k8 = k - k % 8
    lanes = np.empty(8)
    for r in range(m):
        for q in range(8):  # eight running minimums, which the compiler keeps in one vector
            lanes[q] = np.inf
        for j0 in range(0, k8, 8):
            for q in range(8):
                v = D[r, j0 + q] + c_norm[j0 + q]
                lanes[q] = v if v < lanes[q] else lanes[q]
        b1 = np.inf
        for q in range(8):
            b1 = lanes[q] if lanes[q] < b1 else b1
        for j in range(k8, k):
            v = D[r, j] + c_norm[j]
            b1 = v if v < b1 else b1
        i = start + r
        thr = b1 + (1e-13 * x_norm[i] + margin_c)
        near = 0
        for j in range(k):
            near += D[r, j] + c_norm[j] <= thr
        lab = 0
        if near == 1:
            while D[r, lab] + c_norm[lab] != b1:
                lab += 1
        else:  # another centre within the rounding error: explicit differences decide
            best = _dist2(X, i, C, 0)
            for j in range(1, k):
                s = _dist2(X, i, C, j)
                if s < best:
                    best = s
                    lab = j
        labels[i] = lab


@njit(cache=True, nogil=True)
def _kmeans_plusplus_kernel(X, w, u_first, U, centers, indices):  # pragma: no cover - compiled
    """Greedy weighted k-means++ (``_lloyd.plusplus_indices``) with its uniform draws given:
    the chosen rows into ``centers`` and their indices into ``indices``.

    ``U`` is (K - 1, n_local_trials): one row of draws per centre after the first.
    Every point remembers its nearest chosen centre ``a`` and the distance ``r``
    to it; a candidate ``p`` with ``|p - c_a| >= 2 r`` cannot come nearer than
    ``r`` (triangle inequality), so most points are skipped without computing
    their distance, and the potentials are exactly those of a full pass. The
    points of each centre are kept in a list (``head``, ``nxt``, ``prv``) with the
    largest ``r`` among them (``rmax``, an upper bound), so a centre whose points
    are all out of a candidate's reach is skipped whole: at K = 256 most of them.
    """
    n = X.shape[0]
    k = centers.shape[0]
    trials = U.shape[1]
    cum = np.cumsum(w)
    first = min(np.searchsorted(cum, u_first * cum[-1], side="right"), n - 1)
    centers[0] = X[first]
    indices[0] = first
    closest = np.empty(n)
    r = np.empty(n)
    head = np.full(k, -1, dtype=np.intp)
    nxt = np.empty(n, dtype=np.intp)
    prv = np.empty(n, dtype=np.intp)
    rmax = np.zeros(k)
    for i in range(n):
        closest[i] = _dist2(X, i, centers, 0)
        r[i] = np.sqrt(closest[i])
        nxt[i] = i + 1 if i + 1 < n else -1
        prv[i] = i - 1
        rmax[0] = max(rmax[0], r[i])
    head[0] = 0
    gains = np.empty(trials)
    picks = np.empty(trials, dtype=np.intp)
    reach = np.empty((trials, k))
    nz = np.flatnonzero(w > 0)
    for c in range(1, k):
        total = 0.0
        for i in range(n):
            total += closest[i] * w[i]
            cum[i] = total
        for t in range(trials):
            if total > 0:
                picks[t] = min(np.searchsorted(cum, U[c - 1, t] * total, side="right"), n - 1)
            else:  # every point already sits on a centre
                picks[t] = nz[min(int(U[c - 1, t] * nz.size), nz.size - 1)]
            for j in range(c):
                reach[t, j] = 0.5 * np.sqrt(_dist2(X, picks[t], centers, j))
        _trial_gains(X, w, closest, r, head, nxt, rmax, c, picks, reach, gains)
        best = 0
        for t in range(1, trials):
            if gains[t] > gains[best]:
                best = t
        p = picks[best]
        centers[c] = X[p]
        indices[c] = p
        for j in range(c):  # the points that come nearer to ``p`` move to its list
            rj = reach[best, j]
            if rj >= rmax[j]:
                continue
            i = head[j]
            kept = 0.0
            while i >= 0:
                following = nxt[i]
                s = _dist2(X, i, X, p) if rj < r[i] else np.inf
                if s < closest[i]:
                    closest[i] = s
                    r[i] = np.sqrt(s)
                    if prv[i] >= 0:
                        nxt[prv[i]] = nxt[i]
                    else:
                        head[j] = nxt[i]
                    if nxt[i] >= 0:
                        prv[nxt[i]] = prv[i]
                    nxt[i] = head[c]
                    prv[i] = -1
                    if head[c] >= 0:
                        prv[head[c]] = i
                    head[c] = i
                    rmax[c] = max(rmax[c], r[i])
                else:
                    kept = max(kept, r[i])
                i = following
            rmax[j] = kept


@njit(cache=True, nogil=True, parallel=True)
def _trial_gains(X, w, closest, r, head, nxt, rmax, c, picks, reach, gains):  # pragma: no cover - compiled
    """For each candidate centre (one per thread), how much it would lower the
    potential: the weighted drop of every point's squared distance to its nearest
    centre. Points whose nearest centre is at least twice their distance from the
    candidate (``reach``: half those distances) cannot gain and are skipped, and
    so are the whole lists of the first ``c`` centres whose farthest point is."""
    for t in prange(picks.shape[0]):
        p = picks[t]
        gain = 0.0
        for j in range(c):
            rj = reach[t, j]
            if rj >= rmax[j]:
                continue
            i = head[j]
            while i >= 0:
                if rj < r[i]:
                    s = _dist2(X, i, X, p)
                    if s < closest[i]:
                        gain += (closest[i] - s) * w[i]
                i = nxt[i]
        gains[t] = gain


# ----------------------------------------------------------------------------- Hartigan's moves

_KEEP = 1e-9  # as _lloyd._KEEP


@njit(cache=True, nogil=True)
def _near_centres_into(C, near):  # pragma: no cover - compiled
    """``_lloyd.near_centres`` compiled: each centre's ``near.shape[1]`` nearest others into ``near``,
    by squared distance (:func:`_row_distances`), ties to the lowest index."""
    k, d = C.shape
    m = near.shape[1]
    Ct = np.empty((d, k))
    _transpose_into(C, Ct)
    row = np.empty(k)
    dist = np.empty(m)
    for a in range(k):
        _row_distances(C, Ct, a, row)
        filled = 0
        worst = np.inf  # the m-th nearest so far, once there are m
        for j in range(k):
            v = row[j]
            if (filled == m and not v < worst) or j == a:
                continue
            p = filled if filled < m else m - 1
            while p > 0 and dist[p - 1] > v:  # after every equal one: ties keep the lower index first
                if p < m:
                    dist[p] = dist[p - 1]
                    near[a, p] = near[a, p - 1]
                p -= 1
            dist[p] = v
            near[a, p] = j
            if filled < m:
                filled += 1
            if filled == m:
                worst = dist[m - 1]


@njit(cache=True, nogil=True, inline="always")
def _unit_factors(W, j, join, leave):  # pragma: no cover - compiled
    """Cluster ``j``'s factors of :func:`_hartigan_kernel` for a point of weight 1: ``W / (W + 1)`` to
    join it and ``W / (W - 1)`` to leave it (used only while ``W - 1`` stays above the residue guard)."""
    join[j] = W[j] / (W[j] + 1.0)
    leave[j] = W[j] / (W[j] - 1.0) if W[j] != 1.0 else np.inf


@njit(cache=True, nogil=True)
def _hartigan_kernel(X, w, C, labels, n_near, passes):  # pragma: no cover - compiled
    """``_lloyd.hartigan_moves`` compiled: the same moves, the same operations in the same order.
    ``C`` comes in with the centres that empty clusters keep and leaves with the final means,
    ``labels`` with the final clusters. Returns the moves."""
    n, d = X.shape
    k = C.shape[0]
    W = np.zeros(k)  # the clusters' weights and sums in index order, as np.bincount adds them
    S = np.zeros((k, d))
    for i in range(n):
        W[labels[i]] += w[i]
        for f in range(d):
            S[labels[i], f] += w[i] * X[i, f]
    for j in range(k):
        if W[j] > 0:
            for f in range(d):
                C[j, f] = S[j, f] / W[j]
    near = np.empty((k, n_near), dtype=np.intp)
    _near_centres_into(C, near)
    # A point of weight 1 (most colours of a small image) takes its factors from these, kept up to
    # date as the weights change: ``1 * W / (W + 1)`` is ``W / (W + 1)`` to the bit, and a candidate then
    # costs a product instead of a division (a 32 x 32 image at K = 16: 97 against 109 us).
    join = np.empty(k)
    leave = np.empty(k)
    for j in range(k):
        _unit_factors(W, j, join, leave)
    moves = 0
    for _ in range(passes):
        made = 0
        for i in range(n):
            v = w[i]
            a = labels[i]
            if not (v > 0 and W[a] - v > _KEEP * W[a]):
                continue
            b = -1
            if v == 1.0:
                best = leave[a] * _dist2(X, i, C, a)
                for q in range(n_near):
                    j = near[a, q]
                    cost = join[j] * _dist2(X, i, C, j)
                    if cost < best:
                        best = cost
                        b = j
            else:
                best = v * W[a] / (W[a] - v) * _dist2(X, i, C, a)
                for q in range(n_near):
                    j = near[a, q]
                    cost = v * W[j] / (W[j] + v) * _dist2(X, i, C, j)
                    if cost < best:
                        best = cost
                        b = j
            if b < 0:
                continue
            W[a] -= v
            W[b] += v
            _unit_factors(W, a, join, leave)
            _unit_factors(W, b, join, leave)
            for f in range(d):
                vx = v * X[i, f]
                S[a, f] -= vx
                S[b, f] += vx
                C[a, f] = S[a, f] / W[a]
                C[b, f] = S[b, f] / W[b]
            labels[i] = b
            made += 1
        moves += made
        if made == 0:
            break
    return moves


# ----------------------------------------------------------------------------- split initialization


@njit(cache=True, nogil=True)
def _best_cut(X, w, wx, wq, seg, ax, total_w, total_s, total_q, s1):  # pragma: no cover - compiled
    """The cut of ``seg`` (sorted by coordinate ``ax``) between distinct values that leaves
    the least summed squared error in the two halves. ``wx`` and ``wq`` are every point's
    ``w x`` and ``w |x|^2`` (:func:`_weighted_moments`); ``s1`` (d,) is scratch.

    Returns (error of both halves, cut position, error of the first half, of the second),
    or an error of inf when every point has the same coordinate.
    """
    m = seg.size
    d = X.shape[1]
    w1 = 0.0
    q1 = 0.0
    s1[:] = 0.0
    best = np.inf
    best_p = -1
    best_1 = 0.0
    best_2 = 0.0
    nxt = X[seg[0], ax]
    if d == 3:
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        t0s = total_s[0]
        t1s = total_s[1]
        t2s = total_s[2]
        for p in range(m - 1):
            i = seg[p]
            w1 += w[i]
            a0 += wx[i, 0]
            a1 += wx[i, 1]
            a2 += wx[i, 2]
            q1 += wq[i]
            here = nxt
            nxt = X[seg[p + 1], ax]
            if nxt <= here:
                continue
            w2 = total_w - w1
            if w1 <= 0 or w2 <= 0:
                continue
            n1 = a0 * a0 + a1 * a1 + a2 * a2
            u0 = t0s - a0
            u1 = t1s - a1
            u2 = t2s - a2
            n2 = u0 * u0 + u1 * u1 + u2 * u2
            e1 = q1 - n1 / w1
            e2 = (total_q - q1) - n2 / w2
            if e1 + e2 < best:
                best = e1 + e2
                best_p = p
                best_1 = e1
                best_2 = e2
        return best, best_p, best_1, best_2
    for p in range(m - 1):
        i = seg[p]
        w1 += w[i]
        for f in range(d):
            s1[f] += wx[i, f]
        q1 += wq[i]
        here = nxt
        nxt = X[seg[p + 1], ax]
        if nxt <= here:
            continue
        w2 = total_w - w1
        if w1 <= 0 or w2 <= 0:
            continue
        n1 = 0.0
        n2 = 0.0
        for f in range(d):
            n1 += s1[f] * s1[f]
            t = total_s[f] - s1[f]
            n2 += t * t
        e1 = q1 - n1 / w1
        e2 = (total_q - q1) - n2 / w2
        if e1 + e2 < best:
            best = e1 + e2
            best_p = p
            best_1 = e1
            best_2 = e2
    return best, best_p, best_1, best_2


@njit(cache=True, nogil=True)
def _weighted_moments(X, w):  # pragma: no cover - compiled
    """Every point's ``w x`` (n, d) and ``w |x|^2`` (n,), the squares summed over the features in order."""
    n, d = X.shape
    wx = np.empty((n, d))
    wq = np.empty(n)
    for i in range(n):
        sq = 0.0
        for f in range(d):
            wx[i, f] = w[i] * X[i, f]
            sq += X[i, f] * X[i, f]
        wq[i] = w[i] * sq
    return wx, wq


@njit(cache=True, nogil=True)
def _segment_moments(w, wx, wq, seg, ts):  # pragma: no cover - compiled
    """The total weight and ``w |x|^2`` of the points ``seg``, their ``w x`` summed into ``ts`` (d,)."""
    tw = 0.0
    tq = 0.0
    ts[:] = 0.0
    for q in range(seg.size):
        i = seg[q]
        tw += w[i]
        for f in range(ts.size):
            ts[f] += wx[i, f]
        tq += wq[i]
    return tw, tq


@njit(cache=True, nogil=True)
def _plan_cut(X, w, wx, wq, orders, a, b, plan, j, ts, s1):  # pragma: no cover - compiled
    """Best cut of the cluster held in ``orders[:, a:b]`` over every axis, stored in
    ``plan[j]`` as (error reduction, axis, position, error of the first half, of the second).
    ``ts`` and ``s1`` (d,) are scratch."""
    plan[j, 0] = -1.0
    if b - a < 2:
        return
    tw, tq = _segment_moments(w, wx, wq, orders[0, a:b], ts)
    # Written out: ``ts @ ts`` would need numba's linear algebra, which loads SciPy's BLAS
    # (not a runtime dependency: that crashed the first compression on a fresh install).
    n2 = 0.0
    for f in range(ts.size):
        n2 += ts[f] * ts[f]
    err = tq - n2 / tw
    for ax in range(X.shape[1]):
        e, p, e1, e2 = _best_cut(X, w, wx, wq, orders[ax, a:b], ax, tw, ts, tq, s1)
        if e < np.inf and err - e > plan[j, 0]:
            plan[j, 0] = err - e
            plan[j, 1] = ax
            plan[j, 2] = p
            plan[j, 3] = e1
            plan[j, 4] = e2


@njit(cache=True, nogil=True)
def _byte_order(X, ax, out):  # pragma: no cover - compiled
    """The stable order of the points by coordinate ``ax`` into ``out``, by counting, when every
    coordinate there is an integer from 0 to 255 (RGB colours); returns False (``out`` unused) otherwise.

    The same order as a stable argsort (ties by index), in O(n): a 3,041-colour histogram's
    three axes took 0.6 ms by ``np.argsort`` (mergesort) and about 0.02 ms by counting.
    """
    n = X.shape[0]
    count = np.zeros(257, dtype=np.intp)
    for i in range(n):
        v = X[i, ax]
        if not (v >= 0.0 and v <= 255.0) or v != np.floor(v):
            return False
        count[int(v) + 1] += 1
    for b in range(256):
        count[b + 1] += count[b]
    for i in range(n):
        b = int(X[i, ax])
        out[count[b]] = i
        count[b] += 1
    return True


@njit(cache=True, nogil=True, inline="always")
def _heap_before(heap_g, heap_j, a, b):  # pragma: no cover - compiled
    """Whether heap entry ``a`` comes out before ``b``: a larger gain, or the same and a lower cluster."""
    return heap_g[a] > heap_g[b] or (heap_g[a] == heap_g[b] and heap_j[a] < heap_j[b])


@njit(cache=True, nogil=True)
def _heap_push(heap_g, heap_j, heap_v, size, gain, j, version):  # pragma: no cover - compiled
    """Add cluster ``j``'s plan (``gain``, at ``version``) to the heap of :func:`_split_init_kernel` if
    the cut gains anything (a gain that is not above 0, NaN included, is never cut); returns the size."""
    if not gain > 0:
        return size
    p = size
    heap_g[p] = gain
    heap_j[p] = j
    heap_v[p] = version
    while p > 0:
        parent = (p - 1) >> 1
        if not _heap_before(heap_g, heap_j, p, parent):
            break
        _heap_swap(heap_g, heap_j, heap_v, p, parent)
        p = parent
    return size + 1


@njit(cache=True, nogil=True)
def _heap_pop(heap_g, heap_j, heap_v, size):  # pragma: no cover - compiled
    """Remove the first entry of the heap; returns the size."""
    size -= 1
    heap_g[0] = heap_g[size]
    heap_j[0] = heap_j[size]
    heap_v[0] = heap_v[size]
    p = 0
    while True:
        c = 2 * p + 1
        if c >= size:
            break
        if c + 1 < size and _heap_before(heap_g, heap_j, c + 1, c):
            c += 1
        if not _heap_before(heap_g, heap_j, c, p):
            break
        _heap_swap(heap_g, heap_j, heap_v, p, c)
        p = c
    return size


@njit(cache=True, nogil=True, inline="always")
def _heap_swap(heap_g, heap_j, heap_v, a, b):  # pragma: no cover - compiled
    heap_g[a], heap_g[b] = heap_g[b], heap_g[a]
    heap_j[a], heap_j[b] = heap_j[b], heap_j[a]
    heap_v[a], heap_v[b] = heap_v[b], heap_v[a]


@njit(cache=True, nogil=True)
def _split_init_kernel(X, w, centers, labels):  # pragma: no cover - compiled
    """``_lloyd.split_start`` compiled; returns how many centres were filled, and
    writes the cluster of every point into ``labels``.

    The points are sorted once along every axis (ties by index); each cluster
    is a range of these orders, and a cut splits the range of every order by a
    stable partition, so no cluster is ever sorted again.
    """
    n, d = X.shape
    k = centers.shape[0]
    orders = np.empty((d, n), dtype=np.intp)
    for ax in range(d):
        if not _byte_order(X, ax, orders[ax]):
            orders[ax] = np.argsort(X[:, ax], kind="mergesort")
    left = np.zeros(n, dtype=np.bool_)
    buf = np.empty(n, dtype=np.intp)
    start = np.zeros(k, dtype=np.intp)
    stop = np.zeros(k, dtype=np.intp)
    plan = np.zeros((k, 5))
    wx, wq = _weighted_moments(X, w)
    ts = np.empty(d)
    s1 = np.empty(d)
    stop[0] = n
    _plan_cut(X, w, wx, wq, orders, 0, n, plan, 0, ts, s1)
    # The cluster to cut next: the largest gain, ties to the lowest index. A heap of (gain, cluster,
    # version) finds it in log K, where a scan of every plan took 255 x 128 comparisons at K = 256
    # (27 us); a cluster's entries from before its last cut are stale and skipped.
    heap_g = np.empty(2 * k + 1)
    heap_j = np.empty(2 * k + 1, dtype=np.intp)
    heap_v = np.empty(2 * k + 1, dtype=np.intp)
    version = np.zeros(k, dtype=np.intp)
    size = _heap_push(heap_g, heap_j, heap_v, 0, plan[0, 0], 0, 0)
    m = 1
    while m < k:
        j = -1
        while size > 0:
            top = heap_j[0]
            fresh = heap_v[0] == version[top]
            size = _heap_pop(heap_g, heap_j, heap_v, size)
            if fresh:
                j = top
                break
        if j < 0:
            break
        a, b = start[j], stop[j]
        best_ax = int(plan[j, 1])
        cut = a + int(plan[j, 2]) + 1
        for q in range(a, b):
            left[orders[best_ax, q]] = q < cut
        for ax in range(d):
            if ax == best_ax:
                continue
            lo = a
            hi = cut
            for q in range(a, b):
                i = orders[ax, q]
                if left[i]:
                    buf[lo] = i
                    lo += 1
                else:
                    buf[hi] = i
                    hi += 1
            orders[ax, a:b] = buf[a:b]
        start[m] = cut
        stop[m] = b
        stop[j] = cut
        _plan_cut(X, w, wx, wq, orders, a, cut, plan, j, ts, s1)
        _plan_cut(X, w, wx, wq, orders, cut, b, plan, m, ts, s1)
        version[j] += 1
        size = _heap_push(heap_g, heap_j, heap_v, size, plan[j, 0], j, version[j])
        size = _heap_push(heap_g, heap_j, heap_v, size, plan[m, 0], m, 0)
        m += 1
    for q in range(m):
        tw, tq = _segment_moments(w, wx, wq, orders[0, start[q] : stop[q]], ts)
        for f in range(d):
            centers[q, f] = ts[f] / tw
        for p in range(start[q], stop[q]):
            labels[orders[0, p]] = q
    return m


@njit(cache=True, nogil=True)
def _sort_keys_kernel(keys, buf):  # pragma: no cover - compiled
    """Sort ``keys`` (uint32) in place if every key is below 2^24 (packed RGB), and return True;
    else leave them as they are and return False. Least significant digit first, two digits of 12
    bits (4,096 counters each, in a core's cache): one pass to count both digits, then each digit
    moves every key once, into ``buf`` (as large as ``keys``) and back."""
    n = keys.size
    lo = np.zeros(4097, dtype=np.intp)
    hi = np.zeros(4097, dtype=np.intp)
    for i in range(n):
        v = np.int64(keys[i])
        if v >> 24:
            return False
        lo[(v & 0xFFF) + 1] += 1
        hi[(v >> 12) + 1] += 1
    for b in range(4096):
        lo[b + 1] += lo[b]
        hi[b + 1] += hi[b]
    for i in range(n):
        v = keys[i]
        d = np.int64(v) & 0xFFF
        buf[lo[d]] = v
        lo[d] += 1
    for i in range(n):
        v = buf[i]
        d = np.int64(v) >> 12
        keys[hi[d]] = v
        hi[d] += 1
    return True


@njit(cache=True, nogil=True)
def _indexed_histogram_kernel(pixels, colors, keys, counts, index):  # pragma: no cover - compiled
    """The distinct colours of ``pixels`` ((n, 3) uint8) sorted by packed key ``R << 16 | G << 8 | B``
    into ``colors`` and ``keys`` (int64), how many pixels hold each into ``counts`` and the colour
    of every pixel (its index into them) into ``index``; returns how many colours there are.
    ``np.unique`` of the packed keys (``return_inverse``, ``return_counts``) gives the same. The
    pixels' order by key comes from three passes of a radix sort over the channels, blue first
    (256 counters each: a small image pays for 768 of them, not the 8,194 of the 12-bit digits of
    :func:`_sort_keys_kernel`), each pass moving pixel numbers."""
    n = pixels.shape[0]
    count = np.zeros((3, 257), dtype=np.intp)
    for p in range(n):
        count[0, pixels[p, 2] + 1] += 1
        count[1, pixels[p, 1] + 1] += 1
        count[2, pixels[p, 0] + 1] += 1
    for r in range(3):
        for b in range(256):
            count[r, b + 1] += count[r, b]
    order = np.empty(n, dtype=np.intp)
    moved = np.empty(n, dtype=np.intp)
    for p in range(n):
        b = pixels[p, 2]
        order[count[0, b]] = p
        count[0, b] += 1
    for q in range(n):
        p = order[q]
        b = pixels[p, 1]
        moved[count[1, b]] = p
        count[1, b] += 1
    for q in range(n):
        p = moved[q]
        b = pixels[p, 0]
        order[count[2, b]] = p
        count[2, b] += 1
    m = -1
    last = np.int64(-1)
    for q in range(n):
        p = order[q]
        v = (np.int64(pixels[p, 0]) << 16) | (np.int64(pixels[p, 1]) << 8) | np.int64(pixels[p, 2])
        if v != last:
            m += 1
            keys[m] = v
            counts[m] = 0
            for c in range(3):
                colors[m, c] = pixels[p, c]
            last = v
        counts[m] += 1
        index[p] = m
    return m + 1


@njit(cache=True, nogil=True)
def _lookup_kernel(keys, pixel_keys, values, out):  # pragma: no cover - compiled
    """``out[p] = values[j]`` where ``keys[j] == pixel_keys[p]`` (``keys`` sorted, every pixel key
    among them): ``np.searchsorted``'s index, found among the keys that share the pixel's red and
    green (a table of 65,537 offsets) instead of among all of them. 16,384 pixels among 11,181
    colours: 0.2 ms against numpy's 0.87 (binary searches over the whole array)."""
    start = np.zeros(65537, dtype=np.int32)
    for j in range(keys.size):
        start[(keys[j] >> 8) + 1] += 1
    for b in range(65536):
        start[b + 1] += start[b]
    for p in range(pixel_keys.size):
        key = np.int64(pixel_keys[p])
        lo = np.int64(start[key >> 8])
        hi = np.int64(start[(key >> 8) + 1])
        while lo < hi:
            mid = (lo + hi) >> 1
            if keys[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        out[p] = values[min(lo, values.size - 1)]  # a key above every key (not from this histogram) stays in bounds


def warm_up(products=True):
    """Call every kernel once on tiny inputs of the types the callers pass (C-ordered
    float64 points and weights, intp labels), so that their cached machine code is
    loaded, or compiled, now: the split start, k-means++, hinted and unhinted Lloyd
    runs, the centre update alone, the hinted nearest search (which reach every other
    kernel), the error diffusion and, with ``products``, the pass over a block of matrix
    products and the inertia (general data of many features only: a preload ahead of an image
    leaves them out)."""
    X = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [9.0, 9.0, 9.0], [9.0, 8.0, 9.0]])
    w = np.ones(X.shape[0])
    centers = np.empty((2, 3))
    _split_init_kernel(X, w, centers, np.empty(X.shape[0], dtype=np.intp))
    _kmeans_plusplus_kernel(X, w, 0.5, np.full((1, 2), 0.5), np.empty((2, 3)), np.empty(2, dtype=np.intp))
    labels = np.zeros(X.shape[0], dtype=np.intp)
    cc = np.zeros((2, 2))
    order = np.array([[0, 1], [1, 0]], dtype=np.intp)
    _lloyd_kernel(X, w, centers.copy(), 5, 0.0, labels, True, False, cc.copy(), order.copy(), 0.0)
    _lloyd_kernel(X, w, centers.copy(), 5, 0.0, labels, False, False, cc.copy(), order.copy(), 0.0)
    _update_centers_kernel(X, w, labels, centers, np.empty_like(centers))
    _variance_kernel(X, w)
    _sort_keys_kernel(np.array([5, 3], dtype=np.uint32), np.empty(2, dtype=np.uint32))
    px = np.array([[5, 3, 1], [0, 9, 9], [5, 3, 1]], dtype=np.uint8)
    _indexed_histogram_kernel(px, np.empty_like(px), np.empty(3, np.int64), np.empty(3, np.int64), np.empty(3, np.intp))
    _lookup_kernel(
        np.array([3, 5], dtype=np.int64), np.array([5, 3], dtype=np.uint32), np.ones(2, np.uint8), np.empty(2, np.uint8)
    )
    _nearest_hinted_kernel(X, centers, labels, np.empty(X.shape[0]), False, cc, order)
    _center_distances(centers, np.empty((2, 2)))
    _hartigan_kernel(X, w, centers.copy(), labels.copy(), 1, 1)
    if products:
        c_norm = np.einsum("ij,ij->i", centers, centers)
        _settle_block_kernel(X @ (-2.0 * centers.T), X, 0, centers, c_norm, np.ones(X.shape[0]), 0.0, labels)
        _inertia_kernel(X, w, centers, labels)
    pal = X[:2].copy()
    nbr = np.array([[0, 1], [1, 0]], dtype=np.intp)
    nbr_d = np.array([[0.0, 1.0], [0.0, 1.0]])
    _diffuse_kernel(
        X.reshape(2, 2, 3),
        pal,
        np.ones((2, 2)),
        X.min(axis=0),
        X.max(axis=0),
        np.zeros((2, 2), dtype=np.intp),
        nbr,
        nbr_d,
        np.empty((2, 2), dtype=np.intp),
    )


def _nearest_hinted_kernel(X, C, labels, d1, scan, cc, order):
    """Exact nearest centre of every point (ties to the lowest index), walking out
    from the guess held in ``labels`` through the table ``cc``, ``order`` of the
    centres (``_backend.neighbour_table``; with ``scan``: comparing every centre,
    the guess and the table unused); ``d1`` gets the distances. A row of scratch for each
    thread its parallel loop will run on (as :func:`_lloyd_kernel`)."""
    _nearest_hinted_run(X, C, labels, d1, scan, cc, order, _search_scratch(numba.get_num_threads(), X.shape[1]))


@njit(cache=True, nogil=True)
def _nearest_hinted_run(X, C, labels, d1, scan, cc, order, scratch):  # pragma: no cover - compiled
    """:func:`_nearest_hinted_kernel` compiled."""
    lower = np.empty(X.shape[0])
    _first_assign(X, C, labels, d1, lower, True, cc, order, scan, scratch)


@njit(cache=True, nogil=True)
def _diffuse_kernel(work, pal, weight, lo, hi, guess, nbr, nbr_d, out):  # pragma: no cover - compiled
    """Serpentine Floyd-Steinberg error diffusion with a weight per pixel (:func:`._remap.diffuse`).

    ``work`` (H, W, 3) pixels and ``pal`` (K, 3) entries in the distance space;
    ``weight`` (H, W) in [0, 1] scales the error a pixel takes in and passes on;
    ``lo``/``hi`` clip the corrected colour to the palette's box; ``guess`` (H, W)
    is a starting entry per pixel (the plain mapping's: a pixel of weight 0 takes it), ``nbr[g]``
    the entries by distance from entry ``g`` and ``nbr_d[g]`` those distances. Each other choice
    is the exact nearest entry (ties to the lowest index): the walk from the guess stops by the
    triangle inequality. Writes the entries into ``out`` (H, W)."""
    h, w = guess.shape
    k = pal.shape[0]
    err = np.zeros((2, w + 2, 3))
    c = np.empty(3)
    for y in range(h):
        cur = y & 1
        nxt = 1 - cur
        for x in range(w + 2):
            for ch in range(3):
                err[nxt, x, ch] = 0.0
        step = 1 if cur == 0 else -1
        for i in range(w):
            x = i if step == 1 else w - 1 - i
            wt = weight[y, x]
            if wt == 0.0:  # the plain mapping's entry; no error taken in or passed on
                out[y, x] = guess[y, x]
                continue
            for ch in range(3):
                v = work[y, x, ch] + wt * err[cur, x + 1, ch]
                if v < lo[ch]:
                    v = lo[ch]
                elif v > hi[ch]:
                    v = hi[ch]
                c[ch] = v
            g = guess[y, x]
            d0 = c[0] - pal[g, 0]
            d1 = c[1] - pal[g, 1]
            d2 = c[2] - pal[g, 2]
            dg = d0 * d0 + d1 * d1 + d2 * d2
            best = g
            bd = dg
            rg = np.sqrt(dg)
            for n in range(1, k):
                if nbr_d[g, n] > (rg + np.sqrt(bd)) * (1.0 + 1e-9) + 1e-9:
                    break
                j = nbr[g, n]
                d0 = c[0] - pal[j, 0]
                d1 = c[1] - pal[j, 1]
                d2 = c[2] - pal[j, 2]
                d = d0 * d0 + d1 * d1 + d2 * d2
                if d < bd or (d == bd and j < best):
                    best = j
                    bd = d
            out[y, x] = best
            for ch in range(3):
                e = wt * (c[ch] - pal[best, ch])
                err[cur, x + 1 + step, ch] += e * 0.4375
                err[nxt, x + 1 - step, ch] += e * 0.1875
                err[nxt, x + 1, ch] += e * 0.3125
                err[nxt, x + 1 + step, ch] += e * 0.0625
