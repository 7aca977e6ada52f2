"""`hunthouse tuning accept | dismiss | revoke | import-csv`: record a rule owner's decision on a recommendation.

The id is a recommendation_id of the published warehouse (tuning_recommendations, the reports'
watchlist CSV and automation rules). Each decision is one line appended to
<home>/decisions/<tenant>.jsonl (pipelines/warehouse/decisions_file.py); the next build loads it as
`tuning_decisions`: a dismissed exclusion stays out of the recommendations until its evidence
changes materially, an accepted one is treated as deployed and watched in `exclusion_health`.

Teams that review decisions in pull requests keep a CSV (recommendation_id, decision, reason,
until, decided_by) and run `hunthouse tuning import-csv FILE` after the merge: rows already recorded
as the latest decision are skipped, so importing the same file again records nothing.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines import config
from pipelines.reports.deployable import recommendation_id
from pipelines.warehouse import decisions_file
from pipelines.warehouse.readonly import WarehouseUnavailable, connect_readonly

CSV_COLUMNS = ("recommendation_id", "decision", "reason", "until", "decided_by")
_IDENTITY = ("rule_id", "rule_name", "exclusion_kind", "entity_type", "entity_key", "entity_value",
             *(f"entity_{w}_{i}" for i in (1, 2, 3) for w in ("type", "key", "value")))
_VERBS = {"accept": "accepted", "dismiss": "dismissed", "revoke": "revoked"}


class TuningError(Exception):
    """A user mistake in a tuning command; printed as one line."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tuning", help="record a rule owner's decision on a recommendation")
    verbs = p.add_subparsers(dest="verb", required=True)
    ids = argparse.ArgumentParser(add_help=False)
    ids.add_argument("id", help="the recommendation_id (tuning_recommendations, the report's watchlist CSV)")
    who = argparse.ArgumentParser(add_help=False, parents=[common])  # --config after the verb, as elsewhere
    who.add_argument("--tenant", help="the tenant of the recommendation (default: found in the published shards)")
    who.add_argument("--by", help="who decides (default: $HUNTHOUSE_USER, else the login name)")
    acc = verbs.add_parser("accept", parents=[ids, who], help="treat the exclusion as deployed, until a date")
    acc.add_argument("--until", type=_date, help="expiry (default: the recommendation's expires_on)")
    dis = verbs.add_parser("dismiss", parents=[ids, who], help="keep it away until its evidence changes materially")
    dis.add_argument("--reason", required=True, help="why (recorded with the decision)")
    rev = verbs.add_parser("revoke", parents=[ids, who], help="withdraw the current acceptance or dismissal")
    rev.add_argument("--reason", help="why (recorded with the decision)")
    imp = verbs.add_parser("import-csv", parents=[who], help="record the decisions of a reviewed CSV "
                           f"({', '.join(CSV_COLUMNS)})")
    imp.add_argument("file", type=Path)


def _published(settings: config.Settings, tenants: list[str]) -> dict[str, dict]:
    """recommendation_id -> the published recommendation, over the tenants' shards that exist."""
    found: dict[str, dict] = {}
    missing: list[str] = []
    for tenant in tenants:
        try:
            con = connect_readonly(settings.for_tenant(tenant).warehouse_path)
        except WarehouseUnavailable:
            missing.append(tenant)
            continue
        with con:
            cur = con.execute("SELECT * FROM tuning_recommendations WHERE tenant = ?", [tenant])
            names = [d[0] for d in cur.description]
            for row in cur.fetchall():
                rec = dict(zip(names, row, strict=True))
                found[recommendation_id(rec)] = rec
    if missing and len(missing) == len(tenants):
        raise TuningError(f"no published warehouse for {', '.join(missing)}: run `hunthouse run` first")
    return found


