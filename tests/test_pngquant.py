"""kmeans-pngquant: pngquant's grammar, exit codes and streams; a differential test against the real pngquant.

The command lines are pngquant's own documented examples (its man page and README):
``pngquant 256 file.png``, ``pngquant --quality=65-80 image.png``, ``pngquant --ext .png --force 256 *.png``,
``pngquant - < in.png > out.png``, ``pngquant --speed 1 --nofs 64 -- file.png``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kmeans_compress import quality_to_mse, sample_image_path
from kmeans_compress._cli_pngquant import (
    OBSOLETE,
    Command,
    PngquantUsageError,
    output_path,
    parse,
    rewrite_obsolete,
)
from kmeans_compress.cli import pngquant_main as main


def _photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / (w - 1), y * 255 / (h - 1), 128 + 100 * np.sin(x / 5.0)], axis=2)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "file.png"
    Image.fromarray(_photo()).save(path)
    return path


def _colors(path) -> int:
    with Image.open(path) as im:
        return len(im.convert("RGB").getcolors(1 << 24))


def _mse(path, original: np.ndarray) -> float:
    with Image.open(path) as im:
        out = np.asarray(im.convert("RGB"), dtype=np.float64)
    return float(((out - original.astype(np.float64)) ** 2).mean())


# ----------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["256", "file.png"], dict(n_colors=256, files=["file.png"])),
        (["--quality=65-80", "image.png"], dict(quality=(65, 80), files=["image.png"])),
        (["--quality", "65-80", "image.png"], dict(quality=(65, 80))),
        (["-Q", "80", "a.png"], dict(quality=(72, 80))),  # a single number: the minimum is 90 % of it
        (["--ext", ".png", "--force", "256", "a.png", "b.png"], dict(ext=".png", force=True, files=["a.png", "b.png"])),
        (["-"], dict(files=["-"])),
        (["--speed", "1", "--nofs", "64", "--", "file.png"], dict(speed=1, dither=False, n_colors=64)),
        (["-fvs3", "x.png"], dict(force=True, verbose=True, speed=3)),
        (["--floyd=0.5", "x.png"], dict(dither=0.5)),
        (["--floyd", "x.png"], dict(dither=1.0, files=["x.png"])),  # the value only after '='
        (["--floyd=0", "x.png"], dict(dither=False)),  # strength 0: no dithering, -or8.png as pngquant
        (["x.png", "--skip-if-larger", "--strip"], dict(skip_if_larger=True, strip=True, files=["x.png"])),
        (["--qual=50-90", "--verb", "x.png"], dict(quality=(50, 90), verbose=True)),  # unambiguous prefixes
        (["-o", "out.png", "in.png"], dict(output="out.png", files=["in.png"])),
        (["--", "-weird.png"], dict(files=["-weird.png"])),
        (["x.png"], dict(speed=4, dither=1.0, n_colors=256)),  # pngquant's defaults
        # the colour count as pngquant reads it (strtoul on the whole argument); 0 keeps the default
        (["0", "x.png"], dict(n_colors=256, files=["x.png"])),
        (["+3", "x.png"], dict(n_colors=3, files=["x.png"])),
        (["1_0", "x.png"], dict(n_colors=256, files=["1_0", "x.png"])),  # not a number for C: a file name
        # a colour count and no file: stdin, as "pngquant 16 < in.png > out.png"
        (["16"], dict(n_colors=16, files=["-"])),
        (["--nofs", "64"], dict(n_colors=64, dither=False, files=["-"])),
        (["-o", "out.png", "16"], dict(output="out.png", files=["-"])),
        (["16", "--"], dict(files=["-"])),
        (["--", "16"], dict(files=["-"])),
        (["0"], dict(n_colors=256, files=["-"])),
        (["--nofs"], dict(files=[])),  # no colour count, no file: no input (exit 1)
    ],
)
def test_parse_pngquant_command_lines(argv, expect):
    _assert_parsed(argv, expect)


def _assert_parsed(argv: list[str], expect: dict) -> None:
    """``parse(argv)`` holds every attribute of ``expect`` with its value."""
    cmd = parse(argv)
    for name, value in expect.items():
        assert getattr(cmd, name) == value, name


@pytest.mark.parametrize(
    "argv, expect",
    [
        # pngquant's obsolete single-dash spellings: read as the long options, not as bundles of short ones
        (["-force", "16", "x.png"], dict(force=True, output=None, n_colors=16, files=["x.png"])),
        (["-ordered", "x.png"], dict(dither=False, output=None, files=["x.png"])),
        (["-nofs", "x.png"], dict(dither=False, files=["x.png"])),
        (["-nofloyd", "x.png"], dict(dither=False, files=["x.png"])),
        (["-fs", "--nofs", "16", "x.png"], dict(dither=False, n_colors=16, files=["x.png"])),
        (["-nofs", "-floyd", "x.png"], dict(dither=1.0, files=["x.png"])),
        (["-ext", "-x.png", "x.png"], dict(ext="-x.png", files=["x.png"])),
        (["-verbose", "x.png"], dict(verbose=True, files=["x.png"])),
        (["-noquiet", "x.png"], dict(verbose=True, files=["x.png"])),
        (["-quiet", "x.png"], dict(quiet=True, files=["x.png"])),
        (["-noverbose", "x.png"], dict(quiet=True, files=["x.png"])),
        (["-f", "-noforce", "x.png"], dict(force=False, files=["x.png"])),
        (["-speed", "3", "x.png"], dict(speed=3, files=["x.png"])),
        (["-help"], dict(show="help")),
        (["-version"], dict(show="version")),
        # exact arguments only, and only before the first "--"; an option's value is rewritten too, as by pngquant
        (["-forcex", "x.png"], dict(force=True, output="rcex", files=["x.png"])),
        (["16", "--", "-force"], dict(force=False, files=["-force"])),
        (["-o", "-force", "x.png"], dict(output="--force", force=False, files=["x.png"])),
    ],
)
def test_obsolete_single_dash_spellings_as_pngquant(argv, expect):
    _assert_parsed(argv, expect)


@pytest.mark.parametrize(
    "argv, words",
    [
        # after the first argument that starts with "--" (any long option, not only "--" itself) pngquant
        # rewrites nothing: the spellings are read as bundled short options, as pngquant 2.17 reads them
        (["--force", "-ext", ".png", "4", "x.png"], "invalid option -- 'e'"),
        (["--quality=0-100", "-nofs", "4", "x.png"], "invalid option -- 'n'"),
        (["--nofs", "-fs", "16", "x.png"], "Speed should be between 1 (slow) and 11 (fast)."),  # -f -s 16
        (["--nofs", "-floyd", "x.png"], "invalid option -- 'l'"),
        (["-o", "y.png", "--verbose", "-nofs", "x.png"], "invalid option -- 'n'"),
        (["-o", "--force", "-ext", ".png", "x.png"], "invalid option -- 'e'"),  # an option's value counts too
    ],
)
def test_obsolete_spellings_after_a_long_option_are_short_options(argv, words):
    assert rewrite_obsolete(argv) == (argv, [])
    with pytest.raises(PngquantUsageError, match=re.escape(words)) as caught:
        parse(argv)
    assert caught.value.status == 4


def test_an_obsolete_spelling_after_a_long_option_exits_4_and_leaves_the_input(png, capsys):
    # "--force -ext .png" rewrote -ext and wrote over the input; pngquant refuses it (exit 4), the file intact
    before = png.read_bytes()
    assert main(["--force", "-ext", ".png", "4", str(png)]) == 4
    assert capsys.readouterr().err == "kmeans-pngquant: invalid option -- 'e'\n"  # one line, as getopt's
    assert png.read_bytes() == before
    assert sorted(p.name for p in png.parent.iterdir()) == ["file.png"]


def test_an_obsolete_spelling_is_read_with_a_warning_and_writes_no_stray_file(png, monkeypatch, capsys):
    # "-force" read as "-f -o rce" wrote the result to a file named "rce" in the current folder
    monkeypatch.chdir(png.parent)
    assert main(["-force", "-q", "-nofs", "16", str(png)]) == 0
    assert sorted(p.name for p in png.parent.iterdir()) == ["file-or8.png", "file.png"]
    err = capsys.readouterr().err.splitlines()  # one warning each, even with -q, as pngquant
    assert err == [
        "kmeans-pngquant: warning: option '-force' has been replaced with '--force'.",
        "kmeans-pngquant: warning: option '-nofs' has been replaced with '--ordered'.",
    ]
    assert main(["-speed", "12", str(png)]) == 4  # the warning comes before the options are read
    assert capsys.readouterr().err.splitlines()[0].endswith("option '-speed' has been replaced with '--speed'.")


@pytest.mark.parametrize(
    "argv, dither",
    [
        (["--speed", "11", "x.png"], False),
        (["--speed", "11", "--floyd", "x.png"], False),  # pngquant 2.17: even with --floyd, whatever the order
        (["--floyd=0.5", "--speed=11", "x.png"], False),
        (["-s11", "-fs", "x.png"], False),
        (["--speed", "10", "x.png"], 1.0),
    ],
)
def test_speed_11_turns_dithering_off(argv, dither):
    cmd = parse(argv)
    assert cmd.dither == dither
    assert output_path("x.png", cmd) == ("x-or8.png" if dither is False else "x-fs8.png")


def test_speed_11_writes_or8_without_dithering(png, tmp_path):
    assert main(["--speed", "11", "--floyd", "16", str(png)]) == 0
    assert main(["--speed", "11", "--nofs", "16", "-o", str(tmp_path / "nofs.png"), str(png)]) == 0
    assert not png.with_name("file-fs8.png").exists()
    assert np.array_equal(_pixels(png.with_name("file-or8.png")), _pixels(tmp_path / "nofs.png"))


def test_default_extensions_follow_dithering():
    assert output_path("dir/photo.png", Command()) == "dir/photo-fs8.png"
    assert output_path("dir/photo.PNG", Command(dither=False)) == "dir/photo-or8.png"
    assert output_path("photo.png", Command(ext=".png")) == "photo.png"
    assert output_path("photo.png", Command(ext="")) == "photo"


@pytest.mark.parametrize(
    "src, out",
    [
        # pngquant 2.17 drops only ".png" or ".PNG", and only from a name longer than that
        ("dir/y.Png", "dir/y.Png-fs8.png"),
        ("y.pNg", "y.pNg-fs8.png"),
        ("ab.png.PNG", "ab.png-fs8.png"),
        (".png", ".png-fs8.png"),
        ("dir/.png", "dir/-fs8.png"),
        ("photo", "photo-fs8.png"),
    ],
)
def test_output_names_as_pngquant(src, out):
    assert output_path(src, Command()) == out


def test_a_mixed_case_suffix_is_kept_in_the_output_name(tmp_path):
    src = tmp_path / "y.Png"
    Image.fromarray(_photo()).save(src, "PNG")
    assert main(["16", str(src)]) == 0
    assert (tmp_path / "y.Png-fs8.png").exists() and not (tmp_path / "y-fs8.png").exists()


@pytest.mark.parametrize(
    "argv, status, words",
    [
        (["1", "x.png"], 4, "between 2 and 256"),
        (["--", "-5", "x.png"], 4, "between 2 and 256"),
        (["--speed", "12", "x.png"], 4, "Speed should be"),
        (["--quality", "abc", "x.png"], 4, "Quality should be"),
        (["--bogus", "x.png"], 4, "unrecognized option"),
        (["--posterize", "2", "x.png"], 4, "--posterize 2 is not supported"),
        (["--posterize", "9", "x.png"], 4, "range 0-4"),
        (["--map", "pal.png", "x.png"], 4, "--map pal.png is not supported"),
        (["--transbug", "x.png"], 4, "--transbug is not supported"),
        (["-o", "o.png", "a.png", "b.png"], 4, "one input file"),
        (["--ext", ".x.png", "-o", "y.png", "x.png"], 4, "--ext and --output"),  # pngquant's words
        (["-o", "y.png", "--ext=.x.png"], 4, "can't be used at the same time"),  # before 'no input' (1)
        ([], 1, "usage"),
    ],
)
def test_usage_errors_exit_as_pngquant(argv, status, words, capsys):
    assert main(argv) == status
    err = capsys.readouterr().err
    assert words in err
    if status == 4:
        assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- files and exit codes


def test_writes_fs8_beside_the_input_and_never_overwrites(png, capsys):
    assert main(["64", str(png)]) == 0
    out = png.with_name("file-fs8.png")
    assert out.exists() and _colors(out) <= 64
    assert main(["64", str(png)]) == 15  # exists: pngquant's NOT_OVERWRITING_ERROR
    assert "already exists" in capsys.readouterr().err
    assert main(["--force", "32", str(png)]) == 0
    assert _colors(out) <= 32


def test_ext_png_force_replaces_the_input(png):
    before = png.read_bytes()
    assert main(["--ext", ".png", "--force", "--nofs", "16", str(png)]) == 0
    assert png.read_bytes() != before and _colors(png) <= 16


def test_quality_not_met_exits_99_and_writes_nothing(png, tmp_path):
    out = tmp_path / "o.png"
    assert main(["--quality", "99-100", "--nofs", "4", "-o", str(out), str(png)]) == 99
    assert not out.exists()


def test_skip_if_larger_exits_98(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    src = tmp_path / "tiny.jpg"
    Image.fromarray(noise).save(src, quality=5)  # already smaller than any PNG of it
    assert main(["--skip-if-larger", "--nofs", str(src)]) == 98
    assert not (tmp_path / "tiny.jpg-or8.png").exists()


def _indexed_256(tmp_path):
    """A 200 x 150 noisy gradient already quantized to 256 colours (as by 'pngquant --nofs')."""
    path = tmp_path / "sm256.png"
    Image.fromarray(_photo(150, 200)).quantize(256, dither=Image.Dither.NONE).save(path)
    return path


def test_skip_if_larger_uses_pngquants_quality_scaled_limit(tmp_path):
    # pngquant keeps a result only when at most (input - 1) * max(0.5, (Q/100)**1.5) bytes: 200 colours of
    # an image of 256 are smaller than it, but lose more quality than they save (the rule itself: test_files)
    src = _indexed_256(tmp_path)
    out = tmp_path / "b.png"
    assert main(["--nofs", "-o", str(out), "200", str(src)]) == 0
    assert out.stat().st_size < src.stat().st_size  # smaller: kmeans-compress's rule would keep it
    out.unlink()
    assert main(["--nofs", "--skip-if-larger", "-o", str(out), "200", str(src)]) == 98
    assert not out.exists()
    assert main(["--nofs", "--skip-if-larger", "-o", str(out), "256", str(src)]) == 0  # lossless: Q = 100
    # to stdout, the original goes through
    done = _run_stream(["--nofs", "--skip-if-larger", "200", "-"], src.read_bytes())
    assert done.returncode == 98 and done.stdout == src.read_bytes()


def _padded_gradient(tmp_path):
    """A smooth 256 x 256 gradient (24,576 colours) saved as a PNG padded to 25,000 bytes with a tEXt chunk."""
    from PIL import PngImagePlugin

    y, x = np.mgrid[0:256, 0:256]
    img = np.stack([x // 2, y // 2, (x + y) // 4], axis=2).astype(np.uint8)
    plain = io.BytesIO()
    Image.fromarray(img).save(plain, "PNG")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * (25_000 - len(plain.getvalue()) - 12 - len("Comment") - 1))
    path = tmp_path / "padded.png"
    Image.fromarray(img).save(path, pnginfo=info)
    assert path.stat().st_size == 25_000
    return path, img


def _quality(mse_value: float) -> int:
    """pngquant's Q of a per-channel MSE: the highest q whose error (its documented curve) it stays within."""
    return max(q for q in range(101) if mse_value <= quality_to_mse(q) * (1 + 1e-9))


