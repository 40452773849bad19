"""Upload guards (issue 12, item 3): a body that stalls or trickles is cut with 408; uploads in
flight are capped per client address and per token subject with 429 and ``Retry-After``; the
settings are documented; the dashboard renders names as text, never as HTML (item 9)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from litestar import Request

from infra.uploads import UploadSettings, UploadSlots, paced
from infra.web import ApiError, api_error_handler

ROOT = Path(__file__).resolve().parents[3]


async def _collect(chunks) -> bytes:
    return b"".join([c async for c in chunks])


async def _stream(parts, *, pause_s: float = 0.0, stall_after: int | None = None):
    for i, part in enumerate(parts):
        if stall_after is not None and i == stall_after:
            await asyncio.Event().wait()  # never comes
        if pause_s:
            await asyncio.sleep(pause_s)
        yield part


async def test_a_steady_body_passes_through_unchanged():
    parts = [b"a" * 1000] * 20
    out = await _collect(paced(_stream(parts), idle_timeout_s=5, min_rate_bytes_s=100, grace_s=1))
    assert out == b"".join(parts)


async def test_a_stalled_body_is_cut_after_the_idle_timeout():
    with pytest.raises(ApiError) as caught:
        await _collect(
            paced(
                _stream([b"x" * 100_000] * 3, stall_after=1),
                idle_timeout_s=0.2,
                min_rate_bytes_s=0,
                grace_s=0,
            )
        )
    assert (caught.value.status, caught.value.code) == (408, "upload_too_slow")


async def test_a_trickling_body_is_cut_once_below_the_minimum_rate():
    """One byte every 50 ms never trips a 1 s idle timeout, but is far below 1000 bytes/s."""
    with pytest.raises(ApiError) as caught:
        await _collect(
            paced(
                _stream([b"x"] * 1000, pause_s=0.05),
                idle_timeout_s=1.0,
                min_rate_bytes_s=1000,
                grace_s=0.3,
            )
        )
    assert caught.value.status == 408 and "slower than 1000 bytes/s" in caught.value.detail


async def test_a_fast_start_buys_time_in_proportion_to_what_was_sent():
    """2000 bytes at once at a minimum of 1000 bytes/s may then pause up to ~2 s."""
    out = await _collect(
        paced(
            _stream([b"x" * 2000, b"y"], pause_s=0.3),
            idle_timeout_s=5,
            min_rate_bytes_s=1000,
            grace_s=0.6,
        )
    )
    assert out == b"x" * 2000 + b"y"


def test_uploads_in_flight_are_capped_per_client_and_per_subject():
    slots = UploadSlots(per_client=2, per_subject=3, retry_after_s=7)
    with (
        slots.hold(client="10.0.0.1", subject="alice"),
        slots.hold(client="10.0.0.1", subject="alice"),
    ):
        with pytest.raises(ApiError) as caught, slots.hold(client="10.0.0.1", subject="bob"):
            pass
        assert caught.value.status == 429 and caught.value.headers == {"Retry-After": "7"}
        with (
            slots.hold(client="10.0.0.2", subject="alice"),  # third of alice's: allowed
            pytest.raises(ApiError),  # a fourth is not
            slots.hold(client="10.0.0.3", subject="alice"),
        ):
            pass
        with slots.hold(client="10.0.0.2", subject="bob"):  # others are not affected
            pass
    assert slots.in_flight("client:10.0.0.1") == 0 and slots.in_flight("subject:alice") == 0
    with slots.hold(client="10.0.0.1", subject="alice"):  # released on the way out
        pass


def test_a_refused_upload_is_a_slot_that_was_never_taken():
    slots = UploadSlots(per_client=1, per_subject=1, retry_after_s=1)
    with (
        slots.hold(client="c", subject="s"),
        pytest.raises(ApiError),
        slots.hold(client="other", subject="s"),
    ):
        pass
    assert slots.in_flight("client:other") == 0


def test_the_429_answer_carries_retry_after():
    scope = {"type": "http", "method": "POST", "path": "/api/v1/tracks", "headers": []}
    response = api_error_handler(
        Request(scope),  # type: ignore[arg-type]
        ApiError(
            429,
            "too_many_uploads",
            "wait",  # type: ignore[arg-type]
            headers={"Retry-After": "30"},
        ),
    )
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert response.media_type == "application/problem+json"
    assert response.content["error"] == "too_many_uploads" and response.content["status"] == 429


def test_every_upload_setting_is_documented_in_the_configuration_table():
    readme = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        f"K1_UPLOAD_{n.upper()}"
        for n in UploadSettings.model_fields
        if f"K1_UPLOAD_{n.upper()}" not in readme
    ]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_the_dashboard_never_renders_data_as_html():
    """Names (now full Unicode, any character a browser might parse) reach the page only as
    text: every innerHTML/outerHTML/insertAdjacentHTML takes nothing but string literals."""
    literal = r"""\s*(?:"[^"$`]*"|'[^'$`]*')\s*"""
    for script in sorted((ROOT / "services/gateway/static").glob("*.js")):
        source = script.read_text()
        assert "insertAdjacentHTML" not in source and "document.write" not in source, script
        for match in re.finditer(r"\.(?:inner|outer)HTML\s*=([^;]*);", source):
            assert re.fullmatch(f"{literal}(?:\\+{literal})*", match.group(1)), (
                script.name,
                match.group(0),
            )
        assert '.file").textContent = t.filename' in source or script.name != "app.js"


async def test_a_full_pool_to_ingest_is_503_busy_with_retry_after(env, monkeypatch):
    async def pool_exhausted(self, request):
        raise httpx.PoolTimeout("no connection free")

    monkeypatch.setattr(type(env.ingest), "__call__", pool_exhausted)
    r = await env.client.post(
        "/api/v1/tracks",
        content=b"RIFF....WAVE",
        headers={**env.auth("operator"), "Content-Type": "audio/wav"},
    )
    assert r.status_code == 503 and r.json()["error"] == "busy", r.text
    assert r.headers["Retry-After"].isdigit()


def test_the_dashboard_trusts_bar_lines_from_the_same_confidence_as_the_contract():
    """The page mirrors ``contracts.genesis_map.BAR_TRUSTED`` (plain JS, no build step)."""
    from contracts.genesis_map import BAR_TRUSTED

    source = (ROOT / "services/gateway/static/app.js").read_text()
    match = re.search(r"const BAR_TRUSTED = ([0-9.]+);", source)
    assert match and float(match.group(1)) == BAR_TRUSTED
