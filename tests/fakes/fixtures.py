"""pytest fixtures: one fake per test module (TLS material made once), state reset per test."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from pipelines.config import parse
from pipelines.sources.base import FetchStats
from pipelines.sources.schemas import RAW_TABLES
from tests.fakes.dataset import build
from tests.fakes.server import FakeMicrosoft
from tests.fakes.tls import make_tls_material

SECRET_ENV = "HUNTHOUSE_TEST_CLIENT_SECRET"
SECRET = "s3cr3t-Value~that.must.never.leak"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
WORKSPACE_ID = "c8c99641-985d-4e4e-8e91-fb3466cd0e5b"


class Sleeps(list):
    """An injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def fake_service(tmp_path_factory):
    tls = make_tls_material(tmp_path_factory.mktemp("tls"))
    fake = FakeMicrosoft(build(), tls, client_secret=SECRET, client_cert_pem=tls["client"].read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", str(tls["ca"]))
        mp.setenv("SSL_CERT_FILE", str(tls["ca"]))
        mp.setenv(SECRET_ENV, SECRET)
        fake.start()
        yield fake
        fake.stop()


@pytest.fixture
def fake(fake_service):
    fake_service.reset()
    yield fake_service
    assert os.environ.get("REQUESTS_CA_BUNDLE"), "the fixture must keep TLS trust configured"


def tenant(fake: FakeMicrosoft, kind: str, **overrides):
    """A TenantConfig built through config validation, pointed at the fake."""
    raw = {
        "name": f"{kind}-t", "kind": kind, "tenant_id": TENANT_ID, "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV, "authority_host": fake.url, "log_analytics_endpoint": fake.url,
        "graph_endpoint": fake.url, "max_attempts": 4, "min_split_seconds": 60,
    }
    if kind == "sentinel":
        raw["workspace_id"] = WORKSPACE_ID
    raw.update(overrides)
    if raw.get("certificate_path"):
        raw.pop("client_secret_env", None)
    return parse({"tenant": [raw]}, base_dir=fake.tls["ca"].parent).tenants[0]


def fetch_all(source, table: str, window) -> tuple[pa.Table, FetchStats]:
    stats = FetchStats()
    batches = list(source.fetch(table, window, stats))
    result = pa.concat_tables(batches) if batches else RAW_TABLES[table].empty_table()
    return result, stats


def sorted_rows(tbl: pa.Table, *keys: str) -> list[dict]:
    return sorted(tbl.to_pylist(), key=lambda r: tuple(str(r[k]) for k in keys))