def _nearest_entry_mse(img: np.ndarray, palette: np.ndarray) -> float:
    """Per-channel MSE of every pixel mapped to its nearest palette entry (brute force, exact integers)."""
    colors, counts = np.unique(img.reshape(-1, 3).astype(np.int64), axis=0, return_counts=True)
    pal = palette.astype(np.int64)
    d2 = (colors**2).sum(1)[:, None] - 2 * colors @ pal.T + (pal**2).sum(1)[None, :]
    return float(counts @ d2.min(axis=1)) / img.size


def test_skip_if_larger_judges_the_palettes_quality_without_dithering(tmp_path):
    # pngquant judges the palette's own error (its -v prints the same MSE and Q with and without --nofs),
    # not the dithered pixels': a dithered result within the palette's limit is written
    src, img = _padded_gradient(tmp_path)
    out = tmp_path / "out.png"
    assert main(["--skip-if-larger", "-o", str(out), "128", str(src)]) == 0
    size = out.stat().st_size
    with Image.open(out) as im:
        written = np.asarray(im.convert("RGB"))
    palette = np.unique(written.reshape(-1, 3), axis=0)
    dithered_q = _quality(float(((written.astype(np.float64) - img) ** 2).mean()))
    palette_q = _quality(_nearest_entry_mse(img, palette))
    assert size <= 24_999 * max(0.5, (palette_q / 100) ** 1.5)  # pngquant's rule, at the palette's Q
    assert size > 24_999 * max(0.5, (dithered_q / 100) ** 1.5)  # the dithered pixels' Q would refuse it
    # without dithering the palette's error is the pixels' own: the same rule
    out.unlink()
    assert main(["--nofs", "--skip-if-larger", "-o", str(out), "128", str(src)]) == 0


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("options", [[], ["--floyd=1"]])
def test_an_opaque_rgba_file_is_dithered_as_its_rgb_twin(tmp_path, options):
    # pngquant dithers a screenshot saved as RGBA with every alpha 255: it is opaque, whatever its mode
    photo = _photo()
    rgb, rgba = tmp_path / "rgb.png", tmp_path / "rgba.png"
    Image.fromarray(photo).save(rgb)
    Image.fromarray(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]), "RGBA").save(rgba)
    for src in (rgb, rgba):
        assert main([*options, "16", "-o", str(src.with_suffix(".out.png")), str(src)]) == 0
        assert main(["--nofs", "16", "-o", str(src.with_suffix(".nofs.png")), str(src)]) == 0
    dithered = _pixels(rgba.with_suffix(".out.png"))
    assert (dithered[:, :, 3] == 255).all()
    assert np.array_equal(dithered, _pixels(rgb.with_suffix(".out.png")))
    assert not np.array_equal(dithered, _pixels(rgba.with_suffix(".nofs.png")))


