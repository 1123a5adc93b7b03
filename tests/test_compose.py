"""docker-compose.yml cannot run here (no Docker engine), so check that it is well-formed and
that every command it runs names something that exists in this repository."""

import importlib
import re
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


@pytest.mark.parametrize("name", ["web", "worker", "worker-long", "beat", "db", "redis", "objectstore"])
def test_every_long_running_service_has_a_health_check(name):
    assert SERVICES[name]["healthcheck"]["test"]


def test_application_services_use_postgres_and_redis_and_persist_media():
    for name in ("web", "worker", "beat", "migrate"):
        env = SERVICES[name]["environment"]
        assert env["DATABASE_URL_FILE"].startswith("/run/secrets/") and env["CELERY_BROKER_URL_FILE"].startswith("/run/secrets/")
        assert any(volume.startswith("media:") for volume in SERVICES[name]["volumes"])
    assert {"pgdata", "media", "redisdata"} <= set(COMPOSE["volumes"])


def test_only_the_proxy_is_published_and_gunicorn_trusts_forwarded_headers_from_it_alone():
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"proxy"}
    assert sorted(SERVICES["proxy"]["ports"]) == ["443:443", "80:80"]
    proxy_address = SERVICES["proxy"]["networks"]["edge"]["ipv4_address"]
    for name in ("web", "worker", "beat", "migrate"):
        env = SERVICES[name]["environment"]
        assert env["FORWARDED_ALLOW_IPS"] == proxy_address != "*"
        assert env["REPORTIN_TRUSTED_PROXIES"] == "1" and env["DJANGO_SECURE_PROXY_SSL_HEADER"] == "1"
    assert set(SERVICES["web"]["networks"]) == {"edge", "backend"}
    assert COMPOSE["networks"]["backend"]["internal"] is True
    for name in ("db", "redis", "migrate", "beat"):
        assert "edge" not in SERVICES[name]["networks"], name
    volumes = " ".join(SERVICES["proxy"]["volumes"])
    assert "deploy/nginx/reportin.conf.template" in volumes and "deploy/nginx/proxy_params.conf" in volumes


# Images whose digest could not be checked from the machine that wrote this file (no registry
# access): pinned by an exact tag, and named here so that nobody mistakes them for pinned.
PINNED_BY_TAG_ONLY = {"objectstore"}


def test_images_are_pinned_by_digest():
    for name, service in SERVICES.items():
        if "image" in service and "build" not in service:
            if name in PINNED_BY_TAG_ONLY:
                assert re.search(r":\d+\.\d+$", service["image"]), name  # an exact release, never "latest"
                continue
            assert re.search(r"@sha256:[0-9a-f]{64}$", service["image"]), name
    base = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("FROM "))
    assert re.search(r"@sha256:[0-9a-f]{64}", base), base


