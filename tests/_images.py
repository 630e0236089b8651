"""Images shared by the test modules: a synthetic photo, and reading back what the tool wrote
the way a viewer shows it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def synthetic_photo(h: int = 60, w: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth synthetic 'photo' with noise: many distinct colours, repeated ones too."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 3 % 256, yy * 4 % 256, (xx + yy) * 2 % 256], axis=-1).astype(np.float64)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def decoded_image(path_or_bytes: Path | bytes) -> Image.Image:
    """An image file (a path or its bytes) decoded by Pillow, fully loaded and detached from the file."""
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as im:
        im.load()
        return im.copy()


def decoded_frames(path: Path, mode: str = "RGBA") -> tuple[list[np.ndarray], list[int]]:
    """Every frame of an image file as displayed, converted to ``mode`` (uint8), and every
    frame's duration in ms (0 for a still image)."""
    frames, durations = [], []
    with Image.open(path) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            im.load()
            frames.append(np.asarray(im.convert(mode)))
            durations.append(int(im.info.get("duration", 0)))
    return frames, durations
