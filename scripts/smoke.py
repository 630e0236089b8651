"""Smoke run of a runtime-only install: every compiled kernel and every output path.

``make smoke`` runs it in the environment ``make demo`` builds (numpy, Pillow,
numba, matplotlib; no SciPy, no scikit-learn, no pytest), so that a dependency
that only the test group brings in cannot hide a crash from CI. SciPy and
scikit-learn are also blocked on import, in this process and in every process
it starts, should the environment hold them.

It checks what it writes, not only exit codes: the PNG decodes, has at most K
palette entries, every pixel is the nearest palette entry to its original
colour (brute force, where no dithering is asked), the reported error is the
error of the decoded file, alpha and gray stay what they were, frames are kept,
folder runs give the same bytes at -j 1 and -j 2, targets are met.

Usage: python scripts/smoke.py  (exit 0 when every check passes)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class _BlockNonRuntime(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("scipy", "sklearn"):
                raise ImportError(f"{name} is not a runtime dependency of kmeans-compress")
    sys.meta_path.insert(0, _BlockNonRuntime())
    """
)
exec(BLOCKER)  # noqa: S102 - this process too

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from kmeans_compress import KMeans, cli, quality_to_mse, sample_image_path  # noqa: E402

FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    if not ok:
        FAILURES.append(what)
        print(f"  FAIL {what}", flush=True)


def run_cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kmeans_compress", *argv], env=env, capture_output=True, text=True)


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)


def palette_of(path: Path) -> np.ndarray:
    im = Image.open(path)
    assert im.mode == "P", f"{path.name} is {im.mode}, not indexed"
    pal = np.asarray(im.getpalette("RGB"), dtype=np.int64).reshape(-1, 3)
    used = np.unique(np.asarray(im))
    return pal[used]


