-- Latest state across partitions for the tenants whose partitions changed in this run.
-- alerts: one row per (tenant, system_alert_id) — a re-emitted alert may land on a later day, so
--   older versions (and their entities) are removed.
-- incidents: one row per (tenant, incident_number), the latest version by LastModifiedTime, the
--   DuckDB equivalent of `SecurityIncident | summarize arg_max(LastModifiedTime, *) by IncidentNumber`.
-- incident_alerts: the incident -> alert bridge of that latest state.
-- Cost: proportional to the changed tenants' alerts and incidents, which are small next to events.

CREATE TEMP TABLE changed_tenants AS
SELECT DISTINCT tenant FROM changed_partitions WHERE tbl IN ('security_alert', 'security_incident');

DELETE FROM alerts AS a
USING (
    SELECT tenant, system_alert_id, day
    FROM alerts
    WHERE tenant IN (SELECT tenant FROM changed_tenants)
    QUALIFY row_number() OVER (PARTITION BY tenant, system_alert_id ORDER BY time_generated DESC, day DESC) > 1
) AS stale
WHERE a.tenant = stale.tenant AND a.system_alert_id = stale.system_alert_id AND a.day = stale.day;

DELETE FROM alert_entities AS e
WHERE e.tenant IN (SELECT tenant FROM changed_tenants)
  AND NOT EXISTS (
      SELECT 1 FROM alerts AS a
      WHERE a.tenant = e.tenant AND a.system_alert_id = e.system_alert_id AND a.day = e.day
  );

CREATE TABLE IF NOT EXISTS incidents AS SELECT * EXCLUDE (day) FROM incident_history LIMIT 0;
DELETE FROM incidents WHERE tenant IN (SELECT tenant FROM changed_tenants);
INSERT INTO incidents
SELECT * EXCLUDE (day)
FROM incident_history
WHERE tenant IN (SELECT tenant FROM changed_tenants)
QUALIFY row_number() OVER (
    PARTITION BY tenant, incident_number ORDER BY last_modified_time DESC, time_generated DESC NULLS LAST
) = 1;

CREATE TABLE IF NOT EXISTS incident_alerts (
    tenant VARCHAR NOT NULL,
    incident_number BIGINT NOT NULL,
    system_alert_id VARCHAR NOT NULL
);
DELETE FROM incident_alerts WHERE tenant IN (SELECT tenant FROM changed_tenants);
INSERT INTO incident_alerts
SELECT DISTINCT tenant, incident_number, unnest(alert_ids) AS system_alert_id
FROM incidents
WHERE tenant IN (SELECT tenant FROM changed_tenants);

DROP TABLE changed_tenants;
