-- model: fw_events
-- kind: incremental
-- grain: one row per staged firewall event
-- key: tenant, day, device_id, timestamp, report_id, action_type
-- depends_on: device_events, fw_macros
-- params: firewall_action_types
-- catch_up: event_days
-- description: One row per firewall event with its derived direction, addresses, program (grouping key and
--   the path as reported), address class and service port.
-- columns:
--   tenant VARCHAR: tenant name
--   day DATE: `device_events.day` (UTC day of `timestamp`)
--   timestamp TIMESTAMPTZ: `device_events.timestamp`
--   device_id VARCHAR: `device_events.device_id`
--   device_name VARCHAR: `device_events.device_name`
--   action_type VARCHAR: one of the four firewall ActionTypes above
--   report_id BIGINT: `device_events.report_id`; with `device_id` and `timestamp` it finds the row in Advanced
--     Hunting
--   direction VARCHAR: `outbound` (FirewallOutboundConnectionBlocked), `none` (FirewallServiceStopped), `inbound`
--     (the two inbound ActionTypes)
--   remote_ip VARCHAR: `remote_ip` (else `additional_fields.RemoteAddress`) through `fw_ip_norm`: lower-case,
--     trimmed, IPv6 zone id and brackets removed, `::ffff:a.b.c.d` → `a.b.c.d`; `''` when absent
--   local_ip VARCHAR: `local_ip` (else `LocalAddress`), normalised the same way; `''` when absent
--   remote_port INTEGER: `remote_port` (else `additional_fields.RemotePort`); NULL when neither
--   local_port INTEGER: `local_port` (else `additional_fields.LocalPort`); NULL when neither
--   process VARCHAR: the program: `initiating_process_folder_path` + `initiating_process_file_name`, lower-case,
--     with machine/user prefixes folded (`%windir%\`, `%programfiles%\`, `%programfiles(x86)%\`, `%userprofile%\`; a
--     `\device\harddiskvolumeN\` prefix counts as a drive) so one program groups together on every device; `''` when both are empty
--   process_name VARCHAR: lower-case `initiating_process_file_name`; `''` when absent (ToApp rows that carry only
--     the folder)
--   program_path VARCHAR: the same path as reported, lower-case, not folded (`\\?\` dropped): what rule drafts
--     need (a user's real folder, a volume device path to map to its drive letter)
--   profile VARCHAR: firewall profile from `additional_fields.Profile` / `Profiles` (`Domain`, `Private`, `Public`);
--     NULL when not reported
--   protocol VARCHAR: `additional_fields.Protocol` upper-cased, IANA numbers 6 / 17 / 1 shown as `TCP` / `UDP` /
--     `ICMP`; `''` when not reported
--   remote_class VARCHAR: class of `remote_ip`: `public`, `private` (RFC 1918, 100.64/10 CGNAT, IPv6 fc00::/7),
--     `loopback`, `link-local`, `multicast`, `broadcast`, `reserved` (240/4), `unspecified` (empty, 0/8, `::`),
--     `invalid`; documentation ranges count as `public`
--   service_port INTEGER: the port of the service involved: `remote_port` for outbound blocks, `local_port`
--     otherwise (the listening port of an inbound block)
--
-- fw_events: one row per staged firewall event (device_events row with a Firewall* ActionType) with
-- the derived fields every firewall model groups by. Why: the derivations (address normalisation
-- and class, folded program path, AdditionalFields fallbacks) are computed once per event, when its
-- day is staged, instead of by every model on every run; fw_daily, fw_remote_daily and the recent
-- window of the findings read plain columns.
-- INCREMENTAL: only (tenant, day) pairs listed in changed_partitions for device_events are deleted
-- and rebuilt, like fw_daily.
-- Rows with empty IP/port (FirewallInboundConnectionToAppBlocked) are kept: NULL ports, class
-- 'unspecified'. program_path keeps the path as reported (lower case, not folded): rule drafts need
-- the real path (a user's folder, a volume device path mapped to its drive letter), which the
-- folded grouping key `process` has lost. AdditionalFields keys (RemoteAddress, LocalPort, …) only fill gaps in the columns.
-- Cost: the address, class and path macros run once per DISTINCT value of the changed days (a few
-- thousand addresses, a few dozen programs), not once per event; AdditionalFields is parsed once.
CREATE TABLE IF NOT EXISTS fw_events (
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    timestamp TIMESTAMPTZ,
    device_id VARCHAR,
    device_name VARCHAR,
    action_type VARCHAR NOT NULL,
    report_id BIGINT,
    direction VARCHAR NOT NULL,
    remote_ip VARCHAR NOT NULL,
    local_ip VARCHAR NOT NULL,
    remote_port INTEGER,
    local_port INTEGER,
    process VARCHAR NOT NULL,
    process_name VARCHAR NOT NULL,
    program_path VARCHAR NOT NULL,
    profile VARCHAR,
    protocol VARCHAR NOT NULL,
    remote_class VARCHAR NOT NULL,
    service_port INTEGER
);

DELETE FROM fw_events
WHERE EXISTS (
    SELECT 1 FROM changed_partitions c
    WHERE c.tbl = 'device_events' AND c.tenant = fw_events.tenant AND c.day = fw_events.day
);

INSERT INTO fw_events
WITH changed AS (
    SELECT DISTINCT tenant, day FROM changed_partitions WHERE tbl = 'device_events'
),
src AS (
    SELECT
        d.tenant, d.day, d.timestamp, d.device_id, d.device_name, d.action_type, d.report_id,
        d.remote_ip, d.local_ip, d.remote_port, d.local_port,
        -- NULL and '' mean the same to fw_process_path, so they share one lookup key
        coalesce(d.initiating_process_folder_path, '') AS folder,
        coalesce(d.initiating_process_file_name, '') AS file,
        json_extract_string(d.additional_fields,
            ['$.RemoteAddress', '$.LocalAddress', '$.RemotePort', '$.LocalPort', '$.Profile', '$.Profiles',
             '$.Protocol']) AS af
    FROM device_events d
    JOIN changed c ON c.tenant = d.tenant AND c.day = d.day
    WHERE list_contains(getvariable('firewall_action_types'), d.action_type)
),
raw AS (
    SELECT
        tenant, day, timestamp, device_id, device_name, action_type, report_id, folder, file,
        CASE action_type
            WHEN 'FirewallOutboundConnectionBlocked' THEN 'outbound'
            WHEN 'FirewallServiceStopped' THEN 'none'
            ELSE 'inbound'
        END AS direction,
        -- fw_ip_norm maps NULL and '' alike, so the lookup key is never NULL
        coalesce(nullif(remote_ip, ''), af[1], '') AS remote_ip_raw,
        coalesce(nullif(local_ip, ''), af[2], '') AS local_ip_raw,
        coalesce(remote_port, TRY_CAST(af[3] AS INTEGER)) AS remote_port,
        coalesce(local_port, TRY_CAST(af[4] AS INTEGER)) AS local_port,
        coalesce(af[5], af[6]) AS profile,
        CASE upper(coalesce(af[7], ''))
            WHEN '6' THEN 'TCP'
            WHEN '17' THEN 'UDP'
            WHEN '1' THEN 'ICMP'
            ELSE upper(coalesce(af[7], ''))
        END AS protocol
    FROM src
),
addresses AS (
    SELECT raw_ip, fw_ip_norm(raw_ip) AS norm, fw_ip_class_norm(fw_ip_norm(raw_ip)) AS class
    FROM (SELECT remote_ip_raw AS raw_ip FROM raw UNION SELECT local_ip_raw FROM raw)
),
programs AS (
    SELECT folder, file, fw_fold_path(fw_join_path(folder, file)) AS process, lower(file) AS process_name,
           fw_join_path(folder, file) AS program_path
    FROM (SELECT DISTINCT folder, file FROM raw)
)
SELECT
    r.tenant, r.day, r.timestamp, r.device_id, r.device_name, r.action_type, r.report_id, r.direction,
    ra.norm AS remote_ip,
    la.norm AS local_ip,
    r.remote_port,
    r.local_port,
    p.process,
    p.process_name,
    p.program_path,
    r.profile,
    r.protocol,
    ra.class AS remote_class,
    -- the service port: the local port of an inbound block, the remote port of an outbound one
    CASE WHEN r.direction = 'outbound' THEN r.remote_port ELSE r.local_port END AS service_port
FROM raw r
JOIN addresses ra ON ra.raw_ip = r.remote_ip_raw
JOIN addresses la ON la.raw_ip = r.local_ip_raw
JOIN programs p ON p.folder = r.folder AND p.file = r.file;
