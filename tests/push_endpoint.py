"""A local Web Push endpoint: it plays the browser's push service and the browser at once.

It holds a subscription's keys as a browser would (a P-256 key pair and a 16-byte auth
secret), accepts the application server's POST like a push service (RFC 8030: 201 and a
Location), checks its VAPID signature (RFC 8292: `Authorization: vapid t=<ES256 JWT>, k=<key>`,
the audience being this origin, the expiry within 24 hours), and decrypts the payload
(RFC 8291 over RFC 8188 aes128gcm) with the subscription's private key and auth secret,
written out here from the RFCs, independently of the library that encrypts it.
"""

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair: (private key as base64url of its 32-byte value, public key as
    base64url of its uncompressed point), the forms REPORTIN_VAPID_* settings take."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big")), b64url(_point(key))


def _hkdf(*, salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt(body: bytes, *, ua_private: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """RFC 8291 section 3.4 and RFC 8188 section 2: one record, aes128gcm."""
    salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    as_public = body[21:21 + id_length]
    ciphertext = body[21 + id_length:]
    assert id_length == 65 and len(ciphertext) <= record_size, "one record with the server's key as keyid"
    shared = ua_private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public))
    ikm = _hkdf(salt=auth_secret, ikm=shared, info=b"WebPush: info\x00" + _point(ua_private) + as_public, length=32)
    cek = _hkdf(salt=salt, ikm=ikm, info=b"Content-Encoding: aes128gcm\x00", length=16)
    nonce = _hkdf(salt=salt, ikm=ikm, info=b"Content-Encoding: nonce\x00", length=12)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    stripped = padded.rstrip(b"\x00")
    assert stripped.endswith(b"\x02"), "the last record ends with the 0x02 delimiter"
    return stripped[:-1]


def check_vapid(header: str, *, audience: str, public_key: str) -> dict:
    """The VAPID JWT's claims after checking its signature against `public_key`; raises
    AssertionError on anything RFC 8292 does not allow."""
    scheme, _, params = header.partition(" ")
    assert scheme.lower() == "vapid", f"not a vapid Authorization: {header[:40]}"
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    assert values["k"] == public_key, "signed with another key than the one the app subscribed with"
    head, claims, signature = values["t"].split(".")
    assert json.loads(unb64url(head))["alg"] == "ES256"
    raw = unb64url(signature)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(values["k"]))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise AssertionError("the VAPID signature does not verify") from exc
    payload = json.loads(unb64url(claims))
    assert payload["aud"] == audience, payload
    assert time.time() < payload["exp"] <= time.time() + 24 * 3600, payload
    return payload


class PushEndpoint:
    def __init__(self, *, vapid_public_key: str, port: int = 0):
        self.ua_private = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        self.vapid_public_key = vapid_public_key
        self.received: list[dict] = []  # decrypted messages with their headers and VAPID claims
        self.errors: list[str] = []
        self.gone = False  # answer 410: the browser dropped the subscription
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status: int, headers: dict | None = None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if endpoint.gone:
                    self._answer(410)
                    return
                try:
                    assert self.headers.get("Content-Encoding") == "aes128gcm", self.headers.get("Content-Encoding")
                    assert int(self.headers["TTL"]) >= 0
                    claims = check_vapid(self.headers.get("Authorization", ""), audience=endpoint.origin, public_key=endpoint.vapid_public_key)
                    plain = decrypt(body, ua_private=endpoint.ua_private, auth_secret=endpoint.auth_secret)
                except Exception as exc:  # recorded for the test to show, answered as a push service would
                    endpoint.errors.append(f"{type(exc).__name__}: {exc}")
                    self._answer(400)
                    return
                endpoint.received.append({"payload": json.loads(plain), "ttl": int(self.headers["TTL"]), "vapid": claims})
                self._answer(201, {"Location": f"{endpoint.origin}/messages/{len(endpoint.received)}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.origin}/push/subscription-1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def subscription(self) -> dict:
        """What the web app sends to PUT /api/v1/channels (PushSubscription.toJSON())."""
        return {"channel": "push", "push_endpoint": self.url, "push_p256dh": b64url(_point(self.ua_private)), "push_auth": b64url(self.auth_secret)}

    def __enter__(self) -> "PushEndpoint":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
