"""Object storage behind a lake_root URL: `abfs://container/path` (Azure Blob / ADLS Gen2) or `s3://bucket/path`.

Only what the lake needs: put-if-absent and put-if-unchanged (the commit points), get with its
ETag, streamed upload/download of files, listing with ages, delete, and an fsspec filesystem for
DuckDB (`con.register_filesystem`) and pyarrow datasets. There is no rename on object storage, so
the lake never relies on one.

Credentials never come from hunthouse.toml:
- Azure: `AZURE_STORAGE_CONNECTION_STRING` (Azurite, or a storage account key), else the account
  from the URL (`abfs://container@account.dfs.core.windows.net/path`) or `AZURE_STORAGE_ACCOUNT_NAME`,
  signed in through azure-identity's default chain (managed identity, workload identity, env vars, CLI).
- S3: boto3's standard chain (AWS_* environment variables, instance profile), `AWS_ENDPOINT_URL` for
  an S3-compatible endpoint.
The client libraries are the `scale` extra; a single host with a local lake needs none of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

SCHEMES = ("abfs", "abfss", "az", "s3")


class PreconditionFailed(RuntimeError):
    """A conditional write lost: the object exists (put-if-absent) or changed since it was read (put-if-match)."""


class StoreUnavailable(RuntimeError):
    """The client library for this URL scheme is not installed, or no credentials were found."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


def is_remote(url: str) -> bool:
    return "://" in url and urlsplit(url).scheme in SCHEMES


def split_url(url: str) -> tuple[str, str, str, str]:
    """(scheme, container or bucket, account host or '', key prefix without slashes at either end)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{url!r}: object storage URLs start with {', '.join(s + '://' for s in SCHEMES)}")
    container, _, account = parts.netloc.partition("@")
    if not container:
        raise ValueError(f"{url!r}: missing the container (abfs://container/path) or bucket (s3://bucket/path)")
    return parts.scheme, container, account, parts.path.strip("/")


def _missing(package: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"a lake on object storage needs the `{package}` package: install the scale extra "
        "(scripts/scale-setup.sh, or pip install -c constraints.txt '.[scale]')")


class AzureBlobStore:
    """One container of an Azure storage account (or Azurite), addressed by blob names."""

    def __init__(self, container: str, account_host: str = "") -> None:
        try:
            from azure.storage.blob import ContainerClient
        except ImportError:
            raise _missing("azure-storage-blob") from None
        conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        self.container = container
        self.account_host = account_host
        if conn:
            self._client = ContainerClient.from_connection_string(conn, container)
        else:
            account = account_host.split(".")[0] or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME", "")
            if not account:
                raise StoreUnavailable(
                    f"abfs://{container}: no storage account: use abfs://{container}@ACCOUNT.dfs.core.windows.net/…, "
                    "set AZURE_STORAGE_ACCOUNT_NAME, or AZURE_STORAGE_CONNECTION_STRING")
            from azure.identity import DefaultAzureCredential

            self._client = ContainerClient(f"https://{account}.blob.core.windows.net", container,
                                           credential=DefaultAzureCredential())
        self.account_name = self._client.account_name

    def ensure_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self._client.create_container()
        except ResourceExistsError:
            pass

    def put_bytes(self, key: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        kwargs: dict = {"overwrite": not if_none_match}
        if if_match is not None:
            kwargs.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
        try:
            result = self._client.get_blob_client(key).upload_blob(data, **kwargs)
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise PreconditionFailed(f"{key}: {type(exc).__name__}") from None
        return result["etag"]

    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file as a new object (put-if-absent: data objects are uniquely named)."""
        from azure.core.exceptions import ResourceExistsError

        with open(path, "rb") as fh:
            try:
                self._client.upload_blob(key, fh, overwrite=False, max_concurrency=2)
            except ResourceExistsError:
                raise PreconditionFailed(f"{key}: exists") from None

    def get_bytes(self, key: str) -> tuple[bytes, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self._client.download_blob(key)
        except ResourceNotFoundError:
            return None
        return downloader.readall(), downloader.properties.etag

    def download(self, key: str, path: Path) -> bool:
        """Stream an object to a local file; False when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self._client.download_blob(key, max_concurrency=2)
        except ResourceNotFoundError:
            return False
        with open(path, "wb") as fh:
            downloader.readinto(fh)
        return True

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        for blob in self._client.list_blobs(name_starts_with=prefix):
            yield ObjectInfo(blob.name, blob.size, blob.last_modified)

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._client.delete_blob(key)
        except ResourceNotFoundError:
            pass

    def url(self, key: str) -> str:
        """The abfs URL of a key, as adlfs (and DuckDB through it) opens it."""
        return f"abfs://{self.container}/{key}"

    def fsspec(self):
        try:
            import adlfs
        except ImportError:
            raise _missing("adlfs") from None
        conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if conn:
            return adlfs.AzureBlobFileSystem(connection_string=conn)
        return adlfs.AzureBlobFileSystem(account_name=self.account_name, anon=False)


class S3Store:
    """One S3 bucket (or an S3-compatible endpoint from AWS_ENDPOINT_URL), through boto3."""

    def __init__(self, bucket: str) -> None:
        try:
            import boto3
        except ImportError:
            raise _missing("boto3") from None
        self.container = bucket
        self._client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)

    def ensure_container(self) -> None:
        existing = {b["Name"] for b in self._client.list_buckets().get("Buckets", [])}
        if self.container not in existing:
            self._client.create_bucket(Bucket=self.container)

    def _precondition(self, exc, key: str) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return code in ("PreconditionFailed", "412", "ConditionalRequestConflict")

    def put_bytes(self, key: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        from botocore.exceptions import ClientError

        kwargs: dict = {}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            return self._client.put_object(Bucket=self.container, Key=key, Body=data, **kwargs)["ETag"]
        except ClientError as exc:
            if self._precondition(exc, key):
                raise PreconditionFailed(f"{key}: precondition failed") from None
            raise

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb") as fh:
            self.put_bytes(key, fh.read(), if_none_match=True)

    def get_bytes(self, key: str) -> tuple[bytes, str] | None:
        try:
            obj = self._client.get_object(Bucket=self.container, Key=key)
        except self._client.exceptions.NoSuchKey:
            return None
        return obj["Body"].read(), obj["ETag"]

    def download(self, key: str, path: Path) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.download_file(self.container, key, str(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise
        return True

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.container, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"], obj["Size"], obj["LastModified"])

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.container, Key=key)

    def url(self, key: str) -> str:
        return f"s3://{self.container}/{key}"

    def fsspec(self):
        try:
            import s3fs
        except ImportError:
            raise _missing("s3fs") from None
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        return s3fs.S3FileSystem(endpoint_url=endpoint) if endpoint else s3fs.S3FileSystem()


_STORES: dict[tuple[str, str, str], AzureBlobStore | S3Store] = {}


def open_store(url: str) -> tuple[AzureBlobStore | S3Store, str]:
    """The store of a URL (one client per process and container) and the URL's key prefix."""
    scheme, container, account, prefix = split_url(url)
    cache_key = (scheme if scheme == "s3" else "abfs", container, account)
    store = _STORES.get(cache_key)
    if store is None:
        store = S3Store(container) if scheme == "s3" else AzureBlobStore(container, account)
        _STORES[cache_key] = store
    return store, prefix


def clear_clients() -> None:
    """Forget cached clients (after the credentials in the environment changed, e.g. in tests)."""
    _STORES.clear()
