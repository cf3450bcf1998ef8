"""`generate()`: writes a realistic, deterministic landing zone for all six streams.

One pass over the months: simulate the month's transcription activity (vectorized), then the
CDC changes it implies, then deliver the events to daily files and the record streams to monthly
files. Events delivered after their month (late ones, duplicates, re-transcriptions) are carried
over to the month whose files they land in, so memory stays at about one month of events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from faker import Faker

from dagster_project.contracts import STREAMS, Contract, load_contracts
from dagster_project.errors import CoachwhError
from dagster_project.simulator import audit_log, entity_defects, event_defects, gdpr, ids, layout, records
from dagster_project.simulator.event_files import DayDelivery, write_event_day
from dagster_project.simulator.lifecycle import EntityState, month_changes
from dagster_project.simulator.population import LOCALES, Population, build_population
from dagster_project.simulator.sessions import simulate_month
from dagster_project.simulator.summary import GenerationSummary, Tally
from dagster_project.simulator.window import PARQUET, Calendar, monthly_format

ENTITY_STREAMS = ("users", "clients", "coach_profiles")
TAMPERED_AUDIT_EVENTS = 2  # per dataset
CHANGE_IDS = {"users": ids.USER_CHANGE, "clients": ids.CLIENT_CHANGE, "coach_profiles": ids.PROFILE_CHANGE}


class _Rngs:
    """Independent random streams per concern, so changing one part keeps the others stable."""

    def __init__(self, seed: int) -> None:
        children = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
        (self.population, self.sessions, self.lifecycle, self.delivery, self.files, self.gdpr, self.audit,
         self.defects) = children  # fmt: skip


@dataclass
class _Run:
    """State of one generation while it walks the months."""

    landing: Path
    cal: Calendar
    pop: Population
    rngs: _Rngs
    events_per_month: int
    clean: bool
    contracts: dict[str, Contract] = field(default_factory=load_contracts)
    tally: Tally = field(default_factory=Tally)
    sessions: ids.Counter = field(default_factory=ids.Counter)
    attempts: ids.Counter = field(default_factory=ids.Counter)
    events: ids.Counter = field(default_factory=ids.Counter)
    requests: ids.Counter = field(default_factory=ids.Counter)
    audit_ids: ids.Counter = field(default_factory=ids.Counter)
    carry: pl.DataFrame | None = None  # events delivered in a later month than generated
    audit_carry: list[audit_log.AuditEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = EntityState.initial(self.pop)
        self.redeliver_day, self.corrupt_day = layout.special_days(self.cal, self.clean)
        self.tamper_plan = [0] * self.cal.n_months
        if not self.clean:
            self.tamper_plan[0] += 1
            self.tamper_plan[-1] += TAMPERED_AUDIT_EVENTS - 1

    def month(self, m: int) -> None:
        activity = simulate_month(
            self.rngs.sessions,
            self.pop,
            self.state.client_usable.copy(),
            self.cal,
            m,
            self.events_per_month,
            self.sessions.last + 1,
            self.attempts.last + 1,
            self.events.last + 1,
            self.clean,
        )
        self.sessions.take(int(activity.attempts["session_no"].n_unique()))
        self.attempts.take(len(activity.attempts))
        self.events.take(len(activity.events))
        # deletions are placed after the last activity, so this must precede the month's changes
        self.state.client_last_ms = np.maximum(self.state.client_last_ms, activity.client_last_ms)
        changes = month_changes(self.rngs.lifecycle, self.pop, self.state, self.cal, m)
        self._event_files(m, activity.events)
        label = self.cal.month_labels[m]
        for stream in ENTITY_STREAMS:
            self._record_file(stream, label, m, [{**c.row, "_style": c.style} for c in changes if c.stream == stream])
        requests = gdpr.month_requests(self.rngs.gdpr, self.pop, self.cal, m, self.requests, self.events_per_month)
        self._record_file("gdpr_requests", label, m, requests)
        entries = self.audit_carry + audit_log.month_entries(
            self.rngs.audit, self.pop, self.cal, m, changes, activity.attempts, activity.sessions_per_user, requests
        )
        month_end = self.cal.month_bounds_ms(m)[1]
        self.audit_carry = [e for e in entries if month_end <= e.ms < self.cal.end_ms]
        rows, tampered = audit_log.to_rows(
            self.rngs.audit, self.pop, [e for e in entries if e.ms < month_end], self.audit_ids, self.tamper_plan[m]
        )
        self.tally.defect("audit_events", "tampered_audit_checksums", tampered)
        self._record_file("audit_events", label, m, rows)

    def _event_files(self, m: int, events: pl.DataFrame) -> None:
        """One file per day of month m, with what was delivered that day (this or earlier months)."""
        planned = event_defects.plan_delivery(
            self.rngs.delivery, events, self.cal, m, self.events_per_month, self.clean, self.redeliver_day
        )
        pending = planned if self.carry is None else pl.concat([self.carry, planned], how="vertical")
        next_month_day = self.cal.month_first_day[m + 1]
        self.carry = pending.filter(pl.col("delivery_day") >= next_month_day)
        this_month = pending.filter(pl.col("delivery_day") < next_month_day)
        by_day = this_month.partition_by("delivery_day", as_dict=True)
        malformed = event_defects.malformed_days(
            self.rngs.delivery, self.cal, m, self.events_per_month, self.clean, self.redeliver_day
        )
        empty = this_month.clear()
        for day in self.cal.month_days(m):
            delivery = DayDelivery(
                day=day,
                rows=by_day.get((day,), empty),
                malformed=malformed.get(day, 0),
                redeliver=day == self.redeliver_day,
                corrupt_copy=day == self.corrupt_day,
            )
            write_event_day(self.landing, self.cal, delivery, self.rngs.files, self.tally)

    def _record_file(self, stream: str, label: str, m: int, rows: list[dict[str, Any]]) -> None:
        """The month's file of a record stream, with its defects unless clean (never in Parquet)."""
        fmt, typed = monthly_format(stream, m)
        malformed = invalid = 0
        if not self.clean and fmt != PARQUET:
            counter = {
                "users": self.state.user_changes,
                "clients": self.state.client_changes,
                "coach_profiles": self.state.profile_changes,
            }.get(stream)
            new_id = (lambda: ids.make_id(CHANGE_IDS[stream], counter.next())) if counter else None
            injected = entity_defects.inject(self.rngs.defects, stream, rows, new_id)
            rows, malformed, invalid = injected.rows, injected.malformed, injected.invalid_rows
            for name, n in injected.counts.items():
                self.tally.defect(stream, name, n)
        contract = self.contracts[stream]
        records.write_month(self.landing, contract, label, rows, fmt, typed, self.tally, self.rngs.defects, malformed)
        self.tally.valid[stream] += len(rows) - invalid


