"""Attacker-controlled text planted in every field the reports render (alert and rule names, device
names, device ids in sample events, command lines, process names and the rule drafts that carry them,
entity values, owner names, rule definitions (query, tactics, mapped columns) and why they are
absent, the stale banner's reason, the footer's data-quality line, file and tenant names the index
lists) stays text in every HTML page:
no tag or attribute of its own, no template evaluated, nothing fetched from outside."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import duckdb
import pytest
from jinja2 import UndefinedError

from pipelines.config import OwnerRule
from pipelines.reports.index import write_index
from pipelines.reports.render import render_html
from pipelines.reports.stale import write_stale_reports
from tests.fw_testlib import build_firewall, changed, raw_table, stage_raw
from tests.tuning_fixture import START, TuningFixture, settings

# One probe per field, each tagged with the field so the test can show it reached a page. The markup
# half would add a tag or an event handler if printed raw; `{{7*7}}` would print 49 and `{% raw %}`
# (unclosed) would fail to compile if a value were ever treated as template source.
TAIL = '<script>alert(1)</script>"><img src=x onerror=alert(1)>{{7*7}}{% raw %}{{ "pwn" ~ "ed" }}'
FILE_TAIL = '<svg onload=alert(1)>"><img src=x onerror=alert(1)>{{7*7}}{% raw %}'  # no '/' in a file name
FIELDS = ("device", "device_id", "process", "folder", "cmdline", "rule", "account", "host", "owner", "reason",
          "footer", "query", "tactic", "column", "absence", "decision")
PROBE = {field: f"{field}-probe{TAIL}" for field in FIELDS}
NIGHT = date(2026, 10, 27)
AS_OF = START + timedelta(days=25)  # the tuning fixture's as_of_day=25

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "main", "div", "section",
    "span", "b", "table", "thead", "tbody", "tr", "th", "td", "pre", "code", "ul", "li", "a", "footer",
    "svg", "text", "rect", "line", "polyline", "details", "summary",
}


class Page(HTMLParser):
    """Tags, attributes and decoded text of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.chunks: list[str] = []
        self.feed(text)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.chunks.append(data)


def firewall_rows() -> list[dict]:
    rows = []
    for i in range(12):  # an outbound program blocked repeatedly to a public address: a finding
        rows.append({
            "Timestamp": datetime(2026, 10, 26, 1, i, tzinfo=UTC), "DeviceId": PROBE["device_id"],
            "DeviceName": PROBE["device"], "ActionType": "FirewallOutboundConnectionBlocked",
            "RemoteIP": "198.51.100.7", "RemotePort": 8443, "LocalPort": 50000 + i,
            "InitiatingProcessFileName": PROBE["process"],
            "InitiatingProcessFolderPath": "C:\\Users\\mallory\\AppData\\" + PROBE["folder"],
            "InitiatingProcessCommandLine": PROBE["cmdline"], "ReportId": 100 + i,
        })
    rows.append({"Timestamp": datetime(2026, 10, 25, 5, tzinfo=UTC), "DeviceId": "dev-evil",
                 "DeviceName": PROBE["device"], "ActionType": "FirewallServiceStopped", "ReportId": 7})
    return rows


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    cfg = settings(home, default_owner=PROBE["owner"], owner_rules=(OwnerRule(match="*probe*", owner=PROBE["owner"]),))
    path = cfg.warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        fx = TuningFixture(con)
        for day in range(20):
            fx.alert("r1", day, [("account", PROBE["account"], PROBE["account"])], "benign_positive",
                     rule_name=PROBE["rule"])
            fx.alert("r1", day, [("account", f"contoso\\user{day}", f"CONTOSO\\user{day}")], None, rule_name=PROBE["rule"])
            fx.alert("r1", day, [("account", f"contoso\\other{day}", f"CONTOSO\\other{day}")], None, rule_name=PROBE["rule"])
            fx.alert("r2", day, [("process", PROBE["cmdline"], PROBE["cmdline"])], "benign_positive",
                     rule_name=PROBE["rule"] + "2")
            fx.alert("r2", day, [("process", f"p{day}", f"p{day}")], None, rule_name=PROBE["rule"] + "2")
            fx.alert("r3", day, [("host", PROBE["host"], PROBE["host"])], "benign_positive", rule_name=PROBE["rule"] + "3")
        # an accepted exclusion about to expire: the owner page's "need attention" section shows the display
        # value the owner's decision recorded
        con.execute("INSERT INTO tuning_decisions (tenant, recommendation_id, sequence, decision, decided_at, "
                    "decided_by, expires_on, rule_id, rule_name, exclusion_kind, entity_type, entity_key, entity_value, "
                    "entity_type_1, entity_key_1, entity_value_1, is_latest) VALUES ('t1', '0123456789abcdef', 1, "
                    "'accepted', ?, 'alice', ?, 'r1', ?, 'single', 'account', ?, ?, 'account', ?, ?, true)",
                    [datetime.combine(AS_OF - timedelta(days=5), datetime.min.time(), UTC), AS_OF + timedelta(days=3), PROBE["rule"], PROBE["account"],
                     PROBE["decision"], PROBE["account"], PROBE["decision"]])
        fx.build(cfg, as_of_day=25)
        changed(con, stage_raw(con, "t1", raw_table(firewall_rows())))
        build_firewall(con, ["t1"], AS_OF)
        # r1's definition, then a newer snapshot empty on purpose: the report shows both tables as published
        con.execute(
            "INSERT INTO analytic_rules (tenant, day, rule_id, kind, enabled, severity, query, query_frequency, "
            "query_period, tactics, entity_columns) VALUES ('t1', ?, 'r1', 'Scheduled', false, 'High', ?, 'PT5M', "
            "'PT1H', ?, [{'entity_type': 'account', 'identifier': 'FullName', 'column_name': ?}])",
            [AS_OF - timedelta(days=1), PROBE["query"], json.dumps([PROBE["tactic"]]), PROBE["column"]])
        con.execute("INSERT INTO analytic_rule_snapshots VALUES ('t1', ?, 1, 0, [], NULL), ('t1', ?, 0, 0, [], ?)",
                    [AS_OF - timedelta(days=1), AS_OF, PROBE["absence"]])
        # the footer's data-quality line names the failed checks; the stale reports read the last good day
        con.execute("CREATE TABLE quality_results (run_id VARCHAR, checked_at TIMESTAMPTZ, success BOOLEAN, "
                    "severity VARCHAR, asset VARCHAR, expectation VARCHAR)")
        con.execute("INSERT INTO quality_results VALUES ('run1', ?, false, 'WARN', 'alerts', ?)",
                    [datetime(2026, 10, 26, 2, tzinfo=UTC), PROBE["footer"]])
        con.execute("CREATE TABLE publish_log AS SELECT ?::DATE AS as_of", [AS_OF])
    written = write_stale_reports(cfg, NIGHT, "extract", PROBE["reason"])
    night_dir = cfg.reports_dir / NIGHT.isoformat()
    # names the index lists come from the disk: a file or folder anyone could have dropped there
    (night_dir / "owners" / "t1" / f"{FILE_TAIL}.html").write_text("x")
    (night_dir / "owners" / f"tenant{FILE_TAIL}").mkdir()
    (night_dir / "owners" / f"tenant{FILE_TAIL}" / "x.html").write_text("x")
    (cfg.reports_dir / "2026-10-20").mkdir()
    index = write_index(cfg.reports_dir, NIGHT.isoformat())
    html_files = [p for p in written if p.suffix == ".html"] + [index]
    return {p.name: p.read_text(encoding="utf-8") for p in html_files}


