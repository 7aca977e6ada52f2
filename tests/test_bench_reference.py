"""The bench's pandas reference re-derives the firewall fields the way the SQL macros do.

The bench asserts equality only on simulator data; these edge cases (IPv6, mapped IPv4, zone ids,
brackets, folded Windows paths, folder-with-file) prove the derivations agree beyond it.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from bench.pandas_firewall import ip_class, ip_norm, process_path
from models.runner import MODELS_DIR, run_sql_file

ADDRESSES = ["10.1.2.3", " 8.8.8.8 ", "::ffff:192.168.1.1", "[fe80::1%12]", "fe80::1", "fd00::5", "2001:db8::1",
             "::1", "::", "ff02::1", "224.0.0.251", "255.255.255.255", "169.254.1.1", "0.0.0.0", "300.1.1.1",
             "100.64.0.1", "127.0.0.1", "", None, "not-an-ip", "240.0.0.1", "172.16.5.5", "172.32.0.1"]
PATHS = [
    ("C:\\Windows\\System32\\svchost.exe", "svchost.exe"),
    ("C:\\Windows\\System32", "svchost.exe"),
    ("C:\\Windows\\System32\\", "svchost.exe"),
    ("C:\\Program Files (x86)\\App", "app.exe"),
    ("D:\\Program Files\\Tool\\tool.exe", "TOOL.EXE"),
    ("C:\\Users\\alice\\AppData\\x.exe", "x.exe"),
    ("\\\\?\\C:\\Windows\\a.exe", ""),
    ("%SystemRoot%\\b.exe", None),
    ("", "c.exe"),
    (None, None),
]


def _macros() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    run_sql_file(con, MODELS_DIR / "firewall" / "00_fw_macros.sql")
    return con


def test_pandas_address_class_matches_the_sql_macros():
    con = _macros()
    sql = [con.execute("SELECT fw_ip_class(?)", [a]).fetchone()[0] for a in ADDRESSES]
    assert ip_class(ip_norm(pd.Series(ADDRESSES, dtype=object))).tolist() == sql


def test_pandas_process_path_matches_the_sql_macro():
    con = _macros()
    sql = [con.execute("SELECT fw_process_path(?, ?)", [f, n]).fetchone()[0] for f, n in PATHS]
    folders = pd.Series([f for f, _ in PATHS], dtype=object)
    files = pd.Series([n for _, n in PATHS], dtype=object)
    assert process_path(folders, files).tolist() == sql
