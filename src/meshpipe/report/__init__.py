"""Report a building block run's steps, messages, outputs and terminal status to meshStack.

::

    from meshpipe.report import Run

    run = Run.from_env()                       # run locator + credentials from the environment
    run.register([("plan", "Terraform plan"), ("apply", "Terraform apply")])
    with run.step("plan") as step:             # IN_PROGRESS on entry; SUCCEEDED on exit; FAILED on an exception
        step.user_message("Plan: 3 to add")
    run.step("apply").succeed(user_message="Bucket created", outputs={"bucket_url": "https://..."})
    run.finish("SUCCEEDED")                    # exactly once

This package uses only the standard library's HTTP client and imports it when a request is sent, so
``meshpipe run`` starts fast.
"""

from meshpipe.report.errors import (
    APIError,
    AuthenticationError,
    BudgetSpent,
    ConfigurationError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ReporterError,
    ResponseTooLarge,
    ServerError,
    TerminalStatusError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from meshpipe.report.model import Input, Output, RunObject
from meshpipe.report.run import Run, Step
from meshpipe.report.settings import Credentials, Settings

__all__ = [
    "APIError",
    "AuthenticationError",
    "BudgetSpent",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailed",
    "Credentials",
    "Input",
    "NotFoundError",
    "Output",
    "PermissionDeniedError",
    "RateLimitError",
    "ReporterError",
    "ResponseTooLarge",
    "Run",
    "RunObject",
    "ServerError",
    "Settings",
    "Step",
    "TerminalStatusError",
    "UnsupportedMediaTypeError",
    "ValidationError",
]
