"""One palette for many images: their colour histograms merged, clustered once.

The histograms are computed wherever :func:`._parallel.execute` runs them and
merged as they arrive; merging does not depend on the order, so the palette is
the same however the work is spread.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._compress import load_for_palette, stacked_frames
from ._decode import DEFAULT_MAX_PIXELS, ImageLike, LoadedImage, load_image
from ._exceptions import UnsupportedImageError, caught_warnings, message_of
from ._histogram import ColorHistogram, merge_histograms, pixel_histogram
from ._palette import palette_from_histogram
from ._parallel import WorkerDied, execute
from ._validation import SeedLike, check_seed

__all__ = ["frames_histogram", "image_histogram", "shared_histogram", "shared_palette"]


def image_histogram(
    image: ImageLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, frame: int | None = None
) -> ColorHistogram:
    """Colour histogram of one image (a path, PIL image or array), for :func:`merge_histograms`.

    Every frame of an animation counts, as :func:`compress_with_palette` maps
    them all; ``max_pixels`` and ``frame`` as :func:`kmeans_compress.load_image`.
    """
    return frames_histogram(load_image(image, max_pixels=max_pixels, frame=frame))


def frames_histogram(loaded: LoadedImage) -> ColorHistogram:
    """The RGB histogram of every frame of a loaded image together."""
    rgb, _ = stacked_frames(loaded)
    return pixel_histogram(rgb)


def _histogram_or_error(item: tuple[int, Any], load: dict[str, Any]) -> ColorHistogram | str:
    """``(index, image)`` -> the image's histogram, or why it cannot share a palette (runs in a worker).

    The image is loaded as :func:`compress_with_palette` loads it (the same
    ``max_pixels`` and ``frame``, transparency refused), so exactly the images
    that will be mapped to the palette are in it.
    """
    try:
        with caught_warnings() as caught:
            # The same load warns again when the file is mapped to the palette, where folder mode
            # reports it (batch.process_file): here it would be printed raw, and twice. (Not by
            # process-wide filters: a Dask worker runs several of these in threads.)
            histogram = frames_histogram(load_for_palette(item[1], **load, option="--shared-palette"))
        for w in caught:
            if not isinstance(w, UserWarning):
                warnings.warn(w, stacklevel=1)
        return histogram
    except Exception as exc:  # left out of the palette; the caller reports it
        return message_of(exc)


def shared_histogram(
    items: Sequence[Any], load: dict[str, Any], *, jobs: int = 1, client: Any = None
) -> tuple[ColorHistogram | None, dict[int, str]]:
    """Merged histogram of the images that can share a palette (None if none can), and why each other cannot.

    One way for every backend: serial, worker processes or Dask give the same
    merged histogram (merging does not depend on the order) and the same errors.
    """
    paths = all(isinstance(i, (str, os.PathLike)) for i in items)
    work = [(n, str(i) if paths else i) for n, i in enumerate(items)]
    if not paths:  # arrays and PIL images stay in this process
        jobs, client = 1, None
    merged: ColorHistogram | None = None
    pending: list[ColorHistogram] = []
    errors: dict[int, str] = {}
    for (n, _), h in execute(_histogram_or_error, work, load, jobs=jobs, client=client):
        if isinstance(h, WorkerDied):
            errors[n] = h.message
        elif isinstance(h, str):
            errors[n] = h
        else:
            pending.append(h)
        if len(pending) >= 16:
            merged = merge_histograms(([merged] if merged is not None else []) + pending)
            pending = []
    if pending:
        merged = merge_histograms(([merged] if merged is not None else []) + pending)
    return merged, errors


def shared_palette(
    images: Iterable[ImageLike],
    n_colors: int = 16,
    random_state: SeedLike = 0,
    *,
    jobs: int = 1,
    client: Any = None,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
    fixed_colors: Any = None,
) -> np.ndarray:
    """One palette for a set of images: merge their colour histograms, cluster once.

    The histograms are computed in ``jobs`` worker processes (or on the Dask
    ``client``'s workers when given; images must then be paths the workers can
    read) and merged as they arrive, so only a few are held at once. The merge
    does not depend on the order, so the palette is the same however the work
    is spread. Every frame of an animation counts. Images that
    :func:`compress_with_palette` would refuse (unreadable, more pixels than
    ``max_pixels``, with transparency) are left out, whatever ``jobs``;
    UnsupportedImageError when that leaves none. ``fixed_colors`` are entries
    the palette keeps whatever the images (:func:`compress`'s, ``--keep``).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4, 3), np.uint8); b = np.full((4, 4, 3), 200, np.uint8)
    >>> shared_palette([a, b], n_colors=2).tolist()
    [[0, 0, 0], [200, 200, 200]]
    """
    check_seed(random_state)  # before any image is read
    items = list(images)
    if not items:
        raise ValueError("shared_palette needs at least one image.")
    merged, errors = shared_histogram(items, {"max_pixels": max_pixels, "frame": frame}, jobs=jobs, client=client)
    if merged is None:
        raise UnsupportedImageError(f"none of the {len(items)} images can be used for a shared palette ({errors[0]})")
    return palette_from_histogram(
        merged, n_colors, random_state, n_init=n_init, max_iter=max_iter, tol=tol, fixed_colors=fixed_colors
    )
