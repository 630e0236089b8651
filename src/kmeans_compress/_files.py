"""One file in, one file out: the rules every front end shares.

:func:`compress_file` is the only way the command line (one file or a folder),
worker processes, Dask workers and any later front end turn an input file into
an output file. It holds the rules, so they cannot drift apart:

- an input is never overwritten unless ``force`` (same-file check, symlinks and
  hard links included);
- an existing output is never replaced unless ``force``, or, with ``resume``,
  when it carries our stamp for this input before it changed, or for other
  options (a stamp naming another input file is another picture: refused);
- with ``resume``, an output whose stamp matches the input bytes and the options
  is up to date: nothing is done (status ``"skipped"``);
- with ``skip_if_larger``, nothing is written when the result is not smaller
  than the input file, or with ``skip_rule="pngquant"`` when it is larger than
  pngquant's limit for the quality its palette reached (without dithering, as pngquant judges it:
  :func:`largest_kept`; status ``"larger"``);
- the output appears whole or not at all (:func:`write_atomic`).

Resuming: every PNG written with ``resume`` carries a ``tEXt`` chunk (key
``kmeans-compress``) holding the options, the package version, and the SHA-256
and file name of the input it came from. An output without a stamp is someone else's file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._compress import CompressionResult, compress, compress_with_palette
from ._decode import DEFAULT_MAX_PIXELS, LoadedImage
from ._encode import (
    DEFAULT_EFFORT,
    PNG_SIGNATURE,
    add_text_chunk,
    is_temp_of,
    names_a_folder,
    output_format,
    remove_stale_temp,
    write_atomic,
)
from ._exceptions import ImageNotFoundError, OutputExistsError, TargetNotMetError
from ._search import compress_to_psnr, compress_to_quality, compress_to_size

__all__ = [
    "STAMP_KEY",
    "FileOptions",
    "FileOutcome",
    "OutputClaims",
    "compress_file",
    "largest_kept",
    "refuse_input",
    "read_stamp",
    "same_file",
]

#: Key of the PNG text chunk that stamps an output with what it was made from.
STAMP_KEY = "kmeans-compress"

Status = Literal["done", "skipped", "larger"]
SkipRule = Literal["not smaller", "pngquant"]


@dataclass(frozen=True)
class FileOptions:
    """Everything that decides what :func:`compress_file` writes: small and picklable.

    The first group is :func:`kmeans_compress.compress`'s options; ``quality``
    (MIN, MAX on pngquant's 0-100 scale), ``psnr`` (a PSNR range in dB) or
    ``max_bytes`` search the palette size instead (``n_colors`` is then the
    largest size tried), ``palette`` maps every pixel to a given palette instead
    of fitting one (``--map``, a shared palette), and ``fixed_colors`` are entries
    kept in a fitted one (``--keep``). ``speed`` is pngquant's 1 (best, the
    default) to 11 (fastest). The rest are the file rules of the module
    docstring; ``strip`` writes no metadata (ICC profile), ``effort`` is that of
    the lossless PNG pass (0-7; :func:`kmeans_compress.optimize_png`).
    """

    n_colors: int = 16
    random_state: int = 0
    space: str = "rgb"
    dither: bool | float = False
    fixed_colors: tuple[tuple[int, int, int], ...] | None = None
    n_init: int = 1
    max_iter: int = 300
    tol: float = 1e-4
    speed: int = 1
    max_pixels: int = DEFAULT_MAX_PIXELS
    frame: int | None = None
    quality: tuple[float, float] | None = None
    psnr: tuple[float, float] | None = None
    max_bytes: int | None = None
    palette: np.ndarray | None = None
    strip: bool = False
    effort: int = DEFAULT_EFFORT
    force: bool = False
    skip_if_larger: bool = False
    #: What ``skip_if_larger`` keeps (:func:`largest_kept`): a result smaller than the input ("not
    #: smaller", kmeans-compress), or one within pngquant's limit for the quality reached ("pngquant",
    #: kmeans-pngquant). Not part of the stamp: it decides whether a file is written, not its bytes.
    skip_rule: SkipRule = "not smaller"
    resume: bool = False
    #: Measure the SSIM for the report (a report a person reads); not part of the stamp: it changes no byte.
    with_ssim: bool = False
    #: Keep the decoded input on the result (``result.original``). Without it the pixels are let go
    #: once the report is made, before the file is encoded: the command line needs them only for a
    #: --preview, and at 24 Mpx they are 72 MB of the peak while oxipng runs (benchmarks/RESULTS.md).
    keep_original: bool = True
    #: The output's format whatever its name ("PNG" for kmeans-pngquant: pngquant writes PNG to any
    #: ``--output`` name, such as ``out.tmp``); None: by the suffix. Not part of the stamp: a stamped
    #: output is always a PNG.
    fmt: str | None = None
    #: Create the output's missing folders (folder mode mirrors its input tree); kmeans-pngquant does
    #: not, as pngquant (an OSError when writing, once the image is decoded and quantized).
    make_dirs: bool = True

    def compress_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`kmeans_compress.compress`, every one spelled out."""
        return {
            "n_colors": self.n_colors,
            "random_state": self.random_state,
            "space": self.space,
            "dither": self.dither,
            "fixed_colors": self.fixed_colors,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "speed": self.speed,
            "max_pixels": self.max_pixels,
            "frame": self.frame,
        }

    def stamp(self) -> dict[str, Any]:
        """What an output's stamp must hold for the output to be up to date (besides the input's hash)."""
        from . import __version__

        opts = {k: _jsonable(v) for k, v in sorted(self.compress_options().items())}
        for name in ("quality", "psnr", "max_bytes"):
            if getattr(self, name) is not None:
                opts[name] = _jsonable(getattr(self, name))
        s: dict[str, Any] = {"version": __version__, "options": opts}
        # Left out at their defaults, so that a stamp (and the file's bytes) stays the one earlier runs
        # wrote: a field missing from a stamp means its default. An output is up to date only when its
        # stamp holds exactly these fields (_up_to_date), so dropping an option is a change too.
        if self.strip:
            s["strip"] = True
        if self.effort != DEFAULT_EFFORT:  # the bytes differ, the pixels not
            s["effort"] = self.effort
        if self.palette is not None:
            import hashlib  # here, not at import: it loads OpenSSL, which plain compress() never needs

            s["palette_sha256"] = hashlib.sha256(np.ascontiguousarray(self.palette, np.uint8).tobytes()).hexdigest()
        return s


