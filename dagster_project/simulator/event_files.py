"""Writes one day file of transcription events (JSONL, gzipped JSONL or Parquet) and tallies it.

JSON lines are assembled with Polars string expressions rather than `write_ndjson`, so a line
can omit absent fields (instead of writing nulls), drop a required field or carry an unknown one
for the defect rows, and print decimals exactly (`123.5`, `0.0045`) from integer ms / micro-USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from dagster_project.simulator import files, ids
from dagster_project.simulator.event_defects import COPY_CONFLICT, COPY_EXACT, COPY_NONE, DROP_FIELDS, EXTRA_FIELDS
from dagster_project.simulator.layout import PARTIAL_TAG, REDELIVERED_TAG
from dagster_project.simulator.sessions import ERROR_CODES, LANGUAGES
from dagster_project.simulator.summary import Tally
from dagster_project.simulator.timestamps import ts_text_expr, utc_datetime_expr
from dagster_project.simulator.window import JSONL_GZ, PARQUET, Calendar

STREAM = "transcription_events"
EVENT_TYPES = ("transcription_started", "transcription_completed", "transcription_failed", "transcription_cancelled")
PROVIDERS = ("google", "assemblyai", "openai_whisper")  # the last one only in bad-enum defect rows
GARBAGE_LINES = (
    "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "ERROR: upstream connection reset by peer",
    '{"event_id": "evt_',
)


@dataclass(frozen=True)
class DayDelivery:
    day: int
    rows: pl.DataFrame
    malformed: int = 0
    redeliver: bool = False
    corrupt_copy: bool = False


def _text(code_col: str, values: tuple[str, ...]) -> pl.Expr:
    return pl.col(code_col).replace_strict(dict(enumerate(values)), default=None, return_dtype=pl.String)


def _decimal_text(col: str, digits: int) -> pl.Expr:
    """Exact decimal text of an integer column scaled by 10^-digits (null stays null)."""
    unit = 10**digits
    value = pl.col(col)
    magnitude = value.abs()
    whole = (magnitude // unit).cast(pl.String)
    fraction = (magnitude % unit).cast(pl.String).str.zfill(digits).str.strip_chars_end("0")
    body = pl.when(magnitude % unit == 0).then(whole).otherwise(pl.concat_str([whole, pl.lit("."), fraction]))
    return pl.concat_str([pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit("")), body])


def _columns(typed_ts: bool = False) -> list[tuple[str, pl.Expr, bool]]:
    """(field, value expression, is_string) in contract order."""
    occurred = utc_datetime_expr("ts") if typed_ts else ts_text_expr("ts", "style", "naive")
    return [
        ("event_id", ids.id_expr("event_no", ids.EVENT), True),
        ("event_type", _text("etype", EVENT_TYPES), True),
        ("occurred_at", occurred, True),
        ("attempt_id", ids.id_expr("attempt_no", ids.ATTEMPT), True),
        ("session_id", ids.id_expr("session_no", ids.SESSION), True),
        ("user_id", ids.id_expr("user_no", ids.USER), True),
        ("client_id", ids.id_expr("client_no", ids.CLIENT), True),
        ("stt_provider", _text("provider", PROVIDERS), True),
        ("language", _text("language", LANGUAGES), True),
        ("duration_seconds", _decimal_text("duration_ms", 3), False),
        ("provider_cost_usd", _decimal_text("cost_micro", 6), False),
        ("error_code", _text("error", ERROR_CODES), True),
    ]


def json_lines(rows: pl.DataFrame) -> pl.Series:
    """One JSON object per row; absent (null) fields are left out of the line."""
    parts = []
    dropped = pl.col("drop_field").fill_null(-1)
    for name, value, is_string in _columns():
        quote = '"' if is_string else ""
        piece = pl.concat_str([pl.lit(f',"{name}":{quote}'), value, pl.lit(quote)])
        present = value.is_not_null()
        if name in DROP_FIELDS:
            present = present & (dropped != DROP_FIELDS.index(name))
        parts.append(pl.when(present).then(piece).otherwise(pl.lit("")))
    extra = _text("extra", EXTRA_FIELDS).fill_null("")
    # every piece starts with a comma; the first one is sliced off
    line = pl.concat_str([pl.lit("{"), pl.concat_str(parts).str.slice(1), extra, pl.lit("}")])
    return rows.select(line.alias("line")).to_series()


def parquet_frame(rows: pl.DataFrame, typed_ts: bool) -> pl.DataFrame:
    exprs = []
    for name, value, _ in _columns(typed_ts):
        if name in ("duration_seconds", "provider_cost_usd"):
            # Parsing the exact decimal text gives the nearest double (0.028448, not Polars'
            # division by a reciprocal, 0.028447999999999998).
            value = value.cast(pl.Float64)
        exprs.append(value.alias(name))
    return rows.select(exprs)


def _with_malformed(rng: np.random.Generator, lines: pl.Series, k: int) -> list[str]:
    """The file's lines with `k` malformed ones inserted: truncated copies of real lines, or junk."""
    out = lines.to_list()
    for _ in range(k):
        if out and rng.random() < 0.75:
            src = out[int(rng.integers(0, len(out)))]
            bad = src[: int(rng.integers(10, len(src) - 1))]  # cut before the closing brace
        else:
            bad = GARBAGE_LINES[int(rng.integers(0, len(GARBAGE_LINES)))]
        out.insert(int(rng.integers(0, len(out) + 1)), bad)
    return out


