"""The command line: outputs, reports, and one clear line for every kind of bad input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kmeans_compress import compress, sample_image_path
from kmeans_compress.cli import main


def _photo_file(folder: Path, name: str = "photo.jpg") -> Path:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 64, dtype=np.float64)
    img = np.stack(list(np.meshgrid(base, base[::-1])) + [np.full((64, 64), 120.0)], axis=2)
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    path = folder / name
    Image.fromarray(img).save(path)
    return path


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file below ``folder`` with its bytes (folders as None)."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def test_compress_one_file_beside_the_input(tmp_path, capsys):
    src = _photo_file(tmp_path)
    assert main([str(src), "-k", "8"]) == 0
    out = tmp_path / "photo.kmc.png"
    with Image.open(out) as im:
        assert im.mode == "P" and im.size == (64, 64)
        assert len(im.getcolors()) <= 8
    err = capsys.readouterr().err
    assert "photo.jpg" in err and "bits/pixel" in err and "PSNR" in err


def test_output_path_ext_and_folder(tmp_path):
    src = _photo_file(tmp_path)
    assert main([str(src), "-o", str(tmp_path / "named.png"), "-q"]) == 0
    assert (tmp_path / "named.png").exists()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main([str(src), "-o", str(out_dir), "--ext", ".small.png", "-q"]) == 0
    assert (out_dir / "photo.small.png").exists()


@pytest.mark.parametrize("ext, fmt", [(".gif", "GIF"), (".webp", "WEBP"), (".png", "PNG"), (".GIF", "GIF")])
def test_ext_may_be_a_bare_format_suffix(tmp_path, ext, fmt):
    # --ext .gif was refused: Path('.gif').suffix is ''.
    src = _photo_file(tmp_path)
    assert main([str(src), "-k", "4", "--ext", ext, "-q"]) == 0
    with Image.open(tmp_path / f"photo{ext}") as im:
        assert im.format == fmt
        assert np.array_equal(np.asarray(im.convert("RGB")), compress(src, n_colors=4).image)


def test_ext_png_replaces_a_png_input_only_with_force(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    before = src.read_bytes()
    expected = compress(src, n_colors=4).image
    assert main([str(src), "-k", "4", "--ext", ".png"]) == 6
    assert "is the input file itself (use --force" in capsys.readouterr().err
    assert src.read_bytes() == before
    assert main([str(src), "-k", "4", "--ext", ".png", "-f", "-q"]) == 0  # in place, as pngquant --ext .png -f
    assert np.array_equal(np.asarray(Image.open(src).convert("RGB")), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_ext_png_in_folder_mode(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src / "a.png")
    assert main([str(src), "-k", "4", "--ext", ".png", "-o", str(tmp_path / "out"), "-q"]) == 0
    got = np.asarray(Image.open(tmp_path / "out" / "a.png").convert("RGB"))  # a.png walked, though it ends in .png
    assert np.array_equal(got, compress(src / "a.png", n_colors=4).image)
    assert main([str(src), "--ext", ".gif", "-o", str(tmp_path / "out2")]) == 2  # folder mode writes PNG
    assert "the suffix must end in .png" in capsys.readouterr().err


def test_json_report_on_stdout(tmp_path, capsys):
    src = _photo_file(tmp_path)
    assert main([str(src), "--json", "-k", "4"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["n_colors"] == 4 and records[0]["output_bytes"] == (tmp_path / "photo.kmc.png").stat().st_size
    assert records[0]["original_bits"] == 64 * 64 * 24


def test_never_overwrites_without_force(tmp_path, capsys):
    src = _photo_file(tmp_path)
    out = tmp_path / "photo.kmc.png"
    out.write_bytes(b"precious")
    assert main([str(src)]) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--force" in err[0]
    assert out.read_bytes() == b"precious"
    assert main([str(src), "--force", "-q"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_refuses_to_overwrite_the_input_itself(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(src)
    before = src.read_bytes()
    assert main([str(src), "-o", str(src)]) == 6
    assert "input file itself" in capsys.readouterr().err
    assert src.read_bytes() == before
    # As the README says: named as the output and with --force, the input is replaced (in place).
    expected = compress(src, n_colors=2).image
    assert main([str(src), "-o", str(src), "-k", "2", "-f", "-q"]) == 0
    assert np.array_equal(np.asarray(Image.open(src).convert("RGB")), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize("abbreviation, strength", [("--dith", []), ("--di", ["0.3"])])
def test_an_abbreviation_of_dither_is_dither(tmp_path, abbreviation, strength):
    # argparse takes --dith for --dither, but only the exact --dither was rewritten: "--dith a.png"
    # took the file name for the strength.
    src = _photo_file(tmp_path)
    out = {o: tmp_path / f"{o.strip('-')}.png" for o in ("--dither", abbreviation)}
    for option, dst in out.items():
        assert main([option, *strength, str(src), "-k", "4", "-o", str(dst), "-q"]) == 0
    assert out["--dither"].read_bytes() == out[abbreviation].read_bytes()


def test_same_input_and_seed_give_identical_files(tmp_path):
    src = _photo_file(tmp_path)
    assert main([str(src), "-o", str(tmp_path / "a.png"), "--seed", "5", "-q"]) == 0
    assert main([str(src), "-o", str(tmp_path / "b.png"), "--seed", "5", "-q"]) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_demo_writes_smaller_png_and_report(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    out = tmp_path / "chelsea.kmc.png"
    assert out.stat().st_size < sample_image_path().stat().st_size
    with Image.open(out) as im:
        assert im.mode == "P" and im.size == (451, 300)
    assert "embedded sample" in capsys.readouterr().err
    assert main(["demo", "-o", str(tmp_path)]) == 6  # exists: not overwritten without --force
    assert main(["demo", "-o", str(tmp_path / "nodir")]) == 7  # a missing output folder
    capsys.readouterr()
    (tmp_path / "notes").write_text("mine")  # an existing file, no image suffix: not "the folder does not exist"
    assert main(["demo", "-o", str(tmp_path / "notes")]) == main([str(out), "-o", str(tmp_path / "notes")]) == 2
    line = f"kmeans-compress: error: -o {tmp_path / 'notes'}: the output must end in .png, .gif, .webp (or be an"
    assert capsys.readouterr().err.splitlines() == [line + " existing folder)"] * 2
    assert (tmp_path / "notes").read_text() == "mine"


def _bad_inputs(folder: Path) -> dict[str, list[str]]:
    photo = _photo_file(folder)
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(photo.read_bytes()[:100])
    (folder / "adir").mkdir()
    for sub in ("a", "b", "out"):
        (folder / sub).mkdir()
    for sub in ("a", "b"):
        (folder / sub / "x.png").write_bytes(photo.read_bytes())
    Image.new("LA", (8, 8), (100, 50)).save(folder / "half.png")  # partly transparent
    Image.new("RGBA", (8, 8), (100, 50, 3, 0)).save(folder / "clear.png")  # transparent
    Image.new("RGB", (2, 2), (0, 0, 0)).save(folder / "black.png")  # a palette of one colour
    return {
        "missing file": [str(folder / "nope.png")],
        "not an image": [str(folder / "notes.txt")],
        "zero-byte": [str(folder / "empty.png")],
        "truncated": [str(folder / "truncated.png")],
        "directory": [str(folder / "adir")],
        "K=0": [str(photo), "-k", "0"],
        "K=-3": [str(photo), "-k", "-3"],
        "K=abc": [str(photo), "-k", "abc"],
        "K=300": [str(photo), "-k", "300"],
        "K=2.5": [str(photo), "-k", "2.5"],
        "missing output folder": [str(photo), "-o", str(folder / "no" / "where.png")],
        "unsupported output type": [str(photo), "-o", str(folder / "x.jpg")],
        "unknown option": [str(photo), "--frobnicate"],
        "no input": [],
        "missing output folder, as a folder": [str(photo), "-o", str(folder / "nodir") + os.sep],
        "more --keep colours than K": [str(photo), "-k", "2", "--keep", "#ff0000,#00ff00,#0000ff"],
        "--keep and transparency beyond K": [str(folder / "clear.png"), "-k", "2", "--keep", "#ff0000,#00ff00"],
        "partly transparent as GIF": [str(folder / "half.png"), "-o", str(folder / "half.gif")],
        "--dither with transparency": [str(folder / "clear.png"), "--dither"],
        "--map with transparency": [str(folder / "clear.png"), "--map", str(folder / "black.png")],
        "-k with --map": [str(photo), "-k", "4", "--map", str(folder / "black.png")],
        "same output file": [str(folder / "a" / "x.png"), str(folder / "b" / "x.png"), "-o", str(folder / "out"), "-f"],
    }


BAD_CASES = [
    "missing file",
    "not an image",
    "zero-byte",
    "truncated",
    "directory",
    "K=0",
    "K=-3",
    "K=abc",
    "K=300",
    "K=2.5",
    "missing output folder",
    "unsupported output type",
    "unknown option",
    "no input",
    "missing output folder, as a folder",
    "more --keep colours than K",
    "--keep and transparency beyond K",
    "partly transparent as GIF",
    "--dither with transparency",
    "--map with transparency",
    "-k with --map",
    "same output file",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_one_line_nonzero_no_traceback_nothing_written(tmp_path, capsys, case):
    cases = _bad_inputs(tmp_path)
    assert sorted(cases) == sorted(BAD_CASES)
    argv = cases[case]
    before = _snapshot(tmp_path)
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1, lines
    assert lines[0].startswith("kmeans-compress: error: ")
    assert "Traceback" not in captured.err and captured.out == ""
    assert _snapshot(tmp_path) == before  # inputs untouched, no partial output
    expected = {
        "missing file": 3,
        "directory": 3,
        "not an image": 4,
        "zero-byte": 4,
        "truncated": 4,
        "missing output folder": 7,
        "missing output folder, as a folder": 7,
    }
    assert code == expected.get(case, 2)


def test_map_refusing_transparency_names_map(tmp_path, capsys):
    # The message named --shared-palette (and the exit was 4, a bad image) when --map was given.
    cases = _bad_inputs(tmp_path)
    assert main(cases["--map with transparency"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kmeans-compress: error: {tmp_path / 'clear.png'}: has transparency")
    assert "without --map" in err and "--shared-palette" not in err
    folder = tmp_path / "one"
    folder.mkdir()
    (tmp_path / "clear.png").rename(folder / "clear.png")
    assert main([str(folder), "--map", str(tmp_path / "black.png"), "-o", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "clear.png: has transparency" in err and "without --map" in err and "--shared-palette" not in err


def test_map_refuses_an_explicit_k(tmp_path, capsys):
    # -k 4 --map of 16 colours wrote 16 colours, and the report said "asked 16": -k was dropped unsaid.
    cases = _bad_inputs(tmp_path)
    assert main(cases["-k with --map"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kmeans-compress: error: --map gives the palette") and "-k" in err
    out = tmp_path / "m.png"
    assert main([cases["-k with --map"][0], "--map", str(tmp_path / "black.png"), "-o", str(out), "-q"]) == 0
    assert Image.open(out).getcolors() == [(64 * 64, 0)]


def test_out_of_memory_is_said_in_words(tmp_path, capsys, monkeypatch):
    # A MemoryError raised bare (Pillow, a failed allocation) printed "error: x.jpg: " and nothing.
    from kmeans_compress import _files

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(_files, "compress", exhausted)
    photo = _photo_file(tmp_path)
    assert main([str(photo), "-o", str(tmp_path / "x.png")]) == 1
    assert capsys.readouterr().err == f"kmeans-compress: error: {photo}: out of memory\n"
    report = tmp_path / "r.json"
    assert main([str(photo), "-o", str(tmp_path / "out"), "-q", "-j", "1", "--report", str(report)]) == 1
    assert f"{photo}: out of memory" in capsys.readouterr().err
    assert [row["error"] for row in json.loads(report.read_text())] == [f"{photo}: out of memory"]


def test_batch_report_not_writable_is_one_line_and_exit_7(tmp_path, capsys, monkeypatch):
    # The report is written last, in batch.run's finally: its OSError was a traceback.
    from kmeans_compress import _encode

    create = _encode._create_temp

    def denied(folder, name):
        if name.endswith(".json"):
            raise PermissionError(13, "Permission denied", os.path.join(folder, f".{name}.0123456789ab.tmp"))
        return create(folder, name)

    monkeypatch.setattr(_encode, "_create_temp", denied)
    photo = _photo_file(tmp_path)
    report = tmp_path / "r.json"
    assert main([str(photo), "-o", str(tmp_path / "out"), "-q", "-j", "1", "--report", str(report)]) == 7
    err = capsys.readouterr().err
    assert err == f"kmeans-compress: error: cannot write {report} (Permission denied)\n"
    assert (tmp_path / "out" / "photo.kmc.png").exists()


def test_several_inputs_with_one_output_name_are_refused_before_any_work(tmp_path, capsys):
    """Folder mode's "same output file" check, for files named on the command line (also without -o)."""
    photo = _photo_file(tmp_path, "x.png")
    (tmp_path / "x.jpg").write_bytes(photo.read_bytes())
    assert main([str(photo), str(tmp_path / "x.jpg"), "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"kmeans-compress: error: {tmp_path / 'x.jpg'}: same output file as {photo} ({tmp_path / 'x.kmc.png'}); "
        "compress them one at a time, each with its own -o"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jpg", "x.png"]


@pytest.mark.parametrize("link", ["", "symlink", "link"])
def test_an_input_is_never_replaced_by_another_inputs_output(tmp_path, capsys, link):
    """a.png's output a.kmc.png is also given as an input (or a link to one): refused before any work,
    exit 6 as for writing over an input, even with --force; nothing written, nothing lost."""
    a = _photo_file(tmp_path, "a.png")
    other = _photo_file(tmp_path, "other.jpg")
    if link:
        photo, given = tmp_path / "photo.png", tmp_path / "a.kmc.png"
        Image.open(other).save(photo)
        getattr(os, link)(photo, given)
        second = photo  # the input is another name of a.png's output
    else:
        given = second = tmp_path / "a.kmc.png"
        Image.open(other).save(given)
    other.unlink()
    before = _snapshot(tmp_path)
    assert main([str(a), str(second), "-k", "4", "-f", "-q"]) == 6
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"kmeans-compress: error: {given}: is the input {second}, and would be replaced by the output of {a} "
        "(an input is only ever written as its own output; choose another --ext or -o)"
    ]
    assert _snapshot(tmp_path) == before
    # Folder mode too (explicit files can collide there): that file fails, the others are done.
    assert main([str(a), str(second), "-k", "4", "-f", "-q", "-j", "1"]) == 1
    assert _snapshot(tmp_path)[given.name] == before[given.name]
    assert capsys.readouterr().err.splitlines()[0].endswith("choose another --ext or -o)")


def test_ext_png_in_folder_mode_never_lets_x_jpg_replace_the_input_x_png(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    png = _photo_file(tmp_path / "in", "x.png")
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "in" / "x.jpg")
    expected = compress(png, n_colors=4).image
    assert main([str(tmp_path / "in"), "--ext", ".png", "-k", "4", "-f", "-q", "-j", "1"]) == 1
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), expected)  # in place, from itself
    assert f"{tmp_path / 'in' / 'x.png'}: is the input" in capsys.readouterr().err


