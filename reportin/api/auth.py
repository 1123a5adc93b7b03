"""Device tokens, the language of answers, and request-rate limits."""

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


class _FixedWindowThrottle(throttling.BaseThrottle):
    """At most N requests per period and key, counted in the shared cache (so every web
    process counts together). Redis counts atomically; the embedded file cache may let a
    few extra requests through under a burst."""

    scope = ""

    def key(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view):
        key = self.key(request)
        if key is None:
            return True
        limit, period = getattr(settings, f"REPORTIN_RATE_{self.scope.upper()}")
        now = time.time()
        slot = int(now // period)
        cache_key = f"rate:{self.scope}:{key}:{period}:{slot}"
        if cache.add(cache_key, 1, timeout=period + 1):
            count = 1
        else:
            try:
                count = cache.incr(cache_key)
            except ValueError:  # expired between add() and incr()
                cache.add(cache_key, 1, timeout=period + 1)
                count = 1
        self._wait = (slot + 1) * period - now
        return count <= limit

    def wait(self):
        return self._wait


class DeviceThrottle(_FixedWindowThrottle):
    scope = "device"

    def key(self, request):
        return str(request.auth.pk) if isinstance(request.auth, Device) else None


class AddressThrottle(_FixedWindowThrottle):
    scope = "address"

    def key(self, request):
        return self.get_ident(request)


class AnonymousThrottle(_FixedWindowThrottle):
    """Requests that carry no token (activation, consent texts), per address."""

    scope = "anonymous"

    def key(self, request):
        return None if isinstance(request.auth, Device) else self.get_ident(request)
