"""Renders the admin dashboard: one self-contained HTML page.

plotly.js (its official "basic" bundle, vendored in reporting/vendor/ at the version of the pinned
plotly package) is inlined once; the figures and
aggregates travel as one JSON block that the page's script draws from, so the page opens from
disk in a browser with no network and no server. The Content-Security-Policy forbids every fetch.
Static parts (KPIs of the default range, compliance, checks) are rendered here, escaped; the
range-dependent parts are re-rendered by the page's script from the JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from plotly.offline import get_plotlyjs_version

from dagster_project.reporting.dashboard_figures import Chart, template_layout

# Each KPI tile: its main figure and the line under it (`{key}` marks a second figure).
KPI_TILES: tuple[tuple[str, str], ...] = (
    ("active_coaches", "distinct coaches with a usage log"),
    ("transcriptions", "completed; {failed_attempts} failed attempts"),
    ("error_rate_pct", "failed / (completed + failed)"),
    ("revenue_usd", "billing statements' totals"),
    ("provider_cost_usd", "paid to STT providers, failures included"),
    ("gross_margin_usd", "{gross_margin_pct} of revenue"),
    ("free_retry_cost_usd", "provider cost of free retries"),
)


@cache
def _template() -> str:
    return resources.files("dagster_project.reporting").joinpath("dashboard_template.html").read_text("utf-8")


# The basic bundle draws scatter, bar and pie traces: a fifth of the full plotly.min.js, whose
# compilation alone took Chromium ~0.9 s of a cold load.
BUNDLE_TRACE_TYPES = frozenset({"scatter", "bar", "pie"})


@cache
def _plotly_js() -> str:
    version = get_plotlyjs_version()
    bundle = resources.files("dagster_project.reporting").joinpath("vendor", f"plotly-basic-{version}.min.js")
    if not bundle.is_file():
        # The figures are serialized by the Python package for its own plotly.js version.
        raise RuntimeError(f"no vendored plotly-basic-{version}.min.js: see dagster_project/reporting/vendor/README.md")
    # A literal `</script` would end the inline script early; the bundle has none today.
    return bundle.read_text("utf-8").replace("</script", "<\\/script")


def _json_for_script(value: Any) -> str:
    """JSON safe inside <script>: no `<` can open a tag or close the element."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def _kpi_span(key: str, figures: dict[str, Any]) -> str:
    """A KPI figure: the exact value in data-value, the display text inside (the page's script updates both)."""
    figure = figures.get(key) or {"value": None, "display": "n/a"}
    value = "" if figure["value"] is None else figure["value"]
    return (f'<span id="kpi-{escape(key)}" data-kpi="{escape(key)}" '
            f'data-value="{escape(value)}">{escape(figure["display"])}</span>')


def _kpis(data: dict[str, Any]) -> str:
    default = data["default_range"]
    figures = data["kpis"].get(f"{default['from']}:{default['to']}", {}) if default else {}
    labels = dict(data["kpi_labels"])
    tiles = []
    for key, sub in KPI_TILES:
        sub_html = escape(sub)
        for other in labels:
            sub_html = sub_html.replace("{" + other + "}", _kpi_span(other, figures))
        tiles.append(
            f'<div class="kpi"><div class="kpi-label">{escape(labels[key])}</div>'
            f'<div class="kpi-value">{_kpi_span(key, figures)}</div><div class="kpi-sub">{sub_html}</div></div>'
        )
    return f'<h2>Key figures <small class="range-label"></small></h2><div class="kpis" id="kpis">{"".join(tiles)}</div>'


