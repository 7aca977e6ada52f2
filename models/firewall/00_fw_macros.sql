-- model: fw_macros
-- kind: macros
-- description: Address, process-path and quoting helpers of the firewall models.
--
-- Scalar helpers of the firewall models (no grain: functions, persisted in the warehouse so that
-- analysts' read-only connections can use them too).
-- Why: address classes, process paths and the quoting of drafts must be computed the same way in
-- every model, in SQL, next to the data; tests call them directly.

-- Lower-case, trimmed address without IPv6 zone id (fe80::1%12) or brackets; '' when absent.
-- An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes a.b.c.d: it is the same host, so it must
-- count once in distinct-address counts and be classed by its IPv4.
CREATE OR REPLACE MACRO fw_ip_norm(ip) AS (
    regexp_replace(
        regexp_replace(regexp_replace(lower(trim(coalesce(ip, ''))), '%.*$', ''), '^\[|\]$', '', 'g'),
        '^(?:0{0,4}:){2,5}ffff:(\d+\.\d+\.\d+\.\d+)$', '\1')
);

-- Class of the four octets of an IPv4 address (a list of 4 integers).
CREATE OR REPLACE MACRO fw_ipv4_octets_class(o) AS (
    CASE
        WHEN o[1] > 255 OR o[2] > 255 OR o[3] > 255 OR o[4] > 255 THEN 'invalid'
        WHEN o[1] = 0 THEN 'unspecified'
        WHEN o[1] = 10 OR (o[1] = 172 AND o[2] BETWEEN 16 AND 31) OR (o[1] = 192 AND o[2] = 168)
            OR (o[1] = 100 AND o[2] BETWEEN 64 AND 127) THEN 'private'
        WHEN o[1] = 127 THEN 'loopback'
        WHEN o[1] = 169 AND o[2] = 254 THEN 'link-local'
        WHEN o[1] BETWEEN 224 AND 239 THEN 'multicast'
        WHEN o[1] = 255 AND o[2] = 255 AND o[3] = 255 AND o[4] = 255 THEN 'broadcast'
        WHEN o[1] >= 240 THEN 'reserved'
        ELSE 'public'
    END
);

-- Class of a dotted-quad IPv4 address. 100.64/10 (CGNAT) counts as private; documentation ranges
-- (192.0.2/24, 198.51.100/24, 203.0.113/24) are treated as public.
CREATE OR REPLACE MACRO fw_ipv4_class(v4) AS (
    CASE
        WHEN NOT regexp_full_match(v4, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}') THEN 'invalid'
        ELSE fw_ipv4_octets_class(list_transform(string_split(v4, '.'), lambda o: TRY_CAST(o AS INTEGER)))
    END
);

-- Class of an IPv6 address from its first hextet (compared as 4 lower-case hex digits).
CREATE OR REPLACE MACRO fw_ipv6_class(v6) AS (
    CASE
        WHEN NOT regexp_full_match(v6, '[0-9a-f:.]+') OR NOT contains(v6, ':') THEN 'invalid'
        WHEN regexp_full_match(v6, '[0:]+') THEN 'unspecified'
        WHEN regexp_full_match(v6, '[0:]*:0{0,3}1') THEN 'loopback'
        WHEN lpad(split_part(v6, ':', 1), 4, '0') BETWEEN 'fe80' AND 'febf' THEN 'link-local'
        WHEN lpad(split_part(v6, ':', 1), 4, '0') BETWEEN 'fc00' AND 'fdff' THEN 'private'
        WHEN lpad(split_part(v6, ':', 1), 4, '0') >= 'ff00' THEN 'multicast'
        ELSE 'public'
    END
);

-- Class of an address already passed through fw_ip_norm (so ::ffff:a.b.c.d arrives as a.b.c.d).
CREATE OR REPLACE MACRO fw_ip_class_norm(n) AS (
    CASE
        WHEN n = '' THEN 'unspecified'
        WHEN contains(n, ':') THEN fw_ipv6_class(n)
        ELSE fw_ipv4_class(n)
    END
);

CREATE OR REPLACE MACRO fw_ip_class(ip) AS (fw_ip_class_norm(fw_ip_norm(ip)));

-- Folds machine- and user-specific prefixes of a lower-case Windows path so that the same program
-- groups together on every device. Order matters: "program files (x86)" before "program files".
-- A volume device path (\device\harddiskvolumeN\, as kernel-side events report it) counts as a
-- drive here: its windows, program files and users folders are the system drive's on every device.
CREATE OR REPLACE MACRO fw_fold_path(p) AS (
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        p,
        '^\\\\\?\\', ''),
        '^%systemroot%\\', '%windir%\\'),
        '^(?:[a-z]:|\\device\\harddiskvolume\d+)\\windows\\', '%windir%\\'),
        '^(?:[a-z]:|\\device\\harddiskvolume\d+)\\program files \(x86\)\\', '%programfiles(x86)%\\'),
        '^(?:[a-z]:|\\device\\harddiskvolume\d+)\\program files\\', '%programfiles%\\'),
        '^(?:[a-z]:|\\device\\harddiskvolume\d+)\\users\\[^\\]+\\', '%userprofile%\\')
);

