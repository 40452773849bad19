"""The dashboard in headless Debian Chromium against the real stack: sign in with a token,
upload the example song (progress bar), watch it reach `ready` live, open it, see its picture.

The browser is driven over the W3C WebDriver protocol (Debian's ``chromium-driver``) with
httpx, so no browser download and no extra Python package. If Chromium is missing the test
installs it with apt-get (CI runs as root; ``make e2e-deps`` does the same) and skips, with the
reason, only when that is impossible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.embedded import free_port
from k1.stack import Stack
from tests.e2e.conftest import LogTap, start_stack

ROOT = Path(__file__).resolve().parents[2]
SONG = ROOT / "examples" / "example_song.ogg"
SCREENSHOT = ROOT / "var" / "dashboard.png"
W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


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
        import base64

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.s("GET", "/screenshot")))

    def quit(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.sid}")
        finally:
            self.http.close()


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


def test_upload_watch_ready_and_see_the_picture(stack, browser):
    browser.open(stack.gateway_url + "/")
    browser.type("#token", stack.token("operator"))
    browser.click("#signin-button")
    browser.wait_for(
        "return !document.getElementById('app').hidden",
        timeout_s=10,
        what="the signed-in dashboard",
    )
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
    browser.screenshot(SCREENSHOT)
