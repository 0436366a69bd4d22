"""A stand-in of Google Cloud Storage's JSON API for tests: no GCS server runs on our machines.

``google-cloud-storage`` talks to it over real HTTP (``STORAGE_EMULATOR_HOST``), so launchq's
GCS adapters (the Kaniko ``gs://`` context store, the ``GcsCodeStore``) are exercised through
the client's own requests, retries and errors. It serves only what those adapters call,
and records every request in ``sent``:

- ``GET /storage/v1/b/<bucket>``: the bucket's metadata (the client reads it after a lookup);
- ``GET /storage/v1/b/<bucket>/o/<name>``: an object's metadata (``blob.exists``);
- ``GET /download/storage/v1/b/<bucket>/o/<name>?alt=media`` (and ``alt=media`` on the
  metadata path): the object's bytes (``blob.download_to_file``);
- ``POST /upload/storage/v1/b/<bucket>/o?uploadType=multipart``: a JSON metadata part, then
  the media; ``ifGenerationMatch=0`` refuses an existing object (412) as GCS does, and an
  ``md5Hash`` in the metadata that the bytes do not match is refused (400) as GCS does;
- ``DELETE /storage/v1/b/<bucket>/o/<name>``.

A missing object is 404 with GCS's error body. Objects live in ``objects`` by (bucket, name),
which a test may change behind the client's back.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.loopback_http import LoopbackServer, QuietHandler

__all__ = ["GcsStandIn", "gcs_server", "gcs_stand_in"]


class GcsStandIn(QuietHandler):
    """Object metadata and media GET, multipart upload POST and DELETE of the GCS JSON API, recorded."""

    objects: dict[tuple[str, str], bytes]
    sent: list[dict[str, Any]]

    def _object(self) -> tuple[str, str] | None:
        parts = urlsplit(self.path).path.split("/")
        if parts[1:2] == ["download"]:  # /download/storage/v1/b/<bucket>/o/<name>
            parts = parts[1:]
        # /storage/v1/b/<bucket>/o/<name>
        if len(parts) == 7 and parts[1:4] == ["storage", "v1", "b"] and parts[5] == "o":
            return parts[4], unquote(parts[6])
        return None

    def _json(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.answer(status, {"Content-Type": "application/json"} if data else {}, data)

    def _missing(self) -> None:
        self._json(
            404, {"error": {"code": 404, "message": "No such object", "errors": [{"reason": "notFound"}]}}
        )

    def do_GET(self) -> None:
        where = self._object()
        media = parse_qs(urlsplit(self.path).query).get("alt") == ["media"]
        self.sent.append({"method": "GET", "object": where, "path": self.path, "media": media})
        parts = urlsplit(self.path).path.split("/")
        if where is None and len(parts) == 5 and parts[1:4] == ["storage", "v1", "b"]:
            self._json(200, {"kind": "storage#bucket", "name": parts[4]})  # every bucket exists
        elif where is None or where not in self.objects:
            self._missing()
        elif media:
            self.answer(200, {"Content-Type": "application/octet-stream"}, self.objects[where])
        else:
            self._json(200, {"bucket": where[0], "name": where[1], "size": str(len(self.objects[where]))})

    def do_POST(self) -> None:
        # /upload/storage/v1/b/<bucket>/o?uploadType=multipart: a JSON metadata part, then the media
        bucket = urlsplit(self.path).path.split("/")[5]
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.read_body())
        metadata_part, media_part = list(message.iter_parts())
        metadata = json.loads(metadata_part.get_content())
        media = media_part.get_payload(decode=True)
        query = urlsplit(self.path).query
        if "ifGenerationMatch=0" in query and (bucket, metadata["name"]) in self.objects:
            self._json(412, {"error": {"code": 412, "message": "conditionNotMet"}})
            return
        md5 = base64.b64encode(hashlib.md5(media).digest()).decode()  # noqa: S324 - GCS's own checksum
        if "md5Hash" in metadata and metadata["md5Hash"] != md5:
            message_ = "Provided MD5 hash does not match calculated MD5 hash"
            self._json(400, {"error": {"code": 400, "message": message_}})
            return
        self.objects[(bucket, metadata["name"])] = media
        self.sent.append(
            {
                "method": "POST",
                "bucket": bucket,
                "name": metadata["name"],
                "bytes": media,
                "query": query,
                "metadata": metadata,
                "content_type": media_part.get_content_type(),
            }
        )
        self._json(200, {"bucket": bucket, "name": metadata["name"], "size": str(len(media)), "md5Hash": md5})

    def do_DELETE(self) -> None:
        where = self._object()
        self.sent.append({"method": "DELETE", "object": where})
        if where is None or self.objects.pop(where, None) is None:
            self._missing()
            return
        self._json(204)


@contextmanager
def gcs_server() -> Iterator[tuple[str, type[GcsStandIn]]]:
    """A fresh stand-in on 127.0.0.1: its URL (for ``STORAGE_EMULATOR_HOST``) and its handler
    class, whose ``objects`` and ``sent`` are this server's own."""
    handler = type("Handler", (GcsStandIn,), {"objects": {}, "sent": []})
    with LoopbackServer(handler) as server:
        yield server.url, handler


@pytest.fixture
def gcs_stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[GcsStandIn]]:
    """A fresh stand-in for one test, with ``STORAGE_EMULATOR_HOST`` pointing at it."""
    with gcs_server() as (url, handler):
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        yield handler
