"""A fake receiver of meshpipe's signed webhook (the ``webhook`` target): it verifies like a careful real receiver
should and counts deliveries per ``Idempotency-Key``, so tests can prove "exactly one job per dispatch".

Endpoints::

    POST {path}          a delivery (default path ``/hooks/meshpipe``; :attr:`FakeWebhookReceiver.url`)
    GET  /jobs/{id}      a job's status (signed GET, only in ``status_url`` mode): {"id", "status", "url"}

A delivery is checked in this order; every refusal answers ``{"message", "rule"}`` and names its rule:

====  ======================  ============================================================================
401   ``bearer-token``        only when the receiver has a ``token``: ``Authorization: Bearer <token>``
413   ``payload-too-large``   body over 1 MiB (Argo Events' default ``maxPayloadSize``)
415   ``media-type``          ``Content-Type`` is not ``application/json`` (or not UTF-8)
401   ``signature-*``         ``X-Meshpipe-Signature-256`` missing, malformed or not matching (constant-time
      ``timestamp-*``         compare); ``X-Meshpipe-Timestamp`` missing, malformed or more than 300 s away
                              (:func:`meshpipe.webhook.verify`)
400   ``json``                the body is not UTF-8 JSON
422   ``schema``              the body breaks the protocol's schema (field, type, enum, length)
400   ``idempotency-key``     no ``Idempotency-Key``; 422 when it differs from the body's ``correlation_id``
422   ``event-header``        ``X-Meshpipe-Event`` differs from the body's ``event``
401   ``replayed-signature``  a signature already received (:class:`meshpipe.webhook.ReplayGuard`) whose key
                              was not accepted; a repeat of an accepted key gets the first answer instead
====  ======================  ============================================================================

Then a new key starts one job and answers ``accept_status`` (202) with ``{"id", "duplicate": false}`` (plus
``"status_url"`` in ``status_url`` mode); a key already accepted answers the first answer's ``id``/``status_url``
with ``"duplicate": true`` and starts nothing (``dedupe=False`` emulates a receiver that ignores the key: every
delivery starts a job). Jobs: :mod:`meshpipe.fakes.webhook_jobs` (states, the command and its environment).

The JSON it answers (``accepted``, ``refusal``, ``job``, and ``error`` ``{"message"}`` for an unknown path or
method) is described in ``tests/fixtures/specs/meshpipe-webhook-openapi.json`` (OpenAPI 3.1), which
``tests/fakes/test_webhook_answers.py`` holds every answer against.

Control plane (besides the shared ``/_fake/state|requests|reset|faults``): ``POST /_fake/receiver`` (the
options of :meth:`FakeWebhookReceiver.configure`), ``GET /_fake/deliveries``, ``GET /_fake/jobs``,
``POST /_fake/jobs/{id}/complete`` ``{"status": "succeeded"|"failed"|"cancelled"}``, ``GET /_fake/jobs/{id}/log``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from meshpipe.fakes._commands import CommandFake
from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.webhook_jobs import JOB_STATUSES, TERMINAL_STATUSES, WebhookJob
from meshpipe.fakes.webhook_rules import MAX_BODY_BYTES, check_body, check_headers_match, check_media_type, refuse
from meshpipe.webhook import TOLERANCE_SECONDS, ReplayGuard, VerificationError, verify

__all__ = ["FakeWebhookReceiver", "WebhookDelivery"]

DEFAULT_PATH = "/hooks/meshpipe"
_OPTIONS = ("token", "status_url", "accept_status", "duration", "conclusion", "command", "dedupe")


@dataclass
class WebhookDelivery:
    """One delivery that passed every check (a first one or a duplicate)."""

    key: str
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    job_id: int
    duplicate: bool
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "idempotency_key": self.key,
            "job_id": self.job_id,
            "duplicate": self.duplicate,
            "payload": self.payload,
            "time": self.time,
        }


class FakeWebhookReceiver(CommandFake[WebhookJob]):
    """A fake receiver of signed deliveries; see the module docstring for the rules and the control plane.

    ``FakeWebhookReceiver(secret).start()``; post to :attr:`url`; inspect :attr:`deliveries`,
    :meth:`deliveries_for` and :meth:`accepted_count`. Options (also :meth:`configure`): ``token`` (demand a bearer
    token), ``status_url`` (answer a status URL and serve signed status polls), ``accept_status`` (202; Jenkins'
    Generic Webhook Trigger and Argo Events answer 200), ``duration``/``conclusion`` (a job without a command),
    ``command`` (run per job, see :mod:`meshpipe.fakes.webhook_jobs`), ``dedupe`` (False: ignore the key).
    """

    name = "fake-webhook"

    def __init__(
        self,
        secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path: str = DEFAULT_PATH,
        tolerance: float = TOLERANCE_SECONDS,
        control_token: str | None = None,
        **options: Any,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        if not path.startswith("/") or path.startswith("/_fake") or path.startswith("/jobs"):
            raise ValueError(f"path must start with '/' and not be /_fake or /jobs, got {path!r}")
        super().__init__(host, port, control_token=control_token)
        self.secret = secret
        self.path = path
        self.tolerance = tolerance
        self._initial = dict(options)
        self._clear()
        self.route("POST", re.escape(path))(self._deliver)
        self.route("GET", r"/jobs/(?P<job_id>\d+)")(self._job_status)
        from meshpipe.fakes.webhook_control import register_control_routes

        register_control_routes(self)

    def _clear(self) -> None:
        self.deliveries: list[WebhookDelivery] = []
        self.jobs: list[WebhookJob] = []
        self._answers: dict[str, WebhookJob] = {}
        self._guard = ReplayGuard(self.tolerance)
        self._job_ids = itertools.count(1)
        self.token: str | None = None
        self.status_url = False
        self.accept_status = 202
        self.duration: float | None = 0.2
        self.conclusion = "succeeded"
        self.command: list[str] | None = None
        self.dedupe = True
        self.configure(**self._initial)

    # -- URLs ------------------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:41234`` (the control plane is under ``/_fake``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL to deliver to (a module's ``webhook.url``): :attr:`base_url` + ``path``."""
        return self.base_url + self.path

    # -- configuration (Python API) ----------------------------------------------------------------------------------
    def configure(self, **options: Any) -> None:
        """Change options (see the class docstring); ValueError for an unknown option or a bad value."""
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
        status = options.get("accept_status", 200)
        if not isinstance(status, int) or not 200 <= status <= 299:
            raise ValueError(f"accept_status must be a 2xx status, not {status!r}")
        conclusion = options.get("conclusion", "succeeded")
        if conclusion not in TERMINAL_STATUSES:
            raise ValueError(f"conclusion must be one of {', '.join(TERMINAL_STATUSES)}, not {conclusion!r}")
        command = options.get("command")
        if command is not None and not (
            isinstance(command, list) and command and all(isinstance(c, str) for c in command)
        ):
            raise ValueError("command must be a non-empty list of strings")
        with self.lock:
            for key, value in options.items():
                setattr(self, key, value)

    # -- inspection ---------------------------------------------------------------------------------------------------
    def deliveries_for(self, key: str) -> list[WebhookDelivery]:
        """The verified deliveries with this ``Idempotency-Key`` (the first and its duplicates)."""
        with self.lock:
            return [d for d in self.deliveries if d.key == key]

    def accepted_count(self, key: str) -> int:
        """How many jobs deliveries with this key started: 1 once accepted, whatever the retries (unless
        ``dedupe=False``)."""
        with self.lock:
            return sum(1 for job in self.jobs if job.key == key)

    def job(self, job_id: int) -> WebhookJob:
        """A job by id (KeyError if unknown)."""
        return self._by_id(job_id)

    def complete_job(self, job_id: int, status: str = "succeeded") -> WebhookJob:
        """End a job now (e.g. one with ``duration=None``); ValueError if it already ended or ``status`` is not
        terminal."""
        job = self.job(job_id)
        if not job.finish(status):
            raise ValueError(f"job {job_id} already ended ({job.status})")
        return job

    def _work(self) -> list[WebhookJob]:
        """The jobs :meth:`reset` and :meth:`stop` kill; reset also forgets deliveries and seen signatures, and the
        options go back to the constructor's."""
        return self.jobs

    def state(self) -> dict[str, Any]:
        """Options, deliveries and jobs as JSON-friendly data (no secret, no token)."""
        with self.lock:
            data = super().state()
            options = {key: getattr(self, key) for key in _OPTIONS if key != "token"}
            data.update(
                {
                    "url": self.url,
                    "options": {**options, "token": self.token is not None},
                    "deliveries": [d.to_dict() for d in self.deliveries],
                    "jobs": [j.to_dict() for j in self.jobs],
                    "job_statuses": list(JOB_STATUSES),
                }
            )
            return data

    # -- wire --------------------------------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> Any:
        """``{"message", "rule"?}``."""
        return {"message": message, **extra}

    def _check_token(self, request: Request) -> None:
        if self.token is not None:
            given = request.header("authorization") or ""
            if not secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                raise refuse(401, "bearer-token", "missing or wrong Authorization: Bearer token")

    def _verify(self, request: Request) -> bool:
        """Check the signature and timestamp (401); return whether the signature was seen before."""
        try:
            delivery = verify(self.secret, request.headers, request.body, tolerance=self.tolerance)
        except VerificationError as exc:
            raise refuse(401, exc.rule, str(exc)) from None
        try:
            self._guard.check(delivery)
        except VerificationError:
            return True
        return False

    def _deliver(self, request: Request) -> Response:
        self._check_token(request)
        if len(request.body) > MAX_BODY_BYTES:
            raise refuse(413, "payload-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
        check_media_type(request)
        replayed = self._verify(request)
        payload = check_body(request)
        key = check_headers_match(request, payload)
        first = self._answers.get(key) if self.dedupe else None
        if first is None and replayed:
            # A repeat of an accepted key gets its first answer, even with a repeated signature (two terraform
            # processes of one run may sign the same body in the same second); anything else replayed is refused.
            raise refuse(401, "replayed-signature", "this signature was already used: a replayed delivery")
        job = first or self._start_job(key, payload, request.body)
        self.deliveries.append(WebhookDelivery(key, payload, request.body, dict(request.headers), job.id, bool(first)))
        answer: dict[str, Any] = {"id": str(job.id), "duplicate": bool(first)}
        if self.status_url:
            answer["status_url"] = job.status_url
        return Response(status=self.accept_status, body=answer)

    def _start_job(self, key: str, payload: dict[str, Any], body: bytes) -> WebhookJob:
        job_id = next(self._job_ids)
        job = WebhookJob(
            id=job_id,
            key=key,
            payload=payload,
            body=body,
            status_url=f"{self.base_url}/jobs/{job_id}",
            duration=self.duration,
            planned_status=self.conclusion,
            command=list(self.command) if self.command else None,
        )
        self.jobs.append(job)
        self._answers[key] = job
        if job.command is not None:
            job.start_command()
        return job

    def _job_status(self, request: Request) -> Response:
        if not self.status_url:
            raise HttpError(404, "Not Found (this receiver serves no status URLs)")
        self._check_token(request)
        self._verify(request)  # a status poll may repeat: polls change nothing
        try:
            job = self.job(int(request.params["job_id"]))
        except KeyError:
            raise HttpError(404, f"no job {request.params['job_id']}") from None
        return Response(body=job.answer())
