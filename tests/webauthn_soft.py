"""A software WebAuthn authenticator (P-256, "none" attestation) for tests that exercise the
server side without a browser. It builds exactly the bytes an authenticator and a browser
would (authenticator data, client data, CBOR attestation, ECDSA signature), so the real
verification in `webauthn` runs; the browser ceremony itself is tested with Chromium's virtual
authenticator (tests/test_staff_webauthn_browser.py)."""

import base64
import hashlib
import json
import os

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftKey:
    def __init__(self, *, rp_id: str = "testserver", origin: str = "http://testserver"):
        self.rp_id, self.origin = rp_id, origin
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0

    def _cose_public_key(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, options_json: str) -> bytes:
        challenge = json.loads(options_json)["challenge"]
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}).encode()

    def register(self, options_json: str) -> str:
        """The browser's answer to navigator.credentials.create(), as JSON."""
        client_data = self._client_data("webauthn.create", options_json)
        flags = 0x01 | 0x04 | 0x40  # user present, user verified, attested credential data
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) + self.sign_count.to_bytes(4, "big")
            + bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation)},
            "clientExtensionResults": {},
        })

    def authenticate(self, options_json: str, *, sign_count: int | None = None) -> str:
        """The browser's answer to navigator.credentials.get(), as JSON."""
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options_json)
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([0x05]) + self.sign_count.to_bytes(4, "big")
        signature = self.private.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                "signature": b64url(signature), "userHandle": None,
            },
            "clientExtensionResults": {},
        })
