"""A tiny HTTP client over urllib for tests that talk to a real server through a socket."""

import json
import urllib.error
import urllib.request


def call(method: str, url: str, *, json_body=None, body: bytes | None = None, headers: dict | None = None):
    """Returns (status, headers, parsed JSON or None)."""
    headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    return status, answer_headers, json.loads(raw) if raw else None
