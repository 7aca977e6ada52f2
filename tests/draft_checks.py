"""A checker for the firewall findings' rule drafts: every `New-NetFirewallRule` line is parsed and
its parameter names and values are checked against the cmdlet's documented parameter set
(learn.microsoft.com, powershell/module/netsecurity/new-netfirewallrule: the Default parameter set),
and every `netsh advfirewall firewall add rule` line against netsh's documented keywords.

The value domains written here are the documented ones, narrowed where a draft must be narrower
than what the cmdlet accepts (a -Program that the firewall service can match: an absolute path to
an executable or one under a system environment variable; never a folder, a user variable or a
\\device\\ path)."""

from __future__ import annotations

import ipaddress
import re

# The Default parameter set of New-NetFirewallRule, as documented.
PS_PARAMETERS = {
    "PolicyStore", "GPOSession", "Name", "DisplayName", "Description", "Group", "Enabled", "Profile", "Platform",
    "Direction", "Action", "EdgeTraversalPolicy", "LooseSourceMapping", "LocalOnlyMapping", "Owner",
    "LocalAddress", "RemoteAddress", "Protocol", "LocalPort", "RemotePort", "IcmpType", "DynamicTarget", "Program",
    "Package", "Service", "InterfaceAlias", "InterfaceType", "LocalUser", "RemoteUser", "RemoteMachine",
    "Authentication", "Encryption", "OverrideBlockRules", "RemoteDynamicKeywordAddresses", "CimSession",
    "ThrottleLimit", "AsJob", "WhatIf", "Confirm",
}
DIRECTIONS = {"Inbound", "Outbound"}
ACTIONS = {"NotConfigured", "Allow", "Block"}
PROFILES = {"Any", "Domain", "Private", "Public", "NotApplicable"}
PROTOCOL_NAMES = {"TCP", "UDP", "ICMPv4", "ICMPv6", "Any"}
# -LocalPort / -RemotePort keywords (the documented ones; they need -Protocol TCP or UDP like numbers)
PORT_KEYWORDS = {"Any", "RPC", "RPCEPMap", "IPHTTPS", "IPHTTPSIn", "IPHTTPSOut", "Teredo", "PlayToDiscovery", "mDNS",
                 "DHCP"}
# -RemoteAddress keywords, each also with a 4 or 6 suffix
ADDRESS_KEYWORDS = {"Any", "LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway", "Internet", "Intranet",
                    "IntranetRemoteAccess", "PlayToDevice", "CaptivePortal"}
# environment variables the firewall service (a system service) can expand in -Program
SYSTEM_VARIABLES = ("%SystemRoot%", "%windir%", "%ProgramFiles%", "%ProgramFiles(x86)%", "%SystemDrive%",
                    "%ProgramData%")
NETSH_KEYS = {"name", "dir", "action", "program", "service", "description", "enable", "profile", "localip",
              "remoteip", "localport", "remoteport", "protocol", "interfacetype", "rmtcomputergrp", "rmtusrgrp",
              "edge", "security"}

_PS_TOKEN = re.compile(r"""\s*(-[A-Za-z]+|'(?:[^']|'')*'(?:,'(?:[^']|'')*')*|[^\s']+)""")
_NETSH_TOKEN = re.compile(r"""\s*([a-z]+)=("[^"]*"|[^\s"]+)""")