def test_every_report_page_is_written(pages):
    assert {"t1.html", "index.html"} <= set(pages)
    assert len([n for n in pages if n not in ("t1.html", "index.html")]) == 1  # the hostile-named owner's page


def test_every_planted_field_reaches_a_page_as_literal_text(pages):
    text = "\n".join(Page(html).text for html in pages.values())
    for field, probe in PROBE.items():
        # the firewall model lower-cases process and folder names; the bar chart shortens long labels
        # but names them in full in its tooltip
        assert probe in text or probe.lower() in text, field
    assert FILE_TAIL in Page(pages["index.html"]).text


def test_no_planted_string_adds_a_tag_or_an_attribute(pages):
    for name, html in pages.items():
        page = Page(html)
        assert set(page.tags) <= ALLOWED_TAGS, (name, set(page.tags) - ALLOWED_TAGS)
        assert not [a for a, _ in page.attrs if a.startswith("on") or a in ("src", "srcdoc", "style")], name
        assert "<script" not in html.lower() and "<img" not in html.lower(), name
        assert "onerror=alert(1)>" not in html and "<svg onload" not in html, name


def test_no_planted_string_is_evaluated_as_a_template(pages):
    for name, html in pages.items():
        text = Page(html).text
        assert "pwned" not in text, name
        assert "{{7*7}}" in text and "{% raw %}" in text, name


def test_pages_stay_offline(pages):
    for name, html in pages.items():
        assert not re.search(r"https?://", html.replace("http://www.w3.org/2000/svg", "")), name
        assert "default-src 'none'" in html, name
        assert not set(Page(html).tags) & {"link", "script", "img", "iframe", "object", "embed"}, name


def test_the_layout_escapes_its_own_arguments():
    html = render_html("index.html.j2", title=PROBE["owner"], subtitle=PROBE["reason"], banner=PROBE["reason"],
                       footer=PROBE["footer"], tenants=[], other_nights=[])
    page = Page(html)
    assert set(page.tags) <= ALLOWED_TAGS and "<script" not in html
    assert page.text.count(PROBE["owner"]) == 2 and PROBE["footer"] in page.text  # title and heading


def test_a_missing_template_variable_is_an_error_not_an_empty_string():
    with pytest.raises(UndefinedError, match="'footer' is undefined"):
        render_html("index.html.j2", title="t", subtitle="s", banner="", tenants=[], other_nights=[])


def test_the_new_firewall_and_rule_definition_fields_reach_their_blocks(pages):
    firewall = Page(pages["t1.html"]).text
    drafts = [chunk[:chunk.index("Hunting query")] for chunk in firewall.split("Rule draft, netsh")[1:]]
    # the outbound draft names the program; cmd_str drops the quote and % a cmd argument cannot hold,
    # so the probe's markup half is what must show as text
    assert [d for d in drafts if PROBE["process"].lower().split('"')[0] in d]
    samples = [chunk[:chunk.index("Rule draft")] for chunk in firewall.split("Sample events")[1:]]
    assert [s for s in samples if PROBE["device_id"] in s]
    owner = Page(next(html for name, html in pages.items() if name not in ("t1.html", "index.html"))).text
    assert f"Rule definitions not available: {PROBE['absence']}; clauses use the standard column names" in owner
    definition = owner[owner.index("Rule definition"):]
    assert PROBE["query"] in definition and f"Tactics: {PROBE['tactic']}" in definition
    assert PROBE["column"] in definition and "This rule is disabled" in definition
