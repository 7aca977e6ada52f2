-- Firewall report: one row per report section × top-list kind (device | local_port | remote_port |
-- process) × item, the 10 largest by blocked events in the report window. Reads fw_daily.
WITH scoped AS (
    SELECT
        CASE action_type
            WHEN 'FirewallInboundConnectionToAppBlocked' THEN 'app'
            WHEN 'FirewallInboundConnectionBlocked' THEN 'inbound'
            WHEN 'FirewallOutboundConnectionBlocked' THEN 'outbound'
        END AS section,
        *
    FROM fw_daily
    WHERE tenant = $tenant AND day BETWEEN $start AND $end AND action_type <> 'FirewallServiceStopped'
),
items AS (
    SELECT section, 'device' AS kind, coalesce(max(device_name), device_id) AS item,
           sum(events) AS events, 1 AS devices, count(DISTINCT day) AS days
    FROM scoped GROUP BY section, device_id
    UNION ALL
    SELECT section, CASE section WHEN 'outbound' THEN 'remote_port' ELSE 'local_port' END,
           service_port::VARCHAR || coalesce(' (' || max(service) || ')', ''),
           sum(events), count(DISTINCT device_id), count(DISTINCT day)
    FROM scoped WHERE service_port IS NOT NULL GROUP BY section, service_port
    UNION ALL
    SELECT section, 'process', coalesce(nullif(process, ''), '(unknown program)'),
           sum(events), count(DISTINCT device_id), count(DISTINCT day)
    FROM scoped GROUP BY section, process
)
SELECT section, kind, item, events::BIGINT AS events, devices::BIGINT AS devices, days::BIGINT AS days
FROM items
QUALIFY row_number() OVER (PARTITION BY section, kind ORDER BY events DESC, item) <= 10
ORDER BY section, kind, events DESC, item;
