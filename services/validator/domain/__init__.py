"""Pure validation of Genesis Maps: no broker, no database, no object store."""

from services.validator.domain.rules import ValidationReport, validate_map

__all__ = ["ValidationReport", "validate_map"]
