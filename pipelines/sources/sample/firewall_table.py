"""Turns one day's firewall stream arrays into a DeviceEvents Arrow table (raw schema, vectorised)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sources.schemas import DEVICE_EVENTS, FIREWALL_ACTION_TYPES

from .firewall_streams import INBOUND, OUTBOUND, TO_APP, DayStreams
from .seeding import rng_for
from .world import US_PER_DAY, World

ACTION_NAMES = pa.array(FIREWALL_ACTION_TYPES)
DIRECTION = pa.array(["Inbound", "Inbound", "Outbound", None])
# AdditionalFields.Protocol (a sample assumption, see docs), or no Protocol key at all (code 2)
PROTOCOL_PART = pa.array(['","Protocol":"Tcp', '","Protocol":"Udp', ""])
PROFILE = pa.array(["Domain", "Private", "Public"])
MINUTE = 60_000_000
# Late rows are ingested up to this long after their day ended (so at most ~30 h after Timestamp).
LATE_MAX_US = 6 * 60 * MINUTE


def _take(values: pa.Array, idx: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    indices = pa.array(idx, type=pa.int64(), mask=null_mask) if null_mask is not None else pa.array(idx)
    return values.take(indices)


def _ints(values: np.ndarray, typ: pa.DataType, null_mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, type=typ, mask=null_mask)


def device_day_batches(world: World, index: int, max_rows: int = 250_000) -> Iterator[pa.Table]:
    """All firewall DeviceEvents whose Timestamp falls on world day `index`, sorted by Timestamp, as
    tables of at most `max_rows` rows. Per-row values are computed with numpy for the whole day; the
    Arrow string columns are built one batch at a time, which bounds memory at large scales."""
    cols = DayStreams(world, index).all()
    day_us = world.day_us(index)
    order = np.argsort(cols["tod"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    n = len(order)
    dev, proc = cols["dev"], cols["proc"]
    ts = day_us + cols["tod"]
    rng = rng_for(world.seed, world.name, "fw:rowmeta", index)

    # ingestion lag: a few minutes usually; a share of rows lands after the day ended (≤ ~30 h late)
    lag = np.minimum(rng.lognormal(np.log(4 * MINUTE), 0.5, n), 25 * MINUTE).astype(np.int64)
    late = rng.random(n) < world.params.late_event_share
    day_end = day_us + US_PER_DAY
    late_tg = day_end + rng.integers(5 * MINUTE, LATE_MAX_US, n)
    time_generated = np.where(late, late_tg, ts + lag)

    # ReportId: a per-device counter that keeps counting across days, with gaps for the device's
    # other (non-firewall) events
    by_dev = np.argsort(dev.astype(np.int16 if world.params.devices < 32_768 else np.int32), kind="stable")  # rows are in ts order already
    gaps = rng.integers(1, 12, n)
    csum = np.cumsum(gaps[by_dev])
    dev_sorted = dev[by_dev]
    starts = np.flatnonzero(np.r_[True, dev_sorted[1:] != dev_sorted[:-1]])
    group_base = np.repeat(csum[starts] - gaps[by_dev][starts], np.diff(np.r_[starts, n]))
    day_ordinal = day_us // US_PER_DAY
    device_offset = (np.arange(world.params.devices, dtype=np.int64) * 7_919_993) % 1_000_000
    report_id = np.empty(n, dtype=np.int64)
    report_id[by_dev] = device_offset[dev_sorted] + (day_ordinal - 19_000) * 200_000 + csum - group_base

    # process instances: a device reboots weekly (Monday 00:00 minus up to two days)
    week = (day_ordinal + 3) // 7
    boot = (week * 7 - 3) * US_PER_DAY - (dev * 3_600_000_000 * 7) % (48 * 3_600_000_000)
    meta = world.process_meta
    pid = 4 * (100 + (dev * 7919 + proc * 104_729 + week * 31) % 4000)
    is_kernel = proc == world.proc_index["kernel"]
    pid = np.where(is_kernel, 4, pid)
    creation = boot + np.where(meta["is_user"][proc], 90_000_000 + proc * 13_000_000, (proc % 50) * 7_000_000)
    has_parent = meta["has_parent"][proc]
    parent_pid = 4 * (150 + (dev * 31 + meta["is_user"][proc] * 977 + week) % 500)
    user_logon = 300_000 + (dev * 37 + week * 7) % 90_000
    logon_id = np.where(meta["is_user"][proc], user_logon, meta["logon_id"][proc])
    session = np.where(meta["is_user"][proc], np.where(world.is_server[dev], 2, 1), 0)
    rows = {**cols, "ts": ts, "time_generated": time_generated, "report_id": report_id, "boot": boot, "pid": pid,
            "creation": creation, "has_parent": has_parent, "parent_pid": parent_pid, "logon_id": logon_id,
            "session": session}
    for offset in range(0, max(n, 1), max_rows):
        yield _arrow_batch(world, {k: v[offset : offset + max_rows] for k, v in rows.items()})


def _arrow_batch(world: World, r: dict[str, np.ndarray]) -> pa.Table:
    n = len(r["ts"])
    dev, proc, action, cols = r["dev"], r["proc"], r["action"], r
    meta = world.process_meta

    # addresses: ::ffff:-mapped rows carry mapped local and remote addresses
    pool = world.ip_pool
    mapped = pa.array(cols["mapped"])
    rip_null, lip_null = cols["rip"] < 0, cols["lip"] < 0
    rip = _take(pool, np.maximum(cols["rip"], 0), rip_null)
    lip = _take(pool, np.maximum(cols["lip"], 0), lip_null)
    rip = pc.if_else(mapped, pc.binary_join_element_wise("::ffff:", rip, ""), rip)
    lip = pc.if_else(mapped, pc.binary_join_element_wise("::ffff:", lip, ""), lip)
    rport = _ints(cols["rport"], pa.int32(), cols["rport"] < 0)
    lport = _ints(cols["lport"], pa.int32(), cols["lport"] < 0)

    act = _take(ACTION_NAMES, action)
    profile = _take(PROFILE, cols["profile"])
    connection_json = pc.binary_join_element_wise(
        '{"LocalAddress":"', lip, '","LocalPort":', pc.cast(lport, pa.string()), ',"RemoteAddress":"', rip,
        '","RemotePort":', pc.cast(rport, pa.string()), ',"Direction":"', _take(DIRECTION, action),
        _take(PROTOCOL_PART, cols["proto"]), '","Profile":"', profile, '"}', "")
    to_app_json = pc.binary_join_element_wise('{"Profiles":"', profile, '"}', "")
    is_conn = pa.array((action == INBOUND) | (action == OUTBOUND))
    additional = pc.if_else(is_conn, connection_json,
                            pc.if_else(pa.array(action == TO_APP), to_app_json, pa.nulls(n, pa.string())))

    pcols, ucols = world.process_columns, world.user_columns
    is_user = pa.array(meta["is_user"][proc])
    nulls = pa.nulls(n, pa.string())
    dev_idx = pa.array(dev)
    proc_idx = pa.array(proc)
    ts_type = DEVICE_EVENTS.field("Timestamp").type
    values = {
        "Timestamp": pa.array(r["ts"], type=ts_type),
        "DeviceId": pa.array(world.device_ids).take(dev_idx),
        "DeviceName": pa.array(world.fqdn).take(dev_idx),
        "ActionType": act,
        "RemoteIP": rip,
        "RemotePort": rport,
        "LocalIP": lip,
        "LocalPort": lport,
        "InitiatingProcessSHA1": pcols["sha1"].take(proc_idx),
        "InitiatingProcessSHA256": pcols["sha256"].take(proc_idx),
        "InitiatingProcessMD5": pcols["md5"].take(proc_idx),
        "InitiatingProcessFileName": pcols["file"].take(proc_idx),
        "InitiatingProcessFileSize": pcols["size"].take(proc_idx),
        "InitiatingProcessFolderPath": pcols["folder"].take(proc_idx),
        "InitiatingProcessId": pa.array(r["pid"], pa.int64()),
        "InitiatingProcessCommandLine": pcols["command"].take(proc_idx),
        "InitiatingProcessCreationTime": pa.array(r["creation"], type=ts_type),
        "InitiatingProcessAccountDomain": pc.if_else(is_user, ucols["domain"].take(dev_idx), "nt authority"),
        "InitiatingProcessAccountName": pc.if_else(is_user, ucols["name"].take(dev_idx),
                                                   pcols["account_name"].take(proc_idx)),
        "InitiatingProcessAccountSid": pc.if_else(is_user, ucols["sid"].take(dev_idx),
                                                  pcols["account_sid"].take(proc_idx)),
        "InitiatingProcessAccountUpn": pc.if_else(is_user, ucols["upn"].take(dev_idx), nulls),
        "InitiatingProcessAccountObjectId": pc.if_else(is_user, ucols["object_id"].take(dev_idx), nulls),
        "InitiatingProcessVersionInfoCompanyName": pcols["company"].take(proc_idx),
        "InitiatingProcessVersionInfoProductName": pcols["product"].take(proc_idx),
        "InitiatingProcessVersionInfoProductVersion": pcols["version"].take(proc_idx),
        "InitiatingProcessVersionInfoInternalFileName": pcols["internal"].take(proc_idx),
        "InitiatingProcessVersionInfoOriginalFileName": pcols["original"].take(proc_idx),
        "InitiatingProcessVersionInfoFileDescription": pcols["description"].take(proc_idx),
        "InitiatingProcessParentId": _ints(r["parent_pid"], pa.int64(), ~r["has_parent"]),
        "InitiatingProcessParentFileName": pcols["parent"].take(proc_idx),
        "InitiatingProcessParentCreationTime": pa.array(r["boot"] + 5_000_000, type=ts_type, mask=~r["has_parent"]),
        "InitiatingProcessLogonId": pa.array(r["logon_id"], pa.int64()),
        "ReportId": pa.array(r["report_id"], pa.int64()),
        "AdditionalFields": additional,
        "InitiatingProcessSessionId": pa.array(r["session"], pa.int64()),
        "IsInitiatingProcessRemoteSession": pa.array(np.zeros(n, dtype=bool)),
        "TimeGenerated": pa.array(r["time_generated"], type=ts_type),
    }
    arrays = [values[f.name] if f.name in values else pa.nulls(n, f.type) for f in DEVICE_EVENTS]
    return pa.Table.from_arrays(arrays, schema=DEVICE_EVENTS)
