"""A small client for a running stack: upload a song, follow its journey through the chain."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

TERMINAL = ("ready", "warning", "failed")
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    api_url: str
    token: str
    """Base URL of the gateway (or ingest when no gateway runs) and a bearer token."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def find_target(run_json: Path, *, url: str | None = None, token: str | None = None) -> Target:
    """The stack to talk to: explicit values, then $K1_API_URL/$K1_TOKEN, then var/run.json."""
    info: dict = {}
    if run_json.exists():
        info = json.loads(run_json.read_text())
    api = url or os.environ.get("K1_API_URL") or info.get("gateway_url") or info.get("api_url")
    tok = token or os.environ.get("K1_TOKEN") or info.get("admin_token")
    if not api or not tok:
        raise LookupError(
            f"no running stack found: start one with `make run` (it writes "
            f"{run_json}) or pass --url and --token"
        )
    return Target(api_url=api.rstrip("/"), token=tok)


def _file_chunks(path: Path, on_bytes: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            on_bytes(len(chunk))
            yield chunk


def upload(
    target: Target,
    path: Path,
    *,
    preset: str | None = None,
    on_bytes: Callable[[int], None] = lambda n: None,
    gateway: bool = True,
) -> dict:
    """Stream ``path`` to the stack; the accepted track as JSON (raises on an error reply)."""
    params = {"filename": path.name, **({"preset": preset} if preset else {})}
    route = "/api/v1/tracks" if gateway else "/uploads"
    headers = {
        **target.headers,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(path.stat().st_size),
    }
    response = httpx.post(
        target.api_url + route,
        params=params,
        headers=headers,
        content=_file_chunks(path, on_bytes),
        timeout=120,
    )
    if response.status_code >= 400:
        raise UploadRefused(response.status_code, _detail(response))
    return response.json()


class UploadRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:300]


def follow(
    get_state: Callable[[], dict],
    *,
    on_change: Callable[[dict], None],
    timeout_s: float = 300,
    poll_s: float = 0.2,
) -> dict:
    """Poll ``get_state`` until the track is terminal, reporting every change of
    status/stage/percent; returns the final state (TimeoutError after ``timeout_s``)."""
    deadline, last = time.monotonic() + timeout_s, None
    while True:
        state = get_state()
        key = (state.get("status"), state.get("stage"), state.get("progress_pct"))
        if key != last:
            on_change(state)
            last = key
        if state.get("status") in TERMINAL:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"track still {state.get('status')} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def api_state(target: Target, track_id: str) -> Callable[[], dict]:
    def get() -> dict:
        r = httpx.get(
            f"{target.api_url}/api/v1/tracks/{track_id}", headers=target.headers, timeout=10
        )
        r.raise_for_status()
        return r.json()

    return get
