"""Reading back what the tool wrote, the way a viewer shows it (shared by the test modules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


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
