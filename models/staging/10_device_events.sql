-- model: device_events
-- kind: incremental
-- grain: one row per firewall DeviceEvents event
-- key: tenant, device_id, timestamp, report_id, action_type
-- depends_on: raw:device_events, staging_tables
-- stage_from: device_events
-- params: tenant, day
-- catch_up: event_days
-- description: One row per firewall DeviceEvents event (tenant × device × time × ReportId × ActionType).
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
