"""Ingest: read sources through their mappings into the hub (see docs/mappings.md)."""

from peelian.ingest.run import DEFAULT_BATCH_ROWS, IngestSummary, ingest_mapping

__all__ = ["DEFAULT_BATCH_ROWS", "IngestSummary", "ingest_mapping"]
