"""docker-compose.yml cannot run here (no Docker engine), so check that it is well-formed and
that every command it runs names something that exists in this repository."""

import importlib
import shlex

import pytest
import yaml
from django.core.management import get_commands

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def command_of(name: str) -> list[str]:
    command = SERVICES[name].get("command")
    if command is None:  # the image's default command
        cmd_line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
        import json

        return json.loads(cmd_line[4:])
    return command if isinstance(command, list) else shlex.split(command)


def test_the_services_of_the_design_are_all_there():
    assert {"web", "worker", "beat", "db", "redis"} <= set(SERVICES)
    assert SERVICES["db"]["image"].startswith("postgres:15")
    assert SERVICES["redis"]["image"].startswith("redis:")
    assert SERVICES["beat"]["deploy"]["replicas"] == 1


@pytest.mark.parametrize("name", ["web", "worker", "beat", "db", "redis"])
def test_every_long_running_service_has_a_health_check(name):
    assert SERVICES[name]["healthcheck"]["test"]


def test_application_services_use_postgres_and_redis_and_persist_media():
    for name in ("web", "worker", "beat", "migrate"):
        env = SERVICES[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        assert any(volume.startswith("media:") for volume in SERVICES[name]["volumes"])
    assert {"pgdata", "media", "redisdata"} <= set(COMPOSE["volumes"])


def test_web_runs_gunicorn_with_the_projects_config_and_wsgi_app():
    command = command_of("web")
    assert command[0] == "gunicorn"
    config_path = ROOT / command[command.index("-c") + 1]
    assert config_path.is_file()
    namespace: dict = {}
    exec(config_path.read_text(), namespace)
    module_name, attribute = namespace["wsgi_app"].split(":")
    assert hasattr(importlib.import_module(module_name), attribute)


@pytest.mark.parametrize(("name", "subcommand"), [("worker", "worker"), ("beat", "beat")])
def test_worker_and_beat_run_the_projects_celery_app(name, subcommand):
    command = command_of(name)
    assert command[:3] == ["celery", "-A", "config"] and command[3] == subcommand
    from config.celery import app

    assert importlib.import_module("config").celery_app is app
    if subcommand == "worker":
        # Every queue tasks are routed to is consumed by some worker service.
        queues = set()
        for service in SERVICES.values():
            other = service.get("command")
            if isinstance(other, list) and other[:4] == ["celery", "-A", "config", "worker"] and "-Q" in other:
                queues |= set(other[other.index("-Q") + 1].split(","))
        routed = {route["queue"] for route in app.conf.task_routes.values()} | {app.conf.task_default_queue}
        assert routed <= queues, "every queue tasks are routed to must be consumed"


def test_manage_py_commands_in_compose_exist():
    for name, service in SERVICES.items():
        command = service.get("command")
        if isinstance(command, list) and command[:2] == ["python", "manage.py"]:
            assert command[2] in get_commands(), f"{name}: manage.py {command[2]} does not exist"


def test_the_image_builds_from_files_that_exist():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "." not in line.split()[1:2]:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert "dlib-bin" in (ROOT / "requirements.txt").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in dockerfile