@dataclass
class FileOutcome:
    """What :func:`compress_file` did.

    ``status`` is ``"done"`` (written, or returned in ``data`` when there was
    no output path), ``"skipped"`` (the output was up to date; ``result`` is
    None and the figures come from its stamp) or ``"larger"`` (nothing written;
    ``message`` says why).
    """

    status: Status
    result: CompressionResult | None = None
    data: bytes | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    n_colors_used: int | None = None
    mse: float | None = None
    message: str | None = None
    seconds: float = 0.0


def compress_file(
    src: str | os.PathLike[str] | LoadedImage,
    dst: str | os.PathLike[str] | None,
    options: FileOptions | None = None,
) -> FileOutcome:
    """Compress ``src`` into ``dst`` by the rules of the module docstring.

    Parameters
    ----------
    src : path or LoadedImage
        The input file (a path is needed with ``resume``); an already loaded
        image (stdin, say) has no file rules of its own.
    dst : path or None
        The output; its type follows the suffix (.png, .gif, .webp) unless
        ``options.fmt`` is given, and missing folders are created unless not
        ``options.make_dirs``. None writes nothing: the encoded PNG is returned
        in ``FileOutcome.data`` (standard output, a web page).
    options : FileOptions

    Raises
    ------
    UnsupportedImageError, OutputExistsError, TargetNotMetError, OSError, ValueError
        One-line messages naming the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from kmeans_compress import sample_image_path
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "cat.png"
    >>> o = compress_file(sample_image_path(), out, FileOptions(n_colors=8, resume=True))
    >>> o.status, o.output_bytes == out.stat().st_size
    ('done', True)
    >>> stamped = out.with_name("stamped.png")  # resume: outputs carry a stamp, so a rerun skips them
    >>> [compress_file(sample_image_path(), stamped, FileOptions(n_colors=8, resume=True)).status for _ in "12"]
    ['done', 'skipped']
    """
    start = time.perf_counter()
    opts = FileOptions() if options is None else options
    path = None if isinstance(src, LoadedImage) else Path(src)
    target = None if dst is None else Path(dst)
    if opts.resume and path is None:
        raise ValueError("resume needs the input as a file path (its bytes are hashed into the stamp)")
    if dst is not None and names_a_folder(dst) and not os.path.isdir(dst):
        # Path() drops a final separator: "out/" was written as the file "out" (over an existing
        # one with force). A folder that exists goes on to the rules below (exists: refused).
        raise IsADirectoryError(f"{os.fspath(dst)}: names a folder, not an output file")
    overwrite = opts.force
    digest = None
    if path is not None:
        if opts.resume and not path.is_file():
            raise ImageNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
        if target is not None and not opts.force and same_file(path, target):
            raise OutputExistsError(f"{target}: is the input file itself (use --force to overwrite it)")
    if target is not None and opts.resume:
        assert path is not None
        digest = _sha256_file(path)
        if os.path.lexists(target) and not opts.force:
            stamp = read_stamp(target)
            if stamp is None:
                raise OutputExistsError(
                    f"{target}: already exists and was not written by kmeans-compress (use --force to overwrite)"
                )
            if _up_to_date(stamp, opts, digest):
                # A run killed between linking its temporary file into place and removing it left
                # both (write_atomic): the output is whole, its temporary file goes now.
                _remove_stale_temps(target)
                return _skipped(stamp, path, target, start)
            made_from = stamp.get("input_name")
            if made_from is not None:
                another = made_from != path.name
            else:
                # A stamp of an earlier version names no input: a changed hash is this input changed
                # (redone, as that version did), but for an output beside its input and of its stem
                # (--ext .png: x.jpg's output is x.png), which may be x.png compressed in place.
                another = (
                    stamp.get("input_sha256") != digest
                    and target.parent.resolve() == Path(path).parent.resolve()
                    and target.stem == Path(path).stem
                )
            if another:
                # Made from another input file (x.jpg's output over x.png compressed in place): not this
                # input changed, but another picture, which replacing would lose.
                source = made_from or "another input, or from an earlier version of this one (its stamp names none)"
                raise OutputExistsError(
                    f"{target}: already exists, made by kmeans-compress from {source}, not from {path.name} "
                    "(use --force to overwrite)"
                )
            overwrite = True  # our own output, made from this input before it changed, or with other options
    elif target is not None and not opts.force and os.path.lexists(target):
        raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")

    if target is not None and target.is_dir():  # with force (without: refused above, as existing)
        raise IsADirectoryError(f"{target}: is a directory")  # before any work, as write_atomic would after it
    fmt = "PNG" if target is None else opts.fmt or output_format(target)
    # A size target holds for the file as written: the stamp's chunk comes out of its budget.
    reserve = 0 if digest is None else _stamp_bound(opts, digest, path.name if path is not None else "")
    result = _compress(src, opts, fmt, reserve)
    if not opts.keep_original:
        result.original = np.empty((0, 0, result.original.shape[2]), dtype=np.uint8)
    rep = result.report
    data = result.encode(fmt, strip=opts.strip, effort=opts.effort)
    # The stamp goes in after the lossless pass, so that pass can never drop it.
    if digest is not None:
        assert path is not None
        data = add_text_chunk(data, STAMP_KEY, _stamp_text(opts, digest, path.name, rep.n_colors_used, rep.mse))
    outcome = FileOutcome(
        status="done", result=result, input_bytes=rep.input_bytes, n_colors_used=rep.n_colors_used, mse=rep.mse
    )
    # pngquant's rule judges the palette's own quality, without dithering (what its -v prints, and
    # what --quality judged): dithering raises the error of the pixels written, not of the palette.
    limit = largest_kept(rep.input_bytes, rep.palette_quality if opts.skip_rule == "pngquant" else None)
    if opts.skip_if_larger and rep.input_bytes and len(data) > limit:
        outcome.status = "larger"
        name = src if path is not None else rep.input_path or "input"
        if opts.skip_rule == "pngquant":
            outcome.message = (
                f"{name}: the result ({len(data):,} bytes, quality {rep.palette_quality}) is larger than "
                f"{int(limit):,} bytes, the most kept at that quality from an input of {rep.input_bytes:,} bytes; "
                "nothing written (--skip-if-larger)"
            )
        else:
            outcome.message = (
                f"{name}: the result ({len(data):,} bytes) is not smaller than the input "
                f"({rep.input_bytes:,} bytes); nothing written (--skip-if-larger)"
            )
    elif target is None:
        outcome.data = data
        outcome.output_bytes = len(data)
    else:
        if opts.make_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(target)
        try:
            written = write_atomic(target, data, overwrite=overwrite)
        except OutputExistsError:
            # Written meanwhile: by another run of the same command (two runs into one folder both
            # found no output), an output up to date, which this run skips as if it had been there.
            stamp = None if digest is None else read_stamp(target)
            if stamp is None or path is None or digest is None or not _up_to_date(stamp, opts, digest):
                raise
            return _skipped(stamp, path, target, start)
        outcome.output_bytes = len(data)
        result.report = dataclasses.replace(rep, output_bytes=len(data), output_path=str(written))
    outcome.seconds = time.perf_counter() - start
    return outcome


