"""Input checks shared by every stage: user values in, validated values (or a clear error) out.

Public functions call these once, at the boundary, and then hand plain numpy
arrays and ints to workers that do only arithmetic. Every message names the
parameter, what is allowed and the value that was given.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

__all__ = [
    "MAX_PALETTE",
    "SeedLike",
    "check_array",
    "check_centers",
    "check_choice",
    "check_index_maps",
    "check_int",
    "check_kmeans_options",
    "check_labels",
    "check_magnitude",
    "check_n_colors",
    "check_palette",
    "check_random_state",
    "check_rgb",
    "check_sample_weight",
    "check_seed",
    "feature_names",
    "is_sparse",
    "magnitude_limit",
]

#: An indexed PNG or GIF holds at most this many palette entries.
MAX_PALETTE = 256

#: What a ``random_state`` may be: None, an int, a numpy Generator or RandomState.
# Strings: naming np.random here would import numpy.random along with the package.
SeedLike = Union[None, int, "np.integer", "np.random.Generator", "np.random.RandomState"]


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """``value`` as a Python int, if it is an integer in ``low .. high`` (either bound optional).

    ``bool`` is not accepted as an integer. ``hint`` (optional) is added to the
    message in parentheses, after the allowed range.

    Raises
    ------
    TypeError
        ``value`` is not an integer.
    ValueError
        ``value`` is outside ``low .. high``.

    Examples
    --------
    >>> check_int(3, "K", low=1)
    3
    >>> check_int(0, "K", low=1)
    Traceback (most recent call last):
    ...
    ValueError: K must be an integer >= 1, got 0.
    """
    if low is not None and high is not None:
        allowed = f"an integer from {low} to {high}"
    elif low is not None:
        allowed = f"an integer >= {low}"
    elif high is not None:
        allowed = f"an integer <= {high}"
    else:
        allowed = "an integer"
    if hint:
        allowed += f" ({hint})"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {allowed}, got {value!r} of type {type(value).__name__}.")
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        raise ValueError(f"{name} must be {allowed}, got {n}.")
    return n


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; ValueError naming them otherwise."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}.")
    return value


def check_kmeans_options(n_init: Any, max_iter: Any, tol: Any, *, auto_n_init: int = 1) -> tuple[int, int, float]:
    """``n_init``, ``max_iter`` and ``tol`` checked as :class:`kmeans_compress.KMeans` checks them
    (its messages): ``n_init`` an integer >= 1 or 'auto' (then ``auto_n_init``), ``max_iter`` an
    integer >= 1, ``tol`` a number >= 0 (not NaN).

    Examples
    --------
    >>> check_kmeans_options("auto", 300, 1e-4)
    (1, 300, 0.0001)
    >>> check_kmeans_options(1, 300, -1)
    Traceback (most recent call last):
    ...
    ValueError: tol must be a number >= 0, got -1.
    """
    if isinstance(n_init, str) and n_init == "auto":
        n = auto_n_init
    else:
        n = check_int(n_init, "n_init", low=1, hint="or 'auto'")
    iters = check_int(max_iter, "max_iter", low=1)
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not float(tol) >= 0:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}.")
    return n, iters, float(tol)


def check_labels(idx: Any, n_samples: int, K: int) -> np.ndarray:
    """Cluster indices as an (n_samples,) intp array of whole numbers in ``0 .. K-1``, or a ValueError.

    A float index is refused unless it is a whole number (1.9 would be cut to 1), and a negative
    one (which numpy would read from the end) or one of ``K`` or more is refused, with its value
    as given (checked before the cast to intp, which would wrap 1e20 or 2**64 - 1). Anything but
    numbers (strings, None) is refused with the same one-line message as a fraction.

    Examples
    --------
    >>> check_labels([0, 1, 1.0], 3, 2)
    array([0, 1, 1])
    >>> check_labels([0, 1, -1], 3, 2)
    Traceback (most recent call last):
    ...
    ValueError: idx holds values outside 0..1: min -1, max 1.
    >>> check_labels([0, None, 1], 3, 2)
    Traceback (most recent call last):
    ...
    ValueError: idx must hold integer cluster indices, got None.
    """
    idx_arr = np.asarray(idx)
    if idx_arr.shape != (n_samples,):
        raise ValueError(f"idx must have shape ({n_samples},) to match X, got {idx_arr.shape}.")
    if idx_arr.dtype.kind == "O":  # numbers numpy could not hold in one dtype (a huge int), or not numbers
        for v in idx_arr.flat:
            if not isinstance(v, (numbers.Real, np.bool_)):
                raise ValueError(f"idx must hold integer cluster indices, got {v!r}.")
        idx_arr = idx_arr.astype(np.float64)
    elif idx_arr.dtype.kind not in "biuf":
        raise ValueError(f"idx must hold integer cluster indices, got dtype {idx_arr.dtype}.")
    if not idx_arr.size:
        return idx_arr.astype(np.intp)
    if idx_arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):  # inf: NaN, refused below
            whole = bool(np.all(np.mod(idx_arr, 1) == 0))
        if not whole:
            raise ValueError("idx must hold integer cluster indices.")
    low, high = idx_arr.min(), idx_arr.max()
    if low < 0 or high >= K:

        def shown(v: Any) -> str:
            return f"{float(v):.17g}" if idx_arr.dtype.kind == "f" else str(int(v))

        raise ValueError(f"idx holds values outside 0..{K - 1}: min {shown(low)}, max {shown(high)}.")
    return idx_arr.astype(np.intp)


def check_n_colors(n_colors: Any, max_colors: int = MAX_PALETTE) -> int:
    """Validate a palette size: an integer in ``1 .. max_colors``."""
    return check_int(
        n_colors, "n_colors", low=1, high=max_colors, hint=f"an indexed PNG holds at most {MAX_PALETTE} colours"
    )


def check_palette(palette: Any, *, alpha: bool = False) -> np.ndarray:
    """A palette as C-contiguous uint8, (K, 3) (with ``alpha``: (K, 3) or (K, 4)), K from 1 to ``MAX_PALETTE``.

    The values must already be integers 0-255: a float or an out-of-range value is
    refused, not rounded, clipped or wrapped (a cast to uint8 would silently turn 300
    into 44 and 0.5 into 0, so the file would show other colours than those given).

    Raises
    ------
    ValueError
        Wrong shape, a dtype that is not an integer, or a value outside 0-255.

    Examples
    --------
    >>> check_palette([[255, 0, 0], [0, 0, 0]]).dtype
    dtype('uint8')
    >>> check_palette([[300, 0, 0]])
    Traceback (most recent call last):
    ...
    ValueError: palette must hold integers 0-255, got 300.
    """
    pal = np.asarray(palette)
    widths = (3, 4) if alpha else (3,)
    if pal.ndim != 2 or pal.shape[1] not in widths or not 1 <= pal.shape[0] <= MAX_PALETTE:
        shape = "(K, 3) or (K, 4)" if alpha else "(K, 3)"
        raise ValueError(f"palette must have shape {shape} with K from 1 to {MAX_PALETTE}, got {pal.shape}.")
    if pal.dtype.kind == "f":  # whole numbers in a float array (np.rint of centres) are colours too
        bad = pal[~np.isfinite(pal) | (pal != np.rint(pal))]
        if bad.size:
            raise ValueError(f"palette must hold integers 0-255, got {float(bad.flat[0])!r}.")
    elif pal.dtype.kind not in "iub":
        raise ValueError(f"palette must hold integers 0-255, got dtype {pal.dtype}.")
    low, high = pal.min(), pal.max()
    if low < 0 or high > 255:
        raise ValueError(f"palette must hold integers 0-255, got {int(low) if low < 0 else int(high)}.")
    return np.ascontiguousarray(pal, dtype=np.uint8)


def check_index_maps(maps: Sequence[Any], n_entries: int) -> list[np.ndarray]:
    """Index maps as non-empty 2-D uint8 arrays whose every value is an entry of an ``n_entries`` palette.

    A value of ``n_entries`` or more has no colour (a PNG decoder shows some other
    entry, or black), and a cast to uint8 would wrap 256 to 0 and -1 to 255: refused.
    The usual map, already uint8, costs one pass (its maximum) and no copy.

    Raises
    ------
    ValueError
        A map that is not 2-D or is empty, not of an integer dtype, or holds an index
        outside ``0 .. n_entries - 1``.

    Examples
    --------
    >>> check_index_maps([np.array([[0, 1, 2]], np.uint8)], 2)
    Traceback (most recent call last):
    ...
    ValueError: indices must be below the palette's 2 entries (0 to 1), got 2.
    """
    out = []
    for m in maps:
        idx = np.asarray(m)
        if idx.ndim != 2 or idx.size == 0:
            raise ValueError(f"indices must be a non-empty 2-D index map, got shape {idx.shape}.")
        if idx.dtype.kind == "f":  # whole numbers in a float map index entries too
            bad = idx[~np.isfinite(idx) | (idx != np.rint(idx))]
            if bad.size:
                raise ValueError(f"indices must be integers, got {float(bad.flat[0])!r}.")
        elif idx.dtype.kind not in "iub":  # a bool mask indexes entries 0 and 1
            raise ValueError(f"indices must be integers, got dtype {idx.dtype}.")
        high = int(idx.max())
        low = 0 if idx.dtype.kind in "ub" else int(idx.min())
        if low < 0 or high >= n_entries:
            raise ValueError(
                f"indices must be below the palette's {n_entries} entries (0 to {n_entries - 1}), "
                f"got {low if low < 0 else high}."
            )
        out.append(np.ascontiguousarray(idx, dtype=np.uint8))
    return out


def check_rgb(image: Any) -> np.ndarray:
    """An image as a non-empty (H, W, 3) uint8 array, or a clear error."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) RGB array, got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (0-255), got dtype {arr.dtype}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty (shape {arr.shape}).")
    return arr


