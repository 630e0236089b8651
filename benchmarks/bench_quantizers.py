"""Side-by-side benchmark of kmeans-compress and its peers on the public benchmark set.

One run measures everything on the same machine, so compare the ratios, not
the seconds (a loaded machine moves every absolute figure):

1. The public benchmark set (8 photographs shipped by scikit-learn and
   scikit-image, 4.32 Mpx) at K = 16, 64, 256, without dithering: total time,
   mean per-channel MSE on 0-255, PSNR of that mean, total optimized PNG bytes
   (every method's palette + index map encoded by the same encoder), and the
   ratios to scikit-learn on all pixels and to libimagequant.
2. One tiled 24-megapixel image at K = 256 (peak resident memory and time, in a
   child process) and time at 1, 4, 12 and 24 megapixels.
3. Cold start: the whole ``kmeans-compress`` command on a 4-megapixel photo
   against the ``pngquant`` command on the same file.
4. The general ``KMeans`` estimator against scikit-learn's: warm fits on blobs (2-D and 32-D)
   and on unstructured standard-normal data, and a first fit in a new process.
5. Small images (``--only small``): centre crops of one photo from 32 x 32 to 512 x 512 at
   K = 2 to 256, warm process: our palette search (``quantize``) and our whole ``compress()``
   with the PNG file against libimagequant and scikit-learn on all pixels, time and MSE.
6. A second photo set (``--only other-photos``): part 1's measures for us, scikit-learn on all
   pixels and libimagequant on four photos outside the public set (:func:`load_other_photos`).

Usage: ``python benchmarks/bench_quantizers.py [--quick] [--only kmeans|small|other-photos] [--output RESULTS.md]``
(``make bench`` installs the peers and runs parts 1 to 5; ``--only`` runs part 4, 5 or 6 alone and
rewrites only its section of RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from kmeans_compress import encode_png, quantize

HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- data


def load_public_set() -> dict[str, np.ndarray]:
    """The 8 photographs every machine has offline (scikit-learn's and scikit-image's samples), (H, W, 3) uint8."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    images = {"china": load_sample_image("china.jpg"), "flower": load_sample_image("flower.jpg")}
    for name in ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina"]:
        a = getattr(data, name)()
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=-1)
        images[name] = np.ascontiguousarray(a[..., :3], dtype=np.uint8)
    return images


def tiled(images: dict[str, np.ndarray], megapixels: float) -> np.ndarray:
    """An image of about ``megapixels`` Mpx (3:2), tiled from the photographs in turn."""
    n = int(megapixels * 1e6)
    h = int(round((n / 1.5) ** 0.5))
    w = n // h
    out = np.empty((h, w, 3), dtype=np.uint8)
    photos = list(images.values())
    y = i = 0
    while y < h:
        x = 0
        row_h = 0
        while x < w:
            p = photos[i % len(photos)]
            i += 1
            ph, pw = min(p.shape[0], h - y), min(p.shape[1], w - x)
            out[y : y + ph, x : x + pw] = p[:ph, :pw]
            x += pw
            row_h = max(row_h, ph)
        y += row_h
    return out


# ----------------------------------------------------------------------------- methods
# Each takes (image, K) and returns (palette (k, 3) uint8, indices (H, W) uint8).