@pytest.mark.parametrize("force", [[], ["-f"]], ids=["", "force"])
def test_ext_png_rerun_never_lets_x_jpg_replace_the_compressed_x_png(tmp_path, capsys, force):
    """x.png, compressed in place by a first run, carries the stamp and so is no longer walked as an
    input: the rerun wrote x.jpg's output over it (another picture), even without --force. It stays
    refused, as in the first run: an in-place output is its input's, never another input's target."""
    (tmp_path / "in").mkdir()
    png = tmp_path / "in" / "x.png"
    Image.new("RGB", (16, 16), (255, 0, 0)).save(png)
    Image.new("RGB", (16, 16), (0, 0, 255)).save(tmp_path / "in" / "x.jpg")
    assert main([str(tmp_path / "in"), "--ext", ".png", "-f", "-q", "-j", "1"]) == 1
    first = png.read_bytes()
    capsys.readouterr()
    assert main([str(tmp_path / "in"), "--ext", ".png", "-q", "-j", "1", *force]) == 1
    assert png.read_bytes() == first
    assert f"{png}: is the input" in capsys.readouterr().err


def test_k300_message_names_the_limit(tmp_path, capsys):
    src = _photo_file(tmp_path)
    assert main([str(src), "-k", "300"]) == 2
    err = capsys.readouterr().err
    assert "1 to 256" in err and "300" in err