def test_a_transparent_pixel_still_turns_dithering_off(tmp_path):
    rgba = np.dstack([_photo(), np.full((48, 64), 255, np.uint8)])
    rgba[0, 0, 3] = 0
    src = tmp_path / "clear.png"
    Image.fromarray(rgba, "RGBA").save(src)
    assert main(["--floyd=1", str(src)]) == 4  # refused: not available with transparency yet
    assert main(["16", str(src)]) == 0
    assert _pixels(tmp_path / "clear-fs8.png")[0, 0, 3] == 0


@pytest.mark.parametrize("name", ["out.tmp", "out", "out.gif", "out.webp"])
def test_output_is_png_whatever_its_name(png, tmp_path, name):
    # pngquant writes PNG to any --output name: scripts write to a temporary name, then rename it
    out = tmp_path / name
    assert main(["--nofs", "16", "-o", str(out), str(png)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "P"


@pytest.mark.parametrize("ext, name", [("x.jpg", "filex.jpg"), (".gif", "file.gif"), ("_q", "file_q"), ("", "file")])
def test_ext_takes_any_suffix_and_writes_png(png, ext, name):
    # pngquant writes PNG data under any --ext: "--ext x.jpg" gives filex.jpg, a PNG file
    assert main(["--nofs", "--ext", ext, "16", str(png)]) == 0
    out = png.with_name(name)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "P"


def test_ext_naming_a_missing_folder_exits_16(png):
    # "--ext /x.png" names file/x.png, whose folder is missing: pngquant's CANT_WRITE_ERROR, nothing created
    assert main(["--ext", "/x.png", "16", str(png)]) == 16
    assert sorted(p.name for p in png.parent.iterdir()) == ["file.png"]


def test_output_in_a_missing_folder_exits_16_and_creates_nothing(png, tmp_path, capsys):
    out = tmp_path / "nodir" / "x.png"
    assert main(["-o", str(out), str(png)]) == 16  # pngquant's CANT_WRITE_ERROR
    assert not (tmp_path / "nodir").exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_an_output_spelled_as_a_folder_exits_16_and_writes_nothing(png, monkeypatch, capsys):
    # "--ext=/" wrote b.png's result over the unrelated file b, "-o nodir/" created a file nodir:
    # pngquant 2.17 "cannot open 'b/.tmp' for writing", exit 16, whether b exists or not, force or not
    monkeypatch.chdir(png.parent)
    (png.parent / "file").write_text("notes")
    before = {p.name: p.read_bytes() for p in png.parent.iterdir()}
    for argv in (["--force", "--ext=/", "4"], ["--ext=/", "4"], ["-o", "nodir/"], ["--force", "-o", "file/"]):
        assert main([*argv, "file.png"]) == 16, argv
        err = capsys.readouterr().err
        assert err.endswith("names a folder, not an output file\n") and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in png.parent.iterdir()} == before
    (png.parent / "d").mkdir()  # an existing folder: exists (15) without --force, not writable (16) with it
    assert main(["-o", "d/", "file.png"]) == 15
    assert main(["--force", "-o", "d/", "file.png"]) == 16
    assert list((png.parent / "d").iterdir()) == []


def test_default_and_bare_floyd_dither_at_full_strength(png, tmp_path):
    # pngquant: "--floyd=0.5  control dithering strength (default 1)"; --floyd alone is full strength too
    made = {}
    for name, options in [("default", []), ("bare", ["--floyd"]), ("one", ["--floyd=1"]), ("half", ["--floyd=0.5"])]:
        out = tmp_path / f"{name}.png"
        assert main([*options, "16", "-o", str(out), str(png)]) == 0
        made[name] = _pixels(out)
    assert np.array_equal(made["default"], made["one"]) and np.array_equal(made["bare"], made["one"])
    assert not np.array_equal(made["one"], made["half"])


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_silences_the_compiling_note(png, monkeypatch, quiet):
    # pngquant's -q prints nothing but errors: not the note of a first run compiling the kernels either
    from kmeans_compress import _backend
    from kmeans_compress._cli_common import note_compiling

    monkeypatch.setattr(_backend, "slow_load_notice", None)
    assert main([*(["-q"] if quiet else []), "--nofs", "8", str(png)]) == 0
    assert _backend.slow_load_notice is (None if quiet else note_compiling)


def test_missing_input_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "none.png")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("output", [[], ["-o", "out.png"]])
def test_a_folder_as_input_exits_25(tmp_path, monkeypatch, capsys, output):
    # pngquant 2.17: "cannot decode image d.png", exit 25 (DECODE_ERROR), not 2 as an unreadable file
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "d.png"
    folder.mkdir()
    assert main(["16", *output, str(folder)]) == 25
    assert capsys.readouterr().err.strip() == f"kmeans-pngquant: error: {folder}: is a directory, not an image file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png"]


