"""One file (``_files.py``): ``compress_file``, the rules every front end shares, called directly.

Never over the input without ``force`` (by its path, a symlink or a hard link); never over an
existing file without ``force``; ``resume`` skips an output whose stamp matches the input and the
options, redoes it when either changed, and refuses a file without a stamp; ``skip_if_larger``
writes nothing; ``dst=None`` returns the bytes. What is written is checked decoded, against the
pixels ``compress()`` gives for the same input and options (not against bytes captured once).

The same rules through the command line are in test_cli.py, over folders, worker processes and
resume after a kill in test_batch.py, on Dask in test_dask.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _images import decoded_frames, decoded_image, synthetic_photo
from kmeans_compress import (
    FileOptions,
    ImageNotFoundError,
    OutputExistsError,
    compress,
    compress_file,
    load_image,
)
from kmeans_compress import _files as _files_module
from kmeans_compress._files import STAMP_KEY, read_stamp

K = 8


def _files(folder: Path) -> dict[str, bytes]:
    """Every entry of a folder (temporary files included) and its bytes, symlinks by their target."""
    return {
        p.name: (b"-> " + os.readlink(p).encode()) if p.is_symlink() else p.read_bytes()
        for p in sorted(folder.iterdir())
    }


def _pixels(path_or_bytes) -> np.ndarray:
    return np.asarray(decoded_image(path_or_bytes).convert("RGB"))


@pytest.fixture
def src(tmp_path) -> Path:
    path = tmp_path / "in.png"
    Image.fromarray(synthetic_photo(40, 50, seed=1)).save(path)
    return path


def _expected(src: Path, n_colors: int = K) -> np.ndarray:
    """What the library gives for this input: the independent reference of the written pixels."""
    return compress(src, n_colors=n_colors).image


# --------------------------------------------------------------------- what is written


@pytest.mark.parametrize("ext, fmt", [(".png", "PNG"), (".gif", "GIF"), (".webp", "WEBP")])
def test_written_file_decodes_to_the_pixels_compress_gives(src, tmp_path, ext, fmt):
    dst = tmp_path / "out" / f"o{ext}"  # the missing folder is created
    outcome = compress_file(src, dst, FileOptions(n_colors=K))
    assert outcome.status == "done"
    with Image.open(dst) as im:
        assert im.format == fmt
    np.testing.assert_array_equal(_pixels(dst), _expected(src))
    assert outcome.output_bytes == dst.stat().st_size
    assert outcome.input_bytes == src.stat().st_size
    assert outcome.n_colors_used == K
    assert outcome.mse == pytest.approx(np.mean((_expected(src).astype(float) - load_image(src).pixels) ** 2))
    assert outcome.result.report.output_path == str(dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == [dst.name]  # no temporary file left


def test_dst_none_returns_the_png_bytes_and_writes_nothing(src, tmp_path):
    before = _files(tmp_path)
    outcome = compress_file(src, None, FileOptions(n_colors=K))
    assert outcome.status == "done"
    assert outcome.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert outcome.output_bytes == len(outcome.data)
    np.testing.assert_array_equal(_pixels(outcome.data), _expected(src))
    assert _files(tmp_path) == before


def test_a_loaded_image_goes_through_the_same_path(src, tmp_path):
    dst = tmp_path / "o.png"
    assert compress_file(load_image(src), dst, FileOptions(n_colors=K)).status == "done"
    np.testing.assert_array_equal(_pixels(dst), _expected(src))
    with pytest.raises(ValueError, match="resume needs the input as a file path"):
        compress_file(load_image(src), tmp_path / "r.png", FileOptions(n_colors=K, resume=True))
    assert not (tmp_path / "r.png").exists()


# --------------------------------------------------------------------- never over the input


def _link(kind: str, src: Path, folder: Path) -> Path:
    """Another name for the input file: itself, a symlink to it, or a hard link to it."""
    if kind == "same path":
        return src
    dst = folder / "other-name.png"
    if kind == "symlink":
        dst.symlink_to(src)
    else:
        os.link(src, dst)
    return dst


@pytest.mark.parametrize("resume", [False, True])
@pytest.mark.parametrize("kind", ["same path", "symlink", "hard link"])
def test_never_over_the_input_without_force(src, tmp_path, kind, resume):
    dst = _link(kind, src, tmp_path)
    before = _files(tmp_path)
    with pytest.raises(OutputExistsError, match="is the input file itself"):
        compress_file(src, dst, FileOptions(n_colors=K, resume=resume))
    assert _files(tmp_path) == before  # the input, the link and the folder untouched
    assert dst.is_symlink() == (kind == "symlink")


def test_force_writes_over_the_input_itself(src):
    expected = _expected(src)
    assert compress_file(src, src, FileOptions(n_colors=K, force=True)).status == "done"
    np.testing.assert_array_equal(_pixels(src), expected)
    assert sorted(p.name for p in src.parent.iterdir()) == [src.name]


# --------------------------------------------------------------------- never over another file


@pytest.mark.parametrize("existing", ["foreign file", "our own output", "dangling symlink"])
def test_never_over_an_existing_file_without_force(src, tmp_path, existing):
    dst = tmp_path / "o.png"
    if existing == "foreign file":
        dst.write_bytes(b"keep me")
    elif existing == "our own output":
        compress_file(src, dst, FileOptions(n_colors=4))
    else:
        dst.symlink_to(tmp_path / "nowhere.png")
    before = _files(tmp_path)
    with pytest.raises(OutputExistsError, match="o.png: already exists"):
        compress_file(src, dst, FileOptions(n_colors=K))
    assert _files(tmp_path) == before
    outcome = compress_file(src, dst, FileOptions(n_colors=K, force=True))
    assert outcome.status == "done" and not dst.is_symlink()
    np.testing.assert_array_equal(_pixels(dst), _expected(src))
    assert not (tmp_path / "nowhere.png").exists()


# --------------------------------------------------------------------- resume


@pytest.mark.parametrize("name", ["nodir/", "notes/", "x.png/", "notes/."])
@pytest.mark.parametrize("force", [False, True])
def test_an_output_spelled_as_a_folder_is_refused_before_any_work(src, tmp_path, monkeypatch, name, force):
    # Path(dst) drops a final "/": "nodir/" was written as the file nodir, and with force "notes/" over
    # the unrelated file notes (kmeans-pngquant --ext=/ gave such names). pngquant: "cannot open ... for
    # writing", exit 16 (OSError); refused before the image is quantized
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").write_text("mine")
    before = _files(tmp_path)
    monkeypatch.setattr(_files_module, "_compress", lambda *a, **k: pytest.fail("quantized"))
    with pytest.raises(IsADirectoryError, match="names a folder"):
        compress_file(src, name, FileOptions(n_colors=K, force=force))
    assert _files(tmp_path) == before


def test_an_existing_folder_as_output_exists_or_is_refused_before_any_work(src, tmp_path, monkeypatch):
    # as pngquant: without force it exists (exit 15), with force it cannot be written (16)
    (tmp_path / "d").mkdir()
    monkeypatch.setattr(_files_module, "_compress", lambda *a, **k: pytest.fail("quantized"))
    for name in ("d", "d/"):
        with pytest.raises(OutputExistsError):
            compress_file(src, str(tmp_path / name), FileOptions(n_colors=K))
        with pytest.raises(IsADirectoryError):
            compress_file(src, str(tmp_path / name), FileOptions(n_colors=K, force=True))
    assert list((tmp_path / "d").iterdir()) == []


def test_resume_skips_an_output_whose_stamp_matches(src, tmp_path):
    dst = tmp_path / "o.png"
    opts = FileOptions(n_colors=K, resume=True)
    first = compress_file(src, dst, opts)
    assert first.status == "done"
    np.testing.assert_array_equal(_pixels(dst), _expected(src))  # the stamp changes no pixel
    stamp = read_stamp(dst)
    assert stamp["options"]["n_colors"] == K and stamp["n_colors_used"] == K
    with Image.open(dst) as im:
        im.load()  # CRCs are checked
        assert im.text[STAMP_KEY] == json.dumps(stamp, sort_keys=True, separators=(",", ":"))
    data, mtime = dst.read_bytes(), dst.stat().st_mtime_ns
    again = compress_file(src, dst, opts)
    assert again.status == "skipped" and again.result is None
    assert (again.n_colors_used, again.mse) == (first.n_colors_used, pytest.approx(first.mse))
    assert (again.input_bytes, again.output_bytes) == (first.input_bytes, first.output_bytes)
    assert dst.read_bytes() == data and dst.stat().st_mtime_ns == mtime


def test_resume_removes_the_temporary_file_of_an_output_it_skips(src, tmp_path):
    """A run killed between linking its temporary file into place and removing it leaves a whole
    output and its temporary file (write_atomic); the next run skips the output and removes the
    temporary file (CI once found it left behind after a killed folder run)."""
    dst = tmp_path / "o.png"
    opts = FileOptions(n_colors=K, resume=True)
    assert compress_file(src, dst, opts).status == "done"
    leftover = tmp_path / ".o.png.0123456789ab.tmp"
    leftover.write_bytes(dst.read_bytes())
    linked = tmp_path / ".o.png.ba9876543210.tmp"  # killed after linking it into place: the output itself
    os.link(dst, linked)
    hour_ago = time.time() - 3600
    os.utime(leftover, (hour_ago, hour_ago))
    other = tmp_path / ".p.png.0123456789ab.tmp"
    other.write_bytes(b"partial")
    os.utime(other, (hour_ago, hour_ago))
    assert compress_file(src, dst, opts).status == "skipped"
    assert not leftover.exists() and not linked.exists() and other.exists()


def test_resume_leaves_the_fresh_temporary_file_of_another_run_alone(src, tmp_path):
    """Two runs into one folder: a temporary file for the same output, written a moment ago, is
    another process's, which links it into place next; removing it made that process fail
    ('No such file or directory' on the temporary file's name). Only stale ones are removed."""
    fcntl = pytest.importorskip("fcntl", reason="no file locks here: temporary files are told apart by age")
    dst = tmp_path / "o.png"
    live = tmp_path / ".o.png.0123456789ab.tmp"
    with open(live, "wb") as fh:  # as write_atomic holds its own: open and locked until renamed
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.write(b"being written by another run")
        fh.flush()
        assert compress_file(src, dst, FileOptions(n_colors=K, resume=True)).status == "done"
        assert live.read_bytes() == b"being written by another run"
        assert compress_file(src, dst, FileOptions(n_colors=K, resume=True)).status == "skipped"
        assert live.exists()
    assert compress_file(src, dst, FileOptions(n_colors=K, resume=True)).status == "skipped"
    assert not live.exists()  # its writer gone (killed), it is a leftover


def test_resume_skips_an_up_to_date_output_another_run_wrote_meanwhile(src, tmp_path, monkeypatch):
    """Two runs of one command: both find no output, both compress, the second to write finds the
    first's output there. It is up to date (same input, same options): skipped, not an error."""
    opts = FileOptions(n_colors=K, resume=True)
    dst, elsewhere = tmp_path / "o.png", tmp_path / "sub" / "o.png"
    assert compress_file(src, elsewhere, opts).status == "done"
    real = _files_module.write_atomic

    def other_run_first(path, data, *, overwrite=False):
        Path(path).write_bytes(elsewhere.read_bytes())  # the other run links its output into place first
        return real(path, data, overwrite=overwrite)

    monkeypatch.setattr(_files_module, "write_atomic", other_run_first)
    outcome = compress_file(src, dst, opts)
    assert outcome.status == "skipped" and outcome.output_bytes == dst.stat().st_size
    assert dst.read_bytes() == elsewhere.read_bytes()
    # Written meanwhile by another program, or with other options: still refused.
    for other in (b"not ours", None):
        monkeypatch.setattr(_files_module, "write_atomic", real)
        dst.unlink()
        if other is None:
            compress_file(src, elsewhere, FileOptions(n_colors=4, resume=True, force=True))
        theirs = elsewhere.read_bytes() if other is None else other

        def someone_first(path, data, *, overwrite=False, theirs=theirs):
            Path(path).write_bytes(theirs)
            return real(path, data, overwrite=overwrite)

        monkeypatch.setattr(_files_module, "write_atomic", someone_first)
        with pytest.raises(OutputExistsError, match="already exists"):
            compress_file(src, dst, opts)
        assert dst.read_bytes() == theirs


@pytest.mark.parametrize(
    "change",
    ["n_colors", "random_state", "space", "dither", "strip", "quality", "psnr", "palette", "input"],
)
def test_resume_redoes_an_output_when_options_or_input_changed(src, tmp_path, change):
    dst = tmp_path / "o.png"
    compress_file(src, dst, FileOptions(n_colors=K, resume=True))
    old = dst.read_bytes()
    changed = {
        "n_colors": {"n_colors": 4},
        "random_state": {"random_state": 1},
        "space": {"space": "lab"},
        "dither": {"dither": True},
        "strip": {"strip": True},
        "quality": {"quality": (0.0, 100.0)},  # pngquant's scale: 100 is out of reach, so all K colours
        "psnr": {"psnr": (20.0, 30.0)},
        "palette": {"palette": np.array([[0, 0, 0], [255, 255, 255]], np.uint8)},
        "input": {},
    }[change]
    if change == "input":
        Image.fromarray(synthetic_photo(40, 50, seed=2)).save(src)
    opts = FileOptions(**{"n_colors": K, "resume": True, **changed})
    outcome = compress_file(src, dst, opts)
    assert outcome.status == "done" and outcome.result is not None
    if change in ("n_colors", "random_state", "space", "dither", "input"):
        reference = compress(src, **{"n_colors": K, **changed}).image
        np.testing.assert_array_equal(_pixels(dst), reference)
    if change in ("random_state", "strip"):
        assert dst.read_bytes() != old  # same pixels may come out, but the stamp says what changed
    assert {k: read_stamp(dst).get(k) for k in opts.stamp()} == opts.stamp()
    assert compress_file(src, dst, opts).status == "skipped"  # and now it is up to date


@pytest.mark.parametrize("dropped", [False, True], ids=["added", "dropped"])
@pytest.mark.parametrize("option", ["strip", "effort", "palette"])
def test_resume_redoes_an_output_when_an_option_is_added_or_dropped(src, tmp_path, option, dropped):
    # These fields are stamped only away from their defaults: an output made with --strip,
    # --effort 0 or a given palette passed for up to date once the option was dropped.
    value = {"strip": True, "effort": 0, "palette": np.array([[0, 0, 0], [255, 255, 255]], np.uint8)}[option]
    given, plain = FileOptions(n_colors=K, resume=True, **{option: value}), FileOptions(n_colors=K, resume=True)
    before, after = (given, plain) if dropped else (plain, given)
    dst = tmp_path / "o.png"
    compress_file(src, dst, before)
    outcome = compress_file(src, dst, after)
    assert outcome.status == "done"
    fresh = tmp_path / "fresh.png"  # what these options make with no earlier output there
    compress_file(src, fresh, after)
    assert dst.read_bytes() == fresh.read_bytes()
    if option == "palette" and dropped:
        np.testing.assert_array_equal(_pixels(dst), _expected(src))
    assert compress_file(src, dst, after).status == "skipped"


@pytest.mark.parametrize("existing", ["foreign file", "output written without resume"])
def test_resume_refuses_an_existing_file_without_a_stamp(src, tmp_path, existing):
    dst = tmp_path / "o.png"
    if existing == "foreign file":
        Image.fromarray(synthetic_photo(10, 10)).save(dst)
    else:
        compress_file(src, dst, FileOptions(n_colors=K))
    assert read_stamp(dst) is None
    before = _files(tmp_path)
    with pytest.raises(OutputExistsError, match="not written by kmeans-compress"):
        compress_file(src, dst, FileOptions(n_colors=K, resume=True))
    assert _files(tmp_path) == before
    assert compress_file(src, dst, FileOptions(n_colors=K, resume=True, force=True)).status == "done"
    assert read_stamp(dst) is not None


def test_resume_never_replaces_an_output_made_from_another_input(src, tmp_path):
    """A stamped output made from another input file (another name) is not "this input, changed":
    replacing it would lose another picture (x.jpg's output over x.png compressed in place)."""
    other = tmp_path / "other.png"
    Image.fromarray(synthetic_photo(40, 50, seed=2)).save(other)
    dst = tmp_path / "o.png"
    opts = FileOptions(n_colors=K, resume=True)
    assert compress_file(other, dst, opts).status == "done"
    before = _files(tmp_path)
    message = f"{dst}: already exists, made by kmeans-compress from other.png"
    with pytest.raises(OutputExistsError, match=re.escape(message)):
        compress_file(src, dst, opts)
    assert _files(tmp_path) == before
    assert compress_file(src, dst, FileOptions(n_colors=K, resume=True, force=True)).status == "done"
    np.testing.assert_array_equal(_pixels(dst), _expected(src))


@pytest.mark.parametrize("ext", [".kmc.png", ".png"])
def test_resume_redoes_an_earlier_versions_output_of_a_changed_input(monkeypatch, tmp_path, ext):
    """A stamp written before stamps named their input: a changed input's output is redone, as that
    version did (README, "Stop and resume"); only an output beside its input and of its stem
    (``--ext .png``: possibly a PNG compressed in place) is refused without --force."""
    real = _files_module._stamp_text

    def unnamed(*args):  # the stamp as versions before the input's name wrote it
        stamp = json.loads(real(*args))
        del stamp["input_name"]
        return json.dumps(stamp, sort_keys=True, separators=(",", ":"))

    src = tmp_path / "a.jpg"
    Image.fromarray(synthetic_photo(40, 50, seed=1)).save(src, quality=95)
    dst = tmp_path / ("a" + ext)
    opts = FileOptions(n_colors=K, resume=True)
    with monkeypatch.context() as m:
        m.setattr(_files_module, "_stamp_text", unnamed)
        assert compress_file(src, dst, opts).status == "done"
    assert "input_name" not in read_stamp(dst)
    Image.fromarray(synthetic_photo(40, 50, seed=3)).save(src, quality=95)  # the input changed
    if ext == ".kmc.png":
        assert compress_file(src, dst, opts).status == "done"
        np.testing.assert_array_equal(_pixels(dst), _expected(src))
    else:
        with pytest.raises(OutputExistsError, match="from another input, or from an earlier version"):
            compress_file(src, dst, opts)
        assert compress_file(src, dst, FileOptions(n_colors=K, resume=True, force=True)).status == "done"


def test_resume_needs_an_existing_input(tmp_path):
    with pytest.raises(ImageNotFoundError, match="no such file"):
        compress_file(tmp_path / "missing.png", tmp_path / "o.png", FileOptions(resume=True))
    assert list(tmp_path.iterdir()) == []


def test_resume_stamps_an_animation_and_keeps_every_frame(tmp_path):
    src = tmp_path / "anim.gif"
    frames = [Image.fromarray(np.roll(synthetic_photo(20, 24), 6 * i, axis=1)).quantize(64) for i in range(3)]
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=[50, 60, 70], loop=0)
    dst = tmp_path / "anim.png"
    assert compress_file(src, dst, FileOptions(n_colors=K, resume=True)).status == "done"
    got, durations = decoded_frames(dst, "RGB")
    ref = compress(src, n_colors=K)
    assert durations == [50, 60, 70]
    np.testing.assert_array_equal(got[0], ref.image)
    for frame, labels in zip(got[1:], ref.more_labels):
        np.testing.assert_array_equal(frame, ref.palette[labels])
    assert compress_file(src, dst, FileOptions(n_colors=K, resume=True)).status == "skipped"


