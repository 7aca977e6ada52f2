-- Firewall report: one row per report section (inbound | outbound | app) × day of the report window:
-- blocked events, for the "blocked over time" charts. Reads fw_daily.
SELECT
    CASE action_type
        WHEN 'FirewallInboundConnectionToAppBlocked' THEN 'app'
        WHEN 'FirewallInboundConnectionBlocked' THEN 'inbound'
        WHEN 'FirewallOutboundConnectionBlocked' THEN 'outbound'
        ELSE 'service'
    END AS section,
    day,
    sum(events)::BIGINT AS events
FROM fw_daily
WHERE tenant = $tenant AND day BETWEEN $start AND $end
GROUP BY ALL
ORDER BY section, day;
