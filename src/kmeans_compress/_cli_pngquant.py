"""``kmeans-pngquant``: pngquant's command line, options and exit codes, over :func:`compress_file`.

A script written for pngquant runs unchanged with the executable's name swapped::

    kmeans-pngquant [options] [ncolors] -- pngfile [pngfile ...]
    kmeans-pngquant [options] [ncolors] - >stdout <stdin

A colour count with no file after it reads stdin too (``kmeans-pngquant 64 < in.png > out.png``),
as pngquant does, from a terminal too.

The options are read as GNU getopt reads pngquant's (options and files in any
order until ``--``, long options by any unambiguous prefix, ``--opt=value`` or
``--opt value``, short options bundled, ``--floyd`` taking its value only after
``=``, pngquant's obsolete spellings such as ``-force`` rewritten first, with a
warning), and mean what they mean there: dithering is on unless ``--nofs``,
``--quality`` is on pngquant's 0-100 scale (:func:`kmeans_compress.quality_to_mse`),
``--speed`` defaults to 4 (11 turns dithering off, whatever ``--floyd``). What cannot be honoured is refused in one line
(``--map``, ``--transbug``, ``--posterize`` above 0).

Exit statuses are pngquant's: 0 done, 1 no input given, 2 an input cannot be
read, 4 bad option or value, 15 an output exists (no ``--force``), 16 an
output cannot be written, 25 an input is not a decodable image (or is a
folder), 98 the result was larger than pngquant's limit for the quality it
reached (``--skip-if-larger``: ``largest_kept`` in ``_files.py``), 99 the
quality minimum was not met. With several files the status is the last
failure's, as in pngquant.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from ._cli_common import STDOUT_CLOSED, announce_compiling, pngquant_quality, write_all
from ._decode import LoadedImage, load_image
from ._exceptions import (
    ImageNotFoundError,
    ImageTooLargeError,
    OptionNotAllowedError,
    OutputExistsError,
    TargetNotMetError,
    UnsupportedImageError,
    caught_warnings,
    message_of,
    warning_text,
)
from ._files import FileOptions, compress_file

PROG = "kmeans-pngquant"
SUCCESS, MISSING_ARGUMENT, READ_ERROR, INVALID_ARGUMENT = 0, 1, 2, 4
NOT_OVERWRITING_ERROR, CANT_WRITE_ERROR, DECODE_ERROR = 15, 16, 25
TOO_LARGE_FILE, TOO_LOW_QUALITY = 98, 99

USAGE = f"""\
{PROG} {__version__}: pngquant's command line over kmeans-compress (K-means palettes).

usage:  {PROG} [options] [ncolors] -- pngfile [pngfile ...]
        {PROG} [options] [ncolors] - >stdout <stdin

options:
  --force           overwrite existing output files (synonym: -f)
  --skip-if-larger  only save converted files if they're smaller than original
  --output file     destination file path to use instead of --ext (synonym: -o)
  --ext new.png     set custom suffix/extension for output filenames
  --quality min-max don't save below min, use fewer colors below max (0-100)
  --speed N         speed/quality trade-off. 1=slow, 4=default, 11=fast & rough
  --nofs            disable Floyd-Steinberg dithering
  --floyd=N         dithering strength, 0-1 (default 1)
  --posterize N     only 0 (refused above: see the README)
  --strip           remove optional metadata
  --verbose         print status messages (synonym: -v)
  --quiet           print nothing but errors (synonym: -q)

