-- Firewall report: one row per device × direction with a baseline, comparing the as_of day's
-- blocked events with the device's fw_baseline (median, p95, MAD); largest robust z first.
-- $mad_floor is the volume_spike model's spike_mad_floor, so the report's z is the model's z.
WITH today AS (
    SELECT device_id, direction, max(device_name) AS device_name, sum(events) AS events
    FROM fw_daily
    WHERE tenant = $tenant AND day = $as_of AND direction IN ('inbound', 'outbound')
    GROUP BY ALL
)
SELECT
    coalesce(t.device_name, b.device_id) AS device,
    b.direction,
    coalesce(t.events, 0)::BIGINT AS events_today,
    b.median,
    b.p95,
    b.mad,
    b.days_seen,
    b.window_days,
    (coalesce(t.events, 0) - b.median) / (1.4826 * greatest(b.mad, $mad_floor, 0.1 * b.median)) AS robust_z
FROM fw_baseline b
LEFT JOIN today t ON t.device_id = b.device_id AND t.direction = b.direction
WHERE b.tenant = $tenant AND b.scope = 'device' AND b.level = 'direction'
ORDER BY robust_z DESC, device
LIMIT 20;
