"""Every exception the package raises on purpose, in one place.

The command line maps them to exit statuses (``cli.EXIT_CODES``); each front end
reports ``str(exc)``, a one-line message naming the file it is about.

Warnings too: :func:`caught_warnings` collects those of one thread (a file of a
folder run, which the run prints as one line), :func:`warn` raises ours into it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "BatchUsageError",
    "ConvergenceWarning",
    "FRAME_HINT",
    "FramesIgnoredWarning",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InvalidParameterError",
    "NoInputError",
    "NotFittedError",
    "OptionNotAllowedError",
    "OutputExistsError",
    "TargetNotMetError",
    "UnsupportedImageError",
    "caught_warnings",
    "message_of",
    "warn",
    "warning_text",
]


class UnsupportedImageError(ValueError):
    """The input is not an image this package can read (empty, corrupt, truncated, not an image)."""


class ImageNotFoundError(UnsupportedImageError, FileNotFoundError):
    """The input path does not exist, is a folder, or cannot be read."""


class ImageTooLargeError(UnsupportedImageError):
    """The input has more pixels than the allowed maximum (a decompression-bomb guard).

    ``subject`` says what is too large (the file, its pixels and the limit), ``frames`` how many
    frames were counted. ``str(exc)`` adds how kmeans-compress's command line lifts the limit
    (``--max-pixels``, or ``--frame N`` for an animation); a front end without those options says
    its own way, or none, with :meth:`message`.

    Examples
    --------
    >>> exc = ImageTooLargeError("a.gif: 2 frames of 10x10 = 200 pixels is more than the limit of 150", frames=2)
    >>> exc.message()
    'a.gif: 2 frames of 10x10 = 200 pixels is more than the limit of 150 (a guard against decompression bombs)'
    >>> str(exc).endswith("; raise it with --max-pixels, or take one frame with --frame N)")
    True
    """

    def __init__(self, subject: str, frames: int = 1) -> None:
        super().__init__(subject, frames)  # the arguments, so that it pickles (worker processes)
        self.subject, self.frames = subject, frames

    def message(self, hint: str | None = None) -> str:
        """One line: :attr:`subject`, that the limit guards against decompression bombs, and ``hint``
        (how the caller lifts the limit), if any."""
        return f"{self.subject} (a guard against decompression bombs{'; ' + hint if hint else ''})"

    def __str__(self) -> str:
        frame_hint = ", or take one frame with --frame N" if self.frames > 1 else ""
        return self.message(f"raise it with --max-pixels{frame_hint}")


class OutputExistsError(FileExistsError):
    """The output file exists and overwriting was not asked for."""


class TargetNotMetError(ValueError):
    """A quality or size target cannot be met by any palette size."""


class NotFittedError(ValueError, AttributeError):
    """Raised when a :class:`KMeans` method that needs a fitted model is called before ``fit``."""


class InvalidParameterError(ValueError, TypeError):
    """A :class:`KMeans` constructor parameter of a wrong type or value, raised by ``fit``.

    Both a ValueError and a TypeError, as scikit-learn's ``InvalidParameterError``, so that
    ``except ValueError`` catches ``KMeans(n_clusters=2.0)`` as it does with scikit-learn. When
    scikit-learn is loaded, the error raised is also an instance of its class.
    """


class OptionNotAllowedError(ValueError):
    """An option this input does not allow (dithering an image with transparency, a GIF of partly
    transparent colours): the command line must change, a usage error (exit 2) on the command line."""


class BatchUsageError(ValueError):
    """Inputs or options that make no batch (reported as a usage error)."""


class NoInputError(BatchUsageError):
    """The folders given hold no image file, or one of them cannot be read."""


class FramesIgnoredWarning(UserWarning):
    """An animation or a multi-page file of which only the first frame is compressed. Its text ends
    with ``FRAME_HINT``, which front ends without a ``--frame`` option leave out (:func:`warning_text`)."""


#: How the main command chooses another frame: the end of a :class:`FramesIgnoredWarning`'s text.
FRAME_HINT = " (choose another with --frame N)"


def warning_text(w: Warning | str, frame_option: bool = True) -> str:
    """What a front end prints of warning ``w`` (a ``WarningMessage.message``: a Warning, or a str): its
    text, without :data:`FRAME_HINT` unless the front end has a ``--frame`` option (``frame_option``)."""
    text = str(w)
    if not frame_option and isinstance(w, FramesIgnoredWarning) and text.endswith(FRAME_HINT):
        return text[: -len(FRAME_HINT)]
    return text


class ConvergenceWarning(UserWarning):
    """K-means found fewer distinct clusters than asked for (duplicate points, or too few).

    When scikit-learn is loaded, the warning raised is also an instance of
    ``sklearn.exceptions.ConvergenceWarning``, so filters written for it apply.
    """


def message_of(exc: BaseException) -> str:
    """What a front end says of ``exc``: its text, or for one raised without text what it is (a
    ``MemoryError`` Pillow or an allocation raises bare: "out of memory", not an empty message)."""
    text = str(exc)
    if text:
        return text
    return "out of memory" if isinstance(exc, MemoryError) else type(exc).__name__


# --------------------------------------------------------------------------- warnings of one thread

#: The list of the innermost :func:`caught_warnings` of each thread (none: the attribute is missing).
_sinks = threading.local()
_hook_lock = threading.Lock()
_previous_hook: Callable[..., Any] = warnings.showwarning


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """``warnings.showwarning``: into the current thread's :func:`caught_warnings` list, if it has one."""
    sink = getattr(_sinks, "sink", None)
    if sink is None or file is not None:
        _previous_hook(message, category, filename, lineno, file, line)
    else:
        sink.append(message if isinstance(message, Warning) else category(message))


@contextmanager
def caught_warnings() -> Iterator[list[Warning]]:
    """The warnings this thread raises inside the ``with``, collected in a list instead of printed.

    Unlike ``warnings.catch_warnings(record=True)``, it changes no process-wide state per call, so
    threads (the web page's batches, a Dask worker's threads) each get their own warnings and leave
    the others' and the process's alone: a ``warnings.showwarning`` hook is installed once (again
    if something replaced it since), which hands a warning to the list of the thread that raised it
    and any other to the hook it replaced. Such warnings pass the process's filters first (the
    default shows each text once per place); :func:`warn` puts ours in the list whatever the filters.
    """
    global _previous_hook
    with _hook_lock:
        if warnings.showwarning is not _show_warning:
            _previous_hook, warnings.showwarning = warnings.showwarning, _show_warning
    outer = getattr(_sinks, "sink", None)
    caught: list[Warning] = []
    _sinks.sink = caught
    try:
        yield caught
    finally:
        _sinks.sink = outer


def warn(message: str, category: type[Warning] = UserWarning, stacklevel: int = 1) -> None:
    """``warnings.warn`` for the package's own warnings: inside :func:`caught_warnings` straight into
    its list (every time, as a record of what happened to that file), elsewhere through ``warnings``."""
    sink = getattr(_sinks, "sink", None)
    if sink is not None:
        sink.append(category(message))
    else:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
