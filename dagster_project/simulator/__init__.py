"""Deterministic simulator of the Coaching Assistant Platform's landing zone (`coachwh generate`).

`generate(out_dir)` writes all six streams as the platform delivers them, defects included, and
returns a `GenerationSummary` counting what it wrote. `platform_audit_checksum` is the platform's
audit-log checksum, shared with ingestion.
"""

from dagster_project.audit.platform_checksum import platform_audit_checksum
from dagster_project.simulator.generator import generate
from dagster_project.simulator.summary import GenerationSummary

__all__ = ["GenerationSummary", "generate", "platform_audit_checksum"]
