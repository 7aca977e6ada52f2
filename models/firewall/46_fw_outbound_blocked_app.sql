-- model: outbound_blocked_app
-- kind: finding_rule
-- grain: tenant × program
-- depends_on: fw_daily, fw_recent, fw_windows, fw_programs, fw_port_services
-- params: as_of, baseline_days, recent_days, outbound_min_events, outbound_min_ratio, tenants
-- description: Programs repeatedly blocked outbound to public addresses, more than before.
--
-- outbound_blocked_app candidates: one per tenant × program blocked outbound to public addresses at
-- least outbound_min_events times in the recent window, at a daily rate ≥ outbound_min_ratio × its
-- rate in the baseline_days before (0 before counts as new). Why: a program that keeps trying to
-- reach the Internet and is denied is either misconfigured or beaconing; steady, known denials
-- (the baseline) are not news.
-- Draft: block the program to the Internet, one rule per executable path of fw_programs (a program
-- in users' profiles gets one rule per user path, and AppLocker/WDAC is suggested: the firewall
-- cannot expand %UserProfile%); when the executable is unknown, a port rule on its most frequent
-- remote port (transport from the events, else fw_port_services, else both) instead.
-- Situation: the program (with new_pattern's outbound patterns of the same program: a beacon).
INSERT INTO fw_candidates BY NAME
WITH outbound AS (
    SELECT d.*, d.day >= b.recent_start AS is_recent
    FROM fw_daily d, fw_windows b
    WHERE list_contains(getvariable('tenants'), d.tenant)
      AND d.day BETWEEN b.before_start AND getvariable('as_of')
      AND d.direction = 'outbound'
),
reporting AS (
    SELECT tenant,
           greatest(count(DISTINCT day) FILTER (WHERE is_recent), 1) AS recent_days_seen,
           greatest(count(DISTINCT day) FILTER (WHERE NOT is_recent), 1) AS before_days_seen
    FROM outbound GROUP BY tenant
),
per_app AS (
    SELECT
        o.tenant, o.process,
        max(o.process_name) AS process_name,
        sum(o.events) FILTER (WHERE o.is_recent) AS events,
        coalesce(sum(o.events) FILTER (WHERE NOT o.is_recent), 0) AS events_before,
        count(DISTINCT o.device_id) FILTER (WHERE o.is_recent) AS devices,
        min(o.device_id) FILTER (WHERE o.is_recent) AS one_device_id,
        arg_min(o.device_name, o.device_id) FILTER (WHERE o.is_recent) AS one_device_name,
        count(DISTINCT o.day) FILTER (WHERE o.is_recent) AS days,
        min(o.first_seen) FILTER (WHERE o.is_recent) AS first_seen,
        max(o.last_seen) FILTER (WHERE o.is_recent) AS last_seen
    FROM outbound o
    WHERE o.remote_class = 'public'
    GROUP BY o.tenant, o.process
),
top_port AS (
    -- the remote (service) port with the most recent events; ties go to the lowest port
    SELECT tenant, process, arg_max(service_port, (events, -coalesce(service_port, 65536))) AS top_remote_port
    FROM (
        SELECT tenant, process, service_port, sum(events) AS events
        FROM outbound
        WHERE is_recent AND remote_class = 'public'
        GROUP BY ALL
    )
    GROUP BY ALL
),
scored AS (
    SELECT a.*, t.top_remote_port, r.recent_days_seen, r.before_days_seen,
           a.events / r.recent_days_seen AS rate, a.events_before / r.before_days_seen AS rate_before
    FROM per_app a JOIN reporting r USING (tenant)
    LEFT JOIN top_port t ON t.tenant = a.tenant AND t.process = a.process
    WHERE a.events >= getvariable('outbound_min_events')
),
evidence AS (
    SELECT s.tenant, s.process,
        count(DISTINCT f.remote_ip) AS remote_ips,
        min(struct_pack("timestamp" := f.timestamp, device_id := f.device_id, report_id := f.report_id), 5)
            AS sample_events,
        list_sort(list_distinct(list(g.rule_program))) AS programs,
        list_sort(list_distinct(list(nullif(f.protocol, '')) FILTER (WHERE f.service_port = s.top_remote_port)))
            AS port_protocols
    FROM scored s
    JOIN fw_recent f ON f.tenant = s.tenant AND f.process = s.process AND f.direction = 'outbound'
        AND f.remote_class = 'public'
    LEFT JOIN fw_programs g ON g.tenant = f.tenant AND g.device_id = f.device_id AND g.process = f.process
    GROUP BY ALL
),
drafted AS (
    SELECT s.*, e.remote_ips, e.sample_events, e.programs,
        list_filter(e.programs, lambda x: fw_is_user_path(x)) AS user_programs,
        coalesce(nullif(s.process_name, ''), nullif(s.process, ''), 'unknown program') AS label,
        coalesce(nullif(list_filter(e.port_protocols, lambda p: p IN ('TCP', 'UDP')), []), ps.protocols,
                 ['TCP', 'UDP']) AS protocols
    FROM scored s
    JOIN evidence e USING (tenant, process)
    LEFT JOIN fw_port_services ps ON ps.port = s.top_remote_port
    WHERE s.rate >= getvariable('outbound_min_ratio') * s.rate_before
)
SELECT
    s.tenant,
    'outbound_blocked_app' AS finding_type,
    'medium' AS severity,
    CASE WHEN s.devices = 1 THEN 'device' ELSE 'fleet' END AS scope,
    CASE WHEN s.devices = 1 THEN s.one_device_id END AS device_id,
    CASE WHEN s.devices = 1 THEN s.one_device_name END AS device_name,
    'outbound' AS direction,
    ['FirewallOutboundConnectionBlocked'] AS action_types,
    s.process, s.process_name,
    'public' AS remote_class,
    s.events, s.devices, s.remote_ips,
    s.first_seen, s.last_seen,
    getvariable('as_of') - (getvariable('recent_days') - 1) AS evidence_from,
    getvariable('as_of') AS evidence_to,
    printf('%s was blocked %d times on %d day(s) reaching public addresses from %d device(s) (most often '
        || 'remote port %s); %.1f a day now against %.1f a day in the %d days before.',
        coalesce(nullif(s.process, ''), '(unknown program)'), s.events, s.days, s.devices,
        coalesce(s.top_remote_port::VARCHAR, 'none'), s.rate, s.rate_before, getvariable('baseline_days'))
        AS explanation,
    'Identify the program and its owner. Legitimate but misconfigured: allow only its real destinations. '
        || 'Unknown or periodic (beaconing): investigate the device; keep it blocked with an explicit rule.'
        || CASE WHEN len(s.user_programs) > 0
            THEN printf(' It runs from user profiles (%d path(s)): the firewall service cannot expand '
                || '%%UserProfile%%, so the draft has one rule per user path; stop it from running there at '
                || 'all with AppLocker or WDAC (a path rule on %%OSDRIVE%%\Users\*\AppData\*).', len(s.user_programs))
            ELSE '' END
        || CASE WHEN len(s.programs) = 0 THEN
            ' The executable path is unknown, so the draft blocks its most frequent remote port to the '
                || 'Internet instead: that blocks every program on that port.'
            ELSE '' END AS suggested_action,
    CASE
        WHEN len(s.programs) > 0 THEN array_to_string(list_transform(s.programs, lambda x: ps_fw_rule(
            'Hunthouse: block outbound ' || s.label || ' to Internet' || CASE WHEN len(s.programs) > 1
                THEN ' ' || x ELSE '' END,
            'Outbound', 'Block', x, NULL, NULL, NULL, ['Internet'], 'Any')), chr(10))
        WHEN s.top_remote_port IS NOT NULL THEN array_to_string(list_transform(s.protocols, lambda p: ps_fw_rule(
            printf('Hunthouse: block outbound %s/%d to Internet (%s)', p, s.top_remote_port, s.label),
            'Outbound', 'Block', NULL, p, NULL, s.top_remote_port, ['Internet'], 'Any')), chr(10))
    END AS powershell,
    CASE
        WHEN len(s.programs) > 0 THEN array_to_string(list_transform(s.programs, lambda x: netsh_fw_rule(
            'Hunthouse: block outbound ' || s.label || ' to Internet' || CASE WHEN len(s.programs) > 1
                THEN ' ' || x ELSE '' END,
            'Outbound', 'Block', x, NULL, NULL, NULL, ['Internet'], 'Any')), chr(10))
        WHEN s.top_remote_port IS NOT NULL THEN array_to_string(list_transform(s.protocols, lambda p: netsh_fw_rule(
            printf('Hunthouse: block outbound %s/%d to Internet (%s)', p, s.top_remote_port, s.label),
            'Outbound', 'Block', NULL, p, NULL, s.top_remote_port, ['Internet'], 'Any')), chr(10))
    END AS netsh,
    s.sample_events,
    CASE WHEN coalesce(s.process, '') <> '' THEN 'program|outbound|' || s.process
         ELSE 'port|outbound|' || coalesce(s.top_remote_port::VARCHAR, '') || '|' END AS situation,
    true AS public_only
FROM drafted s;
