"""KMeans on general data: kmeans-compress against scikit-learn (lloyd, elkan) and faiss, in one run.

Not a test. For make_blobs and standard-normal data at d = 2, 8, 32, 128 and K = 8, 64, 256,
fits ``KMeans(K, n_init=1, random_state=0, max_iter=MAX_ITER)`` (k-means++ start, tol 1e-4) with
each contender, alternating them, best of ``--reps`` warm runs, and prints seconds, the ratio to
scikit-learn's lloyd and the inertia ratio, the inertia ratio from one shared start (scikit-learn's
k-means++ centres) and the load average. Then: growth in n (d = 8, K = 64), growth in d (standard
normal, K = 64, the grid's d and 512), and the first call in a new process (8 blobs made with numpy,
2-D, K = 8, n = 200,000 and 1,000,000), each contender in its own fresh interpreter, its import and
its first fit timed apart.

faiss (``faiss-cpu``) runs when importable: ``faiss.Kmeans`` on float32, every point used
(``max_points_per_centroid`` lifted), a fixed ``MAX_ITER`` iterations (it has no tolerance), its
inertia measured on the float64 data.

    python benchmarks/bench_kmeans.py [--n 10000] [--reps 2] [--quick]

Needs the bench group (scikit-learn; faiss-cpu optional).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

MAX_ITER = 100


def datasets(n: int, d: int, seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.datasets import make_blobs

    blobs = make_blobs(n_samples=n, centers=16, n_features=d, cluster_std=2.0, random_state=seed)[0]
    normal = np.random.default_rng(seed).standard_normal((n, d))
    return {"blobs": np.ascontiguousarray(blobs), "normal": normal}


def inertia_of(X: np.ndarray, centers: np.ndarray) -> float:
    from kmeans_compress._nearest import nearest_centers

    _, d2 = nearest_centers(X, np.asarray(centers, dtype=np.float64))
    return float(d2.sum())


def contenders() -> dict:
    import sklearn.cluster

    import kmeans_compress

    def ours(X, k):
        km = kmeans_compress.KMeans(k, n_init=1, random_state=0, max_iter=MAX_ITER).fit(X)
        return km.inertia_

    def sk(algorithm):
        def run(X, k):
            km = sklearn.cluster.KMeans(k, n_init=1, random_state=0, max_iter=MAX_ITER, algorithm=algorithm).fit(X)
            return km.inertia_

        return run

    out = {"kmeans-compress": ours, "sklearn lloyd": sk("lloyd"), "sklearn elkan": sk("elkan")}
    try:
        import faiss
    except ImportError:
        return out

    def fa(X, k):
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        km = faiss.Kmeans(X.shape[1], k, niter=MAX_ITER, seed=0, max_points_per_centroid=1 << 30, verbose=False)
        km.train(X32)
        return inertia_of(X, km.centroids)

    out["faiss"] = fa
    return out


def timed(f, X, k, reps: int) -> tuple[float, float]:
    best = np.inf
    inertia = np.nan
    for _ in range(reps):
        t = time.perf_counter()
        inertia = f(X, k)
        best = min(best, time.perf_counter() - t)
    return best, inertia


def same_start_inertia(X: np.ndarray, k: int) -> float:
    """Our inertia / scikit-learn lloyd's when both start from scikit-learn's k-means++ centres (untimed)."""
    import sklearn.cluster

    import kmeans_compress

    init = sklearn.cluster.kmeans_plusplus(X, k, random_state=0)[0]
    ours = kmeans_compress.KMeans(k, init=init, n_init=1, max_iter=MAX_ITER).fit(X).inertia_
    ref = sklearn.cluster.KMeans(k, init=init, n_init=1, max_iter=MAX_ITER, algorithm="lloyd").fit(X).inertia_
    return ours / ref


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def grid(n: int, reps: int, ds: list[int], ks: list[int], names: tuple[str, ...] = ("blobs", "normal")) -> list[dict]:
    runs = contenders()
    warm = datasets(3000, 4)["blobs"]
    for f in runs.values():  # load every contender's compiled code before timing ("warm")
        f(warm, 64)
    rows = []
    for d in ds:
        data = datasets(n, d)
        for name, X in data.items():
            if name not in names:
                continue
            for k in ks:
                times = {c: np.inf for c in runs}
                inert = {}
                for _ in range(reps):  # alternate the contenders, keep each one's best
                    for c, f in runs.items():
                        t, i = timed(f, X, k, 1)
                        times[c] = min(times[c], t)
                        inert[c] = i
                same = same_start_inertia(X, k)
                load = load_average()
                rows.append(
                    {"data": name, "n": n, "d": d, "k": k, "times": times, "inertia": inert, "same": same, "load": load}
                )
                ref = times["sklearn lloyd"]
                print(
                    f"{name:6s} n={n} d={d:3d} K={k:3d} load {load:.1f} same-start inertia {same:.6f}  "
                    + "  ".join(
                        f"{c}: {t:.3f}s ({t / ref:.2f}x, inertia {inert[c] / inert['sklearn lloyd']:.4f})"
                        for c, t in times.items()
                    ),
                    flush=True,
                )
    return rows


_FIRST_CALL = """
import time, numpy as np
rng = np.random.default_rng(0)
X = rng.uniform(-10, 10, (8, 2))[rng.integers(0, 8, {n})] + rng.standard_normal(({n}, 2))
t0 = time.perf_counter()
{imp}
t1 = time.perf_counter()
m.KMeans(8, n_init=1, random_state=0).fit(X)
print(t1 - t0, time.perf_counter() - t1)
"""


def first_call(n: int, reps: int) -> dict[str, tuple[float, float]]:
    """Median (import, first fit) seconds of each contender, each run in a fresh interpreter, taking
    turns. The data (make_blobs' recipe: 8 centres in [-10, 10]^2, unit spread) are made with numpy
    alone, so that neither side's import is partly paid before the clock starts."""
    imports = {"kmeans-compress": "import kmeans_compress as m", "sklearn lloyd": "import sklearn.cluster as m"}
    runs: dict[str, list[tuple[float, float]]] = {c: [] for c in imports}
    for _ in range(reps):
        for c, imp in imports.items():
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL.format(n=n, imp=imp)], capture_output=True, text=True, check=True
            ).stdout.split()
            runs[c].append((float(out[-2]), float(out[-1])))
    return {c: (float(np.median([r[0] for r in v])), float(np.median([r[1] for r in v]))) for c, v in runs.items()}


