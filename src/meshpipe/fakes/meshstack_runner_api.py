"""What the fake meshStack offers meshStack's Terraform runner: the state backend, plan artifacts of DETECT runs,
the approval that turns a DETECT run into an APPLY run replaying its plan, and runner registration.

API (facts from ``../shared/reference/meshstack-runner.md`` and ``meshstack-run-api.md`` §6.3; the runner's own
sources ``tf-block-runner/tfrun/{runapi.go,tfplan.go,tfapply.go,testdata/backend*.golden.tf}``)::

    GET    /api/terraform/state/workspace/{ws}/buildingBlock/{bb}        state (204 when there is none yet)
    POST   /api/terraform/state/workspace/{ws}/buildingBlock/{bb}        store state (Terraform's http backend)
    DELETE /api/terraform/state/workspace/{ws}/buildingBlock/{bb}        forget state
    POST   /api/terraform/state/workspace/{ws}/buildingBlock/{bb}/lock   take the lock (423 + holder when taken)
    DELETE /api/terraform/state/workspace/{ws}/buildingBlock/{bb}/lock   release it
    PUT    {runUrl}/planArtifact    a DETECT run uploads its saved plan (``_links.planArtifactUpload``)
    GET    {runUrl}/planArtifact    the plan, for the APPLY run that replays it (``_links.planArtifact``)

The state API authenticates like the runner's backend does: HTTP Basic with any user name and the run token as
password (``TF_HTTP_USERNAME`` / ``TF_HTTP_PASSWORD``); a token is good for its own building block only. The lock
paths and methods are the runner's golden backend file. *Unverified*: the state API's status codes (204 for "no
state", 423 for a held lock: what Terraform's http backend understands), the artifact paths, methods and media type
(the runner's code names only the links ``planArtifactUpload`` and ``planArtifact``), and which principals may
download an artifact (here: a run token of the same building block, or a key of the definition's workspace).

Control plane (under ``/_fake``)::

    POST /_fake/runs/{uuid}/approve   approve a DETECT run that uploaded its plan -> 201 view of the new APPLY run
    POST /_fake/runners               {"uuid"} register a runner (its UUID becomes its source id)
    GET  /_fake/states                {building block uuid: state JSON}
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from meshpipe.fakes._http import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack import FakeMeshStack
    from meshpipe.fakes.meshstack_runs import FakeRun

__all__ = ["ARTIFACT_MEDIA_TYPE", "RunnerApi", "add_runner_api"]

ARTIFACT_MEDIA_TYPE = "application/octet-stream"
_STATE = r"/api/terraform/state/workspace/(?P<workspace>[^/]+)/buildingBlock/(?P<block>[^/]+)"
_ARTIFACT = r"/api/meshobjects/meshbuildingblockruns/(?P<uuid>[^/]+)/planArtifact"


@dataclass
class RunnerApi:
    """State, locks, plan artifacts and registered runners of one fake meshStack (guarded by the fake's lock)."""

    fake: FakeMeshStack
    states: dict[str, bytes] = field(default_factory=dict)
    locks: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    approved: dict[str, str] = field(default_factory=dict)  # DETECT run uuid -> APPLY run uuid
    runners: list[str] = field(default_factory=list)

    def reset(self) -> None:
        """Forget everything."""
        for store in (self.states, self.locks, self.artifacts, self.approved):
            store.clear()
        self.runners.clear()

    # -- Python API --------------------------------------------------------------------------------------------
    def add_runner(self, runner_uuid: str) -> None:
        """Register a runner by its UUID (the id of the source it reports with)."""
        with self.fake.lock:
            if runner_uuid not in self.runners:
                self.runners.append(runner_uuid)

    def prepare(self, run: FakeRun) -> None:
        """Give a new run the links its behavior gets: a DETECT run an upload link for its plan."""
        if run.behavior == "DETECT":
            run.links["planArtifactUpload"] = f"{run.url}/planArtifact"

    def approve(self, detect_uuid: str) -> FakeRun:
        """Approve a DETECT run's plan: a new APPLY run of the same block whose ``_links.planArtifact`` is that plan."""
        with self.fake.lock:
            detect = self.fake.run(detect_uuid)
            if detect.behavior != "DETECT":
                raise HttpError(409, f"meshBuildingBlockRun '{detect_uuid}' is a {detect.behavior} run; only a DETECT "
                                     "run's plan can be approved")  # fmt: skip
            if detect_uuid in self.approved:
                approved = self.approved[detect_uuid]
                raise HttpError(409, f"the plan of run '{detect_uuid}' was already approved (run {approved})")
            if detect_uuid not in self.artifacts:
                raise HttpError(409, f"run '{detect_uuid}' has not uploaded a plan yet; nothing to approve")
            # The control plane's create_run arguments: the approval copies the DETECT run's block and inputs.
            apply = self.fake.create_run(
                behavior="APPLY",
                inputs=[dict(item) for item in detect.inputs],
                building_block_uuid=detect.building_block_uuid,
                workspace=detect.workspace,
                project=detect.project,
                display_name=detect.display_name,
                definition_workspace=detect.definition_workspace,
                implementation=detect.implementation,
            )
            apply.links["planArtifact"] = f"{detect.url}/planArtifact"
            self.approved[detect_uuid] = apply.uuid
            return apply

    def state_of(self, building_block_uuid: str) -> dict[str, Any] | None:
        """The stored state of a building block, parsed (``None`` when there is none)."""
        with self.fake.lock:
            raw = self.states.get(building_block_uuid)
        return None if raw is None else json.loads(raw)

    def view(self) -> dict[str, Any]:
        """JSON-friendly state for the control plane."""
        with self.fake.lock:
            return {
                "runners": list(self.runners),
                "states": {block: json.loads(raw) for block, raw in self.states.items()},
                "locks": dict(self.locks),
                "artifacts": {run: len(data) for run, data in self.artifacts.items()},
                "approved": dict(self.approved),
            }

    # -- checks ---------------------------------------------------------------------------------------------------
    def _state_principal(self, request: Request) -> None:
        scheme, _, encoded = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            raise HttpError(401, "Full authentication is required", headers={"WWW-Authenticate": 'Basic realm="state"'})
        try:
            _user, _, token = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise HttpError(401, "malformed Basic credentials") from None
        info = self.fake.auth.lookup(token)
        if info is None or info.kind != "run" or info.run_uuid is None:
            raise HttpError(401, "the state API takes the run token as password")
        run = self.fake.run(info.run_uuid)
        block, workspace = unquote(request.params["block"]), unquote(request.params["workspace"])
        if run.building_block_uuid != block or run.workspace != workspace:
            raise HttpError(403, f"this run token is not valid for the state of building block '{block}'")

    def _artifact_principal(self, request: Request, run: FakeRun, *, upload: bool) -> None:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        info = self.fake.auth.lookup(token.strip()) if scheme.lower() == "bearer" else None
        if info is None:
            raise HttpError(401, "Full authentication is required to access this resource")
        if info.kind == "run" and info.run_uuid is not None:
            caller = self.fake.run(info.run_uuid)
            if caller.uuid == run.uuid or (not upload and caller.building_block_uuid == run.building_block_uuid):
                return
        elif not upload and info.workspace == run.definition_workspace:
            return
        raise HttpError(403, f"not allowed to {'upload' if upload else 'read'} the plan artifact of run '{run.uuid}'")

    # -- handlers -------------------------------------------------------------------------------------------------
    def get_state(self, request: Request) -> Response:
        self._state_principal(request)
        raw = self.states.get(unquote(request.params["block"]))
        return Response(status=204) if raw is None else Response(body=raw)

    def put_state(self, request: Request) -> Response:
        self._state_principal(request)
        block = unquote(request.params["block"])
        held = self.locks.get(block)
        lock_id = request.query_value("ID")
        if held is not None and lock_id is not None and held.get("ID") != lock_id:
            raise HttpError(409, f"state of '{block}' is locked by {held.get('ID')}")
        try:
            json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"state must be JSON: {exc}") from None
        self.states[block] = request.body
        return Response(status=200)

    def delete_state(self, request: Request) -> Response:
        self._state_principal(request)
        self.states.pop(unquote(request.params["block"]), None)
        return Response(status=200)

    def lock(self, request: Request) -> Response:
        self._state_principal(request)
        block = unquote(request.params["block"])
        info = request.json()
        if block in self.locks:
            # Terraform's http backend reads the holder from a 423 (or 409) body.
            return Response(status=423, body=self.locks[block])
        self.locks[block] = info if isinstance(info, dict) else {}
        return Response(status=200)

    # Like delete_state above in shape, for the other store (the locks).
    def unlock(self, request: Request) -> Response:
        self._state_principal(request)
        self.locks.pop(unquote(request.params["block"]), None)
        return Response(status=200)

    def upload_artifact(self, request: Request) -> Response:
        run = self.fake.find(request)
        self._artifact_principal(request, run, upload=True)
        if run.behavior != "DETECT":
            raise HttpError(409, f"only a DETECT run uploads a plan; run '{run.uuid}' is {run.behavior}")
        if not request.body:
            raise HttpError(400, "empty plan artifact")
        self.artifacts[run.uuid] = request.body
        return Response(status=204)

    def download_artifact(self, request: Request) -> Response:
        run = self.fake.find(request)
        self._artifact_principal(request, run, upload=False)
        data = self.artifacts.get(run.uuid)
        if data is None:
            raise HttpError(404, f"run '{run.uuid}' has no plan artifact")
        return Response(body=data, content_type=ARTIFACT_MEDIA_TYPE)


