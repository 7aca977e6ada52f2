"""The night's reports index, `<reports>/<night>/index.html`, and `<reports>/latest` -> the newest night.

The index lists what is on disk under the night's folder (every tenant's firewall report with its
netsh and PowerShell rule-draft scripts, and its rule owners' HTML, CSV, JSON and watchlist files), so it also lists stale-banner reports and those a
daemon-launched run wrote. File names come from owner and tenant names: every one is URL-quoted
for the link here, and templates/index.html.j2 escapes links and texts. `latest` is a relative
symlink replaced atomically (a new link beside it, then os.replace), so a reader never finds it missing.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from pipelines.reports.files import write_atomic
from pipelines.reports.render import render_html

INDEX = "index.html"
LATEST = "latest"
NIGHT = re.compile(r"^\d{4}-\d\d-\d\d$")
OWNER_KINDS = (".html", ".csv", ".json")
FIREWALL_SCRIPTS = (("-rules.cmd", "netsh rule drafts"), ("-rules.ps1", "PowerShell rule drafts"))


def _href(night_dir: Path, path: Path) -> str:
    return "/".join(quote(part) for part in path.relative_to(night_dir).parts)


def _tenant(night_dir: Path, tenant: str) -> dict | None:
    """What the index shows of one tenant: links as (href, text), None where a file is missing."""
    firewall = night_dir / "firewall" / f"{tenant}.html"
    owners_dir = night_dir / "owners" / tenant
    files = sorted(p for p in owners_dir.iterdir() if p.is_file() and not p.name.startswith(".")) \
        if owners_dir.is_dir() else []
    owners = []
    for owner in sorted({p.stem for p in files if p.suffix == ".html"}):  # every owner has a report page
        named = [(f"{owner}{kind}", kind[1:].upper()) for kind in OWNER_KINDS] + [
            (f"watchlist-{owner}.csv", "Sentinel watchlist CSV"),
            (f"automation-rules-{owner}.json", "automation rules (ARM)"),
            (f"clauses-{owner}.kql", "combined KQL clauses"),
            (f"defender-tuning-{owner}.json", "Defender XDR alert tuning")]
        owners.append({"name": owner, "links": [
            (_href(night_dir, owners_dir / name), text) if (owners_dir / name).is_file() else None
            for name, text in named]})
    if not owners and not firewall.is_file():
        return None
    scripts = [(_href(night_dir, path), text) for suffix, text in FIREWALL_SCRIPTS
               for path in [night_dir / "firewall" / f"{tenant}{suffix}"] if path.is_file()]
    return {"name": tenant, "firewall": _href(night_dir, firewall) if firewall.is_file() else None,
            "firewall_scripts": scripts, "owners": owners}


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
    others = sorted(p.name for p in reports_dir.iterdir() if p.is_dir() and NIGHT.match(p.name) and p.name != night)
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    html = render_html(
        "index.html.j2",
        title=f"Hunthouse reports of the night of {night}",
        subtitle=f"{len(tenants)} tenant(s); written {written}",
        banner="",
        footer="",
        tenants=[t for t in (_tenant(night_dir, name) for name in tenants) if t],
        other_nights=[(f"../{quote(n)}/{INDEX}", n) for n in others[-14:]],
    )
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
