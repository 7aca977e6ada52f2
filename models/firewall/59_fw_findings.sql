-- model: fw_findings
-- kind: as_of
-- grain: one row per finding per tenant and as_of
-- key: tenant, as_of, finding_id
-- depends_on: fw_candidates, fw_macros
-- params: as_of, tenants
-- catch_up: as_of
-- description: Firewall hardening findings for the run's day, with drafts and hunting KQL.
-- columns:
--   tenant VARCHAR: tenant name
--   finding_id VARCHAR: md5 (32 hex digits) of the finding's identity: tenant, finding_type, scope, device_id,
--     direction, process, local_port, remote_port, remote_ip and, for `remote_scanner`, the scan day; not `as_of`, so
--     the same issue keeps its id night after night
--   as_of DATE: the run day; the recent window ends on it
--   finding_type VARCHAR: one of the eight types above
--   severity VARCHAR: `high`, `medium`, `low` (table above)
--   scope VARCHAR: `device` (one device) or `fleet` (several devices of the tenant)
--   device_id VARCHAR: the device of a `device`-scope finding; NULL for `fleet`
--   device_name VARCHAR: its latest name; NULL for `fleet`
--   direction VARCHAR: `inbound`, `outbound`, `none` (`firewall_service_stopped`); NULL for `audit_gap`
--   process VARCHAR: the program (normalised path as in `fw_events.process`) for `app_blocked_inbound`,
--     `new_pattern`, `outbound_blocked_app`, and `public_inbound_exposure` when one program was involved; else NULL
--   process_name VARCHAR: its lower-case file name; NULL when none
--   local_port INTEGER: the blocked local port (`public_inbound_exposure`, inbound `new_pattern`); the most frequent
--     one for `remote_scanner` (`fw_remote_daily.top_local_port`, arbitrary on a tie); else NULL
--   remote_port INTEGER: the remote service port of an outbound `new_pattern`; else NULL
--   remote_class VARCHAR: class of the remote addresses involved (`mixed` for a `new_pattern` spanning several);
--     NULL when not address-based
--   remote_ip VARCHAR: the scanning address (`remote_scanner`); else NULL
--   events BIGINT: blocked events behind the finding in its evidence window (`volume_spike`: the `as_of`-day count;
--     `audit_gap`: the events before the device went silent)
--   devices BIGINT: distinct devices involved
--   remote_ips BIGINT: distinct remote addresses involved (0 or NULL when not address-based)
--   first_seen TIMESTAMPTZ: first event of the evidence (UTC)
--   last_seen TIMESTAMPTZ: last event of the evidence (UTC)
--   explanation VARCHAR: one sentence with the numbers that made it fire
--   suggested_action VARCHAR: what to do about it
--   powershell VARCHAR: a draft to review, not to run blindly: `New-NetFirewallRule …` (exposure, scanner, app,
--     outbound), `Set-Service`/`Start-Service mpssvc` (service stopped), `auditpol` lines (audit gap); every value
--     quoted with `ps_str`; NULL for `new_pattern` and `volume_spike`, which need a decision first
--   hunting_kql VARCHAR: an Advanced Hunting query on `DeviceEvents` for the evidence window, ActionTypes, device,
--     program, ports and address of the finding (addresses matched in plain and `::ffff:` form), projecting Timestamp,
--     DeviceId, ReportId, …; literals escaped with `kql_str`
--
-- fw_findings: one row per finding per tenant and as_of (history is kept: one set per nightly run).
-- Why: the deliverable of the firewall models: what to look at, why, a rule draft and a hunting query
-- that returns the evidence (Timestamp, DeviceId, ReportId) in Advanced Hunting.
-- finding_id hashes the finding's identity (not as_of), so the same issue keeps its id night after night.
-- Every literal in hunting_kql goes through kql_str and every value in powershell through ps_str.
CREATE TABLE IF NOT EXISTS fw_findings (
    tenant VARCHAR NOT NULL,
    finding_id VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    finding_type VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    device_id VARCHAR,
    device_name VARCHAR,
    direction VARCHAR,
    process VARCHAR,
    process_name VARCHAR,
    local_port INTEGER,
    remote_port INTEGER,
    remote_class VARCHAR,
    remote_ip VARCHAR,
    events BIGINT,
    devices BIGINT,
    remote_ips BIGINT,
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    explanation VARCHAR,
    suggested_action VARCHAR,
    powershell VARCHAR,
    hunting_kql VARCHAR
);

DELETE FROM fw_findings
WHERE as_of = getvariable('as_of') AND list_contains(getvariable('tenants'), tenant);

INSERT INTO fw_findings
SELECT
    c.tenant,
    md5(concat_ws('|', c.tenant, c.finding_type, c.scope, coalesce(c.device_id, ''), coalesce(c.direction, ''),
        coalesce(c.process, ''), coalesce(c.local_port::VARCHAR, ''), coalesce(c.remote_port::VARCHAR, ''),
        coalesce(c.remote_ip, ''), coalesce(c.key_day::VARCHAR, ''))) AS finding_id,
    getvariable('as_of') AS as_of,
    c.finding_type, c.severity, c.scope, c.device_id, c.device_name, c.direction, c.process,
    nullif(c.process_name, '') AS process_name,
    c.local_port, c.remote_port, c.remote_class, c.remote_ip,
    c.events, c.devices, c.remote_ips, c.first_seen, c.last_seen,
    c.explanation, c.suggested_action, c.powershell,
    concat_ws(chr(10),
        'DeviceEvents',
        '| where Timestamp between (datetime(' || strftime(c.evidence_from, '%Y-%m-%d') || 'T00:00:00Z) .. datetime('
            || strftime(c.evidence_to, '%Y-%m-%d') || 'T23:59:59.999Z))',
        '| where ActionType in (' || array_to_string(list_transform(c.action_types, lambda a: kql_str(a)), ', ') || ')',
        CASE WHEN c.device_id IS NOT NULL THEN '| where DeviceId == ' || kql_str(c.device_id) END,
        CASE
            WHEN coalesce(c.process_name, '') <> '' THEN '| where InitiatingProcessFileName =~ ' || kql_str(c.process_name)
            WHEN coalesce(c.process, '') <> ''
                THEN '| where InitiatingProcessFolderPath endswith ' || kql_str('\' || regexp_extract(c.process, '[^\\]*$'))
        END,
        CASE WHEN c.local_port IS NOT NULL THEN '| where LocalPort == ' || c.local_port END,
        CASE WHEN c.remote_port IS NOT NULL THEN '| where RemotePort == ' || c.remote_port END,
        -- normalised IPv4 addresses may be stored by Defender in their ::ffff: mapped form
        CASE WHEN c.remote_ip IS NOT NULL THEN '| where RemoteIP in~ (' || kql_str(c.remote_ip)
            || CASE WHEN NOT contains(c.remote_ip, ':') THEN ', ' || kql_str('::ffff:' || c.remote_ip) ELSE '' END
            || ')' END,
        '| project Timestamp, DeviceId, DeviceName, ReportId, ActionType, RemoteIP, RemotePort, LocalIP, LocalPort, '
            || 'InitiatingProcessFileName, InitiatingProcessFolderPath, AdditionalFields'
    ) AS hunting_kql
FROM fw_candidates c;
