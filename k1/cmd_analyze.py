"""``k1 analyze AUDIO -o MAP.json [--preset NAME] [--reference BEATS.txt] [--plot MAP.png]``.

Runs the analysis and the Genesis engine in-process (no broker, no database). The outputs are
checked for writability before any analysis; bad input ends with one line on stderr and exit code
2; a progress bar is drawn on stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from k1.cli import EXIT_OK, describe, fail
from k1.client import meter
from k1.progress import stage_bar


def register(subparsers: argparse._SubParsersAction) -> None:
    from services.analyzer.domain.presets import DEFAULT_PRESET, PRESETS

    p = subparsers.add_parser(
        "analyze",
        help="analyse a song and write its Genesis Map v4",
        description=describe(__doc__),
    )
    p.add_argument("audio", metavar="AUDIO", help="WAV, FLAC, OGG/Vorbis or MP3 file")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="MAP.json",
        help="where to write the map ('-': stdout)",
    )
    p.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        choices=sorted(PRESETS),
        help=f"choreography preset (default {DEFAULT_PRESET})",
    )
    p.add_argument(
        "--reference",
        metavar="BEATS.txt",
        help="annotated beat times in seconds, one per line: "
        "f_measure/cemgil are then measured with mir_eval",
    )
    p.add_argument("--plot", metavar="MAP.png", help="also draw the analysis as a PNG picture")
    p.add_argument(
        "--max-minutes", type=float, default=20.0, help="refuse longer audio (default 20)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from services.analyzer.domain.analysis import analyze_file
    from services.analyzer.domain.errors import AnalysisError
    from services.analyzer.domain.genesis import build_map

    started = time.perf_counter()
    try:
        for output in (args.output, args.plot):
            check_writable(output)
        data = Path(args.audio).read_bytes()
        reference = _read_reference(args.reference) if args.reference else None
    except (OSError, ValueError) as exc:
        return fail(_os_message(exc))
    try:
        with stage_bar("analyzing", enabled=not args.quiet) as bar:
            analysis = analyze_file(data, progress=bar, max_duration_s=args.max_minutes * 60.0)
    except AnalysisError as exc:
        return fail(f"{args.audio}: {exc} [{exc.code}]")
    genesis_map = build_map(
        analysis,
        preset=args.preset,
        filename=os.path.basename(args.audio),
        audio_sha256=hashlib.sha256(data).hexdigest(),
        reference_beats_s=reference,
    )
    try:
        _write(
            args.output, json.dumps(genesis_map, separators=(",", ":"), ensure_ascii=False).encode()
        )
        if args.plot:
            from services.analyzer.domain.plot import render_png

            _write(args.plot, render_png(analysis, title=os.path.basename(args.audio)))
    except OSError as exc:
        return fail(_os_message(exc))
    if not args.quiet:
        print(_summary(genesis_map, args.output, time.perf_counter() - started), file=sys.stderr)
    return EXIT_OK


def _read_reference(path: str):
    """Beat times (s) from a text file: first number of each line; '#' starts a comment."""
    import numpy as np

    times = []
    for number, line in enumerate(
        Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1
    ):
        fields = line.split("#", 1)[0].replace(",", " ").split()
        if not fields:
            continue
        try:
            times.append(float(fields[0]))
        except ValueError:
            raise ValueError(
                f"{path}:{number}: not a beat time in seconds: {fields[0]!r}"
            ) from None
    beats = np.asarray(times, dtype=np.float64)
    if beats.size == 0 or not np.all(np.isfinite(beats)) or np.any(beats < 0):
        raise ValueError(f"{path}: needs at least one finite, non-negative beat time in seconds")
    return np.sort(beats)


def check_writable(path: str | None) -> None:
    """Raise ``OSError`` naming ``path`` unless a file can be written there ('-' and ``None``
    always can): its folder exists and is writable, and it is not a folder or read-only."""
    if path is None or path == "-":
        return
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise OSError(errno.ENOENT, f"cannot write it: no folder {folder}", str(target))
    if target.is_dir():
        raise OSError(errno.EISDIR, "cannot write it: it is a folder", str(target))
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise OSError(errno.EACCES, "cannot write it: permission denied", str(target))


def _write(path: str, payload: bytes) -> None:
    """Write atomically (temporary file + rename); '-' writes to stdout."""
    if path == "-":
        sys.stdout.buffer.write(payload + b"\n")
        sys.stdout.flush()
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(payload)
        os.replace(tmp, target)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _os_message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def _summary(genesis_map: dict, output: str, seconds: float) -> str:
    g, rhythm = genesis_map["global_metrics"], genesis_map["layers"]["rhythm"]
    sections = genesis_map["layers"]["annotations"]["sections"]
    time_signature = meter(rhythm, genesis_map["metadata"]["analysis_config"])
    meter_note = f"{time_signature}, " if time_signature else ""
    note = f", {'; '.join(g['warnings'])}" if g["warnings"] else ""
    return (
        f"k1: wrote {output}: {g['bpm']:.1f} BPM, {meter_note}{len(rhythm['beat_grid_ms'])} beats, "
        f"{len(sections)} sections, quality {g['quality']}{note} ({seconds:.2f} s)"
    )
