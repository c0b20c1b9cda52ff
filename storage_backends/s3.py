"""S3 storage through aioboto3: AWS or any S3-compatible endpoint (MinIO, Ceph, R2...).

A stream up to one part (8 MiB) is sent with one PutObject; a longer one as a multipart
upload of 8 MiB parts, so memory stays at one part whatever the file size. An object appears
only when S3 completes the upload; on any failure the multipart upload is aborted. If the
abort itself cannot reach the server (an outage), the parts stay invisible until a bucket
lifecycle rule (AbortIncompleteMultipartUpload) removes them: worth setting on the bucket.

Bytes are verified on the way in. Every PutObject and UploadPart carries a Content-MD5 of
its body, which S3 and the S3-compatible stores (MinIO, Ceph, R2, B2, Wasabi, GCS) check,
refusing a body that changed on the way (BadDigest). Content-MD5 rather than the SDK's newer
flexible checksums: it is the one they all verify. A store that ignores it (moto does) still
answers the ETag, the MD5 of what it received for an unencrypted object, and a different one
fails the upload too; the damaged object is deleted, or the multipart upload aborted.

Connections go only to checked addresses: :class:`CheckedResolver` looks the endpoint's name
up once per connection, refuses internal addresses unless the operator allows them, and hands
aiohttp exactly those addresses (see ``workspace.net``). The name stays in the URL, so TLS
SNI, the certificate check, the Host header and the request signature all use it. The
certificate is checked against that name by :class:`CheckedSession`: aiobotocore alone
checks only that a trusted CA signed it, whatever name it was signed for.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import aioboto3  # type: ignore[import-untyped]
import aiohttp
import anyio
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.httpsession import AIOHTTPSession  # type: ignore[import-untyped]
from aiohttp.abc import AbstractResolver, ResolveResult
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from storage_backends import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    StorageBackend,
    StorageError,
    check_name,
    check_prefix,
    is_name,
    refuse_every_host,
    storage_errors,
)
from storage_backends.config import ConfigReader
from workspace.hookspecs import hookimpl

log = logging.getLogger(__name__)

#: Size of each part of a multipart upload (S3 allows 5 MiB to 5 GiB, and 10,000 parts).
PART_SIZE = 8 * 1024 * 1024
#: Attempts per request: botocore retries connection errors, throttling and 5xx answers.
ATTEMPTS = 3
_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")
_MISSING = {"404", "NoSuchKey", "NotFound"}
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')


class Refused(OSError):
    """The endpoint's name led to an address the server may not connect to. An OSError, so
    aiohttp reports it as a failed lookup and botocore as a failed connection."""


class Damaged(Exception):
    """The store received other bytes than were sent."""


ERRORS = (BotoCoreError, ClientError, aiohttp.ClientError, OSError, Damaged)


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for S3 connections: each name is looked up once, by the backend's
    ``addresses_for`` (the server's checks), and only addresses that passed reach aiohttp,
    which connects to one of them. Literal addresses never come here (aiohttp connects to
    them as they are): :meth:`S3Backend._client` checks those."""

    def __init__(self, addresses_for: Callable[[str], list[str]]) -> None:
        self.addresses_for = addresses_for

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await anyio.to_thread.run_sync(self.addresses_for, host)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        found = []
        for address in addresses:
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                found.append(
                    ResolveResult(
                        hostname=host,
                        host=address,
                        port=port,
                        family=kind,
                        proto=0,
                        flags=socket.AI_NUMERICHOST,
                    )
                )
        if not found:
            raise OSError(f"{host} has no {socket.AddressFamily(family).name} address")
        return found

    async def close(self) -> None:
        return None


@hookimpl
def register_storage_backends(register: Any) -> None:
    register(S3Backend)


class CheckedSession(AIOHTTPSession):  # type: ignore[misc]
    """aiobotocore's aiohttp session with the certificate's host name checked. aiobotocore
    (2.25) builds its TLS context with botocore's helper made for urllib3, which matches
    host names itself and so turns the context's check off; aiohttp relies on the context,
    so a certificate a trusted CA signed for any name would pass."""

    def _get_ssl_context(self) -> ssl.SSLContext:
        context: ssl.SSLContext = super()._get_ssl_context()
        context.check_hostname = True
        return context


