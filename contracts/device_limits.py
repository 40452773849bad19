"""What one K1 device can hold: the limits a Genesis Map must respect before it is bundled.

The device keeps one show in flash and plays it from RAM; these bounds keep a bundle inside
that budget with room to spare. Both the validator (maps) and the deployer (bundles) use them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """Upper bounds a map must respect to be playable on a device."""

    max_map_bytes: int = 4 * 1024 * 1024
    """Largest accepted Genesis Map JSON document, bytes. A 4-minute map with 50 Hz band
    envelopes is about 400 KB, so a 20-minute one stays near 2 MB; the device itself receives
    the much smaller binary bundle."""
    max_beats: int = 8_000
    """Most beats in the grid (20 minutes at 400 BPM)."""
    max_duration_ms: float = 20 * 60 * 1000.0
    """Longest track, milliseconds."""
    max_envelope_frames: int = 72_000
    """Most values in one envelope (20 minutes at 60 Hz)."""
    max_sections: int = 64
    """Most section marks."""


DEFAULT_LIMITS = DeviceLimits()
"""The limits of the current K1 hardware."""
