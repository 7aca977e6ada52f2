-- fw_events (view): one row per staged firewall event (device_events row with a Firewall* ActionType)
-- with the derived fields every firewall model groups by. Why: the derivations live in one place;
-- it is a view so that it never goes stale against device_events and costs nothing to keep.
-- Rows with empty IP/port (FirewallInboundConnectionToAppBlocked) are kept: NULL ports, class
-- 'unspecified'. AdditionalFields keys (RemoteAddress, LocalPort, …) only fill gaps in the columns.
CREATE OR REPLACE VIEW fw_events AS
WITH src AS (
    SELECT
        tenant,
        day,
        timestamp,
        device_id,
        device_name,
        action_type,
        report_id,
        CASE action_type
            WHEN 'FirewallOutboundConnectionBlocked' THEN 'outbound'
            WHEN 'FirewallServiceStopped' THEN 'none'
            ELSE 'inbound'
        END AS direction,
        fw_ip_norm(coalesce(nullif(remote_ip, ''), json_extract_string(additional_fields, '$.RemoteAddress')))
            AS remote_ip,
        fw_ip_norm(coalesce(nullif(local_ip, ''), json_extract_string(additional_fields, '$.LocalAddress')))
            AS local_ip,
        coalesce(remote_port, TRY_CAST(json_extract_string(additional_fields, '$.RemotePort') AS INTEGER))
            AS remote_port,
        coalesce(local_port, TRY_CAST(json_extract_string(additional_fields, '$.LocalPort') AS INTEGER))
            AS local_port,
        fw_process_path(initiating_process_folder_path, initiating_process_file_name) AS process,
        lower(coalesce(initiating_process_file_name, '')) AS process_name,
        coalesce(
            json_extract_string(additional_fields, '$.Profile'),
            json_extract_string(additional_fields, '$.Profiles')
        ) AS profile,
        CASE upper(coalesce(json_extract_string(additional_fields, '$.Protocol'), ''))
            WHEN '6' THEN 'TCP'
            WHEN '17' THEN 'UDP'
            WHEN '1' THEN 'ICMP'
            ELSE upper(coalesce(json_extract_string(additional_fields, '$.Protocol'), ''))
        END AS protocol
    FROM device_events
    WHERE action_type IN (
        'FirewallInboundConnectionBlocked', 'FirewallOutboundConnectionBlocked',
        'FirewallInboundConnectionToAppBlocked', 'FirewallServiceStopped'
    )
)
SELECT
    src.*,
    fw_ip_class_norm(src.remote_ip) AS remote_class,
    -- the service port: the local port of an inbound block, the remote port of an outbound one
    CASE WHEN direction = 'outbound' THEN remote_port ELSE local_port END AS service_port
FROM src;
