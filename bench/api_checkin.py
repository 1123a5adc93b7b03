#!/usr/bin/env python3
"""Check-in intake under load: the production web command (gunicorn, production settings) on
PostgreSQL, N activated clients posting real ~200 KB JPEG selfies (with EXIF, GPS included) from
C concurrent keep-alive connections, then the same load against a baseline endpoint in the same
run that only receives the upload and saves the file. Prints ONE JSON line.

    DATABASE_URL=postgres://127.0.0.1:5432/reportin_bench CELERY_BROKER_URL=redis://127.0.0.1:6379/1 \\
        .venv/bin/python bench/api_checkin.py --clients 200 --connections 32 --duration 20

Use a throwaway database and Redis database: the benchmark migrates the database, adds its
clients and check-ins to it, and empties the broker's scoring queue when it ends (no worker
runs during the benchmark, so nothing is scored). Request limits are raised (all load comes
from one address) but still counted. --profile adds a cProfile of check-in requests served
in-process, printed to stderr.
"""

import argparse
import asyncio
import base64
import io
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def server_environment(args, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
            "REPORTIN_ENCRYPTION_KEYS": "bench:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
            # As behind the TLS-terminating proxy of a real deployment.
            "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "CACHE_URL": args.cache_url,
            "REPORTIN_DATA_DIR": str(data_dir),
            "MEDIA_ROOT": str(data_dir / "media"),
            "REPORTIN_BENCH_BASELINE": "1",
            # All load comes from 127.0.0.1: raise the limits, but keep counting.
            "REPORTIN_RATE_ADDRESS": "1000000000/minute",
            "REPORTIN_RATE_DEVICE": "1000000/minute",
            "GUNICORN_BIND": f"127.0.0.1:{args.port}",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
    )
    return env


def selfies(count: int) -> list[bytes]:
    """~200 KB JPEGs of a real face (scikit-image's astronaut) as a phone sends them: with EXIF,
    GPS included. Slightly different crops, so that no two are the same bytes."""
    from PIL import Image
    from skimage import data

    base = Image.fromarray(data.astronaut())
    out = []
    for index in range(count):
        crop = base.crop((index * 3, index * 2, 512 - index * 2, 512 - index * 3)).resize((1100, 1100), Image.Resampling.BICUBIC)
        exif = Image.Exif()
        exif[0x010F] = "BenchPhone"
        exif[0x8825] = {1: "N", 2: (43.0, 39.0, 11.0 + index), 3: "W", 4: (79.0, 22.0, 59.0)}
        buffer = io.BytesIO()
        crop.save(buffer, format="JPEG", quality=91, exif=exif)
        out.append(buffer.getvalue())
    return out


def phone_photos() -> dict[str, bytes]:
    """12 MP photos as phones send them (issue 14.2): an upright JPEG, the same picture stored
    turned with EXIF orientation 6 (as phones write portrait photos), and a HEIC of about the
    same size (1.4-1.6 MB each, so the web tier's cost differs by format, not by bytes). The
    web tier must not decode any of them. Encoding a 12 MP HEIC takes a minute or two, so the
    photos are kept under var/bench/ once made."""
    import pillow_heif
    from PIL import Image
    from skimage import data

    cache = ROOT / "var" / "bench"
    names = ("upright_jpeg_12mp", "rotated_jpeg_12mp", "heic_12mp")
    if all((cache / name).is_file() for name in names):
        return {name: (cache / name).read_bytes() for name in names}
    face = Image.fromarray(data.astronaut()).resize((3024, 3024), Image.Resampling.BICUBIC)
    upright = Image.new("RGB", (4032, 3024), (90, 110, 130))
    upright.paste(face, (504, 0))
    out = {}
    gps = Image.Exif()
    gps[0x8825] = {1: "N", 2: (43.0, 39.0, 11.0), 3: "W", 4: (79.0, 22.0, 59.0)}
    buffer = io.BytesIO()
    upright.save(buffer, format="JPEG", quality=95, exif=gps)
    out["upright_jpeg_12mp"] = buffer.getvalue()
    turned = upright.transpose(Image.Transpose.ROTATE_90)  # stored turned, shown upright
    gps[0x0112] = 6
    buffer = io.BytesIO()
    turned.save(buffer, format="JPEG", quality=95, exif=gps)
    out["rotated_jpeg_12mp"] = buffer.getvalue()
    del gps[0x0112]  # HEIC turns the picture with its own property, not EXIF
    buffer = io.BytesIO()
    pillow_heif.from_pillow(upright).save(buffer, quality=80, exif=gps.tobytes())
    out["heic_12mp"] = buffer.getvalue()
    cache.mkdir(parents=True, exist_ok=True)
    for name, photo in out.items():
        (cache / name).write_bytes(photo)
    return out


