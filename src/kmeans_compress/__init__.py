"""kmeans-compress: compress images by K-means colour quantization.

The tutorial's functions (:func:`find_closest_centroids`, :func:`compute_centroids`,
:func:`run_kmeans`, :func:`kmeans_init_centroids`), a scikit-learn compatible
:class:`KMeans`, and :func:`compress`, which turns an image into a small indexed PNG.
"""

from ._compress import CompressionResult, compress, sample_image_path
from ._sweep import sweep
from .io import OutputExistsError, UnsupportedImageError, encode_png, load_image, write_atomic
from .kmeans import (
    KMeans,
    NotFittedError,
    compute_centroids,
    compute_distortion,
    find_closest_centroids,
    kmeans_init_centroids,
    kmeans_plusplus,
    run_kmeans,
)
from .quantize import Quantization, quantize
from .report import CompressionReport, mse, psnr, tutorial_bits

__version__ = "0.1.0"

__all__ = [
    "CompressionReport",
    "CompressionResult",
    "KMeans",
    "NotFittedError",
    "OutputExistsError",
    "Quantization",
    "UnsupportedImageError",
    "__version__",
    "compress",
    "compute_centroids",
    "compute_distortion",
    "encode_png",
    "find_closest_centroids",
    "kmeans_init_centroids",
    "kmeans_plusplus",
    "load_image",
    "mse",
    "psnr",
    "quantize",
    "run_kmeans",
    "sample_image_path",
    "sweep",
    "tutorial_bits",
    "write_atomic",
]
