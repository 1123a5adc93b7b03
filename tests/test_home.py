"""The site's front page leads somewhere useful: the web app, which links to admin and the API
docs; admin's "View site" goes there too (issue 13, item 6)."""

from html.parser import HTMLParser

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href"):
            self.hrefs.append(dict(attrs)["href"])


def links(response) -> list[str]:
    parser = _Links()
    parser.feed(response.content.decode())
    return parser.hrefs


def test_the_front_page_leads_to_the_web_app(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/app/"
    assert client.get("/", follow=True).status_code == 200


def test_the_web_app_links_to_admin_and_the_api_docs_and_both_answer(client):
    hrefs = links(client.get("/app/"))
    assert "/admin/" in hrefs and "/api/docs/" in hrefs
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_admins_view_site_link_goes_to_the_web_app(client, admin_user):
    factories.staff_login(client, admin_user)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "/app/" in links(response)