def test_too_many_pixels_exits_25_without_a_hint_of_options_it_lacks(png, monkeypatch, capsys):
    # kmeans-pngquant has neither --max-pixels nor --frame: the message offers neither
    import functools

    from kmeans_compress import FileOptions, _cli_pngquant

    monkeypatch.setattr(_cli_pngquant, "FileOptions", functools.partial(FileOptions, max_pixels=3000))
    assert main(["16", str(png)]) == 25
    assert capsys.readouterr().err.strip() == (
        f"kmeans-pngquant: error: {png}: 64x48 = 3,072 pixels is more than the limit of 3,000 "
        "(a guard against decompression bombs)"
    )


def _run_stream(argv: list[str], data: bytes) -> subprocess.CompletedProcess:
    code = "import sys; from kmeans_compress.cli import pngquant_main; sys.exit(pngquant_main())"
    return subprocess.run([sys.executable, "-c", code, *argv], input=data, capture_output=True, timeout=600)


@pytest.mark.parametrize("argv", [["16"], ["--nofs", "16"], ["16", "--"]])
def test_a_colour_count_without_a_file_reads_stdin(png, argv):
    # pngquant: "pngquant 16 < in.png > out.png" (and "--nofs 64 < in") quantizes stdin to stdout
    done = _run_stream(argv, png.read_bytes())
    assert done.returncode == 0, done.stderr
    with Image.open(io.BytesIO(done.stdout)) as im:
        assert im.mode == "P" and len(im.convert("RGB").getcolors()) <= 16


