"""``k1 upload FILE [--preset NAME]``: send a song to the running stack and watch its journey.

Finds the stack through ``--url/--token``, ``$K1_API_URL/$K1_TOKEN``, then the ``run.json`` that
``make run`` writes (this checkout's ``var/run.json``, else the copy in the per-user state folder
``$XDG_STATE_HOME/k1``, so it works from any directory). Shows an upload progress bar on a
terminal, then each stage live until the track is ready, flagged (warning) or failed, then what it
made: tempo, meter, sections and the links to its map, picture and its dashboard page (which
signs the browser in when the output is a terminal). Exits 0 for ready/warning, 1 for failed, 2
for a refusal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from k1.cli import EXIT_FAILURE, EXIT_OK, describe, fail
from k1.client import TrackResult, UploadRefused, api_state, find_target, follow, track_result
from k1.client import upload as send
from k1.progress import bytes_bar


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "upload",
        help="send a song to the running stack, show its journey and result",
        description=describe(__doc__),
    )
    p.add_argument("file", metavar="FILE", type=Path, help="WAV, FLAC, OGG/Vorbis or MP3 file")
    p.add_argument("--preset", help="Genesis preset (default: the stack's)")
    p.add_argument("--url", help="gateway base URL (default: from the stack's run.json)")
    p.add_argument("--token", help="bearer token (default: $K1_TOKEN or the stack's run.json)")
    p.add_argument(
        "--run-json",
        type=Path,
        default=None,
        help="read the stack's address from this file only "
        "(default: var/run.json, else $XDG_STATE_HOME/k1/run.json)",
    )
    p.add_argument("--no-follow", action="store_true", help="return once the upload is accepted")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for the journey")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, *, transport: httpx.BaseTransport | None = None) -> int:
    if not args.file.is_file():
        return fail(f"{args.file}: no such file")
    try:
        target = find_target(args.run_json, url=args.url, token=args.token)
    except LookupError as exc:
        return fail(str(exc))
    if transport is not None:
        from dataclasses import replace

        target = replace(target, transport=transport)
    try:
        with bytes_bar(f"upload {args.file.name}", args.file.stat().st_size) as advance:
            accepted = send(target, args.file, preset=args.preset, on_bytes=advance)
    except UploadRefused as exc:
        return fail(f"{args.file.name} refused ({exc.status}): {exc.detail}")
    except httpx.HTTPError as exc:
        return fail(f"cannot reach {target.api_url}: {exc}", EXIT_FAILURE)
    track_id = accepted["track_id"]
    note = " (same audio as an earlier upload)" if accepted.get("duplicate") else ""
    print(f"{args.file.name}: track {track_id}{note}", flush=True)
    if args.no_follow:
        return EXIT_OK
    try:
        final = follow(api_state(target, track_id), on_change=_show, timeout_s=args.timeout)
    except (TimeoutError, httpx.HTTPError) as exc:
        return fail(str(exc), EXIT_FAILURE)
    # A link that signs in carries the token: only for a person at a terminal, not a log.
    sign_in = target.token if sys.stdout.isatty() else None
    print("\n".join(result_lines(track_result(target, final, sign_in_token=sign_in))), flush=True)
    return EXIT_FAILURE if final["status"] == "failed" else EXIT_OK


def _show(state: dict) -> None:
    reason = f" — {state['error_reason']}" if state.get("error_reason") else ""
    print(
        f"  {state['status']:9s} {state.get('stage', ''):10s} "
        f"{state.get('progress_pct', 0):5.1f}%{reason}",
        flush=True,
    )


def result_lines(result: TrackResult) -> list[str]:
    """What the track made, one fact a line: what a light designer checks first."""
    lines = [f"result: {result.status}"]
    if result.status == "failed":
        lines.append(f"  reason     {result.error_reason or 'unknown'}")
    if result.bpm is not None:
        lines.append(f"  tempo      {result.bpm:.1f} BPM")
    if result.meter:
        lines.append(f"  meter      {result.meter}")
    if result.sections:
        lines.append(
            f"  sections   {len(result.sections)}: "
            + ", ".join(f"{label} {_clock(start_ms)}" for label, start_ms in result.sections)
        )
    if result.warnings:
        lines.append(f"  warnings   {'; '.join(result.warnings)}")
    for name, url in (
        ("map", result.map_url),
        ("picture", result.picture_url),
        ("dashboard", result.dashboard_url),
    ):
        if url:
            lines.append(f"  {name:10s} {url}")
    return lines


def _clock(ms: float) -> str:
    seconds = int(round(ms / 1000))
    return f"{seconds // 60}:{seconds % 60:02d}"
