"""``make eval-real``: k1's analysis and plain librosa on annotated real recordings.

Usage: ``python -m tools.eval.real [--data DIR] [--jobs N] [--only SUBSTRING] [--no-librosa]
[--crop-s S [--crop-step-s T] [--crop-start-s A] [--max-crops N]]``.
``DIR`` (default ``../shared/realeval`` beside the repository) holds ``audio/<id>.<ext>`` and
``annotations/<id>.beats`` (one beat a line: seconds, then its position in the bar, 1 = downbeat)
and, optionally, ``manifest.json`` with each item's genre and reference BPM. Prints a table per
item, means per genre and overall (ours / librosa in each cell), error diagnostics and the
targets; the last line is one JSON object with every figure. Exits 2 when the folder is missing
or holds no annotated audio.

With ``--crop-s S`` every recording is scored as up to ``--max-crops`` excerpts of ``S`` seconds
starting every ``--crop-step-s`` seconds from ``--crop-start-s`` (ours and librosa on the same
excerpt, each crop's
reference BPM its own): a stand-in for other excerpts of the same songs, which shows whether a
change holds beyond the exact windows it was tuned on. The targets apply to whole excerpts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from contracts.genesis_map import BAR_TRUSTED
from tools.eval import real_metrics as rm
from tools.eval.report import HEADERS as SHARED_HEADERS
from tools.eval.report import aggregate, fmt
from tools.eval.run import _fresh_numba_cache

if TYPE_CHECKING:
    from services.analyzer.domain.types import Rhythm

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "realeval"
AUDIO_EXTS = (".flac", ".wav", ".ogg", ".mp3")
METRICS = ("f", "cemgil", "cmlt", "amlt", "downbeat_f", "acc1", "acc2")
HEADERS = {m: SHARED_HEADERS[m] for m in METRICS if m in SHARED_HEADERS} | {
    "acc1": "tempo Acc1",
    "acc2": "tempo Acc2",
}
TARGETS = {"f": 0.85, "cmlt": 0.75, "downbeat_f": 0.65, "acc1": 0.80, "acc2": 0.95}
MIN_GENRE_ITEMS = 3


@dataclass(frozen=True)
class Item:
    id: str
    genre: str
    audio: Path
    annotation: Path
    ref_bpm: float | None


def _genre(item_id: str, manifest_entry: dict) -> str:
    parts = item_id.split("_")
    if parts[0] == "gtzan" and len(parts) > 2:
        return parts[1]
    return str(manifest_entry.get("group") or parts[0])


def find_items(data: Path) -> list[Item]:
    """Every annotated audio file under ``data`` (``SystemExit(2)`` with a reason if none)."""
    if not (data / "annotations").is_dir() or not (data / "audio").is_dir():
        raise SystemExit(
            f"eval-real: no annotated recordings at {data} (expected audio/ and "
            "annotations/ folders); point DATA=dir at a folder laid out like "
            "../shared/realeval"
        )
    manifest = {}
    if (data / "manifest.json").is_file():
        manifest = {e["id"]: e for e in json.loads((data / "manifest.json").read_text())["items"]}
    items = []
    for ann in sorted((data / "annotations").glob("*.beats")):
        audio = next(
            (
                data / "audio" / (ann.stem + ext)
                for ext in AUDIO_EXTS
                if (data / "audio" / (ann.stem + ext)).is_file()
            ),
            None,
        )
        if audio is None:
            continue
        entry = manifest.get(ann.stem, {})
        items.append(Item(ann.stem, _genre(ann.stem, entry), audio, ann, entry.get("ref_bpm")))
    if not items:
        raise SystemExit(f"eval-real: {data} has no audio file with a matching .beats annotation")
    return items


def _scores(ref: rm.Reference, beats: np.ndarray, bpm: float) -> dict:
    return {
        **rm.beat_scores(ref, beats),
        **rm.tempo_scores(ref.bpm, bpm),
        "bpm": bpm,
        "octave": rm.tempo_octave(ref.bpm, bpm),
        "offset_ms": rm.median_offset_ms(ref, beats),
        "offbeat": rm.offbeat_share(ref, beats),
        "n_beats": int(beats.size),
    }


@dataclass(frozen=True)
class Crops:
    """Score excerpts of every recording instead of the whole (``--crop-s``)."""

    length_s: float
    step_s: float = 2.0
    max_crops: int = 6
    start_s: float = 0.0

    def starts_s(self, duration_s: float) -> list[float]:
        """Start of every excerpt that fits in ``duration_s`` (a 50 ms shortfall allowed)."""
        starts: list[float] = []
        while len(starts) < self.max_crops and (
            self.start_s + len(starts) * self.step_s + self.length_s <= duration_s + 0.05
        ):
            starts.append(self.start_s + len(starts) * self.step_s)
        return starts


def _row(item_id: str, genre: str, ref: rm.Reference, rhythm: Rhythm) -> dict:
    ours = _scores(ref, rhythm.beat_times_s, rhythm.bpm) | {
        "downbeat_f": rm.downbeat_f(ref, rhythm.downbeat_times_s),
        "down_pos": rm.downbeat_positions(ref, rhythm.downbeat_times_s),
        "meter": rhythm.beats_per_bar,
        "confidence": rhythm.confidence,
        "bar_confidence": rhythm.bar_confidence,
        "warnings": list(rhythm.warnings),
    }
    return {
        "id": item_id,
        "genre": genre,
        "ref_bpm": ref.bpm,
        "ref_meter": rm.annotated_meter(ref),
        "ours": ours,
    }


def evaluate_item(item: Item, with_librosa: bool = True) -> dict:
    """All figures for one recording, ours and (optionally) plain librosa's."""
    from services.analyzer.domain.analysis import analyze_file

    ref = rm.read_reference(item.annotation.read_text(), bpm=item.ref_bpm)
    row = _row(item.id, item.genre, ref, analyze_file(str(item.audio)).rhythm)
    if with_librosa:
        from tools.eval.engine import run_librosa

        beats, bpm = run_librosa(item.audio)
        row["librosa"] = _scores(ref, beats, bpm) | {"downbeat_f": None}
    return row


