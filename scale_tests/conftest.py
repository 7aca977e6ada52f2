"""Fixtures for the tests that need the scale-out services (run by `make scale-test` in .venv-scale)."""

from __future__ import annotations

import os
import uuid

import pytest

from pipelines import objectstore
from scale_tests.services import start_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    service = start_azurite(tmp_path_factory.mktemp("azurite"))
    old = {k: os.environ.get(k) for k in service.env}
    os.environ.update(service.env)
    objectstore.clear_clients()
    try:
        yield service
    finally:
        service.stop()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        objectstore.clear_clients()


@pytest.fixture
def abfs_lake(azurite) -> str:
    """A fresh container on Azurite, as an abfs:// lake_root."""
    container = f"lake{uuid.uuid4().hex[:10]}"
    store, _ = objectstore.open_store(f"abfs://{container}/hunthouse")
    store.ensure_container()
    return f"abfs://{container}/hunthouse"
