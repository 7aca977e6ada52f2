-- Working set of one findings run (TEMP objects, gone when the connection closes):
--   fw_recent:      view: one row per firewall event of the recent window (recent_days ending as_of);
--                   findings that need exact distinct counts read it: a scan of a week of fw_events.
--   fw_reporting:   one row per tenant: devices with any firewall event in the recent window.
--   fw_candidates:  one row per finding before ids and hunting queries are attached.
-- Windows: recent = [as_of - recent_days + 1, as_of]; "before" = the baseline_days days before it.
CREATE OR REPLACE TEMP VIEW fw_recent AS
SELECT *
FROM fw_events
WHERE list_contains(getvariable('tenants'), tenant)
  AND day BETWEEN getvariable('as_of') - (getvariable('recent_days') - 1) AND getvariable('as_of');

CREATE OR REPLACE TEMP TABLE fw_reporting AS
SELECT tenant, count(DISTINCT device_id) AS devices
FROM fw_recent
GROUP BY tenant;

CREATE OR REPLACE TEMP TABLE fw_candidates (
    tenant VARCHAR NOT NULL,
    finding_type VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    device_id VARCHAR,
    device_name VARCHAR,
    direction VARCHAR,
    action_types VARCHAR[],
    process VARCHAR,
    process_name VARCHAR,
    local_port INTEGER,
    remote_port INTEGER,
    remote_class VARCHAR,
    remote_ip VARCHAR,
    key_day DATE,
    events BIGINT,
    devices BIGINT,
    remote_ips BIGINT,
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    evidence_from DATE NOT NULL,
    evidence_to DATE NOT NULL,
    explanation VARCHAR,
    suggested_action VARCHAR,
    powershell VARCHAR
);