def evaluate_crops(item: Item, with_librosa: bool, crops: Crops) -> list[dict]:
    """Figures for each excerpt of one recording (``Crops``); id ``<id>@<start>s``."""
    from services.analyzer.domain.analysis import analyze
    from services.analyzer.domain.audio import decode

    ref = rm.read_reference(item.annotation.read_text(), bpm=item.ref_bpm)
    audio = decode(str(item.audio))
    if with_librosa:
        import librosa

        from tools.eval.engine import librosa_beats

        y, lib_sr = librosa.load(str(item.audio))
    rows = []
    for start_s in crops.starts_s(audio.duration_s):
        cref = rm.crop_reference(ref, start_s, crops.length_s)
        if cref is None:
            continue
        a, b = int(start_s * audio.sr), int((start_s + crops.length_s) * audio.sr)
        rhythm = analyze(replace(audio, samples=audio.samples[a:b])).rhythm
        row = _row(f"{item.id}@{start_s:g}s", item.genre, cref, rhythm)
        if with_librosa:
            excerpt = y[int(start_s * lib_sr) : int((start_s + crops.length_s) * lib_sr)]
            row["librosa"] = _scores(cref, *librosa_beats(excerpt, lib_sr)) | {"downbeat_f": None}
        rows.append(row)
    return rows


def _evaluate(item: Item, with_librosa: bool, crops: Crops | None) -> list[dict]:
    if crops is None:
        return [evaluate_item(item, with_librosa)]
    return evaluate_crops(item, with_librosa, crops)


def diagnostics(rows: list[dict]) -> dict:
    """Error patterns over all items: tempo octaves, offsets, off-beats, downbeat positions."""
    out: dict = {}
    for engine in ("ours", "librosa"):
        rs = [r[engine] for r in rows if engine in r]
        if not rs:
            continue
        octaves: dict[str, int] = {}
        for s in rs:
            octaves[s["octave"]] = octaves.get(s["octave"], 0) + 1
        offsets = [s["offset_ms"] for s in rs if np.isfinite(s["offset_ms"])]
        offbeat = [s["offbeat"] for s in rs if np.isfinite(s["offbeat"])]
        out[engine] = {
            "tempo_octaves": octaves,
            "median_offset_ms": float(np.median(offsets)) if offsets else None,
            "offbeat_share": float(np.mean(offbeat)) if offbeat else None,
            "no_beats": sum(s["n_beats"] == 0 for s in rs),
        }
    positions: dict[str, int] = {}
    meters: dict[str, int] = {}
    for r in rows:
        for k, v in r["ours"]["down_pos"].items():
            positions[k] = positions.get(k, 0) + v
        if r["ref_meter"]:
            key = f"{r['ref_meter']}->{r['ours']['meter']}"
            meters[key] = meters.get(key, 0) + 1
    out["ours"]["downbeat_positions"] = positions
    out["ours"]["meter_annotated_to_reported"] = meters
    out["ours"]["downbeat_f_by_bar_confidence"] = _by_bar_confidence(rows)
    return out


