"""The files the tools write, side by side with pngquant (issue 13), in one run.

1. No dithering, K = 16, 64, 256, on the public benchmark set (DESIGN section 5) and on four other
   photos (:func:`other_photos`): bytes of our files with the lossless pass off (``effort=0``:
   Pillow's encoder, with the palette order for deflate) and at the default effort; bytes of
   ``pngquant --nofs`` files as written and after oxipng (pyoxipng, its default level 2); MSE of both.
2. Dithered: ``--dither`` (default strength) against pngquant's default mode (dithered): SSIM
   (scikit-image), SSIMULACRA 2 (the ``ssimulacra2`` package, when installed), MSE, bytes.
3. Whole process, on two 4-megapixel photos (astronaut resized to 2048 x 2048, Lanczos; a mosaic
   of 512 x 512 crops of the other photos) at K = 256: our CLI at the default effort against
   ``pngquant`` alone and ``pngquant`` then oxipng (run as ``python -c 'oxipng.optimize(...)'``: no
   oxipng command is installed here; its start-up, ~0.1 s, counts against the pair), taking turns.
4. The effort levels: bytes against the time of the lossless pass, over the 8 photos at K = 64.

Usage: ``python benchmarks/bench_files.py [--repeat N]``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import oxipng
from PIL import Image
from skimage.metrics import structural_similarity

import kmeans_compress as kc

KS = (16, 64, 256)


def photos() -> dict[str, np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_image

    out = {n: load_sample_image(f"{n}.jpg") for n in ("china", "flower")}
    for n in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina"):
        out[n] = getattr(data, n)()[..., :3]
    return out


def other_photos() -> dict[str, np.ndarray]:
    """Photos outside the benchmark set: scikit-image's immunohistochemistry and both views of
    stereo_motorcycle, matplotlib's sample photo of Grace Hopper."""
    from pathlib import Path as _Path

    import matplotlib
    from skimage import data

    left, right = data.stereo_motorcycle()[:2]
    out = {"immunohistochemistry": data.immunohistochemistry(), "motorcycle_left": left, "motorcycle_right": right}
    sample = _Path(matplotlib.get_data_path()) / "sample_data"
    with Image.open(sample / "grace_hopper.jpg") as im:
        out["grace_hopper"] = np.asarray(im.convert("RGB"))
    return out


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b
    return float(np.mean(d * d))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def ssimulacra2(a: np.ndarray, b: np.ndarray, tmp: Path) -> float | None:
    try:
        from ssimulacra2 import compute_ssimulacra2
    except ImportError:
        return None
    pa, pb = tmp / "ref.png", tmp / "dist.png"
    Image.fromarray(a).save(pa)
    Image.fromarray(b).save(pb)
    return float(compute_ssimulacra2(str(pa), str(pb)))


def pngquant(src: Path, k: int, dst: Path, dither: bool) -> bytes:
    cmd = ["pngquant", "--force", "--output", str(dst), *([] if dither else ["--nofs"]), str(k), str(src)]
    subprocess.run(cmd, check=True)
    return dst.read_bytes()