ncolors is the largest palette, 2-256 (default 256; 0 means 256). Exit status 99: quality
below min; 98: result not smaller by enough for the quality lost (--skip-if-larger).
"""

# long name -> (argument: "no" / "required" / "optional", short letter or None)
_LONG: dict[str, tuple[str, str | None]] = {
    "force": ("no", "f"),
    "no-force": ("no", None),
    "skip-if-larger": ("no", None),
    "output": ("required", "o"),
    "ext": ("required", None),
    "quality": ("required", "Q"),
    "speed": ("required", "s"),
    "nofs": ("no", None),
    "ordered": ("no", None),
    "floyd": ("optional", None),
    "posterize": ("required", None),
    "strip": ("no", None),
    "verbose": ("no", "v"),
    "quiet": ("no", "q"),
    "iebug": ("no", None),
    "transbug": ("no", None),
    "map": ("required", None),
    "version": ("no", "V"),
    "help": ("no", "h"),
}
_SHORT = {short: name for name, (_, short) in _LONG.items() if short}

# pngquant's obsolete single-dash spellings and what it reads them as (pngquant 2.17, observed): only
# these exact arguments, and only before the first argument that starts with "--" (a long option such
# as --force, or "--" itself: after it they are short options, "--force -ext" is refused as "-e");
# each one with a warning on stderr, even with --quiet. Read as bundled short options instead,
# "-force" was "-f -o rce" (a file named "rce").
OBSOLETE = {
    "-fs": "--floyd=1",
    "-floyd": "--floyd=1",
    "-nofs": "--ordered",
    "-nofloyd": "--ordered",
    "-ordered": "--ordered",
    "-force": "--force",
    "-noforce": "--no-force",
    "-verbose": "--verbose",
    "-noquiet": "--verbose",
    "-quiet": "--quiet",
    "-noverbose": "--quiet",
    "-help": "--help",
    "-version": "--version",
    "-ext": "--ext",
    "-speed": "--speed",
}


class PngquantUsageError(Exception):
    """A bad command line: one line, exit 4 (or 1 when no input was given)."""

    def __init__(self, message: str, status: int = INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Command:
    """A pngquant command line, parsed."""

    n_colors: int = 256
    force: bool = False
    skip_if_larger: bool = False
    output: str | None = None
    ext: str | None = None
    quality: tuple[int, int] | None = None
    speed: int = 4
    dither: bool | float = 1.0  # pngquant's: full Floyd-Steinberg, not compress()'s dither=True (0.5)
    dither_asked: bool = False
    strip: bool = False
    verbose: bool = False
    quiet: bool = False
    show: str | None = None  # "version" or "help"
    files: list[str] = field(default_factory=list)


def parse(argv: Sequence[str]) -> Command:
    """Read ``argv`` as pngquant does (see the module docstring); raise PngquantUsageError."""
    cmd = Command()
    positional: list[str] = []
    args = rewrite_obsolete(argv)[0]
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            positional += args[i:]
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            full = _long_name(name)
            kind, _ = _LONG[full]
            if kind == "no" and eq:
                raise PngquantUsageError(f"option '--{full}' doesn't allow an argument")
            if kind == "required" and not eq:
                if i >= len(args):
                    raise PngquantUsageError(f"option '--{full}' requires an argument")
                value, i = args[i], i + 1
            _apply(cmd, full, value if (eq or kind == "required") else None)
        elif a.startswith("-") and a != "-":
            j = 1
            while j < len(a):
                letter = a[j]
                if letter not in _SHORT:
                    raise PngquantUsageError(f"invalid option -- '{letter}'")
                full = _SHORT[letter]
                if _LONG[full][0] == "required":
                    value = a[j + 1 :]
                    if not value:
                        if i >= len(args):
                            raise PngquantUsageError(f"option requires an argument -- '{letter}'")
                        value, i = args[i], i + 1
                    _apply(cmd, full, value)
                    break
                _apply(cmd, full, None)
                j += 1
        else:
            positional.append(a)
    k = _ncolors(positional[0]) if positional else None
    if k is not None:
        if k and not 2 <= k <= 256:
            raise PngquantUsageError("Number of colors must be between 2 and 256.")
        cmd.n_colors = k or cmd.n_colors  # 0: the default, 256, as pngquant
        positional = positional[1:]
        if not positional:  # "pngquant 16 < in.png > out.png": a colour count and no file reads stdin
            positional = ["-"]
    cmd.files = positional
    if cmd.speed == 11:  # as pngquant 2.17: the fastest speed never dithers, --floyd or not (-or8.png)
        cmd.dither = False
    return cmd


def rewrite_obsolete(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``argv`` with pngquant's obsolete spellings (:data:`OBSOLETE`) replaced, and a warning for each.

    As pngquant: exact arguments only, wherever they stand (an option's value too: ``-o -force``
    writes to ``--force``), up to the first argument that starts with ``--``: a long option
    (``--force -ext .png`` leaves ``-ext`` to be read as short options, refused: ``-e`` is none)
    or ``--`` itself.

    Examples
    --------
    >>> rewrite_obsolete(["-force", "-nofs", "-forcex", "--", "-fs"])[0]
    ['--force', '--ordered', '-forcex', '--', '-fs']
    >>> rewrite_obsolete(["-force", "--strip", "-nofs"])[0]
    ['--force', '--strip', '-nofs']
    """
    args = list(argv)
    notes = []
    for i, a in enumerate(args):
        if a.startswith("--"):
            break
        if a in OBSOLETE:
            args[i] = OBSOLETE[a]
            notes.append(f"option '{a}' has been replaced with '{OBSOLETE[a]}'.")
    return args, notes


