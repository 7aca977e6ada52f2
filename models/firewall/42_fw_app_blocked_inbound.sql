-- model: app_blocked_inbound
-- kind: finding_rule
-- grain: tenant × application
-- depends_on: fw_recent, fw_reporting
-- params: as_of, recent_days, app_min_devices, app_min_share
-- description: Applications whose inbound connections were blocked on many of the tenant's devices.
--
-- app_blocked_inbound candidates: one per tenant × application whose inbound connections were
-- blocked (FirewallInboundConnectionToAppBlocked) on many devices in the recent window
-- (≥ app_min_share of the tenant's reporting devices and ≥ app_min_devices). Why: a fleet-wide
-- "blocked to app" is a rule decision waiting to be made: allow it on trusted profiles or confirm it.
INSERT INTO fw_candidates BY NAME
WITH apps AS (
    SELECT
        r.tenant, r.process,
        max(r.process_name) AS process_name,
        count(*) AS events,
        count(DISTINCT r.device_id) AS devices,
        count(DISTINCT nullif(r.remote_ip, '')) AS remote_ips,
        string_agg(DISTINCT r.profile, ', ' ORDER BY r.profile) AS profiles,
        min(r.timestamp) AS first_seen,
        max(r.timestamp) AS last_seen,
        any_value(p.devices) AS reporting_devices
    FROM fw_recent r
    JOIN fw_reporting p USING (tenant)
    WHERE r.action_type = 'FirewallInboundConnectionToAppBlocked'
    GROUP BY r.tenant, r.process
)
SELECT
    tenant,
    'app_blocked_inbound' AS finding_type,
    'medium' AS severity,
    'fleet' AS scope,
    'inbound' AS direction,
    ['FirewallInboundConnectionToAppBlocked'] AS action_types,
    process, process_name,
    events, devices, remote_ips, first_seen, last_seen,
    getvariable('as_of') - (getvariable('recent_days') - 1) AS evidence_from,
    getvariable('as_of') AS evidence_to,
    printf('Inbound connections to %s were blocked %d times on %d of %d reporting devices in the last %d '
        || 'days (profiles: %s).', coalesce(nullif(process, ''), '(unknown program)'), events, devices,
        reporting_devices, getvariable('recent_days'), coalesce(profiles, 'not reported')) AS explanation,
    'Decide with the application owner: if the program must accept connections, add an explicit allow '
        || 'rule scoped to the Domain and Private profiles (never Public); otherwise confirm the block with '
        || 'an explicit block rule so the prompt and the noise stop.'
        || CASE WHEN process LIKE '\%userprofile\%%' ESCAPE '\'
            THEN ' The program runs from a user profile: the firewall service cannot expand %UserProfile%, '
                || 'so write the rule per user path or move the program.'
            ELSE '' END AS suggested_action,
    CASE WHEN coalesce(process, '') <> '' THEN
        'New-NetFirewallRule -DisplayName '
            || ps_str('Hunthouse: allow inbound to ' || coalesce(nullif(process_name, ''), process) || ' (Domain, Private)')
            || ' -Direction Inbound -Program ' || ps_str(fw_rule_program(process))
            || ' -Action Allow -Profile Domain,Private'
    END AS powershell
FROM apps
WHERE devices >= getvariable('app_min_devices')
  AND devices >= ceil(getvariable('app_min_share') * reporting_devices);
