"""Shared contracts of K1 Song Analysis: event messages, the Genesis Map v4 schema,
the device bundle format and the broker topology names. Pure data, no I/O."""
