"""Genesis Map v4: the choreography document for one track.

A strict superset of the seeds' ``GenesisMapV4``: every map the seeds accept validates here.
Additions are optional typed layers (dynamics, spectral, annotations, choreography) and a
compact sampled-envelope form for band envelopes next to the seeds' list of points.
Times are milliseconds from the start of the audio file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
TimeMs = Annotated[float, Field(ge=0.0, description="Milliseconds from the file start")]
SECTION_LABELS = ("intro", "verse", "build", "drop", "breakdown", "outro")
REQUIRED_HASHES = frozenset({"audio_sha256", "map_sha256"})
UNION_TAGS = frozenset({"points", "sampled", "typed", "free"})
"""Tags of the schema's tagged unions; they show up in validation error paths and are not
fields, so error reports drop them (``layers.frequency.bass.points.0`` → ``…bass.0``)."""
BAR_TRUSTED = 0.5
"""``metadata.analysis_config.bar_confidence`` (0..1) from which a map's bar lines are to be
trusted: below it the analyzer softens the map's downbeat accents towards plain beats and the
CLI calls the bar lines uncertain"""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvelopePoint(_Model):
    """Single point of a band envelope (the seeds' form)."""

    time_ms: float = Field(..., ge=0, description="Time in milliseconds")
    intensity: float = Field(..., ge=0.0, le=1.0, description="Normalised intensity 0..1")


class SampledEnvelope(_Model):
    """An envelope sampled at a fixed frame rate.

    Value ``i`` is at ``start_ms + i*1000/frame_rate_hz``.
    """

    start_ms: float = Field(default=0.0, ge=0, description="Time of the first value, ms")
    frame_rate_hz: float = Field(gt=0, le=1000, description="Values per second")
    values: list[Unit] = Field(min_length=1, description="Normalised values 0..1")


class SampledSeries(_Model):
    """A feature curve at a fixed frame rate, in the unit its owning field names."""

    start_ms: float = Field(default=0.0, ge=0, description="Time of the first value, ms")
    frame_rate_hz: float = Field(gt=0, le=1000, description="Values per second")
    values: list[float] = Field(min_length=1)


Envelope = Annotated[
    Annotated[list[EnvelopePoint], Tag("points")] | Annotated[SampledEnvelope, Tag("sampled")],
    Discriminator(lambda v: "points" if isinstance(v, list) else "sampled"),
]
"""Either the seeds' list of points or the compact sampled form."""


def _typed_or_free(marker: str):
    """Discriminator: a dict carrying ``marker`` is our typed layer, any other dict is free-form
    (the seeds typed these layers as ``Optional[Dict]``, so any dict must stay valid)."""

    def pick(v: Any) -> str:
        has = marker in v if isinstance(v, dict) else hasattr(v, marker)
        return "typed" if has else "free"

    return Discriminator(pick)


class FrequencyLayer(_Model):
    """Band envelopes: bass (< 250 Hz), mids (250 Hz – 4 kHz), highs (> 4 kHz)."""

    bass: Envelope = Field(description="Bass band envelope, 0..1")
    mids: Envelope = Field(description="Mid band envelope, 0..1")
    highs: Envelope = Field(description="High band envelope, 0..1")

    @field_validator("bass", "mids", "highs")
    @classmethod
    def _not_empty(cls, v: Envelope) -> Envelope:
        if isinstance(v, list) and not v:
            raise ValueError("an envelope needs at least one point")
        return v


TIME_SIGNATURE_PATTERN = r"^([1-9]|1[0-6])/(2|4|8|16)$"
"""beats per bar over the note value, as written

(the engine writes 2/4, 3/4, 4/4, 6/8, 9/8, 12/8)
"""


class RhythmLayer(_Model):
    """Beat and downbeat timing. An empty grid means no beat was found (map flagged warning)."""

    beat_grid_ms: list[TimeMs] = Field(description="Beat times, ms, strictly increasing")
    downbeat_ms: list[TimeMs] = Field(default_factory=list, description="Bar starts, ms")
    beat_strength: list[Unit] = Field(default_factory=list, description="Per-beat strength 0..1")
    local_bpm: list[Annotated[float, Field(ge=0, le=400)]] | None = Field(
        default=None, description="Per-beat local tempo, beats per minute"
    )
    beats_per_bar: int | None = Field(default=None, ge=1, le=16, description="Meter numerator")
    time_signature: str | None = Field(
        default=None,
        pattern=TIME_SIGNATURE_PATTERN,
        description="Meter as written, e.g. 4/4, or 6/8 for compound duple (two dotted-"
        "quarter beats a bar, each divided in three)",
    )


class DynamicsLayer(_Model):
    loudness_db: SampledSeries = Field(description="Loudness curve in dBFS (≤ 0)")
    dynamic_range_db: float = Field(ge=0, le=200, description="Loud minus quiet percentile, dB")


class SpectralLayer(_Model):
    centroid_hz: SampledSeries = Field(description="Spectral centroid, Hz")
    flux: SampledSeries = Field(description="Spectral flux, normalised 0..1")
    rolloff_hz: SampledSeries = Field(description="85 % spectral roll-off frequency, Hz")


class Section(_Model):
    start_ms: TimeMs
    end_ms: TimeMs
    label: Literal["intro", "verse", "build", "drop", "breakdown", "outro"]
    energy: Unit = Field(default=0.5, description="Mean normalised energy of the section")


class AnnotationsLayer(_Model):
    sections: list[Section] = Field(default_factory=list, description="Contiguous sections")
    drops_ms: list[TimeMs] = Field(default_factory=list, description="Drop moments, ms")


class Accent(_Model):
    time_ms: TimeMs
    strength: Unit
    kind: Literal["beat", "downbeat", "drop", "section"]


class ChoreographyLayer(_Model):
    """What the preset made of the analysis: the light show itself."""

    preset: str = Field(max_length=32)
    intensity: SampledEnvelope = Field(description="Master brightness envelope 0..1")
    accents: list[Accent] = Field(default_factory=list, description="Flash/accent cues")
    palette: list[str] = Field(default_factory=list, max_length=16, description="#rrggbb colours")


class Layers(_Model):
    rhythm: RhythmLayer
    frequency: FrequencyLayer
    dynamics: (
        Annotated[
            Annotated[DynamicsLayer, Tag("typed")] | Annotated[dict[str, Any], Tag("free")],
            _typed_or_free("loudness_db"),
        ]
        | None
    ) = None
    spectral: (
        Annotated[
            Annotated[SpectralLayer, Tag("typed")] | Annotated[dict[str, Any], Tag("free")],
            _typed_or_free("centroid_hz"),
        ]
        | None
    ) = None
    annotations: (
        Annotated[
            Annotated[AnnotationsLayer, Tag("typed")] | Annotated[dict[str, Any], Tag("free")],
            _typed_or_free("sections"),
        ]
        | None
    ) = None
    choreography: ChoreographyLayer | None = None


class GlobalMetrics(_Model):
    duration_ms: float = Field(..., gt=0, description="Duration of the audio, ms")
    bpm: float = Field(..., ge=0, le=300, description="Global tempo, beats per minute (0: none)")
    f_measure: float = Field(..., ge=0.0, le=1.0, description="Beat F-measure (±70 ms)")
    cemgil: float = Field(..., ge=0.0, le=1.0, description="Cemgil beat accuracy")
    dynamic_range: float | None = Field(default=None, description="Dynamic range, dB")
    quality: Literal["ok", "warning"] = Field(default="ok", description="warning: flagged map")
    warnings: list[str] = Field(default_factory=list, max_length=50)


class GenesisMetadata(BaseModel):
    """Who made the map, from what, how. Unknown extra keys are kept."""

    model_config = ConfigDict(extra="allow")

    filename: str = Field(max_length=255)
    analysis_engine: str = Field(max_length=64)
    timestamp_utc: datetime
    version: str = Field(max_length=32)
    hashes: dict[str, str] = Field(description="Must hold audio_sha256 and map_sha256")
    analysis_config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("hashes")
    @classmethod
    def _required_hashes(cls, v: dict[str, str]) -> dict[str, str]:
        missing = REQUIRED_HASHES - v.keys()
        if missing:
            raise ValueError(f"missing required hash keys: {sorted(missing)}")
        return v


class GenesisMapV4(_Model):
    """Complete Genesis Map v4."""

    metadata: GenesisMetadata
    global_metrics: GlobalMetrics
    layers: Layers


SEED_EXAMPLE_MAP: dict[str, Any] = {
    "metadata": {
        "filename": "track.mp3",
        "analysis_engine": "genesis_v4",
        "timestamp_utc": "2025-10-31T12:00:00Z",
        "version": "4.0.0",
        "hashes": {"audio_sha256": "a" * 64, "map_sha256": "b" * 64},
        "analysis_config": {"sr": 44100, "hop_length": 512},
    },
    "global_metrics": {"duration_ms": 240000, "bpm": 128.0, "f_measure": 0.95, "cemgil": 0.68},
    "layers": {
        "rhythm": {
            "beat_grid_ms": [468, 937, 1406],
            "downbeat_ms": [468, 2343, 4218],
            "beat_strength": [0.9, 0.85, 0.92],
        },
        "frequency": {
            "bass": [{"time_ms": 0, "intensity": 0.5}],
            "mids": [{"time_ms": 0, "intensity": 0.3}],
            "highs": [{"time_ms": 0, "intensity": 0.2}],
        },
    },
}
"""The example map of the seeds' ``GenesisMapV4`` (json_schema_extra); it must stay valid."""
