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
CREATE OR REPLACE MACRO fw_fold_path(p) AS (
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        p,
        '^\\\\\?\\', ''),
        '^%systemroot%\\', '%windir%\\'),
        '^[a-z]:\\windows\\', '%windir%\\'),
        '^[a-z]:\\program files \(x86\)\\', '%programfiles(x86)%\\'),
        '^[a-z]:\\program files\\', '%programfiles%\\'),
        '^[a-z]:\\users\\[^\\]+\\', '%userprofile%\\')
);

-- Normalised, lower-case process path from InitiatingProcessFolderPath and InitiatingProcessFileName.
-- Defender fills the folder with or without the file name; ToApp rows may carry only the folder.
CREATE OR REPLACE MACRO fw_process_path(folder, file) AS (
    fw_fold_path(lower(
        CASE
            WHEN coalesce(file, '') = '' THEN coalesce(folder, '')
            WHEN coalesce(folder, '') = '' THEN file
            WHEN lower(folder) = lower(file) OR ends_with(lower(folder), '\' || lower(file)) THEN folder
            ELSE rtrim(folder, '\') || '\' || file
        END
    ))
);

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

-- The same path with canonical environment variables, for New-NetFirewallRule -Program.
CREATE OR REPLACE MACRO fw_rule_program(p) AS (
    replace(replace(replace(replace(p,
        '%programfiles(x86)%', '%ProgramFiles(x86)%'), '%programfiles%', '%ProgramFiles%'),
        '%windir%', '%SystemRoot%'), '%userprofile%', '%UserProfile%')
);
