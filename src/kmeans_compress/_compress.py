"""The main job: image in, palette + index map + report out, indexed PNG on demand."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ._decode import DEFAULT_MAX_PIXELS, ImageLike, LoadedImage, load_image
from ._encode import DEFAULT_EFFORT, encode_animation, output_format, write_atomic
from ._exceptions import TargetNotMetError, UnsupportedImageError
from ._histogram import ColorHistogram, color_histogram, pack_rgb_u32
from ._palette import check_palette
from ._quantize import HistogramFit, apply_fit, fit_histogram, quantize_image
from ._remap import Quantization, check_dither, dither_indices, map_to_palette, sse
from ._report import CompressionReport, build_report, mse_to_quality, psnr, quality_to_mse
from ._validation import SeedLike, check_n_colors

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "CompressionResult",
    "TargetNotMetError",
    "compress",
    "compress_to_psnr",
    "compress_to_quality",
    "compress_to_size",
    "compress_with_palette",
    "palette_of_image",
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


def _preload_kernels_for(image: ImageLike, n_colors: int) -> None:
    """Start loading the compiled kernels in the background if ``image`` (a path) is large."""
    if not isinstance(image, (str, os.PathLike)) or not isinstance(n_colors, int):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(image) as im:  # reads the header only
                pixels = im.size[0] * im.size[1]
    except Exception:  # load_image will report a bad file properly
        return
    if pixels * n_colors >= _PRELOAD_MIN_WORK and pixels <= _PRELOAD_MAX_PIXELS:
        from ._backend import preload_in_background

        preload_in_background()


def compress(
    image: ImageLike,
    n_colors: int = 16,
    random_state: SeedLike = 0,
    *,
    space: str = "rgb",
    dither: bool | float = False,
    n_init: int = 1,
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
        Error diffusion at this strength (True: the default, 1), serpentine, in
        ``space``, and selective: near the bands of smooth gradients only, not in
        flat areas or along sharp edges.
    n_init, max_iter, tol
        K-means options, as :class:`kmeans_compress.KMeans`.
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
    start = time.perf_counter()
    _preload_kernels_for(image, n_colors)
    loaded = _load(image, max_pixels, frame)

    def fit(rgb: np.ndarray, alpha: np.ndarray | None) -> Quantization:
        if alpha is None and space == "rgb" and not dither and fixed_colors is None:
            # quantize()'s own steps, with what depends on the pixels alone kept on the loaded image
            hist = _rgb_histogram(loaded, rgb)
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

    return _compress_loaded(loaded, fit, n_colors, start, with_ssim)


def _rgb_histogram(loaded: LoadedImage, rgb: np.ndarray) -> ColorHistogram:
    """The colour histogram of ``loaded``'s stacked frames ``rgb``, computed once per loaded image."""
    if "rgb_histogram" not in loaded.derived:
        loaded.derived["rgb_histogram"] = color_histogram(pack_rgb_u32(rgb.reshape(-1, 3)))
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
    image with transparency is refused (UnsupportedImageError) rather than
    having its alpha dropped. ``dither`` (a strength 0-1, True the default) is
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
        return Quantization(palette=pal, indices=idx, sse=err, n_distinct=q.n_distinct, exact=False)

    result = _compress_loaded(loaded, mapped, pal.shape[0], start, with_ssim)
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
    loaded = _load(image, max_pixels, None)
    name = loaded.path or "palette image"
    if loaded.alpha is not None:
        raise UnsupportedImageError(f"{name}: has transparency; a palette image must be opaque")
    colors = np.unique(loaded.pixels.reshape(-1, 3), axis=0)
    if colors.shape[0] > 256:
        raise ValueError(f"{name}: has {colors.shape[0]:,} colours; a palette image holds at most 256")
    return np.ascontiguousarray(colors, dtype=np.uint8)