@pytest.mark.parametrize("name", ["a[1].png", "a*.png", "a?.png", "x.png"])
def test_only_the_outputs_own_leftover_temporary_files_are_removed(src, tmp_path, name):
    # The output's name was a glob pattern: a[1].png removed .a1.png.*.tmp (another output's file,
    # perhaps still being written) and kept its own; x.png's pattern also took x.png.kmc.png's.
    out = tmp_path / "out"
    out.mkdir()
    own = out / f".{name}.0123456789ab.tmp"
    others = [
        out / f".{n}.0123456789ab.tmp" for n in ("a1.png", "ab.png", "a[1].png.kmc.png", "x.png.kmc.png", "a.png")
    ]
    others = [p for p in others if p != own]
    hour_ago = time.time() - 3600  # leftovers of a killed run (a fresh one may be another run's)
    for p in [own, *others]:
        p.write_bytes(b"partial")
        os.utime(p, (hour_ago, hour_ago))
    assert compress_file(src, out / name, FileOptions(n_colors=K)).status == "done"
    assert sorted(p.name for p in out.iterdir()) == sorted([name, *(p.name for p in others)])
    np.testing.assert_array_equal(_pixels(out / name), _expected(src))


# --------------------------------------------------------------------- skip_if_larger


@pytest.mark.parametrize("to_file", [True, False])
def test_skip_if_larger_writes_nothing_and_reports_larger(tmp_path, to_file):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    src = tmp_path / "tiny.jpg"
    Image.fromarray(noise).save(src, quality=5)  # already smaller than any 16-colour PNG of it
    dst = tmp_path / "tiny.png" if to_file else None
    before = _files(tmp_path)
    outcome = compress_file(src, dst, FileOptions(n_colors=16, skip_if_larger=True))
    assert outcome.status == "larger"
    assert "tiny.jpg" in outcome.message and "not smaller than the input" in outcome.message
    assert outcome.data is None and outcome.output_bytes is None
    assert outcome.input_bytes == src.stat().st_size
    assert _files(tmp_path) == before
    # without the flag the same call writes it
    assert compress_file(src, dst, FileOptions(n_colors=16)).status == "done"


