-- model: fw_port_services
-- kind: seed
-- grain: one row per well-known port
-- key: port
-- catch_up: whole
-- description: Well-known port → service name seed table used by the firewall models.
-- columns:
--   port INTEGER: port number (TCP or UDP)
--   service VARCHAR: service name: `ssh`, `rdp`, `smb`, `winrm`, `https`, …; joined as `fw_daily.service`
--   is_sensitive BOOLEAN: a management or sensitive service (remote access, file sharing, directory, databases):
--     public inbound blocks on it raise `public_inbound_exposure`
--
-- Seed: one row per well-known port. Why: findings and the report name services (rdp, smb, …)
-- and public_inbound_exposure needs the list of management/sensitive ports in one place.
CREATE OR REPLACE TABLE fw_port_services AS
SELECT * FROM (VALUES
    (20, 'ftp-data', true), (21, 'ftp', true), (22, 'ssh', true), (23, 'telnet', true),
    (25, 'smtp', false), (53, 'dns', false), (67, 'dhcp', false), (68, 'dhcp', false),
    (80, 'http', false), (88, 'kerberos', true), (123, 'ntp', false), (135, 'msrpc', true),
    (137, 'netbios-ns', true), (138, 'netbios-dgm', true), (139, 'netbios-ssn', true),
    (161, 'snmp', true), (389, 'ldap', true), (443, 'https', false), (445, 'smb', true),
    (636, 'ldaps', true), (1433, 'mssql', true), (1900, 'ssdp', false), (3306, 'mysql', true),
    (3389, 'rdp', true), (5353, 'mdns', false), (5355, 'llmnr', false), (5432, 'postgres', true),
    (5900, 'vnc', true), (5985, 'winrm', true), (5986, 'winrm-https', true), (8080, 'http-alt', false),
    (8443, 'https-alt', false)
) AS t(port, service, is_sensitive);
