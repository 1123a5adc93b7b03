"""The auditors' dashboard (issue 17.7): outcomes in words in English and French, the report's
charts in the page, audit-chain verification from the page, detail pages as fields, and one
access record per image per visit of a task page."""

import base64
import re
from io import BytesIO

import pytest
from PIL import Image

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


def _policy(response) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in response["Content-Security-Policy"].split(";") if part.strip()}


def test_the_charts_are_drawn_in_the_page_only_when_asked_for(seeded, auditor, client):  # noqa: F811
    page = client.get(DASHBOARD, PERIOD)
    html = page.content.decode()
    assert "<img" not in html  # drawing them takes seconds: the figures come first
    link = re.search(r'<a href="(\?[^"]*charts=1[^"]*)">Show charts</a>', html).group(1)
    assert "start=2026-03-02" in link and "end=2026-03-08" in link

    page = client.get(DASHBOARD + link.replace("&amp;", "&"), HTTP_ACCEPT_LANGUAGE="fr")
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', page.content.decode())
    assert [alt for _, alt in images] == [
        "Graphique : Présentations par jour selon le résultat (les mêmes chiffres figurent dans les tableaux ci-dessous)",
        "Graphique : Taux par région (les mêmes chiffres figurent dans les tableaux ci-dessous)",
        "Graphique : Taux par pays de citoyenneté (les mêmes chiffres figurent dans les tableaux ci-dessous)",
    ]
    for data, _alt in images:
        with Image.open(BytesIO(base64.b64decode(data))) as chart:
            assert chart.format == "PNG" and chart.width >= 800 and chart.height >= 300
    # The staff pages' policy lets the page show data: images, and nothing else from elsewhere.
    assert _policy(page)["img-src"] == "img-src 'self' data:"
