"""The planted ground truth of a sample tenant, as plain data the tests and the demo read.

Every item names the finding (firewall) or recommendation (tuning) the models must produce, or
must not produce (benign_steady, never_exclude). Derived from the static world only: no day is
generated to compute it.
"""

from __future__ import annotations

from pipelines.config import TenantConfig

from .catalog import EDGE_AGENT, NEW_PATTERN_FILE
from .incidents import AUTOMATION_RULE, AUTOMATION_SHARE
from .params import SimulationParams
from .rules import RULES
from .world import SCANNER_IP, World


def planted_truth(tenant: TenantConfig, params: SimulationParams | None = None) -> list[dict]:
    world = World(tenant, params or SimulationParams.from_scale(tenant.scale))
    return firewall_truth(world) + tuning_truth(world)


def _device(world: World, index: int) -> dict:
    return {"device_id": world.device_ids[index], "device_name": world.fqdn[index]}


def firewall_truth(w: World) -> list[dict]:
    fw = {"area": "firewall", "tenant": w.name}
    sync = w.processes[w.proc_index["syncagent"]]
    items = [
        {**fw, "kind": "public_inbound_exposure", **_device(w, w.rdp_device), "local_port": 3389},
        {**fw, "kind": "public_inbound_exposure", **_device(w, w.ssh_device), "local_port": 22},
        {**fw, "kind": "app_blocked_inbound", "process_file_name": sync.file_name,
         "process_folder_path": sync.folder, "devices": len(w.syncagent_devices)},
        {**fw, "kind": "new_pattern", "process_file_name": NEW_PATTERN_FILE, "remote_port": 8443,
         "direction": "outbound", "first_day": w.day(w.new_pattern_first),
         "device_names": [w.fqdn[d] for d in w.new_pattern_devices]},
        {**fw, "kind": "outbound_blocked_app", "process_file_name": NEW_PATTERN_FILE},
        {**fw, "kind": "remote_scanner", "remote_ip": w.ip_values[w.remote_scanner_ip], "day": w.day(w.scanner_day),
         "local_port": 445, "devices": len(w.scanner_victims)},
        {**fw, "kind": "volume_spike", **_device(w, w.spike_device), "day": w.day(w.spike_day),
         "remote_ip": w.ip_values[w.spike_peer]},
        {**fw, "kind": "firewall_service_stopped", **_device(w, w.stopped_device), "day": w.day(w.stopped_day)},
        {**fw, "kind": "audit_gap", **_device(w, w.gap_device), "last_day": w.day(w.gap_last_day)},
        {**fw, "kind": "benign_steady", "process_file_name": "ntoskrnl.exe", "local_port": 137,
         "direction": "inbound"},
        {**fw, "kind": "benign_steady", "process_file_name": "ntoskrnl.exe", "local_port": 138,
         "direction": "inbound"},
        {**fw, "kind": "benign_steady", "process_file_name": "svchost.exe", "local_port": 5355,
         "direction": "inbound"},
        {**fw, "kind": "benign_steady", "process_file_name": "svchost.exe", "remote_port": 5357,
         "direction": "outbound"},
    ]
    items += situation_truth(w)
    return items


