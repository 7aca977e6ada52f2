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
-- model: fw_volume_map
-- kind: scratch
-- grain: one row per tenant × device × volume device name mapped to a drive letter
-- depends_on: fw_recent
-- description: \device\harddiskvolumeN → drive letter, from programs the same device reported under both forms.
-- model: fw_programs
-- kind: scratch
-- grain: one row per tenant × device × program (process) of the recent window
-- depends_on: fw_recent, fw_volume_map, fw_macros
-- description: The -Program path a rule draft can use for each device's program, or NULL when unknown.
-- model: fw_candidates
-- kind: scratch
-- grain: one row per finding, before ids and hunting queries are attached
-- description: What every finding rule inserts into and fw_findings publishes.
--
-- Working set of one findings run (TEMP objects, gone when the connection closes):
--   fw_recent:      view: one row per firewall event of the recent window (recent_days ending as_of);
--                   findings that need exact distinct counts read it: a scan of a week of fw_events.
--   fw_reporting:   one row per tenant: devices with any firewall event in the recent window.
--   fw_volume_map:  \device\harddiskvolumeN → drive letter per device: a program the device reported
--                   under both forms (same path after the volume or drive) maps that volume; a
--                   volume with two candidate letters stays unmapped.
--   fw_programs:    per device and program, the executable path a New-NetFirewallRule -Program can
--                   match (fw_rule_program): the reported path with its volume mapped; for ToApp rows
--                   that carry only a folder, the one executable directly in that folder that the
--                   same device reported in other firewall events (outbound blocks mostly); NULL
--                   when there is none or several, or the path cannot be written for the firewall
--                   (the rule then drafts a port rule or says the program is unknown).
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
    powershell VARCHAR,
    netsh VARCHAR,
    -- up to 5 (timestamp, device_id, report_id) of the candidate's events, earliest first
    sample_events STRUCT("timestamp" TIMESTAMPTZ, device_id VARCHAR, report_id BIGINT)[],
    -- the situation the candidate belongs to (59_fw_findings.sql: a key without device or scope when
    -- the rule's grain has none); NULL: derived from the finding's identity columns
    situation VARCHAR,
    -- the last day the situation was active; NULL: its last event's day. Set by rules whose situation
    -- is a state seen tonight rather than events (a silent device, a stopped service)
    active_on DATE,
    -- the rule counted only public remote addresses: the hunting query filters to them too
    public_only BOOLEAN DEFAULT false,
    -- the hunting query filters on local_port/remote_port (false when the port is only the most
    -- frequent of several, as for remote_scanner)
    kql_port_filter BOOLEAN DEFAULT true
);

CREATE OR REPLACE TEMP TABLE fw_volume_map AS
WITH split AS (
    SELECT DISTINCT tenant, device_id,
        regexp_extract(program_path, '^\\device\\(harddiskvolume\d+)\\', 1) AS volume,
        regexp_extract(program_path, '^([a-z]:)\\', 1) AS drive,
        regexp_replace(program_path, '^(?:\\device\\harddiskvolume\d+|[a-z]:)\\', '') AS tail
    FROM fw_recent
    WHERE regexp_matches(program_path, '^(?:\\device\\harddiskvolume\d+|[a-z]:)\\')
)
SELECT v.tenant, v.device_id, v.volume, min(d.drive) AS drive
FROM split v
JOIN split d ON d.tenant = v.tenant AND d.device_id = v.device_id AND d.tail = v.tail AND d.drive <> ''
WHERE v.volume <> ''
GROUP BY v.tenant, v.device_id, v.volume
HAVING count(DISTINCT d.drive) = 1;

CREATE OR REPLACE TEMP TABLE fw_programs AS
WITH seen AS (
    SELECT tenant, device_id, process, process_name, program_path, count(*) AS n
    FROM fw_recent
    WHERE process <> ''
    GROUP BY ALL
),
mapped AS (
    SELECT s.*,
        CASE WHEN m.drive IS NOT NULL
            THEN m.drive || '\' || regexp_replace(s.program_path, '^\\device\\harddiskvolume\d+\\', '')
            ELSE s.program_path END AS path
    FROM seen s
    LEFT JOIN fw_volume_map m
        ON m.tenant = s.tenant AND m.device_id = s.device_id
        AND m.volume = regexp_extract(s.program_path, '^\\device\\(harddiskvolume\d+)\\', 1)
),
executables AS (
    SELECT DISTINCT tenant, device_id, path FROM mapped WHERE process_name <> ''
),
in_folder AS (
    -- folder-only rows: the executables directly inside that folder on the same device
    SELECT f.tenant, f.device_id, f.path AS folder, CASE WHEN count(*) = 1 THEN min(e.path) END AS path
    FROM (SELECT DISTINCT tenant, device_id, path FROM mapped WHERE process_name = '') f
    JOIN executables e
        ON e.tenant = f.tenant AND e.device_id = f.device_id
        AND starts_with(e.path, rtrim(f.path, '\') || '\')
        AND NOT contains(substr(e.path, length(rtrim(f.path, '\')) + 2), '\')
    GROUP BY ALL
),
resolved AS (
    SELECT m.tenant, m.device_id, m.process, m.n,
        fw_rule_program(CASE WHEN m.process_name <> '' THEN m.path ELSE i.path END) AS rule_program
    FROM mapped m
    LEFT JOIN in_folder i ON m.process_name = '' AND i.tenant = m.tenant AND i.device_id = m.device_id
        AND i.folder = m.path
)
SELECT tenant, device_id, process,
       -- the most frequent writable form of the program on the device
       arg_max(rule_program, (rule_program IS NOT NULL, n)) AS rule_program
FROM resolved
GROUP BY tenant, device_id, process;
