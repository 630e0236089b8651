"""Load images from files, PIL images or arrays; encode and write indexed PNG atomically.

This is the only module that touches files.
"""

from __future__ import annotations

import io as _io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "LoadedImage",
    "UnsupportedImageError",
    "OutputExistsError",
    "load_image",
    "encode_png",
    "write_atomic",
]


class UnsupportedImageError(ValueError):
    """The input is not an image this package can read (missing, empty, corrupt, too large, ...)."""


class OutputExistsError(FileExistsError):
    """The output file exists and overwriting was not asked for."""


@dataclass(frozen=True)
class LoadedImage:
    """Decoded pixels and what is known about where they came from."""

    pixels: np.ndarray  # (H, W, 3) uint8 RGB
    path: str | None = None
    file_bytes: int | None = None
    format: str | None = None


def _from_pil(img: Image.Image) -> np.ndarray:
    img = ImageOps.exif_transpose(img)
    if img.mode != "RGB":
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16/32-bit grayscale: scale to 8 bits rather than clip.
            a = np.asarray(img, dtype=np.float64)
            top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
            a8 = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(a8[:, :, None], 3, axis=2))
        img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "PA", "LA") else img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _from_array(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise UnsupportedImageError(
            f"an image array must have shape (H, W), (H, W, 3) or (H, W, 4); got {a.shape}."
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise UnsupportedImageError(f"the image array is empty (shape {a.shape}).")
    a = a[:, :, :3]
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise UnsupportedImageError("the image array contains NaN or inf.")
        if a.min() < 0 or a.max() > 1:
            raise UnsupportedImageError(
                "a float image array must hold values in [0, 1]; "
                f"got values from {a.min():g} to {a.max():g}."
            )
        return np.ascontiguousarray(np.rint(a * 255.0).astype(np.uint8))
    if a.dtype.kind in "iu" and a.dtype != np.uint8:
        if a.min() < 0 or a.max() > 255:
            raise UnsupportedImageError(
                f"an integer image array must hold values 0-255; got {a.min()} to {a.max()}."
            )
        return np.ascontiguousarray(a.astype(np.uint8))
    if a.dtype == np.bool_:
        return np.ascontiguousarray(a.astype(np.uint8) * 255)
    raise UnsupportedImageError(f"unsupported image array dtype {a.dtype}.")


def load_image(source: Any) -> LoadedImage:
    """Decode ``source`` to an (H, W, 3) uint8 RGB array.

    ``source`` may be a path (str or ``os.PathLike``), a ``PIL.Image.Image`` or an
    array: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA, uint8 0-255 or float
    0-1. The EXIF orientation of a file is applied.

    Raises
    ------
    UnsupportedImageError
        With a one-line message naming the file and what is wrong with it.
    """
    if isinstance(source, Image.Image):
        return LoadedImage(_from_pil(source))
    if isinstance(source, np.ndarray):
        return LoadedImage(_from_array(source))
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"image must be a path, a PIL image or a numpy array, got {type(source).__name__}."
        )
    path = Path(source)
    if not path.exists():
        raise UnsupportedImageError(f"{path}: no such file")
    if path.is_dir():
        raise UnsupportedImageError(f"{path}: is a directory, not an image file")
    try:
        size = path.stat().st_size
        if size == 0:
            raise UnsupportedImageError(f"{path}: the file is empty (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format
                img.load()
                pixels = _from_pil(img)
    except UnsupportedImageError:
        raise
    except UnidentifiedImageError:
        raise UnsupportedImageError(f"{path}: not an image file Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnsupportedImageError(f"{path}: too many pixels ({exc})") from None
    except PermissionError:
        raise UnsupportedImageError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedImageError(f"{path}: damaged or truncated image ({exc})") from None
    return LoadedImage(pixels, path=str(path), file_bytes=size, format=fmt)


def encode_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """Encode an index map and its palette as an optimized indexed PNG.

    The bit depth (1, 2, 4 or 8) follows from the palette size: Pillow writes
    the smallest depth that holds ``len(palette)`` entries.
    """
    palette = np.asarray(palette, dtype=np.uint8)
    if not 1 <= palette.shape[0] <= 256:
        raise ValueError(f"a PNG palette holds 1 to 256 colours, got {palette.shape[0]}.")
    idx = np.ascontiguousarray(indices, dtype=np.uint8)
    if idx.ndim != 2:
        raise ValueError(f"indices must be a 2-D index map, got shape {idx.shape}.")
    img = Image.frombytes("P", (idx.shape[1], idx.shape[0]), idx.tobytes())
    img.putpalette(palette.reshape(-1).tobytes(), rawmode="RGB")
    buf = _io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    The file appears whole or not at all. Without ``overwrite`` an existing file
    is never replaced, even one created by someone else in the meantime (the
    temporary file is hard-linked into place, which fails if the name exists).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        The folder of ``path`` does not exist.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: output folder does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a directory")
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise OutputExistsError(f"{target}: already exists (use --force to overwrite)") from None
            except OSError:
                # File systems without hard links: fall back to a checked rename.
                if os.path.lexists(target):
                    raise OutputExistsError(f"{target}: already exists (use --force to overwrite)") from None
                os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
