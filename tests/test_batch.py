"""Folder mode, resume, worker processes, reports and the shared palette (kmeans_compress.batch)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _batch_folder import CORRUPT, make_folder, make_shared_palette_folder
from _images import decoded_frames
from kmeans_compress import UnsupportedImageError, _files, batch, compress_with_palette, load_image, sample_image_path
from kmeans_compress._histogram import color_histogram, pack_rgb
from kmeans_compress.cli import main


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for name, data in _tree(root).items():
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


def _out_name(rel: str) -> str:
    p = Path(rel)
    return str(p.parent / (p.stem + ".kmc.png"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos") / "in"
    good = make_folder(root)
    return root, good


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory):
    """The --jobs 1 run: output tree and JSON report."""
    src, _ = folder
    out = tmp_path_factory.mktemp("ref") / "out"
    rep = out.parent / "report.json"
    assert main([str(src), "-r", "-o", str(out), "-j", "1", "--report", str(rep), "-q"]) == 1
    return out, json.loads(rep.read_text())


def test_reference_run_reports_every_file(folder, reference):
    src, good = folder
    out, rows = reference
    by_name = {Path(r["input_path"]).relative_to(src).as_posix(): r for r in rows}
    assert set(by_name) == set(good) | set(CORRUPT)  # notes.txt is not a candidate
    for rel in good:
        r = by_name[rel]
        assert r["status"] == "done", r
        assert r["input_bytes"] == (src / rel).stat().st_size
        assert r["output_bytes"] == (out / _out_name(rel)).stat().st_size
        assert r["n_colors"] == 16
    for rel in CORRUPT:
        r = by_name[rel]
        assert r["status"] == "failed" and rel.split("/")[-1] in r["error"]
        assert not (out / _out_name(rel)).exists()
    assert sorted(_tree(out)) == sorted(_out_name(g) for g in good)  # the tree is kept, nothing else


def test_report_quality_matches_decoded_output(folder, reference):
    src, good = folder
    out, rows = reference
    by_name = {Path(r["input_path"]).relative_to(src).as_posix(): r for r in rows}
    for rel in good[:12]:
        original = load_image(src / rel).pixels.astype(np.float64)
        decoded = np.asarray(Image.open(out / _out_name(rel)).convert("RGB"), dtype=np.float64)
        mse = float(np.mean((original - decoded) ** 2))
        assert by_name[rel]["mse"] == pytest.approx(mse, rel=1e-9, abs=1e-9)
        assert by_name[rel]["psnr"] == pytest.approx(10 * np.log10(255**2 / mse))


def test_killed_run_resumes_each_file_once_and_matches_jobs_1(folder, reference, tmp_path):
    src, good = folder
    ref_out, _ = reference
    before = _digest(src)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "kmeans_compress", str(src), "-r", "-o", str(out), "-j", "2", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.kmc.png"))) < 30 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its worker processes
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be interrupted"

    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.kmc.png")}
    assert 30 <= len(first) < len(good)

    rep = tmp_path / "resume.csv"
    assert main([str(src), "-r", "-o", str(out), "-j", "2", "--report", str(rep), "-q"]) == 1
    rows = list(csv.DictReader(rep.open()))
    status = {Path(r["input_path"]).relative_to(src).as_posix(): r["status"] for r in rows}
    skipped = {k for k, v in status.items() if v == "skipped"}
    done = {k for k, v in status.items() if v == "done"}
    failed = {k for k, v in status.items() if v == "failed"}
    assert skipped == {g for g in good if (out / _out_name(g)) in first}
    assert done == set(good) - skipped  # every good file done exactly once over the two runs
    assert failed == set(CORRUPT)
    assert all(r["error"] for r in rows if r["status"] == "failed")
    for p, stamp in first.items():  # what the killed run finished was not written again
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp

    # nothing left behind (temporary files), nothing overwritten, same bytes as --jobs 1
    assert _tree(out) == _tree(ref_out)
    assert _digest(src) == before

    # a third run has nothing to do
    rep3 = tmp_path / "again.json"
    assert main([str(src), "-r", "-o", str(out), "--report", str(rep3), "-q"]) == 1
    rows3 = json.loads(rep3.read_text())
    assert [r["status"] for r in rows3].count("skipped") == len(good)
    assert [r["status"] for r in rows3].count("done") == 0


def test_outputs_do_not_depend_on_jobs_or_order(folder, reference, tmp_path):
    src, good = folder
    ref_out, _ = reference
    files = [str(src / g) for g in reversed(good[:40])]
    summary = batch.run(files, tmp_path, jobs=2, progress=False, stream=io.StringIO())
    assert summary.done == 40 and summary.failed == 0
    for g in good[:40]:
        assert (tmp_path / (Path(g).stem + ".kmc.png")).read_bytes() == (ref_out / _out_name(g)).read_bytes()


def test_changed_options_or_input_redo_the_file(tmp_path):
    src = tmp_path / "in"
    make_folder(src, n_good=6)
    out = tmp_path / "out"
    args = [str(src), "-o", str(out), "-q"]  # not recursive: the 2 top-level images and nothing in broken/
    assert main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["img000_rgb.kmc.png", "img004_rgb.kmc.png"]
    old = (out / names[0]).read_bytes()
    opts = _files.read_stamp(out / names[0])["options"]
    assert (opts["n_colors"], opts["random_state"], opts["dither"], opts["space"]) == (16, 0, False, "rgb")

    rep = tmp_path / "r.json"
    assert main(args + ["-k", "4", "--report", str(rep)]) == 0  # other options: redone, replaced
    assert [r["status"] for r in json.loads(rep.read_text())] == ["done", "done"]
    assert len(Image.open(out / names[0]).getpalette()) // 3 == 4
    assert _files.read_stamp(out / names[0])["options"]["n_colors"] == 4

    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(src / "img000_rgb.png")  # new input
    assert main(args + ["-k", "4", "--report", str(rep)]) == 0
    assert [r["status"] for r in json.loads(rep.read_text())] == ["done", "skipped"]
    assert (out / names[0]).read_bytes() != old
    assert np.asarray(Image.open(out / names[0]).convert("RGB")).tolist() == np.full((8, 8, 3), 7).tolist()


@pytest.mark.parametrize("dropped", [False, True], ids=["added", "dropped"])
@pytest.mark.parametrize(
    "option",
    [["--map", "flat.png"], ["--shared-palette"], ["--strip"], ["--effort", "0"]],
    ids=["map", "shared-palette", "strip", "effort"],
)
def test_an_option_added_or_dropped_redoes_every_file(tmp_path, capsys, option, dropped):
    src = tmp_path / "in"
    _tiny_png(src / "a.png")
    Image.fromarray(np.full((8, 8, 3), (200, 30, 30), np.uint8)).save(src / "flat.png")
    option = [str(src / o) if o == "flat.png" else o for o in option]
    plain = [str(src), "-j", "1"] + ([] if option[0] == "--map" else ["-k", "4"])  # --map gives the size
    given = plain + option
    before, after = (given, plain) if dropped else (plain, given)
    assert main([*before, "-o", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert main([*after, "-o", str(tmp_path / "out")]) == 0
    assert "2 done, 0 skipped (up to date), 0 failed" in capsys.readouterr().err
    assert main([*after, "-o", str(tmp_path / "fresh"), "-q"]) == 0  # the same options, no earlier outputs
    assert _tree(tmp_path / "out") == _tree(tmp_path / "fresh")


def test_foreign_file_is_never_overwritten(tmp_path, capsys):
    src = tmp_path / "in"
    make_folder(src, n_good=6)
    out = tmp_path / "out"
    out.mkdir()
    (out / "img000_rgb.kmc.png").write_bytes(b"mine")
    assert main([str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "img000_rgb.kmc.png: already exists" in err
    assert "1 done, 0 skipped (up to date), 1 failed" in err
    assert (out / "img000_rgb.kmc.png").read_bytes() == b"mine"
    assert main([str(src), "-o", str(out), "--force", "-q"]) == 0
    assert Image.open(out / "img000_rgb.kmc.png").format == "PNG"


def test_outputs_beside_inputs_never_become_inputs(tmp_path):
    src = tmp_path / "in"
    good = make_folder(src, n_good=8)
    before = {g: (src / g).read_bytes() for g in good}
    assert main([str(src), "-r", "-q", "-j", "1"]) == 1  # no -o: beside the inputs; broken/ fails
    rep = tmp_path / "r.json"
    assert main([str(src), "-r", "-q", "-j", "1", "--report", str(rep)]) == 1
    rows = json.loads(rep.read_text())
    assert len(rows) == len(good) + len(CORRUPT)  # no x.kmc.png taken as an input
    assert all(not r["input_path"].endswith(".kmc.png") for r in rows)
    assert {g: (src / g).read_bytes() for g in good} == before


def test_output_folder_inside_input_folder_is_not_walked(tmp_path):
    src = tmp_path / "in"
    make_folder(src, n_good=4)
    assert main([str(src), "-r", "-o", str(src / "small"), "-q"]) == 1
    rep = tmp_path / "r.json"
    assert main([str(src), "-r", "-o", str(src / "small"), "-q", "--report", str(rep)]) == 1
    assert all("small" not in r["input_path"] for r in json.loads(rep.read_text()))


def test_outputs_of_an_earlier_run_are_not_walked_whatever_their_ext(tmp_path, capsys):
    # After "-o in/o --ext .s.png", a run into in/o2 compressed in/o/*.s.png into in/o2/o/.
    src = tmp_path / "in"
    for name in ("a.png", "sub/b.png"):
        _tiny_png(src / name)
    assert main([str(src), "-r", "-j", "1", "-q", "-o", str(src / "o"), "--ext", ".s.png"]) == 0
    assert main([str(src), "-r", "-j", "1", "-q", "--ext", ".t.png"]) == 0  # beside the inputs
    assert main([str(src), "-r", "-j", "1", "-o", str(src / "o2")]) == 0
    assert "2 done, 0 skipped (up to date), 0 failed" in capsys.readouterr().err
    assert sorted(_tree(src / "o2")) == ["a.kmc.png", "sub/b.kmc.png"]
    # A stamped file named as an input is taken, as any file named on the command line.
    again = tmp_path / "again"
    assert main([str(src / "o" / "a.s.png"), "-j", "1", "-q", "-o", str(again)]) == 0
    assert sorted(_tree(again)) == ["a.s.kmc.png"]


def test_two_inputs_with_one_output_name(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src / "a.png")
    Image.fromarray(np.ones((4, 4, 3), np.uint8)).save(src / "a.bmp")
    summary = batch.run([src], tmp_path / "out", jobs=1, progress=False, stream=io.StringIO())
    assert (summary.done, summary.failed) == (1, 1)
    assert "same output file" in [r for r in summary.rows if r.status == "failed"][0].error


def test_progress_only_on_a_terminal(folder, tmp_path, capsys):
    src, good = folder
    files = [str(src / g) for g in good[:5]]
    assert main(files + ["-o", str(tmp_path / "a"), "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "files/s" not in err
    assert "5 done, 0 skipped (up to date), 0 failed" in err

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    batch.run(files, tmp_path / "b", jobs=1, stream=tty)
    assert "\r" in tty.getvalue() and "files/s" in tty.getvalue() and "saved" in tty.getvalue()


def test_report_may_go_into_the_output_folder_the_run_creates(tmp_path, monkeypatch):
    # The web page's batch command (-o compressed/ --report compressed/report.csv) was refused
    # with "the folder compressed does not exist" where compressed/ was not there yet.
    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((4, 5, 3), 9, np.uint8)).save(tmp_path / "images" / name)
    monkeypatch.chdir(tmp_path)
    assert main(["images/", "-o", "compressed/", "--report", "compressed/report.csv", "-k", "4", "-j", "1", "-q"]) == 0
    rows = list(csv.DictReader((tmp_path / "compressed" / "report.csv").open()))
    assert sorted(r["input_path"] for r in rows) == ["images/a.png", "images/b.png"]
    assert {r["status"] for r in rows} == {"done"}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--report", "r.txt"], "must end in .csv or .json"),
        (["--jobs", "0"], "must be >= 1"),
        (["-o", "-"], "-o - (stdout)"),
        (["--preview", "p.png"], "--preview takes one input file"),
        (["--jobs", "1", "-o", "out"], "no image files in"),  # run on an empty folder
        (["-o", "o.png"], "names an image file"),  # made a folder named o.png
    ],
)
def test_usage_errors(folder, tmp_path, capsys, monkeypatch, extra, message):
    src, _ = folder
    if "out" in extra:
        src = tmp_path / "empty"
        src.mkdir()
    argv = [str(src)] + (["-o", str(tmp_path / "o")] if "-o" not in extra else []) + extra
    monkeypatch.chdir(tmp_path)
    assert main(argv) == (3 if "out" in extra else 2)  # an empty folder is a missing input
    err = capsys.readouterr().err.strip()
    assert err.startswith("kmeans-compress: error:") and message in err and "\n" not in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "out").exists()  # nothing made
    assert not (tmp_path / "o.png").exists()


def test_report_folder_missing_is_exit_7_before_any_work(folder, tmp_path, capsys, monkeypatch):
    # README: a missing folder, for -o, --plot, --preview or --report, is exit 7, checked before any
    # work; the --report one was a usage error (exit 2).
    src, _ = folder
    monkeypatch.chdir(tmp_path)
    assert main([str(src), "-o", str(tmp_path / "o"), "--report", "no/such/folder/r.csv", "-q"]) == 7
    err = capsys.readouterr().err.strip()
    assert err == "kmeans-compress: error: --report no/such/folder/r.csv: the folder no/such/folder does not exist"
    assert not (tmp_path / "o").exists()


def test_one_file_with_a_batch_option_and_a_file_name_for_o(tmp_path, capsys, monkeypatch):
    """One input file with --report (folder mode): "-o x.png" is refused, no folder x.png is made;
    "-o x.png/" is a folder of that name, holding the output."""
    src = _tiny_png(tmp_path / "g.png")
    monkeypatch.chdir(tmp_path)
    assert main([str(src), "-o", "x.png", "--report", "r.csv", "-q"]) == 2
    assert "names an image file" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "r.csv").exists()
    assert main([str(src), "-o", "x.png/", "--report", "r.csv", "-q"]) == 0
    assert (tmp_path / "x.png" / "g.kmc.png").is_file()


def _tiny_png(path: Path, value: int = 0) -> Path:
    """An 8 x 8 image of a few colours: a folder of them runs in milliseconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.arange(8 * 8 * 3).reshape(8, 8, 3) * 4 + value).astype(np.uint8)).save(path, "PNG")
    return path


