"""``k1 upload FILE [--preset NAME]``: send a song to the running stack and watch its journey.

Finds the stack through ``--url/--token``, ``$K1_API_URL/$K1_TOKEN`` or ``var/run.json`` (written
by ``make run``). Shows an upload progress bar on a terminal, then each stage live until the track
is ready, flagged (warning) or failed; exits 0 for ready/warning, 1 for failed, 2 for a refusal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from k1.cli import EXIT_FAILURE, EXIT_OK, fail
from k1.client import UploadRefused, api_state, find_target, follow, upload
from k1.stack import ROOT


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "upload",
        help="send a song to the running stack, show its journey",
        description=__doc__.splitlines()[0].strip("`."),
    )
    p.add_argument("file", metavar="FILE", type=Path, help="WAV, FLAC, OGG/Vorbis or MP3 file")
    p.add_argument("--preset", help="Genesis preset (default: the stack's)")
    p.add_argument("--url", help="gateway base URL (default: from var/run.json)")
    p.add_argument("--token", help="bearer token (default: $K1_TOKEN or var/run.json)")
    p.add_argument("--run-json", type=Path, default=ROOT / "var" / "run.json")
    p.add_argument("--no-follow", action="store_true", help="return once the upload is accepted")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for the journey")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        return fail(f"{args.file}: no such file")
    try:
        target = find_target(args.run_json, url=args.url, token=args.token)
    except LookupError as exc:
        return fail(str(exc))
    bar = _Bar(args.file.stat().st_size) if sys.stderr.isatty() else None
    try:
        accepted = upload(
            target, args.file, preset=args.preset, on_bytes=bar.advance if bar else (lambda n: None)
        )
    except UploadRefused as exc:
        return fail(f"{args.file.name} refused ({exc.status}): {exc.detail}")
    except httpx.HTTPError as exc:
        return fail(f"cannot reach {target.api_url}: {exc}", EXIT_FAILURE)
    finally:
        if bar:
            bar.close()
    track_id = accepted["track_id"]
    note = " (same audio as an earlier upload)" if accepted.get("duplicate") else ""
    print(f"{args.file.name}: track {track_id}{note}", flush=True)
    if args.no_follow:
        return EXIT_OK
    try:
        final = follow(api_state(target, track_id), on_change=_show, timeout_s=args.timeout)
    except (TimeoutError, httpx.HTTPError) as exc:
        return fail(str(exc), EXIT_FAILURE)
    return EXIT_FAILURE if final["status"] == "failed" else EXIT_OK


def _show(state: dict) -> None:
    reason = f" — {state['error_reason']}" if state.get("error_reason") else ""
    print(
        f"  {state['status']:9s} {state.get('stage', ''):10s} "
        f"{state.get('progress_pct', 0):5.1f}%{reason}",
        flush=True,
    )


class _Bar:
    def __init__(self, total: int) -> None:
        self.total, self.done = max(total, 1), 0

    def advance(self, n: int) -> None:
        self.done += n
        filled = int(30 * self.done / self.total)
        sys.stderr.write(
            f"\r  upload [{'#' * filled}{'.' * (30 - filled)}] {100 * self.done / self.total:5.1f}%"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
