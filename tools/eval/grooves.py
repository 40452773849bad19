"""Groove styles: drum, bass and accompaniment patterns in beats within one bar.

Positions are in beats from the bar start (0.5 = the off-beat eighth, swung when the song
swings). Drum voices are General MIDI percussion keys; programs are General MIDI programs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DRUM_KEY = {
    "kick": 36,
    "snare": 38,
    "clap": 39,
    "rim": 37,
    "chh": 42,
    "phh": 44,
    "ohh": 46,
    "ride": 51,
    "crash": 49,
    "tom_lo": 45,
    "tom_mid": 47,
    "tom_hi": 50,
    "tamb": 54,
}
DRUM_VELOCITY = {
    "kick": 112,
    "snare": 104,
    "clap": 100,
    "rim": 80,
    "chh": 66,
    "phh": 60,
    "ohh": 72,
    "ride": 70,
    "crash": 100,
    "tom_lo": 96,
    "tom_mid": 96,
    "tom_hi": 96,
    "tamb": 58,
}


def _grid(step: float, beats: int = 4) -> list[float]:
    return [i * step for i in range(int(round(beats / step)))]


@dataclass(frozen=True)
class Groove:
    """Everything except the lead melody, for one bar."""

    drums: dict[str, list[float]] = field(default_factory=dict)
    bass: list[float] = field(default_factory=lambda: [0.0])
    bass_program: int = 33
    comp: list[float] = field(default_factory=lambda: [0.0])
    comp_len: float = 1.0
    comp_program: int = 0
    pad_program: int | None = None
    arpeggio: bool = False
    lead_program: int = 80
    lead_density: float = 0.5


GROOVES: dict[str, Groove] = {
    "rock": Groove(
        {"kick": [0, 2, 2.5], "snare": [1, 3], "chh": _grid(0.5)},
        bass=_grid(0.5),
        comp=[0, 2],
        comp_len=2.0,
        comp_program=29,
        lead_program=81,
    ),
    "pop": Groove(
        {"kick": [0, 1.5, 2], "snare": [1, 3], "chh": _grid(0.5), "tamb": [1, 3]},
        bass=[0, 1.5, 2, 3],
        comp=[0, 1.5, 2.5],
        comp_len=0.5,
        comp_program=0,
        pad_program=89,
        lead_program=73,
    ),
    "four": Groove(
        {
            "kick": _grid(1),
            "clap": [1, 3],
            "ohh": [0.5, 1.5, 2.5, 3.5],
            "chh": [0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75],
        },
        bass=[0.5, 1.5, 2.5, 3.5],
        bass_program=39,
        comp=[0.5, 1.75, 2.5],
        comp_len=0.25,
        comp_program=81,
        pad_program=89,
        lead_program=80,
    ),
    "funk": Groove(
        {"kick": [0, 0.75, 2.5], "snare": [1, 3], "rim": [1.75, 3.25], "chh": _grid(0.25)},
        bass=[0, 0.75, 1.5, 2.5, 2.75, 3.5],
        comp=[0.5, 1.25, 2.75, 3.5],
        comp_len=0.25,
        comp_program=27,
        lead_program=61,
        lead_density=0.4,
    ),
    "ballad": Groove(
        {"kick": [0, 2.5], "snare": [1, 3], "chh": _grid(0.5)},
        bass=[0, 2],
        comp=[0],
        comp_len=4.0,
        comp_program=0,
        pad_program=48,
        arpeggio=True,
        lead_program=73,
        lead_density=0.35,
    ),
    "punk": Groove(
        {"kick": [0, 2], "snare": [1, 3], "ride": _grid(1.0)},
        bass=_grid(0.5),
        comp=_grid(1.0),
        comp_len=0.9,
        comp_program=30,
        lead_program=81,
        lead_density=0.3,
    ),
    "dnb": Groove(
        {"kick": [0, 2.5], "snare": [1, 3], "chh": _grid(0.5)},
        bass=[0, 1.75, 2.5],
        bass_program=38,
        comp=[0],
        comp_len=4.0,
        comp_program=89,
        lead_program=80,
        lead_density=0.3,
    ),
    "shuffle": Groove(
        {"kick": [0, 2, 2.5], "snare": [1, 3], "chh": _grid(0.5)},
        bass=[0, 1, 1.5, 2, 3, 3.5],
        comp=[0.5, 1.5, 2.5, 3.5],
        comp_len=0.4,
        comp_program=4,
        lead_program=65,
        lead_density=0.4,
    ),
    "jazz": Groove(
        {"ride": [0, 1, 1.5, 2, 3, 3.5], "phh": [1, 3], "kick": [0, 2]},
        bass=_grid(1.0),
        bass_program=32,
        comp=[1.5, 3],
        comp_len=0.4,
        comp_program=0,
        lead_program=65,
        lead_density=0.45,
    ),
    "dembow": Groove(
        {"kick": _grid(1), "snare": [0.75, 1.5, 2.75, 3.5], "chh": _grid(0.5)},
        bass=[0, 0.75, 2, 2.75],
        bass_program=38,
        comp=[0],
        comp_len=4.0,
        comp_program=89,
        lead_program=80,
        lead_density=0.4,
    ),
    "ska": Groove(
        {"kick": [0, 2], "snare": [1, 3], "chh": [0.5, 1.5, 2.5, 3.5]},
        bass=_grid(1.0),
        comp=[0.5, 1.5, 2.5, 3.5],
        comp_len=0.25,
        comp_program=27,
        lead_program=56,
        lead_density=0.4,
    ),
    "waltz": Groove(
        {"kick": [0], "rim": [1, 2], "chh": [0, 1, 2]},
        bass=[0],
        comp=[1, 2],
        comp_len=0.6,
        comp_program=0,
        pad_program=48,
        lead_program=40,
        lead_density=0.45,
    ),
    "waltz_ballad": Groove(
        {"kick": [0], "rim": [2], "ride": _grid(0.5, 3)},
        bass=[0],
        comp=[0],
        comp_len=3.0,
        comp_program=0,
        pad_program=49,
        arpeggio=True,
        lead_program=73,
        lead_density=0.3,
    ),
    "piano_arp": Groove(
        {},
        bass=[0],
        bass_program=0,
        comp=[0],
        comp_len=4.0,
        comp_program=0,
        pad_program=48,
        arpeggio=True,
        lead_program=0,
        lead_density=0.0,
    ),
    "piano_block": Groove(
        {},
        bass=[0, 2],
        bass_program=42,
        comp=_grid(1.0),
        comp_len=0.9,
        comp_program=0,
        pad_program=48,
        lead_program=73,
        lead_density=0.35,
    ),
    "guitar_arp": Groove(
        {},
        bass=[0, 2],
        bass_program=32,
        comp=[0],
        comp_len=4.0,
        comp_program=24,
        pad_program=49,
        arpeggio=True,
        lead_program=24,
        lead_density=0.0,
    ),
}
"""Groove per style name used in :data:`tools.eval.corpus.CORPUS`."""

FILL = [2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75]
"""Tom fill over the last two beats of a phrase (4/4 only)."""

PROGRESSIONS = (
    ((0, "M"), (7, "M"), (9, "m"), (5, "M")),
    ((9, "m"), (5, "M"), (0, "M"), (7, "M")),
    ((0, "M"), (5, "M"), (7, "M"), (5, "M")),
    ((2, "m"), (7, "M"), (0, "M"), (9, "m")),
    ((0, "M"), (9, "m"), (5, "M"), (7, "M")),
)
"""Four-chord progressions: (root offset in semitones from the key, quality); one chord a bar."""
