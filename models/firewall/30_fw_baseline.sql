-- model: fw_baseline
-- kind: window
-- grain: tenant × scope × level × pattern key, for the run's as_of
-- key: tenant, as_of, scope, level, device_id, direction, action_type, process, service_port, protocol, remote_class
-- depends_on: fw_daily
-- params: as_of, baseline_days, tenants
-- catch_up: whole
-- description: Trailing-window baseline per device and fleet: days seen, median, p95, MAD.
-- columns:
--   tenant VARCHAR: tenant name
--   as_of DATE: the run day this baseline serves (not part of the window)
--   window_start DATE: `as_of` − `baseline_days`
--   window_end DATE: `as_of` − 1
--   scope VARCHAR: `device` (one device) or `fleet` (all the tenant's devices summed per day)
--   level VARCHAR: `pattern` (full key) or `direction` (direction only)
--   device_id VARCHAR: the device for `device` scope; NULL for `fleet`
--   direction VARCHAR: `inbound`, `outbound`, `none`
--   action_type VARCHAR: pattern key; NULL at `direction` level
--   process VARCHAR: pattern key (normalised program path); NULL at `direction` level
--   service_port INTEGER: pattern key (`fw_daily.service_port`); NULL at `direction` level or when not reported
--   protocol VARCHAR: pattern key; NULL at `direction` level
--   remote_class VARCHAR: pattern key; NULL at `direction` level
--   window_days INTEGER: the tenant's reporting days in the window: the number of daily values the statistics are
--     over
--   days_seen INTEGER: days in the window with at least one event of this key
--   devices_seen INTEGER: 1 for `device` scope; for `fleet`, distinct devices with this key in the window
--   events BIGINT: events of this key in the window (sum of `fw_daily.events`)
--   median DOUBLE: median of the daily counts, events per day (zero-filled over `window_days`)
--   p95 DOUBLE: 95th percentile of the daily counts, linear interpolation (`quantile_cont`), events per day
--   mad DOUBLE: median absolute deviation of the daily counts from `median`, unscaled, events per day
--     (`volume_spike` scales it by 1.4826 and floors it at `spike_mad_floor` and 0.1 × median)
--   first_seen TIMESTAMPTZ: first event of this key in the window
--   last_seen TIMESTAMPTZ: last event of this key in the window
--
-- fw_baseline: one row per tenant × scope ('device' | 'fleet') × level × key, where level 'pattern'
-- keys the full fw_daily pattern (direction, action_type, process, service_port, protocol, remote_class)
-- and level 'direction' keys only the direction (a device's or the fleet's total per direction).
-- Why: findings compare the recent days with what is normal for that device or for the fleet.
-- Window: baseline_days days ending the day BEFORE as_of, read from fw_daily only (cost follows
-- the window, not the history). Only the latest baseline per tenant is kept.
-- Zero-fill: a pattern absent on a day when the tenant reported firewall events counts 0 that day
-- (blocked-event auditing was evidently working); days when the tenant reported nothing at all
-- (before onboarding, pipeline gaps) are left out. So median/p95/MAD are over `window_days`
-- values = the tenant's reporting days in the window. p95 is linear-interpolated (quantile_cont);
-- MAD = median(|x - median|), unscaled.
CREATE TABLE IF NOT EXISTS fw_baseline (
    tenant VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    window_start DATE NOT NULL,
    window_end DATE NOT NULL,
    scope VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    device_id VARCHAR,
    direction VARCHAR NOT NULL,
    action_type VARCHAR,
    process VARCHAR,
    service_port INTEGER,
    protocol VARCHAR,
    remote_class VARCHAR,
    window_days INTEGER NOT NULL,
    days_seen INTEGER NOT NULL,
    devices_seen INTEGER NOT NULL,
    events BIGINT NOT NULL,
    median DOUBLE NOT NULL,
    p95 DOUBLE NOT NULL,
    mad DOUBLE NOT NULL,
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ
);

DELETE FROM fw_baseline WHERE list_contains(getvariable('tenants'), tenant);

INSERT INTO fw_baseline
WITH win AS (
    SELECT *
    FROM fw_daily
    WHERE list_contains(getvariable('tenants'), tenant)
      AND day BETWEEN getvariable('as_of') - getvariable('baseline_days') AND getvariable('as_of') - 1
),
reporting_days AS (
    SELECT tenant, count(DISTINCT day)::INTEGER AS window_days FROM win GROUP BY tenant
),
per_day AS (
    SELECT
        tenant, day, device_id, direction, action_type, process, service_port, protocol,
        remote_class,
        grouping(device_id) AS is_fleet,
        grouping(process) AS is_direction_level,
        sum(events) AS n,
        count(DISTINCT device_id) AS devices,
        min(first_seen) AS first_seen,
        max(last_seen) AS last_seen
    FROM win
    GROUP BY GROUPING SETS (
        (tenant, day, device_id, direction, action_type, process, service_port, protocol, remote_class),
        (tenant, day, direction, action_type, process, service_port, protocol, remote_class),
        (tenant, day, device_id, direction),
        (tenant, day, direction)
    )
),
devices_in_window AS (
    -- distinct devices over the whole window (not additive over days, so computed apart)
    SELECT
        tenant, direction, action_type, process, service_port, protocol, remote_class,
        grouping(process) AS is_direction_level,
        count(DISTINCT device_id)::INTEGER AS devices_seen
    FROM win
    GROUP BY GROUPING SETS (
        (tenant, direction, action_type, process, service_port, protocol, remote_class),
        (tenant, direction)
    )
),
series AS (
    SELECT
        p.tenant, p.is_fleet, p.is_direction_level, p.device_id, p.direction, p.action_type, p.process,
        p.service_port, p.protocol, p.remote_class,
        r.window_days,
        count(*)::INTEGER AS days_seen,
        sum(p.n)::BIGINT AS events,
        list_concat(list(p.n), list_resize([]::BIGINT[], r.window_days - count(*)::INTEGER, 0)) AS counts,
        min(p.first_seen) AS first_seen,
        max(p.last_seen) AS last_seen
    FROM per_day p
    JOIN reporting_days r USING (tenant)
    GROUP BY p.tenant, p.is_fleet, p.is_direction_level, p.device_id, p.direction, p.action_type, p.process,
        p.service_port, p.protocol, p.remote_class, r.window_days
),
stats AS (
    SELECT
        *,
        list_aggregate(counts, 'quantile_cont', 0.5) AS median,
        list_aggregate(counts, 'quantile_cont', 0.95) AS p95
    FROM series
)
SELECT
    s.tenant,
    getvariable('as_of') AS as_of,
    getvariable('as_of') - getvariable('baseline_days') AS window_start,
    getvariable('as_of') - 1 AS window_end,
    CASE WHEN s.is_fleet = 1 THEN 'fleet' ELSE 'device' END AS scope,
    CASE WHEN s.is_direction_level = 1 THEN 'direction' ELSE 'pattern' END AS level,
    s.device_id, s.direction, s.action_type, s.process, s.service_port, s.protocol, s.remote_class,
    s.window_days, s.days_seen,
    CASE WHEN s.is_fleet = 1 THEN d.devices_seen ELSE 1 END AS devices_seen,
    s.events,
    s.median,
    s.p95,
    list_aggregate(list_transform(s.counts, lambda x: abs(x - s.median)), 'quantile_cont', 0.5) AS mad,
    s.first_seen,
    s.last_seen
FROM stats s
LEFT JOIN devices_in_window d
    ON s.is_fleet = 1
    AND d.tenant = s.tenant
    AND d.direction = s.direction
    AND d.is_direction_level = s.is_direction_level
    AND d.action_type IS NOT DISTINCT FROM s.action_type
    AND d.process IS NOT DISTINCT FROM s.process
    AND d.service_port IS NOT DISTINCT FROM s.service_port
    AND d.protocol IS NOT DISTINCT FROM s.protocol
    AND d.remote_class IS NOT DISTINCT FROM s.remote_class;