def _by_bar_confidence(rows: list[dict]) -> dict[str, dict[str, float | int | None]]:
    """Mean downbeat F of the items whose bar confidence is below / at least
    ``BAR_TRUSTED``: whether the figure tells a user when to trust the bar lines."""
    groups: dict[str, list[float]] = {
        f"below_{BAR_TRUSTED:g}": [],
        f"at_least_{BAR_TRUSTED:g}": [],
    }
    keys = list(groups)
    for r in rows:
        o = r["ours"]
        if o["downbeat_f"] is None:
            continue
        groups[keys[o["bar_confidence"] >= BAR_TRUSTED]].append(o["downbeat_f"])
    return {
        k: {"n": len(v), "downbeat_f": float(np.mean(v)) if v else None} for k, v in groups.items()
    }


def _mode_position(counts: dict[str, int]) -> str:
    return max(counts, key=counts.__getitem__) if counts else "-"


def print_items(rows: list[dict]) -> None:
    print(
        f"{'item':<32}{'genre':<11}{'ref bpm':>8}  {'F':>4} {'lib':>4}  {'CMLt':>4} {'dbF':>4}"
        f"  {'bpm':>6} {'octave':>6} {'off ms':>6} {'offbt':>5} {'meter':>6} {'bar@':>4}"
    )
    for r in rows:
        o, lb = r["ours"], r.get("librosa", {})
        print(
            f"{r['id']:<32}{r['genre'][:10]:<11}{r['ref_bpm']:8.1f}  {o['f']:.2f} "
            f"{fmt(lb.get('f'))}  {o['cmlt']:.2f} {fmt(o['downbeat_f'])}  {o['bpm']:6.1f} "
            f"{o['octave']:>6} {o['offset_ms']:+6.1f} {o['offbeat']:5.2f} "
            f"{r['ref_meter']}->{o['meter']:<3} {_mode_position(o['down_pos']):>4}"
            + (f"  ! {'; '.join(o['warnings'])}" if o["warnings"] else "")
        )


def print_groups(agg: dict) -> None:
    print(f"\n{'genre':<12}{'n':>3}  " + "  ".join(f"{HEADERS[m]:^11}" for m in METRICS))
    for group, g in sorted(agg.items(), key=lambda kv: (kv[0] == "overall", kv[0])):
        lib = g.get("librosa", {})
        cells = "  ".join(f"{fmt(g['ours'][m])}/{fmt(lib.get(m))}".center(11) for m in METRICS)
        print(f"{group:<12}{g['ours']['n']:>3}  {cells}")
    print("cells: ours / plain librosa.beat.beat_track (librosa has no downbeats: n/a)")


def recordings_per_genre(rows: list[dict]) -> dict[str, int]:
    """Distinct recordings in each genre (a crop's id is ``<recording>@<start>s``)."""
    seen: dict[str, set[str]] = {}
    for r in rows:
        seen.setdefault(r["genre"], set()).add(r["id"].split("@")[0])
    return {g: len(ids) for g, ids in seen.items()}


def genres_below_librosa(
    agg: dict, recordings: dict[str, int] | None = None
) -> dict[str, dict[str, float]]:
    """Genres with at least ``MIN_GENRE_ITEMS`` recordings (``recordings``; by default the
    scored items) whose beat F is not above librosa's: ``{genre: {"ours": f, "librosa": f}}``
    (empty without a librosa run)."""
    return {
        g: {"ours": v["ours"]["f"], "librosa": v["librosa"]["f"]}
        for g, v in sorted(agg.items())
        if g != "overall"
        and "librosa" in v
        and (recordings or {}).get(g, v["ours"]["n"]) >= MIN_GENRE_ITEMS
        and not v["ours"]["f"] > v["librosa"]["f"]
    }


