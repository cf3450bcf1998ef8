"""What a generation wrote: records and files per stream, and every injected defect, counted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

# Defect names, in the order they are reported. Each is counted where it was written.
DEFECTS: tuple[str, ...] = (
    "malformed_lines",
    "naive_timestamps",
    "missing_required",
    "bad_enum",
    "negative_duration",
    "conflicting_duplicates",
    "exact_duplicates",
    "duplicate_files",
    "late_events",
    "extra_field_records",
    "corrupt_files",
    "contradicting_terminal_events",
    "tampered_audit_checksums",
)


@dataclass
class GenerationSummary:
    """Counts of one `generate()` run.

    `records[stream]` counts every line / row written to a readable file, defective ones and the
    redelivered copy included (what an ingestion reads); the corrupt file's content is not counted.
    `valid_unique_records[stream]` is what a correct ingestion loads into `raw.<stream>`: valid
    records, first delivery of each primary key. Defect counts are per line / row as written in the
    original deliveries: the redelivered copy of a file is counted once, under `duplicate_files`.
    """

    out_dir: str
    seed: int
    coaches: int
    months: int
    events_per_month: int
    start_month: str
    clean: bool
    records: dict[str, int] = field(default_factory=dict)
    valid_unique_records: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    malformed_lines: int = 0
    naive_timestamps: int = 0
    missing_required: int = 0
    bad_enum: int = 0
    negative_duration: int = 0
    conflicting_duplicates: int = 0
    exact_duplicates: int = 0
    duplicate_files: int = 0
    late_events: int = 0
    extra_field_records: int = 0
    corrupt_files: int = 0
    contradicting_terminal_events: int = 0
    tampered_audit_checksums: int = 0
    defects_by_stream: dict[str, dict[str, int]] = field(default_factory=dict)
    redelivered_files: list[str] = field(default_factory=list)
    corrupt_file_paths: list[str] = field(default_factory=list)

    @property
    def defects(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in DEFECTS}

    @property
    def total_defects(self) -> int:
        return sum(self.defects.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tally:
    """Accumulates counts while files are written; `finish` turns them into the summary."""

    def __init__(self) -> None:
        self.records: dict[str, int] = defaultdict(int)
        self.valid: dict[str, int] = defaultdict(int)
        self.files: dict[str, int] = defaultdict(int)
        self.defects: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.redelivered: list[str] = []
        self.corrupt: list[str] = []

    def defect(self, stream: str, name: str, n: int = 1) -> None:
        if name not in DEFECTS:
            raise KeyError(name)
        if n:
            self.defects[stream][name] += int(n)

    def finish(self, summary: GenerationSummary, streams: tuple[str, ...]) -> GenerationSummary:
        summary.records = {s: int(self.records.get(s, 0)) for s in streams}
        summary.valid_unique_records = {s: int(self.valid.get(s, 0)) for s in streams}
        summary.files = {fmt: int(self.files.get(fmt, 0)) for fmt in ("jsonl", "jsonl.gz", "parquet")}
        for name in DEFECTS:
            setattr(summary, name, sum(d.get(name, 0) for d in self.defects.values()))
        summary.defects_by_stream = {
            s: {name: int(self.defects[s][name]) for name in DEFECTS if self.defects[s].get(name)}
            for s in streams
            if s in self.defects
        }
        summary.redelivered_files = list(self.redelivered)
        summary.corrupt_file_paths = list(self.corrupt)
        return summary
