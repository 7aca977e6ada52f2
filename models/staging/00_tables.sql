-- model: staging_tables
-- kind: ddl
-- description: Creates the staging tables once (IF NOT EXISTS); the files below maintain them
--   partition by partition; quarantine, load_log and tuning_decisions are written from Python
--   (models/declared.py).
--
-- Staging tables of the warehouse: created once, then maintained partition by partition.
-- Grain and keys: docs/architecture.md and docs/warehouse.md. Every table carries tenant, because
-- MSSPs keep many tenants in one warehouse.

-- One row per firewall (or, by setting, any) DeviceEvents event.
-- Key (tenant, device_id, timestamp, report_id, action_type); day = the lake partition of Timestamp.
CREATE TABLE IF NOT EXISTS device_events (
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    timestamp TIMESTAMPTZ,
    device_id VARCHAR,
    device_name VARCHAR,
    action_type VARCHAR,
    file_name VARCHAR,
    folder_path VARCHAR,
    sha1 VARCHAR,
    sha256 VARCHAR,
    md5 VARCHAR,
    file_size BIGINT,
    account_domain VARCHAR,
    account_name VARCHAR,
    account_sid VARCHAR,
    remote_url VARCHAR,
    remote_device_name VARCHAR,
    process_id BIGINT,
    process_command_line VARCHAR,
    process_creation_time TIMESTAMPTZ,
    process_token_elevation VARCHAR,
    logon_id BIGINT,
    registry_key VARCHAR,
    registry_value_name VARCHAR,
    registry_value_data VARCHAR,
    remote_ip VARCHAR,
    remote_port INTEGER,
    local_ip VARCHAR,
    local_port INTEGER,
    file_origin_url VARCHAR,
    file_origin_ip VARCHAR,
    initiating_process_sha1 VARCHAR,
    initiating_process_sha256 VARCHAR,
    initiating_process_md5 VARCHAR,
    initiating_process_file_name VARCHAR,
    initiating_process_file_size BIGINT,
    initiating_process_folder_path VARCHAR,
    initiating_process_id BIGINT,
    initiating_process_command_line VARCHAR,
    initiating_process_creation_time TIMESTAMPTZ,
    initiating_process_account_domain VARCHAR,
    initiating_process_account_name VARCHAR,
    initiating_process_account_sid VARCHAR,
    initiating_process_account_upn VARCHAR,
    initiating_process_account_object_id VARCHAR,
    initiating_process_version_info_company_name VARCHAR,
    initiating_process_version_info_product_name VARCHAR,
    initiating_process_version_info_product_version VARCHAR,
    initiating_process_version_info_internal_file_name VARCHAR,
    initiating_process_version_info_original_file_name VARCHAR,
    initiating_process_version_info_file_description VARCHAR,
    initiating_process_parent_id BIGINT,
    initiating_process_parent_file_name VARCHAR,
    initiating_process_parent_creation_time TIMESTAMPTZ,
    initiating_process_logon_id BIGINT,
    report_id BIGINT,
    app_guard_container_id VARCHAR,
    additional_fields JSON,
    initiating_process_session_id BIGINT,
    is_initiating_process_remote_session BOOLEAN,
    initiating_process_remote_session_device_name VARCHAR,
    initiating_process_remote_session_ip VARCHAR,
    created_process_session_id BIGINT,
    is_process_remote_session BOOLEAN,
    process_remote_session_device_name VARCHAR,
    process_remote_session_ip VARCHAR,
    time_generated TIMESTAMPTZ
);

-- Latest row per alert. Key (tenant, system_alert_id).
CREATE TABLE IF NOT EXISTS alerts (
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    system_alert_id VARCHAR NOT NULL,
    time_generated TIMESTAMPTZ,
    alert_name VARCHAR,
    display_name VARCHAR,
    severity VARCHAR,
    alert_type VARCHAR,
    status VARCHAR,
    rule_id VARCHAR,
    rule_ids VARCHAR[],
    rule_name VARCHAR,
    product_name VARCHAR,
    product_component_name VARCHAR,
    provider_name VARCHAR,
    vendor_name VARCHAR,
    vendor_original_id VARCHAR,
    compromised_entity VARCHAR,
    confidence_level VARCHAR,
    confidence_score DOUBLE,
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    tactics VARCHAR,
    techniques VARCHAR,
    description VARCHAR,
    alert_link VARCHAR,
    entities JSON,
    extended_properties JSON
);

-- One row per entity of an alert after $ref resolution (nested inline entities included).
-- Key (tenant, system_alert_id, entity_ordinal).
CREATE TABLE IF NOT EXISTS alert_entities (
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    system_alert_id VARCHAR NOT NULL,
    entity_ordinal INTEGER NOT NULL,
    entity_type VARCHAR NOT NULL,
    entity_key VARCHAR,
    entity_value VARCHAR,
    properties JSON
);

