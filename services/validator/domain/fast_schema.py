"""A msgspec mirror of the Genesis Map v4 schema: the fast path of validation.

The mirror is never looser than ``contracts.genesis_map`` (pydantic): whatever it rejects goes to
pydantic, which has the final word and the detailed errors. It also keeps the document exactly
as written: absent optional keys stay ``UNSET`` and every number keeps its JSON kind (int or
float), so encoding it with sorted keys reproduces the canonical form of ``contracts.canonical``
without going through a dict.

The large lists of numbers in [0, 1] (envelope ``values``, ``beat_strength``; ~38 KB of a 50 KB
map) stay raw JSON bytes ("unit lists"): compactly laid out maps have them cut out before
msgspec decodes the rest; ``_lexical_unit_counts`` proves in a few whole-array numpy passes
that they are valid and already canonical (else a typed decoder validates and re-encodes them);
and the hash is taken over the encoded skeleton with them spliced back in verbatim. No float of
theirs is parsed or formatted. Where a shortcut cannot be sure, the exact path decides.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

import msgspec
import numpy as np
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from contracts.genesis_map import REQUIRED_HASHES, TIME_SIGNATURE_PATTERN

# Each number type is a JSON number within its bounds that keeps its kind (int or float).
_UNIT = Meta(ge=0, le=1)
_TIME = Meta(ge=0)
_FRAME_RATE = Meta(gt=0, le=1000)
_LOCAL_BPM = Meta(ge=0, le=400)
_RANGE_DB = Meta(ge=0, le=200)
_DURATION = Meta(gt=0)
_BPM = Meta(ge=0, le=300)
Unit: TypeAlias = Annotated[int, _UNIT] | Annotated[float, _UNIT]
TimeMs: TypeAlias = Annotated[int, _TIME] | Annotated[float, _TIME]
FrameRateHz: TypeAlias = Annotated[int, _FRAME_RATE] | Annotated[float, _FRAME_RATE]
LocalBpm: TypeAlias = Annotated[int, _LOCAL_BPM] | Annotated[float, _LOCAL_BPM]
RangeDb: TypeAlias = Annotated[int, _RANGE_DB] | Annotated[float, _RANGE_DB]
DurationMs: TypeAlias = Annotated[int, _DURATION] | Annotated[float, _DURATION]
Bpm: TypeAlias = Annotated[int, _BPM] | Annotated[float, _BPM]
Label = Literal["intro", "verse", "build", "drop", "breakdown", "outro"]
_VALUES = msgspec.json.Decoder(Annotated[list[Unit], Meta(min_length=1)])
_UNITS = msgspec.json.Decoder(list[Unit])


class _Strict(Struct, forbid_unknown_fields=True):
    pass


class EnvelopePoint(_Strict):
    time_ms: TimeMs
    intensity: Unit


class SampledEnvelope(_Strict):
    frame_rate_hz: FrameRateHz
    values: Raw
    start_ms: TimeMs | UnsetType = UNSET


Envelope = list[EnvelopePoint] | SampledEnvelope


class FrequencyLayer(_Strict):
    bass: Envelope
    mids: Envelope
    highs: Envelope

    def __post_init__(self) -> None:
        if not (self.bass and self.mids and self.highs):
            raise ValueError("an envelope needs at least one point")


class RhythmLayer(_Strict):
    beat_grid_ms: list[TimeMs]
    downbeat_ms: list[TimeMs] | UnsetType = UNSET
    beat_strength: Raw | UnsetType = UNSET
    """Kept raw like envelope values (see ``unit_lists``): the rules only count it."""
    local_bpm: list[LocalBpm] | None | UnsetType = UNSET
    beats_per_bar: Annotated[int, Meta(ge=1, le=16)] | None | UnsetType = UNSET
    time_signature: Annotated[str, Meta(pattern=TIME_SIGNATURE_PATTERN)] | None | UnsetType = UNSET


class SampledSeries(_Strict):
    frame_rate_hz: FrameRateHz
    values: Annotated[list[int | float], Meta(min_length=1)]
    start_ms: TimeMs | UnsetType = UNSET


class DynamicsLayer(_Strict):
    loudness_db: SampledSeries
    dynamic_range_db: RangeDb


class SpectralLayer(_Strict):
    centroid_hz: SampledSeries
    flux: SampledSeries
    rolloff_hz: SampledSeries


class Section(_Strict):
    start_ms: TimeMs
    end_ms: TimeMs
    label: Label
    energy: Unit | UnsetType = UNSET


class AnnotationsLayer(_Strict):
    sections: list[Section] | UnsetType = UNSET
    drops_ms: list[TimeMs] | UnsetType = UNSET


class Accent(_Strict):
    time_ms: TimeMs
    strength: Unit
    kind: Literal["beat", "downbeat", "drop", "section"]


class ChoreographyLayer(_Strict):
    preset: Annotated[str, Meta(max_length=32)]
    intensity: SampledEnvelope
    accents: list[Accent] | UnsetType = UNSET
    palette: Annotated[list[str], Meta(max_length=16)] | UnsetType = UNSET


_TYPED_BY_MARKER = {
    "dynamics": ("loudness_db", DynamicsLayer),
    "spectral": ("centroid_hz", SpectralLayer),
    "annotations": ("sections", AnnotationsLayer),
}


class Layers(_Strict):
    rhythm: RhythmLayer
    frequency: FrequencyLayer
    dynamics: dict[str, Any] | None | UnsetType = UNSET
    spectral: dict[str, Any] | None | UnsetType = UNSET
    annotations: dict[str, Any] | None | UnsetType = UNSET
    choreography: ChoreographyLayer | None | UnsetType = UNSET

    def __post_init__(self) -> None:
        # The schema types a dict holding the marker key as the typed layer, any other as free.
        for name, (marker, typed) in _TYPED_BY_MARKER.items():
            value = getattr(self, name)
            if isinstance(value, dict) and marker in value:
                setattr(self, name, msgspec.convert(value, typed))


class GlobalMetrics(_Strict):
    duration_ms: DurationMs
    bpm: Bpm
    f_measure: Unit
    cemgil: Unit
    dynamic_range: int | float | None | UnsetType = UNSET
    quality: Literal["ok", "warning"] | UnsetType = UNSET
    warnings: Annotated[list[str], Meta(max_length=50)] | UnsetType = UNSET


class Metadata(Struct):
    """Unknown keys are allowed here, so the mirror keeps metadata as a dict and checks it apart."""

    filename: Annotated[str, Meta(max_length=255)]
    analysis_engine: Annotated[str, Meta(max_length=64)]
    timestamp_utc: datetime
    version: Annotated[str, Meta(max_length=32)]
    hashes: dict[str, str]
    analysis_config: dict[str, Any] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if not self.hashes.keys() >= REQUIRED_HASHES:
            raise ValueError("missing required hash keys")


class FastMap(_Strict):
    metadata: dict[str, Any]
    global_metrics: GlobalMetrics
    layers: Layers


_DECODER = msgspec.json.Decoder(FastMap)
_ENCODER = msgspec.json.Encoder(order="sorted")


def sampled_envelopes(doc: FastMap) -> dict[str, SampledEnvelope]:
    """The envelopes in sampled form, by dotted path."""
    frequency = doc.layers.frequency
    found = {
        "layers.frequency.bass": frequency.bass,
        "layers.frequency.mids": frequency.mids,
        "layers.frequency.highs": frequency.highs,
    }
    if isinstance(doc.layers.choreography, ChoreographyLayer):
        found["layers.choreography.intensity"] = doc.layers.choreography.intensity
    return {path: env for path, env in found.items() if isinstance(env, SampledEnvelope)}


BEAT_STRENGTH = "layers.rhythm.beat_strength"


_UnitList: TypeAlias = tuple[Struct, str, msgspec.json.Decoder[Any]]


def unit_lists(doc: FastMap) -> dict[str, _UnitList]:
    """The lists of numbers in [0, 1] that the mirror keeps as raw JSON, by dotted path: the
    owning struct, the attribute, and the decoder that validates it. (The rules need only
    their lengths; the hash needs their canonical bytes.)"""
    found: dict[str, _UnitList] = {
        path: (env, "values", _VALUES) for path, env in sampled_envelopes(doc).items()
    }
    if doc.layers.rhythm.beat_strength is not UNSET:
        found[BEAT_STRENGTH] = (doc.layers.rhythm, "beat_strength", _UNITS)
    return found


def fast_decode(raw: bytes) -> tuple[FastMap, dict[str, int], bool] | None:
    """The map, the length of each raw-kept unit list by dotted path (``unit_lists``), and
    whether all those lists are spelled exactly as in the canonical form; or None when the map
    is not plainly valid (pydantic then decides and explains)."""
    try:
        doc = _decode_without_unit_lists(raw)
        msgspec.convert(doc.metadata, Metadata)
        lists = unit_lists(doc)
        # "[]" is canonical; it is valid where the decoder takes an empty list (beat strengths).
        empty = [
            path
            for path, (owner, name, decoder) in lists.items()
            if decoder is _UNITS and bytes(getattr(owner, name)) == b"[]"
        ]
        for path in empty:
            del lists[path]
        counts = _lexical_unit_counts([getattr(owner, name) for owner, name, _ in lists.values()])
        as_written = counts is not None
        if counts is None:
            counts = [_normalise(*entry) for entry in lists.values()]
    except (msgspec.DecodeError, ValueError, TypeError):
        return None
    return doc, {**dict(zip(lists, counts, strict=False)), **dict.fromkeys(empty, 0)}, as_written


_CUT = b'"\\u0000@'
"""Start of the JSON string that stands in for a cut-out list (``"\u0000@<i>"``)."""
_ENVELOPE_KEYS = (b'"bass":{', b'"mids":{', b'"highs":{', b'"intensity":{')


def _decode_without_unit_lists(raw: bytes) -> FastMap:
    """``_DECODER.decode(raw)``, cheaper for maps laid out compactly (as the analyzer writes).

    msgspec checks every number of a ``Raw`` list while skipping it; for the ~38 KB of unit
    lists that is wasted, as ``_lexical_unit_counts`` (or the typed decoder) checks them again.
    So each ``"values":[...]`` of an envelope and ``"beat_strength":[...]`` is cut out of the
    bytes, up to the first ``]``, and replaced with a string ``"\u0000@<i>"`` (never in
    ``raw``) before decoding. That is exact only if every stand-in ends up as the value of a
    unit-list field: then the original bytes parse alike with the cut list (a JSON value
    replacing a JSON value) in that field, which gets it back as ``Raw``, to be checked like
    any other. Otherwise (an odd layout, a list holding a ``]``, a match inside a string, a
    repeated key, ...) the bytes are decoded as they are.
    """
    cut = _cut_unit_lists(raw)
    if cut is None:
        return _DECODER.decode(raw)
    stripped, lists = cut
    try:
        doc = _DECODER.decode(stripped)
    except (msgspec.DecodeError, ValueError, TypeError):
        return _DECODER.decode(raw)
    placed = 0
    for owner, name, _ in unit_lists(doc).values():
        value = bytes(getattr(owner, name))
        if value.startswith(_CUT):
            setattr(owner, name, Raw(lists[int(value[len(_CUT) : -1])]))
            placed += 1
    return doc if placed == len(lists) else _DECODER.decode(raw)


def _cut_unit_lists(raw: bytes) -> tuple[bytes, list[bytes]] | None:
    """``raw`` with the unit lists replaced by stand-ins, and the lists; None if none found.

    One pass over the bytes outside the cut lists: at each ``":[`` (a key whose value is a
    list) the key is looked at, and a cut list is stepped over to its ``]``."""
    pieces: list[bytes] = []
    lists: list[bytes] = []
    done = 0
    at = raw.find(b'":[')
    while at != -1:
        start = at + 2
        if (
            raw.endswith(b'"values', 0, at)
            and _in_envelope(raw, at)
            or raw.endswith(b'"beat_strength', 0, at)
        ):
            end = raw.find(b"]", start) + 1
            if end == 0:
                return None
            pieces += (raw[done:start], b'"\\u0000@%d"' % len(lists))
            lists.append(raw[start:end])
            done = start = end
        at = raw.find(b'":[', start)
    if not lists:
        return None
    pieces.append(raw[done:])
    stripped = b"".join(pieces)
    if stripped.count(_CUT) != len(lists):  # a stand-in must not be confused with the map's own
        return None
    return stripped, lists


def _in_envelope(raw: bytes, at: int) -> bool:
    """Whether the key ending at ``at`` is in the object of a sampled unit envelope."""
    return raw.endswith(_ENVELOPE_KEYS, 0, raw.rfind(b"{", 0, at) + 1)


def _normalise(owner: Struct, name: str, decoder: msgspec.json.Decoder[Any]) -> int:
    """Validate a list the lexical check could not vouch for; re-encode it for the hash."""
    values = decoder.decode(getattr(owner, name))
    setattr(owner, name, Raw(_ENCODER.encode(values)))
    return len(values)


_SLOT = 0
"""A byte that never occurs in msgspec's JSON output (it escapes control characters in
strings), so it marks where a unit list goes in the encoded skeleton."""
_SLOTS = [Raw(bytes((_SLOT, ord("A") + i))) for i in range(8)]
"""Slot ``i`` is the marker byte then the letter ``A + i``."""


def fast_map_sha256(doc: FastMap, lists_as_written: bool) -> str | None:
    """``compute_map_sha256`` of a ``fast_decode``d document, or None when only the exact path
    can tell (a float below 1e-4 or from 1e16 up somewhere).

    The document is encoded with sorted keys with each raw-kept list (``unit_lists``: ~38 KB
    of envelope values and beat strengths) replaced by a slot marker; the hash is fed the
    skeleton with the lists (canonical as written, or re-encoded) spliced in at their slots,
    so those are neither re-encoded nor scanned again."""
    lists = [(owner, name) for owner, name, _ in unit_lists(doc).values()]
    values = [getattr(owner, name) for owner, name in lists]
    hashes = {k: v for k, v in doc.metadata["hashes"].items() if k != "map_sha256"}
    stripped = msgspec.structs.replace(doc, metadata={**doc.metadata, "hashes": hashes})
    if len(lists) > len(_SLOTS):
        return None
    try:
        for (owner, name), slot in zip(lists, _SLOTS, strict=False):
            setattr(owner, name, slot)
        skeleton = _ENCODER.encode(stripped)
    finally:
        for (owner, name), value in zip(lists, values, strict=False):
            setattr(owner, name, value)
    if not _floats_match_python(skeleton):
        return None
    if not lists_as_written and not all(_floats_match_python(bytes(v)) for v in values):
        return None
    parts = skeleton.split(bytes((_SLOT,)))
    if len(parts) != len(values) + 1:
        return None
    pieces: list[bytes | memoryview] = [parts[0]]
    for part in parts[1:]:
        pieces += (values[part[0] - ord("A")], memoryview(part)[1:])
    return hashlib.sha256(b"".join(pieces)).hexdigest()


_CLASSES = bytes(
    100 if chr(i) in "0123456789.-" else 115 if chr(i) in ":[," else 101 if i == 101 else 120
    for i in range(256)
)
"""Byte classes: ``d`` number character, ``s`` what may come right before a value, ``e``,
``x`` anything else."""


def _floats_match_python(body: bytes) -> bool:
    """msgspec and ``repr`` format a float alike unless it is below 1e-4 or from 1e16 up, where
    msgspec writes ``1e-05`` as ``0.00001`` and ``1e+16`` as ``1e16``. Spot both in compact
    msgspec output: ``0.0000`` anywhere, or an ``e`` after a run of number characters that
    starts a value (right after ``:``, ``[`` or ``,``). An ``e`` inside a string (a hex digest)
    is no number; a string that merely looks like one only costs the exact path."""
    if b"0.0000" in body:
        return False
    c = np.frombuffer(body, dtype=np.uint8)
    e_after_digit = (c[1:] == 101) & ((c[:-1] - 48) < 10)  # "e" 101, "0".."9" 48..57
    if not e_after_digit.any():
        return True
    classes = body.translate(_CLASSES)
    for at in np.flatnonzero(e_after_digit).tolist():  # the digit before the "e"
        before_run = max(
            classes.rfind(b"s", 0, at), classes.rfind(b"x", 0, at), classes.rfind(b"e", 0, at)
        )
        if before_run == -1 or classes[before_run] == 115:  # "s"
            return False
    return True


def _has_digit_run(digit: np.ndarray, length: int) -> bool:
    """Whether ``length`` (8 to 15) consecutive entries of the bool array are all true.

    Such a run covers a whole aligned 8-byte word, so words of eight true bytes are looked for
    first (cheap, one compare per 8 bytes); only if one exists are runs measured exactly."""
    words = digit[: digit.size & ~7].view(np.uint64)
    if not (words == 0x0101010101010101).any():
        return False
    run, span = digit, 1
    while span * 2 <= length:  # runs of 2, 4, 8 ...
        run, span = run[:-span] & run[span:], span * 2
    return bool((run[: -(length - span)] & run[length - span :]).any())


def _lexical_unit_counts(lists: list[Raw]) -> list[int] | None:
    """Value counts of JSON lists of numbers in [0, 1] already in canonical form, else None.

    A plain decimal with at most 15 significant digits is the shortest repr of its float
    (IEEE doubles carry 15 decimal digits), so it is canonical when laid out as ``repr`` does:
    compact, no exponent, not below 1e-4, no trailing fractional zero except in ``d.0``. Only
    tokens ``0.<digits>`` and ``1.0`` are vouched for (at most 14 fractional digits): they are
    in [0, 1]. Anything else (ints, spaces, exponents, ...) returns None and is decoded.

    The check runs on the bytes as a few whole-array numpy comparisons (no per-token work):
    with the lists' insides joined by commas between sentinel commas, every byte is a digit, a
    dot or a comma, and a comma sits exactly two bytes before each dot, with ``0`` or ``1``
    between them.
    """
    raws = [memoryview(r) for r in lists]
    if not raws:
        return []
    if not all(len(r) > 2 and r[0] == 91 and r[-1] == 93 for r in raws):  # [ ]
        return None
    # A sentinel comma first, then a known-good tail, so every check below reads a window of
    # offsets 0..4 from each position of the real bytes. (On bool arrays ``a > b`` is
    # ``a and not b``.)
    body = b",".join([b"", *(r[1:-1] for r in raws), b"0.5,0.5"])
    if b"-" in body or b"/" in body:
        return None
    c = np.frombuffer(body, dtype=np.uint8)
    if np.minimum.reduce(c) < 44 or np.maximum.reduce(c) > 57:
        return None  # only digits, dots and commas are left: "," 44, "." 46, "0".."9" 48..57
    n = c.size - 4
    comma, dot, zero, one = c == 44, c == 46, c == 48, c == 49
    comma0, dot0, zero1 = comma[:n], dot[:n], zero[1 : n + 1]
    # A comma is followed by "0." or "1.0," (value in [0, 1]); a dot follows exactly those.
    bad = comma0 != dot[2 : n + 2]
    bad |= comma0 > (zero1 | (one[1 : n + 1] & zero[3 : n + 3] & comma[4 : n + 4]))
    bad |= dot0 & comma[1 : n + 1]  # a digit after the dot
    bad |= (comma[2 : n + 2] & zero1) > dot0  # no trailing zero but in "d.0"
    bad |= dot0 & zero1 & zero[2 : n + 2] & zero[3 : n + 3] & zero[4 : n + 4]  # below 1e-4
    if bad.any() or _has_digit_run(c >= 48, 15):  # at most 14 digits after the dot
        return None
    counts, at = [], 1
    for r in raws:
        end = at + len(r) - 2
        counts.append(int(np.count_nonzero(dot[at:end])))
        at = end + 1
    return counts
