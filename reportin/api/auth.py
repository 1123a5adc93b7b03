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


def _count(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each (key, period) counter and return the new counts. With Redis: one round
    trip, atomic (INCR, and EXPIRE on the first). Otherwise through Django's cache, whose
    file-based default may let a few extra requests through under a burst."""
    if settings.CACHE_URL.startswith(("redis://", "rediss://")):
        pipe = _redis(settings.CACHE_URL).pipeline(transaction=False)
        for key, period in keys:
            pipe.incr(key)
            pipe.expire(key, period + 1, nx=True)
        return pipe.execute()[::2]
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
    return counts


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


class RequestRateThrottle(throttling.BaseThrottle):
    """Fixed-window request limits, counted in the shared cache so that every web process
    counts together: per device (requests with a token), per client address (all requests),
    and a lower one per address for requests without a token (activation, consent texts)."""

    def allow_request(self, request, view):
        address = self.get_ident(request)
        scopes = [("address", address)]
        if isinstance(request.auth, Device):
            scopes.append(("device", str(request.auth.pk)))
        else:
            scopes.append(("anonymous", address))
        now = time.time()
        keys, limits, ends = [], [], []
        for scope, ident in scopes:
            limit, period = getattr(settings, f"REPORTIN_RATE_{scope.upper()}")
            slot = int(now // period)
            keys.append((f"reportin:rate:{scope}:{period}:{slot}:{ident}", period))
            limits.append(limit)
            ends.append((slot + 1) * period)
        try:
            counts = _count(keys)
        except Exception:
            # The counters' store (Redis) is down: let the request through rather than refuse
            # every check-in while it is away. The limits are back with it.
            logger.warning("request-rate counters unavailable; request allowed uncounted", exc_info=True)
            self._wait = 0
            return True
        over = [end for count, limit, end in zip(counts, limits, ends) if count > limit]
        self._wait = max(over, default=now) - now
        return not over

    def wait(self):
        return self._wait
