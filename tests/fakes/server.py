"""A loopback HTTPS fake of Entra ID, the Log Analytics query API and Microsoft Graph security.

It answers from a `Dataset`, evaluating each request's own window (Log Analytics `timespan` on
TimeGenerated plus the KQL `where` on the window column; hunting `Timespan` plus KQL; Graph
`$filter`), so a split request really gets the matching subset. Faults are scripted per route and
consumed in order, or drawn at random (`random_faults`): seeded and decided per request content and
repetition, so the same run meets the same faults however its requests interleave. Every request is
logged (without its Authorization value) for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import ssl
import threading
from collections import defaultdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pyarrow as pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from pipelines.sources.arrow_rows import parse_datetime
from pipelines.sources.schemas import RAW_TABLES, WINDOW_COLUMN
from tests.fakes.dataset import Dataset, in_window, ticks

KQL = re.compile(
    r'^(?P<table>\w+)\n\| where (?P<col>\w+) >= datetime\((?P<start>[^)]+)\) and (?P=col) < datetime\((?P<end>[^)]+)\)'
    r'(?P<fw>\n\| where ActionType startswith "Firewall")?$'
)
ODATA = re.compile(r"^(?P<col>\w+) ge (?P<start>\S+) and (?P=col) lt (?P<end>\S+)$")
ALERT_RULES = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.OperationalInsights/"
                         r"workspaces/[^/]+/providers/Microsoft\.SecurityInsights/alertRules", re.IGNORECASE)
RULES_API_VERSION = "2024-09-01"
LA_TABLES = {"DeviceEvents": "device_events", "SecurityAlert": "security_alert", "SecurityIncident": "security_incident"}
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def _kusto_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "datetime"
    if t == pa.int32():
        return "int"
    if t == pa.int64():
        return "long"
    if t == pa.float64():
        return "real"
    if t == pa.bool_():
        return "bool"
    return "string"


def _dotnet_type(t: pa.DataType) -> str:
    return {"datetime": "DateTime", "int": "Int32", "long": "Int64", "real": "Double", "bool": "Boolean"}.get(
        _kusto_type(t), "String")


def _wire(value: object) -> object:
    return ticks(value) if isinstance(value, datetime) else value


class FakeMicrosoft:
    def __init__(self, data: Dataset, tls: dict[str, Path], *, client_secret: str, client_cert_pem: bytes):
        self.data = data
        self.tls = tls
        self.client_secret = client_secret
        self.client_cert = x509.load_pem_x509_certificate(client_cert_pem)
        self.tokens: set[str] = set()  # kept across reset(): clients cache tokens for the process
        self.reset()

    def reset(self) -> None:
        self.faults: dict[str, list[dict]] = defaultdict(list)
        self.overrides: dict[str, list[object]] = defaultdict(list)
        self.requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.la_row_cap: int | None = None
        self.la_cap_mode = "partial"  # or "silent": exactly the cap, no error
        self.hunting_row_cap: int | None = None
        self.page_size = 3
        self.hunting_schema_keys = ("name", "type")
        self.hunting_extra_columns: dict[str, str] = {}
        self.omit_columns: set[str] = set()
        self.hunting_omit_columns: set[str] = set()  # Graph only: one source kind loses a column
        self.extra_columns = {"TenantId": "string", "SourceSystem": "string", "MachineGroup": "string", "_BilledSize": "real"}
        self.fault_rate = 0.0
        self.fault_seed = 0
        self.injected: list[tuple[str, str]] = []
        self._seen: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    # Kinds a random fault can take per data route. Token requests are left alone: an Entra outage is
    # AccessDenied by design, not a transient failure. 429s say Retry-After: 0 so no test really waits.
    RANDOM_KINDS = {
        "la": ("429", "500", "503", "reset", "malformed", "partial"),
        "hunting": ("429", "500", "503", "reset", "malformed"),
        "incidents": ("429", "500", "503", "reset", "malformed"),
        "alerts": ("429", "500", "503", "reset", "malformed"),
    }

    def random_faults(self, rate: float, seed: int = 0) -> None:
        """Fail about `rate` of data requests at random, deterministically for a given seed."""
        self.fault_rate, self.fault_seed = rate, seed

    def draw_fault(self, route: str, path: str, query: str, body: bytes) -> str | None:
        """The fault for this request, decided by a hash of (seed, request, how often it was seen)."""
        if not self.fault_rate or route not in self.RANDOM_KINDS:
            return None
        key = self.request_key(route, path, query, body)
        with self._lock:
            self._seen[key] += 1
            nth = self._seen[key]
        kind = self.fault_kind(self.fault_seed, self.fault_rate, key, nth)
        if kind:
            with self._lock:
                self.injected.append((route, kind))
        return kind

    @staticmethod
    def request_key(route: str, path: str, query: str, body: bytes) -> str:
        return f"{route}|{path}|{query}|{body.decode('utf-8', 'replace')}"

    @classmethod
    def fault_kind(cls, seed: int, rate: float, key: str, nth: int) -> str | None:
        digest = hashlib.sha256(f"{seed}|{nth}|{key}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 >= rate:
            return None
        kinds = cls.RANDOM_KINDS[key.split("|", 1)[0]]
        return kinds[digest[4] % len(kinds)]

    def seed_meeting(self, keys: list[str], rate: float, kinds: set[str], tries: int = 1000) -> int:
        """The first seed whose faults on these requests' first attempts include every kind in `kinds`."""
        for seed in range(tries):
            if kinds <= {self.fault_kind(seed, rate, k, 1) for k in keys}:
                return seed
        raise ValueError(f"no seed below {tries} meets {sorted(kinds)}")

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeMicrosoft:
        handler = type("Handler", (_Handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls["server_cert"], self.tls["server_key"])
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def fault(self, route: str, **spec) -> None:
        """Script one failure for the next request on `route` (la, hunting, incidents, alerts, token)."""
        self.faults[route].append(spec)

    def routes(self, route: str) -> list[dict]:
        return [r for r in self.requests if r["route"] == route]

    # -- token endpoint -------------------------------------------------------------------------
    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        self.token_requests.append({k: v for k, v in form.items() if k not in ("client_secret", "client_assertion")})
        ok = form.get("client_secret") == self.client_secret if "client_secret" in form else self._assertion_ok(
            form.get("client_assertion", ""))
        if not ok:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
        token = "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}

    def _assertion_ok(self, assertion: str) -> bool:
        """The client assertion must be an RS256 JWT signed by the registered certificate's key."""
        try:
            header, payload, signature = assertion.split(".")
            pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))  # noqa: E731
            self.client_cert.public_key().verify(pad(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(),
                                                 hashes.SHA256())
            return True
        except Exception:  # noqa: BLE001 - any malformed or unsigned assertion is simply rejected
            return False

    # -- Log Analytics --------------------------------------------------------------------------
    def log_analytics(self, body: dict, partial: bool = False) -> tuple[int, dict]:
        match = KQL.match(body.get("query", ""))
        if not match or match["table"] not in LA_TABLES:
            return 400, {"error": {"code": "BadArgumentError", "message": "The request had some invalid properties"}}
        table = LA_TABLES[match["table"]]
        rows = self._select(table, match, WINDOW_COLUMN[table])
        span = body.get("timespan")
        if span:
            lo, hi = (parse_datetime(p) for p in span.split("/"))
            rows = [r for r in rows if r.get("TimeGenerated") is not None and lo <= r["TimeGenerated"] <= hi]
        fields = [f for f in RAW_TABLES[table] if f.name not in self.omit_columns]
        columns = [{"name": f.name, "type": _kusto_type(f.type)} for f in fields]
        columns += [{"name": n, "type": t} for n, t in self.extra_columns.items()]
        error = None
        if partial:  # a truncated answer with the recorded PartialError, as the service sends it
            rows, error = rows[: len(rows) // 2], self.recorded_partial_error()
        if self.la_row_cap is not None and len(rows) > self.la_row_cap:
            rows = rows[: self.la_row_cap]
            if self.la_cap_mode == "partial":
                error = self.recorded_partial_error()
        out = [[_wire(r.get(f.name)) for f in fields] + [self._extra(n) for n in self.extra_columns] for r in rows]
        payload = {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": out}]}
        if error:
            payload["error"] = error
        return 200, payload

    def _extra(self, name: str) -> object:
        return 0.001 if name == "_BilledSize" else ("Azure" if name == "SourceSystem" else "x")

    @staticmethod
    def recorded_partial_error() -> dict:
        recordings = json.loads((REAL / "azure_sdk_monitor_query" / "loganalytics_query_api_recordings_extracted.json").read_text())
        partial = next(v for k, v in recordings.items() if "partial" in k)
        return partial["response_body"]["error"]

    def _select(self, table: str, match: re.Match, column: str) -> list[dict]:
        source = {"device_events": self.data.device_events, "security_alert": self.data.sentinel_alerts,
                  "security_incident": self.data.sentinel_incidents}[table]
        start, end = parse_datetime(match["start"]), parse_datetime(match["end"])
        rows = [r for r in source if match["col"] == column and in_window(r.get(column), start, end)]
        if match["fw"]:
            rows = [r for r in rows if str(r.get("ActionType", "")).startswith("Firewall")]
        return sorted(rows, key=lambda r: r[column])

    # -- Graph ----------------------------------------------------------------------------------
    def hunting(self, body: dict) -> tuple[int, dict]:
        query = body.get("Query", body.get("query", ""))
        match = KQL.match(query)
        if not match or match["table"] != "DeviceEvents":
            return 400, {"error": {"code": "BadRequest", "message": "Query could not be parsed"}}
        rows = self._select("device_events", match, "Timestamp")
        span = body.get("Timespan", body.get("timespan"))
        if span:
            lo, hi = (parse_datetime(p) for p in span.split("/"))
            rows = [r for r in rows if lo <= r["Timestamp"] < hi]
        if self.hunting_row_cap is not None:
            rows = rows[: self.hunting_row_cap]
        omitted = self.omit_columns | self.hunting_omit_columns
        fields = [f for f in RAW_TABLES["device_events"] if f.name != "TimeGenerated" and f.name not in omitted]
        name_key, type_key = self.hunting_schema_keys
        schema = [{name_key: f.name, type_key: _dotnet_type(f.type)} for f in fields]
        schema += [{name_key: n, type_key: t} for n, t in self.hunting_extra_columns.items()]
        results = [{f.name: _wire(r.get(f.name)) for f in fields} | {n: "x" for n in self.hunting_extra_columns}
                   for r in rows]
        return 200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
                     "schema": schema, "results": results}

    def listing(self, resource: str, query: dict[str, list[str]], path: str) -> tuple[int, dict]:
        match = ODATA.match(query.get("$filter", [""])[0])
        if not match:
            return 400, {"error": {"code": "BadRequest", "message": "Invalid filter clause"}}
        objects = self.data.graph_incidents if resource == "incidents" else self.data.graph_alerts
        start, end = parse_datetime(match["start"]), parse_datetime(match["end"])
        chosen = sorted((o for o in objects if in_window(parse_datetime(o.get(match["col"])), start, end)),
                        key=lambda o: o["id"])
        expand = query.get("$expand", [""])[0] == "alerts"
        if resource == "incidents" and not expand:
            chosen = [{k: v for k, v in o.items() if k != "alerts"} for o in chosen]
        offset = int(query.get("$skiptoken", ["0"])[0])
        page = chosen[offset: offset + self.page_size]
        payload: dict = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#security/{resource}", "value": page}
        if offset + self.page_size < len(chosen):
            link = f"{self.url}{path}?$filter={quote(query['$filter'][0], safe='')}&$skiptoken={offset + self.page_size}"
            payload["@odata.nextLink"] = link + ("&$expand=alerts" if expand else "")
        return 200, payload


    def alert_rules(self, query: dict[str, list[str]], path: str) -> tuple[int, dict]:
        """ARM's list: `value` and, while more remain, an absolute `nextLink` (api-version kept)."""
        version = query.get("api-version", [""])[0]
        if version != RULES_API_VERSION:
            return 400, {"error": {"code": "InvalidApiVersionParameter",
                                   "message": f"The api-version '{version}' is invalid."}}
        offset = int(query.get("$skipToken", ["0"])[0])
        payload: dict = {"value": self.data.alert_rules[offset: offset + self.page_size]}
        if offset + self.page_size < len(self.data.alert_rules):
            payload["nextLink"] = f"{self.url}{path}?api-version={version}&$skipToken={offset + self.page_size}"
        return 200, payload

    def detection_rules(self, query: dict[str, list[str]], path: str) -> tuple[int, dict]:
        offset = int(query.get("$skiptoken", ["0"])[0])
        payload: dict = {"@odata.context": "https://graph.microsoft.com/beta/$metadata#security/rules/detectionRules",
                         "value": self.data.detection_rules[offset: offset + self.page_size]}
        if offset + self.page_size < len(self.data.detection_rules):
            payload["@odata.nextLink"] = f"{self.url}{path}?$skiptoken={offset + self.page_size}"
        return 200, payload


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMicrosoft
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: object, headers: dict | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _route(self, method: str, path: str) -> str:
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            return "openid"
        if path.endswith("/oauth2/v2.0/token"):
            return "token"
        if re.fullmatch(r"/v1/workspaces/[0-9a-fA-F-]+/query", path) and method == "POST":
            return "la"
        if ALERT_RULES.fullmatch(path) and method == "GET":
            return "alert_rules"
        if path == "/beta/security/rules/detectionRules" and method == "GET":
            return "detection_rules"
        return {"/v1.0/security/runHuntingQuery": "hunting", "/v1.0/security/incidents": "incidents",
                "/v1.0/security/alerts_v2": "alerts"}.get(path, "unknown")

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        parsed = urlparse(self.path)
        route = self._route(method, parsed.path)
        raw = self._body() if method == "POST" else b""
        auth = self.headers.get("Authorization", "")
        fake.requests.append({"route": route, "method": method, "path": parsed.path, "query": parse_qs(parsed.query),
                              "body": raw.decode("utf-8", "replace") if route != "token" else "",
                              "authorized": auth.startswith("Bearer ") and auth[7:] in fake.tokens,
                              "prefer": self.headers.get("Prefer", ""),
                              "key": fake.request_key(route, parsed.path, parsed.query, raw)})
        if route == "openid":
            tenant = parsed.path.split("/")[1]
            base = f"{fake.url}/{tenant}"
            return self._send(200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]})
        if route == "token":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            return self._send(*fake.token(form))
        if route == "unknown":
            return self._send(404, {"error": {"code": "PathNotFoundError", "message": "The requested path does not exist"}})
        if not auth.startswith("Bearer ") or auth[7:] not in fake.tokens:
            return self._send(401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})
        if fake.faults[route]:
            return self._fault(fake.faults[route].pop(0))
        drawn = fake.draw_fault(route, parsed.path, parsed.query, raw)
        if drawn == "partial":
            return self._send(*fake.log_analytics(json.loads(raw), partial=True))
        if drawn:
            return self._fault({"429": {"status": 429, "headers": {"Retry-After": "0"}}, "500": {"status": 500},
                                "503": {"status": 503}, "reset": {"reset": True}, "malformed": {"malformed": True}}[drawn])
        if fake.overrides[route]:
            return self._send(200, fake.overrides[route].pop(0))
        if route == "la":
            return self._send(*fake.log_analytics(json.loads(raw)))
        if route == "hunting":
            return self._send(*fake.hunting(json.loads(raw)))
        if route == "alert_rules":
            return self._send(*fake.alert_rules(parse_qs(parsed.query), parsed.path))
        if route == "detection_rules":
            return self._send(*fake.detection_rules(parse_qs(parsed.query), parsed.path))
        return self._send(*fake.listing(route, parse_qs(parsed.query), parsed.path))

    def _fault(self, spec: dict) -> None:
        if spec.get("reset"):  # promise a long body, send a little, drop the connection
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b'{"tables": [{"name": "PrimaryResult", "columns": [')
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        if spec.get("malformed"):
            return self._send(200, b'{"tables": [{"name": "PrimaryResult", "rows": [[1, 2,', {})
        status = spec.get("status", 500)
        body = spec.get("body", {"error": {"code": "ServiceError", "message": f"scripted HTTP {status}"}})
        self._send(status, body, spec.get("headers"))