class S3Backend(StorageBackend):
    kind: ClassVar[str] = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        access_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 30.0,
        addressing_style: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.addresses_for: Callable[[str], list[str]] = refuse_every_host
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.timeout = timeout
        where = f" at {endpoint_url}" if endpoint_url else ""
        self.location = f"S3 bucket {bucket!r}{where}"
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._options: dict[str, Any] = dict(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": ATTEMPTS, "mode": "standard"},
            # Path style unless told otherwise: self-hosted endpoints rarely have a wildcard
            # DNS name per bucket.
            s3={"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
            # botocore's default checksums (1.36+) are refused by many S3-compatible
            # servers: uploads send Content-MD5 instead (see the module docstring), and the
            # files service verifies each object's sha256 on read.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(cls.kind, config)
        bucket = read.text("bucket")
        endpoint_url = read.text("endpoint_url", None)
        if isinstance(endpoint_url, str) and not re.match(r"https?://[^/\s]+/?$", endpoint_url):
            read.error("endpoint_url", "must be an http:// or https:// address")
        prefix = read.text("prefix", "")
        if isinstance(prefix, str) and not _PREFIX.fullmatch(prefix):
            read.error("prefix", "may hold only letters, digits and . _ / -")
        access_key = read.text("access_key", None)
        secret_key = read.text("secret_key", None)
        if (access_key is None) != (secret_key is None):
            read.error("secret_key" if secret_key is None else "access_key", "is required")
        style = read.text("addressing_style", None)
        if style not in (None, "auto", "path", "virtual"):
            read.error("addressing_style", "must be auto, path or virtual")
        options = {
            "endpoint_url": endpoint_url,
            "region": read.text("region", "us-east-1"),
            "prefix": prefix,
            "access_key": access_key,
            "secret_key": secret_key,
            "timeout": read.timeout(),
            "addressing_style": style,
        }
        read.done()
        return cls(bucket, **options)

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        """A client per operation (it is bound to the running event loop) whose connections
        go only to checked addresses."""
        host = urlsplit(self.endpoint_url).hostname if self.endpoint_url else None
        if host is not None and _is_literal(host):
            try:
                self.addresses_for(host)
            except ValueError as exc:
                raise StorageError(f"{self.location}: {exc}", reason=str(exc)) from None
        resolver = CheckedResolver(self.addresses_for)
        config = AioConfig(
            connector_args={"resolver": resolver},
            http_session_cls=CheckedSession,
            **self._options,
        )
        async with self._session.client(
            "s3", endpoint_url=self.endpoint_url, config=config
        ) as client:
            yield client

    def _errors(self, action: str, name: str) -> Any:
        return storage_errors(self.location, action, name, ERRORS, self._reason)

    def _reason(self, exc: BaseException) -> str:
        refused = _refusal(exc)
        if refused is not None:
            return str(refused)
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "?")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Message"):
                return f"{code}: {error['Message']}"
            # HEAD answers carry no body: the status is all there is.
            return f"HTTP {status}" + (" (access denied: check the keys)" if status == 403 else "")
        if isinstance(exc, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
            return f"timed out after {self.timeout:g} s ({exc})"
        return str(exc) or type(exc).__name__

    async def put(self, name: str, chunks: AsyncIterator[bytes]) -> int:
        key = self.prefix + check_name(name)
        async with self._client() as client:
            upload = _Upload(client, self.bucket, key)
            buffer = bytearray()
            size = 0
            try:
                async for chunk in chunks:
                    buffer += chunk
                    size += len(chunk)
                    while len(buffer) >= PART_SIZE:
                        with memoryview(buffer) as view:
                            part = bytes(view[:PART_SIZE])
                        del buffer[:PART_SIZE]
                        with self._errors("writing", name):
                            await upload.part(part)
                with self._errors("writing", name):
                    await upload.finish(bytes(buffer))
            except BaseException:
                with anyio.CancelScope(shield=True), anyio.move_on_after(self.timeout):
                    await upload.abort()
                raise
        return size

    async def get(self, name: str) -> AsyncGenerator[bytes]:
        key = self.prefix + check_name(name)
        async with self._client() as client:
            with self._errors("reading", name):
                try:
                    response = await client.get_object(Bucket=self.bucket, Key=key)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in _MISSING:
                        raise ObjectNotFound(f"{self.location}: no object {name!r}") from None
                    raise
            body = response["Body"]
            try:
                while True:
                    with self._errors("reading", name):
                        chunk = await body.read(CHUNK_SIZE)
                    if not chunk:
                        return
                    yield chunk
            finally:
                body.close()

    async def delete(self, name: str) -> None:
        key = self.prefix + check_name(name)
        async with self._client() as client:
            with self._errors("deleting", name):
                await client.delete_object(Bucket=self.bucket, Key=key)

    async def exists(self, name: str) -> bool:
        return await self.stat(name) is not None

    async def stat(self, name: str) -> ObjectInfo | None:
        key = self.prefix + check_name(name)
        async with self._client() as client:
            with self._errors("checking", name):
                try:
                    head = await client.head_object(Bucket=self.bucket, Key=key)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in _MISSING:
                        return None
                    raise
        return ObjectInfo(int(head["ContentLength"]))

    async def list(self, prefix: str = "") -> AsyncGenerator[str]:
        start = self.prefix + check_prefix(prefix)
        async with self._client() as client:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            )
            iterator = pages.__aiter__()
            while True:
                with self._errors("listing", prefix):
                    try:
                        page = await iterator.__anext__()
                    except StopAsyncIteration:
                        return
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    if is_name(name):
                        yield name


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _refusal(exc: BaseException) -> Refused | None:
    """The refused address behind a library's error (botocore wraps aiohttp's, which wraps
    the resolver's), so the message says why rather than "could not connect"."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None or isinstance(seen, Refused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _content_md5(data: bytes) -> tuple[str, str]:
    """The MD5 of ``data`` as Content-MD5 wants it (base64) and as ETags show it (hex)."""
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode(), digest.hex()


def _check_received(answer: Mapping[str, Any], md5: str) -> None:
    """Raise :class:`Damaged` if the store says it received other bytes. An ETag is the MD5
    of the body only for an object without server-side encryption (SSE-KMS and SSE-C
    ETags, and those of MinIO's encrypted objects, are not), so only then is it compared."""
    if answer.get("ServerSideEncryption") or answer.get("SSECustomerAlgorithm"):
        return
    match = _MD5_ETAG.fullmatch(str(answer.get("ETag", "")))
    if match and match[1] != md5:
        raise Damaged(
            f"the store received other bytes than were sent (their MD5 is {match[1]}, "
            f"not {md5}); nothing was kept"
        )


class _Upload:
    """One object's upload: a PutObject, or a multipart upload once a full part is there."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client = client
        self.target = {"Bucket": bucket, "Key": key}
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def part(self, data: bytes) -> None:
        if self.upload_id is None:
            created = await self.client.create_multipart_upload(**self.target)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        checksum, md5 = _content_md5(data)
        answer = await self.client.upload_part(
            **self.target,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
            ContentMD5=checksum,
        )
        _check_received(answer, md5)
        self.parts.append({"ETag": answer["ETag"], "PartNumber": number})

    async def finish(self, rest: bytes) -> None:
        if self.upload_id is None:
            checksum, md5 = _content_md5(rest)
            answer = await self.client.put_object(**self.target, Body=rest, ContentMD5=checksum)
            try:
                _check_received(answer, md5)
            except Damaged:
                # Only a store that ignores Content-MD5 gets here, and it kept the damaged
                # bytes under the name: a later upload of the same file would skip them.
                with suppress(*ERRORS):
                    await self.client.delete_object(**self.target)
                raise
            return
        if rest:
            await self.part(rest)
        await self.client.complete_multipart_upload(
            **self.target, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )
        self.upload_id = None

    async def abort(self) -> None:
        """Drop the parts sent so far; best effort (the server may be what failed)."""
        if self.upload_id is None:
            return
        try:
            await self.client.abort_multipart_upload(**self.target, UploadId=self.upload_id)
        except ERRORS as exc:
            log.warning("could not abort the multipart upload of %s: %s", self.target, exc)
