"""The seeds' load profile for Locust: 1000 users, each thinking 1–3 s between requests, on the
endpoints the seeds name — list tracks (weight 3), read a track (2), upload a Genesis Map (1).

    make bench-locust                                   # headless, bounded, against `make run`
    make bench-locust LOCUST_USERS=200 LOCUST_TIME=30s  # smaller / shorter
    .venv/bin/locust -f tools/bench/locustfile.py       # the web UI (http://localhost:8089)

The stack and its token are found as ``k1`` finds them (``--host`` / ``$K1_API_URL``, ``$K1_TOKEN``,
else the run.json ``make run`` writes). Tracks are the stack's own, listed once per process; the
map upload re-sends a ready track's map (a new candidate version each time the gateway accepts
it; 409 while one is still being validated is expected). ``--exclude-tags write`` runs the read
profile alone. ``tools/bench/api.py`` is the capacity benchmark this complements: it seeds its
own tracks and finds the highest rate with P95 < 100 ms.
"""

from __future__ import annotations

import random

from locust import HttpUser, between, events, tag, task

USERS = 1000
"""Concurrent users of the seeds' profile (``make bench-locust`` passes it as ``--users``)."""
SPAWN_RATE = 50
"""Users started per second (the seeds' ``--spawn-rate``)."""
THINK_TIME_S = (1.0, 3.0)
"""Each user waits uniformly this long between two requests."""
API = "/api/v1"


def _stack() -> tuple[str | None, str | None]:
    """(base URL, token) of the running stack, or (None, $K1_TOKEN) when none is found."""
    import os

    try:
        from k1.client import find_target

        target = find_target()
    except (ImportError, LookupError):
        return None, os.environ.get("K1_TOKEN")
    return target.api_url, target.token


HOST, TOKEN = _stack()


class _Shared:
    """What every user of this process reuses: the stack's track ids and one ready map."""

    loading = False
    track_ids: list[str] = []
    ready_id: str | None = None
    map_body: bytes | None = None


class SongAnalysisUser(HttpUser):
    """One client of the gateway API, as in the seeds' ``benchmark/load_test.py``."""

    host = HOST
    wait_time = between(*THINK_TIME_S)

    def on_start(self) -> None:
        if TOKEN:
            self.client.headers["Authorization"] = f"Bearer {TOKEN}"
        if not _Shared.loading:  # the first user of the process lists them for all
            _Shared.loading = True
            self._load_tracks()

    def _load_tracks(self) -> None:
        with self.client.get(
            f"{API}/tracks?limit=100", name=f"{API}/tracks", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"listing tracks: HTTP {response.status_code}")
                return
            items = response.json()["items"]
        _Shared.track_ids = [t["track_id"] for t in items]
        ready = [t["track_id"] for t in items if t["status"] in ("ready", "warning")]
        if ready and _Shared.map_body is None:
            got = self.client.get(
                f"{API}/tracks/{ready[0]}/genesis-map", name=f"{API}/tracks/[id]/genesis-map"
            )
            if got.status_code == 200:
                _Shared.ready_id, _Shared.map_body = ready[0], got.content

    @task(3)
    def get_tracks(self) -> None:
        self.client.get(f"{API}/tracks", name=f"{API}/tracks")

    @task(2)
    def get_track_detail(self) -> None:
        if _Shared.track_ids:
            track_id = random.choice(_Shared.track_ids)
            self.client.get(f"{API}/tracks/{track_id}", name=f"{API}/tracks/[id]")

    @tag("write")
    @task(1)
    def upload_genesis_map(self) -> None:
        if _Shared.map_body is None:
            return
        with self.client.post(
            f"{API}/tracks/{_Shared.ready_id}/genesis-map",
            data=_Shared.map_body,
            headers={"Content-Type": "application/json"},
            name=f"{API}/tracks/[id]/genesis-map",
            catch_response=True,
        ) as response:
            if response.status_code in (202, 409):
                response.success()


@events.test_start.add_listener
def _needs_a_stack(environment, **_kwargs) -> None:
    if not (environment.host or HOST):
        raise SystemExit(
            "no running stack: start one with `make run` (in the checkout), or pass --host "
            "and set K1_TOKEN"
        )
