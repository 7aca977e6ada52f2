-- Firewall report: one row per remote address that was blocked on 2 or more devices on some day of the
-- report window (the Defender report's "remote IPs targeting multiple devices"). Reads fw_remote_daily.
SELECT
    direction,
    remote_ip,
    remote_class,
    max(devices)::BIGINT AS max_devices_per_day,
    sum(events)::BIGINT AS events,
    count(DISTINCT day)::BIGINT AS days,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM fw_remote_daily
WHERE tenant = $tenant AND day BETWEEN $start AND $end
GROUP BY direction, remote_ip, remote_class
HAVING max(devices) >= 2
ORDER BY max_devices_per_day DESC, events DESC, remote_ip
LIMIT 25;
