"""The main job: image in, palette + index map + report out, indexed PNG on demand.

The searches over palette sizes (a quality, PSNR or file-size target) are in :mod:`._search`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ._decode import DEFAULT_MAX_PIXELS, ImageLike, LoadedImage, load_image
from ._encode import DEFAULT_EFFORT, encode_animation, output_format, write_atomic
from ._exceptions import OptionNotAllowedError, TargetNotMetError, UnsupportedImageError, caught_warnings
from ._histogram import ColorHistogram, pixel_histogram
from ._quantize import apply_fit, fit_histogram, quantize_image
from ._remap import Quantization, check_dither, dither_indices, map_to_palette, sse
from ._report import CompressionReport, build_report
from ._validation import SeedLike, check_kmeans_options, check_n_colors, check_palette, check_seed

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "CompressionResult",
    "TargetNotMetError",
    "compress",
    "compress_loaded",
    "compress_with_palette",
    "load",
    "load_for_palette",
    "palette_of_image",
    "rgb_histogram",
    "stacked_frames",
]


@dataclass
class CompressionResult:
    """The outcome of :func:`compress`.

    Attributes
    ----------
    palette : ndarray of shape (K, 3) or (K, 4), uint8
        The colours used, most frequent first; RGBA when the input has transparency.
    labels : ndarray of shape (H, W), uint8
        Index of every pixel into ``palette``.
    original : ndarray of shape (H, W, 3) or (H, W, 4), uint8
        The decoded input (RGBA when it has transparency).
    report : CompressionReport
        Storage and quality figures; ``output_bytes`` is filled in by :meth:`save`.
    icc_profile : bytes or None
        The input's colour profile, written into the output unless stripped.
    """

    palette: np.ndarray
    labels: np.ndarray
    original: np.ndarray
    report: CompressionReport
    icc_profile: bytes | None = None
    #: For an animation: the index maps of the frames after the first (same palette).
    more_labels: tuple[np.ndarray, ...] = ()
    #: Their durations and loop count, as :attr:`LoadedImage.durations` and :attr:`LoadedImage.loop`
    #: (``None``: play once).
    durations: tuple[int, ...] = ()
    loop: int | None = None
    #: A given palette is written whole and in its order (files that share it share it entry for entry);
    #: a fitted one may be reordered in the file for a smaller PNG (the same pixels).
    keep_palette_order: bool = False
    #: Files already encoded, by (format, strip, effort): a size search measures the file it keeps,
    #: and writing it must not encode it (and run the lossless pass) a second time.
    _encoded: dict[tuple[str, bool, int, bool], bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def image(self) -> np.ndarray:
        """The compressed image rebuilt from the palette, (H, W, 3) or (H, W, 4) uint8."""
        return self.palette[self.labels]

    def encode(self, fmt: str = "PNG", *, strip: bool = False, effort: int = DEFAULT_EFFORT) -> bytes:
        """The compressed image as 'PNG' (indexed), 'GIF' (indexed) or 'WEBP' (lossless) bytes.

        ``strip`` leaves out the colour profile (and every other metadata).
        ``effort`` (0-7, default 2) is that of the lossless PNG pass
        (:func:`kmeans_compress.optimize_png`): the same pixels in fewer bytes.
        """
        key = (fmt.upper(), strip, effort, self.keep_palette_order)
        if key not in self._encoded:
            icc = None if strip else self.icc_profile
            frames = [self.labels, *self.more_labels]
            self._encoded[key] = encode_animation(
                frames,
                self.palette,
                self.durations,
                fmt,
                loop=self.loop,
                icc_profile=icc,
                effort=effort,
                keep_order=self.keep_palette_order,
            )
        return self._encoded[key]

    def to_png_bytes(self, *, strip: bool = False, effort: int = DEFAULT_EFFORT) -> bytes:
        """The indexed PNG, as bytes."""
        return self.encode("PNG", strip=strip, effort=effort)

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        strip: bool = False,
        effort: int = DEFAULT_EFFORT,
    ) -> Path:
        """Write the file atomically; its type follows the suffix (.png, .gif, .webp).

        Never replaces an existing file unless ``overwrite``. Updates
        ``report.output_bytes`` and ``report.output_path`` and returns the path.
        """
        data = self.encode(output_format(path), strip=strip, effort=effort)
        target = write_atomic(path, data, overwrite=overwrite)
        self.report = dataclasses.replace(self.report, output_bytes=len(data), output_path=str(target))
        return target


# From this many pixel x palette-entry pairs, a photo will most likely be
# clustered by the compiled kernels: start loading them while the file decodes.
# Not above _PRELOAD_MAX_PIXELS: there the decoder's own memory peak is large, and
# numba's memory would add to it for a small gain in time (benchmarks/RESULTS.md,
# "Figures that were comments").
_PRELOAD_MIN_WORK = 1 << 24
_PRELOAD_MAX_PIXELS = 1 << 23


def _preload_kernels_for(image: ImageLike, n_colors: int, dither: bool | float = False) -> None:
    """Start loading the compiled kernels in the background if ``image`` (a path) is large, or
    dithered and large enough for its error diffusion to load them anyway
    (``_backend.DIFFUSE_LOAD_WORK_PER_PIXEL``): the fit then runs on them too."""
    if not isinstance(image, (str, os.PathLike)) or not isinstance(n_colors, int):
        return
    try:
        with caught_warnings():  # dropped (this thread only): load_image warns of what matters
            with Image.open(image) as im:  # reads the header only
                pixels = im.size[0] * im.size[1]
    except Exception:  # load_image will report a bad file properly
        return
    from ._backend import DIFFUSE_LOAD_WORK_PER_PIXEL, FIRST_LOAD_WORK, preload_in_background

    dithered = bool(dither) and pixels * DIFFUSE_LOAD_WORK_PER_PIXEL >= FIRST_LOAD_WORK
    if (pixels * n_colors >= _PRELOAD_MIN_WORK or dithered) and pixels <= _PRELOAD_MAX_PIXELS:
        preload_in_background()


def compress(
    image: ImageLike,
    n_colors: int = 16,
    random_state: SeedLike = 0,
    *,
    space: str = "rgb",
    dither: bool | float = False,
    n_init: int | str = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    speed: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
    palette: Any = None,
    fixed_colors: Any = None,
    with_ssim: bool = False,
) -> CompressionResult:
    """Compress an image to ``n_colors`` colours by K-means colour quantization.

    Parameters
    ----------
    image : path, PIL image, array or LoadedImage
        A file path, a ``PIL.Image.Image``, an (H, W), (H, W, 3) or (H, W, 4)
        array (see :func:`kmeans_compress.load_image`), or an already loaded image.
    n_colors : int, default=16
        Palette size, 1 to 256. An image with at most this many distinct colours
        keeps them all, exactly.
    random_state : None, int or numpy Generator, default=0
        Seed: the same input, options and seed give byte-identical output.
    space : {'rgb', 'lab', 'oklab'}, default='rgb'
        Colour space in which distances are measured.
    dither : bool or float in [0, 1], default=False
        Error diffusion at this strength (True: 0.5, as ``--dither`` alone), serpentine, in
        ``space``, and selective: near the bands of smooth gradients only, not in
        flat areas or along sharp edges.
    n_init, max_iter, tol
        K-means options, checked as :class:`kmeans_compress.KMeans` checks them: ``n_init``
        (an integer >= 1, or 'auto': 1, as KMeans's for its k-means++ start) asks for at least
        that many starts, ``max_iter`` (>= 1) bounds Lloyd's iterations, ``tol`` (>= 0) is
        relative to the colours' variance.
    speed : int, default=1
        1 (best, the default) to 11 (fastest): pngquant's scale; fewer starts and
        Lloyd iterations as it grows.
    max_pixels, frame
        Passed to :func:`kmeans_compress.load_image` for a path.
    palette : (K, 3) uint8 array-like, optional
        Use these colours, no clustering: as :func:`compress_with_palette`
        (``n_colors``, ``space`` and the k-means options are then unused).
    fixed_colors : '#RRGGBB,...', or a sequence of such strings or RGB triples, optional
        Entries kept in the palette whatever the image; the other
        ``n_colors - len(fixed_colors)`` are clustered around them (RGB, opaque images).
    with_ssim : bool, default=False
        Also measure the SSIM of the result (``report.ssim``); it costs about as
        much as a small image's whole compression, so it is off unless asked.

    Returns
    -------
    CompressionResult

    Examples
    --------
    >>> from kmeans_compress import sample_image_path
    >>> result = compress(sample_image_path(), n_colors=16)
    >>> result.palette.shape, result.labels.shape
    ((16, 3), (300, 451))
    >>> result.report.original_bits, result.report.compressed_bits
    (3247200, 541584)
    """
    if palette is not None:
        if fixed_colors is not None:
            raise ValueError("give a whole palette or fixed colours, not both")
        return compress_with_palette(
            image, palette, dither=dither, max_pixels=max_pixels, frame=frame, with_ssim=with_ssim
        )
    # KMeans's checks and messages, before the image is decoded; 'auto' is KMeans's for its
    # k-means++ start: 1 (more starts are tried anyway where they are cheap).
    n_init, max_iter, tol = check_kmeans_options(n_init, max_iter, tol)
    check_seed(random_state)  # before decoding, and whatever the image (one of few colours is not fitted)
    start = time.perf_counter()
    _preload_kernels_for(image, n_colors, dither)
    loaded = load(image, max_pixels, frame)

    def fit(rgb: np.ndarray, alpha: np.ndarray | None) -> Quantization:
        if alpha is None and space == "rgb" and not dither and fixed_colors is None:
            # quantize()'s own steps, with what depends on the pixels alone kept on the loaded image
            hist = rgb_histogram(loaded, rgb)
            fitted = fit_histogram(
                hist,
                check_n_colors(n_colors),
                random_state=random_state,
                n_init=n_init,
                max_iter=max_iter,
                tol=tol,
                speed=speed,
                coarse_cache=loaded.derived.setdefault("coarse", {}),
            )
            return apply_fit(rgb, hist, fitted)
        return quantize_image(
            rgb,
            n_colors,
            alpha=alpha,
            space=space,
            dither=dither,
            fixed_colors=fixed_colors,
            random_state=random_state,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            speed=speed,
        )

    return compress_loaded(loaded, fit, n_colors, start, with_ssim)


def rgb_histogram(loaded: LoadedImage, rgb: np.ndarray) -> ColorHistogram:
    """The colour histogram of ``loaded``'s stacked frames ``rgb``, computed once per loaded image."""
    if "rgb_histogram" not in loaded.derived:
        loaded.derived["rgb_histogram"] = pixel_histogram(rgb)
    hist: ColorHistogram = loaded.derived["rgb_histogram"]
    return hist


def compress_with_palette(
    image: ImageLike,
    palette: ArrayLike,
    *,
    dither: bool | float = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
    with_ssim: bool = False,
) -> CompressionResult:
    """:func:`compress` with a palette given instead of fitted: every pixel maps to its nearest entry.

    The palette is kept whole, in its order, so images compressed with the same
    palette share it entry for entry (frames of a video, sprites). Everything
    else is as :func:`compress`: every frame of an animation, the colour profile,
    the report. Ties between equally near entries go to the smaller colour (by
    R, then G, then B), as in :func:`compress`, so an image mapped to the palette
    :func:`compress` found for it gets the same pixels. The palette is RGB: an
    image with transparency is refused (OptionNotAllowedError) rather than
    having its alpha dropped. ``dither`` (a strength 0-1; True is 0.5) is
    :func:`compress`'s error diffusion onto the given palette.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.array([[[10, 10, 10], [250, 240, 250]]], np.uint8)
    >>> r = compress_with_palette(img, [[255, 255, 255], [0, 0, 0]])
    >>> r.labels.tolist(), r.report.n_colors_used
    ([[1, 0]], 2)
    """
    start = time.perf_counter()
    pal = check_palette(palette)
    strength = check_dither(dither)
    loaded = load_for_palette(image, max_pixels=max_pixels, frame=frame)

    def mapped(rgb: np.ndarray, alpha: np.ndarray | None) -> Quantization:
        q = map_to_palette(rgb, pal)
        if strength == 0 or q.exact:
            return q
        idx = dither_indices(rgb, pal, strength).reshape(rgb.shape[:2]).astype(np.uint8)
        err = sse(rgb.reshape(-1, 3), pal, idx.reshape(-1))
        return Quantization(
            palette=pal, indices=idx, sse=err, n_distinct=q.n_distinct, exact=False, undithered_sse=q.sse
        )

    result = compress_loaded(loaded, mapped, pal.shape[0], start, with_ssim)
    result.keep_palette_order = True
    return result


def palette_of_image(image: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The distinct colours of an image as a palette, (K, 3) uint8 sorted by colour (pngquant's ``--map``).

    Raises
    ------
    ValueError
        The image has more than 256 colours, or transparency.

    Examples
    --------
    >>> import numpy as np
    >>> palette_of_image(np.array([[[9, 9, 9], [0, 0, 0], [9, 9, 9]]], np.uint8)).tolist()
    [[0, 0, 0], [9, 9, 9]]
    """
    loaded = load(image, max_pixels, None)
    name = loaded.path or "palette image"
    if loaded.alpha is not None:
        raise UnsupportedImageError(f"{name}: has transparency; a palette image must be opaque")
    colors = np.unique(loaded.pixels.reshape(-1, 3), axis=0)
    if colors.shape[0] > 256:
        raise ValueError(f"{name}: has {colors.shape[0]:,} colours; a palette image holds at most 256")
    return np.ascontiguousarray(colors, dtype=np.uint8)


def load_for_palette(
    image: ImageLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, frame: int | None = None, option: str = "--map"
) -> LoadedImage:
    """Load an image to be mapped to a given RGB palette; refuse one with transparency.

    ``option`` is what gave the palette, named in the refusal: ``--map`` (a palette given, as
    :func:`compress_with_palette` takes it) or ``--shared-palette`` (one fitted to many images).
    The refusal is an option this input does not allow (exit 2), not a bad image: the message
    does not name the file, which every front end adds (as for ``--dither``).
    """
    loaded = load(image, max_pixels, frame)
    if loaded.alpha is not None:
        # Refuse rather than drop the transparency without a word.
        raise OptionNotAllowedError(
            f"has transparency, which an RGB palette ({option}) cannot keep; compress it without {option}"
        )
    return loaded


def stacked_frames(loaded: LoadedImage) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB (and alpha) of every frame stacked as one tall image: one palette serves them all."""
    rgb, alpha = loaded.pixels, loaded.alpha
    if loaded.more_frames:
        rgb = np.concatenate([rgb] + [f[:, :, :3] for f in loaded.more_frames], axis=0)
        if alpha is not None:
            alpha = np.concatenate([alpha] + [f[:, :, 3] for f in loaded.more_frames], axis=0)
    return rgb, alpha


def load(image: ImageLike, max_pixels: int, frame: int | None) -> LoadedImage:
    return image if isinstance(image, LoadedImage) else load_image(image, max_pixels=max_pixels, frame=frame)


def compress_loaded(
    loaded: LoadedImage,
    quantize_fn: Callable[[np.ndarray, np.ndarray | None], Quantization],
    n_colors: Any,
    start: float,
    with_ssim: bool = False,
) -> CompressionResult:
    """The one way from a loaded image to a result: frames stacked, quantized, report, frames split."""
    rgb, alpha = stacked_frames(loaded)
    n_frames = 1 + len(loaded.more_frames)
    q = quantize_fn(rgb, alpha)
    original = loaded.pixels if q.palette.shape[1] == 3 else loaded.rgba
    h = loaded.pixels.shape[0]
    # n_colors: validated by quantize_fn
    report = build_report(loaded, q, int(n_colors), time.perf_counter() - start, with_ssim=with_ssim)
    maps = [q.indices[i * h : (i + 1) * h] for i in range(n_frames)]
    return CompressionResult(
        palette=q.palette,
        labels=maps[0],
        original=original,
        report=report,
        icc_profile=loaded.icc_profile,
        more_labels=tuple(maps[1:]),
        durations=loaded.durations,
        loop=loaded.loop,
    )
