"""Colour spaces for clustering: sRGB, CIE L*a*b* (D65) and OKLab.

K-means minimizes squared Euclidean distance; in sRGB that distance is not what
the eye sees. Clustering in L*a*b* or OKLab spends the palette where differences
are visible. Every conversion here has an exact inverse (to float precision), so
the palette found in a perceptual space is converted back to sRGB and rounded
once.

Stage: a helper of the fit and the palette (used by :mod:`._quantize`). In: (N, 3)
float colours; out: (N, 3) float coordinates in the other space.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPACES", "from_srgb", "to_srgb"]

SPACES = ("rgb", "lab", "oklab")

# sRGB (D65) <-> CIE XYZ
_RGB2XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_XYZ2RGB = np.linalg.inv(_RGB2XYZ)
_WHITE = _RGB2XYZ @ np.ones(3)

# OKLab (Ottosson, 2020): linear sRGB -> LMS -> cube root -> Lab
_OK_M1 = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_OK_M2 = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_OK_M1_INV = np.linalg.inv(_OK_M1)
_OK_M2_INV = np.linalg.inv(_OK_M2)

_EPS = 216 / 24389
_KAPPA = 24389 / 27


def _linearize(c: np.ndarray) -> np.ndarray:
    c = c / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _delinearize(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, None)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _lab_f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPS, np.cbrt(t), (_KAPPA * t + 16) / 116)


def _lab_finv(f: np.ndarray) -> np.ndarray:
    f3 = f**3
    return np.where(f3 > _EPS, f3, (116 * f - 16) / _KAPPA)


def from_srgb(rgb: np.ndarray, space: str) -> np.ndarray:
    """(N, 3) sRGB on 0-255 to (N, 3) float coordinates of ``space``.

    'rgb' returns the values as float; 'lab' CIE L*a*b* (D65, L in 0-100);
    'oklab' OKLab scaled by 100 so that its distances are of the same order as Lab's.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(from_srgb(np.array([[255, 255, 255]]), "lab"), 6)
    array([[100.,   0.,   0.]])
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    if space == "rgb":
        return rgb.copy()
    lin = _linearize(rgb)
    if space == "lab":
        f = _lab_f((lin @ _RGB2XYZ.T) / _WHITE)
        return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)
    if space == "oklab":
        return 100.0 * (np.cbrt(lin @ _OK_M1.T) @ _OK_M2.T)
    raise ValueError(f"unknown colour space {space!r}; use one of {', '.join(SPACES)}")


def to_srgb(coords: np.ndarray, space: str) -> np.ndarray:
    """Inverse of :func:`from_srgb`: float sRGB on 0-255 (not rounded; may leave the gamut).

    Examples
    --------
    >>> import numpy as np
    >>> c = np.array([[12.0, 200.0, 31.0]])
    >>> bool(np.allclose(to_srgb(from_srgb(c, "oklab"), "oklab"), c))
    True
    """
    x = np.asarray(coords, dtype=np.float64)
    if space == "rgb":
        return x.copy()
    if space == "lab":
        fy = (x[:, 0] + 16) / 116
        fx = fy + x[:, 1] / 500
        fz = fy - x[:, 2] / 200
        xyz = np.stack([_lab_finv(fx), _lab_finv(fy), _lab_finv(fz)], axis=1) * _WHITE
        return _delinearize(xyz @ _XYZ2RGB.T)
    if space == "oklab":
        lms = ((x / 100.0) @ _OK_M2_INV.T) ** 3
        return _delinearize(lms @ _OK_M1_INV.T)
    raise ValueError(f"unknown colour space {space!r}; use one of {', '.join(SPACES)}")
