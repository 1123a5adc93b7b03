"""Facts about an HTTP request that more than one layer needs."""

import ipaddress

from django.conf import settings


def client_address(request) -> str | None:
    """The address of the person making the request. Behind REPORTIN_TRUSTED_PROXIES reverse
    proxies (settings: REST_FRAMEWORK["NUM_PROXIES"]), REMOTE_ADDR is the nearest proxy's;
    the client's is the one the outermost trusted proxy appended to X-Forwarded-For. Entries
    further left were written by the client and are not believed. Same rule as the API's
    request-rate limits (DRF's get_ident), so an access record and a rate limit name the same
    address."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    candidate = addresses[-min(proxies, len(addresses))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # not an address: keep the one the connection came from
        return remote
