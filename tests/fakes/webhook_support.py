"""Signed deliveries for the fake webhook receiver's tests, computed independently of ``meshpipe.webhook``, and the
receiver's answers held against their description (``meshpipe-webhook-openapi.json``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import requests

from meshpipe.fakes.webhook import FakeWebhookReceiver

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "specs" / "meshpipe-webhook.schema.json"
ANSWERS_PATH = SCHEMA_PATH.with_name("meshpipe-webhook-openapi.json")
#: statuses any path may answer with the plain ``error`` shape (no route, a wrong method)
_ANY_PATH = {"404", "405"}


def schema() -> dict[str, Any]:
    """The protocol's JSON Schema (``tests/fixtures/specs``)."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def answers_spec() -> dict[str, Any]:
    """The receiver's answers as an OpenAPI 3.1 description (``tests/fixtures/specs``)."""
    data: dict[str, Any] = json.loads(ANSWERS_PATH.read_text(encoding="utf-8"))
    return data


def answer_schema(name: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of one answer of the description, by component name."""
    return {"$ref": f"#/components/schemas/{name}", "components": answers_spec()["components"]}


def check_every_answer(fake: FakeWebhookReceiver) -> int:
    """Hold every logged answer of ``fake`` against its operation's documented statuses and schema; how many."""
    spec = answers_spec()
    hook = urlsplit(fake.url).path
    checked = 0
    for record in fake.log():
        if record.status >= 500:
            continue  # a scripted fault
        if record.method == "POST" and record.path == hook:
            operation = spec["paths"]["/hooks/meshpipe"]["post"]
        elif record.method == "GET" and re.fullmatch(r"/jobs/\d+", record.path):
            operation = spec["paths"]["/jobs/{id}"]["get"]
        else:
            assert str(record.status) in _ANY_PATH, f"{record.method} {record.path}: undocumented {record.status}"
            operation = {"responses": {}}
        status = str(record.status)
        response = operation["responses"].get(status)
        assert response is not None or status in _ANY_PATH, f"{record.method} {record.path}: undocumented {status}"
        ref = response["content"]["application/json"]["schema"]["$ref"] if response else "#/components/schemas/error"
        assert record.response_headers["Content-Type"].startswith("application/json"), record.response_headers
        body = json.loads(record.response_body)
        jsonschema.Draft202012Validator(answer_schema(ref.rsplit("/", 1)[-1])).validate(body)
        checked += 1
    return checked


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid delivery body; ``overrides`` replace fields (``None`` drops one)."""
    body: dict[str, Any] = {
        "version": 1,
        "event": "apply",
        "phase": "apply",
        "module": "team-bucket",
        "correlation_id": "mp-0123456789abcdef",
        "inputs": {"name": "bucket", "buildingBlockRunUrl": "https://meshstack.example/runs/1"},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def encode(data: Any) -> bytes:
    """Compact UTF-8 JSON, as the dispatcher sends it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, written out here as the oracle."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, key: str | None = None, event: str | None = "apply"
) -> dict[str, str]:
    """Every header a correct delivery carries."""
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "X-Meshpipe-Timestamp": str(stamp),
        "X-Meshpipe-Signature-256": signature(secret, stamp, body),
    }
    if key is not None:
        headers["Idempotency-Key"] = key
    if event is not None:
        headers["X-Meshpipe-Event"] = event
    return headers


def deliver(
    fake: FakeWebhookReceiver,
    data: Any = None,
    *,
    body: bytes | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    headers: dict[str, str | None] | None = None,
) -> requests.Response:
    """POST one delivery to the receiver: ``data`` (default :func:`payload`) signed with ``secret`` (default the
    receiver's); ``headers`` override or (``None``) drop headers."""
    data = payload() if data is None and body is None else data
    raw = encode(data) if body is None else body
    key = data.get("correlation_id") if isinstance(data, dict) else None
    event = data.get("event") if isinstance(data, dict) else "apply"
    merged: dict[str, str | None] = dict(
        signed_headers(secret or fake.secret, raw, timestamp=timestamp, key=key, event=event)
    )
    merged.update(headers or {})
    sent = {name: value for name, value in merged.items() if value is not None}
    return requests.post(fake.url, data=raw, headers=sent, timeout=10)


def signed_get(fake: FakeWebhookReceiver, url: str, *, secret: str | None = None) -> requests.Response:
    """A status poll: a GET signed over ``"<timestamp>."``."""
    headers = signed_headers(secret or fake.secret, b"", event=None)
    del headers["Content-Type"]
    return requests.get(url, headers=headers, timeout=10)


def wait_for_status(fake: FakeWebhookReceiver, url: str, wanted: set[str], limit: float = 20.0) -> dict[str, Any]:
    """Poll ``url`` until its status is in ``wanted`` (bounded); return the last answer."""
    deadline = time.monotonic() + limit
    while True:
        answer: dict[str, Any] = signed_get(fake, url).json()
        if answer["status"] in wanted or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)
