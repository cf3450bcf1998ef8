"""The demo's two deliveries split a landing zone by the day each file was delivered."""

from datetime import date
from pathlib import Path

from dagster_project.simulator.delivery import deliver, delivery_date


def test_daily_and_monthly_file_names_give_their_delivery_day():
    assert delivery_date(Path("2026-10-31.jsonl.gz")) == date(2026, 10, 31)
    assert delivery_date(Path("2026-09-09.redelivered.jsonl")) == date(2026, 9, 9)
    assert delivery_date(Path("2026-11.parquet")) == date(2026, 11, 1)
    assert delivery_date(Path("notes.jsonl")) is None


def test_two_waves_deliver_every_file_exactly_once(tmp_path: Path):
    source = tmp_path / "generated"
    for name in ("transcription_events/2026-11-04.jsonl", "transcription_events/2026-11-05.jsonl",
                 "users/2026-10.jsonl", "users/2026-12.jsonl", "users/extra.jsonl"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    first, second = tmp_path / "landing1", tmp_path / "landing2"

    assert deliver(source, first, before=date(2026, 11, 5)) == 3
    assert deliver(source, second, since=date(2026, 11, 5)) == 2

    assert sorted(p.relative_to(first).as_posix() for p in first.glob("*/*")) == [
        "transcription_events/2026-11-04.jsonl", "users/2026-10.jsonl", "users/extra.jsonl"]
    assert sorted(p.relative_to(second).as_posix() for p in second.glob("*/*")) == [
        "transcription_events/2026-11-05.jsonl", "users/2026-12.jsonl"]
