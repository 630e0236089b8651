"""The main job: image in, palette + index map + report out, indexed PNG on demand."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .io import encode_png, load_image, write_atomic
from .quantize import quantize
from .report import CompressionReport, psnr, tutorial_bits

__all__ = ["CompressionResult", "compress", "sample_image_path"]


def sample_image_path() -> Path:
    """Path of the embedded sample photograph (``chelsea.png``, CC0, 451 x 300).

    Examples
    --------
    >>> sample_image_path().name
    'chelsea.png'
    """
    return Path(str(resources.files("kmeans_compress") / "data" / "chelsea.png"))


@dataclass
class CompressionResult:
    """The outcome of :func:`compress`.

    Attributes
    ----------
    palette : ndarray of shape (K, 3), uint8
        The colours used, most frequent first.
    labels : ndarray of shape (H, W), uint8
        Index of every pixel into ``palette``.
    original : ndarray of shape (H, W, 3), uint8
        The decoded input.
    report : CompressionReport
        Storage and quality figures; ``output_bytes`` is filled in by :meth:`save`.
    """

    palette: np.ndarray
    labels: np.ndarray
    original: np.ndarray
    report: CompressionReport

    @property
    def image(self) -> np.ndarray:
        """The compressed image rebuilt from the palette, (H, W, 3) uint8."""
        return self.palette[self.labels]

    def to_png_bytes(self) -> bytes:
        """The indexed PNG, as bytes."""
        return encode_png(self.labels, self.palette)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the indexed PNG atomically; never replaces an existing file unless ``overwrite``.

        Updates ``report.output_bytes`` and ``report.output_path`` and returns the path.
        """
        data = self.to_png_bytes()
        target = write_atomic(path, data, overwrite=overwrite)
        self.report = dataclasses.replace(self.report, output_bytes=len(data), output_path=str(target))
        return target


def compress(
    image: Any,
    n_colors: int = 16,
    random_state: Any = 0,
    *,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> CompressionResult:
    """Compress an image to ``n_colors`` colours by K-means colour quantization.

    Parameters
    ----------
    image : path, PIL image or array
        A file path, a ``PIL.Image.Image`` or an (H, W, 3) uint8 array (see
        :func:`kmeans_compress.load_image` for all that is accepted).
    n_colors : int, default=16
        Palette size, 1 to 256.
    random_state : None, int or numpy Generator, default=0
        Seed: the same input, options and seed give byte-identical output.
    n_init, max_iter, tol
        K-means options, as :class:`kmeans_compress.KMeans`.

    Returns
    -------
    CompressionResult

    Examples
    --------
    >>> result = compress(sample_image_path(), n_colors=16)
    >>> result.palette.shape, result.labels.shape
    ((16, 3), (300, 451))
    >>> result.report.original_bits, result.report.compressed_bits
    (3247200, 541584)
    """
    start = time.perf_counter()
    loaded = load_image(image)
    q = quantize(loaded.pixels, n_colors, random_state=random_state, n_init=n_init, max_iter=max_iter, tol=tol)
    h, w = q.indices.shape
    mse_value = q.sse / (h * w * 3)
    before, after = tutorial_bits(h * w, q.palette.shape[0])
    report = CompressionReport(
        width=w,
        height=h,
        n_colors=int(n_colors),
        n_colors_used=int(q.palette.shape[0]),
        n_distinct_input=q.n_distinct,
        original_bits=before,
        compressed_bits=after,
        mse=mse_value,
        psnr=psnr(mse_value),
        seconds=time.perf_counter() - start,
        input_bytes=loaded.file_bytes,
        input_path=loaded.path,
    )
    return CompressionResult(palette=q.palette, labels=q.indices, original=loaded.pixels, report=report)
