"""``make run``: the whole stack on this machine, the example song sent through it, then serve.

Starts nx-27017 and the local object folder (embedded defaults), every service against the
local RabbitMQ, uploads ``examples/example_song.ogg``, prints its journey and where its map and
picture are, writes ``var/run.json``, and keeps serving until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading

from infra.docstore import MongoDocStore
from infra.errors import InfraError
from k1.client import Target, UploadRefused, dashboard_url, follow, upload
from k1.local_secret import local_jwt_secret
from k1.run_devices import deploy_example
from k1.stack import ROOT, Stack

EXAMPLE = ROOT / "examples" / "example_song.ogg"
RUN_JSON = ROOT / "var" / "run.json"
DASHBOARD_TOKEN_TTL_S = 12 * 3600  # the printed dashboard link signs a browser in for a day's work


def _say(line: str) -> None:
    print(line, flush=True)


def _journey_line(state: dict) -> str:
    pct = state.get("progress_pct")
    extra = f" — {state['error_reason']}" if state.get("error_reason") else ""
    return (
        f"[journey] {state.get('status'):9s} stage={state.get('stage')} {pct:.0f}%{extra}"
        if pct is not None
        else f"[journey] {state}"
    )


def _follow_track(stack: Stack, track_id: str) -> dict:
    """Print the track's journey from its document until it is terminal; the final state."""
    loop = asyncio.new_event_loop()
    docs = MongoDocStore.from_url(stack.mongodb_url, stack.database)

    def get() -> dict:
        track = loop.run_until_complete(docs.tracks.get_track(track_id))
        if track is None:  # the upload created it: only a wiped database loses it
            raise LookupError(f"track {track_id} is gone from the document store")
        return {
            "status": track.status,
            "stage": track.stage,
            "progress_pct": track.progress_pct,
            "error_reason": track.error_reason,
            "version": track.analysis_version,
        }

    try:
        return follow(get, on_change=lambda s: _say(_journey_line(s)))
    finally:
        loop.run_until_complete(docs.close())
        loop.close()


def send_example(stack: Stack) -> str:
    target = Target(api_url=stack.public_url, token=stack.token("operator"))
    accepted = upload(target, EXAMPLE, gateway="gateway" in stack.services)
    track_id = accepted["track_id"]
    _say(
        f"[journey] uploaded {EXAMPLE.name} as track {track_id}"
        f"{' (already known: same audio)' if accepted.get('duplicate') else ''}"
    )
    final = _follow_track(stack, track_id)
    version = final["version"]
    objects = stack.data_dir / "objects"
    _say(f"[journey] finished: {final['status']}")
    _say(f"  map      {objects / 'maps' / track_id / f'v{version}' / 'map.json'}")
    _say(f"  picture  {objects / 'maps' / track_id / f'v{version}' / 'map.png'}")
    if "gateway" in stack.services:
        _say(f"  API      {stack.gateway_url}/api/v1/tracks/{track_id}")
        token = stack.token("operator", ttl_s=DASHBOARD_TOKEN_TTL_S)  # signs the browser in
        _say(f"  dashboard {dashboard_url(stack.gateway_url, track_id, token=token)}")
    return track_id


def main() -> int:
    if not EXAMPLE.exists():
        _say(f"missing {EXAMPLE}: the example song is part of the repository")
        return 1
    stack = Stack(
        var_dir=ROOT / "var",
        amqp_url=os.environ.get("K1_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        log=_say,
        analysis_workers=int(os.environ.get("K1_ANALYSIS_WORKERS", "1")),
        jwt_secret=local_jwt_secret(ROOT / "var"),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fleet = None
    try:
        stack.start()
        stack.write_run_json(RUN_JSON, publish=True)
        _say(f"[stack] wrote {RUN_JSON}")
        fleet = deploy_example(stack, send_example(stack), say=_say)
        _say("[stack] serving; press Ctrl-C to stop")
        stop.wait()
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError, OSError, InfraError, UploadRefused) as exc:
        _say(f"[stack] could not run the stack: {exc} (see the log lines above and var/logs/)")
        return 1
    finally:
        if fleet is not None:
            fleet.stop()
        stack.stop()
        RUN_JSON.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
