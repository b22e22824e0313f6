"""Use cases: plain functions taking a caller, a unit of work and values; no HTTP here."""
