"""Sentinel alert `Entities` JSON in the real shape (msticpy alertlist.csv): an array of objects with
`$id`, PascalCase keys and lower-case `Type`; accounts and processes point at their host with
`{"$ref": …}`, a process carries its image file inline with its own `$id`."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .rules import C2, LOGON, MAIL, PROCESS, SCAN
from .seeding import stable_guid, stable_int
from .world import World


@dataclass(frozen=True)
class Picks:
    """The entities of one incident's alerts, before layout."""

    host: int | None = None  # device index
    account: str | None = None
    ip: str | None = None
    command: tuple[str, str] | None = None  # (command line, image folder)


class EntityWriter:
    def __init__(self, world: World):
        self.w = world
        self._user_sid = dict(zip(world.users, world.user_sid, strict=True))

    def _sid(self, account: str) -> str:
        w = self.w
        if account in self._user_sid:
            return self._user_sid[account]
        return f"{w.domain_sid}-{2000 + stable_int(w.seed, w.name, 'acct', account) % 6000}"

    def _host(self, eid: int, device: int) -> dict:
        w = self.w
        server = bool(w.is_server[device])
        return {"$id": str(eid), "HostName": w.device_names[device], "DnsDomain": w.dns_domain,
                "NTDomain": w.netbios, "OSFamily": "Windows", "OSVersion": "10.0.20348" if server else "10.0.19045",
                "IsDomainJoined": True, "Type": "host"}

    def _account(self, eid: int, name: str, host_ref: int | None) -> dict:
        out = {"$id": str(eid), "Name": name, "NTDomain": self.w.netbios, "Sid": self._sid(name),
               "IsDomainJoined": True}
        if host_ref is not None:
            out["Host"] = {"$ref": str(host_ref)}
        out["Type"] = "account"
        return out

    def _cloud_account(self, eid: int, name: str) -> dict:
        out = {"$id": str(eid), "Name": name, "UPNSuffix": self.w.upn_suffix,
               "AadUserId": stable_guid(self.w.seed, self.w.name, "user", name)}
        if name in self._user_sid:  # a hybrid (synced) user: the cloud entity carries its on-premises SID
            out["Sid"] = self._user_sid[name]
        out["Type"] = "account"
        return out

    def write(self, kind: str, picks: Picks, process_id: int) -> str:
        """The Entities JSON text of one alert of a rule with entity layout `kind`."""
        ents: list[dict] = []
        next_id = 2

        def add(entity: dict) -> int:
            nonlocal next_id
            ents.append(entity)
            next_id += 1
            return next_id - 1

        if kind == LOGON:
            host = add(self._host(next_id, picks.host))
            add(self._account(next_id, picks.account, host))
            add({"$id": str(next_id), "Address": picks.ip, "Type": "ip"})
        elif kind == SCAN:
            add({"$id": str(next_id), "Address": picks.ip, "Type": "ip"})
            add(self._host(next_id, picks.host))
        elif kind == PROCESS:
            host = add(self._host(next_id, picks.host))
            account = add(self._account(next_id, picks.account, host))
            command, folder = picks.command
            image = command.split()[0].strip('"').rsplit("\\", 1)[-1]
            process = {"$id": str(next_id), "ProcessId": hex(process_id), "CommandLine": command,
                       "ElevationToken": "Full" if picks.account.startswith(("svc_", "adm", "tmp", "x.", "sys"))
                       else "Default",
                       "ImageFile": {"$id": str(next_id + 1), "Directory": folder, "Name": image, "Type": "file"},
                       "Account": {"$ref": str(account)}, "Host": {"$ref": str(host)}, "Type": "process"}
            ents.append(process)
            next_id += 2
        elif kind == C2:
            add(self._host(next_id, picks.host))
            add({"$id": str(next_id), "Address": picks.ip, "Type": "ip"})
        elif kind == MAIL:
            add(self._cloud_account(next_id, picks.account))
            add({"$id": str(next_id), "Address": picks.ip, "Type": "ip"})
        else:
            raise ValueError(f"unknown entity layout {kind!r}")
        return json.dumps(ents, separators=(",", ":"))

    def compromised_entity(self, kind: str, picks: Picks) -> str | None:
        if kind == MAIL:
            return f"{picks.account}@{self.w.upn_suffix}"
        if picks.host is not None:
            return self.w.fqdn[picks.host]
        return picks.ip
