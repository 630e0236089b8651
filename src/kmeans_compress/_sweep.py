"""Rate-distortion sweep: compress one image at several palette sizes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ._compress import CompressionResult, compress
from ._decode import DEFAULT_MAX_PIXELS, ImageLike, load_image
from ._validation import SeedLike, check_n_colors

__all__ = ["DEFAULT_KS", "sweep"]

#: The palette sizes of the tutorial's rate-distortion figure.
DEFAULT_KS = (2, 4, 8, 16, 32, 64, 128, 256)


def sweep(
    image: ImageLike,
    ks: Iterable[int] = DEFAULT_KS,
    random_state: SeedLike = 0,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[CompressionResult]:
    """Compress ``image`` once for every palette size in ``ks``.

    The image is decoded once. Every result's ``report.output_bytes`` is the size
    of its real optimized indexed PNG (``len(result.to_png_bytes())``), so
    ``report.bits_per_pixel`` is filled in; nothing is written to disk.

    Parameters
    ----------
    image : path, PIL image or array
        As :func:`kmeans_compress.compress`.
    ks : iterable of int, default=(2, 4, 8, ..., 256)
        Palette sizes, each 1 to 256; results come in ascending K, duplicates dropped.
    random_state : None, int or numpy Generator, default=0
    max_pixels : int
        As :func:`kmeans_compress.load_image`: refuse an image of more pixels (a decompression-bomb guard).

    Returns
    -------
    list of CompressionResult

    Examples
    --------
    >>> from kmeans_compress import sample_image_path
    >>> rows = sweep(sample_image_path(), ks=[4, 2])
    >>> [r.report.n_colors for r in rows]
    [2, 4]
    >>> rows[0].report.output_bytes < rows[1].report.output_bytes
    True
    """
    ks = sorted({check_n_colors(k) for k in ks})
    if not ks:
        raise ValueError("ks must hold at least one palette size.")
    loaded = load_image(image, max_pixels=max_pixels)
    results = []
    for k in ks:
        result = compress(loaded, n_colors=k, random_state=random_state)
        n_bytes = len(result.to_png_bytes())
        result.report = dataclasses.replace(
            result.report, output_bytes=n_bytes, input_bytes=loaded.file_bytes, input_path=loaded.path
        )
        results.append(result)
    return results
