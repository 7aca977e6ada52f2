"""[delivery]: after a publish each addressed rule owner is mailed their report (over STARTTLS, with
the password from an environment variable) only when what it tells them changed, a Teams/Slack
summary is posted to an incoming webhook, and a failure to deliver never raises and is shown by
`hunthouse status`. Against a real SMTP server (aiosmtpd) and an HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import email
import json
import shutil
import socket
import ssl
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pipelines import cli, config, health
from pipelines.delivery import deliver, delivery_dir, owner_news
from pipelines.reports.firewall import write_firewall_reports
from pipelines.reports.owners import write_owner_reports
from pipelines.sources.sample.toml import sample_config
from pipelines.warehouse.readonly import connect_readonly
from tests.conftest import OWNERS
from tests.fakes.tls import make_tls_material
from tests.reliability_support import quick_load

START = date(2026, 10, 1)
NIGHT = START + timedelta(days=7)
PASSWORD_ENV, WEBHOOK_ENV = "HH_TEST_SMTP_PASSWORD", "HH_TEST_WEBHOOK_URL"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content), session.authenticated,
                              session.ssl is not None))
        return "250 OK"


def check_password(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"hunthouse" and auth_data.password == b"s3cr3t pw"
    return AuthResult(success=ok)


class Receiver(BaseHTTPRequestHandler):
    posts: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.posts.append(json.loads(body))
        self.send_response(Receiver.status)
        self.end_headers()
        self.wfile.write(b"1")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tls = make_tls_material(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls["server_cert"], tls["server_key"])
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
                      authenticator=check_password, auth_require_tls=True)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield {"smtp": smtp, "mailbox": mailbox, "ca": tls["ca"], "webhook": f"http://127.0.0.1:{http.server_port}/hook"}
    http.shutdown()
    smtp.stop()


@pytest.fixture(scope="module")
def built(tmp_path_factory, servers):
    """One tenant published by the real build, its reports written: built once for the module."""
    directory = tmp_path_factory.mktemp("delivery")
    delivery = f"""
