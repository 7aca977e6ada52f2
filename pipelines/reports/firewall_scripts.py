"""The rule drafts of a tenant's open firewall findings as script files beside its report: a
`netsh advfirewall` batch file (GPO startup scripts) and a PowerShell script with the same rules.

Every command line comes verbatim from fw_findings' draft columns (`netsh`, `powershell`), where
the SQL already quoted each value (ps_str, cmd_str/cmd_path); nothing is re-quoted here. The only
other lines are this module's constant comments and a per-finding comment built from values checked
against fixed patterns. A draft with a line that does not start with one of the commands the
models write (e.g. a value that smuggled a line break) is withheld whole: a half rule is worse
than none. Resolved findings get no rules: their situation is over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

FINDING_ID = re.compile(r"^[0-9a-f]{32}$")
FINDING_TYPE = re.compile(r"^[a-z_]{1,40}$")
OPEN_STATES = ("new", "ongoing")
SEVERITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class ScriptKind:
    column: str  # the fw_findings draft column
    suffix: str  # file name: <tenant>-rules<suffix>
    comment: str
    commands: tuple[str, ...]  # every line must start with one of these
    newline: str
    prologue: tuple[str, ...] = ()  # constant lines after the header
    bom: str = ""


NETSH = ScriptKind(
    column="netsh", suffix="-rules.cmd", comment="REM", newline="\r\n",
    commands=("netsh advfirewall firewall add rule ", "sc.exe ", "auditpol "),
    prologue=("chcp 65001 >nul",),  # the file is UTF-8: program paths may hold non-ASCII letters
)
POWERSHELL = ScriptKind(
    column="powershell", suffix="-rules.ps1", comment="#", newline="\n",
    commands=("New-NetFirewallRule ", "Set-Service ", "auditpol "),
    bom="\ufeff",  # Windows PowerShell 5.1 reads a file without BOM as ANSI
)
KINDS = (NETSH, POWERSHELL)


def script_name(tenant: str, kind: ScriptKind) -> str:
    return f"{tenant}{kind.suffix}"


def _draft_lines(finding: dict, kind: ScriptKind) -> list[str] | None:
    """The draft's lines, or None when the finding or its draft fails a check (withheld)."""
    if not (FINDING_ID.match(finding.get("finding_id") or "") and FINDING_TYPE.match(finding.get("finding_type") or "")
            and finding.get("severity") in SEVERITIES):
        return None
    lines = (finding.get(kind.column) or "").split("\n")
    if not all(line.startswith(kind.commands) and "\r" not in line for line in lines):
        return None
    return lines


def script_text(kind: ScriptKind, as_of: date, findings: list[dict]) -> tuple[str, int, int]:
    """The script of the open findings with a draft, in the given order: (text, drafts written,
    drafts withheld)."""
    c = kind.comment
    out = [
        f"{c} Hunthouse firewall rule DRAFTS for the night of {as_of.isoformat()}.",
        f"{c} Drafts to review, not to run blindly: check each rule against the finding in the report",
        f"{c} (what it blocks or allows, on which devices) and test on a pilot group first.",
        f"{c} Only open findings (new, ongoing) are listed; resolved ones need no rule.",
        *kind.prologue,
    ]
    written = withheld = 0
    for f in findings:
        if f.get("state") not in OPEN_STATES or not f.get(kind.column):
            continue
        lines = _draft_lines(f, kind)
        if lines is None:
            withheld += 1
            continue
        out += ["", f"{c} finding {f['finding_id']} ({f['finding_type']}, {f['state']}, severity {f['severity']})",
                *lines]
        written += 1
    if withheld:
        out += ["", f"{c} {withheld} draft(s) withheld: a line did not start with an expected command."]
    if not written:
        out += ["", f"{c} No open finding has a draft tonight."]
    return kind.bom + kind.newline.join(out) + kind.newline, written, withheld
