"""A folder of small generated images of mixed sizes and modes, with a few corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CORRUPT = ["broken/truncated.png", "broken/random.jpg", "broken/empty.png", "broken/text.webp", "broken/half.gif"]


def _picture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth two-colour gradient with noise: many distinct colours, like a small photo."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = ((x / max(w - 1, 1) + y / max(h - 1, 1)) / 2)[:, :, None]
    img = c0 * (1 - t) + c1 * t + rng.normal(0, 12, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_folder(root: Path, n_good: int = 195, seed: int = 0) -> list[str]:
    """Write ``n_good`` readable images in a small tree and the files of ``CORRUPT``.

    Returns the relative paths of the good images.
    """
    rng = np.random.default_rng(seed)
    good = []
    kinds = [
        "rgb.png",
        "gray.png",
        "rgba.png",
        "p.png",
        "rgb.jpg",
        "gray.jpg",
        "rgb.webp",
        "p.gif",
        "rgb.bmp",
        "rgb.tif",
    ]
    for i in range(n_good):
        kind = kinds[i % len(kinds)]
        sub = ["", "a", "a/deep", "b"][i % 4]
        h, w = int(rng.integers(16, 65)), int(rng.integers(16, 65))
        px = _picture(rng, h, w)
        mode, suffix = kind.split(".")
        img = Image.fromarray(px)
        if mode == "gray":
            img = img.convert("L")
        elif mode == "rgba":
            img = img.convert("RGBA")
        elif mode == "p":
            img = img.quantize(64)
        rel = str(Path(sub) / f"img{i:03d}_{mode}.{suffix}")
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / rel)
        good.append(rel)
    (root / "broken").mkdir(parents=True, exist_ok=True)
    ok = root / good[0]
    (root / "broken/truncated.png").write_bytes(ok.read_bytes()[:60])
    (root / "broken/random.jpg").write_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    (root / "broken/empty.png").write_bytes(b"")
    (root / "broken/text.webp").write_text("not an image\n")
    (root / "broken/half.gif").write_bytes(b"GIF89a" + b"\x10\x00\x10\x00")
    (root / "notes.txt").write_text("not an image, not a candidate\n")
    return good


def make_shared_palette_folder(root: Path) -> list[np.ndarray]:
    """Two good random images, a truncated PNG, one with transparency, one over --max-pixels 5000.

    Returns the pixels of the two good ones."""
    root.mkdir()
    rng = np.random.default_rng(11)
    good = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    Image.fromarray(good[0]).save(root / "a.png")
    Image.fromarray(good[1]).save(root / "b.png")
    (root / "c.png").write_bytes((root / "a.png").read_bytes()[:300])
    rgba = np.dstack([rng.integers(0, 256, (20, 20, 3), dtype=np.uint8), np.full((20, 20), 255, np.uint8)])
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(root / "d.png")
    Image.fromarray(np.full((80, 80, 3), 250, np.uint8)).save(root / "e.png")
    return good
