"""File names of a generated landing zone, known before anything is written.

Used to refuse writing into a folder holding files of another dataset (which would silently mix
two datasets) while allowing a re-run with the same arguments to overwrite its own files.
"""

from __future__ import annotations

from dagster_project.simulator.window import JSONL, JSONL_GZ, Calendar, monthly_format

EVENTS = "transcription_events"
MONTHLY_STREAMS = ("users", "clients", "coach_profiles", "gdpr_requests", "audit_events")
REDELIVERED_TAG = "redelivered"
PARTIAL_TAG = "partial"


def special_days(cal: Calendar, clean: bool) -> tuple[int, int]:
    """(day whose file is delivered twice, day with a corrupt partial copy); -1 when clean.

    The redelivered file is a plain JSONL day of the first month's second week; the corrupt copy
    sits next to a gzipped day in the middle of the first month.
    """
    if clean:
        return -1, -1
    days = range(cal.n_days)
    redeliver = next(
        d for d in (*range(min(8, cal.n_days - 1), cal.n_days), *days) if Calendar.event_file_format(d) == JSONL
    )
    corrupt = next(
        d for d in (*range(min(14, cal.n_days - 1), cal.n_days), *days) if Calendar.event_file_format(d) == JSONL_GZ
    )
    return redeliver, corrupt


def expected_files(cal: Calendar, clean: bool) -> dict[str, set[str]]:
    """Every file name a generation with this calendar writes, per stream folder."""
    redeliver, corrupt = special_days(cal, clean)
    out: dict[str, set[str]] = {EVENTS: set()}
    for d in range(cal.n_days):
        fmt = Calendar.event_file_format(d)
        out[EVENTS].add(f"{cal.day_labels[d]}.{fmt}")
        if d == redeliver:
            out[EVENTS].add(f"{cal.day_labels[d]}.{REDELIVERED_TAG}.{fmt}")
        if d == corrupt:
            out[EVENTS].add(f"{cal.day_labels[d]}.{PARTIAL_TAG}.{fmt}")
    for stream in MONTHLY_STREAMS:
        out[stream] = {f"{label}.{monthly_format(stream, m)[0]}" for m, label in enumerate(cal.month_labels)}
    return out
