"""Machine-readable freshness for monitoring: `hunthouse status --json` and `status --check`.

Per tenant: its published shard (when, as of which day, quarantined rows), the health ledger's last
run and the night it went stale since, and the latest warehouse run's failed checks. `--check` turns
that into a Nagios-style exit code and one line:

  0 OK     every tenant's last run published, and its shard was published within max_age_hours
  1 STALE  a tenant's last run failed, or its shard is older than max_age_hours (it still has one)
  2 ERROR  a tenant has no readable published shard
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines import health
from pipelines.config import Settings
from pipelines.warehouse.load_log import LATEST_LOADS
from pipelines.warehouse.readonly import WarehouseUnavailable, connect_readonly
from quality.latest_run import load_latest

OK, STALE, ERROR = 0, 1, 2
LABELS = {OK: "OK", STALE: "STALE", ERROR: "ERROR"}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _shard(settings: Settings) -> dict:
    """Facts of one tenant's published shard; `error` names why it could not be read."""
    facts = {"published_at": None, "as_of": None, "first_day": None, "last_day": None,
             "quarantined_rows": None, "build_file": None, "error": None}
    try:
        con = connect_readonly(settings.warehouse_path)
    except WarehouseUnavailable as exc:
        facts["error"] = str(exc)
        return facts
    except Exception as exc:  # noqa: BLE001 - a corrupt shard is a monitoring answer, not a crash
        facts["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return facts
    with con:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "publish_log" in present:
            at, as_of, build = con.execute(
                "SELECT max(published_at), max(as_of), arg_max(build_file, published_at) FROM publish_log").fetchone()
            facts.update(published_at=_iso(at), as_of=_iso(as_of), build_file=build)
        if "load_log" in present:
            first, last, bad = _load_facts(con)
            facts.update(first_day=_iso(first), last_day=_iso(last), quarantined_rows=int(bad))
    return facts


def _load_facts(con) -> tuple:
    """First and last day loaded, and rows quarantined, over each partition's latest load."""
    sql = f"SELECT min(day), max(day), coalesce(sum(quarantined), 0) FROM ({LATEST_LOADS})"  # noqa: S608 - fixed fragment
    return con.execute(sql).fetchall()[0]


def _checks(settings: Settings, published_build: str | None) -> dict | None:
    """The latest warehouse run's failed checks (quality/<tenant>/latest.json), published or not."""
    doc = load_latest(settings.quality_dir)
    if doc is None:
        return None
    failed = []
    for asset, result in sorted(doc["checks"].items()):
        if result.get("errors") or result.get("warnings"):
            failed.append({"asset": asset, "severity": "ERROR" if result.get("errors") else "WARN",
                           "errors": result.get("errors", 0), "warnings": result.get("warnings", 0),
                           "failed": [{k: f.get(k) for k in ("severity", "partition", "expectation", "observed")}
                                      for f in result.get("failed", [])]})
    return {"run_id": str(doc.get("run_id")), "as_of": doc.get("as_of"),
            "published": doc.get("build_file") is not None and doc.get("build_file") == published_build,
            "checks": len(doc["checks"]), "failed_checks": failed}


def _outcome(o: health.TenantOutcome | None) -> dict | None:
    if o is None:
        return None
    return {"night": o.night, "ok": o.ok, "step": o.step or None, "reason": o.reason or None,
            "at": o.at, "trigger": o.trigger or None, "run_id": o.run_id or None}


def tenant_report(settings: Settings, tenant: str, max_age_hours: float, now: datetime) -> dict:
    shard = _shard(settings.for_tenant(tenant))
    state = health.health(settings.home, tenant)
    age = None
    if shard["published_at"]:
        age = (now - datetime.fromisoformat(shard["published_at"])).total_seconds() / 3600
    if shard["published_at"] is None:
        code = ERROR
        why = shard["error"] or "no published shard"
    elif state.failing:
        code = STALE
        since = state.stale_since.night if state.stale_since else state.last.night
        why = f"stale since night {since}: {state.last.step} failed: {state.last.reason}"
    elif age is not None and age > max_age_hours:
        code = STALE
        why = f"published {age:.1f} h ago (more than {max_age_hours:g} h)"
    else:
        code, why = OK, f"published {age:.1f} h ago, data through {shard['as_of']}"
    return {
        "tenant": tenant,
        "state": LABELS[code],
        "detail": why,
        "last_good_day": shard["as_of"],
        "published_at": shard["published_at"],
        "published_hours_ago": round(age, 2) if age is not None else None,
        "days_loaded": [shard["first_day"], shard["last_day"]] if shard["first_day"] else None,
        "quarantined_rows": shard["quarantined_rows"],
        "stale_since": state.stale_since.night if state.stale_since else None,
        "last_run": _outcome(state.last),
        "last_good_run": _outcome(state.last_ok),
        "latest_checks": _checks(settings.for_tenant(tenant), shard["build_file"]),
        "shard_error": shard["error"],
        "_code": code,
    }


def report(settings: Settings, max_age_hours: float = 30.0, now: datetime | None = None) -> dict:
    """The whole home's monitoring answer (JSON-serialisable), with the worst tenant's exit code."""
    now = now or datetime.now(UTC)
    tenants = [tenant_report(settings, t.name, max_age_hours, now) for t in settings.tenants]
    code = max((t.pop("_code") for t in tenants), default=ERROR)
    return {"checked_at": now.isoformat(), "home": str(settings.home), "max_age_hours": max_age_hours,
            "state": LABELS[code], "exit_code": code, "tenants": tenants, "delivery": delivery_facts(settings)}


def delivery_facts(settings: Settings) -> dict | None:
    """The latest delivery run's attempts ([delivery]); failures there never change the exit code."""
    if settings.delivery is None:
        return None
    from pipelines.delivery import last_run

    attempts = last_run(settings.home)
    return {"at": attempts[-1]["at"] if attempts else None,
            "sent": sum(1 for a in attempts if a["ok"]),
            "failed": [{k: a.get(k) for k in ("channel", "target", "detail", "night")} for a in attempts if not a["ok"]]}


def summary_line(doc: dict) -> str:
    """One line for Nagios / systemd: the state, then each tenant that is not OK (or all if OK)."""
    bad = [t for t in doc["tenants"] if t["state"] != "OK"]
    failed = (doc.get("delivery") or {}).get("failed") or []
    note = f" (last delivery: {len(failed)} failed, see hunthouse status)" if failed else ""
    if not doc["tenants"]:
        return "HUNTHOUSE ERROR - no tenants configured"
    if not bad:
        through = ", ".join(f"{t['tenant']} through {t['last_good_day']}" for t in doc["tenants"])
        return f"HUNTHOUSE OK - {len(doc['tenants'])} tenant(s) fresh: {through}{note}"
    return f"HUNTHOUSE {doc['state']} - " + "; ".join(f"{t['tenant']} {t['state']}: {t['detail']}" for t in bad) + note
