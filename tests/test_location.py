"""The permitted-area rule: a breach only when the whole accuracy circle lies outside."""

import math

import pytest
from geopy.distance import geodesic

from enforcement import location

TORONTO = (43.6532, -79.3832)
RADIUS_KM = 50.0


def fix_at(distance_km: float, bearing: float = 90.0) -> tuple[float, float]:
    """A point `distance_km` from the area's centre (geodesic, WGS-84)."""
    point = geodesic(kilometers=distance_km).destination(TORONTO, bearing)
    return point.latitude, point.longitude


def assess(distance_km: float, accuracy_m: float, bearing: float = 90.0) -> location.LocationAssessment:
    latitude, longitude = fix_at(distance_km, bearing)
    return location.assess(centre=TORONTO, radius_km=RADIUS_KM, latitude=latitude, longitude=longitude, accuracy_m=accuracy_m)


@pytest.mark.parametrize(
    ("distance_km", "accuracy_m", "expected"),
    [
        (10.0, 20, "inside"),  # well inside
        (49.9, 50, "inside"),  # near the edge, the whole circle still inside
        (49.9, 200, "inconclusive"),  # centre inside, circle crosses the edge
        (50.1, 200, "inconclusive"),  # centre outside, circle crosses the edge: not a breach
        (50.1, 50, "outside"),  # the whole circle just outside
        (52.0, 1500, "outside"),
        (52.0, 2500, "inconclusive"),  # the same place, but the phone could not tell
        (80.0, 60_000, "inconclusive"),  # so inaccurate the circle covers the whole area
        (300.0, 5000, "outside"),
    ],
)
def test_circles_are_judged_whole(distance_km, accuracy_m, expected):
    assert assess(distance_km, accuracy_m).result == expected


@pytest.mark.parametrize("bearing", [0.0, 45.0, 90.0, 180.0, 270.0])
def test_a_circle_straddling_the_edge_is_inconclusive_in_every_direction(bearing):
    # 200 m circles whose centres are 150 m inside and 150 m outside the edge.
    assert assess(RADIUS_KM - 0.15, 200, bearing).result == "inconclusive"
    assert assess(RADIUS_KM + 0.15, 200, bearing).result == "inconclusive"
    assert assess(RADIUS_KM + 0.25, 200, bearing).result == "outside"
    assert assess(RADIUS_KM - 0.25, 200, bearing).result == "inside"


def test_distances_are_recorded_for_the_officer():
    result = assess(55.0, 100)
    assert result.result == "outside"
    assert result.distance_to_centre_km == pytest.approx(55.0, abs=1e-6)
    assert result.distance_to_edge_km == pytest.approx(5.0, abs=1e-6)
    assert result.evidence == {"location_result": "outside", "distance_to_centre_km": 55.0, "distance_to_edge_km": 5.0}


def test_without_an_area_nothing_is_checked():
    result = location.assess(centre=None, radius_km=None, latitude=10, longitude=10, accuracy_m=5)
    assert result.result == "not_checked"
    assert result.evidence["distance_to_centre_km"] is None


@pytest.mark.parametrize("accuracy_m", [0, -5, math.nan, math.inf])
def test_a_fix_without_a_usable_accuracy_is_refused(accuracy_m):
    with pytest.raises(ValueError):
        location.assess(centre=TORONTO, radius_km=RADIUS_KM, latitude=43.7, longitude=-79.4, accuracy_m=accuracy_m)


def test_the_geodesic_distance_is_used_not_a_flat_approximation():
    # 1 degree of longitude at Toronto's latitude is about 80.6 km, not 111 km.
    latitude, longitude = TORONTO[0], TORONTO[1] + 1.0
    result = location.assess(centre=TORONTO, radius_km=81.0, latitude=latitude, longitude=longitude, accuracy_m=10)
    assert result.result == "inside"
    assert result.distance_to_centre_km == pytest.approx(80.6, abs=0.2)


# --- Through the scoring of a real check-in ---------------------------------------------------


@pytest.fixture
def client_with_area(db):
    from tests import factories

    client = factories.client()
    factories.reference_photo(client)
    factories.condition(client, area_latitude=TORONTO[0], area_longitude=TORONTO[1], area_radius_km=RADIUS_KM)
    factories.consent_both(client)
    _, device = factories.device(client)
    return client, device


def score_checkin_at(device, distance_km: float, accuracy_m: float, key: str):
    from django.utils import timezone

    from reportin.scoring import checkin_score
    from reportin.services import checkin_submit
    from tests import images

    latitude, longitude = fix_at(distance_km)
    checkin, _ = checkin_submit(
        device=device, selfie=images.selfie(), latitude=latitude,
        longitude=longitude, accuracy_m=accuracy_m, captured_at=timezone.now(), idempotency_key=key,
    )
    checkin_score(checkin_id=checkin.pk)
    checkin.refresh_from_db()
    return checkin


def test_a_straddling_fix_is_shown_as_inconclusive_and_opens_no_task(client_with_area):
    from enforcement.models import InvestigationTask

    client, device = client_with_area
    checkin = score_checkin_at(device, RADIUS_KM + 0.1, 300, "straddle")
    assert (checkin.location_result, checkin.status) == ("inconclusive", "verified")
    assert checkin.distance_to_area_km == pytest.approx(0.1, abs=1e-6)
    assert not InvestigationTask.objects.filter(client=client, reason="location_outside_area").exists()


def test_a_fix_wholly_outside_opens_a_location_task(client_with_area):
    from enforcement.models import InvestigationTask

    client, device = client_with_area
    checkin = score_checkin_at(device, RADIUS_KM + 2, 300, "outside")
    assert (checkin.location_result, checkin.status) == ("outside", "needs_review")
    task = InvestigationTask.objects.get(client=client, reason="location_outside_area")
    assert task.checkin_id == checkin.pk
    assert task.evidence["location_result"] == "outside"
    assert task.evidence["distance_to_edge_km"] == pytest.approx(2.0, abs=1e-3)