class Decider:
    """Looks ids up in the published shards and the decisions files, and records decisions."""

    def __init__(self, settings: config.Settings, tenant: str | None, now: datetime | None = None):
        if tenant is not None:
            settings.tenant(tenant)  # a ConfigError naming the known tenants
        self.settings = settings
        self.tenants = [tenant] if tenant else [t.name for t in settings.tenants]
        self.now = now or datetime.now(UTC)
        self.published = _published(settings, self.tenants)
        self.latest = {rid: r for t in self.tenants for rid, r in decisions_file.latest(settings.home, t).items()}

    def record(self, verb: str, rid: str, *, until: date | None = None, reason: str | None = None,
               by: str | None = None, source: str = "cli") -> dict:
        decision = _VERBS[verb]
        rid = rid.strip().lower()
        rec, previous = self.published.get(rid), self.latest.get(rid)
        if rec is None and previous is None:
            raise TuningError(f"no recommendation {rid!r} in the published warehouse of {', '.join(self.tenants)} "
                              "(the ids: column recommendation_id of tuning_recommendations, or the reports' "
                              "watchlist CSV)")
        if decision == "revoked" and (previous is None or previous["decision"] == "revoked"):
            raise TuningError(f"{rid} has no acceptance or dismissal to revoke")
        if decision == "dismissed" and not (reason or "").strip():
            raise TuningError("dismiss needs a --reason")
        today = self.now.date()
        expires = None
        if decision == "accepted":
            default = rec["expires_on"] if rec else today + timedelta(days=self.settings.exclusion_ttl_days)
            expires = until or default
            if expires < today:
                raise TuningError(f"--until {expires} is in the past")
        source_row = rec or previous
        row = {k: source_row.get(k) for k in _IDENTITY}
        row.update(
            recommendation_id=rid, tenant=source_row["tenant"], decision=decision,
            decided_at=self.now.isoformat(), decided_by=by or os.environ.get("HUNTHOUSE_USER") or getpass.getuser(),
            reason=(reason or "").strip() or None, expires_on=expires.isoformat() if expires else None,
            # the evidence the decision was made on: a dismissal ends when it changes materially
            decisions_at_decision=rec["decisions"] if rec else previous.get("decisions_at_decision"),
            removed_share_at_decision=rec["alerts_removed_share"] if rec else previous.get("removed_share_at_decision"),
            source=source,
        )
        decisions_file.append(self.settings.home, [row])
        self.latest[rid] = row
        return row


def describe(row: dict) -> str:
    what = f"{row['decision']} {row['recommendation_id']} ({row['tenant']}, rule {row['rule_name'] or row['rule_id']}: " \
           f"{row['entity_type']} {row['entity_value'] or row['entity_key']})"
    extra = [f"until {row['expires_on']}"] if row["expires_on"] else []
    extra += [f"reason {row['reason']!r}"] if row["reason"] else []
    return " ".join([what, *extra, f"by {row['decided_by']} at {row['decided_at'][:19]}Z"])


def import_csv(decider: Decider, path: Path, by: str | None) -> tuple[list[dict], int]:
    """Record each CSV row that is not already the latest decision; returns (recorded, skipped)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"recommendation_id", "decision"} - set(reader.fieldnames or ())
            if missing:
                raise TuningError(f"{path}: missing column(s) {', '.join(sorted(missing))} "
                                  f"(columns: {', '.join(CSV_COLUMNS)})")
            rows = list(reader)
    except OSError as exc:
        raise TuningError(f"cannot read {path}: {exc.strerror or exc}") from None
    verbs = {v: k for k, v in _VERBS.items()} | {k: k for k in _VERBS}
    recorded, skipped = [], 0
    for n, r in enumerate(rows, 2):
        where = f"{path.name} line {n}"
        verb = verbs.get((r.get("decision") or "").strip().lower())
        if verb is None:
            raise TuningError(f"{where}: decision must be accept, dismiss or revoke, not {r.get('decision')!r}")
        try:
            until = date.fromisoformat(r["until"].strip()) if (r.get("until") or "").strip() else None
        except ValueError:
            raise TuningError(f"{where}: until is not a date (YYYY-MM-DD): {r['until']!r}") from None
        rid = (r.get("recommendation_id") or "").strip().lower()
        previous = decider.latest.get(rid)
        reason = (r.get("reason") or "").strip() or None
        if previous and previous["decision"] == _VERBS[verb] and previous["reason"] == reason and (
                until is None or previous["expires_on"] == until.isoformat()):
            skipped += 1
            continue
        try:
            recorded.append(decider.record(verb, rid, until=until, reason=reason,
                                           by=(r.get("decided_by") or "").strip() or by, source=f"csv:{path.name}"))
        except TuningError as exc:
            raise TuningError(f"{where}: {exc}") from None
    return recorded, skipped


def run(args, settings: config.Settings, say: Callable[[str], None]) -> int:
    decider = Decider(settings, args.tenant)
    if args.verb == "import-csv":
        recorded, skipped = import_csv(decider, args.file, args.by)
        for row in recorded:
            say(f"recorded: {describe(row)}")
        say(f"{len(recorded)} decision(s) recorded, {skipped} already recorded; the next build applies them")
        return 0
    row = decider.record(args.verb, args.id, until=getattr(args, "until", None), reason=getattr(args, "reason", None),
                         by=args.by)
    say(f"recorded: {describe(row)}")
    say(f"in {decisions_file.decisions_path(settings.home, row['tenant'])}; the next build (hunthouse run) applies it")
    return 0