def largest_kept(input_bytes: int | None, quality: int | None = None) -> float:
    """The most bytes a result may take under ``skip_if_larger``, from an input of ``input_bytes``.

    Without a ``quality``, one byte less than the input: a result is kept only when it is
    smaller. With the quality Q the result reached (0-100, pngquant's scale: that of the palette,
    without dithering, ``CompressionReport.palette_quality``), pngquant's rule:
    ``(input_bytes - 1) * max(0.5, (Q / 100) ** 1.5)``; a result that lost quality must save
    more, but half the input's size is always worth keeping (pngquant's documented intent: lose no
    more quality than is gained in size). No input size (an array): no limit.

    Examples
    --------
    >>> largest_kept(1001), largest_kept(1001, 100), largest_kept(1001, 64), largest_kept(1001, 20)
    (1000, 1000.0, 512.0, 500.0)
    """
    if not input_bytes:
        return float("inf")
    if quality is None:
        return input_bytes - 1
    return (input_bytes - 1) * max(0.5, (quality / 100) ** 1.5)


def _skipped(stamp: dict[str, Any], path: Path, target: Path, start: float) -> FileOutcome:
    """The outcome of an output found up to date: its figures from its ``stamp``."""
    mse = stamp.get("mse")
    return FileOutcome(
        status="skipped",
        input_bytes=path.stat().st_size,
        output_bytes=target.stat().st_size,
        n_colors_used=stamp.get("n_colors_used"),
        mse=None if mse is None else float(mse),
        seconds=time.perf_counter() - start,
    )


