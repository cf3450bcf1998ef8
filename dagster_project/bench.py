"""`coachwh bench`: end-to-end and per-stage timings at 1M and 10M events, against a plain-DuckDB floor.

Everything is measured in one invocation on this machine, so the ratios are comparable even when
the machine is noisy; absolute seconds are not. Results go to a JSON file and to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from dagster_project.config import PROJECT_ROOT
from dagster_project.runner import STAGES, stage_of

# Builds run as of the first day of the data's second month, when no month is due for closing;
# the close of the first month is then timed on its own (as of just past its grace period).
AS_OF = "2026-10-01T00:00:00Z"
CLOSE_MONTH, CLOSE_AS_OF = "2026-09", "2026-10-05T00:00:00Z"
FLOOR_SQL = Path(__file__).with_name("bench_floor.sql")


class ProcessSampler:
    """Samples a process tree's resident memory, and the machine's CPU use, until the process ends."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        # (epoch seconds, percent of all cores busy since the previous sample)
        self.cpu: list[tuple[float, float]] = []
        self._pid = pid
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        psutil.cpu_percent(None)  # starts the interval the first sample measures
        try:
            root = psutil.Process(self._pid)
            while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
                total = 0
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += proc.memory_info().rss
                self.peak = max(self.peak, total)
                time.sleep(0.1)
                self.cpu.append((time.time(), psutil.cpu_percent(None)))
        except psutil.Error:
            return

    def stop(self) -> int:
        self._thread.join(timeout=1)
        return self.peak

    def busy_percent(self, spans: list[tuple[float, float]] | None = None) -> float | None:
        """Mean CPU use of the samples inside the spans (all samples when None); None without samples."""
        samples = [v for t, v in self.cpu if spans is None or any(a <= t <= b for a, b in spans)]
        return round(statistics.fmean(samples), 1) if samples else None


def cpu_by_stage(sampler: ProcessSampler, step_spans: dict[str, list[float]]) -> dict[str, float | None]:
    """How busy the machine's cores were over a run and over each of its stages (runner.stage_of)."""
    spans: dict[str, list[tuple[float, float]]] = {stage: [] for stage in STAGES}
    for step, (start, end) in step_spans.items():
        spans[stage_of(step)].append((start, end))
    out: dict[str, float | None] = {"run": sampler.busy_percent()}
    out.update({stage: sampler.busy_percent(found) if found else None for stage, found in spans.items()})
    return out


def _timed(cmd: list[str], env: dict[str, str], timings: Path | None = None) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = ProcessSampler(proc.pid)
    output, _ = proc.communicate()
    seconds = time.monotonic() - started
    result = {"seconds": round(seconds, 2), "peak_rss_mb": round(sampler.stop() / 2**20), "exit_code": proc.returncode,
              "output_tail": output.strip().splitlines()[-12:]}
    if timings is not None and timings.exists():
        result.update(json.loads(timings.read_text()))
        result["cpu_busy_percent"] = cpu_by_stage(sampler, result.get("step_spans", {}))
    else:
        result["cpu_busy_percent"] = {"run": sampler.busy_percent()}
    return result