def test_skip_if_larger_writes_a_smaller_result(src, tmp_path):
    dst = tmp_path / "o.png"
    outcome = compress_file(src, dst, FileOptions(n_colors=K, skip_if_larger=True))
    assert outcome.status == "done" and outcome.output_bytes < src.stat().st_size
    np.testing.assert_array_equal(_pixels(dst), _expected(src))


def _indexed_256(tmp_path: Path) -> Path:
    """A noisy gradient already quantized to 256 colours: a re-quantized copy is smaller, but not by much."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:150, 0:200]
    img = np.stack([x * 255 / 199, y * 255 / 149, 128 + 100 * np.sin(x / 5.0)], axis=2)
    img += rng.normal(0, 6, img.shape)
    path = tmp_path / "indexed256.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).quantize(256, dither=Image.Dither.NONE).save(path)
    return path


@pytest.mark.parametrize("k", [256, 200, 128, 64])
def test_skip_rule_pngquant_keeps_only_what_pngquants_limit_allows(tmp_path, k):
    # pngquant's --skip-if-larger: kept when at most (input bytes - 1) * max(0.5, (Q/100)**1.5), Q the quality
    # reached; the rule checked here on our own Q and sizes (pngquant's Q differs: its own error measure)
    src = _indexed_256(tmp_path)
    n_in = src.stat().st_size
    made = compress_file(src, None, FileOptions(n_colors=k, speed=4))
    n_out, q = len(made.data), made.result.report.quality
    limit = (n_in - 1) * max(0.5, (q / 100) ** 1.5)
    dst = tmp_path / "o.png"
    outcome = compress_file(src, dst, FileOptions(n_colors=k, speed=4, skip_if_larger=True, skip_rule="pngquant"))
    assert outcome.status == ("larger" if n_out > limit else "done")
    assert dst.exists() == (outcome.status == "done")
    if outcome.status == "larger":
        assert f"quality {q}" in outcome.message and "nothing written (--skip-if-larger)" in outcome.message
    # kmeans-compress's rule keeps any smaller result
    assert n_out < n_in
    assert compress_file(src, None, FileOptions(n_colors=k, speed=4, skip_if_larger=True)).status == "done"


def test_skip_rule_pngquant_skips_a_smaller_result_of_low_quality(tmp_path):
    # the case the rule is for: smaller than the input, yet not by as much as the quality lost
    src = _indexed_256(tmp_path)
    outcome = compress_file(src, None, FileOptions(n_colors=200, speed=4, skip_if_larger=True, skip_rule="pngquant"))
    assert outcome.status == "larger"


@pytest.mark.parametrize(
    "n, quality, most",
    [(1001, None, 1000), (1001, 100, 1000), (1001, 64, 512), (1001, 81, 729), (1001, 50, 500), (1001, 0, 500)],
)
def test_largest_kept(n, quality, most):
    from kmeans_compress._files import largest_kept

    assert largest_kept(n, quality) == pytest.approx(most)
    assert largest_kept(None, quality) == float("inf")


def test_without_keep_original_the_pixels_are_let_go_and_the_file_is_the_same(src):
    # The command line lets the decoded pixels go before encoding (memory) unless --preview needs them.
    kept = compress_file(src, None, FileOptions(n_colors=K))
    dropped = compress_file(src, None, FileOptions(n_colors=K, keep_original=False))
    assert dropped.data == kept.data
    assert kept.result.original.shape == (40, 50, 3)
    assert dropped.result.original.size == 0
    assert dropped.result.report == kept.result.report or dropped.result.report.mse == kept.result.report.mse


def test_read_stamp_of_a_deeply_nested_text_is_no_stamp(tmp_path):
    """A PNG whose stamp chunk holds 200,000 '[' (a folder walk reads every PNG's stamp): no stamp,
    no RecursionError escaping as a traceback."""
    from kmeans_compress._encode import add_text_chunk

    buf = io.BytesIO()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(buf, "PNG")
    path = tmp_path / "deep.png"
    path.write_bytes(add_text_chunk(buf.getvalue(), STAMP_KEY, "[" * 200_000))
    assert read_stamp(path) is None
