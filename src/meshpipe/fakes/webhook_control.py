"""The fake webhook receiver's ``/_fake/`` control plane: options, deliveries, jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.webhook_jobs import WebhookJob

if TYPE_CHECKING:
    from meshpipe.fakes.webhook import FakeWebhookReceiver

__all__ = ["register_control_routes"]


def register_control_routes(fake: FakeWebhookReceiver) -> None:
    """Add the receiver's control routes to ``fake``."""

    def configure(request: Request) -> Response:
        data = request.json()
        if not isinstance(data, dict):
            raise HttpError(400, "expected a JSON object of options")
        try:
            fake.configure(**data)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return Response(body=fake.state()["options"])

    def deliveries(_request: Request) -> Response:
        return Response(body=[d.to_dict() for d in fake.deliveries])

    def jobs(_request: Request) -> Response:
        return Response(body=[j.to_dict() for j in fake.jobs])

    def _job(request: Request) -> WebhookJob:
        try:
            return fake.job(int(request.params["job_id"]))
        except KeyError:
            raise HttpError(404, f"no job {request.params['job_id']}") from None

    def complete(request: Request) -> Response:
        job = _job(request)
        data: Any = request.json() if request.body else {}
        status = (data or {}).get("status", "succeeded") if isinstance(data, dict) else data
        try:
            fake.complete_job(job.id, status)
        except ValueError as exc:
            raise HttpError(409, str(exc)) from None
        return Response(body=job.to_dict())

    def log(request: Request) -> Response:
        return Response(body=_job(request).log, content_type="text/plain; charset=utf-8")

    fake.control_route("POST", "/receiver", configure)
    fake.control_route("GET", "/deliveries", deliveries)
    fake.control_route("GET", "/jobs", jobs)
    fake.control_route("POST", r"/jobs/(?P<job_id>\d+)/complete", complete)
    fake.control_route("GET", r"/jobs/(?P<job_id>\d+)/log", log)