def _ncolors(text: str) -> int | None:
    """The colour count a first positional argument stands for, or None when it is a file name.

    As pngquant reads it (C's ``strtoul`` in base 10, the whole argument):
    leading white space and a sign allowed, ASCII digits only (``1_0`` is a
    file name); a negative number wraps around to a huge one.
    """
    m = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", text)
    if m is None:
        return None
    value = int(m.group(2))
    return -value if m.group(1) == "-" and value else value


def _long_name(name: str) -> str:
    if name in _LONG:
        return name
    matches = [n for n in _LONG if n.startswith(name)] if name else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise PngquantUsageError(
            f"option '--{name}' is ambiguous; possibilities: {' '.join('--' + m for m in matches)}"
        )
    raise PngquantUsageError(f"unrecognized option '--{name}'")


def _apply(cmd: Command, name: str, value: str | None) -> None:
    if name == "force":
        cmd.force = True
    elif name == "no-force":
        cmd.force = False
    elif name == "skip-if-larger":
        cmd.skip_if_larger = True
    elif name == "output":
        cmd.output = value
    elif name == "ext":
        cmd.ext = value  # any text, as pngquant's: the output is PNG data whatever its name (FileOptions.fmt)
    elif name == "quality":
        q = pngquant_quality(value or "")
        if q is None:
            raise PngquantUsageError(
                "Quality should be in format min-max where min and max are numbers in range 0-100."
            )
        cmd.quality = q
    elif name == "speed":
        try:
            cmd.speed = int(value or "", 10)
        except ValueError:
            cmd.speed = 0
        if not 1 <= cmd.speed <= 11:
            raise PngquantUsageError("Speed should be between 1 (slow) and 11 (fast).")
    elif name in ("nofs", "ordered"):
        cmd.dither, cmd.dither_asked = False, True
    elif name == "floyd":
        cmd.dither_asked = True
        if value is None:
            cmd.dither = 1.0  # pngquant's default strength
        else:
            try:
                strength = float(value)
            except ValueError:
                strength = -1.0
            if not 0 <= strength <= 1:
                raise PngquantUsageError("--floyd=N: the dithering strength must be from 0 to 1.")
            cmd.dither = strength if strength > 0 else False
    elif name == "posterize":
        try:
            bits = int(value or "", 10)
        except ValueError:
            bits = -1
        if not 0 <= bits <= 4:
            raise PngquantUsageError("Posterization should be number of bits in range 0-4.")
        if bits:
            raise PngquantUsageError(
                f"--posterize {bits} is not supported: K-means places palette entries anywhere in the colour "
                "cube, and rounding them to fewer bits afterwards would no longer be the fitted palette"
            )
    elif name == "strip":
        cmd.strip = True
    elif name == "verbose":
        cmd.verbose = True
    elif name == "quiet":
        cmd.quiet = True
    elif name == "iebug":
        pass  # obsolete in pngquant itself, which ignores it too
    elif name == "transbug":
        raise PngquantUsageError(
            "--transbug is not supported: the palette is ordered by use, not with transparent entries first"
        )
    elif name == "map":
        raise PngquantUsageError(
            f"--map {value} is not supported; kmeans-compress --shared-palette fits one palette to many images"
        )
    elif name in ("version", "help"):
        cmd.show = cmd.show or name


