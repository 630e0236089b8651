"""Every exception the package raises on purpose, in one place.

The command line maps them to exit statuses (``cli.EXIT_CODES``); each front end
reports ``str(exc)``, a one-line message naming the file it is about.
"""

from __future__ import annotations

__all__ = [
    "BatchUsageError",
    "ConvergenceWarning",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "NoInputError",
    "NotFittedError",
    "OptionNotAllowedError",
    "OutputExistsError",
    "TargetNotMetError",
    "UnsupportedImageError",
]


class UnsupportedImageError(ValueError):
    """The input is not an image this package can read (empty, corrupt, truncated, not an image)."""


class ImageNotFoundError(UnsupportedImageError, FileNotFoundError):
    """The input path does not exist, is a folder, or cannot be read."""


class ImageTooLargeError(UnsupportedImageError):
    """The input has more pixels than the allowed maximum (a decompression-bomb guard)."""


class OutputExistsError(FileExistsError):
    """The output file exists and overwriting was not asked for."""


class TargetNotMetError(ValueError):
    """A quality or size target cannot be met by any palette size."""


class NotFittedError(ValueError, AttributeError):
    """Raised when a :class:`KMeans` method that needs a fitted model is called before ``fit``."""


class OptionNotAllowedError(ValueError):
    """An option this input does not allow (dithering an image with transparency, a GIF of partly
    transparent colours): the command line must change, a usage error (exit 2) on the command line."""


class BatchUsageError(ValueError):
    """Inputs or options that make no batch (reported as a usage error)."""


class NoInputError(BatchUsageError):
    """The folders given hold no image file."""


class ConvergenceWarning(UserWarning):
    """K-means found fewer distinct clusters than asked for (duplicate points, or too few).

    When scikit-learn is loaded, the warning raised is also an instance of
    ``sklearn.exceptions.ConvergenceWarning``, so filters written for it apply.
    """
