"""The Genesis presets clients may ask for, by name, with what each does to the light show.

The analyzer owns the presets' parameters (``services/analyzer/domain/presets.py``); this is the
public list the gateway offers, so the gateway never imports a service. A unit test keeps the
two lists in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PresetInfo:
    name: str
    description: str


PRESETS: tuple[PresetInfo, ...] = (
    PresetInfo("edm_high_energy", "punchy bass-driven flashes on every beat, big drops"),
    PresetInfo("chill", "slow breathing light, accents only on bars and sections"),
    PresetInfo("rock", "mid-heavy and fast, strong backbeat and downbeats"),
    PresetInfo("hiphop", "deep bass pulse, heavy downbeats, restrained highs"),
)
PRESET_NAMES: frozenset[str] = frozenset(p.name for p in PRESETS)
DEFAULT_PRESET = "edm_high_energy"
EXTERNAL_PRESET = "external"
"""Preset recorded for an analysis version whose map was made outside and uploaded."""
