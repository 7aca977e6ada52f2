-- model: fw_windows
-- kind: scratch
-- grain: one row: the day bounds of the recent window and of the baseline days before it
-- params: as_of, recent_days, baseline_days
-- description: recent_start, before_start (baseline_days before the recent window) and window_start
--   (baseline_days before as_of): the bounds every finding rule compares.
-- model: fw_recent
-- kind: scratch
-- grain: one row per firewall event of the recent window
-- depends_on: fw_events
-- params: as_of, recent_days, tenants
-- description: The recent window's firewall events, for findings that need exact distinct counts.
-- model: fw_reporting
-- kind: scratch
-- grain: one row per tenant
-- depends_on: fw_recent
-- description: Devices with any firewall event in the recent window, per tenant.
-- model: fw_candidates
-- kind: scratch
-- grain: one row per finding, before ids and hunting queries are attached
-- description: What every finding rule inserts into and fw_findings publishes.
--
-- Working set of one findings run (TEMP objects, gone when the connection closes):
--   fw_recent:      view: one row per firewall event of the recent window (recent_days ending as_of);
--                   findings that need exact distinct counts read it: a scan of a week of fw_events.
--   fw_reporting:   one row per tenant: devices with any firewall event in the recent window.
--   fw_candidates:  one row per finding before ids and hunting queries are attached.
-- Windows: recent = [as_of - recent_days + 1, as_of]; "before" = the baseline_days days before it.
-- The windows' day bounds, one row; finding rules join it instead of repeating the arithmetic.
CREATE OR REPLACE TEMP VIEW fw_windows AS
SELECT
    getvariable('as_of') - (getvariable('recent_days') - 1) AS recent_start,
    getvariable('as_of') - (getvariable('recent_days') - 1) - getvariable('baseline_days') AS before_start,
    getvariable('as_of') - getvariable('baseline_days') AS window_start;

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