def markdown(
    rows: list[dict], growth: list[dict], growth_d: list[dict], first: dict[int, dict[str, tuple[float, float]]], args
) -> str:
    names = list(rows[0]["times"])
    load = load_average()
    import sklearn

    lines = [
        f"## KMeans on general data (bench_kmeans.py), {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores (shared with other jobs; load "
        f"average {load:.1f} at the end, per row below), Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}. `KMeans(K, n_init=1, random_state=0, max_iter={MAX_ITER})`, "
        f"k-means++ start, tol 1e-4; n = {args.n}; best of {args.reps} warm runs, contenders alternated. "
        "Ratios are time / scikit-learn lloyd's and inertia / scikit-learn lloyd's, from this one run (each "
        "contender from its own k-means++ start: a few percent either way is seeding luck). 'Same start' is our "
        "inertia / scikit-learn lloyd's from scikit-learn's k-means++ centres (not timed).",
        "",
        "| data | d | K | "
        + " | ".join(f"{c} s" for c in names)
        + " | "
        + " | ".join(f"{c} time ratio" for c in names[:1] + names[2:])
        + " | "
        + " | ".join(f"{c} inertia ratio" for c in names[:1] + names[3:])
        + " | same-start inertia ratio | load |",
        "|" + "---|" * (3 + len(names) + (len(names) - 1) + (len(names) - 2) + 2),
    ]
    for r in rows:
        ref_t = r["times"]["sklearn lloyd"]
        ref_i = r["inertia"]["sklearn lloyd"]
        cells = [r["data"], str(r["d"]), str(r["k"])]
        cells += [f"{r['times'][c]:.3f}" for c in names]
        cells += [f"{r['times'][c] / ref_t:.2f}" for c in names[:1] + names[2:]]
        cells += [f"{r['inertia'][c] / ref_i:.4f}" for c in names[:1] + names[3:]]
        cells += [f"{r['same']:.6f}", f"{r['load']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    for title, table in (("Growth in n (d = 8, K = 64)", growth), ("Growth in d (standard normal, K = 64)", growth_d)):
        lines += [
            "",
            f"{title}:",
            "",
            "| data | n | d | kmeans-compress s | sklearn lloyd s | ratio | same-start inertia ratio | load |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in table:
            a, b = r["times"]["kmeans-compress"], r["times"]["sklearn lloyd"]
            lines.append(
                f"| {r['data']} | {r['n']} | {r['d']} | {a:.3f} | {b:.3f} | {a / b:.2f} | {r['same']:.6f} "
                f"| {r['load']:.1f} |"
            )
    lines += [
        "",
        f"First call in a new process (data made with numpy: 8 blobs, d = 2, K = 8; import and first fit timed "
        f"apart, median of {max(3, args.reps)} fresh interpreters each, taking turns):",
        "",
        "| n | kmeans-compress import s | first fit s | scikit-learn import s | first fit s "
        "| fit ratio | import + fit ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, times in first.items():
        (ai, af), (bi, bf) = times["kmeans-compress"], times["sklearn lloyd"]
        lines.append(
            f"| {n} | {ai:.3f} | {af:.3f} | {bi:.3f} | {bf:.3f} | {af / bf:.2f} | {(ai + af) / (bi + bf):.2f} |"
        )
    lines += ["", f"Load average at the end: {load_average():.1f}.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="d = 2, 32 and K = 8, 64 only")
    p.add_argument("--write", help="append the Markdown section to this file (benchmarks/RESULTS.md)")
    args = p.parse_args()
    # Warm comparisons: a new process starts on numpy and loads the compiled kernels only once they
    # pay (kmeans_compress._backend.load_pays); these tables compare warm code, so load them now.
    # (The first-call measurements run in new interpreters of their own.)
    from kmeans_compress import _backend

    _backend._load()
    ds, ks = ([2, 32], [8, 64]) if args.quick else ([2, 8, 32, 128], [8, 64, 256])
    rows = grid(args.n, args.reps, ds, ks)
    growth = []
    for n in (args.n, 4 * args.n, 16 * args.n):
        growth += grid(n, args.reps, [8], [64])
    growth_d = [r for r in rows if r["data"] == "normal" and r["k"] == 64]
    growth_d += grid(args.n, args.reps, [512], [64], names=("normal",))
    first = {n: first_call(n, max(3, args.reps)) for n in (200_000, 1_000_000)}  # 1e6: issue 15's own example
    print(first, flush=True)
    text = markdown(rows, growth, growth_d, first, args)
    print(text)
    if args.write:
        with open(args.write, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