def _dataset(n_events: int, workdir: Path) -> Path:
    """Generate (or reuse) a landing zone of about n_events transcription events."""
    months = max(1, n_events // 1_000_000)
    params = {"seed": 11, "coaches": min(10_000, max(200, n_events // 1000)), "months": months,
              "events_per_month": n_events // months, "start_month": "2026-09"}
    landing = workdir / f"events_{n_events}" / "landing"
    marker = landing / ".bench_params.json"
    if marker.exists() and json.loads(marker.read_text()) == params:
        return landing
    if landing.exists():
        shutil.rmtree(landing)
    from dagster_project.simulator import generate

    print(f"  generating {n_events:,} events ({params}) ...", flush=True)
    started = time.monotonic()
    generate(landing, **params)
    print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)
    marker.write_text(json.dumps(params))
    return landing


def _new_day(landing: Path) -> int:
    """Add one more day of events (a copy of the last day with fresh ids, a day later)."""
    import polars as pl

    days = sorted((landing / "transcription_events").glob("*.jsonl"))
    source = [d for d in days if "redelivered" not in d.name][-1]
    lines = [line for line in source.read_text().splitlines() if line.startswith("{")]
    frame = pl.read_ndjson("\n".join(lines).encode(), infer_schema_length=None, ignore_errors=True)
    frame = frame.drop_nulls("event_id")
    for column in ("event_id", "attempt_id", "session_id"):
        frame = frame.with_columns(pl.col(column) + "_nd")
    frame = frame.with_columns(
        pl.col("occurred_at").str.to_datetime(time_zone="UTC", strict=False).dt.offset_by("1d")
        .dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").alias("occurred_at")
    ).drop_nulls("occurred_at")
    frame.write_ndjson(landing / "transcription_events" / "zz-new-day.jsonl")
    return frame.height


def _readable_json_files(landing: Path) -> list[str]:
    """The JSON-lines files a plain script could read (the simulator ships one corrupt gzip)."""
    import gzip

    readable = []
    for path in sorted((landing / "transcription_events").glob("*.jsonl*")):
        if path.name.endswith(".gz"):
            try:
                with gzip.open(path) as handle:
                    while handle.read(1 << 20):
                        pass
            except (OSError, EOFError):
                continue
        readable.append(str(path))
    return readable


def _floor(landing: Path, env: dict[str, str]) -> dict[str, Any]:
    files = "[" + ", ".join("'" + f + "'" for f in _readable_json_files(landing)) + "]"
    script = (
        "import duckdb, sys, pathlib\n"
        "sql = pathlib.Path(sys.argv[1]).read_text().replace('{landing}', sys.argv[2]).replace('{json_files}', sys.argv[5])\n"
        "con = duckdb.connect(config={'memory_limit': sys.argv[3], 'threads': sys.argv[4]})\n"
        "con.execute(\"set TimeZone='UTC'\")\n"
        "for stmt in [s for s in sql.split(';') if s.strip()]:\n"
        "    rows = con.execute(stmt).fetchall()\n"
        "print(rows)\n"
    )
    return _timed([sys.executable, "-c", script, str(FLOOR_SQL), str(landing), env["COACHWH_DUCKDB_MEMORY_LIMIT"],
                   env["COACHWH_DUCKDB_THREADS"], files], env)


def _query_latency(duckdb_path: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    user_id, month = con.execute(
        "select user_id, usage_month from marts.usage_analytics order by total_transcriptions desc limit 1"
    ).fetchall()[0]
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        con.execute("select * from marts.usage_analytics where user_id = ? and usage_month = ?", [user_id, month]).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    con.close()
    return {"median_ms": round(statistics.median(timings), 2), "p95_ms": round(sorted(timings)[47], 2)}


def _run_env(home: Path, landing: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHWH_") and k != "DAGSTER_HOME"}
    env.update({"COACHWH_HOME": str(home), "COACHWH_LANDING_DIR": str(landing),
                "COACHWH_DUCKDB_MEMORY_LIMIT": os.environ.get("COACHWH_DUCKDB_MEMORY_LIMIT", "6GB"),
                "COACHWH_DUCKDB_THREADS": os.environ.get("COACHWH_DUCKDB_THREADS", "2")})
    return env


def _coachwh_run(env: dict[str, str], timings: Path) -> dict[str, Any]:
    return _timed([sys.executable, "-m", "dagster_project.cli", "run", "--as-of", AS_OF,
                   "--timings-json", str(timings)], env, timings)


def _empty_run(folder: Path) -> dict[str, Any]:
    """`coachwh run` in a new home on an empty landing directory: what every run pays before its first row.

    Process start, Dagster's run, dbt's start and parse, every dbt node and check on empty tables,
    and the Python assets: set beside the floor, it shows how much of the ratio no data work can remove.
    """
    home, landing = folder / "empty_home", folder / "empty_landing"
    for path in (home, landing):
        if path.exists():
            shutil.rmtree(path)
    landing.mkdir(parents=True)
    return _coachwh_run(_run_env(home, landing), folder / "timings_empty.json")


def bench_size(n_events: int, workdir: Path) -> dict[str, Any]:
    print(f"== {n_events:,} events", flush=True)
    landing = _dataset(n_events, workdir)
    for extra in (landing / "transcription_events").glob("zz-new-day*"):
        extra.unlink()
    home = workdir / f"events_{n_events}" / "home"
    if home.exists():
        shutil.rmtree(home)
    env = _run_env(home, landing)
    result: dict[str, Any] = {"events": n_events}
    print("  floor (plain DuckDB) ...", flush=True)
    result["floor"] = _floor(landing, env)
    print("  coachwh run (no landing files: the fixed cost) ...", flush=True)
    result["empty_run"] = _empty_run(workdir / f"events_{n_events}")
    print("  coachwh run (full) ...", flush=True)
    result["full_run"] = _coachwh_run(env, home.parent / "timings_full.json")
    floor = max(result["floor"]["seconds"], 0.001)
    result["ratio_to_floor"] = round(result["full_run"]["seconds"] / floor, 2)
    result["empty_run_ratio_to_floor"] = round(result["empty_run"]["seconds"] / floor, 2)
    print("  coachwh run (nothing new) ...", flush=True)
    result["noop_run"] = _coachwh_run(env, home.parent / "timings_noop.json")
    result["new_day_events"] = _new_day(landing)
    print(f"  coachwh run (one new day, {result['new_day_events']:,} events) ...", flush=True)
    result["new_day_run"] = _coachwh_run(env, home.parent / "timings_new_day.json")
    result["usage_analytics_query"] = _query_latency(home / "coachwh.duckdb")
    print(f"  coachwh billing close --month {CLOSE_MONTH} ...", flush=True)
    result["close_month"] = _timed([sys.executable, "-m", "dagster_project.cli", "billing", "close",
                                    "--month", CLOSE_MONTH, "--as-of", CLOSE_AS_OF], env)
    # The close job archives the month it closes; a forced rewrite times the export by itself.
    print(f"  coachwh archive --month {CLOSE_MONTH} --force ...", flush=True)
    result["archive_month"] = _timed([sys.executable, "-m", "dagster_project.cli", "archive", "--month", CLOSE_MONTH,
                                      "--force", "--reason", "benchmark: time the export"], env)
    result["archive_verify"] = _timed([sys.executable, "-m", "dagster_project.cli", "archive", "verify",
                                       "--month", CLOSE_MONTH], env)
    result["dashboard"] = _dashboard_load(home / "reports" / "admin_dashboard.html")
    for extra in (landing / "transcription_events").glob("zz-new-day*"):
        extra.unlink()
    return result


def _dashboard_load(html: Path) -> dict[str, Any]:
    """Cold loads of the dashboard the runs built, in headless Chromium (median of three)."""
    from dagster_project.reporting.browser import browser_unavailable_reason, measure_load_seconds

    reason = browser_unavailable_reason()
    if reason or not html.exists():
        return {"skipped": reason or f"{html} was not built"}
    loads = sorted(measure_load_seconds(html) for _ in range(3))
    return {"size_mb": round(html.stat().st_size / 2**20, 2), "load_seconds": [round(x, 3) for x in loads],
            "median_load_seconds": round(loads[1], 3)}


def ingest_rates(landing: Path, workdir: Path) -> dict[str, Any]:
    """Records per second of ingestion alone, per format, on the transcription events of a dataset."""
    from dagster_project.config import Settings
    from dagster_project.ingestion import ingest_landing
    from dagster_project.warehouse import open_connection

    rates: dict[str, Any] = {}
    for fmt, pattern in (("parquet", "*.parquet"), ("jsonl", "*.jsonl"), ("jsonl.gz", "*.jsonl.gz")):
        scratch = workdir / f"ingest_{fmt}"
        if scratch.exists():
            shutil.rmtree(scratch)
        (scratch / "landing" / "transcription_events").mkdir(parents=True)
        for path in (landing / "transcription_events").glob(pattern):
            (scratch / "landing" / "transcription_events" / path.name).symlink_to(path)
        os.environ.update({"COACHWH_HOME": str(scratch), "COACHWH_LANDING_DIR": str(scratch / "landing")})
        os.environ.pop("COACHWH_DUCKDB_PATH", None)
        settings = Settings.from_env()
        conn = open_connection(settings)
        started = time.monotonic()
        report = ingest_landing(settings, conn)
        seconds = time.monotonic() - started
        conn.close()
        rows = report.total("rows_read")
        rates[fmt] = {"records": rows, "seconds": round(seconds, 2), "records_per_second": round(rows / seconds)}
        shutil.rmtree(scratch)
    return rates


def _report(results: dict[str, Any]) -> None:
    print("\n| events | floor s | coachwh run s | ratio | empty run s (ratio) | ingest s | dbt build s | checks s | peak RSS MB | no-op run s | new-day run s | query ms | close month s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["sizes"]:
        full = r["full_run"]
        stages = full.get("stages", {})
        print(f"| {r['events']:,} | {r['floor']['seconds']} | {full['seconds']} | {r['ratio_to_floor']} | "
              f"{r['empty_run']['seconds']} ({r['empty_run_ratio_to_floor']}) | "
              f"{stages.get('ingest', '?')} | {stages.get('dbt_build', '?')} | {stages.get('checks', '?')} | "
              f"{full['peak_rss_mb']} | {r['noop_run']['seconds']} | {r['new_day_run']['seconds']} | "
              f"{r['usage_analytics_query']['median_ms']} | {r['close_month']['seconds']} |")
    for r in results["sizes"]:
        dash = r.get("dashboard", {})
        print(f"{r['events']:,} events: archive one month {r.get('archive_month', {}).get('seconds', '?')} s, "
              f"verify {r.get('archive_verify', {}).get('seconds', '?')} s; dashboard "
              + (f"{dash['size_mb']} MB, loads in {dash['median_load_seconds']} s" if "median_load_seconds" in dash
                 else f"not measured ({dash.get('skipped', '?')})"))
    for r in results["sizes"]:
        for name in ("floor", "empty_run", "full_run", "noop_run", "new_day_run"):
            busy = r.get(name, {}).get("cpu_busy_percent", {})
            print(f"{r['events']:,} events, {name}: cores busy " + ", ".join(
                f"{stage} {value}%" for stage, value in busy.items() if value is not None))
    for fmt, rate in results.get("ingest_rates", {}).items():
        print(f"ingest {fmt}: {rate['records_per_second']:,} records/s ({rate['records']:,} in {rate['seconds']} s)")


def main(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    workdir = Path(args.workdir).expanduser()
    workdir = (workdir if workdir.is_absolute() else PROJECT_ROOT / workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version()},
        "sizes": [],
    }
    for n in sizes:
        results["sizes"].append(bench_size(n, workdir))
    # Per-format rates on the largest dataset: on a small one, fixed per-batch costs dominate.
    print("== ingestion rate per format (largest dataset) ...", flush=True)
    results["ingest_rates"] = ingest_rates(_dataset(max(sizes), workdir), workdir)
    output = Path(args.output)
    output = output if output.is_absolute() else PROJECT_ROOT / output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    _report(results)
    print(f"\nresults written to {output}")
    return 0
