"""Stage 6, report: storage accounting (the tutorial's and the real file's) and quality metrics."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._decode import LoadedImage
    from ._remap import Quantization

__all__ = [
    "CompressionReport",
    "build_report",
    "mse",
    "mse_to_quality",
    "psnr",
    "quality_to_mse",
    "ssim",
    "tutorial_bits",
]


def tutorial_bits(n_pixels: int, n_colors: int) -> tuple[int, int]:
    """The tutorial's storage estimate: (bits before, bits after).

    Before: 24 bits per pixel. After: the palette, ``K x 24`` bits, plus
    ``ceil(log2 K)`` bits per pixel for the index. Both arguments are integers
    (a bool or a float is refused: a TypeError), ``n_pixels >= 0`` and
    ``n_colors >= 1`` (a ValueError otherwise).

    Examples
    --------
    >>> tutorial_bits(128 * 128, 16)
    (393216, 65920)
    """
    n_pixels = check_int(n_pixels, "n_pixels", low=0)
    n_colors = check_int(n_colors, "n_colors", low=1)
    bits_per_index = math.ceil(math.log2(n_colors)) if n_colors > 1 else 0
    return 24 * n_pixels, n_colors * 24 + n_pixels * bits_per_index


def mse(original: ArrayLike, other: ArrayLike) -> float:
    """Mean squared error per channel on the 0-255 scale.

    Examples
    --------
    >>> import numpy as np
    >>> mse(np.zeros((1, 2, 3), np.uint8), np.full((1, 2, 3), 2, np.uint8))
    4.0
    """
    a = np.asarray(original)
    b = np.asarray(other)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}.")
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(mse_value: float, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB for a given MSE; ``inf`` for a perfect copy.

    Examples
    --------
    >>> round(psnr(65.025), 2)
    30.0
    """
    if mse_value < 0:
        raise ValueError(f"MSE must be >= 0, got {mse_value}.")
    if mse_value == 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse_value)


#: pngquant judges its error in its own weighting (gamma-adjusted, channels
#: weighted), not as the plain RGB error this package reports: on the benchmark
#: photos (pngquant 2.17, --nofs, --quality 50-65 to 80-95) the plain
#: per-channel MSE of its files is 1.8 to 2.5 times the MSE it prints, and it
#: lands below its target. This factor turns its curve into plain RGB MSE so that
#: at --quality 65-80 our error is no worse than pngquant's on each benchmark
#: photo (the table is in benchmarks/RESULTS.md).
PNGQUANT_MSE_SCALE = 1.3


def quality_to_mse(quality: float) -> float:
    """The per-channel RGB MSE (0-255) that pngquant's ``--quality`` value (0 worst ... 100 perfect) stands for.

    pngquant documents its scale as "roughly similar to libjpeg's quality" and
    maps it to an error by one curve: with q the quality,
    ``u = 2.5 / (210 + q)**1.2 * (100.1 - q) / 100``, plus, for the lowest
    settings, ``max(0, 0.016 / (0.001 + q) - 0.001)``; it prints ``u * 65536 / 6``
    as its MSE, measured its own way. That curve, scaled by
    :data:`PNGQUANT_MSE_SCALE` to plain RGB error, is returned: quality 0
    accepts any error (``inf``), 100 only an exact copy (0.0).

    Examples
    --------
    >>> round(quality_to_mse(80), 3), round(quality_to_mse(65), 3)
    (7.916, 14.734)
    >>> quality_to_mse(100), quality_to_mse(0)
    (0.0, inf)
    """
    q = float(quality)
    if q <= 0:
        return math.inf
    if q >= 100:
        return 0.0
    low_quality_relief = max(0.0, 0.016 / (0.001 + q) - 0.001)
    unit = low_quality_relief + 2.5 / (210.0 + q) ** 1.2 * (100.1 - q) / 100.0
    return unit * 65536.0 / 6.0 * PNGQUANT_MSE_SCALE


