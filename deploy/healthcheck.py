"""The web container's health check: GET /readyz from inside the container, naming the site's
real host (the first of DJANGO_ALLOWED_HOSTS), since Django refuses a Host it does not serve
and production lists only the real domain. Exit status 0 when ready."""

import http.client
import os
import sys


def main() -> int:
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
    # ".example.org" allows sub-domains; "*" allows anything: either way, the name itself serves.
    host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost")
    port = int(os.environ.get("HEALTHCHECK_PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        # As the proxy would send it: plain HTTP inside, HTTPS outside (no redirect either way).
        connection.request("GET", "/readyz", headers={"Host": host, "X-Forwarded-Proto": "https"})
        response = connection.getresponse()
        response.read()
    except OSError as exc:
        print(f"readyz: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"readyz answered {response.status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
