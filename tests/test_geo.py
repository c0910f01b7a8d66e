"""Coordinate systems (volunteer_app/geo.py): known converted points from published references, round
trips to well under a metre, and the out-of-China rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volunteer_app import geo
from volunteer_app.geo import (
    bd09_to_gcj02,
    distance_m,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_gcj02,
)

# (wgs lat, wgs lng, gcj lat, gcj lng): the pairs of googollee/eviltransform's test suite
# (python/test.py, TESTS: Shanghai, Shenzhen, Beijing), also used by its ports to other languages.
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]
# hujiulong/gcoord's unit tests (test/unit/crs/GCJ02.spec.js), point [lng 123, lat 45]:
# GCJ02 → WGS84 (122.99395597, 44.99804071) and GCJ02 → BD09 (123.00636499, 45.00636899), 5 decimals.
GCOORD_GCJ = (45.0, 123.0)
GCOORD_WGS = (44.99804071, 122.99395597)
GCOORD_BD = (45.00636899, 123.00636499)


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM)
def test_wgs84_to_gcj02_matches_the_published_pairs(wlat, wlng, glat, glng):
    lat, lng = wgs84_to_gcj02(wlat, wlng)
    assert lat == pytest.approx(glat, abs=1e-7) and lng == pytest.approx(glng, abs=1e-7)


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM)
def test_gcj02_to_wgs84_inverts_exactly(wlat, wlng, glat, glng):
    lat, lng = gcj02_to_wgs84(glat, glng)
    # eviltransform's exact inverse is held to 0.5 m; the iteration here lands within a centimetre.
    assert distance_m(lat, lng, wlat, wlng) == 0
    assert lat == pytest.approx(wlat, abs=1e-7) and lng == pytest.approx(wlng, abs=1e-7)


def test_gcoord_reference_points():
    lat, lng = gcj02_to_wgs84(*GCOORD_GCJ)
    assert lat == pytest.approx(GCOORD_WGS[0], abs=5e-6) and lng == pytest.approx(GCOORD_WGS[1], abs=5e-6)
    lat, lng = gcj02_to_bd09(*GCOORD_GCJ)
    assert lat == pytest.approx(GCOORD_BD[0], abs=5e-6) and lng == pytest.approx(GCOORD_BD[1], abs=5e-6)


def test_bd09_reference_point():
    """eviltransform's TESTS_bd: BD-09 (29.199786, 120.019809) is WGS-84 (29.1961316, 120.0087790) by
    its one-step approximate inverse, held there to 5e-5° (MATLAB port); the exact inverse here differs
    from that approximation by ~10 m and maps back onto the BD-09 point exactly."""
    bd = (29.199786, 120.019809)
    lat, lng = to_wgs84(*bd, geo.BD09)
    assert distance_m(lat, lng, 29.196131605295484, 120.00877901149691) < 15
    back = from_wgs84(lat, lng, geo.BD09)
    assert back == pytest.approx(bd, abs=1e-8)


def test_out_of_china_gcj02_is_wgs84():
    for point in ((51.5074, -0.1278), (35.6762, 139.6503), (-33.8688, 151.2093), (39.7392, -104.9903)):
        assert out_of_china(*point)
        assert wgs84_to_gcj02(*point) == point and gcj02_to_wgs84(*point) == point
        assert to_wgs84(*point, geo.GCJ02) == point
    assert not out_of_china(30.27, 120.17)
    # The box's edges: just inside is shifted, just outside is not.
    assert wgs84_to_gcj02(30.0, 72.01) != (30.0, 72.01)
    assert wgs84_to_gcj02(30.0, 71.99) == (30.0, 71.99)
    assert wgs84_to_gcj02(55.9, 120.0) == (55.9, 120.0)


def test_wgs84_is_taken_as_is():
    assert to_wgs84(30.27, 120.17, geo.WGS84) == (30.27, 120.17)
    assert from_wgs84(30.27, 120.17, geo.WGS84) == (30.27, 120.17)


@given(st.floats(18.2, 53.5), st.floats(73.5, 134.7))
def test_round_trips_inside_china_are_under_a_centimetre(lat, lng):
    for system in (geo.GCJ02, geo.BD09):
        shown = from_wgs84(lat, lng, system)
        assert shown != (lat, lng)
        back = to_wgs84(*shown, system)
        assert back == pytest.approx((lat, lng), abs=1e-7)  # 1e-7° ≈ 1 cm
    assert bd09_to_gcj02(*gcj02_to_bd09(lat, lng)) == pytest.approx((lat, lng), abs=1e-7)


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_any_point_converts_to_a_valid_point(lat, lng):
    for system in geo.COORD_SYSTEMS:
        for convert in (to_wgs84, from_wgs84):
            clat, clng = convert(lat, lng, system)
            assert -90 <= clat <= 90 and -180 <= clng <= 180
