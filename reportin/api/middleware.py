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
