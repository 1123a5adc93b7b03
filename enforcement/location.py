"""Where a check-in was made, compared with the condition's permitted area.

A fix is a circle, not a point: the phone reports a position and an accuracy radius. With d
the geodesic distance (WGS-84, geopy) from the area's centre to the fix, r the area's radius
and a the accuracy, every point of the fix's circle lies between d - a and d + a from the
centre, so:

- d + a <= r: the whole circle is inside the area: inside;
- d - a > r: the whole circle is outside: outside, a breach (the only result that opens a
  `location_outside_area` task);
- otherwise the circle straddles the edge, whichever side its centre is on: the fix is too
  inaccurate to tell, recorded as inconclusive and shown to the officer, never a breach.

Phones report accuracy as a 68% confidence radius, so "outside" still deserves an officer's
look, which the task gives it. The position is read once per check-in and never tracked.
"""

import math
from dataclasses import dataclass

from geopy.distance import geodesic

INSIDE = "inside"
OUTSIDE = "outside"
INCONCLUSIVE = "inconclusive"
NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class LocationAssessment:
    result: str
    distance_to_centre_km: float | None = None
    distance_to_edge_km: float | None = None  # from the fix's centre; negative inside the area

    @property
    def evidence(self) -> dict:
        return {
            "location_result": self.result,
            "distance_to_centre_km": None if self.distance_to_centre_km is None else round(self.distance_to_centre_km, 3),
            "distance_to_edge_km": None if self.distance_to_edge_km is None else round(self.distance_to_edge_km, 3),
        }


def assess(*, centre: tuple[float, float] | None, radius_km: float | None, latitude: float, longitude: float, accuracy_m: float) -> LocationAssessment:
    if centre is None or radius_km is None:
        return LocationAssessment(NOT_CHECKED)
    if not (math.isfinite(accuracy_m) and accuracy_m > 0):
        raise ValueError(f"accuracy must be a positive number of metres, not {accuracy_m!r}")
    distance = geodesic(centre, (latitude, longitude)).km
    accuracy_km = accuracy_m / 1000.0
    if distance + accuracy_km <= radius_km:
        result = INSIDE
    elif distance - accuracy_km > radius_km:
        result = OUTSIDE
    else:
        result = INCONCLUSIVE
    return LocationAssessment(result, distance, distance - radius_km)