def situation_truth(w: World) -> list[dict]:
    """Situations followed over the world's last three nights, the first being a first build (so
    everything found then is new); `nights` maps each as_of to the state the finding must have.
    resolve_after_days is the default 3."""
    fw = {"area": "firewall", "tenant": w.name}
    last = w.n_days - 1
    nights = [w.day(last - 2), w.day(last - 1), w.day(last)]

    def states(*names: str) -> dict:
        return dict(zip(nights, names, strict=True))

    under_program_files = EDGE_AGENT.folder.lower().removeprefix("c:\\program files\\")
    return [
        # the beaconing upd4te.exe: one finding carrying both of its signals
        {**fw, "kind": "beacon", "process_file_name": NEW_PATTERN_FILE, "direction": "outbound",
         "signals": ["new_pattern", "outbound_blocked_app"], "nights": states("new", "ongoing", "ongoing"),
         # drafted per user: the firewall cannot expand %UserProfile%
         "programs": sorted({f"{w.processes[i].folder}\\{NEW_PATTERN_FILE}".lower()
                             for i in w.new_pattern_procs.values()})},
        # ToApp rows with only the folder: -Program must be the executable the outbound rows name
        {**fw, "kind": "folder_only_app", "process": f"%programfiles%\\{under_program_files}",
         "finding_type": "app_blocked_inbound", "devices": len(w.edgeagent_devices),
         "program": f"%ProgramFiles%\\{under_program_files}\\{EDGE_AGENT.file_name}",
         "nights": states("new", "ongoing", "ongoing")},
        # SNMP reachable from the Internet, rows without a protocol: drafted as UDP; silent from last − 2
        {**fw, "kind": "udp_service", "finding_type": "public_inbound_exposure", **_device(w, w.snmp_device),
         "local_port": 161, "protocol": "UDP", "last_day": w.day(w.snmp_last_day),
         "nights": states("new", "ongoing", "resolved")},
    ]


def tuning_truth(w: World) -> list[dict]:
    tu = {"area": "tuning", "tenant": w.name}
    domain = w.netbios.lower()

    def rule(key: str) -> dict:
        i = w.rule_index(key)
        return {"rule_id": w.rule_ids[i], "rule_name": w.rules[i].name}

    items = [
        {**tu, "kind": "noisy_rule" if r.noisy else "quiet_rule", "rule_id": w.rule_ids[i], "rule_name": r.name}
        for i, r in enumerate(w.rules)
    ]
    items += [
        {**tu, "kind": "exclusion", **rule("A"), "entity_type": "account",
         "entity_key": f"{domain}\\{w.svc_inventory}"},
        {**tu, "kind": "exclusion", **rule("B"), "entity_type": "ip", "entity_key": SCANNER_IP},
        {**tu, "kind": "pair_exclusion", **rule("C"),
         "entities": [["account", f"{domain}\\{w.svc_backup}"], ["host", w.device_names[w.backup_server]]]},
        {**tu, "kind": "never_exclude", "entity_type": "account", "entity_key": f"{domain}\\{w.jdoe}"},
        {**tu, "kind": "never_exclude", "entity_type": "host", "entity_key": w.device_names[w.backup_server]},
        {**tu, "kind": "never_exclude", "entity_type": "account", "entity_key": f"{domain}\\{w.svc_backup}"},
    ]
    items += living_off_the_land_truth(w)
    items.append({**tu, "kind": "automation_closed", **rule("B"), "modified_by": AUTOMATION_RULE,
                  "scenario": "scanner", "share": AUTOMATION_SHARE})
    if w.rule_index("I") is not None:
        victim = w.hybrid_victim
        items.append({
            **tu, "kind": "identity_guard", **rule("I"), "entity_type": "account",
            "entity_key": f"{domain}\\{victim}", "upn_key": f"{victim}@{w.upn_suffix}",
            "sid": w.user_sid[w.users.index(victim)],
            "true_positive_days": [w.day(d) for d, key, scenario in w.planted_tps if scenario == "upn_tp"],
        })
    return items


def living_off_the_land_truth(w: World) -> list[dict]:
    """The System32 image files attackers share with benign admins: never an exclusion alone."""
    tu = {"area": "tuning", "tenant": w.name}
    items = []
    for key in dict.fromkeys([k for _, k in w.lotl_closed] + w.lotl_fresh):
        i = w.rule_index(key)
        if i is None:
            continue
        command, folder = w.rules[i].living_off_the_land()
        image = command.split()[0].strip('"')
        items.append({
            **tu, "kind": "never_alone", "rule_id": w.rule_ids[i], "rule_name": w.rules[i].name,
            "entity_type": "file", "entity_key": f"{folder}\\{image}".lower(),
            "true_positive_days": [w.day(d) for d, k in w.lotl_closed if k == key],
            "open_days": [w.day(w.n_days - 1)] if key in w.lotl_fresh else [],
        })
    return items


assert [r.key for r in RULES[:4]] == ["A", "B", "C", "E"], "planted rules must stay among the first six"
