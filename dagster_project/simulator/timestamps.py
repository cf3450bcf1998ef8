"""ISO-8601 timestamp text with an offset, scalar and vectorized.

Instants are carried as integer epoch milliseconds (UTC) everywhere in the simulator and only
turned into text when written, so the same instant can be expressed as `Z`, `+00:00` or in Taipei
local time (`+08:00`) without any floating-point drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

STYLE_Z = 0
STYLE_UTC_OFFSET = 1
STYLE_TAIPEI = 2
SUFFIXES = ("Z", "+00:00", "+08:00")
SHIFT_MS = (0, 0, 8 * 3_600_000)

_EPOCH = datetime(1970, 1, 1)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def format_ts(ms: int, style: int, *, millis: bool = False, naive: bool = False) -> str:
    """The instant `ms` as text in `style`; `naive=True` drops the offset (a contract defect)."""
    local = _EPOCH + timedelta(milliseconds=ms + SHIFT_MS[style])
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{ms % 1000:03d}"
    return text if naive else text + SUFFIXES[style]


def to_utc(ms: int) -> datetime:
    """The instant `ms` as an aware UTC datetime (for typed Parquet columns)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def parse_month(text: str) -> tuple[int, int]:
    """'2026-09' -> (2026, 9)."""
    try:
        year, month = (int(part) for part in text.split("-"))
    except ValueError as exc:
        raise ValueError(f"start_month must look like 2026-09, got {text!r}") from exc
    if not 1 <= month <= 12:
        raise ValueError(f"start_month must look like 2026-09, got {text!r}")
    return year, month


def month_start_ms(year: int, month: int) -> int:
    return int((datetime(year, month, 1) - _EPOCH).total_seconds()) * 1000


def ts_text_expr(ms: str, style: str, naive: str | None = None) -> pl.Expr:
    """Vectorized `format_ts(..., millis=True)` over integer columns `ms` and `style`."""
    shifted = pl.col(ms) + pl.when(pl.col(style) == STYLE_TAIPEI).then(SHIFT_MS[STYLE_TAIPEI]).otherwise(0)
    local = pl.from_epoch(shifted, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f")
    suffix = (
        pl.when(pl.col(style) == STYLE_TAIPEI)
        .then(pl.lit(SUFFIXES[STYLE_TAIPEI]))
        .when(pl.col(style) == STYLE_UTC_OFFSET)
        .then(pl.lit(SUFFIXES[STYLE_UTC_OFFSET]))
        .otherwise(pl.lit(SUFFIXES[STYLE_Z]))
    )
    if naive is not None:
        suffix = pl.when(pl.col(naive)).then(pl.lit("")).otherwise(suffix)
    return pl.concat_str([local, suffix])


def utc_datetime_expr(ms: str) -> pl.Expr:
    """Typed, UTC-adjusted timestamp column, as a platform Parquet writer would produce."""
    return pl.from_epoch(pl.col(ms), time_unit="ms").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