def mse_to_quality(mse_value: float) -> int:
    """The quality (0-100, pngquant's scale) of a per-channel RGB MSE: the highest q with ``mse <= quality_to_mse(q)``.

    Examples
    --------
    >>> mse_to_quality(quality_to_mse(77)), mse_to_quality(0.0), mse_to_quality(1e9)
    (77, 100, 0)
    """
    for q in range(100, 0, -1):
        if mse_value <= quality_to_mse(q) * (1 + 1e-9):
            return q
    return 0


#: Pixels of one band of :func:`ssim`'s computation (rows x width).
_SSIM_BAND_PIXELS = 1 << 18


def _window_sums(a: np.ndarray, win: int) -> np.ndarray:
    """Sums of ``a`` (2-D int32) over every whole ``win`` x ``win`` window, exact: ``win`` shifted rows
    added, then ``win`` shifted columns (contiguous slices; 49 x 2 x 255**2 fits in int32)."""
    h, w = a.shape
    rows = a[: h - win + 1].copy()
    for i in range(1, win):
        rows += a[i : h - win + 1 + i]
    out = rows[:, : w - win + 1].copy()
    for j in range(1, win):
        out += rows[:, j : w - win + 1 + j]
    return out


def ssim(original: Any, other: Any, *, win_size: int = 7, data_range: float = 255.0) -> float:
    """Mean structural similarity of two uint8 images, (H, W) or (H, W, C): the mean over channels.

    The figure of scikit-image's ``structural_similarity`` with its defaults
    (a uniform ``win_size`` window, sample covariances, K1 = 0.01, K2 = 0.03,
    the mean over the windows wholly inside the image), computed here from
    exact integer window sums so that scikit-image (and SciPy) are not needed.
    1.0 for identical images; an image smaller than the window gives a
    ValueError, as scikit-image.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    >>> ssim(a, a)
    1.0
    """
    a = np.asarray(original)
    b = np.asarray(other)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}.")
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        raise ValueError("ssim takes integer images (uint8).")
    if a.shape[0] < win_size or a.shape[1] < win_size:
        raise ValueError(f"ssim needs an image of at least {win_size} x {win_size} pixels, got {a.shape[:2]}.")
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    n = win_size * win_size
    # With window sums S (not means): SSIM = (2 Sx Sy + C1) (2 (n Sxy - Sx Sy) + C2) /
    # ((Sx^2 + Sy^2 + C1) (n (Sxx + Syy) - Sx^2 - Sy^2 + C2)), the 1/n^2 and 1/(n (n - 1)) of the
    # means and sample covariances cancelling; every product of sums is an exact int32 (< 2**31).
    c1 = (0.01 * data_range) ** 2 * n * n
    c2 = (0.03 * data_range) ** 2 * n * (n - 1)
    total = 0.0
    n_windows = (a.shape[0] - win_size + 1) * (a.shape[1] - win_size + 1)
    # Bands of window rows, each with its win_size - 1 rows of overlap: the memory stays a few
    # rows' worth whatever the image (a whole-image pass held about 2.5 GB at 24 Mpx).
    band = max(1, _SSIM_BAND_PIXELS // a.shape[1])
    for ch in range(a.shape[2]):
        ssum = 0.0
        for r0 in range(0, a.shape[0] - win_size + 1, band):
            r1 = min(r0 + band, a.shape[0] - win_size + 1) + win_size - 1
            x = a[r0:r1, :, ch].astype(np.int32)
            y = b[r0:r1, :, ch].astype(np.int32)
            sx, sy = _window_sums(x, win_size), _window_sums(y, win_size)
            sxy = _window_sums(x * y, win_size)
            x *= x
            x += y * y
            spp = _window_sums(x, win_size)  # Sxx + Syy
            pxy = sx * sy
            sx *= sx
            sy *= sy
            sx += sy  # Sx^2 + Sy^2
            spp *= n
            spp -= sx
            sxy *= n
            sxy -= pxy
            num = 2.0 * pxy + c1
            num *= 2.0 * sxy + c2
            den = sx + c1
            den *= spp + c2
            num /= den
            ssum += float(num.sum())
        total += ssum / n_windows
    return total / a.shape[2]


@dataclass(frozen=True)
class CompressionReport:
    """What a compression achieved, in the tutorial's terms and in real bytes.

    ``original_bits`` and ``compressed_bits`` are the tutorial's estimate
    (:func:`tutorial_bits`) for the palette actually used; ``input_bytes`` and
    ``output_bytes`` are real file sizes, ``None`` when unknown (an array input,
    or before the result is saved).
    """

    width: int
    height: int
    n_colors: int
    n_colors_used: int
    n_distinct_input: int
    original_bits: int
    compressed_bits: int
    mse: float
    psnr: float
    seconds: float
    #: Mean structural similarity (:func:`ssim`, scikit-image's figure) of the output to the input, 0-1.
    ssim: float | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    input_path: str | None = None
    output_path: str | None = None
    n_frames: int = 1
    #: The palette sizes a quality, PSNR or size search tried, in order (then
    #: ``seconds`` is the whole search's time); empty for one palette size.
    sizes_tried: tuple[int, ...] = ()
    #: For a dithered result: the per-channel MSE of its palette without dithering (every pixel
    #: to its nearest entry), the palette's own error, as pngquant judges it; None when not
    #: dithered (it is then ``mse``).
    undithered_mse: float | None = None

    @property
    def quality(self) -> int:
        """The error on pngquant's 0-100 quality scale (:func:`mse_to_quality`)."""
        return mse_to_quality(self.mse)

    @property
    def palette_quality(self) -> int:
        """The palette's own quality, without dithering, on pngquant's 0-100 scale: what pngquant
        reports and judges (``--quality``, ``--skip-if-larger``), dithered or not; ``quality`` when
        not dithered."""
        return mse_to_quality(self.mse if self.undithered_mse is None else self.undithered_mse)

    @property
    def n_pixels(self) -> int:
        """Pixels in all frames."""
        return self.width * self.height * self.n_frames

    @property
    def tutorial_ratio(self) -> float:
        """Tutorial's compression factor, bits before / bits after."""
        return self.original_bits / self.compressed_bits if self.compressed_bits else math.inf

    @property
    def bits_per_pixel(self) -> float | None:
        """Real bits per pixel of the written file."""
        return None if self.output_bytes is None else 8.0 * self.output_bytes / self.n_pixels

    @property
    def file_ratio(self) -> float | None:
        """Input file bytes / output file bytes, when both are known."""
        if self.output_bytes is None or not self.input_bytes:
            return None
        return self.input_bytes / self.output_bytes

    def to_dict(self) -> dict[str, Any]:
        """All fields and derived figures, JSON-ready (``inf`` PSNR becomes ``None``)."""
        d = asdict(self)
        d.update(
            n_pixels=self.n_pixels,
            tutorial_ratio=self.tutorial_ratio,
            bits_per_pixel=self.bits_per_pixel,
            file_ratio=self.file_ratio,
            quality=self.quality,
            palette_quality=self.palette_quality,
        )
        d["sizes_tried"] = list(self.sizes_tried)
        if math.isinf(d["psnr"]):
            d["psnr"] = None
        return d

    def format(self) -> str:
        """A few human-readable lines."""
        name = self.input_path or "image"
        frames = f" x {self.n_frames} frames" if self.n_frames > 1 else ""
        lines = [
            f"{name}: {self.width}x{self.height}{frames}, {self.n_distinct_input} distinct colours -> "
            f"{self.n_colors_used} (asked {self.n_colors})"
        ]
        if self.n_distinct_input <= self.n_colors:
            lines.append("  the image has no more distinct colours than asked: all kept, exactly")
        lines.append(
            f"  tutorial estimate: {self.original_bits:,} bits -> {self.compressed_bits:,} bits "
            f"({self.tutorial_ratio:.2f}x)"
        )
        if self.output_bytes is not None:
            size = f"  file: {self.output_bytes:,} bytes, {self.bits_per_pixel:.3f} bits/pixel"
            if self.input_bytes:
                ratio = self.input_bytes / self.output_bytes
                if ratio >= 1:
                    size += f" (input {self.input_bytes:,} bytes, {ratio:.2f}x smaller)"
                else:  # a small JPEG, say: "0.71x smaller" would hide that the file grew
                    size += f" (input {self.input_bytes:,} bytes: {1 / ratio:.2f}x LARGER than the input)"
            if self.output_path:
                size += f" -> {self.output_path}"
            lines.append(size)
        quality = "lossless" if math.isinf(self.psnr) else f"PSNR {self.psnr:.2f} dB"
        sim = "" if self.ssim is None else f", SSIM {self.ssim:.4f}"
        palette = ""
        if self.undithered_mse is not None:
            palette = f" (dithered; the palette without: MSE {self.undithered_mse:.3f}, Q={self.palette_quality})"
        lines.append(f"  quality: MSE {self.mse:.3f}, {quality}{sim}, Q={self.quality}{palette}; {self.seconds:.3f} s")
        if self.sizes_tried:
            tried = ", ".join(map(str, self.sizes_tried))
            lines.append(f"  palette sizes tried: {tried} ({len(self.sizes_tried)} fits in {self.seconds:.3f} s)")
        return "\n".join(lines)


def _ssim_of(loaded: LoadedImage, q: Quantization) -> float | None:
    """SSIM of the quantized image to the input over the channels the palette has, frame by frame
    (mean); the colour of fully transparent pixels ignored, as in the MSE. None below 7 x 7 pixels."""
    h, w = loaded.pixels.shape[:2]
    if h < 7 or w < 7:
        return None
    frames = [loaded.rgba if q.palette.shape[1] == 4 else loaded.pixels]
    frames += [f if q.palette.shape[1] == 4 else f[:, :, :3] for f in loaded.more_frames]
    values = []
    for i, orig in enumerate(frames):
        idx = q.indices[i * h : (i + 1) * h]
        if orig.shape[2] == 4:
            out = q.palette[idx]
            orig = orig.copy()
            orig[orig[:, :, 3] == 0] = 0
            out[out[:, :, 3] == 0] = 0
            values.append(ssim(orig, out))
        else:  # one channel of the output at a time: a whole RGB copy is 72 MB at 24 Mpx
            values.append(float(np.mean([ssim(orig[:, :, c], q.palette[:, c][idx]) for c in range(orig.shape[2])])))
    return float(np.mean(values))


def build_report(
    loaded: LoadedImage, q: Quantization, n_colors: int, seconds: float, *, with_ssim: bool = False
) -> CompressionReport:
    """The report of ``loaded`` quantized to ``q`` (every frame stacked in ``q.indices``); no output yet.

    SSIM costs about as much as a small image's whole compression, so it is measured
    only when asked (``with_ssim``): for a report a person reads.
    """
    h, w = loaded.pixels.shape[:2]
    n_frames = 1 + len(loaded.more_frames)
    n_values = h * w * n_frames * q.palette.shape[1]
    mse_value = q.sse / n_values
    before, after = tutorial_bits(h * w * n_frames, q.palette.shape[0])
    return CompressionReport(
        width=w,
        height=h,
        n_colors=n_colors,
        n_colors_used=int(q.palette.shape[0]),
        n_distinct_input=q.n_distinct,
        original_bits=before,
        compressed_bits=after,
        mse=mse_value,
        psnr=psnr(mse_value),
        seconds=seconds,
        ssim=_ssim_of(loaded, q) if with_ssim else None,
        input_bytes=loaded.file_bytes,
        input_path=loaded.path,
        n_frames=n_frames,
        undithered_mse=None if q.undithered_sse is None else q.undithered_sse / n_values,
    )
