"""A fake meshStack that speaks the building block run API as strictly as the real one.

API (``../shared/reference/meshstack-run-api.md``, ``../shared/specs/meshstack-bbrun-openapi.json``)::

    POST  /api/login                                       JSON -> 200 token; form -> 307 to the fake IdP
    POST  /auth/realms/meshfed/protocol/openid-connect/token   the IdP: form -> 200 token
    GET   /api/meshobjects/meshbuildingblockruns/{uuid}              the run object
    POST  /api/meshobjects/meshbuildingblockruns/{uuid}/status/source            register a source + steps
    PATCH /api/meshobjects/meshbuildingblockruns/{uuid}/status/source/{sourceId} update run/steps/outputs
    GET   /api/meshobjects/meshbuildingblockruns/{uuid}/logs         steps of all sources
    POST  /api/meshobjects/meshbuildingblockruns/create?forRunnerUuid=...   a runner claims the oldest run
    GET   /                                                an HTML status page that refreshes itself

Checks happen in this order: authentication (401), ``Content-Type`` (415), ``Accept`` (406), the run (404),
permission (403: a run token on another run, a key of an unrelated workspace, or one of the consuming workspace
reporting on the run), the body (400), then the source (404 unregistered, 409 duplicate or closed). Errors answer
in Spring Boot's JSON shape ``{"timestamp", "status", "error", "message"}``. The register call answers 200 with an
empty body (the real body is unverified; clients ignore it).

The control plane (create runs, read state and update history, keys, tokens, abort) is described in
:mod:`meshpipe.fakes.meshstack_control`; run state and body rules live in :mod:`~meshpipe.fakes.meshstack_runs`
and :mod:`~meshpipe.fakes.meshstack_rules`.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

from meshpipe.fakes._http import FakeServer, HttpError, Request, Response
from meshpipe.fakes.meshstack_auth import TokenInfo, TokenStore, make_jwt
from meshpipe.fakes.meshstack_control import add_control_routes
from meshpipe.fakes.meshstack_rules import BEHAVIORS, Readings, apply_update, validate_register, validate_update
from meshpipe.fakes.meshstack_runner_api import add_runner_api
from meshpipe.fakes.meshstack_runs import FakeRun, build_inputs

__all__ = ["IDP_TOKEN_PATH", "MEDIA_TYPE", "FakeMeshStack", "FakeRun"]

MEDIA_TYPE = "application/vnd.meshcloud.api.meshbuildingblockrun.v1.hal+json"
IDP_TOKEN_PATH = "/auth/realms/meshfed/protocol/openid-connect/token"
_RUNS = "/api/meshobjects/meshbuildingblockruns"
_RUN = _RUNS + r"/(?P<uuid>[^/]+)"


def _unauthorized(message: str, error: str | None = None) -> HttpError:
    challenge = 'Bearer realm="meshStack"' + (f', error="{error}"' if error else "")
    return HttpError(401, message, headers={"WWW-Authenticate": challenge})


class FakeMeshStack(FakeServer):
    """The fake meshStack server; see the module docstring for its API and control plane."""

    name = "meshstack"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, control_token: str | None = None) -> None:
        super().__init__(host, port, control_token=control_token)
        self.auth = TokenStore()
        #: How the fake reads what the description leaves open (:mod:`~meshpipe.fakes.meshstack_rules`).
        self.readings = Readings()
        self._runs: dict[str, FakeRun] = {}
        self._run_numbers: dict[str, int] = {}
        self.route("POST", "/api/login")(self._login)
        self.route("POST", IDP_TOKEN_PATH)(self._idp_token)
        self.route("POST", _RUNS + "/create")(self._claim_run)
        self.route("GET", _RUN)(self._get_run)
        self.route("GET", _RUN + "/logs")(self._get_logs)
        self.route("POST", _RUN + "/status/source")(self._register_source)
        self.route("PATCH", _RUN + r"/status/source/(?P<source>[^/]+)")(self._update_source)
        self.route("GET", "/")(self._status_page)
        add_control_routes(self)
        #: State backend, plan artifacts, approvals and runners (:mod:`meshpipe.fakes.meshstack_runner_api`).
        self.runner_api = add_runner_api(self)

    # -- Python API ----------------------------------------------------------------------------------------------
    def add_api_key(
        self, client_id: str, client_secret: str, *, workspace: str = "platform-team", expires_in: int = 300
    ) -> None:
        """Register an API key; its login tokens live ``expires_in`` seconds."""
        with self.lock:
            self.auth.add_api_key(client_id, client_secret, workspace=workspace, expires_in=expires_in)

    def add_api_token(self, token: str, *, workspace: str = "platform-team") -> None:
        """Register a ready bearer token (``MESHSTACK_API_TOKEN`` style) that never expires."""
        with self.lock:
            self.auth.add_api_token(token, workspace=workspace)

    def create_run(
        self,
        *,
        behavior: str = "APPLY",
        inputs: Any = None,
        building_block_uuid: str | None = None,
        workspace: str = "team-alpha",
        project: str = "alpha-dev",
        display_name: str | None = None,
        definition_workspace: str = "platform-team",
        implementation: dict[str, Any] | None = None,
    ) -> FakeRun:
        """Create a run in ``IN_PROGRESS``; ``inputs`` is ``{"key": value}`` or a list of input objects;
        ``implementation`` is the Terraform implementation the runner-facing object carries."""
        if behavior not in BEHAVIORS:
            raise ValueError(f"behavior must be one of {', '.join(BEHAVIORS)}, got {behavior!r}")
        if not self.port:
            raise RuntimeError("start the fake before creating runs: run URLs need its port")
        block = building_block_uuid or str(uuidlib.uuid4())
        with self.lock:
            number = self._run_numbers.get(block, 0) + 1
            self._run_numbers[block] = number
            run_uuid = str(uuidlib.uuid4())
            token = make_jwt(f"{self.url}/auth/realms/meshfed", f"run:{run_uuid}", None, run=run_uuid)
            run = FakeRun(
                uuid=run_uuid,
                base_url=self.url,
                run_number=number,
                behavior=behavior,
                inputs=build_inputs(inputs),
                building_block_uuid=block,
                workspace=workspace,
                project=project,
                display_name=display_name or f"building block {block[:8]}",
                definition_workspace=definition_workspace,
                definition_uuid=str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"meshpipe-fake/{definition_workspace}")),
                created_on=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                run_token=token,
                implementation=implementation,
            )
            self.runner_api.prepare(run)
            self._runs[run_uuid] = run
            self.auth.add_run_token(token, run_uuid)
            return run

    def run(self, uuid: str) -> FakeRun:
        """The run with this UUID (``KeyError`` if unknown)."""
        with self.lock:
            return self._runs[uuid]

    @property
    def runs(self) -> list[FakeRun]:
        """All runs, oldest first."""
        with self.lock:
            return list(self._runs.values())

    def set_aborted(self, uuid: str, aborted: bool = True) -> None:
        """Abort a run: it reads ``FAILED`` and every update answers ``{"runAborted": true}``."""
        with self.lock:
            self._runs[uuid].set_aborted(aborted)

    def expire_tokens(self) -> None:
        """Let every issued login token expire now (the next call with one answers 401)."""
        with self.lock:
            self.auth.expire_logins()

    def run_view(self, run: FakeRun) -> dict[str, Any]:
        """The control plane's JSON view of a run: the run object plus the fake's bookkeeping."""
        with self.lock:
            return {
                **run.object,
                "uuid": run.uuid,
                "url": run.url,
                "runToken": run.run_token,
                "b64": run.b64,
                "sources": run.sources,
                "updates": run.updates,
                "outputs": run.outputs,
                "warnings": run.warnings,
                "summaries": run.summaries,
                "aborted": run.aborted,
            }

    # -- FakeServer hooks ----------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget runs, keys, tokens, faults and the request log."""
        with self.lock:
            super().reset()
            self.auth.clear()
            self.readings = Readings()
            self._runs.clear()
            self._run_numbers.clear()
            self.runner_api.reset()

    def state(self) -> dict[str, Any]:
        """Runs and credentials (client ids only, never secrets) as JSON-friendly data."""
        with self.lock:
            return {
                **super().state(),
                "runs": [self.run_view(r) for r in self.runs],
                "readings": self.readings.to_dict(),
                "api_keys": [{"client_id": k.client_id, "workspace": k.workspace} for k in self.auth.api_keys.values()],
            }

    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> Any:
        """Spring Boot's error shape, which the meshObject API is built on."""
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"timestamp": stamp, "status": status, "error": phrase, "message": message, **extra}

    # -- checks ----------------------------------------------------------------------------------------------------
    def _principal(self, request: Request) -> TokenInfo:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("Full authentication is required to access this resource")
        info = self.auth.lookup(token.strip())
        if info is None:
            raise _unauthorized("Invalid bearer token", "invalid_token")
        if info.expired(time.time()):
            raise _unauthorized("Bearer token expired", "invalid_token")
        return info

    @staticmethod
    def _require_content_type(request: Request) -> None:
        if request.media_type != MEDIA_TYPE:
            raise HttpError(
                415, f"Content-Type '{request.media_type or '(none)'}' is not supported; use '{MEDIA_TYPE}'"
            )

    @staticmethod
    def _require_accept(request: Request) -> None:
        accepted = [part.split(";")[0].strip().lower() for part in (request.header("accept") or "").split(",")]
        if MEDIA_TYPE not in accepted:
            raise HttpError(406, f"Not Acceptable: this endpoint is versioned; send 'Accept: {MEDIA_TYPE}'")

    def find(self, request: Request) -> FakeRun:
        """The run named by the request's ``uuid`` parameter; 404 when unknown."""
        run = self._runs.get(unquote(request.params["uuid"]))
        if run is None:
            raise HttpError(404, f"meshBuildingBlockRun '{request.params['uuid']}' not found")
        return run

    @staticmethod
    def _permit(info: TokenInfo, run: FakeRun, *, write: bool = False) -> None:
        # Keys of the consuming workspace (e.g. the ephemeral MESHSTACK_API_TOKEN) may read the run; reporting on it
        # needs the definition's owner: "you can only update runs whose underlying building block definitions are
        # owned by the workspace the API key is scoped to" (OpenAPI, register source).
        if info.kind == "run":
            if info.run_uuid != run.uuid:
                raise HttpError(403, f"This run token is not valid for meshBuildingBlockRun '{run.uuid}'")
            return
        allowed = (run.definition_workspace,) if write else (run.definition_workspace, run.workspace)
        if info.workspace not in allowed:
            raise HttpError(
                403,
                f"Workspace '{info.workspace}' may not access meshBuildingBlockRun '{run.uuid}': its building block "
                f"definition is owned by workspace '{run.definition_workspace}'",
            )

    def _run_request(self, request: Request, *, body: bool) -> FakeRun:
        info = self._principal(request)
        if body:
            self._require_content_type(request)
        self._require_accept(request)
        run = self.find(request)
        self._permit(info, run, write=body)
        return run

    @staticmethod
    def _versioned(body: Any, status: int = 200) -> Response:
        return Response(status=status, body=body, content_type=MEDIA_TYPE)

    # -- API handlers --------------------------------------------------------------------------------------------
    def _token_document(self, client_id: Any, client_secret: Any) -> Response:
        key = self.auth.check_key(str(client_id), str(client_secret))
        if key is None:
            raise HttpError(401, "Invalid API key credentials", headers={"WWW-Authenticate": 'Bearer realm="meshfed"'})
        return Response(body=self.auth.login(key, f"{self.url}/auth/realms/meshfed"))

    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        fields = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in fields.items()}

    def _login(self, request: Request) -> Response:
        if request.media_type == "application/json":
            data = request.json()
            if not isinstance(data, dict):
                raise HttpError(400, "request body: a JSON object with clientId and clientSecret is required")
            missing = [k for k in ("clientId", "clientSecret") if not isinstance(data.get(k), str) or not data[k]]
            if missing:
                raise HttpError(400, f"missing required field(s): {', '.join(missing)}")
            return self._token_document(data["clientId"], data["clientSecret"])
        if request.media_type == "application/x-www-form-urlencoded":
            form = self._form(request)
            missing = [k for k in ("grant_type", "client_id", "client_secret") if not form.get(k)]
            if missing:
                raise HttpError(400, f"missing required field(s): {', '.join(missing)}")
            # The real service hands the form to its IdP (Keycloak); 307 keeps method and body on the way.
            return Response(status=307, headers={"Location": self.url + IDP_TOKEN_PATH})
        raise HttpError(415, "use Content-Type application/json (or application/x-www-form-urlencoded)")

    def _idp_token(self, request: Request) -> Response:
        if request.media_type != "application/x-www-form-urlencoded":
            raise HttpError(400, "invalid_request: form-encoded body required", error="invalid_request")
        form = self._form(request)
        if form.get("grant_type") != "client_credentials":
            raise HttpError(400, "unsupported_grant_type", error="unsupported_grant_type")
        return self._token_document(form.get("client_id", ""), form.get("client_secret", ""))

    def _get_run(self, request: Request) -> Response:
        return self._versioned(self._run_request(request, body=False).object)

    def _get_logs(self, request: Request) -> Response:
        info = self._principal(request)
        run = self.find(request)
        self._permit(info, run)
        return Response(body=run.logs())

    def _register_source(self, request: Request) -> Response:
        run = self._run_request(request, body=True)
        run.register(validate_register(request.json(), self.readings))
        return Response(status=200, body=None, content_type=MEDIA_TYPE)

    def _update_source(self, request: Request) -> Response:
        run = self._run_request(request, body=True)
        body = validate_update(request.json(), self.readings)
        apply_update(run, unquote(request.params["source"]), body, self.readings)
        return self._versioned({"runAborted": run.aborted})

    def _claim_run(self, request: Request) -> Response:
        self._principal(request)
        self._require_accept(request)
        if not request.query_value("forRunnerUuid"):
            raise HttpError(400, "Required request parameter 'forRunnerUuid' is not present")
        pending = next((run for run in self._runs.values() if not run.claimed), None)
        if pending is None:
            raise HttpError(404, "No pending meshBuildingBlockRun for this runner")
        pending.claimed = True
        return self._versioned(pending.runner_object, status=201)

    def _status_page(self, _request: Request) -> Response:
        from meshpipe.fakes.status_page import render_status_page

        html = render_status_page(list(reversed(self.runs)), base_url=self.url)
        return Response(body=html, content_type="text/html; charset=utf-8")
