"""Run web, worker and beat together in the foreground; Ctrl-C stops all three.

This is the one-machine way to run ReportIn (README, Quick start). In production the three
run as separate containers or services instead (docker-compose.yml).
"""

import ipaddress
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from enforcement.zonedata import zone_data


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: reachable from this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


class Command(BaseCommand):
    help = "Run gunicorn (web), a Celery worker and Celery beat until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--worker-concurrency", type=int, default=2)
        parser.add_argument("--check", action="store_true", help="Only check the arguments (dev.py does, before it seeds).")

    def handle(self, *args, port, host, worker_concurrency, check=False, **options):
        if settings.DEBUG and not is_loopback(host):
            # Debug pages show settings and tracebacks to whoever asks, and the demo's logins
            # are printed in the terminal: never on a network address.
            raise CommandError(
                f"Refusing to listen on {host} with DJANGO_DEBUG on: debug mode serves this machine only "
                "(127.0.0.1 or ::1). To serve others, run with DJANGO_DEBUG=0 and production settings (README: Configuration)."
            )
        if not 0 < port < 65536:
            raise CommandError(f"--port {port} is not a TCP port (1-65535)")
        if check:
            return
        python = sys.executable
        bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        schedule = str(settings.DATA_DIR / "celerybeat-schedule")
        commands = {
            "web": [python, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py", "--bind", f"{bind_host}:{port}"],
            "worker": [python, "-m", "celery", "-A", "config", "worker", "-Q", "scoring,default,long,notify", "--concurrency", str(worker_concurrency), "-l", "INFO"],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "-s", schedule],
        }
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                # Own session: Ctrl-C reaches this process only, which then stops the
                # children in order instead of all of them dying mid-request at once.
                children[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, start_new_session=True)
            zones = zone_data()
            self.stdout.write(f"Time zones: IANA {zones.iana_version} (tzdata {zones.package_version}).")
            self.stdout.write(self.style.SUCCESS(
                f"ReportIn is running on http://{host}:{port}/ (web app at /app/, admin at /admin/, API docs at /api/docs/). Ctrl-C stops it."
            ))
            failed = None
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        failed = f"{name} exited with status {child.returncode}"
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            self._stop_all(children)
        if failed:
            raise CommandError(f"{failed}; stopped the others.")
        self.stdout.write("Stopped web, worker and beat.")

    def _stop_all(self, children):
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
