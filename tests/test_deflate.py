"""The lossless pass's last deflate on several cores (_deflate.py): pieces joined into one zlib stream."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kmeans_compress import _deflate, compress

deflate = pytest.importorskip("deflate")
pytestmark = pytest.mark.skipif(_deflate._load() is None, reason="zlib's shared library cannot be loaded here")


def _data(seed: int, size: int, runs: float) -> bytes:
    """Bytes between noise (runs 0) and long repeats (runs near 1), like filtered image rows."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size, dtype=np.uint8)
    repeat = rng.random(size) < runs
    return np.where(repeat, np.roll(noise, 1 + seed % 300), noise).astype(np.uint8).tobytes()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(1, 60_000),
    runs=st.floats(0, 0.99),
    piece=st.integers(1, 20_000),
    level=st.sampled_from([1, 6, 11, 12]),
)
def test_joined_pieces_inflate_to_the_data(seed, size, runs, piece, level):
    data = _data(seed, size, runs)
    out = _deflate.zlib_stream(data, level, piece)
    assert out is not None
    assert zlib.decompress(out) == data  # zlib checks the Adler-32 too


def test_one_piece_is_libdeflates_own_stream():
    data = _data(1, 50_000, 0.8)
    assert _deflate.zlib_stream(data, 11) == deflate.zlib_compress(data, 11)


def test_pieces_cost_little_and_follow_the_length_not_the_cores(monkeypatch):
    data = _data(2, 400_000, 0.9)
    monkeypatch.setattr(_deflate, "PIECE_BYTES", 100_000)  # four pieces
    whole = deflate.zlib_compress(data, 11)
    outs = set()
    for cores in (1, 2, 3, 8):
        monkeypatch.setattr(_deflate.os, "cpu_count", lambda cores=cores: cores)
        outs.add(_deflate.zlib_stream(data, 11))
    assert len(outs) == 1
    (out,) = outs
    assert out is not None and zlib.decompress(out) == data
    assert len(whole) < len(out) < len(whole) * 1.02


def test_a_damaged_stream_is_refused():
    data = _data(3, 100_000, 0.9)
    good = deflate.zlib_compress(data, 6)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x55
    assert _deflate._inflates_to(good, len(data))
    assert not _deflate._inflates_to(bytes(bad), len(data))
    assert not _deflate._inflates_to(good, len(data) + 1)


def test_without_the_libraries_none_and_the_encoder_still_writes_the_file(photo, monkeypatch):
    from kmeans_compress import _encode

    monkeypatch.setattr(_encode, "FAST_START_PIXELS", 1)  # the sampled pass, whose last deflate this is
    monkeypatch.setattr(_deflate, "PIECE_BYTES", 2_000)  # several pieces on a small photo
    r = compress(photo, 64)
    parallel = r.encode("PNG", effort=2)
    r._encoded.clear()
    monkeypatch.setattr(_deflate, "_libs", False)
    assert _deflate.zlib_stream(b"abc" * 1000, 11) is None
    single = r.encode("PNG", effort=2)  # oxipng's own deflate, one piece
    with Image.open(io.BytesIO(parallel)) as a, Image.open(io.BytesIO(single)) as b:
        assert a.getpalette() == b.getpalette()
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert abs(len(parallel) - len(single)) <= 0.05 * len(single)