def load_for_palette(
    image: ImageLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, frame: int | None = None
) -> LoadedImage:
    """Load an image to be mapped to a given RGB palette; refuse one with transparency."""
    loaded = _load(image, max_pixels, frame)
    if loaded.alpha is not None:
        # Refuse rather than drop the transparency without a word.
        raise UnsupportedImageError(
            f"{loaded.path or 'image'}: has transparency, which a shared (RGB) palette cannot keep; "
            "compress it without --shared-palette"
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


def _load(image: ImageLike, max_pixels: int, frame: int | None) -> LoadedImage:
    return image if isinstance(image, LoadedImage) else load_image(image, max_pixels=max_pixels, frame=frame)


def _compress_loaded(
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


def _search_smallest(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """Smallest k in [lo, hi] with ok(k), assuming ok is monotone and ok(hi) holds."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _best_two_stage(
    rough: Callable[[int], float],
    exact: Callable[[int], float],
    good: Callable[[float], bool],
    lo: int,
    hi: int,
    *,
    largest: bool,
    calibrate: Callable[[int], float] | None = None,
    confirm: bool = False,
) -> int | None:
    """The smallest (``largest``: the largest) k in [lo, hi] with ``good(exact(k))``; None if there is none.

    ``good`` is assumed monotone in k (it holds from some k on, or up to some k
    with ``largest``). ``rough(k)`` is a cheap estimate of ``exact(k)``: the
    bisection runs on it, once as it is and once scaled by ``calibrate`` /
    rough where the first one ended (``calibrate`` defaults to ``exact``; a
    cheaper, closer estimate may stand in); the exact value then checks the
    answer and, where it fails, recalibrates there and moves towards the safe end
    (``hi``, or ``lo`` with ``largest``) until one is good. The answer is good by its exact
    value and best by the calibrated estimates: usually one exact value instead
    of one per bisection step. With ``confirm`` it is also best by exact values:
    the next size beyond it is checked too (and, should it be good as well, the
    rest of that side is bisected on exact values).
    """

    def best(f: Callable[[int], float]) -> int:
        if largest:  # largest k with good == (smallest k with not good, hi + 1 if none) - 1, clamped to lo
            return max(lo, _search_smallest(lambda k: k > hi or not good(f(k)), lo, hi + 1) - 1)
        return _search_smallest(lambda k: k >= hi or good(f(k)), lo, hi)

    def scaled(scale: float) -> Callable[[int], float]:
        return lambda k: rough(k) * scale

    k = best(rough)
    r = rough(k)
    scale = (exact if calibrate is None else calibrate)(k) / r if r > 0 else 1.0
    k = best(scaled(scale))
    while not good(exact(k)):
        # Recalibrate where the estimate failed, and move at least one size towards the safe end.
        r = rough(k)
        scale = exact(k) / r if r > 0 else scale
        nxt = best(scaled(scale))
        nxt = min(nxt, k - 1) if largest else max(nxt, k + 1)
        if not lo <= nxt <= hi:
            return None
        k = nxt
    if confirm:
        if largest and k < hi and good(exact(k + 1)):
            return _search_smallest(lambda j: j > hi or not good(exact(j)), k + 2, hi + 1) - 1
        if not largest and k > lo and good(exact(k - 1)):
            return _search_smallest(lambda j: good(exact(j)), lo, k - 1)
    return k


# A search first fits each size tried at this speed (one start, the coarse
# histogram only), and fits at the asked speed only the few sizes that decide.
_ROUGH_SPEED = 11
# The file size of a rough fit is estimated from bands of rows, this many rows
# each, covering about _SAMPLE_FRACTION of the image.
_SAMPLE_BAND = 16
_SAMPLE_FRACTION = 1 / 8
_SAMPLE_MIN_PIXELS = 1 << 18


class _PaletteSizeSearch:
    """One image compressed at several palette sizes, sharing what does not depend on the size.

    The image is decoded once. For an opaque image in RGB, its colour histogram
    is built once, its coarse histograms (:func:`._fit.fit_palette`) are binned
    once per grid size, every fit is kept (a size is never fitted twice at one
    speed), and a size's pixels are mapped only when its file is needed; rough
    fits (:data:`_ROUGH_SPEED`) and, for file sizes, encodings of a sample of
    rows guide the search (:func:`_smallest_two_stage`). Other images
    (transparency, another colour space) are compressed whole at each size, from
    the one decoded image.
    """

    def __init__(self, image: Any, max_pixels: int, frame: int | None, options: dict[str, Any]) -> None:
        self.start = time.perf_counter()
        self.loaded = _load(image, max_pixels, frame)
        self.options = options
        self.tried: list[int] = []
        self._fits: dict[tuple[int, int], HistogramFit] = {}
        self._results: dict[tuple[int, bool], CompressionResult] = {}
        self._coarse: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = self.loaded.derived.setdefault(
            "coarse", {}
        )
        self._estimates: dict[int, float] = {}
        self.hist: ColorHistogram | None = None
        self.speed = int(options.get("speed", 1))
        if self.loaded.alpha is None and options.get("space", "rgb") == "rgb":
            self.rgb, _ = stacked_frames(self.loaded)
            self.hist = _rgb_histogram(self.loaded, self.rgb)

    @property
    def name(self) -> str:
        return self.loaded.path or "image"

    def fit(self, k: int, rough: bool = False) -> HistogramFit:
        """The undithered fit of ``k`` colours to the histogram (opaque RGB images only)."""
        assert self.hist is not None
        speed = max(self.speed, _ROUGH_SPEED) if rough else self.speed
        if (k, speed) not in self._fits:
            if not rough and k not in self.tried:
                self.tried.append(k)
            names = ("random_state", "n_init", "max_iter", "tol")
            fit_opts = {n: self.options[n] for n in names if n in self.options}
            self._fits[k, speed] = fit_histogram(self.hist, k, coarse_cache=self._coarse, speed=speed, **fit_opts)
        return self._fits[k, speed]

    def mse(self, k: int, rough: bool = False) -> float:
        """Per-channel MSE of ``k`` colours without dithering: the palette's own error, as pngquant judges it."""
        if self.hist is None:
            return self.result(k, dither=False).report.mse
        return self.fit(k, rough).sse / (3 * int(self.hist.counts.sum()))

    def result(self, k: int, dither: bool | None = None) -> CompressionResult:
        """The whole result at ``k`` colours, with the options' dithering unless ``dither`` says otherwise."""
        opts = dict(self.options)
        if dither is not None:
            opts["dither"] = dither
        key = (k, bool(opts.get("dither")))
        if key not in self._results:
            if k not in self.tried:
                self.tried.append(k)
            if self.hist is not None and not opts.get("dither"):
                hist, fit = self.hist, self.fit(k)
                r = _compress_loaded(
                    self.loaded,
                    lambda rgb, alpha: apply_fit(rgb, hist, fit),
                    k,
                    time.perf_counter(),
                    bool(opts.get("with_ssim", False)),
                )
            else:
                r = compress(self.loaded, k, **opts)
            self._results[key] = r
        return self._results[key]

    def estimate_bytes(self, k: int, fmt: str, strip: bool, exact: Callable[[int], float]) -> float:
        """The file size of ``k`` colours, estimated from a rough fit and a sample of rows when that is cheaper."""
        if (
            self.hist is None
            or self.options.get("dither")
            or self.rgb.shape[0] * self.rgb.shape[1] < _SAMPLE_MIN_PIXELS
        ):
            return exact(k)
        if k not in self._estimates:
            h = self.rgb.shape[0]
            period = max(_SAMPLE_BAND, int(_SAMPLE_BAND / _SAMPLE_FRACTION))
            rows = np.concatenate([np.arange(y, min(y + _SAMPLE_BAND, h)) for y in range(0, h, period)])
            fit = self.fit(k, rough=True)
            labels = self.hist.lookup_pixels(self.rgb[rows], fit.color_index)
            sample = len(encode_animation([labels], fit.palette, (), fmt, icc_profile=None))
            overhead = 3 * fit.palette.shape[0] + 64  # header and palette: not per row
            self._estimates[k] = overhead + max(0, sample - overhead) * h / rows.size
        return self._estimates[k]

    def rough_bytes(self, k: int, fmt: str, strip: bool, exact: Callable[[int], float]) -> float:
        """The file size of the rough fit of ``k`` colours, all pixels encoded (no fit at the asked speed)."""
        if (
            self.hist is None
            or self.options.get("dither")
            or self.rgb.shape[0] * self.rgb.shape[1] < _SAMPLE_MIN_PIXELS
        ):
            return exact(k)  # as estimate_bytes: then the estimates are exact
        fit = self.fit(k, rough=True)
        labels = self.hist.lookup_pixels(self.rgb, fit.color_index)
        return float(len(encode_animation([labels], fit.palette, (), fmt, icc_profile=None)))

    def finish(self, r: CompressionResult) -> CompressionResult:
        """``r`` with the whole search's time and the sizes fitted at the asked speed in its report."""
        r.report = dataclasses.replace(
            r.report, seconds=time.perf_counter() - self.start, sizes_tried=tuple(self.tried)
        )
        return r


def compress_to_quality(
    image: ImageLike,
    min_quality: float,
    max_quality: float,
    *,
    max_colors: int = 256,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
    **options: Any,
) -> CompressionResult:
    """pngquant's ``--quality MIN-MAX``: the fewest colours that reach ``max_quality``; refuse below ``min_quality``.

    Qualities are on pngquant's 0 (worst) to 100 (perfect) scale, each standing
    for a mean squared error by pngquant's own curve (:func:`quality_to_mse`).
    As in pngquant, the quality judged is the palette's error without dithering
    (dithering, if asked, is applied to the palette chosen): palette sizes are
    searched by bisection (the error falls as K grows) on one histogram, and
    when ``max_quality`` is out of reach ``max_colors`` colours are kept if they
    reach ``min_quality``. The report's ``sizes_tried`` lists the sizes fitted
    and ``seconds`` is the whole search's time.

    Raises
    ------
    TargetNotMetError
        Even ``max_colors`` colours fall below ``min_quality`` (pngquant's exit 99).

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.repeat(np.arange(0, 256, 4, dtype=np.uint8)[None, :, None], 3, axis=2)  # 64 grays
    >>> r = compress_to_quality(ramp, 60, 90)
    >>> r.report.quality >= 90, compress(ramp, r.report.n_colors - 1).report.quality < 90
    (True, True)
    """
    if not 0 <= min_quality <= max_quality <= 100:
        raise ValueError(f"need 0 <= min_quality <= max_quality <= 100, got {min_quality} and {max_quality}.")
    search = _PaletteSizeSearch(image, max_pixels, frame, options)
    target, limit = quality_to_mse(max_quality), quality_to_mse(min_quality)
    k = _best_two_stage(
        lambda k: search.mse(k, rough=True),
        search.mse,
        lambda e: e <= target,
        1,
        max_colors,
        largest=False,
        confirm=True,
    )
    if k is None:  # the maximum is out of reach: all the colours allowed, if they reach the minimum
        top = search.mse(max_colors)
        if top > limit:
            raise TargetNotMetError(
                f"{search.name}: {max_colors} colours give quality {mse_to_quality(top)} (MSE {top:.2f}), "
                f"below the minimum {min_quality:g}"
            )
        k = max_colors
    return search.finish(search.result(k))


def compress_to_psnr(
    image: ImageLike,
    min_psnr: float,
    max_psnr: float,
    *,
    max_colors: int = 256,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
    **options: Any,
) -> CompressionResult:
    """The smallest palette whose PSNR reaches ``max_psnr``; fail if even ``max_colors`` misses ``min_psnr``.

    ``--quality`` with PSNR in dB as the scale (the meaning of ``--quality``
    before 0.2.0, now ``--psnr``). Palette sizes are searched by bisection on
    one decoded image (PSNR grows with K) and, without dithering, one histogram;
    when ``max_psnr`` is out of reach the largest palette is kept if it reaches
    ``min_psnr``.

    Raises
    ------
    TargetNotMetError
        Even ``max_colors`` colours give a PSNR below ``min_psnr``.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.repeat(np.arange(0, 256, 4, dtype=np.uint8)[None, :, None], 3, axis=2)  # 64 grays
    >>> r = compress_to_psnr(ramp, 20, 35)
    >>> bool(r.report.psnr >= 35), bool(compress(ramp, r.report.n_colors - 1).report.psnr < 35)
    (True, True)
    """
    if not 0 <= min_psnr <= max_psnr:
        raise ValueError(f"need 0 <= min_psnr <= max_psnr, got {min_psnr} and {max_psnr}.")
    search = _PaletteSizeSearch(image, max_pixels, frame, options)

    def error(k: int, rough: bool = False) -> float:
        if search.hist is not None and not options.get("dither"):
            return search.mse(k, rough)  # the result's own figure, without mapping pixels
        return search.result(k).report.mse

    k = _best_two_stage(
        lambda k: error(k, True), error, lambda e: psnr(e) >= max_psnr, 1, max_colors, largest=False, confirm=True
    )
    if k is None:
        top = psnr(error(max_colors))
        if top < min_psnr:
            raise TargetNotMetError(
                f"{search.name}: {max_colors} colours give PSNR {top:.2f} dB, below the minimum {min_psnr:g} dB"
            )
        k = max_colors
    return search.finish(search.result(k))


def compress_to_size(
    image: ImageLike,
    max_bytes: int,
    *,
    fmt: str = "PNG",
    strip: bool = False,
    effort: int = DEFAULT_EFFORT,
    max_colors: int = 256,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
    **options: Any,
) -> CompressionResult:
    """The largest palette (up to ``max_colors``) whose encoded file fits in ``max_bytes``.

    ``report.output_bytes`` of the result holds the encoded size. Palette sizes
    are searched by bisection on one decoded image and one histogram (the file
    grows with K); ``report.sizes_tried`` lists them and ``report.seconds`` is
    the whole search's time.

    Raises
    ------
    TargetNotMetError
        Even one colour gives a larger file.

    Examples
    --------
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> r = compress_to_size(noise, 2_000)
    >>> r.report.output_bytes <= 2_000 < compress_to_size(noise, 10**6).report.output_bytes
    True
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be >= 1, got {max_bytes}.")
    search = _PaletteSizeSearch(image, max_pixels, frame, options)
    sizes: dict[int, int] = {}

    def run(k: int) -> CompressionResult:
        r = search.result(k)
        if k not in sizes:
            sizes[k] = len(r.encode(fmt, strip=strip, effort=effort))
        r.report = dataclasses.replace(r.report, output_bytes=sizes[k])
        return r

    def exact(k: int) -> float:
        run(k)
        return float(sizes[k])

    k = _best_two_stage(
        lambda k: search.estimate_bytes(k, fmt, strip, exact),
        exact,
        lambda b: b <= max_bytes,
        1,
        max_colors,
        largest=True,
        calibrate=lambda k: search.rough_bytes(k, fmt, strip, exact),
    )
    if k is None:
        raise TargetNotMetError(f"{search.name}: even 1 colour gives {sizes[1]:,} bytes, more than {max_bytes:,}")
    return search.finish(run(k))
