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
    radius_m: int

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
