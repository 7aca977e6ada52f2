-- model: fw_findings
-- kind: as_of
-- grain: one row per situation per tenant and as_of
-- key: tenant, as_of, finding_id
-- depends_on: fw_candidates, fw_macros, fw_daily, fw_recent
-- params: as_of, tenants, baseline_days, resolve_after_days
-- catch_up: as_of
-- description: Firewall hardening findings for the run's day, one per situation (its signals correlated),
--   with its lifecycle state (new, ongoing, resolved), rule drafts (PowerShell and netsh), sample
--   events and hunting KQL.
-- columns:
--   tenant VARCHAR: tenant name
--   finding_id VARCHAR: md5 (32 hex digits) of tenant and `situation`: no scope, no day, not `as_of`, so the same
--     situation keeps its id night after night and when it moves between device and fleet scope
--   as_of DATE: the run day; the recent window ends on it
--   finding_type VARCHAR: the lead signal: one of the eight types above
--   severity VARCHAR: `high`, `medium`, `low` (table above)
--   scope VARCHAR: `device` (one device) or `fleet` (several devices of the tenant)
--   device_id VARCHAR: the device of a `device`-scope finding; NULL for `fleet`
--   device_name VARCHAR: its latest name; NULL for `fleet`
--   direction VARCHAR: `inbound`, `outbound`, `none` (`firewall_service_stopped`); NULL for `audit_gap`
--   process VARCHAR: the program (normalised path as in `fw_events.process`) for `app_blocked_inbound`,
--     `new_pattern`, `outbound_blocked_app`, and `public_inbound_exposure` when one program was involved; else NULL
--   process_name VARCHAR: its lower-case file name; NULL when none
--   local_port INTEGER: the blocked local port (`public_inbound_exposure`, inbound `new_pattern`); the most frequent
--     one for `remote_scanner` (`fw_remote_daily.top_local_port`, arbitrary on a tie); else NULL
--   remote_port INTEGER: the remote service port of an outbound `new_pattern`; else NULL
--   remote_class VARCHAR: class of the remote addresses involved (`mixed` for a `new_pattern` spanning several);
--     NULL when not address-based
--   remote_ip VARCHAR: the scanning address (`remote_scanner`); else NULL
--   events BIGINT: blocked events behind the finding in its evidence window (`volume_spike`: the `as_of`-day count;
--     `audit_gap`: the events before the device went silent)
--   devices BIGINT: distinct devices involved
--   remote_ips BIGINT: distinct remote addresses involved (0 or NULL when not address-based)
--   first_seen TIMESTAMPTZ: first event of the situation (UTC): of any of its signals, on any night it stayed open
--   last_seen TIMESTAMPTZ: last event of the situation (UTC), over the same span
--   explanation VARCHAR: one sentence with the numbers that made it fire
--   suggested_action VARCHAR: what to do about it
--   powershell VARCHAR: a draft to review, not to run blindly, one rule per line: `New-NetFirewallRule …`
--     (exposure: an allow from `management_ranges` then a block from `-RemoteAddress Internet`, per protocol;
--     scanner: block the address; app: allow the executable on Domain, Private; outbound: block the executable to
--     the Internet), `Set-Service`/`Start-Service mpssvc` (service stopped), `auditpol` lines (audit gap); every
--     value quoted with `ps_str`. `-Program` is always an executable path the firewall can match: a ToApp folder is
--     resolved to the one executable the same device reported in it, a `\device\harddiskvolumeN\` path is mapped to
--     its drive letter (from programs the device reported in both forms; `windows` and `program files` folders
--     become `%SystemRoot%` / `%ProgramFiles%`), a program under `C:\Users\<name>\` gets one rule per user path (the
--     firewall cannot expand `%UserProfile%`; `suggested_action` then recommends AppLocker/WDAC); an unknown
--     executable gets a port rule instead, or no draft when no port is known either. `-Protocol` comes from the
--     events, else `fw_port_services.protocols`. NULL for `new_pattern` and `volume_spike`, which need a decision
--     first
--   hunting_kql VARCHAR: an Advanced Hunting query on `DeviceEvents` for the lead signal's evidence window,
--     ActionTypes, device, program, ports and address (addresses matched in plain and `::ffff:` form; filtered to
--     public addresses when the signal counted only those; no port filter for `remote_scanner`, whose `local_port`
--     is only its most frequent port), projecting Timestamp, DeviceId, ReportId, …; literals escaped with `kql_str`
--   netsh VARCHAR: the same rules as `netsh advfirewall firewall add rule …` lines (for GPO startup scripts), in the
--     same order; `Internet` written as explicit public ranges (netsh has no such keyword); `sc.exe` lines for a
--     stopped service, the same `auditpol` lines for an audit gap
--   signals VARCHAR[]: the finding types correlated into this situation, sorted (e.g. `['new_pattern',
--     'outbound_blocked_app']`); kept over the nights it stays open
--   state VARCHAR: `new`, `ongoing` or `resolved` (see Lifecycle above)
--   nights_open INTEGER: nights the situation has been published open, this one included (`new` = 1; the resolving
--     night is not counted)
--   sample_events STRUCT("timestamp" TIMESTAMP WITH TIME ZONE, device_id VARCHAR, report_id BIGINT)[]: up to 5 of the
--     situation's events, earliest first: the (Timestamp, DeviceId, ReportId) that "link to incident" and Advanced
--     Hunting need
--   situation VARCHAR: the situation key the signals were correlated on, e.g. `program|outbound|<process>`,
--     `remote|<ip>`, `volume|<device_id>`, `exposure|<device_id>|<port>`
--   last_active DATE: the last day the situation was active: the day of its last event, or for `audit_gap` and
--     `firewall_service_stopped` (a state, not events) the last night a rule saw it; `resolved` when `as_of −
--     last_active ≥ resolve_after_days`
--
-- fw_findings: one row per situation per tenant and as_of (history is kept: one set per nightly run).
-- Why: the deliverable of the firewall models: what to look at, why, a rule draft and a hunting query
-- that returns the evidence (Timestamp, DeviceId, ReportId) in Advanced Hunting.
--
-- Situations, not signals. Every finding rule's candidate names its situation (fw_candidates.situation;
-- a rule that names none gets one from its identity columns). Candidates of one situation are one
-- finding; `signals` lists their finding types. What makes two signals the same situation:
--   * a program blocked outbound: key program|outbound|<process>, without device or port.
--     new_pattern (device or fleet, program × remote port) and outbound_blocked_app (program) of one
--     beaconing process are one finding, on whichever ports it tries, on one device or many;
--   * a program blocked inbound without a port (ToApp rows): program|inbound|<process>:
--     app_blocked_inbound and new_pattern of the same listener;
--   * a remote address: remote|<ip>. A sweep on several days is one finding, and an inbound
--     new_pattern on (port, listener) whose recent events came at least half from a sweeping address
--     is that sweep's port, so it joins the remote_scanner finding (the sweep made it new);
--   * a device's burst: volume|<device>. The inbound and the outbound volume_spike of one device are
--     one finding, and an inbound new_pattern on that device whose as_of-day events are at least
--     half of its recent ones (the burst made it new) joins it;
--   * a device's exposed port: exposure|<device>|<port>; a device's stopped service: service|<device>;
--     a device's audit gap: audit|<device>.
-- finding_id = md5(tenant|situation key): it holds no scope, device of a fleet finding or day, so
-- it stays the same night after night and when a finding moves between device and fleet scope.
-- The finding's type, counts, scope, ports, addresses and hunting query are its lead signal's (the
-- most severe, then remote_scanner, public_inbound_exposure, outbound_blocked_app,
-- app_blocked_inbound, firewall_service_stopped, audit_gap, volume_spike, new_pattern); the
-- explanation lists every signal's; the draft is the lead's, else the first signal's that has one.
--
-- Lifecycle, from the previous night's rows only (the tenant's latest as_of before this one, at most
-- baseline_days back), so a night's cost does not grow with the history:
--   * new: detected tonight and not open the night before (never seen, or resolved since);
--   * ongoing: open the night before and seen again (or not detected tonight but its last event is
--     less than resolve_after_days old: carried unchanged, since a threshold may dip for a night);
--   * resolved: not active for resolve_after_days days (as_of − last_active ≥ N), whether or not
--     a rule's trailing window still fires. last_active is the day of its last event, or for a
--     situation that is a state rather than events (audit_gap's silence, a stopped service) the
--     last night a rule saw it (fw_candidates.active_on). Published once; the next night it is
--     dropped (reopened as new when its events come back).
-- first_seen / last_seen span the situation's whole life (first and last event of any night it was
-- open); nights_open counts the nights it was published open (new = 1; the resolving night does not
-- count, so a situation already stale when first seen is published resolved with 0).
-- Every literal in hunting_kql goes through kql_str and every value in the drafts through ps_str
-- (PowerShell) or cmd_str/cmd_path (netsh).
CREATE TABLE IF NOT EXISTS fw_findings (
    tenant VARCHAR NOT NULL,
    finding_id VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    finding_type VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    device_id VARCHAR,
    device_name VARCHAR,
    direction VARCHAR,
    process VARCHAR,
    process_name VARCHAR,
    local_port INTEGER,
    remote_port INTEGER,
    remote_class VARCHAR,
    remote_ip VARCHAR,
    events BIGINT,
    devices BIGINT,
    remote_ips BIGINT,
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    explanation VARCHAR,
    suggested_action VARCHAR,
    powershell VARCHAR,
    hunting_kql VARCHAR
);
-- columns added after the first layout: a warehouse's history keeps its rows (NULL there)
ALTER TABLE fw_findings ADD COLUMN IF NOT EXISTS netsh VARCHAR;
ALTER TABLE fw_findings ADD COLUMN IF NOT EXISTS signals VARCHAR[];
ALTER TABLE fw_findings ADD COLUMN IF NOT EXISTS state VARCHAR;
ALTER TABLE fw_findings ADD COLUMN IF NOT EXISTS nights_open INTEGER;
ALTER TABLE fw_findings ADD COLUMN IF NOT EXISTS sample_events STRUCT("timestamp" TIMESTAMPTZ, device_id VARCHAR, report_id BIGINT)[];
ALTER TABLE fw_findings ADD COLUMN IF NOT EXISTS situation VARCHAR;
ALTER TABLE fw_findings ADD COLUMN IF NOT EXISTS last_active DATE;

DELETE FROM fw_findings
WHERE as_of = getvariable('as_of') AND list_contains(getvariable('tenants'), tenant);

INSERT INTO fw_findings BY NAME
WITH cand AS (
    SELECT c.*,
        coalesce(c.situation, concat_ws('|', c.finding_type, coalesce(c.device_id, ''), coalesce(c.direction, ''),
            coalesce(c.process, ''), coalesce(c.local_port::VARCHAR, ''), coalesce(c.remote_port::VARCHAR, ''),
            coalesce(c.remote_ip, ''))) AS base_key,
        row_number() OVER (ORDER BY c.tenant, c.finding_type, c.situation, c.device_id, c.key_day) AS cand_id
    FROM fw_candidates c
),
sweep_events AS (
    SELECT f.tenant, f.process, f.service_port, f.remote_ip, count(*) AS events
    FROM fw_recent f
    WHERE f.direction = 'inbound'
      AND f.remote_ip IN (SELECT remote_ip FROM cand WHERE finding_type = 'remote_scanner')
    GROUP BY ALL
),
by_sweep AS (
    SELECT n.cand_id, arg_max(s.base_key, m.events) AS key
    FROM cand n
    JOIN cand s ON s.tenant = n.tenant AND s.finding_type = 'remote_scanner'
    JOIN sweep_events m ON m.tenant = n.tenant AND m.process = n.process AND m.service_port = n.local_port
        AND m.remote_ip = s.remote_ip
    WHERE n.finding_type = 'new_pattern' AND n.direction = 'inbound' AND 2 * m.events >= n.events
    GROUP BY n.cand_id
),
burst_day AS (
    SELECT tenant, device_id, direction, process, service_port, sum(events) AS events
    FROM fw_daily
    WHERE list_contains(getvariable('tenants'), tenant) AND day = getvariable('as_of')
      AND device_id IN (SELECT device_id FROM cand WHERE finding_type = 'volume_spike')
    GROUP BY ALL
),
by_burst AS (
    SELECT n.cand_id, min(v.base_key) AS key
    FROM cand n
    JOIN cand v ON v.tenant = n.tenant AND v.finding_type = 'volume_spike' AND v.device_id = n.device_id
        AND v.direction = n.direction
    JOIN burst_day d ON d.tenant = n.tenant AND d.device_id = n.device_id AND d.direction = n.direction
        AND d.process = n.process AND d.service_port = n.local_port
    WHERE n.finding_type = 'new_pattern' AND n.direction = 'inbound' AND 2 * d.events >= n.events
    GROUP BY n.cand_id
),
ranked AS (
    SELECT k.*,
        row_number() OVER (PARTITION BY k.tenant, k.skey ORDER BY
            CASE k.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
            CASE k.finding_type WHEN 'remote_scanner' THEN 0 WHEN 'public_inbound_exposure' THEN 1
                WHEN 'outbound_blocked_app' THEN 2 WHEN 'app_blocked_inbound' THEN 3
                WHEN 'firewall_service_stopped' THEN 4 WHEN 'audit_gap' THEN 5 WHEN 'volume_spike' THEN 6
                WHEN 'new_pattern' THEN 7 ELSE 8 END,
            k.events DESC, k.cand_id) AS rnk
    FROM (
        SELECT c.*, coalesce(s.key, b.key, c.base_key) AS skey
        FROM cand c
        LEFT JOIN by_sweep s USING (cand_id)
        LEFT JOIN by_burst b USING (cand_id)
    ) k
),
merged AS (
    SELECT tenant, skey,
        list_sort(list_distinct(list(finding_type))) AS signals,
        min(first_seen) AS first_seen,
        max(last_seen) AS last_seen,
        max(coalesce(active_on, CAST(timezone('UTC', last_seen) AS DATE))) AS last_active,
        list_sort(list_distinct(flatten(list(coalesce(sample_events, []))))) AS samples,
        string_agg(explanation, ' ' ORDER BY rnk) FILTER (WHERE rnk > 1) AS more_explanations,
        arg_min(struct_pack(ps := powershell, ns := netsh, act := suggested_action), rnk)
            FILTER (WHERE powershell IS NOT NULL) AS draft
    FROM ranked
    GROUP BY tenant, skey
),
tonight AS (
    SELECT
        l.tenant,
        md5(l.tenant || '|' || l.skey) AS finding_id,
        getvariable('as_of') AS as_of,
        l.finding_type, l.severity, l.scope, l.device_id, l.device_name, l.direction, l.process,
        nullif(l.process_name, '') AS process_name,
        l.local_port, l.remote_port, l.remote_class, l.remote_ip,
        l.events, l.devices, l.remote_ips, m.first_seen, m.last_seen,
        l.explanation || coalesce(' ' || m.more_explanations, '') AS explanation,
        l.suggested_action
            || CASE WHEN l.powershell IS NULL AND m.draft IS NOT NULL THEN ' ' || m.draft.act ELSE '' END
            AS suggested_action,
        m.draft.ps AS powershell,
        m.draft.ns AS netsh,
        concat_ws(chr(10),
            'DeviceEvents',
            '| where Timestamp between (datetime(' || strftime(l.evidence_from, '%Y-%m-%d') || 'T00:00:00Z) .. datetime('
                || strftime(l.evidence_to, '%Y-%m-%d') || 'T23:59:59.999Z))',
            '| where ActionType in (' || array_to_string(list_transform(l.action_types, lambda a: kql_str(a)), ', ') || ')',
            CASE WHEN l.device_id IS NOT NULL THEN '| where DeviceId == ' || kql_str(l.device_id) END,
            CASE
                WHEN coalesce(l.process_name, '') <> '' THEN '| where InitiatingProcessFileName =~ ' || kql_str(l.process_name)
                WHEN coalesce(l.process, '') <> ''
                    THEN '| where InitiatingProcessFolderPath endswith ' || kql_str('\' || regexp_extract(l.process, '[^\\]*$'))
            END,
            CASE WHEN l.local_port IS NOT NULL AND l.kql_port_filter THEN '| where LocalPort == ' || l.local_port END,
            CASE WHEN l.remote_port IS NOT NULL AND l.kql_port_filter THEN '| where RemotePort == ' || l.remote_port END,
            -- normalised IPv4 addresses may be stored by Defender in their ::ffff: mapped form
            CASE WHEN l.remote_ip IS NOT NULL THEN '| where RemoteIP in~ (' || kql_str(l.remote_ip)
                || CASE WHEN NOT contains(l.remote_ip, ':') THEN ', ' || kql_str('::ffff:' || l.remote_ip) ELSE '' END
                || ')' END,
            -- the rule counted public addresses only: so does the query
            CASE WHEN l.public_only AND l.remote_ip IS NULL THEN kql_public_remote() END,
            '| project Timestamp, DeviceId, DeviceName, ReportId, ActionType, RemoteIP, RemotePort, LocalIP, LocalPort, '
                || 'InitiatingProcessFileName, InitiatingProcessFolderPath, AdditionalFields'
        ) AS hunting_kql,
        m.signals,
        m.samples[1:5] AS sample_events,
        l.skey AS situation,
        m.last_active
    FROM ranked l
    JOIN merged m ON m.tenant = l.tenant AND m.skey = l.skey
    WHERE l.rnk = 1
),
previous_night AS (
    SELECT tenant, max(as_of) AS as_of
    FROM fw_findings
    WHERE list_contains(getvariable('tenants'), tenant)
      AND as_of < getvariable('as_of') AND as_of >= getvariable('as_of') - getvariable('baseline_days')
    GROUP BY tenant
),
prev AS (
    -- rows of the first layout have no state: open
    SELECT f.*, coalesce(f.state, 'new') <> 'resolved' AS was_open
    FROM fw_findings f
    JOIN previous_night n ON n.tenant = f.tenant AND n.as_of = f.as_of
),
seen_tonight AS (
    SELECT t.* REPLACE (
            CASE WHEN p.was_open THEN least(t.first_seen, p.first_seen) ELSE t.first_seen END AS first_seen,
            CASE WHEN p.was_open THEN greatest(t.last_seen, p.last_seen) ELSE t.last_seen END AS last_seen,
            CASE WHEN p.was_open THEN list_sort(list_distinct(list_concat(coalesce(p.signals, []), t.signals)))
                ELSE t.signals END AS signals,
            CASE WHEN p.was_open THEN greatest(t.last_active, p.last_active) ELSE t.last_active END AS last_active),
        CASE WHEN p.was_open THEN coalesce(p.nights_open, 1) ELSE 0 END AS nights_before,
        coalesce(p.was_open, false) AS was_open,
        p.last_active AS previous_last_active,
        p.finding_id IS NOT NULL AND NOT p.was_open AS reported_resolved
    FROM tonight t
    LEFT JOIN prev p ON p.tenant = t.tenant AND p.finding_id = t.finding_id
),
lifecycle AS (
    SELECT s.* EXCLUDE (was_open, previous_last_active, reported_resolved, nights_before),
        CASE
            WHEN getvariable('as_of') - s.last_active >= getvariable('resolve_after_days') THEN 'resolved'
            WHEN s.was_open THEN 'ongoing'
            ELSE 'new'
        END AS state,
        s.nights_before
            + CASE WHEN getvariable('as_of') - s.last_active >= getvariable('resolve_after_days') THEN 0 ELSE 1 END
            AS nights_open,
        s.reported_resolved AND s.last_active <= s.previous_last_active AS already_reported
    FROM seen_tonight s
)
SELECT * EXCLUDE (already_reported)
FROM lifecycle
WHERE NOT (state = 'resolved' AND already_reported)
UNION ALL BY NAME
-- open last night, no signal tonight: carried until its events are resolve_after_days old
SELECT p.* EXCLUDE (was_open, state, nights_open, as_of),
    getvariable('as_of') AS as_of,
    CASE WHEN getvariable('as_of') - coalesce(p.last_active, CAST(timezone('UTC', p.last_seen) AS DATE))
            >= getvariable('resolve_after_days') THEN 'resolved' ELSE 'ongoing' END AS state,
    CASE WHEN getvariable('as_of') - coalesce(p.last_active, CAST(timezone('UTC', p.last_seen) AS DATE))
            >= getvariable('resolve_after_days') THEN coalesce(p.nights_open, 1)
        ELSE coalesce(p.nights_open, 1) + 1 END AS nights_open
FROM prev p
WHERE p.was_open AND NOT EXISTS (SELECT 1 FROM tonight t WHERE t.tenant = p.tenant AND t.finding_id = p.finding_id);
