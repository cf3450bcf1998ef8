"""`coachwh`: headless use of the same Dagster definitions the UI shows.

Errors a user can cause are printed as one line that says what to do, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from dagster_project.audit.cli_commands import add_audit_commands
from dagster_project.config import Settings
from dagster_project.console import print_table
from dagster_project.errors import CoachwhError
from dagster_project.governance.cli_commands import add_gdpr_commands
from dagster_project.governance.retention_cli import add_retention_command
from dagster_project.reporting.archive_cli import add_archive_commands
from dagster_project.reporting.dashboard_cli import add_report_command


def _print_run(outcome) -> None:
    ing = outcome.ingestion
    if ing:
        print(
            f"ingestion: {ing.get('new_files', 0)} new files, {ing.get('rows_read', 0)} records read, "
            f"{ing.get('rows_ingested', 0)} loaded"
        )
        summary = ing.get("summary")
        if summary and ing.get("new_files"):
            print(summary)
    close = outcome.materializations.get("billing/monthly_close")
    if close:
        print(
            f"billing close {close['billing_month']}: "
            f"{'closed now' if close['newly_closed'] else 'already closed'}, {close['statements']} statements, "
            f"{close['adjustments_frozen']} adjustments frozen, month digest {close['month_digest']}; "
            f"months closed by this run: {close['months_closed_by_this_run']}"
        )
    archive = outcome.materializations.get("reporting/monthly_archive")
    if archive:
        print(f"billing archive {archive['billing_month']}: {archive['status']} in {archive['path']}; "
              f"months archived by this run: {archive['months_archived_by_this_run']}"
              + (f"; kept, though it no longer matches: {archive['difference']}" if archive.get("difference") else ""))
    dashboard = outcome.materializations.get("reporting/admin_dashboard")
    if dashboard:
        print(f"admin dashboard: {dashboard['path']} (open it in a browser; `coachwh report` rebuilds it)")
    if outcome.checks:
        passed = sum(c.passed for c in outcome.checks)
        print(f"checks: {passed} of {len(outcome.checks)} passed")
    for check in outcome.warnings:
        print(f"  warning: {check.asset} {check.name} did not pass (severity WARN, not blocking)")
    for check in outcome.blocking_failures:
        print(f"  FAILED: {check.asset} {check.name} (severity ERROR, blocking)")
    if outcome.error:
        print(f"run failed: {outcome.error}")
    status = "succeeded" if outcome.exit_code == 0 else "FAILED"
    print(f"run {outcome.run_id} {status} in {outcome.seconds:.1f} s (dbt log: {outcome.log_path})")


def _require_landing(settings: Settings) -> None:
    landing = settings.landing_dir
    if not landing.exists():
        raise CoachwhError(
            f"landing directory {landing} does not exist; create it, set COACHWH_LANDING_DIR, "
            f"or run `coachwh demo` to generate one"
        )
    if not landing.is_dir():
        raise CoachwhError(f"landing path {landing} is not a directory; fix COACHWH_LANDING_DIR")


def cmd_run(args: argparse.Namespace) -> int:
    from dagster_project.asof import resolve_as_of
    from dagster_project.runner import run_build

    settings = Settings.from_env()
    if args.as_of:
        resolve_as_of(args.as_of)  # fail fast with a one-line message
    _require_landing(settings)
    _warn_about_pseudonym_key(settings)
    if args.full_refresh and not args.reason:
        raise CoachwhError("--full-refresh needs --reason \"why\": full refreshes are recorded with their reason")
    if args.full_refresh:
        outcome = run_build(as_of=args.as_of or "", full_refresh=True, reason=args.reason)
        _print_run(outcome)
        outcome = (_close_due(args.as_of or "") or outcome) if outcome.exit_code == 0 else outcome
    else:
        outcome = _run_and_close(args.as_of or "")
    print(f"warehouse: {settings.duckdb_path}")
    if args.timings_json:
        Path(args.timings_json).write_text(json.dumps(
            {"stages": outcome.stages(), "steps": outcome.step_seconds, "step_spans": outcome.step_spans}
        ))
    return outcome.exit_code


def _warn_about_pseudonym_key(settings: Settings) -> None:
    """Say once, where the user sees it, that the anonymized views use a local key (spec §4.3)."""
    import os

    from dagster_project.governance.pseudonyms import KEY_FILE_NAME

    if os.environ.get("COACHWH_PSEUDONYM_KEY") or settings.is_production:
        return
    print(f"warning: COACHWH_PSEUDONYM_KEY is not set; the anonymized views use a local key in "
          f"{settings.secrets_dir / KEY_FILE_NAME} (created if missing). Set COACHWH_PSEUDONYM_KEY in production.")


def _close_due(as_of: str):
    from dagster_project.runner import close_due_months

    close, skipped = close_due_months(as_of)
    if close is not None:
        _print_run(close)
    for month in skipped:
        print(f"billing: {month} is due as of --as-of but is not a billing partition yet (a future month); left open")
    return close


def cmd_billing_close(args: argparse.Namespace) -> int:
    from datetime import datetime

    from dagster_project.asof import resolve_as_of
    from dagster_project.billing.close import closes_at, parse_month
    from dagster_project.runner import run_close

    settings = Settings.from_env()
    month = parse_month(args.month)
    as_of = resolve_as_of(args.as_of or "")
    if closes_at(month, settings.grace_days) > datetime.fromisoformat(as_of):
        # The same refusal the close asset gives, without starting a run.
        raise CoachwhError(
            f"{month:%Y-%m} cannot be closed before {closes_at(month, settings.grace_days).isoformat()} "
            f"(its end plus {settings.grace_days} days' grace); as of {as_of} it is still open"
        )
    if not settings.duckdb_path.exists():
        raise CoachwhError(f"no warehouse at {settings.duckdb_path}; build it first with `coachwh run`")
    outcome = run_close(f"{month:%Y-%m}", as_of=args.as_of or "")
    _print_run(outcome)
    return outcome.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    from dagster_project.runner import run_checks

    settings = Settings.from_env()
    if not settings.duckdb_path.exists():
        raise CoachwhError(f"no warehouse at {settings.duckdb_path}; build it first with `coachwh run`")
    outcome = run_checks()
    _print_run(outcome)
    return outcome.exit_code


def _generate(out: Path, args: argparse.Namespace):
    from dagster_project.simulator import generate

    return generate(
        out, seed=args.seed, coaches=args.coaches, months=args.months,
        events_per_month=args.events_per_month, start_month=args.start_month,
    )


def cmd_generate(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser().resolve()
    summary = _generate(out, args)
    print(f"generated a platform dataset in {out}")
    for key, value in summary.to_dict().items():
        print(f"  {key}: {value}")
    return 0


def _headline(settings: Settings) -> None:
    from dagster_project.audit.trail import verify
    from dagster_project.warehouse import connection

    with connection(settings, read_only=True) as conn:
        logs, billable, cost, users, months = conn.execute(
            "select count(*), count(*) filter (where is_billable), coalesce(sum(cost_usd), 0), "
            "count(distinct user_id), count(distinct usage_month) from marts.usage_logs"
        ).fetchall()[0]
        quarantined = conn.execute("select count(*) from raw.quarantine").fetchall()[0][0]
        by_type = conn.execute(
            "select transcription_type, count(*) from marts.usage_logs group by all order by 1"
        ).fetchall()
    print("\nheadline figures")
    print(f"  usage logs: {logs} ({billable} billable) from {users} coaches over {months} months")
    print("  by type: " + ", ".join(f"{t} {n}" for t, n in by_type))
    print(f"  usage charges: {cost} USD")
    print(f"  quarantined records: {quarantined} (see raw.quarantine)")
    with connection(settings, read_only=True) as conn:
        closed = [m for (m,) in conn.execute(
            "select strftime(billing_month, '%Y-%m') from billing.closed_months order by 1").fetchall()]
        statements, revenue = conn.execute(
            "select count(*), coalesce(sum(total_usd), 0) from marts.billing_statements").fetchall()[0]
        adjustments, adjusted = conn.execute(
            "select count(*), coalesce(sum(delta_usage_charges_usd), 0) from marts.billing_adjustments").fetchall()[0]
    print(f"  billing: {statements} statements, {revenue} USD in total; closed months: {', '.join(closed) or 'none'}")
    print(f"  adjustments for late data after a close: {adjustments} ({adjusted} USD; see marts.billing_adjustments)")
    with connection(settings, read_only=True) as conn:
        requests = conn.execute(
            "select status, count(*) from marts.gdpr_requests group by all order by all").fetchall()
        lifecycle = conn.execute(
            "select lifecycle_status, count(*) from marts.dim_clients group by all order by all").fetchall()
        views = conn.execute(
            "select count(*) from duckdb_views() where schema_name = 'anonymized'").fetchall()[0][0]
        retention = conn.execute(
            "select data_category, acted_on from governance.retention_runs where not is_dry_run and acted_on > 0 "
            "and retention_run_id = (select max(retention_run_id) from governance.retention_runs) order by 1"
        ).fetchall()
        chain = verify(conn)
        mismatches = conn.execute(
            "select count(*) from marts.platform_audit_events where not is_checksum_valid").fetchall()[0][0]
    print("  GDPR requests: " + (", ".join(f"{s} {n}" for s, n in requests) or "none") + " (see marts.gdpr_requests)")
    print("  clients by lifecycle: " + ", ".join(f"{s} {n}" for s, n in lifecycle))
    print(f"  anonymized schema: {views} views with keyed pseudonyms for analysts")
    print("  retention: " + (", ".join(f"{c} {n}" for c, n in retention) or "nothing past its policy")
          + " (see marts.retention_runs)")
    print(f"  audit trail: {chain.summary()} (audit.audit_logs; keep the head: coachwh audit digest)")
    print(f"  platform audit events with a mismatching checksum: {mismatches} (flagged, kept; "
          f"see marts.platform_audit_events)")


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate a dataset and build it in two deliveries, closing months in between.

    First the files delivered until the day after the second-to-last month closes, built as of
    that day (so the earlier months close); then the rest, built as of --as-of (default now). Late
    events of a closed month in the second delivery show up as billing adjustments.
    """
    import tempfile
    from datetime import timedelta

    from dagster_project.billing.close import closes_at, parse_month
    from dagster_project.simulator.delivery import deliver

    settings = Settings.from_env()
    _warn_about_pseudonym_key(settings)
    landing = settings.landing_dir
    if landing.exists() and args.fresh:
        shutil.rmtree(landing)
    last_month = parse_month(args.start_month)
    for _ in range(args.months - 2):
        last_month = (last_month.replace(day=28) + timedelta(days=4)).replace(day=1)
    first_as_of = closes_at(last_month, settings.grace_days) + timedelta(days=1) if args.months >= 2 else None
    with tempfile.TemporaryDirectory(prefix="coachwh-simulated-") as scratch:
        print(f"generating a platform dataset ({args.coaches} coaches, {args.months} months) ...")
        summary = _generate(Path(scratch), args)
        records = summary.to_dict().get("records", {})
        print("  records: " + ", ".join(f"{stream} {n}" for stream, n in records.items()))
        waves = [(first_as_of.date(), None, first_as_of.isoformat()), (None, first_as_of.date(), args.as_of or "")] \
            if first_as_of else [(None, None, args.as_of or "")]
        for number, (before, since, as_of) in enumerate(waves, start=1):
            copied = deliver(Path(scratch), landing, before=before, since=since)
            when = f"as of {as_of}" if as_of else "as of now"
            print(f"\ndelivery {number} of {len(waves)}: {copied} files into {landing}; building {when} ...")
            outcome = _run_and_close(as_of)
            if outcome.exit_code != 0:
                break
    if outcome.exit_code == 0:
        from dagster_project.governance.retention_cli import cmd_retention

        print("\nenforcing the retention policies (the daily `retention_daily` job) ...")
        outcome_code = cmd_retention(argparse.Namespace(dry_run=False, as_of=args.as_of or ""))
        if outcome_code != 0:
            return outcome_code
        _headline(settings)
    print(f"\nwarehouse: {settings.duckdb_path}")
    print('query it:  coachwh sql "select * from marts.billing_statements limit 10"')
    print("open the Dagster UI:  make ui   (then http://127.0.0.1:3000)")
    return outcome.exit_code


