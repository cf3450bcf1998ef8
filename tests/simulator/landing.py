"""Reads a generated landing zone back, independently of the simulator, for the tests.

A small contract validator (required fields, requiredWhen, enums, offsets on timestamps, minimums,
types) stands in for ingestion, so the tests check the files against the contracts themselves.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from dagster_project.contracts import Contract

OFFSET_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
NAIVE_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")
SPECIAL_TAGS = (".redelivered.", ".partial.")


@dataclass
class Line:
    file: str
    number: int
    raw: str | None  # JSONL text (None for Parquet rows)
    record: dict[str, Any] | None  # None = not parseable


@dataclass
class FileRead:
    path: Path
    lines: list[Line] = field(default_factory=list)
    corrupt: bool = False


def read_file(path: Path) -> FileRead:
    out = FileRead(path)
    name = path.name
    try:
        if name.endswith(".parquet"):
            rows = pl.read_parquet(path).to_dicts()
            out.lines = [Line(name, i + 1, None, r) for i, r in enumerate(rows)]
            return out
        data = path.read_bytes()
        if name.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error, pl.exceptions.PolarsError):
        out.corrupt = True
        return out
    for i, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            record = json.loads(raw)
            record = record if isinstance(record, dict) else None
        except json.JSONDecodeError:
            record = None
        out.lines.append(Line(name, i, raw, record))
    return out


def stream_files(landing: Path, stream: str, *, originals_only: bool = True) -> list[FileRead]:
    paths = sorted(p for p in (landing / stream).iterdir() if p.is_file())
    if originals_only:
        paths = [p for p in paths if not any(tag in p.name for tag in SPECIAL_TAGS)]
    return [read_file(p) for p in paths]


def parse_ts(value: Any) -> datetime | None:
    """A timestamp as an aware UTC datetime; None when it has no offset or is not a timestamp."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else None
    if isinstance(value, str) and OFFSET_TS.match(value):
        return datetime.fromisoformat(value).astimezone(UTC)
    return None


def violations(contract: Contract, record: dict[str, Any]) -> list[str]:
    """Why a record breaks its contract (empty = valid)."""
    reasons = []
    for f in contract.fields:
        value = record.get(f.name)
        required = f.required or any(record.get(k) in v for k, v in f.required_when.items())
        if value is None:
            if required:
                reasons.append(f"missing_required:{f.name}")
            continue
        if f.logical_type == "timestamp":
            if isinstance(value, str) and NAIVE_TS.match(value):
                reasons.append(f"naive_timestamp:{f.name}")
            elif parse_ts(value) is None:
                reasons.append(f"bad_timestamp:{f.name}")
        elif (
            (f.logical_type == "string" and not isinstance(value, str))
            or (f.logical_type == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))))
            or (f.logical_type == "boolean" and not isinstance(value, bool))
            or (f.logical_type == "object" and not isinstance(value, dict))
        ):
            reasons.append(f"bad_type:{f.name}")
        if f.enum is not None and value not in f.enum:
            reasons.append(f"bad_enum:{f.name}")
        if f.minimum is not None and isinstance(value, (int, float)) and value < f.minimum:
            reasons.append(f"below_minimum:{f.name}")
        if isinstance(value, str) and f.max_length is not None and len(value) > f.max_length:
            reasons.append(f"too_long:{f.name}")
        if isinstance(value, str) and f.min_length is not None and len(value) < f.min_length:
            reasons.append(f"too_short:{f.name}")
        if f.pattern is not None and isinstance(value, str) and not re.fullmatch(f.pattern, value):
            reasons.append(f"pattern:{f.name}")
    return reasons


def extra_fields(contract: Contract, record: dict[str, Any]) -> set[str]:
    return set(record) - set(contract.field_names)


def normalized(contract: Contract, record: dict[str, Any]) -> tuple:
    """Content of a record independent of its file format: instants in UTC, numbers rounded."""
    items = []
    for key in sorted(record):
        value = record[key]
        f = contract.field(key) if key in contract.field_names else None
        if value is None:
            continue
        if f is not None and f.logical_type == "timestamp":
            value = parse_ts(value)
        elif isinstance(value, float | int) and not isinstance(value, bool):
            value = round(float(value), 6)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        items.append((key, value))
    return tuple(items)
