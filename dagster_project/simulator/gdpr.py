"""Data-subject requests filed on the platform: a few a month (spec §2.3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dagster_project.simulator import ids
from dagster_project.simulator.event_defects import gentle
from dagster_project.simulator.population import Population
from dagster_project.simulator.timestamps import STYLE_Z
from dagster_project.simulator.window import Calendar

REQUEST_TYPES = ("access", "portability", "erasure")
REQUEST_WEIGHTS = (0.4, 0.2, 0.4)
PRIVACY_DESK = "privacy@platform"


def month_requests(
    rng: np.random.Generator,
    pop: Population,
    cal: Calendar,
    month: int,
    counter: ids.Counter,
    events_per_month: int,
) -> list[dict[str, Any]]:
    """Requests about subjects that exist when filed; coaches file their own, the privacy desk the rest."""
    start, end = cal.month_bounds_ms(month)
    times = np.sort(rng.integers(start, end, size=gentle(3, events_per_month)) // 1000 * 1000)
    rows: list[dict[str, Any]] = []
    for t in times:
        t = int(t)
        kind = REQUEST_TYPES[int(rng.choice(3, p=np.asarray(REQUEST_WEIGHTS)))]
        users = np.flatnonzero(pop.user_created_ms < t)
        clients = np.flatnonzero(pop.client_created_ms < t)
        if len(clients) and (rng.random() < 0.5 or not len(users)):
            j = int(rng.choice(clients))
            subject_type, subject_id = "client", pop.client_rows[j]["client_id"]
            by = PRIVACY_DESK if rng.random() < 0.7 else pop.client_rows[j]["user_id"]
        elif len(users):
            u = int(rng.choice(users))
            subject_type, subject_id = "user", pop.user_rows[u]["user_id"]
            by = subject_id if rng.random() < 0.6 else PRIVACY_DESK
        else:
            continue
        rows.append(
            {
                "request_id": ids.make_id(ids.GDPR_REQUEST, counter.next()),
                "requested_at": t,
                "request_type": kind,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "requested_by": by,
                "_style": STYLE_Z,
            }
        )
    return rows
