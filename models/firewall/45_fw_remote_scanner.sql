-- model: remote_scanner
-- kind: finding_rule
-- grain: tenant × remote address × day of the recent window
-- depends_on: fw_remote_daily, fw_windows, fw_recent
-- params: as_of, baseline_days, recent_days, scanner_min_devices, tenants
-- description: One remote address blocked inbound on many devices in a day: a sweep.
--
-- remote_scanner candidates: one per tenant × remote address × day of the recent window on which
-- the address was blocked inbound on ≥ scanner_min_devices devices. Why: one source touching many
-- devices is a sweep (external, or a compromised internal host moving laterally).
-- Excluded: multicast/broadcast/unspecified/loopback/invalid sources, and familiar addresses: the
-- day's device count must be at least twice the address's largest daily device count in the
-- baseline_days before the recent window (a busy NetBIOS/LLMNR peer that always reaches 8-14
-- devices is steady chatter, not a sweep; an address never seen before has a previous max of 0).
-- Situation: the address (sweeps of several days are one finding; new_pattern on a port the sweep
-- made new joins it in 59_fw_findings.sql). local_port is only the most frequent of the sweep's
-- ports, so the hunting query does not filter on it (kql_port_filter false).
INSERT INTO fw_candidates BY NAME
WITH hits AS (
    SELECT r.*
    FROM fw_remote_daily r, fw_windows b
    WHERE list_contains(getvariable('tenants'), r.tenant)
      AND r.day BETWEEN b.recent_start AND getvariable('as_of')
      AND r.direction = 'inbound'
      AND r.remote_class IN ('public', 'private', 'link-local', 'reserved')
      AND r.devices >= getvariable('scanner_min_devices')
),
familiar AS (
    SELECT r.tenant, r.remote_ip, max(r.devices) AS max_devices_before
    FROM fw_remote_daily r, fw_windows b
    WHERE list_contains(getvariable('tenants'), r.tenant)
      AND r.day >= b.before_start AND r.day < b.recent_start
      AND r.direction = 'inbound'
    GROUP BY r.tenant, r.remote_ip
)
SELECT
    h.tenant,
    'remote_scanner' AS finding_type,
    CASE WHEN h.remote_class = 'public' THEN 'high' ELSE 'medium' END AS severity,
    'fleet' AS scope,
    'inbound' AS direction,
    ['FirewallInboundConnectionBlocked', 'FirewallInboundConnectionToAppBlocked'] AS action_types,
    h.top_local_port AS local_port,
    h.remote_class, h.remote_ip, h.day AS key_day,
    h.events, h.devices, 1 AS remote_ips, h.first_seen, h.last_seen,
    h.day AS evidence_from, h.day AS evidence_to,
    printf('%s address %s was blocked inbound on %d devices on %s (%d events, %d distinct local ports, '
        || 'most often %s).', h.remote_class, h.remote_ip, h.devices, strftime(h.day, '%Y-%m-%d'), h.events,
        h.local_ports, coalesce(h.top_local_port::VARCHAR, 'none')) AS explanation,
    CASE WHEN h.remote_class = 'public'
        THEN 'Block the address at the perimeter and check whether any device accepted a connection from it '
            || '(DeviceNetworkEvents InboundConnectionAccepted).'
        ELSE 'An internal host is sweeping the network: identify it, check it for compromise or an '
            || 'unsanctioned scanner, and block it if it has no business reaching these devices.'
    END AS suggested_action,
    ps_fw_rule('Hunthouse: block scanner ' || h.remote_ip, 'Inbound', 'Block', NULL, NULL, NULL, NULL,
        [h.remote_ip], 'Any') AS powershell,
    netsh_fw_rule('Hunthouse: block scanner ' || h.remote_ip, 'Inbound', 'Block', NULL, NULL, NULL, NULL,
        [h.remote_ip], 'Any') AS netsh,
    (SELECT min(struct_pack("timestamp" := f.timestamp, device_id := f.device_id, report_id := f.report_id), 5)
     FROM fw_recent f
     WHERE f.tenant = h.tenant AND f.day = h.day AND f.direction = 'inbound' AND f.remote_ip = h.remote_ip)
        AS sample_events,
    'remote|' || h.remote_ip AS situation,
    false AS kql_port_filter
FROM hits h
LEFT JOIN familiar f ON f.tenant = h.tenant AND f.remote_ip = h.remote_ip
WHERE h.devices >= 2 * coalesce(f.max_devices_before, 0);
