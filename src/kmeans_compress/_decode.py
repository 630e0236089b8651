"""Stage 1, decode: a file, bytes, a PIL image or an array -> :class:`LoadedImage` (RGB pixels, alpha, frames, ICC).

What happens to each input mode (see also the README's table):

======================  ===================================================================
mode                    result
======================  ===================================================================
RGB                     as is; a colour key (PNG tRNS) makes the pixels of that colour transparent
RGBA, RGBa              colour + alpha; fully transparent pixels share one entry
LA, La, PA              gray + alpha, as RGBA
L, 1                    grayscale: a palette of grays (R = G = B); a gray key (tRNS) as for RGB
P                       expanded through its palette (and its transparency, if any)
I;16, I (16-bit gray)   scaled to 8 bits (``round(v / 257)``), grayscale; a gray key as for L
16-bit RGB(A) PNG       scaled to 8 bits per channel (``round(v / 257)``; a still image, see
                        :func:`_png_low_bytes`); a colour key compared in 16 bits
F (32-bit float)        grayscale, by the rule of :func:`_float_to_8_bits`
CMYK                    converted to sRGB through its embedded ICC profile when there is
                        one, else by Pillow's conversion; the CMYK profile is not kept
YCbCr, LAB, HSV         converted to RGB
======================  ===================================================================

The EXIF orientation is applied. An embedded ICC profile of an RGB or gray input
is kept; the encoder writes it into the output when it is an RGB profile (an
indexed PNG may hold no other) and ``strip`` is not asked for. An animated GIF,
PNG or WebP is decoded whole (every frame, as displayed, with its duration) so
that it can be compressed with one shared palette; any other multi-frame input
(a multi-page TIFF, say) gives its first page with a warning, or the one chosen
with ``frame``.
"""

from __future__ import annotations

import io as _io
import os
import struct
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from ._exceptions import (
    FRAME_HINT,
    FramesIgnoredWarning,
    ImageNotFoundError,
    ImageTooLargeError,
    UnsupportedImageError,
    warn,
)

__all__ = ["DEFAULT_MAX_PIXELS", "ImageLike", "LoadedImage", "load_image", "sample_image_path"]

#: Inputs with more pixels than this are refused (a decompression-bomb guard);
#: ``load_image(max_pixels=...)`` and the CLI's ``--max-pixels`` change it.
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's hard limit: 2 x its warning threshold

#: Input formats whose frames are an animation, decoded whole.
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")


@dataclass(frozen=True)
class LoadedImage:
    """Decoded pixels and what is known about where they came from.

    Attributes
    ----------
    pixels : ndarray of shape (H, W, 3), uint8
        RGB; for a grayscale input R = G = B.
    alpha : ndarray of shape (H, W), uint8, or None
        Opacity, ``None`` when every pixel is opaque.
    grayscale : bool
        The input was a grayscale mode (L, LA, 1, I;16, ...).
    icc_profile : bytes or None
        The embedded colour profile, for RGB and gray inputs.
    n_frames : int
        Frames (or pages) in the file; only ``frame`` was decoded.
    """

    pixels: np.ndarray
    path: str | None = None
    file_bytes: int | None = None
    format: str | None = None
    alpha: np.ndarray | None = None
    grayscale: bool = False
    icc_profile: bytes | None = None
    n_frames: int = 1
    frame: int = 0
    #: For an animation decoded whole: every frame after the first, (H, W, 4) RGBA.
    more_frames: tuple[np.ndarray, ...] = ()
    #: Display time of every frame in milliseconds, and the loop count (0: forever; ``None``:
    #: the file gives none, a GIF without the NETSCAPE block, which plays once).
    durations: tuple[int, ...] = ()
    loop: int | None = None
    #: What the pipeline derives from the pixels alone (the colour histogram, coarse grids),
    #: kept so that compressing the same loaded image again (another palette size, a web
    #: page's slider) does not derive it again. Never changes a result.
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def rgba(self) -> np.ndarray:
        """(H, W, 4) uint8 with the alpha channel (255 where opaque)."""
        a = self.alpha if self.alpha is not None else np.full(self.pixels.shape[:2], 255, np.uint8)
        return np.dstack([self.pixels, a])