-- Lower-case path of InitiatingProcessFolderPath and InitiatingProcessFileName, not folded; '\\?\'
-- dropped. Defender fills the folder with or without the file name; ToApp rows may carry only the
-- folder (then the result is that folder: fw_events.process_name is '').
CREATE OR REPLACE MACRO fw_join_path(folder, file) AS (
    regexp_replace(lower(
        CASE
            WHEN coalesce(file, '') = '' THEN coalesce(folder, '')
            WHEN coalesce(folder, '') = '' THEN file
            WHEN lower(folder) = lower(file) OR ends_with(lower(folder), '\' || lower(file)) THEN folder
            ELSE rtrim(folder, '\') || '\' || file
        END
    ), '^\\\\\?\\', '')
);

-- Normalised, lower-case process path (the grouping key of every firewall model).
CREATE OR REPLACE MACRO fw_process_path(folder, file) AS (fw_fold_path(fw_join_path(folder, file)));

-- A KQL double-quoted string literal: backslash, quote and control characters escaped.
CREATE OR REPLACE MACRO kql_str(s) AS (
    '"' || replace(replace(replace(replace(replace(
        regexp_replace(coalesce(s, ''), '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]', '', 'g'),
        '\', '\\'), '"', '\"'), chr(10), '\n'), chr(13), '\r'), chr(9), '\t') || '"'
);

-- A PowerShell single-quoted string literal. PowerShell also ends single-quoted strings at the
-- typographic quotes U+2018..U+201B, so each of those is doubled as well.
CREATE OR REPLACE MACRO ps_str(s) AS (
    '''' || regexp_replace(coalesce(s, ''), '([''‘’‚‛])', '\1\1', 'g') || ''''
);

-- The -Program value of a rule draft, from an unfolded lower-case path (fw_events.program_path) whose
-- volume device prefix, if any, was already replaced by its drive letter where known.
-- New-NetFirewallRule -Program takes a full path to an executable; the firewall service (MpsSvc,
-- running as LocalService) expands only SYSTEM environment variables, so drafts use %SystemRoot%,
-- %ProgramFiles% and %ProgramFiles(x86)% (how the built-in rules are written) and never a
-- per-user variable (%UserProfile%, %AppData%, %LocalAppData%, %Temp%): a program under
-- C:\Users\<name>\ is drafted with that user's real path, one rule per user.
-- NULL when the firewall could not match it: a folder (no file extension), an unmapped
-- \device\harddiskvolumeN\ path (not guessed as %SystemDrive%: volume N need not be the system
-- drive), or a path that is not absolute.
CREATE OR REPLACE MACRO fw_system_volume_path(p) AS (
    regexp_replace(p, '^\\device\\harddiskvolume\d+\\(windows|program files)', 'c:\\\1')
);

CREATE OR REPLACE MACRO fw_rule_program_of(q) AS (
    CASE
        WHEN q IS NULL OR NOT regexp_matches(q, '\.[a-z0-9]{1,4}$') OR NOT regexp_matches(q, '^[a-z]:\\') THEN NULL
        ELSE regexp_replace(regexp_replace(regexp_replace(q,
            '^[a-z]:\\windows\\', '%SystemRoot%\\'),
            '^[a-z]:\\program files \(x86\)\\', '%ProgramFiles(x86)%\\'),
            '^[a-z]:\\program files\\', '%ProgramFiles%\\')
    END
);

CREATE OR REPLACE MACRO fw_rule_program(p) AS (fw_rule_program_of(fw_system_volume_path(p)));

-- A per-user path (C:\Users\<name>\...): the draft is written per user, AppLocker/WDAC suggested.
CREATE OR REPLACE MACRO fw_is_user_path(p) AS (regexp_matches(coalesce(p, ''), '^[a-z]:\\users\\'));

-- One New-NetFirewallRule draft. Arguments NULL are left out; remote_addresses is a list (each value
-- a keyword such as Internet, an address, a subnet or a range), profile e.g. 'Any' or 'Domain,Private'.
-- The names and value domains used here are the ones tests/test_firewall_drafts.py checks against
-- the cmdlet's documented parameter set.
CREATE OR REPLACE MACRO ps_fw_rule(display_name, direction, action, program, protocol, local_port, remote_port,
                                   remote_addresses, profile) AS (
    'New-NetFirewallRule -DisplayName ' || ps_str(display_name)
        || ' -Direction ' || direction
        || CASE WHEN program IS NOT NULL THEN ' -Program ' || ps_str(program) ELSE '' END
        || coalesce(' -Protocol ' || protocol, '')
        || coalesce(' -LocalPort ' || local_port::VARCHAR, '')
        || coalesce(' -RemotePort ' || remote_port::VARCHAR, '')
        || coalesce(' -RemoteAddress '
            || nullif(array_to_string(list_transform(remote_addresses, lambda a: ps_str(a)), ','), ''), '')
        || ' -Action ' || action
        || ' -Profile ' || profile
);

-- A cmd.exe double-quoted argument. Inside double quotes cmd takes & | < > ^ literally; only a
-- quote (which would end the argument; not a legal file-name character anyway) and control
-- characters are dropped, and from names also % (a batch file would expand it). Paths keep %: a
-- GPO startup script expanding %SystemRoot% itself yields the same path the firewall would.
CREATE OR REPLACE MACRO cmd_str(s) AS ('"' || regexp_replace(coalesce(s, ''), '["%\x00-\x1f\x7f]', '', 'g') || '"');
CREATE OR REPLACE MACRO cmd_path(s) AS ('"' || regexp_replace(coalesce(s, ''), '["\x00-\x1f\x7f]', '', 'g') || '"');

-- Public IPv4 and IPv6 space as explicit ranges: netsh has no Internet keyword. The complement of the
-- classes fw_ip_class does not call public (0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
-- 192.168/16, 224/3) and IPv6 global unicast 2000::/3.
CREATE OR REPLACE MACRO fw_public_ranges() AS (
    ['1.0.0.0-9.255.255.255', '11.0.0.0-100.63.255.255', '100.128.0.0-126.255.255.255',
     '128.0.0.0-169.253.255.255', '169.255.0.0-172.15.255.255', '172.32.0.0-192.167.255.255',
     '192.169.0.0-223.255.255.255', '2000::/3']
);

-- The same rule as ps_fw_rule as a `netsh advfirewall firewall add rule` line (for GPO startup
-- scripts). 'Internet' becomes fw_public_ranges(); profile names are lower-cased.
CREATE OR REPLACE MACRO netsh_fw_rule(display_name, direction, action, program, protocol, local_port, remote_port,
                                      remote_addresses, profile) AS (
    'netsh advfirewall firewall add rule name=' || cmd_str(display_name)
        || ' dir=' || CASE lower(direction) WHEN 'inbound' THEN 'in' ELSE 'out' END
        || ' action=' || lower(action)
        || CASE WHEN program IS NOT NULL THEN ' program=' || cmd_path(program) ELSE '' END
        || coalesce(' protocol=' || lower(protocol), '')
        || coalesce(' localport=' || local_port::VARCHAR, '')
        || coalesce(' remoteport=' || remote_port::VARCHAR, '')
        || coalesce(' remoteip=' || nullif(array_to_string(list_concat(
            CASE WHEN list_contains(remote_addresses, 'Internet') THEN fw_public_ranges() ELSE [] END,
            list_filter(remote_addresses, lambda a: a <> 'Internet')), ','), ''), '')
        || ' profile=' || lower(replace(profile, ' ', ''))
);

-- KQL condition: the RemoteIP of a DeviceEvents row is an address fw_ip_class calls 'public'
-- (::ffff:-mapped IPv4 unwrapped first), for hunting queries of findings that counted only those.
CREATE OR REPLACE MACRO kql_public_remote() AS (
    '| extend HunthouseIP = replace_regex(tolower(RemoteIP), @"^(?:0{0,4}:){2,5}ffff:(\d+\.\d+\.\d+\.\d+)$", @"\1")'
    || chr(10) || '| where (isnotnull(parse_ipv4(HunthouseIP)) and not(ipv4_is_in_any_range(HunthouseIP, '
    || 'dynamic(["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", '
    || '"192.168.0.0/16", "224.0.0.0/3"])))) or (HunthouseIP contains ":" and not(ipv6_is_in_any_range('
    || 'HunthouseIP, dynamic(["::/127", "fe80::/10", "fc00::/7", "ff00::/8"]))))'
);
