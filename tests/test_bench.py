"""The benchmark's CPU figures: samples are attributed to the stage whose steps they fall in."""

from __future__ import annotations

import subprocess
import sys

from dagster_project.bench import ProcessSampler, cpu_by_stage


def _sampler_with(samples: list[tuple[float, float]]) -> ProcessSampler:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    sampler = ProcessSampler(proc.pid)  # the process is gone: no samples of its own
    sampler.stop()
    sampler.cpu = samples
    return sampler


def test_cpu_samples_are_averaged_per_stage_from_the_steps_spans():
    sampler = _sampler_with([(1.0, 10.0), (2.0, 90.0), (3.0, 70.0), (4.0, 100.0), (5.0, 40.0), (6.0, 20.0)])
    spans = {
        "ingest_landing_files": [1.5, 3.5],
        "coachwh_dbt_models": [3.6, 4.5],
        "governance__anonymized_views": [4.6, 5.5],
        "reporting__admin_dashboard": [5.6, 6.5],
    }

    busy = cpu_by_stage(sampler, spans)

    assert busy == {"run": 55.0, "ingest": 80.0, "dbt_build": 100.0, "checks": 30.0}


def test_a_stage_with_no_step_has_no_figure():
    sampler = _sampler_with([(1.0, 50.0)])

    assert cpu_by_stage(sampler, {"ingest_landing_files": [0.5, 1.5]}) == {
        "run": 50.0, "ingest": 50.0, "dbt_build": None, "checks": None,
    }


def test_the_sampler_records_the_machines_cpu_while_a_process_runs():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    sampler = ProcessSampler(proc.pid)
    proc.wait()
    sampler.stop()

    assert sampler.peak > 0
    assert sampler.cpu and all(0.0 <= value <= 100.0 for _, value in sampler.cpu)
