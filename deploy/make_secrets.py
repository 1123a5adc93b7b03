"""Create the files docker-compose.yml reads as Docker secrets, under ./secrets/ (git ignores
it), each a fresh random value: `python3 deploy/make_secrets.py reportin.example.org`.

Existing files are kept (re-running never changes a password the database already has).
The TLS certificate made here is self-signed, for a first start only: replace
secrets/tls_cert.pem and secrets/tls_key.pem with your real ones (the proxy reads them at start).
"""

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "secrets"


def write(name: str, value: str) -> None:
    path = FOLDER / name
    if path.exists():
        return
    # Readable inside the containers (the app runs as uid 10001); the folder itself is 0700.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


def read(name: str) -> str:
    return (FOLDER / name).read_text().rstrip("\n")


def main(domain: str) -> None:
    FOLDER.mkdir(mode=0o700, exist_ok=True)
    token = lambda: secrets.token_urlsafe(32)  # noqa: E731
    for name in ("postgres_password", "db_owner_password", "db_app_password", "redis_password"):
        write(name, token())
    write("django_secret_key", secrets.token_urlsafe(64))
    write("encryption_keys", "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode())
    write("audit_key", secrets.token_urlsafe(48))
    # Empty unless you set an SMTP password here (EMAIL_BACKEND=smtp).
    write("email_password", "")
    write("database_url", f"postgres://reportin_app:{read('db_app_password')}@db:5432/reportin")
    write("database_owner_url", f"postgres://reportin_owner:{read('db_owner_password')}@db:5432/reportin")
    write("broker_url", f"redis://:{read('redis_password')}@redis:6379/0")
    write("cache_url", f"redis://:{read('redis_password')}@redis:6379/1")
    # The object store's one identity: the application reads the key, SeaweedFS its config.
    write("s3_secret_key", token())
    write("s3_identities.json", json.dumps({"identities": [{
        "name": "reportin", "credentials": [{"accessKey": "reportin", "secretKey": read("s3_secret_key")}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    # GC Notify (SMS): empty until you paste the service's API key; its receipts' bearer token.
    write("gc_notify_api_key", "")
    write("gc_notify_callback_token", token())
    if not (FOLDER / "tls_cert.pem").exists():
        if shutil.which("openssl") is None:
            sys.exit("openssl is missing: put your certificate and key in secrets/tls_cert.pem and secrets/tls_key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "30", "-subj", f"/CN={domain}",
             "-addext", f"subjectAltName=DNS:{domain}", "-keyout", str(FOLDER / "tls_key.pem"), "-out", str(FOLDER / "tls_cert.pem")],
            check=True, capture_output=True,
        )
        (FOLDER / "tls_key.pem").chmod(0o600)
        print("wrote secrets/tls_cert.pem and secrets/tls_key.pem (self-signed: replace them with your real certificate)")
    if not (FOLDER / "vapid_private_key").exists():
        # Web Push's VAPID key pair (P-256): the private key as PEM, the public one as the
        # base64url uncompressed point browsers take (the last 65 bytes of its DER form).
        if shutil.which("openssl") is None:
            sys.exit("openssl is missing: it makes the Web Push (VAPID) key pair")
        pem = subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout"], check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "ec", "-pubout", "-outform", "DER"], input=pem, check=True, capture_output=True).stdout
        write("vapid_public_key", base64.urlsafe_b64encode(der[-65:]).decode().rstrip("="))
        write("vapid_private_key", pem.decode().strip())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 deploy/make_secrets.py <the site's domain name>")
    main(sys.argv[1])
