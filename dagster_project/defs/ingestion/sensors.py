"""A sensor on the landing directory: a run is requested when files appear or change."""


import hashlib
import json
from typing import Any

import dagster as dg

from dagster_project.config import Settings
from dagster_project.errors import CoachwhError
from dagster_project.ingestion.discovery import list_landing_files


def landing_sensor_for(job: Any) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Requests a build when a file appears or changes in the landing directory.")
    def landing_directory_sensor(context: dg.SensorEvaluationContext):
        # The cursor holds fingerprints (path, size, mtime) rather than reading the warehouse:
        # the sensor must not contend for DuckDB's single write lock with a running build.
        try:
            files = list_landing_files(Settings.from_env().landing_dir)
        except CoachwhError as exc:
            return dg.SkipReason(str(exc))
        fingerprints = sorted(f.fingerprint() for f in files)
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        new = [f for f in fingerprints if f not in seen]
        if not new:
            return dg.SkipReason("no new landing files")
        context.update_cursor(json.dumps(fingerprints))
        run_key = hashlib.sha256("\n".join(new).encode()).hexdigest()[:16]
        return dg.RunRequest(run_key=run_key, tags={"coachwh/trigger": "landing_sensor",
                                                   "coachwh/new_files": str(len(new))})

    return landing_directory_sensor
