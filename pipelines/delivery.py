"""Reports delivered to their owners after a publish ([delivery] in hunthouse.toml).

- SMTP: each rule owner with an address in [delivery.owners] gets their tuning report (HTML, with
  the CSV and watchlist attached) for each tenant that published, but only when what it tells them
  changed since the last mail they got: the set of their recommended exclusions, and for the
  `[owners] default` owner (who also gets the tenant's firewall report) the set of firewall findings.
  Findings and exclusions keep their identity night after night (finding_id hashes the finding, not
  the day), so a new, gone or changed one is a change; a night that only moves dates is not.
- Webhook: one summary per run to a Teams or Slack incoming webhook (the URL from an env var).

Delivering is best effort by design: a failure is recorded in `<home>/delivery/log.jsonl` (shown by
`hunthouse status`) and never fails the run or undoes a publish. Sent fingerprints live in
`<home>/delivery/sent.json`, updated only after a mail went out, so a failed mail is retried next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.config import DeliveryConfig, Settings
from pipelines.reports.owner_files import safe_file_stem
from pipelines.warehouse.readonly import WarehouseUnavailable, connect_readonly

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
MAX_ERROR = 300


@dataclass
class Attempt:
    channel: str  # smtp | webhook
    ok: bool
    target: str  # tenant/owner for smtp, the webhook kind for webhook
    detail: str = ""
    run: str = ""
    night: str = ""
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def delivery_dir(home: Path) -> Path:
    return home / "delivery"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR]


def _record(home: Path, attempts: list[Attempt]) -> None:
    path = delivery_dir(home) / "log.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        for attempt in attempts:
            fh.write(json.dumps(asdict(attempt), sort_keys=True) + "\n")


def last_run(home: Path) -> list[dict]:
    """The attempts of the latest run that delivered anything (for `hunthouse status`)."""
    path = delivery_dir(home) / "log.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in rows if r.get("run") == rows[-1].get("run")] if rows else []


def _load_sent(home: Path) -> dict:
    try:
        return json.loads((delivery_dir(home) / "sent.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def _save_sent(home: Path, sent: dict) -> None:
    path = delivery_dir(home) / "sent.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".sent.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sent, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _digest(items: list) -> str:
    return hashlib.sha256(json.dumps(sorted(items), default=str).encode("utf-8")).hexdigest()


def owner_news(settings: Settings, tenant: str) -> dict[str, dict]:
    """Per owner of the tenant's rules: what their report tells them, as counts and a fingerprint.

    Exclusions are keyed (rule, kind, entity); findings (the default owner's) by finding_id, of the
    shard's latest as_of, open ones only (new or ongoing)."""
    shard = settings.for_tenant(tenant)
    with connect_readonly(shard.warehouse_path) as con:
        as_of = con.execute("SELECT max(as_of) FROM publish_log").fetchone()[0]
        recs = con.execute(
            "SELECT owner, rule_id, exclusion_kind, entity_key FROM tuning_recommendations").fetchall()
        owners = {r[0] for r in con.execute("SELECT DISTINCT owner FROM rule_noise").fetchall()}
        findings = con.execute(
            # a resolved finding is published once, the night it resolves: not news worth a mail
            "SELECT finding_id, severity FROM fw_findings WHERE as_of = (SELECT max(as_of) FROM fw_findings) "
            "AND state IS DISTINCT FROM 'resolved'").fetchall()
    owners.add(settings.default_owner)
    news = {}
    for owner in sorted(owners):
        mine = [list(r[1:]) for r in recs if r[0] == owner]
        keys = [["exclusion", *r] for r in mine]
        found = findings if owner == settings.default_owner else []
        keys += [["finding", f[0]] for f in found]
        news[owner] = {"as_of": as_of, "exclusions": len(mine), "findings": len(found),
                       "high_findings": sum(1 for f in found if f[1] == "high"), "fingerprint": _digest(keys),
                       "empty": not keys}
    return news


def _message(cfg: DeliveryConfig, settings: Settings, tenant: str, owner: str, facts: dict, night: date) -> EmailMessage:
    stem = safe_file_stem(owner)
    folder = settings.reports_dir / night.isoformat()
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.addresses(owner))
    msg["Subject"] = (f"Hunthouse {tenant}: {facts['exclusions']} recommended exclusion(s)"
                      + (f", {facts['findings']} firewall finding(s)" if owner == settings.default_owner else "")
                      + f" for {owner} (data through {facts['as_of']})")
    lines = [f"Hunthouse report for {owner}, tenant {tenant}, data through {facts['as_of']}.", "",
             f"Recommended exclusions for your rules: {facts['exclusions']}."]
    if owner == settings.default_owner:
        lines.append(f"Firewall findings: {facts['findings']} ({facts['high_findings']} high); the firewall report is attached.")
    lines += ["", "Something changed since the last report you were sent. The attached HTML opens offline in any browser;",
              "the watchlist CSV can be imported into Microsoft Sentinel as is.",
              f"All of tonight's reports: {folder / 'index.html'}"]
    msg.set_content("\n".join(lines))
    attachments = [folder / "owners" / tenant / f"{stem}.html", folder / "owners" / tenant / f"{stem}.csv",
                   folder / "owners" / tenant / f"watchlist-{stem}.csv"]
    if owner == settings.default_owner:
        attachments.append(folder / "firewall" / f"{tenant}.html")
    for path in attachments:
        if path.is_file():
            name = f"{tenant}-firewall.html" if path.parent.name == "firewall" else f"{tenant}-{path.name}"
            # bytes, base64-encoded: the file arrives exactly as written (text parts get CRLF line ends)
            msg.add_attachment(path.read_bytes(), maintype="text", subtype="html" if path.suffix == ".html" else "csv",
                               filename=name)
    return msg


