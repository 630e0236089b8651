"""kmeans-compress: compress images by K-means colour quantization.

The tutorial's functions (:func:`find_closest_centroids`, :func:`compute_centroids`,
:func:`run_kmeans`, :func:`kmeans_init_centroids`), a scikit-learn compatible
:class:`KMeans`, and :func:`compress`, which turns an image into a small indexed PNG.
"""

from ._compress import CompressionResult, compress, compress_with_palette
from ._decode import ImageLike, LoadedImage, load_image, sample_image_path
from ._encode import encode_image, encode_png, optimize_png, write_atomic
from ._exceptions import (
    ConvergenceWarning,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidParameterError,
    NotFittedError,
    OptionNotAllowedError,
    OutputExistsError,
    TargetNotMetError,
    UnsupportedImageError,
)
from ._files import FileOptions, FileOutcome, compress_file
from ._quantize import quantize, quantize_image
from ._remap import Quantization
from ._report import CompressionReport, mse, mse_to_quality, psnr, quality_to_mse, tutorial_bits
from ._search import compress_to_psnr, compress_to_quality, compress_to_size
from ._shared import shared_palette
from ._sweep import sweep
from ._validation import SeedLike
from .kmeans import (
    KMeans,
    compute_centroids,
    compute_distortion,
    find_closest_centroids,
    kmeans_init_centroids,
    kmeans_plusplus,
    run_kmeans,
)

__version__ = "0.2.0"

__all__ = [
    "CompressionReport",
    "CompressionResult",
    "ConvergenceWarning",
    "FileOptions",
    "FileOutcome",
    "ImageLike",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InvalidParameterError",
    "KMeans",
    "LoadedImage",
    "NotFittedError",
    "OptionNotAllowedError",
    "OutputExistsError",
    "Quantization",
    "SeedLike",
    "TargetNotMetError",
    "UnsupportedImageError",
    "__version__",
    "compress",
    "compress_file",
    "compress_to_psnr",
    "compress_to_quality",
    "compress_to_size",
    "compress_with_palette",
    "compute_centroids",
    "compute_distortion",
    "encode_image",
    "encode_png",
    "find_closest_centroids",
    "kmeans_init_centroids",
    "kmeans_plusplus",
    "load_image",
    "mse",
    "mse_to_quality",
    "optimize_png",
    "psnr",
    "quality_to_mse",
    "quantize",
    "quantize_image",
    "run_kmeans",
    "sample_image_path",
    "shared_palette",
    "sweep",
    "tutorial_bits",
    "write_atomic",
]
