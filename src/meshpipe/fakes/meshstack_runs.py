"""Building block runs of the fake meshStack: the run object, its sources, steps, outputs, history and status.

Facts from ``../shared/reference/meshstack-run-api.md`` §2–§5. Choices where the real service is unverified:

* A run reads ``SUCCEEDED`` or ``FAILED`` once a source reports a terminal run status; ``FAILED`` and ``ABORTED``
  from any source win over ``SUCCEEDED`` (``ABORTED`` reads back as ``FAILED``, steps keep ``ABORTED``). An aborted
  run (:meth:`FakeRun.set_aborted`) reads ``FAILED`` and answers ``runAborted: true``.
* A source that reported a terminal run status is closed: further updates are refused with 409, except an exact
  repeat of its last accepted update (a client retrying a lost response), which answers 200 and changes nothing.
* Steps unknown to a source are appended in the order they are first reported.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshpipe.fakes._http import HttpError
from meshpipe.fakes.meshstack_rules import INPUT_TYPES, TERMINAL, input_value_text

__all__ = ["FakeRun", "build_inputs"]


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, list):
        return "MULTI_SELECT"
    if isinstance(value, dict):
        return "CODE"
    return "STRING"


def build_inputs(inputs: Mapping[str, Any] | list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Normalise ``{"key": value}`` (types inferred) or a list of input objects to the run object's input list."""
    if inputs is None:
        return []
    if isinstance(inputs, Mapping):
        result = []
        for key, value in inputs.items():
            kind = _infer_type(value)
            if kind == "CODE":
                value = json.dumps(value)
            result.append({"key": key, "value": value, "type": kind, "isSensitive": False, "isEnvironment": False})
        return result
    result = []
    for item in inputs:
        if "key" not in item or "value" not in item:
            raise ValueError(f"an input needs 'key' and 'value': {dict(item)!r}")
        kind = item.get("type") or _infer_type(item["value"])
        if kind not in INPUT_TYPES:
            raise ValueError(f"input {item['key']!r}: type must be one of {', '.join(INPUT_TYPES)}, got {kind!r}")
        result.append(
            {
                "key": item["key"],
                "value": item["value"],
                "type": kind,
                "isSensitive": bool(item.get("isSensitive", False)),
                "isEnvironment": bool(item.get("isEnvironment", False)),
            }
        )
    return result


def _encrypted(value: Any) -> str:
    # The GET view never shows a sensitive value: only the runner-facing (base64) object carries it decrypted.
    digest = hashlib.sha256(json.dumps(value).encode()).hexdigest()[:24]
    return f"ENC[AES256_GCM,fake:{digest}]"


def _link(href: str, templated: bool | None = None) -> dict[str, Any]:
    # The Kotlin serializer writes "templated": null on plain links; clients must tolerate it.
    return {"href": href, "templated": templated}


