"""The night's reports index, `<reports>/<night>/index.html`, and `<reports>/latest` -> the newest night.

The index lists what is on disk under the night's folder (every tenant's firewall report and its
rule owners' HTML, CSV, JSON and watchlist files), so it also lists stale-banner reports and those a
daemon-launched run wrote. File names come from owner and tenant names: every one is URL-quoted
for the link and HTML-escaped for the text. `latest` is a relative symlink replaced atomically (a
new link beside it, then os.replace), so a reader never finds it missing.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from pipelines.reports.files import write_atomic
from pipelines.reports.html import esc, page, para, section

INDEX = "index.html"
LATEST = "latest"
NIGHT = re.compile(r"^\d{4}-\d\d-\d\d$")
OWNER_KINDS = (".html", ".csv", ".json")


def _link(night_dir: Path, path: Path, text: str) -> str:
    href = "/".join(quote(part) for part in path.relative_to(night_dir).parts)
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def _tenant_section(night_dir: Path, tenant: str) -> str:
    parts = []
    firewall = night_dir / "firewall" / f"{tenant}.html"
    if firewall.is_file():
        parts.append(f"<p>{_link(night_dir, firewall, 'Firewall hardening report')}</p>")
    owners_dir = night_dir / "owners" / tenant
    files = sorted(p for p in owners_dir.iterdir() if p.is_file() and not p.name.startswith(".")) \
        if owners_dir.is_dir() else []
    owners = sorted({p.stem for p in files if p.suffix in OWNER_KINDS and not p.name.startswith("watchlist-")})
    if owners:
        rows = []
        for owner in owners:
            cells = [_link(night_dir, owners_dir / f"{owner}{kind}", kind[1:].upper())
                     if (owners_dir / f"{owner}{kind}").is_file() else "" for kind in OWNER_KINDS]
            watchlist = owners_dir / f"watchlist-{owner}.csv"
            cells.append(_link(night_dir, watchlist, "Sentinel watchlist CSV") if watchlist.is_file() else "")
            rows.append(f"<tr><td>{esc(owner)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append("<h3>Rule owners' tuning reports</h3><table><thead><tr><th>owner</th><th>report</th>"
                     "<th>table</th><th>data</th><th>watchlist</th></tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>")
    return section(f"Tenant {tenant}", *parts) if parts else ""


def tenants_of(night_dir: Path) -> list[str]:
    names = {p.stem for p in (night_dir / "firewall").glob("*.html")}
    owners = night_dir / "owners"
    if owners.is_dir():
        names |= {p.name for p in owners.iterdir() if p.is_dir()}
    return sorted(n for n in names if not n.startswith("."))


def write_night_index(reports_dir: Path, night: str) -> Path | None:
    """(Re)write the night's index.html from the reports on disk; None when the night has none."""
    night_dir = reports_dir / night
    tenants = tenants_of(night_dir) if night_dir.is_dir() else []
    if not tenants:
        return None
    sections = [s for s in (_tenant_section(night_dir, t) for t in tenants) if s]
    others = sorted(p.name for p in reports_dir.iterdir() if p.is_dir() and NIGHT.match(p.name) and p.name != night)
    if others:
        links = " ".join(f'<a href="../{esc(quote(n))}/{INDEX}">{esc(n)}</a>' for n in others[-14:])
        sections.append(section("Other nights", f"<p>{links}</p>"))
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    html = page(f"Hunthouse reports of the night of {night}", f"{len(tenants)} tenant(s); written {written}",
                sections or [para("No reports.")])
    return write_atomic(night_dir / INDEX, html)


def point_latest(reports_dir: Path) -> Path | None:
    """Point `<reports>/latest` at the newest night folder (by date, so a backfill of an older night
    does not move it back). A `latest` that is a real directory is left alone."""
    nights = sorted(p.name for p in reports_dir.iterdir() if p.is_dir() and not p.is_symlink() and NIGHT.match(p.name)) \
        if reports_dir.is_dir() else []
    if not nights:
        return None
    link = reports_dir / LATEST
    if link.exists() and not link.is_symlink():
        return None
    if link.is_symlink() and os.readlink(link) == nights[-1]:
        return link
    tmp = reports_dir / f".{LATEST}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(nights[-1], tmp, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return link


def write_index(reports_dir: Path, night: str) -> Path | None:
    """The night's index, then `latest`."""
    path = write_night_index(reports_dir, night)
    point_latest(reports_dir)
    return path