def is_sparse(X: Any) -> bool:
    """True for a scipy.sparse matrix or array (duck-typed: scipy is not imported)."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def feature_names(X: Any) -> np.ndarray | None:
    """The column names of a data frame ``X`` as an object array, if they are all strings; else None.

    scikit-learn's rule (``sklearn.utils.validation._get_feature_names``), without importing a
    data-frame library: a pandas or polars frame (recognized only if that library is already
    loaded: ``X`` could not be one otherwise) or any frame of the interchange protocol has names;
    an array, a list, or a frame with integer column names (``pd.DataFrame(array)``) has none.

    Raises
    ------
    TypeError
        Some column names are strings and some are not, with scikit-learn's message.

    Examples
    --------
    >>> import pandas as pd
    >>> feature_names(pd.DataFrame({"a": [1.0], "b": [2.0]})).tolist(), feature_names(pd.DataFrame([[1.0]]))
    (['a', 'b'], None)
    """
    pd, pl = sys.modules.get("pandas"), sys.modules.get("polars")
    if pd is not None and isinstance(X, pd.DataFrame) or pl is not None and isinstance(X, pl.DataFrame):
        names = np.asarray(list(X.columns), dtype=object)
    elif hasattr(X, "__dataframe__") and not isinstance(X, np.ndarray):
        names = np.asarray(list(X.__dataframe__().column_names()), dtype=object)
    else:
        return None
    if len(names) == 0:
        return None
    types = sorted({type(v).__qualname__ for v in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type."
        )
    return names if types == ["str"] else None


def check_array(X: Any, name: str = "X", *, min_samples: int = 1) -> np.ndarray:
    """Return ``X`` as a finite, C-contiguous 2-D float64 array, or raise a clear error."""
    if is_sparse(X):
        # scikit-learn's own type and wording (its check_array(accept_sparse=False)): code that
        # catches it for scikit-learn's dense-only estimators catches it here too.
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required. "
            "Use '.toarray()' to convert to a dense numpy array."
        )
    arr = np.asarray(X)
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported for {name}; got dtype {arr.dtype}.")
    if arr.dtype.kind not in "biuf":
        arr = arr.astype(np.float64)  # raises TypeError/ValueError for non-numbers
    if arr.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array for {name} (n_samples, n_features), got a "
            f"{arr.ndim}-D array of shape {arr.shape}. Reshape your data, for example with "
            f"{name}.reshape(-1, 1) for a single feature or {name}.reshape(1, -1) "
            "for a single sample."
        )
    if arr.shape[0] < min_samples:
        raise ValueError(
            f"Found array with {arr.shape[0]} sample(s) (shape={arr.shape}) while a "
            f"minimum of {min_samples} is required for {name}."
        )
    if arr.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    # A finite sum means finite values (a NaN or an inf makes the sum one): one pass and no
    # temporary, as scikit-learn checks; only an overflowing sum is looked at value by value.
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if not np.isfinite(total) and not np.isfinite(arr).all():
        raise ValueError(f"Input {name} contains NaN or inf; remove or impute those values.")
    return arr


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray:
    """Weights as a contiguous (n_samples,) float64 array: finite, >= 0, not all zero.

    None means every weight is 1; a number means every weight is that number.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    if isinstance(sample_weight, numbers.Number):
        w = np.full(n_samples, float(sample_weight))  # type: ignore[arg-type]
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != n_samples:
            raise ValueError(f"sample_weight must be a 1-D array of length n_samples={n_samples}, got shape {w.shape}.")
    if not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or inf.")
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative.")
    if not (w > 0).any():
        raise ValueError("sample_weight must have at least one positive value; all weights are zero.")
    return np.ascontiguousarray(w)


