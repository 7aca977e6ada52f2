"""The firewall baseline as a notebook user would compute it: pandas over the raw lake Parquet.

Re-derives what models/firewall does in SQL (10_fw_events.sql, 20_fw_daily.sql, 30_fw_baseline.sql)
for the device-scope, pattern-level baseline: daily event counts per device × pattern over the
`baseline_days` days before as_of, zero-filled on the tenant's reporting days, then median, p95
(linear interpolation) and MAD (unscaled). Written independently of the SQL so that matching
numbers mean something.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

FIREWALL_ACTIONS = [
    "FirewallInboundConnectionBlocked", "FirewallOutboundConnectionBlocked",
    "FirewallInboundConnectionToAppBlocked", "FirewallServiceStopped",
]
COLUMNS = ["Timestamp", "DeviceId", "ActionType", "RemoteIP", "RemotePort", "LocalPort",
           "InitiatingProcessFileName", "InitiatingProcessFolderPath", "AdditionalFields"]
PATTERN = ["direction", "action_type", "process", "service_port", "protocol", "remote_class"]
FOLDS = [  # (regex, replacement), applied in order, as fw_fold_path
    (r"^\\\\\?\\", ""),
    (r"^%systemroot%\\", r"%windir%\\"),
    (r"^[a-z]:\\windows\\", r"%windir%\\"),
    (r"^[a-z]:\\program files \(x86\)\\", r"%programfiles(x86)%\\"),
    (r"^[a-z]:\\program files\\", r"%programfiles%\\"),
    (r"^[a-z]:\\users\\[^\\]+\\", r"%userprofile%\\"),
]


def lake_files(lake_root: str, table: str, first: date, last: date) -> list[tuple[Path, date]]:
    """The committed data file of each day partition (what a notebook would glob, minus quarantine)."""
    found = []
    for part in sorted(Path(lake_root, "raw", table).glob("tenant=*/day=*/part-*.parquet")):
        day = date.fromisoformat(part.parent.name.removeprefix("day="))
        if first <= day <= last:
            found.append((part, day))
    return found


def read_events(lake_root: str, first: date, last: date) -> pd.DataFrame:
    frames = []
    for path, day in lake_files(lake_root, "device_events", first, last):
        df = pd.read_parquet(path, columns=COLUMNS)
        df = df[df["ActionType"].isin(FIREWALL_ACTIONS)]
        df["day"] = day
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _json_field(af: pd.Series, key: str) -> pd.Series:
    # string or number value of a top-level key, as json_extract_string returns it
    return af.str.extract(rf'"{key}"\s*:\s*"?([^",}}]*)', expand=False)


def ip_norm(ip: pd.Series) -> pd.Series:
    s = ip.fillna("").str.strip().str.lower().str.replace(r"%.*$", "", regex=True)
    s = s.str.replace(r"^\[|\]$", "", regex=True)
    return s.str.replace(r"^(?:0{0,4}:){2,5}ffff:(\d+\.\d+\.\d+\.\d+)$", r"\1", regex=True)


def ip_class(norm: pd.Series) -> pd.Series:
    out = pd.Series("invalid", index=norm.index, dtype=object)
    out[norm == ""] = "unspecified"
    v4 = norm.str.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}").fillna(False)
    if v4.any():
        o = norm[v4].str.split(".", expand=True).astype(int)
        a, b, c, d = (o[i] for i in range(4))
        cls = np.select(
            [(a > 255) | (b > 255) | (c > 255) | (d > 255), a == 0,
             (a == 10) | ((a == 172) & b.between(16, 31)) | ((a == 192) & (b == 168)) | ((a == 100) & b.between(64, 127)),
             a == 127, (a == 169) & (b == 254), a.between(224, 239), (a == 255) & (b == 255) & (c == 255) & (d == 255),
             a >= 240],
            ["invalid", "unspecified", "private", "loopback", "link-local", "multicast", "broadcast", "reserved"],
            "public",
        )
        out[v4] = cls
    v6 = (norm != "") & ~v4 & norm.str.contains(":", regex=False)
    if v6.any():
        n = norm[v6]
        first = n.str.split(":").str[0].str.pad(4, fillchar="0")
        cls = np.select(
            [~n.str.fullmatch(r"[0-9a-f:.]+"), n.str.fullmatch(r"[0:]+"), n.str.fullmatch(r"[0:]*:0{0,3}1"),
             first.between("fe80", "febf"), first.between("fc00", "fdff"), first >= "ff00"],
            ["invalid", "unspecified", "loopback", "link-local", "private", "multicast"],
            "public",
        )
        out[v6] = cls
    return out


def process_path(folder: pd.Series, file: pd.Series) -> pd.Series:
    folder, file = folder.fillna(""), file.fillna("")
    lf, lfile = folder.str.lower(), file.str.lower()
    joined = folder.str.rstrip("\\") + "\\" + file
    # element-wise: does the folder already end with \<file>?
    ends = pd.Series([a.endswith("\\" + b) for a, b in zip(lf, lfile, strict=True)], index=folder.index)
    path = np.select(
        [file == "", folder == "", (lf == lfile) | ends],
        [folder, file, folder],
        joined,
    )
    path = pd.Series(path, index=folder.index).str.lower()
    for pattern, repl in FOLDS:
        path = path.str.replace(pattern, repl, n=1, regex=True)
    return path


def derive(df: pd.DataFrame) -> pd.DataFrame:
    af = df["AdditionalFields"].fillna("")
    out = pd.DataFrame({"device_id": df["DeviceId"], "day": df["day"], "action_type": df["ActionType"]})
    out["direction"] = df["ActionType"].map(
        {"FirewallOutboundConnectionBlocked": "outbound", "FirewallServiceStopped": "none"}).fillna("inbound")
    remote = df["RemoteIP"].where(df["RemoteIP"].fillna("") != "", _json_field(af, "RemoteAddress"))
    out["remote_class"] = ip_class(ip_norm(remote))
    remote_port = df["RemotePort"].astype("Int64").fillna(pd.to_numeric(_json_field(af, "RemotePort"), errors="coerce").astype("Int64"))
    local_port = df["LocalPort"].astype("Int64").fillna(pd.to_numeric(_json_field(af, "LocalPort"), errors="coerce").astype("Int64"))
    # the port a rule names: local for inbound blocks, remote for outbound ones
    out["service_port"] = remote_port.where(out["direction"] == "outbound", local_port)
    out["process"] = process_path(df["InitiatingProcessFolderPath"], df["InitiatingProcessFileName"])
    proto = _json_field(af, "Protocol").fillna("").str.upper()
    out["protocol"] = proto.replace({"6": "TCP", "17": "UDP", "1": "ICMP"})
    return out


def device_baseline(lake_root: str, as_of: date, baseline_days: int) -> pd.DataFrame:
    """One row per device × pattern seen in the window: window_days, days_seen, events, median, p95, mad."""
    first, last = as_of - timedelta(days=baseline_days), as_of - timedelta(days=1)
    events = derive(read_events(lake_root, first, last))
    daily = events.groupby(["device_id", *PATTERN, "day"], dropna=False).size()
    # zero-fill over the tenant's reporting days = the days with any firewall event in the window
    wide = daily.unstack("day", fill_value=0)
    counts = wide.to_numpy(dtype=float)
    median = np.median(counts, axis=1)
    result = wide.index.to_frame(index=False)
    result["window_days"] = counts.shape[1]
    result["days_seen"] = (counts > 0).sum(axis=1)
    result["events"] = counts.sum(axis=1).astype(np.int64)
    result["median"] = median
    result["p95"] = np.quantile(counts, 0.95, axis=1, method="linear")
    result["mad"] = np.median(np.abs(counts - median[:, None]), axis=1)
    return result