@dataclass
class FakeRun:
    """One building block run and everything reported on it.

    ``sources`` maps a source id to ``{"id", "externalRunId", "externalRunUrl", "status", "steps"}`` with ordered
    step dicts ``{"id", "displayName", "status", "userMessage", "systemMessage", "outputs"}``. ``updates`` is the
    history of accepted PATCH bodies, each with the key ``"sourceId"`` added. ``events`` is the same history with
    times, registrations and aborts included: ``{"at": epoch seconds, "kind": "register" | "update" | "abort",
    "sourceId", "body"}`` (the status page's timeline is drawn from it, starting at ``created_at``). ``outputs``
    holds the merged outputs of all steps. ``warnings`` lists what meshStack would warn operator and user about.
    """

    uuid: str
    base_url: str
    run_number: int
    behavior: str
    inputs: list[dict[str, Any]]
    building_block_uuid: str
    workspace: str
    project: str
    display_name: str
    definition_workspace: str
    definition_uuid: str
    created_on: str
    run_token: str
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    summaries: dict[str, str] = field(default_factory=dict)
    aborted: bool = False
    claimed: bool = False
    #: The Terraform implementation the runner-facing object carries (``None``: only ``{"type": "TERRAFORM"}``).
    implementation: dict[str, Any] | None = None
    #: Extra HAL links (``planArtifact``, ``planArtifactUpload``), set by :mod:`meshpipe.fakes.meshstack_runner_api`.
    links: dict[str, str] = field(default_factory=dict)
    _last_update: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- views ---------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The run URL (``_links.self.href``)."""
        return f"{self.base_url}/api/meshobjects/meshbuildingblockruns/{self.uuid}"

    @property
    def status(self) -> str:
        """The run status as ``GET`` reads it: ``IN_PROGRESS``, ``SUCCEEDED`` or ``FAILED``."""
        reported = [s["status"] for s in self.sources.values() if s["status"] in TERMINAL]
        if self.aborted or "FAILED" in reported or "ABORTED" in reported:
            return "FAILED"
        return "SUCCEEDED" if reported else "IN_PROGRESS"

    def _trigger_reason(self) -> str:
        if self.behavior == "DESTROY":
            return "BUILDING_BLOCK_DELETION"
        return "BUILDING_BLOCK_CREATION" if self.run_number == 1 else "MANUAL_EXECUTION"

    def _build(self, *, runner: bool) -> dict[str, Any]:
        # GET answers every value as a string, as the description types it; the runner's copy keeps JSON types.
        inputs = [
            dict(item, value=_encrypted(item["value"]) if item["isSensitive"] else input_value_text(item["value"]))
            if not runner
            else dict(item)
            for item in self.inputs
        ]
        spec: dict[str, Any] = {
            "runNumber": self.run_number,
            "behavior": self.behavior,
            "trigger": {
                "reason": self._trigger_reason(),
                "author": {
                    "identifier": "jdoe",
                    "type": "User",
                    "displayName": "Jane Doe",
                    "username": "jdoe",
                    "email": "jane.doe@example.com",
                    "euid": "jdoe",
                },
            },
            "buildingBlock": {
                "uuid": self.building_block_uuid,
                "spec": {
                    "displayName": self.display_name,
                    "workspaceIdentifier": self.workspace,
                    "projectIdentifier": self.project,
                    "fullPlatformIdentifier": "aws.eu-central-1",
                    "inputs": inputs,
                    "parentBuildingBlocks": [],
                },
            },
            "buildingBlockDefinition": {
                "uuid": self.definition_uuid,
                "spec": {
                    "workspaceIdentifier": self.definition_workspace,
                    "version": 1,
                    "implementation": dict(self.implementation or {}, type="TERRAFORM")
                    if runner
                    else {"type": "TERRAFORM"},
                },
            },
        }
        if runner:
            spec["runToken"] = self.run_token
        return {
            "kind": "meshBuildingBlockRun",
            "apiVersion": "v1",
            "metadata": {"uuid": self.uuid, "createdOn": self.created_on},
            "spec": spec,
            "status": self.status,
            "_links": {
                "self": _link(self.url),
                "registerSource": _link(f"{self.url}/status/source"),
                "updateSource": _link(f"{self.url}/status/source/{{sourceId}}", True),
                "meshstackBaseUrl": _link(self.base_url),
                **{name: _link(href) for name, href in self.links.items()},
            },
        }

    @property
    def object(self) -> dict[str, Any]:
        """The run object exactly as ``GET {runUrl}`` answers (sensitive input values encrypted)."""
        return self._build(runner=False)

    @property
    def runner_object(self) -> dict[str, Any]:
        """The runner-facing run object: sensitive inputs decrypted, with ``spec.runToken``."""
        return self._build(runner=True)

    @property
    def b64(self) -> str:
        """Base64 of the compact runner-facing run JSON, as in ``meshstack_building_block_run_b64``."""
        compact = json.dumps(self.runner_object, separators=(",", ":"))
        return base64.b64encode(compact.encode()).decode()

    def logs(self) -> dict[str, Any]:
        """The ``GET {runUrl}/logs`` view: all steps of all sources in registration order."""
        return {
            "steps": [
                {k: step[k] for k in ("displayName", "status", "userMessage", "systemMessage")}
                for source in self.sources.values()
                for step in source["steps"]
            ]
        }

    def set_aborted(self, aborted: bool = True) -> None:
        """Abort (or un-abort) the run: it reads ``FAILED`` and updates answer ``runAborted: true``."""
        self.aborted = aborted
        self._record("abort", None, {"aborted": aborted})

    def _record(self, kind: str, source_id: str | None, body: dict[str, Any]) -> None:
        self.events.append({"at": time.time(), "kind": kind, "sourceId": source_id, "body": body})

    # -- mutations (bodies validated by the caller) --------------------------------------------------------------
    def register(self, body: dict[str, Any]) -> None:
        """Register a source with its steps; 409 when the source id is taken."""
        source = body["source"]
        if source["id"] in self.sources:
            raise HttpError(409, f"Source '{source['id']}' is already registered for run {self.uuid}")
        self.sources[source["id"]] = {
            "id": source["id"],
            "externalRunId": source.get("externalRunId"),
            "externalRunUrl": source.get("externalRunUrl"),
            "status": None,
            "steps": [
                {
                    "id": step["id"],
                    "displayName": step["displayName"],
                    "status": step.get("status") or "PENDING",
                    "userMessage": None,
                    "systemMessage": None,
                    "outputs": {},
                }
                for step in body["steps"]
            ],
        }
        self._record("register", source["id"], body)

    def update(self, source_id: str, body: dict[str, Any]) -> None:
        """Apply an update from a registered source: only non-null fields, unknown steps appended."""
        source = self.sources.get(source_id)
        if source is None:
            raise HttpError(404, f"Source '{source_id}' is not registered for run {self.uuid}; register it first")
        if source["status"] in TERMINAL:
            if body == self._last_update.get(source_id):
                return
            raise HttpError(409, f"Source '{source_id}' already reported the terminal run status {source['status']}")
        steps = {step["id"]: step for step in source["steps"]}
        for change in body.get("steps") or []:
            step = steps.get(change["id"])
            if step is None:
                step = {
                    "id": change["id"],
                    "displayName": change.get("displayName") or change["id"],
                    "status": "PENDING",
                    "userMessage": None,
                    "systemMessage": None,
                    "outputs": {},
                }
                source["steps"].append(step)
                steps[step["id"]] = step
            for key in ("displayName", "status", "userMessage", "systemMessage"):
                if change.get(key) is not None:
                    step[key] = change[key]
            for name, output in (change.get("outputs") or {}).items():
                merged = {k: output[k] for k in ("value", "type", "isSensitive") if k in output}
                step["outputs"][name] = merged
                self.outputs[name] = merged
        if body.get("status") is not None:
            source["status"] = body["status"]
        if body.get("summary") is not None:
            self.summaries[source_id] = body["summary"]
        self._last_update[source_id] = body
        self.updates.append({**body, "sourceId": source_id})
        self._record("update", source_id, body)
        self._check_warnings()

    def _check_warnings(self) -> None:
        if self.status != "SUCCEEDED":
            return
        for source in self.sources.values():
            for step in source["steps"]:
                if step["status"] != "SUCCEEDED":
                    warning = (
                        f"Run succeeded, but step '{step['id']}' of source '{source['id']}' "
                        f"did not report SUCCEEDED (status {step['status']})"
                    )
                    if warning not in self.warnings:
                        self.warnings.append(warning)
