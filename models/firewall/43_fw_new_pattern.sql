-- model: new_pattern
-- kind: finding_rule
-- grain: tenant × direction × process × service port
-- depends_on: fw_daily, fw_recent, fw_windows
-- params: as_of, baseline_days, recent_days, new_min_events, tenants
-- description: Patterns seen in the recent window and never in the baseline days before it.
--
-- new_pattern candidates: one per tenant × direction × process × service port (local port inbound,
-- remote port outbound) seen in the recent window and never in the baseline_days before it.
-- Why: "what changed" is the question the Defender report cannot answer.
-- Guards: the tenant needs ≥ 7 reporting days before the recent window (else everything is new);
-- ephemeral service ports (≥ 49152) are ignored (replies and dynamic RPC, not services);
-- at least new_min_events events.
-- Situation: outbound, the program (so new_pattern and outbound_blocked_app of one beaconing
-- process are one finding); inbound, the port and its listener (59_fw_findings.sql folds it into a
-- remote_scanner or volume_spike finding when that sweep or burst made it).
INSERT INTO fw_candidates BY NAME
WITH before AS (
    SELECT d.*
    FROM fw_daily d, fw_windows b
    WHERE list_contains(getvariable('tenants'), d.tenant)
      AND d.day >= b.before_start AND d.day < b.recent_start
),
history AS (
    SELECT tenant FROM before GROUP BY tenant HAVING count(DISTINCT day) >= 7
),
recent AS (
    SELECT d.*
    FROM fw_daily d, fw_windows b
    WHERE list_contains(getvariable('tenants'), d.tenant)
      AND d.day BETWEEN b.recent_start AND getvariable('as_of')
      AND d.direction IN ('inbound', 'outbound')
      AND (d.service_port IS NULL OR d.service_port < 49152)
),
new_keys AS (
    SELECT
        r.tenant, r.direction, r.process, r.service_port,
        max(r.process_name) AS process_name,
        CASE WHEN count(DISTINCT r.remote_class) = 1 THEN min(r.remote_class) ELSE 'mixed' END AS remote_class,
        bool_or(r.remote_class = 'public') AS any_public,
        list(DISTINCT r.action_type ORDER BY r.action_type) AS action_types,
        sum(r.events) AS events,
        count(DISTINCT r.device_id) AS devices,
        min(r.device_id) AS one_device_id,
        arg_min(r.device_name, r.device_id) AS one_device_name,
        min(r.first_seen) AS first_seen,
        max(r.last_seen) AS last_seen,
        max(r.service) AS service,
        -- fw_daily keeps the first event of each row: the candidate's samples are the earliest of those
        min(struct_pack("timestamp" := r.sample_timestamp, device_id := r.sample_device_id,
                        report_id := r.sample_report_id), 5) AS sample_events
    FROM recent r
    JOIN history h USING (tenant)
    WHERE NOT EXISTS (
        SELECT 1 FROM before p
        WHERE p.tenant = r.tenant AND p.direction = r.direction AND p.process = r.process
          AND p.service_port IS NOT DISTINCT FROM r.service_port
    )
    GROUP BY r.tenant, r.direction, r.process, r.service_port
),
with_ips AS (
    SELECT
        k.*,
        (SELECT count(DISTINCT nullif(f.remote_ip, '')) FROM fw_recent f
         WHERE f.tenant = k.tenant AND f.direction = k.direction AND f.process = k.process
           AND f.service_port IS NOT DISTINCT FROM k.service_port) AS remote_ips
    FROM new_keys k
    WHERE k.events >= getvariable('new_min_events')
)
SELECT
    tenant,
    'new_pattern' AS finding_type,
    CASE WHEN any_public THEN 'medium' ELSE 'low' END AS severity,
    CASE WHEN devices = 1 THEN 'device' ELSE 'fleet' END AS scope,
    CASE WHEN devices = 1 THEN one_device_id END AS device_id,
    CASE WHEN devices = 1 THEN one_device_name END AS device_name,
    direction, action_types, process, process_name,
    CASE WHEN direction = 'inbound' THEN service_port END AS local_port,
    CASE WHEN direction = 'outbound' THEN service_port END AS remote_port,
    remote_class, events, devices, remote_ips, first_seen, last_seen,
    CAST(first_seen AS DATE) AS evidence_from,
    getvariable('as_of') AS evidence_to,
    printf('New %s pattern: %s %s port %s (%s) first blocked %s on %d device(s), %d events; not seen in the '
        || '%d days before.', direction, coalesce(nullif(process, ''), '(unknown program)'),
        CASE WHEN direction = 'inbound' THEN 'on local' ELSE 'to remote' END,
        coalesce(service_port::VARCHAR, 'none'), coalesce(service, 'unnamed'),
        strftime(first_seen, '%Y-%m-%d'), devices, events, getvariable('baseline_days')) AS explanation,
    'Find out what changed (new software, update, configuration or intrusion) and who owns the program; '
        || 'then either allow it explicitly on trusted profiles or leave it blocked and remove the cause.'
        AS suggested_action,
    sample_events,
    -- outbound: the program is the situation whatever port it tries (a beacon); inbound: the port
    -- (and its listener), or the program alone for ToApp rows, which name no port
    CASE
        WHEN direction = 'outbound' AND process <> '' THEN 'program|outbound|' || process
        WHEN direction = 'inbound' AND service_port IS NULL AND process <> '' THEN 'program|inbound|' || process
        ELSE 'port|' || direction || '|' || coalesce(service_port::VARCHAR, '') || '|' || process
    END AS situation
FROM with_ips;