def nearest_everywhere(original: np.ndarray, output: np.ndarray, palette: np.ndarray) -> bool:
    """Every pixel's output colour is at the least squared distance over the palette."""
    keys = original.reshape(-1, 3) @ np.array([65536, 256, 1])
    uniq, inverse = np.unique(keys, return_inverse=True)
    colours = np.stack([uniq >> 16, (uniq >> 8) & 255, uniq & 255], axis=1)
    d = np.concatenate(
        [
            ((c[:, None, :] - palette[None, :, :]) ** 2).sum(-1).min(1)
            for c in np.array_split(colours, 1 + len(colours) // 8192)
        ]
    )
    got = ((original.reshape(-1, 3) - output.reshape(-1, 3)) ** 2).sum(-1)
    return bool(np.array_equal(got, d[inverse.ravel()]))


def photo_matrix(tmp: Path) -> None:
    src = sample_image_path()
    original = rgb(Path(src))
    mses = {}
    for k in (2, 16, 64, 256):
        for space in ("rgb", "lab", "oklab"):
            for dither in (False, True):
                out = tmp / f"photo-{k}-{space}-{int(dither)}.png"
                argv = [str(src), "-k", str(k), "--space", space, "-o", str(out), "--json", "-q"]
                argv += ["--dither"] if dither else []
                t = time.perf_counter()
                code, report = run_in_process(argv)
                label = f"photo K={k} --space {space}{' --dither' if dither else ''}"
                check(code == 0, f"{label}: exit {code}")
                if code:
                    continue
                pal = palette_of(out)
                dec = rgb(out)
                check(1 <= len(pal) <= k, f"{label}: {len(pal)} palette entries for K={k}")
                check(
                    np.isin(dec.reshape(-1, 3) @ [65536, 256, 1], pal @ [65536, 256, 1]).all(),
                    f"{label}: pixels outside the palette",
                )
                mse = float(((dec - original) ** 2).mean())
                check(abs(mse - report["mse"]) < 1e-6 * max(1.0, mse), f"{label}: report MSE {report['mse']} != {mse}")
                if space == "rgb" and not dither:
                    check(len(pal) == k, f"{label}: {len(pal)} colours, the photo has more than {k}")
                    check(
                        nearest_everywhere(original, dec, pal), f"{label}: a pixel is not mapped to its nearest entry"
                    )
                    mses[k] = mse
                print(
                    f"  ok {label}: MSE {mse:.2f}, {out.stat().st_size} bytes, {time.perf_counter() - t:.2f} s",
                    flush=True,
                )
    ks = sorted(mses)
    check(all(mses[a] > mses[b] for a, b in zip(ks, ks[1:])), f"MSE does not fall as K grows: {mses}")
    from kmeans_compress import _backend

    # A kernel that fails to compile leaves the run on numpy with a warning: slower, so say it here.
    check(_backend._module not in (None, False), "the compiled kernels did not load: every path ran on numpy")


def large_photo(tmp: Path) -> None:
    """A photo above 1 Mpx takes the lossless pass's sampled trials and its deflate on all cores
    (libdeflate's package and zlib's library, loaded by ctypes): both must work in this install."""
    from kmeans_compress import _deflate

    small = Image.open(sample_image_path()).convert("RGB")
    big = small.resize((small.width * 4, small.height * 4), Image.Resampling.LANCZOS)  # 2.2 Mpx
    _deflate.PIECE_BYTES = 1 << 19  # several pieces on this image (the default cuts from 4 MB of image data)
    src, out = tmp / "large.png", tmp / "large-out.png"
    big.save(src)
    original = np.asarray(big, dtype=np.int64)
    for k in (16, 256):
        t = time.perf_counter()
        code, report = run_in_process([str(src), "-k", str(k), "-o", str(out), "--json", "-q", "--force"])
        label = f"{big.width}x{big.height} K={k}"
        check(code == 0, f"{label}: exit {code}")
        if code:
            continue
        pal, dec = palette_of(out), rgb(out)
        check(len(pal) == k, f"{label}: {len(pal)} palette entries")
        check(nearest_everywhere(original, dec, pal), f"{label}: a pixel is not mapped to its nearest entry")
        mse = float(((dec - original) ** 2).mean())
        check(abs(mse - report["mse"]) < 1e-6 * max(1.0, mse), f"{label}: report MSE {report['mse']} != {mse}")
        print(f"  ok {label}: {out.stat().st_size} bytes, {time.perf_counter() - t:.2f} s", flush=True)
    check(_deflate._load() is not None, "the deflate on all cores is unavailable (libdeflate's package or libz)")


def run_in_process(argv: list[str]) -> tuple[int, dict]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(argv)
    text = buf.getvalue()
    return code, (json.loads(text)[0] if code == 0 and text.strip() else {})


def modes(tmp: Path, env: dict[str, str]) -> None:
    rng = np.random.default_rng(0)
    h, w = 48, 64
    base = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    # RGBA: a transparent band, a half-transparent band, opaque elsewhere
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, :16] = 0
    alpha[:, 16:32] = 128
    Image.fromarray(np.dstack([base, alpha]), "RGBA").save(tmp / "rgba.png")
    r = run_cli([str(tmp / "rgba.png"), "-k", "16", "-o", str(tmp / "rgba.out.png"), "-q"], env)
    check(r.returncode == 0, f"RGBA: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode == 0:
        out = np.asarray(Image.open(tmp / "rgba.out.png").convert("RGBA"))
        check(len(palette_of(tmp / "rgba.out.png")) <= 16, "RGBA: more than 16 entries")
        check((out[:, :16, 3] == 0).all(), "RGBA: transparent pixels not transparent")
        check(((out[:, 16:32, 3] > 0) & (out[:, 16:32, 3] < 255)).all(), "RGBA: partly transparent pixels changed kind")
        check((out[:, 32:, 3] == 255).all(), "RGBA: opaque pixels not opaque")
        print("  ok RGBA", flush=True)

    gray = (np.add.outer(np.arange(h), np.arange(w)) * 2).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp / "gray.png")
    r = run_cli([str(tmp / "gray.png"), "-k", "8", "-o", str(tmp / "gray.out.png"), "-q"], env)
    check(r.returncode == 0, f"gray: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode == 0:
        pal = palette_of(tmp / "gray.out.png")
        check(
            len(pal) <= 8 and (pal[:, 0] == pal[:, 1]).all() and (pal[:, 1] == pal[:, 2]).all(),
            f"gray: palette not 8 grays: {pal.tolist()}",
        )
        print("  ok grayscale", flush=True)

    frames = [Image.fromarray(np.roll(base, 7 * i, axis=1)) for i in range(3)]
    frames[0].save(tmp / "anim.gif", save_all=True, append_images=frames[1:], duration=[80, 120, 160], loop=0)
    r = run_cli([str(tmp / "anim.gif"), "-k", "32", "-o", str(tmp / "anim.out.png"), "-q"], env)
    check(r.returncode == 0, f"animated GIF: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode == 0:
        im = Image.open(tmp / "anim.out.png")
        check(getattr(im, "n_frames", 1) == 3, f"animated GIF: {getattr(im, 'n_frames', 1)} frames out of 3")
        print("  ok animated GIF -> APNG", flush=True)


def folders(tmp: Path, env: dict[str, str]) -> None:
    rng = np.random.default_rng(1)
    src = tmp / "folder"
    (src / "sub").mkdir(parents=True)
    photo = np.asarray(Image.open(sample_image_path()).convert("RGB"))
    for i in range(4):
        crop = photo[i * 40 : i * 40 + 120, i * 60 : i * 60 + 160]
        Image.fromarray(crop).save(src / ("sub" if i % 2 else ".") / f"p{i}.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(src / "noise.jpg", quality=90)
    outs = {}
    for shared in (False, True):
        for jobs in ("1", "2"):
            dst = tmp / f"out-{int(shared)}-{jobs}"
            argv = [str(src), "-r", "-o", str(dst), "-k", "16", "-j", jobs, "-q"] + (
                ["--shared-palette"] if shared else []
            )
            r = run_cli(argv, env)
            label = f"folder -j {jobs}{' --shared-palette' if shared else ''}"
            check(r.returncode == 0, f"{label}: exit {r.returncode}: {r.stderr.strip()}")
            files = sorted(p.relative_to(dst) for p in dst.rglob("*.png"))
            check(len(files) == 5, f"{label}: {len(files)} outputs for 5 inputs")
            outs[shared, jobs] = {f: (dst / f).read_bytes() for f in files}
            for f in files:
                check(len(palette_of(dst / f)) <= 16, f"{label}: {f} has more than 16 colours")
            if shared:
                pals = {tuple(map(tuple, palette_of(dst / f)[np.lexsort(palette_of(dst / f).T)])) for f in files}
                union = {c for p in pals for c in p}
                check(
                    len(union) <= 16, f"{label}: outputs use {len(union)} colours between them, not one palette of 16"
                )
            print(f"  ok {label}", flush=True)
        check(
            outs[shared, "1"] == outs[shared, "2"],
            f"folder{' --shared-palette' if shared else ''}: -j 1 and -j 2 differ",
        )


def targets(tmp: Path, env: dict[str, str]) -> None:
    src = str(sample_image_path())
    original = rgb(Path(src))
    out = tmp / "psnr.png"
    r = run_cli([src, "--psnr", "30-36", "-o", str(out), "-q"], env)
    check(r.returncode == 0, f"--psnr: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode == 0:
        mse = float(((rgb(out) - original) ** 2).mean())
        psnr = 10 * np.log10(255**2 / mse)
        check(psnr >= 36, f"--psnr 30-36: PSNR {psnr:.2f} dB")
        print(f"  ok --psnr 30-36: {len(palette_of(out))} colours, PSNR {psnr:.2f} dB", flush=True)
    out = tmp / "quality.png"
    r = run_cli([src, "--quality", "65-80", "-o", str(out), "-q"], env)  # pngquant's scale and meaning
    check(r.returncode == 0, f"--quality 65-80: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode == 0:
        mse = float(((rgb(out) - original) ** 2).mean())
        check(mse <= quality_to_mse(80) + 1e-9, f"--quality 65-80: MSE {mse:.2f} above quality 80's")
        print(f"  ok --quality 65-80: {len(palette_of(out))} colours, MSE {mse:.2f}", flush=True)
    out = tmp / "bytes.png"
    r = run_cli([src, "--max-bytes", "30000", "-o", str(out), "-q"], env)
    check(r.returncode == 0, f"--max-bytes: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode == 0:
        check(out.stat().st_size <= 30000, f"--max-bytes 30000: {out.stat().st_size} bytes")
        print(f"  ok --max-bytes 30000: {len(palette_of(out))} colours, {out.stat().st_size} bytes", flush=True)
    r = run_cli([src, "--psnr", "90-99", "-o", str(tmp / "never.png"), "-q"], env)
    check(r.returncode == 99 and not (tmp / "never.png").exists(), f"--psnr 90-99: exit {r.returncode}, not 99")


def general_kmeans() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([[0.0, 0.0], [6.0, 1.0], [1.0, 7.0], [8.0, 8.0]])
    X = np.concatenate([c + 0.6 * rng.standard_normal((75, 2)) for c in truth])
    km = KMeans(n_clusters=4, random_state=0).fit(X)
    err = np.sqrt(((truth[:, None] - km.cluster_centers_[None]) ** 2).sum(-1)).min(1)
    check(bool((err < 0.5).all()), f"KMeans 2-D: centres {km.cluster_centers_.round(2).tolist()} miss the blobs")
    for n, d, k in ((300, 2, 4), (20000, 32, 64)):  # the second runs compiled
        X = rng.standard_normal((n, d))
        km = KMeans(n_clusters=k, random_state=0, n_init=1).fit(X)
        d2 = ((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1) if n * k * d < 5e7 else None
        if d2 is None:
            d2 = np.stack([((X - c) ** 2).sum(1) for c in km.cluster_centers_], axis=1)
        check(np.array_equal(km.labels_, d2.argmin(1)), f"KMeans {n}x{d}: a label is not the nearest centre")
        check(np.isclose(km.inertia_, d2.min(1).sum(), rtol=1e-9), f"KMeans {n}x{d}: inertia is not the distortion")
        print(f"  ok KMeans {n}x{d}, K={k}: {km.n_iter_} iterations", flush=True)


def main() -> int:
    start = time.perf_counter()
    from kmeans_compress import _backend

    # A new process starts on numpy and loads the kernels once they pay (make demo's small photo
    # never does): load them now, so that every path below runs them, in this runtime-only
    # environment. The numpy twins give the same outputs (tests/test_paths_identical.py).
    _backend._load()
    with tempfile.TemporaryDirectory(prefix="kmc-smoke-") as tmp:
        tmp = Path(tmp)
        site = tmp / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(BLOCKER)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
        for name, step in (
            ("photo: K x space x dither", lambda: photo_matrix(tmp)),
            ("large photo: sampled trials, deflate on all cores", lambda: large_photo(tmp)),
            ("image modes", lambda: modes(tmp, env)),
            ("folders", lambda: folders(tmp, env)),
            ("targets", lambda: targets(tmp, env)),
            ("general KMeans", general_kmeans),
        ):
            print(f"{name}:", flush=True)
            step()
    loaded = sorted(m for m in ("scipy", "sklearn") if m in sys.modules)
    check(not loaded, f"imported {loaded}")
    print(
        f"smoke: {'FAILED: ' + '; '.join(FAILURES) if FAILURES else 'all checks passed'} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
