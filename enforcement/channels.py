"""The channels a message reaches a person by: email, SMS through GC Notify, and Web Push.

A channel turns one `Notification` (with its text from enforcement.notifications) into one
request to its provider and returns the provider's reference. It raises `Undeliverable` when
the message can never get through (no address, a number the provider refuses, a push
subscription the browser dropped: the row is cancelled with the provider's reason) and
`RetryLater` (or any other exception) for a failure worth retrying: the provider is down,
slow or rate-limiting us.

Channels run in sender threads outside any database transaction (services.notifications_deliver)
and never touch the database: the caller hands them the person's current contact details.

GC Notify (https://documentation.notification.canada.ca/) is API-compatible with GOV.UK Notify:
`POST /v2/notifications/sms` with a JWT bearer signed (HS256) with the API key's secret, whose
`iss` is the service id. Its templates are per language; ours carry the text as the `body`
personalisation, so one template per language serves every message.
"""

import base64
import hashlib
import hmac
import http.client
import json
import logging
import select
import threading
import time
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage

from enforcement.models import NotifyChannel

logger = logging.getLogger(__name__)


class Undeliverable(Exception):
    """This message cannot reach this person by this channel at all; the reason is the provider's
    where it gave one."""


class RetryLater(Exception):
    """The provider could not take the message now (down, overloaded, rate-limiting)."""

    def __init__(self, reason: str, *, after_s: float | None = None):
        super().__init__(reason)
        self.after_s = after_s


@dataclass(frozen=True)
class Contact:
    """Where a person is reached on one channel (from their current ContactChannel row)."""

    email: str = ""
    phone: str = ""
    push_endpoint: str = ""
    push_p256dh: str = ""
    push_auth: str = ""


@dataclass(frozen=True)
class Text:
    """A message in the person's language: a subject, a short line (SMS, push) and a full body."""

    language: str
    subject: str
    short: str
    body: str
    # Where the app should open when the person taps a push notice.
    url: str = "/app/"


class Channel:
    name: str = ""

    def send(self, *, reference: str, contact: Contact, text: Text) -> str:
        """Hand the message to the provider; return the provider's id for it."""
        raise NotImplementedError

    def find_sent(self, *, reference: str) -> str | None:
        """The provider's id of a message it already has under `reference`, if the provider can
        tell (used after a sender died mid-request, so that nothing is sent twice); None when it
        has none or cannot tell."""
        return None


_local = threading.local()


def session() -> requests.Session:
    """One HTTP session (kept-alive connections) per sender thread."""
    if getattr(_local, "session", None) is None:
        _local.session = requests.Session()
    return _local.session


