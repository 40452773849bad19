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

from infra.auth import Role, issue_token
from infra.embedded import NxServer, free_port, start_nx27017

ROOT = Path(__file__).resolve().parent.parent
SERVICE_ORDER = ("ingest", "analyzer", "validator", "deployer", "telemetry", "gateway")
HTTP_SERVICES = ("ingest", "gateway")


def user_state_dir() -> Path:
    """Per-user state folder (XDG): ``$XDG_STATE_HOME/k1``, else ``~/.local/state/k1``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "k1"


def run_json_paths() -> tuple[Path, ...]:
    """Where a running stack describes itself, most specific first: this checkout's
    ``var/run.json``, then the copy ``make run`` publishes for the user (any directory)."""
    return (ROOT / "var" / "run.json", user_state_dir() / "run.json")


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
        self.published: Path | None = None

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

    def token(self, role: Role = "admin", *, ttl_s: int = 7 * 24 * 3600) -> str:
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
        self._unpublish()
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

    def write_run_json(self, path: Path, *, publish: bool = False) -> None:
        """Write ``run_info()`` to ``path`` (mode 0600); ``publish`` also writes it to the
        user's state folder, so ``k1`` finds this stack from any directory (until ``stop``)."""
        info = json.dumps(self.run_info(), indent=2)
        _write_private(path, info)
        if publish:
            self.published = user_state_dir() / "run.json"
            _write_private(self.published, info)

    def _unpublish(self) -> None:
        """Remove the published copy unless a later stack has replaced it with its own."""
        path, self.published = self.published, None
        if path is None:
            return
        try:
            if json.loads(path.read_text()).get("pids") == {
                n: p.pid for n, p in self.procs.items()
            }:
                path.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_private(path: Path, text: str) -> None:
    """Atomically write a file only its owner can read (it holds an admin token)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
