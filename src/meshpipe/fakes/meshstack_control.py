"""The fake meshStack's own control plane under ``/_fake`` (besides the common routes of every fake)::

    POST /_fake/runs                {"behavior", "inputs", "building_block_uuid", "workspace", "project",
                                     "display_name", "definition_workspace", "implementation"} -> 201 run view
    GET  /_fake/runs                all runs, oldest first;  GET /_fake/runs/{uuid}  one run
    POST /_fake/runs/{uuid}/abort   {"aborted": true}  -> the run view
    POST /_fake/api-keys            {"client_id", "client_secret", "workspace", "expires_in"}
    POST /_fake/api-tokens          {"token", "workspace"}
    POST /_fake/expire-tokens       every issued login token expires now
    GET  /_fake/readings            how the fake reads what the description leaves open (strict/lenient per rule)
    POST /_fake/readings            {"mode": "strict" | "lenient" | "default"} and/or {"rules": {"<rule>": "..."}}
                                    -> the readings now; the rules are tabled in meshpipe.fakes.meshstack_rules

A run view (:meth:`FakeMeshStack.run_view`) is the run object plus ``uuid``, ``url``, ``runToken``, ``b64``,
``sources``, ``updates``, ``outputs``, ``warnings``, ``summaries`` and ``aborted``. Unknown keys are 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack import FakeMeshStack

__all__ = ["add_control_routes"]

_CREATE_RUN_KEYS = (
    "behavior",
    "inputs",
    "building_block_uuid",
    "workspace",
    "project",
    "display_name",
    "definition_workspace",
    "implementation",
)


def _control_json(request: Request, known: tuple[str, ...]) -> dict[str, Any]:
    data = request.json() or {}
    if not isinstance(data, dict):
        raise HttpError(400, "a JSON object is required")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise HttpError(400, f"unknown keys: {unknown}; known: {sorted(known)}")
    return data


def add_control_routes(fake: FakeMeshStack) -> None:
    """Register the meshStack-specific control routes on ``fake``."""

    def create_run(request: Request) -> Response:
        data = _control_json(request, _CREATE_RUN_KEYS)
        try:
            run = fake.create_run(**data)
        except (TypeError, ValueError) as exc:
            raise HttpError(400, str(exc)) from exc
        return Response(status=201, body=fake.run_view(run))

    def abort(request: Request) -> Response:
        run = fake.find(request)
        data = _control_json(request, ("aborted",))
        run.set_aborted(bool(data.get("aborted", True)))
        return Response(body=fake.run_view(run))

    def api_key(request: Request) -> Response:
        data = _control_json(request, ("client_id", "client_secret", "workspace", "expires_in"))
        if not data.get("client_id") or not data.get("client_secret"):
            raise HttpError(400, "client_id and client_secret are required")
        fake.add_api_key(
            data["client_id"],
            data["client_secret"],
            workspace=data.get("workspace", "platform-team"),
            expires_in=int(data.get("expires_in", 300)),
        )
        return Response(status=201, body={"client_id": data["client_id"]})

    def api_token(request: Request) -> Response:
        data = _control_json(request, ("token", "workspace"))
        if not data.get("token"):
            raise HttpError(400, "token is required")
        fake.add_api_token(data["token"], workspace=data.get("workspace", "platform-team"))
        return Response(status=201, body={"added": True})

    def expire(_request: Request) -> Response:
        fake.expire_tokens()
        return Response(body={"expired": True})

    def readings(request: Request) -> Response:
        if request.method == "POST":
            data = _control_json(request, ("mode", "rules"))
            rules = data.get("rules") or {}
            if not isinstance(rules, dict):
                raise HttpError(400, "rules: an object of rule name -> 'strict' | 'lenient'")
            try:
                fake.readings.set(data.get("mode"), **rules)
            except (TypeError, ValueError) as exc:
                raise HttpError(400, str(exc)) from exc
        return Response(body=fake.readings.to_dict())

    fake.control_route("GET", "/readings", readings)
    fake.control_route("POST", "/readings", readings)
    fake.control_route("POST", "/runs", create_run)
    fake.control_route("GET", "/runs", lambda _r: Response(body=[fake.run_view(r) for r in fake.runs]))
    fake.control_route("GET", r"/runs/(?P<uuid>[^/]+)", lambda r: Response(body=fake.run_view(fake.find(r))))
    fake.control_route("POST", r"/runs/(?P<uuid>[^/]+)/abort", abort)
    fake.control_route("POST", "/api-keys", api_key)
    fake.control_route("POST", "/api-tokens", api_token)
    fake.control_route("POST", "/expire-tokens", expire)