def whole_process(title: str, pixels: np.ndarray, tmp: Path, repeat: int) -> None:
    """Our CLI against pngquant (its default mode) alone and then oxipng, on one 4-Mpx PNG at K = 256."""
    print(f"\n## Whole process, 4-megapixel photo ({title}), K = 256\n")
    src = tmp / "big.png"
    Image.fromarray(pixels).save(src)
    ours_cmd = [sys.executable, "-m", "kmeans_compress", str(src), "-k", "256", "-o", str(tmp / "o.png"), "-f", "-q"]
    pq_cmd = ["pngquant", "--force", "--output", str(tmp / "p.png"), "256", str(src)]
    ox_cmd = [sys.executable, "-c", f"import oxipng; oxipng.optimize({str(tmp / 'p.png')!r}, level=2)"]

    subprocess.run(ours_cmd, check=True)  # kernels loaded (compiled) once
    runs: dict[str, list[float]] = {"ours": [], "pq": [], "pqo": []}
    for _ in range(repeat):  # taking turns, so that a change of load falls on all three
        for key, cmds in (("ours", [ours_cmd]), ("pq", [pq_cmd]), ("pqo", [pq_cmd, ox_cmd])):
            t = time.perf_counter()
            for c in cmds:
                subprocess.run(c, check=True)
            runs[key].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in runs.items()}
    low = {k: min(v) for k, v in runs.items()}
    print(f"{repeat} runs each, taking turns; load average at the end {os.getloadavg()[0]:.1f}\n")
    print("| run | median s | best s | ours / it (median) | ours / it (best) |")
    print("|---|---|---|---|---|")
    labels = {
        "ours": "kmeans-compress -k 256 (effort 2)",
        "pq": "pngquant 256",
        "pqo": "pngquant 256, then oxipng -o 2",
    }
    for key, label in labels.items():
        ratios = f"{med['ours'] / med[key]:.2f} | {low['ours'] / low[key]:.2f}"
        print(f"| {label} | {med[key]:.2f} | {low[key]:.2f} | {ratios} |")
    print(f"\nbytes: ours {(tmp / 'o.png').stat().st_size:,}, pngquant + oxipng {(tmp / 'p.png').stat().st_size:,}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5, help="runs of each whole-process timing")
    args = ap.parse_args()
    imgs = photos()
    tmp = Path(tempfile.mkdtemp())
    srcs = {}
    for n, im in imgs.items():
        srcs[n] = tmp / f"{n}.png"
        Image.fromarray(im).save(srcs[n])

    others = other_photos()
    for name, o in others.items():
        srcs[name] = tmp / f"{name}.png"
        Image.fromarray(o).save(srcs[name])
    for title, group in (("8 photos of the benchmark set", imgs), (f"{len(others)} other photos", others)):
        print(f"## No dithering: bytes of the written files ({title})\n")
        print(
            "| K | ours, effort 0 | ours, effort 2 | pngquant --nofs | pngquant --nofs + oxipng "
            "| ours/pq | ours/(pq+oxipng) | MSE ours | MSE pq |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for k in KS:
            b0 = b2 = bq = bqo = 0
            m_ours = m_pq = 0.0
            for n, im in group.items():
                r = kc.compress(im, k)
                d0, d2 = r.encode("PNG", effort=0), r.encode("PNG", effort=2)
                assert np.array_equal(decode(d0), decode(d2))  # the pass changes bytes, never pixels
                q = pngquant(srcs[n], k, tmp / f"pq_{n}.png", dither=False)
                b0, b2, bq = b0 + len(d0), b2 + len(d2), bq + len(q)
                bqo += len(oxipng.optimize_from_memory(q, level=2))
                m_ours += mse(im, decode(d2)) / len(group)
                m_pq += mse(im, decode(q)) / len(group)
            print(
                f"| {k} | {b0:,} | {b2:,} | {bq:,} | {bqo:,} | {b2 / bq:.3f} | {b2 / bqo:.3f} "
                f"| {m_ours:.2f} | {m_pq:.2f} |"
            )
        print()

    print("\n## Dithered: --dither (default strength) against pngquant's default mode (8 photos)\n")
    print(
        "| K | SSIM ours | SSIM pq | SSIMULACRA2 ours | SSIMULACRA2 pq | MSE ours | MSE pq | bytes ours | bytes pq "
        "| bytes ours/pq |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in KS:
        s_o = s_p = m_o = m_p = 0.0
        u_o: float | None = 0.0
        u_p: float | None = 0.0
        b_o = b_p = 0
        for n, im in imgs.items():
            r = kc.compress(im, k, dither=True)
            d = r.encode("PNG")
            q = pngquant(srcs[n], k, tmp / f"pqd_{n}.png", dither=True)
            a, b = decode(d), decode(q)
            s_o += ssim(im, a) / len(imgs)
            s_p += ssim(im, b) / len(imgs)
            m_o += mse(im, a) / len(imgs)
            m_p += mse(im, b) / len(imgs)
            b_o, b_p = b_o + len(d), b_p + len(q)
            ua, ub = ssimulacra2(im, a, tmp), ssimulacra2(im, b, tmp)
            u_o = None if ua is None or u_o is None else u_o + ua / len(imgs)
            u_p = None if ub is None or u_p is None else u_p + ub / len(imgs)
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
        print(
            f"| {k} | {s_o:.4f} | {s_p:.4f} | {fmt(u_o)} | {fmt(u_p)} | {m_o:.2f} | {m_p:.2f} | {b_o:,} | {b_p:,} "
            f"| {b_o / b_p:.3f} |"
        )

    big = np.asarray(Image.fromarray(imgs["astronaut"]).resize((2048, 2048), Image.Resampling.LANCZOS))
    mosaic = np.zeros((2048, 2048, 3), np.uint8)  # 4 Mpx of the other photos, 512 x 512 tiles
    tiles = []
    for o in others.values():  # each photo's centre square, resized to 512 x 512
        side = min(o.shape[:2])
        y0, x0 = (o.shape[0] - side) // 2, (o.shape[1] - side) // 2
        square = Image.fromarray(np.ascontiguousarray(o[y0 : y0 + side, x0 : x0 + side]))
        tiles.append(np.asarray(square.resize((512, 512), Image.Resampling.LANCZOS)))
    for i in range(16):
        y, x = divmod(i, 4)
        mosaic[512 * y : 512 * (y + 1), 512 * x : 512 * (x + 1)] = tiles[i % len(tiles)]
    for title, pixels in (("astronaut resized to 2048 x 2048", big), ("a mosaic of the other photos", mosaic)):
        whole_process(title, pixels, tmp, args.repeat)

    print("\n## Effort: bytes against the time of the lossless pass (8 photos, K = 64)\n")
    print("| effort | bytes | vs effort 0 | seconds |")
    print("|---|---|---|---|")
    results = [kc.compress(im, 64) for im in imgs.values()]
    base = None
    for e in range(8):
        results_e = results[:2] if e == 7 else results  # 7 is zopfli: two photos only, it is slow
        t = time.perf_counter()
        n = sum(len(r.encode("PNG", effort=e)) for r in results_e)
        dt = time.perf_counter() - t
        if e == 0:
            base = n
        note = " (2 photos)" if e == 7 else ""
        ratio = f"{n / base:.3f}" if e < 7 else "-"
        print(f"| {e}{note} | {n:,} | {ratio} | {dt:.2f} |")


if __name__ == "__main__":
    main()