def _run_and_close(as_of: str):
    from dagster_project.runner import run_build

    outcome = run_build(as_of=as_of)
    _print_run(outcome)
    if outcome.exit_code == 0:
        outcome = _close_due(as_of) or outcome
    return outcome


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from dagster_project.warehouse import open_connection

    settings = Settings.from_env()
    conn = open_connection(settings, read_only=True, wait_seconds=5)
    try:
        result = conn.execute(args.query)
        if result.description is None:
            return 0
        columns = [d[0] for d in result.description]
        rows = result.fetchmany(args.limit + 1)
    except duckdb.Error as exc:
        raise CoachwhError(f"query failed: {str(exc).splitlines()[0]}") from exc
    finally:
        conn.close()
    print_table(columns, rows[: args.limit])
    if len(rows) > args.limit:
        print(f"(first {args.limit} rows shown; use --limit to see more)")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start `dagster dev` with the same settings and Dagster instance as the CLI's runs."""
    import os

    from dagster_project.config import PROJECT_ROOT
    from dagster_project.dbt_project import ensure_manifest

    Settings.from_env().export()  # also points DAGSTER_HOME at COACHWH_HOME/dagster
    ensure_manifest()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster) if dagster.exists() else "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
               "-h", args.host, "-p", str(args.port)]
    print(f"starting the Dagster UI on http://{args.host}:{args.port} (ready in about 40 s; Ctrl-C stops it)")
    os.chdir(PROJECT_ROOT)
    os.execvp(command[0], command)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from dagster_project.bench import main as bench_main

    return bench_main(args)


