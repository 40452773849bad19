"""The K1 device bundle: a compact binary form of a validated Genesis Map.

Byte layout in ``contracts/BUNDLE_FORMAT.md`` (little-endian, CRC32 trailer). Pure functions,
no I/O: ``encode_bundle`` packs a map, ``decode_bundle`` checks and unpacks one.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from contracts.genesis_map import SECTION_LABELS, GenesisMapV4

MAGIC = b"K1BN"
FORMAT_VERSION = 1
FLAG_HAS_INTENSITY = 1 << 0
FLAG_QUALITY_WARNING = 1 << 1
HEADER = struct.Struct("<4sHHI64sIHHiIIIHH")
"""magic, version, flags, total length, track id, duration ms, bpm×100, frame rate Hz×100,
latency offset ms, beat count, downbeat count, frame count, envelope count, section count."""
SECTION = struct.Struct("<IBBH")
"""start ms, label code, energy (0..255), reserved."""
CRC = struct.Struct("<I")
BANDS = ("bass", "mids", "highs")
DEFAULT_FRAME_RATE_HZ = 50.0
MAX_FRAME_RATE_HZ = 600.0


class BundleError(ValueError):
    """The bytes are not a bundle this decoder can trust."""


@dataclass(frozen=True, slots=True)
class SectionMark:
    start_ms: int
    label: str
    energy: float


@dataclass(frozen=True, slots=True)
class Bundle:
    """A decoded bundle. Envelopes are 0..1 at ``frame_rate_hz`` from 0 ms, shape (frames,)."""

    track_id: str
    format_version: int
    flags: int
    duration_ms: int
    bpm: float
    frame_rate_hz: float
    latency_offset_ms: int
    beats_ms: np.ndarray
    downbeats_ms: np.ndarray
    envelopes: dict[str, np.ndarray]
    sections: list[SectionMark]


def encode_bundle(
    genesis_map: Mapping[str, Any] | GenesisMapV4, *, track_id: str, latency_offset_ms: int = 0
) -> bytes:
    """Pack a validated map into the device bundle (times rounded to whole ms, envelopes to
    1/255 on one frame grid)."""
    doc = genesis_map.model_dump() if isinstance(genesis_map, GenesisMapV4) else genesis_map
    metrics, layers = doc["global_metrics"], doc["layers"]
    duration_ms = float(metrics["duration_ms"])
    envelopes = _envelopes(layers)
    rate_hz = _frame_rate_hz(envelopes)
    frames = int(duration_ms * rate_hz / 1000.0) + 1
    grid_ms = np.arange(frames) * (1000.0 / rate_hz)
    quantised = [_quantise(_resample(env, grid_ms)) for env in envelopes.values()]
    beats = _times_u32(layers["rhythm"]["beat_grid_ms"])
    downbeats = _times_u32(layers["rhythm"].get("downbeat_ms") or [])
    sections = _sections(layers.get("annotations"))
    flags = (FLAG_HAS_INTENSITY if "intensity" in envelopes else 0) | (
        FLAG_QUALITY_WARNING if metrics.get("quality") == "warning" else 0
    )
    envelope_bytes = b"".join(q.tobytes() for q in quantised)
    envelope_bytes += bytes(-len(envelope_bytes) % 4)
    body = beats.tobytes() + downbeats.tobytes() + envelope_bytes + sections
    total = HEADER.size + len(body) + CRC.size
    header = HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        flags,
        total,
        _track_id_bytes(track_id),
        round(duration_ms),
        round(float(metrics["bpm"]) * 100),
        round(rate_hz * 100),
        int(latency_offset_ms),
        beats.size,
        downbeats.size,
        frames,
        len(quantised),
        len(sections) // SECTION.size,
    )
    payload = header + body
    return payload + CRC.pack(zlib.crc32(payload))


def decode_bundle(data: bytes) -> Bundle:
    """Check magic, version, length and CRC, then unpack; ``BundleError`` says what is wrong."""
    fields = _checked_header(data)
    (
        _,
        version,
        flags,
        _,
        track_id,
        duration_ms,
        bpm_centi,
        rate_centi,
        latency_ms,
        n_beats,
        n_downbeats,
        frames,
        n_envelopes,
        n_sections,
    ) = fields
    offset = HEADER.size
    beats = np.frombuffer(data, "<u4", n_beats, offset)
    offset += 4 * n_beats
    downbeats = np.frombuffer(data, "<u4", n_downbeats, offset)
    offset += 4 * n_downbeats
    names = BANDS + (("intensity",) if flags & FLAG_HAS_INTENSITY else ())
    envelopes = {}
    for name in names[:n_envelopes]:
        envelopes[name] = np.frombuffer(data, np.uint8, frames, offset) / 255.0
        offset += frames
    offset += -offset % 4
    sections = [_section(data, offset + i * SECTION.size) for i in range(n_sections)]
    return Bundle(
        track_id.rstrip(b"\0").decode("ascii"),
        version,
        flags,
        duration_ms,
        bpm_centi / 100.0,
        rate_centi / 100.0,
        latency_ms,
        beats.astype(np.int64),
        downbeats.astype(np.int64),
        envelopes,
        sections,
    )


def _checked_header(data: bytes) -> tuple[Any, ...]:
    if len(data) < HEADER.size + CRC.size:
        raise BundleError(f"truncated: {len(data)} bytes is shorter than a bundle header")
    fields = HEADER.unpack_from(data)
    magic, version, _, total = fields[:4]
    if magic != MAGIC:
        raise BundleError(f"not a K1 bundle: magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"unsupported bundle format version {version} "
            f"(this decoder reads version {FORMAT_VERSION})"
        )
    if total != len(data):
        what = "truncated" if len(data) < total else "trailing bytes"
        raise BundleError(f"{what}: the header says {total} bytes, got {len(data)}")
    (stored,) = CRC.unpack_from(data, total - CRC.size)
    computed = zlib.crc32(memoryview(data)[: total - CRC.size])
    if stored != computed:
        raise BundleError(f"CRC mismatch: stored {stored:08x}, computed {computed:08x}")
    n_beats, n_downbeats, frames, n_envelopes, n_sections = fields[9:]
    envelope_bytes = frames * n_envelopes + (-(frames * n_envelopes) % 4)
    body = 4 * (n_beats + n_downbeats) + envelope_bytes + SECTION.size * n_sections
    if HEADER.size + body + CRC.size != total:
        raise BundleError("corrupt: the section counts do not add up to the bundle length")
    return fields


def _section(data: bytes, offset: int) -> SectionMark:
    start_ms, code, energy, _ = SECTION.unpack_from(data, offset)
    label = SECTION_LABELS[code] if code < len(SECTION_LABELS) else f"unknown_{code}"
    return SectionMark(start_ms, label, energy / 255.0)


def _track_id_bytes(track_id: str) -> bytes:
    encoded = track_id.encode("ascii")
    if not 0 < len(encoded) <= 64:
        raise ValueError("track_id must be 1..64 ASCII characters")
    return encoded


def _envelopes(layers: Mapping[str, Any]) -> dict[str, Any]:
    found = {band: layers["frequency"][band] for band in BANDS}
    if layers.get("choreography"):
        found["intensity"] = layers["choreography"]["intensity"]
    return found


def _frame_rate_hz(envelopes: Mapping[str, Any]) -> float:
    """The finest sampled rate in the map, else the point spacing, else 50 Hz (capped)."""
    rates = [float(e["frame_rate_hz"]) for e in envelopes.values() if isinstance(e, Mapping)]
    for env in envelopes.values():
        if isinstance(env, list) and len(env) > 1:
            step_ms = float(np.median(np.diff([p["time_ms"] for p in env])))
            rates.append(1000.0 / step_ms if step_ms > 0 else DEFAULT_FRAME_RATE_HZ)
    return min(max(rates, default=DEFAULT_FRAME_RATE_HZ), MAX_FRAME_RATE_HZ)


def _resample(envelope: Any, grid_ms: np.ndarray) -> np.ndarray:
    """Envelope values at ``grid_ms`` (linear between samples, held beyond the ends)."""
    if isinstance(envelope, Mapping):
        values = np.asarray(envelope["values"], dtype=np.float64)
        times = float(envelope.get("start_ms", 0.0)) + np.arange(values.size) * (
            1000.0 / float(envelope["frame_rate_hz"])
        )
    else:
        times = np.array([p["time_ms"] for p in envelope], dtype=np.float64)
        values = np.array([p["intensity"] for p in envelope], dtype=np.float64)
    return np.interp(grid_ms, times, values)


def _quantise(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def _times_u32(times_ms: Any) -> np.ndarray:
    return np.rint(np.asarray(times_ms, dtype=np.float64)).astype("<u4")


def _sections(annotations: Any) -> bytes:
    """Packed section marks; a free-form annotations layer has none."""
    if not isinstance(annotations, Mapping) or "sections" not in annotations:
        return b""
    return b"".join(
        SECTION.pack(
            round(float(s["start_ms"])),
            SECTION_LABELS.index(s["label"]),
            round(float(s.get("energy", 0.5)) * 255),
            0,
        )
        for s in annotations["sections"]
    )
