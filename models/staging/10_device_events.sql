-- model: device_events
-- kind: incremental
-- grain: one row per firewall DeviceEvents event
-- key: tenant, device_id, timestamp, report_id, action_type
-- depends_on: raw:device_events, staging_tables
-- stage_from: device_events
-- params: tenant, day
-- catch_up: event_days
-- description: One row per firewall DeviceEvents event (tenant × device × time × ReportId × ActionType).
-- columns:
--   tenant VARCHAR <- (config): tenant name from hunthouse.toml
--   day DATE <- (partition): UTC day of `Timestamp`
--   timestamp TIMESTAMPTZ <- `Timestamp`: when the event was recorded on the device (UTC); places the row in its
--     `day`
--   device_id VARCHAR <- `DeviceId`: Defender device id (stable across renames)
--   device_name VARCHAR <- `DeviceName`: device FQDN
--   action_type VARCHAR <- `ActionType`: `FirewallInboundConnectionBlocked`, `FirewallOutboundConnectionBlocked`,
--     `FirewallInboundConnectionToAppBlocked`, `FirewallServiceStopped` (all ActionTypes when `all_device_events` is
--     set)
--   file_name VARCHAR <- `FileName`: as in Defender advanced hunting
--   folder_path VARCHAR <- `FolderPath`: as in Defender advanced hunting
--   sha1 VARCHAR <- `SHA1`: as in Defender advanced hunting
--   sha256 VARCHAR <- `SHA256`: as in Defender advanced hunting
--   md5 VARCHAR <- `MD5`: as in Defender advanced hunting
--   file_size BIGINT <- `FileSize`: as in Defender advanced hunting
--   account_domain VARCHAR <- `AccountDomain`: as in Defender advanced hunting
--   account_name VARCHAR <- `AccountName`: as in Defender advanced hunting
--   account_sid VARCHAR <- `AccountSid`: as in Defender advanced hunting
--   remote_url VARCHAR <- `RemoteUrl`: as in Defender advanced hunting
--   remote_device_name VARCHAR <- `RemoteDeviceName`: as in Defender advanced hunting
--   process_id BIGINT <- `ProcessId`: as in Defender advanced hunting
--   process_command_line VARCHAR <- `ProcessCommandLine`: as in Defender advanced hunting
--   process_creation_time TIMESTAMPTZ <- `ProcessCreationTime`: as in Defender advanced hunting
--   process_token_elevation VARCHAR <- `ProcessTokenElevation`: as in Defender advanced hunting
--   logon_id BIGINT <- `LogonId`: as in Defender advanced hunting
--   registry_key VARCHAR <- `RegistryKey`: as in Defender advanced hunting
--   registry_value_name VARCHAR <- `RegistryValueName`: as in Defender advanced hunting
--   registry_value_data VARCHAR <- `RegistryValueData`: as in Defender advanced hunting
--   remote_ip VARCHAR <- `RemoteIP`: remote address; empty for ToApp rows; may be IPv6 or `::ffff:`-mapped IPv4
--   remote_port INTEGER <- `RemotePort`: remote port
--   local_ip VARCHAR <- `LocalIP`: local address
--   local_port INTEGER <- `LocalPort`: local port (the listening port for inbound blocks)
--   file_origin_url VARCHAR <- `FileOriginUrl`: as in Defender advanced hunting
--   file_origin_ip VARCHAR <- `FileOriginIP`: as in Defender advanced hunting
--   initiating_process_sha1 VARCHAR <- `InitiatingProcessSHA1`: as in Defender advanced hunting
--   initiating_process_sha256 VARCHAR <- `InitiatingProcessSHA256`: as in Defender advanced hunting
--   initiating_process_md5 VARCHAR <- `InitiatingProcessMD5`: as in Defender advanced hunting
--   initiating_process_file_name VARCHAR <- `InitiatingProcessFileName`: process the block applies to
--   initiating_process_file_size BIGINT <- `InitiatingProcessFileSize`: as in Defender advanced hunting
--   initiating_process_folder_path VARCHAR <- `InitiatingProcessFolderPath`: its full path
--   initiating_process_id BIGINT <- `InitiatingProcessId`: as in Defender advanced hunting
--   initiating_process_command_line VARCHAR <- `InitiatingProcessCommandLine`: as in Defender advanced hunting
--   initiating_process_creation_time TIMESTAMPTZ <- `InitiatingProcessCreationTime`: as in Defender advanced hunting
--   initiating_process_account_domain VARCHAR <- `InitiatingProcessAccountDomain`: as in Defender advanced hunting
--   initiating_process_account_name VARCHAR <- `InitiatingProcessAccountName`: as in Defender advanced hunting
--   initiating_process_account_sid VARCHAR <- `InitiatingProcessAccountSid`: as in Defender advanced hunting
--   initiating_process_account_upn VARCHAR <- `InitiatingProcessAccountUpn`: as in Defender advanced hunting
--   initiating_process_account_object_id VARCHAR <- `InitiatingProcessAccountObjectId`: as in Defender advanced
--     hunting
--   initiating_process_version_info_company_name VARCHAR <- `InitiatingProcessVersionInfoCompanyName`: as in
--     Defender advanced hunting
--   initiating_process_version_info_product_name VARCHAR <- `InitiatingProcessVersionInfoProductName`: as in
--     Defender advanced hunting
--   initiating_process_version_info_product_version VARCHAR <- `InitiatingProcessVersionInfoProductVersion`: as in
--     Defender advanced hunting
--   initiating_process_version_info_internal_file_name VARCHAR <- `InitiatingProcessVersionInfoInternalFileName`: as
--     in Defender advanced hunting
--   initiating_process_version_info_original_file_name VARCHAR <- `InitiatingProcessVersionInfoOriginalFileName`: as
--     in Defender advanced hunting
--   initiating_process_version_info_file_description VARCHAR <- `InitiatingProcessVersionInfoFileDescription`: as in
--     Defender advanced hunting
--   initiating_process_parent_id BIGINT <- `InitiatingProcessParentId`: as in Defender advanced hunting
--   initiating_process_parent_file_name VARCHAR <- `InitiatingProcessParentFileName`: as in Defender advanced
--     hunting
--   initiating_process_parent_creation_time TIMESTAMPTZ <- `InitiatingProcessParentCreationTime`: as in Defender
--     advanced hunting
--   initiating_process_logon_id BIGINT <- `InitiatingProcessLogonId`: as in Defender advanced hunting
--   report_id BIGINT <- `ReportId`: per-device repeating counter; unique only with device and time
--   app_guard_container_id VARCHAR <- `AppGuardContainerId`: as in Defender advanced hunting
--   additional_fields JSON <- `AdditionalFields`: JSON: `LocalAddress`, `LocalPort`, `RemoteAddress`, `RemotePort`,
--     `Direction`, `Profile`/`Profiles`, …; NULL when the event has none (`''` at the source, e.g.
--     `FirewallServiceStopped`); text that is not JSON (only from a lake written outside extract) is kept as a JSON
--     string
--   initiating_process_session_id BIGINT <- `InitiatingProcessSessionId`: as in Defender advanced hunting
--   is_initiating_process_remote_session BOOLEAN <- `IsInitiatingProcessRemoteSession`: as in Defender advanced
--     hunting
--   initiating_process_remote_session_device_name VARCHAR <- `InitiatingProcessRemoteSessionDeviceName`: as in
--     Defender advanced hunting
--   initiating_process_remote_session_ip VARCHAR <- `InitiatingProcessRemoteSessionIP`: as in Defender advanced
--     hunting
--   created_process_session_id BIGINT <- `CreatedProcessSessionId`: as in Defender advanced hunting
--   is_process_remote_session BOOLEAN <- `IsProcessRemoteSession`: as in Defender advanced hunting
--   process_remote_session_device_name VARCHAR <- `ProcessRemoteSessionDeviceName`: as in Defender advanced hunting
--   process_remote_session_ip VARCHAR <- `ProcessRemoteSessionIP`: as in Defender advanced hunting
--   time_generated TIMESTAMPTZ <- `TimeGenerated`: ingestion time (Sentinel); null from Defender's hunting API
--
-- Stage one lake partition of DeviceEvents into device_events.
-- Grain: one row per event, key (tenant, device_id, timestamp, report_id, action_type): ReportId is
-- only a per-device repeating counter, so it identifies an event only together with device and time.
-- Input: view raw_input (the partition's Parquet file); variables tenant, day. Replaces the partition.
-- AdditionalFields that is not JSON is kept as a JSON string rather than lost.

DELETE FROM device_events WHERE tenant = getvariable('tenant') AND day = getvariable('day');

INSERT INTO device_events
SELECT
    getvariable('tenant') AS tenant,
    getvariable('day') AS day,
    "Timestamp" AS timestamp,
    "DeviceId" AS device_id,
    "DeviceName" AS device_name,
    "ActionType" AS action_type,
    "FileName" AS file_name,
    "FolderPath" AS folder_path,
    "SHA1" AS sha1,
    "SHA256" AS sha256,
    "MD5" AS md5,
    "FileSize" AS file_size,
    "AccountDomain" AS account_domain,
    "AccountName" AS account_name,
    "AccountSid" AS account_sid,
    "RemoteUrl" AS remote_url,
    "RemoteDeviceName" AS remote_device_name,
    "ProcessId" AS process_id,
    "ProcessCommandLine" AS process_command_line,
    "ProcessCreationTime" AS process_creation_time,
    "ProcessTokenElevation" AS process_token_elevation,
    "LogonId" AS logon_id,
    "RegistryKey" AS registry_key,
    "RegistryValueName" AS registry_value_name,
    "RegistryValueData" AS registry_value_data,
    "RemoteIP" AS remote_ip,
    "RemotePort" AS remote_port,
    "LocalIP" AS local_ip,
    "LocalPort" AS local_port,
    "FileOriginUrl" AS file_origin_url,
    "FileOriginIP" AS file_origin_ip,
    "InitiatingProcessSHA1" AS initiating_process_sha1,
    "InitiatingProcessSHA256" AS initiating_process_sha256,
    "InitiatingProcessMD5" AS initiating_process_md5,
    "InitiatingProcessFileName" AS initiating_process_file_name,
    "InitiatingProcessFileSize" AS initiating_process_file_size,
    "InitiatingProcessFolderPath" AS initiating_process_folder_path,
    "InitiatingProcessId" AS initiating_process_id,
    "InitiatingProcessCommandLine" AS initiating_process_command_line,
    "InitiatingProcessCreationTime" AS initiating_process_creation_time,
    "InitiatingProcessAccountDomain" AS initiating_process_account_domain,
    "InitiatingProcessAccountName" AS initiating_process_account_name,
    "InitiatingProcessAccountSid" AS initiating_process_account_sid,
    "InitiatingProcessAccountUpn" AS initiating_process_account_upn,
    "InitiatingProcessAccountObjectId" AS initiating_process_account_object_id,
    "InitiatingProcessVersionInfoCompanyName" AS initiating_process_version_info_company_name,
    "InitiatingProcessVersionInfoProductName" AS initiating_process_version_info_product_name,
    "InitiatingProcessVersionInfoProductVersion" AS initiating_process_version_info_product_version,
    "InitiatingProcessVersionInfoInternalFileName" AS initiating_process_version_info_internal_file_name,
    "InitiatingProcessVersionInfoOriginalFileName" AS initiating_process_version_info_original_file_name,
    "InitiatingProcessVersionInfoFileDescription" AS initiating_process_version_info_file_description,
    "InitiatingProcessParentId" AS initiating_process_parent_id,
    "InitiatingProcessParentFileName" AS initiating_process_parent_file_name,
    "InitiatingProcessParentCreationTime" AS initiating_process_parent_creation_time,
    "InitiatingProcessLogonId" AS initiating_process_logon_id,
    "ReportId" AS report_id,
    "AppGuardContainerId" AS app_guard_container_id,
    CASE WHEN AdditionalFields IS NULL OR trim(AdditionalFields) = '' THEN NULL
         WHEN json_valid(AdditionalFields) THEN AdditionalFields::JSON
         ELSE to_json(AdditionalFields) END AS additional_fields,
    "InitiatingProcessSessionId" AS initiating_process_session_id,
    "IsInitiatingProcessRemoteSession" AS is_initiating_process_remote_session,
    "InitiatingProcessRemoteSessionDeviceName" AS initiating_process_remote_session_device_name,
    "InitiatingProcessRemoteSessionIP" AS initiating_process_remote_session_ip,
    "CreatedProcessSessionId" AS created_process_session_id,
    "IsProcessRemoteSession" AS is_process_remote_session,
    "ProcessRemoteSessionDeviceName" AS process_remote_session_device_name,
    "ProcessRemoteSessionIP" AS process_remote_session_ip,
    "TimeGenerated" AS time_generated
FROM raw_input
QUALIFY row_number() OVER (
    PARTITION BY "DeviceId", "Timestamp", "ReportId", "ActionType"
    ORDER BY "TimeGenerated" DESC NULLS LAST
) = 1;
