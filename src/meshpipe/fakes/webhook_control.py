"""The fake webhook receiver's ``/_fake/`` control plane: options, deliveries, jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshpipe.fakes._control import add_work_routes, json_object
from meshpipe.fakes._http import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.webhook import FakeWebhookReceiver

__all__ = ["register_control_routes"]


def register_control_routes(fake: FakeWebhookReceiver) -> None:
    """Add the receiver's control routes to ``fake``."""

    def configure(request: Request) -> Response:
        data = json_object(request, "a JSON object of options")
        try:
            fake.configure(**data)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return Response(body=fake.state()["options"])

    def deliveries(_request: Request) -> Response:
        return Response(body=[d.to_dict() for d in fake.deliveries])

    fake.control_route("POST", "/receiver", configure)
    fake.control_route("GET", "/deliveries", deliveries)
    add_work_routes(fake, "job", key="status", default="succeeded", lenient=True)
