"""Embedded servers for tests and ``make run``: nx-27017 (MongoDB wire protocol over SQLite)
and moto's S3 server. Nothing starts at import time."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from infra.errors import StoreUnavailable

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer  # moto is a dev dependency, imported when used


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _nx_command() -> list[str]:
    exe = Path(sys.executable).with_name("nx-27017")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("nx-27017")
    return [found] if found else [sys.executable, "-m", "nx_27017"]


@dataclass
class NxServer:
    """A running nx-27017 subprocess; ``url`` is what ``AsyncMongoClient`` connects to."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    data_dir: Path
    log_file: Path

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Terminate (SIGTERM) and wait; kill if it does not exit within ``timeout_s``."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)

    def __enter__(self) -> NxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ping(url: str) -> bool:
    client: MongoClient = MongoClient(url, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def start_nx27017(
    *,
    port: int,
    data_dir: Path | str,
    log_file: Path | str,
    host: str = "127.0.0.1",
    timeout_s: float = 20.0,
) -> NxServer:
    """Start nx-27017 on ``host:port`` with one SQLite file per database under ``data_dir``.

    Returns once the server answers a ``ping``; raises :class:`StoreUnavailable` with the tail
    of its log if it exits or stays silent for ``timeout_s`` seconds.
    """
    data_dir, log_file = Path(data_dir), Path(log_file)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        *_nx_command(),
        "--host",
        host,
        "-p",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-file",
        str(log_file),
        "--pid-file",
        str(data_dir / "nx-27017.pid"),
    ]
    with open(log_file, "ab") as out:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = NxServer(process, host, port, data_dir, log_file)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StoreUnavailable(
                f"nx-27017 exited with code {process.returncode} on port {port}; "
                f"log {log_file}:\n{_log_tail(log_file)}"
            )
        if _ping(server.url):
            return server
        time.sleep(0.05)
    server.stop()
    raise StoreUnavailable(
        f"nx-27017 did not answer a ping on {host}:{port} within {timeout_s:.0f} s; "
        f"log {log_file}:\n{_log_tail(log_file)}"
    )


@dataclass
class MotoS3Server:
    """moto's S3 server running in a thread of this process."""

    server: ThreadedMotoServer
    host: str
    port: int
    access_key: str = "testing"
    secret_key: str = field(default="testing", repr=False)
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        """``host:port`` as the minio SDK wants it (no scheme)."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.stop()


def start_moto_s3(*, port: int = 0, host: str = "127.0.0.1") -> MotoS3Server:
    """Start moto's S3 server on ``host:port`` (0 = any free port) and return its address.

    moto accepts any credentials and does not enforce presigned-URL expiry.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return MotoS3Server(server=server, host=host, port=int(bound_port))
