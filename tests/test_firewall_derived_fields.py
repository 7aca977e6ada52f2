"""Derived fields of fw_events: address classes, normalised process paths, and the quoting helpers
that make PowerShell and KQL drafts safe for attacker-controlled names."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

MACROS = Path(__file__).resolve().parents[1] / "models" / "firewall" / "00_fw_macros.sql"


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect(":memory:")
    c.execute(MACROS.read_text(encoding="utf-8"))
    yield c
    c.close()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", "public"),
        ("95.166.126.90", "public"),
        ("203.0.113.7", "public"),  # documentation range: treated as public
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("172.32.0.1", "public"),
        ("192.168.0.182", "private"),
        ("100.64.0.1", "private"),  # CGNAT
        ("100.127.255.255", "private"),
        ("100.128.0.1", "public"),
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("169.254.10.20", "link-local"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("", "unspecified"),
        ("   ", "unspecified"),
        (None, "unspecified"),
        ("::1", "loopback"),
        ("0:0:0:0:0:0:0:1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1c2d:3e4f:5a6b:7c8d", "link-local"),
        ("fe80::1%12", "link-local"),
        ("FEBF::1", "link-local"),
        ("fec0::1", "public"),
        ("fc00::1", "private"),
        ("fd12:3456:789a::1", "private"),
        ("ff02::1:3", "multicast"),
        ("2001:4860:4860::8888", "public"),
        ("[2001:db8::1]", "public"),
        ("::ffff:8.8.8.8", "public"),
        ("::ffff:192.168.1.10", "private"),
        ("::FFFF:127.0.0.1", "loopback"),
        ("0:0:0:0:0:ffff:10.0.0.1", "private"),
        ("999.1.1.1", "invalid"),
        ("not-an-address", "invalid"),
    ],
)
def test_remote_address_class(con, address, expected):
    assert con.execute("select fw_ip_class(?)", [address]).fetchone()[0] == expected


def test_mapped_ipv4_normalises_to_the_ipv4_so_it_counts_once(con):
    assert con.execute("select fw_ip_norm('::ffff:95.166.126.90')").fetchone()[0] == "95.166.126.90"


@pytest.mark.parametrize(
    ("folder", "file", "expected"),
    [
        (r"C:\Windows\System32", "svchost.exe", r"%windir%\system32\svchost.exe"),
        (r"c:\windows\system32\svchost.exe", "svchost.exe", r"%windir%\system32\svchost.exe"),
        (r"%SystemRoot%\System32\lsass.exe", "lsass.exe", r"%windir%\system32\lsass.exe"),
        (r"C:\Program Files\Contoso\agent.exe", "agent.exe", r"%programfiles%\contoso\agent.exe"),
        (r"C:\Program Files (x86)\Contoso\agent.exe", "AGENT.EXE", r"%programfiles(x86)%\contoso\agent.exe"),
        (r"C:\Users\alice\AppData\Local\Zoom\bin", "Zoom.exe", r"%userprofile%\appdata\local\zoom\bin\zoom.exe"),
        (r"C:\Users\BOB\AppData\Local\Zoom\bin", "Zoom.exe", r"%userprofile%\appdata\local\zoom\bin\zoom.exe"),
        (r"C:\windows\ccm\remctrl", None, r"%windir%\ccm\remctrl"),  # ToApp rows: folder only
        (None, "tool.exe", "tool.exe"),
        (None, None, ""),
    ],
)
def test_process_path_is_normalised(con, folder, file, expected):
    assert con.execute("select fw_process_path(?, ?)", [folder, file]).fetchone()[0] == expected


def _read_ps_single_quoted(text: str) -> tuple[str, str]:
    """PowerShell's reading of a single-quoted literal at the start of `text`: (value, rest)."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert text[0] in quotes
    i, out = 1, []
    while True:
        ch = text[i]
        if ch in quotes:
            if i + 1 < len(text) and text[i + 1] in quotes:
                out.append(ch)
                i += 2
                continue
            return "".join(out), text[i + 1 :]
        out.append(ch)
        i += 1


def _read_kql_string(text: str) -> tuple[str, str]:
    """KQL's reading of a double-quoted literal at the start of `text`: (value, rest)."""
    escapes = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}
    assert text[0] == '"'
    i, out = 1, []
    while True:
        ch = text[i]
        if ch == "\\":
            out.append(escapes[text[i + 1]])
            i += 2
        elif ch == '"':
            return "".join(out), text[i + 1 :]
        else:
            assert ch not in "\n\r", "raw newline inside a KQL string literal"
            out.append(ch)
            i += 1


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "it's'; Remove-Item C:\\ -Recurse; '",
    "smart\u2019quote\u2018s",
    'back\\slash" | where 1==1 //',
    "line\nbreak\ttab",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_powershell_literal_round_trips_and_cannot_break_out(con, value):
    literal = con.execute("select ps_str(?) || ' -Next'", [value]).fetchone()[0]
    decoded, rest = _read_ps_single_quoted(literal)
    assert decoded == value
    assert rest == " -Next"


@pytest.mark.parametrize("value", HOSTILE)
def test_kql_literal_round_trips_and_cannot_break_out(con, value):
    literal = con.execute("select kql_str(?) || ' | next'", [value]).fetchone()[0]
    decoded, rest = _read_kql_string(literal)
    assert decoded == value
    assert rest == " | next"
