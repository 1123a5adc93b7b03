"""The production stack on private servers, for the fault scripts and bench/load.py: a
PostgreSQL cluster and a Redis of our own (temporary folders, ports 25432-25439 and
26379-26389), production settings (DJANGO_DEBUG=0), gunicorn, Celery worker(s) and beat.

    stack = Stack("redis-outage")
    stack.up()                      # servers, settings, django.setup(), migrate
    people = stack.enrol(4)         # clients with a reference photo, consent, a device token
    web = stack.web(); worker = stack.worker(); beat = stack.beat()
    ...
    stack.down()                    # every process and server stopped, folders removed
"""

import base64
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs

ROOT = procs.ROOT
sys.path.insert(0, str(ROOT))


@dataclass
class Person:
    client_id: int
    device_id: int
    token: str


class Stack:
    def __init__(self, name: str, *, visibility_timeout: int | None = None, env: dict | None = None, redis_appendonly: bool = True):
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"reportin-{name}-"))
        self.pg = procs.PrivatePostgres(procs.free_port(25432, 25439))
        self.redis = procs.PrivateRedis(procs.free_port(26379, 26389), appendonly=redis_appendonly)
        self.visibility_timeout = visibility_timeout
        self.extra_env = env or {}
        self.procs: list[procs.Proc] = []
        self.env: dict[str, str] = {}

    # -- life cycle

    def up(self) -> "Stack":
        self.pg.init().start()
        self.pg.createdb("reportin")
        self.redis.start()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "fault-" + base64.urlsafe_b64encode(os.urandom(48)).decode(),
            "REPORTIN_ENCRYPTION_KEYS": "fault:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback, as behind a TLS proxy
            "DATABASE_URL": self.pg.url("reportin"),
            "CELERY_BROKER_URL": f"{self.redis.url}/0",
            "CACHE_URL": f"{self.redis.url}/1",
            "REPORTIN_DATA_DIR": str(self.dir / "data"),
            "MEDIA_ROOT": str(self.dir / "media"),
            # All load comes from one address: raise the limits (they are still counted).
            "REPORTIN_RATE_ADDRESS": "1000000000/minute",
            "REPORTIN_RATE_DEVICE": "1000000/minute",
            "LOG_LEVEL": "INFO",
            **({"CELERY_VISIBILITY_TIMEOUT": str(self.visibility_timeout)} if self.visibility_timeout else {}),
            **self.extra_env,
        }
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return self

    def down(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(timeout=15)
        from django.db import connections

        connections.close_all()
        self.redis.stop()
        self.pg.stop()
        if os.environ.get("REPORTIN_FAULT_KEEP_LOGS"):
            print(f"logs kept in {self.dir}", file=sys.stderr)
            shutil.rmtree(self.dir / "media", ignore_errors=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_path(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    # -- processes

    def worker(self, *, concurrency: int = 1, name: str = "worker", queues: str = "scoring,default,long", extra: list[str] = ()) -> procs.Proc:
        proc = procs.worker(self.env, self.log_path(name), queues=queues, concurrency=concurrency, name=name, extra=extra).start()
        self.procs.append(proc)
        procs.wait_worker_ready(proc)
        return proc

    def beat(self) -> procs.Proc:
        proc = procs.beat(self.env, self.log_path("beat"), self.dir / "celerybeat-schedule").start()
        self.procs.append(proc)
        procs.wait_until(lambda: "beat: Starting" in proc.log() or not proc.running(), timeout=60, what="beat")
        return proc

    def web(self, *, port: int | None = None, processes: int = 2, threads: int = 4) -> procs.Proc:
        self.port = port or procs.free_port(18350, 18399)
        env = {**self.env, "WEB_CONCURRENCY": str(processes), "WEB_THREADS": str(threads), "WEB_ACCESS_LOG": "-"}
        proc = procs.gunicorn(env, self.log_path("web"), port=self.port).start()
        self.procs.append(proc)
        procs.wait_until(lambda: procs.port_open(self.port) or not proc.running(), timeout=60, what="gunicorn")
        if not proc.running():
            raise RuntimeError(proc.log()[-3000:])
        return proc

    # -- data

    def enrol(self, count: int) -> list[Person]:
        """Clients with consent, a condition, one reference photo (the astronaut; enrolled once,
        the encoding shared) and an activated device."""
        from enforcement.models import ReferencePhoto
        from tests import factories

        people, reference = [], None
        for _ in range(count):
            client = factories.client()
            factories.condition(client)
            factories.consent_both(client)
            if reference is None:
                reference = factories.reference_photo(client)
            else:
                copy = ReferencePhoto.objects.get(pk=reference.pk)
                copy.pk, copy.client = None, client
                copy.save()
            token, device = factories.device(client)
            people.append(Person(client.pk, device.pk, token))
        return people

    def judged(self, ids) -> int:
        from reportin.models import CheckIn

        return CheckIn.objects.filter(pk__in=list(ids), status__in=["verified", "needs_review", "rejected"]).count()

    def face_matches(self, ids) -> dict[int, int]:
        from django.db.models import Count

        from reportin.models import FaceMatch

        return dict(FaceMatch.objects.filter(checkin_id__in=list(ids)).values_list("checkin_id").annotate(n=Count("id")))


# --- HTTP -------------------------------------------------------------------------------------


def multipart(selfie: bytes, captured_at: str, boundary: str) -> bytes:
    fields = [("latitude", b"43.6532"), ("longitude", b"-79.3832"), ("accuracy_m", b"12.5"), ("captured_at", captured_at.encode())]
    body = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="selfie"; filename="selfie.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode(),
        selfie,
        b"\r\n",
    ]
    for name, value in fields:
        body += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode(), value, b"\r\n"]
    body.append(f"--{boundary}--\r\n".encode())
    return b"".join(body)


@dataclass
class Result:
    started: float
    seconds: float
    status: int  # 0: no HTTP answer (connection refused, reset, timed out)
    key: str
    body: dict | None
    error: str = ""


@dataclass
class LoadLoop:
    """Threads that each post check-ins one after another (keep-alive) until stopped."""

    port: int
    people: list[Person]
    selfies: list[bytes]
    threads: int = 4
    pause: float = 0.0
    timeout: float = 30.0
    limit: int | None = None
    results: list[Result] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)]

    def start(self) -> "LoadLoop":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Result]:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 30)
        return self.results

    def wait(self) -> list[Result]:
        for thread in self._threads:
            thread.join()
        return self.results

    def _next(self) -> int | None:
        with self._lock:
            if self.limit is not None and self._sent >= self.limit:
                return None
            self._sent += 1
            return self._sent - 1

    def _run(self, number: int) -> None:
        connection = None
        boundary = "fault-" + uuid.uuid4().hex
        while not self._stop.is_set():
            index = self._next()
            if index is None:
                break
            person = self.people[index % len(self.people)]
            key = str(uuid.uuid4())
            body = multipart(self.selfies[index % len(self.selfies)], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), boundary)
            headers = {
                "Authorization": f"Token {person.token}",
                "Idempotency-Key": key,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            }
            started = time.perf_counter()
            status, payload, error = 0, None, ""
            for attempt in range(2):
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                    connection.request("POST", "/api/v1/check-ins", body=body, headers=headers)
                    response = connection.getresponse()
                    raw = response.read()
                    status = response.status
                    payload = json.loads(raw) if raw else None
                    if response.getheader("Connection", "").lower() == "close":
                        connection.close()
                        connection = None
                    break
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    if connection is not None:
                        connection.close()
                    connection = None
                    error = f"{type(exc).__name__}: {exc}"
                    # A kept-alive connection closed by the server (gunicorn recycles its
                    # workers): send once more on a new one, as HTTP clients do.
                    if attempt:
                        break
            with self._lock:
                self.results.append(Result(started, time.perf_counter() - started, status, key, payload, error))
            if self.pause:
                time.sleep(self.pause)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def wait_judged(stack: Stack, ids: list[int], *, timeout: float, sample=None) -> float | None:
    """Seconds until every check-in is judged, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if sample:
            sample()
        if stack.judged(ids) == len(ids):
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def emit(result: dict) -> int:
    print(json.dumps(result))
    return 0 if result.get("ok") else 1