def write_event_day(landing: Path, cal: Calendar, d: DayDelivery, rng: np.random.Generator, tally: Tally) -> None:
    rows = d.rows.sort(["arrival", "event_no", "copy"])
    fmt = Calendar.event_file_format(d.day)
    label = cal.day_labels[d.day]
    folder = landing / STREAM
    if fmt == PARQUET:
        data = files.parquet_bytes(parquet_frame(rows, Calendar.event_parquet_typed(d.day)))
        n_lines = len(rows)
    else:
        lines = json_lines(rows)
        if d.malformed:
            data = files.jsonl_bytes(_with_malformed(rng, lines, d.malformed), fmt)
        else:
            text = lines.str.join("\n").item() + "\n" if len(lines) else ""
            data = files.jsonl_bytes(text, fmt)
        n_lines = len(rows) + d.malformed
    files.write(folder / files.file_name(label, fmt), data)
    tally.files[fmt] += 1
    tally.records[STREAM] += n_lines
    _count(rows, d.malformed, tally)
    if d.redeliver:
        name = files.file_name(f"{label}.{REDELIVERED_TAG}", fmt)
        files.write(folder / name, data)
        tally.files[fmt] += 1
        tally.records[STREAM] += n_lines
        tally.defect(STREAM, "duplicate_files")
        tally.redelivered.append(f"{STREAM}/{name}")
    if d.corrupt_copy and fmt == JSONL_GZ:
        # A partial upload of the same day: gzip bytes cut in half, unreadable as a whole.
        name = files.file_name(f"{label}.{PARTIAL_TAG}", fmt)
        files.write(folder / name, data[: max(20, len(data) // 2)])
        tally.files[fmt] += 1
        tally.defect(STREAM, "corrupt_files")
        tally.corrupt.append(f"{STREAM}/{name}")


def _count(rows: pl.DataFrame, malformed: int, tally: Tally) -> None:
    c = rows.select(
        late=pl.col("late").sum(),
        exact=(pl.col("copy") == COPY_EXACT).sum(),
        conflict=(pl.col("copy") == COPY_CONFLICT).sum(),
        naive=pl.col("naive").sum(),
        missing=pl.col("drop_field").is_not_null().sum(),
        bad=pl.col("bad_enum").sum(),
        negative=pl.col("negative").sum(),
        extra=pl.col("extra").is_not_null().sum(),
        contra=(pl.col("contra") & (pl.col("copy") == COPY_NONE)).sum(),
        valid=(
            (pl.col("copy") == COPY_NONE)
            & ~pl.col("naive")
            & pl.col("drop_field").is_null()
            & ~pl.col("bad_enum")
            & ~pl.col("negative")
        ).sum(),
    ).row(0, named=True)
    tally.valid[STREAM] += c["valid"]
    for name, key in (
        ("late_events", "late"),
        ("exact_duplicates", "exact"),
        ("conflicting_duplicates", "conflict"),
        ("naive_timestamps", "naive"),
        ("missing_required", "missing"),
        ("bad_enum", "bad"),
        ("negative_duration", "negative"),
        ("extra_field_records", "extra"),
        ("contradicting_terminal_events", "contra"),
    ):
        tally.defect(STREAM, name, c[key])
    tally.defect(STREAM, "malformed_lines", malformed)
