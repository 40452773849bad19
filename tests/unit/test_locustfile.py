"""``tools/bench/locustfile.py`` carries the seeds' load profile: 1000 users thinking 1–3 s, the
seeds' endpoints weighted 3:2:1, and its users really call them (against a fake gateway).

Locust patches the interpreter with gevent as it is imported, so the locustfile is loaded in a
child process; skipped, with the reason, only where locust is not installed (``make test``
installs it with the ``load`` extra, best effort, as ``make bench-locust`` does).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None,
    reason="locust is not installed: `pip install -e '.[load]'` (make bench-locust does it)",
)

PROBE = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from locust.env import Environment
import tools.bench.locustfile as lf

seen = []
MAP = b'{"metadata": {}, "layers": {}}'


class Gateway(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, body=b"{}"):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        seen.append(("GET", self.path, self.headers.get("Authorization")))
        if self.path.startswith("/api/v1/tracks?") or self.path == "/api/v1/tracks":
            items = [{"track_id": "t1", "status": "ready"}, {"track_id": "t2", "status": "failed"}]
            return self._send(200, json.dumps({"items": items}).encode())
        if self.path.endswith("/genesis-map"):
            return self._send(200, MAP)
        return self._send(200)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen.append(("POST", self.path, body == MAP))
        self._send(409)


server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
threading.Thread(target=server.serve_forever, daemon=True).start()
user_class = lf.SongAnalysisUser
waits = [user_class.wait_time(None) for _ in range(2000)]
user_class.host = f"http://127.0.0.1:{server.server_port}"
env = Environment(user_classes=[user_class])
user = user_class(env)
user.on_start()
for name in ("get_tracks", "get_track_detail", "upload_genesis_map"):
    getattr(user, name)()
failures = sum(s.num_failures for s in env.stats.entries.values())
print(json.dumps({
    "users": lf.USERS, "spawn_rate": lf.SPAWN_RATE, "think": lf.THINK_TIME_S,
    "wait": [min(waits), max(waits)],
    "weights": {f.__name__: user_class.tasks.count(f) for f in set(user_class.tasks)},
    "tags": {f.__name__: sorted(getattr(f, "locust_tag_set", ())) for f in set(user_class.tasks)},
    "seen": seen, "failures": failures,
}))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "K1_TOKEN": "tok", "XDG_STATE_HOME": "/nonexistent"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_profile_is_the_seeds(probe):
    assert probe["users"] == 1000 and probe["spawn_rate"] == 50
    assert probe["think"] == [1.0, 3.0]
    low, high = probe["wait"]
    assert 1.0 <= low < 1.1 and 2.9 < high <= 3.0


def test_the_seeds_endpoints_weighted_3_2_1(probe):
    assert probe["weights"] == {"get_tracks": 3, "get_track_detail": 2, "upload_genesis_map": 1}
    assert probe["tags"]["upload_genesis_map"] == ["write"]


def test_users_call_the_endpoints_with_the_token_and_a_real_map(probe):
    seen = probe["seen"]
    assert seen[0] == ["GET", "/api/v1/tracks?limit=100", "Bearer tok"]
    assert ["GET", "/api/v1/tracks/t1/genesis-map", "Bearer tok"] in seen
    assert ["GET", "/api/v1/tracks", "Bearer tok"] in seen
    assert any(m == "GET" and p in ("/api/v1/tracks/t1", "/api/v1/tracks/t2") for m, p, _ in seen)
    assert ["POST", "/api/v1/tracks/t1/genesis-map", True] in seen
    assert probe["failures"] == 0, "a 409 while a map is validated is expected, not a failure"
