"""Static SVG charts for the production report, drawn at build time: no script, no network.

Each chart is an inline <svg> with a viewBox and width 100%, so it shrinks to a 375 px phone and
keeps its text readable (labels sit in their own rows, never rotated). Every label is escaped
here: a failure reason is text from an error message, which may quote a hostile file name.
"""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 480  # SVG units: at 375 px the text is still ~12 px (15 units, site_templates/report.html)
BAR_ROW = 26


def arrivals_chart(per_day: list[tuple[str, int, int]], arrived: str, done: str) -> Markup:
    """Grouped bars per day: inputs that arrived, inputs done (processed or skipped)."""
    if not per_day:
        return Markup("")
    top = max(max(a, d) for _, a, d in per_day) or 1
    left, bottom, height = 34, 40, 220
    plot_h = height - bottom - 16
    slot = (WIDTH - left - 8) / len(per_day)
    bar = max(2.0, min(22.0, slot / 2 - 3))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="Arrivals and completions per day">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{WIDTH - 8}" y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{height - bottom - plot_h + 4}" text-anchor="end" class="tick">{top}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" class="tick">0</text>',
    ]
    label_every = max(1, round(len(per_day) / 7))  # at most ~7 date labels: readable when narrow
    for i, (day, a, d) in enumerate(per_day):
        x = left + i * slot + slot / 2
        for value, cls, dx in ((a, "arrived", -bar - 1), (d, "done", 1)):
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x + dx:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'class="{cls}"><title>{escape(day)}: {value} {cls}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="tick">'
                f"{escape(day[5:])}</text>"
            )
    parts.append(
        f'<rect x="{left}" y="{height - 14}" width="12" height="10" class="arrived"/>'
        f'<text x="{left + 16}" y="{height - 5}" class="tick">{escape(arrived)}</text>'
        f'<rect x="{left + 110}" y="{height - 14}" width="12" height="10" class="done"/>'
        f'<text x="{left + 126}" y="{height - 5}" class="tick">{escape(done)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def reasons_chart(reasons: list[tuple[str, int]]) -> Markup:
    """Horizontal bars, one per failure reason, the reason written above its bar."""
    if not reasons:
        return Markup("")
    shown = reasons[:8]
    top = max(n for _, n in shown) or 1
    height = len(shown) * BAR_ROW * 2 + 8
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="Failures by reason">'
    ]
    for i, (reason, n) in enumerate(shown):
        y = i * BAR_ROW * 2 + 4
        w = (WIDTH - 60) * n / top
        label = reason if len(reason) <= 56 else reason[:55] + "…"
        parts.append(f'<text x="0" y="{y + 16}" class="label">{escape(label)}</text>')
        parts.append(f'<rect x="0" y="{y + BAR_ROW - 2}" width="{w:.1f}" height="16" class="failed"/>')
        parts.append(f'<text x="{w + 6:.1f}" y="{y + BAR_ROW + 11}" class="tick">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