def add_runner_api(fake: FakeMeshStack) -> RunnerApi:
    """Register the runner-facing API and its control routes on ``fake``; returns the store."""
    api = RunnerApi(fake)
    fake.route("GET", _STATE)(api.get_state)
    fake.route("POST", _STATE)(api.put_state)
    fake.route("DELETE", _STATE)(api.delete_state)
    fake.route("POST", _STATE + "/lock")(api.lock)
    fake.route("DELETE", _STATE + "/lock")(api.unlock)
    fake.route("PUT", _ARTIFACT)(api.upload_artifact)
    fake.route("GET", _ARTIFACT)(api.download_artifact)

    def approve(request: Request) -> Response:
        if request.body and request.json() not in (None, {}):
            raise HttpError(400, "approve takes no body")
        try:
            run = api.approve(unquote(request.params["uuid"]))
        except KeyError:
            raise HttpError(404, f"meshBuildingBlockRun '{request.params['uuid']}' not found") from None
        return Response(status=201, body=fake.run_view(run))

    def runner(request: Request) -> Response:
        data = request.json()
        if not isinstance(data, dict) or set(data) != {"uuid"} or not isinstance(data["uuid"], str):
            raise HttpError(400, 'a JSON object {"uuid": "<runner uuid>"} is required')
        api.add_runner(data["uuid"])
        return Response(status=201, body={"runners": api.runners})

    fake.control_route("POST", r"/runs/(?P<uuid>[^/]+)/approve", approve)
    fake.control_route("POST", "/runners", runner)
    fake.control_route("GET", "/states", lambda _r: Response(body=api.view()))
    return api
