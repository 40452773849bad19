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
    transport: httpx.BaseTransport | None = None
    """How to reach it (``None``: the network; tests pass a fake gateway)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def http(self, timeout: float) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers=self.headers, timeout=timeout, transport=self.transport
        )


def find_target(
    run_json: Path | None = None, *, url: str | None = None, token: str | None = None
) -> Target:
    """The stack to talk to: explicit values, then $K1_API_URL/$K1_TOKEN, then ``run_json``
    or, when none is given, the first live one of :func:`k1.stack.run_json_paths` (this
    checkout's ``var/run.json``, then the per-user copy ``make run`` publishes)."""
    from k1.stack import run_json_paths

    paths = (run_json,) if run_json is not None else run_json_paths()
    info = next((i for i in map(_read_run_json, paths) if i), {})
    api = url or os.environ.get("K1_API_URL") or info.get("gateway_url") or info.get("api_url")
    tok = token or os.environ.get("K1_TOKEN") or info.get("admin_token")
    if not api or not tok:
        where = " or ".join(str(p) for p in paths)
        raise LookupError(
            f"no running stack found in {where}: start one with `make run` in the checkout, "
            "or pass --url and --token (or set K1_API_URL and K1_TOKEN)"
        )
    return Target(api_url=api.rstrip("/"), token=tok)


def _read_run_json(path: Path) -> dict:
    """A stack's run.json, or {} when it is missing, unreadable or its processes are gone."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    pids = info.get("pids") if isinstance(info, dict) else None
    if not isinstance(info, dict) or (pids and not any(map(_alive, pids.values()))):
        return {}
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


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
        "Content-Type": "application/octet-stream",
        "Content-Length": str(path.stat().st_size),
    }
    with target.http(timeout=120) as client:
        response = client.post(
            route, params=params, headers=headers, content=_file_chunks(path, on_bytes)
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
        with target.http(timeout=10) as client:
            r = client.get(f"/api/v1/tracks/{track_id}")
        r.raise_for_status()
        return r.json()

    return get


@dataclass(frozen=True, slots=True)
class TrackResult:
    """What a finished track made, as ``k1 upload`` reports it."""

    track_id: str
    status: str
    bpm: float | None = None
    meter: str | None = None
    sections: tuple[tuple[str, float], ...] = ()
    """(label, start in ms) of each section."""
    map_url: str | None = None
    picture_url: str | None = None
    dashboard_url: str | None = None
    warnings: tuple[str, ...] = ()
    error_reason: str | None = None


def track_result(target: Target, state: dict, *, sign_in_token: str | None = None) -> TrackResult:
    """The result of a terminal track ``state`` (``GET /tracks/{id}``): its tempo, meter and
    sections (read from its Genesis Map) and absolute links to the map, picture and the
    dashboard's page of the track (signing the browser in with ``sign_in_token`` when given)."""
    analysis = state.get("analysis") or {}
    absolute = {k: target.api_url + v for k in ("map_url", "picture_url") if (v := analysis.get(k))}
    genesis_map = _get_json(target, analysis["map_url"]) if analysis.get("map_url") else None
    rhythm = (genesis_map or {}).get("layers", {}).get("rhythm", {})
    config = (genesis_map or {}).get("metadata", {}).get("analysis_config")
    sections = (genesis_map or {}).get("layers", {}).get("annotations", {}).get("sections", [])
    return TrackResult(
        track_id=state["track_id"],
        status=state["status"],
        bpm=analysis.get("bpm"),
        meter=meter(rhythm, config),
        sections=tuple((s["label"], float(s["start_ms"])) for s in sections),
        dashboard_url=dashboard_url(target.api_url, state["track_id"], token=sign_in_token),
        warnings=tuple(state.get("warnings") or analysis.get("warnings") or ()),
        error_reason=state.get("error_reason") or analysis.get("error_reason"),
        **absolute,
    )


def dashboard_url(api_url: str, track_id: str, *, token: str | None = None) -> str:
    """The dashboard's page of a track; ``token`` goes in the fragment, which browsers never
    send to a server and the page moves to sessionStorage (as ``make run``'s link does)."""
    return f"{api_url.rstrip('/')}/?track={track_id}" + (f"#token={token}" if token else "")


def meter(rhythm: dict, analysis_config: dict | None = None) -> str | None:
    """A map's meter as written (``4/4``, ``6/8``); from ``beats_per_bar`` over quarters when
    the map has no ``time_signature``. "(bar lines uncertain)" follows when the map's
    ``analysis_config`` gives a bar confidence below the contract's ``BAR_TRUSTED``."""
    if rhythm.get("time_signature"):
        written = str(rhythm["time_signature"])
    elif rhythm.get("beats_per_bar"):
        written = f"{rhythm['beats_per_bar']}/4"
    else:
        return None
    bar_confidence = (analysis_config or {}).get("bar_confidence")
    if isinstance(bar_confidence, int | float):
        from contracts.genesis_map import BAR_TRUSTED

        if bar_confidence < BAR_TRUSTED:
            return f"{written} (bar lines uncertain)"
    return written


def _get_json(target: Target, path: str) -> dict | None:
    """GET a JSON document of the stack; None when it cannot be had (the result is shown
    without what it would have added)."""
    try:
        with target.http(timeout=30) as client:
            response = client.get(path)
        response.raise_for_status()
        found = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return found if isinstance(found, dict) else None
