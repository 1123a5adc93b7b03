"""One log line per API request: method, path, status, time, device id and error code.

Never the query string, headers (the token), the body (the selfie, GPS fix, circumstances)
or the client's name: the log is read by more people than the data is."""

import logging
import time

logger = logging.getLogger("reportin.api")


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        logger.info(
            "%s %s %s %.1fms device=%s error=%s",
            request.method[:16],
            # Escaped and cut: a path is whatever the caller sent, newlines included.
            request.path.encode("unicode_escape").decode()[:200],
            response.status_code,
            (time.perf_counter() - started) * 1000,
            getattr(request, "reportin_device_id", "-"),
            getattr(response, "reportin_error_code", "-"),
        )
        return response


# Admin pages and the API docs load scripts and styles from this site only (Swagger UI from
# drf-spectacular-sidecar, its start-up script from the split view). Inline styles stay allowed:
# Django admin's widgets set style attributes; inline scripts do not.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
_CSP_PREFIXES = ("/admin/", "/api/docs/", "/api/schema/")


class SecurityHeadersMiddleware:
    """A Content-Security-Policy on staff pages and the API docs, and `Cache-Control: no-store`
    on every answer of the mobile API: they carry a person's data or a device token, and no
    shared cache or the phone's disk should keep them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        path = request.path
        if path.startswith(_CSP_PREFIXES) and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        if path.startswith("/api/v1/"):
            response["Cache-Control"] = "no-store"
            response.setdefault("Pragma", "no-cache")
        return response
