"""Batch throughput: images per second and peak memory on a folder of ~1 MP photos.

Not a test. Builds a folder of N JPEG photos of about one megapixel by cropping
and resizing the public photographs that scikit-learn and scikit-image ship,
then runs the command line on it with --jobs 1, --jobs 2 and --dask local (a
2-worker LocalCluster), each in its own process tree, and prints images/s, the
peak memory of the whole process tree (all workers together) and of its largest
process, and whether the outputs are byte-identical across the runs.

    python benchmarks/bench_batch.py [--n 500] [--k 16] [--work benchmarks/_work/batch]
    python benchmarks/bench_batch.py --thumbs --n 2000 --runs jobs2   (64 x 64 PNG thumbnails)

Needs the bench group (scikit-image, scikit-learn, psutil) and the [dask] extra.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
from PIL import Image


def public_photos() -> list[np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_image

    photos = [load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina"):
        photos.append(getattr(data, name)())
    return [np.ascontiguousarray(p[:, :, :3]) for p in photos]


def _make_crops(root: Path, n: int, name: str, crop: Callable[[np.ndarray, np.random.Generator], Image.Image]) -> int:
    """``n`` files ``name.format(i)`` in ``root``, each ``crop(photo, rng)`` of the public photos in
    turn (kept from an earlier run when all are there); returns their total bytes."""
    pattern = "*" + Path(name).suffix
    if not (root.is_dir() and len(list(root.glob(pattern))) == n):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        rng = np.random.default_rng(0)
        photos = public_photos()
        for i in range(n):
            img = crop(photos[i % len(photos)], rng)
            img.save(root / name.format(i), **({"quality": 90} if pattern == "*.jpg" else {}))
    return sum(p.stat().st_size for p in root.glob(pattern))


def make_folder(root: Path, n: int) -> int:
    """n JPEGs of about 1 MP (random crop of a public photo, resized); returns total bytes."""

    def crop(src: np.ndarray, rng: np.random.Generator) -> Image.Image:
        h, w = src.shape[:2]
        ch, cw = int(h * rng.uniform(0.5, 1.0)), int(w * rng.uniform(0.5, 1.0))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        aspect = cw / ch
        out_h = int(round(np.sqrt(1_000_000 / aspect) * rng.uniform(0.95, 1.05)))
        out_w = int(round(out_h * aspect))
        return Image.fromarray(src[y : y + ch, x : x + cw]).resize((out_w, out_h), Image.Resampling.LANCZOS)

    return _make_crops(root, n, "photo{:04d}.jpg", crop)


def make_thumbs(root: Path, n: int, size: int = 64) -> int:
    """n PNG thumbnails of ``size`` x ``size``: random crops (a quarter to the whole of the shorter
    side) of the public photos, resized; returns total bytes."""

    def crop(src: np.ndarray, rng: np.random.Generator) -> Image.Image:
        h, w = src.shape[:2]
        c = int(min(h, w) * rng.uniform(0.25, 1.0))
        y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        return Image.fromarray(src[y : y + c, x : x + c]).resize((size, size), Image.Resampling.LANCZOS)

    return _make_crops(root, n, "thumb{:04d}.png", crop)


def run_measured(cmd: list[str]) -> tuple[float, int, int, int]:
    """(seconds, peak RSS of the process tree, peak RSS of one process, exit status)."""
    peak_tree = peak_one = 0
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree, peak_one
        while not stop.is_set():
            try:
                procs = [root] + root.children(recursive=True)
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
                peak_tree = max(peak_tree, sum(rss))
                peak_one = max([peak_one] + rss)
            except psutil.Error:
                pass
            stop.wait(0.02)

    t = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    t.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    stop.set()
    t.join()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
    return seconds, peak_tree, peak_one, proc.returncode


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / "_work" / "batch")
    ap.add_argument("--runs", default="jobs1,jobs2,dask2")
    ap.add_argument("--thumbs", action="store_true", help="64 x 64 PNG thumbnails instead of 1-MP JPEG photos")
    a = ap.parse_args()

    t0 = time.perf_counter()
    if a.thumbs:
        folder = a.work / f"thumbs{a.n}"
        in_bytes = make_thumbs(folder, a.n)
        print(f"# {a.n} thumbnails, 64 x 64 PNG, {in_bytes / 1e6:.1f} MB (made in {time.perf_counter() - t0:.0f} s)")
    else:
        folder = a.work / f"photos{a.n}"
        in_bytes = make_folder(folder, a.n)
        mp = np.mean([np.prod(Image.open(p).size) for p in sorted(folder.glob("*.jpg"))[:50]]) / 1e6
        print(
            f"# {a.n} photos, about {mp:.2f} MP each, {in_bytes / 1e6:.1f} MB of JPEG "
            f"(made in {time.perf_counter() - t0:.0f} s)"
        )
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, load average at start {os.getloadavg()[0]:.2f}"
    )
    base = [sys.executable, "-m", "kmeans_compress", str(folder), "-k", str(a.k), "-q"]
    configs = {
        "jobs1": ("--jobs 1", ["-j", "1"]),
        "jobs2": ("--jobs 2", ["-j", "2"]),
        "dask2": ("--dask local, 2 workers", ["--dask", "local", "-j", "2"]),
    }
    results = []
    for key in a.runs.split(","):
        label, extra = configs[key]
        out = a.work / f"out_{key}"
        shutil.rmtree(out, ignore_errors=True)
        seconds, tree, one, rc = run_measured(base + ["-o", str(out)] + extra)
        out_bytes = sum(p.stat().st_size for p in out.rglob("*.png"))
        results.append((label, seconds, tree, one, rc, out_bytes, tree_digest(out)))
        print(f"{label}: {seconds:.1f} s, exit {rc}", flush=True)

    ref = results[0][1]
    print()
    print(
        "| run | seconds | images/s | speed-up | peak RSS, all processes | peak RSS, largest process "
        "| output bytes | outputs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, seconds, tree, one, _rc, out_bytes, digest in results:
        same = "same bytes" if digest == results[0][6] else f"DIFFERENT ({digest})"
        print(
            f"| {label} | {seconds:.1f} | {a.n / seconds:.2f} | {ref / seconds:.2f}x | "
            f"{tree / 2**20:,.0f} MiB | {one / 2**20:,.0f} MiB | {out_bytes / 1e6:.1f} MB | {same} |"
        )


if __name__ == "__main__":
    main()