def test_one_bad_file_does_not_stop_the_others(tmp_path, capsys):
    good = _photo_file(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    assert main([str(bad), str(good), "-q"]) == 4  # the one failure's own status
    assert (tmp_path / "photo.kmc.png").exists() and not (tmp_path / "bad.kmc.png").exists()
    assert "bad.png" in capsys.readouterr().err


def _run(args, **kw):
    return subprocess.run([sys.executable, "-m", "kmeans_compress", *args], capture_output=True, **kw)


def test_subprocess_stdout_output_and_bad_input(tmp_path):
    src = _photo_file(tmp_path)
    proc = _run([str(src), "-o", "-", "-k", "4", "-q"])
    assert proc.returncode == 0 and proc.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    proc = _run([str(tmp_path / "missing.jpg")])
    assert proc.returncode == 3
    assert proc.stderr.decode().strip().count("\n") == 0 and b"Traceback" not in proc.stderr
    proc = _run(["--colors", "abc", str(src)])
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


STDOUT_COMMANDS = ["one file", "folder", "sweep --json", "sweep table", "-o -"]


def _stdout_command(tmp_path, command: str, sweep_ks: str) -> list[str]:
    """The arguments of one of ``STDOUT_COMMANDS`` on an 8 x 8 PNG ``in/a.png`` made here: each writes
    to stdout (a report, a table, the PNG)."""
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    return {
        "one file": [str(src), "--json", "-k", "4"],
        "folder": [str(src.parent), "-o", str(tmp_path / "out"), "--json", "-j", "1", "-q"],
        "sweep --json": ["sweep", str(src), "--ks", "2", "--json"],
        "sweep table": ["sweep", str(src), "--ks", sweep_ks, "-q"],
        "-o -": [str(src), "-o", "-", "-k", "4"],
    }[command]


@pytest.mark.parametrize("command", STDOUT_COMMANDS)
def test_stdout_closed_early_is_one_line_and_exit_7_never_a_traceback(tmp_path, command):
    # `kc x.png --json | head -c 5`: a BrokenPipeError traceback; now as -o - into a closed pipe does.
    args = _stdout_command(tmp_path, command, "2")
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first byte
    try:
        proc = subprocess.run([sys.executable, "-m", "kmeans_compress", *args], stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    err = proc.stderr.decode()
    assert proc.returncode == 7, err
    assert err.startswith("kmeans-compress: error: ") and err.count("\n") == 1 and "Broken pipe" in err, err
    assert "Traceback" not in err and "Exception ignored" not in err
    if command == "one file":
        assert (tmp_path / "in" / "a.kmc.png").is_file()  # the file itself was written


def _closing(fd: int):
    """A ``preexec_fn`` that starts the command with descriptor ``fd`` closed (``>&-`` for 1, ``2>&-``, ``<&-``):
    Python's ``sys.stdout`` (``sys.stderr``, ``sys.stdin``) is then None."""
    return lambda: os.close(fd)


@pytest.mark.parametrize("command", STDOUT_COMMANDS)
def test_stdout_not_open_at_all_is_one_line_and_exit_7(tmp_path, command):
    # `kc x.png -o - >&-`: sys.stdout is None; an AttributeError traceback ('NoneType' has no 'write' / 'isatty')
    args = _stdout_command(tmp_path, command, "2,8")
    proc = subprocess.run(
        [sys.executable, "-m", "kmeans_compress", *args], stderr=subprocess.PIPE, preexec_fn=_closing(1)
    )
    err = proc.stderr.decode()
    assert proc.returncode == 7, err
    assert err.startswith("kmeans-compress: error: ") and err.count("\n") == 1, err
    assert "stdout is closed" in err and "Traceback" not in err
    if command == "one file":
        assert (tmp_path / "in" / "a.kmc.png").is_file()  # the file itself was written
    if command == "-o -":
        assert err.startswith("kmeans-compress: error: -o -: stdout is closed")  # refused before any work


def test_stdout_of_none_in_process_is_exit_7(tmp_path, monkeypatch, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    monkeypatch.setattr(sys, "stdout", None)
    assert main([str(src), "-o", "-", "-k", "4"]) == 7
    assert main([str(src), "--json", "-k", "4", "-q", "-o", str(tmp_path / "o.png")]) == 7
    assert main(["sweep", str(src), "--ks", "2", "-q"]) == 7
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[2] for line in err] == ["-o -", "--json", "the table"], err


def test_stderr_not_open_leaves_stdout_alone(tmp_path):
    # `kc x.png -o - 2>&-`: sys.stderr is None, and print(report, file=None) wrote the report to stdout, after
    # the PNG; messages now go nowhere, and the exit status still says what happened
    src = tmp_path / "a.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    command = [sys.executable, "-m", "kmeans_compress", str(src), "-o", "-", "-k", "4"]
    proc = subprocess.run(command, stdout=subprocess.PIPE, preexec_fn=_closing(2))
    assert proc.returncode == 0
    assert proc.stdout == subprocess.run(command, capture_output=True).stdout
    missing = [sys.executable, "-m", "kmeans_compress", str(tmp_path / "none.png"), "-o", "-"]
    proc = subprocess.run(missing, stdout=subprocess.PIPE, preexec_fn=_closing(2))
    assert proc.returncode == 3 and proc.stdout == b""


def test_stdin_not_open_is_exit_3(tmp_path):
    out = tmp_path / "o.png"
    proc = subprocess.run(
        [sys.executable, "-m", "kmeans_compress", "-", "-o", str(out)], capture_output=True, preexec_fn=_closing(0)
    )
    assert proc.returncode == 3
    assert proc.stderr.decode() == "kmeans-compress: error: <stdin>: stdin is closed, there is no image to read\n"
    assert not out.exists()


@pytest.mark.parametrize("command", ["-o -", "folder --json"])
def test_stdout_closed_midway_is_exit_7(tmp_path, command):
    """`-o - | head -c 10` on an output larger than the pipe's buffer: the reader goes away in the
    middle of a write, which then accepts part of the data without an error (Python's buffered
    writer passes the short count on); the command exited 0. The rest is now written until the
    pipe fails: exit 7, one line."""
    rng = np.random.default_rng(0)
    src = tmp_path / "in" / "noise.png"
    src.parent.mkdir()
    Image.fromarray(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(src)  # 160 KB of indices
    for i in range(300):  # a --json report of about 200 KB
        Image.fromarray(np.full((2, 2, 3), i % 250, np.uint8)).save(tmp_path / "in" / f"{'n' * 200}{i:03d}.png")
    args = {
        "-o -": [str(src), "-o", "-", "-k", "256", "--effort", "0", "-q"],
        "folder --json": [str(src.parent), "-o", str(tmp_path / "out"), "--json", "-j", "1", "-q", "-k", "2"],
    }[command]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmeans_compress", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()  # as head -c 10 does
    err = proc.stderr.read().decode()
    assert proc.wait() == 7, err
    assert err.startswith("kmeans-compress: error: ") and err.count("\n") == 1 and "Broken pipe" in err, err


def test_json_into_a_callers_text_stream(tmp_path):
    """``cli.main`` with stdout redirected to a ``StringIO`` (no ``buffer``), as scripts/smoke.py
    and embedding code do: --json still lands there (it broke when --json went out as bytes)."""
    src = tmp_path / "a.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(src), "--json", "-k", "4", "-q", "-o", str(tmp_path / "o.png")]) == 0
    assert [r["n_colors_used"] for r in json.loads(out.getvalue())] == [4]


def test_installed_console_script(tmp_path):
    exe = Path(sys.executable).with_name("kmeans-compress")
    if not exe.exists():  # only absent when the package is not installed as a distribution
        pytest.fail(f"console script not installed next to {sys.executable}")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("kmeans-compress ")
    env = dict(os.environ)
    proc = subprocess.run([str(exe), "demo", "-o", str(tmp_path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and (tmp_path / "chelsea.kmc.png").exists()


def test_exit_code_of_an_option_the_input_does_not_allow_and_of_other_errors():
    """An option this input does not allow is a usage error (2); any other ValueError from the
    pipeline is a failed file (1), not a usage error: the command line is not what is wrong."""
    from kmeans_compress._cli_common import EXIT_FAILED, EXIT_USAGE, exit_code
    from kmeans_compress._exceptions import OptionNotAllowedError

    assert exit_code(OptionNotAllowedError("GIF cannot hold partly transparent colours")) == EXIT_USAGE == 2
    assert exit_code(ValueError("operands could not be broadcast together")) == EXIT_FAILED == 1


@pytest.mark.parametrize("folder_mode", [False, True], ids=["one file", "folder"])
def test_an_input_named_near_the_file_systems_limit_is_compressed(tmp_path, capsys, folder_mode):
    # Its output's name fits in 255 bytes, its temporary file's did not: 'File name too long'.
    (tmp_path / "in").mkdir()
    src = _photo_file(tmp_path / "in", "L" * 240 + ".png")
    assert main([str(src.parent if folder_mode else src), "-k", "4", "-q", *(["-j", "1"] if folder_mode else [])]) == 0
    assert capsys.readouterr().err == ""
    assert sorted(p.name for p in src.parent.iterdir()) == sorted([src.name, "L" * 240 + ".kmc.png"])
