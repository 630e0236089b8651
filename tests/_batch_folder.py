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
    kinds = ["rgb.png", "gray.png", "rgba.png", "p.png", "rgb.jpg", "gray.jpg", "rgb.webp", "p.gif", "rgb.bmp", "rgb.tif"]
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
