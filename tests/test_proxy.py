"""The reverse proxy of docker-compose.yml (deploy/nginx/), run here: Debian's nginx in front of
a real gunicorn on the test database, on ports of this checkout's range (18360-18369).

- Slow clients trickling headers stay in nginx: /healthz still answers at once (while the same
  clients sent straight to gunicorn hold its threads: the control, measured too).
- X-Forwarded-* from outside change nothing: the address that counts (rate limits, sign-in
  throttles) is the socket's, and plain HTTP cannot claim HTTPS.
"""

import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backoffice.models import LoginThrottle
from tests.conftest import ROOT, wait_for, worker_env

NGINX = Path("/usr/sbin/nginx")
GUNICORN_PORT, HTTP_PORT, HTTPS_PORT = 18361, 18362, 18363
NGINX_DIR = ROOT / "deploy" / "nginx"
# The only name DJANGO_ALLOWED_HOSTS lists, as in production.
DOMAIN = "reportin.example.org"

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def render_site(folder: Path, cert: Path, key: Path) -> Path:
    """The compose template with this test's values, as the nginx image's envsubst would."""
    values = {
        "REPORTIN_UPSTREAM": f"127.0.0.1:{GUNICORN_PORT}",
        "REPORTIN_HTTP_LISTEN": f"127.0.0.1:{HTTP_PORT}",
        "REPORTIN_HTTPS_LISTEN": f"127.0.0.1:{HTTPS_PORT}",
        "REPORTIN_TLS_CERT": str(cert),
        "REPORTIN_TLS_KEY": str(key),
        "REPORTIN_NGINX_DIR": str(NGINX_DIR),
    }
    text = (NGINX_DIR / "reportin.conf.template").read_text()
    text = re.sub(r"\$\{(REPORTIN_\w+)\}", lambda m: values[m.group(1)], text)
    site = folder / "reportin.conf"
    site.write_text(text)
    main = folder / "nginx.conf"
    temp = "\n".join(f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main.write_text(
        # As root, nginx's workers would run as nobody, who cannot enter pytest's private folder.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        + "events { worker_connections 512; }\n"
        + f"http {{\naccess_log {folder / 'access.log'};\n{temp}\ninclude {site};\n}}\n"
    )
    return main


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn (1 process, 2 threads: few, as any pool is few next to slow clients) behind nginx."""
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is missing (apt-get install nginx-light)")
    for port in (GUNICORN_PORT, HTTP_PORT, HTTPS_PORT):
        assert not port_open(port), f"port {port} is in use"
    tmp_path = tmp_path_factory.mktemp("proxy")
    with django_db_blocker.unblock():
        base_env = worker_env()
    env = {
        **base_env, "WEB_CONCURRENCY": "1", "WEB_THREADS": "2", "REPORTIN_TRUSTED_PROXIES": "1",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "1", "DJANGO_SECURE_SSL_REDIRECT": "1", "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "REPORTIN_RATE_ANONYMOUS": "3/minute", "DJANGO_ALLOWED_HOSTS": DOMAIN,
    }
    processes = []
    try:
        log = (tmp_path / "gunicorn.log").open("w")
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{GUNICORN_PORT}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        processes.append(gunicorn)
        wait_for(lambda: port_open(GUNICORN_PORT) or gunicorn.poll() is not None, timeout=60, message="gunicorn")
        assert gunicorn.poll() is None, (tmp_path / "gunicorn.log").read_text()
        # The first request loads the application: not what the measurements are about.
        wait_for(lambda: healthz_seconds(GUNICORN_PORT, timeout=30) < 30, timeout=90, message="gunicorn's first answer")
        cert, key = self_signed(tmp_path)
        conf = render_site(tmp_path, cert, key)
        check = subprocess.run([str(NGINX), "-t", "-q", "-e", str(tmp_path / "error.log"), "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen([str(NGINX), "-e", str(tmp_path / "error.log"), "-c", str(conf), "-g", "daemon off;"])
        processes.append(nginx)
        wait_for(lambda: port_open(HTTPS_PORT) or nginx.poll() is not None, timeout=20, message="nginx")
        assert nginx.poll() is None, (tmp_path / "error.log").read_text()
        yield tmp_path
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def https(method: str, path: str, headers: dict | None = None, body: str | None = None):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", HTTPS_PORT, context=context, timeout=10)
    connection.request(method, path, body=body, headers={"Host": f"{DOMAIN}:{HTTPS_PORT}", **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def healthz_seconds(port: int, timeout: float = 5.0) -> float:
    """Seconds /healthz took on `port` (plain HTTP), or `timeout` if it did not answer."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz", headers={"Host": DOMAIN})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        return time.monotonic() - started
    except TimeoutError:
        return timeout
    finally:
        connection.close()


