"""Distances on the Earth: the great-circle distance between two points, and `Near`, a circle around a
point as SQL a (lat, lng) index can serve. Core: imports no domain."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Float, and_, bindparam, type_coerce

EARTH_RADIUS_M = 6_371_000
METRES_PER_DEGREE = 111_195


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """Great-circle distance in whole metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a))))


@dataclass(frozen=True)
class Near:
    """A circle for the volunteers' feed, as SQL: a bounding box an index on (lat, lng) can serve, then
    the squared equirectangular distance (in degrees of latitude; exact enough within 50 km) for the
    circle and for ordering.

    The SQL (`d2`, `within`) is written over named bound parameters, not this circle's values, so a
    query using it can be built once per process and run with `params()`: building a SQLAlchemy
    expression costs more than running a cached one."""

    lat: float
    lng: float
    radius_m: float

    def params(self) -> dict[str, float]:
        k = max(math.cos(math.radians(self.lat)), 0.01)
        dlat = self.radius_m / METRES_PER_DEGREE
        return {
            "near_lat": self.lat,
            "near_lng": self.lng,
            "near_k2": k * k,
            "near_dlat": dlat,
            "near_dlng": dlat / k,
            "near_r2": dlat * dlat,
        }

    @staticmethod
    def d2(lat_column, lng_column):
        lat, lng, k2 = (bindparam(name, type_=Float) for name in ("near_lat", "near_lng", "near_k2"))
        return type_coerce(
            (lat_column - lat) * (lat_column - lat) + (lng_column - lng) * (lng_column - lng) * k2, Float
        )

    @staticmethod
    def within(lat_column, lng_column):
        lat, lng, dlat, dlng, r2 = (
            bindparam(name, type_=Float)
            for name in ("near_lat", "near_lng", "near_dlat", "near_dlng", "near_r2")
        )
        return and_(
            lat_column.between(lat - dlat, lat + dlat),
            lng_column.between(lng - dlng, lng + dlng),
            Near.d2(lat_column, lng_column) <= r2,
        )


# ---- coordinate systems ---------------------------------------------------------------------------------
#
# Phones in China see three systems: WGS-84 (GPS itself, iOS/Android raw, WeChat's wx.getLocation by
# default), GCJ-02 (the national "Mars" offset every mainland map shows: AMap/Gaode, Tencent Maps,
# WeChat with type "gcj02") and BD-09 (Baidu's further offset of GCJ-02). We store WGS-84 only; the API
# converts on the way in (and, asked for, on the way out). The GCJ-02 formula is the published one
# (Krasovsky ellipsoid, the well-known "transform" series); outside mainland China GCJ-02 is WGS-84.

WGS84, GCJ02, BD09 = "wgs84", "gcj02", "bd09"
COORD_SYSTEMS = (WGS84, GCJ02, BD09)

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses it
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0


def out_of_china(lat: float, lng: float) -> bool:
    """The usual box outside which GCJ-02 leaves coordinates alone (it covers more than the mainland:
    the formula's own rule, followed by every map that applies it)."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _shift(lat: float, lng: float) -> tuple[float, float]:
    """GCJ-02's offset (dlat, dlng) in degrees at a WGS-84 point inside the box."""
    x, y = lng - 105.0, lat - 35.0
    common = 20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (common + 20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlng += (common + 20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlng += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if out_of_china(lat, lng):
        return lat, lng
    dlat, dlng = _shift(lat, lng)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """The inverse of wgs84_to_gcj02 by fixed-point iteration (the offset changes slowly, so each step
    gains about three digits): converges to far below a millimetre in a handful of steps. Outside the
    box, the point itself."""
    if out_of_china(lat, lng):
        return lat, lng
    return _invert(wgs84_to_gcj02, lat, lng, (lat, lng), steps=30, tolerance=1e-10)


def _invert(forward, lat: float, lng: float, start: tuple[float, float], *, steps: int, tolerance: float):
    """The point p with forward(p) == (lat, lng), by fixed-point iteration from `start`: move p by what
    forward(p) misses the target by, until the miss is below `tolerance` degrees (the offsets change
    slowly, so each step gains digits)."""
    plat, plng = start
    for _ in range(steps):
        flat, flng = forward(plat, plng)
        dlat, dlng = lat - flat, lng - flng
        plat, plng = plat + dlat, plng + dlng
        if abs(dlat) < tolerance and abs(dlng) < tolerance:
            break
    return plat, plng


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    """Baidu's offset of a GCJ-02 point (the formula Baidu's own SDK documents as BD09LL)."""
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def bd09_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """The inverse of gcj02_to_bd09: the usual closed form (off by up to ~5 cm), then refined against
    the forward formula until it maps back onto the point."""
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    start = z * math.sin(theta), z * math.cos(theta)
    return _invert(gcj02_to_bd09, lat, lng, start, steps=5, tolerance=1e-11)


def _clamp(lat: float, lng: float) -> tuple[float, float]:
    """Keep a converted point a valid one (Baidu's fixed offset could push 90°/180° just past)."""
    return max(-90.0, min(90.0, lat)), max(-180.0, min(180.0, lng))


def to_wgs84(lat: float, lng: float, system: str) -> tuple[float, float]:
    """A point given in `system` (wgs84 | gcj02 | bd09) as WGS-84, the system we store."""
    if system == GCJ02:
        return _clamp(*gcj02_to_wgs84(lat, lng))
    if system == BD09:
        return _clamp(*gcj02_to_wgs84(*bd09_to_gcj02(lat, lng)))
    return lat, lng


def from_wgs84(lat: float, lng: float, system: str) -> tuple[float, float]:
    """A stored WGS-84 point as `system` shows it (for a phone map drawing it without converting)."""
    if system == GCJ02:
        return _clamp(*wgs84_to_gcj02(lat, lng))
    if system == BD09:
        return _clamp(*gcj02_to_bd09(*wgs84_to_gcj02(lat, lng)))
    return lat, lng