def _add_generation_options(parser: argparse.ArgumentParser, events_default: int) -> None:
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same files)")
    parser.add_argument("--coaches", type=int, default=40, help="number of coach accounts")
    parser.add_argument("--months", type=int, default=3, help="number of calendar months")
    parser.add_argument("--events-per-month", type=int, default=events_default, help="transcription events a month")
    parser.add_argument("--start-month", default="2026-09", help="first month, YYYY-MM")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coachwh", description="The Coaching Assistant Platform's warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process the landing zone and build everything that is due")
    run.add_argument("--as-of", help="act as of this instant (ISO-8601 with offset), default now")
    run.add_argument("--full-refresh", action="store_true", help="rebuild incremental models (never drops usage logs)")
    run.add_argument("--reason", help="why (required with --full-refresh)")
    run.add_argument("--timings-json", help=argparse.SUPPRESS)  # written by the benchmark
    run.set_defaults(func=cmd_run)

    billing = sub.add_parser("billing", help="monthly billing")
    billing_sub = billing.add_subparsers(dest="billing_command", required=True)
    close = billing_sub.add_parser("close", help="close a billing month (and any earlier month still open)")
    close.add_argument("--month", required=True, help="the billing month, YYYY-MM")
    close.add_argument("--as-of", help="act as of this instant (ISO-8601 with offset), default now")
    close.set_defaults(func=cmd_billing_close)

    check = sub.add_parser("check", help="run every asset check without rebuilding")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="generate a realistic platform dataset and build everything")
    _add_generation_options(demo, events_default=6000)
    demo.add_argument("--as-of", help="act as of this instant, default now")
    demo.add_argument("--fresh", action="store_true", help="delete the landing directory first")
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser("generate", help="write a simulated landing zone to --out")
    gen.add_argument("--out", required=True, help="directory to write <stream>/<files> into")
    _add_generation_options(gen, events_default=6000)
    gen.set_defaults(func=cmd_generate)

    sql = sub.add_parser("sql", help="run a read-only SQL query against the warehouse")
    sql.add_argument("query")
    sql.add_argument("--limit", type=int, default=100, help="rows to print (default 100)")
    sql.set_defaults(func=cmd_sql)

    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on the same warehouse")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    add_gdpr_commands(sub)
    add_audit_commands(sub)
    add_retention_command(sub)
    add_archive_commands(sub)
    add_report_command(sub)

    bench = sub.add_parser("bench", help="benchmark ingestion and builds at 1M and 10M events")
    bench.add_argument("--sizes", default="1000000,10000000", help="comma-separated event counts")
    bench.add_argument("--workdir", default="bench_results/tmp", help="scratch directory")
    bench.add_argument("--output", default="bench_results/latest.json", help="where to write the results")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CoachwhError as exc:
        print(f"coachwh: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("coachwh: interrupted; nothing half-loaded was kept (each batch commits atomically)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
