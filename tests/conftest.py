import os

# scikit-learn's estimator checks include an array-API check on plain numpy
# input; it needs this set before SciPy is first imported, or it is skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from hypothesis import settings

# Bounded, repeatable hypothesis runs: fast on 2 cores, no flaky deadlines.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _kernels_loaded() -> None:
    """The compiled kernels loaded before any test, so that ``compiled=True`` and the
    ``kernel_path`` fixture mean the kernels: a process otherwise starts on numpy and loads
    them only once they pay (``_backend.load_pays``; tests/test_backend.py tests that rule in
    new interpreters)."""
    from kmeans_compress import _backend

    if _backend.HAVE_NUMBA:
        _backend._load()


@pytest.fixture
def photo() -> np.ndarray:
    """A crop of the embedded sample photograph, (120, 160, 3) uint8."""
    from kmeans_compress import load_image, sample_image_path

    return load_image(sample_image_path()).pixels[60:180, 140:300].copy()


@pytest.fixture(params=["numpy", "compiled"])
def kernel_path(request, monkeypatch):
    """Run a test once on the numpy code and once on the compiled kernels
    (whatever the problem size), so that both paths meet the same reference."""
    from kmeans_compress import _backend

    if request.param == "compiled":
        if not _backend.HAVE_NUMBA:
            pytest.skip("numba not installed")
        monkeypatch.setattr(_backend, "MIN_WORK", 0)
    else:
        monkeypatch.setattr(_backend, "MIN_WORK", 1 << 62)
    return request.param
