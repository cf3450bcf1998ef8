"""The instant a run acts as of (`--as-of`), normalized to UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster_project.errors import CoachwhError


def resolve_as_of(text: str) -> str:
    """Normalize an ISO-8601 timestamp with offset to a UTC ISO string; empty means now."""
    if not text:
        return datetime.now(UTC).replace(microsecond=0).isoformat()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CoachwhError(f"--as-of {text!r} is not an ISO-8601 timestamp; use e.g. 2026-11-29T00:00:00Z") from exc
    if moment.tzinfo is None:
        raise CoachwhError(f"--as-of {text!r} has no UTC offset; add one, e.g. 2026-11-29T00:00:00Z")
    return moment.astimezone(UTC).isoformat()
