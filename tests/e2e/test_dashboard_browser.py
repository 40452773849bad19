"""The dashboard in headless Debian Chromium against the real stack: signed in by the link
``make run`` prints (the token leaves the address bar for sessionStorage), an upload watched to
`ready` live, the track page playing the song with its beat grid drawn on a waveform and moving
(checked on screenshots), the click on every beat switchable, presets side by side, a failed
track's reason in the list, and a drift chart per device.

The browser is driven over the W3C WebDriver protocol (Debian's ``chromium-driver``) with
httpx, so no browser download and no extra Python package. If Chromium is missing the test
installs it with apt-get (CI runs as root; ``make e2e-deps`` does the same) and skips, with the
reason, only when that is impossible.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.genesis_map import BAR_TRUSTED
from infra.embedded import free_port
from k1.client import dashboard_url
from k1.cmd_devices import register_devices
from k1.device_sim import FleetThread, SimConfig
from k1.stack import Stack
from tests.e2e.conftest import LogTap, start_stack
from tests.e2e.songs import nan_in_the_middle
from tests.e2e.waiting import until

ROOT = Path(__file__).resolve().parents[2]
SONG = ROOT / "examples" / "example_song.ogg"
SCREENSHOTS = ROOT / "var"
W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
BEAT, BAR, HEAD = (0x00, 0xE5, 0xFF), (0xFF, 0xD4, 0x00), (0xFF, 0x2D, 0x95)  # as track.js draws
LINE, LIMIT = (0x00, 0xE5, 0xFF), (0xFF, 0x5C, 0x5C)  # as fleet.js draws


def _ensure_chromium() -> tuple[str, str]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("chromium/chromium-driver missing and apt-get needs root here")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            done = subprocess.run(install, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"cannot install chromium: {done.stderr.strip()[-300:]}")
    return shutil.which("chromium"), shutil.which("chromedriver")  # type: ignore[return-value]


class Browser:
    """Just enough WebDriver: open, find, type, click, run a script, screenshot."""

    def __init__(self, driver_url: str, chromium: str) -> None:
        self.http = httpx.Client(base_url=driver_url, timeout=60)
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1500",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            },
        }
        session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.sid = session["sessionId"]

    def _call(self, method: str, path: str, body: dict | None = None):
        response = self.http.request(method, path, json=body)
        value = response.json()["value"]
        if response.status_code != 200:
            raise RuntimeError(f"webdriver {path}: {value.get('message', value)}")
        return value

    def s(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.sid}{path}", body)

    def open(self, url: str) -> None:
        self.s("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return self.s("POST", "/element", {"using": "css selector", "value": css})[W3C_ELEMENT]

    def type(self, css: str, text: str) -> None:
        self.s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def js(self, script: str, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, *, timeout_s: float, what: str):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.js(script)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.s("GET", "/screenshot")))

    def shot(self, css: str) -> bytes:
        """A PNG screenshot of one element (decode it with :class:`Image` after the moment)."""
        return base64.b64decode(self.s("GET", f"/element/{self.find(css)}/screenshot"))

    def quit(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.sid}")
        finally:
            self.http.close()


class Image:
    """An 8-bit RGB(A) PNG decoded with the standard library (what Chromium's screenshots are)."""

    def __init__(self, png: bytes) -> None:
        pos, idat, header = 8, b"", b""
        while pos < len(png):
            (length,) = struct.unpack(">I", png[pos : pos + 4])
            kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
            if kind == b"IHDR":
                header = data
            elif kind == b"IDAT":
                idat += data
            pos += 12 + length
        width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
        assert depth == 8 and color in (2, 6) and not interlace, "an unexpected PNG kind"
        self.width, self.height, self.channels = width, height, 3 if color == 2 else 4
        raw, stride = zlib.decompress(idat), width * self.channels
        self.rows: list[bytes] = []
        prev = bytearray(stride)
        for y in range(height):
            start = y * (stride + 1)
            line = bytearray(raw[start + 1 : start + 1 + stride])
            _unfilter(raw[start], line, prev, self.channels)
            self.rows.append(bytes(line))
            prev = line

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        return tuple(self.rows[y][x * self.channels : x * self.channels + 3])

    def columns_of(self, color: tuple[int, int, int], tolerance: int = 40) -> list[int]:
        """The x of every column holding a pixel of about ``color`` (every other row looked at)."""
        return [
            x
            for x in range(self.width)
            if any(
                sum(abs(a - b) for a, b in zip(self.pixel(x, y), color, strict=True)) <= tolerance
                for y in range(0, self.height, 2)
            )
        ]

    def differing_pixels(self, other: Image) -> int:
        return sum(
            self.pixel(x, y) != other.pixel(x, y)
            for y in range(min(self.height, other.height))
            for x in range(min(self.width, other.width))
        )


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    """Undo one PNG scanline filter in place (RFC 2083, 6.3)."""
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 2:
            line[i] = (line[i] + up) & 255
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 255
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (
                line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
            ) & 255


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium, chromedriver = _ensure_chromium()
    port = free_port()
    driver = subprocess.Popen(
        [chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/status", timeout=1).json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.2)
        b = Browser(url, chromium)
        yield b
        b.quit()
    finally:
        driver.terminate()
        driver.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_vhost) -> Iterator[Stack]:
    tap = LogTap()
    s = Stack(
        var_dir=tmp_path_factory.mktemp("dash"),
        amqp_url=stack_vhost,
        database=f"dash_{uuid.uuid4().hex[:8]}",
        log=tap,
    )
    yield start_stack(s, tap)
    s.stop()


def _upload(stack: Stack, name: str, body: bytes, content_type: str) -> str:
    response = httpx.post(
        f"{stack.gateway_url}/api/v1/tracks",
        params={"filename": name},
        content=body,
        timeout=60,
        headers={
            "Authorization": f"Bearer {stack.token('operator')}",
            "Content-Type": content_type,
        },
    )
    assert response.status_code in (200, 201), response.text
    return response.json()["track_id"]


def _track(stack: Stack, track_id: str) -> dict:
    response = httpx.get(
        f"{stack.gateway_url}/api/v1/tracks/{track_id}",
        timeout=10,
        headers={"Authorization": f"Bearer {stack.token('viewer')}"},
    )
    return response.json()


def _sign_in(stack: Stack, browser: Browser, track_id: str | None = None) -> str:
    """Open a dashboard link that signs in, as ``make run`` and ``k1 upload`` print it (at a
    track's page when given); the token it carried."""
    token = stack.token("operator", ttl_s=3600)
    base = f"{stack.gateway_url}/#token={token}"
    browser.open(dashboard_url(stack.gateway_url, track_id, token=token) if track_id else base)
    browser.wait_for(
        "return !document.getElementById('app').hidden", timeout_s=10, what="the dashboard"
    )
    return token


def test_the_printed_link_signs_in_and_leaves_no_token_in_the_address_bar(stack, browser):
    token = _sign_in(stack, browser)
    assert browser.js("return sessionStorage.getItem('k1.token')") == token
    assert "token" not in browser.js("return location.href")
    assert browser.js("return location.hash") == ""
    assert "(operator)" in browser.js("return document.getElementById('who').innerText")


def test_upload_watch_ready_and_open_its_page(stack, browser):
    _sign_in(stack, browser)
    browser.wait_for(
        "return document.getElementById('live').classList.contains('on')",
        timeout_s=10,
        what="the live feed to connect",
    )
    browser.type("#file", str(SONG))
    browser.click("#upload-button")
    browser.wait_for(
        "return document.getElementById('upload-progress').value === 100",
        timeout_s=30,
        what="the upload progress bar to fill",
    )
    row = "document.querySelector('#tracks tbody tr')"
    status = browser.wait_for(
        f"const r = {row}; return r && ['ready','warning','failed'].includes(r.dataset.status)"
        " && r.dataset.status",
        timeout_s=90,
        what="the track to finish",
    )
    assert status == "ready", browser.js(f"return {row}.innerText")
    browser.click("#tracks tbody tr")
    assert "?track=" in browser.js("return location.href")
    browser.wait_for(
        "const i = document.getElementById('picture'); return !i.hidden && i.naturalWidth > 100",
        timeout_s=20,
        what="the map picture",
    )
    browser.wait_for(
        "return /^\\d+ \\(/.test(document.getElementById('d-beats').textContent)",
        timeout_s=10,
        what="the beat count",
    )
    bpm = float(browser.js("return document.getElementById('d-bpm').textContent"))
    assert 60 <= bpm <= 200
    assert browser.js("return document.getElementById('d-status').textContent").startswith("ready")
    # the meter says when the map's own bar confidence puts its bar lines below trust
    track_id = browser.js("return new URLSearchParams(location.search).get('track')")
    map_url = _track(stack, track_id)["analysis"]["map_url"]
    genesis_map = httpx.get(
        stack.gateway_url + map_url,
        timeout=10,
        headers={"Authorization": f"Bearer {stack.token('viewer')}"},
    ).json()
    bar_confidence = genesis_map["metadata"]["analysis_config"]["bar_confidence"]
    shown = browser.js("return document.getElementById('d-meter').textContent")
    assert shown.startswith("4/4")
    assert ("(bar lines uncertain)" in shown) is (bar_confidence < BAR_TRUSTED), shown


@pytest.fixture(scope="module")
def example_track(stack) -> str:
    track_id = _upload(stack, SONG.name, SONG.read_bytes(), "audio/ogg")  # or the one known
    until(
        lambda: _track(stack, track_id)["status"] in ("ready", "warning"),
        timeout_s=90,
        what="the example song to be ready",
    )
    return track_id


def test_the_track_page_plays_the_song_with_its_beat_grid_moving(stack, browser, example_track):
    _sign_in(stack, browser, example_track)
    assert browser.js("return location.href") == f"{stack.gateway_url}/?track={example_track}"
    browser.wait_for(
        "return !document.getElementById('play').disabled", timeout_s=30, what="the audio"
    )
    still = Image(browser.shot("#wave-detail"))
    assert len(still.columns_of(BEAT)) >= 3, "no beat markers on the waveform"
    assert still.columns_of(BAR), "no bar lines on the waveform"
    assert still.columns_of(HEAD), "no playhead"
    assert browser.js("return document.getElementById('click-on').checked")

    browser.click("#play")
    browser.wait_for("return Track.playing && Track.position() > 1", timeout_s=10, what="playback")
    shots = [browser.shot("#wave-detail"), browser.shot("#wave-overview")]
    time.sleep(0.8)
    shots += [browser.shot("#wave-detail"), browser.shot("#wave-overview")]
    first, overview_first, second, overview_second = (Image(png) for png in shots)
    browser.screenshot(SCREENSHOTS / "dashboard-track.png")
    # The grid scrolls past the playhead: the markers are elsewhere a moment later ...
    assert first.columns_of(BEAT) != second.columns_of(BEAT)
    assert first.differing_pixels(second) > 500
    # ... and on the whole song the playhead has moved to the right.
    head_then, head_now = overview_first.columns_of(HEAD), overview_second.columns_of(HEAD)
    assert head_then and head_now and min(head_now) > min(head_then), (head_then, head_now)

    clicks = browser.wait_for("return Track.clicks", timeout_s=5, what="clicks on the beats")
    assert clicks > 0
    browser.click("#click-on")  # off: the song plays on, without clicks
    time.sleep(0.3)
    muted = browser.js("return Track.clicks")
    time.sleep(1.5)
    assert browser.js("return Track.playing && Track.clicks") == muted
    browser.click("#play")
    assert browser.js("return Track.playing") is False


def test_presets_are_compared_side_by_side(stack, browser, example_track):
    _sign_in(stack, browser, example_track)
    browser.wait_for(
        "return document.getElementById('preset-legend').children.length === 1",
        timeout_s=20,
        what="the current preset's lane",
    )
    browser.wait_for(
        "return !document.getElementById('compare-form').hidden", timeout_s=10, what="the form"
    )
    other = browser.js("return document.getElementById('compare-preset').value")
    browser.click("#compare-button")
    legend = browser.wait_for(
        "const l = document.getElementById('preset-legend');"
        "return l.children.length === 2 && l.innerText",
        timeout_s=120,
        what="a second preset's lane",
    )
    assert other in legend, legend
    lanes = Image(browser.shot("#preset-lanes"))
    assert lanes.height >= 90, "two lanes of 48 px"


def test_a_failed_track_shows_its_reason_in_the_list(stack, browser):
    track_id = _upload(stack, "broken.wav", nan_in_the_middle(), "audio/wav")
    _sign_in(stack, browser)
    reason = browser.wait_for(
        f"const r = document.querySelector('tr[data-track-id=\"{track_id}\"]');"
        "return r && r.dataset.status === 'failed' && r.querySelector('.reason').innerText",
        timeout_s=90,
        what="the failed track and its reason",
    )
    assert "NaN" in reason, reason


def test_the_devices_card_draws_a_drift_chart_per_device(stack, browser):
    [device] = register_devices(stack.gateway_url, stack.token("admin"), count=1, group="dash")
    fleet = FleetThread(
        [(device["device_id"], device["token"])],
        SimConfig(api_url=stack.gateway_url, rate_hz=5, drift_ms=20, jitter_ms=8),
    ).start()
    try:
        _sign_in(stack, browser)
        chart = f"#drift-charts figure[data-device='{device['device_id']}'] canvas"
        browser.wait_for(
            f'const c = document.querySelector("{chart}"); return c && +c.dataset.samples >= 3',
            timeout_s=30,
            what="drift samples on the chart",
        )
        drawn = Image(browser.shot(chart))
        line, limits = drawn.columns_of(LINE, tolerance=60), drawn.columns_of(LIMIT)
        assert line and min(line) > drawn.width * 0.8, line  # the newest seconds, at the right
        assert len(limits) > drawn.width / 3, "no dashed threshold lines"
        browser.screenshot(SCREENSHOTS / "dashboard.png")
    finally:
        fleet.stop()
