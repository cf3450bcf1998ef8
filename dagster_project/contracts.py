"""Reads the data contracts in `data_contracts/`: the one copy of each stream's schema.

Validation, raw table layout and PII routing are all derived from these files, so changing a
contract changes what ingestion accepts with no second copy of the schema in Python.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from dagster_project.errors import CoachwhError

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "data_contracts"

# The DuckDB type each logical type is stored as, unless the contract names a physicalType.
_DEFAULT_PHYSICAL = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "object": "JSON",
}
PROTECTED_CLASSES = frozenset({"pii", "sensitive"})


@dataclass(frozen=True)
class Field:
    name: str
    logical_type: str
    physical_type: str
    required: bool
    classification: str
    required_when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    enum: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    keep_raw_text: bool = False

    @property
    def is_protected(self) -> bool:
        """True for fields that go to the PII vault instead of `raw.*`."""
        return self.classification in PROTECTED_CLASSES


@dataclass(frozen=True)
class PiiSubject:
    subject_type: str
    subject_id_field: str


@dataclass(frozen=True)
class Contract:
    stream: str
    version: str
    primary_key: str
    fields: tuple[Field, ...]
    pii_subject: PiiSubject | None
    path: Path

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def raw_fields(self) -> tuple[Field, ...]:
        """Fields stored in `raw.<stream>`: everything except pii and sensitive ones."""
        return tuple(f for f in self.fields if not f.is_protected)

    @property
    def protected_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.is_protected)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _custom(doc: dict[str, Any], name: str) -> Any:
    for prop in doc.get("customProperties") or []:
        if prop.get("property") == name:
            return prop.get("value")
    return None


def _parse_field(stream: str, raw: dict[str, Any]) -> Field:
    name = raw["name"]
    logical = raw.get("logicalType")
    if logical not in _DEFAULT_PHYSICAL:
        raise CoachwhError(
            f"data contract {stream}: field {name} has unsupported logicalType {logical!r}; "
            f"use one of {sorted(_DEFAULT_PHYSICAL)}"
        )
    classification = raw.get("classification")
    if classification not in {"pii", "sensitive", "internal"}:
        raise CoachwhError(
            f"data contract {stream}: field {name} needs a classification of pii, sensitive or internal"
        )
    opts = raw.get("logicalTypeOptions") or {}
    required_when = {k: tuple(v) for k, v in (raw.get("requiredWhen") or {}).items()}
    return Field(
        name=name,
        logical_type=logical,
        physical_type=str(raw.get("physicalType") or _DEFAULT_PHYSICAL[logical]).upper(),
        required=bool(raw.get("required", False)),
        classification=classification,
        required_when=required_when,
        enum=tuple(opts["enum"]) if "enum" in opts else None,
        min_length=opts.get("minLength"),
        max_length=opts.get("maxLength"),
        minimum=opts.get("minimum"),
        maximum=opts.get("maximum"),
        pattern=opts.get("pattern"),
        keep_raw_text=bool(raw.get("keepRawText", False)),
    )


def parse_contract(path: Path) -> Contract:
    """Parse one ODCS contract file into a Contract."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CoachwhError(f"cannot read data contract {path}: {exc}") from exc
    stream = doc["name"]
    schema = doc["schema"][0]
    fields = tuple(_parse_field(stream, p) for p in schema["properties"])
    names = {f.name for f in fields}
    primary_key = _custom(doc, "primaryKey")
    if primary_key not in names:
        raise CoachwhError(f"data contract {stream}: primaryKey {primary_key!r} is not a field")
    subject = _custom(doc, "piiSubject")
    pii_subject = (
        PiiSubject(subject_type=subject["subjectType"], subject_id_field=subject["subjectIdField"])
        if subject
        else None
    )
    if any(f.is_protected for f in fields) and pii_subject is None:
        raise CoachwhError(f"data contract {stream}: has pii fields but no piiSubject")
    return Contract(
        stream=stream,
        version=str(doc.get("version")),
        primary_key=primary_key,
        fields=fields,
        pii_subject=pii_subject,
        path=path,
    )


def contracts_dir() -> Path:
    """Where the contracts live: COACHWH_CONTRACTS_DIR, else the repository's data_contracts/."""
    return Path(os.environ.get("COACHWH_CONTRACTS_DIR") or CONTRACTS_DIR)


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """All contracts of a directory, keyed by stream name.

    Cached on the files' paths and modification times, so an edited contract takes effect in a
    long-running process (e.g. `dagster dev`) without a restart.
    """
    folder = directory or contracts_dir()
    paths = sorted(folder.glob("*.odcs.yaml"))
    if not paths:
        raise CoachwhError(f"no data contracts (*.odcs.yaml) found in {folder}; set COACHWH_CONTRACTS_DIR")
    return _load(tuple((p, p.stat().st_mtime_ns) for p in paths))


@lru_cache(maxsize=8)
def _load(files: tuple[tuple[Path, int], ...]) -> dict[str, Contract]:
    return {c.stream: c for c in (parse_contract(p) for p, _ in files)}


STREAMS: tuple[str, ...] = (
    "users",
    "clients",
    "coach_profiles",
    "transcription_events",
    "gdpr_requests",
    "audit_events",
)
