"""Delivering a generated landing zone in two waves, as the platform would over time.

The demo closes billing months between the waves, so that the files delivered after a close
carry late events for a closed month: the demo then shows late data booked as adjustments.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

_DAILY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_MONTHLY = re.compile(r"^(\d{4})-(\d{2})\.")


def delivery_date(path: Path) -> date | None:
    """The day a file was delivered, from its name (a monthly file: the first of its month)."""
    if match := _DAILY.match(path.name):
        return date(int(match[1]), int(match[2]), int(match[3]))
    if match := _MONTHLY.match(path.name):
        return date(int(match[1]), int(match[2]), 1)
    return None


def deliver(source: Path, landing: Path, before: date | None = None, since: date | None = None) -> int:
    """Copy the files of `source/<stream>/` delivered in [since, before) to `landing/<stream>/`."""
    copied = 0
    for path in sorted(source.glob("*/*")):
        day = delivery_date(path)
        if day is not None and ((before is not None and day >= before) or (since is not None and day < since)):
            continue
        if day is None and since is not None:
            continue  # undated files go with the first wave
        target = landing / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied += 1
    return copied
