"""Encode (``_encode.py``): palette and index maps in, file bytes out, and ``write_atomic``, the only
function that writes a file.

PNG: indexed at the smallest bit depth that holds the palette, decoded back to the same pixels;
text chunks (the resume stamp) keep it valid. write_atomic: whole files or none, never over an
existing file unless asked, the user's usual permissions, and no change to process-wide state
(other threads run). GIF and WebP output, through the command line, are in test_formats.py.
"""

import io
import os
import stat

import numpy as np
import pytest
from PIL import Image

from _images import decoded_image
from kmeans_compress import OutputExistsError, _encode, _files, compress, compress_with_palette, write_atomic


def _png_bit_depth(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return data[24]


@pytest.mark.parametrize("k, depth", [(1, 1), (2, 1), (3, 2), (4, 2), (9, 4), (16, 4), (17, 8), (64, 8), (256, 8)])
def test_written_png_is_indexed_with_smallest_bit_depth(photo, tmp_path, k, depth):
    result = compress(photo, n_colors=k)
    out = result.save(tmp_path / "out.png")
    data = out.read_bytes()
    assert _png_bit_depth(data) == depth
    assert data[25] == 3  # colour type 3: indexed
    im = decoded_image(out)
    assert im.mode == "P"
    pal = np.frombuffer(im.palette.tobytes(), np.uint8).reshape(-1, 3)
    assert pal.shape[0] == result.palette.shape[0] == k
    # The file may order the entries for deflate (same pixels): the same entries, in any order.
    np.testing.assert_array_equal(np.unique(pal, axis=0), np.unique(result.palette, axis=0))
    np.testing.assert_array_equal(np.asarray(im.convert("RGB")), result.image)
    assert result.report.output_bytes == len(data)


def test_stamp_chunk_keeps_the_png_valid():
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    res = compress_with_palette(img, [[0, 0, 0], [40, 40, 40]])
    png = _encode.add_text_chunk(res.to_png_bytes(), _files.STAMP_KEY, '{"a":1}')
    im = Image.open(io.BytesIO(png))
    im.load()  # CRCs are checked
    assert im.text[_files.STAMP_KEY] == '{"a":1}'
    assert np.array_equal(np.asarray(im), res.labels)


# --------------------------------------------------------------------- bad palettes and index maps

# Every public writer that takes a palette and an index map. A cast to uint8 used to turn these
# into other colours: index 2 of a 2-entry palette decoded as entry 1, 300 as 44, 0.5 as 0.
WRITERS = {
    "encode_png": lambda idx, pal: _encode.encode_png(idx, pal),
    "encode_png effort 2": lambda idx, pal: _encode.encode_png(idx, pal, effort=2, keep_order=False),
    "encode_image PNG": lambda idx, pal: _encode.encode_image(idx, pal, "PNG"),
    "encode_image GIF": lambda idx, pal: _encode.encode_image(idx, pal, "GIF"),
    "encode_image WEBP": lambda idx, pal: _encode.encode_image(idx, pal, "WEBP"),
}
RED_GREEN = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
@pytest.mark.parametrize(
    "indices, palette, message",
    [
        (np.array([[0, 1, 2, 3]], np.uint8), RED_GREEN, r"below the palette's 2 entries \(0 to 1\), got 3\."),
        (np.array([[0, 256]], np.int64), RED_GREEN, r"below the palette's 2 entries \(0 to 1\), got 256\."),
        (np.array([[0, -1]], np.int64), RED_GREEN, r"below the palette's 2 entries \(0 to 1\), got -1\."),
        (np.array([[0.0, 1.5]]), RED_GREEN, r"indices must be integers, got 1\.5\."),
        (np.array([[0.0, np.nan]]), RED_GREEN, r"indices must be integers, got nan\."),
        (np.array([0, 1], np.uint8), RED_GREEN, r"non-empty 2-D index map, got shape \(2,\)\."),
        (np.zeros((0, 4), np.uint8), RED_GREEN, r"non-empty 2-D index map, got shape \(0, 4\)\."),
        (np.array([[0, 1]], np.uint8), [[300, -5, 0], [0.5, 0.5, 0.5]], r"integers 0-255, got 0\.5\."),
        (np.array([[0, 1]], np.uint8), [[300.0, 0, 0], [0, 0, 0]], r"integers 0-255, got 300\."),
        (np.array([[0, 1]], np.uint8), ["a", "b"], r"dtype|shape"),
        (np.array([[0, 1]], np.uint8), [[300, 0, 0], [0, 0, 0]], r"integers 0-255, got 300\."),
        (np.array([[0, 1]], np.uint8), [[0, -5, 0], [0, 0, 0]], r"integers 0-255, got -5\."),
        (np.array([[0, 1]], np.uint8), [[0, 0], [1, 1]], r"shape \(K, 3\) or \(K, 4\) .* got \(2, 2\)\."),
        (np.zeros((1, 2), np.uint8), np.zeros((257, 3), np.uint8), r"K from 1 to 256, got \(257, 3\)\."),
    ],
)
def test_writers_refuse_what_would_decode_as_other_colours(writer, indices, palette, message):
    with pytest.raises(ValueError, match=message):
        writer(indices, palette)


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_writers_take_whole_floats_and_bool_masks_as_before(writer):
    """Values that are colours and entries, whatever their dtype, are written as 1740539 wrote
    them: a palette of whole floats (``np.rint`` of fitted centres), a bool mask, a float map of
    whole numbers."""
    palette = np.rint(np.array([[254.6, 0.2, 0.0], [0.0, 255.0, 0.4]]))
    for indices in (np.array([[False, True, True]]), np.array([[0.0, 1.0, 1.0]], np.float32)):
        im = Image.open(io.BytesIO(writer(indices, palette))).convert("RGB")
        np.testing.assert_array_equal(np.asarray(im), np.array([[(255, 0, 0), (0, 255, 0), (0, 255, 0)]], np.uint8))


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_writers_take_any_integer_types_that_hold_valid_values(writer):
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.int64)
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.int32)
    im = Image.open(io.BytesIO(writer(indices, palette))).convert("RGB")
    expected = [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(0, 0, 255), (0, 255, 0), (255, 0, 0)]]
    np.testing.assert_array_equal(np.asarray(im), np.array(expected, np.uint8))


