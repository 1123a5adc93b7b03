"""The admin pages' way in for keyboards and screen readers (issue 17.9), without a browser:
the skip link comes first, the triage queue link sits in a named nav in the header for staff
who may see the queue, and the stylesheet that underlines links in text is linked. The browser
test (test_admin_a11y_browser.py) counts the Tab stops and runs axe-core."""

import re

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def test_the_skip_link_then_the_queue_link_come_first(client):
    factories.staff_login(client, factories.staff("landmark-officer", region_code="gta"))
    body = client.get("/admin/").content.decode()
    links = re.findall(r'<a [^>]*href="([^"]+)"', body)
    assert links[:3] == ["#content-start", "/admin/", "/admin/enforcement/investigationtask/"]
    assert '<nav id="workspace-nav" aria-label="Workspace">' in body
    assert '<main id="content-start"' in body and "/static/backoffice/a11y.css" in body
    french = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'aria-label="Espace de travail"' in french


def test_no_queue_link_for_whom_the_queue_is_not(client):
    assert 'id="workspace-nav"' not in client.get("/admin/login/").content.decode()
    user = factories.staff("no-role", region_code="gta")
    user.groups.clear()
    factories.staff_login(client, user)
    assert 'id="workspace-nav"' not in client.get("/admin/password_change/").content.decode()
