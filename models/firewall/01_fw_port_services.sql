-- model: fw_port_services
-- kind: seed
-- grain: one row per well-known port
-- key: port
-- catch_up: whole
-- description: Well-known port → service name and transport protocols, seed table used by the firewall models.
-- columns:
--   port INTEGER: port number (TCP or UDP)
--   service VARCHAR: service name: `ssh`, `rdp`, `smb`, `winrm`, `https`, …; joined as `fw_daily.service`
--   is_sensitive BOOLEAN: a management or sensitive service (remote access, file sharing, directory, databases):
--     public inbound blocks on it raise `public_inbound_exposure`
--   protocols VARCHAR[]: the transports the service uses (`['UDP']` for 137, 138, 161, 1900, 5353, 5355, …;
--     `['TCP', 'UDP']` for 53, 88, 389, 3389): a rule draft takes its `-Protocol` from the events'
--     `AdditionalFields.Protocol`, else from here (one rule per protocol), else drafts both
--
-- Seed: one row per well-known port. Why: findings and the report name services (rdp, smb, …),
-- public_inbound_exposure needs the list of management/sensitive ports in one place, and a rule
-- draft needs the transport of a port when its events do not say (AdditionalFields without
-- Protocol): NetBIOS 137/138, SNMP 161, SSDP 1900, mDNS 5353, LLMNR 5355 are UDP services, and a
-- draft that says TCP for them would block nothing.
-- protocols: the transports the service listens on (IANA assignments narrowed to what Windows
-- services use); a draft writes one rule per protocol.
CREATE OR REPLACE TABLE fw_port_services AS
SELECT port, service, is_sensitive, string_split(protocols, ',') AS protocols FROM (VALUES
    (20, 'ftp-data', true, 'TCP'), (21, 'ftp', true, 'TCP'), (22, 'ssh', true, 'TCP'), (23, 'telnet', true, 'TCP'),
    (25, 'smtp', false, 'TCP'), (53, 'dns', false, 'TCP,UDP'), (67, 'dhcp', false, 'UDP'), (68, 'dhcp', false, 'UDP'),
    (80, 'http', false, 'TCP'), (88, 'kerberos', true, 'TCP,UDP'), (123, 'ntp', false, 'UDP'),
    (135, 'msrpc', true, 'TCP'), (137, 'netbios-ns', true, 'UDP'), (138, 'netbios-dgm', true, 'UDP'),
    (139, 'netbios-ssn', true, 'TCP'), (161, 'snmp', true, 'UDP'), (389, 'ldap', true, 'TCP,UDP'),
    (443, 'https', false, 'TCP'), (445, 'smb', true, 'TCP'), (636, 'ldaps', true, 'TCP'), (1433, 'mssql', true, 'TCP'),
    (1900, 'ssdp', false, 'UDP'), (3306, 'mysql', true, 'TCP'), (3389, 'rdp', true, 'TCP,UDP'),
    (3702, 'ws-discovery', false, 'UDP'), (5353, 'mdns', false, 'UDP'), (5355, 'llmnr', false, 'UDP'),
    (5357, 'wsdapi', false, 'TCP'), (5432, 'postgres', true, 'TCP'), (5900, 'vnc', true, 'TCP'),
    (5985, 'winrm', true, 'TCP'), (5986, 'winrm-https', true, 'TCP'), (8080, 'http-alt', false, 'TCP'),
    (8443, 'https-alt', false, 'TCP')
) AS t(port, service, is_sensitive, protocols);