def _chart_card(chart: Chart, note: str = "", css: str = "card") -> str:
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return (f'<div class="{css}"><h3>{escape(chart.title)}</h3>{note_html}'
            f'<div class="chart" id="{escape(chart.chart_id)}" data-chart="{escape(chart.chart_id)}"></div></div>')


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None, body_id: str = "") -> str:
    numeric = numeric or set()
    head = "".join(f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{escape(_text(c))}</td>' if i in numeric else f"<td>{_cell(c)}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    tbody_id = f' id="{escape(body_id)}"' if body_id else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody{tbody_id}>{body}</tbody></table>"


def _text(value: Any) -> str:
    if value is None:
        return "\u2013"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _cell(value: Any) -> str:
    if isinstance(value, Status):
        return value.html()
    return escape(_text(value))


@dataclass(frozen=True)
class Status:
    """A cell shown as a badge coloured by its text (status-passed, status-overdue, ...)."""

    text: str

    def html(self) -> str:
        css = "status-" + self.text.lower().replace(" ", "-")
        return f'<span class="status {escape(css)}">{escape(self.text)}</span>'


def _tile(label: str, value: Any, tile_id: str) -> str:
    return f'<div class="tile" id="{escape(tile_id)}"><span>{escape(label)}</span><b>{escape(_text(value))}</b></div>'


def _compliance(data: dict[str, Any], charts: dict[str, Chart]) -> str:
    compliance = data["compliance"]
    gdpr = compliance["gdpr"]
    totals = gdpr["totals"]
    gdpr_card = (
        '<div class="card" id="gdpr"><h3>GDPR data-subject requests</h3>'
        '<p class="note">Open = not completed yet; overdue = open past its 30-day deadline.</p><div class="tiles">'
        + _tile("open", totals["open"], "gdpr-open")
        + _tile("completed", totals["completed"], "gdpr-completed")
        + _tile("overdue", totals["overdue"], "gdpr-overdue")
        + _tile("completed late", totals["completed_late"], "gdpr-completed-late")
        + "</div>"
        + _table(["type", "requests", "open", "completed", "overdue", "completed late"],
                 [[r["request_type"], r["requests"], r["open"], r["completed"], r["overdue"], r["completed_late"]]
                  for r in gdpr["by_type"]], numeric={1, 2, 3, 4, 5})
        + "</div>"
    )
    chain = compliance["audit_chain"]
    chain_card = (
        '<div class="card" id="audit-chain"><h3>Audit trail (audit.audit_logs)</h3>'
        f'<p>Hash chain: {Status("OK" if chain["ok"] else "BROKEN").html()}'
        f' &nbsp;{escape(_text(chain["records"]))} records</p>'
        f'<p class="note">{escape(chain["summary"])}</p>'
        f'<p>Head hash: <span class="mono hash" id="audit-head-hash">{escape(chain["head_hash"])}</span></p>'
        '<p class="note">Keep the head outside the warehouse and check it later with '
        '<span class="mono">coachwh audit verify --against HASH</span>.</p></div>'
    )
    retention_card = (
        '<div class="card full" id="retention"><h3>Last retention run per policy</h3>'
        '<p class="note">The latest enforcing run of each policy (dry runs left out).</p><div class="wide nowrap">'
        + _table(["policy", "action", "days", "last run", "evaluated", "acted on", "failed", "status"],
                 [[r["policy"], r["action"], r["retention_days"] if r["retention_days"] is not None else "unlimited",
                   r["last_run_at"], r["rows_evaluated"], r["rows_acted_on"], r["rows_failed"], Status(r["status"])]
                  for r in compliance["retention"]], numeric={4, 5, 6})
        + "</div></div>"
    )
    quarantine = _chart_card(charts["chart-quarantine"],
                             f"{compliance['quarantine']['total']:,} records in raw.quarantine; the reason's "
                             "detail is left out (it can name an event).", css="card full")
    return ('<h2>Compliance <small>as of now, not by range</small></h2><div class="grid">'
            + gdpr_card + chain_card + retention_card + quarantine + "</div>")


def _checks(data: dict[str, Any]) -> str:
    checks = data["checks"]
    if checks is None:
        return ('<h2>Data quality</h2><div class="card" id="checks"><p>No check results yet: no Dagster run has '
                'been recorded for this warehouse (run <span class="mono">coachwh run</span>).</p></div>')
    counts = {s: sum(1 for c in checks if c["status"] == s) for s in ("passed", "warning", "failed", "not run")}
    tiles = "".join(_tile(status, n, f"checks-{status.replace(' ', '-')}") for status, n in counts.items())
    # dbt tests carry no description: the column is shown only when a check has one.
    described = any(c["description"] for c in checks)
    table = _table(["status", "asset", "check", "severity", "evaluated", "run"] + (["description"] if described else []),
                   [[Status(c["status"]), c["asset"], c["check"], c["severity"], c["evaluated_at"], c["run_id"]]
                    + ([c["description"]] if described else []) for c in checks])
    return ('<h2>Data quality <small>the latest result of each asset check, worst first</small></h2>'
            f'<div class="card" id="checks"><div class="tiles">{tiles}</div><div class="scroll">{table}</div></div>')


def _body(data: dict[str, Any], charts: list[Chart]) -> str:
    by_id = {c.chart_id: c for c in charts}
    parts = []
    if not data["months"]:
        parts.append('<p class="notice">No usage or billing data yet: load landing files with '
                     '<span class="mono">coachwh run</span>, then open this page again.</p>')
    parts.append(_kpis(data))
    parts.append('<h2>Usage trends <small class="range-label"></small></h2><div class="grid">'
                 + "".join(_chart_card(c) for c in charts if c.section == "usage") + "</div>")
    parts.append('<h2>Revenue and cost <small class="range-label"></small></h2><div class="grid">'
                 + _chart_card(by_id["chart-money-monthly"],
                               "Revenue = billing statements' totals of the month (closed months as frozen); "
                               "provider cost includes failed attempts.")
                 + "</div>")
    heavy = (
        '<div class="card" id="heavy-users"><h3>Heavy users <small class="range-label"></small></h3>'
        '<p class="note" id="heavy-summary"></p>'
        + _table(["#", "pseudonym", "plan", "billable minutes", "transcriptions"], [], numeric={0, 3, 4},
                 body_id="heavy-rows")
        + '<p class="note">Pseudonyms from schema <span class="mono">anonymized</span> (keyed HMAC); '
          "no id or personal data is shown.</p></div>"
    )
    transitions = (
        '<div class="card" id="plan-transitions"><h3>Plan changes by from and to plan '
        '<small class="range-label"></small></h3>'
        + _table(["from", "to", "direction", "changes"], [], numeric={3}, body_id="transition-rows")
        + "</div>"
    )
    parts.append('<h2>Plans and heavy users <small class="range-label"></small></h2><div class="grid">'
                 + "".join(_chart_card(c) for c in charts if c.section == "plans") + transitions + heavy + "</div>")
    parts.append(_compliance(data, by_id))
    parts.append(_checks(data))
    parts.append('<footer>Built by coachwh from the warehouse (marts and schema anonymized). Definitions: '
                 "docs/dashboard.md. Figures of a range are computed in SQL for that range.</footer>")
    return "\n".join(parts)


def _meta(data: dict[str, Any]) -> str:
    months, closed = data["months"], data["closed_months"]
    parts = [
        f"generated {data['generated_at']}",
        f"data {months[0]} to {months[-1]}" if months else "no data yet",
        f"billing closed through {closed[-1]}" if closed else "no billing month closed",
    ]
    return escape(" · ".join(parts))


def render_page(data: dict[str, Any], charts: list[Chart]) -> str:
    """The whole page as one string."""
    payload = {**data, "charts": [c.as_dict() for c in charts], "template": template_layout()}
    page = _template()
    for slot, content in (
        ("meta", _meta(data)),
        ("body", _body(data, charts)),
        ("data", _json_for_script(payload)),
        ("plotly", _plotly_js()),
    ):
        marker = f"<!--slot:{slot}-->"
        if page.count(marker) != 1:
            raise RuntimeError(f"dashboard_template.html must hold {marker} exactly once")
        page = page.replace(marker, content)
    return page
