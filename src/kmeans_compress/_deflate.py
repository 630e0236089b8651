"""Stage 5 helper: one zlib stream (PNG image data) deflated by libdeflate on several cores.

libdeflate (the ``deflate`` package; oxipng deflates with the same library) compresses a whole
buffer into one raw deflate stream whose last block is marked final, with no streaming and no
flush, so one PNG's image data would take one core. Here the data is cut into pieces of at least
``PIECE_BYTES``, each piece is deflated on a thread (the package releases the GIL), and the
streams are joined the way zlib's ``gzjoin`` example joins gzip members: in every piece but the
last the final-block bit is cleared (zlib's ``inflate`` with ``Z_BLOCK`` stops at each block
boundary, which tells where the last block's header starts) and an empty stored block after it
byte-aligns the next piece. The joined stream is inflated once, a band at a time, to check its
length and Adler-32 before it is returned.

The cut depends on the data's length only, never on the machine's cores: the same input gives the
same bytes everywhere. Each cut costs the next piece the 32 KB of history before it (about 0.1 %
more bytes at 2 MB a piece, measured on the 4-Mpx photo of benchmarks/RESULTS.md).

:func:`zlib_stream` returns None where the package or zlib's shared library cannot be loaded (zlib
linked into Python itself, as on Windows): the caller then deflates in one piece.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["PIECE_BYTES", "zlib_stream"]

#: Bytes of data per piece, at least (the data is cut into equal pieces of this size or more).
PIECE_BYTES = 2 << 20
#: Pieces at most: each cut costs a little compression, and cores beyond a few gain little more.
MAX_PIECES = 8

_Z_OK = 0
_Z_BLOCK = 5
_BAND = 1 << 22  # bytes inflated at a time by the check


class _ZStream(ctypes.Structure):
    """zlib's ``z_stream`` (zlib.h), where ``uLong`` is C's ``unsigned long``."""

    _fields_ = [
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    ]


_libs: tuple[Any, Any] | bool | None = None  # (zlib's library, the deflate package); False: unavailable


def _load() -> tuple[Any, Any] | None:
    global _libs
    if _libs is None:
        _libs = False
        try:
            import deflate
        except ImportError:
            return None
        for name in ("libz.so.1", "libz.dylib", ctypes.util.find_library("z")):
            if not name:
                continue
            try:
                z = ctypes.CDLL(name)
                z.zlibVersion.restype = ctypes.c_char_p
                z.inflateInit2_.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
                z.inflate.argtypes = [ctypes.c_void_p, ctypes.c_int]
                z.inflateEnd.argtypes = [ctypes.c_void_p]
            except (OSError, AttributeError):
                continue
            _libs = (z, deflate)
            break
    return _libs if isinstance(_libs, tuple) else None


def zlib_stream(data: bytes, level: int, piece_bytes: int | None = None) -> bytes | None:
    """``data`` as one zlib stream, deflated by libdeflate at ``level``, its pieces (of at least
    ``piece_bytes``, default ``PIECE_BYTES``) on threads.

    None when libdeflate's package or zlib's library is not available.
    """
    libs = _load()
    if libs is None:
        return None
    z, deflate = libs
    pieces = max(1, min(MAX_PIECES, len(data) // (piece_bytes or PIECE_BYTES)))
    if pieces == 1:
        return bytes(deflate.zlib_compress(data, level))
    view = memoryview(data)
    cuts = [len(data) * i // pieces for i in range(pieces + 1)]
    parts = [view[cuts[i] : cuts[i + 1]] for i in range(pieces)]
    with ThreadPoolExecutor(max_workers=min(pieces, os.cpu_count() or 1)) as pool:
        raws = list(pool.map(lambda part: bytes(deflate.deflate_compress(part, level)), parts))
    try:
        body = [_not_final(z, raw, len(part)) for raw, part in zip(raws[:-1], parts[:-1])]
    except RuntimeError:
        return None
    stream = b"\x78\xda" + b"".join(body) + raws[-1] + struct.pack(">I", zlib.adler32(data))
    return stream if _inflates_to(stream, len(data)) else None


def _not_final(z: Any, raw: bytes, size: int) -> bytes:
    """The raw deflate stream ``raw`` (``size`` bytes inflated) with its last block not final, then
    an empty stored block: bytes that another raw stream can follow."""
    buf = bytearray(raw)
    source = (ctypes.c_ubyte * len(buf)).from_buffer(buf)
    sink = ctypes.create_string_buffer(max(size, 1))
    s = _ZStream()
    if z.inflateInit2_(ctypes.byref(s), -15, z.zlibVersion(), ctypes.sizeof(s)) != _Z_OK:
        raise RuntimeError("zlib's inflateInit2 failed")
    base = ctypes.addressof(source)
    s.next_in, s.avail_in = base, len(buf)
    s.next_out, s.avail_out = ctypes.addressof(sink), len(sink)
    header = (0, 1)  # (byte, bit mask) of the current block's final-block bit: the first bit of its header
    try:
        while True:
            if z.inflate(ctypes.byref(s), _Z_BLOCK) != _Z_OK:
                raise RuntimeError("the piece does not inflate")
            if s.data_type & 128:  # at a block boundary; the low 3 bits: bits unused in the last byte read
                used, unused = s.next_in - base, s.data_type & 7
                if s.data_type & 64:  # after the final block (zlib stops here before it skips to a byte)
                    break
                header = (used - 1, 0x100 >> unused) if unused else (used, 1)
    finally:
        z.inflateEnd(ctypes.byref(s))
    del source
    byte, mask = header
    if used != len(buf) or not buf[byte] & mask:
        raise RuntimeError("the piece's last block is not where it should be")
    buf[byte] &= ~mask & 0xFF
    if unused:
        buf[-1] &= (0x100 >> unused) - 1  # padding bits are zero: the stored block's header goes there
    # An empty stored block: 3 header bits (not final, type 0), zero bits to the byte, LEN 0, NLEN 0xffff.
    return bytes(buf) + (b"" if unused >= 3 else b"\x00") + b"\x00\x00\xff\xff"


def _inflates_to(stream: bytes, size: int) -> bool:
    """Whether ``stream`` is one whole zlib stream of ``size`` bytes (zlib checks the Adler-32)."""
    d = zlib.decompressobj()
    got, rest = 0, stream
    try:
        while rest and not d.eof:
            got += len(d.decompress(rest, _BAND))
            rest = d.unconsumed_tail
        got += len(d.flush())
    except zlib.error:
        return False
    return d.eof and not d.unused_data and got == size