def targets_met(
    agg: dict, below: dict[str, dict[str, float]] | None = None
) -> dict[str, bool | None]:
    """Every target met or not; ``below`` is ``genres_below_librosa`` (found here if None)."""
    overall = agg["overall"]
    met: dict[str, bool | None] = {
        m: overall["ours"][m] is not None and overall["ours"][m] >= t for m, t in TARGETS.items()
    }
    if "librosa" in overall:
        met["above_librosa_overall"] = overall["ours"]["f"] > overall["librosa"]["f"]
        met["above_librosa_every_genre"] = not (
            genres_below_librosa(agg) if below is None else below
        )
    return met


def targets_line(met: dict[str, bool | None], below: dict[str, dict[str, float]]) -> str:
    """One line: every target met or not, naming the genres that trail librosa."""
    parts = []
    for k, v in met.items():
        part = f"{k} {'met' if v else 'NOT met'}"
        if k == "above_librosa_every_genre" and below:
            part += (
                " ("
                + ", ".join(
                    f"{g} {b['ours']:.2f} vs librosa {b['librosa']:.2f}" for g, b in below.items()
                )
                + ")"
            )
        parts.append(part)
    return "targets: " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of annotated audio")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--only", default="", help="evaluate items whose id contains this")
    ap.add_argument("--no-librosa", action="store_true", help="skip the librosa baseline")
    ap.add_argument(
        "--crop-s",
        type=float,
        default=0.0,
        help="score excerpts this long (seconds) instead of whole recordings (0: whole)",
    )
    ap.add_argument("--crop-step-s", type=float, default=2.0, help="seconds between excerpts")
    ap.add_argument(
        "--crop-start-s", type=float, default=0.0, help="where the first excerpt starts, seconds"
    )
    ap.add_argument("--max-crops", type=int, default=6, help="excerpts per recording at most")
    args = ap.parse_args(argv)
    if args.crop_s < 0 or args.crop_step_s <= 0 or args.crop_start_s < 0 or args.max_crops < 1:
        print(
            "eval-real: need --crop-s >= 0, --crop-step-s > 0, --crop-start-s >= 0, "
            "--max-crops >= 1",
            file=sys.stderr,
        )
        return 2
    if 0 < args.crop_s <= rm.IGNORE_FIRST_S:
        print(
            f"eval-real: --crop-s must exceed the {rm.IGNORE_FIRST_S:g} s every score ignores",
            file=sys.stderr,
        )
        return 2
    crops = (
        Crops(args.crop_s, args.crop_step_s, args.max_crops, args.crop_start_s)
        if args.crop_s > 0
        else None
    )
    try:
        items = [i for i in find_items(args.data) if args.only in i.id]
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    print(
        f"{len(items)} annotated recordings from {args.data}; first {rm.IGNORE_FIRST_S:g} s "
        "of every item ignored"
        + (
            f"; scored as excerpts of {crops.length_s:g} s every {crops.step_s:g} s "
            f"from {crops.start_s:g} s (at most {crops.max_crops} each; the targets apply to "
            "whole recordings)"
            if crops
            else ""
        ),
        flush=True,
    )
    cache_dir = None if args.no_librosa else _fresh_numba_cache(warm=True)
    try:
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            per_item = pool.map(
                _evaluate, items, [not args.no_librosa] * len(items), [crops] * len(items)
            )
            rows = [row for item_rows in per_item for row in item_rows]
    finally:
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
    if not rows:
        print("eval-real: no excerpt of that length fits any recording", file=sys.stderr)
        return 2
    print_items(rows)
    agg = aggregate(rows, metrics=METRICS, group_key="genre")
    print_groups(agg)
    diag = diagnostics(rows)
    for engine, d in diag.items():
        print(f"{engine}: " + ", ".join(f"{k} {v}" for k, v in d.items()))
    below = genres_below_librosa(agg, recordings_per_genre(rows))
    met = targets_met(agg, below)
    print(targets_line(met, below))
    print(
        json.dumps(
            {
                "data": str(args.data),
                "items": len(rows),
                "crops": None
                if crops is None
                else {
                    "length_s": crops.length_s,
                    "step_s": crops.step_s,
                    "start_s": crops.start_s,
                    "max": crops.max_crops,
                },
                "figures": agg,
                "diagnostics": diag,
                "targets_met": met,
                "genres_below_librosa": below,
            },
            sort_keys=True,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
