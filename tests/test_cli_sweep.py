"""The figure side of the command line: `sweep`, `--preview`, and the demo's comparison figure."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kmeans_compress import compress, sample_image_path
from kmeans_compress.cli import main

ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+([\d,]+)\s+([\d.]+)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+|inf)\s*$")


def _rows(text: str) -> list[tuple[int, int, float]]:
    """(K, bytes, PSNR) of every table row."""
    out = []
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            out.append((int(m.group(1)), int(m.group(3).replace(",", "")), float(m.group(7))))
    return out


@pytest.fixture
def no_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if "matplotlib.pyplot" in sys.modules and sys.modules["matplotlib.pyplot"] is not None:
        sys.modules["matplotlib.pyplot"].close("all")


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        return img.size


def test_sweep_on_the_sample_prints_bytes_that_fall_as_k_falls(capsys):
    assert main(["sweep"]) == 0
    cap = capsys.readouterr()
    rows = _rows(cap.out)
    assert [k for k, _, _ in rows] == [2, 4, 8, 16, 32, 64, 128, 256]
    sizes = [b for _, b, _ in rows]
    assert all(a < b for a, b in zip(sizes, sizes[1:]))  # fewer colours, fewer bytes
    psnrs = [p for _, _, p in rows]
    assert all(a < b for a, b in zip(psnrs, psnrs[1:]))
    assert "embedded sample" in cap.err
    # The bytes column is the real optimized PNG, not the tutorial's estimate.
    assert sizes[3] == len(compress(sample_image_path(), n_colors=16).to_png_bytes())


def test_sweep_ks_json_and_errors(capsys):
    assert main(["sweep", "--ks", "8,2", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["n_colors"] for r in records] == [2, 8]
    assert records[0]["output_bytes"] < records[1]["output_bytes"]

    assert main(["sweep", "--ks", "2,300"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kmeans-compress: error: ") and "300" in err and err.count("\n") == 1

    assert main(["sweep", "no-such-file.png"]) == 3  # the main command's exit statuses (were all 1)
    assert "no-such-file.png" in capsys.readouterr().err


@pytest.mark.parametrize("case, status", [("missing", 3), ("a folder", 3), ("empty", 4), ("not an image", 4)])
def test_sweep_exits_as_the_main_command_for_a_bad_input(tmp_path, capsys, case, status):
    src = tmp_path / "x.png"
    if case == "a folder":
        src.mkdir()
    elif case == "empty":
        src.write_bytes(b"")
    elif case == "not an image":
        src.write_text("not an image\n")
    assert main(["sweep", str(src), "--ks", "2"]) == main([str(src), "-k", "2"]) == status
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("kmeans-compress: error: ") for line in err)


def test_sweep_plot_into_a_missing_folder_is_refused_before_any_work(tmp_path, capsys):
    # The whole sweep ran first, then "<input>: nodir: output folder does not exist", exit 1.
    pytest.importorskip("matplotlib")
    plot = tmp_path / "nodir" / "rd.png"
    assert main(["sweep", "--ks", "2", "--plot", str(plot)]) == 7  # as -o into a missing folder
    out, err = capsys.readouterr()
    assert out == ""  # no table: nothing was computed
    assert err.splitlines() == [f"kmeans-compress: error: --plot {plot}: the folder {plot.parent} does not exist"]
    assert not plot.parent.exists()


def test_sweep_plot_writes_a_figure_and_keeps_existing_files(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "rd.png"
    assert main(["sweep", "--ks", "2,4,16", "--plot", str(out)]) == 0
    assert _png_size(out) == (1620, 460)
    assert str(out) in capsys.readouterr().err
    first = out.read_bytes()

    assert main(["sweep", "--ks", "2,4,16", "--plot", str(out)]) == 6
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == first
    assert main(["sweep", "--ks", "2,4,16", "--plot", str(out), "--force"]) == 0
    assert out.read_bytes() == first  # same input, options and seed: same bytes


def test_sweep_plot_without_matplotlib_is_a_usage_error(no_matplotlib, tmp_path, capsys):
    assert main(["sweep", "--ks", "2", "--plot", str(tmp_path / "rd.png")]) == 2
    assert "kmeans-compress[plot]" in capsys.readouterr().err
    assert not (tmp_path / "rd.png").exists()


def test_preview_writes_the_side_by_side_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    src = tmp_path / "cat.png"
    shutil.copy(sample_image_path(), src)
    out, preview = tmp_path / "cat8.png", tmp_path / "preview.png"
    assert main([str(src), "-k", "8", "-o", str(out), "--preview", str(preview)]) == 0
    assert "comparison figure -> " in capsys.readouterr().err
    w, h = _png_size(preview)
    assert w == 1040 and 500 < h < 700
    with Image.open(out) as img:
        assert len(img.getpalette()) // 3 <= 8

    # The figure holds the compressed image's palette colours (as swatches).
    with Image.open(preview) as img:
        fig_colours = set(map(tuple, np.asarray(img.convert("RGB")).reshape(-1, 3).tolist()))
    with Image.open(out) as img:
        used = set(map(tuple, np.asarray(img.convert("RGB")).reshape(-1, 3).tolist()))
    assert used <= fig_colours

    # An existing preview stops the job before anything is written.
    out.unlink()
    assert main([str(src), "-k", "8", "-o", str(out), "--preview", str(preview)]) == 6  # exists
    assert "already exists" in capsys.readouterr().err
    assert not out.exists()


def test_preview_usage_errors(tmp_path, capsys):
    src = tmp_path / "cat.png"
    shutil.copy(sample_image_path(), src)
    assert main([str(src), str(src), "--preview", str(tmp_path / "p.png")]) == 2
    assert "exactly one input" in capsys.readouterr().err
    assert main([str(src), "--preview", str(tmp_path / "p.jpg")]) == 2
    assert ".png" in capsys.readouterr().err
    assert main([str(src), "-o", str(tmp_path / "x.png"), "--preview", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_preview_never_replaces_the_input_even_with_force(tmp_path, capsys, link):
    """--force lets the figure replace an older figure, never the input (by name, symlink or hard link)."""
    pytest.importorskip("matplotlib")
    src = tmp_path / "in.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    before = src.read_bytes()
    preview = src
    if link != "same":
        preview = tmp_path / "alias.png"
        (preview.symlink_to if link == "symlink" else preview.hardlink_to)(src)
    out = tmp_path / "out.png"
    assert main([str(src), "-o", str(out), "-f", "-q", "--preview", str(preview)]) == 6
    err = capsys.readouterr().err.splitlines()
    assert err == [f"kmeans-compress: error: --preview {preview}: is the input file itself; choose another name"]
    assert src.read_bytes() == before and not out.exists()


@pytest.mark.parametrize("option", ["--plot", "--preview"])
def test_a_figure_folder_that_is_not_writable_is_refused_before_any_work(tmp_path, capsys, monkeypatch, option):
    # sweep printed its whole table, then failed on the figure's temporary file.
    pytest.importorskip("matplotlib")
    folder = tmp_path / "ro"
    folder.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: Path(p) != folder and real(p, m, *a, **k))  # mode 555
    figure = folder / "f.png"
    src = tmp_path / "in.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    argv = ["sweep", "--ks", "2", str(src)] if option == "--plot" else [str(src), "-q"]
    assert main([*argv, option, str(figure)]) == 7
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"kmeans-compress: error: {option} {figure}: the folder {folder} is not writable"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "ro"] and not any(folder.iterdir())


def test_preview_into_a_missing_folder_is_refused_before_any_work(tmp_path, capsys):
    # The output was written, then the figure failed (exit 7): now nothing is done.
    pytest.importorskip("matplotlib")
    src = tmp_path / "in.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    preview = tmp_path / "nodir" / "p.png"
    assert main([str(src), "-q", "--preview", str(preview)]) == 7
    err = capsys.readouterr().err.splitlines()
    assert err == [f"kmeans-compress: error: --preview {preview}: the folder {preview.parent} does not exist"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_sweep_plot_never_replaces_the_input_even_with_force(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    src = tmp_path / "in.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    before = src.read_bytes()
    assert main(["sweep", str(src), "--ks", "2", "--plot", str(src), "--force", "-q"]) == 6  # as --preview
    assert capsys.readouterr().err.splitlines() == [
        f"kmeans-compress: error: --plot {src}: is the input file itself; choose another name"
    ]
    assert src.read_bytes() == before


def test_demo_writes_the_comparison_figure_and_says_where(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    err = capsys.readouterr().err
    assert "comparison figure -> chelsea.comparison.png" in err
    assert _png_size(tmp_path / "chelsea.comparison.png")[0] == 1040
    assert (tmp_path / "chelsea.kmc.png").exists()


def test_demo_without_matplotlib_prints_a_note_and_succeeds(no_matplotlib, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert len(notes) == 1 and "kmeans-compress[plot]" in notes[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chelsea.kmc.png"]


def test_help_mentions_sweep_and_preview(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # wrapping depends on the terminal width
    assert "--preview" in out and "sweep [INPUT]" in out
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert "--plot" in capsys.readouterr().out


def _animation(path):
    frames = [Image.fromarray(np.full((20, 20), 255 * (i % 2), np.uint8)).convert("P") for i in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=20)
    return path


def test_sweep_has_max_pixels_and_its_hint_names_only_that(tmp_path, capsys):
    # sweep takes --max-pixels as the main command does; it has no --frame, so the error does not offer one
    src = _animation(tmp_path / "anim.gif")
    assert main(["sweep", str(src), "--ks", "2", "--max-pixels", "1599", "-q"]) == 5
    assert capsys.readouterr().err.strip().splitlines() == [
        f"kmeans-compress: error: {src}: 4 frames of 20x20 = 1,600 pixels is more than the limit of 1,599 "
        "(a guard against decompression bombs; raise it with --max-pixels)"
    ]
    assert main(["sweep", str(src), "--ks", "2", "--max-pixels", "1600", "-q"]) == 0
    assert [k for k, _, _ in _rows(capsys.readouterr().out)] == [2]


@pytest.mark.parametrize("ks", ["--ks=--", "--ks=", "--ks=,"])
def test_sweep_ks_with_no_size_is_a_usage_error(tmp_path, capsys, ks):
    # "--ks=--" reached sweep() as an empty list: "ks must hold at least one palette size", exit 1
    src = tmp_path / "a.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(src)
    assert main(["sweep", str(src), ks, "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kmeans-compress: error: argument --ks: ") and err.count("\n") == 1


@pytest.mark.parametrize("quiet", [False, True])
def test_sweep_frame_warning_is_one_line_without_an_option_it_lacks(tmp_path, capsys, recwarn, quiet):
    """A multi-page input: sweep says in one line that the first page is swept (none with -q), never
    Python's two-line print of a warning, and names no --frame option (sweep has none)."""
    tif = tmp_path / "m.tif"
    frames = [Image.new("RGB", (16, 16), (60 * i, 20, 30)) for i in range(3)]
    frames[0].save(tif, save_all=True, append_images=frames[1:])
    assert main(["sweep", str(tif), "--ks", "2"] + (["-q"] if quiet else [])) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if ": warning: " in line or "Warning" in line]
    want = [] if quiet else [f"kmeans-compress: warning: {tif}: has 3 frames; only the first is compressed"]
    assert err == want and not recwarn.list