def output_path(src: str, cmd: Command) -> str:
    """pngquant's output name: ``--output``, or the input without ``.png`` plus the extension.

    As pngquant, on the name as given: only ``.png`` or ``.PNG`` is dropped
    (``y.Png`` -> ``y.Png-fs8.png``), and only from a name longer than that
    (``.png`` -> ``.png-fs8.png``, but ``dir/.png`` -> ``dir/-fs8.png``).
    """
    if cmd.output is not None:
        return cmd.output
    ext = cmd.ext if cmd.ext is not None else ("-fs8.png" if cmd.dither else "-or8.png")
    stem = src[:-4] if len(src) > 4 and src[-4:] in (".png", ".PNG") else src
    return stem + ext


def _has_alpha(path: str) -> bool:
    """True when the file has a pixel that is not fully opaque, as the shared decode sees it.

    An RGBA file whose alpha is 255 everywhere (a screenshot, say) is opaque and
    is dithered as pngquant dithers it. Only files whose mode can carry
    transparency are decoded here; a bad file is reported later, in its turn
    (pngquant reports an existing output before an unreadable input).
    """
    try:
        from PIL import Image

        with Image.open(path) as im:
            if im.mode not in ("RGBA", "LA", "PA", "La", "RGBa") and "transparency" not in im.info:
                return False
        return load_image(path).alpha is not None
    except Exception:
        return False


def _status(exc: BaseException) -> int:
    if isinstance(exc, TargetNotMetError):
        return TOO_LOW_QUALITY
    if isinstance(exc, ImageNotFoundError):
        return READ_ERROR
    if isinstance(exc, UnsupportedImageError):
        return DECODE_ERROR
    if isinstance(exc, OutputExistsError):
        return NOT_OVERWRITING_ERROR
    if isinstance(exc, OSError):
        return CANT_WRITE_ERROR
    return INVALID_ARGUMENT


def _options(cmd: Command, has_alpha: bool) -> FileOptions:
    dither: Any = cmd.dither
    if has_alpha and dither is not False:
        if cmd.dither_asked:
            raise OptionNotAllowedError(
                "dithering (--floyd) is not available for images with transparency yet; add --nofs"
            )
        dither = False  # pngquant's default; without a word, as the image cannot take it yet
    return FileOptions(
        n_colors=cmd.n_colors,
        dither=dither,
        speed=cmd.speed,
        quality=cmd.quality,
        strip=cmd.strip,
        force=cmd.force,
        skip_if_larger=cmd.skip_if_larger,
        skip_rule="pngquant",  # kept only within pngquant's limit for the quality reached, not merely smaller
        fmt="PNG",  # as pngquant, whatever the output's name (scripts write to x.tmp, then rename)
        make_dirs=False,  # as pngquant: a missing folder is exit 16, not created
    )


