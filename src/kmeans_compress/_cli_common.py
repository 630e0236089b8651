"""What every command of the command line shares: the program name, exit statuses, the
argparse types, one-line errors and the compiling note. Only ``cli`` and its command
modules import this.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from . import _backend
from ._decode import DEFAULT_MAX_PIXELS
from ._encode import OUTPUT_FORMATS, writable_folder
from ._exceptions import (
    ImageNotFoundError,
    ImageTooLargeError,
    OptionNotAllowedError,
    OutputExistsError,
    TargetNotMetError,
    UnsupportedImageError,
)
from ._validation import MAX_PALETTE

PROG = "kmeans-compress"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_NO_INPUT, EXIT_NOT_IMAGE, EXIT_TOO_LARGE, EXIT_EXISTS, EXIT_CANT_WRITE = 3, 4, 5, 6, 7
EXIT_LARGER, EXIT_TARGET = 98, 99


class SkippedLarger(Exception):
    """--skip-if-larger: the result would be larger than the input."""


# Most specific first: ImageNotFoundError and ImageTooLargeError are UnsupportedImageErrors.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (SkippedLarger, EXIT_LARGER),
    (TargetNotMetError, EXIT_TARGET),
    (ImageNotFoundError, EXIT_NO_INPUT),
    (ImageTooLargeError, EXIT_TOO_LARGE),
    (UnsupportedImageError, EXIT_NOT_IMAGE),
    (OutputExistsError, EXIT_EXISTS),
    (OSError, EXIT_CANT_WRITE),
    # An option this input does not allow: the command line must change, as for a bad option.
    (OptionNotAllowedError, EXIT_USAGE),
)


def exit_code(exc: BaseException) -> int:
    """The exit status for a file that failed with ``exc``."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), EXIT_FAILED)


class UsageError(Exception):
    """Bad command line: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)

    def long_options(self) -> list[str]:
        """Every ``--name`` this parser takes (for :func:`dither_argv`, which must know the prefixes it allows)."""
        return [s for s in self._option_string_actions if s.startswith("--")]


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def int_at_least(minimum: int, note: str = "") -> Any:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        v = parse_int(text)
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{note}, got {v}")
        return v

    return parse


seed = int_at_least(0)
positive_int = int_at_least(1)
frame_number = int_at_least(0, " (frames count from 0)")


def colors(text: str) -> int:
    k = parse_int(text)
    if not 1 <= k <= MAX_PALETTE:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {MAX_PALETTE} for PNG output (a PNG palette holds at most "
            f"{MAX_PALETTE} colours), got {k}"
        )
    return k


def effort(text: str) -> int:
    from ._encode import MAX_EFFORT

    v = parse_int(text)
    if not 0 <= v <= MAX_EFFORT:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_EFFORT}, got {v}")
    return v


def dither_strength(text: str) -> float | bool:
    """``--dither``'s value: a strength from 0 to 1, or ``default`` (what ``--dither`` alone becomes)."""
    if text == "default":
        return True
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a strength from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text!r}")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def dither_argv(argv: list[str], options: Collection[str] = ("--dither",)) -> list[str]:
    """``--dither`` takes an optional value: ``--dither S`` (S a number) becomes ``--dither=S`` and a bare
    ``--dither`` becomes ``--dither=default``, so that a file name after it is never taken for its value.

    So does an abbreviation argparse takes for it (``--dith``: a prefix of no other of the parser's
    ``options``); an ambiguous one is left for argparse to refuse.

    Examples
    --------
    >>> dither_argv(["--dither", "a.png", "--dither", "0.5", "--dither=0.3", "--", "--dither"])
    ['--dither=default', 'a.png', '--dither=0.5', '--dither=0.3', '--', '--dither']
    >>> dither_argv(["--dith", "a.png", "--di", "0.5", "--d", "b.png"], ["--dither", "--dask"])
    ['--dither=default', 'a.png', '--dither=0.5', '--d', 'b.png']
    """

    def is_dither(a: str) -> bool:
        return len(a) > 2 and "--dither".startswith(a) and all(o == "--dither" or not o.startswith(a) for o in options)

    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.extend(argv[i:])
            break
        if is_dither(a):
            if i + 1 < len(argv) and _is_number(argv[i + 1]):
                out.append(f"--dither={argv[i + 1]}")
                i += 2
                continue
            a = "--dither=default"
        out.append(a)
        i += 1
    return out


