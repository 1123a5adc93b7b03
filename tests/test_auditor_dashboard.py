"""The auditors' dashboard (issue 17.7): outcomes in words in English and French, the report's
charts in the page, audit-chain verification from the page, detail pages as fields, and one
access record per image per visit of a task page."""

import pytest

from tests import factories
from tests.test_accountability_report import seeded  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/accountability/"
PERIOD = {"start": "2026-03-02", "end": "2026-03-08"}


@pytest.fixture
def auditor(client):
    user = factories.staff("auditor-17", role="Auditor", region_code=None)
    factories.staff_login(client, user)
    return user


def test_the_dashboard_names_the_outcomes_in_words_in_english_and_french(seeded, auditor, client):  # noqa: F811
    english = client.get(DASHBOARD, PERIOD).content.decode()
    totals = english[english.index('id="totals"'):english.index("</table>", english.index('id="totals"'))]
    for words in ("Match", "Not a match", "No face found", "Quality too low to compare", "Not scored yet"):
        assert f"<th>{words}</th>" in totals
    assert "non_match" not in totals and "not_scored" not in totals

    french = client.get(DASHBOARD, PERIOD, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "<th>Aucune correspondance</th>" in french and "<th>Pas encore comparée</th>" in french
    assert "Taux de non-correspondance" in french and "Taux par région" in french and "trop petit pour conclure" in french
    assert "Non-match rate" not in french