def sample_image_path() -> Path:
    """Path of the embedded sample photograph (``chelsea.png``, CC0, 451 x 300).

    Examples
    --------
    >>> sample_image_path().name
    'chelsea.png'
    """
    return Path(str(resources.files("kmeans_compress") / "data" / "chelsea.png"))


#: What :func:`load_image` (and so every function that takes an image) accepts: a path, the
#: bytes of an image file, a PIL image, an (H, W), (H, W, 3) or (H, W, 4) array, or an
#: already loaded image.
ImageLike = Union[str, "os.PathLike[str]", bytes, Image.Image, np.ndarray, LoadedImage]

_GRAY_16 = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _split_alpha(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
    alpha = rgba[:, :, 3]
    rgb = np.ascontiguousarray(rgba[:, :, :3])
    return rgb, (None if bool((alpha == 255).all()) else np.ascontiguousarray(alpha))


def _gray_to_rgb(a8: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(a8[:, :, None], 3, axis=2))


def _sixteen_to_eight_bits(v: np.ndarray) -> np.ndarray:
    """16-bit samples as 8-bit ones, ``round(v / 257)``: the nearest of the 256 levels (65,535 =
    255 x 257). Values outside 0-65,535 are clipped first. In integers, ``(v + 128) // 257`` is
    that rounding exactly (no ``v / 257`` lies halfway between two integers), in 4 bytes a sample
    where a float division took 8."""
    if v.dtype != np.uint16:
        v = np.clip(v, 0, 65535)
    return ((v.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _key_alpha(keyed: np.ndarray) -> np.ndarray | None:
    """Alpha of a colour-key image: 0 where ``keyed`` (pixels of the key colour), else 255;
    ``None`` when no pixel has the key."""
    if not keyed.any():
        return None
    return np.where(keyed, np.uint8(0), np.uint8(255))


def _float_to_8_bits(a: np.ndarray) -> np.ndarray:
    """A float (mode F) image as 8-bit grays, by the range its values lie in.

    Float image files follow two conventions, 0-1 (most tools) and 0-255 (Pillow's own for mode
    F), and the file does not say which; the values decide:

    - all between -1 and 2 (exclusive): 0-1, times 255. Values a little outside 0-1, as
      resampling or filtering leaves them, are clipped to black and white. Read as 0-255 such an
      image would be black (every pixel 0, 1 or 2), so this reading never hides one that is not.
    - else all between -1 and 256 (exclusive): 0-255, as it is (clipped to 0-255).
    - else (values below -1 or from 256 up: signed data, counts of a 12-bit sensor, ...):
      stretched linearly from the smallest value (black) to the largest (white); clipped, such
      data would come out mostly black or mostly white.

    NaN counts as 0; an infinite value as the largest (or smallest) finite value.
    """
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    a = np.nan_to_num(a, nan=0.0, posinf=hi, neginf=lo)
    if lo > -1.0 and hi < 2.0:
        a = a * 255.0
    elif not (lo > -1.0 and hi < 256.0) and hi > lo:
        a = (a - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


#: Pixels copied at once from a decoded PIL image into the array (see :func:`_rgb_pixels`).
_BAND_PIXELS = 1 << 22


def _rgb_pixels(img: Image.Image) -> np.ndarray:
    """The (H, W, 3) uint8 array of an RGB PIL image, copied a band of rows at a time.

    ``np.asarray(img)`` goes through ``img.tobytes()``: at 24 Mpx that held the 72 MB of bytes
    (joined from pieces, so twice for a moment) beside Pillow's own 96 MB and the array; a
    band at a time, only the array and a band are added to Pillow's copy.
    """
    w, h = img.size
    out = np.empty((h, w, 3), dtype=np.uint8)
    rows = max(1, _BAND_PIXELS // max(1, w))
    if rows >= h:
        out[:] = np.asarray(img, dtype=np.uint8)
        return out
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        out[y0:y1] = np.asarray(img.crop((0, y0, w, y1)), dtype=np.uint8)
    return out


def _upright(img: Image.Image) -> Image.Image:
    """``img`` turned by its EXIF orientation (:func:`PIL.ImageOps.exif_transpose`).

    An EXIF block Pillow cannot parse (a PNG's eXIf or a WebP's EXIF chunk of garbage: a
    ``SyntaxError`` once the orientation is asked for) leaves the image as stored: the pixels are
    sound and the orientation is unknown, as Pillow itself leaves it for a JPEG's unreadable block
    (and as an unreadable ICC profile is dropped). The image is loaded first, so that damaged
    pixel data is still reported as such.
    """
    img.load()
    try:
        return ImageOps.exif_transpose(img)
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, EOFError, OSError, struct.error):
        return img


def _decode_pil(
    img: Image.Image, low: Image.Image | None = None
) -> tuple[np.ndarray, np.ndarray | None, bool, bytes | None]:
    """(rgb, alpha, grayscale, icc) of one PIL image, orientation applied.

    ``low``: for a 16-bit RGB(A) PNG, the low byte of every sample (:func:`_png_low_bytes`);
    ``img`` then holds the high bytes, as Pillow decodes such a file.
    """
    icc = img.info.get("icc_profile") or None
    # A colour key counts only in an image read from a PNG file (its tRNS chunk): Pillow leaves the
    # key of a converted palette image in ``info`` too (``.convert("RGB")`` of a P image with a
    # transparent entry), where opaque pixels of that colour are no transparency.
    from_png = getattr(img, "format", None) == "PNG"
    img = _upright(img)
    mode = img.mode
    if low is not None:
        rgb, alpha = _sixteen_bit_rgb(img, _upright(low))
        return rgb, alpha, False, icc
    # A colour key (PNG tRNS of an RGB, gray or 1-bit image) is transparency: Pillow's conversion
    # to RGBA turns the pixels of that colour transparent, as for a palette image.
    keyed = from_png and img.info.get("transparency") is not None
    if mode == "RGB" and not keyed:
        return _rgb_pixels(img), None, False, icc
    if mode in ("RGBA", "RGBa", "RGB"):
        rgb, alpha = _split_alpha(img)
        return rgb, alpha, False, icc
    if mode in ("L", "1") and not keyed:
        return _gray_to_rgb(np.asarray(img.convert("L"), dtype=np.uint8)), None, True, icc
    if mode in ("L", "1"):
        rgb, alpha = _split_alpha(img)
        return rgb, alpha, True, icc
    if mode in ("LA", "La"):
        # Pillow converts premultiplied La to LA only (un-premultiplying), not to RGBA.
        rgb, alpha = _split_alpha(img.convert("LA") if mode == "La" else img)
        return rgb, alpha, True, icc
    if mode in ("P", "PA"):
        rgb, alpha = _split_alpha(img)
        return rgb, alpha, False, icc
    if mode in _GRAY_16:
        a = np.asarray(img)
        if mode.startswith("I;16") or a.max() > 255:
            a8 = _sixteen_to_eight_bits(a)
        else:
            a8 = np.clip(a, 0, 255).astype(np.uint8)
        key = img.info.get("transparency") if from_png else None  # a gray key, in the file's 16-bit samples
        alpha = _key_alpha(a == key) if isinstance(key, int) else None
        return _gray_to_rgb(a8), alpha, True, icc
    if mode == "F":
        return _gray_to_rgb(_float_to_8_bits(np.asarray(img, dtype=np.float64))), None, True, icc
    if mode == "CMYK":
        rgb_img = None
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(_io.BytesIO(icc))
                rgb_img = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            except (ImageCms.PyCMSError, OSError, ValueError):
                rgb_img = None  # a broken profile: fall back to the plain conversion
        if rgb_img is None:
            rgb_img = img.convert("RGB")
        return np.ascontiguousarray(np.asarray(rgb_img, dtype=np.uint8)), None, False, None
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8)), None, False, None


def _sixteen_bit_rgb(high: Image.Image, low: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb, alpha) of a 16-bit RGB(A) PNG from the high and low bytes of its samples, each
    reduced as 16-bit gray is (:func:`_sixteen_to_eight_bits`); a colour key is compared with
    the 16-bit colours, as the file gives it."""
    hi, lo = np.asarray(high), np.asarray(low)  # uint8 (H, W, 3 or 4)
    key = high.info.get("transparency")
    keys: tuple[int, ...] = key if isinstance(key, tuple) and len(key) == 3 and hi.shape[2] == 3 else ()
    rgb = np.empty(hi.shape[:2] + (3,), dtype=np.uint8)
    alpha = None
    matches = np.ones(hi.shape[:2], dtype=bool) if keys else None
    # A channel at a time, in 16 bits: the whole (H, W, 3) in 32-bit integers took 3x the memory of
    # the decoded image (a 2,000 x 2,000 file: 262 MB against 90).
    for c in range(hi.shape[2]):
        v = (hi[:, :, c].astype(np.uint16) << 8) | lo[:, :, c]
        if matches is not None:
            matches &= v == keys[c]
        if c < 3:
            rgb[:, :, c] = _sixteen_to_eight_bits(v)
        else:
            alpha = _sixteen_to_eight_bits(v)
    if alpha is not None:
        return rgb, (None if bool((alpha == 255).all()) else alpha)
    if matches is not None:
        return rgb, _key_alpha(matches)
    return rgb, None


#: Pillow's raw modes of 16-bit RGB(A) PNG samples, which keep each sample's high byte, and the
#: little-endian raw modes of the same pixel size, which read over those big-endian samples keep
#: their low byte (see :func:`_png_low_bytes`).
_PNG_16_LOW_BYTES = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}


#: Raw modes of 2- and 4-bit gray PNG samples, which Pillow scales to 0-255, and the factor.
_PNG_LOW_BIT_GRAY = {"L;2": 85, "L;4": 17}


def _scale_gray_key(img: ImageFile.ImageFile) -> None:
    """A 2- or 4-bit gray PNG, not loaded yet: its colour key (tRNS) scaled as Pillow scales the
    samples (2-bit 3 is 255), so that the key matches its pixels. Pillow gives the key as the
    file's raw sample."""
    key = img.info.get("transparency")
    if img.format != "PNG" or not isinstance(key, int) or len(img.tile) != 1:
        return
    scale = _PNG_LOW_BIT_GRAY.get(img.tile[0][3]) if isinstance(img.tile[0][3], str) else None
    if scale is not None:
        img.info["transparency"] = key * scale


def _png_16_bit_low_mode(img: ImageFile.ImageFile) -> str | None:
    """The raw mode that decodes the low bytes of ``img``, a PNG not loaded yet, when it is a
    16-bit RGB(A) one; else ``None``."""
    if img.format != "PNG" or len(img.tile) != 1:
        return None
    rawmode = img.tile[0][3]
    return _PNG_16_LOW_BYTES.get(rawmode) if isinstance(rawmode, str) else None


def _png_low_bytes(path: Any, low_mode: str, max_pixels: int) -> ImageFile.ImageFile:
    """The low byte of every sample of the 16-bit RGB(A) PNG at ``path``, as an image of the
    mode Pillow gives it (RGB or RGBA), loaded.

    Pillow keeps the high byte of each 16-bit colour sample (200 and 65,280 become 0 and 255,
    where ``round(v / 257)`` is 1 and 254) and has no mode that holds more. Its PNG decoder
    unfilters the rows by the raw mode's pixel size, then hands every pixel to that raw mode's
    unpacker: decoded a second time with the little-endian raw mode of the same size, the file
    gives the low bytes, with Pillow's own inflating, unfiltering and de-interlacing. A still
    image only: an animation's frames are composed in 8 bits, so they keep Pillow's reduction.
    """
    low = _open_checked(path, max_pixels)
    try:
        codec, extents, offset, _ = low.tile[0]
        # A plain tuple: every Pillow unpacks its tiles as such (the named tuple came in 11).
        low.tile = [(codec, extents, offset, low_mode)]  # type: ignore[list-item]
        low.load()
    except BaseException:
        low.close()
        raise
    return low


def _from_array(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, bool]:
    gray = a.ndim == 2
    if gray:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise UnsupportedImageError(f"an image array must have shape (H, W), (H, W, 3) or (H, W, 4); got {a.shape}.")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise UnsupportedImageError(f"the image array is empty (shape {a.shape}).")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise UnsupportedImageError("the image array contains NaN or inf.")
        if a.min() < 0 or a.max() > 1:
            raise UnsupportedImageError(
                f"a float image array must hold values in [0, 1]; got values from {a.min():g} to {a.max():g}."
            )
        a = np.rint(a * 255.0).astype(np.uint8)
    elif a.dtype.kind in "iu":
        if a.dtype != np.uint8 and (a.min() < 0 or a.max() > 255):
            raise UnsupportedImageError(f"an integer image array must hold values 0-255; got {a.min()} to {a.max()}.")
        a = a.astype(np.uint8, copy=False)
    else:
        raise UnsupportedImageError(f"unsupported image array dtype {a.dtype}.")
    if a.shape[2] == 1:
        return _gray_to_rgb(a[:, :, 0]), None, True
    rgb = np.ascontiguousarray(a[:, :, :3])
    alpha = None
    if a.shape[2] == 4 and not bool((a[:, :, 3] == 255).all()):
        alpha = np.ascontiguousarray(a[:, :, 3])
    return rgb, alpha, False


_OPEN_LOCK = threading.Lock()


class _Named:
    """In-memory file data with a name for messages."""

    def __init__(self, data: bytes, name: str) -> None:
        self.source = _io.BytesIO(data)
        self.name = name

    def __str__(self) -> str:
        return self.name


def _check_pixels(path: Any, size: tuple[int, int], frames: int, max_pixels: int) -> None:
    """Refuse ``frames`` frames of ``size`` (width, height) pixels when they are more than
    ``max_pixels`` together: each frame decoded is held in memory at once."""
    w, h = size
    pixels = w * h * frames
    if pixels > max_pixels:
        what = f"{w}x{h}" if frames == 1 else f"{frames} frames of {w}x{h}"
        # The hint (--max-pixels, --frame N) is the front end's: ImageTooLargeError.message.
        raise ImageTooLargeError(f"{path}: {what} = {pixels:,} pixels is more than the limit of {max_pixels:,}", frames)


def _open_checked(path: Any, max_pixels: int) -> ImageFile.ImageFile:
    """Open lazily with our own pixel limit instead of Pillow's global one (one frame's pixels:
    :func:`load_image` counts an animation's frames once it knows how many there are).

    A path is opened as a stream, as bytes and stdin are: Pillow memory-maps an uncompressed file
    it opens by name, and its TIFF reader (Pillow 13) maps the rows of an L, RGBA, CMYK or P image
    of EXIF orientation 5-8 with the turned size, then drops the tag: scrambled pixels. The image
    owns the file (closed with it, or once loaded when the format needs it no more), as when Pillow
    opens the path itself."""
    fp = path.source if isinstance(path, _Named) else open(path, "rb")  # the image owns it
    with _OPEN_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            img = Image.open(fp)
        except BaseException:
            if not isinstance(path, _Named):
                fp.close()
            raise
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    if not isinstance(path, _Named):
        img._exclusive_fp = True  # what Image.open(path) sets: Pillow closes the file it opened
    try:
        _check_pixels(path, img.size, 1, max_pixels)
    except ImageTooLargeError:
        img.close()
        raise
    return img


def _has_ghostscript() -> bool:
    """Whether Pillow finds Ghostscript, through which alone it reads EPS."""
    from PIL import EpsImagePlugin

    return bool(EpsImagePlugin.has_ghostscript())


def load_image(
    source: ImageLike,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int | None = None,
    name: str | None = None,
) -> LoadedImage:
    """Decode ``source`` to RGB pixels, with alpha, profile and provenance.

    Parameters
    ----------
    source : path, bytes, PIL image or array
        A path (str or ``os.PathLike``), the bytes of an image file, a
        ``PIL.Image.Image``, or an array: (H, W) gray, (H, W, 3) RGB or
        (H, W, 4) RGBA, uint8 0-255 or float 0-1.
    max_pixels : int
        Refuse files with more pixels than this (decompression-bomb guard): those of every
        frame decoded, so all of an animation's frames when it is decoded whole.
    frame : int, optional
        Frame or page of a multi-frame file (0-based). Without it an animation
        is decoded whole and other multi-frame files give their first frame,
        with a warning.
    name : str, optional
        What to call bytes input in messages (default ``<bytes>``).

    Raises
    ------
    ImageNotFoundError
        Missing path, a folder, or no permission to read.
    ImageTooLargeError
        More pixels than ``max_pixels``.
    UnsupportedImageError
        Empty, corrupt, truncated or not an image; bad ``frame``.

    Examples
    --------
    >>> import numpy as np
    >>> img = load_image(np.zeros((2, 3), np.uint8))
    >>> img.pixels.shape, img.grayscale, img.alpha is None
    ((2, 3, 3), True, True)
    """
    if isinstance(source, Image.Image):
        if source.width == 0 or source.height == 0:  # as an empty array (no pixels: no palette, no MSE)
            raise UnsupportedImageError(f"the image is empty (size {source.width}x{source.height}).")
        rgb, alpha, gray, icc = _decode_pil(source)
        return LoadedImage(rgb, alpha=alpha, grayscale=gray, icc_profile=icc)
    if isinstance(source, np.ndarray):
        rgb, alpha, gray = _from_array(source)
        return LoadedImage(rgb, alpha=alpha, grayscale=gray)
    path: Any
    if isinstance(source, (bytes, bytearray, memoryview)):
        path = _Named(bytes(source), name or "<bytes>")
    elif not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"image must be a path, bytes, a PIL image or a numpy array, got {type(source).__name__}.")
    else:
        path = Path(source)
        if not path.exists():
            raise ImageNotFoundError(f"{path}: no such file")
        if path.is_dir():
            raise ImageNotFoundError(f"{path}: is a directory, not an image file")
    fmt: str | None = None
    try:
        size = len(path.source.getbuffer()) if isinstance(path, _Named) else path.stat().st_size
        if size == 0:
            raise UnsupportedImageError(f"{path}: the file is empty (0 bytes)")
        with _open_checked(path, max_pixels) as img:
            fmt = img.format
            stored = int(getattr(img, "n_frames", 1) or 1)
            # An APNG's default image that is not a frame of the animation (its IDAT comes before
            # any fcTL) is the still picture of viewers without APNG: Pillow counts it as frame 0.
            # Frames are the animation's, as a viewer plays them.
            skip = 1 if fmt == "PNG" and stored > 1 and img.info.get("default_image") else 0
            n_frames = stored - skip
            index = 0 if frame is None else int(frame)
            if not 0 <= index < n_frames:
                raise UnsupportedImageError(
                    f"{path}: has {n_frames} frame(s); frame {index} does not exist (frames count from 0)"
                )
            whole = frame is None and n_frames > 1 and fmt in ANIMATED_FORMATS
            _check_pixels(path, img.size, n_frames if whole else 1, max_pixels)
            more: list[np.ndarray] = []
            durations: list[int] = []
            loop = img.info.get("loop") if whole else None
            if index + skip:
                img.seek(index + skip)
            low_mode = _png_16_bit_low_mode(img) if stored == 1 else None
            _scale_gray_key(img)
            img.load()
            low = None
            if low_mode:
                try:
                    low = _png_low_bytes(path, low_mode, max_pixels)
                except Exception:  # a Pillow whose tiles differ: its own high bytes (truncated, as before this reading)
                    low = None
            first: Image.Image = img
            if whole:
                durations.append(int(img.info.get("duration", 100) or 100))
                first = img.convert("RGBA")
                for i in range(1, n_frames):
                    img.seek(i + skip)
                    img.load()
                    durations.append(int(img.info.get("duration", 100) or 100))
                    more.append(np.ascontiguousarray(np.asarray(_upright(img.convert("RGBA")))))
            try:
                rgb, alpha, gray, icc = _decode_pil(first, low)
            finally:
                if low is not None:
                    low.close()
            if more and alpha is None and not all(bool((f[:, :, 3] == 255).all()) for f in more):
                alpha = np.full(rgb.shape[:2], 255, np.uint8)
    except UnsupportedImageError:
        raise
    except UnidentifiedImageError:
        raise UnsupportedImageError(f"{path}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - our own check comes first
        raise ImageTooLargeError(f"{path}: too many pixels ({exc})") from None
    except PermissionError:
        raise ImageNotFoundError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        if fmt == "EPS" and not _has_ghostscript():  # Pillow reads EPS only through Ghostscript
            raise UnsupportedImageError(
                f"{path}: EPS images cannot be read here (Pillow reads them through Ghostscript, "
                "which is not installed)"
            ) from None
        raise UnsupportedImageError(f"{path}: damaged or truncated image ({exc})") from None
    if n_frames > 1 and frame is None and not more:
        warn(
            f"{path}: has {n_frames} frames; only the first is compressed{FRAME_HINT}",
            FramesIgnoredWarning,
            stacklevel=2,
        )
    return LoadedImage(
        rgb,
        path=str(path),
        file_bytes=size,
        format=fmt,
        alpha=alpha,
        grayscale=gray,
        icc_profile=icc,
        n_frames=n_frames,
        frame=0 if frame is None else int(frame),
        more_frames=tuple(more),
        durations=tuple(durations),
        loop=loop,
    )