def test_a_colour_count_without_a_file_reads_stdin_into_output(png, tmp_path):
    out = tmp_path / "out.png"
    done = _run_stream(["-o", str(out), "--nofs", "8"], png.read_bytes())
    assert done.returncode == 0 and done.stdout == b"", done.stderr
    assert _colors(out) <= 8


@pytest.mark.parametrize("argv", [[], ["--nofs"], ["--"]])
def test_no_colour_count_and_no_file_is_no_input(argv, capsys):
    assert main(argv) == 1
    assert "usage" in capsys.readouterr().err


def _closing(fd: int):
    """A ``preexec_fn`` that starts the command with descriptor ``fd`` closed (``>&-``, ``2>&-``, ``<&-``)."""
    return lambda: os.close(fd)


@pytest.mark.parametrize("argv", [["4", "-"], ["-o", "-", "4", "FILE"]])
def test_stdout_not_open_is_one_line_and_exit_16(png, argv):
    # `kmeans-pngquant 4 - < x.png >&-`: sys.stdout is None ('NoneType' has no 'isatty'); exit 16, output unwritable
    argv = [str(png) if a == "FILE" else a for a in argv]
    code = "import sys; from kmeans_compress.cli import pngquant_main; sys.exit(pngquant_main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], stdin=png.open("rb"), stderr=subprocess.PIPE, preexec_fn=_closing(1)
    )
    err = proc.stderr.decode()
    assert proc.returncode == 16, err
    assert err.startswith("kmeans-pngquant: error: ") and err.count("\n") == 1 and "stdout is closed" in err


