"""The simulated window: its days and months, and which file format each delivery uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from dagster_project.simulator.timestamps import DAY_MS, month_start_ms, parse_month

JSONL = "jsonl"
JSONL_GZ = "jsonl.gz"
PARQUET = "parquet"
FORMATS = (JSONL, JSONL_GZ, PARQUET)


@dataclass(frozen=True)
class Calendar:
    """Days are UTC calendar days, numbered 0.. from the first day of `start_month`."""

    month_labels: tuple[str, ...]
    month_first_day: tuple[int, ...]  # first day index of each month, plus the end (len months+1)
    day_labels: tuple[str, ...]
    day_start_ms: np.ndarray  # int64 start of each day, plus the window end (len days+1)

    @classmethod
    def build(cls, start_month: str, months: int) -> Calendar:
        year, month = parse_month(start_month)
        month_labels: list[str] = []
        month_bounds: list[int] = []
        for _ in range(months + 1):
            month_labels.append(f"{year:04d}-{month:02d}")
            month_bounds.append(month_start_ms(year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        n_days = (month_bounds[-1] - month_bounds[0]) // DAY_MS
        first = datetime(*parse_month(start_month), 1)
        day_labels = tuple((first + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(n_days))
        return cls(
            month_labels=tuple(month_labels[:-1]),
            month_first_day=tuple((b - month_bounds[0]) // DAY_MS for b in month_bounds),
            day_labels=day_labels,
            day_start_ms=month_bounds[0] + DAY_MS * np.arange(n_days + 1, dtype=np.int64),
        )

    @property
    def n_days(self) -> int:
        return len(self.day_labels)

    @property
    def n_months(self) -> int:
        return len(self.month_labels)

    @property
    def start_ms(self) -> int:
        return int(self.day_start_ms[0])

    @property
    def end_ms(self) -> int:
        return int(self.day_start_ms[-1])

    def month_bounds_ms(self, month: int) -> tuple[int, int]:
        return (
            int(self.day_start_ms[self.month_first_day[month]]),
            int(self.day_start_ms[self.month_first_day[month + 1]]),
        )

    def month_days(self, month: int) -> range:
        return range(self.month_first_day[month], self.month_first_day[month + 1])

    def day_of(self, ms: np.ndarray) -> np.ndarray:
        """Day index of each instant; -1 before the window, n_days at or after its end."""
        return np.searchsorted(self.day_start_ms, ms, side="right").astype(np.int32) - 1

    def month_of_day(self, day: np.ndarray | int) -> np.ndarray:
        return np.searchsorted(np.asarray(self.month_first_day), day, side="right") - 1

    def weekday(self, day: int) -> int:
        """0 = Monday."""
        return (datetime(1970, 1, 1) + timedelta(milliseconds=int(self.day_start_ms[day]))).weekday()

    @staticmethod
    def event_file_format(day: int) -> str:
        """Transcription events: every 7th day Parquet, every 5th day gzipped JSONL, else JSONL."""
        n = day + 1
        if n % 7 == 0:
            return PARQUET
        if n % 5 == 0:
            return JSONL_GZ
        return JSONL

    @staticmethod
    def event_parquet_typed(day: int) -> bool:
        """Every other Parquet day carries occurred_at as a typed UTC timestamp, the rest as text."""
        return ((day + 1) // 7) % 2 == 0


# Monthly streams rotate formats so every reader path is exercised; gdpr stays plain JSONL.
# Value: (formats by month index modulo len, Parquet timestamps typed?).
MONTHLY_FORMATS: dict[str, tuple[tuple[str, ...], bool]] = {
    "users": ((JSONL, PARQUET, JSONL_GZ), True),
    "clients": ((JSONL, JSONL_GZ, PARQUET), False),
    "coach_profiles": ((JSONL, PARQUET), True),
    "gdpr_requests": ((JSONL,), False),
    "audit_events": ((JSONL, JSONL_GZ), False),
}


def monthly_format(stream: str, month: int) -> tuple[str, bool]:
    formats, typed = MONTHLY_FORMATS[stream]
    return formats[month % len(formats)], typed