def keep_colors(text: str) -> tuple[tuple[int, int, int], ...]:
    """``--keep '#RRGGBB,...'``: the colours as a tuple of RGB triples."""
    from ._palette import parse_colors

    try:
        pal = parse_colors(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 1 <= pal.shape[0] <= MAX_PALETTE:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_PALETTE} colours, got {pal.shape[0]}")
    return tuple((int(r), int(g), int(b)) for r, g, b in pal)


def suffix(text: str) -> str:
    """``--ext``: text ending in an output format's suffix; the bare ``.gif`` is one (its ``Path.suffix`` is '')."""
    if not text.lower().endswith(tuple(OUTPUT_FORMATS)) or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(
            f"must be a file-name suffix ending in {', '.join(OUTPUT_FORMATS)}, got {text!r}"
        )
    return text


def pngquant_quality(text: str) -> tuple[int, int] | None:
    """pngquant's ``--quality``: ``MIN-MAX``, ``MAX`` (MIN = 90 % of it), ``-MAX`` (MIN 0) or ``MIN-`` (MAX 100),
    integers 0-100; None if ``text`` is none of these.

    Examples
    --------
    >>> pngquant_quality("65-80"), pngquant_quality("80"), pngquant_quality("-80"), pngquant_quality("50-")
    ((65, 80), (72, 80), (0, 80), (50, 100))
    >>> pngquant_quality("80-65"), pngquant_quality("30.5")
    (None, None)
    """
    m = re.fullmatch(r"(\d*)(-?)(\d*)", text.strip())
    if m is None or not (m.group(1) or m.group(3)):
        return None
    lo, dash, hi = m.groups()
    if not dash:
        target = int(lo)
        limit = target * 9 // 10
    elif not lo:
        limit, target = 0, int(hi)
    elif not hi:
        limit, target = int(lo), 100
    else:
        limit, target = int(lo), int(hi)
    if not 0 <= limit <= target <= 100:
        return None
    return limit, target


def quality(text: str) -> tuple[int, int]:
    q = pngquant_quality(text)
    if q is None:
        raise argparse.ArgumentTypeError(
            f"expected MIN-MAX on pngquant's scale, integers 0 (worst) to 100 (perfect), e.g. 65-80; got {text!r} "
            "(PSNR in dB is --psnr since 0.2.0)"
        )
    return q


def speed(text: str) -> int:
    v = parse_int(text)
    if not 1 <= v <= 11:
        raise argparse.ArgumentTypeError(f"must be from 1 (slow, best) to 11 (fast, rough), got {v}")
    return v


def psnr_range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition("-")
    try:
        if not sep:
            lo_v, hi_v = 0.0, float(text)
        else:
            lo_v = float(lo) if lo else 0.0
            hi_v = float(hi) if hi else float("inf")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX PSNR in dB, e.g. 30-40; got {text!r}") from None
    if not 0 <= lo_v <= hi_v or hi_v == float("inf") and not lo_v:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX (PSNR in dB), got {text!r}")
    return lo_v, (hi_v if hi_v != float("inf") else lo_v)