def test_stdout_of_none_in_process_is_exit_16(png, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["-o", "-", "4", str(png)]) == 16
    assert capsys.readouterr().err == f"kmeans-pngquant: error: {png}: stdout is closed, nothing can be written to it\n"


def test_stderr_not_open_leaves_stdout_alone(png):
    # with 2>&- the --verbose report went to stdout (print(file=None)), after the PNG
    plain = _run_stream(["-v", "--nofs", "4", "-"], png.read_bytes())
    code = "import sys; from kmeans_compress.cli import pngquant_main; sys.exit(pngquant_main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, "-v", "--nofs", "4", "-"],
        stdin=png.open("rb"),
        stdout=subprocess.PIPE,
        preexec_fn=_closing(2),
    )
    assert proc.returncode == 0 and plain.stderr and proc.stdout == plain.stdout


def test_stdin_not_open_exits_25_as_pngquant(tmp_path):
    # pngquant 2.17 with stdin closed: "cannot decode image from stdin", exit 25
    code = "import sys; from kmeans_compress.cli import pngquant_main; sys.exit(pngquant_main())"
    out = tmp_path / "o.png"
    proc = subprocess.run(
        [sys.executable, "-c", code, "-o", str(out), "16"], capture_output=True, preexec_fn=_closing(0)
    )
    assert proc.returncode == 25
    assert proc.stderr.decode() == "kmeans-pngquant: error: <stdin>: stdin is closed, there is no image to read\n"
    assert not out.exists()


