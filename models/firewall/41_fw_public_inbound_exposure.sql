-- model: public_inbound_exposure
-- kind: finding_rule
-- grain: tenant × device × sensitive local port
-- depends_on: fw_recent, fw_port_services
-- params: as_of, recent_days, exposure_min_days, exposure_min_sources, management_ranges
-- description: Sensitive ports that public addresses reached and only the host firewall blocked.
--
-- public_inbound_exposure candidates: one per tenant × device × sensitive local port that public
-- addresses reached (and the host firewall blocked) in the recent window. Why: the perimeter let
-- the traffic through; only the host rule stands between the Internet and RDP/SMB/SSH/…
-- Persistence guard: on ≥ exposure_min_days days or from ≥ exposure_min_sources addresses. A single
-- address on a single day is a sweep and is reported once, fleet-wide, as remote_scanner.
-- Draft: per transport (from the events' AdditionalFields.Protocol; when they carry none, the
-- port's fw_port_services.protocols, so SNMP 161 is UDP), an explicit allow from management_ranges
-- then a block scoped to `-RemoteAddress Internet` (not every address: a Profile Any block of all
-- addresses would override the allow rules remote administrators rely on, since a block rule wins
-- over an allow rule). suggested_action says what the block locks out.
INSERT INTO fw_candidates BY NAME
WITH hits AS (
    SELECT
        r.tenant, r.device_id, r.local_port, s.service, s.protocols AS port_protocols,
        arg_max(r.device_name, r.timestamp) AS device_name,
        CASE WHEN count(DISTINCT r.process) = 1 THEN min(r.process) END AS process,
        CASE WHEN count(DISTINCT r.process_name) = 1 THEN min(r.process_name) END AS process_name,
        list_sort(list_distinct(list(nullif(r.protocol, '')))) AS event_protocols,
        count(*) AS events,
        count(DISTINCT r.remote_ip) AS remote_ips,
        count(DISTINCT r.day) AS days,
        min(r.timestamp) AS first_seen,
        max(r.timestamp) AS last_seen,
        min(struct_pack("timestamp" := r.timestamp, device_id := r.device_id, report_id := r.report_id), 5)
            AS sample_events
    FROM fw_recent r
    JOIN fw_port_services s ON s.port = r.local_port AND s.is_sensitive
    WHERE r.direction = 'inbound' AND r.remote_class = 'public'
    GROUP BY ALL
),
drafted AS (
    SELECT *,
        -- the event's transport wins; ICMP or an odd value is not a port rule, so only TCP/UDP are kept
        coalesce(nullif(list_filter(event_protocols, lambda p: p IN ('TCP', 'UDP')), []), port_protocols,
                 ['TCP', 'UDP']) AS protocols,
        getvariable('management_ranges') AS mgmt
    FROM hits
    WHERE days >= getvariable('exposure_min_days') OR remote_ips >= getvariable('exposure_min_sources')
)
SELECT
    tenant,
    'public_inbound_exposure' AS finding_type,
    'high' AS severity,
    'device' AS scope,
    device_id, device_name,
    'inbound' AS direction,
    ['FirewallInboundConnectionBlocked', 'FirewallInboundConnectionToAppBlocked'] AS action_types,
    process, process_name, local_port,
    'public' AS remote_class,
    events, 1 AS devices, remote_ips, first_seen, last_seen,
    getvariable('as_of') - (getvariable('recent_days') - 1) AS evidence_from,
    getvariable('as_of') AS evidence_to,
    printf('%d inbound connections from %d public addresses to %s/%d (%s) on %s were blocked by the host '
        || 'firewall on %d of the last %d days: the edge lets this traffic reach the device.',
        events, remote_ips, array_to_string(protocols, '+'), local_port, service, coalesce(device_name, device_id),
        days, getvariable('recent_days')) AS explanation,
    printf('Block %s/%d (%s) from the Internet at the perimeter (edge firewall, NSG, router port '
        || 'forwards); keep the host rule as defence in depth. If remote access is needed, publish it '
        || 'through a VPN or gateway. What the drafted host rules lock out: every connection to %s/%d from '
        || 'an Internet address (%d public sources tried in the last %d days), including an administrator '
        || 'connecting from home or a hotel without VPN; connections from the management ranges (%s) stay '
        || 'allowed by the first rule. A block rule overrides an allow rule, so a management range must be '
        || 'a private (intranet) range: a public one listed there would still be blocked.',
        array_to_string(protocols, '+'), local_port, service, array_to_string(protocols, '+'), local_port,
        remote_ips, getvariable('recent_days'),
        coalesce(nullif(array_to_string(mgmt, ', '), ''), 'none configured')) AS suggested_action,
    array_to_string(list_concat(
        CASE WHEN len(mgmt) > 0 THEN list_transform(protocols, lambda p: ps_fw_rule(
            printf('Hunthouse: allow %s/%d (%s) from management ranges', p, local_port, service),
            'Inbound', 'Allow', NULL, p, local_port, NULL, mgmt, 'Any')) ELSE [] END,
        list_transform(protocols, lambda p: ps_fw_rule(
            printf('Hunthouse: block %s/%d (%s) from Internet', p, local_port, service),
            'Inbound', 'Block', NULL, p, local_port, NULL, ['Internet'], 'Any'))), chr(10)) AS powershell,
    array_to_string(list_concat(
        CASE WHEN len(mgmt) > 0 THEN list_transform(protocols, lambda p: netsh_fw_rule(
            printf('Hunthouse: allow %s/%d (%s) from management ranges', p, local_port, service),
            'Inbound', 'Allow', NULL, p, local_port, NULL, mgmt, 'Any')) ELSE [] END,
        list_transform(protocols, lambda p: netsh_fw_rule(
            printf('Hunthouse: block %s/%d (%s) from Internet', p, local_port, service),
            'Inbound', 'Block', NULL, p, local_port, NULL, ['Internet'], 'Any'))), chr(10)) AS netsh,
    sample_events,
    'exposure|' || device_id || '|' || local_port AS situation,
    true AS public_only
FROM drafted;
