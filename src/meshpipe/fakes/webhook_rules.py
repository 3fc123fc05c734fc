"""The rules the fake webhook receiver enforces on a delivery's body and headers (meshpipe's own protocol; its JSON
Schema is ``tests/fixtures/specs/meshpipe-webhook.schema.json``, which ``tests/fakes/test_webhook_receiver.py``
holds these rules against).

Every refusal is an :class:`HttpError` whose ``rule`` names the rule it enforces (the answer's ``"rule"`` field).
"""

from __future__ import annotations

import re
from typing import Any

from meshpipe.fakes._wire import HttpError, Request

__all__ = ["MAX_BODY_BYTES", "PHASES", "check_body", "check_headers_match", "check_media_type", "refuse"]

#: the largest body the receiver takes: Argo Events' webhook event source default ``maxPayloadSize`` (1 MiB,
#: argo-events ``pkg/apis/events/v1alpha1`` ``WebhookContext``); larger bodies answer 413
MAX_BODY_BYTES = 1 << 20
PHASES = ("apply", "destroy")
_KEYS = ("version", "event", "phase", "module", "correlation_id", "inputs")
# Header-safe text: the event and the correlation id travel as header values too (X-Meshpipe-Event,
# Idempotency-Key), so they are printable ASCII without leading or trailing blanks.
_EVENT = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,198}[\x21-\x7e])?\Z")
_KEY = re.compile(r"[\x21-\x7e]{1,255}\Z")
_MAX_MODULE = 200


def refuse(status: int, rule: str, message: str, headers: dict[str, str] | None = None) -> HttpError:
    """An error answer naming the rule it enforces."""
    return HttpError(status, message, headers=headers, rule=rule)


def check_media_type(request: Request) -> None:
    """415 unless ``Content-Type: application/json`` (a ``charset`` parameter must say UTF-8)."""
    if request.media_type != "application/json":
        raise refuse(
            415, "media-type", f"Content-Type must be application/json, not {request.media_type or '(none)'!r}"
        )
    for parameter in (request.header("content-type") or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise refuse(415, "media-type", f"the body must be UTF-8, not charset {value.strip()!r}")


def check_body(request: Request) -> dict[str, Any]:
    """The body parsed (400 when it is not UTF-8 JSON) and checked against the protocol's schema (422)."""
    try:
        data = request.json()
    except HttpError as exc:
        raise refuse(400, "json", exc.message) from None
    if not isinstance(data, dict):
        raise refuse(422, "schema", "the body must be a JSON object")
    missing = [key for key in _KEYS if key not in data]
    if missing:
        raise refuse(422, "schema", f"missing required field(s): {', '.join(missing)}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise refuse(422, "schema", f"unknown field(s): {', '.join(unknown)} (protocol version 1)")
    if data["version"] != 1 or isinstance(data["version"], bool):
        raise refuse(422, "schema", f"version: expected 1, got {data['version']!r}")
    if not isinstance(data["event"], str) or not _EVENT.match(data["event"]):
        raise refuse(422, "schema", "event: expected 1-200 printable ASCII characters, no blanks at either end")
    if data["phase"] not in PHASES:
        raise refuse(422, "schema", f"phase: expected one of {', '.join(PHASES)}, got {data['phase']!r}")
    if not isinstance(data["module"], str) or not 0 < len(data["module"]) <= _MAX_MODULE:
        raise refuse(422, "schema", f"module: expected a string of 1-{_MAX_MODULE} characters")
    if not isinstance(data["correlation_id"], str) or not _KEY.match(data["correlation_id"]):
        raise refuse(422, "schema", "correlation_id: expected 1-255 printable ASCII characters without blanks")
    inputs = data["inputs"]
    if not isinstance(inputs, dict):
        raise refuse(422, "schema", "inputs: expected an object")
    for name, value in inputs.items():
        # Values keep their JSON types (a module's number, bool, list and map inputs); the module leaves nulls out.
        if not name or value is None:
            raise refuse(422, "schema", f"inputs.{name}: expected a non-empty name with a non-null JSON value")
    return data


def check_headers_match(request: Request, data: dict[str, Any]) -> str:
    """The idempotency key, after checking that the unsigned headers repeat the signed body: ``Idempotency-Key``
    must equal ``correlation_id`` (else a replayed body under a new key would start a second job) and
    ``X-Meshpipe-Event`` must equal ``event``."""
    key = request.header("idempotency-key")
    if not key:
        raise refuse(400, "idempotency-key", "no Idempotency-Key header: the receiver cannot deduplicate retries")
    if key != data["correlation_id"]:
        raise refuse(422, "idempotency-key", "Idempotency-Key differs from the body's correlation_id")
    event = request.header("x-meshpipe-event")
    if event != data["event"]:
        raise refuse(422, "event-header", "X-Meshpipe-Event is missing or differs from the body's event")
    return key