#: What a stamp holds besides :meth:`FileOptions.stamp`: the input's hash and file name (not its folder: an
#: output stays up to date when the folders move), and the figures the report shows.
_STAMP_FIGURES = ("input_sha256", "input_name", "n_colors_used", "mse")


def _up_to_date(stamp: dict[str, Any], opts: FileOptions, digest: str) -> bool:
    """Whether an output with ``stamp`` is what ``opts`` would make of the input whose SHA-256 is ``digest``.

    The stamp's fields, but for the figures, must be exactly ``opts.stamp()``: not only those
    ``opts`` sets, as a field written only when not at its default (``strip``, ``effort``, the
    palette's hash of ``--map`` or ``--shared-palette``) is then missing from ``opts.stamp()``
    and an output made with that option would pass for one made without it.
    """
    options = {k: v for k, v in stamp.items() if k not in _STAMP_FIGURES}
    return options == opts.stamp() and stamp.get("input_sha256") == digest


def _stamp_text(opts: FileOptions, digest: str, name: str, n_colors_used: int, mse: float) -> str:
    # ASCII JSON (a name that is not UTF-8 as \udcXX escapes, which json.loads turns back into it).
    stamp = dict(opts.stamp(), input_sha256=digest, input_name=name, n_colors_used=n_colors_used, mse=mse)
    return json.dumps(stamp, sort_keys=True, separators=(",", ":"))


