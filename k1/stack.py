"""The whole stack on one machine: nx-27017, the local object folder and every service as its
own process against RabbitMQ — what ``make run`` starts and what the end-to-end tests use.

Each service runs exactly as in production (``python -m services.<name>``), configured through
``K1_*`` environment variables; their logs are merged into one stream, prefixed by service.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.auth import issue_token
from infra.embedded import NxServer, free_port, start_nx27017

ROOT = Path(__file__).resolve().parent.parent
SERVICE_ORDER = ("ingest", "analyzer", "validator", "deployer", "telemetry", "gateway")
HTTP_SERVICES = ("ingest", "gateway")


def available_services() -> tuple[str, ...]:
    """Services that have an entry point in this checkout, in start order."""
    return tuple(s for s in SERVICE_ORDER if (ROOT / "services" / s / "__main__.py").exists())


@dataclass
class Stack:
    var_dir: Path
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    database: str = "k1"
    analysis_workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    log: Callable[[str], None] = print
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    """Random per stack unless given (``make run`` passes the one it keeps in ``var/``)."""
    services: tuple[str, ...] = field(default_factory=available_services)

    def __post_init__(self) -> None:
        self.var_dir = Path(self.var_dir).resolve()
        self.ports = {name: free_port() for name in (*HTTP_SERVICES, "mongo")}
        self.health_ports = {name: free_port() for name in self.services}
        self.nx: NxServer | None = None
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ingest']}"

    @property
    def public_url(self) -> str:
        return self.gateway_url if "gateway" in self.services else self.ingest_url

    @property
    def data_dir(self) -> Path:
        return self.var_dir / "data"

    @property
    def mongodb_url(self) -> str:
        assert self.nx is not None, "stack not started"
        return self.nx.url

    def token(self, role: str = "admin", *, ttl_s: int = 7 * 24 * 3600) -> str:
        return issue_token(self.jwt_secret, subject="k1-stack", role=role, ttl_s=ttl_s)

    def env(self, service: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "K1_SERVICE_NAME": service,
            "K1_AMQP_URL": self.amqp_url,
            "K1_MONGODB_URL": self.mongodb_url,
            "K1_MONGODB_DATABASE": self.database,
            "K1_DATA_DIR": str(self.data_dir),
            "K1_INGEST_PORT": str(self.ports["ingest"]),
            "K1_INGEST_URL": self.ingest_url,
            "K1_GATEWAY_PORT": str(self.ports["gateway"]),
            "K1_PUBLIC_URL": self.public_url,
            "K1_HEALTH_PORT": str(self.health_ports[service]),
            "K1_LOG_FORMAT": "text",
            "K1_JWT_SECRET": self.jwt_secret,
            "K1_DEV_MODE": "true",
            "K1_ANALYSIS_WORKERS": str(self.analysis_workers),
            **self.extra_env,
        }

    def start(self, *, timeout_s: float = 90.0) -> Stack:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.nx = start_nx27017(
            port=self.ports["mongo"],
            data_dir=self.var_dir / "mongo",
            log_file=self.var_dir / "logs" / "nx-27017.log",
        )
        self.log(f"[stack] nx-27017 on {self.nx.url}")
        for name in self.services:
            self.start_service(name)
        self.wait_ready(timeout_s=timeout_s)
        return self

    def start_service(self, name: str, *, label: str | None = None) -> str:
        """Start one process of service ``name``; ``label`` names a further instance
        (e.g. ``analyzer-2``: competing consumers on the same queues). Returns the label."""
        label = label or name
        self.health_ports.setdefault(label, free_port())
        env = {**self.env(name), "K1_HEALTH_PORT": str(self.health_ports[label])}
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs[label] = proc
        threading.Thread(target=self._pump, args=(label, proc), daemon=True).start()
        return label

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.log(f"[{name:9s}] {raw.decode(errors='replace').rstrip()}")

    def health_url(self, name: str) -> str:
        if name in HTTP_SERVICES and name in self.ports:
            return f"http://127.0.0.1:{self.ports[name]}/health"
        return f"http://127.0.0.1:{self.health_ports[name]}/readyz"

    def wait_ready(self, *, timeout_s: float, names: tuple[str, ...] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        for name in names or tuple(self.procs):
            while not self._answers(self.health_url(name)):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode} at start-up")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} did not become ready within {timeout_s:.0f} s")
                time.sleep(0.2)
        self.log(f"[stack] ready: {', '.join(self.procs)}")

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_service(self, name: str, *, sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        for name in reversed(tuple(self.procs)):
            self.stop_service(name)
        if self.nx is not None:
            self.nx.stop()
            self.nx = None
        self.log("[stack] stopped")

    def run_info(self) -> dict:
        return {
            "gateway_url": self.gateway_url if "gateway" in self.services else None,
            "ingest_url": self.ingest_url,
            "api_url": self.public_url,
            "mongodb_url": self.mongodb_url,
            "mongodb_database": self.database,
            "amqp_url": self.amqp_url.replace("guest:guest@", "guest:***@"),
            "data_dir": str(self.data_dir),
            "objects_dir": str(self.data_dir / "objects"),
            "health": {n: self.health_url(n) for n in self.procs},
            "pids": {n: p.pid for n, p in self.procs.items()},
            "admin_token": self.token("admin"),
        }

    def write_run_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.run_info(), indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
