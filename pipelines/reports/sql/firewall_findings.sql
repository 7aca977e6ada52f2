-- Firewall report: one row per finding of the tenant for as_of (fw_findings), most severe first.
SELECT
    finding_id, finding_type, severity, scope, device_name, device_id, direction, process, local_port,
    remote_port, remote_class, remote_ip, events, devices, remote_ips, first_seen, last_seen, explanation,
    suggested_action, powershell, hunting_kql
FROM fw_findings
WHERE tenant = $tenant AND as_of = $as_of
ORDER BY CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, finding_type, events DESC, finding_id;
