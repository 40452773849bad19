"""Validation of a Genesis Map v4 document: parse, schema, device limits, hashes, semantics.

``validate_map`` lists every problem it finds. Plainly valid maps take the fast path (a msgspec
mirror of the schema and a canonical hash without a dict round trip, see ``fast_schema``);
anything else goes through ``contracts.genesis_map`` (pydantic), which has the final word on the
schema and explains each error with the dotted path of its field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic
from msgspec import UNSET

from contracts.canonical import compute_map_sha256
from contracts.device_limits import DEFAULT_LIMITS, DeviceLimits
from contracts.events import ValidationIssue
from contracts.genesis_map import UNION_TAGS, GenesisMapV4
from services.validator.domain.fast_schema import BEAT_STRENGTH, fast_decode, fast_map_sha256
from services.validator.domain.semantics import MapFacts, SampledFacts, as_times, check_semantics

MAX_ISSUES = 200
"""At most this many issues are listed (a rejection message holds 200)."""


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The verdict on one map: ``ok`` with an outcome, or every issue found."""

    ok: bool
    issues: list[ValidationIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outcome: Literal["ready", "warning"] | None = None
    map_sha256: str | None = None
    """The map's canonical hash as computed here (None if the document is not JSON)."""


def validate_map(
    raw: bytes,
    *,
    expected_audio_sha256: str | None = None,
    limits: DeviceLimits = DEFAULT_LIMITS,
    check_hashes: bool = True,
) -> ValidationReport:
    """Validate the bytes of a Genesis Map v4.

    ``expected_audio_sha256`` is the hash of the stored audio the map claims to describe;
    ``check_hashes=False`` skips both hash checks (for hand-written examples).
    """
    issues = _size_issues(raw, limits)
    fast = fast_decode(raw)
    facts: MapFacts | None
    if fast is not None:
        doc, counts, lists_as_written = fast
        facts, hashes = _facts(doc, counts), doc.metadata["hashes"]
        map_sha256 = fast_map_sha256(doc, lists_as_written) or _exact_sha256(
            json.loads(raw), issues
        )
    else:
        parsed = _parse(raw, issues)
        if parsed is None:
            return _report(issues, [], None, None)
        model = _schema(raw, issues)
        facts = _facts(model, None) if model is not None else None
        hashes = _hashes_of(parsed)
        map_sha256 = _exact_sha256(parsed, issues) if isinstance(parsed, dict) else None
    if check_hashes and hashes is not None:
        issues += _hash_issues(hashes, map_sha256, expected_audio_sha256)
    warnings: list[str] = []
    if facts is not None:
        semantic_issues, warnings = check_semantics(facts, limits)
        issues += semantic_issues
    flagged = facts is not None and (facts.quality == "warning" or bool(warnings))
    return _report(issues, warnings, "warning" if flagged else "ready", map_sha256)


def _report(
    issues: list[ValidationIssue],
    warnings: list[str],
    outcome: Literal["ready", "warning"] | None,
    map_sha256: str | None,
) -> ValidationReport:
    if issues:
        return ValidationReport(False, issues[:MAX_ISSUES], warnings, None, map_sha256)
    return ValidationReport(True, [], warnings, outcome, map_sha256)


def _size_issues(raw: bytes, limits: DeviceLimits) -> list[ValidationIssue]:
    if len(raw) <= limits.max_map_bytes:
        return []
    return [
        ValidationIssue(
            field="$",
            message=f"the map is {len(raw)} bytes; a device holds at most {limits.max_map_bytes}",
        )
    ]


def _parse(raw: bytes, issues: list[ValidationIssue]) -> Any | None:
    """The JSON document, or None with the reason (and where) added to ``issues``."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        issues.append(
            ValidationIssue(
                field="$", message=f"not UTF-8 text: byte {exc.start} cannot be decoded"
            )
        )
    except json.JSONDecodeError as exc:
        issues.append(
            ValidationIssue(
                field="$",
                message=f"not valid JSON: {exc.msg} at line "
                f"{exc.lineno} column {exc.colno} (char {exc.pos})",
            )
        )
    return None


def _schema(raw: bytes, issues: list[ValidationIssue]) -> GenesisMapV4 | None:
    """The typed map, or None with each schema error added to ``issues``."""
    try:
        return GenesisMapV4.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        issues += [_issue_of(error) for error in exc.errors(include_url=False)]
        return None


def _issue_of(error: Any) -> ValidationIssue:
    """A pydantic error as an issue at the dotted path of its field (union tags dropped)."""
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in UNION_TAGS:
            path += f".{part}" if path else str(part)
    message, given = error["msg"], error.get("input")
    if isinstance(given, (int, float, str)) and len(repr(given)) <= 60:
        message += f" (got {given!r})"
    return ValidationIssue(field=(path or "$")[:300], message=message[:500])


def _hashes_of(parsed: Any) -> dict[str, Any] | None:
    metadata = parsed.get("metadata") if isinstance(parsed, dict) else None
    hashes = metadata.get("hashes") if isinstance(metadata, dict) else None
    return hashes if isinstance(hashes, dict) else None


def _exact_sha256(parsed: dict[str, Any], issues: list[ValidationIssue]) -> str | None:
    try:
        return compute_map_sha256(parsed)
    except (ValueError, UnicodeEncodeError) as exc:
        issues.append(ValidationIssue(field="$", message=f"no canonical form: {exc}"[:500]))
        return None


def _hash_issues(
    hashes: dict[str, Any], map_sha256: str | None, expected_audio_sha256: str | None
) -> list[ValidationIssue]:
    """The claimed hashes must match the document and the stored audio."""
    found = []
    claimed = hashes.get("map_sha256")
    if map_sha256 is not None and claimed is not None and claimed != map_sha256:
        found.append(
            ValidationIssue(
                field="metadata.hashes.map_sha256",
                message=f"claims {str(claimed)[:64]} but the map hashes to {map_sha256}",
            )
        )
    audio = hashes.get("audio_sha256")
    if expected_audio_sha256 is not None and audio != expected_audio_sha256:
        found.append(
            ValidationIssue(
                field="metadata.hashes.audio_sha256",
                message=f"claims {str(audio)[:64]} but the stored audio is {expected_audio_sha256}",
            )
        )
    return found


def _given(value: Any, default: Any) -> Any:
    return default if value is None or value is UNSET else value


def _facts(doc: Any, counts: dict[str, int] | None) -> MapFacts:
    """``MapFacts`` of a fast (msgspec) or exact (pydantic) map; their field names agree. The
    fast map keeps its unit lists raw: ``counts`` has their lengths by dotted path."""
    metrics, rhythm, layers = doc.global_metrics, doc.layers.rhythm, doc.layers
    annotations = _given(layers.annotations, None)
    typed_annotations = annotations is not None and not isinstance(annotations, dict)
    sections = _given(annotations.sections, []) if typed_annotations else []
    local_bpm = _given(rhythm.local_bpm, None)
    return MapFacts(
        duration_ms=float(metrics.duration_ms),
        bpm=float(metrics.bpm),
        quality=_given(metrics.quality, "ok"),
        map_warnings=list(_given(metrics.warnings, [])),
        beats_ms=as_times(rhythm.beat_grid_ms),
        downbeats_ms=as_times(_given(rhythm.downbeat_ms, [])),
        beat_strength_count=(
            counts.get(BEAT_STRENGTH, 0) if counts is not None else len(rhythm.beat_strength)
        ),
        local_bpm_count=None if local_bpm is None else len(local_bpm),
        envelopes=_envelopes(layers, counts),
        sections_ms=[(float(s.start_ms), float(s.end_ms)) for s in sections],
        drops_ms=[float(t) for t in _given(annotations.drops_ms, [])] if typed_annotations else [],
    )


def _envelopes(layers: Any, counts: dict[str, int] | None) -> dict[str, Any]:
    """Each envelope by dotted path: point times, or the frame layout of a sampled one."""
    frequency = layers.frequency
    found = {
        "layers.frequency.bass": frequency.bass,
        "layers.frequency.mids": frequency.mids,
        "layers.frequency.highs": frequency.highs,
    }
    choreography = _given(layers.choreography, None)
    if choreography is not None:
        found["layers.choreography.intensity"] = choreography.intensity
    facts: dict[str, Any] = {}
    for path, envelope in found.items():
        if isinstance(envelope, list):
            facts[path] = as_times([point.time_ms for point in envelope])
        else:
            count = counts[path] if counts is not None else len(envelope.values)
            facts[path] = SampledFacts(
                float(_given(envelope.start_ms, 0.0)), float(envelope.frame_rate_hz), count
            )
    return facts
