"""Device tokens, the language of answers, and request-rate limits."""

import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions, throttling

from enforcement.models import Language
from reportin import services
from reportin.models import Device

SUPPORTED_LANGUAGES = set(Language.values)

logger = logging.getLogger(__name__)


def header_language(request) -> str | None:
    """The most preferred supported language named in Accept-Language, if any."""
    choices = []
    for position, item in enumerate(request.META.get("HTTP_ACCEPT_LANGUAGE", "").split(",")):
        tag, _, params = item.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        try:
            weight = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        if language in SUPPORTED_LANGUAGES and weight > 0:
            choices.append((-weight, position, language))
    return min(choices)[2] if choices else None


def use_language(request, language: str) -> None:
    translation.activate(language)
    request.LANGUAGE_CODE = language


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <device token>`. Unknown and revoked tokens fail alike, at once."""

    keyword = "token"

    def authenticate(self, request):
        parts = request.META.get("HTTP_AUTHORIZATION", "").split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2 or len(parts[1]) > 128:
            raise exceptions.AuthenticationFailed(_("The token is not valid."), code="invalid_token")
        device = services.device_for_token(parts[1])
        if device is None:
            raise exceptions.AuthenticationFailed(_("The token is not valid."), code="invalid_token")
        # Answer in the phone's language, or else in the language the person chose at enrolment.
        use_language(request, header_language(request) or device.client.preferred_language)
        # For the request log (the token itself is never logged).
        request._request.reportin_device_id = device.pk
        return device, device

    def authenticate_header(self, request):
        return "Token"


class DeviceRequired(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, Device)


def _count(keys: list[tuple[str, int]], previous: list[str] = ()) -> list[int]:
    """Add one to each (key, period) counter and return the new counts, followed by the counts
    of the `previous` keys, read but not changed (0 where missing). With Redis: one round trip,
    atomic (INCR, and EXPIRE on the first). Otherwise through Django's cache, whose file-based
    default may let a few extra requests through under a burst."""
    if settings.CACHE_URL.startswith(("redis://", "rediss://")):
        pipe = _redis(settings.CACHE_URL).pipeline(transaction=False)
        for key, period in keys:
            pipe.incr(key)
            pipe.expire(key, period + 1, nx=True)
        for key in previous:
            pipe.get(key)
        results = pipe.execute()
        return results[: 2 * len(keys) : 2] + [int(value or 0) for value in results[2 * len(keys) :]]
    counts = []
    for key, period in keys:
        if cache.add(key, 1, timeout=period + 1):
            counts.append(1)
            continue
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=period + 1)
            counts.append(1)
    earlier = cache.get_many(list(previous)) if previous else {}
    return counts + [int(earlier.get(key) or 0) for key in previous]


_redis_clients: dict = {}
_redis_lock = threading.Lock()


def _redis(url: str):
    """One client (and connection pool) per process. Made under a lock: a second client made
    by a racing thread would close its pool when collected, under another thread's feet."""
    import redis

    with _redis_lock:
        if url not in _redis_clients:
            # Short timeouts: a counter is not worth keeping a check-in waiting (see allow_request).
            _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return _redis_clients[url]


def _wait(count: int, earlier: int, limit: int, period: int, elapsed: float) -> float:
    """Seconds until one more request would fit the sliding window, if none comes meanwhile:
    later in this period while the last period's weight fades, or else in the next period,
    once this period's count has faded enough."""
    if count + 1 <= limit and earlier:
        return max(0.0, period * (1 - (limit - count - 1) / earlier) - elapsed)
    return period - elapsed + period * max(0.0, 1 - (limit - 1) / count)


class RequestRateThrottle(throttling.BaseThrottle):
    """Request limits, counted in the shared cache so that every web process counts together:
    per device (requests with a token), per client address (all requests), and a lower one per
    address for requests without a token (activation, consent texts).

    Each limit is a sliding window, estimated from two fixed ones: the requests counted in this
    period so far, plus the last period's count weighted by the part of it still inside the
    window. A fixed window alone would let twice the limit through across a boundary (a burst
    at the end of one minute and another at the start of the next)."""

    def allow_request(self, request, view):
        address = self.get_ident(request)
        scopes = [("address", address)]
        if isinstance(request.auth, Device):
            scopes.append(("device", str(request.auth.pk)))
        else:
            scopes.append(("anonymous", address))
        now = time.time()
        keys, previous, windows = [], [], []
        for scope, ident in scopes:
            limit, period = getattr(settings, f"REPORTIN_RATE_{scope.upper()}")
            slot = int(now // period)
            # Kept through the next period too, where it is the previous count.
            keys.append((f"reportin:rate:{scope}:{period}:{slot}:{ident}", 2 * period))
            previous.append(f"reportin:rate:{scope}:{period}:{slot - 1}:{ident}")
            windows.append((limit, period, now - slot * period))
        try:
            counts = _count(keys, previous)
        except Exception:
            # The counters' store (Redis) is down: let the request through rather than refuse
            # every check-in while it is away. The limits are back with it.
            logger.warning("request-rate counters unavailable; request allowed uncounted", exc_info=True)
            self._wait = 0
            return True
        waits = [
            _wait(count, earlier, limit, period, elapsed)
            for count, earlier, (limit, period, elapsed) in zip(counts, counts[len(keys) :], windows)
            if count + earlier * (1 - elapsed / period) > limit + 1e-9  # a retry at Retry-After fits
        ]
        self._wait = max(waits, default=0)
        return not waits

    def wait(self):
        return self._wait
