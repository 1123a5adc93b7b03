"""Where a check-in was made, compared with the condition's permitted area.

The fix is a circle (the phone's reported accuracy), not a point. It is a breach only when
the whole circle lies outside the area; when the circle crosses the edge and its centre is
outside, we cannot tell, and say so instead of accusing anyone.
"""

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
    distance_to_edge_km: float | None = None  # negative inside the area

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
    distance = geodesic(centre, (latitude, longitude)).km
    edge = distance - radius_km
    accuracy_km = accuracy_m / 1000.0
    if edge <= 0:
        result = INSIDE
    elif edge > accuracy_km:
        result = OUTSIDE
    else:
        result = INCONCLUSIVE
    return LocationAssessment(result, distance, edge)
