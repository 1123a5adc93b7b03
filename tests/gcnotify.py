"""A local stand-in for GC Notify, speaking the part of its documented API that ReportIn uses
(https://documentation.notification.canada.ca/en/send.html, API-compatible with GOV.UK Notify):

- `POST /v2/notifications/sms` with `phone_number`, `template_id`, `personalisation`,
  `reference`: 201 with the new notification's `id`; 400 `ValidationError` for a number it
  cannot send to; 429 `RateLimitError` when told to; 403 `AuthError` for a bad JWT.
- `GET /v2/notifications?reference=...`: the notifications sent with that reference.
- `GET /v2/notifications/{id}`: one notification with its status.

Every request must carry `Authorization: Bearer <JWT>`, HS256-signed with the API key's secret,
`iss` the service id, `iat` within 30 seconds: checked here for real. Used by the tests and by
bench/notify_fanout.py (with `latency_s`, the provider's time to answer).
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SERVICE_ID = "6ae3fc2a-1b6e-4f4e-9a43-0a6f4f1b2c3d"
SECRET = "0f1e2d3c-4b5a-4969-8877-665544332211"
API_KEY = f"reportin_test-{SERVICE_ID}-{SECRET}"
TEMPLATES = {"en": "b9f2d1a0-0000-4000-8000-00000000e0e0", "fr": "b9f2d1a0-0000-4000-8000-00000000f0f0"}
# A number GC Notify refuses (our stand-in's choice): the answer a bad number gets.
REFUSED_NUMBER = "+15555550199"


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_jwt(header: str, *, secret: str = SECRET, service_id: str = SERVICE_ID) -> str | None:
    """None if the bearer token is valid, else GC Notify's error message."""
    if not header.startswith("Bearer "):
        return "Unauthorized, authentication token must be provided"
    try:
        head, claims, signature = header[len("Bearer "):].split(".")
        expected = hmac.new(secret.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return "Invalid token: signature, api token not found"
        if json.loads(_unb64(head)).get("alg") != "HS256":
            return "Invalid token: algorithm used is not HS256"
        payload = json.loads(_unb64(claims))
    except (ValueError, TypeError):
        return "Invalid token: signature, api token not found"
    if payload.get("iss") != service_id:
        return "Invalid token: service not found"
    if abs(time.time() - int(payload.get("iat", 0))) > 30:
        return "Error: Your system clock must be accurate to within 30 seconds"
    return None


class _Headers(dict):
    """Request headers by lower-cased name (what the handler reads of them)."""

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # many senders connect at once


class GCNotify:
    def __init__(self, *, port: int = 0, latency_s: float = 0.0):
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.sent: list[dict] = []  # every accepted notification, in order
        self.by_reference: dict[str, list[dict]] = {}
        self.by_id: dict[str, dict] = {}
        self.rate_limited = False
        self.requests = Counter()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real API
            # The status line and headers go out in one write with the body (a buffered file,
            # flushed by _answer) and Nagle is off: otherwise a small second write waits for
            # the client's delayed ACK, about 40 ms added to every answer on loopback.
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def parse_request(self) -> bool:
                # The request line and headers read plainly: http.server's email-parser path was
                # most of this stand-in's CPU, which the fan-out benchmark's machine shares
                # with the system it measures (a real provider runs elsewhere).
                parts = str(self.raw_requestline, "iso-8859-1").split()
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    self.request_version, self.close_connection = "HTTP/1.0", True
                    self.send_error(400, "Bad request line")
                    return False
                self.command, self.path, self.request_version = parts
                headers = _Headers()
                for _ in range(100):
                    line = self.rfile.readline(65537)
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = str(line, "iso-8859-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                else:
                    self.close_connection = True
                    self.send_error(431, "Too many headers")
                    return False
                self.headers = headers
                self.close_connection = headers.get("connection", "").lower() == "close" or self.request_version == "HTTP/1.0"
                return True

            def _answer(self, status: int, body: dict):
                raw = json.dumps(body).encode()
                self.send_response_only(status)  # no Server and Date headers: GC Notify's client reads neither
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                self.wfile.flush()

            def _error(self, status: int, error: str, message: str):
                self._answer(status, {"status_code": status, "errors": [{"error": error, "message": message}]})

            def _authorised(self) -> bool:
                problem = check_jwt(self.headers.get("Authorization", ""))
                if problem:
                    self._error(403, "AuthError", problem)
                return problem is None

            def do_GET(self):
                url = urlsplit(self.path)
                standin.requests["GET " + url.path] += 1
                if url.path == "/_standin/stats":  # not GC Notify's: the benchmark's count at the sink
                    counts = standin.references()
                    self._answer(200, {"accepted": sum(counts.values()), "distinct": len(counts),
                                       "duplicates": sum(n - 1 for n in counts.values() if n > 1),
                                       "lookups": standin.requests["GET /v2/notifications"]})
                    return
                if not self._authorised():
                    return
                if url.path == "/v2/notifications":
                    reference = parse_qs(url.query).get("reference", [""])[0]
                    with standin.lock:
                        found = list(standin.by_reference.get(reference, []))
                    self._answer(200, {"notifications": found, "links": {"current": self.path}})
                    return
                if url.path.startswith("/v2/notifications/"):
                    with standin.lock:
                        found = standin.by_id.get(url.path.rsplit("/", 1)[1])
                    if found is None:
                        self._error(404, "NoResultFound", "No result found")
                    else:
                        self._answer(200, found)
                    return
                self._error(404, "NotFound", "Not found")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                standin.requests["POST " + self.path] += 1
                if self.path != "/v2/notifications/sms":
                    self._error(404, "NotFound", "Not found")
                    return
                if not self._authorised():
                    return
                if standin.latency_s:
                    time.sleep(standin.latency_s)
                if standin.rate_limited:
                    self._error(429, "RateLimitError", "Exceeded rate limit for key type LIVE of 1000 requests per 60 seconds")
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._error(400, "ValidationError", "Invalid JSON supplied in POST data")
                    return
                if body.get("template_id") not in TEMPLATES.values():
                    self._error(400, "BadRequestError", "Template not found")
                    return
                number = body.get("phone_number", "")
                if number == REFUSED_NUMBER or not number.startswith("+"):
                    self._error(400, "ValidationError", "phone_number Not a valid phone number")
                    return
                text = (body.get("personalisation") or {}).get("body", "")
                notification = {
                    "id": str(uuid.uuid4()),
                    "reference": body.get("reference"),
                    "phone_number": number,
                    "type": "sms",
                    "status": "sending",
                    "template": {"id": body["template_id"], "version": 1, "uri": f"/v2/template/{body['template_id']}"},
                    "body": text,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                }
                with standin.lock:
                    standin.sent.append(notification)
                    standin.by_reference.setdefault(notification["reference"], []).append(notification)
                    standin.by_id[notification["id"]] = notification
                self._answer(201, {
                    "id": notification["id"],
                    "reference": notification["reference"],
                    "content": {"body": text, "from_number": "GCNotify"},
                    "uri": f"/v2/notifications/{notification['id']}",
                    "template": notification["template"],
                })

        self.server = _Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "GCNotify":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def references(self) -> Counter:
        with self.lock:
            return Counter(item["reference"] for item in self.sent)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="A local GC Notify stand-in (for bench/notify_fanout.py).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each send is answered")
    args = parser.parse_args()
    standin = GCNotify(port=args.port, latency_s=args.latency)
    print(f"GC Notify stand-in on {standin.url}", flush=True)
    standin.server.serve_forever()