def create_clients(count: int) -> list[str]:
    """N clients enrolled, consented and activated through the real services; returns tokens."""
    from django.utils import timezone

    from enforcement import services
    from enforcement.models import ConsentText, Region, ReportingWindow
    from reportin import services as reportin_services

    region = Region.objects.get(code="gta")
    versions = {text.kind: text.version for text in ConsentText.objects.filter(language="en").order_by("published_at")}
    now = timezone.now()
    tokens = []
    run = secrets.randbelow(10**6)
    for number in range(count):
        client = services.client_create(
            uci=f"9{run:06d}{number:03d}", given_name="Bench", family_name=f"Client {number}", date_of_birth=date(1990, 1, 1),
            country_of_citizenship="HT", region=region, created_by=None,
        )
        condition = services.condition_set(
            client=client, set_by=None, schedule="every_n_days", interval_days=1, window_start=now.time(), window_minutes=1440,
            starts_on=now.date(),
        )
        ReportingWindow.objects.create(
            condition=condition, client=client, opens_at=now - timedelta(hours=1), closes_at=now + timedelta(hours=23),
            deadline_at=now + timedelta(hours=24),
        )
        for kind, version in versions.items():
            services.consent_record(client=client, kind=kind, decision="granted", text_version=version, language="en", channel="app")
        code, _ = services.activation_code_issue(client=client, issued_by=None)
        token, _ = reportin_services.device_activate(
            activation_code=code, uci=client.uci, date_of_birth=client.date_of_birth, device_name="bench", platform="android",
            client_address="127.0.0.1",
        )
        tokens.append(token)
    return tokens