def generate(
    out_dir: Path,
    *,
    seed: int = 7,
    coaches: int = 40,
    months: int = 3,
    events_per_month: int = 6000,
    start_month: str = "2026-09",
    clean: bool = False,
) -> GenerationSummary:
    """Write `out_dir/<stream>/<files>` for the six streams and return what was written.

    Same arguments, same bytes. `clean=True` injects no defects (no malformed, invalid, duplicate,
    late or contradicting records, no redelivered or corrupt file, no tampered checksum). Raises
    CoachwhError for bad arguments or when `out_dir` holds files of another dataset.
    """
    _check_args(coaches, months, events_per_month)
    try:
        cal = Calendar.build(start_month, months)
    except ValueError as exc:
        raise CoachwhError(str(exc)) from exc
    landing = Path(out_dir)
    _prepare(landing, layout.expected_files(cal, clean))
    rngs = _Rngs(seed)
    fake = Faker([loc.faker for loc in LOCALES])
    fake.seed_instance(seed)
    pop = build_population(rngs.population, fake, coaches, cal)
    run = _Run(landing, cal, pop, rngs, events_per_month, clean)
    for m in range(months):
        run.month(m)
    summary = GenerationSummary(
        out_dir=str(landing),
        seed=seed,
        coaches=coaches,
        months=months,
        events_per_month=events_per_month,
        start_month=start_month,
        clean=clean,
    )
    return run.tally.finish(summary, STREAMS)


def _check_args(coaches: int, months: int, events_per_month: int) -> None:
    if coaches < 1:
        raise CoachwhError("coaches must be at least 1")
    if not 1 <= months <= 120:
        raise CoachwhError("months must be between 1 and 120")
    if events_per_month < 10:
        raise CoachwhError("events_per_month must be at least 10")


def _prepare(landing: Path, expected: dict[str, set[str]]) -> None:
    """Create the stream folders; refuse to mix this dataset into files of another one."""
    for stream in STREAMS:
        folder = landing / stream
        if folder.is_dir():
            foreign = sorted(
                p.name
                for p in folder.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.name not in expected[stream]
            )
            if foreign:
                raise CoachwhError(
                    f"{folder} holds files of another dataset ({', '.join(foreign[:3])}...); "
                    "generate into an empty landing directory or remove the old files first"
                )
        folder.mkdir(parents=True, exist_ok=True)
