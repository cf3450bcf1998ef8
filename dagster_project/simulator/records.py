"""Writes the monthly files of the record streams (users, clients, coach_profiles, gdpr_requests,
audit_events) from row dicts, typed by the stream's data contract.

Rows hold timestamps as epoch ms (formatted here, in the row's `_style`) or as text already
(audit events, whose checksum covers the exact text). Keys starting with `_` are writer hints:
`_style` (timestamp style), `_naive` (drop the offset of the first timestamp: a defect).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dagster_project.contracts import Contract
from dagster_project.simulator import files
from dagster_project.simulator.summary import Tally
from dagster_project.simulator.timestamps import STYLE_Z, format_ts, to_utc
from dagster_project.simulator.window import PARQUET

_POLARS_TYPES = {"string": pl.String, "boolean": pl.Boolean, "number": pl.Float64, "integer": pl.Int64}


def json_ready(contract: Contract, row: dict[str, Any]) -> dict[str, Any]:
    """The row as the platform would print it: contract fields in order, then unknown extras."""
    style = row.get("_style", STYLE_Z)
    naive = row.get("_naive", False)
    timestamps = {f.name for f in contract.fields if f.logical_type == "timestamp"}
    out: dict[str, Any] = {}
    first_ts = True
    for name in contract.field_names:
        if name not in row:
            continue
        value = row[name]
        if name in timestamps and isinstance(value, (int, np.integer)):
            value = format_ts(int(value), style, naive=naive and first_ts)
        if name in timestamps and value is not None:
            first_ts = False
        out[name] = value
    for name, value in row.items():
        if name not in out and not name.startswith("_") and name not in contract.field_names:
            out[name] = value
    return out


def json_line(contract: Contract, row: dict[str, Any]) -> str:
    return json.dumps(json_ready(contract, row), ensure_ascii=False, separators=(",", ":"))


def parquet_frame(contract: Contract, rows: list[dict[str, Any]], typed_ts: bool) -> pl.DataFrame:
    """One column per contract field; timestamps typed UTC or as text; objects as JSON text."""
    columns: dict[str, pl.Series] = {}
    for f in contract.fields:
        values = []
        for row in rows:
            v = row.get(f.name)
            if f.logical_type == "timestamp" and isinstance(v, (int, np.integer)):
                v = to_utc(int(v)) if typed_ts else format_ts(int(v), row.get("_style", STYLE_Z))
            elif f.logical_type == "object" and v is not None:
                v = json.dumps(v, ensure_ascii=False, sort_keys=True)
            values.append(v)
        if f.logical_type == "timestamp":
            dtype = pl.Datetime("us", "UTC") if typed_ts else pl.String
        else:
            dtype = _POLARS_TYPES.get(f.logical_type, pl.String)
        columns[f.name] = pl.Series(f.name, values, dtype=dtype)
    return pl.DataFrame(columns)


def write_month(
    landing: Path,
    contract: Contract,
    label: str,
    rows: list[dict[str, Any]],
    fmt: str,
    typed_ts: bool,
    tally: Tally,
    rng: np.random.Generator | None = None,
    malformed: int = 0,
) -> None:
    """Writes `<landing>/<stream>/<label>.<fmt>`; `malformed` truncated lines go into JSONL files.

    Tallies files and records; defect counts are the caller's (it knows what it injected).
    """
    path = landing / contract.stream / files.file_name(label, fmt)
    if fmt == PARQUET:
        files.write(path, files.parquet_bytes(parquet_frame(contract, rows, typed_ts)))
        n = len(rows)
    else:
        lines = [json_line(contract, row) for row in rows]
        if malformed and rng is not None and lines:
            for _ in range(malformed):
                src = lines[int(rng.integers(0, len(lines)))]
                lines.insert(int(rng.integers(0, len(lines) + 1)), src[: int(rng.integers(5, len(src) - 1))])
        files.write(path, files.jsonl_bytes(lines, fmt))
        n = len(lines)
    tally.files[fmt] += 1
    tally.records[contract.stream] += n