def test_an_rgba_palette_with_an_entry_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"integers 0-255, got 256\."):
        _encode.encode_png(np.zeros((2, 2), np.uint8), [[0, 0, 0, 256]])


# --------------------------------------------------------------------- write_atomic


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_new_file_gets_0666_less_the_umask(tmp_path, umask_027):
    target = write_atomic(tmp_path / "a.bin", b"abc")
    assert target.read_bytes() == b"abc"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_never_touches_the_process_umask(tmp_path, monkeypatch):
    # Reading the umask means setting it, which races with every other thread of
    # the process (threaded Dask workers write files at the same time).
    def forbidden(mask):
        raise AssertionError(f"os.umask({mask:#o}) called")

    monkeypatch.setattr(os, "umask", forbidden)
    write_atomic(tmp_path / "a.bin", b"abc")
    write_atomic(tmp_path / "a.bin", b"def", overwrite=True)
    assert (tmp_path / "a.bin").read_bytes() == b"def"


def test_existing_file_kept_without_overwrite_and_no_temporary_left(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="a.bin"):
        write_atomic(tmp_path / "a.bin", b"new")
    assert (tmp_path / "a.bin").read_bytes() == b"old"
    write_atomic(tmp_path / "a.bin", b"new", overwrite=True)
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "a.bin", b"x")


@pytest.mark.parametrize("name", ["nodir/", "notes/", "x.png/", "notes/."])
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_path_spelled_as_a_folder_is_refused_not_written_without_its_slash(tmp_path, monkeypatch, name, overwrite):
    # Path("nodir/") is Path("nodir"): "nodir/" was written as the file nodir, "notes/" over the file notes
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(IsADirectoryError, match="names a folder"):
        write_atomic(name, b"x", overwrite=overwrite)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]
    assert (tmp_path / "notes").read_text() == "mine"


def test_saving_a_result_to_a_path_spelled_as_a_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = compress(np.zeros((4, 4, 3), np.uint8), 2)
    with pytest.raises(IsADirectoryError, match="names a folder"):
        result.save("x.png/", overwrite=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stem", ["L" * 240, "é" * 120, "a" * 246], ids=["240 bytes", "utf-8", "255 in all"])
def test_a_name_near_the_file_systems_limit_is_written(tmp_path, monkeypatch, stem):
    """The temporary file's name adds 18 bytes to the output's ('.', '.XXXXXXXXXXXX.tmp'): an output
    named within the limit of 255 bytes failed with 'File name too long'. The temporary name shortens
    (a prefix and a hash of the whole name), and stays its output's own (is_temp_of)."""
    target = tmp_path / (stem + ".png")
    assert len(os.fsencode(target.name)) <= 255
    created = []
    real = _encode._create_temp

    def create(folder, name):
        fd, tmp = real(folder, name)
        created.append(os.path.basename(tmp))
        return fd, tmp

    monkeypatch.setattr(_encode, "_create_temp", create)
    assert write_atomic(target, b"data") == target and target.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    (temp,) = created
    assert len(os.fsencode(temp)) <= 255
    assert _encode.is_temp_of(temp, target.name)
    assert not _encode.is_temp_of(temp, stem + "x.png") and not _encode.is_temp_of(temp, stem[:-1] + ".png")


@pytest.mark.parametrize("frames", [1, 3])
def test_gif_shows_every_fully_transparent_entry_as_transparent(frames):
    """A GIF has one transparent index: pixels of every other fully transparent entry are written
    with it, so they decode transparent, not as their (opaque) colour."""
    palette = np.array([[0, 0, 0, 0], [255, 255, 255, 0], [255, 0, 0, 255], [9, 9, 9, 0]], np.uint8)
    maps = [np.array([[0, 1, 2, 3]], np.uint8), np.array([[3, 2, 1, 0]], np.uint8), np.array([[1, 1, 2, 2]], np.uint8)]
    data = _encode.encode_animation(maps[:frames], palette, [100] * frames if frames > 1 else (), "GIF")
    with Image.open(io.BytesIO(data)) as im:
        for f in range(frames):
            im.seek(f)
            got = np.asarray(im.convert("RGBA"))[0]
            want = palette[maps[f][0]]
            assert (got[:, 3] == want[:, 3]).all(), (f, got, want)
            opaque = want[:, 3] == 255
            np.testing.assert_array_equal(got[opaque, :3], want[opaque, :3])