[delivery]
from = "hunthouse@example.com"
smtp_host = "127.0.0.1"
smtp_port = {servers['smtp'].port}
smtp_user = "hunthouse"
smtp_password_env = "{PASSWORD_ENV}"
smtp_ca_file = "{servers['ca']}"
webhook_url_env = "{WEBHOOK_ENV}"
webhook_kind = "teams"
timeout_seconds = 10
[delivery.owners]
secops = "secops@example.com"
identity-team = ["alice@example.com", "bob@example.com"]
"""
    path = directory / "hunthouse.toml"
    path.write_text(sample_config(directory / "home", tenants=(("contoso", 7),), scale=0.03, start_date=START,
                                  lookback_days=1, extra=OWNERS + delivery), encoding="utf-8")
    settings = config.load(path)
    quick_load(settings, [START + timedelta(days=i) for i in range(8)], NIGHT, "night-1")
    shard = settings.for_tenant("contoso")
    with connect_readonly(shard.warehouse_path) as con:
        write_firewall_reports(con, shard, NIGHT)
        write_owner_reports(con, shard, NIGHT)
    health.record(settings.home, health.TenantOutcome("contoso", NIGHT.isoformat(), ok=True))
    return settings


@pytest.fixture()
def home(built, servers, monkeypatch):
    """The built home as if nothing had ever been delivered."""
    monkeypatch.setenv(PASSWORD_ENV, "s3cr3t pw")
    monkeypatch.setenv(WEBHOOK_ENV, servers["webhook"])
    shutil.rmtree(delivery_dir(built.home), ignore_errors=True)
    servers["mailbox"].messages.clear()
    Receiver.posts.clear()
    Receiver.status = 200
    return built


def test_owners_get_their_changed_reports_once_and_the_webhook_a_summary(home, servers):
    news = owner_news(home, "contoso")
    assert news["identity-team"]["exclusions"] > 0 and news["secops"]["findings"] > 0  # the data has news for both
    attempts = deliver(home, NIGHT, ["contoso"], {})
    assert all(a.ok for a in attempts), attempts
    mails = {tuple(to): (msg, authed, tls) for to, msg, authed, tls in servers["mailbox"].messages}
    assert set(mails) == {("secops@example.com",), ("alice@example.com", "bob@example.com")}
    assert all(authed and tls for _, authed, tls in mails.values())
    identity, _, _ = mails[("alice@example.com", "bob@example.com")]
    assert f"contoso: {news['identity-team']['exclusions']} recommended exclusion(s)" in identity["Subject"]
    attached = {part.get_filename(): part.get_payload(decode=True) for part in identity.walk() if part.get_filename()}
    folder = home.reports_dir / NIGHT.isoformat() / "owners" / "contoso"
    assert attached["contoso-identity-team.html"] == (folder / "identity-team.html").read_bytes()
    assert attached["contoso-watchlist-identity-team.csv"] == (folder / "watchlist-identity-team.csv").read_bytes()
    secops, _, _ = mails[("secops@example.com",)]
    assert "contoso-firewall.html" in {p.get_filename() for p in secops.walk()}
    assert len(Receiver.posts) == 1 and Receiver.posts[0]["@type"] == "MessageCard"
    assert f"{news['secops']['findings']} firewall finding(s)" in Receiver.posts[0]["text"]

    deliver(home, NIGHT, ["contoso"], {})  # nothing changed: no mail, a summary still
    assert len(servers["mailbox"].messages) == 2 and len(Receiver.posts) == 2

    sent_file = delivery_dir(home.home) / "sent.json"
    sent = json.loads(sent_file.read_text())
    sent["contoso/identity-team"]["fingerprint"] = "what an earlier night recommended"
    sent_file.write_text(json.dumps(sent))
    deliver(home, NIGHT, ["contoso"], {})
    assert [to for to, *_ in servers["mailbox"].messages[2:]] == [["alice@example.com", "bob@example.com"]]


def test_failures_to_deliver_never_raise_and_are_shown_by_status(home, servers, capsys, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV)  # an operator forgot to pass the SMTP password
    Receiver.status = 500
    attempts = deliver(home, NIGHT, ["contoso"], {})
    assert attempts and not any(a.ok for a in attempts)
    assert servers["mailbox"].messages == []
    assert not (delivery_dir(home.home) / "sent.json").exists()  # retried next run
    assert cli.main(["status", "--config", home.source_path]) == 0
    out = capsys.readouterr().out
    assert "0 sent, 3 FAILED (the publish stands either way)" in out
    assert (f"FAILED smtp contoso/identity-team: RuntimeError: environment variable {PASSWORD_ENV} is not set "
            "(the SMTP password)") in out
    assert "FAILED webhook teams: RuntimeError: HTTP 500" in out
    assert cli.main(["status", "--config", home.source_path, "--check"]) == 0  # the data is fresh
    assert "(last delivery: 3 failed, see hunthouse status)" in capsys.readouterr().out
    doc = json.loads((cli.main(["status", "--config", home.source_path, "--json"]), capsys.readouterr().out)[1])
    assert {f["target"] for f in doc["delivery"]["failed"]} == {"contoso/secops", "contoso/identity-team", "teams"}

    monkeypatch.setenv(PASSWORD_ENV, "s3cr3t pw")
    Receiver.status = 200
    assert all(a.ok for a in deliver(home, NIGHT, ["contoso"], {}))  # the next run catches up
    assert len(servers["mailbox"].messages) == 2


@pytest.mark.parametrize("text, message", [
    ('[delivery]\nfrom = "h@example.com"\n[delivery.owners]\nsecops = "secops@example.com"', "needs 'smtp_host'"),
    ('[delivery]\nsmtp_host = "mail"\nfrom = "h@example.com"\nsmtp_user = "u"\nsmtp_password_env = "hunter2!"',
     "must be an environment variable name"),
    ('[delivery]\nsmtp_host = "mail"\nfrom = "h@example.com"\n[delivery.owners]\nsecops = "not an address"',
     "not an e-mail address"),
    ('[delivery]\nwebhook_url_env = "X"\nwebhook_kind = "irc"', "teams or slack"),
    ('[delivery]\nsmtp_password = "x"', "unknown setting 'smtp_password'"),
])
def test_delivery_config_mistakes_are_one_line(tmp_path, text, message):
    path = tmp_path / "hunthouse.toml"
    path.write_text(sample_config(tmp_path / "home", extra="\n" + text + "\n"), encoding="utf-8")
    with pytest.raises(config.ConfigError, match=message):
        config.load(path)


def test_a_plain_http_webhook_is_refused_unless_loopback(home, monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, "http://hooks.example.com/x")
    attempts = [a for a in deliver(home, NIGHT, ["contoso"], {}) if a.channel == "webhook"]
    assert not attempts[0].ok and "must be https" in attempts[0].detail and Receiver.posts == []