def check_seed(random_state: Any) -> SeedLike:
    """``random_state`` if it is None, an int >= 0, a numpy ``Generator`` or ``RandomState``; a clear
    error otherwise, without making a generator (for a path that may draw nothing).

    An int is checked by :func:`check_int`: a bool (TypeError) or a negative seed (ValueError) is
    refused, naming ``random_state``, instead of numpy's bare "expected non-negative integer".

    Examples
    --------
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: random_state must be an integer >= 0 (or None, a numpy Generator or RandomState), got -1.
    """
    if random_state is None or isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    if isinstance(random_state, (numbers.Integral, np.integer, np.bool_)):
        return check_int(random_state, "random_state", low=0, hint="or None, a numpy Generator or RandomState")
    raise TypeError(f"random_state must be None, an int, a numpy Generator or RandomState, got {random_state!r}.")


def check_random_state(random_state: SeedLike) -> np.random.Generator:
    """Turn ``None``, an int >= 0, a ``Generator`` or a ``RandomState`` into a ``Generator``
    (checked by :func:`check_seed`)."""
    seed = check_seed(random_state)
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**31 - 1))
    return np.random.default_rng(seed)


def check_centers(centers: Any, n_features: int, name: str = "centroids") -> np.ndarray:
    """Centres as a finite 2-D float64 array with ``n_features`` columns, or a clear error."""
    c = check_array(centers, name)
    if c.shape[1] != n_features:
        raise ValueError(f"{name} has {c.shape[1]} features (columns) but X has {n_features}; they must match.")
    return c


