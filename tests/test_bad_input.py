"""Bad input of every kind: one line, a distinct non-zero status, nothing changed, nothing left behind."""

from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from kmeans_compress import ImageNotFoundError, ImageTooLargeError, compress, load_image
from kmeans_compress.cli import main

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _real_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    out = {}
    for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out[fmt] = buf.getvalue()
    return out


REAL = _real_files()


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def _check_failure(code: int, err: str, allowed: set[int]) -> None:
    lines = err.strip().splitlines()
    assert code in allowed, (code, err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("kmeans-compress: error: ") and "Traceback" not in err


@_SETTINGS
@given(data=st.binary(min_size=0, max_size=300))
def test_random_bytes(tmp_path_factory, capsys, data):
    folder = tmp_path_factory.mktemp("rnd")
    src = folder / "x.png"
    src.write_bytes(data)
    before = _snapshot(folder)
    code = main([str(src), "-q"])
    err = capsys.readouterr().err
    if code == 0:  # random bytes that happen to be an image: only then is an output allowed
        assert set(_snapshot(folder)) == set(before) | {"x.kmc.png"}
    else:
        _check_failure(code, err, {4})
        assert _snapshot(folder) == before


@_SETTINGS
@given(fmt=st.sampled_from(sorted(REAL)), frac=st.floats(0.0, 0.99))
def test_truncated_real_files(tmp_path_factory, capsys, fmt, frac):
    folder = tmp_path_factory.mktemp("trunc")
    data = REAL[fmt]
    src = folder / f"t.{fmt.lower()}"
    src.write_bytes(data[: int(len(data) * frac)])
    before = _snapshot(folder)
    code = main([str(src), "-q"])
    err = capsys.readouterr().err
    assert src.read_bytes() == before[src.name]
    if code == 0:
        assert set(_snapshot(folder)) - set(before) == {"t.kmc.png"}
    else:
        _check_failure(code, err, {4})
        assert _snapshot(folder) == before


_OPTION_VALUES = st.one_of(
    st.integers(-1000, 1000).map(str), st.text(max_size=6), st.floats(allow_nan=True).map(str), st.just("")
)


@_SETTINGS
@given(
    option=st.sampled_from(["-k", "--seed", "--quality", "--max-bytes", "--space", "--max-pixels", "--frame", "--ext"]),
    value=_OPTION_VALUES,
)
def test_random_option_values(tmp_path_factory, capsys, option, value):
    folder = tmp_path_factory.mktemp("opt")
    src = folder / "in.png"
    src.write_bytes(REAL["PNG"])
    before = _snapshot(folder)
    out = folder / "out"
    out.mkdir()
    code = main([str(src), "-o", str(out), "-q", f"{option}={value}"])
    err = capsys.readouterr().err
    assert src.read_bytes() == before["in.png"]
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    if code != 0:
        _check_failure(code, err, {2, 4, 5, 99})
        assert list(out.iterdir()) == []


@pytest.mark.parametrize("ext", ["png", "webp"])
def test_unreadable_exif_block_is_ignored(tmp_path, capsys, ext):
    # Pillow refuses to parse such a block (SyntaxError) only when asked for the orientation: the
    # pixels are fine, and the orientation is unknown, as Pillow leaves it for a JPEG's bad block.
    rgb = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    src = tmp_path / f"bad_exif.{ext}"
    Image.fromarray(rgb).save(src, exif=b"Exif\x00\x00" + b"garbage!" * 4, lossless=True)
    out = tmp_path / "out.png"
    assert main([str(src), "-o", str(out), "-k", "256", "-q"]) == 0
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")), rgb)
    with Image.open(src) as im:
        np.testing.assert_array_equal(compress(im, n_colors=256).image, rgb)


def test_eps_without_ghostscript_is_not_called_damaged(tmp_path, capsys, monkeypatch):
    from PIL import EpsImagePlugin

    src = tmp_path / "drawing.eps"
    Image.new("RGB", (12, 8), (200, 30, 30)).save(src)  # Pillow writes EPS itself, reads it through Ghostscript
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", False)  # as on a machine without it
    assert main([str(src), "-o", str(tmp_path / "out.png")]) == 4
    err = capsys.readouterr().err
    assert err.startswith(f"kmeans-compress: error: {src}: EPS images cannot be read here")
    assert "Ghostscript" in err and "damaged" not in err and err.count("\n") == 1


def test_decompression_bomb_limit(tmp_path, capsys):
    src = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(src)
    assert main([str(src), "--max-pixels", "5000"]) == 5
    assert "10,000 pixels is more than the limit of 5,000" in capsys.readouterr().err
    assert main([str(src), "--max-pixels", "10000", "-q"]) == 0
    with pytest.raises(ImageTooLargeError):
        load_image(src, max_pixels=9999)


def test_decompression_bomb_limit_counts_every_frame_decoded(tmp_path, capsys, monkeypatch):
    """An animation is decoded whole: the limit is on all its frames' pixels (4 x 20 x 20), and
    the file is refused before any frame is decoded; one frame chosen counts once."""
    src = tmp_path / "anim.gif"
    ims = [Image.fromarray(np.full((20, 20), 255 * (i % 2), np.uint8)).convert("P") for i in range(4)]
    ims[0].save(src, save_all=True, append_images=ims[1:], duration=20)
    assert main([str(src), "-o", str(tmp_path / "a.png"), "--max-pixels", "1599"]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"kmeans-compress: error: {src}: 4 frames of 20x20 = 1,600 pixels is more than the limit of 1,599 "
        "(a guard against decompression bombs; raise it with --max-pixels, or take one frame with --frame N)"
    ]
    assert main([str(src), "-o", str(tmp_path / "f.png"), "--max-pixels", "1599", "--frame", "2", "-q"]) == 0
    assert main([str(src), "-o", str(tmp_path / "b.png"), "--max-pixels", "1600", "-q"]) == 0

    def no_decoding(*args, **kwargs):
        raise AssertionError("a frame was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError, match="4 frames of 20x20"):
        load_image(src, max_pixels=1599)


def test_unreadable_file(tmp_path, capsys, monkeypatch):
    src = tmp_path / "secret.png"
    src.write_bytes(REAL["PNG"])

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", deny)
    with pytest.raises(ImageNotFoundError, match="permission denied"):
        load_image(src)
    assert main([str(src)]) == 3
    assert "permission denied" in capsys.readouterr().err


def test_unreadable_file_in_folder_mode_says_what_one_file_mode_says(tmp_path, capsys, monkeypatch):
    # Folder mode hashes the input (the resume stamp) before decoding it: its PermissionError was
    # the bare '[Errno 13] Permission denied: <file>' where one-file mode says '<file>: permission denied'.
    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / "secret.bmp"
    src.write_bytes(REAL["BMP"])
    real_open = builtins.open

    def deny(file, *args, **kwargs):  # as for a file of mode 000 to a user who is not root
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == str(src):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    assert main([str(src), "-q"]) == 3
    assert capsys.readouterr().err == f"kmeans-compress: error: {src}: permission denied\n"
    assert main([str(src.parent), "-q", "-j", "1"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == f"kmeans-compress: error: {src}: permission denied"


def test_output_folder_missing_and_existing_output(tmp_path, capsys):
    src = tmp_path / "in.png"
    src.write_bytes(REAL["PNG"])
    assert main([str(src), "-o", str(tmp_path / "nope" / "o.png")]) == 7
    (tmp_path / "in.kmc.png").write_bytes(b"mine")
    assert main([str(src)]) == 6
    assert (tmp_path / "in.kmc.png").read_bytes() == b"mine"


@pytest.mark.parametrize("failure", ["folder not writable", "disk full"])
def test_output_not_writable_names_the_output_not_the_temporary_file(tmp_path, capsys, monkeypatch, failure):
    from kmeans_compress import _encode

    src = tmp_path / "in.png"
    src.write_bytes(REAL["PNG"])
    out = tmp_path / "out.png"

    def denied(folder, name):  # as os.open says it in a folder one may not write to
        raise PermissionError(13, "Permission denied", os.path.join(folder, f".{name}.0123456789ab.tmp"))

    def full(fd):
        raise OSError(28, "No space left on device")

    if failure == "disk full":
        monkeypatch.setattr(os, "fsync", full)
    else:
        monkeypatch.setattr(_encode, "_create_temp", denied)
    assert main([str(src), "-o", str(out)]) == 7
    err = capsys.readouterr().err
    reason = "No space left on device" if failure == "disk full" else "Permission denied"
    assert err == f"kmeans-compress: error: {src}: cannot write {out} ({reason})\n"
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.png"]


def test_interrupt_mid_write_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    src = tmp_path / "in.png"
    src.write_bytes(REAL["PNG"])
    before = _snapshot(tmp_path)

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    assert main([str(src)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before  # no output, no temporary file, input intact


def test_mixed_failures_exit_1(tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"nope")
    assert main([str(tmp_path / "bad.png"), str(tmp_path / "missing.png")]) == 1
    assert capsys.readouterr().err.count("error:") == 2


def test_output_identical_whatever_the_thread_count(tmp_path):
    from kmeans_compress import sample_image_path

    # NUMBA_NUM_THREADS sizes the pool of the compiled kernels' parallel loops (the
    # sample photo at K = 64 and 256 runs compiled); the others, the BLAS pools.
    outs = {}
    for threads in ("1", "3"):
        env = dict(
            os.environ,
            NUMBA_NUM_THREADS=threads,
            OMP_NUM_THREADS=threads,
            OPENBLAS_NUM_THREADS=threads,
            MKL_NUM_THREADS=threads,
        )
        code = (
            "import numba, sys; from kmeans_compress import _backend, cli; "
            "assert _backend.HAVE_NUMBA <= (numba.config.NUMBA_NUM_THREADS == int(sys.argv[1])); "
            "sys.exit(cli.main(sys.argv[2:]))"
        )
        for k in ("64", "256"):
            out = tmp_path / f"t{threads}-{k}.png"
            proc = subprocess.run(
                [sys.executable, "-c", code, threads, str(sample_image_path()), "-o", str(out), "-k", k, "-q"],
                env=env,
                capture_output=True,
            )
            assert proc.returncode == 0, proc.stderr
            outs.setdefault(k, set()).add(out.read_bytes())
    assert all(len(v) == 1 for v in outs.values())


def test_stdin_to_stdout(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kmeans_compress", "-", "-k", "4", "-q"], input=REAL["PNG"], capture_output=True
    )
    assert proc.returncode == 0
    im = Image.open(io.BytesIO(proc.stdout))
    assert im.format == "PNG" and im.size == (32, 24) and len(im.convert("RGB").getcolors()) <= 4
    proc = subprocess.run([sys.executable, "-m", "kmeans_compress", "-"], input=b"junk", capture_output=True)
    assert proc.returncode == 4 and proc.stdout == b""
    assert proc.stderr.decode().strip() == "kmeans-compress: error: <stdin>: not an image file Pillow can read"