-- Every version of every incident (SecurityIncident appends one row per update).
-- Key (tenant, incident_number, last_modified_time).
CREATE TABLE IF NOT EXISTS incident_history (
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    incident_number BIGINT NOT NULL,
    incident_name VARCHAR,
    title VARCHAR,
    description VARCHAR,
    severity VARCHAR,
    status VARCHAR,
    classification VARCHAR,
    classification_raw VARCHAR,
    classification_reason VARCHAR,
    classification_comment VARCHAR,
    determination VARCHAR,
    owner VARCHAR,
    modified_by VARCHAR,
    created_time TIMESTAMPTZ,
    first_modified_time TIMESTAMPTZ,
    last_modified_time TIMESTAMPTZ,
    closed_time TIMESTAMPTZ,
    first_activity_time TIMESTAMPTZ,
    last_activity_time TIMESTAMPTZ,
    alert_ids VARCHAR[],
    related_analytic_rule_ids VARCHAR[],
    labels JSON,
    provider_name VARCHAR,
    provider_incident_id VARCHAR,
    incident_url VARCHAR,
    time_generated TIMESTAMPTZ
);

-- Rows that could not be used, with the reason: from the lake (null keys, rows outside their
-- window) and from staging (Entities that is not JSON). Never silently dropped.
CREATE TABLE IF NOT EXISTS quarantine (
    tbl VARCHAR NOT NULL,
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    reason VARCHAR NOT NULL,
    row_json VARCHAR,
    loaded_at TIMESTAMPTZ
);

-- One row per lake partition load taken into the warehouse: what the extract did (rows, query
-- windows, splits, retries, duration, watermark) and which file. The latest row per partition is
-- the warehouse's record of what it holds; a partition whose manifest differs is reloaded.
CREATE TABLE IF NOT EXISTS load_log (
    tbl VARCHAR NOT NULL,
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    rows BIGINT,
    quarantined BIGINT,
    sha256 VARCHAR,
    file VARCHAR,
    written_at TIMESTAMPTZ,
    loaded_at TIMESTAMPTZ,
    source_kind VARCHAR,
    query_windows INTEGER,
    splits INTEGER,
    retries INTEGER,
    duration_s DOUBLE,
    watermark TIMESTAMPTZ,
    dropped_columns VARCHAR[]
);

-- One row per analytic_rules lake partition (a daily snapshot of a tenant's rule definitions):
-- how many rules it held, and, when it is empty on purpose, why (absence: no workspace_resource_id,
-- a Defender tenant without CustomDetection.Read.All), so an empty rule list is never mistaken
-- for a tenant without rules. Key (tenant, day).
CREATE TABLE IF NOT EXISTS analytic_rule_snapshots (
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    rules BIGINT,
    enabled_rules BIGINT,
    sources VARCHAR[],
    absence VARCHAR
);

-- The analytic rule definitions of each tenant's latest snapshot: one row per rule, key
-- (tenant, rule_id); rule_id joins to alerts.rule_id and every tuning table's rule_id.
CREATE TABLE IF NOT EXISTS analytic_rules (
    tenant VARCHAR NOT NULL,
    day DATE NOT NULL,
    rule_id VARCHAR NOT NULL,
    resource_id VARCHAR,
    source VARCHAR,
    kind VARCHAR,
    display_name VARCHAR,
    description VARCHAR,
    enabled BOOLEAN,
    severity VARCHAR,
    query VARCHAR,
    query_frequency VARCHAR,
    query_period VARCHAR,
    tactics JSON,
    techniques JSON,
    entity_mappings JSON,
    entity_columns STRUCT(entity_type VARCHAR, identifier VARCHAR, column_name VARCHAR)[],
    alert_rule_template_name VARCHAR,
    last_modified_time TIMESTAMPTZ
);

-- The rule owners' decisions on tuning recommendations (accepted, dismissed, revoked), every line of
-- <home>/decisions/<tenant>.jsonl, reloaded whole by every build (pipelines/warehouse/decisions.py):
-- is_latest marks the line that is the recommendation's state, the others are its history.
CREATE TABLE IF NOT EXISTS tuning_decisions (
    tenant VARCHAR NOT NULL,
    recommendation_id VARCHAR NOT NULL,
    sequence BIGINT NOT NULL,
    decision VARCHAR NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    decided_by VARCHAR,
    reason VARCHAR,
    expires_on DATE,
    rule_id VARCHAR,
    rule_name VARCHAR,
    exclusion_kind VARCHAR,
    entity_type VARCHAR,
    entity_key VARCHAR,
    entity_value VARCHAR,
    entity_type_1 VARCHAR,
    entity_key_1 VARCHAR,
    entity_value_1 VARCHAR,
    entity_type_2 VARCHAR,
    entity_key_2 VARCHAR,
    entity_value_2 VARCHAR,
    entity_type_3 VARCHAR,
    entity_key_3 VARCHAR,
    entity_value_3 VARCHAR,
    decisions_at_decision BIGINT,
    removed_share_at_decision DOUBLE,
    source VARCHAR,
    is_latest BOOLEAN NOT NULL
);