def _smtp(cfg: DeliveryConfig) -> smtplib.SMTP:
    server = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s)
    try:
        if cfg.smtp_starttls:
            context = ssl.create_default_context(cafile=cfg.smtp_ca_file or None)
            server.starttls(context=context)
        if cfg.smtp_user:
            password = os.environ.get(cfg.smtp_password_env, "")
            if not password:
                raise RuntimeError(f"environment variable {cfg.smtp_password_env} is not set (the SMTP password)")
            server.login(cfg.smtp_user, password)
    except BaseException:
        server.close()
        raise
    return server


def mail_owners(settings: Settings, night: date, tenants: list[str], run: str) -> list[Attempt]:
    """Mail each addressed owner whose report changed, for every published tenant."""
    cfg = settings.delivery
    if cfg is None or not cfg.smtp_host:
        return []
    sent = _load_sent(settings.home)
    due: list[tuple[str, str, dict]] = []
    attempts: list[Attempt] = []
    for tenant in tenants:
        try:
            news = owner_news(settings, tenant)
        except (WarehouseUnavailable, Exception) as exc:  # noqa: BLE001 - delivery never fails the run
            attempts.append(Attempt("smtp", False, tenant, f"cannot read the shard: {_one_line(exc)}", run, str(night)))
            continue
        for owner, facts in news.items():
            if not cfg.addresses(owner):
                continue
            before = sent.get(f"{tenant}/{owner}", {}).get("fingerprint")
            if facts["fingerprint"] == before or (before is None and facts["empty"]):
                continue
            due.append((tenant, owner, facts))
    if not due:
        return attempts
    try:
        server = _smtp(cfg)
    except Exception as exc:  # noqa: BLE001
        return attempts + [Attempt("smtp", False, f"{t}/{o}", _one_line(exc), run, str(night)) for t, o, _ in due]
    with server:
        for tenant, owner, facts in due:
            try:
                server.send_message(_message(cfg, settings, tenant, owner, facts, night))
            except Exception as exc:  # noqa: BLE001
                attempts.append(Attempt("smtp", False, f"{tenant}/{owner}", _one_line(exc), run, str(night)))
                continue
            sent[f"{tenant}/{owner}"] = {"fingerprint": facts["fingerprint"], "night": str(night),
                                         "sent_at": datetime.now(UTC).isoformat()}
            attempts.append(Attempt("smtp", True, f"{tenant}/{owner}", ", ".join(cfg.addresses(owner)), run, str(night)))
    _save_sent(settings.home, sent)
    return attempts


def webhook_url(cfg: DeliveryConfig) -> str:
    url = os.environ.get(cfg.webhook_url_env, "")
    if not url:
        raise RuntimeError(f"environment variable {cfg.webhook_url_env} is not set (the incoming-webhook URL)")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        raise RuntimeError("the webhook URL must be https (plain http only to a loopback address)")
    return url


def summary_text(settings: Settings, night: date, published: list[str], failed: dict[str, str]) -> tuple[str, list[str]]:
    title = f"Hunthouse night of {night}: {len(published)} tenant(s) published" + (f", {len(failed)} NOT" if failed else "")
    lines = []
    for tenant in published:
        try:
            news = owner_news(settings, tenant)
        except Exception as exc:  # noqa: BLE001
            lines.append(f"{tenant}: published (summary unavailable: {_one_line(exc)})")
            continue
        facts = news[settings.default_owner]
        exclusions = sum(n["exclusions"] for n in news.values())
        lines.append(f"{tenant}: published, data through {facts['as_of']}; {facts['findings']} firewall finding(s) "
                     f"({facts['high_findings']} high), {exclusions} recommended exclusion(s)")
    lines += [f"{tenant}: NOT published ({reason})" for tenant, reason in failed.items()]
    lines.append(f"Reports: {settings.reports_dir / night.isoformat() / 'index.html'}")
    return title, lines


def post_summary(settings: Settings, night: date, published: list[str], failed: dict[str, str], run: str) -> list[Attempt]:
    import requests

    cfg = settings.delivery
    if cfg is None or not cfg.webhook_url_env:
        return []
    try:
        title, lines = summary_text(settings, night, published, failed)
        if cfg.webhook_kind == "slack":
            payload = {"text": "\n".join([f"*{title}*", *lines])}
        else:  # a Teams incoming webhook (connector card)
            payload = {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": title,
                       "title": title, "text": "\n\n".join(lines)}
        response = requests.post(webhook_url(cfg), json=payload, timeout=cfg.timeout_s)
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:120]}")
    except Exception as exc:  # noqa: BLE001 - delivery never fails the run
        return [Attempt("webhook", False, cfg.webhook_kind, _one_line(exc), run, str(night))]
    return [Attempt("webhook", True, cfg.webhook_kind, title, run, str(night))]


def deliver(settings: Settings, night: date, published: list[str], failed: dict[str, str],
            say: Callable[[str], None] = lambda _: None) -> list[Attempt]:
    """After a run: mail owners of the published tenants, post the summary, record every attempt.

    Never raises (a bug here is recorded as a failed attempt too): a publish stands whatever happens."""
    if settings.delivery is None:
        return []
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
    try:
        attempts = mail_owners(settings, night, published, run) + post_summary(settings, night, published, failed, run)
    except Exception as exc:  # noqa: BLE001
        attempts = [Attempt("delivery", False, "", _one_line(exc), run, str(night))]
    try:
        _record(settings.home, attempts)
    except OSError as exc:
        say(f"delivery: could not record the attempts: {_one_line(exc)}")
    for a in attempts:
        say(f"delivery {a.channel} {a.target}: {'sent' if a.ok else 'FAILED ' + a.detail}")
    return attempts