def _stamp_bound(opts: FileOptions, digest: str, name: str) -> int:
    """The most bytes the stamp's tEXt chunk can take: its text with the longest figures, plus the
    chunk's length, type, key, NUL and CRC."""
    longest_float = -2.2250738585072014e-308  # no float's JSON form is longer
    text = _stamp_text(opts, digest, name, 1000, longest_float)
    return 4 + 4 + len(STAMP_KEY) + 1 + len(text) + 4


def _compress(
    src: str | os.PathLike[str] | LoadedImage, opts: FileOptions, fmt: str, reserve: int = 0
) -> CompressionResult:
    """The one call into the pipeline: a given palette, a quality or size target, or a palette size.

    ``reserve`` bytes of a size target are kept for what is added after encoding (the stamp).
    """
    if opts.palette is not None:
        return compress_with_palette(
            src,
            opts.palette,
            dither=opts.dither,
            max_pixels=opts.max_pixels,
            frame=opts.frame,
            with_ssim=opts.with_ssim,
        )
    kwargs = opts.compress_options()
    kwargs["with_ssim"] = opts.with_ssim
    k = kwargs.pop("n_colors")
    if opts.quality is not None:
        return compress_to_quality(src, *opts.quality, max_colors=k, **kwargs)
    if opts.psnr is not None:
        return compress_to_psnr(src, *opts.psnr, max_colors=k, **kwargs)
    if opts.max_bytes is not None:
        budget = opts.max_bytes - reserve
        try:
            if budget < 1:
                raise TargetNotMetError("")
            return compress_to_size(src, budget, fmt=fmt, strip=opts.strip, effort=opts.effort, max_colors=k, **kwargs)
        except TargetNotMetError as exc:
            if not reserve:
                raise
            raise TargetNotMetError(  # a reserve means a resume stamp, which means src is a path
                f"{src}: no palette size fits in {opts.max_bytes:,} bytes with the resume stamp ({reserve} bytes)"
            ) from exc
    return compress(src, k, **kwargs)


def read_stamp(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The stamp of a PNG written by :func:`compress_file` with ``resume``; None if not a PNG, no stamp, unreadable."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != PNG_SIGNATURE:
                return None
            while True:
                hdr = fh.read(8)
                if len(hdr) < 8:
                    return None
                length, ctype = struct.unpack(">I4s", hdr)
                if ctype in (b"IDAT", b"IEND"):
                    return None
                data = fh.read(length)
                fh.read(4)
                if ctype == b"tEXt":
                    key, _, value = data.partition(b"\0")
                    if key == STAMP_KEY.encode("latin-1"):
                        stamp = json.loads(value.decode("latin-1"))
                        return stamp if isinstance(stamp, dict) else None
    except (OSError, ValueError, struct.error, RecursionError):  # JSON nested 200,000 deep: RecursionError
        return None


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return repr(v)


def _sha256_file(path: Path) -> str:
    """The input's SHA-256; an input that cannot be read fails as the decoder says it (it is read first
    here: folder mode and one file give the same message, exit 3)."""
    import hashlib

    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except PermissionError:
        raise ImageNotFoundError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ImageNotFoundError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return h.hexdigest()


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file, symlinks and hard links included (False when either is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_input(target: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]], option: str) -> None:
    """Refuse a file the run writes besides its outputs (``--preview``, ``--report``) when it is one of ``inputs``.

    The same-file check of :func:`compress_file`, but without its ``force``
    escape: ``--force`` lets an output replace its own input (an image
    compressed in place, as pngquant's ``--ext .png --force``), never lets a
    figure or a report replace an image. ``'-'`` (stdin) is no file.

    Raises
    ------
    OutputExistsError
        ``target`` is one of ``inputs``.
    """
    if not os.path.lexists(target):  # a file that does not exist is no input; spares a stat per input
        return
    for src in inputs:
        if str(src) != "-" and same_file(src, target):
            raise OutputExistsError(f"{option} {target}: is the input file itself; choose another name")


