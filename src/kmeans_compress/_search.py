"""Palette-size searches: the fewest colours that reach a quality or PSNR, the most that fit a file size.

One image is decoded once; for an opaque RGB image its colour histogram and coarse grids are
built once (kept on the loaded image), every fit is kept, and rough fits and encodings of a
sample of rows steer a bisection so that exact fits run only where they decide.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._compress import CompressionResult, compress, compress_loaded, load, rgb_histogram, stacked_frames
from ._decode import DEFAULT_MAX_PIXELS, ImageLike
from ._encode import DEFAULT_EFFORT, encode_animation
from ._exceptions import TargetNotMetError
from ._histogram import ColorHistogram
from ._palette import smallest_palette
from ._quantize import HistogramFit, apply_fit, fit_histogram
from ._report import mse_to_quality, psnr, quality_to_mse
from ._validation import check_n_colors

__all__ = ["compress_to_psnr", "compress_to_quality", "compress_to_size"]


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


def _scan_up(k: int, good: Callable[[int], bool], hi: int, window: int, most: int) -> int:
    """From a good ``k``: the largest size found good by trying the ``window`` sizes above it, largest
    first, and again above each larger good size found, until none of the ``window`` sizes above
    the answer (up to ``hi``) is good, or ``most`` calls of ``good`` have been made.

    For a ``good`` that is only roughly monotone (a file's size against K), where a bisection can
    stop below a size that is good after all: the answer is good and, unless ``most`` stopped the
    scan, none of the ``window`` sizes above it is.
    """
    calls = 0
    while calls < most:
        better = None
        for j in range(min(hi, k + window), k, -1):
            if calls >= most:
                break
            calls += 1
            if good(j):
                better = j
                break
        if better is None:
            return k
        k = better
    return k


# A file's size does not always grow with K: a palette one entry larger can give an index map
# that deflates better (sizes 13-17 of an 80 x 64 gradient: 339, 370, 367, 361, 392 bytes), so a
# bisection can stop below a size that fits. After it, the size search tries this many sizes above
# the size it found, and above each larger one that fits (:func:`_scan_up`). Measured with every K
# from 1 to 256 encoded, at every file size one of them gives: the answer was the largest palette
# that fits at 68 % (sample photo, 256 budgets) and 78 % (that gradient, 236) of the budgets with
# the bisection alone, 96 % and 91 % with 4 sizes, 99.6 % and 94 % with 8; 2.5 extra fits on
# average with 4, 6 with 8 (the bisection: 8 or 9). Dips span up to 9 sizes on the photo and 20 on
# the gradient's flat end (two palettes 2 bytes apart): no window short of all sizes guarantees
# the largest, so the cheap one.
_SIZE_WINDOW = 4
# ... and fits at most this many sizes so (each an exact fit: about 0.5 s at 2 Mpx). Where the
# bisection's estimate is far off, the scan would climb window after window: a 1,800 x 1,200
# photo at 300,000 bytes took 10.5 s against 2.85 s (K 56 against 40).
_SIZE_SCAN_MOST = 8

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

    The image is decoded once. For an opaque image in RGB without fixed colours, its colour histogram
    is built once, its coarse histograms (:func:`._fit.fit_palette`) are binned
    once per grid size, every fit is kept (a size is never fitted twice at one
    speed), and a size's pixels are mapped only when its file is needed; rough
    fits (:data:`_ROUGH_SPEED`) and, for file sizes, encodings of a sample of
    rows guide the search (:func:`_smallest_two_stage`). Other images
    (transparency, another colour space) are compressed whole at each size, from
    the one decoded image; so are images with fixed colours (``fixed_colors``, ``--keep``), which
    every size holds.
    """

    def __init__(self, image: Any, max_pixels: int, frame: int | None, options: dict[str, Any]) -> None:
        self.start = time.perf_counter()
        self.loaded = load(image, max_pixels, frame)
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
        # The histogram's own fit (fit_histogram) knows no fixed entries: with --keep every size is
        # fitted by compress(), the one way of fitting around them, so each size tried holds them.
        if self.loaded.alpha is None and options.get("space", "rgb") == "rgb" and options.get("fixed_colors") is None:
            self.rgb, _ = stacked_frames(self.loaded)
            self.hist = rgb_histogram(self.loaded, self.rgb)

    def smallest(self, max_colors: int) -> int:
        """The smallest palette size to try: 1, or with fixed colours those and one entry for each kind
        of transparency the image has (:func:`._palette.smallest_palette`, the rule of every fit).

        Raises OptionNotAllowedError when even ``max_colors`` is below it (a usage error, exit 2).
        """
        _, alpha = stacked_frames(self.loaded)
        return smallest_palette(check_n_colors(max_colors), self.options.get("fixed_colors"), alpha)

    @property
    def name(self) -> str:
        return self.loaded.path or "image"

    def fit(self, k: int, rough: bool = False) -> HistogramFit:
        """The undithered fit of ``k`` colours to the histogram (opaque RGB images without fixed colours only)."""
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
                r = compress_loaded(
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
    OptionNotAllowedError
        ``max_colors`` is below the smallest palette ``fixed_colors`` and the image's transparency allow;
        smaller sizes are never tried.

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
        search.smallest(max_colors),
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
    OptionNotAllowedError
        ``max_colors`` is below the smallest palette ``fixed_colors`` and the image's transparency allow;
        smaller sizes are never tried.

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
        lambda k: error(k, True),
        error,
        lambda e: psnr(e) >= max_psnr,
        search.smallest(max_colors),
        max_colors,
        largest=False,
        confirm=True,
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
    """The largest palette (up to ``max_colors``) whose file fits in ``max_bytes``, as far as a local search sees.

    ``report.output_bytes`` of the result holds the encoded size. Palette sizes
    are searched by bisection on one decoded image and one histogram (the file
    grows with K, roughly); then the ``_SIZE_WINDOW`` (4) sizes above the one found
    are tried too, largest first, and again above any that fits (at most
    ``_SIZE_SCAN_MOST``, 8, such fits), since a palette one entry larger can make a
    smaller file. So the result fits and, unless the 8 ran out, none of the 4 sizes
    above it does: usually the largest that fits, though with the sizes so close a
    larger palette further up may fit too. ``report.sizes_tried`` lists the
    sizes and ``report.seconds`` is the whole search's time.

    Raises
    ------
    TargetNotMetError
        Even the smallest palette gives a larger file: one colour, or with ``fixed_colors`` those and
        an entry for each kind of transparency the image has (:func:`._palette.smallest_palette`).
    OptionNotAllowedError
        ``max_colors`` is below the smallest palette ``fixed_colors`` and the image's transparency allow;
        smaller sizes are never tried.

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

    lo = search.smallest(max_colors)
    k = _best_two_stage(
        lambda k: search.estimate_bytes(k, fmt, strip, exact),
        exact,
        lambda b: b <= max_bytes,
        lo,
        max_colors,
        largest=True,
        calibrate=lambda k: search.rough_bytes(k, fmt, strip, exact),
    )
    if k is None:  # lo itself was tried: None only when it does not fit
        raise TargetNotMetError(
            f"{search.name}: even {lo} colour{'s' if lo > 1 else ''} give{'' if lo > 1 else 's'} "
            f"{sizes[lo]:,} bytes, more than {max_bytes:,}"
        )
    k = _scan_up(k, lambda j: exact(j) <= max_bytes, max_colors, _SIZE_WINDOW, _SIZE_SCAN_MOST)
    return search.finish(run(k))