def magnitude_limit(n_features: int, total_weight: float = 1.0) -> float:
    """The largest magnitude of a coordinate for which squared distances stay finite in float64:
    ``sqrt(float64 max / (8 n_features max(1, total_weight)))``. Two points within it differ by at
    most twice it in each coordinate, so a squared distance, summed over the features, is at most
    half of float64's largest value divided by ``total_weight`` (a sum of distances over points of
    that total weight, as an inertia, stays finite too); the other half is room for rounding
    (summed exactly, ``4 n_features`` would do, but the sums round up by a few units in the last
    place) and for the expanded form ``|x|^2 - 2 x.c + |c|^2``.

    Examples
    --------
    >>> f"{magnitude_limit(2):.4g}"
    '3.352e+153'
    """
    return math.sqrt(float(np.finfo(np.float64).max) / (8.0 * n_features * max(1.0, float(total_weight))))


def check_magnitude(
    arr: np.ndarray, name: str, n_features: int | None = None, *, total_weight: float = 1.0
) -> np.ndarray:
    """``arr`` (a finite float array, as :func:`check_array` returns) if no value's magnitude
    exceeds :func:`magnitude_limit` for ``n_features`` (default: ``arr``'s columns) and
    ``total_weight``; a ValueError otherwise: beyond it a squared distance overflows to inf, and
    nearest centres, means and costs come out wrong. Two reductions, no temporary array.

    Examples
    --------
    >>> check_magnitude(np.array([[1e200, 0.0]]), "X")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X holds a value of magnitude 1e+200, above 3.352e+153 = sqrt(float64 max / (8 x 2 features)), where ...
    """
    if arr.size == 0:
        return arr
    d = arr.shape[-1] if n_features is None else n_features
    limit = magnitude_limit(d, total_weight)
    big = max(float(arr.max()), -float(arr.min()))
    if big > limit:
        weight = f" x total weight {float(total_weight):.4g}" if total_weight > 1 else ""
        raise ValueError(
            f"{name} holds a value of magnitude {big:.4g}, above {limit:.4g} = sqrt(float64 max / "
            f"(8 x {d} features{weight})), where squared distances overflow; rescale the data."
        )
    return arr
