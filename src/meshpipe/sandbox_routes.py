"""The control routes ``meshpipe sandbox order|detect|approve|delete|runs`` talk to (on the fake meshStack).

They play the part of meshStack's marketplace for the hosted block: an order names the block's user inputs as
text (``--input name=value``), which are read by the type the definition gives them, as meshStack's form would; a
deletion reuses the inputs the block was ordered with. ::

    GET  /_fake/sandbox           the hosted block: repository, definition, runner, user inputs (type, default)
    POST /_fake/sandbox/order     {"behavior": "APPLY" | "DETECT", "inputs": {"name": "text"}}  -> 201 run view
    POST /_fake/sandbox/delete    {"building_block_uuid": "..." | "latest"}  -> 201 run view of the DESTROY run

Approving a DETECT run is ``POST /_fake/runs/{uuid}/approve``; ``GET /_fake/runs[/{uuid}]`` shows runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshpipe.fakes._http import Request, Response
    from meshpipe.fakes.meshstack_runs import FakeRun
    from meshpipe.fakes.runner.definition import DefinitionInput
    from meshpipe.sandbox_runs import BlockRuns

__all__ = ["add_sandbox_routes", "read_value"]

USER_ASSIGNMENTS = ("USER_INPUT", "PLATFORM_OPERATOR_MANUAL_INPUT")


def read_value(name: str, item: DefinitionInput, text: Any) -> Any:
    """A form value as meshStack stores it: INTEGER and BOOLEAN inputs read from text, the others kept as text."""
    if not isinstance(text, str):
        return text
    if item.type == "INTEGER":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"input {name} is an INTEGER; got {text!r}") from None
    if item.type == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"input {name} is a BOOLEAN; give true or false, got {text!r}")
        return text.lower() == "true"
    return text


def _user_inputs(runs: BlockRuns) -> dict[str, DefinitionInput]:
    return {name: item for name, item in runs.definition.inputs.items() if item.assignment_type in USER_ASSIGNMENTS}


def _latest_block(runs: list[FakeRun]) -> str | None:
    """The block ordered last that exists: its last APPLY SUCCEEDED and nothing destroyed it (else the last ordered)."""
    destroyed = {run.building_block_uuid for run in runs if run.behavior == "DESTROY"}
    applied = [run.building_block_uuid for run in runs if run.behavior == "APPLY" and run.status == "SUCCEEDED"]
    alive = [block for block in applied if block not in destroyed]
    ordered = [run.building_block_uuid for run in runs if run.behavior in ("APPLY", "DETECT")]
    candidates = alive or ordered
    return candidates[-1] if candidates else None


def add_sandbox_routes(runs: BlockRuns) -> None:
    """Register the routes above on the sandbox's fake meshStack."""
    from meshpipe.fakes._http import HttpError, Response
    from meshpipe.fakes.runner import DefinitionError

    fake = runs.box.meshstack
    user_inputs = _user_inputs(runs)

    def body(request: Request, known: set[str]) -> dict[str, Any]:
        data = request.json() or {}
        if not isinstance(data, dict) or set(data) - known:
            raise HttpError(400, f"a JSON object with the keys {sorted(known)} is required")
        return data

    def create(behavior: str, values: dict[str, Any], block: str | None = None) -> Response:
        try:
            run = runs.create_run(behavior, values, building_block_uuid=block)
        except DefinitionError as exc:
            raise HttpError(400, str(exc)) from None
        return Response(status=201, body=fake.run_view(run))

    def info(_request: Request) -> Response:
        return Response(
            body={
                "repository": runs.box.repository,
                "definition": str(runs.path),
                "runner": runs.runner.runner_uuid,
                "async": runs.definition.is_async,
                "inputs": {
                    name: {"type": item.type, "required": not item.has_default, "default": item.default}
                    for name, item in user_inputs.items()
                },
            }
        )

    def order(request: Request) -> Response:
        data = body(request, {"behavior", "inputs"})
        behavior = data.get("behavior", "APPLY")
        if behavior not in ("APPLY", "DETECT"):
            raise HttpError(400, "behavior must be APPLY or DETECT (delete a block with /_fake/sandbox/delete)")
        texts = data.get("inputs") or {}
        if not isinstance(texts, dict):
            raise HttpError(400, "inputs must be an object of name -> value")
        unknown = sorted(set(texts) - set(user_inputs))
        if unknown:
            known = ", ".join(user_inputs) or "none"
            raise HttpError(400, f"the block has no user input {', '.join(unknown)} (its user inputs: {known})")
        try:
            values = {name: read_value(name, user_inputs[name], text) for name, text in texts.items()}
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return create(behavior, values)

    def delete(request: Request) -> Response:
        block = body(request, {"building_block_uuid"}).get("building_block_uuid")
        with fake.lock:
            if block == "latest":  # `meshpipe sandbox delete latest`
                block = _latest_block(fake.runs) or block
            ordered = [run for run in fake.runs if run.building_block_uuid == block]
            last = ordered[-1].inputs if ordered else []
            values = {item["key"]: item["value"] for item in last if item["key"] in user_inputs}
        if not ordered:
            raise HttpError(404, f"no building block {block} on this sandbox (`meshpipe sandbox runs` lists the runs)")
        return create("DESTROY", values, str(block))

    fake.control_route("GET", "/sandbox", info)
    fake.control_route("POST", "/sandbox/order", order)
    fake.control_route("POST", "/sandbox/delete", delete)