def _from_labels(centers: np.ndarray, labels: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    pal = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
    return pal, labels.reshape(shape[:2]).astype(np.uint8)


def m_ours(img, k):
    q = quantize(img, k, random_state=0)
    return q.palette, q.indices


def m_sklearn_all(img, k):
    from sklearn.cluster import KMeans

    px = img.reshape(-1, 3).astype(np.float64)
    km = KMeans(n_clusters=k, random_state=0).fit(px)
    return _from_labels(km.cluster_centers_, km.labels_, img.shape)


def m_sklearn_1000(img, k):
    from sklearn.cluster import KMeans
    from sklearn.utils import shuffle

    px = img.reshape(-1, 3).astype(np.float64)
    sample = shuffle(px, random_state=0, n_samples=1000)
    km = KMeans(n_clusters=k, random_state=0).fit(sample)
    return _from_labels(km.cluster_centers_, km.predict(px), img.shape)


def m_minibatch(img, k):
    from sklearn.cluster import MiniBatchKMeans

    px = img.reshape(-1, 3).astype(np.float64)
    km = MiniBatchKMeans(n_clusters=k, random_state=0).fit(px)
    return _from_labels(km.cluster_centers_, km.labels_, img.shape)


def m_opencv(img, k):
    import cv2

    cv2.setRNGSeed(0)
    px = img.reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 300, 1e-4)
    _, labels, centers = cv2.kmeans(px, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    return _from_labels(centers, labels.ravel(), img.shape)


def _from_pil_p(q: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    idx = np.asarray(q, dtype=np.uint8)
    n = int(idx.max()) + 1
    pal = np.asarray(q.getpalette()[: 3 * n], dtype=np.uint8).reshape(-1, 3)
    return pal, idx


def m_pil_mediancut(img, k):
    q = Image.fromarray(img).quantize(k, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return _from_pil_p(q)


def m_pil_fastoctree(img, k):
    q = Image.fromarray(img).quantize(k, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    return _from_pil_p(q)


def m_imagequant(img, k):
    import imagequant

    q = imagequant.quantize_pil_image(Image.fromarray(img).convert("RGBA"), dithering_level=0.0, max_colors=k)
    idx = np.asarray(q, dtype=np.uint8)
    pal = np.asarray(q.getpalette()[: 3 * (int(idx.max()) + 1)], dtype=np.uint8).reshape(-1, 3)
    return pal, idx


class PngquantCommand:
    """The ``pngquant`` command on a PNG of the image; time is the command's wall time."""

    def __init__(self, exe: str, tmp: Path):
        self.exe = exe
        self.tmp = tmp
        self.last_seconds = 0.0

    def __call__(self, img, k):
        src = self.tmp / "in.png"
        dst = self.tmp / "out.png"
        Image.fromarray(img).save(src, compress_level=1)
        t = time.perf_counter()
        subprocess.run([self.exe, str(k), "--nofs", "--force", "--output", str(dst), str(src)], check=True)
        self.last_seconds = time.perf_counter() - t
        with Image.open(dst) as q:
            q.load()
            if q.mode != "P":
                q = q.convert("P")
            return _from_pil_p(q)


# ----------------------------------------------------------------------------- part 1


def run_quality(images, ks, methods, pngquant):
    rows = []
    for k in ks:
        for name, fn in methods:
            if fn is None:
                continue
            total_t = 0.0
            mses = []
            nbytes = 0
            for img in images.values():
                t = time.perf_counter()
                pal, idx = fn(img, k)
                dt = time.perf_counter() - t
                if fn is pngquant:
                    dt = pngquant.last_seconds
                total_t += dt
                rebuilt = pal[idx].astype(np.int64)
                mses.append(float(np.mean((rebuilt - img.astype(np.int64)) ** 2)))
                nbytes += len(encode_png(idx, pal))
            mse = float(np.mean(mses))
            rows.append(
                {
                    "K": k,
                    "method": name,
                    "seconds": total_t,
                    "mse": mse,
                    "psnr": 10 * np.log10(255.0**2 / mse),
                    "bytes": nbytes,
                }
            )
            print(f"K={k:3d} {name:22s} {total_t:8.2f} s  MSE {mse:8.3f}  {nbytes:10d} B", file=sys.stderr, flush=True)
    return rows


def table_quality(rows) -> str:
    out = []
    for k in sorted({r["K"] for r in rows}):
        sub = [r for r in rows if r["K"] == k]
        ref = {r["method"]: r for r in sub}
        sk = ref.get("sklearn all pixels")
        lq = ref.get("libimagequant")
        pq = ref.get("pngquant --nofs")
        out.append(f"\n### K = {k}\n")
        out.append(
            "| method | time s | MSE | PSNR dB | PNG bytes | time / sklearn | MSE / sklearn "
            "| time / liq | MSE / liq | bytes / liq | bytes / pngquant |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sub:

            def ratio(a, b, key, r=r):
                return f"{r[key] / b[key]:.3f}" if b else "-"

            out.append(
                f"| {r['method']} | {r['seconds']:.2f} | {r['mse']:.3f} | {r['psnr']:.2f} | {r['bytes']} | "
                f"{ratio(r, sk, 'seconds')} | {ratio(r, sk, 'mse')} | {ratio(r, lq, 'seconds')} | "
                f"{ratio(r, lq, 'mse')} | {ratio(r, lq, 'bytes')} | {ratio(r, pq, 'bytes')} |"
            )
    return "\n".join(out)


# ----------------------------------------------------------------------------- part 2 and 3

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from kmeans_compress import compress
r = compress(sys.argv[1], n_colors=int(sys.argv[2]), random_state=0)
t1 = time.perf_counter()
data = r.to_png_bytes()
t2 = time.perf_counter()
# VmHWM is this process's own high-water mark; ru_maxrss can carry the parent's over fork + exec.
try:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    peak = int(hwm.split()[1]) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"compress_s": t1 - t0, "encode_s": t2 - t1, "bytes": len(data), "peak_mb": peak}))
"""


def run_scaling(images, sizes, tmp: Path):
    rows = []
    for mp in sizes:
        path = tmp / f"tiled_{mp}.png"
        Image.fromarray(tiled(images, mp)).save(path, compress_level=1)
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), "256"], check=True, capture_output=True, text=True
        )
        wall = time.perf_counter() - t
        rec = json.loads(out.stdout)
        rec.update(mp=mp, wall_s=wall)
        rows.append(rec)
        print(f"{mp} Mpx: {rec}", file=sys.stderr, flush=True)
        path.unlink()
    return rows


def run_cold_start(images, pngquant_exe, tmp: Path, repeats=3):
    path = tmp / "photo4mp.png"
    Image.fromarray(tiled(images, 4)).save(path)
    exe = shutil.which("kmeans-compress") or str(Path(sys.executable).with_name("kmeans-compress"))
    res = {}
    for k in (16, 256):
        ours = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run([exe, "-k", str(k), "-f", "-q", "-o", str(tmp / "o.png"), str(path)], check=True)
            ours.append(time.perf_counter() - t)
        res[f"ours_k{k}"] = min(ours)
        if pngquant_exe:
            pq = []
            for _ in range(repeats):
                t = time.perf_counter()
                subprocess.run(
                    [pngquant_exe, str(k), "--nofs", "--force", "--output", str(tmp / "p.png"), str(path)], check=True
                )
                pq.append(time.perf_counter() - t)
            res[f"pngquant_k{k}"] = min(pq)
    return res


def _kmeans_cases(quick: bool):
    """(name, X, K) of the warm comparison: structured data (blobs) and unstructured data."""
    from sklearn.datasets import make_blobs

    n_big, n_mid = (200_000, 50_000) if quick else (1_000_000, 200_000)
    big, mid = (f"{n:.0e}".replace("e+0", "e") for n in (n_big, n_mid))  # 1e6, 2e5
    rng = np.random.default_rng(0)
    return [
        (
            f"make_blobs({big}, centers=8, 2 features), K=8",
            make_blobs(n_big, centers=8, n_features=2, random_state=0)[0],
            8,
        ),
        (
            f"make_blobs({mid}, centers=64, 32 features), K=64",
            make_blobs(n_mid, centers=64, n_features=32, random_state=0)[0],
            64,
        ),
        (f"standard normal {mid} x 32 (no clusters), K=64", rng.standard_normal((n_mid, 32)), 64),
    ]


def _fit_timed(estimator, X, k):
    t = time.perf_counter()
    model = estimator(k, n_init=1, random_state=0).fit(X)
    return time.perf_counter() - t, model


# A first fit in a new process: numpy and the data are loaded first (the same for both), then the
# clock runs over the estimator's import and its first fit (for us: numba and the cached kernels load).
_KMEANS_CHILD = r"""
import json, sys, time
import numpy as np
X = np.load(sys.argv[2])
t0 = time.perf_counter()
if sys.argv[1] == "ours":
    from kmeans_compress import KMeans
else:
    from sklearn.cluster import KMeans
t1 = time.perf_counter()
km = KMeans(int(sys.argv[3]), n_init=1, random_state=0).fit(X)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "fit_s": t2 - t1, "inertia": float(km.inertia_)}))
"""


def run_kmeans_cold(X, k, tmp: Path, repeats=3):
    """Best of ``repeats`` new processes per implementation, taking turns, after one unmeasured
    run each (it fills numba's on-disk cache and the OS file cache, as any earlier use would)."""
    path = tmp / "kmeans_cold.npy"
    np.save(path, X)
    runs = {"sklearn": [], "ours": []}
    for i in range(repeats + 1):
        for impl in runs:
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", _KMEANS_CHILD, impl, str(path), str(k)],
                check=True,
                capture_output=True,
                text=True,
            )
            rec = json.loads(out.stdout)
            rec["process_s"] = time.perf_counter() - t
            rec["inside_s"] = rec["import_s"] + rec["fit_s"]
            if i:
                runs[impl].append(rec)
    res = {}
    for impl, recs in runs.items():
        res[impl] = {key: min(r[key] for r in recs) for key in ("import_s", "fit_s", "inside_s", "process_s")}
        res[impl]["inertia"] = recs[0]["inertia"]
        print(f"cold {impl}: {res[impl]}", file=sys.stderr, flush=True)
    path.unlink()
    return res