class SlowClients:
    """`count` connections that send a request line, then one header line a second."""

    def __init__(self, port: int, count: int = 10):
        self.stop = threading.Event()
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {DOMAIN}\r\n".encode())
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self):
        while not self.stop.wait(1.0):
            for sock in self.sockets:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()


def test_slow_clients_do_not_starve_healthz_behind_the_proxy(stack, capsys):
    direct_before = healthz_seconds(GUNICORN_PORT)
    slow = SlowClients(GUNICORN_PORT)
    try:
        time.sleep(1.5)
        direct = healthz_seconds(GUNICORN_PORT, timeout=4.0)
    finally:
        slow.close()
    slow = SlowClients(HTTP_PORT)
    try:
        time.sleep(1.5)
        proxied = [healthz_seconds(HTTP_PORT, timeout=4.0) for _ in range(5)]
    finally:
        slow.close()
    with capsys.disabled():
        print(f"\n/healthz with 10 slow clients: straight to gunicorn {direct:.2f} s (idle {direct_before:.2f} s), "
              f"through nginx max {max(proxied):.2f} s")
    # The control: the attack works where gunicorn faces the clients itself.
    assert direct >= 4.0
    assert max(proxied) < 1.0, proxied


def test_spoofed_forwarded_for_does_not_choose_the_clients_address(stack):
    statuses = []
    for n in range(5):
        response, _ = https("GET", "/api/v1/consent-text?kind=app_use&language=en", {"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"203.0.113.{n}", "Forwarded": f"for=203.0.113.{n}"})
        statuses.append(response.status)
    # One address (the socket's) against a limit of 3 a minute, whatever each request claimed.
    assert statuses[:3] != [429] * 3 and statuses[3:] == [429, 429], statuses


def test_a_failed_staff_sign_in_through_the_proxy_is_counted_against_the_real_address(stack):
    page, body = https("GET", "/admin/login/")
    assert page.status == 200
    cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie")).group(1)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    form = f"csrfmiddlewaretoken={token}&username=nobody-here&password=wrong&next=/admin/"
    response, _ = https("POST", "/admin/login/", {
        "Cookie": f"csrftoken={cookie}", "Referer": f"https://{DOMAIN}:{HTTPS_PORT}/admin/login/",
        "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "198.51.100.99",
    }, form)
    assert response.status == 200  # the form again, with the error
    assert LoginThrottle.objects.filter(scope="address", key="127.0.0.1", failures=1).exists()
    assert not LoginThrottle.objects.filter(key="198.51.100.99").exists()


def test_plain_http_cannot_claim_https(stack):
    connection = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)
    connection.request("GET", "/admin/login/", headers={"Host": DOMAIN, "X-Forwarded-Proto": "https"})
    response = connection.getresponse()
    assert response.status == 301 and response.getheader("Location") == f"https://{DOMAIN}/admin/login/"
    connection.close()


def test_the_web_health_check_passes_when_only_the_real_domain_is_allowed(stack):
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": DOMAIN, "HEALTHCHECK_PORT": str(GUNICORN_PORT)}
    check = subprocess.run([sys.executable, "deploy/healthcheck.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    # The check compose had before (Host: 127.0.0.1) is refused by Django's host validation.
    connection = http.client.HTTPConnection("127.0.0.1", GUNICORN_PORT, timeout=10)
    connection.request("GET", "/readyz")
    assert connection.getresponse().status == 400
    connection.close()