def _ps_values(token: str) -> list[str]:
    if token.startswith("'"):
        return [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", token)]
    return token.split(",")


def parse_ps(line: str) -> dict[str, list[str]]:
    """`New-NetFirewallRule -Name value ...` → {parameter: values}; ValueError on a malformed line."""
    if not line.startswith("New-NetFirewallRule "):
        raise ValueError(f"not a New-NetFirewallRule line: {line[:60]}")
    rest, params, pos = line[len("New-NetFirewallRule"):], {}, 0
    name = None
    while pos < len(rest.rstrip()):
        m = _PS_TOKEN.match(rest, pos)
        if not m:
            raise ValueError(f"cannot parse at {rest[pos:pos + 30]!r}")
        token, pos = m.group(1), m.end()
        if token.startswith("-") and not token[1:].isdigit():
            if name is not None:
                params[name] = []  # a switch
            name = token[1:]
            if name in params:
                raise ValueError(f"-{name} given twice")
        elif name is None:
            raise ValueError(f"value {token!r} without a parameter")
        else:
            params[name], name = _ps_values(token), None
    if name is not None:
        params[name] = []
    return params


def _port_ok(value: str) -> bool:
    if value in PORT_KEYWORDS:
        return True
    bounds = value.split("-")
    return len(bounds) <= 2 and all(b.isdigit() and 0 <= int(b) <= 65535 for b in bounds)


def _address_ok(value: str) -> bool:
    if re.fullmatch(rf"(?:{'|'.join(ADDRESS_KEYWORDS)})[46]?", value):
        return True
    try:
        for part in value.split("-") if "-" in value else [value]:
            if "/" in part and "." in part.split("/")[1]:  # subnet by mask: 10.0.0.0/255.0.0.0
                ipaddress.ip_network(part.split("/")[0] + "/" + str(ipaddress.ip_address(part.split("/")[1])),
                                     strict=False)
            elif "/" in part:
                ipaddress.ip_network(part, strict=False)
            else:
                ipaddress.ip_address(part)
        return True
    except ValueError:
        return False


def program_problem(path: str) -> str | None:
    """Why the firewall could not match this -Program value, or None."""
    if not re.search(r"\.[A-Za-z0-9]{1,4}$", path):
        return "not an executable file (a folder?)"
    if path.lower().startswith("\\device\\"):
        return "a volume device path the firewall does not match"
    variables = re.findall(r"%[^%]+%", path)
    if any(v not in SYSTEM_VARIABLES for v in variables):
        return f"a variable the firewall service cannot expand: {variables}"
    if variables and not path.startswith(variables[0]):
        return "a variable not at the start"
    if not variables and not re.match(r"^[A-Za-z]:\\", path):
        return "not an absolute path"
    return None


def ps_problems(line: str) -> list[str]:
    try:
        params = parse_ps(line)
    except ValueError as exc:
        return [str(exc)]
    problems = [f"unknown parameter -{p}" for p in params if p not in PS_PARAMETERS]
    if not params.get("DisplayName") or not params["DisplayName"][0].strip():
        problems.append("-DisplayName is mandatory")
    for name, domain in (("Direction", DIRECTIONS), ("Action", ACTIONS)):
        values = params.get(name, [])
        if name in params and (len(values) != 1 or values[0] not in domain):
            problems.append(f"-{name} {values} not one of {sorted(domain)}")
    if "Profile" in params and not (params["Profile"] and set(params["Profile"]) <= PROFILES):
        problems.append(f"-Profile {params['Profile']}")
    protocol = params.get("Protocol", [None])
    if "Protocol" in params and not (len(protocol) == 1 and (protocol[0] in PROTOCOL_NAMES or (
            protocol[0].isdigit() and 0 <= int(protocol[0]) <= 255))):
        problems.append(f"-Protocol {protocol}")
    for name in ("LocalPort", "RemotePort"):
        if name in params:
            if protocol[0] not in ("TCP", "UDP", "6", "17"):
                problems.append(f"-{name} needs -Protocol TCP or UDP, got {protocol[0]}")
            problems += [f"-{name} {v}" for v in params[name] if not _port_ok(v)]
    for name in ("RemoteAddress", "LocalAddress"):
        problems += [f"-{name} {v}" for v in params.get(name, []) if not _address_ok(v)]
    if "Program" in params:
        if len(params["Program"]) != 1:
            problems.append(f"-Program {params['Program']}")
        elif (why := program_problem(params["Program"][0])) is not None:
            problems.append(f"-Program {params['Program'][0]}: {why}")
    return problems


def netsh_problems(line: str) -> list[str]:
    prefix = "netsh advfirewall firewall add rule "
    if not line.startswith(prefix):
        return [f"not a netsh add rule line: {line[:60]}"]
    rest = line[len(prefix):]
    pairs = _NETSH_TOKEN.findall(rest)
    if "".join(f" {k}={v}" for k, v in pairs).strip() != rest.strip():
        return [f"cannot parse {rest!r}"]
    args = {k: v.strip('"') for k, v in pairs}
    problems = [f"unknown key {k}" for k in args if k not in NETSH_KEYS]
    for key in ("name", "dir", "action"):
        if key not in args:
            problems.append(f"{key}= is mandatory")
    if args.get("dir") not in ("in", "out"):
        problems.append(f"dir={args.get('dir')}")
    if args.get("action") not in ("allow", "block", "bypass"):
        problems.append(f"action={args.get('action')}")
    profiles = args.get("profile", "any").split(",")
    if not set(profiles) <= {"public", "private", "domain", "any"}:
        problems.append(f"profile={args.get('profile')}")
    if ("localport" in args or "remoteport" in args) and args.get("protocol") not in ("tcp", "udp"):
        problems.append("ports need protocol=tcp or udp")
    for key in ("localport", "remoteport"):
        if key in args and not all(p.isdigit() and int(p) <= 65535 or p in ("any", "rpc", "rpc-epmap", "iphttps")
                                   for p in args[key].split(",")):
            problems.append(f"{key}={args[key]}")
    if "remoteip" in args:
        keywords = {"any", "localsubnet", "dns", "dhcp", "wins", "defaultgateway"}
        problems += [f"remoteip {v}" for v in args["remoteip"].split(",")
                     if v not in keywords and not _address_ok(v)]
    if "program" in args and (why := program_problem(args["program"])) is not None:
        problems.append(f"program={args['program']}: {why}")
    return problems


# Other commands the drafts use, written verbatim by the models (service start, audit policy).
OTHER_COMMANDS = (
    re.compile(r"Set-Service -Name mpssvc -StartupType Automatic; Start-Service -Name mpssvc"),
    re.compile(r'auditpol /set /subcategory:"Filtering Platform (Packet Drop|Connection)" /failure:enable'),
    re.compile(r"sc\.exe (config mpssvc start= auto|start mpssvc)"),
)


def draft_problems(powershell: str | None, netsh: str | None) -> list[str]:
    """Every problem of one finding's drafts; [] when they are right."""
    problems = []
    for text, check in ((powershell, ps_problems), (netsh, netsh_problems)):
        for line in (text or "").splitlines():
            if any(c.fullmatch(line) for c in OTHER_COMMANDS):
                continue
            problems += check(line)
    if bool(powershell) != bool(netsh):
        problems.append("a PowerShell draft without its netsh twin (or the reverse)")
    elif powershell and powershell.count("New-NetFirewallRule ") != netsh.count("netsh advfirewall firewall add rule "):
        problems.append("the PowerShell and netsh drafts differ in their number of rules")
    return problems
