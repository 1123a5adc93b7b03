import json
import os
import subprocess
import sys

import pytest

from config.celery import app as celery_app
from tests.conftest import ROOT


def test_healthz_answers_without_touching_dependencies(client):
    # No django_db mark: any database access here would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_names_the_broker_when_it_does_not_answer(client):
    previous = celery_app.conf.broker_url, celery_app.conf.broker_write_url
    dead = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = dead
    try:
        response = client.get("/readyz")
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_write_url = previous
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["error"]["code"] == "not_ready"
    assert "broker" in body["error"]["message"]


def test_readyz_names_the_database_when_it_does_not_answer():
    code = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz', HTTP_HOST='localhost');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings",
             "DATABASE_URL": "postgres://127.0.0.1:9/nothing", "DATABASE_CONNECT_TIMEOUT": "1"},
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 503
    assert "database" in outcome["body"]["failing"]
