"""The evaluation corpus: song specifications with exactly known beat grids.

Every song is described by a :class:`SongSpec` (deterministic seed, tempo curve, meter, groove
style). :func:`beat_grid` turns a spec into the reference beat and downbeat times that the
rendered audio is built on, so the annotations are exact by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

LEAD_IN_S = 0.4
"""Time from the end of the (optional) silent intro to the first beat, seconds."""


@dataclass(frozen=True)
class SongSpec:
    """One corpus song.

    Tempo is ``bpm_start`` on the first beat. With ``change_at_beat`` set the tempo jumps to
    ``bpm_end`` at that beat; otherwise it ramps linearly from ``bpm_start`` to ``bpm_end``.
    """

    name: str
    klass: str
    seed: int
    style: str
    bpm_start: float
    bpm_end: float | None = None
    change_at_beat: int | None = None
    beats_per_bar: int = 4
    swing: float = 0.5
    """position of the off-beat eighth inside a beat: 0.5 straight, 2/3 triplet swing"""
    intro_silence_s: float = 0.0
    duration_s: float = 30.0
    noise_floor_db: float | None = None
    """optional constant background noise level, dBFS (None = digital silence)"""


def beat_grid(spec: SongSpec) -> tuple[np.ndarray, np.ndarray]:
    """Reference beats and downbeats of ``spec``.

    Returns
    -------
    beats_s : np.ndarray, shape (n_beats,)
    downbeats_s : np.ndarray, shape (n_bars,)
    """
    end_bpm = spec.bpm_end if spec.bpm_end is not None else spec.bpm_start
    t = spec.intro_silence_s + LEAD_IN_S
    t0, music_s = t, spec.duration_s - t
    beats: list[float] = []
    k = 0
    while t < spec.duration_s - 0.5:
        beats.append(t)
        if spec.change_at_beat is not None:
            bpm = spec.bpm_start if k < spec.change_at_beat else end_bpm
        else:
            frac = min(1.0, (t - t0) / music_s)
            bpm = spec.bpm_start + (end_bpm - spec.bpm_start) * frac
        t += 60.0 / bpm
        k += 1
    n_full = len(beats) - len(beats) % spec.beats_per_bar
    beats_s = np.asarray(beats[:n_full])
    return beats_s, beats_s[:: spec.beats_per_bar]


def _s(name, klass, seed, style, bpm, **kw) -> SongSpec:
    return SongSpec(name=name, klass=klass, seed=seed, style=style, bpm_start=bpm, **kw)


CORPUS: tuple[SongSpec, ...] = (
    # steady 4/4 pop / rock / dance / funk
    _s("steady_rock_96", "steady", 11, "rock", 96.0),
    _s("steady_house_124", "steady", 12, "four", 124.0),
    _s("steady_funk_108", "steady", 13, "funk", 108.0),
    _s("steady_rock_140", "steady", 14, "rock", 140.0),
    _s("steady_pop_116", "steady", 15, "pop", 116.0),
    # slow songs with drums
    _s("slow_ballad_55", "slow", 21, "ballad", 55.0, duration_s=36.0),
    _s("slow_soul_63", "slow", 22, "ballad", 63.0, duration_s=34.0),
    _s("slow_pop_72", "slow", 23, "pop", 72.0),
    # fast songs
    _s("fast_punk_200", "fast", 31, "punk", 200.0),
    _s("fast_dnb_174", "fast", 32, "dnb", 174.0),
    _s("fast_rock_165", "fast", 33, "rock", 165.0),
    # gradual tempo ramps (accelerando / ritardando)
    _s("ramp_rock_90_130", "ramp", 41, "rock", 90.0, bpm_end=130.0, duration_s=36.0),
    _s("ramp_house_118_140", "ramp", 42, "four", 118.0, bpm_end=140.0, duration_s=36.0),
    _s("ramp_funk_110_84", "ramp", 43, "funk", 110.0, bpm_end=84.0, duration_s=36.0),
    # one sudden tempo change half way
    _s(
        "change_rock_100_140",
        "change",
        51,
        "rock",
        100.0,
        bpm_end=140.0,
        change_at_beat=24,
        duration_s=34.0,
    ),
    _s(
        "change_house_128_96",
        "change",
        52,
        "four",
        128.0,
        bpm_end=96.0,
        change_at_beat=36,
        duration_s=34.0,
    ),
    _s(
        "change_pop_150_110",
        "change",
        53,
        "pop",
        150.0,
        bpm_end=110.0,
        change_at_beat=40,
        duration_s=34.0,
    ),
    # swung eighths
    _s("swing_shuffle_100", "swing", 61, "shuffle", 100.0, swing=2 / 3),
    _s("swing_jazz_150", "swing", 62, "jazz", 150.0, swing=2 / 3),
    _s("swing_hiphop_88", "swing", 63, "shuffle", 88.0, swing=0.62),
    # syncopated grooves
    _s("synco_funk_112", "syncopated", 71, "funk", 112.0),
    _s("synco_dembow_95", "syncopated", 72, "dembow", 95.0),
    _s("synco_ska_132", "syncopated", 73, "ska", 132.0),
    # 3/4
    _s("waltz_90", "three_four", 81, "waltz", 90.0, beats_per_bar=3),
    _s("waltz_fast_156", "three_four", 82, "waltz", 156.0, beats_per_bar=3),
    _s("waltz_ballad_70", "three_four", 83, "waltz_ballad", 70.0, beats_per_bar=3),
    # drumless: piano / strings / guitar only
    _s("drumless_piano_64", "drumless", 91, "piano_arp", 64.0, duration_s=34.0),
    _s("drumless_piano_84", "drumless", 92, "piano_block", 84.0),
    _s("drumless_guitar_96", "drumless", 93, "guitar_arp", 96.0),
    # silence before the music starts
    _s("intro_rock_118", "silent_intro", 101, "rock", 118.0, intro_silence_s=6.0, duration_s=34.0),
    _s(
        "intro_house_126",
        "silent_intro",
        102,
        "four",
        126.0,
        intro_silence_s=4.0,
        noise_floor_db=-72.0,
    ),
    _s(
        "intro_piano_80",
        "silent_intro",
        103,
        "piano_arp",
        80.0,
        intro_silence_s=5.0,
        duration_s=34.0,
    ),
)
"""The whole evaluation corpus (32 songs, 10 classes), in report order."""

VARIANT_SEED_STEP = 1000
VARIANT_TEMPO_FACTORS = (0.93, 1.07, 1.0)
"""variant ``k`` (from 1) of a song: its seed plus ``k * VARIANT_SEED_STEP`` (other notes, voicings
and fills from the same style) at ``VARIANT_TEMPO_FACTORS[(k - 1) % 3]`` times its tempo"""


def variants(n: int, specs: tuple[SongSpec, ...] = CORPUS) -> tuple[SongSpec, ...]:
    """``n`` re-seeded renditions of every song in ``specs``, named ``<name>_v<k>``.

    A stand-in for rendered songs the engine was not tuned on: the same styles and classes,
    other compositions, and tempi 7 % either side. Variant order: all songs' ``_v1``, then
    ``_v2``, ...
    """
    if n < 0:
        raise ValueError(f"the number of variants must be 0 or more, got {n}")
    out = []
    for k in range(1, n + 1):
        factor = VARIANT_TEMPO_FACTORS[(k - 1) % len(VARIANT_TEMPO_FACTORS)]
        for s in specs:
            out.append(
                replace(
                    s,
                    name=f"{s.name}_v{k}",
                    seed=s.seed + k * VARIANT_SEED_STEP,
                    bpm_start=s.bpm_start * factor,
                    bpm_end=None if s.bpm_end is None else s.bpm_end * factor,
                )
            )
    return tuple(out)
