"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Small integer-valued coordinates keep distances exact in float64 while still
# producing ties, duplicates and empty clusters.
coords = st.integers(min_value=-20, max_value=20).map(float)


@st.composite
def points_and_centers(draw, max_points: int = 40, max_features: int = 4, max_k: int = 6):
    """(X, centers): X of shape (m, n) and K centres of the same width."""
    n = draw(st.integers(1, max_features))
    m = draw(st.integers(1, max_points))
    k = draw(st.integers(1, max_k))
    X = draw(hnp.arrays(np.float64, (m, n), elements=coords))
    C = draw(hnp.arrays(np.float64, (k, n), elements=coords))
    return X, C


@st.composite
def points_labels(draw, max_points: int = 40, max_features: int = 3, max_k: int = 5):
    """(X, idx, K) with every idx in 0..K-1 (some clusters may be empty)."""
    n = draw(st.integers(1, max_features))
    m = draw(st.integers(1, max_points))
    k = draw(st.integers(1, max_k))
    X = draw(hnp.arrays(np.float64, (m, n), elements=coords))
    idx = draw(hnp.arrays(np.int64, (m,), elements=st.integers(0, k - 1)))
    return X, idx, k


@st.composite
def small_rgb_images(draw, max_side: int = 12, max_colors: int = 40):
    """An (H, W, 3) uint8 image drawn from a small random set of colours."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_colors))
    colors = draw(hnp.arrays(np.uint8, (n, 3)))
    picks = draw(hnp.arrays(np.intp, (h, w), elements=st.integers(0, n - 1)))
    return colors[picks]


@st.composite
def float_points_and_centers(draw, max_points: int = 60, max_centers: int = 12, max_features: int = 5):
    """(X, centers) float64 arrays with small integer-ish or arbitrary finite values, ties included."""
    f = draw(st.integers(1, max_features))
    n = draw(st.integers(1, max_points))
    k = draw(st.integers(1, max_centers))
    elems = st.one_of(
        st.integers(-20, 20).map(float),
        st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32).map(float),
    )
    X = draw(hnp.arrays(np.float64, (n, f), elements=elems))
    C = draw(hnp.arrays(np.float64, (k, f), elements=elems))
    return X, C


@st.composite
def uint8_colors_and_palette(draw, max_colors: int = 80, max_palette: int = 20):
    """(colors (M, 3), palette (K, 3)) uint8 arrays; duplicates and ties allowed."""
    m = draw(st.integers(1, max_colors))
    k = draw(st.integers(1, max_palette))
    colors = draw(hnp.arrays(np.uint8, (m, 3)))
    palette = draw(hnp.arrays(np.uint8, (k, 3)))
    return colors, palette


# --------------------------------------------------------------------------- image files of every mode

#: Input kinds of :func:`mode_images`: Pillow modes, palette images with one transparent
#: index ("P+tRNS") or an alpha for every entry ("P+alpha"), and 2-3 frame animations.
IMAGE_KINDS = ("RGB", "RGBA", "LA", "L", "1", "P", "P+tRNS", "P+alpha", "GIF", "APNG")


_PALETTE_KINDS = ("P", "P+tRNS", "P+alpha", "GIF")


@dataclass
class ModeImage:
    """A small image of one kind, as the arrays it is built from; :meth:`save` writes the file.

    ``frames`` are pixel arrays, or index maps into ``palette`` ((n, 3) uint8) for the
    palette kinds; ``transparency`` is the transparent index (P+tRNS, GIF) or the alpha
    of every palette entry ((n,) uint8, P+alpha).
    """

    kind: str
    frames: list[np.ndarray]
    palette: np.ndarray | None = None
    transparency: int | np.ndarray | None = None

    @property
    def suffix(self) -> str:
        return ".gif" if self.kind == "GIF" else ".png"

    def save(self, path) -> None:
        from PIL import Image

        if self.kind in _PALETTE_KINDS:
            ims = []
            for f in self.frames:
                im = Image.fromarray(f, "P")
                im.putpalette(self.palette.tobytes(), rawmode="RGB")
                ims.append(im)
        elif self.kind == "1":
            ims = [Image.fromarray(f).convert("1") for f in self.frames]
        else:
            ims = [Image.fromarray(f, "RGBA" if self.kind == "APNG" else self.kind) for f in self.frames]
        params: dict = {}
        if isinstance(self.transparency, np.ndarray):
            params["transparency"] = self.transparency.tobytes()
        elif self.transparency is not None:
            params["transparency"] = int(self.transparency)
        if len(ims) > 1:
            params.update(save_all=True, append_images=ims[1:], duration=100, loop=0)
        ims[0].save(path, format="GIF" if self.kind == "GIF" else "PNG", **params)

    def __repr__(self) -> str:  # plain lists: a failing example reads as the image it is
        def plain(a):
            return a.tolist() if isinstance(a, np.ndarray) else a

        return (
            f"ModeImage({self.kind!r}, frames={[f.tolist() for f in self.frames]!r}, "
            f"palette={plain(self.palette)!r}, transparency={plain(self.transparency)!r})"
        )


# Alpha values: transparent, opaque and partly transparent all come up often.
_alphas = st.one_of(st.sampled_from([0, 255]), st.integers(0, 255))


@st.composite
def mode_images(draw, max_side: int = 10, max_colors: int = 64):
    """A :class:`ModeImage` of any kind in :data:`IMAGE_KINDS`: a few frames of up to
    ``max_side`` x ``max_side`` pixels drawn from a random set of up to ``max_colors``
    colours (or palette entries), so that duplicates, ties and every alpha group occur."""
    kind = draw(st.sampled_from(IMAGE_KINDS))
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    n_frames = draw(st.integers(2, 3)) if kind in ("GIF", "APNG") else 1
    palette_kind = kind in _PALETTE_KINDS
    n = draw(st.integers(1, min(max_colors, 256) if palette_kind else max_colors))
    # no fill: hypothesis would otherwise make most pixels one colour
    picks = [
        draw(hnp.arrays(np.intp, (h, w), elements=st.integers(0, n - 1), fill=st.nothing())) for _ in range(n_frames)
    ]
    if palette_kind:
        palette = draw(hnp.arrays(np.uint8, (n, 3), fill=st.nothing()))
        transparency = None
        if kind == "P+alpha":
            transparency = draw(hnp.arrays(np.uint8, (n,), elements=_alphas, fill=st.nothing()))
        elif kind == "P+tRNS" or (kind == "GIF" and draw(st.booleans())):
            transparency = draw(st.integers(0, n - 1))
        return ModeImage(kind, [p.astype(np.uint8) for p in picks], palette, transparency)
    channels = {"RGB": 3, "RGBA": 4, "APNG": 4, "LA": 2, "L": 1, "1": 1}[kind]
    colors = draw(hnp.arrays(np.uint8, (n, channels), fill=st.nothing()))
    if channels in (2, 4):
        colors[:, -1] = draw(hnp.arrays(np.uint8, (n,), elements=_alphas, fill=st.nothing()))
    if kind == "1":
        colors = np.where(colors >= 128, 255, 0).astype(np.uint8)
    frames = [colors[p] for p in picks]
    if channels == 1:
        frames = [f[:, :, 0] for f in frames]
    return ModeImage(kind, frames)


def palette_sizes(n_colors: int):
    """K from 1 to 256 for an image of ``n_colors`` distinct colours: mostly below it (so
    that colours must be merged), often 1 to 3 (below the alpha groups), sometimes any."""
    return st.one_of(st.integers(1, 3), st.integers(1, max(1, n_colors - 1)), st.integers(1, 256))