def test_stdin_to_stdout_and_the_original_when_quality_is_not_met(png):
    data = png.read_bytes()
    done = _run_stream(["--nofs", "16", "-"], data)
    assert done.returncode == 0, done.stderr
    with Image.open(io.BytesIO(done.stdout)) as im:
        assert im.mode == "P" and len(im.convert("RGB").getcolors()) <= 16
    # pngquant never leaves the stream empty: below the minimum the original goes through, exit 99
    low = _run_stream(["--quality", "99-100", "--nofs", "4", "-"], data)
    assert low.returncode == 99
    assert low.stdout == data


# ----------------------------------------------------------------------------- against the real pngquant

PNGQUANT = shutil.which("pngquant")


@pytest.mark.skipif(PNGQUANT is None, reason="pngquant is not installed (apt-get install pngquant); skipped")
@pytest.mark.parametrize(
    "options",
    [["--speed", "11"], ["--speed", "11", "--floyd"], ["--floyd", "--speed", "11"], ["--speed", "10"], ["--floyd=0"]],
)
def test_output_name_as_pngquants(png, tmp_path, options):
    # the name tells whether pngquant dithered (-fs8.png) or not (-or8.png)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    shutil.copy(png, theirs / png.name)
    done = subprocess.run([PNGQUANT, *options, "16", str(theirs / png.name)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert main([*options, "16", str(png)]) == 0
    assert sorted(p.name for p in theirs.iterdir()) == sorted(p.name for p in png.parent.iterdir() if p.is_file())


@pytest.mark.skipif(PNGQUANT is None, reason="pngquant is not installed (apt-get install pngquant); skipped")
@pytest.mark.parametrize(
    "options",
    [
        ["--force", "--ext=/", "4"],
        ["--ext=/", "4"],
        ["-o", "nodir/"],
        ["-o", "notes/"],
        ["--force", "-o", "notes/"],
        ["-o", "nodir/."],
        ["-o", "d/"],
        ["--force", "-o", "d/"],
        ["--force", "-o", "d"],
    ],
)
def test_an_output_spelled_as_a_folder_as_pngquant(png, tmp_path, monkeypatch, options):
    # the same exit status and the same files left, an unrelated file "file" and a folder "d" beside the input
    folders = {}
    for who in ("theirs", "ours"):
        folder = tmp_path / who
        folder.mkdir()
        shutil.copy(png, folder / "file.png")
        (folder / "file").write_text("notes")
        (folder / "notes").write_text("notes")
        (folder / "d").mkdir()
        folders[who] = folder
    done = subprocess.run([PNGQUANT, *options, "file.png"], cwd=folders["theirs"], capture_output=True, timeout=60)
    monkeypatch.chdir(folders["ours"])
    assert main([*options, "file.png"]) == done.returncode, done.stderr
    assert _files_of(folders["ours"]) == _files_of(folders["theirs"])


def _files_of(folder) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


@pytest.mark.skipif(PNGQUANT is None, reason="pngquant is not installed (apt-get install pngquant); skipped")
def test_pngquant_judges_its_palette_without_dithering(tmp_path):
    # what test_skip_if_larger_judges_the_palettes_quality_without_dithering relies on: pngquant's quality
    # (-v: "MSE=... (Q=...)") is the same dithered or not, the error of its palette, not of the pixels written
    src, _ = _padded_gradient(tmp_path)
    figures = []
    for nofs in ([], ["--nofs"]):
        done = subprocess.run(
            [PNGQUANT, "-v", *nofs, "--force", "-o", str(tmp_path / "out.png"), "128", str(src)],
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        figures.append(re.findall(r"MSE=([0-9.]+) \(Q=([0-9]+)\)", done.stderr.decode()))
    assert figures[0] and figures[0] == figures[1]


@pytest.mark.skipif(PNGQUANT is None, reason="pngquant is not installed (apt-get install pngquant); skipped")
@pytest.mark.parametrize("k, status", [("200", 98), ("256", 0)])
def test_skip_if_larger_as_pngquant(tmp_path, k, status):
    src = _indexed_256(tmp_path)
    argv = ["--nofs", "--skip-if-larger", "-o", str(tmp_path / "out.png"), k, str(src)]
    assert subprocess.run([PNGQUANT, *argv], capture_output=True, timeout=60).returncode == status
    (tmp_path / "out.png").unlink(missing_ok=True)
    assert main(argv) == status


@pytest.mark.skipif(PNGQUANT is None, reason="pngquant is not installed (apt-get install pngquant); skipped")
@pytest.mark.parametrize("spelling", [*OBSOLETE, "-strip", "-quality", "-output", "-no-force", "-forcex", "-Force"])
def test_obsolete_spellings_are_pngquants(spelling):
    # the table is pngquant's own: the same spellings rewritten to the same long options (and no others)
    done = subprocess.run([PNGQUANT, spelling], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    theirs = re.findall(r"option '(\S+)' has been replaced with '(\S+)'", done.stderr.decode())
    ours = rewrite_obsolete([spelling])[1]
    assert theirs == ([(spelling, OBSOLETE[spelling])] if spelling in OBSOLETE else [])
    assert ours == [f"option '{a}' has been replaced with '{b}'." for a, b in theirs]


@pytest.mark.skipif(PNGQUANT is None, reason="pngquant is not installed (apt-get install pngquant); skipped")
@pytest.mark.parametrize(
    "options",
    [
        ["--force", "-ext", ".png", "4"],
        ["--quality=0-100", "-nofs", "4"],
        ["--nofs", "-fs", "16"],
        ["-fs", "--nofs", "4"],
        ["-nofs", "--", "-fs"],
        ["-o", "--force", "-ext", ".png"],
    ],
)
def test_obsolete_spellings_around_long_options_as_pngquant(png, tmp_path, monkeypatch, options):
    # the same exit status, the same files left: rewriting stops at pngquant's first "--..." argument
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    shutil.copy(png, theirs / png.name)
    before = png.read_bytes()
    done = subprocess.run([PNGQUANT, *options, png.name], cwd=theirs, capture_output=True, timeout=60)
    monkeypatch.chdir(png.parent)
    assert main([*options, png.name]) == done.returncode, done.stderr
    assert sorted(p.name for p in theirs.iterdir()) == sorted(p.name for p in png.parent.iterdir() if p.is_file())
    assert ((theirs / png.name).read_bytes() == before) == (png.read_bytes() == before)


@pytest.mark.skipif(PNGQUANT is None, reason="pngquant is not installed (apt-get install pngquant); skipped")
@pytest.mark.parametrize(
    "options",
    [["--nofs", "64"], ["--nofs", "16"], ["--nofs", "--quality", "65-80"], ["--nofs", "--quality", "40-60"]],
)
def test_same_command_line_as_pngquant_no_more_colours_no_larger_error(tmp_path, options):
    src = tmp_path / "photo.png"
    shutil.copy(sample_image_path(), src)  # a real photograph (chelsea, 451 x 300)
    with Image.open(src) as im:
        photo = np.asarray(im.convert("RGB"))
    theirs, ours = tmp_path / "theirs.png", tmp_path / "ours.png"
    done = subprocess.run([PNGQUANT, *options, "-o", str(theirs), "--", str(src)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert main([*options, "-o", str(ours), "--", str(src)]) == 0
    # our error, measured on the decoded files against the original ourselves, is no worse than pngquant's
    assert _mse(ours, photo) <= _mse(theirs, photo)
    if "--quality" in options:
        # the fewest colours reaching MAX on our mapping of the scale (PNGQUANT_MSE_SCALE); pngquant's own
        # error measure differs, so the counts differ too (the table in benchmarks/RESULTS.md)
        assert _mse(ours, photo) <= quality_to_mse(int(options[-1].split("-")[1])) + 1e-9
    else:
        assert _colors(ours) <= _colors(theirs)


@pytest.mark.parametrize("quiet", [False, True])
def test_frame_warning_is_one_line_without_an_option_it_lacks(tmp_path, capsys, recwarn, quiet):
    """A multi-page TIFF: one line saying the first page is compressed (none with -q), never Python's
    two-line print of a warning, and no --frame hint (kmeans-pngquant has no such option)."""
    from PIL import Image

    tif = tmp_path / "m.tif"
    frames = [Image.new("RGB", (16, 16), (60 * i, 20, 30)) for i in range(3)]
    frames[0].save(tif, save_all=True, append_images=frames[1:])
    assert main(["16", str(tif)] + (["-q"] if quiet else [])) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if ": warning: " in line or "Warning" in line]
    want = [] if quiet else [f"kmeans-pngquant: warning: {tif}: has 3 frames; only the first is compressed"]
    assert err == want and not recwarn.list
    assert [p.name for p in tmp_path.iterdir() if p.name != "m.tif"] == ["m.tif-fs8.png"]  # as pngquant names it
