"""Stage 6, report: storage accounting (the tutorial's and the real file's) and quality metrics."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._decode import LoadedImage
    from ._remap import Quantization

__all__ = ["CompressionReport", "build_report", "mse", "psnr", "tutorial_bits"]


def tutorial_bits(n_pixels: int, n_colors: int) -> tuple[int, int]:
    """The tutorial's storage estimate: (bits before, bits after).

    Before: 24 bits per pixel. After: the palette, ``K x 24`` bits, plus
    ``ceil(log2 K)`` bits per pixel for the index.

    Examples
    --------
    >>> tutorial_bits(128 * 128, 16)
    (393216, 65920)
    """
    if n_pixels < 0 or n_colors < 1:
        raise ValueError(f"need n_pixels >= 0 and n_colors >= 1, got {n_pixels} and {n_colors}.")
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
    input_bytes: int | None = None
    output_bytes: int | None = None
    input_path: str | None = None
    output_path: str | None = None
    n_frames: int = 1

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
        )
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
                size += f" (input {self.input_bytes:,} bytes, {self.file_ratio:.2f}x smaller)"
            if self.output_path:
                size += f" -> {self.output_path}"
            lines.append(size)
        quality = "lossless" if math.isinf(self.psnr) else f"PSNR {self.psnr:.2f} dB"
        lines.append(f"  quality: MSE {self.mse:.3f}, {quality}; {self.seconds:.3f} s")
        return "\n".join(lines)


def build_report(loaded: LoadedImage, q: Quantization, n_colors: int, seconds: float) -> CompressionReport:
    """The report of ``loaded`` quantized to ``q`` (every frame stacked in ``q.indices``); no output yet."""
    h, w = loaded.pixels.shape[:2]
    n_frames = 1 + len(loaded.more_frames)
    mse_value = q.sse / (h * w * n_frames * q.palette.shape[1])
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
        input_bytes=loaded.file_bytes,
        input_path=loaded.path,
        n_frames=n_frames,
    )