def max_pixels_option(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--max-pixels N``, the decompression-bomb guard, as kmeans-compress and sweep both take it."""
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse inputs with more pixels (decompression-bomb guard; default {DEFAULT_MAX_PIXELS:,})",
    )


def report_path(text: str) -> str:
    if Path(text).suffix.lower() not in (".csv", ".json"):
        raise argparse.ArgumentTypeError(f"must end in .csv or .json, got {text!r}")
    return text


def png_path(text: str) -> str:
    if Path(text).suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"figures are written as PNG; the file name must end in .png, got {text!r}")
    return text


def error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def write_stdout(text: str, what: str) -> bool:
    """Write ``text`` to stdout and flush it; False, after one line naming ``what``, when the pipe's reader
    has gone (``| head``): the caller then exits with EXIT_CANT_WRITE, as ``-o -`` does.

    Python ignores SIGPIPE, so a closed pipe is a BrokenPipeError, raised again by the interpreter's own
    flush at exit: stdout is pointed at the null device first, the usual recipe.
    """
    if sys.stdout is None:  # fd 1 closed (>&-): Python has no stdout at all
        error(f"{what}: {STDOUT_CLOSED}")
        return False
    try:
        if getattr(sys.stdout, "buffer", None) is None:  # a caller's text stream (redirect_stdout(StringIO()))
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            sys.stdout.flush()  # anything written as text before
            # As bytes, written whole (write_all): a text write into a pipe closed midway returned quietly.
            write_all(text.encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict"))
    except BrokenPipeError as exc:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        error(f"{what}: stdout was closed before all of it was written ({exc.strerror})")
        return False
    return True


def write_all(data: bytes) -> None:
    """Write ``data`` to stdout whole, and flush it. A pipe whose reader goes away in the middle of a
    large write (``-o - | head``) accepts part of it, and Python's buffered writer returns that count
    without an error: only the next write fails. So the rest is written until it is all out or the
    write fails (BrokenPipeError, which the callers turn into exit 7). A closed stdout (``>&-``:
    ``sys.stdout`` is None) is an OSError too."""
    if sys.stdout is None:
        raise OSError(STDOUT_CLOSED)
    out = sys.stdout.buffer
    view = memoryview(data)
    while view:
        n = out.write(view)
        if not n:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
        view = view[n:]
    out.flush()


def write_json(value: Any) -> bool:
    """``--json``: ``value`` as indented JSON on stdout (:func:`write_stdout`)."""
    return write_stdout(json.dumps(value, indent=2, allow_nan=False, default=str) + "\n", "--json")


def note_compiling() -> None:
    print(
        f"{PROG}: note: compiling the fast kernels for this machine, once (about half a minute); "
        "later runs load them in about a second",
        file=sys.stderr,
        flush=True,
    )


def announce_compiling(quiet: bool) -> None:
    """Say so when a run has to compile the kernels (the first one on a new install), unless quiet."""
    _backend.slow_load_notice = None if quiet else note_compiling


class CantWriteError(UsageError):
    """An output found unwritable before any work (exit 7): stdout closed for ``-o -``."""


class OutputFolderError(CantWriteError):
    """The output folder does not exist (exit 7)."""


def usage_failed(exc: UsageError) -> int:
    """Report a command line refused before any work, in one line; its exit status (2, or 7 for an output
    that cannot be written: a missing folder, a closed stdout)."""
    error(str(exc))
    return EXIT_CANT_WRITE if isinstance(exc, CantWriteError) else EXIT_USAGE


#: What a closed stdout (fd 1 closed, ``>&-``) is called in messages.
STDOUT_CLOSED = "stdout is closed, nothing can be written to it"


@contextmanager
def standard_streams() -> Iterator[None]:
    """Run a command whose stdin, stdout or stderr may be closed (``<&-``, ``>&-``, ``2>&-``: Python's
    ``sys.stdin`` / ``sys.stdout`` / ``sys.stderr`` is then None).

    ``sys.stdin`` and ``sys.stdout`` stay None, which the readers and writers of the streams report in one
    line (a closed stdout: exit 7, or 16 for kmeans-pngquant). Messages to a closed stderr go to the null
    device instead: ``print(..., file=sys.stderr)`` with None would write them to stdout, into ``-o -``'s
    PNG. A closed descriptor is pointed at the null device for the run, so that no file the run opens
    takes its number (a stray write to fd 1 or 2, from a C library say, would land in that file).
    """
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, mode)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stderr is not None:
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as null_stream:
        sys.stderr = null_stream
        try:
            yield
        finally:
            sys.stderr = None


def check_figure_folder(path: str, option: str) -> None:
    """A figure's folder (``--preview``, ``--plot``) must exist and be writable, as ``-o``'s: checked
    before any work, not after it.

    Raises
    ------
    OutputFolderError
        The folder is missing or not writable (exit 7).
    """
    folder = Path(path).parent
    if not folder.is_dir():
        raise OutputFolderError(f"{option} {path}: the folder {folder} does not exist")
    if not writable_folder(folder):
        raise OutputFolderError(f"{option} {path}: the folder {folder} is not writable")