@pytest.mark.parametrize("where", ["-o", "-o's parent", "--report", "--report in -o"])
def test_a_folder_that_is_not_writable_is_refused_before_any_work(tmp_path, capsys, monkeypatch, where):
    """A read-only output folder made every file fail after its work was done ('[Errno 13] ... .tmp',
    exit 1); a report's, or a folder -o could not be created in, failed at the end or as a bare errno.
    Now each is refused before any work, in one line, with exit 7 (as a missing folder)."""
    src = tmp_path / "in"
    _tiny_png(src / "a.png")
    ro = tmp_path / "ro"  # as a folder of mode 555 is to a user who is not root
    ro.mkdir()
    real_access, real_mkdir = os.access, os.mkdir

    def access(path, mode, *args, **kwargs):
        return not (Path(path) == ro and mode & os.W_OK) and real_access(path, mode, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if Path(path).parent == ro:
            raise PermissionError(13, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "mkdir", mkdir)
    out = tmp_path / "out"
    argv, message = {
        "-o": ([str(src), "-o", str(ro)], f"-o {ro}: the folder is not writable"),
        "-o's parent": ([str(src), "-o", f"{ro}/sub/"], f"-o {ro}/sub/: cannot create the folder (Permission denied)"),
        "--report": (
            [str(src), "-o", str(out), "--report", str(ro / "r.json")],
            f"--report {ro / 'r.json'}: the folder {ro} is not writable",
        ),
        "--report in -o": (
            [str(src), "-o", str(ro / "out"), "--report", str(ro / "out" / "r.csv")],
            f"-o {ro / 'out'}: cannot create the folder (Permission denied)",
        ),
    }[where]
    assert main([*argv, "-j", "1"]) == 7
    assert capsys.readouterr().err.splitlines() == [f"kmeans-compress: error: {message}"]
    assert not list(tmp_path.rglob("*.kmc.png")) and not any(ro.iterdir())


@pytest.mark.parametrize("top", [False, True], ids=["sub-folder", "input folder"])
def test_an_unreadable_folder_is_reported_not_skipped(tmp_path, capsys, monkeypatch, top):
    """A sub-folder that cannot be listed (mode 000) was skipped in silence: no row, no error, exit 0.
    It is a failed row naming it (exit 1), as a file that cannot be read; an input folder that
    cannot be listed said 'no image files in it': it is refused as not readable (exit 3)."""
    src = tmp_path / "in"
    _tiny_png(src / "a.png")
    _tiny_png(src / "locked" / "b.png")
    locked = src if top else src / "locked"
    real = os.scandir

    def scandir(path=".", *args):  # as os.scandir says of a folder of mode 000 to a user who is not root
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args)

    monkeypatch.setattr(os, "scandir", scandir)
    rep = tmp_path / "r.json"
    out = tmp_path / "out"
    code = main([str(src), "-r", "-o", str(out), "-j", "1", "-q", "--report", str(rep)])
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"kmeans-compress: error: {locked}: folder not readable (Permission denied)"
    if top:
        assert code == 3 and len(err) == 1 and not out.exists() and not rep.exists()
    else:
        assert code == 1
        rows = json.loads(rep.read_text())
        assert [(r["input_path"], r["status"]) for r in rows] == [(str(src / "a.png"), "done"), (str(locked), "failed")]
        assert "1 done, 0 skipped (up to date), 1 failed" in err[-1]


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_report_keeps_to_the_outputs_rules(tmp_path, capsys, suffix):
    """--report replaces only its own earlier report (a rerun) or, with --force, someone's file; never an input."""
    _tiny_png(tmp_path / "d" / "a.png")
    args = [str(tmp_path / "d"), "-o", str(tmp_path / "out"), "-q", "-j", "1"]
    notes = tmp_path / f"notes{suffix}"
    notes.write_bytes(b"precious\n")
    assert main(args + ["--report", str(notes)]) == 6
    assert capsys.readouterr().err.splitlines() == [
        f"kmeans-compress: error: --report {notes}: already exists and is not a report of kmeans-compress "
        "(use --force to overwrite)"
    ]
    assert notes.read_bytes() == b"precious\n" and not (tmp_path / "out").exists()  # refused before any work

    rep = tmp_path / f"r{suffix}"
    for _ in "12":  # a rerun of the same command replaces the report it wrote
        assert main(args + ["--report", str(rep)]) == 0
        assert str(tmp_path / "d" / "a.png") in rep.read_text()
    assert main(args + ["--report", str(notes), "--force"]) == 0
    assert str(tmp_path / "d" / "a.png") in notes.read_text()

    image = _tiny_png(tmp_path / f"img{suffix}")  # an image named like a report, given as an input
    before = image.read_bytes()
    for force in ([], ["--force"]):
        assert main([str(image), "-o", str(tmp_path / "o2"), "-q", "--report", str(image), *force]) == 6
        err = capsys.readouterr().err.splitlines()
        assert err == [f"kmeans-compress: error: --report {image}: is the input file itself; choose another name"]
        assert image.read_bytes() == before


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_report_names_a_file_whose_name_is_not_utf8(tmp_path, capsys, suffix):
    """The name's bytes come back from the report: as they are in CSV, through os.fsencode in JSON."""
    name = b"p\xff.png"
    _tiny_png(tmp_path / "u" / os.fsdecode(name))
    rep = tmp_path / f"r{suffix}"
    assert main([str(tmp_path / "u"), "-o", str(tmp_path / "out"), "-q", "-j", "1", "--report", str(rep)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    if suffix == ".csv":
        row = rep.read_bytes().splitlines()[1].split(b",")
        assert row[:3] == [
            os.fsencode(tmp_path / "u") + b"/" + name,
            os.fsencode(tmp_path / "out") + b"/p\xff.kmc.png",
            b"done",
        ]
    else:
        (row,) = json.loads(rep.read_text(encoding="ascii"))
        assert os.fsencode(row["input_path"]) == os.fsencode(tmp_path / "u") + b"/" + name and row["status"] == "done"


def _multipage_tiff(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.new("RGB", (16, 16), (60 * i, 20, 30)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


WARNED = "kmeans-compress: warning: {}: has 3 frames; only the first is compressed (choose another with --frame N)"


@pytest.mark.parametrize("shared", [[], ["--shared-palette"]])
def test_folder_warnings_are_one_line_and_quiet_with_q(tmp_path, capsys, recwarn, shared):
    """As for one file: a warning is one line on stderr, none with -q; never Python's own print of it."""
    tif = _multipage_tiff(tmp_path / "tif" / "m.tif")
    args = [str(tmp_path / "tif"), "-j", "1", *shared]
    assert main(args + ["-o", str(tmp_path / "quiet"), "-q"]) == 0
    assert capsys.readouterr().err == "" and not recwarn.list
    assert main(args + ["-o", str(tmp_path / "loud")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == WARNED.format(tif) and len(err) == 2 and "1 done" in err[1] and not recwarn.list


def test_folder_warnings_from_worker_processes(tmp_path):
    tif = _multipage_tiff(tmp_path / "tif" / "m.tif")
    cmd = [sys.executable, "-m", "kmeans_compress", str(tmp_path / "tif"), "-j", "2"]
    quiet = subprocess.run(cmd + ["-o", str(tmp_path / "quiet"), "-q"], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = subprocess.run(cmd + ["-o", str(tmp_path / "loud")], capture_output=True, text=True)
    assert loud.returncode == 0 and loud.stderr.splitlines()[0] == WARNED.format(tif)
    assert "UserWarning" not in loud.stderr and len(loud.stderr.splitlines()) == 2


def test_folder_warnings_of_threads_stay_in_their_own_rows(tmp_path, monkeypatch):
    """Two files in two threads (the web page's batches, a Dask worker's threads): each row gets its own
    warning, and the process's warnings work as before afterwards. The interleaving is forced: A warns
    while B is inside process_file too, then B warns after A has left it."""
    a_in, b_in, a_left = threading.Event(), threading.Event(), threading.Event()
    real = batch.compress_file

    def compress_file(src, dst, options):
        if src.endswith("a.png"):
            a_in.set()
            assert b_in.wait(10)
            warnings.warn(f"{src}: warned by A", UserWarning, stacklevel=1)
        else:
            b_in.set()
            assert a_left.wait(10)
            warnings.warn(f"{src}: warned by B", UserWarning, stacklevel=1)
        return real(src, dst, options)

    monkeypatch.setattr(batch, "compress_file", compress_file)
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / name)
    opts = _files.FileOptions(n_colors=4, force=True, resume=True)
    rows: dict[str, batch.FileRow] = {}
    filters, impl = list(warnings.filters), warnings._showwarnmsg_impl  # pytest's own record, here

    def one(name: str) -> None:
        t = batch.Task(str(tmp_path / name), str(tmp_path / f"{name}.kmc.png"), name)
        rows[name] = batch.process_file(t, opts)
        if name == "a.png":
            a_left.set()

    a = threading.Thread(target=one, args=("a.png",))
    a.start()
    assert a_in.wait(10)
    b = threading.Thread(target=one, args=("b.png",))
    b.start()
    a.join(20)
    b.join(20)
    assert rows["a.png"].warnings == ["a.png: warned by A"] and rows["a.png"].status == "done"
    assert rows["b.png"].warnings == ["b.png: warned by B"] and rows["b.png"].status == "done"
    assert warnings.filters == filters
    with pytest.warns(UserWarning, match="after the threads"):
        warnings.warn("after the threads", UserWarning, stacklevel=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("recorded as ever", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["recorded as ever"]
    assert warnings._showwarnmsg_impl == impl


def test_folder_warnings_of_real_files_in_threads(tmp_path):
    """End to end, through the decoder's own warning: a multi-page TIFF and a plain PNG in two threads
    at once; the TIFF's warning is in its own row only, however the threads interleave (the test above
    forces the interleaving that broke), and a warning afterwards is heard."""
    tif = tmp_path / "big.tif"
    frames = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (600, 600, 3), np.uint8)) for i in range(2)]
    frames[0].save(tif, save_all=True, append_images=frames[1:])
    png = tmp_path / "plain.png"
    Image.fromarray(np.random.default_rng(9).integers(0, 255, (300, 300, 3), np.uint8)).save(png)
    opts = _files.FileOptions(n_colors=16, force=True)
    rows = {}

    def one(p: Path) -> None:
        rows[p.name] = batch.process_file(batch.Task(str(p), str(p) + ".kmc.png", p.name), opts)

    threads = [threading.Thread(target=one, args=(p,)) for p in (tif, png)]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(60)
    assert rows["big.tif"].warnings == [
        "big.tif: has 2 frames; only the first is compressed (choose another with --frame N)"
    ]
    assert rows["plain.png"].warnings == []
    with pytest.warns(UserWarning, match="still heard"):
        warnings.warn("still heard", UserWarning, stacklevel=1)


def test_a_folder_of_stamped_outputs_only_says_why_it_has_no_input(tmp_path, capsys):
    """The walk leaves out PNGs with our stamp (an earlier run's outputs): exit 3 says so, and how to take them."""
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / f"p{i}.png")
    assert main([str(tmp_path), "-o", str(tmp_path / "gallery"), "-k", "2", "-q", "-j", "1"]) == 0
    assert main([str(tmp_path / "gallery"), "-o", str(tmp_path / "small"), "-q", "-j", "1"]) == 3
    assert capsys.readouterr().err.splitlines() == [
        f"kmeans-compress: error: no image files in {tmp_path / 'gallery'} (3 PNGs there are kmeans-compress's "
        "output (named *.kmc.png or carrying its stamp): of an earlier run, left out; name them as inputs to "
        "compress them again; -r includes sub-folders)"
    ]
    for p in (tmp_path / "gallery").iterdir():  # another --ext then: known by the stamp alone
        p.rename(p.with_name(p.name.replace(".kmc", "")))
    assert main([str(tmp_path / "gallery"), "-r", "-o", str(tmp_path / "small"), "-q", "-j", "1"]) == 3
    assert "(3 PNGs there are kmeans-compress's output" in capsys.readouterr().err
    assert not (tmp_path / "small").exists()


# --------------------------------------------------------------------------- shared palette


def test_shared_palette_is_the_palette_of_all_images_together(folder):
    src, good = folder
    paths = [src / g for g in good[:20]]
    pal = batch.shared_palette(paths, n_colors=8, random_state=3)
    pixels = np.concatenate([load_image(p).pixels.reshape(-1, 3) for p in paths])
    expected = batch.palette_from_histogram(color_histogram(pack_rgb(pixels)), 8, 3)
    assert np.array_equal(pal, expected)
    assert pal.shape == (8, 3)
    assert np.array_equal(batch.shared_palette(paths, n_colors=8, random_state=3, jobs=2), pal)


def test_cli_shared_palette_gives_every_output_the_same_palette(folder, tmp_path):
    src, good = folder
    files = [str(src / g) for g in good[:12]]
    assert main(files + ["-o", str(tmp_path / "one"), "--shared-palette", "-k", "8", "-j", "1", "-q"]) == 0
    assert main(files + ["-o", str(tmp_path / "two"), "--shared-palette", "-k", "8", "-j", "2", "-q"]) == 0
    assert _tree(tmp_path / "one") == _tree(tmp_path / "two")
    palettes = {tuple(Image.open(p).getpalette()[:24]) for p in (tmp_path / "one").iterdir()}
    assert len(palettes) == 1
    expected = batch.shared_palette(files, n_colors=8, random_state=0)
    assert list(palettes)[0] == tuple(expected.ravel().tolist())


def test_shared_palette_with_no_readable_input(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(b"junk")
    (tmp_path / "b.png").write_bytes(b"")
    assert main([str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "o"), "--shared-palette"]) == 1
    err = capsys.readouterr().err
    assert "a.png: not an image file" in err and "b.png: the file is empty" in err
    assert "0 done, 0 skipped (up to date), 2 failed" in err and "Traceback" not in err
    assert list((tmp_path / "o").iterdir()) == []


def test_ctrl_c_stops_with_130_writes_the_report_and_resumes(folder, reference, tmp_path):
    src, good = folder
    ref_out, _ = reference
    out, rep = tmp_path / "out", tmp_path / "r.csv"
    cmd = [sys.executable, "-m", "kmeans_compress", str(src), "-r", "-o", str(out), "-j", "2", "--report", str(rep)]
    # Ctrl-C as a terminal sends it: to a process that handles it. A test run started in the
    # background (`cmd &` in a script) inherits SIGINT ignored, and the command would then (rightly,
    # as under nohup) ignore it too and finish the folder.
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.kmc.png"))) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate()[1].decode()
    assert proc.returncode == 130, err
    assert err.strip().endswith("kmeans-compress: error: interrupted; run the same command again to resume")
    assert "Traceback" not in err
    rows = list(csv.DictReader(rep.open()))
    assert 0 < len(rows) < len(good) + len(CORRUPT)
    assert all((out / Path(r["output_path"]).relative_to(out)).is_file() for r in rows if r["status"] == "done")
    assert main([str(src), "-r", "-o", str(out), "-j", "2", "-q"]) == 1
    assert _tree(out) == _tree(ref_out)


@pytest.mark.parametrize("extra", [[], ["--dither"], ["--space", "lab"], ["-k", "5", "--strip"]])
def test_batch_output_decodes_like_the_single_file_output(folder, tmp_path, extra):
    src, good = folder
    one = str(src / good[0])
    assert main([one, "-o", str(tmp_path / "single.png"), "-q"] + extra) == 0
    assert main([one, "-o", str(tmp_path / "batch"), "-j", "1", "-q"] + extra) == 0
    a = Image.open(tmp_path / "single.png")
    b = Image.open(tmp_path / "batch" / _out_name(Path(good[0]).name))
    assert a.getpalette() == b.getpalette()
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert _files.STAMP_KEY in b.text


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three crops of the sample photo as PNG files: (folder, {name: RGB array})."""
    root = tmp_path_factory.mktemp("crops") / "in"
    root.mkdir()
    rgb = np.asarray(Image.open(sample_image_path()).convert("RGB"))
    crops = {"a.png": rgb[:96, :128], "b.png": rgb[40:120, 30:150], "c.png": rgb[-64:, -160:]}
    for name, px in crops.items():
        Image.fromarray(np.ascontiguousarray(px)).save(root / name)
    return root, crops


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize(
    "target",
    [["--psnr", "30-34"], ["--max-bytes", "4000", "-k", "48"], ["--quality", "60-75", "-k", "64"]],
    ids=["psnr", "max-bytes", "quality"],
)
def test_folder_mode_searches_each_file_palette_size(photos, tmp_path, target):
    src, crops = photos
    out = tmp_path / "out"
    rep = tmp_path / "report.json"
    assert main([str(src), "-o", str(out), "-j", "1", "--report", str(rep), "-q", *target]) == 0
    rows = {Path(r["input_path"]).name: r for r in json.loads(rep.read_text())}
    for name, px in crops.items():
        written = out / _out_name(name)
        decoded = np.asarray(Image.open(written).convert("RGB"))
        # Checked on the decoded file, not on the tool's own figures.
        if target[0] == "--psnr":
            assert _psnr(px, decoded) >= 30.0
        single = tmp_path / f"single-{name}"
        assert main([str(src / name), "-o", str(single), "-q", *target]) == 0
        if target[0] == "--max-bytes":
            # The file as written fits, resume stamp included; the one-file output (no stamp)
            # may spend those bytes on colours.
            assert written.stat().st_size <= 4000
            assert _files.STAMP_KEY in Image.open(written).text
            assert len(Image.open(written).getpalette()) <= len(Image.open(single).getpalette())
        else:
            # Same file as the one-file command line with the same options (one path for both).
            assert np.array_equal(np.asarray(Image.open(single)), np.asarray(Image.open(written)))
            assert Image.open(single).getpalette() == Image.open(written).getpalette()
        assert rows[name]["status"] == "done"
        assert rows[name]["n_colors_used"] == len(np.unique(decoded.reshape(-1, 3), axis=0))
    # Resume: the same command finds every output up to date.
    assert main([str(src), "-o", str(out), "-j", "1", "--report", str(rep), "-q", *target]) == 0
    assert {r["status"] for r in json.loads(rep.read_text())} == {"skipped"}


@pytest.mark.parametrize("palette", [["--shared-palette"], ["--map", "PALETTE"]])
def test_a_common_palette_and_a_size_search_are_refused(photos, tmp_path, capsys, palette):
    src, _ = photos
    four = np.array([[[0, 0, 0], [255, 0, 0]], [[0, 255, 0], [0, 0, 255]]], np.uint8)
    Image.fromarray(four).save(tmp_path / "four.png")
    palette = [str(tmp_path / "four.png") if p == "PALETTE" else p for p in palette]
    for inputs in ([str(src)], [str(src / "a.png")]):  # a folder, and one file
        assert main([*inputs, "-o", str(tmp_path / "o"), "--quality", "30-40", *palette]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--quality sizes each file's own" in err, err
        assert not (tmp_path / "o").exists()


def test_folder_skip_if_larger_leaves_such_files_alone(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from kmeans_compress.cli import main

    src = tmp_path / "in"
    src.mkdir()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(src / "tiny.jpg", quality=5)  # already smaller than any 16-colour PNG of it
    y, x = np.mgrid[0:64, 0:64]
    smooth = np.stack([x * 4, y * 4, (x + y) * 2], axis=2) + np.random.default_rng(1).normal(0, 8, (64, 64, 3))
    Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8)).save(src / "smooth.png")  # noisy: a big PNG
    out = tmp_path / "out"
    assert main([str(src), "-o", str(out), "--skip-if-larger", "--jobs", "1"]) == 98
    assert "1 not smaller (left alone)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["smooth.kmc.png"]
    assert (out / "smooth.kmc.png").stat().st_size < (src / "smooth.png").stat().st_size
    assert main([str(src), "-o", str(out), "--jobs", "1", "-q"]) == 0  # without the flag it is written
    assert (out / "tiny.kmc.png").exists()


# --------------------------------------------------------------------------- a given palette: every frame, the profile


def _anim_gif(path: Path, n: int = 3) -> None:
    """An opaque animated GIF whose frames differ (Pillow would merge equal ones)."""
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)
    ims = [Image.fromarray(np.roll(base, 5 * i, axis=1) // (i + 1)).quantize(32) for i in range(n)]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=[70, 80, 90][:n], loop=0)


def _decoded_frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    frames, durations = decoded_frames(path, "RGB")
    return [f.astype(np.int64) for f in frames], durations


def _keys(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    return (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]


def _assert_nearest(frames_in: list[np.ndarray], frames_out: list[np.ndarray], palette: np.ndarray) -> None:
    """Every output pixel is an entry of ``palette`` at the least distance from its input pixel."""
    pal = np.asarray(palette, dtype=np.int64)
    assert len(frames_out) == len(frames_in)
    for src, got in zip(frames_in, frames_out):
        d2 = ((src[:, :, None, :] - pal[None, None]) ** 2).sum(-1)
        assert np.isin(_keys(got), _keys(pal)).all()
        assert np.array_equal(((src - got) ** 2).sum(-1), d2.min(axis=2))


def test_compress_with_palette_keeps_every_frame_and_the_icc_profile(tmp_path):
    from PIL import ImageCms

    anim = tmp_path / "anim.gif"
    _anim_gif(anim)
    source, _ = _decoded_frames(anim)
    pal = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 40], [20, 180, 60], [40, 60, 220], [128, 128, 128]], np.uint8)
    res = compress_with_palette(anim, pal)
    assert res.report.n_frames == 3 and len(res.more_labels) == 2
    out = tmp_path / "anim.png"
    res.save(out)
    frames, durations = _decoded_frames(out)
    assert durations == [70, 80, 90]
    _assert_nearest(source, frames, pal)
    stacked = np.concatenate(source).astype(float)
    assert res.report.mse == pytest.approx(np.mean((stacked - np.concatenate(frames)) ** 2))

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    still = tmp_path / "icc.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(still, icc_profile=icc)
    res = compress_with_palette(still, pal)
    assert Image.open(io.BytesIO(res.to_png_bytes())).info.get("icc_profile") == icc
    assert "icc_profile" not in Image.open(io.BytesIO(res.to_png_bytes(strip=True))).info


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_shared_palette_keeps_every_frame_and_the_icc_profile(tmp_path, jobs):
    from PIL import ImageCms

    src = tmp_path / "in"
    src.mkdir()
    _anim_gif(src / "anim.gif")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(
        src / "icc.png", icc_profile=icc
    )
    out, bare = tmp_path / "out", tmp_path / "bare"
    assert main([str(src), "-o", str(out), "--shared-palette", "-k", "8", "-j", jobs, "-q"]) == 0
    assert main([str(src), "-o", str(bare), "--shared-palette", "-k", "8", "-j", jobs, "-q", "--strip"]) == 0
    # the palette comes from every pixel of every frame of both files
    pixels = np.concatenate(
        [f.reshape(-1, 3) for f in _decoded_frames(src / "anim.gif")[0]]
        + [np.asarray(Image.open(src / "icc.png").convert("RGB")).reshape(-1, 3)]
    ).astype(np.uint8)
    pal = batch.palette_from_histogram(color_histogram(pack_rgb(pixels)), 8, 0)
    frames, durations = _decoded_frames(out / "anim.kmc.png")
    assert durations == [70, 80, 90]
    _assert_nearest(_decoded_frames(src / "anim.gif")[0], frames, pal)
    assert Image.open(out / "icc.kmc.png").info.get("icc_profile") == icc
    assert "icc_profile" not in Image.open(bare / "icc.kmc.png").info
    _assert_nearest(_decoded_frames(src / "icc.png")[0], _decoded_frames(bare / "icc.kmc.png")[0], pal)


# --------------------------------------------------------------------------- shared palette: files that cannot share it


def _check_shared_run(src: Path, out: Path, good: list[np.ndarray], rows: list[dict]) -> None:
    status = {Path(r["input_path"]).name: (r["status"], r["error"]) for r in rows}
    assert {k: v[0] for k, v in status.items()} == {
        "a.png": "done",
        "b.png": "done",
        "c.png": "failed",
        "d.png": "failed",
        "e.png": "failed",
    }
    assert "c.png: damaged or truncated image" in status["c.png"][1]
    assert "d.png: has transparency" in status["d.png"][1]
    assert "e.png: 80x80 = 6,400 pixels is more than the limit" in status["e.png"][1]
    # the palette of the good files only, computed from their pixels
    pal = batch.palette_from_histogram(
        color_histogram(pack_rgb(np.concatenate([g.reshape(-1, 3) for g in good]))), 16, 0
    )
    for name, px in zip(["a", "b"], good):
        im = Image.open(out / f"{name}.kmc.png")
        assert np.array_equal(np.array(im.getpalette()[: 3 * 16]).reshape(-1, 3), pal)
        _assert_nearest([px.astype(np.int64)], [np.asarray(im.convert("RGB")).astype(np.int64)], pal)
    assert sorted(p.name for p in out.iterdir()) == ["a.kmc.png", "b.kmc.png"]


def test_shared_palette_leaves_out_files_that_cannot_share_it_whatever_the_jobs(tmp_path, capsys):
    src = tmp_path / "in"
    good = make_shared_palette_folder(src)
    trees = []
    for jobs in ["1", "2"]:
        out, rep = tmp_path / f"out{jobs}", tmp_path / f"r{jobs}.json"
        argv = [str(src), "-o", str(out), "--shared-palette", "--max-pixels", "5000", "-j", jobs, "--report", str(rep)]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "2 done, 0 skipped (up to date), 3 failed" in err and "Traceback" not in err
        _check_shared_run(src, out, good, json.loads(rep.read_text()))
        trees.append(_tree(out))
    assert trees[0] == trees[1]
    # and from Python: the same palette, whatever the jobs
    files = sorted(src.iterdir())
    pal = batch.shared_palette(files, 16, 0, max_pixels=5000)
    assert np.array_equal(batch.shared_palette(files, 16, 0, max_pixels=5000, jobs=2), pal)
    assert np.array_equal(pal, np.array(Image.open(tmp_path / "out1" / "a.kmc.png").getpalette()[:48]).reshape(-1, 3))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_shared_palette_with_no_usable_input_makes_no_palette(tmp_path, capsys, jobs):
    src = tmp_path / "in"
    make_shared_palette_folder(src)
    for name in ["a.png", "b.png"]:
        (src / name).unlink()
    out = tmp_path / "o"
    assert main([str(src), "-o", str(out), "--shared-palette", "--max-pixels", "5000", "-j", jobs]) == 1
    err = capsys.readouterr().err
    assert "c.png: damaged" in err and "d.png: has transparency" in err and "e.png: 80x80" in err
    assert "0 done, 0 skipped (up to date), 3 failed" in err and "Traceback" not in err
    assert list(out.iterdir()) == []
    with pytest.raises(UnsupportedImageError, match="none of the 3 images"):
        batch.shared_palette(sorted(src.iterdir()), 16, 0, max_pixels=5000, jobs=int(jobs))


def test_shared_palette_refuses_a_space_it_would_ignore(tmp_path, capsys):
    src = tmp_path / "in"
    make_shared_palette_folder(src)
    assert main([str(src), "-o", str(tmp_path / "o"), "--shared-palette", "--space", "lab"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kmeans-compress: error: --shared-palette") and "--space" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_shared_palette_keeps_the_keep_colours(tmp_path):
    """--keep with --shared-palette: the kept colours are entries of the one palette, as for one file."""
    src = tmp_path / "in"
    src.mkdir()
    a, b = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    a[6:] = 255  # 48 black, 16 white
    b[4:] = 128  # 32 black, 32 grey
    Image.fromarray(a).save(src / "a.png")
    Image.fromarray(b).save(src / "b.png")
    args = [str(src), "-o", str(tmp_path / "o"), "--shared-palette", "-k", "4", "--keep", "#ff0000", "-q", "-j", "1"]
    assert main(args) == 0
    # Black 80 pixels, grey 32, white 16, then the kept red, which no pixel uses: every output holds all four.
    expected = [0, 0, 0, 128, 128, 128, 255, 255, 255, 255, 0, 0]
    for name in ("a", "b"):
        assert Image.open(tmp_path / "o" / f"{name}.kmc.png").getpalette() == expected

    # More colours than K: the entries besides red are fitted around it, as for the one image alone.
    y, x = np.mgrid[0:32, 0:40]
    grad = np.dstack([x * 255 // 39, y * 255 // 31, (x + y) * 255 // 70]).astype(np.uint8)
    Image.fromarray(grad).save(src / "a.png")
    (src / "b.png").unlink()
    assert main(args + ["-f"]) == 0
    assert main([str(src / "a.png"), "-o", str(tmp_path / "one.png"), "-k", "4", "--keep", "#ff0000", "-q"]) == 0
    shared, one = (
        Image.open(p).convert("RGB").getcolors() for p in (tmp_path / "o" / "a.kmc.png", tmp_path / "one.png")
    )
    assert (255, 0, 0) in {c for _, c in shared} and sorted(shared) == sorted(one)


def test_shared_palette_with_dithering(tmp_path):
    """Gradients dithered with one shared palette: every output uses only its colours, the
    dithering shows (the means of the gradients come closer), and workers do not change a byte."""
    src = tmp_path / "in"
    src.mkdir()
    ramp = np.linspace(0, 255, 96)
    for n, (a, b) in enumerate([(0, 1), (1, 2), (2, 0)]):
        img = np.zeros((32, 96, 3), np.uint8)
        img[..., a] = ramp.astype(np.uint8)
        img[..., b] = (ramp[::-1] / 2).astype(np.uint8)
        Image.fromarray(img).save(src / f"g{n}.png")
    outs = {}
    for label, extra in (("plain", []), ("dither", ["--dither", "1"]), ("dither-j2", ["--dither", "1", "-j", "2"])):
        out = tmp_path / label
        jobs = [] if "-j" in extra else ["-j", "1"]
        assert main([str(src), "-o", str(out), "--shared-palette", "-k", "6", "-q", *jobs, *extra]) == 0
        outs[label] = out
    assert _tree(outs["dither"]) == _tree(outs["dither-j2"])
    pal = {tuple(c) for c in batch.shared_palette(sorted(src.iterdir()), 6, 0).tolist()}
    for name in ("g0", "g1", "g2"):
        orig = np.asarray(Image.open(src / f"{name}.png")).astype(float)
        plain, dith = (np.asarray(Image.open(outs[k] / f"{name}.kmc.png").convert("RGB")) for k in ("plain", "dither"))
        assert {tuple(c) for c in dith.reshape(-1, 3).tolist()} <= pal
        assert not np.array_equal(plain, dith)
        # Error diffusion keeps local means: column means track the ramp better than plain mapping.
        assert (
            np.abs(dith.mean(axis=0) - orig.mean(axis=0)).mean() < np.abs(plain.mean(axis=0) - orig.mean(axis=0)).mean()
        )


# --------------------------------------------------------------------------- a run killed hard leaves nothing behind


def _proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, process group) of a live process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[2])


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        st = _proc_stat(p)
        if st is not None:
            children.setdefault(st[0], []).append(p)
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def _running(pids: set[int], group: int) -> set[int]:
    """Those of ``pids``, and any process of the group, that still run (a zombie has ended)."""
    out = set()
    for p in pids | set(_all_pids()):
        st = _proc_stat(p)
        if st is not None and st[1] not in "ZX" and (p in pids or st[2] == group):
            out.add(p)
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the run's processes in /proc")
def test_run_killed_hard_leaves_no_process_behind(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):  # noise at K=64: a fraction of a second each, so the run is surely mid-way when killed
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(src / f"{i:02d}.png")
    cmd = [sys.executable, "-m", "kmeans_compress", str(src), "-o", str(out), "-j", "2", "-k", "64", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)  # its own process group
    run: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            run = _descendants(proc.pid)
            if len(run) >= 4 and any(out.glob("*.kmc.png")):  # resource tracker, forkserver, 2 workers; working
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        assert len(run) >= 4, f"expected the forkserver, the resource tracker and 2 workers, found {sorted(run)}"
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, as the OOM killer would
        proc.wait()
        deadline = time.monotonic() + 10
        while _running(run, proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _running(run, proc.pid)
        cmdlines = {
            p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
            for p in left
            if Path(f"/proc/{p}/cmdline").exists()
        }
        assert not left, f"still running 10 s after the main process was killed: {cmdlines}"
    finally:  # never leave anything behind, even when the test fails
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in _running(run, proc.pid):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
