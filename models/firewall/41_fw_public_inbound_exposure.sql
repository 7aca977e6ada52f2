-- model: public_inbound_exposure
-- kind: finding_rule
-- grain: tenant × device × sensitive local port
-- depends_on: fw_recent, fw_port_services
-- params: as_of, recent_days, exposure_min_days, exposure_min_sources
-- description: Sensitive ports that public addresses reached and only the host firewall blocked.
--
-- public_inbound_exposure candidates: one per tenant × device × sensitive local port that public
-- addresses reached (and the host firewall blocked) in the recent window. Why: the perimeter let
-- the traffic through; only the host rule stands between the Internet and RDP/SMB/SSH/…
-- Persistence guard: on ≥ exposure_min_days days or from ≥ exposure_min_sources addresses. A single
-- address on a single day is a sweep and is reported once, fleet-wide, as remote_scanner.
INSERT INTO fw_candidates BY NAME
WITH hits AS (
    SELECT
        r.tenant, r.device_id, r.local_port, s.service,
        arg_max(r.device_name, r.timestamp) AS device_name,
        CASE WHEN count(DISTINCT r.process) = 1 THEN min(r.process) END AS process,
        CASE WHEN count(DISTINCT r.process_name) = 1 THEN min(r.process_name) END AS process_name,
        CASE WHEN max(r.protocol) = 'UDP' AND min(r.protocol) = 'UDP' THEN 'UDP' ELSE 'TCP' END AS protocol,
        count(*) AS events,
        count(DISTINCT r.remote_ip) AS remote_ips,
        count(DISTINCT r.day) AS days,
        min(r.timestamp) AS first_seen,
        max(r.timestamp) AS last_seen
    FROM fw_recent r
    JOIN fw_port_services s ON s.port = r.local_port AND s.is_sensitive
    WHERE r.direction = 'inbound' AND r.remote_class = 'public'
    GROUP BY ALL
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
        events, remote_ips, protocol, local_port, service, coalesce(device_name, device_id), days,
        getvariable('recent_days')) AS explanation,
    printf('Block %s/%d (%s) from the Internet at the perimeter (edge firewall, NSG, router port '
        || 'forwards); keep the host rule as defence in depth. If remote access is needed, publish it '
        || 'through a VPN or gateway.', protocol, local_port, service) AS suggested_action,
    'New-NetFirewallRule -DisplayName '
        || ps_str(printf('Hunthouse: block %s/%d (%s) from Internet', protocol, local_port, service))
        || ' -Direction Inbound -Protocol ' || protocol || ' -LocalPort ' || local_port
        || ' -RemoteAddress Internet -Action Block -Profile Any' AS powershell
FROM hits
WHERE days >= getvariable('exposure_min_days') OR remote_ips >= getvariable('exposure_min_sources');
