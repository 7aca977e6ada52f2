-- model: firewall_service_stopped
-- kind: finding_rule
-- grain: tenant × device
-- depends_on: fw_recent
-- params: as_of, recent_days
-- description: Devices whose firewall service stopped in the recent window.
--
-- firewall_service_stopped candidates: one per tenant × device with any FirewallServiceStopped event
-- in the recent window. Why: with the service stopped the device has no host firewall at all.
-- active_on is as_of: no event says the service started again, so the situation is active while
-- the stop is in the recent window (59_fw_findings.sql resolves it resolve_after_days later).
INSERT INTO fw_candidates BY NAME
SELECT
    tenant,
    'firewall_service_stopped' AS finding_type,
    'high' AS severity,
    'device' AS scope,
    device_id,
    arg_max(device_name, timestamp) AS device_name,
    'none' AS direction,
    ['FirewallServiceStopped'] AS action_types,
    count(*) AS events, 1 AS devices, 0 AS remote_ips,
    min(timestamp) AS first_seen, max(timestamp) AS last_seen,
    min(day) AS evidence_from, max(day) AS evidence_to,
    printf('The Windows Firewall service stopped %d time(s) on %s between %s and %s.', count(*),
        coalesce(arg_max(device_name, timestamp), device_id), strftime(min(timestamp), '%Y-%m-%d %H:%M'),
        strftime(max(timestamp), '%Y-%m-%d %H:%M')) AS explanation,
    'Find who or what stopped the service (DeviceProcessEvents around the time: sc/net stop, Set-Service, '
        || 'tampering tools), restart it, and enforce it by policy (Intune/GPO, tamper protection).'
        AS suggested_action,
    'Set-Service -Name mpssvc -StartupType Automatic; Start-Service -Name mpssvc' AS powershell,
    'sc.exe config mpssvc start= auto' || chr(10) || 'sc.exe start mpssvc' AS netsh,
    min(struct_pack("timestamp" := timestamp, device_id := device_id, report_id := report_id), 5) AS sample_events,
    'service|' || device_id AS situation,
    getvariable('as_of') AS active_on
FROM fw_recent
WHERE action_type = 'FirewallServiceStopped'
GROUP BY tenant, device_id;
