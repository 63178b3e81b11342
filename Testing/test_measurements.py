"""Clinical measurements on hand-computed cases (heatmap_landmarks.cardiac.measurements)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from heatmap_landmarks.errors import InputError
from heatmap_landmarks.cardiac.measurements import (
    annulus_excursion,
    distance_mm,
    excursion_mm,
    long_axis_length,
    mitral_annulus_diameter,
    principal_axis,
    rv_insertion_angle,
)

NAN3 = [math.nan] * 3


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 0], [3, 4, 0], [5.0]),
    ([1, 2, 3], [1, 2, 3], [0.0]),
    ([[0, 0, 0], [1, 1, 1]], [[0, 0, 2], [4, 5, 1]], [2.0, 5.0]),
    ([[0, 0, 0], [0, 0, 0]], [3, 0, 4], [5.0, 5.0]),  # one point against many
    ([[0, 0, 0]], [NAN3], [math.nan]),
])
def test_distance(a, b, expected):
    np.testing.assert_allclose(distance_mm(a, b), expected)


def test_annulus_diameter_and_long_axis_are_distances_per_frame():
    mv1 = [[10.0, 0.0, 0.0], [10.0, 0.0, -6.0], NAN3]
    mv2 = [[40.0, 0.0, 0.0], [34.0, 8.0, -6.0], [40.0, 0.0, 0.0]]
    np.testing.assert_allclose(mitral_annulus_diameter(mv1, mv2), [30.0, 25.298221281347036, math.nan])
    np.testing.assert_allclose(long_axis_length([[0, 0, 0]], [[0, 60, 80]]), [100.0])


@pytest.mark.parametrize("positions, axis, expected", [
    ([[0, 0, 0], [0, 0, -5], [0, 0, -12], [0, 0, -3]], None, 12.0),  # along S, principal axis
    ([[0, 0, 0], [3, 4, 0]], None, 5.0),  # oblique straight path: full length
    ([[0, 0, 0], [3, 4, 0]], [1, 0, 0], 3.0),  # projected on R
    ([[0, 0, 0], [3, 4, 0]], [0, 0, 2], 0.0),  # perpendicular axis (any length)
    ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], None, 0.0),  # no motion
    ([[0, 0, 0], NAN3, [0, 0, 7]], None, 7.0),  # a missing frame is skipped
    ([[0, 0, 0], NAN3], None, math.nan),  # fewer than two frames
])
def test_excursion(positions, axis, expected):
    got = excursion_mm(positions, axis)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-9)


def test_principal_axis_of_a_line_and_of_too_few_points():
    axis = principal_axis([[1, 2, 3], [1, 2, 7], [1, 2, 5]])
    np.testing.assert_allclose(np.abs(axis), [0, 0, 1], atol=1e-12)
    assert np.isnan(principal_axis([[1, 2, 3]])).all()


def test_annulus_excursion_midpoint_and_hinges():
    # Hinges descend 10 and 14 mm (and come back); the midpoint travels their mean, 12 mm.
    mv1 = [[0, 0, 0], [0, 0, -10], [0, 0, -5]]
    mv2 = [[30, 0, 0], [30, 0, -14], [30, 0, -7]]
    result = annulus_excursion(mv1, mv2)
    assert result == pytest.approx({"MV-1": 10.0, "MV-2": 14.0, "midpoint": 12.0})
    along_r = annulus_excursion(mv1, mv2, axis=[1, 0, 0])
    assert along_r == pytest.approx({"MV-1": 0.0, "MV-2": 0.0, "midpoint": 0.0})


@pytest.mark.parametrize("rvi1, rvi2, centre, expected", [
    ([1, 0, 0], [0, 1, 0], [0, 0, 0], 90.0),
    ([2, 2, 5], [2, -2, 5], [0, 0, 5], 90.0),
    ([1, 0, 0], [-1, 0, 0], [0, 0, 0], 180.0),
    ([1, 0, 0], [5, 0, 0], [0, 0, 0], 0.0),
    ([1, 0, 0], [0.5, math.sqrt(3) / 2, 0], [0, 0, 0], 60.0),
    ([10, 10, 0], [10, 0, 0], [0, 0, 0], 45.0),
    (NAN3, [0, 1, 0], [0, 0, 0], math.nan),  # missing point
    ([0, 0, 0], [0, 1, 0], [0, 0, 0], math.nan),  # RVI on the centre: no direction
])
def test_rv_insertion_angle(rvi1, rvi2, centre, expected):
    got = rv_insertion_angle(rvi1, rvi2, centre)
    assert got.shape == (1,)
    assert (math.isnan(got[0]) and math.isnan(expected)) or got[0] == pytest.approx(expected, abs=1e-9)


def test_rv_insertion_angle_per_slice():
    centres = [[0, 0, 0], [0, 0, 8]]
    got = rv_insertion_angle([[1, 0, 0], [1, 0, 8]], [[0, 1, 0], [-1, 0, 8]], centres)
    np.testing.assert_allclose(got, [90.0, 180.0])


@pytest.mark.parametrize("call", [
    lambda: distance_mm([0, 0], [0, 0]),
    lambda: distance_mm([[0, 0, 0]] * 2, [[0, 0, 0]] * 3),
    lambda: distance_mm([math.inf, 0, 0], [0, 0, 0]),
    lambda: excursion_mm([[0, 0, 0], [1, 0, 0]], axis=[0, 0, 0]),
    lambda: rv_insertion_angle([[0, 0, 0]] * 2, [[1, 0, 0]] * 3, [0, 0, 0]),
])
def test_bad_shapes_are_input_errors(call):
    with pytest.raises(InputError):
        call()
