-- model: audit_gap
-- kind: finding_rule
-- grain: tenant × device
-- depends_on: fw_daily, fw_recent, fw_reporting, fw_windows
-- params: as_of, baseline_days, recent_days, tenants
-- description: Devices that reported firewall events before but none in the recent window.
--
-- audit_gap candidates: one per tenant × device that reported firewall events on ≥ 2 days earlier in
-- the baseline window but none in the recent window, while other devices of the tenant did.
-- Why: the firewall report is only as complete as the Filtering Platform failure auditing behind it;
-- a silent device has usually lost its audit policy, not become quiet.
-- active_on is as_of: the silence is what is seen tonight (its last event is old by definition).
INSERT INTO fw_candidates BY NAME
WITH earlier AS (
    SELECT d.tenant, d.device_id,
           arg_max(d.device_name, d.last_seen) AS device_name,
           count(DISTINCT d.day) AS days,
           sum(d.events) AS events,
           min(d.first_seen) AS first_seen,
           max(d.last_seen) AS last_seen,
           max(d.day) AS last_day,
           -- the last events before the silence (fw_daily keeps each row's first event)
           list_sort(max(struct_pack("timestamp" := d.sample_timestamp, device_id := d.sample_device_id,
                                     report_id := d.sample_report_id), 5)) AS sample_events
    FROM fw_daily d, fw_windows b
    WHERE list_contains(getvariable('tenants'), d.tenant)
      AND d.day >= b.window_start AND d.day < b.recent_start
    GROUP BY d.tenant, d.device_id
    HAVING count(DISTINCT d.day) >= 2
)
SELECT
    e.tenant,
    'audit_gap' AS finding_type,
    'medium' AS severity,
    'device' AS scope,
    e.device_id, e.device_name,
    ['FirewallInboundConnectionBlocked', 'FirewallOutboundConnectionBlocked',
     'FirewallInboundConnectionToAppBlocked'] AS action_types,
    e.events, 1 AS devices, e.first_seen, e.last_seen,
    (SELECT window_start FROM fw_windows) AS evidence_from,
    getvariable('as_of') AS evidence_to,
    printf('%s reported %d firewall events on %d days up to %s, then nothing for the last %d days while '
        || '%d other devices kept reporting.', coalesce(e.device_name, e.device_id), e.events, e.days,
        strftime(e.last_day, '%Y-%m-%d'), getvariable('recent_days'), p.devices) AS explanation,
    'Filtering Platform failure auditing is probably off. On the device (or by GPO/Intune) run: '
        || 'auditpol /set /subcategory:"Filtering Platform Packet Drop" /failure:enable and '
        || 'auditpol /set /subcategory:"Filtering Platform Connection" /failure:enable; check the device is '
        || 'still onboarded and online.' AS suggested_action,
    'auditpol /set /subcategory:"Filtering Platform Packet Drop" /failure:enable' || chr(10)
        || 'auditpol /set /subcategory:"Filtering Platform Connection" /failure:enable' AS powershell,
    'auditpol /set /subcategory:"Filtering Platform Packet Drop" /failure:enable' || chr(10)
        || 'auditpol /set /subcategory:"Filtering Platform Connection" /failure:enable' AS netsh,
    e.sample_events,
    'audit|' || e.device_id AS situation,
    getvariable('as_of') AS active_on
FROM earlier e
JOIN fw_reporting p ON p.tenant = e.tenant AND p.devices > 0
WHERE NOT EXISTS (
    SELECT 1 FROM fw_recent r WHERE r.tenant = e.tenant AND r.device_id = e.device_id
);
