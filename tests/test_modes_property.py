"""Every input mode, every K (property-based): small random images written to a file of
their kind (RGB, RGBA, LA, L, 1, P, P with a transparent index or an alpha per entry,
animated GIF and APNG), compressed to PNG through the CLI or the library, and the output
decoded and checked against the input as Pillow decodes it:

- the output is an indexed PNG and shows every input frame (see
  :func:`_output_frame_of_each_input_frame` for frames that become equal);
- its palette (PLTE) holds at most K entries, and the image has at least
  min(K, distinct input colours) colours, counted with every fully transparent pixel as
  one colour (0, 0, 0, 0). No mode gets fewer: a gray image is clustered among grays and
  its centres (means of grays) and gap-filling colours (input grays) are grays, so it
  reaches the bound like any other; with at most K colours the output is the input;
- every pixel got the nearest palette entry it is allowed (brute force over the entries
  read from the file's PLTE and tRNS chunks): the alpha groups (fully transparent,
  partly transparent, opaque) stay apart, so a pixel may only use entries of its own
  group; when K is smaller than the groups present (K = 1 or 2) a group may have no
  entry, and its pixels may then use any entry, the nearest in RGBA.

Distances are squared Euclidean in RGBA on 0-255 (the default colour space; within the
opaque group that is the RGB distance).
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from _images import decoded_frames
from kmeans_compress import compress
from kmeans_compress.cli import main
from strategies import mode_images, palette_sizes


def _decoded_frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame as displayed, (H, W, 4) uint8 RGBA with fully transparent pixels as
    (0, 0, 0, 0), and every frame's duration in ms (0 for a still image)."""
    frames, durations = decoded_frames(path)
    frames = [f.copy() for f in frames]
    for rgba in frames:
        rgba[rgba[..., 3] == 0] = 0
    return frames, durations


def _output_frame_of_each_input_frame(seen: list[int], got: list[int]) -> list[int]:
    """Which output frame shows each input frame, from the frames' durations.

    Pillow's GIF and APNG writers merge a frame identical to the one before into it
    (adding the durations), so an animation whose frames become equal once quantized
    has fewer frames, and a single one is written as a still PNG; the animation plays
    the same. Each output frame must then stand for consecutive input frames whose
    durations add up to its own.
    """
    if len(got) == 1:
        return [0] * len(seen)
    shown, j, left = [], 0, got[0]
    for d in seen:
        assert j < len(got) and 0 < d <= left, f"durations {seen} do not add up to {got}"
        shown.append(j)
        left -= d
        if left == 0 and j + 1 < len(got):
            j += 1
            left = got[j]
    assert j == len(got) - 1 and left == 0, f"durations {seen} do not add up to {got}"
    return shown


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + size]
        (crc,) = struct.unpack(">I", data[at + 8 + size : at + 12 + size])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        at += 12 + size
    return chunks


def _png_palette(data: bytes) -> np.ndarray:
    """(E, 4) uint8 RGBA entries from the PLTE and tRNS chunks of an indexed PNG."""
    chunks = dict(_png_chunks(data)[::-1])  # first occurrence wins
    assert chunks[b"IHDR"][9] == 3, "not an indexed (colour type 3) PNG"
    plte = np.frombuffer(chunks[b"PLTE"], np.uint8).reshape(-1, 3)
    alpha = np.full(plte.shape[0], 255, np.uint8)
    trns = np.frombuffer(chunks.get(b"tRNS", b""), np.uint8)
    alpha[: trns.size] = trns
    pal = np.column_stack([plte, alpha])
    pal[pal[:, 3] == 0] = 0
    return pal


def _group(alpha: np.ndarray) -> np.ndarray:
    """0 fully transparent, 1 partly transparent, 2 opaque."""
    return np.where(alpha == 0, 0, np.where(alpha == 255, 2, 1))


@settings(max_examples=150, deadline=None)
@given(image=mode_images(), via=st.sampled_from(["cli", "api"]), data=st.data())
def test_every_mode_and_k_gives_at_most_k_colours_each_pixel_its_nearest_allowed_entry(image, via, data):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"in{image.suffix}"
        out = Path(tmp) / "out.png"
        image.save(src)
        seen, seen_ms = _decoded_frames(src)  # the input as the tool sees it
        n_in = np.unique(np.concatenate([f.reshape(-1, 4) for f in seen]), axis=0).shape[0]
        k = data.draw(palette_sizes(n_in), label="k")
        if via == "cli":
            assert main([str(src), "-o", str(out), "-k", str(k), "-q"]) == 0
        else:
            compress(src, n_colors=k).save(out)
        got, got_ms = _decoded_frames(out)
        png = out.read_bytes()

    shown = _output_frame_of_each_input_frame(seen_ms, got_ms) if len(seen) > 1 else [0]
    assert len(got) == len(set(shown))
    assert all(g.shape == s.shape for g, s in zip(got, seen))
    pal = _png_palette(png)
    px_in = np.concatenate([f.reshape(-1, 4) for f in seen]).astype(np.int64)
    px_out = np.concatenate([got[j].reshape(-1, 4) for j in shown]).astype(np.int64)

    # at most K entries, at least min(K, distinct input colours) colours in the image
    n_out = np.unique(px_out, axis=0).shape[0]
    assert pal.shape[0] <= k
    assert min(k, n_in) <= n_out <= k
    if n_in <= k:  # every colour kept: the image is reproduced exactly
        np.testing.assert_array_equal(px_out, px_in)

    # every output colour is a palette entry
    entries = pal.astype(np.int64)
    assert (px_out[:, None, :] == entries[None, :, :]).all(axis=2).any(axis=1).all()

    # nearest allowed entry, by brute force
    d2 = ((px_in[:, None, :] - entries[None, :, :]) ** 2).sum(axis=2)  # (N, E)
    g_in, g_pal = _group(px_in[:, 3]), _group(entries[:, 3])
    has_own = np.isin(g_in, g_pal)
    allowed = np.where(has_own[:, None], g_in[:, None] == g_pal[None, :], True)
    best = np.where(allowed, d2, np.iinfo(np.int64).max).min(axis=1)
    got_d2 = ((px_in - px_out) ** 2).sum(axis=1)
    assert (np.where(has_own, _group(px_out[:, 3]) == g_in, True)).all(), "a pixel left its alpha group"
    np.testing.assert_array_equal(got_d2, best)