def multipart_body(selfie: bytes, captured_at: str, boundary: str) -> bytes:
    parts = [
        ("latitude", b"43.6532"), ("longitude", b"-79.3832"), ("accuracy_m", b"12.5"), ("captured_at", captured_at.encode()),
    ]
    body = [f'--{boundary}\r\nContent-Disposition: form-data; name="selfie"; filename="selfie.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode(), selfie, b"\r\n"]
    for name, value in parts:
        body += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode(), value, b"\r\n"]
    body.append(f"--{boundary}--\r\n".encode())
    return b"".join(body)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def load(*, port: int, path: str, tokens: list[str], bodies: list[bytes], boundary: str, connections: int, warmup: float, duration: float) -> dict:
    """C keep-alive connections, each sending one request after another for warmup + duration
    seconds; only requests that start after the warm-up are counted."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = reconnects = 0
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def connection(number: int) -> None:
        nonlocal failures, reconnects
        reader = writer = None
        sent = 0
        while time.perf_counter() < stop_at:
            token = tokens[(number + sent * connections) % len(tokens)]
            body = bodies[(number + sent) % len(bodies)]
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
                f"Authorization: Token {token}\r\nIdempotency-Key: {uuid.uuid4()}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            began = time.perf_counter()
            for attempt in range(2):
                fresh = writer is None
                try:
                    if fresh:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(head)
                    writer.write(body)
                    status, _ = await read_response(reader)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    # A kept-alive connection the server closed meanwhile (gunicorn recycles a
                    # worker every max_requests): send again on a new one, as HTTP clients do.
                    if fresh or attempt:
                        status = None
                        break
                    reconnects += 1
            ended = time.perf_counter()
            sent += 1
            if began >= measure_from and ended <= stop_at + 5:
                if status is None:
                    failures += 1
                else:
                    latencies.append(ended - began)
                    statuses[status] = statuses.get(status, 0) + 1
            if status is None:
                await asyncio.sleep(0.05)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection(number) for number in range(connections)))
    elapsed = max(time.perf_counter(), stop_at) - measure_from
    accepted = statuses.get(202, 0)
    ordered = sorted(latencies)

    def percentile(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 1) if ordered else None

    return {
        "accepted_per_s": round(accepted / elapsed, 1),
        "requests": len(latencies),
        "p50_ms": percentile(50),
        "p95_ms": percentile(95),
        "p99_ms": percentile(99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        "errors": len(latencies) - accepted + failures,
        "reconnects": reconnects,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (Linux /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def server_pids(master: int) -> tuple[list[int], list[int]]:
    """gunicorn's workers, and the PostgreSQL backends serving this database."""
    from django.db import connection

    workers = [
        int(entry.name) for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (entry / "stat").exists()
        and (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(master)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        backends = [row[0] for row in cursor.fetchall()]
    return workers, backends


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start listening")


def measured(master: int, warmup: float, phase) -> dict:
    """Run a load phase; add the CPU the web workers and database backends spent per counted
    request (a figure that holds even when other work shares the machine)."""
    from django.db import connection

    result = asyncio.run(_with_cpu(master, warmup, phase))
    connection.close()
    return result


async def _with_cpu(master: int, warmup: float, phase) -> dict:
    task = asyncio.ensure_future(phase)
    await asyncio.sleep(warmup)  # requests are counted from here on
    start: dict[tuple[str, int], float] = {}
    last: dict[tuple[str, int], float] = {}
    rss = {"start": 0.0, "peak": 0.0}

    def sample(first: bool = False) -> None:
        # Sampled twice a second: gunicorn recycles workers (max_requests) and their database
        # connections with them; a process that appears mid-phase counts from zero.
        workers, backends = server_pids(master)
        for kind, pids in (("web", workers), ("db", backends)):
            for pid in pids:
                value = cpu_seconds([pid])
                start.setdefault((kind, pid), value if first else 0.0)
                last[(kind, pid)] = value
        # The web workers' resident memory, summed: what a photo's decoding would add and
        # keep (glibc rarely gives a large freed block back).
        total = sum(rss_mb(pid) for pid in workers)
        if first:
            rss["start"] = total
        rss["peak"] = max(rss["peak"], total)

    await asyncio.to_thread(sample, True)
    while not task.done():
        await asyncio.sleep(0.5)
        await asyncio.to_thread(sample)
    result = await task
    requests = max(1, result["requests"])
    for kind in ("web", "db"):
        spent = sum(last[key] - start[key] for key in last if key[0] == kind)
        result[f"{kind}_cpu_ms_per_request"] = round(spent * 1000 / requests, 2)
    result["web_rss_mb_start"] = round(rss["start"], 1)
    result["web_rss_mb_growth"] = round(rss["peak"] - rss["start"], 1)
    return result


def profile_checkins(tokens: list[str], body: bytes, boundary: str, count: int) -> None:
    """cProfile of `count` check-ins served in this process (same settings and database), to
    stderr: where a request's time goes."""
    import cProfile
    import pstats

    from django.test import Client

    browser = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    content_type = f"multipart/form-data; boundary={boundary}"

    def post(number: int) -> None:
        response = browser.generic(
            "POST", "/api/v1/check-ins", body, content_type=content_type,
            HTTP_AUTHORIZATION=f"Token {tokens[number % len(tokens)]}", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 202, response.content

    for number in range(10):  # warm caches and connections
        post(number)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for number in range(count):
        post(number)
    profiler.disable()
    per_request = (time.perf_counter() - started) / count * 1000
    print(f"\n== cProfile of {count} check-ins served in-process: {per_request:.2f} ms each (with profiler overhead) ==", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)


def photo_ratios(photos: dict) -> dict:
    """Issue 14.2's goal: a turned JPEG and a HEIC cost the web tier at most 2x the upright
    JPEG's CPU per request and under 20 MB more memory."""
    upright = photos.get("upright_jpeg_12mp")
    if not upright:
        return {}
    out = {}
    for name in ("rotated_jpeg_12mp", "heic_12mp"):
        phase = photos[name]
        out[f"{name}_web_cpu_vs_upright"] = round(phase["web_cpu_ms_per_request"] / max(0.01, upright["web_cpu_ms_per_request"]), 2)
        out[f"{name}_web_extra_mb"] = round(phase["web_rss_mb_start"] + phase["web_rss_mb_growth"] - upright["web_rss_mb_start"] - upright["web_rss_mb_growth"], 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200, help="activated clients (N)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (C)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each phase")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "18180")))
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1"))
    parser.add_argument("--cache-url", default=os.environ.get("CACHE_URL", ""), help="default: the broker's Redis")
    parser.add_argument("--photo-duration", type=float, default=8.0, help="measured seconds per 12 MP photo phase (0: skip)")
    parser.add_argument("--photo-connections", type=int, default=8, help="connections in the 12 MP photo phases")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also cProfile N check-ins in-process (stderr)")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("set DATABASE_URL (or --database-url) to a throwaway PostgreSQL database")
    args.cache_url = args.cache_url or args.broker_url

    data_dir = Path(tempfile.mkdtemp(prefix="reportin-bench-"))
    env = server_environment(args, data_dir)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from config.celery import app as celery_app

    setup_started = time.perf_counter()
    tokens = create_clients(args.clients)
    setup_s = time.perf_counter() - setup_started
    pictures = selfies(8)
    boundary = "reportin-bench-" + uuid.uuid4().hex
    captured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    bodies = [multipart_body(picture, captured_at, boundary) for picture in pictures]

    log_path = data_dir / "gunicorn.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"], cwd=ROOT, env=env,
        stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )
    client_cpu_started = time.process_time()
    try:
        wait_for_port(args.port, server)
        common = {"port": args.port, "tokens": tokens, "bodies": bodies, "boundary": boundary,
                  "connections": args.connections, "warmup": args.warmup, "duration": args.duration}
        checkins = measured(server.pid, args.warmup, load(path="/api/v1/check-ins", **common))
        baseline = measured(server.pid, args.warmup, load(path="/api/bench/upload", **common))
        photos = {}
        if args.photo_duration:
            for name, photo in phone_photos().items():
                photo_common = {**common, "bodies": [multipart_body(photo, captured_at, boundary)],
                                "connections": args.photo_connections, "duration": args.photo_duration}
                photos[name] = measured(server.pid, args.warmup, load(path="/api/v1/check-ins", **photo_common))
                photos[name]["photo_kb"] = round(len(photo) / 1024, 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    client_cpu_s = time.process_time() - client_cpu_started
    if args.profile:
        profile_checkins(tokens, bodies[0], boundary, args.profile)
    with celery_app.connection_for_write() as connection:
        purged = connection.default_channel.queue_purge("scoring") or 0
    shutil.rmtree(data_dir, ignore_errors=True)

    import django.conf

    result = {
        "bench": "api_checkin",
        "clients": args.clients,
        "connections": args.connections,
        "duration_s": args.duration,
        "selfie_kb": round(statistics.fmean(len(p) for p in pictures) / 1024, 1),
        "web_processes": int(env.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 1))),
        "web_threads": int(env.get("WEB_THREADS", "4")),
        "cpus": os.cpu_count(),
        "checkin": checkins,
        "baseline_upload_only": baseline,
        "ratio_accepted_vs_baseline": round(checkins["accepted_per_s"] / baseline["accepted_per_s"], 3) if baseline["accepted_per_s"] else None,
        "photos_12mp": photos,
        **photo_ratios(photos),
        "load_generator_cpu_s": round(client_cpu_s, 1),
        "setup_s": round(setup_s, 1),
        "scoring_messages_purged": purged,
        "database": django.conf.settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
