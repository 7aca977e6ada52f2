-- model: fw_findings
-- kind: as_of
-- grain: one row per finding per tenant and as_of
-- key: tenant, as_of, finding_id
-- depends_on: fw_candidates, fw_macros
-- params: as_of, tenants
-- catch_up: as_of
-- description: Firewall hardening findings for the run's day, with drafts and hunting KQL.
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