def _one(src: str, cmd: Command) -> None:
    """Compress one input by pngquant's rules; raise on failure (TargetNotMetError: exit 99, ...)."""
    to_stdout = (src == "-" and cmd.output is None) or cmd.output == "-"
    if to_stdout and sys.stdout is None:  # fd 1 closed (>&-): exit 16, before any work
        raise OSError(STDOUT_CLOSED)
    if to_stdout and sys.stdout.isatty():
        raise PngquantUsageError("refusing to write PNG data to a terminal; redirect stdout or use --output FILE")
    source: str | LoadedImage = src
    raw = b""
    if src == "-":
        if sys.stdin is None:  # fd 0 closed (<&-): pngquant 2.17 "cannot decode image from stdin" (exit 25)
            raise UnsupportedImageError("<stdin>: stdin is closed, there is no image to read")
        raw = sys.stdin.buffer.read()
        source = load_image(raw, name="<stdin>")
        has_alpha = source.alpha is not None
    else:
        has_alpha = _has_alpha(src)
    dst = None if to_stdout else output_path(src, cmd)
    opts = _options(cmd, has_alpha)
    try:
        outcome = compress_file(source, dst, opts)
    except ImageNotFoundError as exc:
        if src != "-" and os.path.isdir(src):  # pngquant: a folder "cannot decode image" (25), not unreadable (2)
            raise UnsupportedImageError(str(exc)) from None
        raise
    except TargetNotMetError:
        if to_stdout:  # as pngquant: never an empty stream, the original goes through
            _pass_through(src, raw)
        raise
    if outcome.status == "larger":
        if to_stdout:
            _pass_through(src, raw)
        raise _Larger(outcome.message or "the result is larger than the input")
    if to_stdout:
        assert outcome.data is not None
        write_all(outcome.data)
    if cmd.verbose and outcome.result is not None:
        print(outcome.result.report.format(), file=sys.stderr)


class _Larger(Exception):
    """--skip-if-larger: nothing written (exit 98)."""


def _pass_through(src: str, raw: bytes) -> None:
    """Write the input itself to stdout (pngquant writes the original image when it will not write its own)."""
    data = raw if src == "-" else Path(src).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(data)).save(buf, "PNG")
        data = buf.getvalue()
    write_all(data)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kmeans-pngquant``; returns pngquant's exit status."""
    try:
        args, notes = rewrite_obsolete(sys.argv[1:] if argv is None else argv)
        for note in notes:  # as pngquant: before the options are read, whatever --quiet
            print(f"{PROG}: warning: {note}", file=sys.stderr)
        cmd = parse(args)
        if cmd.show == "version":
            print(f"{__version__} (kmeans-compress, pngquant-compatible command line)")
            return SUCCESS
        if cmd.show == "help":
            print(USAGE)
            return SUCCESS
        if cmd.ext is not None and cmd.output not in (None, "-"):  # as pngquant, which lets -o - pass
            raise PngquantUsageError("--ext and --output options can't be used at the same time")
        if not cmd.files:
            print(USAGE, file=sys.stderr)
            return MISSING_ARGUMENT
        if cmd.output is not None and len(cmd.files) > 1:
            raise PngquantUsageError("--output can be used with one input file only")
        if cmd.files.count("-") > 1:
            raise PngquantUsageError("'-' (stdin) can be given only once")
    except PngquantUsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.status
    announce_compiling(cmd.quiet)  # the note on a first, compiling run; --quiet: nothing but errors
    status = SUCCESS
    done = 0
    for src in cmd.files:
        try:
            with caught_warnings() as caught:  # one line each, as the main command prints them
                try:
                    _one(src, cmd)
                finally:
                    for w in caught if not cmd.quiet else ():
                        print(f"{PROG}: warning: {warning_text(w, frame_option=False)}", file=sys.stderr)
            done += 1
        except PngquantUsageError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            status = exc.status
        except _Larger as exc:
            if cmd.verbose:
                print(f"{PROG}: {exc}", file=sys.stderr)
            status = TOO_LARGE_FILE
        except (UnsupportedImageError, OutputExistsError, TargetNotMetError, OSError, ValueError, MemoryError) as exc:
            own = (UnsupportedImageError, OutputExistsError, TargetNotMetError)
            msg = str(exc) if isinstance(exc, own) else f"{src}: {message_of(exc)}"
            if isinstance(exc, ImageTooLargeError):  # no option lifts the limit here: no hint of one
                msg = exc.message()
            if not cmd.quiet or not isinstance(exc, TargetNotMetError):
                print(f"{PROG}: error: {msg}", file=sys.stderr)
            status = _status(exc)
        except KeyboardInterrupt:
            print(f"{PROG}: error: interrupted", file=sys.stderr)
            return 130
    if cmd.verbose:
        print(f"Quantized {done} image{'s' if done != 1 else ''}.", file=sys.stderr)
    return status
