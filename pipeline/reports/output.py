"""The production report as HTML (out/site/report.html), CSV (one row per input) or JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

from markupsafe import Markup

from pipeline import templates
from pipeline.atomic import write_bytes_atomic
from pipeline.config.workspace import Workspace
from pipeline.reports.charts import arrivals_chart, reasons_chart
from pipeline.reports.model import Report, build_report, report_path

CSV_FIELDS = [
    "input",
    "folder",
    "profile",
    "media",
    "status",
    "review",
    "arrived",
    "done",
    "wait_seconds",
    "error",
    "warnings",
]


@dataclass(frozen=True)
class Style:
    """House colours of [site] (validated there) for the report's own small stylesheet."""

    accent: Markup
    text: Markup
    background: Markup
    surface: Markup
    body_font: Markup
    heading_font: Markup


@dataclass(frozen=True)
class ReportPage:
    """Context of site_templates/report.html."""

    report: Report
    style: Style
    arrivals: Markup  # SVG, made in pipeline.reports.charts with every label escaped
    failures: Markup
    home: str  # link back to the preview site's index ("" for a report printed elsewhere)


def html(ws: Workspace, report: Report, home: str = "index.html") -> str:
    site = ws.config.site
    style = Style(
        *(Markup(getattr(site, k)) for k in ("accent", "text", "background", "surface", "body_font", "heading_font"))
    )
    page = ReportPage(
        report=report,
        style=style,
        arrivals=arrivals_chart(report.per_day, "arrived", "done"),
        failures=reasons_chart([(r.reason, r.count) for r in report.reasons]),
        home=home,
    )
    env = templates.environment(ws.root)
    return env.get_template("report.html").render(page=page)


def as_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for it in report.items:
        row = asdict(it)
        row["wait_seconds"] = f"{it.wait_seconds:.0f}"
        del row["wait"]
        writer.writerow(row)
    return buf.getvalue()


def as_json(report: Report) -> str:
    return json.dumps(asdict(report), indent=1, ensure_ascii=False)


def write_report(ws: Workspace, last_run: dict, reviews: dict | None = None) -> str:
    """The publish step's hook: out/site/report.html for this run; returns its workspace path.
    Written only when its bytes changed."""
    path = report_path(ws)
    data = html(ws, build_report(ws, last_run, reviews=reviews, keep=True)).encode()
    try:
        same = path.read_bytes() == data
    except OSError:
        same = False
    if not same:
        write_bytes_atomic(path, ws.tmp, data)
    return path.relative_to(ws.root).as_posix()