def run_kmeans_general(tmp: Path, quick=False):
    """Warm fits (both estimators already imported and their code loaded) on three data sets,
    the two taking turns, best of 5; then a first fit in a new process on the first data set.
    Taking turns and keeping the best make the ratio robust to load from other processes
    that comes and goes (a shared machine); it cannot remove load that stays."""
    from sklearn.cluster import KMeans as SkKMeans

    from kmeans_compress import KMeans

    repeats = 1 if quick else 5
    cases = _kmeans_cases(quick)
    rows = []
    for name, X, k in cases:
        for est in (SkKMeans, KMeans):  # warm-up: the first 50,000 rows take the same code path
            est(k, n_init=1, random_state=0).fit(X[:50_000])
        ts = to = float("inf")
        for _ in range(repeats):
            t, sk = _fit_timed(SkKMeans, X, k)
            ts = min(ts, t)
            t, ours = _fit_timed(KMeans, X, k)
            to = min(to, t)
        rows.append(
            {
                "case": name,
                "sk_s": ts,
                "ours_s": to,
                "sk_inertia": sk.inertia_,
                "ours_inertia": ours.inertia_,
                "sk_iter": sk.n_iter_,
                "ours_iter": ours.n_iter_,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    name, X, k = cases[0]
    cold = run_kmeans_cold(X, k, tmp, repeats=1 if quick else 5)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"warm": rows, "cold": cold, "cold_case": name, "repeats": repeats, "load_end": load}


def kmeans_section(general, started, header) -> list[str]:
    md = [
        "\n## General KMeans against scikit-learn (n_init=1, random_state=0)\n",
        f"Run {started:%Y-%m-%d %H:%M} UTC on: {header}; load average at the end {general['load_end']:.1f}. "
        "Both use their defaults on all cores (scikit-learn: OpenMP threads; ours: numba kernels).",
        "",
        f"**Warm** (both estimators imported and their code loaded by a fit on the first 50,000 rows; "
        f"the two take turns, best of {general['repeats']} fits each):\n",
        "| data | sklearn s | ours s | time ratio | inertia ratio | iterations sklearn / ours |",
        "|---|---|---|---|---|---|",
    ]
    for r in general["warm"]:
        md.append(
            f"| {r['case']} | {r['sk_s']:.2f} | {r['ours_s']:.2f} | {r['ours_s'] / r['sk_s']:.2f} | "
            f"{r['ours_inertia'] / r['sk_inertia']:.5f} | {r['sk_iter']} / {r['ours_iter']} |"
        )
    c = general["cold"]
    sk, us = c["sklearn"], c["ours"]
    md += [
        f"\n**First fit in a new process** on {general['cold_case']} (numpy imported and the data loaded "
        'first; then the estimator\'s import and one fit, timed inside the process; "whole process" is the '
        "wall time of the child, interpreter start included; the two take turns, best of "
        f"{general['repeats']} processes each, after one unmeasured run each that fills numba's on-disk "
        "cache):\n",
        "| | import s | first fit s | import + fit s | whole process s | inertia |",
        "|---|---|---|---|---|---|",
        f"| sklearn | {sk['import_s']:.2f} | {sk['fit_s']:.2f} | {sk['inside_s']:.2f} | {sk['process_s']:.2f} | "
        f"{sk['inertia']:,.0f} |",
        f"| ours | {us['import_s']:.2f} | {us['fit_s']:.2f} | {us['inside_s']:.2f} | {us['process_s']:.2f} | "
        f"{us['inertia']:,.0f} |",
        f"| ratio ours / sklearn | {us['import_s'] / sk['import_s']:.2f} | {us['fit_s'] / sk['fit_s']:.2f} | "
        f"{us['inside_s'] / sk['inside_s']:.2f} | {us['process_s'] / sk['process_s']:.2f} | "
        f"{us['inertia'] / sk['inertia']:.5f} |",
    ]
    return md


# ----------------------------------------------------------------------------- main


_MARKER = "<!-- end of bench_quantizers.py output -->"


def machine() -> str:
    import sklearn

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, Pillow {Image.__version__}; "
        f"load average at start {load:.1f}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="K=16 and 64 only, fast peers only, small scaling run")
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"), help="Markdown file for the results")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated peers to leave out: minibatch, opencv, sklearn-all "
        "(the slow ones; MiniBatchKMeans takes minutes on a loaded 2-core machine)",
    )
    ap.add_argument(
        "--only",
        choices=["kmeans", "small", "other-photos"],
        help="run one part and rewrite only its section of the results file: 'kmeans' is part 4, "
        "the general KMeans against scikit-learn; 'small' is part 5, small images; 'other-photos' is "
        "part 6, the photo path on photos outside the public set",
    )
    args = ap.parse_args(argv)
    # Warm comparisons: a new process starts on numpy and loads the compiled kernels only once they
    # pay (kmeans_compress._backend.load_pays); these tables compare warm code, so load them now.
    # (The first-call measurements run in new interpreters of their own.)
    from kmeans_compress import _backend

    _backend._load()
    if args.only == "kmeans":
        return main_kmeans_only(args)
    if args.only == "small":
        return main_small_only(args)
    if args.only == "other-photos":
        return main_other_photos(args)

    images = load_public_set()
    print(
        f"{len(images)} images, {sum(i.shape[0] * i.shape[1] for i in images.values()) / 1e6:.2f} Mpx", file=sys.stderr
    )
    pngquant_exe = shutil.which("pngquant")
    if not pngquant_exe:
        print("notice: the pngquant command is not installed; its rows are skipped", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="kmc-bench-"))
    pq = PngquantCommand(pngquant_exe, tmp) if pngquant_exe else None
    for k in (16, 256):  # import, numba loading and first-call costs out of the table, as for the peers
        quantize(next(iter(images.values())), k)

    ks = (16, 64) if args.quick else (16, 64, 256)
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    methods = [
        ("kmeans-compress", m_ours),
        ("sklearn all pixels", None if "sklearn-all" in skip else m_sklearn_all),
        ("sklearn 1000-px fit", m_sklearn_1000),
        ("MiniBatchKMeans", None if args.quick or "minibatch" in skip else m_minibatch),
        ("OpenCV kmeans", None if args.quick or "opencv" in skip else m_opencv),
        ("Pillow MEDIANCUT", m_pil_mediancut),
        ("Pillow FASTOCTREE", m_pil_fastoctree),
        ("libimagequant", m_imagequant),
        ("pngquant --nofs", pq),
    ]
    started = datetime.now(timezone.utc)
    header = machine()
    quality = run_quality(images, ks, methods, pq)
    scaling = run_scaling(images, (1, 4) if args.quick else (1, 4, 12, 24), tmp)
    cold = run_cold_start(images, pngquant_exe, tmp, repeats=1 if args.quick else 2)
    general = run_kmeans_general(tmp, quick=args.quick)
    small_args = _small_args(args.quick)
    small = run_small(images[small_args[0]], *small_args[1:])
    small_first = run_small_first(images[small_args[0]], _SMALL_FIRST_CASES)
    shutil.rmtree(tmp, ignore_errors=True)

    flags = " ".join(a for a in (("--quick" if args.quick else ""), (f"--skip {args.skip}" if skip else "")) if a)
    md = [
        "# Benchmark results\n",
        f"Run {started:%Y-%m-%d %H:%M} UTC{f' ({flags})' if flags else ''} on: {header}.",
        "Times are seconds for the 8 photographs of the public set (array in, palette + index map out; "
        "pngquant: the command's wall time, PNG decode and encode included). MSE: per-channel, 0-255, mean over "
        "images; PSNR of that mean. Bytes: every method's palette + index map encoded by the same optimized PNG "
        "encoder. Compare ratios: all rows come from this one run.",
        table_quality(quality),
        "\n## One large image at K = 256 (child process: load, compress, encode)\n",
        "| Mpx | compress s | encode s | whole process s | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for r in scaling:
        md.append(
            f"| {r['mp']} | {r['compress_s']:.2f} | {r['encode_s']:.2f} | {r['wall_s']:.2f} | {r['peak_mb']:.0f} |"
        )
    md += [
        "\n## Cold start: whole command on one 4-Mpx PNG (best of runs)\n",
        "| K | kmeans-compress s | pngquant --nofs s | ratio |",
        "|---|---|---|---|",
    ]
    for k in (16, 256):
        o = cold.get(f"ours_k{k}")
        p = cold.get(f"pngquant_k{k}")
        md.append(f"| {k} | {o:.2f} | {p:.2f} | {o / p:.2f} |" if p else f"| {k} | {o:.2f} | - | - |")
    md += kmeans_section(general, started, header)
    md += small_section(small, started, header, small_args[0], small_args[3])
    md += small_first_section(small_first)
    text = "\n".join(md) + "\n"
    print(text)
    # Replace this script's part of the results file; keep what follows the marker
    # (other benchmarks' sections and the notes written about a run).
    out = Path(args.output)
    rest = ""
    if out.exists():
        old = out.read_text()
        if _MARKER in old:
            rest = old[old.index(_MARKER) :]
    out.write_text(text + "\n" + (rest or _MARKER + "\n"))
    return 0


_KMEANS_HEADING = "## General KMeans against scikit-learn"
_SMALL_HEADING = "## Small images against libimagequant"
_OTHER_HEADING = "## Photos outside the public set"


def replace_kmeans_section(old: str, section: str, heading: str = _KMEANS_HEADING) -> str:
    """``old`` with its section ``heading`` (from the heading to the next heading or the marker)
    replaced by ``section``; inserted before the marker if there is none. The rest is kept."""
    if _MARKER not in old:
        old = old.rstrip("\n") + "\n\n" + _MARKER + "\n"
    head, rest = old[: old.index(_MARKER)], old[old.index(_MARKER) :]
    if heading in head:
        i = head.index(heading)
        nxt = head.find("\n## ", i + 1)
        tail = head[nxt + 1 :] if nxt >= 0 else ""
        head = head[:i]
    else:
        tail = ""
    return head.rstrip("\n") + "\n\n" + section.strip("\n") + "\n\n" + tail + rest


# ----------------------------------------------------------------------------- part 5


def _centre_crop(img: np.ndarray, n: int) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = (h - n) // 2, (w - n) // 2
    return np.ascontiguousarray(img[y : y + n, x : x + n])


def _mse(img: np.ndarray, pal: np.ndarray, idx: np.ndarray) -> float:
    return float(np.mean((pal[idx].astype(np.int64) - img.astype(np.int64)) ** 2))


def run_small(photo: np.ndarray, sizes, ks, repeats: int = 5):
    """Per crop size and K: median seconds of our ``quantize`` (palette + index map, what
    libimagequant's call does), of our whole ``compress()`` + PNG bytes (oxipng pass included),
    of libimagequant and of scikit-learn on all pixels (one fit: it is the quality reference), and
    the MSE of each. Ours and libimagequant take turns, ``repeats`` times each; then ``compress()``."""
    from kmeans_compress import compress

    for k in (16, 256):  # imports, kernel loading and first-call costs out of the table
        quantize(_centre_crop(photo, 64), k)
        compress(_centre_crop(photo, 64), k).to_png_bytes()
        m_imagequant(_centre_crop(photo, 64), k)
    rows = []
    for n in sizes:
        img = _centre_crop(photo, n)
        for k in ks:
            times: dict[str, list[float]] = {"quantize": [], "compress": [], "liq": []}
            # Ours and libimagequant take turns; the whole compress() runs in its own loop after them:
            # its PNG pass (oxipng's threads) would otherwise run just before every quantize.
            for _ in range(repeats):
                t = time.perf_counter()
                q = quantize(img, k, random_state=0)
                times["quantize"].append(time.perf_counter() - t)
                t = time.perf_counter()
                lpal, lidx = m_imagequant(img, k)
                times["liq"].append(time.perf_counter() - t)
            for _ in range(repeats):
                t = time.perf_counter()
                compress(img, k, random_state=0).to_png_bytes()
                times["compress"].append(time.perf_counter() - t)
            med = {key: float(np.median(v)) for key, v in times.items()}
            row = {"n": n, "K": k, **med, "mse": _mse(img, q.palette, q.indices), "mse_liq": _mse(img, lpal, lidx)}
            rows.append(row)
    # scikit-learn's fits last: its OpenMP threads spin on after a fit, and slowed the first runs
    # of the next size that used both cores (128 x 128 at K = 16: 19-25 ms against 7-8 after)
    for row in rows:
        img = _centre_crop(photo, row["n"])
        t = time.perf_counter()
        spal, sidx = m_sklearn_all(img, row["K"])
        row["sklearn"] = time.perf_counter() - t
        row["mse_sk"] = _mse(img, spal, sidx)
        print(row, file=sys.stderr, flush=True)
    return rows


_FIRST_SMALL = """
import sys, time
import numpy as np
img = np.load(sys.argv[1]); k = int(sys.argv[2])
t0 = time.perf_counter()
{imp}
t1 = time.perf_counter()
{call}
print(t1 - t0, time.perf_counter() - t1)
"""
_FIRST_SMALL_TOOLS = {
    "ours": ("from kmeans_compress import quantize", "quantize(img, k)"),
    "liq": (
        "import imagequant\nfrom PIL import Image",
        "imagequant.quantize_pil_image(Image.fromarray(img).convert('RGBA'), dithering_level=0.0, max_colors=k)",
    ),
}


def run_small_first(photo: np.ndarray, cases, reps: int = 3) -> list[dict]:
    """A first call in a new process, for a few (crop size, K): each tool's import and its first
    quantization timed apart (the crop is read from a .npy file before the clock starts), in fresh
    interpreters taking turns; the medians. Ours runs on numpy there until loading the compiled
    kernels pays (``_backend.load_pays``); libimagequant has nothing to load."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, k in cases:
            path = os.path.join(tmp, f"crop{n}.npy")
            np.save(path, _centre_crop(photo, n))
            got: dict[str, list[tuple[float, float]]] = {tool: [] for tool in _FIRST_SMALL_TOOLS}
            for _ in range(reps):
                for tool, (imp, call) in _FIRST_SMALL_TOOLS.items():
                    out = subprocess.run(
                        [sys.executable, "-c", _FIRST_SMALL.format(imp=imp, call=call), path, str(k)],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.split()
                    got[tool].append((float(out[-2]), float(out[-1])))
            row = {"n": n, "K": k}
            for tool, v in got.items():
                row[tool] = (float(np.median([a for a, _ in v])), float(np.median([b for _, b in v])))
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    return rows


def small_first_section(rows) -> list[str]:
    md = [
        "\nFirst call in a new process (median of 3 fresh interpreters each, taking turns; import and "
        "first call timed apart, ms):\n",
        "| size | K | ours: import | first quantize | libimagequant: import | first call | first call ours / liq "
        "| import + call ours / liq |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        (oi, oc), (li, lc) = r["ours"], r["liq"]
        md.append(
            f"| {r['n']} x {r['n']} | {r['K']} | {oi * 1e3:.0f} | {oc * 1e3:.0f} | {li * 1e3:.0f} | {lc * 1e3:.1f} "
            f"| {oc / lc:.1f} | {(oi + oc) / (li + lc):.2f} |"
        )
    return md


def small_section(rows, started, header, photo_name: str, repeats: int) -> list[str]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    md = [
        f"\n{_SMALL_HEADING} (warm process, centre crops of `{photo_name}`)\n",
        f"Run {started:%Y-%m-%d %H:%M} UTC on: {header}; load average at the end {load:.1f}. "
        "Times are milliseconds, the median of "
        f"{repeats} runs, ours and libimagequant taking turns in the same process: **quantize** is our palette "
        "search and index map (array in, palette + index map out: what libimagequant's call does); "
        "**compress+PNG** is our whole `compress()` and the optimized PNG bytes (report and oxipng pass "
        "included), timed in its own loop after the turns (its PNG pass's threads would otherwise run just "
        "before every quantize). scikit-learn: one `KMeans(K, random_state=0)` fit on all pixels, the "
        "quality reference. MSE: per channel, 0-255.\n",
        "| size | K | quantize ms | compress+PNG ms | libimagequant ms | quantize / liq | sklearn ms "
        "| MSE ours | MSE liq | MSE sklearn | MSE ours / sklearn |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['n']} x {r['n']} | {r['K']} | {r['quantize'] * 1e3:.1f} | {r['compress'] * 1e3:.1f} | "
            f"{r['liq'] * 1e3:.1f} | {r['quantize'] / r['liq']:.2f} | {r['sklearn'] * 1e3:.0f} | "
            f"{r['mse']:.2f} | {r['mse_liq']:.2f} | {r['mse_sk']:.2f} | "
            f"{r['mse'] / r['mse_sk'] if r['mse_sk'] else float('nan'):.3f} |"
        )
    by_k: dict[int, list[float]] = {}
    for r in rows:
        if r["mse_sk"]:
            by_k.setdefault(r["K"], []).append(r["mse"] / r["mse_sk"])
    md.append(
        "\nMean MSE ours / scikit-learn over the sizes: "
        + ", ".join(f"K = {k}: {np.mean(v):.3f}" for k, v in sorted(by_k.items()))
        + "."
    )
    return md


#: (crop size, K) of the first-call rows: the tutorial's 128 x 128, and the sizes around it.
_SMALL_FIRST_CASES = ((32, 16), (64, 16), (128, 16), (128, 256), (160, 256))


def _small_args(quick: bool):
    """(photo name, crop sizes, palette sizes, runs) of part 5."""
    sizes = (32, 64, 128, 256) if quick else (32, 64, 128, 256, 512)
    return "astronaut", sizes, (2, 16, 64, 256), 3 if quick else 5


def main_small_only(args) -> int:
    started = datetime.now(timezone.utc)
    header = machine()
    photo_name, sizes, ks, repeats = _small_args(args.quick)
    photo = load_public_set()[photo_name]
    rows = run_small(photo, sizes, ks, repeats)
    first = run_small_first(photo, _SMALL_FIRST_CASES)
    section = "\n".join(
        small_section(rows, started, header + (" (--quick)" if args.quick else ""), photo_name, repeats)
        + small_first_section(first)
    )
    print(section)
    out = Path(args.output)
    old = out.read_text() if out.exists() else "# Benchmark results\n"
    out.write_text(replace_kmeans_section(old, section, _SMALL_HEADING))
    return 0


def main_kmeans_only(args) -> int:
    started = datetime.now(timezone.utc)
    header = machine()
    tmp = Path(tempfile.mkdtemp(prefix="kmc-bench-"))
    try:
        general = run_kmeans_general(tmp, quick=args.quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    section = "\n".join(kmeans_section(general, started, header + (" (--quick)" if args.quick else "")))
    print(section)
    out = Path(args.output)
    old = out.read_text() if out.exists() else "# Benchmark results\n"
    out.write_text(replace_kmeans_section(old, section))
    return 0


# ----------------------------------------------------------------------------- part 6


def load_other_photos() -> dict[str, np.ndarray]:
    """A second photo set, offline on every machine with the test group: scikit-image's
    immunohistochemistry and both stereo_motorcycle views, matplotlib's Grace Hopper."""
    import matplotlib
    from skimage import data

    left, right = data.stereo_motorcycle()[:2]
    out = {"immunohistochemistry": data.immunohistochemistry(), "motorcycle_left": left, "motorcycle_right": right}
    with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg") as im:
        out["grace_hopper"] = np.asarray(im.convert("RGB"))
    return {k: np.ascontiguousarray(v[..., :3], dtype=np.uint8) for k, v in out.items()}


def main_other_photos(args) -> int:
    started = datetime.now(timezone.utc)
    header = machine()
    images = load_other_photos()
    for k in (16, 256):  # loading out of the table, as in part 1
        quantize(next(iter(images.values())), k)
    ks = (16, 64) if args.quick else (16, 64, 256)
    methods = [("kmeans-compress", m_ours), ("sklearn all pixels", m_sklearn_all), ("libimagequant", m_imagequant)]
    rows = run_quality(images, ks, methods, None)
    section = "\n".join(
        [
            _OTHER_HEADING + " (the photo path, part 6)\n",
            f"Run {started:%Y-%m-%d %H:%M} UTC on: {header}. {', '.join(images)} "
            f"({sum(i.shape[0] * i.shape[1] for i in images.values()) / 1e6:.2f} Mpx); the same measures as part 1.",
            table_quality(rows),
        ]
    )
    print(section)
    out = Path(args.output)
    old = out.read_text() if out.exists() else "# Benchmark results\n"
    out.write_text(replace_kmeans_section(old, section, _OTHER_HEADING))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
