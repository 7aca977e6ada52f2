-- Firewall report: one row per finding of the tenant for as_of (fw_findings), most severe first, with
-- the severity the same finding_id had on the tenant's previous published night (NULL when it was
-- not published then, or there is no previous night), so the report can call it escalated.
WITH previous AS (
    SELECT finding_id, severity
    FROM fw_findings
    WHERE tenant = $tenant
      AND as_of = (SELECT max(as_of) FROM fw_findings WHERE tenant = $tenant AND as_of < $as_of)
)
SELECT
    f.finding_id, f.finding_type, f.severity, p.severity AS previous_severity, f.scope, f.device_name, f.device_id,
    f.direction, f.process, f.local_port, f.remote_port, f.remote_class, f.remote_ip, f.events, f.devices,
    f.remote_ips, f.first_seen, f.last_seen, f.last_active, f.explanation, f.suggested_action, f.powershell,
    f.netsh, f.hunting_kql, f.signals, f.state, f.nights_open, f.sample_events, f.situation
FROM fw_findings AS f
LEFT JOIN previous AS p USING (finding_id)
WHERE f.tenant = $tenant AND f.as_of = $as_of
ORDER BY CASE f.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, f.finding_type, f.events DESC,
    f.finding_id;
