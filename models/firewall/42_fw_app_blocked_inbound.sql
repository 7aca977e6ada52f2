-- model: app_blocked_inbound
-- kind: finding_rule
-- grain: tenant × application
-- depends_on: fw_recent, fw_reporting, fw_programs, fw_port_services
-- params: as_of, recent_days, app_min_devices, app_min_share
-- description: Applications whose inbound connections were blocked on many of the tenant's devices.
--
-- app_blocked_inbound candidates: one per tenant × application whose inbound connections were
-- blocked (FirewallInboundConnectionToAppBlocked) on many devices in the recent window
-- (≥ app_min_share of the tenant's reporting devices and ≥ app_min_devices). Why: a fleet-wide
-- "blocked to app" is a rule decision waiting to be made: allow it on trusted profiles or confirm it.
-- Draft: one allow rule (Domain, Private) per executable path of fw_programs across the devices
-- (ToApp rows often carry only the folder; fw_programs resolves it from the device's other events);
-- a program under a user's profile gets one rule per user path and AppLocker/WDAC is suggested;
-- when no device's executable is known the program is said to be unknown and, if the events name
-- local ports, a port rule is drafted instead (ToApp rows usually carry none: then no draft).
INSERT INTO fw_candidates BY NAME
WITH apps AS (
    SELECT
        r.tenant, r.process,
        max(r.process_name) AS process_name,
        count(*) AS events,
        count(DISTINCT r.device_id) AS devices,
        count(DISTINCT nullif(r.remote_ip, '')) AS remote_ips,
        string_agg(DISTINCT r.profile, ', ' ORDER BY r.profile) AS profiles,
        list_sort(list_distinct(list(r.local_port))) AS local_ports,
        min(r.timestamp) AS first_seen,
        max(r.timestamp) AS last_seen,
        min(struct_pack("timestamp" := r.timestamp, device_id := r.device_id, report_id := r.report_id), 5)
            AS sample_events,
        any_value(p.devices) AS reporting_devices
    FROM fw_recent r
    JOIN fw_reporting p USING (tenant)
    WHERE r.action_type = 'FirewallInboundConnectionToAppBlocked'
    GROUP BY r.tenant, r.process
),
programs AS (
    SELECT a.tenant, a.process,
        list_sort(list_distinct(list(g.rule_program))) AS programs,
        count(DISTINCT r.device_id) FILTER (WHERE g.rule_program IS NULL) AS unknown_devices
    FROM apps a
    JOIN fw_recent r ON r.tenant = a.tenant AND r.process = a.process
        AND r.action_type = 'FirewallInboundConnectionToAppBlocked'
    LEFT JOIN fw_programs g ON g.tenant = r.tenant AND g.device_id = r.device_id AND g.process = r.process
    GROUP BY ALL
),
ports AS (
    SELECT u.tenant, u.process,
        list({'port': u.port, 'protocols': coalesce(s.protocols, ['TCP', 'UDP'])} ORDER BY u.port) AS port_list
    FROM (SELECT tenant, process, unnest(local_ports) AS port FROM apps) u
    LEFT JOIN fw_port_services s ON s.port = u.port
    GROUP BY ALL
),
drafted AS (
    SELECT a.*, p.programs, p.unknown_devices,
        list_filter(p.programs, lambda x: fw_is_user_path(x)) AS user_programs,
        coalesce(nullif(a.process_name, ''), a.process, '(unknown program)') AS label,
        -- port fallback: only when no executable is known and the events name local ports
        CASE WHEN len(p.programs) = 0 THEN coalesce(o.port_list, []) ELSE [] END AS port_rules
    FROM apps a JOIN programs p USING (tenant, process)
    LEFT JOIN ports o ON o.tenant = a.tenant AND o.process = a.process
    WHERE a.devices >= getvariable('app_min_devices')
      AND a.devices >= ceil(getvariable('app_min_share') * a.reporting_devices)
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
        || CASE WHEN len(programs) = 0
            THEN printf(' The program is unknown: its blocked rows carry only the folder %s and no device '
                || 'reported an executable in it; find the listener on a device (Get-NetTCPConnection -State '
                || 'Listen | Select LocalPort, OwningProcess; Get-Process -Id <pid> | Select Path)%s.',
                coalesce(nullif(process, ''), '(none)'),
                CASE WHEN len(port_rules) > 0 THEN ' (the draft is a port rule meanwhile)' ELSE ' before drafting a rule' END)
            WHEN unknown_devices > 0
            THEN printf(' On %d device(s) the executable is unknown (only the folder was reported): check them '
                || 'before deploying.', unknown_devices)
            ELSE '' END
        || CASE WHEN len(user_programs) > 0
            THEN printf(' The program runs from user profiles (%d path(s)): the firewall service cannot expand '
                || '%%UserProfile%%, so the draft has one rule per user path; better, decide whether it may run '
                || 'from a user profile at all (AppLocker or WDAC).', len(user_programs))
            ELSE '' END AS suggested_action,
    CASE
        WHEN len(programs) > 0 THEN array_to_string(list_transform(programs, lambda x: ps_fw_rule(
            'Hunthouse: allow inbound to ' || label || ' (Domain, Private)' || CASE WHEN len(programs) > 1
                THEN ' ' || x ELSE '' END,
            'Inbound', 'Allow', x, NULL, NULL, NULL, NULL, 'Domain,Private')), chr(10))
        WHEN len(port_rules) > 0 THEN array_to_string(flatten(list_transform(port_rules, lambda r:
            list_transform(r.protocols, lambda p: ps_fw_rule(
                printf('Hunthouse: allow inbound %s/%d for %s (Domain, Private)', p, r.port, label),
                'Inbound', 'Allow', NULL, p, r.port, NULL, NULL, 'Domain,Private')))), chr(10))
    END AS powershell,
    CASE
        WHEN len(programs) > 0 THEN array_to_string(list_transform(programs, lambda x: netsh_fw_rule(
            'Hunthouse: allow inbound to ' || label || ' (Domain, Private)' || CASE WHEN len(programs) > 1
                THEN ' ' || x ELSE '' END,
            'Inbound', 'Allow', x, NULL, NULL, NULL, NULL, 'Domain,Private')), chr(10))
        WHEN len(port_rules) > 0 THEN array_to_string(flatten(list_transform(port_rules, lambda r:
            list_transform(r.protocols, lambda p: netsh_fw_rule(
                printf('Hunthouse: allow inbound %s/%d for %s (Domain, Private)', p, r.port, label),
                'Inbound', 'Allow', NULL, p, r.port, NULL, NULL, 'Domain,Private')))), chr(10))
    END AS netsh,
    sample_events,
    'program|inbound|' || process AS situation
FROM drafted;
