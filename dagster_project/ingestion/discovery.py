"""Finding the files of the landing zone that have not been loaded yet."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.errors import CoachwhError

# Threads that hash new landing files (at most the machine's cores).
HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))
FORMATS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz", ".parquet": "parquet"}


@dataclass(frozen=True)
class LandingFile:
    stream: str
    path: Path
    rel_path: str
    size_bytes: int
    mtime_ns: int

    @property
    def file_format(self) -> str | None:
        name = self.path.name
        for suffix, fmt in sorted(FORMATS.items(), key=lambda kv: -len(kv[0])):
            if name.endswith(suffix):
                return fmt
        return None

    def fingerprint(self) -> str:
        """Cheap identity (path, size, mtime): used to skip hashing files that were already seen."""
        return f"{self.rel_path}|{self.size_bytes}|{self.mtime_ns}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_landing_files(landing_dir: Path) -> list[LandingFile]:
    """Every regular file one level below a stream folder, in a stable order.

    Files are ordered by stream folder, then by name, so that the first delivery of a record wins
    deterministically when the same id arrives in several files.
    """
    if not landing_dir.exists():
        raise CoachwhError(
            f"landing directory {landing_dir} does not exist; create it, or point "
            f"COACHWH_LANDING_DIR at the platform's landing zone"
        )
    if not landing_dir.is_dir():
        raise CoachwhError(f"landing path {landing_dir} is not a directory; fix COACHWH_LANDING_DIR")
    files: list[LandingFile] = []
    try:
        stream_dirs = sorted(p for p in landing_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        for stream_dir in stream_dirs:
            for path in sorted(stream_dir.iterdir()):
                if not path.is_file() or path.name.startswith("."):
                    continue
                stat = path.stat()
                files.append(
                    LandingFile(
                        stream=stream_dir.name,
                        path=path,
                        rel_path=f"{stream_dir.name}/{path.name}",
                        size_bytes=stat.st_size,
                        mtime_ns=stat.st_mtime_ns,
                    )
                )
    except PermissionError as exc:
        raise CoachwhError(
            f"cannot read the landing directory {landing_dir} ({exc.strerror}); fix its permissions"
        ) from exc
    return files


@dataclass(frozen=True)
class PendingFile:
    file: LandingFile
    content_sha256: str


def pending_files(conn: duckdb.DuckDBPyConnection, files: list[LandingFile]) -> list[PendingFile]:
    """The files whose (path, content) pair is not in the ledger yet.

    A file whose path, size and mtime match a ledger row is skipped without being read; any other
    file is hashed, so a re-delivery with new content under the same name is loaded again.
    """
    seen = conn.execute(
        "select file_path, size_bytes, mtime_ns, content_sha256 from raw.ingested_files"
    ).fetchall()
    # A landing file rewritten without PII after loading (redaction.py) counts as loaded too.
    seen += conn.execute(
        "select file_path, size_bytes, mtime_ns, redacted_sha256 from raw.redacted_files"
    ).fetchall()
    by_fingerprint = {f"{p}|{s}|{m}" for p, s, m, _ in seen}
    by_content = {(p, h) for p, _, _, h in seen}
    unseen = [f for f in files if f.fingerprint() not in by_fingerprint]
    # hashlib and file reads release the GIL: hashing on every core is ~2x faster on a full landing zone.
    with ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="coachwh-sha256") as pool:
        digests = list(pool.map(lambda f: sha256_of(f.path), unseen))
    return [
        PendingFile(landing_file, digest)
        for landing_file, digest in zip(unseen, digests, strict=True)
        if (landing_file.rel_path, digest) not in by_content
    ]
