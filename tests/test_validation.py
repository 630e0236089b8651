"""Validation (``_validation.py``): the one integer / choice / palette-size check every entry point
uses, called directly. ``bool`` is not an integer; numpy integers are; every message names the
parameter, what is allowed and the value given (the exact sentences are checked, so a change to
them is a decision, not an accident).

How each public function answers bad values is tested with the function: the tutorial's functions
and ``KMeans`` in test_kmeans.py, ``compress`` in test_compress.py, the command line in
test_cli.py and test_bad_input.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from kmeans_compress import compress, quantize, quantize_image, shared_palette
from kmeans_compress._histogram import pixel_histogram
from kmeans_compress._palette import palette_from_histogram
from kmeans_compress._validation import (
    MAX_PALETTE,
    check_choice,
    check_index_maps,
    check_int,
    check_magnitude,
    check_n_colors,
    check_palette,
    magnitude_limit,
)

NUMPY_INTEGERS = [np.int8(3), np.int16(3), np.int32(3), np.int64(3), np.uint8(3), np.uint16(3), np.uint64(3)]


# --------------------------------------------------------------------- check_int


@pytest.mark.parametrize("value", [3, *NUMPY_INTEGERS], ids=lambda v: type(v).__name__)
def test_check_int_accepts_python_and_numpy_integers_and_returns_a_python_int(value):
    got = check_int(value, "n", low=1, high=5)
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True)], ids=repr)
def test_check_int_refuses_bool(value):
    with pytest.raises(TypeError, match=r"^n_init must be an integer >= 1, got .* of type (bool|bool_)\.$"):
        check_int(value, "n_init", low=1)


@pytest.mark.parametrize("value", [2.0, 2.5, np.float64(2.0), "3", None, [3], np.array([3])], ids=repr)
def test_check_int_refuses_what_is_not_an_integer(value):
    expected = f"K must be an integer, got {value!r} of type {type(value).__name__}."
    with pytest.raises(TypeError) as info:
        check_int(value, "K")
    assert str(info.value) == expected


@pytest.mark.parametrize(
    "bounds, value, message",
    [
        ({"low": 1}, 0, "K must be an integer >= 1, got 0."),
        ({"low": 0}, -7, "K must be an integer >= 0, got -7."),
        ({"high": 5}, 6, "K must be an integer <= 5, got 6."),
        ({"low": 1, "high": 5}, 0, "K must be an integer from 1 to 5, got 0."),
        ({"low": 1, "high": 5}, 6, "K must be an integer from 1 to 5, got 6."),
        ({"low": 1, "high": 5}, np.int64(9), "K must be an integer from 1 to 5, got 9."),
        ({"low": 1, "hint": "or 'auto'"}, 0, "K must be an integer >= 1 (or 'auto'), got 0."),
    ],
)
def test_check_int_range_message_names_the_parameter_the_range_and_the_value(bounds, value, message):
    with pytest.raises(ValueError) as info:
        check_int(value, "K", **bounds)
    assert str(info.value) == message


def test_check_int_bounds_are_inclusive_and_optional():
    assert check_int(1, "K", low=1, high=5) == 1
    assert check_int(5, "K", low=1, high=5) == 5
    assert check_int(-(10**30), "K") == -(10**30)
    assert check_int(10**30, "K", low=0) == 10**30
    assert check_int(np.uint64(2**64 - 1), "K", low=0) == 2**64 - 1


def test_check_int_hint_also_appears_in_the_type_message():
    with pytest.raises(TypeError, match=re.escape("random_state must be an integer (start i uses random_state + i)")):
        check_int("0", "random_state", hint="start i uses random_state + i")


# --------------------------------------------------------------------- check_choice


def test_check_choice_returns_an_allowed_value():
    assert check_choice("lab", "space", ("rgb", "lab", "oklab")) == "lab"


@pytest.mark.parametrize("value", ["hsv", "LAB", "", None, 1])
def test_check_choice_message_names_the_parameter_the_choices_and_the_value(value):
    with pytest.raises(ValueError) as info:
        check_choice(value, "space", ("rgb", "lab", "oklab"))
    assert str(info.value) == f"space must be one of rgb, lab, oklab, got {value!r}."


# --------------------------------------------------------------------- check_palette, check_index_maps


def test_check_palette_messages():
    with pytest.raises(ValueError, match=r"^palette must have shape \(K, 3\) with K from 1 to 256, got \(2, 4\)\.$"):
        check_palette(np.zeros((2, 4), np.uint8))
    with pytest.raises(ValueError, match=r"^palette must hold integers 0-255, got 0\.5\.$"):
        check_palette([[0.5, 0, 0]])
    with pytest.raises(ValueError, match=r"^palette must hold integers 0-255, got dtype <U1\.$"):
        check_palette([["a", "b", "c"]])
    with pytest.raises(ValueError, match=r"^palette must hold integers 0-255, got 300\.$"):
        check_palette([[300, 0, 0]])
    got = check_palette(np.array([[1, 2, 3, 4]], np.int64), alpha=True)
    assert got.dtype == np.uint8 and got.tolist() == [[1, 2, 3, 4]]


def test_check_index_maps_messages_and_no_copy_of_a_uint8_map():
    with pytest.raises(ValueError, match=r"^indices must be below the palette's 4 entries \(0 to 3\), got 4\.$"):
        check_index_maps([np.zeros((1, 1), np.uint8), np.full((1, 1), 4, np.uint8)], 4)
    with pytest.raises(ValueError, match=r"^indices must be integers, got dtype complex128\.$"):
        check_index_maps([np.zeros((1, 1), complex)], 4)
    assert check_index_maps([np.ones((1, 2), bool)], 2)[0].tolist() == [[1, 1]]
    m = np.zeros((3, 3), np.uint8)
    assert check_index_maps([m], 1)[0] is m


# --------------------------------------------------------------------- check_n_colors


@pytest.mark.parametrize("value", [1, 16, MAX_PALETTE, np.int64(16), np.uint8(255)], ids=repr)
def test_check_n_colors_accepts_1_to_256_numpy_integers_too(value):
    got = check_n_colors(value)
    assert got == int(value) and type(got) is int


@pytest.mark.parametrize("value", [0, -1, 257, np.int32(1000)], ids=repr)
def test_check_n_colors_range_message(value):
    expected = (
        f"n_colors must be an integer from 1 to 256 (an indexed PNG holds at most 256 colours), got {int(value)}."
    )
    with pytest.raises(ValueError) as info:
        check_n_colors(value)
    assert str(info.value) == expected


@pytest.mark.parametrize("value", [True, np.bool_(False), 16.0, "16"], ids=repr)
def test_check_n_colors_refuses_bool_floats_and_strings(value):
    with pytest.raises(TypeError, match=r"^n_colors must be an integer from 1 to 256 .*, got .* of type \w+\.$"):
        check_n_colors(value)


def test_check_n_colors_with_a_lower_maximum():
    assert check_n_colors(16, max_colors=16) == 16
    with pytest.raises(ValueError, match="^n_colors must be an integer from 1 to 16 "):
        check_n_colors(17, max_colors=16)


@pytest.mark.parametrize("entry", [compress, quantize], ids=lambda f: f.__name__)
def test_entry_points_refuse_bool_and_accept_numpy_n_colors(entry):
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    with pytest.raises(TypeError, match="n_colors must be an integer"):
        entry(img, True)
    a, b = entry(img, np.int64(3)), entry(img, 3)
    np.testing.assert_array_equal(a.palette, b.palette)


# --------------------------------------------------------------------- check_magnitude


def test_check_magnitude_limit_is_where_a_squared_distance_would_overflow():
    """Hand-computed: two points at +-limit in every one of d features are 2 x limit apart in each,
    so their squared distance, d x 4 x limit^2, is half of float64's largest value (the other half
    is room for rounding), for the total weight as well."""
    fmax = float(np.finfo(np.float64).max)
    for d, weight in [(1, 1.0), (3, 1.0), (2, 0.5), (2, 100.0)]:
        limit = magnitude_limit(d, weight)
        assert limit == pytest.approx((fmax / (8 * d * max(1.0, weight))) ** 0.5, rel=1e-15)
        x = np.full(d, limit)
        assert np.sum((2 * x) ** 2) * max(1.0, weight) == pytest.approx(fmax / 2, rel=1e-14)


def test_check_magnitude_message_names_the_value_and_the_limit():
    limit = magnitude_limit(2)
    X = np.array([[0.0, 1.0], [-limit, limit]])
    assert check_magnitude(X, "X") is X  # at the limit: accepted
    with pytest.raises(ValueError) as err:
        check_magnitude(np.array([[0.0, -1e160]]), "centroids")
    assert str(err.value) == (
        "centroids holds a value of magnitude 1e+160, above 3.352e+153 = sqrt(float64 max / (8 x 2 features)), "
        "where squared distances overflow; rescale the data."
    )
    with pytest.raises(ValueError, match=r"^X holds a value of magnitude 1e\+153, above .* x total weight 100\)\)"):
        check_magnitude(np.array([[1e153, 0.0]]), "X", total_weight=100.0)


@pytest.mark.parametrize("entry", [compress, quantize], ids=lambda f: f.__name__)
@pytest.mark.parametrize(("seed", "exc"), [(-1, ValueError), (True, TypeError)], ids=repr)
def test_entry_points_name_random_state_in_its_errors_whatever_the_image(entry, seed, exc):
    # -1 gave numpy's bare "expected non-negative integer" on an image that needed k-means++ draws,
    # and passed on one that needed no fit; True was taken as the seed 1. Now both are refused
    # before any fit, whatever the image.
    for img in (np.zeros((2, 2, 3), np.uint8), np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)):
        with pytest.raises(exc, match="^random_state must be an integer >= 0"):
            entry(img, 4, random_state=seed)


def _alpha(img: np.ndarray) -> np.ndarray:
    a = np.full(img.shape[:2], 255, np.uint8)
    a[0, 0] = 0
    return a


#: Every way into a fit, with what makes it take another path than compress(img, 4)'s.
_SEEDED = {
    "compress space='lab'": lambda img, seed: compress(img, 16, random_state=seed, space="lab"),
    "compress fixed_colors": lambda img, seed: compress(img, 16, random_state=seed, fixed_colors="#ff0000"),
    "compress dither": lambda img, seed: compress(img, 16, random_state=seed, dither=True),
    "quantize_image alpha": lambda img, seed: quantize_image(img, 16, alpha=_alpha(img), random_state=seed),
    "quantize_image space='lab'": lambda img, seed: quantize_image(img, 16, space="lab", random_state=seed),
    "quantize_image fixed_colors": lambda img, seed: quantize_image(img, 16, fixed_colors="#ff0000", random_state=seed),
    "shared_palette": lambda img, seed: shared_palette([img], 16, seed),
    "shared_palette fixed_colors": lambda img, seed: shared_palette([img], 16, seed, fixed_colors="#ff0000"),
    "palette_from_histogram": lambda img, seed: palette_from_histogram(pixel_histogram(img), 16, seed),
}


@pytest.mark.parametrize("entry", _SEEDED.values(), ids=_SEEDED.keys())
@pytest.mark.parametrize(
    ("seed", "exc", "words"),
    [
        ("abc", TypeError, "must be None, an int"),
        (-1, ValueError, "must be an integer >= 0"),
        (True, TypeError, "must be an integer >= 0"),
    ],
    ids=["'abc'", "-1", "True"],
)
def test_every_image_entry_refuses_a_bad_seed_whatever_the_image(entry, seed, exc, words):
    # A 2-colour image was fitted by no k-means on these paths (transparency, another space, fixed
    # colours): 'abc', -1 and True passed there and were refused on a 256-colour image.
    few = np.zeros((4, 4, 3), np.uint8)
    few[:2] = 255
    many = np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)
    for img in (few, many):
        with pytest.raises(exc, match=f"^random_state {words}"):
            entry(img, seed)
    entry(few, 0)  # the same call with a good seed goes through
