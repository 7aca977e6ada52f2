"""Self-contained HTML for reports: inline CSS, inline SVG charts, no scripts, no CDN.

Every data string goes through `esc` (alert names, entity values, command lines and device names
are attacker-controlled). Callers pass plain values; the helpers escape them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c5cad6}main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:14px 18px;margin:16px 0}
h2{font-size:16px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%;font-size:13px;display:block;overflow-x:auto}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Consolas,monospace;background:#f3f4f6;border-radius:4px}
pre{padding:8px;white-space:pre-wrap;word-break:break-all;margin:4px 0}
.sev-high{color:#b42318;font-weight:600}.sev-medium{color:#b54708;font-weight:600}.sev-low{color:#475467}
.muted{color:#667085}.kpi{display:inline-block;margin:0 28px 6px 0}.kpi b{display:block;font-size:22px}
footer{color:#667085;font-size:12px;padding:0 28px 24px}
.banner{background:#fef3f2;border:1px solid #fda29b;color:#912018;border-radius:6px;padding:10px 14px;margin:16px 0;font-weight:600}
"""


def utc_minute(value: datetime) -> str:
    """'2026-11-08 23:30 UTC' for an aware datetime in any zone; a naive one is refused, not guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: timestamps must be aware (UTC)")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def esc(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return html.escape(f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}")
    if isinstance(value, datetime):
        return html.escape(utc_minute(value))
    if isinstance(value, date):
        return html.escape(value.isoformat())
    return html.escape(str(value), quote=True)


def page(title: str, subtitle: str, sections: Iterable[str], footer: str = "", banner: str = "") -> str:
    """`banner` (plain text, escaped here) is shown above everything: e.g. that the data is stale."""
    body = (f'<div class="banner">{esc(banner)}</div>' if banner else "") + "\n".join(sections)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>{body}</main>"
        f"<footer>{footer}</footer></body></html>"
    )


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def link(href: str, text: str) -> str:
    """A link to a file beside the report (a relative name; both parts escaped)."""
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def para(text: str, cls: str = "") -> str:
    return f'<p class="{esc(cls)}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def kpis(items: Sequence[tuple[str, object]]) -> str:
    return "".join(f'<span class="kpi"><b>{esc(v)}</b>{esc(k)}</span>' for k, v in items)


def code_block(text: object) -> str:
    return f"<pre><code>{esc(text)}</code></pre>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], code_cols: Sequence[int] = ()) -> str:
    """An HTML table; numeric cells are right-aligned, `code_cols` render as code blocks."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    # identifiers that happen to be numbers (ports, ids) are not quantities: no thousands separator
    plain = {i for i, h in enumerate(headers) if "port" in h.lower() or h.lower().endswith(" id")}
    out = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            if i in code_cols:
                cells.append(f"<td>{code_block(v) if v else ''}</td>")
            elif i in plain and isinstance(v, int):
                cells.append(f'<td class="n">{v}</td>')
            elif isinstance(v, int | float) and not isinstance(v, bool):
                cells.append(f'<td class="n">{esc(v) if isinstance(v, float) else f"{v:,}"}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    if not out:
        return '<p class="muted">No rows.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(out)}</tbody></table>"


def bar_chart(items: Sequence[tuple[object, float]], width: int = 640, bar_h: int = 18, color: str = "#3e63dd") -> str:
    """Horizontal bars, one per (label, value)."""
    if not items:
        return '<p class="muted">No data.</p>'
    top = max(float(v) for _, v in items) or 1.0
    label_w = 260
    h = bar_h * len(items) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img">']
    for i, (label, value) in enumerate(items):
        y = i * bar_h + 2
        w = max(1.0, (width - label_w - 70) * float(value) / top)
        text = str(label)
        text = text if len(text) <= 40 else text[:39] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 6}" font-size="11" text-anchor="end">{esc(text)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 4}" fill="{color}"><title>{esc(label)}: {esc(value)}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 6}" font-size="11">{float(value):,.0f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def daily_chart(series: dict[str, Sequence[tuple[date, float]]], width: int = 760, height: int = 180) -> str:
    """Daily counts as lines, one per named series, with a shared y axis."""
    points = [p for s in series.values() for p in s]
    if not points:
        return '<p class="muted">No data.</p>'
    days = sorted({d for d, _ in points})
    top = max(float(v) for _, v in points) or 1.0
    pad_l, pad_b, pad_t = 48, 22, 8
    span = max(1, len(days) - 1)
    index = {d: i for i, d in enumerate(days)}
    palette = ["#3e63dd", "#e5484d", "#30a46c", "#f76b15", "#8e4ec6", "#0090ff"]

    def xy(d: date, v: float) -> tuple[float, float]:
        x = pad_l + (width - pad_l - 10) * index[d] / span
        y = pad_t + (height - pad_t - pad_b) * (1 - float(v) / top)
        return x, y

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 18}" role="img">']
    parts.append(f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 10}" y2="{height - pad_b}" stroke="#98a2b3"/>')
    parts.append(f'<text x="{pad_l - 4}" y="{pad_t + 8}" font-size="10" text-anchor="end">{top:,.0f}</text>')
    parts.append(f'<text x="{pad_l - 4}" y="{height - pad_b}" font-size="10" text-anchor="end">0</text>')
    parts.append(f'<text x="{pad_l}" y="{height - 6}" font-size="10">{esc(days[0])}</text>')
    parts.append(f'<text x="{width - 10}" y="{height - 6}" font-size="10" text-anchor="end">{esc(days[-1])}</text>')
    for i, (name, pts) in enumerate(series.items()):
        color = palette[i % len(palette)]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(d, v) for d, v in sorted(pts)))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{coords}"><title>{esc(name)}</title></polyline>')
        parts.append(f'<text x="{pad_l + 10 + 150 * i}" y="{height + 14}" font-size="11" fill="{color}">■ {esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