def test_secrets_come_from_files_and_never_from_the_environment():
    declared = set(COMPOSE["secrets"])
    for name, service in SERVICES.items():
        assert set(service.get("secrets", [])) <= declared, name
        env = service.get("environment", {})
        for key, value in env.items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/") and value.removeprefix("/run/secrets/") in service["secrets"], (name, key)
            # Secrets: passwords, keys, tokens and the URLs that carry credentials (an API's
            # public endpoint, a key's public half or id, are not).
            secret = re.search(r"(PASSWORD|SECRET_KEY|SECRET_ACCESS_KEY|ENCRYPTION_KEYS|API_KEY|TOKEN|PRIVATE_KEY|(DATABASE|BROKER|CACHE)_URL)$", key)
            assert not secret or key.endswith("_FILE") or key.startswith("POSTGRES_"), (name, key)
    # Redis asks for a password; PostgreSQL's superuser is not the application's role.
    assert "requirepass" in " ".join(SERVICES["redis"]["command"])
    assert SERVICES["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    init = (ROOT / "deploy" / "postgres" / "init-roles.sh").read_text()
    assert "CREATE ROLE reportin_app LOGIN NOSUPERUSER" in init
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()  # never copied into the image


def test_web_runs_gunicorn_with_the_projects_config_and_wsgi_app():
    command = command_of("web")
    assert command[0] == "gunicorn"
    config_path = ROOT / command[command.index("-c") + 1]
    assert config_path.is_file()
    namespace: dict = {}
    exec(config_path.read_text(), namespace)
    module_name, attribute = namespace["wsgi_app"].split(":")
    assert hasattr(importlib.import_module(module_name), attribute)


@pytest.mark.parametrize(("name", "subcommand"), [("worker", "worker"), ("worker-long", "worker"), ("beat", "beat")])
def test_worker_and_beat_run_the_projects_celery_app(name, subcommand):
    command = command_of(name)
    assert command[:3] == ["celery", "-A", "config"] and command[3] == subcommand
    from config.celery import app

    assert importlib.import_module("config").celery_app is app


def test_every_queue_tasks_are_routed_to_is_consumed_by_a_worker_service():
    from config.celery import app

    consumed = set()
    for name in SERVICES:
        command = command_of(name) if SERVICES[name].get("command") else []
        if command[:4] == ["celery", "-A", "config", "worker"]:
            consumed |= set(command[command.index("-Q") + 1].split(","))
    routed = {route["queue"] for route in app.conf.task_routes.values()} | {app.conf.task_default_queue}
    assert routed == {"scoring", "default", "long", "notify"} and routed <= consumed
    assert command_of("worker-long")[command_of("worker-long").index("-Q") + 1] == "long"


def test_manage_py_commands_in_compose_exist():
    for name, service in SERVICES.items():
        command = service.get("command")
        text = " ".join(command) if isinstance(command, list) else (command or "")
        for found in re.findall(r"python manage\.py (\w+)", text):
            assert found in get_commands(), f"{name}: manage.py {found} does not exist"


def test_the_image_builds_from_files_that_exist():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "." not in line.split()[1:2]:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert "dlib-bin" in (ROOT / "requirements.txt").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in dockerfile


def _dependencies(name: str) -> set[str]:
    """Every service `name` waits for, directly or through another."""
    found, todo = set(), [name]
    while todo:
        for dependency in SERVICES[todo.pop()].get("depends_on", {}):
            if dependency not in found:
                found.add(dependency)
                todo.append(dependency)
    return found


def test_photos_and_exports_go_to_the_object_store_service():
    store = SERVICES["objectstore"]
    assert store["image"].startswith("chrislusf/seaweedfs:") and "-s3" in store["command"]
    assert "ports" not in store  # internal network only
    assert any(volume.startswith("objects:") for volume in store["volumes"]) and "objects" in COMPOSE["volumes"]
    # Its one identity comes from a secret file, as the application's key does.
    config = next(arg for arg in store["command"] if arg.startswith("-s3.config="))
    assert config == "-s3.config=/run/secrets/s3_identities" and store["secrets"] == ["s3_identities"]
    assert COMPOSE["secrets"]["s3_identities"]["file"] == "./secrets/s3_identities.json"
    for name in ("web", "worker", "beat", "migrate", "storage-init"):
        env = SERVICES[name]["environment"]
        assert env["REPORTIN_S3_BUCKET"] and env["REPORTIN_S3_ENDPOINT_URL"].endswith("//objectstore:8333}")
        assert env["REPORTIN_S3_SECRET_ACCESS_KEY_FILE"] == "/run/secrets/s3_secret_key"
        assert "objectstore" in _dependencies(name)
    assert command_of("storage-init")[:3] == ["python", "manage.py", "storage_bucket"]
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"]["storage-init"]["condition"] == "service_completed_successfully"


def test_make_secrets_writes_every_secret_compose_names_and_one_object_store_identity(tmp_path, monkeypatch):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("make_secrets", ROOT / "deploy" / "make_secrets.py")
    make_secrets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_secrets)
    monkeypatch.setattr(make_secrets, "FOLDER", tmp_path / "secrets")
    monkeypatch.setattr(make_secrets, "ROOT", tmp_path)
    make_secrets.main("reportin.example.org")
    for name, declared in COMPOSE["secrets"].items():
        assert (tmp_path / declared["file"]).is_file(), name
    identity = json.loads((tmp_path / "secrets" / "s3_identities.json").read_text())["identities"][0]
    assert identity["credentials"][0]["secretKey"] == (tmp_path / "secrets" / "s3_secret_key").read_text().strip()
    public = (tmp_path / "secrets" / "vapid_public_key").read_text().strip()
    assert len(public) == 87 and "BEGIN EC PRIVATE KEY" in (tmp_path / "secrets" / "vapid_private_key").read_text()