class EmailChannel(Channel):
    name = NotifyChannel.EMAIL

    def send(self, *, reference: str, contact: Contact, text: Text) -> str:
        if not contact.email:
            raise Undeliverable("the client has no email address")
        message = EmailMessage(subject=text.subject, body=text.body, to=[contact.email], headers={"X-ReportIn-Reference": reference})
        message.send()
        return ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class NotifyKey:
    """A GC Notify API key: `<key name>-<service id>-<secret>`, the last two being UUIDs."""

    service_id: str
    secret: str

    @classmethod
    def parse(cls, key: str) -> "NotifyKey":
        if len(key) < 74 or key[-37] != "-" or key[-74] != "-":
            raise ValueError("GC_NOTIFY_API_KEY is not of the form <name>-<service id>-<secret key>")
        return cls(service_id=key[-73:-37], secret=key[-36:])

    def bearer(self, *, now: float | None = None) -> str:
        header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
        claims = _b64(json.dumps({"iss": self.service_id, "iat": int(now if now is not None else time.time())}, separators=(",", ":")).encode())
        signature = hmac.new(self.secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
        return f"{header}.{claims}.{_b64(signature)}"


def _notify_connection(base_url: str) -> tuple[http.client.HTTPConnection, str]:
    """This sender thread's kept-alive connection to GC Notify, and the path prefix of its URL.

    http.client directly, one connection per thread: a request is one write and, on a
    connection kept alive, costs about half the CPU of urllib3 (0.30 against 0.63 ms on this
    machine), which counts at 500,000 messages a morning."""
    connections = _local.__dict__.setdefault("notify", {})
    if base_url not in connections:
        url = urlsplit(base_url)
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connections[base_url] = kind(url.hostname, url.port, timeout=settings.REPORTIN_PROVIDER_TIMEOUT_S), url.path.rstrip("/")
    return connections[base_url]


def _closed_by_peer(sock) -> bool:
    """An idle kept-alive socket that is readable was closed (or broken) by the server: it must
    not carry the next request."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _notify_request(base_url: str, method: str, path: str, *, body: bytes | None, headers: dict) -> tuple[int, bytes, Message]:
    connection, prefix = _notify_connection(base_url)
    if connection.sock is not None and _closed_by_peer(connection.sock):
        connection.close()
    try:
        connection.request(method, prefix + path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise RetryLater(f"GC Notify unreachable: {type(exc).__name__}: {exc}") from exc
    if response.will_close:
        connection.close()
    return response.status, data, response.headers


def _notify_errors(status: int, raw: bytes) -> str:
    try:
        errors = json.loads(raw).get("errors") or []
        return "; ".join(f"{e.get('error', '')}: {e.get('message', '')}" for e in errors) or raw[:300].decode(errors="replace")
    except (ValueError, AttributeError):
        return raw[:300].decode(errors="replace")


class GCNotifySmsChannel(Channel):
    name = NotifyChannel.SMS

    def __init__(self):
        self.base_url = settings.GC_NOTIFY_API_URL.rstrip("/")
        self.key = NotifyKey.parse(settings.GC_NOTIFY_API_KEY) if settings.GC_NOTIFY_API_KEY else None
        self.templates = settings.GC_NOTIFY_SMS_TEMPLATES

    def _call(self, method: str, path: str, *, body: dict | None = None, fields: dict | None = None) -> tuple[int, bytes, dict]:
        if self.key is None:
            # A configuration fault, not the person's: retried (and visible) until it is fixed.
            raise RetryLater("GC_NOTIFY_API_KEY is not set")
        headers = {"Authorization": f"Bearer {self.key.bearer()}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if fields:
            path += "?" + urlencode(fields)
        return _notify_request(self.base_url, method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)

    def send(self, *, reference: str, contact: Contact, text: Text) -> str:
        if not contact.phone:
            raise Undeliverable("no mobile number was given for text messages")
        template = self.templates.get(text.language) or self.templates.get("en")
        body = {"phone_number": contact.phone, "template_id": template, "personalisation": {"body": text.short}, "reference": reference}
        status, raw, headers = self._call("POST", "/v2/notifications/sms", body=body)
        if status == 201:
            return str(json.loads(raw)["id"])
        reason = f"GC Notify {status}: {_notify_errors(status, raw)}"
        if status == 429:
            raise RetryLater(reason, after_s=float(headers.get("Retry-After") or 60))
        if status == 400:
            # Bad number, number not allowed, trial-mode recipient...: the same request would fail again.
            raise Undeliverable(reason)
        raise RetryLater(reason)

    def find_sent(self, *, reference: str) -> str | None:
        status, raw, _headers = self._call("GET", "/v2/notifications", fields={"reference": reference, "template_type": "sms"})
        if status != 200:
            raise RetryLater(f"GC Notify {status}: {_notify_errors(status, raw)}")
        found = json.loads(raw).get("notifications") or []
        return str(found[0]["id"]) if found else None


class WebPushChannel(Channel):
    """RFC 8030 Web Push, the payload encrypted for the subscription (RFC 8291, aes128gcm) and the
    request signed with our VAPID key (RFC 8292), through pywebpush."""

    name = NotifyChannel.PUSH

    def send(self, *, reference: str, contact: Contact, text: Text) -> str:
        from pywebpush import WebPushException, webpush

        if not (contact.push_endpoint and contact.push_p256dh and contact.push_auth):
            raise Undeliverable("this phone has no push subscription")
        if not settings.REPORTIN_VAPID_PRIVATE_KEY:
            raise RetryLater("REPORTIN_VAPID_PRIVATE_KEY is not set")
        payload = json.dumps({"title": text.subject, "body": text.short, "url": text.url, "tag": reference, "lang": text.language})
        try:
            response = webpush(
                subscription_info={"endpoint": contact.push_endpoint, "keys": {"p256dh": contact.push_p256dh, "auth": contact.push_auth}},
                data=payload,
                vapid_private_key=settings.REPORTIN_VAPID_PRIVATE_KEY,
                vapid_claims={"sub": settings.REPORTIN_VAPID_SUBJECT},
                ttl=settings.REPORTIN_PUSH_TTL_S,
                timeout=settings.REPORTIN_PROVIDER_TIMEOUT_S,
                requests_session=session(),
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            reason = f"push service {status}: {(exc.response.text if exc.response is not None else str(exc))[:300]}"
            if status in (404, 410):
                raise Undeliverable(reason + " (the subscription is gone; the person must turn notifications on again)") from exc
            if status in (400, 403, 413):
                raise Undeliverable(reason) from exc
            raise RetryLater(reason) from exc
        except requests.RequestException as exc:
            raise RetryLater(f"push service unreachable: {exc}") from exc
        return response.headers.get("Location", "")[:200]


CHANNELS: dict[str, type[Channel]] = {
    NotifyChannel.EMAIL: EmailChannel,
    NotifyChannel.SMS: GCNotifySmsChannel,
    NotifyChannel.PUSH: WebPushChannel,
}


def channel(name: str) -> Channel:
    return CHANNELS[name]()


class RateLimiter:
    """Per-provider sends per second, counted together by every notify worker through the
    shared cache (Redis in production): a provider's limit is the service's, not one process's."""

    def __init__(self, rates: dict[str, int]):
        self.rates = rates

    def acquire(self, name: str) -> None:
        limit = self.rates.get(name)
        if not limit:
            return
        while True:
            now = time.time()
            key = f"reportin:notify-rate:{name}:{int(now)}"
            try:
                if cache.add(key, 1, timeout=5):
                    count = 1
                else:
                    count = cache.incr(key)
            except ValueError:  # expired between add() and incr()
                continue
            except Exception:
                # The counters' store is down: send rather than stall every reminder.
                logger.warning("notify rate counters unavailable; sending uncounted", exc_info=True)
                return
            if count <= limit:
                return
            time.sleep(max(0.0, int(now) + 1 - time.time()) + 0.001)