class OutputClaims:
    """The output paths of a run's inputs, so that two inputs never write the same file.

    Folder mode and several files on the command line plan their outputs with
    it (``a/x.png`` and ``b/x.png`` into one folder, or ``x.png`` and ``x.jpg``
    beside each other): the later input gets the message of
    :meth:`claim` instead of silently replacing, or being refused by, the
    earlier one's output. Given the run's ``inputs``, it also knows them
    (:meth:`other_input`): an output must never be another input, which it would
    replace before that input is read.
    """

    def __init__(self, inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
        self._taken: dict[str, str] = {}
        # The inputs by file identity (device, inode), as same_file compares them (symlinks and hard
        # links included): one stat per input, not one per input and output.
        self._inputs: dict[tuple[int, int], str] = {}
        for src in inputs:
            if str(src) != "-":
                try:
                    st = os.stat(src)
                except OSError:
                    continue
                self._inputs.setdefault((st.st_dev, st.st_ino), str(src))

    def claim(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> str | None:
        """Take ``dst`` for ``src``: None, or why not (one line naming the input that has it)."""
        key = os.path.normcase(os.path.abspath(dst))
        if key in self._taken:
            return f"{src}: same output file as {self._taken[key]} ({dst})"
        self._taken[key] = str(src)
        return None

    def other_input(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> str | None:
        """None, or why ``dst`` may not be ``src``'s output: it is the same file as another of the
        inputs, which it would replace (even with ``--force``, which lets an input be only its own output)."""
        try:
            st = os.stat(dst)
        except OSError:
            return None
        other = self._inputs.get((st.st_dev, st.st_ino))
        if other is None:
            # A PNG that an earlier run compressed from a file of its own name (in place: --ext .png
            # --force) carries the stamp, so a folder's walk no longer takes it as an input; it is
            # still that input's, never another's output (x.jpg's over x.png).
            if Path(dst).name == Path(src).name or not _made_from_itself(dst):
                return None
            return (
                f"{dst}: is the input {dst} (compressed by an earlier run), and would be replaced by the output "
                f"of {src} (an input is only ever written as its own output; choose another --ext or -o)"
            )
        if same_file(src, dst):
            return None
        return (
            f"{dst}: is the input {other}, and would be replaced by the output of {src} "
            "(an input is only ever written as its own output; choose another --ext or -o)"
        )


def _made_from_itself(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a PNG whose stamp says it was made from a file of its own name (in place)."""
    if Path(path).suffix.lower() != ".png":
        return False
    stamp = read_stamp(path)
    return stamp is not None and stamp.get("input_name") == Path(path).name


def _remove_stale_temps(dst: Path) -> None:
    """Remove :func:`write_atomic`'s temporary files for ``dst`` left behind by a killed run.

    Only those of ``dst`` itself (:func:`is_temp_of`: another output's may still be being written),
    and only leftovers (:func:`remove_stale_temp`): another process running the same command (two
    runs into one folder, Dask workers) may be about to rename its own into place.
    """
    try:
        with os.scandir(dst.parent) as entries:
            for entry in entries:
                if is_temp_of(entry.name, dst.name):
                    remove_stale_temp(entry.path, dst)
    except OSError:
        pass
