"""The night's reports index links every report of the night, escapes every name, and
`reports/latest` points at the newest night, replaced atomically."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from pipelines.reports.index import point_latest, write_index
from tests.conftest import WORLD_END

HOSTILE = '<img src=x onerror=alert(1)>&"o\'wner #1?'


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def night(reports: Path, day: str, tenant: str, owners: list[str]) -> Path:
    (reports / day / "firewall").mkdir(parents=True)
    for name in (f"{tenant}.html", f"{tenant}-rules.cmd", f"{tenant}-rules.ps1"):  # the report and its draft scripts
        (reports / day / "firewall" / name).write_text("fw")
    owner_dir = reports / day / "owners" / tenant
    owner_dir.mkdir(parents=True)
    for owner in owners:
        for name in (f"{owner}.html", f"{owner}.csv", f"{owner}.json", f"watchlist-{owner}.csv"):
            (owner_dir / name).write_text("x")
    return reports / day


def test_index_links_every_file_and_escapes_hostile_names(tmp_path):
    reports = tmp_path / "reports"
    night_dir = night(reports, "2026-11-08", "contoso", ["secops", HOSTILE])
    index = write_index(reports, "2026-11-08")
    links = parse(index)
    assert "img" not in links.tags and "onerror=alert(1)>" not in index.read_text()
    targets = {night_dir / unquote(h) for h in links.hrefs}
    files = {p for p in night_dir.rglob("*") if p.is_file() and p.name != "index.html"}
    assert targets == files
    assert all(t.is_file() for t in targets)


def test_latest_points_at_the_newest_night_and_never_moves_back(tmp_path):
    reports = tmp_path / "reports"
    night(reports, "2026-11-08", "contoso", ["secops"])
    write_index(reports, "2026-11-08")
    assert os.readlink(reports / "latest") == "2026-11-08"
    night(reports, "2026-11-09", "contoso", ["secops"])
    write_index(reports, "2026-11-09")
    assert os.readlink(reports / "latest") == "2026-11-09"
    assert (reports / "latest" / "index.html").read_text() == (reports / "2026-11-09" / "index.html").read_text()
    night(reports, "2026-10-01", "contoso", ["secops"])  # a backfill of an older night
    write_index(reports, "2026-10-01")
    assert os.readlink(reports / "latest") == "2026-11-09"
    assert [p.name for p in reports.iterdir() if p.name.startswith(".")] == []  # no temporary link left
    other = parse(reports / "2026-10-01" / "index.html").hrefs
    assert "../2026-11-09/index.html" in other and "../2026-11-08/index.html" in other


def test_a_real_latest_directory_is_left_alone(tmp_path):
    reports = tmp_path / "reports"
    night(reports, "2026-11-08", "contoso", ["secops"])
    (reports / "latest").mkdir()
    (reports / "latest" / "mine.txt").write_text("keep")
    assert point_latest(reports) is None
    assert (reports / "latest" / "mine.txt").read_text() == "keep"


@pytest.mark.xdist_group("sample_warehouse")  # built once, in one worker
def test_the_sample_nights_index_links_all_its_reports(sample_warehouse):
    reports = sample_warehouse.reports_dir
    night_dir = reports / WORLD_END.isoformat()
    hrefs = parse(night_dir / "index.html").hrefs
    linked = {night_dir / unquote(h) for h in hrefs if not h.startswith("../")}
    assert linked == {p for p in night_dir.rglob("*") if p.is_file() and p.name != "index.html"}
    assert any(re.fullmatch(r"firewall/[a-z]+\.html", h) for h in hrefs)
    assert (reports / "latest").resolve() == night_dir.resolve()
