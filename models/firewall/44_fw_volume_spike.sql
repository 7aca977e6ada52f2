-- model: volume_spike
-- kind: finding_rule
-- grain: tenant × device × direction
-- depends_on: fw_daily, fw_baseline, fw_recent
-- params: as_of, baseline_days, spike_mad_floor, spike_min_events, spike_min_ratio, spike_min_z, tenants
-- description: Devices whose as_of-day blocked count is far above their baseline.
--
-- volume_spike candidates: one per tenant × device × direction whose as_of-day count is far above
-- its baseline (fw_baseline scope 'device', level 'direction'). Why: a device suddenly blocking many
-- more connections is being scanned, is misconfigured or is misbehaving.
-- Fires only when all hold: robust z = (x − median) / (1.4826 · max(MAD, spike_mad_floor,
-- 0.1·median)) ≥ spike_min_z; x ≥ spike_min_events; x ≥ spike_min_ratio · max(median, 1); and
-- x ≥ 2 × the largest count on the same weekday in the window (so a weekly rhythm never fires).
-- Situation: the device (an inbound and an outbound spike of one device on one night are one finding).
INSERT INTO fw_candidates BY NAME
WITH today AS (
    SELECT tenant, device_id, direction, arg_max(device_name, last_seen) AS device_name,
           sum(events) AS x, min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM fw_daily
    WHERE list_contains(getvariable('tenants'), tenant) AND day = getvariable('as_of')
      AND direction IN ('inbound', 'outbound')
    GROUP BY ALL
),
top_pattern AS (
    SELECT tenant, device_id, direction,
           arg_max(coalesce(nullif(process, ''), '(unknown program)') || ' port '
               || coalesce(service_port::VARCHAR, 'none'), events) AS top,
           max(events) AS top_events
    FROM (
        SELECT tenant, device_id, direction, process, service_port, sum(events) AS events
        FROM fw_daily
        WHERE list_contains(getvariable('tenants'), tenant) AND day = getvariable('as_of')
        GROUP BY ALL
    )
    GROUP BY ALL
),
same_weekday AS (
    SELECT tenant, device_id, direction, max(n) AS weekday_max
    FROM (
        SELECT tenant, device_id, direction, day, sum(events) AS n
        FROM fw_daily
        WHERE list_contains(getvariable('tenants'), tenant)
          AND day BETWEEN getvariable('as_of') - getvariable('baseline_days') AND getvariable('as_of') - 1
          AND dayofweek(day) = dayofweek(getvariable('as_of'))
        GROUP BY ALL
    )
    GROUP BY ALL
),
scored AS (
    SELECT
        t.*, b.median, b.mad, b.p95, b.window_days, b.days_seen,
        coalesce(w.weekday_max, 0) AS weekday_max,
        (t.x - b.median) / (1.4826 * greatest(b.mad, getvariable('spike_mad_floor'), 0.1 * b.median)) AS z,
        tp.top, tp.top_events
    FROM today t
    JOIN fw_baseline b
        ON b.tenant = t.tenant AND b.scope = 'device' AND b.level = 'direction'
        AND b.device_id = t.device_id AND b.direction = t.direction
    LEFT JOIN same_weekday w
        ON w.tenant = t.tenant AND w.device_id = t.device_id AND w.direction = t.direction
    LEFT JOIN top_pattern tp
        ON tp.tenant = t.tenant AND tp.device_id = t.device_id AND tp.direction = t.direction
)
SELECT
    s.tenant,
    'volume_spike' AS finding_type,
    'medium' AS severity,
    'device' AS scope,
    s.device_id, s.device_name, s.direction,
    CASE WHEN s.direction = 'inbound'
        THEN ['FirewallInboundConnectionBlocked', 'FirewallInboundConnectionToAppBlocked']
        ELSE ['FirewallOutboundConnectionBlocked'] END AS action_types,
    s.x AS events, 1 AS devices,
    (SELECT count(DISTINCT nullif(f.remote_ip, '')) FROM fw_recent f
     WHERE f.tenant = s.tenant AND f.device_id = s.device_id AND f.direction = s.direction
       AND f.day = getvariable('as_of')) AS remote_ips,
    s.first_seen, s.last_seen,
    getvariable('as_of') AS evidence_from,
    getvariable('as_of') AS evidence_to,
    printf('%d %s blocks on %s (as_of day) against a baseline median of %.1f (MAD %.1f, p95 %.1f, %d of %d '
        || 'reporting days seen): robust z %.1f. Largest contributor: %s (%d events).',
        s.x, s.direction, coalesce(s.device_name, s.device_id), s.median, s.mad, s.p95, s.days_seen,
        s.window_days, s.z, s.top, s.top_events) AS explanation,
    'Open the hunting query: a burst from one remote address is a scan (check the edge), a burst from one '
        || 'local program is a misconfiguration or malware retrying; fix the cause rather than the rule.'
        AS suggested_action,
    (SELECT min(struct_pack("timestamp" := f.timestamp, device_id := f.device_id, report_id := f.report_id), 5)
     FROM fw_recent f
     WHERE f.tenant = s.tenant AND f.device_id = s.device_id AND f.direction = s.direction
       AND f.day = getvariable('as_of')) AS sample_events,
    -- one device's burst is one situation whether it shows inbound, outbound or both
    'volume|' || s.device_id AS situation
FROM scored s
WHERE s.z >= getvariable('spike_min_z')
  AND s.x >= getvariable('spike_min_events')
  AND s.x >= getvariable('spike_min_ratio') * greatest(s.median, 1)
  AND s.x >= 2 * s.weekday_max;
