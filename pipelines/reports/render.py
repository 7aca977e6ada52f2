"""The Jinja2 environments the reports render with: HTML pages and Markdown summaries.

Report data (alert and rule names, entity values, command lines, device and owner names) is
attacker-controlled. It reaches a template only as a context value, never as template source, so
text such as `{{7*7}}` in it is printed, not evaluated. In HTML every `{{ … }}` goes through
`finalize`, which formats the value as the reports always have (floats to 3 significant digits,
timestamps as UTC minutes) and escapes it with `html.escape` (quotes too, for attribute values);
autoescape stays on, so anything that bypasses finalize (e.g. a `~` concatenation) is escaped by
markupsafe. Markdown cells are neutralised by `md_cell` in the same way. StrictUndefined makes a
misspelt name an error instead of an empty string.

The templates live in pipelines/reports/templates and ship as package data (pyproject.toml).
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipelines.reports import charts

TEMPLATE_DIR = "templates"


def utc_minute(value: datetime) -> str:
    """'2026-11-08 23:30 UTC' for an aware datetime in any zone; a naive one is refused, not guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: timestamps must be aware (UTC)")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def display(value: object) -> str:
    """A value as report text (not yet escaped): None is empty, floats keep 3 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, datetime):
        return utc_minute(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _escape_html(value: object) -> Markup:
    if hasattr(value, "__html__"):  # a macro's or caller's output: markup already built from escaped parts
        return Markup(value.__html__())
    return Markup(html.escape(display(value), quote=True))


def is_quantity(value: object) -> bool:
    """Numbers a table right-aligns (bools are not quantities)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def quantity(value: int | float) -> str:
    """Integers with thousands separators; floats as `display` writes them."""
    return display(value) if isinstance(value, float) else f"{value:,}"


def md_cell(value: object) -> str:
    """A Markdown table cell: HTML defused, pipes and backslashes escaped, one line."""
    text = html.escape(display(value), quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _common(env: Environment) -> Environment:
    env.filters["fmt"] = format  # `{{ x|fmt(",.0f") }}`: Python format specs
    env.filters["quantity"] = quantity
    env.tests["quantity"] = is_quantity
    env.tests["int"] = lambda value: isinstance(value, int)
    env.globals["bar_geometry"] = charts.bar_geometry
    env.globals["line_geometry"] = charts.line_geometry
    return env


@cache
def html_environment() -> Environment:
    return _common(Environment(
        loader=PackageLoader("pipelines.reports", TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2", "svg.j2"), default=True,
                                     default_for_string=True),
        undefined=StrictUndefined,
        finalize=_escape_html,
        trim_blocks=True,
        lstrip_blocks=True,
    ))


@cache
def markdown_environment() -> Environment:
    return _common(Environment(
        loader=PackageLoader("pipelines.reports", TEMPLATE_DIR),
        autoescape=False,
        undefined=StrictUndefined,
        finalize=md_cell,
        trim_blocks=True,
        lstrip_blocks=True,
    ))


def render_html(template: str, **context: object) -> str:
    return html_environment().get_template(template).render(**context)


def render_markdown(template: str, **context: object) -> str:
    return markdown_environment().get_template(template).render(**context)
