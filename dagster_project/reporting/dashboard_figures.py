"""The dashboard's charts as plotly figures (validated by plotly.graph_objects), from the collected data.

Each chart carries every month (or day) of the data; the page filters its traces to the chosen
range. `axis` says how: "month" (x is YYYY-MM), "day" (x is YYYY-MM-DD) or "none" (not by range).
The shared template is left out of each figure and embedded once in the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE = "plotly_white"
TYPE_COLORS = {"original": "#4C78A8", "retry_failed": "#F58518", "retry_success": "#54A24B"}
PROVIDER_COLORS = ("#72B7B2", "#B279A2", "#EECA3B", "#9D755D")
PLAN_COLORS = ("#BAB0AC", "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2")
CHART_HEIGHT = 320


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    section: str
    axis: str
    figure: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.chart_id, "title": self.title, "section": self.section, "axis": self.axis,
                "figure": self.figure}


def _layout(y_title: str, *, x_kind: str, barmode: str | None = None, height: int = CHART_HEIGHT) -> go.Layout:
    xaxis: dict[str, Any] = {"type": "category"} if x_kind == "month" else {"type": "date"} if x_kind == "day" else {}
    # Fixed margins, no automargin: automargin makes plotly measure and draw each chart twice.
    xaxis["automargin"] = False
    return go.Layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 70, "r": 20, "t": 10, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "traceorder": "normal"},
        hovermode="x unified" if x_kind in ("month", "day") else "closest",
        barmode=barmode,
        xaxis=xaxis,
        yaxis={"title": {"text": y_title}, "rangemode": "tozero", "automargin": False},
        font={"family": "Liberation Sans, DejaVu Sans, Arial, sans-serif", "size": 12},
    )


def _serialize(figure: go.Figure) -> dict[str, Any]:
    spec = json.loads(pio.to_json(figure, validate=True))
    spec["layout"].pop("template", None)
    return spec


def _types_figure(series: dict[str, Any], types: list[list[str]], daily: bool) -> dict[str, Any]:
    traces = []
    for key, label in types:
        if daily:
            traces.append(go.Scatter(x=series["x"], y=series["by_type"][key], name=label, mode="lines",
                                     line={"color": TYPE_COLORS.get(key), "width": 1.5}, stackgroup="types"))
        else:
            traces.append(go.Bar(x=series["x"], y=series["by_type"][key], name=label,
                                 marker_color=TYPE_COLORS.get(key)))
    return _serialize(go.Figure(traces, _layout("transcriptions", x_kind="day" if daily else "month",
                                                barmode=None if daily else "stack")))


def _minutes_figure(series: dict[str, Any], daily: bool) -> dict[str, Any]:
    traces = []
    for position, (provider, minutes) in enumerate(series["minutes_by_provider"].items()):
        color = PROVIDER_COLORS[position % len(PROVIDER_COLORS)]
        if daily:
            traces.append(go.Scatter(x=series["x"], y=minutes, name=provider, mode="lines",
                                     line={"color": color, "width": 1.5}))
        else:
            traces.append(go.Bar(x=series["x"], y=minutes, name=provider, marker_color=color))
    return _serialize(go.Figure(traces, _layout("minutes", x_kind="day" if daily else "month",
                                                barmode=None if daily else "group")))


def _money_figure(money: dict[str, Any]) -> dict[str, Any]:
    months = money["months"]
    traces = [
        go.Bar(x=months, y=money["revenue_usd"], name="Revenue", marker_color="#4C78A8"),
        go.Bar(x=months, y=money["provider_cost_usd"], name="Provider cost", marker_color="#E45756"),
        go.Scatter(x=months, y=money["gross_margin_usd"], name="Gross margin", mode="lines+markers",
                   line={"color": "#54A24B", "width": 2}),
    ]
    layout = _layout("USD", x_kind="month", barmode="group")
    layout.yaxis.tickprefix = "$"
    layout.yaxis.rangemode = "normal"
    return _serialize(go.Figure(traces, layout))


def _plans_figure(plans: dict[str, Any]) -> dict[str, Any]:
    traces = [go.Bar(x=plans["months"], y=users, name=plan, marker_color=PLAN_COLORS[i % len(PLAN_COLORS)])
              for i, (plan, users) in enumerate(plans["users_by_plan"].items())]
    return _serialize(go.Figure(traces, _layout("coaches", x_kind="month", barmode="stack")))


def _plan_changes_figure(plans: dict[str, Any]) -> dict[str, Any]:
    traces = [
        go.Bar(x=plans["months"], y=plans["changes"]["upgrade"], name="Upgrades", marker_color="#54A24B"),
        go.Bar(x=plans["months"], y=[-n for n in plans["changes"]["downgrade"]], name="Downgrades",
               marker_color="#E45756", customdata=plans["changes"]["downgrade"],
               hovertemplate="%{customdata}"),
    ]
    return _serialize(go.Figure(traces, _layout("plan changes", x_kind="month", barmode="relative")))


def _quarantine_figure(quarantine: dict[str, Any]) -> dict[str, Any]:
    rows = list(reversed(quarantine["by_reason"]))  # largest on top of a horizontal bar chart
    labels = [f"{r['stream']}: {r['reason_kind']}" for r in rows]
    height = max(CHART_HEIGHT, 60 + 22 * len(rows))
    layout = _layout("", x_kind="none", height=height)
    # Room for the longest label (about 7 px a character at 12 px), as automargin would leave.
    layout.margin.l = min(420, 20 + 7 * max((len(label) for label in labels), default=0))
    layout.margin.b = 50
    layout.margin.r = 40  # room for the count beside the longest bar
    layout.yaxis.title = None
    layout.xaxis.title = {"text": "quarantined records"}
    layout.showlegend = False
    if not rows:
        layout.annotations = [{"text": "no quarantined records", "showarrow": False, "x": 0.5, "y": 0.5,
                               "xref": "paper", "yref": "paper"}]
    trace = go.Bar(x=[r["records"] for r in rows], y=labels, orientation="h", marker_color="#F58518",
                   text=[r["records"] for r in rows], textposition="outside", textangle=0, cliponaxis=False)
    return _serialize(go.Figure([trace], layout))


def build_charts(data: dict[str, Any]) -> list[Chart]:
    """Every chart of the page, in order."""
    usage, types = data["usage"], data["transcription_types"]
    return [
        Chart("chart-types-monthly", "Transcriptions by type per month", "usage", "month",
              _types_figure(usage["monthly"], types, daily=False)),
        Chart("chart-types-daily", "Transcriptions by type per day", "usage", "day",
              _types_figure(usage["daily"], types, daily=True)),
        Chart("chart-minutes-monthly", "Minutes transcribed by STT provider per month", "usage", "month",
              _minutes_figure(usage["monthly"], daily=False)),
        Chart("chart-minutes-daily", "Minutes transcribed by STT provider per day", "usage", "day",
              _minutes_figure(usage["daily"], daily=True)),
        Chart("chart-money-monthly", "Revenue, provider cost and gross margin per month", "money", "month",
              _money_figure(data["money"])),
        Chart("chart-plans-monthly", "Coaches by plan at each month's end", "plans", "month",
              _plans_figure(data["plans"])),
        Chart("chart-plan-changes", "Plan changes per month (upgrades up, downgrades down)", "plans", "month",
              _plan_changes_figure(data["plans"])),
        Chart("chart-quarantine", "Quarantined records by stream and reason (all time)", "compliance", "none",
              _quarantine_figure(data["compliance"]["quarantine"])),
    ]


def template_layout() -> dict[str, Any]:
    """The shared template every figure's layout gets in the page."""
    return pio.templates[TEMPLATE].to_plotly_json()
